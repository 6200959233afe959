//! The TLS side of a connection as a plain `AsyncRead + AsyncWrite`.
//!
//! Reads return `Ok(0)` both on close_notify and on a transport EOF without
//! one (Debian's stunnel 5.68 treats both as a close, patch 08-tls-eof;
//! OpenSSL 3 reports the latter as `unexpected eof while reading`, or as a
//! bare `SSL_ERROR_SYSCALL` through the `openssl` crate's BIO);
//! `poll_shutdown` sends close_notify without closing the TCP socket.
//! With `renegotiation = no`, a client renegotiation makes the next read
//! fail (`Aborting due to renegotiation request`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::conn::{Conn, RENEG_DETECTED};
use super::ffi;

/// OpenSSL's `SSL_R_UNEXPECTED_EOF_WHILE_READING` in `ERR_LIB_SSL`.
const UNEXPECTED_EOF: i32 = 294;
const ERR_LIB_SSL: i32 = 20;

pub struct TlsStream<S> {
    inner: tokio_openssl::SslStream<Plain<S>>,
    state: Arc<Conn>,
    /// Computed once after the handshake (see [`TlsStream::authenticated`]).
    authenticated: bool,
    /// The service chosen by SNI (or the accepting one).
    selected: usize,
    /// `renegotiation` of the selected service.
    renegotiation: bool,
    /// The peer closed the transport without close_notify.
    eof_without_notify: bool,
    /// Our close_notify went out; later shutdowns are no-ops.
    shutdown_done: bool,
}

impl<S> TlsStream<S> {
    pub(super) fn new(inner: tokio_openssl::SslStream<Plain<S>>, state: Arc<Conn>) -> Self {
        let policy = state.policy();
        let authenticated = authenticated(inner.ssl(), &state);
        TlsStream {
            inner,
            authenticated,
            selected: policy.index,
            renegotiation: policy.renegotiation,
            state,
            eof_without_notify: false,
            shutdown_done: false,
        }
    }

    pub fn ssl(&self) -> &openssl::ssl::SslRef {
        self.inner.ssl()
    }

    /// Server mode: the session, for stunnel's session persistence.
    pub fn persistence(&self) -> Option<Persistence> {
        let ssl = self.inner.ssl();
        Some(Persistence {
            session: ssl.session()?.to_owned(),
            reused: ssl.session_reused(),
        })
    }

    pub fn get_ref(&self) -> &S {
        &self.inner.get_ref().io
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner.get_mut().io
    }

    /// Index into `Config::services` of the service serving this
    /// connection: the SNI-selected secondary, else the accepting service.
    pub fn selected_service(&self) -> Option<usize> {
        Some(self.selected)
    }

    /// The peer presented a certificate that passed verification (also for
    /// resumed sessions). Server sections with `redirect` send the others
    /// to the redirect targets.
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// A close_notify alert was read (as opposed to a bare transport EOF).
    pub fn close_notify_received(&self) -> bool {
        ffi::close_notify_received(self.inner.ssl())
    }

    /// The peer closed the transport without close_notify.
    pub fn eof_without_close_notify(&self) -> bool {
        self.eof_without_notify
    }

    /// A fatal TLS alert was received or sent on this connection.
    pub fn fatal_alert_received(&self) -> bool {
        self.state.fatal_alert.load(Ordering::SeqCst)
    }

    /// Subject of the peer certificate in stunnel's one-line form.
    pub fn peer_subject(&self) -> Option<String> {
        self.inner
            .ssl()
            .peer_certificate()
            .map(|c| ffi::name_text(c.subject_name()))
    }

    /// Subject and issuer of the peer certificate in stunnel's one-line
    /// form (`exec`'s `SSL_CLIENT_DN` and `SSL_CLIENT_I_DN`).
    pub fn peer_names(&self) -> Option<(String, String)> {
        self.inner.ssl().peer_certificate().map(|c| {
            (
                ffi::name_text(c.subject_name()),
                ffi::name_text(c.issuer_name()),
            )
        })
    }

    fn renegotiation_abort(&self) -> Option<io::Error> {
        if self.renegotiation || self.state.reneg.load(Ordering::SeqCst) != RENEG_DETECTED {
            return None;
        }
        crate::slog!(crate::log::ERR, "Aborting due to renegotiation request");
        Some(io::Error::other("Aborting due to renegotiation request"))
    }
}

