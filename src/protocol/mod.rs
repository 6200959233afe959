//! `protocol = …`: the application-level negotiations stunnel 5.68 runs
//! before TLS or before forwarding (stunnel-reference §4, stunnel's
//! `src/protocol.c`).
//!
//! The design is stunnel 5.70's table (style.md habit 7): one [`Entry`] per
//! protocol, holding for each mode {client, server} the hooks of the three
//! phases {early, middle, late}. A mode without hooks (`None`) is the 5.68
//! configuration error `The 'nntp' protocol is not supported in the server
//! mode`. One file per negotiator holds its hooks.
//!
//! # How the connection drives it (stunnel's `client_try`)
//!
//! ```text
//! accept → run(Early, local, None)
//!   if config::protocols::connects_before_tls(kind, client):
//!        connect remote → run(Middle, local, Some(remote)) → TLS handshake
//!   else TLS handshake → run(Middle, local, None) → connect remote
//! → run(Late, local, Some(remote)) → transfer
//! ```
//!
//! `local` is the accepted side and `remote` the side stunnel opened; after
//! the handshake the TLS one (remote in client mode, local in server mode) is
//! passed as the TLS stream. What the connection must do with an [`Outcome`]:
//! * `pushback` non-empty (SMTP/IMAP server, client talked first): wrap
//!   `local` as [`Rewind::new(pushback, local)`](Rewind) before the TLS
//!   handshake so those bytes reach it;
//! * `target` set (CONNECT server, SOCKS server): connect there instead of
//!   the configured `connect` list (stunnel's `connect_addr` set by a
//!   protocol; redirect still wins, §5.4);
//! * `Err(Abort::Reset)` / `Err(Abort::Close)`: stunnel's
//!   `throw_exception(c, 1)` / `(c, 2)`: end the connection, with RST (if
//!   `reset = yes`) or gracefully.
//!
//! Name resolution and the extra LDAP connection of `capwin` go through the
//! [`Net`] the connection passes in ([`SystemNet`] is getaddrinfo + tokio
//! TCP), so this module stays free of sockets of its own. Not here: TLS,
//! connecting the remote, the transfer loop.

mod busy;
mod capwin;
mod cifs;
mod connect;
mod destination;
mod hook;
mod imap;
mod ldap;
mod line;
mod net;
mod nntp;
mod ntlm;
mod pgsql;
mod pop3;
mod proxy;
pub mod proxy_in;
pub mod proxy_v2;
mod rewind;
mod smtp;
mod socks;
mod table;

use table::entry;

pub use busy::Busy;
pub use destination::same_prefix as in_network;
pub use hook::{
    Abort, BoxFuture, Ctx, HookResult, Io, Net, Outcome, Phase, Streams, Target, TlsFacts,
};
pub use net::SystemNet;
pub use rewind::Rewind;

use crate::config::model::{Protocol, ProtocolKind};

/// Every configuration-time check of a section's `protocol`: the mode, and
/// `protocolHost not specified` for a CONNECT client. 5.68 reports the latter
/// per connection; we report it when the configuration loads (5.73+), which
/// refuses a section that could never work.
pub fn check(settings: &Protocol, client: bool) -> Result<(), String> {
    crate::config::protocols::check_mode(settings.kind, client)?;
    if client && settings.kind == ProtocolKind::Connect && settings.host.is_none() {
        return Err("protocolHost not specified".to_string());
    }
    Ok(())
}

/// Run the hook of `phase` for the section's protocol, if it has one.
/// `local` is the accepted side, `remote` the connected one (see the module
/// doc for which is TLS at each point).
pub async fn run<'a, 'l: 'a, 'r: 'a>(
    phase: Phase,
    ctx: &'a Ctx<'a>,
    local: &'a mut (dyn Io + 'l),
    remote: Option<&'a mut (dyn Io + 'r)>,
) -> HookResult {
    // Shorten the trait-object lifetimes to the borrow (allowed behind
    // `&mut`), so callers may pass streams borrowed for different spans.
    let local: &'a mut dyn Io = local;
    let remote: Option<&'a mut dyn Io> = remote.map(|r| r as &'a mut dyn Io);
    let e = entry(ctx.settings.kind);
    let cell = if ctx.client { e.client } else { e.server };
    let Some(hooks) = cell else {
        // The configuration refuses this; keep the 5.68 text if it slips by.
        if let Err(msg) = crate::config::protocols::check_mode(ctx.settings.kind, ctx.client) {
            crate::slog!(crate::log::ERR, "{msg}");
        }
        return Err(Abort::Reset);
    };
    let hook = match phase {
        Phase::Early => hooks.early,
        Phase::Middle => hooks.middle,
        Phase::Late => hooks.late,
    };
    match hook {
        Some(f) => f(ctx, Streams { local, remote }).await,
        None => Ok(Outcome::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mode has hooks exactly when `config::protocols` says it is
    /// supported.
    #[test]
    fn columns_agree_with_the_facts() {
        for kind in ProtocolKind::ALL {
            let facts = crate::config::protocols::facts(kind);
            let entry = table::entry(kind);
            assert_eq!(entry.client.is_some(), facts.client, "{kind:?} client");
            assert_eq!(entry.server.is_some(), facts.server, "{kind:?} server");
        }
    }

    #[test]
    fn every_kind_has_exactly_one_row() {
        for kind in ProtocolKind::ALL {
            assert_eq!(
                table::table().iter().filter(|e| e.kind == kind).count(),
                1,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn connect_client_needs_protocol_host_at_config_time() {
        let mut p = Protocol {
            destinations: Vec::new(),
            kind: ProtocolKind::Connect,
            host: None,
            username: None,
            password: None,
            authentication: None,
            domain: None,
            headers: vec![],
            proxy_version: Default::default(),
        };
        assert_eq!(check(&p, true), Err("protocolHost not specified".into()));
        assert_eq!(check(&p, false), Ok(()));
        p.host = Some("example.org:443".into());
        assert_eq!(check(&p, true), Ok(()));
    }
}
