//! A throwaway lab of network namespaces for `underlay demo`, built through netlink:
//! a "host" whose `eth0` is one end of a veth (standing in for the physical NIC), a "router"
//! on the other end holding the gateway address, and the tools to look inside containers
//! (an ICMP echo probe and `ip`-style views) without running any external program.
//!
//! Every namespace is held by an open file descriptor: dropping the lab closes them and the
//! kernel removes the namespaces with every link in them.

use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use netlink::{LinkChange, LinkKind, Netlink, NewLink, NsRef, RealNetlink};

use engine::error::kernel_reason;
use engine::{Engine, Error, Result};

/// One namespace of the lab.
pub struct LabNs {
    pub name: String,
    file: File,
    path: PathBuf,
}

impl LabNs {
    fn new(name: &str) -> io::Result<Self> {
        let file = netlink::netns::new_netns()?;
        let path = netlink::netns::fd_path(&file);
        Ok(Self {
            name: name.to_string(),
            file,
            path,
        })
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn nsref(&self) -> NsRef {
        NsRef::Path(self.path.clone())
    }
}

/// The demo lab: host and router joined by a veth; the host end is called `eth0`.
pub struct Lab {
    nl: Arc<RealNetlink>,
    pub host: LabNs,
    pub router: LabNs,
}

fn k(what: &str) -> impl Fn(netlink::Error) -> Error + '_ {
    move |e| Error::kernel(format!("lab: {what}: {}", kernel_reason(&e)))
}

impl Lab {
    /// Build the lab: `host` with `eth0` = `host_addr`, `router` with `lan0` = `router_addr`.
    pub fn new(host_addr: IpNet, router_addr: IpNet) -> Result<Self> {
        let ns = |n| LabNs::new(n).map_err(|e| Error::kernel(format!("lab: new namespace: {e}")));
        let host = ns("host")?;
        let router = ns("router")?;
        let nl =
            Arc::new(RealNetlink::new().map_err(|e| Error::kernel(format!("lab: netlink: {e}")))?);
        let lab = Self { nl, host, router };
        let veth = NewLink {
            name: "eth0".into(),
            kind: LinkKind::Veth {
                peer: "lan0".into(),
                peer_ns: Some(lab.router.nsref()),
            },
            parent_index: None,
            target_ns: None,
            mac: None,
            mtu: None,
            up: false,
        };
        lab.nl
            .link_add(&lab.host.nsref(), &veth)
            .map_err(k("create veth eth0/lan0"))?;
        lab.configure(&lab.host.nsref(), "eth0", host_addr)?;
        lab.configure(&lab.router.nsref(), "lan0", router_addr)?;
        Ok(lab)
    }

    fn configure(&self, ns: &NsRef, ifname: &str, addr: IpNet) -> Result<()> {
        for name in ["lo", ifname] {
            let link = self
                .nl
                .link_by_name(ns, name)
                .map_err(k("find link"))?
                .ok_or_else(|| Error::kernel(format!("lab: {name} missing")))?;
            if name == ifname {
                self.nl
                    .addr_add(ns, link.index, addr)
                    .map_err(k("add address"))?;
            }
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            self.nl
                .link_set(ns, link.index, &up)
                .map_err(k("link up"))?;
        }
        Ok(())
    }

