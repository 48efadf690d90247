#!/usr/bin/env bash
# Make a self-signed development certificate as one combined PEM (certificate then key), the
# shape HAProxy's `crt` and the gateway's `tls.certificate` take.
#   certs/make-dev-cert.sh [OUT.pem] [NAME...]
# Defaults: certs/dev.pem for localhost, 127.0.0.1 and ::1. Keeps an existing file.
set -euo pipefail
out=${1:-"$(dirname "$0")/dev.pem"}
shift || true
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(localhost)
if [ -s "$out" ]; then
  echo "certs: $out exists, keeping it"
  exit 0
fi
san="DNS:${names[0]}"
for n in "${names[@]:1}"; do san="$san,DNS:$n"; done
san="$san,IP:127.0.0.1,IP:::1"
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
  -subj "/CN=${names[0]}" -addext "subjectAltName=$san" \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
cat "$tmp/cert.pem" "$tmp/key.pem" > "$out"
chmod 600 "$out"
echo "certs: wrote $out ($san)"
