//! Output shaped like `docker network ls` and `docker network inspect`.

use std::io::Write;

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

/// One network as `docker network inspect` shows it.
pub fn inspect(net: &Network) -> Value {
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
    let containers: Map<String, Value> = net
        .endpoints
        .values()
        .map(|ep| {
            (
                // Keyed like Docker's: by the container's id where the runtime has one.
                ep.container_id.clone().unwrap_or_else(|| ep.id.clone()),
                json!({
                    "Name": ep.name,
                    "EndpointID": ep.id,
                    "MacAddress": ep.mac.clone().unwrap_or_default(),
                    "IPv4Address": ep.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                    "IPv6Address": ep.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                }),
            )
        })
        .collect();
    let mut options = net.options.clone();
    options
        .entry("parent".to_string())
        .or_insert_with(|| net.parent.name().to_string());
    json!({
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": net.driver().name(),
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": net.ipam_driver.as_deref().unwrap_or("default"),
            "Options": {},
            "Config": config,
        },
        "Internal": net.internal,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": options,
        "Labels": net.labels,
    })
}

/// `network ls` in table, quiet or json form.
pub fn list(nets: &[Network], quiet: bool, format: &str, no_trunc: bool) -> Result<String, String> {
    let id = |n: &Network| {
        if no_trunc {
            n.id.clone()
        } else {
            n.short_id().to_string()
        }
    };
    let mut out = String::new();
    if quiet {
        for n in nets {
            out.push_str(&id(n));
            out.push('\n');
        }
        return Ok(out);
    }
    match format {
        "table" | "" => {
            let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(7).padding(3);
            let _ = writeln!(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE");
            for n in nets {
                let _ = writeln!(tw, "{}\t{}\t{}\tlocal", id(n), n.name, n.driver());
            }
            let bytes = tw.into_inner().map_err(|e| e.to_string())?;
            out = String::from_utf8(bytes).map_err(|e| e.to_string())?;
        }
        "json" | "{{json .}}" => {
            for n in nets {
                let labels: Vec<String> =
                    n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let v = json!({
                    "CreatedAt": n.created,
                    "Driver": n.driver().name(),
                    "ID": id(n),
                    "IPv6": n.enable_ipv6.to_string(),
                    "Internal": n.internal.to_string(),
                    "Labels": labels.join(","),
                    "Name": n.name,
                    "Scope": "local",
                });
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
        other => {
            return Err(format!(
                "invalid --format {other:?}: underlay supports \"table\" and \"json\""
            ))
        }
    }
    Ok(out)
}
