//! Operations killed with SIGKILL at random moments never leave a store that fails to load or
//! an address reserved twice; `restore` then brings store and kernel back in line.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::Lab;
use serde_json::Value;

/// A small deterministic generator, so a failing run can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Addresses held by endpoints, per network document; panics on an address held twice.
fn check_store(lab: &Lab) -> BTreeMap<String, BTreeSet<String>> {
    let mut held = BTreeMap::new();
    for doc in lab.store_docs() {
        let name = doc["name"].as_str().expect("network name").to_string();
        let mut seen = BTreeSet::new();
        for ep in doc["endpoints"].as_object().expect("endpoints").values() {
            for key in ["ipv4", "ipv6"] {
                if let Some(a) = ep[key].as_str() {
                    let ip = a.split('/').next().unwrap().to_string();
                    assert!(seen.insert(ip.clone()), "{ip} held twice in {name}: {doc}");
                }
            }
        }
        held.insert(name, seen);
    }
    held
}

/// How many networks and endpoints are in an intermediate (write-ahead) state.
fn half_done(lab: &Lab) -> usize {
    lab.store_docs()
        .iter()
        .map(|d| {
            usize::from(d["state"] != "ready")
                + endpoint_states(d)
                    .iter()
                    .filter(|s| *s != "attached")
                    .count()
        })
        .sum()
}

fn endpoint_states(doc: &Value) -> Vec<String> {
    doc["endpoints"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["state"].as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn sigkill_at_random_moments_never_corrupts_state() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let containers: Vec<String> = (0..6).map(|i| lab.container(&format!("k{i}"))).collect();
    // Calibrate: how long does a whole connect or disconnect take here (process start
    // included)? Kills are spread over that window and a bit past it.
    let mut took = Vec::new();
    for _ in 0..3 {
        for args in [
            vec!["network", "connect", "pub_net", containers[0].as_str()],
            vec!["network", "disconnect", "pub_net", containers[0].as_str()],
        ] {
            let t = Instant::now();
            lab.ul(&args).ok();
            took.push(t.elapsed());
        }
    }
    took.sort();
    let window = took[took.len() / 2].as_micros() as u64 * 12 / 10;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut cut_mid_write = 0;
    let runs = 60;
    let mut killed_mid_way = 0;
    for run in 0..runs {
        let c = &containers[rng.below(containers.len() as u64) as usize];
        let attached = lab.inspect("pub_net")["Containers"]
            .as_object()
            .unwrap()
            .values()
            .any(|e| e["Name"] == c.as_str());
        let ip = format!("172.16.86.{}", 100 + rng.below(4));
        let args: Vec<&str> = match (attached, run % 7) {
            (_, 6) => vec![
                "network",
                "create",
                "--subnet=172.16.87.0/24",
                "-o",
                "parent=eth0",
                "side",
            ],
            (_, 5) => vec!["network", "rm", "side"],
            (true, _) => vec!["network", "disconnect", "pub_net", c],
            (false, 0 | 1) => vec!["network", "connect", "--ip", &ip, "pub_net", c],
            (false, _) => vec!["network", "connect", "pub_net", c],
        };
        let half_done_before = half_done(&lab);
        let mut child = lab
            .ul_command(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Operations take a few milliseconds: kill somewhere between before start and after end.
        let delay = Duration::from_micros(rng.below(window));
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_way += 1;
        }
        // The store always loads, through the product and directly, and no address is doubled.
        lab.ul(&["network", "ls"]).ok();
        check_store(&lab);
        // Count the runs whose kill itself left an operation half-done in the store.
        if half_done(&lab) > half_done_before {
            cut_mid_write += 1;
        }
        if run % 10 == 9 {
            lab.ul(&["network", "restore"]).ok();
            check_consistent(&lab, &containers);
        }
    }
    lab.ul(&["network", "restore"]).ok();
    check_consistent(&lab, &containers);
    eprintln!(
        "{killed_mid_way} of {runs} runs were killed before they finished; {cut_mid_write} left \
         an operation half-done (window {window} µs)"
    );
    assert!(
        cut_mid_write >= 3,
        "too few kills landed inside an operation: {cut_mid_write}"
    );
    assert!(
        killed_mid_way >= 10,
        "too few runs were actually cut off: {killed_mid_way}"
    );
}

/// After restore: no intermediate states; every endpoint's link exists with its address;
/// no stray macvlan links in any container; addresses free again can be taken.
fn check_consistent(lab: &Lab, containers: &[String]) {
    let held = check_store(lab);
    for doc in lab.store_docs() {
        assert_eq!(doc["state"], "ready", "{doc}");
        assert!(
            endpoint_states(&doc).iter().all(|s| s == "attached"),
            "{doc}"
        );
    }
    let pub_held = held.get("pub_net").cloned().unwrap_or_default();
    let inspect = lab.inspect("pub_net");
    for c in containers {
        let entry = inspect["Containers"]
            .as_object()
            .unwrap()
            .values()
            .find(|e| e["Name"] == c.as_str())
            .cloned();
        let links = lab.ip(c, &["-br", "-4", "addr"]);
        let macvlans = lab.ip(c, &["-d", "link"]).matches("macvlan mode").count();
        match entry {
            Some(e) => {
                let addr = e["IPv4Address"].as_str().unwrap();
                assert!(links.contains(addr), "{c}: {addr} missing in {links}");
                assert_eq!(macvlans, 1, "{c}: exactly its one link");
            }
            None => assert_eq!(macvlans, 0, "{c}: stray link left behind: {links}"),
        }
    }
    // No leaked reservations: every address not held by an endpoint can be taken statically.
    let probe = containers.last().unwrap();
    let probe_attached = inspect["Containers"]
        .as_object()
        .unwrap()
        .values()
        .any(|e| e["Name"] == probe.as_str());
    if !probe_attached {
        for last in 100..104 {
            let ip = format!("172.16.86.{last}");
            if !pub_held.contains(&ip) {
                lab.ul(&["network", "connect", "--ip", &ip, "pub_net", probe])
                    .ok();
                lab.ul(&["network", "disconnect", "pub_net", probe]).ok();
            }
        }
    }
}
