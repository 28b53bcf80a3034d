//! [`Pool`]: one subnet of a network and the addresses handed out in it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{addr_to_u128, u128_to_addr, AddrSet, Error, Family, ReservedKind, Result};

/// A value together with the text the user gave for it, so that messages
/// quote the user.
#[derive(Clone, Debug)]
pub(crate) struct Labeled<T> {
    pub(crate) value: T,
    pub(crate) text: String,
}

impl<T: ToString> Labeled<T> {
    fn of(value: T) -> Self {
        let text = value.to_string();
        Labeled { value, text }
    }
}

/// The typed configuration of one pool, before validation.
#[derive(Clone, Debug)]
pub(crate) struct PoolSpec {
    pub(crate) subnet: Labeled<IpNet>,
    pub(crate) ip_range: Option<Labeled<IpNet>>,
    pub(crate) gateway: Option<Labeled<IpAddr>>,
    /// In the order given: the order decides which of two clashing auxiliary
    /// addresses the message blames.
    pub(crate) aux: Vec<(String, Labeled<IpAddr>)>,
}

/// One subnet of a network.
///
/// Holds the subnet, its optional ip-range, gateway and auxiliary addresses,
/// and the addresses given to endpoints or reserved statically
/// ([`allocated`](Pool::allocated); reserved addresses are not in it).
///
/// Serialises as an object with `subnet`, `ip_range`, `gateway`, `aux` and
/// `allocated`; deserialising re-validates everything (as [`Pool::new`]) and
/// checks that every allocated address is in the subnet and not reserved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PoolRepr")]
pub struct Pool {
    subnet: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_range: Option<IpNet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gateway: Option<IpAddr>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    aux: BTreeMap<String, IpAddr>,
    /// First and last address dynamic allocation may hand out (CNI host-local's
    /// `rangeStart`/`rangeEnd`), within the ip-range or subnet.
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<IpAddr>,
    pub(crate) allocated: AddrSet,
    /// Network/broadcast/anycast, gateway and aux addresses; derived from
    /// the fields above, never stored. At most `3 + aux.len()` entries.
    #[serde(skip)]
    reserved: BTreeMap<u128, ReservedKind>,
}

#[derive(Deserialize)]
struct PoolRepr {
    subnet: IpNet,
    #[serde(default)]
    ip_range: Option<IpNet>,
    #[serde(default)]
    gateway: Option<IpAddr>,
    #[serde(default)]
    aux: BTreeMap<String, IpAddr>,
    #[serde(default)]
    start: Option<IpAddr>,
    #[serde(default)]
    end: Option<IpAddr>,
    #[serde(default)]
    allocated: AddrSet,
}

impl TryFrom<PoolRepr> for Pool {
    type Error = Error;

    fn try_from(repr: PoolRepr) -> Result<Pool> {
        let mut pool = Pool::new(repr.subnet, repr.ip_range, repr.gateway, repr.aux)?
            .with_bounds(repr.start, repr.end)?;
        let allocated = repr.allocated;
        if allocated.is_empty() {
            return Ok(pool);
        }
        let subnet = pool.subnet;
        if allocated.family() != pool.family() {
            return Err(Error::Corrupt(format!(
                "subnet {subnet} has {} addresses allocated",
                allocated.family()
            )));
        }
        let (lo, hi) = bounds(&subnet);
        if allocated.first().is_some_and(|a| a < lo) || allocated.last().is_some_and(|a| a > hi) {
            return Err(Error::Corrupt(format!(
                "subnet {subnet} has addresses outside it allocated"
            )));
        }
        if let Some((&a, what)) = pool.reserved.iter().find(|(&a, _)| allocated.contains(a)) {
            return Err(Error::Corrupt(format!(
                "address {} of subnet {subnet} is both reserved ({what}) and allocated",
                u128_to_addr(pool.family(), a)
            )));
        }
        pool.allocated = allocated;
        Ok(pool)
    }
}

/// The first and last address of a prefix, as numbers.
fn bounds(net: &IpNet) -> (u128, u128) {
    (addr_to_u128(net.network()), addr_to_u128(net.broadcast()))
}

/// The addresses of `subnet` reserved by its shape alone.
fn structural_reservations(subnet: &IpNet) -> Vec<(u128, ReservedKind)> {
    let (lo, hi) = bounds(subnet);
    match subnet {
        IpNet::V4(n) if n.prefix_len() <= 30 => vec![
            (lo, ReservedKind::NetworkAddress),
            (hi, ReservedKind::BroadcastAddress),
        ],
        IpNet::V6(n) if n.prefix_len() <= 126 => vec![(lo, ReservedKind::AnycastAddress)],
        _ => Vec::new(),
    }
}

