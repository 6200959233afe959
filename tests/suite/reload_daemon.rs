//! SIGHUP reload on a real process (stunnel-reference §5.3): live
//! connections finish on the settings they started with, new ones get the
//! new configuration, only changed listeners are rebound, and a broken file
//! keeps the running configuration.

use crate::common;
use crate::common::procs;

use std::path::Path;
use std::process::{Command, Stdio};

use common::net::tagged_echo;
use common::tls_client::{echo, read_n, tls_connect};
use common::tls_pki::make_pki;
use common::{p, Impl};
use procs::{LogFile, Proc};

/// The configuration text: global part, then `sections`.
fn conf(log: &Path, cert: &Path, global: &str, sections: &str) -> String {
    format!(
        "output = {}\ndebug = info\nsyslog = no\n{global}\
         cert = {}\n{sections}",
        p(log),
        p(cert)
    )
}

fn section(name: &str, backend: u16) -> String {
    format!("[{name}]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\n")
}

/// A foreground rstunnel on `dir/r.conf`.
fn start(dir: &Path, text: &str) -> (Proc, LogFile, std::path::PathBuf) {
    let path = dir.join("r.conf");
    std::fs::write(&path, text).unwrap();
    let proc = procs::spawn(Impl::Rstunnel, &path, dir, false);
    let log = LogFile(dir.join("r.log"));
    log.wait_for("Accepting new connections");
    (proc, log, path)
}

/// Which backend a new connection to `port` reaches (its greeting).
fn greeting(port: u16) -> Vec<u8> {
    let mut s = tls_connect(port);
    let tag = read_n(&mut s, 2);
    common::tls_client::close(s);
    tag
}

#[test]
fn reload_keeps_live_connections_on_the_old_backend_and_routes_new_ones_to_the_new() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (a, b) = (tagged_echo(b"A:"), tagged_echo(b"B:"));
    let log_path = dir.path().join("r.log");
    let global = "foreground = yes\n";
    let (daemon, log, path) = start(
        dir.path(),
        &conf(&log_path, &pki.combined, global, &section("svc", a)),
    );
    let port = log.port("svc");
    let mut live = tls_connect(port);
    assert_eq!(read_n(&mut live, 2), b"A:");
    assert_eq!(echo(&mut live, b"before"), b"before");

    std::fs::write(
        &path,
        conf(&log_path, &pki.combined, global, &section("svc", b)),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    log.wait_for_nth("Configuration successful", 2);
    assert_kept(&log.text(), "svc");

    assert_eq!(
        greeting(port),
        b"B:",
        "a new connection reaches the new backend"
    );
    // The old connection is still up, still on backend A.
    assert_eq!(echo(&mut live, b"after"), b"after");
    common::tls_client::close(live);
    log.wait_for("LOG5[0]: Connection closed: 13 byte(s) sent to TLS, 11 byte(s) sent to socket");
    assert!(!log.text().contains("Failed to reload"), "{}", log.text());
}

#[test]
fn broken_config_on_reload_keeps_the_old_one_serving() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let a = tagged_echo(b"A:");
    let log_path = dir.path().join("r.log");
    let (daemon, log, path) = start(
        dir.path(),
        &conf(
            &log_path,
            &pki.combined,
            "foreground = yes\n",
            &section("svc", a),
        ),
    );
    let port = log.port("svc");
    let mut live = tls_connect(port);
    assert_eq!(read_n(&mut live, 2), b"A:");

    std::fs::write(
        &path,
        "foreground = yes\n[svc]\naccept = 127.0.0.1:0\nbogus = 1\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    let line = log.wait_for("Failed to reload the configuration file");
    assert!(line.contains(" LOG3[ui]: "), "{line}");
    log.wait_for("\"bogus = 1\": Specified option name is not valid here");

    assert_eq!(echo(&mut live, b"alive"), b"alive");
    assert_eq!(greeting(port), b"A:", "the old configuration still serves");
    common::tls_client::close(live);
}

/// Only what changed is rebound: an unchanged service keeps its socket, a
/// removed one stops listening, a new one is bound.
#[test]
fn reload_rebinds_only_changed_services() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (a, b) = (tagged_echo(b"A:"), tagged_echo(b"B:"));
    let log_path = dir.path().join("r.log");
    let global = "foreground = yes\n";
    let before = format!("{}{}", section("keep", a), section("gone", a));
    let (daemon, log, path) = start(dir.path(), &conf(&log_path, &pki.combined, global, &before));
    let (keep, gone) = (log.port("keep"), log.port("gone"));

    let after = format!("{}{}", section("keep", b), section("new", b));
    std::fs::write(&path, conf(&log_path, &pki.combined, global, &after)).unwrap();
    daemon.signal(libc::SIGHUP);
    log.wait_for_nth("Configuration successful", 2);
    let new = log.port("new");

    assert_eq!(greeting(keep), b"B:");
    assert_eq!(greeting(new), b"B:");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", gone)).is_err(),
        "the removed service still listens"
    );
    assert_kept(&log.text(), "keep");
}

