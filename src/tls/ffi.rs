//! The few OpenSSL calls the `openssl` crate does not wrap, each behind a
//! safe function. All `unsafe` of the tls module lives in this file.
//!
//! What is here: `SSL_CONF_cmd` (the `config` option), the session timeout,
//! the info callback (state trace and renegotiation detection), the legacy
//! session-ticket key callback (`ticketKeySecret`/`ticketMacSecret`,
//! `ticketKeyFile`), the
//! `X509_check_*` subject checks, the trust-store lookup of `verifyPeer`,
//! `X509_NAME_print_ex` (stunnel's subject text), `ERR_error_string_n`, the
//! supported-cipher list of `-test`, a ClientHello extension reader, an OCSP
//! time's distance from now (`ASN1_TIME_diff`, for stapling), and the
//! backend address kept in a server session (session persistence).
//! What is not: any policy; callers decide what the results mean.

use std::ffi::{CStr, CString};
use std::ptr;
use std::sync::{Arc, OnceLock};

use foreign_types::{ForeignType, ForeignTypeRef};
use libc::{c_char, c_int, c_long, c_uchar, c_uint, c_ulong, c_void};
use openssl::ssl::{SslContextBuilder, SslRef};
use openssl::stack::Stack;
use openssl::x509::{X509NameRef, X509Ref, X509StoreContextRef, X509};
use openssl_sys as sys;

use crate::config::ticket_key_file::TicketKey;

/// `SSL_CONF_CTX` is opaque.
#[repr(C)]
struct SslConfCtx {
    _private: [u8; 0],
}

type InfoCb = unsafe extern "C" fn(*const sys::SSL, c_int, c_int);
type TicketKeyCb = unsafe extern "C" fn(
    *mut sys::SSL,
    *mut c_uchar,
    *mut c_uchar,
    *mut sys::EVP_CIPHER_CTX,
    *mut c_void,
    c_int,
) -> c_int;

extern "C" {
    fn SSL_CTX_set_default_read_buffer_len(ctx: *mut sys::SSL_CTX, len: usize);
    fn SSL_SESSION_set_ex_data(s: *mut sys::SSL_SESSION, idx: c_int, data: *mut c_void) -> c_int;
    fn SSL_SESSION_get_ex_data(s: *const sys::SSL_SESSION, idx: c_int) -> *mut c_void;
    fn SSL_CONF_CTX_new() -> *mut SslConfCtx;
    fn SSL_CONF_CTX_free(cctx: *mut SslConfCtx);
    fn SSL_CONF_CTX_set_flags(cctx: *mut SslConfCtx, flags: c_uint) -> c_uint;
    fn SSL_CONF_CTX_set_ssl_ctx(cctx: *mut SslConfCtx, ctx: *mut sys::SSL_CTX);
    fn SSL_CONF_cmd(cctx: *mut SslConfCtx, cmd: *const c_char, value: *const c_char) -> c_int;
    fn SSL_CONF_CTX_finish(cctx: *mut SslConfCtx) -> c_int;
    fn SSL_CTX_set_info_callback(ctx: *mut sys::SSL_CTX, cb: Option<InfoCb>);
    fn SSL_CTX_set_timeout(ctx: *mut sys::SSL_CTX, t: c_long) -> c_long;
    fn SSL_free_buffers(ssl: *mut sys::SSL) -> c_int;
    #[link_name = "SSL_CTX_callback_ctrl"]
    fn SSL_CTX_callback_ctrl_ticket(
        ctx: *mut sys::SSL_CTX,
        cmd: c_int,
        cb: Option<TicketKeyCb>,
    ) -> c_long;
    fn SSL_CTX_ctrl(ctx: *mut sys::SSL_CTX, cmd: c_int, larg: c_long, parg: *mut c_void) -> c_long;
    fn HMAC_Init_ex(
        hctx: *mut c_void,
        key: *const c_void,
        len: c_int,
        md: *const sys::EVP_MD,
        engine: *mut c_void,
    ) -> c_int;
    fn X509_STORE_CTX_get1_certs(
        ctx: *mut sys::X509_STORE_CTX,
        name: *const sys::X509_NAME,
    ) -> *mut sys::stack_st_X509;
    fn X509_NAME_print_ex(
        out: *mut sys::BIO,
        name: *const sys::X509_NAME,
        indent: c_int,
        flags: c_ulong,
    ) -> c_int;
    fn SSL_CTX_get_ciphers(ctx: *const sys::SSL_CTX) -> *mut sys::stack_st_SSL_CIPHER;
    fn SSL_set_options(ssl: *mut sys::SSL, op: u64) -> u64;
    fn SSL_clear_options(ssl: *mut sys::SSL, op: u64) -> u64;
    fn SSL_get_options(ssl: *const sys::SSL) -> u64;
    fn SSL_get1_supported_ciphers(ssl: *mut sys::SSL) -> *mut sys::stack_st_SSL_CIPHER;
    fn EC_curve_nid2nist(nid: c_int) -> *const c_char;
    fn ERR_error_string_n(code: c_ulong, buf: *mut c_char, len: usize);
    fn SSL_alert_type_string_long(value: c_int) -> *const c_char;
    fn SSL_alert_desc_string_long(value: c_int) -> *const c_char;
    fn OCSP_request_add1_nonce(req: *mut sys::OCSP_REQUEST, val: *mut c_uchar, len: c_int)
        -> c_int;
    fn OCSP_check_nonce(req: *mut sys::OCSP_REQUEST, bs: *mut sys::OCSP_BASICRESP) -> c_int;
    fn OCSP_response_status_str(s: c_long) -> *const c_char;
    fn OCSP_cert_status_str(s: c_long) -> *const c_char;
    fn OCSP_crl_reason_str(s: c_long) -> *const c_char;
    fn X509_STORE_CTX_get0_store(ctx: *mut sys::X509_STORE_CTX) -> *mut sys::X509_STORE;
}

