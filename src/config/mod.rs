//! Reading stunnel.conf into a validated [`model::Config`].
//!
//! ```text
//!  bytes ──lexer──▶ lines (file:line, raw, Section | Pair)
//!        ──reader + option declarations──▶ Global / ServiceOptions (per section)
//!        ──resolve (at each section end)──▶ model::Config
//! ```
//!
//! The declared structs are the model's: `resolve` checks the rules that
//! span several options and computes endpoints, `exec` and SNI from them,
//! but copies no option (`model::Service::options`).
//!
//! Precedence of a service-level value: the section's own line > the global
//! section's line > the built-in default (stunnel-reference §2.2). Lists
//! append to the inherited list.
//!
//! Nothing here binds sockets, opens certificates or touches OpenSSL, so
//! `rstunnel -test` and unit tests can run the whole pipeline. Files read
//! here: the configuration, included files and `PSKsecrets` (stunnel reads
//! those while parsing too). Log lines stunnel writes while parsing
//! (`Reading configuration from …`, `UTF-8 byte order mark …`,
//! `Initializing service [x]`, warnings) go through `slog!`; the error that
//! ends parsing is returned, with the err lines stunnel prints around it.
//!
//! Beyond stunnel, for configurations written for stunnel on Windows:
//! relative file names missing from the current directory are looked for
//! beside the configuration file (`paths`), and `C:\…` names and the
//! Windows GUI options get their own answers (`windows`).

// A ConfigError carries the raw line and the lines around it; it is built
// once per failed parse, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod addr;
pub mod error;
pub mod lexer;
pub mod model;
pub mod options;
pub mod paths;
pub mod protocols;
pub mod reader;
pub mod resolve;
pub mod ticket_key_file;
pub mod types;
pub mod windows;

pub use error::{ConfigError, Place};
pub use model::Config;

use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    /// `-fd N`: an already-open descriptor.
    Fd(i32),
}

/// Read and validate a configuration.
///
/// `File`: the path is made absolute with `realpath()` first (a missing file
/// is `Invalid configuration file name "NAME"` followed by the `realpath:`
/// line, as stunnel); the absolute path is what errors show and what
/// [`Config::origin`] holds, so a reload re-reads the same file.
/// `Fd`: the descriptor is read to its end (through a duplicate, so 0/1/2
/// stay open); errors show the number as the path.
pub fn load(source: &Source) -> Result<Config, ConfigError> {
    let (origin, bytes) = match source {
        Source::File(path) => {
            let abs = std::fs::canonicalize(path).map_err(|e| {
                let mut err = ConfigError::new(
                    Place::File,
                    format!("Invalid configuration file name \"{}\"", path.display()),
                );
                err.after = vec![format!("realpath: {}", crate::os::errno::of_io(&e))];
                err
            })?;
            let origin = abs.to_string_lossy().into_owned();
            crate::slog!(
                crate::log::NOTICE,
                "Reading configuration from file {origin}"
            );
            let bytes = std::fs::read(&abs).map_err(|_| cannot_open())?;
            (origin, bytes)
        }
        Source::Fd(fd) => {
            crate::slog!(
                crate::log::NOTICE,
                "Reading configuration from descriptor {fd}"
            );
            (fd.to_string(), read_fd(*fd).map_err(|_| cannot_open())?)
        }
    };
    parse_bytes(&bytes, &origin)
}

/// Parse configuration text as if it came from `path` (included files and
/// `PSKsecrets` are still read from disk).
pub fn parse_text(text: &str, path: &str) -> Result<Config, ConfigError> {
    parse_bytes(text.as_bytes(), path)
}

/// Parse raw bytes (the file may not be UTF-8; invalid sequences become
/// U+FFFD in values).
pub fn parse_bytes(bytes: &[u8], path: &str) -> Result<Config, ConfigError> {
    let mut reader = reader::Reader::new();
    reader.read(path, bytes)?;
    reader.finish(path)
}

fn cannot_open() -> ConfigError {
    let mut err = ConfigError::new(Place::File, "Cannot open configuration file");
    err.show_syntax = true;
    err
}

/// Read a descriptor to EOF without closing it.
fn read_fd(fd: i32) -> std::io::Result<Vec<u8>> {
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: dup() of any integer is safe; it fails with EBADF if `fd` is
    // not open. The duplicate is owned by the File and closed on drop.
    let dup = unsafe { libc::dup(fd) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor we own.
    let mut file = unsafe { std::fs::File::from_raw_fd(dup) };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}
