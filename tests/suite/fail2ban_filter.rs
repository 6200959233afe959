//! The fail2ban filter `conf/fail2ban/filter.d/rstunnel.conf`, run through
//! Debian's `fail2ban-regex` on real logs: stunnel4 (the oracle) and rstunnel
//! serving a `verifyChain = yes` service while `openssl s_client` fails
//! client-certificate handshakes next to a successful connection, plus a
//! hand-written log with interleaved ids, syslog forms, IPv6 and two
//! processes reusing one id.
//!
//! A skipped test says so on stderr (`fail2ban-regex` missing: install the
//! `fail2ban` package, listed in scripts/test-deps).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::tls_pki::{make_pki, Pki};
use common::{header, net, p, run_cmd, Daemon, Impl};
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};

const FILTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/conf/fail2ban/filter.d/rstunnel.conf"
);
const COMMON_CONF: &str = "/etc/fail2ban/filter.d/common.conf";

/// `fail2ban-regex` is usable here, or the test is skipped with a message.
fn have_fail2ban(test: &str) -> bool {
    let ok = Command::new("fail2ban-regex")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
        && Path::new(COMMON_CONF).is_file();
    if !ok {
        common::must_run::cannot_run(
            test,
            &format!("fail2ban-regex or {COMMON_CONF} missing (apt package fail2ban)"),
        );
    }
    ok
}

/// Run our filter (in `mode`) over `log`; return one `"<ip> <service>"` per
/// failure fail2ban counts. The filter is copied next to Debian's
/// `common.conf`, which it includes, as it would be in /etc/fail2ban.
fn failures(log: &Path, mode: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let filter_d = dir.path().join("filter.d");
    std::fs::create_dir(&filter_d).unwrap();
    std::fs::copy(COMMON_CONF, filter_d.join("common.conf")).unwrap();
    std::fs::copy(FILTER, filter_d.join("rstunnel.conf")).unwrap();
    let filter = format!("{}[mode={mode}]", filter_d.join("rstunnel.conf").display());
    let (ok, out, err) = run_cmd(
        Command::new("fail2ban-regex")
            .args(["-o", "<ip> <F-SERVICE>"])
            .arg(log)
            .arg(filter),
    );
    assert!(ok, "fail2ban-regex failed:\n{out}\n{err}");
    out.lines().map(str::to_string).collect()
}

/// A TLS client with the trusted client certificate, kept open.
fn good_client(pki: &Pki, port: u16) -> openssl::ssl::SslStream<TcpStream> {
    let mut b = SslConnector::builder(SslMethod::tls()).unwrap();
    b.set_ca_file(&pki.ca).unwrap();
    b.set_certificate_file(&pki.client_cert, SslFiletype::PEM)
        .unwrap();
    b.set_private_key_file(&pki.client_key, SslFiletype::PEM)
        .unwrap();
    b.set_verify(SslVerifyMode::PEER);
    let tcp = net::connect(port);
    let mut tls = b.build().connect("localhost", tcp).unwrap();
    tls.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    tls.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping");
    tls
}

/// `openssl s_client` handshakes that the server must refuse: `extra` adds
/// (or omits) the client certificate.
fn s_client(port: u16, ca: &Path, extra: &[&PathBuf]) {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .arg("-CAfile")
        .arg(ca);
    for (flag, path) in ["-cert", "-key"].iter().zip(extra) {
        cmd.arg(flag).arg(path);
    }
    // The outcome is read from the server's log, not from s_client.
    let _ = run_cmd(&mut cmd);
}

/// Fail four handshakes (no client certificate, an untrusted one, plain
/// HTTP, a TCP close mid-handshake) while one good connection stays open
/// across them; return the `output` log file.
fn failed_handshakes_log(imp: Impl, work: &Path) -> PathBuf {
    let pki = make_pki(work);
    let out = work.join("tunnel.log");
    let echo = net::echo_server();
    let daemon = Daemon::start(
        imp,
        &format!(
            "{}output = {}\n[srv]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{echo}\n\
             cert = {}\nCAfile = {}\nverifyChain = yes\n",
            header(),
            p(&out),
            p(&pki.combined),
            p(&pki.ca)
        ),
    );
    let port = daemon.port("srv");
    let good = good_client(&pki, port);
    daemon.log.wait_for("Certificate accepted at depth=0:");

    s_client(port, &pki.ca, &[]);
    daemon.log.wait_for("peer did not return a certificate");
    s_client(
        port,
        &pki.ca,
        &[&pki.untrusted_client_cert, &pki.untrusted_client_key],
    );
    daemon.log.wait_for("certificate verify failed");
    let mut http = net::connect(port);
    http.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    // stunnel answers with a TCP reset: read until it comes.
    let _ = http.read_to_end(&mut Vec::new());
    daemon.log.wait_for("http request");
    drop(net::connect(port));
    daemon.log.wait_for_nth("SSL_accept:", 4);
    daemon.log.wait_for_nth("Connection reset", 4);

    drop(good);
    daemon.log.wait_for("Connection closed:");
    out
}

