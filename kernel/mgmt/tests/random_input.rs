//! Property-style tests: random and mutated input never panics, never wedges a connection, and
//! every response is well-framed HTTP with a valid JSON body.

mod support;

use dpu_mgmt::IDLE_TIMEOUT_MS;
use proptest::prelude::*;
use support::{Client, Random, parse_any, split_responses};

/// Every status the server or the test API may answer with.
const KNOWN: &[u16] = &[
    200, 202, 400, 401, 403, 404, 405, 408, 411, 413, 414, 415, 417, 431, 500, 501, 503, 505,
];

/// Pieces that make random input look enough like HTTP to reach deep parser states.
const PIECES: &[&[u8]] = &[
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"/healthz",
    b"/",
    b"?a=b",
    b" HTTP/1.1",
    b" HTTP/1.0",
    b" HTTP/2.0",
    b"\r\n",
    b"\n",
    b"\r",
    b"Host: dpu",
    b"Content-Length: ",
    b"0",
    b"5",
    b"99999",
    b"Transfer-Encoding: chunked",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Expect: 100-continue",
    b"Authorization: Bearer operator-secret",
    b"Authorization: Bearer reader-secret",
    b"Authorization: Bearer wrong",
    b"/v1/upload",
    b"/v1/whole",
    b"/v1/items?count=40",
    b"/v1/openapi",
    b"Content-Type: application/json",
    b": ",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"%",
    b"%41",
    b"hello",
];

fn random_input(random: &mut Random) -> Vec<u8> {
    let mut input = Vec::new();
    let pieces = random.below(60);
    for _ in 0..pieces {
        match random.below(4) {
            0 => {
                let length = random.below(40);
                input.extend((0..length).map(|_| random.next() as u8));
            }
            _ => input.extend_from_slice(PIECES[random.below(PIECES.len())]),
        }
    }
    input
}

/// Feeds `input` to the real server in random receive chunks at random times, with random
/// send windows: every response arrives whole and well-framed with a known status, and the
/// connection always ends.
fn check(input: &[u8], random: &mut Random) {
    let mut now = random.below(1000) as u64;
    let mut client = Client::new(now);
    let mut stream = Vec::new();
    let mut pending = input;
    for _round in 0..10_000 {
        client.server.set_clock(now);
        let chunk = 1 + random.below(64);
        let offer = &pending[..pending.len().min(chunk)];
        let consumed = if offer.is_empty() {
            0
        } else {
            client.receive(offer)
        };
        assert!(consumed <= offer.len());
        pending = &pending[consumed..];
        let mut window = vec![0u8; 1 + random.below(700)];
        loop {
            let outcome = client.send(&mut window);
            stream.extend_from_slice(&window[..outcome.written]);
            if outcome.close {
                for response in split_responses(&stream) {
                    let status = parse_any(&response).status;
                    assert!(KNOWN.contains(&status), "status {status}");
                }
                return;
            }
            if outcome.written == 0 {
                break;
            }
        }
        if pending.is_empty() {
            now += 1 + random.below(2000) as u64;
            assert!(
                now <= 100 * IDLE_TIMEOUT_MS,
                "connection never closed: {:?}",
                String::from_utf8_lossy(input)
            );
        } else if random.below(8) == 0 {
            now += random.below(1500) as u64;
        }
    }
    panic!("connection wedged on {:?}", String::from_utf8_lossy(input));
}

#[test]
fn random_bytes_never_panic_or_wedge() {
    let mut random = Random::new(0x5eed_1234_abcd_0001);
    for _ in 0..3000 {
        let input = random_input(&mut random);
        check(&input, &mut random);
    }
}

#[test]
fn uniformly_random_binary_input() {
    let mut random = Random::new(42);
    for _ in 0..500 {
        let length = random.below(5000);
        let input: Vec<u8> = (0..length).map(|_| random.next() as u8).collect();
        check(&input, &mut random);
    }
}

#[test]
fn mutated_valid_requests() {
    let valid: &[u8] = CORPUS[0];
    let mut random = Random::new(7);
    for _ in 0..3000 {
        let mut input = valid.to_vec();
        for _ in 0..1 + random.below(4) {
            let position = random.below(input.len());
            match random.below(3) {
                0 => input[position] = random.next() as u8,
                1 => {
                    input.remove(position);
                }
                _ => input.insert(position, random.next() as u8),
            }
        }
        check(&input, &mut random);
    }
}

/// Valid requests the property test starts from and mutates (a small corpus of what the
/// server handles: every intake, pieces, a static body, tokens, pipelining).
const CORPUS: &[&[u8]] = &[
    b"GET /healthz HTTP/1.1\r\nHost: dpu\r\nContent-Length: 3\r\n\r\nabcHEAD /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /v1/whole HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer operator-secret\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
    b"POST /v1/upload HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer admin-secret\r\nContent-Length: 16\r\nExpect: 100-continue\r\n\r\n0123456789abcdef",
    b"GET /v1/items?count=90 HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer reader-secret\r\n\r\nGET /v1/openapi HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer reader-secret\r\n\r\n",
    b"DELETE /v1/echo HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer reader-secret\r\n\r\nGET /v1/echo?x=1 HTTP/1.1\r\nHost: d\r\nAuthorization: Bearer wrong\r\n\r\n",
];

/// A corpus entry with up to eight byte edits (replace, delete, insert).
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<usize>(), 0..3u8, any::<u8>());
    (0..CORPUS.len(), proptest::collection::vec(edit, 0..8)).prop_map(|(index, edits)| {
        let mut input = CORPUS[index].to_vec();
        for (position, kind, byte) in edits {
            if input.is_empty() {
                input.push(byte);
                continue;
            }
            let position = position % input.len();
            match kind {
                0 => input[position] = byte,
                1 => {
                    input.remove(position);
                }
                _ => input.insert(position, byte),
            }
        }
        input
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// The request path: no panic, every input gets well-framed answers with known statuses,
    /// and every connection ends (closed by the server or by a deadline).
    #[test]
    fn mutated_corpus_always_gets_a_status(input in mutated(), seed in any::<u64>()) {
        check(&input, &mut Random::new(seed));
    }

    #[test]
    fn arbitrary_bytes_always_get_a_status(
        input in proptest::collection::vec(any::<u8>(), 0..3000),
        seed in any::<u64>(),
    ) {
        check(&input, &mut Random::new(seed));
    }
}
