//! Raw section → validated [`model::Service`] (and raw global → `Global`).
//!
//! Runs when a section ends, as stunnel's `init_section`: the checks are
//! made in stunnel's option-table order and the first failure wins, so the
//! message for a section with several problems is the one stunnel prints
//! (observed with stunnel4 5.68):
//!
//! 1. `accept` resolution (`Cannot resolve accept target`)
//! 2. `TLS server needs a certificate` (server without `cert` or PSK)
//! 3. `checkHost`/`checkEmail`/`checkIP` without `verifyChain`/`verifyPeer`
//! 4. `connect` ports, `protocol` name and mode, `PSKidentity`
//! 5. `redirect` rules, `sni`, `sslVersion` range, ticket key pairing
//! 6. `verify*` without `CAfile`/`CApath`
//! 7. the endpoint count (and `accept` in inetd mode)
//!
//! Computed defaults are filled in here: ciphers, ciphersuites, curves,
//! `key` = `cert`, the client SNI name, `execArgs`. Host names of `connect`
//! and `redirect` are *not* resolved (the connection layer does that), and
//! no certificate or CA file is opened.

use std::path::Path;

use super::addr::{self, Split};
use super::model::{
    Endpoint, Exec, Foreground, Global, Protocol, Service, ServiceOptions, SniRoute, Transparent,
};
use super::options::Failure;
use super::protocols as proto;

/// End of the global section (`Global options: …`): the declared values
/// are the model's `Global` once these checks pass.
pub fn check_global(global: &Global) -> Result<(), Failure> {
    let foreground = global.foreground != Foreground::No;
    let absolute = |p: &Option<std::path::PathBuf>| p.as_deref().map_or(true, Path::is_absolute);
    if !foreground && !absolute(&global.output) {
        return Err("Log file must include full path name".into());
    }
    if !foreground && !absolute(&global.pid) {
        return Err("Pid file must include full path name".into());
    }
    if global.workers > 1 && global.metrics.is_some() {
        // Each worker counts only its own connections; one endpoint
        // answering for one of them would mislead.
        return Err(Failure::at_option(
            "workers",
            "\"metrics\" cannot be combined with \"workers\"",
        ));
    }
    Ok(())
}

/// What a section ending may need of the sections before it (stunnel
/// searches its list, which already holds the section being finished).
pub struct KnownSection {
    pub name: String,
    pub client: bool,
    /// Its protocol connects the backend before the TLS handshake.
    pub connects_before_tls: bool,
}

impl KnownSection {
    pub fn of(name: &str, client: bool, protocol: Option<super::model::ProtocolKind>) -> Self {
        KnownSection {
            name: name.to_string(),
            client,
            connects_before_tls: proto::connects_before_tls(protocol, client),
        }
    }

    /// The section being finished (its protocol name not yet checked).
    pub fn of_raw(raw: &ServiceOptions) -> Self {
        let protocol = raw
            .protocol
            .as_deref()
            .and_then(|p| proto::check(p, raw.client).ok());
        KnownSection::of(&raw.name, raw.client, protocol)
    }
}

pub type Known<'a> = &'a [KnownSection];

