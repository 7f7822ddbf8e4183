//! Boundary trait every NIC driver implements: burst rx/tx, pools, link, MAC
//!
//! Two ways to own packet buffers, side by side:
//!
//! **A NIC's own pool ([`NetDevice`]).** Receiving hands the caller an [`RxBuffer`] handle to a
//! pool buffer that holds one frame; the caller reads it with [`NetDevice::rx_frame`] and gives
//! it back with [`NetDevice::release`]. Transmitting starts with [`NetDevice::tx_reserve`],
//! which issues a [`TxBuffer`] only when both a pool buffer and a TX ring slot are free, so
//! [`NetDevice::transmit`] can only fail for a bad length, and then hands the buffer back.
//! Neither call notifies the device: [`NetDevice::flush`] does, once per burst. TX completions
//! are reclaimed lazily, when the driver runs short. These handles carry only an index: a
//! driver checks each against its own records, so a forged or foreign one is refused and
//! counted in [`Counters::handle_misuse`] unless it happens to name a buffer in the right
//! state. Forwarding between two such NICs copies the frame ([`forward_by_copy`]);
//! [`NetDevice::rx_into_tx`] is the same-NIC hairpin without a copy.
//!
//! **A pool shared by several ports ([`pool`]).** This is the zero-copy path; the contract:
//! - *Ownership.* Every buffer is in exactly one place: free in the pool, posted to one port's
//!   receive ring, held by the caller through one [`PoolBuffer`], or in flight on one port's
//!   transmit ring. A `PoolBuffer` is not `Clone` and only the pool makes one; the caller gives
//!   it back exactly once, by releasing it to the pool or by transmitting it on *any* port of
//!   the same pool (the frame received on port A is posted on port B's TX ring as it is).
//! - *Handles know their pool.* A handle carries pool id, index and the generation it was
//!   issued with (bumped on every issue). A handle from another pool or a stale one (its
//!   buffer was released or re-issued since) is refused, counted in
//!   [`PoolCounters`](pool::PoolCounters), and never used to touch a buffer.
//! - *Headroom.* Buffers are [`POOL_BUFFER_SIZE`] bytes; a received frame starts at
//!   [`POOL_HEADROOM`] (at least 128 bytes). A driver's own per-frame header (virtio-net's 12
//!   bytes) sits in the headroom just before the frame, so a frame may be edited in place,
//!   moving its start (a VLAN push moves it 4 bytes toward the front), and transmitted with
//!   its new `start` and length. Only a header growing past the headroom, or a frame sent to
//!   several ports (flood, mirror), needs a copy (the pool allocates one).
//! - *RX reserve.* Each port attaches with a receive reserve. A refill within a port's reserve
//!   may take any free buffer; a refill beyond it, an allocation for a copy and a transmit are
//!   allowed only while the free buffers cover what all reserves miss. So a congested egress
//!   port whose TX ring never drains parks only surplus buffers, and whenever the caller holds
//!   nothing every port's receive ring can be refilled to its reserve. A refused transmit
//!   hands the buffer back to the caller (who drops or retries it).
//! - *Completion.* A finished transmit returns its buffer to the *pool*, whichever port
//!   received it; completions are reclaimed lazily by the transmitting port.
//! - *Reset.* Resetting or dropping a port returns every buffer posted to its rings to the
//!   pool; held buffers stay with the caller and remain valid (dropping a port also returns
//!   the buffers it lent through index-only handles, which die with it).
//! - *Capability.* Two ports can move buffers between them only if they share a pool; the
//!   driver says which pool it uses ([`NetDevice::pool_id`], [`shares_pool`]), so a switch
//!   picks move or copy.
//! - *Cost.* Every pool operation and every counter read is O(1); nothing scans the pool.
//!
//! [`fake::FakeNic`] is an in-memory NIC for host tests of the layers above.

#![no_std]
#![forbid(unsafe_code)]

pub mod fake;
pub mod pool;

pub use pool::{PoolBuffer, PoolId};

use core::fmt;

