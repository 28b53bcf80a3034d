//! [`FakeNetlink`]: an in-memory model of network namespaces, links, addresses and routes that
//! answers like the kernel does (same errnos), for unit tests without root.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::io;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;

use crate::{
    Addr, Error, IpvlanFlag, IpvlanMode, Link, LinkChange, LinkKind, Mac, MacvlanMode, Netlink,
    NewLink, NsId, NsRef, Result, Route,
};

/// The device number every namespace of the model has, as nsfs gives all of them one.
const NSFS_DEV: u64 = 4;
/// The host's inode in the model (the initial network namespace's on Linux).
const HOST_INO: u64 = 4026531840;

/// The longest interface name (IFNAMSIZ - 1).
const MAX_NAME: usize = 15;
/// The smallest MTU an Ethernet-like device takes.
const MIN_MTU: u32 = 68;
/// The largest MTU the model accepts (ETH_MAX_MTU).
const MAX_MTU: u32 = 65535;

/// An in-memory [`Netlink`] with the kernel's answers, for tests of the layers above.
///
/// What it models, each as the kernel 6.x does (errnos checked against a real kernel):
/// * namespaces: [`NsRef::Host`] always exists; [`NsRef::Path`]s exist once
///   [`add_namespace`](Self::add_namespace)d or made by `ns_new` (under `/fake/netns/`, gone
///   with the handle); any other path answers `Error::Namespace` (ENOENT), and so do the
///   namespace questions (`ns_id`, `ns_is_net`). Each namespace has its own identity, kept
///   until it is removed; every one that exists is held (`ns_holders`, the host aside).
///   Every namespace starts with `lo` (index 1, down); indexes are per namespace.
/// * creating links: name longer than 15 bytes → ERANGE, otherwise invalid (empty, `.`, `..`,
///   `/`, `:`, whitespace) → EINVAL; kind listed in [`with_unsupported`](Self::with_unsupported)
///   → EOPNOTSUPP; name taken in the namespace the link lands in → EEXIST; macvlan, ipvlan
///   and vlan need a parent (EINVAL without) that exists in the request namespace (ENODEV),
///   is not `lo` (EINVAL) and whose MTU the new link does not exceed (EINVAL); a macvlan or
///   ipvlan on a macvlan or ipvlan lands on its lower device; macvlan and ipvlan on the same
///   parent → EBUSY; a passthru macvlan must be the parent's only macvlan (EINVAL either way
///   round); a duplicate vlan id on a parent → EEXIST; a multicast or all-zero MAC →
///   EADDRNOTAVAIL; MTU outside 68..=65535 → EINVAL. IFLA_NET_NS_FD puts the link (and
///   `peer_ns` a veth's peer) into that namespace.
/// * changing links: unknown index → ENODEV; new name taken → EEXIST (renaming an up link is
///   allowed, as since Linux 6.5); a macvlan's or ipvlan's MTU above its parent's → EINVAL;
///   lowering a link's MTU lowers its macvlan/ipvlan/vlan children's. Bringing `lo` up adds
///   127.0.0.1/8 and ::1/128, any other link gets an fe80::/64 EUI-64 address.
/// * deleting links: a link without a kind (a "physical" one, as seeded by
///   [`add_link`](Self::add_link), or `lo`) → EOPNOTSUPP; deleting a parent deletes its
///   macvlan/ipvlan/vlan children wherever they are; deleting a veth deletes its peer.
///   [`remove_namespace`](Self::remove_namespace) deletes the namespace's virtual links the
///   same way and moves kind-less ones back to the host, like the death of a namespace.
/// * addresses: unknown index → ENODEV; the same IPv4 address and prefix, or the same IPv6
///   address, twice on a link → EEXIST.
/// * routes: unknown oif → ENODEV; oif down → ENETDOWN; gateway of the other family →
///   EINVAL; an IPv4 gateway outside the oif's IPv4 subnets → ENETUNREACH, an IPv6 one that
///   is neither link-local nor in the oif's IPv6 subnets → EHOSTUNREACH; the same destination
///   twice in a namespace (for IPv4 also one of an address's connected routes) → EEXIST.
///   `routes` lists the connected routes of up links' addresses, then the added ones.
///
/// Every call is logged ([`calls`](Self::calls)) and [`fail_next`](Self::fail_next) makes a
/// given method fail once with a chosen errno.
pub struct FakeNetlink {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    namespaces: BTreeMap<NsRef, NsState>,
    /// All links of all namespaces, by a model-wide id.
    links: BTreeMap<u64, FLink>,
    next_id: u64,
    /// (link id, address), in the order added.
    addrs: Vec<(u64, IpNet)>,
    routes: Vec<FRoute>,
    unsupported: HashSet<String>,
    calls: Vec<String>,
    failures: HashMap<String, VecDeque<i32>>,
    /// Namespaces a runtime unmounts during the next call of a method (see
    /// [`FakeNetlink::unmount_during_next`]).
    unmounts: HashMap<String, NsRef>,
    /// The inode the next namespace gets.
    next_ino: u64,
    /// How many scopes hold each namespace (see [`FakeNetlink::held`]).
    holds: BTreeMap<NsRef, usize>,
}

