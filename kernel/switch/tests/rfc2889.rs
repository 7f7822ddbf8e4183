//! RFC 2889-style behaviour suite for the switch, on a virtual clock.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions"
)]

mod common;

use common::{frame, mac, port, secs, vlan, with_big_stack};
use dpu_switch::frame::apply_edit;
use dpu_switch::table::AGE_SLOTS_PER_CALL;
use dpu_switch::{
    Decision, DropReason, Edit, EntryKind, LimitPolicy, MAC_TABLE_CAPACITY, MacAddress,
    Notification, Policy, PortRole, PortSet, Switch, SwitchConfig, Tick, VlanMode, VlanSet,
};

/// A small table (1024 slots, 512 entries) keeps most tests on an ordinary test stack.
type Small = Switch<1024>;

fn small(config: &SwitchConfig) -> Box<Small> {
    let mut switch = Box::new(Small::new());
    switch.apply(config).unwrap();
    switch
}

fn ports(list: &[u8]) -> PortSet {
    let mut set = PortSet::EMPTY;
    for n in list {
        set.insert(port(*n));
    }
    set
}

fn trunk(vlans: &[u16], native: Option<u16>) -> VlanMode {
    let mut allowed = VlanSet::new();
    for v in vlans {
        allowed.insert(*v);
    }
    VlanMode::Trunk { allowed, native }
}

fn drain(switch: &mut Small) -> Vec<Notification> {
    std::iter::from_fn(|| switch.next_notification()).collect()
}

#[test]
fn address_caching_capacity() {
    with_big_stack(|| {
        let mut switch: Box<Switch> = Box::new(Switch::new());
        let mut config = SwitchConfig::new(3);
        // The per-port limit (4096 by default) would stop the learner first.
        config.port_mut(port(1)).mac_limit = MAC_TABLE_CAPACITY as u32;
        switch.apply(&config).unwrap();
        let learner = mac(0x00ff_ffff);
        let now = secs(1);
        // Learn the capacity's worth of addresses on port1 (to a known MAC on port2: no floods).
        switch.process(port(2), &frame(MacAddress::BROADCAST, learner, None), now);
        let count = MAC_TABLE_CAPACITY as u32 - 1;
        for n in 0..count {
            let decision = switch.process(port(1), &frame(learner, mac(n), None), now);
            assert_eq!(decision.ports(), ports(&[2]), "{n} {decision}");
        }
        assert_eq!(switch.mac_count(), MAC_TABLE_CAPACITY);
        assert_eq!(switch.counters().table_full, 0);
        // Send to every one of them from port2: none may flood to port3.
        for n in 0..count {
            let decision = switch.process(port(2), &frame(mac(n), learner, None), now);
            assert_eq!(decision.ports(), ports(&[1]), "address {n}");
        }
        assert_eq!(switch.port_counters(port(3)).tx_packets, 1);
        assert_eq!(switch.port_counters(port(2)).unknown_unicast, 0);
        // One more address does not fit: it is counted and frames to it flood.
        switch.process(port(1), &frame(learner, mac(count), None), now);
        assert_eq!(switch.counters().table_full, 1);
        let decision = switch.process(port(2), &frame(mac(count), learner, None), now);
        assert_eq!(decision.ports(), ports(&[1, 3]));
        switch.table().check_invariants().unwrap();
    });
}

#[test]
fn learning_writes_only_on_change() {
    let mut switch = small(&SwitchConfig::new(2));
    for n in 0..300 {
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(1),
        );
    }
    assert_eq!(switch.port_counters(port(1)).learned, 300);
    assert_eq!(switch.counters().learn_writes, 300);
    // The same sources again within the same second: no table writes at all.
    for _ in 0..3 {
        for n in 0..300 {
            switch.process(
                port(1),
                &frame(MacAddress::BROADCAST, mac(n), None),
                Tick(1500),
            );
        }
    }
    assert_eq!(switch.counters().learn_writes, 300);
    // A later second refreshes each entry once.
    for n in 0..300 {
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(2),
        );
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(2),
        );
    }
    assert_eq!(switch.counters().learn_writes, 600);
    assert_eq!(switch.port_counters(port(1)).learned, 300);
}

#[test]
fn flooding_scope_is_the_vlan() {
    let mut config = SwitchConfig::new(5);
    for n in 1..=3 {
        config.port_mut(port(n)).vlan = VlanMode::Access(10);
    }
    config.port_mut(port(4)).vlan = VlanMode::Access(20);
    config.port_mut(port(5)).vlan = trunk(&[10, 20], None);
    let mut switch = small(&config);
    let multicast = MacAddress([0x01, 0x00, 0x5e, 0, 0, 1]);
    for destination in [MacAddress::BROADCAST, multicast, mac(999)] {
        let decision = switch.process(port(1), &frame(destination, mac(1), None), secs(1));
        assert_eq!(decision.ports(), ports(&[2, 3, 5]), "{destination}");
        assert_eq!(decision.edit_for(port(2)), Some(Edit::Keep));
        assert_eq!(decision.edit_for(port(5)), Some(Edit::Push(10)));
        let decision = switch.process(port(4), &frame(destination, mac(4), None), secs(1));
        assert_eq!(
            decision,
            Decision::Forward(dpu_switch::Output {
                port: port(5),
                edit: Edit::Push(20)
            })
        );
        // From the trunk, tagged 20: only port4, tag popped.
        let decision = switch.process(port(5), &frame(destination, mac(5), Some(20)), secs(1));
        assert_eq!(decision.ports(), ports(&[4]));
        assert_eq!(decision.edit_for(port(4)), Some(Edit::Pop));
    }
    assert_eq!(switch.port_counters(port(1)).unknown_unicast, 1);
}

