//! The connection type the ports serve: plaintext, or TLS with the handshake done in the
//! connection's own task; a plaintext client on a TLS port gets a clear refusal instead of
//! silence.

use std::{
    future::Future as _,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::stream::Conn;
use crate::tls::server::ServerTls;

/// What a plaintext HTTP/1 client on a TLS port is told.
const PLAINTEXT_HTTP1: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 61\r\n\r\nthis port speaks TLS only: call it with https:// and the CA\r\n";
/// What a plaintext HTTP/2 client (gRPC `-plaintext`) is told: an empty SETTINGS frame,
/// then GOAWAY (PROTOCOL_ERROR) whose debug data says why.
fn plaintext_h2() -> Vec<u8> {
    let message = b"this port speaks TLS only: connect with TLS and the CA";
    let mut frames = vec![0, 0, 0, 4, 0, 0, 0, 0, 0];
    let length = u32::try_from(8 + message.len()).unwrap_or(0).to_be_bytes();
    frames.extend_from_slice(&length[1..]);
    frames.extend_from_slice(&[7, 0, 0, 0, 0, 0]);
    frames.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    frames.extend_from_slice(message);
    frames
}

/// The first byte of every TLS handshake (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// A connection to a port: plaintext, or TLS once its handshake is done.
pub struct ServerIo {
    state: State,
    info: TcpConnectInfo,
    /// Until the first request head is complete: its deadline and its place.
    head: Option<Head>,
}

/// A connection's handshake and first request head: due by a deadline counted from the
/// connection's start, however slowly its bytes come, and holding a place among the
/// connections still handshaking until done.
pub struct Head {
    by: Pin<Box<tokio::time::Sleep>>,
    _place: tokio::sync::OwnedSemaphorePermit,
    /// How much of `\r\n\r\n`, the end of an HTTP/1 head (and of HTTP/2's preface), the
    /// bytes read so far end with.
    matched: u8,
}

impl Head {
    pub fn new(place: tokio::sync::OwnedSemaphorePermit, within: std::time::Duration) -> Self {
        Self {
            by: Box::pin(tokio::time::sleep(within)),
            _place: place,
            matched: 0,
        }
    }

    /// Whether `bytes`, read next, complete the head.
    fn completed_by(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            self.matched = match (self.matched, b) {
                (0 | 2, b'\r') => self.matched + 1,
                (1 | 3, b'\n') => self.matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.matched == 4 {
                return true;
            }
        }
        false
    }
}

enum State {
    Plain(Conn),
    /// Waiting for the first bytes, to tell a TLS client from a plaintext one.
    Peeking(Option<Conn>, Arc<ServerConfig>),
    Handshaking(Box<tokio_rustls::Accept<Conn>>),
    Tls(Box<tokio_rustls::server::TlsStream<Conn>>),
    Refused,
}

impl ServerIo {
    /// `conn`, with TLS under `tls`.
    pub fn new(conn: Conn, tls: Option<&ServerTls>, head: Head) -> Self {
        let info = conn.connect_info();
        let state = match tls {
            Some(tls) => State::Peeking(Some(conn), tls.config()),
            None => State::Plain(conn),
        };
        Self {
            state,
            info,
            head: Some(head),
        }
    }

    /// Moves the handshake on; `Ready(Ok)` once the connection carries plain bytes.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Plain(_) | State::Tls(_) => return Poll::Ready(Ok(())),
                State::Refused => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "a plaintext client on a TLS port",
                    )));
                }
                State::Peeking(conn, config) => {
                    let Some(c) = conn.as_mut() else {
                        self.state = State::Refused;
                        continue;
                    };
                    let mut first = [0u8; 4];
                    let mut buf = ReadBuf::new(&mut first);
                    match c.poll_peek(cx, &mut buf) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Ready(Ok(())) => {}
                    }
                    let seen = buf.filled();
                    if seen.is_empty() {
                        return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                    }
                    if seen[0] != TLS_HANDSHAKE {
                        let answer = if seen.starts_with(b"PRI ") {
                            plaintext_h2()
                        } else {
                            PLAINTEXT_HTTP1.to_vec()
                        };
                        // Best effort: a few bytes into an empty send buffer.
                        c.answer_and_close(&answer);
                        tracing::debug!(peer = ?self.info.remote_addr, "refused a plaintext client on a TLS port");
                        self.state = State::Refused;
                        continue;
                    }
                    let (Some(conn), config) = (conn.take(), Arc::clone(config)) else {
                        continue;
                    };
                    self.state = State::Handshaking(Box::new(
                        tokio_rustls::TlsAcceptor::from(config).accept(conn),
                    ));
                }
                State::Handshaking(accept) => match Pin::new(accept.as_mut()).poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(stream)) => self.state = State::Tls(Box::new(stream)),
                    Poll::Ready(Err(e)) => {
                        tracing::debug!(peer = ?self.info.remote_addr, error = %e, "TLS handshake failed");
                        self.state = State::Refused;
                        return Poll::Ready(Err(e));
                    }
                },
            }
        }
    }
}

