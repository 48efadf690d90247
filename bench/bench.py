#!/usr/bin/env python3
"""`make bench`: the gateway side by side with HAProxy and nginx on this machine.

Same topology behind every proxy: three nginx origins on 127.0.0.1 answering `return 200`
(and a 64 KiB file), same certificates (RSA-2048 and ECDSA P-256), same thread count
(THREADS, default 1), all on loopback. `pingora-bare` (the `bare_pingora` example: Pingora with
nothing of the gateway on top) runs beside them as the baseline the gateway is built on. Each
scenario runs the proxies alternately for ROUNDS rounds of DURATION seconds; the table shows
medians, the ratio gateway / best peer and the ratio gateway / pingora-bare. `gateway-redis` is
`gateway-hooks` with `rate_limit` counting on a local `redis-server` (the shared limiter's cost).
`gateway-l4-front` and `gateway-proxy-protocol` are `gateway-lean` behind HAProxy in `mode tcp`
(an NLB's stand-in), the second with `send-proxy-v2` and a `proxy_protocol` listener: the same
front for both, so their ratio is the cost of parsing the PROXY header. The ratios of those
pairs are printed under the table.
`tls-handshake-rsa-ecdsa-pair` (gateway only): full handshakes on a listener holding an RSA and an
ECDSA certificate for the same name, the client offering both; compare with `tls-handshake-rsa2048`.
`gateway-edge` is `gateway` with `compression` on (the `ok` response is under `min_bytes`, so this
is the hook's cost when it declines: the goal is within 3% of `gateway`) and a `cache` hook on
`/cached`; the `cache-hit` scenario fetches `/cached` (an object the origin marks
`max-age=3600`) from `gateway-edge` (a cache hit), `nginx` (a `proxy_cache` hit) and `gateway`
(proxied, for reference), and reports gateway-edge / nginx.
Results go to target/bench/results.json and target/bench/results.md.

Environment: THREADS (1), ROUNDS (3), DURATION (seconds, 8), CONNECTIONS (64),
IDLE_CONNECTIONS (8000: HAProxy reserves two descriptors per connection and the hard
descriptor limit here is 20000), IDLE_SETTLE (seconds, 20: the longest wait for the
proxy's memory to settle after the idle connections opened), SCENARIOS (comma list; default all), PROXIES (comma list),
CLIENT_THREADS (wrk's and h2load's threads; default THREADS: with two proxy threads one
client thread would be the bottleneck), GATEWAY_B (another gateway binary, run as `gateway-b` with gateway-lean's configuration when
PROXIES names it), GATEWAY_BIN (the binary of `gateway`, `gateway-lean` and `gateway-hooks`;
default target/release/gateway: a past build measured with today's script), PORT_OFFSET (0: added to
every port, for two runs side by side).
"""
import asyncio
import json
import os
import re
import resource
import signal
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "target" / "bench"
THREADS = int(os.environ.get("THREADS", "1"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "8"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "64"))
IDLE = int(os.environ.get("IDLE_CONNECTIONS", "8000"))
CLIENT_THREADS = int(os.environ.get("CLIENT_THREADS", str(THREADS)))
IDLE_SETTLE = int(os.environ.get("IDLE_SETTLE", "20"))
ORIGINS = [9101, 9102, 9103]

