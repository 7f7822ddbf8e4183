//! Board layer: everything the kernel knows about the machine, read from the device tree.
//!
//! No addresses are kept by hand: RAM, the UART, the GIC, the timer interrupt, the PSCI conduit,
//! virtio-mmio slots and flash banks all come from the DTB the firmware (or QEMU) passed in x0.
//! Porting to a board means giving it a DTB with the same standard bindings.

use crate::arch::aarch64::psci::Conduit;
use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::Vec;

/// A physical address range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Region {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// The console UART.
#[derive(Clone, Copy, Debug)]
pub struct UartInfo {
    /// Register block.
    pub registers: Region,
    /// GIC interrupt ID of its interrupt line, if described.
    pub interrupt: Option<u32>,
    /// Reference clock, if the DTB describes one.
    pub clock_hz: Option<u32>,
}

/// GIC version and register frames.
#[derive(Clone, Copy, Debug)]
pub struct GicInfo {
    /// 2 or 3.
    pub version: u8,
    /// Distributor (GICD).
    pub distributor: Region,
    /// CPU interface (GICv2 GICC) or redistributor range (GICv3 GICR).
    pub cpu_or_redistributor: Region,
}

/// A virtio-mmio slot.
#[derive(Clone, Copy, Debug)]
pub struct VirtioSlot {
    /// Register window.
    pub registers: Region,
    /// GIC interrupt ID.
    pub interrupt: Option<u32>,
}

/// Why the device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceTreeError {
    /// x0 was 0: booted as an ELF, or by a loader that passes no DTB.
    Missing,
    /// No FDT magic at the given address.
    BadMagic,
    /// The header's size is implausible.
    BadSize,
    /// The FDT parser refused the blob.
    Malformed,
    /// No memory node.
    NoMemory,
}

/// Largest DTB we accept (QEMU's is 1 MiB, padded).
const MAX_DTB_SIZE: usize = 2 << 20;
const FDT_MAGIC: u32 = 0xd00d_feed;

/// The machine, as described by its device tree.
pub struct Board {
    /// The parsed blob, kept for `devices`.
    pub fdt: Fdt<'static>,
    /// Where the blob lives.
    pub dtb: Region,
    /// `/model`.
    pub model: &'static str,
    /// RAM banks.
    pub memory: Vec<Region, 8>,
    /// Console UART (`/chosen/stdout-path`, else the first PL011).
    pub uart: Option<UartInfo>,
    /// Interrupt controller.
    pub gic: Option<GicInfo>,
    /// Virtual timer PPI as a GIC interrupt ID.
    pub timer_interrupt: Option<u32>,
    /// PSCI conduit.
    pub psci: Option<Conduit>,
    /// virtio-mmio slots, in device-tree order.
    pub virtio_slots: Vec<VirtioSlot, 64>,
    /// CFI flash banks.
    pub flash: Vec<Region, 4>,
    /// Kernel command line (`/chosen/bootargs`).
    pub bootargs: &'static str,
}

