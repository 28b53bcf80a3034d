//! Endpoints: connect a network namespace to a network, disconnect it.
//!
//! The link is created straight into the target namespace under a temporary name, renamed,
//! addressed, brought up and given its routes. Any failure midway deletes the link and
//! releases the addresses; the store records the intent first, so a process killed midway is
//! cleaned up by `restore`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use netlink::{IpvlanMode, LinkChange, LinkKind, NewLink, NsRef, NsScope, Route};

use crate::create::check_ifname;
use crate::docs;
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::{ids, Door, Engine, Field};

/// `network connect` as every front door hands it over.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectRequest {
    /// Network name, id or unique id prefix.
    pub network: String,
    /// A name under /run/netns, a path to a namespace file, or a PID.
    pub netns: String,
    pub ip: Option<String>,
    pub ip6: Option<String>,
    pub mac: Option<String>,
    pub ifname: Option<String>,
    /// Shown as the container's name (defaults to `netns`).
    pub name: Option<String>,
    /// The runtime's container id (CNI): the attachment is (container id, ifname), and one
    /// namespace may then hold several interfaces of one network.
    pub container_id: Option<String>,
    /// Addresses handed out by another IPAM, for a network created with `external_ipam`.
    pub external: Option<ExternalIpam>,
    /// `(destination, gateway)` routes of this attachment instead of the network's (CNI's
    /// `ipam.routes` as the configuration says at this ADD).
    pub routes: Option<Vec<(String, Option<String>)>>,
    /// MTU of this attachment's link instead of the network's (CNI's `mtu` at this ADD; 0:
    /// the parent's).
    pub mtu: Option<u32>,
    /// A label (key, one of values) the network must carry, else the connect fails as if the network
    /// did not exist (Kind::NotFound) and changes nothing: a CNI configuration's fingerprint,
    /// so that an ADD finds and uses its network in one step.
    pub require_label: Option<(String, Vec<String>)>,
    /// Other names of the container on this network (`connect --alias`).
    pub aliases: Vec<String>,
    /// The door the request came through: messages name its fields its way.
    pub door: crate::Door,
}

/// A detach whose kernel part is still to be done (see `Engine::begin_detach_container`).
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
    pub mac: Option<String>,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub gateway4: Option<IpAddr>,
    pub gateway6: Option<IpAddr>,
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

