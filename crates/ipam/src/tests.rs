//! Unit tests: Docker's documented behaviour and every message, word for word.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::*;

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test prefix")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn pools(
    subnets: &[&str],
    ranges: &[&str],
    gateways: &[&str],
    aux: &[(&str, &str)],
) -> Result<Vec<Pool>> {
    let aux: Vec<(String, String)> = aux
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    build_pools(
        &strings(subnets),
        &strings(ranges),
        &strings(gateways),
        &aux,
    )
}

fn pool(subnet: &str, range: &[&str], gateway: &[&str], aux: &[(&str, &str)]) -> Pool {
    pools(&[subnet], range, gateway, aux)
        .expect("valid test pool")
        .remove(0)
}

/// The message of the error `build_pools` returns.
fn err(subnets: &[&str], ranges: &[&str], gateways: &[&str], aux: &[(&str, &str)]) -> String {
    match pools(subnets, ranges, gateways, aux) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// The message of the error `Pool::new` returns.
fn new_err(
    subnet: &str,
    range: Option<&str>,
    gateway: Option<&str>,
    aux: &[(&str, &str)],
) -> String {
    let aux = aux.iter().map(|(n, a)| (n.to_string(), ip(a))).collect();
    match Pool::new(net(subnet), range.map(net), gateway.map(ip), aux) {
        Ok(p) => panic!("expected an error, got {p:?}"),
        Err(e) => e.to_string(),
    }
}

// ----- allocation: Docker's guide -----

#[test]
fn guide_first_address_after_gateway() {
    let mut p = pool("172.16.86.0/24", &[], &["172.16.86.1"], &[]);
    assert_eq!(p.allocate(), Ok(ip("172.16.86.2")));
    assert_eq!(p.allocate(), Ok(ip("172.16.86.3")));
    p.reserve(ip("172.16.86.4")).unwrap();
    assert_eq!(p.allocate(), Ok(ip("172.16.86.5")));
    assert_eq!(p.allocated_count(), 4);
    assert!(p.is_reserved(ip("172.16.86.1")));
    assert!(!p.is_allocated(ip("172.16.86.1")));
}

#[test]
fn guide_ip_range_gives_its_first_address_first() {
    let mut p = pool("192.168.32.0/24", &["192.168.32.128/25"], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("192.168.32.128")));
    assert_eq!(p.allocate(), Ok(ip("192.168.32.129")));
    // Static addresses anywhere in the subnet, not only in the range.
    p.reserve(ip("192.168.32.5")).unwrap();
    // .130 ..= .254: the range's last address is the subnet's broadcast.
    for i in 130..=254 {
        assert_eq!(p.allocate(), Ok(ip(&format!("192.168.32.{i}"))));
    }
    assert_eq!(
        p.allocate(),
        Err(Error::NoAvailable {
            subnet: net("192.168.32.0/24")
        })
    );
    assert!(!p.is_allocated(ip("192.168.32.255")));
    assert!(!p.is_allocated(ip("192.168.32.6")));
}

#[test]
fn aux_addresses_are_never_handed_out() {
    let mut p = pool(
        "10.0.0.0/29",
        &[],
        &["10.0.0.1"],
        &[("a", "10.0.0.2"), ("b", "10.0.0.4")],
    );
    let got: Vec<IpAddr> = std::iter::from_fn(|| p.allocate().ok()).collect();
    assert_eq!(got, vec![ip("10.0.0.3"), ip("10.0.0.5"), ip("10.0.0.6")]);
    for a in ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.4", "10.0.0.7"] {
        assert!(!p.is_allocated(ip(a)), "{a}");
        assert!(p.is_reserved(ip(a)), "{a}");
    }
}

#[test]
fn reserved_addresses_in_the_middle_of_a_range_are_skipped() {
    let mut p = pool(
        "10.0.0.0/24",
        &["10.0.0.64/26"],
        &["10.0.0.65"],
        &[("x", "10.0.0.66"), ("y", "10.0.0.64"), ("z", "10.0.0.70")],
    );
    assert_eq!(p.allocate(), Ok(ip("10.0.0.67")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.68")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.69")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.71")));
    p.release(ip("10.0.0.68")).unwrap();
    assert_eq!(p.allocate(), Ok(ip("10.0.0.68")));
}

#[test]
fn point_to_point_prefixes_use_every_address() {
    let mut p = pool("10.0.0.0/31", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("10.0.0.0")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.1")));
    assert!(p.allocate().is_err());
    let mut p = pool("10.0.0.7/32", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("10.0.0.7")));
    assert!(p.allocate().is_err());
    let mut p = pool("2001:db8::/127", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("2001:db8::")));
    assert_eq!(p.allocate(), Ok(ip("2001:db8::1")));
    assert!(p.allocate().is_err());
    let mut p = pool("2001:db8::5/128", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("2001:db8::5")));
    assert!(p.allocate().is_err());
    // /30 keeps network and broadcast.
    let mut p = pool("10.0.0.0/30", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("10.0.0.1")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.2")));
    assert!(p.allocate().is_err());
}