#[derive(Default)]
struct NsState {
    next_index: u32,
    id: NsId,
}

#[derive(Clone, Debug)]
struct FLink {
    id: u64,
    ns: NsRef,
    index: u32,
    name: String,
    kind: Option<String>,
    mtu: u32,
    mac: Option<Mac>,
    up: bool,
    /// The lower device (macvlan, ipvlan, vlan).
    lower: Option<u64>,
    /// The other end (veth).
    peer: Option<u64>,
    macvlan_mode: Option<MacvlanMode>,
    ipvlan_mode: Option<IpvlanMode>,
    ipvlan_flag: Option<IpvlanFlag>,
    vlan_id: Option<u16>,
}

#[derive(Clone, Debug)]
struct FRoute {
    link: u64,
    dst: IpNet,
    gateway: Option<IpAddr>,
}

fn errno(op: impl Into<String>, errno: i32) -> Error {
    Error::Kernel {
        op: op.into(),
        source: io::Error::from_raw_os_error(errno),
    }
}

/// How the log names a namespace: `host` or the path.
fn ns_name(ns: &NsRef) -> String {
    match ns {
        NsRef::Host => "host".into(),
        NsRef::Path(p) => p.display().to_string(),
    }
}

fn macvlan_mode_str(m: MacvlanMode) -> &'static str {
    match m {
        MacvlanMode::Private => "private",
        MacvlanMode::Vepa => "vepa",
        MacvlanMode::Bridge => "bridge",
        MacvlanMode::Passthru => "passthru",
    }
}

fn ipvlan_mode_str(m: IpvlanMode) -> &'static str {
    match m {
        IpvlanMode::L2 => "l2",
        IpvlanMode::L3 => "l3",
        IpvlanMode::L3s => "l3s",
    }
}

fn ipvlan_flag_str(f: IpvlanFlag) -> &'static str {
    match f {
        IpvlanFlag::Bridge => "bridge",
        IpvlanFlag::Private => "private",
        IpvlanFlag::Vepa => "vepa",
    }
}

/// The kernel's checks on an interface name: the attribute policy first (ERANGE), then
/// `dev_valid_name` (EINVAL).
fn check_name(op: &str, name: &str) -> Result<()> {
    if name.len() > MAX_NAME {
        return Err(errno(op, libc::ERANGE));
    }
    if name.is_empty()
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace())
    {
        return Err(errno(op, libc::EINVAL));
    }
    Ok(())
}

/// `eth_validate_addr`: unicast and not all zeros.
fn check_mac(op: &str, mac: &Mac) -> Result<()> {
    if !mac.is_unicast() {
        return Err(errno(op, libc::EADDRNOTAVAIL));
    }
    Ok(())
}

fn check_mtu(op: &str, mtu: u32) -> Result<()> {
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(errno(op, libc::EINVAL));
    }
    Ok(())
}

/// The EUI-64 link-local address the kernel gives a link with this MAC when it comes up.
fn link_local(mac: &Mac) -> IpNet {
    let mac = mac.0;
    let ip = Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([mac[0] ^ 0x02, mac[1]]),
        u16::from_be_bytes([mac[2], 0xff]),
        u16::from_be_bytes([0xfe, mac[3]]),
        u16::from_be_bytes([mac[4], mac[5]]),
    );
    IpNet::new(IpAddr::V6(ip), 64).expect("/64 is a valid IPv6 prefix")
}

impl State {
    fn ns(&self, ns: &NsRef) -> Result<()> {
        if self.namespaces.contains_key(ns) {
            Ok(())
        } else {
            Err(Error::Namespace {
                ns: ns.to_string(),
                source: io::Error::from_raw_os_error(libc::ENOENT),
            })
        }
    }

    fn add_namespace(&mut self, ns: NsRef) {
        if self.namespaces.contains_key(&ns) {
            return;
        }
        let ino = if ns == NsRef::Host {
            HOST_INO
        } else {
            self.next_ino = self.next_ino.max(HOST_INO) + 1;
            self.next_ino
        };
        let id = NsId { dev: NSFS_DEV, ino };
        self.namespaces
            .insert(ns.clone(), NsState { next_index: 1, id });
        let lo = self.new_link(&ns, "lo", None, 65536, None);
        if let Some(l) = self.links.get_mut(&lo) {
            l.mac = Some(Mac([0; 6]));
        }
    }

    /// Log the call and take an injected failure for `method`, if one is queued.
    fn begin(&mut self, method: &str, line: String) -> Result<()> {
        self.calls.push(line);
        if let Some(ns) = self.unmounts.remove(method) {
            // What is left at the path is the empty file the mount was on: setns refuses it.
            self.remove_namespace(&ns);
            return Err(Error::Namespace {
                ns: ns.to_string(),
                source: io::Error::from_raw_os_error(libc::EINVAL),
            });
        }
        match self.failures.get_mut(method).and_then(|q| q.pop_front()) {
            Some(0) | None => Ok(()),
            Some(e) => Err(errno(format!("{method} (injected failure)"), e)),
        }
    }

