//! Plain TCP peers for tests: an echo backend, a one-shot HTTP backend, a
//! backend that answers with a fixed reply, and deterministic payloads for
//! byte-exact checks.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread::JoinHandle;

use super::PATIENCE;

/// A listener on 127.0.0.1:0 and its port.
pub fn listener() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// Serve every connection of `listener` with `handle`, each on a thread of
/// its own, for as long as the test process lives; the listener's port.
pub fn serve_each(
    (l, port): (TcpListener, u16),
    handle: impl Fn(TcpStream) + Clone + Send + 'static,
) -> u16 {
    std::thread::spawn(move || {
        for conn in l.incoming().map_while(Result::ok) {
            let handle = handle.clone();
            std::thread::spawn(move || handle(conn));
        }
    });
    port
}

/// Echo every byte back, per connection, until EOF; then half-close.
pub fn echo_server() -> u16 {
    tagged_echo(b"")
}

/// A backend that greets every connection with `tag` then echoes: the
/// greeting tells a test which backend a connection reached.
pub fn tagged_echo(tag: &'static [u8]) -> u16 {
    serve_each(listener(), move |mut conn| {
        if conn.write_all(tag).is_err() {
            return;
        }
        let mut buf = [0u8; 16384];
        loop {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = conn.shutdown(Shutdown::Write);
    })
}

/// A backend on `addr` that answers every connection with `reply`, then
/// reads until the other side is done (so what it is sent never resets
/// it). The tests of who reaches which backend compare these replies.
pub fn answering_server(addr: &str, reply: &'static [u8]) -> u16 {
    let l = TcpListener::bind((addr, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    serve_each((l, port), move |mut conn| {
        let _ = conn.set_read_timeout(Some(PATIENCE));
        let _ = conn.write_all(reply);
        let _ = conn.shutdown(Shutdown::Write);
        let mut sink = [0u8; 1024];
        while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
    })
}

/// Connect to 127.0.0.1:port with the test's patience as read timeout.
pub fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// `len` bytes of a pattern that makes misplaced or dropped bytes visible.
pub fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + i / 7919) as u8).wrapping_add(seed))
        .collect()
}

/// Read until EOF into a vector.
pub fn read_to_end(mut s: impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

/// Write `data` on a thread (so the caller can read concurrently), then
/// half-close.
pub fn send_then_half_close(mut s: TcpStream, data: Vec<u8>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        s.write_all(&data).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
    })
}

/// A backend that answers every connection with a fixed HTTP response and
/// records each request head it got.
pub fn http_backend(body: &'static str) -> u16 {
    serve_each(listener(), move |mut conn| {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match conn.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = conn.write_all(reply.as_bytes());
    })
}

/// `GET path` over HTTP/1.0 on 127.0.0.1:port: (status, body).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    let mut s = connect(port);
    s.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
        .unwrap();
    let reply = String::from_utf8_lossy(&read_to_end(s)).into_owned();
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {reply:?}"));
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// The value of the sample `series` (name and labels exactly as the page
/// writes them) on a Prometheus text page.
pub fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}
