//! `underlay daemon` as Docker and systemd see it, without a Docker engine: the sockets (mode,
//! owner, a stale one replaced, a live one left alone), systemd's readiness protocol, and the
//! HTTP Docker speaks (no Content-Type, empty bodies, several calls on one connection, 404 for
//! what is not implemented). Only calls that change no link are made: the daemon runs in the
//! test's own namespace with an empty state directory.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

mod common;

struct Daemon {
    child: Child,
    plugins: PathBuf,
    notify: UnixDatagram,
}

impl Daemon {
    fn start(dir: &Path, extra: &[&str]) -> Daemon {
        let plugins = dir.join("plugins");
        let notify_path = dir.join("notify");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        notify
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_underlay"))
            .args(["daemon", "--docker-host", "", "--log-target", "stderr"])
            .arg("--plugin-dir")
            .arg(&plugins)
            .args(extra)
            .env("UNDERLAY_STATE_DIR", dir.join("state"))
            .env("NOTIFY_SOCKET", &notify_path)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Daemon {
            child,
            plugins,
            notify,
        }
    }

    /// The next message to systemd's notification socket.
    fn notified(&self) -> String {
        let mut buf = [0u8; 512];
        let n = self.notify.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).trim_end().to_string()
    }

    fn socket(&self, name: &str) -> PathBuf {
        self.plugins.join(name)
    }

    fn stop(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().unwrap();
        let mut err = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request as Docker's plugin client sends it: no Content-Type, an `Accept` for
/// the plugin media type, a body only when there are arguments.
fn call(conn: &mut BufReader<UnixStream>, method: &str, body: Option<&Value>) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "POST /{method} HTTP/1.1\r\nHost: plugin\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes()).unwrap();
    answer(conn)
}

fn connect(path: &Path) -> BufReader<UnixStream> {
    BufReader::new(UnixStream::connect(path).unwrap())
}

#[test]
#[ignore = "needs root (the daemon runs as root): scripts/test.sh runs it"]
fn sockets_readiness_and_dockers_http() {
    need_root!();
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), &[]);
    assert_eq!(d.notified(), "READY=1");
    for name in [
        "underlay-macvlan.sock",
        "underlay-ipvlan.sock",
        "underlay.sock",
    ] {
        let m = std::fs::metadata(d.socket(name)).unwrap();
        assert!(m.file_type().is_socket(), "{name}");
        assert_eq!(m.permissions().mode() & 0o777, 0o660, "{name}");
        assert_eq!((m.uid(), m.gid()), (0, 0), "{name}");
    }

    // Several calls on one connection, as Docker's client keeps it alive.
    let mut mv = connect(&d.socket("underlay-macvlan.sock"));
    assert_eq!(
        call(&mut mv, "Plugin.Activate", None),
        (200, json!({"Implements": ["NetworkDriver"]}))
    );
    let (status, caps) = call(&mut mv, "NetworkDriver.GetCapabilities", None);
    assert_eq!((status, &caps["Scope"]), (200, &json!("local")));
    let (status, err) = call(&mut mv, "NetworkDriver.NoSuchCall", Some(&json!({})));
    assert_eq!(status, 404);
    assert_eq!(
        err["Err"],
        "underlay does not implement NetworkDriver.NoSuchCall"
    );
    let bad_mode = json!({
        "NetworkID": "0000000000000000000000000000000000000000000000000000000000000001",
        "Options": {"com.docker.network.generic": {"parent": "lo", "macvlan_mode": "bogus"}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": "172.16.86.0/24", "Gateway": "172.16.86.1/24"}]
    });
    let (status, err) = call(&mut mv, "NetworkDriver.CreateNetwork", Some(&bad_mode));
    assert_eq!(status, 400);
    assert_eq!(
        err["Err"],
        "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default"
    );
    let mut iv = connect(&d.socket("underlay-ipvlan.sock"));
    assert_eq!(
        call(&mut iv, "IpamDriver.RequestPool", Some(&json!({}))).0,
        404,
        "a network driver's socket is no IPAM driver"
    );

    let mut ipam = connect(&d.socket("underlay.sock"));
    assert_eq!(
        call(&mut ipam, "Plugin.Activate", None).1,
        json!({"Implements": ["IpamDriver"]})
    );
    let (status, pool) = call(
        &mut ipam,
        "IpamDriver.RequestPool",
        Some(
            &json!({"AddressSpace": "LocalDefault", "Pool": "172.16.86.0/24", "SubPool": "", "Options": {}, "V6": false}),
        ),
    );
    assert_eq!(status, 200, "{pool}");
    let id = pool["PoolID"].clone();
    let (_, gw) = call(
        &mut ipam,
        "IpamDriver.RequestAddress",
        Some(
            &json!({"PoolID": id, "Address": "", "Options": {"RequestAddressType": "com.docker.network.gateway"}}),
        ),
    );
    assert_eq!(gw["Address"], "172.16.86.1/24");
    let (_, a) = call(
        &mut ipam,
        "IpamDriver.RequestAddress",
        Some(&json!({"PoolID": id, "Address": "", "Options": null})),
    );
    assert_eq!(a["Address"], "172.16.86.2/24");

    // A second daemon on the same sockets is refused and leaves them alone.
    let dir2 = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_underlay"))
        .args(["daemon", "--docker-host", "", "--log-target", "stderr"])
        .arg("--plugin-dir")
        .arg(&d.plugins)
        .env("UNDERLAY_STATE_DIR", dir2.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is served by another process (is an underlay daemon running already?)"),
        "{err}"
    );
    assert_eq!(
        call(&mut ipam, "IpamDriver.GetCapabilities", None).0,
        200,
        "still served"
    );

    // SIGTERM: STOPPING=1, exit 0, sockets removed.
    let plugins = d.plugins.clone();
    let notify = d.notify.try_clone().unwrap();
    let (status, log) = d.stop();
    let mut buf = [0u8; 64];
    let n = notify.recv(&mut buf).unwrap();
    assert_eq!(String::from_utf8_lossy(&buf[..n]).trim_end(), "STOPPING=1");
    assert!(status.success(), "{log}");
    assert!(log.contains("underlay daemon ready in"), "{log}");
    assert!(
        std::fs::read_dir(&plugins).unwrap().next().is_none(),
        "sockets removed"
    );
}

