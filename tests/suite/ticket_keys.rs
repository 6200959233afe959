//! `ticketKeyFile` (issue 15): rotating session-ticket keys shared by
//! several rstunnel processes, seen from OpenSSL's own client
//! (`openssl s_client -sess_out/-sess_in`, TLS 1.2 and 1.3) and from the
//! ticket itself (`openssl sess_id -text`: the first 16 bytes of a ticket
//! are the name of the key that encrypted it).
//!
//! Why it matters: behind a load balancer a client reconnects to any node,
//! and keys must rotate (a key that never changes protects every session
//! ever made with it). A session made on one node resumes on another; after
//! a rotation an older key's ticket still resumes and is reissued under the
//! newest key; a ticket whose key left the file gets a full handshake; a
//! broken file never replaces working keys.
//! `ticketKeySecret` (stunnel's one static key) keeps its own tests
//! (tests/suite/security_sessions.rs, tests/suite/tls_sni_session.rs).

use crate::common;
use crate::common::procs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::ticket_keys::{key, name, s_client_session, write_atomically, write_keys};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};

/// One rstunnel node: TLS on 127.0.0.1:0 in front of a backend that
/// answers `hello` and closes.
fn node(cert: &Path, keys: &Path) -> (Daemon, u16) {
    let backend = common::net::answering_server("127.0.0.1", b"hello\n");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[fleet]\ndebug = debug\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
             ticketKeyFile = {}\n",
            header(),
            p(cert),
            p(keys)
        ),
    );
    let port = d.port("fleet");
    (d, port)
}

/// What one `openssl s_client` connection saw.
struct Seen {
    reused: bool,
    /// The server sent a NewSessionTicket (after every TLS 1.3 handshake;
    /// in TLS 1.2 after a full handshake or a renewal).
    new_ticket: bool,
    /// Name of the key of the ticket the client holds now (hex).
    ticket: String,
}

/// Connect with `version` (`-tls1_2`/`-tls1_3`), offering the session in
/// `offer`, saving the session the client holds afterwards to `save`.
fn connect(port: u16, version: &str, offer: Option<&Path>, save: &Path) -> Seen {
    let run = s_client_session(port, version, &["-msg"], b"", offer, save);
    assert!(
        run.out.contains("hello"),
        "s_client failed:\n{}\n{}",
        run.out,
        run.err
    );
    Seen {
        reused: run.reused,
        new_ticket: run
            .out
            .lines()
            .any(|l| l.starts_with("<<< ") && l.ends_with(", NewSessionTicket")),
        ticket: ticket_key_name(save),
    }
}

/// The key name in front of the ticket of a saved session.
fn ticket_key_name(session: &Path) -> String {
    let (ok, out, err) = common::run_cmd(
        Command::new("openssl")
            .args(["sess_id", "-text", "-noout", "-in"])
            .arg(session),
    );
    assert!(ok, "sess_id: {err}");
    // `    0000 - 46 0c 77 ff d2 b6 03 a7-a0 16 11 90 03 be 05 3a   F.w…`
    let line = out
        .lines()
        .skip_while(|l| !l.contains("TLS session ticket:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no ticket in the session:\n{out}"));
    let bytes = line.trim().strip_prefix("0000 - ").expect("hex dump line");
    bytes[..47].replace(['-', ' '], "")
}

/// Wait until the node logged that it loaded the file with `newest` first.
fn wait_loaded(d: &Daemon, newest: u8, nth: usize) {
    d.log
        .wait_for_nth(&format!("key(s), newest {}", name(newest)), nth);
}

const VERSIONS: [&str; 2] = ["-tls1_2", "-tls1_3"];

#[test]
fn a_session_from_one_node_resumes_on_another() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let keys = dir.path().join("tickets.keys");
    write_keys(&keys, &[1, 2]);
    let (_a, port_a) = node(&pki.combined, &keys);
    let (b, port_b) = node(&pki.combined, &keys);
    for version in VERSIONS {
        let first = dir.path().join("first.pem");
        let on_a = connect(port_a, version, None, &first);
        assert!(!on_a.reused, "{version}");
        assert_eq!(on_a.ticket, name(1), "{version}: the newest key encrypts");
        let again = dir.path().join("again.pem");
        let on_b = connect(port_b, version, Some(&first), &again);
        assert!(on_b.reused, "{version}: node B resumes A's session");
    }
    b.log.wait_for("TLS accepted: previous session reused");
}

