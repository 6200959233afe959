//! `OCSPstapling = yes` (rstunnel extension; stunnel 5.71+ staples in every
//! server, 5.68 never): a server sends a fresh OCSP response for its own
//! certificate to clients that ask (`status_request`), so they need not
//! ask the responder themselves; a client asks for one and checks it
//! ([`install_client`]).
//!
//! The response comes from the responder the certificate's AIA extension
//! names. It is fetched in the background, by one thread per context
//! started at the first handshake that asks (as nginx does: that client
//! gets no staple; a context built before `daemon()` or the `workers`
//! fork must have no thread). Before it is kept, the response is checked
//! as a client would: signed by the issuer or a responder it delegated to,
//! trusted through `CAfile`/`CApath`, about this certificate, and current.
//! It is refreshed halfway to its `nextUpdate` (hourly without one), kept
//! while fetches fail until it expires, and never stapled after that.
//! Failed fetches are retried with a doubling delay (10 s up to 10 min),
//! which also bounds their log lines. A revoked answer is stapled as
//! fetched: the client decides. The thread ends within a minute of its
//! context being dropped (reload, `certReload`).

use std::sync::{Arc, Mutex, Weak};
use std::thread;
use std::time::{Duration, SystemTime};

use openssl::hash::MessageDigest;
use openssl::ocsp::{
    OcspCertId, OcspCertStatus, OcspFlag, OcspRequest, OcspResponse, OcspResponseStatus,
};
use openssl::ssl::{SslContextBuilder, SslContextRef, SslRef};
use openssl::stack::{Stack, StackRef};
use openssl::x509::store::{X509Lookup, X509Store, X509StoreBuilder, X509StoreRef};
use openssl::x509::{X509Ref, X509VerifyResult, X509};

use crate::config::model::ServiceOptions;
use crate::log::{ERR, INFO, NOTICE};

use super::errors::TlsError;
use super::ocsp_http;

/// The first retry after a failed fetch, and the longest.
const RETRY_FIRST: Duration = Duration::from_secs(10);
const RETRY_MOST: Duration = Duration::from_secs(600);
/// Refresh a response without `nextUpdate` this often.
const NO_NEXT_UPDATE: Duration = Duration::from_secs(3600);
/// How often the thread looks whether its context is still alive.
const TICK: Duration = Duration::from_secs(60);
/// Bound on one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The stapled response of one server context, shared by its status
/// callback and its refresh thread.
pub struct Stapler {
    service: String,
    url: ocsp_http::Url,
    leaf: X509,
    issuer: X509,
    /// Trust for the response's signer: the service's `CAfile`/`CApath`.
    trust: X509Store,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The response (DER) and when it stops being current.
    staple: Option<(Vec<u8>, Option<SystemTime>)>,
    /// The refresh thread runs.
    started: bool,
}

/// Install the status callback on a server context being built; the
/// returned slot gets the stapler once the context is built ([`prepare`]).
pub fn install(b: &mut SslContextBuilder) -> Result<Arc<Mutex<Option<Arc<Stapler>>>>, TlsError> {
    let slot: Arc<Mutex<Option<Arc<Stapler>>>> = Arc::default();
    let of_callback = slot.clone();
    b.set_status_callback(move |ssl| {
        let stapler = of_callback
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        super::guard::contained(
            "OCSP stapling",
            || Ok(false),
            || Ok(stapler.as_ref().is_some_and(|s| s.staple(ssl))),
        )
    })
    .map_err(|e| TlsError::new("SSL_CTX_set_tlsext_status_cb", &e))?;
    Ok(slot)
}

/// The stapler of a built server context: its certificate, the issuer
/// (from the `cert` PEM file's chain or the trusted certificates) and the AIA
/// responder. Fails when one of them is missing; `None` when `probing`
/// (`-test`) a certificate file it cannot read.
pub fn prepare(
    service: &str,
    ctx: &SslContextRef,
    tls: &ServiceOptions,
    probing: bool,
) -> Result<Option<Stapler>, String> {
    let pem: Vec<X509> = tls
        .cert
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|text| X509::stack_from_pem(&text).ok())
        .unwrap_or_default();
    let leaf = match (ctx.certificate(), pem.first()) {
        (Some(loaded), _) => loaded.to_owned(),
        (None, Some(first)) => first.clone(),
        (None, None) if probing => return Ok(None),
        (None, None) => return Err("OCSP stapling needs a PEM certificate".into()),
    };
    let url = leaf
        .ocsp_responders()
        .ok()
        .and_then(|list| list.iter().find_map(|u| ocsp_http::parse(u)))
        .ok_or("OCSP stapling: the certificate names no OCSP responder (AIA)")?;
    if probing {
        // `-test` has not loaded `CAfile`: the issuer may be there.
        return Ok(None);
    }
    let mut candidates = pem;
    candidates.extend(ctx.cert_store().all_certificates());
    let issuer = candidates
        .into_iter()
        .find(|c| c.issued(&leaf) == X509VerifyResult::OK)
        .ok_or("OCSP stapling: the certificate's issuer is in neither its chain nor CAfile")?;
    Ok(Some(Stapler {
        service: service.to_string(),
        url,
        leaf,
        issuer,
        trust: trust(ctx, tls).map_err(|e| format!("OCSP stapling: {e}"))?,
        state: Mutex::default(),
    }))
}

