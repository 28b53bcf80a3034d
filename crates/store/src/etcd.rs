//! The etcd backend: documents a cluster of hosts shares, in etcd v3 (3.4 or later).
//!
//! A document is the etcd key `ROOT KEY` (the root is `/underlay/` unless the cluster store's
//! address names another), its version the key's `mod_revision`. A snapshot reads at one
//! revision: the first read takes the newest, every later read of the snapshot asks for that
//! revision, so no commit of another writer shows while it is held. A writer does not lock
//! anything: its batch is one etcd transaction whose compare clauses are the batch's
//! expectations (absent: `create_revision == 0`; a version: `mod_revision == v`), so a commit
//! that another writer's came between is refused as [`Error::Conflict`], naming the key and
//! the version found there (read back in the same transaction). After its own commit, a
//! writer reads at the revision that commit made.
//!
//! Both durabilities hold for every commit: etcd answers once a majority of its members has
//! the transaction in its log on disk.
//!
//! The client is asynchronous (gRPC); this store calls it from any thread: the caller drives
//! a small runtime of the store's own while it waits (a thread of another tokio runtime, such
//! as the daemon's, hands the request to a short-lived thread instead).

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, Txn as EtcdTxn, TxnOp};

use crate::{check_key, Batch, Doc, Error, Expect, Op, Result, Snapshot, Store, Txn, Version};

/// How long one request to etcd may take (connecting included) unless told otherwise.
pub const DEFAULT_ETCD_TIMEOUT: Duration = Duration::from_secs(5);

/// The most operations etcd takes in one transaction by default (`--max-txn-ops`).
const MAX_TXN_OPS: usize = 128;

/// Where a cluster store is and how to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdConfig {
    /// `HOST:PORT` of each member to try.
    pub endpoints: Vec<String>,
    /// What every key starts with, `/`-framed: `/underlay/` by default.
    pub root: String,
    /// etcd's user and password, where etcd has authentication enabled.
    pub user: Option<(String, String)>,
    /// How long one request may take.
    pub timeout: Duration,
    /// TLS to etcd's members (`https`), where given.
    pub tls: Option<EtcdTls>,
}

/// TLS to etcd: the CA that signed its members' certificates and this host's client
/// certificate and key (PEM files; etcd's `--client-cert-auth` wants the latter two).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EtcdTls {
    pub ca: Option<std::path::PathBuf>,
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

impl EtcdTls {
    /// The files read into tonic's TLS options; an error naming the file that cannot be read,
    /// or the half of a client certificate that is missing.
    fn options(&self) -> Result<etcd_client::TlsOptions> {
        let read = |what: &str, p: &std::path::Path| {
            std::fs::read(p).map_err(|e| Error::Tls {
                what: format!("cannot read the {what} {}: {e}", p.display()),
            })
        };
        let mut tls = etcd_client::TlsOptions::new();
        if let Some(ca) = &self.ca {
            let pem = read("CA certificate", ca)?;
            tls = tls.ca_certificate(etcd_client::Certificate::from_pem(pem));
        }
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                let (cert, key) = (read("client certificate", c)?, read("client key", k)?);
                tls = tls.identity(etcd_client::Identity::from_pem(cert, key));
            }
            (None, None) => {}
            (Some(c), None) => {
                return Err(Error::Tls {
                    what: format!("client certificate {} given without its key", c.display()),
                })
            }
            (None, Some(k)) => {
                return Err(Error::Tls {
                    what: format!("client key {} given without its certificate", k.display()),
                })
            }
        }
        Ok(tls)
    }
}

