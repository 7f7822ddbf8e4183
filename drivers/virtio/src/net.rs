//! The virtio-net driver (virtio 1.2 §5.1) implementing the netdev boundary.
//!
//! One receive queue (0) and one transmit queue (1), no control queue, no offloads. Every pool
//! buffer is [`BUFFER_SIZE`] bytes: the 12-byte `virtio_net_hdr` (VERSION_1 layout) then the
//! frame, one descriptor per buffer. Receive buffers are posted whole and refilled in batches of
//! [`RX_REFILL_BATCH`]; transmit completions are reclaimed lazily (when a reservation or a refill
//! runs short). Each burst notifies the device at most once, and only if its event index (or
//! `NO_NOTIFY` flag) asks for it.
//!
//! Memory: the rings and the buffer pool live in a [`NetStorage`] that the kernel declares as a
//! `static` (one per NIC, [`NetStorage::BYTES`] each, all in `.bss`). A driver claims its storage
//! for as long as it lives, so the device's DMA target never moves and never has two owners; the
//! small [`VirtioNet`] value itself may move freely (into a lock, a static, ...). Dropping the
//! driver resets the device before the storage is released.
//!
//! Usage: `VirtioNet::new(transport, &STORAGE)?`, then the [`NetDevice`] methods from the poll
//! loop; on the device's config-change interrupt, the handler acknowledges and flags, and the
//! poll loop calls [`VirtioNet::config_changed`].

use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use netdev::{
    Counters, ETHERNET_HEADER_LEN, LinkState, MacAddress, NetDevice, PoolOccupancy, RxBuffer,
    TxBuffer, TxError, TxErrorKind,
};

use crate::features::{self, Negotiated};
use crate::queue::{QueueError, QueueMemory, UsedBuffer, VirtQueue};
use crate::transport::{Transport, status};

/// virtio device ID of a network card.
pub const NET_DEVICE_ID: u32 = 1;
/// Buffers in each NIC's pool.
pub const BUFFER_COUNT: usize = 256;
/// Bytes per pool buffer: header + the largest frame, rounded to a power of two.
pub const BUFFER_SIZE: usize = 2048;
/// Entries per virtqueue (receive and transmit) of a NIC with its own pool (`mgmt0`, the HA
/// link); the device may ask for fewer. Data ports run deeper rings
/// ([`PORT_QUEUE_SIZE`](crate::pooled::PORT_QUEUE_SIZE)).
pub const QUEUE_SIZE: usize = 128;
/// `virtio_net_hdr` length with VERSION_1 (§5.1.6: 12 bytes, `num_buffers` included).
pub const NET_HEADER_LEN: usize = 12;
/// Largest frame moved: Ethernet header, one 802.1Q tag, 1500-byte payload (no FCS).
pub const MAX_FRAME_LEN: usize = 1518;
/// Receive refill happens once this many ring slots are empty (or the ring ran dry).
pub const RX_REFILL_BATCH: usize = 16;
/// The receive queue index.
pub const RX_QUEUE: u16 = 0;
/// The transmit queue index.
pub const TX_QUEUE: u16 = 1;

/// Config space: the MAC address (`VIRTIO_NET_F_MAC`).
const CONFIG_MAC: usize = 0;
/// Config space: the `status` field (`VIRTIO_NET_F_STATUS`).
const CONFIG_STATUS: usize = 6;
/// `status` bit: link up.
const STATUS_LINK_UP: u16 = 1;
/// Address used if the device has no `VIRTIO_NET_F_MAC` (locally administered).
const FALLBACK_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0, 0x01]);
/// Bounded waits on the device (reset completion, config generation): polls before giving up.
const DEVICE_POLL_LIMIT: u32 = 100_000;

