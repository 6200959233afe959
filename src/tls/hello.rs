//! What a client offered in its ClientHello, and a one-line fix when a
//! handshake fails over protocol range, security level or ciphers.
//!
//! Not stunnel behaviour: stunnel only prints OpenSSL's `no shared cipher` or
//! `unsupported protocol`. Legacy clients (TLS 1.0, AES128-SHA) meet
//! OpenSSL 3's security level 2 often, and the error alone does not say which
//! of `sslVersionMin`, `securityLevel` or `ciphers` to change. The callback
//! only records; the hints are computed after the failure.

use openssl::ssl::{Ssl, SslOptions, SslRef, SslVersion};

use super::conn::{self, Offer, RawOffer};
use super::ffi;
use super::library;
use super::suites::{self, Weakness};

/// OpenSSL reasons after which the hints are worth printing.
const RELEVANT: [&str; 8] = [
    "unsupported protocol",
    "no shared cipher",
    "version too low",
    "wrong version number",
    "no suitable signature algorithm",
    "insufficient security",
    "no protocols available",
    "no ciphers available",
];

/// From the client-hello callback (server contexts): record the offer.
/// Every handshake passes here and almost none fails, so only the raw
/// bytes are copied; names are looked up in [`hints`].
pub fn record(ssl: &SslRef) {
    let offer = raw(ssl);
    if let Some(conn) = conn::get(ssl) {
        *conn.offer.lock().unwrap_or_else(|p| p.into_inner()) = Some(offer);
    }
}

/// The offer of the ClientHello being processed, with suite names.
pub fn parse(ssl: &SslRef) -> Offer {
    decode(ssl, &raw(ssl))
}

/// Inside the client-hello callback: versions and the raw suite list.
fn raw(ssl: &SslRef) -> RawOffer {
    let mut versions = Vec::new();
    // supported_versions (43): length byte, then 16-bit versions.
    if let Some(ext) = ffi::client_hello_ext(ssl, 43) {
        for pair in ext.get(1..).unwrap_or(&[]).chunks_exact(2) {
            if let Some(v) = version_from_wire(u16::from_be_bytes([pair[0], pair[1]])) {
                versions.push(v);
            }
        }
    }
    if versions.is_empty() {
        // No extension: the client's highest version is legacy_version.
        versions.extend(ssl.client_hello_legacy_version());
    }
    versions.sort_by_key(|v| rank(*v));
    versions.dedup();
    RawOffer {
        versions,
        suites: ssl.client_hello_ciphers().unwrap_or(&[]).to_vec(),
        isv2: ssl.client_hello_isv2(),
    }
}

/// Suite names for a recorded offer (any time during the connection).
fn decode(ssl: &SslRef, raw: &RawOffer) -> Offer {
    let (ciphers, unknown, shown) = offered_suites(ssl, &raw.suites, raw.isv2);
    Offer {
        versions: raw.versions.clone(),
        ciphers,
        unknown,
        shown,
    }
}

/// The offered suites: names OpenSSL knows; codes it does not (an XP
/// client's 3DES and RC4 with the system library), which `bytes_to_cipher_list`
/// would drop; and the hint's list of both in the client's order.
fn offered_suites(ssl: &SslRef, raw: &[u8], isv2: bool) -> (Vec<String>, Vec<u16>, Vec<String>) {
    let (mut known, mut unknown, mut shown) = (Vec::new(), Vec::new(), Vec::new());
    if raw.is_empty() {
        return (known, unknown, shown);
    }
    let list = ssl.bytes_to_cipher_list(raw, isv2).ok();
    let name_of = |code: u16| -> Option<String> {
        let list = list.as_ref()?;
        list.suites
            .iter()
            .find(|c| u16::from_be_bytes(c.protocol_id()) == code)
            .map(|c| c.name().to_string())
    };
    // SSLv2 hellos carry 3-byte entries; TLS suites there start with 0.
    let width = if isv2 { 3 } else { 2 };
    for entry in raw.chunks_exact(width) {
        if isv2 && entry[0] != 0 {
            continue;
        }
        let code = u16::from_be_bytes([entry[width - 2], entry[width - 1]]);
        if suites::is_signalling(code) {
            continue;
        }
        match name_of(code) {
            Some(name) => {
                shown.push(name.clone());
                known.push(name);
            }
            None => {
                unknown.push(code);
                shown.push(match suites::iana_name(code) {
                    Some(n) => format!("{n} (0x{code:04X}, not in this OpenSSL)"),
                    None => format!("0x{code:04X} (not in this OpenSSL)"),
                });
            }
        }
    }
    (known, unknown, shown)
}

