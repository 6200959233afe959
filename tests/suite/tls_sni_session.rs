//! Server-side SNI routing to secondary sections (stunnel-reference §5.15)
//! and session resumption seen by `openssl s_client -sess_out/-sess_in`
//! (§5.11), including shared ticket keys across two contexts.

use crate::common::tls_pki;
use crate::common::tls_service;

use std::time::Duration;

use rstunnel::config::model::SniRoute;
use rstunnel::tls::{build, build_all, Loading, TlsContext};

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

/// Accept one `s_client` run with `args`; on success exchange a line and
/// return the selected service. Also returns s_client's stdout+stderr.
async fn serve_with(ctx: &TlsContext, id: &str, args: &[&str]) -> (Option<usize>, String) {
    let (peer, result) = accept_s_client(ctx, id, args, |_| {}).await;
    let selected = match result {
        Ok(mut tls) => {
            answer_line(&mut tls).await;
            tls.selected_service()
        }
        Err(e) => {
            e.log();
            None
        }
    };
    let (_, out, err) = peer.finish(LIMIT);
    (selected, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_switches_to_the_matching_secondary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut primary = default_service("web");
    primary.options.cert = Some(pki.combined.clone());
    let mut other = default_service("client-side");
    other.options.client = true;
    let mut secondary = default_service("virtual");
    secondary.options.cert = Some(pki.sni_combined.clone());
    secondary.sni_route = Some(SniRoute {
        primary: "web".to_string(),
        pattern: "*.SNI.example".to_string(),
    });
    let services = vec![primary, other, secondary];
    let contexts = build_all(&services, Loading::Files).expect("build_all");
    assert_eq!(contexts.len(), 3);
    let ctx = &contexts[0];
    let ca = pki.ca.display().to_string();

    let (sel, out) = serve_with(
        ctx,
        "sni-match",
        &[
            "-servername",
            "www.sni.example",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            "www.sni.example",
            "-quiet",
        ],
    )
    .await;
    assert_eq!(sel, Some(2), "{out}\n{:?}", lines("sni-match"));
    assert!(has_line("sni-match", "SNI: switched to service [virtual]"));

    let (sel, _) = serve_with(
        ctx,
        "sni-nomatch",
        &[
            "-servername",
            "nomatch.example",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
            "-quiet",
        ],
    )
    .await;
    assert_eq!(sel, Some(0));
    assert!(has_line(
        "sni-nomatch",
        "SNI: no pattern matched servername: nomatch.example"
    ));

    let (sel, _) = serve_with(ctx, "sni-none", &["-noservername", "-quiet"]).await;
    assert_eq!(sel, Some(0));
    assert!(has_line("sni-none", "SNI: no servername received"));
}

fn session_file(dir: &std::path::Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_resume_in_the_cache_and_with_shared_ticket_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("resume");
    svc.options.cert = Some(pki.combined.clone());
    let ctx = build(&svc, Loading::Files).expect("build");
    let sess = session_file(dir.path(), "s1.pem");
    serve_with(&ctx, "resume-1", &["-sess_out", &sess]).await;
    let (_, out) = serve_with(&ctx, "resume-2", &["-sess_in", &sess]).await;
    assert!(out.contains("Reused"), "{out}");
    assert!(has_line("resume-1", "TLS accepted: new session negotiated"));
    assert!(has_line(
        "resume-2",
        "TLS accepted: previous session reused"
    ));
    let sess = session_file(dir.path(), "s12.pem");
    let ctx12 = build(&svc, Loading::Files).expect("build");
    serve_with(
        &ctx12,
        "resume12-1",
        &["-tls1_2", "-no_ticket", "-sess_out", &sess],
    )
    .await;
    let (_, out) = serve_with(&ctx12, "resume12-2", &["-tls1_2", "-sess_in", &sess]).await;
    assert!(out.contains("Reused, TLSv1.2"), "{out}");

    // Fixed ticket keys: a ticket from one context is accepted by another
    // (a restarted process); other keys make a full handshake.
    let mut keyed = svc.clone();
    keyed.options.ticket_key = Some((0u8..32).collect());
    keyed.options.ticket_mac = Some((100u8..132).collect());
    let first = build(&keyed, Loading::Files).expect("build");
    let second = build(&keyed, Loading::Files).expect("build");
    let sess = session_file(dir.path(), "s2.pem");
    serve_with(&first, "ticket-1", &["-sess_out", &sess]).await;
    let (_, out) = serve_with(&second, "ticket-2", &["-sess_in", &sess]).await;
    assert!(out.contains("Reused"), "{out}");
    assert!(has_line(
        "ticket-2",
        "TLS accepted: previous session reused"
    ));
    assert!(has_line("ticket-2", "Session ticket processing callback"));
    let mut other = keyed.clone();
    other.options.ticket_key = Some((1u8..17).collect());
    let third = build(&other, Loading::Files).expect("build");
    let (_, out) = serve_with(&third, "ticket-3", &["-sess_in", &sess]).await;
    assert!(out.contains("New,"), "{out}");
    assert!(has_line("ticket-3", "TLS accepted: new session negotiated"));

    // sessionResume = no: nothing is resumed.
    let mut off = svc.clone();
    off.options.session_resume = false;
    let ctx = logged("off-build", async { build(&off, Loading::Files) })
        .await
        .expect("build");
    assert!(has_line("off-build", "Session resumption disabled"));
    assert!(
        has_line("off-build", "TLS options: 0x2104000 (+0x0, -0x0)"),
        "{:?}",
        lines("off-build")
    );
    // TLS 1.3: no ticket is issued, so s_client has no session to save.
    let sess = session_file(dir.path(), "s3.pem");
    serve_with(&ctx, "off-1", &["-sess_out", &sess]).await;
    assert!(!std::path::Path::new(&sess).exists());
    // TLS 1.2: no session id, no ticket.
    let sess = session_file(dir.path(), "s4.pem");
    serve_with(&ctx, "off-3", &["-tls1_2", "-sess_out", &sess]).await;
    assert!(!std::path::Path::new(&sess).exists());
}
