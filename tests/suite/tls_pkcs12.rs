//! PKCS#12 `cert` files (stunnel-reference §5.10): a `cert` named `*.p12` /
//! `*.pfx` holds the certificate, its key and the chain. Each case runs
//! stunnel4 5.68 and rstunnel on the same configuration and bundle, made by
//! `openssl pkcs12 -export` from a root → intermediate → leaf chain, and
//! talks to them with `openssl s_client` / `openssl s_server`.
//!
//! Proven: both log `Loading certificate and private key from file: X` /
//! `Certificate and private key loaded from file: X`, serve and present the
//! bundle's certificate (server and client mode), open a bundle without a
//! password silently, and take the password of a protected one at the
//! terminal prompt `Enter X pass phrase:` (`Wrong passphrase: retrying`
//! after a wrong one). They differ where rstunnel means to: the
//! intermediate inside the bundle is sent as the chain (5.68 drops it), and
//! without a terminal rstunnel says the password cannot be asked for.

use crate::common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{header, p, run_cmd, Daemon, Impl, PATIENCE};
use tls_service::s_server;

use crate::common::tls_service;

/// The peers every case needs; a missing one fails the test (or, with the
/// opt-out of `must_run.rs`, skips it: then `false`).
fn peers_present(test: &str) -> bool {
    ["openssl", "stunnel4"].iter().all(|bin| {
        let found = std::env::var_os("PATH")
            .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(bin).is_file()));
        if !found {
            common::must_run::cannot_run(test, &format!("`{bin}` is not installed"));
        }
        found
    })
}

/// root → intermediate → leaf (`CN=localhost`), and the bundles.
struct Bundle {
    root: PathBuf,
    /// Root and intermediate: what a peer needs to trust a leaf sent alone.
    root_and_inter: PathBuf,
    no_password: PathBuf,
    /// Password `secret`.
    with_password: PathBuf,
}

/// `openssl ARGS` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let (ok, _, err) = run_cmd(Command::new("openssl").args(args).current_dir(dir));
    assert!(ok, "openssl {args:?} failed: {err}");
}

/// `NAME.key` and `NAME.pem` (subject `subject`), signed by `ca` (its
/// `.pem` and `.key`) with serial `serial` and the extensions in `ext`.
fn issue(dir: &Path, name: &str, subject: &str, ca: &str, serial: &str, ext: &str) {
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", subject,
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-set_serial",
            serial,
            "-out",
            &pem,
            "-days",
            "30",
            "-extfile",
            ext,
        ],
    );
}

fn make_bundle(dir: &Path) -> Bundle {
    std::fs::write(
        dir.join("ca.ext"),
        "basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    let rsa = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &rsa[..],
            &[
                "-keyout",
                "root.key",
                "-out",
                "root.pem",
                "-days",
                "30",
                "-subj",
                "/CN=p12 root",
            ],
        ]
        .concat(),
    );
    issue(dir, "inter", "/CN=p12 intermediate", "root", "2", "ca.ext");
    issue(dir, "leaf", "/CN=localhost", "inter", "3", "leaf.ext");
    let export = [
        "pkcs12",
        "-export",
        "-in",
        "leaf.pem",
        "-inkey",
        "leaf.key",
        "-certfile",
        "inter.pem",
    ];
    openssl(
        dir,
        &[&export[..], &["-out", "open.p12", "-passout", "pass:"]].concat(),
    );
    openssl(
        dir,
        &[
            &export[..],
            &["-out", "locked.pfx", "-passout", "pass:secret"],
        ]
        .concat(),
    );
    let both = [
        std::fs::read(dir.join("root.pem")).unwrap(),
        std::fs::read(dir.join("inter.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("root-and-inter.pem"), both).unwrap();
    Bundle {
        root: dir.join("root.pem"),
        root_and_inter: dir.join("root-and-inter.pem"),
        no_password: dir.join("open.p12"),
        with_password: dir.join("locked.pfx"),
    }
}

fn server_conf(cert: &Path, backend: u16) -> String {
    format!(
        "{}debug = debug\n[srv]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{backend}\n",
        header(),
        p(cert)
    )
}

/// `openssl s_client` to `port` trusting only `ca`, `-verify_return_error`:
/// (handshake verified, certificates the server sent).
fn s_client(port: u16, ca: &Path) -> (bool, usize) {
    let (ok, out, _) = run_cmd(Command::new("openssl").args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        "-CAfile",
        &p(ca),
        "-verify_return_error",
        "-showcerts",
    ]));
    let sent = out.matches("-----BEGIN CERTIFICATE-----").count();
    (ok && out.contains("Verify return code: 0 (ok)"), sent)
}

