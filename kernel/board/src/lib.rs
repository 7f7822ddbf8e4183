//! The DPU's machine description, decoded from a flattened device tree (pure, host-tested).
//!
//! No addresses are kept by hand: RAM, the UART, the GIC, the timer interrupt, the PSCI conduit,
//! virtio-mmio slots and flash banks all come from the DTB the firmware (or QEMU) passed in x0.
//! Porting to a board means giving it a DTB with the same standard bindings.
//!
//! [`decode`] first checks the blob's structure ([`validate`]), because the `fdt` crate that
//! reads it panics on malformed input; then every value the kernel uses is decoded with checked
//! conversions into a [`Board`]. Anything unusable is a [`DeviceTreeError`] naming the node and
//! property. The kernel's only unsafe part is making a slice of the blob from its address.
//!
//! Tests: `cargo test -p dpu-board`, against device trees dumped from QEMU `virt`
//! (`tests/fixtures/regenerate.sh`).

#![no_std]
#![forbid(unsafe_code)]

mod cells;
pub mod clock;
mod error;
pub mod validate;

use core::fmt;
use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::Vec;

pub use cells::{interrupts, is_compatible, regions};
pub use clock::CounterScale;
pub use error::{DeviceTreeError, PropertyProblem, StructureProblem};
pub use fdt;

/// Largest DTB accepted (QEMU's is 1 MiB, padded).
pub const MAX_DTB_SIZE: usize = 2 << 20;
/// Size of a virtio-mmio register block (virtio 1.x, 4.2.2): a smaller slot cannot be driven.
pub const VIRTIO_MMIO_SIZE: u64 = 0x200;
/// Most RAM banks kept.
pub const MAX_MEMORY_BANKS: usize = 8;
/// Most virtio-mmio slots kept (QEMU `virt` has 32).
pub const MAX_VIRTIO_SLOTS: usize = 64;
/// Most CFI flash banks kept (QEMU `virt` has 2).
pub const MAX_FLASH_BANKS: usize = 4;
/// Room for every interrupt [`Board`] records: timer, UART and one per virtio slot.
pub const MAX_INTERRUPTS: usize = MAX_VIRTIO_SLOTS + 2;

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

    /// Whether `address` lies in the range.
    pub fn contains(&self, address: u64) -> bool {
        self.base <= address && address < self.end()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}..{:#x}", self.base, self.end())
    }
}

/// How an interrupt line signals, from the flags cell of a GIC interrupt specifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Rising (or falling) edge: virtio-mmio on QEMU.
    Edge,
    /// Level: the timer and the PL011.
    Level,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Edge => "edge",
            Self::Level => "level",
        })
    }
}

/// One decoded GIC interrupt specifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupt {
    /// GIC interrupt ID (SPI n is 32 + n, PPI n is 16 + n).
    pub id: u32,
    /// Edge or level, from the specifier's flags.
    pub trigger: Trigger,
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
    /// Register window (at least [`VIRTIO_MMIO_SIZE`] bytes).
    pub registers: Region,
    /// GIC interrupt ID.
    pub interrupt: Option<u32>,
}

/// The PSCI conduit named by the `/psci` node's `method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `hvc`: a hypervisor implements PSCI (we entered at EL1 under one).
    Hvc,
    /// `smc`: the secure monitor (EL3 firmware, or QEMU itself).
    Smc,
}

impl fmt::Display for PsciMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hvc => "hvc",
            Self::Smc => "smc",
        })
    }
}

/// The machine, as described by its device tree.
pub struct Board<'a> {
    /// The parsed blob, kept for `devices`. Checked by [`validate::check`], so the `fdt`
    /// crate's readers do not panic on it.
    pub fdt: Fdt<'a>,
    /// Where the blob lives.
    pub dtb: Region,
    /// `/model`.
    pub model: &'a str,
    /// RAM banks with a non-zero size.
    pub memory: Vec<Region, MAX_MEMORY_BANKS>,
    /// Console UART (`/chosen/stdout-path`, else the first PL011).
    pub uart: Option<UartInfo>,
    /// Interrupt controller.
    pub gic: Option<GicInfo>,
    /// Virtual timer PPI as a GIC interrupt ID.
    pub timer_interrupt: Option<u32>,
    /// PSCI conduit.
    pub psci: Option<PsciMethod>,
    /// virtio-mmio slots, in device-tree order.
    pub virtio_slots: Vec<VirtioSlot, MAX_VIRTIO_SLOTS>,
    /// CFI flash banks.
    pub flash: Vec<Region, MAX_FLASH_BANKS>,
    /// Kernel command line (`/chosen/bootargs`), empty when absent.
    pub bootargs: &'a str,
    /// Every interrupt above, with its trigger.
    pub interrupts: Vec<Interrupt, MAX_INTERRUPTS>,
}

