//! Property tests against brute-force models on small pools: no address is
//! handed out twice, the allocated set is exactly the model's, reserved
//! addresses are never handed out, allocation always returns the lowest free
//! address, released addresses come back lowest first, and the stored form
//! round-trips.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipam::{addr_to_u128, AddrSet, Error, Family, NetworkIpam, Pool};
use ipnet::IpNet;
use proptest::prelude::*;

/// One operation on a pool; offsets are relative to the subnet's first
/// address, and offsets at or past the subnet's size mean "some address
/// outside the subnet".
#[derive(Clone, Debug)]
enum Op {
    Allocate,
    AllocateSpread(u64),
    Reserve(u32),
    Release(u32),
}

/// A pool configuration as offsets into a subnet.
#[derive(Clone, Debug)]
struct Cfg {
    family: Family,
    host_bits: u8,
    /// The subnet's base address before masking.
    base: u128,
    /// `(host bits of the range, slot of the range inside the subnet)`.
    range: Option<(u8, u32)>,
    gateway: Option<u32>,
    aux: Vec<u32>,
}

impl Cfg {
    fn size(&self) -> u32 {
        1 << self.host_bits
    }
    fn max_len(&self) -> u8 {
        match self.family {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }
    fn network(&self) -> u128 {
        let mask = (1u128 << self.host_bits) - 1;
        (self.base & self.family.max_value()) & !mask
    }
    /// The address at `off`, or one just outside the subnet for `off >= size`.
    fn addr(&self, off: u32) -> IpAddr {
        let net = self.network();
        let v = if off < self.size() {
            net + u128::from(off)
        } else {
            let past = u128::from(off - self.size());
            let last = net + u128::from(self.size()) - 1;
            if last < self.family.max_value() - past {
                last + 1 + past
            } else {
                net - 1 - past
            }
        };
        self.family
            .addr_from_u128(v)
            .expect("in the family's space")
    }
    fn subnet(&self) -> IpNet {
        IpNet::new(self.addr(0), self.max_len() - self.host_bits).expect("valid prefix")
    }
    /// Offsets (inclusive) of the addresses dynamic allocation draws from.
    fn dynamic(&self) -> (u32, u32) {
        match self.range {
            None => (0, self.size() - 1),
            Some((rb, slot)) => {
                let slots = 1u32 << (self.host_bits - rb);
                let start = (slot % slots) << rb;
                (start, start + (1u32 << rb) - 1)
            }
        }
    }
    fn ip_range(&self) -> Option<IpNet> {
        self.range.map(|(rb, _)| {
            IpNet::new(self.addr(self.dynamic().0), self.max_len() - rb).expect("valid prefix")
        })
    }
    fn aux_map(&self) -> BTreeMap<String, IpAddr> {
        self.aux
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("a{i}"), self.addr(*a)))
            .collect()
    }
    /// Network/broadcast/anycast offsets.
    fn structural(&self) -> BTreeSet<u32> {
        match (self.family, self.host_bits) {
            (Family::V4, h) if h >= 2 => BTreeSet::from([0, self.size() - 1]),
            (Family::V6, h) if h >= 2 => BTreeSet::from([0]),
            _ => BTreeSet::new(),
        }
    }
    /// Every reserved offset, or `None` if the configuration is invalid.
    fn reserved(&self) -> Option<BTreeSet<u32>> {
        let mut r = self.structural();
        if let Some(g) = self.gateway {
            if !r.insert(g) {
                return None;
            }
        }
        for a in &self.aux {
            if !r.insert(*a) {
                return None;
            }
        }
        Some(r)
    }
    fn pool(&self) -> Result<Pool, Error> {
        Pool::new(
            self.subnet(),
            self.ip_range(),
            self.gateway.map(|g| self.addr(g)),
            self.aux_map(),
        )
    }
}

