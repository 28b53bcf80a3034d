//! The CNI front door: the `underlay` binary, run by a CNI runtime (`CNI_COMMAND` set), is a
//! spec 1.1 plugin — ADD, DEL, CHECK, STATUS, GC and VERSION — that drops in for the reference
//! `macvlan` and `ipvlan` plugins. Networks and endpoints live in the engine's store, so they
//! show in `underlay network ls`: a network is made from the configuration on its first ADD
//! and stays, empty, after its last DEL (as host-local keeps its directory; `underlay network
//! rm` or `prune` removes it), except when underlay made its parent link (an 802.1Q `master`
//! created on the fly): then the network and that link go with the last DEL, leaving the host
//! as it was.
//!
//! Addresses come from underlay's allocator (`"ipam": {"type": "underlay"}` in host-local's
//! format), from another IPAM plugin found in CNI_PATH (any other type), or not at all (no
//! `ipam`: the link only).
//!
//! Nothing but the result goes to stdout; errors are the spec's JSON with its codes:
//! 1 incompatible version, 2 unsupported field, 3 container unknown, 4 bad environment,
//! 5 I/O, 6 decoding, 7 invalid configuration, 50 plugin not available; underlay's own:
//! 100 conflict with existing state, 101 the kernel refused (everything rolled back),
//! 102 something named does not exist.
//!
//! Public API: [`run`] (the binary's CNI mode), [`handle`] (one call, for tests), [`Env`],
//! [`CniError`] and the spec's codes, [`NetConf`], [`CONFIG_LABEL`], [`CONTAINER_ID_MAX`],
//! [`SUPPORTED_VERSIONS`], and [`detached_del`] (a DEL's second half, in a process of its own).

use std::collections::BTreeMap;
use std::path::PathBuf;

use engine::{AttachRequest, AttachmentKey, Clash, Detach, Detached, Engine, Kind};
use serde_json::{json, Value};

mod config;
mod delegate;
pub mod detached_del;

use config::{parse_cni_args, IpamKind};
pub use config::{NetConf, CONFIG_LABEL};

pub const INCOMPATIBLE_VERSION: u32 = 1;
pub const UNSUPPORTED_FIELD: u32 = 2;
pub const UNKNOWN_CONTAINER: u32 = 3;
pub const INVALID_ENV: u32 = 4;
pub const IO_FAILURE: u32 = 5;
pub const DECODE_FAILURE: u32 = 6;
pub const INVALID_CONFIG: u32 = 7;
pub const TRY_AGAIN_LATER: u32 = 11;
pub const NOT_AVAILABLE: u32 = 50;
pub const CONFLICT: u32 = 100;
pub const KERNEL: u32 = 101;
pub const NOT_FOUND: u32 = 102;

/// The longest container id taken: the attachment's state document is named by it (as hex,
/// beside the interface name), and a file name has at most 255 bytes.
pub const CONTAINER_ID_MAX: usize = 100;

/// The CNI versions this plugin speaks.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A CNI error as the spec renders it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CniError {
    pub code: u32,
    pub msg: String,
    pub details: Option<String>,
}

impl CniError {
    pub fn new(code: u32, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: None,
        }
    }
}

impl From<engine::Error> for CniError {
    fn from(e: engine::Error) -> Self {
        let code = match e.kind() {
            Kind::InvalidParameter => INVALID_CONFIG,
            Kind::NotFound => NOT_FOUND,
            Kind::Conflict if e.clash() == Some(Clash::KeptChanging) => TRY_AGAIN_LATER,
            Kind::Conflict => CONFLICT,
            Kind::Kernel => KERNEL,
            // The cluster store unreachable: nothing was made, the runtime retries.
            Kind::Store if e.is_unavailable() => TRY_AGAIN_LATER,
            Kind::Store => IO_FAILURE,
        };
        CniError::new(code, e.to_string())
    }
}

/// The CNI_* environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub command: String,
    pub container_id: String,
    pub netns: String,
    pub ifname: String,
    pub args: String,
    pub path: String,
}

