//! The command-line front door: parses Docker-compatible arguments into engine requests and
//! renders the results the way `docker network` does. A library, so that its parsing and
//! rendering are tested without running the binary; `underlay`'s `main` hands it the
//! command line.
//!
//! Public API: [`Cli`] (the whole command line, a clap parser), [`Command`], [`NetworkCmd`],
//! [`dispatch`] (run a parsed command: its exit status, or the message for `Error: `),
//! [`open`] (the engine as one command uses it).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use engine::Engine;

mod cluster;
mod demo;
mod docker_api;
mod filter;
mod format;
mod lab;
mod meta;
mod network;
mod render;
mod run;

#[derive(Parser)]
#[command(
    name = "underlay",
    version,
    about = "Container networking on the physical network: macvlan and ipvlan, no bridge, no NAT",
    propagate_version = true
)]
pub struct Cli {
    /// Where underlay keeps its state.
    #[arg(long, global = true, env = "UNDERLAY_STATE_DIR", default_value = engine::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    /// The cluster store this host shares with the others on its LAN: global networks and
    /// unique addresses across hosts (etcd://HOST:PORT[,HOST:PORT...][/ROOT]).
    #[arg(long, global = true, env = "UNDERLAY_CLUSTER_STORE")]
    cluster_store: Option<String>,
    /// This host's name in the cluster store (default: its host name, lowercased).
    #[arg(long, global = true, env = "UNDERLAY_NODE")]
    node: Option<String>,
    /// etcd's user and password (USER:PASSWORD), where etcd has authentication enabled.
    #[arg(
        long,
        global = true,
        env = "UNDERLAY_CLUSTER_USER",
        hide_env_values = true
    )]
    cluster_user: Option<String>,
    /// TLS to etcd: the CA certificate (PEM) that signed its members' certificates.
    #[arg(long, global = true, env = "UNDERLAY_CLUSTER_CA", value_name = "FILE")]
    cluster_ca: Option<PathBuf>,
    /// TLS to etcd: this host's client certificate (PEM), for etcd's --client-cert-auth.
    #[arg(
        long,
        global = true,
        env = "UNDERLAY_CLUSTER_CERT",
        value_name = "FILE"
    )]
    cluster_cert: Option<PathBuf>,
    /// TLS to etcd: the client certificate's key (PEM).
    #[arg(long, global = true, env = "UNDERLAY_CLUSTER_KEY", value_name = "FILE")]
    cluster_key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Run a command in a fresh network namespace attached to a network.
    Run(run::RunArgs),
    /// Replay the Docker macvlan guide's bridge walkthrough in a throwaway lab of namespaces.
    Demo(demo::DemoArgs),
    /// Serve Docker's plugin APIs: network drivers underlay-macvlan and underlay-ipvlan, IPAM
    /// driver underlay.
    Daemon(DaemonArgs),
    /// The nodes sharing this host's cluster store (--cluster-store).
    #[command(subcommand)]
    Cluster(cluster::ClusterCmd),
    /// Show underlay's version and what it supports.
    Version(meta::VersionArgs),
    /// Print a shell completion script (bash, zsh or fish) to standard output.
    Completion(meta::CompletionArgs),
    /// Write underlay's man pages.
    #[command(hide = true)]
    Man(meta::ManArgs),
}

