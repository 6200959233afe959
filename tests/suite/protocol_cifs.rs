//! `protocol = cifs`: no maintained SMB server speaks the old NetBIOS "use
//! TLS" exchange any more, so both hooks are tested against stunnel4 5.68
//! running the other end (the oracle for this behaviour).
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Our client hook → stunnel4 `protocol = cifs` server → plain backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hook_with_stunnel4_server() {
    if require("cifs_client_with_stunnel4", "stunnel4").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = make_cert(dir.path());
    let (backend, baddr) = listen().await;
    tokio::spawn(async move {
        let mut s = accept(&backend).await;
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).await.expect("backend read");
        s.write_all(b"got ").await.expect("write");
        s.write_all(&buf).await.expect("write");
    });
    let port = free_port();
    let conf = format!(
        "[cifs]\naccept = 127.0.0.1:{port}\nconnect = {baddr}\nprotocol = cifs\ncert = {}\nkey = {}\n",
        cert.display(),
        key.display()
    );
    let mut st = stunnel4(dir.path(), "stunnel4", &conf);
    wait_port(port, &mut st).await;

    let (listener, addr) = listen().await;
    let _app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("stunnel4");
    let hook = Hook::new(ProtocolKind::Cifs, true);
    hook.run("cifs-c1", Phase::Middle, &mut local, Some(&mut remote))
        .await
        .expect("middle");
    let mut tls = tls_connect(remote).await;
    tls.write_all(b"hello").await.expect("write");
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.expect("read");
    assert_eq!(answer, b"got hello");
}

/// stunnel4 `protocol = cifs` client → our server hook, then TLS from
/// stunnel4 carries the application's bytes to us.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_hook_with_stunnel4_client() {
    if require("cifs_server_with_stunnel4", "stunnel4").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = make_cert(dir.path());
    let (listener, addr) = listen().await;
    let server = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let hook = Hook::new(ProtocolKind::Cifs, false);
        hook.run("cifs-s1", Phase::Early, &mut local, None)
            .await
            .expect("early");
        let mut tls = tls_accept(local, &cert, &key).await;
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).await.expect("read");
        tls.write_all(b"ok").await.expect("write");
        tls.shutdown().await.ok();
        buf
    });
    let port = free_port();
    let conf = format!(
        "[cifs]\nclient = yes\naccept = 127.0.0.1:{port}\nconnect = {addr}\nprotocol = cifs\n"
    );
    let st = stunnel4(dir.path(), "stunnel4", &conf);
    // The application's connection is the first that stunnel4 accepts (no
    // readiness probe: it would be forwarded to our single-shot server).
    let deadline = std::time::Instant::now() + WAIT;
    let mut app = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => break s,
            Err(_) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "stunnel4: {}",
                    st.output()
                );
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    };
    app.write_all(b"hello").await.expect("write");
    let mut answer = Vec::new();
    app.read_to_end(&mut answer).await.expect("read");
    assert_eq!(answer, b"ok");
    assert_eq!(&server.await.expect("join"), b"hello");
}

/// A NetBIOS block that is not a session request gets `83 00 00 01 81`
/// and a reset; an oversized block is refused before reading it.
#[tokio::test]
async fn server_refuses_other_blocks() {
    for (id, block, reply) in [
        (
            "cifs-s2",
            vec![0x85, 0, 0, 0],
            Some(vec![0x83, 0, 0, 1, 0x81]),
        ),
        ("cifs-s3", vec![0x81, 0, 0, 200], None),
    ] {
        let (listener, addr) = listen().await;
        let task = tokio::spawn(async move {
            let mut local = accept(&listener).await;
            Hook::new(ProtocolKind::Cifs, false)
                .run(id, Phase::Early, &mut local, None)
                .await
        });
        let mut c = TcpStream::connect(addr).await.expect("connect");
        c.write_all(&block).await.expect("write");
        assert_eq!(task.await.expect("join").unwrap_err(), Abort::Reset);
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got).await;
        if let Some(r) = reply {
            assert_eq!(got, r);
        }
    }
    assert_logged("cifs-s2", "Client did not send session setup");
    assert_logged("cifs-s3", "Received block too long");
}
