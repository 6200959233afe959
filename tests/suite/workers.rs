//! `workers = N` (rstunnel extension) on real processes: the kernel spreads
//! connections over the workers' sockets, the supervisor passes SIGHUP and
//! SIGTERM on, restarts a killed worker (whose replacement reloads first
//! if the others did), and takes its workers down when it is killed.

use crate::common;
use crate::common::procs;

use std::path::{Path, PathBuf};

use common::net::tagged_echo;
use common::tls_client::{echo, read_n, tls_connect};
use common::tls_pki::make_pki;
use common::wait_until;
use common::{p, Impl};
use procs::{LogFile, Proc};

/// A foreground supervisor of `workers` processes for service [w], its log
/// and pid file.
struct Fleet {
    supervisor: Proc,
    log: LogFile,
    pid_file: PathBuf,
    port: u16,
}

fn start(dir: &Path, workers: u32) -> Fleet {
    let pki = make_pki(dir);
    let backend = tagged_echo(b"W:");
    let log = LogFile(dir.join("w.log"));
    let pid_file = dir.join("w.pid");
    let conf = dir.join("w.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\noutput = {}\npid = {}\ndebug = info\nsyslog = no\nworkers = {workers}\n\
             [w]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&log.0),
            p(&pid_file),
            p(&pki.combined)
        ),
    )
    .unwrap();
    let supervisor = procs::spawn(Impl::Rstunnel, &conf, dir, false);
    log.wait_for_nth("Accepting new connections", workers as usize);
    let port = log.port("w");
    Fleet {
        supervisor,
        log,
        pid_file,
        port,
    }
}

impl Fleet {
    /// The pid of worker `n` (1-based) as its latest `started` line says.
    fn worker(&self, n: usize) -> i32 {
        let needle = format!("Worker {n} started (PID=");
        let text = self.log.text();
        let line = text
            .lines()
            .rev()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no {needle} in {text}"));
        line.rsplit("PID=")
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse()
            .unwrap()
    }
}

/// Connections process `pid` has accepted on `port` and holds open: its
/// established sockets whose local port is `port`.
fn accepted_by(pid: i32, port: u16) -> usize {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().into_owned();
            Some(t.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 9 && f[3] == "01" && inodes.iter().any(|i| i == f[9]))
        .filter(|f| f[1].rsplit(':').next() == Some(&format!("{port:04X}")))
        .count()
}

fn gone(pid: i32) -> bool {
    // Not our children: gone when /proc has no entry or only a zombie.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |s| procs::stat_field(&s, 2).as_deref() == Some("Z"))
}

/// Connections land in both workers; SIGHUP to the supervisor reloads
/// both; SIGTERM stops both and the supervisor exits 0 without its pid file.
#[test]
fn two_workers_share_the_port_reload_and_stop_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = start(dir.path(), 2);
    let (one, two) = (fleet.worker(1), fleet.worker(2));
    assert_ne!(one, two);
    assert_eq!(
        std::fs::read_to_string(&fleet.pid_file).unwrap().trim(),
        fleet.supervisor.pid.to_string(),
        "the pid file names the supervisor"
    );
    // 32 connections from distinct source ports: SO_REUSEPORT hashes
    // them over both sockets (all in one: a chance of 2 in 2^32).
    let mut held = Vec::new();
    for i in 0..32u32 {
        let mut s = tls_connect(fleet.port);
        assert_eq!(read_n(&mut s, 2), b"W:");
        let msg = format!("message {i}");
        assert_eq!(echo(&mut s, msg.as_bytes()), msg.as_bytes());
        held.push(s);
    }
    let (a, b) = (accepted_by(one, fleet.port), accepted_by(two, fleet.port));
    assert_eq!(a + b, 32, "worker 1 holds {a}, worker 2 holds {b}");
    assert!(a > 0 && b > 0, "worker 1 holds {a}, worker 2 holds {b}");
    held.into_iter().for_each(common::tls_client::close);

    fleet.supervisor.signal(libc::SIGHUP);
    // The supervisor parses nothing: one more line per worker.
    fleet.log.wait_for_nth("Configuration successful", 3);
    let mut s = tls_connect(fleet.port);
    assert_eq!(read_n(&mut s, 2), b"W:");
    common::tls_client::close(s);

    fleet.supervisor.signal(libc::SIGTERM);
    assert_eq!(fleet.supervisor.wait_exit(), 0);
    assert!(gone(one) && gone(two), "a worker outlived the supervisor");
    assert_eq!(fleet.log.count("LOG5[ui]: Terminated"), 3);
    fleet.log.wait_for("All workers stopped");
    assert!(!fleet.pid_file.exists(), "the pid file is removed at exit");
}