#[test]
fn point_to_point_gateway() {
    let mut p = pool("10.0.0.0/31", &[], &["10.0.0.0"], &[]);
    assert_eq!(p.allocate(), Ok(ip("10.0.0.1")));
    // A /32 whose only address is the gateway is accepted, and exhausted.
    let mut p = pool("10.0.0.7/32", &[], &["10.0.0.7"], &[]);
    assert!(p.allocate().is_err());
}

#[test]
fn ipv6_reserves_the_subnet_router_anycast_address() {
    let mut p = pool("2001:db8:abc8::/64", &[], &[], &[]);
    assert_eq!(p.allocate(), Ok(ip("2001:db8:abc8::1")));
    let mut p = pool("2001:db8:abc8::/64", &[], &["2001:db8:abc8::1"], &[]);
    assert_eq!(p.allocate(), Ok(ip("2001:db8:abc8::2")));
    // No broadcast in IPv6: the last address is usable.
    p.reserve(ip("2001:db8:abc8:0:ffff:ffff:ffff:ffff"))
        .unwrap();
}

#[test]
fn static_addresses_anywhere_in_the_subnet() {
    let mut p = pool("10.0.0.0/24", &["10.0.0.128/25"], &[], &[]);
    p.reserve(ip("10.0.0.3")).unwrap();
    assert!(p.is_allocated(ip("10.0.0.3")));
    assert_eq!(p.allocate(), Ok(ip("10.0.0.128")));
    p.release(ip("10.0.0.3")).unwrap();
    assert!(!p.is_allocated(ip("10.0.0.3")));
    assert!(p.contains(ip("10.0.0.3")));
    assert!(!p.contains(ip("10.0.1.3")));
    assert!(!p.contains(ip("::1")));
}

#[test]
fn pool_accessors() {
    let p = pool(
        "2001:db8::/64",
        &["2001:db8::100/120"],
        &["2001:db8::1"],
        &[("r", "2001:db8::2")],
    );
    assert!(p.is_v6());
    assert_eq!(p.family(), Family::V6);
    assert_eq!(p.prefix_len(), 64);
    assert_eq!(p.subnet(), net("2001:db8::/64"));
    assert_eq!(p.ip_range(), Some(net("2001:db8::100/120")));
    assert_eq!(p.gateway(), Some(ip("2001:db8::1")));
    assert_eq!(p.aux().get("r"), Some(&ip("2001:db8::2")));
    assert_eq!(
        p.reservation(ip("2001:db8::")),
        Some(&ReservedKind::AnycastAddress)
    );
    assert_eq!(
        p.reservation(ip("2001:db8::1")),
        Some(&ReservedKind::Gateway)
    );
    assert_eq!(
        p.reservation(ip("2001:db8::2")),
        Some(&ReservedKind::Aux("r".into()))
    );
    assert_eq!(p.reservation(ip("2001:db8::3")), None);
    assert_eq!(p.allocated_count(), 0);
}

#[test]
fn build_pools_keeps_the_users_order_and_values() {
    let ps = pools(
        &["2001:db8::/64", "10.0.0.0/24"],
        &["10.0.0.128/25"],
        &["10.0.0.1", "2001:db8::1"],
        &[("r", "10.0.0.9"), ("s", "2001:db8::9")],
    )
    .unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].subnet(), net("2001:db8::/64"));
    assert_eq!(ps[0].gateway(), Some(ip("2001:db8::1")));
    assert_eq!(ps[0].ip_range(), None);
    assert_eq!(ps[0].aux().len(), 1);
    assert_eq!(ps[1].subnet(), net("10.0.0.0/24"));
    assert_eq!(ps[1].ip_range(), Some(net("10.0.0.128/25")));
    assert_eq!(ps[1].aux().get("r"), Some(&ip("10.0.0.9")));
    assert_eq!(pools(&[], &[], &[], &[]), Ok(vec![]));
}

