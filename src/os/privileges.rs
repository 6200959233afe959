//! Global `setgid`/`setuid` (stunnel-reference §3.2, §5.1 step 4): switch
//! the process identity after binding and chroot.
//!
//! Like stunnel's `drop_privileges`: setgid, then setgroups to that single
//! group, then setuid; a failing call stops start-up with its `sockerror`
//! text (`setgid: Operation not permitted (1)`). An id of 0 is "not set" in
//! stunnel (`if(service_options.uid)`), so `setuid = root` changes nothing.
//! What we add: names are resolved before anything changes, and the result
//! is verified, so the process never goes on half-dropped.

use nix::unistd::{self, Gid, Group, Uid, User};

use crate::config::model::{GroupId, UserId};

/// Resolve a user the way stunnel's `setuid =` does (name, else number).
pub fn resolve_user(user: &UserId) -> Result<Uid, String> {
    match user {
        UserId::Id(id) => Ok(Uid::from_raw(*id)),
        UserId::Name(name) => match User::from_name(name) {
            Ok(Some(u)) => Ok(u.uid),
            _ => Err("Illegal UID".into()),
        },
    }
}

/// Resolve a group the way stunnel's `setgid =` does (name, else number).
pub fn resolve_group(group: &GroupId) -> Result<Gid, String> {
    match group {
        GroupId::Id(id) => Ok(Gid::from_raw(*id)),
        GroupId::Name(name) => match Group::from_name(name) {
            Ok(Some(g)) => Ok(g.gid),
            _ => Err("Illegal GID".into()),
        },
    }
}

/// Drop to `group` then `user`. Must run while the process is
/// single-threaded (set*id only changes the calling thread's credentials
/// at the syscall level; glibc broadcasts, but only to threads it knows).
pub fn drop_privileges(user: Option<&UserId>, group: Option<&GroupId>) -> Result<(), String> {
    // Resolve both first: a failed lookup must not leave a half-switched process.
    let uid = user.map(resolve_user).transpose()?.filter(|u| !u.is_root());
    let gid = group
        .map(resolve_group)
        .transpose()?
        .filter(|g| g.as_raw() != 0);

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

    #[test]
    fn names_and_numbers_resolve() {
        assert_eq!(
            resolve_user(&UserId::Name("root".into())),
            Ok(Uid::from_raw(0))
        );
        assert_eq!(resolve_user(&UserId::Id(4242)), Ok(Uid::from_raw(4242)));
        assert_eq!(
            resolve_group(&GroupId::Name("root".into())),
            Ok(Gid::from_raw(0))
        );
        assert_eq!(
            resolve_user(&UserId::Name("no-such-user-rstunnel".into())),
            Err("Illegal UID".to_string())
        );
        assert_eq!(
            resolve_group(&GroupId::Name("no-such-group-rstunnel".into())),
            Err("Illegal GID".to_string())
        );
    }

    #[test]
    fn unknown_name_fails_before_anything_changes() {
        let (uid, gid) = (unistd::geteuid(), unistd::getegid());
        let err = drop_privileges(
            Some(&UserId::Name("no-such-user-rstunnel".into())),
            Some(&GroupId::Id(4242)),
        )
        .unwrap_err();
        assert_eq!(err, "Illegal UID");
        assert_eq!((unistd::geteuid(), unistd::getegid()), (uid, gid));
    }

    #[test]
    fn id_zero_and_none_are_no_ops() {
        let (uid, gid) = (unistd::geteuid(), unistd::getegid());
        drop_privileges(None, None).unwrap();
        drop_privileges(Some(&UserId::Id(0)), Some(&GroupId::Name("root".into()))).unwrap();
        assert_eq!((unistd::geteuid(), unistd::getegid()), (uid, gid));
    }

    /// The real drop changes the whole process, so it runs in a child copy
    /// of this test binary (only when we are root and `nobody` exists).
    #[test]
    fn drops_to_nobody_in_a_child_process() {
        const CHILD: &str = "RSTUNNEL_PRIVILEGES_CHILD";
        if std::env::var_os(CHILD).is_some() {
            drop_privileges(
                Some(&UserId::Name("nobody".into())),
                Some(&GroupId::Name("nogroup".into())),
            )
            .unwrap();
            let nobody = User::from_name("nobody").unwrap().unwrap().uid;
            assert_eq!((unistd::getuid(), unistd::geteuid()), (nobody, nobody));
            let nogroup = Group::from_name("nogroup").unwrap().unwrap().gid;
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
