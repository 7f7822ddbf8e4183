//! The management HTTP server: connection slots, request heads (httparse), limits, deadlines,
//! authentication, and response framing around a [`Handler`].
//!
//! The TCP plumbing (`dpu_net::MgmtStack`) numbers its connections `0..SLOTS` and calls
//! [`open`](HttpServer::open), [`receive`](HttpServer::receive), [`send`](HttpServer::send)
//! and [`close`](HttpServer::close) for each (through [`Service`]). Per connection:
//!
//! - the head is gathered in the slot's input buffer and parsed with `httparse` once a line
//!   end arrives; limits: request line [`MAX_REQUEST_LINE`] (414), [`MAX_HEADERS`] fields and
//!   [`MAX_HEAD`] bytes (431), bodies by the handler's [`Intake`] (413, 411 when streamed
//!   without `Content-Length`); `Transfer-Encoding` in a request is 501;
//! - deadlines: an idle keep-alive connection closes after [`IDLE_TIMEOUT_MS`] silently; a
//!   head must be complete [`HEAD_TIMEOUT_MS`] after its first byte, a whole body within
//!   [`BODY_TIMEOUT_MS`] of the head, and a streamed body may not stall longer than that (408);
//! - everything but `/healthz` needs `Authorization: Bearer` with a token [`Credentials`] knows
//!   (401 + `WWW-Authenticate: Bearer`; a wrong token's 401 is held back by a backoff that
//!   doubles with each new wrong token from the address, see [`crate::auth::Throttle`]), and
//!   writes need a role that may write (403);
//! - while the service is unavailable ([`set_unavailable`](HttpServer::set_unavailable)),
//!   everything but `/healthz` is 503 with `Retry-After`;
//! - responses are framed here (status line, `Content-Length` or chunked pieces, fixed headers)
//!   and requests are answered in order (pipelined ones wait in the buffer or the socket);
//! - when sockets run low the stack asks [`evict`](HttpServer::evict) for the connection to
//!   drop: the one waiting longest for a request (or holding a delayed 401).

use crate::auth::{self, Credentials, Role, Throttle};
use crate::handler::{
    BodySink, BodySource, Feed, Handler, Intake, MAX_WHOLE_BODY, Method, Pieces, Request, Response,
    Version,
};
use crate::health::{HEALTH_PATH, Health};
use crate::json::{self, SliceSink};
use crate::status::StatusSnapshot;
use crate::status_code::StatusCode;
use core::net::IpAddr;

/// Longest request line (method, target, version); longer: 414.
pub const MAX_REQUEST_LINE: usize = 1024;
/// Most header fields; more: 431.
pub const MAX_HEADERS: usize = 32;
/// Largest request head (request line and fields); larger: 431.
pub const MAX_HEAD: usize = 4096;
/// A slot's input buffer: a whole head and a whole small body.
pub const INPUT_BUFFER_SIZE: usize = MAX_HEAD + MAX_WHOLE_BODY;
/// A slot's output buffer: a response head and a body or piece.
pub const OUTPUT_BUFFER_SIZE: usize = 4608;
/// Room before the body for the response head (and the first chunk's size line).
const HEAD_ROOM: usize = 512;
/// Room before a later piece for its chunk-size line.
const CHUNK_ROOM: usize = 8;
/// Room after a piece: its CRLF and the last chunk `0\r\n\r\n`.
const CHUNK_TAIL: usize = 7;
/// The largest body a handler can write whole into a [`Response`].
pub const MAX_RESPONSE_BODY: usize = OUTPUT_BUFFER_SIZE - HEAD_ROOM - CHUNK_TAIL;
/// A keep-alive connection with no request for this long is closed (without a response).
pub const IDLE_TIMEOUT_MS: u64 = 10_000;
/// A request head must be complete this long after its first byte (408 otherwise).
pub const HEAD_TIMEOUT_MS: u64 = 5_000;
/// A whole body must arrive within this of the head; a streamed one may not stall longer.
pub const BODY_TIMEOUT_MS: u64 = 10_000;
/// An unwanted body up to this long is read and dropped (the connection stays open).
pub const DISCARD_LIMIT: u64 = 16 * 1024;
/// `Retry-After` seconds in a 503 while unavailable, unless set otherwise.
pub const DEFAULT_RETRY_AFTER_S: u32 = 5;

const _: () = assert!(MAX_RESPONSE_BODY >= 4000, "room for the largest /healthz");

/// Event counts of the server since boot.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    /// Requests whose head was complete and valid (answered by a handler or refused by policy).
    pub requests: u64,
    /// Responses sent per status class: index 0 for 1xx ... index 4 for 5xx.
    pub responses_by_class: [u64; 5],
    /// Requests refused by the parser or the limits (400, 413, 414, 417, 431, 501, 505).
    pub malformed: u64,
    /// Requests that missed a deadline (408) and idle connections closed.
    pub timeouts: u64,
    /// Requests with a wrong bearer token.
    pub auth_failures: u64,
    /// Requests without a token where one is needed.
    pub auth_missing: u64,
    /// Connections closed to free a socket for a new client.
    pub evictions: u64,
    /// Connections opened.
    pub connections: u64,
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

    fn count_response(&mut self, status: StatusCode) {
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

/// The connection and token figures of [`Counters`], in words:
/// `connections 12, evicted 2, token missing 1, token wrong 3`.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionCounts<'c>(pub &'c Counters);

impl core::fmt::Display for ConnectionCounts<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "connections {}, evicted {}, token missing {}, token wrong {}",
            self.0.connections, self.0.evictions, self.0.auth_missing, self.0.auth_failures
        )
    }
}

/// What [`HttpServer::send`] wrote, and whether the connection should close.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOutcome {
    /// Bytes written at the start of the output buffer.
    pub written: usize,
    /// Close the connection once the written bytes are sent.
    pub close: bool,
}

impl SendOutcome {
    const CLOSE: Self = Self {
        written: 0,
        close: true,
    };
}

/// Offsets of a parsed head in the slot's input buffer (the head stays there until answered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    method: Method,
    version: Version,
    /// Bytes of the head (request line to the empty line).
    length: usize,
    path: (usize, usize),
    query: (usize, usize),
    content_type: Option<(usize, usize)>,
    accept: Option<(usize, usize)>,
    content_length: Option<u64>,
    /// The caller's role as [`role_code`] (0: none), so an empty head is zero bytes.
    role: u8,
    keep_alive: bool,
    health: bool,
    at_ms: u64,
    /// Bytes of a whole body kept after the head in the input buffer (0 unless
    /// [`BodyMode::Whole`]).
    whole_body: usize,
}