/// An unchanged `accept` is not rebound: the reload logs the same `bound
/// to` line (same FD, same address) as the start.
fn assert_kept(log: &str, name: &str) {
    let lines: Vec<&str> = log
        .lines()
        .filter_map(|l| {
            l.split_once(&format!("Service [{name}] (FD="))
                .map(|(_, r)| r)
        })
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one line at start, one after the reload:\n{log}"
    );
    assert_eq!(lines[0], lines[1], "unchanged accept: no rebind");
}

/// A daemonized process (cwd `/` after daemon()) started with a relative
/// configuration path still re-reads the same file: stunnel keeps the
/// absolute path captured at start-up.
#[test]
fn daemonized_reload_rereads_a_relative_config_path() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (a, b) = (tagged_echo(b"A:"), tagged_echo(b"B:"));
    let log_path = dir.path().join("r.log");
    let pid_path = dir.path().join("r.pid");
    let global = format!("foreground = no\npid = {}\n", p(&pid_path));
    let path = dir.path().join("rel.conf");
    std::fs::write(
        &path,
        conf(&log_path, &pki.combined, &global, &section("svc", a)),
    )
    .unwrap();
    let _guard = common::KillOnDrop("rel.conf".into());
    let status = Command::new(Impl::Rstunnel.program())
        .arg("rel.conf")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let log = LogFile(log_path.clone());
    log.wait_for("LOG6[main]: Accepting new connections");
    let pid: i32 = std::fs::read_to_string(&pid_path)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut daemon = Proc::adopted(pid);
    let port = log.port("svc");
    assert_eq!(greeting(port), b"A:");

    std::fs::write(
        &path,
        conf(&log_path, &pki.combined, &global, &section("svc", b)),
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    log.wait_for(&format!(
        "LOG5[main]: Reading configuration from file {}",
        p(&std::fs::canonicalize(&path).unwrap())
    ));
    log.wait_for_nth("Configuration successful", 2);
    assert!(!log.text().contains("Failed to reload"), "{}", log.text());
    assert_eq!(greeting(port), b"B:");
    daemon.signal(libc::SIGTERM);
    daemon.wait_gone();
    assert!(!pid_path.exists());
}

/// The `Service [NAME] (FD=N) bound to ADDR` lines logged after `from` in
/// `log`, as (name, FD, address).
fn bound_lines(log: &str, from: usize) -> Vec<(String, String, String)> {
    log.lines()
        .skip(from)
        .filter_map(|l| {
            let rest = l.split_once("LOG6[ui]: Service [")?.1;
            let (name, rest) = rest.split_once("] (FD=")?;
            let (fd, addr) = rest.split_once(") bound to ")?;
            Some((name.to_string(), fd.to_string(), addr.to_string()))
        })
        .collect()
}

/// After SIGHUP stunnel logs a `bound to` line for every listening address
/// (it rebinds them all); rstunnel keeps unchanged sockets, including
/// `accept = 127.0.0.1:0` ones, and logs the same line for each kept one
/// (same FD, same port) and for each new one, in file order. For both, the
/// address in each line after the reload accepts connections.
#[test]
fn reload_logs_a_bound_line_for_every_listening_address() {
    let two = "[a]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\n\
               [b]\nclient = yes\naccept = 127.0.0.1:0\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\n";
    let three = format!("{two}[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\n");
    let mut after = Vec::new();
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let d = common::Daemon::start(imp, &format!("{}{two}", common::header()));
        d.log.wait_for("Accepting new connections");
        let before = bound_lines(&d.log.text(), 0);
        std::fs::write(&d.conf, format!("{}{three}", common::header())).unwrap();
        let lines_before = d.log.text().lines().count();
        d.signal(libc::SIGHUP);
        d.log.wait_for_nth("Service [c] (FD=", 1);
        d.log.wait_for_nth("Configuration successful", 2);
        let now = bound_lines(&d.log.text(), lines_before);
        let names: Vec<&str> = now.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(names, ["a", "b", "b", "c"], "{imp:?}:\n{}", d.log.text());
        for (_, _, addr) in &now {
            let port: u16 = addr.strip_prefix("127.0.0.1:").unwrap().parse().unwrap();
            assert_ne!(port, 0);
            std::net::TcpStream::connect(("127.0.0.1", port))
                .unwrap_or_else(|e| panic!("{imp:?}: {addr} from the reload lines: {e}"));
        }
        if imp == Impl::Rstunnel {
            assert_eq!(now[..3], before[..], "kept sockets must log what they are");
        }
        after.push(names.len());
    }
    assert_eq!(after[0], after[1]);
}
