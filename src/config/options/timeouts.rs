//! `TIMEOUT*` options: whole seconds, strtol-style; a negative value means
//! "wait forever" (stunnel passes it to poll as -1), stored as `None`.

use std::time::Duration;

use super::{strtol, Failure};
use crate::config::raw::Target;

fn seconds(v: &str, msg: &'static str) -> Result<Option<Duration>, Failure> {
    let n = strtol(v).ok_or(msg)?;
    Ok(u64::try_from(n).ok().map(Duration::from_secs))
}

pub fn busy(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.timeouts.busy = seconds(v, "Illegal busy timeout")?;
    Ok(())
}

pub fn close(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.timeouts.close = seconds(v, "Illegal close timeout")?;
    Ok(())
}

pub fn connect(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.timeouts.connect = seconds(v, "Illegal connect timeout")?;
    Ok(())
}

pub fn idle(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.timeouts.idle = seconds(v, "Illegal idle timeout")?;
    Ok(())
}

/// stunnel 5.71+ (`TIMEOUTocsp`).
pub fn ocsp(t: &mut Target<'_>, v: &str) -> Result<(), Failure> {
    t.service.timeouts.ocsp = seconds(v, "Illegal OCSP connect timeout")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::{RawGlobal, RawService};

    fn run(f: super::super::ApplyFn, v: &str) -> Result<RawService, String> {
        let mut g = RawGlobal::default();
        let mut s = RawService::default();
        f(
            &mut Target {
                global: &mut g,
                service: &mut s,
                in_global: false,
            },
            v,
        )
        .map_err(|e| e.reason)?;
        Ok(s)
    }

    #[test]
    fn values_and_messages() {
        assert_eq!(
            run(idle, "60").map(|s| s.timeouts.idle),
            Ok(Some(Duration::from_secs(60)))
        );
        assert_eq!(run(idle, "-5").map(|s| s.timeouts.idle), Ok(None));
        assert_eq!(
            run(close, "0").map(|s| s.timeouts.close),
            Ok(Some(Duration::ZERO))
        );
        assert_eq!(run(idle, "5x").unwrap_err(), "Illegal idle timeout");
        assert_eq!(run(idle, "").unwrap_err(), "Illegal idle timeout");
        assert_eq!(run(busy, "x").unwrap_err(), "Illegal busy timeout");
        assert_eq!(run(close, "x").unwrap_err(), "Illegal close timeout");
        assert_eq!(run(connect, "x").unwrap_err(), "Illegal connect timeout");
        assert_eq!(run(ocsp, "x").unwrap_err(), "Illegal OCSP connect timeout");
    }
}
