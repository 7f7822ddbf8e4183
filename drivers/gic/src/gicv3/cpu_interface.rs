//! GICv3 CPU interface through the `ICC_*_EL1` system registers (IHI 0069 §12.2).
//!
//! aarch64-cpu 11.2 provides only `ICC_SRE_EL2` and a partial `ICC_CTLR_EL1`, so the EL1
//! registers are accessed by their generic `S3_<op1>_C<n>_C<m>_<op2>` encodings, which every
//! assembler accepts without a GIC feature flag. On the host (tests, `cargo clippy`) the same
//! functions act on an in-memory model instead, so the driver logic above them builds and runs.

/// `ICC_SRE_EL1.SRE`: use the system register interface (not the memory-mapped GICC).
pub(crate) const SRE_ENABLE: u64 = 1 << 0;
/// `ICC_SRE_EL1.DFB`: disable FIQ bypass.
pub(crate) const SRE_DISABLE_FIQ_BYPASS: u64 = 1 << 1;
/// `ICC_SRE_EL1.DIB`: disable IRQ bypass.
pub(crate) const SRE_DISABLE_IRQ_BYPASS: u64 = 1 << 2;
/// `ICC_CTLR_EL1.CBPR`: one binary point for both groups (we use group 1 only: clear it).
const CTLR_COMMON_BINARY_POINT: u64 = 1 << 0;
/// `ICC_CTLR_EL1.EOImode`: 0 = an EOIR write drops priority and deactivates (no DIR write).
const CTLR_EOI_MODE: u64 = 1 << 1;
/// `ICC_IGRPEN1_EL1.Enable`: signal Group 1 interrupts.
const IGRPEN1_ENABLE: u64 = 1 << 0;
/// `ICC_IAR1_EL1.INTID`: 24 bits wide; values 1020..=1023 are special.
const IAR_INTID: u64 = (1 << 24) - 1;

/// Sets `ICC_SRE_EL1.SRE` (plus the bypass disables) and reports whether it stuck: it reads as
/// 0 when EL2/EL3 forbid the system register interface.
pub(crate) fn enable_system_register_interface() -> bool {
    registers::write_sre(SRE_ENABLE | SRE_DISABLE_FIQ_BYPASS | SRE_DISABLE_IRQ_BYPASS);
    registers::instruction_barrier();
    registers::read_sre() & SRE_ENABLE != 0
}

/// Programs the CPU interface for the calling CPU: every priority passes the mask, no
/// subpriority, EOImode 0, Group 1 signalled.
pub(crate) fn init(priority_mask: u8) {
    registers::write_pmr(u64::from(priority_mask));
    // 0 asks for the smallest binary point the implementation has: all bits are group priority.
    registers::write_bpr1(0);
    registers::write_ctlr(registers::read_ctlr() & !(CTLR_COMMON_BINARY_POINT | CTLR_EOI_MODE));
    registers::write_igrpen1(IGRPEN1_ENABLE);
    registers::instruction_barrier();
}

/// Acknowledges the highest-priority pending Group 1 interrupt; returns its INTID (1023 when
/// none).
pub(crate) fn acknowledge() -> u32 {
    let intid = registers::read_iar1() & IAR_INTID;
    // The mask keeps 24 bits, which always fit.
    u32::try_from(intid).unwrap_or(u32::MAX)
}

/// Ends an acknowledged Group 1 interrupt.
pub(crate) fn end_of_interrupt(intid: u32) {
    registers::write_eoir1(u64::from(intid));
    // Make the deactivation visible before the handler returns and unmasks.
    registers::instruction_barrier();
}

