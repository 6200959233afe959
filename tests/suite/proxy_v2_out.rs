//! `protocol = proxy` with `proxyVersion = v2` (issue 15): the binary PROXY
//! header with HAProxy's TLS TLVs, read by software nobody here wrote:
//! Debian's HAProxy 2.6 (`accept-proxy`: the client address and
//! `fc_pp_authority`; 2.6 has no fetch for the SSL TLV), nginx 1.22
//! (`$proxy_protocol_addr`, no TLV variables before 1.23.2), and Wireshark's
//! PROXY dissector (`tshark`) for the SSL TLV: version, cipher, client bits,
//! verify, client CN. The header bytes are what a plain TCP backend received
//! from rstunnel, replayed into a pcap with `text2pcap`. Also: a client
//! carried by `proxyIn` is the header's source, a Unix-socket client gets a
//! LOCAL header, v1 stays the default, and `proxyVersion` anywhere but
//! beside `protocol = proxy` is refused at its line.

use crate::common;
use crate::common::peers::{have, Peer};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::tls_pki::{make_pki, Pki};
use common::{header, p, Daemon, Impl, PATIENCE};
use openssl::ssl::{SslConnector, SslMethod, SslSession, SslVerifyMode, SslVersion};

const SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

/// A backend that records the PROXY header each connection starts with (a
/// v2 header by its length field, a v1 line up to CRLF), then closes.
fn recording_backend() -> (u16, mpsc::Receiver<Vec<u8>>) {
    let (l, port) = common::net::listener();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                conn.set_read_timeout(Some(PATIENCE)).unwrap();
                let mut head = vec![0u8; 16];
                if conn.read_exact(&mut head).is_err() {
                    return;
                }
                if head.starts_with(SIGNATURE) {
                    let len = usize::from(u16::from_be_bytes([head[14], head[15]]));
                    let mut rest = vec![0u8; len];
                    if conn.read_exact(&mut rest).is_err() {
                        return;
                    }
                    head.extend(rest);
                } else {
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n") && head.len() < 200 {
                        if conn.read_exact(&mut byte).is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                }
                let _ = tx.send(head);
            });
        }
    });
    (port, rx)
}

/// A backend that closes every connection at once (HAProxy logs a
/// session when it ends).
fn closing_backend() -> u16 {
    let (l, port) = common::net::listener();
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            drop(conn);
        }
    });
    port
}

/// What a TLS client offers.
#[derive(Default)]
struct Client<'a> {
    sni: Option<&'a str>,
    alpn: Option<&'a [u8]>,
    /// Certificate and key files.
    cert: Option<&'a Path>,
    tls12: bool,
    session: Option<SslSession>,
}

/// Connect to `port` with `client`'s offer, complete the handshake, send a
/// byte and read until the backend closes. The client's local port and the
/// session (for a resumption).
fn connect(port: u16, client: &Client) -> (u16, Option<SslSession>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let ours = tcp.local_addr().unwrap().port();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    if let Some(alpn) = client.alpn {
        let mut wire = vec![alpn.len() as u8];
        wire.extend_from_slice(alpn);
        b.set_alpn_protos(&wire).unwrap();
    }
    if let Some(cert) = client.cert {
        b.set_certificate_chain_file(cert).unwrap();
        b.set_private_key_file(cert, openssl::ssl::SslFiletype::PEM)
            .unwrap();
    }
    if client.tls12 {
        b.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
    }
    let mut config = b.build().configure().unwrap();
    config.set_use_server_name_indication(client.sni.is_some());
    config.set_verify_hostname(false);
    if let Some(session) = &client.session {
        unsafe { config.set_session(session) }.unwrap();
    }
    let mut s = config
        .connect(client.sni.unwrap_or("localhost"), tcp)
        .expect("handshake with rstunnel");
    let _ = s.write_all(b"x");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    // OpenSSL marks a session not resumable when its connection is freed
    // before close_notify was sent.
    let _ = s.shutdown();
    (ours, s.ssl().session().map(|s| s.to_owned()))
}

/// The header the backend got from the next connection.
fn received(rx: &mpsc::Receiver<Vec<u8>>) -> Vec<u8> {
    rx.recv_timeout(PATIENCE)
        .expect("the backend received no PROXY header")
}

