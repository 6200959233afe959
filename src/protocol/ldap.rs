//! `protocol = ldap`, client mode only (stunnel-reference §4.6): the LDAPv3
//! StartTLS extended operation (RFC 2830/4511) with stunnel's fixed request
//! and its byte-wise check of the response (WinLDAP's 4-byte lengths
//! accepted). TLS follows on the same socket.

use super::hook::{fail, Ctx, HookResult, Outcome, Streams};
use super::line::Wire;
use crate::log::{DEBUG, INFO};

/// ExtendedRequest, messageID 1, requestName 1.3.6.1.4.1.1466.20037, no value.
const STARTTLS: &[u8; 31] = b"\x30\x1d\x02\x01\x01\x77\x18\x80\x161.3.6.1.4.1.1466.20037";
/// The long-form length marker WinLDAP uses (`84` + 4 bytes).
const WINLDAP_LEN: u8 = 0x84;

pub(super) async fn client_middle<'a>(ctx: &'a Ctx<'a>, s: Streams<'a>) -> HookResult {
    let (_, remote) = s.both()?;
    let mut remote = Wire::plain(remote, &ctx.busy);
    slog!(DEBUG, "Sending LDAP Start TLS request");
    remote.write_all(STARTTLS).await?;

    slog!(DEBUG, "Receiving LDAP response tag");
    if remote.read_u8().await? != 0x30 {
        return fail("LDAP response is not UNIVERSAL SEQUENCE");
    }
    slog!(DEBUG, "Receiving LDAP response length");
    let len = match remote.read_u8().await? {
        WINLDAP_LEN => {
            let mut b = [0u8; 4];
            remote.read_exact(&mut b).await?;
            u32::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut resp = [0u8; 128];
    if len > resp.len() {
        return fail(&format!("LDAP response too long ({len} byte(s))"));
    }
    slog!(DEBUG, "Receiving LDAP response value ({len} byte(s))");
    remote.read_exact(&mut resp[..len]).await?;

    slog!(DEBUG, "Decoding LDAP response value");
    // stunnel reads the zero-filled 128-byte buffer regardless of `len`.
    let mut i = 0;
    let mut next = || {
        let b = resp[i];
        i += 1;
        b
    };
    if next() != 0x02 {
        return fail("LDAP response has an incorrect message ID type");
    }
    if next() != 0x01 {
        return fail("LDAP response has an unexpected message ID length");
    }
    if next() != 0x01 {
        return fail("LDAP response has an unexpected message ID value");
    }
    if next() != 0x78 {
        return fail("LDAP response protocol op is not ExtendedResponse");
    }
    // the protocol op length is not validated
    if next() == WINLDAP_LEN {
        for _ in 0..4 {
            next();
        }
    }
    if next() != 0x0a {
        return fail("LDAP response has an unexpected result code type");
    }
    if next() != 0x01 {
        return fail("LDAP response has an unexpected result code length");
    }
    let code = next();
    if code != 0 {
        return fail(&format!("LDAP response has indicated an error ({code})"));
    }
    // any remaining data is ignored
    slog!(INFO, "LDAP Start TLS successfully negotiated");
    Ok(Outcome::default())
}
