#!/usr/bin/env python3
"""`make bench-instructions`: CPU instructions per request, counted by callgrind.

Throughput on a two-core machine moves by a few percent from run to run; an instruction count
does not (callgrind counts the same total for the same binary and input whatever else the
machine is doing). This script runs each gateway binary under `valgrind --tool=callgrind` with
`make bench`'s `gateway` configuration (TLS, metrics, access log, health checks) in front of
the same nginx origins, sends N1 and then N2 requests with h2load, and reports
(instructions(N2) - instructions(N1)) / (N2 - N1): the start-up, shutdown and health-check
work cancels out, what is left is the cost of one request.

Environment: BINARIES (comma list of label=path; default `gateway=target/release/gateway`; a
path prefixed `bare:` is the `bare_pingora` example, started as `make bench` starts
`pingora-bare`, e.g. `pingora-bare=bare:target/release/examples/bare_pingora`; `nginx:` and `haproxy:` prefixes run
those peers with `make bench`'s nginx and haproxy-tuned configurations, one process each, e.g.
`nginx=nginx:/usr/sbin/nginx,haproxy-tuned=haproxy:/usr/sbin/haproxy`),
MODES (h1,h2: HTTP/1.1 keep-alive over TLS, and HTTP/2 with 10 streams per connection; also
64k: HTTP/1.1 keep-alive over TLS fetching the 64 KiB file, `make bench`'s tls-64k-response;
redirect: `make bench`'s redirect-80, plain HTTP/1.1 keep-alive `GET /some/path?q=1` to the
redirect listener, every answer a 301; pingora-bare has no redirect listener and is skipped;
hs: one HTTP/1.1 request per connection, i.e. the cost of a full TLS handshake and its request,
with the RSA-2048 certificate; hs-ec: the same with the ECDSA P-256 one),
LEAN (1: `make bench`'s `gateway-lean` configuration instead, i.e. without the stats listener and
the access log: the difference is the cost of observability),
N1 (1000), N2 (5000), RUNS (1; with more, the median and the spread are reported). Results: target/bench/instructions.md, with each gateway's ratio to the
`bare:` binary when there is one (the gap to Pingora's own cost); the callgrind files stay in
target/bench/instructions/ for `callgrind_annotate --inclusive=yes`.
"""
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402  (the same certificates, origins and configuration as `make bench`)

OUT = bench.OUT / "instructions"
N1 = int(os.environ.get("N1", "1000"))
N2 = int(os.environ.get("N2", "5000"))
RUNS = int(os.environ.get("RUNS", "1"))
MODES = os.environ.get("MODES", "h1,h2").split(",")
H2LOAD_ARGS = {"h1": ["--h1", "-m", "1"], "h2": ["-m", "10"], "64k": ["--h1", "-m", "1"],
               "redirect": ["--h1", "-m", "1"], "hs": ["--h1", "-m", "1"],
               "hs-ec": ["--h1", "-m", "1"]}
PATHS = {"64k": "/64k", "redirect": "/some/path?q=1"}


KINDS = ("bare", "nginx", "haproxy")


def binaries():
    spec = os.environ.get("BINARIES", f"gateway={bench.ROOT / 'target/release/gateway'}")
    triples = []
    for item in filter(None, spec.split(",")):
        label, path = item.split("=", 1)
        kind, _, rest = path.partition(":")
        kind, path = (kind, rest) if rest and kind in KINDS else ("gateway", path)
        if not Path(path).is_file():
            sys.exit(f"instructions: {label}: no binary at {path}")
        triples.append((label, path, kind))
    return triples


