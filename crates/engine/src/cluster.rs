//! The cluster's share, with a cluster store (etcd): what many hosts on one LAN must agree
//! on. The local store keeps what is this host's (endpoints, intents); the cluster store
//! keeps global networks' definitions, each node's registration and one claim per address:
//!
//! ```text
//! nodes/NODE                 registration: its token (which state directory made it)
//! names/HEX(NAME)            a global network's id, by name
//! networks/ID                its definition: the create request every node makes its part from
//! claims/ID/ADDRESS          who holds the address: node, endpoint, container, MAC
//! pools/HEX(SPACE/SUBNET)    a cluster-wide pool of Docker's IPAM: its gateway and auxiliary
//!                            addresses (shared by every node's network on the subnet)
//! pool-users/HEX/NODE        a node that has requested the pool
//! claims/pool-HEX/ADDRESS    who holds an address of the pool
//! ```
//!
//! An address is claimed with create-if-absent in one commit that also expects the node's
//! registration and the network's definition unchanged (so a node an operator forgot, or a
//! network removed meanwhile, claims nothing), and released only at the version this node
//! wrote (a stale release is refused, never deleting another node's claim). No lock is taken
//! and no lease or TTL ever frees an address. Nodes do not queue behind each other: one
//! whose candidate another node took learns the claimed set and tries the next.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use store::{Batch, Durability, Expect, Store, Txn, Version};

use crate::error::{Error, Result};
use crate::model::*;
use crate::CreateRequest;

/// Every commit to the cluster store is durable on a majority of etcd's members.
pub(crate) const DURABLE: Durability = Durability::SurvivesPowerLoss;

/// Where this host's registration is kept in its local store.
const REGISTRATION_KEY: &str = "cluster/registration";

/// How often a commit etcd did not answer (a leader change) is asked again.
const UNANSWERED_RETRIES: usize = 2;

/// How many candidates an allocation tries before it gives up on a pool others keep taking.
pub(crate) const CLAIM_TRIES: usize = 100;

/// How this host proves itself to etcd: its user and password, TLS (the CA and a client
/// certificate and key).
#[derive(Clone, Debug, Default)]
pub struct Access {
    pub user: Option<(String, String)>,
    pub tls: Option<store::EtcdTls>,
}

pub use store::EtcdTls as Tls;

/// The cluster store as this host uses it: the store and this node's name in it.
pub struct Cluster {
    store: Box<dyn Store>,
    node: String,
}

/// A network's scope, as Docker names it: `local` (this host's) or `global` (defined in the
/// cluster store, used by every node).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    #[default]
    Local,
    Global,
}

impl Scope {
    pub fn name(self) -> &'static str {
        match self {
            Scope::Local => "local",
            Scope::Global => "global",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "local" | "" => Ok(Scope::Local),
            "global" => Ok(Scope::Global),
            other => Err(Error::invalid(format!(
                "invalid scope {other:?}: expected local or global (swarm scope is Docker's own)"
            ))),
        }
    }
}

/// A global network's definition: the create request as its creator gave it, its id and
/// when and where it was created. Every node makes its own part (its parent link, its
/// record) from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Definition {
    pub id: String,
    pub created: String,
    pub created_by: String,
    pub request: CreateRequest,
}

impl Definition {
    pub(crate) fn of(req: &CreateRequest, id: &str, created: &str, node: &str) -> Self {
        Definition {
            id: id.to_string(),
            created: created.to_string(),
            created_by: node.to_string(),
            request: CreateRequest {
                scope: Scope::Global,
                ..req.clone()
            },
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.request.name
    }

    /// The request this node creates its part of the network with.
    pub(crate) fn request(&self) -> CreateRequest {
        CreateRequest {
            id: Some(self.id.clone()),
            scope: Scope::Global,
            ..self.request.clone()
        }
    }
}

/// Who holds an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimHolder {
    pub node: String,
    pub endpoint: String,
    /// The container (or namespace) as its node shows it.
    pub container: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<String>,
    pub since: String,
}

