//! The interface between the HTTP server and the API: [`Handler`], [`Request`], [`Response`].
//!
//! The server ([`crate::HttpServer`]) parses the request head, authenticates it and applies the
//! limits; then, per request:
//!
//! 1. [`Handler::begin`] sees the head and says how to take the body ([`Intake`]): none, whole
//!    (JSON, bounded by [`MAX_WHOLE_BODY`]) or streamed (a firmware image, `Content-Length`
//!    required, fed piece by piece with backpressure through [`Handler::feed`]).
//! 2. [`Handler::respond`] writes the answer into a [`Response`]: status, content type, extra
//!    headers (`Location`, `Allow`, `Retry-After`, `WWW-Authenticate`) and a body that is
//!    written whole into the response buffer, a `&'static [u8]`, or generated in pieces by
//!    [`Handler::piece`] as the socket drains (sent with chunked transfer coding).
//! 3. [`Handler::abort`] is called instead when a streamed body ends early (client gone,
//!    deadline), so the handler can cancel what the body was feeding.
//!
//! `HEAD` requests reach the handler as [`Method::Head`]; answer as for GET: the server sends
//! the headers only. Errors are RFC 9457 problem documents ([`Response::problem`]).
//!
//! Nothing here allocates; a request's strings point into the connection's buffer.

use crate::auth::Role;
use crate::json::{self, Sink, WriteError};
use crate::status_code::StatusCode;
use core::net::IpAddr;

/// Largest body [`Intake::Whole`] collects (the connection's input buffer holds head + body).
pub const MAX_WHOLE_BODY: usize = 8 * 1024;
/// Longest `Location` header value.
pub const LOCATION_CAPACITY: usize = 128;

/// Request methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answer as GET; the server drops the body.
    Head,
    /// `POST`.
    Post,
    /// `PUT`.
    Put,
    /// `PATCH`.
    Patch,
    /// `DELETE`.
    Delete,
    /// `OPTIONS`.
    Options,
    /// Any other token (methods are case-sensitive: `get` is here).
    Other,
}

impl Method {
    /// The method named by `token`.
    #[must_use]
    pub fn parse(token: &str) -> Self {
        match token {
            "GET" => Self::Get,
            "HEAD" => Self::Head,
            "POST" => Self::Post,
            "PUT" => Self::Put,
            "PATCH" => Self::Patch,
            "DELETE" => Self::Delete,
            "OPTIONS" => Self::Options,
            _ => Self::Other,
        }
    }

    /// Whether the method changes state: it needs the operator or administrator role.
    #[must_use]
    pub const fn is_write(self) -> bool {
        matches!(self, Self::Post | Self::Put | Self::Patch | Self::Delete)
    }
}

/// `GET`, `HEAD`..., `other` for unknown methods.
impl core::fmt::Display for Method {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.pad(match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
            Self::Options => "OPTIONS",
            Self::Other => "other",
        })
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

/// One request, as the handler sees it. Strings are as received (percent-escapes not decoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'r> {
    /// The method.
    pub method: Method,
    /// The path, from the first `/` to before `?` (an absolute-form target is reduced to it).
    pub path: &'r str,
    /// What follows `?`, without it; empty without a query.
    pub query: &'r str,
    /// The protocol version.
    pub version: Version,
    /// `Content-Type`, as sent.
    pub content_type: Option<&'r str>,
    /// `Content-Length`, if sent (the body is exactly this long).
    pub content_length: Option<u64>,
    /// `Accept`, as sent.
    pub accept: Option<&'r str>,
    /// The caller's role; `None` only on paths that need no token (`/healthz`).
    pub role: Option<Role>,
    /// The client's address, if known.
    pub remote: Option<IpAddr>,
    /// Milliseconds since boot when the head was complete.
    pub now_ms: u64,
}

impl<'r> Request<'r> {
    /// The path's segments: `/v1/ports/port1` gives `v1`, `ports`, `port1`; a trailing `/`
    /// gives a last empty segment (so `/v1/ports/` is not `/v1/ports`).
    pub fn segments(&self) -> impl Iterator<Item = &'r str> + use<'r> {
        let path: &'r str = self.path.strip_prefix('/').unwrap_or(self.path);
        path.split('/')
    }

    /// The query's `name=value` pairs in order (a pair without `=` has an empty value).
    pub fn query_pairs(&self) -> impl Iterator<Item = (&'r str, &'r str)> + use<'r> {
        let query: &'r str = self.query;
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
    }

    /// The first value of query parameter `name`.
    #[must_use]
    pub fn query_value(&self, name: &str) -> Option<&'r str> {
        self.query_pairs()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// The media type of `Content-Type` without parameters (`application/json` from
    /// `application/json; charset=utf-8`).
    #[must_use]
    pub fn media_type(&self) -> Option<&'r str> {
        self.content_type
            .map(|value| value.split(';').next().unwrap_or(value).trim())
    }

    /// Whether the media type is `expected` (compared case-insensitively, RFC 9110 §8.3.1).
    #[must_use]
    pub fn media_type_is(&self, expected: &str) -> bool {
        self.media_type()
            .is_some_and(|media| media.eq_ignore_ascii_case(expected))
    }
}

