//! Legacy clients: TLS 1.0 with AES128-SHA is accepted when the service
//! says `sslVersionMin = TLSv1` and `securityLevel = 0` (or
//! `ciphers = …:@SECLEVEL=0`), even under a system openssl.cnf that demands
//! TLS 1.2 and level 2; without it, the failure names what the client
//! offered and the option to change.
//!
//! OPENSSL_CONF is read when OpenSSL initialises and then holds for the
//! whole process: the test runs in a child process (this test binary again,
//! with the variable set), so that the strict configuration never reaches
//! the other tests of the suite.

use crate::common;
use crate::common::tls_pki;
use crate::common::tls_service;

use std::time::Duration;

use rstunnel::config::model::TlsVersion;
use rstunnel::tls::{build, Loading, TlsContext};

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

/// A TLS 1.0 / AES128-SHA s_client (with a permissive config of its own).
async fn legacy_client(ctx: &TlsContext, id: &str, permissive: &std::path::Path) -> bool {
    let args = ["-quiet", "-tls1", "-cipher", "AES128-SHA:@SECLEVEL=0"];
    let (peer, result) = accept_s_client(ctx, id, &args, |cmd| {
        cmd.env("OPENSSL_CONF", permissive);
    })
    .await;
    let ok = match result {
        Ok(mut tls) => {
            answer_line(&mut tls).await;
            true
        }
        Err(e) => {
            logged(id, async { e.log() }).await;
            false
        }
    };
    let _ = peer.finish(LIMIT);
    ok
}

/// Where the child finds the configuration files the parent wrote.
const CHILD_DIR: &str = "RSTUNNEL_TLS_LEGACY_DIR";

#[test]
fn tls1_aes128_sha_needs_min_version_and_level_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let strict = dir.path().join("strict.cnf");
    std::fs::write(
        &strict,
        "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = sys\n\
         [sys]\nMinProtocol = TLSv1.2\nCipherString = DEFAULT:@SECLEVEL=2\n",
    )
    .expect("write cnf");
    std::fs::write(dir.path().join("permissive.cnf"), "# nothing\n").expect("write cnf");
    common::run_test_in_child(
        "tls_legacy::under_a_strict_system_conf",
        &[
            ("OPENSSL_CONF", strict.as_os_str()),
            (CHILD_DIR, dir.path().as_os_str()),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process with OPENSSL_CONF set, by tls1_aes128_sha_needs_min_version_and_level_zero"]
async fn under_a_strict_system_conf() {
    common::assert_in_child("tls1_aes128_sha_needs_min_version_and_level_zero");
    let dir = std::path::PathBuf::from(std::env::var_os(CHILD_DIR).unwrap_or_else(|| {
        panic!("run by tls1_aes128_sha_needs_min_version_and_level_zero, which sets {CHILD_DIR}")
    }));
    let permissive = dir.join("permissive.cnf");
    let pki = tls_pki::make_pki(&dir);

    // Defaults: refused, with the hint.
    let mut svc = default_service("legacy");
    svc.options.cert = Some(pki.combined.clone());
    let ctx = build(&svc, Loading::Files).expect("build");
    assert!(!legacy_client(&ctx, "legacy-default", &permissive).await);
    let l = lines("legacy-default");
    assert!(l.iter().any(|x| x.starts_with("SSL_accept: ")), "{l:?}");
    assert!(
        has_line("legacy-default", "Client offered protocols: TLSv1"),
        "{l:?}"
    );
    assert!(
        has_line_containing("legacy-default", "Client offered ciphers: AES128-SHA"),
        "{l:?}"
    );
    assert!(
        has_line(
            "legacy-default",
            "To accept this client, set: sslVersionMin = TLSv1 and securityLevel = 0"
        ),
        "{l:?}"
    );

    // sslVersionMin = TLSv1 + securityLevel = 0.
    let mut svc0 = svc.clone();
    svc0.options.min_version = Some(TlsVersion::Tls1);
    svc0.options.security_level = Some(0);
    let ctx = logged("legacy-l0-build", async { build(&svc0, Loading::Files) })
        .await
        .expect("build");
    assert!(has_line(
        "legacy-l0-build",
        "User-specified security level set: 0"
    ));
    assert!(
        legacy_client(&ctx, "legacy-l0", &permissive).await,
        "{:?}",
        lines("legacy-l0")
    );
    assert!(
        has_line(
            "legacy-l0",
            "TLSv1 ciphersuite: AES128-SHA (128-bit encryption)"
        ),
        "{:?}",
        lines("legacy-l0")
    );

    // sslVersionMin = TLSv1 + ciphers = AES128-SHA:@SECLEVEL=0.
    let mut svcc = svc.clone();
    svcc.options.min_version = Some(TlsVersion::Tls1);
    svcc.options.ciphers = Some("AES128-SHA:@SECLEVEL=0".to_string());
    let ctx = build(&svcc, Loading::Files).expect("build");
    assert!(
        legacy_client(&ctx, "legacy-cs", &permissive).await,
        "{:?}",
        lines("legacy-cs")
    );
    let report = ctx.describe();
    assert!(
        report.iter().any(|l| l == "security level: 0"),
        "{report:?}"
    );
    assert!(
        report.iter().any(|l| l.contains("AES128-SHA")),
        "{report:?}"
    );

    // Only the version: the level still refuses, and the hint says so.
    let mut svcv = svc.clone();
    svcv.options.min_version = Some(TlsVersion::Tls1);
    let ctx = build(&svcv, Loading::Files).expect("build");
    assert!(!legacy_client(&ctx, "legacy-v", &permissive).await);
    assert!(
        has_line("legacy-v", "To accept this client, set: securityLevel = 0"),
        "{:?}",
        lines("legacy-v")
    );
}
