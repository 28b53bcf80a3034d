//! `restore`: bring the kernel back in line with the store after a crash, a reboot, or links
//! deleted behind underlay's back. Interrupted operations are finished or undone; parents
//! underlay owns are recreated; endpoints whose namespace is gone are released; endpoint links
//! that vanished from a living namespace are recreated. Nothing is ever dropped silently: a
//! network whose parent cannot be brought back is kept and reported.

use std::collections::BTreeSet;
use std::path::Path;

use netlink::{Holders, NsRef};

use crate::damage::ep_addrs;
use crate::endpoint::{drop_endpoint, is_endpoint_link};
use crate::error::Result;
use crate::model::*;
use crate::Engine;

impl Engine {
    pub fn restore(&self) -> Result<RestoreReport> {
        let mut report = RestoreReport::default();
        let mut txn = self.store.begin()?;
        txn.tidy()?;
        let (mut nets, damaged) = crate::docs::load_all_for_restore(&*txn)?;
        // Namespaces by identity, wherever they are held: searched once, when the first
        // endpoint's path no longer names its namespace.
        let holders = netlink::Holders::new(&*self.nl);
        let weighed = self.weigh_damage(&mut *txn, &mut nets, &damaged, &holders, &mut report)?;
        // Documents kept unread, as evidence: no rewrite of a network may delete them.
        let spare: BTreeSet<String> = damaged.iter().map(|d| d.key.clone()).collect();
        for net in &nets {
            match net.state {
                NetState::Creating => {
                    if let Some(p) = self.release_parent(&nets, net) {
                        report.lines.push(p);
                    }
                    self.forget_network(&mut *txn, net)?;
                    report.lines.push(format!(
                        "network {}: undid a create that was cut off",
                        net.name
                    ));
                }
                NetState::Removing => {
                    if let Some(p) = self.release_parent(&nets, net) {
                        report.lines.push(format!("network {}: {p}", net.name));
                        continue;
                    }
                    self.forget_network(&mut *txn, net)?;
                    report.lines.push(format!(
                        "network {}: finished a removal that was cut off",
                        net.name
                    ));
                }
                NetState::Ready => {
                    let mut net = net.clone();
                    let mut changed = weighed.changed.contains(&net.id);
                    changed |= self.restore_network(&mut net, &holders, &mut report)?;
                    if !net.external_ipam && !weighed.keep_reservations.contains(&net.id) {
                        changed |= self.reconcile_reservations(&mut net, &holders, &mut report);
                    }
                    if crate::migrate::needs_layout(&net) {
                        report.lines.push(crate::migrate::laid_out(&net));
                        changed = true;
                    }
                    if changed {
                        crate::docs::save_full_sparing(&mut *txn, &net, &spare)?;
                    }
                }
            }
        }
        // The index is a hint kept beside the documents: make it match them exactly.
        let (left, _) = crate::docs::load_all_readable(&*txn)?;
        crate::reindex(&mut *txn, &left, &weighed.unreadable)?;
        self.reconcile_global(&mut *txn, &left, &mut report)?;
        self.pools().restore(&mut *txn, &mut report)?;
        Ok(report)
    }

    /// The cluster store's claims made to match this host's records, as `restore` does, and
    /// nothing else (no kernel state is touched): a release that could not reach the cluster
    /// store is made now, a claim left without its record is released, one an operator's
    /// `cluster forget` removed is made again. Under the state directory's lock, so no
    /// attach of this host is between its claim and its record meanwhile. What the daemon
    /// runs on an interval.
    pub fn reconcile_cluster(&self) -> Result<RestoreReport> {
        let mut report = RestoreReport::default();
        if self.cluster.is_none() {
            return Ok(report);
        }
        let mut txn = self.store.begin()?;
        let (nets, _) = crate::docs::load_all_readable(&*txn)?;
        self.reconcile_global(&mut *txn, &nets, &mut report)?;
        self.pools().restore(&mut *txn, &mut report)?;
        Ok(report)
    }

