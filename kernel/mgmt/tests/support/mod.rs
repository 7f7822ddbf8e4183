//! Shared helpers for the HTTP integration tests: a scripted client and a response parser.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_mgmt::{
    Action, Connection, LinkState, NicRole, NicStatus, RESPONSE_BUFFER_SIZE, StatusSnapshot,
};

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

/// Drives a connection the way the TCP plumbing does: offers at most `chunk` bytes at a time
/// (re-offering what was not consumed), polls until Nothing or Close after each offer.
pub fn exchange(connection: &mut Connection, now_ms: u64, input: &[u8], chunk: usize) -> Exchange {
    let snapshot = snapshot();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let mut result = Exchange::default();
    let mut pending = input;
    loop {
        let offer = &pending[..pending.len().min(chunk)];
        let progress = connection.on_bytes(now_ms, offer);
        assert!(progress.consumed <= offer.len());
        pending = &pending[progress.consumed..];
        let mut responded = false;
        loop {
            match connection.poll(now_ms, &snapshot, &mut out) {
                Action::Respond(length) => {
                    result.responses.push(out[..length].to_vec());
                    responded = true;
                }
                Action::Close => {
                    result.closed = true;
                    break;
                }
                Action::Nothing => break,
            }
        }
        if result.closed || pending.is_empty() {
            break;
        }
        assert!(
            progress.consumed > 0 || responded,
            "no progress: connection stuck"
        );
    }
    result.unconsumed = pending.len();
    result
}

/// Runs `input` through a fresh connection at time 0.
pub fn run(input: &[u8], chunk: usize) -> Exchange {
    exchange(&mut Connection::new(0), 0, input, chunk)
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
