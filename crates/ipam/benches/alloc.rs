//! IPAM micro benchmarks: allocate and release in IPv4 /24, /16, /8 and IPv6 /64 pools at 0%,
//! 50% and 99% full. A pool "f% full" has its addresses allocated in up to 1024 runs spread over
//! the whole pool (each segment's first f%), so the run-length set holds many runs, as it does
//! after containers come and go.
//!
//!   cargo bench -p ipam --bench alloc

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipam::{addr_to_u128, Family, Pool};
use ipnet::IpNet;

fn addr(family: Family, v: u128) -> IpAddr {
    family.addr_from_u128(v).expect("address in range")
}

/// A pool of `subnet`, `fill` percent allocated in up to 1024 runs.
fn pool(subnet: &str, fill: u128) -> Pool {
    let net: IpNet = subnet.parse().unwrap();
    let family = Family::of_net(&net);
    let lo = addr_to_u128(net.network());
    let hi = addr_to_u128(net.broadcast());
    // Usable: lo+1 ..= hi-1 (network/anycast and IPv4 broadcast reserved; keep it simple for v6).
    let (first, last) = (lo + 1, hi - 1);
    let usable = last - first + 1;
    let segments = (usable / 256).clamp(1, 1024);
    let seg_len = usable / segments;
    let mut runs = Vec::new();
    if fill > 0 {
        for i in 0..segments {
            let start = first + i * seg_len;
            let len = (seg_len * fill / 100).max(1);
            let end = start + len - 1;
            runs.push(format!("{}-{}", addr(family, start), addr(family, end)));
        }
    }
    let doc = serde_json::json!({"subnet": subnet, "allocated": runs});
    serde_json::from_value(doc).expect("pool")
}

fn bench(c: &mut Criterion) {
    let pools = [
        ("ipv4-24", "10.0.0.0/24"),
        ("ipv4-16", "10.0.0.0/16"),
        ("ipv4-8", "10.0.0.0/8"),
        ("ipv6-64", "2001:db8::/64"),
    ];
    let mut g = c.benchmark_group("ipam");
    for (name, subnet) in pools {
        for fill in [0u128, 50, 99] {
            let id = format!("{name}-{fill}pct");
            // Allocate the lowest free address, then give it back (the state stays the same).
            let mut p = pool(subnet, fill);
            g.bench_function(BenchmarkId::new("allocate+release", &id), |b| {
                b.iter(|| {
                    let a = p.allocate().expect("a free address");
                    p.release(black_box(a)).unwrap();
                })
            });
            // Release an address in the middle of a run (splitting it), then take it back as a
            // static address (joining the run again).
            if fill > 0 {
                let mut p = pool(subnet, fill);
                let runs = p.allocated().to_strings();
                let run = &runs[runs.len() / 2];
                let (a, b) = run.split_once('-').unwrap();
                let (a, b): (IpAddr, IpAddr) = (a.parse().unwrap(), b.parse().unwrap());
                let mid = addr(p.family(), (addr_to_u128(a) + addr_to_u128(b)) / 2);
                g.bench_function(BenchmarkId::new("release+reserve", &id), |bch| {
                    bch.iter(|| {
                        p.release(black_box(mid)).unwrap();
                        p.reserve(black_box(mid)).unwrap();
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
