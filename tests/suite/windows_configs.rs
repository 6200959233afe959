//! A stunnel.conf written for stunnel on Windows runs unchanged on Linux
//! (issue 19), and nothing that works with stunnel4 changes meaning.
//!
//! The Trac guide's file itself, started from another directory, is carried
//! end to end in `tests/suite/seed_configs.rs`; here are the rules around it: what
//! a Windows-saved text means (differential against stunnel4), relative
//! names that exist in the current directory (differential against
//! stunnel4), `C:\` names, the Windows-only options and the Windows verbs.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::tls_pki::make_pki;
use common::{check_config, header, net, p, run_cmd, Daemon, Impl};

/// GET https://localhost:PORT/ with curl, trusting only `ca`.
fn curl(port: u16, ca: &Path) -> Result<String, String> {
    let (ok, body, err) = run_cmd(
        Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(ca)
            .arg(format!("https://localhost:{port}/")),
    );
    if ok {
        Ok(body)
    } else {
        Err(err)
    }
}

/// `imp` on `conf`, in its own directory: the exit code if it stopped, or
/// the body curl got through its `[https]` service.
fn outcome(imp: Impl, conf: &str, ca: &Path) -> Result<String, String> {
    let mut daemon = Daemon::start(imp, conf);
    let log = daemon.log.clone();
    // Either the service binds or the process stops on the configuration.
    let deadline = std::time::Instant::now() + common::PATIENCE;
    loop {
        if log.contains("Service [https] (FD=") {
            return curl(daemon.port("https"), ca);
        }
        if let Some(status) = daemon.child.try_wait().unwrap() {
            // The process is gone; its last lines may still be in the pipe.
            log.wait_for("Configuration failed");
            let errors: Vec<String> = log
                .text()
                .lines()
                .filter(|l| l.starts_with("[!]"))
                .map(str::to_string)
                .collect();
            return Err(format!("exit {:?}: {}", status.code(), errors.join(" | ")));
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?} neither bound nor stopped",
            imp
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Each trait of a file saved on Windows is read as stunnel4 reads it: CRLF
/// line ends, a UTF-8 BOM, `;` comments and option names in any case all
/// load and carry a request; a `;` after a value is part of the value (no
/// trailing comments), so both refuse that file with the same line.
#[test]
fn text_saved_on_windows_reads_as_stunnel4_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = net::http_backend("windows text");
    let service = format!(
        "[https]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\nkey = {}\n",
        p(&pki.server_cert),
        p(&pki.server_key)
    );
    let base = format!("{}{service}", header());
    let upper_names: String = base
        .lines()
        .map(|l| match l.split_once(" = ") {
            Some((name, value)) => format!("{} = {value}\n", name.to_uppercase()),
            None => format!("{l}\n"),
        })
        .collect();
    let variants = [
        ("CRLF line ends", base.replace('\n', "\r\n"), true),
        ("UTF-8 BOM", format!("\u{feff}{base}"), true),
        (
            "; comments",
            format!("; saved on Windows\n{base}").replace("[https]", "; the service\n[https]"),
            true,
        ),
        ("option names in any case", upper_names, true),
        (
            "; after a value",
            base.replace("127.0.0.1:0", "127.0.0.1:0 ; no trailing comments"),
            false,
        ),
    ];
    for (what, conf, loads) in variants {
        let stunnel4 = outcome(Impl::Stunnel4, &conf, &pki.ca);
        let rstunnel = outcome(Impl::Rstunnel, &conf, &pki.ca);
        assert_eq!(stunnel4.is_ok(), loads, "{what}: stunnel4 {stunnel4:?}");
        match (&stunnel4, &rstunnel) {
            (Ok(a), Ok(b)) => assert_eq!(
                (a.as_str(), b.as_str()),
                ("windows text", "windows text"),
                "{what}"
            ),
            (Err(a), Err(b)) => {
                let reason = "Unknown TCP service \"0 ; no trailing comments\"";
                assert!(
                    a.contains(reason) && b.contains(reason),
                    "{what}:\n{a}\n{b}"
                );
            }
            _ => panic!("{what}: stunnel4 {stunnel4:?}, rstunnel {rstunnel:?}"),
        }
    }
}

/// Relative names that exist relative to the current directory keep
/// stunnel's meaning even when the configuration file's directory holds
/// files of the same names: both programs, started from `cwd` on a file
/// beside a decoy certificate, serve the certificate of `cwd` (curl trusts
/// only its CA) and write the relative foreground `output` in `cwd`.
#[test]
fn names_present_in_the_current_directory_mean_what_they_mean_to_stunnel4() {
    let cwd = tempfile::tempdir().unwrap();
    let pki_dir = tempfile::tempdir().unwrap();
    let pki = make_pki(pki_dir.path());
    std::fs::copy(&pki.server_cert, cwd.path().join("cert.pem")).unwrap();
    std::fs::copy(&pki.server_key, cwd.path().join("key.pem")).unwrap();
    let backend = net::http_backend("from cwd");
    let conf = format!(
        "{}output = tunnel.log\n[https]\naccept = 127.0.0.1:0\n\
         connect = 127.0.0.1:{backend}\ncert = cert.pem\nkey = key.pem\n",
        header()
    );
    for imp in [Impl::Stunnel4, Impl::Rstunnel] {
        let conf_dir = tempfile::tempdir().unwrap();
        let decoy_dir = tempfile::tempdir().unwrap();
        let decoy = make_pki(decoy_dir.path());
        std::fs::copy(&decoy.server_cert, conf_dir.path().join("cert.pem")).unwrap();
        std::fs::copy(&decoy.server_key, conf_dir.path().join("key.pem")).unwrap();
        let beside = conf_dir.path().join("tunnel.log");
        let daemon = Daemon::start_in_from(imp, &conf, conf_dir, cwd.path());
        let port = daemon.port("https");
        assert_eq!(curl(port, &pki.ca).as_deref(), Ok("from cwd"), "{imp:?}");
        assert!(
            !daemon.log.contains("resolved to"),
            "{imp:?}: {}",
            daemon.log.text()
        );
        let log = cwd.path().join("tunnel.log");
        assert!(
            log.exists() && !beside.exists(),
            "{imp:?}: output not in the current directory"
        );
        std::fs::remove_file(log).unwrap();
    }
}

/// `C:\…` names stop the start at their line, with the Unix name to write.
#[test]
fn windows_paths_are_refused_at_their_line() {
    for option in [
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
    ] {
        let line = format!("{option} = C:\\Program Files (x86)\\stunnel\\config\\x.pem");
        let (code, err) = check_config(&format!("foreground = yes\n{line}\n"));
        assert_eq!(code, Some(1), "{option}: {err}");
        let expected = format!(
            ":2: \"{line}\": C:\\Program Files (x86)\\stunnel\\config\\x.pem is a Windows path; \
             rstunnel needs a Unix path, e.g. {option} = x.pem (looked for in "
        );
        assert!(
            err.lines()
                .any(|l| l.starts_with("[!] /") && l.contains(&expected)),
            "{option}: missing {expected:?} in\n{err}"
        );
    }
}

/// The GUI options of stunnel for Windows are accepted in the global
/// section and ignored with a notice; their values are still checked, and
/// in a section they are "not valid here", as on Windows.
#[test]
fn windows_only_options_are_ignored_with_a_notice() {
    let service = "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n";
    for (line, notice) in [
        (
            "taskbar = no",
            "Windows-only option taskbar (tray icon) ignored",
        ),
        (
            "TaskBar = yes",
            "Windows-only option taskbar (tray icon) ignored",
        ),
        (
            "iconActive = active.ico",
            "Windows-only option iconActive (tray icon while connections are active) ignored",
        ),
        (
            "iconError = C:\\stunnel\\error.ico",
            "Windows-only option iconError (tray icon after a configuration error) ignored",
        ),
        (
            "iconIdle = idle.ico",
            "Windows-only option iconIdle (tray icon while idle) ignored",
        ),
    ] {
        let (code, err) = check_config(&format!("{line}\n{service}"));
        assert_eq!(code, Some(0), "{line}: {err}");
        assert!(
            err.lines().any(|l| l == notice),
            "{line}: no {notice:?} in\n{err}"
        );
    }
    let (code, err) = check_config(&format!("taskbar = 1\n{service}"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains(":1: \"taskbar = 1\": The argument needs to be either 'yes' or 'no'"),
        "{err}"
    );
    let (code, err) = check_config(&format!("{service}taskbar = no\n"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains(":5: \"taskbar = no\": Specified option name is not valid here"),
        "{err}"
    );
}

/// `rstunnel VERB [-quiet] FILE`: (exit code, stdout, stderr).
fn verb(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(Impl::Rstunnel.program())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The Windows service verbs change nothing and name the systemd command.
#[test]
fn windows_service_verbs_name_the_systemctl_command() {
    for (word, command) in [
        ("-install", "systemctl enable --now rstunnel"),
        ("-uninstall", "systemctl disable --now rstunnel"),
        ("-START", "systemctl start rstunnel"),
        ("-stop", "systemctl stop rstunnel"),
    ] {
        let (code, out, err) = verb(&[word, "-quiet", "/nonexistent/stunnel.conf"]);
        assert_eq!(code, Some(1), "{word}");
        assert!(out.is_empty(), "{word}: stdout {out:?}");
        let expected = format!(
            "[!] {} manages a Windows service; on Linux systemd runs rstunnel: {command}",
            word.to_lowercase()
        );
        assert!(
            err.lines().any(|l| l == expected),
            "{word}: no {expected:?} in\n{err}"
        );
    }
}

/// `-reload`, `-reopen` and `-exit` reach the instance whose pid the
/// configuration's `pid` file holds, as SIGHUP, SIGUSR1 and SIGTERM.
#[test]
fn reload_reopen_and_exit_signal_the_instance_in_the_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("tunnel.pid");
    let conf = format!(
        "{}pid = {}\noutput = {}\n[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:9\n",
        header(),
        p(&pid_file),
        p(&dir.path().join("tunnel.log"))
    );
    let mut daemon = Daemon::start_in(Impl::Rstunnel, &conf, dir);
    daemon.log.wait_for("Service [c] (FD=");
    let pid = daemon.child.id();
    // The pid file is written after the `bound to` line (and after the
    // signal handlers exist): wait for it as a script would.
    common::wait_until("the pid file", || {
        std::fs::read_to_string(&pid_file).is_ok_and(|t| t.trim() == pid.to_string())
    });
    let conf_path = p(&daemon.conf);
    for (word, signal, effect, answer) in [
        (
            "-reload",
            "SIGHUP",
            "reloads its configuration",
            "Configuration successful",
        ),
        (
            "-reopen",
            "SIGUSR1",
            "reopens its log file",
            "Log file reopened",
        ),
        ("-exit", "SIGTERM", "exits", "Terminated"),
    ] {
        let (code, out, err) = verb(&[word, &conf_path]);
        assert_eq!(code, Some(0), "{word}: {err}");
        assert!(out.is_empty());
        assert_eq!(
            err.trim_end(),
            format!(
                "Sent {signal} to pid {pid} (from {}): the running instance {effect}",
                p(&pid_file)
            ),
        );
        let n = if word == "-reload" { 2 } else { 1 };
        daemon.log.wait_for_nth(answer, n);
    }
    assert_eq!(daemon.wait_exit(), 0);
    assert!(!pid_file.exists(), "the pid file is removed at exit");
}

/// Without a `pid` line there is no running instance to find: say so and
/// name the other ways.
#[test]
fn signal_verbs_need_a_pid_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nopid.conf");
    std::fs::write(
        &conf,
        "[c]\nclient = yes\naccept = 127.0.0.1:0\nconnect = 9\n",
    )
    .unwrap();
    let real = conf.canonicalize().unwrap();
    let (code, _, err) = verb(&["-reload", &p(&conf)]);
    assert_eq!(code, Some(1));
    let expected = format!(
        "[!] -reload: {} has no \"pid\" line, so the running instance cannot be found",
        p(&real)
    );
    assert!(err.lines().any(|l| l == expected), "{err}");
    assert!(
        err.lines().any(|l| l
            == "[.] Add pid = /run/rstunnel/rstunnel.pid to it, or use: systemctl reload rstunnel"),
        "{err}"
    );
}
