//! A link's index by `SIOCGIFINDEX`: one ioctl on the namespace's netlink socket, answered
//! by the kernel in the socket's namespace, instead of an RTM_GETLINK request and the parse
//! of its whole answer. BENCHMARKS.md ("What each performance trick wins") has its measured
//! share, with the other small tricks it is kept with.

use std::io;
use std::os::fd::AsRawFd;

use netlink_sys::Socket;

/// The index of the link called `name` in `sock`'s namespace, None when there is none.
pub(crate) fn index(sock: &Socket, name: &str) -> io::Result<Option<u32>> {
    if name.is_empty() || name.len() > 15 {
        return Ok(None); // no link can have such a name
    }
    // SAFETY: an all-zero ifreq is valid; the name fits with its terminating NUL.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: SIOCGIFINDEX reads the name and writes the index into `req`, which lives
    // across the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFINDEX as _, &mut req) };
    if r == 0 {
        // SAFETY: the kernel filled the index member of the union.
        return Ok(Some(unsafe { req.ifr_ifru.ifru_ifindex } as u32));
    }
    match io::Error::last_os_error() {
        e if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use netlink_sys::protocols::NETLINK_ROUTE;

    #[test]
    fn the_loopback_is_found_and_impossible_names_are_not() {
        // A netlink socket needs no privilege; every namespace has its loopback at index 1.
        let sock = netlink_sys::Socket::new(NETLINK_ROUTE).unwrap();
        assert_eq!(super::index(&sock, "lo").unwrap(), Some(1));
        assert_eq!(super::index(&sock, "ul-no-such-link").unwrap(), None);
        assert_eq!(super::index(&sock, "").unwrap(), None);
        assert_eq!(
            super::index(&sock, "a-name-too-long-for-linux").unwrap(),
            None
        );
    }
}