const ALL: [SslVersion; 5] = [
    SslVersion::SSL3,
    SslVersion::TLS1,
    SslVersion::TLS1_1,
    SslVersion::TLS1_2,
    SslVersion::TLS1_3,
];

fn version_from_wire(v: u16) -> Option<SslVersion> {
    match v {
        0x0300 => Some(SslVersion::SSL3),
        0x0301 => Some(SslVersion::TLS1),
        0x0302 => Some(SslVersion::TLS1_1),
        0x0303 => Some(SslVersion::TLS1_2),
        0x0304 => Some(SslVersion::TLS1_3),
        _ => None,
    }
}

fn rank(v: SslVersion) -> u8 {
    ALL.iter().position(|x| *x == v).unwrap_or(0) as u8
}

/// stunnel's spelling of a version (`sslVersionMin = TLSv1`).
pub fn version_name(v: SslVersion) -> &'static str {
    match v {
        SslVersion::SSL3 => "SSLv3",
        SslVersion::TLS1 => "TLSv1",
        SslVersion::TLS1_1 => "TLSv1.1",
        SslVersion::TLS1_2 => "TLSv1.2",
        _ => "TLSv1.3",
    }
}

/// After a failed accept: what the client offered and what would accept it.
pub fn hints(ssl: &SslRef, error: &super::errors::TlsError) -> Vec<String> {
    if !RELEVANT.iter().any(|r| error.mentions(r)) {
        return Vec::new();
    }
    let Some(raw) = conn::get(ssl).and_then(|c| c.offer.lock().ok().and_then(|o| o.clone())) else {
        return Vec::new();
    };
    let offer = decode(ssl, &raw);
    let mut out = vec![
        format!(
            "Client offered protocols: {}",
            join(offer.versions.iter().map(|v| version_name(*v)))
        ),
        format!(
            "Client offered ciphers: {}",
            join(offer.shown.iter().map(String::as_str))
        ),
    ];
    if let Some(missing) = missing(&offer) {
        out.push(format!("This OpenSSL cannot accept this client: {missing}"));
    } else if let Some(fix) = fix(ssl, &offer) {
        out.push(format!("To accept this client, set: {fix}"));
    }
    out
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    if v.is_empty() {
        "(none)".to_string()
    } else {
        v.join(", ")
    }
}

/// What no setting of this build can supply: SSLv3 for a client that
/// speaks nothing newer, or every offered suite. Names the legacy build
/// when it has what the client needs (SSLv3 if needed, and one of the
/// suites), e.g. for XP, whose export and DES suites no OpenSSL 3 has.
fn missing(offer: &Offer) -> Option<String> {
    let reach = library::reach();
    let best = *offer.versions.last()?;
    let needs_ssl3 = best == SslVersion::SSL3 && !reach.ssl3;
    let usable_known = offer.ciphers.iter().any(|c| !c.starts_with("TLS_"));
    let mut kinds: Vec<Weakness> = Vec::new();
    let mut unnamed = false;
    if !usable_known && best != SslVersion::TLS1_3 && !offer.unknown.is_empty() {
        kinds = offer
            .unknown
            .iter()
            .filter_map(|c| suites::code_weakness(*c))
            .collect();
        kinds.sort();
        kinds.dedup();
        unnamed = kinds.is_empty();
    }
    if !needs_ssl3 && kinds.is_empty() && !unnamed {
        return None;
    }
    let mut lacks: Vec<&str> = Vec::new();
    if needs_ssl3 {
        lacks.push("SSLv3");
    }
    lacks.extend(kinds.iter().map(|k| k.label()));
    if unnamed {
        lacks.push("every suite it offered");
    }
    let verb = if lacks.len() == 1 { "is" } else { "are" };
    // Export and DES suites left OpenSSL in 1.1.0; the others are build
    // switches.
    let how = if kinds
        .iter()
        .all(|k| matches!(k, Weakness::TripleDes | Weakness::Rc4))
        && !unnamed
    {
        "compiled out of"
    } else {
        "not in"
    };
    let mut text = format!(
        "{} {verb} {how} {}",
        and_list(&lacks),
        library::library_name()
    );
    let legacy = library::LEGACY_HAS;
    let legacy_suites: Vec<&str> = kinds
        .iter()
        .filter(|k| match k {
            Weakness::TripleDes => legacy.triple_des,
            Weakness::Rc4 => legacy.rc4,
            _ => false,
        })
        .map(|k| k.label())
        .collect();
    let ciphers_ok = (kinds.is_empty() && !unnamed) || !legacy_suites.is_empty();
    if !library::LEGACY_BUILD && (!needs_ssl3 || legacy.ssl3) && ciphers_ok {
        let mut has: Vec<&str> = Vec::new();
        if needs_ssl3 {
            has.push("SSLv3");
        }
        has.extend(legacy_suites);
        let what = if has == lacks {
            if has.len() == 1 { "it" } else { "them" }.to_string()
        } else {
            and_list(&has)
        };
        text.push_str(&format!(
            "; the legacy build rstunnel-legacy has {what} (README: Legacy TLS)"
        ));
    }
    Some(text)
}

