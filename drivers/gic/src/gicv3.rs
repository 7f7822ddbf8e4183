//! GICv3 driver: distributor (GICD), the boot CPU's redistributor (GICR) and the system-register
//! CPU interface.
//!
//! Implements IHI 0069 (GIC architecture v3/v4) §12.9 (GICD), §12.10-12.11 (GICR RD and SGI
//! frames) and §12.2 (ICC system registers) for QEMU `virt,gic-version=3` (`arm,gic-v3`).
//! Affinity routing is on (`GICD_CTLR.ARE`); all interrupts are Non-secure Group 1 (or Group 1 in
//! a GIC with a single Security state, as QEMU has below EL3), signalled as IRQ; SPIs are routed
//! to the CPU that ran `init()` through `GICD_IROUTER`.
//!
//! Before the kernel runs at EL1, EL2 must set `ICC_SRE_EL2.SRE` and `ICC_SRE_EL2.Enable`
//! (`enable_system_registers_for_el1`, target builds), or EL1's accesses to `ICC_SRE_EL1`
//! trap to EL2.

mod cpu_interface;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

use crate::bank;
use crate::mmio::Mmio;
use crate::{
    DEFAULT_PRIORITY, GicError, GicVersion, IntId, IntKind, InterruptController, Trigger,
    poll_until,
};

register_bitfields! {u32,
    /// Distributor Control Register (IHI 0069 §12.9.4). Bits 0 and 1 are named for the
    /// Non-secure view; in a GIC with one Security state they are EnableGrp0 and EnableGrp1.
    GICD_CTLR [
        /// Register Write Pending: a write to CTLR or ICENABLER is still taking effect.
        RWP OFFSET(31) NUMBITS(1) [],
        /// Affinity Routing Enable (ARE_NS in the Non-secure view, ARE with one Security state).
        ARE OFFSET(4) NUMBITS(1) [],
        /// EnableGrp1A (Non-secure view: Non-secure Group 1, affinity routed) / EnableGrp1
        /// (one Security state).
        EnableGrp1A OFFSET(1) NUMBITS(1) [],
        /// EnableGrp1 (Non-secure view) / EnableGrp0 (one Security state).
        EnableGrp1 OFFSET(0) NUMBITS(1) []
    ],

    /// Interrupt Controller Type Register (IHI 0069 §12.9.38).
    GICD_TYPER [
        /// Implemented SPI lines: INTIDs up to 32 * (ITLinesNumber + 1) - 1, capped at 1019.
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],

    /// Peripheral ID2 Register (IHI 0069 §12.9.33).
    GICD_PIDR2 [
        /// Architecture revision: 1 = GICv1, 2 = GICv2, 3 = GICv3, 4 = GICv4.
        ArchRev OFFSET(4) NUMBITS(4) []
    ],

    /// Redistributor Control Register (IHI 0069 §12.11.2).
    GICR_CTLR [
        /// Register Write Pending: a write to the SGI frame's ICENABLER0 is still taking effect.
        RWP OFFSET(3) NUMBITS(1) []
    ],

    /// Redistributor Wake Register (IHI 0069 §12.11.40).
    GICR_WAKER [
        /// Reads 1 while the redistributor's interface to the CPU is quiescent (asleep).
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        /// Written 0 to tell the redistributor that its CPU is awake and wants interrupts.
        ProcessorSleep OFFSET(1) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    /// Redistributor Type Register (IHI 0069 §12.11.37).
    GICR_TYPER [
        /// The affinity of the CPU this redistributor serves: Aff3.Aff2.Aff1.Aff0.
        AffinityValue OFFSET(32) NUMBITS(32) [],
        /// This is the last redistributor frame of the region.
        Last OFFSET(4) NUMBITS(1) [],
        /// GICv4 virtual LPIs: the frame has two more 64 KiB pages (VLPI and reserved).
        VLPIS OFFSET(1) NUMBITS(1) []
    ],

    /// Interrupt Routing Register, one per SPI (IHI 0069 §12.9.22).
    GICD_IROUTER [
        /// 1 = any participating CPU; 0 = the CPU named by the affinity fields.
        InterruptRoutingMode OFFSET(31) NUMBITS(1) [],
        /// Target affinity level 3.
        Aff3 OFFSET(32) NUMBITS(8) [],
        /// Target affinity levels 2, 1 and 0 (as in MPIDR_EL1 bits 23:0).
        Aff2To0 OFFSET(0) NUMBITS(24) []
    ]
}

register_structs! {
    /// GICv3 distributor register map (IHI 0069 Table 12-25), the parts this driver uses.
    DistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => _iidr: ReadOnly<u32>),
        (0x000c => _reserved0),
        (0x0080 => igroupr: [ReadWrite<u32>; 32]),
        (0x0100 => isenabler: [ReadWrite<u32>; 32]),
        (0x0180 => icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _ispendr: [ReadWrite<u32>; 32]),
        (0x0280 => icpendr: [ReadWrite<u32>; 32]),
        (0x0300 => _isactiver: [ReadWrite<u32>; 32]),
        (0x0380 => icactiver: [ReadWrite<u32>; 32]),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x07fc => _reserved1),
        (0x0c00 => icfgr: [ReadWrite<u32>; 64]),
        (0x0d00 => igrpmodr: [ReadWrite<u32>; 32]),
        (0x0d80 => _reserved2),
        (0x6000 => irouter: [ReadWrite<u64, GICD_IROUTER::Register>; 1020]),
        (0x7fe0 => _reserved3),
        (0xffe8 => pidr2: ReadOnly<u32, GICD_PIDR2::Register>),
        (0xffec => _reserved4),
        (0x10000 => @END),
    }
}

