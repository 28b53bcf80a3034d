//! Hand-off endpoints: the runtime (Docker's remote network driver API) owns the container's
//! side. underlay makes the macvlan/ipvlan link on the host under a temporary name and hands
//! it over; the runtime moves it into the container, names it, sets its addresses and routes
//! from what the attach returns, and moves it back under the temporary name when it leaves,
//! for underlay to delete.
//!
//! ```text
//! CreateEndpoint ─▶ attach, Placement::Reserved   record addresses and MAC (state created)
//! Join           ─▶ attach, Placement::HandOff    link on the host (attaching → attached)
//! Leave          ─▶ detach, Detach::Link          delete the returned link (→ created)
//! DeleteEndpoint ─▶ detach, Detach::All           drop the record
//! ```
//!
//! Every call is idempotent: the runtime retries calls it could not complete, and replays
//! CreateNetwork for networks it knows.

use std::path::Path;

use netlink::NsRef;

use crate::docs;
use crate::endpoint::{
    parse_mac, refuse_second_passthru, tmp_variants, AttachRequest, Attached, Detached,
};
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::{ids, CreateRequest, Created, Engine};

impl Engine {
    /// Create a network for a runtime that may ask again for one it made before (Docker
    /// replays CreateNetwork): a network with `req.id` that exists is kept, its parent made
    /// again if underlay owns it and it is missing.
    pub fn ensure_network(&self, req: &CreateRequest) -> Result<Created> {
        if let Some(id) = &req.id {
            let existing = {
                let txn = self.store.snapshot()?;
                crate::load_head(&*txn, id)?
            };
            if let Some(net) = existing {
                if net.state == NetState::Ready && net.owner == req.owner {
                    self.ensure_parent(&net)?;
                    return Ok(Created {
                        id: net.id,
                        warnings: Vec::new(),
                    });
                }
            }
        }
        self.create_network(req)
    }

    /// Remove a runtime's network. The runtime has already detached its containers, so
    /// endpoint records left behind (a call that never reached underlay) go with it, and any
    /// link of theirs still on the host. Removing a network that is not there succeeds.
    pub fn delete_runtime_network(&self, id: &str) -> Result<()> {
        let mut txn = self.store.begin()?;
        let Some(mut net) = crate::load(&*txn, id)? else {
            return Ok(());
        };
        for ep in net.endpoints.values().filter(|e| e.handoff) {
            if let Some(problem) = self.remove_handoff_link(&net, ep) {
                return Err(Error::kernel(problem));
            }
        }
        net.endpoints.clear();
        self.remove_document(&mut *txn, net)
    }

