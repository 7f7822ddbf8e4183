//! Management endpoint logic: the HTTP/1.1 server, auth, problem+json and JSON, pure.
//!
//! The DPU's HTTP/JSON management API is served on TCP port 80 of the management NIC. This
//! crate holds everything but the socket: [`HttpServer`] keeps a slot per TCP connection, parses
//! request heads with `httparse`, applies the limits, deadlines and bearer-token policy, and
//! hands each request to a [`Handler`] (the API, module `api`; `/healthz` is
//! [`health::Health`]). Fixed memory per connection, no heap, no `unsafe`. The TCP plumbing
//! (smoltcp, in `kernel/net`) drives the server through [`Service`], and the kernel fills a
//! [`StatusSnapshot`] for `/healthz`.
//!
//! Errors are RFC 9457 problem documents ([`problem`]): `type`, `title`, `status`, `detail`
//! and a machine-readable `code`.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod api;
pub mod auth;
pub mod handler;
pub mod health;
pub mod json;
pub mod problem;
pub mod server;
pub mod status;
pub mod status_code;

pub use auth::{Credentials, NoCredentials, Role, Throttle};
pub use handler::{
    BodySink, BodySource, Feed, Handler, Intake, MAX_WHOLE_BODY, Method, Pieces, Request, Response,
    Version,
};
pub use server::{
    Availability, BODY_TIMEOUT_MS, Counters, HEAD_TIMEOUT_MS, HttpServer, IDLE_TIMEOUT_MS,
    MAX_HEAD, MAX_HEADERS, MAX_REQUEST_LINE, MAX_RESPONSE_BODY, SendOutcome, Service,
};
pub use status::{LinkState, MAX_NICS, NicRole, NicStatus, StatusSnapshot};
pub use status_code::StatusCode;