const _: () = {
    assert!(NET_HEADER_LEN + MAX_FRAME_LEN <= BUFFER_SIZE);
    // §5.1.6.3.1: without MRG_RXBUF, receive buffers must hold at least 1526 bytes.
    assert!(BUFFER_SIZE >= 1526);
    assert!(BUFFER_COUNT <= u16::MAX as usize && BUFFER_SIZE <= u32::MAX as usize);
    // Room for a full receive ring and as much transmit in flight.
    assert!(BUFFER_COUNT >= 2 * QUEUE_SIZE);
};

/// One pool buffer, cache-line aligned. Written by the device only while posted to it.
#[repr(C, align(64))]
struct PacketBuffer(UnsafeCell<[u8; BUFFER_SIZE]>);

/// The device-visible memory of one NIC: both rings and the buffer pool. Declare it `static`.
pub struct NetStorage {
    claimed: AtomicBool,
    rx: QueueMemory<QUEUE_SIZE>,
    tx: QueueMemory<QUEUE_SIZE>,
    pool: [PacketBuffer; BUFFER_COUNT],
}

// SAFETY: the rings are atomics. The pool's cells are only touched by the one driver that
// claimed the storage (the `claimed` flag is taken atomically in `VirtioNet::new`), which hands
// out references by its buffer-ownership states and `&self`/`&mut self`, and by the device for
// buffers posted to it, which the driver never references meanwhile.
unsafe impl Sync for NetStorage {}

impl Default for NetStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl NetStorage {
    /// Bytes of static RAM per NIC.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// Zeroed storage (lands in `.bss`).
    pub const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            rx: QueueMemory::new(),
            tx: QueueMemory::new(),
            pool: [const { PacketBuffer(UnsafeCell::new([0; BUFFER_SIZE])) }; BUFFER_COUNT],
        }
    }

    /// True while a driver owns this storage.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }
}

/// Why a virtio-net device could not be brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// The device is not a network card (0 = empty slot).
    NotNetwork {
        /// The device ID found.
        device_id: u32,
    },
    /// The storage is already used by another driver.
    StorageInUse,
    /// The device did not read back status 0 after a reset.
    ResetTimeout,
    /// The device does not offer `VIRTIO_F_VERSION_1` (a legacy-only device).
    NoVersion1 {
        /// The device's feature word.
        offered: u64,
    },
    /// The device cleared `FEATURES_OK`: it refuses the accepted feature set.
    FeaturesRefused {
        /// The features the driver accepted.
        accepted: u64,
    },
    /// A queue was already live before setup.
    QueueAlreadyInUse {
        /// The queue index.
        queue: u16,
    },
    /// The device reports a maximum size of 0 for a queue: it does not exist.
    QueueUnavailable {
        /// The queue index.
        queue: u16,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::NotNetwork { device_id: 0 } => {
                formatter.write_str("empty virtio slot (device ID 0)")
            }
            InitError::NotNetwork { device_id } => {
                write!(formatter, "virtio device ID {device_id} is not a NIC")
            }
            InitError::StorageInUse => {
                formatter.write_str("NIC storage already claimed by another driver")
            }
            InitError::ResetTimeout => formatter.write_str("device did not complete reset"),
            InitError::NoVersion1 { offered } => write!(
                formatter,
                "device lacks VIRTIO_F_VERSION_1 (offered: {}); \
                 run QEMU with -global virtio-mmio.force-legacy=false",
                features::FeatureNames(*offered)
            ),
            InitError::FeaturesRefused { accepted } => write!(
                formatter,
                "device refused FEATURES_OK for: {}",
                features::FeatureNames(*accepted)
            ),
            InitError::QueueAlreadyInUse { queue } => {
                write!(formatter, "virtqueue {queue} already live")
            }
            InitError::QueueUnavailable { queue } => {
                write!(formatter, "virtqueue {queue} has size 0")
            }
        }
    }
}

/// Device protocol violations seen, by kind (each also counted as an rx/tx device error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceErrors {
    /// Used index moved further than the buffers in flight.
    pub used_index_jump: u64,
    /// Used id outside the queue.
    pub used_id_out_of_range: u64,
    /// Used id of a descriptor not in flight.
    pub used_id_not_posted: u64,
    /// Used length larger than the receive buffer.
    pub used_length_too_large: u64,
}

