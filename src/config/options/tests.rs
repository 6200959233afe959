//! Option lines read through the declarations (`table.rs`), as the reader
//! applies them: values, stunnel's messages, and the options that write
//! several fields or depend on where they are.

use std::path::PathBuf;
use std::time::Duration;

use super::all;
use super::declare::Failure;
use super::{lookup, Apply, Global, Lookup, ServiceOptions, Support, Target};
use crate::config::types::{LogId, SocketValue, TlsVersion, Transparent, VerifyFlags};

/// Apply `lines` (option name, value) to fresh sections, in the global
/// section or in a `[section]`.
fn read(in_global: bool, lines: &[(&str, &str)]) -> (Result<(), Failure>, Global, ServiceOptions) {
    let mut global = Global::default();
    let mut service = ServiceOptions::default();
    for (name, value) in lines {
        let Lookup::Found(def) = lookup(name, in_global) else {
            panic!("no option {name}");
        };
        let Apply::Value(apply) = def.apply else {
            panic!("{name} takes no value");
        };
        let mut target = Target {
            global: &mut global,
            service: &mut service,
            in_global,
        };
        if let Err(e) = apply(&mut target, value) {
            return (Err(e), global, service);
        }
    }
    (Ok(()), global, service)
}

/// `name = value` lines in a `[section]`; the reason on failure.
fn service(name: &str, values: &[&str]) -> Result<ServiceOptions, String> {
    let lines: Vec<(&str, &str)> = values.iter().map(|v| (name, *v)).collect();
    let (result, _, s) = read(false, &lines);
    result.map(|()| s).map_err(|e| e.reason)
}

/// The whole failure (reason and the lines before it) of one line.
fn failure(name: &str, value: &str) -> Failure {
    read(false, &[(name, value)]).0.expect_err("invalid")
}

/// Each of `values` on a `name` line in a section fails with `reason`.
fn assert_refused(name: &str, values: &[&str], reason: &str) {
    for value in values {
        assert_eq!(service(name, &[value]).unwrap_err(), reason, "{value:?}");
    }
}

fn one(name: &str, value: &str) -> Result<ServiceOptions, String> {
    service(name, &[value])
}

fn with(in_global: bool, lines: &[(&str, &str)]) -> (Result<(), Failure>, Global, ServiceOptions) {
    read(in_global, lines)
}

fn flags(lines: &[(&str, &str)]) -> VerifyFlags {
    let (result, _, s) = read(false, lines);
    result.expect("valid");
    s.verify
}

fn vf(request: bool, require: bool, chain: bool, peer: bool) -> VerifyFlags {
    VerifyFlags {
        request,
        require,
        chain,
        peer,
    }
}

#[test]
fn socket_values() {
    for ok in [
        "a:SO_REUSEADDR=1",
        "a:SO_KEEPALIVE=YES",
        "a:SO_RCVBUF=",
        "a:SO_RCVBUF=-3",
        "a:SO_RCVBUF=99999999999",
        "a:SO_LINGER=1",
        "a:SO_LINGER=1:5",
        "a:SO_RCVTIMEO=5",
        "a:SO_RCVTIMEO=5:7",
        "a:SO_BINDTODEVICE=eth0",
        "a:IPV6_V6ONLY=yes",
    ] {
        assert!(service("socket", &[ok]).is_ok(), "{ok}");
    }
    assert_refused(
        "socket",
        &[
            "x:SO_REUSEADDR=1",
            "A:SO_REUSEADDR=1",
            "a:so_reuseaddr=1",
            "a:SO_REUSEADDR = 1",
            "a:SO_REUSEADDR=maybe",
            "a:SO_RCVBUF=12x",
            "a:SO_LINGER=1:x",
            "a:SO_LINGER=yes:5",
            "a:SO_BINDTODEVICE=0123456789abcdef",
            "a:TCP_MAXSEG=5",
            "a",
            "a:",
            "a:SO_REUSEADDR",
        ],
        "Illegal socket option",
    );
}

