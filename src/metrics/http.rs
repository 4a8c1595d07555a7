//! The HTTP endpoint for [`Metrics`]: `GET /metrics` (Prometheus text format 0.0.4) and
//! `GET /health` or `/healthz` (200 or 503 with a small JSON body); anything else is 404.
//!
//! Written over tokio's `TcpListener` rather than with an HTTP framework: two GET routes with no
//! body, one response per connection (`Connection: close`), is a few dozen lines, and it keeps the
//! worker's binary and idle memory small (see docs/dependencies.md). The limits are what make it
//! safe to expose next to a worker that must not be disturbed:
//!
//! * a request head larger than [`MAX_REQUEST_BYTES`] gets 431 and the connection is closed;
//! * a client that has not sent its head within [`READ_TIMEOUT`] gets 408 (slowloris);
//! * a client that does not take the response within [`WRITE_TIMEOUT`] is dropped;
//! * at most [`MAX_CONNECTIONS`] connections are served at once; more are closed on accept;
//! * each connection is its own task, so none of this ever waits in the worker's loop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{text, Metrics};

/// The largest request head (request line and headers) read.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client may take to read the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Serve `metrics` on `listener` until `shutdown` completes; then stop accepting and drop the
/// connections still open. Accept errors (out of file descriptors) are logged and retried after a
/// pause; nothing here can end the worker.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Over the limit: closing at once is the cheapest answer.
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        continue;
                    };
                    let metrics = Arc::clone(&metrics);
                    connections.spawn(async move {
                        handle(stream, &metrics).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

/// How reading a request head ended.
enum Head {
    /// The head, up to and including its blank line.
    Complete(Vec<u8>),
    /// Larger than [`MAX_REQUEST_BYTES`].
    TooLarge,
    /// The client closed before finishing it.
    Closed,
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Closed);
        }
        let searched = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf[searched..]) {
            buf.truncate(searched + end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_REQUEST_BYTES {
            return Ok(Head::TooLarge);
        }
    }
}

/// Where the head ends (after `\r\n\r\n`, or `\n\n` from lenient clients).
fn head_end(buf: &[u8]) -> Option<usize> {
    (0..buf.len()).find_map(|i| {
        if buf[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if buf[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// A response to write.
struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    allow: bool,
}

impl Response {
    fn plain(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{body}\n").into_bytes(),
            allow: false,
        }
    }

    fn encode(&self, with_body: bool) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            431 => "Request Header Fields Too Large",
            503 => "Service Unavailable",
            _ => "Error",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
            self.status,
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if self.allow {
            out.extend_from_slice(b"Allow: GET, HEAD\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if with_body {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

/// What the request line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Request<'a> {
    /// GET or HEAD of a path (query string removed).
    Get { path: &'a str, head: bool },
    /// Another method.
    OtherMethod,
    /// Not an HTTP/1.x request line.
    Malformed,
}

fn parse_request_line(head: &[u8]) -> Request<'_> {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(&head[..line_end]) else {
        return Request::Malformed;
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Malformed;
    };
    if !version.starts_with("HTTP/1.") || !target.starts_with('/') {
        return Request::Malformed;
    }
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    match method {
        "GET" => Request::Get { path, head: false },
        "HEAD" => Request::Get { path, head: true },
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Request::OtherMethod,
        _ => Request::Malformed,
    }
}

async fn respond(metrics: &Metrics, path: &str) -> Response {
    match path {
        "/metrics" => Response {
            status: 200,
            content_type: text::CONTENT_TYPE,
            body: metrics.render().await.into_bytes(),
            allow: false,
        },
        "/health" | "/healthz" => {
            let health = metrics.health().await;
            let mut body = health.body.into_bytes();
            body.push(b'\n');
            Response {
                status: if health.ok { 200 } else { 503 },
                content_type: "application/json",
                body,
                allow: false,
            }
        }
        _ => Response::plain(404, "not found (try /metrics or /health)"),
    }
}

async fn handle(mut stream: TcpStream, metrics: &Metrics) {
    let (response, with_body) =
        match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
            Err(_) => (Response::plain(408, "request timeout"), true),
            Ok(Ok(Head::TooLarge)) => (Response::plain(431, "request head too large"), true),
            Ok(Ok(Head::Closed)) | Ok(Err(_)) => return,
            Ok(Ok(Head::Complete(head))) => match parse_request_line(&head) {
                Request::Get { path, head } => (respond(metrics, path).await, !head),
                Request::OtherMethod => {
                    let mut r = Response::plain(405, "method not allowed");
                    r.allow = true;
                    (r, true)
                }
                Request::Malformed => (Response::plain(400, "bad request"), true),
            },
        };
    let bytes = response.encode(with_body);
    let written = tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(written, Ok(Ok(()))) {
        // Closing with unread input makes the kernel answer with a reset, which can destroy the
        // response before the client reads it (a 431 to a client still sending): read what is
        // left first, within bounds.
        let _ = tokio::time::timeout(LINGER, async {
            let mut sink = [0u8; 4096];
            let mut drained = 0usize;
            while drained < LINGER_BYTES {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => drained += n,
                }
            }
        })
        .await;
    }
}

/// How long, and how much, unread input is drained before closing (see `handle`).
const LINGER: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            parse_request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Request::Get {
                path: "/metrics",
                head: false
            }
        );
        assert_eq!(
            parse_request_line(b"HEAD /healthz?verbose=1 HTTP/1.0\r\n\r\n"),
            Request::Get {
                path: "/healthz",
                head: true
            }
        );
        assert_eq!(
            parse_request_line(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Request::OtherMethod
        );
        for bad in [
            &b"GET /metrics\r\n\r\n"[..],
            b"GET  /metrics HTTP/1.1\r\n\r\n",
            b"GET metrics HTTP/1.1\r\n\r\n",
            b"GET /metrics SPDY/3\r\n\r\n",
            b"get /metrics HTTP/1.1\r\n\r\n",
            b"\xff\xfe /metrics HTTP/1.1\r\n\r\n",
            b"",
        ] {
            assert_eq!(parse_request_line(bad), Request::Malformed, "{bad:?}");
        }
    }

    #[test]
    fn heads_end_at_the_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n\r\nbody"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }

    #[test]
    fn responses_close_and_head_has_no_body() {
        let r = Response::plain(404, "nope");
        let full = String::from_utf8(r.encode(true)).unwrap();
        assert!(full.starts_with("HTTP/1.1 404 Not Found\r\n"), "{full}");
        assert!(full.contains("Content-Length: 5\r\n"));
        assert!(full.contains("Connection: close\r\n"));
        assert!(full.ends_with("\r\n\r\nnope\n"));
        let head = String::from_utf8(r.encode(false)).unwrap();
        assert!(head.ends_with(
            "Content-Length: 5\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ));
    }
}
