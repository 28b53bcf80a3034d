//! How networks and endpoints lie in the store, so that an operation on one endpoint touches a
//! constant amount of state however many endpoints its network has:
//!
//! ```text
//! networks/<id>               the network: configuration and state (written when the network
//!                             itself changes: create, remove, restore, rename)
//! allocs/<id>                 what its pools have handed out: one run-length set per pool
//! endpoints/<id>/<slot>       one document per endpoint, named by what looks it up: the
//!                             namespace (ns-DEV-INO), the CNI attachment (cni-CID-IFNAME) or the
//!                             runtime's endpoint id (ep-ID)
//! names/<name>, parents/<p>/<id>  the index, each entry twice (name-copies/, parent-copies/):
//!                             hints checked against the documents, rebuilt by restore
//! ```
//!
//! An attach reserves its addresses in `allocs` first and writes its endpoint document (the
//! intent) second; a detach removes the endpoint document first and releases the
//! addresses second. A process killed between two writes therefore leaves at worst an address
//! reserved that no endpoint holds, never one held twice; `restore` recomputes `allocs` from
//! the endpoint documents. Networks written by earlier versions (endpoints and allocations
//! inside the network document): see `migrate.rs`.

use std::collections::BTreeMap;

use store::{Batch, Durability, Expect, Snapshot, Txn};

use crate::error::{Error, Result};
use crate::model::*;

pub(crate) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn alloc_key(id: &str) -> String {
    format!("allocs/{id}")
}

fn alloc_copy_key(id: &str) -> String {
    format!("alloc-copies/{id}")
}

fn endpoints_dir(id: &str) -> String {
    format!("endpoints/{id}")
}

fn ep_key(net_id: &str, slot: &str) -> String {
    format!("{}/{slot}", endpoints_dir(net_id))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A state document that cannot be read: its key, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damaged {
    pub key: String,
    pub reason: String,
    /// Its copy stood in (a network's own document): nothing is lost.
    pub recovered: bool,
}

impl Damaged {
    fn new(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Damaged {
            key: key.into(),
            reason: reason.into(),
            recovered: false,
        }
    }

    /// The network the document belongs to (`networks/ID`, `allocs/ID`, `endpoints/ID/SLOT`).
    pub fn network_id(&self) -> &str {
        self.key.split('/').nth(1).unwrap_or_default()
    }
    /// Whether it is the network's own document (its configuration).
    pub fn is_network(&self) -> bool {
        self.key.starts_with("networks/")
    }
    /// The endpoint slot, for an endpoint's document.
    pub fn endpoint_slot(&self) -> Option<&str> {
        self.key
            .strip_prefix("endpoints/")
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, slot)| slot)
    }
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::store(format!("state document {key} cannot be read: {e}")))
}

fn encode<T: serde::Serialize>(what: &str, v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::store(format!("cannot encode {what}: {e}")))
}

/// A network's document with its allocations, without reading its endpoints (those of a
/// document of an earlier version, kept inside it, excepted).
pub(crate) fn load_head(txn: &dyn Snapshot, id: &str) -> Result<Option<Network>> {
    assemble(txn, id, false, None)
}

/// A network with all its endpoints.
pub(crate) fn load(txn: &dyn Snapshot, id: &str) -> Result<Option<Network>> {
    assemble(txn, id, true, None)
}

fn copy_key(id: &str) -> String {
    format!("network-copies/{id}")
}

/// Every network's id: those with a document, and those whose document is lost but whose copy
/// remains.
fn network_ids(txn: &dyn Snapshot) -> Result<Vec<String>> {
    let mut ids = std::collections::BTreeSet::new();
    for dir in ["networks", "network-copies"] {
        for key in txn.keys(dir)? {
            if let Some(id) = key.strip_prefix(dir).and_then(|k| k.strip_prefix('/')) {
                ids.insert(id.to_string());
            }
        }
    }
    Ok(ids.into_iter().collect())
}

