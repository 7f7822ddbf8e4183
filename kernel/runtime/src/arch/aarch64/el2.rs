//! EL2 -> EL1 drop: the kernel runs at EL1 whether it was entered at EL1 or EL2.
//!
//! Entered at EL2 (`-M virt,virtualization=on`, or a board firmware that leaves EL2), we make
//! EL1 AArch64, give it the physical counter/timer and (with a GICv3) the system-register CPU
//! interface, then `eret` into EL1 on the same boot stack.

use aarch64_cpu::registers::{
    CNTHCTL_EL2, CNTVOFF_EL2, ELR_EL2, HCR_EL2, ICC_SRE_EL2, ID_AA64PFR0_EL1, SCTLR_EL1, SP_EL1,
    SPSR_EL2,
};
use core::arch::asm;
use tock_registers::interfaces::{Readable, Writeable};

unsafe extern "C" {
    static __boot_stack_top: u8;
}

/// Called from the entry assembly with the DTB pointer and the exception level we entered at.
///
/// # Safety
/// Only the entry assembly calls this, once, on the boot core, with BSS cleared, a valid stack,
/// and FP/SIMD enabled at the current exception level.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn kernel_entry(dtb: usize, entry_level: u64) -> ! {
    if entry_level == 2 {
        // SAFETY: we are at EL2 on the boot core, per this function's contract.
        unsafe { drop_to_el1(dtb) }
    }
    // SAFETY: at EL1, first Rust code of the boot core, per this function's contract.
    unsafe { crate::kernel_init(dtb, entry_level) }
}

/// EL1 continuation after the drop: same contract as `kernel_entry`, at EL1.
unsafe extern "C" fn el1_after_drop(dtb: usize) -> ! {
    // SAFETY: reached only by the eret in `drop_to_el1`, at EL1 on the boot core, fresh stack.
    unsafe { crate::kernel_init(dtb, 2) }
}

/// # Safety
/// Must run at EL2, on the boot core, before anything relies on the current stack contents.
unsafe fn drop_to_el1(dtb: usize) -> ! {
    HCR_EL2.write(HCR_EL2::RW::EL1IsAarch64);
    // EL1 may read the physical counter and use the physical timer; no virtual offset.
    CNTHCTL_EL2.write(CNTHCTL_EL2::EL1PCEN::SET + CNTHCTL_EL2::EL1PCTEN::SET);
    CNTVOFF_EL2.set(0);
    // ID_AA64PFR0_EL1.GIC (bits 27:24), a field aarch64-cpu does not name.
    if (ID_AA64PFR0_EL1.get() >> 24) & 0xf != 0 {
        // GICv3 system-register interface present: let EL1 use it without trapping.
        ICC_SRE_EL2.write(ICC_SRE_EL2::SRE::SET + ICC_SRE_EL2::ENABLE::SET);
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    }
    // MMU and caches off at EL1 until the kernel builds its own tables (RES1 bits set).
    SCTLR_EL1.set(0x30d0_0800);
    SPSR_EL2.write(
        SPSR_EL2::D::Masked
            + SPSR_EL2::A::Masked
            + SPSR_EL2::I::Masked
            + SPSR_EL2::F::Masked
            + SPSR_EL2::M::EL1h,
    );
    ELR_EL2.set(el1_after_drop as *const () as u64);
    SP_EL1.set(core::ptr::addr_of!(__boot_stack_top) as u64);
    // SAFETY: ELR/SPSR/SP_EL1 are set above; eret enters EL1 with x0 = dtb and never returns.
    unsafe { asm!("eret", in("x0") dtb, options(noreturn)) }
}
