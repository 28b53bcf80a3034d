//! Network-namespace handles, without shelling out and without moving the calling thread.
//!
//! A namespace is kept alive by any open file descriptor to it. [`new_netns`] hands out such a
//! descriptor for a fresh namespace; [`fd_path`] turns it into a path (`/proc/<pid>/fd/<n>`)
//! that names the namespace for [`NsRef::Path`], for other threads and for other processes
//! (e.g. `nsenter --net=/proc/<pid>/fd/<n>`).

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::{LinkChange, Netlink, NsRef, Result};

/// A network namespace's identity: the device and inode of its namespace file. Paths, PIDs
/// and names come and go; this is what tells whether two of them name the same namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    pub dev: u64,
    pub ino: u64,
}

impl std::fmt::Display for NsId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.dev, self.ino)
    }
}

/// A network namespace made by [`Netlink::ns_new`], alive while this handle lives.
pub struct Namespace {
    path: PathBuf,
    _holds: Box<dyn std::any::Any + Send + Sync>,
}

impl Namespace {
    /// A namespace that lives while `holds` does, named by `path`.
    pub(crate) fn new(path: PathBuf, holds: Box<dyn std::any::Any + Send + Sync>) -> Self {
        Self {
            path,
            _holds: holds,
        }
    }

    /// A path that names the namespace for as long as the handle lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The namespace, for requests.
    pub fn ns_ref(&self) -> NsRef {
        NsRef::Path(self.path.clone())
    }
}

/// `NSFS_MAGIC` from `<linux/magic.h>`: the file system of namespace files.
const NSFS_MAGIC: i64 = 0x6e73_6673;
/// `NS_GET_NSTYPE` from `<linux/nsfs.h>`: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Run `f` on a fresh OS thread and return its result, so that whatever `f` does to the
/// thread's namespaces dies with the thread.
pub(crate) fn on_fresh_thread<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    std::thread::Builder::new()
        .name("underlay-netns".into())
        .spawn(f)?
        .join()
        .map_err(|_| io::Error::other("network namespace helper thread panicked"))?
}

/// Create a new, empty network namespace (only `lo`, down) and return a handle to it.
///
/// The caller's thread stays where it is: a throwaway thread `unshare`s and opens
/// `/proc/thread-self/ns/net`. The namespace lives as long as the returned file (or anything
/// else holding it: a bind mount, a process, a socket) stays open.
pub fn new_netns() -> io::Result<File> {
    on_fresh_thread(|| {
        nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
        File::open("/proc/thread-self/ns/net")
    })
}

/// `/proc/<pid>/fd/<n>` for an open namespace file: a path naming the same namespace for any
/// thread of this process and, permissions allowing, for other processes, for as long as `f`
/// stays open.
pub fn fd_path(f: &File) -> PathBuf {
    PathBuf::from(format!("/proc/{}/fd/{}", std::process::id(), f.as_raw_fd()))
}

/// `(st_dev, st_ino)` of a namespace file, following symlinks and `/proc` magic links: two
/// paths name the same namespace exactly when their identities are equal.
pub fn identity(path: &Path) -> io::Result<NsId> {
    let m = std::fs::metadata(path)?;
    Ok(NsId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// The identity of the calling thread's own network namespace (the host's, for underlay's
/// threads: they never stay in another).
pub fn own_identity() -> io::Result<NsId> {
    identity(Path::new("/proc/thread-self/ns/net"))
}

/// Every network namespace that something on this host still holds, by identity, each with a
/// path that names it now: a bind mount (an nsfs mount of this mount namespace, such as
/// `/run/netns/NAME`), `/proc/<pid>/ns/net` of a process or thread in it, or
/// `/proc/<pid>/fd/<n>` of a process that holds it open. A namespace held only by a socket is
/// not found: nothing can enter it.
///
/// This is how a namespace's liveness is decided: by its identity, wherever it is held, never
/// by the PID or path it was first reached through.
pub fn holders() -> std::collections::HashMap<NsId, PathBuf> {
    let mut found = std::collections::HashMap::new();
    let mut add = |path: PathBuf| {
        if let Ok(id) = identity(&path) {
            found.entry(id).or_insert(path);
        }
    };
    if let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") {
        nsfs_mounts(&text).into_iter().for_each(&mut add);
    }
    let pids: Vec<PathBuf> = match std::fs::read_dir("/proc") {
        Ok(dir) => dir
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            })
            .map(|e| e.path())
            .collect(),
        Err(_) => return found,
    };
    for pid in &pids {
        add(pid.join("ns/net"));
        // A thread may have entered another namespace than its process's.
        if let Ok(tasks) = std::fs::read_dir(pid.join("task")) {
            for t in tasks.flatten() {
                add(t.path().join("ns/net"));
            }
        }
    }
    for pid in &pids {
        let Ok(fds) = std::fs::read_dir(pid.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let is_net = std::fs::read_link(fd.path())
                .is_ok_and(|t| t.as_os_str().as_encoded_bytes().starts_with(b"net:["));
            if is_net {
                add(fd.path());
            }
        }
    }
    found
}

/// The mount points of nsfs mounts in a mountinfo text (proc(5)), with their octal escapes
/// (`\040` for a blank) decoded.
fn nsfs_mounts(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (fields, tail) = line.split_once(" - ")?;
            (tail.split(' ').next()? == "nsfs").then(|| fields.split(' ').nth(4))?
        })
        .map(|escaped| {
            use std::os::unix::ffi::OsStringExt;
            let b = escaped.as_bytes();
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                let octal = b
                    .get(i + 1..i + 4)
                    .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
                match (b[i], octal) {
                    (b'\\', Some(d)) => {
                        out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                        i += 4;
                    }
                    (c, _) => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            PathBuf::from(std::ffi::OsString::from_vec(out))
        })
        .collect()
}

