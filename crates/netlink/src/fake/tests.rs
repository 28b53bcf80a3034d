use std::path::{Path, PathBuf};

use super::*;
use crate::Holders;

fn c1() -> NsRef {
    NsRef::Path(PathBuf::from("/run/netns/c1"))
}

fn macvlan(name: &str, parent: u32, target: Option<NsRef>) -> NewLink {
    NewLink {
        name: name.into(),
        kind: LinkKind::Macvlan {
            mode: MacvlanMode::Bridge,
        },
        parent_index: Some(parent),
        target_ns: target,
        mac: None,
        mtu: None,
        up: false,
    }
}

fn ipvlan(name: &str, parent: u32) -> NewLink {
    NewLink {
        kind: LinkKind::Ipvlan {
            mode: IpvlanMode::L2,
            flag: IpvlanFlag::Bridge,
        },
        ..macvlan(name, parent, None)
    }
}

/// A host with `eth0` (MTU 1500) and an empty container namespace c1.
fn setup() -> (FakeNetlink, u32) {
    let f = FakeNetlink::new();
    let eth0 = f.add_link(&NsRef::Host, "eth0", None, 1500);
    f.add_namespace(c1());
    (f, eth0)
}

fn errno_of<T: std::fmt::Debug>(r: Result<T>) -> i32 {
    r.expect_err("expected an error").errno().expect("an errno")
}

#[test]
fn namespaces_start_with_lo() {
    let (f, eth0) = setup();
    assert_eq!(eth0, 2);
    let links = f.links(&c1()).unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].name, "lo");
    assert_eq!(links[0].index, 1);
    assert!(!links[0].up);
    let host = f.links(&NsRef::Host).unwrap();
    assert_eq!(
        host.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
        ["lo", "eth0"]
    );
    assert!(host[1].up);
    assert_eq!(host[1].kind, None);
}

#[test]
fn unknown_namespace_is_enoent() {
    let f = FakeNetlink::new();
    let ns = NsRef::Path("/run/netns/nope".into());
    let e = f.links(&ns).unwrap_err();
    assert!(matches!(e, Error::Namespace { .. }));
    assert_eq!(e.errno(), Some(libc::ENOENT));
    assert!(e.is_not_found());
    let e = f
        .link_add(&NsRef::Host, &macvlan("m", 1, Some(ns)))
        .unwrap_err();
    assert!(matches!(e, Error::Namespace { .. }));
}

