//! `/healthz` as a [`Handler`]: the kernel's status snapshot, anonymous, GET and HEAD.

use crate::handler::{Handler, Method, Request, Response};
use crate::status::{self, StatusSnapshot};
use crate::status_code::StatusCode;

/// The path this handler serves (the only one that needs no token).
pub const HEALTH_PATH: &str = "/healthz";
/// Methods `/healthz` accepts, as sent in `Allow`.
pub const HEALTH_ALLOW: &str = "GET, HEAD";

/// Serves `/healthz` from a snapshot.
#[derive(Debug)]
pub struct Health<'s, 'a> {
    /// What to report.
    pub snapshot: &'s StatusSnapshot<'a>,
}

impl Handler for Health<'_, '_> {
    fn respond(&mut self, request: &Request<'_>, _body: &[u8], response: &mut Response<'_>) {
        match request.method {
            Method::Get | Method::Head => {
                let snapshot = self.snapshot;
                response.set_status(StatusCode::OK);
                // An overflow is remembered by the sink; the server answers 500.
                let _ = status::write_health(response.body(), snapshot);
            }
            _ => {
                response.problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "/healthz takes GET and HEAD",
                );
                response.set_allow(HEALTH_ALLOW);
            }
        }
    }
}

/// Answers every request with 404 problem+json: the API until one is plugged in.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotFound;

impl Handler for NotFound {
    fn respond(&mut self, _request: &Request<'_>, _body: &[u8], response: &mut Response<'_>) {
        response.problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "no resource at this path",
        );
    }
}