#[test]
fn pools_overlap_cases() {
    assert!(pools_overlap(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
    assert!(pools_overlap(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
    assert!(pools_overlap(&net("10.1.0.0/16"), &net("10.1.0.0/16")));
    assert!(pools_overlap(&net("10.1.0.5/16"), &net("10.1.200.0/24")));
    assert!(!pools_overlap(&net("10.1.0.0/16"), &net("10.2.0.0/16")));
    assert!(!pools_overlap(&net("0.0.0.0/0"), &net("::/0")));
    assert!(pools_overlap(
        &net("2001:db8::/32"),
        &net("2001:db8:1::/48")
    ));
}

// ----- networks -----

#[test]
fn dual_stack_pools_are_tried_in_order() {
    let mut n = NetworkIpam::new(
        pools(
            &["10.0.0.0/30", "2001:db8::/126", "10.0.1.0/30"],
            &[],
            &[],
            &[],
        )
        .unwrap(),
    );
    assert!(n.has_family(Family::V4) && n.has_family(Family::V6));
    let got: Vec<IpAddr> = (0..4).map(|_| n.allocate(Family::V4).unwrap()).collect();
    assert_eq!(
        got,
        vec![
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("10.0.1.1"),
            ip("10.0.1.2")
        ]
    );
    assert_eq!(
        n.allocate(Family::V4),
        Err(Error::NoAvailableOnNetwork { family: Family::V4 })
    );
    assert_eq!(n.allocate(Family::V6), Ok(ip("2001:db8::1")));
    // A freed address in the first pool is used again first.
    n.release(ip("10.0.0.2")).unwrap();
    assert_eq!(n.allocate(Family::V4), Ok(ip("10.0.0.2")));
    n.release(ip("10.0.1.1")).unwrap();
    assert_eq!(n.allocate(Family::V4), Ok(ip("10.0.1.1")));
    assert_eq!(
        n.pool_for(ip("10.0.1.2")).map(|p| p.subnet()),
        Some(net("10.0.1.0/30"))
    );
    assert!(n.pool_for(ip("10.0.2.1")).is_none());
    assert!(n.is_allocated(ip("10.0.1.2")));
    n.reserve(ip("2001:db8::3")).unwrap();
    assert!(n.is_allocated(ip("2001:db8::3")));
    assert_eq!(n.pools().len(), 3);
}

// ----- every message, word for word -----

#[test]
fn msg_unmatched_range_or_gateway() {
    let want = "every ip-range or gateway must have a corresponding subnet";
    assert_eq!(
        err(&["10.1.0.0/16"], &["10.1.0.0/24", "10.1.1.0/24"], &[], &[]),
        want
    );
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &["10.1.0.1", "10.1.0.2"], &[]),
        want
    );
    assert_eq!(err(&[], &[], &["10.1.0.1"], &[]), want);
}

#[test]
fn msg_invalid_subnet_syntax() {
    for s in [
        "notacidr",
        "10.1.0.0/33",
        "10.1.0.0",
        "10.1.0.0/",
        "fe80::1%eth0/64",
    ] {
        assert_eq!(
            err(&[s], &[], &[], &[]),
            format!("invalid subnet {s}: expected an IPv4 or IPv6 prefix in CIDR notation, e.g. 172.16.86.0/24 or 2001:db8::/64")
        );
    }
}

#[test]
fn msg_invalid_ip_range_syntax() {
    assert_eq!(
        err(&["10.1.0.0/16"], &["10.1.0.0"], &[], &[]),
        "invalid ip-range 10.1.0.0: expected an IPv4 or IPv6 prefix in CIDR notation, e.g. 172.16.86.128/25 or 2001:db8::/80"
    );
}

#[test]
fn msg_invalid_gateway_syntax() {
    for (g, shown) in [
        ("banana", "banana"),
        ("10.1.0.1/16", "10.1.0.1/16"),
        ("", "\"\" (empty)"),
    ] {
        assert_eq!(
            err(&["10.1.0.0/16"], &[], &[g], &[]),
            format!("invalid gateway {shown}: expected an IP address, e.g. 172.16.86.1")
        );
    }
}

#[test]
fn msg_invalid_aux_syntax() {
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &[], &[("a", "notip")]),
        "invalid auxiliary address a=notip: expected NAME=IP with an IP address"
    );
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &[], &[("", "10.1.0.9")]),
        "invalid auxiliary address =10.1.0.9: expected NAME=IP with an IP address"
    );
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &[], &[("a", "10.1.0.9/16")]),
        "invalid auxiliary address a=10.1.0.9/16: expected NAME=IP with an IP address"
    );
}

