//! A fake virtio-net device for host tests: acts like QEMU on the rings, and can misbehave.
//!
//! It reads and writes the driver's ring memory by the bus addresses the driver gave it, using
//! the spec's byte offsets (§2.7), not the driver's types, so layout mistakes show. It consumes
//! available descriptors, writes used entries, keeps `avail_event` when EVENT_IDX is negotiated
//! (unless told not to), raises the used-buffer interrupt status only when `used_event` (or the
//! absence of `NO_INTERRUPT`) asks, and offers hooks to write bogus used entries.

extern crate std;

use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::cell::RefCell;
use std::rc::Rc;
use std::vec::Vec;

use crate::features;
use crate::queue::{AVAIL_F_NO_INTERRUPT, DESCRIPTOR_F_WRITE, need_event};
use crate::transport::{Transport, interrupt, status};

/// One queue as the device sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct FakeQueue {
    /// Entries, as the driver set up.
    pub size: u16,
    /// Bus address of the descriptor table.
    pub descriptors: u64,
    /// Bus address of the available ring (driver area).
    pub avail: u64,
    /// Bus address of the used ring (device area).
    pub used: u64,
    /// Next available index the device will consume.
    pub last_avail: u16,
    /// Used index the device published last.
    pub used_index: u16,
    /// The driver set the queue up.
    pub ready: bool,
}

/// The shared state of a fake device; tests keep a handle to it.
#[derive(Debug)]
pub struct DeviceState {
    /// DeviceID register (1 = network, 0 = empty slot).
    pub device_id: u32,
    /// Features offered.
    pub offered: u64,
    /// Features the driver accepted.
    pub driver_features: u64,
    /// Device status register.
    pub status: u32,
    /// Clear FEATURES_OK when the driver sets it.
    pub refuse_features: bool,
    /// QueueNumMax per queue (receive, transmit).
    pub queue_max: [u32; 2],
    /// The queues as set up.
    pub queues: [FakeQueue; 2],
    /// Config space: MAC, then status.
    pub config: [u8; 16],
    /// Config generation (bumped on every config change).
    pub generation: u32,
    /// InterruptStatus register.
    pub interrupt_status: u32,
    /// Used-buffer interrupts raised.
    pub used_interrupts: u64,
    /// Notifications received per queue.
    pub notifications: [u64; 2],
    /// Update `avail_event` after consuming (what a device honouring EVENT_IDX does).
    pub honour_event_index: bool,
    /// Consume the transmit queue on every notification (as QEMU does).
    pub transmit_on_notify: bool,
    /// Frames transmitted (header stripped).
    pub transmitted: Vec<Vec<u8>>,
    /// Bus address of each transmitted frame's first byte (after the header).
    pub transmitted_addresses: Vec<u64>,
    /// Bus address of each delivered frame's first byte (after the header).
    pub delivered_addresses: Vec<u64>,
}

impl DeviceState {
    fn event_index(&self) -> bool {
        self.driver_features & features::F_EVENT_IDX != 0
    }
}

/// Handle to a fake device; clones share the device.
#[derive(Clone, Debug)]
pub struct FakeDevice(pub Rc<RefCell<DeviceState>>);

/// The MAC the fake reports.
pub const FAKE_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

fn u16_at(address: u64) -> &'static AtomicU16 {
    // SAFETY: every address comes from a queue the driver set up through `setup_queue`, whose
    // contract makes it valid, aligned ring memory for the device for the rest of the test
    // (the storage is `'static`); the fields are atomics on the driver's side too.
    unsafe { &*(address as *const AtomicU16) }
}

fn u32_at(address: u64) -> &'static AtomicU32 {
    // SAFETY: as in `u16_at`; descriptor lengths are 4-byte aligned.
    unsafe { &*(address as *const AtomicU32) }
}

fn u64_at(address: u64) -> &'static AtomicU64 {
    // SAFETY: as in `u16_at`; descriptor addresses are 8-byte aligned.
    unsafe { &*(address as *const AtomicU64) }
}

