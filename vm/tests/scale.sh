# Scale: N (default 4094) networks on eth0.1..eth0.N of one parent, each with its VLAN link made
# on the fly; listed; removed, taking every VLAN link with them; eth0.4095 refused.
N=${UL_SCALE_N:-4094}
uplink eth0 "$T-router"
now() { cut -d' ' -f1 /proc/uptime; }
t0=$(now)
# Two workers (the VM has two CPUs): odd and even VLAN ids, one `network create` each.
create_every() { # FIRST: create networks FIRST, FIRST+2, ... up to N
  local i=$1 out
  while [ $i -le $N ]; do
    if ! out=$(ul network create --subnet "10.$((i / 256)).$((i % 256)).0/24" -o parent=eth0.$i "v$i" 2>&1); then
      echo "create v$i: $out" >> /tmp/scale.fail; return
    fi
    i=$((i + 2))
  done
}
create_every 1 & create_every 2 &
wait
[ ! -s /tmp/scale.fail ] || fail "$(cat /tmp/scale.fail)"
t1=$(now)
listed=$(ul network ls -q | wc -l)
[ "$listed" -eq "$N" ] || fail "network ls shows $listed networks, expected $N"
vlans=$(ip -d link show type vlan | grep -c 'vlan protocol 802.1Q')
[ "$vlans" -eq "$N" ] || fail "$vlans VLAN links, expected $N"
has "vlan protocol 802.1Q id $N " ip -d link show "eth0.$N"
t2=$(now)
refused "vlan id must be between 1-4094, received: 4095" ul network create --subnet=10.200.0.0/24 -o parent=eth0.4095 v4095
# Remove them as a user removes many: `network rm` with up to 64 names at a time, two workers.
rm_every() { # FIRST: batches starting at FIRST, FIRST+128, ...
  local i=$1 j names out
  while [ $i -le $N ]; do
    names=""; j=$i
    while [ $j -lt $((i + 64)) ] && [ $j -le $N ]; do names="$names v$j"; j=$((j + 1)); done
    # (Its stderr counts only when it fails: a worker waiting over a second for the other's
    # lock says so there, as it should.)
    if ! out=$(ul network rm $names 2>&1 >/dev/null); then
      echo "rm batch from v$i failed: $out" >> /tmp/scale.fail
    fi
    i=$((i + 128))
  done
}
rm_every 1 & rm_every 65 &
wait
[ ! -s /tmp/scale.fail ] || fail "$(cat /tmp/scale.fail)"
t3=$(now)
left=$(ip -d link show type vlan | grep -c 'vlan protocol 802.1Q')
[ "$left" -eq 0 ] || fail "$left VLAN links left after removing every network"
[ -z "$(ul network ls -q)" ] || fail "networks left after removing them all"
per() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }'; }
note "scale: $N networks on eth0.1..eth0.$N: create $(per "$t0" "$t1") ms/network, ls $(awk -v a="$t1" -v b="$t2" 'BEGIN{printf "%.2f", b-a}') s, rm $(per "$t2" "$t3") ms/network (TCG-emulated guest, 2 vCPUs, 2 workers; rm 64 names per command)"
