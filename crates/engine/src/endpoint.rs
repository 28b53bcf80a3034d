//! Endpoints: the attach requests and results every door uses, the namespace an attachment
//! is keyed by, the parsing of what a request asks for, and what attach (attach.rs), detach
//! (detach.rs), check (check.rs) and restore share.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use netlink::NsRef;

use crate::docs;
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::{Declared, Door, Engine, Field};

/// What a runtime knows an attachment by: the key that attach, detach and check find it by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachmentKey {
    /// A network namespace, as a user names it: a name under /run/netns, a path to a
    /// namespace file, or a PID (the CLI). One attachment per namespace and network.
    Namespace(String),
    /// A CNI attachment: the runtime's container id and the interface name in it. One
    /// namespace may hold several interfaces of one network.
    Container { id: String, ifname: String },
    /// A runtime's endpoint id (Docker's EndpointID): the runtime moves the link itself.
    Endpoint(String),
}

/// Where an attachment's link goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Made straight into this namespace (a name under /run/netns, a path, or a PID),
    /// addressed and routed there by underlay.
    Namespace(String),
    /// No link yet: the runtime's addresses and a MAC recorded for a later hand-off
    /// (Docker's CreateEndpoint).
    Reserved,
    /// Made on the host for the runtime to move into its sandbox `sandbox` and address
    /// itself from the result (Docker's Join).
    HandOff { sandbox: String },
}

/// An attach as every front door hands it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachRequest {
    /// Network name, id or unique id prefix.
    pub network: String,
    /// What the attachment is known by.
    pub key: AttachmentKey,
    /// Where its link goes.
    pub placement: Placement,
    pub ip: Option<String>,
    pub ip6: Option<String>,
    pub mac: Option<String>,
    /// The interface name in the namespace (default: the first free ethN). A Container key
    /// names it itself.
    pub ifname: Option<String>,
    /// Shown as the container's name (defaults to the namespace as given).
    pub name: Option<String>,
    /// Addresses handed out by another IPAM: for a network created with `external_ipam`, and
    /// a runtime's own addresses of a Reserved placement.
    pub external: Option<ExternalIpam>,
    /// `(destination, gateway)` routes of this attachment instead of the network's (CNI's
    /// `ipam.routes` as the configuration says at this ADD).
    pub routes: Option<Vec<(String, Option<String>)>>,
    /// MTU of this attachment's link instead of the network's (CNI's `mtu` at this ADD; 0:
    /// the parent's).
    pub mtu: Option<u32>,
    /// The network as a runtime's configuration declares it (CNI): made on the first attach,
    /// remade when the configuration changed and nothing is attached, and the attach fails
    /// as if the network did not exist when the network was not made from it.
    pub declared: Option<Box<Declared>>,
    /// Other names of the container on this network (`connect --alias`).
    pub aliases: Vec<String>,
    /// The door the request came through: messages name its fields its way.
    pub door: crate::Door,
}

impl AttachRequest {
    /// Attach the namespace `netns` (keyed by it) to `network`.
    pub fn namespace(network: &str, netns: &str) -> Self {
        Self::new(
            network,
            AttachmentKey::Namespace(netns.to_string()),
            Placement::Namespace(netns.to_string()),
        )
    }

    /// Attach a CNI container's interface `ifname`, in namespace `netns`, to `network`.
    pub fn container(network: &str, id: &str, ifname: &str, netns: &str) -> Self {
        let key = AttachmentKey::Container {
            id: id.to_string(),
            ifname: ifname.to_string(),
        };
        Self::new(network, key, Placement::Namespace(netns.to_string()))
    }

    /// A runtime's endpoint `id` on `network`, reserved or handed off.
    pub fn endpoint(network: &str, id: &str, placement: Placement) -> Self {
        Self::new(network, AttachmentKey::Endpoint(id.to_string()), placement)
    }

    fn new(network: &str, key: AttachmentKey, placement: Placement) -> Self {
        AttachRequest {
            network: network.to_string(),
            key,
            placement,
            ip: None,
            ip6: None,
            mac: None,
            ifname: None,
            name: None,
            external: None,
            routes: None,
            mtu: None,
            declared: None,
            aliases: Vec::new(),
            door: crate::Door::default(),
        }
    }

