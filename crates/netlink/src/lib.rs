//! Synchronous rtnetlink client for underlay.
//!
//! Knows links, addresses, routes and network namespaces; nothing about Docker, CNI or networks.
//! Two implementations of [`Netlink`]: [`RealNetlink`] (NETLINK_ROUTE sockets, one per namespace
//! while an [`NsScope`] holds it, each created on a fresh short-lived OS thread that `setns`es
//! first) and [`FakeNetlink`] (an in-memory model of namespaces and links that records every
//! request, for unit tests without root); [`DryRun`] asks the kernel and changes nothing. The
//! messages the real client sends and the answers it reads are built and parsed in one module
//! (`messages.rs`), tested without a socket.
//!
//! Public API: [`Netlink`] (links, addresses, routes, and the namespace questions `ns_new`,
//! `ns_id`, `ns_is_net`, `ns_own`, `ns_holders`), [`NsScope`], [`Holders`], [`Namespace`],
//! [`NsId`], [`NsRef`], [`NewLink`], [`LinkKind`], [`LinkChange`], [`Link`], [`Addr`],
//! [`Route`], [`MacvlanMode`], [`IpvlanMode`], [`IpvlanFlag`], [`Error`], [`Result`],
//! [`Mac`], and [`netns`] for the process's own
//! namespace handles.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;

mod calling_thread;
mod dry;
mod fake;
mod index_ioctl;
mod messages;
pub mod netns;
mod peeked_receive;
mod real;
mod socket_namespace;

pub use dry::DryRun;
pub use fake::FakeNetlink;
pub use netns::{Holders, Namespace, NsId};
pub use real::{NsEntry, RealNetlink};

/// Which network namespace a request acts in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NsRef {
    /// The namespace the process was in when the client was created (the "host").
    Host,
    /// A namespace file: `/run/netns/NAME`, `/proc/PID/ns/net`, `/proc/self/fd/N`, a bind mount…
    Path(PathBuf),
}

impl std::fmt::Display for NsRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NsRef::Host => write!(f, "host namespace"),
            NsRef::Path(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MacvlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpvlanMode {
    L2,
    L3,
    L3s,
}

/// ipvlan flags; Docker's "bridge" is no flag bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpvlanFlag {
    Bridge,
    Private,
    Vepa,
}

/// What kind of link to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkKind {
    Macvlan {
        mode: MacvlanMode,
    },
    Ipvlan {
        mode: IpvlanMode,
        flag: IpvlanFlag,
    },
    /// 802.1Q sub-interface.
    Vlan {
        id: u16,
    },
    Dummy,
    /// veth pair; `peer` is the peer's name, created in `peer_ns` (or the same namespace).
    Veth {
        peer: String,
        peer_ns: Option<NsRef>,
    },
}

impl LinkKind {
    /// The kernel's name for the kind (IFLA_INFO_KIND).
    pub fn name(&self) -> &'static str {
        match self {
            LinkKind::Macvlan { .. } => "macvlan",
            LinkKind::Ipvlan { .. } => "ipvlan",
            LinkKind::Vlan { .. } => "vlan",
            LinkKind::Dummy => "dummy",
            LinkKind::Veth { .. } => "veth",
        }
    }
}

/// A request to create a link (RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewLink {
    pub name: String,
    pub kind: LinkKind,
    /// IFLA_LINK: ifindex of the lower device, resolved in the namespace the request is sent in.
    pub parent_index: Option<u32>,
    /// IFLA_NET_NS_FD: create the link straight into this namespace.
    pub target_ns: Option<NsRef>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    /// Bring the link up as part of creation (IFF_UP).
    pub up: bool,
}

/// What a link dump tells about one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND: "macvlan", "ipvlan", "vlan", "dummy", "veth", …; None for plain devices.
    pub kind: Option<String>,
    pub mtu: u32,
    pub mac: Option<Mac>,
    /// IFF_UP is set.
    pub up: bool,
    /// IFF_LOWER_UP is set: the link has carrier (a cable, a peer). Without it an up link
    /// shows NO-CARRIER and passes no traffic, nor do macvlan/ipvlan links on it.
    pub carrier: bool,
    /// IFLA_LINK (lower device index) when present.
    pub parent_index: Option<u32>,
    /// IFLA_LINK_NETNSID: the lower device lives in another namespace, which this link's
    /// namespace knows by this id (compare with [`Netlink::host_nsid`]); `parent_index` is an
    /// index there.
    pub link_netnsid: Option<i32>,
    pub macvlan_mode: Option<MacvlanMode>,
    pub ipvlan_mode: Option<IpvlanMode>,
    pub vlan_id: Option<u16>,
}

