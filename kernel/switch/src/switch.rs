//! The switch: decisions, learning, teaming, notify requests, counters.
//!
//! Per frame the work is O(1) in the table (a bounded probe) and O(ports) in the flood set: no
//! scan of the table or of anything else. Slow work (aging, failover announcements) runs in
//! bounded steps from [`Switch::maintain`], which the poll loop calls once per pass.

use core::fmt;

use heapless::Deque;

use crate::config::{
    ConfigError, LimitPolicy, Policy, PortConfig, PortRole, SwitchConfig, VlanMode,
};
use crate::frame::{
    Edit, EditError, FrameHead, GROUP_BIT, HeaderError, IngressTag, head_fields, write_rarp,
};
use crate::table::{Entry, EntryKind, Found, MAC_TABLE_SLOTS, MacTable, TableFull, key_of};
use crate::types::{MAX_PORTS, MacAddress, PortId, PortSet, Tick, VlanId};

/// Pending notify requests the switch holds before the caller drains them.
pub const NOTIFY_QUEUE: usize = 64;
/// A host port's MAC arriving on an uplink within this many seconds of its last frame from the
/// host port is a reflection of our own frame and is dropped; after it, the MAC has moved.
pub const HOST_MAC_HOLD_SECONDS: u32 = 5;
/// Table slots one [`Switch::maintain`] call scans for a failover announcement.
pub const ANNOUNCE_SLOTS_PER_CALL: usize = 256;

/// Why a frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The ingress port is not a data port of this switch.
    UnknownPort,
    /// Shorter than its Ethernet (or tagged) header.
    Runt,
    /// Tagged with the reserved VID 4095.
    ReservedVlan,
    /// A QinQ (802.1ad) outer tag.
    UnsupportedTag,
    /// A tag inside a tag.
    DoubleTag,
    /// Source address multicast or all zeros.
    InvalidSource,
    /// Tagged with a VLAN the ingress port does not carry.
    VlanNotAllowed,
    /// Untagged (or priority-tagged) on a trunk without a native VLAN.
    UntaggedNotAllowed,
    /// Security policy: source differs from the host port's configured MAC.
    ForgedTransmit,
    /// The port is at its MAC limit and its policy drops new MACs.
    MacLimit,
    /// The source is a static entry on another port.
    StaticElsewhere,
    /// A host port's MAC arrived from an uplink (our own frame reflected by the network).
    HostMacFromUplink,
    /// The destination is on the ingress port.
    SamePort,
    /// Uplink to uplink: the switch never bridges its uplinks.
    UplinkToUplink,
    /// From a host port to the network while no uplink is usable.
    NoUplink,
    /// Security policy: to a MAC on a host port other than its configured MAC.
    MacChange,
    /// The egress port's link is down.
    PortDown,
    /// No port to send it to (nothing else in the VLAN).
    NoDestination,
    /// This DPU is the HA standby: it forwards nothing (its source is still learned, so a
    /// takeover can announce the host MACs at once).
    Standby,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 19;
    /// Every reason, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::UnknownPort,
        DropReason::Runt,
        DropReason::ReservedVlan,
        DropReason::UnsupportedTag,
        DropReason::DoubleTag,
        DropReason::InvalidSource,
        DropReason::VlanNotAllowed,
        DropReason::UntaggedNotAllowed,
        DropReason::ForgedTransmit,
        DropReason::MacLimit,
        DropReason::StaticElsewhere,
        DropReason::HostMacFromUplink,
        DropReason::SamePort,
        DropReason::UplinkToUplink,
        DropReason::NoUplink,
        DropReason::MacChange,
        DropReason::PortDown,
        DropReason::NoDestination,
        DropReason::Standby,
    ];

    /// Position in [`DropReason::ALL`] and in [`Counters::drops`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A short label for tables (console, metrics).
    pub const fn label(self) -> &'static str {
        match self {
            DropReason::UnknownPort => "unknown-port",
            DropReason::Runt => "runt",
            DropReason::ReservedVlan => "reserved-vlan",
            DropReason::UnsupportedTag => "qinq-tag",
            DropReason::DoubleTag => "double-tag",
            DropReason::InvalidSource => "bad-source",
            DropReason::VlanNotAllowed => "vlan-not-allowed",
            DropReason::UntaggedNotAllowed => "untagged-on-trunk",
            DropReason::ForgedTransmit => "forged-transmit",
            DropReason::MacLimit => "mac-limit",
            DropReason::StaticElsewhere => "static-elsewhere",
            DropReason::HostMacFromUplink => "host-mac-on-uplink",
            DropReason::SamePort => "same-port",
            DropReason::UplinkToUplink => "uplink-to-uplink",
            DropReason::NoUplink => "no-uplink",
            DropReason::MacChange => "mac-change",
            DropReason::PortDown => "port-down",
            DropReason::NoDestination => "no-destination",
            DropReason::Standby => "standby",
        }
    }
}

const _: () = assert!(DropReason::ALL.len() == DropReason::Standby as usize + 1);

impl fmt::Display for DropReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            DropReason::UnknownPort => "not a switch port",
            DropReason::Runt => "shorter than its header",
            DropReason::ReservedVlan => "tagged with reserved vlan 4095",
            DropReason::UnsupportedTag => "qinq outer tag not supported",
            DropReason::DoubleTag => "tag inside a tag",
            DropReason::InvalidSource => "source address multicast or zero",
            DropReason::VlanNotAllowed => "vlan not carried by the port",
            DropReason::UntaggedNotAllowed => "untagged on a trunk without native vlan",
            DropReason::ForgedTransmit => "forged transmit (source is not the port's mac)",
            DropReason::MacLimit => "port at its mac limit",
            DropReason::StaticElsewhere => "source is static on another port",
            DropReason::HostMacFromUplink => "host port mac seen on an uplink",
            DropReason::SamePort => "destination is on the ingress port",
            DropReason::UplinkToUplink => "uplink to uplink",
            DropReason::NoUplink => "no usable uplink",
            DropReason::MacChange => "mac address change (not the port's mac)",
            DropReason::PortDown => "egress link down",
            DropReason::NoDestination => "no other port in the vlan",
            DropReason::Standby => "this DPU is the HA standby",
        })
    }
}

