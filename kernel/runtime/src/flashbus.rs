//! The flash1 bus as the kernel drives it: MMIO, noting writes so the sleep can re-arm the tick.
//!
//! Why: under QEMU (seen with 7.2, the Debian 12 package) a flash write is a synchronous
//! block-layer write from the vCPU thread, which polls the main loop's event context and can
//! swallow the wake-up the main loop was waiting for (the tick's re-arm just before it). The
//! main loop then sleeps without a timer deadline, the guest's `wfi` waits for a tick that never
//! comes, and the DPU is stuck until any host event arrives: a console upload stalled for good
//! every few runs under load (the guest at `wfi`, QEMU's main loop in `ppoll`; one monitor
//! command revived it). [`take_written`] tells the sleep path that a write happened since its
//! last look, and it re-arms the tick ([`crate::arch::aarch64::timer::renotify`]), which makes
//! QEMU recompute the deadline. On hardware the re-arm is two register accesses and changes
//! nothing.

use cfi_flash::Bus;
use cfi_flash::mmio::MmioBus;
use core::sync::atomic::{AtomicBool, Ordering};

/// A write reached the flash since the last [`take_written`].
static WRITTEN: AtomicBool = AtomicBool::new(false);

/// [`MmioBus`] that notes its writes (commands and program data alike).
pub struct NotingBus(MmioBus);

impl NotingBus {
    /// A bus over the flash window `[base, base + size)`.
    ///
    /// # Safety
    /// As [`MmioBus::new`]: `base` is the 4-byte-aligned address of a CFI flash window of at
    /// least `size` bytes, mapped as device memory while the bus lives, which nothing else
    /// accesses during this bus's calls.
    pub unsafe fn new(base: usize, size: usize) -> Self {
        // SAFETY: forwarded from this function's contract.
        Self(unsafe { MmioBus::new(base, size) })
    }
}

impl Bus for NotingBus {
    fn size(&self) -> usize {
        self.0.size()
    }

    fn read32(&mut self, offset: usize) -> u32 {
        self.0.read32(offset)
    }

    fn write32(&mut self, offset: usize, value: u32) {
        WRITTEN.store(true, Ordering::Relaxed);
        self.0.write32(offset, value);
    }
}

/// Whether the flash was written since the last call (and clears the note).
pub fn take_written() -> bool {
    WRITTEN.swap(false, Ordering::Relaxed)
}
