//! What the fuzz targets share: a null log sink (every line is formatted,
//! none is written), a tokio runtime, and a scripted stream that plays the
//! fuzzer's bytes as a peer.

use std::io;
use std::pin::Pin;
use std::sync::Once;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Route rstunnel's log to nowhere at the most verbose level, so formatting
/// runs (and is fuzzed) but nothing piles up in the start-up buffer.
pub fn quiet_log() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let sinks = rstunnel::log::Sinks {
            stderr: false,
            file: None,
            syslog: false,
        };
        rstunnel::log::activate(sinks, rstunnel::log::DEBUG);
    });
}

/// A single-threaded runtime per call: cheap, and no state survives from
/// one input to the next.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A peer that sends `data` in reads of at most `chunk` bytes, then EOF,
/// and takes everything written to it (up to a bound, then `BrokenPipe`,
/// so a negotiation that writes forever ends).
pub struct ScriptedPeer {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    written: usize,
}

/// More than any negotiation writes in one exchange.
const WRITE_LIMIT: usize = 1 << 20;

impl ScriptedPeer {
    pub fn new(data: &[u8], chunk: usize) -> ScriptedPeer {
        ScriptedPeer {
            data: data.to_vec(),
            at: 0,
            chunk: chunk.max(1),
            written: 0,
        }
    }
}

impl AsyncRead for ScriptedPeer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .chunk
            .min(buf.remaining())
            .min(self.data.len() - self.at);
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ScriptedPeer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.written > WRITE_LIMIT {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        self.written += buf.len();
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
