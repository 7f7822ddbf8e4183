//! Property-style tests: random and mutated input never panics, never wedges a connection, and
//! every response is well-framed HTTP with a valid JSON body.

mod support;

use dpu_mgmt::{Action, Connection, IDLE_TIMEOUT_MS, RESPONSE_BUFFER_SIZE};
use support::{Client, Random, parse_any, snapshot, split_responses};

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

/// Feeds `input` in random chunks at random times and checks every invariant on the way.
fn check(input: &[u8], random: &mut Random) {
    let snapshot = snapshot();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let mut now = random.below(1000) as u64;
    let mut connection = Connection::new(now);
    let mut pending = input;
    let mut closed = false;
    for _round in 0..10_000 {
        let chunk = 1 + random.below(64);
        let offer = &pending[..pending.len().min(chunk)];
        let progress = connection.on_bytes(now, offer);
        assert!(progress.consumed <= offer.len());
        pending = &pending[progress.consumed..];
        loop {
            match connection.poll(now, &snapshot, &mut out) {
                Action::Respond(length) => {
                    assert!(length <= out.len());
                    let response = parse_any(&out[..length]);
                    assert!(matches!(
                        response.status,
                        200 | 400 | 404 | 405 | 408 | 413 | 417 | 431 | 500 | 501 | 505
                    ));
                }
                Action::Close => {
                    closed = true;
                    break;
                }
                Action::Nothing => break,
            }
        }
        if closed {
            assert!(connection.is_closed());
            assert_eq!(connection.poll(now, &snapshot, &mut out), Action::Close);
            return;
        }
        if pending.is_empty() {
            // Out of input: time must eventually close the connection.
            now += 1 + random.below(2000) as u64;
            if now > 100 * IDLE_TIMEOUT_MS {
                panic!(
                    "connection never closed: {:?}",
                    String::from_utf8_lossy(input)
                );
            }
        } else if random.below(8) == 0 {
            now += random.below(1500) as u64;
        }
    }
    panic!("connection wedged on {:?}", String::from_utf8_lossy(input));
}

/// The same through the real server, with random receive chunks and send windows: every
/// response arrives whole and well-framed, and the connection always ends.
fn check_through_server(input: &[u8], random: &mut Random) {
    let mut now = random.below(1000) as u64;
    let mut client = Client::new(now);
    let mut stream = Vec::new();
    let mut pending = input;
    for _round in 0..10_000 {
        client.server.set_clock(now);
        let chunk = 1 + random.below(64);
        let offer = &pending[..pending.len().min(chunk)];
        let consumed = client.server.receive(0, offer);
        assert!(consumed <= offer.len());
        pending = &pending[consumed..];
        let mut window = vec![0u8; 1 + random.below(700)];
        loop {
            let outcome = client.server.send(0, &mut window);
            stream.extend_from_slice(&window[..outcome.written]);
            if outcome.close {
                for response in split_responses(&stream) {
                    let _ = parse_any(&response);
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
        check_through_server(&input, &mut random);
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
    let valid: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\nContent-Length: 3\r\n\r\nabcHEAD /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
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
