//! The Debian package (debian/, issue 16), built and installed for real.
//! Slow (two release builds), so `#[ignore]`d in `make test`; `make
//! package-test` makes vendor/ (`cargo vendor`, with network) and runs it:
//!
//! - debian/copyright is what scripts/deb-copyright makes from `cargo
//!   metadata`, with one stanza per vendored crate;
//! - `dpkg-buildpackage -us -uc -b` succeeds in a network namespace with no
//!   network (`unshare -n`), twice, from copies of the tree at two different
//!   paths, at different times, with a different TZ and umask: the .deb files
//!   are byte-identical;
//! - lintian (pedantic) reports no error and no warning; an override in
//!   debian/ must carry a `#` reason line above it;
//! - `dpkg-deb -I` shows the dependency on libssl3, the package holds no
//!   OpenSSL library and the binary imports OpenSSL's symbols from
//!   libssl.so.3 / libcrypto.so.3;
//! - `dpkg -i` installs it on this machine: `rstunnel -version` runs, the
//!   user rstunnel exists, /etc/rstunnel/rstunnel.conf is a conffile, both
//!   units pass `systemd-analyze verify`, the unit's ExecCondition skips the
//!   shipped (sectionless) configuration and passes a configured one, and a
//!   configuration from ../shared/conf-examples passes `rstunnel -test`;
//! - `dpkg --purge` leaves no file behind (file lists of /etc, /usr and
//!   /var/lib before and after).
//!
//! Whatever happens, the package is purged at the end (and the user removed
//! if the test created it).

use crate::common::must_run;

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const TEST: &str = "packaging_deb";
/// One package build may take this long (about 2.5 minutes on 2 cores).
const BUILD_LIMIT: &str = "1500";

