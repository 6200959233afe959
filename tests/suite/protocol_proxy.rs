//! `protocol = proxy`: the PROXY v1 line the server late hook writes is
//! parsed by a real consumer, nginx (`listen … proxy_protocol`), which
//! echoes the addresses it read.
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn nginx(test: &str) -> Option<(u16, Daemon, tempfile::TempDir)> {
    let bin = require(test, "nginx")?;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let port = free_port();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
         events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/t1;\n\
         proxy_temp_path {d}/t2;\n fastcgi_temp_path {d}/t3;\n uwsgi_temp_path {d}/t4;\n\
         scgi_temp_path {d}/t5;\n server {{\n  listen 127.0.0.1:{port} proxy_protocol;\n\
         location / {{ return 200 \"$proxy_protocol_addr $proxy_protocol_port \
         $proxy_protocol_server_addr $proxy_protocol_server_port\\n\"; }}\n }}\n}}\n",
        d = d.display()
    );
    std::fs::write(d.join("nginx.conf"), conf).expect("conf");
    let mut cmd = std::process::Command::new(bin);
    cmd.arg("-p").arg(d).arg("-c").arg(d.join("nginx.conf"));
    let mut daemon = Daemon::spawn("nginx", cmd, d);
    wait_port(port, &mut daemon).await;
    Some((port, daemon, dir))
}

/// Write the header for `peer`/`local` to nginx, then an HTTP request;
/// return nginx's body.
async fn through(id: &str, port: u16, peer: SocketAddr, local_addr: SocketAddr) -> String {
    let (listener, addr) = listen().await;
    let _client = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("nginx");
    let mut hook = Hook::new(ProtocolKind::Proxy, false);
    hook.peer = Some(peer);
    hook.local_addr = Some(local_addr);
    hook.run(id, Phase::Late, &mut local, Some(&mut remote))
        .await
        .expect("late");
    remote
        .write_all(b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    remote.read_to_string(&mut answer).await.expect("response");
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_reads_the_tcp4_and_tcp6_lines() {
    let Some((port, _nginx, _dir)) = nginx("nginx_reads_the_proxy_lines").await else {
        return;
    };
    let body = through(
        "proxy-4",
        port,
        "192.0.2.7:51000".parse().unwrap(),
        "127.0.0.1:8443".parse().unwrap(),
    )
    .await;
    assert_eq!(body, "192.0.2.7 51000 127.0.0.1 8443\n");
    assert_logged("proxy-4", " -> PROXY TCP4 192.0.2.7 127.0.0.1 51000 8443");
    let body = through(
        "proxy-6",
        port,
        "[2001:db8::1]:1234".parse().unwrap(),
        "[::1]:443".parse().unwrap(),
    )
    .await;
    assert_eq!(body, "2001:db8::1 1234 ::1 443\n");
    assert_logged("proxy-6", " -> PROXY TCP6 2001:db8::1 ::1 1234 443");
}

/// Without IP addresses (a Unix socket) stunnel's getnameinfo fails: reset.
#[tokio::test]
async fn no_ip_addresses_reset() {
    let (listener, addr) = listen().await;
    let _client = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let (l2, a2) = listen().await;
    let _peer = TcpStream::connect(a2).await.expect("connect");
    let mut remote = accept(&l2).await;
    let hook = Hook::new(ProtocolKind::Proxy, false);
    let r = hook
        .run("proxy-unix", Phase::Late, &mut local, Some(&mut remote))
        .await;
    assert_eq!(r.unwrap_err(), Abort::Reset);
}
