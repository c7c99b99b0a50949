//! What a port accepts (docs/design.md §1): at most `maxPerPort` open connections (past it,
//! new ones wait in the kernel's backlog), a first request within `headerReadTimeout`, and
//! no connection that sends nothing for `idleTimeout`. Running out of file descriptors
//! pauses accepting with one warning, instead of retrying at full speed.

use std::{
    future::Future,
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
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::Sleep,
};
use tokio_stream::Stream;
use tokio_util::sync::PollSemaphore;

mod stream;
mod tls;

use self::{
    stream::{Conn, Load},
    tls::ServerIo,
};
use crate::{service::ConnectionSettings, telemetry::Throttle, tls::server::ServerTls};

/// How long accepting pauses after the process ran out of descriptors, at first and at most.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// Accepts one port's connections and spreads them over the workers ([`super::workers`]):
/// each goes to the worker with the fewest open, which serves it from then on.
pub struct Acceptor {
    listener: TcpListener,
    permits: PollSemaphore,
    /// A permit taken for the next connection, kept while accept is pending.
    permit: Option<OwnedSemaphorePermit>,
    /// Places for connections still in their handshake or first request head.
    handshakes: PollSemaphore,
    /// One taken for the next connection.
    handshake: Option<OwnedSemaphorePermit>,
    /// Accepting pauses until this fires, after running out of descriptors.
    pause: Option<Pin<Box<Sleep>>>,
    backoff: Duration,
    /// One warning per minute of running out.
    warnings: Throttle,
    /// Counts the connections accepted.
    accepted: metrics::Counter,
    lanes: Vec<LaneSender>,
    /// Where the search for the least loaded lane starts: ties go round.
    next: usize,
}

/// A connection on its way to a worker: the socket (registered with no event loop yet),
/// the port's permit and the worker's count of open connections.
struct Accepted {
    stream: std::net::TcpStream,
    permit: OwnedSemaphorePermit,
    /// Its place among the connections still handshaking.
    handshake: OwnedSemaphorePermit,
    load: Load,
}

/// A connection's place on the port, and among those still handshaking.
type Permits = (OwnedSemaphorePermit, OwnedSemaphorePermit);

/// One worker's share of a port, as the acceptor sees it.
struct LaneSender {
    sender: mpsc::UnboundedSender<Accepted>,
    open: Arc<AtomicUsize>,
}

/// One worker's connections of a port, as a stream tonic serves (polled on that worker).
pub struct Lane {
    receiver: mpsc::UnboundedReceiver<Accepted>,
    settings: ConnectionSettings,
    /// TLS, when the ports speak it.
    tls: Option<Arc<ServerTls>>,
}

impl Acceptor {
    /// The acceptor of `service`'s port, and one lane per worker (`workers`, at least one).
    pub fn new(
        service: &'static str,
        listener: TcpListener,
        settings: &ConnectionSettings,
        tls: Option<Arc<ServerTls>>,
        workers: usize,
    ) -> (Self, Vec<Lane>) {
        let permits = Arc::new(Semaphore::new(settings.max_per_port.max(1)));
        let handshaking = settings.max_handshaking.min(settings.max_per_port).max(1);
        let handshakes = Arc::new(Semaphore::new(handshaking));
        let (senders, lanes) = (0..workers.max(1))
            .map(|_| {
                let (sender, receiver) = mpsc::unbounded_channel();
                let lane = Lane {
                    receiver,
                    settings: settings.clone(),
                    tls: tls.clone(),
                };
                let open = Arc::new(AtomicUsize::new(0));
                (LaneSender { sender, open }, lane)
            })
            .unzip();
        let acceptor = Self {
            listener,
            permits: PollSemaphore::new(permits),
            permit: None,
            handshakes: PollSemaphore::new(handshakes),
            handshake: None,
            pause: None,
            backoff: BACKOFF.0,
            warnings: Throttle::per_minute(),
            accepted: metrics::counter!(super::metrics::CONNECTIONS, "service" => service),
            lanes: senders,
            next: 0,
        };
        (acceptor, lanes)
    }

