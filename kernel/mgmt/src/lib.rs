//! Management endpoint logic: HTTP/1.1 parsing, routing and JSON, pure.
//!
//! The first brick of the DPU's HTTP/JSON management API, served on TCP port 80 of the
//! management NIC. This crate holds everything but the socket: [`Connection`] turns received
//! bytes into responses written to a caller's buffer, with fixed memory per connection, no heap
//! and no `unsafe`; [`HttpServer`] keeps a slot per TCP connection and hands each response out
//! as the socket has room. The TCP plumbing (smoltcp, in `kernel/net`) drives the server, and
//! the kernel fills a [`StatusSnapshot`] for `/healthz`.
//!
//! Served now (described in `docs/api/openapi.yaml`):
//! - `GET /healthz`: 200, one-line JSON: status, version, git revision, uptime, NICs.
//! - `HEAD /healthz`: the same headers, no body.
//! - other methods on `/healthz`: 405 with `Allow: GET, HEAD`; unknown paths: 404.
//! - malformed requests: 400 (431 head too large, 413 body too large, 501 Transfer-Encoding,
//!   505 other HTTP versions, 417 unsupported Expect); 408 when a request stalls.
//!
//! Every error body is `{"status":<code>,"error":"<reason phrase>","message":"<text>"}`.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod api;
pub mod connection;
pub mod json;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
pub mod status;

pub use connection::{
    Action, Connection, Counters, IDLE_TIMEOUT_MS, Progress, REQUEST_BUFFER_SIZE,
    RESPONSE_BUFFER_SIZE,
};
pub use server::{HttpServer, SendOutcome};
pub use status::{LinkState, MAX_NICS, NicRole, NicStatus, StatusSnapshot};
