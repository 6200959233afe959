//! One serving process, the only one or each of the `workers`: its runtime,
//! its signal handlers, the pid file, then `serve`.

use std::path::Path;
use std::sync::Arc;

use crate::config::model::Config;
use crate::config::Source;
use crate::connection::ServiceCtx;
use crate::log::Logged;
use crate::os;
use crate::service::bind::BoundService;

use super::cert_watch::CertWatch;
use super::metrics_endpoint;

/// What a serving process runs with, the only one or each worker.
pub struct Process {
    pub source: Source,
    pub config: Arc<Config>,
    pub ctxs: Vec<Arc<ServiceCtx>>,
    /// This process's client limit (each worker has its own descriptors).
    pub clients: crate::service::ClientLimit,
}

impl Process {
    /// Start the runtime and serve `bound` until told to stop; the pid file
    /// is written once the signal handlers exist (`pid`: not in a worker,
    /// the supervisor owns it).
    pub fn serve(
        &self,
        bound: Vec<BoundService>,
        metrics: metrics_endpoint::Pending,
        held: os::signals::Held,
        pid: Option<&Path>,
    ) -> Result<(), Logged> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| super::fatal("runtime", e))?;
        // The handlers exist before the pid file does: `-reload`, logrotate
        // and systemd find the pid there. Signals that came since `hold`
        // (a script that saw the `bound to` line) are delivered now.
        let signals = {
            let _enter = runtime.enter();
            os::signals::events().map_err(|e| super::fatal("signals", e))?
        };
        held.release().map_err(|e| super::fatal("signals", e))?;
        let _pid = pid_file(pid)?;
        let certs = CertWatch::new(&self.config);
        let running = super::serve::Running {
            config: self.config.clone(),
            certs,
            metrics,
            signals,
            clients: self.clients.clone(),
        };
        runtime.block_on(super::serve::serve(
            &self.source,
            bound,
            &self.ctxs,
            running,
        ))
    }

    /// The configured pid file.
    pub fn pid_path(&self) -> Option<&Path> {
        self.config.global.pid.as_deref()
    }
}

/// Create the pid file, if there is one to create.
pub fn pid_file(path: Option<&Path>) -> Result<Option<os::pidfile::PidFile>, Logged> {
    path.map(|p| os::pidfile::PidFile::create(p).map_err(|_| Logged))
        .transpose()
}
