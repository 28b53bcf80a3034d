//! What the engine stores: networks with their IPAM state and endpoints, one document each.
//!
//! Every operation writes its intent into the network's document before it touches the kernel
//! (`NetState::Creating`/`Removing`, `EndpointState::Attaching`/`Detaching`), and its outcome
//! after. `restore` finds documents left in an intermediate state and finishes or undoes them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink::{IpvlanFlag, IpvlanMode, Mac, MacvlanMode, NsId};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Macvlan,
    Ipvlan,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::Macvlan => "macvlan",
            Driver::Ipvlan => "ipvlan",
        }
    }
    /// Prefix of the dummy parent made when no parent is given (as Docker: `dm-`, `di-`).
    pub fn dummy_prefix(self) -> &'static str {
        match self {
            Driver::Macvlan => "dm-",
            Driver::Ipvlan => "di-",
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Driver-specific link settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase")]
pub enum Mode {
    Macvlan {
        #[serde(with = "macvlan_mode")]
        mode: MacvlanMode,
    },
    Ipvlan {
        #[serde(with = "ipvlan_mode")]
        mode: IpvlanMode,
        #[serde(with = "ipvlan_flag")]
        flag: IpvlanFlag,
    },
}

impl Mode {
    pub fn driver(&self) -> Driver {
        match self {
            Mode::Macvlan { .. } => Driver::Macvlan,
            Mode::Ipvlan { .. } => Driver::Ipvlan,
        }
    }
}

pub fn macvlan_mode_name(m: MacvlanMode) -> &'static str {
    match m {
        MacvlanMode::Bridge => "bridge",
        MacvlanMode::Private => "private",
        MacvlanMode::Vepa => "vepa",
        MacvlanMode::Passthru => "passthru",
    }
}

pub fn parse_macvlan_mode(s: &str) -> Option<MacvlanMode> {
    Some(match s {
        "bridge" => MacvlanMode::Bridge,
        "private" => MacvlanMode::Private,
        "vepa" => MacvlanMode::Vepa,
        "passthru" => MacvlanMode::Passthru,
        _ => return None,
    })
}

pub fn ipvlan_mode_name(m: IpvlanMode) -> &'static str {
    match m {
        IpvlanMode::L2 => "l2",
        IpvlanMode::L3 => "l3",
        IpvlanMode::L3s => "l3s",
    }
}

pub fn parse_ipvlan_mode(s: &str) -> Option<IpvlanMode> {
    Some(match s {
        "l2" => IpvlanMode::L2,
        "l3" => IpvlanMode::L3,
        "l3s" => IpvlanMode::L3s,
        _ => return None,
    })
}

pub fn ipvlan_flag_name(f: IpvlanFlag) -> &'static str {
    match f {
        IpvlanFlag::Bridge => "bridge",
        IpvlanFlag::Private => "private",
        IpvlanFlag::Vepa => "vepa",
    }
}

pub fn parse_ipvlan_flag(s: &str) -> Option<IpvlanFlag> {
    Some(match s {
        "bridge" => IpvlanFlag::Bridge,
        "private" => IpvlanFlag::Private,
        "vepa" => IpvlanFlag::Vepa,
        _ => return None,
    })
}

macro_rules! serde_by_name {
    ($module:ident, $ty:ty, $name:ident, $parse:ident, $what:literal) => {
        mod $module {
            use super::*;
            pub fn serialize<S: serde::Serializer>(v: &$ty, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($name(*v))
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                let s = String::deserialize(d)?;
                $parse(&s)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown {} {s:?}", $what)))
            }
        }
    };
}
serde_by_name!(
    macvlan_mode,
    MacvlanMode,
    macvlan_mode_name,
    parse_macvlan_mode,
    "macvlan mode"
);
serde_by_name!(
    ipvlan_mode,
    IpvlanMode,
    ipvlan_mode_name,
    parse_ipvlan_mode,
    "ipvlan mode"
);
serde_by_name!(
    ipvlan_flag,
    IpvlanFlag,
    ipvlan_flag_name,
    parse_ipvlan_flag,
    "ipvlan flag"
);

