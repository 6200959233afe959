//! inetd mode (no `[section]`): the global section's service serves one
//! connection on stdin/stdout; the process exits 0 when it ends, whatever
//! happened to it (stunnel-reference §1.2, §5.1 item 8).

use crate::config::model::Config;
use crate::connection::{self, ServiceCtx};
use crate::log::{self as logging, Logged, ERR, NOTICE};
use crate::tls;

pub fn run(config: &Config) -> Result<(), Logged> {
    let Some(service) = config.inetd.as_deref() else {
        crate::slog!(ERR, "Inetd mode: Inetd mode must define one endpoint");
        return Err(Logged);
    };
    let tls = tls::build(service, tls::Loading::Files)
        .map_err(|e| super::tls_failed(&service.options.name, e))?;
    crate::slog!(NOTICE, "Configuration successful");
    // stdin/stdout are the local side; `exec` alone is the remote side
    // (spawned in the connection's connect stage).
    logging::activate(super::logs::sinks(config)?, config.global.debug.level);
    // SIGPIPE stays ignored (Rust's default): a vanished peer is an EPIPE
    // the copy loop handles, not a silent death.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            crate::slog!(ERR, "Cannot start the runtime: {e}");
            Logged
        })?;
    runtime.block_on(async {
        let local = connection::stdio::open().map_err(|e| {
            crate::slog!(ERR, "Cannot use stdin/stdout: {e}");
            Logged
        })?;
        let ctx = ServiceCtx::new(service.clone(), tls, Vec::new());
        connection::run(ctx, connection::Kind::Stdio(local), 0).await;
        Ok(())
    })
}