/// The calling CPU's affinity, `MPIDR_EL1` with the non-affinity bits cleared
/// (Aff3 at 39:32, Aff2..Aff0 at 23:0: the layout `GICD_IROUTER` takes).
pub(crate) fn current_affinity() -> u64 {
    registers::read_mpidr() & 0x00ff_00ff_ffff
}

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod registers {
    //! The real system registers.

    use aarch64_cpu::asm::barrier;
    use aarch64_cpu::registers::{MPIDR_EL1, Readable};

    /// Defines a read function for the system register with the given encoding.
    macro_rules! read_register {
        ($(#[$doc:meta])* $name:ident, $encoding:literal) => {
            $(#[$doc])*
            pub(super) fn $name() -> u64 {
                let value: u64;
                // SAFETY: reading this ICC register has no memory effects; EL2 enabled EL1
                // access (ICC_SRE_EL2.Enable) before the kernel ran, as the crate documents.
                unsafe {
                    core::arch::asm!(
                        concat!("mrs {value}, ", $encoding),
                        value = out(reg) value,
                        options(nomem, nostack, preserves_flags),
                    );
                }
                value
            }
        };
    }

    /// Defines a write function for the system register with the given encoding.
    macro_rules! write_register {
        ($(#[$doc:meta])* $name:ident, $encoding:literal) => {
            $(#[$doc])*
            pub(super) fn $name(value: u64) {
                // SAFETY: this ICC register only changes how the GIC CPU interface filters and
                // tracks interrupts, not memory; the driver owns the CPU interface (the
                // contract of `GicV3::new`).
                unsafe {
                    core::arch::asm!(
                        concat!("msr ", $encoding, ", {value}"),
                        value = in(reg) value,
                        options(nomem, nostack, preserves_flags),
                    );
                }
            }
        };
    }

    read_register!(
        /// `ICC_SRE_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=5): System Register Enable.
        read_sre, "S3_0_C12_C12_5"
    );
    write_register!(
        /// `ICC_SRE_EL1` (S3_0_C12_C12_5): System Register Enable.
        write_sre, "S3_0_C12_C12_5"
    );
    write_register!(
        /// `ICC_PMR_EL1` (op0=3 op1=0 CRn=4 CRm=6 op2=0): Priority Mask Register.
        write_pmr, "S3_0_C4_C6_0"
    );
    write_register!(
        /// `ICC_BPR1_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=3): Group 1 Binary Point Register.
        write_bpr1, "S3_0_C12_C12_3"
    );
    read_register!(
        /// `ICC_CTLR_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=4): Control Register.
        read_ctlr, "S3_0_C12_C12_4"
    );
    write_register!(
        /// `ICC_CTLR_EL1` (S3_0_C12_C12_4): Control Register.
        write_ctlr, "S3_0_C12_C12_4"
    );
    write_register!(
        /// `ICC_IGRPEN1_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=7): Group 1 Interrupt Enable.
        write_igrpen1, "S3_0_C12_C12_7"
    );
    write_register!(
        /// `ICC_EOIR1_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=1): Group 1 End Of Interrupt.
        write_eoir1, "S3_0_C12_C12_1"
    );

    /// `ICC_IAR1_EL1` (op0=3 op1=0 CRn=12 CRm=12 op2=0): Group 1 Interrupt Acknowledge. Not
    /// `nomem`: the read changes GIC state, and device accesses after it must not move above it.
    pub(super) fn read_iar1() -> u64 {
        let value: u64;
        // SAFETY: acknowledging an interrupt has no memory effects on the program; the driver
        // owns the CPU interface (the contract of `GicV3::new`).
        unsafe {
            core::arch::asm!(
                "mrs {value}, S3_0_C12_C12_0",
                value = out(reg) value,
                options(nostack, preserves_flags),
            );
        }
        // Order the acknowledge before the handler's accesses to the interrupting device.
        barrier::dsb(barrier::SY);
        value
    }

    /// `MPIDR_EL1`: this CPU's affinity.
    pub(super) fn read_mpidr() -> u64 {
        MPIDR_EL1.get()
    }

    /// `isb`: system register writes take effect before the next instruction.
    pub(super) fn instruction_barrier() {
        barrier::isb(barrier::SY);
    }
}

#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
pub(crate) mod registers {
    //! Host model: each register is a cell in memory. `ICC_SRE_EL1.SRE` sticks, `ICC_IAR1_EL1`
    //! returns what a test queued (then 1023), `ICC_EOIR1_EL1` records the last write.

    use core::sync::atomic::{AtomicU64, Ordering};

    pub(crate) static SRE: AtomicU64 = AtomicU64::new(0);
    pub(crate) static PMR: AtomicU64 = AtomicU64::new(0);
    pub(crate) static BPR1: AtomicU64 = AtomicU64::new(0);
    pub(crate) static CTLR: AtomicU64 = AtomicU64::new(0);
    pub(crate) static IGRPEN1: AtomicU64 = AtomicU64::new(0);
    pub(crate) static IAR1: AtomicU64 = AtomicU64::new(1023);
    pub(crate) static EOIR1: AtomicU64 = AtomicU64::new(u64::MAX);
    pub(crate) static MPIDR: AtomicU64 = AtomicU64::new(0x8000_0000);

    pub(super) fn read_sre() -> u64 {
        SRE.load(Ordering::SeqCst)
    }
    pub(super) fn write_sre(value: u64) {
        SRE.store(value, Ordering::SeqCst);
    }
    pub(super) fn write_pmr(value: u64) {
        PMR.store(value, Ordering::SeqCst);
    }
    pub(super) fn write_bpr1(value: u64) {
        BPR1.store(value, Ordering::SeqCst);
    }
    pub(super) fn read_ctlr() -> u64 {
        CTLR.load(Ordering::SeqCst)
    }
    pub(super) fn write_ctlr(value: u64) {
        CTLR.store(value, Ordering::SeqCst);
    }
    pub(super) fn write_igrpen1(value: u64) {
        IGRPEN1.store(value, Ordering::SeqCst);
    }
    pub(super) fn write_eoir1(value: u64) {
        EOIR1.store(value, Ordering::SeqCst);
    }
    pub(super) fn read_iar1() -> u64 {
        IAR1.swap(1023, Ordering::SeqCst)
    }
    pub(super) fn read_mpidr() -> u64 {
        MPIDR.load(Ordering::SeqCst)
    }
    pub(super) fn instruction_barrier() {}
}