/// Lines from `Loading` to `Private key check`, without the timestamp.
fn loading_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("from file:") || l.contains("Private key check"))
        .map(|l| l.split_once("LOG").map_or(l, |(_, r)| r).to_string())
        .collect()
}

/// A server-mode `cert = bundle.p12` without a password: same lines, same
/// certificate; rstunnel also sends the intermediate from the bundle, so a
/// client trusting only the root verifies it, while 5.68 sends the leaf
/// alone (the client then needs the intermediate itself).
#[test]
fn server_certificate_from_a_bundle_without_password() {
    if !peers_present("server_certificate_from_a_bundle_without_password") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = make_bundle(dir.path());
    let backend = common::net::echo_server();
    let mut logs = Vec::new();
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let d = Daemon::start(imp, &server_conf(&b.no_password, backend));
        let port = d.port("srv");
        let (root_only, sent) = s_client(port, &b.root);
        let (with_inter, _) = s_client(port, &b.root_and_inter);
        assert!(with_inter, "{imp:?}: the bundle's leaf was not served");
        match imp {
            Impl::Stunnel4 => assert!(!root_only && sent == 1, "stunnel4 sent {sent}"),
            Impl::Rstunnel => assert!(root_only && sent == 2, "rstunnel sent {sent}"),
        }
        d.log.wait_for("Private key check succeeded");
        logs.push(loading_lines(&d.log.text()));
    }
    let want = vec![
        format!(
            "6[ui]: Loading certificate and private key from file: {}",
            p(&b.no_password)
        ),
        format!(
            "6[ui]: Certificate and private key loaded from file: {}",
            p(&b.no_password)
        ),
        "7[ui]: Private key check succeeded".to_string(),
    ];
    assert_eq!(logs[0], want, "stunnel4");
    assert_eq!(logs[1], want, "rstunnel");
    // `-test` reads the key type from an unprotected bundle.
    let (code, report) = common::check_config(&server_conf(&b.no_password, backend));
    assert_eq!(code, Some(0), "{report}");
    assert!(report.contains("  certificate: RSA 2048 bits"), "{report}");
}

/// A client-mode service presents the bundle's certificate to an `openssl
/// s_server -Verify` that requires one (and reverses the line it gets).
#[test]
fn client_certificate_from_a_bundle() {
    if !peers_present("client_certificate_from_a_bundle") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = make_bundle(dir.path());
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let (_server, port) = s_server(&[
            "-cert",
            &p(&dir.path().join("leaf.pem")),
            "-key",
            &p(&dir.path().join("leaf.key")),
            "-Verify",
            "2",
            "-verify_return_error",
            "-CAfile",
            &p(&b.root_and_inter),
            "-rev",
        ]);
        let conf = format!(
            "{}[cli]\nclient = yes\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{port}\n",
            header(),
            p(&b.no_password)
        );
        let d = Daemon::start(imp, &conf);
        let mut s = common::net::connect(d.port("cli"));
        s.write_all(b"pkcs12\n").unwrap();
        let mut got = [0u8; 7];
        s.read_exact(&mut got)
            .unwrap_or_else(|e| panic!("{imp:?}: no answer ({e}); log:\n{}", d.log.text()));
        assert_eq!(&got, b"21sckp\n", "{imp:?}");
        d.log
            .wait_for("Certificate and private key loaded from file:");
    }
}

/// What a daemon's terminal showed, read from the pty's master side.
struct Terminal {
    master: std::fs::File,
    shown: Arc<Mutex<String>>,
}

