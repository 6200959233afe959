//! A fleet's shared session tickets, from outside: the lines of a
//! `ticketKeyFile`, replaced as an operator would, and `openssl s_client`
//! carrying a session from one connection to the next (perhaps to another
//! node) through `-sess_out` / `-sess_in`.

use std::path::Path;
use std::process::Command;

/// A `ticketKeyFile` line whose key name is 16 bytes of `n` (the secrets
/// are derived from `n` too).
pub fn key(n: u8) -> String {
    let mut bytes = vec![n; 16];
    bytes.extend([n.wrapping_add(100); 32]);
    bytes.extend([n.wrapping_add(200); 32]);
    hex(&bytes)
}

/// The name of [`key`]`(n)`, as the daemon logs it (`newest NAME`).
pub fn name(n: u8) -> String {
    hex(&[n; 16])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Replace the key file the way an operator should: a new file, renamed.
pub fn write_keys(path: &Path, keys: &[u8]) {
    let text: String = keys.iter().map(|n| key(*n) + "\n").collect();
    write_atomically(path, &text);
}

/// Write `text` to a new file beside `path` (mode 0600), then rename it.
pub fn write_atomically(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// What one `openssl s_client` run printed.
pub struct SClient {
    pub out: String,
    pub err: String,
    /// The handshake resumed the offered session (`Reused,`).
    pub reused: bool,
}

/// `openssl s_client` to 127.0.0.1:`port` with `version` (`-tls1_2`,
/// `-tls1_3`) and `args`, `input` on its stdin (it ignores the end of its
/// input and reads until the server closes), offering the session in
/// `offer` and saving the session it holds afterwards to `save`.
pub fn s_client_session(
    port: u16,
    version: &str,
    args: &[&str],
    input: &[u8],
    offer: Option<&Path>,
    save: &Path,
) -> SClient {
    let _ = std::fs::remove_file(save);
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-connect",
        &format!("127.0.0.1:{port}"),
        version,
    ])
    .args(args)
    .args(["-ign_eof", "-sess_out"])
    .arg(save);
    if let Some(offer) = offer {
        cmd.arg("-sess_in").arg(offer);
    }
    let (_, out, err) = super::run_cmd_input(&mut cmd, input, super::PATIENCE);
    let reused = out.contains("Reused,");
    assert!(reused || out.contains("New,"), "s_client:\n{out}\n{err}");
    // OpenSSL's TLS 1.2 client saves no session after a resumption (its
    // new-session callback is not called then), even with a new ticket.
    if !save.exists() {
        std::fs::copy(offer.expect("a session was saved"), save).unwrap();
    }
    SClient { out, err, reused }
}
