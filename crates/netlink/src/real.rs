//! [`RealNetlink`]: synchronous NETLINK_ROUTE requests, one socket per network namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, MutexGuard};

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, NLM_F_ACK, NLM_F_ACK_TLVS,
    NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoVeth, InfoVlan, IpVlanFlags, IpVlanMode,
    LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sched::CloneFlags;

use crate::netns::on_fresh_thread;
use crate::{
    Addr, Error, IpvlanFlag, IpvlanMode, Link, LinkChange, LinkKind, MacvlanMode, Netlink, NewLink,
    NsRef, Result, Route,
};

/// How often a dump the kernel flagged as interrupted (NLM_F_DUMP_INTR) is retried.
const DUMP_RETRIES: usize = 3;
/// Initial receive buffer: enough for an acknowledgement with the kernel's explanation, which
/// is all most sockets ever receive; it grows to the size of the largest datagram seen (each
/// is peeked at first).
const RECV_BUF: usize = 1024;
/// NLMSGERR_ATTR_MSG: the extended-ack error string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Message types below this are netlink's own (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;
/// RTPROT_BOOT: what `ip route add`, Docker and the CNI reference plugins install, so a
/// container's routing table reads the same whichever of them made it.
const RTPROT_BOOT: u8 = 3;

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

/// Why an exchange failed, before it is given its operation's name.
enum Failure {
    /// The kernel answered with this (positive) errno and maybe an extended-ack message.
    Errno(i32, Option<String>),
    Io(io::Error),
    Protocol(String),
}

/// The messages of one exchange and whether the kernel flagged the dump as inconsistent.
struct Reply {
    msgs: Vec<RouteNetlinkMessage>,
    interrupted: bool,
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
            buf: Vec::with_capacity(RECV_BUF),
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
            NsEntry::CallingThread => {
                nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
                let conn = Conn::open();
                if let Err(e) = nix::sched::setns(home.as_fd(), CloneFlags::CLONE_NEWNET) {
                    eprintln!("underlay: cannot return to the host network namespace: {e}");
                    std::process::abort();
                }
                conn
            }
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
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock
            .send_to(&out, &SocketAddr::new(0, 0), 0)
            .map_err(Failure::Io)?;

        let mut reply = Reply {
            msgs: Vec::new(),
            interrupted: false,
        };
        // A reply message of ours that did not parse: reported once the reply is complete,
        // so that the socket is left clean for the next request.
        let mut unparsed: Option<String> = None;
        loop {
            self.recv().map_err(Failure::Io)?;
            let mut data = &self.buf[..];
            while data.len() >= 16 {
                let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
                if len < 16 || len > data.len() {
                    return Err(Failure::Protocol(format!(
                        "bad message length {len} in a {}-byte datagram",
                        self.buf.len()
                    )));
                }
                let one = &data[..len];
                data = &data[((len + 3) & !3).min(data.len())..];
                // Anything else is left over from an earlier request that failed half-way.
                if header_seq(one) != seq {
                    continue;
                }
                let (header, payload) =
                    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) {
                        Ok(m) => m.into_parts(),
                        Err(e) if header_type(one) >= NLMSG_MIN_TYPE => {
                            unparsed.get_or_insert_with(|| e.to_string());
                            continue;
                        }
                        Err(e) => return Err(Failure::Protocol(e.to_string())),
                    };
                if header.flags & NLM_F_DUMP_INTR != 0 {
                    reply.interrupted = true;
                }
                let done = match payload {
                    NetlinkPayload::InnerMessage(m) => {
                        reply.msgs.push(m);
                        false
                    }
                    NetlinkPayload::Done(d) if d.code != 0 => {
                        return Err(Failure::Errno(d.code.abs(), None));
                    }
                    NetlinkPayload::Done(_) => true,
                    NetlinkPayload::Error(e) if e.raw_code() != 0 => {
                        let msg = ext_ack(header.flags, &e.header);
                        return Err(Failure::Errno(e.raw_code().abs(), msg));
                    }
                    // An ack; a dump's answer ends with NLMSG_DONE instead.
                    NetlinkPayload::Error(_) => !dump,
                    NetlinkPayload::Overrun(_) => {
                        return Err(Failure::Protocol("receive overrun".into()))
                    }
                    _ => false, // NLMSG_NOOP
                };
                if done {
                    return match unparsed {
                        Some(e) => Err(Failure::Protocol(e)),
                        None => Ok(reply),
                    };
                }
            }
        }
    }

    /// Receive one datagram into `self.buf`, growing the buffer first if it would not fit.
    fn recv(&mut self) -> io::Result<()> {
        // Peek at the size without copying anything.
        let len = retry(|| {
            let mut nothing: &mut [u8] = &mut [];
            self.sock
                .recv(&mut nothing, libc::MSG_PEEK | libc::MSG_TRUNC)
        })?;
        self.buf.clear();
        self.buf.reserve(len);
        retry(|| self.sock.recv(&mut self.buf, 0))?;
        Ok(())
    }
}