# name -> (https RSA port, https ECDSA port, redirect port)
PORTS = {
    "gateway": (7443, 7444, 7080),
    "gateway-lean": (7453, 7454, 7090),
    "gateway-hooks": (7463, 7464, 7095),
    # `gateway-lean`'s configuration on another build (GATEWAY_B=path): A/B of two binaries.
    "gateway-b": (7473, 7474, 7097),
    # `gateway-lean` with `balance: least_conn` / `balance: hash`: their per-request cost.
    "gateway-least-conn": (7483, 7484, 7098),
    "gateway-hash": (7493, 7494, 7099),
    # `gateway` with `compression` on, and a `cache` hook on /cached.
    "gateway-edge": (7503, 7504, 7091),
    "haproxy-ref": (7543, 7544, 7180),
    "haproxy-tuned": (7643, 7644, 7280),
    "nginx": (7743, 7744, 7380),
    # Pingora alone (the `bare_pingora` example): no redirect listener, so no redirect port.
    "pingora-bare": (7843, 7844, None),
    # gateway-hooks with `rate_limit` counting on Redis (`store:`): the shared limiter's cost.
    "gateway-redis": (7513, 7514, 7186),
    # gateway-lean behind HAProxy mode tcp, without and with PROXY protocol v2 (these are the
    # front's ports; the gateway listens BEHIND ports higher, redirect port included).
    "gateway-l4-front": (7523, 7524, None),
    "gateway-proxy-protocol": (7533, 7534, None),
}
REDIS_PORT = 7199
# The L4-fronted columns: whether the front sends PROXY v2.
L4_FRONTED = {"gateway-l4-front": False, "gateway-proxy-protocol": True}
BEHIND = 10000
# Pairs whose ratio isolates one cost: (measured, reference, what).
PAIRS = [
    ("gateway-proxy-protocol", "gateway-l4-front", "PROXY v2 parsing (both behind HAProxy mode tcp)"),
    ("gateway-redis", "gateway-hooks", "rate_limit on Redis vs in-process"),
]
# A listener with an RSA and an ECDSA certificate for the same names (the gateway picks by the
# client's signature algorithms): full handshakes with the pair against RSA alone.
PAIR_PORTS = {"gateway": 7445}
# PORT_OFFSET (default 0) shifts every port above, so two runs (e.g. two worktrees'
# `make bench-instructions`) can share the machine without taking each other's ports.
PORT_OFFSET = int(os.environ.get("PORT_OFFSET", "0"))
ORIGINS = [p + PORT_OFFSET for p in ORIGINS]
PORTS = {name: tuple(p + PORT_OFFSET if p else p for p in ports) for name, ports in PORTS.items()}
PAIR_PORTS = {name: p + PORT_OFFSET for name, p in PAIR_PORTS.items()}
REDIS_PORT += PORT_OFFSET
PEERS = ["haproxy-ref", "haproxy-tuned", "nginx"]
# What the gateway is built on: shown for reference, not a peer the goal is measured against.
BASELINE = "pingora-bare"


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, text=True,
                          capture_output=True, **kw).stdout


def wait_port(port, timeout=15.0):
    import socket
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


# ---------------------------------------------------------------- set-up

def make_certs():
    d = OUT / "certs"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / "rsa.pem").exists():
        for kind, args in [("rsa", "-newkey rsa:2048"),
                           ("ecdsa", "-newkey ec -pkeyopt ec_paramgen_curve:P-256")]:
            sh(f"openssl req -x509 {args} -nodes -days 30 -subj /CN=localhost "
               f"-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
               f"-keyout {d}/{kind}.key -out {d}/{kind}.crt 2>/dev/null")
            (d / f"{kind}.pem").write_text((d / f"{kind}.crt").read_text() + (d / f"{kind}.key").read_text())
    return d


def origin_conf():
    www = OUT / "www"
    www.mkdir(parents=True, exist_ok=True)
    (www / "64k").write_bytes(b"x" * 65536)
    servers = "\n".join(f"""
    server {{
        listen 127.0.0.1:{p} reuseport backlog=4096;
        keepalive_requests 1000000;
        access_log off;
        location = / {{ return 200 "ok\\n"; }}
        location = /64k {{ root {www}; try_files /64k =404; }}
        location = /cached {{ add_header Cache-Control "max-age=3600"; return 200 "cached\n"; }}
    }}""" for p in ORIGINS)
    return f"""worker_processes 1;
pid {OUT}/origin-nginx.pid;
error_log {OUT}/origin-nginx.err warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
    access_log off;
    default_type text/plain;
    {servers}
}}
"""


FIVE_HOOKS = """    hooks:
      - { kind: ip_filter, allow: ["127.0.0.0/8"] }
      - { kind: deny, path_prefix: /admin }
      - { kind: rate_limit, requests_per_second: 1000000 }
      - { kind: max_body_size, bytes: 1048576 }
      - { kind: headers, response: { set: { X-Served-By: gateway } } }
"""


BALANCE = {
    "gateway-least-conn": "    balance: least_conn\n",
    "gateway-hash": "    balance: hash\n    hash: { key: path }\n",
}