impl Head {
    /// All zero bytes (a new server is .bss, not image).
    const EMPTY: Self = Self {
        method: Method::Get,
        version: Version::Http10,
        length: 0,
        path: (0, 0),
        query: (0, 0),
        content_type: None,
        accept: None,
        content_length: None,
        role: 0,
        keep_alive: false,
        health: false,
        at_ms: 0,
        whole_body: 0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyMode {
    /// Collected after the head in the input buffer.
    Whole,
    /// Fed to the handler.
    Stream,
    /// Read and dropped.
    Discard,
}

/// A refusal the server answers itself (with a problem document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Refusal {
    status: StatusCode,
    code: &'static str,
    detail: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Gathering a request head (nothing yet if the buffer is empty).
    Head,
    /// A 401 held until `until_ms` (the backoff for a wrong token).
    Held { until_ms: u64 },
    /// Taking the body.
    Body { mode: BodyMode, remaining: u64 },
    /// The request is complete: the handler answers at the next send.
    Respond,
    /// A refusal to send at the next send.
    Refuse(Refusal),
    /// Handing out a response; `pieces` while [`Handler::piece`] has more.
    Sending {
        pieces: bool,
        chunked: bool,
        cursor: u64,
    },
    /// The last response is out: close.
    Closing,
}

/// One connection slot.
struct Slot {
    open: bool,
    /// The client's address ([`Slot::remote`]); stored plainly so a new slot is zero bytes.
    remote_address: IpAddr,
    remote_known: bool,
    state: State,
    head: Head,
    /// Close after the current response.
    close_after: bool,
    /// Send the headers only (HEAD).
    head_only: bool,
    input: [u8; INPUT_BUFFER_SIZE],
    buffered: usize,
    /// Bytes of `input` already searched for a line end.
    scanned: usize,
    output: [u8; OUTPUT_BUFFER_SIZE],
    out_start: usize,
    out_end: usize,
    /// A static body still to send, from `static_sent`.
    static_body: Option<&'static [u8]>,
    static_sent: usize,
    /// When the wait for the current request began (connect or the last response).
    waiting_since_ms: u64,
    /// When the current head's first byte arrived.
    first_byte_ms: u64,
    /// When the body last made progress.
    body_progress_ms: u64,
    /// `Retry-After` of a 503 refusal.
    retry_after_s: u32,
}

impl Slot {
    const fn new() -> Self {
        Self {
            open: false,
            remote_address: IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED),
            remote_known: false,
            state: State::Head,
            head: Head::EMPTY,
            close_after: false,
            head_only: false,
            input: [0; INPUT_BUFFER_SIZE],
            buffered: 0,
            scanned: 0,
            output: [0; OUTPUT_BUFFER_SIZE],
            out_start: 0,
            out_end: 0,
            static_body: None,
            static_sent: 0,
            waiting_since_ms: 0,
            first_byte_ms: 0,
            body_progress_ms: 0,
            retry_after_s: 0,
        }
    }

    fn reset(&mut self, now_ms: u64, open: bool, remote: Option<IpAddr>) {
        self.open = open;
        self.remote_known = remote.is_some();
        self.remote_address = remote.unwrap_or(IpAddr::V4(core::net::Ipv4Addr::UNSPECIFIED));
        self.state = State::Head;
        self.head = Head::EMPTY;
        self.close_after = false;
        self.head_only = false;
        self.buffered = 0;
        self.scanned = 0;
        self.out_start = 0;
        self.out_end = 0;
        self.static_body = None;
        self.static_sent = 0;
        self.waiting_since_ms = now_ms;
        self.first_byte_ms = now_ms;
        self.body_progress_ms = now_ms;
    }

    fn request(&self) -> Request<'_> {
        make_request(&self.input, &self.head, self.remote())
    }

    fn remote(&self) -> Option<IpAddr> {
        self.remote_known.then_some(self.remote_address)
    }

    /// The part of a static body not yet sent.
    fn static_rest(&self) -> &'static [u8] {
        self.static_body
            .and_then(|body| body.get(self.static_sent..))
            .unwrap_or_default()
    }

    /// Removes `start..end` of the buffered input, moving what follows down.
    fn remove_input(&mut self, start: usize, end: usize) {
        let end = end.min(self.buffered);
        let start = start.min(end);
        self.input.copy_within(end..self.buffered, start);
        self.buffered -= end - start;
        self.scanned = self.scanned.min(start);
    }

    /// Whether this connection may be closed to free its socket, and since when it waits.
    fn evictable_since(&self) -> Option<(u8, u64)> {
        if !self.open {
            return None;
        }
        match self.state {
            State::Closing => Some((0, 0)),
            State::Held { .. } => Some((1, self.waiting_since_ms)),
            State::Head => Some((2, self.waiting_since_ms)),
            _ => None,
        }
    }
}

/// Whether the service answers API requests now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// Serving.
    Ready,
    /// Booting (or otherwise not ready): 503 with `Retry-After` seconds, `/healthz` still served.
    Unavailable {
        /// The `Retry-After` value.
        retry_after_s: u32,
    },
}

/// The management HTTP server: `SLOTS` connections of about 17 KiB each (keep it in static
/// storage; a new server is all zero bytes but for the snapshot, see [`HttpServer::new`]).
pub struct HttpServer<'a, const SLOTS: usize> {
    slots: [Slot; SLOTS],
    snapshot: Option<StatusSnapshot<'a>>,
    /// When `snapshot` was taken (the caller's milliseconds).
    snapshot_taken_ms: u64,
    now_ms: u64,
    counters: Counters,
    throttle: Throttle,
    availability: Availability,
}

impl<const SLOTS: usize> Default for HttpServer<'_, SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

/// The empty snapshot served before the kernel gives one.
static NO_SNAPSHOT: StatusSnapshot<'static> = StatusSnapshot::new("", "", 0);

