//! Every invalid command is refused with a clear message naming the bad value, and changes
//! nothing: the host's links, addresses and routes and the store stay byte-identical.

mod common;

use common::Lab;

/// (arguments, text the error must contain)
const CASES: &[(&[&str], &str)] = &[
    // network create: driver, name
    (&["network", "create", "-d", "bridge", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "x"], "invalid driver \"bridge\""),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "bad name"], "invalid network name \"bad name\""),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "pub_net"], "network with name pub_net already exists"),
    (&["network", "create", "-o", "parent=eth0", "nosubnet"], "a --subnet is required"),
    // subnets, gateways, ranges, aux addresses (Docker's wording)
    (&["network", "create", "--subnet=notacidr", "-o", "parent=eth0", "x"], "invalid subnet notacidr"),
    (&["network", "create", "--subnet=10.1.0.0/33", "-o", "parent=eth0", "x"], "invalid subnet 10.1.0.0/33"),
    (&["network", "create", "--subnet=10.1.0.5/16", "-o", "parent=eth0", "x"], "invalid subnet 10.1.0.5/16: it should be 10.1.0.0/16"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--subnet=10.1.2.0/24", "-o", "parent=eth0", "x"], "multiple overlapping subnet configuration is not supported"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--gateway=10.2.0.1", "-o", "parent=eth0", "x"], "no matching subnet for gateway 10.2.0.1"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--gateway=10.1.0.1", "--gateway=10.1.0.2", "-o", "parent=eth0", "x"], "every ip-range or gateway must have a corresponding subnet"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--subnet=10.3.0.0/16", "--gateway=10.1.0.1", "--gateway=10.1.0.2", "-o", "parent=eth0", "x"], "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--gateway=banana", "-o", "parent=eth0", "x"], "invalid gateway banana"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--ip-range=10.2.0.0/24", "-o", "parent=eth0", "x"], "no matching subnet for range 10.2.0.0/24"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--ip-range=10.1.0.0/8", "-o", "parent=eth0", "x"], "invalid ip-range 10.1.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--ip-range=10.1.0.5/24", "-o", "parent=eth0", "x"], "invalid ip-range 10.1.0.5/24: it should be 10.1.0.0/24"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--aux-address=a=10.2.0.1", "-o", "parent=eth0", "x"], "no matching subnet for aux-address 10.2.0.1"),
    (&["network", "create", "--subnet=10.1.0.0/16", "--aux-address=bogus", "-o", "parent=eth0", "x"], "invalid --aux-address \"bogus\""),
    (&["network", "create", "--subnet=10.1.0.0/16", "--aux-address=a=notip", "-o", "parent=eth0", "x"], "notip"),
    (&["network", "create", "--ipv6", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "x"], "--ipv6 needs an IPv6 --subnet"),
    (&["network", "create", "--subnet=172.16.86.0/25", "-o", "parent=eth0", "x"], "overlaps with subnet 172.16.86.0/24 of network pub_net"),
    // driver options
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "macvlan_mode=bogus", "x"], "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default"),
    (&["network", "create", "-d", "ipvlan", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "ipvlan_mode=l4", "x"], "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default"),
    (&["network", "create", "-d", "ipvlan", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "ipvlan_flag=x", "x"], "requested ipvlan flag 'x' is not valid, 'bridge' is the ipvlan driver default"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "foo=bar", "x"], "unknown option \"foo\" for the macvlan driver"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "ipvlan_mode=l3", "x"], "unknown option \"ipvlan_mode\" for the macvlan driver"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "mtu=abc", "x"], "invalid mtu \"abc\""),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "-o", "mtu=9000", "x"], "invalid mtu 9000: it exceeds the MTU 1500 of parent interface eth0"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "badopt", "x"], "invalid --opt \"badopt\""),
    (&["network", "create", "--subnet=10.1.0.0/16", "--label", "=x", "-o", "parent=eth0", "x"], "invalid --label \"=x\""),
    // parents
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=lo", "x"], "loopback interface is not a valid macvlan parent link"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=nosuch", "x"], "-o parent interface was not found on the host: nosuch (a name like eth0.10 makes 802.1Q sub-interface 10 of eth0)"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0.4095", "x"], "vlan id must be between 1-4094, received: 4095"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0.x", "x"], "unable to parse a valid vlan id from: eth0.x (ex. eth0.10 for vlan 10"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0.050", "x"], "unable to parse a valid vlan id from: eth0.050 (ex. eth0.10 for vlan 10, written without leading zeros or sign)"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0.+50", "x"], "unable to parse a valid vlan id from: eth0.+50"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0.1.2", "x"], "required interface name format is: name.vlan_id, ex. eth0.10 for vlan 10, instead received eth0.1.2"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=nosuch0.50", "x"], "-o parent interface was not found on the host: nosuch0"),
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=averyverylongname0", "x"], "interface names are at most 15 bytes"),
    // (On a kernel without ipvlan the create says that instead; either names ipvlan.)
    (&["network", "create", "-d", "ipvlan", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "x"], "ipvlan"),
    // daemon
    (&["daemon", "--log-level", "bogus"], "invalid --log-level \"bogus\": expected one of off, error, warn, info, debug, trace"),
    (&["daemon", "--read-timeout", "0"], "--read-timeout"),
    // connect
    (&["network", "connect", "--ip", "172.16.86.1", "pub_net", "@C2"], "172.16.86.1"),
    (&["network", "connect", "--ip", "172.16.86.0", "pub_net", "@C2"], "172.16.86.0"),
    (&["network", "connect", "--ip", "172.16.86.255", "pub_net", "@C2"], "172.16.86.255"),
    (&["network", "connect", "--ip", "172.16.86.10", "pub_net", "@C2"], "172.16.86.10 is already in use"),
    (&["network", "connect", "--ip", "10.0.0.5", "pub_net", "@C2"], "no configured subnet contains IP address 10.0.0.5"),
    (&["network", "connect", "--ip", "notanip", "pub_net", "@C2"], "invalid --ip \"notanip\""),
    (&["network", "connect", "--ip", "2001:db8::5", "pub_net", "@C2"], "invalid --ip 2001:db8::5: it is an IPv6 address"),
    (&["network", "connect", "--ip6", "2001:db8::5", "pub_net", "@C2"], "network pub_net has no IPv6 subnet"),
    (&["network", "connect", "pub_net", "/proc/self/ns/net"], "network namespace \"/proc/self/ns/net\" (/proc/self/ns/net) is the host's own"),
    (&["network", "connect", "pub_net", "/proc/thread-self/ns/net"], "is the host's own"),
    (&["network", "connect", "pub_net", "/proc/self/ns/uts"], "/proc/self/ns/uts is not a network namespace"),
    (&["network", "connect", "pub_net", "/etc/passwd"], "/etc/passwd is not a network namespace"),
    (&["network", "connect", "pub_net", "999999999"], "network namespace \"999999999\" not found"),
    (&["network", "connect", "--mac-address", "zz", "pub_net", "@C2"], "invalid --mac-address \"zz\""),
    (&["network", "connect", "--mac-address", "02:42:ac:10:56:0a", "pub_net", "@C2"], "invalid --mac-address 02:42:ac:10:56:0a: it is already in use on parent interface eth0 by @C1 (network pub_net)"),
    (&["network", "connect", "--mac-address", "01:00:5e:00:00:01", "pub_net", "@C2"], "unicast"),
    (&["network", "connect", "--ifname", "averyverylongname0", "pub_net", "@C2"], "interface names are at most 15 bytes"),
    (&["network", "connect", "--ifname", "lo", "pub_net", "@C2"], "interface lo already exists in network namespace"),
    (&["network", "connect", "nosuchnet", "@C2"], "network nosuchnet not found"),
    (&["network", "connect", "pub_net", "nosuchns"], "network namespace \"nosuchns\" not found"),
    (&["network", "connect", "pub_net", "/etc/hostname"], "/etc/hostname is not a network namespace"),
    (&["network", "connect", "pub_net", "@C1"], "is already connected to network pub_net"),
    // disconnect, rm, ls
    (&["network", "disconnect", "pub_net", "@C2"], "is not connected to network pub_net"),
    (&["network", "rm", "pub_net"], "has active endpoints"),
    (&["network", "rm", "nosuch"], "network nosuch not found"),
    // lengths: one past the longest name, and far past it (a name is a file's name in the state)
    (&["network", "create", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "@N121"], "invalid network name: at most 120 characters, this one has 121"),
    (&["network", "inspect", "@N5000"], "not found"),
    (&["network", "rm", "@N5000"], "not found"),
    (&["network", "connect", "@N5000", "@C2"], "not found"),
    // ls, inspect, prune: filters and Go templates
    (&["network", "ls", "--format", "{{.Nope}}"], "invalid --format \"{{.Nope}}\": map has no entry for key: Nope (the fields are .ID, .Name"),
    (&["network", "ls", "--format", "{{.Name"], "invalid --format \"{{.Name\": template parsing error"),
    (&["network", "ls", "--format", "{{nofunc .Name}}"], "nofunc"),
    (&["network", "ls", "--filter", "name"], "invalid --filter \"name\": bad format of filter (expected name=value)"),
    (&["network", "ls", "--filter", "foo=bar"], "invalid filter 'foo': network ls filters by dangling, driver, id, label, name, scope or type"),
    (&["network", "ls", "--filter", "dangling=maybe"], "invalid value \"maybe\" for filter 'dangling'"),
    (&["network", "ls", "--filter", "dangling=true", "--filter", "dangling=false"], "more than one value for filter key \"dangling\""),
    (&["network", "ls", "--filter", "type=weird"], "invalid filter: 'type'='weird'"),
    (&["network", "inspect", "-f", "{{.Options.nope}}", "pub_net"], "map has no entry for key: nope"),
    (&["network", "prune", "-f", "--filter", "until=nonsense"], "failed to parse value as time or duration: \"nonsense\""),
    (&["network", "prune", "-f", "--filter", "driver=macvlan"], "invalid filter 'driver': network prune filters by label, label! or until"),
    // create's IPAM flags, connect's aliases
    (&["network", "create", "--ipam-driver", "dhcpx", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "x"], "invalid value 'dhcpx' for '--ipam-driver"),
    (&["network", "create", "--ipam-opt", "novalue", "--subnet=10.1.0.0/16", "-o", "parent=eth0", "x"], "invalid --ipam-opt \"novalue\": expected KEY=VALUE"),
    (&["network", "connect", "--alias", "web server", "pub_net", "@C2"], "invalid --alias \"web server\": an alias is a DNS name"),
    (&["network", "connect", "--alias", "", "pub_net", "@C2"], "invalid --alias \"\""),
    (&["network", "connect", "--alias", "@N254", "pub_net", "@C2"], "of 1 to 253 letters"),
];

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn invalid_commands_are_refused_and_change_nothing() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c1 = lab.container("c1");
    let c2 = lab.container("c2");
    lab.ul(&[
        "network",
        "connect",
        "--ip",
        "172.16.86.10",
        "--mac-address",
        "02:42:ac:10:56:0a",
        "pub_net",
        &c1,
    ])
    .ok();
    assert!(CASES.len() >= 30);
    let mut failures = Vec::new();
    for (args, expected) in CASES {
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("@C1", &c1)
                    .replace("@C2", &c2)
                    .replace("@N121", &"n".repeat(121))
                    .replace("@N254", &"n".repeat(254))
                    .replace("@N5000", &"n".repeat(5000))
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let expected = expected.replace("@C1", &c1);
        let host_before = lab.host_snapshot();
        let c2_before = lab.links(&c2);
        let store_before = lab.store_snapshot();
        let r = lab.ul(&args);
        if r.code == 0 {
            failures.push(format!("{args:?} succeeded: {}", r.stdout));
            continue;
        }
        if !r.stderr.contains(&expected) {
            failures.push(format!("{args:?}: expected {expected:?} in {:?}", r.stderr));
        }
        if !r.stderr.starts_with("Error: ") && !r.stderr.starts_with("error: ") {
            failures.push(format!(
                "{args:?}: error not marked as such: {:?}",
                r.stderr
            ));
        }
        if lab.host_snapshot() != host_before {
            failures.push(format!("{args:?} changed the host"));
        }
        if lab.links(&c2) != c2_before {
            failures.push(format!("{args:?} changed the container"));
        }
        if lab.store_snapshot() != store_before {
            failures.push(format!("{args:?} changed the store"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
