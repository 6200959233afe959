//! Every option stunnel 5.68 knows (plus the 5.70+ ones rstunnel accepts),
//! declared once, in `stunnel -help` order: the field it writes, its type and
//! default, the parser, the `-help` and `-version` texts (stunnel4 5.68's,
//! compared line by line in `tests/suite/cli_printers.rs`). The grammar is in
//! `declare.rs`. A field without an option of its own is set by several
//! options (`verify`, `timeouts`) or by the reader (`name`).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use nix::unistd::{Gid, Uid};

use super::declare::{self, Failure};
use super::{global, net, timeouts, tls, values, verify};
use crate::config::types::{
    DebugLevel, Destination, Endpoint, Failover, Foreground, LogId, LogMode, ProxyVersion,
    ProxyVersions, SocketOptions, Timeouts, TlsVersion, Transparent, VerifyFlags,
};
use crate::declare_section;

/// What an option line writes (see [`declare::Target`]).
pub type Target<'a> = declare::Target<'a, Global, ServiceOptions>;
pub type Apply = declare::Apply<Global, ServiceOptions>;
pub type OptionDef = declare::OptionDef<Global, ServiceOptions>;

/// Every option, in `stunnel -help` order: global-only ones first.
pub fn all() -> impl Iterator<Item = &'static OptionDef> + Clone {
    GLOBAL_OPTIONS.iter().chain(SERVICE_OPTIONS)
}

declare_section! {
    /// The global section: global-only options (stunnel-reference §3.1)
    /// plus the global meaning of `debug`, `service`, `setuid` and
    /// `setgid`. Once its checks pass (`resolve::check_global`) this is the
    /// model's `Global` as it stands.
    pub struct Global, written as global, scope Global, rows GLOBAL_OPTIONS {
        chroot: Option<PathBuf> = None
            => ("chroot", set(chroot, values::path), help(&["directory to chroot stunnel process"]));
        => ("compression", refused, help(&["compression type"]));
        => ("EGD", refused, help(&["path to Entropy Gathering Daemon socket"]));
        => ("engine", refused, help(&["auto|engine_id"]));
        => ("engineCtrl", refused, help(&["cmd[:arg]"]));
        => ("engineDefault", refused, help(&["TASK_LIST"]));
        /// `fips = yes`: OpenSSL's FIPS provider, loaded when the global section ends.
        fips: bool = false
            => ("fips", set(fips, values::yes_no), help(&["yes|no FIPS 140-2 mode"]), unlisted());
        foreground: Foreground = Foreground::No
            => ("foreground", set(foreground, global::foreground), help(&["yes|quiet|no foreground mode (don't fork, log to stderr)"]));
        log_mode: LogMode = LogMode::Append
            => ("log", set(log_mode, global::log_mode), help(&["append|overwrite log file"]));
        output: Option<PathBuf> = None
            => ("output", set(output, values::path), help(&["file to append log messages"]));
        /// `pid =` (empty) means no pid file.
        pid: Option<PathBuf> = None
            => ("pid", set(pid, values::path_or_unset), help(&["pid file"]));
        /// `provider = NAME` lines, in order (loaded by the TLS layer).
        providers: Vec<String> = Vec::new()
            => ("provider", push(providers, values::string), help(&["provider to load"]));
        => ("providerParameter", refused, help(&["PROVIDER:PARAMETER=VALUE provider parameter"]), unlisted());
        /// rstunnel extension: `metrics = [host:]port | /path`, the HTTP
        /// endpoint of `/metrics` and `/healthz` .
        metrics: Option<Endpoint> = None
            => ("metrics", set(metrics, global::metrics_endpoint), help(&["[host:]port or /path of the HTTP /metrics and /healthz endpoint (rstunnel)"]));
        rnd_bytes: i64 = 1024
            => ("RNDbytes", set(rnd_bytes, values::number("Illegal number of bytes to read from random seed files")), help(&["bytes to read from random seed files"]), default_text(&["1024"]));
        rnd_file: Option<PathBuf> = Some(PathBuf::from("/dev/urandom"))
            => ("RNDfile", set(rnd_file, values::path), help(&["path to file with random seed data"]), default_text(&["/dev/urandom"]));
        rnd_overwrite: bool = true
            => ("RNDoverwrite", set(rnd_overwrite, values::yes_no), help(&["yes|no overwrite seed datafiles with new random data"]), default_text(&["yes"]));
        /// `setEnv = NAME=VALUE` (`None` = unset), in order.
        set_env: Vec<(String, Option<String>)> = Vec::new()
            => ("setEnv", push(set_env, global::env_entry), help(&["NAME=VALUE environment variable to set"]));
        syslog: bool = true
            => ("syslog", set(syslog, values::yes_no), help(&["yes|no send logging messages to syslog"]));
        /// rstunnel extension: `certReload`, how often the certificate files are checked for changes.
        cert_reload: Option<Duration> = None
            => ("certReload", set(cert_reload, timeouts::seconds("Illegal certReload period")), help(&["seconds between checks of the certificate files"]));
        /// rstunnel extension: `workers`, how many processes share the listening sockets.
        workers: u32 = 1
            => ("workers", set(workers, global::workers), help(&["number of processes sharing the listening sockets (rstunnel)"]));
        /// rstunnel extension: `TIMEOUTdrain`, how long SIGTERM lets live connections finish.
        drain: Option<Duration> = None
            => ("TIMEOUTdrain", set(drain, timeouts::seconds("Illegal drain timeout")), help(&["seconds SIGTERM lets live connections finish"]));
        debug: DebugLevel = DebugLevel { facility: libc::LOG_DAEMON, level: 5 };
        service_name: String = "stunnel".to_string();
        setuid: Option<Uid> = None;
        setgid: Option<Gid> = None;
    }
}