/// "used index jumps 0, used ids out of range 0, used ids not posted 0, used lengths too
/// large 0", or "none" when every count is 0.
impl fmt::Display for DeviceErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == DeviceErrors::default() {
            return formatter.write_str("none");
        }
        write!(
            formatter,
            "used index jumps {}, used ids out of range {}, used ids not posted {}, \
             used lengths too large {}",
            self.used_index_jump,
            self.used_id_out_of_range,
            self.used_id_not_posted,
            self.used_length_too_large
        )
    }
}

/// Where a pool buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BufferState {
    Free,
    RxPosted,
    RxHeld,
    TxReserved,
    TxInFlight,
}

/// The occupancy field counting buffers in `state`.
fn occupancy_count(occupancy: &mut PoolOccupancy, state: BufferState) -> &mut u32 {
    match state {
        BufferState::Free => &mut occupancy.free,
        BufferState::RxPosted => &mut occupancy.rx_posted,
        BufferState::RxHeld => &mut occupancy.rx_held,
        BufferState::TxReserved => &mut occupancy.tx_reserved,
        BufferState::TxInFlight => &mut occupancy.tx_in_flight,
    }
}

/// A virtio-net NIC over transport `T`.
pub struct VirtioNet<T: Transport> {
    transport: T,
    storage: &'static NetStorage,
    rx: VirtQueue<QUEUE_SIZE>,
    tx: VirtQueue<QUEUE_SIZE>,
    states: [BufferState; BUFFER_COUNT],
    lengths: [u16; BUFFER_COUNT],
    free: [u16; BUFFER_COUNT],
    free_count: usize,
    /// Buffers per state, kept current by `set_state`.
    occupancy: PoolOccupancy,
    /// TX buffers reserved by the caller: each holds a claim on a free TX descriptor.
    tx_reserved: usize,
    mac: MacAddress,
    link: LinkState,
    features: Negotiated,
    counters: Counters,
    errors: DeviceErrors,
    last_error: Option<QueueError>,
}

