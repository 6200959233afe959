//! `protocol = nntp`, client mode only (stunnel-reference §4.5): STARTTLS
//! (RFC 4642). Relay the `200`/`201` greeting to the plain client, send
//! `STARTTLS`, expect `382`; TLS follows on the same socket.

use super::hook::{Ctx, HookResult, Outcome, Streams};
use super::line::{relay_welcome_then_starttls, Wire};

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (local, remote) = s.both()?;
    let mut local = Wire::plain(local, &ctx.busy);
    let mut remote = Wire::plain(remote, &ctx.busy);
    relay_welcome_then_starttls(
        &mut local,
        &mut remote,
        &["200 ", "201 "],
        "STARTTLS",
        "382 ",
    )
    .await?;
    Ok(Outcome::default())
}
