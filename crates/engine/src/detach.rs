//! Detach: an endpoint leaves its network. The record is marked detaching, the link
//! deleted (by the index found while the lock was held), then the record forgotten before
//! its addresses are released; the default route is handed to a network that remains.

use netlink::{NsRef, NsScope};

use crate::docs;
use crate::endpoint::*;
use crate::error::{kernel_reason, Error, Result};
use crate::model::*;
use crate::Engine;

impl Engine {
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
        // (A job without its endpoint's slot names nothing to finish: restore undoes the
        // detach it began.)
        let ep = match p.slot.as_str() {
            "" => None,
            slot => docs::get_ep(&*txn, &net, slot)?,
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
    pub(crate) fn detach(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        ep: &Endpoint,
    ) -> Result<()> {
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
}