fn service(pki: &Pki, backend: u16, extra: &str) -> String {
    format!(
        "{}[edge]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
         protocol = proxy\n{extra}",
        header(),
        p(&pki.combined)
    )
}

/// Wireshark's reading of `header`: tshark's `-T fields` output for
/// `fields`, one value (comma-joined if repeated) per field. The bytes go
/// into a pcap as one TCP segment (`text2pcap`); the PROXY dissector finds
/// them by its heuristic, as it would on a live capture.
fn tshark(dir: &Path, header: &[u8], fields: &[&str]) -> Vec<String> {
    let hex: String = header
        .chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let bytes: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            format!("{:06x} {}\n", i * 16, bytes.join(" "))
        })
        .collect();
    let (txt, pcap) = (dir.join("header.txt"), dir.join("header.pcap"));
    std::fs::write(&txt, hex).unwrap();
    let made = Command::new("text2pcap")
        .args(["-q", "-T", "40000,9999"])
        .arg(&txt)
        .arg(&pcap)
        .status()
        .expect("text2pcap");
    assert!(made.success(), "text2pcap failed");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(&pcap)
        .args(["-T", "fields", "-E", "separator=|"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = run_bounded(cmd);
    let line = out.lines().next().unwrap_or_default().to_string();
    let values: Vec<String> = line.split('|').map(str::to_string).collect();
    assert_eq!(values.len(), fields.len(), "tshark printed {out:?}");
    values
}

/// Run a command to its end within `PATIENCE`; its stdout.
fn run_bounded(mut cmd: Command) -> String {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    out
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// What Wireshark's PROXY dissector shows. Not the SSL_KEY_ALG sub-TLV:
/// Wireshark 4.0 leaves out the last sub-TLV of an SSL TLV that ends the
/// header (hand-made headers show the same), and rstunnel writes it last,
/// as HAProxy does; the unit tests read it back.
const FIELDS: [&str; 12] = [
    "proxy.v2.cmd",
    "proxy.v2.addr_family_protocol",
    "proxy.srcport",
    "proxy.dstport",
    "proxy.v2.tlv.type",
    "proxy.v2.tlv.value",
    "proxy.v2.tlv.ssl.client",
    "proxy.v2.tlv.ssl.verify",
    "proxy.v2.tlv.ssl.version",
    "proxy.v2.tlv.ssl.cipher",
    "proxy.v2.tlv.ssl.cn",
    "proxy.v2.tlv.ssl.sig_alg",
];

/// Field index in [`FIELDS`].
fn field<'a>(values: &'a [String], name: &str) -> &'a str {
    &values[FIELDS.iter().position(|f| *f == name).unwrap()]
}

/// Without a client certificate: the client bits say TLS only and verify
/// is not 0; version, cipher and the SNI as AUTHORITY are what the client
/// negotiated (TLS 1.3, then TLS 1.2). rstunnel, like stunnel, does not
/// negotiate ALPN, so the ALPN the client offers yields no ALPN TLV.
#[test]
fn wireshark_reads_version_cipher_authority_and_no_client_certificate() {
    let test = "wireshark_reads_version_cipher_authority_and_no_client_certificate";
    if !have(test, "tshark", "tshark") || !have(test, "text2pcap", "tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = recording_backend();
    let d = Daemon::start(
        Impl::Rstunnel,
        &service(&pki, backend, "proxyVersion = v2\n"),
    );
    let port = d.port("edge");
    let offer = Client {
        sni: Some("www.example.test"),
        alpn: Some(b"h2"),
        ..Client::default()
    };
    let (client_port, _) = connect(port, &offer);
    let v = tshark(dir.path(), &received(&rx), &FIELDS);
    assert_eq!(field(&v, "proxy.v2.cmd"), "1", "{v:?}");
    assert_eq!(field(&v, "proxy.v2.addr_family_protocol"), "0x11");
    assert_eq!(field(&v, "proxy.srcport"), client_port.to_string());
    assert_eq!(field(&v, "proxy.dstport"), port.to_string());
    let types = field(&v, "proxy.v2.tlv.type");
    assert!(types.starts_with("0x02,0x20,0x21,0x23"), "{types}");
    assert!(
        !types.split(',').any(|t| t == "0x01"),
        "no ALPN TLV: {types}"
    );
    assert!(!types.split(',').any(|t| t == "0x22"), "no CN TLV: {types}");
    let values = field(&v, "proxy.v2.tlv.value");
    assert!(values.starts_with(&hex("www.example.test")), "{values}");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.client"), "0x01");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.verify"), "0x00000001");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.version"), "TLSv1.3");
    assert_eq!(
        field(&v, "proxy.v2.tlv.ssl.cipher"),
        "TLS_AES_256_GCM_SHA384"
    );
    // Our certificate's signature algorithm (the test CA signs with SHA-256).
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.sig_alg"), "RSA-SHA256");

    let tls12 = Client {
        tls12: true,
        ..Client::default()
    };
    connect(port, &tls12);
    let v = tshark(dir.path(), &received(&rx), &FIELDS);
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.version"), "TLSv1.2");
    assert_eq!(
        field(&v, "proxy.v2.tlv.ssl.cipher"),
        "ECDHE-RSA-AES256-GCM-SHA384"
    );
    let types = field(&v, "proxy.v2.tlv.type");
    assert!(types.starts_with("0x20,"), "no SNI, no AUTHORITY: {types}");
}

