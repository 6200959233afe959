//! NTLM proxy authentication of the CONNECT client, byte for byte as
//! stunnel 5.68's `ntlm()`, `ntlm1()` and `ntlm3()` (NTLMv1: OEM + NTLM
//! flags, the 24-byte NT response, no LM response).
//!
//! The NT response needs MD4 and single DES, which OpenSSL 3 only offers in
//! its `legacy` provider. We load that provider into a private library
//! context, so the default context used by TLS stays untouched. If it cannot
//! be loaded, NTLM behaves as in a stunnel built without MD4:
//! `NTLM authentication is not available`.
//!
//! Deviation: without `protocolDomain` 5.68 dereferences NULL; we send an
//! empty domain.

use super::hook::{base64, Abort};
use super::line::{starts, Wire};
use crate::log::ERR;
use openssl::cipher::Cipher;
use openssl::cipher_ctx::CipherCtx;
use openssl::lib_ctx::LibCtx;
use openssl::md::Md;
use openssl::md_ctx::MdCtx;
use openssl::provider::Provider;
use std::sync::OnceLock;

fn fail(msg: &str) -> Abort {
    slog!(ERR, "{msg}");
    Abort::Reset
}

/// Phases 1 and 2, and the `CONNECT`/`Host`/`Proxy-Authorization` lines of
/// phase 3; the caller sends the custom headers and the final blank line.
pub(super) async fn negotiate(
    remote: &mut Wire<'_>,
    host: &str,
    domain: &str,
    user: &str,
    pass: &str,
) -> Result<(), Abort> {
    if legacy().is_none() {
        return Err(fail("NTLM authentication is not available"));
    }
    remote.write_str("Proxy-Connection: keep-alive").await?;
    remote
        .write_str(&format!("Proxy-Authorization: NTLM {}", base64(&type1())))
        .await?;
    remote.write_str("").await?;

    let status = remote.read_line().await?;
    if !starts(&status, "HTTP/1.0 407") && !starts(&status, "HTTP/1.1 407") {
        slog!(
            ERR,
            "Proxy-Authenticate: NTLM authorization request rejected"
        );
        while !remote.read_line().await?.is_empty() {}
        return Err(Abort::Reset);
    }
    let mut challenge = None;
    let mut content_length: u64 = 0;
    loop {
        let line = remote.read_line().await?;
        if line.is_empty() {
            break;
        }
        // stunnel's is_prefix: case-insensitive header names
        if starts(&line, "Proxy-Authenticate: NTLM ") {
            challenge = Some(String::from_utf8_lossy(&line[25..]).into_owned());
        } else if starts(&line, "Content-Length: ") {
            content_length = parse_length(&line[16..])
                .ok_or_else(|| fail("Proxy-Authenticate: Invalid Content-Length"))?;
        }
    }
    let Some(challenge) = challenge else {
        return Err(fail("Proxy-Authenticate: NTLM header not found"));
    };
    // read and ignore the HTTP content, if any
    let mut buf = vec![0u8; 8192];
    while content_length > 0 {
        let n = content_length.min(buf.len() as u64) as usize;
        remote.read_exact(&mut buf[..n]).await?;
        content_length -= n as u64;
    }

    remote
        .write_str(&format!("CONNECT {host} HTTP/1.1"))
        .await?;
    remote.write_str(&format!("Host: {host}")).await?;
    let t3 = type3(domain, user, pass, &challenge)
        .ok_or_else(|| fail("Proxy-Authenticate: Failed to build NTLM response"))?;
    remote
        .write_str(&format!("Proxy-Authorization: NTLM {}", base64(&t3)))
        .await
}

/// `strtol` digits, then only whitespace, and not negative.
fn parse_length(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let t = text.trim_start();
    let digits_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && (c == '+' || c == '-'))))
        .map_or(t.len(), |(i, _)| i);
    if !t[digits_end..].trim().is_empty() {
        return None;
    }
    let n: i64 = t[..digits_end].parse().ok()?;
    u64::try_from(n).ok()
}

/// The 32-byte type-1 (negotiate) message.
pub(super) fn type1() -> [u8; 32] {
    let mut m = [0u8; 32];
    m[..7].copy_from_slice(b"NTLMSSP");
    m[8] = 1; // type 1
    m[12] = 2; // flag: negotiate OEM
    m[13] = 2; // flag: negotiate NTLM
    m
}

