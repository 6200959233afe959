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
use std::time::Duration;

use crate::config::model::{Config, Foreground};
use crate::config::Source;
use crate::connection::address::Address;
use crate::connection::{local, registry, ServiceCtx};
use crate::log::{self as logging, Logged, DEBUG, ERR, INFO, NOTICE, WARNING};
use crate::os::{self, signals::Event};
use crate::service::bind::{self, BoundService};
use crate::service::supervisor::Supervisor;

use super::cert_watch::CertWatch;
use super::metrics_endpoint;
use crate::metrics::Reload;
use crate::service::metrics_http::MetricsServer;

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
    let metrics = metrics_endpoint::bind(&config)?;
    metrics_endpoint::record_certificates(ctxs.iter());
    for fd in os::activation::unused() {
        crate::slog!(
            WARNING,
            "The socket passed by systemd (FD={fd}) matches no accept address: not used"
        );
    }
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
    let certs = CertWatch::new(&config);
    let running = Running {
        config: Arc::new(config),
        certs,
        metrics,
    };
    runtime.block_on(serve(&source, bound, &ctxs, running))
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
    running: Running,
) -> Result<(), Logged> {
    let (mut config, mut certs) = (running.config, running.certs);
    // First: look at the inherited dispositions before anything installs
    // handlers (SIGINT/SIGQUIT stay ignored if they were).
    let mut signals = os::signals::events().map_err(|e| fatal("signals", e))?;
    let permits = Arc::new(tokio::sync::Semaphore::new(
        crate::service::client_limit().max(1),
    ));
    let mut supervisor = Supervisor::start(services, permits).map_err(|e| fatal("listen", e))?;
    supervisor.start_exec_connect(ctxs);
    let mut metrics = metrics_endpoint::start(running.metrics)?;
    crate::slog!(INFO, "Accepting new connections");
    os::notify::ready(&status());
    let _notices = tokio::spawn(systemd_notices());
    let mut next = None;
    loop {
        let event = match next.take() {
            Some(event) => Some(event),
            None => tokio::select! {
                event = signals.recv() => event,
                () = cert_period(&certs) => {
                    if let Some(watch) = &mut certs {
                        if let Some(ctxs) = watch.check(config.clone()).await {
                            metrics_endpoint::record_certificates(ctxs.iter());
                            supervisor.swap_contexts(ctxs);
                        }
                    }
                    continue;
                }
            },
        };
        match event {
            Some(Event::Reload) => {
                next = settle_reloads(&mut signals).await;
                if matches!(next, Some(Event::Terminate(_))) {
                    continue;
                }
                os::notify::reloading();
                if let Some(reloaded) = reload(source, &mut supervisor, &mut metrics).await {
                    config = Arc::new(reloaded);
                    // The reloaded files are the running ones now.
                    let reloaded = config.clone();
                    certs = tokio::task::spawn_blocking(move || CertWatch::new(&reloaded))
                        .await
                        .ok()
                        .flatten();
                }
                os::notify::ready(&status());
            }
            Some(Event::ReopenLog) => reopen_log(),
            Some(Event::ListConnections) => registry::log_active(),
            Some(Event::Terminate(sig)) => {
                let (level, line) = os::signals::termination_line(sig);
                crate::slog!(level, "{line}");
                os::notify::stopping(&status());
                if let Some(limit) = config.global.drain {
                    drain_connections(&mut supervisor, &mut signals, limit).await;
                }
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

/// The next `certReload` check is due; never without the option.
async fn cert_period(certs: &Option<CertWatch>) {
    match certs {
        Some(watch) => tokio::time::sleep(watch.period).await,
        None => std::future::pending().await,
    }
}

/// A burst of SIGHUPs is one reload: wait until none has come for
/// [`RELOAD_QUIET`] (at most [`RELOAD_SETTLE_MAX`] in all). Returns another
/// event that arrived meanwhile, to handle next (a terminating one skips
/// the reload).
async fn settle_reloads(signals: &mut os::signals::Signals) -> Option<Event> {
    let deadline = tokio::time::Instant::now() + RELOAD_SETTLE_MAX;
    loop {
        let quiet = (tokio::time::Instant::now() + RELOAD_QUIET).min(deadline);
        match tokio::time::timeout_at(quiet, signals.recv()).await {
            Ok(Some(Event::Reload)) => continue,
            Ok(other) => return other,
            Err(_elapsed) => return None,
        }
    }
}

/// How long a burst of SIGHUPs must be quiet before the one reload.
const RELOAD_QUIET: Duration = Duration::from_millis(100);
/// The longest a reload waits for a burst to end.
const RELOAD_SETTLE_MAX: Duration = Duration::from_secs(1);

/// systemd's `STATUS=` line.
fn status() -> String {
    format!("{} active connection(s)", registry::count())
}

/// Under systemd: the `STATUS=` line every few seconds, and `WATCHDOG=1`
/// at half the unit's `WatchdogSec=` (sent from the runtime, so a stalled
/// runtime stops the keep-alives and systemd restarts the service).
async fn systemd_notices() {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    const STATUS_EVERY: Duration = Duration::from_secs(5);
    let period = os::notify::watchdog_period().map_or(STATUS_EVERY, |w| w.min(STATUS_EVERY));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        os::notify::watchdog();
        os::notify::status(&status());
    }
}

/// `TIMEOUTdrain` (rstunnel extension): stop accepting, let the live
/// connections finish for up to `limit`, then return (the caller ends the
/// rest as stunnel does). A second terminating signal ends the wait.
async fn drain_connections(
    supervisor: &mut Supervisor,
    signals: &mut os::signals::Signals,
    limit: Duration,
) {
    supervisor.stop_listening().await;
    let live = registry::count();
    if live == 0 {
        return;
    }
    crate::slog!(
        NOTICE,
        "Draining {live} connection(s) for up to {} second(s)",
        limit.as_secs()
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut poll = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = poll.tick() => {}
            event = signals.recv() => {
                if matches!(event, Some(Event::Terminate(_))) {
                    crate::slog!(NOTICE, "Drain interrupted: {} connection(s) left", registry::count());
                    return;
                }
            }
        }
        let left = registry::count();
        if left == 0 {
            crate::slog!(NOTICE, "Drain complete");
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            crate::slog!(NOTICE, "Drain timed out: {left} connection(s) left");
            return;
        }
    }
}

/// SIGHUP: parse and build everything new first, off the async workers
/// (files, name resolution and TLS contexts block); any failure keeps the
/// running configuration (stunnel-reference §5.3). Signals that arrive
/// meanwhile are coalesced by the signal stream into one more reload.
/// Returns the new configuration when the reload took effect.
/// The metrics count each reload by its result.
async fn reload(
    source: &Source,
    supervisor: &mut Supervisor,
    metrics: &mut Option<MetricsServer>,
) -> Option<Config> {
    let source = source.clone();
    let prepared = tokio::task::spawn_blocking(move || prepare_reload(&source))
        .await
        .ok()
        .flatten();
    let Some(Prepared {
        config,
        services,
        sinks,
    }) = prepared
    else {
        crate::slog!(ERR, "Failed to reload the configuration file");
        crate::metrics::reloaded(Reload::Failed);
        return None;
    };
    logging::activate(sinks, config.global.debug.level);
    metrics_endpoint::record_certificates(services.iter().map(|(ctx, _)| ctx));
    let mut result = Reload::Ok;
    if supervisor.reload(services).is_err() {
        crate::slog!(ERR, "Some services could not be bound after the reload");
        result = Reload::Partial;
    }
    if metrics_endpoint::rebind(metrics, config.global.metrics.as_ref()).is_err() {
        result = Reload::Partial;
    }
    crate::slog!(NOTICE, "Configuration successful");
    crate::metrics::reloaded(result);
    Some(config)
}

/// What `serve` starts with besides the services.
struct Running {
    config: Arc<Config>,
    certs: Option<CertWatch>,
    /// The `metrics` endpoint, bound before privileges were dropped.
    metrics: metrics_endpoint::Pending,
}

/// What the blocking half of a reload makes.
struct Prepared {
    config: Config,
    /// Each service context with the addresses its `accept` lines resolve to.
    services: Vec<(Arc<ServiceCtx>, Vec<Address>)>,
    sinks: logging::Sinks,
}

/// The blocking half of a reload; `None` (already logged) keeps the
/// running configuration.
fn prepare_reload(source: &Source) -> Option<Prepared> {
    let config = super::load(source).ok()?;
    if config.is_inetd() {
        crate::slog!(ERR, "Inetd mode: a reload cannot switch to inetd mode");
        return None;
    }
    let ctxs = super::contexts(&config).ok()?;
    let sinks = super::logs::sinks(&config).ok()?;
    let services = ctxs
        .into_iter()
        .map(|ctx| {
            let addresses = bind::addresses(&ctx.service);
            (ctx, addresses)
        })
        .collect();
    Some(Prepared {
        config,
        services,
        sinks,
    })
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
