//! `protocol = smtp` against aiosmtpd (a real SMTP server with STARTTLS
//! and AUTH) and Python's smtplib (a real STARTTLS / implicit-TLS client),
//! at the hook level on TCP sockets.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Io, Phase, Rewind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Client middle + TLS + late, with `kind` of AUTH; returns the late result.
async fn client_session(
    id: &str,
    smtpd: &Smtpd,
    creds: Option<(&str, &str, Option<&str>)>,
) -> (Vec<u8>, Result<(), Abort>) {
    let (listener, addr) = listen().await;
    let mut app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", smtpd.port))
        .await
        .expect("smtpd");
    let mut hook = Hook::new(ProtocolKind::Smtp, true);
    if let Some((u, p, a)) = creds {
        hook.settings.username = Some(u.into());
        hook.settings.password = Some(p.into());
        hook.settings.authentication = a.map(str::to_string);
    }
    hook.run(id, Phase::Middle, &mut local, Some(&mut remote))
        .await
        .expect("middle");
    let mut greeting = vec![0u8; 64];
    let n = app.read(&mut greeting).await.expect("greeting");
    greeting.truncate(n);
    let mut tls = tls_connect(remote).await;
    let late = hook
        .run(id, Phase::Late, &mut local, Some(&mut tls as &mut dyn Io))
        .await;
    if late.is_ok() {
        // the session continues inside TLS: aiosmtpd answers our next command
        tls.write_all(b"NOOP\r\n").await.expect("noop");
        read_until(&mut tls, b"250 ").await;
    }
    (greeting, late.map(|_| ()))
}

/// The plain client sees the server's greeting; the server gets EHLO and
/// STARTTLS; TLS then works with the real server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_starttls_with_aiosmtpd() {
    let Some(smtpd) = Smtpd::start("client_starttls_with_aiosmtpd", true, false).await else {
        return;
    };
    let (greeting, late) = client_session("smtp-c1", &smtpd, None).await;
    assert_eq!(greeting, b"220 mx.test ESMTP test\r\n");
    assert_eq!(late, Ok(()));
    assert_logged("smtp-c1", " -> EHLO localhost");
    assert_logged("smtp-c1", " -> STARTTLS");
}

/// AUTH PLAIN and LOGIN over TLS, accepted and refused, against aiosmtpd's
/// authenticator (HELO treated as EHLO so it takes 5.68's HELO order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_plain_and_login() {
    let Some(smtpd) = Smtpd::start("client_auth_plain_and_login", true, true).await else {
        return;
    };
    let (_, r) = client_session("smtp-p1", &smtpd, Some(("user", "secret", None))).await;
    assert_eq!(r, Ok(()));
    assert_logged("smtp-p1", " -> HELO localhost");
    let (_, r) = client_session("smtp-p2", &smtpd, Some(("user", "wrong", None))).await;
    assert_eq!(r, Err(Abort::Reset));
    assert_logged("smtp-p2", "PLAIN Authentication Failed");
    let (_, r) = client_session("smtp-l1", &smtpd, Some(("user", "secret", Some("login")))).await;
    assert_eq!(r, Ok(()));
    let (_, r) = client_session("smtp-l2", &smtpd, Some(("user", "bad", Some("LOGIN")))).await;
    assert_eq!(r, Err(Abort::Reset));
    assert_logged("smtp-l2", "LOGIN authentication failed");
}

/// 5.68 authenticates after `HELO`, which RFC 4954 servers refuse: stock
/// aiosmtpd answers 500 and the hook fails as stunnel 5.68 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_auth_after_helo_is_refused_by_strict_servers() {
    let Some(smtpd) = Smtpd::start("client_auth_after_helo", true, false).await else {
        return;
    };
    let (_, r) = client_session("smtp-h1", &smtpd, Some(("user", "secret", None))).await;
    assert_eq!(r, Err(Abort::Reset));
    assert_logged("smtp-h1", "PLAIN Authentication Failed");
}