#[test]
fn aging_sweep_reaches_every_entry_within_a_bound() {
    let mut config = SwitchConfig::new(2);
    config.aging_seconds = 300;
    let mut switch = small(&config);
    for n in 0..500 {
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(10),
        );
    }
    switch
        .add_static(vlan(1), mac(9999), port(2), secs(10))
        .unwrap();
    assert_eq!(switch.mac_count(), 501);
    // Not yet due.
    for _ in 0..100 {
        switch.maintain(secs(309));
    }
    assert_eq!(switch.mac_count(), 501);
    // Expired entries no longer count as known, even before the sweep reaches them.
    let decision = switch.process(port(2), &frame(mac(7), mac(9999), None), secs(310));
    assert!(matches!(decision, Decision::Forward(_)));
    assert_eq!(switch.port_counters(port(2)).unknown_unicast, 1);
    // Each call does bounded work: one call cannot remove everything.
    switch.maintain(secs(310));
    assert!(switch.mac_count() > 1);
    let bound = (1024 + Small::new().table().slots() / 2).div_ceil(AGE_SLOTS_PER_CALL);
    for _ in 1..bound {
        switch.maintain(secs(310));
    }
    assert_eq!(switch.mac_count(), 1, "only the static entry is left");
    assert_eq!(switch.counters().aged, 500);
    assert_eq!(
        switch.lookup(vlan(1), mac(9999)).map(|entry| entry.kind),
        Some(EntryKind::Static)
    );
    switch.table().check_invariants().unwrap();
}

#[test]
fn aging_time_zero_never_ages() {
    let mut config = SwitchConfig::new(2);
    config.aging_seconds = 0;
    let mut switch = small(&config);
    switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1), None),
        secs(1),
    );
    for _ in 0..100 {
        switch.maintain(secs(1_000_000));
    }
    assert_eq!(switch.mac_count(), 1);
}

#[test]
fn mac_moves_are_counted_and_followed() {
    let mut switch = small(&SwitchConfig::new(3));
    switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1), None),
        secs(1),
    );
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(3), None),
        secs(1),
    );
    assert_eq!(
        switch
            .process(port(3), &frame(mac(1), mac(3), None), secs(1))
            .ports(),
        ports(&[1])
    );
    // mac(1) now speaks from port2: a move.
    switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(1), None),
        secs(2),
    );
    assert_eq!(switch.counters().moves, 1);
    assert_eq!(switch.port_counters(port(2)).moves, 1);
    assert_eq!(switch.port_counters(port(2)).learned, 0);
    assert_eq!(switch.learned_on(port(1)), 0);
    assert_eq!(switch.learned_on(port(2)), 1);
    assert_eq!(
        switch
            .process(port(3), &frame(mac(1), mac(3), None), secs(2))
            .ports(),
        ports(&[2])
    );
}

#[test]
fn untagged_classification_follows_each_apply() {
    // An untagged frame's VLAN is looked up from what `apply` computed: every new config
    // must change it (trunk without native, trunk with native, access), and nothing else.
    let mut config = SwitchConfig::new(3);
    config.port_mut(port(1)).vlan = trunk(&[10, 20], None);
    config.port_mut(port(2)).vlan = VlanMode::Access(20);
    config.port_mut(port(3)).vlan = VlanMode::Access(10);
    let mut switch = small(&config);
    let broadcast = |source| frame(MacAddress::BROADCAST, mac(source), None);
    let priority = |source| frame(MacAddress::BROADCAST, mac(source), Some(0x2000));
    assert_eq!(
        switch.process(port(1), &broadcast(60), secs(1)),
        Decision::Drop(DropReason::UntaggedNotAllowed)
    );
    config.port_mut(port(1)).vlan = trunk(&[10], Some(20));
    switch.apply(&config).unwrap();
    let decision = switch.process(port(1), &broadcast(61), secs(2));
    assert_eq!(decision.ports(), ports(&[2]), "native 20 floods within 20");
    assert!(switch.lookup(vlan(20), mac(61)).is_some());
    let decision = switch.process(port(1), &priority(62), secs(2));
    assert_eq!(
        decision.ports(),
        ports(&[2]),
        "priority-tagged is the native VLAN's"
    );
    config.port_mut(port(1)).vlan = VlanMode::Access(10);
    switch.apply(&config).unwrap();
    let decision = switch.process(port(1), &broadcast(63), secs(3));
    assert_eq!(decision.ports(), ports(&[3]), "access 10 floods within 10");
    assert!(switch.lookup(vlan(10), mac(63)).is_some());
    // A tagged frame still goes by the port's VLANs: 20 is no longer carried.
    assert_eq!(
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(64), Some(20)),
            secs(3)
        ),
        Decision::Drop(DropReason::VlanNotAllowed)
    );
}

#[test]
fn vlan_isolation_and_tag_rules() {
    let mut config = SwitchConfig::new(4);
    config.port_mut(port(1)).vlan = VlanMode::Access(10);
    config.port_mut(port(2)).vlan = VlanMode::Access(20);
    config.port_mut(port(3)).vlan = trunk(&[10, 20], None);
    config.port_mut(port(4)).vlan = trunk(&[20], Some(10));
    let mut switch = small(&config);
    // mac(2) is known in VLAN 20 only; from VLAN 10 it is unknown and floods within 10.
    switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(2), None),
        secs(1),
    );
    let decision = switch.process(port(1), &frame(mac(2), mac(1), None), secs(1));
    assert_eq!(decision.ports(), ports(&[3, 4]));
    assert_eq!(decision.edit_for(port(3)), Some(Edit::Push(10)));
    assert_eq!(
        decision.edit_for(port(4)),
        Some(Edit::Keep),
        "native 10 leaves untagged"
    );
    // Frames on VLANs a port does not carry are dropped and counted.
    let cases = [
        (port(3), Some(30), DropReason::VlanNotAllowed),
        (port(3), None, DropReason::UntaggedNotAllowed),
        (port(3), Some(0x2000), DropReason::UntaggedNotAllowed),
        (port(1), Some(20), DropReason::VlanNotAllowed),
        (port(4), Some(30), DropReason::VlanNotAllowed),
    ];
    for (ingress, tci, reason) in cases {
        let decision = switch.process(
            ingress,
            &frame(MacAddress::BROADCAST, mac(50), tci),
            secs(1),
        );
        assert_eq!(decision, Decision::Drop(reason), "{ingress} {tci:?}");
        assert!(switch.lookup(vlan(30), mac(50)).is_none());
    }
    assert_eq!(switch.counters().dropped(DropReason::VlanNotAllowed), 3);
    assert_eq!(switch.counters().dropped(DropReason::UntaggedNotAllowed), 2);
    // Priority-tagged on an access port belongs to its VLAN; the VID is set on a tagged egress.
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1), Some(0xa000)),
        secs(1),
    );
    assert_eq!(decision.edit_for(port(3)), Some(Edit::SetVlan(vlan(10))));
    assert_eq!(decision.edit_for(port(4)), Some(Edit::Pop));
    // Tagged 20 on port4's trunk reaches port2 (popped) and port3 (kept), not port1.
    let decision = switch.process(
        port(4),
        &frame(MacAddress::BROADCAST, mac(4), Some(20)),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[2, 3]));
    assert_eq!(decision.edit_for(port(2)), Some(Edit::Pop));
    assert_eq!(decision.edit_for(port(3)), Some(Edit::Keep));
}

