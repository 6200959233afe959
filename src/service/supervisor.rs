//! Owns the running services: their listener tasks and the context each new
//! connection starts with; applies a reloaded configuration.
//!
//! Reload (stunnel-reference §5.3, style.md habit 10): the new file is parsed
//! and every TLS context built *before* anything changes; any failure keeps
//! the old configuration running. Then services are matched by name: a
//! service whose `accept` list is unchanged keeps its bound sockets and only
//! gets the new context; others are unbound and bound again; removed ones
//! stop listening. Live connections keep the `Arc<ServiceCtx>` they started
//! with, so they finish on the old settings.
//!
//! stunnel rebinds every socket on a reload and so logs `Service [NAME]
//! (FD=N) bound to ADDR` for each; scripts wait for that line after a
//! SIGHUP. A kept socket logs the same line (its own, unchanged FD and
//! address), in file order with the newly bound ones.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::bind::{self, Bound, BoundService};
use super::listener::{accept_loop, Listener};
use crate::connection::local::{self, exec_connect};
use crate::connection::ServiceCtx;
use crate::log::{Logged, ERR, INFO};

/// A service whose listeners run; dropping it stops them (rathole's handle
/// pattern), live connections keep running on their own `Arc<ServiceCtx>`.
pub struct RunningService {
    /// Swapped on reload; each accept loop reads the current value.
    ctx: watch::Sender<Arc<ServiceCtx>>,
    tasks: Vec<JoinHandle<()>>,
    /// (FD, address) of each listening socket, for the reload lines.
    sockets: Vec<(i32, String)>,
}

impl Drop for RunningService {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl RunningService {
    fn accept_list(&self) -> Vec<crate::config::model::Endpoint> {
        self.ctx.borrow().service.accept.clone()
    }
}

/// Every running service plus the process-wide client limit.
pub struct Supervisor {
    running: Vec<RunningService>,
    permits: Arc<Semaphore>,
    /// exec+connect loops; dropping a handle stops that loop's retries.
    exec_connect: Vec<exec_connect::Handle>,
}

impl Supervisor {
    /// Start accept loops for services bound before the runtime existed.
    /// Must be called inside the runtime.
    pub fn start(services: Vec<BoundService>, permits: Arc<Semaphore>) -> std::io::Result<Self> {
        let mut running = Vec::new();
        for (ctx, bound) in services {
            running.push(spawn(ctx, bound, &permits)?);
        }
        Ok(Supervisor {
            running,
            permits,
            exec_connect: Vec::new(),
        })
    }

    /// Start the exec+connect sections among `ctxs` (stunnel starts them
    /// after binding, before `Accepting new connections`).
    pub fn start_exec_connect(&mut self, ctxs: &[Arc<ServiceCtx>]) {
        for ctx in ctxs.iter().filter(|c| local::is_exec_connect(&c.service)) {
            self.exec_connect.push(exec_connect::start(ctx.clone()));
        }
    }

    /// Apply a new set of service contexts (already built and validated).
    /// Returns `Err` if a new listener could not be bound; the services that
    /// could be started run anyway.
    pub fn reload(&mut self, new: Vec<Arc<ServiceCtx>>) -> Result<(), Logged> {
        // Old exec+connect loops stop retrying (a running pair finishes on
        // the old settings); the new configuration starts its own.
        self.exec_connect.clear();
        self.start_exec_connect(&new);
        let mut old: HashMap<String, RunningService> = HashMap::new();
        for r in self.running.drain(..) {
            let name = r.ctx.borrow().service.name.clone();
            old.insert(name, r);
        }
        // Listeners whose address set changes (or whose service is gone) are
        // closed first, so a port that moves between services can be bound.
        let (keep, rebind): (HashMap<_, _>, HashMap<_, _>) =
            old.into_iter().partition(|(name, r)| {
                new.iter()
                    .any(|c| &c.service.name == name && c.service.accept == r.accept_list())
            });
        drop(rebind);
        let mut keep = keep;
        let mut ok = true;
        // For `/healthz`: the services that should listen and do not.
        let mut not_listening = Vec::new();
        for ctx in new {
            if ctx.service.accept.is_empty() {
                continue;
            }
            match keep.remove(&ctx.service.name) {
                Some(r) => {
                    for (fd, address) in &r.sockets {
                        crate::slog!(
                            INFO,
                            "Service [{}] (FD={fd}) bound to {address}",
                            ctx.service.name
                        );
                    }
                    r.ctx.send_replace(ctx);
                    self.running.push(r);
                }
                None => {
                    let name = ctx.service.name.clone();
                    let started = match bind::bind_service(&ctx.service) {
                        Ok(bound) => match spawn(ctx, bound, &self.permits) {
                            Ok(r) => {
                                self.running.push(r);
                                true
                            }
                            Err(e) => {
                                crate::slog!(ERR, "Cannot register listener: {e}");
                                false
                            }
                        },
                        Err(Logged) => false,
                    };
                    if !started {
                        ok = false;
                        not_listening.push(name);
                    }
                }
            }
        }
        crate::metrics::set_not_listening(not_listening);
        if ok {
            Ok(())
        } else {
            Err(Logged)
        }
    }
}

/// Register `bound` sockets with tokio and start one accept loop per socket.
fn spawn(
    ctx: Arc<ServiceCtx>,
    bound: Vec<Bound>,
    permits: &Arc<Semaphore>,
) -> std::io::Result<RunningService> {
    let (tx, rx) = watch::channel(ctx);
    let mut tasks = Vec::new();
    let mut sockets = Vec::new();
    for b in bound {
        sockets.push((b.fd(), b.address()));
        let listener = match b {
            Bound::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
            Bound::Unix(l, _) => Listener::Unix(tokio::net::UnixListener::from_std(l)?),
        };
        tasks.push(tokio::spawn(accept_loop(
            listener,
            rx.clone(),
            permits.clone(),
        )));
    }
    Ok(RunningService {
        ctx: tx,
        tasks,
        sockets,
    })
}
