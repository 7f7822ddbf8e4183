//! Small value types: MAC addresses, VLAN ids, port ids and sets, ticks.

use core::fmt;

/// The most data ports a switch has (`port1` .. `port7`; `mgmt0` is never a switch port).
pub const MAX_PORTS: usize = 7;

// A port set is a `u8` bit mask; one bit per port.
const _: () = assert!(MAX_PORTS <= 8);

/// A 48-bit Ethernet address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddress = MacAddress([0xff; 6]);
    /// `00:00:00:00:00:00` (never a valid source).
    pub const ZERO: MacAddress = MacAddress([0; 6]);

    /// Group address (multicast or broadcast): the I/G bit of the first octet.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }

    /// `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }

    /// A unicast address other than all zeros: what a port or a source may be.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast() && self != Self::ZERO
    }

    /// The 48 bits as an integer (first octet most significant).
    pub const fn to_u64(self) -> u64 {
        let b = self.0;
        ((b[0] as u64) << 40)
            | ((b[1] as u64) << 32)
            | ((b[2] as u64) << 24)
            | ((b[3] as u64) << 16)
            | ((b[4] as u64) << 8)
            | (b[5] as u64)
    }

    /// The address from the low 48 bits of `value`.
    pub const fn from_u64(value: u64) -> Self {
        MacAddress([
            (value >> 40) as u8,
            (value >> 32) as u8,
            (value >> 24) as u8,
            (value >> 16) as u8,
            (value >> 8) as u8,
            value as u8,
        ])
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (hex, `:` or `-` separated).
    pub fn parse(text: &str) -> Option<Self> {
        let mut octets = [0u8; 6];
        let mut count = 0;
        for part in text.split([':', '-']) {
            if count == 6 || part.is_empty() || part.len() > 2 {
                return None;
            }
            octets[count] = u8::from_str_radix(part, 16).ok()?;
            count += 1;
        }
        (count == 6).then_some(MacAddress(octets))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            formatter,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// An 802.1Q VLAN id in 1..=4094 (0 means "priority tag only", 4095 is reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanId(u16);

impl VlanId {
    /// The lowest usable id.
    pub const MIN: u16 = 1;
    /// The highest usable id.
    pub const MAX: u16 = 4094;
    /// VLAN 1, the default access VLAN.
    pub const DEFAULT: VlanId = VlanId(1);

    /// `Some` for 1..=4094.
    pub const fn new(id: u16) -> Option<Self> {
        if id >= Self::MIN && id <= Self::MAX {
            Some(VlanId(id))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// A data port, numbered as the kernel names them: `port1` .. `port7`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(u8);

impl PortId {
    /// `Some` for 1..=[`MAX_PORTS`].
    pub const fn new(number: u8) -> Option<Self> {
        if number >= 1 && number as usize <= MAX_PORTS {
            Some(PortId(number))
        } else {
            None
        }
    }

    /// The port with array index `index` (0-based); `None` past [`MAX_PORTS`].
    pub const fn from_index(index: usize) -> Option<Self> {
        if index < MAX_PORTS {
            Some(PortId(index as u8 + 1))
        } else {
            None
        }
    }

    /// The number in the name (`port3` is 3).
    pub const fn number(self) -> u8 {
        self.0
    }

    /// 0-based index for arrays.
    pub const fn index(self) -> usize {
        self.0 as usize - 1
    }

    /// Parses `port3` (or a bare `3`).
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix("port").unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        PortId::new(digits.parse().ok()?)
    }
}

impl fmt::Display for PortId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "port{}", self.0)
    }
}

/// A set of ports (bit `index` for each member).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct PortSet(u8);

impl PortSet {
    /// No ports.
    pub const EMPTY: PortSet = PortSet(0);

    /// Adds `port`.
    pub fn insert(&mut self, port: PortId) {
        self.0 |= 1 << port.index();
    }

    /// Removes `port`.
    pub fn remove(&mut self, port: PortId) {
        self.0 &= !(1 << port.index());
    }

    /// Whether `port` is a member.
    pub const fn contains(self, port: PortId) -> bool {
        self.0 & (1 << port.index()) != 0
    }

    /// Number of members.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// No members.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The raw bit mask (bit 0 is `port1`).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Members in ascending order.
    pub fn iter(self) -> impl Iterator<Item = PortId> {
        (0..MAX_PORTS)
            .filter(move |index| self.0 & (1 << index) != 0)
            .filter_map(PortId::from_index)
    }
}

impl fmt::Display for PortSet {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return formatter.write_str("none");
        }
        for (position, port) in self.iter().enumerate() {
            if position > 0 {
                formatter.write_str(",")?;
            }
            write!(formatter, "{port}")?;
        }
        Ok(())
    }
}

/// A point in time from the caller's clock, in milliseconds (the switch keeps whole seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Tick(pub u64);

impl Tick {
    /// From milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Tick(millis)
    }

    /// From seconds.
    pub const fn from_secs(seconds: u64) -> Self {
        Tick(seconds.saturating_mul(1000))
    }

    /// Whole seconds, as the MAC table stores them (wraps after 136 years).
    pub const fn coarse_seconds(self) -> u32 {
        (self.0 / 1000) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_display() {
        let mac = MacAddress::parse("52:54:00:AB:cd:0f").unwrap();
        assert_eq!(mac.0, [0x52, 0x54, 0, 0xab, 0xcd, 0x0f]);
        let mut text = heapless::String::<32>::new();
        core::fmt::write(&mut text, format_args!("{mac}")).unwrap();
        assert_eq!(text.as_str(), "52:54:00:ab:cd:0f");
        assert_eq!(MacAddress::from_u64(mac.to_u64()), mac);
        for bad in [
            "",
            "52:54:00:ab:cd",
            "52:54:00:ab:cd:0f:01",
            "5254:00:ab:cd:0f",
            "zz:54:00:ab:cd:0f",
        ] {
            assert_eq!(MacAddress::parse(bad), None, "{bad}");
        }
        assert!(MacAddress::BROADCAST.is_multicast());
        assert!(!MacAddress::ZERO.is_unicast());
    }

    #[test]
    fn port_ids_and_sets() {
        assert_eq!(PortId::new(0), None);
        assert_eq!(PortId::new(8), None);
        assert_eq!(PortId::parse("port7").map(PortId::index), Some(6));
        assert_eq!(PortId::parse("3").map(PortId::number), Some(3));
        assert_eq!(PortId::parse("port"), None);
        assert_eq!(PortId::parse("port+1"), None);
        let mut set = PortSet::EMPTY;
        set.insert(PortId::new(2).unwrap());
        set.insert(PortId::new(5).unwrap());
        assert_eq!(set.len(), 2);
        let mut text = heapless::String::<32>::new();
        core::fmt::write(&mut text, format_args!("{set}")).unwrap();
        assert_eq!(text.as_str(), "port2,port5");
    }

    #[test]
    fn vlan_range() {
        assert_eq!(VlanId::new(0), None);
        assert_eq!(VlanId::new(4095), None);
        assert_eq!(VlanId::new(4094).map(VlanId::get), Some(4094));
    }
}
