//! Driving a handshake on a tokio stream and stunnel's log lines around it
//! (stunnel-reference §5.5): `Peer certificate required`, `SNI: sending
//! servername: X`, then on success `TLS accepted: new session negotiated`,
//! `TLSv1.3 ciphersuite: NAME (256-bit encryption)`, `Peer temporary key: …`.
//!
//! The caller bounds the whole handshake with `TIMEOUTbusy`.

use std::pin::Pin;
use std::sync::atomic::AtomicBool;

use openssl::pkey::Id;
use openssl::ssl::{ErrorCode, Ssl, SslContextRef, SslOptions, SslRef};
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::{self, Conn};
use super::context::TlsContext;
use super::errors::TlsError;
use super::stream::{Plain, TlsStream};
use super::{ffi, hello};

/// A handshake in progress, on the heap (see [`TlsContext::handshake`]).
pub type Handshake<'a, S> =
    Pin<Box<dyn std::future::Future<Output = Result<TlsStream<S>, TlsError>> + Send + 'a>>;

/// Which end of the handshake this side is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Server,
    /// Client of a connection that reached connect target `target` (index
    /// into the service's resolved address list): it offers and keeps that
    /// target's session, as stunnel does with several targets and `delay =
    /// no` (§5.11); `None` (or `delay = yes`) uses the service's one slot.
    Client {
        target: Option<usize>,
    },
}

impl TlsContext {
    /// Server side without an alert flag (see [`Self::handshake`]).
    pub async fn accept<S>(&self, stream: S) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.handshake(stream, Side::Server, None).await
    }

    /// Client side on the service's session slot, without an alert flag.
    pub async fn connect<S>(&self, stream: S) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        self.handshake(stream, Side::Client { target: None }, None)
            .await
    }

    /// The TLS handshake on `stream` as `side`: every connection's, and the
    /// two shorthands' above. `alert`, when given, is raised when the
    /// handshake fails with a fatal alert, *before* `stream` is dropped: the
    /// connection closes that socket with FIN then, so the alert reaches
    /// the peer (stunnel-reference §5.7.4).
    ///
    /// Boxed: the handshake's state lives on the heap only while it runs,
    /// so the connection task (sized by its largest stage) stays small for
    /// the idle rest of the connection's life.
    pub fn handshake<'a, S>(
        &'a self,
        stream: S,
        side: Side,
        alert: Option<&'a AtomicBool>,
    ) -> Handshake<'a, S>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'a,
    {
        Box::pin(self.run_handshake(stream, side, alert))
    }

    async fn run_handshake<S>(
        &self,
        stream: S,
        side: Side,
        alert: Option<&AtomicBool>,
    ) -> Result<TlsStream<S>, TlsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let (client, slot) = match side {
            Side::Server => (false, None),
            Side::Client { target } => (true, target.filter(|_| !self.inner.delay)),
        };
        let context = if client { "SSL_connect" } else { "SSL_accept" };
        // Counted, so that the memory a burst of handshakes freed is given
        // back once the last one is over.
        let _running = crate::os::memory::Handshake::start();
        let inner = &self.inner;
        // Leftovers of earlier failures on this thread must not show up in
        // this connection's error lines.
        let _ = openssl::error::ErrorStack::get();
        let mut ssl = Ssl::new(&inner.ctx).map_err(|e| TlsError::new("SSL_new", &e))?;
        let state = Conn::for_target(inner.policy.clone(), inner.tickets.clone(), slot);
        let index = conn::index().ok_or_else(|| TlsError::from_queue("SSL_get_ex_new_index"))?;
        ssl.set_ex_data(index, state.clone());
        if client {
            match &inner.sni_name {
                Some(name) => {
                    crate::slog!(crate::log::INFO, "SNI: sending servername: {name}");
                    ssl.set_hostname(name)
                        .map_err(|e| TlsError::new("SSL_set_tlsext_host_name", &e))?;
                }
                None => crate::slog!(crate::log::INFO, "SNI: extension disabled"),
            }
            if let Some(session) = inner.last_session.get(slot) {
                ffi::offer_session(&mut ssl, &session);
            }
            if inner.request_staple {
                ssl.set_status_type(openssl::ssl::StatusType::OCSP)
                    .map_err(|e| TlsError::new("SSL_set_tlsext_status_type", &e))?;
            }
        }
        let required = if inner.policy.verify.require {
            ""
        } else {
            "not "
        };
        crate::slog!(crate::log::INFO, "Peer certificate {required}required");

        let mut tls = tokio_openssl::SslStream::new(ssl, Plain::new(stream))
            .map_err(|e| TlsError::new("SSL_set_fd", &e))?;
        let result = if client {
            Pin::new(&mut tls).connect().await
        } else {
            Pin::new(&mut tls).accept().await
        };
        if let Err(e) = result {
            let mut err = handshake_error(context, &e);
            err.fatal_alert_received = state.fatal_alert.load(std::sync::atomic::Ordering::SeqCst);
            if is_eof(&e, tls.ssl()) {
                if let Some(queue) = ffi::eof_queue() {
                    err = TlsError::new(context, queue);
                    // OpenSSL's fatal `unexpected eof` sends an alert, so
                    // stunnel closes that socket (`Connection reset/closed`).
                    err.fatal_alert_received = true;
                }
            }
            if let (true, Some(flag)) = (err.fatal_alert_received, alert) {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            err.cause = Some(super::failure::classify(&err, tls.ssl(), &e));
            if !client {
                err.hints = hello::hints(tls.ssl(), &err);
                let _ = openssl::error::ErrorStack::get();
            }
            return Err(err);
        }
        // What the client offered only serves failure hints: an idle
        // connection must not carry it for its whole life.
        drop(state.offer.lock().unwrap_or_else(|p| p.into_inner()).take());
        let psk = state.psk_matched.load(std::sync::atomic::Ordering::SeqCst);
        log_success(tls.ssl(), client, psk, &inner.ctx);
        Ok(TlsStream::new(tls, state))
    }
}

