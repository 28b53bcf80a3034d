# No parent: a dummy parent dm-<12> (macvlan) / di-<12> (ipvlan), an internal network whose
# containers reach each other on the host; removed with the network.
id=$(ul network create -d macvlan --subnet=192.168.112.0/24 isolated)
dm="dm-$(echo "$id" | cut -c1-12)"
has "dummy" ip -d link show "$dm"
has '"Internal": true' ul network inspect isolated
a=$(ctr a); b=$(ctr b)
ok ul network connect isolated "$a"
ok ul network connect isolated "$b"
reach a 192.168.112.2
hasnt "default" in_ctr a ip route
ok ul network disconnect isolated "$a"
ok ul network disconnect isolated "$b"
ok ul network rm isolated
hasnt "$dm" ip link show
id=$(ul network create -d ipvlan --subnet=192.168.113.0/24 isolated6)
di="di-$(echo "$id" | cut -c1-12)"
has "dummy" ip -d link show "$di"
c=$(ctr c); d=$(ctr d)
ok ul network connect isolated6 "$c"
ok ul network connect isolated6 "$d"
reach c 192.168.113.2
ok ul network disconnect isolated6 "$c"
ok ul network disconnect isolated6 "$d"
# Deleted behind underlay's back: restore brings it back.
ip link del "$di"
has "recreated parent link $di" ul network restore
ok ul network rm isolated6
hasnt "$di" ip link show
