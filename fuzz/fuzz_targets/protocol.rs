//! Every `protocol = …` negotiation in both modes, fed by a hostile peer on
//! each side: SMTP, IMAP, POP3, NNTP, LDAP, PostgreSQL, CONNECT (with Basic
//! and NTLM proxy authentication), SOCKS 4/4a/5, CIFS, PROXY, capwin.
//!
//! Input: byte 0 picks the protocol, byte 1 the mode and settings, byte 2
//! the size of each read, byte 3 where the rest splits into what the
//! accepted side sends and what the connected side sends. The phases run
//! in order (early, middle, late) as a connection runs them, until one
//! fails. Name resolution and extra connections never touch the network.
#![no_main]

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use rstunnel::config::model::{Destination, Protocol, ProtocolKind, ProxyVersion};
use rstunnel::protocol::{self, Busy, Ctx, Io, Net, Phase};
use rstunnel_fuzz::ScriptedPeer;

/// Byte 0 indexes this (the seeds in `fuzz/seeds.py` follow its order).
const KINDS: [ProtocolKind; 12] = ProtocolKind::ALL;

/// Every name resolves to one documentation address; every connection is
/// another scripted peer playing `extra`.
struct FakeNet {
    extra: Vec<u8>,
    chunk: usize,
}

impl Net for FakeNet {
    fn resolve<'a>(
        &'a self,
        _host: Option<&'a str>,
        port: &'a str,
    ) -> protocol::BoxFuture<'a, Vec<SocketAddr>> {
        let port = port.parse::<u16>().unwrap_or(0);
        Box::pin(async move { vec![SocketAddr::from(([192, 0, 2, 1], port))] })
    }

    fn connect(&self, _addr: SocketAddr) -> protocol::BoxFuture<'_, io::Result<Box<dyn Io>>> {
        let peer: Box<dyn Io> = Box::new(ScriptedPeer::new(&self.extra, self.chunk));
        Box::pin(async move { Ok(peer) })
    }
}

fn settings(kind: ProtocolKind, flags: u8) -> Protocol {
    let authentication = match (flags >> 1) & 3 {
        1 => Some("basic".to_string()),
        2 => Some("ntlm".to_string()),
        _ => None,
    };
    let destinations = match (flags >> 3) & 3 {
        1 => vec![Destination::Inet {
            network: Some(("192.0.2.0".parse().expect("ip"), 24)),
            ports: (1, 1024),
        }],
        2 => vec![Destination::Unix(PathBuf::from("/run/fuzz/"))],
        _ => Vec::new(),
    };
    Protocol {
        kind,
        host: (flags & 0x20 != 0).then(|| "backend.example:8443".to_string()),
        username: Some("user".to_string()),
        password: Some("secret".to_string()),
        authentication,
        domain: (flags & 0x40 != 0).then(|| "DOMAIN".to_string()),
        headers: vec!["X-Fuzz: 1".to_string()],
        destinations,
        proxy_version: if flags & 0x80 != 0 {
            ProxyVersion::V2
        } else {
            ProxyVersion::V1
        },
    }
}

fuzz_target!(|data: &[u8]| {
    rstunnel_fuzz::quiet_log();
    let [kind, flags, chunk, split, rest @ ..] = data else {
        return;
    };
    let kind = KINDS[*kind as usize % KINDS.len()];
    let client = flags & 1 != 0;
    let settings = settings(kind, *flags);
    if protocol::check(&settings, client).is_err() {
        return;
    }
    let at = rest.len() * *split as usize / 255;
    let (local_bytes, remote_bytes) = rest.split_at(at);
    let chunk = (*chunk as usize).max(1);
    let net = FakeNet {
        extra: remote_bytes.to_vec(),
        chunk,
    };
    // The PROXY v2 writer's TLVs, with a host name taken from the input.
    let tls = protocol::TlsFacts {
        version: "TLSv1.3".to_string(),
        cipher: "TLS_AES_256_GCM_SHA384".to_string(),
        sni: Some(String::from_utf8_lossy(&rest[..rest.len().min(300)]).into_owned()),
        ..Default::default()
    };
    rstunnel_fuzz::block_on(async {
        let mut local = ScriptedPeer::new(local_bytes, chunk);
        let mut remote = ScriptedPeer::new(remote_bytes, chunk);
        for phase in [Phase::Early, Phase::Middle, Phase::Late] {
            let ctx = Ctx {
                settings: &settings,
                client,
                busy: Busy::new(Some(Duration::from_secs(10))),
                peer: Some(SocketAddr::from(([198, 51, 100, 7], 40000))),
                local_addr: Some(SocketAddr::from(([198, 51, 100, 1], 443))),
                service: "fuzz",
                original_dst: Some(SocketAddr::from(([192, 0, 2, 9], 25))),
                net: &net,
                tls: Some(&tls),
            };
            let remote = (phase != Phase::Early).then_some(&mut remote as &mut dyn Io);
            if protocol::run(phase, &ctx, &mut local, remote)
                .await
                .is_err()
            {
                break;
            }
        }
    });
});