fn root() -> &'static Path {
    Path::new(ROOT)
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd` (bounded by `timeout`), panics unless it succeeds.
fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", show(&out));
    out
}

fn bounded(secs: &str, program: &str) -> Command {
    let mut c = Command::new("timeout");
    c.args(["--kill-after=10", secs, program]);
    c
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The tools this test drives; false (after must_run::cannot_run) if one is missing.
fn tools_present() -> bool {
    let tools = [
        ("dpkg-buildpackage", "dpkg-dev"),
        ("dh", "debhelper"),
        ("lintian", "lintian"),
        ("dpkg-deb", "dpkg"),
        ("unshare", "util-linux"),
        ("systemd-analyze", "systemd"),
        ("readelf", "binutils"),
        ("timeout", "coreutils"),
        ("git", "git"),
        ("ip", "iproute2"),
        ("/usr/bin/cargo", "cargo-web"),
        ("/usr/bin/rustc", "rustc-web"),
    ];
    for (tool, pkg) in tools {
        if !have(tool) {
            must_run::cannot_run(
                TEST,
                &format!("{tool} is not installed (apt package {pkg})"),
            );
            return false;
        }
    }
    if unsafe { libc::geteuid() } != 0 {
        must_run::cannot_run(TEST, "dpkg -i and unshare -n need root");
        return false;
    }
    true
}

/// Every path (files, symlinks and directories) under `dirs`, not following
/// symlinks.
fn tree(dirs: &[&str]) -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut BTreeSet<String>, budget: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            *budget = budget
                .checked_sub(1)
                .expect("more than 5 million paths: not a Debian system tree?");
            let path = entry.path();
            out.insert(path.display().to_string());
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&path, out, budget);
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut budget = 5_000_000;
    for d in dirs {
        walk(Path::new(d), &mut out, &mut budget);
    }
    out
}

/// The files of the source package: git's tracked and untracked-not-ignored
/// files, plus vendor/ (ignored, made by `make vendor`).
fn source_files() -> Vec<PathBuf> {
    let out = run(
        Command::new("git").arg("-C").arg(ROOT).args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ]),
        "git ls-files",
    );
    let mut files: BTreeSet<PathBuf> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(String::from_utf8_lossy(s).into_owned()))
        .filter(|p| root().join(p).symlink_metadata().is_ok()) // deleted, not committed
        .collect();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(base, &path, out);
            } else {
                out.insert(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    walk(root(), &root().join("vendor"), &mut files);
    files.into_iter().collect()
}

fn copy_tree(files: &[PathBuf], dest: &Path) {
    for rel in files {
        let from = root().join(rel);
        let to = dest.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let meta = from.symlink_metadata().unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from).unwrap(), &to).unwrap();
        } else {
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        }
    }
}

/// `dpkg-buildpackage -us -uc -b` in `src` with the network cut off;
/// returns the directory holding the results (src's parent).
fn build(src: &Path, tz: &str, umask: &str) -> PathBuf {
    let started = Instant::now();
    let script = format!(
        "umask {umask} && cd '{}' && exec timeout --kill-after=10 {BUILD_LIMIT} dpkg-buildpackage -us -uc -b",
        src.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .env("TZ", tz)
        // Not a sub-make of `make package-test`; and no cargo settings of
        // the caller (debian/rules sets its own).
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("DEB_BUILD_OPTIONS")
        .stdin(Stdio::null())
        .output()
        .expect("run dpkg-buildpackage");
    assert!(
        out.status.success(),
        "offline dpkg-buildpackage in {} failed: {}",
        src.display(),
        show(&out)
    );
    eprintln!("built in {} in {:?}", src.display(), started.elapsed());
    src.parent().unwrap().to_path_buf()
}

fn deb_name(package: &str) -> String {
    format!("{package}_{VERSION}_amd64.deb")
}

/// Purges the package (and removes the user the test made) when dropped,
/// so a failing assertion never leaves it installed.
struct Installed {
    user_existed: bool,
}

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg")
            .args(["--purge", "rstunnel"])
            .stdin(Stdio::null())
            .output();
        let _ = std::fs::remove_file("/etc/rstunnel/example.conf");
        let _ = std::fs::remove_dir("/etc/rstunnel");
        if !self.user_existed {
            let _ = Command::new("userdel").arg("rstunnel").output();
            let _ = Command::new("groupdel").arg("rstunnel").output();
        }
    }
}

fn user_exists(name: &str) -> bool {
    Command::new("getent")
        .args(["passwd", name])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn conf_example() -> Option<PathBuf> {
    [
        root().join("../shared/conf-examples"),
        PathBuf::from("/work/shared/conf-examples"),
    ]
    .into_iter()
    .map(|d| d.join("smtps-wrapper.conf"))
    .find(|p| p.is_file())
}

#[test]
#[ignore = "slow (two package builds): run by `make package-test`"]
fn debian_package_builds_offline_reproducibly_installs_and_purges_cleanly() {
    if !tools_present() {
        return;
    }
    let vendor = root().join("vendor");
    let vendored = std::fs::read_dir(&vendor).map(|d| d.count()).unwrap_or(0);
    assert!(
        vendored > 0,
        "vendor/ missing: run `make vendor` (cargo vendor --locked --versioned-dirs vendor) first"
    );
    let Some(example) = conf_example() else {
        must_run::cannot_run(TEST, "../shared/conf-examples/smtps-wrapper.conf not found");
        return;
    };
    let installed_already = Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", "rstunnel"])
        .output()
        .map(|o| !o.stdout.is_empty() && o.stdout != b"not-installed")
        .unwrap_or(false);
    assert!(
        !installed_already,
        "a package rstunnel is already installed here: this test installs and purges its own, \
         purge that one first (dpkg --purge rstunnel)"
    );

    // debian/copyright is the generator's output, one stanza per crate.
    let generated = run(
        &mut Command::new(root().join("scripts/deb-copyright")),
        "scripts/deb-copyright",
    );
    let committed = std::fs::read_to_string(root().join("debian/copyright")).unwrap();
    assert!(
        stdout(&generated) == committed,
        "debian/copyright is stale: scripts/deb-copyright > debian/copyright"
    );
    let stanzas: BTreeSet<String> = committed
        .lines()
        .filter_map(|l| l.strip_prefix("Files: vendor/"))
        // The crate's directory (openssl-src has a second stanza for the
        // OpenSSL tree inside it).
        .filter_map(|l| l.split('/').next().map(str::to_string))
        .collect();
    let crates: BTreeSet<String> = std::fs::read_dir(&vendor)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(stanzas, crates, "debian/copyright vs vendor/");
    for name in ["GPL-2+", "Expat", "Apache-2.0"] {
        assert!(
            committed.contains(&format!("\nLicense: {name}\n")),
            "no License: {name} paragraph"
        );
    }

    // debian/changelog and Cargo.toml agree on the version.
    let changelog = std::fs::read_to_string(root().join("debian/changelog")).unwrap();
    assert!(
        changelog.starts_with(&format!("rstunnel ({VERSION}) ")),
        "debian/changelog's first entry is not version {VERSION}"
    );

    // unshare -n really leaves only the loopback interface.
    let links = stdout(&run(
        Command::new("unshare").args(["-n", "ip", "-o", "link"]),
        "unshare -n ip link",
    ));
    assert_eq!(
        links.lines().count(),
        1,
        "unshare -n has more than lo:\n{links}"
    );
    assert!(links.contains(": lo:"), "{links}");

    // Two builds from two copies at different paths and times.
    let files = source_files();
    let work = tempfile::Builder::new()
        .prefix("rstunnel-deb-")
        .tempdir()
        .unwrap();
    let src_a = work.path().join("a").join(format!("rstunnel-{VERSION}"));
    let src_b = work
        .path()
        .join("elsewhere/a/much/longer/path")
        .join("rstunnel");
    copy_tree(&files, &src_a);
    copy_tree(&files, &src_b);
    let out_a = build(&src_a, "UTC", "022");
    let out_b = build(&src_b, "Pacific/Kiritimati", "002");
    for package in ["rstunnel", "rstunnel-dbgsym"] {
        let a = std::fs::read(out_a.join(deb_name(package))).unwrap();
        let b = std::fs::read(out_b.join(deb_name(package))).unwrap();
        let sums = |p: &Path| {
            stdout(&run(
                Command::new("sha256sum").arg(p.join(deb_name(package))),
                "sha256sum",
            ))
        };
        assert!(
            a == b,
            "{package}: the two builds differ (diffoscope shows where):\n{}{}",
            sums(&out_a),
            sums(&out_b)
        );
    }
    let deb = out_a.join(deb_name("rstunnel"));

    // lintian: no error, no warning; overrides carry a reason.
    let lint = Command::new("timeout")
        .args([
            "300",
            "lintian",
            "--pedantic",
            "--display-info",
            "--fail-on",
            "error,warning",
        ])
        .arg(out_a.join(format!("rstunnel_{VERSION}_amd64.changes")))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = stdout(&lint);
    let bad: Vec<&str> = said
        .lines()
        .filter(|l| l.starts_with("E: ") || l.starts_with("W: "))
        .collect();
    assert!(
        lint.status.success() && bad.is_empty(),
        "lintian: {}",
        show(&lint)
    );
    for entry in std::fs::read_dir(root().join("debian")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with("lintian-overrides") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).unwrap();
        let mut reason = false;
        for line in text.lines() {
            if line.starts_with('#') {
                reason = true;
            } else if !line.trim().is_empty() {
                assert!(
                    reason,
                    "debian/{name}: override without a # reason above it: {line}"
                );
                reason = false;
            }
        }
    }

    // The system libssl, no bundled OpenSSL.
    let info = stdout(&run(
        Command::new("dpkg-deb").arg("-I").arg(&deb),
        "dpkg-deb -I",
    ));
    let depends = info
        .lines()
        .find_map(|l| l.strip_prefix(" Depends: "))
        .unwrap_or_else(|| panic!("no Depends:\n{info}"));
    assert!(
        depends.split(", ").any(|d| d.starts_with("libssl3 ")),
        "Depends: {depends}"
    );
    let contents = stdout(&run(
        Command::new("dpkg-deb").arg("-c").arg(&deb),
        "dpkg-deb -c",
    ));
    for lib in ["libssl", "libcrypto", "openssl"] {
        assert!(
            !contents.contains(lib),
            "the package ships {lib}:\n{contents}"
        );
    }
    let unpacked = work.path().join("unpacked");
    run(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked),
        "dpkg-deb -x",
    );
    let bin = unpacked.join("usr/bin/rstunnel");
    let dynamic = stdout(&run(
        Command::new("readelf").arg("-d").arg(&bin),
        "readelf -d",
    ));
    for needed in ["[libssl.so.3]", "[libcrypto.so.3]"] {
        assert!(
            dynamic.contains(needed),
            "rstunnel does not link {needed}:\n{dynamic}"
        );
    }
    let symbols = stdout(&run(
        Command::new("readelf").args(["-W", "--dyn-syms"]).arg(&bin),
        "readelf --dyn-syms",
    ));
    for sym in [
        "SSL_CTX_new",
        "SSL_do_handshake",
        "EVP_sha256",
        "OpenSSL_version",
    ] {
        let line = symbols
            .lines()
            .find(|l| {
                l.split_whitespace()
                    .nth(7)
                    .map(|n| n.split('@').next() == Some(sym))
                    .unwrap_or(false)
            })
            .unwrap_or_else(|| panic!("{sym} not among rstunnel's dynamic symbols"));
        assert!(
            line.contains(" UND "),
            "{sym} is defined inside rstunnel (bundled OpenSSL?): {line}"
        );
    }

    // Install on this machine; purged whatever happens next.
    let watched = ["/etc", "/usr", "/var/lib"];
    let before = tree(&watched);
    let _guard = Installed {
        user_existed: user_exists("rstunnel"),
    };
    run(
        Command::new("timeout")
            .args(["300", "dpkg", "-i"])
            .arg(&deb),
        "dpkg -i",
    );

    let version = Command::new("/usr/bin/rstunnel")
        .arg("-version")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&version.stderr).into_owned();
    assert!(
        version.status.success() && said.contains(&format!("rstunnel {VERSION}")),
        "rstunnel -version: {}",
        show(&version)
    );
    assert!(
        user_exists("rstunnel"),
        "the system user rstunnel was not created"
    );
    let conffiles = stdout(&run(
        Command::new("dpkg-query").args(["-W", "-f=${Conffiles}\n", "rstunnel"]),
        "dpkg-query Conffiles",
    ));
    assert!(
        conffiles.contains("/etc/rstunnel/rstunnel.conf "),
        "not a conffile: {conffiles}"
    );
    for f in [
        "/usr/share/man/man8/rstunnel.8.gz",
        "/etc/logrotate.d/rstunnel",
        "/etc/fail2ban/filter.d/rstunnel.conf",
        "/usr/share/doc/rstunnel/copyright",
        "/usr/share/doc/rstunnel/changelog.gz",
        "/usr/share/doc/rstunnel/examples/rstunnel.conf",
        "/usr/share/doc/rstunnel/examples/systemd/notify.conf",
        "/usr/share/doc/rstunnel/examples/systemd/rstunnel.socket",
        "/lib/systemd/system/rstunnel.service",
        "/lib/systemd/system/rstunnel@.service",
        "/usr/lib/sysusers.d/rstunnel.conf",
    ] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    let mode = std::fs::metadata("/usr/bin/rstunnel")
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(mode, 0o755);

    // The units verify; the template as an instance.
    let units = tempfile::tempdir().unwrap();
    let instance = units.path().join("rstunnel@example.service");
    std::fs::copy("/lib/systemd/system/rstunnel@.service", &instance).unwrap();
    for unit in [
        PathBuf::from("/lib/systemd/system/rstunnel.service"),
        instance,
    ] {
        let out = bounded("120", "systemd-analyze")
            .arg("verify")
            .arg(&unit)
            .env("SYSTEMD_LOG_LEVEL", "warning")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success() && !said.contains("rstunnel"),
            "systemd-analyze verify {}: {}",
            unit.display(),
            show(&out)
        );
    }

    // A configuration of the shared examples, copied to /etc/rstunnel/, passes -test.
    std::fs::copy(&example, "/etc/rstunnel/example.conf").unwrap();
    let test = Command::new("/usr/bin/rstunnel")
        .args(["-test", "/etc/rstunnel/example.conf"])
        .output()
        .unwrap();
    assert!(
        test.status.success()
            && String::from_utf8_lossy(&test.stderr).contains("Configuration successful"),
        "rstunnel -test {}: {}",
        example.display(),
        show(&test)
    );

    // rstunnel.service's ExecCondition: the shipped configuration (no
    // service yet) is skipped, a configured one starts.
    let unit = std::fs::read_to_string("/lib/systemd/system/rstunnel.service").unwrap();
    let condition = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecCondition="))
        .expect("rstunnel.service has no ExecCondition");
    let condition_on = |conf: &str| {
        Command::new("sh")
            .args([
                "-c",
                &condition.replace("/etc/rstunnel/rstunnel.conf", conf),
            ])
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(
        condition_on("/etc/rstunnel/rstunnel.conf"),
        Some(1),
        "shipped configuration not skipped"
    );
    assert_eq!(
        condition_on("/etc/rstunnel/example.conf"),
        Some(0),
        "configured file skipped"
    );
    let shipped = Command::new("/usr/bin/rstunnel")
        .args(["-test", "/etc/rstunnel/rstunnel.conf"])
        .output()
        .unwrap();
    assert!(
        !shipped.status.success(),
        "the shipped configuration has no service: -test should say so"
    );
    std::fs::remove_file("/etc/rstunnel/example.conf").unwrap();

    // Purge: nothing left.
    run(
        Command::new("timeout").args(["300", "dpkg", "--purge", "rstunnel"]),
        "dpkg --purge",
    );
    let after = tree(&watched);
    let left: Vec<&String> = after.difference(&before).collect();
    assert!(left.is_empty(), "left behind after dpkg --purge: {left:#?}");
    let gone: Vec<&String> = before.difference(&after).collect();
    assert!(
        gone.is_empty(),
        "removed by install + purge although there before: {gone:#?}"
    );
}
