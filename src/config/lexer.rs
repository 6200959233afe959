//! stunnel.conf bytes → logical lines, with stunnel's exact line rules
//! (stunnel-reference §2.1).
//!
//! Why not `configparser`: it keeps one value per key (stunnel repeats
//! `connect`, `options`, `socket`, …), loses section order and forgets line
//! numbers, which every stunnel error message needs. This lexer keeps every
//! line, in order, with its number and raw text.
//!
//! Rules reproduced from stunnel's `file_getline`/`options_file`:
//! * every `\r` is dropped wherever it is; `\n` ends a line; a line that
//!   reaches 16383 bytes is cut there and the rest is a new line (with its own
//!   number);
//! * a NUL byte ends the line's text (C string);
//! * a UTF-8 BOM is skipped on line 1 only;
//! * leading/trailing C `isspace` is trimmed; `#`/`;` as first character make
//!   a whole-line comment (there are no trailing comments);
//! * `[name]` is a section header with `name` verbatim;
//! * otherwise the line splits at the first `=`.
//!
//! It does not look at option names or values, and it does not expand
//! `include` (the reader does, in order, because stunnel executes it as an
//! option when the line is reached).

use std::path::Path;

/// stunnel's `CONFLINELEN` is 16384 including the terminating NUL.
pub const MAX_LINE: usize = 16383;

/// One non-blank, non-comment line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number as stunnel counts it.
    pub no: usize,
    /// The line as read (CR and LF removed, spaces kept), for error messages.
    pub raw: String,
    pub item: Item,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// `[name]`: the name between the brackets, verbatim.
    Section(String),
    /// `name = value`, both trimmed the stunnel way.
    Pair { name: String, value: String },
    /// A line without `=` (reported as `No '=' found` when reached).
    NoEquals,
}

/// The lines of one file, and whether it started with a UTF-8 BOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lexed {
    pub bom: bool,
    pub lines: Vec<Line>,
}

/// C `isspace` in the "C" locale (includes `\v`, unlike `is_ascii_whitespace`).
pub fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Trim C whitespace on both sides.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && is_c_space(c as u8))
}

fn trim_end(s: &str) -> &str {
    s.trim_end_matches(|c: char| c.is_ascii() && is_c_space(c as u8))
}

fn trim_start(s: &str) -> &str {
    s.trim_start_matches(|c: char| c.is_ascii() && is_c_space(c as u8))
}

/// Split raw bytes into physical lines the way stunnel's `file_getline`
/// reads them: CR dropped, LF ends a line, 16383 bytes at most per line.
/// A final line without LF counts if it holds at least one byte.
pub fn physical_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    for &b in bytes {
        match b {
            b'\r' => {}
            b'\n' => lines.push(std::mem::take(&mut cur)),
            _ => {
                cur.push(b);
                if cur.len() == MAX_LINE {
                    lines.push(std::mem::take(&mut cur));
                }
            }
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Lex a whole file.
pub fn lex(bytes: &[u8]) -> Lexed {
    let mut bom = false;
    let mut lines = Vec::new();
    for (i, mut phys) in physical_lines(bytes).into_iter().enumerate() {
        if i == 0 && phys.starts_with(&[0xef, 0xbb, 0xbf]) {
            bom = true;
            phys.drain(..3);
        }
        if let Some(nul) = phys.iter().position(|&b| b == 0) {
            phys.truncate(nul);
        }
        let raw = String::from_utf8_lossy(&phys).into_owned();
        if let Some(item) = classify(&raw) {
            lines.push(Line {
                no: i + 1,
                raw,
                item,
            });
        }
    }
    Lexed { bom, lines }
}

/// What a raw line is; `None` for blank lines and comments.
fn classify(raw: &str) -> Option<Item> {
    let t = trim(raw);
    if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
        return None;
    }
    if t.len() >= 2 && t.starts_with('[') && t.ends_with(']') {
        return Some(Item::Section(t[1..t.len() - 1].to_string()));
    }
    Some(match t.find('=') {
        Some(eq) => Item::Pair {
            name: trim_end(&t[..eq]).to_string(),
            value: trim_start(&t[eq + 1..]).to_string(),
        },
        None => Item::NoEquals,
    })
}

/// The files `include = DIR` reads: every regular file of DIR in `alphasort`
/// (byte) order, as `DIR/NAME` exactly as stunnel joins them (so `dir/`
/// gives `dir//name`). Entries that are not regular files are returned in
/// `skipped` (stunnel logs `"PATH" is not a file` at debug for each,
/// including `.` and `..`). The error is stunnel's `scandir:` line.
pub fn include_dir(dir: &str) -> Result<IncludeList, String> {
    let read = std::fs::read_dir(if dir.is_empty() {
        Path::new("")
    } else {
        Path::new(dir)
    })
    .map_err(|e| format!("scandir: {}", crate::os::errno::of_io(&e)))?;
    let mut names: Vec<Vec<u8>> = vec![b".".to_vec(), b"..".to_vec()];
    for entry in read.flatten() {
        use std::os::unix::ffi::OsStrExt;
        names.push(entry.file_name().as_bytes().to_vec());
    }
    names.sort();
    let mut list = IncludeList::default();
    for name in names {
        let path = format!("{dir}/{}", String::from_utf8_lossy(&name));
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => list.files.push(path),
            _ => list.skipped.push(path),
        }
    }
    Ok(list)
}

