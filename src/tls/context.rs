//! `model::Service` → an OpenSSL context, in stunnel's order of calls
//! (stunnel-reference §6.1):
//!
//! ```text
//!  1 method (client/server)     2 min/max protocol     3 security level
//!  4 ciphers   5 ciphersuites   6 options              7 `config` commands
//!  8 modes     9 sessions, info callback, cert/key, PSK, CA/CRL, verify,
//!                OCSP, SNI (servers), DH, curves
//! ```
//!
//! [`build_all`] builds every service of a configuration in file order and
//! wires SNI secondaries into their primary. Each build ends with the
//! warning of a service that lets weak suites through (`weak.rs`), so it is
//! logged at start, on reload, in inetd mode and by `-test`. Handshakes are
//! in `handshake.rs`, the `-test` report in `describe.rs`.

use std::sync::{Arc, OnceLock};

use openssl::ssl::{ClientHelloResponse, SslContext, SslContextBuilder, SslMethod, SslOptions};

use crate::config::model::Service;

use super::conn::Policy;
use super::errors::TlsError;
use super::session::LastSession;
use super::ticket_keys::TicketKeys;
use super::{certs, guard, hello, ocsp, policy, psk, scope, session, sni, stapling, verify};

/// Whether to read certificate/key/CA files while building (`-test` checks
/// the TLS policy without the files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    Files,
    PolicyOnly,
}

/// A service's OpenSSL context plus what each connection needs from the
/// configuration to start a handshake. Cheap to clone (reference-counted).
#[derive(Clone)]
pub struct TlsContext {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub ctx: SslContext,
    pub policy: Arc<Policy>,
    pub tickets: Option<Arc<TicketKeys>>,
    /// Client mode: the sessions the next connects offer.
    pub last_session: LastSession,
    /// Client mode with `delay = yes`: targets are resolved per connection,
    /// so their indexes mean nothing and one session serves the service.
    pub delay: bool,
    /// Client mode: the server name to send (`None` = SNI disabled).
    pub sni_name: Option<String>,
    /// Client mode with `OCSPstapling`: ask the server for a staple.
    pub request_staple: bool,
    /// Server mode: secondaries reachable through this context.
    pub sni_table: sni::Table,
    /// The configured `cert` file (the `-test` report reads its key type
    /// when the context was built without files).
    pub cert_file: Option<std::path::PathBuf>,
}

impl TlsContext {
    /// The index of this context's service in `Config::services`.
    pub fn service_index(&self) -> usize {
        self.inner.policy.index
    }

    /// The certificate this context presents: its subject and `notAfter`
    /// in seconds since the Unix epoch (for the expiry metric).
    pub fn certificate_expiry(&self) -> Option<(String, i64)> {
        let cert = self.inner.ctx.certificate()?;
        let epoch = openssl::asn1::Asn1Time::from_unix(0).ok()?;
        let diff = epoch.diff(cert.not_after()).ok()?;
        let seconds = i64::from(diff.days) * 86_400 + i64::from(diff.secs);
        Some((super::ffi::name_text(cert.subject_name()), seconds))
    }

    /// The OpenSSL context (for callers that need raw access, e.g. tests).
    pub fn ssl_context(&self) -> &SslContext {
        &self.inner.ctx
    }
}

/// Build the context of one service (no SNI secondaries; service index 0).
/// Errors are reported by the caller as `Service [NAME]: Failed to
/// initialize TLS context` after [`TlsError::log`].
pub fn build(service: &Service, loading: Loading) -> Result<TlsContext, TlsError> {
    build_one(service, 0, loading, 0, Arc::new(OnceLock::new()))
}

/// Build every service's context in file order; a secondary (`sni =
/// PRIMARY:PATTERN`, server mode) is also attached to its primary. On
/// failure: the index of the failing service and its error.
pub fn build_all(
    services: &[Service],
    loading: Loading,
) -> Result<Vec<TlsContext>, (usize, TlsError)> {
    let is_secondary = |s: &Service| !s.options.client && s.sni_route.is_some();
    let mut contexts: Vec<TlsContext> = Vec::with_capacity(services.len());
    for (i, service) in services.iter().enumerate() {
        let is_primary = services.iter().any(|s| {
            is_secondary(s)
                && s.sni_route
                    .as_ref()
                    .is_some_and(|r| r.primary == service.options.name)
        });
        // stunnel forces this option on both ends of an SNI pair.
        let extra = if is_primary || is_secondary(service) {
            SslOptions::NO_SESSION_RESUMPTION_ON_RENEGOTIATION.bits()
        } else {
            0
        };
        let ctx =
            build_one(service, i, loading, extra, Arc::new(OnceLock::new())).map_err(|e| (i, e))?;
        contexts.push(ctx);
    }
    // Fill each primary's table with its secondaries, in file order.
    for (p, primary) in services.iter().enumerate() {
        if primary.options.client {
            continue;
        }
        let routes: Vec<sni::Route> = services
            .iter()
            .enumerate()
            .filter(|(_, s)| is_secondary(s))
            .filter_map(|(i, s)| {
                let route = s.sni_route.as_ref()?;
                (route.primary == primary.options.name).then(|| {
                    sni::Route::new(
                        route.pattern.clone(),
                        contexts[i].inner.ctx.clone(),
                        contexts[i].inner.policy.clone(),
                    )
                })
            })
            .collect();
        let _ = contexts[p].inner.sni_table.set(routes);
    }
    Ok(contexts)
}

