//! Copy-loop tests on `tokio::io::duplex` pairs: the loop sits between a
//! "TLS peer" and a "plain peer", each the far end of a duplex.

use super::*;
use std::time::Duration;
use tokio::io::AsyncRead;
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

const FOREVER: Limits = Limits {
    idle: None,
    close: None,
};

/// Start the loop between two duplex pairs; returns (tls peer, plain peer, loop).
fn start(capacity: usize, limits: Limits) -> (DuplexStream, DuplexStream, JoinHandle<Report>) {
    let (mut tls, tls_peer) = duplex(capacity);
    let (mut plain, plain_peer) = duplex(capacity);
    let task = tokio::spawn(async move { run(&mut tls, &mut plain, limits).await });
    (tls_peer, plain_peer, task)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn copies_both_ways_with_partial_writes_and_exact_counts() {
    // A 7-byte duplex forces a partial write on almost every call.
    let (tls_peer, mut plain_peer, task) = start(7, FOREVER);
    let to_plain = pattern(100_000, 1);
    let to_tls = pattern(70_001, 2);
    let (a, b) = (to_plain.clone(), to_tls.clone());
    let tls_side = tokio::spawn(async move {
        let (mut r, mut w) = tokio::io::split(tls_peer);
        let writer = async {
            w.write_all(&a).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let mut got = Vec::new();
        let reader = r.read_to_end(&mut got);
        let (_, n) = tokio::join!(writer, reader);
        n.unwrap();
        got
    });
    let plain_side = tokio::spawn(async move {
        let mut got = Vec::new();
        let (mut r, mut w) = tokio::io::split(&mut plain_peer);
        let writer = async {
            w.write_all(&b).await.unwrap();
            w.shutdown().await.unwrap();
        };
        let (_, n) = tokio::join!(writer, r.read_to_end(&mut got));
        n.unwrap();
        got
    });
    let report = task.await.unwrap();
    assert_eq!(tls_side.await.unwrap(), to_tls);
    assert_eq!(plain_side.await.unwrap(), to_plain);
    assert_eq!(
        report,
        Report {
            to_tls: 70_001,
            to_socket: 100_000,
            ending: Ending::Closed
        }
    );
}

#[tokio::test]
async fn reuses_the_buffer_after_a_full_read() {
    // Large reads fill the whole buffer; it must be reused once drained.
    let (mut tls_peer, mut plain_peer, task) = start(4 * BUFFER_SIZE, FOREVER);
    let data = pattern(10 * BUFFER_SIZE + 5, 3);
    let expected = data.clone();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        plain_peer.read_to_end(&mut got).await.unwrap();
        (got, plain_peer)
    });
    let writer = tokio::spawn(async move {
        tls_peer.write_all(&data).await.unwrap();
        tls_peer.shutdown().await.unwrap();
        tls_peer
    });
    let (got, mut plain_peer) = tokio::time::timeout(Duration::from_secs(10), reader)
        .await
        .expect("the loop stopped reading after a full buffer")
        .unwrap();
    assert_eq!(got, expected);
    plain_peer.shutdown().await.unwrap();
    let report = task.await.unwrap();
    assert_eq!(report.to_socket, expected.len() as u64);
    drop(writer.await.unwrap());
    assert_eq!(report.ending, Ending::Closed);
}

/// A TLS stand-in that reports a transport EOF the way a TLS stream without
/// close_notify may: `UnexpectedEof` instead of `Ok(0)`.
struct NoCloseNotify(DuplexStream);

impl AsyncRead for NoCloseNotify {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.0).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before => {
                Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()))
            }
            other => other,
        }
    }
}

