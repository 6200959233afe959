//! Real peers for protocol tests: finding their binaries, private instances
//! in tempdirs, a throwaway certificate, TLS on either side of a tokio
//! stream, real TCP socket pairs, and a hook driver with log capture.
//!
//! Every wait is bounded; daemons are killed (by their own pid) when dropped.
#![allow(dead_code)]

use super::must_run;

use openssl::asn1::Asn1Time;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::rsa::Rsa;
use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::{X509NameBuilder, X509};
use rstunnel::config::model::{Protocol, ProtocolKind};
use rstunnel::protocol::{self, Ctx, HookResult, Io, Net, Phase, SystemNet};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;

/// Upper bound of any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(20);

/// Path of `bin` in PATH or the sbin/PostgreSQL directories.
pub fn which(bin: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in rd.flatten() {
            dirs.push(e.path().join("bin"));
        }
    }
    dirs.into_iter().map(|d| d.join(bin)).find(|p| p.is_file())
}

/// The binary, or `None` when it is missing and skipping was asked for
/// (see `must_run.rs`; otherwise the test fails here).
pub fn require(test: &str, bin: &str) -> Option<PathBuf> {
    let found = which(bin);
    if found.is_none() {
        must_run::cannot_run(test, &format!("`{bin}` is not installed"));
    }
    found
}

/// Is `program` (from the Debian package `package`) installed? If not, the
/// test has failed (or is skipped on a developer's request, see
/// `must_run.rs`).
pub fn have(test: &str, program: &str, package: &str) -> bool {
    let found = which(program).is_some();
    if !found {
        must_run::cannot_run(
            test,
            &format!("{program} (Debian package {package}) is not installed"),
        );
    }
    found
}

/// A port that was free a moment ago, for daemons that need one in their
/// configuration (they cannot take a listening socket from us).
pub use super::free_port;

/// Wait until something accepts on 127.0.0.1:`port`, at most [`WAIT`].
pub async fn wait_port(port: u16, daemon: &mut Daemon) {
    let deadline = Instant::now() + WAIT;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!(
                "{} exited early: {status}\n{}",
                daemon.name,
                daemon.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} did not listen on {port}",
            daemon.name
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process killed and reaped on drop, whose stdio the test uses
/// (an `openssl s_client` fed on stdin, a Python client read at the end);
/// [`Daemon`] is the one whose output goes to a file.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Peer {
    /// Close its stdin, wait (bounded) for exit and return (success,
    /// stdout, stderr).
    pub fn finish(mut self, limit: Duration) -> (bool, String, String) {
        drop(self.0.stdin.take());
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            match self.0.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break None,
            }
        };
        if status.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = self.0.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = self.0.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.is_some_and(|s| s.success()), out, err)
    }
}

/// A peer daemon (a server of the machine's, run privately) killed and
/// reaped on drop; its output goes to `dir/NAME.out`.
pub struct Daemon {
    pub name: String,
    pub child: Child,
    pub dir: PathBuf,
}

impl Daemon {
    /// Start `cmd` with stdout/stderr in `dir/<name>.out`.
    pub fn spawn(name: &str, mut cmd: Command, dir: &Path) -> Daemon {
        let out = std::fs::File::create(dir.join(format!("{name}.out"))).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Daemon {
            name: name.to_string(),
            child,
            dir: dir.to_path_buf(),
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.out_path()).unwrap_or_default()
    }

    fn out_path(&self) -> PathBuf {
        self.dir.join(format!("{}.out", self.name))
    }

    /// Wait (bounded) until a line of the output contains `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        super::wait_for_line(
            needle,
            1,
            &self.out_path().display().to_string(),
            || self.output(),
            |_| std::thread::sleep(Duration::from_millis(20)),
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A self-signed certificate for `localhost`, written as `cert.pem` and
/// `key.pem` in `dir` (mode 0644/0600).
pub fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let rsa = Rsa::generate(2048).expect("rsa");
    let key = PKey::from_rsa(rsa).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_text("CN", "localhost").expect("cn");
    let name = name.build();
    let mut b = X509::builder().expect("x509");
    b.set_version(2).expect("version");
    b.set_subject_name(&name).expect("subject");
    b.set_issuer_name(&name).expect("issuer");
    b.set_pubkey(&key).expect("pubkey");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
        .expect("na");
    let serial = openssl::bn::BigNum::from_u32(1)
        .expect("bn")
        .to_asn1_integer()
        .expect("serial");
    b.set_serial_number(&serial).expect("serial");
    b.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = b.build();
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, cert.to_pem().expect("pem")).expect("write cert");
    std::fs::write(&k, key.private_key_to_pem_pkcs8().expect("pem")).expect("write key");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    (c, k)
}

