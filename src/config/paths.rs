//! Relative file names, read the way stunnel for Windows reads them.
//!
//! stunnel on Windows finds `cert = cert.pem` beside its configuration file;
//! stunnel on Unix looks in whatever directory it was started from, and
//! refuses a relative `output`/`pid` in the background (`Log file must
//! include full path name`). So a `stunnel.conf` moved from Windows, with its
//! files beside it, fails on Linux. rstunnel keeps stunnel's Unix meaning
//! wherever it has one and uses the configuration file's directory only
//! where stunnel would find nothing:
//!
//! * a relative name that exists relative to the current directory is left
//!   alone (every configuration that works with stunnel on Unix keeps its
//!   meaning, and its error messages);
//! * otherwise, if it exists beside the configuration file, that path is used;
//! * `output`/`pid` in the background (which stunnel refuses when relative)
//!   are made absolute: relative to the current directory if the file is
//!   there, beside the configuration file if not (they are created, so they
//!   need not exist);
//! * names stunnel opens inside the `chroot` jail (`CApath`, `CRLpath`,
//!   `output`, `pid`) are left alone when there is a `chroot`: the jail is
//!   their meaning.
//!
//! Each resolution logs one notice line. The directory is that of the
//! configuration file's real path (the path errors show); `-fd N` has none,
//! and nothing is resolved then.
//!
//! This module only rewrites values; the option setters never see the
//! difference. The reader asks [`ConfigDir::line_value`] for each option
//! line, and [`ConfigDir::settle_global`] at the end of the global section,
//! when `foreground` and `chroot` are known.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::options::{Global, ServiceOptions};
use super::types::Foreground;

/// When stunnel opens the file an option names: that decides which
/// directories may hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Opened {
    /// Read while the configuration is loaded, before any `chroot`.
    AtLoad,
    /// Looked up while serving: inside the jail when there is a `chroot`.
    InJail,
    /// Created after daemonizing (and inside the jail).
    Created,
}

/// The options that name files, by their canonical name.
fn opened(option: &str) -> Option<Opened> {
    match option {
        "cert" | "key" | "CAfile" | "CRLfile" | "PSKsecrets" | "ticketKeyFile" | "include" => {
            Some(Opened::AtLoad)
        }
        "CApath" | "CRLpath" => Some(Opened::InJail),
        "output" | "pid" => Some(Opened::Created),
        _ => None,
    }
}

/// Whether a `chroot` applies to the line being read: unknown while the
/// global section is still open (a later `chroot` line may come).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jail {
    Unknown,
    None,
    Some,
}

/// The directory of the configuration file, if it came from a file.
#[derive(Debug, Clone, Default)]
pub struct ConfigDir(Option<PathBuf>);

impl ConfigDir {
    /// The directory of `origin` when it is an absolute file path (what
    /// `config::load` passes for a file; `-fd N` passes the number).
    pub fn of(origin: &str) -> Self {
        let path = Path::new(origin);
        ConfigDir(
            path.is_absolute()
                .then(|| path.parent().map(Path::to_path_buf))
                .flatten(),
        )
    }

    /// The directory, for messages that suggest a path.
    pub fn dir(&self) -> Option<&Path> {
        self.0.as_deref()
    }

    /// The value an option line is applied with: resolved if `option` names
    /// a file read now; names whose meaning depends on `foreground` or
    /// `chroot` are left for [`settle_global`](Self::settle_global) while
    /// the global section is open.
    pub fn line_value<'v>(&self, option: &str, value: &'v str, jail: Jail) -> Cow<'v, str> {
        let resolved = match (opened(option), jail) {
            (Some(Opened::AtLoad), _) | (Some(Opened::InJail), Jail::None) => {
                self.existing(Path::new(value))
            }
            _ => None,
        };
        match resolved {
            Some(path) => Cow::Owned(path.to_string_lossy().into_owned()),
            None => Cow::Borrowed(value),
        }
    }

    /// End of the global section: resolve the global `CApath`/`CRLpath`
    /// (copied into every section) and, in the background, `output`/`pid`.
    pub fn settle_global(&self, global: &mut Global, defaults: &mut ServiceOptions) {
        if global.chroot.is_some() {
            return;
        }
        for path in [&mut defaults.ca_path, &mut defaults.crl_path]
            .into_iter()
            .flatten()
        {
            if let Some(found) = self.existing(path) {
                *path = found;
            }
        }
        // In the foreground stunnel accepts a relative name and creates the
        // file in the current directory: that meaning stays.
        if global.foreground == Foreground::No {
            for path in [&mut global.output, &mut global.pid].into_iter().flatten() {
                if let Some(absolute) = self.created(path) {
                    *path = absolute;
                }
            }
        }
    }

    /// A relative name missing from the current directory but present
    /// beside the configuration file.
    fn existing(&self, name: &Path) -> Option<PathBuf> {
        if is_absolute_or_empty(name) || name.exists() {
            return None;
        }
        let beside = self.0.as_ref()?.join(name);
        beside.exists().then(|| {
            notice(name, &beside, "the configuration file's directory");
            beside
        })
    }

    /// A relative name for a file created after `daemon()` has moved to
    /// `/`: the current directory's if it is there, else beside the
    /// configuration file.
    fn created(&self, name: &Path) -> Option<PathBuf> {
        if is_absolute_or_empty(name) {
            return None;
        }
        if name.exists() {
            let here = std::env::current_dir().ok()?.join(name);
            notice(name, &here, "the current directory");
            return Some(here);
        }
        let beside = self.0.as_ref()?.join(name);
        notice(name, &beside, "the configuration file's directory");
        Some(beside)
    }
}

