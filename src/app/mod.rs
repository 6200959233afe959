//! Start-up order and the top-level run loop (stunnel-reference §5.1):
//!
//! ```text
//! command line → load config → provider/setEnv → TLS contexts → bind
//!   → open the log → build the tokio runtime → serve until a signal
//! ```
//!
//! Everything before the runtime is plain blocking code on one thread, so
//! binding privileged ports and forking happen before any worker thread
//! exists (pingora's rule; style.md habit 13).

mod cert_watch;
mod control;
mod daemon;
mod inetd;
mod logs;
mod metrics_endpoint;
mod process;
mod serve;
mod upgrade;
mod workers;

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{self, Invocation};
use crate::config::{self, model::Config, Source};
use crate::connection::{self, ServiceCtx};
use crate::log::{self as logging, Logged, ERR, NOTICE};
use crate::tls;

/// The process: parse the command line, do what it asks, map the outcome
/// to stunnel's exit status (0 or 1).
pub fn main(args: &[String]) -> ExitCode {
    logging::install();
    upgrade::remember(args);
    tls::library::init();
    let invocation = match cli::parse(args) {
        Ok(inv) => inv,
        Err(e) => {
            for (level, line) in &e.lines {
                crate::slog!(*level, "{line}");
            }
            logging::dump_buffered();
            return ExitCode::from(1);
        }
    };
    let outcome = match invocation {
        Invocation::Help => info(cli::help_lines()),
        Invocation::Version => info(cli::version_defaults_lines()),
        Invocation::Sockets => info(cli::sockets_lines()),
        Invocation::Options => info(cli::options_lines()),
        Invocation::Test(source) => check(&source),
        Invocation::Run(source) => run(&source),
        Invocation::Windows(verb, source) => control::run(verb, &source),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Logged) => {
            // Error mode: everything buffered so far, all levels, to stderr.
            logging::dump_buffered();
            ExitCode::from(1)
        }
    }
}

/// Information mode: banner then `lines`, plain, on stderr.
fn info(lines: Vec<String>) -> Result<(), Logged> {
    banner();
    logging::print_buffered_plain();
    print_plain(&lines);
    Ok(())
}

fn print_plain(lines: &[String]) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

fn banner() {
    crate::slog!(NOTICE, "{}", crate::version::banner());
    for line in crate::version::openssl_lines() {
        crate::slog!(NOTICE, "{line}");
    }
    if let Some(line) = tls::library::banner_line() {
        crate::slog!(NOTICE, "{line}");
    }
    crate::slog!(NOTICE, "{}", crate::version::features());
}

/// `-test`: load the configuration and build every TLS policy without
/// reading certificate files or opening sockets; print what each service
/// will accept.
fn check(source: &Source) -> Result<(), Logged> {
    banner();
    let config = load(source)?;
    let services: Vec<_> = config
        .services
        .iter()
        .chain(config.inetd.as_deref())
        .cloned()
        .collect();
    let contexts = tls::build_all(&services, tls::Loading::PolicyOnly)
        .map_err(|(i, e)| tls_failed(&services[i].options.name, e))?;
    crate::slog!(NOTICE, "Configuration successful");
    logging::print_buffered_plain();
    let mut report = Vec::new();
    for (service, ctx) in services.iter().zip(contexts) {
        report.push(format!("Service [{}]:", service.options.name));
        report.extend(ctx.describe().into_iter().map(|l| format!("  {l}")));
    }
    print_plain(&report);
    Ok(())
}

/// Read and validate the configuration, then apply its process-wide
/// side effects that stunnel executes while parsing (`setEnv`, `provider`).
fn load(source: &Source) -> Result<Config, Logged> {
    let config = parse(source)?;
    apply_process_options(&config)?;
    Ok(config)
}

/// Read and validate the configuration (errors logged at err, as stunnel),
/// without side effects on the process.
fn parse(source: &Source) -> Result<Config, Logged> {
    let config = config::load(source).map_err(|e| {
        for line in e.lines() {
            crate::slog!(ERR, "{line}");
        }
        crate::slog!(ERR, "Configuration failed");
        if e.show_syntax {
            for line in cli::syntax_lines() {
                crate::slog!(NOTICE, "{line}");
            }
        }
        Logged
    })?;
    // The daemon's life-cycle extensions live beside its accept loops and
    // signal loop; inetd mode has neither, and an option is never accepted
    // and ignored.
    if config.is_inetd() {
        let global = &config.global;
        let daemon_only = [
            ("metrics", global.metrics.is_some()),
            ("TIMEOUTdrain", global.drain.is_some()),
            ("certReload", global.cert_reload.is_some()),
            ("workers", global.workers > 1),
        ];
        if let Some((name, _)) = daemon_only.iter().find(|(_, set)| *set) {
            crate::slog!(
                ERR,
                "Global options: \"{name}\" is not supported in inetd mode"
            );
            crate::slog!(ERR, "Configuration failed");
            return Err(Logged);
        }
    }
    // The protocol layer's configuration-time checks (stunnel's protocol
    // "init" phase), e.g. `protocolHost not specified` for a CONNECT client.
    let sections = config.services.iter().chain(config.inetd.as_deref());
    for service in sections {
        if let Some(settings) = &service.protocol {
            if let Err(reason) = crate::protocol::check(settings, service.options.client) {
                crate::slog!(ERR, "Service [{}]: {reason}", service.options.name);
                crate::slog!(ERR, "Configuration failed");
                return Err(Logged);
            }
        }
    }
    Ok(config)
}

