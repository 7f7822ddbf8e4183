//! The virtio-net driver in pooled mode: data ports sharing a [`PacketPool`]
//!
//! Same device handling as [`VirtioNet`](crate::net::VirtioNet) (bring-up, features, link,
//! checks on every used entry), but the buffers come from a pool shared with other ports, so
//! a frame received on one port is transmitted on another without a copy:
//! - [`PooledVirtioNet::receive`] hands out [`PoolBuffer`]s (frame at [`POOL_HEADROOM`]) and
//!   refills the receive ring from the pool, within this port's RX reserve first;
//! - [`PooledVirtioNet::transmit_pooled`] posts a held buffer, received on any port of the
//!   same pool, on this port's TX ring as it is (the `virtio_net_hdr` is written in front of
//!   the frame's start); a refusal hands the buffer back;
//! - finished transmits go back to the pool (reclaimed lazily: on each receive, and when the
//!   ring runs short);
//! - [`PooledVirtioNet::reset`] and dropping the driver reset the device and return every
//!   buffer on its rings to the pool.
//!
//! It also implements [`NetDevice`] (index-only handles, frames at the headroom), so code
//! written for a NIC with its own pool runs on a pooled port; [`PooledVirtioNet::detach_rx`]
//! turns a buffer received that way into a movable [`PoolBuffer`].
//!
//! The queue rings live in a per-port [`QueueStorage`] (`static`, claimed for the driver's
//! life). Counters are O(1): [`PooledVirtioNet::activity`] reads two numbers, and
//! [`PooledVirtioNet::counters`] adds the pool's running occupancy without any scan.

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};

use netdev::pool::{HandleError, PoolPort, PortOccupancy, TxAdmitError};
use netdev::{
    Counters, ETHERNET_HEADER_LEN, LinkState, MacAddress, NetDevice, POOL_BUFFER_SIZE,
    POOL_HEADROOM, PoolBuffer, PoolId, RxBuffer, TxBuffer, TxError, TxErrorKind,
};

use crate::features::{self, Negotiated};
use crate::net::{
    DeviceErrors, InitError, MAX_FRAME_LEN, NET_DEVICE_ID, NET_HEADER_LEN, RX_QUEUE,
    RX_REFILL_BATCH, TX_QUEUE, bring_up, read_link, read_mac, reset,
};
use crate::pool::{POOL_BUFFERS, PacketPool};
use crate::queue::{Binding, QueueError, QueueMemory, UsedBuffer, VirtQueue};
use crate::transport::{Transport, status};

const _: () = assert!(NET_HEADER_LEN == 12, "the header is zeroed as 8 + 4 bytes");

/// Address used if the device has no `VIRTIO_NET_F_MAC` (locally administered).
const FALLBACK_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0, 0x01]);
/// Where the device writes a received buffer: the header, then the frame at the headroom.
const RX_OFFSET: usize = POOL_HEADROOM - NET_HEADER_LEN;
/// Receive buffers taken from the pool and posted per step of a refill (a pass refills about
/// a burst; the first fill takes a few steps).
const RX_REFILL_CHUNK: usize = 32;

/// Entries per virtqueue of a data port (receive and transmit); the device may ask for fewer
/// (the queue then runs at its `QueueNumMax`, rounded down to a power of two). QEMU's
/// virtio-net offers 256, and Linux posts the whole ring: under TCG a vCPU stall of a few ms at
/// 20-30 k frames/s overflows a shallower one, and that decides an RFC 2544 zero-loss result.
pub const PORT_QUEUE_SIZE: usize = 256;

/// The rings of one pooled port. Declare it `static`.
pub struct QueueStorage {
    claimed: AtomicBool,
    rx: QueueMemory<PORT_QUEUE_SIZE>,
    tx: QueueMemory<PORT_QUEUE_SIZE>,
}

impl Default for QueueStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueStorage {
    /// Bytes of static RAM per port.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// Zeroed rings (lands in `.bss`).
    pub const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            rx: QueueMemory::new(),
            tx: QueueMemory::new(),
        }
    }

    /// True while a driver owns these rings.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }
}

/// Why a pooled port could not be brought up or reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PooledInitError {
    /// The device or its rings refused (as for a NIC with its own pool).
    Device(InitError),
    /// The pool refused the port (no slot, or the reserve does not fit).
    Pool(netdev::pool::AttachError),
}

impl fmt::Display for PooledInitError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PooledInitError::Device(error) => error.fmt(formatter),
            PooledInitError::Pool(error) => write!(formatter, "packet pool: {error}"),
        }
    }
}

