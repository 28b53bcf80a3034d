//! When an endpoint leaves a namespace that is still attached to other networks, the default
//! route it carried goes to the remaining endpoint with a gateway of that family, as Docker
//! hands the default gateway to the container's next network (IPv4 and IPv6 separately).
//! Only the CLI's endpoints (one per namespace and network) take part: a CNI runtime and
//! Docker decide their containers' routes themselves.

use netlink::{NsRef, Route};

use crate::docs;
use crate::model::*;
use crate::Engine;

fn is_default(r: &Route, v4: bool) -> bool {
    r.dst.prefix_len() == 0 && r.dst.addr().is_ipv4() == v4
}

impl Engine {
    /// After `left` was detached from its namespace: give each family it had an address of,
    /// and that now has no default route there, the default route of the oldest other network
    /// the namespace is attached to that has one. Best effort: the detach has happened.
    pub(crate) fn hand_over_default_routes(
        &self,
        txn: &dyn store::Snapshot,
        net: &Network,
        left: &Endpoint,
    ) {
        if left.handoff || left.container_id.is_some() {
            return;
        }
        let Some(path) = self.locate(left.netns_id, &left.netns) else {
            return;
        };
        let ns = NsRef::Path(path);
        let _scope = netlink::NsScope::new(&*self.nl, &ns);
        let Ok(routes) = self.nl.routes(&ns) else {
            return;
        };
        let mut missing: Vec<bool> = [(left.ipv4.is_some(), true), (left.ipv6.is_some(), false)]
            .into_iter()
            .filter(|(had, v4)| *had && !routes.iter().any(|r| is_default(r, *v4)))
            .map(|(_, v4)| v4)
            .collect();
        // Another network's link in the namespace, before any network's document is read.
        let others_there = self.nl.links(&ns).is_ok_and(|links| {
            links
                .iter()
                .any(|l| matches!(l.kind.as_deref(), Some("macvlan" | "ipvlan")))
        });
        if missing.is_empty() || !others_there {
            return;
        }
        let Ok(mut others) = docs::networks_attached(txn, &slot_ns(left.netns_id)) else {
            return;
        };
        others.retain(|(n, e)| n.id != net.id && e.state == EndpointState::Attached);
        others.sort_by(|a, b| (&a.0.created, &a.0.name).cmp(&(&b.0.created, &b.0.name)));
        for (other, ep) in others {
            let Ok(Some(index)) = self.nl.link_index(&ns, &ep.ifname) else {
                continue;
            };
            for route in self.routes_for(&other, &ep, index) {
                let Some(pos) = missing.iter().position(|v4| is_default(&route, *v4)) else {
                    continue;
                };
                match self.nl.route_add(&ns, &route) {
                    Ok(()) => {
                        missing.remove(pos);
                    }
                    Err(e) if e.is_exists() => {
                        missing.remove(pos);
                    }
                    Err(_) => {}
                }
            }
            if missing.is_empty() {
                return;
            }
        }
    }
}
