//! Engine tests against the fake kernel: rollback at every step, parents underlay creates
//! (802.1Q, dummy) that this machine's kernel lacks, and restore of every intermediate state.
//! Namespaces are the fake's too (made by `ns_new`, gone with their handles), so these tests
//! run without root.

use std::path::PathBuf;
use std::sync::Arc;

use netlink::{FakeNetlink, Netlink, NsRef};

use super::*;
use crate::model::network_key;

struct Fx {
    engine: Engine,
    nl: Arc<FakeNetlink>,
    dir: tempfile::TempDir,
    namespaces: Vec<netlink::Namespace>,
}

macro_rules! fx {
    () => {
        fx!(FakeNetlink::new())
    };
    ($nl:expr) => {{
        Fx::new($nl)
    }};
}

/// Every operation lets go of the namespaces it acted in (an `NsScope` each).
impl Drop for Fx {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(self.nl.held(), [], "namespaces still held after the test");
        }
    }
}

impl Fx {
    fn new(nl: FakeNetlink) -> Self {
        let nl = Arc::new(nl);
        nl.add_link(&NsRef::Host, "eth0", None, 1500);
        nl.add_link(&NsRef::Host, "eth1", None, 9000);
        let dir = tempfile::tempdir().unwrap();
        let engine = Self::engine_for(&nl, &dir);
        Fx {
            engine,
            nl,
            dir,
            namespaces: Vec::new(),
        }
    }

    fn engine_for(nl: &Arc<FakeNetlink>, dir: &tempfile::TempDir) -> Engine {
        let store = store::DirStore::open(dir.path()).unwrap();
        Engine::new(nl.clone() as Arc<dyn Netlink>, Box::new(store))
    }

    /// A new process on the same kernel and state.
    fn restart(&mut self) {
        self.engine = Self::engine_for(&self.nl, &self.dir);
    }

    /// A new, empty namespace of the fake, alive while the fixture holds it; returns its path.
    fn ns(&mut self) -> String {
        let ns = self.nl.ns_new().unwrap();
        let p = ns.path().display().to_string();
        self.namespaces.push(ns);
        p
    }

    fn links(&self, ns: &str) -> Vec<String> {
        let r = if ns == "host" {
            NsRef::Host
        } else {
            NsRef::Path(PathBuf::from(ns))
        };
        self.nl
            .links(&r)
            .unwrap()
            .into_iter()
            .map(|l| format!("{} {:?}", l.name, l.kind))
            .collect()
    }

    /// Every network, allocation and endpoint document.
    fn store(&self) -> Vec<(String, Vec<u8>)> {
        let s = store::DirStore::open(self.dir.path()).unwrap();
        let t = s.snapshot().unwrap();
        let mut out = Vec::new();
        for dir in ["networks", "allocs", "endpoints"] {
            for key in t.keys(dir).unwrap() {
                let v = t.get(&key).unwrap().unwrap();
                out.push((key, v));
            }
        }
        out
    }

    fn create(&self, args: &[&str]) -> Result<Created> {
        self.engine.create_network(&req(args))
    }

    fn attach(&self, net: &str, ns: &str) -> Result<Attached> {
        self.engine.attach(&AttachRequest::namespace(net, ns))
    }

    /// Rewrite a stored network document (to stage an operation cut off midway).
    fn edit(&self, name: &str, f: impl FnOnce(&mut Network)) {
        let s = store::DirStore::open(self.dir.path()).unwrap();
        let mut t = s.begin().unwrap();
        let (mut nets, _) = docs::load_all_readable(&*t).unwrap();
        let net = nets.iter_mut().find(|n| n.name == name).unwrap();
        f(net);
        docs::save_full(&mut *t, net).unwrap();
    }
}

/// The detach a `Detach::Begin` left to `finish_detach`.
fn pending(d: Detached) -> PendingDetach {
    match d {
        Detached::Pending(p) => p,
        other => panic!("not left to finish: {other:?}"),
    }
}

/// The key of a CNI attachment.
fn cni_key(id: &str, ifname: &str) -> AttachmentKey {
    AttachmentKey::Container {
        id: id.into(),
        ifname: ifname.into(),
    }
}

/// Docker's CreateEndpoint: the runtime's addresses and MAC recorded.
fn reserve(
    net: &str,
    ep: &str,
    ipv4: Option<ipnet::IpNet>,
    ipv6: Option<ipnet::IpNet>,
    mac: Option<&str>,
) -> AttachRequest {
    AttachRequest {
        external: Some(ExternalIpam {
            ipv4,
            ipv6,
            info: ExternalAddrs::default(),
        }),
        mac: mac.map(str::to_string),
        door: Door::Docker,
        ..AttachRequest::endpoint(net, ep, Placement::Reserved)
    }
}

/// Docker's Join: the endpoint's link made on the host for `sandbox`.
fn handoff(net: &str, ep: &str, sandbox: &str) -> AttachRequest {
    let sandbox = sandbox.to_string();
    AttachRequest::endpoint(net, ep, Placement::HandOff { sandbox })
}

/// `name driver key=value...`: subnet=, gateway=, range=, aux=N:IP, o=K:V, internal, ipv6.
fn req(args: &[&str]) -> CreateRequest {
    let mut r = CreateRequest {
        name: args[0].into(),
        driver: args[1].into(),
        ..Default::default()
    };
    for a in &args[2..] {
        let (k, v) = a.split_once('=').unwrap_or((a, ""));
        match k {
            "subnet" => r.subnets.push(v.into()),
            "gateway" => r.gateways.push(v.into()),
            "range" => r.ip_ranges.push(v.into()),
            "aux" => {
                let (n, ip) = v.split_once(':').unwrap();
                r.aux_addresses.push((n.into(), ip.into()));
            }
            "o" => {
                let (n, x) = v.split_once(':').unwrap();
                r.options.push((n.into(), x.into()));
            }
            "internal" => r.internal = true,
            "ipv6" => r.ipv6 = true,
            _ => panic!("bad test arg {a}"),
        }
    }
    r
}

#[test]
fn connect_rolls_back_at_every_kernel_step() {
    let mut fx = fx!();
    fx.create(&[
        "n",
        "macvlan",
        "subnet=10.1.0.0/24",
        "gateway=10.1.0.1",
        "subnet=2001:db8::/64",
        "gateway=2001:db8::1",
        "o=parent:eth0",
    ])
    .unwrap();
    let c = fx.ns();
    let store_before = fx.store();
    let host_before = fx.links("host");
    let ns_before = fx.links(&c);
    // The link is made under its final name and up; where the kernel refuses that name
    // (EEXIST: older kernels check the namespace it is made from), under a temporary one,
    // renamed and raised.
    let cases: &[&[(&str, i32)]] = &[
        &[("link_add", libc::EPERM)],
        // The parent's index, then the new link's.
        &[("link_index", libc::EPERM)],
        &[("link_index", 0), ("link_index", libc::EPERM)],
        &[("addr_add", libc::EPERM)],
        &[("route_add", libc::EPERM)],
        &[("links", libc::EPERM)],
        &[("link_add", libc::EEXIST), ("link_set", libc::EPERM)],
    ];
    for case in cases {
        let method = format!("{case:?}");
        for (m, errno) in case.iter() {
            fx.nl.fail_next(m, *errno);
        }
        let err = fx.attach("n", &c).unwrap_err();
        assert!(matches!(err.kind(), Kind::Kernel), "{method}: {err:?}");
        assert_eq!(
            fx.links(&c),
            ns_before,
            "{method}: link left in the container"
        );
        assert_eq!(fx.links("host"), host_before, "{method}: host changed");
        assert_eq!(
            fx.store(),
            store_before,
            "{method}: store changed (addresses not released?)"
        );
    }
    // And then it works, with the lowest addresses (nothing leaked).
    let a = fx.attach("n", &c).unwrap();
    assert_eq!(a.ipv4.unwrap().to_string(), "10.1.0.2/24");
    assert_eq!(a.ipv6.unwrap().to_string(), "2001:db8::2/64");
}

#[test]
fn temporary_name_clash_is_retried() {
    let mut fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap();
    let c = fx.ns();
    fx.nl.fail_next("link_add", libc::EEXIST);
    let a = fx.attach("n", &c).unwrap();
    assert_eq!(a.ifname, "eth0");
    assert!(fx.links(&c).iter().any(|l| l.starts_with("eth0 ")));
}

