//! [`AddrSet`]: a run-length encoded set of addresses of one family.

use std::fmt;
use std::net::IpAddr;
use std::ops::RangeInclusive;

use rangemap::RangeInclusiveSet;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{addr_to_u128, u128_to_addr, Family};

/// A set of addresses of one family, stored as maximal runs of consecutive
/// addresses (like libnetwork's bit sequences, memory grows with the number
/// of runs, not of addresses).
///
/// Addresses are numbers (`u128`, see [`addr_to_u128`]). Every operation is
/// `O(log n)` in the number of runs; [`count`](AddrSet::count) is `O(1)`.
///
/// It serialises as a JSON list of strings, one per run: `"10.0.0.5"` for a
/// single address, `"10.0.0.2-10.0.0.9"` for a longer run. Deserialising
/// infers the family from the entries (an empty list gives an empty IPv4
/// set; empty sets compare equal whatever their family) and rejects
/// malformed entries, mixed families, reversed and overlapping runs.
#[derive(Clone, Default)]
pub struct AddrSet {
    runs: RangeInclusiveSet<u128>,
    family: Family,
    count: u128,
}

impl AddrSet {
    /// An empty set of `family` addresses.
    pub fn new(family: Family) -> Self {
        AddrSet {
            runs: RangeInclusiveSet::new(),
            family,
            count: 0,
        }
    }

    /// The family whose addresses the set holds.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Adds `addr`; returns whether it was absent.
    ///
    /// # Panics
    ///
    /// If `addr` is beyond the family's address space (above `u32::MAX` for
    /// IPv4): that is a bug in the caller, not bad input.
    pub fn insert(&mut self, addr: u128) -> bool {
        assert!(
            addr <= self.family.max_value(),
            "{addr} is not an {} address",
            self.family
        );
        if self.runs.contains(&addr) {
            return false;
        }
        self.runs.insert(addr..=addr);
        self.count += 1;
        true
    }

    /// Removes `addr`; returns whether it was present.
    pub fn remove(&mut self, addr: u128) -> bool {
        if !self.runs.contains(&addr) {
            return false;
        }
        self.runs.remove(addr..=addr);
        self.count -= 1;
        true
    }

    /// Whether `addr` is in the set.
    pub fn contains(&self, addr: u128) -> bool {
        self.runs.contains(&addr)
    }

    /// Whether the address `ip` is in the set (always false for an address
    /// of the other family).
    pub fn contains_ip(&self, ip: IpAddr) -> bool {
        Family::of(ip) == self.family && self.contains(addr_to_u128(ip))
    }

    /// The lowest address in `range` that is not in the set, if any.
    ///
    /// `O(log n)`: one search for the run holding the start of `range`;
    /// runs are maximal, so the address after it is free.
    pub fn first_free_in(&self, range: RangeInclusive<u128>) -> Option<u128> {
        if range.is_empty() {
            return None;
        }
        self.runs.gaps(&range).next().map(|gap| *gap.start())
    }

    /// The number of maximal runs of consecutive addresses.
    pub fn len_runs(&self) -> usize {
        self.runs.len()
    }

    /// The number of addresses in the set.
    pub fn count(&self) -> u128 {
        self.count
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The runs, in ascending order.
    pub fn runs(&self) -> impl Iterator<Item = RangeInclusive<u128>> + '_ {
        self.runs.iter().cloned()
    }

    /// The lowest address in the set.
    pub fn first(&self) -> Option<u128> {
        self.runs.first().map(|r| *r.start())
    }

    /// The highest address in the set.
    pub fn last(&self) -> Option<u128> {
        self.runs.last().map(|r| *r.end())
    }

    fn render_run(&self, run: &RangeInclusive<u128>) -> String {
        let start = u128_to_addr(self.family, *run.start());
        if run.start() == run.end() {
            start.to_string()
        } else {
            format!("{start}-{}", u128_to_addr(self.family, *run.end()))
        }
    }

    /// The serialised form: one `"A"` or `"A-B"` string per run.
    pub fn to_strings(&self) -> Vec<String> {
        self.runs.iter().map(|r| self.render_run(r)).collect()
    }

    /// Parses the serialised form (see the type's documentation).
    pub fn from_strings<S: AsRef<str>>(entries: &[S]) -> Result<AddrSet, String> {
        let mut set: Option<AddrSet> = None;
        for entry in entries {
            let entry = entry.as_ref();
            let (a, b) = entry.split_once('-').unwrap_or((entry, entry));
            let parse = |s: &str| {
                s.parse::<IpAddr>().map_err(|_| {
                    format!("invalid address run {entry:?}: expected \"IP\" or \"IP-IP\"")
                })
            };
            let (a, b) = (parse(a)?, parse(b)?);
            let family = Family::of(a);
            if Family::of(b) != family {
                return Err(format!(
                    "invalid address run {entry:?}: mixed address families"
                ));
            }
            let set = set.get_or_insert_with(|| AddrSet::new(family));
            if set.family != family {
                return Err(format!(
                    "invalid address run {entry:?}: the set holds {} addresses",
                    set.family
                ));
            }
            let (a, b) = (addr_to_u128(a), addr_to_u128(b));
            if a > b {
                return Err(format!("invalid address run {entry:?}: start is above end"));
            }
            if set.runs.overlaps(&(a..=b)) {
                return Err(format!(
                    "invalid address run {entry:?}: overlaps another run"
                ));
            }
            let count = (b - a)
                .checked_add(1)
                .and_then(|len| set.count.checked_add(len))
                .ok_or_else(|| format!("invalid address run {entry:?}: too many addresses"))?;
            set.runs.insert(a..=b);
            set.count = count;
        }
        Ok(set.unwrap_or_default())
    }
}

impl PartialEq for AddrSet {
    /// Same addresses (and same family unless both are empty).
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count
            && self.runs == other.runs
            && (self.family == other.family || self.is_empty())
    }
}

impl Eq for AddrSet {}

impl fmt::Debug for AddrSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.runs.iter().map(|r| self.render_run(r)))
            .finish()
    }
}

impl Serialize for AddrSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.runs.iter().map(|r| self.render_run(r)))
    }
}

impl<'de> Deserialize<'de> for AddrSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        AddrSet::from_strings(&entries).map_err(D::Error::custom)
    }
}
