# The CNI plugin where this machine's kernel falls short: ipvlan side by side with the reference
# ipvlan plugin (same result, same container), ipvlan modes and flags, and an 802.1Q master
# created on the first ADD and removed with the last DEL.
# cni CMD CONTAINER NETNS PLUGIN CONF: one call as a runtime makes it; prints the plugin's stdout.
cni() {
  printf '%s' "$5" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/$3" \
    CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni "$4"
}
# norm: a result without what differs by nature (MACs, sandbox paths) and without layout.
norm() { grep -v -e '"mac"' -e '"sandbox"' | tr -d ' \n'; }
# state NS: the container as `ip` shows it: link kind and mode, addresses, routes.
state() {
  ip -n "$1" -d link show eth0 | grep -o 'ipvlan  *mode [a-z0-9]* [a-z]*'
  ip -n "$1" -o addr show dev eth0 scope global | awk '{print $4}'
  ip -n "$1" route; ip -n "$1" -6 route | grep -v '^fe80'
}
if [ ! -x /usr/lib/cni/ipvlan ]; then
  fail "the reference CNI plugins are not in the VM (containernetworking-plugins on the host)"
fi
uplink eth0 "$T-r0" 192.168.210.254/24
uplink eth1 "$T-r1" 192.168.210.254/24
ipam='"ipam":{"TYPE":"X","ranges":[[{"subnet":"192.168.210.0/24","rangeStart":"192.168.210.10","gateway":"192.168.210.254"}]],"routes":[{"dst":"0.0.0.0/0"}]}'
ref_conf=$(echo "{\"cniVersion\":\"1.0.0\",\"name\":\"ivl\",\"type\":\"ipvlan\",\"master\":\"eth0\",\"mode\":\"l2\",$ipam}" | sed 's/"TYPE":"X"/"type":"host-local","dataDir":"\/tmp\/hl"/')
our_conf=$(echo "{\"cniVersion\":\"1.0.0\",\"name\":\"ivl\",\"type\":\"underlay\",\"driver\":\"ipvlan\",\"master\":\"eth1\",\"mode\":\"l2\",$ipam}" | sed 's/"TYPE":"X"/"type":"underlay"/')
r=$(ctr r); u=$(ctr u); u2=$(ctr u2)
ref=$(cni ADD c1 "$r" /usr/lib/cni/ipvlan "$ref_conf") || fail "reference ipvlan ADD: $ref"
ours=$(cni ADD c1 "$u" /bin/underlay "$our_conf") || fail "underlay ipvlan ADD: $ours"
[ "$(echo "$ref" | norm)" = "$(echo "$ours" | norm)" ] || fail "ipvlan results differ: reference $ref underlay $ours"
[ "$(state "$r")" = "$(state "$u")" ] || fail "ipvlan containers differ: reference $(state "$r") underlay $(state "$u")"
has "ipvlan  mode l2 bridge" ip -n "$u" -d link show eth0
ok cni ADD c2 "$u2" /bin/underlay "$our_conf"
reach u2 192.168.210.10
reach u 192.168.210.254
# DEL on both (twice: idempotent); the network underlay made for the config stays, empty.
ok cni DEL c1 "$r" /usr/lib/cni/ipvlan "$ref_conf"
ok cni DEL c1 "$u" /bin/underlay "$our_conf"
ok cni DEL c2 "$u2" /bin/underlay "$our_conf"
ok cni DEL c2 "$u2" /bin/underlay "$our_conf"
# A DEL hands the kernel's link deletion to a background process; it is done in moments.
i=0; while ! ul network inspect ivl | grep -q '"Containers": {}' && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
has '"Containers": {}' ul network inspect ivl
ok ul network rm ivl

# ipvlan l3 with flag private reaches the kernel as asked; l3 gets routes without a gateway.
l3_conf=$(echo "$our_conf" | sed 's/"mode":"l2"/"mode":"l3","flag":"private"/')
ok cni ADD c3 "$u" /bin/underlay "$l3_conf"
has "ipvlan  mode l3 private" ip -n "$u" -d link show eth0
has "default dev eth0" ip -n "$u" route
# A second mode on the same parent is refused before anything changes.
l3s_conf=$(echo "$our_conf" | sed 's/"name":"ivl"/"name":"ivl2"/; s/"mode":"l2"/"mode":"l3s"/; s/192.168.210/192.168.211/g')
refused "one ipvlan mode per parent" cni ADD c4 "$u2" /bin/underlay "$l3s_conf"
hasnt "eth0" ip -n "$u2" link show
ok cni DEL c3 "$u" /bin/underlay "$l3_conf"

# An 802.1Q master: eth0.50 is made on the first ADD, shared, and removed with the last DEL.
router_vlan "$T-r0" 50 192.168.50.1/24
vlan_conf='{"cniVersion":"1.0.0","name":"v50","type":"underlay","master":"eth0.50","ipam":{"type":"underlay","ranges":[[{"subnet":"192.168.50.0/24","gateway":"192.168.50.1"}]],"routes":[{"dst":"0.0.0.0/0"}]}}'
a=$(ctr a); b=$(ctr b)
ok cni ADD va "$a" /bin/underlay "$vlan_conf"
has "vlan protocol 802.1Q id 50" ip -d link show eth0.50
ok cni ADD vb "$b" /bin/underlay "$vlan_conf"
reach a 192.168.50.1
reach a 192.168.50.3
ok cni DEL va "$a" /bin/underlay "$vlan_conf"
has "eth0.50@eth0" ip link show eth0.50
ok cni DEL vb "$b" /bin/underlay "$vlan_conf"
hasnt "eth0.50" ip link show
# The reference plugins need the VLAN link to exist; underlay leaves a user's own alone.
ip link add link eth0 name eth0.60 type vlan id 60
v60=$(echo "$vlan_conf" | sed 's/v50/v60/; s/eth0.50/eth0.60/; s/192.168.50/192.168.60/g')
ok cni ADD va "$a" /bin/underlay "$v60"
ok cni DEL va "$a" /bin/underlay "$v60"
has "eth0.60@eth0" ip link show eth0.60
