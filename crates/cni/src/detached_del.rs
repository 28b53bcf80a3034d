//! CNI DEL's detached second half: the kernel takes tens of milliseconds to delete a macvlan
//! or ipvlan link, and a runtime waits for the plugin's exit, so where the engine defers a
//! detach ([`engine::Detached::Pending`]) the deletion and the release of the addresses are
//! finished by a process of this binary of its own (own process group, no stdio) while the
//! runtime goes on. The addresses stay reserved until the link is gone; a second half that
//! fails leaves the endpoint in state detaching for `network restore`. BENCHMARKS.md ("What
//! each performance trick wins") has its measured share of a DEL.

use std::path::PathBuf;

use engine::{Engine, PendingDetach};
use serde_json::json;

/// Environment variable that makes the binary run a DEL's second half (the payload is JSON:
/// the state directory and the pending detach).
pub const FINISH_ENV: &str = "UNDERLAY_FINISH_DETACH";

/// Hand the rest of `pending` to a detached process of this binary; done here if that
/// cannot start (or in a build made to measure what this wins).
/// `cluster`: the configuration's cluster store and node name, where its addresses are
/// claimed (the second half releases the claims too).
pub(crate) fn finish(
    engine: &Engine,
    state_dir: &str,
    cluster: Option<crate::config::ClusterRef>,
    pending: &PendingDetach,
) {
    if cfg!(underlay_bench_inline_del) || spawn(state_dir, cluster, pending).is_err() {
        if let Err(e) = engine.finish_detach(pending) {
            eprintln!("underlay: {}", e);
        }
    }
}

fn spawn(
    state_dir: &str,
    cluster: Option<crate::config::ClusterRef>,
    pending: &PendingDetach,
) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let payload = json!({
        "stateDir": state_dir,
        "cluster": cluster,
        "pending": pending,
    })
    .to_string();
    Command::new(std::env::current_exe()?)
        .env_clear()
        .env(FINISH_ENV, payload)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(drop)
}

/// The second half, in the process `finish` started: delete the link, release the
/// addresses. Exit status 0 on success, 1 when the detach failed, 2 for a payload that is
/// not one.
pub fn run(payload: &str) -> i32 {
    #[derive(serde::Deserialize)]
    struct Job {
        #[serde(rename = "stateDir")]
        state_dir: String,
        #[serde(default)]
        cluster: Option<crate::config::ClusterRef>,
        pending: PendingDetach,
    }
    let Ok(job) = serde_json::from_str::<Job>(payload) else {
        return 2;
    };
    let engine = Engine::open_single_threaded(&PathBuf::from(&job.state_dir)).map(|e| {
        // A cluster store that cannot be named leaves the claims for `restore`.
        match job.cluster.as_ref().map(crate::config::ClusterRef::connect) {
            Some(Ok(cluster)) => e.with_cluster(cluster),
            _ => e,
        }
    });
    match engine.and_then(|e| e.finish_detach(&job.pending)) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