/// Retry a system call interrupted by a signal.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// The message type of a raw message (at least 16 bytes).
fn header_type(msg: &[u8]) -> u16 {
    u16::from_ne_bytes([msg[4], msg[5]])
}

/// The sequence number of a raw message (at least 16 bytes).
fn header_seq(msg: &[u8]) -> u32 {
    u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]])
}

/// The NLMSGERR_ATTR_MSG of an error message, if the kernel sent one. `payload` is what
/// follows the error code: the request's header (capped) or the whole request, then TLVs.
fn ext_ack(flags: u16, payload: &[u8]) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 || payload.len() < 16 {
        return None;
    }
    let skip = if flags & NLM_F_CAPPED != 0 {
        16
    } else {
        let len = u32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]) as usize;
        (len + 3) & !3
    };
    let tlvs = payload.get(skip..)?;
    NlasIterator::new(tlvs)
        .filter_map(|nla| nla.ok())
        .find(|nla| nla.kind() == NLMSGERR_ATTR_MSG)
        .map(|nla| {
            let v = nla.value();
            let v = v.split(|b| *b == 0).next().unwrap_or(v);
            String::from_utf8_lossy(v).into_owned()
        })
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
        // The socket's namespace is this thread's: SIOCGSKNS hands it over without a walk
        // through /proc (Linux 4.9 and later; the path otherwise).
        const SIOCGSKNS: libc::c_ulong = 0x894c;
        // SAFETY: SIOCGSKNS takes no argument and returns a new file descriptor or -1.
        let fd = unsafe { libc::ioctl(conn.sock.as_raw_fd(), SIOCGSKNS as _) };
        let host_ns = if fd >= 0 {
            // SAFETY: a descriptor the kernel just opened for us, owned by nobody else.
            unsafe { File::from_raw_fd(fd) }
        } else {
            File::open("/proc/thread-self/ns/net").map_err(ns_err)?
        };
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

fn macvlan_mode(m: MacvlanMode) -> MacVlanMode {
    match m {
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
    }
}

fn ipvlan_mode(m: IpvlanMode) -> IpVlanMode {
    match m {
        IpvlanMode::L2 => IpVlanMode::L2,
        IpvlanMode::L3 => IpVlanMode::L3,
        IpvlanMode::L3s => IpVlanMode::L3S,
    }
}

fn ipvlan_flags(f: IpvlanFlag) -> IpVlanFlags {
    match f {
        IpvlanFlag::Bridge => IpVlanFlags::empty(),
        IpvlanFlag::Private => IpVlanFlags::Private,
        IpvlanFlag::Vepa => IpVlanFlags::Vepa,
    }
}

/// IFLA_LINKINFO for a new link.
fn link_info(kind: &LinkKind, peer_ns: Option<&File>) -> Vec<LinkInfo> {
    let data = match kind {
        LinkKind::Macvlan { mode } => Some(InfoData::MacVlan(vec![InfoMacVlan::Mode(
            macvlan_mode(*mode),
        )])),
        LinkKind::Ipvlan { mode, flag } => Some(InfoData::IpVlan(vec![
            InfoIpVlan::Mode(ipvlan_mode(*mode)),
            InfoIpVlan::Flags(ipvlan_flags(*flag)),
        ])),
        LinkKind::Vlan { id } => Some(InfoData::Vlan(vec![InfoVlan::Id(*id)])),
        LinkKind::Dummy => None,
        LinkKind::Veth { peer, .. } => {
            let mut msg = LinkMessage::default();
            msg.attributes.push(LinkAttribute::IfName(peer.clone()));
            if let Some(f) = peer_ns {
                msg.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
            }
            Some(InfoData::Veth(InfoVeth::Peer(msg)))
        }
    };
    let kind = match kind {
        LinkKind::Macvlan { .. } => InfoKind::MacVlan,
        LinkKind::Ipvlan { .. } => InfoKind::IpVlan,
        LinkKind::Vlan { .. } => InfoKind::Vlan,
        LinkKind::Dummy => InfoKind::Dummy,
        LinkKind::Veth { .. } => InfoKind::Veth,
    };
    let mut info = vec![LinkInfo::Kind(kind)];
    info.extend(data.map(LinkInfo::Data));
    info
}

