//! Test helpers for the TLS layer: a `Service` with stunnel's defaults
//! (the declared ones; no config file needed), log capture per connection
//! id (`in_process_log`), and small process helpers for real OpenSSL /
//! Python peers.
#![allow(dead_code)]

use std::io::Write;

use std::process::{Command, Stdio};
use std::time::Duration;

use rstunnel::config::model::{Service, ServiceOptions, VerifyFlags};
use rstunnel::tls::{TlsContext, TlsError, TlsStream};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// stunnel 5.68's defaults for a service named `name` (server mode), as
/// the option declarations give them, at `debug = 7`.
pub fn default_service(name: &str) -> Service {
    Service {
        options: ServiceOptions {
            name: name.to_string(),
            debug_level: 7,
            ..ServiceOptions::default()
        },
        accept: Vec::new(),
        connect: Vec::new(),
        redirect: Vec::new(),
        exec: None,
        protocol: None,
        proxy_in: None,
        sni_route: None,
        sni_name: None,
    }
}

/// `verifyChain = yes`.
pub fn verify_chain() -> VerifyFlags {
    VerifyFlags {
        request: true,
        require: true,
        chain: true,
        peer: false,
    }
}

/// `verifyPeer = yes`.
pub fn verify_peer() -> VerifyFlags {
    VerifyFlags {
        request: true,
        require: true,
        chain: false,
        peer: true,
    }
}

/// Log capture per connection id: the one of the whole suite.
pub use super::in_process_log::{lines, logged};

pub fn has_line(id: &str, text: &str) -> bool {
    lines(id).iter().any(|l| l == text)
}

pub fn has_line_containing(id: &str, text: &str) -> bool {
    lines(id).iter().any(|l| l.contains(text))
}

/// The peer launcher's child process (killed on drop).
pub use super::peers::Peer;

pub fn spawn(program: &str, args: &[&str]) -> Peer {
    Peer(
        Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn peer"),
    )
}

/// Run a Python snippet with `args` (as `sys.argv[1:]`).
pub fn python(script: &str, args: &[&str]) -> Peer {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    spawn("python3", &all)
}

/// `openssl s_server` on 127.0.0.1 with an OS-chosen port; returns the peer
/// and the port it printed (`ACCEPT 127.0.0.1:PORT`).
pub fn s_server(args: &[&str]) -> (Peer, u16) {
    let mut all = vec!["s_server", "-accept", "127.0.0.1:0"];
    all.extend_from_slice(args);
    let mut peer = spawn("openssl", &all);
    let stdout = peer.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if let Some(rest) = line.trim().strip_prefix("ACCEPT ") {
                let port = rest.rsplit(':').next().and_then(|p| p.parse::<u16>().ok());
                let _ = tx.send(port);
            }
            line.clear();
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .flatten()
        .expect("s_server printed its port");
    (peer, port)
}

/// How long one step with an in-process TLS context may take.
const STEP: Duration = Duration::from_secs(15);

/// `openssl s_client -connect ADDR ARGS…` (its command adjusted by
/// `adjust`, e.g. an environment variable) against `ctx` on a fresh
/// listener, with `hi\n` on its stdin: the client's process (its stdin
/// still open, so it waits for our answer) and `ctx`'s handshake, logged
/// under `id`.
pub async fn accept_s_client(
    ctx: &TlsContext,
    id: &str,
    args: &[&str],
    adjust: impl FnOnce(&mut Command),
) -> (Peer, Result<TlsStream<TcpStream>, TlsError>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    adjust(&mut cmd);
    let mut peer = Peer(cmd.spawn().expect("spawn s_client"));
    let _ = peer.0.stdin.as_mut().expect("stdin").write_all(b"hi\n");
    let Ok(Ok((tcp, _))) = timeout(STEP, l.accept()).await else {
        let (_, out, err) = peer.finish(STEP);
        panic!("{id}: s_client did not connect: {out}{err}");
    };
    let result = logged(id, timeout(STEP, ctx.accept(tcp)))
        .await
        .expect("handshake in time");
    (peer, result)
}

/// Read the client's line, answer `ok\n`, close the session: what the
/// client sent.
pub async fn answer_line(tls: &mut TlsStream<TcpStream>) -> String {
    let mut line = String::new();
    let mut r = BufReader::new(&mut *tls);
    timeout(STEP, r.read_line(&mut line))
        .await
        .expect("read in time")
        .expect("read");
    tls.write_all(b"ok\n").await.expect("write");
    let _ = tls.shutdown().await;
    line
}