/// Docker's validateIpamConfig for one subnet, then this crate's own checks.
/// Returns the reserved addresses of the pool.
pub(crate) fn validate(spec: &PoolSpec) -> Result<BTreeMap<u128, ReservedKind>> {
    let subnet = &spec.subnet.value;
    let s = &spec.subnet.text;
    let family = Family::of_net(subnet);
    if *subnet != subnet.trunc() {
        return Err(Error::SubnetHostBits {
            subnet: s.clone(),
            expected: subnet.trunc().to_string(),
        });
    }
    check_range(spec, family)?;
    if let Some(gw) = &spec.gateway {
        if !subnet.contains(&gw.value) {
            return Err(Error::GatewayOutsideSubnet {
                gateway: gw.text.clone(),
                subnet: s.clone(),
            });
        }
    }
    for (name, aux) in &spec.aux {
        if !subnet.contains(&aux.value) {
            return Err(Error::AuxOutsideSubnet {
                name: name.clone(),
                ip: aux.text.clone(),
                subnet: s.clone(),
            });
        }
    }
    if subnet.prefix_len() == 0 {
        return Err(Error::PoolEmpty(family));
    }

    reservations(spec)
}

/// The ip-range: of the subnet's family, no bigger than it, without host bits, inside it.
fn check_range(spec: &PoolSpec, family: Family) -> Result<()> {
    let (subnet, s) = (&spec.subnet.value, &spec.subnet.text);
    if let Some(range) = &spec.ip_range {
        let r = &range.value;
        if Family::of_net(r) != family {
            return Err(Error::RangeFamilyMismatch {
                range: range.text.clone(),
                family,
            });
        }
        if r.prefix_len() < subnet.prefix_len() {
            return Err(Error::RangeTooBig {
                range: range.text.clone(),
                subnet: s.clone(),
            });
        }
        if *r != r.trunc() {
            return Err(Error::RangeHostBits {
                range: range.text.clone(),
                expected: r.trunc().to_string(),
            });
        }
        if !subnet.contains(r) {
            return Err(Error::RangeOutsideSubnet {
                range: range.text.clone(),
                subnet: s.clone(),
            });
        }
    }
    Ok(())
}

/// The pool's reserved addresses: the structural ones, the gateway and each auxiliary
/// address, none of them twice.
fn reservations(spec: &PoolSpec) -> Result<BTreeMap<u128, ReservedKind>> {
    let (subnet, s) = (&spec.subnet.value, &spec.subnet.text);
    let mut reserved: BTreeMap<u128, ReservedKind> =
        structural_reservations(subnet).into_iter().collect();
    if let Some(gw) = &spec.gateway {
        let a = addr_to_u128(gw.value);
        if let Some(what) = reserved.get(&a) {
            return Err(Error::GatewayReserved {
                gateway: gw.text.clone(),
                what: what.clone(),
                subnet: s.clone(),
            });
        }
        reserved.insert(a, ReservedKind::Gateway);
    }
    for (name, aux) in &spec.aux {
        let a = addr_to_u128(aux.value);
        match reserved.get(&a) {
            None => {}
            Some(ReservedKind::Gateway) => {
                return Err(Error::AuxIsGateway {
                    name: name.clone(),
                    ip: aux.text.clone(),
                    subnet: s.clone(),
                })
            }
            Some(ReservedKind::Aux(other)) => {
                return Err(Error::AuxDuplicateAddress {
                    a: other.clone(),
                    b: name.clone(),
                    ip: aux.text.clone(),
                })
            }
            Some(what) => {
                return Err(Error::AuxReserved {
                    name: name.clone(),
                    ip: aux.text.clone(),
                    what: what.clone(),
                    subnet: s.clone(),
                })
            }
        }
        reserved.insert(a, ReservedKind::Aux(name.clone()));
    }
    Ok(reserved)
}

