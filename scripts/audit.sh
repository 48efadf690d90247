#!/usr/bin/env bash
# `make audit`: testssl.sh against the gateway's TLS defaults (conf/demo.yaml's TLS listener,
# with the `security_headers` hook added). Fails when testssl reports any HIGH or CRITICAL
# finding, or any finding above INFO on the security headers (HSTS, X-Frame-Options, ...); the
# full report is left in target/audit/testssl.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/debug}
out=target/audit
mkdir -p "$out"
# A certificate like a public CA's: issued by a CA testssl is told to trust (--add-ca), with a
# CRL distribution point, so the findings are about the gateway, not a self-signed dev cert.
pki=$out/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=Audit CA" \
  -keyout "$pki/ca.key" -out "$pki/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$pki/site.key" -out "$pki/site.csr" 2>/dev/null
cat >"$pki/ext.cnf" <<'CNF'
subjectAltName = DNS:localhost
crlDistributionPoints = URI:http://crl.example.invalid/audit.crl
extendedKeyUsage = serverAuth
keyUsage = critical, digitalSignature, keyEncipherment
CNF
openssl x509 -req -in "$pki/site.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
  -days 90 -extfile "$pki/ext.cnf" -out "$pki/site.crt" 2>/dev/null
cat "$pki/site.crt" "$pki/ca.pem" "$pki/site.key" >"$pki/site.pem"
sed -e "s#certificate: ../certs/dev.pem.*#certificate: $PWD/$pki/site.pem#" \
  -e '/^    backend: app$/a\    hooks: [ { kind: security_headers } ]' conf/demo.yaml >"$out/audit.yaml"
grep -q "kind: security_headers" "$out/audit.yaml"

pids=()
stop() { kill -INT "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
"$bin/demo-origin" 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003 &
pids+=($!)
"$bin/gateway" -c "$out/audit.yaml" 2>"$out/gateway.log" &
pids+=($!)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
  sleep 0.1
done
rm -f "$out/testssl.json"
testssl --quiet --color 0 --warnings batch --ip one --add-ca "$pki/ca.pem" --jsonfile "$out/testssl.json" \
  https://localhost:8443 >"$out/testssl.txt" 2>&1 || true
python3 - "$out/testssl.json" <<'PY'
import json, sys
findings = json.load(open(sys.argv[1]))
bad = [f for f in findings if f.get("severity") in ("HIGH", "CRITICAL")]
# The listener has `security_headers`: testssl must find them (a missing one is reported as
# `security_headers` MEDIUM or `HSTS` LOW) and grade each OK.
header_ids = ("security_headers", "HSTS", "X-Frame-Options", "X-Content-Type-Options",
              "Referrer-Policy")
bad += [f for f in findings if f.get("id", "").startswith(header_ids)
        and f.get("severity") not in ("OK", "INFO")]
for wanted in ("HSTS_time", "X-Frame-Options", "X-Content-Type-Options"):
    if not any(f.get("id") == wanted and f.get("severity") == "OK" for f in findings):
        bad.append({"severity": "MISSING", "id": wanted, "finding": "not found graded OK"})
for f in bad:
    print(f"{f['severity']}: {f['id']}: {f['finding']}")
counts = {}
for f in findings:
    counts[f.get("severity")] = counts.get(f.get("severity"), 0) + 1
print("testssl findings by severity:", dict(sorted(counts.items(), key=lambda kv: str(kv[0]))))
sys.exit(1 if bad else 0)
PY
