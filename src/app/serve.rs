//! The running daemon: accept connections and act on signals until told
//! to stop (stunnel-reference §5.2, §5.3), plus the rstunnel extensions of
//! the life cycle: coalesced reloads built off the async workers,
//! `certReload`, `TIMEOUTdrain`, the binary upgrade and systemd's
//! notifications.

use std::sync::Arc;
use std::time::Duration;

use crate::config::model::Config;
use crate::config::Source;
use crate::connection::address::Address;
use crate::connection::{registry, ServiceCtx};
use crate::log::{self as logging, Logged, ERR, INFO, NOTICE};
use crate::os::{self, signals::Event};
use crate::service::bind::{self, BoundService};
use crate::service::supervisor::Supervisor;

use super::cert_watch::CertWatch;
use super::fatal;
use super::metrics_endpoint;
use crate::metrics::Reload;
use crate::service::metrics_http::MetricsServer;

/// Accept connections and act on signals until told to stop.
pub(super) async fn serve(
    source: &Source,
    services: Vec<BoundService>,
    ctxs: &[Arc<ServiceCtx>],
    running: Running,
) -> Result<(), Logged> {
    let (mut config, mut certs) = (running.config, running.certs);
    let mut signals = running.signals;
    let sharing = bind::Sharing::for_workers(config.global.workers);
    let mut supervisor =
        Supervisor::start(services, running.clients, sharing).map_err(|e| fatal("listen", e))?;
    supervisor.start_exec_connect(ctxs);
    let mut metrics = metrics_endpoint::start(running.metrics)?;
    crate::slog!(INFO, "Accepting new connections");
    os::notify::ready(&status());
    super::upgrade::report_ready();
    let _notices = tokio::spawn(systemd_notices());
    let mut next = None;
    let drain = loop {
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
            Some(Event::Upgrade) => {
                crate::slog!(NOTICE, "Upgrade: starting a new process of the binary");
                // The metrics endpoint's sockets go too: the new process
                // could not bind its address while this one holds it.
                let mut fds = supervisor.listening_fds();
                fds.extend(metrics.iter().flat_map(|m| m.fds().iter().copied()));
                match super::upgrade::start(&config, fds).await {
                    Ok(pid) => {
                        crate::slog!(NOTICE, "Upgrade: process {pid} accepts now; stopping");
                        break Some(config.global.drain.unwrap_or(super::upgrade::DRAIN));
                    }
                    Err(why) => crate::slog!(ERR, "Upgrade failed: {why}; still serving"),
                }
            }
            Some(Event::ReopenLog) => super::logs::reopen(),
            Some(Event::ListConnections) => registry::log_active(),
            Some(Event::Terminate(sig)) => {
                let (level, line) = os::signals::termination_line(sig);
                crate::slog!(level, "{line}");
                break config.global.drain;
            }
            // No handler could be installed at all: serve until killed.
            None => std::future::pending::<()>().await,
        }
    };
    os::notify::stopping(&status());
    if let Some(limit) = drain {
        drain_connections(&mut supervisor, &mut signals, limit).await;
    }
    // stunnel cuts in-flight connections rather than draining them
    // (stunnel-reference §5.2); so does returning from here, which drops
    // the runtime and every connection task.
    let live = registry::count();
    crate::slog!(INFO, "Terminating {live} service thread(s)");
    crate::slog!(INFO, "Service threads terminated");
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
    crate::metrics::set_draining();
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
/// Returns the new configuration when the reload took effect. The metrics
/// count each reload by its result.
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
pub(super) struct Running {
    pub config: Arc<Config>,
    pub certs: Option<CertWatch>,
    /// The `metrics` endpoint, bound before privileges were dropped.
    pub metrics: metrics_endpoint::Pending,
    /// The installed handlers (before the pid file was written).
    pub signals: os::signals::Signals,
    /// The process-wide client limit.
    pub clients: crate::service::ClientLimit,
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
