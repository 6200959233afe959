//! stunnel's command line (stunnel-reference §1): `rstunnel [FILE] | -fd N |
//! -help | -version | -sockets | -options`, plus `-test` (check the
//! configuration and exit).

use crate::config::Source;

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run the daemon (or inetd mode) from `source`.
    Run(Source),
    /// `-test FILE`: load and check the configuration, print the TLS policy
    /// of each service, open no socket.
    Test(Source),
    Help,
    Version,
    Sockets,
    Options,
}

/// A command line stunnel refuses, with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

pub fn parse(args: &[String]) -> Result<Invocation, CliError> {
    let _ = args;
    todo!("config helper")
}

pub fn help_lines() -> Vec<String> {
    todo!("config helper")
}
pub fn options_lines() -> Vec<String> {
    todo!("config helper")
}
pub fn sockets_lines() -> Vec<String> {
    todo!("config helper")
}
pub fn version_defaults_lines() -> Vec<String> {
    todo!("config helper")
}
