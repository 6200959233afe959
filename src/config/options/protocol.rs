//! `protocol` names and modes. The name is kept as written (`table.rs`) and
//! checked when the section ends (stunnel 5.68 reports an unknown name or a
//! protocol/mode mismatch as `Service [x]: …`, not as a line error).

use crate::config::model::ProtocolKind;

/// Names stunnel 5.68 knows (case-insensitive) and, per mode, whether the
/// protocol is available: (name, kind, client, server).
pub static PROTOCOLS: &[(&str, ProtocolKind, bool, bool)] = &[
    ("cifs", ProtocolKind::Cifs, true, true),
    ("capwin", ProtocolKind::Capwin, true, true),
    ("capwinctrl", ProtocolKind::Capwinctrl, true, false),
    ("connect", ProtocolKind::Connect, true, true),
    ("imap", ProtocolKind::Imap, true, true),
    ("ldap", ProtocolKind::Ldap, true, false),
    ("nntp", ProtocolKind::Nntp, true, false),
    ("pgsql", ProtocolKind::Pgsql, true, true),
    ("pop3", ProtocolKind::Pop3, true, true),
    ("proxy", ProtocolKind::Proxy, false, true),
    ("smtp", ProtocolKind::Smtp, true, true),
    ("socks", ProtocolKind::Socks, true, true),
];

/// Resolve a protocol name for a section in `client` mode, with stunnel
/// 5.68's messages.
pub fn check(name: &str, client: bool) -> Result<ProtocolKind, String> {
    let (canon, kind, in_client, in_server) = PROTOCOLS
        .iter()
        .find(|(n, ..)| n.eq_ignore_ascii_case(name))
        .ok_or("Protocol not supported")?;
    match (client, in_client, in_server) {
        (true, false, _) => Err(format!(
            "The '{canon}' protocol is not supported in the client mode"
        )),
        (false, _, false) => Err(format!(
            "The '{canon}' protocol is not supported in the server mode"
        )),
        _ => Ok(*kind),
    }
}

/// Server-mode smtp/pop3/imap connect the remote before TLS; so does every
/// client section. `redirect` is incompatible with that.
pub fn connects_before_tls(kind: Option<ProtocolKind>, client: bool) -> bool {
    client
        || matches!(
            kind,
            Some(ProtocolKind::Smtp | ProtocolKind::Pop3 | ProtocolKind::Imap)
        )
}

/// Protocols that supply a target and count as an endpoint: SOCKS server,
/// capwinctrl client.
pub fn is_endpoint(kind: ProtocolKind, client: bool) -> bool {
    matches!(
        (kind, client),
        (ProtocolKind::Socks, false) | (ProtocolKind::Capwinctrl, true)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
