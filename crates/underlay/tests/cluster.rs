//! Many hosts, one VLAN: "nodes" are network namespaces on one bridged segment, each with a
//! state directory of its own, all reaching one real etcd (Debian's etcd-server 3.4) over a
//! management bridge, as in `../shared/peers/etcd_lab.sh`. The CLI runs inside each node.

mod common;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Lab;

const ETCD_PORT: u16 = 23790;

/// The lab: a segment (bridge `br0` in namespace `lan`, router 172.16.86.1), a management
/// bridge `mg` (10.250.0.1, where etcd listens), and nodes `n1..nN`, each with `eth0` on the
/// segment and `mgmt0` on the management bridge.
struct Cluster {
    lab: Lab,
    /// etcd's members (one, or three), by index.
    etcd: Vec<Option<Child>>,
    etcd_dir: tempfile::TempDir,
    nodes: Vec<(String, tempfile::TempDir)>,
}

impl Cluster {
    fn new(nodes: usize) -> Self {
        Self::with_members(nodes, 1)
    }

    fn with_members(nodes: usize, members: usize) -> Self {
        let mut lab = Lab::new("cl");
        let lan = lab.add_ns("lan");
        for (br, addr) in [("br0", "172.16.86.1/24"), ("mg", "10.250.0.1/24")] {
            lab.ip(&lan, &["link", "add", br, "type", "bridge"]);
            lab.ip(&lan, &["link", "set", br, "up"]);
            lab.ip(&lan, &["addr", "add", addr, "dev", br]);
        }
        let mut names = Vec::new();
        for i in 1..=nodes {
            let node = lab.add_ns(&format!("n{i}"));
            for (dev, br, peer, addr) in [
                ("eth0", "br0", format!("s{i}"), None),
                (
                    "mgmt0",
                    "mg",
                    format!("m{i}"),
                    Some(format!("10.250.0.{}/24", 10 + i)),
                ),
            ] {
                lab.ip(
                    &node,
                    &[
                        "link", "add", dev, "type", "veth", "peer", "name", &peer, "netns", &lan,
                    ],
                );
                lab.ip(&node, &["link", "set", dev, "up"]);
                if let Some(a) = addr {
                    lab.ip(&node, &["addr", "add", &a, "dev", dev]);
                }
                lab.ip(&lan, &["link", "set", &peer, "master", br, "up"]);
            }
            names.push((format!("n{i}"), tempfile::tempdir().unwrap()));
        }
        let mut c = Cluster {
            lab,
            etcd: (0..members).map(|_| None).collect(),
            etcd_dir: tempfile::tempdir().unwrap(),
            nodes: names,
        };
        c.start_etcd();
        c
    }

    fn client_url(m: usize) -> String {
        format!("http://10.250.0.1:{}", ETCD_PORT + 2 * m as u16)
    }

    fn peer_url(m: usize) -> String {
        format!("http://127.0.0.1:{}", ETCD_PORT + 2 * m as u16 + 1)
    }

