//! A throwaway network namespace for `underlay run`: created without touching the caller's
//! namespace, alive while this handle (an open fd) lives, entered by a child before exec.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use netlink::{LinkChange, NsRef};

use crate::error::{kernel_reason, Error, Result};
use crate::Engine;

pub struct Sandbox {
    file: File,
    path: PathBuf,
}

impl Sandbox {
    pub fn new() -> io::Result<Self> {
        let file = netlink::netns::new_netns()?;
        let path = netlink::netns::fd_path(&file);
        Ok(Self { file, path })
    }

    /// `/proc/<pid>/fd/<n>`: names the namespace for this process and for others.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Make `cmd` enter this namespace between fork and exec.
    pub fn enter_on_spawn(&self, cmd: &mut Command) {
        netlink::netns::enter_on_spawn(&self.file, cmd);
    }
}

impl Engine {
    /// Bring `lo` up in the namespace at `path` (a fresh namespace has it down).
    pub fn loopback_up(&self, path: &Path) -> Result<()> {
        let ns = NsRef::Path(path.to_path_buf());
        let lo = self
            .nl
            .link_by_name(&ns, "lo")
            .map_err(|e| Error::kernel_from(format!("cannot find lo: {}", kernel_reason(&e)), e))?
            .ok_or_else(|| Error::kernel("the namespace has no loopback link"))?;
        let up = LinkChange {
            up: Some(true),
            ..Default::default()
        };
        self.nl.link_set(&ns, lo.index, &up).map_err(|e| {
            Error::kernel_from(format!("cannot bring lo up: {}", kernel_reason(&e)), e)
        })
    }
}
