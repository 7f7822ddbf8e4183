//! MMU: the identity map's table pool, and turning the MMU and caches on.
//!
//! The tables are built by `dpu-pagetable` (pure, host-tested: 4 KiB granule, 39-bit addresses,
//! largest blocks the alignment allows, conflicts refused); this file keeps them in a static and
//! programs MAIR/TCR/TTBR0/SCTLR. MAIR index 0 is Device-nGnRE and index 1 Normal write-back,
//! matching the crate's descriptors. See docs/memory.md.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use core::arch::asm;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

pub use dpu_pagetable::MapError;
use dpu_pagetable::{ADDRESS_BITS, Tables};

/// Tables for RAM + devices + the kernel's 4 KiB pages; enough for several GiB of RAM, since
/// whole GiB of RAM are 1 GiB blocks.
const TABLE_COUNT: usize = 48;

/// The pool lives in a static, so the table addresses written into descriptors never move.
static TABLES: spin::Mutex<Tables<TABLE_COUNT>> = spin::Mutex::new(Tables::new());

/// Runs `build` on the kernel's table pool (`layout::map_everything` maps everything through it).
pub fn build<R>(build: impl FnOnce(&mut Tables<TABLE_COUNT>) -> R) -> R {
    build(&mut TABLES.lock())
}

/// How many translation tables the map uses, and how many there are.
pub fn tables_used() -> (usize, usize) {
    (TABLES.lock().used(), TABLE_COUNT)
}

/// Turns the MMU and caches on with the tables built by [`map`].
///
/// # Safety
/// Every address the kernel touches after this call (its image, stack, the device tree and
/// every MMIO region it uses) must have been mapped, identity, with the right attributes.
pub unsafe fn enable() {
    let tables = TABLES.lock();
    let root = tables.root_address();
    // Tables were written with the MMU (and so the data cache) off; make sure no stale cache
    // line shadows them when the walker starts using cacheable accesses.
    let table_bytes = tables.used_bytes();
    let mut line = root;
    while line < root + table_bytes {
        // SAFETY: `dc civac` on addresses inside our own table pool only cleans/invalidates cache.
        unsafe { asm!("dc civac, {}", in(reg) line) };
        line += 64;
    }
    drop(tables);

    MAIR_EL1.write(
        MAIR_EL1::Attr0_Device::nonGathering_nonReordering_EarlyWriteAck
            + MAIR_EL1::Attr1_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr1_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc,
    );
    let physical_range = ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange).min(5);
    TCR_EL1.write(
        TCR_EL1::TBI0::Used
            + TCR_EL1::IPS.val(physical_range)
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::SH0::Inner
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::EPD0::EnableTTBR0Walks
            + TCR_EL1::EPD1::DisableTTBR1Walks
            + TCR_EL1::T0SZ.val(u64::from(64 - ADDRESS_BITS)),
    );
    TTBR0_EL1.set_baddr(root);
    barrier::dsb(barrier::ISHST);
    // SAFETY: invalidating all EL1 TLB entries is always allowed and needed before first use.
    unsafe { asm!("tlbi vmalle1", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL1.modify(SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable);
    barrier::isb(barrier::SY);
}
