# Helpers for the tests that run inside the VM. Every helper keeps its variables local: the
# tests are sourced into one shell, and a helper must never overwrite a test's variables.
# Each test runs (as a sourced script) in its own
# "host" network namespace h-<test>; its containers are namespaces named <test>-<name>.
ip() { /usr/sbin/ip "$@"; }
ul() { /bin/underlay "$@"; }
export UNDERLAY_STATE_DIR=/tmp/state-$$
FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
note() { echo "NOTE $*"; }
# ok CMD...: must succeed
ok() { local out; if ! out=$("$@" 2>&1); then fail "$* -> $out"; fi; }
# refused TEXT CMD...: must fail with TEXT in its output
refused() {
  local want=$1 out; shift
  if out=$("$@" 2>&1); then fail "should have failed: $*"; return; fi
  case $out in *"$want"*) ;; *) fail "$*: expected '$want' in: $out";; esac
}
# has TEXT CMD...: CMD's output contains TEXT
has() {
  local want=$1 out; shift
  out=$("$@" 2>&1)
  case $out in *"$want"*) ;; *) fail "$*: expected '$want' in: $out";; esac
}
hasnt() {
  local want=$1 out; shift
  out=$("$@" 2>&1)
  case $out in *"$want"*) fail "$*: did not expect '$want' in: $out";; esac
}
# ctr NAME: a container namespace
ctr() { ip netns add "$T-$1"; ip -n "$T-$1" link set lo up; echo "$T-$1"; }
in_ctr() { local name=$1; shift; ip netns exec "$T-$name" "$@"; }
# settle NS DEV: wait for IPv6 duplicate address detection on a fresh link (a real router's
# link-local address settled long ago).
settle() { local i=0; while [ -n "$(ip -n "$1" -6 addr show dev "$2" tentative)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done; }
reach() { in_ctr "$1" ping -c 1 -W 2 "$2" >/dev/null 2>&1 || fail "$1 cannot reach $2"; }
unreachable() { if in_ctr "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; then fail "$1 reaches $2"; fi; }
# uplink IF ROUTER ADDR...: IF in the host is a veth whose peer lan0 sits in namespace ROUTER.
uplink() {
  local ifname=$1 router=$2 a; shift 2
  ip netns add "$router"
  ip link add "$ifname" type veth peer name lan0 netns "$router"
  ip link set "$ifname" up; ip -n "$router" link set lan0 up; ip -n "$router" link set lo up
  for a in "$@"; do
    case $a in *:*) ip -n "$router" addr add "$a" dev lan0 nodad ;; *) ip -n "$router" addr add "$a" dev lan0 ;; esac
  done
}
# router_vlan ROUTER VID ADDR...: an 802.1Q sub-interface on the router's side of the trunk.
router_vlan() {
  local router=$1 vid=$2 a; shift 2
  ip -n "$router" link add link lan0 name "lan0.$vid" type vlan id "$vid"
  ip -n "$router" link set "lan0.$vid" up
  for a in "$@"; do
    case $a in *:*) ip -n "$router" addr add "$a" dev "lan0.$vid" nodad ;; *) ip -n "$router" addr add "$a" dev "lan0.$vid" ;; esac
  done
}
finish() { [ "$FAILS" -eq 0 ]; }
