//! `underlay run --dns/--dns-search/--dns-option`: the command sees a resolv.conf written the
//! way Docker writes one from those flags (search, then nameservers, then options; what is not
//! given is taken from the host's), bind-mounted over /etc/resolv.conf in a mount namespace of
//! its own, as `ip netns exec` does with /etc/netns. The host's file is never touched.

use std::ffi::CString;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const HOST_RESOLV: &str = "/etc/resolv.conf";
/// resolv(5) reads at most this many nameservers.
const MAX_NAMESERVERS: usize = 3;
/// A domain name's longest spelling.
const DOMAIN_MAX: usize = 253;

#[derive(Debug, Default, PartialEq)]
pub struct Resolv {
    pub nameservers: Vec<IpAddr>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

impl Resolv {
    /// None when no DNS flag is given (the command keeps the host's file).
    pub fn from_args(
        dns: &[String],
        search: &[String],
        options: &[String],
    ) -> Result<Option<Resolv>, String> {
        if dns.is_empty() && search.is_empty() && options.is_empty() {
            return Ok(None);
        }
        let given = Resolv {
            nameservers: dns
                .iter()
                .map(|d| nameserver(d))
                .collect::<Result<_, _>>()?,
            search: search.iter().map(|d| domain(d)).collect::<Result<_, _>>()?,
            options: options
                .iter()
                .map(|o| option(o))
                .collect::<Result<_, _>>()?,
        };
        if given.nameservers.len() > MAX_NAMESERVERS {
            eprintln!(
                "Warning: {} --dns servers given; resolvers use only the first {MAX_NAMESERVERS}",
                given.nameservers.len()
            );
        }
        let host = std::fs::read_to_string(HOST_RESOLV).unwrap_or_default();
        Ok(Some(given.or_host(&parse(&host))))
    }

    /// What is not given comes from the host's file, except nameservers on the host's
    /// loopback, which the command's namespace does not reach.
    fn or_host(mut self, host: &Resolv) -> Resolv {
        if self.nameservers.is_empty() {
            self.nameservers = host
                .nameservers
                .iter()
                .copied()
                .filter(|a| !a.is_loopback())
                .collect();
            if self.nameservers.is_empty() {
                eprintln!("Warning: the host's resolv.conf has no nameserver the namespace can reach (loopback ones are left out); give --dns");
            }
        }
        if self.search.is_empty() {
            self.search = host.search.clone();
        }
        if self.options.is_empty() {
            self.options = host.options.clone();
        }
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Docker writes no search line for the root domain alone.
        if !self.search.is_empty() && self.search != ["."] {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        for n in &self.nameservers {
            out.push_str(&format!("nameserver {n}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }

    /// The file to mount: world-readable, removed when dropped.
    pub fn write(&self) -> Result<tempfile::NamedTempFile, String> {
        use std::os::unix::fs::PermissionsExt;
        let fail = |e: io::Error| format!("cannot write the command's resolv.conf: {e}");
        let mut f = tempfile::Builder::new()
            .prefix("underlay-resolv.")
            .tempfile()
            .map_err(fail)?;
        f.write_all(self.render().as_bytes()).map_err(fail)?;
        f.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(fail)?;
        Ok(f)
    }
}

fn parse(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => r
                .nameservers
                .extend(words.next().and_then(|a| a.parse::<IpAddr>().ok())),
            Some("search") | Some("domain") => r.search = words.map(str::to_string).collect(),
            Some("options") => r.options.extend(words.map(str::to_string)),
            _ => {}
        }
    }
    r
}

fn nameserver(v: &str) -> Result<IpAddr, String> {
    v.parse().map_err(|_| {
        format!("invalid --dns {v:?}: expected an IP address such as 172.16.86.1 or 2001:db8::53")
    })
}

/// A search domain as Docker takes it: labels of letters, digits and inner hyphens, or ".".
fn domain(v: &str) -> Result<String, String> {
    let name = v.strip_suffix('.').unwrap_or(v);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if v == "." || (name.len() <= DOMAIN_MAX && name.split('.').all(label_ok)) {
        return Ok(v.to_string());
    }
    Err(format!(
        "invalid --dns-search {v:?}: expected a domain such as example.com (labels of letters, digits and inner hyphens, at most {DOMAIN_MAX} characters), or ."
    ))
}

fn option(v: &str) -> Result<String, String> {
    if !v.is_empty() && !v.chars().any(char::is_whitespace) && v.len() <= 255 {
        return Ok(v.to_string());
    }
    Err(format!(
        "invalid --dns-option {v:?}: expected one resolver option such as ndots:2, edns0 or timeout:1"
    ))
}

/// Between fork and exec: a mount namespace of the command's own (mounts of the host still
/// reach it; none of its own goes back), with `file` over /etc/resolv.conf.
pub fn mount_on_spawn(cmd: &mut Command, file: &Path) {
    let src = CString::new(file.as_os_str().as_bytes()).unwrap_or_default();
    let dst = CString::new(HOST_RESOLV).unwrap_or_default();
    let root = CString::new("/").unwrap_or_default();
    // SAFETY: unshare and mount are system calls on memory prepared before the fork; nothing
    // is allocated in the child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(io::Error::last_os_error());
            }
            let none = std::ptr::null();
            let flags = libc::MS_REC | libc::MS_SLAVE;
            if libc::mount(
                none,
                root.as_ptr(),
                none,
                flags,
                none as *const libc::c_void,
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            if libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                none,
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn written_as_docker_writes_it() {
        let given = Resolv {
            nameservers: vec!["172.16.86.1".parse().unwrap()],
            search: strings(&["example.com"]),
            options: strings(&["ndots:2"]),
        };
        assert_eq!(
            given.render(),
            "search example.com\nnameserver 172.16.86.1\noptions ndots:2\n"
        );
        let host = parse("# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.2\nsearch lan corp\noptions edns0\n");
        let only_search = Resolv {
            search: strings(&["."]),
            ..Default::default()
        };
        assert_eq!(
            only_search.or_host(&host).render(),
            "nameserver 10.0.0.2\noptions edns0\n"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = Resolv::from_args(&strings(&["dns.example"]), &[], &[]).unwrap_err();
        assert!(
            e.contains("invalid --dns \"dns.example\": expected an IP address"),
            "{e}"
        );
        for bad in ["-bad.com", "a..b", "under_score.com", &"a".repeat(64)] {
            let e = Resolv::from_args(&[], &strings(&[bad]), &[]).unwrap_err();
            assert!(e.contains(&format!("invalid --dns-search {bad:?}")), "{e}");
        }
        assert!(domain("example.com.").is_ok() && domain(".").is_ok());
        let e = Resolv::from_args(&[], &[], &strings(&["ndots: 2"])).unwrap_err();
        assert!(e.contains("invalid --dns-option \"ndots: 2\""), "{e}");
    }
}
