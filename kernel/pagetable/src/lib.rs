//! The kernel's translation tables: an aarch64 stage-1 identity map, built in plain memory.
//!
//! 4 KiB granule, 39-bit addresses (T0SZ = 25), so a walk starts at level 1 (1 GiB per entry),
//! then level 2 (2 MiB) and level 3 (4 KiB). Each range is mapped with the largest blocks its
//! alignment allows. Mapping a range over an existing one with the same attributes is allowed
//! (devices share pages); with different attributes it is a [`MapError::Conflict`], so a hostile
//! or mistaken device-tree region over RAM or the kernel fails the boot instead of changing the
//! kernel's permissions. Blocks are never split: map the finest-grained ranges (the kernel
//! image, page by section) before the coarse ones (the rest of RAM).
//!
//! Nothing here touches a system register; the kernel's `arch/aarch64/mmu.rs` keeps the tables
//! in a static and turns the MMU on. Tests: `cargo test -p dpu-pagetable`.

#![no_std]
#![forbid(unsafe_code)]

use core::fmt;

/// Translation granule and smallest mapping.
pub const PAGE_SIZE: u64 = 4096;
/// Entries per table.
pub const ENTRIES: usize = 512;
/// Virtual (= physical) address bits translated.
pub const ADDRESS_BITS: u32 = 39;

const VALID: u64 = 1 << 0;
/// Bit 1: a table (levels 1-2) or a page (level 3); 0 at levels 1-2 is a block.
const TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_MASK: u64 = 7 << 2;
/// MAIR index 0: Device-nGnRE (the runtime programs MAIR_EL1 to match).
pub const ATTR_INDEX_DEVICE: u64 = 0 << 2;
/// MAIR index 1: Normal write-back cacheable.
pub const ATTR_INDEX_NORMAL: u64 = 1 << 2;
const AP_READ_ONLY: u64 = 1 << 7;
const INNER_SHAREABLE: u64 = 3 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
const OUTPUT_ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;

/// How a range is mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attributes {
    /// Normal memory, read-write, execute-never: data, BSS, stacks, free RAM.
    Data,
    /// Normal memory, read-only, executable: kernel text.
    Code,
    /// Normal memory, read-only, execute-never: constants, the device tree.
    ReadOnlyData,
    /// Device-nGnRE, read-write, execute-never: MMIO.
    Device,
}

impl Attributes {
    /// The descriptor's attribute bits (everything but the output address and type).
    pub const fn descriptor_bits(self) -> u64 {
        let base = VALID | ACCESS_FLAG | UNPRIVILEGED_EXECUTE_NEVER;
        let normal = ATTR_INDEX_NORMAL | INNER_SHAREABLE;
        match self {
            Self::Data => base | normal | PRIVILEGED_EXECUTE_NEVER,
            Self::Code => base | normal | AP_READ_ONLY,
            Self::ReadOnlyData => base | normal | AP_READ_ONLY | PRIVILEGED_EXECUTE_NEVER,
            Self::Device => base | ATTR_INDEX_DEVICE | PRIVILEGED_EXECUTE_NEVER,
        }
    }

    /// The attributes a descriptor encodes, if it is one this crate writes.
    pub fn from_descriptor(descriptor: u64) -> Option<Self> {
        let bits = descriptor & !(OUTPUT_ADDRESS_MASK | TABLE_OR_PAGE);
        [Self::Data, Self::Code, Self::ReadOnlyData, Self::Device]
            .into_iter()
            .find(|attributes| attributes.descriptor_bits() == bits)
    }

    /// Whether the kernel may write through such a mapping.
    pub fn is_writable(self) -> bool {
        self.descriptor_bits() & AP_READ_ONLY == 0
    }

    /// Whether the kernel may execute from such a mapping.
    pub fn is_executable(self) -> bool {
        self.descriptor_bits() & PRIVILEGED_EXECUTE_NEVER == 0
    }

    /// Whether this is device memory.
    pub fn is_device(self) -> bool {
        self.descriptor_bits() & ATTR_INDEX_MASK == ATTR_INDEX_DEVICE
    }
}

impl fmt::Display for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Data => "read-write data",
            Self::Code => "read-only executable code",
            Self::ReadOnlyData => "read-only data",
            Self::Device => "device memory",
        })
    }
}

