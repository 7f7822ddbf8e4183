//! HTTP status codes the management API sends, with their RFC 9110 reason phrases.

/// An HTTP status code (100..=599). The constants are the ones the API uses; any other code in
/// range can be made with [`StatusCode::new`] and gets a generic reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 200.
    pub const OK: Self = Self(200);
    /// 201 (with `Location`).
    pub const CREATED: Self = Self(201);
    /// 202 (with `Location` of a task).
    pub const ACCEPTED: Self = Self(202);
    /// 204: no body.
    pub const NO_CONTENT: Self = Self(204);
    /// 400.
    pub const BAD_REQUEST: Self = Self(400);
    /// 401 (with `WWW-Authenticate: Bearer`).
    pub const UNAUTHORIZED: Self = Self(401);
    /// 403.
    pub const FORBIDDEN: Self = Self(403);
    /// 404.
    pub const NOT_FOUND: Self = Self(404);
    /// 405 (with `Allow`).
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 406.
    pub const NOT_ACCEPTABLE: Self = Self(406);
    /// 408: the request head or body did not arrive in time.
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 409.
    pub const CONFLICT: Self = Self(409);
    /// 411: `Content-Length` required.
    pub const LENGTH_REQUIRED: Self = Self(411);
    /// 413: the body is longer than the resource takes.
    pub const CONTENT_TOO_LARGE: Self = Self(413);
    /// 414: the request line (target) is too long.
    pub const URI_TOO_LONG: Self = Self(414);
    /// 415.
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    /// 417: an `Expect` other than `100-continue`.
    pub const EXPECTATION_FAILED: Self = Self(417);
    /// 422.
    pub const UNPROCESSABLE_CONTENT: Self = Self(422);
    /// 429.
    pub const TOO_MANY_REQUESTS: Self = Self(429);
    /// 431: too many header fields, or the head is too large.
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: Self = Self(431);
    /// 500.
    pub const INTERNAL_SERVER_ERROR: Self = Self(500);
    /// 501: `Transfer-Encoding` in a request.
    pub const NOT_IMPLEMENTED: Self = Self(501);
    /// 503 (with `Retry-After`).
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    /// 505.
    pub const HTTP_VERSION_NOT_SUPPORTED: Self = Self(505);

    /// `code` if it is in 100..=599.
    #[must_use]
    pub const fn new(code: u16) -> Option<Self> {
        if code >= 100 && code <= 599 {
            Some(Self(code))
        } else {
            None
        }
    }

    /// The numeric code.
    #[must_use]
    pub const fn code(self) -> u16 {
        self.0
    }

    /// The class digit: 2 for 2xx, 4 for 4xx...
    #[must_use]
    pub const fn class(self) -> u16 {
        self.0 / 100
    }

    /// Whether this is a 4xx or 5xx.
    #[must_use]
    pub const fn is_error(self) -> bool {
        self.0 >= 400
    }

    /// Whether a response with this status carries no body at all (1xx, 204, 304).
    #[must_use]
    pub const fn forbids_body(self) -> bool {
        self.0 < 200 || self.0 == 204 || self.0 == 304
    }

    /// The reason phrase (RFC 9110 §15).
    #[must_use]
    #[allow(
        clippy::match_overlapping_arm,
        reason = "the ranges catch the codes without a phrase of their own"
    )]
    pub const fn reason(self) -> &'static str {
        match self.0 {
            200 => "OK",
            201 => "Created",
            202 => "Accepted",
            204 => "No Content",
            304 => "Not Modified",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            406 => "Not Acceptable",
            408 => "Request Timeout",
            409 => "Conflict",
            410 => "Gone",
            411 => "Length Required",
            412 => "Precondition Failed",
            413 => "Content Too Large",
            414 => "URI Too Long",
            415 => "Unsupported Media Type",
            417 => "Expectation Failed",
            422 => "Unprocessable Content",
            428 => "Precondition Required",
            429 => "Too Many Requests",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            505 => "HTTP Version Not Supported",
            507 => "Insufficient Storage",
            100..=199 => "Informational",
            200..=299 => "Success",
            300..=399 => "Redirection",
            400..=499 => "Client Error",
            _ => "Server Error",
        }
    }
}

/// `404 Not Found`.
impl core::fmt::Display for StatusCode {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_classes_and_words() {
        assert_eq!(StatusCode::new(99), None);
        assert_eq!(StatusCode::new(600), None);
        assert_eq!(StatusCode::new(404), Some(StatusCode::NOT_FOUND));
        assert_eq!(StatusCode::NOT_FOUND.class(), 4);
        assert!(StatusCode::CONFLICT.is_error() && !StatusCode::ACCEPTED.is_error());
        assert!(StatusCode::NO_CONTENT.forbids_body() && !StatusCode::OK.forbids_body());
        assert_eq!(
            std::format!("{}", StatusCode::URI_TOO_LONG),
            "414 URI Too Long"
        );
        assert_eq!(
            StatusCode::new(499).map(StatusCode::reason),
            Some("Client Error")
        );
    }
}
