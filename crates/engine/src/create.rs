//! `network create`: validate everything first, record intent, make the parent, commit.

use std::collections::BTreeMap;

use netlink::{LinkKind, MacvlanMode, NewLink, NsRef};

use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::{ids, Engine};

/// Maximum length of a Linux interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// A `network create` request as every front door hands it over: strings as the user typed them.
/// A global network's definition in the cluster store is one (what describes this request
/// alone: the door, an id, what it replaces, are not kept).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CreateRequest {
    pub name: String,
    /// `macvlan` (default when empty) or `ipvlan`.
    pub driver: String,
    pub subnets: Vec<String>,
    pub gateways: Vec<String>,
    pub ip_ranges: Vec<String>,
    /// `--aux-address NAME=IP`, split.
    pub aux_addresses: Vec<(String, String)>,
    pub ipv6: bool,
    pub internal: bool,
    pub labels: Vec<(String, String)>,
    /// `-o KEY=VALUE`, split.
    pub options: Vec<(String, String)>,
    /// First and last address dynamic allocation may use, per subnet (`range_bounds[i]` goes
    /// with `subnets[i]`): CNI host-local's `rangeStart`/`rangeEnd`.
    pub range_bounds: Vec<(Option<String>, Option<String>)>,
    /// `(destination, gateway)` routes every endpoint gets instead of default routes via the
    /// gateways (CNI's `ipam.routes`); a missing gateway means the family's gateway.
    pub routes: Option<Vec<(String, Option<String>)>>,
    /// No subnets: addresses come with each connect from another IPAM, or there are none.
    pub external_ipam: bool,
    /// The `parent` is a link in each container's own namespace (CNI's `linkInContainer`).
    pub parent_in_container: bool,
    /// The network's id when the caller has one already (Docker's NetworkID: 64 lowercase
    /// hex digits); otherwise a new one is made.
    #[serde(skip)]
    pub id: Option<String>,
    /// The runtime that manages the network through its own API (Docker).
    pub owner: Option<Owner>,
    /// The id of a network of the same name, without endpoints, that this one replaces (a
    /// CNI configuration that changed). It goes in the same locked step, and only once every
    /// check of the new one has passed: a refused request leaves it as it was.
    #[serde(skip)]
    pub replaces: Option<String>,
    /// `--ipam-opt KEY=VALUE`, split: recorded for the IPAM driver.
    pub ipam_options: Vec<(String, String)>,
    /// `--attachable`: recorded.
    pub attachable: bool,
    /// The door the request came through: messages name its fields its way.
    #[serde(skip)]
    pub door: crate::Door,
    /// `global`: the network is defined in the cluster store for every node (`--scope`).
    pub scope: crate::cluster::Scope,
}

/// What `create` hands back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub id: String,
    /// Non-fatal remarks for the user (e.g. IPv6 enabled because an IPv6 subnet was given).
    pub warnings: Vec<String>,
}

const MACVLAN_OPTIONS: &[&str] = &["parent", "macvlan_mode", "mtu"];
const IPVLAN_OPTIONS: &[&str] = &["parent", "ipvlan_mode", "ipvlan_flag", "mtu"];

/// Check an interface name the way the kernel will (dev_valid_name), with a clear message.
pub fn check_ifname(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if name.len() > IFNAME_MAX {
        return Err(Error::invalid(format!(
            "invalid {what} {name:?}: interface names are at most {IFNAME_MAX} bytes, this one has {}",
            name.len()
        )));
    }
    if name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace())
    {
        return Err(Error::invalid(format!(
            "invalid {what} {name:?}: interface names cannot be '.' or '..' or contain '/', ':' or whitespace"
        )));
    }
    Ok(())
}

/// `name.vid` → (base, vid) with Docker's messages.
fn parse_vlan(parent: &str) -> Result<(String, u16)> {
    let parts: Vec<&str> = parent.split('.').collect();
    if parts.len() != 2 || parts[0].is_empty() {
        return Err(Error::invalid(format!(
            "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received {parent}"
        )));
    }
    let vid: i64 = parts[1]
        .parse()
        .ok()
        // One spelling per VLAN: eth0.050 or eth0.+50 would be a second link for VLAN 50.
        .filter(|v: &i64| v.to_string() == parts[1])
        .ok_or_else(|| {
            Error::invalid(format!(
                "unable to parse a valid vlan id from: {parent} (ex. eth0.10 for vlan 10, written without leading zeros or sign)"
            ))
        })?;
    if !(1..=4094).contains(&vid) {
        return Err(Error::invalid(format!(
            "vlan id must be between 1-4094, received: {vid}"
        )));
    }
    Ok((parts[0].to_string(), vid as u16))
}