/// Is this read error OpenSSL 3's report of an EOF without close_notify?
fn is_unexpected_eof(e: &io::Error) -> bool {
    let Some(ssl_err) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
    else {
        return false;
    };
    ssl_err.ssl_error().is_some_and(|stack| {
        stack
            .errors()
            .iter()
            .any(|x| x.library_code() == ERR_LIB_SSL && x.reason_code() == UNEXPECTED_EOF)
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.eof_without_notify {
            return Poll::Ready(Ok(()));
        }
        // Records still in the write buffer go out before we wait for an
        // answer to them (a caller that writes, then reads, without flush).
        this.inner.get_mut().try_drain(cx)?;
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(e) = this.renegotiation_abort() {
            return Poll::Ready(Err(e));
        }
        match result {
            Poll::Ready(Err(e)) if is_unexpected_eof(&e) => {
                this.eof_without_notify = true;
                Poll::Ready(Ok(()))
            }
            // Through the crate's BIO the bare EOF usually arrives as
            // SSL_ERROR_SYSCALL without an error, i.e. a 0-byte read.
            Poll::Ready(Ok(()))
                if buf.filled().len() == before
                    && buf.remaining() > 0
                    && !ffi::close_notify_received(this.inner.ssl()) =>
            {
                this.eof_without_notify = true;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(stunnel_error(e))),
            Poll::Pending => {
                // Nothing to read: the connection is (for now) idle.
                ffi::free_idle_buffers(this.inner.ssl());
                Poll::Pending
            }
            other => other,
        }
    }
}

/// An OpenSSL error out of `SSL_read`/`SSL_write` in stunnel's form: the
/// older queue entries are logged now as `error queue: FILE:LINE: error:…`
/// (err) and the newest becomes the error's text, which the copy loop logs
/// as `SSL_read: FILE:LINE: error:…` (stunnel-reference §5.9.4). Socket
/// errors pass unchanged.
fn stunnel_error(e: io::Error) -> io::Error {
    let Some(stack) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<openssl::ssl::Error>())
        .and_then(|ssl| ssl.ssl_error())
    else {
        return e;
    };
    let err = super::errors::TlsError::new("", stack);
    let Some((last, older)) = err.queue.split_last() else {
        return e;
    };
    for entry in older {
        crate::slog!(crate::log::ERR, "error queue: {entry}");
    }
    io::Error::other(last.clone())
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf)).map_err(stunnel_error)?;
        // One record per call (SSL_MODE_ENABLE_PARTIAL_WRITE). When the
        // caller's bytes are all in, send what was gathered: one `write` for
        // all the records of a buffer, and a caller that never flushes still
        // sees its bytes leave. A full socket keeps the rest for the next
        // call or flush.
        if n == buf.len() {
            this.inner.get_mut().try_drain(cx)?;
        }
        Poll::Ready(Ok(n))
    }

    /// Done when every gathered record has left (`Plain`'s flush may
    /// leave some behind).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(Ok(())) => this.inner.get_mut().poll_drain(cx),
            other => other,
        }
    }

    /// Send close_notify (once); the transport stays open for the caller.
    /// After an EOF without close_notify there is nobody to tell.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.eof_without_notify || this.shutdown_done {
            return Poll::Ready(Ok(()));
        }
        let result = match Pin::new(&mut this.inner).poll_shutdown(cx) {
            // close_notify is gathered; it must have left before the
            // caller closes the socket.
            Poll::Ready(Ok(())) => this.inner.get_mut().poll_drain(cx),
            other => other,
        };
        if let Poll::Ready(Ok(())) = result {
            this.shutdown_done = true;
        }
        result
    }
}

/// The transport under OpenSSL. Reads pass through. OpenSSL writes each
/// TLS record with its own BIO write; here they are gathered and sent with
/// one `write` on flush (and when [`COALESCE`] bytes are waiting), so the
/// four records of a 64 KiB transfer buffer cost one system call and one
/// wake-up of the peer, not four. `poll_shutdown` only flushes, so that
/// sending close_notify does not also send a FIN (the transfer loop decides
/// about the socket).
pub struct Plain<S> {
    pub io: S,
    /// Records written by OpenSSL and not yet sent; `out[sent..]` is left.
    out: Vec<u8>,
    sent: usize,
}

/// Gathered bytes above which a record write first sends what is waiting.
const COALESCE: usize = 64 * 1024;

