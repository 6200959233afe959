//! Trial handshakes in memory: which (protocol version, cipher) pairs a
//! server context really accepts, for the `-test` report (`describe.rs`).
//!
//! Predicting acceptance from settings is guesswork (security level versus
//! signature algorithms, certificate type versus authentication, `curves`
//! versus ECDHE, `config` commands); running the handshake is not. Each
//! trial pairs a fresh `SSL` of the service's own context with a client
//! that allows everything (security level 0, exactly one version and one
//! cipher) over an in-memory pipe. When the context has no certificate
//! (`-test` does not read key files) a stand-in certificate with a key of
//! the configured certificate's type and size is used. Log lines of the
//! trials are suppressed. Not for contexts that serve connections: trials
//! add sessions to the context's cache.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::Path;
use std::rc::Rc;
use std::sync::{Mutex, OnceLock};

use openssl::asn1::Asn1Time;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::pkey::{Id, PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{
    HandshakeError, MidHandshakeSslStream, Ssl, SslContext, SslMethod, SslStream, SslVerifyMode,
    SslVersion,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use super::conn::{self, Conn};
use super::context::Inner;
use super::ffi;

/// The versions probed, oldest first, with OpenSSL's names; SSLv3 only
/// with an OpenSSL that has it (the legacy build).
fn versions() -> Vec<(SslVersion, &'static str)> {
    let ssl3 = super::library::reach().ssl3;
    ssl3.then_some((SslVersion::SSL3, "SSLv3"))
        .into_iter()
        .chain([
            (SslVersion::TLS1, "TLSv1"),
            (SslVersion::TLS1_1, "TLSv1.1"),
            (SslVersion::TLS1_2, "TLSv1.2"),
            (SslVersion::TLS1_3, "TLSv1.3"),
        ])
        .collect()
}

/// A certificate and key used in place of the configured ones.
pub struct StandIn {
    pub cert: X509,
    pub key: PKey<Private>,
}

/// The key type of a certificate, for the report and for a stand-in.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyShape {
    Rsa(u32),
    Ec(openssl::nid::Nid),
    Ed25519,
    Ed448,
}

impl KeyShape {
    /// The shape of the first certificate in `path` (PEM or DER), or of a
    /// PKCS#12 bundle's certificate when no password protects it (`-test`
    /// asks for none).
    pub fn of_file(path: &Path) -> Option<KeyShape> {
        let data = std::fs::read(path).ok()?;
        if super::certs::is_pkcs12(path) {
            let parsed = openssl::pkcs12::Pkcs12::from_der(&data)
                .ok()?
                .parse2("")
                .ok()?;
            return KeyShape::of_cert(parsed.cert.as_ref()?);
        }
        let cert = X509::from_pem(&data)
            .or_else(|_| X509::from_der(&data))
            .ok()?;
        KeyShape::of_cert(&cert)
    }

    pub fn of_cert(cert: &openssl::x509::X509Ref) -> Option<KeyShape> {
        let key = cert.public_key().ok()?;
        match key.id() {
            Id::RSA => Some(KeyShape::Rsa(key.bits())),
            Id::EC => Some(KeyShape::Ec(key.ec_key().ok()?.group().curve_name()?)),
            Id::ED25519 => Some(KeyShape::Ed25519),
            Id::ED448 => Some(KeyShape::Ed448),
            _ => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            KeyShape::Rsa(bits) => format!("RSA {bits} bits"),
            KeyShape::Ec(nid) => format!("EC {}", ffi::curve_name(nid.as_raw())),
            KeyShape::Ed25519 => "Ed25519".to_string(),
            KeyShape::Ed448 => "Ed448".to_string(),
        }
    }

    /// A self-signed certificate with a new key of this shape (cached: RSA
    /// key generation is slow).
    pub fn stand_in(&self) -> Option<std::sync::Arc<StandIn>> {
        type Cache = Mutex<Vec<(KeyShape, std::sync::Arc<StandIn>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, s)) = cache.iter().find(|(k, _)| k == self) {
            return Some(s.clone());
        }
        let made = std::sync::Arc::new(self.make()?);
        cache.push((self.clone(), made.clone()));
        Some(made)
    }

    fn make(&self) -> Option<StandIn> {
        let (key, digest) = match self {
            KeyShape::Rsa(bits) => (
                PKey::from_rsa(Rsa::generate(*bits).ok()?).ok()?,
                Some(MessageDigest::sha256()),
            ),
            KeyShape::Ec(nid) => {
                let group = EcGroup::from_curve_name(*nid).ok()?;
                (
                    PKey::from_ec_key(EcKey::generate(&group).ok()?).ok()?,
                    Some(MessageDigest::sha256()),
                )
            }
            KeyShape::Ed25519 => (PKey::generate_ed25519().ok()?, None),
            KeyShape::Ed448 => (PKey::generate_ed448().ok()?, None),
        };
        let mut name = X509NameBuilder::new().ok()?;
        name.append_entry_by_text("CN", "rstunnel -test stand-in")
            .ok()?;
        let name = name.build();
        let mut b = X509Builder::new().ok()?;
        b.set_version(2).ok()?;
        b.set_subject_name(&name).ok()?;
        b.set_issuer_name(&name).ok()?;
        b.set_pubkey(&key).ok()?;
        let (from, until) = (
            Asn1Time::days_from_now(0).ok()?,
            Asn1Time::days_from_now(1).ok()?,
        );
        b.set_not_before(&from).ok()?;
        b.set_not_after(&until).ok()?;
        match digest {
            Some(d) => b.sign(&key, d).ok()?,
            None => b.sign(&key, MessageDigest::null()).ok()?,
        }
        Some(StandIn {
            cert: b.build(),
            key,
        })
    }
}