/// End of a section (`inetd` = the implicit service of a file without
/// sections).
pub fn finish_service(
    raw: &ServiceOptions,
    known: Known<'_>,
    inetd: bool,
) -> Result<Service, Failure> {
    let mut endpoints = 0;
    let verifies = raw.verify.chain || raw.verify.peer;

    let accept = resolve_accept(&raw.accept)?;
    if !raw.accept.is_empty() {
        endpoints += 1;
    }
    if !raw.client && raw.cert.is_none() && raw.psk_secrets.is_empty() {
        return Err("TLS server needs a certificate".into());
    }
    let checks = [&raw.check_email, &raw.check_host, &raw.check_ip];
    if checks.iter().any(|c| !c.is_empty()) && !verifies {
        return Err("Either \"verifyChain\" or \"verifyPeer\" has to be enabled".into());
    }
    let connect = endpoints_of(&raw.connect)?;
    if !connect.is_empty() {
        endpoints += 1;
    }
    if raw.exec.is_some() {
        endpoints += 1;
        // stunnel preloads its own libstunnel.so into the program for this;
        // rstunnel has no such library, so refuse rather than ignore.
        if matches!(raw.transparent, Transparent::Source | Transparent::Both) {
            return Err(
                "option transparent = source is not supported by rstunnel with exec".into(),
            );
        }
    }
    let kind = match &raw.protocol {
        Some(name) => Some(proto::check(name, raw.client)?),
        None => None,
    };
    if kind.is_some_and(|k| proto::is_endpoint(k, raw.client)) {
        endpoints += 1;
    }
    check_psk_identity(raw)?;
    check_destinations(raw, kind)?;
    check_log_probes(raw, kind)?;
    check_proxy_in(raw)?;
    if raw.ocsp_stapling && raw.client && !verifies {
        // A staple is checked through the trusted certificates, as the
        // `OCSP` checks are (stunnel 5.70+ refuses those without either).
        return Err(Failure::at_option(
            "OCSPstapling",
            "\"OCSPstapling\" in client mode needs \"verifyChain\" or \"verifyPeer\"",
        ));
    }
    check_proxy_version(raw, kind)?;
    let redirect = check_redirect(raw, kind)?;
    let (sni_name, sni_route) = resolve_sni(raw, known)?;
    if sni_route.is_some() {
        endpoints += 1;
    }
    if let (Some(min), Some(max)) = (raw.min_version, raw.max_version) {
        if min > max {
            return Err("Invalid protocol version range".into());
        }
    }
    check_tickets(raw)?;
    if matches!(
        raw.transparent,
        Transparent::Destination | Transparent::Both
    ) {
        endpoints += 1;
    }
    if verifies && raw.ca_file.is_none() && raw.ca_path.is_none() {
        return Err("Either \"CAengine\", \"CAfile\" or \"CApath\" has to be configured".into());
    }
    if inetd {
        if !raw.accept.is_empty() {
            return Err("'accept' option is only allowed in a [section]".into());
        }
        if endpoints != 1 {
            return Err("Inetd mode must define one endpoint".into());
        }
    } else if endpoints != 2 {
        return Err("Each service must define two endpoints".into());
    }
    Ok(build(
        raw, accept, connect, redirect, kind, sni_name, sni_route,
    ))
}

/// Every `accept` value must split, have a known port and (with a host)
/// resolve; stunnel logs each failure and fails only when nothing is left.
fn resolve_accept(values: &[String]) -> Result<Vec<Endpoint>, Failure> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for v in values {
        let checked = addr::endpoint(v).and_then(|ep| match addr::split(v) {
            Split::Inet { host: Some(h), .. } => addr::resolve_host(h).map(|_| ep),
            _ => Ok(ep),
        });
        match checked {
            Ok(ep) => ok.push(ep),
            Err(line) => errors.push(line),
        }
    }
    if !values.is_empty() && ok.is_empty() {
        return Err(Failure {
            before: errors,
            reason: "Cannot resolve accept target".to_string(),
            option: None,
        });
    }
    for line in errors {
        crate::slog!(crate::log::ERR, "{line}");
    }
    Ok(ok)
}

/// `connect`/`redirect`: the port must be known now (rstunnel keeps ports
/// as numbers; stunnel would log `Unknown TCP service` and fail every
/// connection later). Host names are resolved at connect time.
fn endpoints_of(values: &[String]) -> Result<Vec<Endpoint>, Failure> {
    values
        .iter()
        .map(|v| addr::endpoint(v).map_err(Failure::from))
        .collect()
}

fn check_psk_identity(raw: &ServiceOptions) -> Result<(), Failure> {
    let Some(identity) = &raw.psk_identity else {
        return Ok(());
    };
    if !raw.client {
        crate::slog!(
            crate::log::NOTICE,
            "PSK identity is ignored in the server mode"
        );
        return Ok(());
    }
    if !raw.psk_secrets.is_empty() && !raw.psk_secrets.iter().any(|(id, _)| id == identity) {
        return Err("No key found for the specified PSK identity".into());
    }
    Ok(())
}