impl From<HeaderError> for DropReason {
    fn from(error: HeaderError) -> Self {
        match error {
            HeaderError::Runt => DropReason::Runt,
            HeaderError::ReservedVlan => DropReason::ReservedVlan,
            HeaderError::UnsupportedTag => DropReason::UnsupportedTag,
            HeaderError::DoubleTag => DropReason::DoubleTag,
        }
    }
}

/// One output: a port and the tag edit the frame needs for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// Where to send it.
    pub port: PortId,
    /// What to do to its tag first.
    pub edit: Edit,
}

/// Several outputs (a flood, or a unicast plus promiscuous copies), with per-port edits.
///
/// Every output of one frame gets one of two edits, by whether the port carries the frame's
/// VLAN untagged ([`Switch`]'s `edits`), so the set keeps the two edits and which members take
/// the untagged one: 12 bytes, and a [`Decision`] fits in two registers, where a per-port edit
/// array (32 bytes) made every return a copy through memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Outputs {
    ports: PortSet,
    /// Members that carry the VLAN untagged: they get `untagged_edit`, the others `tagged_edit`.
    untagged: PortSet,
    untagged_edit: Edit,
    tagged_edit: Edit,
}

/// The two edits a frame can need on its way out (see [`Outputs`]).
#[derive(Clone, Copy)]
struct Edits {
    /// For a port that carries the VLAN untagged.
    untagged: Edit,
    /// For a port that carries it tagged.
    tagged: Edit,
}

impl Outputs {
    fn add(&mut self, port: PortId, untagged: bool, edits: Edits) {
        self.ports.insert(port);
        if untagged {
            self.untagged.insert(port);
            self.untagged_edit = edits.untagged;
        } else {
            self.tagged_edit = edits.tagged;
        }
    }

    /// The output ports.
    pub const fn ports(&self) -> PortSet {
        self.ports
    }

    /// Number of outputs.
    pub const fn len(&self) -> usize {
        self.ports.len()
    }

    /// No outputs.
    pub const fn is_empty(&self) -> bool {
        self.ports.is_empty()
    }

    /// The edit for `port` (meaningful for members only).
    pub fn edit(&self, port: PortId) -> Edit {
        if self.untagged.contains(port) {
            self.untagged_edit
        } else {
            self.tagged_edit
        }
    }

    /// Every output, in port order.
    pub fn iter(&self) -> impl Iterator<Item = Output> + '_ {
        self.ports.iter().map(|port| Output {
            port,
            edit: self.edit(port),
        })
    }

    fn into_decision(self) -> Decision {
        match self.len() {
            0 => Decision::Drop(DropReason::NoDestination),
            1 => match self.iter().next() {
                Some(output) => Decision::Forward(output),
                None => Decision::Drop(DropReason::NoDestination),
            },
            _ => Decision::Flood(self),
        }
    }
}

/// What to do with one received frame.
///
/// 16 bytes, 4-byte aligned (the size is checked below): returned in two registers. At its
/// natural 1-byte alignment every return was a `memcpy` call on a target that forbids
/// unaligned accesses (aarch64-unknown-none), and at 40 bytes a copy through memory. The
/// kind is a byte of its own (`repr(u8)`): with the kind folded into the edit's spare values
/// every reader decoded it with a subtraction, a comparison and a select.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Decision {
    /// Release the buffer; the reason is counted.
    Drop(DropReason),
    /// Move the buffer to one port's transmit queue (after the edit).
    Forward(Output),
    /// Send to several ports: copy for all but one, move the original to the last.
    Flood(Outputs),
}

const _: () = assert!(core::mem::size_of::<Decision>() <= 16);

impl Decision {
    /// The output ports (empty for a drop).
    pub fn ports(&self) -> PortSet {
        match self {
            Decision::Drop(_) => PortSet::EMPTY,
            Decision::Forward(output) => {
                let mut set = PortSet::EMPTY;
                set.insert(output.port);
                set
            }
            Decision::Flood(outputs) => outputs.ports(),
        }
    }

    /// The edit for `port`, if the decision sends to it.
    pub fn edit_for(&self, port: PortId) -> Option<Edit> {
        match self {
            Decision::Drop(_) => None,
            Decision::Forward(output) => (output.port == port).then_some(output.edit),
            Decision::Flood(outputs) => outputs.ports().contains(port).then(|| outputs.edit(port)),
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Drop(reason) => write!(formatter, "drop: {reason}"),
            Decision::Forward(output) => write!(formatter, "to {} ({})", output.port, output.edit),
            Decision::Flood(outputs) => {
                formatter.write_str("to ")?;
                for (position, output) in outputs.iter().enumerate() {
                    if position > 0 {
                        formatter.write_str(", ")?;
                    }
                    write!(formatter, "{} ({})", output.port, output.edit)?;
                }
                Ok(())
            }
        }
    }
}

/// Per-port counters. `rx_packets == forwarded + flooded + dropped` always holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PortCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames the switch sent here (decided; the driver counts what it transmitted).
    pub tx_packets: u64,
    /// Bytes sent here, after tag edits.
    pub tx_bytes: u64,
    /// Received frames sent to exactly one port.
    pub forwarded: u64,
    /// Received frames sent to several ports.
    pub flooded: u64,
    /// Received frames dropped.
    pub dropped: u64,
    /// Received frames to a unicast destination the table does not know (flooded).
    pub unknown_unicast: u64,
    /// New MACs learned here.
    pub learned: u64,
    /// MACs that moved here from another port.
    pub moves: u64,
}

/// Switch-wide counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counters {
    /// Drops by reason, indexed by [`DropReason::index`].
    pub drops: [u64; DropReason::COUNT],
    /// MAC moves (all ports).
    pub moves: u64,
    /// New MACs not learned because the table was full (their frames flood).
    pub table_full: u64,
    /// New MACs not learned because the port was at its limit with policy allow.
    pub limit_allowed: u64,
    /// Table writes by learning (new entries, moves, last-seen refreshes).
    pub learn_writes: u64,
    /// Learned entries removed by aging.
    pub aged: u64,
    /// Changes of the uplink a host port is pinned to (failover, failback, config).
    pub repins: u64,
    /// Notify requests lost because the queue was full.
    pub notify_overflow: u64,
}

