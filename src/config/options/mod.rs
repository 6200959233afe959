//! THE option table: one [`OptionDef`] per stunnel option, in the order
//! `stunnel -help` prints them. The reader looks names up here, `-help` and
//! the `-version` defaults block are generated from it (as stunnel's
//! `options.c` does with its per-option commands).
//!
//! Each row says: the name (matched case-insensitively, like `strcasecmp`),
//! whether it is global-only or service-level, the help text exactly as
//! `stunnel4 -help` prints it, the default text exactly as `stunnel4
//! -version` prints it, the function that parses the value into the raw
//! section, and whether rstunnel implements or refuses it.
//!
//! The parse functions live in the family files (`global`, `net`, `tls`,
//! `verify`, `timeouts`, `protocol`); they return a bare reason and the reader
//! adds `file:line: "raw":`. Checks that need the whole section (endpoints,
//! certificate, SNI primary…) are in `resolve`.

pub mod global;
pub mod net;
pub mod protocol;
mod table;
pub mod timeouts;
pub mod tls;
pub mod verify;

use super::raw::Target;

pub use table::OPTIONS;

/// Where an option may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only before the first `[section]`.
    Global,
    /// Anywhere; in the global section it is the default for every section.
    Service,
}

/// Whether rstunnel does what the option asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    Implemented,
    /// Any use fails with `option NAME is not supported by rstunnel`.
    Refused,
    /// `NAME = no` (stunnel's default) is accepted, `NAME = yes` is refused.
    RefusedWhenYes,
}

/// A value parser: applies one line's value to the section being read.
pub type ApplyFn = fn(&mut Target<'_>, &str) -> Result<(), Failure>;

#[derive(Clone, Copy)]
pub enum Apply {
    Value(ApplyFn),
    /// `include = DIR`: executed by the reader itself (it reads files).
    Include,
    /// Refused options never reach a parser.
    Nothing,
}

/// Why a value was rejected: stunnel's reason, plus the err-level lines it
/// logs before the `file:line` line (e.g. `Required ticketKeySecret is 16 or
/// 32 byte hexadecimal key` before `Failed to read ticketKeySecret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub before: Vec<String>,
    pub reason: String,
}

impl Failure {
    pub fn with_before(before: impl Into<String>, reason: impl Into<String>) -> Self {
        Failure {
            before: vec![before.into()],
            reason: reason.into(),
        }
    }
}

impl From<&str> for Failure {
    fn from(reason: &str) -> Self {
        Failure {
            before: Vec::new(),
            reason: reason.to_string(),
        }
    }
}

impl From<String> for Failure {
    fn from(reason: String) -> Self {
        Failure {
            before: Vec::new(),
            reason,
        }
    }
}

/// One option.
pub struct OptionDef {
    /// Spelling used by `-help` and in messages.
    pub name: &'static str,
    pub scope: Scope,
    /// `-help` text: the first line follows `name = `, the others are
    /// continuation lines printed after 25 spaces.
    pub help: &'static [&'static str],
    /// `-version` default lines (`name = TEXT` each); empty = not printed.
    pub defaults: &'static [&'static str],
    pub apply: Apply,
    pub support: Support,
    /// Printed by `-help`: false for aliases (`curve`, `session`), for
    /// `fips` (hidden by stunnel 5.68's non-FIPS help) and for refused
    /// 5.75-only options.
    pub listed: bool,
}

