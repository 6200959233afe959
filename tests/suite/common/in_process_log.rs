//! The log of rstunnel's library code run inside the test process (TLS
//! contexts and handshakes, protocol hooks), read back per connection id.
//!
//! rstunnel's logger is process-wide: `rstunnel::log::activate` replaces
//! the sinks of the whole process. Every module of the suite shares this
//! process, so there is exactly one capture, activated once (debug level)
//! by whichever test logs first, and tests tell their lines apart by the
//! connection id they run under. Ids must be unique across the suite
//! (`basic-1`, `smtp-c1`…), not only within one file. A test that needs the
//! logger to itself (`transfer_log` asserts every line of the process) runs
//! in a child process (`common::run_test_in_child`).

use std::future::Future;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The file every in-process log line goes to; the capture starts on the
/// first call.
pub fn file() -> &'static PathBuf {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rstunnel-test-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("log dir");
        let path = dir.join("log.txt");
        let file = rstunnel::log::Sinks::open_file(&path, true).expect("open log");
        let sinks = rstunnel::log::Sinks {
            stderr: false,
            file: Some((path.clone(), file, true)),
            syslog: false,
        };
        rstunnel::log::activate(sinks, 7);
        path
    })
}

/// Run `fut` with its log lines tagged `[id]` (debug level).
pub async fn logged<F: Future>(id: &str, fut: F) -> F::Output {
    file();
    let ctx = rstunnel::log::ConnLog::new(id.to_string(), 7);
    rstunnel::log::scope(ctx, fut).await
}

/// The texts of the lines logged under `id`, in order.
pub fn lines(id: &str) -> Vec<String> {
    let tag = format!("[{id}]: ");
    std::fs::read_to_string(file())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(&tag).map(|(_, t)| t.to_string()))
        .collect()
}