#[test]
fn msg_overlapping_subnets() {
    assert_eq!(
        err(&["10.1.0.0/16", "10.1.2.0/24"], &[], &[], &[]),
        "multiple overlapping subnet configuration is not supported: 10.1.0.0/16 and 10.1.2.0/24 overlap"
    );
    assert_eq!(
        err(&["10.1.2.0/24", "10.0.0.0/8"], &[], &[], &[]),
        "multiple overlapping subnet configuration is not supported: 10.1.2.0/24 and 10.0.0.0/8 overlap"
    );
    assert_eq!(
        err(&["2001:db8::/64", "10.0.0.0/8", "2001:db8::/64"], &[], &[], &[]),
        "multiple overlapping subnet configuration is not supported: 2001:db8::/64 and 2001:db8::/64 overlap"
    );
}

#[test]
fn msg_no_matching_subnet_for_range() {
    assert_eq!(
        err(&["10.1.0.0/16"], &["10.2.0.0/24"], &[], &[]),
        "no matching subnet for range 10.2.0.0/24"
    );
    // Another family never matches.
    assert_eq!(
        err(&["10.1.0.0/16"], &["2001:db8::/64"], &[], &[]),
        "no matching subnet for range 2001:db8::/64"
    );
}

#[test]
fn msg_multiple_ranges() {
    assert_eq!(
        err(&["10.1.0.0/16", "10.2.0.0/16"], &["10.1.0.0/24", "10.1.1.0/24"], &[], &[]),
        "cannot configure multiple ranges (10.1.1.0/24, 10.1.0.0/24) on the same subnet (10.1.0.0/16)"
    );
}

#[test]
fn msg_no_matching_subnet_for_gateway() {
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &["10.2.0.1"], &[]),
        "no matching subnet for gateway 10.2.0.1"
    );
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &["2001:db8::1"], &[]),
        "no matching subnet for gateway 2001:db8::1"
    );
}

#[test]
fn msg_multiple_gateways() {
    assert_eq!(
        err(
            &["10.1.0.0/16", "10.3.0.0/16"],
            &[],
            &["10.1.0.1", "10.1.0.2"],
            &[]
        ),
        "cannot configure multiple gateways (10.1.0.2, 10.1.0.1) for the same subnet (10.1.0.0/16)"
    );
}

#[test]
fn msg_no_matching_subnet_for_aux() {
    assert_eq!(
        err(&["10.1.0.0/16"], &[], &[], &[("a", "10.2.0.1")]),
        "no matching subnet for aux-address 10.2.0.1"
    );
}

#[test]
fn msg_duplicate_aux_name() {
    assert_eq!(
        err(
            &["10.1.0.0/24"],
            &[],
            &[],
            &[("a", "10.1.0.9"), ("a", "10.1.0.8")]
        ),
        "duplicate auxiliary address name a"
    );
}

#[test]
fn msg_subnet_host_bits() {
    assert_eq!(
        err(&["10.1.0.5/16"], &[], &[], &[]),
        "invalid subnet 10.1.0.5/16: it should be 10.1.0.0/16"
    );
    assert_eq!(
        new_err("2001:db8::1/64", None, None, &[]),
        "invalid subnet 2001:db8::1/64: it should be 2001:db8::/64"
    );
}

#[test]
fn msg_pool_empty() {
    assert_eq!(
        err(&["0.0.0.0/0"], &[], &[], &[]),
        "ipv4 pool is empty: subnet 0.0.0.0/0 is the whole address space; give the LAN's own prefix, e.g. 172.16.86.0/24"
    );
    assert!(err(&["::/0"], &[], &[], &[]).starts_with("ipv6 pool is empty: subnet ::/0 is"));
}

#[test]
fn msg_range_family_mismatch() {
    assert_eq!(
        new_err("10.1.0.0/16", Some("2001:db8::/64"), None, &[]),
        "invalid ip-range 2001:db8::/64: parent subnet is an IPv4 block"
    );
    assert_eq!(
        new_err("2001:db8::/64", Some("10.1.0.0/24"), None, &[]),
        "invalid ip-range 10.1.0.0/24: parent subnet is an IPv6 block"
    );
}

#[test]
fn msg_range_too_big() {
    assert_eq!(
        err(&["10.1.0.0/16"], &["10.1.0.0/8"], &[], &[]),
        "invalid ip-range 10.1.0.0/8: CIDR block is bigger than its parent subnet 10.1.0.0/16"
    );
}

#[test]
fn msg_range_host_bits() {
    assert_eq!(
        err(&["10.1.0.0/16"], &["10.1.0.5/24"], &[], &[]),
        "invalid ip-range 10.1.0.5/24: it should be 10.1.0.0/24"
    );
}