/// Result of looking a name up for the section being read.
pub enum Lookup {
    Found(&'static OptionDef),
    /// stunnel's `Specified option name is not valid here`: unknown, or a
    /// global-only option after the first `[section]`.
    NotValidHere,
}

/// Find `name` (case-insensitively). In the global section, global-only
/// options are tried first, then service-level ones (stunnel's order).
pub fn lookup(name: &str, in_global: bool) -> Lookup {
    let found = OPTIONS
        .iter()
        .filter(|d| d.name.eq_ignore_ascii_case(name))
        .find(|d| in_global || d.scope == Scope::Service);
    match found {
        Some(def) => Lookup::Found(def),
        None => Lookup::NotValidHere,
    }
}

/// The message for a refused option.
pub fn refused_reason(def: &OptionDef) -> String {
    format!("option {} is not supported by rstunnel", def.name)
}

// ---- value helpers shared by the family files ----

/// stunnel's boolean: exactly `yes` or `no`, any case.
pub fn yes_no(value: &str) -> Result<bool, Failure> {
    if value.eq_ignore_ascii_case("yes") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("no") {
        Ok(false)
    } else {
        Err("The argument needs to be either 'yes' or 'no'".into())
    }
}

/// `strtol(value, &end, 10)` with `*end == '\0'` required, as stunnel checks
/// numbers: leading C spaces and one sign allowed, at least one digit, no
/// trailing text. Overflow saturates like strtol (stunnel does not look at
/// `errno`).
pub fn strtol(value: &str) -> Option<i64> {
    let s = value.trim_start_matches(|c: char| c.is_ascii() && super::lexer::is_c_space(c as u8));
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut n: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        n = if neg {
            n.saturating_mul(10).saturating_sub(d)
        } else {
            n.saturating_mul(10).saturating_add(d)
        };
    }
    Some(n)
}

/// An optional path: stunnel resets `CAfile =` etc. to "unset".
pub fn optional_path(value: &str) -> Option<std::path::PathBuf> {
    if value.is_empty() {
        None
    } else {
        Some(std::path::PathBuf::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_rules() {
        assert_eq!(strtol("5"), Some(5));
        assert_eq!(strtol("+5"), Some(5));
        assert_eq!(strtol("-5"), Some(-5));
        assert_eq!(strtol(" 5"), Some(5));
        assert_eq!(strtol("5 "), None);
        assert_eq!(strtol("5x"), None);
        assert_eq!(strtol(""), None);
        assert_eq!(strtol("-"), None);
        assert_eq!(strtol("0x5"), None);
        assert_eq!(strtol("99999999999999999999"), Some(i64::MAX));
        assert_eq!(strtol("-99999999999999999999"), Some(i64::MIN));
    }

    #[test]
    fn yes_no_exact() {
        assert_eq!(yes_no("YES"), Ok(true));
        assert_eq!(yes_no("No"), Ok(false));
        for bad in ["1", "0", "true", "on", "", "yes "] {
            assert_eq!(
                yes_no(bad).unwrap_err().reason,
                "The argument needs to be either 'yes' or 'no'"
            );
        }
    }

    #[test]
    fn lookup_scopes_and_case() {
        assert!(matches!(lookup("CHROOT", true), Lookup::Found(d) if d.name == "chroot"));
        assert!(matches!(lookup("chroot", false), Lookup::NotValidHere));
        assert!(matches!(lookup("Connect", false), Lookup::Found(d) if d.name == "connect"));
        assert!(matches!(lookup("TIMEOUT idle", true), Lookup::NotValidHere));
        assert!(matches!(lookup("", true), Lookup::NotValidHere));
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in OPTIONS.iter().enumerate() {
            for b in &OPTIONS[i + 1..] {
                assert!(!a.name.eq_ignore_ascii_case(b.name), "duplicate {}", a.name);
            }
        }
    }

    #[test]
    fn refused_set_is_the_briefed_one() {
        let mut refused: Vec<&str> = OPTIONS
            .iter()
            .filter(|d| d.support != Support::Implemented)
            .map(|d| d.name)
            .collect();
        refused.sort_unstable();
        assert_eq!(
            refused,
            vec![
                "CAengine",
                "CAstore",
                "EGD",
                "compression",
                "engine",
                "engineCtrl",
                "engineDefault",
                "engineId",
                "engineNum",
                "fips",
                "libwrap",
                "providerParameter",
                "sessiond"
            ]
        );
    }
}