const SSL_CONF_FLAG_FILE: c_uint = 0x2;
const SSL_CONF_FLAG_CLIENT: c_uint = 0x4;
const SSL_CONF_FLAG_SERVER: c_uint = 0x8;
const SSL_CONF_FLAG_CERTIFICATE: c_uint = 0x20;
const SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB: c_int = 72;
/// stunnel's `X509_NAME2text`: `XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB &
/// ~XN_FLAG_SPC_EQ`, i.e. `C=PL, O=Org, CN=name`.
const NAME_FLAGS: c_ulong = 0x0082_031F & !0x4 & !0x0080_0000;

/// `ERR_error_string_n`: `error:0A000126:SSL routines::unexpected eof while reading`.
pub fn error_string(code: c_ulong) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the buffer is writable for its full length and OpenSSL
    // NUL-terminates within `len`.
    unsafe {
        ERR_error_string_n(code, buf.as_mut_ptr(), buf.len());
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

/// A subject or issuer as stunnel prints it.
pub fn name_text(name: &X509NameRef) -> String {
    // SAFETY: a memory BIO we create and free here; X509_NAME_print_ex only
    // reads `name`; the buffer pointer from BIO_CTRL_INFO is valid until the
    // BIO is freed, and we copy it before that.
    unsafe {
        let bio = sys::BIO_new(sys::BIO_s_mem());
        if bio.is_null() {
            return String::new();
        }
        let mut text = String::new();
        if X509_NAME_print_ex(bio, name.as_ptr(), 0, NAME_FLAGS) >= 0 {
            let mut data: *mut c_char = ptr::null_mut();
            let len = sys::BIO_ctrl(bio, 3, 0, &mut data as *mut *mut c_char as *mut c_void);
            if len > 0 && !data.is_null() {
                let bytes = std::slice::from_raw_parts(data as *const u8, len as usize);
                text = String::from_utf8_lossy(bytes).into_owned();
            }
        }
        sys::BIO_free_all(bio);
        text
    }
}

/// `SSL_CTX_get_security_level` on a context under construction.
pub fn security_level(builder: &SslContextBuilder) -> u32 {
    // SAFETY: plain getter on a live SSL_CTX.
    unsafe { sys::SSL_CTX_get_security_level(builder.as_ptr()).max(0) as u32 }
}

/// Result of one `SSL_CONF_cmd` line, as stunnel distinguishes them.
pub enum ConfResult {
    /// 2: the value was used.
    Set,
    /// 1: a command without value was executed.
    Executed,
    /// -2
    Unknown,
    /// -3
    NeedsParam,
    /// 0 or other: OpenSSL queued an error.
    Failed,
}

/// A `SSL_CONF_CTX` bound to a context under construction, with stunnel's
/// flags (FILE | CLIENT/SERVER | CERTIFICATE).
pub struct ConfCtx(*mut SslConfCtx);

impl ConfCtx {
    pub fn new(builder: &mut SslContextBuilder, client: bool) -> Option<ConfCtx> {
        // SAFETY: SSL_CONF_CTX_new returns an owned object or NULL; the
        // SSL_CTX outlives the ConfCtx (the caller holds the builder).
        unsafe {
            let cctx = SSL_CONF_CTX_new();
            if cctx.is_null() {
                return None;
            }
            let side = if client {
                SSL_CONF_FLAG_CLIENT
            } else {
                SSL_CONF_FLAG_SERVER
            };
            SSL_CONF_CTX_set_flags(cctx, SSL_CONF_FLAG_FILE | side | SSL_CONF_FLAG_CERTIFICATE);
            SSL_CONF_CTX_set_ssl_ctx(cctx, builder.as_ptr());
            Some(ConfCtx(cctx))
        }
    }

    pub fn cmd(&mut self, cmd: &str, value: Option<&str>) -> ConfResult {
        let (Ok(c), Ok(v)) = (CString::new(cmd), value.map(CString::new).transpose()) else {
            return ConfResult::Unknown;
        };
        let vp = v.as_ref().map_or(ptr::null(), |v| v.as_ptr());
        // SAFETY: both strings are NUL-terminated and live across the call.
        match unsafe { SSL_CONF_cmd(self.0, c.as_ptr(), vp) } {
            2 => ConfResult::Set,
            1 => ConfResult::Executed,
            -2 => ConfResult::Unknown,
            -3 => ConfResult::NeedsParam,
            _ => ConfResult::Failed,
        }
    }

    pub fn finish(&mut self) -> bool {
        // SAFETY: self.0 is a live SSL_CONF_CTX.
        unsafe { SSL_CONF_CTX_finish(self.0) == 1 }
    }
}

impl Drop for ConfCtx {
    fn drop(&mut self) {
        // SAFETY: we own the pointer and free it once.
        unsafe { SSL_CONF_CTX_free(self.0) }
    }
}

/// `SSL_CTX_set_timeout` (sessionCacheTimeout).
pub fn set_session_timeout(builder: &mut SslContextBuilder, seconds: u64) {
    let t = c_long::try_from(seconds).unwrap_or(c_long::MAX);
    // SAFETY: plain setter on a live SSL_CTX.
    unsafe {
        SSL_CTX_set_timeout(builder.as_ptr(), t);
    }
}

/// `SSL_CTX_set_dh_auto(ctx, 1)`: built-in DH groups matched to the key size.
pub fn set_dh_auto(builder: &mut SslContextBuilder) {
    // SAFETY: plain ctrl on a live SSL_CTX (openssl-sys has the macro).
    unsafe {
        sys::SSL_CTX_set_dh_auto(builder.as_ptr(), 1);
    }
}

/// The Rust side of the info callback: one for the process (every context
/// installs the same), kept here so that this file calls nothing above it.
pub type InfoHandler = fn(&SslRef, c_int, c_int);
static INFO_HANDLER: OnceLock<InfoHandler> = OnceLock::new();

/// Install the info callback, which forwards to `handler`.
pub fn set_info_callback(builder: &mut SslContextBuilder, handler: InfoHandler) {
    let _ = INFO_HANDLER.set(handler);
    // SAFETY: `info_trampoline` has the signature OpenSSL expects.
    unsafe { SSL_CTX_set_info_callback(builder.as_ptr(), Some(info_trampoline)) }
}

unsafe extern "C" fn info_trampoline(ssl: *const sys::SSL, where_: c_int, ret: c_int) {
    if ssl.is_null() {
        return;
    }
    // SAFETY: OpenSSL passes the live SSL the callback fires for; we only
    // read through the reference during the call.
    let ssl = SslRef::from_ptr(ssl as *mut sys::SSL);
    if let Some(handler) = INFO_HANDLER.get() {
        let _ =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(ssl, where_, ret)));
    }
}

