//! The shipped logrotate snippet (conf/rstunnel.logrotate) run by the real
//! `logrotate` against a running daemon: the log is moved aside and the
//! postrotate script's SIGUSR1, sent through the `pid` file, makes the
//! daemon open a new file at the configured path. Runs for rstunnel and for
//! stunnel4 (the snippet serves both).
//!
//! The snippet's two paths (/var/log/rstunnel.log, /run/rstunnel/rstunnel.pid)
//! are replaced by temporary ones; nothing else is changed. Skipped, with a
//! message, without `logrotate` (apt package logrotate).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{header, net, p, run_cmd, Daemon, Impl};

const SNIPPET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf/rstunnel.logrotate");

fn have_logrotate() -> bool {
    let ok = Command::new("logrotate")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        common::must_run::cannot_run("logrotate tests", "logrotate is not installed");
    }
    ok
}

/// Wait until `path` exists and contains `needle`; bounded by PATIENCE.
fn wait_file_contains(path: &Path, needle: &str) -> String {
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} never contained {needle:?}; it has:\n{text}",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn rotate_and_reopen(imp: Impl) {
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("log");
    let run = work.path().join("run");
    std::fs::create_dir(&logs).unwrap();
    std::fs::create_dir(&run).unwrap();
    let log = logs.join("rstunnel.log");
    let pid = run.join("rstunnel.pid");

    let snippet = std::fs::read_to_string(SNIPPET).unwrap();
    assert!(
        snippet.contains("/var/log/rstunnel.log") && snippet.contains("/run/rstunnel/rstunnel.pid")
    );
    let conf = work.path().join("logrotate.conf");
    std::fs::write(
        &conf,
        snippet
            .replace("/var/log/rstunnel.log", &p(&log))
            .replace("/run/rstunnel/rstunnel.pid", &p(&pid)),
    )
    .unwrap();

    // stunnel writes the pid file in the foreground too.
    let echo = net::echo_server();
    let daemon = Daemon::start(
        imp,
        &format!(
            "{}pid = {}\noutput = {}\n[plain]\nclient = yes\naccept = 127.0.0.1:0\n\
             connect = 127.0.0.1:{echo}\n",
            header(),
            p(&pid),
            p(&log)
        ),
    );
    daemon.port("plain");
    wait_file_contains(&pid, &daemon.child.id().to_string());
    wait_file_contains(&log, "Configuration successful");

    let (ok, out, err) = run_cmd(
        Command::new("logrotate")
            .arg("--force")
            .arg("--state")
            .arg(work.path().join("state"))
            .arg(&conf),
    );
    assert!(ok, "logrotate failed:\n{out}{err}");

    // The old lines moved to .1 (delaycompress: not compressed yet) ...
    let old = std::fs::read_to_string(logs.join("rstunnel.log.1")).expect("rotated file");
    assert!(old.contains("Configuration successful"), "{old}");
    // ... and the daemon, told by postrotate's SIGUSR1, opened a new file.
    let new = wait_file_contains(&log, "Log file reopened");
    assert!(!new.contains("Configuration successful"), "{new}");
    assert!(!old.contains("Log file reopened"), "{old}");
}

#[test]
fn logrotate_snippet_makes_rstunnel_reopen_its_log() {
    if have_logrotate() {
        rotate_and_reopen(Impl::Rstunnel);
    }
}

#[test]
fn logrotate_snippet_makes_stunnel4_reopen_its_log() {
    if have_logrotate() {
        rotate_and_reopen(Impl::Stunnel4);
    }
}
