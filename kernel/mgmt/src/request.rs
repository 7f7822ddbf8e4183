//! HTTP/1.1 request-head parsing (RFC 9112 §2-§6): request line, header fields, framing.
//!
//! These functions work on complete lines or a complete head; [`crate::Connection`] gathers the
//! bytes. Only what the server acts on is kept: method, resource, version, persistence,
//! `Content-Length` and `Expect`. Everything else in the head is syntax-checked and dropped,
//! so nothing from the request is ever echoed into a response.
//!
//! Strictness, by RFC 9112 section: single spaces in the request line (§3); whitespace before a
//! header's colon is rejected (§5.1); obsolete line folding and whitespace before the first
//! header are rejected (§5.2, §2.2); a CR is only accepted right before LF, bare LF line ends
//! are accepted (§2.2); `Transfer-Encoding` with `Content-Length` is rejected (§6.3); HTTP/1.1
//! without exactly one `Host` is rejected (§3.2).

use crate::response::Status;

/// Largest request body the server reads (and discards); longer ones get 413.
pub const MAX_BODY_LENGTH: u64 = 16 * 1024;

/// The resources this server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/healthz` (any query string ignored).
    Health,
    /// Any other path.
    Unknown,
}

/// Request methods the router distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: as GET, without the body.
    Head,
    /// Any other syntactically valid method (methods are case-sensitive: `get` is here).
    Other,
}

/// Supported protocol versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: connections close after each response unless `Connection: keep-alive`.
    Http10,
    /// HTTP/1.1: connections persist unless `Connection: close`.
    Http11,
}

/// A parsed request line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    /// The method.
    pub method: Method,
    /// The resource the target's path names.
    pub resource: Resource,
    /// The protocol version.
    pub version: Version,
}

/// What the server keeps of a complete, valid request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead {
    /// The request line.
    pub line: RequestLine,
    /// Whether the connection may carry another request after this one's response.
    pub keep_alive: bool,
    /// Body length to read and discard (0 without `Content-Length`).
    pub content_length: u64,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
}

/// Why a request was refused before routing; each maps to a status and a fixed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Rejection {
    /// A control character (other than HTAB, CR, LF) or DEL appeared in the head.
    ControlCharacter,
    /// A CR not followed by LF.
    BareCarriageReturn,
    /// The request line is not `method SP target SP version`.
    InvalidRequestLine,
    /// The method is not a token.
    InvalidMethod,
    /// The request target is not an origin-form or absolute-form URI.
    InvalidTarget,
    /// The version is not `HTTP/<digit>.<digit>`.
    InvalidVersion,
    /// A well-formed version other than HTTP/1.0 and HTTP/1.1.
    UnsupportedVersion,
    /// The head does not end with an empty line.
    IncompleteHead,
    /// A header line is not `name: value` with a token name.
    InvalidHeader,
    /// A header line starts with whitespace (obsolete line folding).
    ObsoleteLineFolding,
    /// HTTP/1.1 request without a `Host` header.
    MissingHost,
    /// More than one `Host` header.
    DuplicateHost,
    /// `Content-Length` is not a decimal number.
    InvalidContentLength,
    /// Several `Content-Length` headers disagree.
    ConflictingContentLength,
    /// Both `Transfer-Encoding` and `Content-Length` (a request-smuggling vector).
    TransferEncodingWithContentLength,
    /// `Transfer-Encoding` (chunked or other): not implemented.
    TransferEncodingNotImplemented,
    /// `Content-Length` above [`MAX_BODY_LENGTH`].
    BodyTooLarge,
    /// The request line and headers do not fit the connection's buffer.
    HeadTooLarge,
    /// An `Expect` value other than `100-continue`.
    UnsupportedExpectation,
}

impl Rejection {
    /// The response status.
    #[must_use]
    pub const fn status(self) -> Status {
        match self {
            Self::UnsupportedVersion => Status::HttpVersionNotSupported,
            Self::TransferEncodingNotImplemented => Status::NotImplemented,
            Self::BodyTooLarge => Status::ContentTooLarge,
            Self::HeadTooLarge => Status::RequestHeaderFieldsTooLarge,
            Self::UnsupportedExpectation => Status::ExpectationFailed,
            _ => Status::BadRequest,
        }
    }

