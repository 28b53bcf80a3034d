//! A script written for `docker network` runs unchanged: filters, `-q`, `--no-trunc`, Go
//! templates for `ls` and `inspect`, `rm -f`, `prune --filter`, `connect --alias`,
//! `create --attachable --ipam-driver --ipam-opt`. Expected output is what Debian's Docker
//! 20.10 printed for the same commands.

mod common;

use common::Lab;

/// Two networks on the guide's parent: `lan` (labels, one container) and `spare` (none).
fn two_networks() -> (Lab, String) {
    let mut lab = Lab::guide();
    lab.guide_net("lan", &["--label", "com.example.a=1", "--label", "b=two"]);
    lab.ul(&[
        "network",
        "create",
        "--subnet=10.77.0.0/24",
        "-o",
        "parent=eth0",
        "spare",
    ])
    .ok();
    let c1 = lab.container("c1");
    lab.ul(&[
        "network", "connect", "--alias", "web", "--alias", "db.local", "lan", &c1,
    ])
    .ok();
    (lab, c1)
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn ls_filters_as_docker_does() {
    need_root!();
    let (lab, _c1) = two_networks();
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["network", "ls", "--format", "{{.Name}}"];
        a.extend_from_slice(args);
        lab.ul(&a).ok().lines().map(str::to_string).collect()
    };
    assert_eq!(names(&[]), ["lan", "spare"]);
    // Values of one key are alternatives; name and id are regular expressions.
    assert_eq!(names(&["--filter", "name=an"]), ["lan"]);
    assert_eq!(
        names(&["-f", "name=^sp", "-f", "name=^la"]),
        ["lan", "spare"]
    );
    assert_eq!(
        names(&["--filter", "name=[", "--filter", "name=spare"]),
        ["spare"]
    );
    let lan_id = lab.inspect("lan")["Id"].as_str().unwrap().to_string();
    assert_eq!(
        names(&["--filter", &format!("id={}", &lan_id[..5])]),
        ["lan"]
    );
    // Labels must all hold; different keys must all match.
    assert_eq!(names(&["--filter", "label=b"]), ["lan"]);
    assert_eq!(
        names(&["--filter", "label=b=two", "--filter", "label=com.example.a"]),
        ["lan"]
    );
    assert!(names(&["--filter", "label=b=three"]).is_empty());
    assert!(names(&["--filter", "label=b", "--filter", "name=spare"]).is_empty());
    // Dangling: no container attached.
    assert_eq!(names(&["--filter", "dangling=true"]), ["spare"]);
    assert_eq!(names(&["--filter", "dangling=0"]), ["lan"]);
    assert_eq!(
        names(&["--filter", "driver=macvlan", "--filter", "scope=local"]),
        ["lan", "spare"]
    );
    assert!(names(&["--filter", "driver=ipvlan"]).is_empty());
    assert_eq!(names(&["--filter", "type=custom"]), ["lan", "spare"]);
    assert!(names(&["--filter", "type=builtin"]).is_empty());
    // Nothing selected: the table still has its header, as Docker's.
    let empty = lab.ul(&["network", "ls", "--filter", "name=nomatch"]).ok();
    assert_eq!(empty, "NETWORK ID   NAME      DRIVER    SCOPE\n");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn ls_formats_as_docker_does() {
    need_root!();
    let (lab, _c1) = two_networks();
    let table = lab.ul(&["network", "ls"]).ok();
    let rows = lines(&table);
    assert_eq!(rows[0], "NETWORK ID     NAME      DRIVER    SCOPE");
    assert!(rows[1].ends_with("   lan       macvlan   local"), "{table}");
    assert_eq!(rows[1].find("lan"), Some(15), "{table}");

    let quiet = lab.ul(&["network", "ls", "-q"]).ok();
    assert!(lines(&quiet).iter().all(|l| l.len() == 12), "{quiet}");
    let full = lab.ul(&["network", "ls", "-q", "--no-trunc"]).ok();
    assert!(lines(&full).iter().all(|l| l.len() == 64), "{full}");
    let ids = lab
        .ul(&["network", "ls", "--no-trunc", "--format", "{{.ID}}"])
        .ok();
    assert_eq!(ids, full);

    let t = lab
        .ul(&[
            "network",
            "ls",
            "--format",
            r#"table {{.Name}}\t{{.Label "com.example.a"}}\t{{.Labels}}\t{{upper .Driver}}"#,
        ])
        .ok();
    assert_eq!(
        t,
        "NAME      a         LABELS                  DRIVER\n\
         lan       1         b=two,com.example.a=1   MACVLAN\n\
         spare                                       MACVLAN\n"
    );
    for format in ["json", "{{json .}}"] {
        let out = lab.ul(&["network", "ls", "--format", format]).ok();
        let first: serde_json::Value = serde_json::from_str(lines(&out)[0]).unwrap();
        let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "CreatedAt",
                "Driver",
                "ID",
                "IPv6",
                "Internal",
                "Labels",
                "Name",
                "Scope"
            ]
        );
        assert_eq!(first["Name"], "lan");
        assert_eq!(first["Labels"], "b=two,com.example.a=1");
        // Go's time.String(), as Docker prints it.
        let created = first["CreatedAt"].as_str().unwrap();
        assert!(
            created.ends_with(" +0000 UTC") && created.contains(' '),
            "{created}"
        );
    }
    let raw = lab
        .ul(&["network", "ls", "--format", "raw", "--filter", "name=spare"])
        .ok();
    assert!(
        raw.starts_with("network_id: ")
            && raw.contains("\nname: spare\ndriver: macvlan\nscope: local\n\n"),
        "{raw}"
    );
    let custom = lab
        .ul(&[
            "network",
            "ls",
            "--format",
            r"{{.Name}}\t{{.Internal}}:{{.IPv6}}",
        ])
        .ok();
    assert_eq!(custom, "lan\tfalse:false\nspare\tfalse:false\n");
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn inspect_formats_and_connect_aliases() {
    need_root!();
    let (lab, c1) = two_networks();
    let out = lab
        .ul(&[
            "network",
            "inspect",
            "-f",
            r#"{{.Name}} {{index .Options "parent"}} {{range .IPAM.Config}}{{.Subnet}}{{end}} {{index .Labels "b"}} {{len .Containers}}"#,
            "lan",
            "spare",
        ])
        .ok();
    assert_eq!(
        out,
        "lan eth0 172.16.86.0/24 two 1\nspare eth0 10.77.0.0/24  0\n"
    );
    // `{{json .}}` is the inspect document itself, in Docker's order of fields.
    let json = lab
        .ul(&["network", "inspect", "--format", "{{json .}}", "lan"])
        .ok();
    let doc: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(doc, lab.inspect("lan"));
    assert!(json.starts_with(r#"{"Name":"lan","Id":""#), "{json}");
    let plain = lab
        .ul(&["network", "inspect", "--format", "json", "lan"])
        .ok();
    assert_eq!(plain, lab.ul(&["network", "inspect", "lan"]).ok());

    let aliases = lab
        .ul(&[
            "network",
            "inspect",
            "-f",
            "{{range .Containers}}{{.Name}}: {{join .Aliases \",\"}}{{end}}",
            "lan",
        ])
        .ok();
    assert_eq!(aliases, format!("{c1}: web,db.local\n"));
    // A missing network is named after the ones found.
    let r = lab.ul(&["network", "inspect", "-f", "{{.Name}}", "lan", "nosuch"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, "lan\n"));
    assert!(
        r.stderr.contains("network nosuch not found"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn create_records_ipam_and_attachable_flags() {
    need_root!();
    let lab = Lab::guide();
    let r = lab.ul(&[
        "network",
        "create",
        "--attachable",
        "--ipam-driver",
        "default",
        "--ipam-opt",
        "foo=bar",
        "--subnet=172.16.86.0/24",
        "--gateway=172.16.86.1",
        "-o",
        "parent=eth0",
        "lan",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Warning: --ipam-opt foo recorded; the default IPAM driver takes no options"),
        "{}",
        r.stderr
    );
    let doc = lab.inspect("lan");
    assert_eq!(doc["Attachable"], true);
    assert_eq!(doc["IPAM"]["Driver"], "default");
    assert_eq!(doc["IPAM"]["Options"], serde_json::json!({"foo": "bar"}));
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn rm_force_and_prune_filters() {
    need_root!();
    let (lab, _c1) = two_networks();
    // -f: a network that does not exist is no error; one that cannot go still is.
    let r = lab.ul(&["network", "rm", "-f", "nosuch"]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    let r = lab.ul(&["network", "rm", "--force", "nosuch", "lan"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("has active endpoints"), "{}", r.stderr);

    for (name, label, subnet) in [
        ("old1", "keep=no", "10.78.0.0/24"),
        ("old2", "keep=yes", "10.79.0.0/24"),
    ] {
        lab.ul(&[
            "network",
            "create",
            "--subnet",
            subnet,
            "-o",
            "parent=eth0",
            "--label",
            label,
            name,
        ])
        .ok();
    }
    let names = || lab.ul(&["network", "ls", "--format", "{{.Name}}"]).ok();
    // Created just now: not older than an hour, so `until=1h` keeps everything.
    let r = lab
        .ul(&["network", "prune", "-f", "--filter", "until=1h"])
        .ok();
    assert_eq!(r, "");
    assert_eq!(names(), "lan\nold1\nold2\nspare\n");
    let r = lab
        .ul(&["network", "prune", "-f", "--filter", "label=keep=no"])
        .ok();
    assert_eq!(r, "Deleted Networks:\nold1\n");
    let r = lab
        .ul(&[
            "network",
            "prune",
            "-f",
            "--filter",
            "label!=keep",
            "--filter",
            "until=-1m",
        ])
        .ok();
    assert_eq!(r, "Deleted Networks:\nspare\n");
    assert_eq!(names(), "lan\nold2\n");
}

#[test]
fn version_prints_and_formats() {
    let run = |args: &[&str]| {
        std::process::Command::new(common::bin())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("underlay:\n Version:            "),
        "{text}"
    );
    assert!(
        text.contains(" CNI versions:       0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0"),
        "{text}"
    );
    let out = run(&["version", "--format", "{{.Version}}/{{.Os}}"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}/linux\n", env!("CARGO_PKG_VERSION"))
    );
    let out = run(&["version", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["PluginApis"],
        serde_json::json!(["NetworkDriver", "IpamDriver"])
    );
    let out = run(&["version", "--format", "{{.Nope}}"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid --format \"{{.Nope}}\"") && err.contains(".Version, .Os"),
        "{err}"
    );
}