    /// Accepts and hands out connections until every lane is gone (their servers stopped).
    pub async fn run(mut self) {
        while let Some((stream, permits)) = std::future::poll_fn(|cx| self.poll_accept(cx)).await {
            // Leaves this thread's event loop; the worker's registers it with its own.
            let stream = match stream.into_std() {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot hand a connection to a worker");
                    continue;
                }
            };
            if !self.hand_out(stream, permits) {
                return;
            }
        }
    }

    /// Gives a connection to the lane with the fewest open; `false` once no lane takes
    /// connections any more (their servers stopped).
    fn hand_out(&mut self, mut stream: std::net::TcpStream, mut permits: Permits) -> bool {
        loop {
            let count = self.lanes.len();
            let Some(index) = (0..count)
                .map(|i| (self.next + i) % count)
                .min_by_key(|&i| self.lanes[i].open.load(Ordering::Relaxed))
            else {
                return false;
            };
            self.next = (index + 1) % count;
            let lane = &self.lanes[index];
            lane.open.fetch_add(1, Ordering::Relaxed);
            let accepted = Accepted {
                stream,
                permit: permits.0,
                handshake: permits.1,
                load: Load(Arc::clone(&lane.open)),
            };
            match lane.sender.send(accepted) {
                Ok(()) => return true,
                // That worker's server stopped: the others take its share.
                Err(mpsc::error::SendError(back)) => {
                    (stream, permits) = (back.stream, (back.permit, back.handshake));
                    self.lanes.remove(index);
                    self.next = 0;
                }
            }
        }
    }

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<Option<(TcpStream, Permits)>> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.pause = None;
            }
            if self.permit.is_none() {
                match self.permits.poll_acquire(cx) {
                    Poll::Ready(Some(permit)) => self.permit = Some(permit),
                    // The semaphore is never closed.
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            }
            if self.handshake.is_none() {
                match self.handshakes.poll_acquire(cx) {
                    Poll::Ready(Some(permit)) => self.handshake = Some(permit),
                    Poll::Ready(None) => return Poll::Ready(None),
                    Poll::Pending => return Poll::Pending,
                }
            }
            match self.listener.poll_accept(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok((stream, _))) => {
                    self.backoff = BACKOFF.0;
                    // Without NODELAY, small response frames wait for delayed ACKs.
                    let _ = stream.set_nodelay(true);
                    let (Some(permit), Some(handshake)) =
                        (self.permit.take(), self.handshake.take())
                    else {
                        continue;
                    };
                    self.accepted.increment(1);
                    return Poll::Ready(Some((stream, (permit, handshake))));
                }
                Poll::Ready(Err(e)) if out_of_resources(&e) => {
                    if self.warnings.ready() {
                        tracing::warn!(
                            error = %e,
                            "cannot accept connections: out of file descriptors or memory; pausing accepts until some close"
                        );
                    }
                    self.pause = Some(Box::pin(tokio::time::sleep(self.backoff)));
                    self.backoff = (self.backoff * 2).min(BACKOFF.1);
                }
                // One connection failed (reset before it was accepted): try the next.
                Poll::Ready(Err(e)) => tracing::debug!(error = %e, "accept failed"),
            }
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

impl Stream for Lane {
    type Item = io::Result<ServerIo>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(accepted) = std::task::ready!(this.receiver.poll_recv(cx)) else {
            return Poll::Ready(None);
        };
        // Registered with this worker's event loop, where it is served from now on.
        let stream = match TcpStream::from_std(accepted.stream) {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        let conn = Conn::new(stream, accepted.permit, accepted.load, &this.settings);
        let head = tls::Head::new(accepted.handshake, this.settings.header_read_timeout.get());
        Poll::Ready(Some(Ok(ServerIo::new(conn, this.tls.as_deref(), head))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    /// Connects `n` clients to `addr`, kept open.
    async fn connect(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
        let mut clients = Vec::new();
        for _ in 0..n {
            clients.push(TcpStream::connect(addr).await.unwrap());
        }
        clients
    }

    /// The next connection a lane yields, within a second.
    async fn next(lane: &mut Lane) -> ServerIo {
        tokio::time::timeout(Duration::from_secs(1), lane.next())
            .await
            .expect("the lane got no connection")
            .expect("the lane ended")
            .unwrap()
    }

    #[tokio::test]
    async fn connections_go_to_the_lane_with_the_fewest_open() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (acceptor, lanes) =
            Acceptor::new("test", listener, &ConnectionSettings::default(), None, 2);
        let [mut a, mut b]: [Lane; 2] = lanes.try_into().ok().unwrap();
        let accepting = tokio::spawn(acceptor.run());

        // Four connections: two each, in turn.
        let _clients = connect(addr, 4).await;
        let mut on_a = vec![next(&mut a).await, next(&mut a).await];
        let on_b = [next(&mut b).await, next(&mut b).await];
        // Two of a's close: the next two go to a, which now has fewer.
        on_a.truncate(0);
        let _more = connect(addr, 2).await;
        let _again = [next(&mut a).await, next(&mut a).await];
        assert!(
            tokio::time::timeout(Duration::from_millis(100), b.next())
                .await
                .is_err(),
            "b got a connection while a had fewer"
        );

        // A lane whose server is gone is skipped.
        drop(a);
        let _late = connect(addr, 1).await;
        next(&mut b).await;
        drop(on_b);
        // With no lane left, the acceptor ends.
        drop(b);
        let _last = connect(addr, 1).await;
        tokio::time::timeout(Duration::from_secs(1), accepting)
            .await
            .expect("the acceptor did not end with its lanes")
            .unwrap();
    }

    #[tokio::test]
    async fn a_port_holds_at_most_max_per_port_connections() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = ConnectionSettings {
            max_per_port: 2,
            ..ConnectionSettings::default()
        };
        let (acceptor, lanes) = Acceptor::new("test", listener, &settings, None, 2);
        let [mut a, mut b]: [Lane; 2] = lanes.try_into().ok().unwrap();
        tokio::spawn(acceptor.run());
        let _clients = connect(addr, 3).await;
        let first = next(&mut a).await;
        let _second = next(&mut b).await;
        // The third waits in the backlog while two are open, on whichever lane.
        let waiting = tokio::time::timeout(Duration::from_millis(200), async {
            tokio::select! { _ = a.next() => {}, _ = b.next() => {} }
        });
        assert!(waiting.await.is_err(), "a third connection was handed out");
        drop(first);
        next(&mut a).await;
    }
}