    /// A fixed, human-readable explanation for the error body.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::ControlCharacter => "control character in request head",
            Self::BareCarriageReturn => "CR not followed by LF",
            Self::InvalidRequestLine => "malformed request line",
            Self::InvalidMethod => "malformed method",
            Self::InvalidTarget => "malformed request target",
            Self::InvalidVersion => "malformed HTTP version",
            Self::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
            Self::IncompleteHead => "request head not terminated",
            Self::InvalidHeader => "malformed header field",
            Self::ObsoleteLineFolding => "obsolete line folding is not accepted",
            Self::MissingHost => "HTTP/1.1 request without Host header",
            Self::DuplicateHost => "more than one Host header",
            Self::InvalidContentLength => "malformed Content-Length",
            Self::ConflictingContentLength => "conflicting Content-Length headers",
            Self::TransferEncodingWithContentLength => {
                "Transfer-Encoding and Content-Length together"
            }
            Self::TransferEncodingNotImplemented => "Transfer-Encoding is not supported",
            Self::BodyTooLarge => "request body too large",
            Self::HeadTooLarge => "request line and headers too large",
            Self::UnsupportedExpectation => "only Expect: 100-continue is supported",
        }
    }
}

/// Whether `byte` may never appear in a request head: controls other than HTAB, LF and CR,
/// and DEL. Checked on every byte as it arrives, so binary input is refused at once.
#[must_use]
pub const fn is_forbidden_byte(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t' && byte != b'\n' && byte != b'\r') || byte == 0x7f
}

/// RFC 9110 §5.6.2 `tchar`.
const fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&byte| is_token_byte(byte))
}

/// `line` without its trailing CR; `Err` if a CR appears anywhere else.
fn strip_carriage_return(line: &[u8]) -> Result<&[u8], Rejection> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.contains(&b'\r') {
        Err(Rejection::BareCarriageReturn)
    } else {
        Ok(line)
    }
}

/// RFC 9110 §5.6.3 optional whitespace, trimmed from both ends.
fn trim_whitespace(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

fn parse_version(text: &[u8]) -> Result<Version, Rejection> {
    match text {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', b'1') => Ok(Version::Http11),
                _ => Err(Rejection::UnsupportedVersion),
            }
        }
        _ => Err(Rejection::InvalidVersion),
    }
}

/// The path of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target.
fn target_path(target: &[u8]) -> Result<&[u8], Rejection> {
    let valid_byte = |byte: &u8| (0x21..=0x7e).contains(byte) && *byte != b'#';
    if target.is_empty() || !target.iter().all(valid_byte) {
        return Err(Rejection::InvalidTarget);
    }
    // Percent-escapes must be complete; they are not decoded (no alias paths).
    let mut rest = target;
    while let Some(position) = rest.iter().position(|&byte| byte == b'%') {
        match rest.get(position + 1..position + 3) {
            Some([high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                rest = &rest[position + 3..];
            }
            _ => return Err(Rejection::InvalidTarget),
        }
    }
    let without_query = match target.iter().position(|&byte| byte == b'?') {
        Some(position) => &target[..position],
        None => target,
    };
    if without_query.starts_with(b"/") {
        return Ok(without_query);
    }
    // Absolute form (RFC 9112 §3.2.2): scheme "://" authority path.
    let scheme_end = without_query.windows(3).position(|window| window == b"://");
    let Some(scheme_end) = scheme_end else {
        return Err(Rejection::InvalidTarget);
    };
    let scheme = &without_query[..scheme_end];
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return Err(Rejection::InvalidTarget);
    }
    let after_scheme = &without_query[scheme_end + 3..];
    let authority_end = after_scheme.iter().position(|&byte| byte == b'/');
    match authority_end {
        Some(0) => Err(Rejection::InvalidTarget),
        None if after_scheme.is_empty() => Err(Rejection::InvalidTarget),
        Some(position) => Ok(&after_scheme[position..]),
        None => Ok(b"/"),
    }
}

