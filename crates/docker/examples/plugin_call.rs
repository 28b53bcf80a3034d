//! Calls a Docker plugin the way Docker does (HTTP/1.1 POST over its unix socket, no
//! Content-Type): for tests where no Docker engine runs, such as the real-kernel VM, and for
//! poking at a plugin by hand.
//!
//!     plugin_call SOCKET METHOD [JSON]     e.g. plugin_call /run/docker/plugins/underlay.sock Plugin.Activate
//!
//! Prints the answer's body; exits 0 for status 200, 1 for any other status, 2 when the call
//! could not be made.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

fn call(socket: &str, method: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut conn = BufReader::new(UnixStream::connect(socket)?);
    let req = format!(
        "POST /{method} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes())?;
    let mut status = String::new();
    conn.read_line(&mut status)?;
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut len = None;
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse::<usize>().ok();
            }
        }
    }
    let mut out = Vec::new();
    match len {
        Some(n) => {
            out.resize(n, 0);
            conn.read_exact(&mut out)?;
        }
        None => {
            conn.read_to_end(&mut out)?;
        }
    }
    Ok((code, String::from_utf8_lossy(&out).into_owned()))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: plugin_call SOCKET METHOD [JSON]");
        std::process::exit(2);
    }
    let body = args.get(3).map(String::as_str).unwrap_or("");
    match call(&args[1], &args[2], body) {
        Ok((code, out)) => {
            println!("{out}");
            std::process::exit(if code == 200 { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("plugin_call: {}: {e}", args[1]);
            std::process::exit(2);
        }
    }
}
