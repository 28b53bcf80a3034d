#!/usr/bin/env bash
# Installs underlay on a systemd host: the binary, the units (underlay.socket and
# underlay.service for Docker, underlay-restore.service for boot), and the README.
#
#   sudo packaging/install.sh [--prefix /usr/local] [--destdir DIR] [--no-enable] [--binary PATH]
#
# Without --destdir, on a running systemd, it enables underlay.socket (Docker's first call
# starts the daemon) and underlay-restore.service (parents and endpoints come back at boot).
# The CNI plugin is the same binary: link it as `underlay` into the runtime's plugin
# directory, e.g. ln -s /usr/local/bin/underlay /opt/cni/bin/underlay.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=/usr/local DESTDIR="" ENABLE=1 BIN=""
while (($#)); do
  case $1 in
    --prefix) PREFIX=$2; shift 2 ;;
    --destdir) DESTDIR=$2; shift 2 ;;
    --no-enable) ENABLE=0; shift ;;
    --binary) BIN=$2; shift 2 ;;
    *) echo "install.sh: unknown argument $1 (--prefix DIR, --destdir DIR, --no-enable, --binary PATH)" >&2; exit 2 ;;
  esac
done
if [ -z "$BIN" ]; then
  BIN=$(bash "$ROOT/scripts/build-static.sh")
fi
install -D -m 0755 "$BIN" "$DESTDIR$PREFIX/bin/underlay"
install -D -m 0644 "$ROOT/README.md" "$DESTDIR$PREFIX/share/doc/underlay/README.md"
for unit in underlay.socket underlay.service underlay-restore.service; do
  install -D -m 0644 "$ROOT/packaging/systemd/$unit" "$DESTDIR/etc/systemd/system/$unit"
  sed -i -e "s#/usr/local/bin/underlay#$PREFIX/bin/underlay#g" \
    -e "s#file:///usr/share/doc/underlay/#file://$PREFIX/share/doc/underlay/#g" \
    "$DESTDIR/etc/systemd/system/$unit"
done
echo "installed underlay in $DESTDIR$PREFIX/bin and its units in $DESTDIR/etc/systemd/system"
if [ -z "$DESTDIR" ] && [ $ENABLE = 1 ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now underlay.socket
  systemctl enable underlay-restore.service
  echo "enabled underlay.socket and underlay-restore.service"
fi
