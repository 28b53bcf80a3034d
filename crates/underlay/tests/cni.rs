//! The CNI plugin in namespace labs: side by side with the reference macvlan plugin and
//! host-local (Debian's containernetworking-plugins, installed by scripts/deps.sh), 50 parallel
//! ADDs, every command and error code, and delegation to another IPAM plugin.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use common::{Lab, Run};
use serde_json::{json, Value};

const REFERENCE: &str = "/usr/lib/cni";

fn have_reference() -> bool {
    std::path::Path::new(REFERENCE).join("macvlan").exists()
}

/// One CNI call of `plugin` from the lab host, as a runtime makes it.
struct Call<'a> {
    command: &'a str,
    container: &'a str,
    netns: String,
    ifname: &'a str,
    args: &'a str,
}

fn call(lab: &Lab, plugin: &str, c: &Call, conf: &Value) -> Run {
    let mut child = spawn(lab, plugin, c);
    let out = {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(conf.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn spawn(lab: &Lab, plugin: &str, c: &Call) -> std::process::Child {
    Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lab.ns("host")))
        .arg(plugin)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CNI_COMMAND", c.command)
        .env("CNI_CONTAINERID", c.container)
        .env("CNI_NETNS", &c.netns)
        .env("CNI_IFNAME", c.ifname)
        .env("CNI_ARGS", c.args)
        .env("CNI_PATH", REFERENCE)
        .env("UNDERLAY_STATE_DIR", lab.state.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run plugin")
}

fn cmd(lab: &Lab, command: &str, container: &str, netns: &str, conf: &Value) -> Run {
    call(
        lab,
        common::bin(),
        &Call {
            command,
            container,
            netns: format!("/run/netns/{netns}"),
            ifname: "eth0",
            args: "",
        },
        conf,
    )
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(&r.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", r.stdout, r.stderr))
}

fn code_of(r: &Run) -> u64 {
    assert_eq!(r.code, 1, "expected an error: {r:?}");
    json_of(r)["code"].as_u64().expect("code")
}

/// Wait until network `net` has `n` endpoints (a DEL's kernel half runs in the background).
fn settled_but(lab: &Lab, net: &str, n: usize) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lab.inspect(net)["Containers"].as_object().unwrap().len() != n {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// Wait until network `net` has no endpoints: a DEL returns before the kernel has deleted
/// the link (tens of milliseconds); a background process of the plugin finishes it.
fn settled(lab: &Lab, net: &str) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if lab.inspect(net)["Containers"] == json!({}) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The lab: host `uplink` (a veth standing in for a NIC) and a router at 172.16.86.1.
fn lab(tag: &str) -> Lab {
    let mut lab = Lab::new(tag);
    lab.uplink(
        "uplink",
        "router",
        &[],
        &["172.16.86.1/24", "2001:db8::1/64"],
    );
    lab
}

/// A config for the reference plugins and the same for underlay.
fn confs(version: &str, extra: Value, ipam: Option<Value>, data_dir: &str) -> (Value, Value) {
    let mut reference =
        json!({"cniVersion": version, "name": "conf-net", "type": "macvlan", "master": "uplink"});
    let mut ours =
        json!({"cniVersion": version, "name": "conf-net", "type": "underlay", "master": "uplink"});
    for (k, v) in extra.as_object().unwrap() {
        reference[k] = v.clone();
        ours[k] = v.clone();
    }
    if let Some(ipam) = ipam {
        let mut r = ipam.clone();
        r["type"] = json!("host-local");
        r["dataDir"] = json!(data_dir);
        reference["ipam"] = r;
        let mut o = ipam;
        o["type"] = json!("underlay");
        ours["ipam"] = o;
    }
    (reference, ours)
}

/// What a container looks like from inside: link kind, mode, MTU, addresses and routes.
fn container_state(lab: &Lab, ns: &str) -> Value {
    let link: Value =
        serde_json::from_str(&lab.ip(ns, &["-d", "-j", "link", "show", "eth0"])).unwrap();
    let info = &link[0]["linkinfo"];
    let addrs: Value =
        serde_json::from_str(&lab.ip(ns, &["-j", "addr", "show", "dev", "eth0"])).unwrap();
    let addrs: BTreeSet<String> = addrs[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["scope"] == "global")
        .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
        .collect();
    let mut routes = BTreeSet::new();
    for family in ["-4", "-6"] {
        for line in lab.ip(ns, &[family, "route", "show"]).lines() {
            // IPv6 link-local routes come from the kernel, not from the plugin.
            if !line.starts_with("fe80::") {
                routes.insert(line.trim().to_string());
            }
        }
    }
    json!({
        "kind": info["info_kind"],
        "mode": info["info_data"]["mode"],
        "mtu": link[0]["mtu"],
        "addresses": addrs,
        "routes": routes,
    })
}

/// The result with what differs by nature (random MACs, namespace paths) masked.
fn shape(mut result: Value) -> Value {
    for i in result["interfaces"].as_array_mut().into_iter().flatten() {
        i["mac"] = json!("MAC");
        i["sandbox"] = json!("SANDBOX");
    }
    result
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn results_and_containers_match_the_reference_plugins() {
    need_root!();
    if !have_reference() {
        panic!("the CNI reference plugins are missing from {REFERENCE}: run scripts/deps.sh");
    }
    let dual = json!({
        "ranges": [[{"subnet": "172.16.86.0/24", "rangeStart": "172.16.86.10",
                     "rangeEnd": "172.16.86.250", "gateway": "172.16.86.1"}],
                   [{"subnet": "2001:db8::/64"}]],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.0.0.0/8", "gw": "172.16.86.5"}]
    });
    let v4 = json!({"ranges": [[{"subnet": "172.16.86.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]});
    let cases: Vec<(&str, &str, Value, Option<Value>, &str)> = vec![
        (
            "dual stack, routes, 1.0.0",
            "1.0.0",
            json!({}),
            Some(dual.clone()),
            "",
        ),
        (
            "dual stack, 0.4.0 result format",
            "0.4.0",
            json!({}),
            Some(dual),
            "",
        ),
        (
            "0.3.1, private mode, MTU",
            "0.3.1",
            json!({"mode": "private", "mtu": 1400}),
            Some(v4.clone()),
            "",
        ),
        (
            "legacy top-level subnet",
            "1.0.0",
            json!({}),
            Some(json!({"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"})),
            "",
        ),
        (
            "static IP and MAC from CNI_ARGS",
            "1.0.0",
            json!({}),
            Some(v4.clone()),
            "IgnoreUnknown=1;IP=172.16.86.77;MAC=02:00:00:00:00:77",
        ),
        (
            "static MAC from the config",
            "1.0.0",
            json!({"mac": "02:00:00:00:00:42"}),
            Some(v4),
            "",
        ),
        (
            "no IPAM: the link only",
            "1.0.0",
            json!({"mode": "vepa"}),
            None,
            "",
        ),
    ];
    for (what, version, extra, ipam, args) in cases {
        let mut rlab = lab("cr");
        let mut ulab = lab("cu");
        let data = rlab.state.path().join("host-local");
        let (rconf, uconf) = confs(version, extra, ipam, data.to_str().unwrap());
        let rns = rlab.add_ns("c");
        let uns = ulab.add_ns("c");
        let mk = |ns: &str, c: &'static str| Call {
            command: c,
            container: "c0ffee",
            netns: format!("/run/netns/{ns}"),
            ifname: "eth0",
            args,
        };
        let r = call(
            &rlab,
            &format!("{REFERENCE}/macvlan"),
            &mk(&rns, "ADD"),
            &rconf,
        );
        let u = call(&ulab, common::bin(), &mk(&uns, "ADD"), &uconf);
        assert_eq!(r.code, 0, "{what}: reference ADD: {r:?}");
        assert_eq!(u.code, 0, "{what}: underlay ADD: {u:?}");
        let (rres, ures) = (json_of(&r), json_of(&u));
        assert_eq!(
            shape(ures.clone()),
            shape(rres.clone()),
            "{what}: results differ"
        );
        if args.contains("MAC=") || what.contains("MAC from the config") {
            assert_eq!(
                ures["interfaces"][0]["mac"], rres["interfaces"][0]["mac"],
                "{what}"
            );
        }
        assert_eq!(
            container_state(&ulab, &uns),
            container_state(&rlab, &rns),
            "{what}: containers differ"
        );

        // The same command on both, with the ADD result as prevResult: (reference, underlay).
        let both = |command: &'static str| {
            let with_prev = |mut c: Value, prev: &Value| {
                c["prevResult"] = prev.clone();
                c
            };
            let r = call(
                &rlab,
                &format!("{REFERENCE}/macvlan"),
                &mk(&rns, command),
                &with_prev(rconf.clone(), &rres),
            );
            let u = call(
                &ulab,
                common::bin(),
                &mk(&uns, command),
                &with_prev(uconf.clone(), &ures),
            );
            (r, u)
        };
        // CHECK with the ADD result passes on both (0.3.1 has no CHECK: both refuse it).
        let (rc, uc) = both("CHECK");
        assert_eq!(
            uc.code, rc.code,
            "{what}: CHECK: reference {rc:?}, underlay {uc:?}"
        );

        // DEL, DEL again (idempotent), then CHECK fails on both.
        for _ in 0..2 {
            let (rd, ud) = both("DEL");
            assert_eq!((rd.code, ud.code), (0, 0), "{what}: DEL: {rd:?} {ud:?}");
            assert_eq!(ud.stdout, "", "DEL prints nothing");
        }
        if version != "0.3.1" {
            let (rc, uc) = both("CHECK");
            assert_ne!(rc.code, 0, "{what}: reference CHECK after DEL");
            assert_ne!(uc.code, 0, "{what}: underlay CHECK after DEL: {uc:?}");
        }
        // The network made for the config stays, empty, as host-local keeps its directory.
        assert!(
            settled(&ulab, "conf-net"),
            "{what}: {}",
            ulab.inspect("conf-net")
        );
        assert_eq!(
            ulab.ip(&uns, &["-br", "link"]).lines().count(),
            1,
            "{what}: only lo is left"
        );
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn fifty_parallel_adds_get_fifty_addresses_and_dels_release_them() {
    need_root!();
    let mut lab = lab("par");
    let conf = json!({"cniVersion": "1.0.0", "name": "par", "type": "underlay", "master": "uplink",
        "ipam": {"type": "underlay", "ranges": [[{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}]]}});
    let namespaces: Vec<String> = (0..50).map(|i| lab.add_ns(&format!("p{i}"))).collect();
    let run_all = |command: &'static str| -> Vec<Run> {
        let children: Vec<_> = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                let id = format!("ctr{i}");
                let c = Call {
                    command,
                    container: &id,
                    netns: format!("/run/netns/{ns}"),
                    ifname: "eth0",
                    args: "",
                };
                let mut child = spawn(&lab, common::bin(), &c);
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(conf.to_string().as_bytes())
                    .unwrap();
                child
            })
            .collect();
        children
            .into_iter()
            .map(|c| {
                let out = c.wait_with_output().unwrap();
                Run {
                    code: out.status.code().unwrap_or(-1),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                }
            })
            .collect()
    };
    let adds = run_all("ADD");
    let mut addrs = BTreeSet::new();
    for r in &adds {
        assert_eq!(r.code, 0, "{r:?}");
        addrs.insert(
            json_of(r)["ips"][0]["address"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(addrs.len(), 50, "distinct addresses: {addrs:?}");
    for (i, ns) in namespaces.iter().enumerate() {
        let a = lab.ip(ns, &["-4", "-br", "addr", "show", "eth0"]);
        assert!(
            addrs.iter().any(|x| a.contains(x.as_str())),
            "container {i} has {a}"
        );
    }
    // The store loads and holds all fifty.
    let net = lab.inspect("par");
    assert_eq!(net["Containers"].as_object().unwrap().len(), 50);
    assert!(net["Labels"][cni::CONFIG_LABEL].is_string());
    let dels = run_all("DEL");
    for r in &dels {
        assert_eq!(r.code, 0, "{r:?}");
    }
    assert!(settled(&lab, "par"), "{}", lab.inspect("par"));
    for ns in &namespaces {
        assert_eq!(lab.ip(ns, &["-br", "link"]).lines().count(), 1, "{ns}");
    }
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn del_then_add_of_the_same_attachment_in_a_row() {
    need_root!();
    let mut lab = lab("readd");
    let conf = json!({"cniVersion": "1.0.0", "name": "readd", "type": "underlay", "master": "uplink",
        "ipam": {"type": "underlay", "ranges": [[{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}]]}});
    let c = lab.add_ns("c");
    let first = json_of(&cmd(&lab, "ADD", "same", &c, &conf));
    for round in 0..10 {
        // The DEL's link deletion may still be running when the ADD comes: the ADD finishes it.
        assert_eq!(cmd(&lab, "DEL", "same", &c, &conf).code, 0);
        let r = cmd(&lab, "ADD", "same", &c, &conf);
        assert_eq!(r.code, 0, "round {round}: {r:?}");
        let links = lab.ip(&c, &["-br", "link"]);
        assert_eq!(
            links.lines().count(),
            2,
            "round {round}: lo and one eth0: {links}"
        );
        let net = lab.inspect("readd");
        assert_eq!(
            net["Containers"].as_object().unwrap().len(),
            1,
            "round {round}: {net}"
        );
    }
    let d = lab.add_ns("d");
    let last = json_of(&cmd(&lab, "ADD", "other", &d, &conf));
    assert_eq!(
        first["ips"][0]["address"], "172.16.86.2/24",
        "lowest free address first"
    );
    assert_eq!(
        last["ips"][0]["address"], "172.16.86.3/24",
        "nothing leaked: {last}"
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn check_gc_status_and_every_error_code() {
    need_root!();
    let mut lab = lab("cmd");
    let conf = json!({"cniVersion": "1.1.0", "name": "cmds", "type": "underlay", "master": "uplink",
        "ipam": {"type": "underlay", "ranges": [[{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}});
    let a = lab.add_ns("a");
    let b = lab.add_ns("b");
    let host_before = lab.host_snapshot();

    // Refusals change nothing: not on the host, not in the store, not in the container.
    let bad = |lab: &Lab, c: Value, args: &str, netns: &str, env_ifname: &str| {
        call(
            lab,
            common::bin(),
            &Call {
                command: "ADD",
                container: "bad1",
                netns: format!("/run/netns/{netns}"),
                ifname: env_ifname,
                args,
            },
            &c,
        )
    };
    let with = |k: &str, v: Value| {
        let mut c = conf.clone();
        c[k] = v;
        c
    };
    let cases: Vec<(Run, u64, &str)> = vec![
        (
            bad(&lab, with("cniVersion", json!("0.2.0")), "", &a, "eth0"),
            1,
            "incompatible CNI versions",
        ),
        // Fields the spec gives a shape, of another shape: refused, never ignored.
        (
            bad(&lab, with("ipam", json!("underlay")), "", &a, "eth0"),
            7,
            "invalid \"ipam\": expected an object",
        ),
        (
            bad(&lab, with("ipam", json!({"type": 5})), "", &a, "eth0"),
            7,
            "invalid \"ipam.type\": expected the name of an IPAM plugin, got a number",
        ),
        (
            bad(&lab, with("dns", json!(["8.8.8.8"])), "", &a, "eth0"),
            7,
            "invalid \"dns\": expected an object",
        ),
        (
            bad(
                &lab,
                with("dns", json!({"nameservers": "8.8.8.8"})),
                "",
                &a,
                "eth0",
            ),
            7,
            "invalid \"dns.nameservers\": expected an array of strings, got a string",
        ),
        (
            bad(&lab, with("args", json!("IP=1.2.3.4")), "", &a, "eth0"),
            7,
            "invalid \"args\": expected an object",
        ),
        (
            bad(
                &lab,
                with("args", json!({"cni": {"ips": "172.16.86.9"}})),
                "",
                &a,
                "eth0",
            ),
            7,
            "invalid \"args.cni.ips\": expected an array of address strings",
        ),
        (
            bad(&lab, with("mode", json!("bogus")), "", &a, "eth0"),
            7,
            "requested macvlan mode 'bogus' is not valid",
        ),
        (
            bad(&lab, with("master", json!("nope0")), "", &a, "eth0"),
            7,
            "nope0",
        ),
        (
            bad(&lab, with("mtu", json!(9000)), "", &a, "eth0"),
            7,
            "invalid mtu 9000",
        ),
        (
            bad(&lab, with("flag", json!("private")), "", &a, "eth0"),
            7,
            "is an ipvlan setting",
        ),
        (
            bad(&lab, with("driver", json!("bridge")), "", &a, "eth0"),
            7,
            "invalid driver \"bridge\"",
        ),
        (
            bad(&lab, with("linkInContainer", json!(true)), "", &a, "eth0"),
            102,
            "not found in network namespace",
        ),
        (
            bad(&lab, conf.clone(), "IP=10.1.2.3", &a, "eth0"),
            7,
            "10.1.2.3",
        ),
        (
            bad(&lab, conf.clone(), "IP=172.16.86.1", &a, "eth0"),
            7,
            "172.16.86.1",
        ),
        (
            bad(&lab, conf.clone(), "MAC=01:00:5e:00:00:01", &a, "eth0"),
            7,
            "invalid requested MAC (runtimeConfig mac, CNI_ARGS MAC or the configuration's mac) 01:00:5e:00:00:01: a container needs a unicast address",
        ),
        (
            bad(&lab, conf.clone(), "", &a, "lo"),
            100,
            "interface lo already exists in the network namespace of container bad1: the runtime must pass another CNI_IFNAME",
        ),
        (
            bad(&lab, conf.clone(), "IP", &a, "eth0"),
            4,
            "invalid CNI_ARGS pair",
        ),
        (
            bad(&lab, conf.clone(), "", "no-such-ns", "eth0"),
            3,
            "CNI_NETNS \"/run/netns/no-such-ns\" names no network namespace",
        ),
        (
            bad(&lab, conf.clone(), "", &a, "this-name-is-too-long"),
            4,
            "at most 15 bytes",
        ),
        (
            bad(&lab, conf.clone(), "", &a, ""),
            4,
            "required env variables [CNI_IFNAME] missing",
        ),
        (
            bad(
                &lab,
                with(
                    "ipam",
                    json!({"type": "underlay", "ranges": [[{"subnet": "172.16.86.0/24", "rangeStart": "10.0.0.1"}]]}),
                ),
                "",
                &a,
                "eth0",
            ),
            7,
            "rangeStart 10.0.0.1 not in network 172.16.86.0/24",
        ),
        (
            bad(
                &lab,
                with("ipam", json!({"type": "no-such-ipam"})),
                "",
                &a,
                "eth0",
            ),
            7,
            "failed to find IPAM plugin",
        ),
    ];
    // Each refusal left no network behind, not even one an ADD made for itself.
    assert_eq!(lab.ul(&["network", "ls", "-q"]).ok().trim(), "");
    for (r, code, words) in cases {
        assert_eq!(code_of(&r), code, "{r:?}");
        let msg = json_of(&r)["msg"].as_str().unwrap().to_string();
        assert!(msg.contains(words), "{msg:?} should say {words:?}");
        // In the CNI's own words: no command-line flag, no "namespace" for a container id.
        assert!(!msg.contains("--"), "a CLI flag in a CNI error: {msg:?}");
        assert_eq!(r.stderr, "", "nothing on stderr: {r:?}");
    }
    // Not JSON at all: a decode error.
    let mut c = spawn(
        &lab,
        common::bin(),
        &Call {
            command: "ADD",
            container: "x",
            netns: format!("/run/netns/{a}"),
            ifname: "eth0",
            args: "",
        },
    );
    c.stdin.take().unwrap().write_all(b"{not json").unwrap();
    let out = c.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["code"], 6);
    assert_eq!(
        lab.host_snapshot(),
        host_before,
        "refusals leave the host as it was"
    );
    assert_eq!(lab.ul(&["network", "ls", "-q"]).ok().trim(), "");
    assert_eq!(lab.ip(&a, &["-br", "link"]).lines().count(), 1);

    // ADD two containers; CHECK passes; a link deleted behind our back fails CHECK.
    let ra = json_of(&cmd(&lab, "ADD", "ctr-a", &a, &conf));
    let rb = json_of(&cmd(&lab, "ADD", "ctr-b", &b, &conf));
    let prev = |r: &Value| {
        let mut c = conf.clone();
        c["prevResult"] = r.clone();
        c
    };
    assert_eq!(cmd(&lab, "CHECK", "ctr-a", &a, &prev(&ra)).code, 0);
    let r = cmd(&lab, "CHECK", "ctr-a", &a, &conf);
    assert!(json_of(&r)["msg"].as_str().unwrap().contains("prevResult"));
    let r = cmd(&lab, "CHECK", "ctr-a", &a, &prev(&rb));
    assert_eq!(
        code_of(&r),
        100,
        "another container's result does not match: {r:?}"
    );
    lab.ip(&b, &["link", "del", "eth0"]);
    let r = cmd(&lab, "CHECK", "ctr-b", &b, &prev(&rb));
    assert_eq!(code_of(&r), 3, "{r:?}");

    // STATUS: ready while the master is there.
    assert_eq!(cmd(&lab, "STATUS", "", &a, &conf).code, 0);
    let mut gone = conf.clone();
    gone["master"] = json!("uplink9");
    assert_eq!(code_of(&cmd(&lab, "STATUS", "", &a, &gone)), 50);

    // GC keeps what the runtime lists and releases the rest (ctr-b, whose link is gone).
    let mut gc = conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "ctr-a", "ifname": "eth0"}]);
    let r = cmd(&lab, "GC", "", &a, &gc);
    assert_eq!(r.code, 0, "{r:?}");
    let net = lab.inspect("cmds");
    let names: Vec<&str> = net["Containers"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["ctr-a"]);
    // GC without the list is refused rather than collecting everything.
    assert_eq!(code_of(&cmd(&lab, "GC", "", &a, &conf)), 7);
    // Per-attachment fields changed while attached (a Multus user editing the attachment
    // definition): new attachments get them, nothing is locked out, the old one keeps its own.
    let mut edited = conf.clone();
    edited["mtu"] = json!(1400);
    edited["ipam"]["routes"] = json!([{"dst": "10.20.0.0/16"}]);
    edited["ipam"]["someNewKey"] = json!("x");
    let r = cmd(&lab, "ADD", "ctr-e", &b, &edited);
    assert_eq!(r.code, 0, "{r:?}");
    let link = lab.ip(&b, &["link", "show", "eth0"]);
    assert!(link.contains("mtu 1400"), "{link}");
    let routes = lab.ip(&b, &["route"]);
    assert!(
        routes.contains("10.20.0.0/16 via 172.16.86.1 dev eth0") && !routes.contains("default"),
        "{routes}"
    );
    assert!(
        lab.ip(&a, &["route"]).contains("default via 172.16.86.1"),
        "ctr-a keeps its own"
    );
    let mut prev_e = edited.clone();
    prev_e["prevResult"] = json_of(&r);
    assert_eq!(
        cmd(&lab, "CHECK", "ctr-e", &b, &prev_e).code,
        0,
        "CHECK with what it was given"
    );
    assert_eq!(cmd(&lab, "DEL", "ctr-e", &b, &edited).code, 0);
    assert!(settled_but(&lab, "cmds", 1));
    // A changed configuration while attached is refused with the reason.
    let mut changed = conf.clone();
    changed["mode"] = json!("private");
    let r = cmd(&lab, "ADD", "ctr-c", &b, &changed);
    assert_eq!(code_of(&r), 100);
    assert!(json_of(&r)["msg"]
        .as_str()
        .unwrap()
        .contains("changed while 1 container"));
    // The CLI's networks are not the runtime's.
    lab.ul(&[
        "network",
        "create",
        "--subnet",
        "10.9.0.0/24",
        "-o",
        "parent=uplink",
        "clinet",
    ])
    .ok();
    let mut cli = conf.clone();
    cli["name"] = json!("clinet");
    cli["ipam"] = json!({"type": "underlay", "ranges": [[{"subnet": "10.9.0.0/24"}]]});
    let r = cmd(&lab, "ADD", "ctr-c", &b, &cli);
    assert!(json_of(&r)["msg"]
        .as_str()
        .unwrap()
        .contains("underlay network create"));
    // VERSION answers what libcni asks, without root or state.
    let r = cmd(&lab, "VERSION", "", &a, &json!({"cniVersion": "1.0.0"}));
    assert_eq!(
        json_of(&r),
        json!({"cniVersion": "1.0.0", "supportedVersions": ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]})
    );
    assert_eq!(cmd(&lab, "DEL", "ctr-a", &a, &conf).code, 0);

    // A failed ADD changes nothing: an invalid configuration against the network, now empty,
    // leaves it as it was (it used to be removed and made anew by the next ADD). (DEL's
    // kernel half runs in the background: wait for it to finish first.)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !lab.inspect("cmds")["Containers"]
        .as_object()
        .unwrap()
        .is_empty()
    {
        assert!(std::time::Instant::now() < deadline, "DEL never finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let id = lab.inspect("cmds")["Id"].clone();
    let store_before = lab.store_snapshot();
    let mut invalid = conf.clone();
    invalid["mode"] = json!("bogus");
    let r = cmd(&lab, "ADD", "ctr-d", &a, &invalid);
    assert_eq!(code_of(&r), 7, "{r:?}");
    assert_eq!(lab.inspect("cmds")["Id"], id, "the network is still there");
    assert_eq!(
        lab.store_snapshot(),
        store_before,
        "and the store as it was"
    );
    // A valid change while nothing is attached remakes it in one step.
    let r = cmd(&lab, "ADD", "ctr-d", &a, &changed);
    assert_eq!(r.code, 0, "{r:?}");
    assert_ne!(lab.inspect("cmds")["Id"], id);
    assert_eq!(lab.inspect("cmds")["Options"]["macvlan_mode"], "private");
    assert_eq!(cmd(&lab, "DEL", "ctr-d", &a, &changed).code, 0);
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn another_ipam_plugin_is_delegated_to() {
    need_root!();
    if !have_reference() {
        panic!("the CNI reference plugins are missing from {REFERENCE}: run scripts/deps.sh");
    }
    let mut lab = lab("dlg");
    let data = lab.state.path().join("host-local");
    let conf = json!({"cniVersion": "1.0.0", "name": "dlg", "type": "underlay", "master": "uplink",
        "ipam": {"type": "host-local", "dataDir": data,
                 "ranges": [[{"subnet": "172.16.86.0/24", "rangeStart": "172.16.86.100", "gateway": "172.16.86.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}});
    let a = lab.add_ns("a");
    let b = lab.add_ns("b");
    let ra = json_of(&cmd(&lab, "ADD", "ctr-a", &a, &conf));
    assert_eq!(ra["ips"][0]["address"], "172.16.86.100/24", "{ra}");
    assert_eq!(ra["routes"], json!([{"dst": "0.0.0.0/0"}]));
    let rb = json_of(&cmd(&lab, "ADD", "ctr-b", &b, &conf));
    assert_eq!(rb["ips"][0]["address"], "172.16.86.101/24");
    assert!(lab
        .ip(&a, &["route"])
        .contains("default via 172.16.86.1 dev eth0"));
    assert!(lab.ping(&a, "172.16.86.101"));
    assert!(lab.ping(&a, "172.16.86.1"));
    let mut prev = conf.clone();
    prev["prevResult"] = ra.clone();
    assert_eq!(cmd(&lab, "CHECK", "ctr-a", &a, &prev).code, 0);
    // host-local holds one file per address; DEL gives them back.
    let held = || {
        std::fs::read_dir(data.join("dlg"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("172."))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(held(), 2);
    assert_eq!(cmd(&lab, "DEL", "ctr-a", &a, &conf).code, 0);
    assert_eq!(cmd(&lab, "DEL", "ctr-b", &b, &conf).code, 0);
    assert_eq!(held(), 0);
    assert_eq!(lab.inspect("dlg")["Containers"], json!({}));
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn link_in_container_puts_the_interface_on_the_containers_own_link() {
    need_root!();
    let mut lab = Lab::new("lic");
    let c = lab.add_ns("c");
    let router = lab.add_ns("router");
    // The container's own link eth1 (say, a device moved into it) leads to a router.
    common::ok(
        "ip",
        &[
            "-n", &c, "link", "add", "eth1", "type", "veth", "peer", "name", "lan0", "netns",
            &router,
        ],
    );
    lab.ip(&c, &["link", "set", "eth1", "up"]);
    lab.ip(&router, &["addr", "add", "172.16.90.1/24", "dev", "lan0"]);
    lab.ip(&router, &["link", "set", "lan0", "up"]);
    let conf = json!({"cniVersion": "1.0.0", "name": "lic", "type": "underlay",
        "master": "eth1", "linkInContainer": true,
        "ipam": {"type": "underlay", "ranges": [[{"subnet": "172.16.90.0/24", "gateway": "172.16.90.1"}]],
                 "routes": [{"dst": "0.0.0.0/0"}]}});
    let host_before = lab.host_snapshot();
    let r = json_of(&cmd(&lab, "ADD", "ctr", &c, &conf));
    assert_eq!(r["ips"][0]["address"], "172.16.90.2/24", "{r}");
    let link = lab.ip(&c, &["-d", "link", "show", "eth0"]);
    assert!(
        link.contains("eth0@eth1") && link.contains("macvlan mode bridge"),
        "{link}"
    );
    assert!(lab.ping(&c, "172.16.90.1"));
    assert_eq!(lab.host_snapshot(), host_before, "nothing on the host");
    let mut prev = conf.clone();
    prev["prevResult"] = r.clone();
    assert_eq!(cmd(&lab, "CHECK", "ctr", &c, &prev).code, 0);
    // STATUS came with spec 1.1.0: a 1.0.0 configuration does not allow it.
    let r = cmd(&lab, "STATUS", "", &c, &conf);
    assert_eq!(code_of(&r), 1, "{r:?}");
    assert!(json_of(&r)["msg"]
        .as_str()
        .unwrap()
        .starts_with("config version does not allow STATUS"));
    // Deleted behind our back: restore puts it back on the container's link.
    lab.ip(&c, &["link", "del", "eth0"]);
    let report = lab.ul(&["network", "restore"]).ok();
    assert!(report.contains("recreated eth0"), "{report}");
    assert!(lab
        .ip(&c, &["-d", "link", "show", "eth0"])
        .contains("eth0@eth1"));
    assert_eq!(cmd(&lab, "DEL", "ctr", &c, &conf).code, 0);
    assert!(settled(&lab, "lic"));
    let links = lab.ip(&c, &["-br", "link"]);
    assert!(!links.contains("eth0") && links.contains("eth1"), "{links}");
    // Without a master there is nothing to look up in the container.
    let mut no_master = conf.clone();
    no_master.as_object_mut().unwrap().remove("master");
    let r = cmd(&lab, "ADD", "ctr", &c, &no_master);
    assert_eq!(code_of(&r), 7);
    assert!(json_of(&r)["msg"]
        .as_str()
        .unwrap()
        .contains("linkInContainer needs"));
}

/// Every field a runtime or a configuration fills in, at the edges of its length: a working
/// result (deleted again) or a CNI error with its code and a message in the CNI's words, never
/// a raw I/O error, a state path or a panic.
#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn every_cni_field_at_its_edges_gets_a_result_or_a_clear_error() {
    need_root!();
    let mut lab = lab("edge");
    let a = lab.add_ns("a");
    let conf = json!({"cniVersion": "1.1.0", "name": "edges", "type": "underlay", "master": "uplink",
        "ipam": {"type": "underlay", "ranges": [[{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}]]}});
    let len = |n: usize| "a".repeat(n);
    let values = |max: usize| vec![String::new(), len(1), len(max), len(max + 1), len(5000)];
    // (what is varied, the value) -> (configuration, container id, ifname, CNI_ARGS)
    let mut cases: Vec<(String, Value, String, String, String)> = Vec::new();
    let base = || {
        (
            conf.clone(),
            "ctr-edge".to_string(),
            "eth0".to_string(),
            String::new(),
        )
    };
    for v in values(120) {
        let (mut c, id, ifn, args) = base();
        c["name"] = json!(v);
        cases.push((format!("name <{}>", v.len()), c, id, ifn, args));
    }
    for v in values(15) {
        let (mut c, id, ifn, args) = base();
        c["master"] = json!(v);
        cases.push((format!("master <{}>", v.len()), c, id, ifn, args));
        let (c, id, _, args) = base();
        cases.push((format!("CNI_IFNAME <{}>", v.len()), c, id, v.clone(), args));
    }
    for v in values(100) {
        let (c, _, ifn, args) = base();
        cases.push((
            format!("CNI_CONTAINERID <{}>", v.len()),
            c,
            v.clone(),
            ifn,
            args,
        ));
    }
    for (k, v) in [
        ("IP", len(5000)),
        ("MAC", len(5000)),
        ("IP", String::new()),
        ("K8S_POD_NAME", len(5000)),
    ] {
        let (c, id, ifn, _) = base();
        cases.push((
            format!("CNI_ARGS {k}=<{}>", v.len()),
            c,
            id,
            ifn,
            format!("{k}={v}"),
        ));
    }
    for v in [-1i64, 0, 67, 68, 1500, 1501, 70000] {
        let (mut c, id, ifn, args) = base();
        c["mtu"] = json!(v);
        cases.push((format!("mtu {v}"), c, id, ifn, args));
    }
    for v in ["", "10.0.0.0/33", "0.0.0.0/0", "aaaa"] {
        let (mut c, id, ifn, args) = base();
        c["ipam"]["ranges"] = json!([[{"subnet": v}]]);
        cases.push((format!("subnet {v:?}"), c, id, ifn, args));
    }
    let state = lab.state.path().display().to_string();
    let mut failures = Vec::new();
    for (what, c, id, ifname, args) in &cases {
        let call_with = |command: &str| {
            call(
                &lab,
                common::bin(),
                &Call {
                    command,
                    container: id,
                    netns: format!("/run/netns/{a}"),
                    ifname,
                    args,
                },
                c,
            )
        };
        let r = call_with("ADD");
        if std::env::var_os("EDGES_SHOW").is_some() {
            eprintln!(
                "{what} => {} {}",
                r.code,
                r.stdout
                    .replace('\n', " ")
                    .chars()
                    .take(300)
                    .collect::<String>()
            );
        }
        if r.code == 0 {
            let d = call_with("DEL");
            assert_eq!(d.code, 0, "{what}: DEL after ADD: {d:?}");
            // The network an ADD made stays after its last DEL, as the reference plugins'
            // state does: removed here so that each case starts alike.
            let name = c["name"].as_str().unwrap();
            assert!(settled(&lab, name));
            lab.ul(&["network", "rm", name]).ok();
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&r.stdout) else {
            failures.push(format!("{what}: not a CNI error: {r:?}"));
            continue;
        };
        let msg = v["msg"].as_str().unwrap_or_default();
        if v["code"].as_u64().is_none() || msg.is_empty() {
            failures.push(format!("{what}: no code or message: {}", r.stdout));
        } else if let Some(w) = common::RAW_ERRORS.iter().find(|w| msg.contains(**w)) {
            failures.push(format!("{what}: raw error ({w}): {msg}"));
        } else if msg.contains(&state) || msg.contains("--") || msg.contains("-o parent") {
            failures.push(format!("{what}: a state path or CLI flag: {msg}"));
        }
    }
    assert!(cases.len() >= 30, "{}", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    for net in lab
        .ul(&["network", "ls", "--format", "{{.Name}}"])
        .ok()
        .lines()
    {
        assert!(settled(&lab, net), "{net} keeps an endpoint");
    }
}