#[derive(Args)]
pub struct DaemonArgs {
    /// Where Docker looks for plugin sockets.
    #[arg(
        long,
        env = "UNDERLAY_PLUGIN_DIR",
        default_value = "/run/docker/plugins"
    )]
    plugin_dir: PathBuf,
    /// Group allowed to use the sockets (mode 0660, owner root); default root.
    #[arg(long, env = "UNDERLAY_SOCKET_GROUP")]
    socket_group: Option<String>,
    /// Run as a Docker managed plugin: one socket, underlay.sock, serving this network
    /// driver (macvlan or ipvlan) and the IPAM driver.
    #[arg(long, env = "UNDERLAY_MANAGED_PLUGIN", value_name = "DRIVER")]
    managed_plugin: Option<String>,
    /// Docker's API, asked for the names of networks and containers ("" for never).
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// Where logs go: auto (the journal under systemd, else stderr), stderr or journald.
    #[arg(long, env = "UNDERLAY_LOG_TARGET", default_value = "auto")]
    log_target: docker::LogTarget,
    /// Log level or tracing filter; debug traces every request.
    #[arg(long, env = "UNDERLAY_LOG", default_value = "info")]
    log_level: String,
    /// With --cluster-store: seconds between two reconciles of this host's claims in the
    /// cluster store (releases etcd missed are replayed); 0 for only at start.
    #[arg(long, env = "UNDERLAY_CLUSTER_RECONCILE", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(0..=86400))]
    cluster_reconcile: u64,
    /// Seconds between two comparisons of what underlay holds for Docker with Docker's API:
    /// networks, endpoints and addresses Docker no longer has (missing in two comparisons in
    /// a row) are released; 0 for never.
    #[arg(long, env = "UNDERLAY_DOCKER_RECONCILE", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(0..=86400))]
    docker_reconcile: u64,
    /// Seconds a client may take to send a request's head, and then its body (1 to 300).
    #[arg(long, env = "UNDERLAY_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    read_timeout: u64,
}

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create(network::CreateArgs),
    /// Connect a network namespace to a network.
    Connect(network::ConnectArgs),
    /// Disconnect a network namespace from a network.
    Disconnect {
        /// Network name or id.
        network: String,
        /// A name under /run/netns, a path to a namespace file, or a PID.
        netns: String,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        /// Format the output using the given Go template, or "json".
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(network::LsArgs),
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm {
        /// Do not error if a network does not exist; remove a network of Docker's that
        /// Docker no longer has (asked at --docker-host).
        #[arg(short, long)]
        force: bool,
        /// Docker's API, asked by --force whether Docker still has a network of its own.
        #[arg(
            long,
            env = "DOCKER_HOST",
            default_value = "unix:///var/run/docker.sock"
        )]
        docker_host: String,
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all networks without endpoints, and networks of Docker's that Docker no
    /// longer has.
    Prune {
        /// Provide filter values (e.g. "until=24h", "label=KEY=VALUE", "label!=KEY").
        #[arg(long)]
        filter: Vec<String>,
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Docker's API, asked whether Docker still has each network of its own.
        #[arg(
            long,
            env = "DOCKER_HOST",
            default_value = "unix:///var/run/docker.sock"
        )]
        docker_host: String,
    },
    /// Bring the kernel back in line with the stored state (after a reboot or a crash).
    Restore {
        /// Only tell what a restore would do; change nothing (exit 0: nothing to do, 2:
        /// something to do, 3: problems a restore would leave).
        #[arg(long, visible_alias = "dry-run")]
        check: bool,
    },
}

pub fn open(state_dir: &std::path::Path) -> Result<Engine, String> {
    Engine::open_single_threaded(state_dir).map_err(|e| e.to_string())
}

/// The engine for a command line: the state directory and, where given, the cluster store.
fn open_for(cli: &Cli) -> Result<Engine, String> {
    let engine = open(&cli.state_dir)?;
    let Some(url) = cli.cluster_store.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(engine);
    };
    Ok(engine.with_cluster(cluster(url, cli)?))
}

/// The cluster store at `url` with this host as `--node` (default: its host name), reached
/// with `--cluster-user` and the TLS files, in the CLI's words.
fn cluster(url: &str, cli: &Cli) -> Result<engine::cluster::Cluster, String> {
    let user = match cli.cluster_user.as_deref() {
        Some(u) => Some(
            u.split_once(':')
                .map(|(n, p)| (n.to_string(), p.to_string()))
                .ok_or_else(|| "invalid --cluster-user: expected USER:PASSWORD".to_string())?,
        ),
        None => None,
    };
    let tls = [&cli.cluster_ca, &cli.cluster_cert, &cli.cluster_key]
        .iter()
        .any(|f| f.is_some())
        .then(|| engine::cluster::Tls {
            ca: cli.cluster_ca.clone(),
            cert: cli.cluster_cert.clone(),
            key: cli.cluster_key.clone(),
        });
    let access = engine::cluster::Access { user, tls };
    engine::cluster::Cluster::connect(url, cli.node.as_deref(), access).map_err(|e| {
        e.to_string()
            .replace("invalid cluster store", "invalid --cluster-store")
            .replace("invalid node name", "invalid --node")
            .replace("the CA certificate", "--cluster-ca")
            .replace("the client certificate", "--cluster-cert")
            .replace("the client key", "--cluster-key")
            .replace("client certificate ", "--cluster-cert ")
            .replace("client key ", "--cluster-key ")
    })
}

