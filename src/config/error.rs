//! Configuration errors in stunnel's exact shapes (stunnel-reference §2.4).
//!
//! Option code returns a bare reason ("No '=' found"); the reader adds the
//! position, so every message names `file:line` the way stunnel does:
//! `PATH:LINE: "RAW LINE": REASON`, or `Service [NAME]: REASON` for checks made
//! when a section ends.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub place: Place,
    pub reason: String,
}

/// Where an error was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A line of a file: path as stunnel prints it, 1-based line, raw text.
    Line {
        path: String,
        line: usize,
        raw: String,
    },
    /// End-of-section validation of `[name]`.
    Service(String),
    /// The implicit service of a file without sections.
    Inetd,
    /// Global initialisation.
    Global,
    /// Before any line was read (file cannot be opened, bad descriptor…).
    File,
}

impl ConfigError {
    pub fn at_line(path: &str, line: usize, raw: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            place: Place::Line {
                path: path.to_string(),
                line,
                raw: raw.to_string(),
            },
            reason: reason.into(),
        }
    }

    pub fn in_service(name: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            place: Place::Service(name.to_string()),
            reason: reason.into(),
        }
    }

    pub fn new(place: Place, reason: impl Into<String>) -> Self {
        ConfigError {
            place,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.place {
            Place::Line { path, line, raw } => {
                write!(f, "{path}:{line}: \"{raw}\": {}", self.reason)
            }
            Place::Service(name) => write!(f, "Service [{name}]: {}", self.reason),
            Place::Inetd => write!(f, "Inetd mode: {}", self.reason),
            Place::Global => write!(f, "Global options: {}", self.reason),
            Place::File => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for ConfigError {}
