//! Daemon mode: stunnel's start-up order (stunnel-reference §5.1), then the
//! signal loop (§5.2, §5.3).
//!
//! ```text
//! TLS contexts → bind → chroot → setgid/setuid → open log → daemon()
//!   → pid file → runtime → signals → serve
//! ```
//! Certificates are read and ports bound while still privileged; the fork
//! happens while the process has one thread (the runtime comes after).

use std::sync::Arc;

use crate::config::model::Endpoint;
use crate::config::model::{Config, Foreground};
use crate::config::Source;
use crate::connection::{local, registry, ServiceCtx};
use crate::log::{self as logging, Logged, DEBUG, ERR, INFO, NOTICE};
use crate::metrics::Reload;
use crate::os::{self, signals::Event};
use crate::service::bind::{self, BoundService};
use crate::service::metrics_http::{self, MetricsServer};
use crate::service::supervisor::Supervisor;

pub fn run(source: &Source, config: Config) -> Result<(), Logged> {
    // A reload re-reads the absolute path resolved at start-up, as stunnel
    // does: daemon() changes to `/`, and under a chroot it resolves inside.
    let source = match source {
        Source::File(_) => Source::File(config.origin.clone().into()),
        Source::Fd(fd) => Source::Fd(*fd),
    };
    let ctxs = super::contexts(&config)?;
    crate::slog!(NOTICE, "Configuration successful");
    let bound = bind_all(&ctxs)?;
    let metrics = match &config.global.metrics {
        Some(endpoint) => Some((endpoint.clone(), metrics_http::bind(endpoint)?)),
        None => None,
    };
    record_certificates(&ctxs);
    crate::connection::local::set_keep_stderr(config.global.foreground != Foreground::No);
    let global = &config.global;
    let background = global.foreground == Foreground::No;
    // /dev/null must be opened before a chroot hides it.
    let null = if background {
        Some(os::daemon::DevNull::open().map_err(|e| fatal("open /dev/null", e))?)
    } else {
        None
    };
    if let Some(dir) = &global.chroot {
        os::chroot::enter(dir).map_err(crate::log::error)?;
    }
    os::privileges::drop_privileges(global.setuid.as_ref(), global.setgid.as_ref())
        .map_err(crate::log::error)?;
    logging::activate(super::logs::sinks(&config)?, global.debug.level);
    if let Some(null) = null {
        os::daemon::daemonize_with(null).map_err(|e| fatal("daemon", e))?;
    }
    let _pid = match &global.pid {
        Some(path) => Some(os::pidfile::PidFile::create(path).map_err(|_| Logged)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fatal("runtime", e))?;
    runtime.block_on(serve(&source, bound, &ctxs, metrics))
}

fn fatal(what: &str, e: std::io::Error) -> Logged {
    crate::log::error(os::errno::io_labelled(what, &e))
}

/// Bind every service that has `accept` (SNI secondaries and exec+connect
/// sections have none).
fn bind_all(ctxs: &[Arc<ServiceCtx>]) -> Result<Vec<BoundService>, Logged> {
    let mut out = Vec::new();
    for ctx in ctxs {
        if !ctx.service.accept.is_empty() {
            out.push((ctx.clone(), bind::bind_service(&ctx.service)?));
        } else if local::is_exec_connect(&ctx.service) {
            crate::slog!(DEBUG, "Skipped exec+connect service [{}]", ctx.service.name);
        }
    }
    Ok(out)
}

/// Accept connections and act on signals until told to stop.
async fn serve(
    source: &Source,
    services: Vec<BoundService>,
    ctxs: &[Arc<ServiceCtx>],
    metrics: Option<(Endpoint, Vec<bind::Bound>)>,
) -> Result<(), Logged> {
    // First: look at the inherited dispositions before anything installs
    // handlers (SIGINT/SIGQUIT stay ignored if they were).
    let mut signals = os::signals::events().map_err(|e| fatal("signals", e))?;
    let permits = Arc::new(tokio::sync::Semaphore::new(
        crate::service::client_limit().max(1),
    ));
    let mut supervisor = Supervisor::start(services, permits).map_err(|e| fatal("listen", e))?;
    supervisor.start_exec_connect(ctxs);
    let mut metrics = match metrics {
        Some((endpoint, bound)) => {
            Some(metrics_http::start(endpoint, bound).map_err(|e| fatal("listen", e))?)
        }
        None => None,
    };
    crate::slog!(INFO, "Accepting new connections");
    loop {
        match signals.recv().await {
            Some(Event::Reload) => {
                let result = reload(source, &mut supervisor, &mut metrics);
                crate::metrics::reloaded(result);
            }
            Some(Event::ReopenLog) => reopen_log(),
            Some(Event::ListConnections) => registry::log_active(),
            Some(Event::Terminate(sig)) => {
                let (level, line) = os::signals::termination_line(sig);
                crate::slog!(level, "{line}");
                // stunnel cuts in-flight connections rather than draining
                // them (stunnel-reference §5.2); so does returning from here,
                // which drops the runtime and every connection task.
                let live = registry::count();
                crate::slog!(INFO, "Terminating {live} service thread(s)");
                crate::slog!(INFO, "Service threads terminated");
                break;
            }
            // No handler could be installed at all: serve until killed.
            None => std::future::pending::<()>().await,
        }
    }
    drop(supervisor);
    Ok(())
}

/// SIGHUP: parse and build everything new first; any failure keeps the
/// running configuration (stunnel-reference §5.3).
fn reload(
    source: &Source,
    supervisor: &mut Supervisor,
    metrics: &mut Option<MetricsServer>,
) -> Reload {
    let Ok(config) = super::load(source) else {
        crate::slog!(ERR, "Failed to reload the configuration file");
        return Reload::Failed;
    };
    if config.is_inetd() {
        crate::slog!(ERR, "Inetd mode: a reload cannot switch to inetd mode");
        crate::slog!(ERR, "Failed to reload the configuration file");
        return Reload::Failed;
    }
    let Ok(ctxs) = super::contexts(&config) else {
        crate::slog!(ERR, "Failed to reload the configuration file");
        return Reload::Failed;
    };
    let Ok(sinks) = super::logs::sinks(&config) else {
        crate::slog!(ERR, "Failed to reload the configuration file");
        return Reload::Failed;
    };
    logging::activate(sinks, config.global.debug.level);
    record_certificates(&ctxs);
    let mut result = Reload::Ok;
    if supervisor.reload(ctxs).is_err() {
        crate::slog!(ERR, "Some services could not be bound after the reload");
        result = Reload::Partial;
    }
    if rebind_metrics(metrics, config.global.metrics.as_ref()).is_err() {
        result = Reload::Partial;
    }
    crate::slog!(NOTICE, "Configuration successful");
    result
}

/// The metrics endpoint after a reload: kept while its address is the
/// same, else closed and (when still configured) bound anew, now with the
/// privileges that are left. A failed bind leaves none.
fn rebind_metrics(
    running: &mut Option<MetricsServer>,
    wanted: Option<&Endpoint>,
) -> Result<(), Logged> {
    if running.as_ref().map(|m| &m.endpoint) == wanted {
        return Ok(());
    }
    *running = None;
    let Some(endpoint) = wanted else {
        return Ok(());
    };
    let bound = metrics_http::bind(endpoint)?;
    let server = metrics_http::start(endpoint.clone(), bound).map_err(|e| fatal("listen", e))?;
    *running = Some(server);
    Ok(())
}

/// The certificates each service presents (SNI secondaries included), for
/// their expiry gauges.
fn record_certificates(ctxs: &[Arc<ServiceCtx>]) {
    let list = ctxs
        .iter()
        .filter_map(|c| {
            let (subject, not_after) = c.tls.certificate_expiry()?;
            Some(crate::metrics::Certificate {
                service: c.service.name.clone(),
                subject,
                not_after,
            })
        })
        .collect();
    crate::metrics::set_certificates(list);
}

/// SIGUSR1: reopen the `output` file (after logrotate moved it).
fn reopen_log() {
    match logging::with_sinks(|s| s.reopen()) {
        Some(Ok(())) => crate::slog!(NOTICE, "Log file reopened"),
        Some(Err(e)) => crate::slog!(
            ERR,
            "{}",
            os::errno::io_labelled("Cannot reopen log file", &e)
        ),
        None => {}
    }
}
