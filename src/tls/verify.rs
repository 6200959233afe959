//! Peer verification with stunnel's semantics (stunnel-reference §6.6):
//! the verify mode from the four flags and the verify callback with its
//! log lines (`Certificate accepted at depth=D: SUBJECT`, `Rejected by CERT
//! at depth=D: …`, `CERT: Pre-verification error: …`).
//!
//! The callback reads the *active* policy of the connection (SNI may have
//! switched it), so one function serves every context. Loading CAs and
//! CRLs is `certs.rs`'s job; this file only decides.

use std::sync::atomic::Ordering;

use openssl::ssl::SslVerifyMode;
use openssl::x509::{X509StoreContext, X509StoreContextRef, X509VerifyResult};

use crate::config::model::VerifyFlags;

use super::conn::{self, Policy};
use super::ffi;

const ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: i32 = 20;
const ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: i32 = 21;
const ERR_CERT_UNTRUSTED: i32 = 27;
const ERR_CERT_REJECTED: i32 = 28;
const ERR_APPLICATION_VERIFICATION: i32 = 50;

/// `request` → SSL_VERIFY_PEER; `require` without `redirect` → also
/// FAIL_IF_NO_PEER_CERT.
pub fn mode(flags: &VerifyFlags, redirect: bool) -> SslVerifyMode {
    let mut mode = SslVerifyMode::NONE;
    if flags.request {
        mode |= SslVerifyMode::PEER;
        if flags.require && !redirect {
            mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
        }
    }
    mode
}

/// The verify callback installed on every context (and re-installed on the
/// `SSL` by the SNI switch with the secondary's mode).
pub fn callback(preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    let accepted = super::guard::contained("verify", || false, || decide(preverify_ok, store));
    if accepted {
        // A failure let through (`redirect`, an ignorable `verifyPeer`
        // error) leaves OpenSSL's reasons on this thread's error queue; the
        // next SSL_read on this thread would report them as its own error
        // and reset a connection that did nothing wrong.
        let _ = openssl::error::ErrorStack::get();
    }
    accepted
}

fn decide(preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    let Some(conn) = X509StoreContext::ssl_idx()
        .ok()
        .and_then(|idx| store.ex_data(idx))
        .and_then(conn::get)
        .cloned()
    else {
        return preverify_ok;
    };
    let policy = conn.policy();
    if !policy.verify.chain && !policy.verify.peer {
        crate::slog!(crate::log::INFO, "Certificate verification disabled");
        return true;
    }
    if checks(&policy, preverify_ok, store) {
        // Keep a failure of a deeper certificate visible in the result that
        // travels with the session (used for `redirect`).
        let result = if conn.verify_failed.load(Ordering::SeqCst) {
            ERR_APPLICATION_VERIFICATION
        } else {
            0
        };
        store.set_error(ffi::verify_result(result));
        return true;
    }
    if policy.client {
        return false;
    }
    if policy.redirect {
        // Let the handshake finish; the connection goes to `redirect`.
        conn.verify_failed.store(true, Ordering::SeqCst);
        if store.error() == X509VerifyResult::OK {
            store.set_error(ffi::verify_result(ERR_APPLICATION_VERIFICATION));
        }
        return true;
    }
    false
}

/// stunnel's `verify_checks`: certificate checks, then the verdict lines.
fn checks(policy: &Policy, preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    let depth = store.error_depth();
    let subject = store
        .current_cert()
        .map(|c| ffi::name_text(c.subject_name()))
        .unwrap_or_default();
    crate::slog!(
        crate::log::DEBUG,
        "Verification started at depth={depth}: {subject}"
    );
    if !cert_check(policy, preverify_ok, store) {
        crate::slog!(
            crate::log::WARNING,
            "Rejected by CERT at depth={depth}: {subject}"
        );
        return false;
    }
    if let Some(settings) = &policy.ocsp {
        if !super::ocsp::check(settings, store) {
            crate::slog!(
                crate::log::WARNING,
                "Rejected by OCSP at depth={depth}: {subject}"
            );
            return false;
        }
    }
    let level = if depth == 0 {
        crate::log::NOTICE
    } else {
        crate::log::INFO
    };
    crate::slog!(level, "Certificate accepted at depth={depth}: {subject}");
    true
}

/// stunnel's `cert_check`: pre-verification result, then the depth-0
/// subject checks and the `verifyPeer` local-store match.
fn cert_check(policy: &Policy, preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    let err = store.error();
    let depth = store.error_depth();
    if preverify_ok {
        crate::slog!(crate::log::DEBUG, "CERT: Pre-verification succeeded");
    } else {
        let code = err.as_raw();
        let ignorable = code == ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
            || code == ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
            || code == ERR_CERT_UNTRUSTED;
        if policy.verify.chain || (depth == 0 && !ignorable) {
            crate::slog!(
                crate::log::WARNING,
                "CERT: Pre-verification error: {}",
                err.error_string()
            );
            return false;
        }
        crate::slog!(
            crate::log::INFO,
            "CERT: Pre-verification error ignored: {}",
            err.error_string()
        );
    }
    if depth == 0 {
        if !subject_checks(policy, store) {
            return false;
        }
        if policy.verify.peer && !local_match(store) {
            return false;
        }
    }
    true
}

/// `checkHost` / `checkEmail` / `checkIP`: any match accepts.
fn subject_checks(policy: &Policy, store: &X509StoreContextRef) -> bool {
    if policy.check_host.is_empty() && policy.check_email.is_empty() && policy.check_ip.is_empty() {
        crate::slog!(crate::log::INFO, "CERT: No subject checks configured");
        return true;
    }
    let Some(cert) = store.current_cert() else {
        return false;
    };
    for host in &policy.check_host {
        if let Some(matched) = ffi::check_host(cert, host) {
            crate::slog!(
                crate::log::INFO,
                "CERT: Host name \"{host}\" matched with \"{matched}\""
            );
            return true;
        }
    }
    for email in &policy.check_email {
        if ffi::check_email(cert, email) {
            crate::slog!(crate::log::INFO, "CERT: Email address \"{email}\" matched");
            return true;
        }
    }
    for ip in &policy.check_ip {
        if ffi::check_ip(cert, ip) {
            crate::slog!(crate::log::INFO, "CERT: IP address \"{ip}\" matched");
            return true;
        }
    }
    crate::slog!(crate::log::WARNING, "CERT: Subject checks failed");
    false
}

/// `verifyPeer`: a trusted certificate with the same subject and an
/// identical public key.
fn local_match(store: &mut X509StoreContextRef) -> bool {
    let Some(cert) = store.current_cert().map(|c| c.to_owned()) else {
        return false;
    };
    let key = cert.public_key().ok();
    let candidates = ffi::store_certs_by_subject(store, cert.subject_name());
    let matched = candidates.iter().any(|c| match (&key, c.public_key()) {
        (Some(a), Ok(b)) => a.public_eq(&b),
        _ => false,
    });
    if matched {
        crate::slog!(
            crate::log::INFO,
            "CERT: Locally installed certificate matched"
        );
        return true;
    }
    crate::slog!(
        crate::log::WARNING,
        "CERT: Certificate not found in local repository"
    );
    store.set_error(ffi::verify_result(ERR_CERT_REJECTED));
    false
}
