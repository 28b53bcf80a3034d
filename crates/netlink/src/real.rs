//! [`RealNetlink`]: synchronous NETLINK_ROUTE requests, one socket per network namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::route::{RouteHeader, RouteMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sched::CloneFlags;

use crate::messages::{self, addr_from, get_link, link_from, route_from, Failure, Reply};
use crate::netns::on_fresh_thread;
use crate::{Addr, Error, Link, LinkChange, LinkKind, Netlink, NewLink, NsRef, Result, Route};

/// How often a dump the kernel flagged as interrupted (NLM_F_DUMP_INTR) is retried.
const DUMP_RETRIES: usize = 3;

/// The kernel's rtnetlink, spoken synchronously over one cached socket per namespace.
///
/// A netlink socket belongs to the namespace of the thread that created it, and any thread may
/// use it afterwards. [`NsRef::Host`] is the namespace of the thread that called
/// [`RealNetlink::new`]; a socket for [`NsRef::Path`] is created on a short-lived thread that
/// `setns`es into the namespace first, so no caller's thread ever changes namespace (or, see
/// [`NsEntry::CallingThread`], by the calling thread going there and straight back).
///
/// A socket keeps its namespace alive (with the links in it), so one is kept for a namespace
/// other than the host's only while an [`NsScope`](crate::NsScope) holds it; outside a scope
/// each request has a socket of its own, so that the namespace can die when its last process
/// exits.
pub struct RealNetlink {
    /// The host namespace, for IFLA_NET_NS_FD and for re-creating the host socket.
    host_ns: File,
    conns: Mutex<HashMap<NsRef, Cached>>,
    /// How many scopes hold each namespace other than the host.
    holds: Mutex<HashMap<NsRef, usize>>,
    entry: NsEntry,
}

/// How a socket in another namespace is made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NsEntry {
    /// On a short-lived thread that enters the namespace: no caller's thread ever changes
    /// namespace. For processes with threads that run other work (the daemon's pool).
    #[default]
    FreshThread,
    /// The calling thread enters the namespace, opens the socket and returns to the host
    /// namespace at once: no thread to start (a tenth of a millisecond here). For a process
    /// that runs one command on the thread that made the client, in the host namespace. If
    /// the thread cannot return, the process aborts rather than go on in the wrong namespace.
    CallingThread,
}

struct Cached {
    /// `(st_dev, st_ino)` of the namespace the socket lives in.
    id: (u64, u64),
    conn: Arc<Mutex<Conn>>,
}

/// One bound NETLINK_ROUTE socket and its request state.
struct Conn {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Conn {
    /// A socket in the current thread's namespace.
    fn open() -> io::Result<Conn> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind(&SocketAddr::new(0, 0))?;
        // Niceties older kernels may lack: errors carry only the request header, come with
        // the kernel's explanation, and requests with junk in their headers are rejected.
        let _ = sock.set_cap_ack(true);
        let _ = sock.set_ext_ack(true);
        let _ = sock.set_netlink_get_strict_chk(true);
        Ok(Conn {
            sock,
            seq: 0,
            buf: Vec::with_capacity(crate::peeked_receive::INITIAL_BUF),
        })
    }

    /// A socket in the namespace `ns`, made as `entry` says; `home` is the host namespace.
    fn open_in(ns: &File, entry: NsEntry, home: &File) -> io::Result<Conn> {
        match entry {
            NsEntry::FreshThread => {
                let ns = ns.try_clone()?;
                on_fresh_thread(move || {
                    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
                    Conn::open()
                })
            }
            NsEntry::CallingThread => crate::calling_thread::there_and_back(ns, home, Conn::open),
        }
    }

    /// Send one request and collect the replies: for a dump up to NLMSG_DONE, otherwise up to
    /// the acknowledgement (NLMSG_ERROR with code 0).
    fn exchange(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> std::result::Result<Reply, Failure> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let out = messages::encode(msg, flags, seq);
        self.sock
            .send_to(&out, &SocketAddr::new(0, 0), 0)
            .map_err(Failure::Io)?;

        let mut answer = messages::Answer::new(seq, dump);
        loop {
            crate::peeked_receive::recv(&self.sock, &mut self.buf).map_err(Failure::Io)?;
            if let Some(reply) = answer.read(&self.buf)? {
                return Ok(reply);
            }
        }
    }
}

