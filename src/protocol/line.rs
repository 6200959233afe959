//! Blocking-style reads and writes of the negotiations, with stunnel's
//! limits and log lines (`s_read`, `fd_getline`, `ssl_getline`, … in
//! stunnel's `network.c`).
//!
//! * every read and write waits at most `TIMEOUTbusy`, then
//!   `…: s_poll_wait: TIMEOUTbusy exceeded: sending reset` and [`Abort::Reset`];
//! * lines are read one byte at a time, so nothing after the line is
//!   consumed: the bytes that follow (a TLS ClientHello, the data) stay in
//!   the socket for the next stage;
//! * a line ends at LF or NUL, every CR is dropped, more than 64 KiB aborts;
//!   lines written get CRLF;
//! * at debug level each line is traced as ` <- text` / ` -> text`.
//!
//! A [`Wire`] is either the plain (`fd_*`, `s_read`) or the TLS (`ssl_*`,
//! `s_ssl_read`) flavour; only the log texts differ. Not here: what lines
//! mean.

use super::{Abort, Io};
use crate::log::{DEBUG, ERR, INFO};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// stunnel's DoS limit for one line (`ptr>65536`).
const MAX_LINE: usize = 65536;

/// One side of a negotiation.
pub(super) struct Wire<'a> {
    /// The stream; borrowed, the connection keeps owning it.
    io: &'a mut dyn Io,
    /// `TIMEOUTbusy`; `None` waits forever.
    busy: Option<Duration>,
    /// TLS flavour of the log texts (`s_ssl_read` rather than `s_read`).
    tls: bool,
}

impl<'a> Wire<'a> {
    /// A plain socket (stunnel's `fd_*` / `s_read` / `s_write`).
    pub(super) fn plain(io: &'a mut dyn Io, busy: Option<Duration>) -> Self {
        Wire {
            io,
            busy,
            tls: false,
        }
    }

    /// The TLS stream (stunnel's `ssl_*` / `s_ssl_read` / `s_ssl_write`).
    pub(super) fn tls(io: &'a mut dyn Io, busy: Option<Duration>) -> Self {
        Wire {
            io,
            busy,
            tls: true,
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
            let read = self.io.read(&mut buf[total..]);
            let num = match self.busy {
                Some(t) => match tokio::time::timeout(t, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        slog!(
                            INFO,
                            "{}: s_poll_wait: TIMEOUTbusy exceeded: sending reset",
                            self.read_name()
                        );
                        return Err(Abort::Reset);
                    }
                },
                None => read.await,
            };
            match num {
                Ok(0) => {
                    if self.tls {
                        slog!(DEBUG, "s_ssl_read_eof: close_notify");
                    } else {
                        slog!(DEBUG, "s_read_eof: EOF");
                    }
                    break;
                }
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let what = if self.tls { "SSL_read" } else { "readsocket" };
                    slog!(ERR, "{}: {}: {}", self.read_name(), what, crate::os::errno::of_io(&e));
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
        let result = match self.busy {
            Some(t) => match tokio::time::timeout(t, write).await {
                Ok(r) => r,
                Err(_) => {
                    slog!(
                        INFO,
                        "{name}: s_poll_wait: TIMEOUTbusy exceeded: sending reset"
                    );
                    return Err(Abort::Reset);
                }
            },
            None => write.await,
        };
        result.map_err(|e| {
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
        let mut line = Vec::with_capacity(32);
        loop {
            if line.len() > MAX_LINE {
                let name = match (self.tls, text_line) {
                    (false, _) => "fd_getline",
                    (true, true) => "ssl_getline",
                    (true, false) => "ssl_getstring",
                };
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


/// stunnel's `is_prefix`: a case-insensitive prefix (`strncasecmp`).
pub(super) fn starts(line: &[u8], prefix: &str) -> bool {
    line.len() >= prefix.len() && line[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
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
    use tokio::io::duplex;

    #[tokio::test]
    async fn lines_drop_cr_end_at_lf_or_nul_and_leave_the_rest() {
        let (mut a, mut b) = duplex(1 << 20);
        a.write_all(b"one\r\ntw\ro\nthree\0rest").await.unwrap();
        let mut w = Wire::plain(&mut b, Some(Duration::from_secs(5)));
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
        let mut w = Wire::plain(&mut b, None);
        assert_eq!(w.read_line().await.unwrap().len(), MAX_LINE);
        assert_eq!(w.read_line().await, Err(Abort::Reset));
    }

    #[tokio::test]
    async fn eof_and_timeout_reset() {
        let (a, mut b) = duplex(64);
        drop(a);
        let mut w = Wire::plain(&mut b, Some(Duration::from_secs(5)));
        assert_eq!(w.read_line().await, Err(Abort::Reset));
        let (_a, mut b) = duplex(64);
        let mut w = Wire::tls(&mut b, Some(Duration::from_millis(20)));
        assert_eq!(w.read_u8().await, Err(Abort::Reset));
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
        Wire::plain(&mut b, None).write_str("EHLO x").await.unwrap();
        drop(b);
        let mut got = Vec::new();
        a.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"EHLO x\r\n");
    }
}
