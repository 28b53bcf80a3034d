//! The embedded store: one JSON file per document in a directory, and a `state.lock` file
//! taken with flock (exclusive for a writer, shared for readers).
//!
//! A commit writes each new document to a temporary file in the same file system, flushes
//! them when the batch must survive a power loss, renames them over the documents in the
//! batch's order, flushing a directory's changes before the first change in another one. Small
//! documents of a batch that need not survive a power loss are overwritten in place instead
//! (`in_place`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::{
    check_batch, in_place, Batch, Doc, Durability, Error, Op, Result, Snapshot, Store, Txn, Version,
};

/// The embedded store (see the module documentation).
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    lock_timeout: std::time::Duration,
}

/// How long a command waits for the state lock before giving up, unless UNDERLAY_LOCK_TIMEOUT
/// (seconds) says otherwise.
pub const DEFAULT_LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// After how long a waiting command says what it waits for (on stderr).
const LOCK_NOTICE: std::time::Duration = std::time::Duration::from_secs(1);

impl DirStore {
    /// The state directory at `root`. Nothing is created until the first write (then the
    /// directory, mode 0700): reading a state directory that is absent or read-only works and
    /// leaves it as it is.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        match fs::metadata(&root) {
            Ok(m) if !m.is_dir() => {
                return Err(Error::Io {
                    path: root,
                    source: io::Error::other("exists and is not a directory"),
                })
            }
            _ => {}
        }
        let lock_timeout = std::env::var("UNDERLAY_LOCK_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_LOCK_TIMEOUT, std::time::Duration::from_secs);
        Ok(Self { root, lock_timeout })
    }

    /// Wait at most `timeout` for the state lock (default [`DEFAULT_LOCK_TIMEOUT`]).
    pub fn with_lock_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("state.lock")
    }

    /// The directory, made private when this call makes it.
    fn ensure_root(&self) -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let io_err = |source| Error::Io {
            path: self.root.clone(),
            source,
        };
        // One stat when it is there as it should be (every call of a CNI plugin opens it).
        let ready = fs::metadata(&self.root)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700);
        if !ready {
            fs::create_dir_all(&self.root).map_err(io_err)?;
            set_private(&self.root).map_err(io_err)?;
        }
        Ok(())
    }

    /// Take the lock on `file`, exclusive or shared: at once when it is free; else wait for
    /// it, saying after a moment what holds it, and give up after the lock timeout.
    fn acquire(&self, file: File, exclusive: bool) -> Result<File> {
        let io_err = |source| Error::Io {
            path: self.lock_path(),
            source,
        };
        let attempt = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match attempt {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(io_err(e)),
        }
        // Held: a blocking wait on a thread of its own, so that it can be given up. If it is,
        // the thread lets the lock go as soon as it gets it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("underlay-lock".into())
            .spawn(move || {
                let got = if exclusive {
                    file.lock()
                } else {
                    file.lock_shared()
                };
                let _ = tx.send(got.map(|()| file));
            })
            .map_err(io_err)?;
        let wait = |d| match rx.recv_timeout(d) {
            Ok(got) => Some(got.map_err(io_err)),
            Err(_) => None,
        };
        if let Some(got) = wait(LOCK_NOTICE.min(self.lock_timeout)) {
            return got;
        }
        let holder = lock_holder(&self.lock_path());
        if self.lock_timeout > LOCK_NOTICE {
            eprintln!(
                "underlay: waiting for the state lock {} held by {holder} (at most {} s)",
                self.lock_path().display(),
                self.lock_timeout.as_secs()
            );
            if let Some(got) = wait(self.lock_timeout - LOCK_NOTICE) {
                return got;
            }
        }
        Err(Error::Busy {
            path: self.root.clone(),
            holder: lock_holder(&self.lock_path()),
            secs: self.lock_timeout.as_secs(),
        })
    }
}

