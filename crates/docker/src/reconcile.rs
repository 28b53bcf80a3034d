//! Docker forgets things without telling its plugins: a dockerd whose data was wiped never
//! deletes its networks, and an address Docker released while the daemon was down is never
//! released again. So the daemon compares, every `--docker-reconcile` seconds, what it holds
//! for Docker with what Docker's API shows (`GET /networks`, `GET /networks/ID`), outside
//! any plugin request, and releases what Docker no longer has:
//!
//! - a network of Docker's that Docker does not list (its endpoints and links with it);
//! - an endpoint of such a network that Docker's network does not show;
//! - a pool of the IPAM driver whose subnet no network of Docker's has (every address,
//!   gateway and request of it), and an address of a pool that is neither a gateway, an
//!   auxiliary address nor a container's address of any network of Docker's on the subnet.
//!
//! Nothing is released on one look: only what two looks in a row, an interval apart, both
//! found missing (an operation Docker is in the middle of shows by the second), and nothing
//! at all while Docker's answer is unknown (down, slow, an error): a look that fails forgets
//! what the one before found. A look whose answer takes longer than 20 s is unknown.
//!
//! The daemon looks when it starts, every interval, and soon after Docker (re)connects (a
//! dockerd activates one of the plugin's sockets: it started, or was restarted): Docker's
//! API is asked once a second until it answers, for up to a minute, and the interval starts
//! again from that look.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use engine::{AttachmentKey, Detach, Engine, Owner};
use ipnet::IpNet;
use serde_json::Value;

use crate::names::DockerApi;

/// What Docker has, of what underlay holds for it.
#[derive(Default, Debug)]
struct DockerView {
    /// The endpoints of each network Docker has, by network id.
    networks: BTreeMap<String, BTreeSet<String>>,
    /// Every subnet of Docker's networks (whatever their IPAM driver), with each address
    /// Docker holds in it: gateways, auxiliary addresses, containers' addresses.
    subnets: BTreeMap<IpNet, BTreeSet<IpAddr>>,
    /// Docker's networks on underlay's drivers, as its API shows them.
    ours: BTreeMap<String, Value>,
    /// Docker's networks on underlay's IPAM driver, as its API shows them.
    on_pools: BTreeMap<String, Value>,
}

/// Something underlay holds for Docker that Docker does not have.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Orphan {
    Network {
        id: String,
        name: String,
    },
    Endpoint {
        network: String,
        endpoint: String,
        name: String,
    },
    Pool {
        space: String,
        subnet: IpNet,
    },
    Address {
        pool: String,
        ip: IpAddr,
    },
    /// Not an orphan but its opposite: a network on underlay's driver that Docker has and
    /// underlay has no record of (its state directory lost or replaced), made again.
    Lacking {
        id: String,
        name: String,
    },
    /// The same for a pool of underlay's IPAM that a network of Docker's uses.
    LackingPool {
        network: String,
        subnet: IpNet,
    },
}

/// How long one look may take: a Docker slower than this is a Docker whose view is unknown.
const LOOK_TIMEOUT: Duration = Duration::from_secs(20);
/// After Docker (re)connects, how long its API is asked, once a second, until it answers:
/// dockerd activates its plugins while it starts, before its API serves.
const CONNECT_PATIENCE: u32 = 60;

/// Reconcile every `every` for as long as the daemon runs, and soon after Docker (re)connects
/// (`connected` is notified when a dockerd activates one of the plugin's sockets).
pub async fn run(engine: Arc<Engine>, api: DockerApi, every: Duration, connected: Arc<Notify>) {
    let mut looks = Looks::new(every);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            at = tick.tick() => {
                one_look(&engine, &api, &mut looks, at).await;
            }
            () = connected.notified() => {
                tracing::info!("docker reconcile: Docker (re)connected; looking at its view");
                for _ in 0..CONNECT_PATIENCE {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if one_look(&engine, &api, &mut looks, Instant::now()).await {
                        break;
                    }
                }
                tick.reset();
            }
        }
    }
}

