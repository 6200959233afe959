//! `protocolDestination` (rstunnel extension): where a server-mode CONNECT
//! or SOCKS negotiation may take a client. In stunnel such a service is an
//! open proxy to anything the host can reach; without rules rstunnel keeps
//! that for addresses but refuses Unix sockets (`CONNECT /run/admin.sock`
//! would reach a local control socket). With rules, only what they list.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path};

use super::hook::Target;
use crate::config::model::Destination;
use crate::log::ERR;

/// What the rules allow of `target` (the addresses that match, in order);
/// `None`, after an error line, if nothing is left.
pub(super) fn permitted(rules: &[Destination], target: Target) -> Option<Target> {
    match target {
        Target::Addrs(addrs) => {
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| rules.is_empty() || rules.iter().any(|r| address_matches(r, a)))
                .collect();
            if allowed.is_empty() {
                if let Some(first) = addrs.first() {
                    crate::slog!(
                        ERR,
                        "Destination {first} not allowed by protocolDestination"
                    );
                }
                return None;
            }
            Some(Target::Addrs(allowed))
        }
        Target::Unix(path) => {
            if rules.iter().any(|r| path_matches(r, &path)) {
                return Some(Target::Unix(path));
            }
            crate::slog!(
                ERR,
                "Destination {} not allowed by protocolDestination",
                path.display()
            );
            None
        }
    }
}

fn address_matches(rule: &Destination, addr: &SocketAddr) -> bool {
    let Destination::Inet { network, ports } = rule else {
        return false;
    };
    let in_ports = (ports.0..=ports.1).contains(&addr.port());
    let in_network = match network {
        None => true,
        Some((net, prefix)) => same_prefix(*net, addr.ip(), *prefix),
    };
    in_ports && in_network
}

/// `ip` lies in `net`/`prefix` (same address family only).
pub fn same_prefix(net: IpAddr, ip: IpAddr, prefix: u8) -> bool {
    let (a, b, bits): (u128, u128, u8) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        _ => return false,
    };
    let shift = u32::from(bits.saturating_sub(prefix.min(bits)));
    a.checked_shr(shift).unwrap_or(0) == b.checked_shr(shift).unwrap_or(0)
}

/// A listed socket, or one below a listed directory (`/dir/`) by a plain
/// path (no `..`).
fn path_matches(rule: &Destination, path: &Path) -> bool {
    let Destination::Unix(allowed) = rule else {
        return false;
    };
    if allowed.as_os_str().as_encoded_bytes().ends_with(b"/") {
        path.starts_with(allowed) && path.components().all(|c| c != Component::ParentDir)
    } else {
        path == allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn inet(net: Option<(&str, u8)>, ports: (u16, u16)) -> Destination {
        Destination::Inet {
            network: net.map(|(ip, p)| (ip.parse().unwrap(), p)),
            ports,
        }
    }

    fn addrs(list: &[&str]) -> Target {
        Target::Addrs(list.iter().map(|a| a.parse().unwrap()).collect())
    }

    #[test]
    fn networks_ports_and_families() {
        let rules = [
            inet(Some(("10.1.0.0", 16)), (443, 443)),
            inet(Some(("::1", 128)), (1, 100)),
        ];
        assert_eq!(
            permitted(
                &rules,
                addrs(&["10.1.2.3:443", "10.2.0.1:443", "10.1.2.3:80"])
            ),
            Some(addrs(&["10.1.2.3:443"]))
        );
        assert_eq!(
            permitted(&rules, addrs(&["[::1]:99"])),
            Some(addrs(&["[::1]:99"]))
        );
        assert_eq!(
            permitted(&rules, addrs(&["[::2]:99", "127.0.0.1:443"])),
            None
        );
        let any = [inet(None, (0, u16::MAX))];
        assert_eq!(
            permitted(&any, addrs(&["1.2.3.4:5"])),
            Some(addrs(&["1.2.3.4:5"]))
        );
        assert_eq!(
            permitted(&[], addrs(&["1.2.3.4:5"])),
            Some(addrs(&["1.2.3.4:5"]))
        );
    }

    #[test]
    fn unix_sockets_only_when_listed() {
        let unix = |p: &str| Target::Unix(PathBuf::from(p));
        assert_eq!(permitted(&[], unix("/run/admin.sock")), None);
        let rules = [
            Destination::Unix("/run/app.sock".into()),
            Destination::Unix("/srv/sockets/".into()),
        ];
        assert!(permitted(&rules, unix("/run/app.sock")).is_some());
        assert!(permitted(&rules, unix("/srv/sockets/a.sock")).is_some());
        assert!(permitted(&rules, unix("/srv/sockets/../../run/admin.sock")).is_none());
        assert!(permitted(&rules, unix("/run/admin.sock")).is_none());
    }
}
