//! Session-ticket keys of a server service: stunnel's one static key
//! (`ticketKeySecret`/`ticketMacSecret`), or a `ticketKeyFile` (rstunnel
//! extension) of several keys, newest first, shared by every node of a fleet
//! and rotated by rewriting the file.
//!
//! With a file the newest key encrypts and every key decrypts; a ticket
//! under an older key is accepted and renewed (OpenSSL then issues a ticket
//! under the newest key), a ticket whose key left the file is ignored (full
//! handshake). The file is followed without a restart: a watcher thread
//! reads it every [`PERIOD`] and swaps the keys in when it parses; a file
//! that does not parse keeps the running keys and is logged once per
//! change. Live connections are unaffected (a handshake looks the key up
//! when it needs one). SIGHUP and `certReload` read the file again too, as
//! they rebuild the contexts.
//!
//! The watcher thread starts at the first ticket handshake of a process,
//! not when the contexts are built: contexts are built before the daemon
//! forks, and a thread would not survive the fork (nor should a thread
//! exist then: style.md habit 13). It ends when no context uses a key file.
//! It is a plain thread, never an async worker: it reads files.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};
use std::time::Duration;

use crate::config::ticket_key_file::{self as file, TicketKey};
use crate::log::{DEBUG, ERR, NOTICE};

use super::errors::TlsError;
use super::ffi::TicketChoice;

/// How often a key file is read for changes.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The ticket keys of one server context (`Debug` masks the secrets).
#[derive(Debug)]
pub enum TicketKeys {
    /// `ticketKeySecret`/`ticketMacSecret`: one key, whose name is not
    /// checked on decryption (stunnel's behaviour).
    Static(Arc<TicketKey>),
    /// `ticketKeyFile`: the keys the watcher keeps current.
    File(Arc<Ring>),
}

impl TicketKeys {
    /// stunnel's pair of secrets as one key (name all zeros, as stunnel
    /// writes it).
    pub fn from_secrets(aes: &[u8], hmac: &[u8]) -> TicketKeys {
        TicketKeys::Static(Arc::new(TicketKey {
            name: [0; 16],
            hmac: hmac.to_vec(),
            aes: aes.to_vec(),
        }))
    }

    /// The keys of `path`, read now. Contexts of the same file (several
    /// services, or the contexts before and after a reload) share one ring,
    /// which this read brings up to date.
    pub fn from_file(path: &Path) -> Result<TicketKeys, TlsError> {
        let keys =
            file::read(path).map_err(|why| TlsError::message(format!("ticketKeyFile {why}")))?;
        let mut rings = registry();
        rings.retain(|w| w.strong_count() > 0);
        if let Some(ring) = rings
            .iter()
            .filter_map(Weak::upgrade)
            .find(|r| r.path == path)
        {
            ring.take(Ok(keys));
            return Ok(TicketKeys::File(ring));
        }
        crate::slog!(
            NOTICE,
            "ticketKeyFile {}: {} key(s), newest {}",
            path.display(),
            keys.len(),
            file::hex(&keys[0].name)
        );
        let ring = Arc::new(Ring {
            path: path.to_path_buf(),
            keys: RwLock::new(Arc::new(keys.iter().cloned().map(Arc::new).collect())),
            seen: Mutex::new(Ok(keys)),
        });
        rings.push(Arc::downgrade(&ring));
        Ok(TicketKeys::File(ring))
    }

    /// The key for a new ticket (`name` = `None`) or for the ticket named
    /// `name`; `None` when there is no key at all.
    pub fn choose(&self, name: Option<&[u8; 16]>) -> Option<TicketChoice> {
        let ring = match self {
            TicketKeys::Static(key) => {
                return Some(TicketChoice::Use {
                    key: key.clone(),
                    renew: false,
                })
            }
            TicketKeys::File(ring) => ring,
        };
        watch();
        let keys = ring.current();
        let Some(name) = name else {
            let key = keys.first()?.clone();
            return Some(TicketChoice::Use { key, renew: false });
        };
        Some(match keys.iter().position(|k| &k.name == name) {
            Some(i) => {
                if i > 0 {
                    crate::slog!(
                        DEBUG,
                        "Session ticket under older key {}: accepted and renewed",
                        file::hex(name)
                    );
                }
                TicketChoice::Use {
                    key: keys[i].clone(),
                    renew: i > 0,
                }
            }
            None => {
                crate::slog!(
                    DEBUG,
                    "Session ticket under unknown key {}: full handshake",
                    file::hex(name)
                );
                TicketChoice::Unknown
            }
        })
    }
}

/// The keys of one file, newest first, as last loaded.
#[derive(Debug)]
pub struct Ring {
    /// Absolute (the configuration made it so).
    path: PathBuf,
    /// Swapped whole; a handshake clones the `Arc` of the key it uses.
    keys: RwLock<Arc<Vec<Arc<TicketKey>>>>,
    /// What the last read of the file gave (keys or the reason they did not
    /// load): a change is acted on, and logged, once.
    seen: Mutex<Result<Vec<TicketKey>, String>>,
}