impl Env {
    pub fn from_process() -> Self {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        Env {
            command: var("CNI_COMMAND"),
            container_id: var("CNI_CONTAINERID"),
            netns: var("CNI_NETNS"),
            ifname: var("CNI_IFNAME"),
            args: var("CNI_ARGS"),
            path: var("CNI_PATH"),
        }
    }

    fn require(&self, names: &[&str]) -> Result<(), CniError> {
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| match *n {
                "CNI_CONTAINERID" => self.container_id.is_empty(),
                "CNI_NETNS" => self.netns.is_empty(),
                "CNI_IFNAME" => self.ifname.is_empty(),
                "CNI_PATH" => self.path.is_empty(),
                _ => false,
            })
            .collect();
        if !missing.is_empty() {
            return Err(CniError::new(
                INVALID_ENV,
                format!("required env variables [{}] missing", missing.join(" ")),
            ));
        }
        if names.contains(&"CNI_CONTAINERID") {
            let id = &self.container_id;
            let ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if !ok {
                return Err(CniError::new(
                    INVALID_ENV,
                    format!("invalid CNI_CONTAINERID {id:?}: expected [a-zA-Z0-9][a-zA-Z0-9_.-]*"),
                ));
            }
            if id.len() > CONTAINER_ID_MAX {
                return Err(CniError::new(
                    INVALID_ENV,
                    format!(
                        "invalid CNI_CONTAINERID: at most {CONTAINER_ID_MAX} characters (runtimes use 64), this one has {}",
                        id.len()
                    ),
                ));
            }
        }
        if names.contains(&"CNI_IFNAME") {
            engine::check_ifname("CNI_IFNAME", &self.ifname)
                .map_err(|e| CniError::new(INVALID_ENV, e.to_string()))?;
        }
        Ok(())
    }
}

/// What the binary does when `CNI_COMMAND` is set: returns the exit status, having printed
/// the result or the error on stdout.
pub fn run() -> i32 {
    use std::io::Read;
    let env = Env::from_process();
    // Room for any configuration, so that it comes in one read.
    let mut stdin = Vec::with_capacity(64 * 1024);
    // VERSION may come without stdin; a read error is a decode error below.
    let _ = std::io::stdin().read_to_end(&mut stdin);
    let (out, code) = handle(&env, &stdin);
    if !out.is_empty() {
        println!("{out}");
    }
    code
}