register_structs! {
    /// Redistributor control frame, RD_base (IHI 0069 Table 12-27), the parts this driver uses.
    RedistributorRegisters {
        (0x0000 => ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => _iidr: ReadOnly<u32>),
        (0x0008 => typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _statusr: ReadWrite<u32>),
        (0x0014 => waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved0),
        (0x10000 => @END),
    }
}

register_structs! {
    /// Redistributor SGI/PPI frame, SGI_base = RD_base + 64 KiB (IHI 0069 Table 12-29).
    /// One-register banks are arrays of one so the shared bank helpers apply.
    SgiRegisters {
        (0x0000 => _reserved0),
        (0x0080 => igroupr0: [ReadWrite<u32>; 1]),
        (0x0084 => _reserved1),
        (0x0100 => isenabler0: [ReadWrite<u32>; 1]),
        (0x0104 => _reserved2),
        (0x0180 => icenabler0: [ReadWrite<u32>; 1]),
        (0x0184 => _reserved3),
        (0x0280 => icpendr0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0380 => icactiver0: ReadWrite<u32>),
        (0x0384 => _reserved5),
        (0x0400 => ipriorityr: [ReadWrite<u32>; 8]),
        (0x0420 => _reserved6),
        (0x0c00 => icfgr: [ReadWrite<u32>; 2]),
        (0x0c08 => _reserved7),
        (0x0d00 => igrpmodr0: ReadWrite<u32>),
        (0x0d04 => _reserved8),
        (0x10000 => @END),
    }
}

/// Size of the distributor's register map, for the kernel's MMU mapping.
pub const DISTRIBUTOR_SIZE: usize = 0x1_0000;
/// Size of one GICv3 redistributor frame (RD + SGI pages); GICv4 frames with VLPIs are twice it.
pub const REDISTRIBUTOR_FRAME_SIZE: usize = 0x2_0000;
/// Offset of the SGI/PPI page from RD_base.
const SGI_FRAME_OFFSET: usize = 0x1_0000;
/// Largest INTID + 1 a distributor can implement without the extended SPI range.
const MAX_LINES: u32 = 1020;
/// `GICD_PIDR2.ArchRev` values this driver programs correctly.
const SUPPORTED_REVISIONS: core::ops::RangeInclusive<u32> = 3..=4;

/// The redistributor `GICR_TYPER.AffinityValue` (Aff3.Aff2.Aff1.Aff0) for an `MPIDR_EL1`-layout
/// affinity (Aff3 at 39:32, Aff2..Aff0 at 23:0).
#[must_use]
pub const fn redistributor_affinity(mpidr_affinity: u64) -> u32 {
    let aff3 = (mpidr_affinity >> 32) & 0xff;
    let aff2_to_0 = mpidr_affinity & 0xff_ffff;
    // Both parts are masked to 8 and 24 bits: the result fits in 32.
    ((aff3 << 24) | aff2_to_0) as u32
}

/// The boot CPU's redistributor: its control page and its SGI/PPI page.
struct Redistributor {
    control: Mmio<RedistributorRegisters>,
    sgi: Mmio<SgiRegisters>,
}