#[test]
fn a_made_namespace_has_an_identity_is_held_and_dies_with_its_handle() {
    let (f, eth0) = setup();
    let ns = f.ns_new().unwrap();
    let id = f.ns_id(ns.path()).unwrap();
    assert!(f.ns_is_net(ns.path()).unwrap());
    assert_ne!(id, f.ns_own().unwrap(), "not the host's");
    assert_ne!(id, f.ns_id(Path::new("/run/netns/c1")).unwrap(), "nor c1's");
    let holders = Holders::new(&f);
    assert_eq!(
        holders.locate(id, Path::new("/proc/1/ns/net")),
        Some(ns.path().to_path_buf()),
        "found where it is held when the hint names nothing"
    );
    f.link_add(&NsRef::Host, &macvlan("m0", eth0, Some(ns.ns_ref())))
        .unwrap();
    let path = ns.path().to_path_buf();
    drop(ns);
    assert_eq!(
        f.ns_id(&path).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
    assert!(!f.ns_holders().values().any(|p| *p == path));
    assert!(
        f.links(&NsRef::Host)
            .unwrap()
            .iter()
            .all(|l| l.name != "m0"),
        "its macvlan went with it, not back to the host"
    );
    assert_eq!(
        f.ns_id(Path::new("/nowhere")).unwrap_err().raw_os_error(),
        Some(libc::ENOENT)
    );
}

#[test]
fn macvlan_into_container_then_rename() {
    let (f, eth0) = setup();
    f.link_add(&NsRef::Host, &macvlan("tmp123", eth0, Some(c1())))
        .unwrap();
    assert!(f.link_by_name(&NsRef::Host, "tmp123").unwrap().is_none());
    let l = f.link_by_name(&c1(), "tmp123").unwrap().unwrap();
    assert_eq!(l.kind.as_deref(), Some("macvlan"));
    assert_eq!(l.macvlan_mode, Some(MacvlanMode::Bridge));
    assert_eq!(l.parent_index, Some(eth0));
    assert_eq!(l.mtu, 1500, "inherits the parent's MTU");
    assert_eq!(l.index, 2, "indexes are per namespace");
    assert!(!l.up);
    let mac = Mac([0x02, 0x42, 0xac, 0x10, 0x56, 0x0a]);
    f.link_set(
        &c1(),
        l.index,
        &LinkChange {
            name: Some("eth0".into()),
            mac: Some(mac),
            mtu: Some(1400),
            up: Some(true),
        },
    )
    .unwrap();
    let l = f.link_by_name(&c1(), "eth0").unwrap().unwrap();
    assert_eq!((l.mac, l.mtu, l.up), (Some(mac), 1400, true));
    assert_eq!(
        f.calls(),
        [
            "link_add host tmp123 macvlan parent=2 ns=/run/netns/c1 mode=bridge",
            "link_by_name host tmp123",
            "link_by_name /run/netns/c1 tmp123",
            "link_set /run/netns/c1 2 name=eth0 mac=02:42:ac:10:56:0a mtu=1400 up",
            "link_by_name /run/netns/c1 eth0",
        ]
    );
}

#[test]
fn duplicate_names() {
    let (f, eth0) = setup();
    f.link_add(&NsRef::Host, &macvlan("m1", eth0, None))
        .unwrap();
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan("m1", eth0, None))),
        libc::EEXIST
    );
    // Taken in the target namespace.
    f.link_add(&NsRef::Host, &macvlan("m2", eth0, Some(c1())))
        .unwrap();
    let e = f
        .link_add(&NsRef::Host, &macvlan("m2", eth0, Some(c1())))
        .unwrap_err();
    assert!(e.is_exists());
    // Taken only in the request namespace: fine, the link lands elsewhere.
    f.link_add(&NsRef::Host, &macvlan("m1", eth0, Some(c1())))
        .unwrap();
    // Renaming onto a taken name.
    let m2 = f.link_by_name(&c1(), "m2").unwrap().unwrap();
    let to_lo = LinkChange {
        name: Some("lo".into()),
        ..Default::default()
    };
    assert_eq!(errno_of(f.link_set(&c1(), m2.index, &to_lo)), libc::EEXIST);
}

#[test]
fn names_are_checked_like_the_kernel() {
    let (f, eth0) = setup();
    let long = "0123456789abcdef"; // 16 bytes
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan(long, eth0, None))),
        libc::ERANGE
    );
    f.link_add(&NsRef::Host, &macvlan(&long[..15], eth0, None))
        .unwrap();
    for bad in ["", "a/b", "a:b", "a b", ".", ".."] {
        assert_eq!(
            errno_of(f.link_add(&NsRef::Host, &macvlan(bad, eth0, None))),
            libc::EINVAL,
            "{bad:?}"
        );
    }
    let m = f.link_by_name(&NsRef::Host, &long[..15]).unwrap().unwrap();
    let rename = LinkChange {
        name: Some(long.into()),
        ..Default::default()
    };
    assert_eq!(
        errno_of(f.link_set(&NsRef::Host, m.index, &rename)),
        libc::ERANGE
    );
}

#[test]
fn parents() {
    let (f, eth0) = setup();
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan("m", 99, None))),
        libc::ENODEV
    );
    // The parent index is resolved in the request namespace: c1 has no index 2.
    assert_eq!(
        errno_of(f.link_add(&c1(), &macvlan("m", eth0, None))),
        libc::ENODEV
    );
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan("m", 1, None))),
        libc::EINVAL,
        "lo cannot be a macvlan parent"
    );
    let mut no_parent = macvlan("m", eth0, None);
    no_parent.parent_index = None;
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &no_parent)), libc::EINVAL);
    // A macvlan on a macvlan lands on the lower device.
    f.link_add(&NsRef::Host, &macvlan("m1", eth0, None))
        .unwrap();
    let m1 = f.link_by_name(&NsRef::Host, "m1").unwrap().unwrap();
    f.link_add(&NsRef::Host, &macvlan("m2", m1.index, None))
        .unwrap();
    let m2 = f.link_by_name(&NsRef::Host, "m2").unwrap().unwrap();
    assert_eq!(m2.parent_index, Some(eth0));
}