/// The gid of a group from /etc/group.
fn gid_of(group: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&group))
                .then(|| f.get(2)?.parse().ok())
                .flatten()
        })
}

#[test]
#[ignore = "needs root (the daemon runs as root): scripts/test.sh runs it"]
fn stale_sockets_are_replaced_and_groups_honoured() {
    need_root!();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    // Left by a daemon that was killed: a socket nobody listens on.
    drop(UnixListener::bind(plugins.join("underlay-macvlan.sock")).unwrap());
    let d = Daemon::start(dir.path(), &["--socket-group", "daemon"]);
    assert_eq!(d.notified(), "READY=1");
    let m = std::fs::metadata(d.socket("underlay-macvlan.sock")).unwrap();
    assert_eq!(Some(m.gid()), gid_of("daemon"));
    assert_eq!(m.permissions().mode() & 0o777, 0o660);
    let mut c = connect(&d.socket("underlay-macvlan.sock"));
    assert_eq!(call(&mut c, "Plugin.Activate", None).0, 200);
    let (status, _) = d.stop();
    assert!(status.success());

    // A file that is not a socket is refused rather than removed.
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::write(plugins.join("underlay.sock"), b"not a socket").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_underlay"))
        .args(["daemon", "--docker-host", "", "--log-target", "stderr"])
        .arg("--plugin-dir")
        .arg(&plugins)
        .env("UNDERLAY_STATE_DIR", dir.path().join("state"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("underlay.sock exists and is not a socket"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(plugins.join("underlay.sock")).unwrap(),
        b"not a socket"
    );
    let left: Vec<_> = std::fs::read_dir(&plugins)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left.len(),
        1,
        "the sockets bound before the refusal are gone: {left:?}"
    );
}

/// The status and JSON body of the one answer on `conn`, read by hand (the head may carry no
/// Content-Length when the daemon closes the connection after it).
fn answer(conn: &mut BufReader<UnixStream>) -> (u16, Value) {
    let mut status_line = String::new();
    conn.read_line(&mut status_line).unwrap();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .unwrap_or_else(|| panic!("no HTTP answer: {status_line:?}"))
        .parse()
        .unwrap();
    let mut len = None;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = Some(v.trim().parse().unwrap());
            }
        }
    }
    let mut buf = vec![0; len.expect("a Content-Length")];
    conn.read_exact(&mut buf).unwrap();
    let body = serde_json::from_slice(&buf)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&buf)));
    (status, body)
}

