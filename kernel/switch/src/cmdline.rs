//! Switch config as kernel command-line keys: parser and formatter.
//!
//! Words are `key=value`, separated by spaces; words not starting with `switch.` are ignored;
//! a repeated key: the last one wins. `N` is a data port number (`port1` .. `port7`).
//!
//! | key                              | value                                 | default  |
//! |----------------------------------|---------------------------------------|----------|
//! | `switch.portN`                   | `host` or `uplink`                    | `host`   |
//! | `switch.portN.vlan`              | `V`: access port on VLAN V (1..4094)  | `1`      |
//! | `switch.portN.trunk`             | `LIST` or `LIST:native=V`; LIST is `V`, `A-B` joined by `,` (or `none`) | access |
//! | `switch.portN.mac`               | `aa:bb:cc:dd:ee:ff`: the VM's MAC     | none     |
//! | `switch.portN.promiscuous`       | `accept` or `reject`                  | `reject` |
//! | `switch.portN.mac-changes`       | `accept` or `reject`                  | `reject` |
//! | `switch.portN.forged-transmits`  | `accept` or `reject`                  | `reject` |
//! | `switch.portN.mac-limit`         | learned MACs, 0..16384                | `4096`   |
//! | `switch.portN.mac-limit-policy`  | `drop` or `allow`                     | `drop`   |
//! | `switch.teaming.active`          | `port1,port2` (failover order)        | every uplink |
//! | `switch.teaming.standby`         | `port3` (or `none`)                   | none     |
//! | `switch.teaming.failback`        | `on` or `off`                         | `on`     |
//! | `switch.aging`                   | seconds, 0 = never                    | `300`    |
//!
//! Example: `switch.port1=uplink switch.port1.trunk=10,20:native=1 switch.port2.vlan=10
//! switch.port2.mac=52:54:00:00:00:02`. [`parse_cmdline`] validates the result as a whole;
//! [`CmdlineKeys`] writes a config back as the keys that differ from the default.

use core::fmt;

use crate::config::{ConfigError, DEFAULT_AGING_SECONDS};
use crate::config::{
    LimitPolicy, Policy, PortConfig, PortList, PortRole, SwitchConfig, TeamingConfig, VlanMode,
    VlanSet,
};
use crate::types::{MacAddress, PortId, VlanId};

/// Prefix of every switch key.
pub const PREFIX: &str = "switch.";

/// What is wrong with one `key=value` word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not a key this module knows.
    UnknownKey,
    /// A key without `=value`.
    MissingValue,
    /// The key names a port past the ports present (how many there are).
    NoSuchPort(u8),
    /// A VLAN id in a trunk list outside 0..4095.
    VlanOutOfRange(u32),
    /// The value is not what the key takes; the text says what it takes.
    Expected(&'static str),
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::UnknownKey => formatter.write_str("unknown switch key"),
            KeyProblem::MissingValue => formatter.write_str("missing =value"),
            KeyProblem::NoSuchPort(count) => {
                write!(formatter, "no such data port ({count} present)")
            }
            KeyProblem::VlanOutOfRange(vlan) => write!(
                formatter,
                "vlan {vlan} out of range {}..{}",
                VlanId::MIN,
                VlanId::MAX
            ),
            KeyProblem::Expected(what) => write!(formatter, "expected {what}"),
        }
    }
}

/// Why a command line's switch keys were refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// One word is bad.
    Key {
        /// The word as written.
        word: &'a str,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// Every word parsed, but the config as a whole is not valid.
    Invalid(ConfigError),
}

impl fmt::Display for CmdlineError<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CmdlineError::Key { word, problem } => write!(formatter, "{word}: {problem}"),
            CmdlineError::Invalid(error) => write!(formatter, "{error}"),
        }
    }
}

/// The switch config for `port_count` data ports from the `switch.*` words of `cmdline`,
/// starting from the default ([`SwitchConfig::new`]) and validated.
pub fn parse_cmdline(port_count: u8, cmdline: &str) -> Result<SwitchConfig, CmdlineError<'_>> {
    let mut config = SwitchConfig::new(port_count);
    for word in cmdline.split_ascii_whitespace() {
        let Some(rest) = word.strip_prefix(PREFIX) else {
            continue;
        };
        let (key, value) = match rest.split_once('=') {
            Some((key, value)) => (key, value),
            None => {
                return Err(CmdlineError::Key {
                    word,
                    problem: KeyProblem::MissingValue,
                });
            }
        };
        config
            .set(key, value)
            .map_err(|problem| CmdlineError::Key { word, problem })?;
    }
    config.validate().map_err(CmdlineError::Invalid)?;
    Ok(config)
}

const POLICY: &str = "accept or reject";

