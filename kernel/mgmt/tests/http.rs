//! End-to-end tests of the management endpoint: bytes in, HTTP responses out.

mod support;

use dpu_mgmt::{
    Action, Connection, IDLE_TIMEOUT_MS, LinkState, MAX_NICS, NicRole, NicStatus,
    REQUEST_BUFFER_SIZE, RESPONSE_BUFFER_SIZE, StatusSnapshot,
};
use support::{Client, HEALTH_BODY, exchange, parse, run, snapshot};

const GET_HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\nUser-Agent: curl/8.5\r\n\r\n";

fn single(input: &[u8]) -> (support::Parsed, bool) {
    let result = run(input, usize::MAX);
    assert_eq!(result.responses.len(), 1, "{result:?}");
    let head_only = input.starts_with(b"HEAD ");
    (parse(&result.responses[0], head_only), result.closed)
}

#[test]
fn get_healthz() {
    let (response, closed) = single(GET_HEALTH);
    assert_eq!(response.status, 200);
    assert_eq!(response.reason, "OK");
    assert_eq!(response.body_text(), HEALTH_BODY);
    assert_eq!(response.header("Connection"), Some("keep-alive"));
    assert_eq!(response.header("Cache-Control"), Some("no-store"));
    assert!(!closed, "HTTP/1.1 keeps the connection");
    let json = response.json();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["uptime_ms"], 1234);
    assert_eq!(json["nics"][0]["mac"], "52:54:00:12:34:56");
    assert_eq!(json["nics"][1]["link"], "down");
}

#[test]
fn head_healthz_has_get_headers_and_no_body() {
    let (get, _) = single(GET_HEALTH);
    let (head, closed) = single(b"HEAD /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.headers, get.headers);
    assert!(!closed);
}

#[test]
fn other_methods_on_healthz_get_405_with_allow() {
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "PATCH", "get", "TRACE"] {
        let request = format!("{method} /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n");
        let (response, closed) = single(request.as_bytes());
        assert_eq!(response.status, 405, "{method}");
        assert_eq!(response.header("Allow"), Some("GET, HEAD"));
        assert!(!closed, "the framing is intact: keep the connection");
    }
}

#[test]
fn unknown_paths_get_404() {
    for path in [
        "/",
        "/healthz/",
        "/api",
        "/healthz%0d%0aX-Injected:%201",
        "/HEALTHZ",
    ] {
        let request = format!("GET {path} HTTP/1.1\r\nHost: dpu\r\n\r\n");
        let (response, closed) = single(request.as_bytes());
        assert_eq!(response.status, 404, "{path}");
        assert!(response.header("X-Injected").is_none());
        assert!(
            !response.body_text().contains("Injected"),
            "request data is never echoed"
        );
        assert!(!closed);
    }
    let (head, _) = single(b"HEAD /nope HTTP/1.1\r\nHost: dpu\r\n\r\n");
    assert_eq!(head.status, 404);
    assert!(head.body.is_empty());
}

