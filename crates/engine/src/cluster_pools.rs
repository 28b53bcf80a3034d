//! Docker's IPAM pools shared by every node of a cluster store ([`crate::pools`] holds the
//! requests themselves). The same `docker network create --ipam-driver underlay --subnet S
//! --gateway G` made on every host asks each host's daemon for pool S. The pool's
//! definition in the cluster store holds what every node's network on S shares (its
//! gateway and auxiliary addresses): the first node makes it and every other one must
//! agree with it. Each address an endpoint gets is claimed there, one key per address, as
//! a global network's are ([`crate::cluster`]). The local pool document stays this node's
//! record: claim before record, forget before release; `restore` releases a claim of this
//! node's that no record holds and claims again what a record holds without its claim.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use store::{Batch, Expect, Snapshot, Version};

use crate::cluster::{self, ClaimHolder, ClaimSpace, Cluster, Refused, CLAIM_TRIES, DURABLE};
use crate::error::{Error, Result};
use crate::pools::{ipam_error, Held, PoolDoc, PoolId, Pools};

/// A cluster-wide pool's definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PoolDef {
    pub space: String,
    pub subnet: IpNet,
    pub created: String,
    pub created_by: String,
    /// The gateway every node's network on the subnet has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// The auxiliary addresses (`--aux-address`) of every node's network on the subnet.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub aux: BTreeSet<IpAddr>,
}

impl PoolDef {
    /// What no endpoint may take: the gateway and the auxiliary addresses.
    fn shared(&self) -> Vec<IpAddr> {
        self.gateway.iter().chain(&self.aux).copied().collect()
    }
}

fn pool_hex(space: &str, subnet: &IpNet) -> String {
    crate::docs::hex(&format!("{space}/{subnet}"))
}

fn def_key(space: &str, subnet: &IpNet) -> String {
    format!("pools/{}", pool_hex(space, subnet))
}

fn users_dir(space: &str, subnet: &IpNet) -> String {
    format!("pool-users/{}", pool_hex(space, subnet))
}

/// The directory under `claims/` of a pool's addresses (never a network's: those are 64
/// hex digits).
fn claims_id(space: &str, subnet: &IpNet) -> String {
    format!("pool-{}", pool_hex(space, subnet))
}

/// Where a pool's addresses are claimed, expecting its definition at `version`.
fn pool_space(space: &str, subnet: &IpNet, version: u64) -> ClaimSpace {
    ClaimSpace {
        id: claims_id(space, subnet),
        guard: def_key(space, subnet),
        version,
    }
}

/// This node's claim of a pool's `ip` for an endpoint Docker knows only by its MAC.
fn pool_holder(c: &Cluster, ip: IpAddr, mac: Option<String>) -> ClaimHolder {
    ClaimHolder {
        node: c.node().to_string(),
        endpoint: format!("docker-ipam-{ip}"),
        container: "(docker)".to_string(),
        mac,
        since: crate::ids::now_rfc3339(),
    }
}

/// A pool's space and subnet from the hex of a key under `pool-users/`.
fn unhex(h: &str) -> Option<(String, IpNet)> {
    let text = String::from_utf8(hex::decode(h).ok()?).ok()?;
    let (space, subnet) = text.split_once('/')?;
    Some((space.to_string(), subnet.parse().ok()?))
}

/// A shared address: the gateway or an auxiliary one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Share {
    Gateway,
    Aux,
}

impl Cluster {
    /// The pool's definition and its version, if it has one.
    fn pool_def(
        &self,
        snap: &dyn Snapshot,
        space: &str,
        subnet: &IpNet,
    ) -> Result<Option<(PoolDef, u64)>> {
        let key = def_key(space, subnet);
        match snap.doc(&key)? {
            Some(d) => Ok(Some((cluster::parse(&key, &d.value)?, d.version.to_u64()))),
            None => Ok(None),
        }
    }

    /// The pool's definition as it is now; an error when it is gone.
    fn current_def(&self, id: &PoolId) -> Result<(PoolDef, u64)> {
        let snap = self.store().snapshot()?;
        self.pool_def(&*snap, &id.space, &id.subnet)?
            .ok_or_else(|| {
                Error::not_found(format!(
                    "pool {} is no longer defined in {}: run `underlay network restore` on this node",
                    id.subnet,
                    self.location()
                ))
            })
    }