#[test]
fn vlan_parents_are_created_shared_and_removed_with_the_last_network() {
    let fx = fx!();
    fx.create(&["v50a", "macvlan", "subnet=10.50.0.0/25", "o=parent:eth0.50"])
        .unwrap();
    assert!(fx
        .links("host")
        .contains(&"eth0.50 Some(\"vlan\")".to_string()));
    let l = fx
        .nl
        .link_by_name(&NsRef::Host, "eth0.50")
        .unwrap()
        .unwrap();
    assert!(l.up && l.vlan_id == Some(50));
    fx.create(&[
        "v50b",
        "macvlan",
        "subnet=10.50.0.128/25",
        "o=parent:eth0.50",
    ])
    .unwrap();
    // Shared: the second network inherits ownership, the first rm keeps the link.
    fx.engine.remove_network("v50a").unwrap();
    assert!(fx.links("host").iter().any(|l| l.starts_with("eth0.50 ")));
    fx.engine.remove_network("v50b").unwrap();
    assert!(!fx.links("host").iter().any(|l| l.starts_with("eth0.50 ")));
    // A user's own VLAN link is never deleted.
    fx.nl.add_link(&NsRef::Host, "eth0.60", Some("vlan"), 1500);
    fx.create(&["v60", "macvlan", "subnet=10.60.0.0/24", "o=parent:eth0.60"])
        .unwrap();
    fx.engine.remove_network("v60").unwrap();
    assert!(fx.links("host").iter().any(|l| l.starts_with("eth0.60 ")));
}

#[test]
fn restore_recreates_an_owned_vlan_parent_and_its_endpoints() {
    let mut fx = fx!();
    fx.create(&[
        "v",
        "macvlan",
        "subnet=10.50.0.0/24",
        "gateway=10.50.0.1",
        "o=parent:eth0.50",
    ])
    .unwrap();
    let c = fx.ns();
    let a = fx.attach("v", &c).unwrap();
    // A reboot-like loss: the VLAN link goes, and with it the container's macvlan.
    let idx = fx
        .nl
        .link_by_name(&NsRef::Host, "eth0.50")
        .unwrap()
        .unwrap()
        .index;
    fx.nl.link_del(&NsRef::Host, idx).unwrap();
    assert!(!fx.links(&c).iter().any(|l| l.starts_with("eth0 ")));
    fx.restart();
    let report = fx.engine.restore().unwrap();
    let text = report.lines.join("\n");
    assert!(text.contains("recreated parent link eth0.50"), "{text}");
    assert!(text.contains("recreated eth0"), "{text}");
    let link = fx
        .nl
        .link_by_name(&NsRef::Path(c.clone().into()), "eth0")
        .unwrap()
        .unwrap();
    assert_eq!(link.mac, a.mac);
    assert!(report.degraded.is_empty());
    // A second restore has nothing to do.
    assert!(fx.engine.restore().unwrap().lines.is_empty());
}

#[test]
fn missing_parent_is_kept_and_reported() {
    let mut fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth1"])
        .unwrap();
    let idx = fx
        .nl
        .link_by_name(&NsRef::Host, "eth1")
        .unwrap()
        .unwrap()
        .index;
    fx.nl.remove_link(&NsRef::Host, idx);
    let report = fx.engine.restore().unwrap();
    assert_eq!(report.degraded, vec!["n".to_string()]);
    assert_eq!(fx.engine.network("n").unwrap().name, "n");
    let c = fx.ns();
    let err = fx.attach("n", &c).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the requested parent interface eth1 was not found on the host"
    );
}

#[test]
fn dummy_parent_for_a_network_without_parent() {
    let mut fx = fx!();
    let created = fx
        .create(&["d", "macvlan", "subnet=10.9.0.0/24", "gateway=10.9.0.1"])
        .unwrap();
    let net = fx.engine.network("d").unwrap();
    let dummy = format!("dm-{}", &created.id[..12]);
    assert_eq!(net.parent.name(), dummy);
    assert!(net.internal, "no parent means internal");
    assert!(fx
        .links("host")
        .contains(&format!("{dummy} Some(\"dummy\")")));
    // Containers on it reach each other on the host; no default route (internal).
    let c = fx.ns();
    fx.attach("d", &c).unwrap();
    assert!(!fx.nl.calls().iter().any(|c| c.starts_with("route_add")));
    fx.engine
        .detach("d", &AttachmentKey::Namespace(c.to_string()), Detach::All)
        .unwrap();
    fx.engine.remove_network("d").unwrap();
    assert!(!fx.links("host").iter().any(|l| l.starts_with("dm-")));
    // ipvlan: di- prefix.
    let created = fx.create(&["i", "ipvlan", "subnet=10.8.0.0/24"]).unwrap();
    assert_eq!(
        fx.engine.network("i").unwrap().parent.name(),
        format!("di-{}", &created.id[..12])
    );
}

#[test]
fn an_internal_network_is_on_a_dummy_link_whatever_its_parent() {
    // As in Docker: --internal clears -o parent, the network is isolated on dm-<id12>.
    let fx = fx!();
    let created = fx
        .create(&[
            "int",
            "macvlan",
            "subnet=10.9.0.0/24",
            "o=parent:eth0",
            "internal",
        ])
        .unwrap();
    let net = fx.engine.network("int").unwrap();
    assert_eq!(net.parent.name(), format!("dm-{}", &created.id[..12]));
    assert!(net.internal);
    assert_eq!(
        created.warnings,
        vec!["an internal network is isolated on a dummy link of its own, as in Docker: parent eth0 is not used".to_string()]
    );
    // eth0 is not taken: a passthru network may still have it.
    fx.create(&[
        "pt",
        "macvlan",
        "subnet=10.10.0.0/24",
        "o=parent:eth0",
        "o=macvlan_mode:passthru",
    ])
    .unwrap();
    fx.engine.remove_network("int").unwrap();
    assert!(!fx.links("host").iter().any(|l| l.starts_with("dm-")));
}

#[test]
fn missing_kernel_features_are_named_and_nothing_is_left() {
    let fx = fx!(FakeNetlink::with_unsupported(&["vlan", "dummy", "ipvlan"]));
    let host = fx.links("host");
    let e = fx
        .create(&["v", "macvlan", "subnet=10.5.0.0/24", "o=parent:eth0.50"])
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failed to create eth0.50 vlan link: operation not supported"),
        "{e}"
    );
    assert!(e.to_string().contains("802.1Q"), "{e}");
    let e = fx
        .create(&["d", "macvlan", "subnet=10.5.0.0/24"])
        .unwrap_err();
    assert!(
        e.to_string().contains("dummy") && e.to_string().contains("CONFIG_DUMMY"),
        "{e}"
    );
    // ipvlan is asked of the kernel at create (in a throwaway namespace), not at the first
    // connect.
    let e = fx
        .create(&["i", "ipvlan", "subnet=10.5.0.0/24", "o=parent:eth0"])
        .unwrap_err();
    assert!(
        e.to_string().contains("lacks ipvlan support") && e.to_string().contains("CONFIG_IPVLAN"),
        "{e}"
    );
    assert!(fx.store().is_empty());
    assert_eq!(fx.links("host"), host);
    assert_eq!(fx.nl.ns_holders().len(), 0, "the probe's namespace is gone");
    // A kernel that lost it since (the create's probe passed): the connect names it.
    let mut fx = fx!();
    fx.create(&["i", "ipvlan", "subnet=10.5.0.0/24", "o=parent:eth0"])
        .unwrap();
    let c = fx.ns();
    let before = fx.store();
    fx.nl.fail_next("link_add", libc::EOPNOTSUPP);
    let e = fx.attach("i", &c).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failed to create the ipvlan port: operation not supported"),
        "{e}"
    );
    assert!(e.to_string().contains("CONFIG_IPVLAN"), "{e}");
    assert_eq!(fx.store(), before);
}

