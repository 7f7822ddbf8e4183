//! virtio-mmio transport, modern register layout (virtio 1.2 §4.2.2, version 2).
//!
//! The kernel makes one [`MmioTransport`] per device-tree `virtio,mmio` node with the one
//! `unsafe` constructor, then calls [`MmioTransport::probe`]: empty slots (DeviceID 0) and legacy
//! (version 1) devices come back as [`ProbeError`]s. QEMU 7.2 shows its slots as legacy unless
//! run with `-global virtio-mmio.force-legacy=false`; the legacy error says so.
//!
//! The control registers are a `register_structs!` block; the device-specific configuration
//! space at +0x100 is read with volatile accesses of the field's own width, as §4.2.2.2 asks.

use core::fmt;
use core::ptr::NonNull;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

use crate::transport::Transport;

/// `MagicValue`: little-endian "virt".
pub const MAGIC: u32 = 0x7472_6976;
/// The modern register layout's `Version`.
pub const MODERN_VERSION: u32 = 2;
/// Offset of the device-specific configuration space.
pub const CONFIG_OFFSET: usize = 0x100;
/// Size of the configuration space this transport reads (QEMU's slots are 0x200 apart).
pub const CONFIG_SIZE: usize = 0x100;

/// Register fields. Private: the macro's generated items carry no docs of their own.
mod fields {
    use tock_registers::register_bitfields;

    register_bitfields! [
    u32,
    /// `InterruptStatus` / `InterruptACK`.
    pub INTERRUPT [
        /// The device used a buffer.
        USED_BUFFER OFFSET(0) NUMBITS(1) [],
        /// The device configuration changed.
        CONFIG_CHANGE OFFSET(1) NUMBITS(1) []
    ],
    /// `QueueReady`.
    pub QUEUE_READY [
        /// The queue is live.
        READY OFFSET(0) NUMBITS(1) []
    ]
    ];
}
use fields::{INTERRUPT, QUEUE_READY};

register_structs! {
    /// The virtio-mmio control registers (virtio 1.2 table 4.1), before the config space.
    ControlRegisters {
        (0x000 => magic_value: ReadOnly<u32>),
        (0x004 => version: ReadOnly<u32>),
        (0x008 => device_id: ReadOnly<u32>),
        (0x00c => vendor_id: ReadOnly<u32>),
        (0x010 => device_features: ReadOnly<u32>),
        (0x014 => device_features_select: WriteOnly<u32>),
        (0x018 => _reserved0),
        (0x020 => driver_features: WriteOnly<u32>),
        (0x024 => driver_features_select: WriteOnly<u32>),
        (0x028 => _reserved1),
        (0x030 => queue_select: WriteOnly<u32>),
        (0x034 => queue_size_max: ReadOnly<u32>),
        (0x038 => queue_size: WriteOnly<u32>),
        (0x03c => _reserved2),
        (0x044 => queue_ready: ReadWrite<u32, QUEUE_READY::Register>),
        (0x048 => _reserved3),
        (0x050 => queue_notify: WriteOnly<u32>),
        (0x054 => _reserved4),
        (0x060 => interrupt_status: ReadOnly<u32, INTERRUPT::Register>),
        (0x064 => interrupt_ack: WriteOnly<u32, INTERRUPT::Register>),
        (0x068 => _reserved5),
        (0x070 => status: ReadWrite<u32>),
        (0x074 => _reserved6),
        (0x080 => queue_descriptor_low: WriteOnly<u32>),
        (0x084 => queue_descriptor_high: WriteOnly<u32>),
        (0x088 => _reserved7),
        (0x090 => queue_driver_low: WriteOnly<u32>),
        (0x094 => queue_driver_high: WriteOnly<u32>),
        (0x098 => _reserved8),
        (0x0a0 => queue_device_low: WriteOnly<u32>),
        (0x0a4 => queue_device_high: WriteOnly<u32>),
        (0x0a8 => _reserved9),
        (0x0fc => config_generation: ReadOnly<u32>),
        (0x100 => @END),
    }
}

