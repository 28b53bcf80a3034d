//! [`SharedSubnet`]: one subnet's addresses, shared by every pool request for that subnet, as
//! an IPAM service that others call (Docker's remote IPAM API) needs them.
//!
//! Such a service is asked for a pool (a subnet, optionally narrowed to an ip-range) before
//! the network exists, then for gateway, auxiliary and container addresses in it, without
//! being told which network asks. Requests for the same subnet share one allocation: an
//! address is never handed out twice within a subnet, whichever network asks (two networks on
//! different layer-2 segments may use the same subnet; addresses stay unique across them, which
//! is also what hosts sharing a subnet need). Each request may narrow dynamic allocation to its
//! own ip-range. A gateway requested again (the same router for a second network) is shared,
//! counted, and kept until every request has released it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::{AddrSet, Error, Pool, Result};

/// One subnet's allocations and the requests holding it.
///
/// Deserialising checks that every address (allocated or a gateway) lies in the subnet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SharedRepr")]
pub struct SharedSubnet {
    subnet: IpNet,
    /// Requests by ip-range (`None`: the whole subnet), with how many hold each.
    views: Vec<(Option<IpNet>, u32)>,
    /// Every address handed out or reserved, gateways included.
    allocated: AddrSet,
    /// Gateways, with how many requests hold each.
    gateways: BTreeMap<IpAddr, u32>,
}

#[derive(Deserialize)]
struct SharedRepr {
    subnet: IpNet,
    views: Vec<(Option<IpNet>, u32)>,
    allocated: AddrSet,
    gateways: BTreeMap<IpAddr, u32>,
}

impl TryFrom<SharedRepr> for SharedSubnet {
    type Error = Error;

    fn try_from(r: SharedRepr) -> Result<Self> {
        let mut s = SharedSubnet::new(r.subnet)?;
        // A stored set does not say its family when it is empty.
        if !r.allocated.is_empty() {
            if r.allocated.family() != s.allocated.family() {
                return Err(Error::Corrupt(format!(
                    "allocations of the wrong family for {}",
                    r.subnet
                )));
            }
            s.allocated = r.allocated;
        }
        let outside = s
            .allocated
            .runs()
            .flat_map(|run| [*run.start(), *run.end()])
            .map(|v| crate::u128_to_addr(s.allocated.family(), v))
            .chain(r.gateways.keys().copied())
            .find(|ip| !r.subnet.contains(ip));
        if let Some(ip) = outside {
            return Err(Error::Corrupt(format!("address {ip} outside {}", r.subnet)));
        }
        s.views = r.views;
        s.gateways = r.gateways;
        Ok(s)
    }
}

impl SharedSubnet {
    /// A subnet with no requests. Validates it as [`Pool::new`] does (host bits, `/0`).
    pub fn new(subnet: IpNet) -> Result<Self> {
        let pool = Pool::new(subnet, None, None, BTreeMap::new())?;
        Ok(SharedSubnet {
            subnet,
            views: Vec::new(),
            allocated: AddrSet::new(pool.family()),
            gateways: BTreeMap::new(),
        })
    }

    /// The subnet.
    pub fn subnet(&self) -> IpNet {
        self.subnet
    }

    /// The requests holding the subnet: ip-range and count.
    pub fn views(&self) -> &[(Option<IpNet>, u32)] {
        &self.views
    }

    /// The gateways and how many requests hold each.
    pub fn gateways(&self) -> &BTreeMap<IpAddr, u32> {
        &self.gateways
    }

    /// The addresses handed out or reserved.
    pub fn allocated(&self) -> &AddrSet {
        &self.allocated
    }

    /// Whether no request holds the subnet any more.
    pub fn is_unused(&self) -> bool {
        self.views.is_empty()
    }

    /// One more request for the subnet, narrowed to `range` (validated as an `--ip-range`).
    pub fn add_view(&mut self, range: Option<IpNet>) -> Result<()> {
        self.pool(range)?;
        match self.views.iter_mut().find(|(r, _)| *r == range) {
            Some((_, n)) => *n += 1,
            None => self.views.push((range, 1)),
        }
        Ok(())
    }