impl Pool {
    /// A pool with nothing allocated, after validating the configuration:
    ///
    /// * the subnet has no host bits set and is not `/0`;
    /// * the ip-range is of the same family, no bigger than the subnet,
    ///   has no host bits set and lies inside the subnet;
    /// * the gateway and the auxiliary addresses lie inside the subnet, are
    ///   not the network, broadcast or subnet-router anycast address, and
    ///   are pairwise distinct.
    ///
    /// A gateway in a /32 (or /128) subnet is accepted although it leaves no
    /// address to hand out, as Docker does.
    ///
    /// Messages quote the values as `Display` renders them; use
    /// [`build_pools`](crate::build_pools) for user input.
    pub fn new(
        subnet: IpNet,
        ip_range: Option<IpNet>,
        gateway: Option<IpAddr>,
        aux: BTreeMap<String, IpAddr>,
    ) -> Result<Pool> {
        let spec = PoolSpec {
            subnet: Labeled::of(subnet),
            ip_range: ip_range.map(Labeled::of),
            gateway: gateway.map(Labeled::of),
            aux: aux
                .iter()
                .map(|(name, ip)| (name.clone(), Labeled::of(*ip)))
                .collect(),
        };
        Pool::from_spec(spec)
    }

    /// Validates `spec` and builds the pool.
    pub(crate) fn from_spec(spec: PoolSpec) -> Result<Pool> {
        let reserved = validate(&spec)?;
        let family = Family::of_net(&spec.subnet.value);
        Ok(Pool {
            subnet: spec.subnet.value,
            ip_range: spec.ip_range.map(|r| r.value),
            gateway: spec.gateway.map(|g| g.value),
            aux: spec
                .aux
                .into_iter()
                .map(|(name, ip)| (name, ip.value))
                .collect(),
            start: None,
            end: None,
            allocated: AddrSet::new(family),
            reserved,
        })
    }

    /// Limits dynamic allocation to `start..=end` (either may be absent: the
    /// ip-range's or subnet's own bound applies), as CNI host-local's
    /// `rangeStart` and `rangeEnd`. Both must be addresses of the subnet, in
    /// order, and leave some of the ip-range.
    pub fn with_bounds(mut self, start: Option<IpAddr>, end: Option<IpAddr>) -> Result<Pool> {
        for (what, ip) in [("rangeStart", start), ("rangeEnd", end)] {
            if let Some(ip) = ip {
                if !self.subnet.contains(&ip) {
                    return Err(Error::BoundOutsideSubnet {
                        what,
                        ip,
                        subnet: self.subnet,
                    });
                }
            }
        }
        if let (Some(a), Some(b)) = (start, end) {
            if addr_to_u128(a) > addr_to_u128(b) {
                return Err(Error::BoundsReversed { start: a, end: b });
            }
        }
        self.start = start;
        self.end = end;
        let range = self.dynamic_range();
        if range.start() > range.end() {
            return Err(Error::BoundsOutsideRange {
                range: self.ip_range.unwrap_or(self.subnet),
            });
        }
        Ok(self)
    }

    /// The subnet (host bits zero).
    pub fn subnet(&self) -> IpNet {
        self.subnet
    }

    /// The ip-range dynamic allocation draws from, if one was configured.
    pub fn ip_range(&self) -> Option<IpNet> {
        self.ip_range
    }

    /// The first address dynamic allocation may hand out, if limited.
    pub fn range_start(&self) -> Option<IpAddr> {
        self.start
    }

    /// The last address dynamic allocation may hand out, if limited.
    pub fn range_end(&self) -> Option<IpAddr> {
        self.end
    }