/// Why a virtio-mmio slot cannot be driven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeError {
    /// The slot is present but has no device behind it (DeviceID 0).
    EmptySlot,
    /// `MagicValue` is not "virt": not a virtio-mmio device.
    BadMagic(u32),
    /// A legacy (version 1) device: only the modern interface is supported.
    Legacy,
    /// A `Version` this driver does not know.
    UnknownVersion(u32),
}

impl fmt::Display for ProbeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeError::EmptySlot => formatter.write_str("empty virtio-mmio slot (device ID 0)"),
            ProbeError::BadMagic(magic) => {
                write!(formatter, "not virtio-mmio (magic {magic:#010x})")
            }
            ProbeError::Legacy => formatter.write_str(
                "legacy virtio-mmio device (version 1) is not supported; \
                 run QEMU with -global virtio-mmio.force-legacy=false",
            ),
            ProbeError::UnknownVersion(version) => {
                write!(formatter, "unknown virtio-mmio version {version}")
            }
        }
    }
}

/// One virtio-mmio device.
pub struct MmioTransport {
    registers: NonNull<ControlRegisters>,
}

// SAFETY: the transport only performs volatile MMIO accesses through its pointer; `new`'s
// contract gives it sole use of the device, so moving it to another core is sound.
unsafe impl Send for MmioTransport {}

impl MmioTransport {
    /// Wraps the virtio-mmio register block at `base`. Touches no register.
    ///
    /// # Safety
    /// `base` must be the address of a virtio-mmio register block (0x200 bytes) mapped as device
    /// memory for the rest of the program, and no other `MmioTransport` may be made for it: the
    /// device will DMA wherever its driver tells it to.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self {
            registers: base.cast(),
        }
    }

    fn registers(&self) -> &ControlRegisters {
        // SAFETY: `new`'s contract: a live, mapped register block for the program's lifetime;
        // the registers are `UnsafeCell`-based, so shared references are sound.
        unsafe { self.registers.as_ref() }
    }

    /// Checks magic, version and device ID; returns the device ID (1 = network).
    ///
    /// # Errors
    /// [`ProbeError::EmptySlot`] for DeviceID 0 (checked first: QEMU's empty slots also say
    /// version 1), [`ProbeError::Legacy`] for a version-1 device, and the others as named.
    pub fn probe(&self) -> Result<u32, ProbeError> {
        let registers = self.registers();
        let magic = registers.magic_value.get();
        if magic != MAGIC {
            return Err(ProbeError::BadMagic(magic));
        }
        let device_id = registers.device_id.get();
        if device_id == 0 {
            return Err(ProbeError::EmptySlot);
        }
        match registers.version.get() {
            MODERN_VERSION => Ok(device_id),
            1 => Err(ProbeError::Legacy),
            other => Err(ProbeError::UnknownVersion(other)),
        }
    }

    /// The `VendorID` register (QEMU: 0x554d4551, "QEMU").
    pub fn vendor_id(&self) -> u32 {
        self.registers().vendor_id.get()
    }

    /// A handle the interrupt handler uses to acknowledge this device's interrupt.
    pub fn interrupt_handle(&self) -> MmioInterrupt {
        MmioInterrupt {
            registers: self.registers,
        }
    }

    fn select_queue(&self, queue: u16) {
        self.registers().queue_select.set(u32::from(queue));
    }

    fn config_pointer(&self, offset: usize, width: usize) -> Option<*const u8> {
        let in_range = offset
            .checked_add(width)
            .is_some_and(|end| end <= CONFIG_SIZE);
        if !in_range || !offset.is_multiple_of(width) {
            return None;
        }
        Some(
            self.registers
                .cast::<u8>()
                .as_ptr()
                .wrapping_add(CONFIG_OFFSET + offset),
        )
    }
}

/// Order the driver's ring writes (normal memory) before the doorbell write (device memory).
fn write_barrier_before_doorbell() {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `dmb oshst` only orders memory accesses; it touches no register or memory.
    unsafe {
        core::arch::asm!("dmb oshst", options(nostack, preserves_flags));
    }
    #[cfg(not(target_arch = "aarch64"))]
    core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
}

impl Transport for MmioTransport {
    fn device_id(&self) -> u32 {
        self.registers().device_id.get()
    }