    /// etcd's member `m`, on its data directory (kept across a stop).
    fn start_member(&mut self, m: usize) {
        let (client, peer) = (Self::client_url(m), Self::peer_url(m));
        let initial: Vec<String> = (0..self.etcd.len())
            .map(|i| format!("e{i}={}", Self::peer_url(i)))
            .collect();
        let log = std::fs::File::create(self.etcd_dir.path().join(format!("log{m}"))).unwrap();
        let child = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.lab.ns("lan")))
            .args(["etcd", "--name", &format!("e{m}"), "--data-dir"])
            .arg(self.etcd_dir.path().join(format!("data{m}")))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial.join(",")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("etcd (Debian's etcd-server, installed by scripts/deps.sh)");
        self.etcd[m] = Some(child);
    }

    /// Every member, then wait until etcd answers.
    fn start_etcd(&mut self) {
        for m in 0..self.etcd.len() {
            self.start_member(m);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.etcd_answers() {
            assert!(Instant::now() < deadline, "etcd never answered");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `etcdctl ARGS` against the members that run.
    fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        let running: Vec<String> = (0..self.etcd.len())
            .filter(|m| self.etcd[*m].is_some())
            .map(Self::client_url)
            .collect();
        Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.lab.ns("n1")))
            .args(["etcdctl", "--endpoints", &running.join(",")])
            .args(args)
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap()
    }

    fn etcd_answers(&self) -> bool {
        self.etcdctl(&["endpoint", "health"]).status.success()
    }

    /// The member that leads now.
    fn leader(&self) -> usize {
        let out = self.etcdctl(&["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let status = v.as_array().unwrap();
        let lead = status[0]["Status"]["leader"].as_u64().unwrap();
        let at = status
            .iter()
            .find(|s| s["Status"]["header"]["member_id"].as_u64() == Some(lead))
            .unwrap()["Endpoint"]
            .as_str()
            .unwrap()
            .to_string();
        (0..self.etcd.len())
            .find(|m| Self::client_url(*m) == at)
            .unwrap()
    }

    fn stop_member(&mut self, m: usize) {
        if let Some(mut c) = self.etcd[m].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop_etcd(&mut self) {
        for m in 0..self.etcd.len() {
            self.stop_member(m);
        }
    }

    /// `underlay ARGS` on node `i` (0-based).
    fn command(&self, i: usize, args: &[&str]) -> Command {
        let (name, dir) = &self.nodes[i];
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.lab.ns(name)))
            .arg(common::bin())
            .args(args)
            .env("UNDERLAY_STATE_DIR", dir.path())
            .env(
                "UNDERLAY_CLUSTER_STORE",
                format!(
                    "etcd://{}",
                    (0..self.etcd.len())
                        .map(|m| Self::client_url(m).replace("http://", ""))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            )
            .env("UNDERLAY_NODE", name);
        c
    }

    fn ul(&self, i: usize, args: &[&str]) -> common::Run {
        let out = self.command(i, args).output().expect("run underlay");
        common::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn inspect(&self, i: usize, net: &str) -> serde_json::Value {
        let out = self.ul(i, &["network", "inspect", net]).ok();
        serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
    }

    /// Every endpoint of `net` as node `i` shows it: (container, node, IPv4 address).
    fn endpoints(&self, i: usize, net: &str) -> Vec<(String, String, String)> {
        let v = self.inspect(i, net);
        v["Containers"]
            .as_object()
            .unwrap()
            .values()
            .map(|c| {
                (
                    c["Name"].as_str().unwrap().to_string(),
                    c["Node"].as_str().unwrap_or_default().to_string(),
                    c["IPv4Address"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_etcd();
    }
}

fn create_lan(c: &Cluster) {
    c.ul(
        0,
        &[
            "network",
            "create",
            "--scope",
            "global",
            "--subnet",
            "172.16.86.0/24",
            "--gateway",
            "172.16.86.1",
            "-o",
            "parent=eth0",
            "lan",
        ],
    )
    .ok();
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn four_nodes_attaching_at_once_never_share_an_address() {
    need_root!();
    let mut c = Cluster::new(5);
    create_lan(&c);
    // Every node lists and inspects it before it has used it.
    for i in 0..5 {
        let ls = c.ul(i, &["network", "ls"]).ok();
        assert!(
            ls.contains("lan") && ls.contains("global"),
            "node {i}: {ls}"
        );
    }
    let mut containers = Vec::new();
    for i in 0..4 {
        for k in 0..25 {
            containers.push((i, c.lab.container(&format!("c{i}-{k}"))));
        }
    }
    let running: Vec<_> = containers
        .iter()
        .map(|(i, ns)| {
            let mut cmd = c.command(*i, &["network", "connect", "lan", ns]);
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            (ns.clone(), cmd.spawn().unwrap())
        })
        .collect();
    for (ns, child) in running {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{ns}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // One address each, as the containers' own links hold them and as every node shows them.
    let mut held = BTreeSet::new();
    for (_, ns) in &containers {
        let a = c.lab.ip(ns, &["-br", "-4", "addr", "show", "dev", "eth0"]);
        let addr = a.split_whitespace().nth(2).unwrap().to_string();
        assert!(held.insert(addr.clone()), "{addr} is held twice");
    }
    assert_eq!(held.len(), 100);
    for i in 0..5 {
        let eps = c.endpoints(i, "lan");
        assert_eq!(eps.len(), 100, "node {i} shows every node's endpoints");
        let shown: BTreeSet<String> = eps.iter().map(|e| e.2.clone()).collect();
        assert_eq!(shown, held);
        let own = eps.iter().filter(|e| e.1 == format!("n{}", i + 1)).count();
        assert_eq!(own, if i < 4 { 25 } else { 0 });
    }
    // Containers on two hosts reach each other over the segment.
    let dst = c
        .endpoints(0, "lan")
        .into_iter()
        .find(|e| e.1 == "n2")
        .unwrap()
        .2;
    let dst = dst.split('/').next().unwrap();
    assert!(c.lab.ping(&containers[0].1, dst));
    // A node cannot remove it while others have endpoints on it, and says which.
    let e = c.ul(4, &["network", "rm", "lan"]).err();
    assert!(
        e.contains("active endpoints on nodes n1 (25 addresses), n2 (25 addresses), n3 (25 addresses), n4 (25 addresses)"),
        "{e}"
    );
    assert!(
        c.ul(4, &["network", "ls"]).ok().contains("lan"),
        "still there"
    );
    c.stop_etcd();
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn a_static_address_raced_by_two_nodes_goes_to_one_and_the_other_is_told_who_has_it() {
    need_root!();
    let mut c = Cluster::new(2);
    create_lan(&c);
    let (x, y) = (c.lab.container("x"), c.lab.container("y"));
    let racers: Vec<_> = [(0, &x), (1, &y)]
        .iter()
        .map(|(i, ns)| {
            let mut cmd = c.command(
                *i,
                &["network", "connect", "--ip", "172.16.86.200", "lan", ns],
            );
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outs: Vec<_> = racers
        .into_iter()
        .map(|r| r.wait_with_output().unwrap())
        .collect();
    let won: Vec<usize> = (0..2).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(won.len(), 1, "{outs:?}");
    let lost = 1 - won[0];
    let e = String::from_utf8_lossy(&outs[lost].stderr);
    assert!(
        e.contains("Address already in use: --ip 172.16.86.200"),
        "{e}"
    );
    assert!(e.contains(&format!("held by node n{}", won[0] + 1)), "{e}");
    // The loser made nothing: no link in its container, no endpoint on its node.
    let loser_ns = if lost == 0 { &x } else { &y };
    assert!(!c.lab.links(loser_ns).contains("eth0"));
    let mine: Vec<_> = c
        .endpoints(lost, "lan")
        .into_iter()
        .filter(|e| e.1 == format!("n{}", lost + 1))
        .collect();
    assert!(mine.is_empty(), "{mine:?}");
    c.stop_etcd();
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn with_etcd_down_an_attach_fails_closed_and_local_networks_still_work() {
    need_root!();
    let mut c = Cluster::new(1);
    create_lan(&c);
    c.ul(
        0,
        &[
            "network",
            "create",
            "--subnet",
            "192.168.50.0/24",
            "-o",
            "parent=eth0",
            "here",
        ],
    )
    .ok();
    let (a, b) = (c.lab.container("a"), c.lab.container("b"));
    c.ul(0, &["network", "connect", "lan", &a]).ok();
    c.stop_etcd();
    let t0 = Instant::now();
    let e = c.ul(0, &["network", "connect", "lan", &b]).err();
    assert!(e.contains("cluster store etcd://10.250.0.1"), "{e}");
    assert!(e.contains("check that etcd runs"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert!(!c.lab.links(&b).contains("eth0"), "nothing half-made");
    // A local network does not need the cluster store.
    c.ul(0, &["network", "connect", "here", &b]).ok();
    c.ul(0, &["network", "disconnect", "here", &b]).ok();
    // A disconnect still succeeds; the address stays claimed until restore can say so.
    let out = c.ul(0, &["network", "disconnect", "lan", &a]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("stay claimed"), "{}", out.stderr);
    assert!(!c.lab.links(&a).contains("eth0"));
    c.start_etcd();
    let r = c.ul(0, &["network", "restore"]).ok();
    assert!(r.contains("released 172.16.86.2"), "{r}");
    c.ul(0, &["network", "connect", "lan", &b]).ok();
    let eps = c.endpoints(0, "lan");
    assert_eq!(eps.len(), 1, "{eps:?}");
    assert_eq!(eps[0].2, "172.16.86.2/24", "the address a gave back");
    c.stop_etcd();
}

/// The addresses of `net` held by this node's endpoints, as its state directory records them.
fn local_addresses(c: &Cluster, i: usize) -> BTreeSet<String> {
    let root = c.nodes[i].1.path().join("endpoints");
    let mut out = BTreeSet::new();
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let doc: serde_json::Value =
                serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
            if let Some(a) = doc["ipv4"].as_str() {
                assert!(out.insert(a.to_string()), "{a} held twice on node {i}");
            }
        }
    }
    out
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn attaches_killed_at_any_instant_leave_claims_that_restore_makes_match_the_endpoints() {
    need_root!();
    let mut c = Cluster::new(2);
    create_lan(&c);
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for round in 0..30 {
        let ns = c.lab.container(&format!("k{round}"));
        let mut child = c
            .command(0, &["network", "connect", "lan", &ns])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(next() % 20_000));
        let _ = child.kill();
        let _ = child.wait();
        c.ul(0, &["network", "restore"]).ok();
        // What node n1 holds in the cluster store, as node n2 sees it, is what its
        // endpoints hold.
        let claimed: BTreeSet<String> = c
            .endpoints(1, "lan")
            .into_iter()
            .map(|e| {
                assert_eq!(e.1, "n1", "{e:?}");
                e.2
            })
            .collect();
        assert_eq!(claimed, local_addresses(&c, 0), "round {round}");
    }
    let nodes = c.ul(1, &["cluster", "nodes"]).ok();
    assert!(nodes.contains("n1") && nodes.contains("NODE"), "{nodes}");
    c.stop_etcd();
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn etcds_leader_killed_during_attaches_loses_and_duplicates_no_address() {
    need_root!();
    let mut c = Cluster::with_members(2, 3);
    create_lan(&c);
    let mut containers = Vec::new();
    for i in 0..2 {
        for k in 0..12 {
            containers.push((i, c.lab.container(&format!("l{i}-{k}"))));
        }
    }
    let c = std::sync::Arc::new(std::sync::Mutex::new(c));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let mine: Vec<String> = containers
                .iter()
                .filter(|(n, _)| *n == i)
                .map(|(_, ns)| ns.clone())
                .collect();
            let c = c.clone();
            std::thread::spawn(move || {
                let mut outcomes = Vec::new();
                for ns in mine {
                    let cmd = c
                        .lock()
                        .unwrap()
                        .command(i, &["network", "connect", "lan", &ns]);
                    let mut cmd = cmd;
                    let out = cmd.output().unwrap();
                    outcomes.push((
                        ns,
                        out.status.success(),
                        String::from_utf8_lossy(&out.stderr).into_owned(),
                    ));
                    std::thread::sleep(Duration::from_millis(50));
                }
                outcomes
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    {
        let mut c = c.lock().unwrap();
        let leader = c.leader();
        c.stop_member(leader);
    }
    let outcomes: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    let c = c.lock().unwrap();
    for (ns, ok, err) in &outcomes {
        assert!(*ok || err.contains("cluster store"), "{ns}: {err}");
    }
    assert!(
        outcomes.iter().filter(|o| o.1).count() >= 12,
        "{outcomes:?}"
    );
    // Every node restores; then what each holds in etcd is what its endpoints hold, once.
    for i in 0..2 {
        c.ul(i, &["network", "restore"]).ok();
    }
    let all = c.endpoints(0, "lan");
    let addrs: BTreeSet<String> = all.iter().map(|e| e.2.clone()).collect();
    assert_eq!(addrs.len(), all.len(), "an address twice: {all:?}");
    for i in 0..2 {
        let claimed: BTreeSet<String> = all
            .iter()
            .filter(|e| e.1 == format!("n{}", i + 1))
            .map(|e| e.2.clone())
            .collect();
        assert_eq!(claimed, local_addresses(&c, i), "node {i}");
    }
    // Each connect that succeeded has its address in its container.
    for (ns, ok, _) in &outcomes {
        if *ok {
            assert!(c.lab.links(ns).contains("eth0"), "{ns}");
        }
    }
}

/// A CNI call of underlay's plugin on node `i`: the configuration names the cluster store.
fn cni(c: &Cluster, i: usize, command: &str, ns: &str, cid: &str) -> (bool, String, String) {
    cni_with(c, i, command, ns, cid, serde_json::json!({}))
}

/// The plugin with the configuration's keys `extra` added (a GC's valid attachments).
fn cni_with(
    c: &Cluster,
    i: usize,
    command: &str,
    ns: &str,
    cid: &str,
    extra: serde_json::Value,
) -> (bool, String, String) {
    use std::io::Write;
    let (name, dir) = &c.nodes[i];
    let mut conf = serde_json::json!({
        "cniVersion": "1.0.0", "name": "kube-lan", "type": "underlay", "master": "eth0",
        "stateDir": dir.path(),
        "ipam": {
            "type": "underlay",
            "clusterStore": format!("etcd://{}", Cluster::client_url(0).replace("http://", "")),
            "clusterNode": name,
            "ranges": [[{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}]],
        },
    });
    for (k, v) in extra.as_object().unwrap() {
        conf[k] = v.clone();
    }
    let mut child = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", c.lab.ns(name)))
        .arg(common::bin())
        .env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", cid)
        .env("CNI_NETNS", format!("/run/netns/{ns}"))
        .env("CNI_IFNAME", "eth0")
        .env("CNI_PATH", "/usr/lib/cni")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(conf.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root and etcd (Debian's etcd-server): scripts/test.sh runs it"]
fn the_cni_plugin_with_a_cluster_store_gives_unique_addresses_across_nodes() {
    need_root!();
    let mut c = Cluster::new(2);
    let mut pods = Vec::new();
    for i in 0..2 {
        for k in 0..3 {
            pods.push((
                i,
                c.lab.container(&format!("pod{i}-{k}")),
                format!("cid{i}{k}"),
            ));
        }
    }
    let mut addrs = BTreeSet::new();
    for (i, ns, cid) in &pods {
        let (ok, out, err) = cni(&c, *i, "ADD", ns, cid);
        assert!(ok, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let a = v["ips"][0]["address"].as_str().unwrap().to_string();
        assert!(addrs.insert(a.clone()), "{a} twice");
    }
    assert_eq!(addrs.len(), 6);
    // The network is global: either node's CLI shows every pod with its node.
    assert_eq!(c.endpoints(0, "kube-lan").len(), 6);
    // DEL gives the claim back (a DEL again is fine, as CNI wants).
    for _ in 0..2 {
        let (ok, out, err) = cni(&c, 1, "DEL", &pods[3].1, &pods[3].2);
        assert!(ok, "{out}{err}");
    }
    std::thread::sleep(Duration::from_millis(500));
    let left = c.endpoints(0, "kube-lan");
    assert_eq!(left.len(), 5, "{left:?}");
    // GC on node 0, whose runtime keeps two of its three pods: the third's claim is
    // released; node 1's pods are not node 0's to collect.
    let valid: Vec<serde_json::Value> = pods[..2]
        .iter()
        .map(|(_, _, cid)| serde_json::json!({"containerID": cid, "ifname": "eth0"}))
        .collect();
    let gc = serde_json::json!({"cniVersion": "1.1.0", "cni.dev/valid-attachments": valid});
    let (ok, out, err) = cni_with(&c, 0, "GC", &pods[2].1, "", gc);
    assert!(ok, "{out}{err}");
    std::thread::sleep(Duration::from_millis(500));
    let left = c.endpoints(0, "kube-lan");
    assert_eq!(left.len(), 4, "{left:?}");
    assert_eq!(c.endpoints(1, "kube-lan").len(), 4, "node 1 sees the same");
    // etcd gone: ADD fails closed with "try again later" (11) and makes nothing.
    c.stop_etcd();
    let extra = c.lab.container("pod-late");
    let (ok, out, err) = cni(&c, 0, "ADD", &extra, "late");
    assert!(!ok);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
    assert_eq!(v["code"], 11, "{out}{err}");
    assert!(
        v["msg"]
            .as_str()
            .unwrap_or_default()
            .contains("cluster store"),
        "{v}"
    );
    assert!(!c.lab.links(&extra).contains("eth0"));
}
