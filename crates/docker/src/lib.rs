//! The Docker front door: `underlay daemon` serves Docker's remote network driver API as
//! `underlay-macvlan` and `underlay-ipvlan`, and its remote IPAM driver API as `underlay`, on
//! unix sockets in `/run/docker/plugins/`, on the same engine and store as the CLI and the CNI
//! plugin. Docker finds the sockets by name; `docker network create -d underlay-macvlan ...`
//! then goes to the engine, with the engine's validation and wording.
//!
//! ```text
//! dockerd ──HTTP over /run/docker/plugins/*.sock──▶ server (tokio, axum)
//!                                                     └─▶ api::handle (blocking pool) ─▶ engine
//! ```
//!
//! At start the daemon runs the engine's restore (parents underlay owns come back after a
//! reboot, cut-off operations are finished), so a restart loses nothing: all state is in the
//! store. Engine calls run on tokio's blocking pool; the netlink client opens namespace
//! sockets on throwaway threads of its own, so no pooled thread ever changes namespace.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::{Driver, Engine};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};

pub mod api;
mod http;
mod log;
mod names;
mod reconcile;
pub mod sockets;

pub use log::LogTarget;

/// How the daemon runs.
#[derive(Clone, Debug)]
pub struct Config {
    pub state_dir: PathBuf,
    /// Where Docker looks for plugin sockets.
    pub plugin_dir: PathBuf,
    /// Group of the sockets (root when `None`).
    pub socket_group: Option<String>,
    /// A managed plugin: one socket, `underlay.sock`, serving this network driver and IPAM.
    pub managed: Option<Driver>,
    /// Docker's API, asked for the names of networks and containers (`None`: never).
    pub docker_host: Option<String>,
    pub log_target: LogTarget,
    /// A tracing filter such as `info` or `debug` (`debug` traces every request).
    pub log_filter: String,
    /// How long a client may take to send a request's head, and then its body.
    pub read_timeout: Duration,
    /// The cluster store (`--cluster-store`): the IPAM driver's pools are cluster-wide.
    pub cluster: Option<Arc<engine::cluster::Cluster>>,
    /// How often the claims in the cluster store are made to match this host's records
    /// (releases that could not reach it replayed); `None`: only at start.
    pub reconcile_every: Option<Duration>,
    /// How often what underlay holds for Docker is compared with Docker's API and what
    /// Docker no longer has released (`None`: never).
    pub docker_reconcile: Option<Duration>,
}

struct Ctx {
    engine: Arc<Engine>,
    role: api::Role,
    socket: String,
    names: Option<tokio::sync::mpsc::UnboundedSender<api::Followup>>,
    /// Told when a dockerd activates the socket, for the reconcile to look soon.
    connected: Option<Arc<tokio::sync::Notify>>,
}

/// Run the daemon until SIGTERM or SIGINT; the process's exit status.
///
/// Call it before the process has threads: it sets SIGPIPE to be ignored, so that a client
/// that closes its connection before its answer is written (Docker timing out a slow call)
/// costs that connection a write error instead of killing the daemon. The CLI's default
/// (end quietly when the reader of its output goes away) must not reach long-lived code.
pub fn run(config: Config) -> i32 {
    // SAFETY: setting a signal's disposition before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    log::init(config.log_target, &config.log_filter);
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("underlay-blocking")
        .max_blocking_threads(64)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(serve(config)) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e}");
            1
        }
    }
}