/// A network's own document. Each is written twice, the document and its copy (networks are
/// written rarely: create, remove, restore, rename), so that one damaged file loses nothing:
/// where the document is missing or cannot be read, its copy stands in. With `damaged`, that
/// is noted (`recovered`; restore writes the document anew), and so is a document lost with
/// its copy while the network still has endpoints; without, such a document is an error.
fn read_head(
    txn: &dyn Snapshot,
    id: &str,
    damaged: Option<&mut Vec<Damaged>>,
) -> Result<Option<Network>> {
    let key = network_key(id);
    let first = match txn.get(&key)? {
        Some(bytes) => match decode::<Network>(&key, &bytes) {
            Ok(net) => return Ok(Some(net)),
            Err(e) => Some(e),
        },
        None => None,
    };
    let copy = copy_key(id);
    let from_copy = txn
        .get(&copy)?
        .and_then(|bytes| decode::<Network>(&copy, &bytes).ok());
    match (first, from_copy) {
        // A removal cut off between its last two deletes: restore finishes it.
        (None, Some(net)) if net.state == NetState::Removing => Ok(Some(net)),
        (first, Some(net)) => {
            if let Some(damaged) = damaged {
                let why = first.map_or(format!("state document {key} is missing"), |e| {
                    e.to_string()
                });
                damaged.push(Damaged {
                    recovered: true,
                    ..Damaged::new(key, format!("{why}; rebuilt from its copy {copy}"))
                });
            }
            Ok(Some(net))
        }
        (None, None) => {
            if let Some(damaged) = damaged {
                if !txn.keys(&endpoints_dir(id))?.is_empty() {
                    let why = format!(
                        "state document {key} is missing (and its copy {copy}), while the network has endpoints"
                    );
                    damaged.push(Damaged::new(key, why));
                }
            }
            Ok(None)
        }
        (Some(e), None) => match damaged {
            Some(damaged) => {
                let why = format!("{} (and its copy {copy} cannot be read either)", e);
                damaged.push(Damaged::new(key, why));
                Ok(None)
            }
            None => Err(e),
        },
    }
}

/// Every network (its own document) with an endpoint in document `slot`, and that endpoint:
/// one read per network, none of any network's other endpoints.
pub(crate) fn networks_attached(
    txn: &dyn Snapshot,
    slot: &str,
) -> Result<Vec<(Network, Endpoint)>> {
    let mut out = Vec::new();
    for id in network_ids(txn)? {
        let Ok(Some(net)) = load_head(txn, &id) else {
            continue;
        };
        if let Ok(Some(ep)) = get_ep(txn, &net, slot) {
            out.push((net, ep));
        }
    }
    Ok(out)
}

/// Every network whose documents can all be read, with its endpoints, and what could not be
/// read: damage to one network's documents stays with that network.
pub(crate) fn load_all_readable(txn: &dyn Snapshot) -> Result<(Vec<Network>, Vec<Damaged>)> {
    let mut nets = Vec::new();
    let mut damaged = Vec::new();
    for id in network_ids(txn)? {
        match load(txn, &id) {
            Ok(Some(n)) => nets.push(n),
            Ok(None) => {}
            Err(e) => damaged.push(Damaged::new(network_key(&id), e.to_string())),
        }
    }
    Ok((nets, damaged))
}

/// What `restore` starts from: every network's documents as far as they can be read (see
/// `assemble`), and what could not be read, for restore to weigh against the kernel.
pub(crate) fn load_all_for_restore(txn: &dyn Snapshot) -> Result<(Vec<Network>, Vec<Damaged>)> {
    let mut nets = Vec::new();
    let mut damaged = Vec::new();
    let mut ids: std::collections::BTreeSet<String> = network_ids(txn)?.into_iter().collect();
    // A network whose documents are all lost still has its endpoints'.
    for key in txn.keys("endpoints")? {
        if let Some(id) = key.split('/').nth(1) {
            ids.insert(id.to_string());
        }
    }
    for id in ids {
        if let Some(n) = assemble(txn, &id, true, Some(&mut damaged))? {
            nets.push(n);
        }
    }
    Ok((nets, damaged))
}

