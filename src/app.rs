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

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{self, Invocation};
use crate::config::{self, model::Config, Source};
use crate::connection::{self, ServiceCtx};
use crate::log::{self as logging, Sinks, ERR, INFO, NOTICE};
use crate::service::bind::{self, Bound};
use crate::service::supervisor::Supervisor;
use crate::tls;

/// The process: parse the command line, do what it asks, map the outcome
/// to stunnel's exit status (0 or 1).
pub fn main(args: &[String]) -> ExitCode {
    logging::install();
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
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(()) => {
            // Error mode: everything buffered so far, all levels, to stderr.
            logging::dump_buffered();
            ExitCode::from(1)
        }
    }
}

/// Information mode: banner then `lines`, plain, on stderr.
fn info(lines: Vec<String>) -> Result<(), ()> {
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
    crate::slog!(NOTICE, "{}", crate::version::features());
}

/// `-test`: load the configuration and build every TLS policy without
/// reading certificate files or opening sockets; print what each service
/// will accept.
fn check(source: &Source) -> Result<(), ()> {
    banner();
    let config = load(source)?;
    let services: Vec<_> = config
        .services
        .iter()
        .chain(config.global.inetd.as_deref())
        .cloned()
        .collect();
    let contexts = tls::build_all(&services, tls::Loading::PolicyOnly)
        .map_err(|(i, e)| tls_failed(&services[i].name, e))?;
    crate::slog!(NOTICE, "Configuration successful");
    logging::print_buffered_plain();
    let mut report = Vec::new();
    for (service, ctx) in services.iter().zip(contexts) {
        report.push(format!("Service [{}]:", service.name));
        report.extend(ctx.describe().into_iter().map(|l| format!("  {l}")));
    }
    print_plain(&report);
    Ok(())
}

/// Read and validate the configuration, then apply its process-wide
/// side effects that stunnel executes while parsing (`setEnv`, `provider`).
fn load(source: &Source) -> Result<Config, ()> {
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
    })?;
    for (name, value) in &config.global.set_env {
        // Still one thread here, so changing the environment is sound.
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
                return Err(());
            }
        }
    }
    Ok(config)
}

fn tls_failed(name: &str, e: tls::TlsError) {
    e.log();
    crate::slog!(ERR, "Service [{name}]: Failed to initialize TLS context");
    crate::slog!(ERR, "Configuration failed");
}

/// Build the TLS context of every service (reading certificates now, before
/// any privilege is dropped) and the per-service connection contexts.
pub fn contexts(config: &Config) -> Result<Vec<Arc<ServiceCtx>>, ()> {
    let tls = tls::build_all(&config.services, tls::Loading::Files)
        .map_err(|(i, e)| tls_failed(&config.services[i].name, e))?;
    Ok(connection::contexts(&config.services, tls))
}

/// Daemon (or inetd) mode until a terminating signal.
fn run(source: &Source) -> Result<(), ()> {
    banner();
    let config = load(source)?;
    if config.is_inetd() {
        return run_inetd(&config);
    }
    let ctxs = contexts(&config)?;
    crate::slog!(NOTICE, "Configuration successful");
    let bound = bind_all(&ctxs)?;
    logging::activate(sinks(&config)?, config.global.debug.level);
    let runtime = runtime()?;
    runtime.block_on(serve(bound))
}

/// Bind every service that has `accept` (SNI secondaries have none).
fn bind_all(ctxs: &[Arc<ServiceCtx>]) -> Result<Vec<(Arc<ServiceCtx>, Vec<Bound>)>, ()> {
    let mut out = Vec::new();
    for ctx in ctxs.iter().filter(|c| !c.service.accept.is_empty()) {
        out.push((ctx.clone(), bind::bind_service(&ctx.service)?));
    }
    Ok(out)
}

/// A multi-threaded runtime sized to the machine's cores.
fn runtime() -> Result<tokio::runtime::Runtime, ()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::slog!(ERR, "Cannot start the runtime: {e}");
        })
}

/// inetd mode (no `[section]`): the global section's service serves one
/// connection on stdin/stdout; the process exits 0 when it ends, whatever
/// happened to it (stunnel-reference §1.2, §5.1 item 8).
fn run_inetd(config: &Config) -> Result<(), ()> {
    let Some(service) = config.global.inetd.as_deref() else {
        crate::slog!(ERR, "Inetd mode: Inetd mode must define one endpoint");
        return Err(());
    };
    let tls = tls::build(service, tls::Loading::Files).map_err(|e| tls_failed(&service.name, e))?;
    crate::slog!(NOTICE, "Configuration successful");
    logging::activate(sinks(config)?, config.global.debug.level);
    // SIGPIPE stays ignored (Rust's default): a vanished peer is an EPIPE
    // the copy loop handles, not a silent death.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::slog!(ERR, "Cannot start the runtime: {e}");
        })?;
    runtime.block_on(async {
        let local = connection::stdio::Stdio::new().map_err(|e| {
            crate::slog!(ERR, "Cannot use stdin/stdout: {e}");
        })?;
        let ctx = ServiceCtx::new(service.clone(), tls, Vec::new());
        connection::run(ctx, connection::Kind::Stdio(local), 0).await;
        Ok(())
    })
}

/// The log destinations the configuration asks for.
fn sinks(config: &Config) -> Result<Sinks, ()> {
    let global = &config.global;
    let mut sinks = Sinks {
        stderr: global.foreground == config::model::Foreground::Yes,
        file: None,
        syslog: false,
    };
    if let Some(path) = &global.output {
        let overwrite = global.log_mode == config::model::LogMode::Overwrite;
        match Sinks::open_file(path, overwrite) {
            Ok(f) => sinks.file = Some((path.clone(), f, overwrite)),
            Err(_) => {
                crate::slog!(ERR, "Cannot open log file: {}", path.display());
                return Err(());
            }
        }
    }
    Ok(sinks)
}

async fn serve(services: Vec<(Arc<ServiceCtx>, Vec<Bound>)>) -> Result<(), ()> {
    // Nobody set the limit yet (os layer not wired): stunnel's formula on
    // the current descriptor limit, not a limit of one client.
    if crate::service::client_limit() == 0 {
        let nofile = crate::os::limits::nofile().unwrap_or(1024);
        crate::service::set_client_limit(crate::os::limits::client_limit(nofile));
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(
        crate::service::client_limit().max(1),
    ));
    let supervisor = Supervisor::start(services, permits).map_err(|e| {
        crate::slog!(ERR, "Cannot register listener: {e}");
    })?;
    crate::slog!(INFO, "Accepting new connections");
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|_| ())?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|_| ())?;
    tokio::select! {
        _ = term.recv() => crate::slog!(NOTICE, "Terminated"),
        _ = int.recv() => crate::slog!(ERR, "Received SIGINT; terminating"),
    }
    drop(supervisor);
    Ok(())
}
