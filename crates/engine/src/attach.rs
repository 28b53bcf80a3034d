//! Attach: a namespace (or a CNI container's interface) joins a network. The request is
//! checked, the attachment admitted under the store's lock, addresses reserved and the
//! intent recorded before the kernel is touched; the link is made straight into the
//! namespace under its final name where the kernel allows (else under a temporary one,
//! renamed), addressed, brought up and given its routes. Any failure midway deletes the
//! link and releases the addresses; a process killed midway is cleaned up by `restore`.

use std::net::IpAddr;

use ipnet::IpNet;
use netlink::{IpvlanMode, LinkChange, LinkKind, NewLink, NsRef, NsScope, Route};

use crate::cluster::ClaimHolder;
use crate::create::check_ifname;
use crate::docs;
use crate::endpoint::*;
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::{ids, Door, Engine, Field};

/// What an attach request asks for, parsed and checked before anything is read or changed.
pub(crate) struct Asked {
    pub(crate) ip4: Option<IpAddr>,
    pub(crate) ip6: Option<IpAddr>,
    mac: Option<netlink::Mac>,
    routes: Option<Vec<RouteSpec>>,
}

/// An endpoint's addresses as `reserve` takes them: the pools with them taken, each family's.
pub(crate) type Reserved = (ipam::NetworkIpam, Option<IpNet>, Option<IpNet>);
/// The same, with their claims in the cluster store (global networks).
pub(crate) type Taken = (Reserved, Vec<Claim>);

impl Asked {
    pub(crate) fn parse(req: &AttachRequest) -> Result<Self> {
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
        if let Some(name) = req.ifname() {
            check_ifname(req.door.name(Field::Ifname), name).map_err(|e| e.on(Field::Ifname))?;
        }
        req.aliases.iter().try_for_each(|a| check_alias(a))?;
        Ok(asked)
    }
}

/// Refuse addresses the network cannot give: static ones on a network whose IPAM plugin
/// hands them out, another IPAM's on one that hands out its own, a family it has no subnet of.
fn refuse_what_it_cannot_give(net: &Network, req: &AttachRequest, asked: &Asked) -> Result<()> {
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
    let families = [
        (
            asked.ip4,
            &req.ip,
            Field::Ip,
            "IPv4",
            net.ipam.has_family(ipam::Family::V4),
        ),
        (asked.ip6, &req.ip6, Field::Ip6, "IPv6", net.enable_ipv6),
    ];
    for (ip, given, field, family, has) in families {
        if ip.is_some() && !has {
            return Err(Error::invalid(format!(
                "invalid {} {}: network {} has no {family} subnet",
                req.door.name(field),
                given.as_deref().unwrap_or_default(),
                net.name
            ))
            .on(field));
        }
    }
    Ok(())
}