/// Result of scanning an include directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IncludeList {
    /// Regular files, in reading order.
    pub files: Vec<String>,
    /// Everything else (`.`, `..`, directories, sockets…).
    pub skipped: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(text: &str) -> Vec<(usize, Item)> {
        lex(text.as_bytes())
            .lines
            .into_iter()
            .map(|l| (l.no, l.item))
            .collect()
    }

    fn pair(n: &str, v: &str) -> Item {
        Item::Pair {
            name: n.into(),
            value: v.into(),
        }
    }

    #[test]
    fn comments_blank_and_trimming() {
        let got = items("  # c\n ; c\n\n  client = yes  \n\tfoo\n");
        assert_eq!(got, vec![(4, pair("client", "yes")), (5, Item::NoEquals)]);
    }

    #[test]
    fn no_trailing_comments_and_first_equals() {
        assert_eq!(
            items("accept = 443 ; x\n"),
            vec![(1, pair("accept", "443 ; x"))]
        );
        assert_eq!(
            items("protocolHeader = X-A: b=c"),
            vec![(1, pair("protocolHeader", "X-A: b=c"))]
        );
        assert_eq!(items("client==yes"), vec![(1, pair("client", "=yes"))]);
        assert_eq!(items("=x"), vec![(1, pair("", "x"))]);
    }

    #[test]
    fn sections_verbatim() {
        assert_eq!(
            items(" [ a b ] \n"),
            vec![(1, Item::Section(" a b ".into()))]
        );
        assert_eq!(items("[]"), vec![(1, Item::Section(String::new()))]);
        assert_eq!(items("[a"), vec![(1, Item::NoEquals)]);
        assert_eq!(items("[a]]"), vec![(1, Item::Section("a]".into()))]);
    }

    #[test]
    fn carriage_returns_dropped_anywhere() {
        let l = lex(b"cli\rent=yes\r\nfoo\r\n");
        assert_eq!(l.lines[0].item, pair("client", "yes"));
        assert_eq!(l.lines[1].raw, "foo");
        assert_eq!(l.lines[1].no, 2);
    }

    #[test]
    fn bom_only_on_first_line() {
        let l = lex(b"\xef\xbb\xbfclient=yes\n\xef\xbb\xbfx=1\n");
        assert!(l.bom);
        assert_eq!(l.lines[0].item, pair("client", "yes"));
        assert_eq!(l.lines[1].item, pair("\u{feff}x", "1"));
        assert!(!lex(b"client=yes\n").bom);
    }

    #[test]
    fn long_lines_are_split_like_stunnel() {
        // 16383 bytes then "\n": the newline makes an extra, empty line.
        let mut s = String::from("client=yes\n#");
        s.push_str(&"x".repeat(16382));
        s.push_str("\nbar\n");
        let l = lex(s.as_bytes());
        assert_eq!(l.lines.last().map(|l| l.no), Some(4));
        // 16382 bytes then "\n": no extra line.
        let mut s = String::from("client=yes\n#");
        s.push_str(&"x".repeat(16381));
        s.push_str("\nbar\n");
        assert_eq!(lex(s.as_bytes()).lines.last().map(|l| l.no), Some(3));
        // The cut continues on the next line; CRs do not count.
        let mut s = String::from("client=yes\n#");
        s.push_str(&"x".repeat(16381));
        s.push_str("\r\r\ryfoo=1\n");
        let l = lex(s.as_bytes());
        assert_eq!(
            l.lines.last().map(|l| (l.no, l.raw.as_str())),
            Some((3, "foo=1"))
        );
    }

    #[test]
    fn nul_ends_the_text_and_vertical_tab_is_space() {
        assert_eq!(items("client=yes\0junk"), vec![(1, pair("client", "yes"))]);
        assert_eq!(
            items("\x0bclient\x0b=\x0byes\x0b"),
            vec![(1, pair("client", "yes"))]
        );
    }

    #[test]
    fn last_line_without_newline_counts() {
        assert_eq!(
            items("a=1\nb=2"),
            vec![(1, pair("a", "1")), (2, pair("b", "2"))]
        );
        assert!(lex(b"").lines.is_empty());
    }

    #[test]
    fn include_dir_sorted_and_skips_non_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path().to_str().expect("utf8").to_string();
        std::fs::write(format!("{d}/b.conf"), "x").expect("write");
        std::fs::write(format!("{d}/a.conf"), "x").expect("write");
        std::fs::write(format!("{d}/.hidden"), "x").expect("write");
        std::fs::create_dir(format!("{d}/sub")).expect("mkdir");
        let l = include_dir(&d).expect("scan");
        assert_eq!(
            l.files,
            vec![
                format!("{d}/.hidden"),
                format!("{d}/a.conf"),
                format!("{d}/b.conf")
            ]
        );
        assert_eq!(
            l.skipped,
            vec![format!("{d}/."), format!("{d}/.."), format!("{d}/sub")]
        );
        assert_eq!(
            include_dir("/nonexistent-rstunnel").unwrap_err(),
            "scandir: No such file or directory (2)"
        );
    }
}