impl Terminal {
    fn wait_for_nth(&self, needle: &str, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.shown.lock().unwrap().matches(needle).count() < n {
            assert!(
                Instant::now() < deadline,
                "terminal never showed {needle:?} x{n}: {:?}",
                self.shown.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .unwrap();
    }
}

/// Start `imp` in a session of its own whose controlling terminal is a new
/// pty (`with_terminal`), or with no terminal at all.
fn start_on_terminal(imp: Impl, conf: &str, with_terminal: bool) -> (Daemon, Option<Terminal>) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_path_buf();
    let pty = with_terminal.then(|| nix::pty::openpty(None, None).expect("openpty"));
    let slave_fd = pty.as_ref().map(|p| p.slave.as_raw_fd());
    let d = Daemon::start_adjusted(imp, conf, dir, &cwd, |cmd| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if let Some(fd) = slave_fd {
                    if libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    });
    let terminal = pty.map(|pty| {
        drop::<OwnedFd>(pty.slave);
        let master = std::fs::File::from(pty.master);
        let shown = Arc::new(Mutex::new(String::new()));
        let sink = shown.clone();
        let mut reader = master.try_clone().unwrap();
        // Ends with EIO once the daemon (the last holder of the slave) exits.
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Terminal { master, shown }
    });
    (d, terminal)
}

/// A protected bundle: the first (cached, empty) password fails silently,
/// then the prompt asks; a wrong answer gets `Wrong passphrase: retrying`
/// and a second prompt, the right one loads the bundle and the service runs.
#[test]
fn password_is_asked_for_on_the_terminal() {
    if !peers_present("password_is_asked_for_on_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = make_bundle(dir.path());
    let backend = common::net::echo_server();
    let prompt = format!("Enter {} pass phrase:", p(&b.with_password));
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let (d, tty) = start_on_terminal(imp, &server_conf(&b.with_password, backend), true);
        let mut tty = tty.unwrap();
        tty.wait_for_nth(&prompt, 1);
        tty.type_line("wrong");
        tty.wait_for_nth(&prompt, 2);
        tty.type_line("secret");
        let port = d.port("srv");
        assert!(s_client(port, &b.root_and_inter).0, "{imp:?} did not serve");
        let log = d.log.text();
        let retrying: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("Wrong passphrase: retrying"))
            .collect();
        assert_eq!(retrying.len(), 1, "{imp:?}:\n{log}");
        assert!(retrying[0].contains("LOG3[ui]"), "{imp:?}: {}", retrying[0]);
        assert!(
            log.contains("PKCS12 routines::mac verify failure"),
            "{imp:?}:\n{log}"
        );
        assert!(log.contains(&format!(
            "Certificate and private key loaded from file: {}",
            p(&b.with_password)
        )));
    }
}

/// No terminal to ask: both stop at the section with stunnel's lines;
/// stunnel4 first runs its three unanswerable prompts, rstunnel says why
/// at once.
#[test]
fn password_without_terminal_stops_the_start() {
    if !peers_present("password_without_terminal_stops_the_start") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let b = make_bundle(dir.path());
    let shown = p(&b.with_password);
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let (mut d, _) = start_on_terminal(imp, &server_conf(&b.with_password, 1), false);
        assert_eq!(d.wait_exit(), 1, "{imp:?}");
        d.log.wait_for("Configuration failed");
        let log = d.log.text();
        assert!(log.contains(&format!(
            "Loading certificate and private key from file: {shown}"
        )));
        assert!(
            log.contains("PKCS12 routines::mac verify failure"),
            "{imp:?}:\n{log}"
        );
        assert!(
            log.contains("Service [srv]: Failed to initialize TLS context"),
            "{imp:?}:\n{log}"
        );
        let why = format!(
            "PKCS12_parse: PKCS#12 file {shown} is protected by a password and no terminal is available to enter it"
        );
        match imp {
            Impl::Stunnel4 => {
                assert_eq!(
                    log.matches("Wrong passphrase: retrying").count(),
                    2,
                    "{log}"
                )
            }
            Impl::Rstunnel => {
                assert!(log.contains(&why), "{log}");
                assert!(!log.contains("Wrong passphrase"), "{log}");
            }
        }
    }
}