/// An RTM_GETLINK request (for one name, or all links), without the statistics we do not
/// read.
fn get_link(name: Option<&str>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    if let Some(n) = name {
        msg.attributes.push(LinkAttribute::IfName(n.to_string()));
    }
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}

/// A `Link` from an RTM_NEWLINK message.
fn link_from(msg: LinkMessage) -> Link {
    let mut link = Link {
        index: msg.header.index,
        name: String::new(),
        kind: None,
        mtu: 0,
        mac: None,
        up: msg.header.flags.contains(LinkFlags::Up),
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
        parent_index: None,
        link_netnsid: None,
        macvlan_mode: None,
        ipvlan_mode: None,
        vlan_id: None,
    };
    for attr in msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::Mtu(m) => link.mtu = m,
            LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::Link(i) => link.parent_index = Some(i),
            LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(k) => link.kind = Some(k.to_string()),
                        LinkInfo::Data(InfoData::MacVlan(d)) => {
                            link.macvlan_mode = d.iter().find_map(|i| match i {
                                InfoMacVlan::Mode(MacVlanMode::Private) => {
                                    Some(MacvlanMode::Private)
                                }
                                InfoMacVlan::Mode(MacVlanMode::Vepa) => Some(MacvlanMode::Vepa),
                                InfoMacVlan::Mode(MacVlanMode::Bridge) => Some(MacvlanMode::Bridge),
                                InfoMacVlan::Mode(MacVlanMode::Passthrough) => {
                                    Some(MacvlanMode::Passthru)
                                }
                                _ => None,
                            })
                        }
                        LinkInfo::Data(InfoData::IpVlan(d)) => {
                            link.ipvlan_mode = d.iter().find_map(|i| match i {
                                InfoIpVlan::Mode(IpVlanMode::L2) => Some(IpvlanMode::L2),
                                InfoIpVlan::Mode(IpVlanMode::L3) => Some(IpvlanMode::L3),
                                InfoIpVlan::Mode(IpVlanMode::L3S) => Some(IpvlanMode::L3s),
                                _ => None,
                            })
                        }
                        LinkInfo::Data(InfoData::Vlan(d)) => {
                            link.vlan_id = d.iter().find_map(|i| match i {
                                InfoVlan::Id(id) => Some(*id),
                                _ => None,
                            })
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// An `Addr` from an RTM_NEWADDR message (None for families other than IPv4/IPv6).
fn addr_from(msg: AddressMessage) -> Option<Addr> {
    let mut local = None;
    let mut address = None;
    for attr in msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(a),
            AddressAttribute::Address(a) => address = Some(a),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point
    // links and the same as IFA_LOCAL otherwise (IPv6 sends only IFA_ADDRESS).
    let ip = local.or(address)?;
    let addr = IpNet::new(ip, msg.header.prefix_len).ok()?;
    Some(Addr {
        index: msg.header.index,
        addr,
    })
}

/// A `Route` from an RTM_NEWROUTE message, if it is a main-table unicast route.
fn route_from(msg: RouteMessage) -> Option<Route> {
    let h = &msg.header;
    let mut table = u32::from(h.table);
    let (mut dst, mut gateway, mut oif) = (None, None, None);
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dst = ip_of(a),
            RouteAttribute::Gateway(a) => gateway = ip_of(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::MultiPath(hops) if oif.is_none() => {
                if let Some(hop) = hops.first() {
                    oif = Some(hop.interface_index);
                    gateway = hop.attributes.iter().find_map(|a| match a {
                        RouteAttribute::Gateway(g) => ip_of(g),
                        _ => None,
                    });
                }
            }
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN)
        || h.kind != RouteType::Unicast
        || h.flags.contains(RouteFlags::Cloned)
    {
        return None;
    }
    let dst = dst.or(match h.address_family {
        AddressFamily::Inet => Some(IpAddr::from([0u8; 4])),
        AddressFamily::Inet6 => Some(IpAddr::from([0u8; 16])),
        _ => None,
    })?;
    Some(Route {
        dst: IpNet::new(dst, h.destination_prefix_length).ok()?,
        gateway,
        oif: oif?,
    })
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The IPv4 broadcast address of a prefix, for prefixes that have one (< /31).
fn broadcast(net: &ipnet::Ipv4Net) -> Option<std::net::Ipv4Addr> {
    (net.prefix_len() < 31).then(|| net.broadcast())
}

fn family(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
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
        // SIOCGIFINDEX: the kernel answers it on any socket, in the socket's namespace.
        // SAFETY: an all-zero ifreq is valid; the name fits with its terminating NUL.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        let conn = self.conn(ns)?;
        let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: SIOCGIFINDEX reads the name and writes the index into `req`, which lives
        // across the call.
        let r = unsafe { libc::ioctl(conn.sock.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) };
        if r == 0 {
            // SAFETY: the kernel filled the index member of the union.
            return Ok(Some(unsafe { req.ifr_ifru.ifru_ifindex } as u32));
        }
        match io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            source => Err(Error::Kernel {
                op: format!("find link {name} in {ns}"),
                source,
            }),
        }
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
        let mut msg = LinkMessage::default();
        if link.up {
            msg.header.flags = LinkFlags::Up;
            msg.header.change_mask = LinkFlags::Up;
        }
        let attrs = &mut msg.attributes;
        attrs.push(LinkAttribute::IfName(link.name.clone()));
        if let Some(p) = link.parent_index {
            attrs.push(LinkAttribute::Link(p));
        }
        if let Some(t) = &target {
            attrs.push(LinkAttribute::NetNsFd(t.as_raw_fd()));
        }
        if let Some(mac) = link.mac {
            attrs.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(mtu) = link.mtu {
            attrs.push(LinkAttribute::Mtu(mtu));
        }
        attrs.push(LinkAttribute::LinkInfo(link_info(
            &link.kind,
            peer_ns.as_ref(),
        )));
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
                what.push(format!("address {}", crate::format_mac(m)));
            }
            if let Some(m) = change.mtu {
                what.push(format!("mtu {m}"));
            }
            if let Some(up) = change.up {
                what.push(if up { "up" } else { "down" }.to_string());
            }
            format!("set link {index} in {ns}: {}", what.join(", "))
        };
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        if let Some(up) = change.up {
            msg.header.flags = if up {
                LinkFlags::Up
            } else {
                LinkFlags::empty()
            };
            msg.header.change_mask = LinkFlags::Up;
        }
        if let Some(n) = &change.name {
            msg.attributes.push(LinkAttribute::IfName(n.clone()));
        }
        if let Some(mac) = change.mac {
            msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        }
        if let Some(mtu) = change.mtu {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        self.change(ns, &op, RouteNetlinkMessage::NewLink(msg), 0)
    }

    fn link_del(&self, ns: &NsRef, index: u32) -> Result<()> {
        let op = || format!("delete link {index} in {ns}");
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.change(ns, &op, RouteNetlinkMessage::DelLink(msg), 0)
    }

    fn addr_add(&self, ns: &NsRef, index: u32, addr: IpNet) -> Result<()> {
        let op = || format!("add address {addr} to link {index} in {ns}");
        let ip = addr.addr();
        let mut msg = AddressMessage::default();
        msg.header.family = family(&ip);
        msg.header.prefix_len = addr.prefix_len();
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip));
        msg.attributes.push(AddressAttribute::Address(ip));
        match addr {
            IpNet::V4(net) => {
                if let Some(b) = broadcast(&net) {
                    msg.attributes.push(AddressAttribute::Broadcast(b));
                }
            }
            IpNet::V6(_) => {
                // No duplicate address detection: usable at once, never "tentative".
                msg.header.flags = AddressHeaderFlags::Nodad;
                msg.attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
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
        let mut msg = RouteMessage::default();
        msg.header.address_family = family(&dst.addr());
        msg.header.destination_prefix_length = dst.prefix_len();
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::from(RTPROT_BOOT);
        msg.header.scope = if route.gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        msg.header.kind = RouteType::Unicast;
        if dst.prefix_len() > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(dst.addr())));
        }
        if let Some(gw) = route.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        msg.attributes.push(RouteAttribute::Oif(route.oif));
        self.change(
            ns,
            &op,
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }
}