/// With `verifyChain` and a client certificate: the client bits say
/// certificate on this connection and in the session, verify is 0, and the
/// CN is the certificate's. A resumed session still carries the
/// certificate, but not "on this connection".
#[test]
fn wireshark_reads_the_client_certificate_cn_and_verify_0() {
    let test = "wireshark_reads_the_client_certificate_cn_and_verify_0";
    if !have(test, "tshark", "tshark") || !have(test, "text2pcap", "tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = recording_backend();
    let extra = format!(
        "proxyVersion = v2\nverifyChain = yes\nCAfile = {}\n",
        p(&pki.ca)
    );
    let d = Daemon::start(Impl::Rstunnel, &service(&pki, backend, &extra));
    let port = d.port("edge");
    let offer = Client {
        cert: Some(&pki.client_combined),
        ..Client::default()
    };
    let (_, session) = connect(port, &offer);
    assert!(session.is_some(), "no session to resume");
    let v = tshark(dir.path(), &received(&rx), &FIELDS);
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.client"), "0x07", "{v:?}");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.verify"), "0x00000000");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.cn"), "client");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.version"), "TLSv1.3");

    let again = Client {
        cert: Some(&pki.client_combined),
        session,
        ..Client::default()
    };
    connect(port, &again);
    let v = tshark(dir.path(), &received(&rx), &FIELDS);
    d.log.wait_for("Connection closed");
    assert_eq!(
        field(&v, "proxy.v2.tlv.ssl.client"),
        "0x05",
        "resumed: certificate in the session, not on this connection: {v:?}\n{}",
        d.log.text()
    );
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.verify"), "0x00000000");
    assert_eq!(field(&v, "proxy.v2.tlv.ssl.cn"), "client");
}

