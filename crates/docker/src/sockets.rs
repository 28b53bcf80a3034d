//! The plugin sockets: bound by the daemon (mode 0660, owned by root and the configured
//! group, put in place atomically so Docker never finds one with other permissions), or
//! handed over by systemd (socket activation). A socket's file name says what it serves.

use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use engine::Driver;

use crate::api::Role;

/// The socket of the macvlan network driver (`-d underlay-macvlan`).
pub const MACVLAN_SOCKET: &str = "underlay-macvlan.sock";
/// The socket of the ipvlan network driver (`-d underlay-ipvlan`).
pub const IPVLAN_SOCKET: &str = "underlay-ipvlan.sock";
/// The socket of the IPAM driver (`--ipam-driver underlay`); in a managed plugin, the one
/// socket, serving a network driver as well.
pub const IPAM_SOCKET: &str = "underlay.sock";

/// A listening socket and what it serves.
pub struct Listener {
    pub role: Role,
    pub path: PathBuf,
    pub socket: UnixListener,
    /// The daemon made the file (and removes it when it stops); false for systemd's.
    pub bound_here: bool,
    /// (st_dev, st_ino) of the file when bound, so only our own file is removed.
    pub identity: (u64, u64),
}

impl Listener {
    /// The file name, for logs.
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Remove the socket file if it is still the one bound here.
    pub fn remove_file(&self) {
        if !self.bound_here {
            return;
        }
        if let Ok(m) = std::fs::symlink_metadata(&self.path) {
            if (m.dev(), m.ino()) == self.identity {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

/// What a socket called `name` serves; `managed` is the network driver of a managed plugin,
/// whose single socket serves it and the IPAM driver.
pub fn role_of(name: &str, managed: Option<Driver>) -> Option<Role> {
    match (name, managed) {
        (IPAM_SOCKET, Some(driver)) => Some(Role {
            network: Some(driver),
            ipam: true,
        }),
        (IPAM_SOCKET, None) => Some(Role::IPAM),
        (MACVLAN_SOCKET, None) => Some(Role::MACVLAN),
        (IPVLAN_SOCKET, None) => Some(Role::IPVLAN),
        _ => None,
    }
}

/// The sockets to bind in `dir`.
pub fn wanted(managed: Option<Driver>) -> Vec<&'static str> {
    match managed {
        Some(_) => vec![IPAM_SOCKET],
        None => vec![MACVLAN_SOCKET, IPVLAN_SOCKET, IPAM_SOCKET],
    }
}

/// Bind `dir/name` with mode 0660, owner root and group `gid`.
pub fn bind(dir: &Path, name: &str, role: Role, gid: u32) -> Result<Listener, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the plugin directory {}: {e}", dir.display()))?;
    let path = dir.join(name);
    match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot inspect {}: {e}", path.display())),
        Ok(m) if !m.file_type().is_socket() => {
            return Err(format!(
                "{} exists and is not a socket: remove it, or choose another --plugin-dir",
                path.display()
            ))
        }
        Ok(_) => match UnixStream::connect(&path) {
            Ok(_) => {
                return Err(format!(
                    "{} is served by another process (is an underlay daemon running already?): stop it first",
                    path.display()
                ))
            }
            // Nobody listens: a socket left by a daemon that died.
            Err(_) => std::fs::remove_file(&path)
                .map_err(|e| format!("cannot remove the stale socket {}: {e}", path.display()))?,
        },
    }
    // Bound under a temporary name, given its owner and mode, then renamed into place.
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot {what} {}: {e}", path.display())
    };
    let socket = UnixListener::bind(&tmp).map_err(|e| fail("bind", &e))?;
    nix::unistd::chown(&tmp, Some(nix::unistd::Uid::from_raw(0)), Some(gid.into()))
        .map_err(|e| fail("set the owner of", &e))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| fail("set the mode of", &e))?;
    std::fs::rename(&tmp, &path).map_err(|e| fail("put in place", &e))?;
    let m = std::fs::symlink_metadata(&path).map_err(|e| fail("inspect", &e))?;
    Ok(Listener {
        role,
        path,
        socket,
        bound_here: true,
        identity: (m.dev(), m.ino()),
    })
}

/// The sockets systemd passed (LISTEN_FDS), each recognised by its file name. `None` when
/// the daemon was not socket-activated.
pub fn activated(managed: Option<Driver>) -> Result<Option<Vec<Listener>>, String> {
    let fds: Vec<RawFd> = match sd_notify::listen_fds() {
        Ok(fds) => fds.collect(),
        Err(e) => return Err(format!("cannot take the sockets systemd passed: {e}")),
    };
    if fds.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for fd in fds {
        use nix::sys::socket::{getsockopt, sockopt};
        // SAFETY: systemd hands these descriptors to this process, which owns them from now on.
        let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        let stream = getsockopt(&owned, sockopt::SockType)
            .is_ok_and(|t| t == nix::sys::socket::SockType::Stream);
        let socket = UnixListener::from(owned);
        let path = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(Path::to_path_buf))
            .filter(|_| stream)
            .ok_or_else(|| {
                format!("socket {fd} from systemd is not a unix stream socket bound to a path (ListenStream=/run/docker/plugins/NAME.sock)")
            })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let role = role_of(&name, managed).ok_or_else(|| {
            format!(
                "socket {} from systemd has an unknown name: underlay serves {}",
                path.display(),
                wanted(managed).join(", ")
            )
        })?;
        out.push(Listener {
            role,
            path,
            socket,
            bound_here: false,
            identity: (0, 0),
        });
    }
    Ok(Some(out))
}

/// A group name or number as a gid.
pub fn group_id(group: &str) -> Result<u32, String> {
    if let Ok(n) = group.parse::<u32>() {
        return Ok(n);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(format!(
            "invalid --socket-group {group:?}: no such group (give a group name or number)"
        )),
        Err(e) => Err(format!("cannot look up group {group:?}: {e}")),
    }
}