#[test]
fn socket_slots_replace_and_keep_table_order() {
    let s = service(
        "socket",
        &[
            "l:SO_KEEPALIVE=yes",
            "l:TCP_NODELAY=no",
            "a:SO_REUSEADDR=no",
        ],
    )
    .expect("valid");
    let labels: Vec<_> = s.socket_options.local.iter().map(|o| o.label).collect();
    assert_eq!(labels, vec!["SO_KEEPALIVE", "TCP_NODELAY"]);
    assert_eq!(s.socket_options.local[1].value, SocketValue::Int(0));
    assert_eq!(s.socket_options.accept.len(), 1);
    assert_eq!(s.socket_options.accept[0].value, SocketValue::Int(0));
    assert_eq!(s.socket_options.remote[0].label, "TCP_NODELAY");
}

#[test]
fn exec_and_exec_args_order() {
    let s = service("exec", &["/bin/cat", "/bin/echo"]).expect("valid");
    assert_eq!(s.exec, Some(PathBuf::from("/bin/echo")));
    assert_eq!(s.exec_args, Some(vec!["/bin/cat".to_string()]));
    let s = service("execArgs", &["a  b\tc"]).expect("valid");
    assert_eq!(s.exec_args, Some(vec!["a".into(), "b".into(), "c".into()]));
    // `execArgs` first: a later `exec` keeps it.
    let (result, _, s) = read(false, &[("execArgs", "a  b\tc"), ("exec", "/bin/x")]);
    result.expect("valid");
    assert_eq!(s.exec_args, Some(vec!["a".into(), "b".into(), "c".into()]));
}

#[test]
fn keyword_messages_name_every_choice() {
    for (name, reason) in [
        (
            "foreground",
            "The argument needs to be either 'yes', 'quiet' or 'no'",
        ),
        (
            "log",
            "The argument needs to be either 'append' or 'overwrite'",
        ),
    ] {
        let (result, _, _) = with(true, &[(name, "maybe")]);
        assert_eq!(result.unwrap_err().reason, reason);
    }
}

#[test]
fn enumerations() {
    assert_eq!(
        service("transparent", &["YES"]).map(|s| s.transparent),
        Ok(Transparent::Source)
    );
    assert_refused(
        "transparent",
        &["maybe"],
        "Selected transparent proxy mode is not available",
    );
    assert_eq!(
        service("logId", &["UNIQUE"]).map(|s| s.log_id),
        Ok(LogId::Unique)
    );
    assert_refused("logId", &["x"], "Invalid connection identifier type");
    assert_refused(
        "failover",
        &["x"],
        "The argument needs to be either 'rr' or 'prio'",
    );
    // 5.70+: yes = 1000 ms, a number is milliseconds, 0 is no retry.
    assert_eq!(
        service("retry", &["yes"]).map(|s| s.retry),
        Ok(Some(Duration::from_secs(1)))
    );
    assert_eq!(service("retry", &["NO"]).map(|s| s.retry), Ok(None));
    assert_eq!(
        service("retry", &["10"]).map(|s| s.retry),
        Ok(Some(Duration::from_millis(10)))
    );
    assert_eq!(service("retry", &["0"]).map(|s| s.retry), Ok(None));
    assert_refused("retry", &["-1", "maybe", "10ms", ""], "Illegal retry delay");
    assert_refused("stack", &["x"], "Illegal thread stack size");
    assert_eq!(service("stack", &["-1"]).map(|s| s.stack), Ok(-1));
}