/// Per version (oldest first): the ciphers a client offering only that
/// version and only that cipher gets accepted with. `Err` when the
/// stand-in certificate is refused (e.g. `ee key too small`).
pub fn accepted(
    inner: &Inner,
    stand_in: Option<&StandIn>,
) -> Result<Vec<(&'static str, Vec<String>)>, String> {
    crate::log::quiet(|| {
        let _ = openssl::error::ErrorStack::get();
        if let Some(s) = stand_in {
            // The same checks SSL_CTX_use_certificate would make.
            let mut ssl = Ssl::new(&inner.ctx).map_err(|e| e.to_string())?;
            ssl.set_certificate(&s.cert)
                .and_then(|_| ssl.set_private_key(&s.key))
                .map_err(|e| {
                    e.errors()
                        .first()
                        .and_then(|x| x.reason())
                        .unwrap_or("refused")
                        .to_string()
                })?;
        }
        let client = client_context(inner).ok_or("cannot create a client context")?;
        let candidates = ffi::context_cipher_names(&inner.ctx);
        let mut out = Vec::new();
        for (version, name) in versions() {
            let tls13 = version == SslVersion::TLS1_3;
            let accepted = candidates
                .iter()
                .filter(|c| c.starts_with("TLS_") == tls13)
                .filter(|c| trial(inner, stand_in, &client, version, name, c) == Some(true))
                .cloned()
                .collect();
            out.push((name, accepted));
        }
        let _ = openssl::error::ErrorStack::get();
        Ok(out)
    })
}

/// The permissive client: no verification, the service's first PSK
/// identity when it has PSK secrets.
fn client_context(inner: &Inner) -> Option<SslContext> {
    let mut b = SslContext::builder(SslMethod::tls_client()).ok()?;
    b.set_verify(SslVerifyMode::NONE);
    b.clear_options(openssl::ssl::SslOptions::NO_SSLV3);
    if let Some((id, key)) = inner.policy.psk.first().cloned() {
        b.set_psk_client_callback(move |_ssl, _hint, identity, psk| {
            if id.len() >= identity.len() || key.len() > psk.len() {
                return Ok(0);
            }
            identity[..id.len()].copy_from_slice(id.as_bytes());
            identity[id.len()] = 0;
            psk[..key.len()].copy_from_slice(&key);
            Ok(key.len())
        });
    }
    Some(b.build())
}

/// One handshake: `Some(true)` accepted with exactly this pair,
/// `Some(false)` refused, `None` when the client cannot offer the pair.
fn trial(
    inner: &Inner,
    stand_in: Option<&StandIn>,
    client: &SslContext,
    version: SslVersion,
    version_name: &str,
    cipher: &str,
) -> Option<bool> {
    let mut c = Ssl::new(client).ok()?;
    c.set_min_proto_version(Some(version)).ok()?;
    c.set_max_proto_version(Some(version)).ok()?;
    if version == SslVersion::TLS1_3 {
        c.set_ciphersuites(cipher).ok()?;
    } else {
        c.set_cipher_list(&format!("{cipher}:@SECLEVEL=0")).ok()?;
    }
    c.set_security_level(0);

    let mut s = Ssl::new(&inner.ctx).ok()?;
    s.set_ex_data(
        conn::index()?,
        Conn::new(inner.policy.clone(), inner.tickets.clone()),
    );
    // Client certificates do not decide ciphers.
    s.set_verify(SslVerifyMode::NONE);
    if let Some(si) = stand_in {
        s.set_certificate(&si.cert).ok()?;
        s.set_private_key(&si.key).ok()?;
    }

    let (to_server, to_client) = (Pipe::default(), Pipe::default());
    let client_end = End {
        rx: to_client.clone(),
        tx: to_server.clone(),
    };
    let server_end = End {
        rx: to_server.clone(),
        tx: to_client,
    };
    let mut client_side = match Side::start(c.connect(client_end)) {
        Some(side) => side,
        // Failed before a ClientHello was written: not offerable.
        None if to_server.borrow().is_empty() => return None,
        None => return Some(false),
    };
    let mut server_side = Side::start(s.accept(server_end));
    // A full handshake is at most a handful of flights each way.
    for _ in 0..12 {
        let Some(server) = server_side.and_then(Side::step) else {
            return Some(false);
        };
        client_side = match client_side.step() {
            Some(side) => side,
            None => return Some(false),
        };
        if let (Side::Done(cs), Side::Done(_)) = (&client_side, &server) {
            let got = cs.ssl().current_cipher().map(|x| x.name());
            return Some(cs.ssl().version_str() == version_name && got == Some(cipher));
        }
        server_side = Some(server);
    }
    Some(false)
}

type Pipe = Rc<RefCell<VecDeque<u8>>>;

/// One end of an in-memory connection.
struct End {
    rx: Pipe,
    tx: Pipe,
}

impl Read for End {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut rx = self.rx.borrow_mut();
        if rx.is_empty() {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        let n = out.len().min(rx.len());
        for (dst, src) in out.iter_mut().zip(rx.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Side {
    Mid(MidHandshakeSslStream<End>),
    Done(SslStream<End>),
}

impl Side {
    fn start(r: Result<SslStream<End>, HandshakeError<End>>) -> Option<Side> {
        match r {
            Ok(s) => Some(Side::Done(s)),
            Err(HandshakeError::WouldBlock(m)) => Some(Side::Mid(m)),
            Err(_) => None,
        }
    }

    fn step(self) -> Option<Side> {
        match self {
            Side::Done(s) => Some(Side::Done(s)),
            Side::Mid(m) => Side::start(m.handshake()),
        }
    }
}