    fn find(&self, ns: &NsRef, index: u32) -> Option<&FLink> {
        self.links
            .values()
            .find(|l| &l.ns == ns && l.index == index)
    }

    fn find_name(&self, ns: &NsRef, name: &str) -> Option<&FLink> {
        self.links.values().find(|l| &l.ns == ns && l.name == name)
    }

    fn id_of(&self, ns: &NsRef, index: u32, op: &str) -> Result<u64> {
        self.find(ns, index)
            .map(|l| l.id)
            .ok_or_else(|| errno(op, libc::ENODEV))
    }

    /// A free index in `ns`: `wanted` if given and free, else the next one.
    fn alloc_index(&mut self, ns: &NsRef, wanted: Option<u32>) -> u32 {
        if let Some(w) = wanted.filter(|w| self.find(ns, *w).is_none()) {
            return w;
        }
        loop {
            let st = self.namespaces.entry(ns.clone()).or_default();
            let i = st.next_index.max(1);
            st.next_index = i + 1;
            if self.find(ns, i).is_none() {
                return i;
            }
        }
    }

    fn new_link(
        &mut self,
        ns: &NsRef,
        name: &str,
        kind: Option<&str>,
        mtu: u32,
        mac: Option<Mac>,
    ) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let index = self.alloc_index(ns, None);
        let mac = mac.or_else(|| {
            kind.map(|_| {
                Mac([
                    0x0a,
                    0x5a,
                    0xfe,
                    (id >> 16) as u8,
                    (id >> 8) as u8,
                    id as u8,
                ])
            })
        });
        self.links.insert(
            id,
            FLink {
                id,
                ns: ns.clone(),
                index,
                name: name.to_string(),
                kind: kind.map(str::to_string),
                mtu,
                mac,
                up: false,
                lower: None,
                peer: None,
                macvlan_mode: None,
                ipvlan_mode: None,
                ipvlan_flag: None,
                vlan_id: None,
            },
        );
        id
    }

    fn children(&self, lower: u64) -> impl Iterator<Item = &FLink> {
        self.links.values().filter(move |l| l.lower == Some(lower))
    }

    /// Delete a link with everything the kernel deletes along with it.
    fn delete(&mut self, id: u64) {
        let mut todo = vec![id];
        while let Some(id) = todo.pop() {
            let Some(link) = self.links.remove(&id) else {
                continue;
            };
            todo.extend(self.children(id).map(|l| l.id));
            todo.extend(link.peer);
            self.addrs.retain(|(l, _)| *l != id);
            self.routes.retain(|r| r.link != id);
        }
    }

    fn set_up(&mut self, id: u64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        if link.up {
            return;
        }
        link.up = true;
        let auto: Vec<IpNet> = if link.name == "lo" && link.kind.is_none() {
            vec!["127.0.0.1/8".parse().ok(), "::1/128".parse().ok()]
                .into_iter()
                .flatten()
                .collect()
        } else {
            link.mac.iter().map(link_local).collect()
        };
        for a in auto {
            if !self
                .addrs
                .iter()
                .any(|(l, x)| *l == id && x.addr() == a.addr())
            {
                self.addrs.push((id, a));
            }
        }
    }

    fn set_mtu(&mut self, id: u64, mtu: u32) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        link.mtu = mtu;
        let lower: Vec<u64> = self
            .children(id)
            .filter(|c| c.mtu > mtu)
            .map(|c| c.id)
            .collect();
        for c in lower {
            self.set_mtu(c, mtu);
        }
    }

    fn to_link(&self, l: &FLink) -> Link {
        let other = |id: Option<u64>| id.and_then(|i| self.links.get(&i)).map(|x| x.index);
        Link {
            index: l.index,
            name: l.name.clone(),
            kind: l.kind.clone(),
            mtu: l.mtu,
            mac: l.mac,
            up: l.up,
            // No cable to pull here: an up link has carrier.
            carrier: l.up,
            parent_index: other(l.lower).or_else(|| other(l.peer)),
            // Every namespace knows the host as 0, and any other namespace as 1.
            link_netnsid: l
                .lower
                .or(l.peer)
                .and_then(|i| self.links.get(&i))
                .filter(|x| x.ns != l.ns)
                .map(|x| if x.ns == NsRef::Host { 0 } else { 1 }),
            macvlan_mode: l.macvlan_mode,
            ipvlan_mode: l.ipvlan_mode,
            vlan_id: l.vlan_id,
        }
    }

    fn link_add(&mut self, ns: &NsRef, req: &NewLink, op: &str) -> Result<()> {
        self.ns(ns)?;
        let target = req.target_ns.clone().unwrap_or_else(|| ns.clone());
        self.ns(&target)?;
        // A veth's peer: (namespace, name).
        let peer = match &req.kind {
            LinkKind::Veth { peer, peer_ns } => {
                let p = peer_ns.clone().unwrap_or_else(|| target.clone());
                self.ns(&p)?;
                Some((p, peer.clone()))
            }
            _ => None,
        };
        check_name(op, &req.name)?;
        if let Some((_, name)) = &peer {
            check_name(op, name)?;
        }
        let kind = req.kind.name();
        if self.unsupported.contains(kind) {
            return Err(errno(op, libc::EOPNOTSUPP));
        }
        // Only the namespace the link lands in counts (kernel 6.18; older kernels also looked
        // the name up in the request namespace).
        if self.find_name(&target, &req.name).is_some() {
            return Err(errno(op, libc::EEXIST));
        }
        if let Some(mac) = &req.mac {
            check_mac(op, mac)?;
        }
        if let Some(mtu) = req.mtu {
            check_mtu(op, mtu)?;
        }

        let lower = self.lower_of(ns, req, op)?;
        if let Some(parent) = &lower {
            self.check_siblings(req, parent, op)?;
        }
        if let Some((p, name)) = &peer {
            let clash = self.find_name(p, name).is_some() || (p == &target && name == &req.name);
            if clash {
                return Err(errno(op, libc::EEXIST));
            }
        }

        self.create(&target, req, lower.as_ref(), peer.as_ref());
        Ok(())
    }

    /// The lower device of a new macvlan, ipvlan or vlan link (a macvlan on a macvlan, an
    /// ipvlan on an ipvlan: the kernel uses the lower one's); `None` for other kinds.
    fn lower_of(&self, ns: &NsRef, req: &NewLink, op: &str) -> Result<Option<FLink>> {
        let kind = req.kind.name();
        Ok(match &req.kind {
            LinkKind::Macvlan { .. } | LinkKind::Ipvlan { .. } | LinkKind::Vlan { .. } => {
                let Some(p) = req.parent_index else {
                    return Err(errno(op, libc::EINVAL));
                };
                let mut parent = self
                    .find(ns, p)
                    .ok_or_else(|| errno(op, libc::ENODEV))?
                    .clone();
                if parent.name == "lo" && parent.kind.is_none() {
                    return Err(errno(op, libc::EINVAL));
                }
                // macvlan on macvlan / ipvlan on ipvlan: the kernel uses the lower device.
                if parent.kind.as_deref() == Some(kind) && kind != "vlan" {
                    if let Some(l) = parent.lower.and_then(|l| self.links.get(&l)) {
                        parent = l.clone();
                    }
                }
                Some(parent)
            }
            _ => None,
        })
    }

    /// The kernel's rules about links sharing a lower device: macvlan and ipvlan never
    /// together, a passthru macvlan alone, vlan ids unique and in range, an MTU no larger.
    fn check_siblings(&self, req: &NewLink, parent: &FLink, op: &str) -> Result<()> {
        let siblings: Vec<&FLink> = self.children(parent.id).collect();
        let has = |k: &str| siblings.iter().any(|s| s.kind.as_deref() == Some(k));
        let macvlans = || {
            siblings
                .iter()
                .filter(|s| s.kind.as_deref() == Some("macvlan"))
        };
        let refused = match &req.kind {
            LinkKind::Macvlan { .. } if has("ipvlan") => Some(libc::EBUSY),
            // A passthru macvlan must be its parent's only one, either way round.
            LinkKind::Macvlan { mode }
                if macvlans().any(|s| s.macvlan_mode == Some(MacvlanMode::Passthru))
                    || (*mode == MacvlanMode::Passthru && macvlans().next().is_some()) =>
            {
                Some(libc::EINVAL)
            }
            LinkKind::Ipvlan { .. } if has("macvlan") => Some(libc::EBUSY),
            LinkKind::Vlan { id } if *id >= 4095 => Some(libc::ERANGE),
            LinkKind::Vlan { id } if siblings.iter().any(|s| s.vlan_id == Some(*id)) => {
                Some(libc::EEXIST)
            }
            _ => None,
        };
        if let Some(e) = refused {
            return Err(errno(op, e));
        }
        if req.mtu.is_some_and(|m| m > parent.mtu) {
            return Err(errno(op, libc::EINVAL));
        }
        Ok(())
    }

    /// Make the link (and a veth's peer), every check passed.
    fn create(
        &mut self,
        target: &NsRef,
        req: &NewLink,
        lower: Option<&FLink>,
        peer: Option<&(NsRef, String)>,
    ) {
        let kind = req.kind.name();
        let mtu = req.mtu.or(lower.map(|p| p.mtu)).unwrap_or(1500);
        let mac = match (&req.kind, lower) {
            (
                LinkKind::Macvlan {
                    mode: MacvlanMode::Passthru,
                },
                Some(p),
            ) => req.mac.or(p.mac),
            (LinkKind::Ipvlan { .. } | LinkKind::Vlan { .. }, Some(p)) => req.mac.or(p.mac),
            _ => req.mac,
        };
        let id = self.new_link(target, &req.name, Some(kind), mtu, mac);
        if let Some(l) = self.links.get_mut(&id) {
            l.lower = lower.map(|p| p.id);
            match &req.kind {
                LinkKind::Macvlan { mode } => l.macvlan_mode = Some(*mode),
                LinkKind::Ipvlan { mode, flag } => {
                    l.ipvlan_mode = Some(*mode);
                    l.ipvlan_flag = Some(*flag);
                }
                LinkKind::Vlan { id } => l.vlan_id = Some(*id),
                _ => {}
            }
        }
        if let Some((p, name)) = peer {
            let peer_id = self.new_link(p, name, Some("veth"), 1500, None);
            if let Some(l) = self.links.get_mut(&peer_id) {
                l.peer = Some(id);
            }
            if let Some(l) = self.links.get_mut(&id) {
                l.peer = Some(peer_id);
            }
        }
        if req.up {
            self.set_up(id);
        }
    }

    fn link_set(&mut self, ns: &NsRef, index: u32, change: &LinkChange, op: &str) -> Result<()> {
        self.ns(ns)?;
        let id = self.id_of(ns, index, op)?;
        // The kernel's order (do_setlink): address, MTU, name, then flags; what succeeded
        // before a failure stays.
        if let Some(mac) = &change.mac {
            check_mac(op, mac)?;
            if let Some(l) = self.links.get_mut(&id) {
                l.mac = Some(*mac);
            }
        }
        if let Some(mtu) = change.mtu {
            check_mtu(op, mtu)?;
            let lower_mtu = self
                .links
                .get(&id)
                .filter(|l| l.kind.as_deref() != Some("vlan"))
                .and_then(|l| l.lower)
                .and_then(|p| self.links.get(&p))
                .map(|p| p.mtu);
            if lower_mtu.is_some_and(|m| mtu > m) {
                return Err(errno(op, libc::EINVAL));
            }
            self.set_mtu(id, mtu);
        }
        if let Some(name) = &change.name {
            if name != &self.links[&id].name {
                check_name(op, name)?;
                // Renaming an up link is fine since Linux 6.5 (EBUSY before).
                if self.find_name(ns, name).is_some() {
                    return Err(errno(op, libc::EEXIST));
                }
                if let Some(l) = self.links.get_mut(&id) {
                    l.name = name.clone();
                }
            }
        }
        match change.up {
            Some(true) => self.set_up(id),
            Some(false) => {
                if let Some(l) = self.links.get_mut(&id) {
                    l.up = false;
                }
            }
            None => {}
        }
        Ok(())
    }

    fn link_del(&mut self, ns: &NsRef, index: u32, op: &str) -> Result<()> {
        self.ns(ns)?;
        let id = self.id_of(ns, index, op)?;
        if self.links[&id].kind.is_none() {
            return Err(errno(op, libc::EOPNOTSUPP));
        }
        self.delete(id);
        Ok(())
    }

    fn addr_add(&mut self, ns: &NsRef, index: u32, addr: IpNet, op: &str) -> Result<()> {
        self.ns(ns)?;
        let id = self.id_of(ns, index, op)?;
        let dup = self.addrs.iter().any(|(l, a)| {
            *l == id
                && a.addr() == addr.addr()
                && (addr.addr().is_ipv6() || a.prefix_len() == addr.prefix_len())
        });
        if dup {
            return Err(errno(op, libc::EEXIST));
        }
        self.addrs.push((id, addr));
        Ok(())
    }

    fn route_add(&mut self, ns: &NsRef, route: &Route, op: &str) -> Result<()> {
        self.ns(ns)?;
        let id = self.id_of(ns, route.oif, op)?;
        if !self.links[&id].up {
            return Err(errno(op, libc::ENETDOWN));
        }
        let dst = route.dst.trunc();
        if let Some(gw) = route.gateway {
            if gw.is_ipv4() != dst.addr().is_ipv4() {
                return Err(errno(op, libc::EINVAL));
            }
            let on_link = self
                .addrs
                .iter()
                .any(|(l, a)| *l == id && a.contains(&gw) && a.addr() != gw);
            match gw {
                IpAddr::V4(_) if !on_link => return Err(errno(op, libc::ENETUNREACH)),
                IpAddr::V6(v6) if !on_link && (v6.segments()[0] & 0xffc0) != 0xfe80 => {
                    return Err(errno(op, libc::EHOSTUNREACH))
                }
                _ => {}
            }
        }
        // IPv4 also collides with the connected routes of addresses; IPv6 ones have another
        // metric (256, added ones 1024), so they do not.
        let dup = if dst.addr().is_ipv4() {
            self.routes(ns).iter().any(|r| r.dst == dst)
        } else {
            self.routes
                .iter()
                .any(|r| r.dst == dst && self.links.get(&r.link).is_some_and(|l| &l.ns == ns))
        };
        if dup {
            return Err(errno(op, libc::EEXIST));
        }
        self.routes.push(FRoute {
            link: id,
            dst,
            gateway: route.gateway,
        });
        Ok(())
    }

    /// The routes of `ns`: connected ones for the addresses of up links (as the kernel adds
    /// them), then the added ones.
    fn routes(&self, ns: &NsRef) -> Vec<Route> {
        let mut out: Vec<Route> = Vec::new();
        for (id, addr) in &self.addrs {
            let Some(l) = self.links.get(id).filter(|l| &l.ns == ns && l.up) else {
                continue;
            };
            let host = if addr.addr().is_ipv4() { 32 } else { 128 };
            let connected = Route {
                dst: addr.trunc(),
                gateway: None,
                oif: l.index,
            };
            if addr.prefix_len() < host && !out.contains(&connected) {
                out.push(connected);
            }
        }
        out.extend(self.routes.iter().filter_map(|r| {
            let l = self.links.get(&r.link).filter(|l| &l.ns == ns)?;
            Some(Route {
                dst: r.dst,
                gateway: r.gateway,
                oif: l.index,
            })
        }));
        out
    }

    fn remove_namespace(&mut self, ns: &NsRef) {
        if *ns == NsRef::Host || !self.namespaces.contains_key(ns) {
            return;
        }
        let members: Vec<FLink> = self
            .links
            .values()
            .filter(|l| &l.ns == ns)
            .cloned()
            .collect();
        for l in members {
            if !self.links.contains_key(&l.id) {
                continue; // went with an earlier one
            }
            if l.kind.is_none() && l.name != "lo" {
                // A physical device goes back to the initial namespace, down, without
                // addresses, renamed if its name is taken there.
                let index = self.alloc_index(&NsRef::Host, Some(l.index));
                let name = if self.find_name(&NsRef::Host, &l.name).is_some() {
                    format!("dev{index}")
                } else {
                    l.name.clone()
                };
                self.addrs.retain(|(x, _)| *x != l.id);
                self.routes.retain(|r| r.link != l.id);
                if let Some(m) = self.links.get_mut(&l.id) {
                    m.ns = NsRef::Host;
                    m.index = index;
                    m.name = name;
                    m.up = false;
                }
            } else {
                self.delete(l.id);
            }
        }
        self.namespaces.remove(ns);
    }
}

