//! HTTP test helpers: a client of the real server, a response parser.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_mgmt::json::Sink;
use dpu_mgmt::{
    BodySink, Counters, Credentials, Feed, Handler, HttpServer, Intake, LinkState, Method, NicRole,
    NicStatus, Pieces, Request, Response, Role, StatusCode, StatusSnapshot,
};
use std::net::{IpAddr, Ipv4Addr};

/// The snapshot every test serves.
pub fn snapshot() -> StatusSnapshot<'static> {
    let mut snapshot = StatusSnapshot::new("0.1.0", "abc1234", 1234);
    snapshot
        .push_nic(NicStatus {
            name: "mgmt0",
            role: NicRole::Management,
            link: LinkState::Up,
            mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        })
        .unwrap();
    snapshot
        .push_nic(NicStatus {
            name: "eth1",
            role: NicRole::Data,
            link: LinkState::Down,
            mac: [0x52, 0x54, 0x00, 0xab, 0xcd, 0xef],
        })
        .unwrap();
    snapshot
}

/// The exact `/healthz` body for [`snapshot`].
pub const HEALTH_BODY: &str = concat!(
    r#"{"status":"ok","version":"0.1.0","git":"abc1234","uptime_ms":1234,"nics":["#,
    r#"{"name":"mgmt0","role":"management","link":"up","mac":"52:54:00:12:34:56"},"#,
    r#"{"name":"eth1","role":"data","link":"down","mac":"52:54:00:ab:cd:ef"}]}"#
);

/// The tokens every test knows.
pub const ADMIN: &str = "admin-secret";
pub const OPERATOR: &str = "operator-secret";
pub const READER: &str = "reader-secret";

/// Test credentials: three fixed tokens.
pub struct Tokens;

impl Credentials for Tokens {
    fn verify(&self, presented: &[u8]) -> Option<Role> {
        match presented {
            b"admin-secret" => Some(Role::Administrator),
            b"operator-secret" => Some(Role::Operator),
            b"reader-secret" => Some(Role::ReadOnly),
            _ => None,
        }
    }
}

/// The document `GET /v1/openapi` serves in tests.
pub const DOCUMENT: &[u8] = b"openapi: 3.1.0\ninfo:\n  title: test\n";

/// A small API for tests:
/// - `GET /v1/echo`: `{"path","query","role","method"}`;
/// - `POST|PUT /v1/whole` (JSON, at most 1024 bytes): `{"length":N,"body":"..."}`;
/// - `POST /v1/upload` (streamed, at most 1 MiB, `application/octet-stream`), fed at most
///   `per_feed` bytes a call: 202 with `Location: /v1/tasks/1` and `{"received":N}`;
/// - `GET /v1/items?count=N`: a JSON array of N objects written in pieces;
/// - `GET /v1/openapi`: [`DOCUMENT`];
/// - anything else: 404 problem.
#[derive(Default)]
pub struct TestApi {
    pub per_feed: Option<usize>,
    pub received: Vec<u8>,
    pub aborted: usize,
    pub stop_after: Option<usize>,
}

impl Handler for TestApi {
    fn begin(&mut self, request: &Request<'_>) -> Intake {
        match (request.method, request.path) {
            (Method::Post | Method::Put, "/v1/whole") => Intake::Whole { limit: 1024 },
            (Method::Post, "/v1/upload") => {
                self.received.clear();
                Intake::Stream { limit: 1 << 20 }
            }
            _ => Intake::None,
        }
    }

    fn feed(&mut self, _request: &Request<'_>, chunk: &[u8]) -> Feed {
        assert!(!chunk.is_empty());
        if self
            .stop_after
            .is_some_and(|limit| self.received.len() >= limit)
        {
            return Feed::Stop;
        }
        let taken = chunk.len().min(self.per_feed.unwrap_or(usize::MAX));
        self.received.extend_from_slice(&chunk[..taken]);
        Feed::Taken(taken)
    }

    fn abort(&mut self, _request: &Request<'_>) {
        self.aborted += 1;
    }

