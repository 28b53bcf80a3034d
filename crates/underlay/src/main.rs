//! `underlay`: the command-line front door. Parses Docker-compatible arguments into engine
//! requests and renders the results the way `docker network` does.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use engine::{ConnectRequest, CreateRequest, Engine};

mod arena;
mod demo;
mod render;
mod run;

#[derive(Parser)]
#[command(
    name = "underlay",
    version,
    about = "Container networking on the physical network: macvlan and ipvlan, no bridge, no NAT",
    propagate_version = true
)]
struct Cli {
    /// Where underlay keeps its state.
    #[arg(long, global = true, env = "UNDERLAY_STATE_DIR", default_value = engine::DEFAULT_STATE_DIR)]
    state_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Run a command in a fresh network namespace attached to a network.
    Run(RunArgs),
    /// Replay the Docker macvlan guide's bridge walkthrough in a throwaway lab of namespaces.
    Demo(demo::DemoArgs),
    /// Serve Docker's plugin APIs: network drivers underlay-macvlan and underlay-ipvlan, IPAM
    /// driver underlay.
    Daemon(DaemonArgs),
}

#[derive(Args)]
struct DaemonArgs {
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
    /// Seconds a client may take to send a request's head, and then its body (1 to 300).
    #[arg(long, env = "UNDERLAY_READ_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    read_timeout: u64,
}

#[derive(Subcommand)]
enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// Connect a network namespace to a network.
    Connect(ConnectArgs),
    /// Disconnect a network namespace from a network.
    Disconnect {
        /// Network name or id.
        network: String,
        /// A name under /run/netns, a path to a namespace file, or a PID.
        netns: String,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// List networks.
    #[command(visible_alias = "list")]
    Ls {
        /// Only display network IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Output format: "table" (default) or "json" (one object per line).
        #[arg(long, default_value = "table")]
        format: String,
        /// Do not truncate the output.
        #[arg(long)]
        no_trunc: bool,
    },
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm {
        #[arg(required = true)]
        networks: Vec<String>,
    },
    /// Remove all networks without endpoints.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
    },
    /// Bring the kernel back in line with the stored state (after a reboot or a crash).
    Restore,
}

#[derive(Args)]
struct CreateArgs {
    /// Driver to manage the network: macvlan or ipvlan.
    #[arg(short, long, default_value = "macvlan")]
    driver: String,
    /// Subnet in CIDR format that represents a network segment (repeatable).
    #[arg(long)]
    subnet: Vec<String>,
    /// IPv4 or IPv6 gateway for a subnet (repeatable).
    #[arg(long)]
    gateway: Vec<String>,
    /// Allocate container IPs from a sub-range (repeatable).
    #[arg(long = "ip-range")]
    ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by network driver, NAME=IP (repeatable).
    #[arg(long = "aux-address")]
    aux_address: Vec<String>,
    /// Enable IPv6 networking.
    #[arg(long)]
    ipv6: bool,
    /// Restrict external access to the network (no default routes).
    #[arg(long)]
    internal: bool,
    /// Set metadata on a network, KEY=VALUE (repeatable).
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options, KEY=VALUE: parent, macvlan_mode, ipvlan_mode, ipvlan_flag, mtu.
    #[arg(short, long)]
    opt: Vec<String>,
    name: String,
}

#[derive(Args)]
struct ConnectArgs {
    /// IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address.
    #[arg(long)]
    ip6: Option<String>,
    /// MAC address of the container's interface.
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// Interface name inside the namespace (default: the lowest free ethN).
    #[arg(long)]
    ifname: Option<String>,
    /// Network name or id.
    network: String,
    /// A name under /run/netns, a path to a namespace file, or a PID.
    netns: String,
}

#[derive(Args)]
struct RunArgs {
    /// Network to attach the command's namespace to.
    #[arg(long = "net", visible_alias = "network", required = true)]
    net: String,
    /// IPv4 address.
    #[arg(long)]
    ip: Option<String>,
    /// IPv6 address.
    #[arg(long)]
    ip6: Option<String>,
    /// MAC address.
    #[arg(long = "mac-address")]
    mac_address: Option<String>,
    /// The command and its arguments.
    #[arg(required = true, last = true)]
    cmd: Vec<String>,
}

/// Split `KEY=VALUE`; `what` names the flag for the error.
fn split_kv(what: &str, s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid {what} {s:?}: expected KEY=VALUE")),
    }
}