/// Parsed and checked `-o` options.
pub(crate) struct Options {
    mode: Mode,
    parent: Option<String>,
    mtu: Option<u32>,
}

fn parse_options(driver: Driver, opts: &[(String, String)]) -> Result<Options> {
    let valid = match driver {
        Driver::Macvlan => MACVLAN_OPTIONS,
        Driver::Ipvlan => IPVLAN_OPTIONS,
    };
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for (k, v) in opts {
        if !valid.contains(&k.as_str()) {
            return Err(Error::invalid(format!(
                "unknown option {k:?} for the {driver} driver: valid options are {}",
                valid.join(", ")
            )));
        }
        if let Some(prev) = seen.insert(k, v) {
            if prev != v {
                return Err(Error::invalid(format!(
                    "option {k} given twice with different values: {prev:?} and {v:?}"
                )));
            }
        }
    }
    let mode = match driver {
        Driver::Macvlan => {
            let m = seen.get("macvlan_mode").copied().unwrap_or("bridge");
            let mode = parse_macvlan_mode(m).ok_or_else(|| {
                Error::invalid(format!(
                    "requested macvlan mode '{m}' is not valid, 'bridge' mode is the macvlan driver default"
                ))
            })?;
            Mode::Macvlan { mode }
        }
        Driver::Ipvlan => {
            let m = seen.get("ipvlan_mode").copied().unwrap_or("l2");
            let mode = parse_ipvlan_mode(m).ok_or_else(|| {
                Error::invalid(format!(
                    "requested ipvlan mode '{m}' is not valid, 'l2' mode is the ipvlan driver default"
                ))
            })?;
            let f = seen.get("ipvlan_flag").copied().unwrap_or("bridge");
            let flag = parse_ipvlan_flag(f).ok_or_else(|| {
                Error::invalid(format!(
                    "requested ipvlan flag '{f}' is not valid, 'bridge' is the ipvlan driver default"
                ))
            })?;
            Mode::Ipvlan { mode, flag }
        }
    };
    let parent = seen
        .get("parent")
        .map(|p| p.to_string())
        .filter(|p| !p.is_empty());
    let mtu = match seen.get("mtu") {
        None => None,
        Some(m) => {
            let v: u32 = m.parse().ok().filter(|v| (68..=65535).contains(v)).ok_or_else(|| {
                Error::invalid(format!(
                    "invalid mtu {m:?}: expected a number between 68 and 65535 (and at most the parent's MTU)"
                ))
            })?;
            Some(v)
        }
    };
    Ok(Options { mode, parent, mtu })
}

/// `(destination, gateway)` strings into routes, each gateway of its destination's family.
pub(crate) fn parse_routes(routes: &[(String, Option<String>)]) -> Result<Vec<RouteSpec>> {
    routes
        .iter()
        .map(|(dst, gw)| {
            let d: ipnet::IpNet = dst.parse().map_err(|_| {
                Error::invalid(format!(
                    "invalid route destination {dst:?}: expected a prefix in CIDR notation, e.g. 0.0.0.0/0 or 10.0.0.0/8"
                ))
            })?;
            let g = gw
                .as_deref()
                .map(|g| {
                    g.parse::<std::net::IpAddr>().map_err(|_| {
                        Error::invalid(format!(
                            "invalid gateway {g:?} of route {dst}: expected an IP address"
                        ))
                    })
                })
                .transpose()?;
            if let Some(g) = g {
                if g.is_ipv4() != d.addr().is_ipv4() {
                    return Err(Error::invalid(format!(
                        "invalid route {dst} via {g}: the gateway is not of the destination's family"
                    )));
                }
            }
            Ok(RouteSpec {
                dst: d.trunc(),
                gw: g,
            })
        })
        .collect()
}

fn kv_map(what: &str, kvs: &[(String, String)]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for (k, v) in kvs {
        if k.is_empty() {
            return Err(Error::invalid(format!(
                "invalid {what} {k}={v}: expected KEY=VALUE with a non-empty key"
            )));
        }
        m.insert(k.clone(), v.clone());
    }
    Ok(m)
}

pub(crate) fn check_network_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(Error::invalid(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )));
    }
    if name.len() > NETWORK_NAME_MAX {
        return Err(Error::invalid(format!(
            "invalid network name: at most {NETWORK_NAME_MAX} characters, this one has {}",
            name.len()
        )));
    }
    Ok(())
}