/// Parses a request line (without its LF; a trailing CR is allowed).
pub fn parse_request_line(line: &[u8]) -> Result<RequestLine, Rejection> {
    let line = strip_carriage_return(line)?;
    if line
        .iter()
        .any(|&byte| is_forbidden_byte(byte) || byte >= 0x80 || byte == b'\t')
    {
        return Err(Rejection::InvalidRequestLine);
    }
    let mut parts = line.splitn(3, |&byte| byte == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::InvalidRequestLine);
    };
    // Extra spaces show up as an empty part or as a space inside the version.
    let version = parse_version(version)?;
    if !is_token(method) {
        return Err(Rejection::InvalidMethod);
    }
    let path = target_path(target)?;
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => Method::Other,
    };
    let resource = if path == b"/healthz" {
        Resource::Health
    } else {
        Resource::Unknown
    };
    Ok(RequestLine {
        method,
        resource,
        version,
    })
}

fn parse_content_length(value: &[u8]) -> Result<u64, Rejection> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Rejection::InvalidContentLength);
    }
    let mut length: u64 = 0;
    for digit in value {
        length = length
            .checked_mul(10)
            .and_then(|length| length.checked_add(u64::from(digit - b'0')))
            .ok_or(Rejection::BodyTooLarge)?;
    }
    Ok(length)
}

/// Facts gathered from the header fields.
#[derive(Default)]
struct Fields {
    hosts: u32,
    content_length: Option<u64>,
    transfer_encoding: bool,
    close: bool,
    keep_alive: bool,
    expect_continue: bool,
}

impl Fields {
    fn add(&mut self, line: &[u8]) -> Result<(), Rejection> {
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(Rejection::ObsoleteLineFolding);
        }
        let colon = line
            .iter()
            .position(|&byte| byte == b':')
            .ok_or(Rejection::InvalidHeader)?;
        let name = &line[..colon];
        let value = trim_whitespace(&line[colon + 1..]);
        // A name with whitespace before the colon fails the token check (RFC 9112 §5.1).
        if !is_token(name) || value.iter().any(|&byte| is_forbidden_byte(byte)) {
            return Err(Rejection::InvalidHeader);
        }
        if name.eq_ignore_ascii_case(b"host") {
            self.hosts += 1;
        } else if name.eq_ignore_ascii_case(b"content-length") {
            let length = parse_content_length(value)?;
            if self
                .content_length
                .is_some_and(|previous| previous != length)
            {
                return Err(Rejection::ConflictingContentLength);
            }
            self.content_length = Some(length);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.transfer_encoding = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&byte| byte == b',').map(trim_whitespace) {
                self.close |= option.eq_ignore_ascii_case(b"close");
                self.keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            if !value.eq_ignore_ascii_case(b"100-continue") {
                return Err(Rejection::UnsupportedExpectation);
            }
            self.expect_continue = true;
        }
        Ok(())
    }
}

