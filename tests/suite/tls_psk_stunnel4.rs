//! PSK (`PSKsecrets`, `PSKidentity`) between rstunnel and stunnel4, the 5.68
//! oracle, in both roles and between two rstunnels: TLS 1.3 (the default)
//! and TLS 1.2 as stunnel users write it (`sslVersion = TLSv1.2`, `ciphers =
//! PSK`). Each pair carries data byte-exact through an echo backend twice,
//! the second time on the session the first one left; a wrong secret or an
//! identity the server does not know is refused.
//!
//! The expected log lines are stunnel 5.68's, as it logs them against
//! itself: in TLS 1.3 OpenSSL counts the external PSK as a resumption, so
//! the client says `previous session reused` on the first connection too and
//! only the server shows which connection really resumed.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::net::{self, payload};
use common::{header, p, Daemon, Impl};

/// The server's secrets: a hexadecimal and an ASCII key.
const SECRETS: &str = "alice:00112233445566778899aabbccddeeff\nbob:correct horse battery staple\n";
/// `alice` with another key.
const WRONG_SECRET: &str = "alice:ffeeddccbbaa99887766554433221100\n";
/// An identity the server does not know, with alice's key.
const UNKNOWN_IDENTITY: &str = "mallory:00112233445566778899aabbccddeeff\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Tls13,
    Tls12,
}

impl Version {
    /// Service lines for both ends; TLS 1.3 is what the defaults negotiate.
    fn lines(self) -> &'static str {
        match self {
            Version::Tls13 => "",
            Version::Tls12 => "sslVersion = TLSv1.2\nciphers = PSK\n",
        }
    }

    /// The ciphersuite line both ends log: OpenSSL keys a TLS 1.3 external
    /// PSK to a SHA-256 suite; `ciphers = PSK` lets the server pick DHE-PSK.
    fn ciphersuite(self) -> &'static str {
        match self {
            Version::Tls13 => "TLSv1.3 ciphersuite: TLS_AES_128_GCM_SHA256 (128-bit encryption)",
            Version::Tls12 => "TLSv1.2 ciphersuite: DHE-PSK-AES256-GCM-SHA384 (256-bit encryption)",
        }
    }
}

/// A client-mode daemon in front of a server-mode daemon in front of an
/// echo backend.
struct Pair {
    server: Daemon,
    client: Daemon,
    _dir: tempfile::TempDir,
}

/// A secrets file readable by its owner only (stunnel warns otherwise).
fn secrets_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// Start the server with [`SECRETS`] and the client with `client_secrets`
/// (and `PSKidentity = identity` when given).
fn start_pair(
    client: Impl,
    server: Impl,
    version: Version,
    client_secrets: &str,
    identity: Option<&str>,
) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let server_file = secrets_file(dir.path(), "server.psk", SECRETS);
    let client_file = secrets_file(dir.path(), "client.psk", client_secrets);
    let echo = net::echo_server();
    let server = Daemon::start(
        server,
        &format!(
            "{}[server]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{echo}\nPSKsecrets = {}\n{}",
            header(),
            p(&server_file),
            version.lines()
        ),
    );
    let identity = identity
        .map(|id| format!("PSKidentity = {id}\n"))
        .unwrap_or_default();
    let client = Daemon::start(
        client,
        &format!(
            "{}[client]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{}\n\
             PSKsecrets = {}\n{identity}{}",
            header(),
            server.port("server"),
            p(&client_file),
            version.lines()
        ),
    );
    Pair {
        server,
        client,
        _dir: dir,
    }
}

impl Pair {
    /// Connection number `n` (stunnel's log id): 256 KiB through the pair
    /// and back, byte-exact, and both ends' closing lines.
    fn echo(&self, n: usize) {
        let data = payload(256 * 1024, n as u8);
        let mut conn = net::connect(self.client.port("client"));
        let writer = {
            let data = data.clone();
            let mut conn = conn.try_clone().unwrap();
            std::thread::spawn(move || {
                conn.write_all(&data)?;
                conn.shutdown(Shutdown::Write)
            })
        };
        let mut got = Vec::new();
        let read = conn.read_to_end(&mut got);
        let written = writer.join().unwrap();
        assert!(
            read.is_ok() && written.is_ok() && got == data,
            "connection {n}: read {read:?}, write {written:?}, got {} bytes back, expected {}\n\
             client log:\n{}\nserver log:\n{}",
            got.len(),
            data.len(),
            self.client.log.text(),
            self.server.log.text()
        );
        let closed = format!(
            "[{n}]: Connection closed: {0} byte(s) sent to TLS, {0} byte(s) sent to socket",
            data.len()
        );
        self.server.log.wait_for(&closed);
        self.client
            .log
            .wait_for(&format!("[{n}]: Connection closed"));
    }