/// The driver a request names ("" is macvlan, as Docker's default here).
fn driver_of(name: &str) -> Result<Driver> {
    match name {
        "" | "macvlan" => Ok(Driver::Macvlan),
        "ipvlan" => Ok(Driver::Ipvlan),
        other => Err(Error::invalid(format!(
            "invalid driver {other:?}: underlay provides the macvlan and ipvlan drivers"
        ))),
    }
}

/// The request's pools: subnets with their ranges, gateways and auxiliary addresses, and the
/// CNI range bounds (rangeStart, rangeEnd) of each.
fn pools_of(req: &CreateRequest) -> Result<Vec<ipam::Pool>> {
    let mut pools = ipam::build_pools(
        &req.subnets,
        &req.ip_ranges,
        &req.gateways,
        &req.aux_addresses,
    )?;
    for (i, (start, end)) in req.range_bounds.iter().enumerate() {
        let parse = |what: &str, v: &Option<String>| -> Result<Option<std::net::IpAddr>> {
            v.as_deref()
                .map(|t| {
                    t.parse().map_err(|_| {
                        Error::invalid(format!(
                            "invalid {what} {t:?}: expected an IP address, e.g. 172.16.86.10"
                        ))
                    })
                })
                .transpose()
        };
        let (start, end) = (parse("rangeStart", start)?, parse("rangeEnd", end)?);
        let pool = pools.get_mut(i).ok_or_else(|| {
            Error::invalid("every rangeStart or rangeEnd must have a corresponding subnet")
        })?;
        *pool = pool.clone().with_bounds(start, end)?;
    }
    Ok(pools)
}

/// The subnets the request must and may have; whether one is IPv6. Warns of IPv6 enabled by
/// a subnet, and of a subnet without a gateway (as Docker 29 has it: no default route, and
/// its first address, usually the LAN's router, handed out like any other).
fn check_subnets(
    req: &CreateRequest,
    pools: &[ipam::Pool],
    warnings: &mut Vec<String>,
) -> Result<bool> {
    // A runtime's network (Docker) knows its subnets, but addresses come with each endpoint.
    if req.external_ipam && !pools.is_empty() && req.owner.is_none() {
        return Err(Error::invalid(
            "a network whose addresses come from another IPAM cannot have subnets of its own",
        ));
    }
    if pools.is_empty() && !req.external_ipam {
        return Err(Error::invalid(
            "a --subnet is required: underlay does not guess subnets on a physical network, e.g. --subnet 172.16.86.0/24 --gateway 172.16.86.1",
        ));
    }
    let has_v6 = pools.iter().any(|p| p.is_v6());
    if req.ipv6 && !has_v6 {
        return Err(Error::invalid(
            "--ipv6 needs an IPv6 --subnet on this network, e.g. --subnet 2001:db8:abc8::/64",
        ));
    }
    if has_v6 && !req.ipv6 {
        warnings.push("IPv6 enabled because an IPv6 --subnet was given".to_string());
    }
    if req.internal || req.owner.is_some() || req.routes.is_some() {
        return Ok(has_v6);
    }
    for p in pools.iter().filter(|p| p.gateway().is_none()) {
        let net = p.subnet().trunc();
        let first = match net {
            ipnet::IpNet::V4(n) => std::net::IpAddr::V4((u32::from(n.network()) + 1).into()),
            ipnet::IpNet::V6(n) => std::net::IpAddr::V6((u128::from(n.network()) + 1).into()),
        };
        if net.contains(&first) {
            warnings.push(format!(
                "no --gateway for subnet {net}: containers get no default route through it, and its first address {first} (often the LAN's router) may be handed out; give --gateway {first}, or --aux-address router={first} to keep it free"
            ));
        }
    }
    Ok(has_v6)
}

/// The network this one replaces (a CNI configuration that changed), if it is still there
/// under this name and has no endpoints.
fn replaced(txn: &dyn store::Snapshot, req: &CreateRequest) -> Result<Option<Network>> {
    let Some(old) = &req.replaces else {
        return Ok(None);
    };
    let old = crate::load_head(txn, old)?
        .filter(|n| n.name == req.name)
        .ok_or_else(|| {
            Error::not_found(format!(
                "network {} (id {old}), which this one was to replace, is gone",
                req.name
            ))
        })?;
    if crate::docs::has_endpoints(txn, &old)? {
        return Err(Error::conflict(format!(
            "network {} cannot be replaced while it has endpoints",
            req.name
        )));
    }
    Ok(Some(old))
}

