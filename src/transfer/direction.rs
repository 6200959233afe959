//! One half of the copy loop: bytes read from one side, written to the other.
//!
//! A [`Direction`] holds a buffer only while it has bytes in flight: an
//! empty buffer goes back to a small per-thread pool after each step and is
//! taken again before the next read. Reads into it never keep it (tokio
//! streams and OpenSSL buffer partial records themselves), so an idle
//! connection holds no transfer buffer at all, and a busy one reuses pooled
//! buffers instead of allocating per read. Its state only moves forward:
//!
//! ```text
//! Open ──reader EOF──▶ Draining ──buffer empty──▶ ShuttingDown ──poll_shutdown ok──▶ Done
//! ```
//!
//! This is linkerd's `HalfDuplex` shape with stunnel's ordering: the peer
//! writer is shut down (close_notify on the TLS side, `SHUT_WR` on the plain
//! side) only after every byte read before the EOF has been written.
//!
//! A step does not classify errors: it hands them back as a [`Fault`] and
//! `transfer::mod` decides, knowing both directions, whether the fault is a
//! close or a reset (stunnel-reference §5.7.3).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Size of each direction's buffer: four TLS records. stunnel uses 18432
/// bytes (one record plus slack) and so makes one read and one write per
/// record each way. Here one plain read takes up to 64 KiB (written as four
/// records that the TLS side sends in one `write`), and four records read
/// from the TLS side go out in one plain `write`: fewer system calls and
/// wake-ups per byte. Idle connections hold no buffer, so the size costs
/// nothing at rest.
pub const BUFFER_SIZE: usize = 64 * 1024;

/// Free buffers kept per worker thread (1 MiB); beyond this they are freed.
const POOL_LIMIT: usize = 16;

