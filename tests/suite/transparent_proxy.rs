//! `transparent = destination|source` (stunnel-reference §5.13), in a
//! private network namespace per test (root; skipped otherwise) so the
//! iptables rule and the extra loopback address cannot affect anything
//! else. Real parts: the kernel's NAT (`iptables -t nat … REDIRECT`),
//! `IP_TRANSPARENT`, a Python `ssl` client, a plain TCP backend.

use crate::common;
use crate::common::exec;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};
use exec::{private_netns, py_tls_client, py_tls_client_in, sh, NamedNetns};

/// A backend on `addr` that reports each client's address and echoes.
fn echo_reporting(addr: &str) -> (u16, mpsc::Receiver<std::net::SocketAddr>) {
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let _ = tx.send(conn.peer_addr().unwrap());
            let mut conn = conn;
            let mut buf = [0u8; 4096];
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 || conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    });
    (port, rx)
}

/// The client connects to 10.9.0.1:B; a REDIRECT rule sends it to
/// rstunnel, which connects to the original destination it reads back with
/// SO_ORIGINAL_DST (rstunnel's own connection, from 10.9.0.1, is not
/// redirected: the rule only matches the client's source 127.0.0.1).
#[test]
fn destination_follows_the_nat_rule() {
    if !private_netns() {
        return;
    }
    sh("ip addr add 10.9.0.1/32 dev lo");
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, peers) = echo_reporting("10.9.0.1");
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[tp]\naccept = 127.0.0.1:0\ncert = {}\ntransparent = destination\n",
            header(),
            p(&pki.combined)
        ),
    );
    let port = d.port("tp");
    sh(&format!(
        "iptables -t nat -A OUTPUT -p tcp -s 127.0.0.1 -d 10.9.0.1 --dport {backend} \
         -j REDIRECT --to-ports {port}"
    ));
    let run = py_tls_client(
        "10.9.0.1",
        backend,
        b"nat",
        Some(3),
        None,
        Some("127.0.0.1"),
    );
    assert_eq!(run.received, b"nat");
    d.log
        .wait_for(&format!("s_connect: connected 10.9.0.1:{backend}"));
    peers.recv_timeout(PATIENCE).unwrap();
}

/// Without a NAT rule there is no original destination: reset, never a
/// connection back into rstunnel itself.
#[test]
fn destination_without_nat_is_reset() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[tp]\naccept = 127.0.0.1:0\ncert = {}\ntransparent = destination\n",
            header(),
            p(&pki.combined)
        ),
    );
    let run = py_tls_client("127.0.0.1", d.port("tp"), b"x", None, None, None);
    assert!(run.received.is_empty());
    d.log.wait_for("No remote host resolved");
    d.log.wait_for("Connection reset: 0 byte(s)");
}

/// The backend sees the client's own address and port, not rstunnel's:
/// the client (10.9.0.2) lives in another namespace behind a veth pair, so
/// only IP_TRANSPARENT lets rstunnel bind that foreign address. The
/// backend's replies to 10.9.0.2 are routed back to the local transparent
/// socket by the policy route of the stunnel manual (`ip rule` + `local`
/// route), restricted to the backend's port.
#[test]
fn source_binds_the_foreign_client_address() {
    if !private_netns() {
        return;
    }
    let client_ns = NamedNetns::create("tp");
    let ns = &client_ns.0;
    sh(&format!("ip link add vA type veth peer name vB netns {ns}"));
    sh("ip addr add 10.9.0.1/24 dev vA && ip link set vA up");
    sh(&format!(
        "ip -n {ns} addr add 10.9.0.2/24 dev vB && ip -n {ns} link set vB up \
         && ip -n {ns} link set lo up"
    ));
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, peers) = echo_reporting("10.9.0.1");
    sh(&format!(
        "ip rule add from 10.9.0.1 ipproto tcp sport {backend} lookup 100 \
         && ip route add local 0.0.0.0/0 dev lo table 100"
    ));
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}debug = debug\n[tp]\naccept = 10.9.0.1:0\ncert = {}\n\
             connect = 10.9.0.1:{backend}\ntransparent = source\n",
            header(),
            p(&pki.combined)
        ),
    );
    let run = py_tls_client_in(
        Some(ns),
        "10.9.0.1",
        d.port("tp"),
        b"src",
        Some(3),
        None,
        None,
    );
    assert_eq!(run.received, b"src");
    let seen = peers.recv_timeout(PATIENCE).unwrap();
    assert_eq!(seen.to_string(), format!("10.9.0.2:{}", run.local_port));
    d.log.wait_for("IP_TRANSPARENT socket option set");
    d.log.wait_for("bind succeeded on the original port");
    d.log
        .wait_for("Service [tp] connected remote server from 10.9.0.2:");
}

/// stunnel preloads libstunnel.so for `exec` with a transparent source;
/// rstunnel cannot, and says so instead of ignoring the option.
#[test]
fn source_with_exec_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}[tp]\naccept = 127.0.0.1:0\ncert = {}\nexec = /bin/cat\ntransparent = source\n",
            header(),
            p(&pki.combined)
        ),
    );
    assert_eq!(d.wait_exit(), 1);
    d.log.wait_for(
        "Service [tp]: option transparent = source is not supported by rstunnel with exec",
    );
}