impl FakeDevice {
    /// A modern network device offering `offered`, QEMU's queue sizes, link up.
    pub fn new(offered: u64) -> Self {
        let mut config = [0u8; 16];
        config[..6].copy_from_slice(&FAKE_MAC);
        config[6] = 1; // status: link up
        Self(Rc::new(RefCell::new(DeviceState {
            device_id: 1,
            offered,
            driver_features: 0,
            status: 0,
            refuse_features: false,
            queue_max: [256, 256],
            queues: [FakeQueue::default(); 2],
            config,
            generation: 0,
            interrupt_status: 0,
            used_interrupts: 0,
            notifications: [0; 2],
            honour_event_index: true,
            transmit_on_notify: true,
            transmitted: Vec::new(),
            transmitted_addresses: Vec::new(),
            delivered_addresses: Vec::new(),
        })))
    }

    /// What QEMU's virtio-net offers by default (with a few offloads to decline).
    pub fn qemu_like() -> Self {
        Self::new(
            features::F_VERSION_1
                | features::F_EVENT_IDX
                | features::F_INDIRECT_DESC
                | features::NET_F_MAC
                | features::NET_F_STATUS
                | features::NET_F_CSUM
                | features::NET_F_GUEST_CSUM
                | features::NET_F_HOST_TSO4
                | features::NET_F_MRG_RXBUF
                | features::NET_F_CTRL_VQ
                | features::NET_F_MQ,
        )
    }

