//! Differential test: stunnel4 (the oracle, Debian's 5.68) must print the
//! same error lines for every `tests/conf/invalid/*.conf` fixture that we
//! print (`config_invalid.rs` checks our side against the same
//! `.expected` files). Fixtures named `refused-*` are skipped: their
//! message is rstunnel's own.
//!
//! Safety: stunnel must never get far enough to daemonize. Each fixture is
//! copied to a temporary file; if it has a `[section]`, a sentinel section
//! (`[rstunnel-sentinel]`, which itself fails with "TLS server needs a
//! certificate") is appended, so even a fixture that stunnel accepted would
//! end in a configuration error. Fixtures without sections run in inetd
//! mode, which stays in the foreground, with stdin from /dev/null. Every
//! run is bounded by `timeout`.

use crate::common::must_run;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn stunnel4() -> Option<PathBuf> {
    ["/usr/bin/stunnel4", "/usr/bin/stunnel"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn has_section(text: &str) -> bool {
    text.lines().any(|l| {
        let t = l.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{feff}');
        t.len() >= 2 && t.starts_with('[') && t.ends_with(']')
    })
}

/// stunnel's `[!]` lines that belong to the configuration error (TLS-layer
/// noise of sections that did load is dropped).
fn stunnel_error_lines(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("[!] "))
        .filter(|l| {
            *l != "Configuration failed"
                && *l != "No trusted certificates found"
                && !l.starts_with("error queue:")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn stunnel4_prints_the_same_error_lines() {
    let Some(bin) = stunnel4() else {
        must_run::cannot_run(
            "stunnel4_prints_the_same_error_lines",
            "stunnel4 is not installed",
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut list: Vec<PathBuf> = std::fs::read_dir("tests/conf/invalid")
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "conf"))
        .filter(|p| !file_name(p).starts_with("refused-"))
        .collect();
    list.sort();
    assert!(list.len() >= 15);
    let mut failures = Vec::new();
    for conf in &list {
        let mut text = std::fs::read_to_string(conf).expect("read");
        if has_section(&text) {
            text.push_str("\n[rstunnel-sentinel]\n");
        }
        let copy = tmp.path().join(file_name(conf));
        std::fs::write(&copy, &text).expect("write copy");
        let shown = std::fs::canonicalize(&copy).expect("realpath");
        let want: Vec<String> = std::fs::read_to_string(conf.with_extension("expected"))
            .expect("expected")
            .lines()
            .map(|l| l.replace("{file}", shown.to_str().expect("utf8")))
            .collect();
        let out = Command::new("timeout")
            .arg("10")
            .arg(&bin)
            .arg(&copy)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run stunnel4");
        let got = stunnel_error_lines(&String::from_utf8_lossy(&out.stderr));
        if got != want || out.status.code() != Some(1) {
            failures.push(format!(
                "{} (exit {:?}):\n  expected {:?}\n  stunnel4 {:?}",
                conf.display(),
                out.status.code(),
                want,
                got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
