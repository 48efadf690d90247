#!/bin/bash
# System calls per request: bench/syscalls.sh LABEL PORT COMMAND... starts COMMAND (a proxy
# serving plain HTTP on PORT, e.g. a redirect listener), attaches `strace -c -f` to it, sends N
# (default 20000) keep-alive requests with h2load --h1 (4 connections) to PATH (default
# /some/path?q=1), stops both and prints each system call's count per request. Example, with
# the configurations bench/instructions.py writes (PORT_OFFSET=2200):
#   bench/syscalls.sh gateway 9280 target/release/gateway -c target/bench/instructions/gateway.yaml
#   bench/syscalls.sh nginx 9580 nginx -c $PWD/target/bench/instructions/nginx.conf -g "master_process off; daemon off;"
#   bench/syscalls.sh haproxy 9480 haproxy -db -f target/bench/instructions/haproxy.cfg
set -eu
label=$1 port=$2
shift 2
N=${N:-20000}
REQUEST_PATH=${REQUEST_PATH:-/some/path?q=1}
out=$(mktemp -d)
"$@" >"$out/$label.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
sleep 1
strace -c -f -p "$pid" -o "$out/strace" 2>/dev/null &
spid=$!
sleep 1
h2load --h1 -m 1 -c 4 -t 1 -n "$N" "http://127.0.0.1:$port$REQUEST_PATH" | grep -E "succeeded|status codes"
sleep 0.5
kill -INT "$spid"
wait "$spid" || true
kill -TERM "$pid"
sleep 0.5
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
echo "== $label: system calls per request (N=$N)"
awk -v n="$N" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {printf "%-16s %8d  %.3f\n", $NF, $4, $4 / n}' "$out/strace" | sort -k2 -nr
rm -rf "$out"
