//! `certReload = SECONDS` (rstunnel extension): renewed certificates are
//! picked up without a signal. Every period the content of each file a TLS
//! context is built from (`cert`, `key`, `CAfile`, `CRLfile`, and the files
//! of `CApath`/`CRLpath`) is digested, off the async workers; when the digest
//! changes, every TLS context of the running configuration is built again
//! from the same settings and new connections use them (live connections
//! keep theirs). A change that does not load (a half-written or broken
//! file) keeps the running contexts and is logged once, not once per period.
//!
//! The files must stay readable by the user rstunnel runs as after
//! `setuid`, as for a SIGHUP reload.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openssl::sha::Sha256;

use crate::config::model::Config;
use crate::connection::ServiceCtx;
use crate::log::{ERR, NOTICE};

/// The digest of the running certificate files and of the last change that
/// failed to load.
pub struct CertWatch {
    pub period: Duration,
    running: [u8; 32],
    failed: Option<[u8; 32]>,
}

impl CertWatch {
    /// `None` unless the configuration sets `certReload`. Blocking (reads
    /// the files): call before the runtime or off its workers.
    pub fn new(config: &Config) -> Option<CertWatch> {
        Some(CertWatch {
            period: config.global.cert_reload?,
            running: digest(config),
            failed: None,
        })
    }

    /// New contexts when the files changed and load; `None` otherwise
    /// (unchanged, or broken: logged once per change).
    pub async fn check(&mut self, config: Arc<Config>) -> Option<Vec<Arc<ServiceCtx>>> {
        let (now, built) = tokio::task::spawn_blocking(move || {
            let now = digest(&config);
            (now, config)
        })
        .await
        .ok()?;
        if now == self.running || Some(now) == self.failed {
            return None;
        }
        let contexts = tokio::task::spawn_blocking(move || super::contexts(&built))
            .await
            .ok()?;
        match contexts {
            Ok(ctxs) => {
                crate::slog!(NOTICE, "Certificate files changed: TLS contexts rebuilt");
                self.running = now;
                self.failed = None;
                Some(ctxs)
            }
            Err(_logged) => {
                crate::slog!(
                    ERR,
                    "Certificate files changed but do not load: the running ones stay in use"
                );
                self.failed = Some(now);
                None
            }
        }
    }
}

/// SHA-256 over every TLS input file's path and content (or the fact that
/// it cannot be read), service by service.
fn digest(config: &Config) -> [u8; 32] {
    let mut sha = Sha256::new();
    for service in &config.services {
        let tls = &service.options;
        let files = [&tls.cert, &tls.key, &tls.ca_file, &tls.crl_file];
        for path in files.into_iter().flatten() {
            add_file(&mut sha, path);
        }
        for dir in [&tls.ca_path, &tls.crl_path].into_iter().flatten() {
            add_dir(&mut sha, dir);
        }
    }
    sha.finish()
}

fn add_file(sha: &mut Sha256, path: &Path) {
    sha.update(path.as_os_str().as_encoded_bytes());
    match std::fs::read(path) {
        Ok(bytes) => {
            sha.update(&(bytes.len() as u64).to_be_bytes());
            sha.update(&bytes);
        }
        Err(e) => sha.update(e.to_string().as_bytes()),
    }
}

/// A hashed directory (`CApath`): its entries in name order.
fn add_dir(sha: &mut Sha256, dir: &Path) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        add_file(sha, &path);
    }
}