/// A killed worker is restarted; a connection on the other worker loses no
/// byte meanwhile; after a reload the replacement reloads as well.
#[test]
fn a_killed_worker_is_restarted_and_the_other_keeps_its_connections() {
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = start(dir.path(), 2);
    fleet.supervisor.signal(libc::SIGHUP);
    fleet.log.wait_for_nth("Configuration successful", 3);
    let (one, two) = (fleet.worker(1), fleet.worker(2));
    // A connection that worker 2 holds (connect until one lands there).
    let mut on_two = None;
    for _ in 0..64 {
        let mut s = tls_connect(fleet.port);
        assert_eq!(read_n(&mut s, 2), b"W:");
        if accepted_by(two, fleet.port) > 0 {
            on_two = Some(s);
            break;
        }
        common::tls_client::close(s);
        wait_until("worker 1 closed it", || accepted_by(one, fleet.port) == 0);
    }
    let mut on_two = on_two.expect("64 connections all went to worker 1");

    Proc::adopted(one).signal(libc::SIGKILL);
    fleet.log.wait_for(&format!(
        "Worker 1 (PID={one}) terminated on SIGKILL; restarting it"
    ));
    wait_until("a new worker 1", || fleet.worker(1) != one);
    // The replacement starts with the start-up configuration and reloads.
    fleet.log.wait_for_nth("Configuration successful", 4);
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
    assert_eq!(
        echo(&mut on_two, &payload),
        payload,
        "bytes lost on worker 2"
    );
    for _ in 0..16 {
        let mut s = tls_connect(fleet.port);
        assert_eq!(read_n(&mut s, 2), b"W:");
        assert_eq!(echo(&mut s, b"after"), b"after");
        common::tls_client::close(s);
    }
    common::tls_client::close(on_two);
    fleet.supervisor.signal(libc::SIGTERM);
    assert_eq!(fleet.supervisor.wait_exit(), 0);
}

/// Workers end with their supervisor, even when it is killed outright.
#[test]
fn workers_end_when_the_supervisor_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut fleet = start(dir.path(), 2);
    let (one, two) = (fleet.worker(1), fleet.worker(2));
    fleet.supervisor.signal(libc::SIGKILL);
    fleet.supervisor.wait_exit();
    wait_until("both workers gone", || gone(one) && gone(two));
}

/// `workers` takes 1 to 256, cannot share a metrics endpoint and has no
/// meaning in inetd mode: each is refused before anything is bound.
#[test]
fn workers_values_and_combinations_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let service = format!(
        "[w]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = {}\n",
        p(&pki.combined)
    );
    let cases = [
        (
            "workers = 0\n".to_string() + &service,
            "w.conf:3: \"workers = 0\": Illegal number of workers (1 to 256)",
        ),
        (
            "workers = 257\n".to_string() + &service,
            "Illegal number of workers (1 to 256)",
        ),
        (
            "workers = two\n".to_string() + &service,
            "Illegal number of workers (1 to 256)",
        ),
        (
            "workers = 2\nmetrics = 127.0.0.1:0\n".to_string() + &service,
            "w.conf:3: \"workers = 2\": \"metrics\" cannot be combined with \"workers\"",
        ),
        (
            format!(
                "workers = 2\nconnect = 127.0.0.1:9\ncert = {}\n",
                p(&pki.combined)
            ),
            "Global options: \"workers\" is not supported in inetd mode",
        ),
    ];
    for (text, expected) in cases {
        let conf = dir.path().join("w.conf");
        std::fs::write(&conf, format!("foreground = yes\nsyslog = no\n{text}")).unwrap();
        let out = std::process::Command::new(Impl::Rstunnel.program())
            .arg(&conf)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {err}");
        assert!(err.contains(expected), "{text}: want {expected:?} in {err}");
        assert!(
            !err.contains("bound to"),
            "{text}: bound before failing: {err}"
        );
    }
}
