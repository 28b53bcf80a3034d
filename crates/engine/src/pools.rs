//! Address pools as a service others call (Docker's remote IPAM driver): pools are requested
//! before any network exists and addresses without saying for which network, so they live in
//! documents of their own, one per subnet of an address space, on the same allocator and store
//! as every network. Requests for the same subnet share its allocation ([`ipam::SharedSubnet`]):
//! an address is never handed out twice within a subnet. Every change is durable before the
//! answer, so a crash or restart never hands out an address that is held.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{ids, Engine};

/// The address spaces underlay offers: Docker's names for local and global scope.
pub const LOCAL_SPACE: &str = "LocalDefault";
pub const GLOBAL_SPACE: &str = "GlobalDefault";

/// One subnet of an address space and its allocations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDoc {
    pub space: String,
    pub created: String,
    pub subnet: ipam::SharedSubnet,
    /// Cluster-wide: every address is claimed in the cluster store too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster: bool,
    /// The addresses requested (not gateways): the MAC Docker gave with each and, in a
    /// cluster-wide pool, the version of its claim.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<IpAddr, Held>,
}

/// An address a request holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// The endpoint's MAC (Docker's `com.docker.network.endpoint.macaddress`); none for an
    /// auxiliary address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    /// The version of this node's claim in the cluster store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<u64>,
}

/// A pool request's id: `SPACE/SUBNET` or `SPACE/SUBNET/IP-RANGE` (Docker's own form),
/// after `cluster/` for a cluster-wide pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PoolId {
    pub(crate) space: String,
    pub(crate) subnet: IpNet,
    pub(crate) range: Option<IpNet>,
    pub(crate) cluster: bool,
}

impl PoolId {
    fn parse(id: &str) -> Result<Self> {
        let bad = || {
            Error::not_found(format!(
                "unknown pool id {id:?}: expected SPACE/SUBNET or SPACE/SUBNET/IP-RANGE as RequestPool returned it"
            ))
        };
        let (cluster, rest) = match id.strip_prefix(CLUSTER_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, id),
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let (space, subnet, range) = match parts.as_slice() {
            [s, a, l] => (*s, format!("{a}/{l}"), None),
            [s, a, l, ra, rl] => (*s, format!("{a}/{l}"), Some(format!("{ra}/{rl}"))),
            _ => return Err(bad()),
        };
        if !space_ok(space) {
            return Err(bad());
        }
        Ok(PoolId {
            space: space.to_string(),
            subnet: subnet.parse().map_err(|_| bad())?,
            range: range.map(|r| r.parse()).transpose().map_err(|_| bad())?,
            cluster,
        })
    }

    /// The id of a pool document, without a range (which only narrows allocation).
    fn of(doc: &PoolDoc) -> Self {
        PoolId {
            space: doc.space.clone(),
            subnet: doc.subnet.subnet(),
            range: None,
            cluster: doc.cluster,
        }
    }

    fn render(&self) -> String {
        let prefix = if self.cluster { CLUSTER_PREFIX } else { "" };
        match self.range {
            None => format!("{prefix}{}/{}", self.space, self.subnet),
            Some(r) => format!("{prefix}{}/{}/{r}", self.space, self.subnet),
        }
    }
}

/// What a cluster-wide pool's id starts with.
const CLUSTER_PREFIX: &str = "cluster/";

/// The longest address space name taken (Docker's are LocalDefault and GlobalDefault).
const SPACE_MAX: usize = 64;

fn space_ok(space: &str) -> bool {
    !space.is_empty() && space.len() <= SPACE_MAX && !space.contains('/')
}

fn space_dir(space: &str) -> String {
    format!("pools/{}", crate::docs::hex(space))
}

fn pool_key(space: &str, subnet: &IpNet) -> String {
    format!(
        "{}/{}",
        space_dir(space),
        crate::docs::hex(&subnet.to_string())
    )
}

