//! Errors, worded like Docker's where Docker has a message for the case.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::Family;

/// Why an address of a pool is reserved.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ReservedKind {
    /// The IPv4 network address (host bits all zero).
    NetworkAddress,
    /// The IPv4 broadcast address (host bits all one).
    BroadcastAddress,
    /// The IPv6 subnet-router anycast address (host bits all zero).
    AnycastAddress,
    /// The pool's gateway.
    Gateway,
    /// The auxiliary address of this name.
    Aux(String),
}

impl fmt::Display for ReservedKind {
    /// `network address`, `broadcast address`, `subnet-router anycast
    /// address`, `gateway` or `auxiliary address NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReservedKind::NetworkAddress => f.write_str("network address"),
            ReservedKind::BroadcastAddress => f.write_str("broadcast address"),
            ReservedKind::AnycastAddress => f.write_str("subnet-router anycast address"),
            ReservedKind::Gateway => f.write_str("gateway"),
            ReservedKind::Aux(name) => write!(f, "auxiliary address {name}"),
        }
    }
}

/// A value as the user typed it, in Docker's style (bare), except an empty one, which would
/// vanish from the message.
fn shown(v: &str) -> std::borrow::Cow<'_, str> {
    if v.is_empty() {
        "\"\" (empty)".into()
    } else {
        v.into()
    }
}

