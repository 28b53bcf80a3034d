//! Docker's IPAM pools shared through a cluster store, against one embedded store every
//! node opens (the same contract as etcd: `store/tests/contract.rs`). No root, no etcd.

use std::net::IpAddr;

use crate::cluster::{Cluster, Scope};
use crate::pools::LOCAL_SPACE;
use crate::Engine;

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

    /// A node: its own state directory, the shared cluster store.
    fn node(&self, name: &str, state: &tempfile::TempDir) -> Engine {
        let local = store::DirStore::open(state.path()).unwrap();
        Engine::new(
            std::sync::Arc::new(netlink::FakeNetlink::new()),
            Box::new(local),
        )
        .with_cluster(self.cluster(name))
    }

    /// Every key of the cluster store under `prefix`.
    fn keys(&self, prefix: &str) -> Vec<String> {
        let store = store::DirStore::open(self.dir.path()).unwrap();
        let keys = store::Store::snapshot(&store)
            .unwrap()
            .keys(prefix)
            .unwrap();
        keys
    }

    /// Who holds each claimed address: (address, node).
    fn holders(&self) -> Vec<(IpAddr, String)> {
        let c = self.cluster("reader");
        let snap = c.store().snapshot().unwrap();
        let mut out: Vec<(IpAddr, String)> = c
            .all_claims(&*snap)
            .unwrap()
            .into_iter()
            .map(|(_, a, h)| (a, h.node))
            .collect();
        out.sort();
        out
    }
}

const SUBNET: &str = "172.16.86.0/24";
const MAC_A: &str = "02:42:ac:10:56:0a";
const MAC_B: &str = "02:42:ac:10:56:0b";

/// The standard recipe on two hosts: the same network (subnet, gateway, aux address) made
/// on each; its endpoints get addresses unique across both.
fn recipe(e: &Engine) -> String {
    let (id, _) = e
        .pools()
        .request_pool(LOCAL_SPACE, SUBNET, "", false, None)
        .unwrap();
    assert!(id.starts_with("cluster/"), "{id}");
    let gw = e
        .pools()
        .request_address(&id, Some("172.16.86.1"), true, None);
    assert_eq!(gw.unwrap().to_string(), "172.16.86.1/24");
    e.pools()
        .request_address(&id, Some("172.16.86.2"), false, None)
        .unwrap();
    id
}

fn addr(e: &Engine, id: &str, ip: Option<&str>, mac: &str) -> crate::Result<String> {
    e.pools()
        .request_address(id, ip, false, Some(mac))
        .map(|a| a.addr().to_string())
}

#[test]
fn the_same_pool_on_two_nodes_hands_out_unique_addresses() {
    let lan = Lan::new();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lan.node("node-a", &sa), lan.node("node-b", &sb));
    let (ia, ib) = (recipe(&a), recipe(&b));
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..20 {
        let mac = format!("02:42:00:00:00:{i:02x}");
        let (e, id) = if i % 2 == 0 { (&a, &ia) } else { (&b, &ib) };
        let ip = addr(e, id, None, &mac).unwrap();
        assert!(!["172.16.86.1", "172.16.86.2"].contains(&ip.as_str()));
        assert!(seen.insert(ip.clone()), "{ip} handed out twice");
    }
    assert_eq!(lan.holders().len(), 20);
    assert!(lan
        .holders()
        .iter()
        .all(|(_, n)| n == "node-a" || n == "node-b"));
    // A node that asks for a different gateway is told the pool's.
    let (sc, _) = (tempfile::tempdir().unwrap(), ());
    let c = lan.node("node-c", &sc);
    let (ic, _) = c
        .pools()
        .request_pool(LOCAL_SPACE, SUBNET, "", false, None)
        .unwrap();
    let err = c
        .pools()
        .request_address(&ic, Some("172.16.86.254"), true, None)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("has gateway 172.16.86.1 on every node")
            && err.to_string().contains("--gateway 172.16.86.1"),
        "{err}"
    );
    // Without --gateway it gets the pool's.
    let gw = c.pools().request_address(&ic, None, true, None).unwrap();
    assert_eq!(gw.to_string(), "172.16.86.1/24");
    // An overlapping subnet is refused naming the node that defined the pool.
    let sd = tempfile::tempdir().unwrap();
    let err = lan
        .node("node-d", &sd)
        .pools()
        .request_pool(LOCAL_SPACE, "172.16.0.0/16", "", false, None)
        .unwrap_err();
    assert!(
        err.to_string().contains("which node node-a defined in"),
        "{err}"
    );
}