/// The peer closed the transport during the handshake, which OpenSSL 3
/// reports as `unexpected eof while reading` (unless the service's
/// `options` include `IGNORE_UNEXPECTED_EOF`, where stunnel says `Peer
/// suddenly disconnected`); through the `openssl` crate's BIO it arrives as
/// a bare `SSL_ERROR_SYSCALL` without an OS error.
fn is_eof(e: &openssl::ssl::Error, ssl: &SslRef) -> bool {
    let bare = e.ssl_error().is_none()
        && e.code() == ErrorCode::SYSCALL
        && e.io_error()
            .map_or(true, |io| io.kind() == std::io::ErrorKind::UnexpectedEof);
    let ignore = SslOptions::IGNORE_UNEXPECTED_EOF.bits();
    bare && ffi::context_options(ssl) & ignore == 0
}

/// `SSL_accept: <queue>`, a socket error as `Connection reset by peer
/// (104)`, or an empty queue (`Peer suddenly disconnected`).
fn handshake_error(context: &str, e: &openssl::ssl::Error) -> TlsError {
    if let Some(stack) = e.ssl_error() {
        return TlsError::new(context, stack);
    }
    if let Some(io) = e.io_error() {
        if let Some(code) = io.raw_os_error() {
            return TlsError::plain(context, crate::os::errno::text(code));
        }
        if io.kind() != std::io::ErrorKind::UnexpectedEof {
            return TlsError::plain(context, io.to_string());
        }
    }
    if e.code() == ErrorCode::ZERO_RETURN {
        return TlsError::plain(context, "Connection closed");
    }
    TlsError {
        context: context.to_string(),
        queue: Vec::new(),
        hints: Vec::new(),
        fatal_alert_received: false,
        cause: None,
    }
}

/// `psk`: the server's PSK callback matched an identity. OpenSSL counts a
/// TLS 1.3 external PSK as a resumption; a stunnel 5.68 server still says
/// "new session negotiated" then, so only a ticket shows as reused. Its
/// client has no such exception (every TLS 1.3 PSK connection "reused").
/// `session_ctx` is the context the `SSL` was made from: its cache is the
/// one OpenSSL looks sessions up in, also after an SNI switch.
fn log_success(ssl: &SslRef, client: bool, psk: bool, session_ctx: &SslContextRef) {
    let reused = ssl.session_reused();
    // `No peer certificate received` is the new-session callback's line
    // (session.rs), as in stunnel.
    let verb = if client { "connected" } else { "accepted" };
    let how = if reused && !psk {
        "previous session reused"
    } else {
        "new session negotiated"
    };
    crate::slog!(crate::log::INFO, "TLS {verb}: {how}");
    if !client && !reused {
        // stunnel adds each new server session to the cache itself (also
        // the ticket ones OpenSSL leaves out); a duplicate is ignored.
        // Never into the SNI-selected context: OpenSSL already keeps the
        // session in `session_ctx`'s cache, and a session on the lists of
        // two caches corrupts both.
        if let Some(session) = ssl.session() {
            // SAFETY: the session was negotiated through this context.
            unsafe {
                session_ctx.add_session(session);
            }
        }
    }
    if let Some(cipher) = ssl.current_cipher() {
        crate::slog!(
            crate::log::INFO,
            "{} ciphersuite: {} ({}-bit encryption)",
            ssl.version_str(),
            cipher.name(),
            cipher.bits().secret
        );
    }
    crate::slog!(crate::log::INFO, "{}", temporary_key(ssl));
    crate::slog!(crate::log::DEBUG, "Compression: null, expansion: null");
    if reused {
        if let Some(session) = ssl.session() {
            crate::slog!(
                crate::log::INFO,
                "Session id: {}",
                super::session::hex(session.id())
            );
        }
    }
}

/// stunnel's `print_tmp_key`.
fn temporary_key(ssl: &SslRef) -> String {
    let Ok(key) = ssl.peer_tmp_key() else {
        return "No peer temporary key received".to_string();
    };
    let bits = key.bits();
    match key.id() {
        Id::RSA => format!("Peer temporary key: RSA, {bits} bits"),
        Id::DH => format!("Peer temporary key: DH, {bits} bits"),
        Id::EC => {
            let curve = key
                .ec_key()
                .ok()
                .and_then(|ec| ec.group().curve_name())
                .map(|nid| ffi::curve_name(nid.as_raw()))
                .unwrap_or_else(|| "unknown".to_string());
            format!("Peer temporary key: ECDH, {curve}, {bits} bits")
        }
        other => format!(
            "Peer temporary key: {}, {bits} bits",
            ffi::short_name(other.as_raw())
        ),
    }
}