fn split_all(what: &str, items: &[String]) -> Result<Vec<(String, String)>, String> {
    items.iter().map(|s| split_kv(what, s)).collect()
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`underlay network inspect x | grep -q y`) instead of panicking on EPIPE.
    // SAFETY: setting a signal's disposition to the default before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The background half of a CNI DEL.
    if let Ok(job) = std::env::var(cni::FINISH_ENV) {
        return ExitCode::from(cni::finish_detach(&job) as u8);
    }
    // Run by a CNI runtime: the same binary is the CNI plugin (`"type": "underlay"`).
    if std::env::var_os("CNI_COMMAND").is_some() {
        return ExitCode::from(cni::run() as u8);
    }
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("Error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn open(state_dir: &std::path::Path) -> Result<Engine, String> {
    Engine::open_single_threaded(state_dir).map_err(|e| e.to_string())
}

fn dispatch(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Network(cmd) => network(&cli.state_dir, cmd),
        Command::Run(args) => run::run(
            &open(&cli.state_dir)?,
            &args.net,
            args.ip,
            args.ip6,
            args.mac_address,
            &args.cmd,
        ),
        Command::Demo(args) => demo::demo(&args).map(|()| ExitCode::SUCCESS),
        Command::Daemon(a) => {
            // Runs for long: memory it frees goes back to the kernel.
            arena::long_lived();
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

/// `network restore`'s exit status when something is left that does not match the state
/// (each problem is printed); 1 is a restore that could not run at all.
const RESTORE_DEGRADED: u8 = 3;

fn network(state_dir: &std::path::Path, cmd: NetworkCmd) -> Result<ExitCode, String> {
    let engine = open(state_dir)?;
    let e = |err: engine::Error| err.to_string();
    match cmd {
        NetworkCmd::Create(a) => {
            let req = CreateRequest {
                name: a.name,
                driver: a.driver,
                subnets: a.subnet,
                gateways: a.gateway,
                ip_ranges: a.ip_range,
                aux_addresses: split_all("--aux-address", &a.aux_address)?,
                ipv6: a.ipv6,
                internal: a.internal,
                labels: split_all("--label", &a.label)?,
                options: split_all("--opt", &a.opt)?,
                ..Default::default()
            };
            let created = engine.create_network(&req).map_err(e)?;
            for w in &created.warnings {
                eprintln!("Warning: {w}");
            }
            println!("{}", created.id);
        }
        NetworkCmd::Connect(a) => {
            engine
                .connect(&ConnectRequest {
                    network: a.network,
                    netns: a.netns,
                    ip: a.ip,
                    ip6: a.ip6,
                    mac: a.mac_address,
                    ifname: a.ifname,
                    ..Default::default()
                })
                .map_err(e)?;
        }
        NetworkCmd::Disconnect { network, netns } => {
            engine.disconnect(&network, &netns).map_err(e)?;
        }
        NetworkCmd::Inspect { networks } => {
            let mut out = Vec::new();
            let mut missing = Vec::new();
            for n in &networks {
                match engine.network(n) {
                    Ok(net) => out.push(render::inspect(&net)),
                    Err(err) => missing.push(err.to_string()),
                }
            }
            println!("{}", render::pretty(&serde_json::Value::Array(out)));
            if !missing.is_empty() {
                return Err(missing.join("\n"));
            }
        }
        NetworkCmd::Ls {
            quiet,
            format,
            no_trunc,
        } => {
            let (nets, damaged) = engine.network_configs().map_err(e)?;
            print!("{}", render::list(&nets, quiet, &format, no_trunc)?);
            for d in &damaged {
                eprintln!(
                    "Warning: {d}: that network is not listed; `underlay network restore` reports what to do"
                );
            }
        }
        NetworkCmd::Rm { networks } => {
            let mut failed = Vec::new();
            for n in &networks {
                match engine.remove_network(n) {
                    Ok(_) => println!("{n}"),
                    Err(err) => failed.push(err.to_string()),
                }
            }
            if !failed.is_empty() {
                return Err(failed.join("\n"));
            }
        }
        NetworkCmd::Prune { force } => {
            if !force && !confirm()? {
                return Ok(ExitCode::SUCCESS);
            }
            let removed = engine.prune().map_err(e)?;
            if !removed.is_empty() {
                println!("Deleted Networks:");
                for n in removed {
                    println!("{n}");
                }
            }
        }
        NetworkCmd::Restore => {
            let report = engine.restore().map_err(e)?;
            for line in &report.lines {
                println!("{line}");
            }
            if report.lines.is_empty() {
                println!("nothing to restore: the kernel matches the stored state");
            }
            if !report.problems.is_empty() {
                eprintln!(
                    "Error: {} problem(s) left; the host does not match the stored state:",
                    report.problems.len()
                );
                for p in &report.problems {
                    eprintln!("  {p}");
                }
                return Ok(ExitCode::from(RESTORE_DEGRADED));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn confirm() -> Result<bool, String> {
    use std::io::{BufRead, Write};
    print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}