#[test]
fn local_address() {
    let s = service("local", &["127.0.0.1"]).expect("valid");
    assert_eq!(s.local, Some("127.0.0.1".parse().expect("ip")));
    assert_eq!(
        service("local", &["::1"]).map(|s| s.local),
        Ok(Some("::1".parse().expect("ip")))
    );
}
#[test]
fn options_masks_match_stunnel_debug_line() {
    // stunnel logs `+0x14000000, -0x2000000` for these three lines.
    let s = service("options", &["NO_TLSv1", "-NO_SSLv3", "no_tlsv1_1"]).expect("valid");
    assert_eq!((s.options_set, s.options_clear), (0x1400_0000, 0x0200_0000));
    assert_refused(
        "options",
        &["FOO", "-FOO", "", "- NO_TICKET", "0x4"],
        "Illegal TLS option",
    );
    let s = service("options", &["NO_SSLv2", "SINGLE_DH_USE"]).expect("zero-valued names");
    assert_eq!(s.options_set, 0);
}

#[test]
fn versions() {
    let s = service("sslVersion", &["tlsv1.2"]).expect("valid");
    assert_eq!(
        (s.min_version, s.max_version),
        (Some(TlsVersion::Tls1_2), Some(TlsVersion::Tls1_2))
    );
    let s = service("sslVersion", &["TLSv1.2", "all"]).expect("valid");
    assert_eq!((s.min_version, s.max_version), (None, None));
    assert_refused(
        "sslVersion",
        &["SSLv2", "TLSv1.4", ""],
        "Invalid protocol version",
    );
}

#[test]
fn security_level_range() {
    assert_eq!(
        service("securityLevel", &["5"]).map(|s| s.security_level),
        Ok(Some(5))
    );
    assert_refused("securityLevel", &["6", "-1", "x"], "Illegal security level");
}

#[test]
fn ticket_secrets() {
    let s = service(
        "ticketKeySecret",
        &["00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:FF"],
    )
    .expect("valid");
    assert_eq!(s.ticket_key.map(|k| k.len()), Some(16));
    assert!(service("ticketKeySecret", &["::00112233445566778899aabbccddeeff:"]).is_ok());
    let e = failure("ticketKeySecret", "xyz");
    assert_eq!(
        (e.before, e.reason),
        (
            vec!["Required ticketKeySecret is 16 or 32 byte hexadecimal key".to_string()],
            "Failed to read ticketKeySecret".to_string()
        )
    );
    assert!(service("ticketKeySecret", &["0:11"]).is_err());
    assert!(service("ticketKeySecret", &[""]).is_err());
    let e = failure("ticketMacSecret", "0011");
    assert_eq!(
        e.before,
        vec!["ticketMacSecret value has 2 bytes instead of required 16 or 32 bytes".to_string()]
    );
    assert_eq!(e.reason, "Failed to read ticketMacSecret");
}

#[test]
fn config_commands_split_at_first_colon() {
    let s = service("config", &["Options:-SessionTicket", "Foo"]).expect("valid");
    assert_eq!(
        s.conf_cmds,
        vec![
            ("Options".to_string(), Some("-SessionTicket".to_string())),
            ("Foo".to_string(), None)
        ]
    );
}
#[test]
fn values_and_messages() {
    assert_eq!(
        one("TIMEOUTidle", "60").map(|s| s.timeouts.idle),
        Ok(Some(Duration::from_secs(60)))
    );
    assert_eq!(one("TIMEOUTidle", "-5").map(|s| s.timeouts.idle), Ok(None));
    assert_eq!(
        one("TIMEOUTclose", "0").map(|s| s.timeouts.close),
        Ok(Some(Duration::ZERO))
    );
    assert_eq!(
        one("TIMEOUTidle", "5x").unwrap_err(),
        "Illegal idle timeout"
    );
    assert_eq!(one("TIMEOUTidle", "").unwrap_err(), "Illegal idle timeout");
    assert_eq!(one("TIMEOUTbusy", "x").unwrap_err(), "Illegal busy timeout");
    assert_eq!(
        one("TIMEOUTclose", "x").unwrap_err(),
        "Illegal close timeout"
    );
    assert_eq!(
        one("TIMEOUTconnect", "x").unwrap_err(),
        "Illegal connect timeout"
    );
    assert_eq!(
        one("TIMEOUTocsp", "x").unwrap_err(),
        "Illegal OCSP connect timeout"
    );
}
#[test]
fn verify_table() {
    assert_eq!(flags(&[("verify", "0")]), vf(true, false, false, false));
    assert_eq!(flags(&[("verify", "1")]), vf(true, false, true, false));
    assert_eq!(flags(&[("verify", "2")]), vf(true, true, true, false));
    assert_eq!(flags(&[("verify", "3")]), vf(true, true, true, true));
    assert_eq!(flags(&[("verify", "4")]), vf(true, true, false, true));
    // File order matters: verify the client cert only if one is sent.
    assert_eq!(
        flags(&[("verifyChain", "yes"), ("requireCert", "no")]),
        vf(true, false, true, false)
    );
    assert_eq!(
        flags(&[("verifyPeer", "yes"), ("verifyPeer", "no")]),
        vf(true, true, false, false)
    );
    assert_eq!(
        flags(&[("verify", "3"), ("verifyChain", "no")]),
        vf(true, true, false, true)
    );
}

