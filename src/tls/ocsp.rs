//! Client-driven OCSP checks of the peer chain, as stunnel 5.68 does them
//! (stunnel-reference §5.16 and the `OCSP*` rows of §3.2), with 5.71's
//! `OCSPrequire` and `TIMEOUTocsp`.
//!
//! For every certificate of the peer's chain except a root (subject and
//! issuer names equal, as stunnel decides; a leaf whose issuer is missing
//! from the chain is checked too), from the verify callback after the
//! certificate checks passed: ask the `OCSP` responder, then (`OCSPaia =
//! yes`) the responders of the certificate's AIA extension until one is
//! conclusive. Every source asked must say good, so a good answer does
//! not end the check: the first revoked answer rejects
//! (`X509_V_ERR_CERT_REVOKED`, so the peer gets a "certificate revoked"
//! alert) and the first inconclusive one rejects unless `OCSPrequire =
//! no` tolerates it. A certificate without AIA responders adds no source.
//! Per request the 5.68 lines: `OCSP: Status: good`, `OCSP: This update:
//! …`, `OCSP: Certificate accepted` / `OCSP: Certificate revoked`.
//!
//! Why inside the (synchronous) verify callback, blocking: that is where
//! stunnel decides, so the peer gets the alert during the handshake, the
//! log order stays `OCSP: …` before `Certificate accepted at depth=0`, and
//! a revoked intermediate stops verification at its own depth. A check
//! after the handshake would let a TLS 1.3 peer consider itself connected
//! and send data first. The cost is one blocked thread per check for at
//! most `TIMEOUTocsp`: on tokio's multi-thread runtime the wait runs in
//! `block_in_place`, so the worker's other tasks move to another thread
//! (stunnel blocks its connection thread the same way). Server-side
//! stapling (`OCSPstapling`, an rstunnel extension: 5.68 has none) is in
//! `stapling`.

use std::sync::Arc;
use std::time::Duration;

use openssl::hash::MessageDigest;
use openssl::ocsp::{OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse};
use openssl::stack::StackRef;
use openssl::x509::{X509Ref, X509StoreContextRef, X509};

use crate::config::model::Service;

use super::errors::TlsError;
use super::{ffi, ocsp_http};

const ERR_APPLICATION_VERIFICATION: i32 = 50;
const ERR_CERT_REVOKED: i32 = 23;

/// A service's OCSP settings (present when `OCSP` or `OCSPaia` is set).
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: Option<String>,
    pub aia: bool,
    /// `OCSPflag` bits for `OCSP_basic_verify`.
    pub flags: u64,
    pub nonce: bool,
    /// `OCSPrequire`: an inconclusive result rejects.
    pub require: bool,
    /// `TIMEOUTocsp` for the whole exchange with one responder.
    pub timeout: Option<Duration>,
}

impl Settings {
    pub fn of(service: &Service) -> Option<Arc<Settings>> {
        let tls = &service.options;
        (tls.ocsp_url.is_some() || tls.ocsp_aia).then(|| {
            Arc::new(Settings {
                url: tls.ocsp_url.clone(),
                aia: tls.ocsp_aia,
                flags: tls.ocsp_flags,
                nonce: tls.ocsp_nonce,
                require: tls.ocsp_require,
                timeout: service.options.timeouts.ocsp,
            })
        })
    }
}

/// What one responder said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Good,
    Revoked,
    Unknown,
}

/// stunnel's `ocsp_check` for the certificate at the store's current
/// depth. `false` rejects; the store's error is set accordingly.
pub fn check(settings: &Settings, store: &mut X509StoreContextRef) -> bool {
    let depth = store.error_depth() as usize;
    let found = store.chain().and_then(|chain| {
        let cert = chain.get(depth)?.to_owned();
        let issuer = current_issuer(chain, depth)?;
        let chain: Vec<X509> = chain.iter().map(|c| c.to_owned()).collect();
        Some((cert, issuer, chain))
    });
    let Some((cert, issuer, chain)) = found else {
        crate::slog!(
            crate::log::ERR,
            "OCSP: Failed to get the current certificate"
        );
        store.set_error(ffi::verify_result(ERR_APPLICATION_VERIFICATION));
        return false;
    };
    if is_self_issued(&cert) {
        crate::slog!(crate::log::DEBUG, "OCSP: Ignoring root certificate");
        return true;
    }
    let verdict = run_blocking(|| {
        ask_responders(settings, &cert, |url| {
            request(settings, store, &cert, &issuer, &chain, url)
        })
    });
    match verdict {
        Verdict::Good => true,
        Verdict::Revoked => {
            store.set_error(ffi::verify_result(ERR_CERT_REVOKED));
            false
        }
        Verdict::Unknown if settings.require => {
            // 5.68 rejects silently here (the caller logs `Rejected by
            // OCSP at depth=…`); 5.71's extra line would break parity.
            store.set_error(ffi::verify_result(ERR_APPLICATION_VERIFICATION));
            false
        }
        Verdict::Unknown => {
            crate::slog!(crate::log::NOTICE, "OCSP: Accepted (OCSPrequire = no)");
            true
        }
    }
}

