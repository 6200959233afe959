//! `TIMEOUT*` options: whole seconds, strtol-style; a negative value means
//! "wait forever" (stunnel passes it to poll as -1), stored as `None`.

use std::time::Duration;

use super::declare::Failure;
use super::values::strtol;

/// A `TIMEOUT*` value parser; `illegal` is the option's message.
pub fn seconds(illegal: &'static str) -> impl Fn(&str) -> Result<Option<Duration>, Failure> {
    move |v| {
        let n = strtol(v).ok_or(illegal)?;
        Ok(u64::try_from(n).ok().map(Duration::from_secs))
    }
}