/// One look at `at`: Docker's view compared with underlay's records, and what it confirms
/// released (or made again). False when Docker's view is unknown.
async fn one_look(engine: &Arc<Engine>, api: &DockerApi, looks: &mut Looks, at: Instant) -> bool {
    let view = match tokio::time::timeout(LOOK_TIMEOUT, look(api)).await {
        Ok(Ok(v)) => Arc::new(v),
        Ok(Err(e)) => {
            tracing::debug!("docker reconcile: Docker's view unknown, nothing released: {e}");
            looks.unknown();
            return false;
        }
        Err(_) => {
            tracing::warn!(
                "docker reconcile: Docker did not answer within {} s; nothing released",
                LOOK_TIMEOUT.as_secs()
            );
            looks.unknown();
            return false;
        }
    };
    let (e, v) = (engine.clone(), view.clone());
    let now = match tokio::task::spawn_blocking(move || orphans(&e, &v)).await {
        Ok(Ok(now)) => now,
        Ok(Err(e)) => {
            tracing::warn!("docker reconcile: {e}");
            return true;
        }
        Err(e) => {
            tracing::warn!("docker reconcile: {e}");
            return true;
        }
    };
    let confirmed = looks.found(now, at);
    if !confirmed.is_empty() {
        let e = engine.clone();
        let _ = tokio::task::spawn_blocking(move || release(&e, confirmed, &view)).await;
    }
    true
}

/// The two-look rule: what a look finds is acted on only when the look before it, at least
/// an interval earlier, found it too. A look sooner than that after the last one (Docker
/// reconnecting) can only take back what Docker shows again; a look whose answer is unknown
/// forgets everything.
struct Looks {
    every: Duration,
    before: BTreeSet<Orphan>,
    at: Option<Instant>,
}

impl Looks {
    fn new(every: Duration) -> Self {
        Looks {
            every,
            before: BTreeSet::new(),
            at: None,
        }
    }

    fn unknown(&mut self) {
        self.before.clear();
        self.at = None;
    }

    /// What `now`, found by the look at `at`, confirms.
    fn found(&mut self, now: BTreeSet<Orphan>, at: Instant) -> Vec<Orphan> {
        match self.at {
            Some(last) if at.duration_since(last) >= self.every => {
                let confirmed: Vec<Orphan> = now.intersection(&self.before).cloned().collect();
                self.before = now.into_iter().filter(|o| !confirmed.contains(o)).collect();
                self.at = Some(at);
                confirmed
            }
            Some(_) => {
                self.before.retain(|o| now.contains(o));
                Vec::new()
            }
            None => {
                self.before = now;
                self.at = Some(at);
                Vec::new()
            }
        }
    }
}

/// Docker's networks, their endpoints and the addresses they hold; an error when any part
/// of the answer is missing.
async fn look(api: &DockerApi) -> Result<DockerView, String> {
    let list = api
        .get("/networks")
        .await?
        .ok_or("Docker has no /networks")?;
    let mut view = DockerView::default();
    for n in list.as_array().ok_or("Docker's /networks is not a list")? {
        let id = n
            .get("Id")
            .and_then(Value::as_str)
            .ok_or("a network without Id")?;
        // The list leaves the containers out: each network asked for.
        let Some(net) = api.get(&format!("/networks/{id}")).await? else {
            continue; // removed between the two questions: not Docker's any more
        };
        view.add(id, &net);
        if net.pointer("/IPAM/Driver").and_then(Value::as_str) == Some("underlay") {
            view.on_pools.insert(id.to_string(), net.clone());
        }
        if crate::api::underlay_driver(&net).is_some() {
            view.ours.insert(id.to_string(), net);
        }
    }
    Ok(view)
}