    /// This node joins pool `subnet` of `space`: the definition made where there is none,
    /// and this node recorded among its users. A subnet overlapping another pool of the
    /// space in the cluster store is refused.
    pub(crate) fn join_pool(&self, space: &str, subnet: IpNet) -> Result<()> {
        let dk = def_key(space, &subnet);
        let uk = format!("{}/{}", users_dir(space, &subnet), self.node());
        for _ in 0..CLAIM_TRIES {
            let mut txn = self.store().begin()?;
            for (key, bytes) in txn.list("pools")? {
                let other: PoolDef = cluster::parse(&key, &bytes)?;
                if other.space == space
                    && other.subnet != subnet
                    && ipam::pools_overlap(&other.subnet, &subnet)
                {
                    return Err(Error::conflict(format!(
                        "invalid pool request: Pool overlaps with other one on this address space: {subnet} overlaps {}, which node {} defined in {}; networks sharing a subnet must give it exactly",
                        other.subnet,
                        other.created_by,
                        self.location()
                    )));
                }
            }
            let batch = Batch::new(DURABLE).put(uk.clone(), crate::ids::now_rfc3339());
            let batch = match self.pool_def(&*txn, space, &subnet)? {
                Some((_, v)) => batch.expect(dk.clone(), Expect::Version(Version::from_u64(v))),
                None => {
                    let def = PoolDef {
                        space: space.to_string(),
                        subnet,
                        created: crate::ids::now_rfc3339(),
                        created_by: self.node().to_string(),
                        gateway: None,
                        aux: BTreeSet::new(),
                    };
                    batch
                        .put(dk.clone(), cluster::json(&def))
                        .expect(dk.clone(), Expect::Absent)
                }
            };
            match txn.commit(batch) {
                Ok(()) => return Ok(()),
                Err(store::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(busy(&subnet))
    }

    /// This node leaves the pool; the definition goes with the last node, once no address
    /// of it is claimed.
    pub(crate) fn leave_pool(&self, space: &str, subnet: IpNet) -> Result<()> {
        let mut txn = self.store().begin()?;
        let users = users_dir(space, &subnet);
        txn.commit(Batch::new(DURABLE).delete(format!("{users}/{}", self.node())))?;
        drop(txn);
        self.tidy_pool(space, subnet)
    }

    /// The pool's definition removed if no node uses it and none of its addresses is claimed.
    fn tidy_pool(&self, space: &str, subnet: IpNet) -> Result<()> {
        let mut txn = self.store().begin()?;
        let users = users_dir(space, &subnet);
        let Some((_, v)) = self.pool_def(&*txn, space, &subnet)? else {
            return Ok(());
        };
        let dk = def_key(space, &subnet);
        let batch = Batch::new(DURABLE)
            .delete(dk.clone())
            .expect(dk, Expect::Version(Version::from_u64(v)))
            .expect(users, Expect::NoneUnder)
            .expect(
                cluster::claims_dir(&claims_id(space, &subnet)),
                Expect::NoneUnder,
            );
        match txn.commit(batch) {
            Ok(()) | Err(store::Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `addr` made the pool's gateway or one of its auxiliary addresses, expecting the
    /// definition at `version` and the address unclaimed: false when the definition changed
    /// meanwhile (read it again), an error naming the holder when an endpoint has it.
    fn share(&self, def: &PoolDef, version: u64, addr: IpAddr, what: Share) -> Result<bool> {
        let mut new = def.clone();
        match what {
            Share::Gateway => new.gateway = Some(addr),
            Share::Aux => {
                new.aux.insert(addr);
            }
        }
        let dk = def_key(&def.space, &def.subnet);
        let cid = claims_id(&def.space, &def.subnet);
        let ck = cluster::claim_key(&cid, addr);
        let mut txn = self.store().begin()?;
        let batch = Batch::new(DURABLE)
            .put(dk.clone(), cluster::json(&new))
            .expect(dk.clone(), Expect::Version(Version::from_u64(version)))
            .expect(ck.clone(), Expect::Absent);
        match txn.commit(batch) {
            Ok(()) => Ok(true),
            Err(store::Error::Conflict { key, .. }) if key == ck => {
                Err(self.held_by(&cid, addr, &def.subnet))
            }
            Err(store::Error::Conflict { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Docker's words for an address of a pool that an endpoint holds, with who holds it.
    fn held_by(&self, cid: &str, addr: IpAddr, subnet: &IpNet) -> Error {
        let who = match self.holder(cid, addr) {
            Ok(Some(h)) => match h.mac {
                Some(mac) => format!("held by node {} (MAC {mac})", h.node),
                None => format!("held by node {}", h.node),
            },
            _ => "held by another node".to_string(),
        };
        Error::conflict(format!(
            "Address already in use: {addr} of pool {subnet} is {who}"
        ))
    }
}

/// A cluster-wide pool as `cluster pools` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolInfo {
    pub space: String,
    pub subnet: IpNet,
    pub gateway: Option<IpAddr>,
    pub aux: Vec<IpAddr>,
    pub created_by: String,
    /// The nodes that have requested it.
    pub nodes: Vec<String>,
    /// How many of its addresses are claimed, by node.
    pub claimed: BTreeMap<String, usize>,
}

impl crate::Engine {
    /// Every cluster-wide pool of Docker's IPAM in the cluster store, by subnet.
    pub fn cluster_pools(&self) -> Result<Vec<PoolInfo>> {
        let c = self.cluster("`cluster pools`")?;
        let snap = c.store().snapshot()?;
        let mut claimed: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        for (cid, _, h) in c.all_claims(&*snap)? {
            *claimed.entry(cid).or_default().entry(h.node).or_default() += 1;
        }
        let mut out = Vec::new();
        for (key, bytes) in snap.list("pools")? {
            let def: PoolDef = cluster::parse(&key, &bytes)?;
            let users = snap.keys(&users_dir(&def.space, &def.subnet))?;
            out.push(PoolInfo {
                nodes: users
                    .iter()
                    .filter_map(|k| k.rsplit('/').next().map(str::to_string))
                    .collect(),
                claimed: claimed
                    .remove(&claims_id(&def.space, &def.subnet))
                    .unwrap_or_default(),
                aux: def.aux.iter().copied().collect(),
                space: def.space,
                subnet: def.subnet,
                gateway: def.gateway,
                created_by: def.created_by,
            });
        }
        out.sort_by_key(|p| (p.subnet.addr(), p.subnet.prefix_len()));
        Ok(out)
    }
}

fn busy(subnet: &IpNet) -> Error {
    Error::conflict(format!(
        "pool {subnet}: other nodes kept changing it in {CLAIM_TRIES} tries; try again"
    ))
}

impl Pools<'_> {
    /// The cluster store of a cluster-wide pool; none for a pool of this host's.
    pub(crate) fn cluster_of(&self, id: &PoolId) -> Result<Option<&Cluster>> {
        if !id.cluster {
            return Ok(None);
        }
        self.cluster.map(Some).ok_or_else(|| {
            Error::invalid(format!(
                "pool {} is cluster-wide, but this daemon has no cluster store: start `underlay daemon` with the --cluster-store it was requested with",
                id.subnet
            ))
        })
    }

    /// The gateway of a cluster-wide pool: the one its definition has (a different one
    /// given is refused), else `wanted` or the lowest address free cluster-wide, which
    /// becomes the definition's.
    pub(crate) fn cluster_gateway(
        &self,
        c: &Cluster,
        doc: &mut PoolDoc,
        id: &PoolId,
        wanted: Option<IpAddr>,
    ) -> Result<IpAddr> {
        for _ in 0..CLAIM_TRIES {
            let (def, v) = c.current_def(id)?;
            if let Some(g) = def.gateway {
                if wanted.is_some_and(|w| w != g) {
                    return Err(Error::conflict(format!(
                        "invalid pool request: pool {} has gateway {g} on every node of {}: give --gateway {g}, or use another subnet",
                        id.subnet,
                        c.location()
                    )));
                }
                return doc.subnet.gateway(Some(g), id.range).map_err(ipam_error);
            }
            let g = match wanted {
                Some(w) => {
                    doc.subnet.clone().reserve(w).map_err(ipam_error)?;
                    w
                }
                None => {
                    let claimed = c.claimed(&claims_id(&id.space, &id.subnet))?;
                    doc.subnet
                        .candidate(id.range, &[claimed, def.shared()].concat(), 0)
                        .map_err(ipam_error)?
                }
            };
            if c.share(&def, v, g, Share::Gateway)? {
                return doc.subnet.gateway(Some(g), id.range).map_err(ipam_error);
            }
        }
        Err(busy(&id.subnet))
    }

    /// An auxiliary address of a cluster-wide pool, shared by every node's network.
    pub(crate) fn cluster_aux(
        &self,
        c: &Cluster,
        doc: &mut PoolDoc,
        id: &PoolId,
        ip: IpAddr,
    ) -> Result<()> {
        doc.subnet.clone().reserve(ip).map_err(ipam_error)?;
        for _ in 0..CLAIM_TRIES {
            let (def, v) = c.current_def(id)?;
            if def.gateway == Some(ip) {
                return Err(Error::conflict(format!(
                    "address {ip} is the gateway of pool {} in {}",
                    id.subnet,
                    c.location()
                )));
            }
            if def.aux.contains(&ip) || c.share(&def, v, ip, Share::Aux)? {
                doc.subnet.reserve(ip).map_err(ipam_error)?;
                doc.held.insert(ip, Held::default());
                return Ok(());
            }
        }
        Err(busy(&id.subnet))
    }

    /// An endpoint's address of a cluster-wide pool: `wanted`, or the lowest one free
    /// cluster-wide (after a collision, from a random point of the pool), claimed for this
    /// node and then reserved in `doc` (which the caller saves).
    pub(crate) fn cluster_address(
        &self,
        c: &Cluster,
        local: &mut dyn store::Txn,
        doc: &mut PoolDoc,
        id: &PoolId,
        wanted: Option<IpAddr>,
        mac: Option<String>,
    ) -> Result<IpAddr> {
        if let Some(ip) = wanted {
            doc.subnet.clone().reserve(ip).map_err(ipam_error)?;
        }
        let cid = claims_id(&id.space, &id.subnet);
        let mut seed = 0;
        for _ in 0..CLAIM_TRIES {
            let (def, v) = c.current_def(id)?;
            let ip = match wanted {
                Some(ip) if def.shared().contains(&ip) => {
                    return Err(Error::conflict(format!(
                        "Address already in use: {ip} of pool {} is its gateway or an auxiliary address in {}",
                        id.subnet,
                        c.location()
                    )))
                }
                Some(ip) => ip,
                None => {
                    let claimed = if seed == 0 { Vec::new() } else { c.claimed(&cid)? };
                    doc.subnet
                        .candidate(id.range, &[claimed, def.shared()].concat(), seed)
                        .map_err(ipam_error)?
                }
            };
            let holder = pool_holder(c, ip, mac.clone());
            let space = pool_space(&id.space, &id.subnet, v);
            match c.claim(local, &space, &holder, &[ip])? {
                Ok(claims) => {
                    doc.subnet.reserve(ip).map_err(ipam_error)?;
                    let claim = claims.first().map(|c| c.version);
                    doc.held.insert(ip, Held { mac, claim });
                    return Ok(ip);
                }
                Err(Refused::Taken(a)) if wanted.is_some() => {
                    return Err(c.held_by(&cid, a, &id.subnet))
                }
                Err(Refused::Taken(_)) => seed = crate::ids::random_u64().max(1),
                // The definition changed (a gateway or auxiliary address): read it again.
                Err(Refused::Removed) => {}
                Err(Refused::Fenced) => return Err(crate::global::fenced(c)),
            }
        }
        Err(busy(&id.subnet))
    }

    /// Give back this node's claim of `ip` after its record is gone; one that cannot be
    /// reached is left for `restore` (a claim of this node's that no record holds).
    pub(crate) fn cluster_release(&self, id: &PoolId, ip: IpAddr, held: Option<Held>) {
        let (Some(c), Some(version)) = (self.cluster, held.and_then(|h| h.claim)) else {
            return;
        };
        let claim = crate::model::Claim { addr: ip, version };
        let _ = c.release(&claims_id(&id.space, &id.subnet), &[claim]);
    }

    /// `restore`'s part for cluster-wide pools: a claim of this node's that no pool record
    /// holds is released, a record's address without its claim is claimed again (one
    /// another node holds now is a problem reported), and this node leaves the pools it
    /// holds no record of.
    pub(crate) fn reconcile_cluster(
        &self,
        local: &mut dyn store::Txn,
        docs: Vec<(String, PoolDoc)>,
        report: &mut crate::RestoreReport,
    ) -> Result<()> {
        let Some(c) = self.cluster else {
            return Ok(());
        };
        let mine: BTreeMap<String, (String, PoolDoc)> = docs
            .into_iter()
            .filter(|(_, d)| d.cluster)
            .map(|(k, d)| (claims_id(&d.space, &d.subnet.subnet()), (k, d)))
            .collect();
        if !mine.is_empty() && c.ensure_registered(local)? {
            report
                .lines
                .push(format!("node {} registered in {}", c.node(), c.location()));
        }
        // Read first, then written: the embedded store's snapshot holds its lock.
        let snap = c.store().snapshot()?;
        let claims = c.all_claims(&*snap)?;
        let defs: Vec<PoolDef> = snap
            .list("pools")?
            .iter()
            .map(|(k, b)| cluster::parse(k, b))
            .collect::<Result<_>>()?;
        let users = snap.keys("pool-users")?;
        drop(snap);
        for (cid, addr, h) in claims {
            let held = mine
                .get(&cid)
                .is_some_and(|(_, d)| d.held.contains_key(&addr));
            if cid.starts_with("pool-") && h.node == c.node() && !held {
                c.release_orphan(&cid, addr)?;
                report.lines.push(format!(
                    "pool address {addr}: released in the cluster store, where this node held it without a record (a release that could not reach it, or a crash before the record)"
                ));
            }
        }
        for key in &users {
            let mut parts = key.split('/').skip(1);
            let (Some(h), Some(node)) = (parts.next(), parts.next()) else {
                continue;
            };
            if node != c.node() || mine.contains_key(&format!("pool-{h}")) {
                continue;
            }
            if let Some((space, subnet)) = unhex(h) {
                c.leave_pool(&space, subnet)?;
                report.lines.push(format!(
                    "pool {subnet}: this node left it (it holds no record of it)"
                ));
            }
        }
        for def in defs {
            let used = users
                .iter()
                .any(|k| k.starts_with(&format!("{}/", users_dir(&def.space, &def.subnet))));
            if !used {
                c.tidy_pool(&def.space, def.subnet)?;
            }
        }
        for (cid, (key, doc)) in mine {
            self.reclaim_pool(c, local, &cid, &key, doc, report)?;
        }
        Ok(())
    }

    /// A pool record's addresses claimed again where their claims are missing.
    fn reclaim_pool(
        &self,
        c: &Cluster,
        local: &mut dyn store::Txn,
        cid: &str,
        key: &str,
        mut doc: PoolDoc,
        report: &mut crate::RestoreReport,
    ) -> Result<()> {
        let subnet = doc.subnet.subnet();
        let Some((_, v)) = c.pool_def(&*c.store().snapshot()?, &doc.space, &subnet)? else {
            report.problem(format!(
                "pool {subnet} is no longer defined in {} while this node holds it: its networks should be removed and made again",
                c.location()
            ));
            return Ok(());
        };
        let claims = c.claims(cid)?;
        let space = pool_space(&doc.space, &subnet, v);
        let mut changed = false;
        for (ip, held) in doc.held.iter_mut().filter(|(_, h)| h.claim.is_some()) {
            match claims.get(ip) {
                Some(h) if h.node == c.node() => continue,
                Some(h) => {
                    report.problem(format!(
                        "pool {subnet}: {ip} on this node is claimed by node {}: the address is in use twice on the LAN; remove one of the containers",
                        h.node
                    ));
                    continue;
                }
                None => {}
            }
            let holder = pool_holder(c, *ip, held.mac.clone());
            match c.claim(local, &space, &holder, &[*ip])? {
                Ok(new) => {
                    held.claim = new.first().map(|c| c.version);
                    changed = true;
                    report
                        .lines
                        .push(format!("pool {subnet}: claimed {ip} again"));
                }
                Err(Refused::Fenced) => return Err(crate::global::fenced(c)),
                Err(_) => report.problem(format!(
                    "pool {subnet}: {ip} could not be claimed again: another node took it meanwhile"
                )),
            }
        }
        if changed {
            crate::pools::save_pool(local, key, &doc)?;
        }
        Ok(())
    }
}
