//! `protocol = capwin` / `capwinctrl` (stunnel-reference §4.12), CapWIN's
//! credential relay.
//!
//! * capwinctrl client early: read up to 99 bytes
//!   (`CMD \x1F user \x1F pass \x1F ctrl \x1C`) from the local connection,
//!   keep them process-wide, close gracefully (no remote);
//! * capwin client late: send `\x1Fuser\x1Fpass\x1F\x1C` over TLS, expect
//!   `BINGO`;
//! * capwin server middle: read the credentials from the TLS client and
//!   check them with an LDAPv3 simple bind to `protocolHost` as
//!   `uid=<user>,ou=people,O=CAPWIN,C=US`; `FAILED` and a graceful close on
//!   failure. Late: `BINGO`.
//!
//! The bind response is compared byte for byte with the 22-byte answer of
//! Windows' LDAP server (4-byte lengths), as 5.68 does. The Windows GUI
//! notifications are not reproduced.

use super::hook::{Abort, Ctx, HookResult, Io, Outcome, Streams};
use super::line::Wire;
use crate::log::{DEBUG, ERR, NOTICE};
use std::sync::Mutex;

/// `CAPWIN_BUFFER_SIZE`: credentials are at most 99 bytes.
const BUFFER: usize = 100;

/// The credentials stored by the last capwinctrl connection.
static AUTH: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The four fields of `CMD \x1F user \x1F pass \x1F ctrl \x1C`.
pub(super) fn decode(src: &[u8]) -> Option<[Vec<u8>; 4]> {
    // stunnel works on a C string: stop at the first NUL
    let src = &src[..src.iter().position(|&b| b == 0).unwrap_or(src.len())];
    let find = |from: usize, what: u8, n: u8| match src[from..].iter().position(|&b| b == what) {
        Some(i) => Some(from + i),
        None => {
            slog!(ERR, "CapWIN: Malformed credentials ({n})");
            None
        }
    };
    let us1 = find(0, 0x1f, 1)?;
    let us2 = find(us1 + 1, 0x1f, 2)?;
    let us3 = find(us2 + 1, 0x1f, 3)?;
    let fs = find(us3 + 1, 0x1c, 4)?;
    Some([
        src[..us1].to_vec(),
        src[us1 + 1..us2].to_vec(),
        src[us2 + 1..us3].to_vec(),
        src[us3 + 1..fs].to_vec(),
    ])
}

pub(super) async fn ctrl_client_early<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    slog!(DEBUG, "CapWIN: Setting credentials");
    let mut buf = vec![0u8; BUFFER - 1];
    let n = Wire::plain(s.local, &ctx.busy).read_eof(&mut buf).await?;
    buf.truncate(n);
    *AUTH.lock().unwrap_or_else(|p| p.into_inner()) = buf;
    slog!(NOTICE, "CapWIN: Credentials set");
    // skip connecting a remote host
    Err(Abort::Close)
}

pub(super) async fn client_late<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let auth = AUTH.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if auth.first().map_or(true, |&b| b == 0) {
        slog!(ERR, "CapWIN: No credentials set");
        return Err(Abort::Reset);
    }
    let [cmd, user, pass, _ctrl] = decode(&auth).ok_or(Abort::Reset)?;
    if cmd != b"AUTH" {
        slog!(ERR, "CapWIN: Invalid authentication request");
        return Err(Abort::Reset);
    }
    let mut req = vec![0x1f];
    req.extend_from_slice(&user);
    req.push(0x1f);
    req.extend_from_slice(&pass);
    req.extend_from_slice(&[0x1f, 0x1c]);

    let (_, remote) = s.both()?;
    let mut tls = Wire::tls(remote, &ctx.busy);
    slog!(DEBUG, "CapWIN: Sending credentials");
    tls.write_all(&req).await?;
    slog!(DEBUG, "CapWIN: Waiting for response");
    let mut resp = [0u8; 5];
    tls.read_exact(&mut resp).await?;
    if &resp != b"BINGO" {
        slog!(ERR, "CapWIN: Authentication failed");
        return Err(Abort::Reset);
    }
    slog!(NOTICE, "CapWIN: Authentication succeeded");
    Ok(Outcome::default())
}