#[test]
fn mtu_rules() {
    let (f, eth0) = setup();
    let mut big = macvlan("m", eth0, None);
    big.mtu = Some(9000);
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &big)), libc::EINVAL);
    let mut tiny = macvlan("m", eth0, None);
    tiny.mtu = Some(67);
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &tiny)), libc::EINVAL);
    f.link_add(&NsRef::Host, &macvlan("m", eth0, None)).unwrap();
    let m = f.link_by_name(&NsRef::Host, "m").unwrap().unwrap();
    let up_mtu = LinkChange {
        mtu: Some(1501),
        ..Default::default()
    };
    assert_eq!(
        errno_of(f.link_set(&NsRef::Host, m.index, &up_mtu)),
        libc::EINVAL
    );
    // Lowering the parent's MTU lowers the child's.
    let down = LinkChange {
        mtu: Some(1400),
        ..Default::default()
    };
    f.link_set(&NsRef::Host, eth0, &down).unwrap();
    let m = f.link_by_name(&NsRef::Host, "m").unwrap().unwrap();
    assert_eq!(m.mtu, 1400);
}

#[test]
fn passthru_is_exclusive() {
    let (f, eth0) = setup();
    let pt = |name: &str| NewLink {
        kind: LinkKind::Macvlan {
            mode: MacvlanMode::Passthru,
        },
        ..macvlan(name, eth0, None)
    };
    f.link_add(&NsRef::Host, &pt("p1")).unwrap();
    let p1 = f.link_by_name(&NsRef::Host, "p1").unwrap().unwrap();
    let parent = f.link_by_name(&NsRef::Host, "eth0").unwrap().unwrap();
    assert_eq!(p1.mac, parent.mac, "passthru takes the parent's MAC");
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &pt("p2"))), libc::EINVAL);
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan("b", eth0, None))),
        libc::EINVAL
    );
    f.link_del(&NsRef::Host, p1.index).unwrap();
    f.link_add(&NsRef::Host, &macvlan("b", eth0, None)).unwrap();
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &pt("p3"))), libc::EINVAL);
}

#[test]
fn macvlan_and_ipvlan_do_not_share_a_parent() {
    let (f, eth0) = setup();
    f.link_add(&NsRef::Host, &macvlan("m", eth0, None)).unwrap();
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &ipvlan("i", eth0))),
        libc::EBUSY
    );
    let eth1 = f.add_link(&NsRef::Host, "eth1", None, 1500);
    f.link_add(&NsRef::Host, &ipvlan("i", eth1)).unwrap();
    let i = f.link_by_name(&NsRef::Host, "i").unwrap().unwrap();
    assert_eq!(i.ipvlan_mode, Some(IpvlanMode::L2));
    assert_eq!(
        f.ipvlan_flag(&NsRef::Host, i.index),
        Some(IpvlanFlag::Bridge)
    );
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &macvlan("m2", eth1, None))),
        libc::EBUSY
    );
}

#[test]
fn vlans() {
    let (f, eth0) = setup();
    let vlan = |name: &str, id: u16| NewLink {
        kind: LinkKind::Vlan { id },
        ..macvlan(name, eth0, None)
    };
    f.link_add(&NsRef::Host, &vlan("eth0.10", 10)).unwrap();
    let v = f.link_by_name(&NsRef::Host, "eth0.10").unwrap().unwrap();
    assert_eq!((v.kind.as_deref(), v.vlan_id), (Some("vlan"), Some(10)));
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &vlan("other", 10))),
        libc::EEXIST
    );
    assert_eq!(
        errno_of(f.link_add(&NsRef::Host, &vlan("big", 4095))),
        libc::ERANGE
    );
    // A macvlan on the vlan; deleting the vlan takes it along.
    f.link_add(&NsRef::Host, &macvlan("mv", v.index, None))
        .unwrap();
    f.link_del(&NsRef::Host, v.index).unwrap();
    assert!(f.link_by_name(&NsRef::Host, "mv").unwrap().is_none());
}