    /// The namespace the link goes into, as given ("" for the other placements).
    pub(crate) fn netns(&self) -> &str {
        match &self.placement {
            Placement::Namespace(ns) => ns,
            _ => "",
        }
    }

    /// The CNI container the attachment is keyed by.
    pub(crate) fn container_id(&self) -> Option<&str> {
        match &self.key {
            AttachmentKey::Container { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The interface name asked for: a Container key's, else the request's.
    pub(crate) fn ifname(&self) -> Option<&str> {
        match &self.key {
            AttachmentKey::Container { ifname, .. } => Some(ifname),
            _ => self.ifname.as_deref(),
        }
    }
}

/// How much of an attachment a detach undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detach {
    /// All of it: the link, the record, the addresses (CLI disconnect, CNI DEL and GC,
    /// Docker's DeleteEndpoint).
    All,
    /// The link of a hand-off endpoint only; the record and its addresses stay for the next
    /// hand-off (Docker's Leave).
    Link,
    /// All of it, but the kernel's part may be left to [`Engine::finish_detach`] (another
    /// process, or `restore` if that one dies) where nothing waits on it: the caller need
    /// not wait the tens of milliseconds a link deletion takes (CNI DEL).
    Begin,
}

/// What a detach did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detached {
    /// Nothing was attached by the key (a runtime's retry).
    Nothing,
    /// Detached (for `Detach::Link`: the link is gone, the record kept), with remarks for
    /// the user (e.g. addresses left claimed in an unreachable cluster store).
    Done(Box<Endpoint>, Vec<String>),
    /// Begun: the addresses stay reserved until [`Engine::finish_detach`] ends it.
    Pending(PendingDetach),
}

/// A detach whose kernel part is still to be done (see [`Detach::Begin`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingDetach {
    pub network_id: String,
    pub endpoint_id: String,
    pub netns: String,
    #[serde(with = "crate::model::ns_id_pair")]
    pub netns_id: netlink::NsId,
    /// The link's index in the namespace when the detach began; `None` when it was gone.
    pub ifindex: Option<u32>,
    /// The endpoint's document (see `Endpoint::slot`).
    #[serde(default)]
    pub slot: String,
}

/// Addresses another IPAM handed out for one endpoint, with their gateways and routes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExternalIpam {
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub info: ExternalAddrs,
}

/// What an attached endpoint looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    pub network_id: String,
    pub endpoint_id: String,
    pub ifname: String,
    pub mac: Option<netlink::Mac>,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
    /// The routes besides the default ones that the runtime sets itself (a hand-off; a
    /// route without gateway is on-link). Empty where underlay routed the namespace.
    pub routes: Vec<RouteSpec>,
    /// Remarks for the user (a parent without carrier).
    pub warnings: Vec<String>,
}

/// Why a link on `parent` passes no traffic now, if it does not: the macvlan/ipvlan links of a
/// parent that is down or has no carrier show NO-CARRIER, which nothing else reports.
pub(crate) fn parent_down(parent: &netlink::Link, ifname: &str) -> Option<String> {
    let p = &parent.name;
    if !parent.up {
        return Some(format!(
            "parent interface {p} is down: {ifname} is attached but passes no traffic (NO-CARRIER) until {p} is up"
        ));
    }
    if !parent.carrier {
        return Some(format!(
            "parent interface {p} has no carrier (no cable or peer): {ifname} is attached but passes no traffic (NO-CARRIER) until {p} has a link"
        ));
    }
    None
}

/// A resolved namespace argument.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Netns {
    pub path: PathBuf,
    pub id: netlink::NsId,
}

impl Netns {
    pub fn nsref(&self) -> NsRef {
        NsRef::Path(self.path.clone())
    }
}

impl Engine {
    /// Turn NETNS (a name under /run/netns, a path, or a PID) into a namespace file.
    pub fn resolve_netns(&self, arg: &str) -> Result<Netns> {
        resolve_netns(&*self.nl, arg)
    }

    /// A path that reaches the namespace `id` now: `hint` (the path it was attached through)
    /// while that still names it, else wherever the namespace is still held (a bind mount,
    /// another process in it, an open descriptor). `None`: the namespace is gone, and its
    /// links with it. Never decided by the PID or path it was attached through.
    pub(crate) fn locate(&self, id: netlink::NsId, hint: &str) -> Option<PathBuf> {
        netlink::Holders::new(&*self.nl).locate(id, Path::new(hint))
    }
}