impl RealNetlink {
    /// A client whose [`NsRef::Host`] is the network namespace of the calling thread.
    pub fn new() -> Result<Self> {
        let ns_err = |source| Error::Namespace {
            ns: NsRef::Host.to_string(),
            source,
        };
        let conn = Conn::open().map_err(|source| Error::Kernel {
            op: "open netlink socket".into(),
            source,
        })?;
        let host_ns = crate::socket_namespace::of(&conn.sock).map_err(ns_err)?;
        let id = file_id(&host_ns).map_err(ns_err)?;
        let mut conns = HashMap::new();
        conns.insert(
            NsRef::Host,
            Cached {
                id,
                conn: Arc::new(Mutex::new(conn)),
            },
        );
        Ok(RealNetlink {
            host_ns,
            conns: Mutex::new(conns),
            holds: Mutex::new(HashMap::new()),
            entry: NsEntry::FreshThread,
        })
    }

    /// The same client, making sockets in other namespaces as `entry` says.
    pub fn with_ns_entry(mut self, entry: NsEntry) -> Self {
        self.entry = entry;
        self
    }

    /// How many namespaces currently have a cached socket (the host's included).
    pub fn cached(&self) -> usize {
        self.cache().len()
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<NsRef, Cached>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn held(&self) -> MutexGuard<'_, HashMap<NsRef, usize>> {
        self.holds.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Open the namespace file behind `ns` (for setns or IFLA_NET_NS_FD).
    fn open_ns(&self, ns: &NsRef) -> Result<File> {
        let file = match ns {
            NsRef::Host => self.host_ns.try_clone(),
            NsRef::Path(p) => File::open(p),
        };
        file.map_err(|source| Error::Namespace {
            ns: ns.to_string(),
            source,
        })
    }

    /// The socket for `ns`: the cached one if it still lives in the namespace the path names
    /// now, else a new one.
    fn conn(&self, ns: &NsRef) -> Result<Arc<Mutex<Conn>>> {
        let ns_err = |source| Error::Namespace {
            ns: ns.to_string(),
            source,
        };
        let (file, id) = match ns {
            NsRef::Host => {
                if let Some(c) = self.cache().get(ns) {
                    return Ok(c.conn.clone());
                }
                let file = self.open_ns(ns)?;
                let id = file_id(&file).map_err(ns_err)?;
                (file, id)
            }
            NsRef::Path(p) => {
                // Which namespace the path names now, by a stat (cheaper than opening it,
                // which only a new socket needs).
                let m = std::fs::metadata(p).map_err(ns_err)?;
                if let Some(c) = self.cache().get(ns).filter(|c| c.id == (m.dev(), m.ino())) {
                    return Ok(c.conn.clone());
                }
                let file = self.open_ns(ns)?;
                let id = file_id(&file).map_err(ns_err)?;
                (file, id)
            }
        };
        let conn = Arc::new(Mutex::new(
            Conn::open_in(&file, self.entry, &self.host_ns).map_err(ns_err)?,
        ));
        // Kept for the host, and for a namespace while a scope holds it (decided under the
        // holds' lock, which a release takes first too); else this request's own.
        let held = self.held();
        if *ns != NsRef::Host && !held.contains_key(ns) {
            return Ok(conn);
        }
        self.cache().insert(
            ns.clone(),
            Cached {
                id,
                conn: conn.clone(),
            },
        );
        Ok(conn)
    }

    /// One request in `ns`; `op` names it in errors.
    fn request(
        &self,
        ns: &NsRef,
        op: &dyn Fn() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let conn = self.conn(ns)?;
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        match conn.exchange(msg, flags) {
            Ok(reply) => Ok(reply.msgs),
            Err(f) => Err(failure(op, f)),
        }
    }

    /// A change request (NLM_F_REQUEST | NLM_F_ACK | `flags`) whose only answer is the ack.
    fn change(
        &self,
        ns: &NsRef,
        op: &dyn Fn() -> String,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<()> {
        self.request(ns, op, msg, NLM_F_REQUEST | NLM_F_ACK | flags)
            .map(drop)
    }

    /// A dump, retried a few times if the kernel says it was interrupted by a change.
    fn dump(
        &self,
        ns: &NsRef,
        op: &dyn Fn() -> String,
        msg: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>> {
        let conn = self.conn(ns)?;
        let mut conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut attempt = 0;
        loop {
            let reply = conn
                .exchange(msg.clone(), NLM_F_REQUEST | NLM_F_DUMP)
                .map_err(|f| failure(op, f))?;
            attempt += 1;
            if !reply.interrupted || attempt > DUMP_RETRIES {
                return Ok(reply.msgs);
            }
        }
    }
}

/// Give a failure its operation's name.
fn failure(op: &dyn Fn() -> String, f: Failure) -> Error {
    match f {
        Failure::Errno(errno, msg) => Error::Kernel {
            op: match msg {
                Some(m) if !m.is_empty() => format!("{} ({m})", op()),
                _ => op(),
            },
            source: io::Error::from_raw_os_error(errno),
        },
        Failure::Io(source) => Error::Kernel { op: op(), source },
        Failure::Protocol(m) => Error::Protocol(format!("{}: {m}", op())),
    }
}

fn file_id(f: &File) -> io::Result<(u64, u64)> {
    let m = f.metadata()?;
    Ok((m.dev(), m.ino()))
}

impl Netlink for RealNetlink {
    fn hold(&self, ns: &NsRef, _: crate::Held) {
        if *ns != NsRef::Host {
            *self.held().entry(ns.clone()).or_default() += 1;
        }
    }

    /// The last scope of `ns` drops its socket, releasing the namespace.
    fn release(&self, ns: &NsRef, _: crate::Held) {
        let mut held = self.held();
        let Some(n) = held.get_mut(ns) else { return };
        *n -= 1;
        if *n == 0 {
            held.remove(ns);
            self.cache().remove(ns);
        }
    }

    fn ns_new(&self) -> io::Result<crate::Namespace> {
        let file = crate::netns::new_netns()?;
        let path = crate::netns::fd_path(&file);
        Ok(crate::Namespace::new(path, Box::new(file)))
    }

    fn ns_id(&self, path: &std::path::Path) -> io::Result<crate::NsId> {
        crate::netns::identity(path)
    }

    fn ns_is_net(&self, path: &std::path::Path) -> io::Result<bool> {
        crate::netns::is_netns(path)
    }

    fn ns_own(&self) -> io::Result<crate::NsId> {
        crate::netns::own_identity()
    }

    fn ns_holders(&self) -> HashMap<crate::NsId, std::path::PathBuf> {
        crate::netns::holders()
    }

    fn links(&self, ns: &NsRef) -> Result<Vec<Link>> {
        let op = || format!("list links in {ns}");
        let msgs = self.dump(ns, &op, RouteNetlinkMessage::GetLink(get_link(None)))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })
            .collect())
    }

