//! The memory-mapped bus: volatile 32-bit accesses to the flash window.

#![allow(unsafe_code, reason = "the one place that touches the hardware")]

use crate::Bus;

/// The flash window mapped at a physical (identity-mapped) address.
#[derive(Debug)]
pub struct MmioBus {
    base: usize,
    size: usize,
}

impl MmioBus {
    /// A bus over `[base, base + size)`.
    ///
    /// # Safety
    ///
    /// `base` must be the 4-byte-aligned address of a CFI flash window of at least `size` bytes,
    /// mapped as device memory for the lifetime of the bus, and nothing else may access that
    /// window while this bus (or a driver owning it) exists: commands change what reads return.
    #[must_use]
    pub unsafe fn new(base: usize, size: usize) -> MmioBus {
        MmioBus { base, size }
    }
}

impl MmioBus {
    /// Whether an aligned 4-byte access at `offset` stays inside the window. Checked on every
    /// access: a stray offset would otherwise touch whatever lies beyond the flash.
    fn fits(&self, offset: usize) -> bool {
        offset.is_multiple_of(4) && offset.checked_add(4).is_some_and(|end| end <= self.size)
    }
}

impl Bus for MmioBus {
    fn size(&self) -> usize {
        self.size
    }

    fn read32(&mut self, offset: usize) -> u32 {
        assert!(
            self.fits(offset),
            "flash offset {offset:#x} outside the window"
        );
        // SAFETY: `new`'s contract makes `[base, base + size)` a mapped, exclusively owned flash
        // window; the assertion keeps the aligned 4-byte access inside it.
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert!(
            self.fits(offset),
            "flash offset {offset:#x} outside the window"
        );
        // SAFETY: as in `read32`; writes to flash are commands or program data, which is what
        // the caller owns the window for.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}