/// A node's registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct NodeDoc {
    name: String,
    /// Made by the state directory that registered it: two hosts given one node name are
    /// told apart by it.
    token: String,
    registered: String,
}

/// A node as `cluster nodes` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    pub registered: String,
    /// When it last claimed an address (RFC 3339), if ever.
    pub last_seen: Option<String>,
    /// How many of its endpoints hold addresses of global networks.
    pub endpoints: usize,
}

/// This host's registration as its local store keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Registration {
    node: String,
    token: String,
    /// The version of `nodes/NODE` it wrote: every claim expects it unchanged.
    version: u64,
}

/// Why a claim was refused.
pub(crate) enum Refused {
    /// Another endpoint (of this node or another) holds this address.
    Taken(IpAddr),
    /// This node's registration changed: an operator forgot the node.
    Fenced,
    /// The network's definition is gone: another node removed the network.
    Removed,
}

/// Where claims are made: the addresses of one global network or of one cluster-wide pool,
/// each claim expecting the document that defines them (`guard`) at `version`.
pub(crate) struct ClaimSpace {
    /// The claims' directory under `claims/`.
    pub(crate) id: String,
    pub(crate) guard: String,
    pub(crate) version: u64,
}

impl ClaimSpace {
    /// The claims of global network `net`, expecting its definition unchanged.
    pub(crate) fn of(net: &Network) -> Result<Self> {
        let version = net.definition_version.ok_or_else(|| {
            Error::store(format!(
                "global network {} has no definition version",
                net.name
            ))
        })?;
        Ok(ClaimSpace {
            id: net.id.clone(),
            guard: network_key(&net.id),
            version,
        })
    }
}

pub(crate) fn claims_dir(net_id: &str) -> String {
    format!("claims/{net_id}")
}

pub(crate) fn claim_key(net_id: &str, addr: IpAddr) -> String {
    format!("claims/{net_id}/{addr}")
}

fn node_key(node: &str) -> String {
    format!("nodes/{node}")
}

fn seen_key(node: &str) -> String {
    format!("seen/{node}")
}

fn network_key(id: &str) -> String {
    format!("networks/{id}")
}

fn name_key(name: &str) -> String {
    format!("names/{}", crate::docs::hex(name))
}

pub(crate) fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("cluster documents serialize")
}

pub(crate) fn parse<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::store(format!("cluster store document {key} cannot be read: {e}")))
}

/// A node name: what `--node` (default: the host name, lowercased) may be.
pub fn check_node_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid node name {name:?}: expected up to 253 lowercase letters, digits, '-', '_' and '.', starting with a letter or digit (a host name)"
        )))
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("store", &self.store.location())
            .field("node", &self.node)
            .finish()
    }
}

impl Cluster {
    /// This host as node `node` of the cluster `store` holds.
    pub fn new(store: Box<dyn Store>, node: &str) -> Result<Self> {
        check_node_name(node)?;
        Ok(Cluster {
            store,
            node: node.to_string(),
        })
    }

