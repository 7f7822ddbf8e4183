//! Host tests of the /v1 handlers against a fake backend.

use std::string::{String, ToString};
use std::vec::Vec;

use dpu_switch::table::Entry;
use dpu_switch::{
    Counters, EntryKind, FdbError, MacAddress, PortCounters, PortId, PortSet, SwitchConfig, VlanId,
};

use super::backend::*;
use super::*;

const BUFFER: usize = 4096;

/// A kernel stand-in: a switch config, a MAC table as a list, an upload session.
struct Fake {
    config: Option<SwitchConfig>,
    entries: Vec<Entry>,
    cleared: Vec<PortId>,
    rebooted: Option<RebootKind>,
    stored_config: String,
    upload: Option<(u32, u32, u32)>, // task, length, received
    upload_ended: Option<bool>,
    accept_per_feed: usize,
    fail_at: Option<u32>,
    rollback: Result<(), RollbackRefusal>,
    unstage: Result<(), UnstageRefusal>,
    banks: bool,
    logs: Vec<(u64, String)>,
    api_upload: Option<ApiUpload>,
    api_refused: Option<(u64, UploadRefusal)>,
}

fn port(number: u8) -> PortId {
    PortId::new(number).unwrap()
}

fn vlan(id: u16) -> VlanId {
    VlanId::new(id).unwrap()
}

impl Fake {
    fn new() -> Self {
        let mut config = SwitchConfig::new(3);
        config.set("port1", "uplink").unwrap();
        config.set("port1.trunk", "10-12,20,4000:native=1").unwrap();
        config.set("port2.vlan", "10").unwrap();
        config.set("port2.mac", "52:54:00:00:00:02").unwrap();
        config.validate().unwrap();
        Self {
            config: Some(config),
            entries: Vec::new(),
            cleared: Vec::new(),
            rebooted: None,
            stored_config: "{\"switch\":{}}".to_string(),
            upload: None,
            upload_ended: None,
            accept_per_feed: 1000,
            fail_at: None,
            rollback: Ok(()),
            unstage: Ok(()),
            banks: true,
            api_upload: None,
            api_refused: None,
            logs: (1..=5)
                .map(|seq| (seq, std::format!("line {seq} \"q\"")))
                .collect(),
        }
    }

    fn with_entries(mut self, count: usize) -> Self {
        for index in 0..count {
            self.entries.push(Entry {
                vlan: vlan(if index % 2 == 0 { 10 } else { 1 }),
                mac: MacAddress::from_u64(0x0200_0000_0000 + index as u64),
                port: port(if index % 3 == 0 { 2 } else { 3 }),
                kind: if index % 5 == 0 {
                    EntryKind::Static
                } else {
                    EntryKind::Learned
                },
                last_seen: 90,
            });
        }
        self
    }
}

