//! A dry run: questions go to the kernel, changes are only remembered, so that what a series
//! of changes would do can be told without doing it (`underlay network restore --check`).
//! Links the run would have created, renamed or deleted are seen that way by its later
//! questions; addresses and routes it would add are not (nothing asks for them afterwards).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;

use crate::{Addr, Error, Link, LinkChange, Netlink, NewLink, NsRef, Result, Route};

/// Indexes given to links a dry run creates: far above any the kernel hands out here.
const FIRST_INDEX: u32 = 0x4000_0000;

pub struct DryRun {
    kernel: Arc<dyn Netlink>,
    overlay: Mutex<Overlay>,
}

#[derive(Default)]
struct Overlay {
    /// Links the run created (or renamed), by the namespace they are in.
    added: Vec<(NsRef, Link)>,
    /// The kernel's links the run deleted (or renamed away), by namespace and index.
    removed: BTreeSet<(NsRef, u32)>,
    next: u32,
}

impl DryRun {
    pub fn new(kernel: Arc<dyn Netlink>) -> Self {
        DryRun {
            kernel,
            overlay: Mutex::new(Overlay {
                next: FIRST_INDEX,
                ..Default::default()
            }),
        }
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, Overlay> {
        self.overlay.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn exists(op: &str) -> Error {
    Error::Kernel {
        op: op.to_string(),
        source: std::io::Error::from_raw_os_error(libc::EEXIST),
    }
}

impl Netlink for DryRun {
    fn links(&self, ns: &NsRef) -> Result<Vec<Link>> {
        let mut links = self.kernel.links(ns)?;
        let o = self.overlay();
        links.retain(|l| !o.removed.contains(&(ns.clone(), l.index)));
        links.extend(
            o.added
                .iter()
                .filter(|(n, _)| n == ns)
                .map(|(_, l)| l.clone()),
        );
        Ok(links)
    }

    fn link_by_name(&self, ns: &NsRef, name: &str) -> Result<Option<Link>> {
        Ok(self.links(ns)?.into_iter().find(|l| l.name == name))
    }

    fn link_index(&self, ns: &NsRef, name: &str) -> Result<Option<u32>> {
        Ok(self.link_by_name(ns, name)?.map(|l| l.index))
    }

    fn link_add(&self, ns: &NsRef, link: &NewLink) -> Result<()> {
        let target = link.target_ns.clone().unwrap_or_else(|| ns.clone());
        if self.link_by_name(&target, &link.name)?.is_some() {
            return Err(exists(&format!("create link {}", link.name)));
        }
        let mut o = self.overlay();
        let index = o.next;
        o.next += 1;
        o.added.push((
            target,
            Link {
                index,
                name: link.name.clone(),
                kind: Some(link.kind.name().to_string()),
                mtu: link.mtu.unwrap_or(1500),
                mac: link.mac,
                up: link.up,
                carrier: link.up,
                parent_index: link.parent_index,
                link_netnsid: None,
                macvlan_mode: None,
                ipvlan_mode: None,
                vlan_id: None,
            },
        ));
        Ok(())
    }

    fn link_set(&self, ns: &NsRef, index: u32, change: &LinkChange) -> Result<()> {
        let Some(mut link) = self.links(ns)?.into_iter().find(|l| l.index == index) else {
            return self
                .kernel
                .link_set(ns, index, &LinkChange::default())
                .map(|_| ());
        };
        if let Some(name) = &change.name {
            if name != &link.name && self.link_by_name(ns, name)?.is_some() {
                return Err(exists(&format!("rename link {} to {name}", link.name)));
            }
            link.name = name.clone();
        }
        link.mac = change.mac.or(link.mac);
        link.mtu = change.mtu.unwrap_or(link.mtu);
        link.up = change.up.unwrap_or(link.up);
        let mut o = self.overlay();
        o.added.retain(|(n, l)| !(n == ns && l.index == index));
        o.removed.insert((ns.clone(), index));
        o.added.push((ns.clone(), link));
        Ok(())
    }

    fn link_del(&self, ns: &NsRef, index: u32) -> Result<()> {
        let mut o = self.overlay();
        o.added.retain(|(n, l)| !(n == ns && l.index == index));
        o.removed.insert((ns.clone(), index));
        Ok(())
    }

    fn addr_add(&self, _ns: &NsRef, _index: u32, _addr: IpNet) -> Result<()> {
        Ok(())
    }

    fn addrs(&self, ns: &NsRef) -> Result<Vec<Addr>> {
        let o = self.overlay();
        let mut addrs = self.kernel.addrs(ns)?;
        addrs.retain(|a| !o.removed.contains(&(ns.clone(), a.index)));
        Ok(addrs)
    }

    fn route_add(&self, _ns: &NsRef, _route: &Route) -> Result<()> {
        Ok(())
    }

    fn routes(&self, ns: &NsRef) -> Result<Vec<Route>> {
        self.kernel.routes(ns)
    }

    fn host_nsid(&self, ns: &NsRef) -> Result<Option<i32>> {
        self.kernel.host_nsid(ns)
    }

    fn hold(&self, ns: &NsRef, h: crate::Held) {
        self.kernel.hold(ns, h)
    }

    fn release(&self, ns: &NsRef, h: crate::Held) {
        self.kernel.release(ns, h)
    }

    /// A throwaway namespace changes nothing that outlives the handle.
    fn ns_new(&self) -> std::io::Result<crate::Namespace> {
        self.kernel.ns_new()
    }

    fn ns_id(&self, path: &std::path::Path) -> std::io::Result<crate::NsId> {
        self.kernel.ns_id(path)
    }

    fn ns_is_net(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.kernel.ns_is_net(path)
    }

    fn ns_own(&self) -> std::io::Result<crate::NsId> {
        self.kernel.ns_own()
    }

    fn ns_holders(&self) -> std::collections::HashMap<crate::NsId, std::path::PathBuf> {
        self.kernel.ns_holders()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FakeNetlink, LinkKind, MacvlanMode};

    #[test]
    fn changes_are_seen_by_the_run_and_never_reach_the_kernel() {
        let kernel = Arc::new(FakeNetlink::new());
        kernel.add_link(&NsRef::Host, "eth0", Some("veth"), 1500);
        let eth0 = kernel.link_by_name(&NsRef::Host, "eth0").unwrap().unwrap();
        kernel.clear_calls();
        let dry = DryRun::new(kernel.clone());
        let new = NewLink {
            name: "eth0.10".into(),
            kind: LinkKind::Vlan { id: 10 },
            parent_index: Some(eth0.index),
            target_ns: None,
            mac: None,
            mtu: None,
            up: true,
        };
        dry.link_add(&NsRef::Host, &new).unwrap();
        assert!(dry.link_add(&NsRef::Host, &new).unwrap_err().is_exists());
        let vlan = dry.link_index(&NsRef::Host, "eth0.10").unwrap().unwrap();
        let mv = NewLink {
            name: "tmp1".into(),
            kind: LinkKind::Macvlan {
                mode: MacvlanMode::Bridge,
            },
            parent_index: Some(vlan),
            ..new.clone()
        };
        dry.link_add(&NsRef::Host, &mv).unwrap();
        let tmp = dry.link_index(&NsRef::Host, "tmp1").unwrap().unwrap();
        let rename = LinkChange {
            name: Some("eth1".into()),
            ..Default::default()
        };
        dry.link_set(&NsRef::Host, tmp, &rename).unwrap();
        assert_eq!(dry.link_index(&NsRef::Host, "tmp1").unwrap(), None);
        assert_eq!(dry.link_index(&NsRef::Host, "eth1").unwrap(), Some(tmp));
        dry.link_del(&NsRef::Host, eth0.index).unwrap();
        assert_eq!(dry.link_index(&NsRef::Host, "eth0").unwrap(), None);
        // The kernel was only asked.
        let changes: Vec<String> = kernel
            .calls()
            .into_iter()
            .filter(|c| {
                !c.starts_with("links")
                    && !c.starts_with("link_by_name")
                    && !c.starts_with("link_index")
            })
            .collect();
        assert!(changes.is_empty(), "{changes:?}");
        let names: Vec<String> = kernel
            .links(&NsRef::Host)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["lo", "eth0"]);
    }
}
