//! A small blocking HTTP/1.1 client over `std::net`: one request per connection, bearer token.
//!
//! Written rather than pulled in (ureq and friends bring TLS, cookies, proxies and a pool that
//! a management network of link-local addresses never needs): the DPU speaks plain HTTP/1.1,
//! answers with `Content-Length` or chunked bodies, and closes on `Connection: close`. Every
//! read and write has a deadline, so a hung DPU is an error, never a hang of `dpuctl`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The largest response body accepted (a support bundle's biggest piece, `/metrics`, is ~20 KiB).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// The largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// Why a request got no HTTP answer.
#[derive(Debug)]
pub enum HttpError {
    /// The address does not resolve.
    Address(String),
    /// No TCP connection (refused, unreachable, timed out).
    Connect(io::Error),
    /// The connection broke or timed out while sending or receiving.
    Io(io::Error),
    /// The answer is not HTTP/1.1 as this client reads it.
    Malformed(&'static str),
}

impl fmt::Display for HttpError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Address(address) => write!(formatter, "address {address} does not resolve"),
            Self::Connect(error) => write!(formatter, "API not answering ({error})"),
            Self::Io(error) if error.kind() == io::ErrorKind::WouldBlock => {
                write!(formatter, "API stopped answering (timed out)")
            }
            Self::Io(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::UnexpectedEof
                ) =>
            {
                write!(
                    formatter,
                    "API not answering (the connection closed without an answer)"
                )
            }
            Self::Io(error) => write!(formatter, "API connection broke ({error})"),
            Self::Malformed(why) => write!(formatter, "API answer not understood: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names (lower case) and values.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client of one DPU's management API.
#[derive(Debug, Clone)]
pub struct Client {
    /// `host:port` as given (port 80 added when missing).
    pub address: String,
    /// The bearer token's secret, if any.
    pub token: Option<String>,
    /// Deadline of the TCP connect.
    pub connect_timeout: Duration,
    /// Deadline of each read and each write.
    pub io_timeout: Duration,
}

impl Client {
    /// A client of `address` (`A.B.C.D` or `host:port`).
    pub fn new(address: &str, token: Option<String>) -> Self {
        let address = if address.contains(':') {
            address.to_string()
        } else {
            format!("{address}:80")
        };
        Self {
            address,
            token,
            connect_timeout: Duration::from_secs(3),
            io_timeout: Duration::from_secs(30),
        }
    }

    fn socket_address(&self) -> Result<SocketAddr, HttpError> {
        self.address
            .to_socket_addrs()
            .map_err(|_| HttpError::Address(self.address.clone()))?
            .next()
            .ok_or_else(|| HttpError::Address(self.address.clone()))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Response, HttpError> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body (or none).
    pub fn post_json(&self, path: &str, json: Option<&str>) -> Result<Response, HttpError> {
        self.request(
            "POST",
            path,
            json.map(|text| ("application/json", text.as_bytes())),
        )
    }

    /// One request: `body` is (content type, bytes).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<Response, HttpError> {
        let address = self.socket_address()?;
        let mut stream = TcpStream::connect_timeout(&address, self.connect_timeout)
            .map_err(HttpError::Connect)?;
        stream
            .set_read_timeout(Some(self.io_timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.io_timeout)))
            .and_then(|()| stream.set_nodelay(true))
            .map_err(HttpError::Io)?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: dpuctl/{}\r\nAccept: */*\r\nConnection: close\r\n",
            self.address,
            env!("CARGO_PKG_VERSION")
        );
        if let Some(token) = &self.token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        match body {
            Some((content_type, bytes)) => head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                bytes.len()
            )),
            None if method == "POST" || method == "PUT" => {
                head.push_str("Content-Length: 0\r\n\r\n")
            }
            None => head.push_str("\r\n"),
        }
        stream.write_all(head.as_bytes()).map_err(HttpError::Io)?;
        if let Some((_, bytes)) = body {
            // In pieces: the DPU reads its socket a bounded amount per loop pass.
            for piece in bytes.chunks(16 * 1024) {
                stream.write_all(piece).map_err(HttpError::Io)?;
            }
        }
        stream.flush().map_err(HttpError::Io)?;
        read_response(&mut stream, method == "HEAD")
    }
}

/// Reads one response from `stream`.
pub fn read_response(stream: &mut impl Read, head_only: bool) -> Result<Response, HttpError> {
    let mut buffer = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(position) = find(&buffer, b"\r\n\r\n") {
            break position;
        }
        if buffer.len() > MAX_HEAD {
            return Err(HttpError::Malformed("response head too long"));
        }
        let mut chunk = [0u8; 4096];
        let count = stream.read(&mut chunk).map_err(HttpError::Io)?;
        if count == 0 {
            return Err(if buffer.is_empty() {
                HttpError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed without an answer",
                ))
            } else {
                HttpError::Malformed("connection closed inside the response head")
            });
        }
        buffer.extend_from_slice(&chunk[..count]);
    };
    let head = std::str::from_utf8(&buffer[..head_end])
        .map_err(|_| HttpError::Malformed("response head is not text"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut words = status_line.splitn(3, ' ');
    let version = words.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed("not an HTTP/1.x status line"));
    }
    let status = words
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or(HttpError::Malformed("status code missing"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or(HttpError::Malformed("header line without a colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let rest = buffer[head_end + 4..].to_vec();
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        return Ok(response);
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    let length = response
        .header("content-length")
        .map(|value| value.parse::<usize>())
        .transpose()
        .map_err(|_| HttpError::Malformed("bad Content-Length"))?;
    let mut reader = Buffered { rest, stream };
    response.body = if chunked {
        read_chunked(&mut reader)?
    } else if let Some(length) = length {
        if length > MAX_BODY {
            return Err(HttpError::Malformed("body too large"));
        }
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body).map_err(HttpError::Io)?;
        body
    } else {
        let mut body = Vec::new();
        reader
            .take(MAX_BODY as u64)
            .read_to_end(&mut body)
            .map_err(HttpError::Io)?;
        body
    };
    Ok(response)
}

/// Bytes already read past the head, then the stream.
struct Buffered<'a, R: Read> {
    rest: Vec<u8>,
    stream: &'a mut R,
}

impl<R: Read> Read for Buffered<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.rest.is_empty() {
            return self.stream.read(out);
        }
        let count = out.len().min(self.rest.len());
        out[..count].copy_from_slice(&self.rest[..count]);
        self.rest.drain(..count);
        Ok(count)
    }
}

fn read_line(reader: &mut impl Read) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        reader.read_exact(&mut byte).map_err(HttpError::Io)?;
        if byte[0] == b'\n' {
            break;
        }
        if line.len() > 1024 {
            return Err(HttpError::Malformed("chunk size line too long"));
        }
        line.push(byte[0]);
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::Malformed("chunk size line is not text"))
}

fn read_chunked(reader: &mut impl Read) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Malformed("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(HttpError::Malformed("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader
            .read_exact(&mut body[start..])
            .map_err(HttpError::Io)?;
        if !read_line(reader)?.is_empty() {
            return Err(HttpError::Malformed("chunk not followed by CRLF"));
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello";
        let response = read_response(&mut &raw[..], false).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("Content-Type"), Some("text/plain"));
        assert_eq!(response.body, b"hello");
    }

    #[test]
    fn reads_a_chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let response = read_response(&mut &raw[..], false).unwrap();
        assert_eq!(response.body, b"abcde");
    }

    #[test]
    fn reads_a_body_up_to_the_close() {
        let raw = b"HTTP/1.1 200 OK\r\n\r\nuntil the end";
        assert_eq!(
            read_response(&mut &raw[..], false).unwrap().body,
            b"until the end"
        );
    }

    #[test]
    fn refuses_what_is_not_http() {
        for raw in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"HTTP/1.1 200",
            b"",
        ] {
            let error = read_response(&mut &raw[..], false).unwrap_err();
            readable::assert_words(&error.to_string());
        }
    }

    #[test]
    fn a_closed_port_is_not_answering() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let error = Client::new(&address, None).get("/healthz").unwrap_err();
        assert!(
            error.to_string().starts_with("API not answering"),
            "{error}"
        );
    }
}