impl Backend for Fake {
    fn system(&self) -> SystemInfo<'_> {
        SystemInfo {
            version: "0.1.0",
            git: "abc1234",
            profile: "release",
            uptime_ms: 12_345,
            boot_number: 2,
            memory_total_bytes: 128 << 20,
            memory_image_bytes: 3 << 20,
            boot_report: "bank A v0.1.0+1 committed",
            last_boot: "none (power-on)",
            boot_bank: Some('A'),
            trial: false,
        }
    }
    fn reboot(&mut self, kind: RebootKind) {
        self.rebooted = Some(kind);
    }
    fn switch_config(&self) -> Option<&SwitchConfig> {
        self.config.as_ref()
    }
    fn port_state(&self, port: PortId) -> PortState {
        PortState {
            present: port.number() != 3,
            link_up: port.number() == 1,
            mac: Some(MacAddress([0x52, 0x54, 0, 0, 0x10, port.number()])),
            nic: NicCounters {
                rx_packets: 10,
                rx_bytes: 1000,
                tx_packets: 20,
                tx_bytes: 2000,
                ..NicCounters::default()
            },
            switch: PortCounters {
                dropped: 3,
                learned: 4,
                ..PortCounters::default()
            },
            learned_macs: 4,
            pinned_uplink: (port.number() != 1).then(|| PortId::new(1).unwrap()),
            last_clear_ms: self.cleared.contains(&port).then_some(500),
        }
    }
    fn apply_switch_config(&mut self, config: &SwitchConfig) -> Result<(), ApplyError> {
        config.validate().map_err(ApplyError::Invalid)?;
        self.config = Some(config.clone());
        Ok(())
    }
    fn clear_port_counters(&mut self, port: PortId) {
        self.cleared.push(port);
    }
    fn switch_summary(&self) -> Option<SwitchSummary> {
        self.config.as_ref()?;
        let mut counters = Counters::default();
        counters.drops[dpu_switch::DropReason::Runt.index()] = 7;
        let mut active = PortSet::EMPTY;
        active.insert(port(1));
        Some(SwitchSummary {
            counters,
            mac_entries: self.entries.len(),
            mac_capacity: 16384,
            now_seconds: 100,
            active_uplinks: active,
        })
    }
    fn fdb_page(&self, start: u32, filter: &FdbFilter, out: &mut [(u32, Entry)]) -> FdbPage {
        let mut count = 0;
        let mut next = None;
        for (position, entry) in self.entries.iter().enumerate().skip(start as usize) {
            if !filter.matches(entry) {
                continue;
            }
            if count == out.len() {
                next = Some(position as u32);
                break;
            }
            out[count] = (position as u32, *entry);
            count += 1;
        }
        FdbPage { count, next }
    }
    fn fdb_add(&mut self, vlan: VlanId, mac: MacAddress, port: PortId) -> Result<(), FdbError> {
        if !self.config.as_ref().unwrap().port(port).vlan.carries(vlan) {
            return Err(FdbError::VlanNotCarried(port, vlan));
        }
        self.entries.push(Entry {
            vlan,
            mac,
            port,
            kind: EntryKind::Static,
            last_seen: 0,
        });
        Ok(())
    }
    fn fdb_remove(&mut self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        let index = self
            .entries
            .iter()
            .position(|entry| entry.vlan == vlan && entry.mac == mac)?;
        Some(self.entries.remove(index))
    }
    fn fdb_flush(&mut self, port: Option<PortId>) -> usize {
        let before = self.entries.len();
        self.entries.retain(|entry| {
            entry.kind == EntryKind::Static || port.is_some_and(|port| entry.port != port)
        });
        before - self.entries.len()
    }
    fn write_config(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        out.write_str(&self.stored_config)
    }
    fn replace_config(
        &mut self,
        body: &[u8],
        field_error: &mut dyn FnMut(&str, &str),
    ) -> Result<(), ConfigRefusal> {
        let text = core::str::from_utf8(body).unwrap_or("");
        if text.contains("bad") {
            field_error("switch.ports[1].vlan", "vlan 5000 out of range 1..4094");
            field_error("switch.aging", "expected seconds");
            return Err(ConfigRefusal::Invalid);
        }
        self.stored_config = text.to_string();
        Ok(())
    }
    fn firmware(&self) -> Option<FirmwareView> {
        if !self.banks {
            return None;
        }
        let bank = |slot, active| BankView {
            slot,
            version: heapless::String::try_from("0.1.0+1").unwrap(),
            state: if active { "good" } else { "bad" },
            active,
            staged: false,
            tries_left: 0,
            security_counter: 1,
            size_bytes: 4096,
            digest: [0xab; 32],
            failure_reason: if active {
                heapless::String::new()
            } else {
                heapless::String::try_from("signature does not verify").unwrap()
            },
        };
        Some(FirmwareView {
            banks: [bank('A', true), bank('B', false)],
            floor: 1,
            rollback_requested: false,
            last_outcome: heapless::String::try_from("none").unwrap(),
        })
    }
    fn rollback(&mut self) -> Result<(), RollbackRefusal> {
        self.rollback
    }
    fn unstage(&mut self) -> Result<Unstaged, UnstageRefusal> {
        self.unstage.map(|()| Unstaged {
            slot: 'B',
            version: heapless::String::try_from("0.2.0+2").unwrap(),
        })
    }
    fn upload_start(&mut self, length: u32) -> Result<u32, UploadRefusal> {
        if self.upload.is_some() {
            return Err(UploadRefusal::Busy);
        }
        if length > 1 << 20 {
            return Err(UploadRefusal::TooLarge { limit: 1 << 20 });
        }
        self.upload = Some((7, length, 0));
        Ok(7)
    }
    fn upload_feed(&mut self, bytes: &[u8]) -> Result<usize, UploadFailure> {
        let (task, length, received) = self.upload.ok_or(UploadFailure::NotRunning)?;
        if self.fail_at.is_some_and(|at| received >= at) {
            return Err(UploadFailure::Failed);
        }
        let taken = bytes.len().min(self.accept_per_feed);
        self.upload = Some((task, length, received + taken as u32));
        Ok(taken)
    }
    fn upload_end(&mut self, complete: bool) {
        self.upload_ended = Some(complete);
    }
    fn task(&self, id: u32) -> Option<TaskInfo> {
        let (task, length, received) = self.upload?;
        (task == id).then(|| TaskInfo {
            id,
            kind: "firmware-upload",
            state: if self.fail_at.is_some() {
                TaskState::Exception
            } else {
                TaskState::Running
            },
            percent: (received * 100 / length.max(1)) as u8,
            received_bytes: received,
            total_bytes: length,
            message: heapless::String::try_from("bad image header").unwrap(),
            started_ms: 10,
            ended_ms: None,
        })
    }
    fn api_upload(&self) -> Option<ApiUpload> {
        self.api_upload
    }
    fn set_api_upload(&mut self, upload: Option<ApiUpload>) {
        self.api_upload = upload;
    }
    fn api_refused(&self) -> Option<(u64, UploadRefusal)> {
        self.api_refused
    }
    fn set_api_refused(&mut self, refused: Option<(u64, UploadRefusal)>) {
        self.api_refused = refused;
    }
    fn logs(&self, after_seq: u64, visit: &mut dyn FnMut(LogLine<'_>) -> bool) {
        for (seq, text) in &self.logs {
            if *seq > after_seq
                && !visit(LogLine {
                    seq: *seq,
                    uptime_ms: seq * 10,
                    text,
                })
            {
                break;
            }
        }
    }
    fn loop_stats(&self) -> LoopStats {
        LoopStats {
            passes: 99,
            longest_pass_us: 1234,
        }
    }
    fn http_stats(&self) -> HttpStats {
        HttpStats {
            requests: 5,
            responses_by_class: [0, 4, 0, 1, 0],
            ..HttpStats::default()
        }
    }
}

fn request<'a>(method: Method, target: &'a str, role: Role, body: &'a [u8]) -> Request<'a> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request {
        method,
        path,
        query,
        content_type: (!body.is_empty()).then_some("application/json"),
        content_length: Some(body.len() as u64),
        role,
        body,
    }
}

/// The whole response: status, reply, body text (streams filled through `chunk`-byte buffers).
fn run(fake: &mut Fake, request: &Request<'_>, chunk: usize) -> (u16, Reply, String) {
    let mut buffer = [0u8; BUFFER];
    let Outcome::Reply(reply) = handle(fake, request, &mut buffer) else {
        panic!("an upload started");
    };
    let text = match reply.content {
        Content::Empty => String::new(),
        Content::Ready(length) => String::from_utf8(buffer[..length].to_vec()).unwrap(),
        Content::Stream(mut body) => drain(fake, &mut body, chunk),
        Content::Static(document) => String::from_utf8(document.to_vec()).unwrap(),
    };
    assert_eq!(readable::debug_lines(&text), [], "Debug output in a body");
    (reply.status, reply, text)
}

fn drain(fake: &Fake, body: &mut Body, chunk: usize) -> String {
    let mut text = Vec::new();
    let mut buffer = std::vec![0u8; chunk];
    let start = *body;
    for _ in 0..100_000 {
        // Between fills the body lives only as a u64 cursor, as in the server.
        *body = Body::resume(start, body.to_cursor());
        let written = body.fill(fake, &mut buffer).unwrap();
        if written == 0 {
            assert!(body.is_done());
            return String::from_utf8(text).unwrap();
        }
        text.extend_from_slice(&buffer[..written]);
    }
    panic!("the body never ended");
}

