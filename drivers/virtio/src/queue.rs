//! Split virtqueues (virtio 1.2 §2.7): ring memory, driver-side bookkeeping, event index.
//!
//! [`QueueMemory`] is the memory the device reads and writes (descriptor table, available ring,
//! used ring), built from atomics so the device may change it at any time without the driver
//! ever holding a plain reference to bytes the device owns. It lives in a `static` (see
//! [`crate::net::NetStorage`]) so its address never changes while the device uses it.
//!
//! [`VirtQueue`] is the driver's side: a free-descriptor stack, what is in flight, the shadow
//! available index, the last used index seen. One descriptor per buffer (no chains, no indirect
//! descriptors), so a descriptor index names a buffer. Every used entry is checked before it is
//! believed: id in range and in flight, length within the posted buffer, used index not ahead of
//! what was posted. A violation is a [`QueueError`], never a panic.
//!
//! Notification suppression follows §2.7.10 exactly: with `VIRTIO_F_EVENT_IDX` the driver kicks
//! only if [`need_event`] says the device's `avail_event` was crossed; without it, only if the
//! device did not set `VIRTQ_USED_F_NO_NOTIFY`. The driver polls, so while it polls it asks for no
//! used-buffer interrupts: `VIRTQ_AVAIL_F_NO_INTERRUPT` without event index, and with it a
//! `used_event` kept half the index space ahead, which the device can never cross. Before the
//! poll loop sleeps it arms the interrupt for the next used buffer
//! ([`VirtQueue::arm_used_interrupt`], which re-checks the ring for a buffer that raced in); the
//! next [`VirtQueue::pop_used`] or [`VirtQueue::suppress_used_interrupts`] suppresses it again.

use core::fmt;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, Ordering, fence};

/// Descriptor flag: the buffer continues in `next` (never set by this driver).
pub const DESCRIPTOR_F_NEXT: u16 = 1;
/// Descriptor flag: the device writes the buffer (receive) rather than reads it (transmit).
pub const DESCRIPTOR_F_WRITE: u16 = 2;
/// Available-ring flag: the driver wants no used-buffer interrupts.
pub const AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device wants no notifications.
pub const USED_F_NO_NOTIFY: u16 = 1;
/// Largest split queue size the spec allows.
pub const MAX_QUEUE_SIZE: usize = 32768;

/// True if the other side, which asked to be told at `event`, must be notified now that the
/// index moved from `old` to `new` (virtio 1.2 §2.7.10, `vring_need_event`). Wrap-around safe:
/// all arithmetic is modulo 2^16.
pub const fn need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// One descriptor (16 bytes, §2.7.5). Fields are little-endian on the bus.
#[repr(C, align(16))]
struct Descriptor {
    address: AtomicU64,
    length: AtomicU32,
    flags: AtomicU16,
    next: AtomicU16,
}

/// The available ring (driver area, §2.7.6); `used_event` follows the ring.
#[repr(C, align(2))]
struct AvailRing<const SIZE: usize> {
    flags: AtomicU16,
    index: AtomicU16,
    ring: [AtomicU16; SIZE],
    used_event: AtomicU16,
}

/// One used element (§2.7.8): `id` then `len`, each a little-endian u32, read as two words
/// (it was four halfword loads and three merges per element, twice per forwarded frame).
///
/// For a queue running below `SIZE` entries, the `avail_event` field sits in the first two
/// bytes of element `size`: the driver only reads it, as the low half of that element's first
/// word ([`VirtQueue::avail_event`]), so no halfword atomic is needed for it.
#[repr(C, align(4))]
struct UsedElement {
    words: [AtomicU32; 2],
}

impl UsedElement {
    fn read(&self) -> (u32, u32) {
        (
            u32::from_le(self.words[0].load(Ordering::Relaxed)),
            u32::from_le(self.words[1].load(Ordering::Relaxed)),
        )
    }

    fn write(&self, id: u32, length: u32) {
        self.words[0].store(id.to_le(), Ordering::Relaxed);
        self.words[1].store(length.to_le(), Ordering::Relaxed);
    }
}

/// The used ring (device area, §2.7.8); `avail_event` follows the ring.
#[repr(C, align(4))]
struct UsedRing<const SIZE: usize> {
    flags: AtomicU16,
    index: AtomicU16,
    ring: [UsedElement; SIZE],
    avail_event: AtomicU16,
}

