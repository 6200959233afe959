//! The integration tests: one test binary (`cargo test --release --test
//! suite`), one module per behaviour, driving the real `rstunnel` binary
//! and real peers on 127.0.0.1. The helpers are one module, `common`,
//! declared once here and compiled once.
//!
//! Run one file's tests with its module name as the filter, e.g.
//! `cargo test --release --test suite -- proxy_in::`; libtest takes
//! several filters (`-- tls_legacy:: differential_tls::`).
//!
//! All modules share one process. Nothing here may change process-wide
//! state that another test would see: no `std::env::set_var` (a test that
//! needs an environment variable in-process re-runs itself in a child,
//! `tls_legacy`), no change of directory or umask, no fixed port outside a
//! private network namespace (`common::exec::private_netns`, which is per
//! thread), one in-process log capture (`common::in_process_log`); a test
//! that needs the process logger to itself re-runs itself in a child
//! (`transfer_log`).
//! `fault_suite` raises its own soft RLIMIT_NOFILE to the hard limit: it
//! only raises, and rstunnel raises its own the same way at start-up.
//! Tests that load the machine (floods, slowloris, descriptor limits,
//! Prometheus) assume at most one other test beside them:
//! `make test` runs with `--test-threads=2`.

/// Daemons and the log waiter, PKI, TLS clients, backends, real peers.
mod common;

// The design and the docs.
mod architecture;
mod readme_compat;

// Command line and configuration.
mod cli_errors;
mod cli_printers;
mod conf_examples;
mod config_differential;
mod config_invalid;
mod config_semantics;
mod config_valid;
mod seed_configs;
mod windows_configs;

// The daemon: processes, signals, reload, workers, logs.
mod daemon_process;
mod lifecycle;
mod log_parity;
mod reload_daemon;
mod signals_daemon;
mod workers;

// Data transfer and robustness.
mod chain_transfer;
mod fault_suite;
mod robustness;
mod transfer_log;
mod transfer_tcp;
mod transfer_tls;

// TLS.
mod differential_tls;
mod fips_provider;
mod interop_stunnel4;
#[cfg(feature = "legacy-tls")]
mod legacy_tls_build;
#[cfg(not(feature = "legacy-tls"))]
mod legacy_tls_system;
mod ocsp_stapling;
mod session_persistence;
mod ticket_keys;
mod tls_basic;
mod tls_client;
mod tls_client_sessions;
mod tls_legacy;
mod tls_log_lines;
mod tls_ocsp;
mod tls_options;
mod tls_pkcs12;
mod tls_psk_stunnel4;
mod tls_sni_session;
mod tls_verify;

// Who may reach what.
mod security_decisions;
mod security_redirect;
mod security_sessions;
mod security_sni;

// Protocols, exec, PROXY, transparent, ident.
mod exec_accept;
mod exec_connect;
mod exec_inetd;
mod ident_rfc1413;
mod protocol_cifs;
mod protocol_connect;
mod protocol_daemon;
mod protocol_destination;
mod protocol_ldap;
mod protocol_mail;
mod protocol_pgsql;
mod protocol_proxy;
mod protocol_smtp;
mod protocol_socks;
mod proxy_in;
mod proxy_v2_out;
mod transparent_proxy;

// Operations: metrics, fleets, fail2ban, packaging.
mod fail2ban_filter;
mod fleet_haproxy;
mod metrics_causes;
mod metrics_endpoint;
mod metrics_prometheus;
mod packaging_deb;
mod packaging_install;
mod packaging_logrotate;
mod packaging_man;