impl<S> Plain<S> {
    pub fn new(io: S) -> Plain<S> {
        Plain {
            io,
            out: Vec::new(),
            sent: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> Plain<S> {
    /// Send the gathered records; `Ready(Ok)` once none is left.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]))? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => self.sent += n,
            }
        }
        // Empty: an idle connection keeps no buffer.
        self.out = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Send what the socket takes now; the rest waits for the next try,
    /// only an error stops the caller.
    fn try_drain(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.poll_drain(cx) {
            Poll::Ready(Err(e)) => Err(e),
            Poll::Ready(Ok(())) | Poll::Pending => Ok(()),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Plain<S> {
    /// Reads pass through, after another try at sending what is gathered:
    /// OpenSSL reads the peer's answer to records its flush could not send
    /// yet (see `poll_flush`). A full socket does not stop the read: a
    /// peer that writes before it reads must not wait for us forever.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.try_drain(cx)?;
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Plain<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.out.len() - this.sent >= COALESCE {
            // Pending here makes OpenSSL retry this record later.
            ready!(this.poll_drain(cx))?;
        }
        this.out.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    /// OpenSSL's `BIO_flush` lands here, and a flush error is fatal to a
    /// handshake (no retry: the openssl crate sets no BIO retry flag for
    /// it). So a socket that is not writable yet (a new one whose
    /// readiness tokio has not seen) is not an error: the rest stays
    /// gathered, the waker is registered, and the next read, write or
    /// [`TlsStream`]'s own flush or shutdown sends it.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.poll_drain(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Whether the peer presented a certificate that passed verification
/// (travels with resumed sessions: OpenSSL keeps the verify result).
fn authenticated(ssl: &openssl::ssl::SslRef, state: &Arc<Conn>) -> bool {
    ssl.peer_certificate().is_some()
        && ssl.verify_result() == openssl::x509::X509VerifyResult::OK
        && !state
            .verify_failed
            .load(std::sync::atomic::Ordering::SeqCst)
}

/// stunnel's session persistence (server mode, stunnel-reference §5.4 item
/// 4): the backend a session first reached is kept in the session, and a
/// connection that resumes it starts its failover list there. Sessions
/// resumed from a ticket are new objects and carry nothing (`persistence:
/// No cached address found`), exactly as in stunnel; sessions from the
/// server's cache (`options = NO_TICKET`) do.
pub struct Persistence {
    session: openssl::ssl::SslSession,
    reused: bool,
}

impl Persistence {
    /// For a resumed session: `Some(backend it remembers)`; `None` for a
    /// new session (nothing to look up).
    pub fn remembered(&self) -> Option<Option<String>> {
        self.reused.then(|| ffi::session_backend(&self.session))
    }

    /// Keep `address` as this session's backend.
    pub fn remember(&self, address: &str) -> bool {
        ffi::set_session_backend(&self.session, address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the `write` calls that reach the socket.
    #[derive(Default)]
    struct Socket {
        writes: usize,
        bytes: Vec<u8>,
    }

    impl AsyncWrite for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.writes += 1;
            this.bytes.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Records written by OpenSSL leave in one `write` on flush, in order,
    /// and the gathering buffer is gone afterwards.
    #[tokio::test]
    async fn records_leave_in_one_write_on_flush() {
        use tokio::io::AsyncWriteExt;
        let mut plain = Plain::new(Socket::default());
        for record in [&b"first "[..], b"second ", b"third"] {
            plain.write_all(record).await.unwrap();
        }
        assert_eq!(plain.io.writes, 0, "nothing sent before the flush");
        plain.flush().await.unwrap();
        assert_eq!(plain.io.writes, 1);
        assert_eq!(plain.io.bytes, b"first second third");
        assert_eq!(
            plain.out.capacity(),
            0,
            "an idle connection keeps no buffer"
        );
    }

    /// Past COALESCE waiting bytes, the next record first sends them.
    #[tokio::test]
    async fn a_full_gathering_buffer_is_sent_before_more_is_taken() {
        use tokio::io::AsyncWriteExt;
        let mut plain = Plain::new(Socket::default());
        let record = vec![7u8; 16 * 1024];
        for _ in 0..5 {
            plain.write_all(&record).await.unwrap();
        }
        assert_eq!(plain.io.writes, 1, "four records sent together");
        plain.flush().await.unwrap();
        assert_eq!(plain.io.writes, 2);
        assert_eq!(plain.io.bytes.len(), 5 * 16 * 1024);
    }
}