    fn link_by_name(&self, ns: &NsRef, name: &str) -> Result<Option<Link>> {
        if name.is_empty() || name.len() > 15 {
            return Ok(None); // no link can have such a name
        }
        let op = || format!("find link {name} in {ns}");
        let msg = get_link(Some(name));
        match self.request(
            ns,
            &op,
            RouteNetlinkMessage::GetLink(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        ) {
            Ok(msgs) => Ok(msgs.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_from(l)),
                _ => None,
            })),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn host_nsid(&self, ns: &NsRef) -> Result<Option<i32>> {
        use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
        if *ns == NsRef::Host {
            return Ok(None);
        }
        let op = || format!("ask {ns} for its id of the host namespace");
        let mut msg = NsidMessage::default();
        msg.attributes
            .push(NsidAttribute::Fd(self.host_ns.as_raw_fd() as u32));
        let msgs = self.request(
            ns,
            &op,
            RouteNetlinkMessage::GetNsId(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        )?;
        Ok(msgs.into_iter().find_map(|m| match m {
            RouteNetlinkMessage::NewNsId(m) => m.attributes.into_iter().find_map(|a| match a {
                NsidAttribute::Id(id) if id >= 0 => Some(id),
                _ => None,
            }),
            _ => None,
        }))
    }

    fn link_index(&self, ns: &NsRef, name: &str) -> Result<Option<u32>> {
        if name.is_empty() || name.len() > 15 {
            return Ok(None); // no link can have such a name
        }
        let conn = self.conn(ns)?;
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        crate::index_ioctl::index(&conn.sock, name).map_err(|source| Error::Kernel {
            op: format!("find link {name} in {ns}"),
            source,
        })
    }

    fn link_add(&self, ns: &NsRef, link: &NewLink) -> Result<()> {
        let op = || {
            let mut s = format!("create {} link {}", link.kind.name(), link.name);
            if let Some(p) = link.parent_index {
                s += &format!(" on link {p}");
            }
            s += &format!(" in {ns}");
            if let Some(t) = &link.target_ns {
                s += &format!(" into {t}");
            }
            s
        };
        // The namespace files must stay open until the kernel has answered.
        let target = link
            .target_ns
            .as_ref()
            .map(|t| self.open_ns(t))
            .transpose()?;
        // A veth's peer goes where the link goes unless told otherwise; say so explicitly,
        // as kernels differ on where a peer without IFLA_NET_NS_FD lands.
        let peer_ns = match &link.kind {
            LinkKind::Veth { peer_ns, .. } => peer_ns
                .as_ref()
                .or(link.target_ns.as_ref())
                .map(|p| self.open_ns(p))
                .transpose()?,
            _ => None,
        };
        let msg = messages::new_link(
            link,
            target.as_ref().map(|t| t.as_raw_fd()),
            peer_ns.as_ref().map(|p| p.as_raw_fd()),
        );
        let res = self.change(
            ns,
            &op,
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        );
        drop((target, peer_ns));
        res
    }

    fn link_set(&self, ns: &NsRef, index: u32, change: &LinkChange) -> Result<()> {
        let op = || {
            let mut what = Vec::new();
            if let Some(n) = &change.name {
                what.push(format!("name {n}"));
            }
            if let Some(m) = &change.mac {
                what.push(format!("address {}", m));
            }
            if let Some(m) = change.mtu {
                what.push(format!("mtu {m}"));
            }
            if let Some(up) = change.up {
                what.push(if up { "up" } else { "down" }.to_string());
            }
            format!("set link {index} in {ns}: {}", what.join(", "))
        };
        let msg = messages::set_link(index, change);
        self.change(ns, &op, RouteNetlinkMessage::NewLink(msg), 0)
    }

    fn link_del(&self, ns: &NsRef, index: u32) -> Result<()> {
        let op = || format!("delete link {index} in {ns}");
        let msg = messages::del_link(index);
        self.change(ns, &op, RouteNetlinkMessage::DelLink(msg), 0)
    }

    fn addr_add(&self, ns: &NsRef, index: u32, addr: IpNet) -> Result<()> {
        let op = || format!("add address {addr} to link {index} in {ns}");
        let msg = messages::new_address(index, addr);
        self.change(
            ns,
            &op,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    fn addrs(&self, ns: &NsRef) -> Result<Vec<Addr>> {
        let op = || format!("list addresses in {ns}");
        let msgs = self.dump(
            ns,
            &op,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewAddress(a) => addr_from(a),
                _ => None,
            })
            .collect())
    }

    fn routes(&self, ns: &NsRef) -> Result<Vec<Route>> {
        let op = || format!("list routes in {ns}");
        let mut msg = RouteMessage::default();
        // With strict checking the kernel filters by table itself; without, we do below.
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        let msgs = self.dump(ns, &op, RouteNetlinkMessage::GetRoute(msg))?;
        Ok(msgs
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => route_from(r),
                _ => None,
            })
            .collect())
    }

    fn route_add(&self, ns: &NsRef, route: &Route) -> Result<()> {
        let dst = route.dst.trunc();
        let op = || match route.gateway {
            Some(gw) => format!("add route {dst} via {gw} dev {} in {ns}", route.oif),
            None => format!("add route {dst} dev {} in {ns}", route.oif),
        };
        let msg = messages::new_route(route);
        self.change(
            ns,
            &op,
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