#[test]
fn msg_range_outside_subnet() {
    assert_eq!(
        new_err("10.1.0.0/16", Some("10.2.0.0/24"), None, &[]),
        "invalid ip-range 10.2.0.0/24: parent subnet 10.1.0.0/16 doesn't contain ip-range"
    );
}

#[test]
fn msg_gateway_outside_subnet() {
    assert_eq!(
        new_err("10.1.0.0/16", None, Some("10.2.0.1"), &[]),
        "invalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"
    );
    assert_eq!(
        new_err("10.1.0.0/16", None, Some("2001:db8::1"), &[]),
        "invalid gateway 2001:db8::1: parent subnet 10.1.0.0/16 doesn't contain this address"
    );
}

#[test]
fn msg_aux_outside_subnet() {
    // Docker names the auxiliary address by its name here.
    assert_eq!(
        new_err("10.1.0.0/16", None, None, &[("x", "10.2.0.1")]),
        "invalid auxiliary address x: parent subnet 10.1.0.0/16 doesn't contain this address"
    );
}

#[test]
fn msg_gateway_reserved() {
    assert_eq!(
        err(&["10.1.0.0/24"], &[], &["10.1.0.0"], &[]),
        "invalid gateway 10.1.0.0: it is the network address of 10.1.0.0/24"
    );
    assert_eq!(
        err(&["10.1.0.0/24"], &[], &["10.1.0.255"], &[]),
        "invalid gateway 10.1.0.255: it is the broadcast address of 10.1.0.0/24"
    );
    assert_eq!(
        err(&["2001:db8::/64"], &[], &["2001:db8::"], &[]),
        "invalid gateway 2001:db8::: it is the subnet-router anycast address of 2001:db8::/64"
    );
}

#[test]
fn msg_aux_reserved() {
    assert_eq!(
        err(&["10.1.0.0/24"], &[], &[], &[("n", "10.1.0.0")]),
        "invalid auxiliary address n=10.1.0.0: it is the network address of 10.1.0.0/24"
    );
    assert_eq!(
        err(&["10.1.0.0/24"], &[], &[], &[("b", "10.1.0.255")]),
        "invalid auxiliary address b=10.1.0.255: it is the broadcast address of 10.1.0.0/24"
    );
    assert_eq!(
        err(&["2001:db8::/64"], &[], &[], &[("a", "2001:db8::")]),
        "invalid auxiliary address a=2001:db8::: it is the subnet-router anycast address of 2001:db8::/64"
    );
}

#[test]
fn msg_aux_is_gateway() {
    assert_eq!(
        err(&["10.1.0.0/24"], &[], &["10.1.0.1"], &[("r", "10.1.0.1")]),
        "invalid auxiliary address r=10.1.0.1: it is the gateway of 10.1.0.0/24"
    );
}

#[test]
fn msg_aux_duplicate_address() {
    assert_eq!(
        err(
            &["10.1.0.0/24"],
            &[],
            &[],
            &[("b", "10.1.0.9"), ("a", "10.1.0.9")]
        ),
        "auxiliary addresses b and a both use 10.1.0.9"
    );
}

#[test]
fn msg_address_in_use() {
    let mut p = pool("172.16.86.0/24", &[], &[], &[]);
    p.reserve(ip("172.16.86.10")).unwrap();
    let e = p.reserve(ip("172.16.86.10")).unwrap_err();
    assert_eq!(e, Error::AddressInUse(ip("172.16.86.10")));
    assert_eq!(e.to_string(), "address 172.16.86.10 is already in use");
    let a = p.allocate().unwrap();
    assert_eq!(
        p.reserve(a).unwrap_err().to_string(),
        "address 172.16.86.1 is already in use"
    );
}

#[test]
fn msg_reserved() {
    let mut p = pool(
        "172.16.86.0/24",
        &[],
        &["172.16.86.1"],
        &[("router", "172.16.86.4")],
    );
    let cases = [
        ("172.16.86.0", "network address"),
        ("172.16.86.255", "broadcast address"),
        ("172.16.86.1", "gateway"),
        ("172.16.86.4", "auxiliary address router"),
    ];
    for (a, what) in cases {
        assert_eq!(
            p.reserve(ip(a)).unwrap_err().to_string(),
            format!("address {a} is reserved ({what})")
        );
    }
    let mut p = pool("2001:db8::/64", &[], &[], &[]);
    assert_eq!(
        p.reserve(ip("2001:db8::")).unwrap_err().to_string(),
        "address 2001:db8:: is reserved (subnet-router anycast address)"
    );
}