impl DockerView {
    fn add(&mut self, id: &str, net: &Value) {
        let endpoints = self.networks.entry(id.to_string()).or_default();
        let mut addrs: Vec<IpAddr> = Vec::new();
        let containers = net.get("Containers").and_then(Value::as_object);
        for c in containers.into_iter().flat_map(|m| m.values()) {
            if let Some(ep) = c.get("EndpointID").and_then(Value::as_str) {
                endpoints.insert(ep.to_string());
            }
            for k in ["IPv4Address", "IPv6Address"] {
                let text = c.get(k).and_then(Value::as_str).unwrap_or_default();
                if let Ok(a) = text.split('/').next().unwrap_or_default().parse() {
                    addrs.push(a);
                }
            }
        }
        let configs = net.pointer("/IPAM/Config").and_then(Value::as_array);
        for cfg in configs.into_iter().flatten() {
            let Some(subnet) = cfg
                .get("Subnet")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<IpNet>().ok())
            else {
                continue;
            };
            let held = self.subnets.entry(subnet).or_default();
            let gateway = cfg.get("Gateway").and_then(Value::as_str);
            let aux = cfg.get("AuxiliaryAddresses").and_then(Value::as_object);
            let named = gateway.into_iter().chain(
                aux.into_iter()
                    .flat_map(|m| m.values().filter_map(Value::as_str)),
            );
            held.extend(named.filter_map(|a| a.split('/').next()?.parse::<IpAddr>().ok()));
            held.extend(addrs.iter().filter(|a| subnet.contains(*a)));
        }
    }
}

/// What underlay holds for Docker that `view` does not show.
fn orphans(engine: &Engine, view: &DockerView) -> engine::Result<BTreeSet<Orphan>> {
    let mut out = BTreeSet::new();
    let networks = engine.networks()?;
    for (id, net) in &view.ours {
        if !networks.iter().any(|n| &n.id == id) {
            let name = net.get("Name").and_then(Value::as_str).unwrap_or(id);
            out.insert(Orphan::Lacking {
                id: id.clone(),
                name: name.to_string(),
            });
        }
    }
    for net in networks {
        if net.owner != Some(Owner::Docker) {
            continue;
        }
        let Some(eps) = view.networks.get(&net.id) else {
            out.insert(Orphan::Network {
                id: net.id,
                name: net.name,
            });
            continue;
        };
        for ep in net.endpoints.values().filter(|e| !eps.contains(&e.id)) {
            out.insert(Orphan::Endpoint {
                network: net.id.clone(),
                endpoint: ep.id.clone(),
                name: format!("{} on network {}", ep.name, net.name),
            });
        }
    }
    let pools = engine.pools().list()?;
    for (id, net) in &view.on_pools {
        for subnet in subnets_of(net) {
            if !pools.iter().any(|d| d.subnet.subnet() == subnet) {
                out.insert(Orphan::LackingPool {
                    network: id.clone(),
                    subnet,
                });
            }
        }
    }
    for doc in pools {
        let subnet = doc.subnet.subnet();
        let Some(held) = view.subnets.get(&subnet) else {
            out.insert(Orphan::Pool {
                space: doc.space.clone(),
                subnet,
            });
            continue;
        };
        let pool = engine::pools::Pools::id_of(&doc);
        for ip in doc.held.keys().filter(|a| !held.contains(*a)) {
            out.insert(Orphan::Address {
                pool: pool.clone(),
                ip: *ip,
            });
        }
    }
    Ok(out)
}