/// A client that hangs up before its answer (Docker timing out a slow call) costs only its own
/// connection; slow, short, oversized and half-closed requests get Docker's JSON with `Err`.
#[test]
#[ignore = "needs root (the daemon runs as root): scripts/test.sh runs it"]
fn no_client_can_kill_or_stall_the_daemon() {
    need_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut d = Daemon::start(dir.path(), &["--read-timeout", "1"]);
    assert_eq!(d.notified(), "READY=1");
    let bad_mode = json!({
        "NetworkID": "0000000000000000000000000000000000000000000000000000000000000001",
        "Options": {"com.docker.network.generic": {"parent": "lo", "macvlan_mode": "bogus"}},
        "IPv4Data": [{"AddressSpace": "LocalDefault", "Pool": "172.16.86.0/24", "Gateway": "172.16.86.1/24"}]
    })
    .to_string();
    let requests = [
        ("underlay-macvlan.sock", "Plugin.Activate", String::new()),
        (
            "underlay-ipvlan.sock",
            "NetworkDriver.GetCapabilities",
            String::new(),
        ),
        (
            "underlay-macvlan.sock",
            "NetworkDriver.CreateNetwork",
            bad_mode,
        ),
        (
            "underlay.sock",
            "IpamDriver.GetDefaultAddressSpaces",
            String::new(),
        ),
    ];
    let mut ipam = connect(&d.socket("underlay.sock"));
    for round in 0..120 {
        let (sock, method, body) = &requests[round % requests.len()];
        let mut c = UnixStream::connect(d.socket(sock)).unwrap();
        let req = format!(
            "POST /{method} HTTP/1.1\r\nHost: plugin\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        c.write_all(req.as_bytes()).unwrap();
        drop(c);
        if round % 3 == 0 {
            // Give the answer time to meet the closed socket.
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(
            d.child.try_wait().unwrap().is_none(),
            "the daemon died after early close {round}"
        );
        assert_eq!(
            call(&mut ipam, "IpamDriver.GetCapabilities", None).0,
            200,
            "answering after early close {round}"
        );
    }

    let raw = |sock: &str, bytes: &[u8]| {
        let s = UnixStream::connect(d.socket(sock)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut conn = BufReader::new(s);
        conn.get_mut().write_all(bytes).unwrap();
        conn
    };
    // A body shorter than its Content-Length: answered once the read timeout is up.
    let mut short = raw(
        "underlay.sock",
        b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: plugin\r\nContent-Length: 100\r\n\r\n{\"Pool\":",
    );
    let (status, err) = answer(&mut short);
    assert_eq!(status, 408, "{err}");
    let msg = err["Err"].as_str().unwrap();
    assert!(
        msg.contains("IpamDriver.RequestPool") && msg.contains("did not arrive within 1 s"),
        "{msg}"
    );
    // The same, half-closed: the body can never come.
    let mut half = raw(
        "underlay.sock",
        b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: plugin\r\nContent-Length: 100\r\n\r\n{\"Pool\":",
    );
    half.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
    let (status, err) = answer(&mut half);
    assert_eq!(status, 400, "{err}");
    assert!(
        err["Err"]
            .as_str()
            .unwrap()
            .starts_with("cannot read the body of IpamDriver.RequestPool"),
        "{err}"
    );
    // Declared too large: refused without reading it.
    let mut big = raw(
        "underlay-macvlan.sock",
        b"POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost: plugin\r\nContent-Length: 4000000\r\n\r\n{",
    );
    let (status, err) = answer(&mut big);
    assert_eq!(status, 413, "{err}");
    assert_eq!(
        err["Err"],
        "request body too large: underlay reads at most 1048576 bytes"
    );
    // Too large without a declared length (chunked).
    let mut chunked = b"POST /NetworkDriver.CreateNetwork HTTP/1.1\r\nHost: plugin\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..17 {
        chunked.extend_from_slice(b"10000\r\n");
        chunked.extend(std::iter::repeat_n(b' ', 0x10000));
        chunked.extend_from_slice(b"\r\n");
    }
    let s = UnixStream::connect(d.socket("underlay-macvlan.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut conn = BufReader::new(s);
    let writer = {
        let mut w = conn.get_ref().try_clone().unwrap();
        std::thread::spawn(move || {
            // The daemon may close before taking it all.
            let _ = w.write_all(&chunked);
        })
    };
    let (status, err) = answer(&mut conn);
    assert_eq!(status, 413, "{err}");
    drop(conn);
    writer.join().unwrap();
    // A head that never ends: the connection is closed after the read timeout.
    let mut head = raw(
        "underlay.sock",
        b"POST /Plugin.Activate HTTP/1.1\r\nHost: pl",
    );
    let mut rest = Vec::new();
    let n = head
        .read_to_end(&mut rest)
        .expect("closed, not left hanging");
    assert!(n == 0 || rest.starts_with(b"HTTP/1.1 408"), "{rest:?}");

    assert!(d.child.try_wait().unwrap().is_none(), "alive at the end");
    // (A kept-alive connection idle for longer than the read timeout is closed, as Docker's
    // plugin client expects of a server: it connects again.)
    let mut ipam = connect(&d.socket("underlay.sock"));
    assert_eq!(call(&mut ipam, "IpamDriver.GetCapabilities", None).0, 200);
    let (status, log) = d.stop();
    assert!(status.success(), "{log}");
}