#[test]
fn ipvlan_modes_routes_and_mac() {
    let mut fx = fx!();
    fx.create(&[
        "l3",
        "ipvlan",
        "subnet=10.7.0.0/24",
        "subnet=10.17.0.0/24",
        "o=parent:eth1",
        "o=ipvlan_mode:l3",
    ])
    .unwrap();
    let c = fx.ns();
    fx.attach("l3", &c).unwrap();
    let routes = fx.nl.routes(&NsRef::Path(c.clone().into())).unwrap();
    let default = routes
        .iter()
        .find(|r| r.dst.prefix_len() == 0)
        .expect("default route");
    assert_eq!(default.gateway, None, "l3: default dev eth0");
    let c2 = fx.ns();
    let e = fx
        .engine
        .attach(&AttachRequest {
            mac: Some("02:00:00:00:00:01".into()),
            ..AttachRequest::namespace("l3", &c2)
        })
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ipvlan interfaces do not support custom mac address assignment"
    );
    // Same parent: other modes and macvlan are refused at create.
    let e = fx
        .create(&["l2", "ipvlan", "subnet=10.6.0.0/24", "o=parent:eth1"])
        .unwrap_err();
    assert!(e.to_string().contains("one ipvlan mode per parent"), "{e}");
    let e = fx
        .create(&["m", "macvlan", "subnet=10.6.0.0/24", "o=parent:eth1"])
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("cannot carry macvlan and ipvlan links at once"),
        "{e}"
    );
    // Same mode: shared.
    fx.create(&[
        "l3b",
        "ipvlan",
        "subnet=10.6.0.0/24",
        "o=parent:eth1",
        "o=ipvlan_mode:l3",
        "o=ipvlan_flag:private",
    ])
    .unwrap();
    let calls = fx.nl.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.contains("ipvlan") && c.contains("l3")),
        "{calls:?}"
    );
}

#[test]
fn restore_finishes_or_undoes_cut_off_operations() {
    let mut fx = fx!();
    fx.create(&[
        "n",
        "macvlan",
        "subnet=10.1.0.0/24",
        "gateway=10.1.0.1",
        "o=parent:eth0",
    ])
    .unwrap();
    let (c1, c2, c3) = (fx.ns(), fx.ns(), fx.ns());
    fx.attach("n", &c1).unwrap();
    fx.attach("n", &c2).unwrap();
    fx.attach("n", &c3).unwrap();
    // Cut off during attach of c1 and during detach of c2; c3 stays attached.
    fx.edit("n", |n| {
        for ep in n.endpoints.values_mut() {
            if ep.netns == c1 {
                ep.state = EndpointState::Attaching;
            }
            if ep.netns == c2 {
                ep.state = EndpointState::Detaching;
            }
        }
    });
    // A create cut off after making its VLAN parent, and a removal cut off midway.
    fx.create(&["v", "macvlan", "subnet=10.50.0.0/24", "o=parent:eth0.50"])
        .unwrap();
    fx.edit("v", |n| n.state = NetState::Creating);
    fx.create(&["w", "macvlan", "subnet=10.51.0.0/24", "o=parent:eth0.51"])
        .unwrap();
    fx.edit("w", |n| n.state = NetState::Removing);
    fx.restart();
    let report = fx.engine.restore().unwrap();
    let text = report.lines.join("\n");
    assert!(text.contains("attach of"), "{text}");
    assert!(text.contains("detach of"), "{text}");
    assert!(text.contains("network v: undid a create"), "{text}");
    assert!(text.contains("network w: finished a removal"), "{text}");
    let n = fx.engine.network("n").unwrap();
    assert_eq!(n.endpoints.len(), 1);
    assert!(n
        .endpoints
        .values()
        .all(|e| e.netns == c3 && e.state == EndpointState::Attached));
    for c in [&c1, &c2] {
        assert!(!fx.links(c).iter().any(|l| l.contains("macvlan")), "{c}");
    }
    assert!(!fx.links("host").iter().any(|l| l.starts_with("eth0.5")));
    assert_eq!(fx.engine.networks().unwrap().len(), 1);
    // The released addresses are handed out again, lowest first.
    assert_eq!(
        fx.attach("n", &c1).unwrap().ipv4.unwrap().to_string(),
        "10.1.0.2/24"
    );
}

#[test]
fn passthru_and_sharing_rules() {
    let mut fx = fx!();
    fx.create(&["a", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap();
    fx.create(&[
        "b",
        "macvlan",
        "subnet=10.2.0.0/24",
        "o=parent:eth0",
        "o=macvlan_mode:vepa",
    ])
    .unwrap();
    let e = fx
        .create(&[
            "p",
            "macvlan",
            "subnet=10.3.0.0/24",
            "o=parent:eth0",
            "o=macvlan_mode:passthru",
        ])
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot use mode passthru, macvlan network a is already using parent interface eth0"
    );
    fx.create(&[
        "p",
        "macvlan",
        "subnet=10.3.0.0/24",
        "o=parent:eth1",
        "o=macvlan_mode:passthru",
    ])
    .unwrap();
    let (c1, c2) = (fx.ns(), fx.ns());
    fx.attach("p", &c1).unwrap();
    let e = fx.attach("p", &c2).unwrap_err();
    assert!(
        e.to_string().contains("passthru") && e.to_string().contains("already has an endpoint"),
        "{e}"
    );
    // Overlap: refused on the same parent, allowed on another.
    let e = fx
        .create(&["o", "macvlan", "subnet=10.1.0.128/25", "o=parent:eth0"])
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("overlaps with subnet 10.1.0.0/24 of network a"),
        "{e}"
    );
    fx.nl.add_link(&NsRef::Host, "eth2", None, 1500);
    fx.create(&["o", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth2"])
        .unwrap();
}

#[test]
fn exhaustion_names_the_network_and_pools_are_tried_in_order() {
    let mut fx = fx!();
    let id = fx
        .create(&[
            "n",
            "macvlan",
            "subnet=10.1.0.0/30",
            "subnet=10.2.0.0/30",
            "o=parent:eth0",
        ])
        .unwrap()
        .id;
    let mut got = Vec::new();
    for _ in 0..4 {
        let c = fx.ns();
        got.push(fx.attach("n", &c).unwrap().ipv4.unwrap().to_string());
    }
    assert_eq!(
        got,
        ["10.1.0.1/30", "10.1.0.2/30", "10.2.0.1/30", "10.2.0.2/30"]
    );
    let c = fx.ns();
    let e = fx.attach("n", &c).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("no available IPv4 addresses on this network's address pools: n ({id})")
    );
}

#[test]
fn busy_parent_gets_a_hint() {
    let mut fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap();
    let c = fx.ns();
    fx.nl.fail_next("link_add", libc::EBUSY);
    let e = fx.attach("n", &c).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("failed to create the macvlan port: device or resource busy"),
        "{e}"
    );
    assert!(e.to_string().contains("enslaved"), "{e}");
}

