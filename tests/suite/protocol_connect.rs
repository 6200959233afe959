//! `protocol = connect` (HTTP CONNECT): the client hook through tinyproxy
//! (Basic proxy auth), the server hook with curl as the CONNECT client and
//! Python's http.server as the final target; hook level on TCP sockets.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Tunnel through tinyproxy to a TLS server with `user`/`pass`; the hook's
/// result and, on success, the TLS answer.
async fn through_tinyproxy(id: &str, user: &str, pass: &str) -> (Result<(), Abort>, String) {
    let proxy = Tinyproxy::start(id).await.expect("checked by caller");
    let (cert, key) = make_cert(proxy.dir.path());
    let target = tls_line_server(cert, key).await;
    let mut remote = TcpStream::connect(("127.0.0.1", proxy.port))
        .await
        .expect("proxy");
    let (listener, addr) = listen().await;
    let _app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut hook = Hook::new(ProtocolKind::Connect, true);
    hook.settings.host = Some(format!("127.0.0.1:{}", target.port()));
    hook.settings.username = Some(user.into());
    hook.settings.password = Some(pass.into());
    hook.settings.headers = vec!["X-Test: a=b".into()];
    let r = hook
        .run(id, Phase::Middle, &mut local, Some(&mut remote))
        .await;
    if r.is_err() {
        return (r.map(|_| ()), String::new());
    }
    let mut tls = tls_connect(remote).await;
    tls.write_all(b"hello\n").await.expect("write");
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.expect("read");
    (Ok(()), answer)
}

/// Basic proxy authentication accepted by tinyproxy; TLS runs end to end
/// through the tunnel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_tunnels_tls_through_tinyproxy() {
    if require("client_tunnels_tls_through_tinyproxy", "tinyproxy").is_none() {
        return;
    }
    let (r, answer) = through_tinyproxy("connect-c1", "user", "secret").await;
    assert_eq!(r, Ok(()));
    assert_eq!(answer, "tls says hello\n");
    assert_logged("connect-c1", "CONNECT request accepted");
    assert_logged(
        "connect-c1",
        " -> Proxy-Authorization: basic dXNlcjpzZWNyZXQ=",
    );
    assert_logged("connect-c1", " -> X-Test: a=b");
}

/// A 407 from tinyproxy (wrong password) is `CONNECT request rejected`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_rejected_by_tinyproxy_resets() {
    if require("client_rejected_by_tinyproxy_resets", "tinyproxy").is_none() {
        return;
    }
    let (r, _) = through_tinyproxy("connect-c2", "user", "wrong").await;
    assert_eq!(r, Err(Abort::Reset));
    assert_logged("connect-c2", "CONNECT request rejected");
}

/// curl sends CONNECT, gets stunnel's `200 OK`, does TLS with us; the
/// target chosen by the request is what the hook returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_serves_curl_connect() {
    let Some(curl) = require("server_serves_curl_connect", "curl") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "through the tunnel\n").expect("index");
    let Some((http_port, _http)) = http_server("server_serves_curl_connect", dir.path()).await
    else {
        return;
    };
    let (cert, key) = make_cert(dir.path());
    let (listener, addr) = listen().await;
    let relay = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let hook = Hook::new(ProtocolKind::Connect, false);
        let out = hook
            .run("connect-s1", Phase::Early, &mut local, None)
            .await
            .expect("early");
        let Some(Target::Addrs(addrs)) = out.target else {
            panic!("no target: {out:?}");
        };
        assert_eq!(
            addrs,
            vec![std::net::SocketAddr::from(([127, 0, 0, 1], http_port))]
        );
        let mut tls = tls_accept(local, &cert, &key).await;
        let mut remote = TcpStream::connect(addrs[0]).await.expect("target");
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut remote).await;
    });
    let mut cmd = std::process::Command::new(curl);
    cmd.args(["-sS", "-k", "--max-time", "15", "-x"])
        .arg(format!("http://127.0.0.1:{}", addr.port()));
    cmd.arg(format!("https://127.0.0.1:{http_port}/index.html"));
    let (ok, out) = run_cmd(cmd).await;
    assert!(ok, "curl failed:\n{out}");
    assert_eq!(out, "through the tunnel\n");
    relay.await.expect("relay");
}

/// Exact reply bytes for a non-CONNECT request, a missing protocol and an
/// unresolvable target. (The client sends only what the hook reads, so the
/// close is not turned into a RST by unread bytes.)
#[tokio::test]
async fn server_error_replies_are_stunnels() {
    for (id, request, status) in [
        (
            "connect-s2",
            "GET / HTTP/1.0\r\n",
            "HTTP/1.0 400 Bad Request Method",
        ),
        (
            "connect-s3",
            "CONNECT example.test:443\r\n",
            "HTTP/1.0 400 Bad Request Protocol",
        ),
        (
            "connect-s4",
            "CONNECT no-such-host.invalid:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            "HTTP/1.0 404 Not Found",
        ),
    ] {
        let (listener, addr) = listen().await;
        let task = tokio::spawn(async move {
            let mut local = accept(&listener).await;
            Hook::new(ProtocolKind::Connect, false)
                .run(id, Phase::Early, &mut local, None)
                .await
        });
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(request.as_bytes()).await.expect("write");
        let mut got = String::new();
        c.read_to_string(&mut got).await.expect("read");
        assert_eq!(got, format!("{status}\r\nServer: stunnel/5.68\r\n\r\n"));
        assert_eq!(task.await.expect("join").unwrap_err(), Abort::Reset);
    }
}
