//! A store whose writes stay in memory: for a dry run (`underlay network restore --check`).
//! Views read the underlying store under its shared lock, and see their own writes; nothing
//! reaches the underlying store, and what a view wrote is gone with it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{Result, Store, Txn};

pub struct Overlay {
    base: Arc<dyn Store>,
}

impl Overlay {
    pub fn new(base: Arc<dyn Store>) -> Self {
        Overlay { base }
    }
}

struct OverlayTxn<'a> {
    base: Box<dyn Txn + 'a>,
    /// Documents written (`Some`) or deleted (`None`) by this view.
    changes: BTreeMap<String, Option<Vec<u8>>>,
}

impl Store for Overlay {
    fn write(&self) -> Result<Box<dyn Txn + '_>> {
        Ok(Box::new(OverlayTxn {
            base: self.base.read()?,
            changes: BTreeMap::new(),
        }))
    }
    fn read(&self) -> Result<Box<dyn Txn + '_>> {
        self.write()
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

impl Txn for OverlayTxn<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.changes.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
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
    fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        crate::check_key(key)?;
        self.changes.insert(key.to_string(), Some(value.to_vec()));
        Ok(())
    }
    fn put_unsynced(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.put(key, value)
    }
    fn delete(&mut self, key: &str) -> Result<()> {
        crate::check_key(key)?;
        self.changes.insert(key.to_string(), None);
        Ok(())
    }
    fn delete_unsynced(&mut self, key: &str) -> Result<()> {
        self.delete(key)
    }
    fn tidy(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DirStore;

    #[test]
    fn a_view_sees_its_writes_and_the_store_never_does() {
        let dir = tempfile::tempdir().unwrap();
        let base: Arc<dyn Store> = Arc::new(DirStore::open(dir.path()).unwrap());
        {
            let mut t = base.write().unwrap();
            t.put("networks/a", b"1").unwrap();
            t.put("networks/b", b"2").unwrap();
            t.put("networks/b/eps/x", b"3").unwrap();
        }
        let overlay = Overlay::new(base.clone());
        let mut v = overlay.write().unwrap();
        v.put("networks/c", b"4").unwrap();
        v.delete("networks/a").unwrap();
        v.put("networks/b/eps/y", b"5").unwrap();
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
        assert!(v.put("Bad Key", b"").is_err());
        drop(v);
        // A shared lock only: a writer is not kept out by a dry run that ended.
        let t = base.write().unwrap();
        assert_eq!(t.get("networks/a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(t.get("networks/c").unwrap(), None);
        assert_eq!(t.keys("networks").unwrap().len(), 3);
    }
}
