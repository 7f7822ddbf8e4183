//! Interrupt IDs (INTIDs), their kinds, trigger modes and device-tree encodings.
//!
//! GIC INTID space (IHI 0069 §2.2): 0..=15 SGIs, 16..=31 PPIs (banked per CPU), 32..=1019 SPIs,
//! 1020..=1023 special (spurious). Extended PPI/SPI ranges and LPIs are not supported.

/// Software-generated interrupts: INTIDs below this.
const SGI_END: u32 = 16;
/// Private peripheral interrupts: INTIDs from `SGI_END` below this.
const PPI_END: u32 = 32;
/// Shared peripheral interrupts: INTIDs from `PPI_END` below this; 1020..=1023 are special.
const SPI_END: u32 = 1020;

/// An interrupt ID that names a real interrupt (never one of the special INTIDs 1020..=1023).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntId(u32);

/// The class of an interrupt, from its INTID range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    /// Software-generated interrupt (0..=15), sent between CPUs.
    Sgi,
    /// Private peripheral interrupt (16..=31), one per CPU (e.g. the generic timers).
    Ppi,
    /// Shared peripheral interrupt (32..=1019), from devices such as virtio-mmio.
    Spi,
}

/// How a peripheral signals its interrupt (`GICD_ICFGR`/`GICR_ICFGR` `Int_config[1]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Asserted while the condition lasts (active-high level).
    Level,
    /// Signalled by a rising edge.
    Edge,
}

impl IntId {
    /// The INTID `raw`, if it names an SGI, PPI or SPI.
    #[must_use]
    pub const fn new(raw: u32) -> Option<Self> {
        if raw < SPI_END { Some(Self(raw)) } else { None }
    }

    /// SGI number `number` (0..=15).
    #[must_use]
    pub const fn sgi(number: u32) -> Option<Self> {
        if number < SGI_END {
            Some(Self(number))
        } else {
            None
        }
    }

    /// PPI number `number` (0..=15), i.e. INTID 16 + `number`.
    #[must_use]
    pub const fn ppi(number: u32) -> Option<Self> {
        if number < PPI_END - SGI_END {
            Some(Self(SGI_END + number))
        } else {
            None
        }
    }

    /// SPI number `number` (0..=987), i.e. INTID 32 + `number`.
    #[must_use]
    pub const fn spi(number: u32) -> Option<Self> {
        if number < SPI_END - PPI_END {
            Some(Self(PPI_END + number))
        } else {
            None
        }
    }

    /// The INTID of a device-tree `interrupts` specifier's first two cells (GIC binding: cell 0
    /// is 0 for an SPI, 1 for a PPI; cell 1 is the number within that class). QEMU `virt`'s
    /// virtual timer, `<1 11 ..>`, is INTID 27.
    #[must_use]
    pub const fn from_device_tree(kind_cell: u32, number_cell: u32) -> Option<Self> {
        match kind_cell {
            0 => Self::spi(number_cell),
            1 => Self::ppi(number_cell),
            _ => None,
        }
    }

    /// The INTID as a number.
    #[must_use]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Which range the INTID is in.
    #[must_use]
    pub const fn kind(self) -> IntKind {
        if self.0 < SGI_END {
            IntKind::Sgi
        } else if self.0 < PPI_END {
            IntKind::Ppi
        } else {
            IntKind::Spi
        }
    }

    /// Whether the INTID is banked per CPU (SGI or PPI): configured in the GICv3 redistributor,
    /// or in the banked first registers of the GICv2 distributor.
    #[must_use]
    pub const fn is_private(self) -> bool {
        self.0 < PPI_END
    }

    /// Register index and bit mask in a one-bit-per-interrupt array (`ISENABLER`, `IGROUPR`...).
    pub(crate) const fn bit_position(self) -> (usize, u32) {
        ((self.0 / 32) as usize, 1 << (self.0 % 32))
    }

    /// Register index and bit shift of the two-bit `Int_config` field in `ICFGR`.
    pub(crate) const fn config_position(self) -> (usize, u32) {
        ((self.0 / 16) as usize, 2 * (self.0 % 16))
    }

    /// Register index and bit shift of the byte field in `IPRIORITYR` / `ITARGETSR`.
    pub(crate) const fn byte_position(self) -> (usize, u32) {
        ((self.0 / 4) as usize, 8 * (self.0 % 4))
    }
}

impl Trigger {
    /// The trigger a device-tree `interrupts` specifier's flags cell asks for (bits 3:0:
    /// 1 = rising edge, 4 = active-high level). Falling edge and active-low (2, 8) cannot be
    /// expressed to a GIC: `None`. Bits 15:8 (the GICv2 PPI CPU mask) are ignored.
    #[must_use]
    pub const fn from_device_tree_flags(flags: u32) -> Option<Self> {
        match flags & 0xf {
            1 => Some(Self::Edge),
            4 => Some(Self::Level),
            _ => None,
        }
    }
}

