# ipvlan l3: two containers on different subnets of one network reach each other through the
# parent's l3 switching; the default route is "default dev eth0"; --internal gets none, on a
# dummy link of its own.
uplink eth0 "$T-router"
ok ul network create -d ipvlan --subnet=192.168.214.0/24 --subnet=10.1.214.0/24 \
  -o ipvlan_mode=l3 -o parent=eth0 ipnet214
a=$(ctr a); b=$(ctr b)
ok ul network connect --ip 192.168.214.10 ipnet214 "$a"
ok ul network connect --ip 10.1.214.10 ipnet214 "$b"
has "default dev eth0" in_ctr a ip route
has "default dev eth0" in_ctr b ip route
has "ipvlan  mode l3 " in_ctr a ip -d link show eth0
reach a 10.1.214.10
reach b 192.168.214.10
uplink eth1 "$T-router2"
# As in Docker, --internal sets -o parent aside: the network is on a dummy link of its own.
has "parent eth1 is not used" ul network create -d ipvlan --internal --subnet=192.168.215.0/24 -o ipvlan_mode=l3 -o parent=eth1 int215
has "di-" ip -o link show type dummy
c=$(ctr c)
ok ul network connect int215 "$c"
hasnt "default" in_ctr c ip route
