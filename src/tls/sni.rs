//! Server-side SNI routing (stunnel-reference §5.15): secondaries
//! (`sni = PRIMARY:PATTERN`) are reached through the primary's context,
//! which switches the connection to the secondary's `SSL_CTX`, verify mode,
//! protocol range, ciphers and policy. Client-side SNI (sending a name) is a
//! one-liner in `handshake.rs`.
//!
//! Why the switch happens in the client-hello callback, not in the
//! servername callback stunnel uses: OpenSSL calls the servername callback
//! after it has looked at the offered session (TLS 1.3 PSK) and after the
//! version is chosen, so a session issued by the primary resumed on the
//! secondary and the secondary's `sslVersionMin` came too late. The
//! client-hello callback runs before either; after the switch the session id
//! context is the secondary's, so OpenSSL only resumes the secondary's own
//! sessions (see `scope.rs`). The servername callback logs the decision,
//! so stunnel's lines keep their place (after `Get session callback`).

use std::sync::{Arc, OnceLock};

use openssl::error::ErrorStack;
use openssl::ssl::{SniError, SslAlert, SslContext, SslContextBuilder, SslRef};

use super::conn::{self, Policy, SniChoice};
use super::ffi::{self, HandshakeSettings};
use super::verify;

/// One secondary of a primary.
pub struct Route {
    pub pattern: String,
    pub ctx: SslContext,
    pub policy: Arc<Policy>,
    /// What `SSL_set_SSL_CTX` leaves behind from the primary.
    pub settings: HandshakeSettings,
}

impl Route {
    pub fn new(pattern: String, ctx: SslContext, policy: Arc<Policy>) -> Route {
        let settings = ffi::handshake_settings(&ctx);
        Route {
            pattern,
            ctx,
            policy,
            settings,
        }
    }
}

/// A primary's secondaries, filled once they are built (secondaries come
/// later in the file than their primary).
pub type Table = Arc<OnceLock<Vec<Route>>>;

/// stunnel's `matches_wildcard`: a leading `*` makes the rest a suffix;
/// comparison ignores ASCII case.
pub fn matches(servername: &str, pattern: &str) -> bool {
    let (name, pat) = match pattern.strip_prefix('*') {
        Some(rest) => {
            if servername.len() < rest.len() {
                return false;
            }
            let Some(tail) = servername.get(servername.len() - rest.len()..) else {
                return false;
            };
            (tail, rest)
        }
        None => (servername, pattern),
    };
    name.eq_ignore_ascii_case(pat)
}

/// Install the servername callback on every server context: it logs what
/// [`select`] decided, where (and as) stunnel logs it, and answers whether
/// the name is acknowledged.
pub fn install(b: &mut SslContextBuilder) {
    b.set_servername_callback(|ssl, _alert| {
        super::guard::contained(
            "servername",
            || Err(SniError::ALERT_FATAL),
            || {
                let choice = conn::get(ssl).and_then(|c| c.sni_choice().cloned());
                report(choice.as_ref().unwrap_or(&SniChoice::NoRoutes))
            },
        )
    });
}

fn report(choice: &SniChoice) -> Result<(), SniError> {
    use crate::log::{DEBUG, ERR, INFO, NOTICE};
    match choice {
        SniChoice::NoRoutes => {
            crate::slog!(DEBUG, "SNI: no virtual services defined");
            Ok(())
        }
        SniChoice::NoName => {
            crate::slog!(NOTICE, "SNI: no servername received");
            Err(SniError::NOACK)
        }
        SniChoice::Switched {
            name,
            pattern,
            service,
        } => {
            crate::slog!(INFO, "SNI: requested servername: {name}");
            crate::slog!(DEBUG, "SNI: matched pattern: {pattern}");
            crate::slog!(NOTICE, "SNI: switched to service [{service}]");
            Ok(())
        }
        SniChoice::Unmatched { name } => {
            crate::slog!(INFO, "SNI: requested servername: {name}");
            crate::slog!(ERR, "SNI: no pattern matched servername: {name}");
            Err(SniError::NOACK)
        }
    }
}

/// From the client-hello callback: pick the service for the requested
/// name, once per connection (a HelloRetryRequest brings a second
/// ClientHello), and switch to it.
pub fn select(ssl: &mut SslRef, table: &Table, alert: &mut SslAlert) -> Result<(), ErrorStack> {
    let Some(state) = conn::get(ssl).cloned() else {
        return Ok(());
    };
    if state.sni_choice().is_some() {
        return Ok(());
    }
    let routes = table.get().map(Vec::as_slice).unwrap_or_default();
    let choice = if routes.is_empty() {
        SniChoice::NoRoutes
    } else {
        match requested_name(ssl) {
            None => SniChoice::NoName,
            Some(name) => match routes.iter().find(|r| matches(&name, &r.pattern)) {
                None => SniChoice::Unmatched { name },
                Some(route) => {
                    // A half-switched connection must not go on.
                    if ssl.set_ssl_context(&route.ctx).is_err()
                        || !ffi::adopt_handshake_settings(ssl, &route.settings)
                    {
                        *alert = SslAlert::INTERNAL_ERROR;
                        return Err(ErrorStack::get());
                    }
                    ssl.set_verify_callback(route.policy.verify_mode, verify::callback);
                    state.set_policy(route.policy.clone());
                    SniChoice::Switched {
                        name,
                        pattern: route.pattern.clone(),
                        service: route.policy.name.clone(),
                    }
                }
            },
        }
    };
    state.choose_sni(choice);
    Ok(())
}

/// The first `host_name` of the ClientHello's server_name extension
/// (RFC 6066 §3: list length, then type, length, name). OpenSSL has not
/// parsed it yet when the client-hello callback runs; a malformed
/// extension reads as none and OpenSSL then refuses it itself.
fn requested_name(ssl: &SslRef) -> Option<String> {
    const SERVER_NAME: u32 = 0;
    const HOST_NAME: u8 = 0;
    let ext = ffi::client_hello_ext(ssl, SERVER_NAME)?;
    let list = ext.get(2..)?;
    let (&kind, rest) = list.split_first()?;
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let name = rest.get(2..2 + len)?;
    if kind != HOST_NAME || name.is_empty() || name.contains(&0) {
        return None;
    }
    String::from_utf8(name.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn wildcard_is_a_case_insensitive_suffix() {
        assert!(matches("a.example.com", "*.example.com"));
        assert!(matches("x.y.EXAMPLE.com", "*.example.com"));
        assert!(!matches("example.com", "*.example.com"));
        assert!(matches("Host.Example", "host.example"));
        assert!(!matches("other", "host"));
        assert!(matches("anything", "*"));
    }
}
