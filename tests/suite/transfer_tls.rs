//! The copy loop with a real OpenSSL session on the TLS side: close_notify
//! in both directions, half-close preserved, bytes exact.

use std::pin::Pin;
use std::time::Duration;

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::{X509NameBuilder, X509};
use rstunnel::transfer::{run, Ending, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_openssl::SslStream;

const LIMIT: Duration = Duration::from_secs(30);

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (c, a) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (c.unwrap(), a.unwrap().0)
}

/// A throwaway self-signed P-256 certificate.
fn acceptor() -> SslAcceptor {
    let key = PKey::from_ec_key(
        EcKey::generate(&EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap()).unwrap(),
    )
    .unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut cert = X509::builder().unwrap();
    cert.set_version(2).unwrap();
    cert.set_subject_name(&name).unwrap();
    cert.set_issuer_name(&name).unwrap();
    cert.set_pubkey(&key).unwrap();
    cert.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    cert.set_not_after(&Asn1Time::days_from_now(1).unwrap())
        .unwrap();
    cert.sign(&key, MessageDigest::sha256()).unwrap();
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
    builder.set_private_key(&key).unwrap();
    builder.set_certificate(&cert.build()).unwrap();
    builder.build()
}

/// (loop's TLS server side, TLS client peer) after a completed handshake.
async fn tls_pair() -> (SslStream<TcpStream>, SslStream<TcpStream>) {
    let (client_tcp, server_tcp) = tcp_pair().await;
    let mut server = SslStream::new(Ssl::new(acceptor().context()).unwrap(), server_tcp).unwrap();
    let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
    connector.set_verify(SslVerifyMode::NONE);
    let ssl = connector
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let mut client = SslStream::new(ssl, client_tcp).unwrap();
    let (s, c) = tokio::join!(
        Pin::new(&mut server).accept(),
        Pin::new(&mut client).connect()
    );
    s.unwrap();
    c.unwrap();
    (server, client)
}

/// With OpenSSL 3 a TCP EOF without close_notify makes the read fail
/// (`unexpected eof while reading`), so a `read_to_end` that returns `Ok`
/// proves the close_notify arrived.
fn assert_openssl3() {
    assert!(
        openssl::version::number() >= 0x3000_0000,
        "these tests rely on OpenSSL 3 EOF semantics"
    );
}

const LIMITS: Limits = Limits {
    idle: Some(Duration::from_secs(60)),
    close: Some(Duration::from_secs(60)),
};

#[tokio::test]
async fn tls_client_close_notify_then_late_answer_from_plain_side() {
    assert_openssl3();
    let (mut tls, mut client) = tls_pair().await;
    let (mut plain, mut backend) = tcp_pair().await;
    let task = tokio::spawn(async move { run(&mut tls, &mut plain, LIMITS).await });

    let request = vec![0xabu8; 100_000];
    client.write_all(&request).await.unwrap();
    client.shutdown().await.unwrap(); // close_notify
    let mut got = Vec::new();
    timeout(LIMIT, backend.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, request, "backend sees the request, then SHUT_WR");

    tokio::time::sleep(Duration::from_millis(200)).await; // the behaviour under test
    backend.write_all(b"late answer").await.unwrap();
    backend.shutdown().await.unwrap();
    let mut answer = Vec::new();
    timeout(LIMIT, client.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer, b"late answer",
        "answer, then the loop's close_notify"
    );

    let report = timeout(LIMIT, task).await.unwrap().unwrap();
    assert_eq!(
        (report.to_tls, report.to_socket, report.ending),
        (11, 100_000, Ending::Closed)
    );
}

#[tokio::test]
async fn plain_eof_sends_close_notify_and_keeps_reading_tls() {
    assert_openssl3();
    let (mut tls, mut client) = tls_pair().await;
    let (mut plain, mut backend) = tcp_pair().await;
    let task = tokio::spawn(async move { run(&mut tls, &mut plain, LIMITS).await });

    backend.write_all(b"banner").await.unwrap();
    backend.shutdown().await.unwrap();
    let mut got = Vec::new();
    timeout(LIMIT, client.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, b"banner");

    // TLS still carries data toward the plain side after our close_notify.
    client.write_all(b"after close_notify").await.unwrap();
    client.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(LIMIT, backend.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, b"after close_notify");
    let report = timeout(LIMIT, task).await.unwrap().unwrap();
    assert_eq!(
        (report.to_tls, report.to_socket, report.ending),
        (6, 18, Ending::Closed)
    );
}