/// The endpoint's addresses, with the pools they were taken from: another IPAM's as handed
/// over, else each family's asked-for address reserved or its lowest free one taken (the
/// pools are a copy: nothing is held until the caller records them).
/// `spread`: where dynamic allocation starts in each pool (0: the lowest free address, as
/// Docker hands them out; see `ipam::Pool::allocate_spread`).
pub(crate) fn reserve(
    net: &Network,
    req: &AttachRequest,
    asked: &Asked,
    spread: u64,
) -> Result<Reserved> {
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
            None => ipam.allocate_spread(family, spread).map_err(|_| {
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
fn link_mac(net: &Network, asked: Option<netlink::Mac>) -> Option<netlink::Mac> {
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
/// Refuse a request whose key and placement do not go together: only a runtime's endpoint
/// is reserved or handed off, and a namespace key is the namespace the link goes into.
fn check_shape(req: &AttachRequest) -> Result<()> {
    match (&req.key, &req.placement) {
        (AttachmentKey::Endpoint(id), Placement::Namespace(ns)) => Err(Error::invalid(format!(
            "endpoint {id}: a runtime's endpoint is reserved or handed off to the runtime, not attached into namespace {ns} by underlay"
        ))),
        (AttachmentKey::Endpoint(_), _) => Ok(()),
        (_, Placement::Reserved | Placement::HandOff { .. }) => Err(Error::invalid(
            "only a runtime's endpoint (an endpoint id) is reserved or handed off; a namespace or a container's interface is attached into its namespace",
        )),
        (AttachmentKey::Namespace(key), Placement::Namespace(ns)) if key != ns => {
            Err(Error::invalid(format!(
                "the attachment is keyed by network namespace {key} but its link is to go into {ns}: they are one namespace"
            )))
        }
        (AttachmentKey::Container { ifname, .. }, _)
            if req.ifname.as_ref().is_some_and(|i| i != ifname) =>
        {
            Err(Error::invalid(format!(
                "the container's interface is {ifname} (its key), not {}",
                req.ifname.as_deref().unwrap_or_default()
            )))
        }
        _ => Ok(()),
    }
}

impl Engine {
    /// Attach: the one verb every door's attach goes through. Into a namespace (the CLI's
    /// connect, a CNI ADD), a declared network made or remade first ([`AttachRequest::declared`]);
    /// or a runtime's endpoint reserved (Docker's CreateEndpoint) or handed off on the host
    /// (Join). A failure leaves the host and the store as they were.
    pub fn attach(&self, req: &AttachRequest) -> Result<Attached> {
        check_shape(req)?;
        match (&req.key, &req.placement) {
            (AttachmentKey::Endpoint(id), Placement::Reserved) => self.reserve_handoff(req, id),
            (AttachmentKey::Endpoint(id), Placement::HandOff { sandbox }) => {
                self.join_handoff(&req.network, id, sandbox)
            }
            _ if req.declared.is_some() => self.attach_declared(req),
            _ => self.connect(req),
        }
    }

    /// Attach the namespace `req.netns()` to a network: the request checked, the attachment
    /// admitted under the store's lock, addresses reserved and the intent recorded before
    /// the kernel is touched, the link made, the endpoint recorded attached.
    pub(crate) fn connect(&self, req: &AttachRequest) -> Result<Attached> {
        let ns = self.resolve_netns(req.netns())?;
        self.adopt_if_global(&req.network)?;
        // The host's own namespace is no container: its addresses and routes are the host's.
        if self.nl.ns_own().ok() == Some(ns.id) {
            return Err(Error::invalid(format!(
                "network namespace {:?} ({}) is the host's own: underlay attaches containers, and never changes the host's addresses or routes",
                req.netns(),
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
            let link = self.parent_link(&net, &nsref, req.netns())?;
            (link.index, Some(link))
        } else {
            (self.parent_index(&net, &nsref, req.netns())?, None)
        };
        let parent_mac = parent.as_ref().and_then(|p| p.mac);
        let ifname = self.ifname_for(req, &nsref)?;
        let mac = link_mac(&net, asked.mac);
        let holder = self.holder(req, mac);
        let ((ipam, ipv4, ipv6), claims) =
            self.take_addresses(&mut *txn, &mut net, req, &asked, &holder)?;
        let ep = Endpoint {
            id: holder.endpoint,
            name: holder.container,
            netns: ns.path.display().to_string(),
            netns_id: ns.id,
            tmp_name: ids::tmp_link_name(),
            ifname,
            mac,
            ipv4,
            ipv6,
            state: EndpointState::Attaching,
            container_id: req.container_id().map(str::to_string),
            external: req.external.as_ref().map(|e| e.info.clone()),
            handoff: false,
            routes: asked.routes,
            mtu: req.mtu,
            aliases: dedup(&req.aliases),
            claims,
        };
        net.ipam = ipam;
        let ep = self.record_and_attach(&mut *txn, &mut net, ep, parent_index, &nsref, req.door)?;
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
            mac: ep.mac.or(parent_mac),
            ipv4: ep.ipv4,
            ipv6: ep.ipv6,
            gateway4: ep.ipv4.and_then(|a| ep.gateway_for(&net, a.addr())),
            gateway6: ep.ipv6.and_then(|a| ep.gateway_for(&net, a.addr())),
            routes: Vec::new(),
            warnings,
        })
    }

    /// Who an attach's addresses are claimed for: this node, a new endpoint id, the
    /// container as shown, the MAC.
    fn holder(&self, req: &AttachRequest, mac: Option<netlink::Mac>) -> ClaimHolder {
        ClaimHolder {
            node: self
                .cluster
                .as_deref()
                .map_or(String::new(), |c| c.node().to_string()),
            endpoint: ids::endpoint_id(),
            container: req.name.clone().unwrap_or_else(|| req.netns().to_string()),
            mac: mac.map(|m| m.to_string()),
            since: ids::now_rfc3339(),
        }
    }

    /// The network `req` names, for writing, if this attachment may be made on it: it carries
    /// the required label, is underlay's to change, is ready, has no attachment of this key
    /// yet (a detach of it still finishing is finished now), and can give what was asked.
    fn admit(
        &self,
        txn: &mut dyn store::Txn,
        req: &AttachRequest,
        ns: &Netns,
        asked: &Asked,
    ) -> Result<Network> {
        let net = crate::find_head(txn, &req.network)?;
        if let Some(d) = &req.declared {
            if !d.made_it(&net) {
                return Err(Error::not_found(format!(
                    "network {} has no label {}={}",
                    net.name,
                    crate::DECLARED_LABEL,
                    d.fingerprints.join(" or ")
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
    pub(crate) fn refuse_attached(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        req: &AttachRequest,
        ns: &Netns,
    ) -> Result<()> {
        let Some(cid) = req.container_id() else {
            return match docs::get_ep(txn, net, &slot_ns(ns.id))? {
                Some(ep) => Err(Error::conflict(format!(
                    "network namespace {} is already connected to network {} (as {})",
                    req.netns(),
                    net.name,
                    ep.ifname
                ))),
                None => Ok(()),
            };
        };
        let ifname = req.ifname().unwrap_or("eth0");
        match docs::get_ep(txn, net, &slot_cni(cid, ifname))? {
            Some(ep) if ep.state == EndpointState::Detaching => {
                self.detach_endpoint(txn, net, &ep).map(drop)
            }
            Some(ep) => Err(Error::conflict(format!(
                "container {cid} is already attached to network {} as {} (endpoint {})",
                net.name, ep.ifname, ep.id
            ))),
            None => Ok(()),
        }
    }

    /// The interface name: the one asked for (the kernel checks it when the link is made, see
    /// `attach_link`), else the first free ethN in the namespace.
    pub(crate) fn ifname_for(&self, req: &AttachRequest, ns: &NsRef) -> Result<String> {
        if let Some(name) = req.ifname() {
            return Ok(name.to_string());
        }
        let ns_links = self.ns_links(ns, &format!("network namespace {}", req.netns()))?;
        Ok((0..)
            .map(|n| format!("eth{n}"))
            .find(|n| !ns_links.iter().any(|l| &l.name == n))
            .unwrap_or_else(|| "eth0".to_string()))
    }

    /// Record the reservation and the intent, then make the link; the endpoint recorded
    /// attached. The addresses are reserved first and the intent written second, before the
    /// kernel is touched: a process killed between the two leaves an address reserved that
    /// no endpoint holds (restore frees it), never one held twice. A failure undoes each.
    pub(crate) fn record_and_attach(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        mut ep: Endpoint,
        parent_index: u32,
        ns: &NsRef,
        door: Door,
    ) -> Result<Endpoint> {
        let recorded =
            docs::save_alloc(txn, net).and_then(|()| docs::put_ep(txn, &net.id, &ep, true));
        if let Err(e) = recorded {
            release_addrs(net, &ep);
            let _ = docs::save_alloc(txn, net);
            self.release_claims(net, &ep);
            return Err(e);
        }
        match self.attach_link(net, &ep, parent_index, ns, door) {
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
                .map(|()| {
                    self.release_claims(net, &ep);
                })
                .and(Err(e)),
        }?;
        Ok(ep)
    }

    /// The links in namespace `ns` (`shown` names it in messages).
    pub(crate) fn ns_links(&self, ns: &NsRef, shown: &str) -> Result<Vec<netlink::Link>> {
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
    pub(crate) fn parent_index(&self, net: &Network, ns: &NsRef, shown: &str) -> Result<u32> {
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
    ) -> Result<String> {
        for name in tmp_variants(&ep.tmp_name) {
            let port = Port {
                name: &name,
                parent_index,
                target_ns: target_ns.clone(),
                mac: ep.mac,
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
    pub(crate) fn new_port(
        &self,
        net: &Network,
        made_in: &NsRef,
        port: Port<'_>,
    ) -> netlink::Result<()> {
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
        door: Door,
    ) -> Result<()> {
        let mut made = false;
        let r = self.make_link(net, ep, parent_index, ns, door, &mut made);
        if r.is_err() && made {
            self.remove_endpoint_link(net, ep);
        }
        r
    }

    /// `attach_link`'s steps; `made` is set once the link exists.
    fn make_link(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        ns: &NsRef,
        door: Door,
        made: &mut bool,
    ) -> Result<()> {
        let k = |what: &str, e| step_failed(ep, what, e);
        let named = self.make_port(net, ep, parent_index, ns, door)?;
        *made = true;
        let found = named.as_deref().unwrap_or(&ep.ifname);
        let index = self
            .nl
            .link_index(ns, found)
            .map_err(|e| k("find the new link", e))?
            .ok_or_else(|| Error::kernel(format!("link {found} vanished right after creation")))?;
        self.configure_link(net, ep, ns, index, named.as_deref())
    }

    /// The new link's name (from the temporary one it was made under, if it was), addresses,
    /// up state and routes.
    fn configure_link(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &NsRef,
        index: u32,
        named: Option<&str>,
    ) -> Result<()> {
        let k = |what: &str, e| step_failed(ep, what, e);
        if let Some(tmp) = named {
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
}

/// A kernel refusal of one step of making `ep`'s link, naming the step and where.
fn step_failed(ep: &Endpoint, what: &str, e: netlink::Error) -> Error {
    Error::kernel_from(
        format!("failed to {what} in {}: {}", ep.place(), kernel_reason(&e)),
        e,
    )
}