/// stunnel 5.68's order: the configured responder, then (`OCSPaia`) the
/// certificate's AIA responders, the first conclusive one of those
/// deciding for them. Each source asked must say good: a revoked answer
/// from either rejects, so a good configured answer does not end the
/// check. An inconclusive source rejects at once, unless `OCSPrequire =
/// no` (5.71) tolerates it; then the next source is still asked, as its
/// "revoked" must still reject. A certificate without AIA responders adds
/// no source (stunnel accepts it without asking).
fn ask_responders(
    settings: &Settings,
    cert: &X509Ref,
    mut ask: impl FnMut(&str) -> Verdict,
) -> Verdict {
    let mut tolerated = false;
    if let Some(url) = &settings.url {
        crate::slog!(
            crate::log::NOTICE,
            "OCSP: Connecting the configured responder \"{url}\""
        );
        if let Some(end) = settle(ask(url), settings, &mut tolerated) {
            return end;
        }
    }
    let aia = if settings.aia {
        aia_responders(cert)
    } else {
        Vec::new()
    };
    if !aia.is_empty() {
        let mut verdict = Verdict::Unknown;
        for url in &aia {
            crate::slog!(
                crate::log::NOTICE,
                "OCSP: Connecting the AIA responder \"{url}\""
            );
            verdict = ask(url);
            if verdict != Verdict::Unknown {
                break;
            }
        }
        if let Some(end) = settle(verdict, settings, &mut tolerated) {
            return end;
        }
    }
    if tolerated {
        Verdict::Unknown
    } else {
        Verdict::Good
    }
}

/// One source's answer: `Some` ends the check with it; `None` goes on
/// (good, or inconclusive and tolerated, which `tolerated` remembers).
fn settle(verdict: Verdict, settings: &Settings, tolerated: &mut bool) -> Option<Verdict> {
    match verdict {
        Verdict::Good => None,
        Verdict::Unknown if !settings.require => {
            *tolerated = true;
            None
        }
        end => Some(end),
    }
}

/// The OCSP URLs of the certificate's Authority Information Access.
fn aia_responders(cert: &X509Ref) -> Vec<String> {
    cert.ocsp_responders()
        .map(|urls| urls.iter().map(|u| u.to_string()).collect())
        .unwrap_or_default()
}

/// stunnel's root test: subject and issuer names are equal. Not "has no
/// issuer in the chain": with `verifyPeer` and only the leaf trusted the
/// chain ends at the leaf, and skipping it would accept a revoked peer.
fn is_self_issued(cert: &X509Ref) -> bool {
    matches!(
        cert.subject_name().try_cmp(cert.issuer_name()),
        Ok(std::cmp::Ordering::Equal)
    )
}

/// stunnel's `get_current_issuer`: the next certificate of the verified
/// chain, or the certificate itself at the top of the chain. OpenSSL has
/// already looked for the issuer in the trust store while building the
/// chain, so there is nowhere else to find it. A responder does not know
/// a certificate as its own issuer: its answer is "unknown" or cannot be
/// verified, so the check is inconclusive (rejects unless `OCSPrequire =
/// no`), as in stunnel.
fn current_issuer(chain: &StackRef<X509>, depth: usize) -> Option<X509> {
    chain
        .get(depth + 1)
        .or_else(|| chain.get(depth))
        .map(|c| c.to_owned())
}