/// A GICv3: distributor, the redistributor region, and (after `init`) the boot CPU's frame.
pub struct GicV3 {
    distributor: Mmio<DistributorRegisters>,
    redistributor_region: usize,
    redistributor_region_size: usize,
    redistributor: Option<Redistributor>,
}

// SAFETY: the driver is only addresses; `new`'s contract makes it the sole owner of the GIC's
// registers, wherever it moves.
unsafe impl Send for GicV3 {}
// SAFETY: the only `&self` register accesses are the CPU interface's acknowledge and end of
// interrupt (per-CPU system registers); all distributor/redistributor configuration needs
// `&mut self`.
unsafe impl Sync for GicV3 {}

impl GicV3 {
    /// A driver for the GICv3 whose distributor starts at `distributor` and whose
    /// redistributors fill `redistributor_region_size` bytes from `redistributor_region`
    /// (the first and second `reg` entries of the device-tree node).
    ///
    /// # Safety
    ///
    /// - The ranges `distributor..+DISTRIBUTOR_SIZE` and
    ///   `redistributor_region..+redistributor_region_size` must be a GICv3's GICD and GICR
    ///   registers, identity-mapped as device memory, and stay mapped while the driver exists.
    /// - No other code may access those registers, nor the calling CPU's `ICC_*` registers,
    ///   while the driver exists (one driver per GIC).
    #[must_use]
    pub const unsafe fn new(
        distributor: usize,
        redistributor_region: usize,
        redistributor_region_size: usize,
    ) -> Self {
        Self {
            // SAFETY: the caller vouches for the distributor's mapping and exclusive use.
            distributor: unsafe { Mmio::new(distributor) },
            redistributor_region,
            redistributor_region_size,
            redistributor: None,
        }
    }

    /// Number of interrupt lines (INTIDs 0..lines) the distributor implements.
    #[must_use]
    pub fn lines(&self) -> u32 {
        let field = self.distributor.typer.read(GICD_TYPER::ITLinesNumber);
        (32 * (field + 1)).min(MAX_LINES)
    }

    /// The boot CPU's redistributor frame address, once `init()` found it (for diagnostics).
    #[must_use]
    pub fn redistributor_address(&self) -> Option<usize> {
        self.redistributor
            .as_ref()
            .map(|redistributor| redistributor.control.address())
    }

    /// Walks the redistributor region for the frame whose `GICR_TYPER` names `affinity`.
    fn find_redistributor(&self, affinity: u32) -> Result<Redistributor, GicError> {
        let not_found = GicError::RedistributorNotFound { affinity };
        let region_end = self
            .redistributor_region
            .checked_add(self.redistributor_region_size)
            .ok_or(not_found)?;
        let mut frame = self.redistributor_region;
        while frame
            .checked_add(REDISTRIBUTOR_FRAME_SIZE)
            .is_some_and(|end| end <= region_end)
        {
            // SAFETY: the whole 128 KiB frame lies inside the redistributor region the caller
            // of `new` vouched for, and the driver alone owns it.
            let control: Mmio<RedistributorRegisters> = unsafe { Mmio::new(frame) };
            let typer = control.typer.extract();
            if typer.read(GICR_TYPER::AffinityValue) == u64::from(affinity) {
                // SAFETY: the SGI page is the second half of the same in-region frame.
                let sgi = unsafe { Mmio::new(frame + SGI_FRAME_OFFSET) };
                return Ok(Redistributor { control, sgi });
            }
            if typer.is_set(GICR_TYPER::Last) {
                break;
            }
            let stride = if typer.is_set(GICR_TYPER::VLPIS) {
                2 * REDISTRIBUTOR_FRAME_SIZE
            } else {
                REDISTRIBUTOR_FRAME_SIZE
            };
            frame = match frame.checked_add(stride) {
                Some(next) => next,
                None => break,
            };
        }
        Err(not_found)
    }

    fn wait_for_distributor(&self) -> Result<(), GicError> {
        let control = &self.distributor.ctlr;
        poll_until(
            || !control.is_set(GICD_CTLR::RWP),
            GicError::RegisterWriteTimeout,
        )
    }

    fn check_revision(&self) -> Result<(), GicError> {
        let revision = self.distributor.pidr2.read(GICD_PIDR2::ArchRev);
        if SUPPORTED_REVISIONS.contains(&revision) {
            Ok(())
        } else {
            // ArchRev is a 4-bit field: it fits in a u8.
            Err(GicError::UnexpectedArchitectureRevision(revision as u8))
        }
    }