impl<T: Transport> VirtioNet<T> {
    /// Initialises the device (virtio 1.2 §3.1.1): reset, negotiate features, set up both
    /// queues over `storage`, read MAC and link, post receive buffers, DRIVER_OK.
    ///
    /// # Errors
    /// See [`InitError`]. On error the device is left reset (or FAILED) and `storage` released.
    pub fn new(mut transport: T, storage: &'static NetStorage) -> Result<Self, InitError> {
        let device_id = transport.device_id();
        if device_id != NET_DEVICE_ID {
            return Err(InitError::NotNetwork { device_id });
        }
        if storage
            .claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(InitError::StorageInUse);
        }
        match bring_up(&mut transport, &storage.rx, &storage.tx) {
            Ok((rx, tx, features)) => {
                let mut driver = Self {
                    transport,
                    storage,
                    rx,
                    tx,
                    states: [BufferState::Free; BUFFER_COUNT],
                    lengths: [0; BUFFER_COUNT],
                    free: [0; BUFFER_COUNT],
                    free_count: BUFFER_COUNT,
                    occupancy: PoolOccupancy {
                        total: BUFFER_COUNT as u32,
                        free: BUFFER_COUNT as u32,
                        ..PoolOccupancy::default()
                    },
                    tx_reserved: 0,
                    mac: FALLBACK_MAC,
                    link: LinkState::Up,
                    features,
                    counters: Counters::default(),
                    errors: DeviceErrors::default(),
                    last_error: None,
                };
                for (slot, entry) in driver.free.iter_mut().enumerate() {
                    *entry = (BUFFER_COUNT - 1 - slot) as u16;
                }
                if features.has(features::NET_F_MAC) {
                    driver.mac = driver.read_mac();
                }
                driver.link = driver.read_link();
                driver.post_rx_buffers();
                let status = driver.transport.status();
                driver.transport.set_status(status | status::DRIVER_OK);
                driver.notify_rx_if_needed();
                Ok(driver)
            }
            Err(error) => {
                storage.claimed.store(false, Ordering::Release);
                Err(error)
            }
        }
    }

    /// What the device offered and what was negotiated (format with
    /// [`features::FeatureNames`]).
    pub fn features(&self) -> Negotiated {
        self.features
    }

    /// The receive and transmit queue sizes in use.
    pub fn queue_sizes(&self) -> (u16, u16) {
        (self.rx.size(), self.tx.size())
    }

    /// Device protocol violations seen so far, by kind.
    pub fn device_errors(&self) -> DeviceErrors {
        self.errors
    }

    /// The most recent device protocol violation, for the log.
    pub fn last_error(&self) -> Option<QueueError> {
        self.last_error
    }

    /// The transport (e.g. to get an interrupt-acknowledge handle).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Before the poll loop sleeps: asks the device to interrupt at the next received frame,
    /// then looks at the ring again. True if a frame is already waiting (do not sleep on it).
    /// No register access: only ring memory.
    pub fn arm_receive_interrupt(&mut self) -> bool {
        self.rx.arm_used_interrupt()
    }

    /// The loop polls again: no receive interrupts (a store only if one was armed).
    pub fn suppress_receive_interrupt(&mut self) {
        self.rx.suppress_used_interrupts();
    }

    /// True if a received frame waits on the ring (one load of ring memory).
    pub fn receive_pending(&self) -> bool {
        self.rx.has_used()
    }

    /// Frames received plus frames transmitted: an O(1) activity probe for the poll loop (two
    /// loads, where `counters()` copies the whole counter block).
    pub fn activity(&self) -> u64 {
        self.counters.rx_packets + self.counters.tx_packets
    }

    /// Handles the device's config-change interrupt from the poll loop: acknowledges pending
    /// causes (harmless if the handler already did), re-reads the link and returns it. A change
    /// is counted in [`Counters::link_changes`].
    pub fn config_changed(&mut self) -> LinkState {
        let causes = self.transport.interrupt_status();
        if causes != 0 {
            self.transport.acknowledge_interrupt(causes);
        }
        let link = self.read_link();
        if link != self.link {
            self.counters.link_changes += 1;
            self.link = link;
        }
        link
    }

    /// Recovers the NIC (e.g. after a device protocol violation such as a used-index jump,
    /// which strands the buffers in flight): resets the device, takes back every buffer on both
    /// rings (`VirtQueue::drain_in_flight`), then brings it up again and reposts receive
    /// buffers. Buffers the caller holds (received or reserved) stay valid.
    ///
    /// # Errors
    /// The device did not reset (nothing is taken back: it may still write them) or refused
    /// bring-up; the NIC then stays stopped.
    pub fn reset(&mut self) -> Result<(), InitError> {
        reset(&mut self.transport)?;
        let mut returned: [u16; 2 * QUEUE_SIZE] = [0; 2 * QUEUE_SIZE];
        let mut count = 0;
        for queue in [&mut self.rx, &mut self.tx] {
            queue.drain_in_flight(|token| {
                // At most one token per descriptor of the two queues: always room.
                if let Some(slot) = returned.get_mut(count) {
                    *slot = token;
                    count += 1;
                }
            });
        }
        for &token in &returned[..count] {
            let index = usize::from(token);
            if matches!(
                self.states.get(index),
                Some(BufferState::RxPosted | BufferState::TxInFlight)
            ) {
                self.put_free(index);
            }
        }
        let (rx, tx, features) = bring_up(&mut self.transport, &self.storage.rx, &self.storage.tx)?;
        self.rx = rx;
        self.tx = tx;
        self.features = features;
        if features.has(features::NET_F_MAC) {
            self.mac = self.read_mac();
        }
        self.link = self.read_link();
        self.post_rx_buffers();
        let status = self.transport.status();
        self.transport.set_status(status | status::DRIVER_OK);
        self.notify_rx_if_needed();
        Ok(())
    }

    fn read_mac(&self) -> MacAddress {
        read_mac(&self.transport)
    }

    fn read_link(&self) -> LinkState {
        read_link(&self.transport, self.features)
    }

    fn buffer_address(&self, index: usize) -> u64 {
        self.storage.pool[index].0.get() as u64
    }

    /// The bytes of a buffer the driver or its caller owns (not posted to the device).
    fn owned_buffer(&self, index: usize) -> Option<&[u8; BUFFER_SIZE]> {
        match self.states.get(index)? {
            BufferState::RxHeld | BufferState::TxReserved | BufferState::Free => {
                // SAFETY: the buffer is not posted to the device (state checked), the storage is
                // claimed by this driver only, and a mutable reference needs `&mut self`.
                Some(unsafe { &*self.storage.pool[index].0.get() })
            }
            BufferState::RxPosted | BufferState::TxInFlight => None,
        }
    }

    /// The bytes of a buffer the driver or its caller owns, mutably.
    fn owned_buffer_mut(&mut self, index: usize) -> Option<&mut [u8; BUFFER_SIZE]> {
        match self.states.get(index)? {
            BufferState::RxHeld | BufferState::TxReserved | BufferState::Free => {
                // SAFETY: as in `owned_buffer`; `&mut self` makes this the only reference.
                Some(unsafe { &mut *self.storage.pool[index].0.get() })
            }
            BufferState::RxPosted | BufferState::TxInFlight => None,
        }
    }

    fn take_free(&mut self) -> Option<usize> {
        if self.free_count == 0 {
            return None;
        }
        self.free_count -= 1;
        Some(usize::from(self.free[self.free_count]))
    }

    fn put_free(&mut self, index: usize) {
        self.set_state(index, BufferState::Free);
        self.free[self.free_count] = index as u16;
        self.free_count += 1;
    }

    fn record_error(&mut self, error: QueueError) {
        self.last_error = Some(error);
        match error {
            QueueError::UsedIndexJump { .. } => self.errors.used_index_jump += 1,
            QueueError::UsedIdOutOfRange { .. } => self.errors.used_id_out_of_range += 1,
            QueueError::UsedIdNotPosted { .. } => self.errors.used_id_not_posted += 1,
            QueueError::UsedLengthTooLarge { .. } => self.errors.used_length_too_large += 1,
        }
    }

    /// Posts free buffers to the receive ring until it is full or the pool is empty.
    fn post_rx_buffers(&mut self) {
        while self.rx.free() > 0 {
            let Some(index) = self.take_free() else { break };
            let address = self.buffer_address(index);
            if self
                .rx
                .push(index as u16, address, BUFFER_SIZE as u32, true)
            {
                self.set_state(index, BufferState::RxPosted);
            } else {
                self.put_free(index);
                break;
            }
        }
    }

    fn notify_rx_if_needed(&mut self) {
        if self.rx.should_notify() {
            self.transport.notify(RX_QUEUE);
            self.counters.notifications += 1;
        }
    }

    /// Refills the receive ring once a batch of slots is empty, with one notification.
    fn refill_rx(&mut self) {
        let empty = usize::from(self.rx.free());
        if empty == 0 || (empty < RX_REFILL_BATCH && self.rx.in_flight() > 0) {
            return;
        }
        if self.free_count < empty {
            self.reclaim_tx();
        }
        self.post_rx_buffers();
        self.notify_rx_if_needed();
    }

    /// Takes back every buffer the device finished transmitting.
    fn reclaim_tx(&mut self) {
        while let Some(result) = self.tx.pop_used() {
            let token = match result {
                Ok(UsedBuffer { token, .. }) => token,
                Err(error) => {
                    self.record_error(error);
                    self.counters.tx_device_error += 1;
                    continue;
                }
            };
            let index = usize::from(token);
            if self.states.get(index) == Some(&BufferState::TxInFlight) {
                self.put_free(index);
            }
        }
    }

    fn tx_room(&self) -> bool {
        self.free_count > 0 && usize::from(self.tx.free()) > self.tx_reserved
    }

    fn tx_slot_room(&self) -> bool {
        usize::from(self.tx.free()) > self.tx_reserved
    }

    /// Moves a buffer to `state`, keeping the occupancy counts current (O(1): `counters()`
    /// never scans the pool).
    fn set_state(&mut self, index: usize, state: BufferState) {
        *occupancy_count(&mut self.occupancy, self.states[index]) -= 1;
        *occupancy_count(&mut self.occupancy, state) += 1;
        self.states[index] = state;
    }
}

