//! Output shaped like `docker network ls` and `docker network inspect`.

use std::collections::BTreeMap;

use engine::Network;
use serde_json::{json, Map, Value};

/// JSON with Docker's four-space indentation.
pub fn pretty(v: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("a JSON value always serialises");
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

/// One network as `docker network inspect` shows it; a global network's endpoints on every
/// node (`holders`: who holds each address in the cluster store), each with its node.
pub fn inspect(
    net: &Network,
    holders: &BTreeMap<std::net::IpAddr, engine::cluster::ClaimHolder>,
    node: Option<&str>,
) -> Value {
    let config: Vec<Value> = net
        .ipam
        .pools()
        .iter()
        .map(|p| {
            let mut c = Map::new();
            c.insert("Subnet".into(), json!(p.subnet().to_string()));
            if let Some(r) = p.ip_range() {
                c.insert("IPRange".into(), json!(r.to_string()));
            }
            if let Some(g) = p.gateway() {
                c.insert("Gateway".into(), json!(g.to_string()));
            }
            if !p.aux().is_empty() {
                let aux: Map<String, Value> = p
                    .aux()
                    .iter()
                    .map(|(k, v)| (k.clone(), json!(v.to_string())))
                    .collect();
                c.insert("AuxiliaryAddresses".into(), Value::Object(aux));
            }
            Value::Object(c)
        })
        .collect();
    let mut containers: Map<String, Value> = net
        .endpoints
        .values()
        .map(|ep| {
            let mut c = json!({
                "Name": ep.name,
                "EndpointID": ep.id,
                "MacAddress": ep.mac.map(|m| m.to_string()).unwrap_or_default(),
                "IPv4Address": ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                "IPv6Address": ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
            });
            // Docker shows them in a container's inspect, which underlay does not have.
            if !ep.aliases.is_empty() {
                c["Aliases"] = json!(ep.aliases);
            }
            if let (Some(node), true) = (node, net.scope == engine::cluster::Scope::Global) {
                c["Node"] = json!(node);
            }
            // Keyed like Docker's: by the container's id where the runtime has one.
            (ep.container_id.clone().unwrap_or_else(|| ep.id.clone()), c)
        })
        .collect();
    other_nodes(net, holders, &mut containers);
    let mut options = net.options.clone();
    options
        .entry("parent".to_string())
        .or_insert_with(|| net.parent.name().to_string());
    json!({
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": net.scope.name(),
        "Driver": net.driver().name(),
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": net.ipam_driver.as_deref().unwrap_or("default"),
            "Options": net.ipam_options,
            "Config": config,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": net.labels,
    })
}

/// The endpoints of a global network that other nodes hold (this node's are its own).
fn other_nodes(
    net: &Network,
    holders: &BTreeMap<std::net::IpAddr, engine::cluster::ClaimHolder>,
    containers: &mut Map<String, Value>,
) {
    for (addr, h) in holders {
        if net.endpoints.contains_key(&h.endpoint) {
            continue;
        }
        let len = net.ipam.pool_for(*addr).map_or(0, |p| p.prefix_len());
        let entry = containers.entry(h.endpoint.clone()).or_insert_with(|| {
            json!({
                "Name": h.container,
                "EndpointID": h.endpoint,
                "MacAddress": h.mac.clone().unwrap_or_default(),
                "IPv4Address": "",
                "IPv6Address": "",
                "Node": h.node,
            })
        });
        let family = if addr.is_ipv4() {
            "IPv4Address"
        } else {
            "IPv6Address"
        };
        entry[family] = json!(format!("{addr}/{len}"));
    }
}

/// `docker network ls`'s default table, and its `raw` format.
pub const LS_TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
pub const LS_RAW: &str =
    "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n";
/// The placeholders of a `network ls` row.
pub const LS_FIELDS: &str =
    r#".ID, .Name, .Driver, .Scope, .IPv6, .Internal, .Labels, .Label "KEY" and .CreatedAt"#;
/// Of `network inspect`: its keys.
pub const INSPECT_FIELDS: &str = "the keys `underlay network inspect` shows (.Name, .Id, .Created, .Driver, .IPAM.Config, .Containers, .Options, .Labels, ...)";

/// Each `network ls` placeholder's column title.
pub fn ls_header() -> std::collections::BTreeMap<&'static str, &'static str> {
    [
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ]
    .into_iter()
    .collect()
}

/// One `network ls` row: its placeholders' values, and the labels for `.Label`.
pub fn ls_row(n: &Network, trunc: bool) -> (gotmpl::Value, BTreeMap<String, String>) {
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let row = json!({
        "CreatedAt": go_time(&n.created),
        "Driver": n.driver().name(),
        "ID": if trunc { n.short_id() } else { &n.id },
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": labels.join(","),
        "Name": n.name,
        "Scope": n.scope.name(),
    });
    (crate::format::value(&row), n.labels.clone())
}

/// `network ls` without options.
pub fn ls_table(nets: &[Network]) -> Result<String, String> {
    let rows: Vec<_> = nets.iter().map(|n| ls_row(n, true)).collect();
    crate::format::Format::parse(LS_TABLE, LS_FIELDS, true)?.render(&ls_header(), &rows)
}

/// An RFC 3339 UTC time (`2026-12-02T07:18:51.617412280Z`) as Go's `time.String` shows it
/// (`2026-12-02 07:18:51.61741228 +0000 UTC`), which `docker network ls` prints.
pub fn go_time(rfc3339: &str) -> String {
    let Some(t) = rfc3339.strip_suffix('Z') else {
        return rfc3339.to_string();
    };
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!(
        "{} +0000 UTC",
        format!("{secs}{dot}{frac}").replacen('T', " ", 1)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_as_go_prints_them() {
        assert_eq!(
            super::go_time("2026-12-02T07:18:51.617412280Z"),
            "2026-12-02 07:18:51.61741228 +0000 UTC"
        );
        assert_eq!(
            super::go_time("2026-12-02T07:18:51.000000000Z"),
            "2026-12-02 07:18:51 +0000 UTC"
        );
    }
}
