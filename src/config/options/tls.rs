//! TLS options: certificate and key *names* (never opened here: the TLS
//! layer loads them), cipher/group strings, protocol versions, `options`,
//! sessions and tickets, PSK, `sni`, `config`.
//!
//! `options = [-]NAME` uses a table of OpenSSL 3.0's `SSL_OP_*` numbers,
//! copied by value from `<openssl/ssl.h>` so the config reader does not link
//! OpenSSL; names whose value is 0 in OpenSSL 3 are accepted with no effect
//! (stunnel 5.50+).

use std::path::PathBuf;

use super::{strtol, yes_no, Failure};
use crate::config::model::TlsVersion;
use crate::config::raw::Target;

pub fn cert(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.cert = Some(PathBuf::from(v));
    Ok(())
}

pub fn key(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.key = Some(PathBuf::from(v));
    Ok(())
}

pub fn ciphers(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.ciphers = Some(v.to_string());
    Ok(())
}

pub fn ciphersuites(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.ciphersuites = Some(v.to_string());
    Ok(())
}

/// `curves` and its alias `curve`; the list is checked by OpenSSL when the
/// TLS layer builds the context (`Invalid groups list in 'curves'`).
pub fn curves(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.curves = Some(v.to_string());
    Ok(())
}

/// `config = COMMAND[:PARAMETER]` for `SSL_CONF_cmd`, in order.
pub fn config(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let cmd = match v.split_once(':') {
        Some((c, p)) => (c.to_string(), Some(p.to_string())),
        None => (v.to_string(), None),
    };
    t.service.conf_cmds.push(cmd);
    Ok(())
}

pub fn renegotiation(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.renegotiation = yes_no(v)?;
    Ok(())
}

pub fn session_resume(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.session_resume = yes_no(v)?;
    Ok(())
}

pub fn security_level(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let level = strtol(v)
        .filter(|n| (0..=5).contains(n))
        .ok_or("Illegal security level")?;
    t.service.security_level = u8::try_from(level).ok();
    Ok(())
}

/// Any integer; negative values are accepted as stunnel does.
pub fn session_cache_size(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.session_cache_size = strtol(v).ok_or("Illegal session cache size")?;
    Ok(())
}

/// `sessionCacheTimeout` and its alias `session`.
pub fn session_cache_timeout(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.session_cache_timeout = strtol(v).ok_or("Illegal session cache timeout")?;
    Ok(())
}

/// Kept as written: a client name or a server `PRIMARY:PATTERN`, decided by
/// the section's final `client` value (in `resolve`). Last line wins.
pub fn sni(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.sni = Some(v.to_string());
    Ok(())
}

pub fn psk_identity(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.psk_identity = Some(v.to_string());
    Ok(())
}

/// Read the PSK file now, as stunnel does (stunnel-reference §3.2
/// `PSKsecrets`); the keys are inherited like any other value.
pub fn psk_secrets(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.psk_secrets = super::verify::read_psk_file(v)?;
    Ok(())
}

// ---- protocol versions ----

/// `None` = `all` (no limit).
fn version(v: &str) -> Result<Option<TlsVersion>, Failure> {
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

/// `sslVersion = X` pins both ends (`all` clears both).
pub fn ssl_version(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let ver = version(v)?;
    t.service.min_version = ver;
    t.service.max_version = ver;
    Ok(())
}

pub fn ssl_version_min(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.min_version = version(v)?;
    Ok(())
}

pub fn ssl_version_max(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.max_version = version(v)?;
    Ok(())
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
pub fn options(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let (clear, name) = match v.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let (_, value) = SSL_OPTIONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .ok_or("Illegal TLS option")?;
    if clear {
        t.service.options_clear |= value;
    } else {
        t.service.options_set |= value;
    }
    Ok(())
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

pub fn ticket_key_secret(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.ticket_key = Some(ticket_secret("ticketKeySecret", v)?);
    Ok(())
}

pub fn ticket_mac_secret(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.ticket_mac = Some(ticket_secret("ticketMacSecret", v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawGlobal, RawService};

    fn apply(f: super::super::ApplyFn, lines: &[&str]) -> Result<RawService, Failure> {
        let mut g = RawGlobal::default();
        let mut s = RawService::default();
        for l in lines {
            f(
                &mut Target {
                    global: &mut g,
                    service: &mut s,
                    in_global: false,
                },
                l,
            )?;
        }
        Ok(s)
    }

    #[test]
    fn options_masks_match_stunnel_debug_line() {
        // stunnel logs `+0x14000000, -0x2000000` for these three lines.
        let s = apply(options, &["NO_TLSv1", "-NO_SSLv3", "no_tlsv1_1"]).expect("valid");
        assert_eq!((s.options_set, s.options_clear), (0x1400_0000, 0x0200_0000));
        for bad in ["FOO", "-FOO", "", "- NO_TICKET", "0x4"] {
            assert_eq!(
                apply(options, &[bad]).unwrap_err().reason,
                "Illegal TLS option"
            );
        }
        let s = apply(options, &["NO_SSLv2", "SINGLE_DH_USE"]).expect("zero-valued names");
        assert_eq!(s.options_set, 0);
    }

    #[test]
    fn versions() {
        let s = apply(ssl_version, &["tlsv1.2"]).expect("valid");
        assert_eq!(
            (s.min_version, s.max_version),
            (Some(TlsVersion::Tls1_2), Some(TlsVersion::Tls1_2))
        );
        let s = apply(ssl_version, &["TLSv1.2", "all"]).expect("valid");
        assert_eq!((s.min_version, s.max_version), (None, None));
        for bad in ["SSLv2", "TLSv1.4", ""] {
            assert_eq!(
                apply(ssl_version, &[bad]).unwrap_err().reason,
                "Invalid protocol version"
            );
        }
    }

    #[test]
    fn security_level_range() {
        assert_eq!(
            apply(security_level, &["5"]).map(|s| s.security_level),
            Ok(Some(5))
        );
        for bad in ["6", "-1", "x"] {
            assert_eq!(
                apply(security_level, &[bad]).unwrap_err().reason,
                "Illegal security level"
            );
        }
    }

    #[test]
    fn ticket_secrets() {
        let s = apply(
            ticket_key_secret,
            &["00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:FF"],
        )
        .expect("valid");
        assert_eq!(s.ticket_key.map(|k| k.len()), Some(16));
        assert!(apply(ticket_key_secret, &["::00112233445566778899aabbccddeeff:"]).is_ok());
        let e = apply(ticket_key_secret, &["xyz"]).unwrap_err();
        assert_eq!(
            (e.before, e.reason),
            (
                vec!["Required ticketKeySecret is 16 or 32 byte hexadecimal key".to_string()],
                "Failed to read ticketKeySecret".to_string()
            )
        );
        assert!(apply(ticket_key_secret, &["0:11"]).is_err());
        assert!(apply(ticket_key_secret, &[""]).is_err());
        let e = apply(ticket_mac_secret, &["0011"]).unwrap_err();
        assert_eq!(
            e.before,
            vec![
                "ticketMacSecret value has 2 bytes instead of required 16 or 32 bytes".to_string()
            ]
        );
        assert_eq!(e.reason, "Failed to read ticketMacSecret");
    }

    #[test]
    fn config_commands_split_at_first_colon() {
        let s = apply(config, &["Options:-SessionTicket", "Foo"]).expect("valid");
        assert_eq!(
            s.conf_cmds,
            vec![
                ("Options".to_string(), Some("-SessionTicket".to_string())),
                ("Foo".to_string(), None)
            ]
        );
    }
}
