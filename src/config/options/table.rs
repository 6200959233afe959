//! The rows of the option table, in `stunnel -help` order (see the module
//! above for what a row holds). Help and default texts are stunnel4 5.68's,
//! compared line by line in `tests/cli_printers.rs`.

use super::{global, net, protocol, timeouts, tls, verify};
use super::{Apply, ApplyFn, OptionDef, Scope, Support};

const fn row(
    name: &'static str,
    scope: Scope,
    help: &'static [&'static str],
    apply: ApplyFn,
) -> OptionDef {
    OptionDef {
        name,
        scope,
        help,
        defaults: &[],
        apply: Apply::Value(apply),
        support: Support::Implemented,
        listed: true,
    }
}

const fn refused(name: &'static str, scope: Scope, help: &'static [&'static str]) -> OptionDef {
    OptionDef {
        name,
        scope,
        help,
        defaults: &[],
        apply: Apply::Nothing,
        support: Support::Refused,
        listed: true,
    }
}

impl OptionDef {
    const fn default_text(mut self, defaults: &'static [&'static str]) -> Self {
        self.defaults = defaults;
        self
    }
    const fn unlisted(mut self) -> Self {
        self.listed = false;
        self
    }
    const fn refused_when_yes(mut self) -> Self {
        self.support = Support::RefusedWhenYes;
        self
    }
}

use Scope::{Global as G, Service as S};

