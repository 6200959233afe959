//! The system build (Debian's OpenSSL 3, no SSLv3, 3DES or RC4) against
//! the old clients the legacy build serves (issue 10): each is refused, and
//! the refusal says what the client offered, suites this OpenSSL does not
//! know included (by IANA name and code, not `(none)`), and what is missing
//! instead of a setting that cannot work, naming the legacy build. The
//! clients are tlslite-ng (`tests/peers/tlslite_peer.py`).

use crate::common;

use common::{header, net, tlslite, Daemon, Impl};

#[test]
fn old_clients_are_refused_with_hints_that_name_the_legacy_build() {
    let test = "old_clients_are_refused_with_hints_that_name_the_legacy_build";
    if !tlslite::available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = common::tls_pki::make_pki(dir.path());
    let echo = net::echo_server();
    // The weakest this library allows: any version, level 0, ALL.
    let conf = format!(
        "{}[open]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{echo}\ncert = {}\n\
         sslVersionMin = SSLv3\noptions = -NO_SSLv3\nciphers = ALL:@SECLEVEL=0\n",
        header(),
        common::p(&pki.combined)
    );
    let d = Daemon::start(Impl::Rstunnel, &conf);
    let port = d.port("open");
    let lib = openssl::version::version();

    let cases = [
        (
            "xp",
            "Client offered protocols: TLSv1",
            "Client offered ciphers: TLS_RSA_WITH_3DES_EDE_CBC_SHA (0x000A, not in this OpenSSL)"
                .to_string(),
            format!(
                "This OpenSSL cannot accept this client: 3DES is compiled out of {lib} \
                 (the system library); the legacy build rstunnel-legacy has it (README: Legacy TLS)"
            ),
        ),
        (
            "rc4",
            "Client offered protocols: TLSv1.2",
            "Client offered ciphers: TLS_RSA_WITH_RC4_128_SHA (0x0005, not in this OpenSSL), \
             TLS_RSA_WITH_RC4_128_MD5 (0x0004, not in this OpenSSL)"
                .to_string(),
            format!(
                "This OpenSSL cannot accept this client: RC4 is compiled out of {lib} \
                 (the system library); the legacy build rstunnel-legacy has it (README: Legacy TLS)"
            ),
        ),
        (
            "ssl3",
            "Client offered protocols: SSLv3",
            "Client offered ciphers: AES128-SHA, \
             TLS_RSA_WITH_3DES_EDE_CBC_SHA (0x000A, not in this OpenSSL)"
                .to_string(),
            format!(
                "This OpenSSL cannot accept this client: SSLv3 is compiled out of {lib} \
                 (the system library); the legacy build rstunnel-legacy has it (README: Legacy TLS)"
            ),
        ),
    ];
    for (n, (profile, protocols, ciphers, verdict)) in cases.iter().enumerate() {
        let outcome = tlslite::client(port, profile);
        assert!(outcome.starts_with("FAIL"), "{profile}: {outcome}");
        let nth = n + 1;
        d.log
            .wait_for_nth("This OpenSSL cannot accept this client", nth);
        let log = d.log.text();
        let texts: Vec<&str> = log
            .lines()
            .filter_map(|l| l.split_once("]: ").map(|(_, t)| t))
            .collect();
        for want in [*protocols, ciphers.as_str(), verdict.as_str()] {
            assert!(
                texts.contains(&want),
                "{profile}: no line {want:?} in\n{log}"
            );
        }
        assert!(!log.contains("To accept this client, set"), "{log}");
    }
}

/// A cipher list of nothing but suites this OpenSSL lacks: stunnel's `no
/// cipher match`, then which suites and where they are.
#[test]
fn weak_only_cipher_list_names_what_is_compiled_out() {
    let conf = "[appliance]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n\
                ciphers = DES-CBC3-SHA:RC4-SHA:@SECLEVEL=0\n";
    let (code, err) = common::check_config(conf);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("SSL routines::no cipher match"), "{err}");
    let want = format!(
        "DES-CBC3-SHA, RC4-SHA: 3DES and RC4 are compiled out of {} (the system library); \
         the legacy build rstunnel-legacy has them (README: Legacy TLS)",
        openssl::version::version()
    );
    assert!(err.lines().any(|l| l.ends_with(&want)), "{err}");
}
