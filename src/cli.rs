//! stunnel's command line (stunnel-reference §1): `rstunnel [FILE] | -fd N |
//! -help | -version | -sockets | -options`, plus `-test [FILE]` (check the
//! configuration and exit), and the printers for the information modes.
//!
//! # Why not argh
//!
//! argh matches each argument exactly against `--long` and `-c` names and
//! rejects what it does not know. stunnel's command line does not fit that
//! model: only `argv[1]` and `argv[2]` are looked at and the rest is ignored;
//! the keywords are single-dash words compared case-insensitively
//! (`-VERSION` works); and *anything* that is not a keyword is a file name,
//! including `-foo` (stunnel then fails with `Invalid configuration file
//! name "-foo"`). Translating stunnel's words into argh flags first would
//! mean doing all of this recognition before argh runs, leaving argh
//! nothing to decide, while argh would add its own `--help` output and
//! reject extra arguments stunnel ignores. So the two-argument grammar is
//! matched by hand here, in a dozen lines.
//!
//! stunnel for Windows' service verbs (`-install`, `-uninstall`, `-start`,
//! `-stop`, `-exit`, `-reload`, `-reopen`, optionally followed by `-quiet`
//! and a file name) are recognized too, so that a command copied from a
//! Windows guide gets an answer instead of `Invalid configuration file name
//! "-install"` (see [`WindowsVerb`]).
//!
//! The printers (`help_lines`, `options_lines`, `sockets_lines`,
//! `version_defaults_lines`) return the lines stunnel writes after its
//! banner; the caller prints them to stderr. `-help` and the `-version`
//! defaults are generated from the option table.

use std::path::PathBuf;

use crate::config::options::net::{SockType, SOCKET_OPTIONS};
use crate::config::options::tls::SSL_OPTIONS;
use crate::config::options::{self, Scope};
use crate::config::Source;

/// What the process was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// Run the daemon (or inetd mode) from `source`.
    Run(Source),
    /// `-test FILE`: load and check the configuration, print the TLS policy
    /// of each service, open no socket.
    Test(Source),
    Help,
    Version,
    Sockets,
    Options,
    /// A stunnel-for-Windows verb, with the configuration it names (which
    /// holds the `pid` of the running instance).
    Windows(WindowsVerb, Source),
}

/// stunnel for Windows' verbs (stunnel-reference §1.1): the first four
/// manage the Windows service, the last three reach an already started
/// stunnel. On Linux systemd manages the service; the other three map
/// exactly onto the signals stunnel on Unix answers (§0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowsVerb {
    Install,
    Uninstall,
    Start,
    Stop,
    /// "Exit an already started stunnel": SIGTERM.
    Exit,
    /// "Reload the configuration file of an already started stunnel": SIGHUP.
    Reload,
    /// "Reopen the log file of an already started stunnel": SIGUSR1.
    Reopen,
}

impl WindowsVerb {
    pub const ALL: [WindowsVerb; 7] = [
        WindowsVerb::Install,
        WindowsVerb::Uninstall,
        WindowsVerb::Start,
        WindowsVerb::Stop,
        WindowsVerb::Exit,
        WindowsVerb::Reload,
        WindowsVerb::Reopen,
    ];

    /// The word as stunnel for Windows spells it.
    pub fn word(self) -> &'static str {
        match self {
            WindowsVerb::Install => "-install",
            WindowsVerb::Uninstall => "-uninstall",
            WindowsVerb::Start => "-start",
            WindowsVerb::Stop => "-stop",
            WindowsVerb::Exit => "-exit",
            WindowsVerb::Reload => "-reload",
            WindowsVerb::Reopen => "-reopen",
        }
    }

    /// The verb `word` names (any case, as stunnel for Windows compares).
    pub fn from_word(word: &str) -> Option<WindowsVerb> {
        Self::ALL
            .into_iter()
            .find(|v| v.word().eq_ignore_ascii_case(word))
    }
}