/// A network from its documents: its own, its allocations and (with `endpoints`) its
/// endpoints'. A document that does not parse fails the load or, with `damaged`, is noted
/// there and left out: a network whose own document cannot be read is `None`; allocations
/// that cannot be read leave the pools empty; an endpoint, its document.
fn assemble(
    txn: &dyn Snapshot,
    id: &str,
    endpoints: bool,
    mut damaged: Option<&mut Vec<Damaged>>,
) -> Result<Option<Network>> {
    if !valid_id(id) {
        return Ok(None);
    }
    let Some(mut net) = read_head(txn, id, damaged.as_deref_mut())? else {
        return Ok(None);
    };
    net.legacy = !net.endpoints.is_empty();
    let allocs_read = read_allocations(txn, &mut net, damaged.as_deref_mut())?;
    if !allocs_read {
        net.ipam = net.ipam.without_allocations();
    }
    if endpoints {
        for (key, bytes) in txn.list(&endpoints_dir(id))? {
            let ep = decode::<Endpoint>(&key, &bytes).and_then(|ep| {
                if key.rsplit('/').next() == Some(ep.slot().as_str()) {
                    Ok(ep)
                } else {
                    Err(Error::store(format!(
                        "state document {key} describes endpoint {} of another slot ({})",
                        ep.id,
                        ep.slot()
                    )))
                }
            });
            if let Some(ep) = or_damaged(ep, &key, damaged.as_deref_mut())? {
                net.endpoints.insert(ep.id.clone(), ep);
            }
        }
    }
    if !allocs_read && damaged.is_none() {
        // A cache of the endpoints, lost: never hand out what they hold. Outside `restore`
        // (which weighs the damage itself) it is recomputed from them here (read for this
        // when the caller did not ask for them: only in this case); the next write stores it.
        let held: Vec<std::net::IpAddr> = if endpoints {
            net.held_addrs().collect()
        } else {
            let mut held = Vec::new();
            for (key, bytes) in txn.list(&endpoints_dir(id))? {
                let ep: Endpoint = decode(&key, &bytes)?;
                held.extend([ep.ipv4, ep.ipv6].into_iter().flatten().map(|a| a.addr()));
            }
            held
        };
        for ip in held {
            let _ = net.ipam.reserve(ip);
        }
    }
    Ok(Some(net))
}

/// The network's allocations read into its pools; whether they could be. Written twice: two
/// that differ are one rolled back, or a write cut off between them (either way the
/// endpoints say what is held); missing, they are damage only while endpoints exist.
fn read_allocations(
    txn: &dyn Snapshot,
    net: &mut Network,
    mut damaged: Option<&mut Vec<Damaged>>,
) -> Result<bool> {
    let id = net.id.clone();
    let allocs = alloc_key(&id);
    Ok(match txn.get(&allocs)? {
        Some(bytes) => {
            let copy = alloc_copy_key(&id);
            let agree = match txn.get(&copy)? {
                Some(c) => (c == bytes).then_some(()).ok_or_else(|| {
                    Error::store(format!(
                        "state documents {allocs} and {copy} differ (one was rolled back, or a write was cut off between them)"
                    ))
                }),
                // Written by an earlier version: the next write makes the copy.
                None => Ok(()),
            };
            let set = agree
                .and_then(|()| decode::<Vec<ipam::AddrSet>>(&allocs, &bytes))
                .and_then(|sets| {
                    net.ipam
                        .set_allocations(sets)
                        .map_err(|e| Error::store(format!("state document {allocs}: {e}")))
                });
            match (set, damaged.as_deref_mut()) {
                (Ok(()), _) => true,
                (Err(e), Some(damaged)) => {
                    damaged.push(Damaged::new(&allocs, e.to_string()));
                    false
                }
                (Err(_), None) => false,
            }
        }
        // A network of an earlier version keeps them in its own document.
        None if net.legacy => true,
        None => {
            if let Some(damaged) = damaged {
                if !txn.keys(&endpoints_dir(&id))?.is_empty() {
                    damaged.push(Damaged::new(
                        &allocs,
                        format!("state document {allocs} is missing"),
                    ));
                }
            }
            false
        }
    })
}

