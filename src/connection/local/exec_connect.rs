//! exec+connect sections (`exec` + `connect`, no `accept`): the program is
//! the local side and `connect` the remote one; started when the daemon
//! starts (`Starting exec+connect service [NAME]`, debug). With `retry =
//! yes` (or a number of milliseconds, stunnel 5.70+) the pair is started
//! again after each run ends (`Retrying an exec+connect section`, info,
//! then the pause: one second for `yes`, as in 5.68).
//!
//! Log ids are `<id>_<n>`: one sequential id for the section (from the
//! same counter as accepted connections) and the run number from 0, as
//! stunnel 5.68 prints them.
//!
//! A reload stops the old loop's retries (the current run finishes on the
//! old settings) and the new configuration starts its own loop: the
//! supervisor holds a [`Handle`] per loop and drops it.

use std::sync::Arc;

use tokio::sync::watch;

use crate::connection::{self, ServiceCtx};
use crate::log::{ConnLog, DEBUG, INFO};

/// A running exec+connect loop; dropping it stops further retries.
pub struct Handle {
    /// Never sent on: its drop is the signal (`changed()` then fails).
    _stop: watch::Sender<()>,
}

/// Start the loop of one exec+connect section. Must run inside the runtime.
pub fn start(ctx: Arc<ServiceCtx>) -> Handle {
    crate::slog!(
        DEBUG,
        "Starting exec+connect service [{}]",
        ctx.service.options.name
    );
    let (tx, rx) = watch::channel(());
    let id = crate::service::listener::next_id();
    tokio::spawn(run(ctx, id, rx));
    Handle { _stop: tx }
}

async fn run(ctx: Arc<ServiceCtx>, id: u64, mut stop: watch::Receiver<()>) {
    for n in 0u64.. {
        let log = ConnLog::new(format!("{id}_{n}"), ctx.service.options.debug_level);
        let again = crate::log::scope(log, async {
            connection::serve_exec_connect(ctx.clone(), id).await;
            // A dropped handle (reload, shutdown) makes `has_changed` fail.
            let again = ctx.service.options.retry.is_some() && stop.has_changed().is_ok();
            if again {
                crate::slog!(INFO, "Retrying an exec+connect section");
            }
            again
        })
        .await;
        let Some(pause) = ctx.service.options.retry.filter(|_| again) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
    }
}