/// A virtio-net port over transport `T` whose buffers come from a shared [`PacketPool`].
pub struct PooledVirtioNet<T: Transport, const COUNT: usize = POOL_BUFFERS> {
    transport: T,
    queues: &'static QueueStorage,
    pool: &'static PacketPool<COUNT>,
    pool_id: PoolId,
    port: PoolPort,
    /// Receive buffers this port keeps posted (its reserve in the pool).
    rx_reserve: usize,
    rx: VirtQueue<PORT_QUEUE_SIZE>,
    tx: VirtQueue<PORT_QUEUE_SIZE>,
    mac: MacAddress,
    link: LinkState,
    features: Negotiated,
    counters: Counters,
    errors: DeviceErrors,
    last_error: Option<QueueError>,
    /// Buffers handed out through the [`NetDevice`] API, whose index-only handles cannot
    /// carry the [`PoolBuffer`]: kept here by buffer index until given back.
    parked: [Option<Parked>; COUNT],
    /// [`TxBuffer`]s reserved through [`NetDevice::tx_reserve`]: each holds a TX ring slot.
    tx_reserved: usize,
}

/// A buffer the caller holds through an index-only [`NetDevice`] handle.
enum Parked {
    Rx(PoolBuffer),
    Tx(PoolBuffer),
}