/// Length of an Ethernet header (destination, source, EtherType): the shortest frame accepted.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Bytes per buffer of a shared pool.
pub const POOL_BUFFER_SIZE: usize = 2048;
/// Where a received frame starts in a shared-pool buffer: room for the driver's header and for
/// headers the forwarding path pushes in place (802.1Q now, an overlay header later).
pub const POOL_HEADROOM: usize = 128;

/// A 48-bit IEEE 802 MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: Self = Self([0xff; 6]);

    /// True for a group (multicast or broadcast) address: the I/G bit of the first octet.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// True for a locally administered address: the U/L bit of the first octet.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, f] = self.0;
        write!(formatter, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
    }
}

/// Carrier state of a NIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// The link is up: frames can be sent and received.
    Up,
    /// The link is down: the device drops what is sent.
    Down,
}

impl fmt::Display for LinkState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            LinkState::Up => "up",
            LinkState::Down => "down",
        })
    }
}

/// Handle to a pool buffer holding one received frame.
///
/// Not `Clone`: give it back exactly once with [`NetDevice::release`] (or turn it into a
/// [`TxBuffer`] with [`NetDevice::rx_into_tx`]). Dropping it leaks the buffer from the pool until
/// the NIC is reset, which shows in [`PoolOccupancy::rx_held`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a received buffer must be released back to its NIC"]
pub struct RxBuffer {
    index: u16,
    len: u16,
}

impl RxBuffer {
    /// Makes a handle; for drivers only (a driver checks every handle it gets back).
    pub const fn new(index: u16, len: u16) -> Self {
        Self { index, len }
    }

    /// Index of the buffer in its NIC's pool.
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// Length of the frame in bytes (Ethernet header onwards, no FCS).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True if the frame is empty (a driver never delivers one).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Handle to a pool buffer reserved for one frame to transmit, with a TX ring slot behind it.
///
/// Not `Clone`: give it back exactly once, through [`NetDevice::transmit`] or
/// [`NetDevice::tx_discard`].
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a reserved transmit buffer must be transmitted or discarded"]
pub struct TxBuffer {
    index: u16,
}

impl TxBuffer {
    /// Makes a handle; for drivers only (a driver checks every handle it gets back).
    pub const fn new(index: u16) -> Self {
        Self { index }
    }

    /// Index of the buffer in its NIC's pool.
    pub const fn index(&self) -> u16 {
        self.index
    }
}

/// Why a transmit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxErrorKind {
    /// The length exceeds [`NetDevice::max_frame_len`].
    TooLong,
    /// The length is below [`ETHERNET_HEADER_LEN`].
    TooShort,
    /// The handle does not name a buffer this NIC reserved for transmit.
    NotReserved,
    /// The handle belongs to another pool (or the port to none): refused, counted.
    WrongPool,
    /// The handle is stale (its buffer was released or re-issued since): refused, counted.
    StaleHandle,
    /// No transmit ring slot free, or the pool needs its free buffers for the RX reserves.
    NoRoom,
    /// The frame's `start` leaves no room for the driver's header, or runs past the buffer.
    BadPlacement,
}

impl fmt::Display for TxErrorKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TxErrorKind::TooLong => "frame longer than the NIC's maximum",
            TxErrorKind::TooShort => "frame shorter than an Ethernet header",
            TxErrorKind::NotReserved => "buffer handle not reserved on this NIC",
            TxErrorKind::WrongPool => "buffer handle from another pool",
            TxErrorKind::StaleHandle => "stale buffer handle",
            TxErrorKind::NoRoom => "no transmit room (ring full or pool reserved)",
            TxErrorKind::BadPlacement => "frame placement leaves no room for the header",
        })
    }
}

/// A refused transmit: the reason, and the buffer handed back to the caller ([`TxBuffer`] for
/// a NIC's own pool, [`PoolBuffer`] for a shared pool).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "the buffer inside must be retried or discarded"]
pub struct TxError<B = TxBuffer> {
    /// Why the frame was not queued.
    pub kind: TxErrorKind,
    /// The buffer, still the caller's.
    pub buffer: B,
}

impl<B> fmt::Display for TxError<B> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "transmit refused: {}", self.kind)
    }
}