    /// The device's state, to inspect or change.
    pub fn state(&self) -> std::cell::RefMut<'_, DeviceState> {
        self.0.borrow_mut()
    }

    /// Available buffers the device has not consumed yet.
    pub fn pending(&self, queue: usize) -> u16 {
        let state = self.0.borrow();
        let fake = state.queues[queue];
        u16::from_le(u16_at(fake.avail + 2).load(Ordering::Acquire)).wrapping_sub(fake.last_avail)
    }

    /// Takes the next available descriptor: (descriptor id, address, length, flags).
    fn take_avail(state: &mut DeviceState, queue: usize) -> Option<(u16, u64, u32, u16)> {
        let fake = &mut state.queues[queue];
        let avail_index = u16::from_le(u16_at(fake.avail + 2).load(Ordering::Acquire));
        if avail_index == fake.last_avail {
            return None;
        }
        let slot = u64::from(fake.last_avail % fake.size);
        let id = u16::from_le(u16_at(fake.avail + 4 + 2 * slot).load(Ordering::Relaxed));
        fake.last_avail = fake.last_avail.wrapping_add(1);
        let descriptor = fake.descriptors + 16 * u64::from(id);
        let address = u64::from_le(u64_at(descriptor).load(Ordering::Relaxed));
        let length = u32::from_le(u32_at(descriptor + 8).load(Ordering::Relaxed));
        let flags = u16::from_le(u16_at(descriptor + 12).load(Ordering::Relaxed));
        Some((id, address, length, flags))
    }

    fn publish_avail_event(state: &mut DeviceState, queue: usize) {
        if state.event_index() && state.honour_event_index {
            let fake = state.queues[queue];
            let avail_event = fake.used + 4 + 8 * u64::from(fake.size);
            u16_at(avail_event).store(fake.last_avail.to_le(), Ordering::Release);
        }
    }

    /// Writes a used element and publishes it, raising an interrupt if the driver asked.
    fn push_used(state: &mut DeviceState, queue: usize, id: u32, length: u32) {
        let event_index = state.event_index();
        let fake = &mut state.queues[queue];
        let element = fake.used + 4 + 8 * u64::from(fake.used_index % fake.size);
        u32_at(element).store(id.to_le(), Ordering::Relaxed);
        u32_at(element + 4).store(length.to_le(), Ordering::Relaxed);
        let old = fake.used_index;
        fake.used_index = fake.used_index.wrapping_add(1);
        u16_at(fake.used + 2).store(fake.used_index.to_le(), Ordering::Release);
        let wants_interrupt = if event_index {
            let used_event = u16::from_le(
                u16_at(fake.avail + 4 + 2 * u64::from(fake.size)).load(Ordering::Acquire),
            );
            need_event(used_event, fake.used_index, old)
        } else {
            u16::from_le(u16_at(fake.avail).load(Ordering::Acquire)) & AVAIL_F_NO_INTERRUPT == 0
        };
        if wants_interrupt {
            state.interrupt_status |= interrupt::USED_BUFFER;
            state.used_interrupts += 1;
        }
    }

    /// Delivers a frame into the next receive buffer (with a 12-byte header). `false` if no
    /// buffer is available or it is too small (QEMU would hold or drop the frame).
    pub fn deliver(&self, frame: &[u8]) -> bool {
        self.deliver_with_length(frame, None)
    }

    /// As [`deliver`](Self::deliver), but reports `reported` as the used length (to lie).
    pub fn deliver_with_length(&self, frame: &[u8], reported: Option<u32>) -> bool {
        let mut state = self.0.borrow_mut();
        let Some((id, address, length, flags)) = Self::take_avail(&mut state, 0) else {
            return false;
        };
        assert_ne!(
            flags & DESCRIPTOR_F_WRITE,
            0,
            "receive descriptor must be device-writable"
        );
        let total = 12 + frame.len();
        assert!(
            total <= length as usize,
            "frame does not fit the posted buffer"
        );
        let mut header = [0u8; 12];
        header[10] = 1; // num_buffers = 1
        // SAFETY: the descriptor was posted device-writable with `length` bytes at `address`
        // (checked above), and the driver does not reference posted buffers.
        unsafe {
            core::ptr::copy_nonoverlapping(header.as_ptr(), address as *mut u8, 12);
            core::ptr::copy_nonoverlapping(frame.as_ptr(), (address + 12) as *mut u8, frame.len());
        }
        state.delivered_addresses.push(address + 12);
        Self::push_used(
            &mut state,
            0,
            u32::from(id),
            reported.unwrap_or(total as u32),
        );
        Self::publish_avail_event(&mut state, 0);
        true
    }

    /// Consumes every available transmit buffer, recording the frames (header stripped).
    pub fn process_transmit(&self) -> usize {
        let mut state = self.0.borrow_mut();
        Self::process_transmit_locked(&mut state)
    }

    fn process_transmit_locked(state: &mut DeviceState) -> usize {
        let mut count = 0;
        while let Some((id, address, length, flags)) = Self::take_avail(state, 1) {
            assert_eq!(
                flags & DESCRIPTOR_F_WRITE,
                0,
                "transmit descriptor must be device-readable"
            );
            assert!(length >= 12);
            let mut bytes = std::vec![0u8; length as usize];
            // SAFETY: the descriptor was posted device-readable with `length` bytes at
            // `address`; the driver does not write posted buffers.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    address as *const u8,
                    bytes.as_mut_ptr(),
                    bytes.len(),
                )
            };
            assert!(
                bytes[..12].iter().all(|byte| *byte == 0),
                "header must be zero"
            );
            state.transmitted.push(bytes[12..].to_vec());
            state.transmitted_addresses.push(address + 12);
            Self::push_used(state, 1, u32::from(id), 0);
            count += 1;
        }
        Self::publish_avail_event(state, 1);
        count
    }

    /// Writes a raw used element (misbehaviour) on `queue`.
    pub fn push_bogus_used(&self, queue: usize, id: u32, length: u32) {
        let mut state = self.0.borrow_mut();
        Self::push_used(&mut state, queue, id, length);
    }

    /// Moves the used index forward by `count` without writing elements (misbehaviour).
    pub fn jump_used_index(&self, queue: usize, count: u16) {
        let mut state = self.0.borrow_mut();
        let fake = &mut state.queues[queue];
        fake.used_index = fake.used_index.wrapping_add(count);
        u16_at(fake.used + 2).store(fake.used_index.to_le(), Ordering::Release);
    }

    /// Changes the link status and raises the config-change interrupt.
    pub fn set_link(&self, up: bool) {
        let mut state = self.0.borrow_mut();
        state.config[6] = u8::from(up);
        state.generation += 1;
        state.interrupt_status |= interrupt::CONFIG_CHANGE;
    }
}