/// The device-visible memory of one split virtqueue of capacity `SIZE`.
///
/// If the device supports fewer entries, the queue runs at a smaller power of two `n`; the spec
/// then puts `used_event`/`avail_event` at ring slot `n`, which is inside the arrays.
#[repr(C)]
pub struct QueueMemory<const SIZE: usize> {
    descriptors: [Descriptor; SIZE],
    avail: AvailRing<SIZE>,
    used: UsedRing<SIZE>,
}

impl<const SIZE: usize> Default for QueueMemory<SIZE> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SIZE: usize> QueueMemory<SIZE> {
    const SIZE_OK: () = assert!(SIZE.is_power_of_two() && SIZE <= MAX_QUEUE_SIZE);

    /// Zeroed ring memory (all-zero, so a `static` of it lands in `.bss`).
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            descriptors: [const {
                Descriptor {
                    address: AtomicU64::new(0),
                    length: AtomicU32::new(0),
                    flags: AtomicU16::new(0),
                    next: AtomicU16::new(0),
                }
            }; SIZE],
            avail: AvailRing {
                flags: AtomicU16::new(0),
                index: AtomicU16::new(0),
                ring: [const { AtomicU16::new(0) }; SIZE],
                used_event: AtomicU16::new(0),
            },
            used: UsedRing {
                flags: AtomicU16::new(0),
                index: AtomicU16::new(0),
                ring: [const {
                    UsedElement {
                        words: [const { AtomicU32::new(0) }; 2],
                    }
                }; SIZE],
                avail_event: AtomicU16::new(0),
            },
        }
    }

    /// Bus addresses of the descriptor table, driver area and device area (identity-mapped).
    pub fn addresses(&self) -> (u64, u64, u64) {
        (
            self.descriptors.as_ptr() as u64,
            core::ptr::from_ref(&self.avail) as u64,
            core::ptr::from_ref(&self.used) as u64,
        )
    }

    /// Clears everything, for a fresh start of the queue (the device must be reset).
    fn clear(&self) {
        for descriptor in &self.descriptors {
            descriptor.address.store(0, Ordering::Relaxed);
            descriptor.length.store(0, Ordering::Relaxed);
            descriptor.flags.store(0, Ordering::Relaxed);
            descriptor.next.store(0, Ordering::Relaxed);
        }
        self.avail.flags.store(0, Ordering::Relaxed);
        self.avail.index.store(0, Ordering::Relaxed);
        self.avail.used_event.store(0, Ordering::Relaxed);
        for slot in &self.avail.ring {
            slot.store(0, Ordering::Relaxed);
        }
        self.used.flags.store(0, Ordering::Relaxed);
        self.used.index.store(0, Ordering::Relaxed);
        self.used.avail_event.store(0, Ordering::Relaxed);
        for element in &self.used.ring {
            element.write(0, 0);
        }
        fence(Ordering::SeqCst);
    }
}

/// A device broke the virtqueue protocol. The entry is not trusted; the driver counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueError {
    /// The used index moved further ahead than the number of buffers in flight.
    UsedIndexJump {
        /// Entries the device claims to have added.
        claimed: u16,
        /// Buffers actually in flight.
        in_flight: u16,
    },
    /// A used id is not a descriptor index of this queue.
    UsedIdOutOfRange {
        /// The id the device wrote.
        id: u32,
    },
    /// A used id names a descriptor the driver did not post (or already got back).
    UsedIdNotPosted {
        /// The id the device wrote.
        id: u32,
    },
    /// A used length is larger than the device-writable buffer. The buffer was reclaimed.
    UsedLengthTooLarge {
        /// The token (buffer index) of the reclaimed buffer.
        token: u16,
        /// The length the device wrote.
        length: u32,
        /// The buffer's device-writable capacity.
        capacity: u32,
    },
}

impl fmt::Display for QueueError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::UsedIndexJump { claimed, in_flight } => write!(
                formatter,
                "device used index jumped by {claimed} with only {in_flight} buffers in flight"
            ),
            QueueError::UsedIdOutOfRange { id } => {
                write!(formatter, "device used id {id} out of range")
            }
            QueueError::UsedIdNotPosted { id } => {
                write!(formatter, "device used id {id} that was not posted")
            }
            QueueError::UsedLengthTooLarge {
                length, capacity, ..
            } => write!(
                formatter,
                "device used length {length} larger than the {capacity}-byte buffer"
            ),
        }
    }
}