    /// A request for `range` is given back; false if there was none.
    pub fn remove_view(&mut self, range: Option<IpNet>) -> bool {
        let Some(i) = self.views.iter().position(|(r, _)| *r == range) else {
            return false;
        };
        self.views[i].1 -= 1;
        if self.views[i].1 == 0 {
            self.views.remove(i);
        }
        true
    }

    /// The subnet as a [`Pool`] narrowed to `range`, holding every allocation.
    fn pool(&self, range: Option<IpNet>) -> Result<Pool> {
        let mut pool = Pool::new(self.subnet, range, None, BTreeMap::new())?;
        pool.allocated = self.allocated.clone();
        Ok(pool)
    }

    /// The lowest free address of `range` (or of the subnet), as [`Pool::allocate`].
    pub fn allocate(&mut self, range: Option<IpNet>) -> Result<IpAddr> {
        let mut pool = self.pool(range)?;
        let ip = pool.allocate()?;
        self.allocated = pool.allocated;
        Ok(ip)
    }

    /// A free address of `range` (or of the subnet) that is none of `elsewhere` either (what
    /// other hosts hold): the lowest for `seed` 0, else the first free one from the point
    /// `seed` picks, as [`Pool::allocate_spread`]. Nothing is taken.
    pub fn candidate(
        &self,
        range: Option<IpNet>,
        elsewhere: &[IpAddr],
        seed: u64,
    ) -> Result<IpAddr> {
        let mut pool = self.pool(range)?;
        for ip in elsewhere {
            // Outside the subnet or already held here: nothing more to avoid.
            let _ = pool.reserve(*ip);
        }
        pool.allocate_spread(seed)
    }

    /// Reserve `ip` (a static or auxiliary address): anywhere in the subnet, but not the
    /// network, broadcast or anycast address, a gateway, or an address in use.
    pub fn reserve(&mut self, ip: IpAddr) -> Result<()> {
        if self.gateways.contains_key(&ip) {
            return Err(Error::Reserved {
                ip,
                what: crate::ReservedKind::Gateway,
            });
        }
        let mut pool = self.pool(None)?;
        pool.reserve(ip)?;
        self.allocated = pool.allocated;
        Ok(())
    }

    /// A gateway for a request on `range`: `requested`, or else the subnet's gateway if it has
    /// one already, or else the lowest free address of `range`. A gateway that is already the
    /// subnet's is shared (counted) rather than refused.
    pub fn gateway(&mut self, requested: Option<IpAddr>, range: Option<IpNet>) -> Result<IpAddr> {
        let ip = match requested {
            Some(ip) if self.gateways.contains_key(&ip) => ip,
            Some(ip) => {
                self.reserve(ip)?;
                ip
            }
            None => match self.gateways.keys().next() {
                Some(ip) => *ip,
                None => self.allocate(range)?,
            },
        };
        *self.gateways.entry(ip).or_insert(0) += 1;
        Ok(ip)
    }

    /// Give `ip` back: one hold of a gateway, or the address.
    pub fn release(&mut self, ip: IpAddr) -> Result<()> {
        if let Some(n) = self.gateways.get_mut(&ip) {
            *n -= 1;
            if *n > 0 {
                return Ok(());
            }
            self.gateways.remove(&ip);
        }
        crate::pool::release_in(self.subnet, &mut self.allocated, ip)
    }

