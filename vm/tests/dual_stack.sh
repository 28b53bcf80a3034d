# The guide's dual-stack macvlan example on an 802.1Q parent made on the fly (eth0.218).
uplink eth0 "$T-router"
router_vlan "$T-router" 218 192.168.216.1/24 192.168.218.1/24 2001:db8:abc8::10/64
settle "$T-router" lan0.218
ok ul network create -d macvlan \
  --subnet=192.168.216.0/24 --subnet=192.168.218.0/24 \
  --gateway=192.168.216.1 --gateway=192.168.218.1 \
  --subnet=2001:db8:abc8::/64 --gateway=2001:db8:abc8::10 \
  -o parent=eth0.218 -o macvlan_mode=bridge macvlan216
a=$(ctr a)
ok ul network connect macvlan216 "$a"
has "default via 192.168.216.1 dev eth0" in_ctr a ip route
has "default via 2001:db8:abc8::10 dev eth0" in_ctr a ip -6 route
reach a 192.168.216.1
reach a 2001:db8:abc8::10
has '"EnableIPv6": true' ul network inspect macvlan216
