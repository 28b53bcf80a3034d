//! `underlay network ...`: each command's arguments as `docker network` takes them, turned into
//! engine calls, and its output as Docker prints it.

use std::process::ExitCode;

use clap::Args;
use engine::{AttachRequest, AttachmentKey, CreateRequest, Detach, Engine, Kind};

use crate::filter::{Filters, LS_KEYS, PRUNE_KEYS};
use crate::format::{self, Format};
use crate::{render, NetworkCmd};

#[derive(Args)]
pub struct CreateArgs {
    /// Driver to manage the network: macvlan or ipvlan.
    #[arg(short, long, default_value = "macvlan")]
    driver: String,
    /// local (this host's) or global (defined in the cluster store for every node, its
    /// addresses unique across them; needs --cluster-store).
    #[arg(long, default_value = "local")]
    scope: String,
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
    /// IP Address Management driver: default (underlay's own).
    #[arg(long = "ipam-driver", value_parser = ["default"])]
    ipam_driver: Option<String>,
    /// Set IPAM driver specific options, KEY=VALUE (repeatable).
    #[arg(long = "ipam-opt")]
    ipam_opt: Vec<String>,
    /// Enable IPv6 networking.
    #[arg(long)]
    ipv6: bool,
    /// Restrict external access to the network (no default routes).
    #[arg(long)]
    internal: bool,
    /// Enable manual container attachment (recorded; every network of underlay is attachable).
    #[arg(long)]
    attachable: bool,
    /// Set metadata on a network, KEY=VALUE (repeatable).
    #[arg(long)]
    label: Vec<String>,
    /// Set driver specific options, KEY=VALUE: parent, macvlan_mode, ipvlan_mode, ipvlan_flag, mtu.
    #[arg(short, long)]
    opt: Vec<String>,
    name: String,
}

/// What `network connect` and `run` take about the attachment.
#[derive(Args)]
pub struct AttachArgs {
    /// IPv4 address.
    #[arg(long)]
    pub ip: Option<String>,
    /// IPv6 address.
    #[arg(long)]
    pub ip6: Option<String>,
    /// MAC address of the container's interface.
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// Interface name inside the namespace (default: the lowest free ethN).
    #[arg(long)]
    pub ifname: Option<String>,
    /// Add a network-scoped alias for the container (repeatable).
    #[arg(long)]
    pub alias: Vec<String>,
}

impl AttachArgs {
    /// The request attaching `netns` to `network`.
    pub fn request(self, network: String, netns: String) -> AttachRequest {
        AttachRequest {
            ip: self.ip,
            ip6: self.ip6,
            mac: self.mac_address,
            ifname: self.ifname,
            aliases: self.alias,
            ..AttachRequest::namespace(&network, &netns)
        }
    }
}

#[derive(Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    attach: AttachArgs,
    /// Network name or id.
    network: String,
    /// A name under /run/netns, a path to a namespace file, or a PID.
    netns: String,
}

#[derive(Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=macvlan", "name=lan", "label=KEY=VALUE").
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format the output: "table" (default), "table TEMPLATE", "json", "raw" or a Go template.
    #[arg(long)]
    format: Option<String>,
    /// Do not truncate the output.
    #[arg(long)]
    no_trunc: bool,
    /// Only display network IDs.
    #[arg(short, long)]
    quiet: bool,
}

/// `network restore`'s exit status when something is left that does not match the state
/// (each problem is printed); 1 is a restore that could not run at all.
const RESTORE_DEGRADED: u8 = 3;
/// `network restore --check`'s when a restore would change something (and leave no problem).
const RESTORE_NEEDED: u8 = 2;

fn e(err: engine::Error) -> String {
    err.to_string()
}

