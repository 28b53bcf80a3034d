//! `underlay cluster`: the nodes sharing this host's cluster store.

use std::process::ExitCode;

use clap::Subcommand;
use engine::Engine;

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// List the nodes of the cluster store: when each was registered and last seen, and
    /// how many endpoints it has on global networks.
    #[command(visible_alias = "ls")]
    Nodes {
        /// json: one JSON object per node.
        #[arg(long)]
        format: Option<String>,
    },
    /// List the cluster-wide pools of Docker's IPAM driver: each subnet's gateway and
    /// auxiliary addresses, the nodes that requested it and how many addresses each holds.
    Pools {
        /// json: one JSON object per pool.
        #[arg(long)]
        format: Option<String>,
    },
    /// Say that a node is gone for good: its registration is removed and every address it
    /// holds is released for the other nodes.
    Forget {
        /// The node's name.
        node: String,
    },
}

pub fn run(engine: &Engine, cmd: ClusterCmd) -> Result<ExitCode, String> {
    match cmd {
        ClusterCmd::Nodes { format } => nodes(engine, format.as_deref()),
        ClusterCmd::Pools { format } => pools(engine, format.as_deref()),
        ClusterCmd::Forget { node } => {
            let n = engine.forget_node(&node).map_err(|e| e.to_string())?;
            println!(
                "forgot node {node}: {n} address{} released",
                if n == 1 { "" } else { "es" }
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn nodes(engine: &Engine, format: Option<&str>) -> Result<ExitCode, String> {
    let nodes = engine.cluster_nodes().map_err(|e| e.to_string())?;
    let me = engine.node_name().unwrap_or_default();
    match format {
        None | Some("") | Some("table") => {
            let mut text = String::from("NODE\tREGISTERED\tLAST SEEN\tENDPOINTS\n");
            for n in &nodes {
                let mark = if n.name == me { " (this host)" } else { "" };
                text.push_str(&format!(
                    "{}{mark}\t{}\t{}\t{}\n",
                    n.name,
                    n.registered,
                    n.last_seen.as_deref().unwrap_or("never"),
                    n.endpoints
                ));
            }
            print!("{}", crate::format::align(&text));
        }
        Some("json") => {
            for n in &nodes {
                let v = serde_json::json!({
                    "Name": n.name,
                    "Registered": n.registered,
                    "LastSeen": n.last_seen,
                    "Endpoints": n.endpoints,
                    "Self": n.name == me,
                });
                println!("{v}");
            }
        }
        Some(other) => {
            return Err(format!(
                "invalid --format {other:?}: expected table or json"
            ))
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pools(engine: &Engine, format: Option<&str>) -> Result<ExitCode, String> {
    let pools = engine.cluster_pools().map_err(|e| e.to_string())?;
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    match format {
        None | Some("") | Some("table") => {
            let mut text = String::from("SUBNET\tGATEWAY\tAUX ADDRESSES\tNODES\tADDRESSES\n");
            for p in &pools {
                let aux: Vec<String> = p.aux.iter().map(|a| a.to_string()).collect();
                let held: Vec<String> = p.claimed.iter().map(|(n, c)| format!("{n}:{c}")).collect();
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    p.subnet,
                    p.gateway.map_or_else(|| "-".to_string(), |g| g.to_string()),
                    list(&aux),
                    list(&p.nodes),
                    list(&held)
                ));
            }
            print!("{}", crate::format::align(&text));
        }
        Some("json") => {
            for p in &pools {
                let v = serde_json::json!({
                    "AddressSpace": p.space,
                    "Subnet": p.subnet.to_string(),
                    "Gateway": p.gateway.map(|g| g.to_string()),
                    "AuxAddresses": p.aux.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "CreatedBy": p.created_by,
                    "Nodes": p.nodes,
                    "Addresses": p.claimed,
                });
                println!("{v}");
            }
        }
        Some(other) => {
            return Err(format!(
                "invalid --format {other:?}: expected table or json"
            ))
        }
    }
    Ok(ExitCode::SUCCESS)
}
