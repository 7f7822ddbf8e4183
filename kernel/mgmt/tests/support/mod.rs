//! HTTP test helpers: a client of the real server, a response parser.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_mgmt::{Counters, HttpServer, LinkState, NicRole, NicStatus, StatusSnapshot};

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
    pub server: HttpServer<'static, 1>,
    /// The server asked to close.
    pub closed: bool,
}

impl Client {
    /// A connection accepted at `now_ms`, serving [`snapshot`].
    pub fn new(now_ms: u64) -> Self {
        let mut server = HttpServer::new();
        server.set_snapshot(snapshot(), now_ms);
        server.set_clock(now_ms);
        server.open(0);
        Self {
            server,
            closed: false,
        }
    }

    pub fn counters(&self) -> Counters {
        self.server.counters()
    }

    pub fn is_closed(&self) -> bool {
        self.closed
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
    loop {
        let offer = &pending[..pending.len().min(chunk)];
        let consumed = client.server.receive(0, offer);
        assert!(consumed <= offer.len());
        pending = &pending[consumed..];
        let mut sent = false;
        loop {
            let outcome = client.server.send(0, &mut window);
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
        assert!(consumed > 0 || sent, "no progress: connection stuck");
    }
    result.closed = client.closed;
    result.responses = split_responses(&stream);
    result.unconsumed = pending.len();
    result
}

/// Cuts a response stream at response boundaries: a head, then `Content-Length` bytes of body
/// unless the next bytes are not a JSON body (the answer to a HEAD).
pub fn split_responses(mut stream: &[u8]) -> Vec<Vec<u8>> {
    let mut responses = Vec::new();
    while !stream.is_empty() {
        let head_end = stream
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("every response has a whole head")
            + 4;
        let head = std::str::from_utf8(&stream[..head_end]).expect("heads are UTF-8");
        let length: usize = head
            .split("\r\n")
            .find_map(|line| line.strip_prefix("Content-Length: "))
            .expect("every response has a Content-Length")
            .parse()
            .unwrap();
        let body = if stream[head_end..].starts_with(b"{") {
            length
        } else {
            0
        };
        responses.push(stream[..head_end + body].to_vec());
        stream = &stream[head_end + body..];
    }
    responses
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
            .any(|window| window == b"Content-Length: 0\r\n");
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
    let length: usize = parsed.header("Content-Length").unwrap().parse().unwrap();
    assert_eq!(parsed.header("Content-Type"), Some("application/json"));
    assert!(matches!(
        parsed.header("Connection"),
        Some("close" | "keep-alive")
    ));
    if head_only {
        assert!(parsed.body.is_empty(), "HEAD response with a body");
    } else {
        assert_eq!(parsed.body.len(), length, "Content-Length matches the body");
        let value = parsed.json();
        if status != 200 {
            assert_eq!(value["status"], u64::from(status));
            assert_eq!(value["error"], parsed.reason.as_str());
            assert!(value["message"].is_string());
        }
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
