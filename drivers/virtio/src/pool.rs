//! The packet pool shared by pooled virtio-net ports: DMA buffers and ledger
//!
//! A [`PacketPool`] is declared `static` by the kernel (all zero but the lock, so it sits in
//! `.bss`) and handed to every data port's [`PooledVirtioNet`](crate::pooled::PooledVirtioNet).
//! Each buffer is [`POOL_BUFFER_SIZE`] bytes; a received frame starts at [`POOL_HEADROOM`], with
//! the 12-byte `virtio_net_hdr` just before it, so a frame can be edited in place and sent from
//! any port of the pool with the header rewritten in front of its (possibly moved) start.
//!
//! Ownership of every buffer is kept by a [`netdev::pool::PoolLedger`] behind a spin lock. The
//! lock is taken for O(1) work (once per receive burst, once per transmit or release) and never
//! across a call out of this crate; the pool must not be used from interrupt handlers (on one
//! core that would deadlock). The caller reads and edits the bytes of buffers it holds through
//! [`PacketPool::frame`] and [`PacketPool::buffer_mut`], which check the handle first.

use core::cell::UnsafeCell;

use netdev::pool::{HandleError, PoolCounters, PoolLedger, PoolPort, PortOccupancy};
use netdev::{POOL_BUFFER_SIZE, POOL_HEADROOM, PoolBuffer, PoolId, PoolOccupancy};

use crate::net::{MAX_FRAME_LEN, NET_HEADER_LEN, RX_REFILL_BATCH};
use crate::pooled::PORT_QUEUE_SIZE;

/// Buffers in a kernel pool (2 MiB): the data ports' receive reserves
/// ([`rx_reserve_per_port`]) plus [`POOL_SPARE`] for transmit rings, copies and bursts.
pub const POOL_BUFFERS: usize = 1024;

/// Buffers of a kernel pool kept out of every RX reserve: one congested egress's whole transmit
/// ring ([`PORT_QUEUE_SIZE`]) plus 96 for flood copies, RARP frames and a burst in hand. (The
/// reserve rule already keeps a parked transmit out of the reserves; this keeps traffic moving
/// while one egress is stuck.)
pub const POOL_SPARE: usize = PORT_QUEUE_SIZE + 96;

/// The RX reserve each of `ports` data ports on a [`POOL_BUFFERS`] pool gets: its whole
/// receive ring ([`PORT_QUEUE_SIZE`]) when the pool can spare it, else an equal share of what
/// [`POOL_SPARE`] leaves (2 ports: 256 each; 3: 224; 7: 96). Never less than two refill batches
/// for up to [`netdev::pool::MAX_POOL_PORTS`] ports (checked at compile time).
pub const fn rx_reserve_per_port(ports: usize) -> usize {
    let ports = if ports == 0 { 1 } else { ports };
    let share = (POOL_BUFFERS - POOL_SPARE) / ports;
    if share < PORT_QUEUE_SIZE {
        share
    } else {
        PORT_QUEUE_SIZE
    }
}

const _: () = {
    // Every port count a pool serves leaves the spare and keeps two refill batches posted.
    let ports = netdev::pool::MAX_POOL_PORTS;
    assert!(ports * rx_reserve_per_port(ports) + POOL_SPARE <= POOL_BUFFERS);
    assert!(rx_reserve_per_port(ports) >= 2 * RX_REFILL_BATCH);
    // The virtio-net header sits in the headroom; a full frame fits behind it.
    assert!(POOL_HEADROOM >= 128 && POOL_HEADROOM >= NET_HEADER_LEN);
    assert!(POOL_HEADROOM + MAX_FRAME_LEN <= POOL_BUFFER_SIZE);
    // §5.1.6.3.1: without MRG_RXBUF, receive buffers must hold at least 1526 bytes.
    assert!(POOL_BUFFER_SIZE - (POOL_HEADROOM - NET_HEADER_LEN) >= 1526);
};

/// One pool buffer, cache-line aligned. Written by the device only while posted to it.
#[repr(C, align(64))]
struct PoolCell(UnsafeCell<[u8; POOL_BUFFER_SIZE]>);

/// `COUNT` DMA buffers shared by several ports, and who owns each. Declare it `static`.
pub struct PacketPool<const COUNT: usize = POOL_BUFFERS> {
    ledger: spin::Mutex<PoolLedger<COUNT>>,
    buffers: [PoolCell; COUNT],
}

// SAFETY: the ledger is behind a lock. The buffer cells are DMA memory shared with the devices
// of every attached port, and each cell is touched by exactly one party at a time, by the
// ledger's record for it: a device, only while the cell is posted to its port's rings (the
// drivers never reference it then, and a reset is confirmed before a posted cell is returned);
// a driver, only while it holds the lock and consumes the caller's valid handle (writing the
// header); the caller, only through `frame`/`buffer_mut`, which check under the lock that the
// handle is the current one for a held cell and tie the bytes to a borrow of that handle. A
// handle is linear, only a ledger makes one, and pool ids are unique process-wide (netdev
// hands them out), so no other ledger can make one this pool accepts: no two parties hold the
// same cell. (The `test-support` feature's `forged_copy` breaks this; host tests only.)
unsafe impl<const COUNT: usize> Sync for PacketPool<COUNT> {}

