#!/usr/bin/env python3
"""`make bench-instructions`: CPU instructions per request, counted by callgrind.

Throughput on a two-core machine moves by a few percent from run to run; an instruction count
does not (callgrind counts the same total for the same binary and input whatever else the
machine is doing). This script runs each gateway binary under `valgrind --tool=callgrind` with
`make bench`'s `gateway` configuration (TLS, metrics, access log, health checks) in front of
the same nginx origins, sends N1 and then N2 requests with h2load, and reports
(instructions(N2) - instructions(N1)) / (N2 - N1): the start-up, shutdown and health-check
work cancels out, what is left is the cost of one request.

Environment: BINARIES (comma list of label=path; default `gateway=target/release/gateway`),
MODES (h1,h2: HTTP/1.1 keep-alive over TLS, and HTTP/2 with 10 streams per connection),
N1 (1000), N2 (5000). Results: target/bench/instructions.md.
"""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the same certificates, origins and configuration as `make bench`)

OUT = bench.OUT / "instructions"
N1 = int(os.environ.get("N1", "1000"))
N2 = int(os.environ.get("N2", "5000"))
MODES = os.environ.get("MODES", "h1,h2").split(",")
H2LOAD_ARGS = {"h1": ["--h1", "-m", "1"], "h2": ["-m", "10"]}


def binaries():
    spec = os.environ.get("BINARIES", f"gateway={bench.ROOT / 'target/release/gateway'}")
    pairs = [item.split("=", 1) for item in spec.split(",") if item]
    for label, path in pairs:
        if not Path(path).is_file():
            sys.exit(f"instructions: {label}: no binary at {path}")
    return pairs


def count(binary, config, mode, requests):
    """Total instructions of one gateway process that served `requests` requests."""
    out = OUT / f"callgrind.{Path(binary).name}.{mode}.{requests}"
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             binary, "-c", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = bench.PORTS["gateway"][0]
    try:
        bench.wait_port(port, timeout=120)
        result = subprocess.run(["h2load", *H2LOAD_ARGS[mode], "-c", "4", "-t", "1", "-n",
                                 str(requests), f"https://127.0.0.1:{port}/"],
                                check=True, capture_output=True, text=True).stdout
        if f"{requests} succeeded" not in result:
            sys.exit(f"instructions: {binary} {mode}: not every request succeeded:\n{result}")
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    summary = re.search(r"^summary: (\d+)", out.read_text(), re.M)
    if summary is None:
        sys.exit(f"instructions: no summary in {out}")
    return int(summary.group(1))


def main():
    for tool in ("valgrind", "h2load", "nginx"):
        subprocess.run(["which", tool], check=True, stdout=subprocess.DEVNULL)
    OUT.mkdir(parents=True, exist_ok=True)
    bench.make_certs()
    origin = bench.OUT / "origin.conf"
    origin.write_text(bench.origin_conf())
    nginx = subprocess.Popen(["nginx", "-c", str(origin), "-g", "daemon off;"])
    config = OUT / "gateway.yaml"
    config.write_text(bench.gateway_conf("gateway"))
    rows = []
    try:
        for port in bench.ORIGINS:
            bench.wait_port(port)
        for label, binary in binaries():
            for mode in MODES:
                low, high = count(binary, config, mode, N1), count(binary, config, mode, N2)
                per_request = (high - low) / (N2 - N1)
                rows.append((label, mode, per_request))
                print(f"{label:>12} {mode}: {per_request:,.0f} instructions per request", flush=True)
    finally:
        nginx.terminate()
        nginx.wait()
    lines = [f"N1={N1} N2={N2} ({time.strftime('%Y-%m-%d %H:%M')})", "",
             "| binary | mode | instructions per request |", "|---|---|---|"]
    lines += [f"| {label} | {mode} | {value:,.0f} |" for label, mode, value in rows]
    (bench.OUT / "instructions.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