#[test]
fn edits_applied_in_place_give_correct_wire_frames() {
    let mut config = SwitchConfig::new(2);
    config.port_mut(port(2)).vlan = trunk(&[10], None);
    config.port_mut(port(1)).vlan = VlanMode::Access(10);
    let mut switch = small(&config);
    let untagged = frame(MacAddress::BROADCAST, mac(1), None);
    let Decision::Forward(output) = switch.process(port(1), &untagged, secs(1)) else {
        panic!("expected one output");
    };
    let mut buffer = vec![0u8; 128 + untagged.len()];
    buffer[128..].copy_from_slice(&untagged);
    let (start, length) = apply_edit(&mut buffer, 128, untagged.len(), output.edit).unwrap();
    let mut expected = frame(MacAddress::BROADCAST, mac(1), Some(10));
    expected.truncate(length);
    assert_eq!(&buffer[start..start + length], &expected[..]);
    // And back: the tagged frame from the trunk leaves port1 untagged.
    let tagged = frame(mac(1), mac(2), Some(10));
    let Decision::Forward(output) = switch.process(port(2), &tagged, secs(1)) else {
        panic!("expected one output");
    };
    assert_eq!(
        output,
        dpu_switch::Output {
            port: port(1),
            edit: Edit::Pop
        }
    );
    let mut buffer = tagged.clone();
    let (start, length) = apply_edit(&mut buffer, 0, tagged.len(), output.edit).unwrap();
    assert_eq!(
        &buffer[start..start + length],
        &frame(mac(1), mac(2), None)[..]
    );
}

fn two_uplinks(standby: bool, failback: bool, hosts: u8) -> SwitchConfig {
    let mut config = SwitchConfig::new(2 + hosts);
    config.port_mut(port(1)).role = PortRole::Uplink;
    config.port_mut(port(2)).role = PortRole::Uplink;
    if standby {
        config.teaming.active.push(port(1)).unwrap();
        config.teaming.standby.push(port(2)).unwrap();
    }
    config.teaming.failback = failback;
    config
}

#[test]
fn split_horizon_between_uplinks() {
    // Both uplinks active; port3 and port4 are hosts pinned to port1 and port2.
    let mut switch = small(&two_uplinks(false, true, 2));
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(1)));
    assert_eq!(switch.pinned_uplink(port(4)), Some(port(2)));
    // A broadcast from the network reaches only the hosts pinned to the uplink it came in on.
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(100), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[3]));
    let decision = switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(101), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[4]));
    // Never uplink to uplink, for unicast either.
    let decision = switch.process(port(1), &frame(mac(101), mac(100), None), secs(1));
    assert_eq!(decision, Decision::Drop(DropReason::UplinkToUplink));
    // A host's flood leaves by its own uplink only, never back to itself.
    let decision = switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(3), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[1, 4]));
    // A host's unicast to the network leaves by its pinned uplink, wherever the MAC was seen.
    let decision = switch.process(port(3), &frame(mac(101), mac(3), None), secs(1));
    assert_eq!(decision.ports(), ports(&[1]));
    // Our own host's frame reflected back by the network is not learned there.
    let decision = switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(3), None),
        secs(1),
    );
    assert_eq!(decision, Decision::Drop(DropReason::HostMacFromUplink));
    assert_eq!(
        switch.lookup(vlan(1), mac(3)).map(|entry| entry.port),
        Some(port(3))
    );
    // A frame to a MAC behind the ingress port itself is dropped.
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(33), None),
        secs(1),
    );
    let decision = switch.process(port(3), &frame(mac(33), mac(3), None), secs(1));
    assert_eq!(decision, Decision::Drop(DropReason::SamePort));
    // Long after the host last spoke, the same MAC from the network is a move (a VM migrated
    // away): learned on the uplink, counted, and frames to it leave by the pinned uplink.
    let later = secs(1 + u64::from(dpu_switch::HOST_MAC_HOLD_SECONDS));
    let decision = switch.process(port(2), &frame(MacAddress::BROADCAST, mac(3), None), later);
    assert_eq!(decision.ports(), ports(&[4]));
    assert_eq!(
        switch.lookup(vlan(1), mac(3)).map(|entry| entry.port),
        Some(port(2))
    );
    assert_eq!(switch.port_counters(port(2)).moves, 1);
    let decision = switch.process(port(4), &frame(mac(3), mac(4), None), later);
    assert_eq!(decision.ports(), ports(&[2]));
}

fn host_with_mac(policy: [Policy; 3]) -> Box<Small> {
    let mut config = SwitchConfig::new(3);
    let host = config.port_mut(port(1));
    host.mac = Some(mac(1));
    host.security.promiscuous = policy[0];
    host.security.mac_changes = policy[1];
    host.security.forged_transmits = policy[2];
    small(&config)
}

