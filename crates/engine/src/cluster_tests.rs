//! Global networks across nodes, against the fake kernel: each node its own kernel and state
//! directory, all sharing one cluster store (here the embedded store, which keeps the same
//! contract as etcd: `store/tests/contract.rs`). No root, no etcd.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use netlink::{FakeNetlink, Netlink, NsRef};

use super::*;
use crate::cluster::{Cluster, Scope};

struct Node {
    engine: Engine,
    nl: Arc<FakeNetlink>,
    _dir: tempfile::TempDir,
    namespaces: Vec<netlink::Namespace>,
}

/// A cluster store on disk that every node of a test opens.
struct Lan {
    dir: tempfile::TempDir,
}

impl Lan {
    fn new() -> Self {
        Lan {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cluster(&self, node: &str) -> Cluster {
        let store = store::DirStore::open(self.dir.path()).unwrap();
        Cluster::new(Box::new(store), node).unwrap()
    }

    fn node(&self, name: &str) -> Node {
        let nl = Arc::new(FakeNetlink::new());
        nl.add_link(&NsRef::Host, "eth0", None, 1500);
        let dir = tempfile::tempdir().unwrap();
        let local = store::DirStore::open(dir.path()).unwrap();
        let engine = Engine::new(nl.clone() as Arc<dyn Netlink>, Box::new(local))
            .with_cluster(self.cluster(name));
        Node {
            engine,
            nl,
            _dir: dir,
            namespaces: Vec::new(),
        }
    }

    /// Every claim in the cluster store: address → (node, container).
    fn claims(&self, net_id: &str) -> Vec<(std::net::IpAddr, String, String)> {
        self.cluster("reader")
            .claims(net_id)
            .unwrap()
            .into_iter()
            .map(|(a, h)| (a, h.node, h.container))
            .collect()
    }
}

impl Node {
    fn ns(&mut self) -> String {
        let ns = self.nl.ns_new().unwrap();
        let p = ns.path().display().to_string();
        self.namespaces.push(ns);
        p
    }

    fn attach(&mut self, net: &str, name: &str, ip: Option<&str>) -> Result<Attached> {
        let ns = self.ns();
        self.engine.attach(&AttachRequest {
            name: Some(name.into()),
            ip: ip.map(str::to_string),
            door: Door::Cli,
            ..AttachRequest::namespace(net, &ns)
        })
    }
}

fn global(name: &str) -> CreateRequest {
    CreateRequest {
        name: name.into(),
        driver: "macvlan".into(),
        subnets: vec!["172.16.86.0/24".into()],
        gateways: vec!["172.16.86.1".into()],
        options: vec![("parent".into(), "eth0".into())],
        scope: Scope::Global,
        ..Default::default()
    }
}

fn v4(a: &Attached) -> String {
    a.ipv4.unwrap().addr().to_string()
}

#[test]
fn a_global_network_hands_out_each_address_once_across_nodes() {
    let lan = Lan::new();
    let (mut a, mut b) = (lan.node("node-a"), lan.node("node-b"));
    let id = a.engine.create_network(&global("lan")).unwrap().id;
    let a1 = a.attach("lan", "a1", None).unwrap();
    // Node b has never seen the network: it makes its part from the definition.
    let b1 = b.attach("lan", "b1", None).unwrap();
    let net_b = b.engine.network("lan").unwrap();
    assert_eq!(net_b.id, id);
    assert_eq!(net_b.scope, Scope::Global);
    let a2 = a.attach("lan", "a2", None).unwrap();
    let b2 = b.attach("lan", "b2", None).unwrap();
    let all: BTreeSet<String> = [&a1, &b1, &a2, &b2].iter().map(|x| v4(x)).collect();
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(
        v4(&a1),
        "172.16.86.2",
        "the lowest free address first, as on one host"
    );
    let claims = lan.claims(&id);
    assert_eq!(claims.len(), 4);
    assert!(claims.contains(&(a1.ipv4.unwrap().addr(), "node-a".into(), "a1".into())));
    assert!(claims.contains(&(b2.ipv4.unwrap().addr(), "node-b".into(), "b2".into())));

    // A detach gives its claim back; the address is handed out again, on either node.
    let ep = net_b.endpoints.values().find(|e| e.name == "b1").unwrap();
    b.engine
        .detach(
            "lan",
            &AttachmentKey::Namespace(ep.netns.clone()),
            Detach::All,
        )
        .unwrap();
    assert_eq!(lan.claims(&id).len(), 3);
    let a3 = a.attach("lan", "a3", Some(&v4(&b1))).unwrap();
    assert_eq!(v4(&a3), v4(&b1));
}

#[test]
fn a_static_address_another_node_holds_is_refused_naming_the_node() {
    let lan = Lan::new();
    let (mut a, mut b) = (lan.node("node-a"), lan.node("node-b"));
    a.engine.create_network(&global("lan")).unwrap();
    a.attach("lan", "web", Some("172.16.86.10")).unwrap();
    let e = b.attach("lan", "db", Some("172.16.86.10")).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.kind(), Kind::Conflict, "{text}");
    assert_eq!(e.field(), Some(Field::Ip), "{text}");
    assert!(text.contains("Address already in use"), "{text}");
    assert!(text.contains("--ip 172.16.86.10"), "{text}");
    assert!(text.contains("node node-a (container web"), "{text}");
    // Nothing half-made on b: no link, no endpoint, the address not held locally either.
    let net = b.engine.network("lan").unwrap();
    assert!(net.endpoints.is_empty());
    for ns in &b.namespaces {
        let links = b.nl.links(&NsRef::Path(ns.path().to_path_buf())).unwrap();
        assert!(links.iter().all(|l| l.name == "lo"), "{links:?}");
    }
    // Another static address is fine.
    assert_eq!(
        v4(&b.attach("lan", "db", Some("172.16.86.11")).unwrap()),
        "172.16.86.11"
    );
}

#[test]
fn a_global_network_is_removed_only_when_no_node_has_endpoints_on_it() {
    let lan = Lan::new();
    let (mut a, b) = (lan.node("node-a"), lan.node("node-b"));
    a.engine.create_network(&global("lan")).unwrap();
    let e = b.engine.create_network(&global("lan")).unwrap_err();
    assert!(
        e.to_string()
            .contains("network with name lan already exists"),
        "{e}"
    );
    a.attach("lan", "a1", None).unwrap();
    a.attach("lan", "a2", None).unwrap();
    // Node b never used it: its rm asks the cluster store, which names who holds addresses.
    let e = b.engine.remove_network("lan").unwrap_err();
    assert!(
        e.to_string()
            .contains("has active endpoints on nodes node-a (2 addresses)"),
        "{e}"
    );
    let net = a.engine.network("lan").unwrap();
    for ep in net.endpoints.values() {
        a.engine
            .detach(
                "lan",
                &AttachmentKey::Namespace(ep.netns.clone()),
                Detach::All,
            )
            .unwrap();
    }
    b.engine.remove_network("lan").unwrap();
    // Node a's part is left; it claims nothing more, and says why.
    let e = a.attach("lan", "a3", None).unwrap_err();
    assert!(e.to_string().contains("was removed from"), "{e}");
    a.engine.remove_network("lan").unwrap();
    assert!(a.engine.network("lan").is_err());
}

#[test]
fn a_global_network_needs_a_cluster_store_and_two_hosts_cannot_share_a_node_name() {
    let nl = Arc::new(FakeNetlink::new());
    nl.add_link(&NsRef::Host, "eth0", None, 1500);
    let dir = tempfile::tempdir().unwrap();
    let alone = Engine::new(
        nl as Arc<dyn Netlink>,
        Box::new(store::DirStore::open(dir.path()).unwrap()),
    );
    let e = alone.create_network(&global("lan")).unwrap_err();
    assert!(
        e.to_string()
            .contains("needs a cluster store: give --cluster-store"),
        "{e}"
    );
    assert!(alone.network("lan").is_err(), "nothing made");

    let lan = Lan::new();
    let (mut a, mut twin) = (lan.node("same"), lan.node("same"));
    a.engine.create_network(&global("lan")).unwrap();
    a.attach("lan", "a1", None).unwrap();
    let e = twin.attach("lan", "t1", None).unwrap_err();
    assert!(
        e.to_string().contains("node name same is registered in"),
        "{e}"
    );
    assert!(e.to_string().contains("another --node"), "{e}");
    assert!(crate::cluster::check_node_name("Node_A").is_err());
    assert!(crate::cluster::check_node_name("node-a.lab").is_ok());
}

#[test]
fn a_release_at_an_old_version_leaves_the_new_holders_claim() {
    let lan = Lan::new();
    let mut a = lan.node("node-a");
    let id = a.engine.create_network(&global("lan")).unwrap().id;
    let x = a.attach("lan", "x", None).unwrap();
    let net = a.engine.network("lan").unwrap();
    let ep = net.endpoints.values().next().unwrap().clone();
    let mut stale = ep.claims.clone();
    stale[0].version += 1;
    lan.cluster("node-a").release(&id, &stale).unwrap();
    assert_eq!(lan.claims(&id).len(), 1, "a stale release deletes nothing");
    lan.cluster("node-a").release(&id, &ep.claims).unwrap();
    assert!(lan.claims(&id).is_empty());
    let _ = x;
    let _ = PathBuf::new();
}

/// Write a document straight into the cluster store (to stage what a crash leaves).
fn put_raw(lan: &Lan, key: &str, value: Option<serde_json::Value>) {
    let s = store::DirStore::open(lan.dir.path()).unwrap();
    let mut t = s.begin().unwrap();
    let b = store::Batch::new(store::Durability::SurvivesProcessDeath);
    let b = match value {
        Some(v) => b.put(key, serde_json::to_vec(&v).unwrap()),
        None => b.delete(key),
    };
    t.commit(b).unwrap();
}

fn holder_json(node: &str, endpoint: &str, container: &str) -> serde_json::Value {
    serde_json::json!({"node": node, "endpoint": endpoint, "container": container, "since": "2026-12-03T00:00:00Z"})
}

#[test]
fn restore_makes_the_claims_match_this_nodes_endpoints() {
    let lan = Lan::new();
    let mut a = lan.node("node-a");
    let id = a.engine.create_network(&global("lan")).unwrap().id;
    let x = a.attach("lan", "x", None).unwrap();
    let y = a.attach("lan", "y", None).unwrap();
    // Killed between its claim and its record: a claim no endpoint of this node holds.
    let orphan = format!("claims/{id}/172.16.86.50");
    put_raw(
        &lan,
        &orphan,
        Some(holder_json("node-a", &"e".repeat(64), "gone")),
    );
    // x's claim lost; y's taken over by another node (a duplicate on the LAN).
    put_raw(&lan, &format!("claims/{id}/{}", v4(&x)), None);
    put_raw(
        &lan,
        &format!("claims/{id}/{}", v4(&y)),
        Some(holder_json("node-b", &"f".repeat(64), "thief")),
    );
    let report = a.engine.restore().unwrap();
    let text = report.lines.join("\n");
    assert!(
        text.contains(
            "released 172.16.86.50, claimed by this node for an endpoint it does not have"
        ),
        "{text}"
    );
    assert!(
        text.contains(&format!("claimed {} again for x", v4(&x))),
        "{text}"
    );
    assert!(
        report.problems.iter().any(|p| p.contains(&format!(
            "{} of y on this node is claimed by node node-b (container thief)",
            v4(&y)
        ))),
        "{report:?}"
    );
    let claims = lan.claims(&id);
    let addrs: Vec<String> = claims.iter().map(|c| c.0.to_string()).collect();
    assert_eq!(addrs, [v4(&x), v4(&y)], "{claims:?}");
    assert_eq!(claims[1].1, "node-b", "another node's claim is never taken");
    // x's record keeps the new claim: its detach releases it.
    let net = a.engine.network("lan").unwrap();
    let ep = net
        .endpoints
        .values()
        .find(|e| e.name == "x")
        .unwrap()
        .clone();
    a.engine
        .detach("lan", &AttachmentKey::Namespace(ep.netns), Detach::All)
        .unwrap();
    assert_eq!(lan.claims(&id).len(), 1);
    // Nothing left to do: a second restore changes nothing.
    let again = a.engine.restore().unwrap();
    assert!(
        !again
            .lines
            .iter()
            .any(|l| l.contains("claimed") && !l.contains("node-b")),
        "{again:?}"
    );
}

#[test]
fn a_forgotten_node_claims_nothing_until_restore_has_registered_it_again() {
    let lan = Lan::new();
    let (mut a, mut b) = (lan.node("node-a"), lan.node("node-b"));
    let id = a.engine.create_network(&global("lan")).unwrap().id;
    let a1 = a.attach("lan", "a1", None).unwrap();
    a.attach("lan", "a2", None).unwrap();
    b.attach("lan", "b1", None).unwrap();
    let nodes = b.engine.cluster_nodes().unwrap();
    let shown: Vec<(String, usize, bool)> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.endpoints, n.last_seen.is_some()))
        .collect();
    assert_eq!(
        shown,
        [("node-a".into(), 2, true), ("node-b".into(), 1, true)]
    );
    let e = b.engine.forget_node("node-b").unwrap_err();
    assert!(e.to_string().contains("a node cannot forget itself"), "{e}");
    assert!(b.engine.forget_node("node-z").unwrap_err().kind() == Kind::NotFound);
    assert_eq!(b.engine.forget_node("node-a").unwrap(), 2);
    assert_eq!(lan.claims(&id).len(), 1);
    // b may now hand out a's old addresses (the operator said a is gone).
    let b2 = b.attach("lan", "b2", Some(&v4(&a1))).unwrap();
    assert_eq!(v4(&b2), v4(&a1));
    // a comes back: fenced until restore, which registers it and reconciles.
    let e = a.attach("lan", "a3", None).unwrap_err();
    assert!(e.to_string().contains("registration in"), "{e}");
    assert!(e.to_string().contains("underlay network restore"), "{e}");
    let report = a.engine.restore().unwrap();
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains("node node-a registered in")),
        "{report:?}"
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("a1 on this node is claimed by node node-b")),
        "{report:?}"
    );
    assert!(a.attach("lan", "a3", None).is_ok());
    let mut owners: Vec<String> = lan.claims(&id).into_iter().map(|c| c.1).collect();
    owners.sort();
    assert_eq!(owners, ["node-a", "node-a", "node-b", "node-b"]);
}