fn cfg() -> impl Strategy<Value = Cfg> {
    prop_oneof![
        (
            Just(Family::V4),
            prop::sample::select(vec![0u8, 1, 2, 3, 5, 6])
        ),
        (
            Just(Family::V6),
            prop::sample::select(vec![0u8, 1, 2, 4, 8])
        ),
    ]
    .prop_flat_map(|(family, host_bits)| {
        let size = 1u32 << host_bits;
        (
            Just(family),
            Just(host_bits),
            any::<u128>(),
            prop::option::of((0..=host_bits, any::<u32>())),
            prop::option::weighted(0.7, 0..size),
            prop::collection::vec(0..size, 0..3),
        )
    })
    .prop_map(|(family, host_bits, base, range, gateway, aux)| Cfg {
        family,
        host_bits,
        base,
        range,
        gateway,
        aux,
    })
}

fn ops(size: u32) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            5 => Just(Op::Allocate),
            2 => any::<u64>().prop_map(Op::AllocateSpread),
            2 => (0..size + 3).prop_map(Op::Reserve),
            3 => (0..size + 3).prop_map(Op::Release),
        ],
        1..150,
    )
}

fn cfg_and_ops() -> impl Strategy<Value = (Cfg, Vec<Op>)> {
    cfg().prop_flat_map(|c| {
        let size = c.size();
        (Just(c), ops(size))
    })
}

