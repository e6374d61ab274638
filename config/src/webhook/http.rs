//! A minimal HTTP/1.1 server side for one connection: just what the API server and the kubelet's
//! probes send.
//!
//! Requests are read with bounded sizes (head 16 KiB, body `max_body_bytes`, `Content-Length` or
//! chunked) and deadlines (the idle timeout until a request starts, then the request timeout for
//! the whole request). Keep-alive and `Expect: 100-continue` are supported; pipelined bytes are
//! kept for the next request. Anything the parser does not accept is answered with a 4xx/5xx and
//! the connection is closed.

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout, timeout_at, Instant};

/// Largest request head (request line + headers).
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Size and time bounds for reading a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub body: Vec<u8>,
    /// The client asked to close after this request (or speaks HTTP/1.0).
    pub close: bool,
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed the connection between requests, or stayed idle too long: close quietly.
    Closed,
    /// The request is not acceptable: answer with this status and message, then close.
    Reject(u16, String),
    /// The request did not arrive within the request timeout.
    Timeout,
    Io(std::io::Error),
}

/// A connection: the stream and the bytes read but not used yet.
pub struct Conn<S> {
    io: S,
    buf: Vec<u8>,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reason phrases of the statuses this server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

struct Head {
    method: String,
    path: String,
    close: bool,
    content_length: Option<usize>,
    chunked: bool,
    expect_continue: bool,
}

fn reject<T>(status: u16, msg: impl Into<String>) -> Result<T, ReadError> {
    Err(ReadError::Reject(status, msg.into()))
}

fn parse_head(head: &[u8]) -> Result<Head, ReadError> {
    let Ok(text) = std::str::from_utf8(head) else {
        return reject(400, "the request head is not UTF-8");
    };
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return reject(400, format!("malformed request line {line:?}"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return reject(400, format!("malformed method {method:?}"));
    }
    if !target.starts_with('/') {
        return reject(400, format!("unsupported request target {target:?}"));
    }
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return reject(505, format!("unsupported version {version:?}")),
    };
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in lines {
        let Some((name, value)) = h.split_once(':') else {
            return reject(400, format!("malformed header line {h:?}"));
        };
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return reject(400, format!("malformed header name {name:?}"));
        }
        let value = value.trim_matches([' ', '\t']);
        match name.to_ascii_lowercase().as_str() {
            "content-length" => {
                let Ok(n) = value.parse::<usize>() else {
                    return reject(400, format!("bad Content-Length {value:?}"));
                };
                if content_length.is_some_and(|c| c != n) {
                    return reject(400, "conflicting Content-Length headers");
                }
                content_length = Some(n);
            }
            "transfer-encoding" => {
                let codings: Vec<String> = value
                    .split(',')
                    .map(|c| c.trim().to_ascii_lowercase())
                    .collect();
                if codings.iter().map(String::as_str).ne(["chunked"]) {
                    return reject(501, format!("unsupported Transfer-Encoding {value:?}"));
                }
                chunked = true;
            }
            "connection" => {
                for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                    match token.as_str() {
                        "close" => close = true,
                        "keep-alive" if version == "HTTP/1.1" => {}
                        _ => {}
                    }
                }
            }
            "expect" => {
                if value.eq_ignore_ascii_case("100-continue") {
                    expect_continue = true;
                } else {
                    return reject(400, format!("unsupported Expect {value:?}"));
                }
            }
            _ => {}
        }
    }
    if chunked && content_length.is_some() {
        return reject(400, "both Content-Length and Transfer-Encoding");
    }
    let path = target.split(['?', '#']).next().unwrap_or("").to_string();
    Ok(Head {
        method: method.to_string(),
        path,
        close,
        content_length,
        chunked,
        expect_continue,
    })
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(io: S) -> Self {
        Conn {
            io,
            buf: Vec::new(),
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        let mut chunk = [0u8; 8192];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads the next request: waits up to `idle_timeout` for it to start, then up to
    /// `request_timeout` for all of it.
    pub async fn read_request(&mut self, limits: &Limits) -> Result<Request, ReadError> {
        if self.buf.is_empty() {
            match timeout(limits.idle_timeout, self.fill()).await {
                Err(_) | Ok(Ok(0)) => return Err(ReadError::Closed),
                Ok(Err(e)) => return Err(ReadError::Io(e)),
                Ok(Ok(_)) => {}
            }
        }
        let deadline = Instant::now() + limits.request_timeout;
        match timeout_at(deadline, self.read_rest(limits)).await {
            Ok(r) => r,
            Err(_) => Err(ReadError::Timeout),
        }
    }

    async fn more(&mut self, what: &str) -> Result<(), ReadError> {
        match self.fill().await {
            Ok(0) => reject(
                400,
                format!("connection closed in the middle of the {what}"),
            ),
            Ok(_) => Ok(()),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    async fn read_rest(&mut self, limits: &Limits) -> Result<Request, ReadError> {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > MAX_HEAD_BYTES {
                return reject(431, format!("request head over {MAX_HEAD_BYTES} bytes"));
            }
            self.more("request head").await?;
        };
        if head_end > MAX_HEAD_BYTES {
            return reject(431, format!("request head over {MAX_HEAD_BYTES} bytes"));
        }
        let head = parse_head(&self.buf[..head_end])?;
        self.buf.drain(..head_end + 4);
        let has_body = head.chunked || head.content_length.is_some_and(|n| n > 0);
        if head.method == "POST" && !head.chunked && head.content_length.is_none() {
            return reject(411, "a POST needs Content-Length or chunked encoding");
        }
        if let Some(n) = head.content_length {
            if n > limits.max_body_bytes {
                return reject(
                    413,
                    format!(
                        "body of {n} bytes over the limit of {}",
                        limits.max_body_bytes
                    ),
                );
            }
        }
        if head.expect_continue && has_body {
            self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .map_err(ReadError::Io)?;
        }
        let body = if head.chunked {
            self.read_chunked(limits.max_body_bytes).await?
        } else {
            let n = head.content_length.unwrap_or(0);
            while self.buf.len() < n {
                self.more("body").await?;
            }
            self.buf.drain(..n).collect()
        };
        Ok(Request {
            method: head.method,
            path: head.path,
            body,
            close: head.close,
        })
    }

    /// One CRLF-terminated line (without the CRLF), at most `max` bytes.
    async fn line(&mut self, max: usize, what: &str) -> Result<Vec<u8>, ReadError> {
        loop {
            if let Some(i) = find(&self.buf, b"\r\n") {
                let line = self.buf[..i].to_vec();
                self.buf.drain(..i + 2);
                return Ok(line);
            }
            if self.buf.len() > max {
                return reject(400, format!("{what} line too long"));
            }
            self.more(what).await?;
        }
    }

    async fn read_chunked(&mut self, max_body: usize) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.line(1024, "chunk size").await?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(size_text, 16) else {
                return reject(400, format!("bad chunk size {size_text:?}"));
            };
            if size == 0 {
                // Trailer fields, up to the empty line.
                let mut trailer = 0;
                loop {
                    let l = self.line(MAX_HEAD_BYTES, "trailer").await?;
                    if l.is_empty() {
                        return Ok(body);
                    }
                    trailer += l.len();
                    if trailer > MAX_HEAD_BYTES {
                        return reject(431, "trailer too large");
                    }
                }
            }
            if body.len().saturating_add(size) > max_body {
                return reject(413, format!("body over the limit of {max_body} bytes"));
            }
            while self.buf.len() < size + 2 {
                self.more("chunk").await?;
            }
            if &self.buf[size..size + 2] != b"\r\n" {
                return reject(400, "chunk not followed by CRLF");
            }
            body.extend_from_slice(&self.buf[..size]);
            self.buf.drain(..size + 2);
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Writes a complete response; `head_only` leaves the body out (for HEAD).
    pub async fn respond(
        &mut self,
        status: u16,
        content_type: &str,
        body: &[u8],
        close: bool,
        head_only: bool,
    ) -> std::io::Result<()> {
        let mut out = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            reason(status),
            body.len()
        )
        .into_bytes();
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(body);
        }
        self.write_raw(&out).await
    }

    /// Closes the write side (TLS close_notify, then FIN), ignoring errors, then lingers: what
    /// the client still sends (a body we refused with 413, say) is read and discarded for up to
    /// a second or 1 MiB, so that the kernel does not answer it with a reset that would destroy
    /// the response before the client has read it.
    pub async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut left: usize = 1 << 20;
        let mut buf = [0u8; 4096];
        while left > 0 {
            match timeout_at(deadline, self.io.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    fn limits() -> Limits {
        Limits {
            max_body_bytes: 64,
            request_timeout: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(2),
        }
    }

    async fn read(input: &[u8]) -> (Vec<Result<Request, String>>, Vec<u8>) {
        let (mut client, server) = duplex(1 << 16);
        client.write_all(input).await.unwrap();
        client.shutdown().await.unwrap();
        let mut conn = Conn::new(server);
        let mut out = Vec::new();
        loop {
            match conn.read_request(&limits()).await {
                Ok(r) => out.push(Ok(r)),
                Err(ReadError::Closed) => break,
                Err(ReadError::Reject(s, m)) => {
                    out.push(Err(format!("{s} {m}")));
                    break;
                }
                Err(e) => {
                    out.push(Err(format!("{e:?}")));
                    break;
                }
            }
        }
        drop(conn);
        let mut written = Vec::new();
        client.read_to_end(&mut written).await.unwrap();
        (out, written)
    }

    #[tokio::test]
    async fn keep_alive_pipelined_and_query_strings() {
        let (reqs, _) = read(
            b"POST /mutate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcdGET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .await;
        let reqs: Vec<Request> = reqs.into_iter().map(Result::unwrap).collect();
        assert_eq!(reqs.len(), 2);
        assert_eq!(
            (reqs[0].method.as_str(), reqs[0].path.as_str()),
            ("POST", "/mutate")
        );
        assert_eq!(reqs[0].body, b"abcd");
        assert!(!reqs[0].close);
        assert_eq!(reqs[1].path, "/healthz");
        assert!(reqs[1].close);
    }

    #[tokio::test]
    async fn chunked_body_and_continue() {
        let (reqs, written) = read(
            b"POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
        )
        .await;
        assert_eq!(reqs[0].as_ref().unwrap().body, b"abcde");
        assert!(written.starts_with(b"HTTP/1.1 100 Continue\r\n\r\n"));
    }

    #[tokio::test]
    async fn rejects() {
        for (input, status) in [
            (&b"POST /m HTTP/1.1\r\n\r\n"[..], "411"),
            (b"POST /m HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "413"),
            (
                b"POST /m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n",
                "413",
            ),
            (
                b"POST /m HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "501",
            ),
            (b"GET /m HTTP/2.0\r\n\r\n", "505"),
            (b"GET /m\r\n\r\n", "400"),
            (b"get /m HTTP/1.1\r\n\r\n", "400"),
            (b"GET /m HTTP/1.1\r\nBad header\r\n\r\n", "400"),
            (
                b"POST /m HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "400",
            ),
            (b"POST /m HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", "400"),
            (b"GET /m HTTP/1.1\r\nHost: x", "400"),
        ] {
            let (reqs, _) = read(input).await;
            let last = reqs.last().unwrap().as_ref().unwrap_err();
            assert!(
                last.starts_with(status),
                "{}: {last}",
                String::from_utf8_lossy(input)
            );
        }
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 10));
        let (reqs, _) = read(&big).await;
        assert!(reqs[0].as_ref().unwrap_err().starts_with("431"));
    }

    #[tokio::test]
    async fn slow_request_times_out() {
        let (mut client, server) = duplex(1024);
        client.write_all(b"POST /m HTTP/1.1\r\n").await.unwrap();
        let mut conn = Conn::new(server);
        let l = Limits {
            request_timeout: Duration::from_millis(100),
            ..limits()
        };
        assert!(matches!(
            conn.read_request(&l).await,
            Err(ReadError::Timeout)
        ));
    }
}
