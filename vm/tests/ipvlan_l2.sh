# The guide's multi-subnet ipvlan l2 example: containers with --ip in each subnet reach their
# neighbour and their gateway; mode conflicts on the parent are refused at create.
uplink eth0 "$T-router" 192.168.210.254/24 192.168.212.254/24
ok ul network create -d ipvlan --subnet=192.168.210.0/24 --subnet=192.168.212.0/24 \
  --gateway=192.168.210.254 --gateway=192.168.212.254 -o ipvlan_mode=l2 -o parent=eth0 ipnet210
a=$(ctr a); b=$(ctr b); c=$(ctr c); d=$(ctr d); e=$(ctr e)
ok ul network connect --ip 192.168.210.10 ipnet210 "$a"
ok ul network connect --ip 192.168.210.11 ipnet210 "$b"
ok ul network connect --ip 192.168.212.10 ipnet210 "$c"
ok ul network connect --ip 192.168.212.11 ipnet210 "$d"
reach a 192.168.210.11
reach c 192.168.212.11
reach a 192.168.210.254
reach d 192.168.212.254
has "ipvlan  mode l2 bridge" in_ctr a ip -d link show eth0
has "default via 192.168.210.254 dev eth0" in_ctr a ip route
has "default via 192.168.212.254 dev eth0" in_ctr c ip route
# ipvlan links share the parent's MAC.
pmac=$(ip link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
has "$pmac" in_ctr a ip link show eth0
refused "ipvlan interfaces do not support custom mac address assignment" \
  ul network connect --mac-address 02:00:00:00:00:01 ipnet210 "$e"
refused "one ipvlan mode per parent" ul network create -d ipvlan --subnet=10.1.0.0/24 -o parent=eth0 -o ipvlan_mode=l3 other
refused "cannot carry macvlan and ipvlan links at once" ul network create --subnet=10.2.0.0/24 -o parent=eth0 mv
ok ul network create -d ipvlan --subnet=10.3.0.0/24 -o parent=eth0 samemode
ok ul network connect samemode "$e"
has "10.3.0.1/24" in_ctr e ip addr show eth0
