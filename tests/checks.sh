# The checks the shell tests share: each prints "ok: ..." or "FAIL: ..." and counts failures
# in FAILS; `checks_done NAME` ends a test with its verdict.

FAILS=0
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }
check() { # description, command...
  local what=$1; shift
  if "$@" >/dev/null; then pass "$what"; else fail "$what"; fi
}
eq() { # description, got, want
  if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: got '$2', want '$3'"; fi
}
has() { # description, haystack, needle
  if [[ $2 == *"$3"* ]]; then pass "$1"; else fail "$1: '$3' not in: $2"; fi
}
# Up to $1 seconds for "$2" (a command) to print "$3"; prints what it printed last.
until_eq() {
  local secs=$1 want=$3 got
  for _ in $(seq 1 $((secs * 5))); do got=$(eval "$2"); [ "$got" = "$want" ] && break; sleep 0.2; done
  echo "$got"
}
checks_done() { # test name
  echo
  if ((FAILS)); then echo "$1: $FAILS failed"; exit 1; fi
  echo "$1: all passed"
}
