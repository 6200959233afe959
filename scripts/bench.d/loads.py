"""Load generators and the byte sink: bulk streams, wrk runs, idle connections, openssl speed.

The sink and the bulk source run in their own processes (fork), so neither shares a GIL with the
orchestrator or with each other. Every wait here is bounded in time. Nothing here starts tunnels.
"""

import json
import multiprocessing as mp
import os
import re
import selectors
import socket
import subprocess
import threading
import time

CHUNK = 256 * 1024
BULK_TAG, IDLE_TAG = b"B", b"I"


def _sink_main(listener, results, open_count):
    """Accept forever; count bytes per connection. A connection whose first byte is BULK_TAG reports
    (bytes, first byte time, last byte time) on `results` when it ends; `open_count` tracks live ones."""
    sel = selectors.DefaultSelector()
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    buf = bytearray(CHUNK)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, [conn, 0, 0.0, 0.0, None])
                    with open_count.get_lock():
                        open_count.value += 1
                continue
            st = key.data
            try:
                n = st[0].recv_into(buf)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                n = 0
            now = time.monotonic()
            if n:
                if st[4] is None:
                    st[4], st[2] = buf[0:1] == BULK_TAG, now
                st[1] += n
                st[3] = now
                continue
            sel.unregister(st[0])
            st[0].close()
            with open_count.get_lock():
                open_count.value -= 1
            if st[4]:
                results.put((st[1], st[2], st[3]))


class Sink:
    """The byte sink on a free 127.0.0.1 port (the tunnels' `bulk` backend), in its own process."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4096)
        self.port = self.listener.getsockname()[1]
        self.results = mp.Queue()
        self.open_count = mp.Value("i", 0)
        self.proc = mp.Process(target=_sink_main, args=(self.listener, self.results, self.open_count), daemon=True)
        self.proc.start()

    def open(self):
        return self.open_count.value

    def stop(self):
        self.proc.terminate()
        self.proc.join(5)


def _source_stream(port, seconds, errors):
    data = BULK_TAG + bytes(CHUNK - 1)
    block = bytes(CHUNK)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(data)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                s.sendall(block)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(30)
            while s.recv(4096):    # wait for the far end to close: all data went through
                pass
    except OSError as e:
        errors.append(repr(e))


def _source_main(port, streams, seconds, out):
    errors = []
    threads = [threading.Thread(target=_source_stream, args=(port, seconds, errors)) for _ in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    out.put(errors)


def bulk(sink, port, streams, seconds):
    """Send `streams` parallel streams to `port` for `seconds`; MB/s (10^6 bytes) seen by the sink.

    Returns (MB/s, error list). Throughput = all bytes / (first byte .. last byte at the sink)."""
    while not sink.results.empty():
        sink.results.get()
    out = mp.Queue()
    src = mp.Process(target=_source_main, args=(port, streams, seconds, out), daemon=True)
    src.start()
    got = []
    deadline = time.monotonic() + seconds + 60
    while len(got) < streams and time.monotonic() < deadline:
        try:
            got.append(sink.results.get(timeout=1))
        except Exception:
            if not src.is_alive() and sink.results.empty():
                break
    try:
        errors = out.get(timeout=max(1.0, deadline - time.monotonic()))
    except Exception:
        errors = ["the source process gave no report"]
    src.join(5)
    if src.is_alive():
        src.terminate()
        src.join(5)
    if len(got) < streams:
        errors.append("%d of %d streams reached the sink" % (len(got), streams))
    if not got:
        return 0.0, errors
    total = sum(g[0] for g in got)
    span = max(g[2] for g in got) - min(g[1] for g in got)
    return total / span / 1e6, errors


# wrk prints this line from its `done` hook; the percentiles are in microseconds.
WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d,\"p99_us\":%d,\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def wrk(tmp, port, seconds, connections, threads=2, close=False):
    """Run wrk against http://127.0.0.1:port/; returns a dict: rate (req/s), p50_ms, p99_ms, errors."""
    script = os.path.join(tmp, "wrk-done.lua")
    if not os.path.exists(script):
        with open(script, "w") as f:
            f.write(WRK_LUA)
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % seconds, "--timeout", "10s", "-s", script]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append("http://127.0.0.1:%d/" % port)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    m = re.search(r"^WRKJSON (\{.*\})$", p.stdout, re.M)
    if not m:
        raise RuntimeError("wrk gave no result (exit %s):\n%s\n%s" % (p.returncode, p.stdout, p.stderr))
    r = json.loads(m.group(1))
    errors = ["%s errors: %d" % (k, r[k]) for k in ("connect", "read", "write", "status", "timeout") if r[k]]
    return {"rate": r["requests"] / (r["duration_us"] / 1e6), "p50_ms": r["p50_us"] / 1e3,
            "p99_ms": r["p99_us"] / 1e3, "requests": r["requests"], "errors": errors}


