//! Property tests of the API's JSON request bodies: a corpus of valid bodies for every write
//! that takes one, mutated byte by byte and cut short, through the real handlers.
//!
//! Properties on every case: no panic; the status is one the OpenAPI document lists for the
//! operation; an error is a problem document (valid JSON, `application/problem+json`, a
//! `code`); a refused write changes nothing; an accepted PATCH leaves a config the switch
//! validates. `PROPTEST_CASES` sets the number of cases (`docs/fuzzing.md`).

use super::*;
use proptest::prelude::*;

/// One write that takes a JSON body: method, path, the statuses it may answer, valid bodies.
struct Operation {
    method: Method,
    path: &'static str,
    statuses: &'static [u16],
    corpus: &'static [&'static [u8]],
}

const OPERATIONS: &[Operation] = &[
    Operation {
        method: Method::Patch,
        path: "/v1/ports/port2",
        statuses: &[200, 400, 415],
        corpus: &[
            br#"{"vlan_mode":"trunk","trunk_vlans":"30-31","native_vlan":10,"security":{"mac":"none","promiscuous":"accept"},"mac_limit":100}"#,
            br#"{"access_vlan":10,"mac_limit":7,"mac_limit_policy":"drop"}"#,
            br#"{"role":"host","admin_state":"up"}"#,
            br#"{"security":{"mac":"52:54:00:00:00:02","mac_changes":"accept","forged_transmits":"reject"}}"#,
            br#"{"vlan_mode":"access","access_vlan":4094}"#,
            br#"{}"#,
        ],
    },
    Operation {
        method: Method::Post,
        path: "/v1/fdb",
        statuses: &[201, 400, 415, 507],
        corpus: &[
            br#"{"mac":"52:54:00:aa:bb:01","vlan":10,"port":"port2"}"#,
            br#"{"mac":"02:00:00:00:00:09","vlan":1,"port":"port3"}"#,
            br#"{"port":"port1","vlan":20,"mac":"52-54-00-aa-bb-02"}"#,
        ],
    },
    Operation {
        method: Method::Post,
        path: "/v1/fdb:flush",
        statuses: &[200, 400, 415],
        corpus: &[br#"{"port":"port2"}"#, br#"{}"#, b""],
    },
    Operation {
        method: Method::Post,
        path: "/v1/system:reboot",
        statuses: &[202, 400, 415],
        corpus: &[
            br#"{"type":"GracefulRestart"}"#,
            br#"{"type":"ForceRestart"}"#,
            br#"{}"#,
        ],
    },
];

/// Bytes that steer mutations into JSON's corners.
const INTERESTING: &[u8] = b"{}[]\":,\\-+.0123456789eEtrufalsn \t\r\n\x00\x7f\xc3\xff";

/// An operation, one of its corpus bodies with up to eight byte edits, and maybe cut short.
fn case() -> impl Strategy<Value = (usize, Vec<u8>)> {
    let edit = (any::<usize>(), 0..4u8, any::<u8>(), any::<usize>());
    (
        0..OPERATIONS.len(),
        any::<usize>(),
        proptest::collection::vec(edit, 0..8),
        proptest::option::of(any::<usize>()),
    )
        .prop_map(|(operation, pick, edits, cut)| {
            let corpus = OPERATIONS[operation].corpus;
            let mut body = corpus[pick % corpus.len()].to_vec();
            for (position, kind, byte, choice) in edits {
                let position = position % (body.len() + 1);
                let byte = if choice % 2 == 0 {
                    byte
                } else {
                    INTERESTING[choice % INTERESTING.len()]
                };
                match kind {
                    0 if position < body.len() => body[position] = byte,
                    1 if position < body.len() => {
                        body.remove(position);
                    }
                    _ => body.insert(position, byte),
                }
            }
            if let Some(cut) = cut {
                body.truncate(cut % (body.len() + 1));
            }
            (operation, body)
        })
}

/// Runs one body through the handler and checks the properties.
fn check(operation: &Operation, body: &[u8]) {
    let mut fake = Fake::new().with_entries(20);
    let before = (fake.config.clone(), fake.entries.clone(), fake.rebooted);
    let request = request(operation.method, operation.path, Role::Administrator, body);
    let (status, reply, text) = run(&mut fake, &request, BUFFER);
    assert!(
        operation.statuses.contains(&status),
        "{} {} answered {status} to {:?}: {text}",
        operation.method,
        operation.path,
        String::from_utf8_lossy(body)
    );
    if status >= 400 {
        assert_eq!(reply.content_type, PROBLEM_JSON);
        let json: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
        assert_eq!(json["status"], status);
        assert!(json["code"].is_string(), "{text}");
        assert_eq!(
            (fake.config.clone(), fake.entries.clone(), fake.rebooted),
            before,
            "a refused {} {} changed something",
            operation.method,
            operation.path
        );
    } else if !text.is_empty() {
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|error| panic!("{error}: {text}"));
    }
    if let Some(config) = &fake.config {
        assert!(config.validate().is_ok(), "an invalid config was applied");
    }
}

#[test]
fn every_corpus_body_is_accepted_as_it_is() {
    for operation in OPERATIONS {
        for body in operation.corpus {
            let mut fake = Fake::new();
            let request = request(operation.method, operation.path, Role::Administrator, body);
            let (status, _, text) = run(&mut fake, &request, BUFFER);
            assert!(
                status < 300,
                "{} {} refused corpus body {:?}: {text}",
                operation.method,
                operation.path,
                String::from_utf8_lossy(body)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_bodies_get_a_listed_status_and_refusals_change_nothing(
        (operation, body) in case()
    ) {
        check(&OPERATIONS[operation], &body);
    }

    #[test]
    fn arbitrary_bytes_get_a_listed_status(
        operation in 0..OPERATIONS.len(),
        body in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        check(&OPERATIONS[operation], &body);
    }
}
