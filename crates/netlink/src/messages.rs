//! The rtnetlink messages underlay sends and the answers it reads, built and parsed without a
//! socket: what [`RealNetlink`](crate::RealNetlink) puts on the wire is tested here without
//! root, byte for byte where the kernel's layout matters.

use std::net::IpAddr;
use std::os::fd::RawFd;

use ipnet::IpNet;
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NlasIterator, NLM_F_ACK_TLVS, NLM_F_CAPPED,
    NLM_F_DUMP_INTR,
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

use crate::{
    Addr, IpvlanFlag, IpvlanMode, Link, LinkChange, LinkKind, Mac, MacvlanMode, NewLink, Route,
};

/// NLMSGERR_ATTR_MSG: the extended-ack error string.
const NLMSGERR_ATTR_MSG: u16 = 1;
/// Message types below this are netlink's own (NOOP, ERROR, DONE, OVERRUN).
const NLMSG_MIN_TYPE: u16 = 0x10;

/// RTPROT_BOOT: what `ip route add`, Docker and the CNI reference plugins install, so a
/// container's routing table reads the same whichever of them made it.
const RTPROT_BOOT: u8 = 3;

/// Why an exchange failed, before it is given its operation's name.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The kernel answered with this (positive) errno and maybe an extended-ack message.
    Errno(i32, Option<String>),
    Io(std::io::Error),
    Protocol(String),
}

/// The messages of one exchange and whether the kernel flagged the dump as inconsistent.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) msgs: Vec<RouteNetlinkMessage>,
    pub(crate) interrupted: bool,
}

/// The answer to one request (`seq`), read datagram by datagram as the kernel sends them.
pub(crate) struct Answer {
    seq: u32,
    dump: bool,
    reply: Reply,
    /// A reply message of ours that did not parse: reported once the reply is complete, so
    /// that the socket is left clean for the next request.
    unparsed: Option<String>,
}

impl Answer {
    pub(crate) fn new(seq: u32, dump: bool) -> Self {
        Self {
            seq,
            dump,
            reply: Reply {
                msgs: Vec::new(),
                interrupted: false,
            },
            unparsed: None,
        }
    }

    /// Read one datagram: the whole reply once it is complete (an ack, or a dump's
    /// NLMSG_DONE), `None` while more is to come, or why it failed.
    pub(crate) fn read(&mut self, datagram: &[u8]) -> Result<Option<Reply>, Failure> {
        let mut data = datagram;
        while data.len() >= 16 {
            let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
            if len < 16 || len > data.len() {
                return Err(Failure::Protocol(format!(
                    "bad message length {len} in a {}-byte datagram",
                    datagram.len()
                )));
            }
            let one = &data[..len];
            data = &data[((len + 3) & !3).min(data.len())..];
            // Anything else is left over from an earlier request that failed half-way.
            if header_seq(one) != self.seq {
                continue;
            }
            if self.message(one)? {
                return match self.unparsed.take() {
                    Some(e) => Err(Failure::Protocol(e)),
                    None => Ok(Some(std::mem::replace(
                        &mut self.reply,
                        Reply {
                            msgs: Vec::new(),
                            interrupted: false,
                        },
                    ))),
                };
            }
        }
        Ok(None)
    }

