//! The calling thread's trip into a namespace: a socket in another namespace is made by the
//! calling thread entering it and going straight back, instead of by a thread started for it
//! (`NsEntry::CallingThread`, for a process that runs one command on the thread that made
//! the client). BENCHMARKS.md ("What each performance trick wins") has its measured share of
//! a connect and a CNI ADD. A thread that cannot come back aborts the process rather than go
//! on in the wrong namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use nix::sched::CloneFlags;

/// Run `open` with the calling thread in the namespace `ns`, then back in `home`.
pub(crate) fn there_and_back<T>(
    ns: &File,
    home: &File,
    open: impl FnOnce() -> io::Result<T>,
) -> io::Result<T> {
    nix::sched::setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)?;
    let made = open();
    if let Err(e) = nix::sched::setns(home.as_fd(), CloneFlags::CLONE_NEWNET) {
        eprintln!("underlay: cannot return to the host network namespace: {e}");
        std::process::abort();
    }
    made
}
