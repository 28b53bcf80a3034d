//! Global networks on this node: publishing one's definition, making this node's part of one
//! another node defined (adopting it), claiming and releasing its addresses in the cluster
//! store around the local steps (see `cluster` for the rules).

use std::net::IpAddr;

use crate::cluster::{ClaimHolder, ClaimSpace, Cluster, Definition, Refused, Scope, CLAIM_TRIES};
use crate::error::{Error, Result};
use crate::model::*;
use crate::Engine;

impl Engine {
    /// Before an attach to `network`: if this node has no network of that name but the
    /// cluster store defines one, make this node's part of it (its parent, its record).
    pub(crate) fn adopt_if_global(&self, network: &str) -> Result<()> {
        let Some(cluster) = self.cluster.as_deref() else {
            return Ok(());
        };
        match crate::find_head(&*self.store.snapshot()?, network) {
            Err(e) if e.kind() == crate::Kind::NotFound => {}
            other => return other.map(|_| ()),
        }
        let Some((def, version)) = cluster.definition(network)? else {
            return Ok(());
        };
        match self.create(&def.request(), Some((version, def.created.clone()))) {
            Ok(_) => Ok(()),
            // Another process of this node made it first.
            Err(e) if e.clash() == Some(crate::Clash::NetworkExists) => Ok(()),
            Err(e) => Err(e.prefixed(&format!(
                "global network {} cannot be used on node {}: ",
                def.name(),
                cluster.node()
            ))),
        }
    }