    /// One message of ours: whether it ends the reply.
    fn message(&mut self, one: &[u8]) -> Result<bool, Failure> {
        let (header, payload) = match NetlinkMessage::<RouteNetlinkMessage>::deserialize(one) {
            Ok(m) => m.into_parts(),
            Err(e) if header_type(one) >= NLMSG_MIN_TYPE => {
                self.unparsed.get_or_insert_with(|| e.to_string());
                return Ok(false);
            }
            Err(e) => return Err(Failure::Protocol(e.to_string())),
        };
        if header.flags & NLM_F_DUMP_INTR != 0 {
            self.reply.interrupted = true;
        }
        Ok(match payload {
            NetlinkPayload::InnerMessage(m) => {
                self.reply.msgs.push(m);
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
            NetlinkPayload::Error(_) => !self.dump,
            NetlinkPayload::Overrun(_) => return Err(Failure::Protocol("receive overrun".into())),
            _ => false, // NLMSG_NOOP
        })
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

/// One request on the wire: the netlink header (`flags`, `seq`) and `msg`.
pub(crate) fn encode(msg: RouteNetlinkMessage, flags: u16, seq: u32) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
    packet.finalize();
    let mut out = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut out);
    out
}

/// RTM_NEWLINK creating `link`; `target` and `peer` are open namespace files for
/// IFLA_NET_NS_FD (the link's and a veth peer's), which must stay open until the answer.
pub(crate) fn new_link(link: &NewLink, target: Option<RawFd>, peer: Option<RawFd>) -> LinkMessage {
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
    if let Some(fd) = target {
        attrs.push(LinkAttribute::NetNsFd(fd));
    }
    if let Some(mac) = link.mac {
        attrs.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(mtu) = link.mtu {
        attrs.push(LinkAttribute::Mtu(mtu));
    }
    attrs.push(LinkAttribute::LinkInfo(link_info(&link.kind, peer)));
    msg
}

/// RTM_NEWLINK changing link `index` as `change` says (nothing else).
pub(crate) fn set_link(index: u32, change: &LinkChange) -> LinkMessage {
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
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    msg
}

/// RTM_DELLINK of link `index`.
pub(crate) fn del_link(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

/// RTM_NEWADDR of `addr` on link `index`.
pub(crate) fn new_address(index: u32, addr: IpNet) -> AddressMessage {
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
    msg
}

/// RTM_NEWROUTE of `route` in the main table.
pub(crate) fn new_route(route: &Route) -> RouteMessage {
    let dst = route.dst.trunc();
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
    msg
}

pub(crate) fn macvlan_mode(m: MacvlanMode) -> MacVlanMode {
    match m {
        MacvlanMode::Private => MacVlanMode::Private,
        MacvlanMode::Vepa => MacVlanMode::Vepa,
        MacvlanMode::Bridge => MacVlanMode::Bridge,
        MacvlanMode::Passthru => MacVlanMode::Passthrough,
    }
}

pub(crate) fn ipvlan_mode(m: IpvlanMode) -> IpVlanMode {
    match m {
        IpvlanMode::L2 => IpVlanMode::L2,
        IpvlanMode::L3 => IpVlanMode::L3,
        IpvlanMode::L3s => IpVlanMode::L3S,
    }
}

pub(crate) fn ipvlan_flags(f: IpvlanFlag) -> IpVlanFlags {
    match f {
        IpvlanFlag::Bridge => IpVlanFlags::empty(),
        IpvlanFlag::Private => IpVlanFlags::Private,
        IpvlanFlag::Vepa => IpVlanFlags::Vepa,
    }
}

/// IFLA_LINKINFO for a new link.
pub(crate) fn link_info(kind: &LinkKind, peer_ns: Option<RawFd>) -> Vec<LinkInfo> {
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
            if let Some(fd) = peer_ns {
                msg.attributes.push(LinkAttribute::NetNsFd(fd));
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
pub(crate) fn get_link(name: Option<&str>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    if let Some(n) = name {
        msg.attributes.push(LinkAttribute::IfName(n.to_string()));
    }
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}

/// A `Link` from an RTM_NEWLINK message.
pub(crate) fn link_from(msg: LinkMessage) -> Link {
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
            LinkAttribute::Address(a) => link.mac = <[u8; 6]>::try_from(a.as_slice()).ok().map(Mac),
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
pub(crate) fn addr_from(msg: AddressMessage) -> Option<Addr> {
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
pub(crate) fn route_from(msg: RouteMessage) -> Option<Route> {
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

pub(crate) fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// The IPv4 broadcast address of a prefix, for prefixes that have one (< /31).
pub(crate) fn broadcast(net: &ipnet::Ipv4Net) -> Option<std::net::Ipv4Addr> {
    (net.prefix_len() < 31).then(|| net.broadcast())
}

pub(crate) fn family(ip: &IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{
        NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_MULTIPART, NLM_F_REQUEST,
    };

    use super::*;

    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const RTM_NEWLINK: u16 = 16;

    /// A raw netlink message as the kernel sends one.
    fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = 16 + payload.len();
        let mut m = Vec::new();
        m.extend((len as u32).to_ne_bytes());
        m.extend(ty.to_ne_bytes());
        m.extend(flags.to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(payload);
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
        m
    }

    /// NLMSG_ERROR with `errno` (0: an ack) for the request `seq`, with the kernel's
    /// explanation as an extended-ack attribute when given (capped: only the request's
    /// header is echoed).
    fn error(seq: u32, errno: i32, explanation: Option<&str>) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend(nlmsg(RTM_NEWLINK, 0, seq, &[]));
        let mut flags = 0;
        if let Some(text) = explanation {
            flags = NLM_F_ACK_TLVS | NLM_F_CAPPED;
            let value = [text.as_bytes(), &[0]].concat();
            payload.extend(((4 + value.len()) as u16).to_ne_bytes());
            payload.extend(NLMSGERR_ATTR_MSG.to_ne_bytes());
            payload.extend(&value);
            while !payload.len().is_multiple_of(4) {
                payload.push(0);
            }
        }
        nlmsg(NLMSG_ERROR, flags, seq, &payload)
    }

    fn decode(bytes: &[u8]) -> (NetlinkHeader, RouteNetlinkMessage) {
        let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes).expect("parses");
        let (h, p) = m.into_parts();
        match p {
            NetlinkPayload::InnerMessage(m) => (h, m),
            other => panic!("not a route message: {other:?}"),
        }
    }

    fn macvlan_into(fd: Option<RawFd>) -> NewLink {
        NewLink {
            name: "eth0".into(),
            kind: LinkKind::Macvlan {
                mode: MacvlanMode::Bridge,
            },
            parent_index: Some(7),
            target_ns: None,
            mac: Some(Mac([0x02, 0x42, 0xac, 0x10, 0x56, 0x0a])),
            mtu: Some(1400),
            up: fd.is_some(),
        }
    }

    #[test]
    fn a_new_link_request_carries_exactly_what_was_asked() {
        let req = messages_flags();
        let bytes = encode(
            RouteNetlinkMessage::NewLink(new_link(&macvlan_into(Some(9)), Some(9), None)),
            req,
            41,
        );
        let (h, m) = decode(&bytes);
        assert_eq!(h.message_type, RTM_NEWLINK);
        assert_eq!(h.flags, req);
        assert_eq!(h.sequence_number, 41);
        assert_eq!(h.length as usize, bytes.len());
        let RouteNetlinkMessage::NewLink(l) = m else {
            panic!("{m:?}")
        };
        assert_eq!(l.header.flags, LinkFlags::Up);
        assert_eq!(l.header.change_mask, LinkFlags::Up);
        assert_eq!(
            l.attributes,
            [
                LinkAttribute::IfName("eth0".into()),
                LinkAttribute::Link(7),
                LinkAttribute::NetNsFd(9),
                LinkAttribute::Address(vec![0x02, 0x42, 0xac, 0x10, 0x56, 0x0a]),
                LinkAttribute::Mtu(1400),
                LinkAttribute::LinkInfo(vec![
                    LinkInfo::Kind(InfoKind::MacVlan),
                    LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                        MacVlanMode::Bridge
                    )])),
                ]),
            ]
        );
        // Down and with nothing optional: only the name and the kind.
        let bare = NewLink {
            kind: LinkKind::Dummy,
            parent_index: None,
            mac: None,
            mtu: None,
            ..macvlan_into(None)
        };
        let l = new_link(&bare, None, None);
        assert_eq!(l.header.change_mask, LinkFlags::empty());
        assert_eq!(
            l.attributes,
            [
                LinkAttribute::IfName("eth0".into()),
                LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Dummy)]),
            ]
        );
    }

    fn messages_flags() -> u16 {
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    }

    #[test]
    fn link_kinds_are_spelled_as_the_kernel_reads_them() {
        let kind_of = |kind: LinkKind, peer: Option<RawFd>| link_info(&kind, peer);
        assert_eq!(
            kind_of(
                LinkKind::Ipvlan {
                    mode: IpvlanMode::L3s,
                    flag: IpvlanFlag::Private
                },
                None
            ),
            [
                LinkInfo::Kind(InfoKind::IpVlan),
                LinkInfo::Data(InfoData::IpVlan(vec![
                    InfoIpVlan::Mode(IpVlanMode::L3S),
                    InfoIpVlan::Flags(IpVlanFlags::Private),
                ])),
            ]
        );
        assert_eq!(
            kind_of(LinkKind::Vlan { id: 50 }, None),
            [
                LinkInfo::Kind(InfoKind::Vlan),
                LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(50)])),
            ]
        );
        // A veth's peer is named, and placed by descriptor when it goes elsewhere.
        let veth = kind_of(
            LinkKind::Veth {
                peer: "lan0".into(),
                peer_ns: None,
            },
            Some(5),
        );
        let [LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p)))] =
            &veth[..]
        else {
            panic!("{veth:?}")
        };
        assert_eq!(
            p.attributes,
            [
                LinkAttribute::IfName("lan0".into()),
                LinkAttribute::NetNsFd(5)
            ]
        );
        // Passthru is the kernel's "passthrough".
        assert_eq!(
            macvlan_mode(MacvlanMode::Passthru),
            MacVlanMode::Passthrough
        );
        assert_eq!(ipvlan_flags(IpvlanFlag::Bridge), IpVlanFlags::empty());
    }

    #[test]
    fn a_link_change_sends_only_what_changes() {
        let down = set_link(
            3,
            &LinkChange {
                up: Some(false),
                ..Default::default()
            },
        );
        assert_eq!(down.header.index, 3);
        assert_eq!(down.header.flags, LinkFlags::empty());
        assert_eq!(
            down.header.change_mask,
            LinkFlags::Up,
            "down is a change too"
        );
        assert!(down.attributes.is_empty());
        let rename = set_link(
            3,
            &LinkChange {
                name: Some("eth1".into()),
                mtu: Some(9000),
                ..Default::default()
            },
        );
        assert_eq!(
            rename.header.change_mask,
            LinkFlags::empty(),
            "up state untouched"
        );
        assert_eq!(
            rename.attributes,
            [
                LinkAttribute::IfName("eth1".into()),
                LinkAttribute::Mtu(9000)
            ]
        );
        let del = del_link(12);
        assert_eq!(del.header.index, 12);
        assert!(del.attributes.is_empty());
    }

    #[test]
    fn addresses_get_their_broadcast_or_nodad() {
        let v4 = new_address(4, "172.16.86.10/24".parse().unwrap());
        assert_eq!(v4.header.family, AddressFamily::Inet);
        assert_eq!(v4.header.prefix_len, 24);
        assert_eq!(v4.header.index, 4);
        let ip: IpAddr = "172.16.86.10".parse().unwrap();
        assert_eq!(
            v4.attributes,
            [
                AddressAttribute::Local(ip),
                AddressAttribute::Address(ip),
                AddressAttribute::Broadcast("172.16.86.255".parse().unwrap()),
            ]
        );
        // A point-to-point /31 has no broadcast address.
        let p2p = new_address(4, "10.0.0.0/31".parse().unwrap());
        assert!(!p2p
            .attributes
            .iter()
            .any(|a| matches!(a, AddressAttribute::Broadcast(_))));
        let v6 = new_address(4, "2001:db8::10/64".parse().unwrap());
        assert_eq!(v6.header.family, AddressFamily::Inet6);
        assert_eq!(v6.header.flags, AddressHeaderFlags::Nodad);
        assert!(v6
            .attributes
            .contains(&AddressAttribute::Flags(AddressFlags::Nodad)));
    }

    #[test]
    fn routes_are_main_table_boot_protocol_and_scoped_by_their_gateway() {
        let default = new_route(&Route {
            dst: "0.0.0.0/0".parse().unwrap(),
            gateway: Some("172.16.86.1".parse().unwrap()),
            oif: 4,
        });
        assert_eq!(default.header.table, RouteHeader::RT_TABLE_MAIN);
        assert_eq!(default.header.protocol, RouteProtocol::from(RTPROT_BOOT));
        assert_eq!(default.header.scope, RouteScope::Universe);
        assert_eq!(default.header.kind, RouteType::Unicast);
        assert_eq!(default.header.destination_prefix_length, 0);
        assert_eq!(
            default.attributes,
            [
                RouteAttribute::Gateway(RouteAddress::from(
                    "172.16.86.1".parse::<IpAddr>().unwrap()
                )),
                RouteAttribute::Oif(4),
            ],
            "a default route has no destination attribute"
        );
        // On-link, and given with host bits: sent as the prefix.
        let onlink = new_route(&Route {
            dst: "10.1.2.3/16".parse().unwrap(),
            gateway: None,
            oif: 4,
        });
        assert_eq!(onlink.header.scope, RouteScope::Link);
        assert_eq!(onlink.header.address_family, AddressFamily::Inet);
        assert_eq!(
            onlink.attributes[0],
            RouteAttribute::Destination(RouteAddress::from("10.1.0.0".parse::<IpAddr>().unwrap()))
        );
    }

    #[test]
    fn an_ack_ends_a_change_and_an_error_carries_the_kernels_explanation() {
        let mut a = Answer::new(7, false);
        let reply = a.read(&error(7, 0, None)).unwrap().expect("an ack ends it");
        assert!(reply.msgs.is_empty());
        let mut a = Answer::new(8, false);
        match a.read(&error(8, libc::EINVAL, Some("MTU too large"))) {
            Err(Failure::Errno(e, Some(text))) => {
                assert_eq!(e, libc::EINVAL);
                assert_eq!(text, "MTU too large");
            }
            other => panic!("{other:?}"),
        }
        let mut a = Answer::new(9, false);
        assert!(matches!(
            a.read(&error(9, libc::EEXIST, None)),
            Err(Failure::Errno(libc::EEXIST, None))
        ));
    }

    #[test]
    fn a_dump_is_read_across_datagrams_until_done_and_stale_answers_are_skipped() {
        let link = |name: &str| {
            let mut m = LinkMessage::default();
            m.attributes.push(LinkAttribute::IfName(name.into()));
            encode(RouteNetlinkMessage::NewLink(m), NLM_F_MULTIPART, 5)
        };
        let mut a = Answer::new(5, true);
        // Left over from an earlier request that failed half-way: not ours.
        let mut first = error(4, libc::ENODEV, None);
        first.extend(link("lo"));
        assert!(a.read(&first).unwrap().is_none());
        // A dump's ack-like message does not end it; NLMSG_DONE does.
        let mut second = link("eth0");
        second.extend(nlmsg(
            NLMSG_DONE,
            NLM_F_MULTIPART | NLM_F_DUMP_INTR,
            5,
            &0i32.to_ne_bytes(),
        ));
        let reply = a.read(&second).unwrap().expect("done");
        let names: Vec<String> = reply
            .msgs
            .into_iter()
            .map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => link_from(l).name,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["lo", "eth0"]);
        assert!(reply.interrupted, "NLM_F_DUMP_INTR is reported for a retry");
    }

    #[test]
    fn a_malformed_datagram_is_a_protocol_error_not_a_panic() {
        let mut a = Answer::new(1, false);
        let mut bad = error(1, 0, None);
        bad[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert!(
            matches!(a.read(&bad), Err(Failure::Protocol(m)) if m.contains("bad message length 1000"))
        );
        let mut a = Answer::new(1, false);
        let mut short = error(1, 0, None);
        short[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(matches!(a.read(&short), Err(Failure::Protocol(_))));
        // Fewer than 16 bytes: nothing to read yet.
        let mut a = Answer::new(1, false);
        assert!(a.read(&[0u8; 10]).unwrap().is_none());
    }
}