#[test]
fn forged_transmits() {
    use Policy::{Accept, Reject};
    let mut switch = host_with_mac([Reject, Reject, Reject]);
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(66), None),
        secs(1),
    );
    assert_eq!(decision, Decision::Drop(DropReason::ForgedTransmit));
    assert!(switch.lookup(vlan(1), mac(66)).is_none());
    assert_eq!(switch.counters().dropped(DropReason::ForgedTransmit), 1);
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[2, 3]));
    // Accept: the forged source is forwarded and learned.
    let mut switch = host_with_mac([Reject, Accept, Accept]);
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(66), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[2, 3]));
    assert!(switch.lookup(vlan(1), mac(66)).is_some());
    // Ports without a configured MAC are not checked.
    let decision = switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(77), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[1, 3]));
}

#[test]
fn mac_address_changes() {
    use Policy::{Accept, Reject};
    // The VM on port1 (configured mac 1) changed its MAC to 66 and sends from it.
    let mut switch = host_with_mac([Reject, Reject, Accept]);
    switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(66), None),
        secs(1),
    );
    let decision = switch.process(port(2), &frame(mac(66), mac(2), None), secs(1));
    assert_eq!(decision, Decision::Drop(DropReason::MacChange));
    assert_eq!(switch.counters().dropped(DropReason::MacChange), 1);
    // Unknown unicast to some other MAC does not flood to it either; its own MAC does.
    let decision = switch.process(port(2), &frame(mac(55), mac(2), None), secs(1));
    assert_eq!(decision.ports(), ports(&[3]));
    let decision = switch.process(port(2), &frame(mac(1), mac(2), None), secs(1));
    assert_eq!(decision.ports(), ports(&[1, 3]));
    // Accept: inbound to the changed MAC flows.
    let mut switch = host_with_mac([Reject, Accept, Accept]);
    switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(66), None),
        secs(1),
    );
    let decision = switch.process(port(2), &frame(mac(66), mac(2), None), secs(1));
    assert_eq!(decision.ports(), ports(&[1]));
}

#[test]
fn promiscuous_mode() {
    use Policy::{Accept, Reject};
    let mut switch = host_with_mac([Accept, Reject, Reject]);
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(3), None),
        secs(1),
    );
    // Unicast port2 -> port3 is copied to the promiscuous port1.
    let decision = switch.process(port(2), &frame(mac(3), mac(2), None), secs(1));
    assert_eq!(decision.ports(), ports(&[1, 3]));
    assert_eq!(switch.port_counters(port(2)).flooded, 1);
    // Reject (the default): only the destination.
    let mut switch = host_with_mac([Reject, Reject, Reject]);
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(3), None),
        secs(1),
    );
    let decision = switch.process(port(2), &frame(mac(3), mac(2), None), secs(1));
    assert_eq!(decision.ports(), ports(&[3]));
}

fn rarp_bytes(source: MacAddress, tag: Option<u16>) -> Vec<u8> {
    let mut bytes = vec![0xff; 6];
    bytes.extend_from_slice(&source.0);
    if let Some(tci) = tag {
        bytes.extend_from_slice(&[0x81, 0x00]);
        bytes.extend_from_slice(&tci.to_be_bytes());
    }
    bytes.extend_from_slice(&[0x80, 0x35, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03]);
    bytes.extend_from_slice(&source.0);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.extend_from_slice(&source.0);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    bytes.resize(if tag.is_some() { 64 } else { 60 }, 0);
    bytes
}

/// The notifications drained from `switch` are exactly one RARP per expected (MAC, VLAN tag),
/// all from `uplink`, in any order (the announcement scan follows the table's slot order).
fn check_notifications(switch: &mut Small, uplink: u8, expected: &[(MacAddress, Option<u16>)]) {
    let notifications = drain(switch);
    assert_eq!(notifications.len(), expected.len(), "{notifications:?}");
    let mut sent: Vec<Vec<u8>> = notifications
        .iter()
        .map(|notification| {
            assert_eq!(notification.uplink, port(uplink), "{notification}");
            let mut buffer = [0u8; 128];
            let length = notification.write_frame(&mut buffer).unwrap();
            buffer[..length].to_vec()
        })
        .collect();
    let mut wanted: Vec<Vec<u8>> = expected
        .iter()
        .map(|(source, tag)| rarp_bytes(*source, *tag))
        .collect();
    sent.sort();
    wanted.sort();
    assert_eq!(sent, wanted);
}

fn announce(switch: &mut Small, now: Tick) {
    for _ in 0..(1024 / dpu_switch::ANNOUNCE_SLOTS_PER_CALL + 1) {
        switch.maintain(now);
    }
    assert!(!switch.announcing());
}

#[test]
fn teaming_failover_and_failback_with_notify_frames() {
    let mut switch = small(&two_uplinks(true, true, 1));
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(1)));
    assert_eq!(switch.active_uplinks(), ports(&[1]));
    // A new host MAC is announced on the uplink that carries it.
    for n in [31, 32] {
        switch.process(
            port(3),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(1),
        );
    }
    check_notifications(&mut switch, 1, &[(mac(31), None), (mac(32), None)]);
    // Only the active uplink carries the host's traffic; the standby sees nothing.
    let decision = switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[1]));
    // Failover: port1's link goes down.
    assert!(switch.set_link(port(1), false));
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(2)));
    announce(&mut switch, secs(5));
    check_notifications(&mut switch, 2, &[(mac(31), None), (mac(32), None)]);
    let decision = switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(6),
    );
    assert_eq!(decision.ports(), ports(&[2]));
    // Inbound broadcast now comes only through port2.
    let decision = switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(200), None),
        secs(6),
    );
    assert_eq!(decision.ports(), ports(&[3]));
    // Failback on: port1 returns and takes the traffic back, announced again.
    assert!(switch.set_link(port(1), true));
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(1)));
    announce(&mut switch, secs(7));
    check_notifications(&mut switch, 1, &[(mac(31), None), (mac(32), None)]);
    assert_eq!(switch.counters().repins, 3);
    // Both down: host traffic to the network has nowhere to go.
    switch.set_link(port(1), false);
    switch.set_link(port(2), false);
    assert_eq!(switch.pinned_uplink(port(3)), None);
    let decision = switch.process(port(3), &frame(mac(200), mac(31), None), secs(7));
    assert_eq!(decision, Decision::Drop(DropReason::NoUplink));
}

