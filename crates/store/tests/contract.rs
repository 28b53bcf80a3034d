//! The store's contract, checked against every backend: the embedded store always, etcd
//! (Debian's etcd-server 3.4, started here on loopback) where it is installed. The etcd tests
//! are ignored by a plain `cargo test`; `scripts/test.sh` asks for them, and they fail there
//! if etcd cannot be started.

use std::sync::{Arc, Barrier};

use store::{Batch, DirStore, Durability, Error, Expect, Store};

const D: Durability = Durability::SurvivesProcessDeath;

/// Every case of the contract, each on a store of its own that `fresh` makes.
fn contract(fresh: &dyn Fn() -> Box<dyn Store>) {
    reads_what_was_committed(&*fresh());
    refuses_a_batch_whose_expectation_fails_and_applies_none_of_it(&*fresh());
    versions_change_with_the_document(&*fresh());
    deletes_and_puts_apply_in_order(&*fresh());
    one_of_racing_claims_wins(Arc::from(fresh()));
    refuses_bad_keys(&*fresh());
    expects_nothing_under_a_key(&*fresh());
}

fn expects_nothing_under_a_key(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    // Addresses and host names are keys too.
    t.commit(
        Batch::new(D)
            .put("claims/n1/172.16.86.2", *b"a")
            .put("claims/n1/2001:db8::2", *b"b")
            .put("nodes/node-1.lab", *b"c")
            .expect("claims/n1", Expect::NoneUnder),
    )
    .unwrap();
    assert_eq!(
        t.keys("claims/n1").unwrap(),
        ["claims/n1/172.16.86.2", "claims/n1/2001:db8::2"]
    );
    let v = t.doc("claims/n1/172.16.86.2").unwrap().unwrap().version;
    let e = t
        .commit(
            Batch::new(D)
                .delete("nodes/node-1.lab")
                .expect("claims/n1", Expect::NoneUnder),
        )
        .unwrap_err();
    match e {
        Error::Conflict {
            key,
            expected,
            found,
        } => {
            assert_eq!(key, "claims/n1/172.16.86.2", "the first document under it");
            assert_eq!(expected, Expect::NoneUnder);
            assert_eq!(found, Some(v));
        }
        other => panic!("not a conflict: {other}"),
    }
    assert!(
        t.get("nodes/node-1.lab").unwrap().is_some(),
        "nothing applied"
    );
    // A key that merely starts like the prefix is not under it.
    t.commit(
        Batch::new(D)
            .put("claims/n10/x", *b"1")
            .expect("claims/n2", Expect::NoneUnder)
            .expect("claims/n", Expect::NoneUnder),
    )
    .unwrap();
}

fn reads_what_was_committed(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    t.commit(
        Batch::new(D)
            .put("nets/b", *b"2")
            .put("nets/a", *b"1")
            .put("nets/sub/c", *b"3")
            .put("other/x", *b"4"),
    )
    .unwrap();
    // A writer sees its own commits.
    assert_eq!(t.get("nets/a").unwrap().as_deref(), Some(&b"1"[..]));
    drop(t);
    let r = s.snapshot().unwrap();
    assert_eq!(r.get("nets/b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(r.get("nets/zz").unwrap(), None);
    assert_eq!(r.doc("nets/zz").unwrap(), None);
    // One level down, sorted.
    let listed: Vec<String> = r
        .list("nets")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["nets/a", "nets/b"]);
    // Any depth, sorted, and nothing of another prefix.
    assert_eq!(r.keys("nets").unwrap(), ["nets/a", "nets/b", "nets/sub/c"]);
    assert_eq!(r.keys("none").unwrap(), Vec::<String>::new());
}

fn refuses_a_batch_whose_expectation_fails_and_applies_none_of_it(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    // Absent holds for a document that is not there.
    t.commit(
        Batch::new(D)
            .put("k/a", *b"1")
            .expect("k/a", Expect::Absent),
    )
    .unwrap();
    let v = t.doc("k/a").unwrap().unwrap().version;
    let e = t
        .commit(
            Batch::new(D)
                .put("k/b", *b"x")
                .put("k/a", *b"2")
                .expect("k/a", Expect::Absent),
        )
        .unwrap_err();
    match e {
        Error::Conflict {
            key,
            expected,
            found,
        } => {
            assert_eq!(key, "k/a");
            assert_eq!(expected, Expect::Absent);
            assert_eq!(found, Some(v));
        }
        other => panic!("not a conflict: {other}"),
    }
    assert_eq!(t.get("k/b").unwrap(), None, "nothing of a refused batch");
    assert_eq!(t.get("k/a").unwrap().as_deref(), Some(&b"1"[..]));
    // A version holds while the document is unchanged, and not for one that is absent.
    t.commit(
        Batch::new(D)
            .put("k/a", *b"3")
            .expect("k/a", Expect::Version(v)),
    )
    .unwrap();
    let e = t
        .commit(
            Batch::new(D)
                .put("k/a", *b"4")
                .expect("k/a", Expect::Version(v)),
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("k/a changed since it was read"),
        "{e}"
    );
    let e = t
        .commit(
            Batch::new(D)
                .put("k/q", *b"4")
                .expect("k/q", Expect::Version(v)),
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::Conflict { found: None, .. }),
        "absent is no version: {e}"
    );
}