/// Changes to an existing link (RTM_NEWLINK/RTM_SETLINK on its index). `None` = leave as is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkChange {
    pub name: Option<String>,
    pub mac: Option<Mac>,
    pub mtu: Option<u32>,
    pub up: Option<bool>,
}

/// A route to add (RTM_NEWROUTE, main table, NLM_F_CREATE|NLM_F_EXCL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix; `0.0.0.0/0` / `::/0` for a default route.
    pub dst: IpNet,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
}

/// An address as dumped (RTM_GETADDR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub addr: IpNet,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel answered with an errno. `op` names the request (e.g. "create link eth0").
    #[error("{op}: {source}")]
    Kernel {
        op: String,
        #[source]
        source: std::io::Error,
    },
    /// The namespace could not be opened or entered.
    #[error("network namespace {ns}: {source}")]
    Namespace {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// The errno the kernel answered with, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { source, .. } | Error::Namespace { source, .. } => source.raw_os_error(),
            Error::Protocol(_) => None,
        }
    }
    pub fn is_exists(&self) -> bool {
        self.errno() == Some(libc::EEXIST)
    }
    pub fn is_not_found(&self) -> bool {
        matches!(self.errno(), Some(libc::ENODEV) | Some(libc::ENOENT))
    }
    /// The kernel lacks the requested link kind (EOPNOTSUPP from RTM_NEWLINK).
    pub fn is_unsupported(&self) -> bool {
        self.errno() == Some(libc::EOPNOTSUPP)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The rtnetlink operations underlay needs. All calls are synchronous and act in `ns`.
pub trait Netlink: Send + Sync {
    /// All links in `ns`.
    fn links(&self, ns: &NsRef) -> Result<Vec<Link>>;
    /// The link called `name` in `ns`, or None.
    fn link_by_name(&self, ns: &NsRef, name: &str) -> Result<Option<Link>>;
    /// Only the index of the link called `name` in `ns`, or None: the cheapest question the
    /// kernel answers about a link (no message to build or parse).
    fn link_index(&self, ns: &NsRef, name: &str) -> Result<Option<u32>>;
    /// Create a link; the request is sent in `ns` (where `parent_index` is resolved).
    fn link_add(&self, ns: &NsRef, link: &NewLink) -> Result<()>;
    /// Change name / MAC / MTU / up state of link `index` in `ns`.
    fn link_set(&self, ns: &NsRef, index: u32, change: &LinkChange) -> Result<()>;
    /// Delete link `index` in `ns`.
    fn link_del(&self, ns: &NsRef, index: u32) -> Result<()>;
    /// Add an address; IPv6 addresses get IFA_F_NODAD (usable at once, no DAD delay).
    fn addr_add(&self, ns: &NsRef, index: u32, addr: IpNet) -> Result<()>;
    /// All addresses in `ns`.
    fn addrs(&self, ns: &NsRef) -> Result<Vec<Addr>>;
    /// Add a route in the main table.
    fn route_add(&self, ns: &NsRef, route: &Route) -> Result<()>;
    /// The unicast routes of the main table in `ns`, both families, including those the kernel
    /// adds for addresses (a multipath route shows its first next hop).
    fn routes(&self, ns: &NsRef) -> Result<Vec<Route>>;
    /// The id by which `ns` knows the host namespace (RTM_GETNSID), if it has given it one:
    /// a link in `ns` whose `link_netnsid` equals it has its lower device on the host.
    fn host_nsid(&self, ns: &NsRef) -> Result<Option<i32>>;
    /// Keep what acting in `ns` needs (a socket) until the matching [`release`](Self::release).
    /// Only [`NsScope`] calls these (a [`Held`] cannot be made elsewhere), so a hold cannot
    /// outlive its scope.
    fn hold(&self, _ns: &NsRef, _: Held) {}
    /// End one hold of `ns`; the last one lets go of what was kept for it.
    fn release(&self, _ns: &NsRef, _: Held) {}

    /// A new, empty network namespace (only `lo`, down), alive while the handle lives; the
    /// caller's thread stays where it is.
    fn ns_new(&self) -> io::Result<Namespace>;
    /// The identity of the namespace file at `path` (following symlinks and `/proc` magic
    /// links): two paths name the same namespace exactly when their identities are equal.
    /// An error when nothing is there.
    fn ns_id(&self, path: &Path) -> io::Result<NsId>;
    /// Whether the file at `path` is a network namespace (not another kind of namespace or
    /// an ordinary file). An error when it cannot be opened.
    fn ns_is_net(&self, path: &Path) -> io::Result<bool>;
    /// The identity of the host namespace (where the client was created).
    fn ns_own(&self) -> io::Result<NsId>;
    /// Every network namespace that something on this host still holds, each with a path
    /// that names it now (see [`netns::holders`]); the host's own may be among them.
    fn ns_holders(&self) -> HashMap<NsId, PathBuf>;
}

/// Proof that a hold or release comes from an [`NsScope`]: only this crate makes one.
#[derive(Clone, Copy, Debug)]
pub struct Held(());

/// A scope in which a client keeps what it needs to act in one namespace (a socket), released
/// when the scope ends.
///
/// Outside any scope a request in another namespace than the host opens a socket of its own
/// and closes it: nothing keeps the namespace (and its links) alive after the operation, so a
/// container's macvlan cannot outlive the container because a release was forgotten. An
/// operation that makes several requests in a namespace opens a scope first, so that they
/// share one socket.
pub struct NsScope<'a> {
    nl: &'a dyn Netlink,
    ns: NsRef,
}