#[test]
fn rotation_renews_older_tickets_and_forgets_removed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let keys = dir.path().join("tickets.keys");
    write_keys(&keys, &[1]);
    let (d, port) = node(&pki.combined, &keys);
    let s = |n: &str| dir.path().join(n);
    // One session per version under key 1.
    let mut old: Vec<PathBuf> = Vec::new();
    for version in VERSIONS {
        let path = s(&format!("old{version}.pem"));
        assert_eq!(connect(port, version, None, &path).ticket, name(1));
        old.push(path);
    }
    // A new key in front: it encrypts; key 1's sessions resume and are
    // reissued under it.
    write_keys(&keys, &[2, 1]);
    wait_loaded(&d, 2, 1);
    let mut previous: Vec<PathBuf> = Vec::new();
    for (version, old) in VERSIONS.iter().zip(&old) {
        let path = s(&format!("new{version}.pem"));
        let fresh = connect(port, version, None, &path);
        assert_eq!(fresh.ticket, name(2), "{version}: the new key encrypts");
        previous.push(path);
        let seen = connect(port, version, Some(old), &s("renewed.pem"));
        assert!(seen.reused, "{version}: a previous key's session resumes");
        assert!(seen.new_ticket, "{version}: and gets a new ticket");
        if *version == "-tls1_3" {
            assert_eq!(seen.ticket, name(2), "under the newest key");
        }
    }
    d.log
        .wait_for("Session ticket under older key 01010101010101010101010101010101");
    // A TLS 1.2 ticket under the newest key is kept as it is.
    let kept = connect(port, "-tls1_2", Some(&previous[0]), &s("kept.pem"));
    assert!(kept.reused && !kept.new_ticket);
    // Key 1 leaves the file: its sessions get a full handshake; key 2's
    // (now the previous key) still resume and are renewed.
    write_keys(&keys, &[3, 2]);
    wait_loaded(&d, 3, 1);
    for ((version, old), previous) in VERSIONS.iter().zip(&old).zip(&previous) {
        let seen = connect(port, version, Some(old), &s("after.pem"));
        assert!(
            !seen.reused,
            "{version}: a removed key's session is not resumed"
        );
        assert_eq!(seen.ticket, name(3));
        let seen = connect(port, version, Some(previous), &s("after.pem"));
        assert!(
            seen.reused && seen.new_ticket,
            "{version}: the previous key still resumes"
        );
    }
}

#[test]
fn a_broken_update_keeps_the_running_keys_with_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let keys = dir.path().join("tickets.keys");
    write_keys(&keys, &[1]);
    let (d, port) = node(&pki.combined, &keys);
    let session = dir.path().join("s.pem");
    assert_eq!(connect(port, "-tls1_3", None, &session).ticket, name(1));
    // A truncated key (a copy that stopped half-way).
    write_atomically(&keys, &format!("{}\n{}\n", key(2), &key(1)[..100]));
    let error = format!(
        "ticketKeyFile {}: line 2: 100 hexadecimal digits instead of 160 (or 96): \
         the running keys stay in use",
        keys.display()
    );
    d.log.wait_for(&error);
    // Checked every second, logged once.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(d.log.text().matches(&error).count(), 1, "{}", d.log.text());
    let again = connect(port, "-tls1_3", Some(&session), &dir.path().join("t.pem"));
    assert!(
        again.reused && again.ticket == name(1),
        "the running key stays"
    );
    // Fixed: taken at once.
    write_keys(&keys, &[2, 1]);
    wait_loaded(&d, 2, 1);
    let fresh = connect(port, "-tls1_3", None, &dir.path().join("u.pem"));
    assert_eq!(fresh.ticket, name(2));
}