/// Give back what two looks found missing (and make again what underlay lacks), each logged.
fn release(engine: &Engine, orphans: Vec<Orphan>, view: &DockerView) {
    for o in orphans {
        if let Orphan::Lacking { id, name } = &o {
            remake(engine, id, name, view);
            continue;
        }
        if let Orphan::LackingPool { network, subnet } = &o {
            remake_pool(engine, &view.on_pools[network], *subnet);
            continue;
        }
        let (what, done) = match &o {
            Orphan::Network { id, name } => (
                format!(
                    "network {name} ({}), which Docker no longer has",
                    &id[..12.min(id.len())]
                ),
                engine.delete_runtime_network(id),
            ),
            Orphan::Endpoint {
                network,
                endpoint,
                name,
            } => (
                format!(
                    "endpoint {name} ({}), which Docker no longer has",
                    &endpoint[..12.min(endpoint.len())]
                ),
                engine
                    .detach(
                        network,
                        &AttachmentKey::Endpoint(endpoint.clone()),
                        Detach::All,
                    )
                    .map(|_| ()),
            ),
            Orphan::Pool { space, subnet } => (
                format!("pool {subnet} of {space}, which no network of Docker's has"),
                engine.pools().drop_pool(space, *subnet).map(|_| ()),
            ),
            Orphan::Address { pool, ip } => (
                format!(
                    "address {ip} of pool {pool}, which no container or network of Docker's holds"
                ),
                engine.pools().release_address(pool, &ip.to_string()),
            ),
            Orphan::Lacking { .. } | Orphan::LackingPool { .. } => continue,
        };
        match done {
            Ok(()) => tracing::info!("docker reconcile: released {what}"),
            Err(e) => tracing::warn!("docker reconcile: {what}: not released: {e}"),
        }
    }
}

/// A network Docker has on underlay's driver and underlay has no record of, made again from
/// what Docker's API shows (as Docker's CreateNetwork would have), or reported.
fn remake(engine: &Engine, id: &str, name: &str, view: &DockerView) {
    let short = &id[..12.min(id.len())];
    let Some(req) = view
        .ours
        .get(id)
        .and_then(crate::api::create_request_from_inspect)
    else {
        return;
    };
    let ipam = view.ours[id]
        .pointer("/IPAM/Driver")
        .and_then(Value::as_str);
    match engine.ensure_network(&req) {
        Ok(_) => {
            let _ = engine.name_runtime_network(id, name, ipam);
            tracing::warn!(
                "docker reconcile: made network {name} ({short}) again: Docker has it and underlay had no record of it (its state directory lost or replaced?); containers attached before keep their links but are not underlay's any more"
            );
        }
        Err(e) => tracing::warn!(
            "docker reconcile: Docker has network {name} ({short}) and underlay has no record of it, and cannot make it again: {e}; `docker network rm {name}` and create it again"
        ),
    }
}

/// The subnets of a network as Docker's API shows it.
fn subnets_of(net: &Value) -> Vec<IpNet> {
    let configs = net.pointer("/IPAM/Config").and_then(Value::as_array);
    configs
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("Subnet")?.as_str()?.parse().ok())
        .collect()
}