    /// Record an endpoint whose addresses the runtime chose (CreateEndpoint: `req.external`).
    /// `req.mac` is the runtime's; without one a macvlan endpoint gets a random locally
    /// administered MAC, which the result carries for the runtime to use. ipvlan and passthru
    /// links keep their parent's MAC.
    pub(crate) fn reserve_handoff(&self, req: &AttachRequest, endpoint: &str) -> Result<Attached> {
        let (network, mac) = (req.network.as_str(), req.mac.as_deref());
        let ipv4 = req.external.as_ref().and_then(|x| x.ipv4);
        let ipv6 = req.external.as_ref().and_then(|x| x.ipv6);
        if endpoint.is_empty() {
            return Err(Error::invalid("an endpoint id is required"));
        }
        if endpoint.len() > 100 {
            return Err(Error::invalid(format!(
                "invalid endpoint id: at most 100 characters (Docker's are 64 hex digits), this one has {}",
                endpoint.len()
            )));
        }
        let mac = mac.map(|m| parse_mac(req.door, m)).transpose()?;
        let mut txn = self.store.begin()?;
        let net = self.runtime_network(&mut *txn, network)?;
        if let Some(ep) = get_handoff(&*txn, &net, endpoint)? {
            if ep.ipv4 == ipv4 && ep.ipv6 == ipv6 {
                // The same call again: the same answer.
                return Ok(reserved(&net, &ep));
            }
            return Err(Error::conflict(format!(
                "endpoint {endpoint} already exists on network {} with other addresses",
                net.name
            )));
        }
        if mac.is_some() && net.driver() == Driver::Ipvlan {
            return Err(Error::invalid(
                "ipvlan interfaces do not support custom mac address assignment",
            ));
        }
        refuse_second_passthru(&*txn, &net)?;
        for (addr, family) in [(ipv4, "ipv4"), (ipv6, "ipv6")] {
            let Some(addr) = addr else { continue };
            let family_ok = addr.addr().is_ipv4() == (family == "ipv4");
            let pools = net.ipam.pools();
            if !family_ok || (!pools.is_empty() && net.ipam.pool_for(addr.addr()).is_none()) {
                return Err(Error::invalid(format!(
                    "could not find a valid {family} subnet for endpoint {endpoint}: {addr} is in none of network {}'s subnets ({})",
                    net.name,
                    pools
                        .iter()
                        .map(|p| p.subnet().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let generated = match (net.driver(), mac) {
            (Driver::Macvlan, None) if !net.is_passthru() => Some(ids::random_mac()),
            _ => None,
        };
        let ep = Endpoint {
            id: endpoint.to_string(),
            name: endpoint[..12.min(endpoint.len())].to_string(),
            netns: String::new(),
            netns_id: netlink::NsId::default(),
            tmp_name: ids::tmp_link_name(),
            ifname: String::new(),
            mac: mac.or(generated),
            ipv4,
            ipv6,
            state: EndpointState::Created,
            container_id: None,
            external: None,
            handoff: true,
            routes: None,
            mtu: None,
            aliases: Vec::new(),
            claims: Vec::new(),
        };
        docs::put_ep(&mut *txn, &net.id, &ep, true)?;
        Ok(reserved(&net, &ep))
    }

    /// Make the endpoint's link on the host for the runtime to move into `sandbox` (Join).
    /// A failure leaves no link and the endpoint as it was.
    pub(crate) fn join_handoff(
        &self,
        network: &str,
        endpoint: &str,
        sandbox: &str,
    ) -> Result<Attached> {
        let mut txn = self.store.begin()?;
        let net = self.runtime_network(&mut *txn, network)?;
        let mut ep = handoff_endpoint(&*txn, &net, endpoint)?;
        let parent = self.parent_link(&net, &NsRef::Host, "")?;
        if ep.state == EndpointState::Attached {
            // Asked again (the runtime retried): hand over the same link if it is still here.
            if let Some(link) = self.handoff_link(&net, &ep)? {
                return Ok(self.joined(&net, &ep, link.name));
            }
        }
        ep.netns = sandbox.to_string();
        ep.netns_id = self.nl.ns_id(Path::new(sandbox)).unwrap_or_default();
        ep.state = EndpointState::Attaching;
        // Write-ahead: a process killed from here on leaves state attaching for `restore`.
        docs::put_ep(&mut *txn, &net.id, &ep, true)?;
        match self.add_port(&net, &ep, parent.index, &NsRef::Host, None) {
            Ok(name) => {
                ep.state = EndpointState::Attached;
                if let Err(e) = docs::put_ep(&mut *txn, &net.id, &ep, false) {
                    self.remove_handoff_link(&net, &ep);
                    return Err(e);
                }
                let mut joined = self.joined(&net, &ep, name);
                joined
                    .warnings
                    .extend(crate::endpoint::parent_down(&parent, "the endpoint"));
                Ok(joined)
            }
            Err(e) => {
                self.remove_handoff_link(&net, &ep);
                ep.state = EndpointState::Created;
                docs::put_ep(&mut *txn, &net.id, &ep, false)?;
                Err(e)
            }
        }
    }

    /// The runtime took the link out of the container again (Leave): delete it. Idempotent.
    pub(crate) fn leave_handoff(&self, network: &str, endpoint: &str) -> Result<Detached> {
        let mut txn = self.store.begin()?;
        let Some((net, mut ep)) = self.runtime_endpoint(&mut *txn, network, endpoint)? else {
            return Ok(Detached::Nothing);
        };
        if ep.state == EndpointState::Created {
            return Ok(Detached::Nothing);
        }
        ep.state = EndpointState::Detaching;
        docs::put_ep(&mut *txn, &net.id, &ep, true)?;
        if let Some(problem) = self.remove_handoff_link(&net, &ep) {
            return Err(Error::kernel(format!(
                "{problem}; `underlay network restore` retries"
            )));
        }
        ep.state = EndpointState::Created;
        docs::put_ep(&mut *txn, &net.id, &ep, false)?;
        Ok(Detached::Done(Box::new(ep), Vec::new()))
    }

    /// Forget an endpoint (DeleteEndpoint), deleting its link if it is back on the host.
    /// Idempotent.
    pub(crate) fn delete_handoff_endpoint(
        &self,
        network: &str,
        endpoint: &str,
    ) -> Result<Detached> {
        let mut txn = self.store.begin()?;
        let Some((net, ep)) = self.runtime_endpoint(&mut *txn, network, endpoint)? else {
            return Ok(Detached::Nothing);
        };
        if let Some(problem) = self.remove_handoff_link(&net, &ep) {
            return Err(Error::kernel(problem));
        }
        docs::del_ep(&mut *txn, &net.id, &ep)?;
        Ok(Detached::Done(Box::new(ep), Vec::new()))
    }

    /// Give a runtime's network the name the runtime knows it by (Docker does not tell its
    /// driver), and the IPAM driver it uses. A name another network has is refused.
    pub fn name_runtime_network(
        &self,
        id: &str,
        name: &str,
        ipam_driver: Option<&str>,
    ) -> Result<()> {
        crate::create::check_network_name(name)?;
        let mut txn = self.store.begin()?;
        let Some(net) = crate::load_head(&*txn, id)? else {
            return Err(Error::not_found(format!("network {id} not found")));
        };
        let mut net = docs::for_write(&mut *txn, net)?;
        net.ipam_driver = ipam_driver.map(str::to_string);
        if net.name != name {
            if let Some(other) = crate::find_by_name(&*txn, name)? {
                docs::save_unsynced(&mut *txn, &net)?;
                return Err(Error::network_exists(format!(
                    "network with name {name} already exists ({})",
                    other.short_id()
                )));
            }
            crate::index_remove(&mut *txn, &net)?;
            net.name = name.to_string();
            crate::index_add(&mut *txn, &net)?;
        }
        docs::save_unsynced(&mut *txn, &net)
    }

    /// Show the runtime's container (id and name) for an endpoint.
    pub fn name_endpoint(
        &self,
        network: &str,
        endpoint: &str,
        container_id: &str,
        name: &str,
    ) -> Result<()> {
        let mut txn = self.store.begin()?;
        let Some((net, mut ep)) = self.runtime_endpoint(&mut *txn, network, endpoint)? else {
            return Ok(());
        };
        if ep.name == name && ep.container_id.as_deref() == Some(container_id) {
            return Ok(());
        }
        ep.name = name.to_string();
        ep.container_id = Some(container_id.to_string());
        docs::put_ep(&mut *txn, &net.id, &ep, false)
    }

    fn runtime_network(&self, txn: &mut dyn store::Txn, network: &str) -> Result<Network> {
        let net = crate::load_head(txn, network)?
            .ok_or_else(|| Error::not_found(format!("network id {network:?} not found")))?;
        net.check_ready()?;
        docs::for_write(txn, net)
    }

    /// A hand-off endpoint and its network, if both are there (by network name, id or prefix).
    fn runtime_endpoint(
        &self,
        txn: &mut dyn store::Txn,
        network: &str,
        endpoint: &str,
    ) -> Result<Option<(Network, Endpoint)>> {
        let Ok(net) = crate::find_head(txn, network) else {
            return Ok(None);
        };
        let net = docs::for_write(txn, net)?;
        Ok(get_handoff(txn, &net, endpoint)?.map(|ep| (net, ep)))
    }

    /// What the runtime needs to finish a join: the link to take (`ifname`, its name on the
    /// host: Docker's `SrcName`) and how to route through it.
    fn joined(&self, net: &Network, ep: &Endpoint, src_name: String) -> Attached {
        let mut out = reserved(net, ep);
        out.ifname = src_name;
        for r in self.routes_for(net, ep, 0) {
            match r.gateway {
                Some(gw) if r.dst.prefix_len() == 0 && gw.is_ipv4() && out.gateway4.is_none() => {
                    out.gateway4 = Some(gw)
                }
                Some(gw) if r.dst.prefix_len() == 0 && gw.is_ipv6() && out.gateway6.is_none() => {
                    out.gateway6 = Some(gw)
                }
                gw => out.routes.push(RouteSpec { dst: r.dst, gw }),
            }
        }
        out
    }

    /// The endpoint's link on the host (under its temporary name), if there is one.
    fn handoff_link(&self, net: &Network, ep: &Endpoint) -> Result<Option<netlink::Link>> {
        let links = self.nl.links(&NsRef::Host).map_err(|e| {
            Error::kernel_from(
                format!("cannot list the host's links: {}", kernel_reason(&e)),
                e,
            )
        })?;
        let names = tmp_variants(&ep.tmp_name);
        Ok(links.into_iter().find(|l| {
            names.contains(&l.name)
                && l.kind.as_deref() == Some(net.driver().name())
                && match (ep.mac, l.mac) {
                    (Some(want), Some(have)) => want == have,
                    _ => true,
                }
        }))
    }

    /// Delete the endpoint's link if it is on the host. Best effort: the problem, if any.
    pub(crate) fn remove_handoff_link(&self, net: &Network, ep: &Endpoint) -> Option<String> {
        match self.handoff_link(net, ep) {
            Ok(None) => None,
            Ok(Some(link)) => match self.nl.link_del(&NsRef::Host, link.index) {
                Ok(()) => None,
                Err(e) if e.is_not_found() => None,
                Err(e) => Some(format!(
                    "cannot delete link {} of endpoint {}: {}",
                    link.name,
                    ep.id,
                    kernel_reason(&e)
                )),
            },
            Err(e) => Some(e.to_string()),
        }
    }
}

/// A reserved hand-off endpoint as the runtime sees it: its addresses and MAC, no link yet.
fn reserved(net: &Network, ep: &Endpoint) -> Attached {
    Attached {
        network_id: net.id.clone(),
        endpoint_id: ep.id.clone(),
        ifname: String::new(),
        mac: ep.mac,
        ipv4: ep.ipv4,
        ipv6: ep.ipv6,
        gateway4: None,
        gateway6: None,
        routes: Vec::new(),
        warnings: Vec::new(),
    }
}

/// The hand-off endpoint with the runtime's id `endpoint`, if the network has it.
pub(crate) fn get_handoff(
    txn: &dyn store::Snapshot,
    net: &Network,
    endpoint: &str,
) -> Result<Option<Endpoint>> {
    Ok(docs::get_ep(txn, net, &slot_handoff(endpoint))?.filter(|e| e.handoff))
}

fn handoff_endpoint(txn: &dyn store::Snapshot, net: &Network, endpoint: &str) -> Result<Endpoint> {
    get_handoff(txn, net, endpoint)?.ok_or_else(|| {
        Error::not_found(format!(
            "endpoint id {endpoint:?} not found on network {}",
            net.name
        ))
    })
}
