//! Pure IP address management with Docker's semantics.
//!
//! This crate does no I/O, reads no clock and uses no randomness: given the
//! same inputs it always makes the same decisions, which makes it easy to
//! store (every type here is serde-serialisable) and to test.
//!
//! * [`AddrSet`] is a run-length encoded set of addresses of one family.
//! * [`Pool`] is one subnet of a network: its optional `--ip-range`,
//!   `--gateway` and `--aux-address`es, and the addresses handed out so far.
//!   Allocation always returns the lowest free address, like Docker's default
//!   IPAM driver, in `O(log n)` of the number of allocated runs, IPv6 /64
//!   included.
//! * [`NetworkIpam`] is the ordered list of pools of one network.
//! * [`SharedSubnet`] is one subnet shared by every request for it, for an IPAM service
//!   asked for pools and addresses without knowing the network (Docker's IPAM API).
//! * [`build_pools`] turns the user's `--subnet`, `--ip-range`, `--gateway`
//!   and `--aux-address` strings into pools, with Docker's checks and wording.
//!
//! # Reserved addresses
//!
//! Some addresses of a subnet are never handed out and never accepted as a
//! static address:
//!
//! * IPv4: the network address and the broadcast address, except in /31 and
//!   /32 subnets (RFC 3021 point-to-point links and host routes), where every
//!   address is usable.
//! * IPv6: the subnet-router anycast address (the first address, host bits
//!   all zero), except in /127 (RFC 6164 point-to-point links) and /128
//!   subnets, where every address is usable.
//! * The gateway and every auxiliary address.

#![forbid(unsafe_code)]

mod config;
mod error;
mod network;
mod pool;
mod set;
mod shared;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use config::{build_pools, pools_overlap};
pub use error::{Error, ReservedKind};
pub use network::NetworkIpam;
pub use pool::Pool;
pub use set::AddrSet;
pub use shared::SharedSubnet;

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An IP address family.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Family {
    /// IPv4.
    #[default]
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(ip: IpAddr) -> Family {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The family of a prefix.
    pub fn of_net(net: &IpNet) -> Family {
        match net {
            IpNet::V4(_) => Family::V4,
            IpNet::V6(_) => Family::V6,
        }
    }

    /// The highest address of the family, as a number.
    pub fn max_value(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    /// The address of this family whose numeric value is `value`, or `None`
    /// if `value` is beyond the family's address space.
    pub fn addr_from_u128(self, value: u128) -> Option<IpAddr> {
        match self {
            Family::V4 => u32::try_from(value)
                .ok()
                .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
            Family::V6 => Some(IpAddr::V6(Ipv6Addr::from(value))),
        }
    }

    /// Docker's lower-case spelling, as in "ipv4 pool is empty".
    pub fn lower(self) -> &'static str {
        match self {
            Family::V4 => "ipv4",
            Family::V6 => "ipv6",
        }
    }
    /// The prefix of every address of the family.
    pub fn everything(self) -> &'static str {
        match self {
            Family::V4 => "0.0.0.0/0",
            Family::V6 => "::/0",
        }
    }
    /// A subnet of the family, for messages.
    pub fn example(self) -> &'static str {
        match self {
            Family::V4 => "172.16.86.0/24",
            Family::V6 => "2001:db8:abc8::/64",
        }
    }
}

impl fmt::Display for Family {
    /// `IPv4` or `IPv6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// The numeric value of an address (IPv4 addresses map to `0..=u32::MAX`).
pub fn addr_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Inverse of [`addr_to_u128`] for a value known to be within `family`'s
/// address space (an invariant of every caller inside this crate).
pub(crate) fn u128_to_addr(family: Family, value: u128) -> IpAddr {
    match family {
        Family::V4 => {
            debug_assert!(value <= Family::V4.max_value());
            IpAddr::V4(Ipv4Addr::from(value as u32))
        }
        Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
    }
}
