//! The kernel image's layout (linker-script symbols) and the identity map built from it and
//! the device tree.

use crate::arch::aarch64::mmu::{self, Attributes, MapError};
use crate::board::{self, Board, Region};

unsafe extern "C" {
    static __image_start: u8;
    static __text_end: u8;
    static __data_end: u8;
    static __bss_start: u8;
    static __bss_end: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
    static __image_end: u8;
}

/// Addresses of the image's parts.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// Load address (RAM base + text_offset).
    pub start: u64,
    /// End of executable text (page aligned).
    pub text_end: u64,
    /// End of initialised data: the Image file ends here.
    pub data_end: u64,
    /// BSS.
    pub bss: Region,
    /// Boot stack.
    pub stack: Region,
    /// End of everything the image needs in RAM (header's image_size).
    pub end: u64,
}

/// The layout from the linker's symbols.
pub fn image() -> ImageLayout {
    let address = |symbol: *const u8| symbol as u64;
    let bss_start = address(core::ptr::addr_of!(__bss_start));
    let stack_bottom = address(core::ptr::addr_of!(__boot_stack_bottom));
    ImageLayout {
        start: address(core::ptr::addr_of!(__image_start)),
        text_end: address(core::ptr::addr_of!(__text_end)),
        data_end: address(core::ptr::addr_of!(__data_end)),
        bss: Region {
            base: bss_start,
            size: address(core::ptr::addr_of!(__bss_end)) - bss_start,
        },
        stack: Region {
            base: stack_bottom,
            size: address(core::ptr::addr_of!(__boot_stack_top)) - stack_bottom,
        },
        end: address(core::ptr::addr_of!(__image_end)),
    }
}

/// Builds the identity map: kernel text RX, the rest of the image RW, all RAM RW and
/// execute-never, the DTB read-only, and every device region the kernel may drive as device
/// memory.
pub fn map_everything(board: &Board) -> Result<(), MapError> {
    let image = image();
    mmu::map(image.start, image.text_end - image.start, Attributes::Code)?;
    mmu::map(image.text_end, image.end - image.text_end, Attributes::Data)?;
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
