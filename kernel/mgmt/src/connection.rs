//! Per-connection state machine: gathers request bytes, answers, times out idle peers.
//!
//! The TCP plumbing owns the socket and drives one [`Connection`] per accepted connection:
//!
//! ```text
//! on receive:  progress = connection.on_bytes(now, data)   // offer bytes; keep the
//!              (smoltcp: recv(|d| { let p = ..; (p.consumed, p) }))  unconsumed ones queued
//! every loop:  loop { match connection.poll(now, &snapshot, &mut out) {
//!                  Action::Respond(n) => send out[..n] (all of it) and poll again,
//!                  Action::Close      => close the socket (after queued data) and stop,
//!                  Action::Nothing    => stop } }
//! ```
//!
//! Persistence: HTTP/1.1 connections are kept alive by default and HTTP/1.0 ones on
//! `Connection: keep-alive`, as RFC 9112 §9.3 asks; a client's `Connection: close` is honoured.
//! Responses after which the byte stream cannot be trusted (every 4xx/5xx from the parser, the
//! 408, a skipped `Expect: 100-continue` body) say `Connection: close` and are followed by
//! [`Action::Close`]. Pipelined requests are answered in order, one response per `poll`;
//! bytes after a response that closes are discarded.
//!
//! Flow control: a request head is gathered in a fixed buffer of [`REQUEST_BUFFER_SIZE`] bytes;
//! `on_bytes` consumes only what fits and nothing while a response waits to be polled, so the
//! rest stays in the socket's receive window. Bodies (up to
//! [`MAX_BODY_LENGTH`](crate::request::MAX_BODY_LENGTH)) are consumed and discarded.
//!
//! Timeout: a complete request (head and body) must arrive within [`IDLE_TIMEOUT_MS`] of the
//! connection opening or of the previous response. Arriving bytes do not restart the clock, so a
//! peer trickling one byte at a time cannot hold the connection forever. A peer that sent
//! nothing is closed silently; one with a partial request gets 408 first.

use crate::request::{self, Method, Rejection, RequestHead};
use crate::response::{self, Body, Response, Status};
use crate::router::{self, Route};
use crate::status::StatusSnapshot;

/// Bytes of request line and headers a connection buffers; a longer head gets 431.
pub const REQUEST_BUFFER_SIZE: usize = 2048;
/// Time a peer has to deliver a complete request, from connect or from the previous response.
pub const IDLE_TIMEOUT_MS: u64 = 5000;
/// An output buffer size that fits every response of this server: the largest `/healthz`
/// ([`MAX_NICS`](crate::MAX_NICS) NICs, 16-byte names, 32-byte version, 40-byte git revision,
/// every character escaped) fits, as a test checks. A response that does not fit becomes a 500.
pub const RESPONSE_BUFFER_SIZE: usize = 4096;

const _: () = assert!(
    REQUEST_BUFFER_SIZE >= 256,
    "room for a realistic request head"
);

/// What `on_bytes` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input taken; the caller keeps the rest and offers it again later.
    pub consumed: usize,
    /// A response (or close) is ready: call [`Connection::poll`].
    pub response_ready: bool,
}

/// What the caller must do after `poll`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Action {
    /// Nothing now; poll again later (the timeout needs polling too).
    Nothing,
    /// Send the first `n` bytes of the output buffer, then poll again.
    Respond(usize),
    /// Close the connection (after any queued response bytes are sent).
    Close,
}

/// Event counts of one connection; [`Counters::merge`] sums them for the whole server.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Well-formed requests (routed, whatever the answer).
    pub requests: u64,
    /// Responses sent per status class: index 0 for 1xx ... index 4 for 5xx.
    pub responses_by_class: [u64; 5],
    /// Requests refused by the parser (400, 413, 417, 431, 501, 505).
    pub malformed: u64,
    /// Connections closed by the idle timeout (with or without a 408).
    pub timeouts: u64,
}

impl Counters {
    /// Responses sent with status class `class` (2 for 2xx...); 0 for classes out of range.
    #[must_use]
    pub fn responses(&self, class: u16) -> u64 {
        usize::from(class)
            .checked_sub(1)
            .and_then(|index| self.responses_by_class.get(index))
            .copied()
            .unwrap_or(0)
    }

    /// Adds `other`'s counts to these (saturating).
    pub fn merge(&mut self, other: &Self) {
        self.requests = self.requests.saturating_add(other.requests);
        for (total, count) in self
            .responses_by_class
            .iter_mut()
            .zip(other.responses_by_class)
        {
            *total = total.saturating_add(count);
        }
        self.malformed = self.malformed.saturating_add(other.malformed);
        self.timeouts = self.timeouts.saturating_add(other.timeouts);
    }

    fn count_response(&mut self, status: Status) {
        let index = usize::from(status.class()).saturating_sub(1);
        if let Some(count) = self.responses_by_class.get_mut(index) {
            *count = count.saturating_add(1);
        }
    }
}

