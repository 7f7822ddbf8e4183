//! CPU identity and small per-core operations (interrupt mask, wait, cache clean, park).

use aarch64_cpu::asm;
use aarch64_cpu::registers::{DAIF, MIDR_EL1, MPIDR_EL1};
use tock_registers::interfaces::{Readable, Writeable};

/// Unmasks IRQs on this core (debug, SError and FIQ stay masked: we do not use them).
pub fn enable_interrupts() {
    DAIF.write(DAIF::D::Masked + DAIF::A::Unmasked + DAIF::I::Unmasked + DAIF::F::Masked);
}

/// Sleeps until an interrupt is pending. Call with IRQs masked after checking for work, then
/// unmask: a pending interrupt still wakes `wfi`, so no wake-up is lost between check and sleep.
pub fn wait_for_interrupt() {
    asm::wfi();
}

/// This core's index (MPIDR Aff0; the boot core is 0).
#[cfg_attr(
    not(debug_assertions),
    allow(dead_code, reason = "the lock-order check of debug builds uses it")
)]
pub fn core_index() -> usize {
    (MPIDR_EL1.get() & 0xff) as usize
}

/// Writes the data cache lines covering `[start, start + len)` back to RAM (clean to the
/// point of coherency), so the bytes survive a reset that does not write caches back.
pub fn clean_data_cache(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 (cache type) has no side effects; aarch64-cpu has no wrapper.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    // DminLine: log2 of the smallest data cache line in 4-byte words.
    let line = 4usize << ((ctr >> 16) & 0xf);
    let mut address = start & !(line - 1);
    while address < start + len {
        // SAFETY: `dc cvac` on a mapped address only writes a cache line back; no data changes.
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    asm::barrier::dsb(asm::barrier::SY);
}

/// Parks this core for good (interrupts stay as they are; nothing wakes it usefully).
pub fn park() -> ! {
    loop {
        asm::wfe();
    }
}

/// A readable name for the CPU core from MIDR_EL1.
pub fn core_name() -> &'static str {
    let implementer = MIDR_EL1.read(MIDR_EL1::Implementer);
    let part = MIDR_EL1.read(MIDR_EL1::PartNum);
    match (implementer, part) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd04) => "Cortex-A35",
        (0x41, 0xd05) => "Cortex-A55",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd09) => "Cortex-A73",
        (0x41, 0xd0b) => "Cortex-A76",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0x41, 0xd40) => "Neoverse-V1",
        (0x41, 0xd49) => "Neoverse-N2",
        (0x41, 0xd4f) => "Neoverse-V2",
        (0x41, _) => "Arm core",
        (0x00, 0x051) => "QEMU max",
        _ => "unknown core",
    }
}

/// MIDR_EL1 raw value, for the banner.
pub fn midr() -> u64 {
    MIDR_EL1.get()
}
