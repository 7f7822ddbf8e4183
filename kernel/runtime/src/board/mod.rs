//! Board layer: the machine as its device tree describes it (decoding lives in `dpu-board`).
//!
//! This module only makes a slice of the blob at the address the loader passed in x0, hands it
//! to [`dpu_board::decode`], and turns the result into the kernel's types (the PSCI conduit, GIC
//! trigger modes). Everything that reads the tree is pure and host-tested in `kernel/board`.

use crate::arch::aarch64::psci::Conduit;
use dpu_board::{MAX_DTB_SIZE, PsciMethod, validate};
use fdt::Fdt;
use heapless::Vec;

pub use dpu_board::{
    DeviceTreeError, GicInfo, Interrupt, Region, UartInfo, VirtioSlot, interrupts, is_compatible,
    regions,
};

/// The machine, as described by its device tree.
pub struct Board {
    /// The parsed blob, kept for `devices` (structure-checked: the `fdt` readers cannot panic).
    pub fdt: Fdt<'static>,
    /// Where the blob lives.
    pub dtb: Region,
    /// `/model`.
    pub model: &'static str,
    /// RAM banks.
    pub memory: Vec<Region, { dpu_board::MAX_MEMORY_BANKS }>,
    /// Console UART (`/chosen/stdout-path`, else the first PL011).
    pub uart: Option<UartInfo>,
    /// Interrupt controller.
    pub gic: Option<GicInfo>,
    /// Virtual timer PPI as a GIC interrupt ID.
    pub timer_interrupt: Option<u32>,
    /// PSCI conduit.
    pub psci: Option<Conduit>,
    /// virtio-mmio slots, in device-tree order.
    pub virtio_slots: Vec<VirtioSlot, { dpu_board::MAX_VIRTIO_SLOTS }>,
    /// CFI flash banks.
    pub flash: Vec<Region, { dpu_board::MAX_FLASH_BANKS }>,
    /// Kernel command line (`/chosen/bootargs`).
    pub bootargs: &'static str,
    /// Every interrupt above with the trigger its specifier names.
    interrupts: Vec<Interrupt, { dpu_board::MAX_INTERRUPTS }>,
}

impl Board {
    /// How interrupt `id` signals, from its device-tree flags. An ID no device above uses gets
    /// level, the GIC's reset configuration.
    pub fn trigger(&self, id: u32) -> gic::Trigger {
        let trigger = self
            .interrupts
            .iter()
            .find(|interrupt| interrupt.id == id)
            .map(|interrupt| interrupt.trigger);
        match trigger {
            Some(dpu_board::Trigger::Edge) => gic::Trigger::Edge,
            Some(dpu_board::Trigger::Level) | None => gic::Trigger::Level,
        }
    }
}

/// Reads the device tree at `address`.
///
/// # Safety
/// `address` must be 0 or point to readable memory holding a device tree blob that stays
/// unchanged for the rest of the program.
pub unsafe fn parse(address: usize) -> Result<Board, DeviceTreeError<'static>> {
    if address == 0 {
        return Err(DeviceTreeError::Missing);
    }
    // SAFETY: the caller guarantees a readable device tree at `address`; its header is
    // `HEADER_SIZE` (40) bytes, and only those are read before the size is known.
    let header =
        unsafe { core::slice::from_raw_parts(address as *const u8, validate::HEADER_SIZE) };
    let size = validate::declared_size(header, MAX_DTB_SIZE)?;
    // SAFETY: the caller guarantees the blob, whose checked header says `size` bytes, is
    // readable and stays unchanged for the rest of the program.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    let decoded = dpu_board::decode(bytes, address as u64)?;
    Ok(Board {
        fdt: decoded.fdt,
        dtb: decoded.dtb,
        model: decoded.model,
        memory: decoded.memory,
        uart: decoded.uart,
        gic: decoded.gic,
        timer_interrupt: decoded.timer_interrupt,
        psci: decoded.psci.map(|method| match method {
            PsciMethod::Hvc => Conduit::Hypervisor,
            PsciMethod::Smc => Conduit::SecureMonitor,
        }),
        virtio_slots: decoded.virtio_slots,
        flash: decoded.flash,
        bootargs: decoded.bootargs,
        interrupts: decoded.interrupts,
    })
}
