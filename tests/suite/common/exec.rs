//! Helpers shared by the exec, ident and transparent tests: a Python `ssl`
//! client (a real TLS peer nobody here wrote, kept beside the OpenSSL
//! clients of [`tls_client`](super::tls_client) on purpose; it reports its
//! own local port before it connects, which the transparent and ident
//! tests need), a network namespace for tests that need fixed ports or
//! addresses (ident's port 113, iptables rules), and the pid of a `Local
//! mode child started (PID=N)` line.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::PATIENCE;

/// What the Python client did: bytes received, and its own local port.
pub struct TlsRun {
    pub received: Vec<u8>,
    pub local_port: u16,
}

/// Connect with Python `ssl` to `host:port` (no verification), optionally
/// with a client certificate, send `data`, then read `expect` bytes if
/// given, else until the server closes. `source` binds the client socket.
pub fn py_tls_client(
    host: &str,
    port: u16,
    data: &[u8],
    expect: Option<usize>,
    cert: Option<&Path>,
    source: Option<&str>,
) -> TlsRun {
    py_tls_client_in(None, host, port, data, expect, cert, source)
}

/// [`py_tls_client`] run inside the named network namespace `netns`
/// (`ip netns exec`), or in the caller's when `None`.
pub fn py_tls_client_in(
    netns: Option<&str>,
    host: &str,
    port: u16,
    data: &[u8],
    expect: Option<usize>,
    cert: Option<&Path>,
    source: Option<&str>,
) -> TlsRun {
    const CLIENT: &str = r#"
import socket, ssl, sys
host, port, expect, cert, source = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if cert:
    ctx.load_cert_chain(cert)
data = sys.stdin.buffer.read()
# Bind first: the port is known even if the server resets the connection
# before the connect call returns.
raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
raw.bind((source or "0.0.0.0", 0))
sys.stderr.write("%d\n" % raw.getsockname()[1]); sys.stderr.flush()
raw.settimeout(20)
out = b""
try:
    raw.connect((host, port))
    s = ctx.wrap_socket(raw)
    s.sendall(data)
    while expect < 0 or len(out) < expect:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except (ssl.SSLError, OSError) as e:
    sys.stderr.write("error %s\n" % e)
sys.stdout.buffer.write(out)
"#;
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "python3"]);
            c
        }
        None => Command::new("python3"),
    };
    let mut child = cmd
        .args(["-c", CLIENT, host, &port.to_string()])
        .arg(expect.map_or("-1".to_string(), |n| n.to_string()))
        .arg(cert.map(|c| c.display().to_string()).unwrap_or_default())
        .arg(source.unwrap_or(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(PATIENCE) {
        Ok(Ok(out)) => out,
        _ => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("python TLS client did not finish");
        }
    };
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let local_port = err
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("python client: {err}"));
    TlsRun {
        received: out.stdout,
        local_port,
    }
}

/// The pid in a `Local mode child started (PID=N)` line.
pub fn child_pid(line: &str) -> i32 {
    // The child's own stderr may share the line (foreground mode).
    line.rsplit("PID=")
        .next()
        .and_then(|s| s.split(')').next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid in {line:?}"))
}

/// Whether `pid` is gone or at least not a zombie of ours.
pub fn reaped(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // Field 3 is the state; `Z` = zombie (exited, not waited for).
        Ok(stat) => super::procs::stat_field(&stat, 3).as_deref() != Some("Z"),
    }
}

/// Move the calling thread (and every process and socket it creates
/// afterwards) into a fresh network namespace with `lo` up. Linux network
/// namespaces are per thread, so this isolates one test: fixed ports
/// (ident's 113) and iptables rules cannot clash with anything else.
/// Returns `false` (the test should skip) without CAP_SYS_ADMIN.
pub fn private_netns() -> bool {
    // SAFETY: affects only the calling thread's namespace membership.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        crate::common::must_run::cannot_run(
            "this test",
            "cannot create a network namespace (needs root)",
        );
        return false;
    }
    sh("ip link set lo up");
    true
}

/// Run a shell command (in the caller's namespace), which must succeed.
pub fn sh(cmd: &str) {
    let (ok, out, err) = crate::common::run_cmd(Command::new("sh").args(["-c", cmd]));
    assert!(ok, "{cmd}: {out}{err}");
}

/// A named network namespace (`ip netns add`), deleted on drop.
pub struct NamedNetns(pub String);

impl NamedNetns {
    pub fn create(tag: &str) -> NamedNetns {
        let name = format!("rst{tag}{}", std::process::id());
        sh(&format!("ip netns add {name}"));
        NamedNetns(name)
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}