impl Board<'_> {
    /// The trigger the device tree gives interrupt `id`, if one of the devices above uses it.
    pub fn trigger(&self, id: u32) -> Option<Trigger> {
        self.interrupts
            .iter()
            .find(|interrupt| interrupt.id == id)
            .map(|interrupt| interrupt.trigger)
    }

    fn record(&mut self, interrupt: Option<Interrupt>) -> Option<u32> {
        let interrupt = interrupt?;
        if self.trigger(interrupt.id).is_none() {
            // Capacity covers every source the board records; a duplicate ID is stored once.
            let _ = self.interrupts.push(interrupt);
        }
        Some(interrupt.id)
    }
}

const GIC_V2: &[&str] = &["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"];
const GIC_V3: &[&str] = &["arm,gic-v3"];
const TIMER: &[&str] = &["arm,armv8-timer", "arm,armv7-timer"];
/// PSCI bindings the kernel accepts.
pub const PSCI: &[&str] = &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];
const VIRTIO_MMIO: &[&str] = &["virtio,mmio"];
const CFI_FLASH: &[&str] = &["cfi-flash"];
const PL011: &[&str] = &["arm,pl011"];

fn too_many(what: &'static str, limit: usize) -> DeviceTreeError<'static> {
    DeviceTreeError::TooMany { what, limit }
}

/// Decodes the device tree in `blob`, which the loader placed at `load_address`.
pub fn decode(blob: &[u8], load_address: u64) -> Result<Board<'_>, DeviceTreeError<'_>> {
    validate::check(blob)?;
    let fdt = Fdt::new(blob).map_err(|_| DeviceTreeError::Malformed {
        offset: 0,
        problem: StructureProblem::ReaderRefused,
    })?;
    if fdt.find_node("/cpus").is_none() {
        return Err(DeviceTreeError::MissingNode("/cpus"));
    }
    let root = fdt
        .find_node("/")
        .ok_or(DeviceTreeError::MissingNode("/"))?;
    let chosen = fdt.find_node("/chosen");
    let size = u64::try_from(fdt.total_size()).map_err(|_| DeviceTreeError::BadSize(usize::MAX))?;
    let mut board = Board {
        fdt,
        dtb: Region {
            base: load_address,
            size,
        },
        model: string_property(&root, "model")?.unwrap_or("unknown board"),
        memory: Vec::new(),
        uart: None,
        gic: None,
        timer_interrupt: None,
        psci: None,
        virtio_slots: Vec::new(),
        flash: Vec::new(),
        bootargs: match &chosen {
            Some(chosen) => string_property(chosen, "bootargs")?.unwrap_or(""),
            None => "",
        },
        interrupts: Vec::new(),
    };
    for node in fdt.all_nodes() {
        let device_type = node.property("device_type").and_then(|p| p.as_str());
        if device_type == Some("memory") {
            let banks: Vec<Region, MAX_MEMORY_BANKS> = cells::reg(&node)?;
            for bank in banks.iter().filter(|bank| bank.size > 0) {
                board
                    .memory
                    .push(*bank)
                    .map_err(|_| too_many("memory banks", MAX_MEMORY_BANKS))?;
            }
            continue;
        }
        if !is_enabled(&node) {
            continue;
        }
        if is_compatible(&node, GIC_V2) {
            board.gic = Some(gic_info(&node, 2)?);
        } else if is_compatible(&node, GIC_V3) {
            board.gic = Some(gic_info(&node, 3)?);
        } else if is_compatible(&node, TIMER) {
            // interrupts: secure physical, non-secure physical, virtual, hypervisor.
            let specifiers = cells::interrupt_specifiers(&node)?;
            let virtual_timer = specifiers
                .get(2)
                .copied()
                .ok_or(DeviceTreeError::BadProperty {
                    node: node.name,
                    property: "interrupts",
                    problem: PropertyProblem::NoVirtualTimer,
                })?;
            board.timer_interrupt = board.record(Some(virtual_timer));
        } else if is_compatible(&node, PSCI) {
            board.psci = Some(psci_method(&node)?);
        } else if is_compatible(&node, VIRTIO_MMIO) {
            let slot = virtio_slot(&node)?;
            let interrupt = cells::interrupt_specifiers(&node)?.first().copied();
            let slot = VirtioSlot {
                registers: slot,
                interrupt: board.record(interrupt),
            };
            board
                .virtio_slots
                .push(slot)
                .map_err(|_| too_many("virtio-mmio slots", MAX_VIRTIO_SLOTS))?;
        } else if is_compatible(&node, CFI_FLASH) {
            let banks: Vec<Region, MAX_FLASH_BANKS> = cells::reg(&node)?;
            for bank in banks {
                board
                    .flash
                    .push(bank)
                    .map_err(|_| too_many("flash banks", MAX_FLASH_BANKS))?;
            }
        }
    }
    if board.memory.is_empty() {
        return Err(DeviceTreeError::NoMemory);
    }
    let stdout = match &chosen {
        Some(chosen) => stdout_node(&fdt, chosen)?,
        None => None,
    };
    let uart_node = stdout
        .filter(|node| is_compatible(node, PL011))
        .or_else(|| fdt.find_compatible(PL011));
    if let Some(node) = uart_node {
        let registers = first_region(&node)?;
        let interrupt = cells::interrupt_specifiers(&node)?.first().copied();
        let clock_hz = uart_clock(&fdt, &node)?;
        board.uart = Some(UartInfo {
            registers,
            interrupt: board.record(interrupt),
            clock_hz,
        });
    }
    Ok(board)
}

fn is_enabled(node: &FdtNode<'_, '_>) -> bool {
    node.property("status")
        .and_then(|p| p.as_str())
        .is_none_or(|s| s == "okay" || s == "ok")
}

/// A string property: `None` when absent, an error when it is not UTF-8.
fn string_property<'a>(
    node: &FdtNode<'_, 'a>,
    property: &'static str,
) -> Result<Option<&'a str>, DeviceTreeError<'a>> {
    match node.property(property) {
        None => Ok(None),
        Some(value) => value
            .as_str()
            .map(Some)
            .ok_or(DeviceTreeError::BadProperty {
                node: node.name,
                property,
                problem: PropertyProblem::NotUtf8,
            }),
    }
}

