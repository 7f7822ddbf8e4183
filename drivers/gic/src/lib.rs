//! GICv2 and GICv3 interrupt controller drivers (tock-registers).
//!
//! The kernel reads the interrupt controller node from the device tree, picks the version from its
//! `compatible` ([`GicVersion::from_compatible_list`]), builds a [`GicV2`] or [`GicV3`] with the
//! node's register bases (one `unsafe fn new` each), wraps it in [`Gic`] and from then on only
//! calls the safe methods of [`InterruptController`]:
//!
//! ```text
//! init()                      -> distributor, (redistributor), CPU interface of the boot CPU
//! enable(intid, Trigger)      -> trigger mode, then forward the interrupt to the boot CPU
//! acknowledge() -> Option<..> -> IRQ handler: which interrupt fired (None when spurious)
//! end_of_interrupt(intid)     -> IRQ handler: priority drop + deactivate (EOImode 0)
//! ```
//!
//! Implements the ARM Generic Interrupt Controller Architecture Specification (IHI 0048B for
//! GICv2, IHI 0069 for GICv3): all interrupts are in one group, signalled as IRQ, at one priority,
//! routed to the CPU that ran `init()`. Configuration methods take `&mut self`; the interrupt
//! handler's `acknowledge`/`end_of_interrupt` take `&self` (single CPU-interface register
//! accesses), so a driver can sit behind a lock for setup and still be reachable from the handler.
//!
//! GICv3 needs the EL2 side prepared first: before dropping to EL1, the entry code must set
//! `ICC_SRE_EL2.SRE` and `ICC_SRE_EL2.Enable` (`gicv3::enable_system_registers_for_el1`, on
//! target builds), or EL1's first access to `ICC_SRE_EL1` traps to EL2.
//!
//! System-register code is compiled only for the bare-metal aarch64 target; host builds replace
//! the GICv3 CPU interface with an in-memory model so the crate builds and tests on the host.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
extern crate std;

mod bank;
pub mod gicv2;
pub mod gicv3;
mod intid;
mod mmio;

use core::fmt;

pub use gicv2::GicV2;
pub use gicv3::GicV3;
pub use intid::{IntId, IntKind, Trigger};

/// Priority given to every interrupt by `init()`: the middle of the range, so a later scheme can
/// place urgent interrupts above it. Lower values are more urgent; the CPU mask is 0xff (all pass).
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// How many times a driver re-reads a "write pending" or "asleep" bit before giving up. The GIC
/// answers within a few hundred cycles; a bound keeps a broken or absent GIC from hanging boot.
pub const POLL_LIMIT: u32 = 1_000_000;

/// Why a GIC operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum GicError {
    /// The interrupt ID lies beyond the lines this GIC implements (`GICD_TYPER.ITLinesNumber`).
    NotImplemented(IntId),
    /// SGIs are always edge-triggered; a level trigger was asked for one.
    SgiIsEdgeOnly(IntId),
    /// A method that needs `init()` (to know the boot CPU's redistributor) ran before it.
    NotInitialized,
    /// A register write did not complete: `GICD_CTLR.RWP` or `GICR_CTLR.RWP` stayed set.
    RegisterWriteTimeout,
    /// The redistributor did not wake: `GICR_WAKER.ChildrenAsleep` stayed set.
    RedistributorAsleep,
    /// No redistributor frame in the region carries this CPU's affinity (`GICR_TYPER`).
    RedistributorNotFound {
        /// The affinity searched for, as in `GICR_TYPER[63:32]` (Aff3.Aff2.Aff1.Aff0).
        affinity: u32,
    },
    /// The distributor's `GICD_PIDR2.ArchRev` names another GIC version than the driver's.
    UnexpectedArchitectureRevision(u8),
    /// `ICC_SRE_EL1.SRE` reads back 0: a higher exception level keeps the system register
    /// interface disabled (the memory-mapped GICv2-compatible interface is not supported).
    SystemRegisterInterfaceDisabled,
    /// The CPU implements no GICv3 system register interface (`ID_AA64PFR0_EL1.GIC` is 0).
    NoSystemRegisterInterface,
    /// An EL2-only helper ran at another exception level.
    NotAtEl2 {
        /// The exception level found in `CurrentEL`.
        current_el: u8,
    },
}