/// Every bad file stops the start at the configuration line, naming the
/// key file and its line; conflicting options stop it at the section.
#[test]
fn a_bad_key_file_or_setting_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = |n: &str, text: &str| {
        let path = dir.path().join(n);
        write_atomically(&path, text);
        path
    };
    let good = file("good.keys", &(key(1) + "\n"));
    let missing = dir.path().join("missing.keys");
    let cases = [
        (
            file("empty.keys", "# none yet\n"),
            "no key (one line of 160 hexadecimal digits",
        ),
        (
            file("short.keys", &key(1)[..158]),
            "line 1: 158 hexadecimal digits instead of 160",
        ),
        (
            file("junk.keys", &format!("{}\nnot hex\n", key(1))),
            "line 2: not hexadecimal digits",
        ),
        (missing.clone(), "No such file or directory"),
    ];
    for (path, why) in &cases {
        let conf = format!(
            "[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = /nonexistent\n\
             ticketKeyFile = {}\n",
            p(path)
        );
        let (code, out) = common::check_config(&conf);
        assert_eq!(code, Some(1), "{out}");
        let want = format!("check.conf:5: \"ticketKeyFile = {0}\": {0}: {why}", p(path));
        assert!(out.contains(&want), "want {want:?} in:\n{out}");
    }
    for (extra, why) in [
        (
            "ticketKeySecret = 000102030405060708090a0b0c0d0e0f\n\
             ticketMacSecret = 101112131415161718191a1b1c1d1e1f\n",
            "\": \"ticketKeyFile\" replaces \"ticketKeySecret\" and \"ticketMacSecret\"",
        ),
        (
            "client = yes\n",
            "\": \"ticketKeyFile\" is only for server-mode services",
        ),
        (
            "sessionResume = no\n",
            "\": \"ticketKeyFile\" needs \"sessionResume = yes\"",
        ),
    ] {
        let conf = format!(
            "[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = /nonexistent\n\
             ticketKeyFile = {}\n{extra}",
            p(&good)
        );
        let (code, out) = common::check_config(&conf);
        assert_eq!(code, Some(1), "{out}");
        // Reported at the ticketKeyFile line (an rstunnel extension).
        let want = format!("check.conf:5: \"ticketKeyFile = {}{why}", p(&good));
        assert!(out.contains(&want), "want {want:?} in:\n{out}");
    }
    // A key file others can read works, with a warning.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
    let conf = format!(
        "[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = /nonexistent\n\
         ticketKeyFile = {}\n",
        p(&good)
    );
    let (code, out) = common::check_config(&conf);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("Insecure file permissions on {}", p(&good))),
        "{out}"
    );

    // And a real start stops too, with the same line.
    let pki = make_pki(dir.path());
    let mut d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = {}\nticketKeyFile = {}\n",
            header(),
            p(&pki.combined),
            p(&missing)
        ),
    );
    assert_eq!(d.wait_exit(), 1);
    let deadline = Instant::now() + PATIENCE;
    while !d.log.contains("Configuration failed") {
        assert!(Instant::now() < deadline, "{}", d.log.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(d.log.contains(":8: \"ticketKeyFile = "), "{}", d.log.text());
}

/// In the background (rstunnel forks and changes to `/`) a relative
/// `ticketKeyFile` is still followed: the name was made absolute at load,
/// and the watcher runs in the daemon, not in the parent that exited. A
/// SIGHUP rebuilds the contexts around the same keys.
#[test]
fn a_daemonized_node_follows_a_relative_key_file_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    write_keys(&dir.path().join("tickets.keys"), &[1]);
    let backend = common::net::answering_server("127.0.0.1", b"hello\n");
    let d = procs::Daemonized::start(
        dir.path(),
        &format!(
            "[fleet]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
             ticketKeyFile = tickets.keys\n",
            p(&pki.combined)
        ),
    );
    let log = &d.log;
    let port = log.port("fleet");
    let session = dir.path().join("s.pem");
    assert_eq!(connect(port, "-tls1_2", None, &session).ticket, name(1));
    write_keys(&dir.path().join("tickets.keys"), &[2, 1]);
    log.wait_for(&format!("changed: 2 key(s), newest {}", name(2)));
    assert!(connect(port, "-tls1_2", Some(&session), &dir.path().join("t.pem")).reused);
    let pid = d.pid();
    // SAFETY: kill(2) on the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    log.wait_for_nth("Configuration successful", 2);
    assert!(connect(port, "-tls1_2", Some(&session), &dir.path().join("u.pem")).reused);
    assert_eq!(
        connect(port, "-tls1_3", None, &dir.path().join("v.pem")).ticket,
        name(2)
    );
}

/// `workers = 2`: each worker process (forked after the keys were loaded)
/// follows the file with a watcher of its own, and both resume the same
/// sessions.
#[test]
fn every_worker_follows_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let keys = dir.path().join("tickets.keys");
    write_keys(&keys, &[1]);
    let backend = common::net::answering_server("127.0.0.1", b"hello\n");
    let log = procs::LogFile(dir.path().join("w.log"));
    let conf = dir.path().join("w.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\nworkers = 2\n\
             [fleet]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
             ticketKeyFile = {}\n",
            p(&log.0),
            p(&pki.combined),
            p(&keys)
        ),
    )
    .unwrap();
    let _supervisor = procs::spawn(Impl::Rstunnel, &conf, dir.path(), false);
    log.wait_for_nth("Accepting new connections", 2);
    let port = log.port("fleet");
    let session = dir.path().join("s.pem");
    assert_eq!(connect(port, "-tls1_3", None, &session).ticket, name(1));
    write_keys(&keys, &[2, 1]);
    // A worker's watcher starts with its first ticket handshake; the kernel
    // spreads connections over both workers' sockets.
    let changed = format!("changed: 2 key(s), newest {}", name(2));
    for _ in 0..200 {
        if log.count(&changed) == 2 {
            break;
        }
        let s = common::tls_client::tls_connect(port);
        common::tls_client::close(s);
    }
    assert_eq!(log.count(&changed), 2, "{}", log.text());
    for _ in 0..6 {
        let seen = connect(port, "-tls1_3", Some(&session), &dir.path().join("t.pem"));
        assert!(seen.reused && seen.ticket == name(2));
    }
}