impl AsyncWrite for NoCloseNotify {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn tls_transport_eof_with_nothing_pending_is_a_close() {
    let (tls, mut tls_peer) = duplex(1024);
    let (mut plain, mut plain_peer) = duplex(1024);
    let task = tokio::spawn(async move {
        let mut tls = NoCloseNotify(tls);
        run(&mut tls, &mut plain, FOREVER).await
    });
    tls_peer.write_all(b"last").await.unwrap();
    drop(tls_peer);
    let mut got = Vec::new();
    plain_peer.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last");
    // No close_notify can be sent any more: the loop ends without waiting
    // for the plain side.
    let report = task.await.unwrap();
    assert_eq!((report.to_socket, report.ending), (4, Ending::Closed));
}

#[tokio::test]
async fn tls_hangup_with_unsent_bytes_is_an_error() {
    let (tls, tls_peer) = duplex(4);
    let (mut plain, mut plain_peer) = duplex(1024);
    let task = tokio::spawn(async move {
        let mut tls = NoCloseNotify(tls);
        run(&mut tls, &mut plain, FOREVER).await
    });
    plain_peer.write_all(&[1u8; 1000]).await.unwrap();
    drop(tls_peer);
    let report = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop hung after a TLS hang-up")
        .unwrap();
    assert_eq!(report.ending, Ending::Error);
    assert!(report.to_tls <= 4, "{report:?}");
}

/// An EOF from either peer shuts the writer towards the other (close_notify
/// to the TLS peer, SHUT_WR to the plain one), and the way back stays open:
/// the other peer reads the message to EOF and can still answer.
#[tokio::test]
async fn an_eof_shuts_the_other_writer_and_keeps_the_way_back() {
    // Who sends first, what, the answer; then the bytes sent to TLS and
    // to the socket.
    for (tls_first, message, answer, to_tls, to_socket) in [
        (false, &b"request"[..], &b"late response"[..], 7, 13),
        (true, b"hello", b"still flowing", 13, 5),
    ] {
        let (mut tls_peer, mut plain_peer, task) = start(64 * 1024, FOREVER);
        let (from, to) = if tls_first {
            (&mut tls_peer, &mut plain_peer)
        } else {
            (&mut plain_peer, &mut tls_peer)
        };
        from.write_all(message).await.unwrap();
        from.shutdown().await.unwrap();
        let mut got = Vec::new();
        to.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, message);
        to.write_all(answer).await.unwrap();
        to.shutdown().await.unwrap();
        let mut back = Vec::new();
        from.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, answer);
        let report = task.await.unwrap();
        assert_eq!((report.to_tls, report.to_socket), (to_tls, to_socket));
        assert_eq!(report.ending, Ending::Closed);
    }
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_fires_after_the_limit_without_progress() {
    let limits = Limits {
        idle: Some(Duration::from_secs(30)),
        close: None,
    };
    let (_tls_peer, _plain_peer, task) = start(1024, limits);
    let started = Instant::now();
    let report = task.await.unwrap();
    assert_eq!(report.ending, Ending::IdleTimeout);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn idle_timer_restarts_on_progress() {
    let limits = Limits {
        idle: Some(Duration::from_secs(10)),
        close: None,
    };
    let (mut tls_peer, mut plain_peer, task) = start(1024, limits);
    let started = Instant::now();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(7)).await;
        plain_peer.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        tls_peer.read_exact(&mut one).await.unwrap();
    }
    let report = task.await.unwrap();
    assert_eq!(report.ending, Ending::IdleTimeout);
    assert_eq!(report.to_tls, 3);
    // Last byte at 21 s, then 10 s of silence.
    assert_eq!(started.elapsed(), Duration::from_secs(31));
}

#[tokio::test(start_paused = true)]
async fn no_idle_limit_waits_forever() {
    let (_tls_peer, _plain_peer, mut task) = start(1024, FOREVER);
    let waited = tokio::time::timeout(Duration::from_secs(400_000), &mut task).await;
    assert!(
        waited.is_err(),
        "the loop ended without a limit: {waited:?}"
    );
    task.abort();
}

#[tokio::test(start_paused = true)]
async fn close_timeout_zero_ends_right_after_one_eof() {
    let limits = Limits {
        idle: Some(Duration::from_secs(3600)),
        close: Some(Duration::ZERO),
    };
    let (mut tls_peer, mut plain_peer, task) = start(1024, limits);
    let started = Instant::now();
    plain_peer.write_all(b"bye").await.unwrap();
    plain_peer.shutdown().await.unwrap();
    let report = task.await.unwrap();
    assert_eq!(started.elapsed(), Duration::ZERO);
    assert_eq!((report.to_tls, report.ending), (3, Ending::Closed));
    // Everything was delivered and the TLS writer was shut down first.
    let mut got = Vec::new();
    tls_peer.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"bye");
}

#[tokio::test(start_paused = true)]
async fn close_timeout_applies_once_a_direction_has_ended() {
    let limits = Limits {
        idle: Some(Duration::from_secs(3600)),
        close: Some(Duration::from_secs(5)),
    };
    let (_tls_peer, mut plain_peer, task) = start(1024, limits);
    let started = Instant::now();
    plain_peer.shutdown().await.unwrap();
    let report = task.await.unwrap();
    assert_eq!(report.ending, Ending::Closed);
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn plain_hangup_with_unsent_bytes_is_an_error() {
    let (mut tls_peer, plain_peer, task) = start(16, FOREVER);
    drop(plain_peer);
    // Whatever the loop does first, bytes for the vanished plain side end it.
    let _ = tls_peer.write_all(&[7u8; 64]).await;
    let report = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("loop hung after a hang-up")
        .unwrap();
    assert_eq!(report.ending, Ending::Error);
}

#[test]
fn describes_os_errors_like_stunnel() {
    let e = io::Error::from_raw_os_error(libc::ECONNRESET);
    assert_eq!(
        describe("readsocket", &e),
        "readsocket: Connection reset by peer (104)"
    );
    assert!(is_closed(&io::Error::from_raw_os_error(libc::EPIPE)));
    assert!(!is_closed(&e));
    assert!(is_reset(&e));
}
