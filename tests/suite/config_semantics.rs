//! What a parsed configuration *means*: inheritance from the global
//! section, list appending, file-order rules, include semantics, inetd
//! mode. Each case is a short text parsed with `config::parse_text`.

use std::path::PathBuf;
use std::time::Duration;

use rstunnel::config::model::{Config, Endpoint, ProtocolKind, Service, Transparent, VerifyFlags};
use rstunnel::config::parse_text;

const CERT: &str = "cert = /nonexistent/never-opened.pem\n";

fn ok(text: &str) -> Config {
    match parse_text(text, "t.conf") {
        Ok(c) => c,
        Err(e) => panic!("{:?}", e.lines()),
    }
}

fn err(text: &str) -> String {
    match parse_text(text, "t.conf") {
        Ok(_) => panic!("parsed: {text}"),
        Err(e) => e.to_string(),
    }
}

fn only(c: &Config) -> &Service {
    assert_eq!(c.services.len(), 1);
    &c.services[0]
}

fn inet(host: Option<&str>, port: u16) -> Endpoint {
    Endpoint::Inet {
        host: host.map(str::to_string),
        port,
    }
}

#[test]
fn global_values_are_defaults_and_lists_append() {
    let c = ok(&format!(
        "connect = 10.0.0.1:80\nchecKHost = a.example\nTIMEOUTidle = 5\n{CERT}\
         verifyChain = yes\nCAfile = /ca.pem\n[s]\naccept = 1\nconnect = 10.0.0.2:80\n\
         checkHost = b.example\n"
    ));
    let s = only(&c);
    assert_eq!(
        s.connect,
        vec![inet(Some("10.0.0.1"), 80), inet(Some("10.0.0.2"), 80)]
    );
    assert_eq!(
        s.options.check_host,
        vec!["a.example".to_string(), "b.example".to_string()]
    );
    assert_eq!(s.options.timeouts.idle, Some(Duration::from_secs(5)));
    assert_eq!(
        s.options.cert,
        Some(PathBuf::from("/nonexistent/never-opened.pem"))
    );
}

#[test]
fn options_masks_inherit_and_extend() {
    let c = ok(&format!(
        "options = NO_TLSv1\noptions = -NO_TICKET\n{CERT}[s]\naccept = 1\nconnect = 2\n\
         options = NO_TLSv1_1\n[t]\naccept = 3\nconnect = 4\n"
    ));
    let s = &c.services[0];
    assert_eq!(s.options.options_set, (1 << 26) | (1 << 28));
    assert_eq!(s.options.options_clear, 1 << 14);
    assert_eq!(
        c.services[1].options.options_set,
        1 << 26,
        "sections do not leak into each other"
    );
}

#[test]
fn verify_lines_apply_in_file_order_across_inheritance() {
    let c = ok(&format!(
        "verifyChain = yes\nCAfile = /ca.pem\n{CERT}[s]\naccept = 1\nconnect = 2\nrequireCert = no\n"
    ));
    assert_eq!(
        only(&c).options.verify,
        VerifyFlags {
            request: true,
            require: false,
            chain: true,
            peer: false
        }
    );
    // An empty CAfile resets the inherited one, so verification now fails.
    assert_eq!(
        err(&format!(
            "verify = 2\nCAfile = /ca.pem\n{CERT}[s]\naccept = 1\nconnect = 2\nCAfile =\n"
        )),
        "Service [s]: Either \"CAengine\", \"CAfile\" or \"CApath\" has to be configured"
    );
}

#[test]
fn sections_are_verbatim_and_may_repeat() {
    let c = ok(
        "client = yes\n[ a b ]\naccept = 1\nconnect = 2\n[]\naccept = 3\nconnect = 4\n\
                [ a b ]\naccept = 5\nconnect = 6\n",
    );
    let names: Vec<&str> = c.services.iter().map(|s| s.options.name.as_str()).collect();
    assert_eq!(names, vec![" a b ", "", " a b "]);
    assert!(c.inetd.is_none());
}

#[test]
fn global_only_options_after_a_section() {
    assert_eq!(
        err("[s]\nforeground = yes\n"),
        "t.conf:2: \"foreground = yes\": Specified option name is not valid here"
    );
    assert_eq!(
        err("[s]\nengine = auto\n"),
        "t.conf:2: \"engine = auto\": Specified option name is not valid here"
    );
    assert_eq!(
        err("engine = auto\n"),
        "t.conf:1: \"engine = auto\": option engine is not supported by rstunnel"
    );
}

