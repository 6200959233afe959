//! Each `protocol =` negotiator's facts, once: its name, the modes it
//! supports, whether server mode connects the backend before TLS, whether it
//! is an endpoint (stunnel-reference §4.1). The configuration checks read
//! them here; the protocol layer's hook table (`protocol/table.rs`) has one
//! column per supported mode and a test that it agrees with this table.

use super::types::ProtocolKind;

/// What stunnel 5.68's `protocol()` chain knows of one negotiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    pub kind: ProtocolKind,
    /// The name in `protocol = …` (matched case-insensitively) and in the
    /// mode errors.
    pub name: &'static str,
    /// Supported in client mode / server mode.
    pub client: bool,
    pub server: bool,
    /// Server mode needs the backend before TLS (stunnel's
    /// `connect_before_ssl`: the backend's greeting comes first).
    pub server_connects_first: bool,
    /// The protocol supplies the target or never connects, so the section
    /// needs no `connect` (stunnel's `protocol_endpoint`): client, server.
    pub endpoint: (bool, bool),
}

const fn row(
    kind: ProtocolKind,
    name: &'static str,
    (client, server): (bool, bool),
    server_connects_first: bool,
    endpoint: (bool, bool),
) -> Facts {
    Facts {
        kind,
        name,
        client,
        server,
        server_connects_first,
        endpoint,
    }
}

use ProtocolKind::*;

/// Every negotiator, in stunnel 5.68's order of names.
pub static PROTOCOLS: [Facts; 12] = [
    row(Cifs, "cifs", (true, true), false, (false, false)),
    row(Capwin, "capwin", (true, true), false, (false, false)),
    row(
        Capwinctrl,
        "capwinctrl",
        (true, false),
        false,
        (true, false),
    ),
    row(Connect, "connect", (true, true), false, (false, false)),
    row(Imap, "imap", (true, true), true, (false, false)),
    row(Ldap, "ldap", (true, false), false, (false, false)),
    row(Nntp, "nntp", (true, false), false, (false, false)),
    row(Pgsql, "pgsql", (true, true), false, (false, false)),
    row(Pop3, "pop3", (true, true), true, (false, false)),
    row(Proxy, "proxy", (false, true), false, (false, false)),
    row(Smtp, "smtp", (true, true), true, (false, false)),
    row(Socks, "socks", (true, true), false, (false, true)),
];

/// The facts of `kind`.
pub fn facts(kind: ProtocolKind) -> &'static Facts {
    match PROTOCOLS.iter().find(|f| f.kind == kind) {
        Some(f) => f,
        None => unreachable!("PROTOCOLS misses {kind:?} (see the unit test)"),
    }
}

/// Is `kind` supported in this mode? The error is 5.68's text, e.g.
/// `The 'nntp' protocol is not supported in the server mode`.
pub fn check_mode(kind: ProtocolKind, client: bool) -> Result<(), String> {
    let f = facts(kind);
    if (client && f.client) || (!client && f.server) {
        return Ok(());
    }
    let mode = if client { "client" } else { "server" };
    Err(format!(
        "The '{}' protocol is not supported in the {mode} mode",
        f.name
    ))
}

/// Resolve a `protocol =` name for a section in `client` mode, with stunnel
/// 5.68's messages.
pub fn check(name: &str, client: bool) -> Result<ProtocolKind, String> {
    let f = PROTOCOLS
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .ok_or("Protocol not supported")?;
    check_mode(f.kind, client).map(|()| f.kind)
}

/// Client sections always connect before TLS; server sections only with
/// smtp, pop3 and imap. `redirect` and SNI secondaries cannot work then.
pub fn connects_before_tls(kind: Option<ProtocolKind>, client: bool) -> bool {
    client || kind.is_some_and(|k| facts(k).server_connects_first)
}

/// The protocol counts as the section's endpoint (SOCKS server, capwinctrl
/// client).
pub fn is_endpoint(kind: ProtocolKind, client: bool) -> bool {
    let (c, s) = facts(kind).endpoint;
    if client {
        c
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_kind() {
        for f in &PROTOCOLS {
            assert_eq!(PROTOCOLS.iter().filter(|g| g.kind == f.kind).count(), 1);
        }
    }

    #[test]
    fn connect_order_and_endpoints_follow_the_reference() {
        for f in &PROTOCOLS {
            assert!(connects_before_tls(Some(f.kind), true));
            let first = matches!(f.kind, Smtp | Pop3 | Imap);
            assert_eq!(
                connects_before_tls(Some(f.kind), false),
                first,
                "{:?}",
                f.kind
            );
        }
        assert!(!connects_before_tls(None, false));
        assert!(connects_before_tls(None, true));
        assert!(is_endpoint(Socks, false));
        assert!(!is_endpoint(Socks, true));
        assert!(is_endpoint(Capwinctrl, true));
        assert!(!is_endpoint(Connect, false));
    }

    #[test]
    fn mode_messages() {
        assert_eq!(check("SOCKS", false), Ok(ProtocolKind::Socks));
        assert_eq!(
            check("foo", true),
            Err("Protocol not supported".to_string())
        );
        assert_eq!(
            check("proxy", true),
            Err("The 'proxy' protocol is not supported in the client mode".to_string())
        );
        for p in ["nntp", "ldap", "capwinctrl"] {
            assert_eq!(
                check(p, false),
                Err(format!(
                    "The '{p}' protocol is not supported in the server mode"
                ))
            );
        }
    }
}
