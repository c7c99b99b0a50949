//! The gRPC side of a load run: one bare HTTP/2 connection (the `h2` crate) per `-c`,
//! sending the request framed once, up front, with its headers made once too, and reading
//! the answer's status without decoding its message, as h2load does. Through tonic's
//! `Channel` (or hyper's client), each call also crossed a buffer task, a body task and a
//! codec, and the load generator, not the server, set the pace (issue 13: it must drive at
//! least 80% of what h2load does).

use std::{sync::Arc, time::Duration};

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use tonic::Code;

use super::request::GrpcCall;

/// What every call sends: the same request, made once.
struct Template {
    uri: Uri,
    headers: HeaderMap,
    /// The message in its gRPC frame (uncompressed flag, length, bytes).
    body: Bytes,
    timeout: Duration,
}

/// One connection, shared by the calls in flight on it.
#[derive(Clone)]
pub struct Connection {
    send: SendRequest<Bytes>,
    template: Arc<Template>,
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
        let tcp = tokio::net::TcpStream::connect(options.target)
            .await
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let send = match options.tls {
            None => handshake(tcp).await?,
            Some(tls) => {
                let mut config = tls.rustls().map_err(|e| e.to_string())?;
                config.alpn_protocols = vec![b"h2".to_vec()];
                let host = uri.host().unwrap_or_default().to_owned();
                let name = rustls::pki_types::ServerName::try_from(host)
                    .map_err(|e| format!("server name: {e}"))?;
                let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                handshake(stream).await?
            }
        };
        Ok(Self {
            send,
            template: Arc::new(Template {
                headers: headers(options)?,
                body: frame(&call.body),
                uri,
                timeout: options.timeout,
            }),
        })
    }

    /// Makes one call: `Ok` when it answered OK, else the gRPC code it failed with
    /// (UNAVAILABLE when the connection failed, DEADLINE_EXCEEDED past the timeout).
    pub async fn call(&mut self) -> Result<(), Code> {
        let t = Arc::clone(&self.template);
        let send = &mut self.send;
        let answered = tokio::time::timeout(t.timeout, async move {
            std::future::poll_fn(|cx| send.poll_ready(cx))
                .await
                .map_err(|_| Code::Unavailable)?;
            let mut request = Request::new(());
            *request.method_mut() = Method::POST;
            *request.uri_mut() = t.uri.clone();
            *request.headers_mut() = t.headers.clone();
            let (response, mut stream) = send
                .send_request(request, false)
                .map_err(|_| Code::Unavailable)?;
            stream
                .send_data(t.body.clone(), true)
                .map_err(|_| Code::Unavailable)?;
            let (parts, mut body) = response.await.map_err(|_| Code::Unavailable)?.into_parts();
            if parts.status != http::StatusCode::OK {
                return Err(crate::server::endpoint::code_of_http(parts.status));
            }
            // Trailers-only answers carry the status in the headers.
            if let Some(code) = status(&parts.headers) {
                return result(code);
            }
            while let Some(data) = body.data().await {
                let data = data.map_err(|_| Code::Unavailable)?;
                // Read: the server may send as much again.
                let _ = body.flow_control().release_capacity(data.len());
            }
            let trailers = body.trailers().await.map_err(|_| Code::Unavailable)?;
            result(trailers.as_ref().and_then(status).unwrap_or(Code::Unknown))
        })
        .await;
        answered.unwrap_or(Err(Code::DeadlineExceeded))
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

fn status(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get("grpc-status")?;
    Some(Code::from_bytes(value.as_bytes()))
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

    #[test]
    fn requests_are_framed_once() {
        assert_eq!(&frame(b"\x0a\x011")[..], b"\x00\x00\x00\x00\x03\x0a\x011");
        assert_eq!(&frame(b"")[..], b"\x00\x00\x00\x00\x00");
    }

    #[test]
    fn statuses_come_from_headers_or_trailers() {
        let mut headers = HeaderMap::new();
        assert_eq!(status(&headers), None);
        headers.insert("grpc-status", HeaderValue::from_static("5"));
        assert_eq!(status(&headers), Some(Code::NotFound));
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