impl<'a, const SLOTS: usize> HttpServer<'a, SLOTS> {
    /// A server with every slot free and no snapshot yet.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            slots: [const { Slot::new() }; SLOTS],
            snapshot: None,
            snapshot_taken_ms: 0,
            now_ms: 0,
            counters: Counters {
                requests: 0,
                responses_by_class: [0; 5],
                malformed: 0,
                timeouts: 0,
                auth_failures: 0,
                auth_missing: 0,
                evictions: 0,
                connections: 0,
            },
            throttle: Throttle::new(),
            availability: Availability::Ready,
        }
    }

    /// Sets the time (milliseconds since boot) the following calls see.
    pub fn set_clock(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Sets whether API requests are served (503 with `Retry-After` otherwise).
    pub fn set_availability(&mut self, availability: Availability) {
        self.availability = availability;
    }

    /// Whether [`set_snapshot`](Self::set_snapshot) is due at `now_ms`: always while a client
    /// is connected (it may ask at any poll), else once the snapshot is `max_age_ms` old, so a
    /// client that connects and asks within one poll gets one at most that old.
    #[must_use]
    pub fn snapshot_due(&self, now_ms: u64, max_age_ms: u64) -> bool {
        self.open_connections() > 0
            || self.snapshot.is_none()
            || now_ms.saturating_sub(self.snapshot_taken_ms) >= max_age_ms
    }

    /// Replaces the `/healthz` data, taken at `now_ms`.
    pub fn set_snapshot(&mut self, snapshot: StatusSnapshot<'a>, now_ms: u64) {
        self.snapshot = Some(snapshot);
        self.snapshot_taken_ms = now_ms;
    }

    /// Connections opened and not yet closed.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.slots.iter().filter(|slot| slot.open).count()
    }

    /// Counts since boot.
    #[must_use]
    pub fn counters(&self) -> Counters {
        let mut counters = self.counters;
        counters.auth_failures = self.throttle.total_failures();
        counters
    }

    /// A client connected on `slot` from `remote`. A slot out of range is ignored.
    pub fn open(&mut self, slot: usize, remote: Option<IpAddr>) {
        let now_ms = self.now_ms;
        if let Some(slot) = self.slots.get_mut(slot) {
            slot.reset(now_ms, true, remote);
            self.counters.connections = self.counters.connections.saturating_add(1);
        }
    }

    /// The connection to close so a new client finds a free socket: the one holding a delayed
    /// 401 longest, else the one waiting longest for a request; never one mid-request.
    #[must_use]
    pub fn evict(&mut self) -> Option<usize> {
        let chosen = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| slot.evictable_since().map(|key| (key, index)))
            .min()
            .map(|(_, index)| index)?;
        self.counters.evictions = self.counters.evictions.saturating_add(1);
        Some(chosen)
    }

    /// The connection on `slot` is gone (either side closed it, reset, or eviction). A streamed
    /// body that was not finished is aborted in `handler`.
    pub fn close(&mut self, slot: usize, handler: &mut impl Handler) {
        let now_ms = self.now_ms;
        let Some(slot) = self.slots.get_mut(slot) else {
            return;
        };
        if let State::Body {
            mode: BodyMode::Stream,
            ..
        } = slot.state
        {
            handler.abort(&slot.request());
        }
        slot.reset(now_ms, false, None);
    }

    /// Bytes arrived on `slot`; returns how many were taken (the rest are offered again later).
    pub fn receive<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        slot: usize,
        input: &[u8],
        handler: &mut H,
        credentials: &C,
    ) -> usize {
        let Some(index) = (slot < SLOTS).then_some(slot) else {
            return input.len();
        };
        let mut consumed = 0;
        loop {
            let rest = &input[consumed..];
            let taken = self.take_input(index, rest, handler);
            consumed += taken;
            let mut progressed = false;
            while self.advance(index, handler, credentials) {
                progressed = true;
            }
            if (taken == 0 && !progressed) || consumed == input.len() {
                break;
            }
        }
        consumed
    }

    /// Takes what the slot's state can take of `input`.
    fn take_input<H: Handler>(&mut self, index: usize, input: &[u8], handler: &mut H) -> usize {
        let now_ms = self.now_ms;
        let slot = &mut self.slots[index];
        if input.is_empty() {
            return 0;
        }
        match slot.state {
            State::Head => {
                let space = &mut slot.input[slot.buffered..];
                let taken = space.len().min(input.len());
                if slot.buffered == 0 && taken > 0 {
                    slot.first_byte_ms = now_ms;
                }
                space[..taken].copy_from_slice(&input[..taken]);
                slot.buffered += taken;
                taken
            }
            State::Body {
                mode: BodyMode::Whole,
                remaining,
            } => {
                let want = usize::try_from(remaining).unwrap_or(usize::MAX);
                let space = &mut slot.input[slot.buffered..];
                let taken = space.len().min(input.len()).min(want);
                space[..taken].copy_from_slice(&input[..taken]);
                slot.buffered += taken;
                slot.body_progress_ms = now_ms;
                finish_body(slot, taken as u64);
                taken
            }
            State::Body {
                mode: BodyMode::Discard,
                remaining,
            } => {
                let taken = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                slot.body_progress_ms = now_ms;
                finish_body(slot, taken as u64);
                taken
            }
            State::Body {
                mode: BodyMode::Stream,
                remaining,
            } => {
                // Body bytes that came with the head go first.
                if slot.buffered > slot.head.length {
                    return 0;
                }
                // The client is sending: it is not stalled, even if the handler takes nothing.
                slot.body_progress_ms = now_ms;
                let offer = usize::try_from(remaining)
                    .unwrap_or(usize::MAX)
                    .min(input.len());
                let feed = {
                    let request = slot.request();
                    handler.feed(&request, &input[..offer])
                };
                match feed {
                    Feed::Taken(taken) => {
                        let taken = taken.min(offer);
                        finish_body(slot, taken as u64);
                        taken
                    }
                    Feed::Stop => {
                        slot.close_after = true;
                        slot.state = State::Respond;
                        0
                    }
                }
            }
            State::Closing => input.len(),
            State::Held { .. } | State::Respond | State::Refuse(_) | State::Sending { .. } => 0,
        }
    }

    /// Acts on what is buffered (a complete head, leftover body bytes); returns whether
    /// anything changed.
    fn advance<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        index: usize,
        handler: &mut H,
        credentials: &C,
    ) -> bool {
        let slot = &self.slots[index];
        match slot.state {
            State::Head if slot.buffered > 0 => self.parse(index, handler, credentials),
            State::Body {
                mode: BodyMode::Stream,
                remaining,
            } if slot.buffered > slot.head.length => {
                let slot = &mut self.slots[index];
                let start = slot.head.length;
                let available =
                    (slot.buffered - start).min(usize::try_from(remaining).unwrap_or(usize::MAX));
                let feed = {
                    let request = slot.request();
                    handler.feed(&request, &slot.input[start..start + available])
                };
                match feed {
                    Feed::Taken(0) => false,
                    Feed::Taken(taken) => {
                        let taken = taken.min(available);
                        slot.remove_input(start, start + taken);
                        finish_body(slot, taken as u64);
                        true
                    }
                    Feed::Stop => {
                        slot.close_after = true;
                        slot.state = State::Respond;
                        true
                    }
                }
            }
            _ => false,
        }
    }

    /// Parses the buffered head once a new line end arrived; returns whether the state changed.
    fn parse<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        index: usize,
        handler: &mut H,
        credentials: &C,
    ) -> bool {
        let now_ms = self.now_ms;
        let availability = self.availability;
        let slot = &mut self.slots[index];
        let data = &slot.input[..slot.buffered];
        // Parse when a line ends, or at once on a byte no head may hold (binary, TLS).
        let fresh = &data[slot.scanned.min(data.len())..];
        let new_line = fresh
            .iter()
            .any(|&byte| byte == b'\n' || is_forbidden_byte(byte));
        slot.scanned = slot.buffered;
        // Known before the head is whole, so even a refusal of a HEAD has no body.
        let start = data
            .iter()
            .position(|&byte| byte != b'\r' && byte != b'\n')
            .unwrap_or(data.len());
        slot.head_only = data[start..].starts_with(b"HEAD ");
        // 414 before anything else: the request line alone is over its limit.
        let line_end = data.iter().position(|&byte| byte == b'\n');
        let first = data.iter().position(|&byte| byte != b'\r' && byte != b'\n');
        let line_length = match (first, line_end) {
            (Some(first), Some(end)) if end > first => end - first,
            (Some(first), _) if line_end.is_none_or(|end| end < first) => data.len() - first,
            _ => 0,
        };
        if line_length > MAX_REQUEST_LINE {
            return refuse(slot, &mut self.counters, URI_TOO_LONG);
        }
        if !new_line {
            if slot.buffered >= MAX_HEAD {
                return refuse(slot, &mut self.counters, HEAD_TOO_LARGE);
            }
            return false;
        }
        let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut fields);
        let length = match parsed.parse(data) {
            Ok(httparse::Status::Complete(length)) if length <= MAX_HEAD => length,
            Ok(httparse::Status::Complete(_)) => {
                return refuse(slot, &mut self.counters, HEAD_TOO_LARGE);
            }
            Ok(httparse::Status::Partial) => {
                if slot.buffered >= MAX_HEAD {
                    return refuse(slot, &mut self.counters, HEAD_TOO_LARGE);
                }
                return false;
            }
            Err(httparse::Error::TooManyHeaders) => {
                return refuse(slot, &mut self.counters, TOO_MANY_HEADERS);
            }
            Err(httparse::Error::Version) => {
                return refuse(slot, &mut self.counters, BAD_VERSION);
            }
            Err(_) => return refuse(slot, &mut self.counters, MALFORMED),
        };
        let base = slot.input.as_ptr() as usize;
        let range = |bytes: &[u8]| {
            let start = (bytes.as_ptr() as usize).saturating_sub(base);
            (start, start + bytes.len())
        };
        let version = if parsed.version == Some(0) {
            Version::Http10
        } else {
            Version::Http11
        };
        let method = Method::parse(parsed.method.unwrap_or(""));
        slot.head_only = method == Method::Head;
        let Some(target) = parsed.path else {
            return refuse(slot, &mut self.counters, MALFORMED);
        };
        let Some((path, query)) = split_target(target.as_bytes()) else {
            return refuse(slot, &mut self.counters, BAD_TARGET);
        };
        let mut head = Head {
            method,
            version,
            length,
            path: range(path),
            query: range(query),
            content_type: None,
            accept: None,
            content_length: None,
            role: 0,
            keep_alive: version == Version::Http11,
            health: path == HEALTH_PATH.as_bytes(),
            at_ms: now_ms,
            whole_body: 0,
        };
        let mut hosts = 0;
        let mut transfer_encoding = false;
        let mut expect_continue = false;
        let mut authorization: Option<&[u8]> = None;
        for field in parsed.headers.iter() {
            let name = field.name.as_bytes();
            let value = field.value.trim_ascii();
            if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case(b"content-length") {
                let Some(length) = parse_decimal(value) else {
                    return refuse(slot, &mut self.counters, BAD_LENGTH);
                };
                if head
                    .content_length
                    .is_some_and(|previous| previous != length)
                {
                    return refuse(slot, &mut self.counters, BAD_LENGTH);
                }
                head.content_length = Some(length);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                transfer_encoding = true;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for option in value.split(|&byte| byte == b',').map(<[u8]>::trim_ascii) {
                    if option.eq_ignore_ascii_case(b"close") {
                        head.keep_alive = false;
                    } else if option.eq_ignore_ascii_case(b"keep-alive")
                        && version == Version::Http10
                    {
                        head.keep_alive = true;
                    }
                }
            } else if name.eq_ignore_ascii_case(b"expect") {
                if !value.eq_ignore_ascii_case(b"100-continue") {
                    return refuse(slot, &mut self.counters, BAD_EXPECT);
                }
                expect_continue = true;
            } else if name.eq_ignore_ascii_case(b"content-type") {
                if core::str::from_utf8(value).is_ok() {
                    head.content_type = Some(range(value));
                }
            } else if name.eq_ignore_ascii_case(b"accept") {
                if core::str::from_utf8(value).is_ok() {
                    head.accept = Some(range(value));
                }
            } else if name.eq_ignore_ascii_case(b"authorization") {
                authorization = Some(value);
            }
        }
        if transfer_encoding {
            let refusal = if head.content_length.is_some() {
                SMUGGLING
            } else {
                CHUNKED_REQUEST
            };
            return refuse(slot, &mut self.counters, refusal);
        }
        if version == Version::Http11 && hosts != 1 {
            return refuse(slot, &mut self.counters, BAD_HOST);
        }
        slot.head = head;
        slot.close_after = !head.keep_alive;
        self.counters.requests = self.counters.requests.saturating_add(1);

        // Policy: availability, then the token, then the role.
        if !head.health {
            if let Availability::Unavailable { retry_after_s } = availability {
                slot.retry_after_s = retry_after_s;
                return refuse_request(slot, UNAVAILABLE);
            }
            let Some(credential) = authorization else {
                self.counters.auth_missing = self.counters.auth_missing.saturating_add(1);
                return refuse_request(slot, NO_TOKEN);
            };
            let role = auth::bearer_token(credential).and_then(|token| credentials.verify(token));
            let Some(role) = role else {
                let delay = self.throttle.fail(slot.remote(), credential, now_ms);
                slot.close_after = true;
                slot.state = if delay == 0 {
                    State::Refuse(BAD_TOKEN)
                } else {
                    State::Held {
                        until_ms: now_ms.saturating_add(delay),
                    }
                };
                return true;
            };
            if method.is_write() && !role.can_write() {
                slot.head.role = role_code(Some(role));
                return refuse_request(slot, READ_ONLY);
            }
            slot.head.role = role_code(Some(role));
        }

        let intake = {
            let request = slot.request();
            if head.health {
                Health {
                    snapshot: &NO_SNAPSHOT,
                }
                .begin(&request)
            } else {
                handler.begin(&request)
            }
        };
        let body_length = head.content_length.unwrap_or(0);
        let (mode, limit) = match intake {
            Intake::None => {
                if body_length > DISCARD_LIMIT {
                    // Answer without reading it, then close.
                    slot.close_after = true;
                    slot.state = State::Respond;
                    return true;
                }
                (BodyMode::Discard, DISCARD_LIMIT)
            }
            Intake::Whole { limit } => (BodyMode::Whole, limit.min(MAX_WHOLE_BODY) as u64),
            Intake::Stream { limit } => {
                if head.content_length.is_none() {
                    return refuse_request(slot, LENGTH_REQUIRED);
                }
                (BodyMode::Stream, limit)
            }
        };
        if body_length > limit {
            return refuse_request(slot, TOO_LARGE);
        }
        if body_length == 0 {
            slot.state = State::Respond;
            return true;
        }
        if expect_continue && mode == BodyMode::Discard {
            // The client waits for 100 before sending a body nobody reads: answer and close.
            slot.close_after = true;
            slot.state = State::Respond;
            return true;
        }
        if expect_continue && version == Version::Http11 {
            const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
            slot.output[..CONTINUE.len()].copy_from_slice(CONTINUE);
            slot.out_start = 0;
            slot.out_end = CONTINUE.len();
        }
        slot.body_progress_ms = now_ms;
        slot.state = State::Body {
            mode,
            remaining: body_length,
        };
        // Body bytes that came with the head.
        let extra = (slot.buffered - length) as u64;
        match mode {
            BodyMode::Whole => {
                // At most MAX_WHOLE_BODY (checked against the limit above).
                slot.head.whole_body = body_length as usize;
                finish_body(slot, extra.min(body_length));
            }
            BodyMode::Discard => {
                let dropped = extra.min(body_length);
                slot.remove_input(length, length + dropped as usize);
                finish_body(slot, dropped);
            }
            // Fed by `advance`.
            BodyMode::Stream => {}
        }
        true
    }

    /// `slot` can send up to `output.len()` bytes: the rest of the current response, or the
    /// next one when ready.
    pub fn send<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        slot: usize,
        output: &mut [u8],
        handler: &mut H,
        credentials: &C,
    ) -> SendOutcome {
        if slot >= SLOTS {
            return SendOutcome::CLOSE;
        }
        let mut written = 0;
        // Bounded: each turn either copies bytes, or moves the state forward.
        for _ in 0..64 {
            written += self.copy_out(slot, &mut output[written..]);
            if written == output.len() {
                break;
            }
            let slot_ref = &self.slots[slot];
            if slot_ref.out_start < slot_ref.out_end || !slot_ref.static_rest().is_empty() {
                break;
            }
            if !self.step(slot, handler, credentials) {
                break;
            }
        }
        let close = self.slots[slot].state == State::Closing && {
            let slot = &self.slots[slot];
            slot.out_start == slot.out_end && slot.static_rest().is_empty()
        };
        SendOutcome { written, close }
    }

    /// Copies pending output; returns the bytes copied.
    fn copy_out(&mut self, index: usize, output: &mut [u8]) -> usize {
        let slot = &mut self.slots[index];
        let mut written = 0;
        let pending = &slot.output[slot.out_start..slot.out_end];
        let count = pending.len().min(output.len());
        output[..count].copy_from_slice(&pending[..count]);
        slot.out_start += count;
        written += count;
        if slot.out_start == slot.out_end {
            let rest = slot.static_rest();
            let count = rest.len().min(output.len() - written);
            output[written..written + count].copy_from_slice(&rest[..count]);
            slot.static_sent += count;
            written += count;
        }
        written
    }

    /// Moves a slot forward once its output is drained; returns whether anything changed.
    fn step<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        index: usize,
        handler: &mut H,
        credentials: &C,
    ) -> bool {
        let now_ms = self.now_ms;
        let slot = &mut self.slots[index];
        match slot.state {
            State::Head => {
                let expired = if slot.buffered == 0 {
                    now_ms.saturating_sub(slot.waiting_since_ms) >= IDLE_TIMEOUT_MS
                } else {
                    now_ms.saturating_sub(slot.first_byte_ms) >= HEAD_TIMEOUT_MS
                };
                if !expired {
                    return false;
                }
                self.counters.timeouts = self.counters.timeouts.saturating_add(1);
                if slot.buffered == 0 {
                    slot.state = State::Closing;
                    return true;
                }
                slot.close_after = true;
                write_refusal(slot, &mut self.counters, HEAD_TIMEOUT);
                true
            }
            State::Body { mode, .. } => {
                if mode == BodyMode::Stream && slot.buffered > slot.head.length {
                    // Body bytes that came with the head wait for the handler to take them.
                    let mut progressed = false;
                    while self.advance(index, handler, credentials) {
                        progressed = true;
                    }
                    if progressed {
                        return true;
                    }
                }
                let slot = &mut self.slots[index];
                let since = if mode == BodyMode::Whole {
                    slot.head.at_ms
                } else {
                    slot.body_progress_ms
                };
                if now_ms.saturating_sub(since) < BODY_TIMEOUT_MS {
                    return false;
                }
                if mode == BodyMode::Stream {
                    handler.abort(&slot.request());
                }
                self.counters.timeouts = self.counters.timeouts.saturating_add(1);
                slot.close_after = true;
                write_refusal(slot, &mut self.counters, BODY_TIMEOUT);
                true
            }
            State::Held { until_ms } => {
                if now_ms < until_ms {
                    return false;
                }
                write_refusal(slot, &mut self.counters, BAD_TOKEN);
                true
            }
            State::Refuse(refusal) => {
                write_refusal(slot, &mut self.counters, refusal);
                true
            }
            State::Respond => {
                let snapshot = self.snapshot.as_ref().unwrap_or(&NO_SNAPSHOT);
                respond(slot, &mut self.counters, handler, snapshot);
                true
            }
            State::Sending {
                pieces: true,
                chunked,
                mut cursor,
            } => {
                let remote = slot.remote();
                let Slot {
                    input,
                    output,
                    head,
                    ..
                } = slot;
                let request = make_request(input, head, remote);
                let mut sink =
                    BodySink::new(&mut output[CHUNK_ROOM..OUTPUT_BUFFER_SIZE - CHUNK_TAIL]);
                let status = if head.health {
                    Pieces::Done
                } else {
                    handler.piece(&request, &mut cursor, &mut sink)
                };
                let length = sink.len();
                let last = status == Pieces::Done || length == 0;
                let (start, mut end) = if chunked && length > 0 {
                    let start = write_chunk_size(&mut output[..CHUNK_ROOM], length);
                    output[CHUNK_ROOM + length..CHUNK_ROOM + length + 2].copy_from_slice(b"\r\n");
                    (start, CHUNK_ROOM + length + 2)
                } else {
                    (CHUNK_ROOM, CHUNK_ROOM + length)
                };
                if last && chunked {
                    output[end..end + 5].copy_from_slice(b"0\r\n\r\n");
                    end += 5;
                }
                slot.out_start = start;
                slot.out_end = end;
                slot.state = State::Sending {
                    pieces: !last,
                    chunked,
                    cursor,
                };
                true
            }
            State::Sending { pieces: false, .. } => {
                self.finish_response(index, handler, credentials);
                true
            }
            State::Closing => false,
        }
    }

    /// The current response is out: close, or start on the next request (maybe buffered).
    fn finish_response<H: Handler, C: Credentials + ?Sized>(
        &mut self,
        index: usize,
        handler: &mut H,
        credentials: &C,
    ) {
        let now_ms = self.now_ms;
        let slot = &mut self.slots[index];
        if slot.close_after {
            slot.state = State::Closing;
            slot.buffered = 0;
            return;
        }
        let body = slot.head.whole_body;
        let end = slot.head.length + body;
        slot.remove_input(0, end);
        slot.scanned = 0;
        slot.head = Head::EMPTY;
        slot.head_only = false;
        slot.static_body = None;
        slot.static_sent = 0;
        slot.state = State::Head;
        slot.waiting_since_ms = now_ms;
        slot.first_byte_ms = now_ms;
        if slot.buffered > 0 {
            // A pipelined request is buffered: act on it now.
            while self.advance(index, handler, credentials) {}
        }
    }
}

