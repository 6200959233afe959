//! The shipped example configurations (copies of /work/shared/conf-examples
//! in `tests/conf/valid/`, adapted where the original cannot load; each
//! adaptation is commented in the file) must parse, without opening any
//! certificate file, into the values they say.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use rstunnel::config::model::{
    Config, Endpoint, Failover, Foreground, ProtocolKind, Service, SniRoute, SocketValue,
    TlsVersion, VerifyFlags,
};
use rstunnel::config::{self, Source};

fn load(name: &str) -> Config {
    let path = PathBuf::from("tests/conf/valid").join(name);
    match config::load(&Source::File(path)) {
        Ok(c) => c,
        Err(e) => panic!("{name}: {:?}", e.lines()),
    }
}

fn svc<'a>(c: &'a Config, name: &str) -> &'a Service {
    c.services
        .iter()
        .find(|s| s.options.name == name)
        .expect("section")
}

fn inet(host: Option<&str>, port: u16) -> Endpoint {
    Endpoint::Inet {
        host: host.map(str::to_string),
        port,
    }
}

#[test]
fn every_valid_fixture_parses() {
    let mut n = 0;
    for e in std::fs::read_dir("tests/conf/valid").expect("dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "conf") {
            n += 1;
            let c = config::load(&Source::File(p.clone()));
            assert!(
                c.is_ok(),
                "{}: {:?}",
                p.display(),
                c.err().map(|e| e.lines())
            );
        }
    }
    assert_eq!(n, 6);
}

#[test]
fn legacy_bridge() {
    let c = load("legacy-bridge.conf");
    assert_eq!(c.global.foreground, Foreground::Yes);
    assert_eq!(c.global.debug.level, 6);
    let inb = svc(&c, "legacy-in");
    assert!(!inb.options.client);
    assert_eq!(inb.accept, vec![inet(Some("0.0.0.0"), 8443)]);
    assert_eq!(
        inb.options.cert,
        Some(PathBuf::from("/etc/rstunnel/legacy.pem"))
    );
    assert_eq!(
        inb.options.key(),
        inb.options.cert.as_deref(),
        "key defaults to cert"
    );
    assert_eq!(inb.options.min_version, Some(TlsVersion::Tls1));
    assert_eq!(inb.options.max_version, Some(TlsVersion::Tls1_2));
    assert_eq!(
        inb.options.ciphers(),
        "AES128-SHA:AES256-SHA:HIGH:@SECLEVEL=0"
    );
    assert_eq!(inb.options.options_set, 1 << 22);
    assert_eq!(inb.options.options_clear, 1 << 30);
    assert_eq!(inb.options.debug_level, 6, "global debug is inherited");
    let out = svc(&c, "modern-out");
    assert!(out.options.client);
    assert_eq!(out.connect, vec![inet(Some("api.example.net"), 443)]);
    assert_eq!(out.options.min_version, Some(TlsVersion::Tls1_3));
    assert_eq!(
        out.options.verify,
        VerifyFlags {
            request: true,
            require: true,
            chain: true,
            peer: false
        }
    );
    assert_eq!(out.options.check_host, vec!["api.example.net".to_string()]);
    assert_eq!(out.sni_name.as_deref(), Some("api.example.net"));
    assert_eq!(out.options.ciphers(), "HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK");
}

#[test]
fn proxy_and_failover() {
    let c = load("proxy-and-failover.conf");
    assert!(!c.global.syslog, "set by the included file");
    assert_eq!(
        c.global.output,
        Some(PathBuf::from("/var/log/rstunnel.log"))
    );
    let via = svc(&c, "via-proxy");
    let p = via.protocol.as_ref().expect("protocol");
    assert_eq!(p.kind, ProtocolKind::Connect);
    assert_eq!(p.host.as_deref(), Some("partner.example.com:443"));
    assert_eq!(p.username.as_deref(), Some("svc"));
    assert_eq!(p.password.as_deref(), Some("secret"));
    assert_eq!(via.sni_name.as_deref(), Some("partner.example.com"));
    let pool = svc(&c, "pool");
    assert_eq!(pool.connect.len(), 3);
    assert_eq!(pool.options.failover, Failover::RoundRobin);
    assert_eq!(
        pool.protocol.as_ref().map(|p| p.kind),
        Some(ProtocolKind::Proxy)
    );
    assert_eq!(pool.options.timeouts.connect, Some(Duration::from_secs(3)));
    assert_eq!(pool.options.retry, None);
    assert_eq!(pool.accept, vec![inet(None, 8443)]);
}

