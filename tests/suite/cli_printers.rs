//! `-help`, `-version` (defaults block), `-options` and `-sockets` output
//! compared with stunnel4's: everything stunnel prints after its banner
//! (the lines from the first " " separator on).

use crate::common::must_run;

use std::process::{Command, Stdio};

use rstunnel::cli;

/// stunnel4's stderr for `arg`, from the first separator line on; `None`
/// when stunnel4 is missing and skipping was asked for (`must_run.rs`).
fn stunnel4(arg: &str) -> Option<Vec<String>> {
    let out = Command::new("timeout")
        .args(["10", "stunnel4", arg])
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.code() == Some(0));
    let Some(out) = out else {
        must_run::cannot_run(&format!("stunnel4 {arg}"), "stunnel4 is not installed");
        return None;
    };
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|l| l == " ")
        .expect("stunnel4's separator line");
    Some(lines[start..].to_vec())
}

/// Options rstunnel lists that stunnel 5.68's `-help` does not (5.70+).
/// Options stunnel 5.68 does not have: 5.70+ ones and rstunnel extensions.
const NEWER: [&str; 15] = [
    "provider",
    "setEnv",
    "OCSPrequire",
    "TIMEOUTocsp",
    "protocolDestination",
    "metrics",
    "logProbes",
    "TIMEOUTdrain",
    "certReload",
    "proxyIn",
    "proxyFrom",
    "workers",
    "OCSPstapling",
    "ticketKeyFile",
    "proxyVersion",
];

#[test]
fn help_matches_stunnel4_except_newer_options() {
    let ours = cli::help_lines();
    for name in NEWER {
        assert!(
            ours.iter()
                .any(|l| l.starts_with(&format!("{name:<22} = "))),
            "{name} listed"
        );
    }
    let Some(theirs) = stunnel4("-help") else {
        return;
    };
    let filtered: Vec<String> = ours
        .into_iter()
        .filter(|l| !NEWER.iter().any(|n| l.starts_with(&format!("{n:<22} = "))))
        .collect();
    assert_eq!(filtered, theirs);
}

#[test]
fn version_defaults_match_stunnel4() {
    let ours = cli::version_defaults_lines();
    assert!(ours.contains(&"verify                 = none".to_string()));
    if let Some(theirs) = stunnel4("-version") {
        assert_eq!(ours, theirs);
    }
}

#[test]
fn options_list_matches_stunnel4() {
    let ours = cli::options_lines();
    assert_eq!(ours.len(), 2 + 53);
    if let Some(theirs) = stunnel4("-options") {
        assert_eq!(ours, theirs);
    }
}

#[test]
fn sockets_table_matches_stunnel4() {
    let ours = cli::sockets_lines();
    assert_eq!(ours.len(), 4 + 21);
    if let Some(theirs) = stunnel4("-sockets") {
        assert_eq!(ours, theirs);
    }
}
