//! The running config: switch settings and API tokens, for flash and for JSON.
//!
//! - [`RunningConfig`]: everything that is persisted (the switch config, the API tokens; the
//!   binary format has typed sections, so later issues add theirs, e.g. HA).
//! - [`tokens`]: roles, the hashed [`TokenTable`] with constant-time verify, secrets.
//! - [`codec`]: the versioned binary form; decoding untrusted bytes never panics.
//! - [`store`]: two copies in flash1's config area, written so that a power cut at any point
//!   leaves the old or the new config (the boot-state record's discipline).
//! - [`json`]: the JSON form (`GET`/`PUT /v1/config`) with errors that name a JSON path.
//!
//! Pure logic over `bootstate`'s `Flash` trait: no heap, no unsafe, host-tested against the
//! NOR simulator. `docs/config.md` describes the formats.

#![no_std]
#![forbid(unsafe_code)]

pub mod codec;
pub mod json;
pub mod store;
pub mod tokens;

use dpu_switch::{MAX_PORTS, PortConfig, SwitchConfig};

pub use codec::{DecodeError, EncodeError, decode, encode};
pub use store::{ConfigStore, CopyState, LoadOutcome, StoreError};
pub use tokens::{Origin, Role, Token, TokenError, TokenTable};

/// Everything the DPU keeps across a reboot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunningConfig {
    /// The data-port switch.
    pub switch: SwitchConfig,
    /// The API tokens (only those from the console are saved).
    pub tokens: TokenTable,
}

impl RunningConfig {
    /// The default for `port_count` data ports: a plain learning switch, no tokens.
    pub const fn new(port_count: u8) -> Self {
        RunningConfig {
            switch: SwitchConfig::new(port_count),
            tokens: TokenTable::new(),
        }
    }
}

/// `config` made to fit `port_count` ports: the ports both have keep their settings, new ones
/// get the default; teaming entries for ports that are gone are dropped. The result still
/// needs [`SwitchConfig::validate`] (an uplink left out of the team, for example).
pub fn fit_ports(config: &SwitchConfig, port_count: u8) -> SwitchConfig {
    let mut fitted = config.clone();
    fitted.port_count = port_count;
    let kept = usize::from(config.port_count.min(port_count)).min(MAX_PORTS);
    for (index, port) in fitted.ports.iter_mut().enumerate() {
        if index >= kept {
            *port = PortConfig::DEFAULT;
        }
    }
    fitted
        .teaming
        .active
        .retain(|port| port.number() <= port_count);
    fitted
        .teaming
        .standby
        .retain(|port| port.number() <= port_count);
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpu_switch::{PortId, PortRole, VlanMode};

    #[test]
    fn fitting_keeps_common_ports_and_defaults_new_ones() {
        let mut config = SwitchConfig::new(3);
        config.ports[1].vlan = VlanMode::Access(20);
        config.ports[2].role = PortRole::Uplink;
        config.teaming.active.push(PortId::new(3).unwrap()).unwrap();
        let bigger = fit_ports(&config, 4);
        assert_eq!(bigger.port_count, 4);
        assert_eq!(bigger.ports[1].vlan, VlanMode::Access(20));
        assert_eq!(bigger.ports[3], PortConfig::DEFAULT);
        bigger.validate().unwrap();
        let smaller = fit_ports(&config, 2);
        assert!(smaller.teaming.active.is_empty());
        smaller.validate().unwrap();
    }
}
