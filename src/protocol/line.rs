//! Blocking-style reads and writes of the negotiations, with stunnel's
//! limits and log lines (`s_read`, `fd_getline`, `ssl_getline`, … in
//! stunnel's `network.c`), and the totals stunnel lacks.
//!
//! * every read and write waits at most `TIMEOUTbusy`, then
//!   `…: s_poll_wait: TIMEOUTbusy exceeded: sending reset` and [`Abort::Reset`];
//! * the negotiation as a whole also ends after `TIMEOUTbusy`, counted from
//!   its first read or write ([`Busy`]): stunnel restarts the wait on every
//!   read, so a peer dripping one line every few seconds, or streaming
//!   endless header lines, held a connection (and a core) forever;
//! * per peer, at most [`MAX_LINES`] lines and [`MAX_BYTES`] bytes are read;
//! * lines are read one byte at a time, so nothing after the line is
//!   consumed: the bytes that follow (a TLS ClientHello, the data) stay in
//!   the socket for the next stage;
//! * a line ends at LF or NUL, every CR is dropped, more than 64 KiB aborts;
//!   lines written get CRLF;
//! * at debug level each line is traced as ` <- text` / ` -> text`.
//!
//! Each limit that ends a negotiation logs one line naming it. A [`Wire`]
//! is either the plain (`fd_*`, `s_read`) or the TLS (`ssl_*`,
//! `s_ssl_read`) flavour; only the log texts differ. Not here: what lines
//! mean.

use super::busy::Busy;
use super::hook::{Abort, Io};
use crate::log::{DEBUG, ERR, INFO};
use std::future::Future;
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// stunnel's DoS limit for one line (`ptr>65536`).
const MAX_LINE: usize = 65536;

/// Lines one peer may send in one negotiation. The longest legitimate
/// exchanges are header blocks and multi-line replies: Apache accepts 100
/// request header fields by default, an SMTP EHLO reply has a few dozen
/// extension lines; 256 leaves room for both and stops an endless stream of
/// `250-` lines or CONNECT headers early.
pub(super) const MAX_LINES: usize = 256;

/// Bytes one peer may send in one negotiation: 16 lines of stunnel's
/// maximum length, above Apache's default header block (100 fields of
/// 8 KiB), far below what would matter for memory or CPU.
pub(super) const MAX_BYTES: usize = 16 * MAX_LINE;

/// One side of a negotiation.
pub(super) struct Wire<'a> {
    /// The stream; borrowed, the connection keeps owning it.
    io: &'a mut dyn Io,
    /// The negotiation's time limits, shared by its wires.
    busy: &'a Busy,
    /// TLS flavour of the log texts (`s_ssl_read` rather than `s_read`).
    tls: bool,
    /// Lines and bytes read from this peer so far.
    lines: usize,
    bytes: usize,
}

impl<'a> Wire<'a> {
    /// A plain socket (stunnel's `fd_*` / `s_read` / `s_write`).
    pub(super) fn plain(io: &'a mut dyn Io, busy: &'a Busy) -> Self {
        Wire {
            io,
            busy,
            tls: false,
            lines: 0,
            bytes: 0,
        }
    }

    /// The TLS stream (stunnel's `ssl_*` / `s_ssl_read` / `s_ssl_write`).
    pub(super) fn tls(io: &'a mut dyn Io, busy: &'a Busy) -> Self {
        Wire {
            io,
            busy,
            tls: true,
            lines: 0,
            bytes: 0,
        }
    }