/// The new network's id (the one asked for, checked, or a fresh one), once its name and id
/// are known to be free (the name of the network it replaces excepted).
fn claim_name_and_id(
    txn: &dyn store::Snapshot,
    req: &CreateRequest,
    replaced: Option<&Network>,
) -> Result<String> {
    if let Some(n) = crate::find_by_name(txn, &req.name)? {
        if replaced.map(|o| &o.id) != Some(&n.id) {
            return Err(Error::network_exists(format!(
                "network with name {} already exists",
                req.name
            )));
        }
    }
    let Some(id) = &req.id else {
        return Ok(ids::network_id());
    };
    if !ids::is_network_id(id) {
        return Err(Error::invalid(format!(
            "invalid network id {id:?}: expected 64 lowercase hex digits"
        )));
    }
    if crate::load(txn, id)?.is_some() {
        return Err(Error::network_exists(format!(
            "network with id {id} already exists"
        )));
    }
    Ok(id.clone())
}

/// A parent inside the container: its name is required, and is no loopback.
fn in_container_parent(driver: Driver, name: Option<&str>) -> Result<Parent> {
    let Some(p) = name else {
        return Err(Error::invalid(
            "a parent inside the container needs its name: set the parent (CNI: \"master\") to the container's link, e.g. eth1",
        ));
    };
    if p == "lo" {
        return Err(Error::invalid(format!(
            "loopback interface is not a valid {driver} parent link"
        )));
    }
    check_ifname("parent interface name", p)?;
    Ok(Parent::InContainer {
        name: p.to_string(),
    })
}

/// The network a request describes, every check that needs neither the store nor the
/// kernel passed: its id, and its parent as this host has it, still to be worked out (a
/// network without parent is internal, and an internal one has no parent: both are on a
/// dummy link, as in Docker); the options parsed; warnings.
pub(crate) fn described(req: &CreateRequest) -> Result<(Network, Options, Vec<String>)> {
    let driver = driver_of(&req.driver)?;
    check_network_name(&req.name)?;
    let opts = parse_options(driver, &req.options)?;
    let labels = kv_map("label", &req.labels)?;
    let options = kv_map("option", &req.options)?;
    let pools = pools_of(req)?;
    let routes = req.routes.as_deref().map(parse_routes).transpose()?;
    let mut warnings = Vec::new();
    let has_v6 = check_subnets(req, &pools, &mut warnings)?;
    let no_parent = opts.parent.is_none() && !req.parent_in_container;
    let net = Network {
        id: String::new(),
        name: req.name.clone(),
        created: ids::now_rfc3339(),
        mode: opts.mode,
        parent: match &opts.parent {
            Some(name) if !req.internal => Parent::Existing { name: name.clone() },
            _ => dummy_parent(driver, ""),
        },
        mtu: opts.mtu,
        internal: req.internal || no_parent,
        enable_ipv6: req.ipv6 || has_v6,
        labels,
        options,
        ipam: ipam::NetworkIpam::new(pools),
        routes,
        external_ipam: req.external_ipam,
        owner: req.owner,
        ipam_driver: None,
        ipam_options: req.ipam_options.iter().cloned().collect(),
        attachable: req.attachable,
        scope: req.scope,
        definition_version: None,
        endpoints: BTreeMap::new(),
        legacy: false,
        state: NetState::Creating,
    };
    Ok((net, opts, warnings))
}

/// The dummy link a network without parent gets (named by the network's id).
fn dummy_parent(driver: Driver, id: &str) -> Parent {
    Parent::Dummy {
        name: format!("{}{}", driver.dummy_prefix(), &id[..12.min(id.len())]),
    }
}

/// The longest network name: its index entry is named by it (as hex), and a file name has at
/// most 255 bytes.
pub const NETWORK_NAME_MAX: usize = 120;

impl Engine {
    /// Create a network. Every check happens before anything changes; a kernel failure rolls
    /// back what was made (the parent link) and the store record.
    pub fn create_network(&self, req: &CreateRequest) -> Result<Created> {
        self.create(req, None)
    }