impl Ring {
    fn current(&self) -> Arc<Vec<Arc<TicketKey>>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Read the file again (blocking: the watcher thread only).
    fn refresh(&self) {
        self.take(file::read(&self.path));
    }

    /// Act on a read of the file, unless it gave what the last one did.
    fn take(&self, read: Result<Vec<TicketKey>, String>) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if *seen == read {
            return;
        }
        match &read {
            Ok(keys) => {
                crate::slog!(
                    NOTICE,
                    "ticketKeyFile {} changed: {} key(s), newest {}",
                    self.path.display(),
                    keys.len(),
                    keys.first()
                        .map_or_else(String::new, |k| file::hex(&k.name))
                );
                let keys = Arc::new(keys.iter().cloned().map(Arc::new).collect());
                *self.keys.write().unwrap_or_else(|p| p.into_inner()) = keys;
            }
            Err(why) => crate::slog!(ERR, "ticketKeyFile {why}: the running keys stay in use"),
        }
        *seen = read;
    }
}

/// Every ring of this process (dead ones are dropped as found).
fn registry() -> MutexGuard<'static, Vec<Weak<Ring>>> {
    static RINGS: Mutex<Vec<Weak<Ring>>> = Mutex::new(Vec::new());
    RINGS.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pid of the process whose watcher thread runs (0: none). A forked
/// child sees its parent's pid here, and starts its own.
static WATCHER: AtomicU32 = AtomicU32::new(0);

/// Make sure this process's watcher thread runs.
fn watch() {
    let pid = std::process::id();
    if WATCHER.load(Ordering::Acquire) == pid {
        return;
    }
    let _rings = registry();
    if WATCHER.load(Ordering::Acquire) == pid {
        return;
    }
    let started = std::thread::Builder::new()
        .name("ticket-keys".into())
        .spawn(watcher);
    match started {
        Ok(_) => WATCHER.store(pid, Ordering::Release),
        // Tried again at the next handshake; the keys stay as they are.
        Err(e) => crate::slog!(ERR, "Cannot start the ticketKeyFile watcher: {e}"),
    }
}

/// Read every live ring's file each [`PERIOD`]; end when none is left.
fn watcher() {
    loop {
        let live: Vec<Arc<Ring>> = {
            let mut rings = registry();
            rings.retain(|w| w.strong_count() > 0);
            if rings.is_empty() {
                WATCHER.store(0, Ordering::Release);
                return;
            }
            rings.iter().filter_map(Weak::upgrade).collect()
        };
        for ring in &live {
            ring.refresh();
        }
        // Holding them would keep contexts' rings alive after a reload.
        drop(live);
        std::thread::sleep(PERIOD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(byte: u8) -> String {
        file::hex(&[byte; 80])
    }

    fn name(byte: u8) -> [u8; 16] {
        [byte; 16]
    }

    fn used(choice: Option<TicketChoice>) -> Option<([u8; 16], bool)> {
        match choice? {
            TicketChoice::Use { key, renew } => Some((key.name, renew)),
            TicketChoice::Unknown => None,
        }
    }

    #[test]
    fn newest_encrypts_older_renews_unknown_is_ignored_broken_keeps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        std::fs::write(&path, format!("{}\n{}\n", line(1), line(2))).unwrap();
        let keys = TicketKeys::from_file(&path).expect("loads");
        let TicketKeys::File(ring) = &keys else {
            panic!("a file ring")
        };
        assert_eq!(used(keys.choose(None)), Some((name(1), false)));
        assert_eq!(used(keys.choose(Some(&name(1)))), Some((name(1), false)));
        assert_eq!(used(keys.choose(Some(&name(2)))), Some((name(2), true)));
        assert!(matches!(
            keys.choose(Some(&name(3))),
            Some(TicketChoice::Unknown)
        ));

        // Rotation: 3 is new, 2 left.
        std::fs::write(&path, format!("{}\n{}\n", line(3), line(1))).unwrap();
        ring.refresh();
        assert_eq!(used(keys.choose(None)), Some((name(3), false)));
        assert_eq!(used(keys.choose(Some(&name(1)))), Some((name(1), true)));
        assert!(matches!(
            keys.choose(Some(&name(2))),
            Some(TicketChoice::Unknown)
        ));

        // A broken file keeps the keys.
        std::fs::write(&path, "not a key\n").unwrap();
        ring.refresh();
        assert_eq!(used(keys.choose(None)), Some((name(3), false)));

        // The same file shares the ring, and a later build reads it anew.
        std::fs::write(&path, format!("{}\n", line(4))).unwrap();
        let again = TicketKeys::from_file(&path).expect("loads");
        assert!(matches!(&again, TicketKeys::File(r) if Arc::ptr_eq(r, ring)));
        assert_eq!(used(keys.choose(None)), Some((name(4), false)));
    }

    #[test]
    fn static_secrets_ignore_the_name() {
        let keys = TicketKeys::from_secrets(&[7; 16], &[8; 16]);
        assert_eq!(used(keys.choose(None)), Some(([0; 16], false)));
        assert_eq!(used(keys.choose(Some(&name(9)))), Some(([0; 16], false)));
    }
}
