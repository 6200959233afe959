//! Files into the context: certificate chain, private key (with stunnel
//! 5.68's pass-phrase prompt), trusted CAs, CRLs (stunnel-reference §5.10,
//! §6.6). Log lines are 5.68's (`Loading certificate from file: X`, …).
//!
//! What is not here: verification decisions (`verify.rs`) and PSK callbacks
//! (`psk.rs`).

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use openssl::pkcs12::{ParsedPkcs12_2, Pkcs12};
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContextBuilder, SslFiletype};
use openssl::x509::store::{X509Lookup, X509StoreBuilderRef};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509Name, X509};

use crate::config::model::ServiceOptions;

use super::errors::TlsError;
use super::ffi;

/// Pass phrases entered on the terminal, kept for reloads (stunnel caches
/// the last one in memory).
static PASSPHRASES: Mutex<Option<HashMap<String, Vec<u8>>>> = Mutex::new(None);

/// `cert` and `key`: chain file, key, `Private key check succeeded`.
pub fn load_cert_and_key(b: &mut SslContextBuilder, tls: &ServiceOptions) -> Result<(), TlsError> {
    let Some(cert) = &tls.cert else {
        crate::slog!(crate::log::DEBUG, "No certificate or private key specified");
        return Ok(());
    };
    let cert_s = cert.display().to_string();
    if is_pkcs12(cert) {
        return load_pkcs12(b, cert);
    }
    crate::slog!(crate::log::INFO, "Loading certificate from file: {cert_s}");
    b.set_certificate_chain_file(cert)
        .map_err(|e| TlsError::new("SSL_CTX_use_certificate_chain_file", &e))?;
    crate::slog!(crate::log::INFO, "Certificate loaded from file: {cert_s}");

    let key_path = tls.key().unwrap_or(cert);
    let key_s = key_path.display().to_string();
    crate::slog!(crate::log::INFO, "Loading private key from file: {key_s}");
    check_permissions(key_path);
    let key = load_key(key_path)?;
    b.set_private_key(&key)
        .map_err(|e| TlsError::new("SSL_CTX_use_PrivateKey", &e))?;
    crate::slog!(crate::log::INFO, "Private key loaded from file: {key_s}");
    b.check_private_key()
        .map_err(|e| TlsError::new("Private key does not match the certificate", &e))?;
    crate::slog!(crate::log::DEBUG, "Private key check succeeded");
    Ok(())
}

/// stunnel 5.68 takes a `cert` whose name ends in `.p12` or `.pfx` (in any
/// case, checked against stunnel4) as a PKCS#12 bundle; the content is not
/// looked at.
pub fn is_pkcs12(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"))
}