/// The type-3 (authenticate) message for the base64 `challenge` (type 2).
pub(super) fn type3(domain: &str, user: &str, password: &str, challenge: &str) -> Option<Vec<u8>> {
    const NTLM_LEN: usize = 24;
    const NTLM_OFF: usize = 64;
    let (domain, user) = (domain.as_bytes(), user.as_bytes());
    let domain_off = NTLM_OFF + NTLM_LEN;
    let user_off = domain_off + domain.len();
    let end_off = user_off + user.len();
    if end_off > 146 {
        return None;
    }
    let mut m = vec![0u8; end_off];
    m[..7].copy_from_slice(b"NTLMSSP");
    m[8] = 3; // type 3
    m[16] = end_off as u8; // LM response offset (empty)
    m[20] = NTLM_LEN as u8;
    m[22] = NTLM_LEN as u8;
    m[24] = NTLM_OFF as u8;
    m[28] = domain.len() as u8;
    m[30] = domain.len() as u8;
    m[32] = domain_off as u8;
    m[36] = user.len() as u8;
    m[38] = user.len() as u8;
    m[40] = user_off as u8;
    m[48] = end_off as u8; // workstation offset (empty)
    m[56] = end_off as u8; // session key offset (empty)
    m[60] = 2; // flag: negotiate OEM
    m[61] = 2; // flag: negotiate NTLM

    let mut decoded = openssl::base64::decode_block(challenge.trim()).ok()?;
    decoded.resize(decoded.len().max(32), 0); // stunnel's 32-byte minimum
    let nonce = &decoded[24..32];
    let response = nt_response(password.as_bytes(), nonce)?;
    m[NTLM_OFF..NTLM_OFF + NTLM_LEN].copy_from_slice(&response);
    m[domain_off..user_off].copy_from_slice(domain);
    m[user_off..end_off].copy_from_slice(user);
    Some(m)
}

/// NTLMv1: DES-encrypt the 8-byte challenge with the three 7-byte thirds of
/// MD4(password as stunnel's "UTF-16": every byte followed by 0) padded to 21.
pub(super) fn nt_response(password: &[u8], challenge: &[u8]) -> Option<[u8; 24]> {
    let ctx = legacy()?;
    let md4 = Md::fetch(Some(ctx), "MD4", None).ok()?;
    let mut md = MdCtx::new().ok()?;
    md.digest_init(&md4).ok()?;
    for &b in password {
        md.digest_update(&[b, 0]).ok()?;
    }
    let mut hash = [0u8; 21];
    md.digest_final(&mut hash[..16]).ok()?;
    let des = Cipher::fetch(Some(ctx), "DES-ECB", None).ok()?;
    let mut out = [0u8; 24];
    for i in 0..3 {
        let key = des_key(&hash[i * 7..i * 7 + 7]);
        let mut c = CipherCtx::new().ok()?;
        c.encrypt_init(Some(&des), Some(&key), None).ok()?;
        c.set_padding(false);
        let mut block = [0u8; 16];
        let n = c.cipher_update(challenge, Some(&mut block)).ok()?;
        if n != 8 {
            return None;
        }
        out[i * 8..i * 8 + 8].copy_from_slice(&block[..8]);
    }
    Some(out)
}

/// 56 key bits → a DES key, 7 bits per byte (parity bits are ignored by DES).
fn des_key(h: &[u8]) -> [u8; 8] {
    [
        h[0],
        (h[0] << 7) | (h[1] >> 1),
        (h[1] << 6) | (h[2] >> 2),
        (h[2] << 5) | (h[3] >> 3),
        (h[3] << 4) | (h[4] >> 4),
        (h[4] << 3) | (h[5] >> 5),
        (h[5] << 2) | (h[6] >> 6),
        h[6] << 1,
    ]
}

/// A library context with the `legacy` provider, loaded once per process.
fn legacy() -> Option<&'static openssl::lib_ctx::LibCtxRef> {
    static CTX: OnceLock<Option<LibCtx>> = OnceLock::new();
    CTX.get_or_init(|| {
        let ctx = LibCtx::new().ok()?;
        let provider = Provider::load(Some(&ctx), "legacy").ok()?;
        // The provider must stay loaded as long as the context lives: forever.
        std::mem::forget(provider);
        Some(ctx)
    })
    .as_deref()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// MS-NLMP 4.2.2 (NTLM v1 authentication): password "Password", server
    /// challenge 0123456789abcdef → NTChallengeResponse.
    #[test]
    fn nt_response_matches_ms_nlmp_4_2_2() {
        let r = nt_response(b"Password", &hex("0123456789abcdef")).expect("legacy provider");
        assert_eq!(
            r.to_vec(),
            hex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
        );
    }

    #[test]
    fn type3_layout_is_stunnels() {
        let mut t2 = vec![0u8; 32];
        t2[24..32].copy_from_slice(&hex("0123456789abcdef"));
        let m = type3("DOM", "user", "Password", &base64(&t2)).expect("type 3");
        assert_eq!(m.len(), 64 + 24 + 3 + 4);
        assert_eq!(&m[..8], b"NTLMSSP\0");
        assert_eq!(&m[88..91], b"DOM");
        assert_eq!(&m[91..95], b"user");
        assert_eq!(m[16], 95);
        assert_eq!(
            m[64..88].to_vec(),
            hex("67c43011f30298a2ad35ece64f16331c44bdbed927841f94")
        );
        assert!(type3(&"d".repeat(40), &"u".repeat(40), "p", &base64(&t2)).is_none());
        assert_eq!(parse_length(b" 12 "), Some(12));
        assert_eq!(parse_length(b"-1"), None);
        assert_eq!(parse_length(b"12x"), None);
        assert_eq!(parse_length(b""), None);
    }
}
