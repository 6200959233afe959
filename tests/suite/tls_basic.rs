//! Basic handshakes of `tls::TlsContext` against real peers: `openssl
//! s_client` and Python's ssl as clients, `openssl s_server` as a server;
//! the EOF mapping and close_notify behaviour of `TlsStream`.

use crate::common::tls_pki;
use crate::common::tls_service;

use std::io::Write;
use std::time::Duration;

use std::path::Path;

use rstunnel::tls::{build, Loading, TlsContext, TlsStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

async fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_accepts_openssl_s_client_and_logs_like_stunnel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("basic");
    svc.options.cert = Some(pki.combined.clone());
    let ctx = logged("basic-build", async { build(&svc, Loading::Files) })
        .await
        .expect("build");
    assert!(
        has_line("basic-build", "OpenSSL security level is used: 2")
            || has_line("basic-build", "stunnel default security level set: 2")
    );
    assert!(has_line(
        "basic-build",
        "TLS options: 0x2100000 (+0x0, -0x0)"
    ));
    assert!(has_line(
        "basic-build",
        &format!("Certificate loaded from file: {}", pki.combined.display())
    ));
    assert!(has_line("basic-build", "Private key check succeeded"));

    let (l, port) = listener().await;
    let addr = format!("127.0.0.1:{port}");
    let ca = pki.ca.display().to_string();
    let mut peer = spawn(
        "openssl",
        &[
            "s_client",
            "-connect",
            &addr,
            "-quiet",
            "-CAfile",
            &ca,
            "-verify_return_error",
            "-verify_hostname",
            "localhost",
        ],
    );
    let mut stdin = peer.0.stdin.take().expect("stdin");
    stdin.write_all(b"hello\n").expect("write to s_client");

    let (tcp, _) = timeout(LIMIT, l.accept())
        .await
        .expect("accept in time")
        .expect("accept");
    let mut tls = logged("basic-1", timeout(LIMIT, ctx.accept(tcp)))
        .await
        .expect("handshake in time")
        .expect("handshake");
    let mut line = String::new();
    let mut reader = BufReader::new(&mut tls);
    timeout(LIMIT, reader.read_line(&mut line))
        .await
        .expect("read in time")
        .expect("read");
    assert_eq!(line, "hello\n");
    tls.write_all(b"world\n").await.expect("write");
    tls.shutdown().await.expect("close_notify");
    drop(stdin);
    let (_, out, _) = peer.finish(LIMIT);
    assert!(out.contains("world"), "s_client printed {out:?}");

    assert!(has_line("basic-1", "Peer certificate not required"));
    assert!(has_line("basic-1", "No peer certificate received"));
    assert!(has_line("basic-1", "TLS accepted: new session negotiated"));
    assert!(has_line(
        "basic-1",
        "TLSv1.3 ciphersuite: TLS_AES_256_GCM_SHA384 (256-bit encryption)"
    ));
    assert!(has_line("basic-1", "Peer temporary key: X25519, 253 bits"));
    assert_eq!(tls.selected_service(), Some(0));
    assert!(!tls.authenticated());
}

const PY_CLIENT: &str = r#"
import socket, ssl, sys
port, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
s = ctx.wrap_socket(raw, server_hostname="localhost")
s.sendall(b"ping\n")
print(s.recv(100).decode().strip(), s.version(), s.cipher()[0], flush=True)
if mode == "abrupt":
    import os
    os.close(s.detach())
elif mode == "notify":
    plain = s.unwrap()
    plain.sendall(b"raw-after-tls")
    plain.close()
elif mode == "wait-notify":
    data = s.recv(100)
    print("got", len(data), flush=True)
    plain = s.unwrap()
    print("raw", plain.recv(100).decode(), flush=True)
    plain.close()
"#;