declare_section! {
    /// One section's options. The model's `Service` carries them as read
    /// once the section's checks pass; what stunnel computes from several
    /// of them (endpoints, exec argv, SNI, defaults such as `key` = `cert`)
    /// is computed then (`resolve`, `model`). A `[section]` starts
    /// as a clone of the global section's (stunnel copies its "default
    /// service"), so list options (`connect`, `checkHost`, `config`, …)
    /// *append* to the global ones, the `options` masks are extended and
    /// `verify*` lines keep modifying the inherited flags
    /// (stunnel-reference §2.2, §2.3). Values stunnel computes when a section
    /// ends (ciphers, key = cert, client SNI, …) stay `None` here and are
    /// read through `ServiceOptions`' methods in `model`.
    pub struct ServiceOptions, written as service, scope Service, rows SERVICE_OPTIONS {
        /// Section name (or the `service =` rename).
        name: String = String::new();
        /// `accept`/`connect`/`redirect` values as written; split and checked
        /// when the section ends, as stunnel resolves them then.
        accept: Vec<String> = Vec::new()
            => ("accept", push(accept, values::string), help(&["[host:]port accept connections on specified host:port"]));
        => ("CAengine", refused, help(&["engine-specific CA certificate identifier for 'verify' option"]));
        ca_path: Option<PathBuf> = None
            => ("CApath", set(ca_path, values::path_or_unset), help(&["CA certificate directory for 'verify' option"]));
        ca_file: Option<PathBuf> = None
            => ("CAfile", set(ca_file, values::path_or_unset), help(&["CA certificate file for 'verify' option"]));
        => ("CAstore", refused, help(&["CA certificate store URI for 'verify' option"]), unlisted());
        cert: Option<PathBuf> = None
            => ("cert", set(cert, values::path), help(&["certificate chain"]));
        check_email: Vec<String> = Vec::new()
            => ("checkEmail", push(check_email, values::string), help(&["peer certificate email address"]));
        check_host: Vec<String> = Vec::new()
            => ("checkHost", push(check_host, values::string), help(&["peer certificate host name pattern"]));
        check_ip: Vec<String> = Vec::new()
            => ("checkIP", push(check_ip, values::string), help(&["peer certificate IP address"]));
        /// `None`: stunnel's default, filled in when the section ends.
        ciphers: Option<String> = None
            => ("ciphers", set(ciphers, values::text), help(&["permitted ciphers for TLS 1.2 or older"]), default_text(&["HIGH:!aNULL:!SSLv2:!DH:!kDHEPSK"]));
        ciphersuites: Option<String> = None
            => ("ciphersuites", set(ciphersuites, values::text), help(&["permitted ciphersuites for TLS 1.3"]), default_text(&["TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256 (with TLSv1.3)"]));
        client: bool = false
            => ("client", set(client, values::yes_no), help(&["yes|no client mode (remote service uses TLS)"]));
        /// `config = COMMAND[:PARAM]` lines for SSL_CONF_cmd, in order.
        conf_cmds: Vec<(String, Option<String>)> = Vec::new()
            => ("config", push(conf_cmds, tls::conf_command), help(&["command[:parameter] to execute"]));
        connect: Vec<String> = Vec::new()
            => ("connect", push(connect, values::string), help(&["[host:]port to connect"]));
        crl_path: Option<PathBuf> = None
            => ("CRLpath", set(crl_path, values::path_or_unset), help(&["CRL directory"]));
        crl_file: Option<PathBuf> = None
            => ("CRLfile", set(crl_file, values::path_or_unset), help(&["CRL file"]));
        curves: Option<String> = None
            => ("curves", set(curves, values::text), help(&["ECDH curve names"]), default_text(&["X25519:P-256:X448:P-521:P-384"]));
        => ("curve", set(curves, values::text), help(&["ECDH curve names"]), unlisted());
        debug_level: u8 = 5
            => ("debug", apply(debug), help(&["[facility].level (e.g. daemon.info)"]), default_text(&["daemon.notice"]));
        delay: bool = false
            => ("delay", set(delay, values::yes_no), help(&["yes|no delay DNS lookup for 'connect' option"]));
        => ("engineId", refused, help(&["ID of engine to read the key from"]));
        => ("engineNum", refused, help(&["number of engine to read the key from"]));
        exec: Option<PathBuf> = None
            => ("exec", apply(exec), help(&["file execute local inetd-type program"]));
        /// `execArgs`, or the `exec` path if `exec` came first (stunnel's rule).
        exec_args: Option<Vec<String>> = None
            => ("execArgs", set(exec_args, net::exec_args), help(&["arguments for 'exec' (including $0)"]));
        failover: Failover = Failover::Priority
            => ("failover", set(failover, net::failover), help(&["rr|prio failover strategy"]));
        ident: Option<String> = None
            => ("ident", set(ident, values::text), help(&["username for IDENT (RFC 1413) checking"]));
        => ("include", include, help(&["directory with configuration file snippets"]));
        key: Option<PathBuf> = None
            => ("key", set(key, values::path), help(&["certificate private key"]));
        => ("libwrap", check(values::yes_no), help(&["yes|no use /etc/hosts.allow and /etc/hosts.deny"]), refused_when_yes());
        local: Option<IpAddr> = None
            => ("local", set(local, net::local), help(&["IP address to be used as source for remote connections"]));
        /// rstunnel extension: `logProbes = no` logs a connection closed
        /// before its first byte at debug level only.
        /// rstunnel extension: `proxyIn`, the PROXY header versions read.
        proxy_in: Option<ProxyVersions> = None
            => ("proxyIn", set(proxy_in, net::proxy_versions), help(&["v1|v2|any read a load balancer's PROXY protocol header (rstunnel)"]));
        /// rstunnel extension: `proxyFrom`, the balancers whose header is read.
        proxy_from: Vec<(IpAddr, u8)> = Vec::new()
            => ("proxyFrom", push(proxy_from, net::network), help(&["ADDR[/PREFIX] a load balancer trusted to send PROXY headers (rstunnel)"]));
        /// rstunnel extension: `proxyVersion`, the PROXY header `protocol =
        /// proxy` writes; `None` = not written in the file (v1).
        proxy_version: Option<ProxyVersion> = None
            => ("proxyVersion", set(proxy_version, net::proxy_version), help(&["v1|v2 PROXY header written by protocol = proxy (rstunnel)"]));
        log_probes: bool = true
            => ("logProbes", set(log_probes, values::yes_no), help(&["yes|no log connections closed before sending any byte (rstunnel)"]));
        log_id: LogId = LogId::Sequential
            => ("logId", set(log_id, net::log_id), help(&["connection identifier type"]), default_text(&["sequential"]));
        ocsp_url: Option<String> = None
            => ("OCSP", set(ocsp_url, values::text), help(&["OCSP responder URL"]));
        ocsp_aia: bool = false
            => ("OCSPaia", set(ocsp_aia, values::yes_no), help(&["yes|no check the AIA responders from certificates"]));
        ocsp_flags: u64 = 0
            => ("OCSPflag", update(ocsp_flags, verify::add_ocsp_flag), help(&["OCSP responder flags"]));
        ocsp_nonce: bool = false
            => ("OCSPnonce", set(ocsp_nonce, values::yes_no), help(&["yes|no send and verify the OCSP nonce extension"]));
        ocsp_require: bool = true
            => ("OCSPrequire", set(ocsp_require, values::yes_no), help(&["yes|no require a conclusive OCSP response"]));
        /// rstunnel extension: `OCSPstapling`, a server staples its certificate's OCSP response.
        ocsp_stapling: bool = false
            => ("OCSPstapling", set(ocsp_stapling, values::yes_no), help(&["yes|no staple (server) or require (client) an OCSP response (rstunnel)"]));
        /// `options = NAME` bits set and `options = -NAME` bits cleared.
        options_set: u64 = 0;
        options_clear: u64 = 0;
        => ("options", apply(ssl_option), help(&["TLS option to set/reset"]), default_text(&["NO_SSLv2", "NO_SSLv3"]));
        /// `protocol` name as written; checked when the section ends.
        protocol: Option<String> = None
            => ("protocol", set(protocol, values::text), help(&["protocol to negotiate before TLS initialization", "currently supported: cifs, connect, imap,", "    nntp, pgsql, pop3, proxy, smtp, socks"]));
        protocol_authentication: Option<String> = None
            => ("protocolAuthentication", set(protocol_authentication, values::text), help(&["authentication type for protocol negotiations"]));
        protocol_domain: Option<String> = None
            => ("protocolDomain", set(protocol_domain, values::text), help(&["domain for protocol negotiations"]));
        /// rstunnel extension: `protocolDestination` rules, in order.
        protocol_destinations: Vec<Destination> = Vec::new()
            => ("protocolDestination", push(protocol_destinations, net::destination), help(&["ADDR[/PREFIX]:PORT[-PORT] or /PATH a CONNECT/SOCKS server may reach"]));
        protocol_headers: Vec<String> = Vec::new()
            => ("protocolHeader", push(protocol_headers, values::string), help(&["custom header for protocol negotiations"]));
        protocol_host: Option<String> = None
            => ("protocolHost", set(protocol_host, values::text), help(&["host:port for protocol negotiations"]));
        protocol_password: Option<String> = None
            => ("protocolPassword", set(protocol_password, values::text), help(&["password for protocol negotiations"]));
        protocol_username: Option<String> = None
            => ("protocolUsername", set(protocol_username, values::text), help(&["username for protocol negotiations"]));
        psk_identity: Option<String> = None
            => ("PSKidentity", set(psk_identity, values::text), help(&["identity for PSK authentication"]));
        /// `PSKsecrets` file content as (identity, key) pairs.
        psk_secrets: Vec<(String, Vec<u8>)> = Vec::new()
            => ("PSKsecrets", set(psk_secrets, verify::read_psk_file), help(&["secrets for PSK authentication"]));
        pty: bool = false
            => ("pty", set(pty, values::yes_no), help(&["yes|no allocate pseudo terminal for 'exec' option"]));
        redirect: Vec<String> = Vec::new()
            => ("redirect", push(redirect, values::string), help(&["[host:]port to redirect on authentication failures"]));
        renegotiation: bool = true
            => ("renegotiation", set(renegotiation, values::yes_no), help(&["yes|no support renegotiation"]));
        => ("requireCert", update(verify, verify::require_cert), help(&["yes|no require client certificate"]));
        reset: bool = true
            => ("reset", set(reset, values::yes_no), help(&["yes|no send TCP RST on error"]));
        /// The pause between exec+connect runs; `None` = no retry.
        retry: Option<Duration> = None
            => ("retry", set(retry, net::retry), help(&["yes|no retry connect+exec section"]));
        security_level: Option<u8> = None
            => ("securityLevel", set(security_level, tls::security_level), help(&["set the security level"]), default_text(&["2"]));
        => ("service", apply(service), help(&["service name"]));
        socket_group: Option<Gid> = None
            => ("setgid", apply(setgid), help(&["groupname for setgid()"]));
        socket_owner: Option<Uid> = None
            => ("setuid", apply(setuid), help(&["username for setuid()"]));
        session_cache_size: i64 = 1000
            => ("sessionCacheSize", set(session_cache_size, values::number("Illegal session cache size")), help(&["session cache size"]), default_text(&["1000"]));
        session_cache_timeout: i64 = 300
            => ("sessionCacheTimeout", set(session_cache_timeout, values::number("Illegal session cache timeout")), help(&["session cache timeout (in seconds)"]), default_text(&["300 seconds"]));
        => ("session", set(session_cache_timeout, values::number("Illegal session cache timeout")), help(&["session cache timeout (in seconds)"]), unlisted());
        session_resume: bool = true
            => ("sessionResume", set(session_resume, values::yes_no), help(&["yes|no enable session resumption"]));
        => ("sessiond", refused, help(&["[host:]port use sessiond at host:port"]));
        /// `sni` as written; its meaning depends on `client` at section end.
        sni: Option<String> = None
            => ("sni", set(sni, values::text), help(&["primary_service:host_name for an SNI virtual service"]));
        socket_options: SocketOptions = net::default_socket_options()
            => ("socket", update(socket_options, net::socket), help(&["a|l|r:option=value[:value]", "set an option on accept/local/remote socket"]));
        /// `None` = no limit (`all`).
        min_version: Option<TlsVersion> = None
            => ("sslVersion", apply(ssl_version), help(&["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"]));
        max_version: Option<TlsVersion> = None
            => ("sslVersionMax", set(max_version, tls::version), help(&["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"]));
        => ("sslVersionMin", set(min_version, tls::version), help(&["all|SSLv3|TLSv1|TLSv1.1|TLSv1.2|TLSv1.3 TLS version"]));
        /// Validated and kept only: tokio tasks have no per-connection thread.
        stack: i64 = 65536
            => ("stack", set(stack, values::number("Illegal thread stack size")), help(&["thread stack size (in bytes)"]), default_text(&["65536 bytes"]));
        ticket_key: Option<Vec<u8>> = None
            => ("ticketKeySecret", set(ticket_key, tls::ticket_key_secret), help(&["secret key for encryption/decryption TLSv1.3 tickets"]));
        ticket_mac: Option<Vec<u8>> = None
            => ("ticketMacSecret", set(ticket_mac, tls::ticket_mac_secret), help(&["key for HMAC operations on TLSv1.3 tickets"]));
        /// rstunnel extension: `ticketKeyFile`, rotating ticket keys shared by a fleet.
        ticket_key_file: Option<PathBuf> = None
            => ("ticketKeyFile", set(ticket_key_file, tls::ticket_key_file), help(&["file of session ticket keys, newest first (rstunnel)"]));
        timeouts: Timeouts = Timeouts::default()
            => ("TIMEOUTbusy", set(timeouts.busy, timeouts::seconds("Illegal busy timeout")), help(&["seconds to wait for expected data"]), default_text(&["300 seconds"]));
        => ("TIMEOUTclose", set(timeouts.close, timeouts::seconds("Illegal close timeout")), help(&["seconds to wait for close_notify"]), default_text(&["60 seconds"]));
        => ("TIMEOUTconnect", set(timeouts.connect, timeouts::seconds("Illegal connect timeout")), help(&["seconds to connect remote host"]), default_text(&["10 seconds"]));
        => ("TIMEOUTidle", set(timeouts.idle, timeouts::seconds("Illegal idle timeout")), help(&["seconds to keep an idle connection"]), default_text(&["43200 seconds"]));
        => ("TIMEOUTocsp", set(timeouts.ocsp, timeouts::seconds("Illegal OCSP connect timeout")), help(&["seconds to check OCSP response"]));
        transparent: Transparent = Transparent::None
            => ("transparent", set(transparent, net::transparent), help(&["none|source|destination|both transparent proxy mode"]));
        verify: VerifyFlags = VerifyFlags::default()
            => ("verify", update(verify, verify::level), help(&["level of peer certificate verification"]), default_text(&["none"]));
        => ("verifyChain", update(verify, verify::verify_chain), help(&["yes|no verify certificate chain"]));
        => ("verifyPeer", update(verify, verify::verify_peer), help(&["yes|no verify peer certificate"]));
    }
}

