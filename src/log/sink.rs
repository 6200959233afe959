//! Where active log lines go: stderr (foreground), the `output` file, syslog.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::format::line;

/// The configured destinations; each is independent (stunnel-reference §5.9.3).
#[derive(Default)]
pub struct Sinks {
    pub stderr: bool,
    /// `output` file and whether it is opened with O_TRUNC (`log = overwrite`).
    pub file: Option<(PathBuf, File, bool)>,
    /// syslog, opened by [`Sinks::open_syslog`].
    pub syslog: bool,
}

impl Sinks {
    /// `openlog(ident, LOG_CONS | LOG_NDELAY, facility)` as stunnel does. The
    /// ident string is leaked on purpose: openlog keeps the pointer, and a
    /// reload opening it again leaks a few bytes, never a dangling pointer.
    pub fn open_syslog(&mut self, ident: &str, facility: i32) {
        let Ok(ident) = std::ffi::CString::new(ident) else {
            return;
        };
        let ident: &'static std::ffi::CStr = Box::leak(ident.into_boxed_c_str());
        // SAFETY: `ident` lives for the rest of the process.
        unsafe { libc::openlog(ident.as_ptr(), libc::LOG_CONS | libc::LOG_NDELAY, facility) };
        self.syslog = true;
    }

    /// Open `path` the way stunnel opens `output`: mode 0640, append or truncate.
    pub fn open_file(path: &Path, overwrite: bool) -> std::io::Result<File> {
        let mut opts = OpenOptions::new();
        opts.create(true).mode(0o640);
        if overwrite {
            opts.write(true).truncate(true);
        } else {
            opts.append(true);
        }
        opts.open(path)
    }

    /// Close and reopen the `output` file (SIGUSR1).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        if let Some((path, file, overwrite)) = &mut self.file {
            *file = Self::open_file(path, *overwrite)?;
        }
        Ok(())
    }

    pub fn write(&mut self, level: u8, id: &str, text: &str) {
        // One `write` per line, newline included: `workers` processes
        // append to the same file and stderr, and an O_APPEND write is not
        // interleaved with another process's, while `writeln!`'s two
        // writes can be.
        let mut full = line(level, id, text);
        full.push('\n');
        if self.stderr {
            let _ = std::io::stderr().lock().write_all(full.as_bytes());
        }
        if let Some((_, file, _)) = &mut self.file {
            let _ = file.write_all(full.as_bytes());
        }
        if self.syslog {
            let msg = format!("LOG{level}[{id}]: {text}");
            if let Ok(c) = std::ffi::CString::new(msg) {
                // SAFETY: "%s" with a valid NUL-terminated string.
                unsafe { libc::syslog(libc::c_int::from(level), c"%s".as_ptr(), c.as_ptr()) };
            }
        }
    }
}
