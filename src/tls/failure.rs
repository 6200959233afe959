//! Why a handshake failed, in the few causes an operator alerts on
//! (`rstunnel_handshake_failures_total{cause}`): read from OpenSSL's
//! reason strings (the same ones stunnel logs) and, for certificates, the
//! verification result.

use openssl::ssl::SslRef;
use openssl::x509::X509VerifyResult;

use super::errors::TlsError;
use crate::metrics::HandshakeFailure;

/// `X509_V_ERR_CERT_REVOKED`: a CRL or OCSP answer lists the certificate.
const CERT_REVOKED: i32 = 23;

const VERSION: [&str; 6] = [
    "unsupported protocol",
    "version too low",
    "protocol version",
    "no protocols available",
    "wrong ssl version",
    "unsupported ssl version",
];
const CIPHER: [&str; 4] = [
    "no shared cipher",
    "no ciphers available",
    "no shared signature algorithms",
    "no suitable key share",
];
const CERT_MISSING: [&str; 2] = ["peer did not return a certificate", "certificate required"];

pub(super) fn classify(err: &TlsError, ssl: &SslRef, e: &openssl::ssl::Error) -> HandshakeFailure {
    let any = |texts: &[&str]| texts.iter().any(|t| err.mentions(t));
    if e.ssl_error().is_none() || err.mentions("unexpected eof while reading") {
        // A socket error, or EOF (queued by OpenSSL 3 as `unexpected eof
        // while reading`): the peer went away (a TCP probe, a client that
        // gave up).
        return HandshakeFailure::PeerClosed;
    }
    if any(&CERT_MISSING) {
        return HandshakeFailure::ClientCertMissing;
    }
    let verify = ssl.verify_result();
    if err.mentions("certificate verify failed") || verify != X509VerifyResult::OK {
        if verify.as_raw() == CERT_REVOKED {
            return HandshakeFailure::ClientCertRevoked;
        }
        if err.mentions("certificate verify failed") {
            return HandshakeFailure::ClientCertUntrusted;
        }
    }
    if any(&VERSION) {
        return HandshakeFailure::ProtocolVersion;
    }
    if any(&CIPHER) {
        return HandshakeFailure::NoSharedCipher;
    }
    HandshakeFailure::Other
}
