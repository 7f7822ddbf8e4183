//! The kernel image's layout (linker-script symbols) and the identity map built from it and
//! the device tree. docs/memory.md has the picture.

use crate::arch::aarch64::mmu::{self, MapError};
use crate::board::{self, Board, Region};
use core::ops::Range;
use dpu_pagetable::{KernelImage, map_kernel};
use heapless::Vec;

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __stack_guard_start: u8;
    static __stack_guard_end: u8;
    static __boot_stack_top: u8;
    static __image_end: u8;
}

/// Addresses of the image's parts, in address order (kernel.ld).
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// Load address (RAM base + text_offset).
    pub start: u64,
    /// End of executable text (page aligned); read-only data follows.
    pub text_end: u64,
    /// End of read-only data (page aligned); writable data follows.
    pub rodata_end: u64,
    /// End of initialised data: the Image file ends here.
    pub data_end: u64,
    /// BSS.
    pub bss: Region,
    /// Unmapped page(s) below the boot stack. Below them, `__stack_landing_bottom` starts the
    /// mapped, unused landing zone: after an overflow the fault handler's stack lands there
    /// (each nested fault moves SP down one trap frame) instead of in BSS.
    pub stack_guard: Region,
    /// Boot stack.
    pub stack: Region,
    /// End of everything the image needs in RAM (header's image_size).
    pub end: u64,
}

/// The layout from the linker's symbols.
pub fn image() -> ImageLayout {
    let address = |symbol: *const u8| symbol as u64;
    let range = |start: *const u8, end: *const u8| Region {
        base: address(start),
        size: address(end) - address(start),
    };
    ImageLayout {
        start: address(core::ptr::addr_of!(__image_start)),
        text_end: address(core::ptr::addr_of!(__text_end)),
        rodata_end: address(core::ptr::addr_of!(__rodata_end)),
        data_end: address(core::ptr::addr_of!(__data_end)),
        bss: range(
            core::ptr::addr_of!(__bss_start),
            core::ptr::addr_of!(__bss_end),
        ),
        stack_guard: range(
            core::ptr::addr_of!(__stack_guard_start),
            core::ptr::addr_of!(__stack_guard_end),
        ),
        stack: range(
            core::ptr::addr_of!(__stack_guard_end),
            core::ptr::addr_of!(__boot_stack_top),
        ),
        end: address(core::ptr::addr_of!(__image_end)),
    }
}

/// The unmapped guard below the boot stack (for the fault report).
pub fn stack_guard() -> Region {
    image().stack_guard
}

/// Builds the identity map (`dpu_pagetable::map_kernel`): text read-only and executable,
/// rodata read-only, data, BSS, the landing zone and the stack read-write and execute-never, the
/// stack guard left out, all other RAM read-write and execute-never, the DTB read-only if it is
/// outside RAM, and every device region the kernel may drive as device memory.
pub fn map_everything(board: &Board) -> Result<(), MapError> {
    let image = image();
    let kernel = KernelImage {
        start: image.start,
        text_end: image.text_end,
        rodata_end: image.rodata_end,
        stack_guard: image.stack_guard.base..image.stack_guard.end(),
        end: image.end,
    };
    let ram: Vec<Range<u64>, { dpu_board::MAX_MEMORY_BANKS }> = board
        .memory
        .iter()
        .map(|bank| bank.base..bank.end())
        .collect();
    let dtb = board.dtb.base..board.dtb.end();
    let devices = device_regions(board).map(|region| region.base..region.end());
    mmu::build(|tables| map_kernel(tables, &kernel, &ram, dtb, devices))
}

/// Every MMIO region of a device the kernel has a driver for.
fn device_regions(board: &Board) -> impl Iterator<Item = Region> + '_ {
    let uart = board.uart.map(|uart| uart.registers);
    let gic = board
        .gic
        .into_iter()
        .flat_map(|gic| [gic.distributor, gic.cpu_or_redistributor]);
    let virtio = board.virtio_slots.iter().map(|slot| slot.registers);
    let flash = board.flash.iter().copied();
    uart.into_iter().chain(gic).chain(virtio).chain(flash)
}

/// Whether a device-tree node is one the kernel maps and drives (for `devices`).
pub fn is_mapped_device(node: &fdt::node::FdtNode<'_, '_>, board: &Board) -> bool {
    let is_cpu = node.property("device_type").and_then(|p| p.as_str()) == Some("cpu");
    !is_cpu
        && board::regions(node)
            .next()
            .is_some_and(|region| device_regions(board).any(|mapped| mapped == region))
}

/// Recurses until the boot stack runs into its guard page (`crash stack`). Each call keeps a
/// 512-byte buffer live and writes all of it, so no frame can step over the 4 KiB guard.
#[inline(never)]
pub fn overflow_stack(depth: u64) -> u64 {
    let mut frame = core::hint::black_box([0u8; 512]);
    frame[0] = frame[0].wrapping_add(1);
    let deeper = if core::hint::black_box(true) {
        overflow_stack(depth.wrapping_add(1))
    } else {
        depth
    };
    let frame = core::hint::black_box(frame);
    deeper.wrapping_add(u64::from(frame[0]))
}