/// A buffer the device gave back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsedBuffer {
    /// The token given to [`VirtQueue::push`] (the pool buffer index).
    pub token: u16,
    /// Bytes the device wrote into it (0 for device-readable buffers).
    pub length: u32,
}

/// Marks a descriptor that is not in flight.
const NOT_IN_FLIGHT: u16 = u16::MAX;

/// What every descriptor of a queue is fixed to, so a post writes only what changes
/// ([`VirtQueue::bind_descriptors`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// Nothing fixed: every post writes the whole descriptor ([`VirtQueue::push`]).
    Unbound,
    /// Every descriptor is device-writable with this length (a receive ring of same-size
    /// buffers): a post writes the address ([`VirtQueue::push_receive_batch`]).
    Writable(u32),
    /// Every descriptor is device-readable (a transmit ring): a post writes the address and
    /// the length ([`VirtQueue::push_transmit_unpublished`]).
    Readable,
}

/// The driver's side of one split virtqueue of capacity `SIZE`.
pub struct VirtQueue<const SIZE: usize> {
    memory: &'static QueueMemory<SIZE>,
    /// Entries in use: a power of two, at most `SIZE`.
    size: u16,
    free_descriptors: [u16; SIZE],
    free_count: u16,
    /// Per descriptor: the token in flight, or `NOT_IN_FLIGHT`.
    tokens: [u16; SIZE],
    /// Per descriptor: device-writable capacity (`u32::MAX`, unchecked, for device-readable).
    writable_capacity: [u32; SIZE],
    /// Next available index to publish.
    avail_index: u16,
    /// Available index at the last notification decision.
    kicked_index: u16,
    last_used: u16,
    event_index: bool,
    /// The device was asked for an interrupt at the next used buffer (the driver sleeps).
    interrupt_armed: bool,
    /// `last_used` when `used_event` was last parked half the index space ahead.
    parked_at: u16,
    /// What the descriptors' constant parts are fixed to, if anything.
    binding: Binding,
}

impl<const SIZE: usize> VirtQueue<SIZE> {
    /// Sets up the driver side over `memory` for a device supporting `device_max` entries, and
    /// clears the ring memory. Returns `None` if `device_max` is 0 (queue does not exist).
    pub fn new(
        memory: &'static QueueMemory<SIZE>,
        device_max: u32,
        event_index: bool,
    ) -> Option<Self> {
        if device_max == 0 {
            return None;
        }
        let limit = device_max.min(SIZE as u32);
        // Largest power of two not above the limit: ring positions are `index & (size - 1)`.
        let size = 1u32 << (31 - limit.leading_zeros());
        let size = size as u16;
        memory.clear();
        let mut free_descriptors = [0u16; SIZE];
        for (slot, entry) in free_descriptors
            .iter_mut()
            .enumerate()
            .take(usize::from(size))
        {
            // Free stack pops from the end; lowest descriptor first is only cosmetic.
            *entry = size - 1 - slot as u16;
        }
        let mut queue = Self {
            memory,
            size,
            free_descriptors,
            free_count: size,
            tokens: [NOT_IN_FLIGHT; SIZE],
            writable_capacity: [0; SIZE],
            avail_index: 0,
            kicked_index: 0,
            last_used: 0,
            event_index,
            // So that the suppression below writes the ring (which starts all zero).
            interrupt_armed: true,
            parked_at: 0,
            binding: Binding::Unbound,
        };
        queue.suppress_used_interrupts();
        Some(queue)
    }

    /// Entries in use (the size given to the device).
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Descriptors free for [`push`](Self::push).
    pub fn free(&self) -> u16 {
        self.free_count
    }

    /// Buffers the device holds.
    pub fn in_flight(&self) -> u16 {
        // One descriptor per buffer: every descriptor is free or in flight, so no count of its
        // own (one update fewer per post and per used buffer).
        self.size - self.free_count
    }

    /// The bus addresses to give the device: descriptors, driver area, device area.
    pub fn addresses(&self) -> (u64, u64, u64) {
        self.memory.addresses()
    }

    fn used_event_slot(&self) -> &AtomicU16 {
        let size = usize::from(self.size);
        if size < SIZE {
            &self.memory.avail.ring[size]
        } else {
            &self.memory.avail.used_event
        }
    }