impl<T: Transport, const COUNT: usize> PooledVirtioNet<T, COUNT> {
    /// Brings the device up over `queues`, attaches it to `pool` with an RX reserve of
    /// `rx_reserve` buffers (at most the receive ring's size) and fills its receive ring up to
    /// that reserve.
    ///
    /// # Errors
    /// The device's [`InitError`], or the pool's refusal. Nothing stays claimed on error.
    pub fn new(
        mut transport: T,
        queues: &'static QueueStorage,
        pool: &'static PacketPool<COUNT>,
        rx_reserve: usize,
    ) -> Result<Self, PooledInitError> {
        let device_id = transport.device_id();
        if device_id != NET_DEVICE_ID {
            return Err(PooledInitError::Device(InitError::NotNetwork { device_id }));
        }
        if queues
            .claimed
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(PooledInitError::Device(InitError::StorageInUse));
        }
        let (rx, tx, features) = match bring_up(&mut transport, &queues.rx, &queues.tx) {
            Ok(queues) => queues,
            Err(error) => {
                queues.claimed.store(false, Ordering::Release);
                return Err(PooledInitError::Device(error));
            }
        };
        // The receive ring holds at most its reserve: no more than the ring can take.
        let reserve = rx_reserve.min(usize::from(rx.size()));
        let port = match pool.with_ledger(|ledger| ledger.attach(reserve)) {
            Ok(port) => port,
            Err(error) => {
                // Nothing was posted yet; stop the device before the rings are released.
                if reset(&mut transport).is_ok() {
                    queues.claimed.store(false, Ordering::Release);
                }
                return Err(PooledInitError::Pool(error));
            }
        };
        let mut driver = Self {
            transport,
            queues,
            pool,
            pool_id: pool.id(),
            port,
            rx_reserve: reserve,
            rx,
            tx,
            mac: FALLBACK_MAC,
            link: LinkState::Up,
            features,
            counters: Counters::default(),
            errors: DeviceErrors::default(),
            last_error: None,
            parked: [const { None }; COUNT],
            tx_reserved: 0,
        };
        driver.start();
        Ok(driver)
    }

    /// After bring-up: MAC, link, receive buffers, DRIVER_OK, the first kick.
    fn start(&mut self) {
        if self.features.has(features::NET_F_MAC) {
            self.mac = read_mac(&self.transport);
        }
        self.link = read_link(&self.transport, self.features);
        // Fresh queues, nothing in flight: every receive buffer is the same size from the same
        // offset, and every transmit is device-readable, so those parts are written once here.
        self.rx
            .bind_descriptors(Binding::Writable((POOL_BUFFER_SIZE - RX_OFFSET) as u32));
        self.tx.bind_descriptors(Binding::Readable);
        self.post_rx_buffers();
        let status = self.transport.status();
        self.transport.set_status(status | status::DRIVER_OK);
        self.notify_rx_if_needed();
    }

    /// The pool this port's buffers come from.
    pub fn pool_id(&self) -> PoolId {
        self.pool_id
    }

    /// True if buffers received here can be transmitted on `other` without a copy (and back).
    pub fn shares_pool_with<U: Transport>(&self, other: &PooledVirtioNet<U, COUNT>) -> bool {
        self.pool_id == other.pool_id
    }

    /// This port's slot in the pool.
    pub fn pool_port(&self) -> PoolPort {
        self.port
    }

    /// What this port has on its rings, and its RX reserve.
    pub fn port_occupancy(&self) -> PortOccupancy {
        self.pool.port_occupancy(self.port)
    }

    /// The NIC's MAC address.
    pub fn mac_address(&self) -> MacAddress {
        self.mac
    }

    /// The link state as of the last [`config_changed`](Self::config_changed).
    pub fn link_state(&self) -> LinkState {
        self.link
    }

    /// What the device offered and what was negotiated.
    pub fn features(&self) -> Negotiated {
        self.features
    }

    /// Device protocol violations seen so far, by kind.
    pub fn device_errors(&self) -> DeviceErrors {
        self.errors
    }

    /// The most recent device protocol violation.
    pub fn last_error(&self) -> Option<QueueError> {
        self.last_error
    }

    /// The transport (e.g. for an interrupt-acknowledge handle).
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Frames received plus frames transmitted: an O(1) activity probe for the poll loop.
    pub fn activity(&self) -> u64 {
        self.counters.rx_packets + self.counters.tx_packets
    }

    /// This port's counters, with the whole pool's occupancy (O(1), no scan).
    pub fn counters(&self) -> Counters {
        Counters {
            pool: self.pool.occupancy(),
            ..self.counters
        }
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

    /// Handles the config-change interrupt from the poll loop (see `VirtioNet::config_changed`).
    pub fn config_changed(&mut self) -> LinkState {
        let causes = self.transport.interrupt_status();
        if causes != 0 {
            self.transport.acknowledge_interrupt(causes);
        }
        let link = read_link(&self.transport, self.features);
        if link != self.link {
            self.counters.link_changes += 1;
            self.link = link;
        }
        link
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

    /// Posts pool buffers to the receive ring until it is full or the pool says no.
    fn post_rx_buffers(&mut self) {
        let port = self.port;
        let pool = self.pool;
        let rx = &mut self.rx;
        pool.with_ledger(|ledger| {
            // In batches: the ledger records a batch as posted (its counts once), then the
            // ring takes it (its indices once); both loops keep their state in registers.
            let mut batch = [0u16; RX_REFILL_CHUNK];
            loop {
                let room = usize::from(rx.free()).min(RX_REFILL_CHUNK);
                let taken = ledger.take_for_rx_batch(port, &mut batch[..room]);
                let Some(taken_buffers) = batch.get(..taken) else {
                    break;
                };
                // The descriptor's length and flags were fixed at start: only the address.
                let posted = rx.push_receive_batch(taken_buffers, |index| {
                    pool.address(index) + RX_OFFSET as u64
                });
                // Not reached (the batch fits the free slots), but never lost either.
                for index in taken_buffers.iter().skip(posted) {
                    ledger.ring_returned(port, *index);
                }
                if taken < RX_REFILL_CHUNK || posted < taken {
                    break;
                }
            }
        });
        // One index publish for the whole refill.
        self.rx.publish();
    }

    fn notify_rx_if_needed(&mut self) {
        if self.rx.should_notify() {
            self.transport.notify(RX_QUEUE);
            self.counters.notifications += 1;
        }
    }

    /// Refills the receive ring once a batch of its reserve is missing (or it ran dry), one
    /// kick.
    fn refill_rx(&mut self) {
        let posted = usize::from(self.rx.in_flight());
        let missing = self.rx_reserve.saturating_sub(posted);
        if missing == 0 || (missing < RX_REFILL_BATCH && posted > 0) {
            return;
        }
        self.post_rx_buffers();
        self.notify_rx_if_needed();
    }

    /// Returns every finished transmit's buffer to the pool; how many came back.
    pub fn reclaim_tx(&mut self) -> usize {
        if self.tx.in_flight() == 0 {
            return 0;
        }
        let port = self.port;
        let mut returned = 0;
        let mut errors = 0u64;
        let mut last = None;
        let tx = &mut self.tx;
        self.pool.with_ledger(|ledger| {
            // The in-flight counts change once, when `completions` goes.
            let mut completions = ledger.tx_completions(port);
            // In bursts: one read of the used index and one suppression step per burst.
            while tx.pop_used_burst(PORT_QUEUE_SIZE, |result| match result {
                Ok(UsedBuffer { token, .. }) => {
                    if completions.completed(token) {
                        returned += 1;
                    } else {
                        errors += 1;
                    }
                }
                Err(error) => {
                    errors += 1;
                    last = Some(error);
                }
            }) > 0
            {}
        });
        if let Some(error) = last {
            self.record_error(error);
        }
        self.counters.tx_device_error += errors;
        returned
    }

    /// Transmit ring slots neither used nor reserved through [`NetDevice::tx_reserve`].
    fn tx_slots(&self) -> usize {
        usize::from(self.tx.free()).saturating_sub(self.tx_reserved)
    }

    /// Takes a buffer received through [`NetDevice::receive_burst`] out of the driver as a
    /// [`PoolBuffer`], to forward it by move ([`transmit_pooled`](Self::transmit_pooled) on any
    /// port of the pool). Gives the handle back if it is not a received buffer of this port.
    ///
    /// # Errors
    /// Not a buffer this port handed out for receive: the handle comes back (counted).
    pub fn detach_rx(&mut self, buffer: RxBuffer) -> Result<PoolBuffer, RxBuffer> {
        let index = usize::from(buffer.index());
        match self.parked.get_mut(index).map(Option::take) {
            Some(Some(Parked::Rx(pooled))) => Ok(pooled),
            Some(other) => {
                self.parked[index] = other;
                self.counters.handle_misuse += 1;
                Err(buffer)
            }
            None => {
                self.counters.handle_misuse += 1;
                Err(buffer)
            }
        }
    }

    /// Receives up to `frames.len()` frames into `frames[0..n]`, returning `n`; each frame
    /// starts at [`PoolBuffer::start`] (= [`POOL_HEADROOM`]). Reclaims finished transmits,
    /// then refills the receive ring in a batch (one kick at most).
    pub fn receive(&mut self, frames: &mut [Option<PoolBuffer>]) -> usize {
        self.receive_burst_into(frames, None)
    }

    /// As [`receive`](Self::receive), and with entry `i` of `heads` the first 24 bytes of
    /// frame `i` as three native-endian words in memory order (what
    /// [`PacketPool::head_words`](crate::pool::PacketPool::head_words) reads), read under the
    /// same lock while each buffer is handed over: no second lock and no second look at each
    /// handle. Bytes past a frame's end are whatever the buffer holds there. Frames beyond
    /// `heads.len()` get no head.
    pub fn receive_with_heads(
        &mut self,
        frames: &mut [Option<PoolBuffer>],
        heads: &mut [[u64; 3]],
    ) -> usize {
        self.receive_burst_into(frames, Some(heads))
    }

    fn receive_burst_into(
        &mut self,
        frames: &mut [Option<PoolBuffer>],
        mut heads: Option<&mut [[u64; 3]]>,
    ) -> usize {
        const _: () =
            assert!(POOL_HEADROOM.is_multiple_of(8) && POOL_HEADROOM + 24 <= POOL_BUFFER_SIZE);
        let port = self.port;
        let pool = self.pool;
        let mut count = 0;
        let mut stats = ReceiveStats::default();
        let rx = &mut self.rx;
        self.pool.with_ledger(|ledger| {
            // Each buffer checked and moved as it comes; the counts change once, when `burst`
            // goes.
            let mut burst = ledger.rx_burst(port);
            // In bursts: one read of the used index and one suppression step per burst.
            while count < frames.len() {
                let taken = rx.pop_used_burst(frames.len() - count, |result| {
                    let UsedBuffer { token, length } = match result {
                        Ok(used) => used,
                        Err(error) => {
                            stats.device_errors += 1;
                            stats.last_error = Some(error);
                            if let QueueError::UsedLengthTooLarge { token, .. } = error {
                                burst.dropped(token);
                            }
                            return;
                        }
                    };
                    let frame_len = (length as usize).saturating_sub(NET_HEADER_LEN);
                    if frame_len < ETHERNET_HEADER_LEN {
                        stats.runts += 1;
                        burst.dropped(token);
                    } else if frame_len > MAX_FRAME_LEN {
                        stats.oversized += 1;
                        burst.dropped(token);
                    } else if let Some(slot) = frames.get_mut(count) {
                        match burst.received(token, POOL_HEADROOM, frame_len) {
                            Some(buffer) => {
                                if let Some(head) =
                                    heads.as_deref_mut().and_then(|heads| heads.get_mut(count))
                                {
                                    // SAFETY: the ledger lock is held (this closure) and
                                    // `received` just handed buffer `token` to us; the frame
                                    // starts at POOL_HEADROOM (8-aligned, 24 bytes fit:
                                    // checked at compile time above).
                                    *head = unsafe { pool.received_head(token, POOL_HEADROOM) };
                                }
                                stats.bytes += frame_len as u64;
                                *slot = Some(buffer);
                                count += 1;
                            }
                            // Only tokens this port posted reach here; kept total all the same.
                            None => stats.device_errors += 1,
                        }
                    } else {
                        // Not reached: at most the free slots are taken. Never lost all the same.
                        burst.dropped(token);
                    }
                });
                if taken == 0 {
                    break;
                }
            }
        });
        if let Some(error) = stats.last_error {
            self.record_error(error);
        }
        // Every frame handed out was counted in `count`.
        self.counters.rx_packets += count as u64;
        self.counters.rx_bytes += stats.bytes;
        self.counters.rx_drop_runt += stats.runts;
        self.counters.rx_drop_oversized += stats.oversized;
        self.counters.rx_drop_device_error += stats.device_errors;
        self.reclaim_tx();
        self.refill_rx();
        count
    }

    /// Posts a held buffer (received on any port of the same pool) on this port's TX ring
    /// without copying: the frame is `buffer[start..start + len]`, and the `virtio_net_hdr`
    /// is written in the `NET_HEADER_LEN` bytes before `start`. No notification (`flush`).
    ///
    /// # Errors
    /// The buffer comes back with the reason: a length out of range, a placement without room
    /// for the header, a wrong-pool or stale handle (counted as handle misuse), no ring slot,
    /// or a pool that needs its free buffers for the RX reserves (both counted as no room).
    pub fn transmit_pooled(
        &mut self,
        buffer: PoolBuffer,
        start: usize,
        len: usize,
    ) -> Result<(), TxError<PoolBuffer>> {
        let refuse = |kind, buffer| Err(TxError { kind, buffer });
        if len > MAX_FRAME_LEN {
            self.counters.tx_drop_bad_length += 1;
            return refuse(TxErrorKind::TooLong, buffer);
        }
        if len < ETHERNET_HEADER_LEN {
            self.counters.tx_drop_bad_length += 1;
            return refuse(TxErrorKind::TooShort, buffer);
        }
        if start < NET_HEADER_LEN || start.saturating_add(len) > POOL_BUFFER_SIZE {
            self.counters.tx_drop_bad_length += 1;
            return refuse(TxErrorKind::BadPlacement, buffer);
        }
        if self.tx_slots() == 0 {
            self.reclaim_tx();
            if self.tx_slots() == 0 {
                self.counters.tx_drop_no_room += 1;
                return refuse(TxErrorKind::NoRoom, buffer);
            }
        }
        let port = self.port;
        let pool = self.pool;
        let tx = &mut self.tx;
        let outcome = pool.with_ledger(|ledger| {
            ledger.tx_post(port, buffer, |slot| {
                let index = slot as u16;
                let header = pool.address(index) + (start - NET_HEADER_LEN) as u64;
                // SAFETY: the handle is the current one for a held buffer (checked under the
                // lock just now) and is consumed once this returns true, so neither the caller
                // nor a device touches the cell; the header bytes lie inside it
                // (`start >= NET_HEADER_LEN`, checked above).
                unsafe { zero_net_header(header as *mut u8) };
                // No offloads negotiated: an all-zero header (§5.1.6.2).
                tx.push_transmit_unpublished(index, header, (NET_HEADER_LEN + len) as u32)
            })
        });
        if outcome.is_ok() {
            self.tx.publish();
        }
        match outcome {
            Ok(()) => {
                self.counters.tx_packets += 1;
                self.counters.tx_bytes += len as u64;
                Ok(())
            }
            Err((error, buffer)) => {
                let kind = match error {
                    TxAdmitError::Handle(HandleError::WrongPool) | TxAdmitError::NotAttached => {
                        self.counters.handle_misuse += 1;
                        TxErrorKind::WrongPool
                    }
                    TxAdmitError::Handle(HandleError::Stale) => {
                        self.counters.handle_misuse += 1;
                        TxErrorKind::StaleHandle
                    }
                    TxAdmitError::Reserve => {
                        self.counters.tx_drop_no_room += 1;
                        TxErrorKind::NoRoom
                    }
                };
                refuse(kind, buffer)
            }
        }
    }

    /// Posts a burst of held buffers (received on any port of the same pool) on this port's TX
    /// ring without copying, as [`transmit_pooled`](Self::transmit_pooled) does one, but with
    /// one pool lock, one ring-room check and one index publish for the whole burst. Each
    /// frame is `buffer[start..start + len]` of its own handle ([`PoolBuffer::set_frame`]).
    /// Posted entries of `frames` become `None`; a refused buffer stays where it was, for the
    /// caller to release or retry, and the refusals are counted by kind (here and in the
    /// returned [`TxBurst`]). No notification (`flush`).
    pub fn transmit_burst(&mut self, frames: &mut [Option<PoolBuffer>]) -> TxBurst {
        let mut burst = TxBurst::default();
        // At most this many to post (empty slots are skipped below): enough to decide whether
        // to reclaim first, without a pass over the slots.
        let wanted = frames.len();
        if wanted == 0 {
            return burst;
        }
        if self.tx_slots() < wanted {
            self.reclaim_tx();
        }
        let mut slots = self.tx_slots();
        let mut bytes = 0u64;
        let port = self.port;
        let pool = self.pool;
        let tx = &mut self.tx;
        pool.with_ledger(|ledger| {
            // The port and the reserve rule looked at once; the counts change once, when
            // `posting` goes.
            let mut posting = ledger.tx_burst(port);
            for entry in frames.iter_mut() {
                let Some(buffer) = entry.take() else {
                    continue;
                };
                let (start, len) = (buffer.start(), buffer.len());
                if !(ETHERNET_HEADER_LEN..=MAX_FRAME_LEN).contains(&len)
                    || start < NET_HEADER_LEN
                    || start.saturating_add(len) > POOL_BUFFER_SIZE
                {
                    burst.bad_length += 1;
                    *entry = Some(buffer);
                    continue;
                }
                if slots == 0 {
                    burst.no_room += 1;
                    *entry = Some(buffer);
                    continue;
                }
                // One look at the handle for the check and the move onto the ring.
                let posted = posting.post(buffer, |slot| {
                    let index = slot as u16;
                    let header = pool.address(index) + (start - NET_HEADER_LEN) as u64;
                    // SAFETY: as in `transmit_pooled`: the handle is the current one for a
                    // held buffer (checked under the lock just now) and is consumed once this
                    // returns true, so neither the caller nor a device touches the cell; the
                    // header bytes lie inside it (`start >= NET_HEADER_LEN`, checked above).
                    unsafe { zero_net_header(header as *mut u8) };
                    tx.push_transmit_unpublished(index, header, (NET_HEADER_LEN + len) as u32)
                });
                if let Err((error, buffer)) = posted {
                    match error {
                        TxAdmitError::Reserve => burst.no_room += 1,
                        _ => burst.bad_handle += 1,
                    }
                    *entry = Some(buffer);
                    continue;
                }
                slots -= 1;
                burst.posted += 1;
                bytes += len as u64;
            }
        });
        if burst.posted > 0 {
            self.tx.publish();
        }
        self.counters.tx_packets += burst.posted as u64;
        self.counters.tx_bytes += bytes;
        self.counters.tx_drop_bad_length += burst.bad_length as u64;
        self.counters.tx_drop_no_room += burst.no_room as u64;
        self.counters.handle_misuse += burst.bad_handle as u64;
        burst
    }

    /// Notifies the device of everything queued since the last flush, if it asked to be told.
    pub fn flush(&mut self) {
        if self.tx.should_notify() {
            self.transport.notify(TX_QUEUE);
            self.counters.notifications += 1;
        }
    }

    /// Resets the device and returns every buffer on both rings to the pool; `false` if the
    /// device did not confirm the reset (then nothing is returned: it may still write them).
    fn stop(&mut self) -> bool {
        if reset(&mut self.transport).is_err() {
            return false;
        }
        let port = self.port;
        let (rx, tx) = (&mut self.rx, &mut self.tx);
        self.pool.with_ledger(|ledger| {
            for queue in [rx, tx] {
                queue.drain_in_flight(|token| {
                    ledger.reset_returned(port, token);
                });
            }
        });
        true
    }

    /// Recovers the port (e.g. after a device error): resets the device, returns every buffer
    /// on its rings to the pool, then brings it up again and reposts receive buffers. Buffers
    /// the caller holds stay valid.
    ///
    /// # Errors
    /// The device did not reset or refused bring-up; the port then stays stopped.
    pub fn reset(&mut self) -> Result<(), InitError> {
        if !self.stop() {
            return Err(InitError::ResetTimeout);
        }
        let (rx, tx, features) = bring_up(&mut self.transport, &self.queues.rx, &self.queues.tx)?;
        self.rx = rx;
        self.tx = tx;
        self.features = features;
        self.start();
        Ok(())
    }
}

/// Zeroes the 12-byte `virtio_net_hdr` at `header` (no offloads negotiated: §5.1.6.2) with
/// aligned stores where its address allows (a received frame's header is 4-byte aligned, 8 after
/// a tag push): unaligned stores are byte stores on a target that forbids unaligned accesses.
///
/// # Safety
/// `header..header + NET_HEADER_LEN` must be writable memory that nothing else references.
unsafe fn zero_net_header(header: *mut u8) {
    // SAFETY: the caller gives 12 writable bytes at `header`; each store stays inside them and
    // is aligned for its width where the aligned form is used.
    unsafe {
        match header as usize % 8 {
            0 => {
                header.cast::<u64>().write(0);
                header.add(8).cast::<u32>().write(0);
            }
            4 => {
                header.cast::<u32>().write(0);
                header.add(4).cast::<u64>().write(0);
            }
            _ => {
                header.cast::<u64>().write_unaligned(0);
                header.add(8).cast::<u32>().write_unaligned(0);
            }
        }
    }
}

/// What one [`PooledVirtioNet::transmit_burst`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxBurst {
    /// Buffers posted on the transmit ring (the driver owns them now).
    pub posted: usize,
    /// Refused: no ring slot, or the pool needs its free buffers for the RX reserves.
    pub no_room: usize,
    /// Refused: the frame's length or placement is out of range.
    pub bad_length: usize,
    /// Refused: a handle of another pool, or a stale one.
    pub bad_handle: usize,
}