/// Parses a complete request head: the request line, header lines, and the empty line that
/// ends it (each line ended by LF or CRLF). Leading empty lines must already be removed.
pub fn parse_head(head: &[u8]) -> Result<RequestHead, Rejection> {
    if head.iter().any(|&byte| is_forbidden_byte(byte)) {
        return Err(Rejection::ControlCharacter);
    }
    // Every line, the empty one that ends the head included, must end with LF.
    let mut lines = head.split_inclusive(|&byte| byte == b'\n');
    let first = lines.next().and_then(|first| first.strip_suffix(b"\n"));
    let line = parse_request_line(first.ok_or(Rejection::IncompleteHead)?)?;
    let mut fields = Fields::default();
    let mut ended = false;
    for raw_line in lines {
        let raw_line = raw_line
            .strip_suffix(b"\n")
            .ok_or(Rejection::IncompleteHead)?;
        let header_line = strip_carriage_return(raw_line)?;
        if header_line.is_empty() {
            ended = true;
            break;
        }
        fields.add(header_line)?;
    }
    if !ended {
        return Err(Rejection::IncompleteHead);
    }
    if fields.hosts > 1 {
        return Err(Rejection::DuplicateHost);
    }
    if fields.hosts == 0 && line.version == Version::Http11 {
        return Err(Rejection::MissingHost);
    }
    if fields.transfer_encoding {
        return Err(if fields.content_length.is_some() {
            Rejection::TransferEncodingWithContentLength
        } else {
            Rejection::TransferEncodingNotImplemented
        });
    }
    let content_length = fields.content_length.unwrap_or(0);
    if content_length > MAX_BODY_LENGTH {
        return Err(Rejection::BodyTooLarge);
    }
    let keep_alive = !fields.close
        && match line.version {
            Version::Http11 => true,
            Version::Http10 => fields.keep_alive,
        };
    Ok(RequestHead {
        line,
        keep_alive,
        content_length,
        expect_continue: fields.expect_continue,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> Result<RequestLine, Rejection> {
        parse_request_line(text.as_bytes())
    }

    fn head(text: &str) -> Result<RequestHead, Rejection> {
        parse_head(text.as_bytes())
    }

    const HEALTH_GET: RequestLine = RequestLine {
        method: Method::Get,
        resource: Resource::Health,
        version: Version::Http11,
    };

    #[test]
    fn request_lines() {
        assert_eq!(line("GET /healthz HTTP/1.1"), Ok(HEALTH_GET));
        assert_eq!(line("GET /healthz HTTP/1.1\r"), Ok(HEALTH_GET));
        assert_eq!(
            line("GET /healthz?verbose=1&x=%20 HTTP/1.1"),
            Ok(HEALTH_GET)
        );
        assert_eq!(
            line("GET http://10.0.2.15:80/healthz HTTP/1.1"),
            Ok(HEALTH_GET)
        );
        assert_eq!(line("GET HTTP://dpu/healthz?a HTTP/1.1"), Ok(HEALTH_GET));
        let other = line("GET http://dpu HTTP/1.1").unwrap();
        assert_eq!(other.resource, Resource::Unknown);
        assert_eq!(line("HEAD /healthz HTTP/1.0").unwrap().method, Method::Head);
        assert_eq!(
            line("HEAD /healthz HTTP/1.0").unwrap().version,
            Version::Http10
        );
        assert_eq!(line("get /healthz HTTP/1.1").unwrap().method, Method::Other);
        assert_eq!(
            line("M-SEARCH /healthz HTTP/1.1").unwrap().method,
            Method::Other
        );
        for unknown in [
            "/",
            "/healthz/",
            "/HEALTHZ",
            "/health%7a",
            "/healthz%00",
            "//healthz",
        ] {
            let text = std::format!("GET {unknown} HTTP/1.1");
            assert_eq!(
                line(&text).unwrap().resource,
                Resource::Unknown,
                "{unknown}"
            );
        }
    }

    #[test]
    fn request_line_errors() {
        use Rejection::*;
        let cases = [
            ("", InvalidRequestLine),
            ("GET", InvalidRequestLine),
            ("GET /healthz", InvalidRequestLine),
            ("GET  /healthz HTTP/1.1", InvalidVersion),
            ("GET /healthz  HTTP/1.1", InvalidVersion),
            (" GET /healthz HTTP/1.1", InvalidVersion),
            ("GET /healthz HTTP/1.1 ", InvalidVersion),
            ("GET\t/healthz HTTP/1.1", InvalidRequestLine),
            ("GET /healthz http/1.1", InvalidVersion),
            ("GET /healthz HTTP/1", InvalidVersion),
            ("GET /healthz HTTP/10.0", InvalidVersion),
            ("GET /healthz HTTP/1.1\rX", BareCarriageReturn),
            ("GET /healthz HTTP/2.0", UnsupportedVersion),
            ("GET /healthz HTTP/0.9", UnsupportedVersion),
            ("GET /healthz HTTP/1.2", UnsupportedVersion),
            ("PRI * HTTP/2.0", UnsupportedVersion),
            ("G(T /healthz HTTP/1.1", InvalidMethod),
            ("GET healthz HTTP/1.1", InvalidTarget),
            ("GET * HTTP/1.1", InvalidTarget),
            ("GET /a#b HTTP/1.1", InvalidTarget),
            ("GET /%zz HTTP/1.1", InvalidTarget),
            ("GET /% HTTP/1.1", InvalidTarget),
            ("GET /\u{e9} HTTP/1.1", InvalidRequestLine),
            ("GET ftp://x/healthz HTTP/1.1", InvalidTarget),
            ("GET http:///healthz HTTP/1.1", InvalidTarget),
            ("GET http:// HTTP/1.1", InvalidTarget),
        ];
        for (text, expected) in cases {
            assert_eq!(line(text), Err(expected), "{text:?}");
        }
        assert_eq!(
            parse_request_line(b"GET /\x00 HTTP/1.1"),
            Err(InvalidRequestLine)
        );
    }

    #[test]
    fn heads() {
        let parsed = head("GET /healthz HTTP/1.1\r\nHost: dpu\r\nAccept: */*\r\n\r\n").unwrap();
        assert_eq!(parsed.line, HEALTH_GET);
        assert!(parsed.keep_alive);
        assert_eq!(parsed.content_length, 0);
        assert!(!parsed.expect_continue);

        let bare_lf = head("GET /healthz HTTP/1.1\nhOsT:dpu\nX-Empty:\n\n").unwrap();
        assert_eq!(bare_lf.line, HEALTH_GET);

        let close = head("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n");
        assert!(!close.unwrap().keep_alive);
        assert!(!head("GET / HTTP/1.0\r\n\r\n").unwrap().keep_alive);
        let keep = head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(keep.keep_alive);
        let body = head("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0012\r\n\r\n").unwrap();
        assert_eq!(body.content_length, 12);
        let same = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n";
        assert_eq!(head(same).unwrap().content_length, 3);
        let expect = head("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").unwrap();
        assert!(expect.expect_continue);
        let value = head("GET / HTTP/1.1\r\nHost: a\r\nX: caf\u{e9} \t v\t\r\n\r\n");
        assert!(
            value.is_ok(),
            "obs-text and inner whitespace in values are fine"
        );
    }

    #[test]
    fn head_errors() {
        use Rejection::*;
        let cases = [
            ("GET / HTTP/1.1\r\n\r\n", MissingHost),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
                DuplicateHost,
            ),
            ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", InvalidHeader),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
                InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\n: empty\r\n\r\n",
                InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n",
                InvalidHeader,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nX: y\r\n folded\r\n\r\n",
                ObsoleteLineFolding,
            ),
            ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", ObsoleteLineFolding),
            (
                "GET / HTTP/1.1\r\nHost: a\rX-Injected: 1\r\n\r\n",
                BareCarriageReturn,
            ),
            ("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", BareCarriageReturn),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
                InvalidContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                ConflictingContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 16385\r\n\r\n",
                BodyTooLarge,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                BodyTooLarge,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
                TransferEncodingNotImplemented,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                TransferEncodingWithContentLength,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n",
                UnsupportedExpectation,
            ),
            ("GET / HTTP/1.1\r\nHost: a\r\n", IncompleteHead),
            ("GET / HTTP/1.1\r\nHost: a\r\n\r", IncompleteHead),
            ("GET / HTTP/1.1", IncompleteHead),
            ("", IncompleteHead),
            ("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", ControlCharacter),
            ("GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", ControlCharacter),
            ("GET / HTTP/1.1\r\nX: \0\r\n\r\n", ControlCharacter),
        ];
        for (text, expected) in cases {
            assert_eq!(head(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn rejection_statuses() {
        assert_eq!(Rejection::UnsupportedVersion.status().code(), 505);
        assert_eq!(
            Rejection::TransferEncodingNotImplemented.status().code(),
            501
        );
        assert_eq!(Rejection::HeadTooLarge.status().code(), 431);
        assert_eq!(Rejection::BodyTooLarge.status().code(), 413);
        assert_eq!(Rejection::UnsupportedExpectation.status().code(), 417);
        assert_eq!(Rejection::MissingHost.status().code(), 400);
        assert!(!Rejection::InvalidHeader.message().is_empty());
    }

    #[test]
    fn forbidden_bytes() {
        assert!(is_forbidden_byte(0));
        assert!(is_forbidden_byte(0x1b));
        assert!(is_forbidden_byte(0x7f));
        assert!(!is_forbidden_byte(b'\t'));
        assert!(!is_forbidden_byte(b'\r'));
        assert!(!is_forbidden_byte(b'\n'));
        assert!(!is_forbidden_byte(b' '));
        assert!(!is_forbidden_byte(0x80));
        assert!(!is_forbidden_byte(0xff));
    }
}