/// TLS client on `io` (no verification: these are protocol tests).
pub async fn tls_connect<S: Io>(io: S) -> SslStream<S> {
    let mut b = SslConnector::builder(SslMethod::tls_client()).expect("connector");
    b.set_verify(SslVerifyMode::NONE);
    let ssl = b
        .build()
        .configure()
        .expect("configure")
        .into_ssl("localhost")
        .expect("ssl");
    let mut s = SslStream::new(ssl, io).expect("stream");
    tokio::time::timeout(WAIT, Pin::new(&mut s).connect())
        .await
        .expect("TLS connect timed out")
        .expect("TLS connect");
    s
}

/// TLS server on `io` with `cert`/`key`.
pub async fn tls_accept<S: Io>(io: S, cert: &Path, key: &Path) -> SslStream<S> {
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server()).expect("acceptor");
    b.set_certificate_chain_file(cert).expect("cert");
    b.set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
        .expect("key");
    let ssl = openssl::ssl::Ssl::new(b.build().context()).expect("ssl");
    let mut s = SslStream::new(ssl, io).expect("stream");
    tokio::time::timeout(WAIT, Pin::new(&mut s).accept())
        .await
        .expect("TLS accept timed out")
        .expect("TLS accept");
    s
}

/// A listener on 127.0.0.1:0 and its address.
pub async fn listen() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let a = l.local_addr().expect("addr");
    (l, a)
}

/// Accept one connection, bounded.
pub async fn accept(l: &TcpListener) -> TcpStream {
    tokio::time::timeout(WAIT, l.accept())
        .await
        .expect("accept timed out")
        .expect("accept")
        .0
}

/// `protocol = kind` with no other protocol option.
pub fn settings(kind: ProtocolKind) -> Protocol {
    Protocol {
        destinations: Vec::new(),
        kind,
        host: None,
        username: None,
        password: None,
        authentication: None,
        domain: None,
        headers: vec![],
        proxy_version: Default::default(),
    }
}

/// Everything a hook gets from the connection.
pub struct Hook {
    pub settings: Protocol,
    pub client: bool,
    pub busy: Duration,
    pub peer: Option<SocketAddr>,
    pub local_addr: Option<SocketAddr>,
    pub original_dst: Option<SocketAddr>,
    pub net: Arc<dyn Net>,
    pub tls: Option<protocol::TlsFacts>,
}

impl Hook {
    pub fn new(kind: ProtocolKind, client: bool) -> Hook {
        Hook {
            settings: settings(kind),
            client,
            busy: Duration::from_secs(10),
            peer: None,
            local_addr: None,
            original_dst: None,
            net: Arc::new(SystemNet),
            tls: None,
        }
    }

    /// Run one phase with log lines tagged `id` (see [`logged`]).
    pub async fn run(
        &self,
        id: &str,
        phase: Phase,
        local: &mut dyn Io,
        remote: Option<&mut dyn Io>,
    ) -> HookResult {
        super::in_process_log::file();
        let ctx = Ctx {
            settings: &self.settings,
            client: self.client,
            busy: protocol::Busy::new(Some(self.busy)),
            peer: self.peer,
            local_addr: self.local_addr,
            service: "test",
            original_dst: self.original_dst,
            net: &*self.net,
            tls: self.tls.as_ref(),
        };
        let conn = rstunnel::log::ConnLog::new(id.to_string(), 7);
        let fut = rstunnel::log::scope(conn, protocol::run(phase, &ctx, local, remote));
        tokio::time::timeout(WAIT * 2, fut)
            .await
            .expect("hook did not finish in time")
    }
}

/// The texts logged under connection id `id`, one per line
/// (`in_process_log`).
pub fn logged(id: &str) -> String {
    super::in_process_log::lines(id).join("\n")
}

/// Assert that `id` logged a line equal to `text`.
pub fn assert_logged(id: &str, text: &str) {
    let all = logged(id);
    assert!(
        all.lines().any(|l| l == text),
        "expected log line {text:?} under [{id}], got:\n{all}"
    );
}

