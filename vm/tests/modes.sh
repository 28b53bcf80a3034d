# Every ipvlan mode and flag and every macvlan mode reaches the kernel as asked.
i=0
for mode in l2 l3 l3s; do
  for flag in bridge private vepa; do
    i=$((i + 1))
    uplink "up$i" "$T-r$i"
    ok ul network create -d ipvlan --subnet="10.$i.0.0/24" -o parent="up$i" -o ipvlan_mode=$mode -o ipvlan_flag=$flag "iv$i"
    c=$(ctr "c$i")
    ok ul network connect "iv$i" "$c"
    has "ipvlan  mode $mode $flag" in_ctr "c$i" ip -d link show eth0
  done
done
for mode in bridge private vepa passthru; do
  i=$((i + 1))
  uplink "up$i" "$T-r$i"
  ok ul network create --subnet="10.$i.0.0/24" -o parent="up$i" -o macvlan_mode=$mode "mv$i"
  c=$(ctr "c$i")
  ok ul network connect "mv$i" "$c"
  has "macvlan mode $mode" in_ctr "c$i" ip -d link show eth0
done
refused "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default" \
  ul network create -d ipvlan --subnet=10.99.0.0/24 -o parent=up1 -o ipvlan_mode=l4 bad
refused "requested ipvlan flag 'x' is not valid, 'bridge' is the ipvlan driver default" \
  ul network create -d ipvlan --subnet=10.99.0.0/24 -o parent=up1 -o ipvlan_flag=x bad
