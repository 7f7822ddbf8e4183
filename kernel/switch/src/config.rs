//! The switch config: ports, roles, VLANs, policy, teaming, aging.
//!
//! One [`SwitchConfig`] describes the whole switch. [`SwitchConfig::validate`] names the first
//! bad field ("port2: vlan 5000 out of range 1..4094"); `Switch::apply` validates before it
//! changes anything, so a bad config leaves the running one as it was.

use core::fmt;

use heapless::Vec;

use crate::table::MAC_TABLE_CAPACITY;
use crate::types::{MAX_PORTS, MacAddress, PortId, VlanId};

/// Default aging time: 300 s (Linux bridge, Open vSwitch).
pub const DEFAULT_AGING_SECONDS: u32 = 300;
/// Longest aging time accepted (about 11.5 days); 0 means "never age".
pub const MAX_AGING_SECONDS: u32 = 1_000_000;
/// Default per-port limit of learned MACs (NSX's).
pub const DEFAULT_MAC_LIMIT: u32 = 4096;

/// What a data port faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PortRole {
    /// The server's VMs (a VDS "virtual port"): security policy applies, teaming pins it.
    #[default]
    Host,
    /// The physical network (a top-of-rack switch): teamed, never bridged to another uplink.
    Uplink,
}

impl PortRole {
    /// The word used in config keys and on the console.
    pub const fn name(self) -> &'static str {
        match self {
            PortRole::Host => "host",
            PortRole::Uplink => "uplink",
        }
    }
}

impl fmt::Display for PortRole {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// A set of VLAN ids 0..=4095 (a 4096-bit map; valid configs hold only 1..=4094).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VlanSet([u64; 64]);

impl fmt::Debug for VlanSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "VlanSet({self})")
    }
}

impl Default for VlanSet {
    fn default() -> Self {
        Self::new()
    }
}

impl VlanSet {
    /// No VLANs.
    pub const fn new() -> Self {
        VlanSet([0; 64])
    }

    /// Adds `vlan`; false if it is not below 4096.
    pub fn insert(&mut self, vlan: u16) -> bool {
        if vlan >= 4096 {
            return false;
        }
        self.0[usize::from(vlan / 64)] |= 1 << (vlan % 64);
        true
    }

    /// Removes `vlan`.
    pub fn remove(&mut self, vlan: u16) {
        if vlan < 4096 {
            self.0[usize::from(vlan / 64)] &= !(1 << (vlan % 64));
        }
    }

    /// Whether `vlan` is a member.
    pub fn contains(&self, vlan: u16) -> bool {
        vlan < 4096 && self.0[usize::from(vlan / 64)] & (1 << (vlan % 64)) != 0
    }

    /// No members.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|word| *word == 0)
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..4096u16).filter(|vlan| self.contains(*vlan))
    }

    /// Members as ascending inclusive ranges (`10-12,20` is `(10, 12)`, `(20, 20)`).
    pub fn ranges(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        let mut next = 0u16;
        core::iter::from_fn(move || {
            while next < 4096 && !self.contains(next) {
                next += 1;
            }
            if next >= 4096 {
                return None;
            }
            let first = next;
            while next < 4096 && self.contains(next) {
                next += 1;
            }
            Some((first, next - 1))
        })
    }
}

impl fmt::Display for VlanSet {
    /// `10-12,20` (the config key syntax), or `none`.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (first, last) in self.ranges() {
            if any {
                formatter.write_str(",")?;
            }
            any = true;
            if first == last {
                write!(formatter, "{first}")?;
            } else {
                write!(formatter, "{first}-{last}")?;
            }
        }
        if !any {
            formatter.write_str("none")?;
        }
        Ok(())
    }
}

/// How a port carries VLANs. Ids are raw numbers so validation can name a bad one.
// The trunk's 512-byte bit map lives inline: no heap, and configs are few.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VlanMode {
    /// One VLAN, untagged on the wire (priority-tagged frames are accepted into it).
    Access(u16),
    /// Tagged VLANs from `allowed`; untagged and priority-tagged frames belong to `native`,
    /// which goes out untagged (and is carried even if not in `allowed`).
    Trunk {
        /// VLANs carried tagged.
        allowed: VlanSet,
        /// The untagged VLAN, if any.
        native: Option<u16>,
    },
}