impl core::fmt::Display for IntId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (kind, number) = match self.kind() {
            IntKind::Sgi => ("SGI", self.0),
            IntKind::Ppi => ("PPI", self.0 - SGI_END),
            IntKind::Spi => ("SPI", self.0 - PPI_END),
        };
        write!(f, "INTID {} ({kind} {number})", self.0)
    }
}

impl core::fmt::Display for IntKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Sgi => "software-generated",
            Self::Ppi => "private peripheral",
            Self::Spi => "shared peripheral",
        })
    }
}

impl core::fmt::Display for Trigger {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Level => "level",
            Self::Edge => "edge",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(IntId::new(0).map(IntId::kind), Some(IntKind::Sgi));
        assert_eq!(IntId::new(15).map(IntId::kind), Some(IntKind::Sgi));
        assert_eq!(IntId::new(16).map(IntId::kind), Some(IntKind::Ppi));
        assert_eq!(IntId::new(31).map(IntId::kind), Some(IntKind::Ppi));
        assert_eq!(IntId::new(32).map(IntId::kind), Some(IntKind::Spi));
        assert_eq!(IntId::new(1019).map(IntId::kind), Some(IntKind::Spi));
        for special in 1020..=1023 {
            assert_eq!(IntId::new(special), None);
        }
        assert_eq!(IntId::sgi(16), None);
        assert_eq!(IntId::ppi(15).map(IntId::raw), Some(31));
        assert_eq!(IntId::ppi(16), None);
        assert_eq!(IntId::spi(0).map(IntId::raw), Some(32));
        assert_eq!(IntId::spi(987).map(IntId::raw), Some(1019));
        assert_eq!(IntId::spi(988), None);
        assert!(IntId::ppi(0).is_some_and(IntId::is_private));
        assert!(!IntId::spi(0).is_some_and(IntId::is_private));
    }

    #[test]
    fn words_not_debug() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            IntId::ppi(11).map(|id| id.to_string()).as_deref(),
            Some("INTID 27 (PPI 11)")
        );
        assert_eq!(
            IntId::spi(16).map(|id| id.to_string()).as_deref(),
            Some("INTID 48 (SPI 16)")
        );
        assert_eq!(
            IntId::sgi(1).map(|id| id.to_string()).as_deref(),
            Some("INTID 1 (SGI 1)")
        );
        assert_eq!(IntKind::Spi.to_string(), "shared peripheral");
        assert_eq!(Trigger::Level.to_string(), "level");
        assert_eq!(Trigger::Edge.to_string(), "edge");
    }

    #[test]
    fn device_tree_cells() {
        // QEMU virt: timer <1 11 0x104> (virtual timer PPI), virtio-mmio <0 16 1>.
        assert_eq!(IntId::from_device_tree(1, 11).map(IntId::raw), Some(27));
        assert_eq!(IntId::from_device_tree(0, 16).map(IntId::raw), Some(48));
        assert_eq!(IntId::from_device_tree(2, 0), None);
        assert_eq!(IntId::from_device_tree(1, 16), None);
        assert_eq!(Trigger::from_device_tree_flags(0x104), Some(Trigger::Level));
        assert_eq!(Trigger::from_device_tree_flags(0xf01), Some(Trigger::Edge));
        assert_eq!(Trigger::from_device_tree_flags(1), Some(Trigger::Edge));
        assert_eq!(Trigger::from_device_tree_flags(2), None);
        assert_eq!(Trigger::from_device_tree_flags(8), None);
        assert_eq!(Trigger::from_device_tree_flags(0), None);
    }

    #[test]
    fn register_positions() {
        let id = |raw| IntId::new(raw).unwrap();
        assert_eq!(id(0).bit_position(), (0, 1));
        assert_eq!(id(27).bit_position(), (0, 1 << 27));
        assert_eq!(id(32).bit_position(), (1, 1));
        assert_eq!(id(79).bit_position(), (2, 1 << 15));
        assert_eq!(id(1019).bit_position(), (31, 1 << 27));
        assert_eq!(id(27).config_position(), (1, 22));
        assert_eq!(id(32).config_position(), (2, 0));
        assert_eq!(id(47).config_position(), (2, 30));
        assert_eq!(id(27).byte_position(), (6, 24));
        assert_eq!(id(33).byte_position(), (8, 8));
        assert_eq!(id(1019).byte_position(), (254, 24));
    }
}
