//! `protocol = pgsql` against a real PostgreSQL server (ssl = on) and the
//! real `psql`/libpq client, at the hook level on TCP sockets.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Client mode is how stunnel lets a non-TLS PostgreSQL client reach an
/// SSL-only server: after the hook, TLS must run to the real server, and
/// the server must see the session as SSL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hook_upgrades_to_real_postgres_tls() {
    let Some(pg) = Postgres::start("client_hook_upgrades_to_real_postgres_tls").await else {
        return;
    };
    let (listener, addr) = listen().await;
    let port = pg.port;
    let relay = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect pg");
        let hook = Hook::new(ProtocolKind::Pgsql, true);
        let r = hook
            .run("pg-client", Phase::Middle, &mut local, Some(&mut remote))
            .await;
        assert!(r.is_ok(), "{r:?}");
        let mut tls = tls_connect(remote).await;
        let _ = tokio::io::copy_bidirectional(&mut local, &mut tls).await;
    });
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=disable gssencmode=disable",
        addr.port()
    );
    let (ok, out) = psql(
        &conninfo,
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
    )
    .await;
    assert!(ok, "psql failed: {out}");
    assert_eq!(out.trim(), "t", "the server must see an SSL session");
    relay.await.expect("relay");
}

/// Server mode: libpq with sslmode=require gets `S`, does TLS with us, and
/// the query reaches PostgreSQL through the plain backend connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_hook_accepts_libpq_sslrequest() {
    let Some(pg) = Postgres::start("server_hook_accepts_libpq_sslrequest").await else {
        return;
    };
    let (listener, addr) = listen().await;
    let (port, dir) = (pg.port, pg.dir.path().to_path_buf());
    let relay = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let hook = Hook::new(ProtocolKind::Pgsql, false);
        let r = hook.run("pg-server", Phase::Early, &mut local, None).await;
        assert!(r.is_ok(), "{r:?}");
        let mut tls = tls_accept(local, &dir.join("cert.pem"), &dir.join("key.pem")).await;
        let mut remote = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect pg");
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut remote).await;
    });
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=require gssencmode=disable",
        addr.port()
    );
    let (ok, out) = psql(&conninfo, "select 6 * 7").await;
    assert!(ok, "psql failed: {out}");
    assert_eq!(out.trim(), "42");
    relay.await.expect("relay");
    assert_logged("pg-server", "SSLRequest received");
}

/// A libpq client that does not ask for TLS is dropped with a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_hook_resets_a_plain_startup() {
    let Some(psql_bin) = require("server_hook_resets_a_plain_startup", "psql") else {
        return;
    };
    let _ = psql_bin;
    let (listener, addr) = listen().await;
    let hook_task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let hook = Hook::new(ProtocolKind::Pgsql, false);
        hook.run("pg-plain", Phase::Early, &mut local, None).await
    });
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres sslmode=disable gssencmode=disable",
        addr.port()
    );
    let (ok, _) = psql(&conninfo, "select 1").await;
    assert!(!ok, "psql must fail");
    assert_eq!(hook_task.await.expect("join").unwrap_err(), Abort::Reset);
    assert_logged(
        "pg-plain",
        "PostgreSQL client did not request TLS, rejecting",
    );
}

/// GSSENCRequest gets stunnel's exact ErrorResponse and a graceful close
/// (libpq then retries with SSL). Raw bytes: the reply is checked byte for
/// byte against stunnel 5.68's `gss_response`.
#[tokio::test]
async fn server_hook_refuses_gssenc_gracefully() {
    let (listener, addr) = listen().await;
    let hook_task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let hook = Hook::new(ProtocolKind::Pgsql, false);
        hook.run("pg-gss", Phase::Early, &mut local, None).await
    });
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30])
        .await
        .expect("write");
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.expect("read");
    let mut want = vec![b'E', 0, 0, 0, 61];
    want.extend_from_slice(b"SERROR\0CXX000\0MSSL expected but not requested by client\0\0");
    assert_eq!(got, want);
    assert_eq!(hook_task.await.expect("join").unwrap_err(), Abort::Close);
}