EDGE_HOOKS = """    hooks:
      - { kind: compression }
    routes:
      - { path_prefix: /cached, backend: app, hooks: [ { kind: cache } ] }
"""


def hooks_conf(name):
    if name == "gateway-edge":
        return EDGE_HOOKS
    if name == "gateway-redis":
        store = f'store: {{ redis: "redis://127.0.0.1:{REDIS_PORT}/0", timeout: 50ms }} '
        return FIVE_HOOKS.replace("requests_per_second: 1000000 ", f"requests_per_second: 1000000, {store}")
    return FIVE_HOOKS if name == "gateway-hooks" else ""


def pair_listener(name):
    if name not in PAIR_PORTS:
        return ""
    certs = OUT / "certs"
    return f"""  - name: https-pair
    address: "127.0.0.1:{PAIR_PORTS[name]}"
    tls: {{ certificates: [{certs}/rsa.pem, {certs}/ecdsa.pem] }}
    backend: app
"""


def gateway_conf(name):
    lean = name not in ("gateway", "gateway-edge")  # gateway-lean, -hooks, -b, -least-conn, -hash, -redis, L4-fronted
    rsa, ec, redirect = PORTS[name]
    proxy_protocol = ""
    if name in L4_FRONTED:
        rsa, ec, redirect = rsa + BEHIND, ec + BEHIND, rsa + BEHIND + 2
        if L4_FRONTED[name]:
            proxy_protocol = '    proxy_protocol: { trusted: ["127.0.0.1"] }\n'

    certs = OUT / "certs"
    servers = "\n".join(f'      - {{ name: o{i}, address: "127.0.0.1:{p}" }}' for i, p in enumerate(ORIGINS))
    # Stats 500 above: PORT_OFFSETs are whole thousands, so +1000 met another run's https port.
    observability = "" if lean else f"""stats: {{ address: "127.0.0.1:{rsa + 500}" }}
access_log: {{ path: {OUT}/gateway-access.log, format: haproxy }}
"""
    return f"""server:
  threads: {THREADS}
  pid_file: {OUT}/{name}.pid
  upgrade_sock: {OUT}/{name}.sock
  max_connections: 15000
listeners:
  - name: http
    address: "127.0.0.1:{redirect}"
    redirect_https: {{ port: {rsa} }}
  - name: https
    address: "127.0.0.1:{rsa}"
    tls: {{ certificate: {certs}/rsa.pem }}
    backend: app
{proxy_protocol}{hooks_conf(name)}  - name: https-ecdsa
    address: "127.0.0.1:{ec}"
    tls: {{ certificate: {certs}/ecdsa.pem }}
    backend: app
{proxy_protocol}{pair_listener(name)}backends:
  app:
{BALANCE.get(name, "")}    servers:
{servers}
    health_check: {{ path: /, interval: 2s, timeout: 1s, rise: 2, fall: 3 }}
timeouts: {{ connect: 5s, client: 50s, server: 50s }}
{observability}"""


def l4_front_conf(name):
    """HAProxy in mode tcp in front of an L4-fronted gateway (send-proxy-v2 or not)."""
    send = " send-proxy-v2" if L4_FRONTED[name] else ""
    rsa, ec, _ = PORTS[name]
    sections = "".join(f"""
frontend f{port}
  bind 127.0.0.1:{port}
  default_backend b{port}
backend b{port}
  server gw 127.0.0.1:{port + BEHIND}{send}
""" for port in (rsa, ec))
    return f"""global
  nbthread {THREADS}
  maxconn 9000
defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s
{sections}"""