/// What one receive burst saw, applied to the counters after the pool lock is dropped.
#[derive(Default)]
struct ReceiveStats {
    bytes: u64,
    runts: u64,
    oversized: u64,
    device_errors: u64,
    last_error: Option<QueueError>,
}

impl<T: Transport, const COUNT: usize> Drop for PooledVirtioNet<T, COUNT> {
    fn drop(&mut self) {
        // Buffers the caller still holds through index-only handles go back to the pool (those
        // handles die with the driver).
        for slot in &mut self.parked {
            if let Some(Parked::Rx(buffer) | Parked::Tx(buffer)) = slot.take() {
                let _ = self.pool.release(buffer);
            }
        }
        // Stop the device's DMA before its buffers and rings can be reused. If the reset does
        // not complete, keep the rings claimed and the buffers recorded as posted.
        if self.stop() {
            let port = self.port;
            self.pool.with_ledger(|ledger| ledger.detach(port));
            self.queues.claimed.store(false, Ordering::Release);
        }
    }
}

/// The index-only [`NetDevice`] API over the shared pool, so code written for a NIC with its
/// own pool (copy forwarding, the management adapter) runs on a pooled port unchanged. Frames
/// start at [`POOL_HEADROOM`]. One difference: [`NetDevice::transmit`] may also refuse with
/// [`TxErrorKind::NoRoom`] when the pool needs its free buffers for the RX reserves.
impl<T: Transport, const COUNT: usize> NetDevice for PooledVirtioNet<T, COUNT> {
    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link_state(&self) -> LinkState {
        self.link
    }