/// Every option stunnel 5.68 knows (plus the 5.70+ ones rstunnel accepts),
/// in `stunnel -help` order: global options first, then service-level ones.
pub static OPTIONS: &[OptionDef] = &[
    // ---- global options ----
    row(
        "chroot",
        G,
        &["directory to chroot stunnel process"],
        global::chroot,
    ),
    refused("compression", G, &["compression type"]),
    refused("EGD", G, &["path to Entropy Gathering Daemon socket"]),
    refused("engine", G, &["auto|engine_id"]),
    refused("engineCtrl", G, &["cmd[:arg]"]),
    refused("engineDefault", G, &["TASK_LIST"]),
    row("fips", G, &["yes|no FIPS 140-2 mode"], global::fips)
        .refused_when_yes()
        .unlisted(),
    row(
        "foreground",
        G,
        &["yes|quiet|no foreground mode (don't fork, log to stderr)"],
        global::foreground,
    ),
    row("log", G, &["append|overwrite log file"], global::log),
    row(
        "output",
        G,
        &["file to append log messages"],
        global::output,
    ),
    row("pid", G, &["pid file"], global::pid),
    row("provider", G, &["provider to load"], global::provider),
    refused(
        "providerParameter",
        G,
        &["PROVIDER:PARAMETER=VALUE provider parameter"],
    )
    .unlisted(),
    row(
        "RNDbytes",
        G,
        &["bytes to read from random seed files"],
        global::rnd_bytes,
    )
    .default_text(&["1024"]),
    row(
        "RNDfile",
        G,
        &["path to file with random seed data"],
        global::rnd_file,
    )
    .default_text(&["/dev/urandom"]),
    row(
        "RNDoverwrite",
        G,
        &["yes|no overwrite seed datafiles with new random data"],
        global::rnd_overwrite,
    )
    .default_text(&["yes"]),
    row(
        "setEnv",
        G,
        &["NAME=VALUE environment variable to set"],
        global::set_env,
    ),
    row(
        "syslog",
        G,
        &["yes|no send logging messages to syslog"],
        global::syslog,
    ),
    // ---- service-level options ----
    row(
        "accept",
        S,
        &["[host:]port accept connections on specified host:port"],
        net::accept,
    ),
    refused(
        "CAengine",
        S,
        &["engine-specific CA certificate identifier for 'verify' option"],
    ),
    row(
        "CApath",
        S,
        &["CA certificate directory for 'verify' option"],
        verify::ca_path,
    ),
    row(
        "CAfile",
        S,
        &["CA certificate file for 'verify' option"],
        verify::ca_file,
    ),
    refused(
        "CAstore",
        S,
        &["CA certificate store URI for 'verify' option"],
    )
    .unlisted(),
    row("cert", S, &["certificate chain"], tls::cert),
    row(
        "checkEmail",
        S,
        &["peer certificate email address"],
        verify::check_email,
    ),
    row(
        "checkHost",
        S,
        &["peer certificate host name pattern"],
        verify::check_host,
    ),
    row(
        "checkIP",
        S,
        &["peer certificate IP address"],
        verify::check_ip,
    ),
    row(
        "ciphers",
        S,
        &["permitted ciphers for TLS 1.2 or older"],
        tls::ciphers,
    )
    .default_text(&["HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK"]),
    row(
        "ciphersuites",
        S,
        &["permitted ciphersuites for TLS 1.3"],
        tls::ciphersuites,
    )
    .default_text(&[
        "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256 (with TLSv1.3)",
    ]),
    row(
        "client",
        S,
        &["yes|no client mode (remote service uses TLS)"],
        net::client,
    ),
    row(
        "config",
        S,
        &["command[:parameter] to execute"],
        tls::config,
    ),
    row("connect", S, &["[host:]port to connect"], net::connect),
    row("CRLpath", S, &["CRL directory"], verify::crl_path),
    row("CRLfile", S, &["CRL file"], verify::crl_file),
    row("curves", S, &["ECDH curve names"], tls::curves)
        .default_text(&["X25519:P-256:X448:P-521:P-384"]),
    row("curve", S, &["ECDH curve names"], tls::curves).unlisted(),
    row(
        "debug",
        S,
        &["[facility].level (e.g. daemon.info)"],
        global::debug,
    )
    .default_text(&["daemon.notice"]),
    row(
        "delay",
        S,
        &["yes|no delay DNS lookup for 'connect' option"],
        net::delay,
    ),
    refused("engineId", S, &["ID of engine to read the key from"]),
    refused("engineNum", S, &["number of engine to read the key from"]),
    row(
        "exec",
        S,
        &["file execute local inetd-type program"],
        net::exec,
    ),
    row(
        "execArgs",
        S,
        &["arguments for 'exec' (including $0)"],
        net::exec_args,
    ),
    row("failover", S, &["rr|prio failover strategy"], net::failover),
    row(
        "ident",
        S,
        &["username for IDENT (RFC 1413) checking"],
        net::ident,
    ),
    OptionDef {
        name: "include",
        scope: S,
        help: &["directory with configuration file snippets"],
        defaults: &[],
        apply: Apply::Include,
        support: Support::Implemented,
        listed: true,
    },
    row("key", S, &["certificate private key"], tls::key),
    row(
        "libwrap",
        S,
        &["yes|no use /etc/hosts.allow and /etc/hosts.deny"],
        net::libwrap,
    )
    .refused_when_yes(),
    row(
        "local",
        S,
        &["IP address to be used as source for remote connections"],
        net::local,
    ),
    row("logId", S, &["connection identifier type"], net::log_id).default_text(&["sequential"]),
    row("OCSP", S, &["OCSP responder URL"], verify::ocsp),
    row(
        "OCSPaia",
        S,
        &["yes|no check the AIA responders from certificates"],
        verify::ocsp_aia,
    ),
    row("OCSPflag", S, &["OCSP responder flags"], verify::ocsp_flag),
    row(
        "OCSPnonce",
        S,
        &["yes|no send and verify the OCSP nonce extension"],
        verify::ocsp_nonce,
    ),
    row(
        "OCSPrequire",
        S,
        &["yes|no require a conclusive OCSP response"],
        verify::ocsp_require,
    ),
    row("options", S, &["TLS option to set/reset"], tls::options)
        .default_text(&["NO_SSLv2", "NO_SSLv3"]),
    row(
        "protocol",
        S,
        &[
            "protocol to negotiate before TLS initialization",
            "currently supported: cifs, connect, imap,",
            "    nntp, pgsql, pop3, proxy, smtp, socks",
        ],
        protocol::protocol,
    ),
    row(
        "protocolAuthentication",
        S,
        &["authentication type for protocol negotiations"],
        protocol::authentication,
    ),
    row(
        "protocolDomain",
        S,
        &["domain for protocol negotiations"],
        protocol::domain,
    ),
    row(
        "protocolHeader",
        S,
        &["custom header for protocol negotiations"],
        protocol::header,
    ),
    row(
        "protocolHost",
        S,
        &["host:port for protocol negotiations"],
        protocol::host,
    ),
    row(
        "protocolPassword",
        S,
        &["password for protocol negotiations"],
        protocol::password,
    ),
    row(
        "protocolUsername",
        S,
        &["username for protocol negotiations"],
        protocol::username,
    ),
    row(
        "PSKidentity",
        S,
        &["identity for PSK authentication"],
        tls::psk_identity,
    ),
    row(
        "PSKsecrets",
        S,
        &["secrets for PSK authentication"],
        tls::psk_secrets,
    ),
    row(
        "pty",
        S,
        &["yes|no allocate pseudo terminal for 'exec' option"],
        net::pty,
    ),
    row(
        "redirect",
        S,
        &["[host:]port to redirect on authentication failures"],
        net::redirect,
    ),
    row(
        "renegotiation",
        S,
        &["yes|no support renegotiation"],
        tls::renegotiation,
    ),
    row(
        "requireCert",
        S,
        &["yes|no require client certificate"],
        verify::require_cert,
    ),
    row("reset", S, &["yes|no send TCP RST on error"], net::reset),
    row(
        "retry",
        S,
        &["yes|no retry connect+exec section"],
        net::retry,
    ),
    row(
        "securityLevel",
        S,
        &["set the security level"],
        tls::security_level,
    )
    .default_text(&["2"]),
    row("service", S, &["service name"], global::service),
    row("setgid", S, &["groupname for setgid()"], global::setgid),
    row("setuid", S, &["username for setuid()"], global::setuid),
    row(
        "sessionCacheSize",
        S,
        &["session cache size"],
        tls::session_cache_size,
    )
    .default_text(&["1000"]),
    row(
        "sessionCacheTimeout",
        S,
        &["session cache timeout (in seconds)"],
        tls::session_cache_timeout,
    )
    .default_text(&["300 seconds"]),
    row(
        "session",
        S,
        &["session cache timeout (in seconds)"],
        tls::session_cache_timeout,
    )
    .unlisted(),
    row(
        "sessionResume",
        S,
        &["yes|no enable session resumption"],
        tls::session_resume,
    ),
    refused("sessiond", S, &["[host:]port use sessiond at host:port"]),
    row(
        "sni",
        S,
        &["primary_service:host_name for an SNI virtual service"],
        tls::sni,
    ),
    row(
        "socket",
        S,
        &[
            "a|l|r:option=value[:value]",
            "set an option on accept/local/remote socket",
        ],
        net::socket,
    ),
    row(
        "sslVersion",
        S,
        &["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"],
        tls::ssl_version,
    ),
    row(
        "sslVersionMax",
        S,
        &["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"],
        tls::ssl_version_max,
    ),
    row(
        "sslVersionMin",
        S,
        &["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"],
        tls::ssl_version_min,
    ),
    row("stack", S, &["thread stack size (in bytes)"], net::stack).default_text(&["65536 bytes"]),
    row(
        "ticketKeySecret",
        S,
        &["secret key for encryption/decryption TLSv1.3 tickets"],
        tls::ticket_key_secret,
    ),
    row(
        "ticketMacSecret",
        S,
        &["key for HMAC operations on TLSv1.3 tickets"],
        tls::ticket_mac_secret,
    ),
    row(
        "TIMEOUTbusy",
        S,
        &["seconds to wait for expected data"],
        timeouts::busy,
    )
    .default_text(&["300 seconds"]),
    row(
        "TIMEOUTclose",
        S,
        &["seconds to wait for close_notify"],
        timeouts::close,
    )
    .default_text(&["60 seconds"]),
    row(
        "TIMEOUTconnect",
        S,
        &["seconds to connect remote host"],
        timeouts::connect,
    )
    .default_text(&["10 seconds"]),
    row(
        "TIMEOUTidle",
        S,
        &["seconds to keep an idle connection"],
        timeouts::idle,
    )
    .default_text(&["43200 seconds"]),
    row(
        "TIMEOUTocsp",
        S,
        &["seconds to check OCSP response"],
        timeouts::ocsp,
    ),
    row(
        "transparent",
        S,
        &["none|source|destination|both transparent proxy mode"],
        net::transparent,
    ),
    row(
        "verify",
        S,
        &["level of peer certificate verification"],
        verify::verify,
    )
    .default_text(&["none"]),
    row(
        "verifyChain",
        S,
        &["yes|no verify certificate chain"],
        verify::verify_chain,
    ),
    row(
        "verifyPeer",
        S,
        &["yes|no verify peer certificate"],
        verify::verify_peer,
    ),
];