impl fmt::Display for GicError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotImplemented(id) => write!(formatter, "INTID {} not implemented", id.raw()),
            Self::SgiIsEdgeOnly(id) => write!(formatter, "SGI {} cannot be level", id.raw()),
            Self::NotInitialized => formatter.write_str("GIC not initialised"),
            Self::RegisterWriteTimeout => formatter.write_str("GIC register write pending (RWP)"),
            Self::RedistributorAsleep => formatter.write_str("redistributor did not wake"),
            Self::RedistributorNotFound { affinity } => {
                write!(formatter, "no redistributor for affinity {affinity:#x}")
            }
            Self::UnexpectedArchitectureRevision(revision) => {
                write!(formatter, "unexpected GIC architecture revision {revision}")
            }
            Self::SystemRegisterInterfaceDisabled => {
                formatter.write_str("ICC_SRE_EL1.SRE stuck at 0 (set ICC_SRE_EL2 at EL2)")
            }
            Self::NoSystemRegisterInterface => {
                formatter.write_str("CPU has no GICv3 system register interface")
            }
            Self::NotAtEl2 { current_el } => {
                write!(formatter, "running at EL{current_el}, not EL2")
            }
        }
    }
}

/// Which GIC architecture a driver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2: memory-mapped distributor (GICD) and CPU interface (GICC).
    V2,
    /// GICv3: distributor (GICD), per-CPU redistributors (GICR), system-register CPU interface.
    V3,
}

impl fmt::Display for GicVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Self::V2 => "GICv2",
            Self::V3 => "GICv3",
        })
    }
}

impl GicVersion {
    /// Device-tree `compatible` strings of GICv2-programming-model controllers (Linux binding
    /// `arm,gic.yaml`). QEMU `virt` uses `arm,cortex-a15-gic`.
    pub const COMPATIBLE_V2: &'static [&'static str] = &[
        "arm,cortex-a15-gic",
        "arm,cortex-a9-gic",
        "arm,cortex-a7-gic",
        "arm,gic-400",
        "arm,arm1176jzf-devchip-gic",
        "arm,arm11mp-gic",
        "arm,eb11mp-gic",
        "arm,pl390",
        "arm,tc11mp-gic",
        "arm,realview-gic",
    ];

    /// Device-tree `compatible` strings of GICv3 controllers (binding `arm,gic-v3.yaml`).
    pub const COMPATIBLE_V3: &'static [&'static str] = &["arm,gic-v3"];

    /// The version a single `compatible` string names, if it names a GIC this crate drives.
    #[must_use]
    pub fn from_compatible(compatible: &str) -> Option<Self> {
        if Self::COMPATIBLE_V3.contains(&compatible) {
            Some(Self::V3)
        } else if Self::COMPATIBLE_V2.contains(&compatible) {
            Some(Self::V2)
        } else {
            None
        }
    }

    /// The version named by the first recognised entry of a `compatible` list (most specific
    /// first, as the device tree orders them).
    #[must_use]
    pub fn from_compatible_list<'a>(
        compatibles: impl IntoIterator<Item = &'a str>,
    ) -> Option<Self> {
        compatibles.into_iter().find_map(Self::from_compatible)
    }
}

/// What the kernel calls on an interrupt controller, whichever version it is.
pub trait InterruptController {
    /// Brings the controller up for the calling (boot) CPU: every shared interrupt disabled,
    /// level-triggered, at [`DEFAULT_PRIORITY`] and routed to this CPU; then the distributor and
    /// this CPU's interface are enabled with a priority mask that lets every priority through.
    fn init(&mut self) -> Result<(), GicError>;