/// `SSL_alert_type_string_long` / `SSL_alert_desc_string_long`.
pub fn alert_strings(value: c_int) -> (String, String) {
    // SAFETY: both return pointers to static strings.
    unsafe {
        (
            CStr::from_ptr(SSL_alert_type_string_long(value))
                .to_string_lossy()
                .into_owned(),
            CStr::from_ptr(SSL_alert_desc_string_long(value))
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// What the ticket callback is told about the key for a ticket.
pub enum TicketChoice {
    /// Use `key`; `renew` asks OpenSSL to issue a fresh ticket (under the
    /// newest key) after accepting this one.
    Use { key: Arc<TicketKey>, renew: bool },
    /// No key of the ticket's name: OpenSSL ignores the ticket, and the
    /// client gets a full handshake and a new ticket.
    Unknown,
}

/// Where the ticket callback finds the key of a connection: `None` to
/// encrypt a new ticket, `Some(name)` to decrypt one. `None` back is an
/// error (no keys for this connection).
pub type TicketKeyFor = fn(&SslRef, Option<&[u8; 16]>) -> Option<TicketChoice>;
static TICKET_KEY_FOR: OnceLock<TicketKeyFor> = OnceLock::new();

/// Install the session-ticket key callback (legacy `HMAC_CTX` form, which
/// OpenSSL 3 still supports), with keys from `key_for`.
pub fn set_ticket_key_callback(builder: &mut SslContextBuilder, key_for: TicketKeyFor) {
    let _ = TICKET_KEY_FOR.set(key_for);
    // SAFETY: `ticket_trampoline` matches the callback type OpenSSL expects
    // for SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB.
    unsafe {
        SSL_CTX_callback_ctrl_ticket(
            builder.as_ptr(),
            SSL_CTRL_SET_TLSEXT_TICKET_KEY_CB,
            Some(ticket_trampoline),
        );
    }
}

/// stunnel's `ssl_tlsext_ticket_key_cb`, with key names: AES-128/256-CBC
/// with the key's AES key, HMAC-SHA256 with its HMAC secret, a random IV,
/// the key's name in front of the ticket. Which key decrypts is the
/// caller's choice ([`TicketChoice`]; `ticketKeySecret` ignores the name as
/// stunnel does). Returns -1 on error, 0 for a ticket of an unknown key, 1
/// to accept, 2 to accept and renew (always in TLS 1.3, as stunnel, and for
/// a key that is no longer the newest). A panic counts as an error: it must
/// not unwind into OpenSSL.
unsafe extern "C" fn ticket_trampoline(
    ssl: *mut sys::SSL,
    key_name: *mut c_uchar,
    iv: *mut c_uchar,
    cipher_ctx: *mut sys::EVP_CIPHER_CTX,
    hmac_ctx: *mut c_void,
    enc: c_int,
) -> c_int {
    if ssl.is_null() || key_name.is_null() {
        return -1;
    }
    // The pointers are OpenSSL's for this call, as documented for
    // SSL_CTX_set_tlsext_ticket_key_cb; a panic must not unwind into C.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        // SAFETY: OpenSSL passes the live SSL of the handshake, and 16
        // bytes of key name (written by us on encryption, the ticket's
        // first 16 bytes on decryption).
        let ssl_ref = SslRef::from_ptr(ssl);
        let name = &mut *(key_name as *mut [u8; 16]);
        let Some(key_for) = TICKET_KEY_FOR.get() else {
            return -1;
        };
        crate::slog!(crate::log::DEBUG, "Session ticket processing callback");
        let (key, renew) = match key_for(ssl_ref, (enc != 1).then_some(&*name)) {
            None => return -1,
            Some(TicketChoice::Unknown) => return 0,
            Some(TicketChoice::Use { key, renew }) => (key, renew),
        };
        if HMAC_Init_ex(
            hmac_ctx,
            key.hmac.as_ptr() as *const c_void,
            key.hmac.len() as c_int,
            sys::EVP_sha256(),
            ptr::null_mut(),
        ) != 1
        {
            crate::slog!(crate::log::ERR, "HMAC_Init_ex failed");
            return -1;
        }
        let cipher = match key.aes.len() {
            16 => sys::EVP_aes_128_cbc(),
            32 => sys::EVP_aes_256_cbc(),
            _ => return -1,
        };
        if enc == 1 {
            // SAFETY: OpenSSL provides EVP_MAX_IV_LENGTH (16) bytes of IV.
            *name = key.name;
            if sys::RAND_bytes(iv, 16) != 1 {
                crate::slog!(crate::log::ERR, "RAND_bytes failed");
                return -1;
            }
            if sys::EVP_EncryptInit_ex(cipher_ctx, cipher, ptr::null_mut(), key.aes.as_ptr(), iv)
                != 1
            {
                crate::slog!(crate::log::ERR, "EVP_EncryptInit_ex failed");
                return -1;
            }
        } else if sys::EVP_DecryptInit_ex(cipher_ctx, cipher, ptr::null_mut(), key.aes.as_ptr(), iv)
            != 1
        {
            crate::slog!(crate::log::ERR, "EVP_DecryptInit_ex failed");
            return -1;
        }
        if renew || ssl_ref.version_str() == "TLSv1.3" {
            2
        } else {
            1
        }
    }))
    .unwrap_or(-1)
}

