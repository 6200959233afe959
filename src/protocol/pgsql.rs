//! `protocol = pgsql` (stunnel-reference §4.7): PostgreSQL's SSLRequest.
//!
//! * client middle: send the 8-byte SSLRequest, expect `S`;
//! * server early (before TLS): expect the SSLRequest and answer `S`; a
//!   GSSENCRequest gets an ErrorResponse and a graceful close (so libpq
//!   retries with SSL), anything else is reset.

use super::hook::{Abort, Ctx, HookResult, Outcome, Streams};
use super::line::Wire;
use crate::log::{DEBUG, ERR, INFO};

/// SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
/// GSSENCRequest: length 8, code 80877104.
const GSS_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];
/// ErrorResponse `SERROR`, `CXX000`, `MSSL expected but not requested by client`,
/// byte for byte as stunnel's `gss_response`.
const GSS_RESPONSE: &[u8; 62] =
    b"E\0\0\0\x3dSERROR\0CXX000\0MSSL expected but not requested by client\0\0";

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (_, remote) = s.both()?;
    let mut remote = Wire::plain(remote, &ctx.busy);
    remote.write_all(&SSL_REQUEST).await?;
    // S - accepted, N - rejected, non-TLS preferred
    if remote.read_u8().await? != b'S' {
        slog!(ERR, "PostgreSQL server rejected TLS");
        return Err(Abort::Reset);
    }
    Ok(Outcome::default())
}

pub(super) async fn server_early<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let mut local = Wire::plain(s.local, &ctx.busy);
    slog!(DEBUG, "Started server-side psql protocol negotiation");
    let mut buf = [0u8; 8];
    local.read_exact(&mut buf).await?;
    if buf == GSS_REQUEST {
        slog!(INFO, "GSSAPI encryption requested, rejecting gracefully");
        local.write_all(GSS_RESPONSE).await?;
        return Err(Abort::Close);
    }
    if buf != SSL_REQUEST {
        slog!(ERR, "PostgreSQL client did not request TLS, rejecting");
        // no way to send an error on startup, so just drop the client
        return Err(Abort::Reset);
    }
    slog!(DEBUG, "SSLRequest received");
    local.write_all(b"S").await?;
    Ok(Outcome::default())
}