/// A Unix-socket client has no address a v2 header can carry: the header
/// is LOCAL over UNSPEC (the specification's "use the real endpoints"; what
/// HAProxy sends for such a client), TLVs included, where v1 resets the
/// connection as stunnel does.
#[test]
fn a_unix_socket_client_is_sent_as_local_with_its_tls_tlvs() {
    let test = "a_unix_socket_client_is_sent_as_local_with_its_tls_tlvs";
    if !have(test, "tshark", "tshark") || !have(test, "text2pcap", "tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = recording_backend();
    let socket = dir.path().join("edge.sock");
    let conf = format!(
        "{}[edge]\naccept = {}\nconnect = 127.0.0.1:{backend}\ncert = {}\n\
         protocol = proxy\nproxyVersion = v2\n",
        header(),
        p(&socket),
        p(&pki.combined)
    );
    let d = Daemon::start(Impl::Rstunnel, &conf);
    d.log.wait_for("Service [edge] (FD=");
    unix_client(&socket, "unix.example.test");
    let got = received(&rx);
    let v = tshark(dir.path(), &got, &FIELDS);
    assert_eq!(field(&v, "proxy.v2.cmd"), "0", "{v:?}");
    assert_eq!(field(&v, "proxy.v2.addr_family_protocol"), "0x00");
    // Wireshark 4.0 does not dissect TLVs after UNSPEC; our own reader
    // shows they are there.
    let tlvs: Vec<u8> = rstunnel::protocol::proxy_v2::tlvs(&got[16..])
        .map(|(kind, _)| kind)
        .collect();
    assert_eq!(tlvs, [0x02, 0x20], "AUTHORITY and SSL");
}

/// A TLS client on the Unix socket `path`, sending `sni`; reads until the
/// backend closes.
fn unix_client(path: &Path, sni: &str) {
    let unix = std::os::unix::net::UnixStream::connect(path).unwrap();
    unix.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let mut config = b.build().configure().unwrap();
    config.set_verify_hostname(false);
    let mut s = config.connect(sni, unix).expect("handshake");
    let _ = s.write_all(b"x");
    let _ = s.read_to_end(&mut Vec::new());
}

/// Behind a balancer (`proxyIn`), the client its header carried is the one
/// rstunnel's v2 header names, as for v1.
#[test]
fn a_carried_client_is_the_source_of_the_v2_header() {
    let test = "a_carried_client_is_the_source_of_the_v2_header";
    if !have(test, "tshark", "tshark") || !have(test, "text2pcap", "tshark") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (backend, rx) = recording_backend();
    let extra = "proxyVersion = v2\nproxyIn = v1\nproxyFrom = 127.0.0.1\n";
    let d = Daemon::start(Impl::Rstunnel, &service(&pki, backend, extra));
    let port = d.port("edge");
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    tcp.write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 5555 443\r\n")
        .unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let mut s = b.build().connect("localhost", tcp).expect("handshake");
    let _ = s.write_all(b"x");
    let _ = s.read_to_end(&mut Vec::new());
    let fields = [
        "proxy.src.ipv4",
        "proxy.dst.ipv4",
        "proxy.srcport",
        "proxy.dstport",
    ];
    let v = tshark(dir.path(), &received(&rx), &fields);
    assert_eq!(v, ["192.0.2.7", "198.51.100.1", "5555", "443"]);
}

/// HAProxy in TCP mode and its log lines (stdout).
struct Haproxy {
    _child: Peer,
    log: Arc<Mutex<Vec<String>>>,
}

impl Haproxy {
    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(l) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return l.clone();
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy never logged {needle:?}: {:?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Debian's HAProxy 2.6 as the backend: a TCP frontend with
/// `accept-proxy` logging the client address it read and the AUTHORITY
/// TLV (`fc_pp_authority`), forwarding to a backend that closes. A
/// Unix-socket client's LOCAL header is accepted too (HAProxy 2.6 refuses
/// PROXY over UNSPEC, with or without TLVs, as an invalid header).
#[test]
fn haproxy_reads_the_client_address_and_the_authority() {
    let test = "haproxy_reads_the_client_address_and_the_authority";
    if !have(test, "haproxy", "haproxy") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let sink = closing_backend();
    let front = common::free_port();
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  log stdout format raw local0\n\
             defaults\n  mode tcp\n  log global\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend f\n  bind 127.0.0.1:{front} accept-proxy\n\
             \x20 log-format \"pp client=%ci:%cp authority=%[fc_pp_authority]\"\n  default_backend b\n\
             backend b\n  server s 127.0.0.1:{sink}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new("haproxy")
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy");
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink_log = log.clone();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            sink_log.lock().unwrap().push(line);
        }
    });
    let haproxy = Haproxy {
        _child: Peer(child),
        log,
    };
    common::wait_listening(front);
    let d = Daemon::start(Impl::Rstunnel, &service(&pki, front, "proxyVersion = v2\n"));
    let port = d.port("edge");
    let offer = Client {
        sni: Some("www.example.test"),
        ..Client::default()
    };
    let (client_port, _) = connect(port, &offer);
    haproxy.wait_for(&format!(
        "pp client=127.0.0.1:{client_port} authority=www.example.test"
    ));
    // A Unix-socket client: a LOCAL header, which HAProxy accepts and
    // answers by using the real endpoints (rstunnel's own socket).
    let socket = dir.path().join("edge.sock");
    let conf = format!(
        "{}[edge]\naccept = {}\nconnect = 127.0.0.1:{front}\ncert = {}\n\
         protocol = proxy\nproxyVersion = v2\n",
        header(),
        p(&socket),
        p(&pki.combined)
    );
    let unix_edge = Daemon::start(Impl::Rstunnel, &conf);
    unix_edge.log.wait_for("Service [edge] (FD=");
    unix_client(&socket, "unix.example.test");
    let line = unix_edge.log.wait_for("connected remote server from ");
    let ours = line.rsplit(' ').next().unwrap();
    haproxy.wait_for(&format!("pp client={ours} authority=-"));
}

