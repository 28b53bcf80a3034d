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
            Err(e) if self.went_with_namespace(&e, ep.netns_id, &ep.netns) => return None,
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
                if !self.went_with_namespace(&e, ep.netns_id, &ep.netns) {
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

    /// Whether a kernel call's failure to reach a link means the link is gone: it was not
    /// found, or its namespace died meanwhile (a runtime may unmount it while a detach runs;
    /// Podman does right after CNI DEL returns), taking the link with it.
    fn went_with_namespace(&self, e: &netlink::Error, id: netlink::NsId, hint: &str) -> bool {
        e.is_not_found() || self.locate(id, hint).is_none()
    }

    /// Detach: the one verb every door's detach goes through. The attachment `key` names on
    /// `network` loses its link, its record and its addresses, as much as `how` says. A
    /// namespace a user named that holds no attachment is an error; a runtime's key that
    /// holds none is [`Detached::Nothing`] (runtimes retry). A declared network whose parent
    /// underlay made goes with its last attachment.
    pub fn detach(&self, network: &str, key: &AttachmentKey, how: Detach) -> Result<Detached> {
        if let AttachmentKey::Endpoint(id) = key {
            return match how {
                Detach::Link => self.leave_handoff(network, id),
                Detach::All | Detach::Begin => self.delete_handoff_endpoint(network, id),
            };
        }
        if how == Detach::Link {
            return Err(Error::invalid(
                "only a runtime's endpoint (an endpoint id) keeps its record without its link",
            ));
        }
        let (net, detached) = self.detach_attached(network, key, how)?;
        if net.parent.owned() && net.labels.contains_key(crate::DECLARED_LABEL) {
            self.remove_declared_if_unused(&net.name, false);
        }
        Ok(detached)
    }

    /// Detach what a namespace or container key names; the network as it was found.
    fn detach_attached(
        &self,
        network: &str,
        key: &AttachmentKey,
        how: Detach,
    ) -> Result<(Network, Detached)> {
        let mut txn = self.store.begin()?;
        let net = crate::find_head(&*txn, network)?;
        if let AttachmentKey::Namespace(_) = key {
            crate::refuse_if_owned(&net, "disconnect")?;
        }
        let mut net = docs::for_write(&mut *txn, net)?;
        let Some(ep) = self.find_attached(&*txn, &net, key)? else {
            return match key {
                AttachmentKey::Namespace(netns) => Err(Error::not_found(format!(
                    "network namespace {netns} is not connected to network {}",
                    net.name
                ))),
                _ => Ok((net, Detached::Nothing)),
            };
        };
        // Done at once where something waits on the release: addresses of another IPAM
        // (released by it right after), a parent underlay made (removed with the last
        // endpoint).
        if how == Detach::Begin && ep.external.is_none() && !net.parent.owned() {
            let pending = self.begin_detach(&mut *txn, &net, ep)?;
            return Ok((net, Detached::Pending(pending)));
        }
        let remarks = self.detach_endpoint(&mut *txn, &mut net, &ep)?;
        Ok((
            net,
            Detached::Done(Box::new(ep), remarks.into_iter().collect()),
        ))
    }

    /// The attachment `key` names on `net`, if there is one. A namespace is found by its
    /// identity when it exists; otherwise (or when the name now names another namespace, or
    /// a runtime attached it) by the name or path it was attached with.
    pub(crate) fn find_attached(
        &self,
        txn: &dyn store::Snapshot,
        net: &Network,
        key: &AttachmentKey,
    ) -> Result<Option<Endpoint>> {
        let netns = match key {
            AttachmentKey::Container { id, ifname } => {
                return docs::get_ep(txn, net, &slot_cni(id, ifname))
            }
            AttachmentKey::Endpoint(id) => return crate::handoff::get_handoff(txn, net, id),
            AttachmentKey::Namespace(netns) => netns,
        };
        let resolved = self.resolve_netns(netns).ok();
        if let Some(ns) = &resolved {
            if let Some(ep) = docs::get_ep(txn, net, &slot_ns(ns.id))? {
                return Ok(Some(ep));
            }
        }
        let all = crate::load(txn, &net.id)?.unwrap_or_else(|| net.clone());
        let by_id = resolved
            .as_ref()
            .and_then(|ns| all.endpoints.values().find(|e| e.netns_id == ns.id));
        Ok(by_id
            .or_else(|| {
                all.endpoints
                    .values()
                    .find(|e| e.name == *netns || e.netns == *netns)
            })
            .cloned())
    }

    /// Record the intent to detach `ep` and find its link, without waiting for the kernel to
    /// delete it. `finish_detach` (another process, or `restore` if that one dies) deletes
    /// the link and releases the addresses; until then they stay reserved, and an attach of
    /// the same key finishes the detach first.
    fn begin_detach(
        &self,
        txn: &mut dyn store::Txn,
        net: &Network,
        mut ep: Endpoint,
    ) -> Result<PendingDetach> {
        // The link as it is now, by index: a later link of the same name is never touched.
        let mut ifindex = None;
        if let Some(path) = self.locate(ep.netns_id, &ep.netns) {
            ep.netns = path.display().to_string();
            let ns = NsRef::Path(path);
            let _scope = NsScope::new(&*self.nl, &ns);
            if let Ok(links) = self.nl.links(&ns) {
                ifindex = links
                    .iter()
                    .find(|l| is_endpoint_link(net, &ep, l))
                    .map(|l| l.index);
            }
        }
        if ep.state != EndpointState::Detaching {
            ep.state = EndpointState::Detaching;
            docs::put_ep(txn, &net.id, &ep, true)?;
        }
        Ok(PendingDetach {
            network_id: net.id.clone(),
            endpoint_id: ep.id.clone(),
            slot: ep.slot(),
            netns: ep.netns.clone(),
            netns_id: ep.netns_id,
            ifindex,
        })
    }

    /// Finish what a [`Detach::Begin`] started: delete the link (by the index found then,
    /// outside the lock: the kernel's part takes tens of milliseconds), then drop the record
    /// and release the addresses.
    pub fn finish_detach(&self, p: &PendingDetach) -> Result<()> {
        if let Some(index) = p.ifindex {
            if let Some(path) = self.locate(p.netns_id, &p.netns) {
                let ns = NsRef::Path(path);
                let _scope = NsScope::new(&*self.nl, &ns);
                if let Err(e) = self.nl.link_del(&ns, index) {
                    if !self.went_with_namespace(&e, p.netns_id, &p.netns) {
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
                docs::save_alloc(&mut *txn, &net)?;
                self.release_claims(&net, &ep);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Record the intent, delete the link, release the addresses.
    /// The endpoint's document goes before its addresses are released: a process killed
    /// between the two leaves them reserved (restore frees them), never handed out twice.
    /// A remark where a cluster store could not be told (restore tells it later).
    pub(crate) fn detach_endpoint(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        ep: &Endpoint,
    ) -> Result<Option<String>> {
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
        let remark = self.release_claims(net, &ep);
        self.hand_over_default_routes(&*txn, net, &ep);
        Ok(remark)
    }
}