    /// Create a network; `adopting`: this node's part of a global network another node
    /// defined (its definition's version and creation time), else a network of this node's
    /// own, published in the cluster store when global.
    pub(crate) fn create(
        &self,
        req: &CreateRequest,
        adopting: Option<(u64, String)>,
    ) -> Result<Created> {
        if req.scope == crate::cluster::Scope::Global {
            self.cluster("a network of scope global")?;
        }
        let (mut net, opts, mut warnings) = described(req)?;
        let driver = net.driver();
        if driver == Driver::Ipvlan {
            self.probe_ipvlan()?;
        }
        let mut txn = self.store.begin()?;
        let replaced = replaced(&*txn, req)?;
        net.id = claim_name_and_id(&*txn, req, replaced.as_ref())?;
        let id = net.id.clone();
        net.parent = match &opts.parent {
            _ if req.parent_in_container => in_container_parent(driver, opts.parent.as_deref())?,
            None => dummy_parent(driver, &id),
            Some(given) if req.internal => {
                warnings.push(format!(
                    "an internal network is isolated on a dummy link of its own, as in Docker: parent {given} is not used"
                ));
                dummy_parent(driver, &id)
            }
            Some(given) => {
                let (parent, renamed) = self.host_parent(&*txn, req, driver, given)?;
                if let Some(name) = renamed {
                    warnings.push(format!(
                        "parent {given} is an alternative name of {name}: using {name}"
                    ));
                    net.options.insert("parent".to_string(), name);
                }
                parent
            }
        };
        let mut existing = crate::on_parent(&*txn, &net.parent.index_key())?;
        existing.retain(|n| replaced.as_ref().map(|o| &o.id) != Some(&n.id));
        if !net.parent.in_container() {
            // Each container has its own link of that name: nothing is shared on the host.
            self.check_parent_sharing(&existing, &opts.mode, &net.parent, &net.ipam)?;
        }
        self.check_mtu(opts.mtu, &net.parent)?;
        if let Some((v, created)) = adopting {
            (net.definition_version, net.created) = (Some(v), created);
        }
        let publish =
            net.scope == crate::cluster::Scope::Global && net.definition_version.is_none();
        if publish {
            net.definition_version = Some(self.publish(req, &net)?);
        }
        self.record_and_make(&mut *txn, net.clone(), replaced.as_ref(), &existing)
            .inspect_err(|_| {
                if publish {
                    self.unpublish_new(req, &net);
                }
            })?;
        Ok(Created { id, warnings })
    }

    /// Write the intent, make the parent, record the network ready; a failure undoes each and
    /// brings back what was replaced. Write-ahead: the intent (including "we will create the
    /// parent") is durable before the kernel is touched, so restore can undo a create cut off
    /// at any point. The index goes first, so the name is taken from the first write on.
    fn record_and_make(
        &self,
        txn: &mut dyn store::Txn,
        mut net: Network,
        replaced: Option<&Network>,
        existing: &[Network],
    ) -> Result<()> {
        if let Some(old) = replaced {
            if old.parent.index_key() == net.parent.index_key() {
                // The new network takes the parent over (underlay's ownership of it too).
                crate::docs::delete_all(txn, old)?;
                crate::index_remove(txn, old)?;
            } else {
                self.remove_document(txn, old.clone())?;
            }
        }
        crate::index_add(txn, &net)?;
        let undo = |txn: &mut dyn store::Txn, net: &Network| {
            self.release_parent(existing, net);
            let _ = crate::docs::delete_all(txn, net);
            let _ = crate::index_remove(txn, net);
            // What was replaced comes back (restore remakes a parent of its that went).
            if let Some(old) = replaced {
                let _ = crate::index_add(txn, old);
                let _ = crate::save(txn, old);
            }
        };
        let made = crate::save(txn, &net).and_then(|()| self.ensure_parent(&net));
        let ready = made.and_then(|()| {
            net.state = NetState::Ready;
            crate::save(txn, &net)
        });
        ready.inspect_err(|_| undo(txn, &net))
    }

