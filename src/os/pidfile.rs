//! `pid = FILE` (stunnel-reference §3.1): written after daemonizing and
//! dropping privileges, removed at exit.
//!
//! Like stunnel's `create_pid`: the old file is unlinked silently, the new
//! one created with `O_EXCL` (so a symlink planted in between is not
//! followed) and mode 0644 (before umask), content `<pid>\n`. Not
//! re-created on reload.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A pid file that exists while this value lives.
#[derive(Debug)]
pub struct PidFile {
    /// As configured; after a chroot it resolves inside the jail.
    path: PathBuf,
    /// The process that wrote it: a forked child dropping a copy must not
    /// remove its parent's file.
    owner: u32,
}

impl PidFile {
    /// Create the pid file. On failure logs stunnel's `Cannot create pid
    /// file FILE` / `Cannot write pid file FILE` and the errno line (err)
    /// and returns the error (start-up then fails with exit 1).
    pub fn create(path: &Path) -> io::Result<PidFile> {
        let _ = std::fs::remove_file(path);
        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
        {
            Ok(file) => file,
            Err(e) => {
                crate::slog!(crate::log::ERR, "Cannot create pid file {}", path.display());
                crate::slog!(
                    crate::log::ERR,
                    "{}",
                    super::errno::io_labelled("create", &e)
                );
                return Err(e);
            }
        };
        let pid = std::process::id();
        if let Err(e) = file.write_all(format!("{pid}\n").as_bytes()) {
            crate::slog!(crate::log::ERR, "Cannot write pid file {}", path.display());
            crate::slog!(
                crate::log::ERR,
                "{}",
                super::errno::io_labelled("write", &e)
            );
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        crate::slog!(crate::log::DEBUG, "Created pid file {}", path.display());
        Ok(PidFile {
            path: path.to_path_buf(),
            owner: pid,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    /// Removes the file if it still names this process: after a binary
    /// upgrade it names the new one, which must keep it.
    fn drop(&mut self) {
        if std::process::id() != self.owner {
            return;
        }
        let ours = std::fs::read_to_string(&self.path)
            .is_ok_and(|text| text.trim() == self.owner.to_string());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn writes_pid_replaces_stale_file_and_removes_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rstunnel.pid");
        std::fs::write(&path, "99999\nstale").unwrap();
        let pid = PidFile::create(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & !0o644, 0, "mode {mode:o}");
        drop(pid);
        assert!(!path.exists());
    }

    #[test]
    fn unwritable_location_is_an_error() {
        let err = PidFile::create(Path::new("/nonexistent/dir/rstunnel.pid")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