/// A PKCS#12 `cert`: certificate, key and chain from one file, stunnel
/// 5.68's lines (`Loading certificate and private key from file: X`). The
/// key comes from the bundle, so `key` is ignored, as in stunnel. The
/// password is tried as stunnel does: the cached one (empty at first, so
/// `openssl pkcs12 -export -passout pass:` files open silently), then up to
/// 3 prompts `Enter FILE pass phrase:` on the terminal (`Wrong passphrase:
/// retrying`, err). Without a terminal it fails at once and says why, as
/// encrypted PEM keys do (stunnel runs three prompts that cannot be answered).
///
/// Unlike 5.68, which drops them, the bundle's other certificates are sent
/// as the chain (what 5.75's OSSL_STORE loading does, and what the file's
/// author meant).
fn load_pkcs12(b: &mut SslContextBuilder, path: &Path) -> Result<(), TlsError> {
    let shown = path.display().to_string();
    crate::slog!(
        crate::log::INFO,
        "Loading certificate and private key from file: {shown}"
    );
    check_permissions(path);
    // stunnel's own line for an unreadable file: `FILE: strerror (errno)`.
    let der = std::fs::read(path)
        .map_err(|e| TlsError::message(crate::os::errno::io_labelled(&shown, &e)))?;
    let p12 = Pkcs12::from_der(&der).map_err(|e| TlsError::new("d2i_PKCS12_bio", &e))?;
    let parsed = parse_pkcs12(&p12, &shown)?;
    let (Some(cert), Some(key)) = (parsed.cert, parsed.pkey) else {
        return Err(TlsError::message(format!(
            "PKCS#12 file {shown} holds no certificate with its private key"
        )));
    };
    b.set_certificate(&cert)
        .map_err(|e| TlsError::new("SSL_CTX_use_certificate", &e))?;
    for extra in parsed.ca.into_iter().flatten() {
        b.add_extra_chain_cert(extra)
            .map_err(|e| TlsError::new("SSL_CTX_add_extra_chain_cert", &e))?;
    }
    b.set_private_key(&key)
        .map_err(|e| TlsError::new("SSL_CTX_use_PrivateKey", &e))?;
    crate::slog!(
        crate::log::INFO,
        "Certificate and private key loaded from file: {shown}"
    );
    b.check_private_key()
        .map_err(|e| TlsError::new("Private key does not match the certificate", &e))?;
    crate::slog!(crate::log::DEBUG, "Private key check succeeded");
    Ok(())
}

/// `PKCS12_parse` with the cached (or empty) password, then the prompts.
fn parse_pkcs12(p12: &Pkcs12, shown: &str) -> Result<ParsedPkcs12_2, TlsError> {
    // A password with a NUL byte cannot be passed to OpenSSL: it is simply
    // a wrong one.
    let try_with = |phrase: &[u8]| match std::str::from_utf8(phrase) {
        Ok(text) if !text.contains('\0') => p12
            .parse2(text)
            .map_err(|e| TlsError::new("PKCS12_parse", &e)),
        _ => Err(TlsError::plain(
            "PKCS12_parse",
            "the password is not UTF-8 text",
        )),
    };
    let mut failure = match try_with(&cached_passphrase(shown).unwrap_or_default()) {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e,
    };
    let Some(mut tty) = Terminal::open() else {
        failure.queue.push(format!(
            "PKCS#12 file {shown} is protected by a password and no terminal is available to enter it"
        ));
        return Err(failure);
    };
    for attempt in 0..3 {
        if attempt > 0 {
            for line in &failure.queue {
                crate::slog!(crate::log::ERR, "error queue: {line}");
            }
            crate::slog!(crate::log::ERR, "Wrong passphrase: retrying");
        }
        let Some(phrase) = tty.prompt(&format!("Enter {shown} pass phrase:")) else {
            break;
        };
        match try_with(&phrase) {
            Ok(parsed) => {
                remember_passphrase(shown, phrase);
                return Ok(parsed);
            }
            Err(e) => failure = e,
        }
    }
    Err(failure)
}

/// 5.68 warns when "other" may access the key file.
fn check_permissions(path: &Path) {
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o7 != 0 {
            crate::slog!(
                crate::log::WARNING,
                "Insecure file permissions on {}",
                path.display()
            );
        }
    }
}