fn filter_counts_failed_handshakes(imp: Impl) {
    let work = tempfile::tempdir().unwrap();
    let log = failed_handshakes_log(imp, work.path());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.matches("accepted connection from 127.0.0.1:").count(),
        5,
        "{imp:?} log:\n{text}"
    );
    // normal: the two certificate refusals and the HTTP request; not the
    // good connection, not the bare close.
    let normal = failures(&log, "normal");
    assert_eq!(normal, vec!["127.0.0.1 srv"; 3], "{imp:?} log:\n{text}");
    // aggressive: the bare close counts too.
    let aggressive = failures(&log, "aggressive");
    assert_eq!(aggressive, vec!["127.0.0.1 srv"; 4], "{imp:?} log:\n{text}");
}

#[test]
fn filter_counts_stunnel4_failed_handshakes() {
    if have_fail2ban("filter_counts_stunnel4_failed_handshakes") {
        filter_counts_failed_handshakes(Impl::Stunnel4);
    }
}

#[test]
fn filter_counts_rstunnel_failed_handshakes() {
    if have_fail2ban("filter_counts_rstunnel_failed_handshakes") {
        filter_counts_failed_handshakes(Impl::Rstunnel);
    }
}

/// Lines of several connections interleave; syslog and file forms mix; two
/// processes log the same id 3 to syslog (only the one whose handshake
/// fails counts); IPv6 and IPv4-mapped addresses; successful connections
/// (with and without a certificate line) never count.
#[test]
fn filter_correlates_by_connection_id_and_process() {
    if !have_fail2ban("filter_correlates_by_connection_id_and_process") {
        return;
    }
    let log = "\
2026.11.23 09:31:03 LOG5[ui]: Configuration successful
2026.11.23 09:31:03 LOG5[7]: Service [srv] accepted connection from 2001:db8::7:40274
2026.11.23 09:31:03 LOG5[8]: Service [imaps] accepted connection from ::ffff:192.0.2.10:5000
2026.11.23 09:31:03 LOG5[9]: Service [srv] accepted connection from 192.0.2.99:5001
Nov 23 09:31:04 gw stunnel: LOG5[3]: Service [a] accepted connection from 198.51.100.4:1234
Nov 23 09:31:04 gw rstunnel[812]: LOG5[3]: Service [b] accepted connection from 198.51.100.5:1234
2026.11.23 09:31:04 LOG5[9]: Certificate accepted at depth=0: CN=client
Nov 23 09:31:04 gw rstunnel[812]: LOG4[3]: Rejected by CERT at depth=0: CN=badclient
Nov 23 09:31:04 gw rstunnel[812]: LOG3[3]: SSL_accept: ../ssl/statem/statem_srvr.c:3530: error:0A000086:SSL routines::certificate verify failed
Nov 23 09:31:04 gw stunnel: LOG5[3]: Connection closed: 10 byte(s) sent to TLS, 12 byte(s) sent to socket
Nov 23 09:31:04 gw rstunnel[812]: LOG5[3]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket
2026.11.23 09:31:05 LOG3[8]: SSL_accept: ../ssl/record/ssl3_record.c:341: error:0A00009C:SSL routines::http request
2026.11.23 09:31:05 LOG5[8]: Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket
2026.11.23 09:31:05 LOG3[7]: SSL_accept: Peer suddenly disconnected
2026.11.23 09:31:05 LOG5[7]: Connection reset: 0 byte(s) sent to TLS, 0 byte(s) sent to socket
2026.11.23 09:31:06 LOG3[9]: transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset
2026.11.23 09:31:06 LOG5[9]: Connection reset: 100 byte(s) sent to TLS, 20 byte(s) sent to socket
2026.11.23 09:31:07 LOG5[10]: Service [srv] accepted connection from 192.0.2.11:5002
2026.11.23 09:31:07 LOG3[10]: SSL_accept: ../ssl/statem/statem_srvr.c:3517: error:0A0000C7:SSL routines::peer did not return a certificate
2026.11.23 09:31:07 LOG5[10]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket
2026.11.23 09:31:08 LOG5[11]: Service [srv] accepted connection from 192.0.2.12:5003
2026.11.23 09:31:08 LOG3[11]: SSL_accept: ../ssl/record/rec_layer_s3.c:318: error:0A000126:SSL routines::unexpected eof while reading
2026.11.23 09:31:08 LOG5[11]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket
";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.log");
    std::fs::write(&path, log).unwrap();
    assert_eq!(
        failures(&path, "normal"),
        ["198.51.100.5 b", "192.0.2.10 imaps", "192.0.2.11 srv"]
    );
    assert_eq!(
        failures(&path, "aggressive"),
        [
            "198.51.100.5 b",
            "192.0.2.10 imaps",
            "2001:db8::7 srv",
            "192.0.2.11 srv",
            "192.0.2.12 srv"
        ]
    );
}
