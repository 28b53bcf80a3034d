//! Final name first: an endpoint's link is made straight into its namespace under its final
//! name and up, two requests fewer than making it under a temporary name, renaming it there
//! and bringing it up after its addresses. The kernel checks the name in the target
//! namespace; some older kernels also in the namespace the link is made from, and refuse with
//! EEXIST: then the attach falls back to the temporary name. BENCHMARKS.md ("What each
//! performance trick wins") has its measured share, with the other small tricks it is kept
//! with.

use netlink::NsRef;

use crate::endpoint::{port_error, Port};
use crate::error::{Error, Result};
use crate::model::{Endpoint, Network};
use crate::vocab::Door;
use crate::Engine;

impl Engine {
    /// Make `ep`'s link for `ns`: under its final name and up where the kernel takes it
    /// (None), else under a temporary name, down (that name). A link of the final name
    /// already in `ns` is refused as a conflict, in the words of `door`, and left alone.
    pub(crate) fn make_port(
        &self,
        net: &Network,
        ep: &Endpoint,
        parent_index: u32,
        ns: &NsRef,
        door: Door,
    ) -> Result<Option<String>> {
        // A host parent's link is made on the host straight into the namespace; a parent
        // inside the container has its link made right there.
        let (made_in, target_ns) = if net.parent.in_container() {
            (ns.clone(), None)
        } else {
            (NsRef::Host, Some(ns.clone()))
        };
        let direct = Port {
            name: &ep.ifname,
            parent_index,
            target_ns: target_ns.clone(),
            mac: ep.mac,
            mtu: ep.link_mtu(net),
            up: true,
        };
        match self.new_port(net, &made_in, direct) {
            Ok(()) => Ok(None),
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
                self.add_port(net, ep, parent_index, &made_in, target_ns)
                    .map(Some)
            }
            Err(e) => Err(port_error(net, e)),
        }
    }
}
