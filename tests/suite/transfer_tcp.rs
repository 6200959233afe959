//! The copy loop over real loopback TCP sockets: volume, half-close in both
//! orders, return traffic after a half-close, and a peer reset.
//!
//! Layout of every test: `tls peer ⇄ [tls | transfer::run | plain] ⇄ plain
//! peer`, where both "sides" are plain TCP sockets (the loop is generic; a
//! TCP socket's `poll_shutdown` is the SHUT_WR a TLS stream's close_notify
//! stands for).

use std::time::Duration;

use rstunnel::transfer::{run, Ending, Limits, Report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

const MIB: usize = 1024 * 1024;
/// Upper bound for any test step; reached only when the loop hangs.
const LIMIT: Duration = Duration::from_secs(60);

/// A connected loopback pair (ours, peer) on an ephemeral port.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    (connected.unwrap(), accepted.unwrap().0)
}

/// Start the loop; returns (tls peer, plain peer, loop task).
async fn start(limits: Limits) -> (TcpStream, TcpStream, JoinHandle<Report>) {
    let (mut tls, tls_peer) = tcp_pair().await;
    let (mut plain, plain_peer) = tcp_pair().await;
    let task = tokio::spawn(async move { run(&mut tls, &mut plain, limits).await });
    (tls_peer, plain_peer, task)
}

const NO_LIMITS: Limits = Limits {
    idle: Some(Duration::from_secs(120)),
    close: Some(Duration::from_secs(120)),
};

/// Byte `i` of stream `seed`: position-dependent so any loss, duplication or
/// reordering shows.
fn byte_at(i: usize, seed: u8) -> u8 {
    ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 ^ seed
}

async fn send_pattern(w: &mut (impl AsyncWriteExt + Unpin), len: usize, seed: u8) {
    let mut chunk = vec![0u8; 61_447]; // odd size: chunks straddle buffers
    let mut sent = 0;
    while sent < len {
        let n = chunk.len().min(len - sent);
        for (k, b) in chunk[..n].iter_mut().enumerate() {
            *b = byte_at(sent + k, seed);
        }
        w.write_all(&chunk[..n]).await.unwrap();
        sent += n;
    }
}

/// Read to EOF, checking every byte; returns the count.
async fn expect_pattern(r: &mut (impl AsyncReadExt + Unpin), seed: u8) -> usize {
    let mut buf = vec![0u8; 32 * 1024];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return got;
        }
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(
                *b,
                byte_at(got + k, seed),
                "stream {seed} differs at byte {}",
                got + k
            );
        }
        got += n;
    }
}

/// One peer: sends `len` bytes of `seed_out` and reads `seed_in` until EOF,
/// both at once. When `first` is false it shuts its writer down only after
/// it has seen EOF, so the other peer's half-close always comes first.
async fn peer(stream: TcpStream, len: usize, seed_out: u8, seed_in: u8, first: bool) -> usize {
    let (mut r, mut w) = stream.into_split();
    let (eof_tx, eof_rx) = oneshot::channel::<()>();
    let reader = tokio::spawn(async move {
        let n = expect_pattern(&mut r, seed_in).await;
        let _ = eof_tx.send(());
        n
    });
    send_pattern(&mut w, len, seed_out).await;
    if !first {
        eof_rx.await.unwrap();
    }
    w.shutdown().await.unwrap();
    reader.await.unwrap()
}