    fn respond(&mut self, request: &Request<'_>, body: &[u8], response: &mut Response<'_>) {
        match (request.method, request.path) {
            (Method::Get | Method::Head, "/v1/echo") => {
                let role = request
                    .role
                    .map(|role| std::format!("{role}"))
                    .unwrap_or_default();
                response.json(StatusCode::OK, |object| {
                    object.string("method", &std::format!("{}", request.method))?;
                    object.string("path", request.path)?;
                    object.string("query", request.query)?;
                    object.string("role", &role)
                });
            }
            (Method::Post | Method::Put, "/v1/whole") => {
                if !request.media_type_is("application/json") {
                    return response.problem(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        "unsupported_media_type",
                        "send application/json",
                    );
                }
                let text = String::from_utf8_lossy(body).into_owned();
                response.json(StatusCode::OK, |object| {
                    object.unsigned("length", body.len() as u64)?;
                    object.string("body", &text)
                });
            }
            (Method::Post, "/v1/upload") => {
                use std::fmt::Write;
                let received = self.received.len() as u64;
                response.json(StatusCode::ACCEPTED, |object| {
                    object.unsigned("received", received)
                });
                let _ = write!(response.location(), "/v1/tasks/{}", 1);
            }
            (Method::Get | Method::Head, "/v1/items") => {
                response.set_pieces();
                let _ = response.body().put(b"[");
            }
            (Method::Get, "/v1/big") => {
                // More than a response body holds: the server must answer 500.
                let _ = response
                    .body()
                    .put(&[b' '; dpu_mgmt::MAX_RESPONSE_BODY + 1]);
            }
            (Method::Get | Method::Head, "/v1/openapi") => {
                response.set_content_type("application/yaml");
                response.set_static_body(DOCUMENT);
            }
            (_, "/v1/echo" | "/v1/whole" | "/v1/items" | "/v1/openapi" | "/v1/upload") => {
                response.problem(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "not here",
                );
                response.set_allow("GET, HEAD");
            }
            _ => response.problem(
                StatusCode::NOT_FOUND,
                "not_found",
                "no resource at this path",
            ),
        }
    }

    fn piece(
        &mut self,
        request: &Request<'_>,
        cursor: &mut u64,
        piece: &mut BodySink<'_>,
    ) -> Pieces {
        let count: u64 = request
            .query_value("count")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while *cursor < count {
            let index = *cursor;
            let fitted = piece.item(|sink| {
                if index > 0 {
                    sink.put(b",")?;
                }
                dpu_mgmt::json::write_object(sink, |object| {
                    object.unsigned("index", index)?;
                    object.string("padding", "0123456789012345678901234567890123456789")
                })
            });
            if !fitted {
                return Pieces::More;
            }
            *cursor += 1;
        }
        if piece.put(b"]").is_err() {
            return Pieces::More;
        }
        Pieces::Done
    }
}

/// What a scripted exchange produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub responses: Vec<Vec<u8>>,
    pub closed: bool,
    /// Input bytes never consumed (left in the socket).
    pub unconsumed: usize,
}

/// One client connection to the real server ([`HttpServer`], one slot), as the TCP plumbing
/// (`dpu_net`) drives it.
pub struct Client {
    pub server: Box<HttpServer<'static, 1>>,
    pub api: TestApi,
    /// The server asked to close.
    pub closed: bool,
}

impl Client {
    /// A connection accepted at `now_ms`, serving [`snapshot`].
    pub fn new(now_ms: u64) -> Self {
        let mut server = Box::new(HttpServer::new());
        server.set_snapshot(snapshot(), now_ms);
        server.set_clock(now_ms);
        server.open(0, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2))));
        Self {
            server,
            api: TestApi::default(),
            closed: false,
        }
    }

    pub fn counters(&self) -> Counters {
        self.server.counters()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn receive(&mut self, input: &[u8]) -> usize {
        self.server.receive(0, input, &mut self.api, &Tokens)
    }

    pub fn send(&mut self, window: &mut [u8]) -> dpu_mgmt::SendOutcome {
        self.server.send(0, window, &mut self.api, &Tokens)
    }
}

/// Drives a client the way the TCP plumbing does: offers at most `chunk` bytes at a time
/// (re-offering what was not consumed), then takes output in send windows of at most `chunk`
/// bytes (capped at one TCP segment) until the server has nothing more or asks to close.
pub fn exchange(client: &mut Client, now_ms: u64, input: &[u8], chunk: usize) -> Exchange {
    let mut window = vec![0u8; chunk.clamp(1, 1460)];
    let mut stream = Vec::new();
    let mut result = Exchange::default();
    let mut pending = input;
    client.server.set_clock(now_ms);
    let mut stuck = 0;
    loop {
        let offer = &pending[..pending.len().min(chunk)];
        let consumed = if offer.is_empty() {
            0
        } else {
            client.receive(offer)
        };
        assert!(consumed <= offer.len());
        pending = &pending[consumed..];
        let mut sent = false;
        loop {
            let outcome = client.send(&mut window);
            assert!(outcome.written <= window.len());
            stream.extend_from_slice(&window[..outcome.written]);
            sent |= outcome.written > 0;
            if outcome.close {
                client.closed = true;
                break;
            }
            if outcome.written == 0 {
                break;
            }
        }
        if client.closed || pending.is_empty() {
            break;
        }
        if consumed == 0 && !sent {
            // Backpressure (a handler taking nothing) is fine for a while, not forever.
            stuck += 1;
            assert!(stuck < 1000, "no progress: connection stuck");
        } else {
            stuck = 0;
        }
    }
    result.closed = client.closed;
    result.responses = split_responses(&stream);
    result.unconsumed = pending.len();
    result
}