    /// The device's `avail_event` (§2.7.10). Below `SIZE` entries it is the first two bytes
    /// of used element `size`: the low half of that element's first little-endian word (an
    /// aligned word load, so the device's halfword store cannot tear it).
    fn avail_event(&self) -> u16 {
        let size = usize::from(self.size);
        match self.memory.used.ring.get(size) {
            Some(element) => u32::from_le(element.words[0].load(Ordering::Acquire)) as u16,
            None => u16::from_le(self.memory.used.avail_event.load(Ordering::Acquire)),
        }
    }

    /// Keeps `used_event` half the index space ahead, so the device never crosses it.
    fn park_used_event(&mut self) {
        self.parked_at = self.last_used;
        self.used_event_slot().store(
            self.last_used.wrapping_add(0x8000).to_le(),
            Ordering::Release,
        );
    }

    /// How far `last_used` may move before `used_event` is parked again. The device's used
    /// index is at most `size` ahead of `last_used`, and the event sits 0x8000 ahead of where
    /// it was parked, so anything below `0x8000 - size` keeps the device behind the event;
    /// half of that leaves a margin.
    fn park_distance(&self) -> u16 {
        ((0x8000 - u32::from(self.size)) / 2) as u16
    }

    /// True if the device has used a buffer the driver has not taken yet (one load of the used
    /// index: no register access).
    pub fn has_used(&self) -> bool {
        u16::from_le(self.memory.used.index.load(Ordering::Acquire)) != self.last_used
    }

    /// Asks the device for a used-buffer interrupt at the next buffer it uses (before the
    /// driver sleeps; §2.7.7: `used_event = last_used` with event index, else clearing
    /// `NO_INTERRUPT`), then looks again: true if a used buffer is already there, so the caller
    /// must not sleep on it (the device may have used it before it saw the request).
    pub fn arm_used_interrupt(&mut self) -> bool {
        if self.event_index {
            self.used_event_slot()
                .store(self.last_used.to_le(), Ordering::Release);
        } else {
            self.memory.avail.flags.store(0, Ordering::Release);
        }
        self.interrupt_armed = true;
        // Full barrier: the request is visible to the device before the used index is read
        // (otherwise both sides could miss each other and the driver sleep on a used buffer).
        fence(Ordering::SeqCst);
        self.has_used()
    }

    /// True while a used-buffer interrupt is armed ([`arm_used_interrupt`](Self::arm_used_interrupt)).
    pub fn used_interrupt_armed(&self) -> bool {
        self.interrupt_armed
    }

    /// Asks the device for no used-buffer interrupts (the driver polls). Cheap when they are
    /// already suppressed: a store only if one was armed.
    pub fn suppress_used_interrupts(&mut self) {
        if !self.interrupt_armed {
            return;
        }
        self.interrupt_armed = false;
        if self.event_index {
            self.park_used_event();
        } else {
            self.memory
                .avail
                .flags
                .store(AVAIL_F_NO_INTERRUPT.to_le(), Ordering::Release);
        }
    }

    /// Fixes the constant parts of every descriptor once (flags, `next`, and for a writable
    /// binding the length and the checked capacity), so each later post through
    /// [`push_receive_batch`](Self::push_receive_batch) or
    /// [`push_transmit_unpublished`](Self::push_transmit_unpublished) writes only the buffer's
    /// address (and length), its token and the available-ring entry. Call it while nothing is in
    /// flight (after setup); a plain [`push`](Self::push) later unbinds the queue again.
    /// Returns `false` (nothing changed) if buffers are in flight.
    pub fn bind_descriptors(&mut self, binding: Binding) -> bool {
        if self.in_flight() != 0 {
            return false;
        }
        let (length, flags, capacity) = match binding {
            Binding::Unbound => (0, 0, 0),
            Binding::Writable(length) => (length, DESCRIPTOR_F_WRITE, length),
            // Device-readable: `len` is not checked (see `push_unpublished`).
            Binding::Readable => (0, 0, u32::MAX),
        };
        for (descriptor, slot_capacity) in self
            .memory
            .descriptors
            .iter()
            .zip(self.writable_capacity.iter_mut())
        {
            descriptor.length.store(length.to_le(), Ordering::Relaxed);
            descriptor.flags.store(flags.to_le(), Ordering::Relaxed);
            descriptor.next.store(0, Ordering::Relaxed);
            *slot_capacity = capacity;
        }
        self.binding = binding;
        true
    }

    /// What the descriptors are fixed to ([`bind_descriptors`](Self::bind_descriptors)).
    pub fn binding(&self) -> Binding {
        self.binding
    }