impl Counters {
    const ZERO: Counters = Counters {
        drops: [0; DropReason::COUNT],
        moves: 0,
        table_full: 0,
        limit_allowed: 0,
        learn_writes: 0,
        aged: 0,
        repins: 0,
        notify_overflow: 0,
    };

    /// Drops with `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::ZERO
    }
}

/// A request to tell the physical network that `mac` on `vlan` is now behind `uplink`: send
/// one RARP frame ([`Notification::write_frame`]) out of `uplink`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The uplink that now carries the MAC.
    pub uplink: PortId,
    /// Its VLAN.
    pub vlan: VlanId,
    /// The host MAC.
    pub mac: MacAddress,
    /// Whether the VLAN is tagged on that uplink (the frame then carries the tag).
    pub tagged: bool,
}

impl Notification {
    /// Writes the RARP frame at the front of `buffer`; returns its length (60 or 64).
    pub fn write_frame(&self, buffer: &mut [u8]) -> Result<usize, EditError> {
        write_rarp(buffer, self.mac, self.tagged.then_some(self.vlan))
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "rarp for {} vlan {} ({}) on {}",
            self.mac,
            self.vlan,
            if self.tagged { "tagged" } else { "untagged" },
            self.uplink
        )
    }
}

/// Why a static entry could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdbError {
    /// The port is not a data port of this switch.
    NoSuchPort(PortId),
    /// The address is multicast or zero.
    NotUnicast(MacAddress),
    /// The port does not carry the VLAN.
    VlanNotCarried(PortId, VlanId),
    /// No room.
    Full(TableFull),
}

impl fmt::Display for FdbError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdbError::NoSuchPort(port) => write!(formatter, "{port} is not a switch port"),
            FdbError::NotUnicast(mac) => write!(formatter, "{mac} is not a unicast address"),
            FdbError::VlanNotCarried(port, vlan) => {
                write!(formatter, "{port} does not carry vlan {vlan}")
            }
            FdbError::Full(full) => write!(formatter, "{full}"),
        }
    }
}

/// The switch over up to [`MAX_PORTS`] data ports, with a MAC table of `SLOTS` slots.
pub struct Switch<const SLOTS: usize = MAC_TABLE_SLOTS> {
    config: SwitchConfig,
    table: MacTable<SLOTS>,
    uplinks: PortSet,
    promiscuous: PortSet,
    link_up: PortSet,
    /// Team slot `i` belongs to active uplink `i`; holds the uplink serving it now.
    team_slots: [Option<PortId>; MAX_PORTS],
    /// Per host port: the uplink it is pinned to.
    pinned: [Option<PortId>; MAX_PORTS],
    counters: Counters,
    port_counters: [PortCounters; MAX_PORTS],
    notifications: Deque<Notification, NOTIFY_QUEUE>,
    announce_ports: PortSet,
    announce_left: usize,
    /// HA standby: every frame is dropped (after learning) with [`DropReason::Standby`].
    standby: bool,
    /// Per port: its configured MAC as a 48-bit integer, 0 for none (a configured MAC is
    /// unicast, so never 0): the security checks compare it with the head's addresses.
    port_macs: [u64; MAX_PORTS],
    /// Per port: the only source it may send from, 0 for no check (the forged-transmits
    /// policy: a host port with a configured MAC and `reject`). Set by `apply`, so a frame's
    /// check is one load and one comparison.
    enforced_sources: [u64; MAX_PORTS],
    /// Per port: what an untagged or priority-tagged frame received on it classifies to (its
    /// VLAN, or why it is dropped), by [`classify`] at `apply`: such a frame's VLAN is one
    /// load, with no look at the port's config.
    untagged_vlans: [Untagged; MAX_PORTS],
    /// The last source `learn` found on its own port (or the team's) and refreshed: a burst's
    /// next frame from it, on that port in the same second, needs no second look at the table.
    recent_source: Recent,
    /// The last known unicast decided, for the next frame of the burst to the same destination
    /// from the same port with the same tag (see [`RecentUnicast`]).
    recent_unicast: RecentUnicast,
}

/// What an untagged frame on a port classifies to (see `Switch::untagged_vlans`). Not a
/// `Result`: its `Err` is discriminant 1, and `Switch::new()` must be all zero bytes so the
/// kernel's switch static lands in .bss, not in the Image; `Drop(UnknownPort)` is zero.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Untagged {
    Drop(DropReason),
    Vlan(VlanId),
}

/// What the switch read of one table entry, kept for the next frames of a burst: valid only
/// while the table's generation ([`MacTable::generation`]) and the clock's second are the ones
/// it was read at, so a move, a removal, an aged entry, a new static entry or a later second
/// all make it miss. [`Switch::apply`] forgets it (the aging time and the roles may change).
#[derive(Clone, Copy)]
struct Recent {
    /// The table key ([`key_of`]); 0 (no stored key is 0) for nothing kept.
    key: u64,
    generation: u64,
    second: u32,
    /// For a source, the port it was refreshed from; for a destination, where it is.
    port: Option<PortId>,
}

impl Recent {
    const NONE: Recent = Recent {
        key: 0,
        generation: 0,
        second: 0,
        port: None,
    };

    fn holds(&self, key: u64, generation: u64, second: u32) -> bool {
        self.key == key && self.generation == generation && self.second == second
    }
}

/// The decision for a known unicast destination (the table's port for it, then the checks of
/// [`Switch::unicast`]): it depends on the ingress port, the tag the frame came with (its
/// edit), the table entry (the generation and the second, as in [`Recent`]) and the switch's
/// state (config, link states, team pins: every change of those resets it to
/// [`RecentUnicast::NONE`], which matches no frame). The next frame that matches all of them
/// gets the same decision without a probe or the checks again.
#[derive(Clone, Copy)]
struct RecentUnicast {
    destination: Recent,
    ingress: Option<PortId>,
    tag: IngressTag,
    decision: Decision,
}

impl RecentUnicast {
    /// Nothing kept (`destination`'s key 0 never matches). Every field is zero bytes, the
    /// decision too (`Drop` and `UnknownPort` are both discriminant 0): `Switch::new()` must
    /// be all zero so the kernel's switch static lands in .bss, not in the Image (half a MiB).
    const NONE: RecentUnicast = RecentUnicast {
        destination: Recent::NONE,
        ingress: None,
        tag: IngressTag::Untagged,
        decision: Decision::Drop(DropReason::UnknownPort),
    };
}

