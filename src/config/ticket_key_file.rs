//! The `ticketKeyFile` format (rstunnel extension): several session-ticket
//! keys, newest first, one per line in hexadecimal.
//!
//! Each key uses the byte layout of nginx's `ssl_session_ticket_key` files,
//! the established format for shared ticket keys, written as hex so that a
//! file of several keys can be edited with `echo`, `head` and `cat`:
//!
//! ```text
//! 80 bytes (160 hex digits): name[16] HMAC-SHA256 secret[32] AES-256 key[32]
//! 48 bytes  (96 hex digits): name[16] AES-128 key[16] HMAC-SHA256 secret[16]
//! ```
//!
//! `openssl rand -hex 80` makes one key; `xxd -p -c 80 nginx.key` turns an
//! nginx key file into a line. Blank lines and lines starting with `#` are
//! skipped. The name travels in clear at the front of every ticket and is how
//! a ticket finds its key, so two keys may not share a name.
//!
//! Reading is bounded ([`MAX_BYTES`]); nothing here panics on any content.
//! The file is read at load time (errors name the configuration line) and by
//! the TLS layer's watcher when it changes.

use std::io::Read;
use std::path::Path;

/// A key file larger than this is refused (about 400 keys).
pub const MAX_BYTES: u64 = 64 * 1024;

/// One session-ticket key.
#[derive(Clone, PartialEq, Eq)]
pub struct TicketKey {
    /// Written in front of each ticket; selects the key on decryption.
    pub name: [u8; 16],
    /// HMAC-SHA256 secret (16 or 32 bytes).
    pub hmac: Vec<u8>,
    /// AES-CBC key: 16 bytes (AES-128) or 32 (AES-256).
    pub aes: Vec<u8>,
}

/// Secrets stay out of logs and panic messages.
impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TicketKey(name {}, secrets masked)", hex(&self.name))
    }
}

/// Read and parse `path`: the keys, newest first, or why not (naming the
/// file, and the line when a line is wrong).
pub fn read(path: &Path) -> Result<Vec<TicketKey>, String> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| format!("{shown}: {}", crate::os::errno::of_io(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{shown}: {}", crate::os::errno::of_io(&e)))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("{shown}: larger than {MAX_BYTES} bytes"));
    }
    parse(&bytes).map_err(|why| format!("{shown}: {why}"))
}

/// Parse a key file's content (see the module documentation).
pub fn parse(bytes: &[u8]) -> Result<Vec<TicketKey>, String> {
    let mut keys: Vec<TicketKey> = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let no = i + 1;
        let line = trim(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let key = key(line).map_err(|why| format!("line {no}: {why}"))?;
        if keys.iter().any(|k| k.name == key.name) {
            return Err(format!(
                "line {no}: key name {} is used by an earlier key",
                hex(&key.name)
            ));
        }
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(
            "no key (one line of 160 hexadecimal digits per key, newest first; \
             make one with: openssl rand -hex 80)"
                .into(),
        );
    }
    Ok(keys)
}

/// ASCII whitespace off both ends (`\r` of a file written on Windows too).
fn trim(mut line: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = line {
        if !first.is_ascii_whitespace() {
            break;
        }
        line = rest;
    }
    while let [rest @ .., last] = line {
        if !last.is_ascii_whitespace() {
            break;
        }
        line = rest;
    }
    line
}

fn key(line: &[u8]) -> Result<TicketKey, String> {
    let bytes = unhex(line).ok_or("not hexadecimal digits")?;
    let name = |b: &[u8]| -> [u8; 16] {
        let mut n = [0u8; 16];
        n.copy_from_slice(&b[..16]);
        n
    };
    match bytes.len() {
        80 => Ok(TicketKey {
            name: name(&bytes),
            hmac: bytes[16..48].to_vec(),
            aes: bytes[48..80].to_vec(),
        }),
        48 => Ok(TicketKey {
            name: name(&bytes),
            aes: bytes[16..32].to_vec(),
            hmac: bytes[32..48].to_vec(),
        }),
        n => Err(format!(
            "{} hexadecimal digits instead of 160 (or 96)",
            n * 2
        )),
    }
}

/// Pairs of hex digits, nothing else.
fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            u8::try_from(hi * 16 + lo).ok()
        })
        .collect()
}

/// Lower-case hex, for key names in log lines.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(byte: u8, len: usize) -> String {
        hex(&vec![byte; len])
    }

    #[test]
    fn layouts_comments_and_order() {
        let mut long = vec![1u8; 16];
        long.extend([2u8; 32]);
        long.extend([3u8; 32]);
        let mut short = vec![4u8; 16];
        short.extend([5u8; 16]);
        short.extend([6u8; 16]);
        let text = format!("# newest first\n\n  {}  \r\n{}\n", hex(&long), hex(&short));
        let keys = parse(text.as_bytes()).expect("valid");
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].name, [1u8; 16]);
        assert_eq!(
            (keys[0].hmac.clone(), keys[0].aes.clone()),
            (vec![2; 32], vec![3; 32])
        );
        // nginx's 48-byte layout: AES key before the HMAC secret.
        assert_eq!(
            (keys[1].aes.clone(), keys[1].hmac.clone()),
            (vec![5; 16], vec![6; 16])
        );
    }

    #[test]
    fn every_bad_file_says_why() {
        let cases = [
            ("", "no key"),
            ("# only a comment\n\n", "no key"),
            (
                &line(7, 79),
                "line 1: 158 hexadecimal digits instead of 160",
            ),
            (
                &format!("{}\nzz{}", line(7, 80), &line(7, 79)),
                "line 2: not hexadecimal",
            ),
            (&format!("{}0", line(7, 80)), "line 1: not hexadecimal"),
            (
                &format!("{}\n{}\n", line(7, 80), line(7, 80)),
                "line 2: key name 07070707070707070707070707070707 is used by an earlier key",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text.as_bytes()).unwrap_err();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
        // Arbitrary bytes never panic.
        assert!(parse(&[0xff, 0xfe, b'\n', 0x80]).is_err());
        let shown = format!("{:?}", parse(line(9, 80).as_bytes()).unwrap());
        assert!(!shown.contains(&line(9, 32)), "{shown}");
    }

    /// The file is input: any bytes give keys or a reason, never a panic
    /// (pseudo-random lines over the alphabet that matters, and raw bytes).
    #[test]
    fn arbitrary_content_never_panics() {
        let alphabet = b"0123456789abcdefABCDEFxz #\r\n\t\x00\xff";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 400) as usize;
            let raw = next() % 4 == 0;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if raw {
                        r as u8
                    } else {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            if let Ok(keys) = parse(&bytes) {
                assert!(!keys.is_empty());
                assert!(keys.iter().all(|k| matches!(k.aes.len(), 16 | 32)));
            }
        }
    }

    #[test]
    fn reading_is_bounded_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'#'; MAX_BYTES as usize + 1]).unwrap();
        assert!(read(&big).unwrap_err().ends_with("larger than 65536 bytes"));
        let missing = dir.path().join("missing");
        let err = read(&missing).unwrap_err();
        assert!(err.contains("missing: No such file or directory"), "{err}");
    }
}
