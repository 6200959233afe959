//! `protocol = socks`: the server hook with curl as the SOCKS 4/4a/5
//! client, the client hook with microsocks as the SOCKS5 server. The hooks
//! run on plain TCP here (the TLS layer around them is not theirs).
//!
//! The server refuses loopback targets, so names `*.test` resolve to
//! TEST-NET-1 (192.0.2.10) through a test resolver; the test checks the
//! target the hook chose and then relays to a local HTTP server in its
//! place (nothing is ever sent to 192.0.2.10).
use crate::common::peers;

use peers::*;
use rstunnel::config::model::ProtocolKind;
use rstunnel::protocol::{Abort, Phase, Target};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const FAR: [u8; 4] = [192, 0, 2, 10];

/// One SOCKS server session for `curl args`; returns (curl ok, output,
/// hook result).
async fn curl_via_hook(
    id: &'static str,
    args: &[&str],
    url: String,
    http_port: u16,
) -> (bool, String, Result<SocketAddr, Abort>) {
    curl_via_hook_with(id, args, url, http_port, Vec::new()).await
}

/// [`curl_via_hook`] with `protocolDestination` rules.
async fn curl_via_hook_with(
    id: &'static str,
    args: &[&str],
    url: String,
    http_port: u16,
    destinations: Vec<rstunnel::config::model::Destination>,
) -> (bool, String, Result<SocketAddr, Abort>) {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        let mut hook = Hook::new(ProtocolKind::Socks, false);
        hook.net = Arc::new(TestNet { to: FAR.into() });
        hook.settings.destinations = destinations;
        let out = hook.run(id, Phase::Middle, &mut local, None).await?;
        let Some(Target::Addrs(addrs)) = out.target else {
            panic!("no target");
        };
        // stand-in for the connection to addrs[0]
        let mut remote = TcpStream::connect(("127.0.0.1", http_port))
            .await
            .expect("http");
        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
        Ok(addrs[0])
    });
    let mut cmd = std::process::Command::new(which("curl").expect("curl"));
    cmd.args(["-sS", "--max-time", "15"])
        .args(args)
        .arg(format!("127.0.0.1:{}", addr.port()))
        .arg(url);
    let (ok, out) = run_cmd(cmd).await;
    (ok, out, task.await.expect("join"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_speaks_socks5_socks4a_and_socks4_to_curl() {
    if require("server_speaks_socks_to_curl", "curl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "socks ok\n").expect("index");
    let Some((http_port, _http)) = http_server("server_speaks_socks_to_curl", dir.path()).await
    else {
        return;
    };
    let far = SocketAddr::from((FAR, http_port));
    for (id, proxy, url) in [
        (
            "socks-s5h",
            "--socks5-hostname",
            format!("http://web.test:{http_port}/"),
        ),
        (
            "socks-s4a",
            "--socks4a",
            format!("http://web.test:{http_port}/"),
        ),
        (
            "socks-s5",
            "--socks5",
            format!("http://192.0.2.10:{http_port}/"),
        ),
        (
            "socks-s4",
            "--socks4",
            format!("http://192.0.2.10:{http_port}/"),
        ),
    ] {
        let (ok, out, target) = curl_via_hook(id, &[proxy], url, http_port).await;
        assert!(ok, "{id}: curl failed: {out}");
        assert_eq!(out, "socks ok\n", "{id}");
        assert_eq!(target, Ok(far), "{id}");
    }
    assert_logged("socks-s5h", "SOCKS5 resolved \"web.test\" to 1 host(s)");
    assert_logged("socks-s4a", "SOCKS4a resolved \"web.test\" to 1 host(s)");
    assert_logged("socks-s5", "SOCKS5 IPv4 address received");
    assert_logged("socks-s4", "SOCKS4 address received");
}

/// Loopback targets are refused (SOCKS5 rep 2, SOCKS4 code 91) and the
/// connection is closed without reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_refuses_loopback_targets() {
    if require("server_refuses_loopback_targets", "curl").is_none() {
        return;
    }
    for (id, proxy) in [("socks-l5", "--socks5"), ("socks-l4", "--socks4")] {
        let (ok, out, r) = curl_via_hook(id, &[proxy], "http://127.0.0.1:9/".into(), 9).await;
        assert!(!ok, "{id}: curl must fail: {out}");
        assert_eq!(r, Err(Abort::Close), "{id}");
        assert_logged(id, "SOCKS connection to the IPv4 loopback rejected");
    }
}

/// `protocolDestination` (rstunnel extension): a target the rules do not
/// list is refused like a loopback one; a listed one is reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_keeps_to_protocol_destination() {
    use rstunnel::config::model::Destination;
    if require("server_keeps_to_protocol_destination", "curl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "listed\n").expect("index");
    let Some((http_port, _http)) =
        http_server("server_keeps_to_protocol_destination", dir.path()).await
    else {
        return;
    };
    let far = SocketAddr::from((FAR, http_port));
    let only = |port: u16| {
        vec![Destination::Inet {
            network: Some((FAR.into(), 32)),
            ports: (port, port),
        }]
    };
    let url = format!("http://web.test:{http_port}/");
    let (ok, out, target) = curl_via_hook_with(
        "socks-d1",
        &["--socks5-hostname"],
        url.clone(),
        http_port,
        only(http_port),
    )
    .await;
    assert!(ok, "listed: {out}");
    assert_eq!((out.as_str(), target), ("listed\n", Ok(far)));
    let (ok, _, target) = curl_via_hook_with(
        "socks-d2",
        &["--socks5-hostname"],
        url,
        http_port,
        only(http_port + 1),
    )
    .await;
    assert!(!ok);
    assert_eq!(target, Err(Abort::Close));
    assert_logged(
        "socks-d2",
        &format!("Destination {far} not allowed by protocolDestination"),
    );
}

/// Raw SOCKS5 bytes: an unsupported command gets rep 7 with the request's
/// address family echoed (IPv6 → 22-byte reply), as stunnel's union does.
#[tokio::test]
async fn server_unsupported_command_reply_bytes() {
    let (listener, addr) = listen().await;
    let task = tokio::spawn(async move {
        let mut local = accept(&listener).await;
        Hook::new(ProtocolKind::Socks, false)
            .run("socks-raw", Phase::Middle, &mut local, None)
            .await
    });
    let mut c = TcpStream::connect(addr).await.expect("connect");
    c.write_all(&[5, 1, 0]).await.expect("methods");
    let mut m = [0u8; 2];
    c.read_exact(&mut m).await.expect("method reply");
    assert_eq!(m, [5, 0]);
    c.write_all(&[5, 2, 0, 4]).await.expect("BIND, IPv6");
    let mut got = Vec::new();
    c.read_to_end(&mut got).await.expect("reply");
    let mut want = vec![5, 7, 0, 4];
    want.extend([0u8; 18]);
    assert_eq!(got, want);
    assert_eq!(task.await.expect("join").unwrap_err(), Abort::Close);
    assert_logged("socks-raw", "Unsupported SOCKS5 command 0x02");
}

/// Client hook against microsocks: SOCKS5 CONNECT to the original
/// destination, then the tunnel carries an HTTP request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_connects_original_destination_via_microsocks() {
    let Some(bin) = require("client_via_microsocks", "microsocks") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("index.html"), "via microsocks\n").expect("index");
    let Some((http_port, _http)) = http_server("client_via_microsocks", dir.path()).await else {
        return;
    };
    let port = free_port();
    let mut cmd = std::process::Command::new(bin);
    cmd.args(["-i", "127.0.0.1", "-p"]).arg(port.to_string());
    let mut socks = Daemon::spawn("microsocks", cmd, dir.path());
    wait_port(port, &mut socks).await;

    let (listener, addr) = listen().await;
    let _app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("microsocks");
    let mut hook = Hook::new(ProtocolKind::Socks, true);
    hook.original_dst = Some(SocketAddr::from(([127, 0, 0, 1], http_port)));
    hook.run("socks-c1", Phase::Late, &mut local, Some(&mut remote))
        .await
        .expect("late");
    remote
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .await
        .expect("request");
    let mut answer = String::new();
    remote.read_to_string(&mut answer).await.expect("response");
    assert!(
        answer.starts_with("HTTP/1.0 200") && answer.ends_with("via microsocks\n"),
        "{answer}"
    );
    assert_logged("socks-c1", "Sending SOCKS5 IPv4 address");
    assert_logged("socks-c1", "SOCKS5 request succeeded");

    // a refused destination (nothing listens on port 9 here) is reported
    let _app = TcpStream::connect(addr).await.expect("connect");
    let mut local = accept(&listener).await;
    let mut remote = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("microsocks");
    hook.original_dst = Some(SocketAddr::from(([127, 0, 0, 1], 9)));
    let r = hook
        .run("socks-c2", Phase::Late, &mut local, Some(&mut remote))
        .await;
    assert_eq!(r.unwrap_err(), Abort::Close);
    assert!(
        logged("socks-c2").contains("SOCKS5 request failed: "),
        "{}",
        logged("socks-c2")
    );
}