fn get(fake: &mut Fake, target: &str) -> (u16, serde_json::Value) {
    let (status, reply, text) = run(
        fake,
        &request(Method::Get, target, Role::ReadOnly, b""),
        BUFFER,
    );
    let json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{error}: {text}"));
    if status >= 400 {
        assert_eq!(reply.content_type, PROBLEM_JSON);
    }
    (status, json)
}

#[test]
fn every_read_is_valid_json_in_any_chunk_size() {
    let mut fake = Fake::new().with_entries(40);
    for target in [
        "/v1/system",
        "/v1/ports",
        "/v1/ports/port1",
        "/v1/vlans",
        "/v1/teaming",
        "/v1/fdb",
        "/v1/firmware",
        "/v1/logs",
        "/v1/config",
    ] {
        let whole = run(
            &mut fake,
            &request(Method::Get, target, Role::ReadOnly, b""),
            BUFFER,
        );
        assert_eq!(whole.0, 200, "{target}");
        serde_json::from_str::<serde_json::Value>(&whole.2)
            .unwrap_or_else(|error| panic!("{target}: {error}: {}", whole.2));
        for chunk in [body::MIN_FILL, 2000] {
            let pieces = run(
                &mut fake,
                &request(Method::Get, target, Role::ReadOnly, b""),
                chunk,
            );
            assert_eq!(pieces.2, whole.2, "{target} in {chunk}-byte chunks");
        }
    }
}

#[test]
fn a_buffer_below_one_piece_is_refused_not_cut() {
    let fake = Fake::new();
    let mut body = Body::ports();
    let mut buffer = [0u8; 8];
    assert_eq!(body.fill(&fake, &mut buffer), Err(body::BufferTooSmall));
    assert_eq!(body, Body::ports(), "the cursor did not move");
}

