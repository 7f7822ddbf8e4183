//! The kernel image's layout (linker-script symbols) and the identity map built from it and
//! the device tree. docs/memory.md has the picture.

use crate::arch::aarch64::mmu::{self, Attributes, MapError};
use crate::board::{self, Board, Region};

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __stack_landing_bottom: u8;
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
    /// Mapped, unused room below the guard: after an overflow the fault handler's stack lands
    /// here (each nested fault moves SP down by one trap frame) instead of in BSS.
    pub landing: Region,
    /// Unmapped page(s) between the landing zone and the boot stack.
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
        landing: range(
            core::ptr::addr_of!(__stack_landing_bottom),
            core::ptr::addr_of!(__stack_guard_start),
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

/// Builds the identity map: text read-only and executable, rodata read-only, data, BSS and the
/// stack read-write and execute-never, the stack guard left out, all other RAM read-write and
/// execute-never, the DTB read-only, and every device region the kernel may drive as device
/// memory. The image goes first, in pages, so the rest of RAM never has to split a block.
pub fn map_everything(board: &Board) -> Result<(), MapError> {
    let image = image();
    mmu::map(image.start, image.text_end - image.start, Attributes::Code)?;
    mmu::map(
        image.text_end,
        image.rodata_end - image.text_end,
        Attributes::ReadOnlyData,
    )?;
    // Data, BSS and the landing zone; the guard right above the landing zone stays unmapped.
    mmu::map(
        image.rodata_end,
        image.landing.end() - image.rodata_end,
        Attributes::Data,
    )?;
    mmu::map(
        image.stack_guard.end(),
        image.end - image.stack_guard.end(),
        Attributes::Data,
    )?;
    for bank in &board.memory {
        // RAM around the image (the image itself is already mapped with finer attributes).
        if bank.base < image.start {
            mmu::map(
                bank.base,
                image.start.min(bank.end()) - bank.base,
                Attributes::Data,
            )?;
        }
        if bank.end() > image.end {
            let from = image.end.max(bank.base);
            mmu::map(from, bank.end() - from, Attributes::Data)?;
        }
    }
    // The DTB is normally inside RAM (already mapped); map it if a loader put it elsewhere.
    let dtb_in_ram = board
        .memory
        .iter()
        .any(|bank| bank.base <= board.dtb.base && board.dtb.end() <= bank.end());
    if !dtb_in_ram {
        mmu::map(board.dtb.base, board.dtb.size, Attributes::ReadOnlyData)?;
    }
    for region in device_regions(board) {
        mmu::map(region.base, region.size, Attributes::Device)?;
    }
    Ok(())
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