pub fn run(engine: &Engine, cmd: NetworkCmd) -> Result<ExitCode, String> {
    match cmd {
        NetworkCmd::Create(a) => create(engine, a)?,
        NetworkCmd::Connect(a) => {
            let attached = engine
                .attach(&a.attach.request(a.network, a.netns))
                .map_err(e)?;
            for w in &attached.warnings {
                eprintln!("Warning: {w}");
            }
        }
        NetworkCmd::Disconnect { network, netns } => {
            let detached = engine
                .detach(&network, &AttachmentKey::Namespace(netns), Detach::All)
                .map_err(e)?;
            if let engine::Detached::Done(_, remarks) = detached {
                for w in &remarks {
                    eprintln!("Warning: {w}");
                }
            }
        }
        NetworkCmd::Inspect { format, networks } => inspect(engine, format.as_deref(), &networks)?,
        NetworkCmd::Ls(a) => ls(engine, a)?,
        NetworkCmd::Rm {
            force,
            docker_host,
            networks,
        } => rm(engine, force, &docker_host, &networks)?,
        NetworkCmd::Prune {
            filter,
            force,
            docker_host,
        } => prune(engine, &filter, force, &docker_host)?,
        NetworkCmd::Restore { check } => return restore(engine, check),
    }
    Ok(ExitCode::SUCCESS)
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

fn create(engine: &Engine, a: CreateArgs) -> Result<(), String> {
    let ipam_options = split_all("--ipam-opt", &a.ipam_opt)?;
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
        ipam_options: ipam_options.clone(),
        attachable: a.attachable,
        scope: engine::cluster::Scope::parse(&a.scope).map_err(e)?,
        ..Default::default()
    };
    let created = engine.create_network(&req).map_err(e)?;
    for w in &created.warnings {
        eprintln!("Warning: {w}");
    }
    if !ipam_options.is_empty() {
        let keys: Vec<&str> = ipam_options.iter().map(|(k, _)| k.as_str()).collect();
        eprintln!(
            "Warning: --ipam-opt {} recorded; the default IPAM driver takes no options",
            keys.join(", ")
        );
    }
    println!("{}", created.id);
    Ok(())
}

/// What `docker network ls --format` makes of the keywords, and of `-q`.
fn ls_format(given: Option<&str>, quiet: bool) -> String {
    match given.unwrap_or("") {
        "" | format::TABLE if quiet => "{{.ID}}".into(),
        "" | format::TABLE => render::LS_TABLE.into(),
        "raw" if quiet => "network_id: {{.ID}}".into(),
        "raw" => render::LS_RAW.into(),
        format::JSON => "{{json .}}".into(),
        other => other.into(),
    }
}

fn ls(engine: &Engine, a: LsArgs) -> Result<(), String> {
    let filters = Filters::parse(&a.filter, "network ls", LS_KEYS)?;
    filters.check_ls()?;
    // A bad template is refused before the state is read.
    let format = Format::parse(
        &ls_format(a.format.as_deref(), a.quiet),
        render::LS_FIELDS,
        true,
    )?;
    let (mut nets, damaged) = engine.network_configs().map_err(e)?;
    // Global networks this node has no part of yet are listed too.
    nets.extend(engine.global_only().map_err(e)?);
    nets.sort_by(|a, b| a.name.cmp(&b.name));
    let counted = !filters.get("dangling").is_empty();
    let mut rows = Vec::with_capacity(nets.len());
    for n in &nets {
        let endpoints = if counted {
            engine.endpoint_count(&n.id).map_err(e)?
        } else {
            0
        };
        if filters.ls_selects(n, endpoints) {
            rows.push(render::ls_row(n, !a.no_trunc));
        }
    }
    print!("{}", format.render(&render::ls_header(), &rows)?);
    for d in &damaged {
        eprintln!(
            "Warning: {d}: that network is not listed; `underlay network restore` reports what to do"
        );
    }
    Ok(())
}

fn inspect(engine: &Engine, format: Option<&str>, networks: &[String]) -> Result<(), String> {
    let template = match format {
        None | Some("") | Some(format::JSON) => None,
        Some(f) => Some(Format::parse(f, render::INSPECT_FIELDS, false)?),
    };
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for n in networks {
        let found = match engine.network(n) {
            Err(err) if err.kind() == Kind::NotFound => match engine.global_network(n) {
                Ok(Some(net)) => Ok(net),
                Ok(None) => Err(err),
                Err(other) => Err(other),
            },
            other => other,
        };
        let shown = found.and_then(|net| {
            let holders = engine.holders(&net)?;
            Ok(render::inspect(&net, &holders, engine.node_name()))
        });
        match shown {
            Ok(v) => out.push(v),
            Err(err) => missing.push(err.to_string()),
        }
    }
    match (&template, format.map(str::trim)) {
        (None, _) => println!("{}", render::pretty(&serde_json::Value::Array(out))),
        // Docker's field order, which a map of the fields would sort.
        (Some(_), Some("{{json .}}")) => out.iter().for_each(|v| println!("{v}")),
        (Some(t), _) => {
            let rows: Vec<_> = out
                .iter()
                .map(|v| (format::value(v), Default::default()))
                .collect();
            print!("{}", t.render(&Default::default(), &rows)?);
        }
    }
    if !missing.is_empty() {
        return Err(missing.join("\n"));
    }
    Ok(())
}