impl<const SLOTS: usize> Default for Switch<SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize> Switch<SLOTS> {
    /// A switch with no ports (const, so it can live in a static); [`Switch::apply`] a config.
    pub const fn new() -> Self {
        Switch {
            config: SwitchConfig::NONE,
            table: MacTable::new(),
            uplinks: PortSet::EMPTY,
            promiscuous: PortSet::EMPTY,
            link_up: PortSet::EMPTY,
            team_slots: [None; MAX_PORTS],
            pinned: [None; MAX_PORTS],
            counters: Counters::ZERO,
            port_counters: [PortCounters {
                rx_packets: 0,
                rx_bytes: 0,
                tx_packets: 0,
                tx_bytes: 0,
                forwarded: 0,
                flooded: 0,
                dropped: 0,
                unknown_unicast: 0,
                learned: 0,
                moves: 0,
            }; MAX_PORTS],
            notifications: Deque::new(),
            announce_ports: PortSet::EMPTY,
            announce_left: 0,
            standby: false,
            port_macs: [0; MAX_PORTS],
            enforced_sources: [0; MAX_PORTS],
            // Not read before `apply`: no port is present until then.
            untagged_vlans: [Untagged::Drop(DropReason::UnknownPort); MAX_PORTS],
            recent_source: Recent::NONE,
            recent_unicast: RecentUnicast::NONE,
        }
    }

    /// Validates `config` and, only if it is valid, makes it the running config.
    ///
    /// Learned entries on ports whose role or VLANs changed, whose MAC limit was lowered, or
    /// that are gone are flushed, and so are static entries on ports that are gone. Ports new
    /// to the switch start with link up (call [`Switch::set_link`] with the driver's state).
    /// A full table scan when something is flushed: for config changes, not per frame.
    pub fn apply(&mut self, config: &SwitchConfig) -> Result<(), ConfigError> {
        config.validate()?;
        self.recent_source = Recent::NONE;
        self.recent_unicast = RecentUnicast::NONE;
        let old = core::mem::replace(&mut self.config, config.clone());
        let mut flush_learned = PortSet::EMPTY;
        let mut flush_all = PortSet::EMPTY;
        let mut uplinks = PortSet::EMPTY;
        let mut promiscuous = PortSet::EMPTY;
        for index in 0..MAX_PORTS {
            let Some(port) = PortId::from_index(index) else {
                continue;
            };
            let present = config.has_port(port);
            self.port_macs[index] = match config.port(port).mac {
                Some(mac) if present => mac.to_u64(),
                _ => 0,
            };
            let settings = config.port(port);
            self.enforced_sources[index] = if settings.role == PortRole::Host
                && settings.security.forged_transmits == Policy::Reject
            {
                self.port_macs[index]
            } else {
                0
            };
            self.untagged_vlans[index] = match classify(&settings.vlan, IngressTag::Untagged) {
                Ok(vlan) => Untagged::Vlan(vlan),
                Err(reason) => Untagged::Drop(reason),
            };
            let (before, after) = (old.port(port), config.port(port));
            let was_present = old.has_port(port);
            if !present {
                if was_present {
                    flush_all.insert(port);
                }
                self.link_up.remove(port);
                continue;
            }
            if !was_present {
                self.link_up.insert(port);
            }
            // A lowered limit flushes too, so no port ever holds more than its limit.
            if was_present
                && (before.role != after.role
                    || before.vlan != after.vlan
                    || after.mac_limit < before.mac_limit)
            {
                flush_learned.insert(port);
            }
            if after.role == PortRole::Uplink {
                uplinks.insert(port);
            } else if after.security.promiscuous == Policy::Accept {
                promiscuous.insert(port);
            }
        }
        if !flush_learned.is_empty() || !flush_all.is_empty() {
            self.table.remove_where(|entry| {
                flush_all.contains(entry.port)
                    || (entry.kind == EntryKind::Learned && flush_learned.contains(entry.port))
            });
        }
        self.uplinks = uplinks;
        self.promiscuous = promiscuous;
        if old.teaming != config.teaming
            || old.port_count != config.port_count
            || old_roles_differ(&old, config)
        {
            self.team_slots = [None; MAX_PORTS];
        }
        self.recompute_team();
        Ok(())
    }

    /// The running config.
    pub fn config(&self) -> &SwitchConfig {
        &self.config
    }

    fn port_config(&self, port: PortId) -> &PortConfig {
        self.config.port(port)
    }

    fn is_uplink(&self, port: PortId) -> bool {
        self.uplinks.contains(port)
    }

    /// Link state of a port changed (the driver saw it). Re-runs teaming: a failover or
    /// failback re-pins host ports and queues notify requests. Returns whether anything changed.
    pub fn set_link(&mut self, port: PortId, up: bool) -> bool {
        // What a unicast decision reads besides the table may change here (the link states,
        // the team's pins): the remembered one no longer holds.
        self.recent_unicast = RecentUnicast::NONE;
        if !self.config.has_port(port) || self.link_up.contains(port) == up {
            return false;
        }
        if up {
            self.link_up.insert(port);
        } else {
            self.link_up.remove(port);
        }
        self.recompute_team();
        true
    }

    /// Whether `port`'s link is up (as last told by [`Switch::set_link`]).
    pub fn link(&self, port: PortId) -> bool {
        self.link_up.contains(port)
    }

    /// The uplink host port `port` is pinned to now (none: no usable uplink, or an uplink).
    pub fn pinned_uplink(&self, port: PortId) -> Option<PortId> {
        self.pinned[port.index()]
    }

    /// The uplinks carrying traffic now (the team's active set after failover).
    pub fn active_uplinks(&self) -> PortSet {
        let mut set = PortSet::EMPTY;
        for port in self.team_slots.iter().flatten() {
            set.insert(*port);
        }
        set
    }