def argv_port(binary, kind, config, mode):
    """The command line that starts `binary` (of `kind`) and the port `mode` is sent to."""
    index = {"redirect": 2, "hs-ec": 1}.get(mode, 0)
    if kind == "gateway":
        return [binary, "-c", str(config)], bench.PORTS["gateway"][index]
    if kind == "nginx":
        conf = OUT / "nginx.conf"
        conf.write_text(bench.nginx_conf())
        # One process (no master): the worker's instructions are the ones counted.
        return [binary, "-c", conf, "-g", "daemon off; master_process off;"], bench.PORTS["nginx"][index]
    if kind == "haproxy":
        conf = OUT / "haproxy-tuned.cfg"
        conf.write_text(bench.haproxy_conf(True))
        return [binary, "-db", "-f", conf], bench.PORTS["haproxy-tuned"][index]
    ports = bench.PORTS[bench.BASELINE]
    certs = bench.OUT / "certs"
    return [binary, "1", certs / "rsa.crt", certs / "rsa.key", f"127.0.0.1:{ports[0]}",
            certs / "ecdsa.crt", certs / "ecdsa.key", f"127.0.0.1:{ports[1]}",
            "--", *(f"127.0.0.1:{p}" for p in bench.ORIGINS)], ports[min(index, 1)]


def count(label, binary, kind, config, mode, requests):
    """Total instructions of one gateway process that served `requests` requests."""
    out = OUT / f"callgrind.{label}.{mode}.{requests}"
    argv, port = argv_port(binary, kind, config, mode)
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             *map(str, argv)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        bench.wait_port(port, timeout=120)
        scheme = "http" if mode == "redirect" else "https"
        clients = requests if mode.startswith("hs") else 4  # hs: one connection per request
        result = subprocess.run(["h2load", *H2LOAD_ARGS[mode], "-c", str(clients), "-t", "1", "-n",
                                 str(requests), f"{scheme}://127.0.0.1:{port}{PATHS.get(mode, '/')}"],
                                check=True, capture_output=True, text=True).stdout
        if f"{requests} succeeded" not in result:
            sys.exit(f"instructions: {binary} {mode}: not every request succeeded:\n{result}")
    finally:
        # Pingora's own SIGTERM handling waits out a 5-minute grace period; SIGINT is its fast exit.
        proc.send_signal(signal.SIGINT if kind == "bare" else signal.SIGTERM)
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
    # Named by the offset: two runs side by side (PORT_OFFSET) must not share a configuration.
    config = OUT / f"gateway.{bench.PORT_OFFSET}.yaml"
    text = bench.gateway_conf("gateway")
    if os.environ.get("LEAN") == "1":
        observability = ("stats:", "access_log:")
        text = "".join(line for line in text.splitlines(True) if not line.startswith(observability))
    config.write_text(text)
    rows = []
    try:
        for port in bench.ORIGINS:
            bench.wait_port(port)
        for label, binary, kind in binaries():
            for mode in MODES:
                if mode == "redirect" and kind == "bare":
                    continue  # Pingora alone has no redirect listener
                runs = []
                for _ in range(RUNS):
                    low = count(label, binary, kind, config, mode, N1)
                    high = count(label, binary, kind, config, mode, N2)
                    runs.append((high - low) / (N2 - N1))
                    print(f"{label:>12} {mode}: {runs[-1]:,.0f} instructions per request",
                          flush=True)
                rows.append((label, mode, statistics.median(runs), kind == "bare", max(runs) - min(runs)))
    finally:
        nginx.terminate()
        nginx.wait()
    base = {mode: value for _, mode, value, bare, _ in rows if bare}
    lines = [f"N1={N1} N2={N2} RUNS={RUNS} ({time.strftime('%Y-%m-%d %H:%M')})", "",
             "| binary | mode | instructions per request (median) | spread | / pingora-bare |",
             "|---|---|---|---|---|"]
    for label, mode, value, _, spread in rows:
        ratio = f"{value / base[mode]:.3f}×" if base.get(mode) else "-"
        lines.append(f"| {label} | {mode} | {value:,.0f} | {spread:,.0f} | {ratio} |")
    print("\n".join(lines), flush=True)
    (bench.OUT / "instructions.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