fn versions_change_with_the_document(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    t.commit(Batch::new(D).put("v/a", *b"one").put("v/b", *b"b"))
        .unwrap();
    let v1 = t.doc("v/a").unwrap().unwrap().version;
    // A writer knows the version of what it put without reading it.
    assert_eq!(t.version_put("v/a", b"one"), Some(v1));
    t.commit(Batch::new(D).put("v/a", *b"two")).unwrap();
    let v2 = t.doc("v/a").unwrap().unwrap().version;
    assert_ne!(v1, v2);
    drop(t);
    assert_eq!(
        s.snapshot().unwrap().doc("v/a").unwrap().unwrap().version,
        v2
    );
}

fn deletes_and_puts_apply_in_order(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    // Deleting what is not there is no error.
    t.commit(Batch::new(D).delete("o/none")).unwrap();
    t.commit(
        Batch::new(D)
            .put("o/a", *b"1")
            .delete("o/a")
            .delete("o/b")
            .put("o/b", *b"2")
            .put("o/c", *b"x")
            .put("o/c", *b"y"),
    )
    .unwrap();
    assert_eq!(t.get("o/a").unwrap(), None);
    assert_eq!(t.get("o/b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(t.get("o/c").unwrap().as_deref(), Some(&b"y"[..]));
}

fn one_of_racing_claims_wins(s: Arc<dyn Store>) {
    const N: usize = 6;
    let start = Arc::new(Barrier::new(N));
    let racers: Vec<_> = (0..N)
        .map(|i| {
            let (s, start) = (s.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut t = s.begin().unwrap();
                let _seen = t.doc("claims/ip").unwrap();
                t.commit(
                    Batch::new(D)
                        .put("claims/ip", format!("node-{i}"))
                        .expect("claims/ip", Expect::Absent),
                )
            })
        })
        .collect();
    let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, Error::Conflict { found: Some(_), .. }), "{e}");
        }
    }
    let holder = s.snapshot().unwrap().get("claims/ip").unwrap().unwrap();
    assert!(holder.starts_with(b"node-"));
}

fn refuses_bad_keys(s: &dyn Store) {
    let mut t = s.begin().unwrap();
    for key in [
        "", "A", "a//b", "/a", "a/", "a b", "a/../b", "a/.tmp", ".", "a/b\\c",
    ] {
        let e = t.commit(Batch::new(D).put(key, *b"1")).unwrap_err();
        assert!(matches!(e, Error::BadKey(_)), "{key:?}: {e}");
        assert!(e.to_string().contains("invalid store key"), "{e}");
    }
    assert!(matches!(t.get("a//b"), Err(Error::BadKey(_))));
}

#[test]
fn the_embedded_store_keeps_the_contract() {
    let dirs = std::sync::Mutex::new(Vec::new());
    contract(&|| {
        let dir = tempfile::tempdir().unwrap();
        let s = DirStore::open(dir.path()).unwrap();
        dirs.lock().unwrap().push(dir);
        Box::new(s)
    });
}

