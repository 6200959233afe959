"""rstunnel vs stunnel4 benchmark (issue 6); started by scripts/bench, which installs the tools.

Both implementations' chains run for the whole session; every measurement is taken for A then B in the
same round (A B A B …) and the report gives medians over rounds and the ratio A/B. Memory is measured on
freshly started chains. Results go to bench-results/<time>-<mode>.{md,json}. This file orchestrates;
procs.py owns processes, loads.py the load generators, report.py the tables.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loads  # noqa: E402
import procs  # noqa: E402
import perfprof  # noqa: E402
import report  # noqa: E402

TESTS = ("bulk1", "bulk4", "keepalive", "newconn_rsa", "newconn_ecdsa", "newconn_resume", "burst")
# What the client-mode instance logs at `debug = 6` (both implementations) after each handshake.
RESUMED, NEGOTIATED = "TLS connected: previous session reused", "TLS connected: new session negotiated"
# Seconds over which the CPU of held idle connections is measured.
IDLE_CPU_SECONDS = 5
# Concurrent clients of the burst test, each opening a new connection (RSA) for every request.
BURST_CLIENTS = 200


def parse_args():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (~2 min): 2 rounds of 3 s, memory at 1,000 only")
    ap.add_argument("--a", default="target/release/rstunnel", help="binary in slot A (default %(default)s)")
    ap.add_argument("--b", default="stunnel4", help="binary in slot B (default %(default)s)")
    ap.add_argument("--rounds", type=int, help="rounds per test (quick 2, full 5)")
    ap.add_argument("--seconds", type=int, help="seconds per measurement (quick 3, full 8)")
    ap.add_argument("--mem", help="idle-connection counts, comma-separated (quick 1000, full 1000,8000)")
    ap.add_argument("--mem-rounds", type=int, help="rounds per memory count (quick 1, full 3)")
    ap.add_argument("--tests", default=",".join(TESTS) + ",memory", help="subset to run (default: all)")
    ap.add_argument("--out", default="bench-results", help="results directory (default %(default)s)")
    ap.add_argument("--profile", help="instead of comparing: perf-profile binary A under these tests "
                    "(comma-separated from %s)" % ", ".join(TESTS))
    ap.add_argument("--syscalls", help="instead of comparing: count system calls, context switches and CPU per "
                    "unit of work of both binaries under these tests (perf stat)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (configs, logs)")
    ap.add_argument("--a-workers", type=int, help="`workers = N` in slot A's configs (rstunnel extension)")
    ap.add_argument("--b-workers", type=int, help="`workers = N` in slot B's configs (rstunnel extension)")
    ap.add_argument("--debug", default="3", help="`debug =` in the tunnel configs (default %(default)s)")
    a = ap.parse_args()
    a.rounds = a.rounds or (2 if a.quick else 5)
    a.seconds = a.seconds or (3 if a.quick else 8)
    a.mem = [int(x) for x in (a.mem or ("1000" if a.quick else "1000,8000")).split(",") if x]
    a.mem_rounds = a.mem_rounds or (1 if a.quick else 3)
    a.tests = a.tests.split(",")
    return a


def which(binary):
    path = shutil.which(binary) if os.sep not in binary else os.path.abspath(binary)
    if not path or not os.access(path, os.X_OK):
        sys.exit("bench: %s not found or not executable" % binary)
    return path


def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip() and "inetd mode" not in l]
        return lines[0].strip() if lines else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_busy(seconds=2.0):
    """Fraction of all cores busy over `seconds` (from /proc/stat), before our load starts."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(1, t1 - t0)