/// `r`'s value; its error noted under `key` in `damaged` (then None) when that is given.
fn or_damaged<T>(r: Result<T>, key: &str, damaged: Option<&mut Vec<Damaged>>) -> Result<Option<T>> {
    match (r, damaged) {
        (Ok(v), _) => Ok(Some(v)),
        (Err(e), Some(damaged)) => {
            damaged.push(Damaged::new(key, e.to_string()));
            Ok(None)
        }
        (Err(e), None) => Err(e),
    }
}

/// Every network's own document, without allocations or endpoints (what a listing shows),
/// and the network documents that cannot be read.
pub(crate) fn load_all_configs(txn: &dyn Snapshot) -> Result<(Vec<Network>, Vec<Damaged>)> {
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    for id in network_ids(txn)? {
        if let Some(mut net) = read_head(txn, &id, Some(&mut damaged))? {
            net.endpoints.clear();
            out.push(net);
        }
    }
    damaged.retain(|d| !d.recovered);
    Ok((out, damaged))
}

/// What must survive a power loss: a network's configuration, the intent of an endpoint that
/// outlives a reboot, and every removal of either.
const DURABLE: Durability = Durability::SurvivesPowerLoss;
/// What restore rebuilds or does without after a power loss: allocations (recomputed from the
/// endpoints), the index, an endpoint's outcome, and what describes only kernel state.
const CRASH_SAFE: Durability = Durability::SurvivesProcessDeath;

/// Write the network's allocations, then its own document and its copy (one batch, flushed).
pub(crate) fn save(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    crate::migrate::refuse_unmigrated(net)?;
    save_alloc(txn, net)?;
    save_head(txn, net, DURABLE)
}

/// Remove a document that cannot be read, once restore has weighed it (flushed).
pub(crate) fn drop_damaged(txn: &mut dyn Txn, key: &str) -> Result<()> {
    Ok(txn.commit(Batch::new(DURABLE).delete(key))?)
}

/// The network's document again, not flushed (a rename: the index is rebuilt by restore).
pub(crate) fn save_unsynced(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    save_alloc(txn, net)?;
    save_head(txn, net, CRASH_SAFE)
}

/// The network's own document and its copy, in one batch.
fn save_head(txn: &mut dyn Txn, net: &Network, durability: Durability) -> Result<()> {
    let head = head_bytes(net)?;
    let batch = Batch::new(durability)
        .put(net.key(), head.clone())
        .put(copy_key(&net.id), head);
    Ok(txn.commit(batch)?)
}

/// The network's own document: without endpoints and allocations, which have their own.
fn head_bytes(net: &Network) -> Result<Vec<u8>> {
    let mut head = net.clone();
    head.endpoints.clear();
    head.ipam = net.ipam.without_allocations();
    encode(&format!("network {}", net.name), &head)
}

/// What the pools have handed out. Not flushed: after a power loss (which takes the links the
/// addresses were on) `restore` recomputes it from the endpoint documents.
pub(crate) fn save_alloc(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    let sets = net.ipam.allocations();
    let bytes = encode(&format!("the allocations of {}", net.name), &sets)?;
    let batch = Batch::new(CRASH_SAFE)
        .put(alloc_key(&net.id), bytes.clone())
        .put(alloc_copy_key(&net.id), bytes);
    Ok(txn.commit(batch)?)
}

/// The network, its allocations and exactly the endpoints in `net.endpoints`.
#[cfg(test)]
pub(crate) fn save_full(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    save_full_sparing(txn, net, &std::collections::BTreeSet::new())
}