impl EtcdConfig {
    /// The cluster store at `url`: `etcd://HOST:PORT[,HOST:PORT...][/ROOT]`.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = |why: String| Error::BadUrl {
            value: url.to_string(),
            why,
        };
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("it does not start with etcd://".into()))?;
        let (hosts, root) = match rest.split_once('/') {
            Some((h, r)) => (h, r.trim_end_matches('/')),
            None => (rest, ""),
        };
        let mut endpoints = Vec::new();
        for hp in hosts.split(',') {
            let Some((host, port)) = hp.rsplit_once(':') else {
                return Err(bad(format!("{hp:?} has no :PORT")));
            };
            let host_ok = !host.is_empty()
                && (host.starts_with('[') && host.ends_with(']')
                    || host
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'));
            if !host_ok {
                return Err(bad(format!("{host:?} is not a host name or address")));
            }
            if port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad(format!("port {port:?} is not 1-65535")));
            }
            endpoints.push(hp.to_string());
        }
        let root = if root.is_empty() { "underlay" } else { root };
        if check_key(root).is_err() {
            return Err(bad(format!(
                "root {root:?} is not lowercase letters, digits, '-', '_' and '/'"
            )));
        }
        Ok(EtcdConfig {
            endpoints,
            root: format!("/{root}/"),
            user: None,
            timeout: DEFAULT_ETCD_TIMEOUT,
            tls: None,
        })
    }

    /// The address as a user writes it, for messages.
    pub fn url(&self) -> String {
        let root = self.root.trim_matches('/');
        format!("etcd://{}/{root}", self.endpoints.join(","))
    }
}

/// The etcd backend of [`Store`].
pub struct EtcdStore {
    /// A client per member, made when first used: a request that cannot reach one member
    /// (connection refused, no leader there) goes to the next.
    clients: Vec<std::sync::Mutex<Option<Client>>>,
    /// The member that answered last, asked first.
    current: std::sync::atomic::AtomicUsize,
    options: ConnectOptions,
    /// Runs the client's requests; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
    config: EtcdConfig,
}