/// The pool's allocated set as offsets.
fn allocated_offsets(cfg: &Cfg, pool: &Pool) -> BTreeSet<u32> {
    let net = cfg.network();
    pool.allocated()
        .runs()
        .flat_map(|r| r.map(move |v| u32::try_from(v - net).expect("small pool")))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// (a) Every operation against a brute-force model.
    #[test]
    fn pool_matches_a_brute_force_model((cfg, ops) in cfg_and_ops()) {
        let Some(reserved) = cfg.reserved() else {
            // Gateway or aux on a reserved address, or clashing: refused.
            let e = cfg.pool().expect_err("clashing configuration accepted");
            let clash = matches!(
                e,
                Error::GatewayReserved { .. }
                    | Error::AuxReserved { .. }
                    | Error::AuxIsGateway { .. }
                    | Error::AuxDuplicateAddress { .. }
            );
            prop_assert!(clash, "{:?}", e);
            return Ok(());
        };
        let mut pool = cfg.pool().expect("valid configuration refused");
        let (lo, hi) = cfg.dynamic();
        let size = cfg.size();
        let mut model: BTreeSet<u32> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Allocate => {
                    let want = (lo..=hi).find(|a| !model.contains(a) && !reserved.contains(a));
                    match (pool.allocate(), want) {
                        (Ok(got), Some(w)) => {
                            prop_assert_eq!(got, cfg.addr(w));
                            prop_assert!(model.insert(w), "{} handed out twice", got);
                        }
                        (Err(Error::NoAvailable { subnet }), None) => {
                            prop_assert_eq!(subnet, cfg.subnet());
                        }
                        (got, want) => prop_assert!(false, "allocate: got {:?}, model {:?}", got, want),
                    }
                }
                Op::AllocateSpread(seed) => {
                    // The first free at or after the seed's point, wrapping round.
                    let start = lo + ((u64::from(hi - lo) as u128 * seed as u128) >> 64) as u32;
                    let free = |a: &u32| !model.contains(a) && !reserved.contains(a);
                    let want = (start..=hi).find(free).or_else(|| (lo..start).find(free));
                    match (pool.allocate_spread(seed), want) {
                        (Ok(got), Some(w)) => {
                            prop_assert_eq!(got, cfg.addr(w));
                            prop_assert!(model.insert(w), "{} handed out twice", got);
                        }
                        (Err(Error::NoAvailable { subnet }), None) => {
                            prop_assert_eq!(subnet, cfg.subnet());
                        }
                        (got, want) => prop_assert!(false, "allocate_spread: got {:?}, model {:?}", got, want),
                    }
                }
                Op::Reserve(off) => {
                    let r = pool.reserve(cfg.addr(off));
                    if off >= size {
                        prop_assert!(matches!(r, Err(Error::OutOfRange { .. })), "{:?}", r);
                    } else if reserved.contains(&off) {
                        prop_assert!(matches!(r, Err(Error::Reserved { .. })), "{:?}", r);
                    } else if model.contains(&off) {
                        prop_assert_eq!(r, Err(Error::AddressInUse(cfg.addr(off))));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        model.insert(off);
                    }
                }
                Op::Release(off) => {
                    let r = pool.release(cfg.addr(off));
                    if off >= size {
                        prop_assert!(matches!(r, Err(Error::OutOfRange { .. })), "{:?}", r);
                    } else if model.remove(&off) {
                        prop_assert_eq!(r, Ok(()));
                    } else {
                        prop_assert_eq!(r, Err(Error::NotAllocated(cfg.addr(off))));
                    }
                }
            }
            prop_assert_eq!(&allocated_offsets(&cfg, &pool), &model);
            prop_assert_eq!(pool.allocated_count(), model.len() as u128);
            for off in 0..size {
                prop_assert_eq!(pool.is_allocated(cfg.addr(off)), model.contains(&off));
                prop_assert_eq!(pool.is_reserved(cfg.addr(off)), reserved.contains(&off));
            }
        }
        // (c) The stored form round-trips, and the loaded pool behaves the same.
        let json = serde_json::to_string(&pool).expect("serialise");
        let mut back: Pool = serde_json::from_str(&json).expect("deserialise");
        prop_assert_eq!(&back, &pool);
        prop_assert_eq!(back.allocate(), pool.allocate());
    }

    /// (b) Released addresses come back lowest first, before any address
    /// that was never handed out.
    #[test]
    fn released_addresses_come_back_lowest_first(
        cfg in cfg(),
        n in 1usize..80,
        frees in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
    ) {
        let Ok(mut pool) = cfg.pool() else { return Ok(()) };
        let got: Vec<IpAddr> = std::iter::from_fn(|| pool.allocate().ok()).take(n).collect();
        prop_assume!(!got.is_empty());
        let freed: BTreeSet<u128> = frees
            .iter()
            .map(|i| addr_to_u128(*i.get(&got)))
            .collect();
        for a in &freed {
            let ip = cfg.family.addr_from_u128(*a).expect("family");
            prop_assert_eq!(pool.release(ip), Ok(()));
        }
        for a in &freed {
            prop_assert_eq!(pool.allocate().map(addr_to_u128), Ok(*a));
        }
        // Then allocation carries on after the last address handed out.
        if let Ok(next) = pool.allocate() {
            prop_assert!(addr_to_u128(next) > addr_to_u128(*got.last().expect("non-empty")));
        }
    }

    /// (b) The same in an IPv6 /64, where brute force over the subnet is
    /// impossible.
    #[test]
    fn released_addresses_come_back_lowest_first_in_a_slash_64(
        n in 1u32..300,
        frees in prop::collection::btree_set(0u32..300, 0..40),
    ) {
        let subnet: IpNet = "2001:db8:1::/64".parse().expect("prefix");
        let mut pool = Pool::new(subnet, None, None, BTreeMap::new()).expect("pool");
        let got: Vec<IpAddr> = (0..n).map(|_| pool.allocate().expect("room")).collect();
        let freed: Vec<u32> = frees.into_iter().filter(|f| *f < n).collect();
        for f in &freed {
            prop_assert_eq!(pool.release(got[*f as usize]), Ok(()));
        }
        for f in &freed {
            prop_assert_eq!(pool.allocate(), Ok(got[*f as usize]));
        }
        prop_assert_eq!(
            pool.allocate().map(addr_to_u128),
            Ok(addr_to_u128(got[0]) + u128::from(n))
        );
    }

    /// `first_free_in` against a scan, and the serialised form of `AddrSet`.
    #[test]
    fn addr_set_matches_a_brute_force_model(
        v6 in any::<bool>(),
        values in prop::collection::btree_set(0u128..64, 0..48),
        removed in prop::collection::vec(0u128..64, 0..16),
        lo in 0u128..70,
        len in 0u128..70,
    ) {
        let family = if v6 { Family::V6 } else { Family::V4 };
        let mut set = AddrSet::new(family);
        let mut model = values.clone();
        for v in &values {
            prop_assert!(set.insert(*v));
        }
        for v in &removed {
            prop_assert_eq!(set.remove(*v), model.remove(v));
        }
        let hi = lo + len;
        prop_assert_eq!(set.first_free_in(lo..=hi), (lo..=hi).find(|v| !model.contains(v)));
        prop_assert_eq!(set.count(), model.len() as u128);
        let runs = model
            .iter()
            .zip(model.iter().skip(1))
            .filter(|(a, b)| **a + 1 != **b)
            .count()
            + usize::from(!model.is_empty());
        prop_assert_eq!(set.len_runs(), runs);
        let json = serde_json::to_string(&set).expect("serialise");
        let back: AddrSet = serde_json::from_str(&json).expect("deserialise");
        prop_assert_eq!(&back, &set);
        prop_assert_eq!(back.count(), set.count());
        if !set.is_empty() {
            prop_assert_eq!(back.family(), family);
        }
    }

    /// A network tries its pools of the asked family in order, moving on
    /// only when one is exhausted.
    #[test]
    fn network_tries_pools_in_order(
        sizes in prop::collection::vec(0u8..4, 1..4),
        ops in prop::collection::vec(prop_oneof![3 => Just(None), 1 => (0usize..64).prop_map(Some)], 1..60),
    ) {
        // Pools 10.0.<i>.0/(32 - h) and an IPv6 pool that must not be touched.
        let mut pools = Vec::new();
        for (i, h) in sizes.iter().enumerate() {
            let subnet: IpNet = format!("10.0.{i}.0/{}", 32 - h).parse().expect("prefix");
            pools.push(Pool::new(subnet, None, None, BTreeMap::new()).expect("pool"));
        }
        pools.push(Pool::new("2001:db8::/120".parse().expect("prefix"), None, None, BTreeMap::new()).expect("pool"));
        let mut n = NetworkIpam::new(pools);
        let mut models: Vec<BTreeSet<IpAddr>> = vec![BTreeSet::new(); sizes.len()];
        let usable = |i: usize| -> Vec<IpAddr> {
            let h = sizes[i];
            let all: Vec<IpAddr> = (0..1u32 << h)
                .map(|o| IpAddr::V4(std::net::Ipv4Addr::new(10, 0, i as u8, o as u8)))
                .collect();
            if h >= 2 { all[1..all.len() - 1].to_vec() } else { all }
        };
        for op in ops {
            match op {
                None => {
                    let want = (0..sizes.len()).find_map(|i| {
                        usable(i).into_iter().find(|a| !models[i].contains(a)).map(|a| (i, a))
                    });
                    match (n.allocate(Family::V4), want) {
                        (Ok(got), Some((i, a))) => {
                            prop_assert_eq!(got, a);
                            models[i].insert(a);
                        }
                        (Err(Error::NoAvailableOnNetwork { family: Family::V4 }), None) => {}
                        (got, want) => prop_assert!(false, "got {:?}, want {:?}", got, want),
                    }
                }
                Some(k) => {
                    // Release the k-th allocated address, if any.
                    let all: Vec<(usize, IpAddr)> = models
                        .iter()
                        .enumerate()
                        .flat_map(|(i, m)| m.iter().map(move |a| (i, *a)))
                        .collect();
                    if let Some((i, a)) = all.get(k % all.len().max(1)).copied() {
                        prop_assert_eq!(n.release(a), Ok(()));
                        models[i].remove(&a);
                    }
                }
            }
        }
        prop_assert_eq!(n.pools().last().map(|p| p.allocated_count()), Some(0));
        let json = serde_json::to_string(&n).expect("serialise");
        prop_assert_eq!(serde_json::from_str::<NetworkIpam>(&json).expect("deserialise"), n);
    }
}

