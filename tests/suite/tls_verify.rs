//! Server-side peer verification against `openssl s_client` with client
//! certificates (stunnel-reference §6.6, §5.8): none / untrusted / trusted /
//! revoked by CRL, `verifyPeer` pinning, and `redirect` letting failures
//! through as unauthenticated.

use crate::common::tls_pki;
use crate::common::tls_service;

use std::time::Duration;

use rstunnel::config::model::{Endpoint, Service, VerifyFlags};
use rstunnel::tls::{build, Loading, TlsContext};

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

/// What one accept produced.
struct Outcome {
    result: Result<(bool, Option<String>), rstunnel::tls::TlsError>,
}

/// Accept one `s_client` connection (with `cert` as client certificate if
/// given) and exchange a line when the handshake succeeds.
async fn serve_once(ctx: &TlsContext, id: &str, cert: Option<&std::path::Path>) -> Outcome {
    let cert = cert.map(|c| c.display().to_string());
    let mut args = vec!["-quiet"];
    if let Some(c) = &cert {
        args.extend(["-cert", c]);
    }
    let (peer, result) = accept_s_client(ctx, id, &args, |_| {}).await;
    let result = match result {
        Ok(mut tls) => {
            let auth = tls.authenticated();
            let subject = tls.peer_subject();
            assert_eq!(answer_line(&mut tls).await, "hi\n");
            Ok((auth, subject))
        }
        Err(e) => Err(e),
    };
    let _ = peer.finish(LIMIT);
    Outcome { result }
}

fn server(name: &str, pki: &tls_pki::Pki, verify: VerifyFlags) -> Service {
    let mut svc = default_service(name);
    svc.options.cert = Some(pki.combined.clone());
    svc.options.ca_file = Some(pki.ca.clone());
    svc.options.verify = verify;
    svc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_chain_with_no_untrusted_trusted_and_revoked_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = server("chain", &pki, verify_chain());
    svc.options.crl_file = Some(pki.crl.clone());
    let ctx = logged("chain-build", async { build(&svc, Loading::Files) })
        .await
        .expect("build");
    assert!(has_line(
        "chain-build",
        "Configured trusted client CA: CN=rstunnel test CA"
    ));

    let none = serve_once(&ctx, "chain-none", None).await;
    let err = none.result.expect_err("no certificate must fail");
    assert!(err.mentions("peer did not return a certificate"), "{err}");
    assert!(has_line("chain-none", "Peer certificate required"));

    let untrusted = serve_once(
        &ctx,
        "chain-untrusted",
        Some(&pki.untrusted_client_combined),
    )
    .await;
    let err = untrusted.result.expect_err("untrusted must fail");
    assert!(err.mentions("certificate verify failed"), "{err}");
    assert!(has_line(
        "chain-untrusted",
        "CERT: Pre-verification error: self-signed certificate"
    ));
    assert!(has_line(
        "chain-untrusted",
        "Rejected by CERT at depth=0: CN=untrusted client"
    ));

    let revoked = serve_once(&ctx, "chain-revoked", Some(&pki.revoked_client_combined)).await;
    assert!(revoked.result.is_err());
    assert!(
        has_line(
            "chain-revoked",
            "CERT: Pre-verification error: certificate revoked"
        ),
        "{:?}",
        lines("chain-revoked")
    );

    let trusted = serve_once(&ctx, "chain-trusted", Some(&pki.client_combined)).await;
    let (auth, subject) = trusted.result.expect("trusted client");
    assert!(auth);
    assert_eq!(subject.as_deref(), Some("C=PL, O=rstunnel, CN=client"));
    assert!(has_line(
        "chain-trusted",
        "Certificate accepted at depth=0: C=PL, O=rstunnel, CN=client"
    ));
    assert!(has_line(
        "chain-trusted",
        "CERT: No subject checks configured"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_peer_pins_the_leaf_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    // Trust store = the client's own certificate only.
    let mut svc = server("pin", &pki, verify_peer());
    svc.options.ca_file = Some(pki.client_cert.clone());
    let ctx = build(&svc, Loading::Files).expect("build");
    let pinned = serve_once(&ctx, "pin-ok", Some(&pki.client_combined)).await;
    assert!(pinned.result.is_ok(), "{:?}", lines("pin-ok"));
    assert!(has_line(
        "pin-ok",
        "CERT: Locally installed certificate matched"
    ));

    // Another certificate of the same CA is not pinned.
    let other = serve_once(&ctx, "pin-other", Some(&pki.revoked_client_combined)).await;
    assert!(other.result.is_err());
    assert!(
        has_line(
            "pin-other",
            "CERT: Certificate not found in local repository"
        ),
        "{:?}",
        lines("pin-other")
    );

    // Trusting the CA is not enough for verifyPeer.
    let svc = server("pin-ca", &pki, verify_peer());
    let ctx = build(&svc, Loading::Files).expect("build");
    let viaca = serve_once(&ctx, "pin-ca", Some(&pki.client_combined)).await;
    assert!(viaca.result.is_err());
    assert!(has_line(
        "pin-ca",
        "Certificate accepted at depth=1: CN=rstunnel test CA"
    ));
    assert!(has_line(
        "pin-ca",
        "Rejected by CERT at depth=0: C=PL, O=rstunnel, CN=client"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_lets_unauthenticated_clients_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = server("redir", &pki, verify_chain());
    svc.redirect = vec![Endpoint::Inet {
        host: None,
        port: 9,
    }];
    let ctx = build(&svc, Loading::Files).expect("build");
    let none = serve_once(&ctx, "redir-none", None).await;
    assert!(!none.result.expect("handshake without cert").0);
    let bad = serve_once(&ctx, "redir-bad", Some(&pki.untrusted_client_combined)).await;
    assert!(!bad.result.expect("handshake with untrusted cert").0);
    assert!(has_line(
        "redir-bad",
        "Rejected by CERT at depth=0: CN=untrusted client"
    ));
    let good = serve_once(&ctx, "redir-good", Some(&pki.client_combined)).await;
    assert!(good.result.expect("handshake").0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_cert_no_verifies_only_when_a_certificate_is_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut flags = verify_chain();
    flags.require = false;
    let ctx = build(&server("optional", &pki, flags), Loading::Files).expect("build");
    let none = serve_once(&ctx, "optional-none", None).await;
    assert!(!none.result.expect("no cert is fine").0);
    assert!(has_line("optional-none", "Peer certificate not required"));
    let bad = serve_once(&ctx, "optional-bad", Some(&pki.untrusted_client_combined)).await;
    assert!(bad.result.is_err());
}