impl AsyncRead for ServerIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(head) = &mut this.head
            && head.by.as_mut().poll(cx).is_ready()
        {
            tracing::debug!(peer = ?this.info.remote_addr, "closed a connection that sent no complete request in time");
            this.head = None;
            this.state = State::Refused;
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no complete request within headerReadTimeout of connecting",
            )));
        }
        std::task::ready!(this.poll_ready(cx))?;
        let before = buf.filled().len();
        let read = match &mut this.state {
            State::Plain(c) => Pin::new(c).poll_read(cx, buf),
            State::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        };
        if let (Some(head), Poll::Ready(Ok(()))) = (&mut this.head, &read)
            && head.completed_by(&buf.filled()[before..])
        {
            this.head = None;
        }
        read
    }
}

impl AsyncWrite for ServerIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_ready(cx))?;
        match &mut this.state {
            State::Plain(c) => Pin::new(c).poll_write(cx, buf),
            State::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_ready(cx))?;
        match &mut this.state {
            State::Plain(c) => Pin::new(c).poll_write_vectored(cx, bufs),
            State::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.state {
            State::Plain(c) => c.is_write_vectored(),
            State::Tls(s) => s.is_write_vectored(),
            _ => false,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Plain(c) => Pin::new(c).poll_flush(cx),
            State::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Plain(c) => Pin::new(c).poll_shutdown(cx),
            State::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            _ => Poll::Ready(Ok(())),
        }
    }
}

impl Connected for ServerIo {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.info.clone()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_goaway_frame_is_well_formed() {
        let frames = super::plaintext_h2();
        // SETTINGS: empty, type 4, stream 0.
        assert_eq!(&frames[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let goaway = &frames[9..];
        let length = u32::from_be_bytes([0, goaway[0], goaway[1], goaway[2]]) as usize;
        assert_eq!(goaway[3], 7, "GOAWAY");
        assert_eq!(goaway.len(), 9 + length);
        assert_eq!(&goaway[13..17], &[0, 0, 0, 1], "PROTOCOL_ERROR");
        assert!(String::from_utf8_lossy(&goaway[17..]).contains("TLS only"));
        let text = String::from_utf8_lossy(super::PLAINTEXT_HTTP1);
        let declared: usize = text
            .split("content-length: ")
            .nth(1)
            .and_then(|r| r.split('\r').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let (_, payload) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(payload.len(), declared);
    }

    #[tokio::test]
    async fn a_head_ends_at_its_blank_line_however_it_is_cut() {
        let places = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
        let place = || std::sync::Arc::clone(&places).try_acquire_owned().unwrap();
        let within = std::time::Duration::from_secs(1);
        let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 1..request.len() {
            let mut head = super::Head::new(place(), within);
            let (a, b) = request.split_at(cut);
            assert!(!head.completed_by(a), "{cut}");
            assert!(head.completed_by(b), "{cut}");
        }
        let mut head = super::Head::new(place(), within);
        assert!(!head.completed_by(b"GET / HTTP/1.1\r\nA: b\r\n\rX\n\r\n"));
        assert!(
            super::Head::new(place(), within).completed_by(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        );
    }
}