    /// Takes a free descriptor for `token` and makes it the next available-ring entry (not yet
    /// published): the descriptor index, or `None` if none is free.
    fn claim_slot(&mut self, token: u16) -> Option<usize> {
        if self.free_count == 0 || token == NOT_IN_FLIGHT {
            return None;
        }
        self.free_count -= 1;
        // `free_count < size <= SIZE`, and free descriptors are below `size`, so both masks
        // change nothing; they spare the free list and the per-descriptor arrays their bounds
        // checks (a panic path per transmit).
        let descriptor_index = self.free_descriptors[usize::from(self.free_count) & (SIZE - 1)];
        let slot = usize::from(descriptor_index) & (SIZE - 1);
        self.tokens[slot] = token;
        // `size <= SIZE`, both powers of two: the second mask changes nothing but the check.
        let position = usize::from(self.avail_index & (self.size - 1)) & (SIZE - 1);
        self.memory.avail.ring[position].store(descriptor_index.to_le(), Ordering::Relaxed);
        self.avail_index = self.avail_index.wrapping_add(1);
        Some(slot)
    }

    /// Posts receive buffers `tokens[i]` at `address_of(tokens[i])` on a queue bound
    /// [`Binding::Writable`] (one descriptor store per buffer, the token and the ring entry), not
    /// yet published: with the queue's indices in locals for the batch (one load
    /// and one store of each, not one per buffer). Returns how many were posted, from the
    /// front of `tokens` (0 if the queue is not bound so; fewer if descriptors ran out or a
    /// token is the reserved `u16::MAX`).
    pub fn push_receive_batch(&mut self, tokens: &[u16], address_of: impl Fn(u16) -> u64) -> usize {
        if !matches!(self.binding, Binding::Writable(_)) {
            return 0;
        }
        let memory = self.memory;
        let mask = self.size - 1;
        let mut free_count = self.free_count;
        let mut avail_index = self.avail_index;
        let mut posted = 0;
        for &token in tokens {
            if free_count == 0 || token == NOT_IN_FLIGHT {
                break;
            }
            free_count -= 1;
            // As in `claim_slot`: the masks change nothing but the bounds checks.
            let descriptor_index = self.free_descriptors[usize::from(free_count) & (SIZE - 1)];
            let slot = usize::from(descriptor_index) & (SIZE - 1);
            self.tokens[slot] = token;
            memory.descriptors[slot]
                .address
                .store(address_of(token).to_le(), Ordering::Relaxed);
            memory.avail.ring[usize::from(avail_index & mask) & (SIZE - 1)]
                .store(descriptor_index.to_le(), Ordering::Relaxed);
            avail_index = avail_index.wrapping_add(1);
            posted += 1;
        }
        self.free_count = free_count;
        self.avail_index = avail_index;
        posted
    }

    /// Posts one device-readable buffer (a transmit) on a queue bound [`Binding::Readable`],
    /// without making it available yet ([`publish`](Self::publish)): two descriptor stores,
    /// the token and the ring entry. Returns `false` if no descriptor is free or the queue is
    /// not bound so.
    pub fn push_transmit_unpublished(&mut self, token: u16, address: u64, length: u32) -> bool {
        if self.binding != Binding::Readable {
            return false;
        }
        let Some(slot) = self.claim_slot(token) else {
            return false;
        };
        let descriptor = &self.memory.descriptors[slot];
        descriptor.address.store(address.to_le(), Ordering::Relaxed);
        descriptor.length.store(length.to_le(), Ordering::Relaxed);
        true
    }

    /// Posts one buffer and makes it available (no notification). `writable` buffers are for
    /// the device to fill (receive). Returns `false` if no descriptor is free.
    pub fn push(&mut self, token: u16, address: u64, length: u32, writable: bool) -> bool {
        let pushed = self.push_unpublished(token, address, length, writable);
        if pushed {
            self.publish();
        }
        pushed
    }

