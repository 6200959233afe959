//! Context options and their errors (stunnel-reference §6.1–§6.4, §5.10):
//! `options` masks and the debug line, `config` commands, `curves`,
//! `ciphers`, key/certificate mismatch, encrypted keys without a terminal,
//! PSK, `renegotiation = no`, and the `-test` description.

use crate::common::tls_pki;
use crate::common::tls_service;

use std::io::Write;
use std::time::Duration;

use rstunnel::tls::{build, Loading, TlsContext};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::time::timeout;

use tls_service::*;

const LIMIT: Duration = Duration::from_secs(15);

#[tokio::test]
async fn options_masks_and_config_commands() {
    let mut svc = default_service("opts");
    // options = NO_TLSv1, options = -NO_SSLv3, options = no_tlsv1_1
    svc.options.options_set = 0x0400_0000 | 0x1000_0000;
    svc.options.options_clear = 0x0200_0000;
    logged("opts-build", async { build(&svc, Loading::PolicyOnly) })
        .await
        .expect("build");
    assert!(has_line(
        "opts-build",
        "TLS options: 0x14100000 (+0x14000000, -0x2000000)"
    ));
    assert!(
        has_line("opts-build", "OpenSSL security level is used: 2")
            || has_line("opts-build", "stunnel default security level set: 2")
    );

    let mut svc = default_service("conf");
    svc.options.conf_cmds = vec![("MinProtocol".to_string(), Some("TLSv1.3".to_string()))];
    let ctx = logged("conf-build", async { build(&svc, Loading::PolicyOnly) })
        .await
        .expect("build");
    assert!(has_line(
        "conf-build",
        "OpenSSL config \"MinProtocol\" set to \"TLSv1.3\""
    ));
    let report = ctx.describe();
    assert!(
        report
            .iter()
            .any(|l| l == "protocol range: TLSv1.3 - all (configured)"),
        "{report:?}"
    );
    assert!(
        report.iter().any(|l| l == "usable protocols: TLSv1.3"),
        "{report:?}"
    );

    svc.options.conf_cmds = vec![("Bogus".to_string(), Some("x".to_string()))];
    let err = build(&svc, Loading::PolicyOnly)
        .err()
        .expect("unknown command");
    assert_eq!(
        err.to_string(),
        "OpenSSL config command \"Bogus\" was not recognised"
    );
}

#[test]
fn bad_curves_ciphers_and_keys_fail_the_build() {
    let mut svc = default_service("curves");
    svc.options.curves = Some("X25519:nonsense".to_string());
    let err = build(&svc, Loading::PolicyOnly).err().expect("bad curves");
    assert_eq!(err.to_string(), "Invalid groups list in 'curves'");

    let mut svc = default_service("ciphers");
    svc.options.ciphers = Some("NO-SUCH-CIPHER".to_string());
    let err = build(&svc, Loading::PolicyOnly).err().expect("bad ciphers");
    assert_eq!(err.context, "SSL_CTX_set_cipher_list");
    assert!(err.mentions("no cipher match"), "{err}");

    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("mismatch");
    svc.options.cert = Some(pki.server_cert.clone());
    svc.options.key = Some(pki.client_key.clone());
    assert!(build(&svc, Loading::Files).is_err());
    // The same service builds when files are not loaded (-test policy).
    assert!(build(&svc, Loading::PolicyOnly).is_ok());

    svc.options.cert = Some(dir.path().join("missing.pem"));
    let err = build(&svc, Loading::Files).err().expect("missing cert");
    assert_eq!(err.context, "SSL_CTX_use_certificate_chain_file");
}

