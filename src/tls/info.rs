//! stunnel's `info_callback`: renegotiation detection on the connection's
//! state (`conn`), and the debug trace of handshake states and alerts.

use std::sync::atomic::Ordering;

use openssl::ssl::SslRef;

use super::conn::{get, RENEG_DETECTED, RENEG_ESTABLISHED, RENEG_INIT};

const SSL_CB_LOOP: i32 = 0x01;
const SSL_CB_ALERT: i32 = 0x4000;
const SSL_CB_READ: i32 = 0x04;
const SSL_CB_HANDSHAKE_START: i32 = 0x10;
const SSL_CB_HANDSHAKE_DONE: i32 = 0x20;
const SSL_ST_CONNECT: i32 = 0x1000;
const SSL_ST_ACCEPT: i32 = 0x2000;
const SSL3_AL_FATAL: i32 = 2;

/// stunnel's `info_callback`: renegotiation detection, then the debug trace
/// (`TLS state (accept): …`, `TLS alert (write): fatal: unknown CA`).
pub fn on_info(ssl: &SslRef, where_: i32, ret: i32) {
    if where_ & SSL_CB_HANDSHAKE_DONE != 0 {
        print_stats(ssl);
    }
    if let Some(conn) = get(ssl) {
        if where_ & SSL_CB_HANDSHAKE_DONE != 0 {
            let _ = conn.reneg.compare_exchange(
                RENEG_INIT,
                RENEG_ESTABLISHED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        } else if where_ & SSL_CB_HANDSHAKE_START != 0
            && ssl.is_server()
            && ssl.version_str() != "TLSv1.3"
        {
            // A ClientHello after the first handshake: renegotiation.
            // (TLS 1.3 post-handshake messages also start "handshakes".)
            let _ = conn.reneg.compare_exchange(
                RENEG_ESTABLISHED,
                RENEG_DETECTED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
        }
    }
    if where_ & SSL_CB_LOOP != 0 {
        let state = ssl.state_string_long();
        if state != "unknown state" {
            let side = if where_ & SSL_ST_CONNECT != 0 {
                "connect"
            } else if where_ & SSL_ST_ACCEPT != 0 {
                "accept"
            } else {
                "undefined"
            };
            crate::slog!(crate::log::DEBUG, "TLS state ({side}): {state}");
        }
    } else if where_ & SSL_CB_ALERT != 0 {
        let dir = if where_ & SSL_CB_READ != 0 {
            "read"
        } else {
            "write"
        };
        // Either direction: stunnel 5.68 logs `Connection reset/closed`
        // after a fatal alert it sent (no client certificate) as well as
        // after one it received (client rejected our certificate).
        if (ret >> 8) == SSL3_AL_FATAL {
            if let Some(conn) = get(ssl) {
                conn.fatal_alert.store(true, Ordering::SeqCst);
            }
        }
        let (kind, desc) = super::ffi::alert_strings(ret);
        crate::slog!(crate::log::DEBUG, "TLS alert ({dir}): {kind}: {desc}");
    }
}

/// stunnel's `print_stats` at the end of each handshake (debug): the
/// context's session counters, client or server flavour.
fn print_stats(ssl: &SslRef) {
    let ctx = ssl.ssl_context();
    let n = |cmd| super::ffi::sess_counter(ctx, cmd);
    let lines: &[(i32, &str)] = if ssl.is_server() {
        &[
            (24, "server accept(s) requested"),
            (25, "server accept(s) succeeded"),
            (26, "server renegotiation(s) requested"),
            (27, "session reuse(s)"),
            (20, "internal session cache item(s)"),
            (31, "internal session cache fill-up(s)"),
            (29, "internal session cache miss(es)"),
            (28, "external session cache hit(s)"),
            (30, "expired session(s) retrieved"),
        ]
    } else {
        &[
            (21, "client connect(s) requested"),
            (22, "client connect(s) succeeded"),
            (23, "client renegotiation(s) requested"),
            (27, "session reuse(s)"),
        ]
    };
    for (cmd, text) in lines {
        crate::slog!(crate::log::DEBUG, "{:6} {text}", n(*cmd));
    }
}
