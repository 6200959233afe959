//! rstunnel: stunnel 5.68's configuration and behaviour, on tokio and the
//! system OpenSSL.
//!
//! The modules follow the data path:
//! `cli → config → service (listener) → connection → protocol → transfer`,
//! with `tls`, `log` and `os` beside it. A module only uses modules below it.

/// stunnel's command line.
pub mod cli;
/// stunnel.conf → validated, typed configuration.
pub mod config;
/// One accepted connection from accept to close.
pub mod connection;
/// stunnel's log lines, levels and sinks.
#[macro_use]
pub mod log;
/// Start-up order and the top-level run loop.
pub mod app;
/// Counters for the `metrics` endpoint (rstunnel extension).
pub mod metrics;
/// Process-level Unix work: limits, privileges, daemon, pid file, signals.
pub mod os;
/// `protocol = …` negotiations (SMTP, IMAP, CONNECT, SOCKS, PROXY, …).
pub mod protocol;
/// Listeners and the set of running services.
pub mod service;
/// OpenSSL contexts and handshakes.
pub mod tls;
/// The bidirectional copy loop.
pub mod transfer;
/// Version strings shared by `-version` and the start-up banner.
pub mod version;