/// Where namespaces are now, asked of the kernel through a [`Netlink`] seam: the host is
/// searched ([`Netlink::ns_holders`]) once, when the first hint fails.
pub struct Holders<'a> {
    nl: &'a dyn Netlink,
    found: std::cell::OnceCell<std::collections::HashMap<NsId, PathBuf>>,
}

impl<'a> Holders<'a> {
    pub fn new(nl: &'a dyn Netlink) -> Self {
        Self {
            nl,
            found: std::cell::OnceCell::new(),
        }
    }

    /// A path that names the namespace of identity `id` now: `hint` (the path it was reached
    /// through) while that still names it, else wherever it is still held; `None` when
    /// nothing holds it any more (it is gone, and so is every link that was in it).
    pub fn locate(&self, id: NsId, hint: &Path) -> Option<PathBuf> {
        if self.nl.ns_id(hint).ok() == Some(id) {
            return Some(hint.to_path_buf());
        }
        self.held().get(&id).cloned()
    }

    /// Every namespace held on the host, each with a path that names it.
    pub fn all(&self) -> Vec<(NsId, PathBuf)> {
        let mut v: Vec<_> = self.held().iter().map(|(id, p)| (*id, p.clone())).collect();
        v.sort();
        v
    }

    fn held(&self) -> &std::collections::HashMap<NsId, PathBuf> {
        self.found.get_or_init(|| self.nl.ns_holders())
    }
}

/// Whether `path` is a network-namespace file (on nsfs, and of type `CLONE_NEWNET` where the
/// kernel can tell).
pub fn is_netns(path: &Path) -> io::Result<bool> {
    let f = File::open(path)?;
    let fs = nix::sys::statfs::fstatfs(f.as_fd())?;
    if fs.filesystem_type().0 as i64 != NSFS_MAGIC {
        return Ok(false);
    }
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor.
    let kind = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 {
        // Kernels before 4.11 lack the ioctl; nsfs is as far as we can check there.
        return Ok(true);
    }
    Ok(kind == libc::CLONE_NEWNET)
}

/// Make `cmd`'s child enter the namespace `f` between fork and exec.
pub fn enter_on_spawn(f: &File, cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let fd = f.as_raw_fd();
    // SAFETY: setns is async-signal-safe; the closure only makes that one system call, on a
    // descriptor the caller keeps open until the child is spawned.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Move the CURRENT thread into the namespace `f`.
///
/// Only for a child between fork and exec (`pre_exec`) or a throwaway thread: a thread that
/// came back from another namespace is a trap for everything else that runs on it.
pub fn enter(f: &File) -> io::Result<()> {
    nix::sched::setns(f.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(())
}

/// Bring `lo` up in `ns` (a fresh namespace has it down).
pub fn loopback_up(nl: &dyn Netlink, ns: &NsRef) -> Result<()> {
    let lo = nl
        .link_by_name(ns, "lo")?
        .ok_or_else(|| crate::Error::Kernel {
            op: format!("find lo in {ns}"),
            source: io::Error::from_raw_os_error(libc::ENODEV),
        })?;
    if lo.up {
        return Ok(());
    }
    let up = LinkChange {
        up: Some(true),
        ..Default::default()
    };
    nl.link_set(ns, lo.index, &up)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_self_ns_is_a_netns() {
        let p = Path::new("/proc/self/ns/net");
        if p.exists() {
            assert!(is_netns(p).unwrap());
            assert!(!is_netns(Path::new("/proc/self/ns/uts")).unwrap_or(false));
            assert!(!is_netns(Path::new("/proc/self/status")).unwrap());
            let id = identity(p).unwrap();
            assert_eq!(identity(p).unwrap(), id);
        }
    }

    #[test]
    fn nsfs_mount_points_are_decoded() {
        let text = "\
29 1 0:26 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
571 29 0:4 net:[4026532281] /run/netns/c1 rw shared:310 - nsfs nsfs rw
572 29 0:4 net:[4026532282] /run/netns/with\\040blank rw shared:311 - nsfs nsfs rw
573 29 0:4 mnt:[4026532283] /tmp/x\\134y rw - nsfs nsfs rw
";
        assert_eq!(
            nsfs_mounts(text),
            [
                PathBuf::from("/run/netns/c1"),
                PathBuf::from("/run/netns/with blank"),
                PathBuf::from("/tmp/x\\y"),
            ]
        );
    }

    #[test]
    #[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
    fn a_namespace_is_found_wherever_it_is_held() {
        let f = new_netns().unwrap();
        let id = identity(&fd_path(&f)).unwrap();
        let gone = Path::new("/proc/999999999/ns/net");
        let nl = crate::RealNetlink::new().unwrap();
        // Held by an open descriptor of this process only.
        let at = Holders::new(&nl)
            .locate(id, gone)
            .expect("held by our descriptor");
        assert_eq!(identity(&at).unwrap(), id);
        assert_eq!(
            Holders::new(&nl).locate(id, &at),
            Some(at.clone()),
            "a path that names it is kept"
        );
        drop(f);
        assert_eq!(
            Holders::new(&nl).locate(id, gone),
            None,
            "nothing holds it any more"
        );
    }

    #[test]
    fn fd_path_names_the_file() {
        let f = File::open("/proc/self/ns/net").unwrap();
        let p = fd_path(&f);
        assert!(p.starts_with(format!("/proc/{}/fd", std::process::id())));
        assert_eq!(
            identity(&p).unwrap(),
            identity(Path::new("/proc/self/ns/net")).unwrap()
        );
    }
}
