//! underlay's document store.
//!
//! State is a set of small documents addressed by keys such as `networks/<id>`. A writer takes
//! the store's exclusive lock, reads what it needs, and replaces whole documents; every
//! replacement is atomic on its own, so a process killed at any instant leaves each document
//! either before or after its last write. The engine keeps every operation's intent and result
//! in one document, which makes each step of an operation atomic too.
//!
//! The trait is shaped so an etcd backend fits later: a lock (etcd lock with a lease) and
//! whole-document puts (which etcd would guard with compare-and-swap on revisions).

mod overlay;
pub use overlay::Overlay;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

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
    #[error("invalid store key {0:?}: keys are lowercase letters, digits, '-', '_' and '/' separated names")]
    BadKey(String),
    #[error("this store handle is read-only (taken with a shared lock)")]
    ReadOnly,
    #[error("state directory {path} is locked by {holder}, which did not let go within {secs} s; set UNDERLAY_LOCK_TIMEOUT (seconds) to wait longer")]
    Busy {
        path: PathBuf,
        holder: String,
        secs: u64,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A view of the store under its lock. Reads see the latest committed documents; each `put`
/// or `delete` is durable and atomic when it returns. Values read back come without trailing
/// blanks (b' '), which the store may pad documents with: JSON and ids never end with one.
pub trait Txn {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Every document whose key starts with `prefix/` (one directory level), sorted by key.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// Every key under `prefix/` at any depth (an etcd prefix query), sorted, without reading
    /// the documents.
    fn keys(&self, prefix: &str) -> Result<Vec<String>>;
    fn put(&mut self, key: &str, value: &[u8]) -> Result<()>;
    /// Like `put`, atomic against a process dying at any instant, but not flushed to disk: for
    /// data that can be rebuilt or done without after a power loss (an index; what describes
    /// kernel state, which a power loss takes too). Much cheaper. After a power loss such a
    /// document may be its old version, or (where the store overwrites in place) unreadable.
    fn put_unsynced(&mut self, key: &str, value: &[u8]) -> Result<()>;
    fn delete(&mut self, key: &str) -> Result<()>;
    /// Like `delete`, not flushed: after a power loss the document may be back.
    fn delete_unsynced(&mut self, key: &str) -> Result<()>;
    /// Remove what writers killed mid-write left behind (the embedded store's temporary
    /// files, which no read ever sees). `restore` calls it.
    fn tidy(&mut self) -> Result<()>;
}

/// A store: hands out exclusive (read-write) or shared (read-only) views.
pub trait Store: Send + Sync {
    fn write(&self) -> Result<Box<dyn Txn + '_>>;
    fn read(&self) -> Result<Box<dyn Txn + '_>>;
    /// Where the state lives, for messages.
    fn location(&self) -> String;
}

/// The embedded store: one JSON file per document in a directory, a `state.lock` file taken
/// with flock (exclusive for writers, shared for readers). Writes go to a temporary file in the
/// same directory, are fsynced, renamed over the document, and the directory is fsynced;
/// unflushed writes of small documents overwrite them in place.
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
    fn write(&self) -> Result<Box<dyn Txn + '_>> {
        self.ensure_root()?;
        let path = self.lock_path();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| Error::Io { path, source })?;
        Ok(Box::new(DirTxn {
            root: &self.root,
            _lock: Some(self.acquire(file, true)?),
            writable: true,
        }))
    }

    /// A shared lock, taken on the lock file opened for reading: nothing is created. A state
    /// directory without a lock file has never been written (or is being written for the very
    /// first time): it is read as it is.
    fn read(&self) -> Result<Box<dyn Txn + '_>> {
        let path = self.lock_path();
        let lock = match File::open(&path) {
            Ok(file) => Some(self.acquire(file, false)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Box::new(DirTxn {
            root: &self.root,
            _lock: lock,
            writable: false,
        }))
    }

    fn location(&self) -> String {
        self.root.display().to_string()
    }
}

struct DirTxn<'a> {
    root: &'a Path,
    /// Holds the flock; dropping the file releases it (so does the process dying).
    _lock: Option<File>,
    writable: bool,
}

const TEMP_MARK: &str = ".tmp-";
/// Where documents are written before being renamed into place (same filesystem).
const TEMP_DIR: &str = ".tmp";

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::BadKey(key.to_string()))
    }
}

