//! `underlay run`: a fresh network namespace attached to a network, a command run inside it,
//! detached and released when the command exits; the command's exit code is returned.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

use engine::sandbox::Sandbox;
use engine::{ConnectRequest, Engine};

/// PID of the running command, for forwarding termination signals.
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// While the command runs, signals that would kill us go to the command instead, so that we
/// live to detach and release its addresses.
fn forward_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: installing a handler that only calls an async-signal-safe function.
        unsafe {
            libc::signal(
                sig,
                forward as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Make `cmd` die (SIGKILL) when this process dies, as `unshare --kill-child` does: killed with
/// SIGKILL, `underlay run` cannot detach, and a command left running would hold the namespace
/// and its address with nobody to release them when it ends. (Whatever still holds the
/// namespace keeps the endpoint: `restore` decides by the namespace, not by our PID.)
fn die_with_us(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // We died between fork and prctl: the signal will never come.
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "underlay exited before the command started",
                ));
            }
            Ok(())
        });
    }
}

pub fn run(
    engine: &Engine,
    net: &str,
    ip: Option<String>,
    ip6: Option<String>,
    mac: Option<String>,
    cmd: &[String],
) -> Result<ExitCode, String> {
    let sandbox = Sandbox::new().map_err(|e| format!("cannot create a network namespace: {e}"))?;
    engine
        .loopback_up(sandbox.path())
        .map_err(|e| e.to_string())?;
    let netns = sandbox.path().display().to_string();
    engine
        .connect(&ConnectRequest {
            network: net.to_string(),
            netns: netns.clone(),
            ip,
            ip6,
            mac,
            ifname: None,
            name: Some(format!("run-{}", std::process::id())),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?;

    let mut command = Command::new(&cmd[0]);
    command.args(&cmd[1..]);
    sandbox.enter_on_spawn(&mut command);
    die_with_us(&mut command);
    let outcome = match command.spawn() {
        Ok(mut child) => {
            CHILD.store(child.id() as i32, Ordering::SeqCst);
            forward_signals();
            child
                .wait()
                .map_err(|e| format!("waiting for {}: {e}", cmd[0]))
        }
        Err(e) => Err(format!("cannot run {}: {e}", cmd[0])),
    };
    let detached = engine.disconnect(net, &netns);
    let status = match outcome {
        Ok(status) => status,
        Err(msg) => {
            eprintln!("Error: {msg}");
            return Ok(ExitCode::from(127));
        }
    };
    detached.map_err(|e| format!("the command finished but detaching failed: {e}"))?;
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        _ => 1,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