#[test]
fn concurrent_engines_never_hand_out_an_address_twice() {
    let mut fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap();
    let namespaces: Vec<String> = (0..24).map(|_| fx.ns()).collect();
    let threads: Vec<_> = namespaces
        .chunks(6)
        .map(|chunk| {
            let engine = Fx::engine_for(&fx.nl, &fx.dir);
            let chunk = chunk.to_vec();
            std::thread::spawn(move || {
                chunk
                    .iter()
                    .map(|c| {
                        engine
                            .attach(&AttachRequest::namespace("n", c))
                            .unwrap()
                            .ipv4
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 24);
}

#[test]
fn the_index_is_only_a_hint_and_restore_rebuilds_it() {
    let mut fx = fx!();
    let a = fx
        .create(&["first", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap()
        .id;
    fx.create(&["second", "macvlan", "subnet=10.2.0.0/24", "o=parent:eth0"])
        .unwrap();
    // Lookups by name, full id and unique id prefix.
    assert_eq!(fx.engine.network(&a).unwrap().name, "first");
    assert_eq!(fx.engine.network(&a[..6]).unwrap().name, "first");
    // Lose the whole index (as if a process died between writes on an old layout).
    std::fs::remove_dir_all(fx.dir.path().join("names")).unwrap();
    std::fs::remove_dir_all(fx.dir.path().join("parents")).unwrap();
    fx.restart();
    fx.engine.restore().unwrap();
    assert_eq!(fx.engine.network("first").unwrap().id, a);
    let e = fx
        .create(&["c", "macvlan", "subnet=10.1.0.0/25", "o=parent:eth0"])
        .unwrap_err();
    assert!(e.to_string().contains("network first"), "{e}");
    // A stale entry (its documents gone) is ignored: the name can be taken again.
    let s = store::DirStore::open(fx.dir.path()).unwrap();
    let crash_safe = || store::Batch::new(store::Durability::SurvivesProcessDeath);
    let commit = |b| s.begin().unwrap().commit(b).unwrap();
    commit(crash_safe().delete(network_key(&a)));
    assert_eq!(
        fx.engine.network("first").unwrap().id,
        a,
        "its copy stands in"
    );
    commit(crash_safe().delete(format!("network-copies/{a}")));
    assert_eq!(
        fx.engine.network("first").unwrap_err().kind(),
        Kind::NotFound
    );
    fx.create(&["first", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth0"])
        .unwrap();
    // Removal leaves no index entries behind.
    fx.engine.remove_network("first").unwrap();
    fx.engine.remove_network("second").unwrap();
    // Only the planted stale entry is left, and restore clears it.
    assert_eq!(s.snapshot().unwrap().keys("parents").unwrap().len(), 1);
    fx.engine.restore().unwrap();
    let t = s.snapshot().unwrap();
    assert!(t.keys("names").unwrap().is_empty());
    assert!(t.keys("parents").unwrap().is_empty());
}

#[test]
fn container_attachments_explicit_routes_and_checks() {
    let mut fx = fx!();
    let mut r = req(&[
        "cni",
        "macvlan",
        "subnet=172.16.86.0/24",
        "gateway=172.16.86.1",
        "o=parent:eth0",
    ]);
    r.range_bounds = vec![(Some("172.16.86.10".into()), Some("172.16.86.20".into()))];
    r.routes = Some(vec![
        ("0.0.0.0/0".into(), None),
        ("10.0.0.0/8".into(), Some("172.16.86.5".into())),
    ]);
    fx.engine.create_network(&r).unwrap();
    let c = fx.ns();
    let attach = |ifname: &str| AttachRequest::container("cni", "abc", ifname, &c);
    let a = fx.engine.attach(&attach("eth0")).unwrap();
    assert_eq!(
        a.ipv4.unwrap().to_string(),
        "172.16.86.10/24",
        "rangeStart first"
    );
    // One container may hold two interfaces of one network; the same one twice is refused.
    let b = fx.engine.attach(&attach("net1")).unwrap();
    assert_eq!(b.ipv4.unwrap().to_string(), "172.16.86.11/24");
    let e = fx.engine.attach(&attach("eth0")).unwrap_err();
    assert!(e.to_string().contains("already attached"), "{e}");
    let routes: Vec<String> = fx
        .nl
        .routes(&NsRef::Path(c.clone().into()))
        .unwrap()
        .iter()
        .map(|r| format!("{} {:?}", r.dst, r.gateway))
        .collect();
    assert!(
        routes.contains(&"0.0.0.0/0 Some(172.16.86.1)".to_string()),
        "{routes:?}"
    );
    assert!(
        routes.contains(&"10.0.0.0/8 Some(172.16.86.5)".to_string()),
        "{routes:?}"
    );
    fx.engine.check("cni", &cni_key("abc", "eth0")).unwrap();
    let e = fx.engine.check("cni", &cni_key("abc", "eth9")).unwrap_err();
    assert_eq!(e.kind(), Kind::NotFound);
    // The link deleted behind our back: CHECK says so.
    let ns = NsRef::Path(c.clone().into());
    let idx = fx.nl.link_by_name(&ns, "net1").unwrap().unwrap().index;
    fx.nl.link_del(&ns, idx).unwrap();
    let e = fx.engine.check("cni", &cni_key("abc", "net1")).unwrap_err();
    assert!(e.to_string().contains("interface net1 not found"), "{e}");
    // Detach by attachment; the second time there is nothing to do.
    assert!(matches!(
        fx.engine
            .detach("cni", &cni_key("abc", "net1"), Detach::All)
            .unwrap(),
        Detached::Done(..)
    ));
    assert_eq!(
        fx.engine
            .detach("cni", &cni_key("abc", "net1"), Detach::All)
            .unwrap(),
        Detached::Nothing
    );
    assert!(matches!(
        fx.engine
            .detach("cni", &cni_key("abc", "eth0"), Detach::All)
            .unwrap(),
        Detached::Done(..)
    ));
    assert!(fx.engine.network("cni").unwrap().endpoints.is_empty());
    assert!(
        fx.links(&c).iter().all(|l| l.starts_with("lo ")),
        "{:?}",
        fx.links(&c)
    );
}

#[test]
fn external_ipam_addresses_are_used_and_never_pooled() {
    let mut fx = fx!();
    let mut r = req(&["ext", "macvlan", "o=parent:eth0"]);
    r.external_ipam = true;
    r.routes = Some(Vec::new());
    fx.engine.create_network(&r).unwrap();
    let c = fx.ns();
    let a = fx
        .engine
        .attach(&AttachRequest {
            external: Some(ExternalIpam {
                ipv4: Some("192.168.1.7/24".parse().unwrap()),
                ipv6: None,
                info: ExternalAddrs {
                    gateway4: Some("192.168.1.1".parse().unwrap()),
                    gateway6: None,
                    routes: vec![RouteSpec {
                        dst: "0.0.0.0/0".parse().unwrap(),
                        gw: None,
                    }],
                },
            }),
            ..AttachRequest::container("ext", "x1", "eth0", &c)
        })
        .unwrap();
    assert_eq!(a.gateway4, Some("192.168.1.1".parse().unwrap()));
    let routes = fx.nl.routes(&NsRef::Path(c.clone().into())).unwrap();
    assert!(routes
        .iter()
        .any(|r| r.dst.prefix_len() == 0 && r.gateway == Some("192.168.1.1".parse().unwrap())));
    // A pure L2 attachment: no addresses at all.
    let c2 = fx.ns();
    let b = fx
        .engine
        .attach(&AttachRequest::container("ext", "x2", "eth0", &c2))
        .unwrap();
    assert_eq!((b.ipv4, b.ipv6), (None, None));
    // Static addresses belong to the other IPAM.
    let c3 = fx.ns();
    let e = fx
        .engine
        .attach(&AttachRequest {
            ip: Some("192.168.1.9".into()),
            ..AttachRequest::namespace("ext", &c3)
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("takes its addresses from its IPAM plugin"),
        "{e}"
    );
    let d = fx.engine.detach("ext", &cni_key("x1", "eth0"), Detach::All);
    assert!(matches!(d.unwrap(), Detached::Done(..)));
    // Bad explicit routes are refused up front.
    let mut r = req(&["bad", "macvlan", "subnet=10.9.0.0/24", "o=parent:eth1"]);
    r.routes = Some(vec![("0.0.0.0/0".into(), Some("2001:db8::1".into()))]);
    let e = fx.engine.create_network(&r).unwrap_err();
    assert!(
        e.to_string().contains("not of the destination's family"),
        "{e}"
    );
}

#[test]
fn a_detach_begun_is_finished_by_the_background_half_an_add_or_restore() {
    let mut fx = fx!();
    fx.create(&["bg", "macvlan", "subnet=10.5.0.0/24", "o=parent:eth0"])
        .unwrap();
    let c = fx.ns();
    let attach = |ns: &str, cid: &str| AttachRequest::container("bg", cid, "eth0", ns);
    let a = fx.engine.attach(&attach(&c, "a")).unwrap();
    // Begun: the record says detaching, the link and address are still there.
    let p = fx
        .engine
        .detach("bg", &cni_key("a", "eth0"), Detach::Begin)
        .map(pending)
        .unwrap();
    assert!(p.ifindex.is_some());
    let net = fx.engine.network("bg").unwrap();
    assert_eq!(
        net.endpoints[&p.endpoint_id].state,
        EndpointState::Detaching
    );
    assert!(net.ipam.is_allocated(a.ipv4.unwrap().addr()));
    assert!(
        fx.engine.check("bg", &cni_key("a", "eth0")).is_err(),
        "CHECK sees it gone"
    );
    // Begun twice is harmless; finished twice too.
    let p2 = fx
        .engine
        .detach("bg", &cni_key("a", "eth0"), Detach::Begin)
        .map(pending)
        .unwrap();
    fx.engine.finish_detach(&p).unwrap();
    fx.engine.finish_detach(&p2).unwrap();
    assert!(fx.links(&c).iter().all(|l| l.starts_with("lo ")));
    let net = fx.engine.network("bg").unwrap();
    assert!(net.endpoints.is_empty());
    assert!(!net.ipam.is_allocated(a.ipv4.unwrap().addr()));

    // An ADD of the same attachment finishes a pending detach first; the stale finisher
    // then leaves the new link alone (it deletes by the old index only).
    fx.engine.attach(&attach(&c, "a")).unwrap();
    let stale = fx
        .engine
        .detach("bg", &cni_key("a", "eth0"), Detach::Begin)
        .map(pending)
        .unwrap();
    let again = fx.engine.attach(&attach(&c, "a")).unwrap();
    fx.engine.finish_detach(&stale).unwrap();
    assert!(
        fx.links(&c).iter().any(|l| l.starts_with("eth0 ")),
        "{:?}",
        fx.links(&c)
    );
    let net = fx.engine.network("bg").unwrap();
    assert_eq!(net.endpoints.len(), 1);
    assert_eq!(
        net.endpoints.values().next().unwrap().state,
        EndpointState::Attached
    );
    assert_eq!(
        again.ipv4, a.ipv4,
        "the address came back and was handed out again"
    );

    // A finisher that never ran: restore does its work.
    pending(
        fx.engine
            .detach("bg", &cni_key("a", "eth0"), Detach::Begin)
            .unwrap(),
    );
    fx.restart();
    fx.engine.restore().unwrap();
    assert!(fx.engine.network("bg").unwrap().endpoints.is_empty());
    assert!(fx.links(&c).iter().all(|l| l.starts_with("lo ")));
}

#[test]
fn a_namespace_unmounted_while_a_detach_deletes_its_link_still_ends_the_detach() {
    let mut fx = fx!();
    fx.create(&["um", "macvlan", "subnet=10.5.1.0/24", "o=parent:eth0"])
        .unwrap();
    let c = fx.ns();
    let att = |cid: &str| AttachRequest::container("um", cid, "eth0", &c);
    let a = fx.engine.attach(&att("a")).unwrap();
    let p = fx
        .engine
        .detach("um", &cni_key("a", "eth0"), Detach::Begin)
        .map(pending)
        .unwrap();
    // Podman unmounts the namespace while the background half deletes the link.
    let ns = NsRef::Path(PathBuf::from(&c));
    fx.nl.unmount_during_next("link_del", ns.clone());
    fx.engine.finish_detach(&p).unwrap();
    let net = fx.engine.network("um").unwrap();
    assert!(net.endpoints.is_empty(), "{:?}", net.endpoints);
    assert!(!net.ipam.is_allocated(a.ipv4.unwrap().addr()));

    // The same failure while the namespace lives on is a failure: the record stays.
    let c2 = fx.ns();
    let b = fx
        .engine
        .attach(&AttachRequest::container("um", "b", "eth0", &c2))
        .unwrap();
    let p = fx
        .engine
        .detach("um", &cni_key("b", "eth0"), Detach::Begin)
        .map(pending)
        .unwrap();
    fx.nl.fail_next("link_del", libc::EINVAL);
    let e = fx.engine.finish_detach(&p).unwrap_err();
    assert!(e.to_string().contains("underlay network restore"), "{e}");
    let net = fx.engine.network("um").unwrap();
    assert_eq!(net.endpoints.len(), 1);
    assert!(net.ipam.is_allocated(b.ipv4.unwrap().addr()));

    // And a detach in one step (CLI, CNI DEL in the foreground) is spared the same race.
    let c3 = fx.ns();
    fx.engine
        .attach(&AttachRequest::container("um", "c", "eth0", &c3))
        .unwrap();
    fx.nl
        .unmount_during_next("links", NsRef::Path(PathBuf::from(&c3)));
    let d = fx.engine.detach("um", &cni_key("c", "eth0"), Detach::All);
    assert!(matches!(d.unwrap(), Detached::Done(..)));
}

const DOCKER_NET: &str = "6814fe04f9236011d175ff6c5146712f9419d7b963d0dbe83442dcad0d9988a6";
const DOCKER_EP: &str = "faa8a0a8e261af485ec32b1780e7be2841f18b16a61a08569a52e40db54d58ee";

/// A network as Docker's CreateNetwork describes it: its id, pools with gateways, `-o` options.
fn docker_req(id: &str, driver: &str, args: &[&str]) -> CreateRequest {
    let mut all = vec!["unnamed", driver];
    all.extend_from_slice(args);
    let mut r = req(&all);
    r.name = format!("docker-{}", &id[..12]);
    r.id = Some(id.into());
    r.owner = Some(Owner::Docker);
    r.external_ipam = true;
    r
}

fn net_of(fx: &Fx, id: &str) -> Network {
    fx.engine.network(id).unwrap()
}

#[test]
fn handoff_endpoints_follow_dockers_calls() {
    let mut fx = fx!();
    let r = docker_req(
        DOCKER_NET,
        "macvlan",
        &[
            "subnet=172.16.86.0/24",
            "gateway=172.16.86.1",
            "o=parent:eth0",
        ],
    );
    fx.engine.ensure_network(&r).unwrap();
    // Docker replays CreateNetwork: the same network, nothing new.
    fx.engine.ensure_network(&r).unwrap();
    assert_eq!(fx.engine.networks().unwrap().len(), 1);
    let host_before = fx.links("host");

    let addr: ipnet::IpNet = "172.16.86.10/24".parse().unwrap();
    let mac = fx
        .engine
        .attach(&reserve(DOCKER_NET, DOCKER_EP, Some(addr), None, None))
        .unwrap()
        .mac
        .expect("a macvlan endpoint without MAC gets one");
    assert!(mac.0[0] & 0x03 == 0x02, "{mac}");
    // Asked again: the same answer.
    let again = fx
        .engine
        .attach(&reserve(DOCKER_NET, DOCKER_EP, Some(addr), None, None))
        .unwrap();
    assert_eq!(again.mac, Some(mac));
    assert_eq!(fx.links("host"), host_before, "no link before Join");

    let c = fx.ns();
    let j = fx
        .engine
        .attach(&handoff(DOCKER_NET, DOCKER_EP, &c))
        .unwrap();
    assert_eq!(j.gateway4, Some("172.16.86.1".parse().unwrap()));
    assert_eq!(j.gateway6, None);
    assert!(j.routes.is_empty());
    let link = fx
        .nl
        .link_by_name(&NsRef::Host, &j.ifname)
        .unwrap()
        .expect("the link waits on the host");
    assert_eq!(link.kind.as_deref(), Some("macvlan"));
    assert_eq!(link.mac, Some(mac));
    let eth0 = fx.nl.link_by_name(&NsRef::Host, "eth0").unwrap().unwrap();
    assert_eq!(link.parent_index, Some(eth0.index));
    // Docker retries a Join it did not hear back from: the same link.
    let j2 = fx
        .engine
        .attach(&handoff(DOCKER_NET, DOCKER_EP, &c))
        .unwrap();
    assert_eq!(j2, j);
    let ep = &net_of(&fx, DOCKER_NET).endpoints[DOCKER_EP];
    assert_eq!(ep.state, EndpointState::Attached);
    assert_eq!(ep.netns, c);

    // Docker moves it into the container, and back under its SrcName at Leave.
    let ns = NsRef::Path(PathBuf::from(&c));
    let inside = fx
        .nl
        .move_link(&NsRef::Host, link.index, &ns, "eth0")
        .unwrap();
    assert_eq!(fx.links("host"), host_before);
    fx.nl
        .move_link(&ns, inside, &NsRef::Host, &j.ifname)
        .unwrap();
    // A replayed Leave finds the link gone and succeeds again.
    for _ in 0..2 {
        fx.engine
            .detach(
                DOCKER_NET,
                &AttachmentKey::Endpoint(DOCKER_EP.to_string()),
                Detach::Link,
            )
            .unwrap();
    }
    assert_eq!(fx.links("host"), host_before, "Leave deletes the link");
    assert_eq!(
        net_of(&fx, DOCKER_NET).endpoints[DOCKER_EP].state,
        EndpointState::Created
    );
    fx.engine
        .detach(
            DOCKER_NET,
            &AttachmentKey::Endpoint(DOCKER_EP.to_string()),
            Detach::All,
        )
        .unwrap();
    fx.engine
        .detach(
            DOCKER_NET,
            &AttachmentKey::Endpoint(DOCKER_EP.to_string()),
            Detach::All,
        )
        .unwrap();
    assert!(net_of(&fx, DOCKER_NET).endpoints.is_empty());
    fx.engine.delete_runtime_network(DOCKER_NET).unwrap();
    fx.engine.delete_runtime_network(DOCKER_NET).unwrap();
    assert!(fx.engine.networks().unwrap().is_empty());
    assert!(fx.store().is_empty());
}

#[test]
fn a_failed_join_leaves_no_link_and_the_endpoint_as_it_was() {
    let mut fx = fx!();
    fx.engine
        .ensure_network(&docker_req(
            DOCKER_NET,
            "macvlan",
            &["subnet=172.16.86.0/24", "o=parent:eth0"],
        ))
        .unwrap();
    let addr = Some("172.16.86.2/24".parse().unwrap());
    fx.engine
        .attach(&reserve(
            DOCKER_NET,
            DOCKER_EP,
            addr,
            None,
            Some("02:42:ac:10:56:02"),
        ))
        .unwrap();
    let c = fx.ns();
    let host_before = fx.links("host");
    for method in ["link_add", "link_by_name"] {
        fx.nl.fail_next(method, libc::EPERM);
        let e = fx
            .engine
            .attach(&handoff(DOCKER_NET, DOCKER_EP, &c))
            .unwrap_err();
        assert_eq!(e.kind(), Kind::Kernel, "{method}: {e}");
        assert_eq!(fx.links("host"), host_before, "{method}");
        let ep = &net_of(&fx, DOCKER_NET).endpoints[DOCKER_EP];
        assert_eq!(ep.state, EndpointState::Created, "{method}");
    }
    let j = fx
        .engine
        .attach(&handoff(DOCKER_NET, DOCKER_EP, &c))
        .unwrap();
    let l = fx
        .nl
        .link_by_name(&NsRef::Host, &j.ifname)
        .unwrap()
        .unwrap();
    assert_eq!(l.mac.unwrap().to_string(), "02:42:ac:10:56:02");
    // Docker never got the link (its sandbox failed): DeleteEndpoint takes it away.
    fx.engine
        .detach(
            DOCKER_NET,
            &AttachmentKey::Endpoint(DOCKER_EP.to_string()),
            Detach::All,
        )
        .unwrap();
    assert_eq!(fx.links("host"), host_before);
}

#[test]
fn handoff_routes_macs_and_addresses_follow_the_driver() {
    let fx = fx!();
    let l3 = "1111111111111111111111111111111111111111111111111111111111111111";
    fx.engine
        .ensure_network(&docker_req(
            l3,
            "ipvlan",
            &[
                "subnet=10.9.0.0/24",
                "subnet=2001:db8:9::/64",
                "o=parent:eth1",
                "o=ipvlan_mode:l3",
            ],
        ))
        .unwrap();
    let v4 = Some("10.9.0.5/24".parse().unwrap());
    let v6 = Some("2001:db8:9::5/64".parse().unwrap());
    let e = fx
        .engine
        .attach(&reserve(l3, "e1", v4, v6, Some("02:00:00:00:00:01")))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "ipvlan interfaces do not support custom mac address assignment"
    );
    assert_eq!(
        fx.engine
            .attach(&reserve(l3, "e1", v4, v6, None))
            .unwrap()
            .mac,
        None,
        "ipvlan links carry the parent's MAC"
    );
    let j = fx
        .engine
        .attach(&handoff(l3, "e1", "/nonexistent"))
        .unwrap();
    assert_eq!((j.gateway4, j.gateway6), (None, None));
    let dsts: Vec<String> = j.routes.iter().map(|r| format!("{}", r.dst)).collect();
    assert_eq!(dsts, ["0.0.0.0/0", "::/0"]);
    assert!(j.routes.iter().all(|r| r.gw.is_none()), "connected routes");

    let e = fx
        .engine
        .attach(&reserve(
            l3,
            "e2",
            Some("10.8.0.5/24".parse().unwrap()),
            None,
            None,
        ))
        .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("could not find a valid ipv4 subnet for endpoint e2: 10.8.0.5/24"),
        "{e}"
    );

    let internal = "2222222222222222222222222222222222222222222222222222222222222222";
    let mut r = docker_req(
        internal,
        "macvlan",
        &["subnet=10.7.0.0/24", "gateway=10.7.0.1", "o=parent:eth0"],
    );
    r.internal = true;
    fx.engine.ensure_network(&r).unwrap();
    fx.engine
        .attach(&reserve(
            internal,
            "e3",
            Some("10.7.0.9/24".parse().unwrap()),
            None,
            None,
        ))
        .unwrap();
    let j = fx
        .engine
        .attach(&handoff(internal, "e3", "/nonexistent"))
        .unwrap();
    assert_eq!(
        (j.gateway4, &j.routes),
        (None, &Vec::new()),
        "internal: no routes"
    );

    let pt = "3333333333333333333333333333333333333333333333333333333333333333";
    fx.engine
        .ensure_network(&docker_req(
            pt,
            "macvlan",
            &[
                "subnet=10.6.0.0/24",
                "o=parent:eth1",
                "o=macvlan_mode:passthru",
            ],
        ))
        .unwrap_err(); // eth1 carries ipvlan already
    assert_eq!(
        fx.engine.network(pt).unwrap_err().kind(),
        Kind::NotFound,
        "refused networks leave nothing"
    );
    fx.engine
        .ensure_network(&docker_req(
            pt,
            "macvlan",
            &[
                "subnet=10.6.0.0/24",
                "o=parent:eth0",
                "o=macvlan_mode:passthru",
            ],
        ))
        .unwrap(); // the internal network is on a dummy link: eth0 is free
    assert_eq!(
        fx.engine.network(internal).unwrap().parent.name(),
        format!("dm-{}", &internal[..12])
    );
}

#[test]
fn other_front_doors_leave_dockers_networks_to_docker() {
    let mut fx = fx!();
    fx.engine
        .ensure_network(&docker_req(
            DOCKER_NET,
            "macvlan",
            &["subnet=172.16.86.0/24", "o=parent:eth0"],
        ))
        .unwrap();
    let c = fx.ns();
    let name = format!("docker-{}", &DOCKER_NET[..12]);
    let e = fx.attach(&name, &c).unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict);
    assert_eq!(
        e.to_string(),
        format!("network {name} (6814fe04f923) is managed by docker: use `docker network connect` for it")
    );
    assert!(fx
        .engine
        .detach(&name, &AttachmentKey::Namespace(c.to_string()), Detach::All)
        .unwrap_err()
        .to_string()
        .contains("use `docker network disconnect`"));
    assert!(fx
        .engine
        .remove_network(&name)
        .unwrap_err()
        .to_string()
        .contains("use `docker network rm`"));
    assert!(fx.engine.prune(&|_| true).unwrap().is_empty());

    // Docker's name, once learned, is the network's name; a taken name is refused.
    fx.engine
        .name_runtime_network(DOCKER_NET, "pub_net", Some("underlay"))
        .unwrap();
    assert_eq!(
        net_of(&fx, DOCKER_NET).ipam_driver.as_deref(),
        Some("underlay")
    );
    assert_eq!(fx.engine.network("pub_net").unwrap().id, DOCKER_NET);
    assert!(fx.engine.network(&name).is_err());
    fx.create(&["mine", "macvlan", "subnet=10.1.0.0/24", "o=parent:eth1"])
        .unwrap();
    let e = fx
        .engine
        .name_runtime_network(DOCKER_NET, "mine", None)
        .unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict);
    assert!(
        e.to_string()
            .starts_with("network with name mine already exists"),
        "{e}"
    );
    fx.restart();
    fx.engine.restore().unwrap();
    assert_eq!(fx.engine.network("pub_net").unwrap().id, DOCKER_NET);
}

#[test]
fn restore_finishes_cut_off_joins_and_leaves_and_keeps_dockers_endpoints() {
    let mut fx = fx!();
    fx.engine
        .ensure_network(&docker_req(
            DOCKER_NET,
            "macvlan",
            &["subnet=172.16.86.0/24", "o=parent:eth0.50"],
        ))
        .unwrap();
    let host_before = fx.links("host");
    let addr = |i: u8| Some(format!("172.16.86.{i}/24").parse().unwrap());
    for (id, i) in [("joined", 2), ("cut", 3), ("created", 4)] {
        fx.engine
            .attach(&reserve(DOCKER_NET, id, addr(i), None, None))
            .unwrap();
    }
    let c = fx.ns();
    fx.engine
        .attach(&handoff(DOCKER_NET, "joined", &c))
        .unwrap();
    let cut = fx.engine.attach(&handoff(DOCKER_NET, "cut", &c)).unwrap();
    // "joined" went into the container; "cut" was killed before its outcome was written.
    let ns = NsRef::Path(PathBuf::from(&c));
    let joined_name = net_of(&fx, DOCKER_NET).endpoints["joined"].tmp_name.clone();
    let l = fx
        .nl
        .link_by_name(&NsRef::Host, &joined_name)
        .unwrap()
        .unwrap();
    fx.nl.move_link(&NsRef::Host, l.index, &ns, "eth0").unwrap();
    let name = net_of(&fx, DOCKER_NET).name;
    fx.edit(&name, |n| {
        n.endpoints.get_mut("cut").unwrap().state = EndpointState::Attaching
    });
    // A reboot takes the VLAN parent and the container.
    let vlan = fx
        .nl
        .link_by_name(&NsRef::Host, "eth0.50")
        .unwrap()
        .unwrap();
    fx.nl.remove_link(&NsRef::Host, vlan.index);
    assert!(fx
        .nl
        .link_by_name(&NsRef::Host, &cut.ifname)
        .unwrap()
        .is_none());
    fx.restart();
    let report = fx.engine.restore().unwrap();
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("recreated parent link eth0.50")),
        "{report:?}"
    );
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("join of endpoint cut was cut off")),
        "{report:?}"
    );
    assert_eq!(fx.links("host"), host_before, "parent back, no stray link");
    let net = net_of(&fx, DOCKER_NET);
    assert_eq!(net.endpoints["cut"].state, EndpointState::Created);
    assert_eq!(net.endpoints["joined"].state, EndpointState::Attached);
    assert_eq!(net.endpoints["created"].state, EndpointState::Created);
    // Docker's DeleteNetwork takes whatever records were left, and the parent underlay made.
    fx.engine.delete_runtime_network(DOCKER_NET).unwrap();
    assert!(fx
        .nl
        .link_by_name(&NsRef::Host, "eth0.50")
        .unwrap()
        .is_none());
}

#[test]
fn networks_stored_by_an_earlier_version_keep_working() {
    let mut fx = fx!();
    fx.create(&["old", "macvlan", "subnet=10.3.0.0/24", "o=parent:eth0"])
        .unwrap();
    let a = fx.ns();
    let b = fx.ns();
    let first = fx.attach("old", &a).unwrap();
    // Rewrite the store the way earlier versions kept it: endpoints and allocations inside
    // the network's document, no documents of their own.
    {
        let s = store::DirStore::open(fx.dir.path()).unwrap();
        let mut t = s.begin().unwrap();
        let net = find_net(&*t, "old").unwrap();
        let mut batch = store::Batch::new(store::Durability::SurvivesPowerLoss);
        for key in t.keys("endpoints").unwrap() {
            batch.push_delete(key);
        }
        let batch = batch
            .delete(format!("allocs/{}", net.id))
            .put(net.key(), serde_json::to_vec(&net).unwrap());
        t.commit(batch).unwrap();
    }
    fx.restart();
    let net = fx.engine.network("old").unwrap();
    assert_eq!(
        net.endpoints.len(),
        1,
        "the endpoint inside the old document is seen"
    );
    assert!(net.ipam.is_allocated(first.ipv4.unwrap().addr()));
    // A change waits for restore, which lays the network out anew once and keeps everything.
    let before = fx.store();
    let e = fx.attach("old", &b).unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict);
    assert!(
        e.message().contains("run `underlay network restore` once"),
        "{e}"
    );
    assert_eq!(fx.store(), before, "nothing written");
    let report = fx.engine.restore().unwrap();
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("network old: laid out anew")),
        "{report:?}"
    );
    assert_eq!(fx.engine.network("old").unwrap().endpoints.len(), 1);
    let second = fx.attach("old", &b).unwrap();
    assert_ne!(
        second.ipv4, first.ipv4,
        "the old endpoint's address is still held"
    );
    assert_eq!(fx.engine.network("old").unwrap().endpoints.len(), 2);
    fx.engine
        .detach("old", &AttachmentKey::Namespace(a.to_string()), Detach::All)
        .unwrap();
    assert!(fx.links(&a).iter().all(|l| l.starts_with("lo ")));
    let net = fx.engine.network("old").unwrap();
    assert_eq!(net.endpoints.len(), 1);
    assert!(!net.ipam.is_allocated(first.ipv4.unwrap().addr()));
    let head: serde_json::Value = serde_json::from_slice(
        &fx.store()
            .into_iter()
            .find(|(k, _)| k.starts_with("networks/"))
            .unwrap()
            .1,
    )
    .unwrap();
    assert_eq!(head["endpoints"], serde_json::json!({}), "{head}");
    assert!(fx.engine.restore().unwrap().lines.is_empty());
}