    /// The global networks the cluster store defines that this node has no part of yet, as
    /// defined (their parents as named), sorted by name.
    pub fn global_only(&self) -> Result<Vec<Network>> {
        let Some(cluster) = self.cluster.as_deref() else {
            return Ok(Vec::new());
        };
        let snap = self.store.snapshot()?;
        let mut out = Vec::new();
        for def in cluster.definitions()? {
            if crate::load_head(&*snap, &def.id)?.is_none() {
                out.push(as_defined(&def)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Global network `key` as the cluster store defines it (for a node with no part of it).
    pub fn global_network(&self, key: &str) -> Result<Option<Network>> {
        let Some(cluster) = self.cluster.as_deref() else {
            return Ok(None);
        };
        cluster
            .definition(key)?
            .map(|(def, _)| as_defined(&def))
            .transpose()
    }

    /// Who holds each address of global network `net`, on every node (none for a local one).
    pub fn holders(
        &self,
        net: &Network,
    ) -> Result<std::collections::BTreeMap<IpAddr, ClaimHolder>> {
        match (net.scope, self.cluster.as_deref()) {
            (Scope::Global, Some(cluster)) => cluster.claims(&net.id),
            _ => Ok(Default::default()),
        }
    }

    /// Every node of the cluster store (`cluster nodes`).
    pub fn cluster_nodes(&self) -> Result<Vec<crate::cluster::NodeInfo>> {
        self.cluster("`cluster nodes`")?.nodes()
    }

    /// Forget node `name` for good (`cluster forget`): how many addresses were released.
    pub fn forget_node(&self, name: &str) -> Result<usize> {
        self.cluster("`cluster forget`")?.forget(name)
    }

    /// This host's node name in the cluster store, where it has one.
    pub fn node_name(&self) -> Option<&str> {
        self.cluster.as_deref().map(Cluster::node)
    }

    /// Publish a global network this node creates, once every local check has passed: its
    /// definition's version.
    pub(crate) fn publish(&self, req: &crate::CreateRequest, net: &Network) -> Result<u64> {
        let cluster = self.cluster("a network of scope global")?;
        cluster.publish(&Definition::of(req, &net.id, &net.created, cluster.node()))
    }

    /// Undo a publish whose local part failed (best effort: nobody else can hold an address
    /// of a network this young, and a definition left behind is a network nobody uses yet).
    pub(crate) fn unpublish_new(&self, req: &crate::CreateRequest, net: &Network) {
        if let (Some(cluster), Some(v)) = (self.cluster.as_deref(), net.definition_version) {
            let def = Definition::of(req, &net.id, &net.created, cluster.node());
            let _ = cluster.unpublish(&def, v);
        }
    }

    /// Remove global network `key` from the cluster store, refused while any node holds an
    /// address of it (naming the nodes); `local`: this node's part, which goes next. The
    /// network's id, or None when the cluster store has no such network.
    pub(crate) fn remove_global(
        &self,
        key: &str,
        local: Option<&Network>,
    ) -> Result<Option<String>> {
        let cluster = self.cluster("a network of scope global")?;
        let Some((def, version)) = cluster.definition(key)? else {
            // Removed by another node already: only this node's part is left.
            return Ok(local.map(|n| n.id.clone()));
        };
        if local.is_some_and(|n| n.id != def.id) {
            return Ok(local.map(|n| n.id.clone()));
        }
        cluster.unpublish(&def, version)?;
        Ok(Some(def.id))
    }

    /// The endpoint's addresses: reserved in the network's pools and, on a global network,
    /// claimed in the cluster store (a candidate another node took is skipped, with the
    /// claimed set learned from the cluster store). The pools as they are now, the addresses
    /// and their claims.
    pub(crate) fn take_addresses(
        &self,
        txn: &mut dyn store::Txn,
        net: &mut Network,
        req: &crate::AttachRequest,
        asked: &crate::attach::Asked,
        holder: &ClaimHolder,
    ) -> Result<crate::attach::Taken> {
        if net.scope != Scope::Global || req.external.is_some() {
            return crate::attach::reserve(net, req, asked, 0).map(|t| (t, Vec::new()));
        }
        let cluster = self.cluster("an attach to a global network")?;
        let statics: Vec<IpAddr> = [asked.ip4, asked.ip6].into_iter().flatten().collect();
        if !statics.is_empty() {
            // The local view of what others hold may be old; the claim decides.
            learn_claimed(cluster, net)?;
            for ip in &statics {
                let _ = net.ipam.release(*ip);
            }
        }
        // What this node knows others hold may be old in the other direction too: a pool
        // that looks full is asked about once.
        let mut learned = !statics.is_empty();
        // The lowest free address first, as on one host; after a collision, from a random
        // point of the pool, so that hosts racing for one pool stop picking the same one.
        let mut spread = 0;
        for _ in 0..CLAIM_TRIES {
            let taken = match crate::attach::reserve(net, req, asked, spread) {
                Ok(t) => t,
                Err(_) if !learned => {
                    learn_claimed(cluster, net)?;
                    learned = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let addrs: Vec<IpAddr> = [taken.1, taken.2]
                .into_iter()
                .flatten()
                .map(|a| a.addr())
                .collect();
            match cluster.claim(txn, &ClaimSpace::of(net)?, holder, &addrs)? {
                Ok(claims) => return Ok((taken, claims)),
                Err(Refused::Taken(a)) if statics.contains(&a) => {
                    return Err(held_elsewhere(cluster, net, a, req.door))
                }
                Err(Refused::Taken(_)) => {
                    learn_claimed(cluster, net)?;
                    learned = true;
                    spread = crate::ids::random_u64();
                }
                Err(Refused::Fenced) => return Err(fenced(cluster)),
                Err(Refused::Removed) => {
                    return Err(Error::not_found(format!(
                        "network {} was removed from {} (by another node); `underlay network rm {}` removes this node's part",
                        net.name,
                        cluster.location(),
                        net.name
                    )))
                }
            }
        }
        Err(Error::conflict(format!(
            "no address of network {} could be claimed in {} tries: other nodes keep taking the candidates; try again",
            net.name, CLAIM_TRIES
        )))
    }

    /// Give back an endpoint's claims after its record is gone (forget before release). A
    /// cluster store that cannot be reached leaves them for `restore` to release (an address
    /// of this node's that no endpoint holds).
    pub(crate) fn release_claims(&self, net: &Network, ep: &Endpoint) -> Option<String> {
        if ep.claims.is_empty() {
            return None;
        }
        let cluster = self.cluster.as_deref()?;
        cluster.release(&net.id, &ep.claims).err().map(|e| {
            format!(
                "the addresses of {} stay claimed in {} until `underlay network restore` can reach it: {e}",
                ep.name,
                cluster.location()
            )
        })
    }
}

impl Engine {
    /// `restore`'s part for global networks: this node registered (again, after an operator
    /// forgot it), and for each global network it has a part of, the cluster store's claims
    /// made to match its endpoints: a claim of this node's that no endpoint holds (a process
    /// killed between its claim and its record, or an endpoint restore dropped) is released;
    /// an endpoint's address without its claim is claimed again; one another node holds now
    /// is a conflict, reported (never taken from the other node). A network removed from
    /// the cluster store goes from this node too when it has no endpoints here.
    pub(crate) fn reconcile_global(
        &self,
        txn: &mut dyn store::Txn,
        nets: &[Network],
        report: &mut RestoreReport,
    ) -> Result<()> {
        let Some(cluster) = self.cluster.as_deref() else {
            return Ok(());
        };
        if !nets.iter().any(|n| n.scope == Scope::Global) {
            return Ok(());
        }
        match cluster.ensure_registered(txn) {
            Ok(true) => report.lines.push(format!(
                "node {} registered in {}",
                cluster.node(),
                cluster.location()
            )),
            Ok(false) => {}
            Err(e) => {
                report.problem(format!("node {}: {e}", cluster.node()));
                return Ok(());
            }
        }
        for net in nets.iter().filter(|n| n.scope == Scope::Global) {
            if let Err(e) = self.reconcile_network(txn, cluster, net, report) {
                report.problem(format!(
                    "network {}: its claims in {} could not be checked: {e}",
                    net.name,
                    cluster.location()
                ));
            }
        }
        Ok(())
    }

    fn reconcile_network(
        &self,
        txn: &mut dyn store::Txn,
        cluster: &Cluster,
        net: &Network,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let Some(net) = crate::load(&*txn, &net.id)? else {
            return Ok(());
        };
        if cluster.definition(&net.id)?.is_none() {
            if net.endpoints.is_empty() {
                self.remove_document(txn, net.clone())?;
                report.lines.push(format!(
                    "network {}: removed this node's part (the network was removed from {})",
                    net.name,
                    cluster.location()
                ));
            } else {
                report.problem(format!(
                    "network {} was removed from {} while this node has endpoints on it: disconnect them, then `underlay network rm {}`",
                    net.name, cluster.location(), net.name
                ));
            }
            return Ok(());
        }
        let holders = cluster.claims(&net.id)?;
        for (addr, h) in &holders {
            if h.node == cluster.node() && !net.endpoints.contains_key(&h.endpoint) {
                cluster.release_orphan(&net.id, *addr)?;
                report.lines.push(format!(
                    "network {}: released {addr}, claimed by this node for an endpoint it does not have",
                    net.name
                ));
            }
        }
        let eps: Vec<Endpoint> = net.endpoints.values().cloned().collect();
        for ep in eps {
            self.reclaim(txn, cluster, &net, ep, &holders, report)?;
        }
        Ok(())
    }

    /// An endpoint's addresses claimed again where their claims are missing (its record
    /// then keeps the new claims).
    fn reclaim(
        &self,
        txn: &mut dyn store::Txn,
        cluster: &Cluster,
        net: &Network,
        mut ep: Endpoint,
        holders: &std::collections::BTreeMap<IpAddr, ClaimHolder>,
        report: &mut RestoreReport,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for addr in [ep.ipv4, ep.ipv6].into_iter().flatten().map(|a| a.addr()) {
            match holders.get(&addr) {
                Some(h) if h.endpoint == ep.id => {}
                Some(h) => report.problem(format!(
                    "network {}: {addr} of {} on this node is claimed by node {} (container {}): the address is in use twice on the LAN; disconnect one of them",
                    net.name, ep.name, h.node, h.container
                )),
                None => missing.push(addr),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let holder = ClaimHolder {
            node: cluster.node().to_string(),
            endpoint: ep.id.clone(),
            container: ep.name.clone(),
            mac: ep.mac.map(|m| m.to_string()),
            since: crate::ids::now_rfc3339(),
        };
        match cluster.claim(txn, &ClaimSpace::of(net)?, &holder, &missing)? {
            Ok(claims) => {
                ep.claims.retain(|c| !missing.contains(&c.addr));
                ep.claims.extend(claims);
                report.lines.push(format!(
                    "network {}: claimed {} again for {}",
                    net.name,
                    missing
                        .iter()
                        .map(|a| a.to_string())
                        .collect::<Vec<_>>()
                        .join(" "),
                    ep.name
                ));
                crate::docs::put_ep(txn, &net.id, &ep, false)
            }
            Err(Refused::Taken(a)) => {
                report.problem(format!(
                    "network {}: {a} of {} could not be claimed again: another endpoint took it meanwhile; disconnect one of them",
                    net.name, ep.name
                ));
                Ok(())
            }
            Err(Refused::Fenced) => Err(fenced(cluster)),
            Err(Refused::Removed) => Ok(()),
        }
    }
}

/// A global network as its definition describes it.
fn as_defined(def: &Definition) -> Result<Network> {
    let (mut net, _, _) = crate::create::described(&def.request())?;
    net.id = def.id.clone();
    net.created = def.created.clone();
    net.state = NetState::Ready;
    if let Parent::Dummy { name } = &mut net.parent {
        *name = format!("{}{}", net.mode.driver().dummy_prefix(), &def.id[..12]);
    }
    Ok(net)
}

/// Replace the network's view of what is taken with the cluster store's claims.
fn learn_claimed(cluster: &Cluster, net: &mut Network) -> Result<()> {
    let mut ipam = net.ipam.without_allocations();
    for ip in cluster.claimed(&net.id)? {
        let _ = ipam.reserve(ip);
    }
    net.ipam = ipam;
    Ok(())
}

/// Docker's words for an address in use, with who holds it.
fn held_elsewhere(cluster: &Cluster, net: &Network, a: IpAddr, door: crate::Door) -> Error {
    let field = if a.is_ipv4() {
        crate::Field::Ip
    } else {
        crate::Field::Ip6
    };
    let who = match cluster.holder(&net.id, a) {
        Ok(Some(h)) => format!(
            "held by node {} (container {}, endpoint {})",
            h.node,
            h.container,
            &h.endpoint[..12.min(h.endpoint.len())]
        ),
        _ => "held by another endpoint".to_string(),
    };
    Error::conflict(format!(
        "Address already in use: {} {a} on network {} is {who}",
        door.name(field),
        net.name
    ))
    .on(field)
}

pub(crate) fn fenced(cluster: &Cluster) -> Error {
    Error::conflict(format!(
        "node {}'s registration in {} changed (an operator ran `underlay cluster forget {}`?): this node claims nothing until `underlay network restore` has registered it again and reconciled its addresses",
        cluster.node(),
        cluster.location(),
        cluster.node()
    ))
}