impl EtcdStore {
    /// A store on the etcd cluster `config` names. Connects when first asked: an unreachable
    /// cluster shows at a request, as [`Error::Cluster`].
    pub fn open(config: EtcdConfig) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Cluster {
                url: config.url(),
                what: "starting its client".into(),
                reason: e.to_string(),
            })?;
        let mut options = ConnectOptions::new()
            .with_timeout(config.timeout)
            .with_connect_timeout(config.timeout)
            .with_require_leader(true);
        if let Some((user, password)) = &config.user {
            options = options.with_user(user.clone(), password.clone());
        }
        if let Some(tls) = &config.tls {
            options = options.with_tls(tls.options()?);
        }
        Ok(EtcdStore {
            clients: config
                .endpoints
                .iter()
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
            current: std::sync::atomic::AtomicUsize::new(0),
            options,
            rt: Some(rt),
            config,
        })
    }

    fn rt(&self) -> &tokio::runtime::Runtime {
        self.rt
            .as_ref()
            .expect("the runtime lives as long as the store")
    }

    /// The client of member `i`, connected now if it was not.
    fn client(&self, i: usize) -> std::result::Result<Client, (bool, String)> {
        let mut slot = self.clients[i].lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let scheme = if self.config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!("{scheme}://{}", self.config.endpoints[i]);
        let options = self.options.clone();
        let connect = async move { Client::connect([url], Some(options)).await };
        let c = match run(self.rt(), self.config.timeout, connect) {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err((never_sent(&e), e.to_string())),
            Err(why) => return Err((true, why)),
        };
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Run one request (made by `request` for a member's client) and wait for its answer:
    /// asked of the member that answered last, then of each other one while the request
    /// could not have reached the one asked.
    fn call<T, F, Fut>(&self, what: &str, request: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(Client) -> Fut,
        Fut: Future<Output = std::result::Result<T, etcd_client::Error>> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        let n = self.clients.len();
        let first = self.current.load(Ordering::Relaxed);
        let mut reasons = Vec::new();
        for k in 0..n {
            let i = (first + k) % n;
            let outcome = self.client(i).and_then(|c| {
                match run(self.rt(), self.config.timeout, request(c)) {
                    Ok(Ok(t)) => Ok(t),
                    Ok(Err(e)) => Err((never_sent(&e), e.to_string())),
                    Err(why) => Err((false, why)),
                }
            });
            match outcome {
                Ok(t) => {
                    self.current.store(i, Ordering::Relaxed);
                    return Ok(t);
                }
                Err((unsent, reason)) => {
                    reasons.push(format!("{}: {reason}", self.config.endpoints[i]));
                    if !unsent {
                        break;
                    }
                }
            }
        }
        Err(Error::Cluster {
            url: self.config.url(),
            what: what.to_string(),
            reason: reasons.join("; "),
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.config.root)
    }

    /// The documents at `key` (or under it, with `prefix`), at `rev` (0: the newest), and the
    /// revision they were read at.
    fn range(
        &self,
        key: &str,
        prefix: bool,
        keys_only: bool,
        rev: i64,
    ) -> Result<(Vec<(String, Doc)>, i64)> {
        let full = self.full(key).into_bytes();
        let end = if prefix {
            prefix_end(&full)
        } else {
            Vec::new()
        };
        let root = self.config.root.as_bytes();
        let what = format!("reading {key}");
        let (mut docs, mut from, mut rev) = (Vec::new(), full, rev);
        // In pages: a pool of tens of thousands of claims is more than one gRPC message holds.
        loop {
            let mut options = GetOptions::new().with_revision(rev).with_limit(RANGE_PAGE);
            if prefix {
                options = options.with_range(end.clone());
            }
            if keys_only {
                options = options.with_keys_only();
            }
            let start = from.clone();
            let resp = self.call(&what, |c| {
                let (start, options) = (start.clone(), options.clone());
                async move { c.kv_client().get(start, Some(options)).await }
            })?;
            // Every page at the revision of the first.
            rev = resp.header().map_or(rev, |h| h.revision());
            for kv in resp.kvs() {
                let Some(key) = kv.key().strip_prefix(root) else {
                    continue;
                };
                let Ok(key) = std::str::from_utf8(key) else {
                    continue;
                };
                docs.push((
                    key.to_string(),
                    Doc {
                        value: kv.value().to_vec(),
                        version: Version(kv.mod_revision() as u64),
                    },
                ));
            }
            match resp.kvs().last() {
                Some(last) if prefix && resp.more() => {
                    from = last.key().to_vec();
                    from.push(0);
                }
                _ => return Ok((docs, rev)),
            }
        }
    }
}

/// How many keys one range request asks for.
const RANGE_PAGE: i64 = 4096;

/// The first key after every key that starts with `prefix` (etcd's range end of a prefix).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Run `request` on `rt` and wait for its answer, at most `timeout`: the request's own
/// outcome, or why there is none. The calling thread drives the runtime (the client's
/// connections live in it between requests); a thread of another runtime (the daemon's),
/// which must not block on one, hands the request to a thread of its own for the while.
fn run<T, F, E>(
    rt: &tokio::runtime::Runtime,
    timeout: std::time::Duration,
    request: F,
) -> std::result::Result<std::result::Result<T, E>, String>
where
    T: Send + 'static,
    E: Send + 'static,
    F: Future<Output = std::result::Result<T, E>> + Send + 'static,
{
    let wait = || {
        rt.block_on(async move {
            tokio::time::timeout(timeout, request)
                .await
                .map_err(|_| format!("no answer within {} s", timeout.as_secs_f32()))
        })
    };
    if tokio::runtime::Handle::try_current().is_err() {
        return wait();
    }
    std::thread::scope(|s| {
        s.spawn(wait)
            .join()
            .unwrap_or_else(|_| Err("its client stopped".to_string()))
    })
}

/// Whether a request that failed so could not have reached a member that acts on it (no
/// connection was made, or the member has no leader, which it refuses with before acting):
/// then another member may be asked. A request that timed out may have been applied.
fn never_sent(e: &etcd_client::Error) -> bool {
    use std::error::Error as _;
    match e {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(s) => {
            format!("{:?}", s.code()) == "Unavailable"
                && (s.source().is_some() || s.message().contains("no leader"))
        }
        _ => false,
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which a tokio thread (the daemon's) must not: let it go.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A view at one revision (0 until its first read).
struct View<'a> {
    store: &'a EtcdStore,
    rev: Cell<i64>,
    /// The keys the last commit put, and that commit's revision.
    put: (std::collections::HashSet<String>, i64),
}

impl View<'_> {
    fn range(&self, key: &str, prefix: bool, keys_only: bool) -> Result<Vec<(String, Doc)>> {
        let (docs, rev) = self.store.range(key, prefix, keys_only, self.rev.get())?;
        if self.rev.get() == 0 {
            self.rev.set(rev);
        }
        Ok(docs)
    }
}

impl Snapshot for View<'_> {
    fn doc(&self, key: &str) -> Result<Option<Doc>> {
        check_key(key)?;
        let docs = self.range(key, false, false)?;
        Ok(docs.into_iter().find(|(k, _)| k == key).map(|(_, d)| d))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        check_key(prefix)?;
        let dir = format!("{prefix}/");
        let docs = self.range(&dir, true, false)?;
        Ok(docs
            .into_iter()
            .filter(|(k, _)| k.strip_prefix(&dir).is_some_and(|n| !n.contains('/')))
            .map(|(k, d)| (k, d.value))
            .collect())
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        check_key(prefix)?;
        let dir = format!("{prefix}/");
        let docs = self.range(&dir, true, true)?;
        Ok(docs.into_iter().map(|(k, _)| k).collect())
    }
}

impl Txn for View<'_> {
    fn commit(&mut self, batch: Batch) -> Result<()> {
        for op in batch.ops() {
            check_key(op.key())?;
        }
        for (key, _) in batch.expects() {
            check_key(key)?;
        }
        let ops = last_op_per_key(batch.ops());
        self.put.0.clear();
        let mut chunks = ops.chunks(MAX_TXN_OPS);
        let first = chunks.next().unwrap_or(&[]);
        self.commit_first(batch.expects(), first)?;
        // A batch of more operations than etcd takes at once goes in consecutive
        // transactions: a failure may leave a prefix applied, as the embedded store may.
        for chunk in chunks {
            self.commit_ops(chunk)?;
        }
        self.put = (
            ops.iter()
                .filter(|op| matches!(op, Op::Put { .. }))
                .map(|op| op.key().to_string())
                .collect(),
            self.rev.get(),
        );
        Ok(())
    }

    fn version_put(&self, key: &str, _value: &[u8]) -> Option<Version> {
        self.put
            .0
            .contains(key)
            .then_some(Version(self.put.1 as u64))
    }
}

impl View<'_> {
    fn txn_op(&self, op: &Op) -> TxnOp {
        match op {
            Op::Put { key, value } => TxnOp::put(self.store.full(key), value.clone(), None),
            Op::Delete { key } => TxnOp::delete(self.store.full(key), None),
        }
    }

    /// The batch's expectations and its first operations in one transaction; on a refusal,
    /// the first expectation that does not hold, with what was found.
    fn commit_first(&mut self, expects: &[(String, Expect)], ops: &[&Op]) -> Result<()> {
        let under = |key: &str| format!("{}/", self.store.full(key));
        let compares: Vec<Compare> = expects
            .iter()
            .map(|(key, e)| match e {
                Expect::Absent => {
                    Compare::create_revision(self.store.full(key), CompareOp::Equal, 0)
                }
                Expect::Version(v) => {
                    Compare::mod_revision(self.store.full(key), CompareOp::Equal, v.0 as i64)
                }
                // Over a range: every key in it has (none: the zero key has) revision 0.
                Expect::NoneUnder => {
                    Compare::create_revision(under(key), CompareOp::Equal, 0).with_prefix()
                }
            })
            .collect();
        let reads: Vec<TxnOp> = expects
            .iter()
            .map(|(key, e)| match e {
                Expect::NoneUnder => TxnOp::get(
                    under(key),
                    Some(
                        GetOptions::new()
                            .with_prefix()
                            .with_keys_only()
                            .with_limit(1),
                    ),
                ),
                _ => TxnOp::get(
                    self.store.full(key),
                    Some(GetOptions::new().with_keys_only()),
                ),
            })
            .collect();
        let txn = EtcdTxn::new()
            .when(compares)
            .and_then(ops.iter().map(|op| self.txn_op(op)).collect::<Vec<_>>())
            .or_else(reads);
        let resp = self.send(txn)?;
        if resp.succeeded() {
            return Ok(());
        }
        Err(self.refusal(&resp, expects))
    }

    /// The conflict a refused commit meets: the first expectation that does not hold, as
    /// the refusal's reads found it.
    fn refusal(&self, resp: &etcd_client::TxnResponse, expects: &[(String, Expect)]) -> Error {
        let root = self.store.config.root.as_bytes();
        let found: Vec<Option<(String, Version)>> = resp
            .op_responses()
            .into_iter()
            .map(|r| match r {
                etcd_client::TxnOpResponse::Get(g) => g.kvs().first().and_then(|kv| {
                    let key = std::str::from_utf8(kv.key().strip_prefix(root)?).ok()?;
                    Some((key.to_string(), Version(kv.mod_revision() as u64)))
                }),
                _ => None,
            })
            .collect();
        for ((key, expected), found) in expects.iter().zip(found) {
            let (at, version) = match found {
                Some((at, v)) => (at, Some(v)),
                None => (key.clone(), None),
            };
            if !expected.holds(version) {
                let key = if *expected == Expect::NoneUnder {
                    at
                } else {
                    key.clone()
                };
                return Error::Conflict {
                    key,
                    expected: *expected,
                    found: version,
                };
            }
        }
        // Refused, yet every expectation holds when read back: the cluster changed between
        // the two (another writer undid its change); the caller reads again as for a conflict.
        let (key, expected) = expects.first().cloned().expect("a refusal has a compare");
        Error::Conflict {
            key,
            expected,
            found: None,
        }
    }

    fn commit_ops(&mut self, ops: &[&Op]) -> Result<()> {
        let ops: Vec<TxnOp> = ops.iter().map(|op| self.txn_op(op)).collect();
        self.send(EtcdTxn::new().and_then(ops)).map(drop)
    }

    /// One transaction; this view reads at the revision it made from then on.
    fn send(&mut self, txn: EtcdTxn) -> Result<etcd_client::TxnResponse> {
        let resp = self.store.call("committing", |c| {
            let txn = txn.clone();
            async move { c.kv_client().txn(txn).await }
        })?;
        if let Some(h) = resp.header() {
            self.rev.set(h.revision());
        }
        Ok(resp)
    }
}