/// `save_full`, leaving the documents under the keys in `spare` as they are (documents that
/// cannot be read, kept as evidence).
pub(crate) fn save_full_sparing(
    txn: &mut dyn Txn,
    net: &Network,
    spare: &std::collections::BTreeSet<String>,
) -> Result<()> {
    let want: BTreeMap<String, &Endpoint> = net
        .endpoints
        .values()
        .map(|e| (ep_key(&net.id, &e.slot()), e))
        .collect();
    let mut gone = Batch::new(DURABLE);
    for key in txn.keys(&endpoints_dir(&net.id))? {
        if !want.contains_key(&key) && !spare.contains(&key) {
            gone.push_delete(key);
        }
    }
    txn.commit(gone)?;
    let mut outcomes = Batch::new(CRASH_SAFE);
    for (key, ep) in &want {
        outcomes.push_put(key.clone(), encode_ep(ep)?);
    }
    txn.commit(outcomes)?;
    let mut n = net.clone();
    n.legacy = false;
    save(txn, &n)
}

/// Remove the network's documents in one batch, in this order: endpoints, allocations, the
/// network (a removal cut off part-way leaves what restore finishes).
pub(crate) fn delete_all(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    let mut batch = Batch::new(DURABLE);
    for key in txn.keys(&endpoints_dir(&net.id))? {
        batch.push_delete(key);
    }
    let batch = batch
        .delete(alloc_key(&net.id))
        .delete(alloc_copy_key(&net.id))
        .delete(net.key())
        .delete(copy_key(&net.id));
    Ok(txn.commit(batch)?)
}

/// An endpoint of network `net_id` by its slot.
pub(crate) fn get_ep(txn: &dyn Snapshot, net: &Network, slot: &str) -> Result<Option<Endpoint>> {
    if net.legacy {
        return Ok(net.endpoints.values().find(|e| e.slot() == slot).cloned());
    }
    if slot.len() > 240 {
        return Ok(None); // no endpoint's document can have such a name
    }
    let key = ep_key(&net.id, slot);
    txn.get(&key)?.map(|b| decode(&key, &b)).transpose()
}

fn encode_ep(ep: &Endpoint) -> Result<Vec<u8>> {
    encode(&format!("endpoint {}", ep.id), ep)
}

/// How durable a change of `ep`'s document must be: an `intent` (written before the kernel is
/// touched) and a removal must survive a power loss when what they describe does; an
/// outcome never has to.
fn ep_durability(ep: &Endpoint, intent: bool) -> Durability {
    if intent && ep.outlives_power_loss() {
        DURABLE
    } else {
        CRASH_SAFE
    }
}

/// Write an endpoint's document (see `ep_durability`).
pub(crate) fn put_ep(txn: &mut dyn Txn, net_id: &str, ep: &Endpoint, intent: bool) -> Result<()> {
    let batch =
        Batch::new(ep_durability(ep, intent)).put(ep_key(net_id, &ep.slot()), encode_ep(ep)?);
    Ok(txn.commit(batch)?)
}

pub(crate) fn del_ep(txn: &mut dyn Txn, net_id: &str, ep: &Endpoint) -> Result<()> {
    let batch = Batch::new(ep_durability(ep, true)).delete(ep_key(net_id, &ep.slot()));
    Ok(txn.commit(batch)?)
}

/// How many endpoints the network has (without reading them).
pub(crate) fn endpoint_count(txn: &dyn Snapshot, net: &Network) -> Result<usize> {
    if net.legacy {
        return Ok(net.endpoints.len());
    }
    Ok(txn.keys(&endpoints_dir(&net.id))?.len())
}

/// Whether the network has any endpoint.
pub(crate) fn has_endpoints(txn: &dyn Snapshot, net: &Network) -> Result<bool> {
    Ok(!net.endpoints.is_empty() || !txn.keys(&endpoints_dir(&net.id))?.is_empty())
}

