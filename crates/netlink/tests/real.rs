//! RealNetlink against the running kernel. Needs root; every test works only inside network
//! namespaces it creates itself (never in the namespace the tests run in).

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ipnet::IpNet;
use netlink::{
    netns, IpvlanFlag, IpvlanMode, Link, LinkChange, LinkKind, MacvlanMode, Netlink, NewLink,
    NsEntry, NsRef, NsScope, RealNetlink, Route,
};

/// A namespace of the test's own, alive as long as this value.
struct TestNs {
    file: File,
    ns: NsRef,
}

impl TestNs {
    fn new() -> TestNs {
        let file = netns::new_netns().expect("create a network namespace");
        let ns = NsRef::Path(netns::fd_path(&file));
        TestNs { file, ns }
    }

    fn path(&self) -> PathBuf {
        match &self.ns {
            NsRef::Path(p) => p.clone(),
            NsRef::Host => unreachable!(),
        }
    }

    /// Run `ip ARGS` inside the namespace and return its stdout.
    fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("nsenter")
            .arg(format!("--net={}", self.path().display()))
            .arg("ip")
            .args(args)
            .output()
            .expect("run nsenter ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// These tests are `#[ignore]`d (the runner reports them as skipped unless asked for, as
/// `scripts/test.sh` does); asked for, they need root and namespaces, and fail without them.
fn need_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "needs root: run it as root (scripts/test.sh)"
    );
    if let Err(e) = netns::new_netns() {
        panic!("cannot create a network namespace: {e}");
    }
}

fn new_link(name: &str, kind: LinkKind) -> NewLink {
    NewLink {
        name: name.into(),
        kind,
        parent_index: None,
        target_ns: None,
        mac: None,
        mtu: None,
        up: false,
    }
}

fn macvlan(name: &str, mode: MacvlanMode, parent: u32) -> NewLink {
    NewLink {
        parent_index: Some(parent),
        ..new_link(name, LinkKind::Macvlan { mode })
    }
}

