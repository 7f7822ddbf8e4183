//! Shared proptest generators: random switch configs (most repaired to be valid) and tokens.

#![allow(dead_code, reason = "each test file uses part of it")]
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use dpu_config::{Role, RunningConfig};
use dpu_switch::{
    LimitPolicy, MacAddress, Policy, PortId, PortRole, SwitchConfig, VlanMode, VlanSet,
};
use proptest::prelude::*;

fn policy(accept: bool) -> Policy {
    if accept {
        Policy::Accept
    } else {
        Policy::Reject
    }
}

prop_compose! {
    fn port_settings()(
        uplink in any::<bool>(),
        trunk in any::<bool>(),
        vlan in 0u16..4200,
        vlans in proptest::collection::vec(0u16..4096, 0..12),
        native in proptest::option::of(1u16..4095),
        mac in proptest::option::of(any::<[u8; 6]>()),
        knobs in any::<[bool; 4]>(),
        limit in 0u32..20000,
    ) -> (bool, VlanMode, Option<MacAddress>, [bool; 4], u32) {
        let mode = if trunk {
            let mut allowed = VlanSet::new();
            for vlan in vlans {
                allowed.insert(vlan);
            }
            VlanMode::Trunk { allowed, native }
        } else {
            VlanMode::Access(vlan)
        };
        (uplink, mode, mac.map(MacAddress), knobs, limit)
    }
}

prop_compose! {
    pub fn any_config()(
        count in 0u8..8,
        ports in proptest::collection::vec(port_settings(), 7),
        aging in 0u32..1_100_000,
        active in proptest::collection::vec(1u8..8, 0..3),
        standby in proptest::collection::vec(1u8..8, 0..3),
        failback in any::<bool>(),
        tokens in proptest::collection::vec(("[a-z]{1,8}", 0usize..3, "[A-Za-z0-9]{16,40}"), 0..5),
        repair in 0u8..4,
    ) -> RunningConfig {
        let mut config = RunningConfig::new(count);
        let switch: &mut SwitchConfig = &mut config.switch;
        switch.aging_seconds = aging;
        for (port, (uplink, mode, mac, knobs, limit)) in switch.ports.iter_mut().zip(ports) {
            port.role = if uplink { PortRole::Uplink } else { PortRole::Host };
            port.vlan = mode;
            port.mac = mac;
            port.security.promiscuous = policy(knobs[0]);
            port.security.mac_changes = policy(knobs[1]);
            port.security.forged_transmits = policy(knobs[2]);
            port.limit_policy = if knobs[3] { LimitPolicy::Allow } else { LimitPolicy::Drop };
            port.mac_limit = limit;
        }
        for number in active {
            let _ = switch.teaming.active.push(PortId::new(number).unwrap());
        }
        for number in standby {
            let _ = switch.teaming.standby.push(PortId::new(number).unwrap());
        }
        switch.teaming.failback = failback;
        if repair != 0 {
            make_valid(switch);
        }
        for (name, role, secret) in tokens {
            let _ = config.tokens.add(&name, Role::ALL[role], secret.as_bytes());
        }
        config
    }
}

/// Most generated configs break some rule; three in four are repaired so that the round trip
/// of valid configs is exercised often.
pub fn make_valid(switch: &mut SwitchConfig) {
    switch.port_count = switch.port_count.min(7);
    switch.aging_seconds = switch.aging_seconds.min(1_000_000);
    switch.teaming.active.clear();
    switch.teaming.standby.clear();
    let mut uplink_vlan = None;
    for port in switch.ports.iter_mut() {
        port.mac_limit = port.mac_limit.min(16384);
        match &mut port.vlan {
            VlanMode::Access(vlan) => *vlan = (*vlan).clamp(1, 4094),
            VlanMode::Trunk { allowed, native } => {
                allowed.remove(0);
                allowed.remove(4095);
                if allowed.is_empty() && native.is_none() {
                    *native = Some(1);
                }
            }
        }
        if port.mac.is_some_and(|mac| !mac.is_unicast()) {
            port.mac = None;
        }
        if port.role == PortRole::Uplink {
            port.mac = None;
            port.security = Default::default();
            match uplink_vlan {
                None => uplink_vlan = Some(port.vlan),
                Some(vlan) => port.vlan = vlan,
            }
        }
    }
}