impl Default for VlanMode {
    fn default() -> Self {
        VlanMode::Access(VlanId::DEFAULT.get())
    }
}

impl VlanMode {
    /// Whether the port carries `vlan`.
    pub fn carries(&self, vlan: VlanId) -> bool {
        match self {
            VlanMode::Access(access) => *access == vlan.get(),
            VlanMode::Trunk { allowed, native } => {
                *native == Some(vlan.get()) || allowed.contains(vlan.get())
            }
        }
    }

    /// Whether `vlan` leaves this port untagged (the access or native VLAN).
    pub fn untagged(&self, vlan: VlanId) -> bool {
        match self {
            VlanMode::Access(access) => *access == vlan.get(),
            VlanMode::Trunk { native, .. } => *native == Some(vlan.get()),
        }
    }

    /// The VLAN untagged (and priority-tagged) frames belong to, if any.
    pub fn untagged_vlan(&self) -> Option<VlanId> {
        match self {
            VlanMode::Access(access) => VlanId::new(*access),
            VlanMode::Trunk { native, .. } => native.and_then(VlanId::new),
        }
    }
}

impl fmt::Display for VlanMode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VlanMode::Access(vlan) => write!(formatter, "access vlan {vlan}"),
            VlanMode::Trunk { allowed, native } => {
                write!(formatter, "trunk vlans {allowed}")?;
                match native {
                    Some(native) => write!(formatter, " native {native}"),
                    None => formatter.write_str(" no native vlan"),
                }
            }
        }
    }
}

/// Accept or reject, for each security-policy knob (VDS default: reject).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Refuse.
    #[default]
    Reject,
    /// Allow.
    Accept,
}

impl Policy {
    /// The word used in config keys and on the console.
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Reject => "reject",
            Policy::Accept => "accept",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// The VDS security policy of a host port, checked against the port's configured MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SecurityPolicy {
    /// Accept: the port also gets a copy of every frame of its VLANs.
    pub promiscuous: Policy,
    /// Reject: frames to any MAC on the port other than its configured MAC are not delivered
    /// (the VM changed its effective MAC; inbound to it stops).
    pub mac_changes: Policy,
    /// Reject: frames whose source is not the configured MAC are dropped.
    pub forged_transmits: Policy,
}

impl fmt::Display for SecurityPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "promiscuous {}, mac changes {}, forged transmits {}",
            self.promiscuous, self.mac_changes, self.forged_transmits
        )
    }
}

/// What happens to a frame from a new MAC on a port at its MAC limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LimitPolicy {
    /// Drop the frame (counted).
    #[default]
    Drop,
    /// Forward it without learning its source (counted).
    Allow,
}

impl LimitPolicy {
    /// The word used in config keys and on the console.
    pub const fn name(self) -> &'static str {
        match self {
            LimitPolicy::Drop => "drop",
            LimitPolicy::Allow => "allow",
        }
    }
}

impl fmt::Display for LimitPolicy {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name())
    }
}

/// One data port's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// Host or uplink.
    pub role: PortRole,
    /// Access or trunk.
    pub vlan: VlanMode,
    /// The VM's vNIC MAC (host ports only); `None`: the security checks do not apply.
    pub mac: Option<MacAddress>,
    /// Security policy (host ports only).
    pub security: SecurityPolicy,
    /// Most learned MACs on this port.
    pub mac_limit: u32,
    /// What a new MAC over the limit gets.
    pub limit_policy: LimitPolicy,
}

impl PortConfig {
    /// A host port on VLAN 1, no MAC, default policy and limit.
    pub const DEFAULT: PortConfig = PortConfig {
        role: PortRole::Host,
        vlan: VlanMode::Access(1),
        mac: None,
        security: SecurityPolicy {
            promiscuous: Policy::Reject,
            mac_changes: Policy::Reject,
            forged_transmits: Policy::Reject,
        },
        mac_limit: DEFAULT_MAC_LIMIT,
        limit_policy: LimitPolicy::Drop,
    };
}