/// `SSLv3`, `SSLv3 and 3DES`, `SSLv3, 3DES and RC4`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Try the least invasive change first on a scratch `SSL` of the same
/// context: the security level, then the minimum version, then both, then
/// the cipher list.
fn fix(ssl: &SslRef, offer: &Offer) -> Option<String> {
    let fix = fix_range_level_ciphers(ssl, offer)?;
    // SSLv3 (only reached with an OpenSSL that has it): stunnel sets
    // NO_SSLv3 on every context unless the file clears it.
    let ssl3 = offer.versions.last() == Some(&SslVersion::SSL3);
    if ssl3 && ffi::ssl_options(ssl).contains(SslOptions::NO_SSLV3) {
        return Some(format!("options = -NO_SSLv3 and {fix}"));
    }
    Some(fix)
}

/// A scratch `SSL` of the failed connection's context; SSLv3 allowed when
/// that is what the client needs, so the other settings can be judged.
fn scratch(ssl: &SslRef, v: SslVersion) -> Option<Ssl> {
    let mut probe = Ssl::new(ssl.ssl_context()).ok()?;
    if v == SslVersion::SSL3 {
        ffi::ssl_clear_options(&mut probe, SslOptions::NO_SSLV3);
    }
    Some(probe)
}

fn fix_range_level_ciphers(ssl: &SslRef, offer: &Offer) -> Option<String> {
    let best = *offer.versions.last()?;
    let level = ssl.ssl_context().security_level();
    let min_ok = ctx_min_ok(ssl, best);
    let shares = |seclevel: u32, min: Option<SslVersion>| -> bool {
        // OpenSSL 3: below TLS 1.2 the handshake signatures (MD5/SHA-1)
        // are under every security level but 0, whatever the cipher.
        if rank(best) < rank(SslVersion::TLS1_2) && seclevel > 0 {
            return false;
        }
        let Some(mut probe) = scratch(ssl, best) else {
            return false;
        };
        probe.set_security_level(seclevel);
        if let Some(m) = min {
            if probe.set_min_proto_version(Some(m)).is_err() {
                return false;
            }
        }
        let _ = probe.set_max_proto_version(Some(best));
        let ours = ffi::supported_ciphers(&probe);
        offer
            .ciphers
            .iter()
            .any(|c| ours.iter().any(|(n, _)| n == c))
    };
    let min_fix = format!("sslVersionMin = {}", version_name(best));
    if min_ok && level > 0 && shares(0, None) {
        return Some("securityLevel = 0".to_string());
    }
    if !min_ok && shares(level, Some(best)) {
        return Some(min_fix);
    }
    if !min_ok && shares(0, Some(best)) {
        return Some(format!("{min_fix} and securityLevel = 0"));
    }
    let legacy: Vec<&str> = offer
        .ciphers
        .iter()
        .map(String::as_str)
        .filter(|c| !c.starts_with("TLS_"))
        .take(3)
        .collect();
    if legacy.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if !min_ok {
        parts.push(min_fix);
    }
    parts.push(format!("ciphers = {}:@SECLEVEL=0", legacy.join(":")));
    Some(parts.join(" and "))
}

/// Whether the context's configured minimum admits `v`.
fn ctx_min_ok(ssl: &SslRef, v: SslVersion) -> bool {
    let Some(mut probe) = scratch(ssl, v) else {
        return true;
    };
    // The configured range is copied into a new SSL; setting max = v fails
    // to produce ciphers only when min > v. Ask OpenSSL through the range.
    let _ = probe.set_max_proto_version(Some(v));
    probe.set_security_level(0);
    !ffi::supported_ciphers(&probe).is_empty()
}
