//! The line-by-line driver: stunnel's `options_file` loop.
//!
//! Lines are processed in order, and everything stunnel does "when the line
//! is reached" happens here at that point:
//! * `[name]` ends the previous section (the global section's checks run at
//!   the first header) and starts a new one as a copy of the global
//!   section's service-level values;
//! * `include = DIR` reads each file of DIR right now, sharing the current
//!   section; an error inside is reported at `DIR/file:line` and then the
//!   include line fails with `Failed to include a file`;
//! * an option line is looked up in the table (global-only options only
//!   before the first section), refused options are rejected, and the value
//!   is applied.
//!
//! At the end of the text the last section is checked; a file without
//! sections is inetd mode and its global part is the one service.
//!
//! Before a value is applied, a file name in it may be rewritten (a Windows
//! configuration's names relative to its own directory, `paths`); the option
//! setters never know. Windows-only options and `C:\…` names are answered
//! here too (`windows`).

use super::error::{ConfigError, Place};
use super::lexer::{self, Item, Line};
use super::model::{Config, Service};
use super::options::{self, Apply, Failure, Global, Lookup, ServiceOptions, Support, Target};
use super::paths::{ConfigDir, Jail};
use super::resolve::{self, KnownSection};
use super::windows;

/// Includes nested deeper than this fail (stunnel would recurse until its
/// stack runs out on a directory that includes itself).
const MAX_INCLUDE_DEPTH: usize = 16;
/// And at most this many included files are read per parse, so a few
/// directories that include each other cannot multiply without bound.
const MAX_INCLUDED_FILES: usize = 1024;

pub struct Reader {
    global: Global,
    /// The global section's service-level values ("default service").
    defaults: ServiceOptions,
    /// The `[section]` being read; `None` while in the global section.
    current: Option<ServiceOptions>,
    services: Vec<Service>,
    /// Whether the global section has been checked (first header or EOF).
    global_done: bool,
    /// Included files read so far (bounded by `MAX_INCLUDED_FILES`).
    included: usize,
    /// Where relative file names missing from the current directory are
    /// looked for: the main configuration file's directory (included files
    /// included, as stunnel for Windows has one base directory).
    config_dir: ConfigDir,
    /// Where each option of the global section's service-level values and
    /// of the current section was last set (a section starts with the global
    /// section's list), so a section-end failure that blames one option
    /// ([`Failure::option`]) names its `file:line`.
    written_defaults: Written,
    written: Written,
}

