#!/usr/bin/env bash
# `make demo`: three demo origins and the gateway on conf/demo.yaml; Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release
pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "Stopping demo..."
  kill -INT "${pids[@]}" 2>/dev/null || true   # Pingora: SIGINT is the fast shutdown
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM EXIT
"$bin/demo-origin" 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003 &
pids+=($!)
"$bin/gateway" -c conf/demo.yaml &
pids+=($!)
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && break
  sleep 0.1
done
cat <<'TXT'

  Gateway demo is up (conf/demo.yaml):
    https://localhost:8443/        TLS, round robin over 127.0.0.1:9001-9003 (self-signed: curl -k)
    http://localhost:8080/         redirects to https://localhost:8443/
    http://localhost:8404/metrics  Prometheus metrics
    /tmp/gateway-demo-admin.sock   admin socket: echo "show stat" | socat stdio /tmp/gateway-demo-admin.sock

  Try:  for i in 1 2 3; do curl -sk https://localhost:8443/; done
        pkill -HUP -f 'gateway -c conf/demo.yaml'    # reload conf/demo.yaml in place
  Ctrl-C stops the gateway and the origins.

TXT
wait -n "${pids[@]}"
