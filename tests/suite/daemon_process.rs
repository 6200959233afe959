//! rstunnel as a Unix daemon (issue 5 "Must show"): daemonizing with a pid
//! file, dropping to nobody/nogroup, a chroot jail, the configuration read
//! from a descriptor, and inetd mode under socat. Real processes, checked
//! through /proc and a TLS round trip through each of them. Tests run as
//! root; the privilege tests say so and skip otherwise.

use crate::common;
use crate::common::procs;

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::net::tagged_echo;
use common::tls_client::{echo, tls_connect};
use common::tls_pki::make_pki;
use common::{p, Impl};
use procs::{Daemonized, LogFile, Proc};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Numeric id of a user/group from the system databases.
fn uid_of(name: &str) -> Option<u32> {
    nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw())
}

fn gid_of(name: &str) -> Option<u32> {
    nix::unistd::Group::from_name(name)
        .ok()
        .flatten()
        .map(|g| g.gid.as_raw())
}

/// `foreground = no` + `pid`: the parent exits 0, the pid file holds the
/// daemon's pid (a new session leader that is not our child), it serves,
/// and SIGTERM ends it with `Terminated` and removes the pid file.
#[test]
fn daemonized_start_writes_pid_file_and_removes_it_at_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = tagged_echo(b"B:");
    let d = Daemonized::start(
        dir.path(),
        &format!(
            "[d]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&pki.combined)
        ),
    );
    let (log, pid_path, conf) = (&d.log, &d.pid_file, &d.conf);
    log.wait_for("LOG6[main]: Accepting new connections");
    let text = std::fs::read_to_string(pid_path).expect("pid file");
    assert!(text.ends_with('\n'), "pid file {text:?}");
    let pid: i32 = text.trim().parse().expect("a pid");
    let mut daemon = Proc::adopted(pid);
    assert_eq!(common::pids_with_arg(&p(conf)), vec![pid]);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    assert_eq!(
        procs::stat_field(&stat, 6).as_deref(),
        Some(pid.to_string().as_str()),
        "setsid(): the daemon leads its own session"
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(),
        std::path::Path::new("/"),
        "daemon() changes to /"
    );
    // Standard descriptors on /dev/null.
    for fd in 0..=2 {
        let target = std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(target, std::path::Path::new("/dev/null"), "fd {fd}");
    }

    let mut s = tls_connect(log.port("d"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"B:");
    assert_eq!(echo(&mut s, b"daemon"), b"daemon");
    common::tls_client::close(s);
    log.wait_for("LOG5[0]: Connection closed: 8 byte(s) sent to TLS, 6 byte(s) sent to socket");

    daemon.signal(libc::SIGTERM);
    daemon.wait_gone();
    log.wait_for("LOG5[main]: Terminated");
    assert!(!pid_path.exists(), "pid file left behind");
}