/// Relay a server-mode session: hook, TLS accept, then copy both ways.
async fn serve(id: &'static str, smtpd_port: u16, dir: std::path::PathBuf) -> std::net::SocketAddr {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", smtpd_port))
            .await
            .expect("smtpd");
        let hook = Hook::new(ProtocolKind::Smtp, false);
        let out = hook
            .run(id, Phase::Middle, &mut local, Some(&mut remote))
            .await
            .expect("middle");
        let local = Rewind::new(out.pushback, local);
        let mut tls = tls_accept(local, &dir.join("cert.pem"), &dir.join("key.pem")).await;
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut remote).await;
    });
    addr
}

/// curl's SMTP STARTTLS dialogue (`--ssl-reqd`) with the hook, then the mail
/// is delivered through TLS to the plain backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_starttls_with_curl() {
    let Some(curl) = require("server_starttls_with_curl", "curl") else {
        return;
    };
    let Some(smtpd) = Smtpd::start("server_starttls_with_curl", false, false).await else {
        return;
    };
    let addr = serve("smtp-s1", smtpd.port, smtpd.dir.path().to_path_buf()).await;
    let mail = smtpd.dir.path().join("mail.txt");
    std::fs::write(&mail, "Subject: t\r\n\r\nhello\r\n").expect("mail");
    let mut cmd = std::process::Command::new(curl);
    cmd.args(["-sS", "-v", "-k", "--ssl-reqd", "--max-time", "15"]);
    cmd.arg(format!("smtp://127.0.0.1:{}", addr.port()));
    cmd.args(["--mail-from", "a@x.test", "--mail-rcpt", "b@y.test", "-T"])
        .arg(&mail);
    let (ok, out) = run_cmd(cmd).await;
    assert!(ok, "curl failed:\n{out}");
    assert!(out.contains("< 250 STARTTLS"), "{out}");
    assert_logged("smtp-s1", "RFC 2487 detected");
    assert_logged("smtp-s1", " -> 220 mx.test stunnel for ESMTP test");
    assert_logged("smtp-s1", " -> 220 Go ahead");
    let deadline = std::time::Instant::now() + WAIT;
    while !smtpd
        .daemon
        .output()
        .contains("DATA from a@x.test to ['b@y.test']")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            smtpd.daemon.output()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

const SMTPLIB_SSL: &str = r#"
import smtplib, ssl, sys
ctx = ssl._create_unverified_context()
s = smtplib.SMTP_SSL("127.0.0.1", int(sys.argv[1]), timeout=10, context=ctx)
code, msg = s.noop()
print("NOOP", code, flush=True)
s.quit()
"#;

/// A client that talks first (implicit TLS, smtplib.SMTP_SSL): detection
/// skips the dialogue and the ClientHello bytes read during the 200 ms wait
/// reach the handshake through `Rewind`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_implicit_tls_keeps_the_client_bytes() {
    let Some(smtpd) = Smtpd::start("server_implicit_tls", false, false).await else {
        return;
    };
    let addr = serve("smtp-s2", smtpd.port, smtpd.dir.path().to_path_buf()).await;
    let (ok, out) = python(SMTPLIB_SSL, &[addr.port().to_string()]).await;
    assert!(ok, "smtplib failed:\n{out}");
    assert!(out.contains("NOOP 250"), "{out}");
    assert_logged("smtp-s2", "RFC 2487 not detected");
}

/// A client whose first line is not EHLO is reset with stunnel's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_rejects_helo_clients() {
    let Some(smtpd) = Smtpd::start("server_rejects_helo_clients", false, false).await else {
        return;
    };
    let (listener, addr) = listen().await;
    let port = smtpd.port;
    let task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("smtpd");
        Hook::new(ProtocolKind::Smtp, false)
            .run("smtp-s3", Phase::Middle, &mut local, Some(&mut remote))
            .await
    });
    let mut c = TcpStream::connect(addr).await.expect("connect");
    let greeting = read_until(&mut c, b"\r\n").await;
    assert_eq!(greeting, b"220 mx.test stunnel for ESMTP test\r\n");
    c.write_all(b"HELO old.client\r\n").await.expect("write");
    assert_eq!(task.await.expect("join").unwrap_err(), Abort::Reset);
    assert_logged("smtp-s3", "Unknown client EHLO");
}