#[test]
fn a_static_address_races_once_and_a_replay_gets_the_same_answer() {
    let lan = Lan::new();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lan.node("node-a", &sa), lan.node("node-b", &sb));
    let (ia, ib) = (recipe(&a), recipe(&b));
    assert_eq!(
        addr(&a, &ia, Some("172.16.86.50"), MAC_A).unwrap(),
        "172.16.86.50"
    );
    let err = addr(&b, &ib, Some("172.16.86.50"), MAC_B).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("Address already in use: 172.16.86.50 of pool {SUBNET} is held by node node-a (MAC {MAC_A})")
    );
    // Asked again by the same endpoint (its answer was lost): the same, nothing more held.
    assert_eq!(
        addr(&a, &ia, Some("172.16.86.50"), MAC_A).unwrap(),
        "172.16.86.50"
    );
    assert_eq!(lan.holders().len(), 1);
    // Another endpoint of the same node is refused as before.
    let err = addr(&a, &ia, Some("172.16.86.50"), MAC_B).unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    // An auxiliary address is every node's; no endpoint takes it, also on a node whose
    // network did not give it.
    let err = addr(&b, &ib, Some("172.16.86.2"), MAC_B).unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
    let sc = tempfile::tempdir().unwrap();
    let c = lan.node("node-c", &sc);
    let (ic, _) = c
        .pools()
        .request_pool(LOCAL_SPACE, SUBNET, "", false, None)
        .unwrap();
    let err = addr(&c, &ic, Some("172.16.86.2"), MAC_B).unwrap_err();
    assert!(err.to_string().contains("auxiliary"), "{err}");
    let x = addr(&c, &ic, None, MAC_B).unwrap();
    assert_ne!(x, "172.16.86.2");
    c.pools().release_address(&ic, &x).unwrap();
    c.pools().release_pool(&ic).unwrap();
    // Released on one node, free on the other; a stale release (twice) changes nothing.
    a.pools().release_address(&ia, "172.16.86.50").unwrap();
    a.pools().release_address(&ia, "172.16.86.50").unwrap();
    assert_eq!(
        addr(&b, &ib, Some("172.16.86.50"), MAC_B).unwrap(),
        "172.16.86.50"
    );
    a.pools().release_address(&ia, "172.16.86.50").unwrap();
    assert_eq!(
        lan.holders(),
        vec![("172.16.86.50".parse().unwrap(), "node-b".to_string())]
    );
}

#[test]
fn the_pool_leaves_the_cluster_store_with_its_last_node() {
    let lan = Lan::new();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lan.node("node-a", &sa), lan.node("node-b", &sb));
    let (ia, ib) = (recipe(&a), recipe(&b));
    let x = addr(&a, &ia, None, MAC_A).unwrap();
    for (e, id) in [(&a, &ia), (&b, &ib)] {
        e.pools().release_address(id, "172.16.86.1").unwrap();
        e.pools().release_address(id, "172.16.86.2").unwrap();
    }
    b.pools().release_pool(&ib).unwrap();
    assert_eq!(lan.keys("pools").len(), 1, "node-a still has it");
    a.pools().release_pool(&ia).unwrap();
    assert_eq!(lan.keys("pools").len(), 1, "{x} is still claimed");
    // The last address goes (Docker releases before the pool; here after): restore tidies.
    assert!(lan.keys("pool-users").is_empty());
    let report = a.restore().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(lan.holders().is_empty(), "{report:?}");
    assert!(lan.keys("pools").is_empty(), "{report:?}");
    // Local scope opts out: the same address on both nodes, nothing in the cluster store.
    for e in [&a, &b] {
        let (id, _) = e
            .pools()
            .request_pool(LOCAL_SPACE, "172.16.90.0/24", "", false, Some(Scope::Local))
            .unwrap();
        assert!(!id.starts_with("cluster/"));
        assert_eq!(addr(e, &id, None, MAC_A).unwrap(), "172.16.90.1");
    }
    assert!(lan.holders().is_empty());
    // Global scope of a subnet this host already has with local scope is refused.
    let err = a
        .pools()
        .request_pool(
            LOCAL_SPACE,
            "172.16.90.0/24",
            "",
            false,
            Some(Scope::Global),
        )
        .unwrap_err();
    assert!(err.to_string().contains("scope local already"), "{err}");
}

