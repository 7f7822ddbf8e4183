//! MMU: identity map built from the device tree, then caches on.
//!
//! 4 KiB granule, 39-bit addresses (T0SZ = 25), so translation starts at level 1 (1 GiB per
//! entry), then level 2 (2 MiB) and level 3 (4 KiB). RAM is normal write-back cacheable, device
//! regions are Device-nGnRE, the kernel's text is read-only and executable and everything else is
//! execute-never. Each range is mapped with the largest blocks its alignment allows; the kernel
//! image is mapped first with 4 KiB pages so the rest of RAM never has to split a block.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, SCTLR_EL1, TCR_EL1, TTBR0_EL1};
use core::arch::asm;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// How a range is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attributes {
    /// Normal memory, read-write, execute-never.
    Data,
    /// Normal memory, read-only, executable: kernel text.
    Code,
    /// Normal memory, read-only, execute-never: constants, the device tree.
    ReadOnlyData,
    /// Device-nGnRE, read-write, execute-never: MMIO.
    Device,
}

/// Why a range could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The address is beyond the 39-bit space we translate.
    OutOfRange,
    /// The static pool of translation tables is used up.
    OutOfTables,
    /// The range overlaps an existing mapping with different attributes.
    Conflict,
}

const PAGE_SIZE: u64 = 4096;
const ENTRIES: usize = 512;
const ADDRESS_BITS: u32 = 39;
/// Tables for RAM + devices + the kernel's 4 KiB pages; enough for several GiB of RAM, since
/// whole GiB of RAM are 1 GiB blocks.
const TABLE_COUNT: usize = 48;

const VALID: u64 = 1 << 0;
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_DEVICE: u64 = 0 << 2;
const ATTR_INDEX_NORMAL: u64 = 1 << 2;
const AP_READ_ONLY: u64 = 1 << 7;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
const OUTPUT_ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

#[repr(C, align(4096))]
#[derive(Clone, Copy)]
struct Table([u64; ENTRIES]);

/// The translation tables: table 0 is the level-1 root.
struct Tables {
    tables: [Table; TABLE_COUNT],
    /// Tables handed out after the root (zero-initialised so the pool lives in BSS, not the Image).
    allocated_after_root: usize,
}

static TABLES: spin::Mutex<Tables> = spin::Mutex::new(Tables {
    tables: [Table([0; ENTRIES]); TABLE_COUNT],
    allocated_after_root: 0,
});

fn descriptor_bits(attributes: Attributes) -> u64 {
    let base = VALID | ACCESS_FLAG | UNPRIVILEGED_EXECUTE_NEVER;
    match attributes {
        Attributes::Data => base | ATTR_INDEX_NORMAL | INNER_SHAREABLE | PRIVILEGED_EXECUTE_NEVER,
        Attributes::Code => base | ATTR_INDEX_NORMAL | INNER_SHAREABLE | AP_READ_ONLY,
        Attributes::ReadOnlyData => {
            base | ATTR_INDEX_NORMAL | INNER_SHAREABLE | AP_READ_ONLY | PRIVILEGED_EXECUTE_NEVER
        }
        Attributes::Device => base | ATTR_INDEX_DEVICE | PRIVILEGED_EXECUTE_NEVER,
    }
}

impl Tables {
    fn table_address(&self, index: usize) -> u64 {
        core::ptr::addr_of!(self.tables[index]) as u64
    }

    fn used(&self) -> usize {
        self.allocated_after_root + 1
    }

    fn index_of(&self, address: u64) -> Option<usize> {
        let base = self.table_address(0);
        let offset = address.checked_sub(base)?;
        let index = (offset / PAGE_SIZE) as usize;
        (index < self.used()).then_some(index)
    }

    fn allocate(&mut self) -> Result<usize, MapError> {
        if self.used() == TABLE_COUNT {
            return Err(MapError::OutOfTables);
        }
        self.allocated_after_root += 1;
        Ok(self.used() - 1)
    }

    /// Maps [start, end) at `level` inside table `table`, recursing to finer levels as needed.
    fn map(
        &mut self,
        table: usize,
        level: u32,
        start: u64,
        end: u64,
        bits: u64,
    ) -> Result<(), MapError> {
        let shift = 12 + 9 * (3 - level);
        let block_size = 1u64 << shift;
        let mut address = start;
        while address < end {
            let index = ((address >> shift) as usize) & (ENTRIES - 1);
            let block_end = (address & !(block_size - 1)) + block_size;
            let chunk_end = block_end.min(end);
            let entry = self.tables[table].0[index];
            let whole_block = address.is_multiple_of(block_size) && chunk_end == block_end;
            let is_table = level < 3 && entry & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE);
            if entry & VALID == 0 && whole_block {
                let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
                self.tables[table].0[index] = (address & OUTPUT_ADDRESS_MASK) | bits | kind;
            } else if entry & VALID == 0 || is_table {
                let next = if is_table {
                    self.index_of(entry & OUTPUT_ADDRESS_MASK)
                        .ok_or(MapError::Conflict)?
                } else {
                    let next = self.allocate()?;
                    self.tables[table].0[index] = self.table_address(next) | VALID | TABLE_OR_PAGE;
                    next
                };
                self.map(next, level + 1, address, chunk_end, bits)?;
            } else {
                // Already mapped as a block or page: fine if identical (devices share pages).
                let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
                if entry != (address & !(block_size - 1) & OUTPUT_ADDRESS_MASK) | bits | kind {
                    return Err(MapError::Conflict);
                }
            }
            address = chunk_end;
        }
        Ok(())
    }
}

/// Maps [start, start + size) (widened to whole pages) with `attributes`, identity.
pub fn map(start: u64, size: u64, attributes: Attributes) -> Result<(), MapError> {
    let first = start & !(PAGE_SIZE - 1);
    let end = start
        .checked_add(size)
        .ok_or(MapError::OutOfRange)?
        .next_multiple_of(PAGE_SIZE);
    if end > 1 << ADDRESS_BITS {
        return Err(MapError::OutOfRange);
    }
    TABLES
        .lock()
        .map(0, 1, first, end, descriptor_bits(attributes))
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
    let root = tables.table_address(0);
    // Tables were written with the MMU (and so the data cache) off; make sure no stale cache
    // line shadows them when the walker starts using cacheable accesses.
    let table_bytes = (tables.used() as u64) * PAGE_SIZE;
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
