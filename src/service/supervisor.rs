//! Owns the listening sockets and their accept loops, the context each new
//! connection starts with, and the exec+connect loops; applies a reloaded
//! configuration.
//!
//! Reload (stunnel-reference §5.3, style.md habit 10): the new file is parsed,
//! every TLS context built and every `accept` address resolved *before*
//! anything changes (off the async workers, `app::daemon`); any failure keeps
//! the old configuration running. Listening sockets are owned per address,
//! not per service: an address the new configuration still accepts on keeps
//! its socket, and the connections queued in its backlog, whichever service
//! it now belongs to; only its context changes. New addresses are bound
//! next, and only then are the addresses that disappeared closed, so no
//! address the old and the new configuration share is ever closed, and a
//! client never meets a refused connection there. Live connections keep the
//! `Arc<ServiceCtx>` they started with, so they finish on the old settings.
//!
//! stunnel rebinds every socket on a reload and so logs `Service [NAME]
//! (FD=N) bound to ADDR` for each; scripts wait for that line after a
//! SIGHUP. A kept socket logs the same line (its own, unchanged FD and
//! address), in file order with the newly bound ones.

use std::sync::Arc;

use tokio::sync::watch;

use super::ClientLimit;
use tokio::task::JoinHandle;

use super::bind::{self, Bound, BoundService};
use super::listener::{accept_loop, Listener};
use crate::connection::address::Address;
use crate::connection::local::{self, exec_connect};
use crate::connection::ServiceCtx;
use crate::log::{Logged, ERR};

/// Which socket a configured address is. Port 0 asks for a fresh port, so
/// two `accept = …:0` lines are two sockets: such an address is kept only
/// for the same service.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    address: Address,
    port_zero_of: Option<String>,
}

impl Key {
    fn of(address: &Address, service: &str) -> Key {
        let port_zero = matches!(address, Address::Inet(sa) if sa.port() == 0);
        Key {
            address: address.clone(),
            port_zero_of: port_zero.then(|| service.to_string()),
        }
    }
}

/// One listening socket and its accept loop; dropping it stops the loop,
/// which closes the socket (live connections run on their own).
struct Listening {
    key: Key,
    /// The context of the service the address belongs to; each accept
    /// reads the current value.
    ctx: watch::Sender<Arc<ServiceCtx>>,
    task: JoinHandle<()>,
    fd: i32,
    /// As the `bound to` line shows it.
    address: String,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Every listening socket plus the process-wide client limit.
pub struct Supervisor {
    /// In file order.
    listening: Vec<Listening>,
    clients: ClientLimit,
    /// exec+connect loops; dropping a handle stops that loop's retries.
    exec_connect: Vec<exec_connect::Handle>,
    /// How addresses new after a reload are bound.
    sharing: bind::Sharing,
}

impl Supervisor {
    /// Start accept loops for services bound before the runtime existed.
    /// Must be called inside the runtime.
    pub fn start(
        services: Vec<BoundService>,
        clients: ClientLimit,
        sharing: bind::Sharing,
    ) -> std::io::Result<Self> {
        let mut listening = Vec::new();
        for (ctx, bound) in services {
            for (address, b) in bound {
                let key = Key::of(&address, &ctx.service.options.name);
                listening.push(spawn(key, ctx.clone(), b, &clients)?);
            }
        }
        Ok(Supervisor {
            listening,
            clients,
            exec_connect: Vec::new(),
            sharing,
        })
    }

    /// Start the exec+connect sections among `ctxs` (stunnel starts them
    /// after binding, before `Accepting new connections`).
    pub fn start_exec_connect(&mut self, ctxs: &[Arc<ServiceCtx>]) {
        for ctx in ctxs.iter().filter(|c| local::is_exec_connect(&c.service)) {
            self.exec_connect.push(exec_connect::start(ctx.clone()));
        }
    }

    /// Every listening socket's descriptor (handed to a binary upgrade).
    pub fn listening_fds(&self) -> Vec<i32> {
        self.listening.iter().map(|l| l.fd).collect()
    }

    /// Graceful drain: close every listening socket, so new connections
    /// are refused, and stop the exec+connect loops' retries; the live
    /// connections go on. Returns once the sockets are closed.
    pub async fn stop_listening(&mut self) {
        self.exec_connect.clear();
        for mut listening in self.listening.drain(..) {
            listening.task.abort();
            // The aborted task has dropped its listener once it is joined.
            let _ = (&mut listening.task).await;
        }
    }