/// A server with its handler and credentials for one poll: what the TCP plumbing drives.
pub struct Service<'s, 'a, H, C: ?Sized, const SLOTS: usize> {
    server: &'s mut HttpServer<'a, SLOTS>,
    handler: &'s mut H,
    credentials: &'s C,
}

impl<'a, const SLOTS: usize> HttpServer<'a, SLOTS> {
    /// The server serving `handler` (everything but `/healthz`) with `credentials`.
    pub fn service<'s, H: Handler, C: Credentials + ?Sized>(
        &'s mut self,
        handler: &'s mut H,
        credentials: &'s C,
    ) -> Service<'s, 'a, H, C, SLOTS> {
        Service {
            server: self,
            handler,
            credentials,
        }
    }
}

impl<H: Handler, C: Credentials + ?Sized, const SLOTS: usize> Service<'_, '_, H, C, SLOTS> {
    /// See [`HttpServer::open`].
    pub fn open(&mut self, slot: usize, remote: Option<IpAddr>) {
        self.server.open(slot, remote);
    }

    /// See [`HttpServer::receive`].
    pub fn receive(&mut self, slot: usize, input: &[u8]) -> usize {
        self.server
            .receive(slot, input, self.handler, self.credentials)
    }

    /// See [`HttpServer::send`].
    pub fn send(&mut self, slot: usize, output: &mut [u8]) -> SendOutcome {
        self.server
            .send(slot, output, self.handler, self.credentials)
    }