fn build_one(
    service: &Service,
    index: usize,
    loading: Loading,
    extra_options: u64,
    sni_table: sni::Table,
) -> Result<TlsContext, TlsError> {
    let tls = &service.options;
    let client = service.options.client;
    let method = if client {
        SslMethod::tls_client()
    } else {
        SslMethod::tls_server()
    };
    let mut b = SslContextBuilder::new(method).map_err(|e| TlsError::new("SSL_CTX_new", &e))?;
    policy::protocol_range(&mut b, tls)?;
    policy::security_level(&mut b, tls);
    policy::ciphers(&mut b, tls)?;
    policy::options(&mut b, tls, client, extra_options);
    policy::conf_commands(&mut b, tls, client)?;
    policy::modes(&mut b);

    let last_session: LastSession = Arc::default();
    let id_context = scope::id_context(service, loading == Loading::Files);
    let tickets = session::setup(&mut b, &id_context, tls, client, &last_session)?;
    super::ffi::set_info_callback(&mut b, super::conn::on_info);
    if loading == Loading::Files {
        certs::load_cert_and_key(&mut b, tls)?;
    }
    let secrets = psk::ordered(tls, client)?;
    psk::install(&mut b, client, &secrets);
    if loading == Loading::Files {
        certs::load_ca(&mut b, tls, client)?;
        certs::load_crl(&mut b, tls)?;
    }
    if (tls.ocsp_url.is_some() || tls.ocsp_aia) && !tls.verify.chain && !tls.verify.peer {
        // stunnel 5.68 accepts this and never checks; 5.70+ refuses it.
        crate::slog!(
            crate::log::WARNING,
            "OCSP checks need \"verifyChain\" or \"verifyPeer\": OCSP disabled for this service"
        );
    }
    let redirect = !client && !service.redirect.is_empty();
    let verify_mode = verify::mode(&tls.verify, redirect);
    b.set_verify_callback(verify_mode, verify::callback);
    if !client {
        sni::install(&mut b);
        let table = sni_table.clone();
        b.set_client_hello_callback(move |ssl, alert| {
            guard::contained(
                "client hello",
                || Err(openssl::error::ErrorStack::get()),
                || {
                    hello::record(ssl);
                    sni::select(ssl, &table, alert).map(|()| ClientHelloResponse::SUCCESS)
                },
            )
        });
    }
    policy::dh(&mut b, client);
    policy::curves(&mut b, tls)?;
    let stapler = match (tls.ocsp_stapling, client) {
        (false, _) => None,
        (true, false) => Some(stapling::install(&mut b)?),
        (true, true) => {
            stapling::install_client(&mut b, tls.ocsp_require)?;
            None
        }
    };

    let policy = Arc::new(Policy {
        index,
        name: service.options.name.clone(),
        client,
        verify: tls.verify,
        check_host: tls.check_host.clone(),
        check_email: tls.check_email.clone(),
        check_ip: tls.check_ip.clone(),
        redirect,
        renegotiation: tls.renegotiation,
        psk: secrets,
        verify_mode,
        ocsp: ocsp::Settings::of(service),
    });
    let ctx = b.build();
    if let Some(slot) = stapler {
        // `-test` loads no file into the context; the check still reads
        // the `cert` file when it can.
        let probing = loading != Loading::Files;
        if let Some(prepared) = stapling::prepare(&service.options.name, &ctx, tls, probing)
            .map_err(TlsError::message)?
        {
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(prepared));
        }
    }
    let weak = super::weak::of_context(&ctx);
    if let Some(line) = super::weak::warning(&service.options.name, client, &weak) {
        crate::slog!(crate::log::WARNING, "{line}");
    }
    Ok(TlsContext {
        inner: Arc::new(Inner {
            ctx,
            policy,
            tickets,
            last_session,
            delay: service.options.delay,
            sni_name: if client {
                service.sni_name.clone()
            } else {
                None
            },
            request_staple: client && tls.ocsp_stapling,
            sni_table,
            cert_file: tls.cert.clone(),
        }),
    })
}
