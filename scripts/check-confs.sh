#!/usr/bin/env bash
# `gateway -t` on every conf/*.yaml. conf/gateway.yaml is the production shape and expects
# /etc/gateway/certs/site.pem: on a machine without one (CI, a laptop) the dev certificate
# script makes it, as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
certs/make-dev-cert.sh certs/dev.pem
site=/etc/gateway/certs/site.pem
if [ ! -s "$site" ]; then
  if [ "$(id -u)" -eq 0 ]; then certs/make-dev-cert.sh "$site"
  else sudo certs/make-dev-cert.sh "$site"; fi
fi
status=0
for conf in conf/*.yaml; do
  target/debug/gateway -t -c "$conf" || status=1
done
exit $status