impl DirTxn<'_> {
    fn path(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(self.root.join(format!("{key}.json")))
    }

    fn io<T>(&self, path: &Path, r: io::Result<T>) -> Result<T> {
        r.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Temporary files left by a writer that was killed mid-write are garbage: the rename that
    /// would have published them never happened (and the next write of the same document
    /// reuses its name). They all live in one directory, so this costs one directory read
    /// however many documents there are. Only a lock holder may do it.
    fn remove_stale_temps(&self) -> Result<()> {
        let dir = self.root.join(TEMP_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return self.io(&dir, Err(e)),
        };
        for entry in entries {
            let path = self.io(&dir, entry)?.path();
            let r = fs::remove_file(&path);
            self.io(&path, r)?;
        }
        Ok(())
    }
}

impl DirTxn<'_> {
    fn collect_keys(&self, prefix: &str, out: &mut Vec<String>) -> Result<()> {
        let dir = self.root.join(prefix);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return self.io(&dir, Err(e)),
        };
        for entry in entries {
            let entry = self.io(&dir, entry)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_MARK) {
                continue;
            }
            if self.io(&entry.path(), entry.file_type())?.is_dir() {
                if check_key(&name).is_ok() {
                    self.collect_keys(&format!("{prefix}/{name}"), out)?;
                }
            } else if let Some(stem) = name.strip_suffix(".json") {
                if check_key(stem).is_ok() {
                    out.push(format!("{prefix}/{stem}"));
                }
            }
        }
        Ok(())
    }
}

/// A document without the blanks an in-place overwrite padded it with.
fn unpad(mut v: Vec<u8>) -> Vec<u8> {
    let len = v.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    v.truncate(len);
    v
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Txn for DirTxn<'_> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(v) => Ok(Some(unpad(v))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => self.io(&path, Err(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        check_key(prefix)?;
        let dir = self.root.join(prefix);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return self.io(&dir, Err(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = self.io(&dir, entry)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            if name.starts_with(TEMP_MARK) || check_key(stem).is_err() {
                continue;
            }
            let key = format!("{prefix}/{stem}");
            // A concurrent writer cannot exist (we hold the lock), so a vanished file is a bug
            // elsewhere; report it as an error rather than hide it.
            let value = self.io(&entry.path(), fs::read(entry.path()))?;
            out.push((key, unpad(value)));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    fn keys(&self, prefix: &str) -> Result<Vec<String>> {
        check_key(prefix)?;
        let mut out = Vec::new();
        self.collect_keys(prefix, &mut out)?;
        out.sort();
        Ok(out)
    }

    fn put(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.write_doc(key, value, true)
    }

    fn put_unsynced(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.write_doc(key, value, false)
    }

    fn delete(&mut self, key: &str) -> Result<()> {
        self.remove_doc(key, true)
    }

    fn delete_unsynced(&mut self, key: &str) -> Result<()> {
        self.remove_doc(key, false)
    }

    fn tidy(&mut self) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        self.remove_stale_temps()
    }
}

/// An unflushed document up to this size replaces one of up to this size in place: one write
/// of at most a page at offset 0, which a process dying cannot tear.
const IN_PLACE_MAX: usize = 4096;

/// Overwrite the existing document at `path` with `value` in one write, padded with blanks
/// (which JSON ignores) to its old length so that no byte of the old one survives and the
/// file never has to be cut (a second step a process could die before). Ok(false) when it is
/// not there or either version is too large; then the caller replaces it by renaming.
///
/// Replacing by rename costs this machine's ext4 a writeback of the new file and a discard of
/// the old one's block (about 0.2 ms); this costs a few microseconds. A power loss can tear
/// such a write; unflushed documents are only ones that `restore` can do without.
fn overwrite_in_place(path: &Path, value: &[u8]) -> io::Result<bool> {
    use std::os::unix::fs::FileExt;
    if value.len() > IN_PLACE_MAX {
        return Ok(false);
    }
    let f = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let old = f.metadata()?.len() as usize;
    if old > IN_PLACE_MAX {
        return Ok(false);
    }
    let mut page = Vec::with_capacity(old.max(value.len()));
    page.extend_from_slice(value);
    page.resize(old.max(value.len()), b' ');
    let n = f.write_at(&page, 0)?;
    if n != page.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write ({n} of {} bytes)", page.len()),
        ));
    }
    Ok(true)
}

