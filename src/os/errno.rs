//! stunnel's error texts, one home for every log line that names an OS
//! error: `strerror (errno)`, and `WHAT: strerror (errno)` (its
//! `sockerror`/`ioerror`). The words are the C library's own (`strerror`, as
//! stunnel prints them), not Rust's `(os error N)` form.

use std::io;

/// `Connection refused (111)`.
pub fn text(code: i32) -> String {
    let e = io::Error::from_raw_os_error(code);
    let text = e.to_string();
    let text = text
        .strip_suffix(&format!(" (os error {code})"))
        .unwrap_or(&text);
    format!("{text} ({code})")
}

/// [`text`] of an `io::Error` that carries an errno, else its own words.
pub fn of_io(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => text(code),
        None => e.to_string(),
    }
}

/// `WHAT: strerror (errno)`.
pub fn labelled(what: &str, errno: nix::errno::Errno) -> String {
    format!("{what}: {}", text(errno as i32))
}

/// [`labelled`] for an `io::Error` (its own words without an errno).
pub fn io_labelled(what: &str, e: &io::Error) -> String {
    format!("{what}: {}", of_io(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_library_words_and_number() {
        assert_eq!(text(libc::ECONNREFUSED), "Connection refused (111)");
        assert_eq!(
            labelled("connect", nix::errno::Errno::ENOENT),
            "connect: No such file or directory (2)"
        );
        assert_eq!(
            io_labelled("read", &io::Error::other("custom")),
            "read: custom"
        );
    }
}