async fn serve(mut config: Config) -> Result<(), String> {
    let started = Instant::now();
    let mut engine = Engine::open(&config.state_dir).map_err(|e| e.to_string())?;
    if let Some(cluster) = config.cluster.take() {
        tracing::info!(
            store = %cluster.location(),
            node = cluster.node(),
            "pools of the IPAM driver are cluster-wide"
        );
        engine = engine.with_shared_cluster(cluster);
    }
    let engine = Arc::new(engine);
    restore_before_serving(&engine).await?;
    let listeners = listeners(&config)?;
    let names = name_learner(&config, &engine);
    let api = config
        .docker_host
        .as_deref()
        .and_then(names::DockerApi::new);
    let connected = match (api, config.docker_reconcile) {
        (Some(api), Some(every)) => {
            let connected = Arc::new(tokio::sync::Notify::new());
            tokio::spawn(reconcile::run(
                engine.clone(),
                api,
                every,
                connected.clone(),
            ));
            Some(connected)
        }
        _ => None,
    };
    if let (true, Some(every)) = (engine.node_name().is_some(), config.reconcile_every) {
        tokio::spawn(reconcile_cluster(engine.clone(), every));
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut servers = Vec::new();
    for l in &listeners {
        let ctx = Arc::new(Ctx {
            engine: engine.clone(),
            role: l.role,
            socket: l.name(),
            names: names.clone(),
            connected: connected.clone(),
        });
        servers.push(serve_socket(l, ctx, &config, stop_rx.clone())?);
        tracing::info!("serving {} on {}", describe(l.role), l.path.display());
    }
    tracing::info!(
        "underlay daemon ready in {} ms (state in {})",
        started.elapsed().as_millis(),
        engine.store_location()
    );
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);

    wait_for_signal().await;
    tracing::info!("stopping");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    // Docker keeps idle connections open; give calls in flight a few seconds.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        for s in servers {
            let _ = s.await;
        }
    })
    .await;
    listeners.iter().for_each(sockets::Listener::remove_file);
    Ok(())
}

/// Before the first call: parents underlay owns, cut-off operations; the report logged.
async fn restore_before_serving(engine: &Arc<Engine>) -> Result<(), String> {
    let e = engine.clone();
    let report = tokio::task::spawn_blocking(move || e.restore())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("restore failed: {e}"))?;
    for line in &report.lines {
        if report.problems.contains(line) {
            tracing::warn!("restore: {line}");
        } else {
            tracing::info!("restore: {line}");
        }
    }
    for net in &report.degraded {
        tracing::warn!("network {net} cannot be used until its parent interface is back");
    }
    Ok(())
}

/// Every `every`, the cluster store's claims made to match this host's records: a release
/// that could not reach etcd is replayed, a claim a crash left is released; what it did is
/// logged, and a cluster store that cannot be reached is a warning (tried again next time).
async fn reconcile_cluster(engine: Arc<Engine>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is now: restore has just done it
    loop {
        tick.tick().await;
        let e = engine.clone();
        match tokio::task::spawn_blocking(move || e.reconcile_cluster()).await {
            Ok(Ok(report)) => {
                for line in &report.lines {
                    if report.problems.contains(line) {
                        tracing::warn!("cluster reconcile: {line}");
                    } else {
                        tracing::info!("cluster reconcile: {line}");
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!("cluster reconcile: {e}"),
            Err(e) => tracing::warn!("cluster reconcile: {e}"),
        }
    }
}

/// The plugin sockets: systemd's, when it activated the daemon; else bound here (all or
/// none: a failure removes those already made).
fn listeners(config: &Config) -> Result<Vec<sockets::Listener>, String> {
    if let Some(l) = sockets::activated(config.managed)? {
        return Ok(l);
    }
    let gid = match &config.socket_group {
        Some(g) => sockets::group_id(g)?,
        None => 0,
    };
    let mut out = Vec::new();
    for name in sockets::wanted(config.managed) {
        let role = sockets::role_of(name, config.managed).expect("a known name");
        match sockets::bind(&config.plugin_dir, name, role, gid) {
            Ok(l) => out.push(l),
            Err(e) => {
                out.iter().for_each(sockets::Listener::remove_file);
                return Err(e);
            }
        }
    }
    Ok(out)
}

/// Where Docker's API can be reached: a task that learns the names Docker gives networks and
/// endpoints, outside plugin calls (a plugin that asks Docker while Docker waits on it hangs
/// dockerd), and the networks whose names could not be learned before are queued first.
fn name_learner(
    config: &Config,
    engine: &Arc<Engine>,
) -> Option<tokio::sync::mpsc::UnboundedSender<api::Followup>> {
    let api = config
        .docker_host
        .as_deref()
        .and_then(names::DockerApi::new)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let e = engine.clone();
    tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            tokio::spawn(names::learn(e.clone(), api.clone(), f));
        }
    });
    if let Ok((nets, _)) = engine.network_configs() {
        for n in nets.into_iter().filter(|n| {
            n.owner == Some(engine::Owner::Docker) && n.name == api::provisional_name(&n.id)
        }) {
            let _ = tx.send(api::Followup::NameNetwork(n.id));
        }
    }
    Some(tx)
}