impl<const COUNT: usize> Default for PacketPool<COUNT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const COUNT: usize> PacketPool<COUNT> {
    /// Bytes of static RAM.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// Every buffer free, no port attached.
    pub const fn new() -> Self {
        Self {
            ledger: spin::Mutex::new(PoolLedger::new()),
            buffers: [const { PoolCell(UnsafeCell::new([0; POOL_BUFFER_SIZE])) }; COUNT],
        }
    }

    /// Runs `work` on the ledger under the lock.
    pub(crate) fn with_ledger<R>(&self, work: impl FnOnce(&mut PoolLedger<COUNT>) -> R) -> R {
        work(&mut self.ledger.lock())
    }

    /// This pool's id (what its handles carry); `PoolId(0)` until the first port attaches.
    pub fn id(&self) -> PoolId {
        self.with_ledger(|ledger| ledger.id())
    }

    /// Where the buffers are, pool-wide, in O(1).
    pub fn occupancy(&self) -> PoolOccupancy {
        self.with_ledger(|ledger| ledger.occupancy())
    }

    /// Refused handles, reserve refusals, reset returns.
    pub fn counters(&self) -> PoolCounters {
        self.with_ledger(|ledger| ledger.counters())
    }

    /// Buffers the RX reserves miss right now; whenever the caller holds no buffers, the free
    /// buffers cover it (the reserve rule, see [`netdev::pool`]).
    pub fn reserve_deficit(&self) -> usize {
        self.with_ledger(|ledger| ledger.deficit())
    }

    /// What one port has on its rings.
    pub fn port_occupancy(&self, port: PoolPort) -> PortOccupancy {
        self.with_ledger(|ledger| ledger.port_occupancy(port))
    }

