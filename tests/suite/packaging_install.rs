//! `make install` / `make uninstall` into a temporary DESTDIR: every file in
//! its place with the right mode and content, the systemd unit's ExecStart
//! following PREFIX and its PIDFile matching the shipped configuration's
//! `pid`, an existing configuration never overwritten, `systemd-analyze
//! verify` (and its offline security review) on the installed unit, and
//! nothing left behind by `make uninstall`.
//!
//! The binary installed is the one cargo built for this test run
//! (`CARGO_BIN_EXE_rstunnel`, passed as `RSTUNNEL_BIN`): under `make test`
//! (`cargo test --release`) that is target/release/rstunnel, the file
//! `make install` copies by default. The test never runs cargo itself.
//! systemd checks are skipped, with a message, without `systemd-analyze`.

use crate::common::must_run;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_rstunnel");

fn source(rel: &str) -> Vec<u8> {
    std::fs::read(Path::new(ROOT).join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `make TARGET DESTDIR=dest PREFIX=prefix`; returns its output, panics on failure.
fn make(target: &str, dest: &Path, prefix: &str) -> String {
    let out = Command::new("make")
        .arg("-C")
        .arg(ROOT)
        .arg("--no-print-directory")
        .arg(target)
        .arg(format!("DESTDIR={}", dest.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg(format!("RSTUNNEL_BIN={BIN}"))
        // Not a sub-make of an outer `make test`: no inherited jobserver.
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .stdin(Stdio::null())
        .output()
        .expect("run make");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "make {target} failed:\n{all}");
    all
}

/// Every regular file (and symlink) under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// The unit as `make install` must have made it for `prefix`.
fn expected_unit(prefix: &str) -> String {
    String::from_utf8(source("conf/rstunnel.service.in"))
        .unwrap()
        .replace("@BINDIR@", &format!("{prefix}/bin"))
}

/// The value of `key = ` in the shipped configuration.
fn conf_value(key: &str) -> String {
    let conf = String::from_utf8(source("conf/rstunnel.conf")).unwrap();
    conf.lines()
        .map(|l| l.trim_start_matches(';'))
        .filter_map(|l| l.split_once('='))
        .find(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {key} in conf/rstunnel.conf"))
}

#[test]
fn install_places_every_file_and_uninstall_removes_them() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    make("install", d, "/usr");

    let expected = [
        "etc/fail2ban/filter.d/rstunnel.conf",
        "etc/logrotate.d/rstunnel",
        "etc/rstunnel/rstunnel.conf",
        "usr/bin/rstunnel",
        "usr/lib/systemd/system/rstunnel.service",
        "usr/share/doc/rstunnel/fail2ban-jail.conf",
        "usr/share/doc/rstunnel/systemd/notify.conf",
        "usr/share/doc/rstunnel/systemd/rstunnel.socket",
        "usr/share/man/man8/rstunnel.8",
    ];
    assert_eq!(files(d), expected);

    let check = |rel: &str, want: &[u8], want_mode: u32| {
        let path = d.join(rel);
        assert!(
            std::fs::read(&path).unwrap() == want,
            "{rel}: wrong content"
        );
        assert_eq!(mode(&path), want_mode, "{rel}: mode {:o}", mode(&path));
    };
    check("usr/bin/rstunnel", &std::fs::read(BIN).unwrap(), 0o755);
    check(
        "usr/share/man/man8/rstunnel.8",
        &source("doc/rstunnel.8"),
        0o644,
    );
    check(
        "etc/rstunnel/rstunnel.conf",
        &source("conf/rstunnel.conf"),
        0o644,
    );
    check(
        "etc/logrotate.d/rstunnel",
        &source("conf/rstunnel.logrotate"),
        0o644,
    );
    check(
        "etc/fail2ban/filter.d/rstunnel.conf",
        &source("conf/fail2ban/filter.d/rstunnel.conf"),
        0o644,
    );
    check(
        "usr/share/doc/rstunnel/fail2ban-jail.conf",
        &source("conf/fail2ban/jail.d/rstunnel.conf"),
        0o644,
    );
    let unit_path = d.join("usr/lib/systemd/system/rstunnel.service");
    check(
        "usr/lib/systemd/system/rstunnel.service",
        expected_unit("/usr").as_bytes(),
        0o644,
    );

    // The pieces agree with each other and with the configuration.
    let unit = text(&unit_path);
    assert!(!unit.contains('@'), "placeholder left in the unit");
    assert!(unit.contains("\nExecStart=/usr/bin/rstunnel /etc/rstunnel/rstunnel.conf\n"));
    assert!(unit.contains("\nType=forking\n"));
    let pid = conf_value("pid");
    assert_eq!(pid, "/run/rstunnel/rstunnel.pid");
    assert!(
        unit.contains(&format!("\nPIDFile={pid}\n")),
        "PIDFile is not {pid}"
    );
    assert!(unit.contains("\nRuntimeDirectory=rstunnel\n"));
    assert!(unit.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"));
    let rotate = text(&d.join("etc/logrotate.d/rstunnel"));
    assert!(rotate.contains(&conf_value("output")), "logrotate path");
    assert!(rotate.contains(&pid), "logrotate does not use the pid file");
    assert!(rotate.contains("kill -USR1"), "logrotate sends no SIGUSR1");

    // The installed binary runs.
    let out = Command::new(d.join("usr/bin/rstunnel"))
        .arg("-version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rstunnel"));

    systemd_checks(d, "/usr");

    make("uninstall", d, "/usr");
    assert_eq!(files(d), Vec::<String>::new(), "left behind");
    assert!(!d.join("etc/rstunnel").exists(), "etc/rstunnel left behind");
    assert!(
        !d.join("usr/share/doc/rstunnel").exists(),
        "doc dir left behind"
    );
}

#[test]
fn existing_configuration_is_kept_and_prefix_is_followed() {
    let dest = tempfile::tempdir().unwrap();
    let d = dest.path();
    let conf = d.join("etc/rstunnel/rstunnel.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    let mine = "; the administrator's own\n[https]\naccept = 443\nconnect = 8080\n";
    std::fs::write(&conf, mine).unwrap();

    let said = make("install", d, "/usr/local");
    assert!(said.contains("rstunnel.conf.dist"), "{said}");
    assert_eq!(text(&conf), mine, "existing configuration overwritten");
    assert!(
        std::fs::read(d.join("etc/rstunnel/rstunnel.conf.dist")).unwrap()
            == source("conf/rstunnel.conf")
    );
    let unit = text(&d.join("usr/local/lib/systemd/system/rstunnel.service"));
    assert_eq!(unit, expected_unit("/usr/local"));
    assert!(unit.contains("\nExecStart=/usr/local/bin/rstunnel /etc/rstunnel/rstunnel.conf\n"));
    assert!(d.join("usr/local/bin/rstunnel").is_file());
    assert!(d.join("usr/local/share/man/man8/rstunnel.8").is_file());

    // Installing again changes nothing of the administrator's.
    make("install", d, "/usr/local");
    assert_eq!(text(&conf), mine);

    make("uninstall", d, "/usr/local");
    assert_eq!(files(d), ["etc/rstunnel/rstunnel.conf"], "uninstall");
    assert_eq!(text(&conf), mine);
}

#[test]
fn install_refuses_without_a_built_binary() {
    let dest = tempfile::tempdir().unwrap();
    let out = Command::new("make")
        .arg("-C")
        .arg(ROOT)
        .arg("install")
        .arg(format!("DESTDIR={}", dest.path().display()))
        .arg(format!(
            "RSTUNNEL_BIN={}",
            dest.path().join("nothing").display()
        ))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("run 'make build' first"));
    assert_eq!(files(dest.path()), Vec::<String>::new());
}

fn have_systemd_analyze() -> bool {
    let ok = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        must_run::cannot_run(
            "systemd checks",
            "systemd-analyze is not installed (apt package systemd)",
        );
    }
    ok
}

/// `systemd-analyze verify` and `security --offline` on the installed unit.
/// verify checks that ExecStart's program exists and that
/// `Documentation=man:rstunnel(8)` opens, so it runs on a copy whose
/// program paths point into DESTDIR, with MANPATH at DESTDIR's man pages:
/// the only change from the installed file.
fn systemd_checks(dest: &Path, prefix: &str) {
    if !have_systemd_analyze() {
        return;
    }
    let installed = dest.join(format!(
        "{}/lib/systemd/system/rstunnel.service",
        &prefix[1..]
    ));
    let staged_bin = format!("{}{prefix}/bin/rstunnel", dest.display());
    let copy_dir = tempfile::tempdir().unwrap();
    let copy: PathBuf = copy_dir.path().join("rstunnel.service");
    let unit = text(&installed).replace(&format!("{prefix}/bin/rstunnel"), &staged_bin);
    std::fs::write(&copy, unit).unwrap();

    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .env("MANPATH", format!("{}{prefix}/share/man", dest.display()))
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && !said.contains("rstunnel.service"),
        "systemd-analyze verify:\n{said}"
    );

    // The notify drop-in and the socket unit, installed as examples, load
    // beside the unit without a complaint.
    let dropins = copy_dir.path().join("rstunnel.service.d");
    std::fs::create_dir(&dropins).unwrap();
    let docs = dest.join(format!("{}/share/doc/rstunnel/systemd", &prefix[1..]));
    std::fs::copy(docs.join("notify.conf"), dropins.join("notify.conf")).unwrap();
    std::fs::copy(
        docs.join("rstunnel.socket"),
        copy_dir.path().join("rstunnel.socket"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(copy_dir.path().join("rstunnel.socket"))
        .arg(&copy)
        .env(
            "SYSTEMD_UNIT_PATH",
            format!("{}:", copy_dir.path().display()),
        )
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && !said.contains("notify.conf") && !said.contains("rstunnel.socket"),
        "systemd-analyze verify with the drop-in and the socket:\n{said}"
    );

    // The hardening is in force: systemd rates the exposure (0 best, 10
    // worst) at most "OK" (< 5.0 here; an unhardened root service is 9.6).
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&copy)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for rstunnel.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(level < 5.0, "exposure {level}:\n{report}");
}