    fn read_name(&self) -> &'static str {
        if self.tls {
            "s_ssl_read_eof"
        } else {
            "s_read_eof"
        }
    }

    /// Read up to `buf.len()` bytes, fewer only at EOF (`s_read_eof`).
    pub(super) async fn read_eof(&mut self, buf: &mut [u8]) -> Result<usize, Abort> {
        let mut total = 0;
        while total < buf.len() {
            let name = self.read_name();
            let read = self.io.read(&mut buf[total..]);
            let num = bounded(self.busy, name, read).await?;
            match num {
                Ok(0) => {
                    if self.tls {
                        slog!(DEBUG, "s_ssl_read_eof: close_notify");
                    } else {
                        slog!(DEBUG, "s_read_eof: EOF");
                    }
                    break;
                }
                Ok(n) => {
                    total += n;
                    self.bytes += n;
                    if self.bytes > MAX_BYTES {
                        slog!(
                            ERR,
                            "{name}: Negotiation too long: more than {MAX_BYTES} bytes"
                        );
                        return Err(Abort::Reset);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let what = if self.tls { "SSL_read" } else { "readsocket" };
                    slog!(ERR, "{}: {}: {}", name, what, crate::os::errno::of_io(&e));
                    return Err(Abort::Reset);
                }
            }
        }
        Ok(total)
    }

    /// Read exactly `buf.len()` bytes; EOF is an error (`s_read`).
    pub(super) async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Abort> {
        if self.read_eof(buf).await? != buf.len() {
            let name = if self.tls { "s_ssl_read" } else { "s_read" };
            slog!(ERR, "{name}: Unexpected socket close");
            return Err(Abort::Reset);
        }
        Ok(())
    }

    /// One byte (`s_read(…, 1)`).
    pub(super) async fn read_u8(&mut self) -> Result<u8, Abort> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b).await?;
        Ok(b[0])
    }

    /// Write all of `buf` (`s_write` / `s_ssl_write`).
    pub(super) async fn write_all(&mut self, buf: &[u8]) -> Result<(), Abort> {
        let name = if self.tls { "s_ssl_write" } else { "s_write" };
        let io = &mut *self.io;
        let write = async move {
            io.write_all(buf).await?;
            io.flush().await
        };
        bounded(self.busy, name, write).await?.map_err(|e| {
            let what = if self.tls { "SSL_write" } else { "writesocket" };
            slog!(ERR, "{name}: {what}: {}", crate::os::errno::of_io(&e));
            Abort::Reset
        })
    }

    /// A line without its terminator (`fd_getline` / `ssl_getline`).
    pub(super) async fn read_line(&mut self) -> Result<Vec<u8>, Abort> {
        let line = self.read_until(true).await?;
        slog!(DEBUG, " <- {}", String::from_utf8_lossy(&line));
        Ok(line)
    }

    /// A NUL-terminated string, not traced (`ssl_getstring`, SOCKS4).
    pub(super) async fn read_cstring(&mut self) -> Result<Vec<u8>, Abort> {
        self.read_until(false).await
    }

    async fn read_until(&mut self, text_line: bool) -> Result<Vec<u8>, Abort> {
        let name = match (self.tls, text_line) {
            (false, _) => "fd_getline",
            (true, true) => "ssl_getline",
            (true, false) => "ssl_getstring",
        };
        self.lines += 1;
        if self.lines > MAX_LINES {
            slog!(
                ERR,
                "{name}: Negotiation too long: more than {MAX_LINES} lines"
            );
            return Err(Abort::Reset);
        }
        let mut line = Vec::with_capacity(32);
        loop {
            if line.len() > MAX_LINE {
                slog!(ERR, "{name}: Line too long");
                return Err(Abort::Reset);
            }
            match self.read_u8().await? {
                b'\r' if text_line => continue,
                b'\n' if text_line => break,
                0 => break,
                b => line.push(b),
            }
        }
        Ok(line)
    }

    /// Write `line` + CRLF and trace it (`fd_putline` / `ssl_putline`).
    pub(super) async fn write_line(&mut self, line: &[u8]) -> Result<(), Abort> {
        let mut buf = Vec::with_capacity(line.len() + 2);
        buf.extend_from_slice(line);
        buf.extend_from_slice(b"\r\n");
        self.write_all(&buf).await?;
        slog!(DEBUG, " -> {}", String::from_utf8_lossy(line));
        Ok(())
    }

    /// `write_line` of a formatted text (`fd_printf`).
    pub(super) async fn write_str(&mut self, line: &str) -> Result<(), Abort> {
        self.write_line(line.as_bytes()).await
    }
}

/// Run one read or write under the time limits: the per-wait
/// `TIMEOUTbusy` (stunnel's line, with `name`) or what is left of the
/// negotiation's total (rstunnel's line). A total already used up ends
/// the negotiation before the operation, even if its data is ready.
async fn bounded<T>(
    busy: &Busy,
    name: &str,
    op: impl Future<Output = io::Result<T>>,
) -> Result<io::Result<T>, Abort> {
    let Some((wait, total)) = busy.next_wait() else {
        return Ok(op.await);
    };
    if !wait.is_zero() {
        if let Ok(result) = tokio::time::timeout(wait, op).await {
            return Ok(result);
        }
    }
    if total {
        let limit = busy.limit.unwrap_or_default().as_secs();
        slog!(
            INFO,
            "Negotiation exceeded TIMEOUTbusy ({limit} s in total): sending reset"
        );
    } else {
        slog!(
            INFO,
            "{name}: s_poll_wait: TIMEOUTbusy exceeded: sending reset"
        );
    }
    Err(Abort::Reset)
}

/// stunnel's `is_prefix`: a case-insensitive prefix (`strncasecmp`).
pub(super) fn starts(line: &[u8], prefix: &str) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// The client side of a text STARTTLS (NNTP, POP3): the server's welcome
/// must start with one of `welcome` and is relayed to the plain client, then
/// `command` is sent and the reply must start with `ready`; TLS follows on
/// the same socket.
pub(super) async fn relay_welcome_then_starttls(
    local: &mut Wire<'_>,
    remote: &mut Wire<'_>,
    welcome: &[&str],
    command: &str,
    ready: &str,
) -> Result<(), Abort> {
    let line = remote.read_line().await?;
    if !welcome.iter().any(|w| starts(&line, w)) {
        slog!(ERR, "Unknown server welcome");
        return Err(Abort::Reset);
    }
    local.write_line(&line).await?;
    remote.write_str(command).await?;
    if !starts(&remote.read_line().await?, ready) {
        slog!(ERR, "Server does not support TLS");
        return Err(Abort::Reset);
    }
    Ok(())
}