/// PEM (possibly encrypted) or DER. An encrypted key is tried with the
/// cached pass phrase, then up to 3 prompts on the controlling terminal
/// (`Enter <keyfile> pass phrase:`); without a terminal it fails at once.
fn load_key(path: &Path) -> Result<PKey<Private>, TlsError> {
    const CONTEXT: &str = "SSL_CTX_use_PrivateKey_file";
    let shown = path.display().to_string();
    let data =
        std::fs::read(path).map_err(|e| TlsError::plain(CONTEXT, format!("{shown}: {e}")))?;
    if !data.windows(10).any(|w| w == b"-----BEGIN") {
        return PKey::private_key_from_der(&data).map_err(|e| TlsError::new(CONTEXT, &e));
    }
    let cached = cached_passphrase(&shown);
    let mut tty = None;
    for attempt in 0..3 {
        let mut asked = false;
        let mut entered: Option<Vec<u8>> = None;
        let mut no_terminal = false;
        let result = PKey::private_key_from_pem_callback(&data, |buf| {
            asked = true;
            let phrase = if attempt == 0 && cached.is_some() {
                cached.clone().unwrap_or_default()
            } else {
                if tty.is_none() {
                    tty = Terminal::open();
                }
                match tty
                    .as_mut()
                    .and_then(|t| t.prompt(&format!("Enter {shown} pass phrase:")))
                {
                    Some(p) => p,
                    None => {
                        no_terminal = true;
                        return Ok(0);
                    }
                }
            };
            let n = phrase.len().min(buf.len());
            buf[..n].copy_from_slice(&phrase[..n]);
            entered = Some(phrase);
            Ok(n)
        });
        match result {
            Ok(key) => {
                if let Some(p) = entered {
                    remember_passphrase(&shown, p);
                }
                return Ok(key);
            }
            Err(stack) => {
                let mut err = TlsError::new(CONTEXT, &stack);
                if !asked {
                    return Err(err);
                }
                if no_terminal {
                    err.queue.push(format!(
                        "Private key {shown} is encrypted and no terminal is available to enter its pass phrase"
                    ));
                    return Err(err);
                }
                if attempt < 2 {
                    for line in &err.queue {
                        crate::slog!(crate::log::ERR, "error queue: {line}");
                    }
                    crate::slog!(crate::log::WARNING, "Wrong passphrase: retrying");
                    continue;
                }
                return Err(err);
            }
        }
    }
    Err(TlsError::message(format!(
        "Failed to load private key from: {shown}"
    )))
}

fn cached_passphrase(file: &str) -> Option<Vec<u8>> {
    let guard = PASSPHRASES.lock().unwrap_or_else(|p| p.into_inner());
    guard.as_ref().and_then(|m| m.get(file).cloned())
}

fn remember_passphrase(file: &str, phrase: Vec<u8>) {
    let mut guard = PASSPHRASES.lock().unwrap_or_else(|p| p.into_inner());
    guard
        .get_or_insert_with(HashMap::new)
        .insert(file.to_string(), phrase);
}

/// The controlling terminal, with echo switched off while reading.
struct Terminal {
    file: std::fs::File,
}

impl Terminal {
    fn open() -> Option<Terminal> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        Some(Terminal { file })
    }

    fn prompt(&mut self, text: &str) -> Option<Vec<u8>> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        let saved = tcgetattr(&self.file).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_flags.remove(LocalFlags::ECHO);
            let _ = tcsetattr(&self.file, SetArg::TCSANOW, &quiet);
        }
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
        let mut line = String::new();
        let read = std::io::BufReader::new(&self.file).read_line(&mut line);
        if let Some(t) = &saved {
            let _ = tcsetattr(&self.file, SetArg::TCSANOW, t);
        }
        let _ = self.file.write_all(b"\n");
        match read {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line.trim_end_matches(['\n', '\r']).as_bytes().to_vec()),
        }
    }
}

