//! What a server-mode TLS handshake established, as the plain facts the
//! PROXY v2 writer turns into TLVs (`protocol::TlsFacts`): read from the
//! finished connection through the openssl crate, nothing written back.
//! Computed only for services that write a v2 header, so stunnel's
//! configurations pay nothing for it.

use openssl::nid::Nid;
use openssl::pkey::Id;
use openssl::ssl::{NameType, SslRef};
use openssl::x509::{X509NameRef, X509Ref, X509VerifyResult};

use crate::config::model::{ProtocolKind, ProxyVersion, Service};
use crate::protocol::proxy_v2::ClientCert;
use crate::protocol::TlsFacts;
use crate::tls::TlsStream;

/// Does this service's protocol hook want the facts?
pub(super) fn wanted(service: &Service) -> bool {
    service
        .protocol
        .as_ref()
        .is_some_and(|p| p.kind == ProtocolKind::Proxy && p.proxy_version == ProxyVersion::V2)
}

pub(super) fn of<S>(tls: &TlsStream<S>) -> TlsFacts {
    let ssl = tls.ssl();
    let ours = ssl.certificate();
    TlsFacts {
        version: ssl.version_str().to_string(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default(),
        sni: ssl.servername(NameType::HOST_NAME).map(str::to_string),
        alpn: ssl.selected_alpn_protocol().map(<[u8]>::to_vec),
        client_cert: client_cert(ssl, tls.authenticated()),
        sig_alg: ours.map(signature_algorithm),
        key_alg: ours.and_then(key_algorithm),
    }
}

/// The client's certificate: its CN, whether it came in this handshake (a
/// resumed session only remembers it), and the verification result as
/// HAProxy reports it: 0 exactly when the connection is authenticated
/// (OpenSSL's chain check and stunnel's own checks passed).
fn client_cert(ssl: &SslRef, authenticated: bool) -> Option<ClientCert> {
    let cert = ssl.peer_certificate()?;
    let cn = common_name(cert.subject_name());
    let verify = match ssl.verify_result() {
        _ if authenticated => 0,
        r if r == X509VerifyResult::OK => 1,
        r => u32::try_from(r.as_raw()).unwrap_or(1).max(1),
    };
    Some(ClientCert {
        cn,
        this_connection: !ssl.session_reused(),
        verify,
    })
}

/// The first commonName of `name`. One with a NUL inside is left out: a
/// backend in C would read "alice\0.evil" as "alice".
fn common_name(name: &X509NameRef) -> Option<String> {
    name.entries_by_nid(Nid::COMMONNAME)
        .next()
        .and_then(|e| e.data().to_string().ok())
        .filter(|cn| !cn.contains('\0'))
}

/// `RSA-SHA256`, `ecdsa-with-SHA256`: OpenSSL's short name of the
/// signature algorithm of our certificate (HAProxy's SSL_SIG_ALG).
fn signature_algorithm(cert: &X509Ref) -> String {
    let nid = cert.signature_algorithm().object().nid();
    nid.short_name().unwrap_or("unknown").to_string()
}

/// `RSA2048`, `EC256`: our certificate's key type and size, as HAProxy
/// writes SSL_KEY_ALG.
fn key_algorithm(cert: &X509Ref) -> Option<String> {
    let key = cert.public_key().ok()?;
    let name = match key.id() {
        Id::RSA => "RSA".to_string(),
        Id::EC => "EC".to_string(),
        Id::DSA => "DSA".to_string(),
        other => Nid::from_raw(other.as_raw()).short_name().ok()?.to_string(),
    };
    Some(format!("{name}{}", key.bits()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::x509::X509Name;

    fn name(entries: &[&[u8]]) -> X509Name {
        let mut b = X509Name::builder().unwrap();
        for cn in entries {
            b.append_entry_by_nid(Nid::COMMONNAME, std::str::from_utf8(cn).unwrap())
                .unwrap();
        }
        b.build()
    }

    #[test]
    fn the_first_cn_unless_it_hides_a_nul() {
        assert_eq!(
            common_name(&name(&[b"alice", b"bob"])).as_deref(),
            Some("alice")
        );
        assert_eq!(common_name(&name(&[])), None);
        assert_eq!(common_name(&name(&[b"alice\0.evil"])), None);
        assert_eq!(
            common_name(&name(&["ż".repeat(40).as_bytes()])),
            Some("ż".repeat(40))
        );
    }
}
