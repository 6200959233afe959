//! Daemon mode: stunnel's start-up order (stunnel-reference §5.1), then
//! `serve` (the signal loop, §5.2, §5.3).
//!
//! ```text
//! TLS contexts → bind → chroot → setgid/setuid → open log → daemon()
//!   → runtime → signals → pid file → serve
//! ```
//! Certificates are read and ports bound while still privileged; the fork
//! happens while the process has one thread (the runtime comes after).
//! The handled signals are held (blocked) from the start until their
//! handlers exist, so none can end the daemon by its default action.
//! With `workers`, every worker's sockets are bound with the first, and
//! after `daemon()` the supervisor (`workers`) forks the serving processes.

use std::sync::Arc;

use crate::config::model::{Config, Foreground};
use crate::config::Source;
use crate::connection::{local, ServiceCtx};
use crate::log::{self as logging, Logged, DEBUG, NOTICE, WARNING};
use crate::os;
use crate::service::bind::{self, BoundService};

use super::metrics_endpoint;

pub fn run(
    source: &Source,
    config: Config,
    clients: crate::service::ClientLimit,
) -> Result<(), Logged> {
    // A reload re-reads the absolute path resolved at start-up, as stunnel
    // does: daemon() changes to `/`, and under a chroot it resolves inside.
    let source = match source {
        Source::File(_) => Source::File(config.origin.clone().into()),
        Source::Fd(fd) => Source::Fd(*fd),
    };
    let held = os::signals::hold().map_err(|e| super::fatal("signals", e))?;
    let ctxs = super::contexts(&config)?;
    crate::slog!(NOTICE, "Configuration successful");
    let sharing = bind::Sharing::for_workers(config.global.workers);
    let bound = bind_all(&ctxs, sharing)?;
    let metrics = metrics_endpoint::bind(&config)?;
    metrics_endpoint::record_certificates(ctxs.iter());
    for (fd, from) in os::activation::unused() {
        crate::slog!(
            WARNING,
            "The socket passed by {} (FD={fd}) matches no accept address: not used",
            from.describe()
        );
    }
    // Every worker's sockets are bound here, while still privileged.
    let sockets = super::workers::bind_the_others(bound, config.global.workers)?;
    let global = &config.global;
    let background = global.foreground == Foreground::No;
    // /dev/null must be opened before a chroot hides it.
    let null = if background {
        Some(os::daemon::DevNull::open().map_err(|e| super::fatal("open /dev/null", e))?)
    } else {
        None
    };
    if let Some(dir) = &global.chroot {
        os::chroot::enter(dir).map_err(crate::log::error)?;
    }
    os::privileges::drop_privileges(global.setuid, global.setgid).map_err(crate::log::error)?;
    logging::activate(super::logs::sinks(&config)?, global.debug.level);
    if let Some(null) = null {
        os::daemon::daemonize_with(null).map_err(|e| super::fatal("daemon", e))?;
    }
    let process = super::process::Process {
        source,
        config: Arc::new(config),
        ctxs,
        clients,
    };
    match sockets {
        super::workers::Sockets::One(bound) => {
            process.serve(bound, metrics, held, process.pid_path())
        }
        super::workers::Sockets::PerWorker(sets) => {
            // The supervisor's signals are taken synchronously instead.
            drop(held);
            super::workers::supervise(&process, sets)
        }
    }
}

/// Bind every service that has `accept` (SNI secondaries and exec+connect
/// sections have none).
fn bind_all(ctxs: &[Arc<ServiceCtx>], sharing: bind::Sharing) -> Result<Vec<BoundService>, Logged> {
    let mut out = Vec::new();
    for ctx in ctxs {
        if !ctx.service.accept.is_empty() {
            out.push((ctx.clone(), bind::bind_service(&ctx.service, sharing)?));
        } else if local::is_exec_connect(&ctx.service) {
            crate::slog!(
                DEBUG,
                "Skipped exec+connect service [{}]",
                ctx.service.options.name
            );
        }
    }
    Ok(out)
}
