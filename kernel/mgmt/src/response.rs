//! HTTP/1.1 response writer: status line, fixed headers and a JSON body, into a caller's buffer.
//!
//! Every response carries `Content-Type: application/json`, an exact `Content-Length` (also for
//! `HEAD`, which gets the headers of the GET it stands for and no body), `Cache-Control:
//! no-store` and an explicit `Connection: keep-alive` or `close`. Header values are constants or
//! numbers, never request data, so a request cannot inject headers into a response.

use crate::json::{self, Counter, Sink, SliceSink, WriteError};
use crate::status::{self, StatusSnapshot};

/// The statuses this server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 200.
    Ok,
    /// 400: the request is malformed.
    BadRequest,
    /// 404: no resource at that path.
    NotFound,
    /// 405: the resource exists but not for this method (`Allow` lists the ones it takes).
    MethodNotAllowed,
    /// 408: no complete request within the idle timeout.
    RequestTimeout,
    /// 413: the announced body is longer than the server reads.
    ContentTooLarge,
    /// 417: an `Expect` other than `100-continue`.
    ExpectationFailed,
    /// 431: request line and headers do not fit the buffer.
    RequestHeaderFieldsTooLarge,
    /// 500: the response did not fit the output buffer.
    InternalServerError,
    /// 501: `Transfer-Encoding` is not implemented.
    NotImplemented,
    /// 505: a version other than HTTP/1.0 and HTTP/1.1.
    HttpVersionNotSupported,
}

impl Status {
    /// The numeric code.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Self::Ok => 200,
            Self::BadRequest => 400,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::ContentTooLarge => 413,
            Self::ExpectationFailed => 417,
            Self::RequestHeaderFieldsTooLarge => 431,
            Self::InternalServerError => 500,
            Self::NotImplemented => 501,
            Self::HttpVersionNotSupported => 505,
        }
    }

    /// The reason phrase (RFC 9110 §15).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::BadRequest => "Bad Request",
            Self::NotFound => "Not Found",
            Self::MethodNotAllowed => "Method Not Allowed",
            Self::RequestTimeout => "Request Timeout",
            Self::ContentTooLarge => "Content Too Large",
            Self::ExpectationFailed => "Expectation Failed",
            Self::RequestHeaderFieldsTooLarge => "Request Header Fields Too Large",
            Self::InternalServerError => "Internal Server Error",
            Self::NotImplemented => "Not Implemented",
            Self::HttpVersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// The class digit: 2 for 2xx, 4 for 4xx, ...
    #[must_use]
    pub const fn class(self) -> u16 {
        self.code() / 100
    }
}

/// What a response's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// The `/healthz` document.
    Health(&'a StatusSnapshot<'a>),
    /// `{"status":<code>,"error":"<reason>","message":"<message>"}`.
    Error(&'a str),
}

/// A response to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response<'a> {
    /// Status line.
    pub status: Status,
    /// The body (counted in `Content-Length` even when not sent).
    pub body: Body<'a>,
    /// `Connection: keep-alive` when true, `Connection: close` when false.
    pub keep_alive: bool,
    /// Send the headers only (a `HEAD` request).
    pub head_only: bool,
    /// Value of an `Allow` header, if any (405 responses).
    pub allow: Option<&'static str>,
}

/// Why a response could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ResponseError {
    /// The buffer holds fewer bytes than the response needs; nothing usable was written.
    BufferTooSmall {
        /// Bytes the whole response needs.
        needed: usize,
    },
}

fn write_body(sink: &mut impl Sink, status: Status, body: &Body<'_>) -> Result<(), WriteError> {
    match body {
        Body::Health(snapshot) => status::write_health(sink, snapshot),
        Body::Error(message) => json::write_object(sink, |object| {
            object.unsigned("status", u64::from(status.code()))?;
            object.string("error", status.reason())?;
            object.string("message", message)
        }),
    }
}

