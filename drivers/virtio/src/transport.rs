//! The transport abstraction: what a virtio driver needs from the bus (virtio 1.2 §2, §4.2).
//!
//! [`crate::mmio::MmioTransport`] implements it over real virtio-mmio registers; host tests
//! implement it with a fake device. The driver trusts nothing a transport reports about queues:
//! device status, sizes and used entries are all checked.

/// Device status bits (virtio 1.2 §2.1).
pub mod status {
    /// The guest has noticed the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The guest knows how to drive the device.
    pub const DRIVER: u32 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u32 = 4;
    /// The driver has acknowledged the features it understands.
    pub const FEATURES_OK: u32 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u32 = 64;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 128;
}

/// Interrupt status bits (virtio-mmio `InterruptStatus`, virtio 1.2 §4.2.2).
pub mod interrupt {
    /// The device used a buffer in at least one virtqueue.
    pub const USED_BUFFER: u32 = 1;
    /// The device configuration changed (e.g. link status).
    pub const CONFIG_CHANGE: u32 = 2;
}

/// Access to one virtio device's control registers and configuration space.
pub trait Transport {
    /// The virtio device ID (1 = network).
    fn device_id(&self) -> u32;

    /// The device's 64-bit feature word.
    fn device_features(&mut self) -> u64;

    /// Writes the driver's accepted features.
    fn set_driver_features(&mut self, features: u64);

    /// Reads the device status register.
    fn status(&self) -> u32;

    /// Writes the device status register (0 resets the device).
    fn set_status(&mut self, status: u32);

    /// The largest size the device supports for `queue`; 0 means the queue does not exist.
    fn max_queue_size(&mut self, queue: u16) -> u32;

    /// True if `queue` is already marked ready (it must not be before setup).
    fn queue_ready(&mut self, queue: u16) -> bool;

    /// Gives the device the size and the three ring addresses of `queue`, then marks it ready.
    ///
    /// # Safety
    /// The three areas must be valid, correctly aligned ring memory for `size` entries, usable
    /// by the device (DMA) from now until the device is reset, and nothing else may write the
    /// parts the device owns meanwhile.
    unsafe fn setup_queue(
        &mut self,
        queue: u16,
        size: u16,
        descriptors: u64,
        driver_area: u64,
        device_area: u64,
    );

    /// Tells the device that `queue` has new available buffers (the doorbell).
    fn notify(&mut self, queue: u16);

    /// The pending interrupt causes (see [`interrupt`]).
    fn interrupt_status(&self) -> u32;

    /// Acknowledges the given interrupt causes.
    fn acknowledge_interrupt(&mut self, causes: u32);

    /// The configuration generation counter (changes when the device changes its config).
    fn config_generation(&self) -> u32;

    /// Reads an 8-bit device-specific configuration field at `offset`.
    fn read_config_u8(&self, offset: usize) -> u8;

    /// Reads a 16-bit (aligned) device-specific configuration field at `offset`.
    fn read_config_u16(&self, offset: usize) -> u16;
}
