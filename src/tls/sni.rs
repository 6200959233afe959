//! Server-side SNI routing (stunnel-reference §5.15): secondaries
//! (`sni = PRIMARY:PATTERN`) are reached through the primary's servername
//! callback, which switches the connection to the secondary's `SSL_CTX`,
//! verify mode and policy. Client-side SNI (sending a name) is a one-liner
//! in `handshake.rs`.

use std::sync::{Arc, OnceLock};

use openssl::ssl::{SniError, SslContext, SslContextBuilder, SslRef};

use super::conn::{self, Policy};
use super::verify;

/// One secondary of a primary.
pub struct Route {
    pub pattern: String,
    pub ctx: SslContext,
    pub policy: Arc<Policy>,
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

/// Install the servername callback on every server context: without
/// secondaries it only logs `SNI: no virtual services defined` (debug).
pub fn install(b: &mut SslContextBuilder, table: Table) {
    b.set_servername_callback(move |ssl, _alert| switch(ssl, &table));
}

fn switch(ssl: &mut SslRef, table: &Table) -> Result<(), SniError> {
    let routes = match table.get() {
        Some(r) if !r.is_empty() => r,
        _ => {
            crate::slog!(crate::log::DEBUG, "SNI: no virtual services defined");
            return Ok(());
        }
    };
    let Some(name) = ssl
        .servername(openssl::ssl::NameType::HOST_NAME)
        .map(str::to_string)
    else {
        crate::slog!(crate::log::NOTICE, "SNI: no servername received");
        return Err(SniError::NOACK);
    };
    crate::slog!(crate::log::INFO, "SNI: requested servername: {name}");
    for route in routes {
        if !matches(&name, &route.pattern) {
            continue;
        }
        crate::slog!(crate::log::DEBUG, "SNI: matched pattern: {}", route.pattern);
        if ssl.set_ssl_context(&route.ctx).is_err() {
            return Err(SniError::ALERT_FATAL);
        }
        ssl.set_verify_callback(route.policy.verify_mode, verify::callback);
        if let Some(c) = conn::get(ssl) {
            c.set_policy(route.policy.clone());
        }
        crate::slog!(
            crate::log::NOTICE,
            "SNI: switched to service [{}]",
            route.policy.name
        );
        return Ok(());
    }
    crate::slog!(
        crate::log::ERR,
        "SNI: no pattern matched servername: {name}"
    );
    Err(SniError::NOACK)
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