    /// The parent named on the host: an existing link (found by any of its names: the name
    /// it goes by is returned when it differs), or an 802.1Q sub-interface to make on an
    /// existing one.
    fn host_parent(
        &self,
        txn: &dyn store::Snapshot,
        req: &CreateRequest,
        driver: Driver,
        given: &str,
    ) -> Result<(Parent, Option<String>)> {
        check_ifname("parent interface name", given)?;
        let found = self.link(&NsRef::Host, given)?;
        // The kernel also finds a link by an alternative name: one link, one name in the
        // state, so that every network on it is seen as on the same parent.
        let renamed = found
            .as_ref()
            .filter(|l| l.name != given)
            .map(|l| l.name.clone());
        let p = renamed.as_deref().unwrap_or(given);
        // (By any of its names.)
        if p == "lo" {
            return Err(Error::invalid(format!(
                "loopback interface is not a valid {driver} parent link"
            )));
        }
        let not_found = |name: &str, hint: &str| {
            Error::invalid(format!(
                "{} interface was not found on the host: {name}{hint}",
                req.door.name(crate::Field::Parent)
            ))
            .on(crate::Field::Parent)
        };
        let parent = match (found, parse_vlan(p)) {
            (Some(_), Ok((base, vid))) if p.contains('.') => {
                // A VLAN link another underlay network made stays ours to manage.
                let created = crate::on_parent(txn, p)?.iter().any(
                    |n| matches!(&n.parent, Parent::Vlan { name, created: true, .. } if name == p),
                );
                Parent::Vlan {
                    name: p.to_string(),
                    base,
                    vid,
                    created,
                }
            }
            (Some(_), _) => Parent::Existing {
                name: p.to_string(),
            },
            (None, vlan) if p.contains('.') => {
                let (base, vid) = vlan?;
                if self.link(&NsRef::Host, &base)?.is_none() {
                    return Err(not_found(&base, ""));
                }
                Parent::Vlan {
                    name: p.to_string(),
                    base,
                    vid,
                    created: true,
                }
            }
            (None, _) => {
                return Err(not_found(
                    p,
                    " (a name like eth0.10 makes 802.1Q sub-interface 10 of eth0)",
                ))
            }
        };
        Ok((parent, renamed))
    }

    /// An MTU above the parent's is refused (a parent to be made is checked against the link
    /// it is made on; a dummy and a parent inside the container are the kernel's to check).
    fn check_mtu(&self, mtu: Option<u32>, parent: &Parent) -> Result<()> {
        let Some(mtu) = mtu else { return Ok(()) };
        let limit = match parent {
            // Checked by the kernel at attach, against the container's link.
            Parent::InContainer { .. } => None,
            Parent::Vlan { base, .. } if !self.link_exists(parent.name())? => {
                self.link(&NsRef::Host, base)?.map(|l| l.mtu)
            }
            Parent::Dummy { .. } => None,
            _ => self.link(&NsRef::Host, parent.name())?.map(|l| l.mtu),
        };
        match limit {
            Some(limit) if mtu > limit => Err(Error::invalid(format!(
                "invalid mtu {mtu}: it exceeds the MTU {limit} of parent interface {}",
                parent.name()
            ))),
            _ => Ok(()),
        }
    }

