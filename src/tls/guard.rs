//! OpenSSL calls our callbacks from C. A panic must not unwind into it:
//! Rust then aborts the process, and every connection with it. Each
//! callback body runs behind [`contained`], so a panic fails only the
//! handshake at hand, with one log line.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// `f()`, or `on_panic` (after an error line naming `what`) if it panics.
pub fn contained<R>(what: &str, on_panic: impl FnOnce() -> R, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            crate::slog!(
                crate::log::ERR,
                "INTERNAL ERROR: the {what} callback panicked"
            );
            on_panic()
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_the_fallback() {
        let r = super::contained("test", || -1, || -> i32 { panic!("boom") });
        assert_eq!(r, -1);
        assert_eq!(super::contained("test", || -1, || 7), 7);
    }
}