#[test]
fn encrypted_key_without_terminal_is_a_clear_error() {
    if std::fs::File::open("/dev/tty").is_ok() {
        eprintln!("skipped: this process has a controlling terminal");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let pem = std::fs::read(&pki.server_key).expect("key");
    let key = openssl::pkey::PKey::private_key_from_pem(&pem).expect("parse");
    let enc = key
        .private_key_to_pem_pkcs8_passphrase(openssl::symm::Cipher::aes_256_cbc(), b"secret")
        .expect("encrypt");
    let enc_path = dir.path().join("enc.key");
    std::fs::write(&enc_path, enc).expect("write");
    let mut svc = default_service("enc");
    svc.options.cert = Some(pki.server_cert.clone());
    svc.options.key = Some(enc_path.clone());
    let err = build(&svc, Loading::Files).err().expect("no pass phrase");
    assert_eq!(err.context, "SSL_CTX_use_PrivateKey_file");
    assert_eq!(
        err.to_string(),
        format!(
            "SSL_CTX_use_PrivateKey_file: Private key {} is encrypted and no terminal is available to enter its pass phrase",
            enc_path.display()
        )
    );
}

/// One s_client run with `args`, stdin `input`; returns what our side read
/// (or the read error text) and s_client's output.
async fn run_client(
    ctx: &TlsContext,
    id: &str,
    args: &[&str],
    input: &[u8],
) -> Result<String, String> {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    let mut all = vec!["s_client", "-connect", &addr];
    all.extend_from_slice(args);
    let mut peer = spawn("openssl", &all);
    let mut stdin = peer.0.stdin.take().expect("stdin");
    let (tcp, _) = timeout(LIMIT, l.accept())
        .await
        .expect("in time")
        .expect("accept");
    let mut tls = logged(id, timeout(LIMIT, ctx.accept(tcp)))
        .await
        .expect("in time")
        .map_err(|e| e.to_string())?;
    let _ = stdin.write_all(input);
    let mut line = String::new();
    let read = logged(id, async {
        let mut r = BufReader::new(&mut tls);
        timeout(LIMIT, r.read_line(&mut line))
            .await
            .expect("in time")
    })
    .await;
    let result = match read {
        Ok(_) => {
            let _ = tls.write_all(b"ok\n").await;
            let _ = tls.shutdown().await;
            Ok(line)
        }
        Err(e) => Err(e.to_string()),
    };
    drop(tls);
    drop(stdin);
    let _ = peer.finish(LIMIT);
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psk_server_accepts_known_identity() {
    let mut svc = default_service("psk");
    svc.options.psk_secrets = vec![("alice".to_string(), b"0123456789abcdef0123".to_vec())];
    let ctx = build(&svc, Loading::Files).expect("build");
    let hex: String = b"0123456789abcdef0123"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let got = run_client(
        &ctx,
        "psk-ok",
        &["-quiet", "-tls1_2", "-psk_identity", "alice", "-psk", &hex],
        b"hi\n",
    )
    .await;
    assert_eq!(got.as_deref(), Ok("hi\n"), "{:?}", lines("psk-ok"));
    assert!(has_line(
        "psk-ok",
        "Key configured for PSK identity \"alice\""
    ));
    let got = run_client(
        &ctx,
        "psk-bad",
        &["-quiet", "-tls1_2", "-psk_identity", "bob", "-psk", &hex],
        b"hi\n",
    )
    .await;
    assert!(got.is_err());
    assert!(has_line(
        "psk-bad",
        "PSK identity not found (session resumption?)"
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renegotiation_no_aborts_a_client_renegotiation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = tls_pki::make_pki(dir.path());
    let mut svc = default_service("reneg");
    svc.options.cert = Some(pki.combined.clone());
    // OpenSSL 3 refuses client renegotiation unless allowed explicitly.
    svc.options.options_set = 0x100; // ALLOW_CLIENT_RENEGOTIATION
    svc.options.renegotiation = false;
    let ctx = build(&svc, Loading::Files).expect("build");
    let got = run_client(&ctx, "reneg-no", &["-tls1_2"], b"R\nhi\n").await;
    assert_eq!(
        got,
        Err("Aborting due to renegotiation request".to_string())
    );
    assert!(has_line(
        "reneg-no",
        "Aborting due to renegotiation request"
    ));

    // renegotiation = yes: the data sent after the renegotiation arrives.
    // s_client drops the rest of a buffer after a command, so "hi" is sent
    // once it has printed RENEGOTIATING (on stderr).
    svc.options.renegotiation = true;
    let ctx = build(&svc, Loading::Files).expect("build");
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = format!("127.0.0.1:{}", l.local_addr().expect("addr").port());
    let mut peer = spawn("openssl", &["s_client", "-connect", &addr, "-tls1_2"]);
    let mut stdin = peer.0.stdin.take().expect("stdin");
    let stderr = peer.0.stderr.take().expect("stderr");
    let (tcp, _) = timeout(LIMIT, l.accept())
        .await
        .expect("in time")
        .expect("accept");
    let mut tls = logged("reneg-yes", timeout(LIMIT, ctx.accept(tcp)))
        .await
        .expect("in time")
        .expect("handshake");
    stdin.write_all(b"R\n").expect("R");
    let feeder = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(stderr);
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            if line.contains("RENEGOTIATING") {
                let _ = stdin.write_all(b"hi\n");
                return Some(stdin);
            }
            line.clear();
        }
        None
    });
    let mut line = String::new();
    let read = logged("reneg-yes", async {
        let mut r = BufReader::new(&mut tls);
        timeout(LIMIT, r.read_line(&mut line))
            .await
            .expect("in time")
    })
    .await;
    assert!(read.is_ok(), "{read:?}");
    assert_eq!(line, "hi\n");
    let _ = tls.shutdown().await;
    drop(peer);
    let _ = feeder.join();
}
