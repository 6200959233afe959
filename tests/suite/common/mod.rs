//! Shared test harness: run rstunnel (or stunnel4, the oracle) on a config
//! written to a temp dir, read its log, and find the ports it bound.
//!
//! Configs use port 0; the daemon logs `Service [NAME] (FD=N) bound to
//! ADDR:PORT` at info level, which is how a test learns the real port — no
//! fixed ports, no sleeps.

#![allow(dead_code)]

/// Python `ssl` client, network namespaces, exec'd children.
pub mod exec;
/// The one capture of rstunnel's in-process log.
pub mod in_process_log;
/// A missing peer fails the test (`RSTUNNEL_TEST_SKIP=1` opts out).
pub mod must_run;
/// Echo, tagged-echo, answering and HTTP backends; payloads.
pub mod net;
/// An `openssl ocsp` responder and its PKI.
pub mod ocsp_env;
/// Real protocol peers (Postfix, Dovecot, slapd, PostgreSQL…) and the
/// protocol hook driver.
pub mod peers;
/// Daemons known by pid, whose log is an `output` file.
pub mod procs;
/// Ticket key files and `openssl s_client` sessions kept in files.
pub mod ticket_keys;
/// Blocking OpenSSL TLS clients, with session control.
pub mod tls_client;
/// Throwaway CAs and certificates.
pub mod tls_pki;
/// Hand-built `Service`s for in-process TLS contexts; process helpers.
pub mod tls_service;
/// tlslite-ng peers: the old clients and servers.
pub mod tlslite;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any single wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Which program runs the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    Rstunnel,
    Stunnel4,
}

impl Impl {
    pub fn program(self) -> &'static str {
        match self {
            Impl::Rstunnel => env!("CARGO_BIN_EXE_rstunnel"),
            Impl::Stunnel4 => "stunnel4",
        }
    }
}

/// The log a daemon has written so far, shared with the reader thread.
#[derive(Default)]
pub struct Log {
    lines: Mutex<Vec<String>>,
    changed: Condvar,
}

impl Log {
    /// Wait until a line contains `needle`; return it.
    pub fn wait_for(&self, needle: &str) -> String {
        self.wait_for_nth(needle, 1)
    }

    /// Wait until `n` lines contain `needle`; return the n-th.
    pub fn wait_for_nth(&self, needle: &str, n: usize) -> String {
        // How many lines the last look saw: wake up when there are more.
        let seen = std::cell::Cell::new(0);
        wait_for_line(
            needle,
            n,
            "the daemon's stderr",
            || {
                let lines = self.lines.lock().unwrap();
                seen.set(lines.len());
                lines.join("\n")
            },
            |deadline| {
                let lines = self.lines.lock().unwrap();
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = self
                    .changed
                    .wait_timeout_while(lines, left, |l| l.len() == seen.get())
                    .unwrap();
            },
        )
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    fn push(&self, line: String) {
        self.lines.lock().unwrap().push(line);
        self.changed.notify_all();
    }
}

/// A running daemon; killed (SIGKILL) and reaped on drop.
pub struct Daemon {
    pub child: Child,
    pub log: Arc<Log>,
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
}

impl Daemon {
    /// Start `imp` on `conf` (written to `dir/NAME.conf`) in the foreground,
    /// collecting stderr.
    pub fn start(imp: Impl, conf: &str) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        Daemon::start_in(imp, conf, dir)
    }

    pub fn start_in(imp: Impl, conf: &str, dir: tempfile::TempDir) -> Daemon {
        let cwd = dir.path().to_path_buf();
        Daemon::start_in_from(imp, conf, dir, &cwd)
    }

    /// As [`start_in`](Self::start_in), but started from `cwd` (relative
    /// file names then mean something else than "beside the file").
    pub fn start_in_from(imp: Impl, conf: &str, dir: tempfile::TempDir, cwd: &Path) -> Daemon {
        Daemon::start_adjusted(imp, conf, dir, cwd, |_| {})
    }

    /// As [`start_in_from`](Self::start_in_from), with `adjust` applied to
    /// the command before it is spawned (e.g. a `pre_exec` that gives the
    /// daemon a terminal of its own, or none).
    pub fn start_adjusted(
        imp: Impl,
        conf: &str,
        dir: tempfile::TempDir,
        cwd: &Path,
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        let path = dir.path().join("tunnel.conf");
        std::fs::write(&path, conf).unwrap();
        let mut cmd = Command::new(imp.program());
        cmd.arg(&path)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        adjust(&mut cmd);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", imp.program()));
        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.push(line);
            }
        });
        Daemon {
            child,
            log,
            dir,
            conf: path,
        }
    }

    /// The port service `name` bound (from its `bound to` log line).
    pub fn port(&self, name: &str) -> u16 {
        bound_port(&self.log.wait_for(&format!("Service [{name}] (FD=")))
    }

    /// Wait for the process to exit by itself; return its status code.
    pub fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not exit; log:\n{}",
                self.log.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }
}

/// Stops the daemon; then its log must hold no panic (the default hook's
/// `panicked at` on stderr, or rstunnel's `INTERNAL ERROR: panic`): no
/// test input may panic the daemon.
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        assert_no_panic(&self.log.text());
    }
}

