//! Namespace labs for end-to-end tests. A lab is a set of named network namespaces that
//! belong to one test: a "host" whose `eth0` (and optionally `eth1`) is a veth standing in for
//! a NIC, routers on the other ends, and containers. The root namespace is never touched: every
//! `ip` command runs with `-n <lab namespace>`. Dropping the lab deletes all of its namespaces
//! (so also when a test fails), which takes every link in them along.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A test that needs root (namespaces) is `#[ignore]`d, so that the runner reports it as
/// skipped where it is not asked for; asked for (`--include-ignored`, as `scripts/test.sh`
/// does) without root, it fails.
#[macro_export]
macro_rules! need_root {
    () => {
        assert!(
            common::is_root(),
            "needs root to create network namespaces: run it as root (scripts/test.sh)"
        );
    };
}

pub struct Lab {
    pub prefix: String,
    pub state: tempfile::TempDir,
    namespaces: Vec<String>,
}

pub fn sh(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd}: {e}"))
}

pub fn ok(cmd: &str, args: &[&str]) -> String {
    let out = sh(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The result of an `underlay` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "underlay failed: {}{}",
            self.stdout, self.stderr
        );
        self.stdout
    }
    pub fn err(self) -> String {
        assert_ne!(self.code, 0, "underlay should have failed: {}", self.stdout);
        self.stderr
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_underlay")
}

