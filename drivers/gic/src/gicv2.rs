//! GICv2 driver: memory-mapped distributor (GICD) and CPU interface (GICC).
//!
//! Implements IHI 0048B (GIC architecture v2.0) §4.3 (distributor) and §4.4 (CPU interface) as
//! QEMU `virt` presents it (`arm,cortex-a15-gic`, no Security Extensions when booted below EL3).
//! Every interrupt stays in Group 0, which a GIC without Security Extensions signals as IRQ
//! (`GICC_CTLR.FIQEn` = 0); with Security Extensions and a Non-secure kernel the group registers
//! are RAZ/WI and bit 0 of both control registers is the Group 1 enable, so the same writes work.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

use crate::bank;
use crate::mmio::Mmio;
use crate::{DEFAULT_PRIORITY, GicError, GicVersion, IntId, IntKind, InterruptController, Trigger};

register_bitfields! {u32,
    /// Distributor Control Register (IHI 0048B §4.3.1).
    GICD_CTLR [
        /// Forward pending interrupts to the CPU interfaces (Group 0, or the Non-secure view's
        /// Group 1 when the GIC has Security Extensions).
        Enable OFFSET(0) NUMBITS(1) []
    ],

    /// Interrupt Controller Type Register (IHI 0048B §4.3.2).
    GICD_TYPER [
        /// Implemented interrupt lines: 32 * (ITLinesNumber + 1), capped at 1020.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        /// Implemented CPU interfaces minus one.
        CPUNumber OFFSET(5) NUMBITS(3) []
    ],

    /// CPU Interface Control Register (IHI 0048B §4.4.1).
    GICC_CTLR [
        /// Signal interrupts to the processor (Group 0, or Non-secure Group 1 as above).
        /// `EOImode` (bit 9) stays 0: a write to EOIR both drops priority and deactivates.
        Enable OFFSET(0) NUMBITS(1) []
    ],

    /// Interrupt Priority Mask Register (IHI 0048B §4.4.2).
    GICC_PMR [
        /// Only interrupts more urgent (numerically lower) than this reach the processor.
        Priority OFFSET(0) NUMBITS(8) []
    ],

    /// Binary Point Register (IHI 0048B §4.4.3).
    GICC_BPR [
        /// Split of the priority into group priority and subpriority; 0 asks for the minimum.
        BinaryPoint OFFSET(0) NUMBITS(3) []
    ],

    /// Interrupt Acknowledge Register (IHI 0048B §4.4.4).
    GICC_IAR [
        /// The acknowledged interrupt, or 1022/1023 when none can be acknowledged.
        InterruptID OFFSET(0) NUMBITS(10) [],
        /// For SGIs: the CPU that sent it.
        CPUID OFFSET(10) NUMBITS(3) []
    ],

    /// End of Interrupt Register (IHI 0048B §4.4.5).
    GICC_EOIR [
        /// The interrupt being completed, as read from IAR.
        EOIINTID OFFSET(0) NUMBITS(10) [],
        /// For SGIs: the sending CPU, as read from IAR.
        CPUID OFFSET(10) NUMBITS(3) []
    ]
}