/// How the handler takes a request's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// No body wanted. A small body sent anyway is read and dropped; a large one makes the
    /// server close the connection after the answer.
    None,
    /// Collect the body whole, up to `limit` bytes (capped at [`MAX_WHOLE_BODY`]); longer: 413.
    Whole {
        /// Longest body accepted.
        limit: usize,
    },
    /// Stream the body to [`Handler::feed`]. `Content-Length` is required (411 without it);
    /// longer than `limit`: 413.
    Stream {
        /// Longest body accepted.
        limit: u64,
    },
}

/// What [`Handler::feed`] did with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Took this many bytes from the front (0 is allowed: the rest is offered again later).
    Taken(usize),
    /// Take no more: answer now (the rest of the body is not read; the connection closes after
    /// the answer).
    Stop,
}

/// What [`Handler::piece`] says after writing a piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pieces {
    /// More pieces follow: call again with the cursor as left.
    More,
    /// That was the last piece.
    Done,
}

/// The API behind the server. See the module documentation for the order of calls.
pub trait Handler {
    /// The head is complete (and authorized): how should the body be taken?
    fn begin(&mut self, request: &Request<'_>) -> Intake {
        let _ = request;
        Intake::None
    }

    /// The next bytes of a streamed body ([`Intake::Stream`]); never called with an empty chunk.
    fn feed(&mut self, request: &Request<'_>, chunk: &[u8]) -> Feed {
        let _ = request;
        Feed::Taken(chunk.len())
    }

    /// A streamed body ended early (the client went away or missed the body deadline).
    fn abort(&mut self, request: &Request<'_>) {
        let _ = request;
    }

    /// Answers the request. `body` is the whole body for [`Intake::Whole`], else empty.
    fn respond(&mut self, request: &Request<'_>, body: &[u8], response: &mut Response<'_>);

    /// Writes the next piece of a body begun with [`Response::pieces`] into `piece`, starting at
    /// `cursor` (0 at first; the handler's own position, e.g. an FDB index). Write whole items
    /// with [`BodySink::item`], so an item that does not fit waits for the next piece. Returning
    /// [`Pieces::More`] with nothing written ends the response (an item larger than a piece).
    fn piece(
        &mut self,
        request: &Request<'_>,
        cursor: &mut u64,
        piece: &mut BodySink<'_>,
    ) -> Pieces {
        let _ = (request, cursor, piece);
        Pieces::Done
    }
}

/// A body being written into a fixed buffer: a [`json::Sink`] and a [`core::fmt::Write`].
/// Writing past the end fails and marks the body overflowed (the server then answers 500).
#[derive(Debug)]
pub struct BodySink<'b> {
    buffer: &'b mut [u8],
    length: usize,
    overflowed: bool,
}

impl<'b> BodySink<'b> {
    /// An empty body over `buffer`.
    #[must_use]
    pub fn new(buffer: &'b mut [u8]) -> Self {
        Self {
            buffer,
            length: 0,
            overflowed: false,
        }
    }

    /// Bytes written.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.length
    }

    /// Whether nothing was written.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Bytes still free.
    #[must_use]
    pub const fn remaining(&self) -> usize {
        self.buffer.len() - self.length
    }

    /// Whether a write did not fit.
    #[must_use]
    pub const fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The bytes written.
    #[must_use]
    pub fn written(&self) -> &[u8] {
        self.buffer.get(..self.length).unwrap_or_default()
    }

    /// The free space, for writers that fill a slice (e.g. `serde_json_core::to_slice`); call
    /// [`commit`](Self::commit) with what they wrote.
    pub fn free_space(&mut self) -> &mut [u8] {
        self.buffer.get_mut(self.length..).unwrap_or_default()
    }

    /// Counts `count` bytes written into [`free_space`](Self::free_space) (capped at its size).
    pub fn commit(&mut self, count: usize) {
        self.length = self.length.saturating_add(count).min(self.buffer.len());
    }

    /// Writes one whole item: if `write` fails (no room), everything it wrote is taken back
    /// and `false` returned, so the item can go in the next piece.
    pub fn item(&mut self, write: impl FnOnce(&mut Self) -> Result<(), WriteError>) -> bool {
        let (mark, overflowed) = (self.length, self.overflowed);
        if write(self).is_ok() && !self.overflowed {
            return true;
        }
        self.length = mark;
        self.overflowed = overflowed;
        false
    }

    /// Forgets everything written.
    pub fn clear(&mut self) {
        self.length = 0;
        self.overflowed = false;
    }
}

