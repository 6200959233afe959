//! `protocol = cifs` (stunnel-reference §4.8): the NetBIOS session exchange
//! of Samba's old "SMB over SSL" (`smb ssl` option).
//!
//! * client middle: an empty session request `81 00 00 00`; the answer must
//!   be the negative response `83 00 00 01 8E` ("use TLS");
//! * server early: read one NetBIOS block (≤ 124-byte payload); a session
//!   request gets `83 00 00 01 8E`, anything else `…81` and a reset.

use super::hook::{fail, Abort, Ctx, HookResult, Outcome, Streams};
use super::line::Wire;
use crate::log::ERR;

/// NB_SSN_REQUEST with an empty payload.
const REQUEST_DUMMY: [u8; 4] = [0x81, 0, 0, 0];
const RESPONSE_ACCESS_DENIED: [u8; 5] = [0x83, 0, 0, 1, 0x81];
const RESPONSE_USE_SSL: [u8; 5] = [0x83, 0, 0, 1, 0x8e];

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (_, remote) = s.both()?;
    let mut remote = Wire::plain(remote, &ctx.busy);
    remote.write_all(&REQUEST_DUMMY).await?;
    let mut buf = [0u8; 5];
    remote.read_exact(&mut buf).await?;
    if buf[0] != 0x83 {
        // NB_SSN_NEGRESP
        return fail("Negative response expected");
    }
    if buf[2] != 0 || buf[3] != 1 {
        return fail("Unexpected NetBIOS response size");
    }
    if buf[4] != 0x8e {
        return fail("Remote server does not require TLS");
    }
    Ok(Outcome::default())
}

pub(super) async fn server_early<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let mut local = Wire::plain(s.local, &ctx.busy);
    let mut buf = [0u8; 128];
    local.read_exact(&mut buf[..4]).await?; // NetBIOS header
    let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
    if len > buf.len() - 4 {
        return fail("Received block too long");
    }
    local.read_exact(&mut buf[4..4 + len]).await?;
    if buf[0] != 0x81 {
        // not NB_SSN_REQUEST
        slog!(ERR, "Client did not send session setup");
        local.write_all(&RESPONSE_ACCESS_DENIED).await?;
        return Err(Abort::Reset);
    }
    local.write_all(&RESPONSE_USE_SSL).await?;
    Ok(Outcome::default())
}
