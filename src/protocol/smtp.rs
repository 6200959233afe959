//! `protocol = smtp` (stunnel-reference §4.2): STARTTLS (RFC 3207, stunnel
//! still names it RFC 2487) and, in client mode, AUTH PLAIN/LOGIN over TLS.
//!
//! * client middle: relay the greeting to the plain client, `EHLO`,
//!   `STARTTLS` to the server; TLS follows on the same socket;
//! * client late: with `protocolUsername` + `protocolPassword`, 5.68's
//!   `HELO` + one reply line, then AUTH (5.73+ sends EHLO: not reproduced);
//! * server middle (remote connected first): 200 ms to see whether the client
//!   talks first (then it is implicit TLS and its bytes go back to the
//!   connection in `Outcome::pushback`), else play the STARTTLS dialogue.

use super::hook::{base64, Abort, Ctx, HookResult, Outcome, Streams};
use super::line::{cat, starts, Wire};
use crate::log::{DEBUG, ERR};
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How long stunnel waits for a client that speaks first.
const DETECT: Duration = Duration::from_millis(200);

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    loop {
        // copy the multiline greeting
        let line = remote.read_line().await?;
        local.write_line(&line).await?;
        if !starts(&line, "220-") {
            break;
        }
    }
    let host = ctx.settings.host.as_deref().unwrap_or("localhost");
    remote.write_str(&format!("EHLO {host}")).await?;
    let line = skip(&mut remote, "250-").await?;
    if !starts(&line, "250 ") {
        slog!(ERR, "Remote server is not RFC 1425 compliant");
        return Err(Abort::Reset);
    }
    remote.write_str("STARTTLS").await?;
    let line = skip(&mut remote, "220-").await?;
    if !starts(&line, "220 ") {
        slog!(ERR, "Remote server is not RFC 2487 compliant");
        return Err(Abort::Reset);
    }
    Ok(Outcome::default())
}

/// Read lines while they start with `prefix`; return the first that does not.
async fn skip(wire: &mut Wire<'_>, prefix: &str) -> Result<Vec<u8>, Abort> {
    loop {
        let line = wire.read_line().await?;
        if !starts(&line, prefix) {
            return Ok(line);
        }
    }
}

pub(super) async fn client_late<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let p = ctx.settings;
    let (Some(user), Some(pass)) = (&p.username, &p.password) else {
        return Ok(Outcome::default());
    };
    let (_, remote) = s.both()?;
    let mut tls = Wire::tls(remote, &ctx.busy);
    let host = p.host.as_deref().unwrap_or("localhost");
    tls.write_str(&format!("HELO {host}")).await?;
    tls.read_line().await?; // 5.68 ignores the reply (one line)
    let login = p
        .authentication
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("LOGIN"));
    if login {
        auth_login(&mut tls, user, pass).await?;
    } else {
        auth_plain(&mut tls, user, pass).await?;
    }
    Ok(Outcome::default())
}

async fn auth_plain(tls: &mut Wire<'_>, user: &str, pass: &str) -> Result<(), Abort> {
    let token = format!("\0{user}\0{pass}");
    tls.write_str(&format!("AUTH PLAIN {}", base64(token.as_bytes())))
        .await?;
    if !starts(&tls.read_line().await?, "235 ") {
        slog!(ERR, "PLAIN Authentication Failed");
        return Err(Abort::Reset);
    }
    Ok(())
}

async fn auth_login(tls: &mut Wire<'_>, user: &str, pass: &str) -> Result<(), Abort> {
    tls.write_str("AUTH LOGIN").await?;
    if !starts(&tls.read_line().await?, "334 ") {
        slog!(ERR, "Remote server does not support LOGIN authentication");
        return Err(Abort::Reset);
    }
    tls.write_str(&base64(user.as_bytes())).await?;
    if !starts(&tls.read_line().await?, "334 ") {
        slog!(ERR, "LOGIN authentication failed");
        return Err(Abort::Reset);
    }
    tls.write_str(&base64(pass.as_bytes())).await?;
    if !starts(&tls.read_line().await?, "235 ") {
        slog!(ERR, "LOGIN authentication failed");
        return Err(Abort::Reset);
    }
    Ok(())
}

/// Wait [`DETECT`] for the client to send something. If it did, it speaks
/// TLS at once (implicit TLS): the hook ends with what it sent as the
/// handshake's pushback (at EOF: empty, the handshake will see the EOF
/// itself). `None`: it waits for the greeting, STARTTLS follows.
pub(super) async fn implicit_tls(
    local: &mut dyn super::hook::Io,
    rfc: &str,
) -> Result<Option<Outcome>, Abort> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(DETECT, local.read(&mut buf)).await {
        Err(_) => {
            slog!(DEBUG, "{rfc} detected");
            Ok(None)
        }
        Ok(Ok(n)) => {
            slog!(DEBUG, "{rfc} not detected");
            buf.truncate(n);
            Ok(Some(Outcome {
                pushback: buf,
                ..Outcome::default()
            }))
        }
        Ok(Err(e)) => {
            slog!(
                ERR,
                "{} (s_poll_wait): {}",
                rfc.replace(' ', ""),
                crate::os::errno::of_io(&e)
            );
            Err(Abort::Reset)
        }
    }
}

pub(super) async fn server_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    if let Some(implicit) = implicit_tls(&mut *local, "RFC 2487").await? {
        return Ok(implicit);
    }
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);

    let mut line = remote.read_line().await?;
    if !(starts(&line, "220 ") || starts(&line, "220-")) {
        slog!(ERR, "Unknown server welcome");
        return Err(Abort::Reset);
    }
    let rest = line.split_off(4); // line keeps "220 " or "220-"
    let (domain, greeting) = match rest.iter().position(|&b| b == b' ') {
        Some(i) => (rest[..i].to_vec(), Some(rest[i + 1..].to_vec())),
        None => (rest, None),
    };
    let mut first = cat(&line, &domain);
    match greeting {
        Some(g) => first.extend(cat(b" stunnel for ", &g)),
        None => first.extend_from_slice(b" stunnel"),
    }
    local.write_line(&first).await?;
    while starts(&line, "220-") {
        line = remote.read_line().await?;
        local.write_line(&line).await?;
    }

    if !starts(&local.read_line().await?, "EHLO ") {
        slog!(ERR, "Unknown client EHLO");
        return Err(Abort::Reset);
    }
    local.write_line(&cat(b"250-", &domain)).await?;
    local.write_str("250 STARTTLS").await?;

    if !starts(&local.read_line().await?, "STARTTLS") {
        slog!(ERR, "STARTTLS expected");
        return Err(Abort::Reset);
    }
    local.write_str("220 Go ahead").await?;
    Ok(Outcome::default())
}
