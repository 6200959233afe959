//! Global `setgid`/`setuid` (stunnel-reference §3.2, §5.1 step 4): switch
//! the process identity after binding and chroot.
//!
//! Like stunnel's `drop_privileges`: setgid, then setgroups to that single
//! group, then setuid; a failing call stops start-up with its `sockerror`
//! text (`setgid: Operation not permitted (1)`). An id of 0 is "not set" in
//! stunnel (`if(service_options.uid)`), so `setuid = root` changes nothing.
//! What we add: the result is verified, so the process never goes on
//! half-dropped. Names were looked up when the configuration was read (as
//! stunnel does): after `chroot` `/etc/passwd` may be gone.

use nix::unistd::{self, Gid, Uid};

/// Drop to `group` then `user`. Must run while the process is
/// single-threaded (set*id only changes the calling thread's credentials
/// at the syscall level; glibc broadcasts, but only to threads it knows).
pub fn drop_privileges(user: Option<Uid>, group: Option<Gid>) -> Result<(), String> {
    let uid = user.filter(|u| !u.is_root());
    let gid = group.filter(|g| g.as_raw() != 0);

    if let Some(gid) = gid {
        unistd::setgid(gid).map_err(|e| super::errno::labelled("setgid", e))?;
        unistd::setgroups(&[gid]).map_err(|e| super::errno::labelled("setgroups", e))?;
        if unistd::getgid() != gid || unistd::getegid() != gid {
            return Err(format!("setgid: group is still {}", unistd::getegid()));
        }
    }
    if let Some(uid) = uid {
        unistd::setuid(uid).map_err(|e| super::errno::labelled("setuid", e))?;
        if unistd::getuid() != uid || unistd::geteuid() != uid {
            return Err(format!("setuid: user is still {}", unistd::geteuid()));
        }
        // Coming from root, regaining it must now be impossible.
        if unistd::setuid(Uid::from_raw(0)).is_ok() {
            return Err("setuid: root privileges could be regained".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::unistd::{Group, User};

    #[test]
    fn id_zero_and_none_are_no_ops() {
        let (uid, gid) = (unistd::geteuid(), unistd::getegid());
        drop_privileges(None, None).unwrap();
        drop_privileges(Some(Uid::from_raw(0)), Some(Gid::from_raw(0))).unwrap();
        assert_eq!((unistd::geteuid(), unistd::getegid()), (uid, gid));
    }

    /// The real drop changes the whole process, so it runs in a child copy
    /// of this test binary (only when we are root and `nobody` exists).
    #[test]
    fn drops_to_nobody_in_a_child_process() {
        const CHILD: &str = "RSTUNNEL_PRIVILEGES_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let nobody = User::from_name("nobody").unwrap().unwrap().uid;
            let nogroup = Group::from_name("nogroup").unwrap().unwrap().gid;
            drop_privileges(Some(nobody), Some(nogroup)).unwrap();
            assert_eq!((unistd::getuid(), unistd::geteuid()), (nobody, nobody));
            assert_eq!(unistd::getgroups().unwrap(), vec![nogroup]);
            assert!(unistd::setuid(Uid::from_raw(0)).is_err());
            return;
        }
        if !unistd::geteuid().is_root()
            || User::from_name("nobody").ok().flatten().is_none()
            || Group::from_name("nogroup").ok().flatten().is_none()
        {
            eprintln!("skipped: needs root and nobody/nogroup");
            return;
        }
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "os::privileges::tests::drops_to_nobody_in_a_child_process",
                "--test-threads=1",
            ])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "child: {stdout}");
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {stdout}"
        );
    }
}
