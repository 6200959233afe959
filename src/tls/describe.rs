//! The `rstunnel -test` report of a built context: protocol range,
//! security level and the concrete cipher lists OpenSSL would use.
//!
//! Not stunnel output (stunnel has no such report); lines are for people.

use openssl::ssl::Ssl;

use super::context::TlsContext;
use super::ffi;

fn version_name(raw: i32) -> &'static str {
    match raw {
        0 => "all",
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

impl TlsContext {
    /// `-test` report: protocol range, security level, concrete cipher list.
    pub fn describe(&self) -> Vec<String> {
        let ctx = &self.inner.ctx;
        let (min, max) = ffi::ctx_proto_range(ctx);
        let level = ctx.security_level();
        let mut out = vec![
            format!(
                "protocol range: {} - {} (configured)",
                version_name(min),
                version_name(max)
            ),
            format!("security level: {level}"),
        ];
        let ciphers = Ssl::new(ctx)
            .map(|ssl| ffi::supported_ciphers(&ssl))
            .unwrap_or_default();
        let _ = openssl::error::ErrorStack::get();
        let (tls13, legacy): (Vec<_>, Vec<_>) = ciphers
            .into_iter()
            .map(|(n, _)| n)
            .partition(|n| n.starts_with("TLS_"));
        // With OpenSSL 3, TLS 1.0/1.1 need security level 0 (their
        // handshake signatures use SHA-1/MD5).
        let usable: Vec<&str> = [0x0301, 0x0302, 0x0303, 0x0304]
            .into_iter()
            .filter(|v| (min == 0 || *v >= min) && (max == 0 || *v <= max))
            .filter(|v| *v >= 0x0303 || level == 0)
            .filter(|v| {
                if *v == 0x0304 {
                    !tls13.is_empty()
                } else {
                    !legacy.is_empty()
                }
            })
            .map(version_name)
            .collect();
        out.push(format!(
            "usable protocols: {}",
            if usable.is_empty() {
                "none".to_string()
            } else {
                usable.join(" ")
            }
        ));
        let show = |v: &[String]| {
            if v.is_empty() {
                "(none)".to_string()
            } else {
                v.join(":")
            }
        };
        out.push(format!("ciphers (TLSv1.2 and below): {}", show(&legacy)));
        out.push(format!("ciphersuites (TLSv1.3): {}", show(&tls13)));
        out
    }
}