/// Why a range could not be mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum MapError {
    /// The range reaches beyond the 39-bit space we translate (or wraps).
    OutOfRange {
        /// First byte of the range.
        start: u64,
        /// Its size.
        size: u64,
    },
    /// The pool of translation tables is used up.
    OutOfTables {
        /// Tables in the pool.
        capacity: usize,
    },
    /// The range overlaps an existing mapping with different attributes.
    Conflict {
        /// First conflicting address.
        address: u64,
        /// What that address is already mapped as (`None`: a table this pool does not own).
        existing: Option<Attributes>,
        /// What it was to be mapped as.
        wanted: Attributes,
    },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::OutOfRange { start, size } => write!(
                f,
                "{size:#x} bytes at {start:#x} reach beyond the {ADDRESS_BITS}-bit address space"
            ),
            Self::OutOfTables { capacity } => {
                write!(f, "all {capacity} translation tables are used")
            }
            Self::Conflict {
                address,
                existing: Some(existing),
                wanted,
            } => write!(
                f,
                "{address:#x} is already mapped as {existing}, not {wanted}"
            ),
            Self::Conflict {
                address, wanted, ..
            } => write!(
                f,
                "{address:#x} is already mapped differently, cannot map it as {wanted}"
            ),
        }
    }
}

/// One translation table.
#[repr(C, align(4096))]
#[derive(Clone, Copy)]
pub struct Table(pub [u64; ENTRIES]);

/// Where an address lands after translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Output (physical) address.
    pub output: u64,
    /// Size of the block or page holding it: 1 GiB, 2 MiB or 4 KiB.
    pub block_size: u64,
    /// Its attributes.
    pub attributes: Attributes,
}

/// A pool of `N` translation tables; table 0 is the level-1 root.
///
/// Table descriptors hold the tables' own addresses, so the pool must not move once something
/// is mapped (the kernel keeps it in a static; tests keep it in a `Box`).
pub struct Tables<const N: usize> {
    tables: [Table; N],
    /// Tables handed out after the root.
    allocated_after_root: usize,
}

impl<const N: usize> Default for Tables<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Tables<N> {
    /// An empty pool (all zeros, so a static one lives in BSS, not in the image).
    pub const fn new() -> Self {
        const { assert!(N >= 1, "the pool needs at least the root table") };
        Self {
            tables: [Table([0; ENTRIES]); N],
            allocated_after_root: 0,
        }
    }

    /// Address of table `index`.
    fn table_address(&self, index: usize) -> u64 {
        core::ptr::addr_of!(self.tables[index]) as u64
    }

    /// Address of the root table (for TTBR0).
    pub fn root_address(&self) -> u64 {
        self.table_address(0)
    }

    /// Tables in use, the root included.
    pub fn used(&self) -> usize {
        self.allocated_after_root + 1
    }

    /// Bytes of the tables in use (what must be cleaned from the cache before the walker runs).
    pub fn used_bytes(&self) -> u64 {
        (self.used() as u64) * PAGE_SIZE
    }

    fn index_of(&self, address: u64) -> Option<usize> {
        let offset = address.checked_sub(self.table_address(0))?;
        let index = usize::try_from(offset / PAGE_SIZE).ok()?;
        (offset.is_multiple_of(PAGE_SIZE) && index < self.used()).then_some(index)
    }

    fn allocate(&mut self) -> Result<usize, MapError> {
        if self.used() >= N {
            return Err(MapError::OutOfTables { capacity: N });
        }
        self.allocated_after_root += 1;
        Ok(self.used() - 1)
    }

    /// Maps [start, start + size), widened to whole pages, identity, with `attributes`.
    pub fn map(&mut self, start: u64, size: u64, attributes: Attributes) -> Result<(), MapError> {
        let out_of_range = MapError::OutOfRange { start, size };
        let first = start & !(PAGE_SIZE - 1);
        let end = start
            .checked_add(size)
            .and_then(|end| end.checked_next_multiple_of(PAGE_SIZE))
            .ok_or(out_of_range)?;
        if end > 1 << ADDRESS_BITS {
            return Err(out_of_range);
        }
        self.map_level(0, 1, first, end, attributes)
    }

