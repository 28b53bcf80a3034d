# The guide's 802.1Q trunk example: VLAN 50 and 60 parents created on the fly; containers reach
# each other within a VLAN, not across. Then restore after the sub-interface is deleted behind
# underlay's back, removal with the last network, a user's own VLAN link left alone, VID bounds.
uplink eth0 "$T-router"
router_vlan "$T-router" 50 192.168.50.1/24
router_vlan "$T-router" 60 192.168.60.1/24
ok ul network create -d macvlan --subnet=192.168.50.0/24 --gateway=192.168.50.1 -o parent=eth0.50 macvlan50
ok ul network create -d macvlan --subnet=192.168.60.0/24 --gateway=192.168.60.1 -o parent=eth0.60 macvlan60
has "vlan protocol 802.1Q id 50" ip -d link show eth0.50
has "MULTICAST,UP,LOWER_UP" ip link show eth0.60
a=$(ctr a); b=$(ctr b); c=$(ctr c)
ok ul network connect --ip 192.168.50.10 macvlan50 "$a"
ok ul network connect --ip 192.168.50.11 macvlan50 "$b"
ok ul network connect --ip 192.168.60.10 macvlan60 "$c"
reach a 192.168.50.11
reach a 192.168.50.1
reach c 192.168.60.1
unreachable a 192.168.60.10
unreachable c 192.168.50.10
# A third network on an existing VLAN parent shares it.
ok ul network create --subnet=192.168.51.0/24 -o parent=eth0.50 macvlan50b

# Reboot-like loss: the VLAN link vanishes (and the kernel takes the container links with it).
ip link del eth0.50
unreachable a 192.168.50.11
has "recreated parent link eth0.50" ul network restore
reach a 192.168.50.11
reach b 192.168.50.1
has "vlan protocol 802.1Q id 50" ip -d link show eth0.50

# Removal: the VLAN link stays while another network uses it, goes with the last one.
ok ul network disconnect macvlan50 "$a"
ok ul network disconnect macvlan50 "$b"
ok ul network rm macvlan50
has "eth0.50@eth0" ip link show eth0.50
ok ul network rm macvlan50b
hasnt "eth0.50" ip link show
# A user's own VLAN link is never deleted.
ip link add link eth0 name eth0.70 type vlan id 70
ok ul network create --subnet=192.168.70.0/24 -o parent=eth0.70 macvlan70
ok ul network rm macvlan70
has "eth0.70@eth0" ip link show eth0.70
refused "vlan id must be between 1-4094, received: 4095" ul network create --subnet=10.9.0.0/24 -o parent=eth0.4095 bad
refused "vlan id must be between 1-4094, received: 0" ul network create --subnet=10.9.0.0/24 -o parent=eth0.0 bad
refused "-o parent interface was not found on the host: eth9" ul network create --subnet=10.9.0.0/24 -o parent=eth9.50 bad