#[test]
fn unsupported_kinds() {
    let f = FakeNetlink::with_unsupported(&["vlan", "dummy", "ipvlan"]);
    let eth0 = f.add_link(&NsRef::Host, "eth0", None, 1500);
    let dummy = NewLink {
        kind: LinkKind::Dummy,
        parent_index: None,
        ..macvlan("d", eth0, None)
    };
    let e = f.link_add(&NsRef::Host, &dummy).unwrap_err();
    assert!(e.is_unsupported(), "{e}");
    assert!(f
        .link_add(&NsRef::Host, &ipvlan("i", eth0))
        .unwrap_err()
        .is_unsupported());
    f.link_add(&NsRef::Host, &macvlan("m", eth0, None)).unwrap();
    // Without the restriction, dummy needs no parent.
    let f = FakeNetlink::new();
    f.link_add(&NsRef::Host, &dummy).unwrap();
    let d = f.link_by_name(&NsRef::Host, "d").unwrap().unwrap();
    assert_eq!(d.kind.as_deref(), Some("dummy"));
    assert_eq!(d.parent_index, None);
}

#[test]
fn deleting_a_parent_deletes_children_everywhere() {
    let (f, _) = setup();
    let veth = NewLink {
        name: "va".into(),
        kind: LinkKind::Veth {
            peer: "vb".into(),
            peer_ns: None,
        },
        parent_index: None,
        target_ns: None,
        mac: None,
        mtu: None,
        up: true,
    };
    f.link_add(&NsRef::Host, &veth).unwrap();
    let va = f.link_by_name(&NsRef::Host, "va").unwrap().unwrap();
    let vb = f.link_by_name(&NsRef::Host, "vb").unwrap().unwrap();
    assert_eq!(va.parent_index, Some(vb.index));
    assert_eq!(vb.parent_index, Some(va.index));
    f.link_add(&NsRef::Host, &macvlan("m", va.index, Some(c1())))
        .unwrap();
    let m = f.link_by_name(&c1(), "m").unwrap().unwrap();
    f.link_set(
        &c1(),
        m.index,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    f.addr_add(&c1(), m.index, "10.0.0.2/24".parse().unwrap())
        .unwrap();
    // Deleting vb deletes its peer va, and with it the macvlan in c1 and its address.
    f.link_del(&NsRef::Host, vb.index).unwrap();
    assert!(f.link_by_name(&NsRef::Host, "va").unwrap().is_none());
    assert_eq!(f.links(&c1()).unwrap().len(), 1);
    assert!(f.addrs(&c1()).unwrap().is_empty());
}

#[test]
fn deleting_physical_links_is_not_supported() {
    let (f, eth0) = setup();
    let e = f.link_del(&NsRef::Host, eth0).unwrap_err();
    assert!(e.is_unsupported());
    assert_eq!(errno_of(f.link_del(&NsRef::Host, 99)), libc::ENODEV);
    assert!(f.link_del(&NsRef::Host, 99).unwrap_err().is_not_found());
    // Hardware can vanish, though, and takes its macvlans along.
    f.link_add(&NsRef::Host, &macvlan("m", eth0, Some(c1())))
        .unwrap();
    assert!(f.remove_link(&NsRef::Host, eth0));
    assert!(f.link_by_name(&c1(), "m").unwrap().is_none());
}

#[test]
fn veth_peer_in_another_namespace() {
    let (f, _) = setup();
    let veth = NewLink {
        name: "host0".into(),
        kind: LinkKind::Veth {
            peer: "eth0".into(),
            peer_ns: Some(c1()),
        },
        parent_index: None,
        target_ns: None,
        mac: None,
        mtu: None,
        up: false,
    };
    // eth0 is taken on the host but not in c1, where the peer goes.
    f.link_add(&NsRef::Host, &veth).unwrap();
    assert!(f.link_by_name(&c1(), "eth0").unwrap().is_some());
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &veth)), libc::EEXIST);
    let same = NewLink {
        name: "x".into(),
        kind: LinkKind::Veth {
            peer: "x".into(),
            peer_ns: None,
        },
        ..veth.clone()
    };
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &same)), libc::EEXIST);
}

#[test]
fn renaming_an_up_link() {
    let (f, eth0) = setup();
    let mut m = macvlan("m", eth0, None);
    m.up = true;
    f.link_add(&NsRef::Host, &m).unwrap();
    let l = f.link_by_name(&NsRef::Host, "m").unwrap().unwrap();
    assert!(l.up);
    let rename = LinkChange {
        name: Some("n".into()),
        ..Default::default()
    };
    f.link_set(&NsRef::Host, l.index, &rename).unwrap();
    let n = f.link_by_name(&NsRef::Host, "n").unwrap().unwrap();
    assert_eq!((n.index, n.up), (l.index, true));
    assert_eq!(
        errno_of(f.link_set(&NsRef::Host, 42, &rename)),
        libc::ENODEV
    );
}

