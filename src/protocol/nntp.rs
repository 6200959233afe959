//! `protocol = nntp`, client mode only (stunnel-reference §4.5): STARTTLS
//! (RFC 4642). Relay the `200`/`201` greeting to the plain client, send
//! `STARTTLS`, expect `382`; TLS follows on the same socket.

use super::hook::{Abort, Ctx, HookResult, Outcome, Streams};
use super::line::{starts, Wire};
use crate::log::ERR;

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    let line = remote.read_line().await?;
    if !starts(&line, "200 ") && !starts(&line, "201 ") {
        slog!(ERR, "Unknown server welcome");
        return Err(Abort::Reset);
    }
    local.write_line(&line).await?;
    remote.write_str("STARTTLS").await?;
    if !starts(&remote.read_line().await?, "382 ") {
        slog!(ERR, "Server does not support TLS");
        return Err(Abort::Reset);
    }
    Ok(Outcome::default())
}
