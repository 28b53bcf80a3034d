//! What `restore` does with state documents that cannot be read (empty, truncated, garbage,
//! JSON of another shape). Such a document is evidence, not garbage: what it described may
//! still be in the kernel, holding an address. So before anything is released the kernel is
//! asked, and damage to one network's documents stays with that network:
//!
//! - a network's own document: written anew from its copy (every network document is written
//!   twice); where the copy is lost too, that network is left exactly as it is (its endpoints,
//!   its reservations, its index entries) and reported; the others are restored as usual;
//! - its allocations: recomputed from its endpoints (they are a cache of them);
//! - an endpoint's: the links of the network in every namespace still held on the host are
//!   compared with the endpoints that can be read. A link that none of them accounts for and
//!   that the document's name points to (its namespace, or its CNI interface name) is adopted:
//!   the document is written anew from the kernel. Where no such link exists anywhere, nothing
//!   holds the document's addresses and it is dropped. Where the kernel cannot tell (Docker's
//!   endpoints, a parent inside the containers, several candidates), the document and every
//!   reservation of the network are kept and the network is reported degraded.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use netlink::Holders;
use netlink::NsRef;

use crate::docs::Damaged;
use crate::error::Result;
use crate::model::*;
use crate::{ids, Engine};

/// A link of a network found in the kernel that no readable endpoint accounts for.
#[derive(Clone, Debug)]
struct Stray {
    ns: PathBuf,
    ns_id: netlink::NsId,
    link: netlink::Link,
    addrs: Vec<IpNet>,
}

/// What the damage left for the rest of `restore`.
#[derive(Default)]
pub(crate) struct Weighed {
    /// Networks whose own document cannot be read: left alone, their documents kept.
    pub unreadable: BTreeSet<String>,
    /// Networks with an endpoint document kept unread: their reservations stay as they are.
    pub keep_reservations: BTreeSet<String>,
    /// Networks whose documents must be written again (an endpoint adopted, one dropped,
    /// allocations recomputed).
    pub changed: BTreeSet<String>,
}

/// Where a damaged endpoint document points in the kernel, as far as its name tells.
enum Pointer {
    Namespace(netlink::NsId),
    Cni {
        container_id: String,
        ifname: String,
    },
    Docker(String),
    Unknown,
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn pointer(slot: &str) -> Pointer {
    if let Some(rest) = slot.strip_prefix("ns-") {
        let mut it = rest.split('-').map(str::parse::<u64>);
        if let (Some(Ok(dev)), Some(Ok(ino)), None) = (it.next(), it.next(), it.next()) {
            return Pointer::Namespace(netlink::NsId { dev, ino });
        }
    } else if let Some(rest) = slot.strip_prefix("cni-") {
        if let Some((c, i)) = rest.split_once('-') {
            if let (Some(container_id), Some(ifname)) = (unhex(c), unhex(i)) {
                return Pointer::Cni {
                    container_id,
                    ifname,
                };
            }
        }
    } else if let Some(id) = slot.strip_prefix("ep-").and_then(unhex) {
        return Pointer::Docker(id);
    }
    Pointer::Unknown
}

impl Engine {
    /// Weigh every document that cannot be read against the kernel (see the module's text);
    /// adopted endpoints are put into `nets`, dropped documents deleted.
    pub(crate) fn weigh_damage(
        &self,
        txn: &mut dyn store::Txn,
        nets: &mut [Network],
        damaged: &[Damaged],
        holders: &Holders,
        report: &mut RestoreReport,
    ) -> Result<Weighed> {
        let mut w = Weighed::default();
        let location = self.store.location();
        for d in damaged.iter().filter(|d| d.is_network() && d.recovered) {
            w.changed.insert(d.network_id().to_string());
            report
                .lines
                .push(format!("network {}: {d}", d.network_id()));
        }
        for d in damaged.iter().filter(|d| d.is_network() && !d.recovered) {
            w.unreadable.insert(d.network_id().to_string());
            report.problem(format!(
                "{d}: network {} is left as it is (its endpoints keep their addresses); repair or remove that document under {location}, then run `underlay network restore` again",
                d.network_id()
            ));
        }
        for net in nets.iter_mut() {
            let mine: Vec<&Damaged> = damaged
                .iter()
                .filter(|d| !d.is_network() && d.network_id() == net.id)
                .collect();
            if mine.is_empty() {
                continue;
            }
            w.changed.insert(net.id.clone());
            for d in mine.iter().filter(|d| d.endpoint_slot().is_none()) {
                report.lines.push(format!(
                    "network {}: {d}; recomputed from its endpoints",
                    net.name
                ));
            }
            let eps: Vec<&Damaged> = mine
                .into_iter()
                .filter(|d| d.endpoint_slot().is_some())
                .collect();
            if eps.is_empty() {
                continue;
            }
            let mut strays = self.strays(net, holders);
            for d in eps {
                if !self.settle_endpoint(txn, net, d, &mut strays, report)? {
                    w.keep_reservations.insert(net.id.clone());
                }
            }
        }
        Ok(w)
    }