/// `CAfile` / `CApath`: the trust store; in server mode the CAfile
/// subjects also become the acceptable client CA list.
pub fn load_ca(
    b: &mut SslContextBuilder,
    tls: &ServiceOptions,
    client: bool,
) -> Result<(), TlsError> {
    if tls.ca_file.is_none() && tls.ca_path.is_none() {
        // stunnel 5.68 logs this (err) for every section without a trust
        // store, verifying or not; scripts diffing logs see it.
        crate::slog!(crate::log::ERR, "No trusted certificates found");
        return Ok(());
    }
    if let Some(file) = &tls.ca_file {
        // stunnel 5.68 treats a CAfile it cannot read (missing, not PEM)
        // as one without certificates: `No trusted certificates found`
        // below, which stops the start only when verification needs them
        // (checked against stunnel4). Without verification a CAfile only
        // names acceptable client CAs, so starting is not a risk. The
        // returned ErrorStack has already drained OpenSSL's error queue.
        let _ = b.set_ca_file(file);
    }
    if let Some(dir) = &tls.ca_path {
        let dir_s = dir.display().to_string();
        b.cert_store_mut()
            .add_lookup(X509Lookup::hash_dir())
            .and_then(|l| l.add_dir(&dir_s, SslFiletype::PEM))
            .map_err(|e| {
                crate::slog!(
                    crate::log::ERR,
                    "Error loading verify certificates from {dir_s}"
                );
                TlsError::new("SSL_CTX_load_verify_locations", &e)
            })?;
    }
    // The subjects of every certificate in CAfile, then in the CApath
    // files (stunnel lists both; OpenSSL reads the directory lazily).
    let mut names: Vec<X509Name> = Vec::new();
    let mut add = |cert: &X509| {
        let Ok(der) = cert.subject_name().to_der() else {
            return;
        };
        let seen = names.iter().any(|n| n.to_der().is_ok_and(|d| d == der));
        if !seen {
            if let Ok(name) = X509Name::from_der(&der) {
                names.push(name);
            }
        }
    };
    if let Some(file) = &tls.ca_file {
        read_certs(file).iter().for_each(&mut add);
    }
    if let Some(dir) = &tls.ca_path {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            read_certs(file).iter().for_each(&mut add);
        }
    }
    if names.is_empty() {
        if tls.verify.chain || tls.verify.peer {
            return Err(TlsError::message("No trusted certificates found"));
        }
        crate::slog!(crate::log::ERR, "No trusted certificates found");
        return Ok(());
    }
    let side = if client { "server" } else { "client" };
    for name in &names {
        crate::slog!(
            crate::log::INFO,
            "Configured trusted {side} CA: {}",
            ffi::name_text(name)
        );
    }
    if !client {
        let mut stack = openssl::stack::Stack::new()
            .map_err(|e| TlsError::new("SSL_CTX_set_client_CA_list", &e))?;
        for name in names {
            stack
                .push(name)
                .map_err(|e| TlsError::new("SSL_CTX_set_client_CA_list", &e))?;
        }
        b.set_client_ca_list(stack);
    }
    Ok(())
}

fn read_certs(file: &Path) -> Vec<X509> {
    std::fs::read(file)
        .ok()
        .and_then(|pem| X509::stack_from_pem(&pem).ok())
        .unwrap_or_default()
}

/// `CRLfile` / `CRLpath`: revocation data for the leaf
/// (`X509_V_FLAG_CRL_CHECK`).
pub fn load_crl(b: &mut SslContextBuilder, tls: &ServiceOptions) -> Result<(), TlsError> {
    if tls.crl_file.is_none() && tls.crl_path.is_none() {
        return Ok(());
    }
    let store: &mut X509StoreBuilderRef = b.cert_store_mut();
    if let Some(file) = &tls.crl_file {
        store
            .add_lookup(X509Lookup::file())
            .and_then(|l| l.load_crl_file(file, SslFiletype::PEM).map(|_| ()))
            .map_err(|e| {
                crate::slog!(
                    crate::log::ERR,
                    "Error loading CRLs from {}",
                    file.display()
                );
                TlsError::new("X509_load_crl_file", &e)
            })?;
    }
    if let Some(dir) = &tls.crl_path {
        let dir_s = dir.display().to_string();
        store
            .add_lookup(X509Lookup::hash_dir())
            .and_then(|l| l.add_dir(&dir_s, SslFiletype::PEM))
            .map_err(|e| TlsError::new("X509_LOOKUP_add_dir", &e))?;
    }
    store
        .set_flags(X509VerifyFlags::CRL_CHECK)
        .map_err(|e| TlsError::new("X509_STORE_set_flags", &e))?;
    Ok(())
}
