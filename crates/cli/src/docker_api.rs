//! Asking Docker's API, for `network rm --force` and `network prune` of Docker's networks:
//! whether Docker still has a network. One synchronous HTTP/1.0 request on its unix socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// How long Docker may take to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether Docker (at `host`, `unix:///PATH` or a path) has network `id`; an error saying
/// why Docker could not be asked.
pub fn has_network(host: &str, id: &str) -> Result<bool, String> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if !path.starts_with('/') {
        return Err(format!(
            "--docker-host {host:?} is not a unix socket (unix:///var/run/docker.sock)"
        ));
    }
    let fail = |e: std::io::Error| format!("cannot ask Docker at {host}: {e}");
    let mut s = UnixStream::connect(path).map_err(fail)?;
    s.set_read_timeout(Some(TIMEOUT)).map_err(fail)?;
    s.set_write_timeout(Some(TIMEOUT)).map_err(fail)?;
    write!(s, "GET /networks/{id} HTTP/1.0\r\nHost: docker\r\n\r\n").map_err(fail)?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut head[n..]).map_err(fail)? {
            0 => break,
            k => n += k,
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    match line.split_whitespace().nth(1) {
        Some("200") => Ok(true),
        Some("404") => Ok(false),
        other => Err(format!(
            "Docker at {host} answered {} to GET /networks/{id}",
            other.unwrap_or("nothing")
        )),
    }
}