#[test]
fn restore_releases_what_no_record_holds_and_claims_again_what_was_forgotten() {
    let lan = Lan::new();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lan.node("node-a", &sa), lan.node("node-b", &sb));
    let ia = recipe(&a);
    let kept = addr(&a, &ia, None, MAC_A).unwrap();
    let lost = addr(&a, &ia, None, MAC_B).unwrap();
    // A crash between the claim and the record: the record loses `lost`.
    let key = crate::pools::Pools::key_of(&ia);
    let local = store::DirStore::open(sa.path()).unwrap();
    {
        let mut txn = store::Store::begin(&local).unwrap();
        let bytes = txn.get(&key).unwrap().unwrap();
        let mut doc: crate::pools::PoolDoc = serde_json::from_slice(&bytes).unwrap();
        doc.subnet.release(lost.parse().unwrap()).unwrap();
        doc.held.remove(&lost.parse().unwrap());
        crate::pools::save_pool(&mut *txn, &key, &doc).unwrap();
    }
    let report = a.restore().unwrap();
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains(&format!("{lost}: released in the cluster store"))),
        "{report:?}"
    );
    assert_eq!(
        lan.holders(),
        vec![(kept.parse().unwrap(), "node-a".to_string())]
    );
    // An operator forgets node-a (its claims go); node-a claims nothing until restore has
    // registered it again and claimed its addresses back.
    assert_eq!(b.forget_node("node-a").unwrap(), 1);
    let err = addr(&a, &ia, None, "02:42:00:00:00:99").unwrap_err();
    assert!(err.to_string().contains("cluster forget"), "{err}");
    let report = a.restore().unwrap();
    assert!(report.problems.is_empty(), "{report:?}");
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.contains(&format!("claimed {kept} again"))),
        "{report:?}"
    );
    assert_eq!(
        lan.holders(),
        vec![(kept.parse().unwrap(), "node-a".to_string())]
    );
}

#[test]
fn a_pool_the_runtime_forgot_is_dropped_whole_with_its_claims() {
    let lan = Lan::new();
    let (sa, sb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (lan.node("node-a", &sa), lan.node("node-b", &sb));
    let (ia, ib) = (recipe(&a), recipe(&b));
    addr(&a, &ia, None, MAC_A).unwrap();
    let kept = addr(&b, &ib, None, MAC_B).unwrap();
    // Node a's dockerd lost its data: its daemon drops the pool (a second request for it
    // would have been shared otherwise), its claims go, node b's stay.
    let subnet = SUBNET.parse().unwrap();
    assert_eq!(a.pools().drop_pool(LOCAL_SPACE, subnet).unwrap(), 2);
    assert!(a.pools().list().unwrap().is_empty());
    assert_eq!(
        lan.holders(),
        vec![(kept.parse().unwrap(), "node-b".to_string())]
    );
    assert_eq!(
        a.pools().drop_pool(LOCAL_SPACE, subnet).unwrap(),
        0,
        "twice is fine"
    );
    // The id Docker would release by still names the pool node b holds.
    let doc = &b.pools().list().unwrap()[0];
    b.pools()
        .release_address(&crate::pools::Pools::id_of(doc), &kept)
        .unwrap();
    assert!(lan.holders().is_empty());
}
