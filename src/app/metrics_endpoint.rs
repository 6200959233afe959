//! The `metrics` endpoint's place in daemon mode (rstunnel extension): bound
//! with the services before privileges are dropped, started with the
//! runtime, rebound by a reload only when its value changed; and the
//! process-wide facts the daemon feeds it (the certificates in use).

use std::sync::Arc;

use crate::config::model::{Config, Endpoint};
use crate::connection::ServiceCtx;
use crate::log::Logged;
use crate::service::bind::Bound;
use crate::service::metrics_http::{self, MetricsServer};

/// Bound, not yet served (the runtime does not exist yet).
pub type Pending = Option<(Endpoint, Vec<Bound>)>;

/// Bind the endpoint of `config`, if it has one.
pub fn bind(config: &Config) -> Result<Pending, Logged> {
    match &config.global.metrics {
        Some(endpoint) => Ok(Some((endpoint.clone(), metrics_http::bind(endpoint)?))),
        None => Ok(None),
    }
}

/// Serve what [`bind`] bound (inside the runtime).
pub fn start(pending: Pending) -> Result<Option<MetricsServer>, Logged> {
    let Some((endpoint, bound)) = pending else {
        return Ok(None);
    };
    metrics_http::start(endpoint, bound)
        .map(Some)
        .map_err(|e| crate::log::error(crate::os::errno::io_labelled("listen", &e)))
}

/// After a reload: keep the endpoint while its address is the same, else
/// close it and (when still configured) bind it anew, now with the
/// privileges that are left. A failed bind leaves none.
pub fn rebind(
    running: &mut Option<MetricsServer>,
    wanted: Option<&Endpoint>,
) -> Result<(), Logged> {
    if running.as_ref().map(|m| &m.endpoint) == wanted {
        return Ok(());
    }
    *running = None;
    let Some(endpoint) = wanted else {
        return Ok(());
    };
    *running = start(Some((endpoint.clone(), metrics_http::bind(endpoint)?)))?;
    Ok(())
}

/// The certificates each service presents (SNI secondaries included), for
/// their expiry gauges; called whenever the contexts are (re)built.
pub fn record_certificates<'a>(ctxs: impl Iterator<Item = &'a Arc<ServiceCtx>>) {
    let list = ctxs
        .filter_map(|c| {
            let (subject, not_after) = c.tls.certificate_expiry()?;
            Some(crate::metrics::Certificate {
                service: c.service.options.name.clone(),
                subject,
                not_after,
            })
        })
        .collect();
    crate::metrics::set_certificates(list);
}
