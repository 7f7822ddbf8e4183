//! Property tests: random configs and traffic against the switch's promises.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers outside #[test] functions"
)]

mod common;

use std::collections::HashMap;

use common::{mac, port};
use dpu_switch::frame::{IngressTag, apply_edit, parse_header};
use dpu_switch::table::{EntryKind, MacTable};
use dpu_switch::{
    CmdlineKeys, Decision, DropReason, LimitPolicy, MacAddress, Policy, PortConfig, PortId,
    PortRole, Switch, SwitchConfig, Tick, VlanId, VlanMode, VlanSet, parse_cmdline,
};
use proptest::prelude::*;

/// 64 slots, 32 entries: small enough that random traffic fills it.
type Tiny = Switch<64>;

const VLANS: [u16; 3] = [1, 10, 20];

fn vlan_mode() -> impl Strategy<Value = VlanMode> {
    prop_oneof![
        prop::sample::select(VLANS.to_vec()).prop_map(VlanMode::Access),
        (
            prop::collection::vec(prop::sample::select(VLANS.to_vec()), 0..3),
            prop::option::of(prop::sample::select(VLANS.to_vec())),
        )
            .prop_map(|(list, native)| {
                let mut allowed = VlanSet::new();
                for vlan in list {
                    allowed.insert(vlan);
                }
                if allowed.is_empty() && native.is_none() {
                    allowed.insert(10);
                }
                VlanMode::Trunk { allowed, native }
            }),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![Just(Policy::Reject), Just(Policy::Accept)]
}

fn port_config() -> impl Strategy<Value = PortConfig> {
    (
        prop::bool::weighted(0.3),
        vlan_mode(),
        prop::option::of(0u32..6),
        (policy(), policy(), policy()),
        prop_oneof![Just(4096u32), 0u32..6],
        prop::bool::ANY,
    )
        .prop_map(|(uplink, vlan, mac_number, knobs, mac_limit, allow)| {
            let mut config = PortConfig {
                vlan,
                mac_limit,
                limit_policy: if allow {
                    LimitPolicy::Allow
                } else {
                    LimitPolicy::Drop
                },
                ..PortConfig::DEFAULT
            };
            if uplink {
                config.role = PortRole::Uplink;
            } else {
                config.mac = mac_number.map(mac);
                config.security.promiscuous = knobs.0;
                config.security.mac_changes = knobs.1;
                config.security.forged_transmits = knobs.2;
            }
            config
        })
}

/// A valid config: uplinks share the first uplink's VLANs; teaming is random when it fits.
fn config() -> impl Strategy<Value = SwitchConfig> {
    (
        2u8..=7,
        prop::collection::vec(port_config(), 7),
        prop::bool::ANY,
        prop::bool::ANY,
        prop_oneof![Just(300u32), 0u32..5],
    )
        .prop_map(|(count, ports, standby, failback, aging)| {
            let mut config = SwitchConfig::new(count);
            for (index, settings) in ports.into_iter().enumerate() {
                config.ports[index] = settings;
            }
            let uplinks: Vec<PortId> = config.uplinks().collect();
            if let Some(first) = uplinks.first() {
                let mode = config.port(*first).vlan;
                for uplink in &uplinks {
                    config.port_mut(*uplink).vlan = mode;
                }
                if standby && uplinks.len() > 1 {
                    let (active, rest) = uplinks.split_at(uplinks.len() / 2);
                    config.teaming.active.extend_from_slice(active).unwrap();
                    config.teaming.standby.extend_from_slice(rest).unwrap();
                }
            }
            config.teaming.failback = failback;
            config.aging_seconds = aging;
            config.validate().unwrap();
            config
        })
}

#[derive(Clone, Debug)]
enum Event {
    Frame {
        ingress: u8,
        destination: u32,
        source: u32,
        tag: Option<u16>,
        cut: Option<usize>,
    },
    Link(u8, bool),
    Time(u64),
    Maintain,
    /// Apply the n-th spare config (a valid one, then a spoiled copy that must change nothing).
    Apply(usize),
    /// The last frame again, as a burst repeats a flow ([`repeats`] makes it that frame).
    Again,
}

/// `events` with each [`Event::Again`] replaced by the frame before it (dropped if none).
fn repeats(events: &[Event]) -> Vec<Event> {
    let mut last = None;
    events
        .iter()
        .filter_map(|event| match event {
            Event::Again => last.clone(),
            Event::Frame { .. } => {
                last = Some(event.clone());
                last.clone()
            }
            other => Some(other.clone()),
        })
        .collect()
}

fn event() -> impl Strategy<Value = Event> {
    events_weighted([20, 1, 2, 2, 1, 8], 44)
}

/// Bursts of repeats with changes in between, among a few unicast addresses (so most
/// destinations are known): for the kept entries' property.
fn burst_event() -> impl Strategy<Value = Event> {
    events_weighted([10, 4, 1, 1, 1, 10], 6)
}

/// Events, weighted: frame, link change, time step, maintenance, config, the last frame again.
/// Frames use the first `addresses` of the address pool ([`address`]).
fn events_weighted(weights: [u32; 6], addresses: u32) -> impl Strategy<Value = Event> {
    let tag = prop_oneof![
        3 => Just(None),
        1 => Just(Some(0x2000)),
        3 => prop::sample::select(vec![1u16, 10, 20, 30, 0x0fff]).prop_map(Some),
    ];
    prop_oneof![
        weights[0] => (
            1u8..=7,
            0..addresses,
            0..addresses.min(42),
            tag,
            prop::option::weighted(0.05, 0usize..20),
        )
            .prop_map(|(ingress, destination, source, tag, cut)| Event::Frame {
                ingress, destination, source, tag, cut
            }),
        weights[1] => (1u8..=7, prop::bool::ANY).prop_map(|(port, up)| Event::Link(port, up)),
        weights[2] => (0u64..3000).prop_map(Event::Time),
        weights[3] => Just(Event::Maintain),
        weights[4] => (0usize..4).prop_map(Event::Apply),
        weights[5] => Just(Event::Again),
    ]
}

/// Address pool: 0..40 unicast, 40 a source that is multicast, 41 zero, 42/43 group addresses.
fn address(number: u32) -> MacAddress {
    match number {
        40 | 42 => MacAddress([0x01, 0x00, 0x5e, 0, 0, 1]),
        41 => MacAddress::ZERO,
        43 => MacAddress::BROADCAST,
        _ => mac(number),
    }
}

fn build(destination: MacAddress, source: MacAddress, tag: Option<u16>) -> Vec<u8> {
    common::frame(destination, source, tag)
}

/// The VLAN the model says a frame belongs to on `mode`.
fn model_vlan(mode: &VlanMode, tag: IngressTag) -> Option<VlanId> {
    match tag {
        IngressTag::Untagged | IngressTag::Priority(_) => mode.untagged_vlan(),
        IngressTag::Vlan(tci) => VlanId::new(tci & 0x0fff).filter(|vlan| mode.carries(*vlan)),
    }
}

fn run(
    first: &SwitchConfig,
    spares: &[SwitchConfig],
    events: &[Event],
) -> Result<(), TestCaseError> {
    let mut switch = Box::new(Tiny::new());
    switch.apply(first).unwrap();
    let mut config = first.clone();
    let mut now = Tick::from_secs(1);
    let mut decided_tx = [0u64; 7];
    for event in &repeats(events) {
        match *event {
            Event::Again => {}
            Event::Link(number, up) => {
                switch.set_link(port(number), up);
            }
            Event::Time(millis) => now = Tick(now.0 + millis),
            Event::Maintain => switch.maintain(now),
            Event::Apply(index) => {
                let mut spoiled = spares[index % spares.len()].clone();
                spoiled.aging_seconds = u32::MAX;
                prop_assert!(switch.apply(&spoiled).is_err());
                prop_assert_eq!(switch.config(), &config);
                config = spares[index % spares.len()].clone();
                switch.apply(&config).unwrap();
                // Counters are per switch lifetime; the tx model follows them.
            }
            Event::Frame {
                ingress,
                destination,
                source,
                tag,
                cut,
            } => {
                let ingress = port(ingress);
                let mut bytes = build(address(destination), address(source), tag);
                if let Some(cut) = cut {
                    bytes.truncate(cut);
                }
                let decision = switch.process(ingress, &bytes, now);
                if !config.has_port(ingress) {
                    prop_assert_eq!(decision, Decision::Drop(DropReason::UnknownPort));
                    continue;
                }
                let outputs = decision.ports();
                prop_assert!(!outputs.contains(ingress), "back out of its ingress port");
                if outputs.is_empty() {
                    continue;
                }
                let header = parse_header(&bytes).unwrap();
                let ingress_mode = config.port(ingress).vlan;
                let vlan = model_vlan(&ingress_mode, header.tag);
                prop_assert!(vlan.is_some(), "forwarded a frame its port does not carry");
                let vlan = vlan.unwrap();
                let from_uplink = config.port(ingress).role == PortRole::Uplink;
                for egress in outputs.iter() {
                    decided_tx[egress.index()] += 1;
                    let egress_config = config.port(egress);
                    prop_assert!(egress_config.vlan.carries(vlan), "crossed vlans");
                    prop_assert!(switch.link(egress), "sent to a port whose link is down");
                    let to_uplink = egress_config.role == PortRole::Uplink;
                    prop_assert!(!(from_uplink && to_uplink), "uplink to uplink");
                    if from_uplink && address(destination).is_multicast() {
                        prop_assert_eq!(switch.pinned_uplink(egress), Some(ingress));
                    }
                    // The edit gives the frame exactly the tag the egress port needs.
                    let mut buffer = vec![0u8; 128 + bytes.len()];
                    buffer[128..].copy_from_slice(&bytes);
                    let edit = decision.edit_for(egress).unwrap();
                    let (start, length) = apply_edit(&mut buffer, 128, bytes.len(), edit).unwrap();
                    let sent = parse_header(&buffer[start..start + length]).unwrap();
                    if egress_config.vlan.untagged(vlan) {
                        prop_assert_eq!(sent.tag, IngressTag::Untagged);
                    } else {
                        match sent.tag {
                            IngressTag::Vlan(tci) => prop_assert_eq!(tci & 0x0fff, vlan.get()),
                            other => prop_assert!(false, "expected a tag, got {other:?}"),
                        }
                    }
                    prop_assert_eq!(sent.source, header.source);
                    prop_assert_eq!(sent.destination, header.destination);
                }
            }
        }
        let table = switch.table();
        prop_assert!(
            table.check_invariants().is_ok(),
            "{:?}",
            table.check_invariants()
        );
        prop_assert!(switch.mac_count() <= MacTable::<64>::CAPACITY);
        for port in config.port_ids() {
            let limit = config.port(port).mac_limit as usize;
            prop_assert!(switch.learned_on(port) <= limit, "{port} over its limit");
        }
    }
    // Counters add up.
    // Over every port that ever existed: counters outlive a config that removes a port.
    let mut dropped = 0;
    for number in 1..=7 {
        let port = port(number);
        let counters = switch.port_counters(port);
        prop_assert_eq!(
            counters.rx_packets,
            counters.forwarded + counters.flooded + counters.dropped
        );
        prop_assert_eq!(counters.tx_packets, decided_tx[port.index()]);
        dropped += counters.dropped;
    }
    let by_reason: u64 = DropReason::ALL
        .iter()
        .filter(|reason| **reason != DropReason::UnknownPort)
        .map(|reason| switch.counters().dropped(*reason))
        .sum();
    prop_assert_eq!(dropped, by_reason);
    Ok(())
}

/// The switch with the entries it keeps for a burst's repeats (the last source refreshed, the
/// last known unicast decided) against one that forgets them before every frame: the same
/// decisions, counters, table and notify requests. Each frame is sent one to three times in a
/// row, as a burst repeats it, and [`Event::Again`] repeats it after other events.
fn run_against_forgetful(
    first: &SwitchConfig,
    spares: &[SwitchConfig],
    events: &[Event],
) -> Result<(), TestCaseError> {
    let mut keeping = Box::new(Tiny::new());
    let mut forgetting = Box::new(Tiny::new());
    keeping.apply(first).unwrap();
    forgetting.apply(first).unwrap();
    let mut now = Tick::from_secs(1);
    for event in &repeats(events) {
        match *event {
            Event::Again => {}
            Event::Link(number, up) => {
                keeping.set_link(port(number), up);
                forgetting.set_link(port(number), up);
            }
            Event::Time(millis) => now = Tick(now.0 + millis),
            Event::Maintain => {
                keeping.maintain(now);
                forgetting.maintain(now);
            }
            Event::Apply(index) => {
                let config = &spares[index % spares.len()];
                keeping.apply(config).unwrap();
                forgetting.apply(config).unwrap();
            }
            Event::Frame {
                ingress,
                destination,
                source,
                tag,
                cut,
            } => {
                let mut bytes = build(address(destination), address(source), tag);
                if let Some(cut) = cut {
                    bytes.truncate(cut);
                }
                for _ in 0..=(destination + source) % 3 {
                    forgetting.forget_recent();
                    let kept = keeping.process(port(ingress), &bytes, now);
                    let fresh = forgetting.process(port(ingress), &bytes, now);
                    prop_assert_eq!(kept, fresh);
                }
            }
        }
        while let Some(fresh) = forgetting.next_notification() {
            prop_assert_eq!(keeping.next_notification(), Some(fresh));
        }
        prop_assert_eq!(keeping.next_notification(), None);
    }
    prop_assert_eq!(keeping.counters(), forgetting.counters());
    for number in 1..=7 {
        prop_assert_eq!(
            keeping.port_counters(port(number)),
            forgetting.port_counters(port(number))
        );
    }
    let kept: Vec<_> = keeping.entries().collect();
    let fresh: Vec<_> = forgetting.entries().collect();
    prop_assert_eq!(kept, fresh);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_traffic_keeps_every_promise(
        config in config(),
        spares in prop::collection::vec(config(), 1..3),
        events in prop::collection::vec(event(), 1..300),
    ) {
        run(&config, &spares, &events)?;
    }

    #[test]
    fn kept_entries_change_no_decision(
        config in config(),
        spares in prop::collection::vec(config(), 1..3),
        events in prop::collection::vec(burst_event(), 1..300),
    ) {
        run_against_forgetful(&config, &spares, &events)?;
    }

    #[test]
    fn config_keys_round_trip(config in config()) {
        let text = CmdlineKeys(&config).to_string();
        let parsed = parse_cmdline(config.port_count, &text);
        prop_assert_eq!(parsed, Ok(config), "{}", text);
    }

    #[test]
    fn table_matches_a_model(
        operations in prop::collection::vec((0u8..4, 0u32..60, 1u16..3, 1u8..4, 0u64..20), 1..400),
    ) {
        let mut table = MacTable::<64>::new();
        let mut model: HashMap<(u16, u32), (u8, bool, u32)> = HashMap::new();
        for (operation, number, vlan, port_number, seconds) in operations {
            let vlan = VlanId::new(vlan).unwrap();
            let key = (vlan.get(), number);
            let now = Tick::from_secs(seconds);
            match operation {
                0 | 1 => {
                    let kind = if operation == 0 { EntryKind::Learned } else { EntryKind::Static };
                    let result = table.insert(vlan, mac(number), port(port_number), kind, now);
                    if result.is_ok() {
                        model.insert(key, (port_number, kind == EntryKind::Static, now.coarse_seconds()));
                    } else {
                        // Only a new key can fail to fit (full, or crowded around its home).
                        prop_assert!(!model.contains_key(&key));
                    }
                }
                2 => {
                    prop_assert_eq!(table.remove(vlan, mac(number)).is_some(), model.remove(&key).is_some());
                }
                _ => {
                    let aging = 5;
                    table.age(now, aging);
                    // The sweep is incremental: only drop from the model what the table dropped,
                    // and only ever expired learned entries.
                    let mut gone = Vec::new();
                    for (key, (_, is_static, last_seen)) in &model {
                        let vlan = VlanId::new(key.0).unwrap();
                        if table.get(vlan, mac(key.1)).is_none() {
                            prop_assert!(!is_static, "aging removed a static entry");
                            prop_assert!(MacTable::<64>::expired(*last_seen, now, aging));
                            gone.push(*key);
                        }
                    }
                    for key in gone {
                        model.remove(&key);
                    }
                }
            }
            prop_assert!(table.check_invariants().is_ok(), "{:?}", table.check_invariants());
            prop_assert_eq!(table.len(), model.len());
            for (key, (port_number, is_static, _)) in &model {
                let entry = table.get(VlanId::new(key.0).unwrap(), mac(key.1));
                prop_assert!(entry.is_some());
                let entry = entry.unwrap();
                prop_assert_eq!(entry.port, port(*port_number));
                prop_assert_eq!(entry.kind == EntryKind::Static, *is_static);
            }
        }
    }
}