#[test]
fn restore_frees_addresses_no_endpoint_holds() {
    let mut fx = fx!();
    fx.create(&["leak", "macvlan", "subnet=10.4.0.0/24", "o=parent:eth0"])
        .unwrap();
    let a = fx.ns();
    fx.attach("leak", &a).unwrap();
    // Killed between reserving an address and recording the endpoint that holds it.
    fx.edit("leak", |n| {
        n.ipam.reserve("10.4.0.77".parse().unwrap()).unwrap()
    });
    fx.restart();
    let report = fx.engine.restore().unwrap();
    assert!(
        report.lines.iter().any(|l| l
            .contains("reservations brought in line with its endpoints (1 released, 0 reserved)")),
        "{report:?}"
    );
    let net = fx.engine.network("leak").unwrap();
    assert!(!net.ipam.is_allocated("10.4.0.77".parse().unwrap()));
    assert!(
        net.ipam.is_allocated("10.4.0.1".parse().unwrap()),
        "the endpoint's stays"
    );
}

/// A document that cannot be read is evidence, not garbage: restore asks the kernel before
/// releasing anything (issue: one damaged endpoint document became a duplicate address).
#[test]
fn restore_weighs_unreadable_documents_against_the_kernel() {
    let mut fx = fx!();
    fx.create(&["torn", "macvlan", "subnet=10.5.0.0/24", "o=parent:eth0"])
        .unwrap();
    let (a, b) = (fx.ns(), fx.ns());
    let kept = fx.attach("torn", &a).unwrap();
    let lost = fx.attach("torn", &b).unwrap();
    let net = fx.engine.network("torn").unwrap();
    let doc_of = |fx: &Fx, endpoint_id: &str| {
        fx.store()
            .into_iter()
            .find(|(k, v)| {
                k.starts_with("endpoints/") && String::from_utf8_lossy(v).contains(endpoint_id)
            })
            .map(|(k, _)| format!("{k}.json"))
            .unwrap()
    };
    let torn_doc = doc_of(&fx, &lost.endpoint_id);
    std::fs::write(fx.dir.path().join(&torn_doc), br#"{"id":"1f2"#).unwrap();
    std::fs::write(
        fx.dir.path().join(format!("allocs/{}.json", net.id)),
        b"[[\"10.5.0",
    )
    .unwrap();
    fx.restart();
    // b's namespace and link live on: the endpoint is adopted from the kernel, its address
    // stays held, and the allocations are recomputed.
    let report = fx.engine.restore().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    let adopted = format!("adopted eth0 in {b} ({})", lost.ipv4.unwrap().addr());
    assert!(
        report.lines.iter().any(|l| l.contains(&adopted)),
        "{report:?}"
    );
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains(&format!("allocs/{}", net.id))
                && l.ends_with("recomputed from its endpoints")),
        "{report:?}"
    );
    let net = fx.engine.network("torn").unwrap();
    assert_eq!(net.endpoints.len(), 2);
    assert!(net.ipam.is_allocated(kept.ipv4.unwrap().addr()));
    assert!(net.ipam.is_allocated(lost.ipv4.unwrap().addr()));
    let c = fx.ns();
    let third = fx.attach("torn", &c).unwrap().ipv4.unwrap().addr();
    assert!(third != kept.ipv4.unwrap().addr() && third != lost.ipv4.unwrap().addr());
    assert!(fx.engine.restore().unwrap().lines.is_empty());
    fx.engine
        .detach(
            "torn",
            &AttachmentKey::Namespace(b.to_string()),
            Detach::All,
        )
        .unwrap();
    assert!(
        fx.links(&b).iter().all(|l| !l.contains("macvlan")),
        "adopted link deleted"
    );

    // A power loss: the namespace went with the document's last write. Nothing holds the
    // address any more: the document is dropped and the address freed.
    let torn_doc = doc_of(&fx, &kept.endpoint_id);
    std::fs::write(fx.dir.path().join(&torn_doc), b"").unwrap();
    drop(fx.namespaces.remove(0));
    fx.restart();
    let report = fx.engine.restore().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("nothing holds what it described: dropped")),
        "{report:?}"
    );
    let net = fx.engine.network("torn").unwrap();
    assert!(!net.ipam.is_allocated(kept.ipv4.unwrap().addr()));
    assert_eq!(net.endpoints.len(), 1);
}

