//! The underlay engine: one place for behaviour, validation, error wording and the order of
//! side effects, shared by every front door (CLI, Docker plugin, CNI).
//!
//! ```text
//! front door ──typed request──▶ Engine ──▶ ipam (pure) / store (documents) / netlink (kernel)
//! ```
//!
//! Public API:
//! - [`Engine`]: [`Engine::open`] / [`Engine::open_single_threaded`] (the kernel and a state
//!   directory) or [`Engine::new`] (any [`netlink::Netlink`] and [`store::Store`]);
//!   networks: `create_network`, `networks`, `network_configs`, `network`,
//!   `network_config`, `endpoint_count`, `remove_network`, `prune`, `declared_network`;
//!   attachments, whatever door they come through, by one [`AttachmentKey`] (a namespace, a
//!   CNI container's interface, a runtime's endpoint) and one [`Placement`] (into a
//!   namespace, reserved, handed off on the host): `attach`, `detach` (as much as a
//!   [`Detach`] says) + `finish_detach`, `check`, `restore` and `restore_check`,
//!   `resolve_netns`; a runtime's own networks (Docker): `ensure_network`,
//!   `delete_runtime_network`, `name_runtime_network`, `name_endpoint`; the IPAM driver's
//!   pools in their own facade, `pools()` ([`pools::Pools`]: `request_pool`, `release_pool`,
//!   `request_address`, `release_address`, `list`); `default_route_link`, `parent_ready`,
//!   `store_location`; with a cluster store ([`Engine::with_cluster`], a
//!   [`cluster::Cluster`]): global networks through the same calls, and `global_only`,
//!   `global_network`, `holders`, `node_name`, `cluster_nodes`, `forget_node`.
//! - Requests and results: [`CreateRequest`], [`Created`], [`AttachRequest`], [`Attached`],
//!   [`Declared`] and [`DECLARED_LABEL`], [`ExternalIpam`], [`Detached`], [`PendingDetach`],
//!   [`Netns`], [`RestoreReport`], [`Damaged`]; the model: [`Network`], [`Endpoint`],
//!   [`Driver`], [`Mode`], [`Parent`], [`NetState`], [`EndpointState`], [`Owner`],
//!   [`RouteSpec`], [`ExternalAddrs`]; a MAC address is a [`Mac`] (the kernel seam's).
//! - Errors: [`Error`] (a `thiserror` enum: its [`Kind`], the [`Field`] at fault, the
//!   [`Clash`] of a conflict, the kernel's or store's error as its source), [`Result`],
//!   [`error::kernel_reason`]; the doors' vocabulary: [`Door`], [`Field`].
//! - [`check_ifname`], [`IFNAME_MAX`], [`DEFAULT_STATE_DIR`], [`pools::LOCAL_SPACE`] /
//!   [`pools::GLOBAL_SPACE`], [`sandbox::Sandbox`] (a throwaway namespace for `run`).

#![forbid(unsafe_code)]

use std::sync::Arc;

use netlink::Netlink;
use store::{Store, Txn};

pub(crate) use docs::{
    find_by_name, find_head, find_net, index_add, index_remove, load, load_head, on_parent,
    reindex, save,
};

mod attach;
mod check;
pub mod cluster;
mod cluster_pools;
pub use cluster_pools::PoolInfo;
mod create;
mod damage;
mod declared;
mod detach;
mod docs;
mod endpoint;
pub mod error;
mod final_name_first;
mod global;
mod handoff;
mod handover;
mod ids;
mod migrate;
mod model;
pub mod pools;
mod restore;
pub mod sandbox;
pub mod vocab;

pub use create::{check_ifname, CreateRequest, Created, IFNAME_MAX};
pub use declared::{Declared, DECLARED_LABEL};
pub use docs::Damaged;
pub use endpoint::{
    AttachRequest, Attached, AttachmentKey, Detach, Detached, ExternalIpam, Netns, PendingDetach,
    Placement,
};
pub use error::{Clash, Error, Kind, Result};
pub use model::{
    Driver, Endpoint, EndpointState, ExternalAddrs, Mode, NetState, Network, Owner, Parent,
    RestoreReport, RouteSpec,
};
pub use netlink::Mac;
pub use store::DEFAULT_STATE_DIR;
pub use vocab::{Door, Field};

/// The engine: a netlink client and a store.
pub struct Engine {
    nl: Arc<dyn Netlink>,
    store: Arc<dyn Store>,
    /// The cluster store, where one is given: global networks and their address claims.
    cluster: Option<Arc<cluster::Cluster>>,
}

impl Engine {
    pub fn new(nl: Arc<dyn Netlink>, store: Box<dyn Store>) -> Self {
        Self {
            nl,
            store: store.into(),
            cluster: None,
        }
    }

    /// The same engine, a node of the cluster `cluster` names.
    pub fn with_cluster(self, cluster: cluster::Cluster) -> Self {
        self.with_shared_cluster(Arc::new(cluster))
    }

    /// The same engine, a node of the cluster `cluster` names (shared with its caller).
    pub fn with_shared_cluster(mut self, cluster: Arc<cluster::Cluster>) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The cluster store, or the error for a request that needs one.
    pub(crate) fn cluster(&self, what: &str) -> Result<&cluster::Cluster> {
        self.cluster.as_deref().ok_or_else(|| {
            Error::invalid(format!(
                "{what} needs a cluster store: give --cluster-store etcd://HOST:PORT (or set UNDERLAY_CLUSTER_STORE) on every host"
            ))
        })
    }