def haproxy_conf(tuned):
    name = "haproxy-tuned" if tuned else "haproxy-ref"
    rsa, ec, redirect = PORTS[name]
    certs = OUT / "certs"
    # The reference box's settings (option http-server-close: no server keep-alive); the
    # tuned one keeps server connections alive and reuses them.
    mode = "option http-keep-alive\n    http-reuse always" if tuned else "option http-server-close"
    servers = "\n    ".join(f"server node{i} 127.0.0.1:{p} check" for i, p in enumerate(ORIGINS))
    return f"""global
    maxconn 9500
    nbthread {THREADS}
    ssl-default-bind-ciphers ECDH+AESGCM:DH+AESGCM:ECDH+AES256:DH+AES256:ECDH+AES128:DH+AES:RSA+AESGCM:RSA+AES:!aNULL:!MD5:!DSS
    ssl-default-bind-options no-sslv3 no-tlsv10 no-tlsv11
    tune.ssl.default-dh-param 2048
    pidfile {OUT}/{name}.pid
defaults
    mode http
    option forwardfor
    {mode}
    timeout connect 5000
    timeout client 50000
    timeout server 50000
    maxconn 9500
frontend fe
    bind 127.0.0.1:{redirect}
    bind 127.0.0.1:{rsa} ssl crt {certs}/rsa.pem alpn h2,http/1.1
    bind 127.0.0.1:{ec} ssl crt {certs}/ecdsa.pem alpn h2,http/1.1
    http-request redirect scheme https unless {{ ssl_fc }}
    default_backend app
backend app
    balance roundrobin
    http-request set-header X-Forwarded-Port %[dst_port]
    http-request add-header X-Forwarded-Proto https if {{ ssl_fc }}
    option httpchk GET /
    {servers}
"""


def nginx_conf():
    rsa, ec, redirect = PORTS["nginx"]
    certs = OUT / "certs"
    upstream = "\n        ".join(f"server 127.0.0.1:{p};" for p in ORIGINS)
    tls = """ssl_protocols TLSv1.2 TLSv1.3;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Port $server_port;
        }
        location = /cached {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache edge;
            add_header X-Cache $upstream_cache_status;
        }"""
    return f"""worker_processes {THREADS};
pid {OUT}/nginx.pid;
error_log {OUT}/nginx.err warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 16000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    proxy_cache_path {OUT}/nginx-cache levels=1 keys_zone=edge:10m max_size=64m;
    proxy_temp_path {OUT}/nginx-temp;
    upstream app {{
        {upstream}
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{redirect};
        return 301 https://$host:{rsa}$request_uri;
    }}
    server {{
        listen 127.0.0.1:{rsa} ssl http2;
        ssl_certificate {certs}/rsa.crt;
        ssl_certificate_key {certs}/rsa.key;
        {tls}
    }}
    server {{
        listen 127.0.0.1:{ec} ssl http2;
        ssl_certificate {certs}/ecdsa.crt;
        ssl_certificate_key {certs}/ecdsa.key;
        {tls}
    }}
}}
"""


class Proc:
    """A started server process (group), stopped on exit."""

    def __init__(self, name, argv, ports):
        self.name = name
        log = open(OUT / f"{name}.log", "w")
        self.p = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        for port in ports:
            wait_port(port)

    def pids(self):
        out = sh(f"pgrep -g {self.p.pid} || true").split()
        return [int(p) for p in out] or [self.p.pid]

    def rss_kib(self):
        total = 0
        for pid in self.pids():
            try:
                for line in open(f"/proc/{pid}/status"):
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except FileNotFoundError:
                pass
        return total

    def stop(self):
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.wait()


def start_all(proxies):
    OUT.mkdir(parents=True, exist_ok=True)
    make_certs()
    procs = {}
    try:
        start_each(procs, proxies)
    except Exception:
        for proc in procs.values():
            proc.stop()
        raise
    time.sleep(1)
    return procs


