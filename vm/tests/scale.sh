# Scale: N (default 4094) networks on eth0.1..eth0.N of one parent, each with its VLAN link made
# on the fly; listed; removed, taking every VLAN link with them; eth0.4095 refused.
N=${UL_SCALE_N:-4094}
uplink eth0 "$T-router"
now() { cut -d' ' -f1 /proc/uptime; }
t0=$(now)
i=1
while [ $i -le $N ]; do
  if ! out=$(ul network create --subnet "10.$((i / 256)).$((i % 256)).0/24" -o parent=eth0.$i "v$i" 2>&1); then
    fail "create v$i: $out"; break
  fi
  i=$((i + 1))
done
t1=$(now)
listed=$(ul network ls -q | wc -l)
[ "$listed" -eq "$N" ] || fail "network ls shows $listed networks, expected $N"
vlans=$(ip -d link show type vlan | grep -c 'vlan protocol 802.1Q')
[ "$vlans" -eq "$N" ] || fail "$vlans VLAN links, expected $N"
has "vlan protocol 802.1Q id $N " ip -d link show "eth0.$N"
t2=$(now)
refused "vlan id must be between 1-4094, received: 4095" ul network create --subnet=10.200.0.0/24 -o parent=eth0.4095 v4095
# Remove one by one, as users do.
i=1
while [ $i -le $N ]; do
  ul network rm "v$i" >/dev/null 2>&1 || { fail "rm v$i"; break; }
  i=$((i + 1))
done
t3=$(now)
left=$(ip -d link show type vlan | grep -c 'vlan protocol 802.1Q')
[ "$left" -eq 0 ] || fail "$left VLAN links left after removing every network"
[ -z "$(ul network ls -q)" ] || fail "networks left after removing them all"
per() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'; }
note "scale: $N networks on eth0.1..eth0.$N: create $(per "$t0" "$t1") ms/network, ls $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}') s, rm $(per "$t2" "$t3") ms/network (TCG-emulated guest)"
