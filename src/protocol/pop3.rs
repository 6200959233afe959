//! `protocol = pop3` (stunnel-reference §4.3): STLS (RFC 2595).
//!
//! * client middle: check and relay the `+OK` greeting, send `STLS`, expect
//!   `+OK`; TLS follows on the same socket;
//! * server middle (remote connected first): relay the backend greeting with
//!   ` + stunnel`, answer `CAPA` with `STLS`, accept `STLS`. Unlike SMTP and
//!   IMAP there is no 200 ms implicit-TLS detection in 5.68.

use super::hook::{Abort, Ctx, HookResult, Outcome, Streams};
use super::line::{cat, relay_welcome_then_starttls, starts, Wire};
use crate::log::ERR;

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    relay_welcome_then_starttls(&mut local, &mut remote, &["+OK "], "STLS", "+OK ").await?;
    Ok(Outcome::default())
}

pub(super) async fn server_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    let greeting = remote.read_line().await?;
    local.write_line(&cat(&greeting, b" + stunnel")).await?;
    let mut line = local.read_line().await?;
    if starts(&line, "CAPA") {
        // the client wants RFC 2449 extensions
        local
            .write_str("+OK Stunnel capability list follows")
            .await?;
        local.write_str("STLS").await?;
        local.write_str(".").await?;
        line = local.read_line().await?;
    }
    if !starts(&line, "STLS") {
        slog!(ERR, "Client does not want TLS");
        return Err(Abort::Reset);
    }
    local
        .write_str("+OK Stunnel starts TLS negotiation")
        .await?;
    Ok(Outcome::default())
}