/// Steps up to DRIVER_OK, leaving the device FAILED or reset on error.
pub(crate) fn bring_up<T: Transport, const SIZE: usize>(
    transport: &mut T,
    rx_memory: &'static QueueMemory<SIZE>,
    tx_memory: &'static QueueMemory<SIZE>,
) -> Result<(VirtQueue<SIZE>, VirtQueue<SIZE>, Negotiated), InitError> {
    reset(transport)?;
    transport.set_status(status::ACKNOWLEDGE);
    transport.set_status(status::ACKNOWLEDGE | status::DRIVER);
    let offered = transport.device_features();
    let fail = |transport: &mut T, error| {
        let status = transport.status();
        transport.set_status(status | status::FAILED);
        Err(error)
    };
    if offered & features::F_VERSION_1 == 0 {
        return fail(transport, InitError::NoVersion1 { offered });
    }
    let negotiated = Negotiated {
        offered,
        accepted: offered & features::NET_WANTED,
    };
    transport.set_driver_features(negotiated.accepted);
    let status = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    transport.set_status(status);
    if transport.status() & status::FEATURES_OK == 0 {
        return fail(
            transport,
            InitError::FeaturesRefused {
                accepted: negotiated.accepted,
            },
        );
    }
    let event_index = negotiated.has(features::F_EVENT_IDX);
    let mut queues = [None, None];
    for (queue, memory) in [(RX_QUEUE, rx_memory), (TX_QUEUE, tx_memory)] {
        if transport.queue_ready(queue) {
            return fail(transport, InitError::QueueAlreadyInUse { queue });
        }
        let maximum = transport.max_queue_size(queue);
        let Some(virtqueue) = VirtQueue::new(memory, maximum, event_index) else {
            return fail(transport, InitError::QueueUnavailable { queue });
        };
        let (descriptors, driver_area, device_area) = virtqueue.addresses();
        // SAFETY: the ring memory is `'static` (never moves or goes away), laid out and
        // aligned per §2.7 by `QueueMemory`, and claimed by the calling driver alone (its
        // storage's `claimed` flag); that driver resets the device before releasing it.
        unsafe {
            transport.setup_queue(
                queue,
                virtqueue.size(),
                descriptors,
                driver_area,
                device_area,
            );
        }
        queues[usize::from(queue)] = Some(virtqueue);
    }
    match queues {
        [Some(rx), Some(tx)] => Ok((rx, tx, negotiated)),
        // Both were filled above; kept total rather than unwrapped.
        _ => fail(transport, InitError::QueueUnavailable { queue: RX_QUEUE }),
    }
}