    fn counters(&self) -> Counters {
        PooledVirtioNet::counters(self)
    }

    fn max_frame_len(&self) -> usize {
        MAX_FRAME_LEN
    }

    fn receive_burst(&mut self, frames: &mut [Option<RxBuffer>]) -> usize {
        let mut count = 0;
        while count < frames.len() {
            let mut burst: [Option<PoolBuffer>; 32] = [const { None }; 32];
            let want = (frames.len() - count).min(burst.len());
            let received = self.receive(&mut burst[..want]);
            for slot in burst.iter_mut().take(received) {
                let Some(buffer) = slot.take() else { continue };
                let index = usize::from(buffer.index());
                let len = buffer.len() as u16;
                match self.parked.get_mut(index) {
                    Some(parked @ None) => {
                        *parked = Some(Parked::Rx(buffer));
                        frames[count] = Some(RxBuffer::new(index as u16, len));
                        count += 1;
                    }
                    // A held buffer is never issued twice; kept total all the same.
                    _ => {
                        let _ = self.pool.release(buffer);
                        self.counters.rx_drop_device_error += 1;
                    }
                }
            }
            if received < want {
                break;
            }
        }
        count
    }

    fn rx_frame(&self, buffer: &RxBuffer) -> &[u8] {
        match self.parked.get(usize::from(buffer.index())) {
            Some(Some(Parked::Rx(pooled))) => self.pool.frame(pooled),
            _ => &[],
        }
    }