#[test]
fn query_and_absolute_form_reach_healthz() {
    let (query, _) = single(b"GET /healthz?pretty=1 HTTP/1.1\r\nHost: dpu\r\n\r\n");
    assert_eq!(query.status, 200);
    let (absolute, _) = single(b"GET http://10.0.2.15/healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(absolute.status, 200);
}

/// Requests the parser refuses: status, and the connection always closes.
const REFUSED: &[(&[u8], u16)] = &[
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /healthz\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\n\r\n", 400), // no Host
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\rX-Injected: 1\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 0\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n", 413),
    (b"GET /healthz HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417),
    (b"GET /healthz HTTP/2.0\r\n\r\n", 505),
    (b"GET /healthz HTTP/0.9\r\n\r\n", 505),
    (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    (b"GET /healthz HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /healthz HTTP/1.1\r\r\n\r\n", 400),
];

#[test]
fn refused_requests_get_json_errors_and_close() {
    for &(request, status) in REFUSED {
        let (response, closed) = single(request);
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(response.header("Connection"), Some("close"));
        assert!(closed, "{}", String::from_utf8_lossy(request));
    }
}

#[test]
fn refused_requests_are_counted_as_malformed() {
    let mut connection = Client::new(0);
    let _ = exchange(&mut connection, 0, b"GET / HTTP/3.0\r\n\r\n", usize::MAX);
    let counters = connection.counters();
    assert_eq!(counters.malformed, 1);
    assert_eq!(counters.requests, 0);
    assert_eq!(counters.responses(5), 1);
}

#[test]
fn bad_request_line_is_refused_before_the_head_ends() {
    let mut connection = Connection::new(0);
    let progress = connection.on_bytes(0, b"GET /healthz HTTP/7.1\r\n");
    assert!(
        progress.response_ready,
        "505 as soon as the request line is complete"
    );
    let mut connection = Connection::new(0);
    let progress = connection.on_bytes(0, b"\x16\x03\x01\x02\x00"); // a TLS ClientHello
    assert!(
        progress.response_ready,
        "binary refused at the first control byte"
    );
    assert_eq!(progress.consumed, 5);
    let mut client = Client::new(0);
    assert_eq!(client.server.receive(0, b"\x16\x03\x01\x02\x00"), 5);
    let result = exchange(&mut client, 0, b"", 1);
    assert_eq!(parse(&result.responses[0], false).status, 400);
    assert!(result.closed);
}

#[test]
fn refused_head_requests_get_headers_only() {
    let (response, closed) = single(b"HEAD /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n");
    assert_eq!(response.status, 400);
    assert!(response.body.is_empty());
    assert!(closed);
    // A HEAD whose request line itself is bad is not known to be a HEAD: it gets a body.
    let result = run(b"HEAD /healthz HTTP/3.0\r\n\r\n", usize::MAX);
    let response = parse(&result.responses[0], false);
    assert_eq!(response.status, 505);
    // A stalled HEAD times out with headers only.
    let mut connection = Client::new(0);
    let _ = exchange(
        &mut connection,
        0,
        b"HEAD /healthz HTTP/1.1\r\nHost: a\r\n",
        usize::MAX,
    );
    let result = exchange(&mut connection, IDLE_TIMEOUT_MS, b"", 1);
    let response = parse(&result.responses[0], true);
    assert_eq!(response.status, 408);
    assert!(result.closed);
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let (response, closed) = single(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(closed);
    let (response, closed) = single(b"GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_eq!(response.header("Connection"), Some("keep-alive"));
    assert!(!closed);
}

#[test]
fn connection_close_is_honoured_and_later_pipelined_bytes_dropped() {
    let mut input = b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec();
    input.extend_from_slice(GET_HEALTH);
    let result = run(&input, usize::MAX);
    assert_eq!(result.responses.len(), 1);
    assert_eq!(
        parse(&result.responses[0], false).header("Connection"),
        Some("close")
    );
    assert!(result.closed);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut input = Vec::new();
    input.extend_from_slice(GET_HEALTH);
    input.extend_from_slice(b"GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
    input.extend_from_slice(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    input.extend_from_slice(b"\r\n"); // stray CRLF between requests is ignored (RFC 9112 §2.2)
    input.extend_from_slice(b"HEAD /healthz HTTP/1.1\nHost: a\n\n"); // bare LF
    input.extend_from_slice(b"BROKEN\r\n\r\n");
    input.extend_from_slice(GET_HEALTH); // after the 400: never answered
    let expected = [
        (200, false),
        (404, false),
        (405, false),
        (200, true),
        (400, false),
    ];
    let reference = run(&input, usize::MAX);
    for chunk in 1..=input.len() {
        let result = run(&input, chunk);
        // Only how much of the discarded tail was read differs with the chunk size.
        assert_eq!(result.responses, reference.responses, "chunk size {chunk}");
        assert_eq!(result.closed, reference.closed, "chunk size {chunk}");
    }
    assert!(reference.closed);
    assert_eq!(reference.responses.len(), expected.len());
    for (bytes, (status, head_only)) in reference.responses.iter().zip(expected) {
        assert_eq!(parse(bytes, head_only).status, status);
    }
}

#[test]
fn byte_at_a_time_delivery() {
    let result = run(GET_HEALTH, 1);
    assert_eq!(result.responses.len(), 1);
    assert_eq!(parse(&result.responses[0], false).body_text(), HEALTH_BODY);
    assert!(!result.closed);
}

#[test]
fn oversized_heads_get_431() {
    let mut big_header = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: ".to_vec();
    big_header.resize(REQUEST_BUFFER_SIZE + 100, b'a');
    big_header.extend_from_slice(b"\r\n\r\n");
    let mut long_line = b"GET /".to_vec();
    long_line.resize(3 * REQUEST_BUFFER_SIZE, b'a');
    let mut many_headers = b"GET /healthz HTTP/1.1\r\nHost: a\r\n".to_vec();
    while many_headers.len() < REQUEST_BUFFER_SIZE {
        many_headers.extend_from_slice(b"X-A: b\r\n");
    }
    many_headers.extend_from_slice(b"\r\n");
    for input in [big_header, long_line, many_headers] {
        for chunk in [1, 7, 512, usize::MAX] {
            let result = run(&input, chunk);
            assert_eq!(result.responses.len(), 1);
            assert_eq!(parse(&result.responses[0], false).status, 431);
            assert!(result.closed);
        }
    }
}

#[test]
fn head_exactly_filling_the_buffer_is_accepted() {
    let mut input = b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
    input.resize(REQUEST_BUFFER_SIZE - 4, b'p');
    input.extend_from_slice(b"\r\n\r\n");
    assert_eq!(input.len(), REQUEST_BUFFER_SIZE);
    let (response, _) = single(&input);
    assert_eq!(response.status, 200);
}

#[test]
fn bodies_are_read_and_discarded() {
    let mut input = b"PUT /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 16384\r\n\r\n".to_vec();
    input.resize(input.len() + 16384, b'\x00'); // any bytes at all in a body
    input.extend_from_slice(GET_HEALTH);
    for chunk in [1, 1000, usize::MAX] {
        let result = run(&input, chunk);
        assert_eq!(result.responses.len(), 2);
        assert_eq!(parse(&result.responses[0], false).status, 405);
        assert_eq!(parse(&result.responses[1], false).status, 200);
        assert_eq!(result.unconsumed, 0);
    }
}

#[test]
fn expect_continue_is_answered_at_once_and_closed() {
    let input =
        b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    let (response, closed) = single(input);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Connection"), Some("close"));
    assert!(closed);
}

#[test]
fn no_input_is_taken_while_a_response_waits() {
    let mut connection = Connection::new(0);
    let mut input = GET_HEALTH.to_vec();
    input.extend_from_slice(GET_HEALTH);
    let progress = connection.on_bytes(0, &input);
    assert!(progress.response_ready);
    // The second request was copied into the buffer (it fitted) and waits there.
    assert_eq!(progress.consumed, input.len());
    let more = connection.on_bytes(0, b"GET");
    assert_eq!(
        more.consumed, 0,
        "backpressure until the response is polled"
    );
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let snapshot = snapshot();
    assert!(matches!(
        connection.poll(0, &snapshot, &mut out),
        Action::Respond(_)
    ));
    assert!(matches!(
        connection.poll(0, &snapshot, &mut out),
        Action::Respond(_)
    ));
    assert_eq!(connection.poll(0, &snapshot, &mut out), Action::Nothing);
    assert_eq!(connection.counters().requests, 2);
    assert_eq!(connection.counters().responses(2), 2);
}

#[test]
fn silent_idle_connection_is_closed_without_response() {
    let mut connection = Connection::new(1000);
    let snapshot = snapshot();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    assert_eq!(
        connection.poll(1000 + IDLE_TIMEOUT_MS - 1, &snapshot, &mut out),
        Action::Nothing
    );
    assert_eq!(
        connection.poll(1000 + IDLE_TIMEOUT_MS, &snapshot, &mut out),
        Action::Close
    );
    assert_eq!(
        connection.poll(1000 + IDLE_TIMEOUT_MS, &snapshot, &mut out),
        Action::Close
    );
    assert!(connection.is_closed());
    assert_eq!(connection.counters().timeouts, 1);
    assert_eq!(connection.counters().responses_by_class, [0; 5]);
}

#[test]
fn partial_request_times_out_with_408_even_if_trickling() {
    let snapshot = snapshot();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let mut connection = Connection::new(0);
    // One byte per second: the clock is not restarted by arriving bytes (slowloris).
    for (second, byte) in GET_HEALTH.iter().take(5).enumerate() {
        let now = second as u64 * 1000;
        assert_eq!(connection.on_bytes(now, &[*byte]).consumed, 1);
        assert_eq!(connection.poll(now, &snapshot, &mut out), Action::Nothing);
    }
    let Action::Respond(length) = connection.poll(IDLE_TIMEOUT_MS, &snapshot, &mut out) else {
        panic!("expected a 408");
    };
    let response = parse(&out[..length], false);
    assert_eq!(response.status, 408);
    assert_eq!(response.header("Connection"), Some("close"));
    assert_eq!(
        connection.poll(IDLE_TIMEOUT_MS, &snapshot, &mut out),
        Action::Close
    );
    assert_eq!(connection.counters().timeouts, 1);
    assert_eq!(connection.counters().responses(4), 1);
}

#[test]
fn unfinished_body_times_out_with_408() {
    let mut connection = Client::new(0);
    let input = b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345";
    let before = exchange(&mut connection, 100, input, usize::MAX);
    assert!(before.responses.is_empty());
    let after = exchange(&mut connection, IDLE_TIMEOUT_MS, b"", 1);
    assert_eq!(parse(&after.responses[0], false).status, 408);
    assert!(after.closed);
}

#[test]
fn keep_alive_restarts_the_clock_after_each_response() {
    let mut client = Client::new(0);
    let first = exchange(&mut client, 3000, GET_HEALTH, usize::MAX);
    assert_eq!(first.responses.len(), 1);
    assert!(!exchange(&mut client, 3000 + IDLE_TIMEOUT_MS - 1, b"", 1).closed);
    assert!(exchange(&mut client, 3000 + IDLE_TIMEOUT_MS, b"", 1).closed);
    let snapshot = snapshot();
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    // A clock that goes backwards never times out early.
    let mut connection = Connection::new(10_000);
    assert_eq!(connection.poll(0, &snapshot, &mut out), Action::Nothing);
}

#[test]
fn closed_connection_discards_input() {
    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, b"BAD\r\n\r\n");
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    assert!(matches!(
        connection.poll(0, &snapshot(), &mut out),
        Action::Respond(_)
    ));
    assert_eq!(connection.poll(0, &snapshot(), &mut out), Action::Close);
    assert!(connection.is_closed());
    let progress = connection.on_bytes(0, GET_HEALTH);
    assert_eq!(progress.consumed, GET_HEALTH.len());
    assert!(!progress.response_ready);
    // The same through the server: input taken and dropped, and the slot keeps closing.
    let mut client = Client::new(0);
    assert!(exchange(&mut client, 0, b"BAD\r\n\r\n", usize::MAX).closed);
    let again = exchange(&mut client, 0, GET_HEALTH, usize::MAX);
    assert!(again.responses.is_empty());
    assert!(again.closed);
    assert_eq!(again.unconsumed, 0);
}

#[test]
fn counters_add_up() {
    let mut connection = Client::new(0);
    let mut input = GET_HEALTH.to_vec();
    input.extend_from_slice(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    input.extend_from_slice(b"GET /x HTTP/9.9\r\n\r\n");
    let _ = exchange(&mut connection, 0, &input, 3);
    let counters = connection.counters();
    assert_eq!(counters.requests, 2);
    assert_eq!(counters.malformed, 1);
    assert_eq!(counters.responses(2), 1);
    assert_eq!(counters.responses(4), 1);
    assert_eq!(counters.responses(5), 1);
    assert_eq!(counters.responses(0), 0);
    assert_eq!(counters.responses(9), 0);
    let mut total = dpu_mgmt::Counters::default();
    total.merge(&counters);
    total.merge(&counters);
    assert_eq!(total.requests, 4);
    assert_eq!(total.responses(4), 2);
}

#[test]
fn too_small_output_buffer_gives_500_or_close() {
    let snapshot = snapshot();
    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, GET_HEALTH);
    let mut small = [0u8; 300]; // fits an error, not the health document
    let Action::Respond(length) = connection.poll(0, &snapshot, &mut small) else {
        panic!("expected a 500");
    };
    let response = parse(&small[..length], false);
    assert_eq!(response.status, 500);
    assert_eq!(response.header("Connection"), Some("close"));
    assert_eq!(connection.poll(0, &snapshot, &mut small), Action::Close);

    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, GET_HEALTH);
    let mut tiny = [0u8; 10];
    assert_eq!(connection.poll(0, &snapshot, &mut tiny), Action::Close);
}

#[test]
fn largest_health_document_fits_the_response_buffer() {
    let name = "\u{1}".repeat(16); // worst case: every byte escaped as \u0001
    let version = "\"".repeat(32);
    let git = "\u{7}".repeat(40);
    let mut snapshot = StatusSnapshot::new(&version, &git, u64::MAX);
    for _ in 0..MAX_NICS {
        let nic = NicStatus {
            name: &name,
            role: NicRole::Management,
            link: LinkState::Down,
            mac: [0xff; 6],
        };
        snapshot.push_nic(nic).unwrap();
    }
    let extra = NicStatus {
        name: "x",
        role: NicRole::Host,
        link: LinkState::Up,
        mac: [0; 6],
    };
    assert_eq!(snapshot.push_nic(extra), Err(extra), "capacity is MAX_NICS");
    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, GET_HEALTH);
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let Action::Respond(length) = connection.poll(0, &snapshot, &mut out) else {
        panic!("expected a response");
    };
    let response = parse(&out[..length], false);
    assert_eq!(response.status, 200);
    let json = response.json();
    assert_eq!(json["version"], version.as_str());
    assert_eq!(json["git"], git.as_str());
    assert_eq!(json["nics"][7]["name"], name.as_str());
    assert_eq!(json["uptime_ms"], u64::MAX);
}

#[test]
fn hostile_snapshot_strings_are_escaped() {
    let mut snapshot = StatusSnapshot::new("1.0\"},\"x\":\"y", "</script>\r\nSet-Cookie: a", 0);
    snapshot
        .push_nic(NicStatus {
            name: "eth\\0",
            role: NicRole::Host,
            link: LinkState::Up,
            mac: [1; 6],
        })
        .unwrap();
    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, GET_HEALTH);
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let Action::Respond(length) = connection.poll(0, &snapshot, &mut out) else {
        panic!("expected a response");
    };
    let response = parse(&out[..length], false);
    assert!(response.header("Set-Cookie").is_none());
    let json = response.json();
    assert_eq!(json["version"], "1.0\"},\"x\":\"y");
    assert!(json.get("x").is_none());
    assert_eq!(json["git"], "</script>\r\nSet-Cookie: a");
    assert_eq!(json["nics"][0]["name"], "eth\\0");
    assert_eq!(json["nics"][0]["role"], "host");
    assert_eq!(json["nics"][0]["mac"], "01:01:01:01:01:01");
}

#[test]
fn empty_nic_list() {
    let snapshot = StatusSnapshot::new("v", "g", 5);
    let mut connection = Connection::new(0);
    let _ = connection.on_bytes(0, GET_HEALTH);
    let mut out = [0u8; RESPONSE_BUFFER_SIZE];
    let Action::Respond(length) = connection.poll(0, &snapshot, &mut out) else {
        panic!("expected a response");
    };
    let response = parse(&out[..length], false);
    assert_eq!(
        response.body_text(),
        r#"{"status":"ok","version":"v","git":"g","uptime_ms":5,"nics":[]}"#
    );
}