fn parse_policy(value: &str) -> Result<Policy, KeyProblem> {
    match value {
        "accept" => Ok(Policy::Accept),
        "reject" => Ok(Policy::Reject),
        _ => Err(KeyProblem::Expected(POLICY)),
    }
}

fn parse_number<T: core::str::FromStr>(value: &str, what: &'static str) -> Result<T, KeyProblem> {
    if value.is_empty() || !value.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(KeyProblem::Expected(what));
    }
    value.parse().map_err(|_| KeyProblem::Expected(what))
}

const VLAN_NUMBER: &str = "a vlan number 1..4094";

fn parse_vlan_list(list: &str) -> Result<VlanSet, KeyProblem> {
    let mut set = VlanSet::new();
    if list == "none" {
        return Ok(set);
    }
    for item in list.split(',') {
        let (first, last) = match item.split_once('-') {
            Some((first, last)) => (first, last),
            None => (item, item),
        };
        let first: u32 = parse_number(first, "vlans like 10,20,30-40")?;
        let last: u32 = parse_number(last, "vlans like 10,20,30-40")?;
        for vlan in [first, last] {
            if vlan >= 4096 {
                return Err(KeyProblem::VlanOutOfRange(vlan));
            }
        }
        if first > last {
            return Err(KeyProblem::Expected("a range low-high"));
        }
        for vlan in first..=last {
            // Below 4096, checked above.
            set.insert(vlan as u16);
        }
    }
    Ok(set)
}

fn parse_port_list(value: &str, port_count: u8) -> Result<PortList, KeyProblem> {
    let mut list = PortList::new();
    if value == "none" {
        return Ok(list);
    }
    for item in value.split(',') {
        let port = PortId::parse(item).ok_or(KeyProblem::Expected("ports like port1,port2"))?;
        if port.number() > port_count {
            return Err(KeyProblem::NoSuchPort(port_count));
        }
        list.push(port)
            .map_err(|_| KeyProblem::Expected("at most 7 ports"))?;
    }
    Ok(list)
}

impl SwitchConfig {
    /// Sets one key (without the `switch.` prefix) from its value text. Only the value's form
    /// is checked here; [`SwitchConfig::validate`] checks the whole.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), KeyProblem> {
        let port_count = self.port_count;
        match key {
            "aging" => {
                self.aging_seconds = parse_number(value, "seconds (0: never)")?;
                return Ok(());
            }
            "teaming.active" => {
                self.teaming.active = parse_port_list(value, port_count)?;
                return Ok(());
            }
            "teaming.standby" => {
                self.teaming.standby = parse_port_list(value, port_count)?;
                return Ok(());
            }
            "teaming.failback" => {
                self.teaming.failback = match value {
                    "on" => true,
                    "off" => false,
                    _ => return Err(KeyProblem::Expected("on or off")),
                };
                return Ok(());
            }
            _ => {}
        }
        let (port_name, field) = key.split_once('.').unwrap_or((key, ""));
        if !port_name.starts_with("port") {
            return Err(KeyProblem::UnknownKey);
        }
        let port = PortId::parse(port_name).ok_or(KeyProblem::UnknownKey)?;
        if port.number() > port_count {
            return Err(KeyProblem::NoSuchPort(port_count));
        }
        let config = self.port_mut(port);
        match field {
            "" => {
                config.role = match value {
                    "host" => PortRole::Host,
                    "uplink" => PortRole::Uplink,
                    _ => return Err(KeyProblem::Expected("host or uplink")),
                }
            }
            "vlan" => config.vlan = VlanMode::Access(parse_number(value, VLAN_NUMBER)?),
            "trunk" => {
                let (list, native) = match value.split_once(":native=") {
                    Some((list, native)) => (list, Some(parse_number(native, VLAN_NUMBER)?)),
                    None => (value, None),
                };
                config.vlan = VlanMode::Trunk {
                    allowed: parse_vlan_list(list)?,
                    native,
                };
            }
            "mac" => {
                config.mac = Some(
                    MacAddress::parse(value)
                        .ok_or(KeyProblem::Expected("a mac like 52:54:00:00:00:01"))?,
                )
            }
            "promiscuous" => config.security.promiscuous = parse_policy(value)?,
            "mac-changes" => config.security.mac_changes = parse_policy(value)?,
            "forged-transmits" => config.security.forged_transmits = parse_policy(value)?,
            "mac-limit" => config.mac_limit = parse_number(value, "a number of macs")?,
            "mac-limit-policy" => {
                config.limit_policy = match value {
                    "drop" => LimitPolicy::Drop,
                    "allow" => LimitPolicy::Allow,
                    _ => return Err(KeyProblem::Expected("drop or allow")),
                }
            }
            _ => return Err(KeyProblem::UnknownKey),
        }
        Ok(())
    }
}

