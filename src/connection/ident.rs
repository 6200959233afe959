//! `ident = USER`: the RFC 1413 check of a TCP client (stunnel's
//! `auth_user`, stunnel-reference §5.4.1), run before the connection is
//! announced as accepted.
//!
//! stunnel connects to the client's address on port `auth` (113 when
//! /etc/services lacks it: `Unknown service 'auth': using default 113`,
//! warning) within `TIMEOUTconnect`, sends `<client port> , <our port>`,
//! reads one line within `TIMEOUTbusy` and wants
//! `<ports> : USERID : <system> : <user>` with the user equal to `ident`.
//! Any failure resets the connection. Not here: Unix-socket clients (no
//! address; stunnel logs `IDENT not supported on Unix sockets` and lets
//! them through), which the caller handles.
//!
//! Our port is the local port of the accepted socket. (stunnel sends the
//! port of the section's first configured `accept` address, which is the
//! same unless the section listens on several ports or on port 0.)

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::address::fmt_inet;
use crate::config::model::Service;
use crate::log::{Logged, DEBUG, ERR, INFO, NOTICE, WARNING};
use crate::os::errno;

/// stunnel's DoS limit for one line (`fd_getline`).
const MAX_LINE: usize = 65536;

/// Ask the client's ident server who owns the connection; `Err` means the
/// connection must be reset (the reason is logged).
///
/// Boxed: the exchange's state (1.5 KiB) would otherwise size every
/// connection task, ident or not, for the connection's whole life.
pub fn check<'a>(
    service: &'a Service,
    user: &'a str,
    peer: SocketAddr,
    local_port: u16,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Logged>> + Send + 'a>> {
    Box::pin(check_inner(service, user, peer, local_port))
}

async fn check_inner(
    service: &Service,
    user: &str,
    peer: SocketAddr,
    local_port: u16,
) -> Result<(), Logged> {
    let server = SocketAddr::new(peer.ip(), auth_port());
    let mut conn = connect(service, server).await?;
    crate::slog!(DEBUG, "IDENT server connected");
    let request = format!("{} , {}", peer.port(), local_port);
    let busy = service.options.timeouts.busy;
    let line = match within(busy, exchange(&mut conn, &request)).await {
        Some(Ok(line)) => line,
        Some(Err(Logged)) => return Err(Logged),
        None => {
            crate::slog!(
                INFO,
                "s_read_eof: s_poll_wait: TIMEOUTbusy exceeded: sending reset"
            );
            return Err(Logged);
        }
    };
    drop(conn);
    let got = parse(&line)?;
    if got != user.as_bytes() {
        crate::slog!(
            WARNING,
            "Connection from {} REFUSED by IDENT (user \"{}\")",
            fmt_inet(&peer),
            safe_string(got)
        );
        return Err(Logged);
    }
    crate::slog!(INFO, "IDENT authentication passed");
    Ok(())
}

/// The reply's user field, checked the way stunnel checks it: split at the
/// first three colons, the type must be exactly ` USERID ` (spaces
/// included), leading spaces of the user are skipped, nothing is trimmed
/// at the end.
fn parse(line: &[u8]) -> Result<&[u8], Logged> {
    let malformed = || crate::slog!(ERR, "Malformed IDENT response");
    let mut fields = line.splitn(4, |b| *b == b':');
    let (_ports, kind, _system, user) =
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(p), Some(k), Some(s), Some(u)) => (p, k, s, u),
            (Some(_), Some(k), Some(_), None) if k != b" USERID " => {
                // stunnel checks the type before looking for the user field.
                crate::slog!(ERR, "Incorrect IDENT response type");
                return Err(Logged);
            }
            _ => {
                malformed();
                return Err(Logged);
            }
        };
    if kind != b" USERID " {
        crate::slog!(ERR, "Incorrect IDENT response type");
        return Err(Logged);
    }
    let start = user.iter().position(|b| *b != b' ').unwrap_or(user.len());
    Ok(&user[start..])
}