/// Who holds the lock on `path`, from /proc/locks: "process PID (NAME)", or "another process".
fn lock_holder(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = fs::metadata(path).map(|m| m.ino()) else {
        return "another process".to_string();
    };
    let text = fs::read_to_string("/proc/locks").unwrap_or_default();
    let pid = text.lines().find_map(|l| {
        // "1: FLOCK  ADVISORY  WRITE 1234 00:2e:123456 0 EOF" (a waiter's line has "->")
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.get(1) != Some(&"FLOCK") || f.contains(&"->") {
            return None;
        }
        let file_ino = f.get(5)?.rsplit(':').next()?.parse::<u64>().ok()?;
        (file_ino == ino).then(|| f.get(4)?.parse::<u32>().ok())?
    });
    match pid {
        Some(pid) if pid != std::process::id() => {
            let name = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            format!("process {pid} ({})", name.trim())
        }
        _ => "another process".to_string(),
    }
}

fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
}

impl Store for DirStore {
    fn begin(&self) -> Result<Box<dyn Txn + '_>> {
        self.ensure_root()?;
        let path = self.lock_path();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| Error::Io { path, source })?;
        Ok(Box::new(DirView {
            root: &self.root,
            _lock: Some(self.acquire(file, true)?),
        }))
    }

    /// A shared lock, taken on the lock file opened for reading: nothing is created. A state
    /// directory without a lock file has never been written (or is being written for the very
    /// first time): it is read as it is.
    fn snapshot(&self) -> Result<Box<dyn Snapshot + '_>> {
        let path = self.lock_path();
        let lock = match File::open(&path) {
            Ok(file) => Some(self.acquire(file, false)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Box::new(DirView {
            root: &self.root,
            _lock: lock,
        }))
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

/// A view under the lock: shared for a snapshot, exclusive for a writer (only a writer's
/// view is handed out as a `Txn`).
struct DirView<'a> {
    root: &'a Path,
    /// Holds the flock; dropping the file releases it (so does the process dying).
    _lock: Option<File>,
}