#[test]
fn refused_when_yes_options_accept_no() {
    let c = ok("fips = no\nlibwrap = NO\nclient = yes\nconnect = 9\n");
    assert!(c.inetd.is_some());
    assert_eq!(
        err("libwrap = Yes\n"),
        "t.conf:1: \"libwrap = Yes\": option libwrap is not supported by rstunnel"
    );
    assert_eq!(
        err("libwrap = maybe\n"),
        "t.conf:1: \"libwrap = maybe\": The argument needs to be either 'yes' or 'no'"
    );
    for name in [
        "providerParameter",
        "CAstore",
        "EGD",
        "engineCtrl",
        "engineDefault",
    ] {
        assert!(err(&format!("{name} = x\n"))
            .ends_with(&format!("option {name} is not supported by rstunnel")));
    }
    for name in ["CAengine", "engineId", "engineNum", "sessiond"] {
        assert!(err(&format!("[s]\n{name} = x\n"))
            .ends_with(&format!("option {name} is not supported by rstunnel")));
    }
}

#[test]
fn inetd_mode_uses_the_global_service_name() {
    let c = ok("service = mysvc\nclient = yes\nconnect = 127.0.0.1:25\n");
    assert!(c.services.is_empty());
    assert!(c.is_inetd());
    let s = c.inetd.as_deref().expect("inetd service");
    assert_eq!(s.options.name, "mysvc");
    assert_eq!(c.global.service_name, "mysvc");
    assert_eq!(s.connect, vec![inet(Some("127.0.0.1"), 25)]);
    let c = ok("exec = /bin/cat\nexecArgs = cat -u\nclient = yes\n");
    let e = c.inetd.and_then(|s| s.exec).expect("exec");
    assert_eq!(e.args, vec!["cat".to_string(), "-u".to_string()]);
}

#[test]
fn service_option_renames_a_section() {
    let c = ok("client = yes\n[s]\nservice = renamed\naccept = 1\nconnect = 2\n");
    assert_eq!(only(&c).options.name, "renamed");
    assert_eq!(c.global.service_name, "stunnel");
}

#[test]
fn debug_per_section_and_global_facility() {
    let c = ok("debug = local1.err\nclient = yes\n[a]\naccept = 1\nconnect = 2\n[b]\ndebug = 7\naccept = 3\nconnect = 4\n");
    assert_eq!(
        (c.global.debug.facility, c.global.debug.level),
        (libc::LOG_LOCAL1, 3)
    );
    assert_eq!(c.services[0].options.debug_level, 3);
    assert_eq!(c.services[1].options.debug_level, 7);
}

#[test]
fn sni_meaning_is_decided_by_client_at_section_end() {
    // `sni` written before `client = yes`: still a client name.
    let c = ok("[s]\nsni = name.example\nclient = yes\naccept = 1\nconnect = 2\n");
    assert_eq!(only(&c).sni_name.as_deref(), Some("name.example"));
    assert_eq!(only(&c).sni_route, None);
    let c = ok("[s]\nclient = yes\nsni =\naccept = 1\nconnect = 2\n");
    assert_eq!(only(&c).sni_name, None, "empty sni disables it");
    // Server: PRIMARY:PATTERN, split at the first ':'; last line wins.
    let c = ok(&format!(
        "{CERT}[p]\naccept = 1\nconnect = 2\n[s]\nsni = x\nsni = p:a:b\nconnect = 3\n"
    ));
    let r = c.services[1].sni_route.as_ref().expect("route");
    assert_eq!((r.primary.as_str(), r.pattern.as_str()), ("p", "a:b"));
}

#[test]
fn include_shares_the_current_section() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    std::fs::write(format!("{d}/a.conf"), "[from-include]\nclient = yes\n").expect("write");
    std::fs::write(format!("{d}/b.conf"), "accept = 1\n").expect("write");
    std::fs::create_dir(format!("{d}/ignored.d")).expect("mkdir");
    let c = ok(&format!("include = {d}\nconnect = 2\n"));
    let s = only(&c);
    assert_eq!(s.options.name, "from-include");
    assert!(s.options.client);
    assert_eq!(s.accept, vec![inet(None, 1)]);
    assert_eq!(s.connect, vec![inet(None, 2)]);
}

#[test]
fn include_errors_name_the_included_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    std::fs::write(format!("{d}/x.conf"), "\n\nnope = 1\n").expect("write");
    let e = parse_text(&format!("client = yes\ninclude = {d}/\n"), "main.conf").expect_err("bad");
    assert_eq!(
        e.lines(),
        vec![
            format!("{d}//x.conf:3: \"nope = 1\": Specified option name is not valid here"),
            format!("main.conf:2: \"include = {d}/\": Failed to include a file"),
        ]
    );
}

#[test]
fn self_including_directory_is_bounded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    std::fs::write(format!("{d}/loop.conf"), format!("include = {d}\n")).expect("write");
    let e = parse_text(&format!("include = {d}\n"), "main.conf").expect_err("loop");
    assert_eq!(
        e.to_string(),
        format!("main.conf:1: \"include = {d}\": Failed to include a file")
    );
}

