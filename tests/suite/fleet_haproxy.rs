//! A fleet (issue 15): Debian's HAProxy in TCP mode balancing round-robin
//! over three rstunnel nodes, with `send-proxy-v2` to the nodes (`proxyIn =
//! v2`, `proxyFrom = 127.0.0.1`) and health checks on each node's
//! `/healthz`; each node writes `protocol = proxy` (v1) to Debian's nginx,
//! which reads it with `listen … proxy_protocol` and answers (and logs)
//! `$proxy_protocol_addr:$proxy_protocol_port`. The nodes share ticket keys
//! through `ticketKeyFile` (one copy of the file per node, as a fleet has).
//!
//! Why it matters: this is how people scale a TLS tunnel out. Behind the
//! balancer the backend must still learn who the client is, a client must
//! resume its session on whichever node it lands on, keys must rotate
//! without a failed connection, and losing a node must cost only that node's
//! connections. The run, in order:
//!
//! 1. Clients bound to 127.0.0.2 (only they use that address): nginx sees
//!    each one's address and port, through every node.
//! 2. A session made through HAProxy on one node resumes on all three
//!    (`openssl s_client -sess_out/-sess_in`, TLS 1.2 and 1.3).
//! 3. Keys rotate on every node while a client keeps reconnecting: nothing
//!    fails, previous-key sessions resume, removed-key sessions do a full
//!    handshake.
//! 4. A node is SIGKILLed under long-lived echo connections: HAProxy's
//!    check marks it down, new connections reach the other two, and the
//!    connections on those lose no byte.

use crate::common;
use crate::common::peers;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::ticket_keys::{name, s_client_session, write_keys};
use common::tls_client::{Client, SessionKind, To};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};

/// The original clients' address: nobody else in the test uses it.
const CLIENT: &str = "127.0.0.2";

