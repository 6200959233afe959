"""The results file: medians over rounds, ratios A/B against issue 6's targets, the raw rounds.

Input is the result dict bench.py builds (also saved as JSON next to the Markdown). Pure formatting.
"""

from statistics import median

# (row label, test, key in a run, target ratio A/B, "ge" or "le")
ROWS = [
    ("bulk, 1 stream (MB/s)", "bulk1", "mb_s", 1.5, "ge"),
    ("bulk, 4 streams (MB/s)", "bulk4", "mb_s", 1.5, "ge"),
    ("keep-alive (req/s)", "keepalive", "rate", 1.5, "ge"),
    ("keep-alive p50 latency (ms)", "keepalive", "p50_ms", None, None),
    ("keep-alive p99 latency (ms)", "keepalive", "p99_ms", 0.25, "le"),
    ("new connections, RSA-2048 (conn/s)", "newconn_rsa", "rate", 5.0, "ge"),
    ("new connections, ECDSA P-256 (conn/s)", "newconn_ecdsa", "rate", 5.0, "ge"),
    ("new connections, RSA-2048, sessions resumed (conn/s)", "newconn_resume", "rate", 5.0, "ge"),
    ("  of which the client mode resumed (%, `debug = 6` only)", "newconn_resume", "resumed_pct", None, None),
    ("burst, 200 clients, new connections RSA (conn/s)", "burst", "rate", None, None),
    ("burst: connections waiting > 1 s (%)", "burst", "over_1s_pct", None, None),
    ("burst: p99 connect to first byte (ms)", "burst", "p99_ms", None, None),
    ("burst: slowest connect to first byte (ms)", "burst", "max_ms", None, None),
]


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.2f" % v


def verdict(ratio, target, how):
    if target is None or ratio is None:
        return "", ""
    ok = ratio >= target if how == "ge" else ratio <= target
    return ("≥ %g×" if how == "ge" else "≤ %g×") % target, "yes" if ok else "**no**"


def med(runs, key):
    vals = ([r[key] for r in runs if r.get(key) is not None and not r.get("errors")]
            or [r[key] for r in runs if r.get(key) is not None])
    return median(vals) if vals else None