    /// The kernel's rules and Docker's about networks sharing a parent, checked up front.
    fn check_parent_sharing(
        &self,
        existing: &[Network],
        mode: &Mode,
        parent: &Parent,
        ipam: &ipam::NetworkIpam,
    ) -> Result<()> {
        for other in existing
            .iter()
            .filter(|n| n.parent.name() == parent.name() && n.state != NetState::Removing)
        {
            match (mode, &other.mode) {
                (Mode::Macvlan { mode: a }, Mode::Macvlan { mode: b }) => {
                    if *a == MacvlanMode::Passthru {
                        return Err(Error::conflict(format!(
                            "cannot use mode passthru, macvlan network {} is already using parent interface {}",
                            other.name,
                            parent.name()
                        )));
                    }
                    if *b == MacvlanMode::Passthru {
                        return Err(Error::conflict(format!(
                            "macvlan network {} is already using parent interface {} in mode passthru",
                            other.name,
                            parent.name()
                        )));
                    }
                }
                (Mode::Ipvlan { mode: a, .. }, Mode::Ipvlan { mode: b, .. }) => {
                    if a != b {
                        return Err(Error::conflict(format!(
                            "ipvlan network {} already uses parent interface {} in mode {}: the kernel keeps one ipvlan mode per parent, so mode {} cannot be used there",
                            other.name,
                            parent.name(),
                            ipvlan_mode_name(*b),
                            ipvlan_mode_name(*a)
                        )));
                    }
                }
                (a, b) => {
                    return Err(Error::conflict(format!(
                        "{} network {} already uses parent interface {}: a parent cannot carry macvlan and ipvlan links at once, so a {} network cannot use it",
                        b.driver(),
                        other.name,
                        parent.name(),
                        a.driver()
                    )));
                }
            }
            for mine in ipam.pools() {
                for theirs in other.ipam.pools() {
                    if ipam::pools_overlap(&mine.subnet(), &theirs.subnet()) {
                        return Err(Error::conflict(format!(
                            "subnet {} overlaps with subnet {} of network {} on the same parent interface {}: networks on one parent share a layer-2 segment (overlapping subnets on different parents are fine)",
                            mine.subnet(),
                            theirs.subnet(),
                            other.name,
                            parent.name()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Make the parent if it is ours to make and missing; bring it up.
    pub(crate) fn ensure_parent(&self, net: &Network) -> Result<()> {
        let host = NsRef::Host;
        match &net.parent {
            Parent::InContainer { .. } => Ok(()),
            Parent::Existing { name } => {
                if !self.link_exists(name)? {
                    return Err(Error::not_found(format!(
                        "the requested parent interface {name} was not found on the host"
                    )));
                }
                Ok(())
            }
            Parent::Vlan {
                name, base, vid, ..
            } => {
                if self.link_exists(name)? {
                    return Ok(());
                }
                let Some(base_link) = self.link(&host, base)? else {
                    return Err(Error::not_found(format!(
                        "-o parent interface was not found on the host: {base}"
                    )));
                };
                self.create_parent(
                    name,
                    LinkKind::Vlan { id: *vid },
                    Some(base_link.index),
                    &format!("failed to create {name} vlan link"),
                    "this kernel lacks 802.1Q VLAN support: CONFIG_VLAN_8021Q / module 8021q",
                )
            }
            Parent::Dummy { name } => {
                if self.link_exists(name)? {
                    return Ok(());
                }
                self.create_parent(
                    name,
                    LinkKind::Dummy,
                    None,
                    &format!("failed to create dummy parent link {name}"),
                    "this kernel lacks dummy link support: CONFIG_DUMMY / module dummy; a network without a parent and an internal network are on a dummy link of their own: give -o parent=IFACE without --internal instead",
                )
            }
        }
    }

    /// Create a parent link in the host namespace and bring it up. `failed` starts the error
    /// message; `missing_feature` is added when the kernel does not know the link kind.
    fn create_parent(
        &self,
        name: &str,
        kind: LinkKind,
        parent_index: Option<u32>,
        failed: &str,
        missing_feature: &str,
    ) -> Result<()> {
        let req = NewLink {
            name: name.to_string(),
            kind,
            parent_index,
            target_ns: None,
            mac: None,
            mtu: None,
            up: true,
        };
        self.nl.link_add(&NsRef::Host, &req).map_err(|e| {
            let mut msg = format!("{failed}: {}", kernel_reason(&e));
            if e.is_unsupported() {
                msg.push_str(&format!(" ({missing_feature})"));
            }
            Error::kernel_from(msg, e)
        })?;
        self.set_up(name)
    }

    fn set_up(&self, name: &str) -> Result<()> {
        let link = self
            .link(&NsRef::Host, name)?
            .ok_or_else(|| Error::kernel(format!("link {name} vanished right after creation")))?;
        if link.up {
            return Ok(());
        }
        let change = netlink::LinkChange {
            up: Some(true),
            ..Default::default()
        };
        self.nl
            .link_set(&NsRef::Host, link.index, &change)
            .map_err(|e| {
                Error::kernel_from(
                    format!(
                        "failed to enable {name} the {} parent link {}",
                        "macvlan",
                        kernel_reason(&e)
                    ),
                    e,
                )
            })
    }

    /// Delete the parent if underlay owns it and no other network (in `others`) uses it.
    /// Best effort: used on rollback and removal; a failure is returned for reporting.
    pub(crate) fn release_parent(&self, others: &[Network], net: &Network) -> Option<String> {
        if !net.parent.owned() {
            return None;
        }
        let name = net.parent.name();
        let shared = others
            .iter()
            .any(|n| n.id != net.id && n.parent.name() == name);
        if shared {
            return None;
        }
        match self.link(&NsRef::Host, name) {
            Ok(Some(link)) => match self.nl.link_del(&NsRef::Host, link.index) {
                Ok(()) => None,
                Err(e) if e.is_not_found() => None,
                Err(e) => Some(format!(
                    "could not delete parent link {name}: {}",
                    kernel_reason(&e)
                )),
            },
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        }
    }

    /// Whether this kernel makes ipvlan links, asked where nothing of the host's is touched:
    /// an ipvlan on a veth in a throwaway namespace (it goes with the namespace). Refused at
    /// create, naming the missing feature, rather than at the first connect. Only the kernel's
    /// "unsupported" counts: any other trouble with the probe leaves the answer to the connect.
    fn probe_ipvlan(&self) -> Result<()> {
        let Ok(probe_ns) = self.nl.ns_new() else {
            return Ok(());
        };
        let ns = probe_ns.ns_ref();
        let _scope = netlink::NsScope::new(&*self.nl, &ns);
        let veth = NewLink {
            name: "ulprobe0".into(),
            kind: LinkKind::Veth {
                peer: "ulprobe1".into(),
                peer_ns: None,
            },
            parent_index: None,
            target_ns: None,
            mac: None,
            mtu: None,
            up: false,
        };
        if self.nl.link_add(&ns, &veth).is_err() {
            return Ok(());
        }
        let Ok(Some(lower)) = self.nl.link_index(&ns, "ulprobe0") else {
            return Ok(());
        };
        let probe = NewLink {
            name: "ulprobe2".into(),
            kind: LinkKind::Ipvlan {
                mode: netlink::IpvlanMode::L2,
                flag: netlink::IpvlanFlag::Bridge,
            },
            parent_index: Some(lower),
            ..veth
        };
        match self.nl.link_add(&ns, &probe) {
            Err(e) if e.is_unsupported() => Err(Error::invalid(
                "-d ipvlan: this kernel lacks ipvlan support (CONFIG_IPVLAN / module ipvlan): use -d macvlan, or a kernel that has it",
            )),
            _ => Ok(()),
        }
    }

    pub(crate) fn link(&self, ns: &NsRef, name: &str) -> Result<Option<netlink::Link>> {
        self.nl.link_by_name(ns, name).map_err(|e| {
            Error::kernel_from(
                format!("cannot look up link {name}: {}", kernel_reason(&e)),
                e,
            )
        })
    }

    pub(crate) fn link_exists(&self, name: &str) -> Result<bool> {
        Ok(self.link(&NsRef::Host, name)?.is_some())
    }

    /// The host link of the IPv4 (else IPv6) default route, as CNI's reference plugins pick
    /// a `master` when none is given.
    pub fn default_route_link(&self) -> Result<Option<String>> {
        let routes = self.nl.routes(&NsRef::Host).map_err(|e| {
            Error::kernel_from(
                format!("cannot list the host's routes: {}", kernel_reason(&e)),
                e,
            )
        })?;
        let mut defaults: Vec<&netlink::Route> =
            routes.iter().filter(|r| r.dst.prefix_len() == 0).collect();
        defaults.sort_by_key(|r| r.dst.addr().is_ipv6());
        let Some(route) = defaults.first() else {
            return Ok(None);
        };
        let links = self.nl.links(&NsRef::Host).map_err(|e| {
            Error::kernel_from(
                format!("cannot list the host's links: {}", kernel_reason(&e)),
                e,
            )
        })?;
        Ok(links
            .into_iter()
            .find(|l| l.index == route.oif)
            .map(|l| l.name))
    }

    /// Whether a network with parent `parent` could be used now: the parent exists, or, for an
    /// 802.1Q name like `eth0.50`, its base link does (underlay makes the VLAN link).
    pub fn parent_ready(&self, parent: &str) -> Result<()> {
        if self.link_exists(parent)? {
            return Ok(());
        }
        match parse_vlan(parent) {
            Ok((base, _)) if self.link_exists(&base)? => Ok(()),
            Ok((base, _)) => Err(Error::not_found(format!(
                "parent interface {base} (of the 802.1Q link {parent}) was not found on the host"
            ))),
            Err(_) => Err(Error::not_found(format!(
                "the requested parent interface {parent} was not found on the host"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_names() {
        assert_eq!(parse_vlan("eth0.50").unwrap(), ("eth0".to_string(), 50));
        assert_eq!(
            parse_vlan("eth0.5.0").unwrap_err().to_string(),
            "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received eth0.5.0"
        );
        assert_eq!(
            parse_vlan("eth0.x").unwrap_err().to_string(),
            "unable to parse a valid vlan id from: eth0.x (ex. eth0.10 for vlan 10, written without leading zeros or sign)"
        );
        for other_spelling in ["eth0.050", "eth0.+50", "eth0. 50"] {
            assert!(parse_vlan(other_spelling).is_err(), "{other_spelling}");
        }
        assert_eq!(
            parse_vlan("eth0.4095").unwrap_err().to_string(),
            "vlan id must be between 1-4094, received: 4095"
        );
        assert_eq!(
            parse_vlan("eth0.0").unwrap_err().to_string(),
            "vlan id must be between 1-4094, received: 0"
        );
    }

    #[test]
    fn ifnames() {
        assert!(check_ifname("x", "eth0").is_ok());
        assert!(check_ifname("x", "abcdefghijklmno").is_ok());
        let e = check_ifname("parent interface name", "abcdefghijklmnop").unwrap_err();
        assert!(e.to_string().contains("at most 15 bytes"), "{e}");
        assert!(check_ifname("x", "a/b").is_err());
        assert!(check_ifname("x", "").is_err());
    }
}