    /// Whether `ip` is handed out or reserved.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.allocated.contains_ip(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn requests_share_allocations_and_gateways() {
        let mut s = SharedSubnet::new(net("172.16.86.0/24")).unwrap();
        s.add_view(None).unwrap();
        assert_eq!(s.gateway(None, None).unwrap(), ip("172.16.86.1"));
        assert_eq!(s.allocate(None).unwrap(), ip("172.16.86.2"));
        // A second network on the same subnet with an ip-range: same gateway, unique addresses.
        let r = Some(net("172.16.86.128/25"));
        s.add_view(r).unwrap();
        assert_eq!(s.gateway(None, r).unwrap(), ip("172.16.86.1"));
        assert_eq!(s.gateways()[&ip("172.16.86.1")], 2);
        assert_eq!(s.allocate(r).unwrap(), ip("172.16.86.128"));
        assert_eq!(s.allocate(None).unwrap(), ip("172.16.86.3"));
        // Static and auxiliary addresses anywhere in the subnet, never twice.
        s.reserve(ip("172.16.86.5")).unwrap();
        assert_eq!(
            s.reserve(ip("172.16.86.5")).unwrap_err().to_string(),
            "address 172.16.86.5 is already in use"
        );
        assert!(s.reserve(ip("172.16.86.1")).is_err(), "the gateway");
        assert!(s.reserve(ip("172.16.86.255")).is_err(), "broadcast");
        assert!(s.reserve(ip("172.16.87.1")).is_err(), "outside");
        // The gateway stays until both networks gave it back.
        s.release(ip("172.16.86.1")).unwrap();
        assert!(s.is_allocated(ip("172.16.86.1")));
        s.release(ip("172.16.86.1")).unwrap();
        assert!(!s.is_allocated(ip("172.16.86.1")));
        assert!(s.release(ip("172.16.86.1")).is_err());
        assert!(s.remove_view(r) && s.remove_view(None) && s.is_unused());
        assert!(!s.remove_view(None));
    }

    #[test]
    fn a_candidate_avoids_what_others_hold_and_takes_nothing() {
        let mut s = SharedSubnet::new(net("172.16.86.0/29")).unwrap();
        s.add_view(None).unwrap();
        s.gateway(Some(ip("172.16.86.1")), None).unwrap();
        let elsewhere: Vec<IpAddr> = [
            "172.16.86.2",
            "172.16.86.3",
            "172.16.86.4",
            "172.16.86.5",
            "10.0.0.1",
        ]
        .into_iter()
        .map(ip)
        .collect();
        for seed in [0, 1, 7, u64::MAX] {
            assert_eq!(
                s.candidate(None, &elsewhere, seed).unwrap(),
                ip("172.16.86.6")
            );
        }
        assert!(!s.is_allocated(ip("172.16.86.6")), "nothing taken");
        s.reserve(ip("172.16.86.6")).unwrap();
        assert!(s.candidate(None, &elsewhere, 0).is_err(), "full");
        assert_eq!(s.candidate(None, &[], 0).unwrap(), ip("172.16.86.2"));
    }

    #[test]
    fn a_requested_gateway_is_reserved_or_shared() {
        let mut s = SharedSubnet::new(net("2001:db8::/64")).unwrap();
        assert_eq!(
            s.gateway(Some(ip("2001:db8::10")), None).unwrap(),
            ip("2001:db8::10")
        );
        assert_eq!(
            s.gateway(Some(ip("2001:db8::10")), None).unwrap(),
            ip("2001:db8::10")
        );
        assert_eq!(s.allocate(None).unwrap(), ip("2001:db8::1"));
        assert!(s.gateway(Some(ip("2001:db8::1")), None).is_err(), "in use");
        assert!(s.gateway(Some(ip("2001:db8::")), None).is_err(), "anycast");
        assert!(
            SharedSubnet::new(net("172.16.86.1/24")).is_err(),
            "host bits"
        );
        assert!(
            s.add_view(Some(net("2001:db9::/80"))).is_err(),
            "range outside"
        );
    }

    #[test]
    fn an_ipv6_subnet_survives_the_store() {
        let mut s = SharedSubnet::new(net("2001:db8:abc9::/64")).unwrap();
        s.add_view(None).unwrap();
        let back: SharedSubnet = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        let mut back = back;
        assert_eq!(back.gateway(None, None).unwrap(), ip("2001:db8:abc9::1"));
        assert_eq!(back.allocate(None).unwrap(), ip("2001:db8:abc9::2"));
        let bad = r#"{"subnet":"10.0.0.0/24","views":[],"allocated":["10.0.1.5"],"gateways":{}}"#;
        assert!(serde_json::from_str::<SharedSubnet>(bad).is_err());
    }

    #[test]
    fn exhaustion_is_per_range() {
        let mut s = SharedSubnet::new(net("10.0.0.0/29")).unwrap();
        let r = Some(net("10.0.0.4/30"));
        assert_eq!(s.allocate(r).unwrap(), ip("10.0.0.4"));
        assert_eq!(s.allocate(r).unwrap(), ip("10.0.0.5"));
        assert_eq!(s.allocate(r).unwrap(), ip("10.0.0.6"));
        assert!(matches!(s.allocate(r), Err(Error::NoAvailable { .. })));
        assert_eq!(s.allocate(None).unwrap(), ip("10.0.0.1"));
        let back: SharedSubnet = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