/// The trusted certificates of the context, plus a `CApath` lookup.
fn trust(
    ctx: &SslContextRef,
    tls: &ServiceOptions,
) -> Result<X509Store, openssl::error::ErrorStack> {
    let mut store = X509StoreBuilder::new()?;
    for cert in ctx.cert_store().all_certificates() {
        store.add_cert(cert)?;
    }
    if let Some(dir) = tls.ca_path.as_ref().and_then(|p| p.to_str()) {
        store
            .add_lookup(X509Lookup::hash_dir())?
            .add_dir(dir, openssl::ssl::SslFiletype::PEM)?;
    }
    Ok(store.build())
}

impl Stapler {
    /// The status callback: staple the current response, if any; the first
    /// call starts the refresh thread.
    fn staple(self: &Arc<Self>, ssl: &mut SslRef) -> bool {
        let current = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            if !state.started {
                state.started = true;
                let weak = Arc::downgrade(self);
                let spawned = thread::Builder::new()
                    .name("ocsp-stapling".into())
                    .spawn(move || refresh_loop(weak));
                if spawned.is_err() {
                    state.started = false;
                }
            }
            match &state.staple {
                Some((der, until)) if until.map_or(true, |t| SystemTime::now() < t) => {
                    Some(der.clone())
                }
                _ => None,
            }
        };
        current.is_some_and(|der| ssl.set_ocsp_status(&der).is_ok())
    }

    /// Fetch and check a response; when it is good to staple, keep it and
    /// return when to refresh it.
    fn fetch(&self) -> Result<Duration, String> {
        let id = OcspCertId::from_cert(MessageDigest::sha1(), &self.leaf, &self.issuer)
            .map_err(|e| e.to_string())?;
        let mut request = OcspRequest::new().map_err(|e| e.to_string())?;
        request.add_id(id).map_err(|e| e.to_string())?;
        let der = request.to_der().map_err(|e| e.to_string())?;
        let answer = ocsp_http::post(&self.url, &der, Some(FETCH_TIMEOUT))
            .ok_or("no answer from the responder")?;
        let mut chain = Stack::new().map_err(|e| e.to_string())?;
        chain.push(self.issuer.clone()).map_err(|e| e.to_string())?;
        let checked = check(&answer, &self.leaf, &self.issuer, &chain, &self.trust)?;
        let verdict = match checked.status {
            OcspCertStatus::GOOD => "good",
            OcspCertStatus::REVOKED => "revoked",
            _ => "unknown",
        };
        crate::slog!(
            INFO,
            "OCSP stapling: service [{}]: fetched a response ({verdict})",
            self.service
        );
        let refresh = match checked.until {
            Some(end) => end
                .duration_since(SystemTime::now())
                .map_or(Duration::ZERO, |left| left / 2),
            None => NO_NEXT_UPDATE,
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.staple = Some((answer, checked.until));
        Ok(refresh.max(RETRY_FIRST))
    }
}

/// `nextUpdate` as a system time (`None` if it cannot be represented).
fn time_of(t: &openssl::asn1::Asn1GeneralizedTimeRef) -> Option<SystemTime> {
    let left = super::ffi::seconds_until(t)?;
    let now = SystemTime::now();
    match u64::try_from(left) {
        Ok(ahead) => now.checked_add(Duration::from_secs(ahead)),
        Err(_) => now.checked_sub(Duration::from_secs(left.unsigned_abs())),
    }
}