#[test]
fn msg_out_of_range() {
    let mut p = pool("172.16.86.0/24", &[], &[], &[]);
    assert_eq!(
        p.reserve(ip("172.16.87.1")).unwrap_err().to_string(),
        "address 172.16.87.1 is out of range: it does not belong to subnet 172.16.86.0/24"
    );
    assert_eq!(
        p.release(ip("2001:db8::1")).unwrap_err().to_string(),
        "address 2001:db8::1 is out of range: it does not belong to subnet 172.16.86.0/24"
    );
}

#[test]
fn msg_no_available() {
    let mut p = pool("10.0.0.0/30", &[], &["10.0.0.1"], &[]);
    p.allocate().unwrap();
    assert_eq!(
        p.allocate().unwrap_err().to_string(),
        "no available addresses on this pool 10.0.0.0/30"
    );
}

#[test]
fn msg_no_available_on_network() {
    let mut n = NetworkIpam::new(pools(&["10.0.0.0/31", "2001:db8::/128"], &[], &[], &[]).unwrap());
    n.allocate(Family::V4).unwrap();
    n.allocate(Family::V4).unwrap();
    n.allocate(Family::V6).unwrap();
    assert_eq!(
        n.allocate(Family::V4).unwrap_err().to_string(),
        "no available IPv4 addresses on this network's address pools"
    );
    assert_eq!(
        n.allocate(Family::V6).unwrap_err().to_string(),
        "no available IPv6 addresses on this network's address pools"
    );
}

#[test]
fn msg_no_pool() {
    let mut n = NetworkIpam::new(pools(&["10.0.0.0/24"], &[], &[], &[]).unwrap());
    assert!(!n.has_family(Family::V6));
    assert_eq!(
        n.allocate(Family::V6).unwrap_err().to_string(),
        "no IPv6 address pool is configured on this network"
    );
}

#[test]
fn msg_not_in_any_subnet() {
    let mut n = NetworkIpam::new(pools(&["10.0.0.0/24"], &[], &[], &[]).unwrap());
    assert_eq!(n.reserve(ip("10.0.0.5")).map(|_| ()), Ok(()),);
    assert_eq!(
        n.reserve(ip("192.168.1.1")).unwrap_err().to_string(),
        "no configured subnet contains IP address 192.168.1.1"
    );
    assert_eq!(
        n.release(ip("192.168.1.1")),
        Err(Error::NotInAnySubnet(ip("192.168.1.1")))
    );
}

#[test]
fn msg_not_allocated() {
    let mut p = pool("10.0.0.0/24", &[], &["10.0.0.1"], &[]);
    assert_eq!(
        p.release(ip("10.0.0.9")).unwrap_err().to_string(),
        "address 10.0.0.9 is not allocated"
    );
    // Reserved addresses are never allocated either.
    assert_eq!(
        p.release(ip("10.0.0.1")),
        Err(Error::NotAllocated(ip("10.0.0.1")))
    );
    p.reserve(ip("10.0.0.9")).unwrap();
    p.release(ip("10.0.0.9")).unwrap();
    assert_eq!(
        p.release(ip("10.0.0.9")),
        Err(Error::NotAllocated(ip("10.0.0.9")))
    );
}

#[test]
fn msg_corrupt() {
    let cases = [
        (
            r#"{"subnet":"10.0.0.0/24","gateway":"10.0.0.1","allocated":["10.0.0.1-10.0.0.3"]}"#,
            "invalid stored address pool: address 10.0.0.1 of subnet 10.0.0.0/24 is both reserved (gateway) and allocated",
        ),
        (
            r#"{"subnet":"10.0.0.0/24","allocated":["10.0.1.1"]}"#,
            "invalid stored address pool: subnet 10.0.0.0/24 has addresses outside it allocated",
        ),
        (
            r#"{"subnet":"10.0.0.0/24","allocated":["2001:db8::1"]}"#,
            "invalid stored address pool: subnet 10.0.0.0/24 has IPv6 addresses allocated",
        ),
    ];
    for (json, want) in cases {
        let e = serde_json::from_str::<Pool>(json).unwrap_err().to_string();
        assert!(e.starts_with(want), "{e}");
    }
}

// ----- serde -----