/// [`PY_CLIENT`] in `mode` on `l`'s port, trusting `ca`: the client's
/// process and `ctx`'s handshake with it, logged under `id`.
async fn accept_python(
    ctx: &TlsContext,
    l: &TcpListener,
    ca: &Path,
    mode: &str,
    id: &str,
) -> (Peer, TlsStream<TcpStream>) {
    let port = l.local_addr().expect("addr").port().to_string();
    let ca = ca.display().to_string();
    let peer = python(PY_CLIENT, &[&port, &ca, mode]);
    let (tcp, _) = timeout(LIMIT, l.accept())
        .await
        .expect("in time")
        .expect("accept");
    let tls = logged(id, timeout(LIMIT, ctx.accept(tcp)))
        .await
        .expect("in time")
        .expect("handshake");
    (peer, tls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ecdsa_server_with_python_client_and_eof_without_close_notify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("ecdsa");
    svc.options.cert = Some(pki.ecdsa_cert.clone());
    svc.options.key = Some(pki.ecdsa_key.clone());
    let ctx = build(&svc, Loading::Files).expect("build");
    let (l, _) = listener().await;
    let (peer, mut tls) = accept_python(&ctx, &l, &pki.ca, "abrupt", "ecdsa-1").await;
    let mut buf = [0u8; 5];
    tls.read_exact(&mut buf).await.expect("read ping");
    assert_eq!(&buf, b"ping\n");
    tls.write_all(b"pong\n").await.expect("write");
    // The client closes the TCP connection without close_notify: a close.
    let mut rest = Vec::new();
    let n = timeout(LIMIT, tls.read_to_end(&mut rest))
        .await
        .expect("in time")
        .expect("EOF is a close");
    assert_eq!(n, 0);
    assert!(!tls.close_notify_received());
    assert!(tls.eof_without_close_notify());
    tls.shutdown()
        .await
        .expect("nothing to send after a bare EOF");
    let (ok, out, err) = peer.finish(LIMIT);
    assert!(ok, "python failed: {err}");
    assert!(out.starts_with("pong TLSv1.3"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_notify_is_reported_and_shutdown_keeps_tcp_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("notify");
    svc.options.cert = Some(pki.combined.clone());
    let ctx = build(&svc, Loading::Files).expect("build");

    // 1. The client sends close_notify, then raw bytes on the same socket.
    let (l, _) = listener().await;
    let (peer, mut tls) = accept_python(&ctx, &l, &pki.ca, "notify", "notify-1").await;
    let mut buf = [0u8; 5];
    tls.read_exact(&mut buf).await.expect("read ping");
    tls.write_all(b"pong\n").await.expect("write");
    let n = timeout(LIMIT, tls.read(&mut buf))
        .await
        .expect("in time")
        .expect("read");
    assert_eq!(n, 0);
    assert!(tls.close_notify_received());
    assert!(!tls.eof_without_close_notify());
    // Python's unwrap() waits for our close_notify before going raw.
    tls.shutdown().await.expect("close_notify back");
    let mut raw = Vec::new();
    timeout(LIMIT, tls.get_mut().read_to_end(&mut raw))
        .await
        .expect("in time")
        .expect("raw");
    assert_eq!(raw, b"raw-after-tls");
    let (ok, _, err) = peer.finish(LIMIT);
    assert!(ok, "{err}");

    // 2. We send close_notify; the TCP socket still carries bytes after it.
    let (peer, mut tls) = accept_python(&ctx, &l, &pki.ca, "wait-notify", "wait-notify-1").await;
    tls.read_exact(&mut buf).await.expect("read ping");
    tls.write_all(b"pong\n").await.expect("write");
    tls.shutdown().await.expect("close_notify");
    let sock: &mut TcpStream = tls.get_mut();
    sock.write_all(b"still-open")
        .await
        .expect("raw write after close_notify");
    sock.shutdown().await.expect("fin");
    let (ok, out, err) = peer.finish(LIMIT);
    assert!(ok, "{err}");
    assert!(out.contains("got 0"), "{out}");
    assert!(out.contains("raw still-open"), "{out}");
}