/// Reads the device tree at `address`.
///
/// # Safety
/// `address` must be 0 or point to readable memory holding a device tree blob that stays
/// unchanged for the rest of the program.
pub unsafe fn parse(address: usize) -> Result<Board, DeviceTreeError> {
    if address == 0 {
        return Err(DeviceTreeError::Missing);
    }
    // SAFETY: caller guarantees the header is readable; the FDT header is 40 bytes.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, 8) };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if magic != FDT_MAGIC {
        return Err(DeviceTreeError::BadMagic);
    }
    if !(40..=MAX_DTB_SIZE).contains(&size) {
        return Err(DeviceTreeError::BadSize);
    }
    // SAFETY: caller guarantees the blob (whose header says `size` bytes) is readable and stable.
    let bytes: &'static [u8] = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    let fdt = Fdt::new(bytes).map_err(|_| DeviceTreeError::Malformed)?;
    let dtb = Region {
        base: address as u64,
        size: size as u64,
    };
    let mut board = Board {
        fdt,
        dtb,
        model: fdt
            .root()
            .property("model")
            .and_then(|p| p.as_str())
            .unwrap_or("unknown board"),
        memory: Vec::new(),
        uart: None,
        gic: None,
        timer_interrupt: None,
        psci: None,
        virtio_slots: Vec::new(),
        flash: Vec::new(),
        bootargs: fdt.chosen().bootargs().unwrap_or(""),
    };
    for node in fdt.all_nodes() {
        let device_type = node.property("device_type").and_then(|p| p.as_str());
        if device_type == Some("memory") {
            for region in regions(&node) {
                if region.size > 0 {
                    let _ = board.memory.push(region);
                }
            }
            continue;
        }
        if !is_enabled(&node) {
            continue;
        }
        if is_compatible(
            &node,
            &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"],
        ) {
            board.gic = gic_info(&node, 2).or(board.gic);
        } else if is_compatible(&node, &["arm,gic-v3"]) {
            board.gic = gic_info(&node, 3).or(board.gic);
        } else if is_compatible(&node, &["arm,armv8-timer", "arm,armv7-timer"]) {
            // interrupts: secure physical, non-secure physical, virtual, hypervisor.
            board.timer_interrupt = interrupts(&node).nth(2);
        } else if is_compatible(&node, &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]) {
            board.psci = match node.property("method").and_then(|p| p.as_str()) {
                Some("hvc") => Some(Conduit::Hypervisor),
                Some("smc") => Some(Conduit::SecureMonitor),
                _ => None,
            };
        } else if is_compatible(&node, &["virtio,mmio"]) {
            if let Some(registers) = regions(&node).next() {
                let slot = VirtioSlot {
                    registers,
                    interrupt: interrupts(&node).next(),
                };
                let _ = board.virtio_slots.push(slot);
            }
        } else if is_compatible(&node, &["cfi-flash"]) {
            for region in regions(&node) {
                let _ = board.flash.push(region);
            }
        }
    }
    if board.memory.is_empty() {
        return Err(DeviceTreeError::NoMemory);
    }
    let stdout = fdt
        .chosen()
        .stdout()
        .filter(|node| is_compatible(node, &["arm,pl011"]));
    let uart_node = stdout.or_else(|| fdt.find_compatible(&["arm,pl011"]));
    board.uart = uart_node.and_then(|node| {
        Some(UartInfo {
            registers: regions(&node).next()?,
            interrupt: interrupts(&node).next(),
            clock_hz: uart_clock(&fdt, &node),
        })
    });
    Ok(board)
}

fn is_enabled(node: &FdtNode<'_, '_>) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_none_or(|s| s == "okay" || s == "ok")
}

/// Whether `node` is compatible with any of `names`.
pub fn is_compatible(node: &FdtNode<'_, '_>, names: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|compatible| compatible.all().any(|c| names.contains(&c)))
}

/// The node's `reg` ranges.
pub fn regions<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = Region> + 'a {
    node.reg().into_iter().flatten().map(|region| Region {
        base: region.starting_address as u64,
        size: region.size.unwrap_or(0) as u64,
    })
}

/// The node's GIC interrupt specifiers as interrupt IDs (3 cells: type, number, flags).
///
/// Decoded here because the `fdt` crate reads only one- and two-cell specifiers.
pub fn interrupts<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = u32> + 'a {
    let value = node.property("interrupts").map_or(&[][..], |p| p.value);
    value.chunks_exact(12).filter_map(|cells| {
        let kind = u32::from_be_bytes([cells[0], cells[1], cells[2], cells[3]]);
        let number = u32::from_be_bytes([cells[4], cells[5], cells[6], cells[7]]);
        match kind {
            0 => number.checked_add(32),
            1 => number.checked_add(16),
            _ => None,
        }
    })
}

fn gic_info(node: &FdtNode<'_, '_>, version: u8) -> Option<GicInfo> {
    let mut frames = regions(node);
    Some(GicInfo {
        version,
        distributor: frames.next()?,
        cpu_or_redistributor: frames.next()?,
    })
}

fn uart_clock(fdt: &Fdt<'_>, node: &FdtNode<'_, '_>) -> Option<u32> {
    let clocks = node.property("clocks")?.value;
    // The last phandle in `clocks` is conventionally "apb_pclk"; the first is "uartclk".
    let first = clocks.get(0..4)?;
    let phandle = u32::from_be_bytes([first[0], first[1], first[2], first[3]]);
    let clock = fdt.find_phandle(phandle)?;
    clock
        .property("clock-frequency")?
        .as_usize()
        .map(|hz| hz as u32)
}
