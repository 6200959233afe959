//! Session resumption (stunnel-reference §5.11): the server cache (id
//! context from `scope.rs`, servers only; size, timeout), tickets and
//! shared ticket keys (`ticket_keys.rs`), and the client's "last session" that the next connect
//! offers — one per connect target index when the connection layer names
//! the target and `delay = no` (stunnel's `connect_session[idx]`), else one
//! per service.
//!
//! `sessiond` (external UDP cache) is not implemented here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use std::sync::atomic::Ordering;

use openssl::ssl::{SslContextBuilder, SslRef, SslSession, SslSessionCacheMode, SslSessionRef};

use crate::config::model::ServiceOptions;

use super::errors::TlsError;
use super::ffi;
use super::ticket_keys::TicketKeys;

/// The client's last resumable sessions: per target index, or for the
/// whole service (`None`).
#[derive(Default)]
pub struct ClientSessions {
    slots: Mutex<HashMap<Option<usize>, SslSession>>,
}

impl ClientSessions {
    /// The session to offer on a connection to `target`.
    pub fn get(&self, target: Option<usize>) -> Option<SslSession> {
        self.lock().get(&target).cloned()
    }

    fn put(&self, target: Option<usize>, session: SslSession) {
        self.lock().insert(target, session);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Option<usize>, SslSession>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub type LastSession = Arc<ClientSessions>;

/// Configure caching; returns the ticket keys when configured (server).
pub fn setup(
    b: &mut SslContextBuilder,
    id_context: &[u8],
    tls: &ServiceOptions,
    client: bool,
    last: &LastSession,
) -> Result<Option<Arc<TicketKeys>>, TlsError> {
    // Servers only, as stunnel: OpenSSL's client refuses a TLS 1.3 external
    // PSK session (whose id context is empty) when the client context has
    // one. stunnel uses the service name; ours also binds the policy.
    if !client {
        b.set_session_id_context(id_context)
            .map_err(|e| TlsError::new("SSL_CTX_set_session_id_context", &e))?;
    }
    if !tls.session_resume {
        b.set_session_cache_mode(SslSessionCacheMode::OFF);
        if !client {
            b.set_num_tickets(0)
                .map_err(|e| TlsError::new("SSL_CTX_set_num_tickets", &e))?;
        }
        crate::slog!(crate::log::INFO, "Session resumption disabled");
        return Ok(None);
    }
    let size = i32::try_from(tls.session_cache_size)
        .unwrap_or(i32::MAX)
        .max(0);
    b.set_session_cache_size(size);
    ffi::set_session_timeout(b, tls.session_timeout().as_secs());
    if client {
        // OpenSSL hands every new session (TLS 1.3: every ticket) to this
        // callback; the latest one is offered on the next connect.
        b.set_session_cache_mode(SslSessionCacheMode::CLIENT);
        let slots = last.clone();
        b.set_new_session_callback(move |ssl, session| {
            super::guard::contained(
                "new session",
                || (),
                || {
                    new_session(ssl, &session);
                    let target = super::conn::get(ssl).and_then(|c| c.target);
                    slots.put(target, session);
                },
            )
        });
    } else {
        b.set_session_cache_mode(SslSessionCacheMode::SERVER);
        b.set_new_session_callback(|ssl, session| {
            super::guard::contained("new session", || (), || new_session(ssl, &session))
        });
        // stunnel's get callback only serves `sessiond`; OpenSSL asks it
        // after a miss in its own cache.
        // SAFETY: returns no session, so none from a foreign context.
        unsafe {
            b.set_get_session_callback(|_ssl, _id| {
                crate::slog!(crate::log::DEBUG, "Get session callback");
                None
            });
        }
    }
    crate::slog!(crate::log::INFO, "Session resumption enabled");
    let keys = match (&tls.ticket_key_file, &tls.ticket_key, &tls.ticket_mac) {
        _ if client => None,
        (Some(path), _, _) => Some(TicketKeys::from_file(path)?),
        (None, Some(key), Some(mac)) => {
            if key.len() != 16 && key.len() != 32 {
                return Err(TlsError::message(format!(
                    "ticketKeySecret value has {} bytes instead of required 16 or 32 bytes",
                    key.len()
                )));
            }
            Some(TicketKeys::from_secrets(key, mac))
        }
        _ => None,
    };
    if keys.is_some() {
        ffi::set_ticket_key_callback(b, super::conn::ticket_key);
    }
    Ok(keys.map(Arc::new))
}

/// stunnel's new-session callback lines (both modes): `New session
/// callback`, the peer certificate note, `Session id: HEX` (one per
/// session, so one per TLS 1.3 ticket).
fn new_session(ssl: &SslRef, session: &SslSessionRef) {
    crate::slog!(crate::log::DEBUG, "New session callback");
    // stunnel keeps the certificate in the session's ex_data, which later
    // TLS 1.3 ticket sessions (copies of the first) and a client's reused
    // session (from its own cache) already carry.
    let already = (!ssl.is_server() && ssl.session_reused())
        || super::conn::get(ssl).is_some_and(|c| c.peer_cert_cached.load(Ordering::SeqCst));
    if !already {
        match ssl.peer_certificate() {
            None => crate::slog!(crate::log::INFO, "No peer certificate received"),
            Some(cert) => {
                if let Some(c) = super::conn::get(ssl) {
                    c.peer_cert_cached.store(true, Ordering::SeqCst);
                }
                // stunnel caches it PEM-encoded.
                let len = cert.to_pem().map(|d| d.len()).unwrap_or(0);
                crate::slog!(
                    crate::log::DEBUG,
                    "Peer certificate was cached ({len} bytes)"
                );
            }
        }
    }
    crate::slog!(crate::log::INFO, "Session id: {}", hex(session.id()));
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}
