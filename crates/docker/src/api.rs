//! Docker's plugin protocols, call by call: `POST /Plugin.Activate`, `/NetworkDriver.*` and
//! `/IpamDriver.*`, JSON in and out, translated into engine calls. Synchronous and free of
//! HTTP, so every call can be tested against the fake kernel.
//!
//! Docker's quirks: requests come without Content-Type and, for calls without arguments, with
//! an empty body (read as `{}`); errors are `{"Err": "..."}` with a non-2xx status, which
//! Docker shows the user as `Error response from daemon: <Method>: <message>`; a method a
//! plugin does not implement answers 404, which Docker takes as "not supported".

use std::collections::BTreeMap;
use std::net::IpAddr;

use engine::cluster::Scope;
use engine::{
    pools, AttachRequest, AttachmentKey, CreateRequest, Detach, Door, Driver, Engine,
    ExternalAddrs, ExternalIpam, Kind, Owner, Placement,
};
use ipnet::IpNet;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// What a socket serves: a network driver of one kind, the IPAM driver, or both (a managed
/// plugin has a single socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    pub network: Option<Driver>,
    pub ipam: bool,
}

impl Role {
    pub const MACVLAN: Role = Role {
        network: Some(Driver::Macvlan),
        ipam: false,
    };
    pub const IPVLAN: Role = Role {
        network: Some(Driver::Ipvlan),
        ipam: false,
    };
    pub const IPAM: Role = Role {
        network: None,
        ipam: true,
    };

    /// What Docker is told at activation.
    fn implements(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.network.is_some() {
            v.push("NetworkDriver");
        }
        if self.ipam {
            v.push("IpamDriver");
        }
        v
    }
}

/// One answer: HTTP status and JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Self {
        Reply { status: 200, body }
    }
    pub fn err(status: u16, msg: impl Into<String>) -> Self {
        Reply {
            status,
            body: json!({ "Err": msg.into() }),
        }
    }
}

/// Work to do after answering: learn the names Docker gives a network and its containers,
/// which it does not tell its drivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Followup {
    NameNetwork(String),
    NameEndpoint { network: String, endpoint: String },
}

impl From<engine::Error> for Reply {
    fn from(e: engine::Error) -> Self {
        let status = match e.kind() {
            Kind::InvalidParameter => 400,
            Kind::Conflict => 409,
            // Not 404: Docker reads that as "method not implemented" and, for some methods,
            // as success.
            Kind::NotFound | Kind::Kernel | Kind::Store => 500,
        };
        Reply::err(status, e.to_string())
    }
}

type Outcome = Result<(Value, Option<Followup>), Reply>;

/// Handle `POST /<method>` on a socket serving `role`.
pub fn handle(engine: &Engine, role: Role, method: &str, body: &[u8]) -> (Reply, Option<Followup>) {
    let result = match (method, role) {
        ("Plugin.Activate", _) => Ok((json!({ "Implements": role.implements() }), None)),
        (
            m,
            Role {
                network: Some(driver),
                ..
            },
        ) if m.starts_with("NetworkDriver.") => {
            network_call(engine, driver, &m["NetworkDriver.".len()..], body)
        }
        (m, Role { ipam: true, .. }) if m.starts_with("IpamDriver.") => {
            ipam_call(engine, &m["IpamDriver.".len()..], body)
        }
        _ => Err(not_implemented(method)),
    };
    match result {
        Ok((v, follow)) => (Reply::ok(v), follow),
        Err(r) => (r, None),
    }
}

fn not_implemented(method: &str) -> Reply {
    Reply::err(404, format!("underlay does not implement {method}"))
}