/// Server sections need both ticket secrets or none; client sections
/// ignore them, with stunnel's notices (and the model drops them).
/// `protocolDestination` only steers a server that lets the client choose
/// the target (CONNECT, SOCKS); anywhere else it would be ignored.
fn check_destinations(
    raw: &ServiceOptions,
    kind: Option<super::model::ProtocolKind>,
) -> Result<(), Failure> {
    use super::model::ProtocolKind::{Connect, Socks};
    let chooses_target = !raw.client && matches!(kind, Some(Connect | Socks));
    if !raw.protocol_destinations.is_empty() && !chooses_target {
        return Err(
            "\"protocolDestination\" needs \"protocol = connect\" or \"socks\" in server mode"
                .into(),
        );
    }
    Ok(())
}

/// `proxyIn` reads a header on accepted TCP connections from the
/// `proxyFrom` balancers: both or neither, and only on TCP `accept` lines
/// (a Unix socket or inetd pipe has no balancer address to trust).
fn check_proxy_in(raw: &ServiceOptions) -> Result<(), Failure> {
    match (raw.proxy_in.is_some(), raw.proxy_from.is_empty()) {
        (true, true) => {
            return Err(
                "\"proxyIn\" needs \"proxyFrom\": the balancers whose header is trusted".into(),
            )
        }
        (false, false) => return Err("\"proxyFrom\" needs \"proxyIn\"".into()),
        _ => {}
    }
    let tcp_only = raw.accept.iter().all(|e| {
        !matches!(
            super::addr::endpoint(e),
            Ok(super::model::Endpoint::Unix(_))
        )
    });
    if raw.proxy_in.is_some() && (raw.accept.is_empty() || !tcp_only) {
        return Err("\"proxyIn\" needs TCP \"accept\" addresses".into());
    }
    // ident would ask the balancer, not the client: an access check that
    // cannot be made is refused, never skipped.
    if raw.proxy_in.is_some() && raw.ident.is_some() {
        return Err("\"ident\" cannot check a client behind a PROXY balancer (\"proxyIn\")".into());
    }
    Ok(())
}

/// `proxyVersion` only says what `protocol = proxy` writes; anywhere else
/// it would be ignored. Reported at the `proxyVersion` line.
fn check_proxy_version(
    raw: &ServiceOptions,
    kind: Option<super::model::ProtocolKind>,
) -> Result<(), Failure> {
    if raw.proxy_version.is_some() && kind != Some(super::model::ProtocolKind::Proxy) {
        return Err(Failure::at_option(
            "proxyVersion",
            "\"proxyVersion\" needs \"protocol = proxy\"",
        ));
    }
    Ok(())
}

/// `logProbes = no` waits for the client's first byte before anything else
/// happens, which only fits a server whose client speaks first; a client
/// mode or connect-first protocol (the backend greets first) would hang.
fn check_log_probes(
    raw: &ServiceOptions,
    kind: Option<super::model::ProtocolKind>,
) -> Result<(), Failure> {
    if !raw.log_probes && (raw.client || proto::connects_before_tls(kind, false)) {
        return Err(
            "\"logProbes = no\" needs a server-mode service whose client speaks first".into(),
        );
    }
    Ok(())
}