/// Keep the response fresh while the context lives.
fn refresh_loop(weak: Weak<Stapler>) {
    let mut retry = RETRY_FIRST;
    let mut failing = false;
    let mut due = Duration::ZERO;
    loop {
        if !due.is_zero() {
            let nap = due.min(TICK);
            thread::sleep(nap);
            due -= nap;
            if weak.strong_count() == 0 {
                return;
            }
            continue;
        }
        let Some(stapler) = weak.upgrade() else {
            return;
        };
        match stapler.fetch() {
            Ok(refresh) => {
                if failing {
                    crate::slog!(
                        NOTICE,
                        "OCSP stapling: service [{}]: the responder answers again",
                        stapler.service
                    );
                }
                failing = false;
                retry = RETRY_FIRST;
                due = refresh;
            }
            Err(why) => {
                // One line per failure, at a doubling interval.
                crate::slog!(
                    ERR,
                    "OCSP stapling: service [{}]: {why}; retrying in {} s",
                    stapler.service,
                    retry.as_secs()
                );
                failing = true;
                due = retry;
                retry = (retry * 2).min(RETRY_MOST);
            }
        }
    }
}

/// Client mode: check the server's staple once the handshake has its
/// certificates (OpenSSL calls this after verification, staple or not).
/// Signed through the trusted certificates, about the server's leaf and
/// current: `good` accepts, `revoked` rejects (the server gets a
/// `bad_certificate_status_response` alert); no staple, or one that does
/// not check out, rejects unless `OCSPrequire = no`. The `OCSP` and
/// `OCSPaia` checks of the verify callback run as well, independently.
pub fn install_client(b: &mut SslContextBuilder, require: bool) -> Result<(), TlsError> {
    b.set_status_callback(move |ssl| {
        super::guard::contained(
            "OCSP stapling",
            || Ok(false),
            || Ok(accept_staple(ssl, require)),
        )
    })
    .map_err(|e| TlsError::new("SSL_CTX_set_tlsext_status_cb", &e))
}

fn accept_staple(ssl: &mut SslRef, require: bool) -> bool {
    let inconclusive = |why: &str| {
        if require {
            crate::slog!(ERR, "OCSP stapling: Rejected ({why}; OCSPrequire = yes)");
        } else {
            crate::slog!(NOTICE, "OCSP stapling: Accepted ({why}; OCSPrequire = no)");
        }
        !require
    };
    let Some(der) = ssl.ocsp_status() else {
        return inconclusive("no response stapled");
    };
    match stapled_status(ssl, der) {
        Ok(OcspCertStatus::GOOD) => {
            crate::slog!(NOTICE, "OCSP stapling: Accepted (good)");
            true
        }
        Ok(OcspCertStatus::REVOKED) => {
            crate::slog!(ERR, "OCSP stapling: Rejected (revoked)");
            false
        }
        Ok(_) => inconclusive("unknown"),
        Err(why) => inconclusive(&why),
    }
}

/// The server leaf's status in the stapled response `der`, if the
/// response is successful, verifies and is current.
fn stapled_status(ssl: &SslRef, der: &[u8]) -> Result<OcspCertStatus, String> {
    let chain = ssl.verified_chain().ok_or("no verified chain")?;
    let leaf = chain.get(0).ok_or("no server certificate")?;
    let issuer = chain
        .iter()
        .find(|c| c.issued(leaf) == X509VerifyResult::OK)
        .ok_or("no issuer of the server certificate")?;
    let trust = ssl.ssl_context().cert_store();
    Ok(check(der, leaf, issuer, chain, trust)?.status)
}

/// What a checked response says about a certificate.
struct Checked {
    status: OcspCertStatus,
    /// Its `nextUpdate`: when it stops being current.
    until: Option<SystemTime>,
}

/// Check an OCSP response (DER) about `leaf` as a client would: successful,
/// signed by `issuer` or a responder it delegated to (found among
/// `untrusted`, trusted through `trust`), about `leaf`, and current.
fn check(
    der: &[u8],
    leaf: &X509Ref,
    issuer: &X509Ref,
    untrusted: &StackRef<X509>,
    trust: &X509StoreRef,
) -> Result<Checked, String> {
    let response = OcspResponse::from_der(der).map_err(|_| "not an OCSP response")?;
    if response.status() != OcspResponseStatus::SUCCESSFUL {
        return Err(format!("responder status {}", response.status().as_raw()));
    }
    let basic = response.basic().map_err(|_| "no basic response")?;
    basic
        .verify(untrusted, trust, OcspFlag::empty())
        .map_err(|_| "the response's signature does not verify")?;
    let id =
        OcspCertId::from_cert(MessageDigest::sha1(), leaf, issuer).map_err(|e| e.to_string())?;
    let status = basic
        .find_status(&id)
        .ok_or("the response is not about this certificate")?;
    status
        .check_validity(300, None)
        .map_err(|_| "the response is not current")?;
    Ok(Checked {
        status: status.status,
        until: status.next_update().and_then(time_of),
    })
}
