//! underlay's document store, shaped like etcd.
//!
//! State is a set of small documents addressed by keys such as `networks/<id>`. A reader takes
//! a consistent [`Snapshot`]; a writer takes a [`Txn`] (a snapshot that can commit) and commits
//! [`Batch`]es: operations, the [`Version`]s it expects documents to have (compare-and-swap,
//! refused as [`Error::Conflict`]), and the batch's [`Durability`]. Every document is replaced
//! atomically, so a process killed at any instant leaves each one before or after a commit.
//!
//! Backends: [`DirStore`], the embedded store (a directory of JSON documents under a lock
//! file); [`EtcdStore`] (feature `etcd`, on by default), what a cluster of hosts shares, which
//! maps a snapshot onto revision-pinned range reads and a commit onto one etcd transaction
//! with a compare clause per expectation; and [`Overlay`], whose commits stay in memory (a dry
//! run). `tests/contract.rs` holds every backend to the same contract.
//!
//! Public API: [`Store`], [`Snapshot`], [`Txn`], [`Batch`], [`Op`], [`Expect`],
//! [`Durability`], [`Version`], [`Doc`], [`DirStore`], [`EtcdStore`], [`EtcdConfig`],
//! [`Overlay`], [`Error`], [`Result`], [`DEFAULT_STATE_DIR`], [`DEFAULT_LOCK_TIMEOUT`],
//! [`DEFAULT_ETCD_TIMEOUT`].

#![forbid(unsafe_code)]

mod batch;
mod dir;
#[cfg(feature = "etcd")]
mod etcd;
mod in_place;
mod overlay;

pub use batch::{Batch, Doc, Durability, Expect, Op, Version};
pub use dir::{DirStore, DEFAULT_LOCK_TIMEOUT};
#[cfg(feature = "etcd")]
pub use etcd::{EtcdConfig, EtcdStore, EtcdTls, DEFAULT_ETCD_TIMEOUT};
pub use overlay::Overlay;

use std::io;
use std::path::PathBuf;

/// The default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/underlay";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("state directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid store key {0:?}: keys are '/'-separated names of lowercase letters, digits, '-', '_', '.' and ':', none starting with '.'")]
    BadKey(String),
    #[error("state directory {path} is locked by {holder}, which did not let go within {secs} s; set UNDERLAY_LOCK_TIMEOUT (seconds) to wait longer")]
    Busy {
        path: PathBuf,
        holder: String,
        secs: u64,
    },
    /// The cluster store did not answer, or refused.
    #[error("cluster store {url}: {what}: {reason}; check that etcd runs and that this host reaches it (the cluster store's address, its credentials)")]
    Cluster {
        url: String,
        what: String,
        reason: String,
    },
    #[error(
        "invalid cluster store {value:?}: {why}; expected etcd://HOST:PORT[,HOST:PORT...][/ROOT]"
    )]
    BadUrl { value: String, why: String },
    /// A TLS file of the cluster store's cannot be read, or the set given is incomplete.
    #[error("cluster store TLS: {what}")]
    Tls { what: String },
    /// A batch's expectation did not hold: the document changed since it was read. Nothing of
    /// the batch was applied.
    #[error("state document {key} changed since it was read (expected {expected}, found {})", found.map_or("it absent".to_string(), |v| format!("version {v}")))]
    Conflict {
        key: String,
        expected: Expect,
        found: Option<Version>,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A consistent view of the store: no commit of another writer shows while it is held.
pub trait Snapshot {
    /// The document at `key` with its version.
    fn doc(&self, key: &str) -> Result<Option<Doc>>;
    /// The document's bytes.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.doc(key)?.map(|d| d.value))
    }
    /// Every document whose key is `prefix/NAME` (one level down), sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Every key under `prefix/` at any depth (an etcd prefix query), sorted, without reading
    /// the documents.
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
}

/// A writer's view: a snapshot that sees its own commits, and commits batches. The embedded
/// store holds its exclusive lock for as long as a `Txn` lives, so no other writer's commit
/// can come between a read and a commit; the etcd backend locks nothing and refuses such a
/// commit instead, where the batch expects what was read (after a commit of its own, an etcd
/// writer reads at the revision it made, which may show others' earlier commits too).
pub trait Txn: Snapshot {
    /// Check the batch's expectations, then apply its operations in order (see [`Batch`]).
    fn commit(&mut self, batch: Batch) -> Result<()>;
    /// The version of the document this writer's last commit put at `key` with `value`,
    /// without reading it back (a claim is released at the version it was made with).
    /// Backends whose versions follow the bytes (the embedded store, the overlay) derive it;
    /// etcd gives the revision of that commit.
    fn version_put(&self, key: &str, value: &[u8]) -> Option<Version> {
        let _ = key;
        Some(Version::of(value))
    }
    /// A backend's housekeeping after crashes (the embedded store removes temporary files
    /// that writers killed mid-write left behind, which no read ever sees). `restore` calls it.
    fn tidy(&mut self) -> Result<()> {
        Ok(())
    }
}

/// A store: hands out snapshots and writers.
pub trait Store: Send + Sync {
    /// A writer's view (embedded store: exclusive, one writer at a time; etcd: optimistic).
    fn begin(&self) -> Result<Box<dyn Txn + '_>>;
    /// A reader's view, which creates nothing and works on read-only state.
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>>;
    /// Where the state lives, for messages.
    fn location(&self) -> String;
}

/// Keys are `/`-separated names of lowercase letters, digits, `-`, `_`, `.` and `:` (an IP
/// address or a host name may be one), none starting with a dot.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.:".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadKey(key.to_string()))
    }
}

/// Check a batch's keys and expectations against `now` (the store as the batch would find
/// it), before anything is applied: what every backend but etcd (which checks them in its
/// transaction) does first.
pub(crate) fn check_batch(batch: &Batch, now: &dyn Snapshot) -> Result<()> {
    for op in batch.ops() {
        check_key(op.key())?;
    }
    for (key, expected) in batch.expects() {
        check_key(key)?;
        let (key, found) = match expected {
            Expect::NoneUnder => match now.keys(key)?.into_iter().next() {
                Some(first) => {
                    let v = now.doc(&first)?.map(|d| d.version);
                    (first, v)
                }
                None => (key.clone(), None),
            },
            _ => (key.clone(), now.doc(key)?.map(|d| d.version)),
        };
        if !expected.holds(found) {
            return Err(Error::Conflict {
                key,
                expected: *expected,
                found,
            });
        }
    }
    Ok(())
}
