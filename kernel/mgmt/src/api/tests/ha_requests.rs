//! `/v1/ha` and `/v1/ha:failover` through the whole handler, with the fake backend (HA off).

use super::*;

#[test]
fn ha_off_reads_disabled_and_refuses_a_failover() {
    let mut fake = Fake::new();
    let (status, json) = get(&mut fake, "/v1/ha");
    assert_eq!(status, 200);
    assert_eq!(json["enabled"], false);
    assert_eq!(json["role"], "disabled");
    let (status, json) = get(&mut fake, "/v1/system");
    assert_eq!(status, 200);
    assert_eq!(json["alias"], serde_json::Value::Null);
    let (status, _, text) = run(
        &mut fake,
        &request(Method::Post, "/v1/ha:failover", Role::Operator, b""),
        BUFFER,
    );
    assert_eq!(status, 409, "{text}");
    assert!(text.contains("\"code\":\"ha_disabled\""), "{text}");
    let (status, _, text) = run(
        &mut fake,
        &request(
            Method::Post,
            "/v1/ha:failover",
            Role::Operator,
            b"{\"target\":\"dpu2\"}",
        ),
        BUFFER,
    );
    assert_eq!(status, 400, "{text}");
    let (status, _, _) = run(
        &mut fake,
        &request(Method::Post, "/v1/ha:failover", Role::ReadOnly, b""),
        BUFFER,
    );
    assert_eq!(status, 403);
    let (status, _, _) = run(
        &mut fake,
        &request(Method::Get, "/v1/ha:failover", Role::ReadOnly, b""),
        BUFFER,
    );
    assert_eq!(status, 405);
}
