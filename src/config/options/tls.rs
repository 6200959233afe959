//! TLS options: certificate and key *names* (never opened here: the TLS
//! layer loads them), cipher/group strings, protocol versions, `options`,
//! sessions and tickets, PSK, `sni`, `config`.
//!
//! `options = [-]NAME` uses a table of OpenSSL 3.0's `SSL_OP_*` numbers,
//! copied by value from `<openssl/ssl.h>` so the config reader does not link
//! OpenSSL; names whose value is 0 in OpenSSL 3 are accepted with no effect
//! (stunnel 5.50+).

use super::declare::Failure;
use super::values::strtol;
use crate::config::types::TlsVersion;

/// `config = COMMAND[:PARAMETER]` for `SSL_CONF_cmd`, in order.
/// `config = COMMAND[:PARAM]`.
pub fn conf_command(v: &str) -> Result<(String, Option<String>), Failure> {
    Ok(match v.split_once(':') {
        Some((c, p)) => (c.to_string(), Some(p.to_string())),
        None => (v.to_string(), None),
    })
}

pub fn security_level(v: &str) -> Result<Option<u8>, Failure> {
    let level = strtol(v)
        .filter(|n| (0..=5).contains(n))
        .ok_or("Illegal security level")?;
    Ok(u8::try_from(level).ok())
}

// ---- protocol versions ----

/// `None` = `all` (no limit).
pub fn version(v: &str) -> Result<Option<TlsVersion>, Failure> {
    Ok(Some(match v.to_ascii_lowercase().as_str() {
        "all" => return Ok(None),
        "sslv3" => TlsVersion::Ssl3,
        "tlsv1" => TlsVersion::Tls1,
        "tlsv1.1" => TlsVersion::Tls1_1,
        "tlsv1.2" => TlsVersion::Tls1_2,
        "tlsv1.3" => TlsVersion::Tls1_3,
        _ => return Err("Invalid protocol version".into()),
    }))
}

// ---- options = [-]NAME ----

const fn bit(n: u32) -> u64 {
    1u64 << n
}

/// OpenSSL 3.0 `SSL_OP_*` values, in `stunnel -options` order.
pub static SSL_OPTIONS: &[(&str, u64)] = &[
    ("ALL", bit(31) | bit(11) | bit(4) | bit(6)),
    ("ALLOW_CLIENT_RENEGOTIATION", bit(8)),
    ("ALLOW_NO_DHE_KEX", bit(10)),
    ("ALLOW_UNSAFE_LEGACY_RENEGOTIATION", bit(18)),
    ("CIPHER_SERVER_PREFERENCE", bit(22)),
    ("CISCO_ANYCONNECT", bit(15)),
    ("CLEANSE_PLAINTEXT", bit(1)),
    ("COOKIE_EXCHANGE", bit(13)),
    ("CRYPTOPRO_TLSEXT_BUG", bit(31)),
    ("DISABLE_TLSEXT_CA_NAMES", bit(9)),
    ("DONT_INSERT_EMPTY_FRAGMENTS", bit(11)),
    ("ENABLE_KTLS", bit(3)),
    ("ENABLE_MIDDLEBOX_COMPAT", bit(20)),
    ("EPHEMERAL_RSA", 0),
    ("IGNORE_UNEXPECTED_EOF", bit(7)),
    ("LEGACY_SERVER_CONNECT", bit(2)),
    ("MICROSOFT_BIG_SSLV3_BUFFER", 0),
    ("MICROSOFT_SESS_ID_BUG", 0),
    ("MSIE_SSLV2_RSA_PADDING", 0),
    ("NETSCAPE_CA_DN_BUG", 0),
    ("NETSCAPE_CHALLENGE_BUG", 0),
    ("NETSCAPE_DEMO_CIPHER_CHANGE_BUG", 0),
    ("NETSCAPE_REUSE_CIPHER_CHANGE_BUG", 0),
    ("NO_ANTI_REPLAY", bit(24)),
    ("NO_COMPRESSION", bit(17)),
    ("NO_DTLS_MASK", bit(26) | bit(27)),
    ("NO_DTLSv1", bit(26)),
    ("NO_DTLSv1_2", bit(27)),
    ("NO_ENCRYPT_THEN_MAC", bit(19)),
    ("NO_EXTENDED_MASTER_SECRET", bit(0)),
    ("NO_QUERY_MTU", bit(12)),
    ("NO_RENEGOTIATION", bit(30)),
    ("NO_SESSION_RESUMPTION_ON_RENEGOTIATION", bit(16)),
    (
        "NO_SSL_MASK",
        bit(25) | bit(26) | bit(28) | bit(27) | bit(29),
    ),
    ("NO_SSLv2", 0),
    ("NO_SSLv3", bit(25)),
    ("NO_TICKET", bit(14)),
    ("NO_TLSv1", bit(26)),
    ("NO_TLSv1_1", bit(28)),
    ("NO_TLSv1_2", bit(27)),
    ("NO_TLSv1_3", bit(29)),
    ("PKCS1_CHECK_1", 0),
    ("PKCS1_CHECK_2", 0),
    ("PRIORITIZE_CHACHA", bit(21)),
    ("SAFARI_ECDHE_ECDSA_BUG", bit(6)),
    ("SINGLE_DH_USE", 0),
    ("SINGLE_ECDH_USE", 0),
    ("SSLEAY_080_CLIENT_DH_BUG", 0),
    ("SSLREF2_REUSE_CERT_TYPE_BUG", 0),
    ("TLS_BLOCK_PADDING_BUG", 0),
    ("TLS_D5_BUG", 0),
    ("TLSEXT_PADDING", bit(4)),
    ("TLS_ROLLBACK_BUG", bit(23)),
];