/// Handle one call: (what to print, exit status).
pub fn handle(env: &Env, stdin: &[u8]) -> (String, i32) {
    let version = stdin_version(stdin);
    match dispatch(env, stdin) {
        Ok(None) => (String::new(), 0),
        Ok(Some(v)) => (pretty(&v), 0),
        Err(e) => {
            let mut v = json!({"cniVersion": version, "code": e.code, "msg": e.msg});
            if let Some(d) = e.details {
                v["details"] = Value::String(d);
            }
            (pretty(&v), 1)
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// The `cniVersion` of the configuration on stdin, read leniently (errors and VERSION answers
/// carry it even when the rest does not decode); the newest when there is none.
fn stdin_version(stdin: &[u8]) -> String {
    serde_json::from_slice::<Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "1.1.0".to_string())
}

fn dispatch(env: &Env, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    if env.command == "VERSION" {
        return Ok(Some(json!({
            "cniVersion": stdin_version(stdin),
            "supportedVersions": SUPPORTED_VERSIONS,
        })));
    }
    let commands = ["ADD", "DEL", "CHECK", "STATUS", "GC"];
    if !commands.contains(&env.command.as_str()) {
        return Err(CniError::new(
            INVALID_ENV,
            format!(
                "unknown CNI_COMMAND {:?}: expected ADD, DEL, CHECK, STATUS, GC or VERSION",
                env.command
            ),
        ));
    }
    let decode = |e: String| {
        CniError::new(
            DECODE_FAILURE,
            format!("cannot decode the network configuration on stdin: {e}"),
        )
    };
    // A JSON object (serde would also take an array for a struct, field by field).
    let conf: Value = serde_json::from_slice(stdin).map_err(|e| decode(e.to_string()))?;
    if !conf.is_object() {
        return Err(decode(format!("expected a JSON object, got {conf}")));
    }
    let conf: NetConf = serde_json::from_value(conf).map_err(|e| decode(e.to_string()))?;
    if !SUPPORTED_VERSIONS.contains(&conf.cni_version.as_str()) {
        let mut e = CniError::new(INCOMPATIBLE_VERSION, "incompatible CNI versions");
        e.details = Some(format!(
            "config is {:?}, plugin supports {:?}",
            conf.cni_version, SUPPORTED_VERSIONS
        ));
        return Err(e);
    }
    // STATUS and GC came with spec 1.1.0: a configuration of an earlier version does not
    // allow them (the reference skel's answer and wording).
    if matches!(env.command.as_str(), "STATUS" | "GC")
        && !matches!(conf.cni_version.as_str(), "1.1.0")
    {
        return Err(CniError::new(
            INCOMPATIBLE_VERSION,
            format!(
                "config version does not allow {} (cniVersion {:?}; it needs 1.1.0 or later)",
                env.command, conf.cni_version
            ),
        ));
    }
    conf.check_common()?;
    let call = Call { env, stdin, conf };
    match env.command.as_str() {
        "ADD" => call.add().map(Some),
        "DEL" => call.del().map(|()| None),
        "CHECK" => call.check().map(|()| None),
        "STATUS" => call.status().map(|()| None),
        _ => call.gc().map(|()| None),
    }
}

/// The error of an ADD whose network was removed or remade under it every time it looked.
/// Whether `version` (a supported one) is before 1.0.0, where results name the IP version.
fn before_1_0(version: &str) -> bool {
    version.starts_with("0.")
}

struct Call<'a> {
    env: &'a Env,
    stdin: &'a [u8],
    conf: NetConf,
}

impl Call<'_> {
    fn state_dir(&self) -> String {
        self.conf
            .state_dir
            .clone()
            .or_else(|| std::env::var("UNDERLAY_STATE_DIR").ok())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| engine::DEFAULT_STATE_DIR.to_string())
    }

    fn engine(&self) -> Result<Engine, CniError> {
        let engine = Engine::open_single_threaded(&PathBuf::from(self.state_dir()))
            .map_err(|e| CniError::new(IO_FAILURE, e.to_string()))?;
        let Some(cluster) = self.conf.cluster()? else {
            return Ok(engine);
        };
        Ok(engine.with_cluster(cluster.connect()?))
    }

    /// The attachment this call is about: (CNI_CONTAINERID, CNI_IFNAME).
    fn key(&self) -> AttachmentKey {
        AttachmentKey::Container {
            id: self.env.container_id.clone(),
            ifname: self.env.ifname.clone(),
        }
    }

    fn cni_args(&self) -> Result<Vec<(String, String)>, CniError> {
        parse_cni_args(&self.env.args)
    }

    /// The parent link: `master`, else the link of the host's default route.
    fn master(&self, engine: &Engine) -> Result<String, CniError> {
        if let Some(m) = self.conf.master.as_deref().filter(|m| !m.is_empty()) {
            return Ok(m.to_string());
        }
        engine.default_route_link()?.ok_or_else(|| {
            CniError::new(
                INVALID_CONFIG,
                "no \"master\" given and the host has no default route to take one from: set \"master\" to the parent link, e.g. eth0 or eth0.50",
            )
        })
    }

    /// The network named by the configuration, if it exists (exact name only), without its
    /// endpoints.
    fn find(&self, engine: &Engine) -> Result<Option<engine::Network>, CniError> {
        Ok(engine.declared_network(&self.conf.name)?)
    }

    /// The network as this configuration declares it on `master`.
    fn declared(&self, master: &str) -> Result<engine::Declared, CniError> {
        Ok(engine::Declared {
            create: self.conf.create_request(master)?,
            fingerprints: self.conf.fingerprints(master),
        })
    }

    /// Run the configuration's IPAM plugin `plugin` with `command` (see `delegate::exec`).
    fn delegate(&self, plugin: &str, command: &str) -> Result<Option<Value>, CniError> {
        delegate::exec(
            plugin,
            command,
            self.stdin,
            self.env,
            self.conf.ipam_timeout(),
        )
    }

    fn add(&self) -> Result<Value, CniError> {
        self.env
            .require(&["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])?;
        let args = self.cni_args()?;
        let engine = self.engine()?;
        let netns = engine.resolve_netns(&self.env.netns).map_err(|e| {
            let p = &self.env.netns;
            let msg = match e.kind() {
                Kind::NotFound => format!("CNI_NETNS {p:?} names no network namespace"),
                _ => format!("CNI_NETNS {p:?}: {}", e),
            };
            CniError::new(UNKNOWN_CONTAINER, msg)
        })?;
        let master = self.master(&engine)?;
        let ipam = self.conf.ipam_kind();
        let mac = self.conf.requested_mac(&args);
        let (ip, ip6) = match ipam {
            IpamKind::Underlay => self.requested_addresses(&args)?,
            _ => (None, None),
        };
        // Another IPAM plugin first; released again if the link cannot be made.
        let (external, delegated) = match &ipam {
            IpamKind::Delegate(plugin) => {
                let result = self.delegate(plugin, "ADD")?.unwrap_or_default();
                match delegate::addresses(plugin, &result) {
                    Ok(x) => (Some(x), Some(result)),
                    Err(e) => {
                        let _ = self.delegate(plugin, "DEL");
                        return Err(e);
                    }
                }
            }
            _ => (None, None),
        };
        let declared = match self.declared(&master) {
            Ok(d) => d,
            Err(e) => return self.fail_add(&ipam, e),
        };
        let (name, cid, ifname) = (&self.conf.name, &self.env.container_id, &self.env.ifname);
        let netns = netns.path.display().to_string();
        let req = AttachRequest {
            ip,
            ip6,
            mac,
            // Shown as the container's name: the runtime's name for it when it gives one
            // (Podman and Kubernetes pass K8S_POD_NAME), else its id.
            name: Some(
                args.iter()
                    .find(|(k, v)| k == "K8S_POD_NAME" && !v.is_empty())
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| self.env.container_id.clone()),
            ),
            external,
            // Made, remade or refused as this configuration says.
            declared: Some(Box::new(declared)),
            // What applies to each attachment, as the configuration says now.
            routes: self.conf.attachment_routes(),
            mtu: Some(self.conf.mtu.unwrap_or(0)),
            door: engine::Door::Cni,
            ..AttachRequest::container(name, cid, ifname, &netns)
        };
        let attached = match engine.attach(&req) {
            Ok(a) => a,
            Err(e) => return self.fail_add(&ipam, e.into()),
        };
        // The result has no place for remarks; the runtime logs a plugin's stderr.
        for w in &attached.warnings {
            eprintln!("underlay: warning: {w}");
        }

        Ok(self.result(&attached, delegated.as_ref()))
    }

    /// The addresses the runtime asks for, one per family at most.
    fn requested_addresses(
        &self,
        args: &[(String, String)],
    ) -> Result<(Option<String>, Option<String>), CniError> {
        let (mut ip, mut ip6) = (None, None);
        for addr in self.conf.requested_ips(args)? {
            let slot = if addr.is_ipv4() { &mut ip } else { &mut ip6 };
            if let Some(prev) = slot.replace(addr.to_string()) {
                return Err(CniError::new(
                    INVALID_CONFIG,
                    format!(
                        "two addresses of one family requested ({prev} and {addr}): underlay gives an endpoint one address per family"
                    ),
                ));
            }
        }
        Ok((ip, ip6))
    }

    /// ADD's result: the interface, its addresses with their gateways, the routes and DNS
    /// (a delegated IPAM's where it gave them, else the configuration's).
    fn result(&self, attached: &engine::Attached, delegated: Option<&Value>) -> Value {
        let old = before_1_0(&self.conf.cni_version);
        let mut ips = Vec::new();
        for (addr, gw) in [
            (attached.ipv4, attached.gateway4),
            (attached.ipv6, attached.gateway6),
        ] {
            let Some(addr) = addr else { continue };
            let mut entry = serde_json::Map::new();
            if old {
                let v = if addr.addr().is_ipv4() { "4" } else { "6" };
                entry.insert("version".into(), json!(v));
            }
            entry.insert("interface".into(), json!(0));
            entry.insert("address".into(), json!(addr.to_string()));
            if let Some(gw) = gw {
                entry.insert("gateway".into(), json!(gw.to_string()));
            }
            ips.push(Value::Object(entry));
        }
        let routes: Vec<Value> = match delegated {
            Some(r) => r
                .get("routes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            None => self.conf.result_routes(),
        };
        let dns = delegated
            .and_then(|r| r.get("dns").cloned())
            .or_else(|| self.conf.dns.clone())
            .unwrap_or_else(|| json!({}));
        let mut result = serde_json::Map::new();
        result.insert("cniVersion".into(), json!(self.conf.cni_version));
        result.insert(
            "interfaces".into(),
            json!([{
                "name": attached.ifname,
                "mac": attached.mac.map(|m| m.to_string()).unwrap_or_default(),
                "sandbox": self.env.netns,
            }]),
        );
        if !ips.is_empty() {
            result.insert("ips".into(), Value::Array(ips));
        }
        if !routes.is_empty() {
            result.insert("routes".into(), Value::Array(routes));
        }
        result.insert("dns".into(), dns);
        Value::Object(result)
    }

    /// Undo what a failed ADD did around the attach: the delegated IPAM's addresses (the
    /// engine's attach removed a network it made).
    fn fail_add(&self, ipam: &IpamKind, e: CniError) -> Result<Value, CniError> {
        if let IpamKind::Delegate(plugin) = ipam {
            let _ = self.delegate(plugin, "DEL");
        }
        Err(e)
    }

    fn del(&self) -> Result<(), CniError> {
        self.env.require(&["CNI_CONTAINERID", "CNI_IFNAME"])?;
        let engine = self.engine()?;
        let ipam = self.conf.ipam_kind();
        if let Some(net) = self.find(&engine)? {
            // The engine says where the runtime need not wait for the link's deletion.
            match engine.detach(&net.id, &self.key(), Detach::Begin) {
                Ok(Detached::Pending(pending)) => {
                    let cluster = self.conf.cluster()?;
                    detached_del::finish(&engine, &self.state_dir(), cluster, &pending)
                }
                Ok(_) => {}
                Err(e) if e.kind() == Kind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let IpamKind::Delegate(plugin) = ipam {
            self.delegate(&plugin, "DEL")?;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), CniError> {
        if before_1_0(&self.conf.cni_version) && self.conf.cni_version != "0.4.0" {
            return Err(CniError::new(
                INCOMPATIBLE_VERSION,
                format!(
                    "CHECK is not part of CNI {}: it came with 0.4.0",
                    self.conf.cni_version
                ),
            ));
        }
        self.env
            .require(&["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])?;
        let prev = self.conf.prev_result.as_ref().ok_or_else(|| {
            CniError::new(
                INVALID_CONFIG,
                "Required prevResult missing: CHECK compares the kernel with the ADD result",
            )
        })?;
        let engine = self.engine()?;
        let (_, ep) = engine
            .check(&self.conf.name, &self.key())
            .map_err(|e| match e.kind() {
                Kind::NotFound => CniError::new(UNKNOWN_CONTAINER, e.to_string()),
                _ => e.into(),
            })?;
        self.compare_prev_result(prev, &ep)?;
        if let IpamKind::Delegate(plugin) = self.conf.ipam_kind() {
            self.delegate(&plugin, "CHECK")?;
        }
        Ok(())
    }

    /// The ADD result (prevResult) must describe what is there: the interface's MAC and its
    /// addresses.
    fn compare_prev_result(&self, prev: &Value, ep: &engine::Endpoint) -> Result<(), CniError> {
        let ifaces = prev
            .get("interfaces")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let idx = ifaces
            .iter()
            .position(|i| i.get("name").and_then(Value::as_str) == Some(&self.env.ifname))
            .ok_or_else(|| {
                CniError::new(
                    INVALID_CONFIG,
                    format!("prevResult has no interface {}", self.env.ifname),
                )
            })?;
        if let (Some(want), Some(have)) = (ifaces[idx].get("mac").and_then(Value::as_str), ep.mac) {
            if want.parse::<engine::Mac>() != Ok(have) {
                return Err(CniError::new(
                    CONFLICT,
                    format!(
                        "interface {} has MAC {have}, prevResult says {want}",
                        self.env.ifname
                    ),
                ));
            }
        }
        let mut listed: Vec<String> = prev
            .get("ips")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|ip| {
                ip.get("interface")
                    .and_then(Value::as_u64)
                    .is_none_or(|i| i as usize == idx)
            })
            .filter_map(|ip| {
                ip.get("address")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let mut have: Vec<String> = [ep.ipv4, ep.ipv6]
            .into_iter()
            .flatten()
            .map(|a| a.to_string())
            .collect();
        listed.sort();
        have.sort();
        if listed != have {
            return Err(CniError::new(
                CONFLICT,
                format!(
                    "interface {} has addresses [{}], prevResult says [{}]",
                    self.env.ifname,
                    have.join(", "),
                    listed.join(", ")
                ),
            ));
        }
        Ok(())
    }

    fn status(&self) -> Result<(), CniError> {
        let engine = self.engine()?;
        let master = self.master(&engine)?;
        // A master inside each container cannot be checked before there is a container.
        if !self.conf.link_in_container {
            engine
                .parent_ready(&master)
                .map_err(|e| CniError::new(NOT_AVAILABLE, e.to_string()))?;
        }
        if let IpamKind::Delegate(plugin) = self.conf.ipam_kind() {
            self.delegate(&plugin, "STATUS")?;
        }
        Ok(())
    }

    fn gc(&self) -> Result<(), CniError> {
        let valid = self.conf.valid_attachments.clone().ok_or_else(|| {
            CniError::new(
                INVALID_CONFIG,
                "GC needs \"cni.dev/valid-attachments\" (the attachments to keep)",
            )
        })?;
        let keep: BTreeMap<(String, String), ()> = valid
            .into_iter()
            .map(|a| ((a.container_id, a.ifname), ()))
            .collect();
        let engine = self.engine()?;
        let mut problems = Vec::new();
        if let Some(head) = self.find(&engine)? {
            // GC looks at every endpoint: the whole network.
            let net = engine.network(&head.id)?;
            for ep in net.endpoints.values() {
                let Some(cid) = &ep.container_id else {
                    continue; // attached by the CLI or Docker: not the runtime's to collect
                };
                if keep.contains_key(&(cid.clone(), ep.ifname.clone())) {
                    continue;
                }
                let key = AttachmentKey::Container {
                    id: cid.clone(),
                    ifname: ep.ifname.clone(),
                };
                if let Err(e) = engine.detach(&net.id, &key, Detach::All) {
                    problems.push(e.to_string());
                }
            }
        }
        if let IpamKind::Delegate(plugin) = self.conf.ipam_kind() {
            self.delegate(&plugin, "GC")?;
        }
        if !problems.is_empty() {
            return Err(CniError::new(KERNEL, problems.join("; ")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod corpus_tests {
    use super::*;

    /// The corpus of malformed CNI inputs (tests/corpus/malformed.jsonl, which the fuzzing
    /// work seeds from): each refused with its code and words, the spec's JSON on stdout, and
    /// nothing created (not even the state directory the configuration names).
    #[test]
    fn malformed_inputs_are_refused_and_create_nothing() {
        let corpus = include_str!("../tests/corpus/malformed.jsonl");
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let mut n = 0;
        for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            let env = Env {
                command: case["command"].as_str().unwrap().to_string(),
                container_id: "ctr".into(),
                netns: "/nonexistent/netns".into(),
                ifname: "eth0".into(),
                ..Env::default()
            };
            let mut conf = case["conf"].as_str().unwrap().to_string();
            // Point what decodes at a state directory of the test's.
            if let Ok(Value::Object(mut m)) = serde_json::from_str::<Value>(&conf) {
                m.insert("stateDir".into(), json!(state));
                conf = Value::Object(m).to_string();
            }
            let (out, status) = handle(&env, conf.as_bytes());
            assert_eq!(status, 1, "{line}: {out}");
            let v: Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{line}: {e}: {out}"));
            assert_eq!(v["code"], case["code"], "{line}: {out}");
            let msg = v["msg"].as_str().unwrap();
            assert!(msg.contains(case["msg"].as_str().unwrap()), "{line}: {msg}");
            assert!(!state.exists(), "{line}: the state directory was created");
            n += 1;
        }
        assert!(n >= 24, "{n} cases");
    }
}
