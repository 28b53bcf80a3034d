//! Every field a user can type, at the edges of its length (empty, one character, the longest
//! allowed, one past it, far past it) and at odd values: each gets a working result or a clear
//! error in the CLI's words, never a raw I/O error, a state-file path or a panic.
//! `EDGES_SHOW=1 cargo test --test edges -- --nocapture` prints every outcome.

mod common;

use common::Lab;

/// A field: the command with `@V` where the value goes, the values to try, and whether a
/// success leaves a network (`rm`) or an attachment (`disconnect`) to undo.
struct Field {
    args: &'static [&'static str],
    values: Vec<String>,
    undo: Undo,
}

#[derive(Clone, Copy)]
enum Undo {
    Nothing,
    RemoveNetwork,
    Disconnect,
}

/// Values of edge lengths, of `z`: never a hex digit, so no value is a prefix of a network
/// id (`network rm a` would remove pub_net when its id began with a).
fn lengths(max: usize) -> Vec<String> {
    [
        "".to_string(),
        "z".into(),
        "z".repeat(max),
        "z".repeat(max + 1),
        "z".repeat(5000),
    ]
    .into()
}

fn odd(values: &[&str]) -> Vec<String> {
    values
        .iter()
        .map(|v| v.to_string())
        .chain(["".into(), "z".repeat(5000)])
        .collect()
}

#[rustfmt::skip]
fn fields() -> Vec<Field> {
    use Undo::*;
    let f = |args, values, undo| Field { args, values, undo };
    vec![
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "@V"], lengths(120), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "--label", "@V=v", "edge"], lengths(120), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "--label", "k=@V", "edge"], lengths(120), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "--aux-address", "@V=10.9.0.5", "edge"], lengths(120), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=@V", "edge"], lengths(15), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "-o", "mtu=@V", "edge"], odd(&["0", "67", "68", "1500", "1501", "-1", "65536", "99999999999999999999"]), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "-o", "parent=eth0", "-o", "macvlan_mode=@V", "edge"], odd(&["bridge", "private", "vepa", "passthru", "BRIDGE"]), RemoveNetwork),
        f(&["network", "create", "--subnet=@V", "-o", "parent=eth0", "edge"], odd(&["10.9.0.0/32", "10.9.0.0/31", "10.9.0.0/30", "10.9.0.0/0", "0.0.0.0/0", "2001:db8::/127", "2001:db8::/128", "10.9.0.0/-1"]), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "--gateway=@V", "-o", "parent=eth0", "edge"], odd(&["10.9.0.0", "10.9.0.255", "10.9.0.1", "10.9.1.1", "10.9.0.1/24"]), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "--ip-range=@V", "-o", "parent=eth0", "edge"], odd(&["10.9.0.0/24", "10.9.0.128/25", "10.9.0.255/32", "10.9.0.0/16"]), RemoveNetwork),
        f(&["network", "create", "--subnet=10.9.0.0/24", "--ipam-opt", "@V=x", "-o", "parent=eth0", "edge"], lengths(120), RemoveNetwork),
        f(&["network", "connect", "pub_net", "@V"], lengths(255), Nothing),
        f(&["network", "connect", "--ifname", "@V", "pub_net", "@C"], lengths(15), Disconnect),
        f(&["network", "connect", "--alias", "@V", "pub_net", "@C"], lengths(253), Disconnect),
        f(&["network", "connect", "--ip", "@V", "pub_net", "@C"], odd(&["172.16.86.0", "172.16.86.255", "172.16.86.1", "172.16.87.5", "172.16.86.5/24", "::1"]), Disconnect),
        f(&["network", "connect", "--mac-address", "@V", "pub_net", "@C"], odd(&["02:00:00:00:00:01", "02-00-00-00-00-02", "01:00:5e:00:00:01", "00:00:00:00:00:00", "02:00:00:00:00", "02:00:00:00:00:00:01"]), Disconnect),
        f(&["run", "--net", "pub_net", "--name", "@V", "true"], lengths(253), Nothing),
        f(&["run", "--net", "pub_net", "--dns-search", "@V", "true"], lengths(63), Nothing),
        f(&["run", "--net", "pub_net", "--dns-option", "@V", "true"], lengths(255), Nothing),
        f(&["run", "--net", "pub_net", "--dns", "@V", "true"], odd(&["172.16.86.1", "::1", "1.2.3"]), Nothing),
        f(&["network", "ls", "--filter", "name=@V"], lengths(120), Nothing),
        f(&["network", "ls", "--format", "@V"], odd(&["{{.Name}}", "{{", "}}", "table", "{{json .}}"]), Nothing),
        f(&["network", "inspect", "-f", "@V", "pub_net"], odd(&["{{.Name}}", "{{", "{{.IPAM.Config}}"]), Nothing),
        f(&["network", "rm", "@V"], lengths(120), Nothing),
    ]
}

#[test]
#[ignore = "needs root (network namespaces): scripts/test.sh runs it"]
fn every_field_at_its_edges_gets_a_result_or_a_clear_error() {
    need_root!();
    let mut lab = Lab::guide();
    lab.guide_net("pub_net", &[]);
    let c = lab.container("c");
    let state = lab.state.path().display().to_string();
    let mut failures = Vec::new();
    let mut runs = 0;
    for f in fields() {
        for v in &f.values {
            let args: Vec<String> = f
                .args
                .iter()
                .map(|a| a.replace("@V", v).replace("@C", &c))
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let r = lab.ul(&args);
            runs += 1;
            let shown = |a: &[&str]| {
                a.iter()
                    .map(|s| {
                        if s.len() > 40 {
                            format!("<{} chars>", s.len())
                        } else {
                            s.to_string()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            if std::env::var_os("EDGES_SHOW").is_some() {
                eprintln!(
                    "{} => {} {}",
                    shown(&args),
                    r.code,
                    r.stderr
                        .lines()
                        .next()
                        .unwrap_or("")
                        .chars()
                        .take(150)
                        .collect::<String>()
                );
            }
            if r.code == 0 {
                match f.undo {
                    Undo::Nothing => {}
                    Undo::RemoveNetwork => {
                        let name = args.last().unwrap().to_string();
                        lab.ul(&["network", "rm", &name]).ok();
                    }
                    Undo::Disconnect => {
                        lab.ul(&["network", "disconnect", "pub_net", &c]).ok();
                    }
                }
                continue;
            }
            let err = &r.stderr;
            if let Some(w) = common::RAW_ERRORS.iter().find(|w| err.contains(**w)) {
                failures.push(format!("{}: raw error ({w}): {err}", shown(&args)));
            } else if err.contains(&state) {
                failures.push(format!("{}: names the state: {err}", shown(&args)));
            } else if !err.starts_with("Error: ") && !err.starts_with("error: ") {
                failures.push(format!("{}: not an error message: {err:?}", shown(&args)));
            } else if err.len() > 12_000 {
                failures.push(format!("{}: a {}-byte message", shown(&args), err.len()));
            }
        }
    }
    assert!(runs >= 100, "{runs}");
    assert!(
        failures.is_empty(),
        "{} of {runs} wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Nothing was left behind by the ones that worked.
    assert_eq!(
        lab.ul(&["network", "ls", "--format", "{{.Name}}"]).ok(),
        "pub_net\n"
    );
    assert!(lab.inspect("pub_net")["Containers"]
        .as_object()
        .unwrap()
        .is_empty());
}
