//! Each front door's names for the fields a user fills in, so that the engine's messages name
//! a bad value the way the user gave it: `--mac-address` on the command line, the requested
//! MAC of a CNI configuration, `Interface.MacAddress` of a Docker request.

/// Which front door a request came through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Door {
    #[default]
    Cli,
    Cni,
    Docker,
}

/// A field of an attach request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Ip,
    Ip6,
    Mac,
    Ifname,
    /// A network's parent link.
    Parent,
}

impl Door {
    pub fn name(self, f: Field) -> &'static str {
        match (self, f) {
            (Door::Cli, Field::Ip) => "--ip",
            (Door::Cli, Field::Ip6) => "--ip6",
            (Door::Cli, Field::Mac) => "--mac-address",
            (Door::Cli, Field::Ifname) => "--ifname",
            (Door::Cni, Field::Ip | Field::Ip6) => {
                "requested IP (runtimeConfig ips, args cni.ips or CNI_ARGS IP)"
            }
            (Door::Cni, Field::Mac) => {
                "requested MAC (runtimeConfig mac, CNI_ARGS MAC or the configuration's mac)"
            }
            (Door::Cni, Field::Ifname) => "CNI_IFNAME",
            (Door::Docker, Field::Ip) => "Interface.Address",
            (Door::Docker, Field::Ip6) => "Interface.AddressIPv6",
            (Door::Docker, Field::Mac) => "Interface.MacAddress",
            (Door::Docker, Field::Ifname) => "InterfaceName",
            (Door::Cli | Door::Docker, Field::Parent) => "-o parent",
            (Door::Cni, Field::Parent) => "\"master\"",
        }
    }

    /// What to do about an interface name the namespace has already.
    pub fn other_ifname(self) -> &'static str {
        match self {
            Door::Cli => "choose another --ifname",
            Door::Cni => "the runtime must pass another CNI_IFNAME",
            Door::Docker => "Docker names it; remove the link of that name",
        }
    }
}