impl<'a> NsScope<'a> {
    pub fn new(nl: &'a dyn Netlink, ns: &NsRef) -> Self {
        nl.hold(ns, Held(()));
        Self { nl, ns: ns.clone() }
    }

    /// The namespace the scope is for.
    pub fn ns(&self) -> &NsRef {
        &self.ns
    }
}

impl Drop for NsScope<'_> {
    fn drop(&mut self) {
        self.nl.release(&self.ns, Held(()));
    }
}

/// A MAC address (`aa:bb:cc:dd:ee:ff` when shown; `-` separators accepted when parsed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A locally administered unicast address made of 6 random bytes.
    pub fn local(mut bytes: [u8; 6]) -> Mac {
        bytes[0] &= 0xfe; // unicast
        bytes[0] |= 0x02; // locally administered
        Mac(bytes)
    }

    /// Whether a link may have it: unicast (the first byte even) and not all zero.
    pub fn is_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }
}

impl std::fmt::Display for Mac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// A text that is no MAC address.
#[derive(Debug, PartialEq, Eq)]
pub struct BadMac;

impl std::str::FromStr for Mac {
    type Err = BadMac;

    fn from_str(s: &str) -> std::result::Result<Mac, BadMac> {
        let parts: Vec<&str> = s.split([':', '-']).collect();
        if parts.len() != 6 {
            return Err(BadMac);
        }
        let mut mac = [0u8; 6];
        for (i, p) in parts.iter().enumerate() {
            if p.len() != 2 {
                return Err(BadMac);
            }
            mac[i] = u8::from_str_radix(p, 16).map_err(|_| BadMac)?;
        }
        Ok(Mac(mac))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_reads_and_shows_as_ip_link_does() {
        let m: Mac = "02:42:AC:10:56:0a".parse().unwrap();
        assert_eq!(m, Mac([0x02, 0x42, 0xac, 0x10, 0x56, 0x0a]));
        assert_eq!(m.to_string(), "02:42:ac:10:56:0a");
        assert_eq!("02-42-ac-10-56-0a".parse::<Mac>(), Ok(m));
        for bad in [
            "",
            "02:42:ac:10:56",
            "02:42:ac:10:56:0a:01",
            "2:42:ac:10:56:0a",
            "zz:42:ac:10:56:0a",
        ] {
            assert_eq!(bad.parse::<Mac>(), Err(BadMac), "{bad:?}");
        }
        assert!(m.is_unicast());
        assert!(!Mac([0x01, 0, 0, 0, 0, 1]).is_unicast(), "multicast");
        assert!(!Mac([0; 6]).is_unicast());
        let local = Mac::local([0xff; 6]);
        assert_eq!(local.0[0] & 0x03, 0x02, "unicast, locally administered");
        assert_eq!(local.0[1..], [0xff; 5]);
    }
}