/// `3 requests, 2xx 1 4xx 1 5xx 1, malformed 1, timeouts 0`.
impl core::fmt::Display for Counters {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "{} requests, 2xx {} 4xx {} 5xx {}, malformed {}, timeouts {}",
            self.requests,
            self.responses(2),
            self.responses(4),
            self.responses(5),
            self.malformed,
            self.timeouts
        )
    }
}

/// The answer decided for a request, before it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    Routed(Route),
    Rejected(Rejection),
    Timeout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    reply: Reply,
    head_only: bool,
    keep_alive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Gathering a request head.
    Head,
    /// Discarding `remaining` body bytes before answering.
    Body { remaining: u64, pending: Pending },
    /// A response waits for `poll`.
    Ready(Pending),
    /// The last response was handed out; the next `poll` says Close.
    Closing,
    /// Done: input is discarded, `poll` keeps saying Close.
    Closed,
}

/// One HTTP connection's state (about 2 KiB; keep them in a static pool).
#[derive(Debug, Clone)]
pub struct Connection {
    buffer: [u8; REQUEST_BUFFER_SIZE],
    /// Bytes held in `buffer`.
    buffered: usize,
    /// Bytes of `buffer` already checked for line ends.
    scanned: usize,
    /// Start of the line being scanned.
    line_start: usize,
    /// The current head's request line, once complete and valid, said this method.
    request_method: Option<Method>,
    phase: Phase,
    /// When the wait for the current request began.
    waiting_since_ms: u64,
    counters: Counters,
}

impl Connection {
    /// A connection accepted at `now_ms`.
    #[must_use]
    pub const fn new(now_ms: u64) -> Self {
        Self {
            buffer: [0; REQUEST_BUFFER_SIZE],
            buffered: 0,
            scanned: 0,
            line_start: 0,
            request_method: None,
            phase: Phase::Head,
            waiting_since_ms: now_ms,
            counters: Counters {
                requests: 0,
                responses_by_class: [0; 5],
                malformed: 0,
                timeouts: 0,
            },
        }
    }