/// How the parent link came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Parent {
    /// A link that existed when the network was created; never created or deleted by underlay.
    Existing { name: String },
    /// An 802.1Q sub-interface `base.vid`. `created` says whether underlay made it (and so may
    /// delete it with the last network on it).
    Vlan {
        name: String,
        base: String,
        vid: u16,
        created: bool,
    },
    /// A dummy link `dm-<id12>`/`di-<id12>` made for a network without parent (always ours).
    Dummy { name: String },
    /// A link of this name in each container's own namespace (CNI's `linkInContainer`, e.g. a
    /// device moved into the container): looked up there at attach; never created or deleted.
    #[serde(rename = "incontainer")]
    InContainer { name: String },
}

impl Parent {
    pub fn name(&self) -> &str {
        match self {
            Parent::Existing { name }
            | Parent::Vlan { name, .. }
            | Parent::Dummy { name }
            | Parent::InContainer { name } => name,
        }
    }
    /// Whether underlay created this link and is responsible for it.
    pub fn owned(&self) -> bool {
        match self {
            Parent::Existing { .. } | Parent::InContainer { .. } => false,
            Parent::Vlan { created, .. } => *created,
            Parent::Dummy { .. } => true,
        }
    }
    /// Whether the parent lives in each container's namespace rather than on the host.
    pub fn in_container(&self) -> bool {
        matches!(self, Parent::InContainer { .. })
    }
    /// What networks sharing this parent have in common: the host link's name, or, for a
    /// parent inside containers, a key that never matches a host link.
    pub fn index_key(&self) -> String {
        match self {
            Parent::InContainer { name } => format!("@container/{name}"),
            other => other.name().to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetState {
    /// Intent recorded; the parent may or may not exist yet.
    Creating,
    Ready,
    /// Removal started; the parent may or may not be gone yet.
    Removing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// A hand-off endpoint (Docker) with its addresses recorded and no link: between
    /// CreateEndpoint and Join, or after Leave.
    Created,
    /// Addresses reserved, the link may be partly set up in the namespace.
    Attaching,
    Attached,
    /// Detach started; the link may still exist.
    Detaching,
}

/// The container runtime that manages a network through its own API: underlay makes links
/// and answers its calls, the runtime decides when. Other front doors leave such networks
/// (and their endpoints) to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Owner {
    /// Docker, through the remote network driver API (`underlay daemon`).
    Docker,
}

impl Owner {
    pub fn name(self) -> &'static str {
        match self {
            Owner::Docker => "docker",
        }
    }
}

/// One network document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    /// RFC 3339 UTC, as Docker shows it.
    pub created: String,
    pub mode: Mode,
    pub parent: Parent,
    pub mtu: Option<u32>,
    pub internal: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    /// The `-o` options as the user gave them (shown by inspect).
    pub options: BTreeMap<String, String>,
    pub ipam: ipam::NetworkIpam,
    /// Routes given to every endpoint instead of the default routes via the gateways (CNI's
    /// `ipam.routes`). `None`: a default route per family via its gateway, unless internal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteSpec>>,
    /// Addresses come from outside (another IPAM plugin) with each endpoint, or not at all;
    /// the network has no pools of its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub external_ipam: bool,
    /// Set when a runtime (Docker) manages the network through its own API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// The IPAM driver the runtime uses for the network (Docker's `--ipam-driver`), as shown
    /// by inspect; underlay's own when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam_driver: Option<String>,
    /// `--ipam-opt KEY=VALUE` as given (shown by inspect as IPAM.Options).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ipam_options: BTreeMap<String, String>,
    /// `--attachable`: recorded and shown, as Docker does for a local network.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub attachable: bool,
    /// `global`: defined in the cluster store, its addresses claimed there (see `cluster`).
    #[serde(default, skip_serializing_if = "is_local")]
    pub scope: crate::cluster::Scope,
    /// The version of the cluster store's definition this node made its part from: every
    /// claim expects it unchanged (a network removed by another node claims nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_version: Option<u64>,
    /// The endpoints by id. Stored in documents of their own (see `docs`); read with the
    /// network by the calls that need them all.
    #[serde(default)]
    pub endpoints: BTreeMap<String, Endpoint>,
    pub state: NetState,
    /// Read from a document of an earlier version, which held its endpoints and allocations.
    #[serde(skip)]
    pub(crate) legacy: bool,
}

