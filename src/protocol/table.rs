//! The protocol table: for each negotiator, the hooks of each mode and phase
//! (stunnel 5.70's `protocol.c` table; 5.68's if-chain has the same cells).
//! An empty mode is one the negotiator does not support; the facts (names,
//! modes, connect-first, endpoint) are `config::protocols`', and a test here
//! checks that the columns agree with them.

use super::hook::{BoxFuture, Ctx, HookResult, Streams};
use super::{capwin, cifs, connect, imap, ldap, nntp, pgsql, pop3, proxy, smtp, socks};
use crate::config::model::ProtocolKind;

pub(super) type HookFn = for<'a> fn(&'a Ctx<'a>, Streams<'a>) -> BoxFuture<'a, HookResult>;

/// Wrap an `async fn(&Ctx, Streams) -> HookResult` into a table cell.
macro_rules! hook {
    ($f:path) => {{
        fn cell<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> BoxFuture<'a, HookResult> {
            Box::pin($f(ctx, s))
        }
        Some(cell as HookFn)
    }};
}

/// One mode's column: the hook of each phase, `None` = nothing to do.
#[derive(Clone, Copy)]
pub(super) struct Hooks {
    pub(super) early: Option<HookFn>,
    pub(super) middle: Option<HookFn>,
    pub(super) late: Option<HookFn>,
}

const NONE: Hooks = Hooks {
    early: None,
    middle: None,
    late: None,
};

/// One row of the table.
pub(super) struct Entry {
    pub(super) kind: ProtocolKind,
    /// `None`: not supported in client mode.
    pub(super) client: Option<Hooks>,
    /// `None`: not supported in server mode.
    pub(super) server: Option<Hooks>,
}

/// stunnel 5.68's `protocol()` if-chain, as a table (reference §4.1).
pub(super) fn table() -> [Entry; 12] {
    use ProtocolKind::*;
    [
        Entry {
            kind: Socks,
            client: Some(Hooks {
                late: hook!(socks::client_late),
                ..NONE
            }),
            server: Some(Hooks {
                middle: hook!(socks::server_middle),
                ..NONE
            }),
        },
        Entry {
            kind: Proxy,
            client: None,
            server: Some(Hooks {
                late: hook!(proxy::server_late),
                ..NONE
            }),
        },
        Entry {
            kind: Cifs,
            client: Some(Hooks {
                middle: hook!(cifs::client_middle),
                ..NONE
            }),
            server: Some(Hooks {
                early: hook!(cifs::server_early),
                ..NONE
            }),
        },
        Entry {
            kind: Pgsql,
            client: Some(Hooks {
                middle: hook!(pgsql::client_middle),
                ..NONE
            }),
            server: Some(Hooks {
                early: hook!(pgsql::server_early),
                ..NONE
            }),
        },
        Entry {
            kind: Smtp,
            client: Some(Hooks {
                middle: hook!(smtp::client_middle),
                late: hook!(smtp::client_late),
                ..NONE
            }),
            server: Some(Hooks {
                middle: hook!(smtp::server_middle),
                ..NONE
            }),
        },
        Entry {
            kind: Pop3,
            client: Some(Hooks {
                middle: hook!(pop3::client_middle),
                ..NONE
            }),
            server: Some(Hooks {
                middle: hook!(pop3::server_middle),
                ..NONE
            }),
        },
        Entry {
            kind: Imap,
            client: Some(Hooks {
                middle: hook!(imap::client_middle),
                ..NONE
            }),
            server: Some(Hooks {
                middle: hook!(imap::server_middle),
                ..NONE
            }),
        },
        Entry {
            kind: Nntp,
            client: Some(Hooks {
                middle: hook!(nntp::client_middle),
                ..NONE
            }),
            server: None,
        },
        Entry {
            kind: Ldap,
            client: Some(Hooks {
                middle: hook!(ldap::client_middle),
                ..NONE
            }),
            server: None,
        },
        Entry {
            kind: Connect,
            client: Some(Hooks {
                middle: hook!(connect::client_middle),
                ..NONE
            }),
            server: Some(Hooks {
                early: hook!(connect::server_early),
                ..NONE
            }),
        },
        Entry {
            kind: Capwin,
            client: Some(Hooks {
                late: hook!(capwin::client_late),
                ..NONE
            }),
            server: Some(Hooks {
                middle: hook!(capwin::server_middle),
                late: hook!(capwin::server_late),
                ..NONE
            }),
        },
        Entry {
            kind: Capwinctrl,
            client: Some(Hooks {
                early: hook!(capwin::ctrl_client_early),
                ..NONE
            }),
            server: None,
        },
    ]
}

pub(super) fn entry(kind: ProtocolKind) -> Entry {
    // The table has one row per ProtocolKind variant (see the unit test).
    let mut rows = table().into_iter();
    match rows.find(|e| e.kind == kind) {
        Some(e) => e,
        None => unreachable!("protocol table misses {kind:?}"),
    }
}
