//! A bad configuration names its file and line, exits 1 and binds nothing
//! (stunnel's error mode: everything buffered goes to stderr as `[c] text`).

mod common;

use std::process::Command;

use common::{net, Impl};

#[test]
fn a_bad_line_is_named_and_nothing_is_bound() {
    let dir = tempfile::tempdir().unwrap();
    let (probe, port) = net::listener();
    drop(probe);
    let conf = dir.path().join("bad.conf");
    std::fs::write(
        &conf,
        format!("foreground = yes\n[svc]\naccept = 127.0.0.1:{port}\nconnect = 9\nretry = 10\n"),
    )
    .unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let expected = format!(
        "[!] {}:5: \"retry = 10\": The argument needs to be either 'yes' or 'no'",
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

/// A CONNECT client without `protocolHost` could never work: refused when the
/// file is read (stunnel 5.73+), not per connection as 5.68 does.
#[test]
fn connect_client_without_protocol_host_is_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\nprotocol = connect\n",
    )
    .unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-test")
        .arg(&conf)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
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
    let dir = tempfile::tempdir().unwrap();
    let service = "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n";
    let good = dir.path().join("good.conf");
    std::fs::write(
        &good,
        format!("provider = default\nprovider = legacy\n{service}"),
    )
    .unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-test")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.conf");
    std::fs::write(&bad, format!("provider = no-such-provider\n{service}")).unwrap();
    let out = Command::new(Impl::Rstunnel.program())
        .arg("-test")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l == "[!] Global options: Failed to load provider"),
        "{err}"
    );
}