    fn forget_network(&self, txn: &mut dyn store::Txn, net: &Network) -> Result<()> {
        crate::docs::delete_all(txn, net)?;
        crate::index_remove(txn, net)
    }

    /// A ready network's parent (recreated if underlay made it) and each of its endpoints
    /// brought back in line with the kernel; whether its documents must be written again.
    fn restore_network(
        &self,
        net: &mut Network,
        holders: &Holders,
        report: &mut RestoreReport,
    ) -> Result<bool> {
        let parent = net.parent.name().to_string();
        let on_host = !net.parent.in_container();
        if on_host && !self.link_exists(&parent)? {
            let problem = if !net.parent.owned() {
                format!("parent interface {parent} is missing; network kept, endpoints cannot attach until it is back")
            } else {
                match self.ensure_parent(net) {
                    Ok(()) => {
                        report.lines.push(format!(
                            "network {}: recreated parent link {parent}",
                            net.name
                        ));
                        String::new()
                    }
                    Err(e) => format!(
                        "parent link {parent} is missing and could not be recreated: {e}; network kept"
                    ),
                }
            };
            if !problem.is_empty() {
                report.problem(format!("network {}: {problem}", net.name));
                report.degraded.push(net.name.clone());
            }
        }
        let parent_index = if on_host {
            self.link(&NsRef::Host, &parent)?.map(|l| l.index)
        } else {
            None
        };
        let mut changed = false;
        let eps: Vec<Endpoint> = net.endpoints.values().cloned().collect();
        for ep in eps {
            changed |= self.restore_endpoint(net, ep, holders, parent_index, report);
        }
        Ok(changed)
    }

    /// One endpoint: followed to where its namespace is held now; an operation cut off undone
    /// (a hand-off endpoint's waits for its runtime); released if its namespace is gone;
    /// re-checked, and its link recreated, if attached. Whether the network changed.
    fn restore_endpoint(
        &self,
        net: &mut Network,
        mut ep: Endpoint,
        holders: &Holders,
        host_parent: Option<u32>,
        report: &mut RestoreReport,
    ) -> bool {
        let located = if ep.handoff {
            None
        } else {
            holders.locate(ep.netns_id, Path::new(&ep.netns))
        };
        let alive = located.is_some();
        let mut changed = false;
        if let Some(path) = located.filter(|p| p.as_os_str() != ep.netns.as_str()) {
            // The path it was attached through (a PID that exited, say) no longer names the
            // namespace, but something still holds it: so does the link.
            report.lines.push(format!(
                "network {}: namespace of {} is no longer at {}; reached at {}",
                net.name,
                ep.name,
                ep.netns,
                path.display()
            ));
            ep.netns = path.display().to_string();
            if let Some(e) = net.endpoints.get_mut(&ep.id) {
                e.netns = ep.netns.clone();
            }
            changed = true;
        }
        let cut_off = match ep.state {
            EndpointState::Attaching => "attach",
            EndpointState::Detaching => "detach",
            // The runtime decides when a hand-off endpoint goes (Leave, DeleteEndpoint).
            EndpointState::Created => return changed,
            EndpointState::Attached if ep.handoff => return changed,
            EndpointState::Attached if !alive => {
                drop_endpoint(net, &ep.id);
                report.lines.push(format!(
                    "network {}: namespace of {} is gone; released {}",
                    net.name,
                    ep.name,
                    ep_addrs(&ep)
                ));
                return true;
            }
            EndpointState::Attached => {
                return self.recheck_attached(net, &ep, host_parent, report) || changed
            }
        };
        if ep.handoff {
            if let Some(p) = self.remove_handoff_link(net, &ep) {
                report.lines.push(format!("network {}: {p}", net.name));
                return changed;
            }
            if let Some(e) = net.endpoints.get_mut(&ep.id) {
                e.state = EndpointState::Created;
            }
            report.lines.push(format!(
                "network {}: {} of endpoint {} was cut off; its link is deleted and the endpoint waits for {}",
                net.name,
                if cut_off == "attach" { "join" } else { "leave" },
                ep.name,
                net.owner.map(Owner::name).unwrap_or("its runtime")
            ));
            return true;
        }
        if let Some(p) = self.remove_endpoint_link(net, &ep) {
            report.lines.push(format!("network {}: {p}", net.name));
            return changed;
        }
        drop_endpoint(net, &ep.id);
        report.lines.push(format!(
            "network {}: {cut_off} of {} was cut off; undone and its addresses released",
            net.name, ep.name
        ));
        true
    }

