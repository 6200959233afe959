//! The HTTP leg of an OCSP check: POST one DER request to an `http://`
//! responder and return the DER response body, the whole exchange bounded
//! by `TIMEOUTocsp` (stunnel-reference §5.16, `OCSP*` rows of §3.2).
//!
//! Blocking on purpose: it runs inside OpenSSL's verify callback, which is
//! synchronous (see `ocsp.rs` for why). Log lines are stunnel's
//! (`OCSP: Failed to parse the OCSP URL`, `OCSP: TLS not supported for
//! OCSP - …`, `s_connect: connect ADDR: …`, `OCSP: Connected HOST:PORT`).
//! No TLS, no redirects, no keep-alive: stunnel's client has none either.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Responses larger than this are not OCSP responses.
const MAX_RESPONSE: usize = 1 << 20;

/// `http://host[:port][/path]` split as `OCSP_parse_url` does.
#[derive(Debug, PartialEq, Eq)]
pub struct Url {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Parse a responder URL; logs stunnel's error and returns `None` when it
/// is not plain HTTP.
pub fn parse(url: &str) -> Option<Url> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("https://") {
        crate::slog!(
            crate::log::ERR,
            "OCSP: TLS not supported for OCSP - an additional stunnel service needs to be defined"
        );
        return None;
    }
    let parsed = lower.strip_prefix("http://").and_then(|_| {
        let rest = &url["http://".len()..];
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.strip_prefix('[') {
            // [v6]:port
            Some(v6) => {
                let (h, tail) = v6.split_once(']')?;
                (h, tail.strip_prefix(':'))
            }
            None => match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            },
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => 80,
        };
        (!host.is_empty()).then(|| Url {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    });
    if parsed.is_none() {
        crate::slog!(crate::log::ERR, "OCSP: Failed to parse the OCSP URL");
    }
    parsed
}

/// What remains of the time budget (`None` = wait forever).
struct Budget(Option<Instant>);

impl Budget {
    fn left(&self) -> Result<Option<Duration>, ()> {
        match self.0 {
            None => Ok(None),
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    Err(())
                } else {
                    Ok(Some(left))
                }
            }
        }
    }
}

/// POST `request` (DER) to `url`; the DER body of a 200 answer.
pub fn post(url: &Url, request: &[u8], timeout: Option<Duration>) -> Option<Vec<u8>> {
    let budget = Budget(timeout.map(|t| Instant::now() + t));
    let query = crate::os::net::Query::ANY;
    let port = url.port.to_string();
    let addrs =
        crate::os::net::getaddrinfo(Some(&url.host), Some(&port), query).unwrap_or_default();
    let Some(addr) = addrs.first().copied() else {
        crate::slog!(
            crate::log::ERR,
            "OCSP: Failed to resolve the OCSP responder address"
        );
        return None;
    };
    crate::slog!(crate::log::INFO, "s_connect: connecting {addr}");
    let Ok(left) = budget.left() else {
        return timed_out_connect(addr);
    };
    let connected = match left {
        Some(t) => TcpStream::connect_timeout(&addr, t),
        None => TcpStream::connect(addr),
    };
    let mut stream = match connected {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return timed_out_connect(addr),
        Err(e) => {
            crate::slog!(
                crate::log::ERR,
                "s_connect: connect {addr}: {}",
                crate::os::errno::text(e.raw_os_error().unwrap_or(0))
            );
            return None;
        }
    };
    crate::slog!(crate::log::NOTICE, "s_connect: connected {addr}");
    crate::slog!(
        crate::log::DEBUG,
        "OCSP: Connected {}:{}",
        url.host,
        url.port
    );
    let host = if url.port == 80 {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let mut message = format!(
        "POST {} HTTP/1.0\r\nHost: {host}\r\nContent-Type: application/ocsp-request\r\n\
         Content-Length: {}\r\n\r\n",
        url.path,
        request.len()
    )
    .into_bytes();
    message.extend_from_slice(request);
    if exchange(&mut stream, &message, &budget).is_err() {
        crate::slog!(crate::log::ERR, "OCSP: s_poll_wait: TIMEOUTocsp exceeded");
        return None;
    }
    let mut answer = Vec::new();
    loop {
        let Ok(left) = budget.left() else {
            crate::slog!(crate::log::ERR, "OCSP: s_poll_wait: TIMEOUTocsp exceeded");
            return None;
        };
        let _ = stream.set_read_timeout(left);
        let mut buf = [0u8; 16384];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if answer.len() + n <= MAX_RESPONSE => answer.extend_from_slice(&buf[..n]),
            Ok(_) => {
                crate::slog!(
                    crate::log::ERR,
                    "OCSP: OCSP_sendreq_nbio: response too long"
                );
                return None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                crate::slog!(crate::log::ERR, "OCSP: s_poll_wait: TIMEOUTocsp exceeded");
                return None;
            }
            Err(e) => {
                crate::slog!(crate::log::ERR, "OCSP: OCSP_sendreq_nbio: {e}");
                return None;
            }
        }
        if let Some(body) = complete_body(&answer, false) {
            return body;
        }
    }
    complete_body(&answer, true).unwrap_or_else(|| {
        crate::slog!(
            crate::log::ERR,
            "OCSP: OCSP_sendreq_nbio: truncated HTTP response"
        );
        None
    })
}