impl Transport for FakeDevice {
    fn device_id(&self) -> u32 {
        self.0.borrow().device_id
    }

    fn device_features(&mut self) -> u64 {
        self.0.borrow().offered
    }

    fn set_driver_features(&mut self, features: u64) {
        let mut state = self.0.borrow_mut();
        assert_eq!(
            features & !state.offered,
            0,
            "driver accepted a feature not offered"
        );
        state.driver_features = features;
    }

    fn status(&self) -> u32 {
        self.0.borrow().status
    }

    fn set_status(&mut self, value: u32) {
        let mut state = self.0.borrow_mut();
        if value == 0 {
            state.status = 0;
            state.queues = [FakeQueue::default(); 2];
            state.driver_features = 0;
            return;
        }
        let mut value = value;
        if value & status::FEATURES_OK != 0 && state.refuse_features {
            value &= !status::FEATURES_OK;
        }
        if value & status::DRIVER_OK != 0 {
            assert!(
                state.queues.iter().all(|queue| queue.ready),
                "DRIVER_OK before queues are ready"
            );
        }
        state.status = value;
    }

    fn max_queue_size(&mut self, queue: u16) -> u32 {
        self.0
            .borrow()
            .queue_max
            .get(usize::from(queue))
            .copied()
            .unwrap_or(0)
    }

    fn queue_ready(&mut self, queue: u16) -> bool {
        self.0
            .borrow()
            .queues
            .get(usize::from(queue))
            .is_some_and(|fake| fake.ready)
    }

    unsafe fn setup_queue(
        &mut self,
        queue: u16,
        size: u16,
        descriptors: u64,
        driver_area: u64,
        device_area: u64,
    ) {
        let mut state = self.0.borrow_mut();
        assert!(
            state.status & status::FEATURES_OK != 0,
            "queue setup before FEATURES_OK"
        );
        assert!(u32::from(size) <= state.queue_max[usize::from(queue)]);
        assert_eq!(descriptors % 16, 0);
        assert_eq!(driver_area % 2, 0);
        assert_eq!(device_area % 4, 0);
        state.queues[usize::from(queue)] = FakeQueue {
            size,
            descriptors,
            avail: driver_area,
            used: device_area,
            last_avail: 0,
            used_index: 0,
            ready: true,
        };
    }

    fn notify(&mut self, queue: u16) {
        let mut state = self.0.borrow_mut();
        assert!(
            state.status & status::DRIVER_OK != 0,
            "notification before DRIVER_OK"
        );
        state.notifications[usize::from(queue)] += 1;
        if queue == 1 && state.transmit_on_notify {
            Self::process_transmit_locked(&mut state);
        }
    }

    fn interrupt_status(&self) -> u32 {
        self.0.borrow().interrupt_status
    }

    fn acknowledge_interrupt(&mut self, causes: u32) {
        self.0.borrow_mut().interrupt_status &= !causes;
    }

    fn config_generation(&self) -> u32 {
        self.0.borrow().generation
    }

    fn read_config_u8(&self, offset: usize) -> u8 {
        self.0.borrow().config.get(offset).copied().unwrap_or(0)
    }

    fn read_config_u16(&self, offset: usize) -> u16 {
        let state = self.0.borrow();
        match state.config.get(offset..offset + 2) {
            Some(bytes) => u16::from_le_bytes([bytes[0], bytes[1]]),
            None => 0,
        }
    }
}