/// The subnet a key of `space_dir` names.
fn subnet_of_key(key: &str) -> Option<IpNet> {
    let h = key.rsplit('/').next()?;
    let bytes = hex::decode(h).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// A pool document's copy: every pool is written twice, so that one damaged or deleted file
/// never recreates a pool empty (and hands out what it held).
fn copy_of(key: &str) -> String {
    format!("pool-copies{}", key.strip_prefix("pools").unwrap_or(key))
}

fn decode_pool(key: &str, bytes: &[u8]) -> Result<PoolDoc> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::store(format!("state document {key} cannot be read: {e}")))
}

/// A pool's document, or its copy where the document is missing or cannot be read; an error
/// naming the document where neither can be read.
fn load_pool(txn: &dyn store::Snapshot, key: &str) -> Result<Option<PoolDoc>> {
    let first = match txn.get(key)? {
        Some(b) => match decode_pool(key, &b) {
            Ok(doc) => return Ok(Some(doc)),
            Err(e) => Some(e),
        },
        None => None,
    };
    let copy = copy_of(key);
    match (txn.get(&copy)?.map(|b| decode_pool(&copy, &b)), first) {
        (Some(Ok(doc)), _) => Ok(Some(doc)),
        (Some(Err(_)) | None, Some(e)) => Err(Error::store(format!(
            "{}; its copy {copy} cannot be read either: repair or remove them, then run `underlay network restore`",
            e
        ))),
        (Some(Err(e)), None) => Err(Error::store(format!(
            "{}, and {key} is missing: repair or remove it, then run `underlay network restore`",
            e
        ))),
        (None, None) => Ok(None),
    }
}

pub(crate) fn save_pool(txn: &mut dyn store::Txn, key: &str, doc: &PoolDoc) -> Result<()> {
    let bytes = serde_json::to_vec(doc)
        .map_err(|e| Error::store(format!("cannot encode pool {}: {e}", doc.subnet.subnet())))?;
    let batch = store::Batch::new(store::Durability::SurvivesPowerLoss)
        .put(key, bytes.clone())
        .put(copy_of(key), bytes);
    Ok(txn.commit(batch)?)
}

/// The copy goes first: a release cut off in between leaves the document, which is read as
/// usual, never a copy that would bring the pool back.
fn delete_pool(txn: &mut dyn store::Txn, key: &str) -> Result<()> {
    let batch = store::Batch::new(store::Durability::SurvivesPowerLoss)
        .delete(copy_of(key))
        .delete(key);
    Ok(txn.commit(batch)?)
}

/// Every pool document's key in `dir` (under `pools/`), those known only by their copy too.
fn pool_keys(txn: &dyn store::Snapshot, dir: &str) -> Result<Vec<String>> {
    let mut keys: std::collections::BTreeSet<String> = txn.keys(dir)?.into_iter().collect();
    for k in txn.keys(&copy_of(dir))? {
        keys.insert(format!(
            "pools{}",
            k.strip_prefix("pool-copies").unwrap_or(&k)
        ));
    }
    Ok(keys.into_iter().collect())
}

pub(crate) fn ipam_error(e: ipam::Error) -> Error {
    match e {
        ipam::Error::AddressInUse(_) | ipam::Error::NoAvailable { .. } => {
            Error::conflict(e.to_string())
        }
        _ => Error::invalid(e.to_string()),
    }
}

fn parse_ip(a: &str) -> Result<IpAddr> {
    a.parse().map_err(|_| {
        Error::invalid(format!(
            "invalid address {a:?}: expected an IP address, e.g. 172.16.86.10"
        ))
    })
}

/// A MAC as Docker gives it, in the form the pool records keep (lower case).
fn parse_mac(m: &str) -> Result<String> {
    m.parse::<crate::Mac>().map(|m| m.to_string()).map_err(|_| {
        Error::invalid(format!(
            "invalid MAC address {m:?}: expected six hexadecimal bytes, e.g. 02:42:ac:10:56:02"
        ))
    })
}

fn with_prefix(ip: IpAddr, id: &PoolId) -> Result<IpNet> {
    IpNet::new(ip, id.subnet.prefix_len()).map_err(|e| Error::invalid(e.to_string()))
}