impl Lab {
    /// A lab with a host whose `eth0` leads to a router holding `router_addrs` on `lan0`.
    /// The host's eth0 gets `host_addrs`.
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("ult-{}-{}-{n}", tag, std::process::id());
        let lab = Lab {
            prefix,
            state: tempfile::tempdir().expect("tempdir"),
            namespaces: Vec::new(),
        };
        let mut lab = lab;
        lab.add_ns("host");
        lab
    }

    pub fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub fn add_ns(&mut self, name: &str) -> String {
        let ns = self.ns(name);
        ok("ip", &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        ok("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// A NIC stand-in: `host`'s `ifname` is a veth whose peer `lan0` lives in a new router
    /// namespace `router_name` holding `router_addrs`; `host_addrs` go on the host end.
    pub fn uplink(
        &mut self,
        ifname: &str,
        router_name: &str,
        host_addrs: &[&str],
        router_addrs: &[&str],
    ) {
        let host = self.ns("host");
        let router = self.add_ns(router_name);
        ok(
            "ip",
            &[
                "-n", &host, "link", "add", ifname, "type", "veth", "peer", "name", "lan0",
                "netns", &router,
            ],
        );
        for a in host_addrs {
            ok("ip", &["-n", &host, "addr", "add", a, "dev", ifname]);
        }
        for a in router_addrs {
            let mut args = vec!["-n", &router, "addr", "add", a, "dev", "lan0"];
            if a.contains(':') {
                args.push("nodad");
            }
            ok("ip", &args);
        }
        ok("ip", &["-n", &host, "link", "set", ifname, "up"]);
        ok("ip", &["-n", &router, "link", "set", "lan0", "up"]);
        // A real router and NIC have been up for long: wait until the fresh ones' IPv6
        // link-local addresses have passed duplicate address detection, or the router's first
        // answers get lost and the host's addresses change under a test's feet.
        let settled = |ns: &str, dev: &str| {
            self.ip(ns, &["-6", "addr", "show", "dev", dev, "tentative"])
                .trim()
                .is_empty()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !(settled(&router, "lan0") && settled(&host, ifname))
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// The Docker guide's lab: eth0 = 172.16.86.250/24, router 172.16.86.1/24.
    pub fn guide() -> Self {
        let mut lab = Lab::new("g");
        lab.uplink("eth0", "router", &["172.16.86.250/24"], &["172.16.86.1/24"]);
        lab
    }

    /// The guide's network: 172.16.86.0/24, gateway .1, parent eth0, plus `extra` arguments.
    pub fn guide_net(&self, name: &str, extra: &[&str]) {
        let mut args = vec![
            "network",
            "create",
            "--subnet=172.16.86.0/24",
            "--gateway=172.16.86.1",
            "-o",
            "parent=eth0",
        ];
        args.extend_from_slice(extra);
        args.push(name);
        self.ul(&args).ok();
    }

    /// A container namespace; returns its name (what `network connect` takes).
    pub fn container(&mut self, name: &str) -> String {
        self.add_ns(name)
    }

    /// Run `underlay ARGS` inside the lab host with the lab's state directory.
    pub fn ul(&self, args: &[&str]) -> Run {
        self.ul_env(args, &[])
    }

    pub fn ul_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", self.ns("host")))
            .arg(bin())
            .args(args)
            .env("UNDERLAY_STATE_DIR", self.state.path())
            .envs(env.iter().copied())
            .output()
            .expect("run underlay");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// A `Command` for underlay in the lab host, for tests that manage the process themselves.
    pub fn ul_command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(format!("--net=/run/netns/{}", self.ns("host")))
            .arg(bin())
            .args(args)
            .env("UNDERLAY_STATE_DIR", self.state.path());
        c
    }

    /// `ip ARGS` inside lab namespace `ns` (a full name).
    pub fn ip(&self, ns: &str, args: &[&str]) -> String {
        let mut a = vec!["-n", ns];
        a.extend_from_slice(args);
        ok("ip", &a)
    }

    /// Whether `dst` answers a ping from `ns`. A reachable peer gets a few
    /// tries: a neighbour entry left FAILED by an earlier probe, or a loaded
    /// machine, can eat the first second.
    pub fn ping(&self, ns: &str, dst: &str) -> bool {
        (0..4).any(|_| self.ping_once(ns, dst))
    }

    /// Whether `dst` stays silent to one ping from `ns` (one second).
    pub fn silent(&self, ns: &str, dst: &str) -> bool {
        !self.ping_once(ns, dst)
    }

    fn ping_once(&self, ns: &str, dst: &str) -> bool {
        let mut args = vec!["netns", "exec", ns, "ping", "-c", "1", "-W", "1"];
        if dst.contains(':') {
            args.push("-6");
        }
        args.push(dst);
        sh("ip", &args).status.success()
    }

    /// Links of a namespace as `ip -d -br link` lines, without volatile counters.
    pub fn links(&self, ns: &str) -> String {
        self.ip(ns, &["-d", "link", "show"])
    }

    /// Everything observable of the host namespace: links, addresses, routes.
    pub fn host_snapshot(&self) -> String {
        let host = self.ns("host");
        format!(
            "{}\n{}\n{}\n{}",
            self.ip(&host, &["-d", "link", "show"]),
            self.ip(&host, &["addr", "show"]),
            self.ip(&host, &["route", "show"]),
            self.ip(&host, &["-6", "route", "show"])
        )
    }

    /// Every file under the state directory with its bytes (as the store reads them).
    pub fn store_snapshot(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        walk(&p, out);
                    } else {
                        // As the store reads it: without the blanks an in-place overwrite
                        // pads a shorter document with.
                        let mut doc = std::fs::read(&p).unwrap_or_default();
                        while doc.last() == Some(&b' ') {
                            doc.pop();
                        }
                        out.insert(p.clone(), doc);
                    }
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.state.path(), &mut out);
        out
    }

    /// The stored network documents, parsed.
    pub fn store_docs(&self) -> Vec<serde_json::Value> {
        let root = self.state.path();
        let read = |path: &Path| -> serde_json::Value {
            let bytes = std::fs::read(path).expect("read doc");
            serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                panic!("store document {} does not parse: {err}", path.display())
            })
        };
        let json_files = |dir: PathBuf| -> Vec<PathBuf> {
            let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.ends_with(".json") && !n.starts_with('.')
                })
                .collect();
            out.sort();
            out
        };
        let mut docs = Vec::new();
        // A network's document with its endpoints' documents (endpoints/<id>/) put back in,
        // as the engine reads them.
        for path in json_files(root.join("networks")) {
            let mut doc = read(&path);
            let id = doc["id"].as_str().expect("network id").to_string();
            let mut eps = doc["endpoints"].as_object().cloned().unwrap_or_default();
            for ep in json_files(root.join("endpoints").join(&id)) {
                let ep = read(&ep);
                eps.insert(ep["id"].as_str().expect("endpoint id").to_string(), ep);
            }
            doc["endpoints"] = serde_json::Value::Object(eps);
            docs.push(doc);
        }
        docs
    }

    /// `network inspect NAME` parsed.
    pub fn inspect(&self, net: &str) -> serde_json::Value {
        let out = self.ul(&["network", "inspect", net]).ok();
        let v: serde_json::Value = serde_json::from_str(&out).expect("inspect is JSON");
        v[0].clone()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Words that only a raw error carries (an I/O error, a panic): never in a message for users.
#[allow(dead_code)]
pub const RAW_ERRORS: &[&str] = &[
    "os error",
    "Os {",
    "panicked",
    "RUST_BACKTRACE",
    "No such file",
    "File name too long",
    "state directory",
];