/// Option name → the line that last set it.
type Written = Vec<(&'static str, Place)>;

impl Reader {
    pub fn new() -> Self {
        Reader {
            global: Global::default(),
            defaults: ServiceOptions::default(),
            current: None,
            services: Vec::new(),
            global_done: false,
            included: 0,
            config_dir: ConfigDir::default(),
            written_defaults: Vec::new(),
            written: Vec::new(),
        }
    }

    /// Read one file's bytes, shown as `path` in messages.
    pub fn read(&mut self, path: &str, bytes: &[u8]) -> Result<(), ConfigError> {
        self.config_dir = ConfigDir::of(path);
        self.read_nested(path, bytes, 0)
    }

    fn read_nested(&mut self, path: &str, bytes: &[u8], depth: usize) -> Result<(), ConfigError> {
        let lexed = lexer::lex(bytes);
        crate::slog!(
            crate::log::NOTICE,
            "UTF-8 byte order mark {}detected",
            if lexed.bom { "" } else { "not " }
        );
        for line in &lexed.lines {
            self.line(path, line, depth)?;
        }
        Ok(())
    }

    fn line(&mut self, path: &str, line: &Line, depth: usize) -> Result<(), ConfigError> {
        let at = |reason: String, before: Vec<String>| {
            ConfigError::at_line(path, line.no, &line.raw, reason).with_before(before)
        };
        match &line.item {
            Item::Section(name) => self.start_section(name),
            Item::NoEquals => Err(at("No '=' found".to_string(), Vec::new())),
            Item::Pair { name, value } => {
                let in_global = self.current.is_none();
                let def = match options::lookup(name, in_global) {
                    Lookup::Found(def) => def,
                    Lookup::NotValidHere => {
                        // stunnel for Windows' GUI options are global-only
                        // there too: in a section they stay "not valid here".
                        let reason = match windows::windows_only(name).filter(|_| in_global) {
                            Some(option) => match option.accept(value) {
                                Ok(()) => return Ok(()),
                                Err(reason) => reason,
                            },
                            None => "Specified option name is not valid here".to_string(),
                        };
                        return Err(at(reason, Vec::new()));
                    }
                };
                let refused = match def.support {
                    Support::Implemented => false,
                    Support::Refused => true,
                    Support::RefusedWhenYes => value.eq_ignore_ascii_case("yes"),
                };
                if refused {
                    return Err(at(options::refused_reason(def), Vec::new()));
                }
                let value = &*self
                    .file_name(def.name, value)
                    .map_err(|reason| at(reason, Vec::new()))?;
                match def.apply {
                    Apply::Include => self
                        .include(value, depth)
                        .map_err(|(reason, before)| at(reason, before)),
                    Apply::Value(apply) => {
                        let service = match self.current.as_mut() {
                            Some(s) => s,
                            None => &mut self.defaults,
                        };
                        let mut target = Target {
                            global: &mut self.global,
                            service,
                            in_global,
                        };
                        apply(&mut target, value).map_err(|f| at(f.reason, f.before))?;
                        let written = match self.current {
                            Some(_) => &mut self.written,
                            None => &mut self.written_defaults,
                        };
                        written.retain(|(name, _)| *name != def.name);
                        written.push((
                            def.name,
                            Place::Line {
                                path: path.to_string(),
                                line: line.no,
                                raw: line.raw.clone(),
                            },
                        ));
                        Ok(())
                    }
                    Apply::Nothing => Err(at(options::refused_reason(def), Vec::new())),
                }
            }
        }
    }

    /// The value `option` is applied with: a Windows file name is refused, a
    /// relative one may be resolved beside the configuration file.
    fn file_name<'v>(
        &self,
        option: &str,
        value: &'v str,
    ) -> Result<std::borrow::Cow<'v, str>, String> {
        windows::refuse_windows_path(option, value, self.config_dir.dir())?;
        let jail = match (self.global_done, self.global.chroot.is_some()) {
            (false, _) => Jail::Unknown,
            (true, false) => Jail::None,
            (true, true) => Jail::Some,
        };
        Ok(self.config_dir.line_value(option, value, jail))
    }

    /// `include = DIR`; the error is (reason, lines before it).
    fn include(&mut self, dir: &str, depth: usize) -> Result<(), (String, Vec<String>)> {
        const FAILED_FILE: &str = "Failed to include a file";
        let list = lexer::include_dir(dir)
            .map_err(|line| ("Failed to include directory".to_string(), vec![line]))?;
        for skipped in &list.skipped {
            crate::slog!(crate::log::DEBUG, "\"{skipped}\" is not a file");
        }
        for file in &list.files {
            self.included += 1;
            if depth + 1 > MAX_INCLUDE_DEPTH || self.included > MAX_INCLUDED_FILES {
                return Err((
                    FAILED_FILE.to_string(),
                    vec!["Too many nested or included files".to_string()],
                ));
            }
            crate::slog!(crate::log::NOTICE, "Reading configuration from file {file}");
            let bytes = std::fs::read(file).map_err(|_| {
                (
                    FAILED_FILE.to_string(),
                    vec!["Cannot open configuration file".to_string()],
                )
            })?;
            self.read_nested(file, &bytes, depth + 1)
                .map_err(|inner| (FAILED_FILE.to_string(), inner.lines()))?;
        }
        Ok(())
    }

    fn start_section(&mut self, name: &str) -> Result<(), ConfigError> {
        self.finish_current()?;
        let mut section = self.defaults.clone();
        section.name = name.to_string();
        self.current = Some(section);
        self.written = self.written_defaults.clone();
        Ok(())
    }

    /// Check the section being read (or the global section at the first
    /// header).
    fn finish_current(&mut self) -> Result<(), ConfigError> {
        if !self.global_done {
            self.config_dir
                .settle_global(&mut self.global, &mut self.defaults);
            resolve::check_global(&self.global).map_err(|r| reject(Place::Global, r))?;
            self.global_done = true;
        }
        if let Some(raw) = self.current.take() {
            crate::slog!(crate::log::INFO, "Initializing service [{}]", raw.name);
            let mut known: Vec<KnownSection> = self
                .services
                .iter()
                .map(|s| {
                    let kind = s.protocol.as_ref().map(|p| p.kind);
                    KnownSection::of(&s.options.name, s.options.client, kind)
                })
                .collect();
            known.push(KnownSection::of_raw(&raw));
            let service = resolve::finish_service(&raw, &known, false)
                .map_err(|r| reject_at(Place::Service(raw.name.clone()), &self.written, r))?;
            warn_unauthenticated(&service);
            self.services.push(service);
        }
        Ok(())
    }

    /// End of the main file: check what is open and build the `Config`.
    pub fn finish(mut self, origin: &str) -> Result<Config, ConfigError> {
        let sections = self.current.is_some() || !self.services.is_empty();
        self.finish_current()?;
        resolve::check_global(&self.global).map_err(|r| reject(Place::Global, r))?;
        let mut inetd = None;
        if !sections && !self.defaults.accept.is_empty() {
            // Beyond stunnel 5: a file without sections that has `accept`
            // (configs written for older stunnel, e.g. the Trac guide's) runs
            // as one service named after the global `service`, instead of
            // failing with "'accept' option is only allowed in a [section]".
            let mut single = self.defaults.clone();
            single.name = self.global.service_name.clone();
            crate::slog!(
                crate::log::NOTICE,
                "No [section] found: the global options define service [{}]",
                single.name
            );
            let service = resolve::finish_service(&single, &[], false).map_err(|r| {
                reject_at(
                    Place::Service(single.name.clone()),
                    &self.written_defaults,
                    r,
                )
            })?;
            self.services.push(service);
        } else if !sections {
            let mut implicit = self.defaults.clone();
            implicit.name = self.global.service_name.clone();
            let service = resolve::finish_service(&implicit, &[], true)
                .map_err(|r| reject_at(Place::Inetd, &self.written_defaults, r))?;
            inetd = Some(Box::new(service));
        }
        // A global value every `exec` needs: its stderr (see `Exec`).
        let keep_stderr = self.global.foreground != crate::config::model::Foreground::No;
        let mut services = self.services;
        let sections = services.iter_mut().chain(inetd.as_deref_mut());
        for exec in sections.filter_map(|s| s.exec.as_mut()) {
            exec.keep_stderr = keep_stderr;
        }
        Ok(Config {
            global: self.global,
            services,
            inetd,
            origin: origin.to_string(),
        })
    }
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