    /// The gateway, if one was configured.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.gateway
    }

    /// The auxiliary addresses, by name.
    pub fn aux(&self) -> &BTreeMap<String, IpAddr> {
        &self.aux
    }

    /// The addresses given to endpoints or reserved statically.
    pub fn allocated(&self) -> &AddrSet {
        &self.allocated
    }

    /// The subnet's family.
    pub fn family(&self) -> Family {
        Family::of_net(&self.subnet)
    }

    /// Whether this is an IPv6 pool.
    pub fn is_v6(&self) -> bool {
        self.family() == Family::V6
    }

    /// The subnet's prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.subnet.prefix_len()
    }

    /// Whether `ip` is in the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.subnet.contains(&ip)
    }

    /// Whether `ip` is allocated.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.allocated.contains_ip(ip)
    }

    /// Why `ip` is reserved, if it is an address of the subnet that is never
    /// handed out.
    pub fn reservation(&self, ip: IpAddr) -> Option<&ReservedKind> {
        if !self.contains(ip) {
            return None;
        }
        self.reserved.get(&addr_to_u128(ip))
    }

    /// Whether `ip` is reserved (network, broadcast or anycast address,
    /// gateway or auxiliary address).
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        self.reservation(ip).is_some()
    }

    /// The number of allocated addresses.
    pub fn allocated_count(&self) -> u128 {
        self.allocated.count()
    }

    /// The addresses dynamic allocation draws from, as numbers.
    fn dynamic_range(&self) -> RangeInclusive<u128> {
        let (lo, hi) = bounds(self.ip_range.as_ref().unwrap_or(&self.subnet));
        let lo = self.start.map_or(lo, |s| lo.max(addr_to_u128(s)));
        let hi = self.end.map_or(hi, |e| hi.min(addr_to_u128(e)));
        lo..=hi
    }

    /// The lowest address of `range` that is neither allocated nor reserved.
    ///
    /// Alternates between the two sets: each round either succeeds or skips
    /// past at least one reserved address, so there are at most
    /// `reserved.len() + 1` rounds of `O(log n)` each.
    fn first_free(&self, range: RangeInclusive<u128>) -> Option<u128> {
        let hi = *range.end();
        let mut candidate = *range.start();
        loop {
            let free = self.allocated.first_free_in(candidate..=hi)?;
            let mut next = free;
            while self.reserved.contains_key(&next) {
                if next == hi {
                    return None;
                }
                next += 1;
            }
            if next == free {
                return Some(free);
            }
            candidate = next;
        }
    }

    /// Hands out the lowest free, non-reserved address of the ip-range (or
    /// of the subnet when there is no ip-range).
    pub fn allocate(&mut self) -> Result<IpAddr> {
        let a = self
            .first_free(self.dynamic_range())
            .ok_or(Error::NoAvailable {
                subnet: self.subnet,
            })?;
        self.allocated.insert(a);
        Ok(u128_to_addr(self.family(), a))
    }

    /// Hands out the first free, non-reserved address at or after the point of the ip-range
    /// (or subnet) that `seed` picks, wrapping round to its start: the lowest one for seed 0.
    /// Hosts that race for one shared pool start apart with different seeds.
    pub fn allocate_spread(&mut self, seed: u64) -> Result<IpAddr> {
        let range = self.dynamic_range();
        let (lo, hi) = (*range.start(), *range.end());
        let start = lo + spread_offset(hi - lo, seed);
        let a = self
            .first_free(start..=hi)
            .or_else(|| {
                (start > lo)
                    .then(|| self.first_free(lo..=start - 1))
                    .flatten()
            })
            .ok_or(Error::NoAvailable {
                subnet: self.subnet,
            })?;
        self.allocated.insert(a);
        Ok(u128_to_addr(self.family(), a))
    }

    /// Allocates `ip` as a static address: it may be anywhere in the subnet
    /// (not only in the ip-range), but must be neither reserved nor
    /// allocated already.
    pub fn reserve(&mut self, ip: IpAddr) -> Result<()> {
        if !self.contains(ip) {
            return Err(Error::OutOfRange {
                ip,
                subnet: self.subnet,
            });
        }
        if let Some(what) = self.reservation(ip) {
            return Err(Error::Reserved {
                ip,
                what: what.clone(),
            });
        }
        if !self.allocated.insert(addr_to_u128(ip)) {
            return Err(Error::AddressInUse(ip));
        }
        Ok(())
    }

    /// Gives `ip` back. Errors with [`Error::OutOfRange`] outside the subnet
    /// and [`Error::NotAllocated`] if it was not allocated.
    pub fn release(&mut self, ip: IpAddr) -> Result<()> {
        release_in(self.subnet, &mut self.allocated, ip)
    }
}

/// Take `ip` out of `allocated`, the allocations of `subnet`.
pub(crate) fn release_in(subnet: IpNet, allocated: &mut AddrSet, ip: IpAddr) -> Result<()> {
    if !subnet.contains(&ip) {
        return Err(Error::OutOfRange { ip, subnet });
    }
    if !allocated.remove(addr_to_u128(ip)) {
        return Err(Error::NotAllocated(ip));
    }
    Ok(())
}

/// `seed / 2^64` of `width` (rounded down), without overflowing a 128-bit width.
pub(crate) fn spread_offset(width: u128, seed: u64) -> u128 {
    let (high, low) = (width >> 64, width & u128::from(u64::MAX));
    high * u128::from(seed) + ((low * u128::from(seed)) >> 64)
}