    fn recompute_team(&mut self) {
        // What a unicast decision reads besides the table may change here (the link states,
        // the team's pins): the remembered one no longer holds.
        self.recent_unicast = RecentUnicast::NONE;
        let (active, standby) = self.config.team();
        let failback = self.config.teaming.failback;
        let link_up = self.link_up;
        let up = |port: PortId| link_up.contains(port);
        let mut used = PortSet::EMPTY;
        let mut slots: [Option<PortId>; MAX_PORTS] = [None; MAX_PORTS];
        let mut take = |slot: &mut Option<PortId>, candidate: Option<PortId>| {
            if slot.is_none()
                && let Some(port) = candidate
                && up(port)
                && !used.contains(port)
            {
                *slot = Some(port);
                used.insert(port);
            }
        };
        let homes = || active.iter().copied().map(Some);
        let currents = self.team_slots;
        // Failback on: every working active uplink serves its own slot, then the standbys in use
        // stay. Off: whatever serves a slot and works stays; an empty slot tries its home.
        if failback {
            for (slot, home) in slots.iter_mut().zip(homes()) {
                take(slot, home);
            }
            for (slot, current) in slots.iter_mut().zip(currents).take(active.len()) {
                take(slot, current);
            }
        } else {
            for (slot, current) in slots.iter_mut().zip(currents).take(active.len()) {
                take(slot, current);
            }
            for (slot, home) in slots.iter_mut().zip(homes()) {
                take(slot, home);
            }
        }
        // A slot still empty takes the first working uplink not in use, in failover order (an
        // active uplink left idle by failback off comes before the standbys).
        for slot in slots.iter_mut().take(active.len()) {
            for candidate in active.iter().chain(standby.iter()) {
                take(slot, Some(*candidate));
            }
        }
        self.team_slots = slots;
        let team_size = active.len();
        let mut host_ordinal = 0;
        for port in self.config.port_ids() {
            if self.is_uplink(port) {
                self.pinned[port.index()] = None;
                continue;
            }
            let mut pinned = None;
            for step in 0..team_size {
                if let Some(uplink) = slots[(host_ordinal + step) % team_size] {
                    pinned = Some(uplink);
                    break;
                }
            }
            host_ordinal += 1;
            let before = self.pinned[port.index()];
            self.pinned[port.index()] = pinned;
            if pinned.is_some() && pinned != before {
                self.counters.repins += 1;
                self.announce_ports.insert(port);
                // (Re)start a full round from where the scan is.
                self.announce_left = SLOTS;
            }
        }
        for index in usize::from(self.config.port_count)..MAX_PORTS {
            self.pinned[index] = None;
        }
    }

    /// Decides what to do with `frame` (starting at its destination address) received on
    /// `ingress` at `now`, learning its source and counting it.
    pub fn process(&mut self, ingress: PortId, frame: &[u8], now: Tick) -> Decision {
        self.process_head(ingress, &FrameHead::from_frame(frame), now)
    }

    /// As [`Switch::process`], from the frame's head (its first bytes and its length), which a
    /// driver can read with word loads while it receives the burst.
    pub fn process_head(&mut self, ingress: PortId, head: &FrameHead, now: Tick) -> Decision {
        let decision = self.process_head_uncounted(ingress, head, now);
        if !self.config.has_port(ingress) {
            return decision;
        }
        self.count_received(ingress, 1, head.len() as u64);
        match &decision {
            Decision::Drop(_) => {}
            Decision::Forward(output) => self.count_tx(*output, head.len()),
            Decision::Flood(outputs) => {
                for output in outputs.iter() {
                    self.count_tx(output, head.len());
                }
            }
        }
        decision
    }

    /// As [`Switch::process_head`], but the byte-and-packet counters of a burst are left to
    /// the caller: the ingress port's `rx_packets`/`rx_bytes` ([`Switch::count_received`])
    /// and each output's `tx_packets`/`tx_bytes` ([`Switch::count_sent`], with the length
    /// after the output's edit). The fast path counts them once per burst and port instead of
    /// four read-modify-writes per frame; the other counters are kept here, per frame.
    pub fn process_head_uncounted(
        &mut self,
        ingress: PortId,
        head: &FrameHead,
        now: Tick,
    ) -> Decision {
        if !self.config.has_port(ingress) {
            self.counters.drops[DropReason::UnknownPort.index()] += 1;
            return Decision::Drop(DropReason::UnknownPort);
        }
        let mut decision = self.decide(ingress, head, now);
        if self.standby {
            decision = Decision::Drop(DropReason::Standby);
        }
        let counters = &mut self.port_counters[ingress.index()];
        match &decision {
            Decision::Drop(reason) => {
                counters.dropped += 1;
                self.counters.drops[reason.index()] += 1;
            }
            Decision::Forward(_) => counters.forwarded += 1,
            Decision::Flood(_) => counters.flooded += 1,
        }
        decision
    }

    /// Counts `frames` frames of `bytes` bytes in all received on `port` and decided by
    /// [`Switch::process_head_uncounted`] (a port that is not a data port of this switch counts
    /// nothing, as its frames are dropped uncounted there).
    pub fn count_received(&mut self, port: PortId, frames: u64, bytes: u64) {
        if !self.config.has_port(port) {
            return;
        }
        let counters = &mut self.port_counters[port.index()];
        counters.rx_packets += frames;
        counters.rx_bytes += bytes;
    }

    /// Counts `frames` frames of `bytes` bytes in all (after their edits) that
    /// [`Switch::process_head_uncounted`] decided to send to `port`.
    pub fn count_sent(&mut self, port: PortId, frames: u64, bytes: u64) {
        let counters = &mut self.port_counters[port.index()];
        counters.tx_packets += frames;
        counters.tx_bytes += bytes;
    }

    fn count_tx(&mut self, output: Output, length: usize) {
        let counters = &mut self.port_counters[output.port.index()];
        counters.tx_packets += 1;
        counters.tx_bytes += output.edit.edited_length(length) as u64;
    }

