#!/usr/bin/env python3
"""`make fuzz-config`: feed `gateway -t` mutated configurations and fail on any panic, any
run over 5 s, or any run whose peak memory is over 200 MB.

The mutations start from a valid configuration that uses every section (TLS, hooks, routes,
health checks, errorfiles, access log, admin socket): huge, negative and boundary numbers,
CR LF in every string, special files (a FIFO, /dev/zero, /dev/null, a directory) in every
path, deep nesting, wrong types, unknown and missing keys, and byte-level damage to the text.
Every case that fails is kept under target/fuzz-config/failures/ to replay by hand.

    FUZZ_CASES=3000 FUZZ_SEED=1 GATEWAY_BIN=target/debug/gateway scripts/fuzz-config.py
"""

import copy
import json
import os
import random
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "fuzz-config")
BINARY = os.environ.get("GATEWAY_BIN", os.path.join(ROOT, "target", "debug", "gateway"))
CASES = int(os.environ.get("FUZZ_CASES", "3000"))
SEED = int(os.environ.get("FUZZ_SEED", str(int(time.time()))))
TIME_LIMIT = 5.0
MEMORY_LIMIT_KB = 200 * 1024

NUMBERS = [
    0, -1, 1, 255, 256, 257, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
    2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**30, -(2**63), 1.5, 1e308,
]
DURATIONS = ["300000000000d", "99999999999999999999s", "0s", "-1s", "1d", "25d", "1.5s", "ms"]


def base_config(work):
    """A valid configuration that uses every section."""
    return {
        "server": {
            "threads": 1,
            "pid_file": f"{work}/gateway.pid",
            "upgrade_sock": f"{work}/upgrade.sock",
            "state_file": f"{work}/gateway.state",
            "grace_period": "1s",
            "graceful_shutdown_timeout": "1s",
            "max_connections": 100,
            "upstream_keepalive_pool_size": 16,
        },
        "listeners": [
            {"name": "http", "address": "127.0.0.1:18080",
             "redirect_https": {"port": 18443, "status": 301}},
            {"name": "https", "address": "127.0.0.1:18443",
             "tls": {"certificate": f"{work}/dev.pem", "min_version": "tls1.2"},
             "backend": "app",
             "hooks": [
                 {"kind": "headers", "request": {"set": {"X-A": "1"}}, "response": {"add": {"X-B": "2"}}},
                 {"kind": "rate_limit", "requests_per_second": 100, "burst": 10},
                 {"kind": "redirect", "rules": [{"path_prefix": "/old", "to": "/new", "status": 302}]},
                 {"kind": "deny", "path_prefix": "/admin", "status": 403},
                 {"kind": "ip_filter", "allow": ["127.0.0.0/8"]},
                 {"kind": "max_body_size", "bytes": 1024},
             ],
             "routes": [{"host": "api.test", "path_prefix": "/v1", "backend": "api"}]},
        ],
        "stats": {"address": "127.0.0.1:18404", "refresh": "10s"},
        "backends": {
            "app": {"balance": "round_robin",
                    "servers": [{"name": "n1", "address": "127.0.0.1:9", "weight": 1}],
                    "health_check": {"path": "/", "host": "localhost", "interval": "2s",
                                     "timeout": "1s", "rise": 2, "fall": 3}},
            "api": {"servers": [{"name": "n2", "address": "127.0.0.1:10"}]},
        },
        "timeouts": {"connect": "5s", "client": "50s", "server": "50s", "keep_alive": "10s"},
        "trusted_proxies": ["10.0.0.0/8"],
        "access_log": {"path": f"{work}/access.log", "format": "json"},
        "error_pages": {503: f"{work}/503.http"},
        "admin": {"socket": f"{work}/admin.sock"},
        "limits": {"header_bytes": 32768, "headers": 100, "uri_bytes": 8192,
                   "body_bytes": 1048576, "h2_streams": 100},
    }


