//! Value parsers the option declarations (`table.rs`) and the family files
//! share: stunnel's booleans, numbers and paths, and the plain text values.
//! Each takes the value as written and returns what the field holds.

use std::path::PathBuf;

use super::declare::Failure;

/// stunnel's boolean: exactly `yes` or `no`, any case.
pub fn yes_no(value: &str) -> Result<bool, Failure> {
    keyword(value, &[("yes", true), ("no", false)])
}

/// One of a few words, any case: what `choices` pairs with it. Otherwise
/// stunnel's message, which names them all: `The argument needs to be
/// either 'yes', 'quiet' or 'no'`.
pub fn keyword<T: Copy>(value: &str, choices: &[(&str, T)]) -> Result<T, Failure> {
    if let Some(&(_, chosen)) = choices
        .iter()
        .find(|(word, _)| value.eq_ignore_ascii_case(word))
    {
        return Ok(chosen);
    }
    let quoted: Vec<String> = choices
        .iter()
        .map(|(word, _)| format!("'{word}'"))
        .collect();
    let (last, others) = quoted.split_last().expect("a keyword option has choices");
    Err(format!(
        "The argument needs to be either {} or {last}",
        others.join(", ")
    )
    .into())
}

/// `strtol(value, &end, 10)` with `*end == '\0'` required, as stunnel checks
/// numbers: leading C spaces and one sign allowed, at least one digit, no
/// trailing text. Overflow saturates like strtol (stunnel does not look at
/// `errno`).
pub fn strtol(value: &str) -> Option<i64> {
    let s = value
        .trim_start_matches(|c: char| c.is_ascii() && crate::config::lexer::is_c_space(c as u8));
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
pub fn optional_path(value: &str) -> Option<PathBuf> {
    if value.is_empty() {
        None
    } else {
        Some(PathBuf::from(value))
    }
}

/// A value kept as written.
pub fn text(value: &str) -> Result<Option<String>, Failure> {
    Ok(Some(value.to_string()))
}

/// A list entry kept as written.
pub fn string(value: &str) -> Result<String, Failure> {
    Ok(value.to_string())
}

/// A path as written (stunnel checks files when it uses them).
pub fn path(value: &str) -> Result<Option<PathBuf>, Failure> {
    Ok(Some(PathBuf::from(value)))
}

/// A path that an empty value unsets (`CAfile =`).
pub fn path_or_unset(value: &str) -> Result<Option<PathBuf>, Failure> {
    Ok(optional_path(value))
}

/// A number as stunnel reads it, or `illegal` (its message for the option).
pub fn number(illegal: &'static str) -> impl Fn(&str) -> Result<i64, Failure> {
    move |value| strtol(value).ok_or_else(|| illegal.into())
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
}