def markdown(res):
    a, b = res["slots"]["A"]["name"], res["slots"]["B"]["name"]
    p = res["params"]
    out = ["# %s vs %s: %s run, %s" % (a, b, res["mode"], res["started"].replace("T", " ")), ""]
    out.append("Command: `%s` (git %s); %s wall seconds." % (res["command"], res["git"], fmt(res.get("wall_s"))))
    out.append("")
    out.append("- A = `%s`: %s" % (res["slots"]["A"]["binary"], res["slots"]["A"]["version"]))
    out.append("- B = `%s`: %s" % (res["slots"]["B"]["binary"], res["slots"]["B"]["version"]))
    out.append("- %s cores, Linux %s, %s, %s, %s; soft descriptor limit %s." % (
        res["cores"], res["kernel"], res["openssl"], res["wrk"], res["nginx"], res["fd_limit"]))
    out.append("- %d rounds × %d s per measurement, interleaved (A B A B …); medians over rounds; ratio = A / B. "
               "Both tunnel instances of a chain run the same stunnel configuration files (`debug = %s`). "
               "wrk: %d threads, %d connections keep-alive, %d with `Connection: close`; nginx answers "
               "`200 hello` (one worker); the client, both tunnels and the backend share the same cores."
               % (p["rounds"], p["seconds"], p["debug"], p["wrk_threads"], p["keepalive_connections"],
                  p["newconn_connections"]))
    other = res.get("other_cpu_share", 0)
    busy = "- Machine: %.0f%% of the CPU busy before the run (load %s), %.0f%% after; other processes used " \
           "%.0f%% of all CPU time consumed during the run." % (
               100 * res["busy_before"], "/".join("%.2f" % x for x in res["load_before"]),
               100 * res.get("busy_after", 0), 100 * other)
    out.append(busy)
    if other > 0.05 or res["busy_before"] > 0.10:
        out.append("  **Numbers were taken with other work running on the machine**; absolute values are low "
                   "and noisy, the interleaved ratios are the meaningful part.")
    out.append("")

    lim = res.get("limits", {})
    out += ["## Physical limits (one core, `openssl speed`; `examples/handshake_floor.rs`)", "",
            "| AES-128-GCM, 16 KiB blocks | RSA-2048 signs/s | ECDSA P-256 signs/s | "
            "CPU µs per TLS 1.3 handshake, both sides, no sockets: RSA / ECDSA / RSA resumed |",
            "|---:|---:|---:|---:|",
            "| %s MB/s | %s | %s | %s / %s / %s |" % (
                fmt(lim.get("aes128gcm_mb_s")), fmt(lim.get("rsa2048_sign_s")), fmt(lim.get("p256_sign_s")),
                fmt(lim.get("rsa_us")), fmt(lim.get("ecdsa_us")), fmt(lim.get("resumed_us")))]
    if "legacy" in lim:
        leg = lim["legacy"]
        out.append("| | | | legacy build's OpenSSL: %s / %s / %s |" % (
            fmt(leg.get("rsa_us")), fmt(leg.get("ecdsa_us")), fmt(leg.get("resumed_us"))))
    out += ["",
            "The handshake figure is OpenSSL's own work for one connection's client and server; any tunnel "
            "chain on this library pays it plus its TCP connections and its own code.", ""]
    g = res.get("generators_alone", {})
    out += ["## Load generators alone (no tunnel, same machine)", "",
            "| bulk, 1 stream | bulk, 4 streams | wrk keep-alive | wrk `Connection: close` |",
            "|---:|---:|---:|---:|",
            "| %s MB/s | %s MB/s | %s req/s | %s conn/s |" % (fmt(g.get("bulk1")), fmt(g.get("bulk4")),
                                                         fmt(g.get("keepalive")), fmt(g.get("newconn"))), ""]

    out += ["## Results (medians)", "", "| measurement | %s (A) | %s (B) | A/B | target | met |" % (a, b),
            "|---|---:|---:|---:|---:|:---:|"]
    runs = res.get("runs", {})
    for label, test, key, target, how in ROWS:
        if test not in runs:
            continue
        va, vb = med(runs[test]["A"], key), med(runs[test]["B"], key)
        ratio = va / vb if va is not None and vb else None
        t, ok = verdict(ratio, target, how)
        out.append("| %s | %s | %s | %s | %s | %s |" % (label, fmt(va), fmt(vb), fmt(ratio), t, ok))
    for count, slots in sorted(res.get("memory", {}).items(), key=lambda kv: int(kv[0])):
        va, vb = med(slots["A"], "kib_per_conn"), med(slots["B"], "kib_per_conn")
        ratio = va / vb if va is not None and vb else None
        t, ok = verdict(ratio, 0.25, "le")
        out.append("| memory per idle connection at %s (KiB, both instances) | %s | %s | %s | %s | %s |"
                   % ("{:,}".format(int(count)), fmt(va), fmt(vb), fmt(ratio), t, ok))
        ta, tb = med(slots["A"], "threads_per_conn"), med(slots["B"], "threads_per_conn")
        out.append("| threads per idle connection at %s | %s | %s | | | |" % ("{:,}".format(int(count)), fmt(ta),
                                                                            fmt(tb)))
        ca, cb = med(slots["A"], "idle_cpu_pct"), med(slots["B"], "idle_cpu_pct")
        if ca is not None:
            out.append("| CPU while %s connections are idle (%% of one core, both instances) | %s | %s | | < 1%% | %s |"
                       % ("{:,}".format(int(count)), fmt(ca), fmt(cb), "yes" if ca < 1 else "**no**"))
        errs_a = sum(len(r["errors"]) for r in slots["A"])
        errs_b = sum(len(r["errors"]) for r in slots["B"])
        if int(count) >= 8000:
            out.append("| %s connections held with no error | %s | %s | | all held | %s |" % (
                "{:,}".format(int(count)), "yes" if not errs_a else "no", "yes" if not errs_b else "no",
                "yes" if not errs_a else "**no**"))
    out.append("")

    out += ["## Tunnel CPU cost (both instances of a chain, medians)", "",
            "| measurement | %s (A) | %s (B) | A/B |" % (a, b), "|---|---:|---:|---:|"]
    for test, unit, scale in (("bulk1", "CPU ms per MB, 1 stream", 1e3), ("bulk4", "CPU ms per MB, 4 streams", 1e3),
                              ("keepalive", "CPU µs per keep-alive request", 1e6),
                              ("newconn_rsa", "CPU µs per new connection, RSA", 1e6),
                              ("newconn_ecdsa", "CPU µs per new connection, ECDSA", 1e6),
                              ("newconn_resume", "CPU µs per new connection, RSA, sessions resumed", 1e6),
                              ("burst", "CPU µs per new connection, burst of 200 clients (RSA)", 1e6)):
        if test not in runs:
            continue
        cost = {k: median([scale * r["tunnel_cpu_s"] / r["work"] for r in runs[test][k] if r["work"]] or [0])
                for k in "AB"}
        out.append("| %s | %s | %s | %s |" % (unit, fmt(cost["A"]), fmt(cost["B"]),
                                              fmt(cost["A"] / cost["B"]) if cost["B"] else "–"))
    out.append("")

    out += ["## Every round", ""]
    for label, test, key, _, _ in ROWS:
        if test in runs:
            out.append("- %s: A %s; B %s" % (label, ", ".join(fmt(r.get(key)) for r in runs[test]["A"]),
                                             ", ".join(fmt(r.get(key)) for r in runs[test]["B"])))
    for count, slots in sorted(res.get("memory", {}).items(), key=lambda kv: int(kv[0])):
        for k in "AB":
            out.append("- memory at %s, %s: %s" % (count, k, "; ".join(
                "%s KiB/conn, %s threads/conn (RSS %s → %s KiB, threads %d → %d, set up in %s s, idle CPU %s%%)" % (
                    fmt(r["kib_per_conn"]), fmt(r["threads_per_conn"]), fmt(r["rss_base_kib"]), fmt(r["rss_kib"]),
                    r["threads_base"], r["threads"], fmt(r["setup_s"]), fmt(r.get("idle_cpu_pct")))
                for r in slots[k])))
    out.append("")

    errors = []
    for test, slots in runs.items():
        for k in "AB":
            for i, r in enumerate(slots[k]):
                if r.get("errors"):
                    errors.append("- %s %s round %d: %s" % (test, k, i + 1, r["errors"]))
    for count, slots in res.get("memory", {}).items():
        for k in "AB":
            for i, r in enumerate(slots[k]):
                if r["errors"]:
                    errors.append("- memory %s %s round %d: %s" % (count, k, i + 1, r["errors"]))
    out += ["## Errors", ""] + (errors or ["None during the measurements."])
    logs = res.get("tunnel_log_errors", {})
    out.append("")
    out.append("Tunnel log lines at level err or worse: %s." % ", ".join("%s %d" % kv for kv in logs.items()))
    out.append("")
    return "\n".join(out)
