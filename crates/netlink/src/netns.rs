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
pub fn identity(path: &Path) -> io::Result<(u64, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
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
            let (dev, ino) = identity(p).unwrap();
            assert_eq!(identity(p).unwrap(), (dev, ino));
        }
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