pub(crate) fn resolve_netns(nl: &dyn netlink::Netlink, arg: &str) -> Result<Netns> {
    let path = if !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_digit()) {
        PathBuf::from(format!("/proc/{arg}/ns/net"))
    } else if arg.contains('/') {
        PathBuf::from(arg)
    } else if arg.is_empty() || arg == "." || arg == ".." {
        return Err(Error::invalid(
            "a network namespace is required: a name under /run/netns, a path to a namespace file, or a PID",
        ));
    } else {
        Path::new("/run/netns").join(arg)
    };
    let not_found = || {
        Error::not_found(format!(
            "network namespace {arg:?} not found ({}): expected a name under /run/netns, a path to a namespace file, or a PID",
            path.display()
        ))
    };
    match nl.ns_is_net(&path) {
        Ok(true) => {}
        Ok(false) => {
            return Err(Error::invalid(format!(
                "{} is not a network namespace: expected a name under /run/netns, a path to a namespace file, or a PID",
                path.display()
            )))
        }
        Err(_) => return Err(not_found()),
    }
    let id = nl.ns_id(&path).map_err(|_| not_found())?;
    Ok(Netns { path, id })
}

pub(crate) fn parse_ip(door: Door, s: &str, v6: bool) -> Result<IpAddr> {
    let (field, other) = if v6 {
        (Field::Ip6, Field::Ip)
    } else {
        (Field::Ip, Field::Ip6)
    };
    let flag = door.name(field);
    let ip: IpAddr = s.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid {flag} {s:?}: expected an {} address, e.g. {}",
            if v6 { "IPv6" } else { "IPv4" },
            if v6 { "2001:db8::10" } else { "172.16.86.10" }
        ))
        .on(field)
    })?;
    if ip.is_ipv6() != v6 {
        return Err(Error::invalid(format!(
            "invalid {flag} {s}: it is an {} address; use {} for it",
            if v6 { "IPv4" } else { "IPv6" },
            door.name(other)
        ))
        .on(field));
    }
    Ok(ip)
}

pub(crate) fn parse_mac(door: Door, s: &str) -> Result<netlink::Mac> {
    let flag = door.name(Field::Mac);
    let mac: netlink::Mac = s.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid {flag} {s:?}: expected six hex bytes like 02:42:ac:10:56:0a"
        ))
        .on(Field::Mac)
    })?;
    if !mac.is_unicast() {
        return Err(Error::invalid(format!(
            "invalid {flag} {s}: a container needs a unicast address (the first byte must be even) other than 00:00:00:00:00:00"
        ))
        .on(Field::Mac));
    }
    Ok(mac)
}

/// The longest DNS name.
pub const ALIAS_MAX: usize = 253;

/// An alias is a name the container is known by on the network: a DNS name.
pub(crate) fn check_alias(a: &str) -> Result<()> {
    let ok = (1..=ALIAS_MAX).contains(&a.len())
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        return Ok(());
    }
    Err(Error::invalid(format!(
        "invalid --alias {a:?}: an alias is a DNS name of 1 to {ALIAS_MAX} letters, digits, '-', '_' and '.'"
    )))
}

/// A link to make for an endpoint.
pub(crate) struct Port<'a> {
    pub(crate) name: &'a str,
    pub(crate) parent_index: u32,
    pub(crate) target_ns: Option<NsRef>,
    pub(crate) mac: Option<netlink::Mac>,
    pub(crate) mtu: Option<u32>,
    pub(crate) up: bool,
}

/// Names the link may have: the temporary name, its retry variants, the final name.
pub(crate) fn tmp_variants(tmp: &str) -> Vec<String> {
    vec![tmp.to_string(), format!("{tmp}1"), format!("{tmp}2")]
}

/// Where the network's parent link lives for an endpoint in `ns`, and its name.
pub(crate) fn parent_place<'a>(net: &'a Network, ns: &NsRef) -> (NsRef, &'a str) {
    let at = if net.parent.in_container() {
        ns.clone()
    } else {
        NsRef::Host
    };
    (at, net.parent.name())
}