/// A pool request's subnet and ip-range, checked with Docker's wording.
fn check_request(
    space: &str,
    pool: &str,
    sub_pool: &str,
    v6: bool,
) -> Result<(IpNet, Option<IpNet>)> {
    if !space_ok(space) {
        let shown: String = space.chars().take(SPACE_MAX + 1).collect();
        return Err(Error::invalid(format!(
            "invalid address space {shown:?}{}: use {LOCAL_SPACE} or {GLOBAL_SPACE}",
            if space.len() > SPACE_MAX {
                "... (too long)"
            } else {
                ""
            }
        )));
    }
    if pool.is_empty() {
        return Err(Error::invalid(
            "underlay's IPAM does not pick subnets on a physical network: give the network a --subnet, e.g. --subnet 172.16.86.0/24 --gateway 172.16.86.1",
        ));
    }
    let ranges: Vec<String> = [sub_pool]
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let built = ipam::build_pools(&[pool.to_string()], &ranges, &[], &[])?;
    let subnet = built[0].subnet();
    if subnet.addr().is_ipv6() != v6 {
        return Err(Error::invalid(format!(
            "invalid pool request: {pool} is not an {} subnet",
            if v6 { "IPv6" } else { "IPv4" }
        )));
    }
    Ok((subnet, built[0].ip_range()))
}

/// The IPAM driver's calls (Docker's RequestPool, ReleasePool, RequestAddress,
/// ReleaseAddress): [`Engine::pools`].
pub struct Pools<'a> {
    store: &'a dyn store::Store,
    pub(crate) cluster: Option<&'a crate::cluster::Cluster>,
}

impl Engine {
    /// The address pools as a service, beside the networks.
    pub fn pools(&self) -> Pools<'_> {
        Pools {
            store: &*self.store,
            cluster: self.cluster.as_deref(),
        }
    }
}