    /// The etcd cluster at `url` (`etcd://HOST:PORT[,HOST:PORT...][/ROOT]`), with this host
    /// as `node` (default: its host name, lowercased), reached with `access`.
    pub fn connect(url: &str, node: Option<&str>, access: Access) -> Result<Self> {
        let mut config = store::EtcdConfig::parse(url)?;
        config.user = access.user;
        config.tls = access.tls;
        let node = match node {
            Some(n) => n.to_string(),
            None => std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map_err(|e| {
                    Error::invalid(format!(
                        "cannot read this host's name for its node name ({e}): give one"
                    ))
                })?
                .trim()
                .to_lowercase(),
        };
        check_node_name(&node)?;
        Self::new(Box::new(store::EtcdStore::open(config)?), &node)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub(crate) fn store(&self) -> &dyn Store {
        &*self.store
    }

    pub fn location(&self) -> String {
        self.store.location()
    }

    /// This node's registration: the one the local store keeps, or a new one written to the
    /// cluster store (create-if-absent) and kept. A registration of this node name by
    /// another state directory is refused: two hosts must not share a node name.
    fn registration(&self, local: &mut dyn Txn) -> Result<Registration> {
        if let Some(bytes) = local.get(REGISTRATION_KEY)? {
            let reg: Registration = parse(REGISTRATION_KEY, &bytes)?;
            if reg.node == self.node {
                return Ok(reg);
            }
        }
        self.register(local)
    }

    /// This node's registration checked against the cluster store (what `restore` does
    /// first): made again where an operator forgot the node; whether it was.
    pub(crate) fn ensure_registered(&self, local: &mut dyn Txn) -> Result<bool> {
        let kept = match local.get(REGISTRATION_KEY)? {
            Some(b) => Some(parse::<Registration>(REGISTRATION_KEY, &b)?),
            None => None,
        };
        let now = self.store.snapshot()?.doc(&node_key(&self.node))?;
        match (kept, now) {
            (Some(reg), Some(doc))
                if reg.node == self.node && reg.version == doc.version.to_u64() =>
            {
                Ok(false)
            }
            (kept, now) => {
                let fresh = now.is_none() || kept.is_none();
                self.register(local)?;
                Ok(fresh)
            }
        }
    }

    fn register(&self, local: &mut dyn Txn) -> Result<Registration> {
        let key = node_key(&self.node);
        let mut txn = self.store.begin()?;
        let token = match local.get(REGISTRATION_KEY)? {
            Some(b) => parse::<Registration>(REGISTRATION_KEY, &b)?.token,
            None => crate::ids::endpoint_id()[..32].to_string(),
        };
        if let Some(doc) = txn.doc(&key)? {
            let theirs: NodeDoc = parse(&key, &doc.value)?;
            if theirs.token != token {
                return Err(Error::conflict(format!(
                    "node name {} is registered in {} by another host (or by this host before its state directory was reset): give this host another --node, or, if {} is this host and its old state is gone, run `underlay cluster forget {}` first",
                    self.node,
                    self.store.location(),
                    self.node,
                    self.node
                )));
            }
            return self.keep(local, token, doc.version);
        }
        let value = json(&NodeDoc {
            name: self.node.clone(),
            token: token.clone(),
            registered: crate::ids::now_rfc3339(),
        });
        txn.commit(
            Batch::new(DURABLE)
                .put(key.clone(), value.clone())
                .expect(key.clone(), Expect::Absent),
        )?;
        let version = txn.version_put(&key, &value).ok_or_else(|| {
            Error::store("the cluster store did not tell the registration's version")
        })?;
        self.keep(local, token, version)
    }

    fn keep(&self, local: &mut dyn Txn, token: String, version: Version) -> Result<Registration> {
        let reg = Registration {
            node: self.node.clone(),
            token,
            version: version.to_u64(),
        };
        local.commit(Batch::new(DURABLE).put(REGISTRATION_KEY, json(&reg)))?;
        Ok(reg)
    }

    /// Claim `addrs` for holder `ep` in `space`, all or none: the version of each claim, or
    /// why it was refused. `local` is the host's store (for the registration).
    pub(crate) fn claim(
        &self,
        local: &mut dyn Txn,
        space: &ClaimSpace,
        ep: &ClaimHolder,
        addrs: &[IpAddr],
    ) -> Result<std::result::Result<Vec<Claim>, Refused>> {
        let reg = self.registration(local)?;
        let value = json(ep);
        let mut batch = Batch::new(DURABLE)
            .put(seen_key(&self.node), crate::ids::now_rfc3339())
            .expect(
                node_key(&self.node),
                Expect::Version(Version::from_u64(reg.version)),
            )
            .expect(
                space.guard.clone(),
                Expect::Version(Version::from_u64(space.version)),
            );
        for a in addrs {
            batch.push_put(claim_key(&space.id, *a), value.clone());
            batch = batch.expect(claim_key(&space.id, *a), Expect::Absent);
        }
        let mut txn = self.store.begin()?;
        let mut tries = 0;
        loop {
            match txn.commit(batch.clone()) {
                Ok(()) => break,
                // Unanswered (etcd changing leaders): asked again; the answer may be that the
                // first attempt took the addresses after all, which is recognised below.
                Err(store::Error::Cluster { .. }) if tries < UNANSWERED_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(300 * tries as u64));
                }
                Err(store::Error::Conflict { key, .. }) => {
                    if tries > 0 {
                        if let Some(claims) = self.already_ours(&*txn, &space.id, ep, addrs)? {
                            return Ok(Ok(claims));
                        }
                    }
                    return self.refused(local, space, &key).map(Err);
                }
                Err(e) => return Err(e.into()),
            }
        }
        let claims = addrs
            .iter()
            .map(|a| {
                let v = txn.version_put(&claim_key(&space.id, *a), &value);
                Claim {
                    addr: *a,
                    version: v.map_or(0, Version::to_u64),
                }
            })
            .collect();
        Ok(Ok(claims))
    }

    /// What a claim's conflict on `key` means.
    fn refused(&self, local: &mut dyn Txn, space: &ClaimSpace, key: &str) -> Result<Refused> {
        if key == node_key(&self.node) {
            let _ = local.commit(Batch::new(DURABLE).delete(REGISTRATION_KEY));
            return Ok(Refused::Fenced);
        }
        if key == space.guard {
            return Ok(Refused::Removed);
        }
        match key.rsplit('/').next().and_then(|a| a.parse().ok()) {
            Some(a) => Ok(Refused::Taken(a)),
            None => Err(Error::store(format!("unexpected conflict on {key}"))),
        }
    }

    /// The claims of `addrs`, if every one is this endpoint's already (an attempt whose
    /// answer was lost took them).
    fn already_ours(
        &self,
        snap: &dyn store::Snapshot,
        net_id: &str,
        ep: &ClaimHolder,
        addrs: &[IpAddr],
    ) -> Result<Option<Vec<Claim>>> {
        let mut claims = Vec::new();
        for a in addrs {
            let key = claim_key(net_id, *a);
            let Some(doc) = snap.doc(&key)? else {
                return Ok(None);
            };
            let holder: ClaimHolder = parse(&key, &doc.value)?;
            if holder.node != self.node || holder.endpoint != ep.endpoint {
                return Ok(None);
            }
            claims.push(Claim {
                addr: *a,
                version: doc.version.to_u64(),
            });
        }
        Ok(Some(claims))
    }

    /// Give back the claims an endpoint held, each only at the version it was made with: one
    /// that changed since is another's now and stays. What cannot be reached is an error (the
    /// caller keeps it to retry).
    pub(crate) fn release(&self, net_id: &str, claims: &[Claim]) -> Result<()> {
        let mut txn = self.store.begin()?;
        for c in claims {
            let key = claim_key(net_id, c.addr);
            let batch = Batch::new(DURABLE)
                .delete(key.clone())
                .expect(key, Expect::Version(Version::from_u64(c.version)));
            // Asked again once when unanswered: a refusal then means it went the first time.
            let outcome = match txn.commit(batch.clone()) {
                Err(store::Error::Cluster { .. }) => txn.commit(batch),
                other => other,
            };
            match outcome {
                Ok(()) | Err(store::Error::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Release this node's claim of `addr` (one no endpoint of this node holds), at the
    /// version it has now, and only if it is still this node's.
    pub(crate) fn release_orphan(&self, net_id: &str, addr: IpAddr) -> Result<()> {
        let key = claim_key(net_id, addr);
        let mut txn = self.store.begin()?;
        let Some(doc) = txn.doc(&key)? else {
            return Ok(());
        };
        if parse::<ClaimHolder>(&key, &doc.value)?.node != self.node {
            return Ok(());
        }
        let batch = Batch::new(DURABLE)
            .delete(key.clone())
            .expect(key, Expect::Version(doc.version));
        match txn.commit(batch) {
            Ok(()) | Err(store::Error::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every registered node, with when it was last seen and its endpoints, sorted by name.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>> {
        let snap = self.store.snapshot()?;
        let mut eps: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for (_, _, holder) in self.all_claims(&*snap)? {
            eps.entry(holder.node).or_default().insert(holder.endpoint);
        }
        let mut out = Vec::new();
        for (key, bytes) in snap.list("nodes")? {
            let doc: NodeDoc = parse(&key, &bytes)?;
            let seen = snap.get(&seen_key(&doc.name))?;
            out.push(NodeInfo {
                endpoints: eps.get(&doc.name).map_or(0, |e| e.len()),
                last_seen: seen.map(|b| String::from_utf8_lossy(&b).into_owned()),
                registered: doc.registered,
                name: doc.name,
            });
        }
        Ok(out)
    }

    /// Every claim of every network: (network id, address, holder).
    pub(crate) fn all_claims(
        &self,
        snap: &dyn store::Snapshot,
    ) -> Result<Vec<(String, IpAddr, ClaimHolder)>> {
        let ids: std::collections::BTreeSet<String> = snap
            .keys("claims")?
            .iter()
            .filter_map(|k| k.split('/').nth(1).map(str::to_string))
            .collect();
        let mut out = Vec::new();
        for id in ids {
            for (key, bytes) in snap.list(&claims_dir(&id))? {
                if let Some(addr) = key.rsplit('/').next().and_then(|a| a.parse().ok()) {
                    out.push((id.clone(), addr, parse(&key, &bytes)?));
                }
            }
        }
        Ok(out)
    }

    /// An operator's word that node `name` is gone for good: its registration removed and
    /// every address it holds released (each at the version it has, so a claim another node
    /// makes meanwhile stays). How many addresses were released. A node that comes back
    /// claims nothing until `restore` has registered it again and reconciled.
    pub fn forget(&self, name: &str) -> Result<usize> {
        check_node_name(name)?;
        if name == self.node {
            return Err(Error::invalid(format!(
                "this host is node {name}: a node cannot forget itself; run `underlay cluster forget {name}` on another node"
            )));
        }
        let mut txn = self.store.begin()?;
        let registered = txn.get(&node_key(name))?.is_some();
        let theirs: Vec<(String, IpAddr)> = self
            .all_claims(&*txn)?
            .into_iter()
            .filter(|(_, _, h)| h.node == name)
            .map(|(id, a, _)| (id, a))
            .collect();
        if !registered && theirs.is_empty() {
            return Err(Error::not_found(format!(
                "node {name} is not registered in {} and holds no addresses",
                self.store.location()
            )));
        }
        txn.commit(
            Batch::new(DURABLE)
                .delete(node_key(name))
                .delete(seen_key(name)),
        )?;
        let mut released = 0;
        for (id, addr) in theirs {
            let key = claim_key(&id, addr);
            let Some(doc) = txn.doc(&key)? else { continue };
            let batch = Batch::new(DURABLE)
                .delete(key.clone())
                .expect(key, Expect::Version(doc.version));
            match txn.commit(batch) {
                Ok(()) => released += 1,
                Err(store::Error::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(released)
    }

    /// Who holds each claimed address of network `net_id`.
    pub(crate) fn claims(&self, net_id: &str) -> Result<BTreeMap<IpAddr, ClaimHolder>> {
        let snap = self.store.snapshot()?;
        let mut out = BTreeMap::new();
        for (key, bytes) in snap.list(&claims_dir(net_id))? {
            let Some(addr) = key.rsplit('/').next().and_then(|a| a.parse().ok()) else {
                continue;
            };
            out.insert(addr, parse(&key, &bytes)?);
        }
        Ok(out)
    }

    /// The addresses of network `net_id` that are claimed (keys only: cheap for a big pool).
    pub(crate) fn claimed(&self, net_id: &str) -> Result<Vec<IpAddr>> {
        let snap = self.store.snapshot()?;
        Ok(snap
            .keys(&claims_dir(net_id))?
            .iter()
            .filter_map(|k| k.rsplit('/').next()?.parse().ok())
            .collect())
    }

    /// Who holds `addr` of network `net_id`, if anyone.
    pub(crate) fn holder(&self, net_id: &str, addr: IpAddr) -> Result<Option<ClaimHolder>> {
        let key = claim_key(net_id, addr);
        let snap = self.store.snapshot()?;
        snap.get(&key)?.map(|b| parse(&key, &b)).transpose()
    }

    /// Publish a global network's definition: its name and id taken cluster-wide, or the
    /// error Docker gives for a name in use. The definition's version, which claims expect.
    pub(crate) fn publish(&self, def: &Definition) -> Result<u64> {
        let (nk, dk) = (name_key(def.name()), network_key(&def.id));
        let value = json(def);
        let mut txn = self.store.begin()?;
        let batch = Batch::new(DURABLE)
            .put(nk.clone(), def.id.clone())
            .put(dk.clone(), value.clone())
            .expect(nk.clone(), Expect::Absent)
            .expect(dk.clone(), Expect::Absent);
        match txn.commit(batch) {
            Ok(()) => {}
            Err(store::Error::Conflict { .. }) => {
                return Err(Error::network_exists(format!(
                    "network with name {} already exists (in {})",
                    def.name(),
                    self.store.location()
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let v = txn.version_put(&dk, &value).ok_or_else(|| {
            Error::store("the cluster store did not tell the definition's version")
        })?;
        Ok(v.to_u64())
    }

    /// The definition of the global network called (or with the id) `key`, with its version.
    pub(crate) fn definition(&self, key: &str) -> Result<Option<(Definition, u64)>> {
        let snap = self.store.snapshot()?;
        let id = match snap.get(&name_key(key))? {
            Some(id) => String::from_utf8_lossy(&id).into_owned(),
            None if crate::ids::is_network_id(key) => key.to_string(),
            None => return Ok(None),
        };
        let dk = network_key(&id);
        match snap.doc(&dk)? {
            Some(doc) => Ok(Some((parse(&dk, &doc.value)?, doc.version.to_u64()))),
            None => Ok(None),
        }
    }

    /// Every global network's definition.
    pub(crate) fn definitions(&self) -> Result<Vec<Definition>> {
        let snap = self.store.snapshot()?;
        snap.list("networks")?
            .iter()
            .map(|(k, b)| parse(k, b))
            .collect()
    }

    /// Remove a global network's definition, only while no node holds an address of it and
    /// the definition is the one `version` names. The holders when some remain.
    pub(crate) fn unpublish(&self, def: &Definition, version: u64) -> Result<()> {
        let (nk, dk) = (name_key(def.name()), network_key(&def.id));
        let mut txn = self.store.begin()?;
        let batch = Batch::new(DURABLE)
            .delete(dk.clone())
            .delete(nk)
            .expect(dk, Expect::Version(Version::from_u64(version)))
            .expect(claims_dir(&def.id), Expect::NoneUnder);
        let committed = txn.commit(batch);
        drop(txn);
        match committed {
            Ok(()) => Ok(()),
            Err(store::Error::Conflict { .. }) => Err(self.in_use(def)),
            Err(e) => Err(e.into()),
        }
    }

    /// The error for a global network some node still has endpoints on, naming the nodes.
    pub(crate) fn in_use(&self, def: &Definition) -> Error {
        let mut nodes: BTreeMap<String, usize> = BTreeMap::new();
        for holder in self.claims(&def.id).unwrap_or_default().into_values() {
            *nodes.entry(holder.node).or_default() += 1;
        }
        let list: Vec<String> = nodes
            .iter()
            .map(|(n, c)| format!("{n} ({c} address{})", if *c == 1 { "" } else { "es" }))
            .collect();
        Error::conflict(format!(
            "error while removing network: network {} id {} has active endpoints on nodes {}: disconnect them there first",
            def.name(),
            def.id,
            if list.is_empty() { "that just attached".to_string() } else { list.join(", ") }
        ))
    }
}
