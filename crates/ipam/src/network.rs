//! [`NetworkIpam`]: the pools of one network, tried in order.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{pools_overlap, AddrSet, Error, Family, Pool, Result};

/// The address pools of one network, in the order they were configured.
///
/// Serialises as `{"pools": [...]}`; deserialising re-validates each pool
/// and rejects overlapping subnets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NetworkIpamRepr")]
pub struct NetworkIpam {
    pools: Vec<Pool>,
}

#[derive(Deserialize)]
struct NetworkIpamRepr {
    pools: Vec<Pool>,
}

impl TryFrom<NetworkIpamRepr> for NetworkIpam {
    type Error = Error;

    fn try_from(repr: NetworkIpamRepr) -> Result<Self> {
        for (i, a) in repr.pools.iter().enumerate() {
            if let Some(b) = repr.pools[..i]
                .iter()
                .find(|b| pools_overlap(&a.subnet(), &b.subnet()))
            {
                return Err(Error::Corrupt(format!(
                    "subnets {} and {} overlap",
                    b.subnet(),
                    a.subnet()
                )));
            }
        }
        Ok(NetworkIpam { pools: repr.pools })
    }
}

impl NetworkIpam {
    /// The network's pools, in order. The pools are expected not to overlap
    /// (as [`build_pools`](crate::build_pools) guarantees); if they do,
    /// static addresses go to the first pool containing them.
    pub fn new(pools: Vec<Pool>) -> Self {
        NetworkIpam { pools }
    }

    /// The pools, in order.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// Whether the network has a pool of `family`.
    pub fn has_family(&self, family: Family) -> bool {
        self.pools.iter().any(|p| p.family() == family)
    }

    /// Hands out the lowest free address of the first pool of `family` that
    /// is not exhausted.
    ///
    /// Errors with [`Error::NoAvailableOnNetwork`] when every such pool is
    /// exhausted and [`Error::NoPool`] when there is none.
    pub fn allocate(&mut self, family: Family) -> Result<IpAddr> {
        if !self.has_family(family) {
            return Err(Error::NoPool { family });
        }
        for pool in self.pools.iter_mut().filter(|p| p.family() == family) {
            match pool.allocate() {
                Err(Error::NoAvailable { .. }) => {}
                other => return other,
            }
        }
        Err(Error::NoAvailableOnNetwork { family })
    }

    /// Like [`allocate`](Self::allocate), starting in each pool at the point `seed` picks
    /// (see [`Pool::allocate_spread`]).
    pub fn allocate_spread(&mut self, family: Family, seed: u64) -> Result<IpAddr> {
        if !self.has_family(family) {
            return Err(Error::NoPool { family });
        }
        for pool in self.pools.iter_mut().filter(|p| p.family() == family) {
            match pool.allocate_spread(seed) {
                Err(Error::NoAvailable { .. }) => {}
                other => return other,
            }
        }
        Err(Error::NoAvailableOnNetwork { family })
    }

    /// Allocates the static address `ip` in the pool whose subnet contains
    /// it (see [`Pool::reserve`]).
    pub fn reserve(&mut self, ip: IpAddr) -> Result<()> {
        self.pool_for_mut(ip)
            .ok_or(Error::NotInAnySubnet(ip))?
            .reserve(ip)
    }

    /// Gives `ip` back to the pool whose subnet contains it.
    pub fn release(&mut self, ip: IpAddr) -> Result<()> {
        self.pool_for_mut(ip)
            .ok_or(Error::NotInAnySubnet(ip))?
            .release(ip)
    }

    /// What each pool has handed out, in pool order (kept apart from the configuration by
    /// a store that writes the two at different rates).
    pub fn allocations(&self) -> Vec<AddrSet> {
        self.pools.iter().map(|p| p.allocated().clone()).collect()
    }

    /// The pools as configured, with nothing handed out.
    pub fn without_allocations(&self) -> NetworkIpam {
        let mut out = self.clone();
        for p in &mut out.pools {
            p.allocated = AddrSet::new(p.family());
        }
        out
    }

    /// Replace what the pools have handed out (as [`allocations`](Self::allocations) gave
    /// it). Refused when the number of pools or a family differs, or an address lies outside
    /// its pool's subnet.
    pub fn set_allocations(&mut self, sets: Vec<AddrSet>) -> Result<()> {
        if sets.len() != self.pools.len() {
            return Err(Error::Corrupt(format!(
                "{} allocation sets for {} pools",
                sets.len(),
                self.pools.len()
            )));
        }
        let mut pools = self.pools.clone();
        for (pool, set) in pools.iter_mut().zip(sets) {
            // An empty set does not say its family when stored.
            let set = if set.is_empty() {
                AddrSet::new(pool.family())
            } else {
                set
            };
            if set.family() != pool.family() {
                return Err(Error::Corrupt(format!(
                    "allocations of the wrong family for {}",
                    pool.subnet()
                )));
            }
            for run in set.runs() {
                for edge in [*run.start(), *run.end()] {
                    let ip = crate::u128_to_addr(pool.family(), edge);
                    if !pool.contains(ip) {
                        return Err(Error::Corrupt(format!(
                            "allocated address {ip} outside {}",
                            pool.subnet()
                        )));
                    }
                }
            }
            pool.allocated = set;
        }
        self.pools = pools;
        Ok(())
    }

    /// Whether `ip` is allocated in one of the pools.
    pub fn is_allocated(&self, ip: IpAddr) -> bool {
        self.pool_for(ip).is_some_and(|p| p.is_allocated(ip))
    }

    /// The pool whose subnet contains `ip`.
    pub fn pool_for(&self, ip: IpAddr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.contains(ip))
    }

    fn pool_for_mut(&mut self, ip: IpAddr) -> Option<&mut Pool> {
        self.pools.iter_mut().find(|p| p.contains(ip))
    }
}
