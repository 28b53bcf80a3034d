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
//! names/<name>, parents/<p>   the index (hints, rebuilt by restore)
//! ```
//!
//! An attach reserves its addresses in `allocs` first and writes its endpoint document (the
//! intent) second; a detach removes the endpoint document first and releases the
//! addresses second. A process killed between two writes therefore leaves at worst an address
//! reserved that no endpoint holds, never one held twice; `restore` recomputes `allocs` from
//! the endpoint documents. Networks written by earlier versions (endpoints and allocations
//! inside the network document) are read as they are and laid out anew on their first write.

use std::collections::BTreeMap;

use store::Txn;

use crate::error::{Error, Result};
use crate::model::*;

pub(crate) fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn alloc_key(id: &str) -> String {
    format!("allocs/{id}")
}

fn endpoints_dir(id: &str) -> String {
    format!("endpoints/{id}")
}

fn ep_key(net_id: &str, slot: &str) -> String {
    format!("{}/{slot}", endpoints_dir(net_id))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
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
pub(crate) fn load_head(txn: &dyn Txn, id: &str) -> Result<Option<Network>> {
    assemble(txn, id, false, None)
}

/// A network with all its endpoints.
pub(crate) fn load(txn: &dyn Txn, id: &str) -> Result<Option<Network>> {
    assemble(txn, id, true, None)
}

/// Every network with its endpoints; a document that does not parse is an error naming it.
pub(crate) fn load_all(txn: &dyn Txn) -> Result<Vec<Network>> {
    let mut out = Vec::new();
    for key in txn.keys("networks")? {
        let id = key.strip_prefix("networks/").unwrap_or(&key);
        if let Some(n) = load(txn, id)? {
            out.push(n);
        }
    }
    Ok(out)
}

/// What `restore` starts from: every network with its endpoints, where a document that is
/// never flushed (allocations, endpoints in namespaces) and does not parse is deleted instead
/// of failing the whole restore: a power loss can leave such a document torn, and what it
/// described went with the power (allocations are then recomputed from the endpoints). The
/// lines name what was dropped. A network's own document is flushed; it still has to parse.
pub(crate) fn load_all_salvaging(txn: &mut dyn Txn) -> Result<(Vec<Network>, Vec<String>)> {
    let mut nets = Vec::new();
    let mut torn = Vec::new();
    for key in txn.keys("networks")? {
        let id = key.strip_prefix("networks/").unwrap_or(&key);
        if let Some(n) = assemble(&*txn, id, true, Some(&mut torn))? {
            nets.push(n);
        }
    }
    let mut lines = Vec::new();
    for (key, why) in torn {
        txn.delete(&key)?;
        lines.push(format!("{why}: dropped (left torn by a power loss?)"));
    }
    Ok((nets, lines))
}

/// A network from its documents: its own, its allocations and (with `endpoints`) its
/// endpoints'. An allocations or endpoint document that does not parse fails the load, or with
/// `torn` is left out and noted there (key, reason).
fn assemble(
    txn: &dyn Txn,
    id: &str,
    endpoints: bool,
    mut torn: Option<&mut Vec<(String, String)>>,
) -> Result<Option<Network>> {
    if !valid_id(id) {
        return Ok(None);
    }
    let key = network_key(id);
    let Some(bytes) = txn.get(&key)? else {
        return Ok(None);
    };
    let mut net: Network = decode(&key, &bytes)?;
    net.legacy = !net.endpoints.is_empty();
    let allocs = alloc_key(id);
    if let Some(bytes) = txn.get(&allocs)? {
        let set = decode::<Vec<ipam::AddrSet>>(&allocs, &bytes).and_then(|sets| {
            net.ipam
                .set_allocations(sets)
                .map_err(|e| Error::store(format!("state document {allocs}: {e}")))
        });
        if or_torn(set, &allocs, torn.as_deref_mut())?.is_none() {
            net.ipam = net.ipam.without_allocations();
        }
    }
    if endpoints {
        for (key, bytes) in txn.list(&endpoints_dir(id))? {
            if let Some(ep) = or_torn(decode::<Endpoint>(&key, &bytes), &key, torn.as_deref_mut())?
            {
                net.endpoints.insert(ep.id.clone(), ep);
            }
        }
    }
    Ok(Some(net))
}

/// `r`'s value; its error noted under `key` in `torn` (then None) when that is given.
fn or_torn<T>(
    r: Result<T>,
    key: &str,
    torn: Option<&mut Vec<(String, String)>>,
) -> Result<Option<T>> {
    match (r, torn) {
        (Ok(v), _) => Ok(Some(v)),
        (Err(e), Some(torn)) => {
            torn.push((key.to_string(), e.message));
            Ok(None)
        }
        (Err(e), None) => Err(e),
    }
}

/// Every network's own document, without allocations or endpoints (what a listing shows).
pub(crate) fn load_all_configs(txn: &dyn Txn) -> Result<Vec<Network>> {
    let mut out = Vec::new();
    for (key, bytes) in txn.list("networks")? {
        let mut net: Network = decode(&key, &bytes)?;
        net.endpoints.clear();
        out.push(net);
    }
    Ok(out)
}

/// Write the network's own document (flushed) and its allocations.
pub(crate) fn save(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    if net.legacy {
        // Laid out anew: the endpoints go to documents of their own first.
        for ep in net.endpoints.values() {
            put_ep(txn, &net.id, ep, true)?;
        }
    }
    save_alloc(txn, net)?;
    txn.put(&net.key(), &head_bytes(net)?)?;
    Ok(())
}

/// The network's document again, not flushed (a rename: the index is rebuilt by restore).
pub(crate) fn save_unsynced(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    save_alloc(txn, net)?;
    txn.put_unsynced(&net.key(), &head_bytes(net)?)?;
    Ok(())
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
    txn.put_unsynced(
        &alloc_key(&net.id),
        &encode(&format!("the allocations of {}", net.name), &sets)?,
    )?;
    Ok(())
}

/// The network, its allocations and exactly the endpoints in `net.endpoints`.
pub(crate) fn save_full(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    let want: BTreeMap<String, &Endpoint> = net
        .endpoints
        .values()
        .map(|e| (ep_key(&net.id, &e.slot()), e))
        .collect();
    for key in txn.keys(&endpoints_dir(&net.id))? {
        if !want.contains_key(&key) {
            txn.delete(&key)?;
        }
    }
    for ep in want.values() {
        put_ep(txn, &net.id, ep, false)?;
    }
    let mut n = net.clone();
    n.legacy = false;
    save(txn, &n)
}

/// Remove the network's documents: endpoints, allocations, the network.
pub(crate) fn delete_all(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    for key in txn.keys(&endpoints_dir(&net.id))? {
        txn.delete(&key)?;
    }
    txn.delete(&alloc_key(&net.id))?;
    txn.delete(&net.key())?;
    Ok(())
}

/// An endpoint of network `net_id` by its slot.
pub(crate) fn get_ep(txn: &dyn Txn, net: &Network, slot: &str) -> Result<Option<Endpoint>> {
    if net.legacy {
        return Ok(net.endpoints.values().find(|e| e.slot() == slot).cloned());
    }
    let key = ep_key(&net.id, slot);
    txn.get(&key)?.map(|b| decode(&key, &b)).transpose()
}

/// Write an endpoint's document. An `intent` (written before the kernel is touched) is flushed
/// when what it describes outlives a power loss; an outcome never is.
pub(crate) fn put_ep(txn: &mut dyn Txn, net_id: &str, ep: &Endpoint, intent: bool) -> Result<()> {
    let key = ep_key(net_id, &ep.slot());
    let bytes = encode(&format!("endpoint {}", ep.id), ep)?;
    if intent && ep.outlives_power_loss() {
        txn.put(&key, &bytes)?;
    } else {
        txn.put_unsynced(&key, &bytes)?;
    }
    Ok(())
}

pub(crate) fn del_ep(txn: &mut dyn Txn, net_id: &str, ep: &Endpoint) -> Result<()> {
    let key = ep_key(net_id, &ep.slot());
    if ep.outlives_power_loss() {
        txn.delete(&key)?;
    } else {
        txn.delete_unsynced(&key)?;
    }
    Ok(())
}

/// How many endpoints the network has (without reading them).
pub(crate) fn endpoint_count(txn: &dyn Txn, net: &Network) -> Result<usize> {
    if net.legacy {
        return Ok(net.endpoints.len());
    }
    Ok(txn.keys(&endpoints_dir(&net.id))?.len())
}

/// Whether the network has any endpoint.
pub(crate) fn has_endpoints(txn: &dyn Txn, net: &Network) -> Result<bool> {
    Ok(!net.endpoints.is_empty() || !txn.keys(&endpoints_dir(&net.id))?.is_empty())
}

/// A network's document for a change: a document of an earlier version is laid out anew
/// first, so that the change's writes find every endpoint where they look.
pub(crate) fn for_write(txn: &mut dyn Txn, mut net: Network) -> Result<Network> {
    if net.legacy {
        save_full(txn, &net)?;
        net = load_head(txn, &net.id)?
            .ok_or_else(|| Error::store(format!("network {} vanished", net.name)))?;
    }
    Ok(net)
}

// ---- lookup and index ----
//
// Network documents are the truth; the index entries let an operation touch only the networks
// it concerns instead of reading every document. Entries are written before the document and
// removed after it, checked against the document on every use, and rebuilt by `restore`, so a
// process killed between two writes leaves at worst a stale hint.

fn name_key(name: &str) -> String {
    format!("names/{}", hex(name))
}

fn parent_dir(parent: &str) -> String {
    format!("parents/{}", hex(parent))
}

/// The network called `name`, if any (its document only).
pub(crate) fn find_by_name(txn: &dyn Txn, name: &str) -> Result<Option<Network>> {
    let Some(id) = txn.get(&name_key(name))? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    Ok(load_head(txn, &id)?.filter(|n| n.name == name))
}

/// A network's document by exact name, exact id, or unique id prefix (Docker's lookup order),
/// without its endpoints.
pub(crate) fn find_head(txn: &dyn Txn, key: &str) -> Result<Network> {
    if let Some(n) = find_by_name(txn, key)? {
        return Ok(n);
    }
    if let Some(n) = load_head(txn, key)? {
        return Ok(n);
    }
    let prefixed: Vec<String> = if key.is_empty() {
        Vec::new()
    } else {
        txn.keys("networks")?
            .into_iter()
            .filter_map(|k| k.strip_prefix("networks/").map(str::to_string))
            .filter(|id| id.starts_with(key))
            .collect()
    };
    match prefixed.as_slice() {
        [one] => {
            load_head(txn, one)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))
        }
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
pub(crate) fn find_net(txn: &dyn Txn, key: &str) -> Result<Network> {
    let head = find_head(txn, key)?;
    load(txn, &head.id)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))
}