#[test]
fn endpoint_count_rules() {
    // transparent = destination is the second endpoint.
    let c = ok(&format!(
        "{CERT}[s]\naccept = 1\ntransparent = destination\n"
    ));
    assert_eq!(only(&c).options.transparent, Transparent::Destination);
    // A SOCKS server supplies its own target.
    let c = ok(&format!("{CERT}[s]\naccept = 1\nprotocol = socks\n"));
    assert_eq!(
        only(&c).protocol.as_ref().map(|p| p.kind),
        Some(ProtocolKind::Socks)
    );
    // exec + connect without accept.
    let c = ok("client = yes\n[s]\nexec = /bin/cat\nconnect = 2\nretry = yes\n");
    assert_eq!(only(&c).options.retry, Some(Duration::from_secs(1)));
    // Three endpoints are as wrong as one.
    assert_eq!(
        err("client = yes\n[s]\naccept = 1\nconnect = 2\nexec = /bin/cat\n"),
        "Service [s]: Each service must define two endpoints"
    );
}

#[test]
fn accept_keeps_resolvable_entries_and_unix_paths() {
    let c = ok("client = yes\n[s]\naccept = 127.0.0.1:1\naccept = 1.2.3.4:bogus-port\naccept = /run/x.sock\nconnect = 2\n");
    assert_eq!(
        only(&c).accept,
        vec![
            inet(Some("127.0.0.1"), 1),
            Endpoint::Unix(PathBuf::from("/run/x.sock"))
        ]
    );
}

#[test]
fn connect_with_unknown_port_name_is_an_error() {
    assert_eq!(
        err("client = yes\n[s]\naccept = 1\nconnect = host:bogus-port\n"),
        "Service [s]: Unknown TCP service \"bogus-port\""
    );
    let c = ok("client = yes\n[s]\naccept = 1\nconnect = host:https\n");
    assert_eq!(only(&c).connect, vec![inet(Some("host"), 443)]);
}

#[test]
fn process_wide_values() {
    let c = ok(
        "provider = legacy\nprovider = default\nsetEnv = A=1\nRNDbytes = 64\nRNDfile = /r\n\
                RNDoverwrite = no\nsyslog = no\nlog = overwrite\nchroot = /var/empty\n\
                client = yes\nconnect = 1\nstack = 131072\n",
    );
    assert_eq!(
        c.global.providers,
        vec!["legacy".to_string(), "default".to_string()]
    );
    assert_eq!(
        c.global.set_env,
        vec![("A".to_string(), Some("1".to_string()))]
    );
    assert_eq!((c.global.rnd_bytes, c.global.rnd_overwrite), (64, false));
    assert_eq!(c.global.rnd_file, Some(PathBuf::from("/r")));
    assert_eq!(c.global.chroot, Some(PathBuf::from("/var/empty")));
}

#[test]
fn timeouts_negative_means_forever_and_new_options_parse() {
    let c = ok(&format!(
        "{CERT}[s]\naccept = 1\nconnect = 2\nTIMEOUTidle = -1\nTIMEOUTocsp = 7\nOCSPrequire = no\n\
         OCSPflag = nocerts\nOCSPflag = NOTIME\nsession = 60\ncurve = P-256\n"
    ));
    let s = only(&c);
    assert_eq!(s.options.timeouts.idle, None);
    assert_eq!(s.options.timeouts.ocsp, Some(Duration::from_secs(7)));
    assert!(!s.options.ocsp_require);
    assert_eq!(s.options.ocsp_flags, 0x801);
    assert_eq!(s.options.session_timeout(), Duration::from_secs(60));
    assert_eq!(s.options.curves(), "P-256");
}

#[test]
fn hostile_input_never_panics() {
    let inputs: [&[u8]; 6] = [
        b"\xff\xfe\x00[\x00",
        b"[\n]\n=\n==\n[[]]\n",
        b"accept=:\nconnect=::::\n[s]\nsocket=a:SO_LINGER=:\n",
        b"sni=:\n[s]\nsni=:\n",
        b"\r\r\r\n\x0b\x0c",
        b"debug=.\n",
    ];
    for input in inputs {
        let _ = rstunnel::config::parse_bytes(input, "x");
    }
    let long = "a".repeat(100_000);
    let _ = parse_text(&long, "x");
}

#[test]
fn include_fan_out_is_bounded() {
    // Eight chained directories of four files, each including the next
    // directory: 4^8 reads without the total limit, and every include
    // succeeds, so only the limit stops it.
    let root = tempfile::tempdir().expect("tempdir");
    let r = root.path().to_str().expect("utf8");
    for level in 0..8 {
        std::fs::create_dir(format!("{r}/{level}")).expect("mkdir");
        for i in 0..4 {
            let body = if level < 7 {
                format!("include = {r}/{}\n", level + 1)
            } else {
                "client = yes\n".to_string()
            };
            std::fs::write(format!("{r}/{level}/{i}.conf"), body).expect("write");
        }
    }
    let started = std::time::Instant::now();
    let e = parse_text(&format!("include = {r}/0\n"), "main.conf").expect_err("too many");
    assert_eq!(
        e.before.first().map(String::as_str),
        Some("Too many nested or included files")
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