#[test]
fn failback_off_keeps_the_standby() {
    let mut switch = small(&two_uplinks(true, false, 1));
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(1),
    );
    drain(&mut switch);
    switch.set_link(port(1), false);
    announce(&mut switch, secs(5));
    check_notifications(&mut switch, 2, &[(mac(31), None)]);
    switch.set_link(port(1), true);
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(2)), "no failback");
    announce(&mut switch, secs(5));
    assert_eq!(switch.pending_notifications(), 0);
    // Only when the standby fails does traffic return to port1.
    switch.set_link(port(2), false);
    assert_eq!(switch.pinned_uplink(port(3)), Some(port(1)));
    announce(&mut switch, secs(5));
    check_notifications(&mut switch, 1, &[(mac(31), None)]);
}

#[test]
fn notify_frames_are_tagged_on_tagged_uplinks() {
    let mut config = two_uplinks(true, true, 2);
    config.port_mut(port(1)).vlan = trunk(&[10], Some(1));
    config.port_mut(port(2)).vlan = trunk(&[10], Some(1));
    config.port_mut(port(3)).vlan = VlanMode::Access(10);
    let mut switch = small(&config);
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(1),
    );
    switch.process(
        port(4),
        &frame(MacAddress::BROADCAST, mac(41), None),
        secs(1),
    );
    check_notifications(&mut switch, 1, &[(mac(31), Some(10)), (mac(41), None)]);
    switch.set_link(port(1), false);
    announce(&mut switch, secs(5));
    let mut notifications = drain(&mut switch);
    notifications.sort_by_key(|notification| notification.mac);
    assert_eq!(notifications.len(), 2);
    assert!(
        notifications
            .iter()
            .all(|notification| notification.uplink == port(2))
    );
    assert_eq!(
        (notifications[0].mac, notifications[0].tagged),
        (mac(31), true)
    );
    assert_eq!(
        (notifications[1].mac, notifications[1].tagged),
        (mac(41), false)
    );
}

#[test]
fn host_mac_moving_to_another_uplink_is_announced() {
    // Both uplinks active: port3 pinned to port1, port4 to port2.
    let mut switch = small(&two_uplinks(false, true, 2));
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(9), None),
        secs(1),
    );
    check_notifications(&mut switch, 1, &[(mac(9), None)]);
    // The VM moves to port4 (pinned to port2): announced from port2.
    switch.process(
        port(4),
        &frame(MacAddress::BROADCAST, mac(9), None),
        secs(2),
    );
    check_notifications(&mut switch, 2, &[(mac(9), None)]);
    assert_eq!(switch.counters().moves, 1);
}

#[test]
fn table_full_floods_and_keeps_statics() {
    let mut switch = Box::new(Switch::<64>::new());
    switch.apply(&SwitchConfig::new(3)).unwrap();
    for n in 0..4 {
        switch
            .add_static(vlan(1), mac(1000 + n), port(3), secs(0))
            .unwrap();
    }
    for n in 0..100 {
        switch.process(port(1), &frame(mac(1000), mac(n), None), secs(1));
    }
    assert_eq!(switch.mac_count(), 32);
    assert_eq!(switch.learned_on(port(1)), 28);
    assert_eq!(switch.counters().table_full, 72);
    // Frames to an address that did not fit flood (counted as unknown unicast).
    let decision = switch.process(port(3), &frame(mac(99), mac(1000), None), secs(1));
    assert_eq!(decision.ports(), ports(&[1, 2]));
    // Statics are never displaced by learning and never age.
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1001), None),
        secs(1),
    );
    assert_eq!(decision, Decision::Drop(DropReason::StaticElsewhere));
    for _ in 0..100 {
        switch.maintain(secs(10_000));
    }
    assert_eq!(switch.mac_count(), 4);
    for n in 0..4 {
        assert_eq!(
            switch
                .lookup(vlan(1), mac(1000 + n))
                .map(|entry| (entry.port, entry.kind)),
            Some((port(3), EntryKind::Static))
        );
    }
    switch.table().check_invariants().unwrap();
}

#[test]
fn per_port_mac_limit_drop_and_allow() {
    let mut config = SwitchConfig::new(2);
    config.port_mut(port(1)).mac_limit = 3;
    let mut switch = small(&config);
    for n in 0..5 {
        switch.process(
            port(1),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(1),
        );
    }
    assert_eq!(switch.learned_on(port(1)), 3);
    assert_eq!(switch.counters().dropped(DropReason::MacLimit), 2);
    // Known sources still pass.
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(0), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[2]));
    config.port_mut(port(1)).limit_policy = LimitPolicy::Allow;
    switch.apply(&config).unwrap();
    let decision = switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(9), None),
        secs(1),
    );
    assert_eq!(decision.ports(), ports(&[2]));
    assert!(switch.lookup(vlan(1), mac(9)).is_none());
    assert_eq!(switch.learned_on(port(1)), 3);
    assert_eq!(switch.counters().limit_allowed, 1);
}

#[test]
fn bad_frames_are_counted_drops() {
    let mut switch = small(&SwitchConfig::new(2));
    let mut qinq = frame(MacAddress::BROADCAST, mac(1), None);
    qinq[12..14].copy_from_slice(&0x88a8u16.to_be_bytes());
    let mut double = frame(MacAddress::BROADCAST, mac(1), Some(1));
    double[16..18].copy_from_slice(&0x8100u16.to_be_bytes());
    let cases: [(Vec<u8>, DropReason); 6] = [
        (vec![], DropReason::Runt),
        (vec![0xff; 13], DropReason::Runt),
        (qinq, DropReason::UnsupportedTag),
        (double, DropReason::DoubleTag),
        (
            frame(MacAddress::BROADCAST, mac(1), Some(0x0fff)),
            DropReason::ReservedVlan,
        ),
        (
            frame(mac(2), MacAddress::BROADCAST, None),
            DropReason::InvalidSource,
        ),
    ];
    for (bytes, reason) in cases {
        assert_eq!(
            switch.process(port(1), &bytes, secs(1)),
            Decision::Drop(reason)
        );
        assert!(switch.counters().dropped(reason) > 0);
    }
    assert_eq!(
        switch.process(port(7), &frame(mac(1), mac(2), None), secs(1)),
        Decision::Drop(DropReason::UnknownPort)
    );
    let counters = switch.port_counters(port(1));
    assert_eq!((counters.rx_packets, counters.dropped), (6, 6));
    assert_eq!(switch.mac_count(), 0);
}

