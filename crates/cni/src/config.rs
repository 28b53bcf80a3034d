//! The plugin configuration a runtime hands over on stdin, and what it means for the engine.

use std::net::IpAddr;

use engine::{CreateRequest, Driver};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{CniError, INVALID_CONFIG, INVALID_ENV};

/// Label that marks a network made from a CNI configuration; its value fingerprints the
/// network-level part of that configuration.
pub const CONFIG_LABEL: &str = engine::DECLARED_LABEL;

/// One plugin configuration (the runtime injects `cniVersion`, `name`, `runtimeConfig`,
/// `prevResult`, and for GC `cni.dev/valid-attachments`). Unknown keys are ignored, as the
/// reference plugins do, so that a conflist written for them keeps working.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct NetConf {
    #[serde(rename = "cniVersion", default)]
    pub cni_version: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "type", default)]
    pub plugin_type: String,
    /// `macvlan` (default) or `ipvlan`.
    #[serde(default)]
    pub driver: Option<String>,
    /// The parent link; an 802.1Q name like `eth0.50` is created on the fly. Default: the link
    /// of the host's default route.
    #[serde(default)]
    pub master: Option<String>,
    /// macvlan: bridge (default), private, vepa, passthru; ipvlan: l2 (default), l3, l3s.
    #[serde(default)]
    pub mode: Option<String>,
    /// ipvlan: bridge (default), private, vepa.
    #[serde(default)]
    pub flag: Option<String>,
    /// 0 or absent: the parent's.
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(rename = "linkInContainer", default)]
    pub link_in_container: bool,
    #[serde(default)]
    pub ipam: Option<Value>,
    #[serde(default)]
    pub dns: Option<Value>,
    #[serde(rename = "runtimeConfig", default)]
    pub runtime_config: RuntimeConfig,
    #[serde(default)]
    pub args: Option<Value>,
    #[serde(rename = "prevResult", default)]
    pub prev_result: Option<Value>,
    /// Where underlay keeps its state (default `$UNDERLAY_STATE_DIR` or /var/lib/underlay).
    #[serde(rename = "stateDir", default)]
    pub state_dir: Option<String>,
    #[serde(rename = "cni.dev/valid-attachments", default)]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// Seconds a delegated IPAM plugin may take (default 60).
    #[serde(rename = "ipamTimeout", default)]
    pub ipam_timeout: Option<u64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub mac: Option<String>,
    #[serde(default)]
    pub ips: Option<Vec<String>>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// host-local's range: a subnet and optional bounds and gateway.
#[derive(Clone, Debug, Default, Deserialize)]
struct Range {
    #[serde(default)]
    subnet: String,
    #[serde(rename = "rangeStart", default)]
    range_start: Option<String>,
    #[serde(rename = "rangeEnd", default)]
    range_end: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
struct RouteConf {
    dst: String,
    #[serde(default)]
    gw: Option<String>,
}

/// `"ipam": {"type": "underlay", ...}` in host-local's format.
#[derive(Clone, Debug, Default, Deserialize)]
struct UnderlayIpam {
    #[serde(default)]
    ranges: Vec<Vec<Range>>,
    // host-local's legacy single-range form.
    #[serde(default)]
    subnet: Option<String>,
    #[serde(rename = "rangeStart", default)]
    range_start: Option<String>,
    #[serde(rename = "rangeEnd", default)]
    range_end: Option<String>,
    #[serde(default)]
    gateway: Option<String>,
    #[serde(default)]
    routes: Vec<RouteConf>,
}

/// Where addresses come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpamKind {
    /// No `ipam` (or no `type`): the link only, no addresses (as the reference macvlan plugin).
    None,
    /// underlay's own allocator.
    Underlay,
    /// Another IPAM plugin, found in CNI_PATH.
    Delegate(String),
}

fn invalid(msg: impl Into<String>) -> CniError {
    CniError::new(INVALID_CONFIG, msg)
}