/// The operations that decide a batch's outcome: each key's last (etcd refuses a transaction
/// that names a key twice; applied in order, an earlier operation of a key is overwritten).
fn last_op_per_key(ops: &[Op]) -> Vec<&Op> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        last.insert(op.key(), i);
    }
    ops.iter()
        .enumerate()
        .filter(|(i, op)| last[op.key()] == *i)
        .map(|(_, op)| op)
        .collect()
}

impl Store for EtcdStore {
    /// A writer's view. Nothing is locked: a commit whose expectations another writer's
    /// commit broke is refused instead.
    fn begin(&self) -> Result<Box<dyn Txn + '_>> {
        Ok(Box::new(View {
            store: self,
            rev: Cell::new(0),
            put: Default::default(),
        }))
    }

    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>> {
        Ok(Box::new(View {
            store: self,
            rev: Cell::new(0),
            put: Default::default(),
        }))
    }

    fn location(&self) -> String {
        format!("cluster store {}", self.config.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_store_address_names_its_members_and_root() {
        let c = EtcdConfig::parse("etcd://10.0.0.1:2379,etcd-b.lan:2379").unwrap();
        assert_eq!(c.endpoints, ["10.0.0.1:2379", "etcd-b.lan:2379"]);
        assert_eq!(c.root, "/underlay/");
        assert_eq!(c.url(), "etcd://10.0.0.1:2379,etcd-b.lan:2379/underlay");
        let c = EtcdConfig::parse("etcd://[2001:db8::1]:2379/lab-3/").unwrap();
        assert_eq!(c.endpoints, ["[2001:db8::1]:2379"]);
        assert_eq!(c.root, "/lab-3/");
    }

    #[test]
    fn a_bad_cluster_store_address_is_named_with_what_is_expected() {
        for (url, why) in [
            ("consul://h:1", "does not start with etcd://"),
            ("etcd://h", "\"h\" has no :PORT"),
            ("etcd://h:0", "port \"0\" is not 1-65535"),
            ("etcd://h:x", "port \"x\" is not 1-65535"),
            ("etcd://:2379", "\"\" is not a host name"),
            ("etcd://h:1,", "\"\" has no :PORT"),
            ("etcd://h:1/Big", "root \"Big\""),
        ] {
            let e = EtcdConfig::parse(url).unwrap_err().to_string();
            assert!(e.contains(why), "{url}: {e}");
            assert!(e.contains(url), "{url}: {e}");
            assert!(e.contains("expected etcd://HOST:PORT"), "{url}: {e}");
        }
    }

    #[test]
    fn only_each_keys_last_operation_reaches_etcd() {
        let ops = vec![
            Op::Put {
                key: "a".into(),
                value: b"1".to_vec(),
            },
            Op::Delete { key: "b".into() },
            Op::Delete { key: "a".into() },
        ];
        let last: Vec<&Op> = last_op_per_key(&ops);
        assert_eq!(last, [&ops[1], &ops[2]]);
    }
}