/// A pool a network of Docker's uses and underlay has no record of, requested again as
/// Docker requested it (the same pool id follows from its space, subnet and range), with
/// the network's gateway, auxiliary addresses and every container's address and MAC.
fn remake_pool(engine: &Engine, net: &Value, subnet: IpNet) {
    let name = net.get("Name").and_then(Value::as_str).unwrap_or_default();
    let configs = net.pointer("/IPAM/Config").and_then(Value::as_array);
    let Some(cfg) = configs
        .into_iter()
        .flatten()
        .find(|c| c.get("Subnet").and_then(Value::as_str) == Some(subnet.to_string().as_str()))
    else {
        return;
    };
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let scope = match net.pointer("/IPAM/Options/scope").and_then(Value::as_str) {
        Some("local") => Some(engine::cluster::Scope::Local),
        Some("global") => Some(engine::cluster::Scope::Global),
        _ => None,
    };
    let pools = engine.pools();
    let space = engine::pools::LOCAL_SPACE;
    let v6 = subnet.addr().is_ipv6();
    let made = pools
        .request_pool(space, &subnet.to_string(), &text(cfg, "IPRange"), v6, scope)
        .and_then(|(id, _)| {
            let gw = Some(text(cfg, "Gateway")).filter(|g| !g.is_empty());
            if let Some(g) = gw {
                pools.request_address(
                    &id,
                    Some(g.split('/').next().unwrap_or_default()),
                    true,
                    None,
                )?;
            }
            let aux = cfg.get("AuxiliaryAddresses").and_then(Value::as_object);
            for a in aux
                .into_iter()
                .flat_map(|m| m.values().filter_map(Value::as_str))
            {
                pools.request_address(&id, Some(a), false, None)?;
            }
            let containers = net.get("Containers").and_then(Value::as_object);
            for c in containers.into_iter().flat_map(|m| m.values()) {
                let key = if v6 { "IPv6Address" } else { "IPv4Address" };
                let addr = text(c, key);
                let addr = addr.split('/').next().unwrap_or_default();
                if addr.parse::<IpAddr>().is_ok_and(|a| subnet.contains(&a)) {
                    let mac = Some(text(c, "MacAddress")).filter(|m| !m.is_empty());
                    pools.request_address(&id, Some(addr), false, mac.as_deref())?;
                }
            }
            Ok(id)
        });
    match made {
        Ok(id) => tracing::warn!(
            "docker reconcile: requested pool {id} again for network {name}: Docker uses it and underlay had no record of it (its state directory lost or replaced?)"
        ),
        Err(e) => tracing::warn!(
            "docker reconcile: network {name} uses pool {subnet} of underlay's IPAM, which underlay has no record of and cannot request again: {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(n: u8) -> Orphan {
        Orphan::Pool {
            space: "LocalDefault".into(),
            subnet: format!("10.0.{n}.0/24").parse().unwrap(),
        }
    }

    #[test]
    fn two_looks_an_interval_apart_confirm_and_an_unknown_one_forgets() {
        let every = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut l = Looks::new(every);
        assert!(l.found(BTreeSet::from([pool(1), pool(2)]), t0).is_empty());
        // Docker reconnects a second later: shows pool 2 again, finds pool 3; confirms nothing.
        assert!(l
            .found(
                BTreeSet::from([pool(1), pool(3)]),
                t0 + Duration::from_secs(1)
            )
            .is_empty());
        // An interval after the first look: pool 1, missing in all three, is confirmed; pool 3
        // was only found by the early look and waits for the next one.
        let got = l.found(BTreeSet::from([pool(1), pool(3)]), t0 + every);
        assert_eq!(got, vec![pool(1)]);
        let got = l.found(BTreeSet::from([pool(3)]), t0 + every * 2);
        assert_eq!(got, vec![pool(3)]);
        // A look whose answer is unknown forgets: the next finds, the one after confirms.
        assert!(l
            .found(BTreeSet::from([pool(4)]), t0 + every * 3)
            .is_empty());
        l.unknown();
        assert!(l
            .found(BTreeSet::from([pool(4)]), t0 + every * 4)
            .is_empty());
        assert_eq!(
            l.found(BTreeSet::from([pool(4)]), t0 + every * 5),
            vec![pool(4)]
        );
    }

    #[test]
    fn dockers_view_holds_gateways_aux_and_container_addresses_by_subnet() {
        let mut v = DockerView::default();
        v.add(
            "n1",
            &json!({
                "IPAM": {"Driver": "underlay", "Config": [
                    {"Subnet": "172.16.86.0/24", "Gateway": "172.16.86.1",
                     "AuxiliaryAddresses": {"router2": "172.16.86.2"}},
                    {"Subnet": "2001:db8::/64"}]},
                "Containers": {"c1": {"EndpointID": "e1", "IPv4Address": "172.16.86.3/24",
                                      "IPv6Address": "2001:db8::3/64"}}
            }),
        );
        v.add("n2", &json!({"IPAM": {"Config": []}, "Containers": {}}));
        assert_eq!(v.networks["n1"], BTreeSet::from(["e1".to_string()]));
        assert!(v.networks["n2"].is_empty());
        let s: IpNet = "172.16.86.0/24".parse().unwrap();
        let want: BTreeSet<IpAddr> = ["172.16.86.1", "172.16.86.2", "172.16.86.3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(v.subnets[&s], want);
        let s6: IpNet = "2001:db8::/64".parse().unwrap();
        assert_eq!(v.subnets[&s6].len(), 1);
    }
}