#[test]
fn a_taken_interface_name_is_refused_and_the_link_in_the_way_stays() {
    let fx = fx!();
    // ipvlan links carry the parent's MAC, so only the name and kind tell them apart.
    fx.create(&["iv", "ipvlan", "subnet=10.6.0.0/24", "o=parent:eth0"])
        .unwrap();
    let mut fx = fx;
    let c = fx.ns();
    let attach = |cid: &str| AttachRequest::container("iv", cid, "eth0", &c);
    let first = fx.engine.attach(&attach("one")).unwrap();
    let before = fx.links(&c);
    let e = fx.engine.attach(&attach("two")).unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    assert!(
        e.to_string()
            .contains("interface eth0 already exists in the network namespace of container two"),
        "{e}"
    );
    assert_eq!(
        fx.links(&c),
        before,
        "the first attachment's eth0 is untouched"
    );
    let net = fx.engine.network("iv").unwrap();
    assert_eq!(net.endpoints.len(), 1);
    let held: Vec<_> = net.ipam.allocations().iter().map(|s| s.count()).collect();
    assert_eq!(
        held.iter().sum::<u128>(),
        1,
        "only {first:?}'s address is held"
    );
}

#[test]
fn each_door_names_the_bad_field_its_own_way() {
    let fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.6.0.0/24", "o=parent:eth0"])
        .unwrap();
    let mut fx = fx;
    let c = fx.ns();
    let bad = |door: crate::Door, mac: &str, ip: &str| AttachRequest {
        mac: Some(mac.into()),
        ip: Some(ip.into()),
        door,
        ..AttachRequest::namespace("n", &c)
    };
    let said = |r: AttachRequest| fx.engine.attach(&r).unwrap_err().to_string();
    assert!(
        said(bad(crate::Door::Cli, "zz", "10.6.0.9")).starts_with("invalid --mac-address \"zz\"")
    );
    assert!(said(bad(crate::Door::Cni, "zz", "10.6.0.9")).starts_with(
        "invalid requested MAC (runtimeConfig mac, CNI_ARGS MAC or the configuration's mac) \"zz\""
    ));
    assert!(said(bad(crate::Door::Cli, "02:00:00:00:00:09", "nope"))
        .starts_with("invalid --ip \"nope\""));
    assert!(said(bad(crate::Door::Docker, "02:00:00:00:00:09", "nope"))
        .starts_with("invalid Interface.Address \"nope\""));
    // Nothing was attached by any of them.
    assert!(fx.engine.network("n").unwrap().endpoints.is_empty());
}