fn resolve_netns(nl: &dyn netlink::Netlink, arg: &str) -> Result<Netns> {
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

fn parse_ip(door: Door, s: &str, v6: bool) -> Result<IpAddr> {
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

pub(crate) fn parse_mac(door: Door, s: &str) -> Result<[u8; 6]> {
    let flag = door.name(Field::Mac);
    let mac = netlink::parse_mac(s).ok_or_else(|| {
        Error::invalid(format!(
            "invalid {flag} {s:?}: expected six hex bytes like 02:42:ac:10:56:0a"
        ))
        .on(Field::Mac)
    })?;
    if mac[0] & 1 == 1 || mac == [0; 6] {
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
fn check_alias(a: &str) -> Result<()> {
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

/// What an attach request asks for, parsed and checked before anything is read or changed.
struct Asked {
    ip4: Option<IpAddr>,
    ip6: Option<IpAddr>,
    mac: Option<[u8; 6]>,
    routes: Option<Vec<RouteSpec>>,
}

impl Asked {
    fn parse(req: &ConnectRequest) -> Result<Self> {
        let ip =
            |s: &Option<String>, v6| s.as_deref().map(|s| parse_ip(req.door, s, v6)).transpose();
        let asked = Asked {
            ip4: ip(&req.ip, false)?,
            ip6: ip(&req.ip6, true)?,
            mac: req
                .mac
                .as_deref()
                .map(|m| parse_mac(req.door, m))
                .transpose()?,
            routes: req
                .routes
                .as_deref()
                .map(crate::create::parse_routes)
                .transpose()?,
        };
        if let Some(name) = &req.ifname {
            check_ifname(req.door.name(Field::Ifname), name).map_err(|e| e.on(Field::Ifname))?;
        }
        req.aliases.iter().try_for_each(|a| check_alias(a))?;
        Ok(asked)
    }
}

/// Refuse addresses the network cannot give: static ones on a network whose IPAM plugin
/// hands them out, another IPAM's on one that hands out its own, a family it has no subnet of.
fn refuse_what_it_cannot_give(net: &Network, req: &ConnectRequest, asked: &Asked) -> Result<()> {
    if net.external_ipam {
        if asked.ip4.is_some() || asked.ip6.is_some() {
            return Err(Error::invalid(format!(
                "network {} takes its addresses from its IPAM plugin: ask it for a static address",
                net.name
            )));
        }
    } else if req.external.is_some() {
        return Err(Error::invalid(format!(
            "network {} hands out its own addresses; it cannot take addresses from another IPAM",
            net.name
        )));
    }
    if asked.ip4.is_some() && !net.ipam.has_family(ipam::Family::V4) {
        return Err(Error::invalid(format!(
            "invalid {} {}: network {} has no IPv4 subnet",
            req.door.name(Field::Ip),
            req.ip.as_deref().unwrap_or_default(),
            net.name
        ))
        .on(Field::Ip));
    }
    if asked.ip6.is_some() && !net.enable_ipv6 {
        return Err(Error::invalid(format!(
            "invalid {} {}: network {} has no IPv6 subnet",
            req.door.name(Field::Ip6),
            req.ip6.as_deref().unwrap_or_default(),
            net.name
        ))
        .on(Field::Ip6));
    }
    Ok(())
}

/// The endpoint's addresses, with the pools they were taken from: another IPAM's as handed
/// over, else each family's asked-for address reserved or its lowest free one taken (the
/// pools are a copy: nothing is held until the caller records them).
fn reserve(
    net: &Network,
    req: &ConnectRequest,
    asked: &Asked,
) -> Result<(ipam::NetworkIpam, Option<IpNet>, Option<IpNet>)> {
    let mut ipam = net.ipam.clone();
    if let Some(ext) = &req.external {
        return Ok((ipam, ext.ipv4, ext.ipv6));
    }
    let mut take = |family: ipam::Family, requested: Option<IpAddr>| -> Result<IpAddr> {
        match requested {
            Some(ip) => ipam.reserve(ip).map(|()| ip).map_err(|e| {
                let field = match family {
                    ipam::Family::V4 => Field::Ip,
                    ipam::Family::V6 => Field::Ip6,
                };
                reserve_error(e).on(field)
            }),
            None => ipam.allocate(family).map_err(|_| {
                Error::conflict(format!(
                    "no available {family} addresses on this network's address pools: {} ({})",
                    net.name, net.id
                ))
            }),
        }
    };
    let v4 = net
        .ipam
        .has_family(ipam::Family::V4)
        .then(|| take(ipam::Family::V4, asked.ip4))
        .transpose()?;
    let v6 = net
        .enable_ipv6
        .then(|| take(ipam::Family::V6, asked.ip6))
        .transpose()?;
    let with_prefix = |ip: IpAddr| -> Result<IpNet> {
        let len = ipam.pool_for(ip).map(|p| p.prefix_len()).ok_or_else(|| {
            Error::invalid(format!("no configured subnet contains IP address {ip}"))
        })?;
        IpNet::new(ip, len).map_err(|e| Error::invalid(e.to_string()))
    };
    let (v4, v6) = (
        v4.map(with_prefix).transpose()?,
        v6.map(with_prefix).transpose()?,
    );
    Ok((ipam, v4, v6))
}

/// The MAC the link is made with: none for ipvlan (it carries the parent's) and for a
/// passthru macvlan without one asked (it keeps the parent's port), else the one asked or a
/// random one.
fn link_mac(net: &Network, asked: Option<[u8; 6]>) -> Option<[u8; 6]> {
    match (net.driver(), asked) {
        (Driver::Ipvlan, _) => None,
        (Driver::Macvlan, Some(m)) => Some(m),
        (Driver::Macvlan, None) if net.is_passthru() => None,
        (Driver::Macvlan, None) => Some(ids::random_mac()),
    }
}

fn dedup(items: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

impl Engine {
    /// Attach the namespace `req.netns` to a network: the request checked, the attachment
    /// admitted under the store's lock, addresses reserved and the intent recorded before
    /// the kernel is touched, the link made, the endpoint recorded attached.
    pub fn connect(&self, req: &ConnectRequest) -> Result<Attached> {
        let ns = self.resolve_netns(&req.netns)?;
        // The host's own namespace is no container: its addresses and routes are the host's.
        if self.nl.ns_own().ok() == Some(ns.id) {
            return Err(Error::invalid(format!(
                "network namespace {:?} ({}) is the host's own: underlay attaches containers, and never changes the host's addresses or routes",
                req.netns,
                ns.path.display()
            )));
        }
        let asked = Asked::parse(req)?;
        let mut txn = self.store.begin()?;
        let mut net = self.admit(&mut *txn, req, &ns, &asked)?;
        let nsref = ns.nsref();
        // One socket for the operation's requests in the namespace, let go when it ends: a
        // socket kept would keep the namespace (and its link) alive after the container.
        let _scope = NsScope::new(&*self.nl, &nsref);
        // The parent's index is all a macvlan link needs; ipvlan and passthru links carry the
        // parent's MAC, which the result shows.
        let (parent_index, mut parent) = if net.driver() == Driver::Ipvlan || net.is_passthru() {
            let link = self.parent_link(&net, &nsref, &req.netns)?;
            (link.index, Some(link))
        } else {
            (self.parent_index(&net, &nsref, &req.netns)?, None)
        };
        let parent_mac = parent.as_ref().and_then(|p| p.mac);
        let ifname = self.ifname_for(req, &nsref)?;
        let (ipam, ipv4, ipv6) = reserve(&net, req, &asked)?;
        let mac = link_mac(&net, asked.mac);
        let ep = Endpoint {
            id: ids::endpoint_id(),
            name: req.name.clone().unwrap_or_else(|| req.netns.clone()),
            netns: ns.path.display().to_string(),
            netns_id: ns.id,
            tmp_name: ids::tmp_link_name(),
            ifname,
            mac: mac.as_ref().map(netlink::format_mac),
            ipv4,
            ipv6,
            state: EndpointState::Attaching,
            container_id: req.container_id.clone(),
            external: req.external.as_ref().map(|e| e.info.clone()),
            handoff: false,
            routes: asked.routes,
            mtu: req.mtu,
            aliases: dedup(&req.aliases),
        };
        net.ipam = ipam;
        let ep =
            self.record_and_attach(&mut *txn, &mut net, ep, parent_index, &nsref, mac, req.door)?;
        if parent.is_none() {
            let (at, name) = parent_place(&net, &nsref);
            parent = self.nl.link_by_name(&at, name).ok().flatten();
        }
        let warnings = parent
            .and_then(|p| parent_down(&p, &ep.ifname))
            .into_iter()
            .collect();
        Ok(Attached {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            ifname: ep.ifname.clone(),
            // ipvlan and passthru links carry the parent's MAC.
            mac: ep
                .mac
                .clone()
                .or_else(|| parent_mac.as_ref().map(netlink::format_mac)),
            ipv4: ep.ipv4,
            ipv6: ep.ipv6,
            gateway4: ep.ipv4.and_then(|a| ep.gateway_for(&net, a.addr())),
            gateway6: ep.ipv6.and_then(|a| ep.gateway_for(&net, a.addr())),
            warnings,
        })
    }

    /// The network `req` names, for writing, if this attachment may be made on it: it carries
    /// the required label, is underlay's to change, is ready, has no attachment of this key
    /// yet (a detach of it still finishing is finished now), and can give what was asked.
    fn admit(
        &self,
        txn: &mut dyn store::Txn,
        req: &ConnectRequest,
        ns: &Netns,
        asked: &Asked,
    ) -> Result<Network> {
        let net = crate::find_head(txn, &req.network)?;
        if let Some((key, values)) = &req.require_label {
            if !values.iter().any(|v| net.labels.get(key) == Some(v)) {
                return Err(Error::not_found(format!(
                    "network {} has no label {key}={}",
                    net.name,
                    values.join(" or ")
                )));
            }
        }
        crate::refuse_if_owned(&net, "connect")?;
        net.check_ready()?;
        let mut net = docs::for_write(txn, net)?;
        if asked.mac.is_some() && net.driver() == Driver::Ipvlan {
            return Err(Error::invalid(
                "ipvlan interfaces do not support custom mac address assignment",
            ));
        }
        self.refuse_attached(txn, &mut net, req, ns)?;
        refuse_what_it_cannot_give(&net, req, asked)?;
        refuse_second_passthru(txn, &net)?;
        if let Some(m) = &asked.mac {
            refuse_mac_in_use(txn, &net, m, req.door)?;
        }
        Ok(net)
    }

    /// Refuse a second attachment of the same key: the CNI container and ifname, or the
    /// namespace. A CNI attachment whose detach is still finishing in the background is
    /// finished now (that removes its document).
    fn refuse_attached(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        req: &ConnectRequest,
        ns: &Netns,
    ) -> Result<()> {
        let Some(cid) = &req.container_id else {
            return match docs::get_ep(txn, net, &slot_ns(ns.id))? {
                Some(ep) => Err(Error::conflict(format!(
                    "network namespace {} is already connected to network {} (as {})",
                    req.netns, net.name, ep.ifname
                ))),
                None => Ok(()),
            };
        };
        let ifname = req.ifname.as_deref().unwrap_or("eth0");
        match docs::get_ep(txn, net, &slot_cni(cid, ifname))? {
            Some(ep) if ep.state == EndpointState::Detaching => self.detach(txn, net, &ep),
            Some(ep) => Err(Error::conflict(format!(
                "container {cid} is already attached to network {} as {} (endpoint {})",
                net.name, ep.ifname, ep.id
            ))),
            None => Ok(()),
        }
    }

    /// The interface name: the one asked for (the kernel checks it when the link is made, see
    /// `attach_link`), else the first free ethN in the namespace.
    fn ifname_for(&self, req: &ConnectRequest, ns: &NsRef) -> Result<String> {
        if let Some(name) = &req.ifname {
            return Ok(name.clone());
        }
        let ns_links = self.ns_links(ns, &format!("network namespace {}", req.netns))?;
        Ok((0..)
            .map(|n| format!("eth{n}"))
            .find(|n| !ns_links.iter().any(|l| &l.name == n))
            .unwrap_or_else(|| "eth0".to_string()))
    }

    /// Record the reservation and the intent, then make the link; the endpoint recorded
    /// attached. The addresses are reserved first and the intent written second, before the
    /// kernel is touched: a process killed between the two leaves an address reserved that
    /// no endpoint holds (restore frees it), never one held twice. A failure undoes each.
    #[allow(clippy::too_many_arguments)] // the attachment's parts, as connect has them
    fn record_and_attach(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        mut ep: Endpoint,
        parent_index: u32,
        ns: &NsRef,
        mac: Option<[u8; 6]>,
        door: Door,
    ) -> Result<Endpoint> {
        docs::save_alloc(txn, net)?;
        if let Err(e) = docs::put_ep(txn, &net.id, &ep, true) {
            release_addrs(net, &ep);
            let _ = docs::save_alloc(txn, net);
            return Err(e);
        }
        match self.attach_link(net, &ep, parent_index, ns, mac, door) {
            Ok(()) => {
                ep.state = EndpointState::Attached;
                docs::put_ep(txn, &net.id, &ep, false).inspect_err(|_| {
                    self.remove_endpoint_link(net, &ep);
                })
            }
            Err(e) => docs::del_ep(txn, &net.id, &ep)
                .and_then(|()| {
                    release_addrs(net, &ep);
                    docs::save_alloc(txn, net)
                })
                .and(Err(e)),
        }?;
        Ok(ep)
    }

    /// The links in namespace `ns` (`shown` names it in messages).
    fn ns_links(&self, ns: &NsRef, shown: &str) -> Result<Vec<netlink::Link>> {
        self.nl.links(ns).map_err(|e| {
            Error::kernel_from(
                format!("cannot list links in {shown}: {}", kernel_reason(&e)),
                e,
            )
        })
    }

    /// The network's parent link for an endpoint in `ns` (`shown` names that namespace in
    /// messages): on the host, or in the namespace itself for a parent inside containers.
    pub(crate) fn parent_link(
        &self,
        net: &Network,
        ns: &NsRef,
        shown: &str,
    ) -> Result<netlink::Link> {
        let (at, name) = parent_place(net, ns);
        self.link(&at, name)?
            .ok_or_else(|| parent_missing(net, shown))
    }

    /// Like `parent_link`, only its index.
    fn parent_index(&self, net: &Network, ns: &NsRef, shown: &str) -> Result<u32> {
        let (at, name) = parent_place(net, ns);
        self.nl
            .link_index(&at, name)
            .map_err(|e| {
                Error::kernel_from(
                    format!("cannot look up link {name}: {}", kernel_reason(&e)),
                    e,
                )
            })?
            .ok_or_else(|| parent_missing(net, shown))
    }

    /// Create the endpoint's macvlan/ipvlan link on `parent_index` from namespace `made_in`
    /// (into `target_ns` when given) under its temporary name or a retry variant of it, down;
    /// returns the name it got.
    pub(crate) fn add_port(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        made_in: &NsRef,
        target_ns: Option<NsRef>,
        mac: Option<[u8; 6]>,
    ) -> Result<String> {
        for name in tmp_variants(&ep.tmp_name) {
            let port = Port {
                name: &name,
                parent_index,
                target_ns: target_ns.clone(),
                mac,
                mtu: ep.link_mtu(net),
                up: false,
            };
            match self.new_port(net, made_in, port) {
                Ok(()) => return Ok(name),
                Err(e) if e.is_exists() => continue,
                Err(e) => return Err(port_error(net, e)),
            }
        }
        Err(Error::kernel(format!(
            "failed to create the {} port: temporary link names kept clashing",
            net.driver()
        )))
    }

    /// One macvlan/ipvlan link of the network's kind, made from namespace `made_in`.
    fn new_port(&self, net: &Network, made_in: &NsRef, port: Port<'_>) -> netlink::Result<()> {
        let kind = match net.mode {
            Mode::Macvlan { mode } => LinkKind::Macvlan { mode },
            Mode::Ipvlan { mode, flag } => LinkKind::Ipvlan { mode, flag },
        };
        let req = NewLink {
            name: port.name.to_string(),
            kind,
            parent_index: Some(port.parent_index),
            target_ns: port.target_ns,
            mac: port.mac,
            mtu: port.mtu,
            up: port.up,
        };
        self.nl.link_add(made_in, &req)
    }

    /// Create, name, address, raise and route the endpoint's link in its namespace. On failure
    /// the link is gone again if this made it (a link found in the way is left alone).
    pub(crate) fn attach_link(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        ns: &NsRef,
        mac: Option<[u8; 6]>,
        door: Door,
    ) -> Result<()> {
        let mut made = false;
        let r = self.make_link(net, ep, parent_index, ns, mac, door, &mut made);
        if r.is_err() && made {
            self.remove_endpoint_link(net, ep);
        }
        r
    }

    /// `attach_link`'s steps; `made` is set once the link exists.
    #[allow(clippy::too_many_arguments)] // attach_link's, and `made`: its undo needs to know
    fn make_link(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        ns: &NsRef,
        mac: Option<[u8; 6]>,
        door: Door,
        made: &mut bool,
    ) -> Result<()> {
        // A host parent's link is made on the host straight into the namespace; a parent
        // inside the container has its link made right there.
        let (made_in, target_ns) = if net.parent.in_container() {
            (ns.clone(), None)
        } else {
            (NsRef::Host, Some(ns.clone()))
        };
        let k = |what: &str, e: netlink::Error| {
            Error::kernel_from(
                format!("failed to {what} in {}: {}", ep.place(), kernel_reason(&e)),
                e,
            )
        };
        // Straight under its final name and up, where the kernel takes it: two requests
        // fewer. The kernel checks the name in the target namespace; some older ones also in
        // the one the link is made from, and refuse with EEXIST: then under a temporary name,
        // renamed in the namespace, and brought up after its addresses.
        let direct = Port {
            name: &ep.ifname,
            parent_index,
            target_ns: target_ns.clone(),
            mac,
            mtu: ep.link_mtu(net),
            up: true,
        };
        let named = match self.new_port(net, &made_in, direct) {
            Ok(()) => None,
            Err(e) if e.is_exists() => {
                if self
                    .ns_links(ns, &ep.place())?
                    .iter()
                    .any(|l| l.name == ep.ifname)
                {
                    return Err(Error::conflict(format!(
                        "interface {} already exists in {}: {}",
                        ep.ifname,
                        ep.place(),
                        door.other_ifname()
                    )));
                }
                Some(self.add_port(net, ep, parent_index, &made_in, target_ns, mac)?)
            }
            Err(e) => return Err(port_error(net, e)),
        };
        *made = true;
        let found = named.as_deref().unwrap_or(&ep.ifname);
        let index = self
            .nl
            .link_index(ns, found)
            .map_err(|e| k("find the new link", e))?
            .ok_or_else(|| Error::kernel(format!("link {found} vanished right after creation")))?;
        if let Some(tmp) = &named {
            let rename = LinkChange {
                name: Some(ep.ifname.clone()),
                ..Default::default()
            };
            self.nl
                .link_set(ns, index, &rename)
                .map_err(|e| k(&format!("rename {tmp} to {}", ep.ifname), e))?;
        }
        for addr in [ep.ipv4, ep.ipv6].into_iter().flatten() {
            self.nl
                .addr_add(ns, index, addr)
                .map_err(|e| k(&format!("add address {addr} to {}", ep.ifname), e))?;
        }
        if named.is_some() {
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            self.nl
                .link_set(ns, index, &up)
                .map_err(|e| k(&format!("bring {} up", ep.ifname), e))?;
        }
        for route in self.routes_for(net, ep, index) {
            match self.nl.route_add(ns, &route) {
                // The namespace already has a route to this destination (a default route of
                // this family through another network, or a CNI route through the container's
                // other interface): like Docker, a container keeps one; the first one stays.
                Err(e) if e.is_exists() => continue,
                r => r,
            }
            .map_err(|e| {
                k(
                    &format!(
                        "add route {}{}",
                        route.dst,
                        route
                            .gateway
                            .map(|g| format!(" via {g}"))
                            .unwrap_or_default()
                    ),
                    e,
                )
            })?;
        }
        Ok(())
    }

    /// Routes per driver and mode: none for internal networks; ipvlan l3/l3s get a connected
    /// default route; everything else a default route via the subnet's gateway. A network with
    /// explicit routes (CNI) gets exactly those, each via its gateway, else the gateway of its
    /// family, else on-link; an endpoint whose addresses came from another IPAM gets that
    /// IPAM's routes as well.
    pub(crate) fn routes_for(&self, net: &Network, ep: &Endpoint, oif: u32) -> Vec<Route> {
        let l3 = matches!(
            net.mode,
            Mode::Ipvlan {
                mode: IpvlanMode::L3 | IpvlanMode::L3s,
                ..
            }
        );
        let configured = ep.routes.as_ref().or(net.routes.as_ref());
        if configured.is_some() || ep.external.is_some() {
            let explicit = configured
                .into_iter()
                .flatten()
                .chain(ep.external.iter().flat_map(|x| x.routes.iter()));
            let mut routes: Vec<Route> = Vec::new();
            for r in explicit {
                let addr = if r.dst.addr().is_ipv4() {
                    ep.ipv4
                } else {
                    ep.ipv6
                };
                // A route of a family the endpoint has no address of cannot be installed.
                let Some(addr) = addr else { continue };
                let gateway = if l3 {
                    None
                } else {
                    r.gw.or_else(|| ep.gateway_for(net, addr.addr()))
                };
                let route = Route {
                    dst: r.dst,
                    gateway,
                    oif,
                };
                if !routes.contains(&route) {
                    routes.push(route);
                }
            }
            return routes;
        }
        if net.internal {
            return Vec::new();
        }
        let mut routes = Vec::new();
        for (addr, default) in [
            (ep.ipv4, "0.0.0.0/0".parse::<IpNet>()),
            (ep.ipv6, "::/0".parse::<IpNet>()),
        ] {
            let (Some(addr), Ok(dst)) = (addr, default) else {
                continue;
            };
            if l3 {
                routes.push(Route {
                    dst,
                    gateway: None,
                    oif,
                });
            } else if let Some(gw) = net.gateway_for(addr.addr()) {
                routes.push(Route {
                    dst,
                    gateway: Some(gw),
                    oif,
                });
            }
        }
        routes
    }

    /// Delete the endpoint's link from its namespace, whichever name it has by now. Best effort:
    /// a namespace that is gone took the link with it.
    pub(crate) fn remove_endpoint_link(&self, net: &Network, ep: &Endpoint) -> Option<String> {
        // The namespace wherever it is held now; none: it is gone, and took the link with it.
        let ns = NsRef::Path(self.locate(ep.netns_id, &ep.netns)?);
        let _scope = NsScope::new(&*self.nl, &ns);
        let links = match self.nl.links(&ns) {
            Ok(l) => l,
            Err(e) => {
                return Some(format!(
                    "cannot list links in {}: {}",
                    ep.name,
                    kernel_reason(&e)
                ))
            }
        };
        let target = links.iter().find(|l| is_endpoint_link(net, ep, l));
        if let Some(link) = target {
            if let Err(e) = self.nl.link_del(&ns, link.index) {
                if !e.is_not_found() {
                    return Some(format!(
                        "cannot delete {} in {}: {}",
                        link.name,
                        ep.name,
                        kernel_reason(&e)
                    ));
                }
            }
        }
        None
    }

    /// Detach the namespace `netns` from `network`.
    pub fn disconnect(&self, network: &str, netns: &str) -> Result<()> {
        let resolved = self.resolve_netns(netns).ok();
        let mut txn = self.store.begin()?;
        let net = crate::find_head(&*txn, network)?;
        crate::refuse_if_owned(&net, "disconnect")?;
        let mut net = docs::for_write(&mut *txn, net)?;
        // By identity when the namespace exists; otherwise (or when the name now names another
        // namespace, or a runtime attached it) by the name or path it was attached with.
        let by_slot = match &resolved {
            Some(ns) => docs::get_ep(&*txn, &net, &slot_ns(ns.id))?,
            None => None,
        };
        let ep = match by_slot {
            Some(ep) => Some(ep),
            None => {
                let all = crate::load(&*txn, &net.id)?.unwrap_or_else(|| net.clone());
                let by_id = resolved
                    .as_ref()
                    .and_then(|ns| all.endpoints.values().find(|e| e.netns_id == ns.id));
                by_id
                    .or_else(|| {
                        all.endpoints
                            .values()
                            .find(|e| e.name == netns || e.netns == netns)
                    })
                    .cloned()
            }
        };
        let ep = ep.ok_or_else(|| {
            Error::not_found(format!(
                "network namespace {netns} is not connected to network {}",
                net.name
            ))
        })?;
        self.detach(&mut *txn, &mut net, &ep)
    }

    /// Detach the CNI attachment (container id, ifname) from `network`. Returns the endpoint
    /// that was detached, or `None` when there was none (already gone).
    pub fn disconnect_container(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<Endpoint>> {
        let mut txn = self.store.begin()?;
        let net = crate::find_head(&*txn, network)?;
        let mut net = docs::for_write(&mut *txn, net)?;
        let Some(ep) = docs::get_ep(&*txn, &net, &slot_cni(container_id, ifname))? else {
            return Ok(None);
        };
        self.detach(&mut *txn, &mut net, &ep)?;
        Ok(Some(ep))
    }

    /// Begin detaching the CNI attachment (container id, ifname): record the intent and find
    /// the link, without waiting for the kernel to delete it. `finish_detach` (another process,
    /// or `restore` if that one dies) deletes the link and releases the addresses; until then
    /// they stay reserved, and an ADD of the same attachment finishes the detach first.
    /// `None` when there is nothing to detach.
    pub fn begin_detach_container(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<Option<PendingDetach>> {
        let mut txn = self.store.begin()?;
        let net = crate::find_head(&*txn, network)?;
        let net = docs::for_write(&mut *txn, net)?;
        let Some(mut ep) = docs::get_ep(&*txn, &net, &slot_cni(container_id, ifname))? else {
            return Ok(None);
        };
        // The link as it is now, by index: a later link of the same name is never touched.
        let mut ifindex = None;
        if let Some(path) = self.locate(ep.netns_id, &ep.netns) {
            ep.netns = path.display().to_string();
            let ns = NsRef::Path(path);
            let _scope = NsScope::new(&*self.nl, &ns);
            if let Ok(links) = self.nl.links(&ns) {
                ifindex = links
                    .iter()
                    .find(|l| is_endpoint_link(&net, &ep, l))
                    .map(|l| l.index);
            }
        }
        if ep.state != EndpointState::Detaching {
            ep.state = EndpointState::Detaching;
            docs::put_ep(&mut *txn, &net.id, &ep, true)?;
        }
        Ok(Some(PendingDetach {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            slot: ep.slot(),
            netns: ep.netns.clone(),
            netns_id: ep.netns_id,
            ifindex,
        }))
    }

    /// Finish what `begin_detach_container` started: delete the link (by the index found then,
    /// outside the lock: the kernel's part takes tens of milliseconds), then drop the record
    /// and release the addresses.
    pub fn finish_detach(&self, p: &PendingDetach) -> Result<()> {
        if let Some(index) = p.ifindex {
            if let Some(path) = self.locate(p.netns_id, &p.netns) {
                let ns = NsRef::Path(path);
                let _scope = NsScope::new(&*self.nl, &ns);
                if let Err(e) = self.nl.link_del(&ns, index) {
                    if !e.is_not_found() {
                        return Err(Error::kernel_from(format!(
                            "cannot delete link {index} in {}: {}; `underlay network restore` retries",
                            p.netns,
                            kernel_reason(&e)
                        ), e));
                    }
                }
            }
        }
        let mut txn = self.store.begin()?;
        let Some(net) = crate::load_head(&*txn, &p.network_id)? else {
            return Ok(());
        };
        let mut net = docs::for_write(&mut *txn, net)?;
        let ep = if p.slot.is_empty() {
            // A job of an earlier version: find the endpoint by id.
            crate::load(&*txn, &net.id)?.and_then(|n| n.endpoints.get(&p.endpoint_id).cloned())
        } else {
            docs::get_ep(&*txn, &net, &p.slot)?
        };
        match ep {
            Some(ep) if ep.id == p.endpoint_id && ep.state == EndpointState::Detaching => {
                docs::del_ep(&mut *txn, &net.id, &ep)?;
                release_addrs(&mut net, &ep);
                docs::save_alloc(&mut *txn, &net)
            }
            _ => Ok(()),
        }
    }

    /// Record the intent, delete the link, release the addresses.
    /// The endpoint's document goes before its addresses are released: a process killed
    /// between the two leaves them reserved (restore frees them), never handed out twice.
    fn detach(&self, txn: &mut dyn store::Txn, net: &mut Network, ep: &Endpoint) -> Result<()> {
        let mut ep = ep.clone();
        ep.state = EndpointState::Detaching;
        docs::put_ep(txn, &net.id, &ep, true)?;
        if let Some(problem) = self.remove_endpoint_link(net, &ep) {
            // Keep the record (state Detaching) so `restore` retries; say what failed.
            return Err(Error::kernel(problem));
        }
        docs::del_ep(txn, &net.id, &ep)?;
        release_addrs(net, &ep);
        docs::save_alloc(txn, net)?;
        self.hand_over_default_routes(&*txn, net, &ep);
        Ok(())
    }

    /// Compare a CNI attachment's link, addresses and routes in its namespace with the record;
    /// the first difference is the error.
    pub fn check_container(
        &self,
        network: &str,
        container_id: &str,
        ifname: &str,
    ) -> Result<(Network, Endpoint)> {
        let (net, ep) = {
            let txn = self.store.snapshot()?;
            let net = crate::find_head(&*txn, network)?;
            let ep = docs::get_ep(&*txn, &net, &slot_cni(container_id, ifname))?;
            (net, ep)
        };
        let ep = ep
            .filter(|e| e.state != EndpointState::Detaching)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "container {container_id} has no interface {ifname} on network {}",
                    net.name
                ))
            })?;
        let Some(path) = self.locate(ep.netns_id, &ep.netns) else {
            return Err(Error::not_found(format!(
                "network namespace {} of container {container_id} is gone",
                ep.netns
            )));
        };
        let ns = NsRef::Path(path);
        let _scope = NsScope::new(&*self.nl, &ns);
        let k = |what: &str, e: netlink::Error| {
            Error::kernel_from(
                format!("cannot list {what} in {}: {}", ep.netns, kernel_reason(&e)),
                e,
            )
        };
        let links = self.nl.links(&ns).map_err(|e| k("links", e))?;
        let link = links.iter().find(|l| l.name == ep.ifname).ok_or_else(|| {
            Error::not_found(format!("interface {} not found in {}", ep.ifname, ep.netns))
        })?;
        if !is_endpoint_link(&net, &ep, link) {
            return Err(Error::conflict(format!(
                "interface {} in {} is not the {} link underlay made (kind {}, MAC {})",
                ep.ifname,
                ep.netns,
                net.driver(),
                link.kind.as_deref().unwrap_or("unknown"),
                link.mac
                    .as_ref()
                    .map(netlink::format_mac)
                    .unwrap_or_default()
            )));
        }
        let mode_ok = match net.mode {
            Mode::Macvlan { mode } => link.macvlan_mode.is_none_or(|m| m == mode),
            Mode::Ipvlan { mode, .. } => link.ipvlan_mode.is_none_or(|m| m == mode),
        };
        if !mode_ok {
            return Err(Error::conflict(format!(
                "interface {} in {} is not in {} mode {}",
                ep.ifname,
                ep.netns,
                net.driver(),
                match net.mode {
                    Mode::Macvlan { mode } => macvlan_mode_name(mode),
                    Mode::Ipvlan { mode, .. } => ipvlan_mode_name(mode),
                }
            )));
        }
        let addrs = self.nl.addrs(&ns).map_err(|e| k("addresses", e))?;
        for want in [ep.ipv4, ep.ipv6].into_iter().flatten() {
            if !addrs
                .iter()
                .any(|a| a.index == link.index && a.addr == want)
            {
                return Err(Error::not_found(format!(
                    "address {want} is missing from {} in {}",
                    ep.ifname, ep.netns
                )));
            }
        }
        let routes = self.nl.routes(&ns).map_err(|e| k("routes", e))?;
        for want in self.routes_for(&net, &ep, link.index) {
            let found = routes
                .iter()
                .any(|r| r.dst == want.dst && r.gateway == want.gateway && r.oif == link.index);
            // A route to this destination through another interface kept the first one's.
            let elsewhere = routes
                .iter()
                .any(|r| r.dst == want.dst && r.oif != link.index);
            if !found && !elsewhere {
                return Err(Error::not_found(format!(
                    "route {}{} is missing from {} in {}",
                    want.dst,
                    want.gateway
                        .map(|g| format!(" via {g}"))
                        .unwrap_or_default(),
                    ep.ifname,
                    ep.netns
                )));
            }
        }
        Ok((net, ep))
    }
}

/// A link to make for an endpoint.
struct Port<'a> {
    name: &'a str,
    parent_index: u32,
    target_ns: Option<NsRef>,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
    up: bool,
}

/// Names the link may have: the temporary name, its retry variants, the final name.
pub(crate) fn tmp_variants(tmp: &str) -> Vec<String> {
    vec![tmp.to_string(), format!("{tmp}1"), format!("{tmp}2")]
}

/// Where the network's parent link lives for an endpoint in `ns`, and its name.
fn parent_place<'a>(net: &'a Network, ns: &NsRef) -> (NsRef, &'a str) {
    let at = if net.parent.in_container() {
        ns.clone()
    } else {
        NsRef::Host
    };
    (at, net.parent.name())
}

/// The refusal for a parent link that is not where the network says (`shown`: the namespace).
fn parent_missing(net: &Network, shown: &str) -> Error {
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
    let mac_ok = match (&ep.mac, &link.mac) {
        (Some(want), Some(have)) => *want == netlink::format_mac(have),
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
fn refuse_mac_in_use(
    txn: &dyn store::Snapshot,
    net: &Network,
    mac: &[u8; 6],
    door: Door,
) -> Result<()> {
    if net.parent.in_container() {
        return Ok(());
    }
    let wanted = netlink::format_mac(mac);
    for other in crate::on_parent(txn, &net.parent.index_key())? {
        let Some(other) = crate::load(txn, &other.id)? else {
            continue;
        };
        if let Some(ep) = other
            .endpoints
            .values()
            .find(|e| e.mac.as_deref() == Some(&wanted))
        {
            return Err(Error::conflict(format!(
                "invalid {} {wanted}: it is already in use on parent interface {} by {} (network {})",
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

fn port_error(net: &Network, e: netlink::Error) -> Error {
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