def leaves(node, path=()):
    """Every (path, value) of a scalar in `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from leaves(value, path + (i,))
    else:
        yield path, node


def containers(node, path=()):
    """Every (path, dict or list) in `node`, itself included."""
    if isinstance(node, (dict, list)):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield from containers(value, path + (key,))


def set_at(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def special_files(work):
    fifo = os.path.join(work, "fifo")
    if not os.path.exists(fifo):
        os.mkfifo(fifo)
    return [fifo, "/dev/zero", "/dev/null", "/dev/urandom", work, "/proc/self/mem",
            os.path.join(work, "missing", "x"), "x" * 300, ""]


def mutate(rng, config, work):
    """One structural mutation of a copy of `config`."""
    config = copy.deepcopy(config)
    scalars = list(leaves(config))
    path, value = rng.choice(scalars)
    kind = rng.randrange(9)
    if kind == 0:
        set_at(config, path, rng.choice(NUMBERS))
    elif kind == 1:
        set_at(config, path, rng.choice(DURATIONS))
    elif kind == 2:
        for p, v in scalars:
            if isinstance(v, str):
                set_at(config, p, v + rng.choice(["\r\nX-Evil: 1", "\r\n", "\n", "\x00", " ,x"]))
    elif kind == 3:
        set_at(config, path, rng.choice(special_files(work)))
    elif kind == 4:
        set_at(config, path, rng.choice([None, [], {}, [1, 2], {"a": 1}, True, "x"]))
    elif kind == 5:
        cpath, node = rng.choice(list(containers(config)))
        if isinstance(node, dict) and node:
            del node[rng.choice(list(node))]
        elif isinstance(node, dict):
            node["unknown"] = 1
        elif node:
            node.append(copy.deepcopy(rng.choice(node)))
    elif kind == 6:
        depth = rng.choice([100, 1000, 10000, 100000])
        nested = "x"
        for _ in range(min(depth, 200)):
            nested = [nested]
        set_at(config, path, nested)
    elif kind == 7:
        cpath, node = rng.choice(list(containers(config)))
        if isinstance(node, dict):
            node[rng.choice(["name", "address", "kind", "x" * 1000])] = rng.choice(NUMBERS + DURATIONS)
    else:
        for p, v in scalars:
            if isinstance(v, (int, float)) and not isinstance(v, bool) and rng.random() < 0.5:
                set_at(config, p, rng.choice(NUMBERS))
    return config


def to_yaml(node, indent=""):
    """YAML text of `node`: block style for mappings and lists, JSON-quoted scalars (JSON is
    YAML); integer keys stay integers."""
    if isinstance(node, dict) and node:
        return "".join(
            f"\n{indent}{k if isinstance(k, int) else json.dumps(k)}:{to_yaml(v, indent + '  ')}"
            for k, v in node.items())
    if isinstance(node, list) and node:
        return "".join(f"\n{indent}-{to_yaml(v, indent + '  ')}" for v in node)
    return " " + json.dumps(node)


def render(rng, config):
    """The configuration as YAML text, sometimes damaged at the byte level."""
    text = to_yaml(config).lstrip("\n") + "\n"
    kind = rng.randrange(8)
    if kind == 0:
        cut = rng.randrange(len(text))
        text = text[:cut]
    elif kind == 1:
        i = rng.randrange(len(text))
        text = text[:i] + rng.choice(["[" * 100000, "- " * 50000, "{a: " * 1000, "&a [*a]", "\t", "\ufeff"]) + text[i:]
    elif kind == 2:
        text = "\ufeff" + text
    elif kind == 3:
        data = bytearray(text.encode())
        for _ in range(rng.randrange(1, 10)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    return text.encode()


def run(path):
    """Run `gateway -t -c path`: (exit code, seconds, peak RSS in KiB, output)."""
    start = time.monotonic()
    # Output to a file, not a pipe: a long message must not block the child on a full pipe.
    out = open(os.path.join(WORK, "output"), "w+b")
    proc = subprocess.Popen([BINARY, "-t", "-c", path], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=subprocess.STDOUT)
    # wait4 gives the child's peak RSS; poll it so a hang can be killed.
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        elapsed = time.monotonic() - start
        if pid:
            break
        if elapsed > TIME_LIMIT:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            return None, elapsed, usage.ru_maxrss, read_output(out)
        time.sleep(0.005)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, elapsed, usage.ru_maxrss, read_output(out)


def read_output(out):
    with out:
        out.seek(0)
        return out.read().decode(errors="replace")


def main():
    sys.setrecursionlimit(20000)  # deeply nested cases are built and rendered recursively
    if not os.path.exists(BINARY):
        sys.exit(f"fuzz-config: {BINARY} not found: cargo build -p gateway --bins")
    shutil.rmtree(WORK, ignore_errors=True)
    failures_dir = os.path.join(WORK, "failures")
    os.makedirs(failures_dir)
    subprocess.run([os.path.join(ROOT, "certs", "make-dev-cert.sh"), f"{WORK}/dev.pem"],
                   check=True, stdout=subprocess.DEVNULL)
    with open(f"{WORK}/503.http", "w") as f:
        f.write("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\nbusy\n")
    rng = random.Random(SEED)
    base = base_config(WORK)
    path = os.path.join(WORK, "case.yaml")
    with open(path, "wb") as f:
        f.write(to_yaml(base).encode())
    code, _, _, output = run(path)
    if code != 0:
        sys.exit(f"fuzz-config: the base configuration is refused:\n{output}")

    failures, accepted, worst_time, worst_rss = 0, 0, 0.0, 0
    # Special files as the configuration itself.
    inputs = [(p, None) for p in special_files(WORK)]
    for _ in range(CASES):
        config = base
        for _ in range(rng.choice([1, 1, 2, 3])):
            config = mutate(rng, config, WORK)
        inputs.append((path, render(rng, config)))
    for i, (case, text) in enumerate(inputs):
        if text is not None:
            with open(case, "wb") as f:
                f.write(text)
        code, elapsed, rss, output = run(case)
        worst_time, worst_rss = max(worst_time, elapsed), max(worst_rss, rss)
        accepted += code == 0
        problem = None
        if code is None:
            problem = f"still running after {TIME_LIMIT}s"
        elif "panicked" in output or code not in (0, 1):
            problem = f"exit code {code}"
        elif rss > MEMORY_LIMIT_KB:
            problem = f"peak memory {rss // 1024} MB"
        if problem:
            failures += 1
            kept = os.path.join(failures_dir, f"case-{i}.yaml")
            if text is not None:
                with open(kept, "wb") as f:
                    f.write(text)
            print(f"FAIL {case if text is None else kept}: {problem}\n{output[-2000:]}")
    print(f"fuzz-config: {len(inputs)} cases (seed {SEED}), {accepted} accepted, "
          f"{len(inputs) - accepted - failures} refused, {failures} failures; "
          f"slowest {worst_time:.2f}s, peak memory {worst_rss // 1024} MB")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
