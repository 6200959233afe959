"""Processes the benchmark runs: the two tunnel chains, nginx, certificates, ports, /proc readings.

Each implementation runs its own chain of two instances, a client-mode one (plain in, TLS out) and a
server-mode one (TLS in, plain out), both started from the *same* stunnel configuration files; only the
binary differs. This module does not measure anything; loads.py does.
"""

import glob
import os
import signal
import socket
import subprocess
import time

# Ports handed out in this run, so two picks never collide even before their owners bind them.
_taken = set()


def free_port():
    """A TCP port on 127.0.0.1 free right now (bind port 0, read it back, release it)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _taken:
            _taken.add(port)
            return port
    raise RuntimeError("no free port found")


def listening(port):
    """True when some socket listens on 127.0.0.1:port (read from /proc, so nothing connects)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == want and fields[3] == "0A":
                return True
    return False


def wait_listening(ports, proc, log_path, what, timeout=15.0):
    """Wait until every port listens; fail with the process log if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s:\n%s" % (what, proc.returncode, tail(log_path)))
        if all(listening(p) for p in ports):
            return
        time.sleep(0.05)
    raise RuntimeError("%s did not listen on %s within %ss:\n%s" % (what, ports, timeout, tail(log_path)))


def tail(path, lines=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


def make_certs(tmp):
    """Self-signed RSA-2048 and ECDSA P-256 certificates (CN=localhost) as stunnel `cert` PEM files."""
    out = {}
    for name, keyopts in (("rsa", ["-newkey", "rsa:2048"]),
                          ("ecdsa", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])):
        key, crt, pem = (os.path.join(tmp, "%s.%s" % (name, ext)) for ext in ("key", "crt", "pem"))
        subprocess.run(["openssl", "req", "-x509", *keyopts, "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", key, "-out", crt], check=True, capture_output=True)
        with open(pem, "w") as f:
            f.write(open(crt).read() + open(key).read())
        os.chmod(pem, 0o600)
        out[name] = pem
    return out


class Chain:
    """One implementation's client-mode → server-mode chain: config files, ports, the two processes.

    Services (same names in both files):
      bulk   → the byte sink (bulk throughput, idle connections for the memory test)
      http   → nginx, default session settings (keep-alive test)
      rsa    → nginx, RSA-2048 certificate, sessionResume = no (every connection a full handshake)
      ecdsa  → nginx, ECDSA P-256 certificate, sessionResume = no
      resume → nginx, RSA-2048 certificate, default session settings (the client mode resumes what it can)
    """

    SERVICES = ("bulk", "http", "rsa", "ecdsa", "resume")

    def __init__(self, label, binary, tmp, certs, backends, debug, workers=None):
        self.label, self.binary = label, binary
        self.dir = os.path.join(tmp, label)
        os.makedirs(self.dir, exist_ok=True)
        self.entry = {s: free_port() for s in self.SERVICES}   # plain ports the load generators use
        self.tls = {s: free_port() for s in self.SERVICES}     # server-mode TLS ports
        self.procs = {}
        cert = {"bulk": certs["rsa"], "http": certs["rsa"], "rsa": certs["rsa"], "ecdsa": certs["ecdsa"],
                "resume": certs["rsa"]}
        head = "foreground = yes\nsyslog = no\ndebug = %s\n" % debug
        if workers:
            head += "workers = %d\n" % workers   # rstunnel extension: both instances of the chain
        client, server = [head], [head]
        for s in self.SERVICES:
            client.append("\n[%s]\nclient = yes\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
                          % (s, self.entry[s], self.tls[s]))
            server.append("\n[%s]\naccept = 127.0.0.1:%d\ncert = %s\nconnect = 127.0.0.1:%d\n"
                          % (s, self.tls[s], cert[s], backends[s]))
            if s in ("rsa", "ecdsa"):
                server.append("sessionResume = no\n")
        self.conf = {}
        for role, text in (("client", client), ("server", server)):
            self.conf[role] = os.path.join(self.dir, role + ".conf")
            with open(self.conf[role], "w") as f:
                f.write("".join(text))

    def log(self, role):
        return os.path.join(self.dir, role + ".log")

    def start(self):
        """Start (or restart) both instances and wait until they listen."""
        self.stop()
        for role, ports in (("server", self.tls), ("client", self.entry)):
            log = open(self.log(role), "a")
            self.procs[role] = subprocess.Popen([self.binary, self.conf[role]], stdin=subprocess.DEVNULL,
                                                stdout=log, stderr=log, start_new_session=True)
            log.close()
            wait_listening(list(ports.values()), self.procs[role], self.log(role),
                           "%s %s instance (%s)" % (self.label, role, self.binary))

    def stop(self):
        """Stop the entry (client-mode) instance first, so no new connection meets a missing server."""
        for role in ("client", "server"):
            if role in self.procs:
                stop_process(self.procs[role])
        self.procs = {}

    def fds(self):
        """Open descriptors of both instances together."""
        return sum(len(os.listdir("/proc/%d/fd" % pid)) for pid in self.pids())

    def settle(self, fds, timeout=30.0):
        """Wait (bounded) until both instances are back to at most `fds` descriptors; the count reached."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.fds() if self.alive() else 0
            if n <= fds or time.monotonic() > deadline:
                return n
            time.sleep(0.05)

    def pids(self):
        """Both instances and, under `workers`, their worker processes (CPU, memory and descriptors count
        them all)."""
        pids = []
        for p in self.procs.values():
            pids.append(p.pid)
            for task in glob.glob("/proc/%d/task/*/children" % p.pid):
                try:
                    with open(task) as f:
                        pids.extend(int(c) for c in f.read().split())
                except OSError:
                    pass
        return pids

    def alive(self):
        return all(p.poll() is None for p in self.procs.values())

    def count_lines(self, role, text):
        """Lines of `role`'s log that contain `text` (0 if the log is missing)."""
        try:
            with open(self.log(role), errors="replace") as f:
                return sum(1 for line in f if text in line)
        except OSError:
            return 0

    def error_lines(self):
        """Log lines at level 0..3 (emerg..err) of connections (not `[ui]`, the start-up lines) from both
        instances, in stunnel's `LOGn[ID]:` format."""
        n = 0
        for role in ("client", "server"):
            try:
                with open(self.log(role), errors="replace") as f:
                    n += sum(1 for line in f if any(" LOG%d[" % lvl in line for lvl in range(4))
                             and "[ui]" not in line)
            except OSError:
                pass
        return n


def stop_process(p, timeout=10.0):
    """SIGTERM, wait (bounded), then SIGKILL. Only the process we started, by its pid."""
    if p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout)


class Nginx:
    """A private nginx (single process, no daemon) answering `200 hello` on a free port."""

    def __init__(self, tmp, binary="/usr/sbin/nginx"):
        self.dir = os.path.join(tmp, "nginx")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.binary = binary
        self.errlog = os.path.join(self.dir, "error.log")
        d = self.dir
        conf = f"""
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 10000; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location / {{ return 200 "hello\\n"; }}
    }}
}}
"""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = None

    def start(self):
        log = open(self.errlog, "a")
        self.proc = subprocess.Popen([self.binary, "-p", self.dir, "-e", self.errlog, "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        wait_listening([self.port], self.proc, self.errlog, "nginx")

    def stop(self):
        if self.proc:
            stop_process(self.proc)


def proc_status(pid):
    """(VmRSS in KiB, Threads) of a live process."""
    rss = threads = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def cpu_seconds(pids):
    """User + system CPU seconds consumed so far by the given processes (all their threads)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15 of stat)
        except OSError:
            pass
    return total / tick