    fn init_distributor(&self, affinity: u64) -> Result<(), GicError> {
        let distributor = &*self.distributor;
        distributor.ctlr.set(0);
        self.wait_for_distributor()?;

        let lines = self.lines() as usize;
        let spi_bit_registers = 1..lines / 32;
        bank::fill(&distributor.icenabler, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.icpendr, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.icactiver, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.igroupr, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.igrpmodr, spi_bit_registers, 0);
        self.wait_for_distributor()?;

        bank::fill(
            &distributor.ipriorityr,
            8..lines / 4,
            bank::replicate_byte(DEFAULT_PRIORITY),
        );
        bank::fill(&distributor.icfgr, 2..lines / 16, 0);

        // IROUTER only takes effect with affinity routing on, and ARE may only change while
        // the groups are disabled: turn ARE on alone, route, then enable.
        distributor.ctlr.write(GICD_CTLR::ARE::SET);
        self.wait_for_distributor()?;
        for router in distributor.irouter.iter().take(lines).skip(32) {
            router.set(affinity);
        }
        distributor
            .ctlr
            .write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1A::SET + GICD_CTLR::EnableGrp1::SET);
        self.wait_for_distributor()
    }

    fn init_redistributor(redistributor: &Redistributor) -> Result<(), GicError> {
        let control = &redistributor.control;
        control.waker.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        poll_until(
            || !control.waker.is_set(GICR_WAKER::ChildrenAsleep),
            GicError::RedistributorAsleep,
        )?;

        let sgi = &redistributor.sgi;
        // PPIs off until asked for; SGIs stay as they are (none are sent yet).
        sgi.icenabler0[0].set(0xffff_0000);
        Self::wait_for_redistributor(redistributor)?;
        sgi.icpendr0.set(0xffff_0000);
        sgi.icactiver0.set(u32::MAX);
        sgi.igroupr0[0].set(u32::MAX);
        sgi.igrpmodr0.set(0);
        bank::fill(
            &sgi.ipriorityr,
            0..8,
            bank::replicate_byte(DEFAULT_PRIORITY),
        );
        Ok(())
    }

    fn wait_for_redistributor(redistributor: &Redistributor) -> Result<(), GicError> {
        let control = &redistributor.control.ctlr;
        poll_until(
            || !control.is_set(GICR_CTLR::RWP),
            GicError::RegisterWriteTimeout,
        )
    }

    /// The registers holding `id`'s enable and trigger bits, and a way to wait for writes to
    /// them: the redistributor's SGI frame for SGIs/PPIs, the distributor for SPIs.
    fn banks_for(&self, id: IntId) -> Result<Banks<'_>, GicError> {
        if id.is_private() {
            let redistributor = self
                .redistributor
                .as_ref()
                .ok_or(GicError::NotInitialized)?;
            Ok(Banks::Redistributor(redistributor))
        } else if id.raw() < self.lines() {
            Ok(Banks::Distributor(self))
        } else {
            Err(GicError::NotImplemented(id))
        }
    }
}

/// Where an interrupt's configuration lives (see [`GicV3::banks_for`]).
enum Banks<'a> {
    Distributor(&'a GicV3),
    Redistributor(&'a Redistributor),
}

impl Banks<'_> {
    fn set_enable(&self) -> &[ReadWrite<u32>] {
        match self {
            Self::Distributor(gic) => &gic.distributor.isenabler,
            Self::Redistributor(redistributor) => &redistributor.sgi.isenabler0,
        }
    }

    fn clear_enable(&self) -> &[ReadWrite<u32>] {
        match self {
            Self::Distributor(gic) => &gic.distributor.icenabler,
            Self::Redistributor(redistributor) => &redistributor.sgi.icenabler0,
        }
    }

    fn config(&self) -> &[ReadWrite<u32>] {
        match self {
            Self::Distributor(gic) => &gic.distributor.icfgr,
            Self::Redistributor(redistributor) => &redistributor.sgi.icfgr,
        }
    }

    fn priority(&self) -> &[ReadWrite<u32>] {
        match self {
            Self::Distributor(gic) => &gic.distributor.ipriorityr,
            Self::Redistributor(redistributor) => &redistributor.sgi.ipriorityr,
        }
    }

    /// Disables `id` and waits until the disable has taken effect (RWP), as the architecture
    /// requires before depending on it.
    fn disable(&self, id: IntId) -> Result<(), GicError> {
        bank::write_bit(self.clear_enable(), id)?;
        match self {
            Self::Distributor(gic) => gic.wait_for_distributor(),
            Self::Redistributor(redistributor) => GicV3::wait_for_redistributor(redistributor),
        }
    }
}