def cpu_totals():
    """(machine busy core-seconds, our own + reaped children's core-seconds) right now."""
    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = (sum(v) - v[3] - v[4]) / tick
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def fd_limit():
    with open("/proc/self/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def measure(test, chain, sink, tmp, secs):
    """One measurement of `test` through `chain`; a dict of numbers plus `errors` and tunnel CPU seconds."""
    cpu0 = procs.cpu_seconds(chain.pids())
    if test in ("bulk1", "bulk4"):
        mbs, errors = loads.bulk(sink, chain.entry["bulk"], 1 if test == "bulk1" else 4, secs)
        r = {"mb_s": mbs, "errors": errors}
        work = mbs * secs
    elif test == "burst":
        r = loads.burst(chain.entry["rsa"], BURST_CLIENTS, secs)
        work = r["requests"]
    else:
        service = {"keepalive": "http", "newconn_rsa": "rsa", "newconn_ecdsa": "ecdsa",
                   "newconn_resume": "resume"}[test]
        conns = 100 if test == "keepalive" else 50
        handshakes0 = [chain.count_lines("client", text) for text in (RESUMED, NEGOTIATED)]
        r = loads.wrk(tmp, chain.entry[service], secs, conns, close=(test != "keepalive"))
        work = r["requests"]
        resumed, negotiated = (chain.count_lines("client", text) - n0
                               for text, n0 in zip((RESUMED, NEGOTIATED), handshakes0))
        # Only logged at `debug = 6` or more; at the default level both counts stay 0.
        if resumed + negotiated:
            r["resumed_pct"] = 100.0 * resumed / (resumed + negotiated)
    r["tunnel_cpu_s"] = procs.cpu_seconds(chain.pids()) - cpu0
    r["work"] = work
    if not chain.alive():
        r.setdefault("errors", []).append("a tunnel process exited")
    return r


def measure_memory(chain, sink, count, timeout):
    """Fresh chain, baseline RSS/threads, `count` idle connections, RSS/threads again; per-connection deltas."""
    chain.start()
    base_fds = chain.fds()
    warm = loads.IdleConnections()
    err = warm.open(chain.entry["bulk"], 10, sink, 30)
    warm.close(sink)
    chain.settle(base_fds)
    base = [procs.proc_status(pid) for pid in chain.pids()]
    held = loads.IdleConnections()
    t0 = time.monotonic()
    err = err or held.open(chain.entry["bulk"], count, sink, timeout)
    setup = time.monotonic() - t0
    time.sleep(1.0)
    alive = chain.alive()
    now = [procs.proc_status(pid) for pid in chain.pids()] if alive else base
    # CPU of both instances while the connections sit idle (the issue: under 1%).
    cpu0, t0 = procs.cpu_seconds(chain.pids()), time.monotonic()
    time.sleep(IDLE_CPU_SECONDS)
    idle_cpu = 100.0 * (procs.cpu_seconds(chain.pids()) - cpu0) / (time.monotonic() - t0) if alive else None
    held.close(sink)
    left = chain.settle(base_fds) - base_fds
    chain.stop()
    rss = sum(n[0] for n in now) - sum(b[0] for b in base)
    threads = sum(n[1] for n in now) - sum(b[1] for b in base)
    r = {"count": count, "kib_per_conn": rss / count, "threads_per_conn": threads / count,
         "rss_base_kib": sum(b[0] for b in base), "rss_kib": sum(n[0] for n in now),
         "threads_base": sum(b[1] for b in base), "threads": sum(n[1] for n in now),
         "setup_s": setup, "idle_cpu_pct": idle_cpu, "errors": [err] if err else []}
    if not alive:
        r["errors"].append("a tunnel process exited")
    elif left > 0:
        r["errors"].append("%d descriptors still open 30 s after all connections closed" % left)
    return r


def perf_only(a, bins, names, stamp):
    """`--profile` (binary A) or `--syscalls` (both): perf instead of the comparison."""
    flag, wanted = ("profile", a.profile) if a.profile else ("syscalls", a.syscalls)
    tests = [t for t in wanted.split(",") if t in TESTS]
    if not tests:
        sys.exit("bench: --%s takes tests from %s" % (flag, ", ".join(TESTS)))
    tmp = tempfile.mkdtemp(prefix="rstunnel-bench-")
    sink = nginx = None
    chains = {}
    try:
        certs = procs.make_certs(tmp)
        sink = loads.Sink()
        nginx = procs.Nginx(tmp)
        nginx.start()
        backends = {"bulk": sink.port, "http": nginx.port, "rsa": nginx.port, "ecdsa": nginx.port,
                    "resume": nginx.port}
        slots = "A" if a.profile else "AB"
        chains = {names[k]: procs.Chain(names[k], bins[k], tmp, certs, backends, a.debug) for k in slots}
        if a.profile:
            out = os.path.join(a.out, "%s-profile.txt" % stamp)
            log("profiling %s under %s" % (names["A"], ", ".join(tests)))
            perfprof.run(tests, chains[names["A"]], sink, tmp, a.seconds, out, measure)
        else:
            out = os.path.join(a.out, "%s-syscalls.md" % stamp)
            log("counting system calls of %s under %s" % (" and ".join(chains), ", ".join(tests)))
            perfprof.count(tests, chains, sink, tmp, a.seconds, out, measure)
        log("%s: %s" % (flag, out))
    finally:
        for x in list(chains.values()) + [nginx, sink]:
            if x:
                x.stop()
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    a = parse_args()
    bins = {"A": which(a.a), "B": which(a.b)}
    names = {k: os.path.basename(v) for k, v in bins.items()}
    workers = {"A": a.a_workers, "B": a.b_workers}
    if names["A"] == names["B"]:
        names = {k: "%s-%s" % (v, k) for k, v in names.items()}
    names = {k: v + ("-w%d" % workers[k] if workers[k] else "") for k, v in names.items()}
    mode = "quick" if a.quick else "full"
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(a.out, exist_ok=True)
    result = {
        "mode": mode, "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "scripts/bench " + " ".join(sys.argv[1:]),
        "git": first_line(["git", "describe", "--always", "--dirty"]),
        "slots": {k: {"name": names[k], "binary": bins[k], "version": first_line([bins[k], "-version"])}
                  for k in "AB"},
        "openssl": first_line(["openssl", "version"]), "wrk": first_line(["wrk", "--version"]),
        "nginx": first_line(["/usr/sbin/nginx", "-v"]), "cores": os.cpu_count(),
        "kernel": os.uname().release, "fd_limit": fd_limit(),
        "params": {"rounds": a.rounds, "seconds": a.seconds, "mem": a.mem, "mem_rounds": a.mem_rounds,
                   "debug": a.debug, "workers": workers, "keepalive_connections": 100, "newconn_connections": 50,
                   "wrk_threads": 2},
    }
    if a.profile or a.syscalls:
        return perf_only(a, bins, names, stamp)
    log("machine busy before start: measuring 2 s")
    result["busy_before"] = machine_busy()
    result["load_before"] = os.getloadavg()
    cpu_start = cpu_totals()
    wall0 = time.monotonic()

    tmp = tempfile.mkdtemp(prefix="rstunnel-bench-")
    sink = nginx = None
    chains = {}
    try:
        log("physical limits (openssl speed, OpenSSL's own handshake cost)")
        result["limits"] = loads.openssl_speed(1 if a.quick else 3)
        certs = procs.make_certs(tmp)
        result["limits"].update(loads.handshake_floor(certs, 1 if a.quick else 3))
        sink = loads.Sink()
        nginx = procs.Nginx(tmp)
        nginx.start()
        backends = {"bulk": sink.port, "http": nginx.port, "rsa": nginx.port, "ecdsa": nginx.port,
                    "resume": nginx.port}
        for k in "AB":
            chains[k] = procs.Chain(names[k], bins[k], tmp, certs, backends, a.debug, workers[k])

        log("load generators alone (no tunnel)")
        gen = {}
        if "bulk1" in a.tests:
            gen["bulk1"], _ = loads.bulk(sink, sink.port, 1, a.seconds)
        if "bulk4" in a.tests:
            gen["bulk4"], _ = loads.bulk(sink, sink.port, 4, a.seconds)
        if "keepalive" in a.tests:
            gen["keepalive"] = loads.wrk(tmp, nginx.port, a.seconds, 100)["rate"]
        if any(t.startswith("newconn_") for t in a.tests):
            gen["newconn"] = loads.wrk(tmp, nginx.port, a.seconds, 50, close=True)["rate"]
        result["generators_alone"] = gen

        runs = {t: {k: [] for k in "AB"} for t in TESTS if t in a.tests}
        if runs:
            for k in "AB":
                chains[k].start()
                loads.wrk(tmp, chains[k].entry["http"], 1, 10)   # warm-up, not recorded
            for r in range(a.rounds):
                for t in runs:
                    for k in "AB":
                        log("round %d/%d %s %s" % (r + 1, a.rounds, t, names[k]))
                        m = measure(t, chains[k], sink, tmp, a.seconds)
                        runs[t][k].append(m)
                        if m.get("errors"):
                            log("  errors: %s" % (m["errors"],))
            for k in "AB":
                chains[k].stop()
        result["runs"] = runs

        mem = {}
        if "memory" in a.tests:
            for count in a.mem:
                mem[count] = {k: [] for k in "AB"}
                for r in range(a.mem_rounds):
                    for k in "AB":
                        log("memory %d connections, round %d/%d, %s" % (count, r + 1, a.mem_rounds, names[k]))
                        m = measure_memory(chains[k], sink, count, timeout=max(120, count // 20))
                        mem[count][k].append(m)
                        log("  %.1f KiB and %.3f threads per connection, set up in %.1f s%s" % (
                            m["kib_per_conn"], m["threads_per_conn"], m["setup_s"],
                            ", errors: %s" % m["errors"] if m["errors"] else ""))
        result["memory"] = mem
        result["tunnel_log_errors"] = {names[k]: chains[k].error_lines() for k in "AB"}
    finally:
        for c in chains.values():
            c.stop()
        if nginx:
            nginx.stop()
        if sink:
            sink.stop()

    busy, ours = cpu_totals()
    result["other_cpu_share"] = max(0.0, ((busy - cpu_start[0]) - (ours - cpu_start[1]))) / max(
        1e-9, (busy - cpu_start[0]))
    result["wall_s"] = time.monotonic() - wall0
    result["load_after"] = os.getloadavg()
    result["busy_after"] = machine_busy()
    result["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    base = os.path.join(a.out, "%s-%s" % (stamp, mode))
    with open(base + ".json", "w") as f:
        json.dump(result, f, indent=1, default=str)
    text = report.markdown(result)
    with open(base + ".md", "w") as f:
        f.write(text)
    print(text)
    if a.keep:
        log("configurations and logs kept in %s" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    log("results: %s.md and %s.json" % (base, base))


if __name__ == "__main__":
    main()
