//! A store whose commits stay in memory: for a dry run (`underlay network restore --check`).
//! Views read a snapshot of the underlying store (its shared lock) and see their own commits;
//! nothing reaches the underlying store, and what a view committed is gone with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{check_batch, Batch, Doc, Op, Result, Snapshot, Store, Txn, Version};

pub struct Overlay {
    base: Arc<dyn Store>,
}

impl Overlay {
    pub fn new(base: Arc<dyn Store>) -> Self {
        Overlay { base }
    }
}

struct OverlayTxn<'a> {
    base: Box<dyn Snapshot + 'a>,
    /// Documents written (`Some`) or deleted (`None`) by this view.
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl Store for Overlay {
    fn begin(&self) -> Result<Box<dyn Txn + '_>> {
        Ok(Box::new(OverlayTxn {
            base: self.base.snapshot()?,
            changes: BTreeMap::new(),
        }))
    }
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>> {
        Ok(self.begin()?)
    }
    fn location(&self) -> String {
        self.base.location()
    }
}

impl OverlayTxn<'_> {
    /// This view's changes to keys under `prefix/`, `direct` ones only (one level) or all.
    fn changed_under(
        &self,
        prefix: &str,
        direct: bool,
    ) -> impl Iterator<Item = (&String, &Option<Vec<u8>>)> {
        let start = format!("{prefix}/");
        self.changes.iter().filter(move |(k, _)| {
            k.strip_prefix(&start)
                .is_some_and(|rest| !direct || !rest.contains('/'))
        })
    }
}

impl Snapshot for OverlayTxn<'_> {
    fn doc(&self, key: &str) -> Result<Option<Doc>> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone().map(|value| Doc {
                version: Version::of(&value),
                value,
            })),
            None => self.base.doc(key),
        }
    }
    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut docs: BTreeMap<String, Vec<u8>> = self.base.list(prefix)?.into_iter().collect();
        for (k, v) in self.changed_under(prefix, true) {
            match v {
                Some(v) => docs.insert(k.clone(), v.clone()),
                None => docs.remove(k),
            };
        }
        Ok(docs.into_iter().collect())
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: std::collections::BTreeSet<String> =
            self.base.keys(prefix)?.into_iter().collect();
        for (k, v) in self.changed_under(prefix, false) {
            match v {
                Some(_) => keys.insert(k.clone()),
                None => keys.remove(k),
            };
        }
        Ok(keys.into_iter().collect())
    }
}

impl Txn for OverlayTxn<'_> {
    fn commit(&mut self, batch: Batch) -> Result<()> {
        check_batch(&batch, &*self)?;
        for op in batch.ops {
            match op {
                Op::Put { key, value } => self.changes.insert(key, Some(value)),
                Op::Delete { key } => self.changes.insert(key, None),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DirStore, Durability, Expect};

    #[test]
    fn a_view_sees_its_writes_and_the_store_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let base: Arc<dyn Store> = Arc::new(DirStore::open(dir.path()).unwrap());
        base.begin()
            .unwrap()
            .commit(
                Batch::new(Durability::SurvivesPowerLoss)
                    .put("networks/a", *b"1")
                    .put("networks/b", *b"2")
                    .put("networks/b/eps/x", *b"3"),
            )
            .unwrap();
        let overlay = Overlay::new(base.clone());
        let mut v = overlay.begin().unwrap();
        let b = v.doc("networks/b").unwrap().unwrap().version;
        v.commit(
            Batch::new(Durability::SurvivesPowerLoss)
                .put("networks/c", *b"4")
                .delete("networks/a")
                .put("networks/b/eps/y", *b"5")
                .expect("networks/b", Expect::Version(b)),
        )
        .unwrap();
        // Its expectations are checked against what it sees, its own commits included.
        let stale = Batch::new(Durability::SurvivesPowerLoss)
            .put("networks/d", *b"6")
            .expect("networks/c", Expect::Absent);
        assert!(matches!(
            v.commit(stale),
            Err(crate::Error::Conflict { .. })
        ));
        assert_eq!(v.get("networks/d").unwrap(), None);
        assert_eq!(v.get("networks/a").unwrap(), None);
        assert_eq!(v.get("networks/c").unwrap().as_deref(), Some(&b"4"[..]));
        let listed: Vec<String> = v
            .list("networks")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(listed, ["networks/b", "networks/c"]);
        assert_eq!(
            v.keys("networks").unwrap(),
            [
                "networks/b",
                "networks/b/eps/x",
                "networks/b/eps/y",
                "networks/c"
            ]
        );
        let bad = Batch::new(Durability::SurvivesProcessDeath).put("Bad Key", *b"");
        assert!(v.commit(bad).is_err());
        drop(v);
        // A shared lock only: a writer is not kept out by a dry run that ended.
        let t = base.begin().unwrap();
        assert_eq!(t.get("networks/a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(t.get("networks/c").unwrap(), None);
        assert_eq!(t.keys("networks").unwrap().len(), 3);
    }
}
