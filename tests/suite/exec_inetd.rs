//! inetd mode with `exec` (stunnel-reference §5.1 item 8, §5.6): a file
//! without sections serves one connection on stdin/stdout, and `exec` is
//! its single endpoint. The test does what inetd does: accept a TCP
//! connection and start rstunnel with the socket as stdin and stdout.

use crate::common;
use crate::common::exec;

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use common::net::payload;
use common::tls_pki::make_pki;
use common::{p, PATIENCE};
use exec::{py_tls_client, TlsRun};

/// Run one inetd-style rstunnel on `conf` for a Python TLS client that
/// sends `data`; return what the client got and rstunnel's stderr.
fn inetd_once(conf: &str, data: Vec<u8>, expect: Option<usize>) -> (TlsRun, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inetd.conf");
    std::fs::write(&path, conf).unwrap();
    let (listener, port) = common::net::listener();
    let client =
        std::thread::spawn(move || py_tls_client("127.0.0.1", port, &data, expect, None, None));
    let (sock, _) = listener.accept().unwrap();
    let input = OwnedFd::from(sock);
    let output = input.try_clone().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstunnel"))
        .arg(&path)
        .stdin(Stdio::from(input))
        .stdout(Stdio::from(output))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run = client.join().unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "inetd rstunnel did not exit"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "exit {status:?}; stderr:\n{err}");
    (run, err)
}

fn conf(cert: &std::path::Path, exec: &str) -> String {
    format!(
        "foreground = yes\ndebug = info\nsyslog = no\ncert = {}\n{exec}\n",
        p(cert)
    )
}

#[test]
fn inetd_exec_cat_echoes() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let data = payload(256 * 1024, 9);
    let (run, err) = inetd_once(
        &conf(&pki.combined, "exec = /bin/cat"),
        data.clone(),
        Some(data.len()),
    );
    assert!(
        run.received == data,
        "echo returned {} bytes",
        run.received.len()
    );
    assert!(err.contains("Local mode child started (PID="), "{err}");
    // stdin is the accepted socket, so the client's address is known.
    let accepted = format!(
        "Service [stunnel] accepted connection from 127.0.0.1:{}",
        run.local_port
    );
    assert!(err.contains(&accepted), "{err}");
}

#[test]
fn inetd_exec_sees_the_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let (run, _) = inetd_once(
        &conf(&pki.combined, "exec = /usr/bin/env"),
        Vec::new(),
        None,
    );
    let text = String::from_utf8_lossy(&run.received).into_owned();
    assert!(text.lines().any(|l| l == "REMOTE_HOST=127.0.0.1"), "{text}");
    let port = format!("REMOTE_PORT={}", run.local_port);
    assert!(text.lines().any(|l| l == port), "{text}");
}
