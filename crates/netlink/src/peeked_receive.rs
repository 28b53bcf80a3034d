//! The peeked receive: each netlink datagram's size is asked of the kernel first
//! (`MSG_PEEK | MSG_TRUNC`, nothing copied) and the buffer grown to fit it, so a socket's
//! buffer starts small (an acknowledgement with the kernel's explanation is all most sockets
//! ever receive) instead of being a fixed 32 KiB one. BENCHMARKS.md ("What each performance
//! trick wins") has its measured share, with the other small tricks it is kept with.

use std::io;

use netlink_sys::Socket;

/// A new socket's receive buffer: enough for an acknowledgement with the kernel's explanation.
pub(crate) const INITIAL_BUF: usize = 1024;

/// Receive one datagram from `sock` into `buf` (replacing what it held), growing `buf` first
/// if the datagram would not fit.
pub(crate) fn recv(sock: &Socket, buf: &mut Vec<u8>) -> io::Result<()> {
    let len = retry(|| {
        let mut nothing: &mut [u8] = &mut [];
        sock.recv(&mut nothing, libc::MSG_PEEK | libc::MSG_TRUNC)
    })?;
    buf.clear();
    buf.reserve(len);
    retry(|| sock.recv(buf, 0))?;
    Ok(())
}

/// Retry a system call interrupted by a signal.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

    use crate::messages;

    #[test]
    fn a_datagram_larger_than_the_buffer_arrives_whole() {
        // A link dump needs no privilege; one link's description (the loopback's, with its
        // statistics) is larger than the initial buffer.
        let mut sock = Socket::new(NETLINK_ROUTE).unwrap();
        sock.bind(&SocketAddr::new(0, 0)).unwrap();
        let req = RouteNetlinkMessage::GetLink(messages::get_link(None));
        let out = messages::encode(req, NLM_F_REQUEST | NLM_F_DUMP, 1);
        sock.send_to(&out, &SocketAddr::new(0, 0), 0).unwrap();
        let mut buf = Vec::with_capacity(super::INITIAL_BUF);
        super::recv(&sock, &mut buf).unwrap();
        assert!(buf.len() > super::INITIAL_BUF, "{} bytes", buf.len());
        let mut answer = messages::Answer::new(1, true);
        let mut links = 0;
        loop {
            if let Some(reply) = answer.read(&buf).unwrap() {
                links += reply.msgs.len();
                break;
            }
            super::recv(&sock, &mut buf).unwrap();
        }
        assert!(links >= 1, "the dump names at least the loopback");
    }
}