#[test]
fn debug_forms() {
    let (r, g, s) = with(true, &[("debug", "LOCAL3.Info")]);
    assert!(r.is_ok());
    assert_eq!(
        (g.debug.facility, g.debug.level, s.debug_level),
        (libc::LOG_LOCAL3, 6, 6)
    );
    let (r, _, s) = with(false, &[("debug", "7")]);
    assert!(r.is_ok());
    assert_eq!(s.debug_level, 7);
    for (global, v, msg) in [
        (false, "local3.7", "Illegal debug level"),
        (true, "07", "Illegal debug level"),
        (true, "8", "Illegal debug level"),
        (true, "error", "Illegal debug level"),
        (true, "", "Illegal debug level"),
        (true, "daemon.", "Illegal debug level"),
        (true, "daemon.5x", "Illegal debug level"),
        (true, "ntp.5", "Illegal syslog facility"),
        (true, ".5", "Illegal syslog facility"),
        (true, "a.b.c", "Illegal syslog facility"),
    ] {
        let (r, _, _) = with(global, &[("debug", v)]);
        assert_eq!(r.unwrap_err().reason, msg, "{v}");
    }
}

#[test]
fn set_env_forms() {
    let (_, g, _) = with(
        true,
        &[("setEnv", "A=b=c"), ("setEnv", "B="), ("setEnv", "C")],
    );
    assert_eq!(
        g.set_env,
        vec![
            ("A".to_string(), Some("b=c".to_string())),
            ("B".to_string(), None),
            ("C".to_string(), None)
        ]
    );
}

#[test]
fn lookup_scopes_and_case() {
    assert!(matches!(lookup("CHROOT", true), Lookup::Found(d) if d.name == "chroot"));
    assert!(matches!(lookup("chroot", false), Lookup::NotValidHere));
    assert!(matches!(lookup("Connect", false), Lookup::Found(d) if d.name == "connect"));
    assert!(matches!(lookup("TIMEOUT idle", true), Lookup::NotValidHere));
    assert!(matches!(lookup("", true), Lookup::NotValidHere));
}

#[test]
fn names_are_unique() {
    let options: Vec<_> = all().collect();
    for (i, a) in options.iter().enumerate() {
        for b in &options[i + 1..] {
            assert!(!a.name.eq_ignore_ascii_case(b.name), "duplicate {}", a.name);
        }
    }
}

#[test]
fn refused_set_is_the_briefed_one() {
    let mut refused: Vec<&str> = all()
        .filter(|d| d.support != Support::Implemented)
        .map(|d| d.name)
        .collect();
    refused.sort_unstable();
    assert_eq!(
        refused,
        vec![
            "CAengine",
            "CAstore",
            "EGD",
            "compression",
            "engine",
            "engineCtrl",
            "engineDefault",
            "engineId",
            "engineNum",
            "libwrap",
            "providerParameter",
            "sessiond"
        ]
    );
}