#[test]
fn a_bad_config_changes_nothing() {
    let mut switch = small(&SwitchConfig::new(3));
    switch.process(
        port(1),
        &frame(MacAddress::BROADCAST, mac(1), None),
        secs(1),
    );
    let mut bad = SwitchConfig::new(3);
    bad.port_mut(port(2)).vlan = VlanMode::Access(5000);
    bad.port_mut(port(1)).vlan = VlanMode::Access(10);
    let error = switch.apply(&bad).unwrap_err();
    assert_eq!(error.to_string(), "port2: vlan 5000 out of range 1..4094");
    assert_eq!(switch.config(), &SwitchConfig::new(3));
    assert_eq!(
        switch.lookup(vlan(1), mac(1)).map(|entry| entry.port),
        Some(port(1))
    );
    // A good change of port1's VLAN flushes what was learned there, nothing else.
    switch.process(
        port(2),
        &frame(MacAddress::BROADCAST, mac(2), None),
        secs(1),
    );
    let mut good = SwitchConfig::new(3);
    good.port_mut(port(1)).vlan = VlanMode::Access(10);
    switch.apply(&good).unwrap();
    assert!(switch.lookup(vlan(1), mac(1)).is_none());
    assert!(switch.lookup(vlan(1), mac(2)).is_some());
    // Lowering port2's limit below what it holds flushes port2's learned entries.
    good.port_mut(port(2)).mac_limit = 0;
    switch.apply(&good).unwrap();
    assert_eq!(switch.learned_on(port(2)), 0);
}

#[test]
fn display_texts_are_words() {
    for reason in DropReason::ALL {
        let text = reason.to_string();
        assert!(
            !text.is_empty() && !text.contains('{') && !text.contains("::"),
            "{text}"
        );
    }
    let mut switch = small(&two_uplinks(true, true, 1));
    switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(1),
    );
    let notification = switch.next_notification().unwrap();
    assert_eq!(
        notification.to_string(),
        "rarp for 02:00:00:00:00:1f vlan 1 (untagged) on port1"
    );
    let decision = switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(1),
    );
    assert_eq!(decision.to_string(), "to port1 (as received)");
    assert_eq!(
        Decision::Drop(DropReason::Runt).to_string(),
        "drop: shorter than its header"
    );
}

#[test]
fn failback_off_reuses_an_idle_active_uplink_first() {
    let mut config = SwitchConfig::new(5);
    for n in 1..=3 {
        config.port_mut(port(n)).role = PortRole::Uplink;
    }
    config
        .teaming
        .active
        .extend_from_slice(&[port(1), port(2)])
        .unwrap();
    config.teaming.standby.push(port(3)).unwrap();
    config.teaming.failback = false;
    let mut switch = small(&config);
    assert_eq!(switch.active_uplinks(), ports(&[1, 2]));
    assert_eq!(switch.pinned_uplink(port(4)), Some(port(1)));
    assert_eq!(switch.pinned_uplink(port(5)), Some(port(2)));
    switch.set_link(port(1), false);
    assert_eq!(switch.active_uplinks(), ports(&[2, 3]));
    assert_eq!(switch.pinned_uplink(port(4)), Some(port(3)));
    // port1 recovers but stays idle (failback off) ...
    switch.set_link(port(1), true);
    assert_eq!(switch.active_uplinks(), ports(&[2, 3]));
    // ... until an uplink in use fails: then port1, ahead of nothing else, replaces it.
    switch.set_link(port(2), false);
    assert_eq!(switch.active_uplinks(), ports(&[1, 3]));
    assert_eq!(
        switch.pinned_uplink(port(4)),
        Some(port(3)),
        "not moved again"
    );
    assert_eq!(switch.pinned_uplink(port(5)), Some(port(1)));
    // With failback on, the same story puts every active uplink back in its own slot.
    config.teaming.failback = true;
    switch.apply(&config).unwrap();
    switch.set_link(port(2), true);
    assert_eq!(switch.active_uplinks(), ports(&[1, 2]));
    assert_eq!(switch.pinned_uplink(port(4)), Some(port(1)));
    assert_eq!(switch.pinned_uplink(port(5)), Some(port(2)));
}

#[test]
fn full_size_aging_bound_is_768_calls() {
    with_big_stack(|| {
        let mut switch: Box<Switch> = Box::new(Switch::new());
        let mut config = SwitchConfig::new(4);
        for n in 1..=4 {
            config.port_mut(port(n)).mac_limit = 4096;
        }
        switch.apply(&config).unwrap();
        let mut learned = 0;
        for n in 0..MAC_TABLE_CAPACITY as u32 {
            let ingress = port((n % 4) as u8 + 1);
            switch.process(
                ingress,
                &frame(MacAddress::BROADCAST, mac(n), None),
                secs(0),
            );
            learned += 1;
        }
        assert_eq!(switch.mac_count(), learned);
        let slots = switch.table().slots();
        let bound = (slots + MAC_TABLE_CAPACITY) / AGE_SLOTS_PER_CALL;
        assert_eq!(bound, 768);
        for _ in 0..bound {
            switch.maintain(secs(300));
        }
        assert_eq!(switch.mac_count(), 0);
        assert_eq!(switch.counters().aged, learned as u64);
    });
}

/// The switch is built at compile time, so the kernel can keep it in a static.
const _: Switch<16> = Switch::new();