/// Ticket keys: stunnel's secrets in pairs (ignored with its notices in
/// client mode); `ticketKeyFile` alone, in a server that resumes sessions.
fn check_tickets(raw: &ServiceOptions) -> Result<(), Failure> {
    // Only a server issues tickets; an rstunnel option is never accepted
    // and ignored (stunnel's ticket secrets are, with its notices below).
    if raw.client && raw.ticket_key_file.is_some() {
        return Err("\"ticketKeyFile\" is only for server-mode services".into());
    }
    if raw.ticket_key_file.is_some() && !raw.session_resume {
        return Err("\"ticketKeyFile\" needs \"sessionResume = yes\"".into());
    }
    if raw.client {
        for (name, set) in [
            ("ticketKeySecret", raw.ticket_key.is_some()),
            ("ticketMacSecret", raw.ticket_mac.is_some()),
        ] {
            if set {
                crate::slog!(crate::log::INFO, "{name} configured");
            }
        }
        for (name, set) in [
            ("ticketKeySecret", raw.ticket_key.is_some()),
            ("ticketMacSecret", raw.ticket_mac.is_some()),
        ] {
            if set {
                crate::slog!(crate::log::NOTICE, "{name} is ignored in the client mode");
            }
        }
        return Ok(());
    }
    if raw.ticket_key.is_some() != raw.ticket_mac.is_some() {
        return Err("\"ticketKeySecret\" and \"ticketMacSecret\" must be set together".into());
    }
    if raw.ticket_key_file.is_some() && raw.ticket_key.is_some() {
        return Err(
            "\"ticketKeyFile\" replaces \"ticketKeySecret\" and \"ticketMacSecret\": set one or the other"
                .into(),
        );
    }
    Ok(())
}

fn check_redirect(
    raw: &ServiceOptions,
    kind: Option<super::model::ProtocolKind>,
) -> Result<Vec<Endpoint>, Failure> {
    if raw.redirect.is_empty() {
        return Ok(Vec::new());
    }
    if raw.client {
        return Err("\"redirect\" is unsupported in client sections".into());
    }
    if proto::connects_before_tls(kind, raw.client) {
        return Err("\"redirect\" is incompatible with the specified protocol negotiation".into());
    }
    if !raw.verify.chain && !raw.verify.peer {
        return Err(
            "Either \"verifyChain\" or \"verifyPeer\" has to be enabled for \"redirect\" to work"
                .into(),
        );
    }
    endpoints_of(&raw.redirect)
}

/// Client: the name to send (`sni =` empty disables; default from
/// `protocolHost`, else the first `connect`, host part before the last `:`,
/// `localhost` if there is no `:`). Server: `PRIMARY:PATTERN`, split at the
/// first `:`, the primary looked up by exact name.
fn resolve_sni(
    raw: &ServiceOptions,
    known: Known<'_>,
) -> Result<(Option<String>, Option<SniRoute>), Failure> {
    if raw.client {
        let name = match &raw.sni {
            Some(s) => s.clone(),
            None => default_client_sni(raw),
        };
        return Ok(((!name.is_empty()).then_some(name), None));
    }
    let Some(sni) = &raw.sni else {
        return Ok((None, None));
    };
    let (primary, pattern) = sni.split_once(':').ok_or("Invalid SNI parameter format")?;
    let primary_section = known
        .iter()
        .find(|k| k.name == primary)
        .ok_or("SNI section name not found")?;
    if primary_section.client {
        return Err("SNI primary service is a TLS client".into());
    }
    // Beyond stunnel, which accepts it: the primary's backend is connected
    // before the handshake, so a client naming this section would reach
    // the primary's backend under this section's (weaker) verification.
    if primary_section.connects_before_tls {
        return Err("SNI is incompatible with the primary service's protocol negotiation".into());
    }
    Ok((
        None,
        Some(SniRoute {
            primary: primary.to_string(),
            pattern: pattern.to_string(),
        }),
    ))
}

fn default_client_sni(raw: &ServiceOptions) -> String {
    let source = raw.protocol_host.as_ref().or(raw.connect.first());
    match source.and_then(|s| s.rfind(':').map(|i| &s[..i])) {
        Some(host) => host.to_string(),
        None => "localhost".to_string(),
    }
}