#[test]
fn redrock_trac_server_inherits_global_values() {
    let c = load("redrock-trac-server.conf");
    // No [section]: the global options define service [stunnel].
    let s = svc(&c, "stunnel");
    // No cert.pem beside the fixture: the names stay as written.
    assert_eq!(s.options.cert, Some(PathBuf::from("cert.pem")));
    assert_eq!(s.options.key, Some(PathBuf::from("key.pem")));
    // `output = stunnel.log` in the background: beside the file, as on
    // Windows (stunnel on Unix refuses the relative name).
    let fixtures = std::fs::canonicalize("tests/conf/valid").unwrap();
    assert_eq!(c.global.output, Some(fixtures.join("stunnel.log")));
    assert_eq!(s.options.debug_level, 3);
    assert_eq!(s.options.timeouts.close, Some(Duration::ZERO));
    let nodelay = |l: &[rstunnel::config::model::SocketOption]| {
        l.iter()
            .filter(|o| o.label == "TCP_NODELAY")
            .map(|o| o.value.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        nodelay(&s.options.socket_options.local),
        vec![SocketValue::Int(1)]
    );
    assert_eq!(
        nodelay(&s.options.socket_options.remote),
        vec![SocketValue::Int(1)]
    );
    assert_eq!(s.options.socket_options.accept[0].label, "SO_REUSEADDR");
}

#[test]
fn smtps_wrapper() {
    let c = load("smtps-wrapper.conf");
    assert_eq!(c.global.pid, Some(PathBuf::from("/run/rstunnel/smtp.pid")));
    assert_eq!(c.global.debug.facility, libc::LOG_MAIL);
    assert_eq!(c.global.debug.level, 5);
    assert!(c.global.setuid.is_some() && c.global.setgid.is_some());
    let smtps = svc(&c, "smtps");
    assert_eq!(smtps.connect, vec![inet(None, 25)]);
    assert_eq!(
        smtps.options.key,
        Some(PathBuf::from("/etc/ssl/private/mail.key"))
    );
    let relay = svc(&c, "relay-starttls");
    assert_eq!(
        relay.protocol.as_ref().map(|p| p.kind),
        Some(ProtocolKind::Smtp)
    );
    assert_eq!(
        relay.options.ca_file,
        Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt"))
    );
    assert_eq!(relay.sni_name.as_deref(), Some("relay.example.net"));
    assert_eq!(
        relay.options.socket_owner, c.global.setuid,
        "global setuid is the socket owner too"
    );
}

#[test]
fn sni_and_clientauth() {
    let c = load("sni-and-clientauth.conf");
    let front = svc(&c, "front");
    assert_eq!(front.accept, vec![inet(Some("::"), 443)]);
    assert_eq!(front.sni_route, None);
    let admin = svc(&c, "admin");
    assert_eq!(
        admin.sni_route,
        Some(SniRoute {
            primary: "front".into(),
            pattern: "admin.example.org".into()
        })
    );
    assert!(admin.accept.is_empty());
    assert_eq!(
        admin.options.verify,
        VerifyFlags {
            request: true,
            require: true,
            chain: true,
            peer: false
        }
    );
    assert_eq!(
        admin.options.crl_file,
        Some(PathBuf::from("/etc/rstunnel/clients.crl"))
    );
    let wild = svc(&c, "wildcard");
    assert_eq!(
        wild.sni_route.as_ref().map(|r| r.pattern.as_str()),
        Some("*.apps.example.org")
    );
    assert_eq!(wild.options.timeouts.idle, Some(Duration::from_secs(600)));
}

#[test]
fn trackabout_client() {
    let c = load("trackabout-client.conf");
    assert_eq!(c.services.len(), 2);
    for (name, host) in [
        ("trackabout", "www.trackabout.com"),
        ("trackabout-test", "test.trackabout.com"),
    ] {
        let s = svc(&c, name);
        assert!(s.options.client);
        assert_eq!(s.options.min_version, Some(TlsVersion::Tls1_2));
        assert_eq!(s.options.max_version, Some(TlsVersion::Tls1_2));
        assert_eq!(s.sni_name.as_deref(), Some(host));
        assert_eq!(s.options.ciphers(), "HIGH:!aNULL:!MD5");
        assert_eq!(s.options.timeouts.idle, Some(Duration::from_secs(60)));
        assert_eq!(s.options.timeouts.close, Some(Duration::ZERO));
        assert_eq!(s.options.debug_level, 3);
    }
    let first = svc(&c, "trackabout");
    assert_eq!(first.accept, vec![inet(Some("127.0.0.1"), 8443)]);
    let _: Option<IpAddr> = first.options.local;
}