    fn decide(&mut self, ingress: PortId, head: &FrameHead, now: Tick) -> Decision {
        let header = match head_fields(head) {
            Ok(header) => header,
            Err(error) => return Decision::Drop(error.into()),
        };
        if header.source & GROUP_BIT != 0 || header.source == 0 {
            return Decision::Drop(DropReason::InvalidSource);
        }
        // An untagged frame's VLAN was classified at `apply`; a tagged one's needs the port's
        // VLANs (by reference: a port config holds a 512-byte VLAN map, too big to copy).
        let classified = match header.tag {
            IngressTag::Untagged | IngressTag::Priority(_) => {
                match self.untagged_vlans[ingress.index()] {
                    Untagged::Vlan(vlan) => Ok(vlan),
                    Untagged::Drop(reason) => Err(reason),
                }
            }
            tag => classify(&self.config.port(ingress).vlan, tag),
        };
        let vlan = match classified {
            Ok(vlan) => vlan,
            Err(reason) => return Decision::Drop(reason),
        };
        let enforced = self.enforced_sources[ingress.index()];
        if enforced != 0 && header.source != enforced {
            return Decision::Drop(DropReason::ForgedTransmit);
        }
        if let Err(reason) = self.learn(ingress, vlan, header.source, now) {
            return Decision::Drop(reason);
        }
        let destination = header.destination;
        if destination & GROUP_BIT != 0 {
            return self.flood(ingress, vlan, header.tag, None);
        }
        let key = key_of(vlan, destination);
        let (generation, second) = (self.table.generation(), now.coarse_seconds());
        let recent = &self.recent_unicast;
        if recent.destination.holds(key, generation, second)
            && recent.ingress == Some(ingress)
            && recent.tag == header.tag
        {
            return recent.decision;
        }
        match self.lookup_port(vlan, destination, now) {
            Some(port) => {
                let decision = self.unicast(ingress, port, vlan, header.tag, destination);
                self.recent_unicast = RecentUnicast {
                    destination: Recent {
                        key,
                        generation,
                        second,
                        port: Some(port),
                    },
                    ingress: Some(ingress),
                    tag: header.tag,
                    decision,
                };
                decision
            }
            None => {
                self.port_counters[ingress.index()].unknown_unicast += 1;
                self.flood(ingress, vlan, header.tag, Some(destination))
            }
        }
    }

    fn live(&self, entry: &Entry, now: Tick) -> bool {
        self.live_at(entry.kind, entry.last_seen, now)
    }

    fn live_at(&self, kind: EntryKind, last_seen: u32, now: Tick) -> bool {
        kind == EntryKind::Static
            || !MacTable::<SLOTS>::expired(last_seen, now, self.config.aging_seconds)
    }

    fn lookup_port(&self, vlan: VlanId, mac: u64, now: Tick) -> Option<PortId> {
        self.table
            .find_key(key_of(vlan, mac))
            .filter(|found| self.live_at(found.kind, found.last_seen, now))
            .map(|found| found.port)
    }

    fn at_limit(&self, port: PortId) -> bool {
        self.table.learned_on(port) as u64 >= u64::from(self.port_config(port).mac_limit)
    }

    fn learn(
        &mut self,
        ingress: PortId,
        vlan: VlanId,
        source: u64,
        now: Tick,
    ) -> Result<(), DropReason> {
        let key = key_of(vlan, source);
        let second = now.coarse_seconds();
        // The burst's previous frame from this source on this port refreshed it in this
        // second, and the table has not changed since: this frame would do nothing more.
        if self
            .recent_source
            .holds(key, self.table.generation(), second)
            && self.recent_source.port == Some(ingress)
        {
            return Ok(());
        }
        // One probe for the look and the refresh below; the address goes back to bytes only
        // for a table write or a notify request.
        let stored: Option<Found> = self.table.find_key(key);
        let existing = stored.filter(|found| self.live_at(found.kind, found.last_seen, now));
        match existing {
            Some(entry) if entry.kind == EntryKind::Static && entry.port == ingress => {
                self.remember_source(key, second, ingress);
                Ok(())
            }
            Some(entry)
                if entry.kind == EntryKind::Learned
                    && (entry.port == ingress
                        || (self.is_uplink(ingress) && self.is_uplink(entry.port))) =>
            {
                // Same port, or one uplink of the team to another: no move, refresh only.
                if self.table.touch_at(entry.position, now) {
                    self.counters.learn_writes += 1;
                }
                self.remember_source(key, second, ingress);
                Ok(())
            }
            _ => self.learn_change(ingress, vlan, source, now, stored, existing),
        }
    }

    /// The rest of [`Switch::learn`]: a source that is new, moved, static elsewhere, reflected
    /// or over its port's limit. Out of line (and cold), so the fast path's common case, a
    /// known source on its own port, keeps its registers.
    #[cold]
    #[inline(never)]
    fn learn_change(
        &mut self,
        ingress: PortId,
        vlan: VlanId,
        source: u64,
        now: Tick,
        stored: Option<Found>,
        existing: Option<Found>,
    ) -> Result<(), DropReason> {
        let mac = || MacAddress::from_u64(source);
        match existing {
            Some(entry) if entry.kind == EntryKind::Static => {
                if entry.port == ingress {
                    Ok(())
                } else {
                    Err(DropReason::StaticElsewhere)
                }
            }
            Some(entry)
                if entry.port == ingress
                    || (self.is_uplink(ingress) && self.is_uplink(entry.port)) =>
            {
                // Not reached from `learn` (it refreshes these itself); kept so this match
                // stays the whole rule.
                if self.table.touch_at(entry.position, now) {
                    self.counters.learn_writes += 1;
                }
                Ok(())
            }
            // A host port's MAC it sent from moments ago, coming back in from the network, is our
            // own frame reflected (a bridge flooding it back through the other uplink): neither
            // learned nor forwarded. Later it is a real move (the VM migrated away).
            Some(entry)
                if self.is_uplink(ingress)
                    && now.coarse_seconds().saturating_sub(entry.last_seen)
                        < HOST_MAC_HOLD_SECONDS =>
            {
                Err(DropReason::HostMacFromUplink)
            }
            Some(entry) => {
                if self.at_limit(ingress) {
                    return match self.port_config(ingress).limit_policy {
                        LimitPolicy::Drop => Err(DropReason::MacLimit),
                        LimitPolicy::Allow => {
                            // It is no longer where the entry says: forget it, flood to it.
                            self.table.remove(vlan, mac());
                            self.counters.limit_allowed += 1;
                            Ok(())
                        }
                    };
                }
                let old_uplink = self.uplink_for(entry.port);
                // Replacing an existing key cannot fail.
                let _ = self
                    .table
                    .insert(vlan, mac(), ingress, EntryKind::Learned, now);
                self.counters.learn_writes += 1;
                self.counters.moves += 1;
                self.port_counters[ingress.index()].moves += 1;
                if !self.is_uplink(ingress) && self.uplink_for(ingress) != old_uplink {
                    self.notify(ingress, vlan, mac());
                }
                Ok(())
            }
            None => {
                // An expired entry on this port is refreshed, not a new learn against the limit.
                let stale_here = stored
                    .is_some_and(|entry| entry.port == ingress && entry.kind == EntryKind::Learned);
                if !stale_here && self.at_limit(ingress) {
                    return match self.port_config(ingress).limit_policy {
                        LimitPolicy::Drop => Err(DropReason::MacLimit),
                        LimitPolicy::Allow => {
                            self.counters.limit_allowed += 1;
                            Ok(())
                        }
                    };
                }
                match self
                    .table
                    .insert(vlan, mac(), ingress, EntryKind::Learned, now)
                {
                    Ok(()) => {
                        self.counters.learn_writes += 1;
                        self.port_counters[ingress.index()].learned += 1;
                        if !self.is_uplink(ingress) {
                            self.notify(ingress, vlan, mac());
                        }
                    }
                    Err(_) => self.counters.table_full += 1,
                }
                Ok(())
            }
        }
    }