/// `X509_check_host`: the matched name on success.
pub fn check_host(cert: &X509Ref, host: &str) -> Option<String> {
    let name = CString::new(host).ok()?;
    let mut peername: *mut c_char = ptr::null_mut();
    // SAFETY: valid cert and NUL-terminated name; OpenSSL allocates
    // `peername`, which we free with OPENSSL_free after copying.
    unsafe {
        let r = sys::X509_check_host(cert.as_ptr(), name.as_ptr(), host.len(), 0, &mut peername);
        if r <= 0 {
            return None;
        }
        let matched = if peername.is_null() {
            host.to_string()
        } else {
            let s = CStr::from_ptr(peername).to_string_lossy().into_owned();
            sys::CRYPTO_free(peername as *mut c_void, c"ffi.rs".as_ptr(), 0);
            s
        };
        Some(matched)
    }
}

/// `X509_check_email`.
pub fn check_email(cert: &X509Ref, email: &str) -> bool {
    let Ok(name) = CString::new(email) else {
        return false;
    };
    // SAFETY: valid cert and NUL-terminated address.
    unsafe { sys::X509_check_email(cert.as_ptr(), name.as_ptr(), email.len(), 0) > 0 }
}

/// `X509_check_ip_asc`.
pub fn check_ip(cert: &X509Ref, ip: &str) -> bool {
    let Ok(name) = CString::new(ip) else {
        return false;
    };
    // SAFETY: valid cert and NUL-terminated address text.
    unsafe { sys::X509_check_ip_asc(cert.as_ptr(), name.as_ptr(), 0) > 0 }
}

/// `X509_STORE_CTX_get1_certs`: trusted certificates with this subject
/// (CAfile entries and CApath lookups).
pub fn store_certs_by_subject(ctx: &mut X509StoreContextRef, name: &X509NameRef) -> Vec<X509> {
    // SAFETY: returns an owned stack (or NULL) whose certificates carry a
    // reference each; Stack<X509> frees both.
    unsafe {
        let sk = X509_STORE_CTX_get1_certs(ctx.as_ptr(), name.as_ptr());
        if sk.is_null() {
            return Vec::new();
        }
        let stack: Stack<X509> = Stack::from_ptr(sk);
        stack.iter().map(|c| c.to_owned()).collect()
    }
}