fn is_absolute_or_empty(name: &Path) -> bool {
    name.as_os_str().is_empty() || name.is_absolute()
}

fn notice(name: &Path, path: &Path, which: &str) {
    crate::slog!(
        crate::log::NOTICE,
        "{} resolved to {}, {which}",
        name.display(),
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> (tempfile::TempDir, ConfigDir) {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            std::fs::write(dir.path().join(f), "x").unwrap();
        }
        let conf = dir.path().join("stunnel.conf");
        let base = ConfigDir::of(conf.to_str().unwrap());
        (dir, base)
    }

    #[test]
    fn a_name_found_only_beside_the_file_is_resolved_there() {
        let (dir, base) = dir_with(&["rstunnel-paths-test-cert.pem"]);
        let v = base.line_value("cert", "rstunnel-paths-test-cert.pem", Jail::Unknown);
        let expected = dir.path().join("rstunnel-paths-test-cert.pem");
        assert_eq!(v, expected.to_str().unwrap());
    }

    #[test]
    fn missing_everywhere_absolute_or_not_a_file_option_stays_as_written() {
        let (_dir, base) = dir_with(&["rstunnel-paths-test-x.pem"]);
        assert_eq!(
            base.line_value("cert", "rstunnel-nowhere.pem", Jail::None),
            "rstunnel-nowhere.pem"
        );
        assert_eq!(
            base.line_value("cert", "/etc/x.pem", Jail::None),
            "/etc/x.pem"
        );
        assert_eq!(base.line_value("CAfile", "", Jail::None), "");
        assert_eq!(
            base.line_value("connect", "rstunnel-paths-test-x.pem", Jail::None),
            "rstunnel-paths-test-x.pem"
        );
    }

    #[test]
    fn jail_paths_wait_for_the_global_section_and_stay_with_a_chroot() {
        let (dir, base) = dir_with(&["rstunnel-paths-test-ca"]);
        let name = "rstunnel-paths-test-ca";
        assert_eq!(base.line_value("CApath", name, Jail::Unknown), name);
        assert_eq!(base.line_value("CApath", name, Jail::Some), name);
        let beside = dir.path().join(name);
        assert_eq!(
            base.line_value("CApath", name, Jail::None),
            beside.to_str().unwrap()
        );

        let mut global = Global {
            chroot: Some("/var/jail".into()),
            ..Global::default()
        };
        let mut defaults = ServiceOptions {
            ca_path: Some(name.into()),
            ..ServiceOptions::default()
        };
        global.output = Some("x.log".into());
        base.settle_global(&mut global, &mut defaults);
        assert_eq!(defaults.ca_path.as_deref(), Some(Path::new(name)));
        assert_eq!(global.output.as_deref(), Some(Path::new("x.log")));

        global.chroot = None;
        base.settle_global(&mut global, &mut defaults);
        assert_eq!(defaults.ca_path, Some(beside));
        assert_eq!(global.output, Some(dir.path().join("x.log")));
    }

    #[test]
    fn created_files_keep_the_foreground_meaning() {
        let (_dir, base) = dir_with(&[]);
        let mut global = Global {
            foreground: Foreground::Yes,
            output: Some("x.log".into()),
            pid: Some("x.pid".into()),
            ..Global::default()
        };
        base.settle_global(&mut global, &mut ServiceOptions::default());
        assert_eq!(global.output.as_deref(), Some(Path::new("x.log")));
        assert_eq!(global.pid.as_deref(), Some(Path::new("x.pid")));
    }

    #[test]
    fn a_descriptor_has_no_directory() {
        let base = ConfigDir::of("3");
        assert!(base.dir().is_none());
        let mut global = Global {
            output: Some("x.log".into()),
            ..Global::default()
        };
        base.settle_global(&mut global, &mut ServiceOptions::default());
        assert_eq!(global.output.as_deref(), Some(Path::new("x.log")));
    }
}
