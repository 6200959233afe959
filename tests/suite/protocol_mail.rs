//! `protocol = imap` and `protocol = pop3` against a private Dovecot
//! (STARTTLS/STLS, login over TLS) and curl as the STARTTLS client of the
//! server-mode hooks, at the hook level on TCP sockets.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase, Rewind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Client middle with Dovecot on `port`; returns what the plain client saw
/// and the TLS stream to Dovecot.
async fn client_upgrade(
    id: &str,
    kind: ProtocolKind,
    port: u16,
) -> (Vec<u8>, tokio_openssl::SslStream<TcpStream>) {
    let (listener, addr) = listen().await;
    let mut app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("dovecot");
    let hook = Hook::new(kind, true);
    hook.run(id, Phase::Middle, &mut local, Some(&mut remote))
        .await
        .expect("middle");
    drop(local);
    let mut seen = Vec::new();
    app.read_to_end(&mut seen).await.expect("read");
    (seen, tls_connect(remote).await)
}

/// IMAP client: `* OK Connected.` for the plain client, `stunnel STARTTLS`
/// for Dovecot, then a LOGIN inside TLS succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_client_starttls_with_dovecot() {
    let Some(dc) = Dovecot::start("imap_client_starttls_with_dovecot", true).await else {
        return;
    };
    let (seen, mut tls) = client_upgrade("imap-c1", ProtocolKind::Imap, dc.imap).await;
    assert_eq!(seen, b"* OK Connected.\r\n");
    tls.write_all(b"a1 LOGIN joe secret\r\n")
        .await
        .expect("login");
    let reply = read_until(&mut tls, b"Logged in").await;
    assert!(
        String::from_utf8_lossy(&reply).contains("a1 OK"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert_logged("imap-c1", " -> stunnel STARTTLS");
}

/// POP3 client: the greeting is relayed, `STLS` accepted, USER/PASS work
/// inside TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_client_stls_with_dovecot() {
    let Some(dc) = Dovecot::start("pop3_client_stls_with_dovecot", true).await else {
        return;
    };
    let (seen, mut tls) = client_upgrade("pop3-c1", ProtocolKind::Pop3, dc.pop3).await;
    let seen = String::from_utf8_lossy(&seen).into_owned();
    assert!(seen.starts_with("+OK ") && seen.ends_with("\r\n"), "{seen}");
    tls.write_all(b"USER joe\r\nPASS secret\r\n")
        .await
        .expect("login");
    let reply = read_until(&mut tls, b"Logged in").await;
    assert!(String::from_utf8_lossy(&reply).contains("+OK"));
    assert_logged("pop3-c1", " -> STLS");
}

/// A server without TLS (Dovecot `ssl = no` answers STARTTLS with BAD): the
/// IMAP client hook tells the plain client `* BYE` and closes without reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_client_refused_starttls_closes_gracefully() {
    let Some(dc) = Dovecot::start("imap_client_refused_starttls", false).await else {
        return;
    };
    let (listener, addr) = listen().await;
    let mut app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", dc.imap))
        .await
        .expect("dovecot");
    let hook = Hook::new(ProtocolKind::Imap, true);
    let r = hook
        .run("imap-c2", Phase::Middle, &mut local, Some(&mut remote))
        .await;
    assert_eq!(r.unwrap_err(), Abort::Close);
    drop(local);
    let mut seen = Vec::new();
    app.read_to_end(&mut seen).await.expect("read");
    assert_eq!(
        seen,
        b"* OK Connected.\r\n* BYE stunnel: Server does not support TLS\r\n"
    );
    assert_logged("imap-c2", "Server does not support TLS");
}

/// Server mode: run the hook, TLS with the client, relay to Dovecot.
async fn serve(id: &'static str, kind: ProtocolKind, port: u16, dir: std::path::PathBuf) -> u16 {
    let (listener, addr) = listen().await;
    tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("dovecot");
        let hook = Hook::new(kind, false);
        let Ok(out) = hook
            .run(id, Phase::Middle, &mut local, Some(&mut remote))
            .await
        else {
            return;
        };
        let local = Rewind::new(out.pushback, local);
        let mut tls = tls_accept(local, &dir.join("cert.pem"), &dir.join("key.pem")).await;
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut remote).await;
    });
    addr.port()
}

async fn curl(url: String) -> (bool, String) {
    let mut cmd = std::process::Command::new(which("curl").expect("curl"));
    cmd.args([
        "-sS",
        "-v",
        "-k",
        "--ssl-reqd",
        "--max-time",
        "15",
        "-u",
        "joe:secret",
    ])
    .arg(url);
    run_cmd(cmd).await
}

/// curl's IMAP STARTTLS (CAPABILITY through the backend with STARTTLS
/// appended, then STARTTLS) and a mailbox listing from Dovecot inside TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_server_starttls_with_curl() {
    let Some(dc) = Dovecot::start("imap_server_starttls_with_curl", true).await else {
        return;
    };
    let port = serve("imap-s1", ProtocolKind::Imap, dc.imap, dc.dir.path().into()).await;
    let (ok, out) = curl(format!("imap://127.0.0.1:{port}/")).await;
    assert!(ok, "curl failed:\n{out}");
    assert!(out.contains("INBOX"), "{out}");
    assert!(out.contains("(stunnel)"), "{out}");
    assert!(
        out.contains("[KAPABILITY"),
        "the greeting's CAPABILITY is hidden: {out}"
    );
    assert_logged("imap-s1", "RFC 2595 detected");
}

/// curl's POP3 STLS (CAPA answered by the hook) and a listing from Dovecot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_server_stls_with_curl() {
    let Some(dc) = Dovecot::start("pop3_server_stls_with_curl", true).await else {
        return;
    };
    let port = serve("pop3-s1", ProtocolKind::Pop3, dc.pop3, dc.dir.path().into()).await;
    let (ok, out) = curl(format!("pop3://127.0.0.1:{port}/")).await;
    assert!(ok, "curl failed:\n{out}");
    assert!(out.contains("+ stunnel"), "{out}");
    assert_logged("pop3-s1", " -> +OK Stunnel capability list follows");
    assert_logged("pop3-s1", " -> +OK Stunnel starts TLS negotiation");
}

/// An IMAP client that sends something else than STARTTLS/CAPABILITY gets
/// `BAD … unexpected`, and the backend a clean `stunnel LOGOUT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_server_unexpected_command_logs_out_cleanly() {
    let Some(dc) = Dovecot::start("imap_server_unexpected_command", true).await else {
        return;
    };
    let (listener, addr) = listen().await;
    let port = dc.imap;
    let task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("dovecot");
        Hook::new(ProtocolKind::Imap, false)
            .run("imap-s2", Phase::Middle, &mut local, Some(&mut remote))
            .await
    });
    let mut c = TcpStream::connect(addr).await.expect("connect");
    read_until(&mut c, b"(stunnel)\r\n").await;
    c.write_all(b"t1 LOGIN joe secret\r\n")
        .await
        .expect("write");
    let mut seen = Vec::new();
    c.read_to_end(&mut seen).await.expect("read");
    assert_eq!(
        seen,
        b"* BYE stunnel: unexpected command\r\nt1 BAD LOGIN joe secret unexpected\r\n"
    );
    assert_eq!(task.await.expect("join").unwrap_err(), Abort::Close);
    assert_logged("imap-s2", " -> stunnel LOGOUT");
}
