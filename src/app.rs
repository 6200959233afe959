//! Start-up order and the top-level run loop (stunnel-reference §5.1):
//! parse the command line → load the configuration → build TLS contexts →
//! bind → open the log → build the tokio runtime → serve until a signal.
//!
//! Everything before the runtime is plain blocking code, so a later
//! `daemon()` fork happens while the process still has one thread.

use std::process::ExitCode;
use std::sync::Arc;

use crate::cli::{self, Invocation};
use crate::config::{self, model::Config, Source};
use crate::connection::{self, ServiceCtx};
use crate::log::{self as slog_mod, Sinks, ERR, NOTICE};
use crate::service::bind;
use crate::service::supervisor::Supervisor;
use crate::tls;

pub fn main(args: &[String]) -> ExitCode {
    slog_mod::install();
    let invocation = match cli::parse(args) {
        Ok(inv) => inv,
        Err(e) => {
            crate::slog!(ERR, "{}", e.0);
            slog_mod::dump_buffered();
            return ExitCode::from(1);
        }
    };
    match invocation {
        Invocation::Help => info(cli::help_lines()),
        Invocation::Version => info(cli::version_defaults_lines()),
        Invocation::Sockets => info(cli::sockets_lines()),
        Invocation::Options => info(cli::options_lines()),
        Invocation::Test(source) => check(&source),
        Invocation::Run(source) => match run(&source) {
            Ok(()) => ExitCode::SUCCESS,
            Err(()) => {
                slog_mod::dump_buffered();
                ExitCode::from(1)
            }
        },
    }
}

/// Information mode: banner then `lines`, plain, on stderr; exit 0.
fn info(lines: Vec<String>) -> ExitCode {
    banner();
    slog_mod::print_buffered_plain();
    let mut err = std::io::stderr().lock();
    for line in lines {
        use std::io::Write;
        let _ = writeln!(err, "{line}");
    }
    ExitCode::SUCCESS
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
fn check(source: &Source) -> ExitCode {
    banner();
    let Ok(config) = load(source) else {
        slog_mod::dump_buffered();
        return ExitCode::from(1);
    };
    let mut report = Vec::new();
    for service in &config.services {
        match tls::build(service, tls::Loading::PolicyOnly) {
            Ok(ctx) => {
                report.push(format!("Service [{}]:", service.name));
                report.extend(ctx.describe().into_iter().map(|l| format!("  {l}")));
            }
            Err(e) => {
                e.log();
                crate::slog!(
                    ERR,
                    "Service [{}]: Failed to initialize TLS context",
                    service.name
                );
                crate::slog!(ERR, "Configuration failed");
                slog_mod::dump_buffered();
                return ExitCode::from(1);
            }
        }
    }
    slog_mod::print_buffered_plain();
    let mut err = std::io::stderr().lock();
    for line in report {
        use std::io::Write;
        let _ = writeln!(err, "{line}");
    }
    ExitCode::SUCCESS
}

fn load(source: &Source) -> Result<Config, ()> {
    match source {
        Source::File(p) => crate::slog!(NOTICE, "Reading configuration from file {}", p.display()),
        Source::Fd(n) => crate::slog!(NOTICE, "Reading configuration from descriptor {n}"),
    }
    config::load(source).map_err(|e| {
        crate::slog!(ERR, "{e}");
        crate::slog!(ERR, "Configuration failed");
    })
}

/// Build the TLS context of every service (reading certificates now, before
/// any privilege is dropped).
fn contexts(config: &Config) -> Result<Vec<Arc<ServiceCtx>>, ()> {
    let mut out = Vec::new();
    for service in &config.services {
        match tls::build(service, tls::Loading::Files) {
            Ok(ctx) => out.push(connection::context(service.clone(), ctx)),
            Err(e) => {
                e.log();
                crate::slog!(
                    ERR,
                    "Service [{}]: Failed to initialize TLS context",
                    service.name
                );
                crate::slog!(ERR, "Configuration failed");
                return Err(());
            }
        }
    }
    Ok(out)
}

fn run(source: &Source) -> Result<(), ()> {
    banner();
    let config = load(source)?;
    if config.is_inetd() {
        return run_inetd(&config);
    }
    let ctxs = contexts(&config)?;
    crate::slog!(NOTICE, "Configuration successful");

    let mut bound = Vec::new();
    for ctx in &ctxs {
        bound.push(bind::bind_service(&ctx.service)?);
    }

    slog_mod::activate(sinks(&config).map_err(|_| ())?, config.global.debug.level);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::slog!(ERR, "Cannot start the runtime: {e}");
        })?;
    runtime.block_on(serve(ctxs, bound))
}

/// inetd mode (no `[section]`): the global section's service serves one
/// connection on stdin/stdout; the process exits 0 when it ends, whatever
/// happened to it (stunnel-reference §1.2, §5.1 item 8).
fn run_inetd(config: &Config) -> Result<(), ()> {
    let Some(service) = config.global.inetd.as_deref() else {
        crate::slog!(ERR, "Inetd mode: Inetd mode must define one endpoint");
        return Err(());
    };
    let tls = tls::build(service, tls::Loading::Files).map_err(|e| {
        e.log();
        crate::slog!(ERR, "Inetd mode: Failed to initialize TLS context");
        crate::slog!(ERR, "Configuration failed");
    })?;
    crate::slog!(NOTICE, "Configuration successful");
    slog_mod::activate(sinks(config)?, config.global.debug.level);
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
        let ctx = connection::context(service.clone(), tls);
        connection::run(ctx, connection::Kind::Stdio(local), 0).await;
        Ok(())
    })
}

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

async fn serve(ctxs: Vec<Arc<ServiceCtx>>, bound: Vec<Vec<bind::Bound>>) -> Result<(), ()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(
        crate::service::client_limit().max(1),
    ));
    let services = ctxs.into_iter().zip(bound).collect();
    let supervisor = Supervisor::start(services, permits).map_err(|e| {
        crate::slog!(ERR, "Cannot register listener: {e}");
    })?;
    crate::slog!(crate::log::INFO, "Accepting new connections");
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