#[cfg(feature = "etcd")]
mod etcd {
    use super::*;
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};
    use store::{EtcdConfig, EtcdStore};

    /// One etcd member on loopback, killed (by its PID) and its data removed when dropped.
    pub struct Etcd {
        child: Child,
        pub client_port: u16,
        /// Its members' TLS (https), as a client reaches it.
        tls: Option<store::EtcdTls>,
        data: tempfile::TempDir,
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, made with Debian's
    /// openssl in `dir` (PEM: ca.pem, server.pem/.key, client.pem/.key).
    fn make_certs(dir: &std::path::Path) {
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        let script = r#"set -e
            key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
            openssl req -x509 $key -keyout ca.key -out ca.pem -days 2 -subj /CN=underlay-test-ca
            for who in server client; do
              openssl req $key -keyout $who.key -out $who.csr -subj /CN=$who
              openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                -out $who.pem -days 2 -extfile $who.ext
            done"#;
        let out = Command::new("bash")
            .args(["-c", script])
            .current_dir(dir)
            .output()
            .expect("openssl (Debian's openssl)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    impl Etcd {
        pub fn start() -> Etcd {
            Self::start_with(false)
        }

        /// etcd serving clients over TLS only, and only those with a certificate of its CA.
        pub fn start_tls() -> Etcd {
            Self::start_with(true)
        }

        fn start_with(tls: bool) -> Etcd {
            let data = tempfile::tempdir().unwrap();
            let (client_port, peer_port) = (free_port(), free_port());
            let scheme = if tls { "https" } else { "http" };
            let client = format!("{scheme}://127.0.0.1:{client_port}");
            let peer = format!("http://127.0.0.1:{peer_port}");
            let log = std::fs::File::create(data.path().join("log")).unwrap();
            let mut cmd = Command::new("etcd");
            let tls = tls.then(|| {
                let d = data.path();
                make_certs(d);
                cmd.arg("--cert-file").arg(d.join("server.pem"));
                cmd.arg("--key-file").arg(d.join("server.key"));
                cmd.arg("--trusted-ca-file").arg(d.join("ca.pem"));
                cmd.arg("--client-cert-auth");
                store::EtcdTls {
                    ca: Some(d.join("ca.pem")),
                    cert: Some(d.join("client.pem")),
                    key: Some(d.join("client.key")),
                }
            });
            let child = cmd
                .args(["--name", "contract", "--data-dir"])
                .arg(data.path().join("member"))
                .args(["--listen-client-urls", &client])
                .args(["--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer])
                .args(["--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &format!("contract={peer}")])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect(
                    "etcd (Debian's etcd-server, installed by scripts/deps.sh) cannot be started",
                );
            let etcd = Etcd {
                child,
                client_port,
                tls,
                data,
            };
            etcd.wait_ready();
            etcd
        }

        fn wait_ready(&self) {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let ready = EtcdStore::open(self.config("ready"))
                    .and_then(|s| s.snapshot()?.get("probe").map(|_| ()));
                match ready {
                    Ok(()) => return,
                    Err(e) if Instant::now() > deadline => panic!("etcd never answered: {e}"),
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        }

        /// A store of its own on this etcd: keys under a root no other store uses.
        pub fn config(&self, root: &str) -> EtcdConfig {
            let mut c = EtcdConfig::parse(&format!("etcd://127.0.0.1:{}/{root}", self.client_port))
                .unwrap();
            c.timeout = Duration::from_secs(3);
            c.tls = self.tls.clone();
            c
        }

        pub fn fresh(&self) -> Box<dyn Store> {
            static N: AtomicUsize = AtomicUsize::new(0);
            let root = format!("t{}", N.fetch_add(1, Ordering::Relaxed));
            Box::new(EtcdStore::open(self.config(&root)).unwrap())
        }
    }

    impl Drop for Etcd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn the_etcd_store_keeps_the_contract() {
        let etcd = Etcd::start();
        contract(&|| etcd.fresh());
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn an_etcd_snapshot_sees_one_revision_and_a_writer_is_refused_what_another_changed() {
        let etcd = Etcd::start();
        let a = EtcdStore::open(etcd.config("iso")).unwrap();
        let b = EtcdStore::open(etcd.config("iso")).unwrap();
        let mut t = a.begin().unwrap();
        t.commit(Batch::new(D).put("n/x", *b"1")).unwrap();
        drop(t);
        let snap = a.snapshot().unwrap();
        let v1 = snap.doc("n/x").unwrap().unwrap().version;
        // Two writers read the same version; the second to commit is refused.
        let mut ta = a.begin().unwrap();
        let mut tb = b.begin().unwrap();
        assert_eq!(ta.doc("n/x").unwrap().unwrap().version, v1);
        assert_eq!(tb.doc("n/x").unwrap().unwrap().version, v1);
        tb.commit(
            Batch::new(D)
                .put("n/x", *b"2")
                .expect("n/x", Expect::Version(v1)),
        )
        .unwrap();
        let v2 = tb.doc("n/x").unwrap().unwrap().version;
        let e = ta
            .commit(
                Batch::new(D)
                    .put("n/x", *b"3")
                    .expect("n/x", Expect::Version(v1)),
            )
            .unwrap_err();
        assert!(
            matches!(&e, Error::Conflict { found: Some(f), .. } if *f == v2),
            "{e}"
        );
        // The snapshot still reads the revision it began at; a new one reads the newest.
        assert_eq!(snap.get("n/x").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(snap.list("n").unwrap().len(), 1);
        let now = b.snapshot().unwrap();
        assert_eq!(now.get("n/x").unwrap().as_deref(), Some(&b"2"[..]));
        // Stores under other roots see nothing of it.
        let other = EtcdStore::open(etcd.config("elsewhere")).unwrap();
        assert_eq!(
            other.snapshot().unwrap().keys("n").unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn a_batch_larger_than_one_etcd_transaction_is_applied_whole() {
        let etcd = Etcd::start();
        let s = etcd.fresh();
        let mut b = Batch::new(D).expect("big/0", Expect::Absent);
        for i in 0..300 {
            b.push_put(format!("big/{i}"), i.to_string());
        }
        s.begin().unwrap().commit(b).unwrap();
        assert_eq!(s.snapshot().unwrap().keys("big").unwrap().len(), 300);
        assert_eq!(s.snapshot().unwrap().list("big").unwrap().len(), 300);
        let mut gone = Batch::new(D);
        for i in 0..300 {
            gone.push_delete(format!("big/{i}"));
        }
        s.begin().unwrap().commit(gone).unwrap();
        assert!(s.snapshot().unwrap().keys("big").unwrap().is_empty());
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn a_prefix_of_more_keys_than_one_read_returns_is_read_whole_at_one_revision() {
        let etcd = Etcd::start();
        let s = etcd.fresh();
        // 10,000 claims of a /16 pool: several pages, each at the first page's revision.
        for chunk in (0..10_000).collect::<Vec<u32>>().chunks(1000) {
            let mut b = Batch::new(D);
            for i in chunk {
                b.push_put(format!("claims/n/10.77.{}.{}", i / 256, i % 256), *b"x");
            }
            s.begin().unwrap().commit(b).unwrap();
        }
        let snap = s.snapshot().unwrap();
        let first = snap.get("claims/n/10.77.0.0").unwrap();
        assert!(first.is_some());
        s.begin()
            .unwrap()
            .commit(Batch::new(D).put("claims/n/10.77.200.1", *b"late"))
            .unwrap();
        let keys = snap.keys("claims/n").unwrap();
        assert_eq!(keys.len(), 10_000, "the later claim is not in the snapshot");
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(
            s.snapshot().unwrap().keys("claims/n").unwrap().len(),
            10_001
        );
        // A neighbour whose key merely continues the prefix is not under it.
        s.begin()
            .unwrap()
            .commit(Batch::new(D).put("claims/n0/x", *b"y"))
            .unwrap();
        assert_eq!(
            s.snapshot().unwrap().list("claims/n").unwrap().len(),
            10_001
        );
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn the_etcd_store_answers_on_a_thread_of_another_tokio_runtime() {
        let etcd = Etcd::start();
        let s = std::sync::Arc::new(EtcdStore::open(etcd.config("rt")).unwrap());
        s.begin()
            .unwrap()
            .commit(Batch::new(D).put("r/a", *b"1"))
            .unwrap();
        // As the daemon would call it: inside a runtime's task, and from several threads.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let inner = s.clone();
        let got = rt.block_on(async move { inner.snapshot().unwrap().get("r/a").unwrap() });
        assert_eq!(got.as_deref(), Some(&b"1"[..]));
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let key = format!("r/t{i}");
                    s.begin().unwrap().commit(
                        Batch::new(D)
                            .put(key.clone(), *b"x")
                            .expect(key, Expect::Absent),
                    )
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(s.snapshot().unwrap().keys("r").unwrap().len(), 5);
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server): scripts/test.sh runs it"]
    fn an_etcd_that_is_gone_is_a_clear_error_naming_it() {
        let etcd = Etcd::start();
        let s = EtcdStore::open(etcd.config("gone")).unwrap();
        s.begin()
            .unwrap()
            .commit(Batch::new(D).put("g/a", *b"1"))
            .unwrap();
        let port = etcd.client_port;
        drop(etcd);
        let e = s.snapshot().unwrap().get("g/a").unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::Cluster { .. }), "{text}");
        assert!(
            text.contains(&format!("etcd://127.0.0.1:{port}/gone")),
            "{text}"
        );
        assert!(text.contains("reading g/a"), "{text}");
        assert!(text.contains("check that etcd runs"), "{text}");
        // Nobody listening at all: opening or the first request says so, in bounded time.
        let t0 = Instant::now();
        let mut c = EtcdConfig::parse(&format!("etcd://127.0.0.1:{port}")).unwrap();
        c.timeout = Duration::from_secs(1);
        let e = match EtcdStore::open(c) {
            Err(e) => e,
            Ok(s) => s.snapshot().unwrap().get("g/a").unwrap_err(),
        };
        assert!(matches!(e, Error::Cluster { .. }), "{e}");
        assert!(t0.elapsed() < Duration::from_secs(10), "{:?}", t0.elapsed());
    }

    /// A store on `c` refused by etcd: at its opening or at its first read.
    fn assert_refused(c: EtcdConfig) {
        let e = match EtcdStore::open(c) {
            Err(e) => e,
            Ok(s) => s
                .snapshot()
                .and_then(|s| s.get("a").map(|_| ()))
                .unwrap_err(),
        };
        assert!(matches!(e, Error::Cluster { .. }), "{e}");
    }

    #[test]
    #[ignore = "needs etcd (Debian's etcd-server) and openssl: scripts/test.sh runs it"]
    fn an_etcd_with_client_certificates_is_reached_over_tls_and_refuses_others() {
        let etcd = Etcd::start_tls();
        contract(&|| etcd.fresh());
        // No client certificate, no TLS at all, a certificate without its key: each refused
        // clearly, none applied.
        let mut c = etcd.config("nocert");
        c.tls.as_mut().unwrap().cert = None;
        c.tls.as_mut().unwrap().key = None;
        assert_refused(c);
        let mut c = etcd.config("plain");
        c.tls = None;
        assert_refused(c);
        let mut c = etcd.config("half");
        c.tls.as_mut().unwrap().key = None;
        let e = EtcdStore::open(c).err().expect("refused");
        assert_eq!(
            e.to_string(),
            format!(
                "cluster store TLS: client certificate {} given without its key",
                etcd.data.path().join("client.pem").display()
            )
        );
        let mut c = etcd.config("missing");
        c.tls.as_mut().unwrap().ca = Some("/nonexistent/ca.pem".into());
        let e = EtcdStore::open(c).err().expect("refused");
        assert!(
            e.to_string().starts_with(
                "cluster store TLS: cannot read the CA certificate /nonexistent/ca.pem: "
            ),
            "{e}"
        );
    }
}
