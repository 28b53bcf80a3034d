//! The netlink floor: the kernel work of one attach and one detach done by the shortest
//! sequence of netlink requests, with no IPAM, no store and no process start — what underlay's
//! own attach and detach are compared with in BENCHMARKS.md.
//!
//! Makes two namespaces of its own (a "host" with a veth as parent, a "container"), then N
//! times: create a macvlan into the container as eth0 and up, ask its index, add an address,
//! add a default route (attach); delete it (detach). The container's socket is opened anew for
//! every attach (by this thread entering the namespace), as a fresh process must. Prints one line
//! per round: attach and detach in microseconds. Needs root; touches nothing else.
//!
//! With `keep`, each attach goes into a namespace of its own and stays: N links on one parent,
//! as N sequential attaches to one network make them; one line per attach. This shows how the
//! kernel's own work grows with the number of macvlans on a parent.
//!
//!   cargo run --release -p underlay-netlink --example floor -- [N] [keep]

use std::time::Instant;

use netlink::{
    netns, LinkChange, LinkKind, MacvlanMode, Netlink, NewLink, NsEntry, NsRef, NsScope,
    RealNetlink, Route,
};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let keep = std::env::args().nth(2).as_deref() == Some("keep");
    let host_file = netns::new_netns().expect("a namespace for the host");
    let ctr_file = netns::new_netns().expect("a namespace for the container");
    let host = NsRef::Path(netns::fd_path(&host_file));
    let ctr = NsRef::Path(netns::fd_path(&ctr_file));
    // As a one-command process makes its sockets in other namespaces: on this thread.
    let nl = RealNetlink::new()
        .expect("netlink")
        .with_ns_entry(NsEntry::CallingThread);
    nl.link_add(
        &host,
        &NewLink {
            name: "uplink".into(),
            kind: LinkKind::Veth {
                peer: "lan0".into(),
                peer_ns: None,
            },
            parent_index: None,
            target_ns: None,
            mac: None,
            mtu: None,
            up: true,
        },
    )
    .expect("veth");
    let parent = nl.link_by_name(&host, "uplink").unwrap().expect("uplink");
    let lan0 = nl.link_by_name(&host, "lan0").unwrap().expect("lan0");
    let up = LinkChange {
        up: Some(true),
        ..Default::default()
    };
    nl.link_set(&host, lan0.index, &up).unwrap();
    let addr = "172.16.86.9/24".parse().unwrap();
    let default = Route {
        dst: "0.0.0.0/0".parse().unwrap(),
        gateway: Some("172.16.86.1".parse().unwrap()),
        oif: 0,
    };
    let mut kept = Vec::new();
    for _ in 0..n {
        let ctr = if keep {
            let f = netns::new_netns().expect("a namespace for the container");
            let p = NsRef::Path(netns::fd_path(&f));
            kept.push(f);
            p
        } else {
            ctr.clone()
        };
        // One socket in the container for the attach's requests, let go with the scope.
        let scope = NsScope::new(&nl, &ctr);
        let t0 = Instant::now();
        nl.link_add(
            &host,
            &NewLink {
                name: "eth0".into(),
                kind: LinkKind::Macvlan {
                    mode: MacvlanMode::Bridge,
                },
                parent_index: Some(parent.index),
                target_ns: Some(ctr.clone()),
                mac: None,
                mtu: None,
                up: true,
            },
        )
        .expect("macvlan");
        let index = nl.link_index(&ctr, "eth0").unwrap().expect("new link");
        nl.addr_add(&ctr, index, addr).unwrap();
        nl.route_add(
            &ctr,
            &Route {
                oif: index,
                ..default.clone()
            },
        )
        .unwrap();
        let attach = t0.elapsed();
        if keep {
            drop(scope);
            println!("{}", attach.as_micros());
            continue;
        }
        let t1 = Instant::now();
        nl.link_del(&ctr, index).unwrap();
        let detach = t1.elapsed();
        drop(scope);
        println!("{} {}", attach.as_micros(), detach.as_micros());
        std::thread::sleep(std::time::Duration::from_millis(40));
    }
}
