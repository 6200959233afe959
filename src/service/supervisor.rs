//! Owns the running services: their listener tasks and the context each new
//! connection starts with.

use std::sync::Arc;

use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::bind::Bound;
use super::listener::{accept_loop, Listener};
use crate::connection::ServiceCtx;

/// A service whose listeners run; dropping it stops them (rathole's handle
/// pattern), live connections keep running on their own `Arc<ServiceCtx>`.
pub struct RunningService {
    pub name: String,
    /// Swapped on reload; each accept loop reads the current value.
    pub ctx: watch::Sender<Arc<ServiceCtx>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RunningService {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Register `bound` sockets with tokio and start one accept loop per socket.
/// Must be called inside the runtime.
pub fn start(ctx: Arc<ServiceCtx>, bound: Vec<Bound>, permits: &Arc<Semaphore>) -> std::io::Result<RunningService> {
    let name = ctx.service.name.clone();
    let (tx, rx) = watch::channel(ctx);
    let mut tasks = Vec::new();
    for b in bound {
        let listener = match b {
            Bound::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
            Bound::Unix(l, _) => Listener::Unix(tokio::net::UnixListener::from_std(l)?),
        };
        tasks.push(tokio::spawn(accept_loop(listener, rx.clone(), permits.clone())));
    }
    Ok(RunningService { name, ctx: tx, tasks })
}
