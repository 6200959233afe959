//! `PSKsecrets` / `PSKidentity`: stunnel's PSK callbacks and their log lines.
//!
//! Server: the client's identity is looked up in the active service's
//! secrets (`Key configured for PSK identity "X"` / `PSK identity not found
//! (session resumption?)`). Client: the selected identity (`PSKidentity`,
//! else the first of the file) is sent. Both are OpenSSL's TLS 1.2-style
//! callbacks, as in stunnel 5.68; for TLS 1.3 OpenSSL turns the key into a
//! session with TLS_AES_128_GCM_SHA256, so a server whose `ciphersuites`
//! has no SHA-256 suite refuses PSK clients. Secrets are parsed by the
//! config; this file only answers OpenSSL.

use std::sync::atomic::Ordering;

use openssl::error::ErrorStack;
use openssl::ssl::{SslContextBuilder, SslRef};

use crate::config::model::ServiceOptions;
use crate::log::{ERR, INFO, NOTICE};

use super::conn;
use super::errors::TlsError;

/// The secrets in the order the callbacks use: for a client, the selected
/// identity first.
pub fn ordered(tls: &ServiceOptions, client: bool) -> Result<Vec<(String, Vec<u8>)>, TlsError> {
    let mut list = tls.psk_secrets.clone();
    if client {
        if let Some(id) = &tls.psk_identity {
            let Some(pos) = list.iter().position(|(i, _)| i == id) else {
                return Err(TlsError::message(
                    "No key found for the specified PSK identity",
                ));
            };
            let chosen = list.remove(pos);
            list.insert(0, chosen);
        }
    }
    Ok(list)
}

/// Install the server or client callback when secrets are configured.
pub fn install(b: &mut SslContextBuilder, client: bool, secrets: &[(String, Vec<u8>)]) {
    if secrets.is_empty() {
        return;
    }
    // 0 bytes of key: no PSK, the handshake fails.
    if client {
        b.set_psk_client_callback(|ssl, hint, identity, psk| {
            super::guard::contained(
                "PSK client",
                || Ok(0),
                || client_callback(ssl, hint, identity, psk),
            )
        });
    } else {
        b.set_psk_server_callback(|ssl, identity, psk| {
            super::guard::contained(
                "PSK server",
                || Ok(0),
                || server_callback(ssl, identity, psk),
            )
        });
    }
}

/// stunnel's `psk_server_callback`. OpenSSL also calls it for every TLS 1.3
/// PSK identity the client offers, session tickets included: an unknown
/// identity is therefore only an info line, and OpenSSL goes on to try it
/// as a ticket.
fn server_callback(
    ssl: &mut SslRef,
    identity: Option<&[u8]>,
    psk: &mut [u8],
) -> Result<usize, ErrorStack> {
    let Some(conn) = conn::get(ssl) else {
        return Ok(0);
    };
    let policy = conn.policy();
    let identity = identity.unwrap_or_default();
    let Some((id, key)) = policy.psk.iter().find(|(id, _)| id.as_bytes() == identity) else {
        crate::slog!(INFO, "PSK identity not found (session resumption?)");
        return Ok(0);
    };
    if key.len() > psk.len() {
        crate::slog!(ERR, "PSK too long ({}>{})", key.len(), psk.len());
        return Ok(0);
    }
    psk[..key.len()].copy_from_slice(key);
    conn.psk_matched.store(true, Ordering::SeqCst);
    crate::slog!(NOTICE, "Key configured for PSK identity \"{id}\"");
    Ok(key.len())
}

fn client_callback(
    ssl: &mut SslRef,
    _hint: Option<&[u8]>,
    identity: &mut [u8],
    psk: &mut [u8],
) -> Result<usize, ErrorStack> {
    let Some(policy) = conn::get(ssl).map(|c| c.policy()) else {
        return Ok(0);
    };
    let Some((id, key)) = policy.psk.first() else {
        crate::slog!(ERR, "INTERNAL ERROR: No PSK identity selected");
        return Ok(0);
    };
    if id.len() >= identity.len() {
        crate::slog!(
            ERR,
            "PSK identity too long ({}>={} bytes)",
            id.len(),
            identity.len()
        );
        return Ok(0);
    }
    if key.len() > psk.len() {
        crate::slog!(ERR, "PSK too long ({}>{} bytes)", key.len(), psk.len());
        return Ok(0);
    }
    identity[..id.len()].copy_from_slice(id.as_bytes());
    identity[id.len()] = 0;
    psk[..key.len()].copy_from_slice(key);
    crate::slog!(INFO, "PSK client configured for identity \"{id}\"");
    Ok(key.len())
}
