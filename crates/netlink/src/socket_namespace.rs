//! The socket's own namespace handle: `SIOCGSKNS` on a netlink socket opens the network
//! namespace the socket lives in, so the host namespace's handle comes from the socket the
//! client opens anyway instead of from a walk through `/proc/thread-self/ns/net`.
//! BENCHMARKS.md ("What each performance trick wins") has its measured share, with the other
//! small tricks it is kept with.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};

use netlink_sys::Socket;

/// The network namespace `sock` lives in, which is the calling thread's when it made it:
/// from the socket (Linux 4.9 and later), else from `/proc`.
pub(crate) fn of(sock: &Socket) -> io::Result<File> {
    const SIOCGSKNS: libc::c_ulong = 0x894c;
    // SAFETY: SIOCGSKNS takes no argument and returns a new file descriptor or -1.
    let fd = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCGSKNS as _) };
    if fd >= 0 {
        // SAFETY: a descriptor the kernel just opened for us, owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    } else {
        File::open("/proc/thread-self/ns/net")
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use netlink_sys::protocols::NETLINK_ROUTE;

    #[test]
    fn a_socket_names_the_namespace_of_the_thread_that_made_it() {
        let sock = netlink_sys::Socket::new(NETLINK_ROUTE).unwrap();
        let got = super::of(&sock).unwrap().metadata().unwrap();
        let mine = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
        assert_eq!((got.dev(), got.ino()), (mine.dev(), mine.ino()));
    }
}