#[test]
fn errors_carry_their_kind_field_and_the_kernels_errno_as_values() {
    let mut fx = fx!();
    fx.create(&["n", "macvlan", "subnet=10.9.0.0/24"]).unwrap();
    let (c1, c2) = (fx.ns(), fx.ns());
    let ask = |ns: &str, f: &dyn Fn(&mut AttachRequest)| {
        let mut r = AttachRequest {
            door: Door::Cni,
            ..AttachRequest::namespace("n", ns)
        };
        f(&mut r);
        fx.engine.attach(&r)
    };
    // A bad value: the field that holds it, worded in the door's vocabulary.
    let e = ask(&c1, &|r| r.ip = Some("10.9.0".into())).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (Kind::InvalidParameter, Some(Field::Ip))
    );
    assert!(e.message().starts_with("invalid requested IP"), "{e}");
    let e = ask(&c1, &|r| r.ip6 = Some("10.9.0.5".into())).unwrap_err();
    assert_eq!(e.field(), Some(Field::Ip6), "{e}");
    let e = ask(&c1, &|r| r.mac = Some("01:00:00:00:00:01".into())).unwrap_err();
    assert_eq!(e.field(), Some(Field::Mac), "{e}");
    let e = ask(&c1, &|r| r.ifname = Some("a/b".into())).unwrap_err();
    assert_eq!(e.field(), Some(Field::Ifname), "{e}");
    // A taken value: a conflict on its field.
    ask(&c1, &|r| {
        r.ip = Some("10.9.0.7".into());
        r.mac = Some("02:00:00:00:00:07".into());
    })
    .unwrap();
    let e = ask(&c2, &|r| r.ip = Some("10.9.0.7".into())).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (Kind::Conflict, Some(Field::Ip)),
        "{e}"
    );
    assert_eq!(e.clash(), Some(Clash::Other));
    let e = ask(&c2, &|r| r.mac = Some("02:00:00:00:00:07".into())).unwrap_err();
    assert_eq!(
        (e.kind(), e.field()),
        (Kind::Conflict, Some(Field::Mac)),
        "{e}"
    );
    // The kernel's refusal keeps its errno and its cause.
    fx.nl.fail_next("link_add", libc::EADDRINUSE);
    let e = ask(&c2, &|_| {}).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (Kind::Kernel, Some(libc::EADDRINUSE)),
        "{e}"
    );
    assert!(std::error::Error::source(&e).is_some());
    // A network that exists already is a clash a door can act on, whatever the words.
    let e = fx
        .create(&["n", "macvlan", "subnet=10.10.0.0/24"])
        .unwrap_err();
    assert_eq!(e.clash(), Some(Clash::NetworkExists), "{e}");
}