    fn release(&mut self, buffer: RxBuffer) {
        match self.detach_rx(buffer) {
            Ok(pooled) => {
                let _ = self.pool.release(pooled);
            }
            Err(_refused) => {}
        }
    }

    fn tx_capacity(&mut self) -> usize {
        self.reclaim_tx();
        self.tx_slots().min(self.pool.spare())
    }

    fn tx_reserve(&mut self) -> Option<TxBuffer> {
        if self.tx_slots() == 0 {
            self.reclaim_tx();
        }
        if self.tx_slots() == 0 {
            self.counters.tx_drop_no_room += 1;
            return None;
        }
        let Some(buffer) = self.pool.allocate(POOL_HEADROOM) else {
            self.counters.tx_drop_no_room += 1;
            return None;
        };
        let index = usize::from(buffer.index());
        match self.parked.get_mut(index) {
            Some(parked @ None) => {
                *parked = Some(Parked::Tx(buffer));
                self.tx_reserved += 1;
                Some(TxBuffer::new(index as u16))
            }
            _ => {
                let _ = self.pool.release(buffer);
                self.counters.tx_drop_no_room += 1;
                None
            }
        }
    }

    fn tx_frame_mut(&mut self, buffer: &mut TxBuffer) -> &mut [u8] {
        let pool = self.pool;
        match self.parked.get_mut(usize::from(buffer.index())) {
            Some(Some(Parked::Tx(pooled))) => pool
                .buffer_mut(pooled)
                .get_mut(POOL_HEADROOM..POOL_HEADROOM + MAX_FRAME_LEN)
                .unwrap_or(&mut []),
            _ => {
                self.counters.handle_misuse += 1;
                &mut []
            }
        }
    }

