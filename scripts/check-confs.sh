#!/usr/bin/env bash
# `gateway -t` on every conf/*.yaml. conf/gateway.yaml is the production shape and expects
# /etc/gateway/certs/site.pem, /var/log/gateway/ and /run/gateway/: on a machine without them (CI, a laptop)
# this makes them (the certificate with the dev script), as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
certs/make-dev-cert.sh certs/dev.pem
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
site=/etc/gateway/certs/site.pem
[ -s "$site" ] || as_root certs/make-dev-cert.sh "$site"
[ -d /var/log/gateway ] || as_root install -d /var/log/gateway
# systemd makes /run/gateway (RuntimeDirectory=) before ExecStartPre runs `gateway -t`.
[ -d /run/gateway ] || as_root install -d /run/gateway
status=0
for conf in conf/*.yaml; do
  target/debug/gateway -t -c "$conf" || status=1
done
exit $status