#[test]
fn a_declared_network_is_made_on_first_attach_remade_when_changed_and_refused_when_in_use() {
    let mut fx = fx!();
    let declared = |net: &str, fingerprint: &str| {
        let mut create = req(&[
            "conf",
            "macvlan",
            &format!("subnet={net}.0/24"),
            &format!("gateway={net}.1"),
            "o=parent:eth0",
        ]);
        create.labels = vec![(DECLARED_LABEL.into(), fingerprint.into())];
        Some(Box::new(Declared {
            create,
            fingerprints: vec![fingerprint.into()],
        }))
    };
    let attach = |ns: &str, cid: &str, declared| AttachRequest {
        door: Door::Cni,
        declared,
        ..AttachRequest::container("conf", cid, "eth0", ns)
    };
    let fingerprint = |fx: &Fx| {
        fx.engine
            .declared_network("conf")
            .unwrap()
            .map(|n| n.labels[DECLARED_LABEL].clone())
    };
    let (c1, c2, c3) = (fx.ns(), fx.ns(), fx.ns());
    let v1 = declared("10.20.0", "one");
    // First attach: made, then attached.
    let r = fx.engine.attach(&attach(&c1, "a", v1.clone()));
    assert_eq!(r.unwrap().ipv4.unwrap().to_string(), "10.20.0.2/24");
    assert_eq!(fingerprint(&fx).as_deref(), Some("one"));
    // Same configuration: found and used.
    let r = fx.engine.attach(&attach(&c2, "b", v1.clone()));
    assert_eq!(r.unwrap().ipv4.unwrap().to_string(), "10.20.0.3/24");
    // Changed while attached: refused naming why, nothing changed.
    let v2 = declared("10.21.0", "two");
    let e = fx.engine.attach(&attach(&c3, "c", v2.clone())).unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    assert!(
        e.message()
            .contains("changed while 2 container(s) are attached"),
        "{e}"
    );
    assert_eq!(fingerprint(&fx).as_deref(), Some("one"));
    // Changed with nothing attached: remade from the new configuration.
    fx.engine
        .detach("conf", &cni_key("a", "eth0"), Detach::All)
        .unwrap();
    fx.engine
        .detach("conf", &cni_key("b", "eth0"), Detach::All)
        .unwrap();
    let r = fx.engine.attach(&attach(&c1, "a", v2.clone()));
    assert_eq!(r.unwrap().ipv4.unwrap().to_string(), "10.21.0.2/24");
    assert_eq!(fingerprint(&fx).as_deref(), Some("two"));
    // Kept with its last attachment gone: eth0 is not underlay's.
    fx.engine
        .detach("conf", &cni_key("a", "eth0"), Detach::All)
        .unwrap();
    assert_eq!(fingerprint(&fx).as_deref(), Some("two"), "eth0 is not ours");
    // Removed when the attach that made it failed.
    fx.engine.remove_network("conf").unwrap();
    let e = fx
        .engine
        .attach(&AttachRequest {
            ip: Some("10.99.0.5".into()),
            ..attach(&c1, "a", v1.clone())
        })
        .unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidParameter, "{e}");
    assert_eq!(
        fingerprint(&fx),
        None,
        "made by the failed attach, and gone with it"
    );
    // A network of that name made by hand is never taken over.
    fx.create(&["conf", "macvlan", "subnet=10.22.0.0/24"])
        .unwrap();
    let e = fx.engine.attach(&attach(&c1, "a", v1.clone())).unwrap_err();
    assert!(e.message().contains("made with `underlay network create`"));
}
