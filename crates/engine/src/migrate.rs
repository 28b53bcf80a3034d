//! The project's own earlier layouts, in one place.
//!
//! Networks stored by earlier versions kept their endpoints and allocations inside the
//! network's document. They are read as they are (`docs::assemble` marks them, and the reads
//! of an endpoint or a count look inside the document for them), so that `ls`, `inspect` and a
//! CNI CHECK work on them, and `restore` lays each out anew, once (the daemon's start and the
//! boot unit run it). A change to one that has not been laid out anew is refused, naming the
//! command, so that no write path has to know the old layout.

use crate::error::{Error, Result};
use crate::model::Network;

/// Whether `restore` must lay the network out anew.
pub(crate) fn needs_layout(net: &Network) -> bool {
    net.legacy
}

/// Refuse a change to a network still in an earlier version's layout.
pub(crate) fn refuse_unmigrated(net: &Network) -> Result<()> {
    if !needs_layout(net) {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "network {} is stored in the layout of an earlier version of underlay: run `underlay network restore` once to lay it out anew (the daemon does at its start)",
        net.name
    )))
}

/// What restore reports when it laid `net` out anew.
pub(crate) fn laid_out(net: &Network) -> String {
    format!(
        "network {}: laid out anew (stored by an earlier version, with its endpoints inside its document)",
        net.name
    )
}
