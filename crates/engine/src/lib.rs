//! The underlay engine: one place for behaviour, validation, error wording and the order of
//! side effects, shared by every front door (CLI, Docker plugin, CNI).
//!
//! ```text
//! front door ──typed request──▶ Engine ──▶ ipam (pure) / store (documents) / netlink (kernel)
//! ```

use std::sync::Arc;

use netlink::Netlink;
use store::{Store, Txn};

mod create;
mod endpoint;
pub mod error;
mod handoff;
pub mod ids;
pub mod lab;
pub mod model;
pub mod pools;
mod restore;
pub mod sandbox;

pub use create::{check_ifname, CreateRequest, Created, IFNAME_MAX};
pub use endpoint::{resolve_netns, Attached, ConnectRequest, ExternalIpam, Netns, PendingDetach};
pub use error::{Error, Kind, Result};
pub use handoff::Joined;
pub use model::*;
pub use store::DEFAULT_STATE_DIR;

/// The engine: a netlink client and a store.
pub struct Engine {
    nl: Arc<dyn Netlink>,
    store: Box<dyn Store>,
}

impl Engine {
    pub fn new(nl: Arc<dyn Netlink>, store: Box<dyn Store>) -> Self {
        Self { nl, store }
    }

    /// The engine as the product runs it: the kernel through netlink, state in `state_dir`.
    pub fn open(state_dir: &std::path::Path) -> Result<Self> {
        let nl = netlink::RealNetlink::new()
            .map_err(|e| Error::kernel(format!("cannot open a netlink socket: {e}")))?;
        let store = store::DirStore::open(state_dir)?;
        Ok(Self::new(Arc::new(nl), Box::new(store)))
    }

    /// Where state is kept (for messages).
    pub fn store_location(&self) -> String {
        self.store.location()
    }

    /// Every network, sorted by name.
    pub fn networks(&self) -> Result<Vec<Network>> {
        let txn = self.store.read()?;
        let mut nets = load_all(&*txn)?;
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets)
    }

    /// One network by name, id or unique id prefix.
    pub fn network(&self, key: &str) -> Result<Network> {
        let txn = self.store.read()?;
        find_net(&*txn, key)
    }

    /// Remove a network: refused while endpoints are attached; deletes the parent link if
    /// underlay created it and no other network uses it.
    pub fn remove_network(&self, key: &str) -> Result<String> {
        let mut txn = self.store.write()?;
        let net = find_net(&*txn, key)?;
        refuse_if_owned(&net, "rm")?;
        if !net.endpoints.is_empty() {
            let list: Vec<String> = net
                .endpoints
                .values()
                .map(|e| {
                    let addrs: Vec<String> = [e.ipv4, e.ipv6]
                        .into_iter()
                        .flatten()
                        .map(|a| a.addr().to_string())
                        .collect();
                    format!("{} ({} {})", e.name, e.ifname, addrs.join(" "))
                })
                .collect();
            return Err(Error::conflict(format!(
                "error while removing network: network {} id {} has active endpoints: {}",
                net.name,
                net.id,
                list.join(", ")
            )));
        }
        let id = net.id.clone();
        self.remove_document(&mut *txn, net)?;
        Ok(id)
    }

    /// Remove a network without endpoints: record the intent, delete the parent if it is ours
    /// and no other network uses it, delete the document.
    pub(crate) fn remove_document(&self, txn: &mut dyn Txn, mut net: Network) -> Result<()> {
        net.state = NetState::Removing;
        save(txn, &net)?;
        let siblings = on_parent(txn, &net.parent.index_key())?;
        if let Some(problem) = self.release_parent(&siblings, &net) {
            return Err(Error::kernel(format!(
                "{problem}; network {} is kept in state removing, `underlay network restore` retries",
                net.name
            )));
        }
        txn.delete(&net.key())?;
        index_remove(txn, &net)?;
        Ok(())
    }

    /// Remove every network without endpoints; returns their names.
    pub fn prune(&self) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .networks()?
            .into_iter()
            .filter(|n| n.endpoints.is_empty() && n.state == NetState::Ready && n.owner.is_none())
            .map(|n| n.id)
            .collect();
        let mut removed = Vec::new();
        for id in names {
            let net = self.network(&id)?;
            match self.remove_network(&id) {
                Ok(_) => removed.push(net.name),
                Err(e) if e.kind == Kind::Conflict || e.kind == Kind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(removed)
    }
}

