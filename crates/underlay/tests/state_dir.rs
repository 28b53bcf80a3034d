//! The state directory as commands meet it: read-only commands create nothing and work on a
//! read-only directory; a held lock is waited for a bounded, documented time, saying what
//! holds it.

mod common;

use std::process::{Command, Stdio};

use common::Lab;

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn read_only_commands_create_nothing_and_work_read_only() {
    need_root!();
    let lab = Lab::guide();
    // Absent: ls and inspect answer, and leave no directory behind.
    let absent = lab.state.path().join("not-yet");
    let env = [("UNDERLAY_STATE_DIR", absent.to_str().unwrap())];
    let ls = lab.ul_env(&["network", "ls", "-q"], &env);
    assert_eq!((ls.code, ls.stdout.as_str()), (0, ""), "{ls:?}");
    let inspect = lab.ul_env(&["network", "inspect", "nosuch"], &env);
    assert!(
        inspect.stderr.contains("network nosuch not found"),
        "{inspect:?}"
    );
    assert!(!absent.exists(), "nothing created");

    // Read-only (a read-only bind mount in a mount namespace of its own).
    lab.guide_net("pub_net", &[]);
    let dir = lab.state.path().display().to_string();
    let script = format!(
        "mount --bind -o ro {dir} {dir} && nsenter --net=/run/netns/{h} {b} network ls && {b} network inspect pub_net && nsenter --net=/run/netns/{h} {b} network restore --check",
        h = lab.ns("host"),
        b = common::bin(),
    );
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("UNDERLAY_STATE_DIR", &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("pub_net")
            && stdout.contains("\"Name\": \"pub_net\"")
            && stdout.contains("nothing to restore"),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn a_held_lock_is_waited_for_and_named() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c = lab.container("c");
    let lock = lab.state.path().join("state.lock");
    // -o: flock itself holds the lock while sleep runs, so killing flock lets it go.
    let mut holder = Command::new("flock")
        .args(["-x", "-o"])
        .arg(&lock)
        .args(["sleep", "30"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until flock holds it.
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(&lock).unwrap().ino();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains(&format!(" {} ", holder.id())) && l.contains(&format!(":{ino} ")))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "flock never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = lab.ul_env(
        &["network", "connect", "pub_net", &c],
        &[("UNDERLAY_LOCK_TIMEOUT", "2")],
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("underlay: waiting for the state lock")
            && run.stderr.contains("(flock)")
            && run
                .stderr
                .contains("did not let go within 2 s; set UNDERLAY_LOCK_TIMEOUT"),
        "{run:?}"
    );
    assert!(lab.inspect("pub_net")["Containers"]
        .as_object()
        .unwrap()
        .is_empty());
    // Free again: the same command goes through at once.
    lab.ul(&["network", "connect", "pub_net", &c]).ok();
}