    /// See [`HttpServer::close`].
    pub fn close(&mut self, slot: usize) {
        self.server.close(slot, self.handler);
    }

    /// See [`HttpServer::evict`].
    pub fn evict(&mut self) -> Option<usize> {
        self.server.evict()
    }
}

/// The request of a slot's parsed head.
fn make_request<'s>(input: &'s [u8], head: &Head, remote: Option<IpAddr>) -> Request<'s> {
    let text = |range: (usize, usize)| {
        input
            .get(range.0..range.1)
            .and_then(|bytes| core::str::from_utf8(bytes).ok())
            .unwrap_or("")
    };
    Request {
        method: head.method,
        path: text(head.path),
        query: text(head.query),
        version: head.version,
        content_type: head.content_type.map(text),
        content_length: head.content_length,
        accept: head.accept.map(text),
        role: role_of(head.role),
        remote,
        now_ms: head.at_ms,
    }
}

/// A role as one byte (0 for none).
const fn role_code(role: Option<Role>) -> u8 {
    match role {
        None => 0,
        Some(Role::Administrator) => 1,
        Some(Role::Operator) => 2,
        Some(Role::ReadOnly) => 3,
    }
}

/// The role of [`role_code`]'s byte.
const fn role_of(code: u8) -> Option<Role> {
    match code {
        1 => Some(Role::Administrator),
        2 => Some(Role::Operator),
        3 => Some(Role::ReadOnly),
        _ => None,
    }
}