/// The refusal for a parent link that is not where the network says (`shown`: the namespace).
pub(crate) fn parent_missing(net: &Network, shown: &str) -> Error {
    let name = net.parent.name();
    if net.parent.in_container() {
        Error::not_found(format!(
            "the requested parent interface {name} was not found in network namespace {shown} (the parent is a link inside each container)"
        ))
    } else {
        Error::not_found(format!(
            "the requested parent interface {name} was not found on the host"
        ))
    }
}

/// Is `link` (in the endpoint's namespace) the endpoint's link?
pub(crate) fn is_endpoint_link(net: &Network, ep: &Endpoint, link: &netlink::Link) -> bool {
    let kind_ok = link.kind.as_deref() == Some(net.driver().name());
    let name_ok = link.name == ep.ifname || tmp_variants(&ep.tmp_name).contains(&link.name);
    let mac_ok = match (ep.mac, link.mac) {
        (Some(want), Some(have)) => want == have,
        _ => true,
    };
    kind_ok && mac_ok && (name_ok || ep.mac.is_some())
}

/// A passthru network gives its whole parent to one endpoint: refuse a second one.
pub(crate) fn refuse_second_passthru(txn: &dyn store::Snapshot, net: &Network) -> Result<()> {
    if !net.is_passthru() || !docs::has_endpoints(txn, net)? {
        return Ok(());
    }
    let all = crate::load(txn, &net.id)?.unwrap_or_else(|| net.clone());
    let holder = all.endpoints.values().next().map(|e| e.name.clone());
    Err(Error::conflict(format!(
        "macvlan network {} is in passthru mode and already has an endpoint ({}): passthru gives the whole parent interface {} to one container",
        net.name,
        holder.unwrap_or_default(),
        net.parent.name()
    )))
}

/// A MAC asked for that an endpoint on the same parent has already (the kernel would only
/// say "address already in use"): refused naming it and its holder. Reads the endpoints of
/// the parent's networks, only when a MAC is asked for.
pub(crate) fn refuse_mac_in_use(
    txn: &dyn store::Snapshot,
    net: &Network,
    mac: &netlink::Mac,
    door: Door,
) -> Result<()> {
    if net.parent.in_container() {
        return Ok(());
    }
    for other in crate::on_parent(txn, &net.parent.index_key())? {
        let Some(other) = crate::load(txn, &other.id)? else {
            continue;
        };
        if let Some(ep) = other.endpoints.values().find(|e| e.mac == Some(*mac)) {
            return Err(Error::conflict(format!(
                "invalid {} {mac}: it is already in use on parent interface {} by {} (network {})",
                door.name(Field::Mac),
                net.parent.name(),
                ep.name,
                other.name
            ))
            .on(Field::Mac));
        }
    }
    Ok(())
}

/// Remove an endpoint from the network (as loaded) and give its addresses back.
pub(crate) fn drop_endpoint(net: &mut Network, id: &str) {
    if let Some(ep) = net.endpoints.remove(id) {
        release_addrs(net, &ep);
    }
}

/// Give an endpoint's addresses back to the network's pools (those another IPAM handed out
/// are not in them).
pub(crate) fn release_addrs(net: &mut Network, ep: &Endpoint) {
    for a in [ep.ipv4, ep.ipv6].into_iter().flatten() {
        let _ = net.ipam.release(a.addr());
    }
}

pub(crate) fn reserve_error(e: ipam::Error) -> Error {
    match e {
        ipam::Error::AddressInUse(_) => Error::conflict(e.to_string()),
        e => e.into(),
    }
}

pub(crate) fn port_error(net: &Network, e: netlink::Error) -> Error {
    let mut msg = format!(
        "failed to create the {} port: {}",
        net.driver(),
        kernel_reason(&e)
    );
    if e.is_unsupported() && net.driver() == Driver::Ipvlan {
        msg.push_str(" (this kernel lacks ipvlan support: CONFIG_IPVLAN / module ipvlan)");
    } else if e.errno() == Some(libc::EADDRINUSE) {
        msg.push_str(&format!(
            " (a link on parent interface {} has that MAC address already)",
            net.parent.name()
        ));
    } else if e.errno() == Some(libc::EBUSY) {
        msg.push_str(&format!(
            " (parent interface {} is enslaved to a bond or bridge, or already carries {} links)",
            net.parent.name(),
            if net.driver() == Driver::Macvlan {
                "ipvlan"
            } else {
                "macvlan"
            }
        ));
    }
    Error::kernel_from(msg, e)
}