fn timed_out_connect(addr: SocketAddr) -> Option<Vec<u8>> {
    crate::slog!(
        crate::log::ERR,
        "s_connect: s_poll_wait {addr}: TIMEOUTocsp exceeded"
    );
    None
}

/// Write the whole request within the budget.
fn exchange(stream: &mut TcpStream, message: &[u8], budget: &Budget) -> Result<(), ()> {
    let left = budget.left()?;
    stream.set_write_timeout(left).map_err(|_| ())?;
    stream.write_all(message).map_err(|_| ())
}

/// `Some(result)` once `answer` holds a whole HTTP response (by
/// Content-Length, else at `eof`): the body of a 200, or `None` (logged)
/// for any other status. `None` while incomplete.
#[allow(clippy::option_option)]
pub fn complete_body(answer: &[u8], eof: bool) -> Option<Option<Vec<u8>>> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&answer[..end]);
    let body = &answer[end + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let length = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    match length {
        Some(n) if body.len() < n => return None,
        None if !eof => return None,
        _ => {}
    }
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/") || code != "200" {
        crate::slog!(
            crate::log::ERR,
            "OCSP: OCSP_sendreq_nbio: unexpected HTTP status: {status}"
        );
        return Some(None);
    }
    let n = length.unwrap_or(body.len()).min(body.len());
    Some(Some(body[..n].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse("http://127.0.0.1:8080/ocsp"),
            Some(Url {
                host: "127.0.0.1".into(),
                port: 8080,
                path: "/ocsp".into()
            })
        );
        assert_eq!(
            parse("HTTP://ocsp.example"),
            Some(Url {
                host: "ocsp.example".into(),
                port: 80,
                path: "/".into()
            })
        );
        assert_eq!(parse("http://[::1]:81/x").map(|u| u.port), Some(81));
        assert_eq!(parse("https://ocsp.example/"), None);
        assert_eq!(parse("ftp://x"), None);
        assert_eq!(parse("http://:80/"), None);
        assert_eq!(parse("http://h:99999/"), None);
    }

    #[test]
    fn bodies() {
        assert_eq!(complete_body(b"HTTP/1.0 200 OK\r\nContent-Le", true), None);
        assert_eq!(
            complete_body(b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nab", false),
            None
        );
        assert_eq!(
            complete_body(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nabcd", false),
            Some(Some(b"abc".to_vec()))
        );
        assert_eq!(complete_body(b"HTTP/1.0 200 OK\r\n\r\nab", false), None);
        assert_eq!(
            complete_body(b"HTTP/1.0 200 OK\r\n\r\nab", true),
            Some(Some(b"ab".to_vec()))
        );
        assert_eq!(
            complete_body(b"HTTP/1.1 404 Not Found\r\n\r\n", true),
            Some(None)
        );
    }
}
