//! The text of one log line, stunnel's layout.

/// `YYYY.MM.DD HH:MM:SS LOG<level>[<id>]: <text>` in local time.
pub fn line(level: u8, id: &str, text: &str) -> String {
    format!("{} LOG{level}[{id}]: {text}", timestamp())
}

/// The per-level character of error mode: `[!] Configuration failed`.
pub fn level_char(level: u8) -> char {
    match level {
        0..=2 => '*',
        3 => '!',
        4 => ':',
        5 => '.',
        _ => ' ',
    }
}

fn timestamp() -> String {
    let now = unsafe { libc::time(std::ptr::null_mut()) };
    // SAFETY: localtime_r writes into the zeroed struct we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    unsafe { libc::localtime_r(&now, &mut tm) };
    format!(
        "{:04}.{:02}.{:02} {:02}:{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_stunnel_layout() {
        let l = line(5, "0", "hello");
        // 2026.11.23 07:52:03 LOG5[0]: hello
        assert_eq!(l.len(), "2026.11.23 07:52:03 LOG5[0]: hello".len());
        assert!(l.ends_with(" LOG5[0]: hello"), "{l}");
        assert_eq!(&l[4..5], ".");
    }
}