    /// What `restore` would do, told by running it against a dry run of the kernel (asked,
    /// never changed) and of the store (read under its shared lock, never written): its
    /// report, with nothing changed.
    pub fn restore_check(&self) -> Result<RestoreReport> {
        let dry = Engine {
            nl: Arc::new(netlink::DryRun::new(self.nl.clone())),
            store: Arc::new(store::Overlay::new(self.store.clone())),
            // The cluster store is only read by restore's checks.
            cluster: self.cluster.clone(),
        };
        dry.restore()
    }

    /// The engine as the product runs it: the kernel through netlink, state in `state_dir`.
    pub fn open(state_dir: &std::path::Path) -> Result<Self> {
        Self::open_with(state_dir, netlink::NsEntry::FreshThread)
    }

    /// Like `open`, for a process that runs one command on the calling thread (the CLI, a CNI
    /// call): sockets in containers' namespaces are made by this thread going there and back
    /// instead of by a thread of their own.
    pub fn open_single_threaded(state_dir: &std::path::Path) -> Result<Self> {
        // `bench/tricks.sh` builds a binary without the trick, to measure what it wins.
        if cfg!(underlay_bench_fresh_thread) {
            return Self::open_with(state_dir, netlink::NsEntry::FreshThread);
        }
        Self::open_with(state_dir, netlink::NsEntry::CallingThread)
    }

    fn open_with(state_dir: &std::path::Path, entry: netlink::NsEntry) -> Result<Self> {
        let nl = netlink::RealNetlink::new()
            .map_err(|e| Error::kernel(format!("cannot open a netlink socket: {e}")))?
            .with_ns_entry(entry);
        let store = store::DirStore::open(state_dir)?;
        Ok(Self::new(Arc::new(nl), Box::new(store)))
    }

    /// Where state is kept (for messages).
    pub fn store_location(&self) -> String {
        self.store.location()
    }

    /// Every network whose documents can be read, sorted by name (`restore` reports the
    /// others).
    pub fn networks(&self) -> Result<Vec<Network>> {
        let txn = self.store.snapshot()?;
        let (mut nets, _) = docs::load_all_readable(&*txn)?;
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nets)
    }

    /// Every network's configuration and state, sorted by name, without allocations or
    /// endpoints: what `network ls` shows, cheap at any size; and the network documents that
    /// cannot be read (the others are listed all the same).
    pub fn network_configs(&self) -> Result<(Vec<Network>, Vec<Damaged>)> {
        let txn = self.store.snapshot()?;
        let (mut nets, damaged) = docs::load_all_configs(&*txn)?;
        nets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((nets, damaged))
    }

    /// One network by name, id or unique id prefix.
    pub fn network(&self, key: &str) -> Result<Network> {
        let txn = self.store.snapshot()?;
        find_net(&*txn, key)
    }

    /// One network's configuration and state (its `endpoints` left empty): as cheap with
    /// thousands of endpoints as with none.
    pub fn network_config(&self, key: &str) -> Result<Network> {
        let txn = self.store.snapshot()?;
        let mut net = find_head(&*txn, key)?;
        net.endpoints.clear();
        Ok(net)
    }

    /// How many endpoints the network with id `id` has.
    pub fn endpoint_count(&self, id: &str) -> Result<usize> {
        let txn = self.store.snapshot()?;
        let Some(net) = load_head(&*txn, id)? else {
            return Err(Error::not_found(format!("network {id} not found")));
        };
        docs::endpoint_count(&*txn, &net)
    }

    /// Remove a network: refused while endpoints are attached; deletes the parent link if
    /// underlay created it and no other network uses it.
    pub fn remove_network(&self, key: &str) -> Result<String> {
        let mut txn = self.store.begin()?;
        let net = match find_net(&*txn, key) {
            Err(e) if e.kind() == Kind::NotFound && self.cluster.is_some() => {
                // A global network this node never used: removed from the cluster store.
                return self.remove_global(key, None).and_then(|id| id.ok_or(e));
            }
            other => other?,
        };
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
        if net.scope == cluster::Scope::Global {
            self.remove_global(&net.id, Some(&net))?;
        }
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
        docs::delete_all(txn, &net)?;
        index_remove(txn, &net)?;
        Ok(())
    }

    /// Remove every network without endpoints that `select` picks; returns their names.
    pub fn prune(&self, select: &dyn Fn(&Network) -> bool) -> Result<Vec<String>> {
        let names: Vec<String> = self
            .networks()?
            .into_iter()
            .filter(|n| {
                n.endpoints.is_empty()
                    && n.state == NetState::Ready
                    && n.owner.is_none()
                    && select(n)
            })
            .map(|n| n.id)
            .collect();
        let mut removed = Vec::new();
        for id in names {
            let net = self.network(&id)?;
            match self.remove_network(&id) {
                Ok(_) => removed.push(net.name),
                Err(e) if e.kind() == Kind::Conflict || e.kind() == Kind::NotFound => {}
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

#[cfg(test)]
mod cluster_pools_tests;
#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