impl Sink for BodySink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self.length.saturating_add(bytes.len());
        match self.buffer.get_mut(self.length..end) {
            Some(destination) => {
                destination.copy_from_slice(bytes);
                self.length = end;
                Ok(())
            }
            None => {
                self.overflowed = true;
                Err(WriteError::BufferTooSmall)
            }
        }
    }
}

impl core::fmt::Write for BodySink<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.put(text.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// Where a response's body comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodySource {
    /// What was written into [`Response::body`] (possibly nothing).
    Written,
    /// A fixed document (e.g. the OpenAPI text).
    Static(&'static [u8]),
    /// Generated piece by piece by [`Handler::piece`].
    Pieces,
}

/// The answer a handler writes. Defaults: 200, `application/json`, empty body.
#[derive(Debug)]
pub struct Response<'b> {
    status: StatusCode,
    content_type: &'static str,
    location: heapless::String<LOCATION_CAPACITY>,
    allow: Option<&'static str>,
    retry_after_s: Option<u32>,
    www_authenticate: Option<&'static str>,
    source: BodySource,
    close: bool,
    body: BodySink<'b>,
}

/// `application/json`.
pub const JSON: &str = "application/json";
/// `application/problem+json` (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The Prometheus text exposition format.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

impl<'b> Response<'b> {
    /// An empty 200 JSON response whose body goes into `buffer`.
    #[must_use]
    pub fn new(buffer: &'b mut [u8]) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: JSON,
            location: heapless::String::new(),
            allow: None,
            retry_after_s: None,
            www_authenticate: None,
            source: BodySource::Written,
            close: false,
            body: BodySink::new(buffer),
        }
    }

    /// Sets the status.
    pub fn set_status(&mut self, status: StatusCode) {
        self.status = status;
    }

    /// The status.
    #[must_use]
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// Sets `Content-Type`.
    pub fn set_content_type(&mut self, content_type: &'static str) {
        self.content_type = content_type;
    }

    /// The `Content-Type`.
    #[must_use]
    pub const fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// The `Location` value, to write into (`write!(response.location(), "/v1/tasks/{id}")`).
    /// Only printable ASCII is sent; anything else drops the header.
    pub fn location(&mut self) -> &mut heapless::String<LOCATION_CAPACITY> {
        &mut self.location
    }

    /// The `Location` value if it is printable ASCII and non-empty.
    #[must_use]
    pub fn location_value(&self) -> Option<&str> {
        let value = self.location.as_str();
        (!value.is_empty() && value.bytes().all(|byte| (0x21..0x7f).contains(&byte)))
            .then_some(value)
    }

    /// Sets `Allow` (405 responses): e.g. `"GET, HEAD"`.
    pub fn set_allow(&mut self, methods: &'static str) {
        self.allow = Some(methods);
    }

    /// The `Allow` value.
    #[must_use]
    pub const fn allow(&self) -> Option<&'static str> {
        self.allow
    }

    /// Sets `Retry-After` in seconds (503, 429, 202 task monitors).
    pub fn set_retry_after(&mut self, seconds: u32) {
        self.retry_after_s = Some(seconds);
    }

    /// The `Retry-After` value.
    #[must_use]
    pub const fn retry_after(&self) -> Option<u32> {
        self.retry_after_s
    }

    /// Sets `WWW-Authenticate` (401 responses): e.g. `"Bearer"`.
    pub fn set_www_authenticate(&mut self, challenge: &'static str) {
        self.www_authenticate = Some(challenge);
    }

    /// The `WWW-Authenticate` value.
    #[must_use]
    pub const fn www_authenticate(&self) -> Option<&'static str> {
        self.www_authenticate
    }

    /// Close the connection after this response.
    pub fn set_close(&mut self) {
        self.close = true;
    }

    /// Whether the connection closes after this response.
    #[must_use]
    pub const fn close(&self) -> bool {
        self.close
    }

    /// The body written so far, to write more into.
    pub fn body(&mut self) -> &mut BodySink<'b> {
        &mut self.body
    }

    /// The body as written so far.
    #[must_use]
    pub fn written_body(&self) -> &BodySink<'b> {
        &self.body
    }

    /// Sends `document` as the body (anything written into [`body`](Self::body) is dropped).
    pub fn set_static_body(&mut self, document: &'static [u8]) {
        self.body.clear();
        self.source = BodySource::Static(document);
    }

    /// The body is generated piece by piece by [`Handler::piece`] (anything written into
    /// [`body`](Self::body) is sent first).
    pub fn set_pieces(&mut self) {
        self.source = BodySource::Pieces;
    }

    /// Where the body comes from.
    #[must_use]
    pub const fn source(&self) -> BodySource {
        self.source
    }

    /// `status` with a JSON object body written by `fill` (see [`json::ObjectWriter`]). A body
    /// that does not fit makes the server answer 500.
    pub fn json(
        &mut self,
        status: StatusCode,
        fill: impl FnOnce(&mut json::ObjectWriter<'_, BodySink<'b>>) -> Result<(), WriteError>,
    ) {
        self.status = status;
        self.content_type = JSON;
        self.source = BodySource::Written;
        self.body.clear();
        // An overflow is remembered by the sink; the server turns it into a 500.
        let _ = json::write_object(&mut self.body, fill);
    }

    /// An RFC 9457 problem: `status`, a stable machine-readable `code` (e.g. `not_found`,
    /// `INSTALL_IN_PROGRESS`) and a `detail` in words. See [`crate::problem`].
    pub fn problem(&mut self, status: StatusCode, code: &str, detail: &str) {
        self.status = status;
        self.content_type = PROBLEM_JSON;
        self.source = BodySource::Written;
        self.body.clear();
        let _ = crate::problem::write(&mut self.body, status, code, detail);
    }

    /// A problem with extra members written by `extra` after the standard ones (e.g. the
    /// field errors of a rejected config: `"errors":[{"path":..,"reason":..}]`).
    pub fn problem_with(
        &mut self,
        status: StatusCode,
        code: &str,
        detail: &str,
        extra: impl FnOnce(&mut json::ObjectWriter<'_, BodySink<'b>>) -> Result<(), WriteError>,
    ) {
        self.status = status;
        self.content_type = PROBLEM_JSON;
        self.source = BodySource::Written;
        self.body.clear();
        let _ = crate::problem::write_with(&mut self.body, status, code, detail, extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn request<'r>(path: &'r str, query: &'r str) -> Request<'r> {
        Request {
            method: Method::Get,
            path,
            query,
            version: Version::Http11,
            content_type: Some("Application/JSON; charset=utf-8"),
            content_length: None,
            accept: None,
            role: Some(Role::ReadOnly),
            remote: None,
            now_ms: 0,
        }
    }

    #[test]
    fn segments_and_query() {
        let request = request("/v1/fdb", "vlan=10&port=port1&flag&vlan=20");
        assert_eq!(request.segments().collect::<Vec<_>>(), ["v1", "fdb"]);
        assert_eq!(request.query_value("vlan"), Some("10"));
        assert_eq!(request.query_value("flag"), Some(""));
        assert_eq!(request.query_value("page_token"), None);
        assert_eq!(request.query_pairs().count(), 4);
        let trailing = super::tests::request("/v1/ports/", "");
        assert_eq!(trailing.segments().collect::<Vec<_>>(), ["v1", "ports", ""]);
        assert_eq!(trailing.query_pairs().count(), 0);
        assert_eq!(request.media_type(), Some("Application/JSON"));
        assert!(request.media_type_is("application/json"));
    }

    #[test]
    fn methods() {
        assert_eq!(Method::parse("PATCH"), Method::Patch);
        assert_eq!(Method::parse("patch"), Method::Other);
        assert!(Method::Delete.is_write() && !Method::Head.is_write());
        assert_eq!(std::format!("{}", Method::Other), "other");
    }

    #[test]
    fn items_are_all_or_nothing() {
        let mut buffer = [0u8; 10];
        let mut sink = BodySink::new(&mut buffer);
        assert!(sink.item(|sink| sink.put(b"12345")));
        assert!(!sink.item(|sink| {
            sink.put(b"abc")?;
            sink.put(b"defg")
        }));
        assert_eq!(sink.written(), b"12345");
        assert!(!sink.overflowed());
        assert!(sink.put(b"toolong").is_err());
        assert!(sink.overflowed());
    }

    #[test]
    fn response_headers_and_bodies() {
        let mut buffer = [0u8; 256];
        let mut response = Response::new(&mut buffer);
        use core::fmt::Write;
        let _ = write!(response.location(), "/v1/tasks/{}", 7);
        assert_eq!(response.location_value(), Some("/v1/tasks/7"));
        response.json(StatusCode::ACCEPTED, |object| object.unsigned("id", 7));
        assert_eq!(response.written_body().written(), br#"{"id":7}"#);
        response.set_static_body(b"openapi: 3.1.0\n");
        assert_eq!(response.source(), BodySource::Static(b"openapi: 3.1.0\n"));
        let _ = write!(response.location(), "\r\nX: y");
        assert_eq!(response.location_value(), None, "never a header injection");
    }
}
