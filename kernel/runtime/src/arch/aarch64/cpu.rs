//! CPU identity and small per-core operations (interrupt mask, wait for interrupt).

use aarch64_cpu::asm;
use aarch64_cpu::registers::{DAIF, MIDR_EL1};
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
