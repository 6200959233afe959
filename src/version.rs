//! The banner lines stunnel prints first (stunnel-reference §1.3), which
//! scripts parse: `stunnel 5.68-compatible rstunnel X.Y.Z on TRIPLET platform`.

/// The stunnel version whose behaviour we reproduce.
pub const STUNNEL_VERSION: &str = "5.68";

/// `stunnel 5.68-compatible rstunnel 0.1.0 on x86_64-pc-linux-gnu platform`
pub fn banner() -> String {
    format!(
        "stunnel {STUNNEL_VERSION}-compatible rstunnel {} on {} platform",
        env!("CARGO_PKG_VERSION"),
        triplet()
    )
}

/// The GNU-style triplet stunnel prints (`x86_64-pc-linux-gnu`).
fn triplet() -> String {
    let arch = std::env::consts::ARCH;
    match std::env::consts::OS {
        "linux" => format!("{arch}-pc-linux-gnu"),
        os => format!("{arch}-unknown-{os}"),
    }
}

/// `Compiled/running with …` when build- and run-time OpenSSL agree, else the
/// two lines stunnel prints.
pub fn openssl_lines() -> Vec<String> {
    let running = openssl::version::version();
    let compiled = compiled_openssl_text();
    if compiled == running {
        vec![format!("Compiled/running with {running}")]
    } else {
        vec![
            format!("Compiled with {compiled}"),
            format!("Running  with {running}"),
        ]
    }
}

/// The OpenSSL version text of the headers we were built against, from the
/// number openssl-sys recorded (`OPENSSL_VERSION_NUMBER`, 0xMNN00PP0).
fn compiled_openssl_text() -> String {
    let n = u64::from_str_radix(env!("RSTUNNEL_OPENSSL_VERSION_NUMBER"), 16).unwrap_or(0);
    let (major, minor, patch) = ((n >> 28) & 0xf, (n >> 20) & 0xff, (n >> 4) & 0xff);
    let running = openssl::version::version();
    let prefix = format!("OpenSSL {major}.{minor}.{patch} ");
    if running.starts_with(&prefix) {
        running.to_string()
    } else {
        format!("OpenSSL {major}.{minor}.{patch}")
    }
}

/// `Threading:… Sockets:… TLS:…` feature line.
pub fn features() -> &'static str {
    "Threading:TOKIO Sockets:EPOLL,IPv6 TLS:OCSP,PSK,SNI"
}
