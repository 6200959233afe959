//! The `rstunnel -test` report of a built context: protocol range,
//! security level, certificate, and the concrete (version, cipher) pairs.
//!
//! Servers: the pairs are what trial handshakes (`probe.rs`) found the
//! context accepts from a client that allows everything, one line per
//! version. Clients: what the ClientHello would offer. Not stunnel output
//! (stunnel has no such report); lines are for people, one fact per line:
//!
//! ```text
//! protocol range: TLSv1 - all (configured)
//! security level: 0
//! certificate: RSA 2048 bits
//! usable protocols: TLSv1 TLSv1.1 TLSv1.2 TLSv1.3
//! TLSv1 ciphers: ECDHE-RSA-AES256-SHA:AES256-SHA:…
//! TLSv1.3 ciphers: TLS_AES_256_GCM_SHA384:…
//! ```

use openssl::ssl::Ssl;

use super::context::TlsContext;
use super::ffi;
use super::probe::{self, KeyShape};

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

fn join(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(":")
    }
}

impl TlsContext {
    /// `-test` report (see the module doc). Servers run trial handshakes
    /// against this context: call it on a context that serves nobody.
    pub fn describe(&self) -> Vec<String> {
        let ctx = &self.inner.ctx;
        let (min, max) = ffi::ctx_proto_range(ctx);
        let mut out = vec![
            format!(
                "protocol range: {} - {} (configured)",
                version_name(min),
                version_name(max)
            ),
            format!("security level: {}", ctx.security_level()),
        ];
        if self.inner.policy.client {
            out.extend(self.describe_client());
        } else {
            out.extend(self.describe_server());
        }
        out
    }

    fn describe_server(&self) -> Vec<String> {
        let inner = &self.inner;
        let mut out = Vec::new();
        let psk = !inner.policy.psk.is_empty();
        // The key decides which authentication works; without the key
        // file (`-test`) a stand-in of the same type and size is used.
        let (shape, stand_in) = match inner.ctx.certificate() {
            Some(cert) => (KeyShape::of_cert(cert).map(|s| s.label()), None),
            None => match &inner.cert_file {
                Some(path) => match KeyShape::of_file(path) {
                    Some(shape) => (Some(shape.label()), shape.stand_in()),
                    None => {
                        out.push(format!(
                            "certificate: {} unreadable; shown for an RSA 2048-bit key",
                            path.display()
                        ));
                        (None, KeyShape::Rsa(2048).stand_in())
                    }
                },
                None if psk => {
                    out.push("certificate: none (PSK only)".to_string());
                    (None, None)
                }
                None => {
                    out.push("certificate: none; shown for an RSA 2048-bit key".to_string());
                    (None, KeyShape::Rsa(2048).stand_in())
                }
            },
        };
        if let Some(label) = shape {
            out.push(format!("certificate: {label}"));
        }
        if psk {
            out.push(format!("PSK identities: {}", inner.policy.psk.len()));
        }
        match probe::accepted(inner, stand_in.as_deref()) {
            Ok(per_version) => {
                let usable: Vec<&str> = per_version
                    .iter()
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(v, _)| *v)
                    .collect();
                out.push(format!(
                    "usable protocols: {}",
                    if usable.is_empty() {
                        "none".to_string()
                    } else {
                        usable.join(" ")
                    }
                ));
                let weak = super::weak::WeakSet::from_names(
                    per_version
                        .iter()
                        .any(|(v, c)| *v == "SSLv3" && !c.is_empty()),
                    per_version
                        .iter()
                        .flat_map(|(_, c)| c.iter().map(String::as_str)),
                );
                for (version, ciphers) in per_version {
                    // SSLv3 (legacy build only) is shown when accepted.
                    if version != "SSLv3" || !ciphers.is_empty() {
                        out.push(format!("{version} ciphers: {}", join(&ciphers)));
                    }
                }
                if !weak.is_empty() {
                    out.push(format!("weak (broken) TLS accepted: {}", weak.describe()));
                }
            }
            Err(reason) => {
                out.push(format!("certificate refused by this policy: {reason}"));
                out.push("usable protocols: none".to_string());
            }
        }
        out
    }

    /// Clients: the cipher list the ClientHello carries (after version
    /// range and security level); the server picks from it.
    fn describe_client(&self) -> Vec<String> {
        let ctx = &self.inner.ctx;
        let ciphers = Ssl::new(ctx)
            .map(|ssl| ffi::supported_ciphers(&ssl))
            .unwrap_or_default();
        let _ = openssl::error::ErrorStack::get();
        let (tls13, legacy): (Vec<_>, Vec<_>) = ciphers
            .into_iter()
            .map(|(n, _)| n)
            .partition(|n| n.starts_with("TLS_"));
        let mut out = vec![
            format!("offered ciphers (TLSv1.2 and below): {}", join(&legacy)),
            format!("offered ciphersuites (TLSv1.3): {}", join(&tls13)),
        ];
        let weak = super::weak::of_context(ctx);
        if !weak.is_empty() {
            out.push(format!("weak (broken) TLS offered: {}", weak.describe()));
        }
        out
    }
}