/// Reads the MAC from config space.
pub(crate) fn read_mac<T: Transport>(transport: &T) -> MacAddress {
    let mut mac = [0u8; 6];
    read_config_consistent(transport, |transport| {
        for (offset, byte) in mac.iter_mut().enumerate() {
            *byte = transport.read_config_u8(CONFIG_MAC + offset);
        }
    });
    MacAddress(mac)
}

/// Reads the link state from config space (up without `VIRTIO_NET_F_STATUS`).
pub(crate) fn read_link<T: Transport>(transport: &T, negotiated: Negotiated) -> LinkState {
    if !negotiated.has(features::NET_F_STATUS) {
        // §5.1.4.2: without VIRTIO_NET_F_STATUS the link is assumed up.
        return LinkState::Up;
    }
    let mut value = 0;
    read_config_consistent(transport, |transport| {
        value = transport.read_config_u16(CONFIG_STATUS)
    });
    if value & STATUS_LINK_UP != 0 {
        LinkState::Up
    } else {
        LinkState::Down
    }
}

/// Repeats `read` until the config generation is stable around it (§2.5.1), bounded.
fn read_config_consistent<T: Transport>(transport: &T, mut read: impl FnMut(&T)) {
    for _ in 0..DEVICE_POLL_LIMIT {
        let before = transport.config_generation();
        read(transport);
        if transport.config_generation() == before {
            return;
        }
    }
}