impl Network {
    pub fn driver(&self) -> Driver {
        self.mode.driver()
    }
    pub fn short_id(&self) -> &str {
        &self.id[..12.min(self.id.len())]
    }
    pub fn key(&self) -> String {
        network_key(&self.id)
    }
    pub fn is_passthru(&self) -> bool {
        matches!(
            self.mode,
            Mode::Macvlan {
                mode: MacvlanMode::Passthru
            }
        )
    }
    /// Refuse an endpoint operation while a create or remove of the network is unfinished.
    pub(crate) fn check_ready(&self) -> crate::Result<()> {
        if self.state == NetState::Ready {
            return Ok(());
        }
        Err(crate::Error::conflict(format!(
            "network {} is in the middle of being {}; run `underlay network restore`",
            self.name,
            if self.state == NetState::Creating {
                "created"
            } else {
                "removed"
            }
        )))
    }

    /// Every address its endpoints (as loaded) hold.
    pub fn held_addrs(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.endpoints
            .values()
            .flat_map(|e| [e.ipv4, e.ipv6])
            .flatten()
            .map(|a| a.addr())
    }

    /// Gateway of the pool that holds `addr`, if any.
    pub fn gateway_for(&self, addr: IpAddr) -> Option<IpAddr> {
        self.ipam.pool_for(addr).and_then(|p| p.gateway())
    }
}

pub fn network_key(id: &str) -> String {
    format!("networks/{id}")
}

/// One endpoint: a link in a network namespace with its addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    /// What the user called the namespace (a name, path or PID), shown as the container name.
    pub name: String,
    /// The namespace file used to reach it.
    pub netns: String,
    /// The namespace's identity when attached: tells whether the path still names it.
    #[serde(with = "ns_id_pair")]
    pub netns_id: NsId,
    /// Temporary name the link is created under before being renamed to `ifname`.
    pub tmp_name: String,
    pub ifname: String,
    /// Stored as text (`aa:bb:cc:dd:ee:ff`).
    #[serde(default, with = "mac_text")]
    pub mac: Option<Mac>,
    pub ipv4: Option<IpNet>,
    pub ipv6: Option<IpNet>,
    pub state: EndpointState,
    /// The runtime's id of the container (CNI_CONTAINERID); with `ifname` it names a CNI
    /// attachment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    /// Set when the addresses were handed out by another IPAM (they are not in the network's
    /// pools): their gateways and routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalAddrs>,
    /// The link is handed to the runtime (Docker) on the host under `tmp_name`; the runtime
    /// moves it into `netns`, names it and sets its addresses and routes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub handoff: bool,
    /// Routes of this attachment instead of the network's (a CNI configuration's `ipam.routes`
    /// as it was at this ADD).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<RouteSpec>>,
    /// MTU of this attachment's link instead of the network's (0: the parent's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Other names of the container on this network (`connect --alias`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// On a global network: its addresses' claims in the cluster store, released at these
    /// versions only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<Claim>,
}

/// An address claimed in the cluster store, with the version of the claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub addr: std::net::IpAddr,
    pub version: u64,
}

fn is_local(s: &crate::cluster::Scope) -> bool {
    *s == crate::cluster::Scope::Local
}

/// The name of an endpoint's document: what operations look it up by.
pub fn slot_ns(netns_id: NsId) -> String {
    format!("ns-{netns_id}")
}

/// An optional MAC address as its text in documents.
pub(crate) mod mac_text {
    use netlink::Mac;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(mac: &Option<Mac>, s: S) -> Result<S::Ok, S::Error> {
        mac.map(|m| m.to_string()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mac>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| {
                t.parse()
                    .map_err(|_| D::Error::custom(format!("invalid MAC address {t:?}")))
            })
            .transpose()
    }
}