/// `count` more body bytes arrived; the request is complete when none remain.
fn finish_body(slot: &mut Slot, count: u64) {
    if let State::Body { mode, remaining } = slot.state {
        let remaining = remaining.saturating_sub(count);
        slot.state = if remaining == 0 {
            State::Respond
        } else {
            State::Body { mode, remaining }
        };
    }
}

/// Refuses a request the parser or the limits rejected: counted as malformed, then close.
fn refuse(slot: &mut Slot, counters: &mut Counters, refusal: Refusal) -> bool {
    counters.malformed = counters.malformed.saturating_add(1);
    slot.close_after = true;
    slot.buffered = 0;
    slot.scanned = 0;
    slot.head.length = 0;
    slot.state = State::Refuse(refusal);
    true
}

/// Refuses a well-formed request by policy (auth, availability, body size): its framing is
/// intact, but the body (if any) is not read, so the connection closes unless it has none.
fn refuse_request(slot: &mut Slot, refusal: Refusal) -> bool {
    if slot.head.content_length.unwrap_or(0) > 0 {
        slot.close_after = true;
    }
    slot.state = State::Refuse(refusal);
    true
}

/// Writes a refusal as a problem response into the slot's output.
fn write_refusal(slot: &mut Slot, counters: &mut Counters, refusal: Refusal) {
    let version = slot.head.version;
    let mut response = Response::new(&mut slot.output[HEAD_ROOM..OUTPUT_BUFFER_SIZE - CHUNK_TAIL]);
    response.problem(refusal.status, refusal.code, refusal.detail);
    match refusal.status {
        StatusCode::UNAUTHORIZED => response.set_www_authenticate("Bearer"),
        StatusCode::SERVICE_UNAVAILABLE => response.set_retry_after(if slot.retry_after_s == 0 {
            DEFAULT_RETRY_AFTER_S
        } else {
            slot.retry_after_s
        }),
        _ => {}
    }
    let frame = Frame::of(&response, version);
    let length = response.written_body().len();
    place(slot, counters, frame, length, false);
}

