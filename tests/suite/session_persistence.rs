//! Session persistence (stunnel-reference §5.4 item 4): in server mode the
//! backend a TLS session first reached is kept in the session
//! (`persistence: ADDR cached`), and a connection resuming that session goes
//! back to it (`persistence: ADDR reused`) instead of taking the next
//! `failover = rr` entry. Sessions resumed from a stateless ticket carry
//! nothing (`persistence: No cached address found`), in stunnel as here.
//!
//! stunnel4 5.68 and rstunnel run the same configuration (two backends
//! answering `A` and `B`, `failover = rr`); `openssl s_client -sess_out` /
//! `-sess_in` makes one new and three resumed connections per protocol
//! version. The persistence and failover lines must be the same, with the
//! backends named by the order they were first reached (the round-robin
//! start is random in both).

use crate::common;

use std::path::Path;
use std::process::Command;

use common::tls_pki::make_pki;
use common::{header, p, run_cmd, Daemon, Impl};

/// One `openssl s_client` connection; the backend's answer.
fn fetch(port: u16, version: &str, sess: &Path, first: bool) -> String {
    let flag = if first { "-sess_out" } else { "-sess_in" };
    let (ok, out, err) = run_cmd(Command::new("openssl").args([
        "s_client",
        version,
        "-connect",
        &format!("127.0.0.1:{port}"),
        flag,
        &p(sess),
        "-quiet",
    ]));
    assert!(ok || !out.is_empty(), "s_client failed: {err}");
    out.trim().to_string()
}

/// The persistence/failover/resumption lines, backend addresses replaced
/// by `first`/`second` in the order they appear, the rr index dropped.
fn story(log: &str) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    log.lines()
        .filter_map(|l| l.split_once("LOG").map(|(_, r)| r))
        .filter_map(|l| l.split_once("]: ").map(|(lvl, t)| (&lvl[..1], t)))
        .filter(|(_, t)| {
            t.starts_with("persistence:")
                || t.starts_with("failover:")
                || t.starts_with("TLS accepted:")
        })
        .map(|(lvl, t)| {
            let mut text = t.to_string();
            if let Some(i) = text.find("127.0.0.1:") {
                let addr: String = text[i..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                if !seen.contains(&addr) {
                    seen.push(addr.clone());
                }
                let name = ["first", "second"][seen.iter().position(|a| *a == addr).unwrap()];
                text = text.replace(&addr, name);
            }
            if let Some(i) = text.find(", starting at entry #") {
                text.truncate(i);
            }
            format!("{lvl} {text}")
        })
        .collect()
}

fn run(imp: Impl, tickets: bool) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let a = common::net::answering_server("127.0.0.1", b"A\n");
    let b = common::net::answering_server("127.0.0.1", b"B\n");
    let conf = format!(
        "{}[p]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 127.0.0.1:{a}\n\
         connect = 127.0.0.1:{b}\nfailover = rr\n{}",
        header(),
        p(&pki.combined),
        if tickets { "" } else { "options = NO_TICKET\n" }
    );
    let d = Daemon::start(imp, &conf);
    let port = d.port("p");
    let mut answers = Vec::new();
    for version in ["-tls1_2", "-tls1_3"] {
        let sess = dir.path().join(format!("sess{version}.pem"));
        for i in 0..4 {
            answers.push(fetch(port, version, &sess, i == 0));
        }
    }
    d.log.wait_for_nth("Connection closed", 8);
    (answers, story(&d.log.text()))
}

/// Sessions from the server's cache (`options = NO_TICKET`, TLS 1.2 and
/// 1.3): every resumed connection reaches the backend its session first
/// reached (`cached`, then `reused` and no failover line), and both pick
/// the same backends in the same order.
#[test]
fn a_resumed_session_returns_to_its_backend() {
    let mut runs = Vec::new();
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let (answers, story) = run(imp, false);
        for chunk in answers.chunks(4) {
            assert!(
                chunk.iter().all(|a| *a == chunk[0]) && !chunk[0].is_empty(),
                "{imp:?}: {answers:?}"
            );
        }
        let count = |text: &str| story.iter().filter(|l| l.contains(text)).count();
        assert_eq!(count("6 failover: round-robin"), 2, "{imp:?}: {story:#?}");
        assert_eq!(count(" reused"), 6 + 6, "{imp:?}: {story:#?}");
        assert_eq!(count("No cached address"), 0, "{imp:?}: {story:#?}");
        for (i, line) in story.iter().enumerate() {
            if line.ends_with(" reused") && line.contains("persistence:") {
                // The backend it reuses is the one its session cached.
                let cached = line.replace(" reused", " cached");
                assert!(story[..i].contains(&cached), "{imp:?}: {story:#?}");
            }
        }
        let same_backend_again = answers[0] == answers[4];
        runs.push((story, same_backend_again));
    }
    assert_eq!(runs[0], runs[1]);
}

/// Stateless tickets (the default) carry no backend: the resumed
/// connection says so at notice and takes the next round-robin entry.
#[test]
fn a_ticket_carries_no_backend() {
    let mut stories = Vec::new();
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let (answers, story) = run(imp, true);
        assert_ne!(answers[0], answers[1], "{imp:?}: {answers:?}");
        let resumed: Vec<&String> = story
            .iter()
            .filter(|l| l.contains("No cached address found"))
            .collect();
        assert_eq!(resumed.len(), 6, "{imp:?}: {story:#?}");
        assert!(resumed.iter().all(|l| l.starts_with("5 ")), "{imp:?}");
        stories.push(story);
    }
    assert_eq!(stories[0], stories[1]);
}
