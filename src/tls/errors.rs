//! OpenSSL failures as stunnel prints them (stunnel-reference §5.9.4).

use std::fmt;

/// An OpenSSL failure with the context stunnel names (`SSL_accept`, …) and the
/// error-queue lines it logs before the reason.
#[derive(Debug)]
pub struct TlsError {
    /// What failed, e.g. `SSL_accept` or `Failed to initialize TLS context`.
    pub context: String,
    /// `file:line: error:…` lines, oldest first.
    pub queue: Vec<String>,
}

impl TlsError {
    pub fn new(context: impl Into<String>, stack: &openssl::error::ErrorStack) -> Self {
        let queue = stack
            .errors()
            .iter()
            .map(|e| format!("{}:{}: {}", e.file(), e.line(), e))
            .collect();
        TlsError {
            context: context.into(),
            queue,
        }
    }

    pub fn plain(context: impl Into<String>, message: impl Into<String>) -> Self {
        TlsError {
            context: context.into(),
            queue: vec![message.into()],
        }
    }

    /// Log as stunnel does: `error queue: …` lines, then `CONTEXT: last`.
    pub fn log(&self) {
        let n = self.queue.len();
        for (i, entry) in self.queue.iter().enumerate() {
            if i + 1 < n {
                crate::slog!(crate::log::ERR, "error queue: {entry}");
            } else {
                crate::slog!(crate::log::ERR, "{}: {entry}", self.context);
            }
        }
        if n == 0 {
            crate::slog!(
                crate::log::ERR,
                "{}: Peer suddenly disconnected",
                self.context
            );
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.queue.last() {
            Some(last) => write!(f, "{}: {last}", self.context),
            None => write!(f, "{}: Peer suddenly disconnected", self.context),
        }
    }
}

impl std::error::Error for TlsError {}
