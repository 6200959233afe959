"""`scripts/bench --profile TEST[,TEST…]`: profile the A binary's chain under one load with perf;
`scripts/bench --syscalls TEST[,TEST…]`: count both chains' system calls and context switches per unit of work.

For each test, chain A alone is started, the load runs as in the benchmark, and `perf record` samples
both instances (software cpu-clock event: this VM has no hardware counters). The output is the flat
profile (self time by shared object and symbol) of each instance plus the summed share of symbols that
mean lock waiting or OpenSSL's per-call lookups (issue 6: OpenSSL 3.0 lock contention). It measures no
ratio; bench.py does that.
"""

import os
import re
import signal
import subprocess
import time

import loads
import procs

# Symbols whose self time means waiting on a lock or OpenSSL 3.0 doing shared-table lookups per call.
LOCKISH = re.compile(r"futex|__lll_lock|pthread_rwlock|pthread_mutex|CRYPTO_THREAD_(read|write|unlock)|"
                     r"ossl_lib_ctx_get_data|ossl_namemap|ossl_method_store|ossl_decoder|OSSL_DECODER|"
                     r"evp_generic_fetch|inner_evp_generic_fetch|ossl_provider|CRYPTO_atomic|sa_doall|"
                     r"OPENSSL_LH_retrieve|ossl_property")


def run(tests, chain, sink, tmp, seconds, out_path, measure, freq=199):
    lines = []
    for test in tests:
        chain.start()
        loads.wrk(tmp, chain.entry["http"], 1, 10)  # warm-up
        data = {role: os.path.join(tmp, "perf-%s-%s.data" % (test, role)) for role in chain.procs}
        perfs = {role: subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", str(freq),
                                         "--call-graph", "dwarf,16384", "-p", str(p.pid), "-o", data[role]],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for role, p in chain.procs.items()}
        time.sleep(0.5)   # perf attaches asynchronously; a late start only loses samples
        m = measure(test, chain, sink, tmp, seconds)
        for p in perfs.values():
            p.send_signal(signal.SIGINT)
        for p in perfs.values():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        chain.stop()
        lines.append("## %s: %s" % (test, {k: v for k, v in m.items() if k != "errors"}))
        for role in ("client", "server"):
            def report(*args):
                rep = subprocess.run(["perf", "report", "-i", data[role], "--stdio", "-g", "none", *args],
                                     capture_output=True, text=True, timeout=600).stdout
                return [l for l in rep.splitlines() if l.strip() and not l.startswith("#")]
            lines.append("")
            lines.append("### %s instance: self time by shared object" % role)
            lines.append("")
            lines += ["    " + l.rstrip() for l in report("--no-children", "--percent-limit", "1", "--sort", "dso")]
            lines.append("")
            lines.append("### %s instance: inclusive time of rstunnel functions and OpenSSL entry points" % role)
            lines.append("")
            # tokio's frames are all ~90% inclusive and would crowd out the ones that say where time goes.
            incl = [l for l in report("--children", "--percent-limit", "2", "--sort", "sym")
                    if re.search(r"rstunnel::|\] (SSL|ssl|tls|EVP|X509|d2i|OSSL|ossl)_", l)]
            lines += ["    " + l.rstrip() for l in incl[:45]]
            rows = report("--no-children", "--percent-limit", "0.3", "--sort", "dso,sym")
            lock = 0.0
            for l in rows:
                mm = re.match(r"\s*([\d.]+)%", l)
                if mm and LOCKISH.search(l):
                    lock += float(mm.group(1))
            lines.append("")
            lines.append("### %s instance: top symbols by self time (cpu-clock samples)" % role)
            lines.append("")
            lines += ["    " + l.rstrip() for l in rows[:40]]
            lines.append("")
            lines.append("Lock waiting / OpenSSL shared lookups (symbols listed above matching %s): %.1f%%"
                         % ("futex, pthread locks, CRYPTO_THREAD_*, ossl_* lookups", lock))
        lines.append("")
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out_path


def count(tests, chains, sink, tmp, seconds, out_path, measure):
    """For each test and chain: `perf stat` on each instance (system calls, context switches, CPU time) while
    the load runs, divided by the work done (MB for bulk, connections or requests otherwise). Threads an
    instance starts during the load (stunnel4's one per connection) are counted through perf's inheritance."""
    events = ("raw_syscalls:sys_enter", "context-switches", "task-clock")
    lines = ["| test (per unit of work) | implementation | instance | units/s | system calls | context switches | "
             "CPU ms |",
             "|---|---|---|---:|---:|---:|---:|"]
    for test in tests:
        unit = "MB" if test.startswith("bulk") else "connection" if test != "keepalive" else "request"
        for label, chain in chains.items():
            chain.start()
            loads.wrk(tmp, chain.entry["http"], 1, 10)  # warm-up
            stat = {role: os.path.join(tmp, "stat-%s-%s-%s.csv" % (test, label, role)) for role in chain.procs}
            perfs = {role: subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(events), "-p", str(p.pid),
                                             "-o", stat[role]], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
                     for role, p in chain.procs.items()}
            time.sleep(0.5)
            m = measure(test, chain, sink, tmp, seconds)
            for p in perfs.values():
                p.send_signal(signal.SIGINT)
            for p in perfs.values():
                p.wait(60)
            chain.stop()
            work = m["work"]
            for role in ("client", "server"):
                vals = {}
                with open(stat[role]) as f:
                    for row in f:
                        cells = row.strip().split(",")
                        if len(cells) > 2 and cells[2] in events and cells[0].replace(".", "").isdigit():
                            vals[cells[2]] = float(cells[0])
                per = [vals.get(e, 0.0) / max(work, 1e-9) for e in events]
                lines.append("| %s (per %s) | %s | %s | %.0f | %.1f | %.2f | %.3f |" % (
                    test, unit, label, role, work / seconds, per[0], per[1], per[2]))
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return out_path