/// Run blocking network I/O from inside OpenSSL's callback: through
/// `block_in_place` on a multi-thread runtime, directly otherwise.
fn run_blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// stunnel's `ocsp_request`: one responder, one certificate.
fn request(
    settings: &Settings,
    store: &X509StoreContextRef,
    cert: &X509Ref,
    issuer: &X509Ref,
    chain: &[X509],
    url: &str,
) -> Verdict {
    let failed = |context: &str, e: &openssl::error::ErrorStack| {
        TlsError::new(context, e).log();
        Verdict::Unknown
    };
    let id = |what| {
        OcspCertId::from_cert(MessageDigest::sha1(), cert, issuer).map_err(|e| failed(what, &e))
    };
    let (Ok(for_request), Ok(for_lookup)) =
        (id("OCSP: OCSP_cert_to_id"), id("OCSP: OCSP_cert_to_id"))
    else {
        return Verdict::Unknown;
    };
    let mut req = match OcspRequest::new() {
        Ok(r) => r,
        Err(e) => return failed("OCSP: OCSP_REQUEST_new", &e),
    };
    if let Err(e) = req.add_id(for_request) {
        return failed("OCSP: OCSP_request_add0_id", &e);
    }
    if settings.nonce {
        ffi::ocsp_add_nonce(&mut req);
    }
    let Ok(der) = req.to_der() else {
        return Verdict::Unknown;
    };
    let Some(target) = ocsp_http::parse(url) else {
        return Verdict::Unknown;
    };
    let Some(body) = ocsp_http::post(&target, &der, settings.timeout) else {
        return Verdict::Unknown;
    };
    let response = match OcspResponse::from_der(&body) {
        Ok(r) => r,
        Err(e) => return failed("OCSP: OCSP_sendreq_nbio", &e),
    };
    let status = response.status();
    if status != openssl::ocsp::OcspResponseStatus::SUCCESSFUL {
        crate::slog!(
            crate::log::WARNING,
            "OCSP: Responder error: {}: {}",
            status.as_raw(),
            ffi::ocsp_response_status_str(status.as_raw())
        );
        return Verdict::Unknown;
    }
    crate::slog!(crate::log::DEBUG, "OCSP: Response received");
    let basic = match response.basic() {
        Ok(b) => b,
        Err(e) => return failed("OCSP: OCSP_response_get1_basic", &e),
    };
    if settings.nonce && !ffi::ocsp_nonce_ok(&req, &basic) {
        crate::slog!(crate::log::WARNING, "OCSP: Invalid or unsupported nonce");
        return Verdict::Unknown;
    }
    let Some(trusted) = ffi::store_of(store) else {
        return Verdict::Unknown;
    };
    let verified = openssl::stack::Stack::new().and_then(|mut certs| {
        for c in chain {
            certs.push(c.clone())?;
        }
        let certs: &StackRef<X509> = &certs;
        basic.verify(
            certs,
            trusted,
            OcspFlag::from_bits_retain(settings.flags as libc::c_ulong),
        )
    });
    if let Err(e) = verified {
        return failed("OCSP: OCSP_basic_verify", &e);
    }
    let Some(found) = basic.find_status(&for_lookup) else {
        crate::slog!(crate::log::ERR, "OCSP: OCSP_resp_find_status");
        return Verdict::Unknown;
    };
    let raw = found.status.as_raw();
    crate::slog!(
        crate::log::INFO,
        "OCSP: Status: {}",
        ffi::ocsp_cert_status_str(raw)
    );
    crate::slog!(crate::log::INFO, "OCSP: This update: {}", found.this_update);
    if let Some(next) = found.next_update() {
        crate::slog!(crate::log::INFO, "OCSP: Next update: {next}");
    }
    // Valid for at least one more minute (stunnel's slack).
    if let Err(e) = found.check_validity(60, None) {
        return failed("OCSP: OCSP_check_validity", &e);
    }
    if found.status == OcspCertStatus::GOOD {
        crate::slog!(crate::log::NOTICE, "OCSP: Certificate accepted");
        Verdict::Good
    } else if found.status == OcspCertStatus::REVOKED {
        let reason = found.reason.as_raw();
        if reason < 0 {
            crate::slog!(crate::log::ERR, "OCSP: Certificate revoked");
        } else {
            crate::slog!(
                crate::log::ERR,
                "OCSP: Certificate revoked: {reason}: {}",
                ffi::ocsp_crl_reason_str(reason)
            );
        }
        if let Some(at) = found.revocation_time {
            crate::slog!(crate::log::NOTICE, "OCSP: Revoked at: {at}");
        }
        Verdict::Revoked
    } else {
        crate::slog!(crate::log::WARNING, "OCSP: Unknown verification status");
        Verdict::Unknown
    }
}
