//! `model::Service` → an OpenSSL context, in stunnel's order of calls
//! (stunnel-reference §6.1).

use crate::config::model::Service;

use super::errors::TlsError;
use super::stream::TlsStream;
use tokio::io::{AsyncRead, AsyncWrite};

/// Whether to read certificate/key/CA files while building (`-test` checks
/// the TLS policy without the files).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loading {
    Files,
    PolicyOnly,
}

/// A service's OpenSSL context plus what each connection needs from the
/// configuration to start a handshake. Cheap to clone (the context is
/// reference-counted by OpenSSL).
#[derive(Clone)]
pub struct TlsContext {
    _private: (),
}

/// Build the context for `service`. Errors are reported by the caller as
/// `Service [NAME]: Failed to initialize TLS context` after the queue lines.
pub fn build(service: &Service, loading: Loading) -> Result<TlsContext, TlsError> {
    let _ = (service, loading);
    todo!("tls helper")
}

impl TlsContext {
    /// Server side: TLS handshake with a client on `stream`.
    pub async fn accept<S>(&self, stream: S) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let _ = stream;
        todo!("tls helper")
    }

    /// Client side: TLS handshake with a server on `stream`.
    pub async fn connect<S>(&self, stream: S) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let _ = stream;
        todo!("tls helper")
    }

    /// `-test` report: protocol range, security level, concrete cipher list.
    pub fn describe(&self) -> Vec<String> {
        todo!("tls helper")
    }
}
