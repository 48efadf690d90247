#!/usr/bin/env python3
"""System calls per response, proxy by proxy (`make bench`'s processes, under `strace`).

Starts the origins and PROXIES as `make bench` does, then for each proxy attaches `strace -f`
to every process of it and sends N requests for PATH (default /64k: the tls-64k-response
scenario) with h2load over HTTP/1.1 keep-alive (CONNECTIONS connections, 64 as in `make bench`);
then once more with `-e trace=<I/O calls>` to record each call's size. Reports calls per response by name and the
bytes per read and per write, split by socket (client side: the proxy's TLS port; origin side).
Counts are not exact (a slower proxy finds more bytes waiting per read), but they show how a
proxy moves a body: how many calls, of what size.

First, without strace, each proxy's CPU time (user + system, from /proc) per response over
ROUNDS rounds of N requests.

Environment: PROXIES (gateway,haproxy-tuned,nginx,pingora-bare), N (2000), CONNECTIONS (64),
ROUNDS (5), REQUEST_PATH (/64k), PORT_OFFSET (as bench.py). Results: target/bench/syscalls.md.
"""
import collections
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

N = int(os.environ.get("N", "2000"))
CONNECTIONS = os.environ.get("CONNECTIONS", "64")
ROUNDS = int(os.environ.get("ROUNDS", "5"))
PATH = os.environ.get("REQUEST_PATH", "/64k")
IO = "read,write,readv,writev,recvfrom,sendto,recvmsg,sendmsg"
CALL = re.compile(r"^(?:\[pid\s+)?(\d+)\]?\s*(\w+)\((\d+),.*\)\s+=\s+(-?\d+)")


def h2load(port, during=None):
    """N requests; `during()` is called while they run (the connections are open)."""
    client = subprocess.Popen(["h2load", "--h1", "-c", CONNECTIONS, "-t", "1", "-n", str(N),
                               f"https://127.0.0.1:{port}{PATH}"],
                              stdout=subprocess.PIPE, text=True)
    seen = {}
    while during and client.poll() is None:
        # Again and again: a proxy slowed by strace accepts the connections one by one.
        seen.update(during())
        time.sleep(0.3)
    out = client.communicate()[0]
    if f"{N} succeeded" not in out:
        sys.exit(f"syscalls: not every request succeeded:\n{out}")
    return seen


def cpu_seconds(proc):
    """(user, system) CPU time of every process of `proc` so far."""
    user = system = 0
    for pid in proc.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return user / tick, system / tick


def cpu_per_response(procs, proxies):
    """Microseconds of CPU per response, ROUNDS rounds taking the proxies in turn: the
    least disturbed round (the minimum) and the median. Unlike req/s, a proxy's own CPU time
    hardly depends on the client's speed, but on a busy machine it still grows with cache
    and frequency contention, so the minimum is the figure to compare."""
    runs = {name: [] for name in proxies}
    for _ in range(ROUNDS):
        for name in proxies:
            user, system = cpu_seconds(procs[name])
            h2load(bench.PORTS[name][0])
            user_after, system_after = cpu_seconds(procs[name])
            runs[name].append(((user_after - user) / N * 1e6, (system_after - system) / N * 1e6))
    result = {}
    for name, v in runs.items():
        total = [u + s for u, s in v]
        low = total.index(min(total))
        result[name] = (total[low], v[low][0], v[low][1], statistics.median(total))
    return result


def traced(proc, args, out):
    pids = [a for pid in proc.pids() for a in ("-p", str(pid))]
    tracer = subprocess.Popen(["strace", "-f", "-qq", *args, "-o", str(out), *pids],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # attach to every thread
    return tracer


def stop(tracer):
    tracer.terminate()
    tracer.wait(timeout=30)


def counts(proc, port):
    out = bench.OUT / "strace-c.txt"
    tracer = traced(proc, ["-c"], out)
    try:
        h2load(port)
    finally:
        stop(tracer)
    calls = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[-1].isidentifier() and parts[-1] != "total" \
                and parts[0][0].isdigit():
            calls[parts[-1]] = int(parts[3])
    return calls


def fds_of(proc, port):
    """The client-side and origin-side socket descriptors (by local/remote port) of `proc`."""
    client, origin = set(), set()
    for pid in proc.pids():
        for link in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(link)
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                client.add((pid, int(link.name), m.group(1)))
    inodes = {}
    for table in ("/proc/net/tcp",):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            local, remote, inode = int(f[1].split(":")[1], 16), int(f[2].split(":")[1], 16), f[9]
            inodes[inode] = (local, remote)
    by_fd = {}
    for pid, fd, inode in client:
        local, remote = inodes.get(inode, (0, 0))
        if local == port:
            by_fd[fd] = "client"
        elif remote in bench.ORIGINS:
            by_fd[fd] = "origin"
    return by_fd


def sizes(proc, port):
    out = bench.OUT / "strace-io.txt"
    tracer = traced(proc, ["-e", f"trace={IO}", "-e", "signal=none", "-s", "0"], out)
    try:
        side = h2load(port, lambda: fds_of(proc, port))
    finally:
        stop(tracer)
    stats = collections.defaultdict(lambda: [0, 0])  # (side, call) -> [calls, bytes]
    for line in out.read_text().splitlines():
        m = CALL.match(line.replace("[pid ", "").strip())
        if not m:
            continue
        _, call, fd, ret = m.groups()
        where = side.get(int(fd), "other")
        entry = stats[(where, call)]
        entry[0] += 1
        entry[1] += max(int(ret), 0)
    return stats


def main():
    proxies = os.environ.get("PROXIES", "gateway,haproxy-tuned,nginx,pingora-bare").split(",")
    procs = bench.start_all(proxies)
    lines = [f"N={N} PATH={PATH} (h2load --h1 -c {CONNECTIONS}; {time.strftime('%Y-%m-%d %H:%M')})", ""]
    try:
        for name in proxies:
            h2load(bench.PORTS[name][0])  # warm: origin connections pooled
        cpu = cpu_per_response(procs, proxies)
        lines += ["| proxy | CPU µs per response, least disturbed round (user + system) | median |",
                  "|---|---|---|"]
        lines += [f"| {name} | {low:.1f} ({user:.1f} + {system:.1f}) | {mid:.1f} |"
                  for name, (low, user, system, mid) in cpu.items()]
        lines.append("")
        for name in proxies:
            port = bench.PORTS[name][0]
            calls = counts(procs[name], port)
            total = sum(calls.values())
            top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
            lines.append(f"### {name}: {total / N:.1f} system calls per response")
            lines.append("")
            lines.append(", ".join(f"{c} {n / N:.2f}" for c, n in top))
            lines.append("")
            lines += ["| side | call | per response | bytes per call |", "|---|---|---|---|"]
            for (where, call), (n, b) in sorted(sizes(procs[name], port).items()):
                lines.append(f"| {where} | {call} | {n / N:.2f} | {b / n if n else 0:,.0f} |")
            lines.append("")
            print("\n".join(lines[-12:]), flush=True)
    finally:
        for proc in procs.values():
            proc.stop()
    (bench.OUT / "syscalls.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