    fn transmit(&mut self, buffer: TxBuffer, len: usize) -> Result<(), TxError> {
        let index = usize::from(buffer.index());
        if !matches!(self.parked.get(index), Some(Some(Parked::Tx(_)))) {
            self.counters.handle_misuse += 1;
            return Err(TxError {
                kind: TxErrorKind::NotReserved,
                buffer,
            });
        }
        let kind = if len > MAX_FRAME_LEN {
            TxErrorKind::TooLong
        } else if len < ETHERNET_HEADER_LEN {
            TxErrorKind::TooShort
        } else {
            let Some(Parked::Tx(pooled)) = self.parked[index].take() else {
                return Err(TxError {
                    kind: TxErrorKind::NotReserved,
                    buffer,
                });
            };
            // The reservation's ring slot now goes to this transmit.
            self.tx_reserved -= 1;
            match self.transmit_pooled(pooled, POOL_HEADROOM, len) {
                Ok(()) => return Ok(()),
                Err(error) => {
                    self.parked[index] = Some(Parked::Tx(error.buffer));
                    self.tx_reserved += 1;
                    return Err(TxError {
                        kind: error.kind,
                        buffer,
                    });
                }
            }
        };
        self.counters.tx_drop_bad_length += 1;
        Err(TxError { kind, buffer })
    }