/// Where the buffers of a NIC's pool are right now. The fields add up to `total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolOccupancy {
    /// Buffers in the pool.
    pub total: u32,
    /// Buffers free in the driver.
    pub free: u32,
    /// Buffers posted to the device for receive.
    pub rx_posted: u32,
    /// Received buffers held by the caller (not yet released).
    pub rx_held: u32,
    /// Transmit buffers reserved by the caller (not yet transmitted or discarded).
    pub tx_reserved: u32,
    /// Buffers handed to the device for transmit and not yet reclaimed.
    pub tx_in_flight: u32,
}

impl PoolOccupancy {
    /// Sum of all states; equals `total` for a consistent pool.
    pub const fn accounted(&self) -> u32 {
        self.free + self.rx_posted + self.rx_held + self.tx_reserved + self.tx_in_flight
    }
}

/// Per-NIC counters. Byte counts are frame bytes (Ethernet header onwards, no FCS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames delivered to the caller.
    pub rx_packets: u64,
    /// Bytes delivered to the caller.
    pub rx_bytes: u64,
    /// Frames handed to the device for transmit.
    pub tx_packets: u64,
    /// Bytes handed to the device for transmit.
    pub tx_bytes: u64,
    /// Received frames dropped: longer than the NIC's maximum frame.
    pub rx_drop_oversized: u64,
    /// Received frames dropped: shorter than an Ethernet header.
    pub rx_drop_runt: u64,
    /// Received frames dropped: the device reported a bad completion (see the driver's errors).
    pub rx_drop_device_error: u64,
    /// Transmits refused for a bad length (the buffer went back to the caller).
    pub tx_drop_bad_length: u64,
    /// `tx_reserve` calls that found no free buffer or ring slot.
    pub tx_drop_no_room: u64,
    /// Transmit completions the device reported wrongly (ignored).
    pub tx_device_error: u64,
    /// Handles given back that this NIC did not issue in that state (refused).
    pub handle_misuse: u64,
    /// Notifications (doorbell writes) sent to the device.
    pub notifications: u64,
    /// Link state changes observed.
    pub link_changes: u64,
    /// Pool occupancy at the time of the snapshot.
    pub pool: PoolOccupancy,
}

/// The boundary every NIC driver implements. See the crate documentation for the buffer rules.
pub trait NetDevice {
    /// The NIC's MAC address.
    fn mac_address(&self) -> MacAddress;

    /// The current link state (as of the last config-change handling).
    fn link_state(&self) -> LinkState;

    /// A snapshot of the counters, with the current pool occupancy.
    fn counters(&self) -> Counters;

    /// Largest frame this NIC receives or transmits (Ethernet header onwards, no FCS).
    fn max_frame_len(&self) -> usize;

    /// Receives up to `frames.len()` frames, storing handles in `frames[0..n]` and returning `n`.
    ///
    /// Slots past `n` are left untouched. Refills the device's receive ring in a batch and
    /// notifies the device at most once.
    fn receive_burst(&mut self, frames: &mut [Option<RxBuffer>]) -> usize;

    /// The frame held by a received buffer (empty if the handle is not one this NIC issued).
    fn rx_frame(&self, buffer: &RxBuffer) -> &[u8];

    /// Gives a received buffer back to the pool.
    fn release(&mut self, buffer: RxBuffer);

    /// How many [`TxBuffer`]s [`tx_reserve`](Self::tx_reserve) could issue now; reclaims
    /// completed transmits first (call it once per burst, not per frame).
    fn tx_capacity(&mut self) -> usize;

    /// Reserves a pool buffer and a TX ring slot; `None` (counted) if either is exhausted.
    fn tx_reserve(&mut self) -> Option<TxBuffer>;

    /// The whole frame area of a reserved buffer, [`max_frame_len`](Self::max_frame_len) long.
    fn tx_frame_mut(&mut self, buffer: &mut TxBuffer) -> &mut [u8];

    /// Queues the first `len` bytes of the buffer's frame area for transmit (no notification).
    ///
    /// # Errors
    /// A length out of range or a foreign handle: the buffer comes back inside the error.
    fn transmit(&mut self, buffer: TxBuffer, len: usize) -> Result<(), TxError>;