#[test]
fn static_entries_and_flushes() {
    let mut config = SwitchConfig::new(3);
    config.port_mut(port(3)).vlan = VlanMode::Access(10);
    let mut switch = small(&config);
    let errors = [
        (
            switch.add_static(vlan(1), mac(1), port(5), secs(0)),
            "port5 is not a switch port",
        ),
        (
            switch.add_static(vlan(1), MacAddress::BROADCAST, port(1), secs(0)),
            "ff:ff:ff:ff:ff:ff is not a unicast address",
        ),
        (
            switch.add_static(vlan(1), mac(1), port(3), secs(0)),
            "port3 does not carry vlan 1",
        ),
    ];
    for (result, message) in errors {
        assert_eq!(result.unwrap_err().to_string(), message);
    }
    switch
        .add_static(vlan(10), mac(1), port(3), secs(0))
        .unwrap();
    let decision = switch.process(port(3), &frame(mac(1), mac(2), None), secs(1));
    assert_eq!(decision, Decision::Drop(DropReason::SamePort));
    for n in 10..20 {
        switch.process(
            port(1 + (n % 2) as u8),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(1),
        );
    }
    switch.flush_learned(Some(port(1)));
    assert_eq!(switch.learned_on(port(1)), 0);
    assert_eq!(switch.learned_on(port(2)), 5);
    switch.flush_learned(None);
    assert_eq!(switch.mac_count(), 1, "only the static entry stays");
    assert_eq!(
        switch.entries().next().map(|entry| entry.kind),
        Some(EntryKind::Static)
    );
    assert!(switch.remove_entry(vlan(10), mac(1)).is_some());
    assert_eq!(switch.entries().count(), 0);
}

#[test]
fn ha_standby_drops_every_frame_learns_and_announces_on_takeover() {
    let mut switch = small(&two_uplinks(true, true, 1));
    switch.set_standby(true);
    for n in [31, 32] {
        let decision = switch.process(
            port(3),
            &frame(MacAddress::BROADCAST, mac(n), None),
            secs(1),
        );
        assert_eq!(decision, Decision::Drop(DropReason::Standby));
    }
    let decision = switch.process(port(1), &frame(mac(31), mac(200), None), secs(1));
    assert_eq!(decision, Decision::Drop(DropReason::Standby));
    assert_eq!(switch.counters().dropped(DropReason::Standby), 3);
    // Learned, but nothing announced while standby.
    assert!(switch.lookup(vlan(1), mac(31)).is_some());
    assert!(drain(&mut switch).is_empty());
    // Takeover: forwarding again, and every host MAC announced on its uplink.
    switch.set_standby(false);
    switch.announce_all();
    announce(&mut switch, secs(2));
    check_notifications(&mut switch, 1, &[(mac(31), None), (mac(32), None)]);
    let decision = switch.process(
        port(3),
        &frame(MacAddress::BROADCAST, mac(31), None),
        secs(2),
    );
    assert_eq!(decision.ports(), ports(&[1]));
}

/// The fast path's burst counting (`process_head_uncounted`, then `count_received` and
/// `count_sent` once per burst) leaves every counter where per-frame `process_head` does:
/// the same frames (a flood across an access port and a trunk with a tag push, a unicast, a
/// runt and an unknown port) through two switches, compared counter by counter.
#[test]
fn burst_counting_matches_per_frame_counting() {
    let mut config = SwitchConfig::new(3);
    config.port_mut(port(3)).vlan = trunk(&[1], None);
    let mut per_frame = small(&config);
    let mut per_burst = small(&config);
    let (a, b) = (mac(0x0a), mac(0x0b));
    let frames: Vec<(u8, Vec<u8>)> = vec![
        (1, frame(MacAddress::BROADCAST, a, None)),
        (2, frame(a, b, None)),
        (1, frame(b, a, None)),
        (1, vec![0u8; 10]),
        (3, frame(a, mac(0x0c), Some(1))),
        (4, frame(a, b, None)),
    ];
    let now = secs(1);
    let (mut rx, mut rx_bytes) = ([0u64; 8], [0u64; 8]);
    let (mut tx, mut tx_bytes) = ([0u64; 8], [0u64; 8]);
    for (ingress, bytes) in &frames {
        let head = dpu_switch::FrameHead::from_frame(bytes);
        let expected = per_frame.process_head(port(*ingress), &head, now);
        let decision = per_burst.process_head_uncounted(port(*ingress), &head, now);
        assert_eq!(decision, expected);
        rx[usize::from(*ingress)] += 1;
        rx_bytes[usize::from(*ingress)] += bytes.len() as u64;
        for egress in decision.ports().iter() {
            let edit = decision.edit_for(egress).unwrap();
            tx[usize::from(egress.number())] += 1;
            tx_bytes[usize::from(egress.number())] += edit.edited_length(bytes.len()) as u64;
        }
    }
    for number in 1..=4u8 {
        let index = usize::from(number);
        per_burst.count_received(port(number), rx[index], rx_bytes[index]);
        per_burst.count_sent(port(number), tx[index], tx_bytes[index]);
        assert_eq!(
            per_burst.port_counters(port(number)),
            per_frame.port_counters(port(number)),
            "port{number}"
        );
    }
    assert_eq!(per_burst.counters(), per_frame.counters());
}