/// Everything that can go wrong in this crate.
///
/// Configuration errors carry the user's text as given (fields of type
/// `String`); runtime errors carry typed addresses.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum Error {
    // ----- consolidation of the command-line flags (docker CLI) -----
    /// More `--ip-range`s or `--gateway`s than `--subnet`s.
    #[error("every ip-range or gateway must have a corresponding subnet")]
    UnmatchedRangeOrGateway,
    /// A `--subnet` that is not a prefix.
    #[error("invalid subnet {}: expected an IPv4 or IPv6 prefix in CIDR notation, e.g. 172.16.86.0/24 or 2001:db8::/64", shown(.0))]
    InvalidSubnetSyntax(String),
    /// An `--ip-range` that is not a prefix.
    #[error("invalid ip-range {}: expected an IPv4 or IPv6 prefix in CIDR notation, e.g. 172.16.86.128/25 or 2001:db8::/80", shown(.0))]
    InvalidIpRangeSyntax(String),
    /// A `--gateway` that is not a bare IP address.
    #[error("invalid gateway {}: expected an IP address, e.g. 172.16.86.1", shown(.0))]
    InvalidGatewaySyntax(String),
    /// An `--aux-address` that is not `NAME=IP`.
    #[error("invalid auxiliary address {name}={value}: expected NAME=IP with an IP address")]
    InvalidAuxSyntax {
        /// The name part as given.
        name: String,
        /// The address part as given.
        value: String,
    },
    /// Two subnets overlap (one contains the other).
    #[error("multiple overlapping subnet configuration is not supported: {a} and {b} overlap")]
    OverlappingSubnets {
        /// The first subnet.
        a: String,
        /// The second subnet.
        b: String,
    },
    /// No subnet contains this ip-range.
    #[error("no matching subnet for range {0}")]
    NoMatchingSubnetForRange(String),
    /// Two ip-ranges in one subnet.
    #[error(
        "cannot configure multiple ranges ({range}, {existing}) on the same subnet ({subnet})"
    )]
    MultipleRanges {
        /// The second range.
        range: String,
        /// The range already matched to the subnet.
        existing: String,
        /// The subnet.
        subnet: String,
    },
    /// No subnet contains this gateway.
    #[error("no matching subnet for gateway {0}")]
    NoMatchingSubnetForGateway(String),
    /// Two gateways in one subnet.
    #[error(
        "cannot configure multiple gateways ({gateway}, {existing}) for the same subnet ({subnet})"
    )]
    MultipleGateways {
        /// The second gateway.
        gateway: String,
        /// The gateway already matched to the subnet.
        existing: String,
        /// The subnet.
        subnet: String,
    },
    /// No subnet contains this auxiliary address.
    #[error("no matching subnet for aux-address {0}")]
    NoMatchingSubnetForAux(String),
    /// The same auxiliary address name given twice.
    #[error("duplicate auxiliary address name {0}")]
    DuplicateAuxName(String),

    // ----- validation of one pool (dockerd's validateIpamConfig and more) -----
    /// The subnet has host bits set.
    #[error("invalid subnet {subnet}: it should be {expected}")]
    SubnetHostBits {
        /// The subnet as given.
        subnet: String,
        /// The subnet with host bits cleared.
        expected: String,
    },
    /// The subnet is `0.0.0.0/0` or `::/0` (Docker's words, then what to give instead).
    #[error("{} pool is empty: subnet {} is the whole address space; give the LAN's own prefix, e.g. {}", .0.lower(), .0.everything(), .0.example())]
    PoolEmpty(Family),
    /// A `rangeStart`/`rangeEnd` outside the subnet.
    #[error("{what} {ip} not in network {subnet}")]
    BoundOutsideSubnet {
        /// `rangeStart` or `rangeEnd`.
        what: &'static str,
        /// The address.
        ip: IpAddr,
        /// The subnet.
        subnet: IpNet,
    },
    /// `rangeStart` after `rangeEnd`.
    #[error("rangeStart {start} is after rangeEnd {end}")]
    BoundsReversed {
        /// The start.
        start: IpAddr,
        /// The end.
        end: IpAddr,
    },
    /// `rangeStart`..`rangeEnd` leaves nothing of the ip-range.
    #[error("rangeStart and rangeEnd leave no address of {range} to hand out")]
    BoundsOutsideRange {
        /// The ip-range or subnet.
        range: IpNet,
    },
    /// The ip-range is not of the subnet's family.
    #[error("invalid ip-range {range}: parent subnet is an {family} block")]
    RangeFamilyMismatch {
        /// The ip-range as given.
        range: String,
        /// The subnet's family.
        family: Family,
    },
    /// The ip-range is a bigger block than the subnet.
    #[error("invalid ip-range {range}: CIDR block is bigger than its parent subnet {subnet}")]
    RangeTooBig {
        /// The ip-range as given.
        range: String,
        /// The subnet as given.
        subnet: String,
    },
    /// The ip-range has host bits set.
    #[error("invalid ip-range {range}: it should be {expected}")]
    RangeHostBits {
        /// The ip-range as given.
        range: String,
        /// The ip-range with host bits cleared.
        expected: String,
    },
    /// The ip-range is not inside the subnet.
    #[error("invalid ip-range {range}: parent subnet {subnet} doesn't contain ip-range")]
    RangeOutsideSubnet {
        /// The ip-range as given.
        range: String,
        /// The subnet as given.
        subnet: String,
    },
    /// The gateway is not inside the subnet (or of another family).
    #[error("invalid gateway {gateway}: parent subnet {subnet} doesn't contain this address")]
    GatewayOutsideSubnet {
        /// The gateway as given.
        gateway: String,
        /// The subnet as given.
        subnet: String,
    },
    /// An auxiliary address is not inside the subnet (or of another family).
    /// Like Docker, the message names the auxiliary address by its name.
    #[error(
        "invalid auxiliary address {name}: parent subnet {subnet} doesn't contain this address"
    )]
    AuxOutsideSubnet {
        /// The name of the auxiliary address.
        name: String,
        /// The address as given.
        ip: String,
        /// The subnet as given.
        subnet: String,
    },
    /// The gateway is the network, broadcast or subnet-router anycast address.
    #[error("invalid gateway {gateway}: it is the {what} of {subnet}")]
    GatewayReserved {
        /// The gateway as given.
        gateway: String,
        /// Which reserved address it is.
        what: ReservedKind,
        /// The subnet as given.
        subnet: String,
    },
    /// An auxiliary address is the network, broadcast or anycast address.
    #[error("invalid auxiliary address {name}={ip}: it is the {what} of {subnet}")]
    AuxReserved {
        /// The name of the auxiliary address.
        name: String,
        /// The address as given.
        ip: String,
        /// Which reserved address it is.
        what: ReservedKind,
        /// The subnet as given.
        subnet: String,
    },
    /// An auxiliary address is the gateway.
    #[error("invalid auxiliary address {name}={ip}: it is the gateway of {subnet}")]
    AuxIsGateway {
        /// The name of the auxiliary address.
        name: String,
        /// The address as given.
        ip: String,
        /// The subnet as given.
        subnet: String,
    },
    /// Two auxiliary addresses with the same address.
    #[error("auxiliary addresses {a} and {b} both use {ip}")]
    AuxDuplicateAddress {
        /// The first name.
        a: String,
        /// The second name.
        b: String,
        /// The shared address as given for `b`.
        ip: String,
    },

    // ----- runtime -----
    /// The address is already given to an endpoint.
    #[error("address {0} is already in use")]
    AddressInUse(IpAddr),
    /// The address is reserved.
    #[error("address {ip} is reserved ({what})")]
    Reserved {
        /// The address.
        ip: IpAddr,
        /// Why it is reserved.
        what: ReservedKind,
    },
    /// The address is outside the pool's subnet.
    #[error("address {ip} is out of range: it does not belong to subnet {subnet}")]
    OutOfRange {
        /// The address.
        ip: IpAddr,
        /// The pool's subnet.
        subnet: IpNet,
    },
    /// Every usable address of the pool (or of its ip-range) is taken.
    #[error("no available addresses on this pool {subnet}")]
    NoAvailable {
        /// The pool's subnet.
        subnet: IpNet,
    },
    /// Every pool of this family of the network is exhausted. The engine
    /// appends ": NAME (ID)".
    #[error("no available {family} addresses on this network's address pools")]
    NoAvailableOnNetwork {
        /// The family asked for.
        family: Family,
    },
    /// The network has no pool of this family at all.
    #[error("no {family} address pool is configured on this network")]
    NoPool {
        /// The family asked for.
        family: Family,
    },
    /// No pool of the network contains the address.
    #[error("no configured subnet contains IP address {0}")]
    NotInAnySubnet(IpAddr),
    /// Released an address that is not allocated.
    #[error("address {0} is not allocated")]
    NotAllocated(IpAddr),
    /// Stored state that does not satisfy the invariants (on deserialize).
    #[error("invalid stored address pool: {0}")]
    Corrupt(String),
}