BURST_REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def _burst_client(port, deadline, times, errors):
    """One client: connect, request, first byte of the answer, close; again until `deadline`.
    Each time is from the start of connect() to the first byte (a SYN dropped by a full accept queue
    costs the 1 s SYN retransmission here, which wrk's latency would not show)."""
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        s = socket.socket()
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(BURST_REQUEST)
            if not s.recv(1):
                raise OSError("closed before the answer")
            times.append(time.monotonic() - t0)
        except OSError as e:
            errors.append(repr(e))
        finally:
            s.close()


def _burst_main(port, clients, seconds, out):
    deadline = time.monotonic() + seconds
    times, errors = [], []
    threads = [threading.Thread(target=_burst_client, args=(port, deadline, times, errors)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    out.put((times, errors[:5], len(errors)))


def burst(port, clients, seconds):
    """`clients` concurrent clients opening a new connection for each request, in a process of their own;
    returns rate, the share of connections that waited more than 1 s (connect to first byte), p50/p99."""
    out = mp.Queue()
    proc = mp.Process(target=_burst_main, args=(port, clients, seconds, out), daemon=True)
    proc.start()
    times, first_errors, nerr = out.get(timeout=seconds + 60)
    proc.join(10)
    times.sort()
    n = len(times)
    pct = lambda q: times[min(n - 1, int(q * n))] * 1e3 if n else None  # noqa: E731
    errors = ["%d failed connections, e.g. %s" % (nerr, first_errors)] if nerr else []
    return {"rate": n / seconds, "requests": n, "over_1s_pct": 100.0 * sum(t > 1.0 for t in times) / max(1, n),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": times[-1] * 1e3 if n else None, "errors": errors}


class IdleConnections:
    """Hold `count` established connections through a chain to the sink (one tag byte each, then idle)."""

    def __init__(self):
        self.socks = []

    def open(self, port, count, sink, timeout, batch=250):
        """Open in batches, each batch confirmed end to end (the sink sees it) before the next.

        Returns an error string, or None when all `count` reached the sink in time."""
        deadline = time.monotonic() + timeout
        base = sink.open()
        while len(self.socks) < count:
            n = min(batch, count - len(self.socks))
            for _ in range(n):
                s = socket.socket()
                s.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    s.connect(("127.0.0.1", port))
                    s.sendall(IDLE_TAG)
                except OSError as e:
                    s.close()
                    return "connection %d: %r" % (len(self.socks) + 1, e)
                self.socks.append(s)
            while sink.open() - base < len(self.socks):
                if time.monotonic() > deadline:
                    return "only %d of %d connections reached the sink within %ds" % (
                        sink.open() - base, count, timeout)
                time.sleep(0.02)
        return None

    def close(self, sink, timeout=60):
        for s in self.socks:
            s.close()
        self.socks = []
        deadline = time.monotonic() + timeout
        while sink.open() > 0 and time.monotonic() < deadline:
            time.sleep(0.05)


TARGET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target")
# examples/handshake_floor.rs linked to the system OpenSSL, and to the legacy build's (if built).
FLOOR = os.path.join(TARGET, "release", "examples", "handshake_floor")
FLOOR_LEGACY = os.path.join(TARGET, "legacy", "release", "examples", "handshake_floor")


def handshake_floor(certs, seconds):
    """OpenSSL's CPU µs per TLS 1.3 handshake, both sides in one process, no sockets (the floor under any
    tunnel's CPU per new connection on this library): {"rsa_us": …, "ecdsa_us": …, "resumed_us": …}, plus
    the same under "legacy" for the legacy build's OpenSSL when it is built (run after the system one)."""
    def run(binary):
        p = subprocess.run([binary, certs["rsa"], certs["ecdsa"], str(seconds)], capture_output=True, text=True,
                           timeout=seconds * 10 + 60)
        if p.returncode != 0:
            raise RuntimeError("%s failed (exit %s): %s" % (binary, p.returncode, p.stderr.strip()))
        return json.loads(p.stdout)
    out = run(FLOOR)
    if os.access(FLOOR_LEGACY, os.X_OK):
        out["legacy"] = run(FLOOR_LEGACY)
    return out


def openssl_speed(seconds):
    """One core's limits: AES-128-GCM MB/s at 16 KiB records, RSA-2048 and ECDSA P-256 signs/s."""
    def run(*args):
        p = subprocess.run(["openssl", "speed", "-mr", "-seconds", str(seconds), *args],
                           capture_output=True, text=True, timeout=seconds * 20 + 60)
        return p.stdout
    out = {}
    m = re.search(r"^\+F:\d+:AES-128-GCM:(.*)$", run("-evp", "aes-128-gcm"), re.M)
    out["aes128gcm_mb_s"] = float(m.group(1).split(":")[-1]) / 1e6 if m else None
    m = re.search(r"^\+F2:\d+:2048:([\d.]+):", run("rsa2048"), re.M)
    out["rsa2048_sign_s"] = float(m.group(1)) if m else None
    m = re.search(r"^\+F4:\d+:256:([\d.]+):", run("ecdsap256"), re.M)
    out["p256_sign_s"] = float(m.group(1)) if m else None
    return out
