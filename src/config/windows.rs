//! Clear answers for the parts of a stunnel-for-Windows configuration that
//! have no Linux meaning: `C:\…` file names and the GUI-only global options.
//!
//! stunnel on Unix takes `cert = C:\stunnel\cert.pem` as a relative file
//! name and fails when it cannot open it, and rejects `taskbar = no` as an
//! unknown option; neither says what to change. Here a Windows file name
//! stops the start at its line with the Unix name to write instead, and the
//! tray-icon options are accepted and ignored with a notice (they change
//! nothing a tunnel does, so refusing them would only make the port harder).

use std::path::Path;

use super::options::values::yes_no;

/// Options whose value is a file name (the ones a Windows path can appear
/// in), by canonical name.
const FILE_OPTIONS: &[&str] = &[
    "cert",
    "key",
    "CAfile",
    "CApath",
    "CRLfile",
    "CRLpath",
    "PSKsecrets",
    "output",
    "pid",
    "include",
    "chroot",
    "exec",
    "RNDfile",
];

/// `C:\…`, `C:/…` or `\\server\share\…`.
fn is_windows_path(value: &str) -> bool {
    let b = value.as_bytes();
    let drive =
        b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'\\' | b'/');
    drive || value.starts_with("\\\\")
}

/// The reason a Windows file name in `option` is refused, naming the Unix
/// path to write instead (the file's name beside the configuration file,
/// where rstunnel looks for relative names). A name that exists on this
/// system as written is not refused: it is a Unix name after all.
pub fn refuse_windows_path(
    option: &str,
    value: &str,
    config_dir: Option<&Path>,
) -> Result<(), String> {
    if !FILE_OPTIONS.contains(&option) || !is_windows_path(value) || Path::new(value).exists() {
        return Ok(());
    }
    let name = value.rsplit(['\\', '/']).next().unwrap_or(value);
    let suggestion = match config_dir {
        Some(dir) => format!("{name} (looked for in {})", dir.display()),
        None => format!("/etc/stunnel/{name}"),
    };
    Err(format!(
        "{value} is a Windows path; rstunnel needs a Unix path, e.g. {option} = {suggestion}"
    ))
}

/// A global option that only stunnel for Windows has.
pub struct WindowsOnly {
    /// As stunnel for Windows spells it (names match in any case).
    pub name: &'static str,
    /// What it does on Windows, for the notice and the README.
    pub purpose: &'static str,
    /// stunnel for Windows' check of the value (so a typo is still an error).
    check: fn(&str) -> Result<(), String>,
}

fn any_file(_: &str) -> Result<(), String> {
    Ok(())
}

fn yes_or_no(value: &str) -> Result<(), String> {
    yes_no(value).map(|_| ()).map_err(|f| f.reason)
}

/// stunnel 5.68's global options compiled only into its Windows GUI.
pub static WINDOWS_ONLY_OPTIONS: &[WindowsOnly] = &[
    WindowsOnly {
        name: "taskbar",
        purpose: "tray icon",
        check: yes_or_no,
    },
    WindowsOnly {
        name: "iconActive",
        purpose: "tray icon while connections are active",
        check: any_file,
    },
    WindowsOnly {
        name: "iconError",
        purpose: "tray icon after a configuration error",
        check: any_file,
    },
    WindowsOnly {
        name: "iconIdle",
        purpose: "tray icon while idle",
        check: any_file,
    },
];

/// The Windows-only global option called `name` (any case), if it is one.
pub fn windows_only(name: &str) -> Option<&'static WindowsOnly> {
    WINDOWS_ONLY_OPTIONS
        .iter()
        .find(|o| o.name.eq_ignore_ascii_case(name))
}

impl WindowsOnly {
    /// Check the value as stunnel for Windows does, then ignore it with a
    /// notice.
    pub fn accept(&self, value: &str) -> Result<(), String> {
        (self.check)(value)?;
        crate::slog!(
            crate::log::NOTICE,
            "Windows-only option {} ({}) ignored",
            self.name,
            self.purpose
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_and_share_paths_are_windows_paths() {
        for p in ["C:\\stunnel\\cert.pem", "c:/x.pem", "\\\\srv\\share\\k.pem"] {
            assert!(is_windows_path(p), "{p}");
        }
        for p in [
            "cert.pem",
            "/etc/c.pem",
            "C:",
            "C:x",
            "certs\\a.pem",
            "ab:\\x",
        ] {
            assert!(!is_windows_path(p), "{p}");
        }
    }

    #[test]
    fn the_refusal_names_the_unix_path_to_write() {
        let reason = refuse_windows_path(
            "cert",
            "C:\\Program Files (x86)\\stunnel\\config\\cert.pem",
            Some(Path::new("/etc/trac")),
        )
        .unwrap_err();
        assert_eq!(
            reason,
            "C:\\Program Files (x86)\\stunnel\\config\\cert.pem is a Windows path; \
             rstunnel needs a Unix path, e.g. cert = cert.pem (looked for in /etc/trac)"
        );
        assert!(refuse_windows_path("connect", "C:\\x", None).is_ok());
        assert!(refuse_windows_path("cert", "cert.pem", None).is_ok());
    }

    #[test]
    fn windows_only_options_check_their_value() {
        let taskbar = windows_only("TASKBAR").unwrap();
        assert!(taskbar.accept("no").is_ok());
        assert_eq!(
            taskbar.accept("0").unwrap_err(),
            "The argument needs to be either 'yes' or 'no'"
        );
        assert!(windows_only("iconidle").unwrap().accept("idle.ico").is_ok());
        assert!(windows_only("chroot").is_none());
    }
}