/// `a` followed by `b`, for lines built from received bytes.
pub(super) fn cat(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(a.len() + b.len());
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::duplex;
    use tokio::time::Instant;

    #[tokio::test]
    async fn lines_drop_cr_end_at_lf_or_nul_and_leave_the_rest() {
        let (mut a, mut b) = duplex(1 << 20);
        a.write_all(b"one\r\ntw\ro\nthree\0rest").await.unwrap();
        let busy = Busy::new(Some(Duration::from_secs(5)));
        let mut w = Wire::plain(&mut b, &busy);
        assert_eq!(w.read_line().await.unwrap(), b"one");
        assert_eq!(w.read_line().await.unwrap(), b"two");
        assert_eq!(w.read_line().await.unwrap(), b"three");
        let mut rest = [0u8; 4];
        w.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"rest");
    }

    #[tokio::test]
    async fn a_line_of_64k_passes_and_one_byte_more_aborts() {
        let (mut a, mut b) = duplex(1 << 20);
        let mut data = vec![b'x'; MAX_LINE];
        data.push(b'\n');
        data.extend(vec![b'y'; MAX_LINE + 1]);
        data.push(b'\n');
        a.write_all(&data).await.unwrap();
        let busy = Busy::new(None);
        let mut w = Wire::plain(&mut b, &busy);
        assert_eq!(w.read_line().await.unwrap().len(), MAX_LINE);
        assert_eq!(w.read_line().await, Err(Abort::Reset));
    }

    #[tokio::test]
    async fn eof_and_timeout_reset() {
        let (a, mut b) = duplex(64);
        drop(a);
        let busy = Busy::new(Some(Duration::from_secs(5)));
        let mut w = Wire::plain(&mut b, &busy);
        assert_eq!(w.read_line().await, Err(Abort::Reset));
        let (_a, mut b) = duplex(64);
        let busy = Busy::new(Some(Duration::from_millis(20)));
        let mut w = Wire::tls(&mut b, &busy);
        assert_eq!(w.read_u8().await, Err(Abort::Reset));
    }

    #[tokio::test]
    async fn a_peer_gets_256_lines_and_1_mib_per_negotiation() {
        let (mut a, mut b) = duplex(1 << 22);
        a.write_all(&b"250-x\r\n".repeat(MAX_LINES + 1))
            .await
            .unwrap();
        let busy = Busy::new(None);
        let mut w = Wire::plain(&mut b, &busy);
        for _ in 0..MAX_LINES {
            assert_eq!(w.read_line().await.unwrap(), b"250-x");
        }
        assert_eq!(w.read_line().await, Err(Abort::Reset));

        let (mut a, mut b) = duplex(1 << 22);
        let long = [vec![b'h'; MAX_LINE], b"\n".to_vec()].concat();
        a.write_all(&long.repeat(16)).await.unwrap();
        let mut w = Wire::plain(&mut b, &busy);
        for _ in 0..15 {
            assert_eq!(w.read_line().await.unwrap().len(), MAX_LINE);
        }
        // With its LF the 16th line of 64 KiB crosses 1 MiB.
        assert_eq!(w.read_line().await, Err(Abort::Reset));
    }

    /// A peer that sends a line every 4 s never exceeds a 10 s wait, but
    /// the negotiation still ends 10 s after its first read.
    #[tokio::test(start_paused = true)]
    async fn busy_bounds_the_whole_negotiation_from_its_first_io() {
        let (mut a, mut b) = duplex(1 << 10);
        let dripper = tokio::spawn(async move {
            for _ in 0..10 {
                if a.write_all(b"X-Header: drip\r\n").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(4)).await;
            }
        });
        let busy = Busy::new(Some(Duration::from_secs(10)));
        let mut w = Wire::plain(&mut b, &busy);
        let start = Instant::now();
        let mut lines = 0;
        while w.read_line().await.is_ok() {
            lines += 1;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(10));
        assert_eq!(lines, 3, "lines at 0, 4 and 8 s");
        dripper.abort();

        // A silent peer: the one wait is the whole negotiation; stunnel's
        // per-wait limit ends it after exactly TIMEOUTbusy.
        let (_a, mut b) = duplex(64);
        let busy = Busy::new(Some(Duration::from_secs(10)));
        assert_eq!(busy.next_wait(), Some((Duration::from_secs(10), false)));
        let start = Instant::now();
        assert_eq!(
            Wire::plain(&mut b, &busy).read_line().await,
            Err(Abort::Reset)
        );
        assert_eq!(start.elapsed(), Duration::from_secs(10));
    }

    #[test]
    fn prefixes_ignore_case_as_strncasecmp() {
        assert!(starts(b"ehlo x", "EHLO "));
        assert!(starts(b"+ok hi", "+OK "));
        assert!(!starts(b"EHL", "EHLO "));
    }

    #[tokio::test]
    async fn written_lines_end_in_crlf() {
        let (mut a, mut b) = duplex(64);
        Wire::plain(&mut b, &Busy::new(None))
            .write_str("EHLO x")
            .await
            .unwrap();
        drop(b);
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"EHLO x\r\n");
    }
}