#[test]
fn macs_are_checked() {
    let (f, eth0) = setup();
    let mut m = macvlan("m", eth0, None);
    m.mac = Some(Mac([0x01, 0, 0, 0, 0, 1]));
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &m)), libc::EADDRNOTAVAIL);
    m.mac = Some(Mac([0; 6]));
    assert_eq!(errno_of(f.link_add(&NsRef::Host, &m)), libc::EADDRNOTAVAIL);
    m.mac = Some(Mac::local([7; 6]));
    f.link_add(&NsRef::Host, &m).unwrap();
    let l = f.link_by_name(&NsRef::Host, "m").unwrap().unwrap();
    assert_eq!(l.mac, m.mac);
}

#[test]
fn addresses_and_routes() {
    let (f, eth0) = setup();
    f.link_add(&NsRef::Host, &macvlan("eth0", eth0, Some(c1())))
        .unwrap();
    let ns = c1();
    let l = f.link_by_name(&ns, "eth0").unwrap().unwrap();
    let v4: IpNet = "172.16.86.10/24".parse().unwrap();
    let v6: IpNet = "2001:db8::10/64".parse().unwrap();
    let default4 = Route {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("172.16.86.1".parse().unwrap()),
        oif: l.index,
    };
    let default6 = Route {
        dst: "::/0".parse().unwrap(),
        gateway: Some("2001:db8::1".parse().unwrap()),
        oif: l.index,
    };
    // Down link: no routes.
    assert_eq!(errno_of(f.route_add(&ns, &default4)), libc::ENETDOWN);
    f.link_set(
        &ns,
        l.index,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    // Gateway not on any subnet of the link yet.
    assert_eq!(errno_of(f.route_add(&ns, &default4)), libc::ENETUNREACH);
    assert_eq!(errno_of(f.route_add(&ns, &default6)), libc::EHOSTUNREACH);
    f.addr_add(&ns, l.index, v4).unwrap();
    f.addr_add(&ns, l.index, v6).unwrap();
    assert_eq!(errno_of(f.addr_add(&ns, l.index, v4)), libc::EEXIST);
    assert_eq!(
        errno_of(f.addr_add(&ns, l.index, "2001:db8::10/80".parse().unwrap())),
        libc::EEXIST
    );
    f.addr_add(&ns, l.index, "172.16.86.10/25".parse().unwrap())
        .unwrap();
    assert_eq!(errno_of(f.addr_add(&ns, 77, v4)), libc::ENODEV);
    f.route_add(&ns, &default4).unwrap();
    f.route_add(&ns, &default6).unwrap();
    assert_eq!(errno_of(f.route_add(&ns, &default4)), libc::EEXIST);
    let mixed = Route {
        gateway: Some("2001:db8::1".parse().unwrap()),
        ..default4.clone()
    };
    assert_eq!(errno_of(f.route_add(&ns, &mixed)), libc::EINVAL);
    // A link-local IPv6 gateway needs no subnet.
    let ll = Route {
        dst: "2001:db8:1::/48".parse().unwrap(),
        gateway: Some("fe80::1".parse().unwrap()),
        oif: l.index,
    };
    f.route_add(&ns, &ll).unwrap();
    // A connected route without gateway.
    let direct = Route {
        dst: "10.9.0.0/16".parse().unwrap(),
        gateway: None,
        oif: l.index,
    };
    f.route_add(&ns, &direct).unwrap();
    let routes = f.routes(&ns).unwrap();
    let shown: Vec<String> = routes
        .iter()
        .map(|r| match r.gateway {
            Some(g) => format!("{} via {g}", r.dst),
            None => r.dst.to_string(),
        })
        .collect();
    assert_eq!(
        shown,
        [
            "fe80::/64",
            "172.16.86.0/24",
            "2001:db8::/64",
            "172.16.86.0/25",
            "0.0.0.0/0 via 172.16.86.1",
            "::/0 via 2001:db8::1",
            "2001:db8:1::/48 via fe80::1",
            "10.9.0.0/16",
        ]
    );
    assert!(routes.iter().all(|r| r.oif == l.index));
    // An IPv4 route collides with an address's connected route.
    let connected = Route {
        dst: "172.16.86.0/24".parse().unwrap(),
        gateway: None,
        oif: l.index,
    };
    assert_eq!(errno_of(f.route_add(&ns, &connected)), libc::EEXIST);
    let addrs: Vec<IpNet> = f
        .addrs(&ns)
        .unwrap()
        .into_iter()
        .filter(|a| a.index == l.index)
        .map(|a| a.addr)
        .collect();
    assert!(addrs.contains(&v4) && addrs.contains(&v6));
    assert!(
        addrs.iter().any(|a| a.to_string().starts_with("fe80::")),
        "an up link has a link-local address: {addrs:?}"
    );
    // Deleting the link takes its addresses and routes.
    f.link_del(&ns, l.index).unwrap();
    assert!(f.routes(&ns).unwrap().is_empty());
    assert!(f.addrs(&ns).unwrap().is_empty());
}

#[test]
fn loopback_up_adds_loopback_addresses() {
    let (f, _) = setup();
    crate::netns::loopback_up(&f, &c1()).unwrap();
    let lo = f.link_by_name(&c1(), "lo").unwrap().unwrap();
    assert!(lo.up);
    let addrs: Vec<String> = f
        .addrs(&c1())
        .unwrap()
        .iter()
        .map(|a| a.addr.to_string())
        .collect();
    assert_eq!(addrs, ["127.0.0.1/8", "::1/128"]);
    // Already up: no second request.
    let before = f.calls().len();
    crate::netns::loopback_up(&f, &c1()).unwrap();
    assert_eq!(f.calls().len(), before + 1);
}

#[test]
fn injected_failures() {
    let (f, eth0) = setup();
    f.fail_next("link_add", libc::ENOMEM);
    let e = f
        .link_add(&NsRef::Host, &macvlan("m", eth0, None))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENOMEM));
    assert!(
        f.link_by_name(&NsRef::Host, "m").unwrap().is_none(),
        "no effect"
    );
    f.link_add(&NsRef::Host, &macvlan("m", eth0, None)).unwrap();
    f.fail_next("link_set", libc::EIO);
    f.fail_next("link_set", libc::EPERM);
    let up = LinkChange {
        up: Some(true),
        ..Default::default()
    };
    assert_eq!(errno_of(f.link_set(&NsRef::Host, eth0, &up)), libc::EIO);
    assert_eq!(errno_of(f.link_set(&NsRef::Host, eth0, &up)), libc::EPERM);
    f.link_set(&NsRef::Host, eth0, &up).unwrap();
    f.fail_next("links", libc::EINTR);
    assert_eq!(errno_of(f.links(&NsRef::Host)), libc::EINTR);
    // Failed calls are logged too.
    assert_eq!(
        f.calls()
            .iter()
            .filter(|c| c.starts_with("link_add"))
            .count(),
        2
    );
    f.clear_calls();
    assert!(f.calls().is_empty());
}

#[test]
fn namespace_death() {
    let (f, eth0) = setup();
    // A macvlan from the host and a physical device moved in (seeded there).
    f.link_add(&NsRef::Host, &macvlan("eth0", eth0, Some(c1())))
        .unwrap();
    f.add_link(&c1(), "ens5", None, 9000);
    let veth = NewLink {
        name: "h0".into(),
        kind: LinkKind::Veth {
            peer: "c0".into(),
            peer_ns: Some(c1()),
        },
        parent_index: None,
        target_ns: None,
        mac: None,
        mtu: None,
        up: false,
    };
    f.link_add(&NsRef::Host, &veth).unwrap();
    assert_eq!(f.links(&c1()).unwrap().len(), 4);
    f.remove_namespace(&c1());
    assert!(!f.has_namespace(&c1()));
    let host: Vec<String> = f
        .links(&NsRef::Host)
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(host, ["lo", "eth0", "ens5"], "veth h0 died with its peer");
    assert!(f.links(&c1()).unwrap_err().is_not_found());
    // The host cannot die.
    f.remove_namespace(&NsRef::Host);
    assert!(f.has_namespace(&NsRef::Host));
}

#[test]
fn is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<FakeNetlink>();
    check::<crate::RealNetlink>();
}
