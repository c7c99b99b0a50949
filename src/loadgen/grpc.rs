//! The gRPC side of a load run: one bare HTTP/2 connection (the `h2` crate) per `-c`,
//! sending the request framed once, up front, with its headers made once too, and reading
//! the answer's status without decoding its message, as h2load does. Through tonic's
//! `Channel` (or hyper's client), each call would also cross a buffer task, a body task and
//! a codec, and the load generator, not the server, would set the pace.

use std::{sync::Arc, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use tonic::Code;

use super::request::GrpcCall;

/// What every call sends, made once: the headers, and the request (or the numbered
/// requests) each in its gRPC frame (uncompressed flag, length, bytes).
struct Template {
    uri: Uri,
    headers: HeaderMap,
    bodies: GrpcCall,
    timeout: Duration,
}

impl Template {
    fn request(&self) -> Request<()> {
        let mut request = Request::new(());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// How to make the connection again.
struct Dial {
    target: String,
    /// With ALPN `h2` only.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Dial {
    async fn connect(&self, uri: &Uri) -> Result<SendRequest<Bytes>, String> {
        let tcp = tokio::net::TcpStream::connect(&self.target)
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        match &self.tls {
            None => handshake(tcp).await,
            Some(config) => {
                let host = uri.host().unwrap_or_default().to_owned();
                let name = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| format!("server name: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                handshake(stream).await
            }
        }
    }
}

/// What the calls of one connection share: the request, and the connection as it is now
/// (made again when it broke), numbered so that it is made again once, not once per call.
struct Shared {
    template: Template,
    dial: Dial,
    current: tokio::sync::Mutex<(u64, SendRequest<Bytes>)>,
}

/// One connection, shared by the calls in flight on it (each holds a clone).
#[derive(Clone)]
pub struct Connection {
    send: SendRequest<Bytes>,
    generation: u64,
    shared: Arc<Shared>,
}

/// What a call needs besides the connection.
pub struct Options<'a> {
    pub target: &'a str,
    pub tls: Option<&'a crate::tls::ClientTls>,
    pub token: Option<&'a str>,
    pub timeout: Duration,
}

impl Connection {
    /// Connects to `options.target` and makes the HTTP/2 handshake; the message is a
    /// reason, for [`super::LoadError::Connect`].
    pub async fn open(call: &GrpcCall, options: &Options<'_>) -> Result<Self, String> {
        let scheme = crate::tls::scheme(options.tls);
        let uri: Uri = format!("{scheme}://{}{}", options.target, call.path)
            .parse()
            .map_err(|e| format!("{e}"))?;
        let tls = match options.tls {
            None => None,
            Some(tls) => {
                let mut config = tls.rustls().map_err(|e| e.to_string())?;
                config.alpn_protocols = vec![b"h2".to_vec()];
                Some(Arc::new(config))
            }
        };
        let dial = Dial {
            target: options.target.to_owned(),
            tls,
        };
        let send = dial.connect(&uri).await?;
        Ok(Self {
            send: send.clone(),
            generation: 0,
            shared: Arc::new(Shared {
                template: Template {
                    headers: headers(options)?,
                    bodies: GrpcCall {
                        bodies: call.bodies.iter().map(|b| frame(b)).collect(),
                        ..call.clone()
                    },
                    uri,
                    timeout: options.timeout,
                },
                dial,
                current: tokio::sync::Mutex::new((0, send)),
            }),
        })
    }

    /// Makes one call: `Ok` when it answered OK, else the gRPC code it failed with
    /// (UNAVAILABLE when the connection failed, DEADLINE_EXCEEDED past the timeout). A
    /// connection found closed before the call is sent is made again, as tonic's channel
    /// does, so a server that restarts mid-run is called again once it is back.
    pub async fn call(&mut self) -> Result<(), Code> {
        let shared = Arc::clone(&self.shared);
        let t = &shared.template;
        let answered = tokio::time::timeout(t.timeout, async move {
            let (response, mut stream) = match self.start().await {
                Ok(started) => started,
                // Not sent: the connection had closed (or refuses new streams).
                Err(_) => {
                    self.reconnect().await?;
                    self.start().await.map_err(|_| Code::Unavailable)?
                }
            };
            stream
                .send_data(t.bodies.next_body().clone(), true)
                .map_err(|_| Code::Unavailable)?;
            let (parts, mut body) = response.await.map_err(|_| Code::Unavailable)?.into_parts();
            if parts.status != http::StatusCode::OK {
                return Err(crate::codes::of_http(parts.status));
            }
            // Trailers-only answers carry the status in the headers.
            if let Some(code) = crate::codes::of_headers(&parts.headers) {
                return result(code);
            }
            while let Some(data) = body.data().await {
                let data = data.map_err(|_| Code::Unavailable)?;
                // Read: the server may send as much again.
                let _ = body.flow_control().release_capacity(data.len());
            }
            let trailers = body.trailers().await.map_err(|_| Code::Unavailable)?;
            result(
                trailers
                    .as_ref()
                    .and_then(crate::codes::of_headers)
                    .unwrap_or(Code::Unknown),
            )
        })
        .await;
        answered.unwrap_or(Err(Code::DeadlineExceeded))
    }

    /// Opens the call's stream, its headers sent.
    async fn start(
        &mut self,
    ) -> Result<(h2::client::ResponseFuture, h2::SendStream<Bytes>), h2::Error> {
        std::future::poll_fn(|cx| self.send.poll_ready(cx)).await?;
        self.send
            .send_request(self.shared.template.request(), false)
    }

    /// Takes the connection made after the one this call found closed, making it if no
    /// other call has yet.
    async fn reconnect(&mut self) -> Result<(), Code> {
        let mut current = self.shared.current.lock().await;
        if current.0 == self.generation {
            let send = self
                .shared
                .dial
                .connect(&self.shared.template.uri)
                .await
                .map_err(|_| Code::Unavailable)?;
            *current = (current.0.wrapping_add(1), send);
        }
        self.generation = current.0;
        self.send = current.1.clone();
        Ok(())
    }
}

async fn handshake<S>(stream: S) -> Result<SendRequest<Bytes>, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, connection) = h2::client::handshake(stream)
        .await
        .map_err(|e| format!("HTTP/2: {e}"))?;
    tokio::spawn(async move {
        // Its end is seen by the calls, which fail with UNAVAILABLE.
        let _ = connection.await;
    });
    Ok(send)
}

/// The headers of every call: a gRPC request with the run's timeout and token.
fn headers(options: &Options<'_>) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(header::TE, HeaderValue::from_static("trailers"));
    let millis = options.timeout.as_millis().clamp(1, 99_999_999);
    headers.insert(
        "grpc-timeout",
        HeaderValue::try_from(format!("{millis}m")).map_err(|e| e.to_string())?,
    );
    if let Some(token) = options.token {
        let mut value = HeaderValue::try_from(format!("Bearer {token}"))
            .map_err(|_| "the token is not a valid header value".to_owned())?;
        value.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

/// `message` in a gRPC frame: not compressed, its length, its bytes.
fn frame(message: &[u8]) -> Bytes {
    let mut framed = BytesMut::with_capacity(5 + message.len());
    framed.put_u8(0);
    framed.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    framed.put_slice(message);
    framed.freeze()
}

fn result(code: Code) -> Result<(), Code> {
    match code {
        Code::Ok => Ok(()),
        code => Err(code),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gRPC server (the health service) on `listener`, until `stop`.
    fn health_server(
        listener: tokio::net::TcpListener,
        stop: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let (_, health) = tonic_health::server::health_reporter();
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(health)
                .serve_with_incoming_shutdown(
                    tonic::transport::server::TcpIncoming::from(listener),
                    stop.cancelled_owned(),
                )
                .await
                .unwrap();
        })
    }

    #[tokio::test]
    async fn a_server_that_restarts_is_called_again() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = health_server(listener, stop.clone());
        let call = GrpcCall {
            path: "/grpc.health.v1.Health/Check".parse().unwrap(),
            bodies: Arc::from([Bytes::new()]),
            numbering: super::super::request::Numbering::new(1),
            name: "grpc.health.v1.Health/Check".into(),
        };
        let options = Options {
            target: &addr,
            tls: None,
            token: None,
            timeout: Duration::from_secs(5),
        };
        let mut first = Connection::open(&call, &options).await.unwrap();
        let mut second = first.clone();
        assert_eq!(first.call().await, Ok(()));

        // Gone: calls fail, quickly, as unavailable.
        stop.cancel();
        server.await.unwrap();
        assert_eq!(first.call().await, Err(Code::Unavailable));
        assert_eq!(second.call().await, Err(Code::Unavailable));

        // Back on the same port: both callers are answered again, over one new connection.
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = health_server(listener, stop.clone());
        assert_eq!(first.call().await, Ok(()));
        assert_eq!(second.call().await, Ok(()));
        assert_eq!(first.generation, second.generation);
        stop.cancel();
        server.await.unwrap();
    }

    #[test]
    fn requests_are_framed_once() {
        assert_eq!(&frame(b"\x0a\x011")[..], b"\x00\x00\x00\x00\x03\x0a\x011");
        assert_eq!(&frame(b"")[..], b"\x00\x00\x00\x00\x00");
    }

    #[test]
    fn statuses_come_from_headers_or_trailers() {
        let mut headers = HeaderMap::new();
        assert_eq!(crate::codes::of_headers(&headers), None);
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        assert_eq!(crate::codes::of_headers(&headers), Some(Code::NotFound));
        assert_eq!(result(Code::NotFound), Err(Code::NotFound));
        assert_eq!(result(Code::Ok), Ok(()));
    }

    #[test]
    fn the_token_is_a_sensitive_header() {
        let options = Options {
            target: "127.0.0.1:1",
            tls: None,
            token: Some("abc"),
            timeout: Duration::from_secs(5),
        };
        let headers = headers(&options).unwrap();
        assert!(headers[header::AUTHORIZATION].is_sensitive());
        assert_eq!(headers["grpc-timeout"], "5000m");
    }
}
