//! The copy loop's stunnel log lines, exact and in order. The logger is
//! process-wide and the suite shares one process (where the other tests'
//! lines go to `common::in_process_log`): the test activates a logger of
//! its own in a child process, the suite binary run for it alone.

use std::time::Duration;

use crate::common;

use rstunnel::log::{activate, Sinks, DEBUG};
use rstunnel::transfer::{run, Ending, Limits};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt};

fn texts(path: &std::path::Path) -> Vec<String> {
    let content = std::fs::read_to_string(path).unwrap();
    // `YYYY.MM.DD HH:MM:SS LOG7[main]: text` → `LOG7: text`
    content
        .lines()
        .filter_map(|l| {
            let (head, text) = l.split_once("]: ")?;
            let level = head.split_whitespace().nth(2)?.split('[').next()?;
            Some(format!("{level}: {text}"))
        })
        .collect()
}

#[test]
fn half_close_and_timeouts_log_stunnel_lines() {
    common::run_test_in_child("transfer_log::with_the_process_logger_to_itself", &[]);
}

#[tokio::test]
#[ignore = "run in a child process, by half_close_and_timeouts_log_stunnel_lines"]
async fn with_the_process_logger_to_itself() {
    common::assert_in_child("half_close_and_timeouts_log_stunnel_lines");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let file = Sinks::open_file(&path, true).unwrap();
    activate(
        Sinks {
            stderr: false,
            file: Some((path.clone(), file, true)),
            syslog: false,
        },
        DEBUG,
    );

    // Plain side closes first, then the TLS side answers and closes.
    let (mut tls, mut tls_peer) = duplex(1024);
    let (mut plain, mut plain_peer) = duplex(1024);
    let forever = Limits {
        idle: None,
        close: None,
    };
    let task = tokio::spawn(async move { run(&mut tls, &mut plain, forever).await });
    plain_peer.write_all(b"ping").await.unwrap();
    plain_peer.shutdown().await.unwrap();
    let mut got = Vec::new();
    tls_peer.read_to_end(&mut got).await.unwrap();
    tls_peer.write_all(b"pong").await.unwrap();
    tls_peer.shutdown().await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report.ending, Ending::Closed);
    assert_eq!(
        texts(&path),
        [
            "LOG6: Read socket closed (readsocket)",
            "LOG7: Sending close_notify alert",
            "LOG6: SSL_shutdown successfully sent close_notify alert",
            "LOG6: TLS closed (SSL_read)",
            "LOG7: Sent socket write shutdown",
        ]
    );

    // Idle limit, then close limit: each logs its own line.
    let (mut tls, _tls_peer) = duplex(1024);
    let (mut plain, _plain_peer) = duplex(1024);
    let idle = Limits {
        idle: Some(Duration::from_millis(20)),
        close: None,
    };
    assert_eq!(
        run(&mut tls, &mut plain, idle).await.ending,
        Ending::IdleTimeout
    );
    let (mut tls, _tls_peer) = duplex(1024);
    let (mut plain, plain_peer) = duplex(1024);
    drop(plain_peer);
    let close = Limits {
        idle: None,
        close: Some(Duration::from_millis(20)),
    };
    assert_eq!(
        run(&mut tls, &mut plain, close).await.ending,
        Ending::Closed
    );
    let lines = texts(&path);
    assert_eq!(
        lines[5..],
        [
            "LOG6: transfer: s_poll_wait: TIMEOUTidle exceeded: sending reset",
            "LOG6: Read socket closed (readsocket)",
            "LOG7: Sending close_notify alert",
            "LOG6: SSL_shutdown successfully sent close_notify alert",
            "LOG3: transfer: s_poll_wait: TIMEOUTclose exceeded: closing",
        ]
    );
}