    /// Forgets what the switch keeps for a burst's repeated addresses (the last source
    /// refreshed, the last known unicast decided). For tests: a switch that forgets before
    /// every frame decides without them, which must change nothing.
    #[doc(hidden)]
    pub fn forget_recent(&mut self) {
        self.recent_source = Recent::NONE;
        self.recent_unicast = RecentUnicast::NONE;
    }

    /// Keeps `key` as refreshed from `ingress` in `second` (see [`Switch::learn`]).
    fn remember_source(&mut self, key: u64, second: u32, ingress: PortId) {
        self.recent_source = Recent {
            key,
            generation: self.table.generation(),
            second,
            port: Some(ingress),
        };
    }

    /// The uplink traffic of `port` leaves by: its pin for a host port, itself for an uplink.
    fn uplink_for(&self, port: PortId) -> Option<PortId> {
        if self.is_uplink(port) {
            Some(port)
        } else {
            self.pinned[port.index()]
        }
    }

    fn notify(&mut self, host: PortId, vlan: VlanId, mac: MacAddress) {
        let Some(uplink) = self.pinned[host.index()] else {
            return;
        };
        let mode = self.port_config(uplink).vlan;
        if !mode.carries(vlan) {
            return;
        }
        let notification = Notification {
            uplink,
            vlan,
            mac,
            tagged: !mode.untagged(vlan),
        };
        if self.standby {
            return;
        }
        if self.notifications.push_back(notification).is_err() {
            self.counters.notify_overflow += 1;
        }
    }

    /// The next notify request, oldest first: send its RARP frame out of its uplink.
    pub fn next_notification(&mut self) -> Option<Notification> {
        self.notifications.pop_front()
    }

    /// Notify requests waiting.
    pub fn pending_notifications(&self) -> usize {
        self.notifications.len()
    }

    /// Whether host port `port` takes unicast to `destination` (the MAC-changes policy).
    fn accepts_unicast(&self, port: PortId, destination: u64) -> bool {
        let mac = self.port_macs[port.index()];
        if mac == 0 || mac == destination {
            return true;
        }
        let security = self.port_config(port).security;
        security.mac_changes == Policy::Accept || security.promiscuous == Policy::Accept
    }

    /// The edits a frame of `vlan` that arrived with `tag` needs: one for ports that carry the
    /// VLAN untagged, one for ports that carry it tagged.
    fn edits(vlan: VlanId, tag: IngressTag) -> Edits {
        Edits {
            untagged: match tag {
                IngressTag::Untagged => Edit::Keep,
                IngressTag::Priority(_) | IngressTag::Vlan(_) => Edit::Pop,
            },
            tagged: match tag {
                IngressTag::Vlan(_) => Edit::Keep,
                IngressTag::Priority(_) => Edit::SetVlan(vlan),
                IngressTag::Untagged => Edit::Push(vlan.get()),
            },
        }
    }

    /// Adds `port` to `outputs` with the edit the frame needs there.
    fn add_output(&self, outputs: &mut Outputs, port: PortId, vlan: VlanId, edits: Edits) {
        outputs.add(port, self.port_config(port).vlan.untagged(vlan), edits);
    }

    fn unicast(
        &mut self,
        ingress: PortId,
        destination_port: PortId,
        vlan: VlanId,
        tag: IngressTag,
        destination: u64,
    ) -> Decision {
        if destination_port == ingress {
            return Decision::Drop(DropReason::SamePort);
        }
        let egress = match (self.is_uplink(ingress), self.is_uplink(destination_port)) {
            (true, true) => return Decision::Drop(DropReason::UplinkToUplink),
            // Teaming, not learning, picks the uplink a host port's traffic leaves by.
            (false, true) => match self.pinned[ingress.index()] {
                Some(uplink) => uplink,
                None => return Decision::Drop(DropReason::NoUplink),
            },
            (_, false) => {
                if !self.accepts_unicast(destination_port, destination) {
                    return Decision::Drop(DropReason::MacChange);
                }
                destination_port
            }
        };
        if !self.config.port(egress).vlan.carries(vlan) {
            return Decision::Drop(DropReason::NoDestination);
        }
        if !self.link_up.contains(egress) {
            return Decision::Drop(DropReason::PortDown);
        }
        let edits = Self::edits(vlan, tag);
        let untagged = self.port_config(egress).vlan.untagged(vlan);
        if self.promiscuous.is_empty() {
            return Decision::Forward(Output {
                port: egress,
                edit: if untagged {
                    edits.untagged
                } else {
                    edits.tagged
                },
            });
        }
        let mut outputs = Outputs::default();
        outputs.add(egress, untagged, edits);
        for port in self.promiscuous.iter() {
            if port != ingress && port != egress && self.floods_to(ingress, port, vlan) {
                self.add_output(&mut outputs, port, vlan, edits);
            }
        }
        outputs.into_decision()
    }