#[test]
fn addr_set_text_form() {
    let mut s = AddrSet::new(Family::V4);
    for v in [1u128, 2, 3, 7] {
        assert!(s.insert(0x0a00_0000 + v));
    }
    assert!(!s.insert(0x0a00_0001));
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(json, r#"["10.0.0.1-10.0.0.3","10.0.0.7"]"#);
    assert_eq!(serde_json::from_str::<AddrSet>(&json).unwrap(), s);
    assert_eq!(s.to_strings(), vec!["10.0.0.1-10.0.0.3", "10.0.0.7"]);

    let mut s6 = AddrSet::new(Family::V6);
    s6.insert(addr_to_u128(ip("2001:db8::2")));
    s6.insert(addr_to_u128(ip("2001:db8::3")));
    let json = serde_json::to_string(&s6).unwrap();
    assert_eq!(json, r#"["2001:db8::2-2001:db8::3"]"#);
    let back: AddrSet = serde_json::from_str(&json).unwrap();
    assert_eq!(back.family(), Family::V6);
    assert_eq!(back, s6);

    let empty: AddrSet = serde_json::from_str("[]").unwrap();
    assert_eq!(empty, AddrSet::new(Family::V6));
    assert_ne!(s, s6);
}

#[test]
fn addr_set_rejects_malformed_entries() {
    for bad in [
        r#"["x"]"#,
        r#"["10.0.0.3-10.0.0.1"]"#,
        r#"["10.0.0.1-::2"]"#,
        r#"["10.0.0.1","::2"]"#,
        r#"["10.0.0.1-10.0.0.5","10.0.0.5"]"#,
        r#"["10.0.0.1-"]"#,
        r#"["10.0.0.1-10.0.0.2-10.0.0.3"]"#,
        r#"["::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"]"#,
        r#"[1]"#,
        r#""10.0.0.1""#,
    ] {
        assert!(serde_json::from_str::<AddrSet>(bad).is_err(), "{bad}");
    }
    // Adjacent runs are merged, not rejected.
    let s: AddrSet = serde_json::from_str(r#"["10.0.0.4-10.0.0.5","10.0.0.1-10.0.0.3"]"#).unwrap();
    assert_eq!(s.len_runs(), 1);
    assert_eq!(s.count(), 5);
}

#[test]
fn addr_set_operations() {
    let mut s = AddrSet::new(Family::V6);
    assert_eq!(s.first_free_in(10..=20), Some(10));
    for v in 10..15 {
        s.insert(v);
    }
    assert_eq!(s.len_runs(), 1);
    assert_eq!(s.first_free_in(10..=20), Some(15));
    assert_eq!(s.first_free_in(5..=20), Some(5));
    assert_eq!(s.first_free_in(12..=14), None);
    #[allow(clippy::reversed_empty_ranges)]
    let empty = 14..=12;
    assert_eq!(s.first_free_in(empty), None);
    assert!(s.remove(12));
    assert!(!s.remove(12));
    assert_eq!(s.len_runs(), 2);
    assert_eq!(s.first_free_in(10..=20), Some(12));
    assert_eq!(s.count(), 4);
    assert_eq!((s.first(), s.last()), (Some(10), Some(14)));
    assert_eq!(s.runs().collect::<Vec<_>>(), vec![10..=11, 13..=14]);
    assert_eq!(s.first_free_in(u128::MAX..=u128::MAX), Some(u128::MAX));
    s.insert(u128::MAX);
    assert_eq!(s.first_free_in(u128::MAX..=u128::MAX), None);
    assert!(s.contains(u128::MAX));
    assert!(s.contains_ip(ip("::a")));
    assert!(!s.contains_ip(ip("0.0.0.10")));
}

#[test]
#[should_panic(expected = "is not an IPv4 address")]
fn addr_set_refuses_values_beyond_the_family() {
    AddrSet::new(Family::V4).insert(1 << 32);
}

#[test]
fn network_serde_round_trip() {
    let mut n = NetworkIpam::new(
        pools(
            &["10.0.0.0/24", "2001:db8::/64"],
            &["10.0.0.128/25"],
            &["10.0.0.1"],
            &[("r", "10.0.0.200")],
        )
        .unwrap(),
    );
    for _ in 0..5 {
        n.allocate(Family::V4).unwrap();
    }
    n.allocate(Family::V6).unwrap();
    n.reserve(ip("10.0.0.50")).unwrap();
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(
        json,
        r#"{"pools":[{"subnet":"10.0.0.0/24","ip_range":"10.0.0.128/25","gateway":"10.0.0.1","aux":{"r":"10.0.0.200"},"allocated":["10.0.0.50","10.0.0.128-10.0.0.132"]},{"subnet":"2001:db8::/64","allocated":["2001:db8::1"]}]}"#
    );
    let back: NetworkIpam = serde_json::from_str(&json).unwrap();
    assert_eq!(back, n);
    // Reserved addresses are derived again on load.
    assert!(back.pools()[0].is_reserved(ip("10.0.0.200")));
    // Corrupt documents are refused, not loaded half-way.
    let bad = json.replace("10.0.0.50", "10.9.0.50");
    assert!(serde_json::from_str::<NetworkIpam>(&bad).is_err());
    let bad = json.replace("10.0.0.50", "10.0.0.200");
    assert!(serde_json::from_str::<NetworkIpam>(&bad).is_err());
    let bad = json.replace("\"10.0.0.1\"", "\"10.0.0.0\"");
    assert!(serde_json::from_str::<NetworkIpam>(&bad).is_err());
    let overlapping = r#"{"pools":[{"subnet":"10.0.0.0/16"},{"subnet":"10.0.5.0/24"}]}"#;
    assert!(serde_json::from_str::<NetworkIpam>(overlapping).is_err());
}

#[test]
fn empty_ipv6_pool_round_trips() {
    let p = Pool::new(net("2001:db8::/64"), None, None, BTreeMap::new()).unwrap();
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(json, r#"{"subnet":"2001:db8::/64","allocated":[]}"#);
    let mut back: Pool = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.allocated().family(), Family::V6);
    assert_eq!(back.allocate(), Ok(ip("2001:db8::1")));
}

// ----- scale -----

/// 100 000 allocations in an IPv6 /64 and an IPv4 /8, every other one
/// released, then reallocated: freed addresses come back lowest first and
/// memory stays proportional to the number of runs.
#[test]
fn large_pools() {
    for (subnet, gateway) in [("10.0.0.0/8", "10.0.0.1"), ("2001:db8::/64", "2001:db8::1")] {
        let mut p = pool(subnet, &[], &[gateway], &[]);
        let got: Vec<IpAddr> = (0..100_000).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(p.allocated().len_runs(), 1);
        assert_eq!(p.allocated_count(), 100_000);
        for a in got.iter().step_by(2) {
            p.release(*a).unwrap();
        }
        assert_eq!(p.allocated().len_runs(), 50_000);
        assert_eq!(p.allocated_count(), 50_000);
        for a in got.iter().step_by(2) {
            assert_eq!(p.allocate().as_ref(), Ok(a));
        }
        assert_eq!(p.allocated().len_runs(), 1);
        let next = p.allocate().unwrap();
        assert_eq!(addr_to_u128(next), addr_to_u128(got[99_999]) + 1);
    }
}

#[test]
fn range_bounds_limit_dynamic_allocation_like_host_local() {
    let p = pool("172.16.86.0/24", &[], &["172.16.86.1"], &[]);
    let mut p = p
        .with_bounds(Some(ip("172.16.86.10")), Some(ip("172.16.86.11")))
        .unwrap();
    assert_eq!(p.allocate().unwrap(), ip("172.16.86.10"));
    assert_eq!(p.allocate().unwrap(), ip("172.16.86.11"));
    assert!(matches!(p.allocate(), Err(Error::NoAvailable { .. })));
    // Static addresses stay allowed anywhere in the subnet.
    p.reserve(ip("172.16.86.200")).unwrap();
    // The bounds survive a store round trip.
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains("\"start\":\"172.16.86.10\""), "{json}");
    let back: Pool = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);

    // Only an end: allocation starts after the reserved network address and gateway.
    let mut p = pool("172.16.86.0/24", &[], &["172.16.86.1"], &[])
        .with_bounds(None, Some(ip("172.16.86.3")))
        .unwrap();
    assert_eq!(p.allocate().unwrap(), ip("172.16.86.2"));
    assert_eq!(p.allocate().unwrap(), ip("172.16.86.3"));
    assert!(p.allocate().is_err());
}

#[test]
fn range_bounds_are_checked() {
    let p = || pool("172.16.86.0/24", &["172.16.86.128/25"], &[], &[]);
    assert_eq!(
        p().with_bounds(Some(ip("10.0.0.5")), None)
            .unwrap_err()
            .to_string(),
        "rangeStart 10.0.0.5 not in network 172.16.86.0/24"
    );
    assert_eq!(
        p().with_bounds(None, Some(ip("2001:db8::1")))
            .unwrap_err()
            .to_string(),
        "rangeEnd 2001:db8::1 not in network 172.16.86.0/24"
    );
    assert_eq!(
        p().with_bounds(Some(ip("172.16.86.200")), Some(ip("172.16.86.150")))
            .unwrap_err()
            .to_string(),
        "rangeStart 172.16.86.200 is after rangeEnd 172.16.86.150"
    );
    assert_eq!(
        p().with_bounds(Some(ip("172.16.86.10")), Some(ip("172.16.86.20")))
            .unwrap_err()
            .to_string(),
        "rangeStart and rangeEnd leave no address of 172.16.86.128/25 to hand out"
    );
}