/// A veth pair `va`/`vb` in `ns`, both up; returns va.
fn veth_pair(nl: &RealNetlink, ns: &NsRef) -> Link {
    let mut veth = new_link(
        "va",
        LinkKind::Veth {
            peer: "vb".into(),
            peer_ns: None,
        },
    );
    veth.up = true;
    nl.link_add(ns, &veth).expect("create veth pair");
    let vb = nl.link_by_name(ns, "vb").unwrap().expect("peer vb exists");
    nl.link_set(
        ns,
        vb.index,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    nl.link_by_name(ns, "va").unwrap().expect("va exists")
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn macvlan_into_container_like_docker() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let (a, b) = (TestNs::new(), TestNs::new());
    let va = veth_pair(&nl, &a.ns);
    let vb = nl.link_by_name(&a.ns, "vb").unwrap().unwrap();
    assert_eq!(va.kind.as_deref(), Some("veth"));
    assert_eq!(
        va.parent_index,
        Some(vb.index),
        "a veth's IFLA_LINK is its peer"
    );
    assert!(va.up);

    let started = Instant::now();
    // Created in A on va, straight into B under a temporary name.
    let mut req = macvlan("tmp5f3a9c", MacvlanMode::Bridge, va.index);
    req.target_ns = Some(b.ns.clone());
    nl.link_add(&a.ns, &req).unwrap();
    let tmp = nl.link_by_name(&b.ns, "tmp5f3a9c").unwrap().expect("in B");
    let mac = netlink::Mac::local([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc]);
    nl.link_set(
        &b.ns,
        tmp.index,
        &LinkChange {
            name: Some("eth0".into()),
            mac: Some(mac),
            mtu: Some(1400),
            up: Some(true),
        },
    )
    .unwrap();
    nl.addr_add(&b.ns, tmp.index, net("10.20.0.2/24")).unwrap();
    nl.addr_add(&b.ns, tmp.index, net("2001:db8:20::2/64"))
        .unwrap();
    nl.route_add(
        &b.ns,
        &Route {
            dst: net("0.0.0.0/0"),
            gateway: Some(ip("10.20.0.1")),
            oif: tmp.index,
        },
    )
    .unwrap();
    nl.route_add(
        &b.ns,
        &Route {
            dst: net("::/0"),
            gateway: Some(ip("2001:db8:20::1")),
            oif: tmp.index,
        },
    )
    .unwrap();
    eprintln!("attach took {:?}", started.elapsed());

    assert!(nl.link_by_name(&a.ns, "tmp5f3a9c").unwrap().is_none());
    let links = nl.links(&b.ns).unwrap();
    let eth0 = links.iter().find(|l| l.name == "eth0").expect("eth0 in B");
    assert_eq!(eth0.index, tmp.index);
    assert_eq!(eth0.kind.as_deref(), Some("macvlan"));
    assert_eq!(eth0.macvlan_mode, Some(MacvlanMode::Bridge));
    assert_eq!(eth0.parent_index, Some(va.index));
    assert_eq!(eth0.mac, Some(mac));
    assert_eq!(eth0.mtu, 1400);
    assert!(eth0.up);
    assert_eq!(nl.link_by_name(&b.ns, "eth0").unwrap().as_ref(), Some(eth0));

    let addrs = nl.addrs(&b.ns).unwrap();
    for want in ["10.20.0.2/24", "2001:db8:20::2/64"] {
        assert!(
            addrs
                .iter()
                .any(|a| a.index == eth0.index && a.addr == net(want)),
            "{want} missing from {addrs:?}"
        );
    }
    let v4 = b.ip(&["-4", "addr", "show", "dev", "eth0"]);
    assert!(v4.contains("inet 10.20.0.2/24 brd 10.20.0.255"), "{v4}");
    let v6 = b.ip(&["-6", "addr", "show", "dev", "eth0"]);
    assert!(v6.contains("2001:db8:20::2/64"), "{v6}");
    let line = v6
        .lines()
        .find(|l| l.contains("2001:db8:20::2/64"))
        .unwrap();
    assert!(
        !line.contains("tentative"),
        "IPv6 address must be usable: {v6}"
    );
    let r4 = b.ip(&["-4", "route", "show", "default"]);
    assert!(r4.contains("default via 10.20.0.1 dev eth0"), "{r4}");
    let r6 = b.ip(&["-6", "route", "show", "default"]);
    assert!(r6.contains("default via 2001:db8:20::1 dev eth0"), "{r6}");

    let routes = nl.routes(&b.ns).unwrap();
    for (dst, gw) in [
        ("0.0.0.0/0", Some("10.20.0.1")),
        ("::/0", Some("2001:db8:20::1")),
        ("10.20.0.0/24", None),
        ("2001:db8:20::/64", None),
    ] {
        let want = Route {
            dst: net(dst),
            gateway: gw.map(ip),
            oif: eth0.index,
        };
        assert!(routes.contains(&want), "{want:?} missing from {routes:?}");
    }

    // A second default route is refused.
    let e = nl
        .route_add(
            &b.ns,
            &Route {
                dst: net("0.0.0.0/0"),
                gateway: Some(ip("10.20.0.1")),
                oif: eth0.index,
            },
        )
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    // A connected route without gateway (scope link), RTA_DST from a non-network address.
    nl.route_add(
        &b.ns,
        &Route {
            dst: net("10.30.0.7/16"),
            gateway: None,
            oif: eth0.index,
        },
    )
    .unwrap();
    let r = b.ip(&["-4", "route", "show", "10.30.0.0/16"]);
    assert!(r.contains("dev eth0 scope link"), "{r}");

    // An IPv4 route onto an address's connected one is refused.
    let e = nl
        .route_add(
            &b.ns,
            &Route {
                dst: net("10.20.0.0/24"),
                gateway: None,
                oif: eth0.index,
            },
        )
        .unwrap_err();
    assert!(e.is_exists(), "{e}");

    // A duplicate address is refused.
    let e = nl
        .addr_add(&b.ns, eth0.index, net("10.20.0.2/24"))
        .unwrap_err();
    assert!(e.is_exists(), "{e}");

    nl.link_del(&b.ns, eth0.index).unwrap();
    assert!(nl.link_by_name(&b.ns, "eth0").unwrap().is_none());
    assert!(nl
        .addrs(&b.ns)
        .unwrap()
        .iter()
        .all(|a| a.index != eth0.index));
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn errors_carry_kernel_errnos() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let (a, b) = (TestNs::new(), TestNs::new());
    let va = veth_pair(&nl, &a.ns);

    nl.link_add(&a.ns, &macvlan("m1", MacvlanMode::Bridge, va.index))
        .unwrap();
    let e = nl
        .link_add(&a.ns, &macvlan("m1", MacvlanMode::Bridge, va.index))
        .unwrap_err();
    assert!(e.is_exists(), "{e}");
    assert!(e.to_string().contains("m1"), "names the link: {e}");

    // Taken in the target namespace: EEXIST. Taken only in the request namespace: fine on
    // this kernel (older ones refused it as well).
    let mut into_b = macvlan("m2", MacvlanMode::Bridge, va.index);
    into_b.target_ns = Some(b.ns.clone());
    nl.link_add(&a.ns, &into_b).unwrap();
    assert!(nl.link_add(&a.ns, &into_b).unwrap_err().is_exists());
    let mut m1_into_b = macvlan("m1", MacvlanMode::Bridge, va.index);
    m1_into_b.target_ns = Some(b.ns.clone());
    match nl.link_add(&a.ns, &m1_into_b) {
        Ok(()) => assert!(nl.link_by_name(&b.ns, "m1").unwrap().is_some()),
        Err(e) => assert!(e.is_exists(), "{e}"),
    }

    // 16 bytes of name: the attribute policy says ERANGE.
    let e = nl
        .link_add(
            &a.ns,
            &macvlan("0123456789abcdef", MacvlanMode::Bridge, va.index),
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ERANGE), "{e}");
    assert!(nl
        .link_by_name(&a.ns, "0123456789abcdef")
        .unwrap()
        .is_none());
    nl.link_add(
        &a.ns,
        &macvlan("0123456789abcde", MacvlanMode::Bridge, va.index),
    )
    .unwrap();

    // MTU above the parent's.
    let mut big = macvlan("big", MacvlanMode::Bridge, va.index);
    big.mtu = Some(9000);
    let e = nl.link_add(&a.ns, &big).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    let m1 = nl.link_by_name(&a.ns, "m1").unwrap().unwrap();
    let e = nl
        .link_set(
            &a.ns,
            m1.index,
            &LinkChange {
                mtu: Some(9000),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");

    // Passthru wants the parent to itself: EINVAL when it has other macvlans, and a second
    // passthru is refused the same way.
    let vb = nl.link_by_name(&a.ns, "vb").unwrap().unwrap();
    let e = nl
        .link_add(&a.ns, &macvlan("pt", MacvlanMode::Passthru, va.index))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    nl.link_add(&a.ns, &macvlan("pt1", MacvlanMode::Passthru, vb.index))
        .unwrap();
    let pt1 = nl.link_by_name(&a.ns, "pt1").unwrap().unwrap();
    assert_eq!(pt1.macvlan_mode, Some(MacvlanMode::Passthru));
    assert_eq!(pt1.mac, vb.mac, "passthru takes the parent's MAC");
    let e = nl
        .link_add(&a.ns, &macvlan("pt2", MacvlanMode::Passthru, vb.index))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    let e = nl
        .link_add(&a.ns, &macvlan("br2", MacvlanMode::Bridge, vb.index))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");

    // Unknown parent, unknown links, loopback as parent.
    let e = nl
        .link_add(&a.ns, &macvlan("m9", MacvlanMode::Bridge, 999))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    let e = nl
        .link_add(&a.ns, &macvlan("m9", MacvlanMode::Bridge, 1))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "lo as parent: {e}");
    assert!(nl.link_by_name(&a.ns, "nope").unwrap().is_none());
    let e = nl.link_del(&a.ns, 999).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    let e = nl
        .link_set(
            &a.ns,
            999,
            &LinkChange {
                up: Some(true),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENODEV), "{e}");
    // Deleting lo.
    let e = nl.link_del(&a.ns, 1).unwrap_err();
    assert!(e.is_unsupported(), "{e}");

    // Renaming a link that is up: fine since Linux 6.5, EBUSY before.
    let rename = |from: u32, to: &str| {
        nl.link_set(
            &a.ns,
            from,
            &LinkChange {
                name: Some(to.into()),
                ..Default::default()
            },
        )
    };
    match rename(va.index, "va2") {
        Ok(()) => rename(va.index, "va").unwrap(),
        Err(e) => assert_eq!(e.errno(), Some(libc::EBUSY), "{e}"),
    }
    // Renaming onto a taken name.
    let e = rename(va.index, "vb").unwrap_err();
    assert!(e.is_exists(), "{e}");

    // Routes: link down, gateway off-link.
    nl.link_set(
        &a.ns,
        m1.index,
        &LinkChange {
            up: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    let route = Route {
        dst: net("10.1.0.0/24"),
        gateway: None,
        oif: m1.index,
    };
    assert_eq!(
        nl.route_add(&a.ns, &route).unwrap_err().errno(),
        Some(libc::ENETDOWN)
    );
    nl.link_set(
        &a.ns,
        m1.index,
        &LinkChange {
            up: Some(true),
            ..Default::default()
        },
    )
    .unwrap();
    let off_link = Route {
        dst: net("0.0.0.0/0"),
        gateway: Some(ip("10.99.0.1")),
        oif: m1.index,
    };
    let e = nl.route_add(&a.ns, &off_link).unwrap_err();
    assert_eq!(e.errno(), Some(libc::ENETUNREACH), "{e}");
    let off_link6 = Route {
        dst: net("::/0"),
        gateway: Some(ip("2001:db8:99::1")),
        oif: m1.index,
    };
    let e = nl.route_add(&a.ns, &off_link6).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EHOSTUNREACH), "{e}");
    let ll6 = Route {
        gateway: Some(ip("fe80::1")),
        ..off_link6
    };
    nl.route_add(&a.ns, &ll6).unwrap();

    // A namespace path that does not exist.
    let gone = NsRef::Path("/nonexistent/netns".into());
    let e = nl.links(&gone).unwrap_err();
    assert!(matches!(e, netlink::Error::Namespace { .. }), "{e}");
    assert!(e.is_not_found());
    let mut into_gone = macvlan("m8", MacvlanMode::Bridge, va.index);
    into_gone.target_ns = Some(gone);
    let e = nl.link_add(&a.ns, &into_gone).unwrap_err();
    assert!(matches!(e, netlink::Error::Namespace { .. }), "{e}");
    // A file that is no namespace.
    let e = nl
        .links(&NsRef::Path("/proc/self/status".into()))
        .unwrap_err();
    assert!(matches!(e, netlink::Error::Namespace { .. }), "{e}");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn kinds_this_kernel_may_lack() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let a = TestNs::new();
    let va = veth_pair(&nl, &a.ns);
    // Each either works (and dumps back right) or is EOPNOTSUPP.
    let tolerate = |what: &str, r: netlink::Result<()>| -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                assert!(e.is_unsupported(), "{what}: {e}");
                eprintln!("{what}: not supported by this kernel ({e})");
                false
            }
        }
    };
    if tolerate(
        "dummy",
        nl.link_add(&a.ns, &new_link("d0", LinkKind::Dummy)),
    ) {
        let d = nl.link_by_name(&a.ns, "d0").unwrap().unwrap();
        assert_eq!(d.kind.as_deref(), Some("dummy"));
    }
    let vlan = NewLink {
        parent_index: Some(va.index),
        ..new_link("va.42", LinkKind::Vlan { id: 42 })
    };
    if tolerate("vlan", nl.link_add(&a.ns, &vlan)) {
        let v = nl.link_by_name(&a.ns, "va.42").unwrap().unwrap();
        assert_eq!((v.kind.as_deref(), v.vlan_id), (Some("vlan"), Some(42)));
        assert_eq!(v.parent_index, Some(va.index));
    }
    let vb = nl.link_by_name(&a.ns, "vb").unwrap().unwrap();
    for (name, flag) in [
        ("ipv0", IpvlanFlag::Bridge),
        ("ipv1", IpvlanFlag::Private),
        ("ipv2", IpvlanFlag::Vepa),
    ] {
        let ipvlan = NewLink {
            parent_index: Some(vb.index),
            ..new_link(
                name,
                LinkKind::Ipvlan {
                    mode: IpvlanMode::L2,
                    flag,
                },
            )
        };
        if !tolerate("ipvlan", nl.link_add(&a.ns, &ipvlan)) {
            break;
        }
        let l = nl.link_by_name(&a.ns, name).unwrap().unwrap();
        assert_eq!(l.ipvlan_mode, Some(IpvlanMode::L2));
        nl.link_del(&a.ns, l.index).unwrap();
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn veth_peer_into_another_namespace() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let (a, b) = (TestNs::new(), TestNs::new());
    let mut veth = new_link(
        "host0",
        LinkKind::Veth {
            peer: "eth0".into(),
            peer_ns: Some(b.ns.clone()),
        },
    );
    veth.mtu = Some(1450);
    nl.link_add(&a.ns, &veth).unwrap();
    let host0 = nl.link_by_name(&a.ns, "host0").unwrap().unwrap();
    let eth0 = nl.link_by_name(&b.ns, "eth0").unwrap().unwrap();
    assert_eq!(host0.mtu, 1450);
    assert_eq!(eth0.kind.as_deref(), Some("veth"));
    assert!(nl.link_by_name(&a.ns, "eth0").unwrap().is_none());
    // Deleting one end deletes the other.
    nl.link_del(&b.ns, eth0.index).unwrap();
    assert!(nl.link_by_name(&a.ns, "host0").unwrap().is_none());

    // Sent in A, created in B: without peer_ns the peer goes to B too.
    let mut both = new_link(
        "x0",
        LinkKind::Veth {
            peer: "x1".into(),
            peer_ns: None,
        },
    );
    both.target_ns = Some(b.ns.clone());
    nl.link_add(&a.ns, &both).unwrap();
    assert!(nl.link_by_name(&b.ns, "x0").unwrap().is_some());
    assert!(nl.link_by_name(&b.ns, "x1").unwrap().is_some());
    assert!(nl.link_by_name(&a.ns, "x1").unwrap().is_none());
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn dying_namespace_takes_its_macvlan_along() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let a = TestNs::new();
    let va = veth_pair(&nl, &a.ns);
    let b = TestNs::new();
    let mut req = macvlan("eth0", MacvlanMode::Bridge, va.index);
    req.target_ns = Some(b.ns.clone());
    nl.link_add(&a.ns, &req).unwrap();
    assert!(nl.link_by_name(&b.ns, "eth0").unwrap().is_some());
    let e = nl
        .link_add(&a.ns, &macvlan("pt", MacvlanMode::Passthru, va.index))
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EINVAL), "{e}");
    // Outside a scope a request has a socket of its own: nothing is kept for B...
    let before = nl.cached();
    assert!(nl.link_by_name(&b.ns, "eth0").unwrap().is_some());
    assert_eq!(nl.cached(), before, "no socket kept outside a scope");
    // ...while in a scope the client's socket keeps B alive after its last file is closed...
    let scope = NsScope::new(&nl, &b.ns);
    assert!(nl.link_by_name(&b.ns, "eth0").unwrap().is_some());
    assert_eq!(nl.cached(), before + 1, "one socket kept for the scope");
    drop(b);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let e = nl
        .link_add(&a.ns, &macvlan("pt", MacvlanMode::Passthru, va.index))
        .unwrap_err();
    assert_eq!(
        e.errno(),
        Some(libc::EINVAL),
        "B's macvlan still exists: {e}"
    );
    // ...until the scope ends.
    drop(scope);
    assert_eq!(nl.cached(), before);
    // The macvlan goes away with B (namespace cleanup is asynchronous). Observable from A: a
    // passthru macvlan needs va to itself, so it is refused while B's macvlan lives.
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match nl.link_add(&a.ns, &macvlan("pt", MacvlanMode::Passthru, va.index)) {
            Ok(()) => break,
            Err(e) => assert_eq!(e.errno(), Some(libc::EINVAL), "{e}"),
        }
        assert!(Instant::now() < deadline, "macvlan survived its namespace");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(nl.link_by_name(&a.ns, "va").unwrap().is_some());
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn cached_socket_follows_the_path() {
    need_root();
    let nl = RealNetlink::new().unwrap();
    let first = TestNs::new();
    let _scope = NsScope::new(&nl, &first.ns);
    veth_pair(&nl, &first.ns);
    assert!(nl.link_by_name(&first.ns, "va").unwrap().is_some());
    let id_before = netns::identity(&first.path()).unwrap();
    // Make the same path name another namespace: dup2 a new namespace over the descriptor.
    let second = netns::new_netns().unwrap();
    // SAFETY: both descriptors are open and owned by this test; dup2 atomically replaces the
    // first one's target.
    let rc = unsafe { libc::dup2(second.as_raw_fd(), first.file.as_raw_fd()) };
    assert!(rc >= 0, "dup2: {}", std::io::Error::last_os_error());
    assert_ne!(netns::identity(&first.path()).unwrap(), id_before);
    assert!(
        nl.link_by_name(&first.ns, "va").unwrap().is_none(),
        "the cached socket of the old namespace must not be used"
    );
    let names: Vec<String> = nl
        .links(&first.ns)
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["lo"]);
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn netns_helpers() {
    need_root();
    let me = netns::identity(Path::new("/proc/thread-self/ns/net")).unwrap();
    let f = netns::new_netns().unwrap();
    assert_eq!(
        netns::identity(Path::new("/proc/thread-self/ns/net")).unwrap(),
        me,
        "creating a namespace must not move the caller"
    );
    let p = netns::fd_path(&f);
    assert!(netns::is_netns(&p).unwrap());
    assert_ne!(netns::identity(&p).unwrap(), me);
    assert!(!netns::is_netns(Path::new("/proc/self/ns/mnt")).unwrap());
    assert!(netns::is_netns(Path::new("/nonexistent")).is_err());

    // enter() on a throwaway thread.
    let g = f.try_clone().unwrap();
    let id = std::thread::spawn(move || {
        netns::enter(&g).unwrap();
        netns::identity(Path::new("/proc/thread-self/ns/net")).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(id, netns::identity(&p).unwrap());

    // loopback_up.
    let nl = RealNetlink::new().unwrap();
    let ns = NsRef::Path(p);
    netns::loopback_up(&nl, &ns).unwrap();
    let lo = nl.link_by_name(&ns, "lo").unwrap().unwrap();
    assert!(lo.up);
    assert_eq!(lo.index, 1);
    let addrs = nl.addrs(&ns).unwrap();
    assert!(
        addrs.iter().any(|a| a.addr == net("127.0.0.1/8")),
        "{addrs:?}"
    );
    // The namespace is reachable from another process through the path.
    let t = TestNs { file: f, ns };
    let out = t.ip(&["-br", "link", "show", "lo"]);
    assert!(out.contains("UNKNOWN") || out.contains("UP"), "{out}");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn many_namespaces_in_parallel() {
    need_root();
    let nl = std::sync::Arc::new(RealNetlink::new().unwrap());
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let nl = nl.clone();
            std::thread::spawn(move || {
                let a = TestNs::new();
                let _scope = NsScope::new(&*nl, &a.ns);
                let va = veth_pair(&nl, &a.ns);
                for j in 0..20 {
                    let name = format!("m{i}x{j}");
                    nl.link_add(&a.ns, &macvlan(&name, MacvlanMode::Bridge, va.index))
                        .unwrap();
                }
                let n = nl
                    .links(&a.ns)
                    .unwrap()
                    .iter()
                    .filter(|l| l.kind.as_deref() == Some("macvlan"))
                    .count();
                assert_eq!(n, 20);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn host_dumps_parse_read_only() {
    need_root();
    // Only reads: whatever links the machine has must parse.
    let nl = RealNetlink::new().unwrap();
    let links = nl.links(&NsRef::Host).unwrap();
    let lo = links.iter().find(|l| l.name == "lo").expect("host has lo");
    assert_eq!(lo.kind, None);
    for l in &links {
        assert_eq!(
            nl.link_by_name(&NsRef::Host, &l.name)
                .unwrap()
                .map(|x| x.index),
            Some(l.index)
        );
    }
    nl.addrs(&NsRef::Host).unwrap();
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn link_index_answers_in_each_namespace_and_the_calling_thread_comes_back() {
    need_root();
    let host_before = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
    for entry in [NsEntry::FreshThread, NsEntry::CallingThread] {
        let nl = RealNetlink::new().unwrap().with_ns_entry(entry);
        let (a, b) = (TestNs::new(), TestNs::new());
        let va = veth_pair(&nl, &a.ns);
        assert_eq!(
            nl.link_index(&a.ns, "va").unwrap(),
            Some(va.index),
            "{entry:?}"
        );
        assert_eq!(nl.link_index(&a.ns, "lo").unwrap(), Some(1));
        // Another namespace has its own links; a name nobody has, or none can have, is None.
        assert_eq!(nl.link_index(&b.ns, "va").unwrap(), None);
        assert_eq!(nl.link_index(&a.ns, "nosuchlink").unwrap(), None);
        assert_eq!(nl.link_index(&a.ns, "a-name-far-too-long").unwrap(), None);
        // Whichever way the sockets were made, this thread is where it was.
        let now = std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino();
        assert_eq!(now, host_before, "{entry:?}");
    }
}