fn write_head(
    sink: &mut impl Sink,
    response: &Response<'_>,
    body_length: usize,
) -> Result<(), WriteError> {
    sink.put(b"HTTP/1.1 ")?;
    json::write_u64(sink, u64::from(response.status.code()))?;
    sink.put(b" ")?;
    sink.put(response.status.reason().as_bytes())?;
    sink.put(b"\r\nContent-Type: application/json\r\nContent-Length: ")?;
    // usize is at most 64 bits on every target this builds for.
    json::write_u64(sink, u64::try_from(body_length).unwrap_or(u64::MAX))?;
    sink.put(b"\r\nCache-Control: no-store\r\n")?;
    if let Some(allow) = response.allow {
        sink.put(b"Allow: ")?;
        sink.put(allow.as_bytes())?;
        sink.put(b"\r\n")?;
    }
    sink.put(if response.keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    })
}

/// Writes `response` at the start of `out`; returns its length. Sizes it first, so a too-small
/// buffer reports exactly how much is needed.
pub fn write_response(out: &mut [u8], response: &Response<'_>) -> Result<usize, ResponseError> {
    let too_small = |needed| ResponseError::BufferTooSmall { needed };
    let mut body_counter = Counter::new();
    write_body(&mut body_counter, response.status, &response.body)
        .map_err(|_| too_small(usize::MAX))?;
    let body_length = body_counter.len();
    let mut head_counter = Counter::new();
    write_head(&mut head_counter, response, body_length).map_err(|_| too_small(usize::MAX))?;
    let sent_body = if response.head_only { 0 } else { body_length };
    let needed = head_counter.len().saturating_add(sent_body);
    if needed > out.len() {
        return Err(too_small(needed));
    }

    let mut sink = SliceSink::new(out);
    let written = write_head(&mut sink, response, body_length).and_then(|()| {
        if response.head_only {
            Ok(())
        } else {
            write_body(&mut sink, response.status, &response.body)
        }
    });
    written.map_err(|_| too_small(needed))?;
    Ok(sink.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    fn text(response: &Response<'_>) -> String {
        let mut buffer = [0u8; 1024];
        let length = write_response(&mut buffer, response).unwrap();
        String::from_utf8(buffer[..length].to_vec()).unwrap()
    }

    const NOT_FOUND: Response<'static> = Response {
        status: Status::NotFound,
        body: Body::Error("no resource at this path"),
        keep_alive: true,
        head_only: false,
        allow: None,
    };

    #[test]
    fn error_response() {
        let body = r#"{"status":404,"error":"Not Found","message":"no resource at this path"}"#;
        let expected = std::format!(
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nConnection: keep-alive\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(text(&NOT_FOUND), expected);
    }

    #[test]
    fn head_only_and_allow() {
        let response = Response {
            status: Status::MethodNotAllowed,
            body: Body::Error("m"),
            keep_alive: false,
            head_only: true,
            allow: Some("GET, HEAD"),
        };
        let body = r#"{"status":405,"error":"Method Not Allowed","message":"m"}"#;
        let expected = std::format!(
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nCache-Control: no-store\r\nAllow: GET, HEAD\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        assert_eq!(text(&response), expected);
    }

    #[test]
    fn too_small_reports_the_need() {
        let needed = text(&NOT_FOUND).len();
        let mut buffer = std::vec![0u8; needed];
        assert_eq!(write_response(&mut buffer, &NOT_FOUND), Ok(needed));
        for size in [0, 1, needed / 2, needed - 1] {
            let mut buffer = std::vec![0u8; size];
            assert_eq!(
                write_response(&mut buffer, &NOT_FOUND),
                Err(ResponseError::BufferTooSmall { needed })
            );
        }
    }

    #[test]
    fn statuses() {
        let all = [
            Status::Ok,
            Status::BadRequest,
            Status::NotFound,
            Status::MethodNotAllowed,
            Status::RequestTimeout,
            Status::ContentTooLarge,
            Status::ExpectationFailed,
            Status::RequestHeaderFieldsTooLarge,
            Status::InternalServerError,
            Status::NotImplemented,
            Status::HttpVersionNotSupported,
        ];
        for status in all {
            assert!((200..600).contains(&status.code()));
            assert_eq!(status.class(), status.code() / 100);
            assert!(!status.reason().is_empty());
        }
    }
}