/// A burst's repeated source (learning) and repeated destination (lookup) are served without a
/// second probe only while nothing changed: every frame here comes at the same instant, as in
/// one burst, and each table change between two frames must show in the next one.
#[test]
fn repeated_source_in_a_burst_sees_moves_removals_and_statics() {
    let mut switch = small(&SwitchConfig::new(3));
    let now = Tick(1500);
    let from = |source: u32| frame(MacAddress::BROADCAST, mac(source), None);
    for _ in 0..3 {
        switch.process(port(1), &from(1), now);
    }
    assert_eq!(switch.port_counters(port(1)).learned, 1);
    assert_eq!(switch.counters().learn_writes, 1, "repeats write nothing");
    // It moves to port2 and back to port1 within the burst: both moves are seen.
    switch.process(port(2), &from(1), now);
    assert_eq!(switch.learned_on(port(2)), 1);
    switch.process(port(1), &from(1), now);
    assert_eq!(switch.counters().moves, 2);
    assert_eq!(switch.learned_on(port(1)), 1);
    switch.process(port(1), &from(1), now);
    // Removed between two frames: the next one learns it again (and asks for a notify).
    drain(&mut switch);
    assert!(switch.remove_entry(vlan(1), mac(1)).is_some());
    switch.process(port(1), &from(1), now);
    assert_eq!(switch.port_counters(port(1)).learned, 2);
    assert_eq!(switch.mac_count(), 1);
    switch.process(port(1), &from(1), now);
    // Made static on another port between two frames: the next one is refused.
    switch.add_static(vlan(1), mac(1), port(2), now).unwrap();
    assert_eq!(
        switch.process(port(1), &from(1), now),
        Decision::Drop(DropReason::StaticElsewhere)
    );
    // The same source on another port than the one it was refreshed from is a move.
    switch.process(port(3), &from(3), now);
    switch.process(port(3), &from(3), now);
    switch.process(port(2), &from(3), now);
    assert_eq!(switch.counters().moves, 3);
    assert_eq!(switch.learned_on(port(2)), 1);
    switch.table().check_invariants().unwrap();
}

/// The repeated destination of a burst follows a move, a removal, the clock's next second
/// (aging) and a new config (a shorter aging time), each between two frames.
#[test]
fn repeated_destination_in_a_burst_sees_moves_removals_aging_and_configs() {
    let mut config = SwitchConfig::new(3);
    config.aging_seconds = 10;
    let mut switch = small(&config);
    let learn = |switch: &mut Small, on: u8, source: u32, now: Tick| {
        switch.process(
            port(on),
            &frame(MacAddress::BROADCAST, mac(source), None),
            now,
        );
    };
    let to_two = |switch: &mut Small, now: Tick| {
        switch
            .process(port(1), &frame(mac(2), mac(1), None), now)
            .ports()
    };
    let now = secs(1);
    learn(&mut switch, 2, 2, now);
    assert_eq!(to_two(&mut switch, now), ports(&[2]));
    assert_eq!(to_two(&mut switch, now), ports(&[2]));
    learn(&mut switch, 3, 2, now);
    assert_eq!(to_two(&mut switch, now), ports(&[3]), "followed the move");
    assert!(switch.remove_entry(vlan(1), mac(2)).is_some());
    assert_eq!(
        to_two(&mut switch, now),
        ports(&[2, 3]),
        "unknown again: flood"
    );
    // Learned at second 1 with a 10 s aging time: live in second 10, expired in second 11,
    // even before the sweep reaches it.
    learn(&mut switch, 2, 2, now);
    assert_eq!(to_two(&mut switch, secs(10)), ports(&[2]));
    assert_eq!(to_two(&mut switch, secs(11)), ports(&[2, 3]));
    // A new config with a shorter aging time, between two frames of one second.
    learn(&mut switch, 2, 2, secs(20));
    assert_eq!(to_two(&mut switch, secs(25)), ports(&[2]));
    config.aging_seconds = 3;
    switch.apply(&config).unwrap();
    assert_eq!(to_two(&mut switch, secs(25)), ports(&[2, 3]));
    switch.table().check_invariants().unwrap();
}

/// A burst's repeated known unicast gets its decision again only for the same ingress port, the
/// same tag and an unchanged switch: a link change, a re-pin, a priority tag or another ingress
/// port between two frames each show in the next one.
#[test]
fn repeated_unicast_in_a_burst_sees_links_pins_tags_and_ingress() {
    let mut switch = small(&two_uplinks(true, true, 2));
    let now = secs(1);
    // Host port3's VM (mac 3) and a network MAC on the active uplink port1.
    switch.process(port(3), &frame(MacAddress::BROADCAST, mac(3), None), now);
    switch.process(port(1), &frame(MacAddress::BROADCAST, mac(9), None), now);
    let out = |switch: &mut Small, ingress: u8, tci: Option<u16>| {
        switch.process(port(ingress), &frame(mac(9), mac(3), tci), now)
    };
    let forward = |port_number: u8, edit: Edit| {
        Decision::Forward(dpu_switch::Output {
            port: port(port_number),
            edit,
        })
    };
    assert_eq!(out(&mut switch, 3, None), forward(1, Edit::Keep));
    assert_eq!(out(&mut switch, 3, None), forward(1, Edit::Keep));
    // A priority-tagged frame of the same flow needs the tag popped.
    assert_eq!(out(&mut switch, 3, Some(0x6000)), forward(1, Edit::Pop));
    assert_eq!(out(&mut switch, 3, None), forward(1, Edit::Keep));
    // The active uplink fails: the host is re-pinned to the standby, port2.
    switch.set_link(port(1), false);
    assert_eq!(out(&mut switch, 3, None), forward(2, Edit::Keep));
    switch.set_link(port(1), true);
    assert_eq!(out(&mut switch, 3, None), forward(1, Edit::Keep));
    // The same destination from another host port: that port's own pin, not the kept one.
    assert_eq!(
        switch.process(port(4), &frame(mac(9), mac(4), None), now),
        forward(1, Edit::Keep)
    );
    assert_eq!(
        switch.process(port(2), &frame(mac(9), mac(5), None), now),
        Decision::Drop(DropReason::UplinkToUplink)
    );
    assert_eq!(out(&mut switch, 3, None), forward(1, Edit::Keep));
    // Host to host: a link down between two frames.
    switch.process(port(4), &frame(MacAddress::BROADCAST, mac(4), None), now);
    let to_four = |switch: &mut Small| switch.process(port(3), &frame(mac(4), mac(3), None), now);
    assert_eq!(to_four(&mut switch), forward(4, Edit::Keep));
    switch.set_link(port(4), false);
    assert_eq!(to_four(&mut switch), Decision::Drop(DropReason::PortDown));
}
