//! A bad configuration names its file and line, exits 1 and binds nothing
//! (stunnel's error mode: everything buffered goes to stderr as `[c] text`).

use crate::common;

use std::process::Command;

use common::{check_config, net, Impl};

#[test]
fn a_bad_line_is_named_and_nothing_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (probe, port) = net::listener();
    drop(probe);
    let conf = dir.path().join("bad.conf");
    std::fs::write(
        &conf,
        format!("foreground = yes\n[svc]\naccept = 127.0.0.1:{port}\nconnect = 9\ndelay = 10\n"),
    )
    .unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "[!] {}:5: \"delay = 10\": The argument needs to be either 'yes' or 'no'",
        conf.canonicalize().unwrap().display()
    );
    assert!(
        err.lines().any(|l| l == expected),
        "missing {expected:?} in:\n{err}"
    );
    assert!(
        err.lines().any(|l| l == "[!] Configuration failed"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "stunnel never writes to stdout");
    // Nothing was bound: the port is still free.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port was bound by a failed start");
}

#[test]
fn version_banner_is_parseable_like_stunnels() {
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let first = err.lines().next().unwrap();
    assert!(
        first.starts_with("stunnel 5.68-compatible rstunnel ") && first.ends_with(" platform"),
        "{first}"
    );
    let second = err.lines().nth(1).unwrap();
    assert!(
        second.starts_with("Compiled/running with OpenSSL ")
            || second.starts_with("Compiled with OpenSSL ")
    );
    assert!(out.stdout.is_empty());
}

/// A client service that needs nothing but the lines before it.
const CLIENT_SERVICE: &str = "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n";

/// A CONNECT client without `protocolHost` could never work: refused when the
/// file is read (stunnel 5.73+), not per connection as 5.68 does.
#[test]
fn connect_client_without_protocol_host_is_refused_at_load() {
    let (code, err) = check_config(&format!("{CLIENT_SERVICE}protocol = connect\n"));
    assert_eq!(code, Some(1));
    assert!(
        err.lines()
            .any(|l| l == "[!] Service [c]: protocolHost not specified"),
        "{err}"
    );
}

/// `provider` (stunnel 5.75) loads OpenSSL providers at start-up; one that
/// cannot be loaded stops the start instead of being ignored.
#[test]
fn providers_are_loaded_or_refused() {
    let (code, err) = check_config(&format!(
        "provider = default\nprovider = legacy\n{CLIENT_SERVICE}"
    ));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = check_config(&format!("provider = no-such-provider\n{CLIENT_SERVICE}"));
    assert_eq!(code, Some(1));
    assert!(
        err.lines()
            .any(|l| l == "[!] Global options: Failed to load provider"),
        "{err}"
    );
}