#[test]
fn ports_show_config_state_and_counters() {
    let mut fake = Fake::new();
    let (status, json) = get(&mut fake, "/v1/ports");
    assert_eq!(status, 200);
    let ports = json["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 3);
    let uplink = &ports[0];
    assert_eq!(uplink["name"], "port1");
    assert_eq!(uplink["role"], "uplink");
    assert_eq!(uplink["link"], "up");
    assert_eq!(uplink["vlan_mode"], "trunk");
    assert_eq!(uplink["native_vlan"], 1);
    assert_eq!(uplink["trunk_vlans"], "10-12,20,4000");
    assert_eq!(uplink["pinned_uplink"], serde_json::Value::Null);
    assert_eq!(uplink["counters"]["in_octets"], 1000);
    assert_eq!(uplink["counters"]["out_pkts"], 20);
    assert_eq!(uplink["counters"]["in_discards"], 3);
    assert_eq!(uplink["counters"]["last_clear_ms"], serde_json::Value::Null);
    let host = &ports[1];
    assert_eq!(host["vlan_mode"], "access");
    assert_eq!(host["access_vlan"], 10);
    assert_eq!(host["security"]["mac"], "52:54:00:00:00:02");
    assert_eq!(host["security"]["forged_transmits"], "reject");
    assert_eq!(host["pinned_uplink"], "port1");
    assert_eq!(host["link"], "down");
    assert_eq!(ports[2]["link"], "not-present");
    let (status, single) = get(&mut fake, "/v1/ports/port2");
    assert_eq!(status, 200);
    assert_eq!(&single, host);
    assert_eq!(get(&mut fake, "/v1/ports/port4").0, 404);
    assert_eq!(get(&mut fake, "/v1/ports/mgmt0").0, 404);
}

#[test]
fn a_trunk_with_every_other_vlan_streams_in_small_pieces() {
    let mut fake = Fake::new();
    let mut config = fake.config.clone().unwrap();
    let mut allowed = dpu_switch::VlanSet::new();
    for id in (1..=4094).step_by(2) {
        allowed.insert(id);
    }
    config.port_mut(port(1)).vlan = dpu_switch::VlanMode::Trunk {
        allowed,
        native: None,
    };
    config.ports[1].vlan = dpu_switch::VlanMode::Trunk {
        allowed,
        native: None,
    };
    config.ports[1].mac = None;
    config.ports[1].role = dpu_switch::PortRole::Uplink;
    fake.config = Some(config);
    let (status, _, text) = run(
        &mut fake,
        &request(Method::Get, "/v1/ports/port1", Role::ReadOnly, b""),
        body::MIN_FILL,
    );
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let list = json["trunk_vlans"].as_str().unwrap();
    assert_eq!(list.split(',').count(), 2047);
    assert!(list.starts_with("1,3,5,") && list.ends_with(",4093"));
    let vlans = get(&mut fake, "/v1/vlans").1;
    assert_eq!(vlans["vlans"].as_array().unwrap().len(), 2047);
}

#[test]
fn vlans_and_teaming() {
    let mut fake = Fake::new();
    let (_, json) = get(&mut fake, "/v1/vlans");
    let vlans = json["vlans"].as_array().unwrap();
    let ids: Vec<u64> = vlans
        .iter()
        .map(|v| v["vlan_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 10, 11, 12, 20, 4000]);
    // VLAN 1: port1 native (untagged) and port3 access.
    assert_eq!(
        vlans[0]["ports"],
        serde_json::json!([{"name":"port1","tagged":false},{"name":"port3","tagged":false}])
    );
    assert_eq!(
        vlans[1]["ports"],
        serde_json::json!([{"name":"port1","tagged":true},{"name":"port2","tagged":false}])
    );
    let (_, teaming) = get(&mut fake, "/v1/teaming");
    assert_eq!(teaming["effective_active"], serde_json::json!(["port1"]));
    assert_eq!(teaming["carrying"], serde_json::json!(["port1"]));
    assert_eq!(
        teaming["pinning"],
        serde_json::json!([{"port":"port2","uplink":"port1"},{"port":"port3","uplink":"port1"}])
    );
}

#[test]
fn fdb_pages_and_filters() {
    let mut fake = Fake::new().with_entries(250);
    let mut seen = Vec::new();
    let mut token = String::new();
    for page in 0..3 {
        let target = if token.is_empty() {
            "/v1/fdb?page_size=100".to_string()
        } else {
            std::format!("/v1/fdb?page_size=100&page_token={token}")
        };
        let (status, json) = get(&mut fake, &target);
        assert_eq!(status, 200);
        assert_eq!(json["total_entries"], 250);
        let entries = json["entries"].as_array().unwrap();
        assert_eq!(
            entries.len(),
            if page < 2 { 100 } else { 50 },
            "page {page}"
        );
        seen.extend(
            entries
                .iter()
                .map(|e| e["mac"].as_str().unwrap().to_string()),
        );
        match json["next_page_token"].as_str() {
            Some(next) => token = next.to_string(),
            None => {
                assert_eq!(page, 2);
                token.clear();
            }
        }
    }
    assert_eq!(seen.len(), 250);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 250, "no entry listed twice");
    // Exactly a page's worth left: no token pointing at nothing.
    let (_, json) = get(&mut fake, "/v1/fdb?page_size=50&page_token=200");
    assert_eq!(json["entries"].as_array().unwrap().len(), 50);
    assert_eq!(json["next_page_token"], serde_json::Value::Null);
    let (_, json) = get(
        &mut fake,
        "/v1/fdb?vlan=10&port=port2&type=static&page_size=1000",
    );
    for entry in json["entries"].as_array().unwrap() {
        assert_eq!(entry["vlan"], 10);
        assert_eq!(entry["port"], "port2");
        assert_eq!(entry["type"], "static");
        assert_eq!(entry["age_s"], serde_json::Value::Null);
    }
    assert_eq!(json["entries"].as_array().unwrap().len(), 9);
    let (_, json) = get(&mut fake, "/v1/fdb?type=learned&page_size=1");
    assert_eq!(json["entries"][0]["age_s"], 10);
    for bad in [
        "/v1/fdb?vlan=0",
        "/v1/fdb?vlan=x",
        "/v1/fdb?port=9",
        "/v1/fdb?type=dynamic",
        "/v1/fdb?page_size=0",
        "/v1/fdb?page_size=1001",
        "/v1/fdb?page_token=-1",
    ] {
        let (status, json) = get(&mut fake, bad);
        assert_eq!(status, 400, "{bad}");
        assert_eq!(json["code"], "invalid_query");
    }
}

#[test]
fn fdb_add_delete_flush() {
    let mut fake = Fake::new().with_entries(10);
    let body = br#"{"mac":"52:54:00:aa:bb:cc","vlan":10,"port":"port2"}"#;
    let (status, reply, text) = run(
        &mut fake,
        &request(Method::Post, "/v1/fdb", Role::Operator, body),
        BUFFER,
    );
    assert_eq!(status, 201, "{text}");
    assert_eq!(
        reply.location.as_deref(),
        Some("/v1/fdb/10/52:54:00:aa:bb:cc")
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["type"], "static");
    for (bad, field) in [
        (
            &br#"{"mac":"01:00:00:00:00:01","vlan":10,"port":"port2"}"#[..],
            "mac",
        ),
        (
            br#"{"mac":"52:54:00:aa:bb:cc","vlan":5000,"port":"port2"}"#,
            "vlan",
        ),
        (
            br#"{"mac":"52:54:00:aa:bb:cc","vlan":20,"port":"port2"}"#,
            "vlan",
        ),
        (
            br#"{"mac":"52:54:00:aa:bb:cc","vlan":10,"port":"port9"}"#,
            "port",
        ),
    ] {
        let (status, _, text) = run(
            &mut fake,
            &request(Method::Post, "/v1/fdb", Role::Operator, bad),
            BUFFER,
        );
        assert_eq!(status, 400, "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["errors"][0]["field"], field, "{text}");
    }
    let (status, _, text) = run(
        &mut fake,
        &request(Method::Post, "/v1/fdb", Role::Operator, b"{\"mac\":1}"),
        BUFFER,
    );
    assert_eq!(status, 400);
    assert!(text.contains("invalid_json"), "{text}");
    let delete = |fake: &mut Fake| {
        run(
            fake,
            &request(
                Method::Delete,
                "/v1/fdb/10/52-54-00-aa-bb-cc",
                Role::Operator,
                b"",
            ),
            BUFFER,
        )
        .0
    };
    assert_eq!(delete(&mut fake), 204);
    assert_eq!(delete(&mut fake), 404);
    let (status, _, text) = run(
        &mut fake,
        &request(Method::Post, "/v1/fdb:flush", Role::Operator, b""),
        BUFFER,
    );
    assert_eq!(status, 200);
    assert_eq!(text, "{\"flushed\":8}");
    assert_eq!(fake.entries.len(), 2, "static entries stay");
    let (status, _, text) = run(
        &mut fake,
        &request(
            Method::Post,
            "/v1/fdb:flush",
            Role::Operator,
            b"{\"port\":\"port7\"}",
        ),
        BUFFER,
    );
    assert_eq!(
        (status, text.as_str()),
        (200, "{\"flushed\":0}"),
        "a port this DPU lacks learned nothing (schemathesis: a schema-valid body is accepted)"
    );
    for body in [&b"{\"port\":\"port8\"}"[..], b"{\"port\":\"eth0\"}"] {
        assert_eq!(
            run(
                &mut fake,
                &request(Method::Post, "/v1/fdb:flush", Role::Operator, body),
                BUFFER
            )
            .0,
            400
        );
    }
    let (status, _, text) = run(
        &mut fake,
        &request(
            Method::Post,
            "/v1/fdb:flush",
            Role::Operator,
            b"{\"port\":null}",
        ),
        BUFFER,
    );
    assert_eq!(status, 400, "null is no port name: {text}");
    // Whitespace alone is no JSON (an empty body is no body).
    assert_eq!(
        run(
            &mut fake,
            &request(Method::Post, "/v1/fdb:flush", Role::Operator, b"\r"),
            BUFFER
        )
        .0,
        400
    );
}

#[test]
fn members_may_be_left_out_but_not_sent_as_null() {
    let mut fake = Fake::new();
    let before = fake.config.clone();
    for body in [
        &br#"{"access_vlan":null}"#[..],
        br#"{"native_vlan":null,"vlan_mode":"trunk"}"#,
        br#"{"role":null}"#,
        br#"{"security":null}"#,
        br#"{"security":{"mac":null}}"#,
        br#"{"mac_limit":null}"#,
    ] {
        let (status, _, text) = run(
            &mut fake,
            &request(Method::Patch, "/v1/ports/port2", Role::Operator, body),
            BUFFER,
        );
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(body));
        assert!(text.contains("invalid_json"), "{text}");
    }
    assert_eq!(fake.config, before);
    let reboot = request(
        Method::Post,
        "/v1/system:reboot",
        Role::Operator,
        br#"{"type":null}"#,
    );
    assert_eq!(run(&mut fake, &reboot, BUFFER).0, 400);
    assert_eq!(fake.rebooted, None);
}

#[test]
fn a_trunk_with_only_its_native_vlan_lists_none() {
    let mut fake = Fake::new();
    let (status, _, text) = run(
        &mut fake,
        &request(
            Method::Patch,
            "/v1/ports/port3",
            Role::Operator,
            br#"{"vlan_mode":"trunk"}"#,
        ),
        BUFFER,
    );
    assert_eq!(status, 200, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["trunk_vlans"], "none", "{text}");
    assert_eq!(json["native_vlan"], 1, "{text}");
}

#[test]
fn patch_port_changes_only_what_it_names_and_refuses_bad_values() {
    let mut fake = Fake::new();
    let patch = br#"{"vlan_mode":"trunk","trunk_vlans":"30-31","native_vlan":10,"security":{"mac":"none","promiscuous":"accept"},"mac_limit":100}"#;
    let (status, _, text) = run(
        &mut fake,
        &request(Method::Patch, "/v1/ports/port2", Role::Operator, patch),
        BUFFER,
    );
    assert_eq!(status, 200, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["vlan_mode"], "trunk");
    assert_eq!(json["trunk_vlans"], "30-31");
    assert_eq!(json["native_vlan"], 10);
    assert_eq!(json["security"]["mac"], serde_json::Value::Null);
    assert_eq!(json["security"]["promiscuous"], "accept");
    assert_eq!(json["security"]["mac_changes"], "reject");
    assert_eq!(json["mac_limit"], 100);
    let before = fake.config.clone();
    for (bad, field) in [
        (
            &br#"{"access_vlan":5000,"vlan_mode":"access"}"#[..],
            "access_vlan",
        ),
        (
            br#"{"vlan_mode":"trunk","native_vlan":4095}"#,
            "native_vlan",
        ),
        (br#"{"vlan_mode":"hybrid"}"#, "vlan_mode"),
        (br#"{"trunk_vlans":"1-9999"}"#, "trunk_vlans"),
        (br#"{"role":"spine"}"#, "role"),
        (br#"{"admin_state":"down"}"#, "admin_state"),
        (br#"{"security":{"mac":"zz"}}"#, "security.mac"),
        (br#"{"mac_limit_policy":"maybe"}"#, "mac_limit_policy"),
    ] {
        let (status, _, text) = run(
            &mut fake,
            &request(Method::Patch, "/v1/ports/port2", Role::Operator, bad),
            BUFFER,
        );
        assert_eq!(status, 400, "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["code"], "invalid_field");
        assert_eq!(json["errors"][0]["field"], field, "{text}");
        assert_eq!(fake.config, before, "a bad patch changes nothing");
    }
    let (status, _, text) = run(
        &mut fake,
        &request(
            Method::Patch,
            "/v1/ports/port2",
            Role::Operator,
            b"{\"colour\":1}",
        ),
        BUFFER,
    );
    assert_eq!(status, 400, "unknown fields are refused: {text}");
    let mut wrong_type = request(Method::Patch, "/v1/ports/port2", Role::Operator, b"{}");
    wrong_type.content_type = Some("text/plain");
    assert_eq!(run(&mut fake, &wrong_type, BUFFER).0, 415);
}

#[test]
fn roles_and_methods() {
    let mut fake = Fake::new();
    let patch = request(Method::Patch, "/v1/ports/port1", Role::ReadOnly, b"{}");
    let (status, _, text) = run(&mut fake, &patch, BUFFER);
    assert_eq!(status, 403);
    assert!(text.contains("needs the operator role"), "{text}");
    let put = request(Method::Put, "/v1/config", Role::Operator, b"{}");
    assert_eq!(run(&mut fake, &put, BUFFER).0, 403);
    let put = request(Method::Put, "/v1/config", Role::Administrator, b"{}");
    assert_eq!(run(&mut fake, &put, BUFFER).0, 200);
    let (status, reply, text) = run(
        &mut fake,
        &request(Method::Delete, "/v1/ports/port1", Role::Administrator, b""),
        BUFFER,
    );
    assert_eq!(status, 405);
    assert_eq!(reply.allow, Some("GET, HEAD, PATCH"));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["status"], 405);
    assert_eq!(json["title"], "Method Not Allowed");
    assert_eq!(json["code"], "method_not_allowed");
    assert_eq!(get(&mut fake, "/v1/nothing").0, 404);
    let (status, reply, text) = run(
        &mut fake,
        &request(Method::Get, "/v1/openapi", Role::ReadOnly, b""),
        BUFFER,
    );
    assert_eq!((status, reply.content_type), (200, YAML));
    assert!(text.contains("\nopenapi: "), "{text}");
    assert_eq!(get(&mut fake, "/v1/tasks/1").0, 404);
    // Reads work for every role.
    for role in [Role::ReadOnly, Role::Operator, Role::Administrator] {
        assert_eq!(
            run(
                &mut fake,
                &request(Method::Get, "/metrics", role, b""),
                BUFFER
            )
            .0,
            200
        );
    }
}

#[test]
fn config_put_lists_field_errors_and_changes_nothing() {
    let mut fake = Fake::new();
    let bad = request(
        Method::Put,
        "/v1/config",
        Role::Administrator,
        b"{\"bad\":1}",
    );
    let (status, _, text) = run(&mut fake, &bad, BUFFER);
    assert_eq!(status, 400);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["errors"][0]["field"], "switch.ports[1].vlan");
    assert_eq!(json["errors"][1]["reason"], "expected seconds");
    assert!(json["detail"].as_str().unwrap().contains("2 field errors"));
    assert_eq!(fake.stored_config, "{\"switch\":{}}");
    let good = request(
        Method::Put,
        "/v1/config",
        Role::Administrator,
        b"{\"switch\":1}",
    );
    let (status, _, text) = run(&mut fake, &good, BUFFER);
    assert_eq!((status, text.as_str()), (200, "{\"switch\":1}"));
    // A config longer than a fill still arrives whole through the window.
    fake.stored_config = std::format!("{{\"k\":\"{}\"}}", "x".repeat(9000));
    let (_, _, text) = run(
        &mut fake,
        &request(Method::Get, "/v1/config", Role::ReadOnly, b""),
        body::MIN_FILL,
    );
    assert_eq!(text, fake.stored_config);
}

#[test]
fn system_firmware_and_actions() {
    let mut fake = Fake::new();
    let (_, system) = get(&mut fake, "/v1/system");
    assert_eq!(system["version"], "0.1.0");
    assert_eq!(system["boot"]["bank"], "A");
    assert_eq!(system["memory"]["total_bytes"], 128 << 20);
    let (_, firmware) = get(&mut fake, "/v1/firmware");
    assert_eq!(firmware["banks"][0]["active"], true);
    assert_eq!(
        firmware["banks"][1]["failure_reason"],
        "signature does not verify"
    );
    assert_eq!(firmware["banks"][0]["sha256"].as_str().unwrap().len(), 64);
    fake.banks = false;
    let (_, firmware) = get(&mut fake, "/v1/firmware");
    assert_eq!(firmware["banks"], serde_json::json!([]));
    let reboot = request(
        Method::Post,
        "/v1/system:reboot",
        Role::Operator,
        br#"{"type":"ForceRestart"}"#,
    );
    assert_eq!(run(&mut fake, &reboot, BUFFER).0, 202);
    assert_eq!(fake.rebooted, Some(RebootKind::Force));
    let reboot = request(
        Method::Post,
        "/v1/system:reboot",
        Role::Operator,
        br#"{"type":"Off"}"#,
    );
    assert_eq!(run(&mut fake, &reboot, BUFFER).0, 400);
    let clear = request(
        Method::Post,
        "/v1/ports/port1:clear-counters",
        Role::Operator,
        b"",
    );
    assert_eq!(run(&mut fake, &clear, BUFFER).0, 204);
    assert_eq!(fake.cleared, [port(1)]);
    let rollback = request(Method::Post, "/v1/firmware:rollback", Role::Operator, b"");
    assert_eq!(run(&mut fake, &rollback, BUFFER).0, 202);
    fake.rollback = Err(RollbackRefusal::Forbidden);
    let (status, _, text) = run(&mut fake, &rollback, BUFFER);
    assert_eq!(status, 409);
    assert!(text.contains("rollback_forbidden"));
}

#[test]
fn unstage_names_the_bank_withdrawn_or_says_why_not() {
    let mut fake = Fake::new();
    let unstage = request(Method::Post, "/v1/firmware:unstage", Role::Operator, b"");
    let (status, _, text) = run(&mut fake, &unstage, BUFFER);
    assert_eq!(status, 200, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["unstaged"], true);
    assert_eq!(json["slot"], "B");
    assert_eq!(json["version"], "0.2.0+2");
    for (refusal, status, code) in [
        (UnstageRefusal::NothingStaged, 409, "nothing_staged"),
        (UnstageRefusal::RunningTrial, 409, "not_committed"),
        (UnstageRefusal::NoBanks, 409, "no_boot_banks"),
        (UnstageRefusal::Flash, 507, "storage_failed"),
    ] {
        fake.unstage = Err(refusal);
        let (seen, _, text) = run(&mut fake, &unstage, BUFFER);
        assert_eq!(seen, status, "{text}");
        assert!(text.contains(code), "{text}");
    }
    let read_only = request(Method::Post, "/v1/firmware:unstage", Role::ReadOnly, b"");
    assert_eq!(run(&mut fake, &read_only, BUFFER).0, 403);
    let get = request(Method::Get, "/v1/firmware:unstage", Role::Operator, b"");
    assert_eq!(run(&mut fake, &get, BUFFER).0, 405);
}

#[test]
fn logs_page_after_a_sequence_number() {
    let mut fake = Fake::new();
    let (_, json) = get(&mut fake, "/v1/logs?after_seq=2&limit=2");
    let lines = json["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["seq"], 3);
    assert_eq!(lines[1]["text"], "line 4 \"q\"");
    assert_eq!(json["last_seq"], 4);
    let (_, json) = get(&mut fake, "/v1/logs?after_seq=5");
    assert_eq!(json["lines"], serde_json::json!([]));
    assert_eq!(json["last_seq"], 5);
    assert_eq!(get(&mut fake, "/v1/logs?limit=0").0, 400);
    assert_eq!(get(&mut fake, "/v1/logs?after_seq=-1").0, 400);
    assert_eq!(
        get(&mut fake, "/v1/logs?after_seq=9223372036854775807").0,
        200
    );
    assert_eq!(
        get(&mut fake, "/v1/logs?after_seq=9223372036854775808").0,
        400,
        "above the document's int64 maximum"
    );
}

#[test]
fn metrics_follow_the_text_format() {
    let mut fake = Fake::new();
    let (status, reply, text) = run(
        &mut fake,
        &request(Method::Get, "/metrics", Role::ReadOnly, b""),
        body::MIN_FILL,
    );
    assert_eq!(status, 200);
    assert_eq!(reply.content_type, metrics::CONTENT_TYPE);
    assert!(text.ends_with('\n'));
    let mut typed: Vec<String> = Vec::new();
    let mut sampled: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(!typed.contains(&name), "one TYPE per name: {name}");
            assert!(!sampled.contains(&name), "TYPE before samples: {name}");
            typed.push(name);
        } else if line.starts_with("# HELP ") {
        } else {
            let name = line.split(['{', ' ']).next().unwrap().to_string();
            assert_eq!(
                typed.last(),
                Some(&name),
                "samples of {name} grouped after TYPE"
            );
            if !sampled.contains(&name) {
                sampled.push(name);
            }
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
    for expected in [
        "dpu_port_receive_bytes_total{port=\"port1\"} 1000",
        "dpu_port_up{port=\"port1\"} 1",
        "dpu_port_up{port=\"port3\"} 0",
        "dpu_switch_drops_total{reason=\"runt\"} 7",
        "dpu_fdb_entries 0",
        "dpu_firmware_info{bank=\"B\",version=\"0.1.0+1\",state=\"bad\",active=\"false\"} 1",
        "dpu_mgmt_http_responses_total{class=\"2xx\"} 4",
        "dpu_loop_longest_pass_seconds 0.001234",
        "dpu_build_info{version=\"0.1.0\",git=\"abc1234\",profile=\"release\"} 1",
    ] {
        assert!(
            text.lines().any(|line| line == expected),
            "{expected}\n{text}"
        );
    }
    for name in &typed {
        assert!(name.starts_with("dpu_"), "{name}");
    }
    // No data ports: the switch families are left out, the rest stays valid.
    fake.config = None;
    let (_, _, text) = run(
        &mut fake,
        &request(Method::Get, "/metrics", Role::ReadOnly, b""),
        BUFFER,
    );
    assert!(!text.contains("dpu_port_"));
    assert!(text.contains("dpu_loop_passes_total 99"));
}

fn upload_request(length: Option<u64>, content_type: Option<&str>) -> Request<'_> {
    Request {
        method: Method::Post,
        path: "/v1/firmware:upload",
        query: "",
        content_type,
        content_length: length,
        role: Role::Operator,
        body: b"",
    }
}

#[test]
fn upload_refusals() {
    let mut fake = Fake::new();
    let octets = Some("application/octet-stream");
    for (request, status, code) in [
        (
            upload_request(Some(10), Some("application/json")),
            415,
            "unsupported_media_type",
        ),
        (
            upload_request(Some(10), None),
            415,
            "unsupported_media_type",
        ),
        (upload_request(None, octets), 411, "length_required"),
        (upload_request(Some(0), octets), 400, "invalid_field"),
        (
            upload_request(Some(2 << 20), octets),
            413,
            "content_too_large",
        ),
        (
            upload_request(Some(1 << 40), octets),
            413,
            "content_too_large",
        ),
    ] {
        let (got, _, text) = run(&mut fake, &request, BUFFER);
        assert_eq!(got, status, "{text}");
        assert!(text.contains(code), "{text}");
    }
    let mut read_only = upload_request(Some(10), octets);
    read_only.role = Role::ReadOnly;
    assert_eq!(run(&mut fake, &read_only, BUFFER).0, 403);
    let mut buffer = [0u8; BUFFER];
    let started = handle(&mut fake, &upload_request(Some(10), octets), &mut buffer);
    assert_eq!(
        started,
        Outcome::Upload {
            task: 7,
            length: 10
        }
    );
    let (status, _, text) = run(&mut fake, &upload_request(Some(10), octets), BUFFER);
    assert_eq!(status, 409);
    assert!(text.contains("install_in_progress"));
}

#[test]
fn upload_streams_with_backpressure_then_202_with_the_task() {
    let mut fake = Fake::new();
    fake.accept_per_feed = 300;
    let mut buffer = [0u8; BUFFER];
    let length = 1000u32;
    let Outcome::Upload { task, .. } = handle(
        &mut fake,
        &upload_request(Some(u64::from(length)), Some("application/octet-stream")),
        &mut buffer,
    ) else {
        panic!("no upload");
    };
    let image = std::vec![0x5a; length as usize];
    let mut offset = 0;
    let mut feeds = 0;
    while offset < image.len() {
        offset += upload_chunk(&mut fake, task, &image[offset..], &mut buffer).unwrap();
        feeds += 1;
    }
    assert_eq!(feeds, 4, "300 bytes per feed");
    let reply = upload_finish(&mut fake, task);
    assert_eq!(fake.upload_ended, Some(true));
    assert_eq!(reply.status, 202);
    assert_eq!(reply.location.as_deref(), Some("/v1/tasks/7"));
    let Content::Stream(mut body) = reply.content else {
        panic!("no task body");
    };
    let text = drain(&fake, &mut body, BUFFER);
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["id"], "7");
    assert_eq!(json["percent"], 100);
    assert_eq!(json["state"], "running");
    let (status, json) = get(&mut fake, "/v1/tasks/7");
    assert_eq!(status, 200);
    assert_eq!(json["received_bytes"], 1000);
}

#[test]
fn an_upload_failing_midway_answers_with_the_reason() {
    let mut fake = Fake::new();
    fake.fail_at = Some(100);
    fake.accept_per_feed = 100;
    let mut buffer = [0u8; BUFFER];
    let Outcome::Upload { task, .. } = handle(
        &mut fake,
        &upload_request(Some(1000), Some("application/octet-stream")),
        &mut buffer,
    ) else {
        panic!("no upload");
    };
    assert_eq!(
        upload_chunk(&mut fake, task, &[0; 500], &mut buffer),
        Ok(100)
    );
    let Err(reply) = upload_chunk(&mut fake, task, &[0; 500], &mut buffer) else {
        panic!("the failure was not reported");
    };
    assert_eq!(reply.status, 400);
    let Content::Ready(length) = reply.content else {
        panic!("no problem body");
    };
    let text = core::str::from_utf8(&buffer[..length]).unwrap();
    assert!(
        text.contains("upload_failed") && text.contains("bad image header"),
        "{text}"
    );
    upload_abort(&mut fake);
    assert_eq!(fake.upload_ended, Some(false));
}

/// End to end through the real server: the `Api` adapter is made afresh for every call, as
/// the kernel makes it once per loop pass.
mod through_the_server {
    use super::*;
    use crate::api::serve::Api;
    use crate::{Credentials, HttpServer};
    use core::net::{IpAddr, Ipv4Addr};
    use std::boxed::Box;

    struct Tokens;

    impl Credentials for Tokens {
        fn verify(&self, presented: &[u8]) -> Option<Role> {
            match presented {
                b"op" => Some(Role::Operator),
                b"ro" => Some(Role::ReadOnly),
                _ => None,
            }
        }
    }

    /// Sends `input` (offered `chunk` bytes at a time), returns (status, headers, body) of
    /// each response and how many receive calls it took.
    fn exchange(
        fake: &mut Fake,
        input: &[u8],
        chunk: usize,
    ) -> (Vec<(u16, String, Vec<u8>)>, usize) {
        let mut server: Box<HttpServer<'static, 1>> = Box::default();
        server.set_clock(1000);
        server.open(0, Some(IpAddr::V4(Ipv4Addr::new(10, 0, 2, 2))));
        let mut pending = input;
        let mut stream = Vec::new();
        let mut window = [0u8; 1460];
        let mut calls = 0;
        for _ in 0..100_000 {
            let offer = &pending[..pending.len().min(chunk)];
            if !offer.is_empty() {
                calls += 1;
                let taken = server.receive(0, offer, &mut Api::new(fake), &Tokens);
                pending = &pending[taken..];
            }
            let mut closed = false;
            loop {
                let outcome = server.send(0, &mut window, &mut Api::new(fake), &Tokens);
                stream.extend_from_slice(&window[..outcome.written]);
                if outcome.close {
                    closed = true;
                    break;
                }
                if outcome.written == 0 {
                    break;
                }
            }
            if closed || pending.is_empty() {
                break;
            }
        }
        (split(&stream), calls)
    }

    fn split(mut stream: &[u8]) -> Vec<(u16, String, Vec<u8>)> {
        let mut responses = Vec::new();
        while !stream.is_empty() {
            let end = stream.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let head = String::from_utf8(stream[..end].to_vec()).unwrap();
            let status: u16 = head[9..12].parse().unwrap();
            let lower = head.to_ascii_lowercase();
            stream = &stream[end..];
            let body = if lower.contains("transfer-encoding: chunked") {
                let mut body = Vec::new();
                loop {
                    let line = stream.windows(2).position(|w| w == b"\r\n").unwrap();
                    let size =
                        usize::from_str_radix(core::str::from_utf8(&stream[..line]).unwrap(), 16)
                            .unwrap();
                    body.extend_from_slice(&stream[line + 2..line + 2 + size]);
                    stream = &stream[line + 4 + size..];
                    if size == 0 {
                        break;
                    }
                }
                body
            } else {
                let length = lower
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let body = stream[..length].to_vec();
                stream = &stream[length..];
                body
            };
            responses.push((status, head, body));
        }
        responses
    }

    #[test]
    fn reads_stream_in_chunks_and_writes_apply() {
        let mut fake = Fake::new().with_entries(300);
        let input = b"GET /v1/fdb?page_size=1000 HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer ro\r\n\r\n\
GET /metrics HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer ro\r\n\r\n\
PATCH /v1/ports/port2 HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer op\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n{\"access_vlan\":300}\
DELETE /v1/ports/port2 HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer op\r\n\r\n";
        let (responses, _) = exchange(&mut fake, input, 4096);
        assert_eq!(responses.len(), 4);
        let (status, head, body) = &responses[0];
        assert_eq!(*status, 200);
        assert!(
            head.to_ascii_lowercase()
                .contains("transfer-encoding: chunked")
        );
        let json: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(json["entries"].as_array().unwrap().len(), 300);
        assert!(body.len() > 20_000, "several chunks");
        let (status, head, body) = &responses[1];
        assert_eq!(*status, 200);
        assert!(head.contains("text/plain; version=0.0.4"));
        assert!(
            core::str::from_utf8(body)
                .unwrap()
                .contains("dpu_loop_passes_total 99\n")
        );
        assert_eq!(responses[2].0, 200);
        let port: serde_json::Value = serde_json::from_slice(&responses[2].2).unwrap();
        assert_eq!(port["access_vlan"], 300);
        assert_eq!(responses[3].0, 405);
        assert!(responses[3].1.contains("Allow: GET, HEAD, PATCH"));
    }

    fn upload(length: usize, content_type: &str) -> Vec<u8> {
        let mut request = std::format!(
            "POST /v1/firmware:upload HTTP/1.1\r\nHost: dpu\r\nAuthorization: Bearer op\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
        )
        .into_bytes();
        request.extend(std::iter::repeat_n(0x5a, length));
        request
    }

    #[test]
    fn an_upload_streams_with_backpressure_and_answers_202() {
        let mut fake = Fake::new();
        fake.accept_per_feed = 700;
        let (responses, calls) =
            exchange(&mut fake, &upload(20_000, "application/octet-stream"), 1460);
        assert_eq!(responses.len(), 1);
        let (status, head, body) = &responses[0];
        assert_eq!(*status, 202, "{head}");
        assert!(head.contains("Location: /v1/tasks/7"), "{head}");
        let task: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(task["received_bytes"], 20_000);
        assert_eq!(fake.upload_ended, Some(true));
        assert_eq!(fake.api_upload, None);
        assert!(
            calls > 20_000 / 1460,
            "backpressure made the server offer bytes again"
        );
    }

    #[test]
    fn upload_refusals_and_a_failure_midway() {
        let mut fake = Fake::new();
        let (responses, _) = exchange(&mut fake, &upload(100, "application/json"), 4096);
        assert_eq!(responses[0].0, 415);
        assert_eq!(fake.upload, None, "nothing started");
        let (responses, _) = exchange(
            &mut fake,
            &upload(2 << 20, "application/octet-stream"),
            4096,
        );
        assert_eq!(responses[0].0, 413);
        fake.fail_at = Some(1000);
        fake.accept_per_feed = 500;
        let (responses, _) = exchange(&mut fake, &upload(5000, "application/octet-stream"), 1460);
        let (status, head, body) = &responses[0];
        assert_eq!(*status, 400, "{head}");
        assert!(
            core::str::from_utf8(body)
                .unwrap()
                .contains("upload_failed")
        );
        assert_eq!(fake.api_upload, None);
        // A second upload while the first one's session is still held: one at a time.
        let (responses, _) = exchange(&mut fake, &upload(100, "application/octet-stream"), 4096);
        assert_eq!(responses[0].0, 409);
    }

    #[test]
    fn a_body_cut_short_aborts_the_upload() {
        let mut fake = Fake::new();
        let mut request = upload(5000, "application/octet-stream");
        request.truncate(request.len() - 3000);
        // The connection stays open, waiting: the kernel's deadline or a close calls abort.
        let mut server: Box<HttpServer<'static, 1>> = Box::default();
        server.set_clock(0);
        server.open(0, None);
        let taken = server.receive(0, &request, &mut Api::new(&mut fake), &Tokens);
        assert_eq!(taken, request.len());
        assert!(fake.api_upload.is_some());
        server.close(0, &mut Api::new(&mut fake));
        assert_eq!(fake.api_upload, None);
        assert_eq!(fake.upload_ended, Some(false));
    }
}

mod fuzz;
mod ha_requests;