impl PortConfig {
    /// The slot of a port that is not present: every field zero, so that
    /// [`SwitchConfig::NONE`] (and a new [`crate::Switch`]) is all zero bytes.
    const ABSENT: PortConfig = PortConfig {
        role: PortRole::Host,
        vlan: VlanMode::Access(0),
        mac: None,
        security: SecurityPolicy {
            promiscuous: Policy::Reject,
            mac_changes: Policy::Reject,
            forged_transmits: Policy::Reject,
        },
        mac_limit: 0,
        limit_policy: LimitPolicy::Drop,
    };
}

impl Default for PortConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An ordered list of ports (teaming's failover order).
pub type PortList = Vec<PortId, MAX_PORTS>;

/// Uplink teaming: explicit failover order, route based on the originating host port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamingConfig {
    /// Active uplinks, in order. Both lists empty: every uplink is active, in port order.
    pub active: PortList,
    /// Standby uplinks, in the order they replace a failed active one.
    pub standby: PortList,
    /// When a failed active uplink comes back, take its traffic back from the standby.
    pub failback: bool,
}

impl TeamingConfig {
    /// Empty lists, failback on (the VDS default).
    pub const DEFAULT: TeamingConfig = TeamingConfig {
        active: Vec::new(),
        standby: Vec::new(),
        failback: true,
    };
}

impl Default for TeamingConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The whole switch configuration. Two configs are equal when they agree on the ports present.
#[derive(Clone, Debug, Eq)]
pub struct SwitchConfig {
    /// Data ports present (`port1` .. `portN`); entries past it are ignored.
    pub port_count: u8,
    /// Per-port settings, index 0 is `port1`.
    pub ports: [PortConfig; MAX_PORTS],
    /// Uplink teaming.
    pub teaming: TeamingConfig,
    /// Learned entries not seen for this long are removed; 0: never.
    pub aging_seconds: u32,
}

impl SwitchConfig {
    /// No ports at all: what a new [`crate::Switch`] runs until a config is applied. All zero
    /// bytes, so the switch's `static` costs `.bss`, not image size.
    pub const NONE: SwitchConfig = SwitchConfig {
        port_count: 0,
        ports: [PortConfig::ABSENT; MAX_PORTS],
        teaming: TeamingConfig {
            active: Vec::new(),
            standby: Vec::new(),
            failback: false,
        },
        aging_seconds: 0,
    };

    /// The default for `port_count` data ports: every one a host port on VLAN 1 with no MAC
    /// configured (a plain learning switch).
    pub const fn new(port_count: u8) -> Self {
        SwitchConfig {
            port_count,
            ports: [PortConfig::DEFAULT; MAX_PORTS],
            teaming: TeamingConfig::DEFAULT,
            aging_seconds: DEFAULT_AGING_SECONDS,
        }
    }

    /// The ports present.
    pub fn port_ids(&self) -> impl Iterator<Item = PortId> + use<> {
        (0..usize::from(self.port_count).min(MAX_PORTS)).filter_map(PortId::from_index)
    }

    /// The configuration of `port`.
    pub fn port(&self, port: PortId) -> &PortConfig {
        &self.ports[port.index()]
    }

    /// Mutable configuration of `port`.
    pub fn port_mut(&mut self, port: PortId) -> &mut PortConfig {
        &mut self.ports[port.index()]
    }

    /// Whether `port` is one of the ports present.
    pub fn has_port(&self, port: PortId) -> bool {
        port.number() <= self.port_count
    }