/// `SSL_get1_supported_ciphers`: (name, protocol version) of every cipher
/// this connection could use, after version range and security level.
pub fn supported_ciphers(ssl: &SslRef) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // SAFETY: the returned stack is owned by us (freed with OPENSSL_sk_free),
    // its SSL_CIPHER entries are static.
    unsafe {
        let sk = SSL_get1_supported_ciphers(ssl.as_ptr());
        if sk.is_null() {
            return out;
        }
        let n = sys::OPENSSL_sk_num(sk as *const sys::OPENSSL_STACK);
        for i in 0..n {
            let c =
                sys::OPENSSL_sk_value(sk as *const sys::OPENSSL_STACK, i) as *const sys::SSL_CIPHER;
            if c.is_null() {
                continue;
            }
            let name = CStr::from_ptr(sys::SSL_CIPHER_get_name(c));
            let version = CStr::from_ptr(sys::SSL_CIPHER_get_version(c));
            out.push((
                name.to_string_lossy().into_owned(),
                version.to_string_lossy().into_owned(),
            ));
        }
        sys::OPENSSL_sk_free(sk as *mut sys::OPENSSL_STACK);
    }
    out
}

/// `EC_curve_nid2nist` (`P-256` for prime256v1), else the short name.
pub fn curve_name(nid: c_int) -> String {
    // SAFETY: both functions return static strings or NULL.
    unsafe {
        let p = EC_curve_nid2nist(nid);
        let p = if p.is_null() { sys::OBJ_nid2sn(nid) } else { p };
        if p.is_null() {
            return String::from("unknown");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// `SSL_client_hello_get0_ext`: the raw body of one ClientHello extension
/// (only valid inside the client-hello callback).
pub fn client_hello_ext(ssl: &SslRef, ext_type: c_uint) -> Option<Vec<u8>> {
    let mut out: *const c_uchar = ptr::null();
    let mut len: usize = 0;
    // SAFETY: OpenSSL sets `out`/`len` to memory owned by the SSL, valid
    // during the callback; we copy it before returning.
    unsafe {
        if sys::SSL_client_hello_get0_ext(ssl.as_ptr(), ext_type, &mut out, &mut len) != 1
            || out.is_null()
        {
            return None;
        }
        Some(std::slice::from_raw_parts(out, len).to_vec())
    }
}

/// An `X509_V_ERR_*` code as the crate's type (any value is accepted by
/// `X509_verify_cert_error_string`, which is all the type needs).
/// Seconds from now until `t` (negative when past), e.g. an OCSP
/// response's `nextUpdate`; `None` if OpenSSL cannot compare them.
pub fn seconds_until(t: &openssl::asn1::Asn1GeneralizedTimeRef) -> Option<i64> {
    let (mut days, mut secs): (c_int, c_int) = (0, 0);
    // SAFETY: a GeneralizedTime is an ASN1_TIME for ASN1_TIME_diff (it
    // reads both times by their type); a null `from` means now.
    let ok = unsafe {
        sys::ASN1_TIME_diff(
            &mut days,
            &mut secs,
            ptr::null(),
            t.as_ptr() as *const sys::ASN1_TIME,
        )
    };
    (ok == 1).then(|| i64::from(days) * 86_400 + i64::from(secs))
}

pub fn verify_result(code: c_int) -> openssl::x509::X509VerifyResult {
    // SAFETY: X509VerifyResult is a plain integer wrapper; unknown codes
    // print as "unknown certificate verification error".
    unsafe { openssl::x509::X509VerifyResult::from_raw(code) }
}

/// `SSL_CTX_get_ciphers`: names of the context's TLS <= 1.2 and 1.3 cipher
/// list, before version range and security level are applied.
pub fn ctx_cipher_names(builder: &SslContextBuilder) -> Vec<String> {
    // SAFETY: the stack belongs to the SSL_CTX (not freed here).
    unsafe { cipher_names(SSL_CTX_get_ciphers(builder.as_ptr())) }
}

/// [`ctx_cipher_names`] of a built context.
pub fn context_cipher_names(ctx: &openssl::ssl::SslContextRef) -> Vec<String> {
    // SAFETY: as above; the context outlives the call.
    unsafe { cipher_names(SSL_CTX_get_ciphers(ctx.as_ptr())) }
}

/// Names in a cipher stack not owned by us.
///
/// # Safety
/// `sk` must be NULL or a live `STACK_OF(SSL_CIPHER)`.
unsafe fn cipher_names(sk: *mut sys::stack_st_SSL_CIPHER) -> Vec<String> {
    let mut out = Vec::new();
    if sk.is_null() {
        return out;
    }
    let n = sys::OPENSSL_sk_num(sk as *const sys::OPENSSL_STACK);
    for i in 0..n {
        let c = sys::OPENSSL_sk_value(sk as *const sys::OPENSSL_STACK, i) as *const sys::SSL_CIPHER;
        if !c.is_null() {
            out.push(
                CStr::from_ptr(sys::SSL_CIPHER_get_name(c))
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    out
}

/// What an `SSL` copies from its `SSL_CTX` when it is made and
/// `SSL_set_SSL_CTX` does not copy again: protocol range, security level,
/// options and both cipher lists. Read once from a built context.
#[derive(Debug, Clone)]
pub struct HandshakeSettings {
    min_version: c_long,
    max_version: c_long,
    security_level: c_int,
    options: u64,
    /// TLS <= 1.2 cipher names joined by `:` (never empty: OpenSSL refuses
    /// a context without one).
    ciphers: CString,
    /// TLS 1.3 suite names joined by `:` (may be empty).
    suites: CString,
}

/// [`HandshakeSettings`] of a built context.
pub fn handshake_settings(ctx: &openssl::ssl::SslContextRef) -> HandshakeSettings {
    let (min, max) = ctx_proto_range(ctx);
    let (mut ciphers, mut suites) = (Vec::new(), Vec::new());
    // SAFETY: getters on a live SSL_CTX; the cipher stack belongs to it and
    // its entries are static SSL_CIPHERs.
    unsafe {
        let sk = SSL_CTX_get_ciphers(ctx.as_ptr());
        let n = if sk.is_null() {
            0
        } else {
            sys::OPENSSL_sk_num(sk as *const sys::OPENSSL_STACK)
        };
        for i in 0..n {
            let c =
                sys::OPENSSL_sk_value(sk as *const sys::OPENSSL_STACK, i) as *const sys::SSL_CIPHER;
            if c.is_null() {
                continue;
            }
            let name = CStr::from_ptr(sys::SSL_CIPHER_get_name(c)).to_string_lossy();
            let tls13 = CStr::from_ptr(sys::SSL_CIPHER_get_version(c)).to_bytes() == b"TLSv1.3";
            if tls13 { &mut suites } else { &mut ciphers }.push(name.into_owned());
        }
        HandshakeSettings {
            min_version: c_long::from(min),
            max_version: c_long::from(max),
            security_level: sys::SSL_CTX_get_security_level(ctx.as_ptr()),
            options: sys::SSL_CTX_get_options(ctx.as_ptr()) as u64,
            ciphers: CString::new(ciphers.join(":")).unwrap_or_default(),
            suites: CString::new(suites.join(":")).unwrap_or_default(),
        }
    }
}

/// Make `ssl` negotiate with `settings` (after `SSL_set_SSL_CTX`, before
/// the version and cipher are chosen). `false` if OpenSSL refused a list.
pub fn adopt_handshake_settings(ssl: &mut SslRef, settings: &HandshakeSettings) -> bool {
    const SET_MIN_PROTO_VERSION: c_int = 123;
    const SET_MAX_PROTO_VERSION: c_int = 124;
    let p = ssl.as_ptr();
    // SAFETY: setters on a live SSL with values read from a live context;
    // the strings are NUL-terminated and copied by OpenSSL.
    unsafe {
        let range_ok = sys::SSL_ctrl(
            p,
            SET_MIN_PROTO_VERSION,
            settings.min_version,
            ptr::null_mut(),
        ) == 1
            && sys::SSL_ctrl(
                p,
                SET_MAX_PROTO_VERSION,
                settings.max_version,
                ptr::null_mut(),
            ) == 1;
        sys::SSL_set_security_level(p, settings.security_level);
        SSL_clear_options(p, !settings.options);
        SSL_set_options(p, settings.options);
        let lists_ok = sys::SSL_set_cipher_list(p, settings.ciphers.as_ptr()) == 1
            && sys::SSL_set_ciphersuites(p, settings.suites.as_ptr()) == 1;
        range_ok && lists_ok
    }
}

/// `SSL_get_options` (the crate has it for contexts only).
pub fn ssl_options(ssl: &SslRef) -> openssl::ssl::SslOptions {
    // SAFETY: plain getter on a live SSL.
    openssl::ssl::SslOptions::from_bits_retain(unsafe { SSL_get_options(ssl.as_ptr()) })
}

/// `SSL_clear_options` on one connection.
pub fn ssl_clear_options(ssl: &mut SslRef, options: openssl::ssl::SslOptions) {
    // SAFETY: plain setter on a live SSL.
    unsafe {
        SSL_clear_options(ssl.as_ptr(), options.bits());
    }
}

/// `SSL_set_session`: offer a cached session for resumption.
pub fn offer_session(ssl: &mut SslRef, session: &openssl::ssl::SslSessionRef) -> bool {
    // SAFETY: callers only pass sessions negotiated through the same
    // SSL_CTX as `ssl` (the service's last session), which is what
    // SslRef::set_session requires.
    unsafe { ssl.set_session(session).is_ok() }
}

/// `SSL_get_shutdown() & SSL_RECEIVED_SHUTDOWN`: close_notify was read.
pub fn close_notify_received(ssl: &SslRef) -> bool {
    // SAFETY: plain getter on a live SSL.
    unsafe { sys::SSL_get_shutdown(ssl.as_ptr()) & 2 != 0 }
}

/// `OBJ_nid2sn` for a key type.
pub fn short_name(nid: c_int) -> String {
    // SAFETY: returns a static string or NULL.
    unsafe {
        let p = sys::OBJ_nid2sn(nid);
        if p.is_null() {
            return String::from("unknown");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// `SSL_CTX_get_min_proto_version` / `…max…` (0 = library limit).
pub fn ctx_proto_range(ctx: &openssl::ssl::SslContextRef) -> (i32, i32) {
    const GET_MIN: c_int = 130;
    const GET_MAX: c_int = 131;
    // SAFETY: read-only ctrls on a live SSL_CTX.
    unsafe {
        let min = SSL_CTX_ctrl(ctx.as_ptr(), GET_MIN, 0, ptr::null_mut());
        let max = SSL_CTX_ctrl(ctx.as_ptr(), GET_MAX, 0, ptr::null_mut());
        (min as i32, max as i32)
    }
}

/// `OCSP_request_add1_nonce(req, NULL, -1)`: a random nonce.
pub fn ocsp_add_nonce(req: &mut openssl::ocsp::OcspRequestRef) {
    // SAFETY: live request; NULL/-1 asks OpenSSL for 16 random bytes.
    unsafe {
        OCSP_request_add1_nonce(req.as_ptr(), ptr::null_mut(), -1);
    }
}

/// `OCSP_check_nonce(req, bs) > 0` (stunnel rejects 0 and -1).
pub fn ocsp_nonce_ok(
    req: &openssl::ocsp::OcspRequestRef,
    bs: &openssl::ocsp::OcspBasicResponseRef,
) -> bool {
    // SAFETY: read-only comparison of two live objects.
    unsafe { OCSP_check_nonce(req.as_ptr(), bs.as_ptr()) > 0 }
}

/// Static OpenSSL string or `unknown`.
fn static_str(p: *const c_char) -> String {
    if p.is_null() {
        return String::from("unknown");
    }
    // SAFETY: callers pass OpenSSL's static, NUL-terminated tables.
    unsafe { CStr::from_ptr(p).to_string_lossy().into_owned() }
}

/// `OCSP_response_status_str` (`successful`, `trylater`, …).
pub fn ocsp_response_status_str(status: c_int) -> String {
    // SAFETY: table lookup, any value allowed.
    static_str(unsafe { OCSP_response_status_str(c_long::from(status)) })
}

/// `OCSP_cert_status_str` (`good`, `revoked`, `unknown`).
pub fn ocsp_cert_status_str(status: c_int) -> String {
    // SAFETY: table lookup, any value allowed.
    static_str(unsafe { OCSP_cert_status_str(c_long::from(status)) })
}

/// `OCSP_crl_reason_str` (`keyCompromise`, …).
pub fn ocsp_crl_reason_str(reason: c_int) -> String {
    // SAFETY: table lookup, any value allowed.
    static_str(unsafe { OCSP_crl_reason_str(c_long::from(reason)) })
}

/// `X509_STORE_CTX_get0_store`: the trust store being verified against
/// (the context's `CAfile`/`CApath`).
pub fn store_of(ctx: &X509StoreContextRef) -> Option<&openssl::x509::store::X509StoreRef> {
    // SAFETY: the store outlives the verification context borrowing it.
    unsafe {
        let p = X509_STORE_CTX_get0_store(ctx.as_ptr());
        if p.is_null() {
            None
        } else {
            Some(openssl::x509::store::X509StoreRef::from_ptr(p))
        }
    }
}

/// `SSL_CTX_sess_*` counters (`SSL_CTRL_SESS_NUMBER` = 20 …
/// `SSL_CTRL_SESS_CACHE_FULL` = 31) for stunnel's handshake statistics.
pub fn sess_counter(ctx: &openssl::ssl::SslContextRef, cmd: c_int) -> c_long {
    // SAFETY: read-only counters of a live SSL_CTX.
    unsafe { SSL_CTX_ctrl(ctx.as_ptr(), cmd, 0, ptr::null_mut()) }
}

/// Give the record-layer buffers back while a connection is idle
/// (`SSL_free_buffers`; OpenSSL refuses, harmlessly, when data is pending).
/// `SSL_MODE_RELEASE_BUFFERS` covers the steady state; this also drops what
/// the handshake and TLS 1.3 post-handshake messages left allocated.
pub fn free_idle_buffers(ssl: &SslRef) {
    // SAFETY: a valid SSL owned by the caller's stream; the call only frees
    // buffers OpenSSL itself reallocates on the next read or write.
    unsafe { SSL_free_buffers(ssl.as_ptr()) };
}

/// Read ahead: one `recv` fills a buffer of `len` bytes with as many
/// records as have arrived, instead of one `recv` for each record's header
/// and another for its body. The buffer exists only while records are
/// pending (`SSL_MODE_RELEASE_BUFFERS`, [`free_idle_buffers`]).
pub fn read_ahead(b: &mut openssl::ssl::SslContextBuilder, len: usize) {
    b.set_read_ahead(true);
    // SAFETY: a valid context under construction; the call sets a size.
    unsafe { SSL_CTX_set_default_read_buffer_len(b.as_ptr(), len) };
}

/// stunnel's `index_session_connect_address`: each server session carries
/// the backend it reached, in a slot (`Mutex<Option<String>>`) owned by the
/// session. OpenSSL frees the slot with the session, and gives a duplicated
/// session (TLS 1.3 tickets are issued from copies) its own copy.
type BackendSlot = std::sync::Mutex<Option<String>>;

/// Creating a slot is check-then-set on a session other connections may
/// resume at the same moment.
static SLOT_CREATION: std::sync::Mutex<()> = std::sync::Mutex::new(());

unsafe extern "C" fn backend_slot_free(
    _parent: *mut c_void,
    ptr: *mut c_void,
    _ad: *mut sys::CRYPTO_EX_DATA,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) {
    if !ptr.is_null() {
        // SAFETY: every non-null value at this index is a Box<BackendSlot>
        // made by `set_session_backend` or `backend_slot_dup`.
        drop(Box::from_raw(ptr.cast::<BackendSlot>()));
    }
}

unsafe extern "C" fn backend_slot_dup(
    _to: *mut sys::CRYPTO_EX_DATA,
    _from: *const sys::CRYPTO_EX_DATA,
    // OpenSSL 3's `void **from_d` (this crate builds for OpenSSL 3 only).
    from_d: *mut *mut c_void,
    _idx: c_int,
    _argl: c_long,
    _argp: *mut c_void,
) -> c_int {
    // OpenSSL copies the pointer into the new session after this returns;
    // point it at a copy, or both sessions would free one slot.
    let ptr = *from_d;
    if !ptr.is_null() {
        let slot = &*ptr.cast::<BackendSlot>();
        let copy = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
        *from_d = Box::into_raw(Box::new(BackendSlot::new(copy))).cast();
    }
    1
}

fn backend_index() -> Option<c_int> {
    static INDEX: std::sync::OnceLock<Option<c_int>> = std::sync::OnceLock::new();
    *INDEX.get_or_init(|| {
        // SAFETY: registers callbacks that match the slot type above.
        let idx = unsafe {
            sys::CRYPTO_get_ex_new_index(
                2, // CRYPTO_EX_INDEX_SSL_SESSION
                0,
                ptr::null_mut(),
                None,
                Some(backend_slot_dup),
                Some(backend_slot_free),
            )
        };
        (idx >= 0).then_some(idx)
    })
}

/// The backend address remembered in `session`, if any.
pub fn session_backend(session: &openssl::ssl::SslSessionRef) -> Option<String> {
    let idx = backend_index()?;
    // SAFETY: a live session; the value at this index is a BackendSlot.
    let ptr = unsafe { SSL_SESSION_get_ex_data(session.as_ptr(), idx) };
    if ptr.is_null() {
        return None;
    }
    let slot = unsafe { &*ptr.cast::<BackendSlot>() };
    slot.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Remember `address` in `session` (replacing what it held).
pub fn set_session_backend(session: &openssl::ssl::SslSessionRef, address: &str) -> bool {
    let Some(idx) = backend_index() else {
        return false;
    };
    let _creating = SLOT_CREATION.lock().unwrap_or_else(|p| p.into_inner());
    // SAFETY: a live session; the value at this index is a BackendSlot,
    // created here under SLOT_CREATION and freed only with the session.
    unsafe {
        let ptr = SSL_SESSION_get_ex_data(session.as_ptr(), idx);
        if ptr.is_null() {
            let slot = Box::into_raw(Box::new(BackendSlot::new(Some(address.to_string()))));
            if SSL_SESSION_set_ex_data(session.as_ptr(), idx, slot.cast()) != 1 {
                drop(Box::from_raw(slot));
                return false;
            }
        } else {
            let slot = &*ptr.cast::<BackendSlot>();
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(address.to_string());
        }
    }
    true
}

/// `BIO_C_SET_BUF_MEM_EOF_RETURN`: what a drained memory BIO returns.
const BIO_C_SET_BUF_MEM_EOF_RETURN: c_int = 130;

/// The error queue OpenSSL itself leaves when a server handshake meets EOF
/// before the ClientHello (`…:SSL routines::unexpected eof while reading`,
/// with the library's own file and line), found once by a handshake on an
/// empty memory BIO. The `openssl` crate's stream BIO does not report EOF
/// to OpenSSL, which then sees a bare `SSL_ERROR_SYSCALL`; stunnel logs
/// this queue.
pub fn eof_queue() -> Option<&'static openssl::error::ErrorStack> {
    static QUEUE: OnceLock<Option<openssl::error::ErrorStack>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let ctx = openssl::ssl::SslContext::builder(openssl::ssl::SslMethod::tls_server())
                .ok()?
                .build();
            let _ = openssl::error::ErrorStack::get();
            // SAFETY: objects created and freed here; SSL_set_bio hands both
            // BIOs to the SSL, which SSL_free releases.
            unsafe {
                let ssl = sys::SSL_new(ctx.as_ptr());
                if ssl.is_null() {
                    return None;
                }
                let rbio = sys::BIO_new(sys::BIO_s_mem());
                let wbio = sys::BIO_new(sys::BIO_s_mem());
                if rbio.is_null() || wbio.is_null() {
                    sys::SSL_free(ssl);
                    return None;
                }
                sys::BIO_ctrl(rbio, BIO_C_SET_BUF_MEM_EOF_RETURN, 0, ptr::null_mut());
                sys::SSL_set_bio(ssl, rbio, wbio);
                sys::SSL_set_accept_state(ssl);
                let ret = sys::SSL_do_handshake(ssl);
                let stack = openssl::error::ErrorStack::get();
                sys::SSL_free(ssl);
                (ret <= 0 && !stack.errors().is_empty()).then_some(stack)
            }
        })
        .as_ref()
}

/// The options of the context `ssl` was made from (or switched to by SNI).
pub fn context_options(ssl: &SslRef) -> u64 {
    // SAFETY: a live SSL and its context; read only.
    unsafe { sys::SSL_CTX_get_options(sys::SSL_get_SSL_CTX(ssl.as_ptr())) as u64 }
}