fn rm(engine: &Engine, force: bool, docker: &str, networks: &[String]) -> Result<(), String> {
    let mut failed = Vec::new();
    for n in networks {
        if force {
            if let Some(outcome) = rm_forgotten(engine, docker, n) {
                match outcome {
                    Ok(()) => println!("{n}"),
                    Err(err) => failed.push(err),
                }
                continue;
            }
        }
        match engine.remove_network(n) {
            Ok(_) => println!("{n}"),
            Err(err) if force && err.kind() == Kind::NotFound => {}
            Err(err) => failed.push(err.to_string()),
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    Ok(())
}

/// `rm --force` of a network Docker manages: removed when Docker no longer has it (its data
/// lost), refused while it does or cannot be asked; None for a network that is not Docker's.
fn rm_forgotten(engine: &Engine, docker: &str, n: &str) -> Option<Result<(), String>> {
    let net = engine.network(n).ok()?;
    if net.owner != Some(engine::Owner::Docker) {
        return None;
    }
    Some(match crate::docker_api::has_network(docker, &net.id) {
        Ok(false) => engine.delete_runtime_network(&net.id).map_err(e),
        Ok(true) => Err(format!(
            "network {} ({}) is managed by docker, and Docker still has it: use `docker network rm {}`",
            net.name,
            net.short_id(),
            net.name
        )),
        Err(why) => Err(format!(
            "network {} ({}) is managed by docker, and whether Docker still has it is unknown ({why}): start Docker or give --docker-host, then try again",
            net.name,
            net.short_id()
        )),
    })
}

fn prune(engine: &Engine, filter: &[String], force: bool, docker: &str) -> Result<(), String> {
    let filters = Filters::parse(filter, "network prune", PRUNE_KEYS)?;
    let until = filters.until(jiff::Timestamp::now())?;
    if !force && !confirm()? {
        return Ok(());
    }
    let mut removed = engine
        .prune(&|n| filters.prune_selects(n, until))
        .map_err(e)?;
    // Docker's networks that Docker no longer has (where Docker can be asked).
    for net in engine.networks().map_err(e)? {
        let forgotten = net.owner == Some(engine::Owner::Docker)
            && filters.prune_selects(&net, until)
            && crate::docker_api::has_network(docker, &net.id) == Ok(false);
        if forgotten && engine.delete_runtime_network(&net.id).is_ok() {
            removed.push(net.name);
        }
    }
    if !removed.is_empty() {
        println!("Deleted Networks:");
        for n in removed {
            println!("{n}");
        }
    }
    Ok(())
}

fn restore(engine: &Engine, check: bool) -> Result<ExitCode, String> {
    let report = if check {
        engine.restore_check()
    } else {
        engine.restore()
    }
    .map_err(e)?;
    if check && !report.lines.is_empty() {
        println!("a restore would do this (nothing was changed):");
    }
    for line in &report.lines {
        println!("{}{line}", if check { "  " } else { "" });
    }
    if report.lines.is_empty() {
        println!("nothing to restore: the kernel matches the stored state");
    }
    if !report.problems.is_empty() {
        eprintln!(
            "Error: {} problem(s) {}; the host does not match the stored state:",
            report.problems.len(),
            if check {
                "a restore would leave"
            } else {
                "left"
            }
        );
        for p in &report.problems {
            eprintln!("  {p}");
        }
        return Ok(ExitCode::from(RESTORE_DEGRADED));
    }
    if check && !report.lines.is_empty() {
        return Ok(ExitCode::from(RESTORE_NEEDED));
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
