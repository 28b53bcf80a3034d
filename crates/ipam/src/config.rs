//! Turning the user's `--subnet`, `--ip-range`, `--gateway` and
//! `--aux-address` strings into pools, with Docker's checks and wording.

use std::collections::HashSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::pool::{Labeled, PoolSpec};
use crate::{Error, Pool, Result};

/// Whether two prefixes share an address (for prefixes, one then contains
/// the other). Host bits are ignored; prefixes of different families never
/// overlap.
pub fn pools_overlap(a: &IpNet, b: &IpNet) -> bool {
    let (a, b) = (a.trunc(), b.trunc());
    a.contains(&b) || b.contains(&a)
}

/// Builds the pools of a network from the user's flags, in the order of
/// `subnets`; `aux` holds `(NAME, IP)` pairs of `--aux-address NAME=IP`.
///
/// Mirrors the docker CLI's `consolidateIpam` (matching every ip-range,
/// gateway and auxiliary address to the subnet containing it), then
/// dockerd's `validateIpamConfig` and pool creation for each subnet, and
/// returns the first error found, worded like Docker's (with clearer
/// messages where Docker's are cryptic, and checks Docker lacks). Checks, in
/// order:
///
/// 1. more ip-ranges or gateways than subnets;
/// 2. each subnet, in order: syntax, then overlap with an earlier subnet;
/// 3. each ip-range, in order: syntax, containing subnet, one per subnet;
/// 4. each gateway likewise (a bare IP address, no prefix length);
/// 5. each auxiliary address, in order: syntax (non-empty name, bare IP),
///    unique name, containing subnet;
/// 6. each subnet, in order: the checks of [`Pool::new`].
///
/// Messages quote the user's strings as given.
pub fn build_pools(
    subnets: &[String],
    ip_ranges: &[String],
    gateways: &[String],
    aux: &[(String, String)],
) -> Result<Vec<Pool>> {
    if ip_ranges.len() > subnets.len() || gateways.len() > subnets.len() {
        return Err(Error::UnmatchedRangeOrGateway);
    }

    let mut specs = subnet_specs(subnets)?;
    for r in ip_ranges {
        let net: IpNet = r
            .parse()
            .map_err(|_| Error::InvalidIpRangeSyntax(r.clone()))?;
        let spec = matching(&mut specs, net.addr())
            .ok_or_else(|| Error::NoMatchingSubnetForRange(r.clone()))?;
        if let Some(existing) = &spec.ip_range {
            return Err(Error::MultipleRanges {
                range: r.clone(),
                existing: existing.text.clone(),
                subnet: spec.subnet.text.clone(),
            });
        }
        spec.ip_range = Some(Labeled {
            value: net,
            text: r.clone(),
        });
    }

    for g in gateways {
        let ip: IpAddr = g
            .parse()
            .map_err(|_| Error::InvalidGatewaySyntax(g.clone()))?;
        let spec =
            matching(&mut specs, ip).ok_or_else(|| Error::NoMatchingSubnetForGateway(g.clone()))?;
        if let Some(existing) = &spec.gateway {
            return Err(Error::MultipleGateways {
                gateway: g.clone(),
                existing: existing.text.clone(),
                subnet: spec.subnet.text.clone(),
            });
        }
        spec.gateway = Some(Labeled {
            value: ip,
            text: g.clone(),
        });
    }

    add_aux(&mut specs, aux)?;
    specs.into_iter().map(Pool::from_spec).collect()
}

/// One spec per subnet, in order; overlapping subnets refused.
fn subnet_specs(subnets: &[String]) -> Result<Vec<PoolSpec>> {
    let mut specs: Vec<PoolSpec> = Vec::with_capacity(subnets.len());
    for s in subnets {
        let net: IpNet = s
            .parse()
            .map_err(|_| Error::InvalidSubnetSyntax(s.clone()))?;
        if let Some(earlier) = specs
            .iter()
            .find(|sp| pools_overlap(&sp.subnet.value, &net))
        {
            return Err(Error::OverlappingSubnets {
                a: earlier.subnet.text.clone(),
                b: s.clone(),
            });
        }
        specs.push(PoolSpec {
            subnet: Labeled {
                value: net,
                text: s.clone(),
            },
            ip_range: None,
            gateway: None,
            aux: Vec::new(),
        });
    }
    Ok(specs)
}

/// Each auxiliary address into the spec of the subnet that holds it; names unique.
fn add_aux(specs: &mut [PoolSpec], aux: &[(String, String)]) -> Result<()> {
    let mut names = HashSet::new();
    for (name, value) in aux {
        let ip: IpAddr = match value.parse() {
            Ok(ip) if !name.is_empty() => ip,
            _ => {
                return Err(Error::InvalidAuxSyntax {
                    name: name.clone(),
                    value: value.clone(),
                })
            }
        };
        if !names.insert(name.as_str()) {
            return Err(Error::DuplicateAuxName(name.clone()));
        }
        let spec =
            matching(specs, ip).ok_or_else(|| Error::NoMatchingSubnetForAux(value.clone()))?;
        spec.aux.push((
            name.clone(),
            Labeled {
                value: ip,
                text: value.clone(),
            },
        ));
    }
    Ok(())
}

/// The spec whose subnet (host bits ignored, as Go's `net.ParseCIDR` does)
/// contains `ip`.
fn matching(specs: &mut [PoolSpec], ip: IpAddr) -> Option<&mut PoolSpec> {
    specs
        .iter_mut()
        .find(|sp| sp.subnet.value.trunc().contains(&ip))
}
