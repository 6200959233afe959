//! The TLS policy differential (issue 3, "Must show"): for each of a dozen
//! server configurations, the same file runs under rstunnel and under
//! stunnel4, and an in-process client probes every (protocol version ×
//! cipher) pair that this OpenSSL can offer. The sets of accepted pairs
//! must be identical; a mismatch prints the pairs only one side accepted.
//!
//! The probing client allows everything (security level 0, explicit
//! min = max = the probed version, one cipher per probe), so the server's
//! policy alone decides. Pairs the client itself cannot offer (SRP
//! ciphers, PSK ciphers without a PSK configuration) are filtered out up
//! front without touching the network. Probes run in a bounded pool of
//! threads against all daemon pairs at once.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{header, p, run_cmd, tls_pki, Daemon, Impl};
use openssl::ssl::{SslContext, SslMethod, SslVerifyMode, SslVersion};

/// Parallel probing threads (mostly waiting on sockets).
const WORKERS: usize = 8;
/// One handshake may take this long before it counts as a failure.
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(10);
/// The PSK identity and key of the PSK case (`PSKsecrets` file line).
const PSK_IDENTITY: &str = "alice";
const PSK_KEY: [u8; 16] = *b"0123456789abcdef";

/// The TLS 1.3 suites OpenSSL 3 implements (the default set has three).
const TLS13_SUITES: &str = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:\
TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Version {
    Tls1,
    Tls1_1,
    Tls1_2,
    Tls1_3,
}

impl Version {
    fn ssl(self) -> SslVersion {
        match self {
            Version::Tls1 => SslVersion::TLS1,
            Version::Tls1_1 => SslVersion::TLS1_1,
            Version::Tls1_2 => SslVersion::TLS1_2,
            Version::Tls1_3 => SslVersion::TLS1_3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Version::Tls1 => "TLSv1",
            Version::Tls1_1 => "TLSv1.1",
            Version::Tls1_2 => "TLSv1.2",
            Version::Tls1_3 => "TLSv1.3",
        }
    }
}

/// One probe: offer exactly this version and this cipher.
type Pair = (Version, String);

/// Every (version, cipher) pair OpenSSL lists at security level 0, by the
/// minimum protocol column of `openssl ciphers -v`.
fn all_pairs() -> Vec<Pair> {
    let (ok, out, err) = run_cmd(Command::new("openssl").args([
        "ciphers",
        "-v",
        "-ciphersuites",
        TLS13_SUITES,
        "ALL:COMPLEMENTOFALL:@SECLEVEL=0",
    ]));
    assert!(ok, "openssl ciphers failed: {err}");
    let mut pairs = Vec::new();
    for line in out.lines() {
        let mut cols = line.split_whitespace();
        let (Some(name), Some(proto)) = (cols.next(), cols.next()) else {
            continue;
        };
        let versions: &[Version] = match proto {
            "SSLv3" | "TLSv1" => &[Version::Tls1, Version::Tls1_1, Version::Tls1_2],
            "TLSv1.2" => &[Version::Tls1_2],
            "TLSv1.3" => &[Version::Tls1_3],
            _ => &[],
        };
        pairs.extend(versions.iter().map(|v| (*v, name.to_string())));
    }
    assert!(pairs.len() > 100, "suspiciously few pairs: {out}");
    pairs
}

/// The client context for one probe: everything allowed but this pair.
fn client_context(pair: &Pair, psk: bool) -> Option<SslContext> {
    let (version, cipher) = pair;
    let mut b = SslContext::builder(SslMethod::tls_client()).ok()?;
    b.set_min_proto_version(Some(version.ssl())).ok()?;
    b.set_max_proto_version(Some(version.ssl())).ok()?;
    if *version == Version::Tls1_3 {
        b.set_ciphersuites(cipher).ok()?;
    } else {
        b.set_cipher_list(&format!("{cipher}:@SECLEVEL=0")).ok()?;
    }
    // After the cipher string: openssl.cnf or the string must not raise it.
    b.set_security_level(0);
    b.set_verify(SslVerifyMode::NONE);
    if psk {
        b.set_psk_client_callback(|_ssl, _hint, identity, key| {
            let id = PSK_IDENTITY.as_bytes();
            if identity.len() <= id.len() || key.len() < PSK_KEY.len() {
                return Ok(0);
            }
            identity[..id.len()].copy_from_slice(id);
            identity[id.len()] = 0;
            key[..PSK_KEY.len()].copy_from_slice(&PSK_KEY);
            Ok(PSK_KEY.len())
        });
    }
    Some(b.build())
}

/// A stream that swallows writes and has nothing to read: a handshake on
/// it stops at "want read" exactly when a ClientHello could be built.
struct Sink;

