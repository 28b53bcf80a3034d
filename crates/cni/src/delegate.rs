//! Running another IPAM plugin from CNI_PATH, as the spec's delegation describes: the same
//! configuration on stdin, the same environment, the command given.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use engine::{ExternalIpam, RouteSpec};
use ipnet::IpNet;
use serde_json::Value;

use crate::{CniError, Env, INVALID_CONFIG, IO_FAILURE, TRY_AGAIN_LATER};

/// The plugin binary `name` in the CNI_PATH directories.
fn find(name: &str, env: &Env) -> Result<PathBuf, CniError> {
    if name.contains('/') || name == "." || name == ".." {
        return Err(CniError::new(
            INVALID_CONFIG,
            format!("invalid IPAM plugin type {name:?}: expected a plugin name"),
        ));
    }
    let dirs: Vec<&str> = env.path.split(':').filter(|d| !d.is_empty()).collect();
    dirs.iter()
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CniError::new(
                INVALID_CONFIG,
                format!("failed to find IPAM plugin {name:?} in path {dirs:?} (CNI_PATH)"),
            )
        })
}

/// How long a delegated IPAM plugin may take when the configuration does not say
/// (`"ipamTimeout"`, seconds).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Run `plugin` with `command`; its result (if it printed one) or its error. A plugin that
/// has not finished within `timeout` is killed, and the call fails with "try again later".
pub fn exec(
    plugin: &str,
    command: &str,
    stdin: &[u8],
    env: &Env,
    timeout: Duration,
) -> Result<Option<Value>, CniError> {
    let path = find(plugin, env)?;
    let mut child = Command::new(&path)
        .env("CNI_COMMAND", command)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            CniError::new(
                IO_FAILURE,
                format!("cannot run IPAM plugin {}: {e}", path.display()),
            )
        })?;
    if let Some(mut input) = child.stdin.take() {
        // A plugin that exits without reading is judged by its exit status below.
        let _ = input.write_all(stdin);
    }
    // Its output is read beside the wait, so that a full pipe never stalls it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let io = |e: std::io::Error| {
        CniError::new(IO_FAILURE, format!("IPAM plugin {}: {e}", path.display()))
    };
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(io)? {
            break status;
        }
        if Instant::now() >= deadline {
            // Our own child, by its handle.
            let _ = child.kill();
            let _ = child.wait();
            return Err(CniError::new(
                TRY_AGAIN_LATER,
                format!(
                    "IPAM plugin {plugin} did not finish {command} within {} s and was stopped (\"ipamTimeout\" in the configuration sets the limit, in seconds)",
                    timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    answer(plugin, command, &out)
}

/// What the plugin answered: its result (None for an empty one), or its error with its own
/// code, message and details.
fn answer(
    plugin: &str,
    command: &str,
    out: &std::process::Output,
) -> Result<Option<Value>, CniError> {
    let parsed: Option<Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() {
        let code = parsed
            .as_ref()
            .and_then(|v| v.get("code"))
            .and_then(Value::as_u64)
            .unwrap_or(IO_FAILURE as u64) as u32;
        let msg = parsed
            .as_ref()
            .and_then(|v| v.get("msg"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        let mut e = CniError::new(
            code,
            format!("IPAM plugin {plugin} failed ({command}): {msg}"),
        );
        e.details = parsed
            .as_ref()
            .and_then(|v| v.get("details"))
            .and_then(Value::as_str)
            .map(str::to_string);
        return Err(e);
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parsed.map(Some).ok_or_else(|| {
        CniError::new(
            crate::DECODE_FAILURE,
            format!("IPAM plugin {plugin} printed a result that is not JSON"),
        )
    })
}

/// The addresses, gateways and routes of an IPAM result (spec 0.3.0 and later), one address
/// per family.
pub fn addresses(plugin: &str, result: &Value) -> Result<ExternalIpam, CniError> {
    let bad = |what: String| {
        CniError::new(
            crate::DECODE_FAILURE,
            format!("IPAM plugin {plugin} returned {what}"),
        )
    };
    // An optional address field of `v`, e.g. a gateway.
    let opt_ip = |v: &Value, key: &str, what: &str| -> Result<Option<IpAddr>, CniError> {
        v.get(key)
            .and_then(Value::as_str)
            .map(|g| {
                g.parse()
                    .map_err(|_| bad(format!("an invalid {what} {g:?}")))
            })
            .transpose()
    };
    let mut out = ExternalIpam::default();
    for ip in result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = ip
            .get("address")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let addr: IpNet = text
            .parse()
            .map_err(|_| bad(format!("an invalid address {text:?}")))?;
        let gw = opt_ip(ip, "gateway", "gateway")?;
        let (slot, gw_slot, family) = if addr.addr().is_ipv4() {
            (&mut out.ipv4, &mut out.info.gateway4, "IPv4")
        } else {
            (&mut out.ipv6, &mut out.info.gateway6, "IPv6")
        };
        if slot.is_some() {
            return Err(CniError::new(
                INVALID_CONFIG,
                format!(
                    "IPAM plugin {plugin} returned more than one {family} address: underlay gives an endpoint one address per family"
                ),
            ));
        }
        *slot = Some(addr);
        *gw_slot = gw;
    }
    for r in result
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let dst = r.get("dst").and_then(Value::as_str).unwrap_or_default();
        let dst: IpNet = dst
            .parse()
            .map_err(|_| bad(format!("an invalid route destination {dst:?}")))?;
        let gw = opt_ip(r, "gw", "route gateway")?;
        out.info.routes.push(RouteSpec {
            dst: dst.trunc(),
            gw,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod timeout_tests {
    use super::*;

    fn plugin(dir: &std::path::Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A delegated IPAM plugin that hangs is stopped after the timeout, and the call fails
    /// with "try again later" naming the knob; one that answers in time is heard.
    #[test]
    fn a_hanging_ipam_plugin_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        plugin(dir.path(), "hangs", "exec sleep 30");
        plugin(
            dir.path(),
            "answers",
            r#"cat >/dev/null; echo '{"cniVersion": "1.0.0", "ips": [{"address": "10.1.0.5/24"}]}'"#,
        );
        let env = Env {
            path: dir.path().display().to_string(),
            ..Env::default()
        };
        let e = exec("hangs", "ADD", b"{}", &env, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.code, TRY_AGAIN_LATER);
        assert!(
            e.msg
                .contains("IPAM plugin hangs did not finish ADD within 0 s and was stopped")
                && e.msg.contains("\"ipamTimeout\""),
            "{}",
            e.msg
        );
        let r = exec("answers", "ADD", b"{}", &env, Duration::from_secs(20))
            .unwrap()
            .unwrap();
        assert_eq!(r["ips"][0]["address"], "10.1.0.5/24");
    }
}