/// Calls the handler (or `/healthz`) for a complete request and frames its answer.
fn respond<H: Handler>(
    slot: &mut Slot,
    counters: &mut Counters,
    handler: &mut H,
    snapshot: &StatusSnapshot<'_>,
) {
    let remote = slot.remote();
    let Slot {
        input,
        output,
        head,
        ..
    } = slot;
    let request = make_request(input, head, remote);
    let body: &[u8] = input
        .get(head.length..head.length + head.whole_body)
        .unwrap_or_default();
    let mut response = Response::new(&mut output[HEAD_ROOM..OUTPUT_BUFFER_SIZE - CHUNK_TAIL]);
    if head.health {
        Health { snapshot }.respond(&request, body, &mut response);
    } else {
        handler.respond(&request, body, &mut response);
    }
    if response.written_body().overflowed() {
        response.problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            "response_too_large",
            "the response did not fit the server's buffer",
        );
    }
    let frame = Frame::of(&response, head.version);
    let length = response.written_body().len();
    let pieces = response.source() == BodySource::Pieces;
    let close = response.close() || frame.close_delimited;
    let source = response.source();
    if close {
        slot.close_after = true;
    }
    if let BodySource::Static(document) = source {
        slot.static_body = (!slot.head_only).then_some(document);
        slot.static_sent = 0;
    }
    place(slot, counters, frame, length, pieces);
}

/// How a response is framed.
#[derive(Debug, Clone)]
struct Frame {
    status: StatusCode,
    content_type: &'static str,
    /// `Content-Length`, or `None` for chunked / close-delimited pieces.
    length: Option<usize>,
    chunked: bool,
    /// HTTP/1.0 pieces: the body ends when the connection closes.
    close_delimited: bool,
    allow: Option<&'static str>,
    retry_after: Option<u32>,
    www_authenticate: Option<&'static str>,
    location: heapless::String<{ crate::handler::LOCATION_CAPACITY }>,
}

impl Frame {
    fn of(response: &Response<'_>, version: Version) -> Self {
        let pieces = response.source() == BodySource::Pieces;
        let chunked = pieces && version == Version::Http11;
        let length = match response.source() {
            BodySource::Written => Some(response.written_body().len()),
            BodySource::Static(document) => Some(document.len()),
            BodySource::Pieces => None,
        };
        let mut location = heapless::String::new();
        if let Some(value) = response.location_value() {
            let _ = location.push_str(value);
        }
        Self {
            status: response.status(),
            content_type: response.content_type(),
            length,
            chunked,
            close_delimited: pieces && !chunked,
            allow: response.allow(),
            retry_after: response.retry_after(),
            www_authenticate: response.www_authenticate(),
            location,
        }
    }
}

/// Writes the head for `frame` before the `body_length` bytes already at `HEAD_ROOM`, and
/// starts sending.
fn place(slot: &mut Slot, counters: &mut Counters, frame: Frame, body_length: usize, pieces: bool) {
    let mut head = [0u8; HEAD_ROOM];
    let mut sink = SliceSink::new(&mut head);
    let keep_alive = !slot.close_after;
    let no_body = frame.status.forbids_body();
    let written = write_head(&mut sink, &frame, keep_alive, no_body).is_ok();
    let mut head_length = sink.len();
    let chunked_first = frame.chunked && body_length > 0 && !slot.head_only && !no_body;
    let mut size_line = [0u8; CHUNK_ROOM];
    let size_start = if chunked_first {
        write_chunk_size(&mut size_line, body_length)
    } else {
        CHUNK_ROOM
    };
    let size_length = CHUNK_ROOM - size_start;
    if !written || head_length + size_length > HEAD_ROOM {
        // Cannot happen with the fixed header set; close rather than send a broken head.
        slot.state = State::Closing;
        slot.out_start = 0;
        slot.out_end = 0;
        return;
    }
    let start = HEAD_ROOM - head_length - size_length;
    slot.output[start..start + head_length].copy_from_slice(&head[..head_length]);
    slot.output[start + head_length..HEAD_ROOM].copy_from_slice(&size_line[size_start..]);
    head_length += size_length;
    let mut end = HEAD_ROOM + body_length;
    if slot.head_only || no_body {
        end = HEAD_ROOM;
        slot.static_body = None;
    } else if chunked_first {
        slot.output[end..end + 2].copy_from_slice(b"\r\n");
        end += 2;
    }
    let _ = head_length;
    counters.count_response(frame.status);
    slot.out_start = start;
    // A 100 Continue still queued goes first (it is at the front of the buffer).
    slot.out_end = end;
    let more = pieces && !slot.head_only && !no_body;
    if pieces && frame.chunked && !more {
        // HEAD of a chunked response: no body, no last chunk.
    }
    slot.state = State::Sending {
        pieces: more,
        chunked: frame.chunked,
        cursor: 0,
    };
}

/// Writes `length` in hex and CRLF at the end of `room`; returns where it starts.
fn write_chunk_size(room: &mut [u8], length: usize) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut position = room.len() - 2;
    room[position..].copy_from_slice(b"\r\n");
    let mut value = length;
    loop {
        position -= 1;
        room[position] = HEX[value & 0xf];
        value >>= 4;
        if value == 0 || position == 0 {
            break;
        }
    }
    position
}

