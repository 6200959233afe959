//! Peer verification options: trust store names, subject checks, CRLs,
//! OCSP, and the four flags `verify`/`verifyChain`/`verifyPeer`/
//! `requireCert` change in file order (stunnel-reference §6.6). Also the
//! PSK secrets file reader (stunnel reads it while parsing).
//!
//! The "Either verifyChain or verifyPeer" / "CAfile or CApath" checks need
//! the whole section and live in `resolve`. No certificate or CA file is
//! opened here.

use super::declare::Failure;
use super::values::{strtol, yes_no};
use crate::config::lexer::physical_lines;
use crate::config::types::VerifyFlags;

/// OpenSSL's `OCSP_*` verify flags (`<openssl/ocsp.h>` values).
pub static OCSP_FLAGS: &[(&str, u64)] = &[
    ("NOCERTS", 0x1),
    ("NOINTERN", 0x2),
    ("NOSIGS", 0x4),
    ("NOCHAIN", 0x8),
    ("NOVERIFY", 0x10),
    ("NOEXPLICIT", 0x20),
    ("NOCASIGN", 0x40),
    ("NODELEGATED", 0x80),
    ("NOCHECKS", 0x100),
    ("TRUSTOTHER", 0x200),
    ("RESPID_KEY", 0x400),
    ("NOTIME", 0x800),
];

/// One flag per line, OR-ed together.
pub fn add_ocsp_flag(flags: &mut u64, v: &str) -> Result<(), Failure> {
    let (_, bits) = OCSP_FLAGS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .ok_or("Illegal OCSP flag")?;
    *flags |= bits;
    Ok(())
}

/// `verify = 0..4` replaces all four flags.
pub fn level(flags: &mut VerifyFlags, v: &str) -> Result<(), Failure> {
    let (request, require, chain, peer) = match strtol(v) {
        Some(0) => (true, false, false, false),
        Some(1) => (true, false, true, false),
        Some(2) => (true, true, true, false),
        Some(3) => (true, true, true, true),
        Some(4) => (true, true, false, true),
        _ => return Err("Bad verify level".into()),
    };
    *flags = VerifyFlags {
        request,
        require,
        chain,
        peer,
    };
    Ok(())
}

pub fn verify_chain(f: &mut VerifyFlags, v: &str) -> Result<(), Failure> {
    if yes_no(v)? {
        f.request = true;
        f.require = true;
        f.chain = true;
    } else {
        f.chain = false;
    }
    Ok(())
}

pub fn verify_peer(f: &mut VerifyFlags, v: &str) -> Result<(), Failure> {
    if yes_no(v)? {
        f.request = true;
        f.require = true;
        f.peer = true;
    } else {
        f.peer = false;
    }
    Ok(())
}

pub fn require_cert(f: &mut VerifyFlags, v: &str) -> Result<(), Failure> {
    if yes_no(v)? {
        f.request = true;
        f.require = true;
    } else {
        f.require = false;
    }
    Ok(())
}

/// OpenSSL 3 limits (`PSK_MAX_IDENTITY_LEN`, `PSK_MAX_PSK_LEN`).
const PSK_MAX_IDENTITY_LEN: usize = 256;
const PSK_MAX_PSK_LEN: usize = 512;

/// The last line of every `PSKsecrets` failure.
const FAILED: &str = "Failed to read PSK secrets";

/// stunnel's `psk_read`: lines `IDENTITY:KEY` (no trimming, no comments,
/// empty lines skipped); KEY is hex if it decodes as hex, else ASCII.
/// A file readable by "other" only draws a warning.
pub fn read_psk_file(path: &str) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Failure::with_before(format!("{path}: {}", crate::os::errno::of_io(&e)), FAILED)
    })?;
    if meta.permissions().mode() & 0o7 != 0 {
        crate::slog!(crate::log::WARNING, "Insecure file permissions on {path}");
    }
    let bytes = std::fs::read(path)
        .map_err(|_| Failure::with_before("Cannot open PSKsecrets file", FAILED))?;
    parse_psk_secrets(&bytes)
}

