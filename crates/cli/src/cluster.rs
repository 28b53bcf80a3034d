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
