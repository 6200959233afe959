//! tlslite-ng peers (`tests/peers/tlslite_peer.py`): the old clients and
//! the old appliance of the legacy-TLS tests (SSL 3.0, 3DES, RC4), which no
//! OpenSSL on this machine can play. tlslite-ng comes from PyPI
//! (`scripts/test-deps pip`); the `python3` of PATH must import it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{must_run, run_cmd};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/tlslite_peer.py")
}

/// Whether tlslite-ng is importable; else the test cannot run.
pub fn available(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import tlslite"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        must_run::cannot_run(
            test,
            "python3 cannot import tlslite (pip install tlslite-ng)",
        );
    }
    ok
}

/// One client handshake with PROFILE (`xp`, `rc4`, `ssl3`) to 127.0.0.1:port:
/// `OK VERSION CIPHER ping PROFILE` (the echo through the tunnel) or
/// `FAIL …`.
pub fn client(port: u16, profile: &str) -> String {
    let (_, out, err) =
        run_cmd(
            Command::new("python3")
                .arg(script())
                .args(["client", &port.to_string(), profile]),
        );
    format!(
        "{}{}",
        out.trim(),
        if out.trim().is_empty() {
            err
        } else {
            String::new()
        }
    )
}

/// A one-connection tlslite-ng server accepting only PROFILE.
pub struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    pub port: u16,
}

impl Server {
    pub fn start(cert: &Path, key: &Path, profile: &str) -> Server {
        let mut child = Command::new("python3")
            .arg(script())
            .arg("server")
            .args([cert, key])
            .arg(profile)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("port line");
        let port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("tlslite server said {first:?}"));
        Server { child, out, port }
    }

    /// The server's verdict on its one connection (`OK SSLv3 3des`).
    pub fn outcome(mut self) -> String {
        let mut line = String::new();
        let _ = self.out.read_line(&mut line);
        line.trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