    /// Gives an unused reserved buffer (and its ring slot) back.
    fn tx_discard(&mut self, buffer: TxBuffer);

    /// Notifies the device of everything queued since the last flush, if it asked to be told.
    fn flush(&mut self);

    /// Turns a received buffer into a transmit buffer of the same NIC without copying; the frame
    /// stays in place and its length is [`RxBuffer::len`]. Gives the buffer back as `Err` if the
    /// NIC cannot do this or has no free TX ring slot.
    ///
    /// # Errors
    /// Unsupported or no TX room: the received buffer comes back unchanged.
    fn rx_into_tx(&mut self, buffer: RxBuffer) -> Result<TxBuffer, RxBuffer> {
        Err(buffer)
    }

    /// The shared pool this NIC's buffers come from, or `None` for a NIC with its own pool.
    /// Two NICs with the same id can move buffers between them ([`shares_pool`]).
    fn pool_id(&self) -> Option<PoolId> {
        None
    }
}

/// True if a buffer received on `first` can be transmitted on `second` without a copy: both
/// draw from the same shared pool.
pub fn shares_pool<A, B>(first: &A, second: &B) -> bool
where
    A: NetDevice + ?Sized,
    B: NetDevice + ?Sized,
{
    matches!((first.pool_id(), second.pool_id()), (Some(a), Some(b)) if a == b)
}

impl<T: NetDevice + ?Sized> NetDevice for &mut T {
    fn mac_address(&self) -> MacAddress {
        (**self).mac_address()
    }
    fn link_state(&self) -> LinkState {
        (**self).link_state()
    }
    fn counters(&self) -> Counters {
        (**self).counters()
    }
    fn max_frame_len(&self) -> usize {
        (**self).max_frame_len()
    }
    fn receive_burst(&mut self, frames: &mut [Option<RxBuffer>]) -> usize {
        (**self).receive_burst(frames)
    }
    fn rx_frame(&self, buffer: &RxBuffer) -> &[u8] {
        (**self).rx_frame(buffer)
    }
    fn release(&mut self, buffer: RxBuffer) {
        (**self).release(buffer)
    }
    fn tx_capacity(&mut self) -> usize {
        (**self).tx_capacity()
    }
    fn tx_reserve(&mut self) -> Option<TxBuffer> {
        (**self).tx_reserve()
    }
    fn tx_frame_mut(&mut self, buffer: &mut TxBuffer) -> &mut [u8] {
        (**self).tx_frame_mut(buffer)
    }
    fn transmit(&mut self, buffer: TxBuffer, len: usize) -> Result<(), TxError> {
        (**self).transmit(buffer, len)
    }
    fn tx_discard(&mut self, buffer: TxBuffer) {
        (**self).tx_discard(buffer)
    }
    fn flush(&mut self) {
        (**self).flush()
    }
    fn rx_into_tx(&mut self, buffer: RxBuffer) -> Result<TxBuffer, RxBuffer> {
        (**self).rx_into_tx(buffer)
    }
    fn pool_id(&self) -> Option<PoolId> {
        (**self).pool_id()
    }
}

/// Copies one received frame from `input` to `output` (the baseline forwarding path).
///
/// Releases the received buffer in every case. Returns `false` if the output had no room or
/// refused the length (counted by the output NIC). Does not flush `output`.
pub fn forward_by_copy<I, O>(input: &mut I, buffer: RxBuffer, output: &mut O) -> bool
where
    I: NetDevice + ?Sized,
    O: NetDevice + ?Sized,
{
    let sent = match output.tx_reserve() {
        None => false,
        Some(mut tx) => {
            let frame = input.rx_frame(&buffer);
            let len = frame.len();
            let area = output.tx_frame_mut(&mut tx);
            if len > area.len() {
                output.tx_discard(tx);
                false
            } else {
                area[..len].copy_from_slice(frame);
                match output.transmit(tx, len) {
                    Ok(()) => true,
                    Err(error) => {
                        output.tx_discard(error.buffer);
                        false
                    }
                }
            }
        }
    };
    input.release(buffer);
    sent
}