/// Run a parsed command line; `long_lived` is called before the daemon starts (the binary's
/// allocator gives memory back to the kernel from then on).
pub fn dispatch(cli: Cli, long_lived: fn()) -> Result<ExitCode, String> {
    // The daemon's cluster store, made before the command is taken apart.
    let daemon_cluster = match (&cli.command, cli.cluster_store.as_deref()) {
        (Command::Daemon(_), Some(url)) if !url.is_empty() => {
            Some(std::sync::Arc::new(cluster(url, &cli)?))
        }
        _ => None,
    };
    match cli.command {
        Command::Network(_) | Command::Run(_) | Command::Cluster(_) => {
            let engine = open_for(&cli)?;
            match cli.command {
                Command::Network(cmd) => network::run(&engine, cmd),
                Command::Run(args) => run::run(&engine, args),
                Command::Cluster(cmd) => cluster::run(&engine, cmd),
                _ => unreachable!("matched above"),
            }
        }
        Command::Demo(args) => demo::demo(&args).map(|()| ExitCode::SUCCESS),
        Command::Version(a) => meta::version(&cli.state_dir, &a).map(|()| ExitCode::SUCCESS),
        Command::Completion(a) => {
            meta::completion(&a);
            Ok(ExitCode::SUCCESS)
        }
        Command::Man(a) => meta::man(&a).map(|()| ExitCode::SUCCESS),
        Command::Daemon(a) => {
            // Runs for long: memory it frees goes back to the kernel.
            long_lived();
            let managed = match a.managed_plugin.as_deref() {
                None => None,
                Some("macvlan") => Some(engine::Driver::Macvlan),
                Some("ipvlan") => Some(engine::Driver::Ipvlan),
                Some(other) => {
                    return Err(format!(
                        "invalid --managed-plugin {other:?}: expected macvlan or ipvlan"
                    ))
                }
            };
            check_log_level(&a.log_level)?;
            let code = docker::run(docker::Config {
                cluster: daemon_cluster,
                docker_reconcile: Some(a.docker_reconcile)
                    .filter(|s| *s > 0)
                    .map(std::time::Duration::from_secs),
                reconcile_every: Some(a.cluster_reconcile)
                    .filter(|s| *s > 0)
                    .map(std::time::Duration::from_secs),
                state_dir: cli.state_dir,
                plugin_dir: a.plugin_dir,
                socket_group: a.socket_group,
                managed,
                docker_host: Some(a.docker_host).filter(|h| !h.is_empty()),
                log_target: a.log_target,
                log_filter: a.log_level,
                read_timeout: std::time::Duration::from_secs(a.read_timeout),
            });
            Ok(ExitCode::from(code as u8))
        }
    }
}

/// A log level, or a tracing filter of directives (`target=level`, comma-separated): a bare
/// word that is no level would be taken as a target's name and silence everything else.
fn check_log_level(filter: &str) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let ok = !filter.trim().is_empty()
        && filter.split(',').all(|d| {
            let d = d.trim();
            match d.rsplit_once('=') {
                Some((target, level)) => {
                    !target.is_empty() && LEVELS.contains(&level.to_ascii_lowercase().as_str())
                }
                None => LEVELS.contains(&d.to_ascii_lowercase().as_str()),
            }
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid --log-level {filter:?}: expected one of {}, or directives such as underlay_docker=debug,info",
            LEVELS.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("underlay").chain(args.iter().copied()))
    }

    #[test]
    fn a_command_line_is_parsed_and_run_without_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().to_str().unwrap();
        let cli = parse(&[
            "--state-dir",
            state,
            "network",
            "create",
            "--subnet",
            "172.16.86.0/33",
            "-o",
            "parent=eth0",
            "lan",
        ])
        .unwrap();
        // Refused before anything is changed, naming the bad value.
        let e = dispatch(cli, || panic!("not the daemon")).unwrap_err();
        assert!(e.contains("172.16.86.0/33"), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "nothing written"
        );
        let cli = parse(&["--state-dir", state, "network", "ls", "-q"]).unwrap();
        assert_eq!(dispatch(cli, || {}).unwrap(), ExitCode::SUCCESS);
    }

    #[test]
    fn bad_daemon_flags_are_refused_in_the_flags_words() {
        assert!(parse(&["daemon", "--read-timeout", "0"]).is_err());
        let cli = parse(&["daemon", "--log-level", "verbose"]).unwrap();
        let e = dispatch(cli, || {}).unwrap_err();
        assert!(e.starts_with("invalid --log-level \"verbose\""), "{e}");
        let cli = parse(&["daemon", "--managed-plugin", "bridge"]).unwrap();
        let e = dispatch(cli, || {}).unwrap_err();
        assert!(e.contains("expected macvlan or ipvlan"), "{e}");
        assert!(check_log_level("underlay_docker=debug,info").is_ok());
    }
}