    /// Connection `n` is refused: nothing comes back (the client daemon
    /// closes or resets the plain side), and both ends log the handshake
    /// failure.
    fn refused(&self, n: usize) {
        let mut conn = net::connect(self.client.port("client"));
        // The daemon may already have reset the socket; what matters is
        // that nothing comes back.
        let _ = conn.write_all(b"must not pass\n");
        let mut got = Vec::new();
        match conn.read_to_end(&mut got) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("connection {n}: {e}"),
        }
        assert!(got.is_empty(), "connection {n} got {got:?}");
        self.server.log.wait_for(&format!("[{n}]: SSL_accept: "));
        self.client.log.wait_for(&format!("[{n}]: SSL_connect: "));
        self.server.log.wait_for(&format!(
            "[{n}]: Connection reset/closed: 0 byte(s) sent to TLS, 0 byte(s) sent to socket"
        ));
    }
}

/// Two connections with the selected identity: both carry data; the first
/// is keyed by the PSK (server: `Key configured`, new session), the second
/// resumes the session the first one left.
fn psk_and_resumption(client: Impl, server: Impl, version: Version, identity: Option<&str>) {
    let pair = start_pair(client, server, version, SECRETS, identity);
    let id = identity.unwrap_or("alice");
    pair.echo(0);
    let (c, s) = (&pair.client.log, &pair.server.log);
    c.wait_for(&format!("[0]: PSK client configured for identity \"{id}\""));
    s.wait_for(&format!("[0]: Key configured for PSK identity \"{id}\""));
    s.wait_for("[0]: TLS accepted: new session negotiated");
    s.wait_for(&format!("[0]: {}", version.ciphersuite()));
    c.wait_for(&format!("[0]: {}", version.ciphersuite()));

    pair.echo(1);
    s.wait_for("[1]: TLS accepted: previous session reused");
    c.wait_for("[1]: TLS connected: previous session reused");
    s.wait_for(&format!("[1]: {}", version.ciphersuite()));
    match version {
        Version::Tls13 => {
            c.wait_for("[0]: TLS connected: previous session reused");
            // The ticket is offered first; the PSK callback does not know
            // it, OpenSSL then decrypts it.
            s.wait_for("[1]: PSK identity not found (session resumption?)");
        }
        Version::Tls12 => {
            c.wait_for("[0]: TLS connected: new session negotiated");
            // A TLS 1.2 resumption does not ask for the PSK again.
            assert!(!c.contains("[1]: PSK client configured"), "{}", c.text());
            assert!(!s.contains("[1]: Key configured"), "{}", s.text());
        }
    }
}

#[test]
fn rstunnel_client_to_stunnel4_server_tls13() {
    psk_and_resumption(Impl::Rstunnel, Impl::Stunnel4, Version::Tls13, None);
}

#[test]
fn rstunnel_client_to_stunnel4_server_tls12() {
    psk_and_resumption(Impl::Rstunnel, Impl::Stunnel4, Version::Tls12, Some("bob"));
}

#[test]
fn stunnel4_client_to_rstunnel_server_tls13() {
    psk_and_resumption(Impl::Stunnel4, Impl::Rstunnel, Version::Tls13, None);
}

#[test]
fn stunnel4_client_to_rstunnel_server_tls12() {
    psk_and_resumption(Impl::Stunnel4, Impl::Rstunnel, Version::Tls12, Some("bob"));
}

#[test]
fn rstunnel_client_to_rstunnel_server_tls13() {
    psk_and_resumption(Impl::Rstunnel, Impl::Rstunnel, Version::Tls13, Some("bob"));
}

#[test]
fn rstunnel_client_to_rstunnel_server_tls12() {
    psk_and_resumption(Impl::Rstunnel, Impl::Rstunnel, Version::Tls12, None);
}

/// A client whose key for `alice` differs, and one whose identity the
/// server does not have, are refused in both versions.
fn wrong_secret_and_unknown_identity(client: Impl, server: Impl) {
    for version in [Version::Tls13, Version::Tls12] {
        let pair = start_pair(client, server, version, WRONG_SECRET, None);
        pair.refused(0);
        pair.server
            .log
            .wait_for("[0]: Key configured for PSK identity \"alice\"");
        if version == Version::Tls13 {
            pair.server.log.wait_for("binder does not verify");
        }

        let pair = start_pair(client, server, version, UNKNOWN_IDENTITY, None);
        pair.refused(0);
        pair.client
            .log
            .wait_for("[0]: PSK client configured for identity \"mallory\"");
        pair.server
            .log
            .wait_for("[0]: PSK identity not found (session resumption?)");
    }
}

#[test]
fn stunnel4_server_refuses_wrong_rstunnel_client() {
    wrong_secret_and_unknown_identity(Impl::Rstunnel, Impl::Stunnel4);
}

#[test]
fn rstunnel_server_refuses_wrong_stunnel4_client() {
    wrong_secret_and_unknown_identity(Impl::Stunnel4, Impl::Rstunnel);
}