/// A network's cluster store as its configuration names it (and as DEL's detached half is
/// told it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterRef {
    #[serde(rename = "clusterStore")]
    pub store: String,
    #[serde(rename = "clusterNode", default)]
    pub node: Option<String>,
    #[serde(rename = "clusterTls", default)]
    pub tls: Option<TlsFiles>,
}

/// `"clusterTls"`: the CA that signed etcd's certificates, this host's client certificate
/// and its key (PEM files).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    #[serde(default)]
    pub ca: Option<std::path::PathBuf>,
    #[serde(default)]
    pub cert: Option<std::path::PathBuf>,
    #[serde(default)]
    pub key: Option<std::path::PathBuf>,
}

impl ClusterRef {
    /// The cluster store connected, in the configuration's words where it is wrong.
    pub fn connect(&self) -> Result<engine::cluster::Cluster, CniError> {
        let access = engine::cluster::Access {
            user: None,
            tls: self.tls.clone().map(|t| engine::cluster::Tls {
                ca: t.ca,
                cert: t.cert,
                key: t.key,
            }),
        };
        engine::cluster::Cluster::connect(&self.store, self.node.as_deref(), access).map_err(|e| {
            let msg = e
                .to_string()
                .replace("invalid cluster store", "invalid \"ipam\".\"clusterStore\"")
                .replace("invalid node name", "invalid \"ipam\".\"clusterNode\"")
                .replace("the CA certificate", "\"clusterTls\".\"ca\"")
                .replace("the client certificate", "\"clusterTls\".\"cert\"")
                .replace("the client key", "\"clusterTls\".\"key\"")
                .replace("client certificate ", "\"clusterTls\".\"cert\" ")
                .replace("client key ", "\"clusterTls\".\"key\" ");
            CniError::new(INVALID_CONFIG, msg)
        })
    }
}

impl NetConf {
    /// How long a delegated IPAM plugin may take.
    pub fn ipam_timeout(&self) -> std::time::Duration {
        self.ipam_timeout.filter(|s| *s > 0).map_or(
            crate::delegate::DEFAULT_TIMEOUT,
            std::time::Duration::from_secs,
        )
    }