    /// Adopt, drop or keep one damaged endpoint document; whether it is settled (not kept).
    fn settle_endpoint(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        d: &Damaged,
        strays: &mut Option<Vec<Stray>>,
        report: &mut RestoreReport,
    ) -> Result<bool> {
        let slot = d.endpoint_slot().unwrap_or_default();
        let ptr = pointer(slot);
        let keep = |report: &mut RestoreReport, why: &str| {
            report.problem(format!(
                "network {}: {d}; {why}: the document and every address the network has reserved are kept; repair or remove it under {}, then run `underlay network restore` again",
                net.name,
                self.store.location()
            ));
            false
        };
        let Some(found) = strays.as_mut() else {
            return Ok(keep(
                report,
                "the kernel cannot be asked which of the network's links it described (its parent is inside the containers, or missing)",
            ));
        };
        if let Pointer::Docker(id) = &ptr {
            let why = format!("it is Docker's endpoint {}", &id[..id.len().min(12)]);
            return Ok(keep(report, &why));
        }
        let candidates: Vec<usize> = found
            .iter()
            .enumerate()
            .filter(|(_, s)| match &ptr {
                Pointer::Namespace(id) => s.ns_id == *id,
                Pointer::Cni { ifname, .. } => s.link.name == *ifname,
                _ => true,
            })
            .map(|(i, _)| i)
            .collect();
        match candidates.as_slice() {
            [] => {
                crate::docs::drop_damaged(txn, &d.key)?;
                report.lines.push(format!(
                    "network {}: {d}; no link of the network in any namespace holds an address that its other endpoints do not account for, so nothing holds what it described: dropped",
                    net.name
                ));
                Ok(true)
            }
            [one] => {
                let stray = found.remove(*one);
                let ep = adopted(&stray, &ptr);
                for a in [ep.ipv4, ep.ipv6].into_iter().flatten() {
                    let _ = net.ipam.reserve(a.addr());
                }
                if ep.slot() != slot {
                    crate::docs::drop_damaged(txn, &d.key)?;
                }
                report.lines.push(format!(
                    "network {}: {d}; adopted {} in {} ({}) from the kernel",
                    net.name,
                    ep.ifname,
                    ep.netns,
                    ep_addrs(&ep)
                ));
                net.endpoints.insert(ep.id.clone(), ep);
                Ok(true)
            }
            _ => Ok(keep(
                report,
                &format!(
                    "{} links of the network could be what it described",
                    candidates.len()
                ),
            )),
        }
    }

    /// Before reservations that no endpoint holds are released: adopt every link of the network
    /// in the kernel whose addresses are such reservations (an endpoint document lost). Whether
    /// any was adopted. Reservations are valid until proven leaked.
    pub(crate) fn adopt_holders_of_unheld(
        &self,
        net: &mut Network,
        holders: &Holders,
        report: &mut RestoreReport,
    ) -> bool {
        let held: BTreeSet<IpAddr> = net.held_addrs().collect();
        let reserved: u128 = net.ipam.allocations().iter().map(|s| s.count()).sum();
        let held_reserved = held.iter().filter(|ip| net.ipam.is_allocated(**ip)).count() as u128;
        if reserved == held_reserved {
            return false;
        }
        let Some(strays) = self.strays(net, holders) else {
            return false;
        };
        let mut adopted_any = false;
        for stray in strays {
            if !stray.addrs.iter().all(|a| net.ipam.is_allocated(a.addr())) {
                continue;
            }
            let ep = adopted(&stray, &Pointer::Unknown);
            report.lines.push(format!(
                "network {}: {} in {} holds {}, reserved by no endpoint document: adopted",
                net.name,
                ep.ifname,
                ep.netns,
                ep_addrs(&ep)
            ));
            net.endpoints.insert(ep.id.clone(), ep);
            adopted_any = true;
        }
        adopted_any
    }

