//! OCSP test material: a [`Pki`] with a delegated responder certificate,
//! leaves whose AIA names the responder, and a running `openssl ocsp
//! -index` responder answering for them (one good, one revoked).
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::tls_pki::{self, OcspPki, Pki};
use crate::common::tls_service::Peer;

/// The PKI, a running responder and its URL.
pub struct Env {
    pub _dir: tempfile::TempDir,
    pub pki: Pki,
    pub ocsp: OcspPki,
    pub url: String,
    pub _responder: Peer,
}

pub fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let (signer, key, index) = tls_pki::make_ocsp_responder(&pki);
    let (responder, url) = ocsp_responder(&pki.ca, &index, &signer, &key);
    let ocsp = tls_pki::make_ocsp_leaves(&pki, &url);
    Env {
        _dir: dir,
        pki,
        ocsp,
        url,
        _responder: responder,
    }
}

/// Start `openssl ocsp` on a free port answering from `index`, signed by
/// the delegated `signer`; return it and its URL.
pub fn ocsp_responder(
    ca: &std::path::Path,
    index: &std::path::Path,
    signer: &std::path::Path,
    key: &std::path::Path,
) -> (Peer, String) {
    let mut child = Command::new("openssl")
        .args(["ocsp", "-port", "0", "-ndays", "1", "-index"])
        .arg(index)
        .arg("-rsigner")
        .arg(signer)
        .arg("-rkey")
        .arg(key)
        .arg("-CA")
        .arg(ca)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl ocsp");
    let stdout = child.stdout.take().expect("stdout");
    let responder = Peer(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        // `ACCEPT [::]:PORT PID=N`
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok());
        let _ = tx.send(port);
    });
    let port = rx
        .recv_timeout(Duration::from_secs(15))
        .ok()
        .flatten()
        .expect("responder port");
    (responder, format!("http://127.0.0.1:{port}/"))
}