    /// An attached endpoint whose namespace lives: its link found by name, or renamed inside
    /// the namespace (found by kind and MAC, as disconnect finds it: the record follows the
    /// new name), or recreated. Whether the network changed.
    fn recheck_attached(
        &self,
        net: &mut Network,
        ep: &Endpoint,
        host_parent: Option<u32>,
        report: &mut RestoreReport,
    ) -> bool {
        let ns = NsRef::Path(ep.netns.clone().into());
        let _scope = netlink::NsScope::new(&*self.nl, &ns);
        let present = match self.nl.links(&ns) {
            Ok(links) => links
                .iter()
                .find(|l| l.name == ep.ifname)
                .or_else(|| links.iter().find(|l| is_endpoint_link(net, ep, l)))
                .map(|l| l.name.clone()),
            Err(_) => Some(ep.ifname.clone()),
        };
        if let Some(name) = present {
            if name == ep.ifname {
                return false;
            }
            report.lines.push(format!(
                "network {}: {} of {} was renamed {name} inside its namespace; recorded",
                net.name, ep.ifname, ep.name
            ));
            if let Some(e) = net.endpoints.get_mut(&ep.id) {
                e.ifname = name;
            }
            return true;
        }
        let parent_index = if net.parent.in_container() {
            self.parent_link(net, &ns, &ep.name).ok().map(|l| l.index)
        } else {
            host_parent
        };
        let Some(parent_index) = parent_index else {
            report.problem(format!(
                "network {}: {} lost {} and it cannot be recreated while parent {} is missing",
                net.name,
                ep.name,
                ep.ifname,
                net.parent.name()
            ));
            return false;
        };
        match self.attach_link(net, ep, parent_index, &ns, crate::Door::Cli) {
            Ok(()) => report.lines.push(format!(
                "network {}: recreated {} in {} ({})",
                net.name,
                ep.ifname,
                ep.name,
                ep_addrs(ep)
            )),
            Err(e) => report.problem(format!(
                "network {}: could not recreate {} in {}: {e}",
                net.name, ep.ifname, ep.name
            )),
        }
        false
    }

    /// Addresses reserved that no endpoint holds: an operation cut off between its writes
    /// (reserve, then record; forget, then release), which leaves no link behind; or an
    /// endpoint document lost, whose link the kernel still has: asked first (adopted). The
    /// reservations then match the endpoints exactly. Whether the network changed.
    fn reconcile_reservations(
        &self,
        net: &mut Network,
        holders: &Holders,
        report: &mut RestoreReport,
    ) -> bool {
        let mut changed = self.adopt_holders_of_unheld(net, holders, report);
        let held: Vec<std::net::IpAddr> = net.held_addrs().collect();
        let mut fresh = net.ipam.without_allocations();
        for ip in &held {
            let _ = fresh.reserve(*ip);
        }
        if fresh.allocations() != net.ipam.allocations() {
            let total =
                |i: &ipam::NetworkIpam| -> u128 { i.allocations().iter().map(|s| s.count()).sum() };
            let kept = held.iter().filter(|ip| net.ipam.is_allocated(**ip)).count() as u128;
            report.lines.push(format!(
                "network {}: reservations brought in line with its endpoints ({} released, {} reserved)",
                net.name,
                total(&net.ipam) - kept,
                total(&fresh) - kept
            ));
            net.ipam = fresh;
            changed = true;
        }
        changed
    }
}