    fn device_features(&mut self) -> u64 {
        let registers = self.registers();
        registers.device_features_select.set(0);
        let low = registers.device_features.get();
        registers.device_features_select.set(1);
        let high = registers.device_features.get();
        u64::from(high) << 32 | u64::from(low)
    }

    fn set_driver_features(&mut self, features: u64) {
        let registers = self.registers();
        registers.driver_features_select.set(0);
        registers.driver_features.set(features as u32);
        registers.driver_features_select.set(1);
        registers.driver_features.set((features >> 32) as u32);
    }

    fn status(&self) -> u32 {
        self.registers().status.get()
    }

    fn set_status(&mut self, status: u32) {
        self.registers().status.set(status);
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.select_queue(queue);
        self.registers().queue_size_max.get()
    }

    fn queue_ready(&mut self, queue: u16) -> bool {
        self.select_queue(queue);
        self.registers().queue_ready.is_set(QUEUE_READY::READY)
    }

    unsafe fn setup_queue(
        &mut self,
        queue: u16,
        size: u16,
        descriptors: u64,
        driver_area: u64,
        device_area: u64,
    ) {
        let registers = self.registers();
        registers.queue_select.set(u32::from(queue));
        registers.queue_size.set(u32::from(size));
        registers.queue_descriptor_low.set(descriptors as u32);
        registers
            .queue_descriptor_high
            .set((descriptors >> 32) as u32);
        registers.queue_driver_low.set(driver_area as u32);
        registers.queue_driver_high.set((driver_area >> 32) as u32);
        registers.queue_device_low.set(device_area as u32);
        registers.queue_device_high.set((device_area >> 32) as u32);
        write_barrier_before_doorbell();
        registers.queue_ready.write(QUEUE_READY::READY::SET);
    }

    fn notify(&mut self, queue: u16) {
        write_barrier_before_doorbell();
        self.registers().queue_notify.set(u32::from(queue));
    }

    fn interrupt_status(&self) -> u32 {
        self.registers().interrupt_status.get()
    }

    fn acknowledge_interrupt(&mut self, causes: u32) {
        self.registers().interrupt_ack.set(causes);
    }

    fn config_generation(&self) -> u32 {
        self.registers().config_generation.get()
    }

    fn read_config_u8(&self, offset: usize) -> u8 {
        match self.config_pointer(offset, 1) {
            // SAFETY: in the config space of the register block `new` vouches for; 8-bit access
            // of an 8-bit field, as §4.2.2.2 requires.
            Some(pointer) => unsafe { pointer.read_volatile() },
            None => 0,
        }
    }

    fn read_config_u16(&self, offset: usize) -> u16 {
        match self.config_pointer(offset, 2) {
            // SAFETY: in the config space of the register block `new` vouches for, 2-byte
            // aligned (checked); 16-bit access of a 16-bit field. virtio fields are little-endian.
            Some(pointer) => u16::from_le(unsafe { pointer.cast::<u16>().read_volatile() }),
            None => 0,
        }
    }
}

/// Acknowledges one device's interrupt from the interrupt handler, while the driver lives on.
///
/// It touches only `InterruptStatus` and `InterruptACK`; the handler records the causes in a
/// flag and the poll loop calls the driver (e.g. `VirtioNet::config_changed`).
#[derive(Clone, Copy)]
pub struct MmioInterrupt {
    registers: NonNull<ControlRegisters>,
}

// SAFETY: only 32-bit volatile reads of InterruptStatus and writes of InterruptACK, which are
// single bus accesses; concurrent use with the driver is what the device expects.
unsafe impl Send for MmioInterrupt {}
// SAFETY: as for `Send`: no state besides the register address.
unsafe impl Sync for MmioInterrupt {}

impl MmioInterrupt {
    /// Reads the pending causes (see [`crate::transport::interrupt`]), acknowledges them and
    /// returns them.
    pub fn acknowledge(&self) -> u32 {
        // SAFETY: made from an `MmioTransport`, whose `new` contract keeps the block mapped.
        let registers = unsafe { self.registers.as_ref() };
        let causes = registers.interrupt_status.get();
        if causes != 0 {
            registers.interrupt_ack.set(causes);
        }
        causes
    }
}
