//! Steps 2–8 of stunnel's context setup (stunnel-reference §6.1–§6.4):
//! protocol range, security level, cipher lists, options, `config` commands,
//! mode flags; and the late steps DH and ECDH groups (`curves`).
//!
//! Each function logs what stunnel 5.68 logs for it. Certificates, sessions
//! and verification are in their own files.

use openssl::ssl::{SslContextBuilder, SslMode, SslOptions, SslVersion};

use crate::config::model::{ServiceOptions, TlsVersion};

use super::errors::TlsError;
use super::ffi::{self, ConfCtx, ConfResult};

/// stunnel's `DEFAULT_SECURITY_LEVEL`.
const DEFAULT_SECURITY_LEVEL: u32 = 2;

pub fn ssl_version(v: TlsVersion) -> SslVersion {
    match v {
        TlsVersion::Ssl3 => SslVersion::SSL3,
        TlsVersion::Tls1 => SslVersion::TLS1,
        TlsVersion::Tls1_1 => SslVersion::TLS1_1,
        TlsVersion::Tls1_2 => SslVersion::TLS1_2,
        TlsVersion::Tls1_3 => SslVersion::TLS1_3,
    }
}

/// Step 2: `SSL_CTX_set_min/max_proto_version`, each only when set.
pub fn protocol_range(b: &mut SslContextBuilder, tls: &ServiceOptions) -> Result<(), TlsError> {
    if let Some(min) = tls.min_version {
        b.set_min_proto_version(Some(ssl_version(min)))
            .map_err(|e| TlsError::new("SSL_CTX_set_min_proto_version", &e))?;
    }
    if let Some(max) = tls.max_version {
        b.set_max_proto_version(Some(ssl_version(max)))
            .map_err(|e| TlsError::new("SSL_CTX_set_max_proto_version", &e))?;
    }
    Ok(())
}

/// Step 3 (§6.3): user level, else raise OpenSSL's to 2 if lower.
pub fn security_level(b: &mut SslContextBuilder, tls: &ServiceOptions) {
    match tls.security_level {
        Some(level) => {
            b.set_security_level(u32::from(level));
            crate::slog!(
                crate::log::INFO,
                "User-specified security level set: {level}"
            );
        }
        None => {
            let current = ffi::security_level(b);
            if current < DEFAULT_SECURITY_LEVEL {
                b.set_security_level(DEFAULT_SECURITY_LEVEL);
                crate::slog!(
                    crate::log::INFO,
                    "stunnel default security level set: {DEFAULT_SECURITY_LEVEL}"
                );
            } else {
                crate::slog!(
                    crate::log::INFO,
                    "OpenSSL security level is used: {current}"
                );
            }
        }
    }
}

/// Steps 4 and 5: `ciphers` (TLS <= 1.2) and `ciphersuites` (TLS 1.3).
pub fn ciphers(b: &mut SslContextBuilder, tls: &ServiceOptions) -> Result<(), TlsError> {
    crate::slog!(crate::log::DEBUG, "Ciphers: {}", tls.ciphers());
    b.set_cipher_list(tls.ciphers())
        .and_then(|()| super::weak::guard_cipher_list(b, tls.ciphers()))
        .map_err(|e| {
            let mut err = TlsError::new("SSL_CTX_set_cipher_list", &e);
            err.hints.extend(super::weak::compiled_out(tls.ciphers()));
            err
        })?;
    crate::slog!(
        crate::log::DEBUG,
        "TLSv1.3 ciphersuites: {}",
        tls.ciphersuites()
    );
    b.set_ciphersuites(tls.ciphersuites())
        .map_err(|e| TlsError::new("SSL_CTX_set_ciphersuites", &e))?;
    Ok(())
}

