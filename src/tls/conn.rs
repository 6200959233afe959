//! Per-connection TLS state, attached to each `SSL` as ex_data, and the
//! per-service policy the OpenSSL callbacks consult.
//!
//! OpenSSL callbacks only receive the `SSL`; stunnel reaches its `CLI`
//! through `SSL_get_ex_data(ssl, index_ssl_cli)` and so do we. The policy in
//! [`Conn::active`] is the service whose settings apply *now*: the SNI
//! callback replaces it with the secondary's (stunnel sets `c->opt`).
//! This file holds no OpenSSL configuration code and no callback: the
//! callbacks that read this state are in `info`, `session`, `verify`,
//! `sni` and `psk`.

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{Arc, Mutex, OnceLock};

use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslRef, SslVerifyMode, SslVersion};

use crate::config::model::VerifyFlags;

use super::ticket_keys::TicketKeys;

/// What a connection needs to know about its service at handshake time.
#[derive(Debug)]
pub struct Policy {
    /// Index of the service in `Config::services`.
    pub index: usize,
    /// Section name, for log lines.
    pub name: String,
    pub client: bool,
    pub verify: VerifyFlags,
    pub check_host: Vec<String>,
    pub check_email: Vec<String>,
    pub check_ip: Vec<String>,
    /// Server mode with `redirect` targets: a failed or missing client
    /// certificate does not fail the handshake (stunnel-reference §5.8).
    pub redirect: bool,
    /// `renegotiation = no` aborts on a client renegotiation.
    pub renegotiation: bool,
    /// `PSKsecrets` (server: all identities; client: the selected one first).
    pub psk: Vec<(String, Vec<u8>)>,
    /// OpenSSL verify mode derived from `verify` (and `redirect`).
    pub verify_mode: SslVerifyMode,
    /// `OCSP` / `OCSPaia` checks of the peer chain.
    pub ocsp: Option<Arc<super::ocsp::Settings>>,
}

/// A ClientHello's versions and raw cipher-suite list, copied in the
/// client-hello callback (cheap: no names looked up, no strings) and turned
/// into an [`Offer`] only if the handshake fails and hints are printed.
#[derive(Debug, Clone, Default)]
pub struct RawOffer {
    /// Protocol versions the client supports, oldest first.
    pub versions: Vec<SslVersion>,
    /// The cipher_suites field as sent (3-byte entries in an SSLv2 hello).
    pub suites: Vec<u8>,
    pub isv2: bool,
}

/// The parts of a ClientHello that decide version and cipher, with suite
/// names (for `hello.rs`'s failure hints).
#[derive(Debug, Clone, Default)]
pub struct Offer {
    /// Protocol versions the client supports, oldest first.
    pub versions: Vec<SslVersion>,
    /// Cipher suite names OpenSSL knows (signalling suites left out).
    pub ciphers: Vec<String>,
    /// Codes of offered suites this OpenSSL does not know (3DES and RC4 in
    /// the system build), in the client's order.
    pub unknown: Vec<u16>,
    /// Every offered suite for the hint line, in the client's order.
    pub shown: Vec<String>,
}

/// stunnel's `reneg_state`.
pub const RENEG_INIT: u8 = 0;
pub const RENEG_ESTABLISHED: u8 = 1;
pub const RENEG_DETECTED: u8 = 2;

/// The state of one TLS connection.
#[derive(Debug)]
pub struct Conn {
    /// The service whose settings apply now (SNI may switch it).
    pub active: Mutex<Arc<Policy>>,
    /// Set when verification failed but was let through for `redirect`.
    pub verify_failed: AtomicBool,
    /// What the client offered (server side), for failure hints.
    pub offer: Mutex<Option<RawOffer>>,
    /// Renegotiation detection (stunnel's RENEG_*).
    pub reneg: AtomicU8,
    /// Session-ticket keys of the accepting service.
    pub tickets: Option<Arc<TicketKeys>>,
    /// A fatal alert was received or sent (stunnel then closes the TLS
    /// side with FIN, not RST, and logs it `closed`).
    pub fatal_alert: AtomicBool,
    /// Client mode: the session slot new sessions go to (the connect
    /// target index, `None` for the service-wide slot).
    pub target: Option<usize>,
    /// The peer certificate went into this connection's sessions already
    /// (OpenSSL derives later TLS 1.3 ticket sessions from the first).
    pub peer_cert_cached: AtomicBool,
    /// Server side: what the SNI selection decided (`sni.rs`).
    sni: OnceLock<SniChoice>,
    /// Server mode: the PSK callback found the client's identity
    /// (stunnel's `c->flag.psk`).
    pub psk_matched: AtomicBool,
}

impl Conn {
    pub fn new(policy: Arc<Policy>, tickets: Option<Arc<TicketKeys>>) -> Arc<Conn> {
        Conn::for_target(policy, tickets, None)
    }

    /// A client connection to session slot `target`.
    pub fn for_target(
        policy: Arc<Policy>,
        tickets: Option<Arc<TicketKeys>>,
        target: Option<usize>,
    ) -> Arc<Conn> {
        Arc::new(Conn {
            active: Mutex::new(policy),
            verify_failed: AtomicBool::new(false),
            offer: Mutex::new(None),
            reneg: AtomicU8::new(RENEG_INIT),
            tickets,
            fatal_alert: AtomicBool::new(false),
            target,
            peer_cert_cached: AtomicBool::new(false),
            sni: OnceLock::new(),
            psk_matched: AtomicBool::new(false),
        })
    }

    pub fn policy(&self) -> Arc<Policy> {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_policy(&self, policy: Arc<Policy>) {
        *self.active.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// The SNI selection's decision, once it ran.
    pub fn sni_choice(&self) -> Option<&SniChoice> {
        self.sni.get()
    }

    /// Record the SNI selection's decision (the first one stands: a
    /// HelloRetryRequest brings a second ClientHello).
    pub fn choose_sni(&self, choice: SniChoice) {
        let _ = self.sni.set(choice);
    }
}

/// What the SNI selection made of a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SniChoice {
    /// The service has no secondaries.
    NoRoutes,
    /// The client sent no server name.
    NoName,
    /// `name` matched `pattern`: the connection belongs to `service` now.
    Switched {
        name: String,
        pattern: String,
        service: String,
    },
    /// No pattern matched `name`: the primary stays.
    Unmatched { name: String },
}

/// The ex_data slot holding `Arc<Conn>` on every `SSL` we create.
pub fn index() -> Option<Index<Ssl, Arc<Conn>>> {
    static INDEX: OnceLock<Option<Index<Ssl, Arc<Conn>>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().ok())
}

/// The connection state of `ssl`, if it is one of ours.
pub fn get(ssl: &SslRef) -> Option<&Arc<Conn>> {
    ssl.ex_data(index()?)
}