    /// The network's links in every namespace still held, that no readable endpoint accounts
    /// for; `None` when the kernel cannot be asked (a parent inside the containers, or none).
    fn strays(&self, net: &Network, holders: &Holders) -> Option<Vec<Stray>> {
        if net.parent.in_container() {
            return None;
        }
        let parent = self.link(&NsRef::Host, net.parent.name()).ok()??;
        let host = self.nl.ns_own().ok();
        let accounted: BTreeSet<IpAddr> = net.held_addrs().collect();
        let mut out = Vec::new();
        for (id, path) in holders.all() {
            if Some(id) == host {
                continue;
            }
            let ns = NsRef::Path(path.clone());
            let (links, addrs, host) = {
                let _scope = netlink::NsScope::new(&*self.nl, &ns);
                (
                    self.nl.links(&ns).unwrap_or_default(),
                    self.nl.addrs(&ns).unwrap_or_default(),
                    // A link's lower device is named by an index in the namespace it lives
                    // in: only one whose lower device is on this host is the parent's.
                    self.nl.host_nsid(&ns).ok().flatten(),
                )
            };
            for link in links.into_iter().filter(|l| {
                l.kind.as_deref() == Some(net.driver().name())
                    && l.parent_index == Some(parent.index)
                    && host.is_some()
                    && l.link_netnsid == host
            }) {
                let mine: Vec<IpNet> = addrs
                    .iter()
                    .filter(|a| a.index == link.index)
                    .map(|a| a.addr)
                    .filter(|a| net.external_ipam || net.ipam.pool_for(a.addr()).is_some())
                    .collect();
                if mine.is_empty() || mine.iter().any(|a| accounted.contains(&a.addr())) {
                    continue;
                }
                out.push(Stray {
                    ns: path.clone(),
                    ns_id: id,
                    link,
                    addrs: mine,
                });
            }
        }
        Some(out)
    }
}

/// The endpoint a found link is, as far as the kernel and the document's name tell.
fn adopted(s: &Stray, ptr: &Pointer) -> Endpoint {
    let netns = s.ns.display().to_string();
    Endpoint {
        id: ids::endpoint_id(),
        name: netns.clone(),
        netns,
        netns_id: s.ns_id,
        tmp_name: ids::tmp_link_name(),
        ifname: s.link.name.clone(),
        mac: s.link.mac,
        ipv4: s.addrs.iter().find(|a| a.addr().is_ipv4()).copied(),
        ipv6: s.addrs.iter().find(|a| a.addr().is_ipv6()).copied(),
        state: EndpointState::Attached,
        container_id: match ptr {
            Pointer::Cni { container_id, .. } => Some(container_id.clone()),
            _ => None,
        },
        external: None,
        handoff: false,
        routes: None,
        mtu: None,
        aliases: Vec::new(),
        claims: Vec::new(),
    }
}

pub(crate) fn ep_addrs(ep: &Endpoint) -> String {
    let v: Vec<String> = [ep.ipv4, ep.ipv6]
        .into_iter()
        .flatten()
        .map(|a| a.addr().to_string())
        .collect();
    if v.is_empty() {
        "no addresses".to_string()
    } else {
        v.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_tells_where_it_points() {
        assert!(matches!(
            pointer("ns-4-4026532281"),
            Pointer::Namespace(netlink::NsId {
                dev: 4,
                ino: 4026532281
            })
        ));
        match pointer(&format!(
            "cni-{}-{}",
            crate::docs::hex("abc"),
            crate::docs::hex("eth0")
        )) {
            Pointer::Cni {
                container_id,
                ifname,
            } => assert_eq!((container_id.as_str(), ifname.as_str()), ("abc", "eth0")),
            _ => panic!("a CNI slot"),
        }
        assert!(
            matches!(pointer(&format!("ep-{}", crate::docs::hex("e1"))), Pointer::Docker(id) if id == "e1")
        );
        assert!(matches!(pointer("ns-x-1"), Pointer::Unknown));
        assert!(matches!(pointer("cni-zz-00"), Pointer::Unknown));
        assert!(matches!(pointer("garbage"), Pointer::Unknown));
    }
}