    /// Sets the trigger mode of `id` (disabling it around the change if it was enabled, as the
    /// architecture requires). SGIs are always edge-triggered.
    fn set_trigger(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError>;

    /// Configures `id` with `trigger`, then lets it be forwarded to the boot CPU.
    fn enable(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError>;

    /// Stops forwarding `id`; an already pending interrupt stays pending.
    fn disable(&mut self, id: IntId) -> Result<(), GicError>;

    /// Sets `id`'s priority (lower is more urgent; `init()` gives every interrupt
    /// [`DEFAULT_PRIORITY`]). GICs implement only the top 4 to 8 bits; the rest read as 0.
    fn set_priority(&mut self, id: IntId, priority: u8) -> Result<(), GicError>;

    /// Acknowledges the highest-priority pending interrupt and returns it, or `None` when the
    /// read was spurious (INTIDs 1020..=1023). Every `Some` must be ended with
    /// [`end_of_interrupt`](Self::end_of_interrupt).
    fn acknowledge(&self) -> Option<IntId>;

    /// Signals the end of an acknowledged interrupt (priority drop and deactivation).
    fn end_of_interrupt(&self, id: IntId);

    /// The architecture version this driver speaks.
    fn version(&self) -> GicVersion;
}

/// A GIC of either version, chosen at run time from the device tree.
pub enum Gic {
    /// A GICv2 (QEMU `virt` default, `arm,cortex-a15-gic`).
    V2(GicV2),
    /// A GICv3 (QEMU `virt,gic-version=3`, `arm,gic-v3`).
    V3(GicV3),
}

impl InterruptController for Gic {
    fn init(&mut self) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => gic.init(),
            Self::V3(gic) => gic.init(),
        }
    }

    fn set_trigger(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => gic.set_trigger(id, trigger),
            Self::V3(gic) => gic.set_trigger(id, trigger),
        }
    }

    fn enable(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => gic.enable(id, trigger),
            Self::V3(gic) => gic.enable(id, trigger),
        }
    }

    fn disable(&mut self, id: IntId) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => gic.disable(id),
            Self::V3(gic) => gic.disable(id),
        }
    }

    fn set_priority(&mut self, id: IntId, priority: u8) -> Result<(), GicError> {
        match self {
            Self::V2(gic) => gic.set_priority(id, priority),
            Self::V3(gic) => gic.set_priority(id, priority),
        }
    }

    fn acknowledge(&self) -> Option<IntId> {
        match self {
            Self::V2(gic) => gic.acknowledge(),
            Self::V3(gic) => gic.acknowledge(),
        }
    }

    fn end_of_interrupt(&self, id: IntId) {
        match self {
            Self::V2(gic) => gic.end_of_interrupt(id),
            Self::V3(gic) => gic.end_of_interrupt(id),
        }
    }

    fn version(&self) -> GicVersion {
        match self {
            Self::V2(gic) => gic.version(),
            Self::V3(gic) => gic.version(),
        }
    }
}

/// Re-reads `done` up to [`POLL_LIMIT`] times; `Err(error)` if it never became true.
fn poll_until(mut done: impl FnMut() -> bool, error: GicError) -> Result<(), GicError> {
    for _ in 0..POLL_LIMIT {
        if done() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_errors_read_as_words() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(GicVersion::V2.to_string(), "GICv2");
        assert_eq!(GicVersion::V3.to_string(), "GICv3");
        assert_eq!(
            GicError::RedistributorNotFound { affinity: 0x100 }.to_string(),
            "no redistributor for affinity 0x100"
        );
    }

    #[test]
    fn compatible_selects_version() {
        assert_eq!(
            GicVersion::from_compatible("arm,cortex-a15-gic"),
            Some(GicVersion::V2)
        );
        assert_eq!(
            GicVersion::from_compatible("arm,gic-400"),
            Some(GicVersion::V2)
        );
        assert_eq!(
            GicVersion::from_compatible("arm,gic-v3"),
            Some(GicVersion::V3)
        );
        assert_eq!(GicVersion::from_compatible("arm,gic-v3-its"), None);
        assert_eq!(GicVersion::from_compatible(""), None);
        assert_eq!(
            GicVersion::from_compatible_list(["vendor,special-gic", "arm,gic-v3"]),
            Some(GicVersion::V3)
        );
        assert_eq!(GicVersion::from_compatible_list(["arm,pl011"]), None);
    }

    #[test]
    fn poll_until_gives_up() {
        let mut calls = 0u32;
        let result = poll_until(
            || {
                calls += 1;
                false
            },
            GicError::RedistributorAsleep,
        );
        assert_eq!(result, Err(GicError::RedistributorAsleep));
        assert_eq!(calls, POLL_LIMIT);
        assert_eq!(poll_until(|| true, GicError::RedistributorAsleep), Ok(()));
    }

    #[test]
    fn errors_display() {
        use std::string::ToString;
        let text = GicError::RedistributorNotFound { affinity: 0x100 }.to_string();
        assert_eq!(text, "no redistributor for affinity 0x100");
    }
}
