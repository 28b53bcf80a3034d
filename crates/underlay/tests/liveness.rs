//! A namespace's liveness is decided by the namespace itself, wherever it is still held,
//! never by the PID it was attached through: an endpoint attached by PID, or by an
//! `underlay run` killed with SIGKILL, keeps its address while anything still holds the
//! namespace, so the address is never handed out twice; and `run` leaves no orphan behind.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Lab;

/// Processes a test started, killed (by PID) when it ends, also when it fails.
#[derive(Default)]
struct Procs(Vec<i32>);

impl Procs {
    fn add(&mut self, pid: i32) -> i32 {
        self.0.push(pid);
        pid
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for pid in &self.0 {
            // SAFETY: kill(2) of a process this test started.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
    }
}

fn kill_and_reap(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn alive(pid: i32) -> bool {
    // A zombie still has its /proc entry, but no namespace links any more.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The IPv4 addresses of the network's endpoints, as inspect shows them.
fn held(lab: &Lab, net: &str) -> Vec<String> {
    let mut v: Vec<String> = lab.inspect(net)["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["IPv4Address"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

/// `ip -d link` inside the namespace of process `pid`.
fn links_of(pid: i32) -> String {
    common::ok(
        "nsenter",
        &[&format!("--net=/proc/{pid}/ns/net"), "ip", "-d", "link"],
    )
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn a_pid_that_exits_does_not_release_a_namespace_still_held() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let mut procs = Procs::default();

    // 1. Held by another process: P enters a fresh namespace and leaves a child Q in it.
    let mut p = Command::new("unshare")
        .args(["--net", "sh", "-c", "sleep 600 & echo $!; exec sleep 600"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let p_pid = procs.add(p.id() as i32);
    let mut line = String::new();
    BufReader::new(p.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let q_pid = procs.add(line.trim().parse().unwrap());
    let by_pid = p_pid.to_string();
    lab.ul(&["network", "connect", "pub_net", &by_pid]).ok();
    assert_eq!(held(&lab, "pub_net"), ["172.16.86.2/24"]);

    // 2. Held by a bind mount: a process inside the lab's namespace c1.
    let c1 = lab.container("c1");
    let mut r = Command::new("ip")
        .args(["netns", "exec", &c1, "sleep", "600"])
        .spawn()
        .unwrap();
    let r_pid = procs.add(r.id() as i32);
    wait_until("the process to enter c1", || {
        std::fs::read_link(format!("/proc/{r_pid}/exe"))
            .is_ok_and(|e| e.to_string_lossy().contains("sleep"))
    });
    lab.ul(&["network", "connect", "pub_net", &r_pid.to_string()])
        .ok();
    assert_eq!(held(&lab, "pub_net"), ["172.16.86.2/24", "172.16.86.3/24"]);

    // Both PIDs exit; both namespaces live on.
    kill_and_reap(&mut p);
    kill_and_reap(&mut r);
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(
        report.contains(&format!(
            "namespace of {p_pid} is no longer at /proc/{p_pid}/ns/net; reached at"
        )),
        "{report}"
    );
    assert!(!report.contains("released"), "{report}");
    assert_eq!(
        held(&lab, "pub_net"),
        ["172.16.86.2/24", "172.16.86.3/24"],
        "restore keeps both endpoints"
    );
    assert!(links_of(q_pid).contains("macvlan"), "the link lives on");

    // The next container gets a fresh address, not one of theirs.
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "pub_net", &c2]).ok();
    assert!(lab
        .ip(&c2, &["-br", "-4", "addr", "show", "dev", "eth0"])
        .contains("172.16.86.4/24"));

    // Disconnect by the PID it was attached with still reaches the link, wherever it is.
    lab.ul(&["network", "disconnect", "pub_net", &by_pid]).ok();
    assert!(!links_of(q_pid).contains("macvlan"), "link deleted");
    lab.ul(&["network", "disconnect", "pub_net", &r_pid.to_string()])
        .ok();
    assert!(!lab.links(&c1).contains("macvlan"), "link deleted");
    assert_eq!(held(&lab, "pub_net"), ["172.16.86.4/24"]);
}

/// `underlay run --net pub_net -- sh -c SCRIPT`, where SCRIPT writes a PID to `mark`: the
/// run's process and that PID, both killed when the test ends.
fn run_writing_pid(
    lab: &Lab,
    script: &str,
    mark: &std::path::Path,
    procs: &mut Procs,
) -> (Child, i32) {
    let run = lab
        .ul_command(&["run", "--net", "pub_net", "--", "sh", "-c", script])
        .spawn()
        .unwrap();
    procs.add(run.id() as i32);
    let mut pid = None;
    wait_until("the command to write its mark", || {
        pid = std::fs::read_to_string(mark)
            .ok()
            .and_then(|t| t.trim().parse().ok());
        pid.is_some()
    });
    (run, procs.add(pid.unwrap()))
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn underlay_run_killed_leaves_no_orphan_and_no_address_twice() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let mut procs = Procs::default();
    let marks = tempfile::tempdir().unwrap();

    // a. The command alone: it dies with underlay (no orphan), and restore frees the address.
    let mark = marks.path().join("a");
    let script = format!("echo $$ > {}; exec sleep 600", mark.display());
    let (mut run, cmd_pid) = run_writing_pid(&lab, &script, &mark, &mut procs);
    assert_eq!(held(&lab, "pub_net"), ["172.16.86.2/24"]);
    kill_and_reap(&mut run);
    wait_until("the command to die with underlay", || !alive(cmd_pid));
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(report.contains("is gone; released 172.16.86.2"), "{report}");
    assert!(held(&lab, "pub_net").is_empty());

    // b. The command left a process behind in the namespace: the endpoint stays while it
    //    lives, so its address is never handed out again; released once it is gone.
    let mark = marks.path().join("b");
    let script = format!("sleep 600 & echo $! > {}; exec sleep 600", mark.display());
    let (mut run, left) = run_writing_pid(&lab, &script, &mark, &mut procs);
    let first = held(&lab, "pub_net");
    assert_eq!(first.len(), 1);
    kill_and_reap(&mut run);
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(report.contains("reached at"), "{report}");
    assert_eq!(
        held(&lab, "pub_net"),
        first,
        "kept while the namespace lives"
    );
    let c = lab.container("c1");
    lab.ul(&["network", "connect", "pub_net", &c]).ok();
    let mine = lab.ip(&c, &["-br", "-4", "addr", "show", "dev", "eth0"]);
    assert!(
        !mine.contains(first[0].as_str()),
        "{mine} is the address of the namespace still alive"
    );
    // SAFETY: kill(2) of the process this test's command left behind.
    unsafe { libc::kill(left, libc::SIGKILL) };
    wait_until("the left process to die", || !alive(left));
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(report.contains("is gone; released"), "{report}");
    assert_eq!(held(&lab, "pub_net").len(), 1);
}