thread_local! {
    /// Empty buffers ready for the next read on this thread.
    static POOL: std::cell::RefCell<Vec<Box<[u8]>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn take_buffer() -> Box<[u8]> {
    POOL.with(|p| p.borrow_mut().pop())
        .unwrap_or_else(|| vec![0; BUFFER_SIZE].into_boxed_slice())
}

fn give_back(buf: Box<[u8]>) {
    POOL.with(|p| {
        let mut pool = p.borrow_mut();
        if pool.len() < POOL_LIMIT {
            pool.push(buf);
        }
    });
}

/// The fixed texts of one direction: which stunnel lines it logs and how its
/// operations are named in error lines.
#[derive(Debug)]
pub struct Labels {
    /// Logged (info) when the reader returns EOF.
    pub eof: &'static str,
    /// Name of the read operation in error lines (`readsocket`, `SSL_read`).
    pub read_op: &'static str,
    /// Name of the write operation in error lines (`writesocket`, `SSL_write`).
    pub write_op: &'static str,
    /// Logged (err, `… with N unsent byte(s)`) or (info) when the writer's
    /// peer has gone away.
    pub hangup: &'static str,
    /// Name of the writer shutdown in error lines (`shutdown`, `SSL_shutdown`).
    pub shutdown_op: &'static str,
    /// Logged (debug) when the writer shutdown starts.
    pub shutdown_start: Option<&'static str>,
    /// Logged at the given level when the writer shutdown has completed.
    pub shutdown_done: (u8, &'static str),
    /// The reader is the TLS side (its transport EOF ends both directions).
    pub tls_reader: bool,
}

/// Where a direction is in its life; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading and writing.
    Open,
    /// The reader returned EOF; the buffer is being written out.
    Draining,
    /// The buffer is empty; `poll_shutdown` on the writer is in progress.
    ShuttingDown,
    /// Nothing more will move in this direction.
    Done,
}

/// An I/O error of a step, by the operation that failed.
#[derive(Debug)]
pub enum Fault {
    Read(io::Error),
    Write(io::Error),
    Shutdown(io::Error),
}

/// One direction of the copy loop.
pub struct Direction {
    /// `buf[pos..cap]` is read but unwritten; `None` while nothing is in
    /// flight (the buffer is back in the pool).
    buf: Option<Box<[u8]>>,
    /// Start of the unwritten bytes.
    pos: usize,
    /// End of the bytes read so far.
    cap: usize,
    state: State,
    /// Bytes were written since the last successful `poll_flush`.
    need_flush: bool,
    /// A read error that came after bytes were read in the same step: it
    /// is reported at the next step, after those bytes had their chance
    /// to be written (as when each step read once).
    deferred: Option<io::Error>,
    /// Bytes written to this direction's writer (stunnel's byte counters).
    pub bytes: u64,
    pub labels: &'static Labels,
}

impl Direction {
    pub fn new(labels: &'static Labels) -> Direction {
        Direction {
            buf: None,
            pos: 0,
            cap: 0,
            state: State::Open,
            need_flush: false,
            deferred: None,
            bytes: 0,
            labels,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes read but not yet written.
    pub fn buffered(&self) -> usize {
        self.cap - self.pos
    }

    /// The reader is finished (EOF or its peer is gone); keep draining.
    pub fn read_closed(&mut self) {
        if self.state == State::Open {
            self.state = State::Draining;
        }
    }

    /// The writer's peer is gone: nothing more can move this way, and no
    /// shutdown is sent (stunnel marks the TLS as already shut down).
    pub fn abandon(&mut self) {
        debug_assert!(
            self.buffered() == 0,
            "abandoning a direction with unsent bytes"
        );
        self.state = State::Done;
    }

    /// Try each operation once: read if there is room, write what is
    /// buffered, flush, shut the writer down once drained. Returns whether
    /// anything moved (bytes or state); `Ok(false)` means every operation
    /// was `Pending` and a waker is registered for each.
    pub fn step<R, W>(&mut self, cx: &mut Context<'_>, r: &mut R, w: &mut W) -> Result<bool, Fault>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        if self.pos == self.cap {
            // Empty: start over at the front so reads stay large.
            self.pos = 0;
            self.cap = 0;
        }
        let moved = self.step_with_buffer(cx, r, w);
        if self.pos == self.cap {
            if let Some(buf) = self.buf.take() {
                give_back(buf);
            }
        }
        moved
    }

    fn step_with_buffer<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        r: &mut R,
        w: &mut W,
    ) -> Result<bool, Fault>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut moved = false;
        if self.cap == BUFFER_SIZE && self.pos > 0 {
            // Full to the end but partly written: move the rest to the front
            // so reading can go on while the writer catches up (a linear
            // buffer would stall the reader until all 16 KiB were written).
            // OpenSSL accepts the moved bytes: the TLS contexts set
            // SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER.
            if let Some(buf) = &mut self.buf {
                buf.copy_within(self.pos..self.cap, 0);
                self.cap -= self.pos;
                self.pos = 0;
            }
        }
        if let Some(e) = self.deferred.take() {
            if self.state == State::Open {
                return Err(Fault::Read(e));
            }
        }
        // Read until the buffer is full or the reader has nothing more now:
        // a TLS reader returns one record per call, and each extra record
        // taken here is one plain `write` less.
        let mut read_now = false;
        while self.state == State::Open && self.cap < BUFFER_SIZE {
            let buf = self.buf.get_or_insert_with(take_buffer);
            let mut rb = ReadBuf::new(&mut buf[self.cap..]);
            match Pin::new(&mut *r).poll_read(cx, &mut rb) {
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        crate::slog!(crate::log::INFO, "{}", self.labels.eof);
                        self.state = State::Draining;
                    } else {
                        self.cap += n;
                        read_now = true;
                    }
                    moved = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    // stunnel: "Interrupted by a signal: retrying"; retry on
                    // the next poll instead of spinning here.
                    cx.waker().wake_by_ref();
                    break;
                }
                Poll::Ready(Err(e)) if read_now => {
                    self.deferred = Some(e);
                    break;
                }
                Poll::Ready(Err(e)) => return Err(Fault::Read(e)),
                Poll::Pending => break,
            }
        }

        // Write until everything is out or the writer is full (a TLS
        // writer takes one record per call).
        while let (true, Some(buf)) = (self.pos < self.cap, &self.buf) {
            match Pin::new(&mut *w).poll_write(cx, &buf[self.pos..self.cap]) {
                Poll::Ready(Ok(0)) => return Err(Fault::Write(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.pos += n;
                    self.bytes += n as u64;
                    self.need_flush = true;
                    moved = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    break;
                }
                Poll::Ready(Err(e)) => return Err(Fault::Write(e)),
                Poll::Pending => break,
            }
        }

        if self.pos == self.cap && self.need_flush {
            match Pin::new(&mut *w).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.need_flush = false,
                Poll::Ready(Err(e)) => return Err(Fault::Write(e)),
                Poll::Pending => {}
            }
        }

        if self.state == State::Draining && self.pos == self.cap {
            if let Some(text) = self.labels.shutdown_start {
                crate::slog!(crate::log::DEBUG, "{text}");
            }
            self.state = State::ShuttingDown;
            moved = true;
        }

        if self.state == State::ShuttingDown {
            match Pin::new(&mut *w).poll_shutdown(cx) {
                Poll::Ready(Ok(())) => {
                    let (level, text) = self.labels.shutdown_done;
                    crate::slog!(level, "{text}");
                    self.need_flush = false;
                    self.state = State::Done;
                    moved = true;
                }
                Poll::Ready(Err(e)) => return Err(Fault::Shutdown(e)),
                Poll::Pending => {}
            }
        }

        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    static LABELS: Labels = Labels {
        eof: "eof",
        read_op: "read",
        write_op: "write",
        hangup: "hangup",
        shutdown_op: "shutdown",
        shutdown_start: None,
        shutdown_done: (crate::log::DEBUG, "done"),
        tls_reader: false,
    };

    /// An idle direction holds no buffer: memory per idle connection is what
    /// the sockets and TLS state need, not 2 × 16 KiB (issue 6).
    #[tokio::test]
    async fn idle_direction_holds_no_buffer() {
        let (mut feed, mut reader) = tokio::io::duplex(64);
        let (mut writer, _sink) = tokio::io::duplex(1 << 20);
        let mut d = Direction::new(&LABELS);
        let moved =
            std::future::poll_fn(|cx| Poll::Ready(d.step(cx, &mut reader, &mut writer))).await;
        assert!(!moved.unwrap(), "nothing to move yet");
        assert!(d.buf.is_none(), "an idle direction keeps a buffer");

        feed.write_all(b"hello").await.unwrap();
        let moved =
            std::future::poll_fn(|cx| Poll::Ready(d.step(cx, &mut reader, &mut writer))).await;
        assert!(moved.unwrap());
        assert_eq!(d.bytes, 5);
        assert!(
            d.buf.is_none(),
            "the buffer went back to the pool once written"
        );
    }

    /// A reader that hands out its chunks, then fails.
    struct ChunksThenError(Vec<&'static [u8]>);

    impl AsyncRead for ChunksThenError {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if self.0.is_empty() {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let chunk = self.0.remove(0);
            buf.put_slice(chunk);
            Poll::Ready(Ok(()))
        }
    }

    /// Several reads per step; a read error after bytes were read in the
    /// same step comes at the next step, after those bytes were written.
    #[tokio::test]
    async fn reads_until_pending_and_defers_an_error_after_bytes() {
        use tokio::io::AsyncReadExt;
        let mut reader = ChunksThenError(vec![b"one ", b"two ", b"three"]);
        let (mut writer, mut sink) = tokio::io::duplex(1 << 20);
        let mut d = Direction::new(&LABELS);
        let first =
            std::future::poll_fn(|cx| Poll::Ready(d.step(cx, &mut reader, &mut writer))).await;
        assert!(first.unwrap(), "three chunks read and written in one step");
        assert_eq!(d.bytes, 13);
        let mut got = [0u8; 13];
        sink.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one two three");
        let second =
            std::future::poll_fn(|cx| Poll::Ready(d.step(cx, &mut reader, &mut writer))).await;
        assert!(
            matches!(second, Err(Fault::Read(e)) if e.kind() == io::ErrorKind::ConnectionReset)
        );
    }
}