impl Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether the probing client can put this pair into a ClientHello.
fn offerable(pair: &Pair, psk: bool) -> bool {
    let Some(ctx) = client_context(pair, psk) else {
        return false;
    };
    let Ok(ssl) = openssl::ssl::Ssl::new(&ctx) else {
        return false;
    };
    match ssl.connect(Sink) {
        Ok(_) => true,
        Err(openssl::ssl::HandshakeError::WouldBlock(_)) => true,
        Err(_) => false,
    }
}

/// Outcome of one probe: `Some((version, cipher))` negotiated, or `None`.
fn probe(port: u16, pair: &Pair, psk: bool) -> Result<Option<(String, String)>, String> {
    let ctx = client_context(pair, psk).ok_or("client context")?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_read_timeout(Some(HANDSHAKE_LIMIT));
    let _ = tcp.set_write_timeout(Some(HANDSHAKE_LIMIT));
    let ssl = openssl::ssl::Ssl::new(&ctx).map_err(|e| e.to_string())?;
    match ssl.connect(tcp) {
        Ok(mut s) => {
            let got = (
                s.ssl().version_str().to_string(),
                s.ssl()
                    .current_cipher()
                    .map(|c| c.name().to_string())
                    .unwrap_or_default(),
            );
            let _ = s.shutdown();
            Ok(Some(got))
        }
        Err(openssl::ssl::HandshakeError::WouldBlock(_)) => Err("handshake timed out".into()),
        Err(_) => Ok(None),
    }
}

/// The configs whose `rstunnel -test` report is checked against stunnel4:
/// RSA and ECDSA stand-in keys, a `@SECLEVEL` override, PSK only.
const REPORT_CASES: [&str; 4] = [
    "defaults",
    "seclevel0-in-ciphers-tls1",
    "ecdsa-seclevel-in-ciphers-wins",
    "psk-only",
];

/// One server configuration of the differential.
struct Case {
    name: &'static str,
    /// Service lines after `accept`/`connect` (`{rsa}`, `{ecdsa}`, `{psk}`
    /// are replaced by file paths).
    lines: &'static str,
    /// The probing client offers a PSK identity.
    psk: bool,
}

fn cases() -> Vec<Case> {
    let case = |name, lines| Case {
        name,
        lines,
        psk: false,
    };
    vec![
        case("defaults", "cert = {rsa}"),
        case(
            "seed-high-tls12",
            "cert = {rsa}\nciphers = HIGH:!aNULL:!MD5\nsslVersion = TLSv1.2",
        ),
        case(
            "seclevel0-in-ciphers-tls1",
            "cert = {rsa}\nciphers = ALL:@SECLEVEL=0\nsslVersionMin = TLSv1",
        ),
        case("securitylevel-0", "cert = {rsa}\nsecurityLevel = 0"),
        case(
            "no-tls12",
            "cert = {rsa}\noptions = NO_TLSv1_2\nsecurityLevel = 0\nciphers = DEFAULT",
        ),
        case(
            "tls13-only-suites",
            "cert = {rsa}\nsslVersionMin = TLSv1.3\n\
             ciphersuites = TLS_AES_128_GCM_SHA256:TLS_AES_128_CCM_SHA256",
        ),
        case(
            "max-tls11",
            "cert = {rsa}\nsslVersionMax = TLSv1.1\nciphers = DEFAULT:@SECLEVEL=0",
        ),
        case(
            "sslv3-cleared",
            "cert = {rsa}\noptions = -NO_SSLv3\nsslVersionMin = SSLv3\n\
             sslVersionMax = TLSv1\nsecurityLevel = 0",
        ),
        case("ecdhe-aesgcm", "cert = {rsa}\nciphers = ECDHE+AESGCM"),
        case("ecdsa-defaults", "cert = {ecdsa}"),
        case(
            "null-and-ccm8",
            "cert = {rsa}\nciphers = eNULL:@SECLEVEL=0\n\
             ciphersuites = TLS_AES_128_CCM_8_SHA256:TLS_AES_256_GCM_SHA384",
        ),
        // stunnel applies `securityLevel` before `ciphers`: the string wins.
        case(
            "ecdsa-seclevel-in-ciphers-wins",
            "cert = {ecdsa}\nsecurityLevel = 3\nciphers = ALL:COMPLEMENTOFALL:@SECLEVEL=0",
        ),
        case(
            "curves-ffdhe-only",
            "cert = {rsa}\ncurves = ffdhe2048\nciphers = ALL:@SECLEVEL=0",
        ),
        case(
            "ssl-conf-commands",
            "cert = {rsa}\nsecurityLevel = 0\nconfig = MinProtocol:TLSv1.1\n\
             config = CipherString:AES:@SECLEVEL=0",
        ),
        Case {
            name: "psk-only",
            lines: "PSKsecrets = {psk}\nciphers = PSK:@SECLEVEL=0\nsslVersionMin = TLSv1",
            psk: true,
        },
    ]
}