impl Default for FakeNetlink {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeNetlink {
    /// A model with only the host namespace (holding `lo`), supporting every link kind.
    pub fn new() -> Self {
        let mut state = State::default();
        state.add_namespace(NsRef::Host);
        FakeNetlink {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Like [`new`](Self::new), but creating links of these kinds (`"macvlan"`, `"ipvlan"`,
    /// `"vlan"`, `"dummy"`, `"veth"`) fails with EOPNOTSUPP, as on a kernel built without them.
    pub fn with_unsupported(kinds: &[&str]) -> Self {
        let fake = Self::new();
        fake.lock().unsupported = kinds.iter().map(|k| k.to_string()).collect();
        fake
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Make `ns` exist (with `lo`, down). No-op if it does.
    pub fn add_namespace(&self, ns: NsRef) {
        self.lock().add_namespace(ns);
    }

    /// The namespace dies: its virtual links are deleted (taking their macvlan/ipvlan/vlan
    /// children and veth peers elsewhere with them), kind-less ones move to the host. No-op for
    /// the host or an unknown namespace.
    pub fn remove_namespace(&self, ns: &NsRef) {
        self.lock().remove_namespace(ns);
    }

    /// The namespaces some [`NsScope`](crate::NsScope) holds now: after an operation, none
    /// should be.
    pub fn held(&self) -> Vec<NsRef> {
        self.lock().holds.keys().cloned().collect()
    }

    /// Whether `ns` exists in the model.
    pub fn has_namespace(&self, ns: &NsRef) -> bool {
        self.lock().namespaces.contains_key(ns)
    }

    /// Seed a link (e.g. an uplink `eth0`, kind `None`, MTU 1500), up, with a made-up MAC;
    /// returns its index. Bypasses the checks `link_add` makes and is not logged.
    ///
    /// # Panics
    /// If `ns` does not exist.
    pub fn add_link(&self, ns: &NsRef, name: &str, kind: Option<&str>, mtu: u32) -> u32 {
        let mut st = self.lock();
        assert!(
            st.namespaces.contains_key(ns),
            "FakeNetlink::add_link: no namespace {ns}"
        );
        let id = st.new_link(ns, name, kind, mtu, None);
        if let Some(l) = st.links.get_mut(&id) {
            if l.mac.is_none() {
                l.mac = Some(Mac([
                    0x0a,
                    0x5a,
                    0xee,
                    (id >> 16) as u8,
                    (id >> 8) as u8,
                    id as u8,
                ]));
            }
        }
        st.set_up(id);
        st.links[&id].index
    }

    /// Remove a link as if its hardware vanished (works on kind-less links too), with its
    /// children. Returns whether it existed. Not logged.
    pub fn remove_link(&self, ns: &NsRef, index: u32) -> bool {
        let mut st = self.lock();
        match st.find(ns, index).map(|l| l.id) {
            Some(id) => {
                st.delete(id);
                true
            }
            None => false,
        }
    }

    /// Move a link to namespace `to` and rename it, as a runtime does with a link handed to
    /// it (Docker moves a driver's link into the container and back). Its addresses and
    /// routes are dropped, as the kernel does. Returns the new index, or `None` if there is
    /// no such link. Not logged.
    ///
    /// # Panics
    /// If `to` does not exist.
    pub fn move_link(&self, from: &NsRef, index: u32, to: &NsRef, name: &str) -> Option<u32> {
        let mut st = self.lock();
        assert!(
            st.namespaces.contains_key(to),
            "FakeNetlink::move_link: no namespace {to}"
        );
        let id = st.find(from, index)?.id;
        let new_index = st.alloc_index(to, Some(index));
        st.addrs.retain(|(l, _)| *l != id);
        st.routes.retain(|r| r.link != id);
        let link = st.links.get_mut(&id)?;
        link.ns = to.clone();
        link.index = new_index;
        link.name = name.to_string();
        Some(new_index)
    }

    /// The ipvlan flag a link was created with (the `Link` dump does not carry it).
    pub fn ipvlan_flag(&self, ns: &NsRef, index: u32) -> Option<IpvlanFlag> {
        self.lock().find(ns, index).and_then(|l| l.ipvlan_flag)
    }

    /// Every request so far, one line each, e.g.
    /// `link_add host tmp123 macvlan parent=2 ns=/run/netns/c1 mode=bridge`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Forget the logged calls.
    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// Make the next call of `method` (`"link_add"`, `"link_set"`, `"link_del"`, `"addr_add"`,
    /// `"route_add"`, `"links"`, `"link_by_name"`, `"link_index"`, `"addrs"`, `"routes"`) fail
    /// with `errno`, without effect (the call is still logged). Calls queue: two
    /// `fail_next("link_set", ..)` fail the next two `link_set`s; an errno of 0 in the queue
    /// lets that call succeed (to fail the one after it).
    pub fn fail_next(&self, method: &str, errno: i32) {
        self.lock()
            .failures
            .entry(method.to_string())
            .or_default()
            .push_back(errno);
    }

    /// A runtime unmounts `ns` while the next call of `method` enters it (Podman removes a
    /// container's namespace right after CNI DEL returns): the namespace dies, taking its links,
    /// and the call fails with EINVAL, as setns does on the empty file a mount leaves behind.
    pub fn unmount_during_next(&self, method: &str, ns: NsRef) {
        self.lock().unmounts.insert(method.to_string(), ns);
    }
}

impl Netlink for FakeNetlink {
    fn links(&self, ns: &NsRef) -> Result<Vec<Link>> {
        let mut st = self.lock();
        st.begin("links", format!("links {}", ns_name(ns)))?;
        st.ns(ns)?;
        let mut links: Vec<Link> = st
            .links
            .values()
            .filter(|l| &l.ns == ns)
            .map(|l| st.to_link(l))
            .collect();
        links.sort_by_key(|l| l.index);
        Ok(links)
    }

    fn link_by_name(&self, ns: &NsRef, name: &str) -> Result<Option<Link>> {
        let mut st = self.lock();
        st.begin(
            "link_by_name",
            format!("link_by_name {} {name}", ns_name(ns)),
        )?;
        st.ns(ns)?;
        Ok(st.find_name(ns, name).map(|l| st.to_link(l)))
    }

    fn host_nsid(&self, ns: &NsRef) -> Result<Option<i32>> {
        let mut st = self.lock();
        st.begin("host_nsid", format!("host_nsid {}", ns_name(ns)))?;
        st.ns(ns)?;
        Ok((*ns != NsRef::Host).then_some(0))
    }

    fn link_index(&self, ns: &NsRef, name: &str) -> Result<Option<u32>> {
        let mut st = self.lock();
        st.begin("link_index", format!("link_index {} {name}", ns_name(ns)))?;
        st.ns(ns)?;
        Ok(st.find_name(ns, name).map(|l| l.index))
    }

    fn link_add(&self, ns: &NsRef, link: &NewLink) -> Result<()> {
        let mut line = format!(
            "link_add {} {} {}",
            ns_name(ns),
            link.name,
            link.kind.name()
        );
        if let Some(p) = link.parent_index {
            line += &format!(" parent={p}");
        }
        if let Some(t) = &link.target_ns {
            line += &format!(" ns={}", ns_name(t));
        }
        match &link.kind {
            LinkKind::Macvlan { mode } => line += &format!(" mode={}", macvlan_mode_str(*mode)),
            LinkKind::Ipvlan { mode, flag } => {
                line += &format!(
                    " mode={} flag={}",
                    ipvlan_mode_str(*mode),
                    ipvlan_flag_str(*flag)
                )
            }
            LinkKind::Vlan { id } => line += &format!(" id={id}"),
            LinkKind::Veth { peer, peer_ns } => {
                line += &format!(" peer={peer}");
                if let Some(p) = peer_ns {
                    line += &format!(" peer_ns={}", ns_name(p));
                }
            }
            LinkKind::Dummy => {}
        }
        if let Some(m) = link.mtu {
            line += &format!(" mtu={m}");
        }
        if let Some(m) = &link.mac {
            line += &format!(" mac={}", m);
        }
        if link.up {
            line += " up";
        }
        let op = format!("create {} link {} in {ns}", link.kind.name(), link.name);
        let mut st = self.lock();
        st.begin("link_add", line)?;
        st.link_add(ns, link, &op)
    }

    fn link_set(&self, ns: &NsRef, index: u32, change: &LinkChange) -> Result<()> {
        let mut line = format!("link_set {} {index}", ns_name(ns));
        if let Some(n) = &change.name {
            line += &format!(" name={n}");
        }
        if let Some(m) = &change.mac {
            line += &format!(" mac={}", m);
        }
        if let Some(m) = change.mtu {
            line += &format!(" mtu={m}");
        }
        match change.up {
            Some(true) => line += " up",
            Some(false) => line += " down",
            None => {}
        }
        let op = format!("set link {index} in {ns}");
        let mut st = self.lock();
        st.begin("link_set", line)?;
        st.link_set(ns, index, change, &op)
    }

    fn link_del(&self, ns: &NsRef, index: u32) -> Result<()> {
        let op = format!("delete link {index} in {ns}");
        let mut st = self.lock();
        st.begin("link_del", format!("link_del {} {index}", ns_name(ns)))?;
        st.link_del(ns, index, &op)
    }

    fn addr_add(&self, ns: &NsRef, index: u32, addr: IpNet) -> Result<()> {
        let op = format!("add address {addr} to link {index} in {ns}");
        let mut st = self.lock();
        st.begin(
            "addr_add",
            format!("addr_add {} {index} {addr}", ns_name(ns)),
        )?;
        st.addr_add(ns, index, addr, &op)
    }

    fn addrs(&self, ns: &NsRef) -> Result<Vec<Addr>> {
        let mut st = self.lock();
        st.begin("addrs", format!("addrs {}", ns_name(ns)))?;
        st.ns(ns)?;
        Ok(st
            .addrs
            .iter()
            .filter_map(|(id, addr)| {
                let l = st.links.get(id).filter(|l| &l.ns == ns)?;
                Some(Addr {
                    index: l.index,
                    addr: *addr,
                })
            })
            .collect())
    }

    fn routes(&self, ns: &NsRef) -> Result<Vec<Route>> {
        let mut st = self.lock();
        st.begin("routes", format!("routes {}", ns_name(ns)))?;
        st.ns(ns)?;
        Ok(st.routes(ns))
    }

    fn route_add(&self, ns: &NsRef, route: &Route) -> Result<()> {
        let mut line = format!("route_add {} {}", ns_name(ns), route.dst);
        if let Some(gw) = route.gateway {
            line += &format!(" via {gw}");
        }
        line += &format!(" dev {}", route.oif);
        let op = format!("add route {} in {ns}", route.dst);
        let mut st = self.lock();
        st.begin("route_add", line)?;
        st.route_add(ns, route, &op)
    }

    fn hold(&self, ns: &NsRef, _: crate::Held) {
        *self.lock().holds.entry(ns.clone()).or_default() += 1;
    }

    fn release(&self, ns: &NsRef, _: crate::Held) {
        let mut st = self.lock();
        if let Some(n) = st.holds.get_mut(ns) {
            *n -= 1;
            if *n == 0 {
                st.holds.remove(ns);
            }
        }
    }

    fn ns_new(&self) -> io::Result<crate::Namespace> {
        let ns = {
            let mut st = self.lock();
            let ns = NsRef::Path(PathBuf::from(format!("/fake/netns/{}", st.next_ino + 1)));
            st.add_namespace(ns.clone());
            ns
        };
        let NsRef::Path(path) = ns.clone() else {
            unreachable!("made as a path")
        };
        let holds = FakeNsHandle {
            state: self.state.clone(),
            ns,
        };
        Ok(crate::Namespace::new(path, Box::new(holds)))
    }

    fn ns_id(&self, path: &Path) -> io::Result<NsId> {
        let st = self.lock();
        st.namespaces
            .get(&NsRef::Path(path.to_path_buf()))
            .map(|n| n.id)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn ns_is_net(&self, path: &Path) -> io::Result<bool> {
        self.ns_id(path).map(|_| true)
    }

    fn ns_own(&self) -> io::Result<NsId> {
        Ok(NsId {
            dev: NSFS_DEV,
            ino: HOST_INO,
        })
    }

    fn ns_holders(&self) -> HashMap<NsId, PathBuf> {
        let st = self.lock();
        st.namespaces
            .iter()
            .filter_map(|(ns, n)| match ns {
                NsRef::Path(p) => Some((n.id, p.clone())),
                NsRef::Host => None,
            })
            .collect()
    }
}

/// What keeps a namespace of the model made by `ns_new` alive: its end is the namespace's
/// death.
struct FakeNsHandle {
    state: Arc<Mutex<State>>,
    ns: NsRef,
}

impl Drop for FakeNsHandle {
    fn drop(&mut self) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.remove_namespace(&self.ns);
    }
}

#[cfg(test)]
mod tests;