    /// This connection's counts so far.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// Whether the connection is finished (`poll` returned or will return Close).
    #[must_use]
    pub const fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closing | Phase::Closed)
    }

    /// Offers received bytes; takes what it can (see [`Progress`]).
    pub fn on_bytes(&mut self, _now_ms: u64, input: &[u8]) -> Progress {
        let mut consumed = 0;
        while consumed < input.len() {
            let rest = &input[consumed..];
            match &mut self.phase {
                Phase::Head => {
                    let space = &mut self.buffer[self.buffered..];
                    let taken = space.len().min(rest.len());
                    if taken == 0 {
                        break;
                    }
                    space[..taken].copy_from_slice(&rest[..taken]);
                    self.buffered += taken;
                    consumed += taken;
                    self.advance();
                }
                Phase::Body { remaining, pending } => {
                    let available = u64::try_from(rest.len()).unwrap_or(u64::MAX);
                    let taken = (*remaining).min(available);
                    *remaining -= taken;
                    // `taken` is at most `rest.len()`, so it fits in usize.
                    consumed += usize::try_from(taken).unwrap_or(rest.len());
                    if *remaining == 0 {
                        self.phase = Phase::Ready(*pending);
                    }
                }
                Phase::Ready(_) => break,
                Phase::Closing | Phase::Closed => {
                    consumed = input.len();
                }
            }
        }
        Progress {
            consumed,
            response_ready: self.has_output(),
        }
    }

    /// Whether `poll` has a response or close to hand out now.
    fn has_output(&self) -> bool {
        matches!(self.phase, Phase::Ready(_) | Phase::Closing)
    }

    /// Hands out the next response into `out`, or a close, or a timeout; see [`Action`].
    /// `snapshot` is only read when answering `/healthz`.
    pub fn poll(&mut self, now_ms: u64, snapshot: &StatusSnapshot<'_>, out: &mut [u8]) -> Action {
        match self.phase {
            Phase::Ready(pending) => self.respond(now_ms, pending, snapshot, out),
            Phase::Closing => {
                self.phase = Phase::Closed;
                Action::Close
            }
            Phase::Closed => Action::Close,
            Phase::Head | Phase::Body { .. } => {
                if now_ms.saturating_sub(self.waiting_since_ms) < IDLE_TIMEOUT_MS {
                    return Action::Nothing;
                }
                self.counters.timeouts += 1;
                if self.phase == Phase::Head && self.buffered == 0 {
                    self.phase = Phase::Closed;
                    return Action::Close;
                }
                let pending = Pending {
                    reply: Reply::Timeout,
                    head_only: self.is_head_request(),
                    keep_alive: false,
                };
                self.respond(now_ms, pending, snapshot, out)
            }
        }
    }

    fn respond(
        &mut self,
        now_ms: u64,
        pending: Pending,
        snapshot: &StatusSnapshot<'_>,
        out: &mut [u8],
    ) -> Action {
        let (status, body, allow) = match pending.reply {
            Reply::Routed(Route::Health) => (Status::Ok, Body::Health(snapshot), None),
            Reply::Routed(Route::NotFound) => (
                Status::NotFound,
                Body::Error("no resource at this path"),
                None,
            ),
            Reply::Routed(Route::MethodNotAllowed { allow }) => (
                Status::MethodNotAllowed,
                Body::Error("method not allowed on this resource"),
                Some(allow),
            ),
            Reply::Rejected(rejection) => {
                (rejection.status(), Body::Error(rejection.message()), None)
            }
            Reply::Timeout => (
                Status::RequestTimeout,
                Body::Error("no complete request within the idle timeout"),
                None,
            ),
        };
        let response = Response {
            status,
            body,
            keep_alive: pending.keep_alive,
            head_only: pending.head_only,
            allow,
        };
        let written = match response::write_response(out, &response) {
            Ok(length) => Ok((length, response)),
            Err(_) => {
                let fallback = Response {
                    status: Status::InternalServerError,
                    body: Body::Error("response too large for the output buffer"),
                    keep_alive: false,
                    head_only: pending.head_only,
                    allow: None,
                };
                response::write_response(out, &fallback).map(|length| (length, fallback))
            }
        };
        let Ok((length, sent)) = written else {
            self.phase = Phase::Closed;
            return Action::Close;
        };
        self.counters.count_response(sent.status);
        if sent.keep_alive {
            self.phase = Phase::Head;
            self.waiting_since_ms = now_ms;
            // A pipelined request may already be buffered.
            self.advance();
        } else {
            self.phase = Phase::Closing;
            self.buffered = 0;
        }
        Action::Respond(length)
    }

    /// Drops the first `count` buffered bytes.
    fn discard_front(&mut self, count: usize) {
        let count = count.min(self.buffered);
        self.buffer.copy_within(count..self.buffered, 0);
        self.buffered -= count;
        self.scanned = self.scanned.saturating_sub(count);
        self.line_start = self.line_start.saturating_sub(count);
    }

    /// Scans newly buffered bytes: refuses bad ones at once, checks the request line as soon as
    /// it is complete, and acts on a complete head.
    fn advance(&mut self) {
        while self.phase == Phase::Head && self.scanned < self.buffered {
            let byte = self.buffer[self.scanned];
            self.scanned += 1;
            if request::is_forbidden_byte(byte) {
                return self.reject(Rejection::ControlCharacter);
            }
            if byte != b'\n' {
                continue;
            }
            let line = &self.buffer[self.line_start..self.scanned - 1];
            let empty = line.is_empty() || line == b"\r";
            if self.request_method.is_none() {
                if empty {
                    // RFC 9112 §2.2: ignore empty lines before a request line.
                    self.discard_front(self.scanned);
                    continue;
                }
                match request::parse_request_line(line) {
                    Ok(request_line) => self.request_method = Some(request_line.method),
                    Err(rejection) => return self.reject(rejection),
                }
            } else if empty {
                let head_end = self.scanned;
                let parsed = request::parse_head(&self.buffer[..head_end]);
                self.discard_front(head_end);
                return match parsed {
                    Ok(head) => self.accept(&head),
                    Err(rejection) => self.reject(rejection),
                };
            }
            self.line_start = self.scanned;
        }
        if self.phase == Phase::Head && self.buffered == self.buffer.len() {
            self.reject(Rejection::HeadTooLarge);
        }
    }

    fn accept(&mut self, head: &RequestHead) {
        self.request_method = None;
        self.counters.requests += 1;
        let mut pending = Pending {
            reply: Reply::Routed(router::route(&head.line)),
            head_only: head.line.method == Method::Head,
            keep_alive: head.keep_alive,
        };
        if head.content_length == 0 {
            self.phase = Phase::Ready(pending);
        } else if head.expect_continue {
            // The client waits for 100 before sending the body; answer now and close rather
            // than read a body this server has no use for.
            pending.keep_alive = false;
            self.phase = Phase::Ready(pending);
        } else {
            // Part of the body may already be buffered.
            let buffered = u64::try_from(self.buffered).unwrap_or(u64::MAX);
            let taken = head.content_length.min(buffered);
            self.discard_front(usize::try_from(taken).unwrap_or(self.buffered));
            let remaining = head.content_length - taken;
            self.phase = if remaining == 0 {
                Phase::Ready(pending)
            } else {
                Phase::Body { remaining, pending }
            };
        }
    }

    /// Whether the request being gathered said HEAD (its answer, even an error, has no body).
    fn is_head_request(&self) -> bool {
        self.request_method == Some(Method::Head)
    }

    fn reject(&mut self, rejection: Rejection) {
        self.counters.malformed += 1;
        self.phase = Phase::Ready(Pending {
            reply: Reply::Rejected(rejection),
            head_only: self.is_head_request(),
            keep_alive: false,
        });
        self.request_method = None;
        self.buffered = 0;
        self.scanned = 0;
        self.line_start = 0;
    }
}