/// Serve Docker's HTTP on one socket until `stop` says so.
fn serve_socket(
    l: &sockets::Listener,
    ctx: Arc<Ctx>,
    config: &Config,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let unusable = |e: std::io::Error| format!("cannot use socket {}: {e}", l.path.display());
    let std = l.socket.try_clone().map_err(unusable)?;
    std.set_nonblocking(true).map_err(unusable)?;
    let listener = tokio::net::UnixListener::from_std(std).map_err(unusable)?;
    let timeouts = http::Timeouts {
        read: config.read_timeout,
    };
    Ok(tokio::spawn(http::serve(
        listener,
        timeouts,
        move |req| call(ctx.clone(), timeouts, req),
        async move {
            let _ = stop.wait_for(|s| *s).await;
        },
    )))
}

fn describe(role: api::Role) -> String {
    let mut parts = Vec::new();
    if let Some(d) = role.network {
        parts.push(format!("network driver underlay-{d}"));
    }
    if role.ipam {
        parts.push("IPAM driver underlay".to_string());
    }
    parts.join(" and ")
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Every request: `POST /<Method>`, answered by `api::handle` on the blocking pool.
async fn call(
    ctx: Arc<Ctx>,
    timeouts: http::Timeouts,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let (method, body) = match http::read_request(req, timeouts).await {
        Ok(r) => r,
        Err(reply) => {
            tracing::warn!(socket = %ctx.socket, "request refused: {}", reply.body);
            return http::response(&reply);
        }
    };
    let (engine, role, m, b) = (ctx.engine.clone(), ctx.role, method.clone(), body.clone());
    let (reply, followup) =
        match tokio::task::spawn_blocking(move || api::handle(&engine, role, &m, &b)).await {
            Ok(r) => r,
            Err(e) => (api::Reply::err(500, format!("internal error: {e}")), None),
        };
    let text = reply.body.to_string();
    tracing::debug!(
        socket = %ctx.socket,
        method = %method,
        request = %String::from_utf8_lossy(&body).trim_end(),
        status = reply.status,
        response = %text,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    if reply.status >= 400 && reply.status != 404 {
        tracing::warn!(socket = %ctx.socket, "{method} refused: {text}");
    } else if reply.status == 200 {
        log_change(&method, &body);
    }
    if let (true, Some(c)) = (method == "Plugin.Activate", &ctx.connected) {
        c.notify_one();
    }
    if let (Some(f), Some(tx)) = (followup, &ctx.names) {
        let _ = tx.send(f);
    }
    http::response(&reply)
}

/// One info line per change Docker asked for.
fn log_change(method: &str, body: &[u8]) {
    let what = match method {
        "NetworkDriver.CreateNetwork" => "network created",
        "NetworkDriver.DeleteNetwork" => "network deleted",
        "NetworkDriver.Join" => "endpoint joined",
        "NetworkDriver.Leave" => "endpoint left",
        "IpamDriver.RequestPool" => "pool requested",
        "IpamDriver.ReleasePool" => "pool released",
        _ => return,
    };
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let parts: Vec<String> = ["NetworkID", "EndpointID", "Pool", "SubPool", "PoolID"]
        .iter()
        .filter_map(|k| {
            let s = v.get(*k)?.as_str().filter(|s| !s.is_empty())?;
            let s = if k.ends_with("ID") && s.len() == 64 {
                &s[..12]
            } else {
                s
            };
            Some(format!("{k}={s}"))
        })
        .collect();
    tracing::info!("{what}: {}", parts.join(" "));
}