    /// `"ipam": {"type": "underlay", "clusterStore": "etcd://HOST:PORT,...", "clusterNode":
    /// NAME, "clusterTls": {"ca": FILE, "cert": FILE, "key": FILE}}`: the cluster store the
    /// network's addresses are claimed in (unique across every host that uses it, as
    /// whereabouts does), this host's name there (default: its host name) and TLS to it.
    /// None for a network of this host's own.
    pub fn cluster(&self) -> Result<Option<ClusterRef>, CniError> {
        let Some(ipam) = self.ipam.as_ref() else {
            return Ok(None);
        };
        let text = |key: &str| -> Result<Option<String>, CniError> {
            match ipam.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!(
                    "invalid \"ipam\".\"{key}\" {other}: expected a string such as {}",
                    if key == "clusterStore" {
                        "\"etcd://10.0.0.5:2379\""
                    } else {
                        "\"node-a\""
                    }
                ))),
            }
        };
        let store = text("clusterStore")?;
        let node = text("clusterNode")?;
        if store.is_some() && self.ipam_kind() != IpamKind::Underlay {
            return Err(invalid(
                "\"ipam\".\"clusterStore\" is for \"type\": \"underlay\", whose addresses underlay hands out",
            ));
        }
        let tls = match ipam.get("clusterTls") {
            None | Some(Value::Null) => None,
            Some(v) => Some(serde_json::from_value::<TlsFiles>(v.clone()).map_err(|_| {
                invalid(format!(
                    "invalid \"ipam\".\"clusterTls\" {v}: expected {{\"ca\": FILE, \"cert\": FILE, \"key\": FILE}} (PEM files; cert and key together)"
                ))
            })?),
        };
        Ok(store.map(|store| ClusterRef { store, node, tls }))
    }

    pub fn ipam_kind(&self) -> IpamKind {
        match self
            .ipam
            .as_ref()
            .and_then(|i| i.get("type"))
            .and_then(Value::as_str)
        {
            None | Some("") => IpamKind::None,
            Some("underlay") => IpamKind::Underlay,
            Some(other) => IpamKind::Delegate(other.to_string()),
        }
    }

    pub fn driver(&self) -> Result<Driver, CniError> {
        match self.driver.as_deref() {
            None | Some("") | Some("macvlan") => Ok(Driver::Macvlan),
            Some("ipvlan") => Ok(Driver::Ipvlan),
            Some(other) => Err(invalid(format!(
                "invalid driver {other:?}: expected \"macvlan\" or \"ipvlan\""
            ))),
        }
    }

    /// Check the parts every command needs.
    pub fn check_common(&self) -> Result<(), CniError> {
        if self.name.is_empty() {
            return Err(invalid("the network configuration has no \"name\""));
        }
        if self.link_in_container && self.master.as_deref().unwrap_or("").is_empty() {
            return Err(invalid(
                "linkInContainer needs \"master\": the name of the link inside the container to put the interface on, e.g. eth1",
            ));
        }
        self.driver()?;
        self.check_shapes()
    }

    /// Fields the spec gives a shape, of that shape: never ignored, nor copied into a result,
    /// when they are of another.
    fn check_shapes(&self) -> Result<(), CniError> {
        fn kind(v: &Value) -> &'static str {
            match v {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        }
        let want = |field: &str, v: &Value, ok: bool, what: &str| {
            if ok {
                Ok(())
            } else {
                Err(invalid(format!(
                    "invalid {field}: expected {what}, got {} ({v})",
                    kind(v)
                )))
            }
        };
        let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
        if let Some(ipam) = &self.ipam {
            want(
                "\"ipam\"",
                ipam,
                ipam.is_object(),
                "an object such as {\"type\": \"underlay\", ...}",
            )?;
            if let Some(t) = ipam.get("type") {
                want(
                    "\"ipam.type\"",
                    t,
                    t.is_string(),
                    "the name of an IPAM plugin",
                )?;
            }
        }
        if let Some(dns) = &self.dns {
            want(
                "\"dns\"",
                dns,
                dns.is_object(),
                "an object with nameservers, domain, search, options",
            )?;
            for key in ["nameservers", "search", "options"] {
                if let Some(v) = dns.get(key) {
                    want(
                        &format!("\"dns.{key}\""),
                        v,
                        strings(v),
                        "an array of strings",
                    )?;
                }
            }
            if let Some(v) = dns.get("domain") {
                want("\"dns.domain\"", v, v.is_string(), "a string")?;
            }
        }
        if let Some(args) = &self.args {
            want(
                "\"args\"",
                args,
                args.is_object(),
                "an object such as {\"cni\": {\"ips\": [...]}}",
            )?;
            if let Some(cni) = args.get("cni") {
                want("\"args.cni\"", cni, cni.is_object(), "an object")?;
                if let Some(ips) = cni.get("ips") {
                    want(
                        "\"args.cni.ips\"",
                        ips,
                        strings(ips),
                        "an array of address strings",
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The network as the engine creates it. `master` is the resolved parent.
    pub fn create_request(&self, master: &str) -> Result<CreateRequest, CniError> {
        let driver = self.driver()?;
        let mut options = vec![("parent".to_string(), master.to_string())];
        if let Some(mode) = self.mode.as_deref().filter(|m| !m.is_empty()) {
            let key = match driver {
                Driver::Macvlan => "macvlan_mode",
                Driver::Ipvlan => "ipvlan_mode",
            };
            options.push((key.to_string(), mode.to_string()));
        }
        if let Some(flag) = self.flag.as_deref().filter(|f| !f.is_empty()) {
            if driver == Driver::Macvlan {
                return Err(invalid(format!(
                    "invalid flag {flag:?}: \"flag\" (bridge, private, vepa) is an ipvlan setting; macvlan links take \"mode\""
                )));
            }
            options.push(("ipvlan_flag".to_string(), flag.to_string()));
        }
        if let Some(mtu) = self.mtu.filter(|m| *m > 0) {
            options.push(("mtu".to_string(), mtu.to_string()));
        }
        let mut req = CreateRequest {
            name: self.name.clone(),
            driver: driver.name().to_string(),
            options,
            labels: vec![(CONFIG_LABEL.to_string(), self.fingerprint(master))],
            parent_in_container: self.link_in_container,
            door: engine::Door::Cni,
            ..Default::default()
        };
        match self.ipam_kind() {
            IpamKind::None | IpamKind::Delegate(_) => {
                req.external_ipam = true;
                req.routes = Some(Vec::new());
            }
            IpamKind::Underlay => self.underlay_ipam(&mut req)?,
        }
        if self.cluster()?.is_some() {
            req.scope = engine::cluster::Scope::Global;
        }
        Ok(req)
    }

    /// The pools of `"ipam": {"type": "underlay"}`: its range sets (and the older single
    /// `subnet`), one set per family, each range's gateway (the subnet's first address unless
    /// given) and bounds; its routes.
    fn underlay_ipam(&self, req: &mut CreateRequest) -> Result<(), CniError> {
        let ipam: UnderlayIpam = serde_json::from_value(self.ipam.clone().unwrap_or_default())
            .map_err(|e| invalid(format!("invalid \"ipam\" of type underlay: {e}")))?;
        let mut sets = ipam.ranges;
        if let Some(subnet) = ipam.subnet {
            sets.insert(
                0,
                vec![Range {
                    subnet,
                    range_start: ipam.range_start,
                    range_end: ipam.range_end,
                    gateway: ipam.gateway,
                }],
            );
        }
        if sets.is_empty() {
            return Err(invalid(
                "no IP ranges specified: give \"ipam\": {\"type\": \"underlay\", \"ranges\": [[{\"subnet\": \"172.16.86.0/24\"}]]}",
            ));
        }
        let mut families: Vec<(bool, usize)> = Vec::new();
        for (i, set) in sets.iter().enumerate() {
            if set.is_empty() {
                return Err(invalid(format!("range set {i} is empty")));
            }
            for r in set {
                let subnet: IpNet = r.subnet.parse().map_err(|_| {
                    invalid(format!(
                        "invalid subnet {:?} in range set {i}: expected a prefix in CIDR notation, e.g. 172.16.86.0/24 or 2001:db8::/64",
                        r.subnet
                    ))
                })?;
                let v4 = subnet.addr().is_ipv4();
                match families.iter().find(|(f, _)| *f == v4) {
                    Some((_, j)) if *j != i => {
                        return Err(invalid(format!(
                            "range sets {j} and {i} are both {}: underlay gives an endpoint one address per family, so give one range set per family (several ranges inside one set are tried in order)",
                            if v4 { "IPv4" } else { "IPv6" }
                        )))
                    }
                    Some(_) => {}
                    None if families.iter().any(|(_, j)| *j == i) => {
                        return Err(invalid(format!(
                            "range set {i} mixes IPv4 and IPv6 subnets: give one range set per family"
                        )))
                    }
                    None => families.push((v4, i)),
                }
                req.subnets.push(r.subnet.clone());
                let gateway = r
                    .gateway
                    .clone()
                    .filter(|g| !g.is_empty())
                    .or_else(|| default_gateway(&subnet).map(|g| g.to_string()));
                req.gateways.extend(gateway);
                req.range_bounds
                    .push((r.range_start.clone(), r.range_end.clone()));
            }
        }
        req.ipv6 = families.iter().any(|(v4, _)| !v4);
        req.routes = Some(
            ipam.routes
                .iter()
                .map(|r| (r.dst.clone(), r.gw.clone()))
                .collect(),
        );
        Ok(())
    }

    /// A short hash of what makes the network: its layer 2 (driver, master, mode, flag,
    /// linkInContainer) and its address space (the IPAM type, ranges, subnet, bounds and
    /// gateways). Only a change of these can change the network: routes, mtu and any other
    /// key apply to the attachments made after the change.
    pub fn fingerprint(&self, master: &str) -> String {
        let ipam = self.ipam.clone().unwrap_or_default();
        let space: serde_json::Map<String, Value> = [
            "type",
            "ranges",
            "subnet",
            "rangeStart",
            "rangeEnd",
            "gateway",
            // A network whose addresses are claimed in a cluster store is another network.
            "clusterStore",
        ]
        .iter()
        .filter_map(|k| Some((k.to_string(), ipam.get(*k)?.clone())))
        .collect();
        let doc = serde_json::json!({
            "driver": self.driver.clone().unwrap_or_default(),
            "master": master,
            "mode": self.mode.clone().unwrap_or_default(),
            "flag": self.flag.clone().unwrap_or_default(),
            "linkInContainer": self.link_in_container,
            "space": canonical(Value::Object(space)),
        });
        let digest = Sha256::digest(doc.to_string().as_bytes());
        hex::encode(&digest[..8])
    }

    /// The fingerprints a network made from this configuration may carry: today's, and the
    /// one of earlier versions (which hashed mtu and the whole `ipam` too), so that networks
    /// made before keep their attachments.
    pub fn fingerprints(&self, master: &str) -> Vec<String> {
        let earlier = serde_json::json!({
            "driver": self.driver.clone().unwrap_or_default(),
            "master": master,
            "mode": self.mode.clone().unwrap_or_default(),
            "flag": self.flag.clone().unwrap_or_default(),
            "mtu": self.mtu.unwrap_or(0),
            "linkInContainer": self.link_in_container,
            "ipam": canonical(self.ipam.clone().unwrap_or_default()),
        });
        let earlier = hex::encode(&Sha256::digest(earlier.to_string().as_bytes())[..8]);
        vec![self.fingerprint(master), earlier]
    }

    /// The routes of an attachment made now: underlay IPAM's `ipam.routes` as configured
    /// (`None` for other IPAM: the network's).
    pub fn attachment_routes(&self) -> Option<Vec<(String, Option<String>)>> {
        if self.ipam_kind() != IpamKind::Underlay {
            return None;
        }
        let ipam: UnderlayIpam = serde_json::from_value(self.ipam.clone()?).ok()?;
        Some(
            ipam.routes
                .iter()
                .map(|r| (r.dst.clone(), r.gw.clone()))
                .collect(),
        )
    }

    /// The routes to report in an ADD result: the configured ones, as configured.
    pub fn result_routes(&self) -> Vec<Value> {
        self.ipam
            .as_ref()
            .and_then(|i| i.get("routes"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    }

    /// Static addresses asked for: runtimeConfig `ips`, `args.cni.ips`, CNI_ARGS `IP=`.
    pub fn requested_ips(&self, cni_args: &[(String, String)]) -> Result<Vec<IpAddr>, CniError> {
        let mut texts: Vec<String> = Vec::new();
        texts.extend(self.runtime_config.ips.iter().flatten().cloned());
        if let Some(ips) = self
            .args
            .as_ref()
            .and_then(|a| a.pointer("/cni/ips"))
            .and_then(Value::as_array)
        {
            texts.extend(ips.iter().filter_map(Value::as_str).map(str::to_string));
        }
        for (k, v) in cni_args {
            if k == "IP" {
                texts.extend(v.split(',').map(|s| s.trim().to_string()));
            }
        }
        let mut out: Vec<IpAddr> = Vec::new();
        for t in texts.iter().filter(|t| !t.is_empty()) {
            let addr = t.split('/').next().unwrap_or(t);
            let ip: IpAddr = addr.parse().map_err(|_| {
                invalid(format!(
                    "invalid requested IP address {t:?}: expected an address like 172.16.86.10 (a /prefix is allowed)"
                ))
            })?;
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
        Ok(out)
    }

    /// The MAC asked for: runtimeConfig `mac`, else CNI_ARGS `MAC=`, else the config's `mac`.
    pub fn requested_mac(&self, cni_args: &[(String, String)]) -> Option<String> {
        self.runtime_config
            .mac
            .clone()
            .or_else(|| {
                cni_args
                    .iter()
                    .find(|(k, _)| k == "MAC")
                    .map(|(_, v)| v.clone())
            })
            .or_else(|| self.mac.clone())
            .filter(|m| !m.is_empty())
    }
}

/// host-local's default gateway: the subnet's first address, where the subnet has room for
/// one besides the network (and broadcast) address.
fn default_gateway(subnet: &IpNet) -> Option<IpAddr> {
    let s = subnet.trunc();
    match s {
        IpNet::V4(n) if n.prefix_len() <= 30 => {
            Some(IpAddr::V4((u32::from(n.network()) + 1).into()))
        }
        IpNet::V6(n) if n.prefix_len() <= 126 => {
            Some(IpAddr::V6((u128::from(n.network()) + 1).into()))
        }
        _ => None,
    }
}

/// JSON with object keys sorted, so that key order does not change a fingerprint.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// `K=V;K2=V2` as pairs.
pub fn parse_cni_args(s: &str) -> Result<Vec<(String, String)>, CniError> {
    s.split(';')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| {
                    CniError::new(
                        INVALID_ENV,
                        format!("invalid CNI_ARGS pair {pair:?}: expected KEY=VALUE pairs separated by ';'"),
                    )
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(v: Value) -> NetConf {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_cluster_store_with_tls_files_is_read_and_a_bad_one_named() {
        let with = |tls: Value| {
            conf(serde_json::json!({
                "cniVersion": "1.0.0", "name": "n", "type": "underlay", "master": "eth0",
                "ipam": {"type": "underlay", "clusterStore": "etcd://10.0.0.5:2379",
                         "clusterNode": "node-a", "clusterTls": tls,
                         "ranges": [[{"subnet": "172.16.86.0/24"}]]}
            }))
        };
        let c = with(
            serde_json::json!({"ca": "/etc/underlay/ca.pem", "cert": "/c.pem", "key": "/c.key"}),
        )
        .cluster()
        .unwrap()
        .unwrap();
        assert_eq!(c.node.as_deref(), Some("node-a"));
        assert_eq!(
            c.tls.unwrap().ca.unwrap().to_str(),
            Some("/etc/underlay/ca.pem")
        );
        let e = with(serde_json::json!({"ca": "/ca.pem", "crt": "/c.pem"}))
            .cluster()
            .unwrap_err();
        assert!(
            e.msg.starts_with("invalid \"ipam\".\"clusterTls\""),
            "{}",
            e.msg
        );
        // A certificate without its key, in the configuration's words.
        let c = with(serde_json::json!({"cert": "/c.pem"}))
            .cluster()
            .unwrap()
            .unwrap();
        let e = c.connect().err().unwrap();
        assert_eq!(
            e.msg,
            "cluster store TLS: \"clusterTls\".\"cert\" /c.pem given without its key"
        );
        // Where the ClusterRef goes to DEL's detached half and back, nothing is lost.
        let c = with(serde_json::json!({"ca": "/ca.pem"}))
            .cluster()
            .unwrap()
            .unwrap();
        let back: ClusterRef = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn host_local_ranges_become_pools() {
        let c = conf(serde_json::json!({
            "cniVersion": "1.0.0", "name": "n", "type": "underlay", "master": "eth0",
            "ipam": {"type": "underlay",
                     "ranges": [[{"subnet": "172.16.86.0/24", "rangeStart": "172.16.86.10",
                                  "rangeEnd": "172.16.86.250", "gateway": "172.16.86.1"}],
                                [{"subnet": "2001:db8::/64"}]],
                     "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.0.0.0/8", "gw": "172.16.86.5"}]}
        }));
        let r = c.create_request("eth0").unwrap();
        assert_eq!(r.subnets, vec!["172.16.86.0/24", "2001:db8::/64"]);
        assert_eq!(r.gateways, vec!["172.16.86.1", "2001:db8::1"]);
        assert_eq!(
            r.range_bounds[0],
            (Some("172.16.86.10".into()), Some("172.16.86.250".into()))
        );
        assert!(r.ipv6);
        assert_eq!(
            r.routes.unwrap()[1],
            ("10.0.0.0/8".to_string(), Some("172.16.86.5".to_string()))
        );
        assert!(r.labels[0].0 == CONFIG_LABEL);
    }

    #[test]
    fn bad_range_sets_are_named() {
        let e = |ipam: Value| {
            conf(serde_json::json!({"name": "n", "ipam": ipam}))
                .create_request("eth0")
                .unwrap_err()
                .msg
        };
        assert!(e(serde_json::json!({"type": "underlay"})).starts_with("no IP ranges specified"));
        assert!(e(serde_json::json!({"type": "underlay", "ranges": [[{"subnet": "10.0.0.0/8"}], [{"subnet": "10.1.0.0/16"}]]}))
            .starts_with("range sets 0 and 1 are both IPv4"));
        assert!(e(serde_json::json!({"type": "underlay", "ranges": [[{"subnet": "10.0.0.0/8"}, {"subnet": "2001:db8::/64"}]]}))
            .starts_with("range set 0 mixes IPv4 and IPv6"));
        assert!(
            e(serde_json::json!({"type": "underlay", "ranges": [[{"subnet": "10.0.0/8"}]]}))
                .starts_with("invalid subnet \"10.0.0/8\" in range set 0")
        );
    }

    #[test]
    fn fingerprint_ignores_key_order_and_per_call_parts() {
        let a = conf(serde_json::json!({"name": "n", "master": "eth0",
            "ipam": {"type": "underlay", "ranges": [[{"subnet": "10.0.0.0/8", "gateway": "10.0.0.1"}]]}}));
        let mut b = conf(serde_json::json!({"name": "n", "master": "eth0",
            "ipam": {"ranges": [[{"gateway": "10.0.0.1", "subnet": "10.0.0.0/8"}]], "type": "underlay"},
            "runtimeConfig": {"ips": ["10.0.0.9/8"]}}));
        assert_eq!(a.fingerprint("eth0"), b.fingerprint("eth0"));
        // What applies per attachment leaves the network as it is.
        let c = conf(
            serde_json::json!({"name": "n", "master": "eth0", "mtu": 1400,
            "ipam": {"type": "underlay", "ranges": [[{"subnet": "10.0.0.0/8", "gateway": "10.0.0.1"}]],
                     "routes": [{"dst": "0.0.0.0/0"}], "someNewKey": true}}),
        );
        assert_eq!(a.fingerprint("eth0"), c.fingerprint("eth0"));
        assert_eq!(
            c.attachment_routes(),
            Some(vec![("0.0.0.0/0".to_string(), None)])
        );
        // Layer 2 and the address space do not.
        b.mode = Some("private".into());
        assert_ne!(a.fingerprint("eth0"), b.fingerprint("eth0"));
        let d = conf(serde_json::json!({"name": "n", "master": "eth0",
            "ipam": {"type": "underlay", "ranges": [[{"subnet": "10.0.0.0/16", "gateway": "10.0.0.1"}]]}}));
        assert_ne!(a.fingerprint("eth0"), d.fingerprint("eth0"));
        // A network made by an earlier version is still this configuration's.
        assert_eq!(a.fingerprints("eth0").len(), 2);
        assert_ne!(a.fingerprints("eth0")[1], c.fingerprints("eth0")[1]);
    }

    #[test]
    fn static_addresses_and_macs_from_every_source() {
        let c = conf(serde_json::json!({"name": "n", "mac": "02:00:00:00:00:03",
            "runtimeConfig": {"ips": ["172.16.86.7/24"]},
            "args": {"cni": {"ips": ["2001:db8::7"]}}}));
        let args = parse_cni_args("IgnoreUnknown=1;IP=172.16.86.7;MAC=02:00:00:00:00:02").unwrap();
        let ips: Vec<String> = c
            .requested_ips(&args)
            .unwrap()
            .iter()
            .map(|i| i.to_string())
            .collect();
        assert_eq!(ips, vec!["172.16.86.7", "2001:db8::7"]);
        assert_eq!(c.requested_mac(&args).unwrap(), "02:00:00:00:00:02");
        assert!(parse_cni_args("IP").is_err());
    }
}
