//! The two seed configurations of ../shared/conf-examples (copied verbatim
//! to tests/conf/seeds/) carry HTTP end to end, adapted only in port numbers
//! (the Trac guide's file) or addresses and an absolute log path (the
//! TrackAbout one). Each adaptation is a string replacement that must match,
//! so the test shows exactly what was changed.

use crate::common;

use std::process::Command;

use common::net;
use common::tls_pki::make_pki;
use common::{free_port, p, run_cmd, wait_listening, Impl, KillOnDrop, PyHttps};

fn seed(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/conf/seeds/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Replace `from` by `to`, insisting that `from` is there.
fn adapt(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "seed no longer contains {from:?}");
    text.replace(from, to)
}

/// Start rstunnel on `conf`, written to `dir/seed.conf`, from `cwd`. The
/// seeds say `foreground = no`, so the process daemonizes; it is found and
/// killed through its unique config path.
fn start(dir: &std::path::Path, conf: &str, cwd: &std::path::Path) -> KillOnDrop {
    start_bytes(&dir.join("seed.conf"), conf.as_bytes(), cwd)
}

fn start_bytes(path: &std::path::Path, conf: &[u8], cwd: &std::path::Path) -> KillOnDrop {
    std::fs::write(path, conf).unwrap();
    let guard = KillOnDrop(p(path));
    let status = Command::new(Impl::Rstunnel.program())
        .arg(path)
        .current_dir(cwd)
        .status()
        .unwrap();
    // Daemonizing: the parent exits 0 once the child runs; in the
    // foreground the call above would not return, so this is the only path.
    assert!(status.success(), "rstunnel exited with {status}");
    guard
}

/// GET `url` with curl and with Python's urllib, both trusting only `ca`.
fn fetch_with_curl_and_python(url: &str, ca: &std::path::Path) -> [String; 2] {
    let (ok, curl_body, err) = run_cmd(
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(ca)
            .arg(url),
    );
    assert!(ok, "curl failed: {err}");
    let script = "import ssl,sys,urllib.request\n\
        ctx=ssl.create_default_context(cafile=sys.argv[1])\n\
        print(urllib.request.urlopen(sys.argv[2],context=ctx,timeout=10).read().decode(),end='')";
    let (ok, python_body, err) = run_cmd(
        Command::new("python3")
            .args(["-c", script])
            .arg(ca)
            .arg(url),
    );
    assert!(ok, "python failed: {err}");
    [curl_body, python_body]
}

/// redrock-trac-server.conf, as the Trac guide wrote it for stunnel on
/// Windows: server mode, no [section], `cert = cert.pem`, `key = key.pem`
/// and `output = stunnel.log` relative to the file. Only its port numbers
/// change; it sits with cert.pem and key.pem in one directory and rstunnel
/// is started from another one. Saved as written (LF) and as Windows saves
/// it (CRLF and a UTF-8 BOM), it passes `-test` with the same report and
/// carries HTTPS from curl and Python, logging to the file's directory.
#[test]
fn redrock_trac_server_runs_unchanged_from_another_directory() {
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = make_pki(pki_dir.path());
    let backend = net::http_backend("trac says hello");
    let mut reports = Vec::new();
    for windows in [false, true] {
        let etc = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        std::fs::copy(&pki.server_cert, etc.path().join("cert.pem")).unwrap();
        std::fs::copy(&pki.server_key, etc.path().join("key.pem")).unwrap();
        let port = free_port();
        let conf = seed("redrock-trac-server.conf");
        let conf = adapt(&conf, "accept = 443", &format!("accept = {port}"));
        let conf = adapt(
            &conf,
            "connect = 127.0.0.1:81",
            &format!("connect = 127.0.0.1:{backend}"),
        );
        let bytes = if windows {
            format!("\u{feff}{}", conf.replace('\n', "\r\n")).into_bytes()
        } else {
            conf.into_bytes()
        };
        let path = etc.path().join("stunnel.conf");
        std::fs::write(&path, &bytes).unwrap();

        let out = Command::new(Impl::Rstunnel.program())
            .arg("-test")
            .arg(&path)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "-test failed:\n{report}");
        let etc_real = etc.path().canonicalize().unwrap();
        for name in ["cert.pem", "key.pem", "stunnel.log"] {
            let notice = format!(
                "{name} resolved to {}, the configuration file's directory",
                p(&etc_real.join(name))
            );
            assert!(
                report.lines().any(|l| l == notice),
                "no {notice:?} in\n{report}"
            );
        }
        reports.push(report.replace(&p(&etc_real), "ETC"));

        let _daemon = start_bytes(&path, &bytes, cwd.path());
        wait_listening(port);
        let url = format!("https://localhost:{port}/");
        for body in fetch_with_curl_and_python(&url, &pki.ca) {
            assert_eq!(body, "trac says hello");
        }
        assert!(
            etc.path().join("stunnel.log").exists(),
            "no log beside the file"
        );
        assert!(!cwd.path().join("stunnel.log").exists());
    }
    let same = |r: &str| {
        r.replace(
            "UTF-8 byte order mark detected",
            "UTF-8 byte order mark not detected",
        )
    };
    assert_eq!(same(&reports[0]), same(&reports[1]));
    assert!(reports[1].contains("UTF-8 byte order mark detected"));
}

/// trackabout-client.conf: two client-mode services speaking TLS 1.2 with
/// `HIGH:!aNULL:!MD5` and SNI to an HTTPS server (Python's ssl stands in for
/// www.trackabout.com and test.trackabout.com).
#[test]
fn trackabout_client_carries_http_to_a_tls12_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let upstream = PyHttps::start(&pki.server_cert, &pki.server_key);
    let (main_port, test_port) = (free_port(), free_port());
    let conf = seed("trackabout-client.conf");
    let conf = adapt(
        &conf,
        "output = /var/log/stunnel.log",
        &format!("output = {}", p(&dir.path().join("t.log"))),
    );
    let conf = adapt(
        &conf,
        "accept = 127.0.0.1:8443",
        &format!("accept = 127.0.0.1:{main_port}"),
    );
    let conf = adapt(
        &conf,
        "accept = 127.0.0.1:8444",
        &format!("accept = 127.0.0.1:{test_port}"),
    );
    let conf = adapt(
        &conf,
        "connect = www.trackabout.com:443",
        &format!("connect = 127.0.0.1:{}", upstream.port),
    );
    let conf = adapt(
        &conf,
        "connect = test.trackabout.com:443",
        &format!("connect = 127.0.0.1:{}", upstream.port),
    );
    let _daemon = start(dir.path(), &conf, dir.path());

    for (port, name) in [
        (main_port, "www.trackabout.com"),
        (test_port, "test.trackabout.com"),
    ] {
        wait_listening(port);
        let (ok, body, err) =
            run_cmd(Command::new("curl").args(["-sS", &format!("http://127.0.0.1:{port}/")]));
        assert!(ok, "curl failed: {err}");
        assert_eq!(body, format!("sni={name} version=TLSv1.2"));
    }
}