const TEMP_MARK: &str = ".tmp-";
/// Where documents are written before being renamed into place (same filesystem).
const TEMP_DIR: &str = ".tmp";

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl DirView<'_> {
    fn path(&self, key: &str) -> Result<PathBuf> {
        crate::check_key(key)?;
        Ok(self.file_of(key))
    }

    /// The file of a key already checked.
    fn file_of(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.json"))
    }

    fn read_doc(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(v) => Ok(Some(in_place::unpad(v))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// Temporary files left by a writer that was killed mid-write are garbage: the rename that
    /// would have published them never happened (and later commits of the same process id
    /// reuse their names). They all live in one directory, so this costs one directory read
    /// however many documents there are. Only a writer may do it.
    fn remove_stale_temps(&self) -> Result<()> {
        let dir = self.root.join(TEMP_DIR);
        let Some(entries) = entries(&dir)? else {
            return Ok(());
        };
        for entry in entries {
            let path = entry.map_err(io_err(&dir))?.path();
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
        Ok(())
    }

    fn collect_keys(&self, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        let dir = self.root.join(prefix);
        let Some(entries) = entries(&dir)? else {
            return Ok(());
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_MARK) {
                continue;
            }
            if entry.file_type().map_err(io_err(&entry.path()))?.is_dir() {
                if crate::check_key(&name).is_ok() {
                    self.collect_keys(&format!("{prefix}/{name}"), out)?;
                }
            } else if let Some(stem) = name.strip_suffix(".json") {
                if crate::check_key(stem).is_ok() {
                    out.push(format!("{prefix}/{stem}"));
                }
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Snapshot for DirView<'_> {
    fn doc(&self, key: &str) -> Result<Option<Doc>> {
        Ok(self.read_doc(key)?.map(|value| Doc {
            version: Version::of(&value),
            value,
        }))
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.read_doc(key)
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        crate::check_key(prefix)?;
        let dir = self.root.join(prefix);
        let Some(entries) = entries(&dir)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if name.starts_with(TEMP_MARK) || crate::check_key(stem).is_err() {
                continue;
            }
            // No writer can exist beside this view (the lock), so a vanished file is a bug
            // elsewhere; report it as an error rather than hide it.
            let value = fs::read(entry.path()).map_err(io_err(&entry.path()))?;
            out.push((format!("{prefix}/{stem}"), in_place::unpad(value)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        crate::check_key(prefix)?;
        let mut out = Vec::new();
        self.collect_keys(prefix, &mut out)?;
        out.sort();
        Ok(out)
    }
}

impl Txn for DirView<'_> {
    fn commit(&mut self, batch: Batch) -> Result<()> {
        check_batch(&batch, &*self)?;
        let durable = batch.durability() == Durability::SurvivesPowerLoss;
        let mut staged = Staged::new(self.root);
        let r = self.apply(&batch, durable, &mut staged);
        if r.is_err() {
            staged.discard();
        }
        r
    }

    fn tidy(&mut self) -> Result<()> {
        self.remove_stale_temps()
    }
}

/// A commit's temporary files, one per document it replaces by renaming.
struct Staged<'a> {
    root: &'a Path,
    temps: Vec<PathBuf>,
}

impl<'a> Staged<'a> {
    fn new(root: &'a Path) -> Self {
        Staged {
            root,
            temps: Vec::new(),
        }
    }

    /// `value` in a new temporary file (flushed when `durable`), made beside the documents.
    fn write(&mut self, value: &[u8], durable: bool) -> Result<PathBuf> {
        let dir = self.root.join(TEMP_DIR);
        // One writer at a time (the lock): the process id and the file's place in the batch
        // name it, and stay short whatever the key's length (a file name has at most 255 bytes).
        let tmp = dir.join(format!(
            "{TEMP_MARK}{}-{}",
            std::process::id(),
            self.temps.len()
        ));
        let create = || -> io::Result<()> {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&tmp)?;
            f.write_all(value)?;
            if durable {
                f.sync_all()?;
            }
            Ok(())
        };
        self.temps.push(tmp.clone());
        made_in(&dir, create).map_err(io_err(&tmp))?;
        Ok(tmp)
    }

    /// Remove what was not renamed into place (after a failed commit).
    fn discard(self) {
        for tmp in self.temps {
            let _ = fs::remove_file(tmp);
        }
    }
}

impl DirView<'_> {
    /// Apply the batch's operations in order. A durable batch first writes and flushes every
    /// new document's temporary file, then renames them into place, flushing a directory's
    /// changes before the first change in another one (and at the end), so that a power loss
    /// too leaves a prefix of the batch; any other batch overwrites small documents in place
    /// (`in_place`) and renames the rest without flushing.
    fn apply(&self, batch: &Batch, durable: bool, staged: &mut Staged) -> Result<()> {
        let fail = |(path, e): (PathBuf, io::Error)| io_err(&path)(e);
        if !durable {
            for op in batch.ops() {
                let path = self.file_of(op.key());
                match op {
                    Op::Put { value, .. } => {
                        if !in_place::overwrite(&path, value).map_err(io_err(&path))? {
                            Step::Rename(staged.write(value, false)?, path)
                                .run()
                                .map_err(fail)?;
                        }
                    }
                    Op::Delete { .. } => {
                        Step::Remove(path).run().map_err(fail)?;
                    }
                }
            }
            return Ok(());
        }
        let mut steps = Vec::with_capacity(batch.ops().len());
        for op in batch.ops() {
            let path = self.file_of(op.key());
            steps.push(match op {
                Op::Put { value, .. } => Step::Rename(staged.write(value, true)?, path),
                Op::Delete { .. } => Step::Remove(path),
            });
        }
        let mut unflushed: Option<PathBuf> = None;
        for step in steps {
            let dir = step.dir();
            if let Some(prev) = unflushed.take_if(|prev| *prev != dir) {
                sync_dir(&prev).map_err(io_err(&prev))?;
            }
            if step.run().map_err(fail)? {
                unflushed = Some(dir);
            }
        }
        if let Some(dir) = unflushed {
            sync_dir(&dir).map_err(io_err(&dir))?;
        }
        Ok(())
    }
}

/// One operation of a commit, ready to apply: a staged file to rename over a document, or a
/// document to remove.
enum Step {
    Rename(PathBuf, PathBuf),
    Remove(PathBuf),
}

impl Step {
    /// The directory whose entries it changes.
    fn dir(&self) -> PathBuf {
        let (Step::Rename(_, path) | Step::Remove(path)) = self;
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// Apply it: whether it changed its directory's entries.
    fn run(self) -> std::result::Result<bool, (PathBuf, io::Error)> {
        match self {
            Step::Rename(tmp, path) => {
                let dir = path.parent().unwrap_or(Path::new(""));
                made_in(dir, || fs::rename(&tmp, &path)).map_err(|e| (path, e))?;
                Ok(true)
            }
            Step::Remove(path) => match fs::remove_file(&path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err((path, e)),
            },
        }
    }
}

/// `step`, tried again once `dir` is made when it finds `dir` missing: directories are made
/// the first time a commit needs them.
fn made_in(dir: &Path, step: impl Fn() -> io::Result<()>) -> io::Result<()> {
    match step() {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            step()
        }
        r => r,
    }
}

/// The entries of `dir`; None when it does not exist (nothing was ever written there).
fn entries(dir: &Path) -> Result<Option<fs::ReadDir>> {
    match fs::read_dir(dir) {
        Ok(e) => Ok(Some(e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(dir)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Expect;

    const FLUSHED: Durability = Durability::SurvivesPowerLoss;
    const UNFLUSHED: Durability = Durability::SurvivesProcessDeath;

    fn put(t: &mut dyn Txn, key: &str, value: &[u8], d: Durability) {
        t.commit(Batch::new(d).put(key, value)).unwrap();
    }

    fn delete(t: &mut dyn Txn, key: &str, d: Durability) {
        t.commit(Batch::new(d).delete(key)).unwrap();
    }

    #[test]
    fn commit_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path().join("state")).unwrap();
        {
            let mut t = store.begin().unwrap();
            t.commit(
                Batch::new(FLUSHED)
                    .put("networks/b", *b"2")
                    .put("networks/a", *b"1"),
            )
            .unwrap();
            assert_eq!(t.get("networks/a").unwrap().as_deref(), Some(&b"1"[..]));
            assert_eq!(t.get("networks/zz").unwrap(), None);
        }
        let t = store.snapshot().unwrap();
        let all = t.list("networks").unwrap();
        assert_eq!(
            all,
            vec![
                ("networks/a".to_string(), b"1".to_vec()),
                ("networks/b".to_string(), b"2".to_vec())
            ]
        );
        drop(t);
        let mut t = store.begin().unwrap();
        delete(&mut *t, "networks/a", FLUSHED);
        delete(&mut *t, "networks/a", FLUSHED); // idempotent
        assert_eq!(t.list("networks").unwrap().len(), 1);
        assert_eq!(t.keys("networks").unwrap(), vec!["networks/b".to_string()]);
        assert!(t.keys("nothing").unwrap().is_empty());
        t.commit(
            Batch::new(UNFLUSHED)
                .put("parents/aa/x", *b"")
                .put("parents/bb/y", *b""),
        )
        .unwrap();
        assert_eq!(
            t.keys("parents").unwrap(),
            vec!["parents/aa/x", "parents/bb/y"]
        );
        assert_eq!(t.keys("parents/bb").unwrap(), vec!["parents/bb/y"]);
    }

    /// Expectations are checked before anything is applied: one that fails refuses the whole
    /// batch, naming the document; versions follow the content.
    #[test]
    fn a_batch_whose_expectation_fails_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut t = store.begin().unwrap();
        put(&mut *t, "names/a", b"1", FLUSHED);
        let v1 = t.doc("names/a").unwrap().unwrap().version;
        let err = t
            .commit(
                Batch::new(FLUSHED)
                    .put("names/b", *b"2")
                    .delete("names/a")
                    .expect("names/a", Expect::Absent),
            )
            .unwrap_err();
        assert!(
            matches!(&err, Error::Conflict { key, found: Some(v), .. } if key == "names/a" && *v == v1),
            "{err}"
        );
        assert!(
            err.to_string().starts_with(
                "state document names/a changed since it was read (expected absent, found version "
            ),
            "{err}"
        );
        assert_eq!(t.keys("names").unwrap(), ["names/a"]);
        // The version it was read with: applied.
        t.commit(
            Batch::new(UNFLUSHED)
                .put("names/a", *b"22")
                .expect("names/a", Expect::Version(v1))
                .expect("names/c", Expect::Absent),
        )
        .unwrap();
        let v2 = t.doc("names/a").unwrap().unwrap().version;
        assert_ne!(v1, v2);
        // A stale version: refused.
        let err = t
            .commit(
                Batch::new(UNFLUSHED)
                    .delete("names/a")
                    .expect("names/a", Expect::Version(v1)),
            )
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert_eq!(t.get("names/a").unwrap().unwrap(), b"22");
        // Bad keys anywhere in a batch refuse it whole.
        assert!(matches!(
            t.commit(Batch::new(FLUSHED).put("names/d", *b"").put("Bad", *b"")),
            Err(Error::BadKey(_))
        ));
        assert_eq!(t.get("names/d").unwrap(), None);
    }

    #[test]
    fn unflushed_commits_replace_small_documents_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let file = dir.path().join("endpoints/n/a.json");
        let mut t = store.begin().unwrap();
        put(
            &mut *t,
            "endpoints/n/a",
            br#"{"state":"attaching","id":"1"}"#,
            UNFLUSHED,
        );
        let inode = fs::metadata(&file).unwrap().ino();
        // Shorter: padded with blanks to the old length, read back exactly.
        put(&mut *t, "endpoints/n/a", br#"{"id":"1"}"#, UNFLUSHED);
        assert_eq!(
            fs::metadata(&file).unwrap().ino(),
            inode,
            "written in place"
        );
        assert_eq!(fs::metadata(&file).unwrap().len(), 30);
        assert_eq!(t.get("endpoints/n/a").unwrap().unwrap(), br#"{"id":"1"}"#);
        assert_eq!(
            t.doc("endpoints/n/a").unwrap().unwrap().version,
            Version::of(br#"{"id":"1"}"#),
            "the version is the document's, not the padding's"
        );
        let on_disk = fs::read(&file).unwrap();
        assert_eq!(&on_disk[..10], br#"{"id":"1"}"#);
        assert!(
            on_disk[10..].iter().all(|&b| b == b' '),
            "blanks, which JSON skips"
        );
        // Longer: grows in place.
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(100));
        put(&mut *t, "endpoints/n/a", long.as_bytes(), UNFLUSHED);
        assert_eq!(fs::metadata(&file).unwrap().ino(), inode);
        assert_eq!(t.list("endpoints/n").unwrap()[0].1, long.as_bytes());
        // Beyond a page: replaced by renaming, which also drops the padding.
        let huge = format!(r#"{{"id":"{}"}}"#, "y".repeat(5000));
        put(&mut *t, "endpoints/n/a", huge.as_bytes(), UNFLUSHED);
        assert_ne!(fs::metadata(&file).unwrap().ino(), inode);
        put(&mut *t, "endpoints/n/a", b"{}", UNFLUSHED);
        assert_eq!(t.get("endpoints/n/a").unwrap().unwrap(), b"{}");
        assert_eq!(fs::metadata(&file).unwrap().len(), 2);
        // A flushed commit always renames.
        let inode = fs::metadata(&file).unwrap().ino();
        put(&mut *t, "endpoints/n/a", b"[1]", FLUSHED);
        assert_ne!(fs::metadata(&file).unwrap().ino(), inode);
        delete(&mut *t, "endpoints/n/a", UNFLUSHED);
        delete(&mut *t, "endpoints/n/a", UNFLUSHED); // idempotent
        assert_eq!(t.get("endpoints/n/a").unwrap(), None);
        assert!(t.keys("endpoints").unwrap().is_empty());
    }

    /// A durable batch of several documents leaves no temporary file behind, and one that
    /// fails half-way (a document's directory cannot be made) removes its staged files.
    #[test]
    fn a_durable_batch_stages_every_document_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut t = store.begin().unwrap();
        t.commit(
            Batch::new(FLUSHED)
                .put("networks/a", *b"1")
                .put("network-copies/a", *b"1")
                .put("allocs/a", *b"[]"),
        )
        .unwrap();
        assert_eq!(t.keys("networks").unwrap(), ["networks/a"]);
        assert_eq!(fs::read_dir(dir.path().join(TEMP_DIR)).unwrap().count(), 0);
        // "names" is a file where the batch needs a directory.
        fs::write(dir.path().join("names"), b"").unwrap();
        assert!(t
            .commit(
                Batch::new(FLUSHED)
                    .put("networks/b", *b"2")
                    .put("names/x", *b"b")
            )
            .is_err());
        assert_eq!(fs::read_dir(dir.path().join(TEMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut t = store.begin().unwrap();
        for key in ["", "../x", "a//b", "A", "a/.tmp", "/abs"] {
            let r = t.commit(Batch::new(UNFLUSHED).put(key, *b""));
            assert!(matches!(r, Err(Error::BadKey(_))), "{key}");
            assert!(matches!(t.get(key), Err(Error::BadKey(_))), "{key}");
        }
    }

    #[test]
    fn stale_temp_files_are_removed_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        put(&mut *store.begin().unwrap(), "networks/a", b"old", FLUSHED);
        // A writer killed between write and rename leaves its temp file behind.
        fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        fs::write(dir.path().join(".tmp/.tmp-networks~a"), b"torn").unwrap();
        {
            let t = store.snapshot().unwrap();
            assert_eq!(t.list("networks").unwrap().len(), 1);
            assert_eq!(t.get("networks/a").unwrap().unwrap(), b"old");
        }
        // A commit leaves it (nothing reads it); tidying removes it.
        let mut t = store.begin().unwrap();
        put(&mut *t, "networks/b", b"1", UNFLUSHED);
        assert!(dir.path().join(".tmp/.tmp-networks~a").exists());
        t.tidy().unwrap();
        assert!(!dir.path().join(".tmp/.tmp-networks~a").exists());
        assert_eq!(
            t.keys("networks").unwrap(),
            vec!["networks/a", "networks/b"]
        );
    }

    /// Eight threads each read a counter and commit it plus one, expecting the version read:
    /// the lock serialises them, so no expectation ever fails and no increment is lost.
    #[test]
    fn writers_in_threads_are_serialised() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(DirStore::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let mut t = store.begin().unwrap();
                        let doc = t.doc("counter").unwrap();
                        let n: u64 = doc
                            .as_ref()
                            .map(|d| String::from_utf8(d.value.clone()).unwrap().parse().unwrap())
                            .unwrap_or(0);
                        let expect = doc.map_or(Expect::Absent, |d| Expect::Version(d.version));
                        t.commit(
                            Batch::new(FLUSHED)
                                .put("counter", (n + 1).to_string())
                                .expect("counter", expect),
                        )
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = store.snapshot().unwrap();
        assert_eq!(t.get("counter").unwrap().unwrap(), b"200");
    }

    #[test]
    fn state_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        let store = DirStore::open(&root).unwrap();
        // Reading creates nothing.
        assert!(store
            .snapshot()
            .unwrap()
            .keys("networks")
            .unwrap()
            .is_empty());
        assert!(!root.exists());
        drop(store.begin().unwrap());
        let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    /// A held lock: the wait says what holds it and ends with an error naming it.
    #[test]
    fn a_held_lock_is_waited_for_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let held = store.begin().unwrap();
        let other = DirStore::open(dir.path())
            .unwrap()
            .with_lock_timeout(std::time::Duration::from_millis(300));
        let err = other.begin().err().expect("refused while held");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert!(
            err.to_string().contains("did not let go within 0 s"),
            "{err}"
        );
        // Readers wait for a writer too; once it lets go, both go ahead.
        assert!(other.snapshot().is_err());
        drop(held);
        drop(other.begin().unwrap());
        drop(other.snapshot().unwrap());
    }
}
