//! `protocol = imap` (stunnel-reference §4.4): STARTTLS (RFC 2595).
//!
//! * client middle: check the `* OK` greeting, tell the plain client
//!   `* OK Connected.`, send `stunnel STARTTLS`; a refusal is answered with
//!   `* BYE` and a graceful close;
//! * server middle (remote connected first): 200 ms implicit-TLS detection
//!   as for SMTP, then relay the greeting (CAPABILITY hidden), answer the
//!   client's `CAPABILITY` through the backend with ` STARTTLS` appended,
//!   accept `STARTTLS`; anything else ends with a clean backend LOGOUT and a
//!   graceful close.

use super::hook::{Abort, Ctx, HookResult, Outcome, Streams};
use super::line::{cat, starts, Wire};
use crate::log::ERR;

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    if !starts(&remote.read_line().await?, "* OK") {
        slog!(ERR, "Unknown server welcome");
        return Err(Abort::Reset);
    }
    local.write_str("* OK Connected.").await?;
    remote.write_str("stunnel STARTTLS").await?;
    if !starts(&remote.read_line().await?, "stunnel OK") {
        local
            .write_str("* BYE stunnel: Server does not support TLS")
            .await?;
        slog!(ERR, "Server does not support TLS");
        return Err(Abort::Close);
    }
    Ok(Outcome::default())
}

/// Position of `needle` in `hay` (`strstr`).
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub(super) async fn server_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    if let Some(implicit) = super::smtp::implicit_tls(&mut *local, "RFC 2595").await? {
        return Ok(implicit);
    }
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);

    let mut greeting = remote.read_line().await?;
    if !starts(&greeting, "* OK") {
        slog!(ERR, "Unknown server welcome");
        return Err(Abort::Reset);
    }
    let capa = find(&greeting, b"CAPABILITY").or_else(|| find(&greeting, b"capability"));
    if let Some(i) = capa {
        greeting[i] = b'K'; // disable CAPABILITY within the greeting
    }
    local.write_line(&cat(&greeting, b" (stunnel)")).await?;

    loop {
        let line = local.read_line().await?;
        let Some(space) = line.iter().position(|&b| b == b' ') else {
            break;
        };
        let (id, tail) = (&line[..space], &line[space + 1..]);
        if starts(tail, "STARTTLS") {
            local
                .write_line(&cat(id, b" OK Begin TLS negotiation now"))
                .await?;
            return Ok(Outcome::default());
        } else if starts(tail, "CAPABILITY") {
            remote.write_line(&line).await?;
            let mut reply = remote.read_line().await?;
            if reply.first() == Some(&b'*') {
                // append STARTTLS (LOGINDISABLED would break Mozilla, as stunnel notes)
                local.write_line(&cat(&reply, b" STARTTLS")).await?;
                reply = remote.read_line().await?;
            }
            local.write_line(&reply).await?;
            let ok = match reply.iter().position(|&b| b == b' ') {
                Some(i) => starts(&reply[i + 1..], "OK"),
                None => false,
            };
            if !ok {
                local.write_str("* BYE unexpected server response").await?;
                slog!(
                    ERR,
                    "Unexpected server response: {}",
                    String::from_utf8_lossy(&reply)
                );
                break;
            }
        } else if starts(tail, "LOGOUT") {
            local.write_str("* BYE server terminating").await?;
            local.write_line(&cat(id, b" OK LOGOUT completed")).await?;
            break;
        } else {
            local.write_str("* BYE stunnel: unexpected command").await?;
            let mut bad = cat(id, b" BAD ");
            bad.extend(cat(tail, b" unexpected"));
            local.write_line(&bad).await?;
            slog!(
                ERR,
                "Unexpected client command {}",
                String::from_utf8_lossy(tail)
            );
            break;
        }
    }
    // clean server shutdown
    remote.write_str("stunnel LOGOUT").await?;
    if remote.read_line().await?.first() == Some(&b'*') {
        remote.read_line().await?;
    }
    Err(Abort::Close)
}