    /// Whether a flood in `vlan` from `ingress` reaches `port` (split horizon, teaming's
    /// single uplink per host port, the reverse filter, link state).
    fn floods_to(&self, ingress: PortId, port: PortId, vlan: VlanId) -> bool {
        if port == ingress
            || !self.link_up.contains(port)
            || !self.port_config(port).vlan.carries(vlan)
        {
            return false;
        }
        match (self.is_uplink(ingress), self.is_uplink(port)) {
            (true, true) => false,
            (false, true) => self.pinned[ingress.index()] == Some(port),
            (true, false) => self.pinned[port.index()] == Some(ingress),
            (false, false) => true,
        }
    }

    fn flood(
        &mut self,
        ingress: PortId,
        vlan: VlanId,
        tag: IngressTag,
        unknown_unicast: Option<u64>,
    ) -> Decision {
        let edits = Self::edits(vlan, tag);
        let mut outputs = Outputs::default();
        for port in self.config.port_ids() {
            if !self.floods_to(ingress, port, vlan) {
                continue;
            }
            if let Some(destination) = unknown_unicast
                && !self.is_uplink(port)
                && !self.accepts_unicast(port, destination)
            {
                continue;
            }
            self.add_output(&mut outputs, port, vlan, edits);
        }
        outputs.into_decision()
    }

    /// Periodic work, bounded per call: one aging step and one step of a pending failover
    /// announcement (queueing a notify request per (MAC, VLAN) of each re-pinned host port).
    /// Call once per poll-loop pass.
    pub fn maintain(&mut self, now: Tick) {
        let aged = self.table.age(now, self.config.aging_seconds);
        self.counters.aged += aged as u64;
        // Deletions that pulled an unvisited entry behind the scan cursor lengthen the round.
        let rewound = self.table.take_scan_rewind();
        if self.announce_left > 0 {
            self.announce_left += rewound;
        }
        let mut budget = ANNOUNCE_SLOTS_PER_CALL;
        while self.announce_left > 0 && budget > 0 && !self.notifications.is_full() {
            if let Some(entry) = self.table.scan_step()
                && self.announce_ports.contains(entry.port)
                && self.live(&entry, now)
            {
                self.notify(entry.port, entry.vlan, entry.mac);
            }
            self.announce_left -= 1;
            budget -= 1;
        }
        if self.announce_left == 0 {
            self.announce_ports = PortSet::EMPTY;
        }
    }

    /// HA: while `standby`, every frame is dropped with [`DropReason::Standby`] after its
    /// source is learned; notify requests are not queued.
    pub fn set_standby(&mut self, standby: bool) {
        self.standby = standby;
        if standby {
            self.notifications.clear();
            self.announce_left = 0;
            self.announce_ports = PortSet::EMPTY;
        }
    }

    /// Whether the switch is an HA standby.
    pub fn standby(&self) -> bool {
        self.standby
    }

    /// HA takeover: announce every learned MAC of every host port (per VLAN, RARP on its
    /// uplink), through the same bounded scan as a teaming failover.
    pub fn announce_all(&mut self) {
        for port in self.config.port_ids() {
            if !self.is_uplink(port) && self.pinned[port.index()].is_some() {
                self.announce_ports.insert(port);
            }
        }
        if !self.announce_ports.is_empty() {
            self.announce_left = SLOTS;
        }
    }

    /// Whether a failover announcement is still being scanned.
    pub fn announcing(&self) -> bool {
        self.announce_left > 0
    }

    /// Switch-wide counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counters of `port`.
    pub fn port_counters(&self, port: PortId) -> &PortCounters {
        &self.port_counters[port.index()]
    }

    /// Entries in the MAC table.
    pub fn mac_count(&self) -> usize {
        self.table.len()
    }

    /// Learned entries on `port`.
    pub fn learned_on(&self, port: PortId) -> usize {
        self.table.learned_on(port)
    }

    /// The table entry for (`vlan`, `mac`).
    pub fn lookup(&self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        self.table.get(vlan, mac)
    }

    /// Every table entry (a full scan: console and API only).
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.table.iter()
    }

    /// The MAC table (read-only), e.g. for invariant checks.
    pub fn table(&self) -> &MacTable<SLOTS> {
        &self.table
    }

    /// Adds or replaces a static entry: frames to (`vlan`, `mac`) go to `port`; it never ages
    /// and learning never moves it.
    pub fn add_static(
        &mut self,
        vlan: VlanId,
        mac: MacAddress,
        port: PortId,
        now: Tick,
    ) -> Result<(), FdbError> {
        if !self.config.has_port(port) {
            return Err(FdbError::NoSuchPort(port));
        }
        if !mac.is_unicast() {
            return Err(FdbError::NotUnicast(mac));
        }
        if !self.port_config(port).vlan.carries(vlan) {
            return Err(FdbError::VlanNotCarried(port, vlan));
        }
        self.table
            .insert(vlan, mac, port, EntryKind::Static, now)
            .map_err(FdbError::Full)
    }

    /// Removes the entry for (`vlan`, `mac`), static or learned; returns it.
    pub fn remove_entry(&mut self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        self.table.remove(vlan, mac)
    }

    /// Removes every learned entry (of `port` only, if given). A full scan.
    pub fn flush_learned(&mut self, port: Option<PortId>) {
        self.table.remove_where(|entry| {
            entry.kind == EntryKind::Learned && port.is_none_or(|port| entry.port == port)
        });
    }
}

fn old_roles_differ(old: &SwitchConfig, new: &SwitchConfig) -> bool {
    old.ports
        .iter()
        .zip(new.ports.iter())
        .any(|(before, after)| before.role != after.role)
}

/// The VLAN a frame belongs to on a port in `mode`, or why it is refused.
fn classify(mode: &VlanMode, tag: IngressTag) -> Result<VlanId, DropReason> {
    match tag {
        IngressTag::Untagged | IngressTag::Priority(_) => match mode {
            VlanMode::Access(_) => mode.untagged_vlan().ok_or(DropReason::VlanNotAllowed),
            VlanMode::Trunk { .. } => mode.untagged_vlan().ok_or(DropReason::UntaggedNotAllowed),
        },
        IngressTag::Vlan(tci) => match VlanId::new(tci & 0x0fff) {
            Some(vlan) if mode.carries(vlan) => Ok(vlan),
            _ => Err(DropReason::VlanNotAllowed),
        },
    }
}