/// Step 6 (§6.4): OpenSSL defaults → NO_SSLv2|NO_SSLv3 → NO_TICKET for
/// servers without session resumption → clear NO_COMPRESSION → set mask →
/// clear mask. `extra_set` carries stunnel's forced bits (SNI sections).
pub fn options(b: &mut SslContextBuilder, tls: &ServiceOptions, client: bool, extra_set: u64) {
    b.set_options(SslOptions::NO_SSLV2 | SslOptions::NO_SSLV3);
    if !client && !tls.session_resume {
        b.set_options(SslOptions::NO_TICKET);
    }
    b.clear_options(SslOptions::NO_COMPRESSION);
    let set = tls.options_set | extra_set;
    b.set_options(SslOptions::from_bits_retain(set));
    b.clear_options(SslOptions::from_bits_retain(tls.options_clear));
    crate::slog!(
        crate::log::DEBUG,
        "TLS options: 0x{:X} (+0x{:X}, -0x{:X})",
        b.options().bits(),
        set,
        tls.options_clear
    );
}

/// Step 7: `config = COMMAND[:PARAM]` through `SSL_CONF_cmd`.
pub fn conf_commands(
    b: &mut SslContextBuilder,
    tls: &ServiceOptions,
    client: bool,
) -> Result<(), TlsError> {
    if tls.conf_cmds.is_empty() {
        return Ok(());
    }
    let Some(mut cctx) = ConfCtx::new(b, client) else {
        return Err(TlsError::from_queue("SSL_CONF_CTX_new"));
    };
    for (cmd, param) in &tls.conf_cmds {
        match cctx.cmd(cmd, param.as_deref()) {
            ConfResult::Set => crate::slog!(
                crate::log::DEBUG,
                "OpenSSL config \"{cmd}\" set to \"{}\"",
                param.as_deref().unwrap_or("")
            ),
            ConfResult::Executed => crate::slog!(
                crate::log::DEBUG,
                "OpenSSL config command \"{cmd}\" executed"
            ),
            ConfResult::Unknown => {
                return Err(TlsError::message(format!(
                    "OpenSSL config command \"{cmd}\" was not recognised"
                )))
            }
            ConfResult::NeedsParam => {
                return Err(TlsError::message(format!(
                    "OpenSSL config command \"{cmd}\" requires a parameter"
                )))
            }
            ConfResult::Failed => return Err(TlsError::from_queue("SSL_CONF_cmd")),
        }
    }
    if !cctx.finish() {
        return Err(TlsError::from_queue("SSL_CONF_CTX_finish"));
    }
    Ok(())
}

/// Read-ahead buffer: four records, as many as the copy loop's 64 KiB
/// buffer takes before it writes them out in one go.
const READ_AHEAD: usize = 64 * 1024;

/// Step 8: partial writes, moving write buffer, release buffers; and (not
/// in stunnel) read-ahead.
pub fn modes(b: &mut SslContextBuilder) {
    b.set_mode(
        SslMode::ENABLE_PARTIAL_WRITE
            | SslMode::ACCEPT_MOVING_WRITE_BUFFER
            | SslMode::RELEASE_BUFFERS,
    );
    ffi::read_ahead(b, READ_AHEAD);
}

/// DH: only servers whose cipher list has DHE suites need parameters; we
/// use OpenSSL's built-in groups sized to the key (`SSL_CTX_set_dh_auto`).
pub fn dh(b: &mut SslContextBuilder, client: bool) {
    if client {
        crate::slog!(
            crate::log::INFO,
            "DH initialization skipped: client section"
        );
        return;
    }
    let has_dhe = ffi::ctx_cipher_names(b)
        .iter()
        .any(|n| n.starts_with("DHE-") || n.starts_with("EDH-"));
    if !has_dhe {
        crate::slog!(
            crate::log::INFO,
            "DH initialization skipped: no DH ciphersuites"
        );
        return;
    }
    crate::slog!(crate::log::DEBUG, "DH initialization");
    ffi::set_dh_auto(b);
    crate::slog!(crate::log::INFO, "Using OpenSSL built-in DH parameters");
}

/// `curves` → `SSL_CTX_set1_groups_list`.
pub fn curves(b: &mut SslContextBuilder, tls: &ServiceOptions) -> Result<(), TlsError> {
    crate::slog!(crate::log::DEBUG, "ECDH initialization");
    if b.set_groups_list(tls.curves()).is_err() {
        return Err(TlsError::message("Invalid groups list in 'curves'"));
    }
    crate::slog!(
        crate::log::DEBUG,
        "ECDH initialized with curves {}",
        tls.curves()
    );
    Ok(())
}
