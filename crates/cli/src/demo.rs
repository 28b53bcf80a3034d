//! `underlay demo`: the Docker macvlan guide's bridge-mode walkthrough, replayed in a throwaway
//! lab of namespaces with underlay standing in for `docker`. Each step prints the command a
//! user would type and what came of it; any step whose outcome differs from the guide makes
//! the demo fail. The lab and its state directory are removed at the end, also on failure.

use std::net::IpAddr;
use std::time::Duration;

use crate::lab::{ping, Lab, LabNs};
use clap::Args;
use engine::{AttachRequest, AttachmentKey, CreateRequest, Detach, Engine};

#[derive(Args)]
pub struct DemoArgs {}

const SUBNET: &str = "172.16.86.0/24";
const GATEWAY: &str = "172.16.86.1";
const HOST_ADDR: &str = "172.16.86.250";
const FIRST: &str = "172.16.86.10";

struct Demo {
    engine: Engine,
    lab: Lab,
    failures: Vec<String>,
}

fn step(cmd: &str) {
    println!("\n$ {cmd}");
}

fn indent(text: &str) {
    for line in text.lines() {
        println!("    {line}");
    }
}

impl Demo {
    fn expect_ping(&mut self, from: &LabNs, to: &str, reachable: bool) -> Result<(), String> {
        let dst: IpAddr = to.parse().map_err(|e| format!("{to}: {e}"))?;
        let rtt = ping(
            from.path(),
            dst,
            Duration::from_millis(if reachable { 2000 } else { 1000 }),
        )
        .map_err(|e| e.to_string())?;
        match (rtt, reachable) {
            (Some(t), true) => indent(&format!(
                "reply from {to}: time={:.3} ms   (ok: reachable, as the guide shows)",
                t.as_secs_f64() * 1000.0
            )),
            (None, false) => indent(&format!(
                "no reply from {to}   (ok: the kernel keeps a macvlan parent's own addresses unreachable from its containers)"
            )),
            (Some(_), false) => {
                indent(&format!("reply from {to}   (UNEXPECTED: the host must not be reachable)"));
                self.failures.push(format!("{} reached {to}", from.name));
            }
            (None, true) => {
                indent(&format!("no reply from {to}   (UNEXPECTED: it should answer)"));
                self.failures.push(format!("{} could not reach {to}", from.name));
            }
        }
        Ok(())
    }
}

pub fn demo(_: &DemoArgs) -> Result<(), String> {
    let state = tempfile::Builder::new()
        .prefix("underlay-demo-")
        .tempdir()
        .map_err(|e| format!("cannot create a state directory for the demo: {e}"))?;
    println!("underlay demo: the Docker macvlan guide's bridge example, with underlay instead of docker.");
    println!(
        "Lab: namespace \"host\" whose eth0 ({HOST_ADDR}/24) is a veth standing in for the NIC,"
    );
    println!(
        "namespace \"router\" on the other end holding the gateway {GATEWAY}, and containers."
    );
    println!("Nothing outside the lab is touched; the lab is removed at the end.");
    let lab = Lab::new(
        format!("{HOST_ADDR}/24").parse().expect("constant"),
        format!("{GATEWAY}/24").parse().expect("constant"),
    )
    .map_err(|e| e.to_string())?;
    let engine = lab.engine(state.path()).map_err(|e| e.to_string())?;
    let mut d = Demo {
        engine,
        lab,
        failures: Vec::new(),
    };
    let result = walkthrough(&mut d);
    // Containers and host namespaces go when their handles drop; the state dir with `state`.
    drop(d.lab);
    result?;
    if d.failures.is_empty() {
        println!("\nDemo complete: every step behaved as the Docker guide describes. Lab removed.");
        Ok(())
    } else {
        Err(format!(
            "the demo saw {} unexpected result(s): {}",
            d.failures.len(),
            d.failures.join("; ")
        ))
    }
}

fn walkthrough(d: &mut Demo) -> Result<(), String> {
    let e = |err: engine::Error| err.to_string();
    step(&format!(
        "underlay network create -d macvlan --subnet={SUBNET} --gateway={GATEWAY} -o parent=eth0 pub_net"
    ));
    let created = d
        .engine
        .create_network(&CreateRequest {
            name: "pub_net".into(),
            driver: "macvlan".into(),
            subnets: vec![SUBNET.into()],
            gateways: vec![GATEWAY.into()],
            options: vec![("parent".into(), "eth0".into())],
            ..Default::default()
        })
        .map_err(e)?;
    indent(&created.id);

    step("underlay network ls");
    let (nets, _) = d.engine.network_configs().map_err(e)?;
    indent(&crate::render::ls_table(&nets)?);

    let c1 = d.lab.container("my-macvlan-alpine").map_err(e)?;
    step(&format!(
        "underlay network connect --ip={FIRST} pub_net my-macvlan-alpine      # docker run --net=pub_net --ip={FIRST} ..."
    ));
    connect(d, &c1, Some(FIRST))?;
    let c2 = d.lab.container("second-alpine").map_err(e)?;
    step("underlay network connect pub_net second-alpine      # docker run --net=pub_net ...");
    let a2 = connect(d, &c2, None)?;

    step("(in my-macvlan-alpine) ip addr");
    indent(&d.lab.addr_view(&c1).map_err(e)?);
    step("(in my-macvlan-alpine) ip route");
    indent(&d.lab.route_view(&c1, false).map_err(e)?);

    step(&format!("(in second-alpine, {a2}) ping -c 1 {FIRST}"));
    d.expect_ping(&c2, FIRST, true)?;
    step(&format!(
        "(in my-macvlan-alpine) ping -c 1 {GATEWAY}      # the router"
    ));
    d.expect_ping(&c1, GATEWAY, true)?;
    step(&format!(
        "(in my-macvlan-alpine) ping -c 1 {HOST_ADDR}      # the host's own eth0 address"
    ));
    d.expect_ping(&c1, HOST_ADDR, false)?;

    step("underlay network inspect pub_net");
    let net = d.engine.network("pub_net").map_err(e)?;
    indent(&crate::render::pretty(&serde_json::Value::Array(vec![
        crate::render::inspect(&net, &Default::default(), None),
    ])));

    for c in [&c1, &c2] {
        step(&format!("underlay network disconnect pub_net {}", c.name));
        let key = AttachmentKey::Namespace(c.path().display().to_string());
        d.engine.detach("pub_net", &key, Detach::All).map_err(e)?;
        indent("(detached; its address is free again)");
    }
    step("underlay network rm pub_net");
    d.engine.remove_network("pub_net").map_err(e)?;
    indent("pub_net");
    Ok(())
}

fn connect(d: &Demo, c: &LabNs, ip: Option<&str>) -> Result<String, String> {
    let a = d
        .engine
        .attach(&AttachRequest {
            ip: ip.map(str::to_string),
            name: Some(c.name.clone()),
            ..AttachRequest::namespace("pub_net", &c.path().display().to_string())
        })
        .map_err(|e| e.to_string())?;
    let addr = a.ipv4.map(|a| a.to_string()).unwrap_or_default();
    indent(&format!(
        "{} {} mac {}{}",
        a.ifname,
        addr,
        a.mac.map(|m| m.to_string()).unwrap_or_default(),
        a.gateway4
            .map(|g| format!(", default via {g}"))
            .unwrap_or_default()
    ));
    Ok(addr)
}