def port_taken(port):
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_each(procs, proxies):
    # The origins bind with reuseport: a leftover server on these ports would silently share
    # the load (and the CPU), so a taken port stops the run.
    ports = [q for name in proxies for q in PORTS[name] if q]
    ports += [q + BEHIND for name in proxies if name in L4_FRONTED for q in PORTS[name] if q]
    ports += [PAIR_PORTS[name] for name in proxies if name in PAIR_PORTS]
    taken = [p for p in ORIGINS + ports if port_taken(p)]
    taken += [REDIS_PORT] if "gateway-redis" in proxies and port_taken(REDIS_PORT) else []
    if taken:
        raise RuntimeError(f"ports already in use: {taken}; stop what listens there first")
    (OUT / "origin.conf").write_text(origin_conf())
    procs["origin"] = Proc("origin", ["nginx", "-c", str(OUT / "origin.conf"), "-g", "daemon off;"], ORIGINS)
    if "gateway-redis" in proxies:
        procs["redis"] = Proc("redis", ["redis-server", "--port", str(REDIS_PORT), "--bind", "127.0.0.1",
                                        "--save", "", "--appendonly", "no"], [REDIS_PORT])
    gw = os.environ.get("GATEWAY_BIN") or str(ROOT / "target" / "release" / "gateway")
    (OUT / "gateway-access.log").unlink(missing_ok=True)  # grows by gigabytes per run
    for name in proxies:
        ports = PORTS[name]
        if name in L4_FRONTED:
            conf = OUT / f"{name}.yaml"
            conf.write_text(gateway_conf(name))
            procs[f"{name}-gateway"] = Proc(f"{name}-gateway", [gw, "-c", str(conf)],
                                            [p + BEHIND for p in ports if p])
            conf = OUT / f"{name}.cfg"
            conf.write_text(l4_front_conf(name))
            argv = ["haproxy", "-db", "-f", str(conf)]
        elif name.startswith("gateway"):
            conf = OUT / f"{name}.yaml"
            conf.write_text(gateway_conf(name))
            argv = [os.environ["GATEWAY_B"] if name == "gateway-b" else gw, "-c", str(conf)]
        elif name == BASELINE:
            certs = OUT / "certs"
            argv = [str(ROOT / "target" / "release" / "examples" / "bare_pingora"), str(THREADS),
                    certs / "rsa.crt", certs / "rsa.key", f"127.0.0.1:{ports[0]}",
                    certs / "ecdsa.crt", certs / "ecdsa.key", f"127.0.0.1:{ports[1]}",
                    "--", *(f"127.0.0.1:{p}" for p in ORIGINS)]
        elif name.startswith("haproxy"):
            conf = OUT / f"{name}.cfg"
            conf.write_text(haproxy_conf(name == "haproxy-tuned"))
            argv = ["haproxy", "-db", "-f", str(conf)]
        else:
            conf = OUT / "nginx.conf"
            conf.write_text(nginx_conf())
            argv = ["nginx", "-c", str(conf), "-g", "daemon off;"]
        extra = [PAIR_PORTS[name]] if name in PAIR_PORTS else []
        procs[name] = Proc(name, [str(a) for a in argv], [p for p in ports if p] + extra)


# ---------------------------------------------------------------- load generators

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[pct] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    socket_errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": rps, "p50_ms": lat.get("50"), "p99_ms": lat.get("99"),
            "non_2xx_3xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1).strip() if socket_errors else ""}


def wrk(url, extra=(), connections=None):
    out = sh(["wrk", f"-t{CLIENT_THREADS}", f"-c{connections or CONNECTIONS}", f"-d{DURATION}s", "--latency", *extra, url])
    return parse_wrk(out)


def h2load(url):
    n = 2_000_000
    out = sh(["h2load", "-c", str(CONNECTIONS), "-m", "10", "-D", str(DURATION), "-t", str(CLIENT_THREADS), url])
    rps = float(re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out).group(1))
    mean = re.search(r"time for request:\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    failed = int(re.search(r"(\d+) failed", out).group(1))
    return {"rps": rps, "p50_ms": None, "p99_ms": None,
            "mean_ms": float(mean.group(1)) * UNITS[mean.group(2)] if mean else None,
            "failed": failed, "requests_cap": n}


async def hold_idle(port, count):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conns, sem = [], asyncio.Semaphore(256)

    async def one():
        async with sem:
            for _ in range(3):
                try:
                    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
                    conns.append(w)
                    return
                except OSError:
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(one() for _ in range(count)))
    return conns


def settled_rss(proc):
    """RSS once the proxy has caught up: a TLS 1.3 client is done before the server has read its
    Finished and sent tickets, so on a busy machine handshakes are still in flight (each holding
    its record buffers) for a while after the last connection opened. At least 2 s, then until
    two readings 1 s apart differ by less than 0.5% (at most IDLE_SETTLE seconds)."""
    time.sleep(2)
    last, waited = proc.rss_kib(), 2
    while waited < IDLE_SETTLE:
        time.sleep(1)
        waited += 1
        now = proc.rss_kib()
        if abs(now - last) < last * 0.005:
            return now
        last = now
    return last