/// Resets the device and waits (bounded) for the status to read back 0 (§2.4.2).
pub(crate) fn reset<T: Transport>(transport: &mut T) -> Result<(), InitError> {
    transport.set_status(0);
    for _ in 0..DEVICE_POLL_LIMIT {
        if transport.status() == 0 {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(InitError::ResetTimeout)
}

impl<T: Transport> Drop for VirtioNet<T> {
    fn drop(&mut self) {
        // Stop the device's DMA into the storage before another driver may claim it. If the
        // reset does not complete, keep the storage claimed rather than risk a second owner.
        if reset(&mut self.transport).is_ok() {
            self.storage.claimed.store(false, Ordering::Release);
        }
    }
}

impl<T: Transport> NetDevice for VirtioNet<T> {
    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link_state(&self) -> LinkState {
        self.link
    }

    fn counters(&self) -> Counters {
        Counters {
            pool: self.occupancy,
            ..self.counters
        }
    }

    fn max_frame_len(&self) -> usize {
        MAX_FRAME_LEN
    }

    fn receive_burst(&mut self, frames: &mut [Option<RxBuffer>]) -> usize {
        let mut count = 0;
        while count < frames.len() {
            let Some(result) = self.rx.pop_used() else {
                break;
            };
            let UsedBuffer { token, length } = match result {
                Ok(used) => used,
                Err(error) => {
                    self.record_error(error);
                    self.counters.rx_drop_device_error += 1;
                    if let QueueError::UsedLengthTooLarge { token, .. } = error
                        && self.states.get(usize::from(token)) == Some(&BufferState::RxPosted)
                    {
                        self.put_free(usize::from(token));
                    }
                    continue;
                }
            };
            let index = usize::from(token);
            if self.states.get(index) != Some(&BufferState::RxPosted) {
                // Only tokens this driver posted reach here; kept total all the same.
                self.counters.rx_drop_device_error += 1;
                continue;
            }
            let frame_len = (length as usize).saturating_sub(NET_HEADER_LEN);
            if frame_len < ETHERNET_HEADER_LEN {
                self.counters.rx_drop_runt += 1;
                self.put_free(index);
            } else if frame_len > MAX_FRAME_LEN {
                self.counters.rx_drop_oversized += 1;
                self.put_free(index);
            } else {
                self.set_state(index, BufferState::RxHeld);
                self.lengths[index] = frame_len as u16;
                self.counters.rx_packets += 1;
                self.counters.rx_bytes += frame_len as u64;
                frames[count] = Some(RxBuffer::new(token, frame_len as u16));
                count += 1;
            }
        }
        self.refill_rx();
        count
    }

    fn rx_frame(&self, buffer: &RxBuffer) -> &[u8] {
        let index = usize::from(buffer.index());
        if self.states.get(index) != Some(&BufferState::RxHeld) {
            return &[];
        }
        let len = usize::from(self.lengths[index]);
        match self.owned_buffer(index) {
            Some(bytes) => &bytes[NET_HEADER_LEN..NET_HEADER_LEN + len],
            None => &[],
        }
    }

    fn release(&mut self, buffer: RxBuffer) {
        let index = usize::from(buffer.index());
        if self.states.get(index) == Some(&BufferState::RxHeld) {
            self.put_free(index);
        } else {
            self.counters.handle_misuse += 1;
        }
    }

    fn tx_capacity(&mut self) -> usize {
        self.reclaim_tx();
        self.free_count
            .min(usize::from(self.tx.free()).saturating_sub(self.tx_reserved))
    }

    fn tx_reserve(&mut self) -> Option<TxBuffer> {
        if !self.tx_room() {
            self.reclaim_tx();
        }
        if !self.tx_room() {
            self.counters.tx_drop_no_room += 1;
            return None;
        }
        let index = self.take_free()?;
        self.set_state(index, BufferState::TxReserved);
        self.tx_reserved += 1;
        Some(TxBuffer::new(index as u16))
    }

    fn tx_frame_mut(&mut self, buffer: &mut TxBuffer) -> &mut [u8] {
        let index = usize::from(buffer.index());
        if self.states.get(index) != Some(&BufferState::TxReserved) {
            self.counters.handle_misuse += 1;
            return &mut [];
        }
        match self.owned_buffer_mut(index) {
            Some(bytes) => &mut bytes[NET_HEADER_LEN..NET_HEADER_LEN + MAX_FRAME_LEN],
            None => &mut [],
        }
    }

    fn transmit(&mut self, buffer: TxBuffer, len: usize) -> Result<(), TxError> {
        let index = usize::from(buffer.index());
        let kind = if self.states.get(index) != Some(&BufferState::TxReserved) {
            self.counters.handle_misuse += 1;
            TxErrorKind::NotReserved
        } else if len > MAX_FRAME_LEN {
            self.counters.tx_drop_bad_length += 1;
            TxErrorKind::TooLong
        } else if len < ETHERNET_HEADER_LEN {
            self.counters.tx_drop_bad_length += 1;
            TxErrorKind::TooShort
        } else {
            if let Some(bytes) = self.owned_buffer_mut(index) {
                // No offloads negotiated: an all-zero header (§5.1.6.2).
                bytes[..NET_HEADER_LEN].fill(0);
            }
            let address = self.buffer_address(index);
            // Cannot fail: the reservation kept a descriptor free for this buffer.
            if self.tx.push(
                buffer.index(),
                address,
                (NET_HEADER_LEN + len) as u32,
                false,
            ) {
                self.set_state(index, BufferState::TxInFlight);
                self.tx_reserved -= 1;
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += len as u64;
                return Ok(());
            }
            TxErrorKind::NotReserved
        };
        Err(TxError { kind, buffer })
    }

    fn tx_discard(&mut self, buffer: TxBuffer) {
        let index = usize::from(buffer.index());
        if self.states.get(index) == Some(&BufferState::TxReserved) {
            self.tx_reserved -= 1;
            self.put_free(index);
        } else {
            self.counters.handle_misuse += 1;
        }
    }

    fn flush(&mut self) {
        if self.tx.should_notify() {
            self.transport.notify(TX_QUEUE);
            self.counters.notifications += 1;
        }
    }

    fn rx_into_tx(&mut self, buffer: RxBuffer) -> Result<TxBuffer, RxBuffer> {
        let index = usize::from(buffer.index());
        if self.states.get(index) != Some(&BufferState::RxHeld) {
            return Err(buffer);
        }
        if !self.tx_slot_room() {
            self.reclaim_tx();
            if !self.tx_slot_room() {
                self.counters.tx_drop_no_room += 1;
                return Err(buffer);
            }
        }
        self.set_state(index, BufferState::TxReserved);
        self.tx_reserved += 1;
        Ok(TxBuffer::new(buffer.index()))
    }
}
