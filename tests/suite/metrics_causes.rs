//! `rstunnel_handshake_failures_total{cause}` names why handshakes fail:
//! one client per cause against one strict server service (TLS 1.2+, one
//! cipher, client certificates required, `TIMEOUTbusy = 1`), each counted
//! once under its own cause and nowhere else. Also: clients refused at the
//! client limit.

use crate::common;

use std::io::Read;
use std::time::{Duration, Instant};

use common::net::{http_get, sample};
use common::tls_pki::make_pki;
use common::{header, p, Daemon, Impl, PATIENCE};
use openssl::ssl::SslVersion;

const CAUSES: [&str; 8] = [
    "protocol_version",
    "no_shared_cipher",
    "cert_missing",
    "cert_untrusted",
    "cert_revoked",
    "peer_closed",
    "timeout",
    "other",
];

fn failures(page: &str) -> Vec<(&'static str, f64)> {
    CAUSES
        .iter()
        .map(|c| {
            let series =
                format!("rstunnel_handshake_failures_total{{service=\"strict\",cause=\"{c}\"}}");
            (*c, sample(page, &series).unwrap_or(-1.0))
        })
        .collect()
}

#[test]
fn each_cause_is_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let d = Daemon::start(
        Impl::Rstunnel,
        &format!(
            "{}metrics = 127.0.0.1:0\n[strict]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 1\n\
             sslVersionMin = TLSv1.2\nciphers = ECDHE-RSA-AES256-GCM-SHA384\nverifyChain = yes\nCAfile = {}\nTIMEOUTbusy = 1\n",
            header(),
            p(&pki.combined),
            p(&pki.ca)
        ),
    );
    let metrics: u16 = {
        let line = d.log.wait_for("metrics (FD=");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    let port = d.port("strict");
    let mut want = vec![0.0; CAUSES.len()];

    // A TLS 1.1 client (OpenSSL needs security level 0 to offer it).
    let old = common::tls_client::tls_connect_with(port, |b| {
        b.set_cipher_list("DEFAULT:@SECLEVEL=0").unwrap();
        b.set_min_proto_version(Some(SslVersion::TLS1_1)).unwrap();
        b.set_max_proto_version(Some(SslVersion::TLS1_1)).unwrap();
    });
    assert!(old.is_err());
    want[0] += 1.0;
    wait_for(metrics, &want);

    // TLS 1.2 with a cipher the service does not allow.
    let cipher = common::tls_client::tls_connect_with(port, |b| {
        b.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
        b.set_cipher_list("AES128-SHA256").unwrap();
    });
    assert!(cipher.is_err());
    want[1] += 1.0;
    wait_for(metrics, &want);

    // TLS 1.2 without a client certificate.
    let anonymous = common::tls_client::tls_connect_with(port, |b| {
        b.set_max_proto_version(Some(SslVersion::TLS1_2)).unwrap();
    });
    assert!(anonymous.is_err());
    want[2] += 1.0;
    wait_for(metrics, &want);

    // Connect and close.
    drop(common::net::connect(port));
    want[5] += 1.0;
    wait_for(metrics, &want);

    // Connect and say nothing until TIMEOUTbusy (1 s) ends it.
    let mut silent = common::net::connect(port);
    let _ = silent.read(&mut [0u8; 1]);
    want[6] += 1.0;
    wait_for(metrics, &want);
}

/// Poll `/metrics` until the failure counters are `want` (in `CAUSES`
/// order).
fn wait_for(port: u16, want: &[f64]) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, page) = http_get(port, "/metrics");
        let got = failures(&page);
        let expected: Vec<_> = CAUSES.iter().copied().zip(want.iter().copied()).collect();
        if got == expected {
            return;
        }
        assert!(Instant::now() < deadline, "{got:?} != {expected:?}\n{page}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With 32 descriptors the client limit is 13 (stunnel's `(n - 6) / 2`):
/// 13 clients that hold their handshake open fill it, and the next 3 are
/// refused and counted.
#[test]
fn clients_refused_at_the_client_limit_are_counted() {
    use std::os::unix::process::CommandExt;
    const LIMIT: usize = 13;
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let conf = format!(
        "{}metrics = 127.0.0.1:0\n[full]\naccept = 127.0.0.1:0\ncert = {}\nconnect = 1\n",
        header(),
        p(&pki.combined)
    );
    let cwd = dir.path().to_path_buf();
    let run_dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_adjusted(Impl::Rstunnel, &conf, run_dir, &cwd, |cmd| {
        // SAFETY: only setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: 32,
                    rlim_max: 32,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    d.log
        .wait_for(&format!("up to {LIMIT} concurrent connections"));
    let metrics: u16 = {
        let line = d.log.wait_for("metrics (FD=");
        line.rsplit(':').next().unwrap().trim().parse().unwrap()
    };
    let port = d.port("full");
    let held: Vec<_> = (0..LIMIT).map(|_| common::net::connect(port)).collect();
    d.log
        .wait_for_nth("Service [full] accepted connection", LIMIT);
    let refused: Vec<_> = (0..3).map(|_| common::net::connect(port)).collect();
    d.log
        .wait_for_nth("Connection rejected: too many clients", 3);
    let (_, page) = http_get(metrics, "/metrics");
    let series = "rstunnel_connections_refused_total{service=\"full\"}";
    assert_eq!(sample(&page, series), Some(3.0), "{page}");
    assert_eq!(
        sample(&page, "rstunnel_connections_active{service=\"full\"}"),
        Some(LIMIT as f64)
    );
    drop((held, refused));
}