    /// New contexts for the same configuration (`certReload`): each
    /// listening address moves to its service's new context; sockets and
    /// exec+connect loops stay.
    pub fn swap_contexts(&mut self, ctxs: Vec<Arc<ServiceCtx>>) {
        for listening in &self.listening {
            let name = listening.ctx.borrow().service.options.name.clone();
            if let Some(ctx) = ctxs.iter().find(|c| c.service.options.name == name) {
                listening.ctx.send_replace(ctx.clone());
            }
        }
    }

    /// Apply a new configuration: each service context (already built and
    /// validated) with the addresses its `accept` lines resolved to (empty
    /// for sections without `accept`). Returns `Err` if some service could
    /// bind nothing; the others run anyway.
    pub fn reload(&mut self, new: Vec<(Arc<ServiceCtx>, Vec<Address>)>) -> Result<(), Logged> {
        // Old exec+connect loops stop retrying (a running pair finishes on
        // the old settings); the new configuration starts its own.
        self.exec_connect.clear();
        let ctxs: Vec<Arc<ServiceCtx>> = new.iter().map(|(c, _)| c.clone()).collect();
        self.start_exec_connect(&ctxs);
        let mut old = std::mem::take(&mut self.listening);
        let mut ok = true;
        // For `/healthz`: the services that should listen and do not.
        let mut not_listening = Vec::new();
        for (ctx, addresses) in new {
            if ctx.service.accept.is_empty() {
                continue;
            }
            let mut any = false;
            for address in addresses {
                let key = Key::of(&address, &ctx.service.options.name);
                let listening = match old.iter().position(|l| l.key == key) {
                    Some(at) => Some(keep(old.remove(at), &ctx)),
                    None => self.bind(key, &ctx, &mut old),
                };
                if let Some(l) = listening {
                    self.listening.push(l);
                    any = true;
                }
            }
            if !any {
                bind::failed(&ctx.service);
                ok = false;
                not_listening.push(ctx.service.options.name.clone());
            }
        }
        crate::metrics::set_not_listening(not_listening);
        // Only now: the addresses the new configuration no longer has.
        drop(old);
        if ok {
            Ok(())
        } else {
            Err(Logged)
        }
    }

    /// Bind a new address. If the port is still held by an old socket that
    /// is about to go (a wildcard replaced by a specific address on the same
    /// port, or the reverse), close those and try once more.
    fn bind(&self, key: Key, ctx: &Arc<ServiceCtx>, old: &mut Vec<Listening>) -> Option<Listening> {
        let bound = bind::bind_address(&ctx.service, &key.address, self.sharing).or_else(|| {
            let port = inet_port(&key.address)?;
            let before = old.len();
            old.retain(|l| inet_port(&l.key.address) != Some(port));
            (old.len() < before)
                .then(|| bind::bind_address(&ctx.service, &key.address, self.sharing))
                .flatten()
        })?;
        match spawn(key, ctx.clone(), bound, &self.clients) {
            Ok(l) => Some(l),
            Err(e) => {
                crate::slog!(ERR, "Cannot register listener: {e}");
                None
            }
        }
    }
}

/// A socket the new configuration keeps: its (maybe new) service's context,
/// and the `bound to` line a rebinding stunnel would log.
fn keep(listening: Listening, ctx: &Arc<ServiceCtx>) -> Listening {
    bind::log_bound(&ctx.service.options.name, listening.fd, &listening.address);
    listening.ctx.send_replace(ctx.clone());
    listening
}

fn inet_port(address: &Address) -> Option<u16> {
    match address {
        Address::Inet(sa) if sa.port() != 0 => Some(sa.port()),
        _ => None,
    }
}

/// Register a bound socket with tokio and start its accept loop.
fn spawn(
    key: Key,
    ctx: Arc<ServiceCtx>,
    bound: Bound,
    clients: &ClientLimit,
) -> std::io::Result<Listening> {
    let (fd, address) = (bound.fd(), bound.address());
    let listener = match bound {
        Bound::Tcp(l) => Listener::Tcp(tokio::net::TcpListener::from_std(l)?),
        Bound::Unix(l, _) => Listener::Unix(tokio::net::UnixListener::from_std(l)?),
    };
    let (tx, rx) = watch::channel(ctx);
    let task = tokio::spawn(accept_loop(listener, rx, clients.clone()));
    Ok(Listening {
        key,
        ctx: tx,
        task,
        fd,
        address,
    })
}
