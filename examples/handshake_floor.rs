//! OpenSSL's own CPU cost of one TLS 1.3 handshake, both sides, with no
//! tunnel and no socket: a client and a server `SSL` in one thread, passing
//! records through memory. `scripts/bench` prints it beside `openssl speed`
//! as the floor under the CPU per new connection of any tunnel built on
//! this OpenSSL (the chain adds its three TCP connections, the kernel's
//! part, and the tunnels' own code).
//!
//! ```sh
//! cargo run --release --example handshake_floor -- rsa.pem ecdsa.pem 2
//! ```
//!
//! Each PEM holds a certificate and its key (as stunnel's `cert`). It runs
//! full handshakes with each (a new session every time, as the bench's `rsa`
//! and `ecdsa` services) and resumed ones with the RSA certificate (the
//! client offers the session the previous connection's tickets left, as
//! the `resume` service's client mode does), each for the given seconds of
//! CPU. Every connection exchanges one byte each way, so the client reads
//! the server's tickets, and ends with close_notify both ways, as a tunnel
//! ends one. It prints one JSON object: CPU microseconds per handshake.

use openssl::pkey::PKey;
use openssl::ssl::{ErrorCode, Ssl, SslContext, SslMethod, SslSession, SslStream, SslVerifyMode};
use openssl::x509::X509;
use rstunnel::config::model::DEFAULT_CURVES;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

/// One direction of a connection: bytes written by one side, read by the other.
type Wire = Rc<RefCell<VecDeque<u8>>>;

/// One side's end of the in-memory connection.
struct End {
    incoming: Wire,
    outgoing: Wire,
}

impl Read for End {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut incoming = self.incoming.borrow_mut();
        if incoming.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        incoming.read(buf)
    }
}

impl Write for End {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.borrow_mut().extend(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn ends() -> (End, End) {
    let (a, b) = (Wire::default(), Wire::default());
    let client = End {
        incoming: a.clone(),
        outgoing: b.clone(),
    };
    let server = End {
        incoming: b,
        outgoing: a,
    };
    (client, server)
}

/// CPU seconds (user and system) this process has used.
fn cpu_seconds() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let usage = getrusage(UsageWho::RUSAGE_SELF).expect("getrusage(RUSAGE_SELF) cannot fail");
    let seconds = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    seconds(usage.user_time()) + seconds(usage.system_time())
}

/// True once the step is done; false when it waits for the other side.
fn progressed(result: Result<(), openssl::ssl::Error>) -> Result<bool, String> {
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.code() == ErrorCode::WANT_READ => Ok(false),
        Err(e) => Err(e.to_string()),
    }
}

/// One connection: the handshake, a byte each way (the client reads the
/// server's tickets with it), close_notify both ways. Returns whether the
/// offered session was resumed and the client's session after the tickets.
fn connect(
    client: &SslContext,
    server: &SslContext,
    offer: Option<&SslSession>,
) -> Result<(bool, Option<SslSession>), String> {
    let (c_end, s_end) = ends();
    let mut c_ssl = Ssl::new(client).map_err(|e| e.to_string())?;
    if let Some(session) = offer {
        // SAFETY: the session was made by a connection of the same context.
        unsafe { c_ssl.set_session(session) }.map_err(|e| e.to_string())?;
    }
    let mut c = SslStream::new(c_ssl, c_end).map_err(|e| e.to_string())?;
    let mut s = SslStream::new(Ssl::new(server).map_err(|e| e.to_string())?, s_end)
        .map_err(|e| e.to_string())?;
    let (mut c_done, mut s_done) = (false, false);
    for _ in 0..20 {
        c_done = c_done || progressed(c.connect())?;
        s_done = s_done || progressed(s.accept())?;
        if c_done && s_done {
            break;
        }
    }
    if !(c_done && s_done) {
        return Err("the handshake did not finish in 20 rounds".into());
    }
    let mut byte = [0u8; 1];
    c.write_all(b"x").map_err(|e| e.to_string())?;
    s.read_exact(&mut byte).map_err(|e| e.to_string())?;
    s.write_all(b"y").map_err(|e| e.to_string())?;
    c.read_exact(&mut byte).map_err(|e| e.to_string())?;
    // Without a close_notify sent, OpenSSL marks the session of an `SSL`
    // being freed as not resumable (and a tunnel sends one).
    c.shutdown().map_err(|e| e.to_string())?;
    s.shutdown().map_err(|e| e.to_string())?;
    let latest = c.ssl().session().map(|session| session.to_owned());
    Ok((c.ssl().session_reused(), latest))
}

/// CPU µs per handshake with `pem`'s certificate over `budget` of CPU; with
/// `resume`, every connection but the first offers the previous one's session.
fn measure(pem: &str, resume: bool, budget: Duration) -> Result<f64, String> {
    let text = std::fs::read(pem).map_err(|e| format!("{pem}: {e}"))?;
    let cert = X509::from_pem(&text).map_err(|e| format!("{pem}: {e}"))?;
    let key = PKey::private_key_from_pem(&text).map_err(|e| format!("{pem}: {e}"))?;
    let mut sb = SslContext::builder(SslMethod::tls_server()).map_err(|e| e.to_string())?;
    sb.set_certificate(&cert).map_err(|e| e.to_string())?;
    sb.set_private_key(&key).map_err(|e| e.to_string())?;
    let mut cb = SslContext::builder(SslMethod::tls_client()).map_err(|e| e.to_string())?;
    cb.set_verify(SslVerifyMode::NONE);
    // The groups a tunnel offers (stunnel's default `curves`), not the
    // library's: OpenSSL 3.5 would otherwise add a post-quantum key share.
    for b in [&mut sb, &mut cb] {
        b.set_groups_list(DEFAULT_CURVES)
            .map_err(|e| e.to_string())?;
    }
    let (server, client) = (sb.build(), cb.build());

    let start = cpu_seconds();
    let mut count = 0u64;
    let mut offer = None;
    while cpu_seconds() - start < budget.as_secs_f64() {
        let (resumed, latest) = connect(&client, &server, offer.as_ref())?;
        if offer.is_some() && !resumed {
            return Err(format!("{pem}: the offered session was not resumed"));
        }
        if resume {
            offer = latest;
        }
        count += 1;
    }
    Ok(1e6 * (cpu_seconds() - start) / count as f64)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rsa, ecdsa, seconds] = args.as_slice() else {
        eprintln!("usage: handshake_floor RSA.pem ECDSA.pem SECONDS");
        std::process::exit(2);
    };
    let budget = Duration::from_secs_f64(seconds.parse().unwrap_or(2.0));
    let mut fields = Vec::new();
    for (name, pem, resume) in [
        ("rsa_us", rsa, false),
        ("ecdsa_us", ecdsa, false),
        ("resumed_us", rsa, true),
    ] {
        match measure(pem, resume, budget) {
            Ok(us) => fields.push(format!("\"{name}\": {us:.1}")),
            Err(e) => {
                eprintln!("handshake_floor: {e}");
                std::process::exit(1);
            }
        }
    }
    println!("{{{}}}", fields.join(", "));
}
