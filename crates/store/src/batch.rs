//! What a writer commits: a batch of operations, the versions it expects documents to have,
//! and how durable the whole batch must be.

use std::fmt;

/// A document's version, opaque to callers: it changes whenever the document does, and a
/// batch may require it to be unchanged. The embedded store derives it from the document's
/// bytes (so a document changed and changed back has its old version again, which its lock
/// makes harmless); the etcd backend uses the key's `mod_revision`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Version(pub(crate) u64);

impl Version {
    /// The embedded store's version of `bytes`: FNV-1a over them and their length. Two
    /// different documents share one with a chance of about 2^-64.
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes.iter().chain(&(bytes.len() as u64).to_le_bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        Version(h)
    }
}

impl Version {
    /// The version as a number, to keep it in a document of another store.
    pub fn to_u64(self) -> u64 {
        self.0
    }
    /// A version kept as [`to_u64`](Self::to_u64) gave it.
    pub fn from_u64(v: u64) -> Self {
        Version(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A document as read: its bytes and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    pub value: Vec<u8>,
    pub version: Version,
}

/// What a batch requires of a document before any of its operations is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The document does not exist.
    Absent,
    /// The document exists with this version (it has not changed since it was read).
    Version(Version),
    /// No document exists under the key (`KEY/...`, at any depth). Refused, the conflict
    /// names the first document found there.
    NoneUnder,
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Absent => f.write_str("absent"),
            Expect::Version(v) => write!(f, "version {v}"),
            Expect::NoneUnder => f.write_str("no document under it"),
        }
    }
}

impl Expect {
    /// Whether a document that is `found` (its version, or None when absent) meets this;
    /// for [`Expect::NoneUnder`], `found` is the first document under the key.
    pub fn holds(&self, found: Option<Version>) -> bool {
        match self {
            Expect::Absent | Expect::NoneUnder => found.is_none(),
            Expect::Version(v) => found == Some(*v),
        }
    }
}

/// How much of a batch survives what, once `commit` returned. Every batch survives the
/// committing process being killed at any instant, document by document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Also a power loss: flushed to disk before `commit` returns. For what nothing else can
    /// rebuild (a network's configuration, the intent of an endpoint that outlives a reboot).
    SurvivesPowerLoss,
    /// Not necessarily a power loss: for what can be rebuilt or done without after one (an
    /// index; an allocation cache the endpoints recompute; what describes kernel state, which
    /// a power loss takes too). After a power loss such a document may be its old version,
    /// or absent, or (embedded store) unreadable; readers must be ready for each.
    SurvivesProcessDeath,
}

/// One change of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
    },
    /// Removing a document that is not there is no error.
    Delete {
        key: String,
    },
}

impl Op {
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// Operations committed together, after their expectations are checked (all of them, before
/// any operation is applied; one that fails refuses the whole batch with
/// [`Error::Conflict`](crate::Error::Conflict)).
///
/// Operations are applied in their order. The etcd backend applies a batch as one transaction
/// (none or all; a batch of more than 128 operations, etcd's default limit, as several, the
/// first with the expectations); the embedded store document by document, so a process killed during a
/// commit, or a power loss during a [`Durability::SurvivesPowerLoss`] commit, leaves a prefix
/// of the operations applied. Either way a caller may order its steps inside one batch; one
/// that must not see a prefix makes each step a batch of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub(crate) ops: Vec<Op>,
    pub(crate) expects: Vec<(String, Expect)>,
    pub(crate) durability: Durability,
}

impl Batch {
    pub fn new(durability: Durability) -> Self {
        Batch {
            ops: Vec::new(),
            expects: Vec::new(),
            durability,
        }
    }

    /// Replace (or create) the document at `key`.
    pub fn put(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.push_put(key, value);
        self
    }

    /// Remove the document at `key`.
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.push_delete(key);
        self
    }

    /// Require `key` to be as `expect` says when the batch is committed.
    pub fn expect(mut self, key: impl Into<String>, expect: Expect) -> Self {
        self.expects.push((key.into(), expect));
        self
    }

    pub fn push_put(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.ops.push(Op::Put {
            key: key.into(),
            value: value.into(),
        });
    }

    pub fn push_delete(&mut self, key: impl Into<String>) {
        self.ops.push(Op::Delete { key: key.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    pub fn expects(&self) -> &[(String, Expect)] {
        &self.expects
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_bytes() {
        assert_eq!(Version::of(b"abc"), Version::of(b"abc"));
        assert_ne!(Version::of(b"abc"), Version::of(b"abd"));
        assert_ne!(Version::of(b""), Version::of(b"\0"));
        assert!(Expect::Absent.holds(None));
        assert!(!Expect::Absent.holds(Some(Version::of(b""))));
        let v = Version::of(b"x");
        assert!(Expect::Version(v).holds(Some(v)));
        assert!(!Expect::Version(v).holds(None));
        assert!(!Expect::Version(v).holds(Some(Version::of(b"y"))));
    }

    #[test]
    fn a_batch_keeps_its_order() {
        let b = Batch::new(Durability::SurvivesProcessDeath)
            .put("a", *b"1")
            .delete("b")
            .expect("c", Expect::Absent);
        let keys: Vec<&str> = b.ops().iter().map(Op::key).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(b.expects(), [("c".to_string(), Expect::Absent)]);
    }
}