register_structs! {
    /// GICv2 distributor register map (IHI 0048B Table 4-1).
    DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => typer: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => _iidr: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _ispendr: [ReadWrite<u32>; 32]),
        (0x280 => icpendr: [ReadWrite<u32>; 32]),
        (0x300 => _isactiver: [ReadWrite<u32>; 32]),
        (0x380 => icactiver: [ReadWrite<u32>; 32]),
        (0x400 => ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved1),
        (0x800 => itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved2),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => _sgir: WriteOnly<u32>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// GICv2 CPU interface register map (IHI 0048B Table 4-2).
    CpuInterfaceRegisters {
        (0x000 => ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x004 => pmr: ReadWrite<u32, GICC_PMR::Register>),
        (0x008 => bpr: ReadWrite<u32, GICC_BPR::Register>),
        (0x00c => iar: ReadOnly<u32, GICC_IAR::Register>),
        (0x010 => eoir: WriteOnly<u32, GICC_EOIR::Register>),
        (0x014 => _rpr: ReadOnly<u32>),
        (0x018 => _hppir: ReadOnly<u32>),
        (0x01c => _reserved0),
        (0x0fc => _iidr: ReadOnly<u32>),
        (0x100 => _reserved1),
        (0x1000 => _dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

/// Size of the distributor's register map, for the kernel's MMU mapping.
pub const DISTRIBUTOR_SIZE: usize = 0x1000;
/// Size of the CPU interface's register map (DIR at 0x1000 included), for the MMU mapping.
pub const CPU_INTERFACE_SIZE: usize = 0x2000;

/// Largest INTID + 1 a GIC can implement (1020..=1023 are special).
const MAX_LINES: u32 = 1020;
/// Bits of `ITARGETSR` that name CPU interfaces, per interrupt.
const CPU_MASK_BITS: u32 = 0xff;

/// A GICv2: distributor plus the calling CPU's (banked) CPU interface.
pub struct GicV2 {
    distributor: Mmio<DistributorRegisters>,
    cpu_interface: Mmio<CpuInterfaceRegisters>,
}

// SAFETY: the driver is only addresses; moving it to another CPU or context is fine because
// `new`'s contract makes it the sole owner of the GIC's registers.
unsafe impl Send for GicV2 {}
// SAFETY: the only `&self` register accesses are single reads of GICC_IAR and writes of
// GICC_EOIR, which the GIC performs atomically; all read-modify-write configuration needs
// `&mut self`.
unsafe impl Sync for GicV2 {}

impl GicV2 {
    /// A driver for the GICv2 whose distributor starts at `distributor` and whose CPU interface
    /// starts at `cpu_interface` (the first and second `reg` entries of the device-tree node).
    ///
    /// # Safety
    ///
    /// - `distributor` and `cpu_interface` must be the physical (identity-mapped) bases of a
    ///   GICv2's GICD and GICC, mapped as device memory for [`DISTRIBUTOR_SIZE`] and
    ///   [`CPU_INTERFACE_SIZE`] bytes, and stay mapped while the driver exists.
    /// - No other code may access those registers while the driver exists (one driver per GIC).
    #[must_use]
    pub const unsafe fn new(distributor: usize, cpu_interface: usize) -> Self {
        Self {
            // SAFETY: the caller vouches for the distributor's mapping and exclusive use.
            distributor: unsafe { Mmio::new(distributor) },
            // SAFETY: the caller vouches for the CPU interface's mapping and exclusive use.
            cpu_interface: unsafe { Mmio::new(cpu_interface) },
        }
    }

    /// Number of interrupt lines (INTIDs 0..lines) the distributor implements.
    #[must_use]
    pub fn lines(&self) -> u32 {
        let field = self.distributor.typer.read(GICD_TYPER::ITLinesNumber);
        (32 * (field + 1)).min(MAX_LINES)
    }

    /// The distributor's base address (for diagnostics).
    #[must_use]
    pub fn distributor_address(&self) -> usize {
        self.distributor.address()
    }

    /// `id`, if this distributor implements it.
    fn check(&self, id: IntId) -> Result<IntId, GicError> {
        if id.raw() < self.lines() {
            Ok(id)
        } else {
            Err(GicError::NotImplemented(id))
        }
    }

    /// The CPU-interface mask of the calling CPU: the banked `ITARGETSR0..7` read back the
    /// reader's own bit (IHI 0048B §4.3.12). A uniprocessor GIC reads 0 there; use CPU 0.
    fn own_cpu_mask(&self) -> u8 {
        let mask = self.distributor.itargetsr[0].get() & CPU_MASK_BITS;
        // Truncation is exact: `mask` is at most 0xff.
        u8::try_from(mask)
            .ok()
            .filter(|mask| *mask != 0)
            .unwrap_or(1)
    }

    fn init_distributor(&self) {
        let distributor = &*self.distributor;
        distributor.ctlr.set(0);

        let lines = self.lines() as usize;
        let spi_bit_registers = 1..lines / 32;
        bank::fill(&distributor.icenabler, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.icpendr, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.icactiver, spi_bit_registers.clone(), u32::MAX);
        bank::fill(&distributor.igroupr, spi_bit_registers, 0);

        let spi_byte_registers = 8..lines / 4;
        let priority = bank::replicate_byte(DEFAULT_PRIORITY);
        bank::fill(
            &distributor.ipriorityr,
            spi_byte_registers.clone(),
            priority,
        );
        let target = bank::replicate_byte(self.own_cpu_mask());
        bank::fill(&distributor.itargetsr, spi_byte_registers, target);
        bank::fill(&distributor.icfgr, 2..lines / 16, 0);

        distributor.ctlr.write(GICD_CTLR::Enable::SET);
    }

    /// The banked SGI/PPI registers and the CPU interface of the calling CPU.
    fn init_cpu(&self) {
        let distributor = &*self.distributor;
        // PPIs off until asked for; SGI enables are implementation-defined, leave them.
        distributor.icenabler[0].set(0xffff_0000);
        distributor.igroupr[0].set(0);
        bank::fill(
            &distributor.ipriorityr,
            0..8,
            bank::replicate_byte(DEFAULT_PRIORITY),
        );

        let cpu_interface = &*self.cpu_interface;
        cpu_interface.pmr.write(GICC_PMR::Priority.val(0xff));
        cpu_interface.bpr.write(GICC_BPR::BinaryPoint.val(0));
        cpu_interface.ctlr.write(GICC_CTLR::Enable::SET);
    }
}

impl InterruptController for GicV2 {
    fn init(&mut self) -> Result<(), GicError> {
        self.init_distributor();
        self.init_cpu();
        Ok(())
    }

    fn set_trigger(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        let id = self.check(id)?;
        if id.kind() == IntKind::Sgi {
            return match trigger {
                Trigger::Edge => Ok(()),
                Trigger::Level => Err(GicError::SgiIsEdgeOnly(id)),
            };
        }
        let distributor = &*self.distributor;
        // IHI 0048B §4.3.13: changing Int_config of an enabled interrupt is UNPREDICTABLE.
        let was_enabled = bank::read_bit(&distributor.isenabler, id)?;
        if was_enabled {
            bank::write_bit(&distributor.icenabler, id)?;
        }
        bank::write_trigger(&distributor.icfgr, id, trigger)?;
        if was_enabled {
            bank::write_bit(&distributor.isenabler, id)?;
        }
        Ok(())
    }

    fn enable(&mut self, id: IntId, trigger: Trigger) -> Result<(), GicError> {
        self.set_trigger(id, trigger)?;
        bank::write_bit(&self.distributor.isenabler, id)
    }

    fn disable(&mut self, id: IntId) -> Result<(), GicError> {
        let id = self.check(id)?;
        bank::write_bit(&self.distributor.icenabler, id)
    }

    fn set_priority(&mut self, id: IntId, priority: u8) -> Result<(), GicError> {
        let id = self.check(id)?;
        bank::write_byte(&self.distributor.ipriorityr, id, priority)
    }

    fn acknowledge(&self) -> Option<IntId> {
        // IntId::new refuses 1020..=1023, the spurious/special IDs.
        IntId::new(self.cpu_interface.iar.read(GICC_IAR::InterruptID))
    }

    fn end_of_interrupt(&self, id: IntId) {
        // SGIs from other CPUs would also need IAR's CPUID here; this firmware sends none.
        self.cpu_interface
            .eoir
            .write(GICC_EOIR::EOIINTID.val(id.raw()));
    }

    fn version(&self) -> GicVersion {
        GicVersion::V2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    /// Ordinary memory standing in for the GIC's register pages.
    struct FakeGic {
        distributor: Vec<u32>,
        cpu_interface: Vec<u32>,
    }

    impl FakeGic {
        fn new(it_lines_number: u32) -> Self {
            let mut distributor = vec![0u32; DISTRIBUTOR_SIZE / 4];
            distributor[1] = it_lines_number; // GICD_TYPER at 0x004
            distributor[0x800 / 4] = 0x0101_0101; // banked ITARGETSR0: "you are CPU 0"
            // Garbage a previous boot stage may have left.
            distributor[0x180 / 4 + 1] = 0;
            distributor[0xc00 / 4 + 2] = 0xffff_ffff;
            Self {
                distributor,
                cpu_interface: vec![0u32; CPU_INTERFACE_SIZE / 4],
            }
        }

        fn driver(&mut self) -> GicV2 {
            let distributor = self.distributor.as_mut_ptr().expose_provenance();
            let cpu_interface = self.cpu_interface.as_mut_ptr().expose_provenance();
            // SAFETY: both vectors outlive the driver in every test and are large enough.
            unsafe { GicV2::new(distributor, cpu_interface) }
        }

        fn gicd(&self, offset: usize) -> u32 {
            self.distributor[offset / 4]
        }

        fn gicc(&self, offset: usize) -> u32 {
            self.cpu_interface[offset / 4]
        }
    }

    fn id(raw: u32) -> IntId {
        IntId::new(raw).unwrap()
    }

    #[test]
    fn init_programs_distributor_and_cpu_interface() {
        // ITLinesNumber 2 => 96 lines, as QEMU virt's 288-line GIC would give 8 => 288.
        let mut fake = FakeGic::new(2);
        let mut gic = fake.driver();
        assert_eq!(gic.lines(), 96);
        gic.init().unwrap();
        assert_eq!(gic.version(), GicVersion::V2);
        assert_eq!(fake.gicd(0x000), 1, "distributor enabled");
        assert_eq!(fake.gicd(0x180 + 4), u32::MAX, "SPIs 32..63 disabled");
        assert_eq!(fake.gicd(0x180 + 8), u32::MAX, "SPIs 64..95 disabled");
        assert_eq!(fake.gicd(0x180 + 12), 0, "no lines beyond 96");
        assert_eq!(fake.gicd(0x180), 0xffff_0000, "PPIs disabled");
        assert_eq!(fake.gicd(0x400), 0xa0a0_a0a0, "SGI priorities");
        assert_eq!(
            fake.gicd(0x400 + 4 * 23),
            0xa0a0_a0a0,
            "last SPI priorities"
        );
        assert_eq!(fake.gicd(0x400 + 4 * 24), 0, "beyond the lines");
        assert_eq!(fake.gicd(0x800 + 4 * 8), 0x0101_0101, "SPIs target CPU 0");
        assert_eq!(fake.gicd(0x800 + 4 * 23), 0x0101_0101);
        assert_eq!(fake.gicd(0xc00 + 8), 0, "SPIs level-triggered");
        assert_eq!(fake.gicc(0x000), 1, "CPU interface enabled");
        assert_eq!(fake.gicc(0x004), 0xff, "priority mask open");
    }

    #[test]
    fn targets_the_calling_cpu() {
        let mut fake = FakeGic::new(1);
        fake.distributor[0x800 / 4] = 0x0404_0404; // CPU interface 2 reads its own bit
        fake.driver().init().unwrap();
        assert_eq!(fake.gicd(0x800 + 4 * 8), 0x0404_0404);
        let mut uniprocessor = FakeGic::new(1);
        uniprocessor.distributor[0x800 / 4] = 0; // RAZ on a uniprocessor GIC
        uniprocessor.driver().init().unwrap();
        assert_eq!(uniprocessor.gicd(0x800 + 4 * 8), 0x0101_0101);
    }

    #[test]
    fn enable_disable_and_trigger() {
        let mut fake = FakeGic::new(2);
        let mut gic = fake.driver();
        gic.init().unwrap();
        gic.enable(id(27), Trigger::Level).unwrap();
        assert_eq!(fake.gicd(0x100), 1 << 27);
        assert_eq!(fake.gicd(0xc00 + 4) & (0b10 << 22), 0);
        gic.enable(id(79), Trigger::Edge).unwrap();
        assert_eq!(fake.gicd(0x100 + 8), 1 << 15);
        assert_eq!(fake.gicd(0xc00 + 16), 0b10 << 30);
        gic.disable(id(79)).unwrap();
        assert_eq!(fake.gicd(0x180 + 8), 1 << 15);
        gic.set_trigger(id(79), Trigger::Level).unwrap();
        assert_eq!(fake.gicd(0xc00 + 16), 0);
        gic.set_priority(id(33), 0x40).unwrap();
        assert_eq!(fake.gicd(0x400 + 4 * 8), 0xa0a0_40a0);
        assert_eq!(
            gic.set_priority(id(96), 0),
            Err(GicError::NotImplemented(id(96)))
        );
    }

    #[test]
    fn trigger_change_disables_an_enabled_interrupt_around_it() {
        let mut fake = FakeGic::new(2);
        let mut gic = fake.driver();
        // Memory does not clear ISENABLER on an ICENABLER write, so "enabled" stays visible;
        // what matters is that ICENABLER was written and ISENABLER rewritten.
        fake.distributor[0x100 / 4 + 1] = 1 << 1; // INTID 33 enabled
        fake.distributor[0xc00 / 4 + 2] = 0;
        gic.set_trigger(id(33), Trigger::Edge).unwrap();
        assert_eq!(fake.gicd(0x180 + 4), 1 << 1, "disabled during the change");
        assert_eq!(fake.gicd(0xc00 + 8), 0b10 << 2);
    }

    #[test]
    fn rejects_unimplemented_and_level_sgis() {
        let mut fake = FakeGic::new(0); // 32 lines: SGIs and PPIs only
        let mut gic = fake.driver();
        assert_eq!(
            gic.enable(id(32), Trigger::Level),
            Err(GicError::NotImplemented(id(32)))
        );
        assert_eq!(
            gic.disable(id(1019)),
            Err(GicError::NotImplemented(id(1019)))
        );
        assert_eq!(
            gic.enable(id(3), Trigger::Level),
            Err(GicError::SgiIsEdgeOnly(id(3)))
        );
        assert_eq!(gic.enable(id(3), Trigger::Edge), Ok(()));
        assert_eq!(fake.gicd(0x100), 1 << 3);
    }

    #[test]
    fn lines_capped_at_1020() {
        let mut fake = FakeGic::new(31);
        assert_eq!(fake.driver().lines(), 1020);
    }

    #[test]
    fn acknowledge_and_end() {
        let mut fake = FakeGic::new(2);
        let gic = fake.driver();
        fake.cpu_interface[0x00c / 4] = 1023;
        assert_eq!(gic.acknowledge(), None);
        fake.cpu_interface[0x00c / 4] = 1022;
        assert_eq!(gic.acknowledge(), None);
        fake.cpu_interface[0x00c / 4] = (3 << 10) | 48;
        assert_eq!(gic.acknowledge(), Some(id(48)));
        gic.end_of_interrupt(id(48));
        assert_eq!(fake.gicc(0x010), 48);
    }
}