fn write_head(
    sink: &mut SliceSink<'_>,
    frame: &Frame,
    keep_alive: bool,
    no_body: bool,
) -> Result<(), json::WriteError> {
    use json::Sink;
    sink.put(b"HTTP/1.1 ")?;
    json::write_u64(sink, u64::from(frame.status.code()))?;
    sink.put(b" ")?;
    sink.put(frame.status.reason().as_bytes())?;
    sink.put(b"\r\n")?;
    if !no_body {
        sink.put(b"Content-Type: ")?;
        sink.put(frame.content_type.as_bytes())?;
        sink.put(b"\r\n")?;
        match frame.length {
            Some(length) => {
                sink.put(b"Content-Length: ")?;
                json::write_u64(sink, length as u64)?;
                sink.put(b"\r\n")?;
            }
            None if frame.chunked => sink.put(b"Transfer-Encoding: chunked\r\n")?,
            None => {}
        }
    }
    sink.put(b"Cache-Control: no-store\r\n")?;
    if let Some(allow) = frame.allow {
        sink.put(b"Allow: ")?;
        sink.put(allow.as_bytes())?;
        sink.put(b"\r\n")?;
    }
    if let Some(seconds) = frame.retry_after {
        sink.put(b"Retry-After: ")?;
        json::write_u64(sink, u64::from(seconds))?;
        sink.put(b"\r\n")?;
    }
    if let Some(challenge) = frame.www_authenticate {
        sink.put(b"WWW-Authenticate: ")?;
        sink.put(challenge.as_bytes())?;
        sink.put(b"\r\n")?;
    }
    if !frame.location.is_empty() {
        sink.put(b"Location: ")?;
        sink.put(frame.location.as_bytes())?;
        sink.put(b"\r\n")?;
    }
    sink.put(if keep_alive {
        b"Connection: keep-alive\r\n\r\n"
    } else {
        b"Connection: close\r\n\r\n"
    })
}

/// The path and query of an origin-form (`/p?q`) or absolute-form (`http://host/p?q`) target;
/// `None` for anything else, or bytes outside printable ASCII.
fn split_target(target: &[u8]) -> Option<(&[u8], &[u8])> {
    if target.is_empty()
        || !target
            .iter()
            .all(|byte| (0x21..0x7f).contains(byte) && *byte != b'#')
    {
        return None;
    }
    let (without_query, query) = match target.iter().position(|&byte| byte == b'?') {
        Some(position) => (&target[..position], &target[position + 1..]),
        None => (target, &target[target.len()..]),
    };
    if without_query.starts_with(b"/") {
        return Some((without_query, query));
    }
    // Absolute form (RFC 9112 §3.2.2): scheme "://" authority path.
    let scheme_end = without_query
        .windows(3)
        .position(|window| window == b"://")?;
    let scheme = &without_query[..scheme_end];
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return None;
    }
    let after_scheme = &without_query[scheme_end + 3..];
    match after_scheme.iter().position(|&byte| byte == b'/') {
        Some(0) => None,
        Some(position) => Some((&after_scheme[position..], query)),
        None if after_scheme.is_empty() => None,
        // `http://host` alone is the root; `/` is not in the buffer, so use the empty path's
        // neighbour: the server treats an empty path as `/`.
        None => Some((&after_scheme[after_scheme.len()..], query)),
    }
}

/// Whether `byte` may never appear in a request head: controls other than HTAB, LF and CR,
/// and DEL.
const fn is_forbidden_byte(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t' && byte != b'\n' && byte != b'\r') || byte == 0x7f
}

/// A decimal `Content-Length` (digits only, no overflow).
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |total, digit| {
        total.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

const fn refusal(status: StatusCode, code: &'static str, detail: &'static str) -> Refusal {
    Refusal {
        status,
        code,
        detail,
    }
}

const MALFORMED: Refusal = refusal(
    StatusCode::BAD_REQUEST,
    "malformed_request",
    "the request head is not valid HTTP/1.1",
);
const BAD_TARGET: Refusal = refusal(
    StatusCode::BAD_REQUEST,
    "malformed_target",
    "the request target is not a path",
);
const BAD_VERSION: Refusal = refusal(
    StatusCode::HTTP_VERSION_NOT_SUPPORTED,
    "http_version_not_supported",
    "only HTTP/1.0 and HTTP/1.1 are served",
);
const BAD_HOST: Refusal = refusal(
    StatusCode::BAD_REQUEST,
    "host_required",
    "an HTTP/1.1 request needs exactly one Host header",
);
const BAD_LENGTH: Refusal = refusal(
    StatusCode::BAD_REQUEST,
    "malformed_content_length",
    "Content-Length is not one decimal number",
);
const SMUGGLING: Refusal = refusal(
    StatusCode::BAD_REQUEST,
    "transfer_encoding_with_length",
    "Transfer-Encoding and Content-Length together",
);
const CHUNKED_REQUEST: Refusal = refusal(
    StatusCode::NOT_IMPLEMENTED,
    "transfer_encoding_not_supported",
    "request bodies need Content-Length; Transfer-Encoding is not supported",
);
const BAD_EXPECT: Refusal = refusal(
    StatusCode::EXPECTATION_FAILED,
    "expectation_failed",
    "only Expect: 100-continue is supported",
);
const URI_TOO_LONG: Refusal = refusal(
    StatusCode::URI_TOO_LONG,
    "uri_too_long",
    "the request line is longer than 1024 bytes",
);
const HEAD_TOO_LARGE: Refusal = refusal(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "header_too_large",
    "the request head is larger than 4096 bytes",
);
const TOO_MANY_HEADERS: Refusal = refusal(
    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
    "too_many_headers",
    "the request has more than 32 header fields",
);
const HEAD_TIMEOUT: Refusal = refusal(
    StatusCode::REQUEST_TIMEOUT,
    "head_timeout",
    "the request head was not complete within 5 seconds",
);
const BODY_TIMEOUT: Refusal = refusal(
    StatusCode::REQUEST_TIMEOUT,
    "body_timeout",
    "the request body stalled for 10 seconds",
);
const NO_TOKEN: Refusal = refusal(
    StatusCode::UNAUTHORIZED,
    "unauthorized",
    "a valid bearer token is required",
);
const BAD_TOKEN: Refusal = NO_TOKEN;
const READ_ONLY: Refusal = refusal(
    StatusCode::FORBIDDEN,
    "forbidden",
    "this token's role may not change state",
);
const UNAVAILABLE: Refusal = refusal(
    StatusCode::SERVICE_UNAVAILABLE,
    "unavailable",
    "the service is unavailable (a reboot is under way); retry after Retry-After seconds",
);
const LENGTH_REQUIRED: Refusal = refusal(
    StatusCode::LENGTH_REQUIRED,
    "length_required",
    "this resource needs Content-Length",
);
const TOO_LARGE: Refusal = refusal(
    StatusCode::CONTENT_TOO_LARGE,
    "content_too_large",
    "the request body is longer than this resource takes",
);