def idle_rss(proc, port):
    before = proc.rss_kib()
    loop = asyncio.new_event_loop()
    conns = loop.run_until_complete(hold_idle(port, IDLE))
    after = settled_rss(proc)
    for w in conns:
        w.close()
    loop.run_until_complete(asyncio.sleep(0.5))
    loop.close()
    opened = len(conns)
    return {"connections": opened, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_connection": (after - before) / opened if opened else None}


# ---------------------------------------------------------------- scenarios

def scenarios():
    return {
        "tls-keepalive": lambda p: wrk(f"https://127.0.0.1:{PORTS[p][0]}/"),
        "tls-handshake-rsa2048": lambda p: wrk(f"https://127.0.0.1:{PORTS[p][0]}/", ["-H", "Connection: close"]),
        "tls-handshake-ecdsa-p256": lambda p: wrk(f"https://127.0.0.1:{PORTS[p][1]}/", ["-H", "Connection: close"]),
        # The client offers ECDSA and RSA; compare with tls-handshake-rsa2048 (RSA alone).
        "tls-handshake-rsa-ecdsa-pair": lambda p: wrk(f"https://127.0.0.1:{PAIR_PORTS[p]}/", ["-H", "Connection: close"]),
        "redirect-80": lambda p: wrk(f"http://127.0.0.1:{PORTS[p][2]}/some/path?q=1"),
        "http2-m10": lambda p: h2load(f"https://127.0.0.1:{PORTS[p][0]}/"),
        "tls-64k-response": lambda p: wrk(f"https://127.0.0.1:{PORTS[p][0]}/64k"),
        "cache-hit": lambda p: wrk(f"https://127.0.0.1:{PORTS[p][0]}/cached"),
    }


# Scenarios that only make sense for some proxies.
ONLY = {"cache-hit": {"gateway-edge", "nginx", "gateway"}}


def limits():
    speed = sh("openssl speed -seconds 2 rsa2048 ecdsap256 2>/dev/null")
    rsa = re.search(r"rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", speed)
    ec = re.search(r"256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", speed)
    origin = wrk(f"http://127.0.0.1:{ORIGINS[0]}/")
    return {"rsa2048_sign_per_s": float(rsa.group(1)) if rsa else None,
            "ecdsa_p256_sign_per_s": float(ec.group(1)) if ec else None,
            "origin_direct_rps": origin["rps"]}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    proxies = os.environ.get("PROXIES", ",".join(["gateway", "gateway-edge", "gateway-lean", "gateway-hooks", "gateway-least-conn", "gateway-hash", "gateway-redis", *L4_FRONTED, *PEERS, BASELINE])).split(",")
    chosen = os.environ.get("SCENARIOS")
    table = scenarios()
    names = chosen.split(",") if chosen else list(table) + ["idle-tls"]
    procs = start_all(proxies)
    results = {"threads": THREADS, "client_threads": CLIENT_THREADS, "rounds": ROUNDS, "duration_s": DURATION,
               "connections": CONNECTIONS, "scenarios": {}}
    try:
        results["limits"] = limits()
        print(f"limits: {results['limits']}", flush=True)
        for scenario in names:
            runs = {p: [] for p in proxies}
            for rnd in range(ROUNDS if scenario != "idle-tls" else 1):
                # Odd rounds run the proxies in reverse order, so no proxy always runs first
                # (or always right after another one) and drift cancels out.
                for p in (proxies if rnd % 2 == 0 else proxies[::-1]):
                    if scenario == "redirect-80" and not PORTS[p][2]:
                        continue
                    if (scenario == "tls-handshake-rsa-ecdsa-pair" and p not in PAIR_PORTS) or p not in ONLY.get(scenario, {p}):
                        continue
                    if scenario == "idle-tls":
                        # Behind an L4 front: the gateway's memory, not the front's.
                        r = idle_rss(procs.get(f"{p}-gateway", procs[p]), PORTS[p][0])
                    else:
                        r = table[scenario](p)
                    runs[p].append(r)
                    print(f"{scenario} round {rnd + 1} {p}: {r}", flush=True)
            summary = {}
            for p, rs in runs.items():
                if not rs:
                    continue
                if scenario == "idle-tls":
                    summary[p] = rs[0]
                else:
                    summary[p] = {"rps": median([r["rps"] for r in rs]),
                                  "p50_ms": median([r.get("p50_ms") for r in rs]),
                                  "p99_ms": median([r.get("p99_ms") for r in rs]),
                                  "runs": rs}
            results["scenarios"][scenario] = summary
    finally:
        for proc in procs.values():
            proc.stop()
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    md = render(results, proxies)
    (OUT / "results.md").write_text(md)
    print(md)


def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"


def edge_ratio(scenario, value, ratio):
    """gateway-edge against nginx's proxy_cache (cache-hit), else against gateway."""
    ours = value.get("gateway-edge")
    other = "nginx" if scenario == "cache-hit" else "gateway"
    theirs = value.get(other)
    if not ours or not theirs:
        return "-"
    text = f"{ratio(ours, theirs)} of {other}"
    if scenario == "cache-hit" and value.get("gateway"):
        text += f" ({ratio(ours, value['gateway'])} of gateway proxied)"
    return text


def render(results, proxies):
    peers = [p for p in proxies if p in PEERS]
    baseline = BASELINE in proxies
    lines = [f"threads={results['threads']} rounds={results['rounds']} duration={results['duration_s']}s "
             f"client_threads={results.get('client_threads', 1)} "
             f"connections={results['connections']}", ""]
    lim = results.get("limits", {})
    lines.append(f"Limits: RSA-2048 sign {fmt(lim.get('rsa2048_sign_per_s'))}/s, "
                 f"ECDSA P-256 sign {fmt(lim.get('ecdsa_p256_sign_per_s'))}/s, "
                 f"origin direct {fmt(lim.get('origin_direct_rps'))} req/s")
    lines.append("")
    extra = [f"gateway / {BASELINE}"] if baseline else []
    edge = "gateway-edge" in proxies
    extra += ["gateway-edge"] if edge else []
    header = "| scenario | " + " | ".join(proxies + ["gateway / best peer"] + extra) + " |"
    lines += [header, "|" + "---|" * (len(proxies) + 2 + len(extra))]
    for scenario, summary in results["scenarios"].items():
        if scenario == "idle-tls":
            # Memory: fewer KiB per connection is better, so the ratio is other / gateway.
            value = {p: summary[p]["kib_per_connection"] for p in summary}
            cells = [f"{fmt(value[p], 1)} KiB/conn ({summary[p]['connections']})" if p in summary else "-"
                     for p in proxies]
            best = min((value[p] for p in peers if value.get(p)), default=None)
            ratio = lambda gw, other: f"{other / gw:.2f}x (memory, higher is better)"
        else:
            value = {p: summary[p]["rps"] for p in summary}
            cells = [f"{fmt(value[p])} req/s, p50 {fmt(summary[p]['p50_ms'], 2)} / p99 {fmt(summary[p]['p99_ms'], 2)} ms"
                     if p in summary else "-" for p in proxies]
            best = max((value[p] for p in peers if value.get(p)), default=None)
            ratio = lambda gw, other: f"{gw / other:.2f}x"
        gw = value.get("gateway")
        ratios = [ratio(gw, best) if best and gw else "-"]
        if baseline:
            bare = value.get(BASELINE)
            ratios.append(ratio(gw, bare) if bare and gw else "-")
        if edge:
            ratios.append(edge_ratio(scenario, value, ratio))
        lines.append(f"| {scenario} | " + " | ".join(cells + ratios) + " |")
    pairs = [(a, b, what) for a, b, what in PAIRS if a in proxies and b in proxies]
    if pairs:
        lines += ["", "| scenario | " + " | ".join(f"{a} / {b} ({what})" for a, b, what in pairs) + " |",
                  "|" + "---|" * (len(pairs) + 1)]
        for scenario, summary in results["scenarios"].items():
            if scenario == "idle-tls":
                continue
            cells = []
            for a, b, _ in pairs:
                va, vb = (summary.get(p, {}).get("rps") for p in (a, b))
                cells.append(f"{va / vb:.3f}x" if va and vb else "-")
            lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    sys.exit(main())
