//! End-to-end: the Docker macvlan guide with underlay's CLI, in namespace labs on this
//! machine's kernel, with a veth as parent.

mod common;

use common::Lab;

fn addr_of(lab: &Lab, ns: &str, ifname: &str) -> String {
    lab.ip(ns, &["-br", "-4", "addr", "show", "dev", ifname])
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn guide_bridge_example() {
    need_root!();
    let mut lab = Lab::guide();
    let id = lab
        .ul(&[
            "network",
            "create",
            "-d",
            "macvlan",
            "--subnet=172.16.86.0/24",
            "--gateway=172.16.86.1",
            "-o",
            "parent=eth0",
            "pub_net",
        ])
        .ok();
    assert_eq!(id.trim().len(), 64, "create prints the full id: {id}");
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "--ip", "172.16.86.10", "pub_net", &c1])
        .ok();
    lab.ul(&["network", "connect", "pub_net", &c2]).ok();

    assert!(addr_of(&lab, &c1, "eth0").contains("172.16.86.10/24"));
    // The gateway is reserved: the first dynamic address is .2.
    assert!(addr_of(&lab, &c2, "eth0").contains("172.16.86.2/24"));
    let link = lab.ip(&c1, &["-d", "link", "show", "eth0"]);
    assert!(link.contains("macvlan mode bridge"), "{link}");
    let route = lab.ip(&c1, &["route"]);
    assert!(
        route.contains("default via 172.16.86.1 dev eth0"),
        "{route}"
    );

    assert!(
        lab.ping(&c2, "172.16.86.10"),
        "second container reaches the first"
    );
    assert!(lab.ping(&c1, "172.16.86.1"), "containers reach the gateway");
    assert!(
        lab.silent(&c1, "172.16.86.250"),
        "the host's address stays unreachable"
    );
    assert!(
        lab.silent(&c2, "172.16.86.250"),
        "the host's address stays unreachable"
    );

    let net = lab.inspect("pub_net");
    assert_eq!(net["Name"], "pub_net");
    assert_eq!(net["Driver"], "macvlan");
    assert_eq!(net["Scope"], "local");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "172.16.86.0/24");
    assert_eq!(net["IPAM"]["Config"][0]["Gateway"], "172.16.86.1");
    assert_eq!(net["Options"]["parent"], "eth0");
    let containers = net["Containers"].as_object().unwrap();
    assert_eq!(containers.len(), 2);
    let addrs: Vec<&str> = containers
        .values()
        .map(|c| c["IPv4Address"].as_str().unwrap())
        .collect();
    assert!(addrs.contains(&"172.16.86.10/24") && addrs.contains(&"172.16.86.2/24"));

    lab.ul(&["network", "disconnect", "pub_net", &c1]).ok();
    lab.ul(&["network", "disconnect", "pub_net", &c2]).ok();
    assert!(!lab.links(&c1).contains("macvlan"));
    lab.ul(&["network", "rm", "pub_net"]).ok();
    assert!(lab.store_docs().is_empty());
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn aux_addresses_are_never_handed_out() {
    need_root!();
    let mut lab = Lab::guide();
    // A /29 has 6 usable addresses: .1 gateway, .2 and .4 auxiliary => 3 for containers.
    lab.ul(&[
        "network",
        "create",
        "--subnet",
        "172.16.86.0/29",
        "--gateway",
        "172.16.86.1",
        "--aux-address",
        "router2=172.16.86.2",
        "--aux-address",
        "printer=172.16.86.4",
        "-o",
        "parent=eth0",
        "small",
    ])
    .ok();
    let mut got = Vec::new();
    for i in 0..3 {
        let c = lab.container(&format!("c{i}"));
        lab.ul(&["network", "connect", "small", &c]).ok();
        got.push(addr_of(&lab, &c, "eth0"));
    }
    assert!(got[0].contains("172.16.86.3/29"), "{got:?}");
    assert!(got[1].contains("172.16.86.5/29"), "{got:?}");
    assert!(got[2].contains("172.16.86.6/29"), "{got:?}");
    let c = lab.container("c-extra");
    let err = lab.ul(&["network", "connect", "small", &c]).err();
    assert!(
        err.contains("no available IPv4 addresses on this network's address pools: small"),
        "{err}"
    );
    // A static request for an aux address is refused too.
    let err = lab
        .ul(&["network", "connect", "--ip", "172.16.86.4", "small", &c])
        .err();
    assert!(
        err.contains("172.16.86.4") && err.contains("reserved"),
        "{err}"
    );
    let inspect = lab.inspect("small");
    assert_eq!(
        inspect["IPAM"]["Config"][0]["AuxiliaryAddresses"]["printer"],
        "172.16.86.4"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn ip_range_gives_its_first_address_first() {
    need_root!();
    let mut lab = Lab::new("r");
    lab.uplink("eth0", "router", &[], &["192.168.32.1/24"]);
    lab.ul(&[
        "network",
        "create",
        "--subnet",
        "192.168.32.0/24",
        "--ip-range",
        "192.168.32.128/25",
        "--gateway",
        "192.168.32.254",
        "-o",
        "parent=eth0",
        "ranged",
    ])
    .ok();
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "ranged", &c1]).ok();
    lab.ul(&["network", "connect", "ranged", &c2]).ok();
    assert!(addr_of(&lab, &c1, "eth0").contains("192.168.32.128/24"));
    assert!(addr_of(&lab, &c2, "eth0").contains("192.168.32.129/24"));
    // Static addresses may sit anywhere in the subnet, outside the range too.
    let c3 = lab.container("c3");
    lab.ul(&["network", "connect", "--ip", "192.168.32.5", "ranged", &c3])
        .ok();
    assert!(lab.ping(&c3, "192.168.32.128"));
    let inspect = lab.inspect("ranged");
    assert_eq!(inspect["IPAM"]["Config"][0]["IPRange"], "192.168.32.128/25");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn dual_stack_default_routes() {
    need_root!();
    let mut lab = Lab::new("ds");
    lab.uplink(
        "eth0",
        "router",
        &[],
        &[
            "192.168.216.1/24",
            "192.168.218.1/24",
            "2001:db8:abc8::10/64",
        ],
    );
    lab.ul(&[
        "network",
        "create",
        "-d",
        "macvlan",
        "--subnet=192.168.216.0/24",
        "--subnet=192.168.218.0/24",
        "--gateway=192.168.216.1",
        "--gateway=192.168.218.1",
        "--subnet=2001:db8:abc8::/64",
        "--gateway=2001:db8:abc8::10",
        "-o",
        "parent=eth0",
        "macvlan216",
    ])
    .ok();
    let c = lab.container("c");
    lab.ul(&["network", "connect", "macvlan216", &c]).ok();
    let r4 = lab.ip(&c, &["route"]);
    let r6 = lab.ip(&c, &["-6", "route"]);
    assert!(r4.contains("default via 192.168.216.1 dev eth0"), "{r4}");
    assert!(
        r6.contains("default via 2001:db8:abc8::10 dev eth0"),
        "{r6}"
    );
    let a6 = lab.ip(&c, &["-6", "addr", "show", "dev", "eth0"]);
    assert!(a6.contains("2001:db8:abc8::1/64"), "{a6}");
    let ours = a6
        .lines()
        .find(|l| l.contains("2001:db8:abc8::1/64"))
        .unwrap();
    assert!(
        !ours.contains("tentative"),
        "IPv6 usable at once (no DAD): {a6}"
    );
    assert!(lab.ping(&c, "2001:db8:abc8::10"));
    assert!(lab.ping(&c, "192.168.216.1"));
    let inspect = lab.inspect("macvlan216");
    assert_eq!(inspect["EnableIPv6"], true);
    assert_eq!(inspect["IPAM"]["Config"].as_array().unwrap().len(), 3);
    // The second IPv4 subnet is used once the first is exhausted: a static address there works.
    let c2 = lab.container("c2");
    lab.ul(&[
        "network",
        "connect",
        "--ip",
        "192.168.218.20",
        "macvlan216",
        &c2,
    ])
    .ok();
    let r4 = lab.ip(&c2, &["route"]);
    assert!(r4.contains("default via 192.168.218.1 dev eth0"), "{r4}");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn networks_on_different_parents_are_isolated_even_with_the_same_subnet() {
    need_root!();
    let mut lab = Lab::new("iso");
    lab.uplink("eth0", "router", &[], &["10.99.0.1/24"]);
    lab.uplink("eth1", "router2", &[], &["10.99.0.1/24"]);
    lab.ul(&[
        "network",
        "create",
        "--subnet",
        "10.99.0.0/24",
        "--gateway",
        "10.99.0.1",
        "-o",
        "parent=eth0",
        "left",
    ])
    .ok();
    // Same subnet on another parent: a different layer-2 segment, allowed (Docker refuses).
    lab.ul(&[
        "network",
        "create",
        "--subnet",
        "10.99.0.0/24",
        "--gateway",
        "10.99.0.1",
        "-o",
        "parent=eth1",
        "right",
    ])
    .ok();
    let a = lab.container("a");
    let b = lab.container("b");
    lab.ul(&["network", "connect", "--ip", "10.99.0.10", "left", &a])
        .ok();
    lab.ul(&["network", "connect", "--ip", "10.99.0.11", "right", &b])
        .ok();
    assert!(lab.ping(&a, "10.99.0.1"));
    assert!(lab.ping(&b, "10.99.0.1"));
    assert!(
        lab.silent(&a, "10.99.0.11"),
        "different parents must not reach each other"
    );
    assert!(
        lab.silent(&b, "10.99.0.10"),
        "different parents must not reach each other"
    );
    // The same subnet twice on one parent is refused.
    let err = lab
        .ul(&[
            "network",
            "create",
            "--subnet",
            "10.99.0.0/25",
            "-o",
            "parent=eth0",
            "clash",
        ])
        .err();
    assert!(err.contains("overlaps") && err.contains("left"), "{err}");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn private_mode_isolates_containers() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("priv", &["-o", "macvlan_mode=private"]);
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "priv", &c1]).ok();
    lab.ul(&["network", "connect", "priv", &c2]).ok();
    assert!(lab
        .ip(&c1, &["-d", "link", "show", "eth0"])
        .contains("macvlan mode private"));
    assert!(
        lab.ping(&c1, "172.16.86.1"),
        "the gateway is outside the parent: reachable"
    );
    assert!(
        lab.silent(&c1, "172.16.86.3"),
        "private mode: no traffic between containers"
    );
    assert!(
        lab.silent(&c2, "172.16.86.2"),
        "private mode: no traffic between containers"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn passthru_takes_one_endpoint() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pt", &["-o", "macvlan_mode=passthru"]);
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "pt", &c1]).ok();
    assert!(lab
        .ip(&c1, &["-d", "link", "show", "eth0"])
        .contains("macvlan mode passthru"));
    assert!(lab.ping(&c1, "172.16.86.1"));
    let before = lab.store_snapshot();
    let err = lab.ul(&["network", "connect", "pt", &c2]).err();
    assert!(
        err.contains("passthru") && err.contains("already has an endpoint"),
        "{err}"
    );
    assert_eq!(before, lab.store_snapshot());
    assert!(!lab.links(&c2).contains("macvlan"));
    // A second network on a passthru parent is refused, in Docker's words.
    let err = lab
        .ul(&[
            "network",
            "create",
            "--subnet=172.16.87.0/24",
            "-o",
            "parent=eth0",
            "other",
        ])
        .err();
    assert!(
        err.contains("is already using parent interface eth0 in mode passthru"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn several_networks_share_a_parent() {
    need_root!();
    let mut lab = Lab::new("share");
    lab.uplink("eth0", "router", &[], &["172.16.86.1/24", "172.16.87.1/24"]);
    lab.guide_net("n86", &[]);
    lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.87.0/24",
        "--gateway=172.16.87.1",
        "-o",
        "parent=eth0",
        "n87",
    ])
    .ok();
    let a = lab.container("a");
    let b = lab.container("b");
    lab.ul(&["network", "connect", "n86", &a]).ok();
    lab.ul(&["network", "connect", "n87", &b]).ok();
    assert!(lab.ping(&a, "172.16.86.1"));
    assert!(lab.ping(&b, "172.16.87.1"));
    // One namespace on two networks gets eth0 and eth1.
    lab.ul(&["network", "connect", "n87", &a]).ok();
    assert!(addr_of(&lab, &a, "eth1").contains("172.16.87."));
    // One default route: the first network's gateway stays, as with Docker.
    let routes = lab.ip(&a, &["route"]);
    assert!(
        routes.contains("default via 172.16.86.1 dev eth0"),
        "{routes}"
    );
    assert_eq!(routes.matches("default").count(), 1, "{routes}");
    assert!(
        lab.ping(&a, "172.16.87.1"),
        "the second network is reachable on-link"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn mac_ifname_and_mtu() {
    need_root!();
    let mut lab = Lab::guide();
    lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.0/24",
        "-o",
        "parent=eth0",
        "-o",
        "mtu=1400",
        "m",
    ])
    .ok();
    let c = lab.container("c");
    lab.ul(&[
        "network",
        "connect",
        "--mac-address",
        "02:42:ac:10:56:0a",
        "--ifname",
        "uplink7",
        "m",
        &c,
    ])
    .ok();
    let link = lab.ip(&c, &["link", "show", "uplink7"]);
    assert!(link.contains("02:42:ac:10:56:0a"), "{link}");
    assert!(link.contains("mtu 1400"), "{link}");
    // Without a gateway there is no default route (Docker 29 semantics).
    assert!(!lab.ip(&c, &["route"]).contains("default"));
    // Random MACs are locally administered unicast.
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "m", &c2]).ok();
    let mac = lab.inspect("m")["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["MacAddress"].as_str().unwrap().to_string())
        .find(|m| m != "02:42:ac:10:56:0a")
        .unwrap();
    let first = u8::from_str_radix(&mac[..2], 16).unwrap();
    assert_eq!(first & 0b11, 0b10, "{mac}");
    // MTU above the parent's is refused.
    let err = lab
        .ul(&[
            "network",
            "create",
            "--subnet=172.16.90.0/24",
            "-o",
            "parent=eth0",
            "-o",
            "mtu=9000",
            "big",
        ])
        .err();
    assert!(
        err.contains("9000") && err.contains("1500") && err.contains("eth0"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn internal_network_is_on_a_dummy_link_of_its_own() {
    // As in Docker, --internal sets the parent aside and isolates the network on a dummy
    // link (vm/tests/ipvlan_l3.sh and docker_macvlan.sh connect containers to one); this
    // kernel has no dummy links, so the create is refused, naming it, and leaves nothing.
    need_root!();
    let mut lab = Lab::guide();
    let host = lab.ns("host");
    let links = lab.links(&host);
    let r = lab.ul(&[
        "network",
        "create",
        "--internal",
        "--subnet=172.16.86.0/24",
        "--gateway=172.16.86.1",
        "-o",
        "parent=eth0",
        "int",
    ]);
    if r.code == 0 {
        let inspect = lab.inspect("int");
        assert_eq!(inspect["Internal"], true);
        assert!(r.stderr.contains("parent eth0 is not used"), "{r:?}");
        let c = lab.container("c");
        lab.ul(&["network", "connect", "int", &c]).ok();
        assert!(!lab.ip(&c, &["route"]).contains("default"));
        return;
    }
    assert!(
        r.stderr.contains("CONFIG_DUMMY") && r.stderr.contains("without --internal"),
        "{r:?}"
    );
    assert!(lab.store_docs().is_empty(), "nothing stored");
    assert_eq!(links, lab.links(&host), "nothing made");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn rm_refuses_with_endpoints_and_leaves_no_link_behind() {
    need_root!();
    let mut lab = Lab::guide();
    let host = lab.ns("host");
    let before = lab.links(&host);
    lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.0/24",
        "-o",
        "parent=eth0",
        "n",
    ])
    .ok();
    let c = lab.container("c");
    lab.ul(&["network", "connect", "n", &c]).ok();
    let err = lab.ul(&["network", "rm", "n"]).err();
    assert!(
        err.contains("has active endpoints") && err.contains(&c),
        "{err}"
    );
    lab.ul(&["network", "disconnect", "n", &c]).ok();
    lab.ul(&["network", "rm", "n"]).ok();
    assert_eq!(before, lab.links(&host), "host links unchanged");
    assert!(!lab.links(&c).contains("macvlan"));
    // The user's parent link is never deleted.
    assert!(lab.links(&host).contains("eth0"));
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn ls_inspect_prune() {
    need_root!();
    let mut lab = Lab::guide();
    lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.0/25",
        "--label",
        "team=net",
        "-o",
        "parent=eth0",
        "alpha",
    ])
    .ok();
    lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.128/25",
        "-o",
        "parent=eth0",
        "beta",
    ])
    .ok();
    let table = lab.ul(&["network", "ls"]).ok();
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NETWORK ID")
            && lines[0].contains("NAME")
            && lines[0].contains("DRIVER")
            && lines[0].contains("SCOPE")
    );
    assert!(
        lines[1].contains("alpha") && lines[1].contains("macvlan") && lines[1].contains("local")
    );
    let ids = lab.ul(&["network", "ls", "-q"]).ok();
    assert_eq!(ids.lines().count(), 2);
    assert!(ids.lines().all(|l| l.len() == 12));
    let json = lab.ul(&["network", "ls", "--format", "json"]).ok();
    for line in json.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["Driver"], "macvlan");
    }
    let a = lab.inspect("alpha");
    for key in [
        "Name",
        "Id",
        "Created",
        "Scope",
        "Driver",
        "EnableIPv6",
        "IPAM",
        "Internal",
        "Containers",
        "Options",
        "Labels",
    ] {
        assert!(a.get(key).is_some(), "inspect lacks {key}");
    }
    assert_eq!(a["Labels"]["team"], "net");
    // Lookup by id prefix.
    let id = a["Id"].as_str().unwrap();
    assert_eq!(lab.inspect(&id[..8])["Name"], "alpha");
    let c = lab.container("c");
    lab.ul(&["network", "connect", "alpha", &c]).ok();
    let out = lab.ul(&["network", "prune", "-f"]).ok();
    assert!(out.contains("beta") && !out.contains("alpha"), "{out}");
    assert_eq!(lab.ul(&["network", "ls", "-q"]).ok().lines().count(), 1);
    let err = lab.ul(&["network", "inspect", "nope"]).err();
    assert!(err.contains("network nope not found"), "{err}");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn run_attaches_a_fresh_namespace_and_returns_the_exit_code() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c1 = lab.container("c1");
    lab.ul(&["network", "connect", "--ip", "172.16.86.10", "pub_net", &c1])
        .ok();
    let out = lab
        .ul(&[
            "run",
            "--net",
            "pub_net",
            "--ip",
            "172.16.86.20",
            "--",
            "ping",
            "-c",
            "1",
            "-W",
            "2",
            "172.16.86.10",
        ])
        .ok();
    assert!(out.contains("1 received"), "{out}");
    let r = lab.ul(&[
        "run",
        "--net",
        "pub_net",
        "--",
        "sh",
        "-c",
        "ip -br addr show eth0; exit 7",
    ]);
    assert_eq!(r.code, 7, "{r:?}");
    assert!(r.stdout.contains("172.16.86.2/24"), "{r:?}");
    // Everything was released: only c1 remains attached, and .20 can be taken again.
    let inspect = lab.inspect("pub_net");
    assert_eq!(inspect["Containers"].as_object().unwrap().len(), 1);
    lab.ul(&[
        "run",
        "--net",
        "pub_net",
        "--ip",
        "172.16.86.20",
        "--",
        "true",
    ])
    .ok();
    let r = lab.ul(&["run", "--net", "pub_net", "--", "/nonexistent/cmd"]);
    assert_eq!(r.code, 127, "{r:?}");
    assert_eq!(
        lab.inspect("pub_net")["Containers"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn run_takes_docker_run_flags() {
    need_root!();
    let lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let host_resolv = std::fs::read("/etc/resolv.conf").unwrap_or_default();
    // No `--` needed: the command starts at the first word that is no option, and its own
    // options stay its own.
    let script = "ip -br link show dev lan9; cat /etc/resolv.conf; echo -n";
    let r = lab.ul(&[
        "run",
        "--net",
        "pub_net",
        "--name",
        "web-1",
        "--ifname",
        "lan9",
        "--alias",
        "web",
        "--dns",
        "172.16.86.1",
        "--dns",
        "2001:db8::53",
        "--dns-search",
        "example.com",
        "--dns-option",
        "ndots:2",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.starts_with("lan9@"), "{r:?}");
    assert!(
        r.stdout.contains("search example.com\nnameserver 172.16.86.1\nnameserver 2001:db8::53\noptions ndots:2\n"),
        "{r:?}"
    );
    // The host's own file is as it was, and no mount is left behind.
    assert_eq!(
        std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        host_resolv
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains("underlay-resolv"), "{mounts}");
    // The name and alias show while it runs.
    let mut child = lab
        .ul_command(&[
            "run", "--net", "pub_net", "--name", "web-2", "--alias", "api", "sleep", "30",
        ])
        .spawn()
        .unwrap();
    let mut shown = String::new();
    for _ in 0..100 {
        shown = lab
            .ul(&[
                "network",
                "inspect",
                "-f",
                "{{range .Containers}}{{.Name}}={{join .Aliases \",\"}}{{end}}",
                "pub_net",
            ])
            .ok();
        if shown.contains("web-2") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = nix_kill(child.id());
    let _ = child.wait();
    assert_eq!(shown, "web-2=api\n");
    // Bad values are refused before anything is made.
    for (args, want) in [
        (&["--name", "-x"][..], "invalid --name \"-x\""),
        (
            &["--dns", "dns.example"][..],
            "invalid --dns \"dns.example\": expected an IP address",
        ),
        (
            &["--dns-search", "bad_domain"][..],
            "invalid --dns-search \"bad_domain\"",
        ),
        (&["--dns-option", "a b"][..], "invalid --dns-option \"a b\""),
        (&["--ifname", "a/b"][..], "a/b"),
    ] {
        let mut a = vec!["run", "--net", "pub_net"];
        a.extend_from_slice(args);
        a.push("true");
        let err = lab.ul(&a).err();
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(lab.inspect("pub_net")["Containers"]
        .as_object()
        .unwrap()
        .is_empty());
}

/// SIGTERM to a process we started (`underlay run` forwards it to the command and detaches).
fn nix_kill(pid: u32) -> std::io::Result<()> {
    let out = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()?;
    if out.success() {
        Ok(())
    } else {
        Err(std::io::Error::other("kill failed"))
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn connect_warns_when_the_parent_passes_no_traffic() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let (host, router) = (lab.ns("host"), lab.ns("router"));
    let c1 = lab.container("c1");
    let r = lab.ul(&["network", "connect", "pub_net", &c1]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, ""),
        "a working parent: no warning"
    );
    // The peer (the "cable") is down: eth0 is up but has no carrier.
    lab.ip(&router, &["link", "set", "lan0", "down"]);
    let c2 = lab.container("c2");
    let r = lab.ul(&["network", "connect", "pub_net", &c2]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("Warning: parent interface eth0 has no carrier (no cable or peer): eth0 is attached but passes no traffic (NO-CARRIER)"),
        "{r:?}"
    );
    // eth0 itself is down.
    lab.ip(&host, &["link", "set", "eth0", "down"]);
    let r = lab.ul(&["run", "--net", "pub_net", "--ifname", "lan1", "true"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stderr.contains("Warning: parent interface eth0 is down: lan1 is attached but passes no traffic (NO-CARRIER) until eth0 is up"),
        "{r:?}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn restore_recognises_a_link_renamed_inside_its_namespace() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c1 = lab.container("c1");
    lab.ul(&["network", "connect", "--ip", "172.16.86.10", "pub_net", &c1])
        .ok();
    lab.ip(&c1, &["link", "set", "eth0", "down"]);
    lab.ip(&c1, &["link", "set", "eth0", "name", "lan5"]);
    lab.ip(&c1, &["link", "set", "lan5", "up"]);
    let check = lab.ul(&["network", "restore", "--check"]);
    assert_eq!(check.code, 2, "{check:?}");
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(
        report.contains("eth0 of ")
            && report.contains("was renamed lan5 inside its namespace; recorded"),
        "{report}"
    );
    // No second link was made for it, and the address stays where it was.
    assert_eq!(
        lab.ip(&c1, &["-br", "link"]).lines().count(),
        2,
        "lo and lan5 only"
    );
    assert!(addr_of(&lab, &c1, "lan5").contains("172.16.86.10/24"));
    assert!(lab
        .ul(&["network", "restore"])
        .ok()
        .contains("nothing to restore"));
    // Disconnect finds it under its new name.
    lab.ul(&["network", "disconnect", "pub_net", &c1]).ok();
    assert_eq!(
        lab.ip(&c1, &["-br", "link"]).lines().count(),
        1,
        "only lo left"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn restore_recreates_links_deleted_behind_our_back() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&["network", "connect", "--ip", "172.16.86.10", "pub_net", &c1])
        .ok();
    lab.ul(&["network", "connect", "pub_net", &c2]).ok();
    let mac_before = lab.ip(&c1, &["link", "show", "eth0"]);
    lab.ip(&c1, &["link", "del", "eth0"]);
    assert!(lab.silent(&c2, "172.16.86.10"));
    // --check tells what a restore would do, and changes nothing.
    let (host, c1_links, store) = (lab.host_snapshot(), lab.links(&c1), lab.store_snapshot());
    let check = lab.ul(&["network", "restore", "--check"]);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(
        check.stdout.starts_with(
            "a restore would do this (nothing was changed):\n  network pub_net: recreated eth0 in "
        ),
        "{check:?}"
    );
    assert_eq!(
        (lab.host_snapshot(), lab.links(&c1), lab.store_snapshot()),
        (host, c1_links, store)
    );
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(report.contains("recreated eth0"), "{report}");
    assert_eq!(
        check
            .stdout
            .lines()
            .skip(1)
            .map(str::trim)
            .collect::<Vec<_>>(),
        report.lines().collect::<Vec<_>>()
    );
    assert!(addr_of(&lab, &c1, "eth0").contains("172.16.86.10/24"));
    let mac_after = lab.ip(&c1, &["link", "show", "eth0"]);
    let mac = |s: &str| s.split("link/ether ").nth(1).unwrap()[..17].to_string();
    assert_eq!(mac(&mac_before), mac(&mac_after), "same MAC after restore");
    assert!(lab.ip(&c1, &["route"]).contains("default via 172.16.86.1"));
    assert!(lab.ping(&c2, "172.16.86.10"));
    // A container namespace that is gone gets its addresses released.
    lab.ip(&c2, &["link", "del", "eth0"]);
    common::ok("ip", &["netns", "del", &c2]);
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(
        report.contains("is gone") && report.contains("172.16.86.2"),
        "{report}"
    );
    assert_eq!(
        lab.inspect("pub_net")["Containers"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    // The parent deleted behind our back: the network is kept and reported, never dropped.
    let host = lab.ns("host");
    lab.ip(&host, &["link", "del", "eth0"]);
    // Left degraded: exit 3, every problem listed (--check says so beforehand).
    let check = lab.ul(&["network", "restore", "--dry-run"]);
    assert_eq!(check.code, 3, "{check:?}");
    assert!(
        check
            .stderr
            .contains("Error: 2 problem(s) a restore would leave"),
        "{check:?}"
    );
    let run = lab.ul(&["network", "restore"]);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stdout
            .contains("parent interface eth0 is missing; network kept"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("Error: 2 problem(s) left")
            && run
                .stderr
                .contains("lost eth0 and it cannot be recreated while parent eth0 is missing"),
        "{run:?}"
    );
    assert_eq!(lab.inspect("pub_net")["Name"], "pub_net");
    // Nothing to do when everything matches.
    let mut lab2 = Lab::guide();
    lab2.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.0/24",
        "-o",
        "parent=eth0",
        "n",
    ])
    .ok();
    let c = lab2.container("c");
    lab2.ul(&["network", "connect", "n", &c]).ok();
    assert!(lab2
        .ul(&["network", "restore", "--check"])
        .ok()
        .contains("nothing to restore"));
    assert!(lab2
        .ul(&["network", "restore"])
        .ok()
        .contains("nothing to restore"));
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn missing_kernel_features_fail_cleanly() {
    need_root!();
    let lab = Lab::guide();
    let host = lab.ns("host");
    let links = lab.links(&host);
    // 802.1Q parent created on the fly.
    let r = lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.50.0/24",
        "-o",
        "parent=eth0.50",
        "vlan50",
    ]);
    if r.code != 0 {
        assert!(
            r.stderr.contains("failed to create eth0.50 vlan link") && r.stderr.contains("802.1Q"),
            "{r:?}"
        );
        assert!(lab.store_docs().is_empty(), "nothing stored");
        assert_eq!(links, lab.links(&host));
    } else {
        assert!(lab.links(&host).contains("eth0.50@eth0"));
        lab.ul(&["network", "rm", "vlan50"]).ok();
        assert_eq!(links, lab.links(&host));
    }
    // ipvlan: probed at create, not found missing at the first connect.
    let r = lab.ul(&[
        "network",
        "create",
        "-d",
        "ipvlan",
        "--subnet=172.16.52.0/24",
        "-o",
        "parent=eth0",
        "ipv",
    ]);
    if r.code != 0 {
        assert!(
            r.stderr
                .contains("-d ipvlan: this kernel lacks ipvlan support (CONFIG_IPVLAN"),
            "{r:?}"
        );
        assert!(lab.store_docs().is_empty(), "nothing stored");
    } else {
        lab.ul(&["network", "rm", "ipv"]).ok();
    }
    assert_eq!(
        links,
        lab.links(&host),
        "the probe touched nothing of the host's"
    );
    // No parent: a dummy link.
    let r = lab.ul(&["network", "create", "--subnet=172.16.51.0/24", "nodummy"]);
    if r.code != 0 {
        assert!(
            r.stderr.contains("dummy") && r.stderr.contains("CONFIG_DUMMY"),
            "{r:?}"
        );
        assert!(lab.store_docs().is_empty(), "nothing stored");
        assert_eq!(links, lab.links(&host));
    } else {
        assert_eq!(lab.inspect("nodummy")["Internal"], true);
        lab.ul(&["network", "rm", "nodummy"]).ok();
        assert_eq!(links, lab.links(&host));
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn demo_runs_end_to_end() {
    need_root!();
    let out = std::process::Command::new(common::bin())
        .arg("demo")
        .output()
        .expect("run demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("underlay network create -d macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 -o parent=eth0 pub_net"));
    assert!(stdout.contains("reply from 172.16.86.10"));
    assert!(stdout.contains("no reply from 172.16.86.250"));
    assert!(stdout.contains("default via 172.16.86.1 dev eth0"));
    assert!(stdout.contains("Demo complete"));
}

/// A link has one name in the state whatever name it was given by: an alternative name of
/// the parent is the parent, so a subnet overlapping one on it is refused.
#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn an_alternative_name_of_a_parent_is_that_parent() {
    need_root!();
    let lab = Lab::guide();
    let host = lab.ns("host");
    lab.ip(
        &host,
        &[
            "link", "property", "add", "dev", "eth0", "altname", "uplink0",
        ],
    );
    lab.guide_net("pub_net", &[]);
    let err = lab
        .ul(&[
            "network",
            "create",
            "--subnet=172.16.86.0/25",
            "-o",
            "parent=uplink0",
            "other",
        ])
        .err();
    assert!(
        err.contains("overlaps with subnet 172.16.86.0/24 of network pub_net"),
        "{err}"
    );
    let made = lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.87.0/24",
        "-o",
        "parent=uplink0",
        "second",
    ]);
    assert_eq!(made.code, 0, "{made:?}");
    assert!(
        made.stderr
            .contains("Warning: parent uplink0 is an alternative name of eth0: using eth0"),
        "{made:?}"
    );
    assert_eq!(lab.inspect("second")["Options"]["parent"], "eth0");
}

/// Disconnecting the network that carried a namespace's default route hands it to the
/// remaining network with a gateway, IPv4 and IPv6 separately, as Docker does.
#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn disconnect_hands_the_default_route_to_the_remaining_network() {
    need_root!();
    let mut lab = Lab::guide();
    for (name, v4, gw4, v6, gw6) in [
        (
            "first",
            "172.16.86.0/24",
            "172.16.86.1",
            "2001:db8:1::/64",
            "2001:db8:1::1",
        ),
        (
            "second",
            "172.16.87.0/24",
            "172.16.87.1",
            "2001:db8:2::/64",
            "2001:db8:2::1",
        ),
    ] {
        lab.ul(&[
            "network",
            "create",
            "--ipv6",
            &format!("--subnet={v4}"),
            &format!("--gateway={gw4}"),
            &format!("--subnet={v6}"),
            &format!("--gateway={gw6}"),
            "-o",
            "parent=eth0",
            name,
        ])
        .ok();
    }
    let c = lab.container("c");
    lab.ul(&["network", "connect", "first", &c]).ok();
    lab.ul(&["network", "connect", "second", &c]).ok();
    let default = |lab: &Lab, v6: bool| {
        let fam = if v6 { "-6" } else { "-4" };
        lab.ip(&c, &[fam, "route", "show", "default"])
    };
    let expect = |lab: &Lab, v4: &str, v6: &str| {
        for (is_v6, want) in [(false, v4), (true, v6)] {
            let have = default(lab, is_v6);
            assert!(have.contains(want), "{have} should have {want}");
        }
    };
    expect(
        &lab,
        "via 172.16.86.1 dev eth0",
        "via 2001:db8:1::1 dev eth0",
    );
    lab.ul(&["network", "disconnect", "first", &c]).ok();
    expect(
        &lab,
        "via 172.16.87.1 dev eth1",
        "via 2001:db8:2::1 dev eth1",
    );
    // The last one leaves nothing to hand over.
    lab.ul(&["network", "disconnect", "second", &c]).ok();
    assert_eq!(default(&lab, false).trim(), "");
}

/// A network without --gateway (Docker 29's rule: no gateway unless told) says what follows:
/// no default route, and the subnet's first address handed out like any other.
#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn a_network_without_gateway_is_warned_about() {
    need_root!();
    let mut lab = Lab::guide();
    let made = lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.86.0/24",
        "-o",
        "parent=eth0",
        "nogw",
    ]);
    assert_eq!(made.code, 0, "{made:?}");
    assert!(
        made.stderr.contains("Warning: no --gateway for subnet 172.16.86.0/24: containers get no default route through it, and its first address 172.16.86.1 (often the LAN's router) may be handed out"),
        "{made:?}"
    );
    let c = lab.container("c");
    lab.ul(&["network", "connect", "nogw", &c]).ok();
    assert!(lab.ip(&c, &["route", "show", "default"]).trim().is_empty());
    // Told: no warning.
    let made = lab.ul(&[
        "network",
        "create",
        "--subnet=172.16.87.0/24",
        "--gateway=172.16.87.1",
        "-o",
        "parent=eth0",
        "gw",
    ]);
    assert_eq!((made.code, made.stderr.as_str()), (0, ""), "{made:?}");
}

/// The longest network name works end to end (one past it is refused in bad_input.rs).
#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn the_longest_network_name_works() {
    need_root!();
    let mut lab = Lab::guide();
    let name = "n".repeat(120);
    lab.guide_net(&name, &[]);
    let c = lab.container("c");
    lab.ul(&["network", "connect", &name, &c]).ok();
    assert_eq!(lab.inspect(&name)["Name"], name.as_str());
    lab.ul(&["network", "disconnect", &name, &c]).ok();
    lab.ul(&["network", "rm", &name]).ok();
    assert!(lab.store_docs().is_empty());
}