/// Formats a config as the `switch.*` words that differ from the default, space-separated;
/// [`parse_cmdline`] of the text gives the config back.
pub struct CmdlineKeys<'a>(pub &'a SwitchConfig);

fn write_ports(formatter: &mut fmt::Formatter<'_>, list: &PortList) -> fmt::Result {
    if list.is_empty() {
        return formatter.write_str("none");
    }
    for (position, port) in list.iter().enumerate() {
        if position > 0 {
            formatter.write_str(",")?;
        }
        write!(formatter, "{port}")?;
    }
    Ok(())
}

impl fmt::Display for CmdlineKeys<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = self.0;
        let default = PortConfig::DEFAULT;
        let mut separator = "";
        let mut word = |formatter: &mut fmt::Formatter<'_>| {
            let result = formatter.write_str(separator);
            separator = " ";
            result
        };
        for port in config.port_ids() {
            let settings = config.port(port);
            if settings.role != default.role {
                word(formatter)?;
                write!(formatter, "{PREFIX}{port}={}", settings.role)?;
            }
            if settings.vlan != default.vlan {
                word(formatter)?;
                match &settings.vlan {
                    VlanMode::Access(vlan) => write!(formatter, "{PREFIX}{port}.vlan={vlan}")?,
                    VlanMode::Trunk { allowed, native } => {
                        write!(formatter, "{PREFIX}{port}.trunk={allowed}")?;
                        if let Some(native) = native {
                            write!(formatter, ":native={native}")?;
                        }
                    }
                }
            }
            if let Some(mac) = settings.mac {
                word(formatter)?;
                write!(formatter, "{PREFIX}{port}.mac={mac}")?;
            }
            let knobs = [
                (
                    "promiscuous",
                    settings.security.promiscuous,
                    default.security.promiscuous,
                ),
                (
                    "mac-changes",
                    settings.security.mac_changes,
                    default.security.mac_changes,
                ),
                (
                    "forged-transmits",
                    settings.security.forged_transmits,
                    default.security.forged_transmits,
                ),
            ];
            for (name, value, default_value) in knobs {
                if value != default_value {
                    word(formatter)?;
                    write!(formatter, "{PREFIX}{port}.{name}={value}")?;
                }
            }
            if settings.mac_limit != default.mac_limit {
                word(formatter)?;
                write!(formatter, "{PREFIX}{port}.mac-limit={}", settings.mac_limit)?;
            }
            if settings.limit_policy != default.limit_policy {
                word(formatter)?;
                write!(
                    formatter,
                    "{PREFIX}{port}.mac-limit-policy={}",
                    settings.limit_policy
                )?;
            }
        }
        let teaming = &config.teaming;
        let default_teaming = TeamingConfig::DEFAULT;
        if !teaming.active.is_empty() {
            word(formatter)?;
            write!(formatter, "{PREFIX}teaming.active=")?;
            write_ports(formatter, &teaming.active)?;
        }
        if !teaming.standby.is_empty() {
            word(formatter)?;
            write!(formatter, "{PREFIX}teaming.standby=")?;
            write_ports(formatter, &teaming.standby)?;
        }
        if teaming.failback != default_teaming.failback {
            word(formatter)?;
            let value = if teaming.failback { "on" } else { "off" };
            write!(formatter, "{PREFIX}teaming.failback={value}")?;
        }
        if config.aging_seconds != DEFAULT_AGING_SECONDS {
            word(formatter)?;
            write!(formatter, "{PREFIX}aging={}", config.aging_seconds)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};

    use super::*;

    fn port(n: u8) -> PortId {
        PortId::new(n).unwrap()
    }

    #[test]
    fn empty_command_line_is_the_default() {
        let config = parse_cmdline(3, "console=ttyAMA0 mgmt.ip=dhcp").unwrap();
        assert_eq!(config, SwitchConfig::new(3));
        assert_eq!(CmdlineKeys(&config).to_string(), "");
    }

    #[test]
    fn every_key() {
        let cmdline = "switch.port1=uplink switch.port2=uplink \
            switch.port1.trunk=10,20-22:native=1 switch.port2.trunk=10,20-22:native=1 \
            switch.port3.vlan=10 switch.port3.mac=52:54:00:00:00:03 \
            switch.port3.promiscuous=accept switch.port3.mac-changes=accept \
            switch.port3.forged-transmits=accept switch.port4.mac-limit=16 \
            switch.port4.mac-limit-policy=allow switch.teaming.active=port2 \
            switch.teaming.standby=port1 switch.teaming.failback=off switch.aging=600";
        let config = parse_cmdline(4, cmdline).unwrap();
        assert_eq!(config.port(port(1)).role, PortRole::Uplink);
        let VlanMode::Trunk { allowed, native } = config.port(port(1)).vlan else {
            panic!("trunk expected");
        };
        assert_eq!(
            allowed.iter().collect::<std::vec::Vec<_>>(),
            [10, 20, 21, 22]
        );
        assert_eq!(native, Some(1));
        let host = config.port(port(3));
        assert_eq!(host.vlan, VlanMode::Access(10));
        assert_eq!(host.mac, MacAddress::parse("52:54:00:00:00:03"));
        assert_eq!(host.security.promiscuous, Policy::Accept);
        assert_eq!(host.security.mac_changes, Policy::Accept);
        assert_eq!(host.security.forged_transmits, Policy::Accept);
        assert_eq!(config.port(port(4)).mac_limit, 16);
        assert_eq!(config.port(port(4)).limit_policy, LimitPolicy::Allow);
        assert_eq!(config.teaming.active.as_slice(), &[port(2)]);
        assert_eq!(config.teaming.standby.as_slice(), &[port(1)]);
        assert!(!config.teaming.failback);
        assert_eq!(config.aging_seconds, 600);
        // Formatting gives the same words back (in key order).
        let text = CmdlineKeys(&config).to_string();
        assert_eq!(parse_cmdline(4, &text).unwrap(), config);
        let mut words: std::vec::Vec<_> = text.split(' ').collect();
        let mut original: std::vec::Vec<_> = cmdline.split_ascii_whitespace().collect();
        words.sort_unstable();
        original.sort_unstable();
        assert_eq!(words, original);
    }

    #[test]
    fn last_repeat_wins() {
        let config = parse_cmdline(2, "switch.port1.vlan=10 switch.port1.vlan=20").unwrap();
        assert_eq!(config.port(port(1)).vlan, VlanMode::Access(20));
    }

    #[test]
    fn errors_name_the_word() {
        let cases = [
            (
                "switch.port3.vlan=5000",
                "port3: vlan 5000 out of range 1..4094",
            ),
            (
                "switch.port3.vlan=ten",
                "switch.port3.vlan=ten: expected a vlan number 1..4094",
            ),
            (
                "switch.port5=uplink",
                "switch.port5=uplink: no such data port (3 present)",
            ),
            (
                "switch.port1=spine",
                "switch.port1=spine: expected host or uplink",
            ),
            (
                "switch.port1.colour=red",
                "switch.port1.colour=red: unknown switch key",
            ),
            ("switch.ports=1", "switch.ports=1: unknown switch key"),
            ("switch.port1", "switch.port1: missing =value"),
            (
                "switch.port1.trunk=10,5000",
                "switch.port1.trunk=10,5000: vlan 5000 out of range 1..4094",
            ),
            ("switch.port1.trunk=0", "port1: vlan 0 out of range 1..4094"),
            (
                "switch.port1.trunk=20-10",
                "switch.port1.trunk=20-10: expected a range low-high",
            ),
            ("switch.port1.trunk=none", "port1: trunk carries no vlan"),
            (
                "switch.port1.mac=52:54",
                "switch.port1.mac=52:54: expected a mac like 52:54:00:00:00:01",
            ),
            (
                "switch.port1.promiscuous=yes",
                "switch.port1.promiscuous=yes: expected accept or reject",
            ),
            (
                "switch.port1.mac-limit=-1",
                "switch.port1.mac-limit=-1: expected a number of macs",
            ),
            (
                "switch.port1.mac-limit-policy=warn",
                "switch.port1.mac-limit-policy=warn: expected drop or allow",
            ),
            (
                "switch.teaming.active=port1",
                "teaming: port1 is not an uplink",
            ),
            (
                "switch.teaming.active=eth0",
                "switch.teaming.active=eth0: expected ports like port1,port2",
            ),
            (
                "switch.teaming.failback=yes",
                "switch.teaming.failback=yes: expected on or off",
            ),
            (
                "switch.aging=forever",
                "switch.aging=forever: expected seconds (0: never)",
            ),
            (
                "switch.aging=99999999",
                "aging: 99999999 s exceeds the longest aging time 1000000 s",
            ),
        ];
        for (cmdline, message) in cases {
            let error = parse_cmdline(3, cmdline).unwrap_err();
            assert_eq!(error.to_string(), message, "{cmdline}");
        }
    }

    #[test]
    fn native_only_trunk_round_trips() {
        let config = parse_cmdline(2, "switch.port2.trunk=none:native=7").unwrap();
        let text = CmdlineKeys(&config).to_string();
        assert_eq!(text, "switch.port2.trunk=none:native=7");
        assert_eq!(parse_cmdline(2, &text).unwrap(), config);
        let _: String = text;
    }
}