/// A namespace identity as documents keep it: `[dev, ino]`.
pub(crate) mod ns_id_pair {
    use netlink::NsId;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(id: &NsId, s: S) -> Result<S::Ok, S::Error> {
        (id.dev, id.ino).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NsId, D::Error> {
        let (dev, ino) = <(u64, u64)>::deserialize(d)?;
        Ok(NsId { dev, ino })
    }
}

pub fn slot_cni(container_id: &str, ifname: &str) -> String {
    format!(
        "cni-{}-{}",
        crate::docs::hex(container_id),
        crate::docs::hex(ifname)
    )
}

pub fn slot_handoff(endpoint_id: &str) -> String {
    format!("ep-{}", crate::docs::hex(endpoint_id))
}

impl Endpoint {
    /// Where its link lives, for messages: a runtime's container by its id, else the
    /// namespace as the user named it.
    pub fn place(&self) -> String {
        match &self.container_id {
            Some(cid) => format!("the network namespace of container {cid}"),
            None => format!("network namespace {}", self.name),
        }
    }

    /// The name of this endpoint's document within its network: by the runtime's endpoint id
    /// (hand-off), the CNI attachment, or the namespace (the CLI's one endpoint per namespace).
    pub fn slot(&self) -> String {
        if self.handoff {
            slot_handoff(&self.id)
        } else if let Some(cid) = &self.container_id {
            slot_cni(cid, &self.ifname)
        } else {
            slot_ns(self.netns_id)
        }
    }

    /// Whether what this endpoint's document describes outlives a power loss, so that the
    /// document must be flushed: a hand-off endpoint is the runtime's (Docker keeps its own
    /// record and comes back to it after a reboot); any other is a link in a network namespace,
    /// which a power loss takes with the namespace (`restore` then releases the endpoint).
    pub fn outlives_power_loss(&self) -> bool {
        self.handoff
    }

    /// The MTU its link is made with: its own where it has one (0: the parent's), else the
    /// network's (`None`: the parent's).
    pub fn link_mtu(&self, net: &Network) -> Option<u32> {
        match self.mtu {
            Some(0) => None,
            Some(m) => Some(m),
            None => net.mtu,
        }
    }

    /// The gateway for `addr` (one of this endpoint's addresses) on `net`.
    pub fn gateway_for(&self, net: &Network, addr: IpAddr) -> Option<IpAddr> {
        match &self.external {
            Some(ext) if addr.is_ipv4() => ext.gateway4,
            Some(ext) => ext.gateway6,
            None => net.gateway_for(addr),
        }
    }
}

/// A route: destination and optional gateway (on-link when absent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteSpec {
    pub dst: IpNet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
}

/// What another IPAM plugin said besides the addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAddrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway4: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteSpec>,
}

/// The state of a network and the kernel view, for `restore` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// One human line per action taken or problem found.
    pub lines: Vec<String>,
    /// Networks whose parent is missing and could not be recreated (kept, not dropped).
    pub degraded: Vec<String>,
    /// What is left not matching the state (also in `lines`): empty when the host matches.
    pub problems: Vec<String>,
}

impl RestoreReport {
    /// Something restore could not put right.
    pub fn problem(&mut self, line: String) {
        self.problems.push(line.clone());
        self.lines.push(line);
    }
}

#[cfg(test)]
mod mac_text_tests {
    use super::Mac;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Deserialize, Serialize)]
    struct Doc {
        #[serde(default, with = "super::mac_text")]
        mac: Option<Mac>,
    }

    #[test]
    fn a_mac_is_text_in_documents() {
        let d: Doc = serde_json::from_str(r#"{"mac":"02:42:AC:10:56:02"}"#).unwrap();
        assert_eq!(d.mac, Some(Mac([0x02, 0x42, 0xac, 0x10, 0x56, 0x02])));
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"mac":"02:42:ac:10:56:02"}"#
        );
        for none in [r#"{"mac":null}"#, "{}"] {
            assert_eq!(serde_json::from_str::<Doc>(none).unwrap().mac, None);
        }
        let e = serde_json::from_str::<Doc>(r#"{"mac":"02:42:zz"}"#).unwrap_err();
        assert!(
            e.to_string().contains(r#"invalid MAC address "02:42:zz""#),
            "{e}"
        );
    }
}