/// `setuid = nobody` / `setgid = nogroup`: every uid/gid of the process is
/// nobody's, the supplementary groups are just nogroup, and it still
/// serves (the certificate was read while still root).
#[test]
fn setuid_setgid_leave_the_process_as_nobody_and_serving() {
    let (Some(uid), Some(gid)) = (uid_of("nobody"), gid_of("nogroup")) else {
        common::must_run::cannot_run("setuid_setgid", "no nobody/nogroup on this system");
        return;
    };
    if !is_root() {
        common::must_run::cannot_run("setuid_setgid", "needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = tagged_echo(b"U:");
    // The output file is opened after the privilege drop (stunnel's
    // order), so it lives in a directory nobody may write.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    nix::unistd::chown(&logs, Some(uid.into()), Some(gid.into())).unwrap();
    let log = LogFile(logs.join("r.log"));
    let conf = dir.path().join("u.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\nsetuid = nobody\nsetgid = nogroup\noutput = {}\n\
             debug = info\nsyslog = no\n\
             [u]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&log.0),
            p(&pki.combined)
        ),
    )
    .unwrap();
    let daemon = procs::spawn(Impl::Rstunnel, &conf, dir.path(), false);
    log.wait_for("Accepting new connections");
    let ids = |n: u32| format!("{n} {n} {n} {n}");
    assert_eq!(daemon.status_field("Uid"), ids(uid));
    assert_eq!(daemon.status_field("Gid"), ids(gid));
    assert_eq!(daemon.status_field("Groups"), gid.to_string());
    let meta = std::fs::metadata(&log.0).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        uid,
        "log opened as nobody"
    );

    let mut s = tls_connect(log.port("u"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"U:");
    assert_eq!(echo(&mut s, b"as nobody"), b"as nobody");
    common::tls_client::close(s);
    log.wait_for("Connection closed: 11 byte(s) sent to TLS, 9 byte(s) sent to socket");
}

/// `chroot = DIR` with a prepared (empty) root: /proc/PID/root points
/// there, `output = /rstunnel.log` is opened inside the jail, and
/// connections by address still work.
#[test]
fn chroot_jails_the_process_and_opens_the_log_inside() {
    if !is_root() {
        common::must_run::cannot_run("chroot", "needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let jail = dir.path().join("jail");
    std::fs::create_dir(&jail).unwrap();
    let jail = std::fs::canonicalize(&jail).unwrap();
    let backend = tagged_echo(b"C:");
    let conf = dir.path().join("c.conf");
    std::fs::write(
        &conf,
        format!(
            "foreground = yes\nchroot = {}\noutput = /rstunnel.log\ndebug = info\n\
             syslog = no\n\
             [c]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&jail),
            p(&pki.combined)
        ),
    )
    .unwrap();
    let daemon = procs::spawn(Impl::Rstunnel, &conf, dir.path(), false);
    let log = LogFile(jail.join("rstunnel.log"));
    log.wait_for(&format!(
        "LOG5[ui]: Switched to chroot directory: {}",
        p(&jail)
    ));
    log.wait_for("Accepting new connections");
    assert_eq!(
        std::fs::read_link(format!("/proc/{}/root", daemon.pid)).unwrap(),
        jail
    );
    assert!(
        !dir.path().join("rstunnel.log").exists()
            && !std::path::Path::new("/rstunnel.log").exists(),
        "the output path must resolve inside the jail"
    );
    let mut s = tls_connect(log.port("c"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"C:");
    assert_eq!(echo(&mut s, b"jailed"), b"jailed");
    common::tls_client::close(s);
    log.wait_for("Connection closed: 8 byte(s) sent to TLS, 6 byte(s) sent to socket");
}

/// `-fd N`: the configuration comes from an inherited descriptor (a pipe on
/// fd 7 here), logged as `Reading configuration from descriptor 7`.
#[test]
fn fd_option_reads_the_configuration_from_a_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = tagged_echo(b"F:");
    let log = LogFile(dir.path().join("fd.log"));
    let conf = format!(
        "foreground = yes\noutput = {}\ndebug = info\nsyslog = no\n\
         [fd]\naccept = 127.0.0.1:0\nconnect = 127.0.0.1:{backend}\ncert = {}\n",
        p(&log.0),
        p(&pki.combined)
    );
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let mut writer = std::fs::File::from(write_end);
    writer.write_all(conf.as_bytes()).unwrap();
    drop(writer);
    let raw = read_end.as_raw_fd();
    let mut cmd = Command::new(Impl::Rstunnel.program());
    cmd.args(["-fd", "7"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only dup2(2) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 7) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _daemon = Proc::from_child(cmd.spawn().unwrap());
    drop(read_end);
    log.wait_for("LOG5[ui]: Reading configuration from descriptor 7");
    let mut s = tls_connect(log.port("fd"));
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"F:");
    assert_eq!(echo(&mut s, b"from fd"), b"from fd");
    common::tls_client::close(s);
    log.wait_for("Connection closed: 9 byte(s) sent to TLS, 7 byte(s) sent to socket");
}

/// inetd mode: socat accepts and runs `rstunnel CONF` per connection; a
/// sectionless configuration with `connect` carries the data over TLS.
/// With socat's default EXEC the child gets a socketpair (stunnel logs the
/// peer as `unnamed socket`); with `nofork` it gets the TCP socket itself
/// and the client's address is logged.
fn inetd_under_socat(exec_options: &str, peer: &str) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let backend = tagged_echo(b"I:");
    let log = LogFile(dir.path().join("inetd.log"));
    let conf = dir.path().join("inetd.conf");
    std::fs::write(
        &conf,
        format!(
            "output = {}\ndebug = notice\nsyslog = no\nservice = inetd-test\n\
             connect = 127.0.0.1:{backend}\ncert = {}\n",
            p(&log.0),
            p(&pki.combined)
        ),
    )
    .unwrap();
    let mut socat = Command::new("socat")
        .args(["-d", "-d"])
        .arg("TCP-LISTEN:0,bind=127.0.0.1,reuseaddr")
        .arg(format!(
            "EXEC:{} {}{exec_options}",
            Impl::Rstunnel.program(),
            p(&conf)
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("socat");
    let stderr = socat.stderr.take().unwrap();
    let _socat = Proc::from_child(socat);
    // socat -d -d: `... N listening on AF=2 127.0.0.1:PORT`
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.split("listening on AF=2 ").nth(1) {
                let _ = tx.send(addr.rsplit(':').next().unwrap_or("").trim().to_string());
            }
        }
    });
    let port: u16 = rx
        .recv_timeout(common::PATIENCE)
        .expect("socat listening line")
        .parse()
        .unwrap();
    let mut s = tls_connect(port);
    let client_port = s.get_ref().local_addr().unwrap().port();
    assert_eq!(common::tls_client::read_n(&mut s, 2), b"I:");
    assert_eq!(echo(&mut s, b"inetd"), b"inetd");
    common::tls_client::close(s);
    let peer = peer.replace("PORT", &client_port.to_string());
    log.wait_for(&format!(
        "LOG5[0]: Service [inetd-test] accepted connection from {peer}"
    ));
    log.wait_for("LOG5[0]: Connection closed: 7 byte(s) sent to TLS, 5 byte(s) sent to socket");
}

#[test]
fn inetd_mode_under_socat_carries_data_over_tls() {
    inetd_under_socat("", "unnamed socket");
}

#[test]
fn inetd_mode_on_the_accepted_socket_logs_the_client_address() {
    inetd_under_socat(",nofork", "127.0.0.1:PORT");
}