/// nginx 1.22 (`listen … proxy_protocol`) answers with the client address
/// and port it read from the v2 header.
#[test]
fn nginx_reads_the_client_address() {
    let test = "nginx_reads_the_client_address";
    if !have(test, "nginx", "nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = dir.path().display();
    let ngx = common::free_port();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{}}\nhttp {{\n access_log off;\n client_body_temp_path {d}/t1;\n\
             proxy_temp_path {d}/t2;\n fastcgi_temp_path {d}/t3;\n uwsgi_temp_path {d}/t4;\n\
             scgi_temp_path {d}/t5;\n server {{\n  listen 127.0.0.1:{ngx} proxy_protocol;\n\
             location / {{ return 200 \"$proxy_protocol_addr:$proxy_protocol_port \
             $proxy_protocol_server_port\\n\"; }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("nginx")
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx");
    let _nginx = Peer(child);
    common::wait_listening(ngx);
    let t = Daemon::start(Impl::Rstunnel, &service(&pki, ngx, "proxyVersion = v2\n"));
    let port = t.port("edge");
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let client_port = tcp.local_addr().unwrap().port();
    tcp.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    b.set_verify(SslVerifyMode::NONE);
    let mut s = b.build().connect("localhost", tcp).expect("handshake");
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(
        body,
        format!("127.0.0.1:{client_port} {port}\n"),
        "{answer}"
    );
}

/// Without `proxyVersion`, and with `proxyVersion = v1`, the backend gets
/// stunnel's v1 line, byte for byte.
#[test]
fn v1_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    for extra in ["", "proxyVersion = v1\n"] {
        let (backend, rx) = recording_backend();
        let d = Daemon::start(Impl::Rstunnel, &service(&pki, backend, extra));
        let port = d.port("edge");
        let (client_port, _) = connect(port, &Client::default());
        assert_eq!(
            String::from_utf8(received(&rx)).unwrap(),
            format!("PROXY TCP4 127.0.0.1 127.0.0.1 {client_port} {port}\r\n"),
            "{extra:?}"
        );
    }
}

/// `proxyVersion` only means something beside `protocol = proxy`: anywhere
/// else it is refused at its own line (also when inherited from the global
/// section), not ignored.
#[test]
fn proxy_version_without_protocol_proxy_is_refused_at_its_line() {
    let err = rstunnel::config::parse_text(
        "[s]\naccept = 1\nconnect = 2\ncert = /c.pem\nproxyVersion = v2\n",
        "d.conf",
    )
    .expect_err("no protocol");
    assert_eq!(
        err.to_string(),
        "d.conf:5: \"proxyVersion = v2\": \"proxyVersion\" needs \"protocol = proxy\""
    );
    let err = rstunnel::config::parse_text(
        "proxyVersion = v2\n[s]\naccept = 1\nconnect = 2\ncert = /c.pem\nprotocol = connect\n",
        "d.conf",
    )
    .expect_err("another protocol");
    assert_eq!(
        err.to_string(),
        "d.conf:1: \"proxyVersion = v2\": \"proxyVersion\" needs \"protocol = proxy\""
    );
    let err = rstunnel::config::parse_text(
        "[s]\naccept = 1\nconnect = 2\ncert = /c.pem\nprotocol = proxy\nproxyVersion = 2\n",
        "d.conf",
    )
    .expect_err("bad value");
    assert_eq!(
        err.to_string(),
        "d.conf:6: \"proxyVersion = 2\": Argument should be either 'v1' or 'v2'"
    );
    rstunnel::config::parse_text(
        "proxyVersion = v2\nprotocol = proxy\n[s]\naccept = 1\nconnect = 2\ncert = /c.pem\n",
        "d.conf",
    )
    .expect("inherited with its protocol");
    let (code, out) = common::check_config(&format!(
        "{}[s]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\ncert = /nonexistent\nproxyVersion = v2\n",
        header()
    ));
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(":8: \"proxyVersion = v2\": \"proxyVersion\" needs \"protocol = proxy\""),
        "{out}"
    );
}