#[test]
fn a_pool_that_looks_full_asks_the_cluster_store_what_others_gave_back() {
    let lan = Lan::new();
    let (mut a, mut b) = (lan.node("node-a"), lan.node("node-b"));
    let mut small = global("small");
    small.ip_ranges = vec!["172.16.86.8/30".into()];
    a.engine.create_network(&small).unwrap();
    let got: Vec<String> = (0..4)
        .map(|i| v4(&a.attach("small", &format!("a{i}"), None).unwrap()))
        .collect();
    assert_eq!(
        got,
        ["172.16.86.8", "172.16.86.9", "172.16.86.10", "172.16.86.11"]
    );
    let e = b.attach("small", "b0", None).unwrap_err();
    assert!(e.to_string().contains("no available IPv4 addresses"), "{e}");
    let net = a.engine.network("small").unwrap();
    let ep = net
        .endpoints
        .values()
        .find(|e| e.name == "a1")
        .unwrap()
        .clone();
    a.engine
        .detach("small", &AttachmentKey::Namespace(ep.netns), Detach::All)
        .unwrap();
    // b's view says full; the cluster store says .9 is free again.
    assert_eq!(v4(&b.attach("small", "b0", None).unwrap()), "172.16.86.9");
    assert!(b.attach("small", "b1", None).is_err());
}