impl DirTxn<'_> {
    fn remove_doc(&mut self, key: &str, durable: bool) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let path = self.path(key)?;
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return self.io(&path, Err(e)),
        }
        if !durable {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(self.root).to_path_buf();
        let r = sync_dir(&dir);
        self.io(&dir, r)
    }

    /// Temporary file, (fsync), rename over the document, (fsync of the directory); a small
    /// unflushed document that exists is overwritten in place instead.
    fn write_doc(&mut self, key: &str, value: &[u8], durable: bool) -> Result<()> {
        if !self.writable {
            return Err(Error::ReadOnly);
        }
        let path = self.path(key)?;
        if !durable {
            let r = overwrite_in_place(&path, value);
            if self.io(&path, r)? {
                return Ok(());
            }
        }
        let dir = path.parent().unwrap_or(self.root).to_path_buf();
        let tmp_dir = self.root.join(TEMP_DIR);
        // One writer at a time (the lock), and one document at a time: one name does, and it
        // stays short whatever the key's length (a file name has at most 255 bytes).
        let tmp = tmp_dir.join(format!("{TEMP_MARK}{}", std::process::id()));
        // Directories are made the first time a write finds them missing.
        let again_in = |dir: &Path, r: io::Result<()>, step: &dyn Fn() -> io::Result<()>| match r {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(dir)?;
                step()
            }
            r => r,
        };
        let write = || -> io::Result<()> {
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
            again_in(&tmp_dir, create(), &create)?;
            let publish = || fs::rename(&tmp, &path);
            again_in(&dir, publish(), &publish)?;
            if durable {
                sync_dir(&dir)?;
            }
            Ok(())
        };
        let r = write();
        if r.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        self.io(&path, r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path().join("state")).unwrap();
        {
            let mut t = store.write().unwrap();
            t.put("networks/b", b"2").unwrap();
            t.put("networks/a", b"1").unwrap();
            assert_eq!(t.get("networks/a").unwrap().as_deref(), Some(&b"1"[..]));
            assert_eq!(t.get("networks/zz").unwrap(), None);
        }
        let t = store.read().unwrap();
        let all = t.list("networks").unwrap();
        assert_eq!(
            all,
            vec![
                ("networks/a".to_string(), b"1".to_vec()),
                ("networks/b".to_string(), b"2".to_vec())
            ]
        );
        drop(t);
        let mut t = store.write().unwrap();
        t.delete("networks/a").unwrap();
        t.delete("networks/a").unwrap(); // idempotent
        assert_eq!(t.list("networks").unwrap().len(), 1);
        assert_eq!(t.keys("networks").unwrap(), vec!["networks/b".to_string()]);
        assert!(t.keys("nothing").unwrap().is_empty());
        t.put("parents/aa/x", b"").unwrap();
        t.put("parents/bb/y", b"").unwrap();
        assert_eq!(
            t.keys("parents").unwrap(),
            vec!["parents/aa/x", "parents/bb/y"]
        );
        assert_eq!(t.keys("parents/bb").unwrap(), vec!["parents/bb/y"]);
    }

    #[test]
    fn unflushed_writes_replace_small_documents_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let file = dir.path().join("endpoints/n/a.json");
        let mut t = store.write().unwrap();
        t.put_unsynced("endpoints/n/a", br#"{"state":"attaching","id":"1"}"#)
            .unwrap();
        let inode = fs::metadata(&file).unwrap().ino();
        // Shorter: padded with blanks to the old length, read back exactly.
        t.put_unsynced("endpoints/n/a", br#"{"id":"1"}"#).unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().ino(),
            inode,
            "written in place"
        );
        assert_eq!(fs::metadata(&file).unwrap().len(), 30);
        assert_eq!(t.get("endpoints/n/a").unwrap().unwrap(), br#"{"id":"1"}"#);
        let on_disk = fs::read(&file).unwrap();
        assert_eq!(&on_disk[..10], br#"{"id":"1"}"#);
        assert!(
            on_disk[10..].iter().all(|&b| b == b' '),
            "blanks, which JSON skips"
        );
        // Longer: grows in place.
        let long = format!(r#"{{"id":"{}"}}"#, "x".repeat(100));
        t.put_unsynced("endpoints/n/a", long.as_bytes()).unwrap();
        assert_eq!(fs::metadata(&file).unwrap().ino(), inode);
        assert_eq!(t.list("endpoints/n").unwrap()[0].1, long.as_bytes());
        // Beyond a page: replaced by renaming, which also drops the padding.
        let huge = format!(r#"{{"id":"{}"}}"#, "y".repeat(5000));
        t.put_unsynced("endpoints/n/a", huge.as_bytes()).unwrap();
        assert_ne!(fs::metadata(&file).unwrap().ino(), inode);
        t.put_unsynced("endpoints/n/a", b"{}").unwrap();
        assert_eq!(t.get("endpoints/n/a").unwrap().unwrap(), b"{}");
        assert_eq!(fs::metadata(&file).unwrap().len(), 2);
        // A flushed write always renames.
        let inode = fs::metadata(&file).unwrap().ino();
        t.put("endpoints/n/a", b"[1]").unwrap();
        assert_ne!(fs::metadata(&file).unwrap().ino(), inode);
        t.delete_unsynced("endpoints/n/a").unwrap();
        t.delete_unsynced("endpoints/n/a").unwrap(); // idempotent
        assert_eq!(t.get("endpoints/n/a").unwrap(), None);
        assert!(t.keys("endpoints").unwrap().is_empty());
    }

    #[test]
    fn read_only_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut t = store.read().unwrap();
        assert!(matches!(t.put("x", b""), Err(Error::ReadOnly)));
        assert!(matches!(t.delete("x"), Err(Error::ReadOnly)));
    }

    #[test]
    fn bad_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let mut t = store.write().unwrap();
        for key in ["", "../x", "a//b", "A", "a/.tmp", "/abs"] {
            assert!(matches!(t.put(key, b""), Err(Error::BadKey(_))), "{key}");
        }
    }

    #[test]
    fn stale_temp_files_are_removed_and_never_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store.write().unwrap().put("networks/a", b"old").unwrap();
        // A writer killed between write and rename leaves its temp file behind.
        fs::create_dir_all(dir.path().join(".tmp")).unwrap();
        fs::write(dir.path().join(".tmp/.tmp-networks~a"), b"torn").unwrap();
        {
            let t = store.read().unwrap();
            assert_eq!(t.list("networks").unwrap().len(), 1);
            assert_eq!(t.get("networks/a").unwrap().unwrap(), b"old");
        }
        // A write leaves it (nothing reads it); tidying removes it.
        let mut t = store.write().unwrap();
        t.put_unsynced("networks/b", b"1").unwrap();
        assert!(dir.path().join(".tmp/.tmp-networks~a").exists());
        t.tidy().unwrap();
        assert!(!dir.path().join(".tmp/.tmp-networks~a").exists());
        assert_eq!(
            t.keys("networks").unwrap(),
            vec!["networks/a", "networks/b"]
        );
    }

    #[test]
    fn writers_in_threads_are_serialised() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(DirStore::open(dir.path()).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let mut t = store.write().unwrap();
                        let n: u64 = t
                            .get("counter")
                            .unwrap()
                            .map(|v| String::from_utf8(v).unwrap().parse().unwrap())
                            .unwrap_or(0);
                        t.put("counter", (n + 1).to_string().as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = store.read().unwrap();
        assert_eq!(t.get("counter").unwrap().unwrap(), b"200");
    }

    #[test]
    fn state_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s");
        let store = DirStore::open(&root).unwrap();
        // Reading creates nothing.
        assert!(store.read().unwrap().keys("networks").unwrap().is_empty());
        assert!(!root.exists());
        drop(store.write().unwrap());
        let mode = fs::metadata(&root).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    /// A held lock: the wait says what holds it and ends with an error naming it.
    #[test]
    fn a_held_lock_is_waited_for_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let held = store.write().unwrap();
        let other = DirStore::open(dir.path())
            .unwrap()
            .with_lock_timeout(std::time::Duration::from_millis(300));
        let err = other.write().err().expect("refused while held");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert!(
            err.to_string().contains("did not let go within 0 s"),
            "{err}"
        );
        // Readers wait for a writer too; once it lets go, both go ahead.
        assert!(other.read().is_err());
        drop(held);
        drop(other.write().unwrap());
        drop(other.read().unwrap());
    }
}