async fn sixteen_mib_each_way(plain_closes_first: bool) {
    let (tls_peer, plain_peer, task) = start(NO_LIMITS).await;
    let len = 16 * MIB;
    let tls_side = tokio::spawn(peer(tls_peer, len, 1, 2, !plain_closes_first));
    let plain_side = tokio::spawn(peer(plain_peer, len + 3, 2, 1, plain_closes_first));
    let report = timeout(LIMIT, task).await.expect("transfer hung").unwrap();
    assert_eq!(timeout(LIMIT, tls_side).await.unwrap().unwrap(), len + 3);
    assert_eq!(timeout(LIMIT, plain_side).await.unwrap().unwrap(), len);
    assert_eq!(
        report,
        Report {
            to_tls: (len + 3) as u64,
            to_socket: len as u64,
            ending: Ending::Closed
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_mib_each_way_plain_side_closes_first() {
    sixteen_mib_each_way(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_mib_each_way_tls_side_closes_first() {
    sixteen_mib_each_way(false).await;
}

/// ghostunnel's test-client-half-close-return-traffic: the client sends a
/// request and half-closes; the server answers only later. The answer must
/// still arrive, and the loop must end normally afterwards.
async fn return_traffic_after_half_close(client_on_plain_side: bool) {
    let (tls_peer, plain_peer, task) = start(NO_LIMITS).await;
    let (mut client, mut server) = if client_on_plain_side {
        (plain_peer, tls_peer)
    } else {
        (tls_peer, plain_peer)
    };
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let mut request = Vec::new();
    timeout(LIMIT, server.read_to_end(&mut request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request, b"request");
    // The delay is the behaviour under test, not synchronisation.
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.write_all(b"delayed response").await.unwrap();
    server.shutdown().await.unwrap();
    let mut response = Vec::new();
    timeout(LIMIT, client.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(response, b"delayed response");
    let report = timeout(LIMIT, task).await.expect("transfer hung").unwrap();
    assert_eq!(report.ending, Ending::Closed);
    let (to_client, to_server) = if client_on_plain_side {
        (report.to_socket, report.to_tls)
    } else {
        (report.to_tls, report.to_socket)
    };
    assert_eq!((to_server, to_client), (7, 16));
}

#[tokio::test]
async fn return_traffic_after_plain_client_half_close() {
    return_traffic_after_half_close(true).await;
}

#[tokio::test]
async fn return_traffic_after_tls_client_half_close() {
    return_traffic_after_half_close(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_reset_mid_transfer_ends_the_loop_at_once() {
    let (tls_peer, plain_peer, task) = start(NO_LIMITS).await;
    // The plain peer streams (bounded) until the loop goes away.
    let streamer = tokio::spawn(async move {
        let (mut r, mut w) = plain_peer.into_split();
        let drain = tokio::spawn(async move {
            let mut sink = vec![0u8; 16 * 1024];
            while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        let chunk = vec![0x5au8; 64 * 1024];
        for _ in 0..(256 * MIB / chunk.len()) {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
        }
        drain.abort();
    });
    // The TLS peer takes some data, then resets (SO_LINGER 0 + close).
    let mut tls_peer = tls_peer;
    let mut seen = vec![0u8; MIB];
    tls_peer.read_exact(&mut seen).await.unwrap();
    tls_peer.set_zero_linger().unwrap();
    drop(tls_peer);
    let report = timeout(LIMIT, task)
        .await
        .expect("transfer hung after a reset")
        .unwrap();
    // A reset ends both directions at once, as in stunnel: an error when
    // bytes read from the plain side were still waiting for the TLS side,
    // a close when the reset came just after a flush (which of the two
    // depends on timing; both end the loop without TIMEOUTclose).
    assert!(
        matches!(report.ending, Ending::Error | Ending::Closed),
        "{report:?}"
    );
    assert!(report.to_tls >= MIB as u64, "{report:?}");
    timeout(LIMIT, streamer).await.unwrap().unwrap();
}

#[tokio::test]
async fn close_timeout_zero_after_eof_with_idle_peer() {
    let limits = Limits {
        idle: Some(Duration::from_secs(120)),
        close: Some(Duration::ZERO),
    };
    let (mut tls_peer, mut plain_peer, task) = start(limits).await;
    plain_peer.write_all(b"last words").await.unwrap();
    plain_peer.shutdown().await.unwrap();
    // The TLS peer never writes nor closes: the loop must not wait for it.
    let report = timeout(Duration::from_secs(10), task)
        .await
        .expect("waited")
        .unwrap();
    assert_eq!((report.to_tls, report.ending), (10, Ending::Closed));
    let mut got = Vec::new();
    tls_peer.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"last words");
}
