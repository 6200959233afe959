//! stunnel for Windows' service verbs, answered on Linux.
//!
//! `-install`, `-uninstall`, `-start` and `-stop` manage a Windows service;
//! on Linux that is systemd's job, so each is refused with the `systemctl`
//! command that does the same (exit 1, nothing changed). `-exit`, `-reload`
//! and `-reopen` reach "an already started stunnel" (stunnel's manual); on
//! Linux the running instance is the one whose pid the configuration's `pid`
//! file holds, and stunnel on Unix answers exactly these three requests as
//! signals: TERM (exit), HUP (reload the configuration), USR1 (reopen the
//! log). So they send that signal and exit 0.

use std::path::{Path, PathBuf};

use crate::cli::WindowsVerb;
use crate::config::Source;
use crate::log::{Logged, ERR, NOTICE};

/// Do what `verb` asks, or say what to do instead.
pub fn run(verb: WindowsVerb, source: &Source) -> Result<(), Logged> {
    match request_of(verb) {
        Some(request) => signal_running(verb, &request, source),
        None => {
            refuse_service_verb(verb);
            Err(Logged)
        }
    }
}

/// A verb that is a request to the running instance.
struct Request {
    signal: libc::c_int,
    signal_name: &'static str,
    /// What the running instance does on it.
    effect: &'static str,
    /// The systemd way to ask the same.
    systemctl: &'static str,
}

fn request_of(verb: WindowsVerb) -> Option<Request> {
    let (signal, signal_name, effect, systemctl) = match verb {
        WindowsVerb::Exit => (libc::SIGTERM, "SIGTERM", "exits", "systemctl stop rstunnel"),
        WindowsVerb::Reload => (
            libc::SIGHUP,
            "SIGHUP",
            "reloads its configuration",
            "systemctl reload rstunnel",
        ),
        WindowsVerb::Reopen => (
            libc::SIGUSR1,
            "SIGUSR1",
            "reopens its log file",
            "systemctl kill -s USR1 rstunnel",
        ),
        _ => return None,
    };
    Some(Request {
        signal,
        signal_name,
        effect,
        systemctl,
    })
}

/// The `systemctl` command doing what a Windows service verb does.
fn systemctl_for(verb: WindowsVerb) -> &'static str {
    match verb {
        WindowsVerb::Install => "systemctl enable --now rstunnel",
        WindowsVerb::Uninstall => "systemctl disable --now rstunnel",
        WindowsVerb::Start => "systemctl start rstunnel",
        _ => "systemctl stop rstunnel",
    }
}

fn refuse_service_verb(verb: WindowsVerb) {
    crate::slog!(
        ERR,
        "{} manages a Windows service; on Linux systemd runs rstunnel: {}",
        verb.word(),
        systemctl_for(verb)
    );
    if verb == WindowsVerb::Install {
        crate::slog!(
            NOTICE,
            "The unit (rstunnel.service, installed by \"make install\") runs \
             /etc/rstunnel/rstunnel.conf, which needs pid = /run/rstunnel/rstunnel.pid"
        );
    }
}

/// Read the configuration for its `pid` file and signal that process.
fn signal_running(verb: WindowsVerb, request: &Request, source: &Source) -> Result<(), Logged> {
    let config = super::parse(source)?;
    let Some(pid_file) = config.global.pid.as_deref() else {
        crate::slog!(
            ERR,
            "{}: {} has no \"pid\" line, so the running instance cannot be found",
            verb.word(),
            config.origin
        );
        crate::slog!(
            NOTICE,
            "Add pid = /run/rstunnel/rstunnel.pid to it, or use: {}",
            request.systemctl
        );
        return Err(Logged);
    };
    let pid_file = outside_the_jail(config.global.chroot.as_deref(), pid_file);
    let pid = read_pid(&pid_file)?;
    if let Err(errno) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::try_from(request.signal).expect("a Linux signal"),
    ) {
        crate::slog!(
            ERR,
            "{} (pid {pid} from {})",
            crate::os::errno::labelled("kill", errno),
            pid_file.display()
        );
        return Err(Logged);
    }
    super::print_plain(&[format!(
        "Sent {} to pid {pid} (from {}): the running instance {}",
        request.signal_name,
        pid_file.display(),
        request.effect
    )]);
    Ok(())
}

/// The running instance wrote its pid file inside its `chroot` jail.
fn outside_the_jail(chroot: Option<&Path>, pid_file: &Path) -> PathBuf {
    match chroot {
        Some(jail) => jail.join(pid_file.strip_prefix("/").unwrap_or(pid_file)),
        None => pid_file.to_path_buf(),
    }
}

/// The pid in stunnel's pid file (`<pid>\n`).
fn read_pid(path: &Path) -> Result<i32, Logged> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        crate::slog!(
            ERR,
            "{}",
            crate::os::errno::io_labelled(&format!("Cannot read pid file {}", path.display()), &e)
        );
        Logged
    })?;
    match text.trim().parse::<i32>() {
        Ok(pid) if pid > 0 => Ok(pid),
        _ => {
            crate::slog!(
                ERR,
                "Invalid pid file {}: {:?}",
                path.display(),
                text.trim()
            );
            Err(Logged)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_is_a_signal_or_a_systemctl_command() {
        for verb in WindowsVerb::ALL {
            let signal = request_of(verb).map(|r| r.signal_name);
            let expected = match verb {
                WindowsVerb::Exit => Some("SIGTERM"),
                WindowsVerb::Reload => Some("SIGHUP"),
                WindowsVerb::Reopen => Some("SIGUSR1"),
                _ => None,
            };
            assert_eq!(signal, expected, "{verb:?}");
        }
        assert_eq!(systemctl_for(WindowsVerb::Stop), "systemctl stop rstunnel");
    }

    #[test]
    fn a_jailed_pid_file_is_found_under_the_jail() {
        assert_eq!(
            outside_the_jail(Some(Path::new("/var/jail")), Path::new("/run/s.pid")),
            PathBuf::from("/var/jail/run/s.pid")
        );
        assert_eq!(
            outside_the_jail(None, Path::new("/run/s.pid")),
            PathBuf::from("/run/s.pid")
        );
    }
}