    /// The uplinks present, in port order.
    pub fn uplinks(&self) -> impl Iterator<Item = PortId> + '_ {
        self.port_ids()
            .filter(|port| self.port(*port).role == PortRole::Uplink)
    }

    /// The effective failover order: the configured lists, or every uplink active.
    pub fn team(&self) -> (PortList, PortList) {
        if self.teaming.active.is_empty() && self.teaming.standby.is_empty() {
            let mut active = PortList::new();
            for uplink in self.uplinks() {
                // At most MAX_PORTS uplinks: the push cannot fail.
                let _ = active.push(uplink);
            }
            (active, PortList::new())
        } else {
            (self.teaming.active.clone(), self.teaming.standby.clone())
        }
    }

    /// Checks every field; the first problem found is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if usize::from(self.port_count) > MAX_PORTS {
            return Err(ConfigError::new(
                Field::PortCount,
                Problem::TooManyPorts(self.port_count),
            ));
        }
        if self.aging_seconds > MAX_AGING_SECONDS {
            return Err(ConfigError::new(
                Field::Aging,
                Problem::AgingTooLong(self.aging_seconds),
            ));
        }
        for port in self.port_ids() {
            validate_port(self.port(port))
                .map_err(|problem| ConfigError::new(Field::Port(port), problem))?;
        }
        self.validate_teaming()
    }

    fn validate_teaming(&self) -> Result<(), ConfigError> {
        let teaming = |problem| ConfigError::new(Field::Teaming, problem);
        let mut seen = crate::types::PortSet::EMPTY;
        for port in self
            .teaming
            .active
            .iter()
            .chain(self.teaming.standby.iter())
        {
            if !self.has_port(*port) {
                return Err(teaming(Problem::NoSuchPort(*port, self.port_count)));
            }
            if self.port(*port).role != PortRole::Uplink {
                return Err(teaming(Problem::NotAnUplink(*port)));
            }
            if seen.contains(*port) {
                return Err(teaming(Problem::ListedTwice(*port)));
            }
            seen.insert(*port);
        }
        let listed = !self.teaming.active.is_empty() || !self.teaming.standby.is_empty();
        if listed {
            if self.teaming.active.is_empty() {
                return Err(teaming(Problem::NoActiveUplink));
            }
            if let Some(missing) = self.uplinks().find(|uplink| !seen.contains(*uplink)) {
                return Err(teaming(Problem::UplinkNotInTeam(missing)));
            }
        }
        let mut uplinks = self.uplinks();
        if let Some(first) = uplinks.next() {
            for other in uplinks {
                if self.port(other).vlan != self.port(first).vlan {
                    return Err(ConfigError::new(
                        Field::Port(other),
                        Problem::UplinkVlansDiffer(first),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl PartialEq for SwitchConfig {
    fn eq(&self, other: &Self) -> bool {
        let present = usize::from(self.port_count).min(MAX_PORTS);
        self.port_count == other.port_count
            && self.ports[..present] == other.ports[..present]
            && self.teaming == other.teaming
            && self.aging_seconds == other.aging_seconds
    }
}

impl Default for SwitchConfig {
    /// No ports; see [`SwitchConfig::new`].
    fn default() -> Self {
        Self::new(0)
    }
}

fn validate_vlan(vlan: u16) -> Result<(), Problem> {
    match VlanId::new(vlan) {
        Some(_) => Ok(()),
        None => Err(Problem::VlanOutOfRange(vlan)),
    }
}

fn validate_port(port: &PortConfig) -> Result<(), Problem> {
    match &port.vlan {
        VlanMode::Access(vlan) => validate_vlan(*vlan)?,
        VlanMode::Trunk { allowed, native } => {
            for reserved in [0, 4095] {
                if allowed.contains(reserved) {
                    return Err(Problem::VlanOutOfRange(reserved));
                }
            }
            if let Some(native) = native {
                validate_vlan(*native)?;
            } else if allowed.is_empty() {
                return Err(Problem::EmptyTrunk);
            }
        }
    }
    if let Some(mac) = port.mac
        && !mac.is_unicast()
    {
        return Err(Problem::MacNotUnicast(mac));
    }
    if port.role == PortRole::Uplink
        && (port.mac.is_some() || port.security != SecurityPolicy::default())
    {
        return Err(Problem::HostOnlySetting);
    }
    if port.mac_limit as usize > MAC_TABLE_CAPACITY {
        return Err(Problem::MacLimitTooLarge(port.mac_limit));
    }
    Ok(())
}

/// The part of the config a [`ConfigError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The number of data ports.
    PortCount,
    /// One port's settings.
    Port(PortId),
    /// The teaming lists.
    Teaming,
    /// The aging time.
    Aging,
}

impl fmt::Display for Field {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::PortCount => formatter.write_str("ports"),
            Field::Port(port) => write!(formatter, "{port}"),
            Field::Teaming => formatter.write_str("teaming"),
            Field::Aging => formatter.write_str("aging"),
        }
    }
}

/// What is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// More data ports than the switch has.
    TooManyPorts(u8),
    /// A VLAN id outside 1..=4094.
    VlanOutOfRange(u16),
    /// A trunk with neither allowed VLANs nor a native VLAN.
    EmptyTrunk,
    /// A port MAC that is multicast or all zeros.
    MacNotUnicast(MacAddress),
    /// A MAC or security policy on an uplink.
    HostOnlySetting,
    /// A MAC limit above the table's capacity.
    MacLimitTooLarge(u32),
    /// An aging time above [`MAX_AGING_SECONDS`].
    AgingTooLong(u32),
    /// A port number past the ports present (which is the second field).
    NoSuchPort(PortId, u8),
    /// A teaming list names a host port.
    NotAnUplink(PortId),
    /// A port appears twice in the teaming lists.
    ListedTwice(PortId),
    /// Teaming lists given without an active uplink.
    NoActiveUplink,
    /// An uplink in neither teaming list.
    UplinkNotInTeam(PortId),
    /// This uplink's VLANs differ from that uplink's (all uplinks form one team).
    UplinkVlansDiffer(PortId),
}

impl fmt::Display for Problem {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::TooManyPorts(count) => {
                write!(formatter, "{count} data ports, at most {MAX_PORTS}")
            }
            Problem::VlanOutOfRange(vlan) => write!(
                formatter,
                "vlan {vlan} out of range {}..{}",
                VlanId::MIN,
                VlanId::MAX
            ),
            Problem::EmptyTrunk => formatter.write_str("trunk carries no vlan"),
            Problem::MacNotUnicast(mac) => write!(formatter, "mac {mac} is not a unicast address"),
            Problem::HostOnlySetting => {
                formatter.write_str("mac and security policy apply to host ports only")
            }
            Problem::MacLimitTooLarge(limit) => write!(
                formatter,
                "mac limit {limit} exceeds the table capacity {MAC_TABLE_CAPACITY}"
            ),
            Problem::AgingTooLong(seconds) => write!(
                formatter,
                "{seconds} s exceeds the longest aging time {MAX_AGING_SECONDS} s"
            ),
            Problem::NoSuchPort(port, count) => {
                write!(formatter, "{port} does not exist ({count} data ports)")
            }
            Problem::NotAnUplink(port) => write!(formatter, "{port} is not an uplink"),
            Problem::ListedTwice(port) => write!(formatter, "{port} is listed twice"),
            Problem::NoActiveUplink => formatter.write_str("no active uplink listed"),
            Problem::UplinkNotInTeam(port) => write!(
                formatter,
                "{port} is an uplink in neither the active nor the standby list"
            ),
            Problem::UplinkVlansDiffer(first) => write!(
                formatter,
                "uplink vlans differ from {first}'s (all uplinks form one team)"
            ),
        }
    }
}