/// Run a blocking command with a time limit; returns (status ok, stdout+stderr).
pub async fn run_cmd(mut cmd: Command) -> (bool, String) {
    cmd.stdin(Stdio::null());
    let fut = tokio::task::spawn_blocking(move || cmd.output());
    let out = tokio::time::timeout(WAIT, fut)
        .await
        .expect("command timed out")
        .expect("join")
        .expect("run command");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// Read from `io` until `needle` appears (bounded), returning all bytes read.
pub async fn read_until<S: tokio::io::AsyncRead + Unpin>(io: &mut S, needle: &[u8]) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while !got.windows(needle.len()).any(|w| w == needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, io.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "timed out waiting for {:?}; got {:?}",
                    String::from_utf8_lossy(needle),
                    String::from_utf8_lossy(&got)
                )
            })
            .expect("read");
        assert!(
            n > 0,
            "EOF before {:?}; got {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// A stunnel4 instance (the 5.68 oracle) running `conf` in the foreground.
pub fn stunnel4(dir: &Path, name: &str, conf: &str) -> Daemon {
    let bin = which("stunnel4")
        .or_else(|| which("stunnel"))
        .expect("stunnel4");
    let path = dir.join(format!("{name}.conf"));
    std::fs::write(&path, format!("foreground = yes\ndebug = 7\npid =\n{conf}")).expect("conf");
    let mut cmd = Command::new(bin);
    cmd.arg(&path);
    Daemon::spawn(name, cmd, dir)
}

/// Run `cmd` as `user` when we are root (daemons that refuse root).
pub fn as_user(user: &str, program: &Path) -> Command {
    if nix::unistd::geteuid().is_root() {
        let mut c = Command::new("runuser");
        c.arg("-u").arg(user).arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Give `path` (recursively) to `user` when we are root.
pub fn give_to(user: &str, path: &Path) {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let u = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .expect("user exists");
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::chown(&p, Some(u.uid.as_raw()), Some(u.gid.as_raw())).expect("chown");
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir").flatten() {
                stack.push(e.path());
            }
        }
    }
}