/// `debug = [facility.]level`: the facility only in the global section.
fn debug(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let mut level_text = v;
    if t.in_global {
        if let Some((facility, level)) = v.split_once('.') {
            t.global.debug.facility =
                global::parse_facility(facility).ok_or("Illegal syslog facility")?;
            level_text = level;
        }
    }
    let level = global::parse_level(level_text).ok_or("Illegal debug level")?;
    if t.in_global {
        t.global.debug.level = level;
    }
    t.service.debug_level = level;
    Ok(())
}

/// Global: syslog ident and inetd-mode service name. In a section it
/// renames that section (stunnel's documented, useless, behaviour).
fn service(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    if t.in_global {
        t.global.service_name = v.to_string();
    } else {
        t.service.name = v.to_string();
    }
    Ok(())
}

/// Global: the process's user after binding; everywhere: the owner of Unix
/// sockets the section binds.
fn setuid(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let id = global::user_id(v).ok_or("Illegal UID")?;
    if t.in_global {
        t.global.setuid = Some(id);
    }
    t.service.socket_owner = Some(id);
    Ok(())
}

fn setgid(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let id = global::group_id(v).ok_or("Illegal GID")?;
    if t.in_global {
        t.global.setgid = Some(id);
    }
    t.service.socket_group = Some(id);
    Ok(())
}

/// `sslVersion = X` pins both ends (`all` clears both).
fn ssl_version(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    let version = tls::version(v)?;
    t.service.min_version = version;
    t.service.max_version = version;
    Ok(())
}

/// `options = [-]NAME`: extends the set or the clear mask.
fn ssl_option(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    match tls::option_bits(v)? {
        (true, bits) => t.service.options_clear |= bits,
        (false, bits) => t.service.options_set |= bits,
    }
    Ok(())
}

/// `exec` also sets argv to `[exec]`, but only while `execArgs` is unset
/// (so `execArgs` before `exec` wins, and a second `exec` keeps the first
/// one's argv, as in stunnel).
fn exec(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.exec = Some(PathBuf::from(v));
    if t.service.exec_args.is_none() {
        t.service.exec_args = Some(vec![v.to_string()]);
    }
    Ok(())
}
