//! Maps a parsed request line to what the server answers: the API's routing table.

use crate::request::{Method, RequestLine, Resource};

/// Methods `/healthz` accepts, as sent in `Allow`.
pub const HEALTH_ALLOW: &str = "GET, HEAD";

/// What to answer a well-formed request with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// 200 with the health document (headers only for HEAD).
    Health,
    /// 404: unknown path (any method).
    NotFound,
    /// 405: known path, other method; `allow` lists the accepted methods.
    MethodNotAllowed {
        /// Value of the `Allow` header.
        allow: &'static str,
    },
}

/// Routes `line`: the path decides first (unknown => 404), then the method.
#[must_use]
pub const fn route(line: &RequestLine) -> Route {
    match (line.resource, line.method) {
        (Resource::Health, Method::Get | Method::Head) => Route::Health,
        (Resource::Health, Method::Other) => Route::MethodNotAllowed {
            allow: HEALTH_ALLOW,
        },
        (Resource::Unknown, _) => Route::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Version;

    fn line(method: Method, resource: Resource) -> RequestLine {
        RequestLine {
            method,
            resource,
            version: Version::Http11,
        }
    }

    #[test]
    fn table() {
        assert_eq!(route(&line(Method::Get, Resource::Health)), Route::Health);
        assert_eq!(route(&line(Method::Head, Resource::Health)), Route::Health);
        assert_eq!(
            route(&line(Method::Other, Resource::Health)),
            Route::MethodNotAllowed { allow: "GET, HEAD" }
        );
        for method in [Method::Get, Method::Head, Method::Other] {
            assert_eq!(route(&line(method, Resource::Unknown)), Route::NotFound);
        }
    }
}
