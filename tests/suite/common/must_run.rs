//! A test that cannot run here — a peer not installed, no root — fails
//! instead of passing green: `make test` and CI prove everything or fail.
//! A developer who lacks some peer sets `RSTUNNEL_TEST_SKIP=1`; such tests
//! then pass with a `SKIP` line, and `make test` says the variable was set.
#![allow(dead_code)]

/// The opt-out variable.
pub const OPT_OUT: &str = "RSTUNNEL_TEST_SKIP";

/// `test` cannot run because of `why`: fail, or with [`OPT_OUT`] set print
/// `SKIP` and return (the caller then returns).
pub fn cannot_run(test: &str, why: &str) {
    if std::env::var_os(OPT_OUT).is_some() {
        eprintln!("SKIP {test}: {why}");
        return;
    }
    panic!(
        "{test} cannot run: {why}. Install the test peers (scripts/install-test-deps, as root) \
         or set {OPT_OUT}=1 to skip such tests."
    );
}