    /// An engine whose "host" is the lab's host namespace, keeping state in `state_dir`.
    pub fn engine(&self, state_dir: &Path) -> Result<Engine> {
        let fd = self
            .host
            .file
            .try_clone()
            .map_err(|e| Error::kernel(format!("lab: {e}")))?;
        // The client's host socket belongs to the namespace of the thread that opens it.
        let nl = std::thread::spawn(move || -> io::Result<RealNetlink> {
            nix::sched::setns(fd.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
            RealNetlink::new().map_err(io::Error::other)
        })
        .join()
        .map_err(|_| Error::kernel("lab: netlink thread panicked"))?
        .map_err(|e| Error::kernel(format!("lab: netlink in host namespace: {e}")))?;
        let store = store::DirStore::open(state_dir)?;
        Ok(Engine::new(Arc::new(nl), Box::new(store)))
    }

    /// A new empty "container" namespace with `lo` up.
    pub fn container(&self, name: &str) -> Result<LabNs> {
        let c = LabNs::new(name).map_err(|e| Error::kernel(format!("lab: {e}")))?;
        let ns = c.nsref();
        if let Some(lo) = self.nl.link_by_name(&ns, "lo").map_err(k("find lo"))? {
            let up = LinkChange {
                up: Some(true),
                ..Default::default()
            };
            self.nl.link_set(&ns, lo.index, &up).map_err(k("lo up"))?;
        }
        Ok(c)
    }

    /// `ip -br addr`-like view of a namespace: one line per link with its addresses.
    pub fn addr_view(&self, ns: &LabNs) -> Result<String> {
        let ns = ns.nsref();
        let links = self.nl.links(&ns).map_err(k("list links"))?;
        let addrs = self.nl.addrs(&ns).map_err(k("list addresses"))?;
        let mut out = String::new();
        for l in links {
            let a: Vec<String> = addrs
                .iter()
                .filter(|a| a.index == l.index)
                .map(|a| a.addr.to_string())
                .collect();
            out.push_str(&format!(
                "{}: {:<8} {:<5} {}{} {}\n",
                l.index,
                l.name,
                if l.up { "UP" } else { "DOWN" },
                l.kind.map(|k| format!("{k} ")).unwrap_or_default(),
                l.mac.map(|m| m.to_string()).unwrap_or_default(),
                a.join(" ")
            ));
        }
        Ok(out)
    }

    /// `ip route`-like view of a namespace's main-table routes of one family.
    pub fn route_view(&self, ns: &LabNs, v6: bool) -> Result<String> {
        let ns = ns.nsref();
        let links = self.nl.links(&ns).map_err(k("list links"))?;
        let routes = self.nl.routes(&ns).map_err(k("list routes"))?;
        let name = |i: u32| {
            links
                .iter()
                .find(|l| l.index == i)
                .map(|l| l.name.clone())
                .unwrap_or_else(|| i.to_string())
        };
        let mut out = String::new();
        for r in routes.iter().filter(|r| r.dst.addr().is_ipv6() == v6) {
            let dst = if r.dst.prefix_len() == 0 {
                "default".to_string()
            } else {
                r.dst.to_string()
            };
            let via = r.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
            out.push_str(&format!("{dst}{via} dev {}\n", name(r.oif)));
        }
        Ok(out)
    }
}

/// Send one ICMP echo request from inside `ns` to `dst`; the round-trip time, or None when
/// no reply came within `timeout`.
pub fn ping(ns: &Path, dst: IpAddr, timeout: Duration) -> Result<Option<Duration>> {
    let file = File::open(ns).map_err(|e| Error::not_found(format!("{}: {e}", ns.display())))?;
    std::thread::spawn(move || -> io::Result<Option<Duration>> {
        nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)?;
        echo(dst, timeout)
    })
    .join()
    .map_err(|_| Error::kernel("ping thread panicked"))?
    .map_err(|e| Error::kernel(format!("ping {dst}: {e}")))
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn echo(dst: IpAddr, timeout: Duration) -> io::Result<Option<Duration>> {
    let (domain, proto, request_type, reply_type) = match dst {
        IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP, 8u8, 0u8),
        IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128u8, 129u8),
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe { libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh, valid descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let ident = (std::process::id() & 0xffff) as u16;
    let mut pkt = vec![request_type, 0, 0, 0];
    pkt.extend_from_slice(&ident.to_be_bytes());
    pkt.extend_from_slice(&1u16.to_be_bytes());
    pkt.extend_from_slice(b"underlay-demo-probe");
    if dst.is_ipv4() {
        let c = checksum(&pkt);
        pkt[2..4].copy_from_slice(&c.to_be_bytes());
    } // ICMPv6: the kernel fills the checksum on raw ICMPv6 sockets.
    let addr = socket2_addr(SocketAddr::new(dst, 0));
    // SAFETY: buffer and address are valid for the lengths passed.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            addr.0.as_ptr().cast(),
            addr.1,
        )
    };
    let start = Instant::now();
    if sent < 0 {
        let e = io::Error::last_os_error();
        // No route / unreachable: the probe simply got no answer.
        if matches!(
            e.raw_os_error(),
            Some(libc::ENETUNREACH) | Some(libc::EHOSTUNREACH)
        ) {
            return Ok(None);
        }
        return Err(e);
    }
    await_reply(&fd, dst, ident, reply_type, start, timeout)
}

/// The echo reply of our probe (`ident`) from `dst` on `fd`, if one comes within `timeout` of
/// `start`: the round-trip time.
fn await_reply(
    fd: &OwnedFd,
    dst: IpAddr,
    ident: u16,
    reply_type: u8,
    start: Instant,
    timeout: Duration,
) -> io::Result<Option<Duration>> {
    let mut buf = [0u8; 1500];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
        if n <= 0 {
            continue;
        }
        let mut from: MaybeUninit<libc::sockaddr_storage> = MaybeUninit::zeroed();
        let mut from_len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buffer and address storage are valid for the lengths passed.
        let len = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                from.as_mut_ptr().cast(),
                &mut from_len,
            )
        };
        if len <= 0 {
            continue;
        }
        let data = &buf[..len as usize];
        // Raw IPv4 sockets deliver the IP header; raw ICMPv6 sockets do not.
        let icmp = if dst.is_ipv4() {
            let ihl = usize::from(data[0] & 0x0f) * 4;
            if data.len() < ihl + 8 || data[12..16] != ip_octets(dst)[..] {
                continue;
            }
            &data[ihl..]
        } else {
            data
        };
        if icmp.len() >= 8 && icmp[0] == reply_type && icmp[4..6] == ident.to_be_bytes() {
            return Ok(Some(start.elapsed()));
        }
    }
}

fn ip_octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// A sockaddr for `addr` as bytes plus its length.
fn socket2_addr(addr: SocketAddr) -> (Vec<u8>, libc::socklen_t) {
    match addr {
        SocketAddr::V4(a) => {
            let sa = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>();
            // SAFETY: sockaddr_in is plain old data.
            let bytes = unsafe {
                std::slice::from_raw_parts((&sa as *const libc::sockaddr_in).cast::<u8>(), len)
            };
            (bytes.to_vec(), len as libc::socklen_t)
        }
        SocketAddr::V6(a) => {
            let sa = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>();
            // SAFETY: sockaddr_in6 is plain old data.
            let bytes = unsafe {
                std::slice::from_raw_parts((&sa as *const libc::sockaddr_in6).cast::<u8>(), len)
            };
            (bytes.to_vec(), len as libc::socklen_t)
        }
    }
}
