//! What dpuboot needs from the machine: the DTB, RAM, the console UART, flash1, the timer.
//!
//! Everything comes from the device tree. QEMU passes no DTB pointer to firmware; it puts the
//! blob at the start of RAM (0x4000_0000 on `virt`), so dpuboot takes x0 if it points at a
//! valid blob and otherwise looks there.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0};
use dpu_board::{MAX_DTB_SIZE, validate};
use tock_registers::interfaces::Readable;

/// Where QEMU `virt` puts the DTB for a firmware boot (the start of RAM).
const FIRMWARE_DTB: usize = 0x4000_0000;

/// Why the platform is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// No valid device tree at x0 or at the start of RAM.
    NoDeviceTree,
    /// The device tree has no memory node.
    NoMemory,
    /// The device tree has no PL011.
    NoConsole,
    /// The device tree has no second CFI flash bank.
    NoFlash1,
}

/// The parts of the machine dpuboot uses.
pub struct Platform {
    /// DTB address (passed on to the kernel).
    pub dtb: usize,
    /// First RAM bank: (base, size).
    pub ram: (u64, u64),
    /// flash1: (base, size).
    pub flash1: (u64, u64),
}

unsafe extern "C" {
    static __ram_end: u8;
}

/// End of dpuboot's own RAM (.data, .bss, stack).
pub fn dpuboot_ram_end() -> u64 {
    core::ptr::addr_of!(__ram_end) as u64
}

/// Microseconds since reset, from the generic timer.
pub fn microseconds() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    let count = u128::from(CNTVCT_EL0.get());
    (count * 1_000_000 / u128::from(CNTFRQ_EL0.get().max(1))) as u64
}

/// Whether a valid FDT header sits at `address`.
///
/// # Safety
/// `address` must be readable for the 40-byte header.
unsafe fn looks_like_fdt(address: usize) -> bool {
    if address == 0 || !address.is_multiple_of(8) {
        return false;
    }
    // SAFETY: per the contract; a volatile read because with the MMU off this is plain RAM
    // written by QEMU before reset.
    let magic = unsafe { core::ptr::read_volatile(address as *const u32) };
    u32::from_be(magic) == 0xd00d_feed
}

/// Finds the DTB and the devices; starts the console.
///
/// The blob goes through `dpu_board::decode`, the same checked decoder the kernel uses: its
/// structure is validated before any node is read, so a corrupt blob is refused here instead of
/// being walked by the unchecked reader.
///
/// # Safety
/// Call once, at reset, with the MMU off; `x0` is whatever the previous stage left in x0.
pub unsafe fn discover(x0: usize) -> Result<Platform, PlatformError> {
    // x0 is trusted only if it is inside RAM's usual place on virt and holds a blob; otherwise
    // the firmware convention applies.
    // SAFETY: FIRMWARE_DTB is the start of RAM on QEMU virt, always readable.
    let x0_ok =
        (FIRMWARE_DTB..FIRMWARE_DTB + (1 << 30)).contains(&x0) && unsafe { looks_like_fdt(x0) };
    let dtb = if x0_ok { x0 } else { FIRMWARE_DTB };
    // SAFETY: as above.
    if !unsafe { looks_like_fdt(dtb) } {
        return Err(PlatformError::NoDeviceTree);
    }
    // SAFETY: a blob with a valid magic sits at `dtb` in RAM; only its 40-byte header is read
    // before the size it declares has been checked.
    let header = unsafe { core::slice::from_raw_parts(dtb as *const u8, validate::HEADER_SIZE) };
    let size =
        validate::declared_size(header, MAX_DTB_SIZE).map_err(|_| PlatformError::NoDeviceTree)?;
    // SAFETY: the checked header says the blob is `size` bytes (at most MAX_DTB_SIZE) of RAM
    // that nothing writes until the kernel owns the machine.
    let blob: &'static [u8] = unsafe { core::slice::from_raw_parts(dtb as *const u8, size) };
    let board = dpu_board::decode(blob, dtb as u64).map_err(|_| PlatformError::NoDeviceTree)?;
    let ram = board
        .memory
        .first()
        .map(|region| (region.base, region.size))
        .ok_or(PlatformError::NoMemory)?;
    let uart = board.uart.ok_or(PlatformError::NoConsole)?;
    // QEMU virt's one cfi-flash node has two banks: flash0 (dpuboot) and flash1 (the banks).
    let flash1 = board
        .flash
        .get(1)
        .map(|region| (region.base, region.size))
        .ok_or(PlatformError::NoFlash1)?;
    // SAFETY: the PL011 the DTB names; nothing else drives it before the kernel.
    unsafe { crate::console::init(uart.registers.base as usize, None) };
    Ok(Platform { dtb, ram, flash1 })
}