/// A config the switch refuses: which field and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The field.
    pub field: Field,
    /// The problem.
    pub problem: Problem,
}

impl ConfigError {
    /// An error about `field`.
    pub const fn new(field: Field, problem: Problem) -> Self {
        ConfigError { field, problem }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}: {}", self.field, self.problem)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    fn port(n: u8) -> PortId {
        PortId::new(n).unwrap()
    }

    #[test]
    fn default_is_valid_learning_switch() {
        let config = SwitchConfig::new(3);
        config.validate().unwrap();
        assert_eq!(config.port_ids().count(), 3);
        assert!(
            config
                .port_ids()
                .all(|p| config.port(p).role == PortRole::Host)
        );
        assert_eq!(config.uplinks().count(), 0);
    }

    #[test]
    fn errors_name_the_field() {
        let mut config = SwitchConfig::new(3);
        config.port_mut(port(2)).vlan = VlanMode::Access(5000);
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port2: vlan 5000 out of range 1..4094"
        );
        let mut config = SwitchConfig::new(3);
        let mut allowed = VlanSet::new();
        allowed.insert(0);
        config.port_mut(port(1)).vlan = VlanMode::Trunk {
            allowed,
            native: None,
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port1: vlan 0 out of range 1..4094"
        );
        config.port_mut(port(1)).vlan = VlanMode::Trunk {
            allowed: VlanSet::new(),
            native: None,
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port1: trunk carries no vlan"
        );
        let mut config = SwitchConfig::new(3);
        config.port_mut(port(1)).role = PortRole::Uplink;
        config.port_mut(port(1)).mac = MacAddress::parse("52:54:00:00:00:01");
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port1: mac and security policy apply to host ports only"
        );
        let mut config = SwitchConfig::new(3);
        config.port_mut(port(3)).mac = Some(MacAddress::BROADCAST);
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port3: mac ff:ff:ff:ff:ff:ff is not a unicast address"
        );
        let mut config = SwitchConfig::new(3);
        config.port_mut(port(3)).mac_limit = 20_000;
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port3: mac limit 20000 exceeds the table capacity 16384"
        );
        let mut config = SwitchConfig::new(3);
        config.aging_seconds = 2_000_000;
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("aging: ")
        );
        assert_eq!(
            SwitchConfig::new(8).validate().unwrap_err().to_string(),
            "ports: 8 data ports, at most 7"
        );
    }

    #[test]
    fn teaming_errors() {
        let mut config = SwitchConfig::new(4);
        config.port_mut(port(1)).role = PortRole::Uplink;
        config.port_mut(port(2)).role = PortRole::Uplink;
        config.validate().unwrap();
        assert_eq!(config.team().0.as_slice(), &[port(1), port(2)]);
        config.teaming.active.push(port(1)).unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "teaming: port2 is an uplink in neither the active nor the standby list"
        );
        config.teaming.standby.push(port(3)).unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "teaming: port3 is not an uplink"
        );
        config.teaming.standby.clear();
        config.teaming.standby.push(port(1)).unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "teaming: port1 is listed twice"
        );
        config.teaming.standby.clear();
        config.teaming.standby.push(port(6)).unwrap();
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "teaming: port6 does not exist (4 data ports)"
        );
        config.teaming.standby.clear();
        config.teaming.standby.push(port(2)).unwrap();
        config.validate().unwrap();
        config.port_mut(port(2)).vlan = VlanMode::Access(10);
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "port2: uplink vlans differ from port1's (all uplinks form one team)"
        );
    }

    #[test]
    fn vlan_sets_and_modes() {
        let mut set = VlanSet::new();
        for vlan in [10, 11, 12, 20, 4094] {
            assert!(set.insert(vlan));
        }
        assert!(!set.insert(4096));
        assert_eq!(set.to_string(), "10-12,20,4094");
        assert_eq!(VlanSet::new().to_string(), "none");
        let trunk = VlanMode::Trunk {
            allowed: set,
            native: Some(1),
        };
        assert!(trunk.carries(VlanId::new(11).unwrap()));
        assert!(trunk.carries(VlanId::DEFAULT));
        assert!(!trunk.carries(VlanId::new(13).unwrap()));
        assert!(trunk.untagged(VlanId::DEFAULT));
        assert!(!trunk.untagged(VlanId::new(10).unwrap()));
        assert_eq!(trunk.to_string(), "trunk vlans 10-12,20,4094 native 1");
        assert_eq!(VlanMode::Access(7).to_string(), "access vlan 7");
    }
}