impl Pools<'_> {
    /// A pool for `pool` (a subnet), narrowed to `sub_pool` (an ip-range) when not empty, in
    /// address space `space`: its id and subnet. The same subnet asked for again is shared;
    /// a subnet overlapping another one of the space is refused. With a cluster store the
    /// pool is cluster-wide (shared by every node asking for the same subnet) unless
    /// `scope` says local; without one, `scope` global is refused.
    pub fn request_pool(
        &self,
        space: &str,
        pool: &str,
        sub_pool: &str,
        v6: bool,
        scope: Option<crate::cluster::Scope>,
    ) -> Result<(String, IpNet)> {
        let (subnet, range) = check_request(space, pool, sub_pool, v6)?;
        let cluster = self.scoped(scope)?;
        let mut txn = self.store.begin()?;
        for key in pool_keys(&*txn, &space_dir(space))? {
            let Some(other) = subnet_of_key(&key) else {
                continue;
            };
            if other != subnet && ipam::pools_overlap(&other, &subnet) {
                return Err(Error::conflict(format!(
                    "invalid pool request: Pool overlaps with other one on this address space: {subnet} overlaps {other}, which is in use; networks sharing a subnet must give it exactly"
                )));
            }
        }
        let key = pool_key(space, &subnet);
        let mut doc = match load_pool(&*txn, &key)? {
            Some(d) => d,
            None => PoolDoc {
                space: space.to_string(),
                created: ids::now_rfc3339(),
                subnet: ipam::SharedSubnet::new(subnet).map_err(ipam_error)?,
                cluster: cluster.is_some(),
                held: BTreeMap::new(),
            },
        };
        if doc.cluster != cluster.is_some() {
            let (has, asked) = if doc.cluster {
                ("global", "local")
            } else {
                ("local", "global")
            };
            return Err(Error::conflict(format!(
                "invalid pool request: pool {subnet} is requested on this host with scope {has} already; a network asking for it with scope {asked} must use another subnet"
            )));
        }
        doc.subnet.add_view(range).map_err(ipam_error)?;
        if let Some(c) = cluster {
            c.join_pool(space, subnet)?;
        }
        save_pool(&mut *txn, &key, &doc)?;
        let id = PoolId {
            space: space.to_string(),
            subnet,
            range,
            cluster: cluster.is_some(),
        };
        Ok((id.render(), subnet))
    }

    /// The cluster store a pool of `scope` is shared through, if any.
    fn scoped(
        &self,
        scope: Option<crate::cluster::Scope>,
    ) -> Result<Option<&crate::cluster::Cluster>> {
        use crate::cluster::Scope;
        match (scope, self.cluster) {
            (Some(Scope::Local), _) => Ok(None),
            (Some(Scope::Global), None) => Err(Error::invalid(
                "invalid pool request: scope=global needs a cluster store: start `underlay daemon` with --cluster-store etcd://HOST:PORT",
            )),
            (_, c) => Ok(c),
        }
    }

    /// Give a pool request back; the subnet's document goes with its last request (and, for
    /// a cluster-wide pool, this node leaves it). Releasing a pool that is not there succeeds.
    pub fn release_pool(&self, pool_id: &str) -> Result<()> {
        let id = PoolId::parse(pool_id)?;
        let key = pool_key(&id.space, &id.subnet);
        let mut txn = self.store.begin()?;
        let Some(mut doc) = load_pool(&*txn, &key)? else {
            return Ok(());
        };
        if !doc.subnet.remove_view(id.range) {
            return Ok(());
        }
        if !doc.subnet.is_unused() {
            return save_pool(&mut *txn, &key, &doc);
        }
        delete_pool(&mut *txn, &key)?;
        if let (true, Some(c)) = (doc.cluster, self.cluster) {
            // Unreachable: `restore` leaves it later (a pool this node has no record of).
            let _ = c.leave_pool(&id.space, id.subnet);
        }
        Ok(())
    }

    /// An address of the pool: `address` if given (a bare IP, anywhere in the subnet), else
    /// the lowest free one of the pool's range. A gateway may be shared with other requests
    /// for the same subnet. `mac` is the endpoint's (none for a gateway or an auxiliary
    /// address): asked again for the address it holds, the answer is the same. Returned with
    /// the subnet's prefix length.
    pub fn request_address(
        &self,
        pool_id: &str,
        address: Option<&str>,
        gateway: bool,
        mac: Option<&str>,
    ) -> Result<IpNet> {
        let id = PoolId::parse(pool_id)?;
        let wanted = address.map(parse_ip).transpose()?;
        let mac = mac.map(parse_mac).transpose()?;
        let cluster = self.cluster_of(&id)?;
        let key = pool_key(&id.space, &id.subnet);
        let mut txn = self.store.begin()?;
        let mut doc = load_pool(&*txn, &key)?
            .filter(|d| d.subnet.views().iter().any(|(r, _)| *r == id.range))
            .filter(|d| d.cluster == id.cluster)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "unknown pool id {pool_id:?}: no pool request holds it (was it released?)"
                ))
            })?;
        // Asked again for the address this endpoint (its MAC) holds: the same answer.
        if let (Some(ip), Some(m)) = (wanted, &mac) {
            if doc.held.get(&ip).and_then(|h| h.mac.as_ref()) == Some(m) {
                return with_prefix(ip, &id);
            }
        }
        let ip = match (cluster, gateway, wanted, &mac) {
            (Some(c), true, _, _) => self.cluster_gateway(c, &mut doc, &id, wanted)?,
            (Some(c), false, Some(ip), None) => {
                self.cluster_aux(c, &mut doc, &id, ip).map(|()| ip)?
            }
            (Some(c), false, _, _) => {
                self.cluster_address(c, &mut *txn, &mut doc, &id, wanted, mac.clone())?
            }
            (None, true, _, _) => doc.subnet.gateway(wanted, id.range).map_err(ipam_error)?,
            (None, false, w, _) => {
                let ip = match w {
                    Some(ip) => doc.subnet.reserve(ip).map(|()| ip),
                    None => doc.subnet.allocate(id.range),
                }
                .map_err(ipam_error)?;
                doc.held.insert(ip, Held { mac, claim: None });
                ip
            }
        };
        if let Err(e) = save_pool(&mut *txn, &key, &doc) {
            // Claimed but not recorded: given back (restore would find it otherwise).
            let held = doc.held.remove(&ip);
            self.cluster_release(&id, ip, held);
            return Err(e);
        }
        with_prefix(ip, &id)
    }

    /// Give an address back (one hold of a shared gateway), and then its claim. Releasing an
    /// address that is not held succeeds.
    pub fn release_address(&self, pool_id: &str, address: &str) -> Result<()> {
        let id = PoolId::parse(pool_id)?;
        let ip = parse_ip(address.split('/').next().unwrap_or_default()).map_err(|_| {
            Error::invalid(format!(
                "invalid address {address:?}: expected an IP address, e.g. 172.16.86.10"
            ))
        })?;
        let key = pool_key(&id.space, &id.subnet);
        let mut txn = self.store.begin()?;
        let Some(mut doc) = load_pool(&*txn, &key)? else {
            return Ok(());
        };
        match doc.subnet.release(ip) {
            Ok(()) => {}
            Err(ipam::Error::NotAllocated(_)) => return Ok(()),
            Err(e) => return Err(ipam_error(e)),
        }
        let held = if doc.subnet.is_allocated(ip) {
            None // a gateway another request still holds
        } else {
            doc.held.remove(&ip)
        };
        save_pool(&mut *txn, &key, &doc)?;
        drop(txn);
        self.cluster_release(&id, ip, held);
        Ok(())
    }

    /// The id a pool document answers to (every range of it: `release_address` does not look
    /// at the range).
    pub fn id_of(doc: &PoolDoc) -> String {
        PoolId::of(doc).render()
    }

    /// A pool no network of the runtime uses any more (its data lost, or a release it never
    /// sent): every address, gateway hold and request of it given back, and its claims in
    /// the cluster store with them. How many addresses were held.
    pub fn drop_pool(&self, space: &str, subnet: IpNet) -> Result<usize> {
        let key = pool_key(space, &subnet);
        let mut txn = self.store.begin()?;
        let Some(doc) = load_pool(&*txn, &key)? else {
            return Ok(0);
        };
        delete_pool(&mut *txn, &key)?;
        drop(txn);
        let id = PoolId::of(&doc);
        let held = doc.held.len();
        for (ip, h) in doc.held {
            self.cluster_release(&id, ip, Some(h));
        }
        if let (true, Some(c)) = (doc.cluster, self.cluster) {
            let _ = c.leave_pool(space, subnet);
        }
        Ok(held)
    }

    /// The key of a pool id's document.
    #[cfg(test)]
    pub(crate) fn key_of(pool_id: &str) -> String {
        let id = PoolId::parse(pool_id).unwrap();
        pool_key(&id.space, &id.subnet)
    }

    /// Every requested pool, by address space and subnet.
    pub fn list(&self) -> Result<Vec<PoolDoc>> {
        let txn = self.store.snapshot()?;
        let mut out = Vec::new();
        for key in pool_keys(&*txn, "pools")? {
            if let Some(doc) = load_pool(&*txn, &key)? {
                out.push(doc);
            }
        }
        Ok(out)
    }

    /// For `restore`: every pool document that is missing, unreadable or differs from its
    /// copy is written anew from the one that can be read; one that cannot be read at all is
    /// a problem reported (it is left as it is, and requests for its subnet are refused).
    pub(crate) fn restore(
        &self,
        txn: &mut dyn store::Txn,
        report: &mut crate::RestoreReport,
    ) -> Result<()> {
        let mut docs = Vec::new();
        let mut all_read = true;
        for key in pool_keys(&*txn, "pools")? {
            let doc = txn.get(&key)?;
            let copy = txn.get(&copy_of(&key))?;
            // Intact (readable, and its copy the same): read once, kept as it is.
            if doc.is_some() && doc == copy {
                if let Some(Ok(pool)) = doc.as_deref().map(|b| decode_pool(&key, b)) {
                    docs.push((key, pool));
                    continue;
                }
            }
            match load_pool(&*txn, &key) {
                Ok(Some(pool)) => {
                    save_pool(txn, &key, &pool)?;
                    report.lines.push(format!(
                        "pool {} of {}: its document or its copy was missing, unreadable or behind; both written anew from the one that can be read",
                        pool.subnet.subnet(),
                        pool.space
                    ));
                    docs.push((key, pool));
                }
                Ok(None) => {}
                Err(e) => {
                    all_read = false;
                    report.problem(format!("pool {key}: {e}"));
                }
            }
        }
        // A record that cannot be read may hold claims: none is released then.
        if all_read {
            if let Err(e) = self.reconcile_cluster(txn, docs, report) {
                report.problem(format!(
                    "cluster-wide pools: their claims could not be checked: {e}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &tempfile::TempDir) -> Engine {
        let store = store::DirStore::open(dir.path()).unwrap();
        Engine::new(
            std::sync::Arc::new(netlink::FakeNetlink::new()),
            Box::new(store),
        )
    }

    /// One damaged or deleted pool document never recreates its pool empty (its gateway and
    /// addresses handed out again); restore writes it anew from its copy.
    #[test]
    fn a_damaged_pool_document_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(&dir);
        let (id, _) = e
            .pools()
            .request_pool(LOCAL_SPACE, "172.16.86.0/24", "", false, None)
            .unwrap();
        e.pools()
            .request_address(&id, Some("172.16.86.1"), true, None)
            .unwrap();
        assert_eq!(
            e.pools()
                .request_address(&id, None, false, None)
                .unwrap()
                .to_string(),
            "172.16.86.2/24"
        );
        let file = dir.path().join(format!(
            "{}.json",
            pool_key(LOCAL_SPACE, &"172.16.86.0/24".parse().unwrap())
        ));
        for damage in [&b""[..], b"{\"space\": 3}", b"\x00garbage"] {
            std::fs::write(&file, damage).unwrap();
            let e = engine(&dir);
            // Docker asking for the same subnet again (a new network) shares what is held;
            // the write puts the document right.
            let (again, _) = e
                .pools()
                .request_pool(LOCAL_SPACE, "172.16.86.0/24", "", false, None)
                .unwrap();
            e.pools().release_pool(&again).unwrap();
            assert!(e.restore().unwrap().lines.is_empty());
            std::fs::write(&file, damage).unwrap();
            let report = e.restore().unwrap();
            assert!(report.problems.is_empty(), "{report:?}");
            assert!(
                report.lines.iter().any(|l| l.contains("written anew")),
                "{report:?}"
            );
        }
        std::fs::remove_file(&file).unwrap();
        let e = engine(&dir);
        assert_eq!(
            e.pools()
                .request_address(&id, None, false, None)
                .unwrap()
                .to_string(),
            "172.16.86.3/24",
            "neither .1 (the gateway) nor .2 again"
        );
        // Both lost or unreadable: refused naming them, and reported by restore.
        std::fs::write(&file, b"").unwrap();
        std::fs::write(
            dir.path().join(format!(
                "{}.json",
                copy_of(&pool_key(LOCAL_SPACE, &"172.16.86.0/24".parse().unwrap()))
            )),
            b"[",
        )
        .unwrap();
        let e = engine(&dir);
        let err = e
            .pools()
            .request_address(&id, None, false, None)
            .unwrap_err();
        assert!(err.to_string().contains("cannot be read either"), "{err}");
        assert!(e
            .pools()
            .request_pool(LOCAL_SPACE, "172.16.86.0/24", "", false, None)
            .is_err());
        let report = e.restore().unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
    }

    #[test]
    fn docker_ipam_calls_on_the_shared_allocator() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine(&dir);
        let (id, subnet) = e
            .pools()
            .request_pool(
                LOCAL_SPACE,
                "172.16.86.0/24",
                "172.16.86.128/25",
                false,
                None,
            )
            .unwrap();
        assert_eq!(id, "LocalDefault/172.16.86.0/24/172.16.86.128/25");
        assert_eq!(subnet.to_string(), "172.16.86.0/24");
        // No --gateway: the lowest free address of the range, as Docker's default IPAM.
        let gw = e.pools().request_address(&id, None, true, None).unwrap();
        assert_eq!(gw.to_string(), "172.16.86.128/24");
        // --aux-address outside the range is reserved anyway.
        e.pools()
            .request_address(&id, Some("172.16.86.5"), false, None)
            .unwrap();
        assert_eq!(
            e.pools()
                .request_address(&id, None, false, None)
                .unwrap()
                .to_string(),
            "172.16.86.129/24"
        );
        let err = e
            .pools()
            .request_address(&id, Some("172.16.86.5"), false, None)
            .unwrap_err();
        assert_eq!(err.to_string(), "address 172.16.86.5 is already in use");
        // A restart loses nothing: nothing held is handed out again.
        let e = engine(&dir);
        assert_eq!(
            e.pools()
                .request_address(&id, None, false, None)
                .unwrap()
                .to_string(),
            "172.16.86.130/24"
        );
        // The same subnet for another network shares the allocation and the gateway.
        let (id2, _) = e
            .pools()
            .request_pool(LOCAL_SPACE, "172.16.86.0/24", "", false, None)
            .unwrap();
        assert_eq!(id2, "LocalDefault/172.16.86.0/24");
        assert_eq!(
            e.pools()
                .request_address(&id2, Some("172.16.86.128"), true, None)
                .unwrap()
                .to_string(),
            "172.16.86.128/24"
        );
        assert_eq!(
            e.pools()
                .request_address(&id2, None, false, None)
                .unwrap()
                .to_string(),
            "172.16.86.1/24"
        );
        // Overlapping but different subnets are refused; other spaces are separate.
        let err = e
            .pools()
            .request_pool(LOCAL_SPACE, "172.16.0.0/16", "", false, None)
            .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "invalid pool request: Pool overlaps with other one on this address space"
            ),
            "{err}"
        );
        e.pools()
            .request_pool(GLOBAL_SPACE, "172.16.0.0/16", "", false, None)
            .unwrap();
        // Docker's wording for bad input; a subnet is required.
        let err = e
            .pools()
            .request_pool(LOCAL_SPACE, "10.1.2.3/24", "", false, None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid subnet 10.1.2.3/24: it should be 10.1.2.0/24"
        );
        assert!(e
            .pools()
            .request_pool(LOCAL_SPACE, "", "", false, None)
            .unwrap_err()
            .to_string()
            .contains("--subnet"));
        assert!(
            e.pools()
                .request_pool(LOCAL_SPACE, "2001:db8::/64", "", false, None)
                .is_err(),
            "V6 flag"
        );
        assert_eq!(
            e.pools()
                .request_address("nonsense", None, false, None)
                .unwrap_err()
                .kind(),
            crate::Kind::NotFound
        );

        // Release everything: addresses, gateway holds, pools; then nothing is left.
        for a in [
            "172.16.86.5",
            "172.16.86.129",
            "172.16.86.130",
            "172.16.86.1",
        ] {
            e.pools().release_address(&id, a).unwrap();
        }
        e.pools().release_address(&id, "172.16.86.5").unwrap(); // twice is fine
        e.pools().release_address(&id, "172.16.86.128").unwrap();
        assert!(e.pools().list().unwrap()[1]
            .subnet
            .is_allocated("172.16.86.128".parse().unwrap()));
        e.pools().release_address(&id2, "172.16.86.128").unwrap();
        e.pools().release_pool(&id).unwrap();
        e.pools().release_pool(&id2).unwrap();
        e.pools().release_pool(&id2).unwrap();
        e.pools()
            .release_pool("GlobalDefault/172.16.0.0/16")
            .unwrap();
        assert!(e.pools().list().unwrap().is_empty());
    }
}