/// The one log waiter, for a log on a pipe ([`Log`]) or in a file
/// ([`procs::LogFile`]): until `n` lines of `read()` contain `needle`,
/// `pause` (until the log may have grown, at most until the deadline it is
/// given) and look again; the n-th such line. After `PATIENCE` the test
/// fails with the whole log, which came from `source`.
pub fn wait_for_line(
    needle: &str,
    n: usize,
    source: &str,
    mut read: impl FnMut() -> String,
    mut pause: impl FnMut(Instant),
) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let text = read();
        if let Some(line) = text.lines().filter(|l| l.contains(needle)).nth(n - 1) {
            return line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?} (x{n}) in {source}:\n{text}"
        );
        pause(deadline);
    }
}

/// The port of a `Service [NAME] (FD=N) bound to ADDR:PORT` line.
pub fn bound_port(line: &str) -> u16 {
    line.rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"))
}

/// When a test ends, its daemon's log must hold no panic (the default
/// hook's `panicked at` on stderr, or rstunnel's `INTERNAL ERROR: panic`):
/// no test input may panic the daemon. Not checked while the test itself
/// is failing.
pub fn assert_no_panic(log: &str) {
    if std::thread::panicking() {
        return;
    }
    assert!(
        !log.contains("INTERNAL ERROR: panic") && !log.contains("panicked at"),
        "the daemon panicked:\n{log}"
    );
}

/// The header every test config starts with: foreground, info-level log to
/// stderr (for `bound to` lines), no syslog noise.
pub fn header() -> String {
    "foreground = yes\ndebug = info\nsyslog = no\n".to_string()
}

/// `rstunnel -test` on `conf` (written to a fresh temp dir): (exit code,
/// stderr).
pub fn check_config(conf: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("check.conf");
    std::fs::write(&path, conf).unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-test")
        .arg(&path)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Absolute path as a config value.
pub fn p(path: &Path) -> String {
    path.display().to_string()
}

/// Pids of processes whose command line mentions `needle` (a unique config
/// path): how a test finds a daemon that forked away without a pid file.
pub fn pids_with_arg(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg == needle.as_bytes())
        {
            out.push(pid);
        }
    }
    out
}

/// Kills every process started on a given config path when dropped.
pub struct KillOnDrop(pub String);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for pid in pids_with_arg(&self.0) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A port that was free a moment ago (bind 0, read, release). Only for
/// configs that must stay verbatim and so cannot log their bound port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll until something accepts on 127.0.0.1:port.
pub fn wait_listening(port: u16) {
    wait_until(&format!("something listening on port {port}"), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// Wait (bounded) for `cond` to hold.
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A Python `ssl` HTTPS server on 127.0.0.1:0 (a real TLS peer nobody here
/// wrote). Every GET is answered with `sni=<name the client sent>
/// version=<TLS version>` so tests can check what reached it.
pub struct PyHttps {
    child: Child,
    pub port: u16,
}

impl PyHttps {
    pub fn start(cert: &Path, key: &Path) -> PyHttps {
        const SERVER: &str = r#"
import http.server, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
names = []
ctx.sni_callback = lambda sock, name, c: names.append(name)
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = ("sni=%s version=%s" % (names[-1] if names else "", self.request.version())).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(cert)
            .arg(key)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("python server said {first:?}"));
        PyHttps { child, port }
    }
}

impl Drop for PyHttps {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a command to completion within PATIENCE; return (success, stdout, stderr).
pub fn run_cmd(cmd: &mut Command) -> (bool, String, String) {
    run_cmd_within(cmd, PATIENCE)
}

/// [`run_cmd`] with another time limit.
pub fn run_cmd_within(cmd: &mut Command, limit: Duration) -> (bool, String, String) {
    run_cmd_input(cmd, &[], limit)
}

/// [`run_cmd_within`] with `input` on the command's stdin (then EOF).
pub fn run_cmd_input(cmd: &mut Command, input: &[u8], limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(if input.is_empty() {
            Stdio::null()
        } else {
            Stdio::piped()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        let input = input.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
    }
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(out)) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        _ => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("command did not finish in time: {cmd:?}");
        }
    }
}

/// Set in the child process [`run_test_in_child`] starts: the test it runs.
const CHILD: &str = "RSTUNNEL_TEST_CHILD";

/// A test meant to run only in its own child process (it changes
/// process-wide state) fails at once when run in the shared one (e.g. by
/// `cargo test -- --ignored`); `by` is the test that starts it.
pub fn assert_in_child(by: &str) {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "this test changes process-wide state: it runs in a child process, started by {by}"
    );
}

/// Run the suite's test `name` (its full path, `module::test`; marked
/// `#[ignore]` so that only this call runs it) in a child process: this
/// same test binary with `env` added. For a test that needs process-wide
/// state (an environment variable OpenSSL reads when it initialises) that
/// must not reach the other tests sharing this process. Fails with the
/// child's output unless exactly that test ran and passed.
pub fn run_test_in_child(name: &str, env: &[(&str, &std::ffi::OsStr)]) {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.env(CHILD, name);
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let (ok, out, err) = run_cmd_within(&mut cmd, PATIENCE * 6);
    assert!(
        ok && out.contains("test result: ok. 1 passed"),
        "{name} in a child process:\n{out}\n{err}"
    );
}
