//! Client mode (`client = yes`) against `openssl s_server`: chain
//! verification with `checkHost`, a mismatch, an untrusted server, SNI, and
//! session resumption on the second connect (stunnel-reference §5.5, §5.11).

use crate::common::tls_pki;
use crate::common::tls_service;

use std::time::Duration;

use rstunnel::config::model::Service;
use rstunnel::tls::{build, Loading, Side, TlsContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

fn client_service(name: &str, pki: &tls_pki::Pki) -> Service {
    let mut svc = default_service(name);
    svc.options.client = true;
    svc.options.ca_file = Some(pki.ca.clone());
    svc.options.verify = verify_chain();
    svc.sni_name = Some("localhost".to_string());
    svc
}

/// Connect, send a line through `s_server -rev`, expect it reversed.
async fn round_trip(ctx: &TlsContext, port: u16, id: &str) -> Result<(), rstunnel::tls::TlsError> {
    round_trip_to(ctx, port, None, id).await
}

/// [`round_trip`] as the client of connect target `target` when one is given.
async fn round_trip_to(
    ctx: &TlsContext,
    port: u16,
    target: Option<usize>,
    id: &str,
) -> Result<(), rstunnel::tls::TlsError> {
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("tcp connect");
    let handshake = async {
        match target {
            Some(t) => {
                ctx.handshake(tcp, Side::Client { target: Some(t) }, None)
                    .await
            }
            None => ctx.connect(tcp).await,
        }
    };
    let mut tls = logged(id, timeout(LIMIT, handshake))
        .await
        .expect("in time")?;
    tls.write_all(b"abc\n").await.expect("write");
    let mut buf = [0u8; 4];
    timeout(LIMIT, tls.read_exact(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(&buf, b"cba\n");
    let _ = tls.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifies_chain_and_host_and_resumes_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = client_service("cli", &pki);
    svc.options.check_host = vec!["localhost".to_string()];
    let ctx = logged("cli-build", async { build(&svc, Loading::Files) })
        .await
        .expect("build");
    assert!(has_line(
        "cli-build",
        "Configured trusted server CA: CN=rstunnel test CA"
    ));
    assert!(has_line(
        "cli-build",
        "DH initialization skipped: client section"
    ));
    let (peer, port) = s_server(&[
        "-cert",
        &pki.server_cert.display().to_string(),
        "-key",
        &pki.server_key.display().to_string(),
        "-rev",
        "-naccept",
        "2",
    ]);
    round_trip(&ctx, port, "cli-1")
        .await
        .expect("first connect");
    round_trip(&ctx, port, "cli-2")
        .await
        .expect("second connect");
    drop(peer);
    for id in ["cli-1", "cli-2"] {
        assert!(
            has_line(id, "SNI: sending servername: localhost"),
            "{:?}",
            lines(id)
        );
        assert!(has_line(id, "Peer certificate required"));
    }
    assert!(has_line(
        "cli-1",
        "Certificate accepted at depth=1: CN=rstunnel test CA"
    ));
    assert!(has_line(
        "cli-1",
        "CERT: Host name \"localhost\" matched with \"localhost\""
    ));
    assert!(has_line(
        "cli-1",
        "Certificate accepted at depth=0: CN=localhost"
    ));
    assert!(has_line("cli-1", "TLS connected: new session negotiated"));
    assert!(
        has_line("cli-2", "TLS connected: previous session reused"),
        "{:?}",
        lines("cli-2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_host_mismatch_and_untrusted_server_fail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let (peer, port) = s_server(&[
        "-cert",
        &pki.server_cert.display().to_string(),
        "-key",
        &pki.server_key.display().to_string(),
        "-rev",
        "-naccept",
        "2",
    ]);

    let mut svc = client_service("mismatch", &pki);
    svc.options.check_host = vec!["wronghost".to_string()];
    let ctx = build(&svc, Loading::Files).expect("build");
    let err = round_trip(&ctx, port, "mismatch-1")
        .await
        .expect_err("must fail");
    assert_eq!(err.context, "SSL_connect");
    assert!(err.mentions("certificate verify failed"), "{err}");
    assert!(has_line("mismatch-1", "CERT: Subject checks failed"));
    assert!(has_line(
        "mismatch-1",
        "Rejected by CERT at depth=0: CN=localhost"
    ));

    // Trusting only an unrelated self-signed certificate.
    let mut svc = client_service("untrusted", &pki);
    svc.options.ca_file = Some(pki.untrusted_client_cert.clone());
    let ctx = build(&svc, Loading::Files).expect("build");
    let err = round_trip(&ctx, port, "untrusted-1")
        .await
        .expect_err("must fail");
    assert!(err.mentions("certificate verify failed"), "{err}");
    assert!(
        has_line(
            "untrusted-1",
            "CERT: Pre-verification error: unable to get local issuer certificate"
        ),
        "{:?}",
        lines("untrusted-1")
    );
    drop(peer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_verification_every_certificate_is_accepted_and_sni_can_be_off() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let (peer, port) = s_server(&[
        "-cert",
        &pki.server_cert.display().to_string(),
        "-key",
        &pki.server_key.display().to_string(),
        "-rev",
        "-naccept",
        "1",
    ]);
    let mut svc = default_service("noverify");
    svc.options.client = true;
    svc.sni_name = None;
    let ctx = build(&svc, Loading::Files).expect("build");
    round_trip(&ctx, port, "noverify-1").await.expect("connect");
    assert!(has_line("noverify-1", "SNI: extension disabled"));
    assert!(has_line("noverify-1", "Peer certificate not required"));
    assert!(has_line("noverify-1", "Certificate verification disabled"));
    drop(peer);
}

/// stunnel §5.11: with several targets and `delay = no` each target keeps
/// its own session; with `delay = yes` one session serves the service.
/// Two `s_server`s are two targets that cannot resume each other's
/// sessions, so alternating between them shows which slot was offered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_kept_per_connect_target_unless_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let (cert, key) = (
        pki.server_cert.display().to_string(),
        pki.server_key.display().to_string(),
    );
    let args = ["-cert", &cert, "-key", &key, "-rev", "-naccept", "3"];
    for delay in [false, true] {
        let (peer_a, a) = s_server(&args);
        let (peer_b, b) = s_server(&args);
        let mut svc = client_service("targets", &pki);
        svc.options.delay = delay;
        let ctx = build(&svc, Loading::Files).expect("build");
        let plan = [(a, 0), (b, 1), (a, 0), (b, 1)];
        for (i, (port, target)) in plan.into_iter().enumerate() {
            let id = format!("targets-{delay}-{i}");
            round_trip_to(&ctx, port, Some(target), &id)
                .await
                .expect("connect");
            let reused = has_line(&id, "TLS connected: previous session reused");
            let fresh = has_line(&id, "TLS connected: new session negotiated");
            assert!(reused || fresh, "{:?}", lines(&id));
            let expect_reuse = i >= 2 && !delay;
            assert_eq!(
                reused,
                expect_reuse,
                "connect {i} (delay = {delay}): {:?}",
                lines(&id)
            );
        }
        drop((peer_a, peer_b));
    }
}