/// The request body as `T`; an empty body is `{}`.
fn parse<T: DeserializeOwned>(method: &str, body: &[u8]) -> Result<T, Reply> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // Every request of both protocols is a JSON object (serde would also take an array for
    // a struct, field by field).
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Reply::err(400, format!("cannot decode the {method} request: {e}")))?;
    if !value.is_object() {
        return Err(Reply::err(
            400,
            format!("cannot decode the {method} request: expected a JSON object, got {value}"),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| Reply::err(400, format!("cannot decode the {method} request: {e}")))
}

/// A call about an existing network, on the socket of another driver than the network's
/// (Docker never does that; a client that does gets told where the network is served).
fn refuse_other_driver(
    engine: &Engine,
    driver: Driver,
    method: &str,
    body: &[u8],
) -> Result<(), Reply> {
    let req: NetworkRef = parse(method, body)?;
    if req.network_id.is_empty() {
        return Ok(());
    }
    match engine.network_config(&req.network_id) {
        Ok(net) if net.driver() != driver => Err(Reply::err(
            400,
            format!(
                "network {} is a {} network: its calls go to the underlay-{} driver, not underlay-{driver}",
                net.short_id(),
                net.driver(),
                net.driver()
            ),
        )),
        _ => Ok(()),
    }
}

fn engine_call<T>(r: engine::Result<T>) -> Result<T, Reply> {
    r.map_err(Reply::from)
}

// ---- NetworkDriver ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct IpData {
    address_space: String,
    pool: String,
    gateway: String,
    aux_addresses: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct CreateNetwork {
    #[serde(rename = "NetworkID")]
    network_id: String,
    options: Option<Map<String, Value>>,
    #[serde(rename = "IPv4Data")]
    ipv4_data: Option<Vec<IpData>>,
    #[serde(rename = "IPv6Data")]
    ipv6_data: Option<Vec<IpData>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct NetworkRef {
    #[serde(rename = "NetworkID")]
    network_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Interface {
    address: String,
    #[serde(rename = "AddressIPv6")]
    address_ipv6: String,
    mac_address: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct EndpointRef {
    #[serde(rename = "NetworkID")]
    network_id: String,
    #[serde(rename = "EndpointID")]
    endpoint_id: String,
    interface: Option<Interface>,
    options: Option<Map<String, Value>>,
    sandbox_key: String,
}

/// Docker's `-o` options and flags as underlay's: options keep their names, Docker's generic
/// MTU option is `mtu`.
const DOCKER_MTU: &str = "com.docker.network.driver.mtu";
const GENERIC: &str = "com.docker.network.generic";
const INTERNAL: &str = "com.docker.network.internal";
const ENABLE_IPV6: &str = "com.docker.network.enable_ipv6";

/// A JSON option value as the string the user typed.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

/// `172.16.86.1/24` (how Docker passes gateways and aux addresses) → `172.16.86.1`.
fn bare(cidr: &str) -> String {
    cidr.split('/').next().unwrap_or_default().to_string()
}

/// The name a Docker network has in underlay until Docker's own is learned.
pub fn provisional_name(id: &str) -> String {
    format!("docker-{}", &id[..12.min(id.len())])
}

/// Which of underlay's drivers a network as Docker's API shows it is on, if any.
pub(crate) fn underlay_driver(net: &Value) -> Option<Driver> {
    match net.get("Driver").and_then(Value::as_str)? {
        "underlay-macvlan" => Some(Driver::Macvlan),
        "underlay-ipvlan" => Some(Driver::Ipvlan),
        _ => None,
    }
}

/// The request Docker's CreateNetwork would have made for a network as Docker's API shows it
/// (`GET /networks/ID`), for one of underlay's drivers; None for another driver or a network
/// without an id.
pub(crate) fn create_request_from_inspect(net: &Value) -> Option<CreateRequest> {
    let driver = underlay_driver(net)?;
    let id = net.get("Id").and_then(Value::as_str)?;
    // A field as Docker shows it, or `or` where it is missing or null.
    let field = |v: &Value, k: &str, or: Value| match v.get(k) {
        None | Some(Value::Null) => or,
        Some(x) => x.clone(),
    };
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let configs = net.pointer("/IPAM/Config").and_then(Value::as_array);
    for c in configs.into_iter().flatten() {
        let subnet = c.get("Subnet").and_then(Value::as_str).unwrap_or_default();
        let data = json!({
            "Pool": subnet,
            "Gateway": field(c, "Gateway", json!("")),
            "AuxAddresses": field(c, "AuxiliaryAddresses", json!({})),
        });
        if subnet.contains(':') {
            v6.push(data)
        } else {
            v4.push(data)
        }
    }
    let body = json!({
        "NetworkID": id,
        "Options": {
            GENERIC: field(net, "Options", json!({})),
            INTERNAL: field(net, "Internal", json!(false)),
            ENABLE_IPV6: field(net, "EnableIPv6", json!(false)),
        },
        "IPv4Data": v4,
        "IPv6Data": v6,
    });
    let req: CreateNetwork = serde_json::from_value(body).ok()?;
    Some(create_request(driver, &req))
}

fn create_request(driver: Driver, req: &CreateNetwork) -> CreateRequest {
    let empty = Map::new();
    let options = req.options.as_ref().unwrap_or(&empty);
    let mut out = CreateRequest {
        name: provisional_name(&req.network_id),
        driver: driver.name().to_string(),
        id: Some(req.network_id.clone()),
        owner: Some(Owner::Docker),
        external_ipam: true,
        internal: flag(options.get(INTERNAL)),
        ipv6: flag(options.get(ENABLE_IPV6)),
        door: engine::Door::Docker,
        ..Default::default()
    };
    if let Some(Value::Object(generic)) = options.get(GENERIC) {
        for (k, v) in generic {
            let key = if k == DOCKER_MTU { "mtu" } else { k.as_str() };
            out.options.push((key.to_string(), text(v)));
        }
    }
    let data = req.ipv4_data.iter().chain(req.ipv6_data.iter()).flatten();
    for d in data.filter(|d| !d.pool.is_empty()) {
        out.subnets.push(d.pool.clone());
        if !d.gateway.is_empty() {
            out.gateways.push(bare(&d.gateway));
        }
        for (name, a) in &d.aux_addresses {
            out.aux_addresses.push((name.clone(), bare(a)));
        }
    }
    out
}

fn address(field: &str, s: &str) -> Result<Option<IpNet>, Reply> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        Reply::err(
            400,
            format!("invalid {field} {s:?}: expected an address with prefix length, e.g. 172.16.86.10/24"),
        )
    })
}

fn network_call(engine: &Engine, driver: Driver, call: &str, body: &[u8]) -> Outcome {
    let method = format!("NetworkDriver.{call}");
    let m = method.as_str();
    if matches!(
        call,
        "CreateNetwork" | "DeleteNetwork" | "CreateEndpoint" | "DeleteEndpoint" | "Join" | "Leave"
    ) {
        refuse_other_driver(engine, driver, m, body)?;
    }
    match call {
        "GetCapabilities" => Ok((
            json!({"Scope": "local", "ConnectivityScope": "global", "GwAllocChecker": true}),
            None,
        )),
        // Docker 28 and later ask before CreateNetwork whether to reserve gateways: only the
        // one the user gives, as Docker's own macvlan and ipvlan drivers since 29.
        "GwAllocCheck" => Ok((json!({"SkipIPv4": true, "SkipIPv6": true}), None)),
        "CreateNetwork" => {
            let req: CreateNetwork = parse(m, body)?;
            engine_call(engine.ensure_network(&create_request(driver, &req)))?;
            Ok((json!({}), Some(Followup::NameNetwork(req.network_id))))
        }
        "DeleteNetwork" => {
            let req: NetworkRef = parse(m, body)?;
            engine_call(engine.delete_runtime_network(&req.network_id))?;
            Ok((json!({}), None))
        }
        // Only global-scope drivers are asked (swarm); answered for completeness.
        "AllocateNetwork" => Ok((json!({"Options": {}}), None)),
        "FreeNetwork" => Ok((json!({}), None)),
        "CreateEndpoint" => create_endpoint(engine, driver, parse(m, body)?),
        "EndpointOperInfo" => Ok((json!({"Value": {}}), None)),
        "DeleteEndpoint" => {
            let req: EndpointRef = parse(m, body)?;
            let key = AttachmentKey::Endpoint(req.endpoint_id);
            engine_call(engine.detach(&req.network_id, &key, Detach::All))?;
            Ok((json!({}), None))
        }
        "Join" => join(engine, parse(m, body)?),
        "Leave" => {
            let req: EndpointRef = parse(m, body)?;
            let key = AttachmentKey::Endpoint(req.endpoint_id);
            engine_call(engine.detach(&req.network_id, &key, Detach::Link))?;
            Ok((json!({}), None))
        }
        // No port mappings on macvlan/ipvlan; discovery is for overlay networks.
        "ProgramExternalConnectivity"
        | "RevokeExternalConnectivity"
        | "DiscoverNew"
        | "DiscoverDelete" => Ok((json!({}), None)),
        _ => Err(not_implemented(m)),
    }
}

/// CreateEndpoint: the endpoint's addresses reserved (Docker's IPAM gave them, or underlay's
/// pools do) and its MAC chosen; the link is made at Join. What the drivers do not do (port
/// mappings and exposures) is logged, not refused, as Docker's own macvlan driver does.
fn create_endpoint(engine: &Engine, driver: Driver, req: EndpointRef) -> Outcome {
    let iface = req.interface.unwrap_or_default();
    let v4 = address("Interface.Address", &iface.address)?;
    let v6 = address("Interface.AddressIPv6", &iface.address_ipv6)?;
    let mac = Some(iface.mac_address).filter(|s| !s.is_empty());
    for (opt, what) in [
        ("com.docker.network.portmap", "port mappings"),
        ("com.docker.network.endpoint.exposedports", "port exposures"),
    ] {
        let given = req.options.as_ref().and_then(|o| o.get(opt));
        if matches!(given, Some(Value::Array(a)) if !a.is_empty()) {
            tracing::warn!(
                endpoint = %req.endpoint_id,
                "the {driver} driver does not support {what}; ignored"
            );
        }
    }
    let given = mac.is_some();
    let reserved = engine_call(engine.attach(&AttachRequest {
        external: Some(ExternalIpam {
            ipv4: v4,
            ipv6: v6,
            info: ExternalAddrs::default(),
        }),
        mac,
        door: Door::Docker,
        ..AttachRequest::endpoint(&req.network_id, &req.endpoint_id, Placement::Reserved)
    }))?;
    // Docker takes the MAC only when it gave none (and refuses any other change).
    let iface = match reserved.mac.filter(|_| !given) {
        Some(mac) => json!({ "MacAddress": mac.to_string() }),
        None => Value::Null,
    };
    Ok((json!({ "Interface": iface }), None))
}

/// Join: the endpoint's link made on the host for Docker to move into the sandbox, with the
/// name prefix, gateways and static routes Docker gives it there.
fn join(engine: &Engine, req: EndpointRef) -> Outcome {
    let sandbox = req.sandbox_key.clone();
    let placement = Placement::HandOff { sandbox };
    let j = engine_call(engine.attach(&AttachRequest {
        door: Door::Docker,
        ..AttachRequest::endpoint(&req.network_id, &req.endpoint_id, placement)
    }))?;
    for w in &j.warnings {
        tracing::warn!(network = %req.network_id, endpoint = %req.endpoint_id, "{w}");
    }
    let ip = |a: Option<IpAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    let routes: Vec<Value> = j
        .routes
        .iter()
        .map(|r| match r.gw {
            // RouteType 0: via NextHop; 1: connected (on-link).
            Some(gw) => {
                json!({"Destination": r.dst.to_string(), "RouteType": 0, "NextHop": gw.to_string()})
            }
            None => json!({"Destination": r.dst.to_string(), "RouteType": 1, "NextHop": ""}),
        })
        .collect();
    Ok((
        json!({
            "InterfaceName": {"SrcName": j.ifname, "DstPrefix": "eth"},
            "Gateway": ip(j.gateway4),
            "GatewayIPv6": ip(j.gateway6),
            "StaticRoutes": routes,
            "DisableGatewayService": true,
        }),
        Some(Followup::NameEndpoint {
            network: req.network_id,
            endpoint: req.endpoint_id,
        }),
    ))
}

// ---- IpamDriver ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct RequestPool {
    address_space: String,
    pool: String,
    sub_pool: String,
    /// `--ipam-opt`s.
    options: Option<Map<String, Value>>,
    #[serde(rename = "V6")]
    v6: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PoolRef {
    #[serde(rename = "PoolID")]
    pool_id: String,
    address: String,
    options: Option<Map<String, Value>>,
}

const REQUEST_TYPE: &str = "RequestAddressType";
const GATEWAY_TYPE: &str = "com.docker.network.gateway";
/// The endpoint's MAC, which Docker sends with its address requests because the driver
/// declares RequiresMACAddress (an auxiliary address comes without one).
const MAC_OPTION: &str = "com.docker.network.endpoint.macaddress";

/// `--ipam-opt scope=local|global`: a pool of this host's only, or shared through the
/// daemon's cluster store (the default when it has one).
fn pool_scope(options: Option<&Map<String, Value>>) -> Result<Option<Scope>, Reply> {
    let Some(v) = options.and_then(|o| o.get("scope")) else {
        return Ok(None);
    };
    match v.as_str() {
        Some("local") => Ok(Some(Scope::Local)),
        Some("global") => Ok(Some(Scope::Global)),
        _ => Err(Reply::err(
            400,
            format!("invalid --ipam-opt scope={}: expected scope=local (this host's own pool) or scope=global (shared by every host through the cluster store)", v.as_str().map_or_else(|| v.to_string(), str::to_string)),
        )),
    }
}

fn ipam_call(engine: &Engine, call: &str, body: &[u8]) -> Outcome {
    let method = format!("IpamDriver.{call}");
    let m = method.as_str();
    match call {
        "GetCapabilities" => Ok((
            // The MAC tells an endpoint's address from an auxiliary one (shared by every
            // host's network in a cluster-wide pool) and makes a request asked again for the
            // address it holds idempotent. No replay: every pool and address is durable
            // before the answer, and a replay would make dockerd wait on the plugin at boot.
            json!({"RequiresMACAddress": true, "RequiresRequestReplay": false}),
            None,
        )),
        "GetDefaultAddressSpaces" => Ok((
            json!({
                "LocalDefaultAddressSpace": pools::LOCAL_SPACE,
                "GlobalDefaultAddressSpace": pools::GLOBAL_SPACE,
            }),
            None,
        )),
        "RequestPool" => {
            let req: RequestPool = parse(m, body)?;
            let scope = pool_scope(req.options.as_ref())?;
            let (id, subnet) = engine_call(engine.pools().request_pool(
                &req.address_space,
                &req.pool,
                &req.sub_pool,
                req.v6,
                scope,
            ))?;
            Ok((
                json!({"PoolID": id, "Pool": subnet.to_string(), "Data": {}}),
                None,
            ))
        }
        "ReleasePool" => {
            let req: PoolRef = parse(m, body)?;
            engine_call(engine.pools().release_pool(&req.pool_id))?;
            Ok((json!({}), None))
        }
        "RequestAddress" => {
            let req: PoolRef = parse(m, body)?;
            let gateway = req
                .options
                .as_ref()
                .and_then(|o| o.get(REQUEST_TYPE))
                .is_some_and(|v| v == GATEWAY_TYPE);
            let wanted = Some(req.address.as_str()).filter(|a| !a.is_empty());
            let mac = req
                .options
                .as_ref()
                .and_then(|o| o.get(MAC_OPTION))
                .and_then(Value::as_str)
                .filter(|m| !m.is_empty());
            let a = engine_call(engine.pools().request_address(
                &req.pool_id,
                wanted,
                gateway,
                mac,
            ))?;
            Ok((json!({"Address": a.to_string(), "Data": {}}), None))
        }
        "ReleaseAddress" => {
            let req: PoolRef = parse(m, body)?;
            engine_call(engine.pools().release_address(&req.pool_id, &req.address))?;
            Ok((json!({}), None))
        }
        _ => Err(not_implemented(m)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use netlink::{FakeNetlink, Netlink, NsRef};
    use serde_json::json;

    use super::*;

    const NID: &str = "b4c9f0f4d5131be46a39a0e75c1a2b4bb9936d201e0997d6b4c5611d783103a3";
    const EID: &str = "5fec442e5069aedf550a93e519c25c924478d8d347c2597a09f38c4f3a8de957";

    struct Fx {
        engine: Engine,
        nl: Arc<FakeNetlink>,
        _dir: tempfile::TempDir,
    }

    fn fx() -> Fx {
        let nl = Arc::new(FakeNetlink::new());
        nl.add_link(&NsRef::Host, "eth0", None, 1500);
        let dir = tempfile::tempdir().unwrap();
        let store = store::DirStore::open(dir.path()).unwrap();
        Fx {
            engine: Engine::new(nl.clone() as Arc<dyn Netlink>, Box::new(store)),
            nl,
            _dir: dir,
        }
    }

    fn call(fx: &Fx, role: Role, method: &str, body: Value) -> Reply {
        let bytes = if body.is_null() {
            Vec::new()
        } else {
            serde_json::to_vec(&body).unwrap()
        };
        handle(&fx.engine, role, method, &bytes).0
    }

    fn create_net(generic: Value) -> Value {
        json!({
            "NetworkID": NID,
            "Options": {"com.docker.network.enable_ipv6": false, "com.docker.network.generic": generic},
            "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": "172.16.86.1/24", "Pool": "172.16.86.0/24",
                          "AuxAddresses": {"router2": "172.16.86.2/24"}}],
            "IPv6Data": []
        })
    }

    /// Every file of the state directory with its bytes.
    fn state(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// The fixture with the macvlan network NID on eth0.
    fn fx_with_network() -> Fx {
        let fx = fx();
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0"})),
        );
        assert_eq!(r.status, 200, "{r:?}");
        fx
    }

    /// Every field of the plugin API a request fills in, at the edges of its length (empty,
    /// one, the longest, one past, 5000 characters): a result, or an error with its status and
    /// `Err` in Docker's words, never a raw I/O error, a state path or a panic.
    #[test]
    fn every_field_at_its_edges_gets_a_result_or_a_clear_error() {
        let fx = fx_with_network();
        let len = |n: usize| "a".repeat(n);
        let hex = |n: usize| "c".repeat(n);
        let edges = |max: usize, f: &dyn Fn(usize) -> String| -> Vec<String> {
            vec![String::new(), f(1), f(max), f(max + 1), f(5000)]
        };
        let mut cases: Vec<(Role, &str, Value)> = Vec::new();
        for id in edges(64, &hex) {
            let mut b = create_net(json!({"parent": "eth0"}));
            b["NetworkID"] = json!(id);
            b["IPv4Data"][0]["Pool"] = json!("10.44.0.0/24");
            b["IPv4Data"][0]["Gateway"] = json!("10.44.0.1/24");
            b["IPv4Data"][0]["AuxAddresses"] = json!({});
            cases.push((Role::MACVLAN, "NetworkDriver.CreateNetwork", b));
            for m in [
                "NetworkDriver.DeleteNetwork",
                "NetworkDriver.CreateEndpoint",
                "NetworkDriver.Join",
            ] {
                cases.push((
                    Role::MACVLAN,
                    m,
                    json!({"NetworkID": id, "EndpointID": EID, "SandboxKey": "/x"}),
                ));
                cases.push((
                    Role::MACVLAN,
                    m,
                    json!({"NetworkID": NID, "EndpointID": id, "SandboxKey": "/x"}),
                ));
            }
        }
        for v in edges(15, &len) {
            let mut b = create_net(json!({"parent": v}));
            b["NetworkID"] = json!(hex(64));
            cases.push((Role::MACVLAN, "NetworkDriver.CreateNetwork", b));
        }
        for v in [
            "",
            "0",
            "67",
            "68",
            "1500",
            "1501",
            "99999999999999999999",
            &len(5000),
        ] {
            let mut b = create_net(json!({"parent": "eth0", "mtu": v}));
            b["NetworkID"] = json!("d".repeat(64));
            cases.push((Role::MACVLAN, "NetworkDriver.CreateNetwork", b));
        }
        for v in edges(17, &len) {
            cases.push((
                Role::MACVLAN,
                "NetworkDriver.CreateEndpoint",
                json!({"NetworkID": NID, "EndpointID": hex(64), "Interface": {"MacAddress": v}}),
            ));
            cases.push((
                Role::MACVLAN,
                "NetworkDriver.CreateEndpoint",
                json!({"NetworkID": NID, "EndpointID": hex(64), "Interface": {"Address": v}}),
            ));
            cases.push((
                Role::IPAM,
                "IpamDriver.RequestPool",
                json!({"AddressSpace": v, "Pool": "10.45.0.0/24"}),
            ));
            cases.push((
                Role::IPAM,
                "IpamDriver.RequestPool",
                json!({"AddressSpace": "LocalDefault", "Pool": v}),
            ));
            let pool_id = format!("{v}/10.45.0.0/24");
            cases.push((
                Role::IPAM,
                "IpamDriver.RequestAddress",
                json!({"PoolID": pool_id, "Address": ""}),
            ));
            cases.push((
                Role::IPAM,
                "IpamDriver.ReleasePool",
                json!({"PoolID": pool_id}),
            ));
        }
        let dir = fx._dir.path().display().to_string();
        let mut failures = Vec::new();
        for (role, method, body) in &cases {
            let r = call(&fx, *role, method, body.clone());
            if r.status == 200 {
                continue;
            }
            let err = r.body["Err"].as_str().unwrap_or_default();
            let raw = ["os error", "panicked", "No such file", "File name too long"];
            let shown = body.to_string().chars().take(160).collect::<String>();
            if err.is_empty() {
                failures.push(format!("{method} {shown}: status {} without Err", r.status));
            } else if let Some(w) = raw.iter().find(|w| err.contains(**w)) {
                failures.push(format!("{method} {shown}: raw error ({w}): {err}"));
            } else if err.contains(&dir) {
                // (`--subnet` and the like are Docker's own words: its CLI takes them.)
                failures.push(format!("{method} {shown}: a state path: {err}"));
            }
        }
        assert!(cases.len() >= 60, "{}", cases.len());
        assert!(
            failures.is_empty(),
            "{} of {} wrong:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    /// The corpus of malformed Docker requests (tests/corpus/malformed.jsonl, which the
    /// fuzzing work seeds from): each is answered with its status and words, as Docker's JSON
    /// with `Err`, and changes neither the store nor the kernel.
    #[test]
    fn malformed_requests_are_refused_and_change_nothing() {
        let corpus = include_str!("../tests/corpus/malformed.jsonl");
        // A network and a pool to aim at.
        let fx = fx_with_network();
        let pool = json!({"AddressSpace": "LocalDefault", "Pool": "10.9.0.0/24", "SubPool": "", "V6": false});
        assert_eq!(
            call(&fx, Role::IPAM, "IpamDriver.RequestPool", pool).status,
            200
        );
        let before = state(fx._dir.path());
        let links = fx.nl.links(&NsRef::Host).unwrap();
        let other = "1111111111111111111111111111111111111111111111111111111111111111";
        let mut n = 0;
        for line in corpus.lines().filter(|l| !l.trim().is_empty()) {
            let case: Value = serde_json::from_str(line).unwrap();
            let role = match case["role"].as_str().unwrap() {
                "macvlan" => Role::MACVLAN,
                "ipvlan" => Role::IPVLAN,
                _ => Role::IPAM,
            };
            let method = case["method"].as_str().unwrap();
            // A new network's id for creates (the existing one would be a replay).
            let nid = if method.ends_with("CreateNetwork") {
                other
            } else {
                NID
            };
            let body = case["body"]
                .as_str()
                .unwrap()
                .replace("@NID", nid)
                .replace("@EID", EID);
            let (reply, follow) = handle(&fx.engine, role, method, body.as_bytes());
            assert_eq!(
                reply.status,
                case["status"].as_u64().unwrap() as u16,
                "{line}: {reply:?}"
            );
            let err = reply.body["Err"]
                .as_str()
                .unwrap_or_else(|| panic!("{line}: {reply:?}"));
            assert!(err.contains(case["err"].as_str().unwrap()), "{line}: {err}");
            assert!(follow.is_none(), "{line}");
            assert_eq!(state(fx._dir.path()), before, "{line}: the store changed");
            assert_eq!(
                fx.nl.links(&NsRef::Host).unwrap(),
                links,
                "{line}: the kernel changed"
            );
            n += 1;
        }
        assert!(n >= 36, "{n} cases");
        // A call about the macvlan network on the ipvlan socket is told where it belongs.
        let r = call(
            &fx,
            Role::IPVLAN,
            "NetworkDriver.Join",
            json!({"NetworkID": NID, "EndpointID": EID, "SandboxKey": "/x"}),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body["Err"],
            format!("network {} is a macvlan network: its calls go to the underlay-macvlan driver, not underlay-ipvlan", &NID[..12])
        );
        assert_eq!(state(fx._dir.path()), before);
    }

    #[test]
    fn activation_capabilities_and_unknown_methods() {
        let fx = fx();
        // Docker sends no body (and no Content-Type) for these.
        let r = call(&fx, Role::MACVLAN, "Plugin.Activate", Value::Null);
        assert_eq!(r, Reply::ok(json!({"Implements": ["NetworkDriver"]})));
        let r = call(&fx, Role::IPAM, "Plugin.Activate", Value::Null);
        assert_eq!(r.body, json!({"Implements": ["IpamDriver"]}));
        let both = Role {
            network: Some(Driver::Ipvlan),
            ipam: true,
        };
        let r = call(&fx, both, "Plugin.Activate", Value::Null);
        assert_eq!(
            r.body,
            json!({"Implements": ["NetworkDriver", "IpamDriver"]})
        );
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.GetCapabilities",
            Value::Null,
        );
        assert_eq!(r.body["Scope"], "local");
        let r = call(&fx, Role::IPAM, "IpamDriver.GetCapabilities", Value::Null);
        assert_eq!(r.body["RequiresRequestReplay"], false);
        assert_eq!(r.body["RequiresMACAddress"], true);
        // Not implemented: 404, which Docker reads as "not supported".
        let r = call(&fx, Role::MACVLAN, "NetworkDriver.Frobnicate", Value::Null);
        assert_eq!(r.status, 404);
        assert_eq!(
            r.body["Err"],
            "underlay does not implement NetworkDriver.Frobnicate"
        );
        assert_eq!(
            call(&fx, Role::MACVLAN, "IpamDriver.RequestPool", json!({})).status,
            404
        );
        assert_eq!(
            call(&fx, Role::IPAM, "NetworkDriver.Join", json!({})).status,
            404
        );
        let r = handle(
            &fx.engine,
            Role::MACVLAN,
            "NetworkDriver.Join",
            b"{not json",
        )
        .0;
        assert_eq!(r.status, 400);
        assert!(r.body["Err"]
            .as_str()
            .unwrap()
            .starts_with("cannot decode the NetworkDriver.Join request"));
    }

    #[test]
    fn a_container_through_the_network_driver() {
        let fx = fx();
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0", "com.docker.network.driver.mtu": "1400"})),
        );
        assert_eq!(r, Reply::ok(json!({})));
        let net = fx.engine.network(NID).unwrap();
        assert_eq!(net.name, "docker-b4c9f0f4d513");
        assert_eq!(net.mtu, Some(1400));
        assert_eq!(
            net.ipam.pools()[0].aux()["router2"].to_string(),
            "172.16.86.2"
        );
        // Docker's replay after its restart.
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0", "com.docker.network.driver.mtu": "1400"})),
        );
        assert_eq!(r.status, 200);

        let ep = json!({"NetworkID": NID, "EndpointID": EID,
            "Interface": {"Address": "172.16.86.10/24", "AddressIPv6": "", "MacAddress": ""},
            "Options": {"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []}});
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateEndpoint",
            ep.clone(),
        );
        let mac = r.body["Interface"]["MacAddress"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(mac.len(), 17);
        let join = json!({"NetworkID": NID, "EndpointID": EID, "SandboxKey": "/var/run/docker/netns/x", "Options": {}});
        let r = call(&fx, Role::MACVLAN, "NetworkDriver.Join", join);
        assert_eq!(r.status, 200, "{:?}", r.body);
        let src = r.body["InterfaceName"]["SrcName"].as_str().unwrap();
        assert_eq!(r.body["InterfaceName"]["DstPrefix"], "eth");
        assert_eq!(r.body["Gateway"], "172.16.86.1");
        assert_eq!(r.body["GatewayIPv6"], "");
        assert_eq!(r.body["StaticRoutes"], json!([]));
        assert_eq!(r.body["DisableGatewayService"], true);
        let link = fx.nl.link_by_name(&NsRef::Host, src).unwrap().unwrap();
        assert_eq!((link.mtu, link.mac.unwrap().to_string()), (1400, mac));
        for m in [
            "ProgramExternalConnectivity",
            "EndpointOperInfo",
            "RevokeExternalConnectivity",
            "Leave",
            "DeleteEndpoint",
        ] {
            let r = call(
                &fx,
                Role::MACVLAN,
                &format!("NetworkDriver.{m}"),
                json!({"NetworkID": NID, "EndpointID": EID}),
            );
            assert_eq!(r.status, 200, "{m}: {:?}", r.body);
        }
        assert!(fx.nl.link_by_name(&NsRef::Host, src).unwrap().is_none());
        assert!(fx.engine.network(NID).unwrap().endpoints.is_empty());
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.DeleteNetwork",
            json!({"NetworkID": NID}),
        );
        assert_eq!(r.status, 200);
        assert!(fx.engine.networks().unwrap().is_empty());
    }

    #[test]
    fn refusals_carry_the_engines_words() {
        let fx = fx();
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0", "macvlan_mode": "bogus"})),
        );
        assert_eq!(r.status, 400);
        assert_eq!(
            r.body,
            json!({"Err": "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default"})
        );
        let r = call(
            &fx,
            Role::IPVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0.4095"})),
        );
        assert_eq!(
            r.body["Err"],
            "vlan id must be between 1-4094, received: 4095"
        );
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.CreateNetwork",
            create_net(json!({"parent": "eth0", "macvlan_mode": "bridge", "ipvlan_mode": "l2"})),
        );
        assert!(r.body["Err"]
            .as_str()
            .unwrap()
            .starts_with("unknown option \"ipvlan_mode\" for the macvlan driver"));
        let r = call(
            &fx,
            Role::MACVLAN,
            "NetworkDriver.Join",
            json!({"NetworkID": NID, "EndpointID": EID}),
        );
        assert_eq!(r.status, 500);
        assert!(
            r.body["Err"].as_str().unwrap().contains("not found"),
            "{:?}",
            r.body
        );
        assert!(fx.engine.networks().unwrap().is_empty());
        // A network id Docker never made cannot be named: its ids are 64 hex digits.
        let mut bad = create_net(json!({"parent": "eth0"}));
        bad["NetworkID"] = json!("x");
        assert!(
            call(&fx, Role::MACVLAN, "NetworkDriver.CreateNetwork", bad).body["Err"]
                .as_str()
                .unwrap()
                .starts_with("invalid network id")
        );
    }

    #[test]
    fn a_network_as_dockers_api_shows_it_makes_the_request_createnetwork_made() {
        let net = json!({
            "Name": "pub_net", "Id": NID, "Driver": "underlay-macvlan", "EnableIPv6": true,
            "Internal": false,
            "IPAM": {"Driver": "default", "Options": {}, "Config": [
                {"Subnet": "172.16.86.0/24", "Gateway": "172.16.86.1",
                 "AuxiliaryAddresses": {"router2": "172.16.86.2"}},
                {"Subnet": "2001:db8:abc8::/64"}]},
            "Options": {"parent": "eth0", "com.docker.network.driver.mtu": "1400"},
        });
        let r = create_request_from_inspect(&net).unwrap();
        assert_eq!(r.id.as_deref(), Some(NID));
        assert_eq!(r.driver, "macvlan");
        assert!(r.ipv6 && !r.internal && r.external_ipam);
        assert_eq!(r.subnets, vec!["172.16.86.0/24", "2001:db8:abc8::/64"]);
        assert_eq!(r.gateways, vec!["172.16.86.1"]);
        assert_eq!(
            r.aux_addresses,
            vec![("router2".into(), "172.16.86.2".into())]
        );
        assert!(r.options.contains(&("parent".into(), "eth0".into())));
        assert!(r.options.contains(&("mtu".into(), "1400".into())));
        // Docker's own drivers are not underlay's to make.
        let mut other = net.clone();
        other["Driver"] = json!("macvlan");
        assert!(create_request_from_inspect(&other).is_none());
    }

    #[test]
    fn addresses_through_the_ipam_driver() {
        let fx = fx();
        let r = call(
            &fx,
            Role::IPAM,
            "IpamDriver.GetDefaultAddressSpaces",
            Value::Null,
        );
        assert_eq!(r.body["LocalDefaultAddressSpace"], "LocalDefault");
        let r = call(
            &fx,
            Role::IPAM,
            "IpamDriver.RequestPool",
            json!({"AddressSpace": "LocalDefault", "Pool": "172.16.87.0/24", "SubPool": "172.16.87.128/25", "Options": {}, "V6": false}),
        );
        assert_eq!(r.body["Pool"], "172.16.87.0/24");
        let pool = r.body["PoolID"].as_str().unwrap().to_string();
        let ask = |addr: &str, opts: Value| {
            call(
                &fx,
                Role::IPAM,
                "IpamDriver.RequestAddress",
                json!({"PoolID": pool, "Address": addr, "Options": opts}),
            )
        };
        let r = ask(
            "172.16.87.1",
            json!({"RequestAddressType": "com.docker.network.gateway"}),
        );
        assert_eq!(r.body, json!({"Address": "172.16.87.1/24", "Data": {}}));
        assert_eq!(
            ask("172.16.87.129", Value::Null).body["Address"],
            "172.16.87.129/24"
        );
        assert_eq!(ask("", json!({})).body["Address"], "172.16.87.128/24");
        assert_eq!(ask("", json!({})).body["Address"], "172.16.87.130/24");
        let r = ask("172.16.87.129", Value::Null);
        assert_eq!(
            (r.status, r.body["Err"].as_str().unwrap()),
            (409, "address 172.16.87.129 is already in use")
        );
        // An endpoint's request comes with its MAC: asked again (Docker's answer lost), the
        // same address; another endpoint is refused; a MAC that is not one is named.
        let mac = |m: &str| json!({"com.docker.network.endpoint.macaddress": m});
        assert_eq!(
            ask("172.16.87.140", mac("02:42:AC:10:57:8C")).body["Address"],
            "172.16.87.140/24"
        );
        assert_eq!(
            ask("172.16.87.140", mac("02:42:ac:10:57:8c")).body["Address"],
            "172.16.87.140/24"
        );
        assert_eq!(ask("172.16.87.140", mac("02:42:ac:10:57:8d")).status, 409);
        let r = ask("", mac("02:42:zz"));
        assert_eq!(
            (r.status, r.body["Err"].as_str().unwrap()),
            (400, "invalid MAC address \"02:42:zz\": expected six hexadecimal bytes, e.g. 02:42:ac:10:56:02")
        );
        // --ipam-opt scope: local is this host's pool; global needs a cluster store.
        for (scope, status) in [("local", 200), ("global", 400), ("swarm", 400)] {
            let r = call(
                &fx,
                Role::IPAM,
                "IpamDriver.RequestPool",
                json!({"AddressSpace": "LocalDefault", "Pool": "172.16.88.0/24", "Options": {"scope": scope}}),
            );
            assert_eq!(r.status, status, "{scope}: {r:?}");
            if status == 200 {
                let id = json!({"PoolID": r.body["PoolID"]});
                assert_eq!(
                    call(&fx, Role::IPAM, "IpamDriver.ReleasePool", id).status,
                    200
                );
            }
            if scope == "swarm" {
                assert_eq!(r.body["Err"], "invalid --ipam-opt scope=swarm: expected scope=local (this host's own pool) or scope=global (shared by every host through the cluster store)");
            }
            if scope == "global" {
                assert!(
                    r.body["Err"].as_str().unwrap().contains("--cluster-store"),
                    "{r:?}"
                );
            }
        }
        let r = call(
            &fx,
            Role::IPAM,
            "IpamDriver.ReleaseAddress",
            json!({"PoolID": pool, "Address": "172.16.87.128"}),
        );
        assert_eq!(r.status, 200);
        assert_eq!(ask("", json!({})).body["Address"], "172.16.87.128/24");
        let r = call(
            &fx,
            Role::IPAM,
            "IpamDriver.RequestPool",
            json!({"AddressSpace": "LocalDefault", "Pool": "", "V6": false}),
        );
        assert_eq!(r.status, 400);
        assert!(r.body["Err"]
            .as_str()
            .unwrap()
            .contains("does not pick subnets"));
        let r = call(
            &fx,
            Role::IPAM,
            "IpamDriver.ReleasePool",
            json!({"PoolID": pool}),
        );
        assert_eq!(r.status, 200);
        assert!(fx.engine.pools().list().unwrap().is_empty());
    }
}