/// stunnel's warnings for client sections that would talk to anybody
/// (logged while the section's TLS verification is set up).
fn warn_unauthenticated(service: &crate::config::model::Service) {
    warn_open_proxy(service);
    let verify = service.options.verify;
    let checks = !service.options.check_host.is_empty() || !service.options.check_ip.is_empty();
    if !service.options.client {
        return;
    }
    if !verify.chain && !verify.peer {
        crate::slog!(
            crate::log::WARNING,
            "Service [{}] needs authentication to prevent MITM attacks",
            service.options.name
        );
    } else if verify.chain && !checks && service.options.check_email.is_empty() {
        crate::slog!(
            crate::log::WARNING,
            "Service [{}] uses \"verifyChain\" without subject checks",
            service.options.name
        );
        crate::slog!(
            crate::log::WARNING,
            "Use \"checkHost\" or \"checkIP\" to restrict trusted certificates"
        );
    }
}

/// rstunnel's warning for a server-mode CONNECT or SOCKS service that any
/// client can use to reach any address: no `protocolDestination`, no client
/// verification.
fn warn_open_proxy(service: &crate::config::model::Service) {
    use crate::config::model::ProtocolKind::{Connect, Socks};
    let Some(protocol) = &service.protocol else {
        return;
    };
    let verify = service.options.verify;
    let chooses_target = !service.options.client && matches!(protocol.kind, Connect | Socks);
    if chooses_target && protocol.destinations.is_empty() && !verify.chain && !verify.peer {
        crate::slog!(
            crate::log::WARNING,
            "Service [{}] lets any client reach any address this host can reach: \
             set \"protocolDestination\" or verify client certificates",
            service.options.name
        );
    }
}

fn reject(place: Place, r: Failure) -> ConfigError {
    ConfigError::new(place, r.reason).with_before(r.before)
}

/// A section-end failure: at the line of the option it blames, if that
/// option was written, else at the section (`place`).
fn reject_at(place: Place, written: &Written, r: Failure) -> ConfigError {
    let line = r
        .option
        .and_then(|option| written.iter().find(|(name, _)| *name == option))
        .map(|(_, at)| at.clone());
    reject(line.unwrap_or(place), r)
}