    /// Posts one buffer without making it available yet: a burst of these is published with
    /// one [`publish`](Self::publish) (one release store of the index, not one per buffer).
    /// Returns `false` if no descriptor is free. The device sees nothing until `publish`.
    pub fn push_unpublished(
        &mut self,
        token: u16,
        address: u64,
        length: u32,
        writable: bool,
    ) -> bool {
        let Some(slot) = self.claim_slot(token) else {
            return false;
        };
        // The whole descriptor is written: the queue's constant parts are no longer fixed.
        self.binding = Binding::Unbound;
        let descriptor = &self.memory.descriptors[slot];
        descriptor.address.store(address.to_le(), Ordering::Relaxed);
        descriptor.length.store(length.to_le(), Ordering::Relaxed);
        let flags = if writable { DESCRIPTOR_F_WRITE } else { 0 };
        descriptor.flags.store(flags.to_le(), Ordering::Relaxed);
        descriptor.next.store(0, Ordering::Relaxed);
        // Device-readable buffers: `len` counts bytes written, which some devices misreport
        // for transmit; it is not used, so it is not checked.
        self.writable_capacity[slot] = if writable { length } else { u32::MAX };
        true
    }

    /// Makes every buffer pushed so far available to the device (no notification).
    pub fn publish(&mut self) {
        // Release: the descriptors and ring slots are visible before the device sees the index.
        self.memory
            .avail
            .index
            .store(self.avail_index.to_le(), Ordering::Release);
    }

    /// Decides whether the device must be notified about buffers made available since the last
    /// decision (§2.7.10), and records the decision point.
    pub fn should_notify(&mut self) -> bool {
        let new = self.avail_index;
        let old = self.kicked_index;
        if new == old {
            return false;
        }
        self.kicked_index = new;
        // Full barrier: our index store is visible before we read what the device asked for.
        fence(Ordering::SeqCst);
        if self.event_index {
            let event = self.avail_event();
            need_event(event, new, old)
        } else {
            u16::from_le(self.memory.used.flags.load(Ordering::Acquire)) & USED_F_NO_NOTIFY == 0
        }
    }

    /// Takes the next used buffer, if any. `Some(Err(..))` reports a protocol violation by the
    /// device; the offending entry is skipped (and a wrongly long buffer still reclaimed).
    pub fn pop_used(&mut self) -> Option<Result<UsedBuffer, QueueError>> {
        let used_index = u16::from_le(self.memory.used.index.load(Ordering::Acquire));
        let pending = used_index.wrapping_sub(self.last_used);
        if pending == 0 {
            return None;
        }
        if pending > self.in_flight() {
            // Believe nothing: resynchronise to the device's index and report. Buffers still in
            // flight stay so (the device may yet return them), so none is double-freed.
            self.last_used = used_index;
            self.after_used();
            return Some(Err(QueueError::UsedIndexJump {
                claimed: pending,
                in_flight: self.in_flight(),
            }));
        }
        let element = &self.memory.used.ring[usize::from(self.last_used & (self.size - 1))];
        let (id, length) = element.read();
        self.last_used = self.last_used.wrapping_add(1);
        self.after_used();
        Some(self.retire(id, length))
    }

    /// Takes up to `limit` used buffers with one read of the device's index and one
    /// interrupt-suppression step for all of them, handing each to `take` as
    /// [`pop_used`](Self::pop_used) would return it (a protocol violation as an `Err`, the
    /// entry skipped). Returns how many entries were taken (0: none pending, or `limit` 0).
    pub fn pop_used_burst(
        &mut self,
        limit: usize,
        mut take: impl FnMut(Result<UsedBuffer, QueueError>),
    ) -> usize {
        let used_index = u16::from_le(self.memory.used.index.load(Ordering::Acquire));
        let pending = used_index.wrapping_sub(self.last_used);
        if pending == 0 || limit == 0 {
            return 0;
        }
        // As in `pop_used`, an index ahead of what is in flight is believed in nothing: one
        // report, and the driver resynchronises to it. Reported from inside the loop, so
        // `take` has one call site (two kept it a call per entry, its captures in memory).
        let in_flight = self.in_flight();
        let jump = pending > in_flight;
        let count = if jump {
            1
        } else {
            usize::from(pending).min(limit)
        };
        // The queue's indices and counts in locals for the burst, written back once: kept in
        // the fields, each entry reloaded and stored them all (the ring's atomics and the
        // caller's stores may alias them as far as the compiler knows).
        let (used, size, mask) = (&self.memory.used, u32::from(self.size), self.size - 1);
        let mut last_used = if jump { used_index } else { self.last_used };
        let mut free_count = self.free_count;
        for _ in 0..count {
            let result = if jump {
                Err(QueueError::UsedIndexJump {
                    claimed: pending,
                    in_flight,
                })
            } else {
                // As in `push_unpublished`: the second mask only drops the bounds check.
                let (id, length) = used.ring[usize::from(last_used & mask) & (SIZE - 1)].read();
                last_used = last_used.wrapping_add(1);
                // The checks of `retire`, on the locals.
                if id >= size {
                    Err(QueueError::UsedIdOutOfRange { id })
                } else {
                    let descriptor_index = id as usize & (SIZE - 1);
                    let token = self.tokens[descriptor_index];
                    if token == NOT_IN_FLIGHT {
                        Err(QueueError::UsedIdNotPosted { id })
                    } else {
                        self.tokens[descriptor_index] = NOT_IN_FLIGHT;
                        // A descriptor was in flight, so fewer than `size <= SIZE` are free:
                        // the mask changes nothing but the bounds check.
                        self.free_descriptors[usize::from(free_count) & (SIZE - 1)] = id as u16;
                        free_count += 1;
                        let capacity = self.writable_capacity[descriptor_index];
                        if length > capacity {
                            Err(QueueError::UsedLengthTooLarge {
                                token,
                                length,
                                capacity,
                            })
                        } else {
                            Ok(UsedBuffer { token, length })
                        }
                    }
                }
            };
            take(result);
        }
        self.last_used = last_used;
        self.free_count = free_count;
        // Once per burst: the park distance is far larger than a ring.
        self.after_used();
        count
    }