/// The content of a `PSKsecrets` file (see [`read_psk_file`]); public for
/// the fuzz target.
pub fn parse_psk_secrets(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, Failure> {
    let mut keys = Vec::new();
    for (i, line) in physical_lines(bytes).iter().enumerate() {
        let no = i + 1;
        let line = String::from_utf8_lossy(line);
        let line = line.split('\0').next().unwrap_or_default();
        if line.is_empty() {
            continue;
        }
        let fail =
            |what: String| Failure::with_before(format!("PSKsecrets line {no}: {what}"), FAILED);
        let (identity, key_text) = line
            .split_once(':')
            .ok_or_else(|| fail("Not in identity:key format".to_string()))?;
        if identity.len() + 1 > PSK_MAX_IDENTITY_LEN {
            return Err(fail(format!(
                "Identity longer than {PSK_MAX_IDENTITY_LEN} characters"
            )));
        }
        let key = match super::tls::hex_decode(key_text) {
            Some(k) => {
                crate::slog!(
                    crate::log::INFO,
                    "PSKsecrets line {no}: {}-byte hexadecimal key configured for identity \"{identity}\"",
                    k.len()
                );
                k
            }
            None => {
                crate::slog!(
                    crate::log::INFO,
                    "PSKsecrets line {no}: {}-byte ASCII key configured for identity \"{identity}\"",
                    key_text.len()
                );
                key_text.as_bytes().to_vec()
            }
        };
        if key.len() > PSK_MAX_PSK_LEN {
            return Err(fail(format!("Key longer than {PSK_MAX_PSK_LEN} bytes")));
        }
        if key.len() < 16 {
            return Err(fail("Key shorter than 16 bytes".to_string()));
        }
        keys.push((identity.to_string(), key));
    }
    if keys.is_empty() {
        return Err(FAILED.into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn psk(content: &str, mode: u32) -> Result<Vec<(String, Vec<u8>)>, Failure> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("psk.txt");
        std::fs::write(&p, content).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        read_psk_file(p.to_str().expect("utf8"))
    }

    #[test]
    fn psk_file_formats_and_messages() {
        let keys = psk(
            "id1:0123456789abcdef0123456789abcdef\n\nid2:this is a long ascii key!!\n",
            0o600,
        )
        .expect("valid");
        assert_eq!(keys[0].1.len(), 16);
        assert_eq!(keys[1].1, b"this is a long ascii key!!".to_vec());
        let msg = |r: Result<_, Failure>| {
            let e = r.unwrap_err();
            (e.before.first().cloned().unwrap_or_default(), e.reason)
        };
        assert_eq!(
            msg(psk("nocolon\n", 0o600)).0,
            "PSKsecrets line 1: Not in identity:key format"
        );
        assert_eq!(
            msg(psk("a:short\n", 0o600)).0,
            "PSKsecrets line 1: Key shorter than 16 bytes"
        );
        assert_eq!(
            msg(psk("a:0123456789abcdef\r\n", 0o600)).0,
            "PSKsecrets line 1: Key shorter than 16 bytes"
        );
        assert_eq!(
            msg(psk(
                &format!("{}:0123456789abcdef0123456789abcdef\n", "i".repeat(256)),
                0o600
            ))
            .0,
            "PSKsecrets line 1: Identity longer than 256 characters"
        );
        assert_eq!(
            msg(psk(&format!("a:{}\n", "k".repeat(513)), 0o600)).0,
            "PSKsecrets line 1: Key longer than 512 bytes"
        );
        assert_eq!(
            msg(psk("", 0o600)),
            (String::new(), "Failed to read PSK secrets".to_string())
        );
        assert_eq!(
            msg(read_psk_file("/nonexistent-rstunnel")),
            (
                "/nonexistent-rstunnel: No such file or directory (2)".to_string(),
                "Failed to read PSK secrets".to_string()
            )
        );
        // World-readable: only a warning.
        assert!(psk("a:00112233445566778899aabbccddeeff\n", 0o644).is_ok());
    }
}
