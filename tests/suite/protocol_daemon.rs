//! `protocol =` through the real daemon, not just at the hook level: psql
//! (plaintext, `sslmode=disable`) → rstunnel in client mode with
//! `protocol = pgsql` → PostgreSQL with `ssl = on`, which must see the
//! session as SSL.

use crate::common;
use crate::common::peers;

use common::{header, Daemon, Impl};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_reaches_an_ssl_postgres_through_the_client_tunnel() {
    let Some(pg) =
        peers::Postgres::start("psql_reaches_an_ssl_postgres_through_the_client_tunnel").await
    else {
        return;
    };
    let conf = format!(
        "{}[pg]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\nprotocol = pgsql\n",
        header(),
        pg.port
    );
    let tunnel = tokio::task::spawn_blocking(move || Daemon::start(Impl::Rstunnel, &conf))
        .await
        .unwrap();
    let port = tunnel.port("pg");
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable gssencmode=disable"
    );
    let (ok, out) = peers::psql(
        &conninfo,
        "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
    )
    .await;
    assert!(
        ok,
        "psql failed: {out}\nrstunnel log:\n{}",
        tunnel.log.text()
    );
    assert_eq!(out.trim(), "t", "PostgreSQL must see an SSL session");
    tunnel.log.wait_for("TLS connected: new session negotiated");
}
