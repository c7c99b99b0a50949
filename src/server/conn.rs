//! What a port accepts (docs/design.md §1): at most `maxPerPort` open connections (past it,
//! new ones wait in the kernel's backlog), a first request within `headerReadTimeout`, and
//! no connection that sends nothing for `idleTimeout`. Running out of file descriptors
//! pauses accepting with one warning, instead of retrying at full speed.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};
use tokio_stream::Stream;
use tokio_util::sync::PollSemaphore;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::{
    service::ConnectionSettings,
    telemetry::Throttle,
    tls::server::{ServerIo, ServerTls},
};

/// How long accepting pauses after the process ran out of descriptors, at first and at most.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// The connections of one port, as a stream tonic serves.
pub struct Incoming {
    listener: TcpListener,
    permits: PollSemaphore,
    /// A permit taken for the next connection, kept while accept is pending.
    permit: Option<OwnedSemaphorePermit>,
    settings: ConnectionSettings,
    /// Accepting pauses until this fires, after running out of descriptors.
    pause: Option<Pin<Box<Sleep>>>,
    backoff: Duration,
    /// One warning per minute of running out.
    warnings: Throttle,
    /// TLS, when the ports speak it.
    tls: Option<Arc<ServerTls>>,
    /// Counts the connections accepted.
    accepted: metrics::Counter,
}

impl Incoming {
    /// The connections of `service`'s port.
    pub fn new(
        service: &'static str,
        listener: TcpListener,
        settings: ConnectionSettings,
        tls: Option<Arc<ServerTls>>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.max_per_port.max(1)));
        Self {
            listener,
            permits: PollSemaphore::new(permits),
            permit: None,
            settings,
            pause: None,
            backoff: BACKOFF.0,
            warnings: Throttle::per_minute(),
            tls,
            accepted: metrics::counter!(super::metrics::CONNECTIONS, "service" => service),
        }
    }
}

/// Errors that mean "no resources right now" rather than "this one connection failed".
fn out_of_resources(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
    }
    #[cfg(not(unix))]
    {
        let _ = e;
        false
    }
}

impl Stream for Incoming {
    type Item = io::Result<ServerIo>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(pause) = this.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            if this.permit.is_none() {
                match this.permits.poll_acquire(cx) {
                    Poll::Ready(Some(permit)) => this.permit = Some(permit),
                    // The semaphore is never closed.
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match this.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    this.backoff = BACKOFF.0;
                    // Without NODELAY, small response frames wait for delayed ACKs.
                    let _ = stream.set_nodelay(true);
                    let Some(permit) = this.permit.take() else {
                        continue;
                    };
                    this.accepted.increment(1);
                    let conn = Conn::new(stream, permit, &this.settings);
                    return Poll::Ready(Some(Ok(ServerIo::new(conn, this.tls.as_deref()))));
                }
                Poll::Ready(Err(e)) if out_of_resources(&e) => {
                    if this.warnings.ready() {
                        tracing::warn!(
                            error = %e,
                            "cannot accept connections: out of file descriptors or memory; pausing accepts until some close"
                        );
                    }
                    this.pause = Some(Box::pin(tokio::time::sleep(this.backoff)));
                    this.backoff = (this.backoff * 2).min(BACKOFF.1);
                }
                // One connection failed (reset before it was accepted): try the next.
                Poll::Ready(Err(e)) => tracing::debug!(error = %e, "accept failed"),
            }
        }
    }
}

/// An accepted connection: closed when it sends nothing in time, and counted against the
/// port's limit until it closes.
pub struct Conn {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    idle_timeout: Duration,
    /// When the connection times out unless it sends something; moved forward lazily.
    deadline: Pin<Box<Sleep>>,
    /// The last time bytes arrived (`None`: not yet; the header-read timeout applies).
    last_read: Option<Instant>,
}

impl Conn {
    fn new(stream: TcpStream, permit: OwnedSemaphorePermit, settings: &ConnectionSettings) -> Self {
        Self {
            stream,
            _permit: permit,
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