    /// Maps [start, end) at `level` inside table `table`, recursing to finer levels as needed.
    fn map_level(
        &mut self,
        table: usize,
        level: u32,
        start: u64,
        end: u64,
        attributes: Attributes,
    ) -> Result<(), MapError> {
        let shift = 12 + 9 * (3 - level);
        let block_size = 1u64 << shift;
        let bits = attributes.descriptor_bits();
        let kind = if level == 3 { TABLE_OR_PAGE } else { 0 };
        let mut address = start;
        while address < end {
            let index = usize::try_from(address >> shift).unwrap_or(0) & (ENTRIES - 1);
            let block_start = address & !(block_size - 1);
            let block_end = block_start + block_size;
            let chunk_end = block_end.min(end);
            let entry = self.tables[table].0[index];
            let whole_block = address == block_start && chunk_end == block_end;
            let is_table = level < 3 && entry & (VALID | TABLE_OR_PAGE) == (VALID | TABLE_OR_PAGE);
            if entry & VALID == 0 && whole_block {
                self.tables[table].0[index] = (address & OUTPUT_ADDRESS_MASK) | bits | kind;
            } else if entry & VALID == 0 || is_table {
                let next = if is_table {
                    self.index_of(entry & OUTPUT_ADDRESS_MASK)
                        .ok_or(MapError::Conflict {
                            address,
                            existing: None,
                            wanted: attributes,
                        })?
                } else {
                    let next = self.allocate()?;
                    self.tables[table].0[index] = self.table_address(next) | VALID | TABLE_OR_PAGE;
                    next
                };
                self.map_level(next, level + 1, address, chunk_end, attributes)?;
            } else if entry != (block_start & OUTPUT_ADDRESS_MASK) | bits | kind {
                // Already a block or page: fine only if identical (devices share pages).
                return Err(MapError::Conflict {
                    address,
                    existing: Attributes::from_descriptor(entry),
                    wanted: attributes,
                });
            }
            address = chunk_end;
        }
        Ok(())
    }

    /// Walks the tables for `address`, as the MMU would.
    pub fn translate(&self, address: u64) -> Option<Translation> {
        if address >= 1 << ADDRESS_BITS {
            return None;
        }
        let mut table = 0;
        for level in 1..=3u32 {
            let shift = 12 + 9 * (3 - level);
            let index = usize::try_from(address >> shift).ok()? & (ENTRIES - 1);
            let entry = self.tables[table].0[index];
            if entry & VALID == 0 {
                return None;
            }
            let is_table = level < 3 && entry & TABLE_OR_PAGE != 0;
            if is_table {
                table = self.index_of(entry & OUTPUT_ADDRESS_MASK)?;
                continue;
            }
            let block_size = 1u64 << shift;
            return Some(Translation {
                output: (entry & OUTPUT_ADDRESS_MASK & !(block_size - 1))
                    | (address & (block_size - 1)),
                block_size,
                attributes: Attributes::from_descriptor(entry)?,
            });
        }
        None
    }
}

/// The kernel image's parts, in address order, from the linker script (each page aligned).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelImage {
    /// Load address: text starts here.
    pub start: u64,
    /// End of text; read-only data starts here.
    pub text_end: u64,
    /// End of read-only data; data, BSS and the stack landing zone follow.
    pub rodata_end: u64,
    /// The stack guard: left unmapped.
    pub stack_guard: core::ops::Range<u64>,
    /// End of the boot stack and of everything the image needs.
    pub end: u64,
}

/// Builds the kernel's whole identity map, in the order that never splits a block:
/// - the image, section by section: text [`Attributes::Code`], rodata
///   [`Attributes::ReadOnlyData`], data/BSS/landing zone and the stack [`Attributes::Data`],
///   the stack guard left out;
/// - the RAM around the image, [`Attributes::Data`];
/// - the device tree, read-only, if it is outside RAM;
/// - every device region, [`Attributes::Device`].
///
/// A device region over RAM or the image is a [`MapError::Conflict`].
pub fn map_kernel<const N: usize>(
    tables: &mut Tables<N>,
    image: &KernelImage,
    ram: &[core::ops::Range<u64>],
    dtb: core::ops::Range<u64>,
    devices: impl IntoIterator<Item = core::ops::Range<u64>>,
) -> Result<(), MapError> {
    let mut map = |range: core::ops::Range<u64>, attributes| {
        if range.is_empty() {
            return Ok(());
        }
        tables.map(range.start, range.end - range.start, attributes)
    };
    map(image.start..image.text_end, Attributes::Code)?;
    map(image.text_end..image.rodata_end, Attributes::ReadOnlyData)?;
    map(image.rodata_end..image.stack_guard.start, Attributes::Data)?;
    map(image.stack_guard.end..image.end, Attributes::Data)?;
    // The guard is never mapped, so a stack overflow faults (docs/memory.md).
    for bank in ram {
        // RAM around the image (the image itself is already mapped with finer attributes).
        map(bank.start..image.start.min(bank.end), Attributes::Data)?;
        map(image.end.max(bank.start)..bank.end, Attributes::Data)?;
    }
    let dtb_in_ram = ram
        .iter()
        .any(|bank| bank.start <= dtb.start && dtb.end <= bank.end);
    if !dtb_in_ram {
        map(dtb, Attributes::ReadOnlyData)?;
    }
    for device in devices {
        map(device, Attributes::Device)?;
    }
    Ok(())
}