/// `setEnv` and `provider`, which stunnel executes while parsing.
fn apply_process_options(config: &Config) -> Result<(), Logged> {
    // `setEnv` only at start-up, while there is one thread: changing the
    // environment under running threads (a reload) is not sound.
    for (name, value) in config
        .global
        .set_env
        .iter()
        .filter(|_| logging::is_buffering())
    {
        match value {
            Some(v) => std::env::set_var(name, v),
            None => std::env::remove_var(name),
        }
    }
    for name in &config.global.providers {
        match openssl::provider::Provider::try_load(None, name, true) {
            // Providers stay loaded for the life of the process, as in stunnel.
            Ok(p) => std::mem::forget(p),
            Err(e) => {
                tls::TlsError::new("OSSL_PROVIDER_try_load", &e).log();
                crate::slog!(ERR, "Global options: Failed to load provider");
                crate::slog!(ERR, "Configuration failed");
                return Err(Logged);
            }
        }
    }
    if config.global.fips {
        enable_fips()?;
    }
    Ok(())
}

/// `fips = yes` on OpenSSL 3, as stunnel 5.68 does it: load the `fips`
/// provider (its error queue under `FIPS PROVIDER`, e.g. `could not load
/// the shared library` where none is installed), then make FIPS the default
/// property so every algorithm fetched later comes from it; ciphers,
/// ciphersuites and curves the provider lacks then fail in the services'
/// contexts as in stunnel. Either failure stops the start with `Global
/// options: Failed to initialize TLS`.
fn enable_fips() -> Result<(), Logged> {
    let failed = || {
        crate::slog!(ERR, "Global options: Failed to initialize TLS");
        crate::slog!(ERR, "Configuration failed");
        Logged
    };
    match openssl::provider::Provider::load(None, "fips") {
        // Loaded for the life of the process, as in stunnel.
        Ok(p) => std::mem::forget(p),
        Err(e) => {
            // stunnel prints this queue newest first, naming the oldest
            // entry (`could not load the shared library`) after the
            // context; TlsError::log prints oldest first, so reverse it.
            let mut err = tls::TlsError::new("FIPS PROVIDER", &e);
            err.queue.reverse();
            err.log();
            return Err(failed());
        }
    }
    // SAFETY: the default library context; no pointers are kept.
    if unsafe { openssl_sys::EVP_default_properties_enable_fips(std::ptr::null_mut(), 1) } != 1 {
        tls::TlsError::from_queue("EVP_default_properties_enable_fips").log();
        crate::slog!(ERR, "Enabling FIPS provider failed");
        return Err(failed());
    }
    crate::slog!(NOTICE, "FIPS provider enabled");
    crate::slog!(NOTICE, "FIPS mode enabled");
    Ok(())
}

fn tls_failed(name: &str, e: tls::TlsError) -> Logged {
    e.log();
    crate::slog!(ERR, "Service [{name}]: Failed to initialize TLS context");
    crate::slog!(ERR, "Configuration failed");
    Logged
}

/// Build the TLS context of every service (reading certificates now, before
/// any privilege is dropped) and the per-service connection contexts.
pub fn contexts(config: &Config) -> Result<Vec<Arc<ServiceCtx>>, Logged> {
    let tls = tls::build_all(&config.services, tls::Loading::Files)
        .map_err(|(i, e)| tls_failed(&config.services[i].options.name, e))?;
    Ok(connection::contexts(&config.services, tls))
}

/// Daemon or inetd mode, until the service ends or a terminating signal.
fn run(source: &Source) -> Result<(), Logged> {
    banner();
    // Before anything else opens a descriptor or forks: the sockets systemd
    // passed belong to this pid.
    crate::os::activation::adopt();
    upgrade::adopt_ready_pipe();
    let config = load(source)?;
    let clients = descriptor_limit();
    if config.is_inetd() {
        inetd::run(&config)
    } else {
        daemon::run(source, config, clients)
    }
}

/// Raise the soft RLIMIT_NOFILE to the hard limit (beyond stunnel, which
/// keeps the inherited soft limit) and derive the client limit from it.
fn descriptor_limit() -> crate::service::ClientLimit {
    use crate::os::limits;
    let nofile = match limits::raise_nofile() {
        Ok(n) => n,
        Err(e) => {
            crate::slog!(
                crate::log::WARNING,
                "Cannot raise the file descriptor limit: {e}"
            );
            limits::nofile().unwrap_or(1024)
        }
    };
    let clients = limits::client_limit(nofile);
    crate::slog!(crate::log::DEBUG, "Clients allowed={clients}");
    crate::slog!(
        crate::log::INFO,
        "File descriptor limit {nofile}: up to {clients} concurrent connections"
    );
    crate::service::ClientLimit::new(clients)
}

/// A system call the daemon cannot run without failed: its line (err).
pub(crate) fn fatal(what: &str, e: std::io::Error) -> Logged {
    crate::log::error(crate::os::errno::io_labelled(what, &e))
}