/// `/chosen/stdout-path`, without its `:options` suffix, resolved to a node.
fn stdout_node<'b, 'a>(
    fdt: &'b Fdt<'a>,
    chosen: &FdtNode<'b, 'a>,
) -> Result<Option<FdtNode<'b, 'a>>, DeviceTreeError<'a>> {
    let Some(path) = string_property(chosen, "stdout-path")? else {
        return Ok(None);
    };
    let path = path.split(':').next().unwrap_or(path);
    Ok(fdt.find_node(path))
}

fn first_region<'a>(node: &FdtNode<'_, 'a>) -> Result<Region, DeviceTreeError<'a>> {
    let regions: Vec<Region, 1> = cells::reg_first(node)?;
    regions
        .first()
        .copied()
        .ok_or(DeviceTreeError::BadProperty {
            node: node.name,
            property: "reg",
            problem: PropertyProblem::Missing,
        })
}

fn virtio_slot<'a>(node: &FdtNode<'_, 'a>) -> Result<Region, DeviceTreeError<'a>> {
    let registers = first_region(node)?;
    if registers.size < VIRTIO_MMIO_SIZE {
        return Err(DeviceTreeError::BadProperty {
            node: node.name,
            property: "reg",
            problem: PropertyProblem::SmallerThanVirtioBlock,
        });
    }
    Ok(registers)
}

fn gic_info<'a>(node: &FdtNode<'_, 'a>, version: u8) -> Result<GicInfo, DeviceTreeError<'a>> {
    // GICv2: GICD, GICC[, GICH, GICV]; GICv3: GICD, GICR[, GICC, GICH, GICV].
    let frames: Vec<Region, 2> = cells::reg_first(node)?;
    match frames.as_slice() {
        [distributor, cpu_or_redistributor] => Ok(GicInfo {
            version,
            distributor: *distributor,
            cpu_or_redistributor: *cpu_or_redistributor,
        }),
        _ => Err(DeviceTreeError::BadProperty {
            node: node.name,
            property: "reg",
            problem: PropertyProblem::MissingGicFrames,
        }),
    }
}

fn psci_method<'a>(node: &FdtNode<'_, 'a>) -> Result<PsciMethod, DeviceTreeError<'a>> {
    match string_property(node, "method")? {
        Some("hvc") => Ok(PsciMethod::Hvc),
        Some("smc") => Ok(PsciMethod::Smc),
        _ => Err(DeviceTreeError::BadProperty {
            node: node.name,
            property: "method",
            problem: PropertyProblem::UnknownPsciMethod,
        }),
    }
}

/// The UART's reference clock: the first phandle in `clocks` ("uartclk"; the last is
/// conventionally "apb_pclk").
fn uart_clock<'a>(
    fdt: &Fdt<'a>,
    node: &FdtNode<'_, 'a>,
) -> Result<Option<u32>, DeviceTreeError<'a>> {
    let Some(clocks) = node.property("clocks") else {
        return Ok(None);
    };
    let bad = |property, problem| DeviceTreeError::BadProperty {
        node: node.name,
        property,
        problem,
    };
    let phandle =
        cells::be32(clocks.value, 0).ok_or(bad("clocks", PropertyProblem::EmptyClocks))?;
    let clock = fdt
        .find_phandle(phandle)
        .ok_or(bad("clocks", PropertyProblem::DanglingPhandle))?;
    let Some(frequency) = clock.property("clock-frequency") else {
        return Ok(None);
    };
    let hz = cells::number(frequency.value).ok_or(DeviceTreeError::BadProperty {
        node: clock.name,
        property: "clock-frequency",
        problem: PropertyProblem::NotOneOrTwoCells,
    })?;
    u32::try_from(hz)
        .map(Some)
        .map_err(|_| DeviceTreeError::BadProperty {
            node: clock.name,
            property: "clock-frequency",
            problem: PropertyProblem::AboveFourGigahertz,
        })
}
