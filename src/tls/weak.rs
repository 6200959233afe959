//! Weak suites are never on by accident (issue 10): what a service's
//! context lets through of SSLv3, 3DES, RC4 and export-grade suites, the one
//! warning per service at start and reload, and the guard that keeps them
//! out of a cipher list that did not ask for them.
//!
//! Only an OpenSSL that still has them (the legacy build) can reach any of
//! this; with the system library the set is always empty and nothing here
//! changes a context or logs a line.

use openssl::ssl::{Ssl, SslContextBuilder, SslContextRef, SslVersion};

use super::ffi;
use super::suites::{self, Weakness};

/// What a context allows of the weak protocol and suites.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WeakSet {
    pub ssl3: bool,
    /// Weak suites by kind, OpenSSL names in the context's order.
    pub suites: Vec<(Weakness, Vec<String>)>,
}

impl WeakSet {
    pub fn is_empty(&self) -> bool {
        !self.ssl3 && self.suites.is_empty()
    }

    /// `SSLv3, 3DES (DES-CBC3-SHA), RC4 (RC4-SHA, RC4-MD5)`
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.ssl3 {
            parts.push("SSLv3".to_string());
        }
        for (kind, names) in &self.suites {
            parts.push(format!("{} ({})", kind.label(), names.join(", ")));
        }
        parts.join(", ")
    }

    /// From a list of suite names (the `-test` report's accepted pairs).
    pub fn from_names<'a>(ssl3: bool, names: impl Iterator<Item = &'a str>) -> WeakSet {
        let mut suites: Vec<(Weakness, Vec<String>)> = Vec::new();
        for name in names {
            let Some(kind) = suites::name_weakness(name) else {
                continue;
            };
            match suites.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, list)) if list.iter().any(|n| n == name) => {}
                Some((_, list)) => list.push(name.to_string()),
                None => suites.push((kind, vec![name.to_string()])),
            }
        }
        suites.sort_by_key(|(k, _)| *k);
        WeakSet { ssl3, suites }
    }
}

/// What the context offers or accepts (cipher list after protocol range
/// and security level, as OpenSSL sends it in a ClientHello); SSLv3 when a
/// handshake limited to it would still have a cipher.
pub fn of_context(ctx: &SslContextRef) -> WeakSet {
    if !reachable() {
        return WeakSet::default();
    }
    let names: Vec<String> = Ssl::new(ctx)
        .map(|ssl| ffi::supported_ciphers(&ssl))
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let ssl3 = Ssl::new(ctx)
        .ok()
        .filter(|_| super::library::reach().ssl3)
        .is_some_and(|mut ssl| {
            ssl.set_max_proto_version(Some(SslVersion::SSL3)).is_ok()
                && !ffi::supported_ciphers(&ssl).is_empty()
        });
    let _ = openssl::error::ErrorStack::get();
    WeakSet::from_names(ssl3, names.iter().map(String::as_str))
}

/// The warning a service logs at start and on reload, if any.
pub fn warning(name: &str, client: bool, set: &WeakSet) -> Option<String> {
    if set.is_empty() {
        return None;
    }
    let verb = if client { "offers" } else { "accepts" };
    Some(format!(
        "Service [{name}] {verb} broken TLS: {}; keep it for peers that can do nothing better",
        set.describe()
    ))
}

fn reachable() -> bool {
    let r = super::library::reach();
    r.ssl3 || r.triple_des || r.rc4
}

/// After `ciphers` is set: unless the string names a weak suite or class
/// (`3DES`, `DES-CBC3-SHA`, `RC4`, `RC4-MD5`, `MEDIUM`, `LOW`, `EXP…`) or the
/// security level is 0 (`ALL:@SECLEVEL=0`), take 3DES and RC4 out again. The
/// system library has neither, so this only ever changes the legacy build,
/// where `ciphers = ALL` at level 2 would otherwise let 3DES in.
pub fn guard_cipher_list(
    b: &mut SslContextBuilder,
    ciphers: &str,
) -> Result<(), openssl::error::ErrorStack> {
    let r = super::library::reach();
    if !(r.triple_des || r.rc4) || ffi::security_level(b) == 0 || names_weak(ciphers) {
        return Ok(());
    }
    b.set_cipher_list(&format!("{ciphers}:!3DES:!RC4"))
}

/// After `ciphers` matched nothing: the weak suites it names that this
/// OpenSSL was built without, and where they are (`DES-CBC3-SHA, RC4-SHA:
/// 3DES and RC4 are compiled out of …; the legacy build rstunnel-legacy
/// has them`). stunnel only says `no cipher match`.
pub fn compiled_out(ciphers: &str) -> Option<String> {
    let r = super::library::reach();
    let mut names: Vec<&str> = Vec::new();
    let mut kinds: Vec<Weakness> = Vec::new();
    for e in positive_elements(ciphers) {
        let kind = match suites::name_weakness(e) {
            Some(k @ Weakness::TripleDes) if !r.triple_des => k,
            Some(k @ Weakness::Rc4) if !r.rc4 => k,
            _ => continue,
        };
        names.push(e);
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if names.is_empty() {
        return None;
    }
    let labels: Vec<&str> = kinds.iter().map(|k| k.label()).collect();
    let (verb, pronoun) = if labels.len() == 1 {
        ("is", "it")
    } else {
        ("are", "them")
    };
    let mut text = format!(
        "{}: {} {verb} compiled out of {}",
        names.join(", "),
        labels.join(" and "),
        super::library::library_name()
    );
    if !super::library::LEGACY_BUILD {
        text.push_str(&format!(
            "; the legacy build rstunnel-legacy has {pronoun} (README: Legacy TLS)"
        ));
    }
    Some(text)
}

/// The elements of a cipher string that add suites (not `!X`, `-X`, `@…`),
/// split at `+`.
fn positive_elements(ciphers: &str) -> impl Iterator<Item = &str> {
    ciphers
        .split([':', ',', ' '])
        .filter(|e| !e.is_empty() && !e.starts_with(['!', '-', '@']))
        .flat_map(|e| e.trim_start_matches('+').split('+'))
}

/// Whether a positive element of an OpenSSL cipher string asks for weak
/// suites by name or class.
fn names_weak(ciphers: &str) -> bool {
    positive_elements(ciphers)
        .any(|e| matches!(e, "MEDIUM" | "LOW") || suites::name_weakness(e).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_weak_sees_positive_elements_only() {
        assert!(names_weak("DES-CBC3-SHA:RC4-SHA:@SECLEVEL=0"));
        assert!(names_weak("HIGH:3DES"));
        assert!(names_weak("kRSA+RC4"));
        assert!(names_weak("MEDIUM"));
        assert!(!names_weak("HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK"));
        assert!(!names_weak("ALL:!3DES:!RC4"));
        assert!(!names_weak("ALL:-RC4"));
        assert!(!names_weak("ALL"));
    }

    #[test]
    fn weak_set_describes_by_kind() {
        let set = WeakSet::from_names(
            true,
            [
                "RC4-SHA",
                "AES128-SHA",
                "DES-CBC3-SHA",
                "RC4-MD5",
                "RC4-SHA",
            ]
            .into_iter(),
        );
        assert_eq!(
            set.describe(),
            "SSLv3, 3DES (DES-CBC3-SHA), RC4 (RC4-SHA, RC4-MD5)"
        );
        assert!(WeakSet::from_names(false, ["AES128-SHA"].into_iter()).is_empty());
    }
}
