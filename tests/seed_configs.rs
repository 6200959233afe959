//! The two seed configurations of ../shared/conf-examples (copied verbatim
//! to tests/conf/seeds/) carry HTTP end to end, adapted only in addresses
//! and paths. Each adaptation is a string replacement that must match, so
//! the test shows exactly what was changed.

mod common;

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

/// Start rstunnel on `conf` in `dir` (relative paths resolve there). The
/// seeds say `foreground = no`, so the process daemonizes; it is found and
/// killed through its unique config path.
fn start(dir: &std::path::Path, conf: &str) -> KillOnDrop {
    let path = dir.join("seed.conf");
    std::fs::write(&path, conf).unwrap();
    let guard = KillOnDrop(p(&path));
    let status = Command::new(Impl::Rstunnel.program())
        .arg(&path)
        .current_dir(dir)
        .status()
        .unwrap();
    // Daemonizing: the parent exits 0 once the child runs; in the
    // foreground the call above would not return, so this is the only path.
    assert!(status.success(), "rstunnel exited with {status}");
    guard
}

/// redrock-trac-server.conf: server mode, no [section], `cert = cert.pem`
/// relative to the working directory, HTTP backend behind it.
#[test]
fn redrock_trac_server_serves_https_to_curl_and_python() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    std::fs::copy(&pki.server_cert, dir.path().join("cert.pem")).unwrap();
    std::fs::copy(&pki.server_key, dir.path().join("key.pem")).unwrap();
    let backend = net::http_backend("trac says hello");
    let port = free_port();
    let conf = seed("redrock-trac-server.conf");
    let conf = adapt(
        &conf,
        "output = stunnel.log",
        &format!("output = {}", p(&dir.path().join("stunnel.log"))),
    );
    let conf = adapt(&conf, "accept = 443", &format!("accept = 127.0.0.1:{port}"));
    let conf = adapt(
        &conf,
        "connect = 127.0.0.1:81",
        &format!("connect = 127.0.0.1:{backend}"),
    );
    let _daemon = start(dir.path(), &conf);
    wait_listening(port);

    let url = format!("https://localhost:{port}/");
    let (ok, body, err) = run_cmd(
        Command::new("curl")
            .args(["-sS", "--cacert"])
            .arg(&pki.ca)
            .arg(&url),
    );
    assert!(ok, "curl failed: {err}");
    assert_eq!(body, "trac says hello");

    let script = "import ssl,sys,urllib.request\n\
        ctx=ssl.create_default_context(cafile=sys.argv[1])\n\
        print(urllib.request.urlopen(sys.argv[2],context=ctx).read().decode(),end='')";
    let (ok, body, err) = run_cmd(
        Command::new("python3")
            .args(["-c", script])
            .arg(&pki.ca)
            .arg(&url),
    );
    assert!(ok, "python failed: {err}");
    assert_eq!(body, "trac says hello");
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
    let _daemon = start(dir.path(), &conf);

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