fn config_text(case: &Case, dir: &Path, backend: u16) -> String {
    let lines = case
        .lines
        .replace("{rsa}", &p(&dir.join("server-combined.pem")))
        .replace("{ecdsa}", &p(&dir.join("ecdsa-combined.pem")))
        .replace("{psk}", &p(&dir.join("psk.txt")));
    format!(
        "{}\n[svc]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\n{lines}\n",
        header()
    )
}

/// A pair's verdict on one daemon.
type Verdicts = BTreeMap<Pair, Option<(String, String)>>;

#[test]
fn accepted_pairs_match_stunnel4_for_every_config() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    tls_pki::make_pki(dir.path());
    let key_hex: String = PSK_KEY.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.path().join("psk.txt"),
        format!("{PSK_IDENTITY}:{key_hex}\n"),
    )
    .expect("psk file");
    let backend = common::net::echo_server();
    let pairs = all_pairs();
    let cases = cases();
    assert!(cases.len() >= 10);

    // `rstunnel -test` on some configs (each costs a few hundred trial
    // handshakes), in the background meanwhile.
    let reports: Vec<_> = cases
        .iter()
        .enumerate()
        .filter(|(_, case)| REPORT_CASES.contains(&case.name))
        .map(|(i, case)| {
            let path = dir.path().join(format!("case{i}.conf"));
            std::fs::write(&path, config_text(case, dir.path(), backend)).expect("conf");
            let run = std::thread::spawn(move || {
                run_cmd(
                    Command::new(Impl::Rstunnel.program())
                        .arg("-test")
                        .arg(&path),
                )
            });
            (i, run)
        })
        .collect();

    // Start every daemon pair up front; they run side by side.
    let mut daemons = Vec::new();
    for case in &cases {
        let conf = config_text(case, dir.path(), backend);
        for imp in [Impl::Rstunnel, Impl::Stunnel4] {
            let d = Daemon::start(imp, &conf);
            daemons.push((case, imp, d));
        }
    }
    let mut jobs: Vec<(usize, u16, bool, Pair)> = Vec::new();
    let mut offered: BTreeMap<bool, Vec<Pair>> = BTreeMap::new();
    for psk in [false, true] {
        offered.insert(
            psk,
            pairs
                .iter()
                .filter(|pair| offerable(pair, psk))
                .cloned()
                .collect(),
        );
    }
    for (i, (case, _, d)) in daemons.iter().enumerate() {
        let port = d.port("svc");
        for pair in &offered[&case.psk] {
            jobs.push((i, port, case.psk, pair.clone()));
        }
    }

    // Bounded pool: each worker takes the next job until none are left.
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..WORKERS)
        .map(|_| {
            let jobs = jobs.clone();
            let next = next.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some((i, port, psk, pair)) = jobs.get(n) else {
                        break;
                    };
                    out.push((*i, pair.clone(), probe(*port, pair, *psk)));
                }
                out
            })
        })
        .collect();
    let mut verdicts: Vec<Verdicts> = vec![BTreeMap::new(); daemons.len()];
    let mut errors = Vec::new();
    for h in handles {
        for (i, pair, result) in h.join().expect("probe worker") {
            match result {
                Ok(v) => {
                    verdicts[i].insert(pair, v);
                }
                Err(e) => errors.push(format!("{} {:?}: {e}", daemons[i].0.name, pair)),
            }
        }
    }
    assert!(errors.is_empty(), "probe errors:\n{}", errors.join("\n"));

    let mut report = String::new();
    let mut summary = String::new();
    for c in 0..cases.len() {
        let (case, _, rs_daemon) = &daemons[2 * c];
        let (rs, st) = (&verdicts[2 * c], &verdicts[2 * c + 1]);
        let accepted = |v: &Verdicts| -> BTreeSet<Pair> {
            v.iter()
                .filter(|(_, r)| r.is_some())
                .map(|(k, _)| k.clone())
                .collect()
        };
        let a = accepted(rs);
        let b = without_library_differences(accepted(st), &a);
        // A negotiated pair must be the one offered.
        for (pair, got) in rs.iter().chain(st.iter()) {
            if let Some((v, c)) = got {
                assert_eq!(
                    (v.as_str(), c.as_str()),
                    (pair.0.name(), pair.1.as_str()),
                    "{}: negotiated something else than offered",
                    case.name
                );
            }
        }
        summary.push_str(&format!(
            "{:<32} {:>3} accepted of {:>3} probed\n",
            case.name,
            b.len(),
            st.len()
        ));
        if a != b {
            let show = |s: BTreeSet<&Pair>| {
                s.into_iter()
                    .map(|(v, c)| format!("    {} {c}", v.name()))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            report.push_str(&format!(
                "config {:?}:\n{}\n  only rstunnel accepts:\n{}\n  only stunnel4 accepts:\n{}\n  rstunnel log tail:\n{}\n",
                case.name,
                config_text(case, dir.path(), backend),
                show(a.difference(&b).collect()),
                show(b.difference(&a).collect()),
                tail(&rs_daemon.log.text(), 15),
            ));
        }
    }
    eprintln!(
        "differential_tls: {} probes in {:?}\n{summary}",
        jobs.len(),
        started.elapsed()
    );
    assert!(report.is_empty(), "accepted sets differ:\n{report}");

    // The `-test` report lists exactly what stunnel4 accepted.
    for (c, handle) in reports {
        let (ok, _, err) = handle.join().expect("-test thread");
        let name = cases[c].name;
        assert!(ok, "{name}: rstunnel -test failed:\n{err}");
        // Pairs Debian's OpenSSL cannot even offer were not probed: only
        // the legacy build lists any, and only weak ones, for a
        // configuration that asks for them (`ALL:@SECLEVEL=0`).
        let (listed, beyond): (BTreeSet<Pair>, BTreeSet<Pair>) = test_report_pairs(&err)
            .into_iter()
            .partition(|p| verdicts[2 * c + 1].contains_key(p));
        if !beyond.is_empty() {
            let weak = |c: &str| c.contains("DES-CBC3") || c.contains("3DES") || c.contains("RC4");
            assert!(
                cfg!(feature = "legacy-tls") && beyond.iter().all(|(_, c)| weak(c)),
                "{name}: -test lists pairs no probe offered: {beyond:?}"
            );
            eprintln!(
                "{name}: the legacy build also lists {} weak pairs (3DES, RC4)",
                beyond.len()
            );
        }
        let oracle: BTreeSet<Pair> = verdicts[2 * c + 1]
            .iter()
            .filter(|(_, r)| r.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        let oracle = without_library_differences(oracle, &listed);
        assert_eq!(
            listed, oracle,
            "{name}: -test report differs from stunnel4's accepted pairs:\n{err}"
        );
    }
    // Guard against a vacuous pass: the configs do accept different things.
    let distinct: BTreeSet<Vec<Pair>> = (0..cases.len())
        .map(|c| {
            verdicts[2 * c + 1]
                .iter()
                .filter(|(_, r)| r.is_some())
                .map(|(k, _)| k.clone())
                .collect()
        })
        .collect();
    assert!(
        distinct.len() >= cases.len() - 1,
        "configs are not varied enough:\n{summary}"
    );
}

/// Pairs that differ because of the library, not of rstunnel: the legacy
/// build (`--features legacy-tls`) links OpenSSL 3.5, where the TLS 1.2
/// CCM8 suites (8-byte tag) are `MEDIUM` with 64 bits of strength, so
/// neither `HIGH` nor any security level above 0 includes them; Debian's
/// OpenSSL 3.0, under stunnel4, still counts them `HIGH`. These are the
/// only differences (README, "The legacy build"). The system build has
/// none.
fn library_difference(pair: &Pair) -> bool {
    cfg!(feature = "legacy-tls") && pair.1.contains("CCM8")
}

/// stunnel4's accepted set less the library differences rstunnel lacks.
fn without_library_differences(oracle: BTreeSet<Pair>, ours: &BTreeSet<Pair>) -> BTreeSet<Pair> {
    let (kept, named): (BTreeSet<Pair>, BTreeSet<Pair>) = oracle
        .into_iter()
        .partition(|p| !library_difference(p) || ours.contains(p));
    if !named.is_empty() {
        let list: Vec<String> = named
            .iter()
            .map(|(v, c)| format!("{} {c}", v.name()))
            .collect();
        eprintln!(
            "library difference (OpenSSL 3.5 CCM8 is MEDIUM): {}",
            list.join(", ")
        );
    }
    kept
}

/// The `TLSv1.2 ciphers: A:B` lines of `rstunnel -test` as pairs.
fn test_report_pairs(report: &str) -> BTreeSet<Pair> {
    let mut out = BTreeSet::new();
    for line in report.lines() {
        let Some((version, list)) = line.trim().split_once(" ciphers: ") else {
            continue;
        };
        let v = match version {
            "TLSv1" => Version::Tls1,
            "TLSv1.1" => Version::Tls1_1,
            "TLSv1.2" => Version::Tls1_2,
            "TLSv1.3" => Version::Tls1_3,
            _ => continue,
        };
        if list != "(none)" {
            out.extend(list.split(':').map(|c| (v, c.to_string())));
        }
    }
    out
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