/// A command line stunnel refuses: the exact log lines it writes, in
/// order, as (stunnel level, text). The process then exits 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub lines: Vec<(u8, String)>,
}

impl CliError {
    /// The err-level line that names the problem.
    pub fn message(&self) -> &str {
        self.lines
            .iter()
            .find(|(l, _)| *l == crate::log::ERR)
            .map(|(_, t)| t.as_str())
            .unwrap_or("")
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for CliError {}

/// `/etc/rstunnel/rstunnel.conf` if it exists, else stunnel's
/// `/etc/stunnel/stunnel.conf` (drop-in).
pub fn default_config_path() -> PathBuf {
    let ours = PathBuf::from("/etc/rstunnel/rstunnel.conf");
    if ours.exists() {
        ours
    } else {
        PathBuf::from("/etc/stunnel/stunnel.conf")
    }
}

/// Parse `args` (`args[0]` is the program name).
pub fn parse(args: &[String]) -> Result<Invocation, CliError> {
    let Some(first) = args.get(1) else {
        return Ok(Invocation::Run(Source::File(default_config_path())));
    };
    let is = |word: &str| first.eq_ignore_ascii_case(word);
    if is("-help") {
        Ok(Invocation::Help)
    } else if is("-version") {
        Ok(Invocation::Version)
    } else if is("-sockets") {
        Ok(Invocation::Sockets)
    } else if is("-options") {
        Ok(Invocation::Options)
    } else if is("-test") {
        let path = args.get(2).map_or_else(default_config_path, PathBuf::from);
        Ok(Invocation::Test(Source::File(path)))
    } else if is("-fd") {
        fd_source(args.get(2)).map(Invocation::Run)
    } else if let Some(verb) = WindowsVerb::from_word(first) {
        Ok(Invocation::Windows(
            verb,
            Source::File(verb_config(&args[2..])),
        ))
    } else {
        Ok(Invocation::Run(Source::File(PathBuf::from(first))))
    }
}

/// The file after a Windows verb: stunnel for Windows' `-quiet` (no
/// message boxes) means nothing here and is skipped.
fn verb_config(rest: &[String]) -> PathBuf {
    rest.iter()
        .find(|a| !a.eq_ignore_ascii_case("-quiet"))
        .map_or_else(default_config_path, PathBuf::from)
}

/// `-fd N`: strtol rules, whole string. A number that is not an open
/// descriptor fails later, in `config::load` (`Cannot open configuration
/// file`), as in stunnel.
fn fd_source(arg: Option<&String>) -> Result<Source, CliError> {
    use crate::log::{ERR, NOTICE};
    let Some(text) = arg else {
        let mut lines = vec![(ERR, "No file descriptor specified".to_string())];
        lines.extend(syntax_lines().into_iter().map(|l| (NOTICE, l)));
        return Err(CliError { lines });
    };
    match crate::config::options::values::strtol(text) {
        Some(n) => Ok(Source::Fd(i32::try_from(n).unwrap_or(-1))),
        None => {
            let mut lines = vec![
                (
                    NOTICE,
                    format!("Reading configuration from descriptor {text}"),
                ),
                (ERR, "Invalid file descriptor number".to_string()),
            ];
            lines.extend(syntax_lines().into_iter().map(|l| (NOTICE, l)));
            lines.push((ERR, "Configuration failed".to_string()));
            Err(CliError { lines })
        }
    }
}

/// The syntax block stunnel prints (at notice) after a command-line or
/// configuration-opening error, with its stray `] ]`, plus rstunnel's
/// `-test`.
pub fn syntax_lines() -> Vec<String> {
    [
        " ",
        "Syntax:",
        "stunnel [<filename>] ] -fd <n> | -help | -version | -sockets | -options",
        "    <filename>  - use specified config file",
        "    -fd <n>     - read the config file from a file descriptor",
        "    -help       - get config file help",
        "    -version    - display version and defaults",
        "    -sockets    - display default socket options",
        "    -options    - display supported TLS options",
        "    -test [<filename>] - check the configuration and exit (rstunnel)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn option_line(name: &str, text: &str) -> String {
    format!("{name:<22} = {text}")
}

/// `-help`: every listed option of the table, global ones first.
pub fn help_lines() -> Vec<String> {
    by_scope(|def, out| {
        if def.listed {
            let mut help = def.help.iter();
            out.push(option_line(def.name, help.next().copied().unwrap_or("")));
            out.extend(help.map(|more| format!("{:25}{more}", "")));
        }
    })
}

/// The defaults block of `-version`.
pub fn version_defaults_lines() -> Vec<String> {
    by_scope(|def, out| out.extend(def.defaults.iter().map(|text| option_line(def.name, text))))
}

/// stunnel's two option blocks (global, then service-level), each under its
/// title, with `lines` of each option of the block.
fn by_scope(lines: impl Fn(&options::OptionDef, &mut Vec<String>)) -> Vec<String> {
    let mut out = Vec::new();
    for (scope, title) in [
        (Scope::Global, "Global options:"),
        (Scope::Service, "Service-level options:"),
    ] {
        out.push(" ".to_string());
        out.push(title.to_string());
        for def in options::all().filter(|d| d.scope == scope) {
            lines(def, &mut out);
        }
    }
    out
}

/// `-options`: the accepted `options =` names.
pub fn options_lines() -> Vec<String> {
    let mut out = vec![" ".to_string(), "Supported TLS options:".to_string()];
    out.extend(
        SSL_OPTIONS
            .iter()
            .map(|(name, _)| format!("options = {name}")),
    );
    out
}

/// `-sockets`: stunnel's defaults per socket kind and the OS default read
/// with `getsockopt` on a fresh TCP socket (IPv6 for `IPV6_*`).
pub fn sockets_lines() -> Vec<String> {
    let mut out = vec![
        " ".to_string(),
        "Socket option defaults:".to_string(),
        "    Option Name         |  Accept  |   Local  |  Remote  |OS default".to_string(),
        "    --------------------+----------+----------+----------+----------".to_string(),
    ];
    for def in SOCKET_OPTIONS {
        let col = |d: Option<&str>| d.unwrap_or("    --    ").to_string();
        out.push(format!(
            "    {:<20}|{:>10}|{:>10}|{:>10}|{:>10}",
            def.name,
            col(def.defaults[0]),
            col(def.defaults[1]),
            col(def.defaults[2]),
            os_default(def.level, def.optname, def.kind)
        ));
    }
    out
}

/// Read one option's OS default, formatted as stunnel prints it
/// (`write-only` when getsockopt fails).
fn os_default(level: i32, optname: i32, kind: SockType) -> String {
    let family = if level == libc::IPPROTO_IPV6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    // SAFETY: plain socket(2); the descriptor is closed below.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return "write-only".to_string();
    }
    let mut buf = [0u8; 64];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for len bytes; fd is a valid socket.
    let rc = unsafe { libc::getsockopt(fd, level, optname, buf.as_mut_ptr().cast(), &mut len) };
    // SAFETY: fd was opened above and is not used afterwards.
    unsafe { libc::close(fd) };
    if rc != 0 {
        return "write-only".to_string();
    }
    let int_at = |off: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&buf[off..off + 4]);
        i32::from_ne_bytes(b)
    };
    let long_at = |off: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[off..off + 8]);
        i64::from_ne_bytes(b)
    };
    match kind {
        SockType::Flag => if int_at(0) != 0 { "yes" } else { "no" }.to_string(),
        SockType::Int => int_at(0).to_string(),
        SockType::Linger => format!("{}:{}", int_at(0), int_at(4)),
        SockType::Time => format!("{}:{}", long_at(0), long_at(8)),
        SockType::Text => {
            let n = (len as usize).min(buf.len());
            let text = &buf[..n];
            let end = text.iter().position(|&b| b == 0).unwrap_or(n);
            String::from_utf8_lossy(&text[..end]).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("rstunnel")
            .chain(a.iter().copied())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn keywords_case_insensitive_and_extra_args_ignored() {
        assert_eq!(parse(&args(&["-HELP"])), Ok(Invocation::Help));
        assert_eq!(
            parse(&args(&["-version", "extra"])),
            Ok(Invocation::Version)
        );
        assert_eq!(parse(&args(&["-Sockets"])), Ok(Invocation::Sockets));
        assert_eq!(parse(&args(&["-options"])), Ok(Invocation::Options));
        assert_eq!(
            parse(&args(&["x.conf", "-help"])),
            Ok(Invocation::Run(Source::File("x.conf".into())))
        );
        assert_eq!(
            parse(&args(&["-foo"])),
            Ok(Invocation::Run(Source::File("-foo".into())))
        );
        assert_eq!(
            parse(&args(&["-test", "a.conf"])),
            Ok(Invocation::Test(Source::File("a.conf".into())))
        );
        assert!(matches!(
            parse(&args(&[])),
            Ok(Invocation::Run(Source::File(_)))
        ));
    }

    #[test]
    fn windows_verbs_take_quiet_and_a_file() {
        assert_eq!(
            parse(&args(&["-RELOAD", "-quiet", "a.conf"])),
            Ok(Invocation::Windows(
                WindowsVerb::Reload,
                Source::File("a.conf".into())
            ))
        );
        assert_eq!(
            parse(&args(&["-install", "b.conf"])),
            Ok(Invocation::Windows(
                WindowsVerb::Install,
                Source::File("b.conf".into())
            ))
        );
        assert!(matches!(
            parse(&args(&["-exit"])),
            Ok(Invocation::Windows(WindowsVerb::Exit, Source::File(_)))
        ));
        for verb in WindowsVerb::ALL {
            assert_eq!(WindowsVerb::from_word(verb.word()), Some(verb));
        }
    }

    #[test]
    fn fd_rules() {
        assert_eq!(
            parse(&args(&["-FD", "3"])),
            Ok(Invocation::Run(Source::Fd(3)))
        );
        assert_eq!(
            parse(&args(&["-fd", " 3"])),
            Ok(Invocation::Run(Source::Fd(3)))
        );
        assert_eq!(
            parse(&args(&["-fd", "-1"])),
            Ok(Invocation::Run(Source::Fd(-1)))
        );
        let e = parse(&args(&["-fd"])).unwrap_err();
        assert_eq!(e.message(), "No file descriptor specified");
        assert_eq!(e.lines[2].1, "Syntax:");
        assert!(!e.lines.iter().any(|(_, t)| t == "Configuration failed"));
        for bad in ["x", "5x", ""] {
            let e = parse(&args(&["-fd", bad])).unwrap_err();
            assert_eq!(e.message(), "Invalid file descriptor number");
            assert_eq!(
                e.lines[0].1,
                format!("Reading configuration from descriptor {bad}")
            );
            assert_eq!(
                e.lines.last().map(|l| l.1.as_str()),
                Some("Configuration failed")
            );
        }
    }

    #[test]
    fn printers_have_stunnel_shape() {
        let help = help_lines();
        assert_eq!(help[1], "Global options:");
        assert!(help.contains(
            &"                         currently supported: cifs, connect, imap,".to_string()
        ));
        let v = version_defaults_lines();
        assert!(v.contains(&"options                = NO_SSLv3".to_string()));
        assert_eq!(options_lines()[2], "options = ALL");
        let s = sockets_lines();
        assert!(s
            .iter()
            .any(|l| l.starts_with("    SO_REUSEADDR        |       yes|    --    |    --    |")));
    }
}