/// A network a runtime manages (Docker) is changed through that runtime only: the runtime keeps
/// its own record of the network and its containers, which a change behind its back would
/// contradict.
pub(crate) fn refuse_if_owned(net: &Network, verb: &str) -> Result<()> {
    match net.owner {
        None => Ok(()),
        Some(owner) => Err(Error::conflict(format!(
            "network {} ({}) is managed by {}: use `{} network {verb}` for it",
            net.name,
            net.short_id(),
            owner.name(),
            owner.name()
        ))),
    }
}

/// Load every network document; a document that does not parse is an error naming it.
pub(crate) fn load_all(txn: &dyn Txn) -> Result<Vec<Network>> {
    txn.list("networks")?
        .into_iter()
        .map(|(key, bytes)| {
            serde_json::from_slice::<Network>(&bytes)
                .map_err(|e| Error::store(format!("state document {key} cannot be read: {e}")))
        })
        .collect()
}

fn encode(net: &Network) -> Result<Vec<u8>> {
    serde_json::to_vec(net)
        .map_err(|e| Error::store(format!("cannot encode network {}: {e}", net.name)))
}

pub(crate) fn save(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    txn.put(&net.key(), &encode(net)?)?;
    Ok(())
}

/// Save the outcome of an endpoint operation whose intent `save` already made durable: atomic
/// against a process dying at any instant, but not flushed. What it describes (a link in a
/// container's namespace) does not outlive a power loss either; if the outcome is lost with it,
/// the durable intent is found and `restore` finishes or undoes the operation, as after a
/// kill. This halves the fsyncs of connect and disconnect.
pub(crate) fn save_outcome(txn: &mut dyn Txn, net: &Network) -> Result<()> {
    txn.put_unsynced(&net.key(), &encode(net)?)?;
    Ok(())
}

// The index: network documents are the truth; these small entries let an operation touch only
// the networks it concerns instead of reading every document. Entries are written before the
// document and removed after it, checked against the document on every use, and rebuilt by
// `restore`, so a process killed between two writes leaves at worst a stale hint.

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn name_key(name: &str) -> String {
    format!("names/{}", hex(name))
}

fn parent_dir(parent: &str) -> String {
    format!("parents/{}", hex(parent))
}

/// One network document by id, if present.
pub(crate) fn load(txn: &dyn Txn, id: &str) -> Result<Option<Network>> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !valid {
        return Ok(None);
    }
    match txn.get(&network_key(id))? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::store(format!("state document networks/{id} cannot be read: {e}"))),
    }
}

/// The network called `name`, if any.
pub(crate) fn find_by_name(txn: &dyn Txn, name: &str) -> Result<Option<Network>> {
    let Some(id) = txn.get(&name_key(name))? else {
        return Ok(None);
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    Ok(load(txn, &id)?.filter(|n| n.name == name))
}

/// Find a network by exact name, exact id, or unique id prefix (Docker's lookup order).
pub(crate) fn find_net(txn: &dyn Txn, key: &str) -> Result<Network> {
    if let Some(n) = find_by_name(txn, key)? {
        return Ok(n);
    }
    if let Some(n) = load(txn, key)? {
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
            load(txn, one)?.ok_or_else(|| Error::not_found(format!("network {key} not found")))
        }
        [] => Err(Error::not_found(format!("network {key} not found"))),
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|id| load(txn, id).ok().flatten().map(|n| n.name))
                .collect();
            Err(Error::conflict(format!(
                "network {key} is ambiguous ({} matches: {})",
                many.len(),
                names.join(", ")
            )))
        }
    }
}

/// Every network whose parent has index key `parent` (see `Parent::index_key`: a host link's
/// name).
pub(crate) fn on_parent(txn: &dyn Txn, parent: &str) -> Result<Vec<Network>> {
    let mut out = Vec::new();
    for key in txn.keys(&parent_dir(parent))? {
        let id = key.rsplit('/').next().unwrap_or_default();
        if let Some(n) = load(txn, id)?.filter(|n| n.parent.index_key() == parent) {
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

/// Make the index match the documents exactly.
pub(crate) fn reindex(txn: &mut dyn Txn, nets: &[Network]) -> Result<()> {
    let mut want: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();
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
    Ok(())
}

#[cfg(test)]
mod tests;
