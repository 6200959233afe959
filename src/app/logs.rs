//! The log destinations a configuration asks for (stunnel-reference §5.9.3).

use crate::config::model::{Config, Foreground, LogMode};
use crate::log::{Logged, Sinks, ERR};

/// Open the configured sinks: stderr with `foreground = yes`, the `output`
/// file, syslog with `syslog = yes`.
pub fn sinks(config: &Config) -> Result<Sinks, Logged> {
    let global = &config.global;
    let mut sinks = Sinks {
        stderr: global.foreground == Foreground::Yes,
        file: None,
        syslog: false,
    };
    if let Some(path) = &global.output {
        let overwrite = global.log_mode == LogMode::Overwrite;
        match Sinks::open_file(path, overwrite) {
            Ok(f) => sinks.file = Some((path.clone(), f, overwrite)),
            Err(_) => {
                crate::slog!(ERR, "Cannot open log file: {}", path.display());
                return Err(Logged);
            }
        }
    }
    if global.syslog {
        sinks.open_syslog(&global.service_name, global.debug.facility);
    }
    Ok(sinks)
}

/// SIGUSR1: reopen the `output` file (after logrotate moved it).
pub fn reopen() {
    match crate::log::with_sinks(|s| s.reopen()) {
        Some(Ok(())) => crate::slog!(crate::log::NOTICE, "Log file reopened"),
        Some(Err(e)) => crate::slog!(
            ERR,
            "{}",
            crate::os::errno::io_labelled("Cannot reopen log file", &e)
        ),
        None => {}
    }
}
