//! Networks a runtime declares by a configuration (CNI): made on the first attach, remade
//! when the configuration changed and nothing is attached, removed with their last
//! attachment when underlay made their parent or the attach that made them failed. The
//! network carries a fingerprint of the configuration as a label; any of the fingerprints a
//! configuration has means it was made from it. Every step tolerates the same configuration's
//! other attaches and detaches running at once: a step that lost a race looks again, a few
//! times, before it gives up with a clash a door can answer "try again" to.

use crate::error::{Clash, Error, Kind, Result};
use crate::{AttachRequest, Attached, CreateRequest, Engine, NetState, Network};

/// How often an attach looks again after a concurrent change before it gives up.
const ROUNDS: usize = 8;

/// The label that holds the fingerprint of the configuration a declared network was made
/// from.
pub const DECLARED_LABEL: &str = "underlay.cni.config";

/// A network as a configuration declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The network as the configuration describes it now (its name is the configuration's).
    pub create: CreateRequest,
    /// Any of these in [`DECLARED_LABEL`]: the network was made from this configuration.
    pub fingerprints: Vec<String>,
}

impl Declared {
    /// Whether `net` was made from this configuration.
    pub(crate) fn made_it(&self, net: &Network) -> bool {
        net.labels
            .get(DECLARED_LABEL)
            .is_some_and(|f| self.fingerprints.contains(f))
    }
}

impl Engine {
    /// Attach `req` to the network `req.declared` describes, making or remaking the network
    /// first where it is missing or was made from another configuration. A network this call
    /// made goes again when the attach fails.
    pub(crate) fn attach_declared(&self, req: &AttachRequest) -> Result<Attached> {
        let declared = req.declared.as_deref().expect("a declared network");
        let (outcome, made) = self.connect_declared(declared, req);
        if outcome.is_err() && made {
            self.remove_declared_if_unused(&declared.create.name, true);
        }
        outcome
    }

    /// The attachment, and whether this call made the network (also when the attach failed).
    fn connect_declared(
        &self,
        declared: &Declared,
        req: &AttachRequest,
    ) -> (Result<Attached>, bool) {
        // Every attach but its network's first finds the network made from this
        // configuration and attaches in one step; otherwise the network is made (or remade).
        let mut outcome = self.connect(req);
        let mut made = false;
        for round in 0.. {
            match &outcome {
                Err(e) if e.kind() == Kind::NotFound => {}
                _ => break,
            }
            if round == ROUNDS {
                return (Err(kept_changing(&declared.create.name)), made);
            }
            if self.declared_stale(declared) {
                match self.ensure_declared(declared) {
                    Ok(m) => made |= m,
                    Err(e) => return (Err(e), made),
                }
            } else if round > 0 {
                // The network is there and right: the NotFound is about something else.
                break;
            }
            // (Not stale at once: a concurrent attach made the network since the first try.)
            // Again if a concurrent detach removed the network between the two steps.
            outcome = self.connect(req);
        }
        (outcome, made)
    }

    /// The network of this name, if it exists (exact name only), without its endpoints.
    pub fn declared_network(&self, name: &str) -> Result<Option<Network>> {
        match self.network_config(name) {
            Ok(n) if n.name == name => Ok(Some(n)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == Kind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Remove the declared network `name` if a configuration made it, nothing is attached
    /// any more, and either underlay made its parent link (which goes with it) or
    /// `just_made` (this call created the network and its attach failed). Best effort: a
    /// concurrent attach may have attached something, then the network stays.
    pub(crate) fn remove_declared_if_unused(&self, name: &str, just_made: bool) {
        let Ok(Some(net)) = self.declared_network(name) else {
            return;
        };
        if net.labels.contains_key(DECLARED_LABEL)
            && (just_made || net.parent.owned())
            && net.state == NetState::Ready
            && self.endpoint_count(&net.id).is_ok_and(|n| n == 0)
        {
            if let Err(e) = self.remove_network(&net.id) {
                if !matches!(e.kind(), Kind::NotFound | Kind::Conflict) {
                    eprintln!("underlay: network {} kept: {}", net.name, e);
                }
            }
        }
    }

    /// Whether the declared network is missing or was made from another configuration.
    fn declared_stale(&self, declared: &Declared) -> bool {
        !matches!(self.declared_network(&declared.create.name), Ok(Some(n)) if declared.made_it(&n))
    }

    /// The declared network made on first use, or remade when the configuration changed and
    /// nothing is attached. Whether this call made it.
    fn ensure_declared(&self, declared: &Declared) -> Result<bool> {
        let name = &declared.create.name;
        for _ in 0..ROUNDS {
            let Some(net) = self.declared_network(name)? else {
                match self.create_network(&declared.create) {
                    Ok(_) => return Ok(true),
                    // Another attach made it first: use it.
                    Err(e) if e.clash() == Some(Clash::NetworkExists) => continue,
                    Err(e) => return Err(e),
                }
            };
            match net.labels.get(DECLARED_LABEL) {
                Some(f) if declared.fingerprints.contains(f) => return Ok(false),
                None => {
                    return Err(Error::conflict(format!(
                        "network {} was made with `underlay network create`, not from a CNI configuration: give the CNI network another name",
                        net.name
                    )))
                }
                // Changed while nothing is attached: remade, in one step that leaves the old
                // network as it was if the new configuration is refused.
                Some(_) if self.endpoint_count(&net.id)? == 0 => {
                    let replace = CreateRequest {
                        replaces: Some(net.id.clone()),
                        ..declared.create.clone()
                    };
                    match self.create_network(&replace) {
                        Ok(_) => return Ok(true),
                        // Removed, or attached to, meanwhile: look again.
                        Err(e) if e.kind() == Kind::NotFound => {}
                        Err(e)
                            if e.kind() == Kind::Conflict
                                && self.endpoint_count(&net.id).map_or(true, |n| n > 0) => {}
                        Err(e) => return Err(e),
                    }
                }
                Some(_) => {
                    return Err(Error::conflict(format!(
                        "the configuration of network {} changed while {} container(s) are attached to it: DEL them first, or give the changed configuration another name",
                        net.name,
                        self.endpoint_count(&net.id)?
                    )))
                }
            }
        }
        Err(kept_changing(name))
    }
}

fn kept_changing(network: &str) -> Error {
    Error::Conflict {
        message: format!("network {network} kept changing under this ADD; try again"),
        clash: Clash::KeptChanging,
        field: None,
    }
}