    fn tx_discard(&mut self, buffer: TxBuffer) {
        let index = usize::from(buffer.index());
        match self.parked.get_mut(index).map(Option::take) {
            Some(Some(Parked::Tx(pooled))) => {
                self.tx_reserved -= 1;
                let _ = self.pool.release(pooled);
            }
            Some(other) => {
                self.parked[index] = other;
                self.counters.handle_misuse += 1;
            }
            None => self.counters.handle_misuse += 1,
        }
    }

    fn flush(&mut self) {
        PooledVirtioNet::flush(self);
    }

    fn pool_id(&self) -> Option<PoolId> {
        Some(self.pool_id)
    }

    fn rx_into_tx(&mut self, buffer: RxBuffer) -> Result<TxBuffer, RxBuffer> {
        let index = usize::from(buffer.index());
        if !matches!(self.parked.get(index), Some(Some(Parked::Rx(_)))) {
            return Err(buffer);
        }
        if self.tx_slots() == 0 {
            self.reclaim_tx();
            if self.tx_slots() == 0 {
                self.counters.tx_drop_no_room += 1;
                return Err(buffer);
            }
        }
        if let Some(Parked::Rx(pooled)) = self.parked[index].take() {
            self.parked[index] = Some(Parked::Tx(pooled));
        }
        self.tx_reserved += 1;
        Ok(TxBuffer::new(buffer.index()))
    }
}