/// Every network whose parent has index key `parent` (see `Parent::index_key`: a host link's
/// name), without endpoints.
pub(crate) fn on_parent(txn: &dyn Txn, parent: &str) -> Result<Vec<Network>> {
    let mut out = Vec::new();
    for key in txn.keys(&parent_dir(parent))? {
        let id = key.rsplit('/').next().unwrap_or_default();
        if let Some(n) = load_head(txn, id)?.filter(|n| n.parent.index_key() == parent) {
            out.push(n);
        }
    }
    // Oldest first, so messages name the network that was there first.
    out.sort_by(|a, b| (&a.created, &a.name).cmp(&(&b.created, &b.name)));
    Ok(out)
}

pub(crate) fn index_add(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    txn.put_unsynced(&name_key(&net.name), net.id.as_bytes())?;
    txn.put_unsynced(
        &format!("{}/{}", parent_dir(&net.parent.index_key()), net.id),
        b"",
    )?;
    Ok(())
}

pub(crate) fn index_remove(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    if txn.get(&name_key(&net.name))?.as_deref() == Some(net.id.as_bytes()) {
        txn.delete(&name_key(&net.name))?;
    }
    txn.delete(&format!(
        "{}/{}",
        parent_dir(&net.parent.index_key()),
        net.id
    ))?;
    Ok(())
}

/// Make the index match the documents exactly, and drop documents of networks that are gone
/// (endpoints and allocations left by a removal cut off between its writes).
pub(crate) fn reindex(txn: &mut dyn Txn, nets: &[Network]) -> Result<()> {
    let mut want: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for n in nets {
        want.insert(name_key(&n.name), n.id.as_bytes().to_vec());
        want.insert(
            format!("{}/{}", parent_dir(&n.parent.index_key()), n.id),
            Vec::new(),
        );
    }
    let mut have = txn.keys("names")?;
    have.extend(txn.keys("parents")?);
    for key in have {
        if !want.contains_key(&key) {
            txn.delete(&key)?;
        }
    }
    for (key, value) in want {
        if txn.get(&key)?.as_deref() != Some(value.as_slice()) {
            txn.put_unsynced(&key, &value)?;
        }
    }
    let live: std::collections::BTreeSet<&str> = nets.iter().map(|n| n.id.as_str()).collect();
    let mut orphans = txn.keys("allocs")?;
    orphans.extend(txn.keys("endpoints")?);
    for key in orphans {
        let id = key.split('/').nth(1).unwrap_or_default();
        if !live.contains(id) {
            txn.delete(&key)?;
        }
    }
    Ok(())
}