impl InterruptController for GicV3 {
    fn init(&mut self) -> Result<(), GicError> {
        self.check_revision()?;
        let affinity = cpu_interface::current_affinity();
        let redistributor = self.find_redistributor(redistributor_affinity(affinity))?;
        self.init_distributor(affinity)?;
        Self::init_redistributor(&redistributor)?;
        self.redistributor = Some(redistributor);
        if !cpu_interface::enable_system_register_interface() {
            return Err(GicError::SystemRegisterInterfaceDisabled);
        }
        cpu_interface::init(0xff);
        Ok(())
    }

    fn set_trigger(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        let banks = self.banks_for(id)?;
        if id.kind() == IntKind::Sgi {
            return match trigger {
                Trigger::Edge => Ok(()),
                Trigger::Level => Err(GicError::SgiIsEdgeOnly(id)),
            };
        }
        // IHI 0069 §12.9.9: changing Int_config of an enabled interrupt is UNPREDICTABLE.
        let was_enabled = bank::read_bit(banks.set_enable(), id)?;
        if was_enabled {
            banks.disable(id)?;
        }
        bank::write_trigger(banks.config(), id, trigger)?;
        if was_enabled {
            bank::write_bit(banks.set_enable(), id)?;
        }
        Ok(())
    }

    fn enable(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        self.set_trigger(id, trigger)?;
        bank::write_bit(self.banks_for(id)?.set_enable(), id)
    }

    fn disable(&mut self, id: IntId) -> Result<(), GicError> {
        self.banks_for(id)?.disable(id)
    }

    fn set_priority(&mut self, id: IntId, priority: u8) -> Result<(), GicError> {
        bank::write_byte(self.banks_for(id)?.priority(), id, priority)
    }

    fn acknowledge(&self) -> Option<IntId> {
        // IntId::new refuses 1020..=1023, the spurious/special IDs.
        IntId::new(cpu_interface::acknowledge())
    }

    fn end_of_interrupt(&self, id: IntId) {
        cpu_interface::end_of_interrupt(id.raw());
    }

    fn version(&self) -> GicVersion {
        GicVersion::V3
    }
}

/// Prepares EL2 so that EL1 can use the GICv3 system register interface: sets
/// `ICC_SRE_EL2.SRE` (EL2 itself uses system registers) and `ICC_SRE_EL2.Enable` (EL1 accesses
/// to `ICC_SRE_EL1` do not trap), and clears `ICH_HCR_EL2` (no virtual CPU interface). The
/// kernel's entry code calls it at EL2 before dropping to EL1; on GICv2 systems it returns
/// [`GicError::NoSystemRegisterInterface`], which the caller can ignore.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub fn enable_system_registers_for_el1() -> Result<(), GicError> {
    use aarch64_cpu::asm::barrier;
    use aarch64_cpu::registers::{
        CurrentEL, ICC_SRE_EL2, ICH_HCR_EL2, ID_AA64PFR0_EL1, ReadWriteable, Readable, Writeable,
    };

    // A 2-bit field: fits in a u8.
    let current_el = CurrentEL.read(CurrentEL::EL) as u8;
    if current_el != 2 {
        return Err(GicError::NotAtEl2 { current_el });
    }
    // ID_AA64PFR0_EL1.GIC, bits 27:24 (aarch64-cpu 11.2 does not name the field): 0 means no
    // system register interface, and ICC_SRE_EL2 would be UNDEFINED.
    if (ID_AA64PFR0_EL1.get() >> 24) & 0xf == 0 {
        return Err(GicError::NoSystemRegisterInterface);
    }
    ICC_SRE_EL2.modify(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
    barrier::isb(barrier::SY);
    if !ICC_SRE_EL2.is_set(ICC_SRE_EL2::SRE) {
        return Err(GicError::SystemRegisterInterfaceDisabled);
    }
    ICH_HCR_EL2.set(0);
    barrier::isb(barrier::SY);
    Ok(())
}

#[cfg(test)]
mod tests;