/// A private PostgreSQL cluster on 127.0.0.1:`port` with `ssl = on` and
/// trust authentication for TCP (TLS or not).
pub struct Postgres {
    pub port: u16,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

impl Postgres {
    /// `None` (after a SKIP line) when PostgreSQL is not installed.
    pub async fn start(test: &str) -> Option<Postgres> {
        let initdb = require(test, "initdb")?;
        let postgres = require(test, "postgres")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        make_cert(dir.path());
        give_to("postgres", dir.path());
        let mut init = as_user("postgres", &initdb);
        init.arg("-D")
            .arg(&data)
            .arg("-A")
            .arg("trust")
            .arg("-U")
            .arg("postgres");
        let (ok, out) = run_cmd(init).await;
        assert!(ok, "initdb failed:\n{out}");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba");
        let port = free_port();
        let mut cmd = as_user("postgres", &postgres);
        cmd.arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(dir.path())
            .arg("-h")
            .arg("127.0.0.1");
        cmd.arg("-p").arg(port.to_string());
        cmd.arg("-c").arg("ssl=on");
        cmd.arg("-c").arg(format!(
            "ssl_cert_file={}",
            dir.path().join("cert.pem").display()
        ));
        cmd.arg("-c").arg(format!(
            "ssl_key_file={}",
            dir.path().join("key.pem").display()
        ));
        let mut daemon = Daemon::spawn("postgres", cmd, dir.path());
        wait_port(port, &mut daemon).await;
        Some(Postgres { port, daemon, dir })
    }
}

/// `psql` on `conninfo` running `sql`; (success, output).
pub async fn psql(conninfo: &str, sql: &str) -> (bool, String) {
    let bin = which("psql").expect("psql");
    let mut cmd = Command::new(bin);
    cmd.arg("-X")
        .arg("-A")
        .arg("-t")
        .arg("-d")
        .arg(conninfo)
        .arg("-c")
        .arg(sql);
    cmd.env("PGCONNECT_TIMEOUT", "10");
    run_cmd(cmd).await
}

/// Debian's system Python (where python3-aiosmtpd is installed).
pub fn system_python(test: &str, module: &str) -> Option<PathBuf> {
    let py = ["/usr/bin/python3"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    let ok = py.as_ref().is_some_and(|p| {
        Command::new(p)
            .arg("-c")
            .arg(format!("import {module}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        must_run::cannot_run(
            test,
            &format!("/usr/bin/python3 with `{module}` is not installed"),
        );
        return None;
    }
    py
}

/// aiosmtpd (`python3-aiosmtpd`) on 127.0.0.1:`port`, greeting
/// `220 mx.test ESMTP test`. `tls`: offer STARTTLS (required) and AUTH
/// PLAIN/LOGIN over TLS for `user`/`secret`. `helo_ext`: treat HELO like
/// EHLO, so AUTH after HELO (stunnel 5.68's order) is accepted.
pub struct Smtpd {
    pub port: u16,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

const SMTPD_PY: &str = r#"
import signal, ssl, sys
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
cert, key, port, tls, helo_ext = sys.argv[1:6]
ctx = None
if tls == "1":
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
def auth(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login == b"user" and data.password == b"secret"
    return AuthResult(success=ok, handled=False)
class Sink:
    async def handle_DATA(self, server, session, envelope):
        print("DATA from", envelope.mail_from, "to", envelope.rcpt_tos, flush=True)
        return "250 OK stored"
class Smtp(SMTP):
    async def smtp_HELO(self, hostname):
        await super().smtp_HELO(hostname)
        if helo_ext == "1":
            self.session.extended_smtp = True
class C(Controller):
    def factory(self):
        kw = dict(hostname="mx.test", ident="ESMTP test")
        if ctx is not None:
            kw.update(tls_context=ctx, require_starttls=True, authenticator=auth, auth_require_tls=True)
        return Smtp(self.handler, **kw)
c = C(Sink(), hostname="127.0.0.1", port=int(port))
c.start()
print("READY", flush=True)
signal.pause()
"#;

impl Smtpd {
    pub async fn start(test: &str, tls: bool, helo_ext: bool) -> Option<Smtpd> {
        let py = system_python(test, "aiosmtpd")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = make_cert(dir.path());
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SMTPD_PY).expect("script");
        let port = free_port();
        let mut cmd = Command::new(py);
        cmd.arg(&script).arg(&cert).arg(&key).arg(port.to_string());
        cmd.arg(if tls { "1" } else { "0" })
            .arg(if helo_ext { "1" } else { "0" });
        let mut daemon = Daemon::spawn("smtpd", cmd, dir.path());
        wait_port(port, &mut daemon).await;
        Some(Smtpd { port, daemon, dir })
    }
}

/// Run a Python snippet with the system Python; (success, output).
pub async fn python(code: &str, args: &[String]) -> (bool, String) {
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg("-c").arg(code).args(args);
    run_cmd(cmd).await
}

/// A private Dovecot (imap + pop3; STARTTLS/STLS offered when `tls`) on
/// 127.0.0.1; any user logs in with password `secret`.
pub struct Dovecot {
    pub imap: u16,
    pub pop3: u16,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

impl Dovecot {
    pub async fn start(test: &str, tls: bool) -> Option<Dovecot> {
        let bin = require(test, "dovecot")?;
        if which("imap").is_none() && !Path::new("/usr/lib/dovecot/imap").exists() {
            must_run::cannot_run(test, "dovecot-imapd is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let (cert, key) = make_cert(d);
        let home = d.join("home");
        std::fs::create_dir(&home).expect("home");
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let (imap, pop3) = (free_port(), free_port());
        let users = if nix::unistd::geteuid().is_root() {
            String::new()
        } else {
            let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .expect("me");
            format!(
                "default_login_user = {0}\ndefault_internal_user = {0}\n",
                me.name
            )
        };
        let (uid, gid) = if nix::unistd::geteuid().is_root() {
            (65534, 65534)
        } else {
            (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            )
        };
        let dh = if Path::new("/usr/share/dovecot/dh.pem").exists() {
            "ssl_dh = </usr/share/dovecot/dh.pem\n"
        } else {
            ""
        };
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
             {users}protocols = imap pop3\nlisten = 127.0.0.1\n\
             ssl = {ssl}\nssl_cert = <{cert}\nssl_key = <{key}\n{dh}\
             disable_plaintext_auth = no\nauth_mechanisms = plain\n\
             first_valid_uid = 1\nfirst_valid_gid = 1\n\
             passdb {{\n  driver = static\n  args = password=secret\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={d}/home/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {imap}\n  }}\n  \
             inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service pop3-login {{\n  inet_listener pop3 {{\n    port = {pop3}\n  }}\n  \
             inet_listener pop3s {{\n    port = 0\n  }}\n}}\n",
            d = d.display(),
            ssl = if tls { "yes" } else { "no" },
            cert = cert.display(),
            key = key.display(),
        );
        let path = d.join("dovecot.conf");
        std::fs::write(&path, conf).expect("conf");
        let mut cmd = Command::new(bin);
        cmd.arg("-F").arg("-c").arg(&path);
        let mut daemon = Daemon::spawn("dovecot", cmd, d);
        wait_port(imap, &mut daemon).await;
        wait_port(pop3, &mut daemon).await;
        Some(Dovecot {
            imap,
            pop3,
            daemon,
            dir,
        })
    }
}

/// tinyproxy on 127.0.0.1 requiring Basic auth `user`/`secret`.
pub struct Tinyproxy {
    pub port: u16,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

impl Tinyproxy {
    pub async fn start(test: &str) -> Option<Tinyproxy> {
        let bin = require(test, "tinyproxy")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let port = free_port();
        let conf = format!(
            "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow 127.0.0.1\nBasicAuth user secret\n\
             LogLevel Info\nLogFile \"{d}/tinyproxy.log\"\nPidFile \"{d}/tinyproxy.pid\"\nMaxClients 10\n",
            d = d.display()
        );
        let path = d.join("tinyproxy.conf");
        std::fs::write(&path, conf).expect("conf");
        let mut cmd = Command::new(bin);
        cmd.arg("-d").arg("-c").arg(&path);
        let mut daemon = Daemon::spawn("tinyproxy", cmd, d);
        wait_port(port, &mut daemon).await;
        Some(Tinyproxy { port, daemon, dir })
    }
}

/// A TLS echo-ish server on 127.0.0.1:0 that answers one line `hello` with
/// `tls says hello`; returns its address.
pub async fn tls_line_server(cert: PathBuf, key: PathBuf) -> SocketAddr {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            let (cert, key) = (cert.clone(), key.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
                let tls = tls_accept(s, &cert, &key).await;
                let mut r = tokio::io::BufReader::new(tls);
                let mut line = String::new();
                if r.read_line(&mut line).await.is_ok() {
                    let _ = r
                        .get_mut()
                        .write_all(format!("tls says {line}").as_bytes())
                        .await;
                    let _ = r.get_mut().shutdown().await;
                }
            });
        }
    });
    addr
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1.
pub async fn http_server(test: &str, dir: &Path) -> Option<(u16, Daemon)> {
    let py = system_python(test, "http.server")?;
    let port = free_port();
    let mut cmd = Command::new(py);
    cmd.args(["-m", "http.server", "--bind", "127.0.0.1", "--directory"])
        .arg(dir);
    cmd.arg(port.to_string());
    let mut daemon = Daemon::spawn("http", cmd, dir);
    wait_port(port, &mut daemon).await;
    Some((port, daemon))
}

/// A resolver that maps `*.test` names to `to` (TEST-NET addresses, never
/// contacted) and everything else through the system.
pub struct TestNet {
    pub to: std::net::IpAddr,
}

impl Net for TestNet {
    fn resolve<'a>(
        &'a self,
        host: Option<&'a str>,
        port: &'a str,
    ) -> Pin<Box<dyn std::future::Future<Output = Vec<SocketAddr>> + Send + 'a>> {
        Box::pin(async move {
            match (host, port.parse::<u16>()) {
                (Some(h), Ok(p)) if h.ends_with(".test") => vec![SocketAddr::new(self.to, p)],
                _ => SystemNet.resolve(host, port).await,
            }
        })
    }

    fn connect(
        &self,
        addr: SocketAddr,
    ) -> Pin<Box<dyn std::future::Future<Output = std::io::Result<Box<dyn Io>>> + Send + '_>> {
        SystemNet.connect(addr)
    }
}

/// A private slapd on 127.0.0.1; with `tls` it offers StartTLS and requires
/// TLS for every operation (`security tls=1`).
pub struct Slapd {
    pub port: u16,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

impl Slapd {
    pub async fn start(test: &str, tls: bool) -> Option<Slapd> {
        let bin = require(test, "slapd")?;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let (cert, key) = make_cert(d);
        std::fs::create_dir(d.join("db")).expect("db");
        let tls_conf = if tls {
            format!(
                "TLSCertificateFile {}\nTLSCertificateKeyFile {}\nsecurity tls=1\n",
                cert.display(),
                key.display()
            )
        } else {
            String::new()
        };
        let conf = format!(
            "include /etc/ldap/schema/core.schema\npidfile {d}/slapd.pid\nargsfile {d}/slapd.args\n\
             modulepath /usr/lib/ldap\nmoduleload back_mdb\n{tls_conf}\
             database mdb\nsuffix \"dc=test\"\nrootdn \"cn=admin,dc=test\"\nrootpw secret\n\
             directory {d}/db\n",
            d = d.display()
        );
        std::fs::write(d.join("slapd.conf"), conf).expect("conf");
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.args(["-d", "0", "-f"]).arg(d.join("slapd.conf"));
        cmd.arg("-h").arg(format!("ldap://127.0.0.1:{port}/"));
        let mut daemon = Daemon::spawn("slapd", cmd, d);
        wait_port(port, &mut daemon).await;
        Some(Slapd { port, daemon, dir })
    }
}