    /// Checks every ownership record (O(COUNT); tests and debugging).
    ///
    /// # Errors
    /// The first inconsistency found.
    pub fn check(&self) -> Result<(), &'static str> {
        self.with_ledger(|ledger| ledger.check())
    }

    /// Bus address of a buffer (identity-mapped).
    pub(crate) fn address(&self, index: u16) -> u64 {
        self.buffers[usize::from(index)].0.get() as u64
    }

    /// The whole buffer behind a valid handle; a refused handle (counted) gets an empty slice.
    fn checked_bytes(&self, buffer: &PoolBuffer) -> Option<*mut [u8; POOL_BUFFER_SIZE]> {
        let slot = self
            .with_ledger(|ledger| ledger.validate_counted(buffer))
            .ok()?;
        Some(self.buffers[slot].0.get())
    }

    /// The frame a held buffer carries (`start..start + len` of the handle); empty for a
    /// refused handle (counted).
    pub fn frame<'a>(&'a self, buffer: &'a PoolBuffer) -> &'a [u8] {
        let Some(cell) = self.checked_bytes(buffer) else {
            return &[];
        };
        // SAFETY: the handle is the current one for a held buffer (checked under the lock), so
        // no device and no driver touches the cell; the handle is linear and borrowed shared
        // for the slice's life, so nothing writes it meanwhile (`buffer_mut` needs `&mut`, and
        // release or transmit consume the handle).
        let bytes = unsafe { &*cell };
        let end = (buffer.start() + buffer.len()).min(POOL_BUFFER_SIZE);
        bytes.get(buffer.start()..end).unwrap_or(&[])
    }

    /// The first 24 bytes of each held buffer's frame, as three native-endian words in memory
    /// order, with one lock for the whole burst (what a switch reads to decide). Entry `i` of
    /// `words` is for `buffers[i]`; bit `i` of the result is set if that handle was accepted
    /// (a `None` slot or a refused handle, counted, leaves its words alone). Bytes past a
    /// frame's end are whatever the buffer holds there. At most 64 entries are read.
    pub fn head_words(&self, buffers: &[Option<PoolBuffer>], words: &mut [[u64; 3]]) -> u64 {
        let mut valid = 0u64;
        self.with_ledger(|ledger| {
            for (position, (buffer, words)) in buffers.iter().zip(words.iter_mut()).enumerate() {
                if position >= 64 {
                    break;
                }
                let Some(buffer) = buffer else {
                    continue;
                };
                let Ok(slot) = ledger.validate_counted(buffer) else {
                    continue;
                };
                let cell = self.buffers[slot].0.get();
                let start = buffer.start();
                // SAFETY: the handle is the current one for a held buffer (checked under the
                // lock just now), so no device and no driver touches the cell, and the caller
                // lends the handle shared for this call, so nothing writes it meanwhile. Only
                // bytes inside the cell are read: `start + 24 <= POOL_BUFFER_SIZE` on the word
                // path (the cell is 64-byte aligned, so `start % 8 == 0` makes the loads
                // aligned); the other path reads through a bounds-checked slice.
                unsafe {
                    if start % 8 == 0 && start + 24 <= POOL_BUFFER_SIZE {
                        let first = cell.cast::<u8>().add(start).cast::<u64>();
                        *words = [first.read(), first.add(1).read(), first.add(2).read()];
                    } else {
                        let bytes = &*cell;
                        let mut head = [0u8; 24];
                        let end = (start + 24).min(POOL_BUFFER_SIZE);
                        if let Some(source) = bytes.get(start..end) {
                            head[..source.len()].copy_from_slice(source);
                        }
                        let word = |index: usize| {
                            let mut eight = [0u8; 8];
                            eight.copy_from_slice(&head[index * 8..index * 8 + 8]);
                            u64::from_ne_bytes(eight)
                        };
                        *words = [word(0), word(1), word(2)];
                    }
                }
                valid |= 1 << position;
            }
        });
        valid
    }

    /// The first 24 bytes at `start` of buffer `index`, as three native-endian words in memory
    /// order (what [`head_words`](Self::head_words) reads, without a look at a handle).
    ///
    /// # Safety
    /// The caller holds the ledger lock, and buffer `index` was handed to the caller by the
    /// ledger (`rx_done`, `RxBurst::received`) under that same hold: no device and no other
    /// party touches it. `start` is a multiple of 8 and `start + 24 <= POOL_BUFFER_SIZE`.
    pub(crate) unsafe fn received_head(&self, index: u16, start: usize) -> [u64; 3] {
        let cell = self.buffers[usize::from(index)].0.get();
        // SAFETY: per this function's contract nothing else touches the cell, and the three
        // loads stay inside it, aligned (the cell is 64-byte aligned, `start % 8 == 0`).
        unsafe {
            let first = cell.cast::<u8>().add(start).cast::<u64>();
            [first.read(), first.add(1).read(), first.add(2).read()]
        }
    }

    /// The whole buffer (headroom included) of a held buffer, for in-place edits; empty for a
    /// refused handle (counted). Record a moved frame with [`PoolBuffer::set_frame`].
    pub fn buffer_mut<'a>(&'a self, buffer: &'a mut PoolBuffer) -> &'a mut [u8] {
        let Some(cell) = self.checked_bytes(buffer) else {
            return &mut [];
        };
        // SAFETY: as in `frame`; the handle is borrowed mutably for the slice's life, so this
        // is the only reference to the cell.
        unsafe { &mut *cell }
    }

    /// Gives a held buffer back to the pool.
    ///
    /// # Errors
    /// A handle of another pool or a stale one: refused and counted, nothing changes.
    pub fn release(&self, buffer: PoolBuffer) -> Result<(), HandleError> {
        self.with_ledger(|ledger| ledger.release(buffer))
    }

    /// Buffers free beyond what the RX reserves miss: what copies and transmits may use now.
    pub fn spare(&self) -> usize {
        self.with_ledger(|ledger| ledger.free().saturating_sub(ledger.deficit()))
    }

    /// An empty buffer for a frame to be built at `start` (length 0 until set), if the RX
    /// reserves can spare one (else `None`, counted).
    pub fn allocate(&self, start: usize) -> Option<PoolBuffer> {
        self.with_ledger(|ledger| ledger.allocate(start, 0))
    }

    /// A new buffer holding a copy of `source`'s frame at the same start (for a flood or a
    /// mirror: copies for all outputs but one). `None` if `source` is refused or the pool has
    /// no buffer the RX reserves can spare (counted).
    pub fn copy_of(&self, source: &PoolBuffer) -> Option<PoolBuffer> {
        let start = source.start();
        let len = source.len();
        // `set_frame` lets a caller record any placement: never trust it with a slice bound.
        let end = start + len;
        if end > POOL_BUFFER_SIZE {
            return None;
        }
        let mut copy = self.with_ledger(|ledger| ledger.allocate(start, len))?;
        let Some(source_cell) = self.checked_bytes(source) else {
            let _ = self.release(copy);
            return None;
        };
        let slot = usize::from(copy.index());
        let target_cell = self.buffers[slot].0.get();
        copy.set_frame(start, len);
        // SAFETY: both handles are current for held buffers (checked under the lock; the copy
        // was just issued), they name different cells (a held cell is never re-issued), and
        // both handles are borrowed here, so nothing else touches either cell.
        unsafe {
            (&mut *target_cell)[start..end].copy_from_slice(&(&*source_cell)[start..end]);
        }
        Some(copy)
    }
}
