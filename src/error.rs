//! Errors that end the process, and their exit codes (stunnel-reference §1.2).
