//! Which OpenSSL this binary runs with and what it can still speak of the
//! old protocols: SSLv3, 3DES and RC4.
//!
//! The system build links Debian's OpenSSL 3, built without all three. The
//! legacy build (`--features legacy-tls`, `make legacy`, installed as
//! `rstunnel-legacy`) links a vendored OpenSSL built with `enable-ssl3
//! enable-ssl3-method enable-weak-ssl-ciphers` and the legacy provider
//! compiled in (`no-module`). RC4 lives in that provider: compiled in is not
//! loaded, and libssl only offers suites whose cipher it can fetch when a
//! context is created, so [`init`] loads it before any context exists.
//! What is reachable is asked of the library at run time, not assumed from
//! the build, so an `OPENSSL_DIR` build with the same switches reports the
//! same.

use std::sync::OnceLock;

use openssl::ssl::{SslContext, SslMethod, SslOptions, SslVersion};

/// Whether this binary is the legacy build.
pub const LEGACY_BUILD: bool = cfg!(feature = "legacy-tls");

/// What the legacy build's OpenSSL has (`enable-ssl3 enable-ssl3-method
/// enable-weak-ssl-ciphers` and the legacy provider), for hints in the
/// system build that name it.
pub const LEGACY_HAS: Reach = Reach {
    ssl3: true,
    triple_des: true,
    rc4: true,
};

/// What the linked OpenSSL can do of the weak protocol and ciphers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub ssl3: bool,
    pub triple_des: bool,
    pub rc4: bool,
}

impl Reach {
    /// The names of what is missing, in the hints' words.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (has, name) in [
            (self.ssl3, "SSLv3"),
            (self.triple_des, "3DES"),
            (self.rc4, "RC4"),
        ] {
            if !has {
                out.push(name);
            }
        }
        out
    }
}

/// Load what the legacy build needs before any TLS context is made: the
/// legacy provider (RC4), keeping the default provider as fallback. A
/// no-op in the system build, whose library has no RC4 suites to enable.
pub fn init() {
    if !LEGACY_BUILD {
        return;
    }
    openssl::init();
    match openssl::provider::Provider::try_load(None, "legacy", true) {
        // Loaded for the life of the process.
        Ok(p) => std::mem::forget(p),
        Err(e) => crate::slog!(
            crate::log::WARNING,
            "Legacy build: the OpenSSL legacy provider did not load, RC4 is unavailable: {e}"
        ),
    }
}

/// Asked once of the library: a scratch context that names each.
pub fn reach() -> Reach {
    static REACH: OnceLock<Reach> = OnceLock::new();
    *REACH.get_or_init(|| {
        let reach = Reach {
            ssl3: has_ssl3(),
            triple_des: has_cipher("DES-CBC3-SHA"),
            rc4: has_cipher("RC4-SHA"),
        };
        let _ = openssl::error::ErrorStack::get();
        reach
    })
}

fn has_cipher(name: &str) -> bool {
    let Ok(mut b) = SslContext::builder(SslMethod::tls()) else {
        return false;
    };
    b.set_cipher_list(&format!("{name}:@SECLEVEL=0")).is_ok()
}

/// A context limited to SSLv3 at level 0 that still has ciphers: OpenSSL
/// built without SSLv3 refuses the bound or leaves no cipher.
fn has_ssl3() -> bool {
    let Ok(mut b) = SslContext::builder(SslMethod::tls()) else {
        return false;
    };
    b.clear_options(SslOptions::NO_SSLV3);
    b.set_security_level(0);
    if b.set_min_proto_version(Some(SslVersion::SSL3)).is_err()
        || b.set_max_proto_version(Some(SslVersion::SSL3)).is_err()
        || b.set_cipher_list("ALL:@SECLEVEL=0").is_err()
    {
        return false;
    }
    let ctx = b.build();
    openssl::ssl::Ssl::new(&ctx)
        .map(|ssl| !super::ffi::supported_ciphers(&ssl).is_empty())
        .unwrap_or(false)
}

/// `-version` and start-up banner line of the legacy build (the system
/// build prints stunnel's lines only).
pub fn banner_line() -> Option<String> {
    if !LEGACY_BUILD {
        return None;
    }
    let r = reach();
    let has: Vec<&str> = [(r.ssl3, "SSLv3"), (r.triple_des, "3DES"), (r.rc4, "RC4")]
        .iter()
        .filter(|(h, _)| *h)
        .map(|(_, n)| *n)
        .collect();
    Some(format!(
        "Legacy build: {} built into this binary (not the system library), adds {} \
         for configurations that ask for them",
        openssl::version::version(),
        if has.is_empty() {
            "nothing (check the build)".to_string()
        } else {
            has.join(", ")
        }
    ))
}

/// `OpenSSL 3.0.19 27 Jan 2026 (the system library)` / `OpenSSL 3.5.5 …
/// (the legacy build)`: the library, for hints that say what it lacks.
pub fn library_name() -> String {
    let which = if LEGACY_BUILD {
        "the legacy build"
    } else {
        "the system library"
    };
    format!("{} ({which})", openssl::version::version())
}
