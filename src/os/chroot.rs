//! `chroot = DIR` (stunnel-reference §3.1, §5.1 step 4).
//!
//! Runs after the listening sockets are bound and before privileges are
//! dropped. It does not rewrite paths: files opened later (output file, pid
//! file, CApath lookups, the config file on reload) resolve inside the jail,
//! as with stunnel. Not re-applied on reload.

use std::path::Path;

/// `chroot(dir)` then `chdir("/")`, logging `Switched to chroot directory:
/// DIR` (notice). The error is stunnel's `chroot: strerror (errno)` text
/// (or `chdir: …`) for the caller to log at err and stop.
pub fn enter(dir: &Path) -> Result<(), String> {
    nix::unistd::chroot(dir).map_err(|e| super::errno::labelled("chroot", e))?;
    nix::unistd::chdir("/").map_err(|e| super::errno::labelled("chdir", e))?;
    crate::slog!(
        crate::log::NOTICE,
        "Switched to chroot directory: {}",
        dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_directory_is_an_error_and_changes_nothing() {
        let before = std::env::current_dir().unwrap();
        let err = enter(Path::new("/nonexistent/rstunnel-chroot")).unwrap_err();
        assert_eq!(err, "chroot: No such file or directory (2)");
        assert_eq!(std::env::current_dir().unwrap(), before);
    }
}
