//! Which sessions a service may resume: its session id context.
//!
//! OpenSSL resumes a session (TLS 1.2 id, TLS 1.2 ticket, TLS 1.3 ticket)
//! only where the session's id context equals the connection's. stunnel uses
//! the first 32 bytes of the service name, so a session issued under one
//! policy resumed under another: two services whose names share 32 bytes,
//! or the same service after SIGHUP tightened its policy (a CRL that now
//! lists the client, `requireCert` added) when shared ticket keys
//! (`ticketKeySecret`) let old tickets in. A resumption skips certificate
//! verification, so either is an authentication bypass.
//!
//! rstunnel's id context is a SHA-256 digest of the service name and of
//! everything that decides who authenticates: the verification flags and
//! subject checks, `redirect`, the contents of the trust and revocation
//! files, the PSK secrets and the OCSP settings. A session resumes only on
//! the service that issued it, and only while that policy is unchanged.
//! Two nodes with the same configuration and files get the same digest, so
//! shared ticket keys still work across a fleet. What is read lazily at
//! verification time (`CApath`/`CRLpath` entries added later) counts as of
//! the last (re)load.

use std::path::Path;

use openssl::sha::Sha256;

use crate::config::model::Service;

/// The session id context of `service` (32 bytes, OpenSSL's maximum).
/// Without `files` (`-test` checks the policy alone) the file contents are
/// left out.
pub fn id_context(service: &Service, files: bool) -> [u8; 32] {
    let tls = &service.options;
    let mut digest = Digest(Sha256::new());
    digest.field(b"rstunnel session scope 1");
    digest.field(service.options.name.as_bytes());
    let v = &tls.verify;
    digest.field(&[
        u8::from(v.request),
        u8::from(v.require),
        u8::from(v.chain),
        u8::from(v.peer),
        u8::from(!service.redirect.is_empty()),
    ]);
    for list in [&tls.check_host, &tls.check_email, &tls.check_ip] {
        digest.list(list.iter().map(String::as_bytes));
    }
    for (identity, key) in &tls.psk_secrets {
        digest.field(identity.as_bytes());
        digest.field(key);
    }
    digest.field(tls.ocsp_url.as_deref().unwrap_or("").as_bytes());
    digest.field(&[
        u8::from(tls.ocsp_aia),
        u8::from(tls.ocsp_require),
        u8::from(tls.ocsp_nonce),
    ]);
    digest.field(&tls.ocsp_flags.to_be_bytes());
    if files {
        for file in [&tls.ca_file, &tls.crl_file].into_iter().flatten() {
            digest.file(file);
        }
        for dir in [&tls.ca_path, &tls.crl_path].into_iter().flatten() {
            digest.directory(dir);
        }
    }
    digest.0.finish()
}

/// Length-prefixed fields, so that no two different inputs concatenate to
/// the same bytes.
struct Digest(Sha256);

impl Digest {
    fn field(&mut self, bytes: &[u8]) {
        self.0.update(&(bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn list<'a>(&mut self, items: impl Iterator<Item = &'a [u8]>) {
        let items: Vec<&[u8]> = items.collect();
        self.field(&(items.len() as u64).to_be_bytes());
        for item in items {
            self.field(item);
        }
    }

    /// A file's contents; an unreadable file counts as its error (loading
    /// it fails the context anyway).
    fn file(&mut self, path: &Path) {
        match std::fs::read(path) {
            Ok(bytes) => self.field(&bytes),
            Err(e) => self.field(e.to_string().as_bytes()),
        }
    }

    /// Every regular file of a hashed directory, in name order.
    fn directory(&mut self, dir: &Path) {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        names.sort();
        for path in names.iter().filter(|p| p.is_file()) {
            self.field(path.as_os_str().as_encoded_bytes());
            self.file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str) -> Service {
        let text = format!(
            "[{name}]\naccept = 127.0.0.1:1\nconnect = 127.0.0.1:2\ncert = /nonexistent.pem\n"
        );
        let config = crate::config::parse_text(&text, "scope.conf").expect("config");
        config.services.into_iter().next().expect("one service")
    }

    #[test]
    fn names_sharing_32_bytes_get_different_contexts() {
        let open = service("corp-internal-tunnel-service-0001-open");
        let guarded = service("corp-internal-tunnel-service-0001-guarded");
        assert_ne!(id_context(&open, false), id_context(&guarded, false));
    }

    #[test]
    fn a_stricter_policy_gets_another_context() {
        let before = service("s");
        let mut after = before.clone();
        after.options.verify.require = true;
        assert_ne!(id_context(&before, false), id_context(&after, false));
        assert_eq!(
            id_context(&before, false),
            id_context(&before.clone(), false)
        );
    }
}