/// `options = NAME` ORs into the set mask, `options = -NAME` into the clear
/// mask; the TLS layer applies set then clear, so `-NAME` always wins.
/// `options = NAME` (set) or `options = -NAME` (clear): which, and the bits.
pub fn option_bits(v: &str) -> Result<(bool, u64), Failure> {
    let (clear, name) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (_, value) = SSL_OPTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .ok_or("Illegal TLS option")?;
    Ok((clear, *value))
}

// ---- session ticket keys ----

/// `OPENSSL_hexstr2buf`: pairs of hex digits, `:` allowed between pairs.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            i += 1;
            continue;
        }
        let hi = (*b.get(i)? as char).to_digit(16)?;
        let lo = (*b.get(i + 1)? as char).to_digit(16)?;
        out.push(u8::try_from(hi * 16 + lo).ok()?);
        i += 2;
    }
    (!out.is_empty()).then_some(out)
}

fn ticket_secret(name: &str, v: &str) -> Result<Vec<u8>, Failure> {
    let failed = format!("Failed to read {name}");
    let bytes = hex_decode(v).ok_or_else(|| {
        Failure::with_before(
            format!("Required {name} is 16 or 32 byte hexadecimal key"),
            failed.clone(),
        )
    })?;
    if bytes.len() != 16 && bytes.len() != 32 {
        return Err(Failure::with_before(
            format!(
                "{name} value has {} bytes instead of required 16 or 32 bytes",
                bytes.len()
            ),
            failed,
        ));
    }
    Ok(bytes)
}

pub fn ticket_key_secret(v: &str) -> Result<Option<Vec<u8>>, Failure> {
    ticket_secret("ticketKeySecret", v).map(Some)
}

pub fn ticket_mac_secret(v: &str) -> Result<Option<Vec<u8>>, Failure> {
    ticket_secret("ticketMacSecret", v).map(Some)
}

/// `ticketKeyFile = PATH` (rstunnel extension): the file must hold valid
/// keys now, so a bad file stops the start at this line. The path is kept
/// absolute: the daemon changes to `/` and the TLS layer reads the file
/// again whenever it changes. Readable by others is worth a warning, as
/// for `PSKsecrets` (whoever reads the keys can decrypt every session).
pub fn ticket_key_file(v: &str) -> Result<Option<std::path::PathBuf>, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::path::Path::new(v);
    let path = match std::env::current_dir() {
        Ok(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    };
    crate::config::ticket_key_file::read(&path)?;
    if let Ok(meta) = std::fs::metadata(&path) {
        if meta.permissions().mode() & 0o7 != 0 {
            crate::slog!(
                crate::log::WARNING,
                "Insecure file permissions on {}",
                path.display()
            );
        }
    }
    Ok(Some(path))
}
