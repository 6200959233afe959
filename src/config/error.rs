//! Configuration errors in stunnel's exact shapes (stunnel-reference §2.4).
//!
//! Option code returns a bare reason ("No '=' found"); the reader adds the
//! position, so every message names `file:line` the way stunnel does:
//! `PATH:LINE: "RAW LINE": REASON`, or `Service [NAME]: REASON` for checks made
//! when a section ends.
//!
//! stunnel often logs one or two err-level lines around the failing one
//! (`Unknown TCP service "x"` before `Cannot resolve accept target`, the error
//! inside an included file before `Failed to include a file`,
//! `realpath: No such file or directory (2)` after `Invalid configuration
//! file name`). They travel in [`ConfigError::before`] / [`ConfigError::after`]
//! so the caller can log the same sequence; [`ConfigError::lines`] gives it.
//! `Display` prints only the error's own line.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub place: Place,
    pub reason: String,
    /// Err-level lines stunnel logs just before this one, oldest first.
    pub before: Vec<String>,
    /// Err-level lines stunnel logs just after this one.
    pub after: Vec<String>,
    /// stunnel prints its command-line syntax block (at notice) after this
    /// error: `Cannot open configuration file` does, a missing file does not.
    pub show_syntax: bool,
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
        Self::new(
            Place::Line {
                path: path.to_string(),
                line,
                raw: raw.to_string(),
            },
            reason,
        )
    }

    pub fn in_service(name: &str, reason: impl Into<String>) -> Self {
        Self::new(Place::Service(name.to_string()), reason)
    }

    pub fn new(place: Place, reason: impl Into<String>) -> Self {
        ConfigError {
            place,
            reason: reason.into(),
            before: Vec::new(),
            after: Vec::new(),
            show_syntax: false,
        }
    }

    /// Attach the lines stunnel logs before this error.
    pub fn with_before(mut self, before: Vec<String>) -> Self {
        self.before = before;
        self
    }

    /// Every err-level line stunnel logs for this failure, in order
    /// (`before`, the error itself, `after`). `Configuration failed` is not
    /// included: the caller adds it.
    pub fn lines(&self) -> Vec<String> {
        let mut all = self.before.clone();
        all.push(self.to_string());
        all.extend(self.after.iter().cloned());
        all
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_stunnel_order() {
        let e = ConfigError::in_service("a", "Cannot resolve accept target")
            .with_before(vec!["Unknown TCP service \"bar\"".into()]);
        assert_eq!(
            e.lines(),
            vec![
                "Unknown TCP service \"bar\"".to_string(),
                "Service [a]: Cannot resolve accept target".to_string()
            ]
        );
        assert_eq!(e.to_string(), "Service [a]: Cannot resolve accept target");
    }
}