pub(super) async fn server_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let mut tls = Wire::tls(s.local, &ctx.busy);
    let mut buf = Vec::with_capacity(BUFFER);
    for _ in 0..BUFFER - 1 {
        let b = tls.read_u8().await?;
        buf.push(b);
        if b == 0x1c {
            break;
        }
    }
    // malformed request: reset instead of sending "FAILED"
    let [_, user, pass, _] = decode(&buf).ok_or(Abort::Reset)?;
    let dn = format!("uid={},ou=people,O=CAPWIN,C=US", escape_dn(&user));
    if !ldap_auth(ctx, dn.as_bytes(), &pass).await? {
        slog!(ERR, "CapWIN: Authentication failed");
        tls.write_all(b"FAILED").await?;
        return Err(Abort::Close);
    }
    slog!(NOTICE, "CapWIN: Authentication succeeded");
    Ok(Outcome::default())
}

pub(super) async fn server_late<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    Wire::tls(s.local, &ctx.busy).write_all(b"BINGO").await?;
    Ok(Outcome::default())
}

/// Backslash before `+;,\"<>#`, as stunnel's `ldap_escape_dn`.
fn escape_dn(user: &[u8]) -> String {
    let mut out = String::new();
    for &b in user {
        if b"+;,\\\"<>#".contains(&b) {
            out.push('\\');
        }
        out.push(b as char);
    }
    out
}

/// The BindRequest for `dn`/`pass`, or `None` if too long for stunnel's
/// short-form encoding.
pub(super) fn bind_request(dn: &[u8], pass: &[u8]) -> Option<Vec<u8>> {
    let req_len = dn.len() + pass.len() + 14;
    if req_len > 120 {
        slog!(ERR, "LDAP: Request too long");
        return None;
    }
    let mut r = vec![0x30, (dn.len() + pass.len() + 12) as u8, 0x02, 0x01, 0x01];
    r.extend_from_slice(&[0x60, (dn.len() + pass.len() + 7) as u8, 0x02, 0x01, 0x03]);
    r.extend_from_slice(&[0x04, dn.len() as u8]);
    r.extend_from_slice(dn);
    r.extend_from_slice(&[0x80, pass.len() as u8]);
    r.extend_from_slice(pass);
    Some(r)
}

/// The only BindResponse stunnel accepts: success, 4-byte lengths.
const RESP_OK: [u8; 22] = [
    0x30, 0x84, 0x00, 0x00, 0x00, 0x10, 0x02, 0x01, 0x01, 0x61, 0x84, 0x00, 0x00, 0x00, 0x07, 0x0a,
    0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
];

/// Simple bind to `protocolHost`: `Ok(true)` on success, `Ok(false)` when
/// it cannot be tried or is refused; I/O failures after connecting reset,
/// as stunnel's `s_read`/`s_write` throw.
async fn ldap_auth(ctx: &Ctx<'_>, dn: &[u8], pass: &[u8]) -> Result<bool, Abort> {
    let Some(req) = bind_request(dn, pass) else {
        return Ok(false);
    };
    let name = ctx.settings.host.as_deref().unwrap_or("");
    let (host, port) = match name.rfind(':') {
        Some(i) => (Some(&name[..i]), &name[i + 1..]),
        None => (None, name),
    };
    let Some(&addr) = ctx.net.resolve(host, port).await.first() else {
        slog!(ERR, "LDAP: Failed to resolve protocolHost");
        return Ok(false);
    };
    slog!(DEBUG, "LDAP: Connecting the server");
    let Ok(mut sock) = ctx.net.connect(addr).await else {
        return Ok(false);
    };
    let mut w = Wire::plain(&mut *sock as &mut dyn Io, &ctx.busy);
    slog!(DEBUG, "LDAP: Sending BindRequest");
    w.write_all(&req).await?;
    slog!(DEBUG, "LDAP: Waiting for BindResponse");
    let mut resp = [0u8; 22];
    w.read_exact(&mut resp).await?;
    Ok(resp == RESP_OK)
}
