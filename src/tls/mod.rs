//! OpenSSL for a service: contexts built once from `model::TlsSettings`,
//! handshakes driven on tokio streams, and stunnel's log lines about them.
//!
//! The connection layer only sees [`TlsContext`] (built at start-up and on
//! reload) and [`TlsStream`] (what a handshake yields).

pub mod context;
pub mod errors;
pub mod stream;

pub use context::{build, Loading, TlsContext};
pub use errors::TlsError;
pub use stream::TlsStream;