    /// Checks a used entry the driver just took and retires its descriptor.
    fn retire(&mut self, id: u32, length: u32) -> Result<UsedBuffer, QueueError> {
        if id >= u32::from(self.size) {
            return Err(QueueError::UsedIdOutOfRange { id });
        }
        // `id < size <= SIZE`, so the mask changes nothing; it tells the compiler the index fits
        // every per-descriptor array (one bounds check fewer per array, per used buffer).
        let descriptor_index = id as usize & (SIZE - 1);
        let token = self.tokens[descriptor_index];
        if token == NOT_IN_FLIGHT {
            return Err(QueueError::UsedIdNotPosted { id });
        }
        self.tokens[descriptor_index] = NOT_IN_FLIGHT;
        self.free_descriptors[usize::from(self.free_count)] = id as u16;
        self.free_count += 1;
        let capacity = self.writable_capacity[descriptor_index];
        if length > capacity {
            return Err(QueueError::UsedLengthTooLarge {
                token,
                length,
                capacity,
            });
        }
        Ok(UsedBuffer { token, length })
    }

    /// After the driver took used entries: keep interrupts suppressed (the driver is polling).
    fn after_used(&mut self) {
        if self.event_index {
            // Moves `used_event` along so the device never reaches it: at once if it was
            // armed, else once `last_used` has gone `park_distance` (a store per buffer
            // would cost the fast path for nothing).
            if self.interrupt_armed
                || self.last_used.wrapping_sub(self.parked_at) >= self.park_distance()
            {
                self.interrupt_armed = false;
                self.park_used_event();
            }
        } else {
            self.suppress_used_interrupts();
        }
    }

