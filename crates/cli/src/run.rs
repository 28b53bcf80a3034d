//! `underlay run`: a fresh network namespace attached to a network, a command run inside it,
//! detached and released when the command exits; the command's exit code is returned.

use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicI32, Ordering};

use engine::sandbox::Sandbox;
use engine::{AttachRequest, AttachmentKey, Detach, Engine};

mod dns;

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

#[derive(clap::Args)]
pub struct RunArgs {
    /// Network to attach the command's namespace to.
    #[arg(long = "net", visible_alias = "network", required = true)]
    net: String,
    #[command(flatten)]
    attach: crate::network::AttachArgs,
    /// The name the endpoint is shown under (default run-PID).
    #[arg(long)]
    name: Option<String>,
    /// Set a DNS server for the command (repeatable): its /etc/resolv.conf is written for it.
    #[arg(long)]
    dns: Vec<String>,
    /// Set a DNS search domain (repeatable).
    #[arg(long = "dns-search")]
    dns_search: Vec<String>,
    /// Set a DNS option, e.g. ndots:2 (repeatable).
    #[arg(long = "dns-option")]
    dns_option: Vec<String>,
    /// The command and its arguments (after `--`, or from the first word that is no option).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

/// The longest `--name`: a DNS name's length.
const NAME_MAX: usize = 253;

/// Docker's rule for a container's name.
fn check_name(name: &str) -> Result<(), String> {
    let b = name.as_bytes();
    let ok = (2..=NAME_MAX).contains(&b.len())
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        return Ok(());
    }
    Err(format!(
        "invalid --name {name:?}: a name is 2 to {NAME_MAX} characters of [a-zA-Z0-9][a-zA-Z0-9_.-]"
    ))
}

pub fn run(engine: &Engine, a: RunArgs) -> Result<ExitCode, String> {
    if let Some(n) = &a.name {
        check_name(n)?;
    }
    let resolv = dns::Resolv::from_args(&a.dns, &a.dns_search, &a.dns_option)?;
    let resolv = resolv.map(|r| r.write()).transpose()?;
    let sandbox = Sandbox::new().map_err(|e| format!("cannot create a network namespace: {e}"))?;
    engine
        .loopback_up(sandbox.path())
        .map_err(|e| e.to_string())?;
    let netns = sandbox.path().display().to_string();
    let req = AttachRequest {
        name: Some(
            a.name
                .unwrap_or_else(|| format!("run-{}", std::process::id())),
        ),
        ..a.attach.request(a.net.clone(), netns.clone())
    };
    let attached = engine.attach(&req).map_err(|e| e.to_string())?;
    for w in &attached.warnings {
        eprintln!("Warning: {w}");
    }
    let cmd = &a.cmd;
    let mut command = Command::new(&cmd[0]);
    command.args(&cmd[1..]);
    sandbox.enter_on_spawn(&mut command);
    die_with_us(&mut command);
    if let Some(file) = &resolv {
        dns::mount_on_spawn(&mut command, file.path());
    }
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
    let detached = engine.detach(&a.net, &AttachmentKey::Namespace(netns), Detach::All);
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