/// Cuts a response stream at response boundaries: a head, then the body as `Content-Length`
/// or chunked framing says, unless the next bytes start another response (the answer to a
/// HEAD) or the stream ends.
pub fn split_responses(mut stream: &[u8]) -> Vec<Vec<u8>> {
    let mut responses = Vec::new();
    while !stream.is_empty() {
        let head_end = stream
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("every response has a whole head")
            + 4;
        let head = std::str::from_utf8(&stream[..head_end]).expect("heads are UTF-8");
        if head.starts_with("HTTP/1.1 100 ") {
            stream = &stream[head_end..];
            continue;
        }
        let rest = &stream[head_end..];
        let no_body = rest.is_empty() || rest.starts_with(b"HTTP/1.1 ");
        let length = if no_body {
            0
        } else if head.contains("\r\nTransfer-Encoding: chunked\r\n") {
            chunked_length(rest)
        } else {
            head.split("\r\n")
                .find_map(|line| line.strip_prefix("Content-Length: "))
                .map_or(rest.len(), |value| value.parse().unwrap())
        };
        responses.push(stream[..head_end + length].to_vec());
        stream = &stream[head_end + length..];
    }
    responses
}

/// Bytes of a chunked body at the start of `body`, up to and including the last chunk.
fn chunked_length(body: &[u8]) -> usize {
    let mut position = 0;
    loop {
        let line_end = body[position..]
            .windows(2)
            .position(|window| window == b"\r\n")
            .expect("chunk size line")
            + position;
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[position..line_end]).unwrap(), 16)
                .expect("hex chunk size");
        position = line_end + 2 + size + 2;
        if size == 0 {
            return position;
        }
    }
}

/// Decodes a chunked body.
pub fn dechunk(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut position = 0;
    loop {
        let line_end = body[position..]
            .windows(2)
            .position(|window| window == b"\r\n")
            .expect("chunk size line")
            + position;
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[position..line_end]).unwrap(), 16)
                .expect("hex chunk size");
        assert!(size > 0 || &body[line_end + 2..line_end + 4] == b"\r\n");
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        assert_eq!(&body[line_end + 2 + size..line_end + 4 + size], b"\r\n");
        position = line_end + 4 + size;
        if size == 0 {
            return out;
        }
    }
}

/// Runs `input` through a fresh connection at time 0.
pub fn run(input: &[u8], chunk: usize) -> Exchange {
    exchange(&mut Client::new(0), 0, input, chunk)
}

/// A parsed response.
#[derive(Debug)]
pub struct Parsed {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Parsed {
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = self
            .headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name));
        let first = found.next().map(|(_, value)| value.as_str());
        assert!(found.next().is_none(), "header {name} repeated");
        first
    }

    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Parses and checks one response whose request method is unknown: a response with an empty
/// body and a non-zero `Content-Length` is taken as an answer to HEAD.
pub fn parse_any(bytes: &[u8]) -> Parsed {
    let head_only = bytes.ends_with(b"\r\n\r\n")
        && !bytes
            .windows(19)
            .any(|window| window == b"Content-Length: 0\r\n")
        && !bytes
            .windows(26)
            .any(|window| window == b"Transfer-Encoding: chunked");
    parse(bytes, head_only)
}

/// Parses and checks the framing of one response; `head_only` for answers to HEAD.
pub fn parse(bytes: &[u8], head_only: bool) -> Parsed {
    let text = std::str::from_utf8(bytes).expect("responses are UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .expect("head ends with CRLF CRLF");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"));
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let reason = parts.next().unwrap().to_string();
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("name: value");
            assert!(!name.contains(['\r', '\n', ' ']) && !value.contains(['\r', '\n']));
            (name.to_string(), value.to_string())
        })
        .collect();
    let parsed = Parsed {
        status,
        reason,
        headers,
        body: body.as_bytes().to_vec(),
    };
    assert!(matches!(
        parsed.header("Connection"),
        Some("close" | "keep-alive")
    ));
    assert_eq!(parsed.header("Cache-Control"), Some("no-store"));
    if status == 204 {
        assert!(parsed.header("Content-Length").is_none() && parsed.body.is_empty());
        return parsed;
    }
    let chunked = parsed.header("Transfer-Encoding") == Some("chunked");
    let mut parsed = parsed;
    if head_only {
        assert!(parsed.body.is_empty(), "HEAD response with a body");
    } else if chunked {
        assert!(parsed.header("Content-Length").is_none());
        parsed.body = dechunk(&parsed.body);
    } else if let Some(length) = parsed.header("Content-Length") {
        let length: usize = length.parse().unwrap();
        assert_eq!(parsed.body.len(), length, "Content-Length matches the body");
    } else {
        assert_eq!(
            parsed.header("Connection"),
            Some("close"),
            "close-delimited"
        );
    }
    let content_type = parsed.header("Content-Type").unwrap().to_string();
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json");
        if !head_only {
            let value = parsed.json();
            assert_eq!(value["status"], u64::from(status));
            assert_eq!(value["title"], parsed.reason.as_str());
            assert_eq!(value["type"], "about:blank");
            assert!(value["detail"].is_string());
            assert!(value["code"].as_str().is_some_and(|code| !code.is_empty()));
        }
    } else if content_type == "application/json" && !head_only {
        let _ = parsed.json();
    }
    parsed
}

/// Xorshift64*: a small deterministic generator for property-style tests.
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}
