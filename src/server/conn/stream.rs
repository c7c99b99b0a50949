//! An accepted connection, with its idle and header-read timeouts and its place in the
//! port's and the worker's counts.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::OwnedSemaphorePermit,
    time::{Instant, Sleep},
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::service::ConnectionSettings;

/// Counts a connection against its worker until it closes.
pub(super) struct Load(pub(super) Arc<AtomicUsize>);

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An accepted connection: closed when it sends nothing in time, and counted against the
/// port's limit until it closes.
pub struct Conn {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    _load: Load,
    idle_timeout: Duration,
    /// When the connection times out unless it sends something; moved forward lazily.
    deadline: Pin<Box<Sleep>>,
    /// The last time bytes arrived (`None`: not yet; the header-read timeout applies).
    last_read: Option<Instant>,
}

impl Conn {
    pub(super) fn new(
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        load: Load,
        settings: &ConnectionSettings,
    ) -> Self {
        Self {
            stream,
            _permit: permit,
            _load: load,
            idle_timeout: settings.idle_timeout.get(),
            deadline: Box::pin(tokio::time::sleep(settings.header_read_timeout.get())),
            last_read: None,
        }
    }

    /// Looks at the first bytes without taking them; the header-read timeout applies.
    pub fn poll_peek(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream.poll_peek(cx, buf) {
            Poll::Ready(result) => Poll::Ready(result.map(drop)),
            Poll::Pending if self.poll_expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client sent no request in time",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A last word before closing, without waiting: takes what the client sent so far (so
    /// closing does not reset the connection under the answer), then writes `bytes`.
    pub fn answer_and_close(&self, bytes: &[u8]) {
        let mut sink = [0u8; 4096];
        for _ in 0..16 {
            match self.stream.try_read(&mut sink) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
        let _ = self.stream.try_write(bytes);
    }

    /// Who is on the other end.
    pub fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }

    /// Whether the connection has been silent for too long; moves the timer forward when
    /// bytes arrived since it was set (cheaper than resetting it on every read).
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> bool {
        loop {
            if self.deadline.as_mut().poll(cx).is_pending() {
                return false;
            }
            match self.last_read {
                Some(last) if last + self.idle_timeout > Instant::now() => {
                    self.deadline.as_mut().reset(last + self.idle_timeout);
                }
                _ => return true,
            }
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    if this.last_read.is_none() {
                        // The first bytes: from now on the idle timeout applies.
                        this.deadline
                            .as_mut()
                            .reset(Instant::now() + this.idle_timeout);
                    }
                    this.last_read = Some(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending if this.poll_expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                match this.last_read {
                    None => "the client sent no request in time",
                    Some(_) => "the connection was idle for too long",
                },
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