/// An operation on a [`ipam::SharedSubnet`] of 10.0.0.0/27 (offsets past 31 are outside it);
/// `bool` picks the request narrowed to 10.0.0.8/29 instead of the whole subnet.
#[derive(Clone, Debug)]
enum SharedOp {
    Allocate(bool),
    Reserve(u32),
    Gateway(Option<u32>, bool),
    Release(u32),
}

fn shared_op() -> impl Strategy<Value = SharedOp> {
    prop_oneof![
        4 => any::<bool>().prop_map(SharedOp::Allocate),
        2 => (0u32..36).prop_map(SharedOp::Reserve),
        1 => (proptest::option::of(0u32..36), any::<bool>()).prop_map(|(o, r)| SharedOp::Gateway(o, r)),
        3 => (0u32..36).prop_map(SharedOp::Release),
    ]
}

proptest! {
    /// Every request for a subnet draws from one allocation: the lowest free address of its
    /// range, never one held, never the network or broadcast address; gateways are shared and
    /// counted; the stored form round-trips.
    #[test]
    fn a_shared_subnet_matches_its_model(ops in proptest::collection::vec(shared_op(), 1..80)) {
        let subnet: IpNet = "10.0.0.0/27".parse().unwrap();
        let narrow: IpNet = "10.0.0.8/29".parse().unwrap();
        let at = |off: u32| -> IpAddr { format!("10.0.{}.{}", off / 256, off % 256).parse().unwrap() };
        let mut s = ipam::SharedSubnet::new(subnet).unwrap();
        s.add_view(None).unwrap();
        s.add_view(Some(narrow)).unwrap();
        let mut held: BTreeSet<u32> = BTreeSet::new();
        let mut gateways: BTreeMap<u32, u32> = BTreeMap::new();
        let usable = |off: u32| (1..31).contains(&off);
        for op in ops {
            match op {
                SharedOp::Allocate(n) => {
                    let (lo, hi) = if n { (8, 15) } else { (0, 31) };
                    let want = (lo..=hi).find(|o| usable(*o) && !held.contains(o));
                    let got = s.allocate(n.then_some(narrow));
                    match want {
                        Some(o) => { prop_assert_eq!(got.unwrap(), at(o)); held.insert(o); }
                        None => prop_assert!(got.is_err()),
                    }
                }
                SharedOp::Reserve(o) => {
                    let ok = usable(o) && !held.contains(&o);
                    prop_assert_eq!(s.reserve(at(o)).is_ok(), ok, "reserve {}", o);
                    if ok { held.insert(o); }
                }
                SharedOp::Gateway(req, n) => {
                    let (lo, hi) = if n { (8, 15) } else { (0, 31) };
                    let want = match req {
                        Some(o) if gateways.contains_key(&o) => Some(o),
                        Some(o) => (usable(o) && !held.contains(&o)).then_some(o),
                        None => gateways.keys().next().copied()
                            .or_else(|| (lo..=hi).find(|o| usable(*o) && !held.contains(o))),
                    };
                    let got = s.gateway(req.map(at), n.then_some(narrow));
                    match want {
                        Some(o) => {
                            prop_assert_eq!(got.unwrap(), at(o));
                            held.insert(o);
                            *gateways.entry(o).or_insert(0) += 1;
                        }
                        None => prop_assert!(got.is_err()),
                    }
                }
                SharedOp::Release(o) => {
                    let got = s.release(at(o));
                    if let Some(n) = gateways.get_mut(&o) {
                        prop_assert!(got.is_ok());
                        *n -= 1;
                        if *n == 0 { gateways.remove(&o); held.remove(&o); }
                    } else {
                        prop_assert_eq!(got.is_ok(), held.remove(&o));
                    }
                }
            }
            for o in 0..36 {
                prop_assert_eq!(s.is_allocated(at(o)), held.contains(&o), "offset {}", o);
            }
        }
        let back: ipam::SharedSubnet = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        prop_assert_eq!(back, s);
    }
}