    /// Forgets every buffer in flight (after a device reset), returning their tokens to `sink`.
    pub fn drain_in_flight(&mut self, mut sink: impl FnMut(u16)) {
        for descriptor_index in 0..usize::from(self.size) {
            let token = self.tokens[descriptor_index];
            if token != NOT_IN_FLIGHT {
                self.tokens[descriptor_index] = NOT_IN_FLIGHT;
                self.free_descriptors[usize::from(self.free_count)] = descriptor_index as u16;
                self.free_count += 1;
                sink(token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::boxed::Box;

    fn queue() -> VirtQueue<8> {
        let memory: &'static QueueMemory<8> = Box::leak(Box::new(QueueMemory::new()));
        VirtQueue::new(memory, 8, true).unwrap()
    }

    fn descriptor(queue: &VirtQueue<8>, index: usize) -> (u64, u32, u16, u16) {
        let descriptor = &queue.memory.descriptors[index];
        (
            u64::from_le(descriptor.address.load(Ordering::Relaxed)),
            u32::from_le(descriptor.length.load(Ordering::Relaxed)),
            u16::from_le(descriptor.flags.load(Ordering::Relaxed)),
            u16::from_le(descriptor.next.load(Ordering::Relaxed)),
        )
    }

    /// The device hands back the buffer in descriptor `id` with `length` bytes written.
    fn device_uses(queue: &VirtQueue<8>, id: u32, length: u32) {
        let used = &queue.memory.used;
        let index = u16::from_le(used.index.load(Ordering::Relaxed));
        used.ring[usize::from(index) % 8].write(id, length);
        used.index
            .store(index.wrapping_add(1).to_le(), Ordering::Release);
    }

    #[test]
    fn bound_receive_posts_write_only_the_address_and_keep_the_length_check() {
        let mut rx = queue();
        assert_eq!(
            rx.push_receive_batch(&[1], |_| 0x1000),
            0,
            "unbound: refused"
        );
        assert!(rx.bind_descriptors(Binding::Writable(1600)));
        assert_eq!(rx.push_receive_batch(&[7], |_| 0x4000), 1);
        rx.publish();
        let id = u16::from_le(rx.memory.avail.ring[0].load(Ordering::Relaxed));
        assert_eq!(
            descriptor(&rx, usize::from(id)),
            (0x4000, 1600, DESCRIPTOR_F_WRITE, 0)
        );
        // Not while a buffer is in flight.
        assert!(!rx.bind_descriptors(Binding::Readable));
        // The fixed capacity still bounds what the device may claim to have written.
        device_uses(&rx, u32::from(id), 1601);
        assert_eq!(
            rx.pop_used(),
            Some(Err(QueueError::UsedLengthTooLarge {
                token: 7,
                length: 1601,
                capacity: 1600
            }))
        );
        assert!(
            !rx.push_transmit_unpublished(1, 0x1000, 60),
            "bound for receive"
        );
    }

    #[test]
    fn bound_transmit_posts_write_address_and_length_and_a_plain_push_unbinds() {
        let mut tx = queue();
        assert!(tx.bind_descriptors(Binding::Readable));
        assert!(tx.push_transmit_unpublished(3, 0x2000, 72));
        assert!(tx.push_transmit_unpublished(4, 0x3000, 90));
        tx.publish();
        for position in 0..2 {
            let id = u16::from_le(tx.memory.avail.ring[position].load(Ordering::Relaxed));
            let (address, length, flags, next) = descriptor(&tx, usize::from(id));
            assert_eq!((flags, next), (0, 0));
            assert_eq!((address, length), [(0x2000, 72), (0x3000, 90)][position]);
        }
        assert_eq!(
            tx.push_receive_batch(&[5], |_| 0x1000),
            0,
            "bound for transmit"
        );
        // A plain push writes the whole descriptor and unbinds the queue.
        assert!(tx.push(5, 0x5000, 1600, true));
        assert_eq!(tx.binding(), Binding::Unbound);
        assert!(!tx.push_transmit_unpublished(6, 0x6000, 60));
        assert_eq!(tx.in_flight(), 3);
    }

    #[test]
    fn a_receive_batch_posts_until_the_descriptors_run_out() {
        let mut rx = queue();
        assert_eq!(rx.push_receive_batch(&[1, 2], |_| 0), 0, "unbound: none");
        assert!(rx.bind_descriptors(Binding::Writable(1600)));
        let tokens: [u16; 10] = core::array::from_fn(|index| 10 + index as u16);
        let posted = rx.push_receive_batch(&tokens, |token| u64::from(token) * 0x1000);
        assert_eq!((posted, rx.in_flight(), rx.free()), (8, 8, 0));
        rx.publish();
        for position in 0..8 {
            let id = u16::from_le(rx.memory.avail.ring[position].load(Ordering::Relaxed));
            let (address, length, flags, _) = descriptor(&rx, usize::from(id));
            assert_eq!(
                (address, length, flags),
                ((10 + position as u64) * 0x1000, 1600, DESCRIPTOR_F_WRITE)
            );
        }
        // They come back in any order, each token once, with the burst's checks.
        for id in [3u32, 0, 7] {
            device_uses(&rx, id, 64);
        }
        device_uses(&rx, 3, 64);
        let mut seen = std::vec::Vec::new();
        assert_eq!(rx.pop_used_burst(8, |result| seen.push(result)), 4);
        assert!(matches!(seen[0], Ok(UsedBuffer { length: 64, .. })));
        assert_eq!(seen[3], Err(QueueError::UsedIdNotPosted { id: 3 }));
        assert_eq!((rx.in_flight(), rx.free()), (5, 3));
        // The freed descriptors take the next batch; a reserved token ends it.
        assert_eq!(rx.push_receive_batch(&[40, u16::MAX, 41], |_| 0x9000), 1);
        assert_eq!(rx.in_flight(), 6);
    }
}
