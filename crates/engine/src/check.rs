//! Check: an attachment's link, addresses and routes compared with its record.

use netlink::{NsRef, NsScope};

use crate::endpoint::*;
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::Engine;

impl Engine {
    /// Check: the one verb that compares an attachment's link, addresses and routes in its
    /// namespace with its record; the first difference is the error. A runtime's hand-off
    /// endpoint is the runtime's to check.
    pub fn check(&self, network: &str, key: &AttachmentKey) -> Result<(Network, Endpoint)> {
        if let AttachmentKey::Endpoint(id) = key {
            return Err(Error::invalid(format!(
                "endpoint {id} was handed off to its runtime, which addressed it: the runtime checks it"
            )));
        }
        let (net, ep) = {
            let txn = self.store.snapshot()?;
            let net = crate::find_head(&*txn, network)?;
            let ep = self.find_attached(&*txn, &net, key)?;
            (net, ep)
        };
        let ep = ep
            .filter(|e| e.state != EndpointState::Detaching)
            .ok_or_else(|| {
                Error::not_found(match key {
                    AttachmentKey::Container { id, ifname } => format!(
                        "container {id} has no interface {ifname} on network {}",
                        net.name
                    ),
                    AttachmentKey::Namespace(ns) | AttachmentKey::Endpoint(ns) => format!(
                        "network namespace {ns} is not connected to network {}",
                        net.name
                    ),
                })
            })?;
        let Some(path) = self.locate(ep.netns_id, &ep.netns) else {
            let whose = (ep.container_id.as_ref())
                .map(|c| format!(" of container {c}"))
                .unwrap_or_default();
            return Err(Error::not_found(format!(
                "network namespace {}{whose} is gone",
                ep.netns
            )));
        };
        let ns = NsRef::Path(path);
        let _scope = NsScope::new(&*self.nl, &ns);
        let k = |what: &str, e| cannot_list(&ep, what, e);
        let links = self.nl.links(&ns).map_err(|e| k("links", e))?;
        let link = links.iter().find(|l| l.name == ep.ifname).ok_or_else(|| {
            Error::not_found(format!("interface {} not found in {}", ep.ifname, ep.netns))
        })?;
        the_link_underlay_made(&net, &ep, link)?;
        self.compare_addressing(&net, &ep, &ns, link.index)?;
        Ok((net, ep))
    }

    /// The record's addresses on the link, and its routes (or, for a destination, another
    /// interface's route that was there first), else the first one missing is the error.
    fn compare_addressing(
        &self,
        net: &Network,
        ep: &Endpoint,
        ns: &NsRef,
        index: u32,
    ) -> Result<()> {
        let k = |what: &str, e| cannot_list(ep, what, e);
        let addrs = self.nl.addrs(ns).map_err(|e| k("addresses", e))?;
        for want in [ep.ipv4, ep.ipv6].into_iter().flatten() {
            if !addrs.iter().any(|a| a.index == index && a.addr == want) {
                return Err(Error::not_found(format!(
                    "address {want} is missing from {} in {}",
                    ep.ifname, ep.netns
                )));
            }
        }
        let routes = self.nl.routes(ns).map_err(|e| k("routes", e))?;
        for want in self.routes_for(net, ep, index) {
            let found = routes
                .iter()
                .any(|r| r.dst == want.dst && r.gateway == want.gateway && r.oif == index);
            // A route to this destination through another interface kept the first one's.
            let elsewhere = routes.iter().any(|r| r.dst == want.dst && r.oif != index);
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
        Ok(())
    }
}

/// Refuse a link of the endpoint's name that is not the one underlay made: another kind or
/// MAC, or another mode.
fn the_link_underlay_made(net: &Network, ep: &Endpoint, link: &netlink::Link) -> Result<()> {
    if !is_endpoint_link(net, ep, link) {
        return Err(Error::conflict(format!(
            "interface {} in {} is not the {} link underlay made (kind {}, MAC {})",
            ep.ifname,
            ep.netns,
            net.driver(),
            link.kind.as_deref().unwrap_or("unknown"),
            link.mac
                .as_ref()
                .map(netlink::Mac::to_string)
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
    Ok(())
}

/// A dump of `ep`'s namespace the kernel refused, naming what was listed.
fn cannot_list(ep: &Endpoint, what: &str, e: netlink::Error) -> Error {
    Error::kernel_from(
        format!("cannot list {what} in {}: {}", ep.netns, kernel_reason(&e)),
        e,
    )
}
