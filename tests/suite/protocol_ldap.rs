//! `protocol = ldap` (client): StartTLS with a private OpenLDAP slapd, then
//! the real `ldapwhoami` works through the upgraded connection.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase};
use tokio::net::TcpStream;

/// A plain LDAP client (ldapwhoami) → hook → TLS → slapd that requires
/// TLS: the bind only succeeds if StartTLS really happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_slapd_then_ldapwhoami() {
    let Some(slapd) = Slapd::start("starttls_with_slapd", true).await else {
        return;
    };
    let Some(whoami) = require("starttls_with_slapd", "ldapwhoami") else {
        return;
    };
    let (listener, addr) = listen().await;
    let port = slapd.port;
    let relay = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("slapd");
        let hook = Hook::new(ProtocolKind::Ldap, true);
        hook.run("ldap-c1", Phase::Middle, &mut local, Some(&mut remote))
            .await
            .expect("middle");
        let mut tls = tls_connect(remote).await;
        let _ = tokio::io::copy_bidirectional(&mut local, &mut tls).await;
    });
    let mut cmd = std::process::Command::new(whoami);
    cmd.args(["-x", "-D", "cn=admin,dc=test", "-w", "secret", "-H"]);
    cmd.arg(format!("ldap://127.0.0.1:{}", addr.port()));
    let (ok, out) = run_cmd(cmd).await;
    assert!(ok, "ldapwhoami failed: {out}");
    assert_eq!(out.trim(), "dn:cn=admin,dc=test");
    relay.await.expect("relay");
    assert_logged("ldap-c1", "LDAP Start TLS successfully negotiated");

    // the same bind straight to slapd, without StartTLS, is refused
    let mut cmd = std::process::Command::new(which("ldapwhoami").expect("ldapwhoami"));
    cmd.args(["-x", "-D", "cn=admin,dc=test", "-w", "secret", "-H"]);
    cmd.arg(format!("ldap://127.0.0.1:{port}"));
    let (ok, out) = run_cmd(cmd).await;
    assert!(!ok, "slapd must require TLS: {out}");
}

/// slapd without TLS answers StartTLS with an error result code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_refused_by_slapd_without_tls() {
    let Some(slapd) = Slapd::start("starttls_refused_by_slapd", false).await else {
        return;
    };
    let (listener, addr) = listen().await;
    let _app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", slapd.port))
        .await
        .expect("slapd");
    let hook = Hook::new(ProtocolKind::Ldap, true);
    let r = hook
        .run("ldap-c2", Phase::Middle, &mut local, Some(&mut remote))
        .await;
    assert_eq!(r.unwrap_err(), Abort::Reset);
    let log = logged("ldap-c2");
    assert!(
        log.contains("LDAP response has indicated an error ("),
        "{log}"
    );
}