/// nginx in the foreground, unprivileged paths in `dir`, answering every
/// request with the client address the PROXY line named, and logging it.
fn nginx(dir: &Path) -> (peers::Daemon, u16) {
    let port = common::free_port();
    let d = dir.display();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/nginx-error.log;\n\
         events {{}}\nhttp {{\n client_body_temp_path {d}/t1;\n proxy_temp_path {d}/t2;\n\
         fastcgi_temp_path {d}/t3;\n uwsgi_temp_path {d}/t4;\n scgi_temp_path {d}/t5;\n\
         log_format pp '$proxy_protocol_addr:$proxy_protocol_port';\n\
         access_log {d}/nginx-access.log pp;\n\
         server {{\n  listen 127.0.0.1:{port} proxy_protocol;\n\
         location / {{ return 200 \"$proxy_protocol_addr:$proxy_protocol_port\\n\"; }}\n }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let mut cmd = Command::new("nginx");
    cmd.arg("-p").arg(dir).arg("-c").arg(dir.join("nginx.conf"));
    let peer = peers::Daemon::spawn("nginx", cmd, dir);
    common::wait_listening(port);
    (peer, port)
}

/// One rstunnel node: `[web]` to nginx with a PROXY line, `[echo]` to an
/// echo backend; both read HAProxy's v2 header; `/healthz` for the checks.
struct Node {
    daemon: Daemon,
    web: u16,
    echo: u16,
    health: u16,
    keys: PathBuf,
}

fn node(dir: &Path, i: usize, cert: &Path, nginx: u16, echo: u16) -> Node {
    let keys = dir.join(format!("node{i}.keys"));
    write_keys(&keys, &[1]);
    let service = |name: &str, extra: &str| {
        format!(
            "[{name}]\naccept = 127.0.0.1:0\ncert = {}\nticketKeyFile = {}\n\
             proxyIn = v2\nproxyFrom = 127.0.0.1\n{extra}",
            p(cert),
            p(&keys)
        )
    };
    let conf = format!(
        "{}metrics = 127.0.0.1:0\n{}{}",
        header(),
        service(
            "web",
            &format!("protocol = proxy\nconnect = 127.0.0.1:{nginx}\n")
        ),
        service("echo", &format!("connect = 127.0.0.1:{echo}\n")),
    );
    let daemon = Daemon::start(Impl::Rstunnel, &conf);
    let (web, echo) = (daemon.port("web"), daemon.port("echo"));
    let line = daemon.log.wait_for("metrics (FD=");
    let health = line
        .rsplit(':')
        .next()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    Node {
        daemon,
        web,
        echo,
        health,
        keys,
    }
}

/// HAProxy: `web` and `echo` frontends, round-robin over the nodes with
/// send-proxy-v2, fast HTTP checks of each node's `/healthz`, and a failed
/// connect retried on another node (`option redispatch`).
fn haproxy(dir: &Path, nodes: &[Node]) -> (peers::Daemon, u16, u16) {
    let (web, echo) = (common::free_port(), common::free_port());
    let mut cfg = String::from(
        "defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n\
         \x20 retries 2\n  option redispatch\n",
    );
    for (name, port) in [("web", web), ("echo", echo)] {
        cfg += &format!(
            "listen {name}\n  bind 127.0.0.1:{port}\n  balance roundrobin\n\
             \x20 option httpchk GET /healthz\n"
        );
        for (i, n) in nodes.iter().enumerate() {
            cfg += &format!(
                "  server n{i} 127.0.0.1:{} send-proxy-v2 check port {} inter 200ms fall 2 rise 1\n",
                if name == "web" { n.web } else { n.echo },
                n.health
            );
        }
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new("haproxy");
    cmd.arg("-db").arg("-f").arg(&path);
    let peer = peers::Daemon::spawn("haproxy", cmd, dir);
    common::wait_listening(web);
    common::wait_listening(echo);
    (peer, web, echo)
}

/// Rotate every node to `keys` (one after the other, as a copy to each
/// node would) and wait until each has loaded them.
fn rotate(nodes: &[Node], keys: &[u8]) {
    let newest = name(keys[0]);
    for n in nodes {
        write_keys(&n.keys, keys);
    }
    for n in nodes {
        n.daemon.log.wait_for(&format!("key(s), newest {newest}"));
    }
}

/// `GET /` through the `web` frontend from [`CLIENT`]: nginx's answer must
/// be this client's own address and port. Returns that port, whether the
/// session was resumed, and the session to offer next.
fn web_get(
    client: &Client,
    web: u16,
    offer: Option<&openssl::ssl::SslSession>,
) -> (u16, bool, Option<openssl::ssl::SslSession>) {
    let to = To {
        source: Some(CLIENT),
        ..To::local(web)
    };
    let run = client.exchange(&to, offer, b"GET / HTTP/1.0\r\n\r\n");
    let local = run.local.expect("client address");
    let body = run.text();
    assert!(
        run.error.is_none() && body.ends_with(&format!("\r\n\r\n{local}\n")),
        "the backend must see {local}: {:?} {body:?}",
        run.error
    );
    (local.port(), run.reused, run.session)
}

/// Which node logged accepting `port` of [`CLIENT`] in `service`.
fn served_by(nodes: &[Node], service: &str, port: u16) -> usize {
    let needle = format!("Service [{service}] accepted connection from {CLIENT}:{port}");
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(i) = nodes.iter().position(|n| n.daemon.log.contains(&needle)) {
            return i;
        }
        assert!(Instant::now() < deadline, "no node logged {needle:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `openssl s_client` through HAProxy: whether it resumed `offer`, saving
/// the session it holds afterwards to `save`.
fn s_client(port: u16, version: &str, offer: Option<&Path>, save: &Path) -> bool {
    let run = s_client_session(port, version, &[], b"GET / HTTP/1.0\r\n\r\n", offer, save);
    assert!(
        run.out.contains("\n127.0.0.1:"),
        "s_client through HAProxy:\n{}\n{}",
        run.out,
        run.err
    );
    run.reused
}

/// The number of lines of node `n`'s log containing `needle`.
fn count(n: &Node, needle: &str) -> usize {
    n.daemon.log.text().matches(needle).count()
}

/// A long-lived connection through the `echo` frontend that keeps sending
/// numbered blocks and checks each echo byte for byte until `stop`.
struct Pump {
    port: u16,
    thread: JoinHandle<Result<u64, String>>,
}

fn pump(echo: u16, stop: Arc<AtomicBool>) -> Pump {
    let to = To {
        source: Some(CLIENT),
        ..To::local(echo)
    };
    let tcp: TcpStream = to.connect();
    let port = tcp.local_addr().unwrap().port();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
    b.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let mut tls = b
        .build()
        .configure()
        .unwrap()
        .verify_hostname(false)
        .connect("localhost", tcp)
        .expect("TLS through HAProxy");
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let mut total = 0u64;
        for block in 0u32.. {
            let data = common::net::payload(8192, (block % 251) as u8);
            tls.write_all(&data).map_err(|e| format!("write: {e}"))?;
            let mut back = vec![0u8; data.len()];
            tls.read_exact(&mut back)
                .map_err(|e| format!("read after {total} bytes: {e}"))?;
            if back != data {
                return Err(format!("block {block} came back different"));
            }
            total += data.len() as u64;
            if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = tls.shutdown();
        Ok(total)
    });
    Pump { port, thread }
}

#[test]
fn three_nodes_behind_haproxy_share_sessions_rotate_keys_and_survive_a_kill() {
    let test = "fleet_haproxy";
    if !peers::have(test, "haproxy", "haproxy") || !peers::have(test, "nginx", "nginx") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (_nginx, nginx_port) = nginx(dir.path());
    let echo_backend = common::net::echo_server();
    let nodes: Vec<Node> = (0..3)
        .map(|i| node(dir.path(), i, &pki.combined, nginx_port, echo_backend))
        .collect();
    let (haproxy, web, echo) = haproxy(dir.path(), &nodes);

    // 1. nginx sees the original client through every node.
    let client = Client::new(SessionKind::Tls13Ticket, None);
    let mut served = [0usize; 3];
    for _ in 0..6 {
        let (port, _, _) = web_get(&client, web, None);
        served[served_by(&nodes, "web", port)] += 1;
    }
    assert!(
        served.iter().all(|n| *n > 0),
        "round-robin reached {served:?}"
    );
    let access = std::fs::read_to_string(dir.path().join("nginx-access.log")).unwrap();
    assert!(
        access
            .lines()
            .filter(|l| l.starts_with(&format!("{CLIENT}:")))
            .count()
            >= 6,
        "{access}"
    );

    // 2. A session from one node resumes on the other two.
    for version in ["-tls1_2", "-tls1_3"] {
        let first = dir.path().join(format!("first{version}.pem"));
        assert!(!s_client(web, version, None, &first));
        let before: Vec<usize> = nodes
            .iter()
            .map(|n| count(n, "TLS accepted: previous session reused"))
            .collect();
        for _ in 0..3 {
            let again = dir.path().join("again.pem");
            assert!(s_client(web, version, Some(&first), &again), "{version}");
        }
        for (i, n) in nodes.iter().enumerate() {
            assert!(
                count(n, "TLS accepted: previous session reused") > before[i],
                "{version}: node {i} resumed the session"
            );
        }
    }

    // 3. Rotation while a client keeps reconnecting with its session.
    let stop = Arc::new(AtomicBool::new(false));
    let reconnector = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let client = Client::new(SessionKind::Tls12Ticket, None);
            let (mut session, mut runs, mut resumed) = (None, 0u32, 0u32);
            while !stop.load(Ordering::SeqCst) && runs < 2000 {
                let (_, reused, next) = web_get(&client, web, session.as_ref());
                session = next.or(session);
                runs += 1;
                resumed += u32::from(reused);
            }
            (runs, resumed)
        })
    };
    let s = |n: &str| dir.path().join(n);
    let mut old = Vec::new();
    for version in ["-tls1_2", "-tls1_3"] {
        let path = s(&format!("key1{version}.pem"));
        s_client(web, version, None, &path);
        old.push((version, path));
    }
    rotate(&nodes, &[2, 1]);
    let mut previous = Vec::new();
    for (version, path) in &old {
        for _ in 0..3 {
            assert!(
                s_client(web, version, Some(path), &s("renewed.pem")),
                "{version}: a previous key's session resumes on every node"
            );
        }
        let fresh = s(&format!("key2{version}.pem"));
        s_client(web, version, None, &fresh);
        previous.push((*version, fresh));
    }
    rotate(&nodes, &[3, 2]);
    for ((version, removed), (_, kept)) in old.iter().zip(&previous) {
        for _ in 0..3 {
            assert!(
                !s_client(web, version, Some(removed), &s("full.pem")),
                "{version}: a removed key's session gets a full handshake"
            );
            assert!(
                s_client(web, version, Some(kept), &s("kept.pem")),
                "{version}: the previous key's session resumes"
            );
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (runs, resumed) = reconnector.join().expect("no reconnection failed");
    assert!(
        runs > 3 && resumed > 0,
        "{runs} reconnections, {resumed} resumed"
    );

    // 4. A node dies under long-lived connections.
    let stop = Arc::new(AtomicBool::new(false));
    let pumps: Vec<Pump> = (0..6).map(|_| pump(echo, stop.clone())).collect();
    let homes: Vec<usize> = pumps
        .iter()
        .map(|p| served_by(&nodes, "echo", p.port))
        .collect();
    let victim = 1;
    assert!(
        (0..3).all(|i| homes.contains(&i)),
        "long-lived connections on every node: {homes:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut nodes = nodes;
    unsafe { libc::kill(nodes[victim].daemon.child.id() as i32, libc::SIGKILL) };
    let _ = nodes[victim].daemon.child.wait();
    haproxy.wait_for(&format!("Server web/n{victim} is DOWN"));
    haproxy.wait_for(&format!("Server echo/n{victim} is DOWN"));
    for _ in 0..6 {
        let (port, _, _) = web_get(&client, web, None);
        let by = served_by(&nodes, "web", port);
        assert_ne!(by, victim, "a connection reached the dead node");
    }
    // The survivors' connections kept flowing throughout: byte-exact.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for (pump, home) in pumps.into_iter().zip(homes) {
        let outcome = pump.thread.join().expect("pump thread");
        if home == victim {
            assert!(outcome.is_err(), "a connection on the killed node ended");
        } else {
            let bytes = outcome.unwrap_or_else(|e| panic!("node {home} lost data: {e}"));
            assert!(bytes > 8192, "node {home}: {bytes} bytes");
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the fleet test took {:?}",
        started.elapsed()
    );
}