/// A network's document for a change: refused while it is in an earlier version's layout
/// (`migrate.rs`), so that the change's writes find every endpoint where they look.
pub(crate) fn for_write(_txn: &mut dyn Txn, net: Network) -> Result<Network> {
    crate::migrate::refuse_unmigrated(&net)?;
    Ok(net)
}

// ---- lookup and index ----
//
// Network documents are the truth; the index entries let an operation touch only the networks
// it concerns instead of reading every document. Entries are written before the document and
// removed after it, checked against the document on every use, and rebuilt by `restore`, so a
// process killed between two writes leaves at worst a stale hint. Each entry is written twice
// (`names/` and `name-copies/`, `parents/` and `parent-copies/`): a lost or damaged entry
// never hides a network, lets a second one take its name, or lets a subnet overlap one on its
// parent unseen, at the price of a second small file, never of reading every document.

/// The two places of a network name's entry.
fn name_keys(name: &str) -> [String; 2] {
    let h = hex(name);
    [format!("names/{h}"), format!("name-copies/{h}")]
}

/// The two directories of a parent's entries (one per network on it, named by its id).
fn parent_dirs(parent: &str) -> [String; 2] {
    let h = hex(parent);
    [format!("parents/{h}"), format!("parent-copies/{h}")]
}

/// The network called `name`, if any (its document only): the first of the name's two
/// entries that names a network of that name. An entry that names none (a damaged one, or a
/// stale one) sends the lookup to the documents, so that a network is found whatever
/// happened to its entry.
pub(crate) fn find_by_name(txn: &dyn Snapshot, name: &str) -> Result<Option<Network>> {
    if name.is_empty() || name.len() > crate::create::NETWORK_NAME_MAX {
        return Ok(None); // no network can have such a name
    }
    let mut doubt = false;
    for key in name_keys(name) {
        if let Some(id) = txn.get(&key)? {
            let id = String::from_utf8_lossy(&id).into_owned();
            match load_head(txn, &id)? {
                Some(n) if n.name == name => return Ok(Some(n)),
                _ => doubt = true,
            }
        }
    }
    if !doubt {
        return Ok(None);
    }
    let (all, _) = load_all_configs(txn)?;
    match all.into_iter().find(|n| n.name == name) {
        Some(n) => load_head(txn, &n.id),
        None => Ok(None),
    }
}

/// A network's document by exact name, exact id, or unique id prefix (Docker's lookup order),
/// without its endpoints.
pub(crate) fn find_head(txn: &dyn Snapshot, key: &str) -> Result<Network> {
    if let Some(n) = find_by_name(txn, key)? {
        return Ok(n);
    }
    if let Some(n) = load_head(txn, key)? {
        return Ok(n);
    }
    let prefixed: Vec<String> = if key.is_empty() {
        Vec::new()
    } else {
        network_ids(txn)?
            .into_iter()
            .filter(|id| id.starts_with(key))
            .collect()
    };
    match prefixed.as_slice() {
        [one] => {
            load_head(txn, one)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))
        }
        [] if key.is_empty() => Err(Error::not_found(
            "network \"\" not found: give a network's name or id",
        )),
        [] => Err(Error::not_found(format!("network {key} not found"))),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|id| load_head(txn, id).ok().flatten().map(|n| n.name))
                .collect();
            Err(Error::conflict(format!(
                "network {key} is ambiguous ({} matches: {})",
                many.len(),
                names.join(", ")
            )))
        }
    }
}

/// Like `find_head`, with every endpoint.
pub(crate) fn find_net(txn: &dyn Snapshot, key: &str) -> Result<Network> {
    let head = find_head(txn, key)?;
    load(txn, &head.id)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))
}