/// stunnel's `safestring`: anything but printable ASCII becomes `.`.
fn safe_string(s: &[u8]) -> String {
    s.iter()
        .map(|&b| {
            if (0x20..0x7f).contains(&b) {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

/// `s_connect` to the ident server, with its log lines.
async fn connect(service: &Service, server: SocketAddr) -> Result<TcpStream, Logged> {
    let shown = fmt_inet(&server);
    crate::slog!(INFO, "s_connect: connecting {shown}");
    match within(service.options.timeouts.connect, TcpStream::connect(server)).await {
        Some(Ok(conn)) => {
            crate::slog!(NOTICE, "s_connect: connected {shown}");
            Ok(conn)
        }
        Some(Err(e)) => {
            crate::slog!(ERR, "s_connect: connect {shown}: {}", errno::of_io(&e));
            Err(Logged)
        }
        None => {
            crate::slog!(
                ERR,
                "s_connect: s_poll_wait {shown}: TIMEOUTconnect exceeded"
            );
            Err(Logged)
        }
    }
}

/// Send the request line (`fd_printf`, CRLF) and read one reply line
/// (`fd_getline`: ends at LF or NUL, CRs dropped, 64 KiB at most).
async fn exchange(conn: &mut TcpStream, request: &str) -> Result<Vec<u8>, Logged> {
    if let Err(e) = conn.write_all(format!("{request}\r\n").as_bytes()).await {
        crate::slog!(ERR, "s_write: writesocket: {}", errno::of_io(&e));
        return Err(Logged);
    }
    crate::slog!(DEBUG, " -> {request}");
    let mut line = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = match conn.read(&mut buf).await {
            Ok(0) => {
                crate::slog!(ERR, "s_read: Unexpected socket close");
                return Err(Logged);
            }
            Ok(n) => n,
            Err(e) => {
                crate::slog!(ERR, "s_read_eof: readsocket: {}", errno::of_io(&e));
                return Err(Logged);
            }
        };
        for &b in &buf[..n] {
            match b {
                b'\r' => {}
                b'\n' | 0 => {
                    crate::slog!(DEBUG, " <- {}", String::from_utf8_lossy(&line));
                    return Ok(line);
                }
                b => line.push(b),
            }
        }
        if line.len() > MAX_LINE {
            crate::slog!(ERR, "fd_getline: Line too long");
            return Err(Logged);
        }
    }
}

async fn within<T>(
    limit: Option<Duration>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match limit {
        Some(d) => tokio::time::timeout(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// Port of the `auth` service from the services database (looked up once
/// per process: a blocking file read), else 113 with stunnel's warning on
/// every check, as stunnel logs it.
fn auth_port() -> u16 {
    static AUTH: std::sync::OnceLock<Option<u16>> = std::sync::OnceLock::new();
    AUTH.get_or_init(|| crate::os::net::tcp_service_port("auth"))
        .unwrap_or_else(|| {
            crate::slog!(WARNING, "Unknown service 'auth': using default 113");
            113
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_stunnel() {
        assert_eq!(
            parse(b"6193, 23 : USERID : UNIX : stjohns"),
            Ok(&b"stjohns"[..])
        );
        // Extra colons belong to the user field; trailing spaces are kept.
        assert_eq!(parse(b"1 , 2 : USERID : UNIX :  a:b "), Ok(&b"a:b "[..]));
        assert_eq!(parse(b"1 , 2 : ERROR : NO-USER"), Err(Logged));
        assert_eq!(parse(b"1 , 2 :USERID: UNIX : x"), Err(Logged));
        assert_eq!(parse(b"garbage"), Err(Logged));
        assert_eq!(parse(b"1 , 2 : USERID : UNIX"), Err(Logged));
    }

    #[test]
    fn unsafe_bytes_are_masked() {
        assert_eq!(safe_string(b"ev\x1bil\xff"), "ev.il.");
    }
}
