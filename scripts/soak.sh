#!/usr/bin/env bash
# `make soak`: the demo gateway under continuous HTTPS load for SOAK_MINUTES (default 30):
# keep-alive requests and new connections (full handshakes), RSS sampled every minute.
# Passes when the RSS at the end is within 10% (+4 MiB) of the RSS after the first minute.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${SOAK_MINUTES:-30}
bin=target/release
out=target/soak
mkdir -p "$out"
pids=()
stop() { kill -INT "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT
"$bin/demo-origin" 127.0.0.1:9001 127.0.0.1:9002 127.0.0.1:9003 >/dev/null &
pids+=($!)
"$bin/gateway" -c conf/demo.yaml 2>"$out/gateway.log" &
gateway=$!
pids+=($gateway)
for _ in $(seq 100); do
  (exec 3<>/dev/tcp/127.0.0.1/8443) 2>/dev/null && break
  sleep 0.1
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$gateway/status"; }
seconds=$((minutes * 60))
wrk -t1 -c32 -d"${seconds}s" https://127.0.0.1:8443/ >"$out/wrk-keepalive.txt" &
pids+=($!)
wrk -t1 -c8 -d"${seconds}s" -H "Connection: close" https://127.0.0.1:8443/ >"$out/wrk-new-connections.txt" &
pids+=($!)
echo "minute rss_kib" | tee "$out/rss.txt"
for minute in $(seq 1 "$minutes"); do
  sleep 60
  echo "$minute $(rss)" | tee -a "$out/rss.txt"
done
sleep 2
start=$(awk 'NR==2 {print $2}' "$out/rss.txt")
end=$(awk 'END {print $2}' "$out/rss.txt")
grep -h "Requests/sec\|errors" "$out"/wrk-*.txt || true
echo "RSS after minute 1: ${start} KiB; after minute ${minutes}: ${end} KiB"
if [ "$end" -le $((start + start / 10 + 4096)) ]; then
  echo "soak: flat"
else
  echo "soak: RSS grew" >&2
  exit 1
fi