/// Every network whose parent has index key `parent` (see `Parent::index_key`: a host link's
/// name), without endpoints: those either of the parent's two entry directories names.
pub(crate) fn on_parent(txn: &dyn Snapshot, parent: &str) -> Result<Vec<Network>> {
    let mut ids = std::collections::BTreeSet::new();
    for dir in parent_dirs(parent) {
        for key in txn.keys(&dir)? {
            ids.insert(key.rsplit('/').next().unwrap_or_default().to_string());
        }
    }
    let mut out = Vec::new();
    for id in &ids {
        match load_head(txn, id)? {
            Some(n) if n.parent.index_key() == parent => out.push(n),
            Some(_) => {}
            // Its documents are lost but its endpoints remain: its addresses are on links
            // on this parent, and nothing may be made to overlap them unseen.
            None if !txn.keys(&endpoints_dir(id))?.is_empty() => {
                return Err(Error::store(format!(
                    "network {id} on parent {parent} has lost its documents (networks/{id}, network-copies/{id}) while it has endpoints: restore them from a backup, or remove endpoints/{id} from the state directory once its containers are gone, then run `underlay network restore`"
                )))
            }
            None => {}
        }
    }
    // Oldest first, so messages name the network that was there first.
    out.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    Ok(out)
}

/// The index entries of a network: (key, value).
fn entries(net: &Network) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = name_keys(&net.name)
        .into_iter()
        .map(|k| (k, net.id.as_bytes().to_vec()))
        .collect();
    for dir in parent_dirs(&net.parent.index_key()) {
        out.push((format!("{dir}/{}", net.id), Vec::new()));
    }
    out
}

pub(crate) fn index_add(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    let mut batch = Batch::new(CRASH_SAFE);
    for (key, value) in entries(net) {
        batch.push_put(key, value);
    }
    Ok(txn.commit(batch)?)
}

pub(crate) fn index_remove(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    let mut batch = Batch::new(DURABLE);
    for (key, value) in entries(net) {
        if value.is_empty() {
            batch.push_delete(key);
            continue;
        }
        // A name entry goes only while it is this network's.
        match txn.doc(&key)? {
            Some(doc) if doc.value == value => {
                batch = batch
                    .delete(key.clone())
                    .expect(key, Expect::Version(doc.version));
            }
            _ => {}
        }
    }
    Ok(txn.commit(batch)?)
}

/// Make the index match the documents exactly, and drop documents of networks that are gone
/// (endpoints and allocations left by a removal cut off between its writes). The networks in
/// `unreadable` (their own document cannot be read) keep their entries and documents.
pub(crate) fn reindex(
    txn: &mut dyn Txn,
    nets: &[Network],
    unreadable: &std::collections::BTreeSet<String>,
) -> Result<()> {
    let want: BTreeMap<String, Vec<u8>> = nets.iter().flat_map(entries).collect();
    let mut have = Vec::new();
    for dir in ["names", "name-copies", "parents", "parent-copies"] {
        have.extend(txn.keys(dir)?);
    }
    let mut stale = Batch::new(DURABLE);
    for key in have {
        let of_unreadable = if key.starts_with("name") {
            txn.get(&key)?
                .is_some_and(|id| unreadable.contains(String::from_utf8_lossy(&id).as_ref()))
        } else {
            unreadable.contains(key.rsplit('/').next().unwrap_or_default())
        };
        if !want.contains_key(&key) && !of_unreadable {
            stale.push_delete(key);
        }
    }
    txn.commit(stale)?;
    let mut missing = Batch::new(CRASH_SAFE);
    for (key, value) in want {
        if txn.get(&key)?.as_deref() != Some(value.as_slice()) {
            missing.push_put(key, value);
        }
    }
    txn.commit(missing)?;
    let mut live: std::collections::BTreeSet<&str> = nets.iter().map(|n| n.id.as_str()).collect();
    live.extend(unreadable.iter().map(String::as_str));
    let mut orphans = txn.keys("allocs")?;
    orphans.extend(txn.keys("endpoints")?);
    orphans.extend(txn.keys("network-copies")?);
    orphans.extend(txn.keys("alloc-copies")?);
    let mut gone = Batch::new(DURABLE);
    for key in orphans {
        let id = key.split('/').nth(1).unwrap_or_default();
        if !live.contains(id) {
            gone.push_delete(key);
        }
    }
    Ok(txn.commit(gone)?)
}
