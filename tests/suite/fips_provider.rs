//! `fips = yes` (stunnel-reference §3.1): stunnel 5.68 on OpenSSL 3 loads
//! the `fips` provider and makes it the default. Where no FIPS provider is
//! installed (Debian ships none), both stop with the provider's error queue
//! under `FIPS PROVIDER:` and `Global options: Failed to initialize TLS`.
//! Run side by side with stunnel4 5.68 on the same file.

use crate::common;

use common::{header, Daemon, Impl};

/// The err-level lines from the first OpenSSL error line on, without the
/// stderr marker.
fn error_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.strip_prefix("[!] "))
        .skip_while(|l| !l.starts_with("error queue: ") && !l.starts_with("FIPS PROVIDER: "))
        .map(str::to_string)
        .collect()
}

/// Whether OpenSSL can load a FIPS provider here (`openssl list` with it).
fn fips_provider_installed() -> bool {
    let (ok, out, _) = common::run_cmd(std::process::Command::new("openssl").args([
        "list",
        "-providers",
        "-provider",
        "fips",
    ]));
    ok && out.contains("fips")
}

#[test]
fn fips_yes_loads_the_provider_or_stops_with_stunnels_lines() {
    let conf = format!(
        "fips = yes\n{}[a]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:1\n",
        header()
    );
    if fips_provider_installed() {
        for imp in [Impl::Stunnel4, Impl::Rstunnel] {
            let d = Daemon::start(imp, &conf);
            d.log.wait_for("Configuration successful");
        }
        return;
    }
    let mut lines = Vec::new();
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let mut d = Daemon::start(imp, &conf);
        assert_eq!(d.wait_exit(), 1, "{imp:?}");
        d.log.wait_for("Configuration failed");
        let errors = error_lines(&d.log.text());
        let fips = errors
            .iter()
            .position(|l| l.starts_with("FIPS PROVIDER: "))
            .unwrap_or_else(|| panic!("{imp:?}: no FIPS PROVIDER line:\n{}", d.log.text()));
        assert!(
            errors[fips].ends_with("could not load the shared library"),
            "{imp:?}: {}",
            errors[fips]
        );
        assert_eq!(
            errors[fips + 1..],
            [
                "Global options: Failed to initialize TLS",
                "Configuration failed"
            ],
            "{imp:?}"
        );
        lines.push(errors[..=fips].to_vec());
    }
    // stunnel4's queue holds two load attempts, rstunnel's one: rstunnel's
    // lines are stunnel4's last ones, word for word.
    let (theirs, ours) = (&lines[0], &lines[1]);
    assert!(ours.len() >= 2, "{ours:?}");
    assert_eq!(
        theirs[theirs.len() - ours.len()..],
        ours[..],
        "stunnel4 {theirs:#?}\nrstunnel {ours:#?}"
    );
}