fn build(
    raw: &ServiceOptions,
    accept: Vec<Endpoint>,
    connect: Vec<Endpoint>,
    redirect: Vec<Endpoint>,
    kind: Option<super::model::ProtocolKind>,
    sni_name: Option<String>,
    sni_route: Option<SniRoute>,
) -> Service {
    let exec = raw.exec.as_ref().map(|program| Exec {
        program: program.clone(),
        args: raw
            .exec_args
            .clone()
            .unwrap_or_else(|| vec![program.to_string_lossy().into_owned()]),
        pty: raw.pty,
        keep_stderr: false,
    });
    let protocol = kind.map(|kind| Protocol {
        kind,
        host: raw.protocol_host.clone(),
        username: raw.protocol_username.clone(),
        password: raw.protocol_password.clone(),
        authentication: raw.protocol_authentication.clone(),
        domain: raw.protocol_domain.clone(),
        headers: raw.protocol_headers.clone(),
        destinations: raw.protocol_destinations.clone(),
        proxy_version: raw.proxy_version.unwrap_or_default(),
    });
    let mut options = raw.clone();
    if options.client {
        // Logged as ignored by `check_tickets`.
        options.ticket_key = None;
        options.ticket_mac = None;
    }
    Service {
        proxy_in: raw.proxy_in.map(|accept| super::model::ProxyIn {
            accept,
            from: raw.proxy_from.clone(),
        }),
        options,
        accept,
        connect,
        redirect,
        exec,
        protocol,
        sni_route,
        sni_name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(f: impl FnOnce(&mut ServiceOptions)) -> ServiceOptions {
        let mut s = ServiceOptions {
            name: "a".into(),
            client: true,
            accept: vec!["127.0.0.1:1".into()],
            connect: vec!["2".into()],
            ..ServiceOptions::default()
        };
        f(&mut s);
        s
    }

    #[test]
    fn client_sni_defaults() {
        let sni =
            |f: fn(&mut ServiceOptions)| finish_service(&svc(f), &[], false).map(|s| s.sni_name);
        assert_eq!(sni(|_| {}), Ok(Some("localhost".into())));
        assert_eq!(
            sni(|s| s.connect = vec!["127.0.0.1:5".into()]),
            Ok(Some("127.0.0.1".into()))
        );
        assert_eq!(
            sni(|s| s.protocol_host = Some("ex.com:99".into())),
            Ok(Some("ex.com".into()))
        );
        assert_eq!(
            sni(|s| s.protocol_host = Some("example.com".into())),
            Ok(Some("localhost".into()))
        );
        assert_eq!(sni(|s| s.protocol_host = Some(":99".into())), Ok(None));
        assert_eq!(sni(|s| s.sni = Some(String::new())), Ok(None));
        assert_eq!(sni(|s| s.sni = Some("a:b".into())), Ok(Some("a:b".into())));
    }

    #[test]
    fn computed_defaults() {
        let s = finish_service(
            &svc(|s| {
                s.client = false;
                s.cert = Some("/c.pem".into());
                s.exec = Some("/bin/cat".into());
                s.connect.clear();
            }),
            &[],
            false,
        )
        .expect("valid");
        use crate::config::model::{DEFAULT_CIPHERS, DEFAULT_CIPHERSUITES, DEFAULT_CURVES};
        assert_eq!(s.options.key(), Some(Path::new("/c.pem")));
        assert_eq!(s.options.ciphers(), DEFAULT_CIPHERS);
        assert_eq!(s.options.ciphersuites(), DEFAULT_CIPHERSUITES);
        assert_eq!(s.options.curves(), DEFAULT_CURVES);
        assert_eq!(s.exec.map(|e| e.args), Some(vec!["/bin/cat".to_string()]));
    }

    #[test]
    fn global_paths() {
        let g = Global {
            output: Some("x.log".into()),
            ..Global::default()
        };
        assert_eq!(
            check_global(&g).unwrap_err().reason,
            "Log file must include full path name"
        );
        let g = Global {
            pid: Some("x.pid".into()),
            ..Global::default()
        };
        assert_eq!(
            check_global(&g).unwrap_err().reason,
            "Pid file must include full path name"
        );
        let g = Global {
            pid: Some("x.pid".into()),
            foreground: Foreground::Quiet,
            ..Global::default()
        };
        assert!(check_global(&g).is_ok());
    }
}
