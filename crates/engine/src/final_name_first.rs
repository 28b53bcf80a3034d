//! Final name first: an endpoint's link is made straight into its namespace under its final
//! name and up, two requests fewer than making it under a temporary name, renaming it there
//! and bringing it up after its addresses. The kernel checks the name in the target
//! namespace; some older kernels also in the namespace the link is made from, and refuse with
//! EEXIST: then the attach falls back to the temporary name. BENCHMARKS.md ("What each
//! performance trick wins") has its measured share, with the other small tricks it is kept
//! with.

use netlink::NsRef;

use crate::endpoint::{made_from, port_error, Port};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Network};
use crate::vocab::Door;
use crate::Engine;

impl Engine {
    /// Make `ep`'s link in `ns` under its final name, up. True when it was made; false when
    /// the kernel refused the name though `ns` has no link called so (the caller makes it
    /// under a temporary name). A link of that name already in `ns` is refused as a conflict,
    /// in the words of `door`, and left alone.
    pub(crate) fn port_under_final_name(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        ns: &NsRef,
        door: Door,
    ) -> Result<bool> {
        let (made_in, target_ns) = made_from(net, ns);
        let direct = Port {
            name: &ep.ifname,
            parent_index,
            target_ns,
            mac: ep.mac,
            mtu: ep.link_mtu(net),
            up: true,
        };
        match self.new_port(net, &made_in, direct) {
            Ok(()) => Ok(true),
            Err(e) if e.is_exists() => {
                let taken = self
                    .ns_links(ns, &ep.place())?
                    .iter()
                    .any(|l| l.name == ep.ifname);
                if taken {
                    return Err(Error::conflict(format!(
                        "interface {} already exists in {}: {}",
                        ep.ifname,
                        ep.place(),
                        door.other_ifname()
                    )));
                }
                Ok(false)
            }
            Err(e) => Err(port_error(net, e)),
        }
    }
}
