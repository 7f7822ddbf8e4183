//! Shared packet-pool bookkeeping: pool-id + generation handles, RX reserves
//!
//! [`PoolLedger`] is the pure half of a packet pool shared by several ports: who owns each
//! buffer (free, posted to a port's receive ring, held by the caller, in flight on a port's
//! transmit ring), the generation of every handle issued, and the per-port receive reserves.
//! It knows nothing about the bytes; a driver crate pairs it with the DMA memory (see
//! `virtio::pool::PacketPool`). Every operation is O(1): occupancy and deficits are kept as
//! running counts, never recomputed by a scan (only [`PoolLedger::check`], for tests, scans).
//! A driver's fast path works in bursts ([`PoolLedger::rx_burst`],
//! [`PoolLedger::take_for_rx_batch`], [`PoolLedger::tx_burst`], [`PoolLedger::tx_completions`]):
//! each buffer's record is still checked and moved one by one (a buffer named for the wrong
//! port or a stale handle is refused exactly as by the single-buffer calls), but the running
//! counts and the deficit change once per burst, when its guard is dropped; the guard borrows
//! the ledger, so nothing reads the counts in between.
//!
//! Reserve rule (why a congested egress cannot starve another port's receive ring): each
//! attached port has an RX reserve `r`: its receive ring is refilled up to `r` buffers, never
//! more, and the reserves of all ports together never exceed the pool. The *deficit* is the
//! sum over ports of how far each port's posted receive buffers are below its reserve. A refill
//! may take any free buffer; everything else (a buffer allocated for a copy, a held buffer
//! admitted to a transmit ring) is allowed only if the free buffers still cover the deficit
//! afterwards. So buffers parked on transmit rings never come out of a
//! reserve, and the invariant `free + held >= deficit` holds after every operation: whenever the
//! caller holds no buffers, every port's receive ring can be refilled to its reserve.

use core::fmt;
use core::num::NonZeroU32;
use core::sync::atomic::{AtomicU16, Ordering};

use crate::PoolOccupancy;

/// The next pool id to hand out. Ids come only from here, so no two ledgers ever share one
/// and no ledger made elsewhere can mint handles another pool would accept; 0 means "none
/// yet", and once the ids run out a new ledger gets none (and issues nothing).
static NEXT_POOL_ID: AtomicU16 = AtomicU16::new(1);

/// Ports one pool can serve.
pub const MAX_POOL_PORTS: usize = 8;

/// Identifies one pool; a handle carries it, so a handle given to another pool is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PoolId(pub u16);

impl fmt::Display for PoolId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "pool {}", self.0)
    }
}

/// A port's place in a pool (its index among the pool's attached ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolPort(u8);

impl PoolPort {
    /// The slot number, `0..MAX_POOL_PORTS`.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Handle to one buffer of a shared pool, held by the caller.
///
/// Carries the pool id, the buffer index, the generation it was issued with, and where the
/// frame sits in the buffer (`start` bytes of headroom in front). Not `Clone`, and only a
/// [`PoolLedger`] makes one, with its own process-wide unique id, so each issued handle is the
/// one owner of its buffer (a pool driver relies on this to lend `&mut` bytes); the pool
/// still checks id and generation on every use and refuses (and counts) a handle that is
/// stale or belongs to another pool. Give it back exactly once: release it to the pool or
/// transmit it on a port of the same pool. Dropping it leaks the buffer until the pool is
/// rebuilt, which shows in [`PoolOccupancy::rx_held`].
///
/// Laid out for cheap moves: 4-byte aligned, and the pool id, held in a whole word, is never 0
/// (ids start at 1), so `Option<PoolBuffer>` is 12 bytes with no tag, and taking one out of a
/// slot reads the id word and moves the two words after it. At its natural 2-byte alignment
/// every such move was a `memcpy` call on a target that forbids unaligned accesses
/// (aarch64-unknown-none).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a pool buffer must be released or transmitted"]
#[repr(align(4))]
pub struct PoolBuffer {
    pool: NonZeroU32,
    index: u16,
    generation: u16,
    start: u16,
    len: u16,
}

/// A handle's pool word: the id in the low 16 bits and bit 16 set, so the word is never 0 (the
/// niche `Option<PoolBuffer>` uses), whatever the id.
const fn pool_word(pool: PoolId) -> NonZeroU32 {
    match NonZeroU32::new(0x1_0000 | pool.0 as u32) {
        Some(word) => word,
        None => NonZeroU32::MAX,
    }
}

// A handle in a burst slot is 12 bytes, word aligned, with no separate `Some` tag.
const _: () = assert!(core::mem::size_of::<Option<PoolBuffer>>() == 12);
const _: () = assert!(core::mem::align_of::<PoolBuffer>() == 4);

impl PoolBuffer {
    /// The pool this buffer belongs to.
    pub const fn pool(&self) -> PoolId {
        PoolId(self.pool.get() as u16)
    }

    /// Index of the buffer in its pool.
    pub const fn index(&self) -> u16 {
        self.index
    }

    /// Generation the handle was issued with (the pool bumps it on every issue).
    pub const fn generation(&self) -> u16 {
        self.generation
    }

    /// Offset of the frame's first byte in the buffer (the headroom in front of it).
    pub const fn start(&self) -> usize {
        self.start as usize
    }

    /// Length of the frame in bytes (Ethernet header onwards, no FCS).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// True if the frame is empty (a driver never delivers one).
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Records where the frame now sits (after an in-place edit such as a VLAN push). Values
    /// past the buffer are kept as "past the buffer" (saturated), never wrapped into it.
    pub fn set_frame(&mut self, start: usize, len: usize) {
        self.start = u16::try_from(start).unwrap_or(u16::MAX);
        self.len = u16::try_from(len).unwrap_or(u16::MAX);
    }

    /// A copy of this handle with another pool id or generation, for host tests that present a
    /// stale or foreign handle. Only with the `test-support` feature: in a normal build a handle
    /// cannot be duplicated, which is what lets a pool hand out `&mut` frame bytes per handle.
    #[cfg(any(test, feature = "test-support"))]
    pub const fn forged_copy(&self, pool: PoolId, generation: u16) -> Self {
        Self {
            pool: pool_word(pool),
            index: self.index,
            generation,
            start: self.start,
            len: self.len,
        }
    }
}

/// Why a pool refused a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandleError {
    /// The handle belongs to another pool.
    WrongPool,
    /// The handle's buffer was released (or re-issued) since: its generation is old.
    Stale,
}

impl fmt::Display for HandleError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            HandleError::WrongPool => "buffer handle from another pool",
            HandleError::Stale => "stale buffer handle",
        })
    }
}

/// Why a port could not attach to a pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// Every port slot is taken.
    NoPortSlot,
    /// The process ran out of pool ids (65 535 pools made).
    NoPoolId,
    /// The reserves of all ports would exceed the pool.
    ReserveTooLarge {
        /// Buffers asked for.
        asked: usize,
        /// Buffers not yet reserved by other ports.
        available: usize,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::NoPortSlot => {
                write!(formatter, "pool already serves {MAX_POOL_PORTS} ports")
            }
            AttachError::NoPoolId => formatter.write_str("no pool id left"),
            AttachError::ReserveTooLarge { asked, available } => write!(
                formatter,
                "RX reserve of {asked} buffers asked, {available} left unreserved in the pool"
            ),
        }
    }
}

/// Pool-wide counters (all O(1) to read).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounters {
    /// Handles refused because they belong to another pool.
    pub wrong_pool: u64,
    /// Handles refused because they are stale (buffer released or re-issued since).
    pub stale_handle: u64,
    /// Allocations or transmit admissions refused to keep the RX reserves covered.
    pub reserve_refusals: u64,
    /// Buffers returned by a port reset or detach (they were posted or in flight).
    pub reset_returns: u64,
}

/// Where one buffer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Owner {
    Free,
    /// Posted to this port's receive ring.
    RxPosted(u8),
    /// Held by the caller through a [`PoolBuffer`].
    Held,
    /// On this port's transmit ring.
    TxInFlight(u8),
}

#[derive(Clone, Copy, Debug, Default)]
struct PortAccount {
    attached: bool,
    reserve: u32,
    posted: u32,
    in_flight: u32,
}

impl PortAccount {
    const DETACHED: Self = Self {
        attached: false,
        reserve: 0,
        posted: 0,
        in_flight: 0,
    };

    fn deficit(&self) -> u32 {
        self.reserve.saturating_sub(self.posted)
    }
}

/// Per-port view of a pool: what this port has on its rings, and its reserve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortOccupancy {
    /// The port's RX reserve.
    pub reserve: u32,
    /// Buffers posted to the port's receive ring.
    pub rx_posted: u32,
    /// Buffers in flight on the port's transmit ring.
    pub tx_in_flight: u32,
}

/// The ownership records of a pool of `COUNT` buffers shared by up to [`MAX_POOL_PORTS`] ports.
#[derive(Debug)]
pub struct PoolLedger<const COUNT: usize> {
    id: PoolId,
    owners: [Owner; COUNT],
    generations: [u16; COUNT],
    /// The free list, a stack: entry `p` holds buffer index `free[p] ^ (COUNT - 1 - p)`, so
    /// an all-zero list is every buffer free (buffer 0 on top) and a `static` pool is all
    /// zero bytes, in `.bss` rather than the image.
    free: [u16; COUNT],
    /// Buffers not on the free list (zero when every buffer is free, for the same reason).
    taken: usize,
    held: u32,
    posted: u32,
    in_flight: u32,
    ports: [PortAccount; MAX_POOL_PORTS],
    reserved: u32,
    deficit: u32,
    counters: PoolCounters,
}

impl<const COUNT: usize> Default for PoolLedger<COUNT> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const COUNT: usize> PoolLedger<COUNT> {
    const SIZE_OK: () = assert!(COUNT > 0 && COUNT <= u16::MAX as usize);

    /// Every buffer free, no port attached, no id yet (one is assigned, process-wide unique,
    /// when the first port attaches or the first buffer is allocated).
    pub const fn new() -> Self {
        let () = Self::SIZE_OK;
        Self {
            id: PoolId(0),
            owners: [Owner::Free; COUNT],
            generations: [0; COUNT],
            free: [0; COUNT],
            taken: 0,
            held: 0,
            posted: 0,
            in_flight: 0,
            ports: [PortAccount::DETACHED; MAX_POOL_PORTS],
            reserved: 0,
            deficit: 0,
            counters: PoolCounters {
                wrong_pool: 0,
                stale_handle: 0,
                reserve_refusals: 0,
                reset_returns: 0,
            },
        }
    }

    /// This pool's id.
    pub const fn id(&self) -> PoolId {
        self.id
    }

    /// Gives the ledger its id on first need; `false` if the process ran out of ids.
    fn ensure_id(&mut self) -> bool {
        if self.id == PoolId(0)
            && let Ok(id) =
                NEXT_POOL_ID.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |next| {
                    next.checked_add(1)
                })
        {
            self.id = PoolId(id);
        }
        self.id != PoolId(0)
    }

    /// Buffers in the pool.
    pub const fn capacity(&self) -> usize {
        COUNT
    }

    /// Free buffers.
    pub const fn free(&self) -> usize {
        self.free_count()
    }

    /// Buffers the RX reserves still miss (sum over ports of reserve minus posted, if positive).
    pub const fn deficit(&self) -> usize {
        self.deficit as usize
    }

    /// Counters of refused handles, reserve refusals and reset returns.
    pub const fn counters(&self) -> PoolCounters {
        self.counters
    }

    /// Occupancy of the whole pool, in O(1). `tx_reserved` is always 0 (pooled transmit needs
    /// no reservation); `rx_held` counts every buffer held through a [`PoolBuffer`].
    pub const fn occupancy(&self) -> PoolOccupancy {
        PoolOccupancy {
            total: COUNT as u32,
            free: self.free_count() as u32,
            rx_posted: self.posted,
            rx_held: self.held,
            tx_reserved: 0,
            tx_in_flight: self.in_flight,
        }
    }

    /// What `port` has on its rings, and its reserve.
    pub fn port_occupancy(&self, port: PoolPort) -> PortOccupancy {
        let account = self.ports[port.index()];
        PortOccupancy {
            reserve: account.reserve,
            rx_posted: account.posted,
            tx_in_flight: account.in_flight,
        }
    }

    /// Attaches a port with an RX reserve of `rx_reserve` buffers.
    ///
    /// # Errors
    /// No free port slot, or the reserves of all ports would exceed the pool.
    pub fn attach(&mut self, rx_reserve: usize) -> Result<PoolPort, AttachError> {
        if !self.ensure_id() {
            return Err(AttachError::NoPoolId);
        }
        let available = COUNT - self.reserved as usize;
        if rx_reserve > available {
            return Err(AttachError::ReserveTooLarge {
                asked: rx_reserve,
                available,
            });
        }
        let Some(slot) = self.ports.iter().position(|account| !account.attached) else {
            return Err(AttachError::NoPortSlot);
        };
        self.ports[slot] = PortAccount {
            attached: true,
            reserve: rx_reserve as u32,
            posted: 0,
            in_flight: 0,
        };
        self.reserved += rx_reserve as u32;
        self.deficit += rx_reserve as u32;
        Ok(PoolPort(slot as u8))
    }

    /// Detaches a port whose rings hold nothing of the pool (returns them first); `false` if
    /// it still has buffers posted or in flight.
    pub fn detach(&mut self, port: PoolPort) -> bool {
        let account = self.ports[port.index()];
        if !account.attached || account.posted != 0 || account.in_flight != 0 {
            return false;
        }
        self.deficit -= account.deficit();
        self.reserved -= account.reserve;
        self.ports[port.index()] = PortAccount::DETACHED;
        true
    }

    /// Free buffers (on the free list).
    const fn free_count(&self) -> usize {
        COUNT - self.taken
    }

    /// The buffer index stored at free-list position `position` (see `free`).
    fn free_entry(&self, position: usize) -> usize {
        usize::from(self.free[position] ^ (COUNT - 1 - position) as u16)
    }

    fn take_free(&mut self) -> Option<usize> {
        if self.taken == COUNT {
            return None;
        }
        self.taken += 1;
        Some(self.free_entry(self.free_count()))
    }

    fn put_free(&mut self, index: usize) {
        self.owners[index] = Owner::Free;
        let position = self.free_count();
        self.free[position] = index as u16 ^ (COUNT - 1 - position) as u16;
        self.taken -= 1;
    }

    /// Free buffers left over the deficit once `taking` more are taken.
    fn covers_deficit_after(&self, taking: usize) -> bool {
        self.free_count() >= taking && self.free_count() - taking >= self.deficit as usize
    }

    fn posted_changed(&mut self, port: usize, increase: bool) {
        let account = &mut self.ports[port];
        // The port's deficit is `reserve - posted` while positive, else 0: one buffer more on
        // its ring lowers it by one only while the port is below its reserve, one fewer raises
        // it by one only if that leaves the port below it. (Two saturating differences per
        // change cost the packet path twice per frame.)
        if increase {
            if account.posted < account.reserve {
                self.deficit -= 1;
            }
            account.posted += 1;
            self.posted += 1;
        } else {
            account.posted -= 1;
            self.posted -= 1;
            if account.posted < account.reserve {
                self.deficit += 1;
            }
        }
    }

    /// Takes a free buffer to post on `port`'s receive ring; `None` once the ring holds the
    /// port's whole reserve (a receive ring never holds more, so the surplus stays for
    /// transmit rings and copies) or the pool is empty.
    pub fn take_for_rx(&mut self, port: PoolPort) -> Option<u16> {
        let account = *self.ports.get(port.index())?;
        if !account.attached || account.posted >= account.reserve {
            return None;
        }
        let index = self.take_free()?;
        self.owners[index] = Owner::RxPosted(port.0);
        self.posted_changed(port.index(), true);
        Some(index as u16)
    }

    /// A buffer `port` posted for receive came back holding a frame at `start..start + len`:
    /// the caller now holds it. `None` if the buffer was not posted by this port.
    pub fn rx_done(
        &mut self,
        port: PoolPort,
        index: u16,
        start: usize,
        len: usize,
    ) -> Option<PoolBuffer> {
        let slot = usize::from(index);
        if self.owners.get(slot) != Some(&Owner::RxPosted(port.0)) {
            return None;
        }
        // An attached port's ledger has its id (never 0); without one, nothing is issued.
        if self.id == PoolId(0) {
            return None;
        }
        let pool = pool_word(self.id);
        self.posted_changed(port.index(), false);
        self.owners[slot] = Owner::Held;
        self.held += 1;
        let generation = self.generations[slot].wrapping_add(1);
        self.generations[slot] = generation;
        Some(PoolBuffer {
            pool,
            index,
            generation,
            start: start as u16,
            len: len as u16,
        })
    }

    /// Returns a buffer `port` posted (for receive) or had in flight (for transmit) to the free
    /// list: a dropped receive, a completed transmit, or a ring drained by a reset. `false`
    /// (nothing changed) if the buffer is not on that port's rings.
    pub fn ring_returned(&mut self, port: PoolPort, index: u16) -> bool {
        let slot = usize::from(index);
        match self.owners.get(slot) {
            Some(Owner::RxPosted(owner)) if *owner == port.0 => {
                self.posted_changed(port.index(), false);
            }
            Some(Owner::TxInFlight(owner)) if *owner == port.0 => {
                self.ports[port.index()].in_flight -= 1;
                self.in_flight -= 1;
            }
            _ => return false,
        }
        self.put_free(slot);
        true
    }

    /// As [`ring_returned`](Self::ring_returned), counted as a reset return.
    pub fn reset_returned(&mut self, port: PoolPort, index: u16) -> bool {
        let returned = self.ring_returned(port, index);
        if returned {
            self.counters.reset_returns += 1;
        }
        returned
    }

    /// Checks a handle without counting: its buffer index, or why it is refused.
    ///
    /// # Errors
    /// Another pool's handle, or a stale one.
    pub fn validate(&self, buffer: &PoolBuffer) -> Result<usize, HandleError> {
        if buffer.pool() != self.id || self.id == PoolId(0) {
            return Err(HandleError::WrongPool);
        }
        let slot = usize::from(buffer.index);
        match self.owners.get(slot) {
            Some(Owner::Held) if self.generations[slot] == buffer.generation => Ok(slot),
            _ => Err(HandleError::Stale),
        }
    }

    /// Counts a refused handle.
    pub fn count_refusal(&mut self, error: HandleError) {
        match error {
            HandleError::WrongPool => self.counters.wrong_pool += 1,
            HandleError::Stale => self.counters.stale_handle += 1,
        }
    }

    /// Checks a handle, counting a refusal.
    ///
    /// # Errors
    /// Another pool's handle, or a stale one (counted).
    pub fn validate_counted(&mut self, buffer: &PoolBuffer) -> Result<usize, HandleError> {
        let result = self.validate(buffer);
        if let Err(error) = result {
            self.count_refusal(error);
        }
        result
    }

    /// Gives a held buffer back to the free list.
    ///
    /// # Errors
    /// A wrong-pool or stale handle: nothing changes, the refusal is counted.
    pub fn release(&mut self, buffer: PoolBuffer) -> Result<(), HandleError> {
        let slot = self.validate_counted(&buffer)?;
        self.held -= 1;
        self.put_free(slot);
        Ok(())
    }

    /// Allocates a free buffer for the caller (e.g. for a copy), only if the RX reserves stay
    /// covered; `None` (counted in `reserve_refusals` if buffers were free) otherwise.
    pub fn allocate(&mut self, start: usize, len: usize) -> Option<PoolBuffer> {
        if !self.ensure_id() {
            return None;
        }
        if !self.covers_deficit_after(1) {
            if self.free_count() > 0 {
                self.counters.reserve_refusals += 1;
            }
            return None;
        }
        if self.id == PoolId(0) {
            return None;
        }
        let pool = pool_word(self.id);
        let slot = self.take_free()?;
        self.owners[slot] = Owner::Held;
        self.held += 1;
        let generation = self.generations[slot].wrapping_add(1);
        self.generations[slot] = generation;
        Some(PoolBuffer {
            pool,
            index: slot as u16,
            generation,
            start: start as u16,
            len: len as u16,
        })
    }

    /// Checks whether a held buffer may go on `port`'s transmit ring: the handle is valid and
    /// the free buffers cover the RX deficit (so a parked transmit never eats a reserve).
    ///
    /// # Errors
    /// The handle's refusal (counted), or [`TxAdmitError::Reserve`] (counted).
    pub fn tx_check(&mut self, port: PoolPort, buffer: &PoolBuffer) -> Result<usize, TxAdmitError> {
        let slot = self
            .validate_counted(buffer)
            .map_err(TxAdmitError::Handle)?;
        if !self.ports.get(port.index()).is_some_and(|a| a.attached) {
            return Err(TxAdmitError::NotAttached);
        }
        if !self.covers_deficit_after(0) {
            self.counters.reserve_refusals += 1;
            return Err(TxAdmitError::Reserve);
        }
        Ok(slot)
    }

    /// Moves a buffer that passed [`tx_check`](Self::tx_check) onto `port`'s transmit ring
    /// (the driver has posted it). Consumes the handle: the pool owns the buffer until the
    /// port reports the transmit complete.
    pub fn tx_posted(&mut self, port: PoolPort, buffer: PoolBuffer) -> bool {
        let Ok(slot) = self.validate(&buffer) else {
            return false;
        };
        self.held -= 1;
        self.owners[slot] = Owner::TxInFlight(port.0);
        self.ports[port.index()].in_flight += 1;
        self.in_flight += 1;
        true
    }

    /// [`tx_check`](Self::tx_check) and [`tx_posted`](Self::tx_posted) in one, with one look
    /// at the handle: if the handle is valid and the reserves allow it, `post` gets the
    /// buffer's slot and puts it on the ring; if `post` says it did, the buffer is in flight on
    /// `port` (the handle consumed), else the buffer comes back, still held, with
    /// [`TxAdmitError::Reserve`] (no ring room). The ledger stays borrowed for the whole call,
    /// so nothing can change the record between the check and the move.
    ///
    /// # Errors
    /// The handle's refusal (counted), [`TxAdmitError::NotAttached`], a reserve refusal
    /// (counted), or `post` refusing: the buffer comes back with the reason.
    pub fn tx_post(
        &mut self,
        port: PoolPort,
        buffer: PoolBuffer,
        post: impl FnOnce(usize) -> bool,
    ) -> Result<(), (TxAdmitError, PoolBuffer)> {
        let slot = match self.tx_check(port, &buffer) {
            Ok(slot) => slot,
            Err(error) => return Err((error, buffer)),
        };
        if !post(slot) {
            return Err((TxAdmitError::Reserve, buffer));
        }
        self.held -= 1;
        self.owners[slot] = Owner::TxInFlight(port.0);
        self.ports[port.index()].in_flight += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// Starts a receive burst on `port`: buffers it posted come back from its receive ring,
    /// each as a frame for the caller ([`RxBurst::received`]) or a drop
    /// ([`RxBurst::dropped`]), with the same checks as [`rx_done`](Self::rx_done) and
    /// [`ring_returned`](Self::ring_returned) per buffer; the occupancy counts and the deficit
    /// are brought up to date once, when the burst ends (it is dropped). The ledger stays
    /// borrowed for the whole burst, so nothing sees the counts before that.
    pub fn rx_burst(&mut self, port: PoolPort) -> RxBurst<'_, COUNT> {
        // An attached port's ledger has its id (never 0); without one, nothing is issued.
        let pool = (self.id != PoolId(0)).then(|| pool_word(self.id));
        RxBurst {
            ledger: self,
            port: port.0,
            pool,
            issued: 0,
            dropped: 0,
        }
    }

    /// Takes free buffers for `port`'s receive ring into `out`, at most `out.len()` and never
    /// beyond the port's reserve (as [`take_for_rx`](Self::take_for_rx) does one): each is
    /// recorded as posted on the port, and the counts change once for the batch. Returns how
    /// many, from the front of `out`. The driver posts them; any it cannot post go back with
    /// [`ring_returned`](Self::ring_returned).
    pub fn take_for_rx_batch(&mut self, port: PoolPort, out: &mut [u16]) -> usize {
        let free_count = self.free_count();
        // The free list's entries in use as a slice, walked from its top: the positions are
        // in range by construction (no check per buffer), see `take_free`, `free_entry`.
        let Some(free) = self.free.get(..free_count) else {
            return 0;
        };
        let Some(account) = self.ports.get_mut(port.index()) else {
            return 0;
        };
        if !account.attached {
            return 0;
        }
        let room = (account.reserve.saturating_sub(account.posted) as usize)
            .min(out.len())
            .min(free_count);
        // The free list's top in a local for the batch.
        let mut taken = self.taken;
        let mut count = 0;
        for (entry, stored) in out.iter_mut().zip(free.iter().rev()).take(room) {
            let index = usize::from(*stored ^ taken as u16);
            // Every entry `put_free` wrote names a buffer; a damaged list stops the batch.
            let Some(owner) = self.owners.get_mut(index) else {
                break;
            };
            *owner = Owner::RxPosted(port.0);
            *entry = index as u16;
            taken += 1;
            count += 1;
        }
        self.taken = taken;
        // Every buffer taken was below the reserve: each lowers the deficit by one.
        let posted = count as u32;
        account.posted += posted;
        self.posted += posted;
        self.deficit -= posted;
        count
    }

    /// Starts reclaiming `port`'s finished transmits ([`TxCompletions::completed`] per
    /// buffer, checked as [`ring_returned`](Self::ring_returned) checks it); the in-flight
    /// counts change once, when the reclaim ends (it is dropped).
    pub fn tx_completions(&mut self, port: PoolPort) -> TxCompletions<'_, COUNT> {
        TxCompletions {
            taken: self.taken,
            ledger: self,
            port: port.0,
            completed: 0,
        }
    }

    /// Starts a transmit burst on `port`: held buffers move onto its ring one by one
    /// ([`TxPostBurst::post`], each handle checked as [`tx_post`](Self::tx_post) checks it),
    /// with the port's attachment and the reserve rule looked at once (posting held buffers
    /// changes neither the free buffers nor the deficit) and the counts changed once, when
    /// the burst ends (it is dropped).
    pub fn tx_burst(&mut self, port: PoolPort) -> TxPostBurst<'_, COUNT> {
        let attached = self.ports.get(port.index()).is_some_and(|a| a.attached);
        let covered = self.covers_deficit_after(0);
        TxPostBurst {
            ledger: self,
            port: port.0,
            attached,
            covered,
            posted: 0,
        }
    }

    /// Checks every record against the running counts (O(COUNT); for tests and debugging).
    ///
    /// # Errors
    /// A description of the first inconsistency found.
    pub fn check(&self) -> Result<(), &'static str> {
        let mut counts = [0u32; 4];
        let mut per_port_posted = [0u32; MAX_POOL_PORTS];
        let mut per_port_in_flight = [0u32; MAX_POOL_PORTS];
        for owner in &self.owners {
            match owner {
                Owner::Free => counts[0] += 1,
                Owner::RxPosted(port) => {
                    counts[1] += 1;
                    per_port_posted[usize::from(*port)] += 1;
                }
                Owner::Held => counts[2] += 1,
                Owner::TxInFlight(port) => {
                    counts[3] += 1;
                    per_port_in_flight[usize::from(*port)] += 1;
                }
            }
        }
        if counts[0] as usize != self.free_count() {
            return Err("free count does not match the records");
        }
        let mut seen = [false; COUNT];
        for position in 0..self.free_count() {
            let slot = self.free_entry(position);
            if slot >= COUNT || seen[slot] || self.owners[slot] != Owner::Free {
                return Err("free list names a buffer twice or one that is not free");
            }
            seen[slot] = true;
        }
        if counts[1] != self.posted || counts[2] != self.held || counts[3] != self.in_flight {
            return Err("state counts do not match the records");
        }
        let mut deficit = 0;
        for (port, account) in self.ports.iter().enumerate() {
            if account.posted != per_port_posted[port]
                || account.in_flight != per_port_in_flight[port]
            {
                return Err("per-port counts do not match the records");
            }
            if !account.attached && (account.posted != 0 || account.in_flight != 0) {
                return Err("a detached port holds buffers");
            }
            deficit += account.deficit();
        }
        if deficit != self.deficit {
            return Err("deficit does not match the ports");
        }
        if self.free_count() as u32 + self.held < self.deficit {
            return Err("free and held buffers no longer cover the RX reserves");
        }
        Ok(())
    }
}

/// A receive burst on one port ([`PoolLedger::rx_burst`]): per buffer, an ownership check and
/// move; the counts once, when it is dropped.
pub struct RxBurst<'a, const COUNT: usize> {
    ledger: &'a mut PoolLedger<COUNT>,
    port: u8,
    /// The handles' pool word (`None`: the ledger has no id, nothing is issued).
    pool: Option<NonZeroU32>,
    /// Buffers that left the port's receive ring for the caller (frames).
    issued: u32,
    /// Buffers that left it for the free list (drops).
    dropped: u32,
}

impl<const COUNT: usize> RxBurst<'_, COUNT> {
    /// A buffer the port posted came back holding a frame at `start..start + len`: the caller
    /// now holds it. `None` (nothing changed) if the buffer was not posted by this port.
    pub fn received(&mut self, index: u16, start: usize, len: usize) -> Option<PoolBuffer> {
        let slot = usize::from(index);
        let pool = self.pool?;
        let ledger = &mut *self.ledger;
        if ledger.owners.get(slot) != Some(&Owner::RxPosted(self.port)) {
            return None;
        }
        ledger.owners[slot] = Owner::Held;
        let generation = ledger.generations[slot].wrapping_add(1);
        ledger.generations[slot] = generation;
        self.issued += 1;
        Some(PoolBuffer {
            pool,
            index,
            generation,
            start: start as u16,
            len: len as u16,
        })
    }

    /// A buffer the port posted came back without a frame worth keeping (a runt, an
    /// oversized frame, a device error): it goes back to the free list. `false` (nothing
    /// changed) if the buffer was not posted by this port.
    pub fn dropped(&mut self, index: u16) -> bool {
        let slot = usize::from(index);
        if self.ledger.owners.get(slot) != Some(&Owner::RxPosted(self.port)) {
            return false;
        }
        self.ledger.put_free(slot);
        self.dropped += 1;
        true
    }
}

impl<const COUNT: usize> Drop for RxBurst<'_, COUNT> {
    fn drop(&mut self) {
        let ledger = &mut *self.ledger;
        let account = &mut ledger.ports[usize::from(self.port) % MAX_POOL_PORTS];
        let returned = self.issued + self.dropped;
        let before = account.deficit();
        account.posted -= returned;
        // The port's deficit can only have grown: fewer posted, same reserve.
        ledger.deficit += account.deficit() - before;
        ledger.posted -= returned;
        ledger.held += self.issued;
    }
}

/// Finished transmits of one port coming back ([`PoolLedger::tx_completions`]): per buffer, an
/// ownership check and a free-list push; the in-flight counts once, when it is dropped.
pub struct TxCompletions<'a, const COUNT: usize> {
    ledger: &'a mut PoolLedger<COUNT>,
    port: u8,
    completed: u32,
    /// The free list's top for the reclaim (see `put_free`), written back once.
    taken: usize,
}

impl<const COUNT: usize> TxCompletions<'_, COUNT> {
    /// The port finished transmitting buffer `index`: it goes back to the free list. `false`
    /// (nothing changed) if the buffer is not in flight on this port.
    pub fn completed(&mut self, index: u16) -> bool {
        let slot = usize::from(index);
        if self.ledger.owners.get(slot) != Some(&Owner::TxInFlight(self.port)) {
            return false;
        }
        // As `put_free`, with the list's top in the guard: the buffer is not free, so the list
        // has room (`taken >= 1`).
        let position = COUNT - self.taken;
        let Some(entry) = self.ledger.free.get_mut(position) else {
            return false;
        };
        *entry = index ^ (COUNT - 1 - position) as u16;
        self.ledger.owners[slot] = Owner::Free;
        self.taken -= 1;
        self.completed += 1;
        true
    }
}

impl<const COUNT: usize> Drop for TxCompletions<'_, COUNT> {
    fn drop(&mut self) {
        let ledger = &mut *self.ledger;
        ledger.taken = self.taken;
        ledger.ports[usize::from(self.port) % MAX_POOL_PORTS].in_flight -= self.completed;
        ledger.in_flight -= self.completed;
    }
}

/// A transmit burst on one port ([`PoolLedger::tx_burst`]): per buffer, a handle check and a
/// move onto the ring; the counts once, when it is dropped.
pub struct TxPostBurst<'a, const COUNT: usize> {
    ledger: &'a mut PoolLedger<COUNT>,
    port: u8,
    attached: bool,
    /// The free buffers cover the deficit (unchanged while the burst lasts).
    covered: bool,
    posted: u32,
}

impl<const COUNT: usize> TxPostBurst<'_, COUNT> {
    /// As [`PoolLedger::tx_post`]: if the handle is valid, the port attached and the reserves
    /// allow it, `post` gets the buffer's slot and puts it on the ring; if `post` says it did,
    /// the buffer is in flight on the port (the handle consumed), else it comes back, still
    /// held, with [`TxAdmitError::Reserve`] (no ring room).
    ///
    /// # Errors
    /// The handle's refusal (counted), [`TxAdmitError::NotAttached`], a reserve refusal
    /// (counted), or `post` refusing: the buffer comes back with the reason.
    pub fn post(
        &mut self,
        buffer: PoolBuffer,
        post: impl FnOnce(usize) -> bool,
    ) -> Result<(), (TxAdmitError, PoolBuffer)> {
        let ledger = &mut *self.ledger;
        let slot = match ledger.validate_counted(&buffer) {
            Ok(slot) => slot,
            Err(error) => return Err((TxAdmitError::Handle(error), buffer)),
        };
        if !self.attached {
            return Err((TxAdmitError::NotAttached, buffer));
        }
        if !self.covered {
            ledger.counters.reserve_refusals += 1;
            return Err((TxAdmitError::Reserve, buffer));
        }
        if !post(slot) {
            return Err((TxAdmitError::Reserve, buffer));
        }
        ledger.owners[slot] = Owner::TxInFlight(self.port);
        self.posted += 1;
        Ok(())
    }
}

impl<const COUNT: usize> Drop for TxPostBurst<'_, COUNT> {
    fn drop(&mut self) {
        let ledger = &mut *self.ledger;
        ledger.held -= self.posted;
        ledger.ports[usize::from(self.port) % MAX_POOL_PORTS].in_flight += self.posted;
        ledger.in_flight += self.posted;
    }
}

/// Why a held buffer may not go on a transmit ring now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxAdmitError {
    /// The handle was refused.
    Handle(HandleError),
    /// The port is not attached to this pool.
    NotAttached,
    /// The free buffers would no longer cover the RX reserves.
    Reserve,
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    #[test]
    fn a_new_ledger_is_all_zero_and_hands_out_every_buffer_once() {
        // All zero (no free list to fill in) is what puts a `static` pool in `.bss`.
        let ledger = PoolLedger::<8>::new();
        assert!(ledger.free.iter().all(|entry| *entry == 0) && ledger.taken == 0);
        let mut ledger = ledger;
        let issued: [PoolBuffer; 8] = core::array::from_fn(|_| ledger.allocate(128, 0).unwrap());
        let indexes: [u16; 8] = core::array::from_fn(|slot| issued[slot].index());
        assert_eq!(
            indexes,
            [0, 1, 2, 3, 4, 5, 6, 7],
            "buffer 0 first, each once"
        );
        assert!(ledger.allocate(128, 0).is_none());
        ledger.check().unwrap();
        // Released in another order, they come back last in, first out.
        let [b0, b1, b2, b3, b4, b5, b6, b7] = issued;
        for buffer in [b5, b0, b7, b1, b2, b3, b4, b6] {
            ledger.release(buffer).unwrap();
        }
        ledger.check().unwrap();
        assert_eq!(ledger.allocate(128, 0).unwrap().index(), 6);
        assert_eq!(ledger.allocate(128, 0).unwrap().index(), 4);
        assert_eq!(ledger.free(), 6);
    }

    #[test]
    fn reserves_must_fit_the_pool_and_ports_are_limited() {
        let mut ledger = PoolLedger::<64>::new();
        let first = ledger.attach(40).unwrap();
        assert_eq!(
            ledger.attach(30),
            Err(AttachError::ReserveTooLarge {
                asked: 30,
                available: 24
            })
        );
        assert_eq!(ledger.deficit(), 40);
        for _ in 1..MAX_POOL_PORTS {
            ledger.attach(0).unwrap();
        }
        assert_eq!(ledger.attach(0), Err(AttachError::NoPortSlot));
        assert!(ledger.detach(first));
        assert_eq!(ledger.deficit(), 0);
        ledger.check().unwrap();
    }

    #[test]
    fn receive_rings_fill_to_their_reserve_and_handles_carry_generations() {
        let mut ledger = PoolLedger::<16>::new();
        let port = ledger.attach(4).unwrap();
        let posted: [u16; 4] = core::array::from_fn(|_| ledger.take_for_rx(port).unwrap());
        assert_eq!(
            ledger.take_for_rx(port),
            None,
            "never more than the reserve"
        );
        assert_eq!(ledger.deficit(), 0);
        let buffer = ledger.rx_done(port, posted[0], 128, 60).unwrap();
        assert_eq!(
            (buffer.pool(), buffer.start(), buffer.len()),
            (ledger.id(), 128, 60)
        );
        assert_ne!(ledger.id(), PoolId(0));
        assert_ne!(
            ledger.id(),
            PoolLedger::<16>::new().allocate(128, 0).unwrap().pool()
        );
        assert_eq!(
            ledger.rx_done(port, posted[0], 128, 60),
            None,
            "not posted any more"
        );
        let stale = buffer.forged_copy(ledger.id(), buffer.generation());
        ledger.release(buffer).unwrap();
        assert_eq!(ledger.release(stale), Err(HandleError::Stale));
        // Re-issued buffers get a new generation.
        let again = ledger.allocate(128, 60).unwrap();
        assert_ne!(again.generation(), 0);
        assert_eq!(ledger.counters().stale_handle, 1);
        assert!(!ledger.detach(port), "buffers still on its ring");
        for index in &posted[1..] {
            assert!(ledger.reset_returned(port, *index));
        }
        assert!(ledger.detach(port));
        ledger.release(again).unwrap();
        ledger.check().unwrap();
        assert_eq!(ledger.occupancy().free, 16);
    }

    #[test]
    fn copies_and_transmits_never_eat_a_reserve() {
        // 8 buffers, reserve 6: two spare.
        let mut ledger = PoolLedger::<8>::new();
        let rx = ledger.attach(6).unwrap();
        let tx = ledger.attach(0).unwrap();
        let posted: [u16; 6] = core::array::from_fn(|_| ledger.take_for_rx(rx).unwrap());
        let received = ledger.rx_done(rx, posted[0], 128, 60).unwrap();
        // The ring misses one buffer: one of the two spare ones must stay for it.
        let copy = ledger.allocate(128, 60).unwrap();
        assert_eq!(ledger.allocate(128, 60), None);
        assert_eq!(ledger.counters().reserve_refusals, 1);
        // A transmit is admitted only while the free buffers cover the deficit.
        assert!(ledger.tx_check(tx, &copy).is_ok());
        assert!(ledger.tx_posted(tx, copy));
        assert_eq!(
            ledger.take_for_rx(rx),
            Some(7),
            "the last free buffer refills the ring"
        );
        let second = ledger.rx_done(rx, posted[1], 128, 60).unwrap();
        assert_eq!((ledger.free(), ledger.deficit()), (0, 1));
        assert_eq!(ledger.tx_check(tx, &second), Err(TxAdmitError::Reserve));
        assert_eq!(ledger.tx_check(tx, &received), Err(TxAdmitError::Reserve));
        assert_eq!(ledger.counters().reserve_refusals, 3);
        // Dropping one frame frees a buffer for the ring; then the other may go out.
        ledger.release(second).unwrap();
        assert!(ledger.tx_check(tx, &received).is_ok());
        assert!(ledger.tx_posted(tx, received));
        ledger.check().unwrap();
        assert_eq!(ledger.occupancy().tx_in_flight, 2);
        assert_eq!(ledger.port_occupancy(tx).tx_in_flight, 2);
        assert!(
            !ledger.ring_returned(rx, 6),
            "buffer 6 is on the other port's ring"
        );
        assert!(ledger.ring_returned(tx, 6));
        ledger.check().unwrap();
    }

    #[test]
    fn tx_post_moves_only_what_the_ring_took() {
        let mut ledger = PoolLedger::<8>::new();
        let tx = ledger.attach(0).unwrap();
        let buffer = ledger.allocate(128, 60).unwrap();
        let index = usize::from(buffer.index());
        // The ring refuses: the buffer comes back, still held, and nothing moved.
        let (error, buffer) = ledger.tx_post(tx, buffer, |_| false).unwrap_err();
        assert_eq!(error, TxAdmitError::Reserve);
        assert_eq!(ledger.occupancy().rx_held, 1);
        ledger.check().unwrap();
        // The ring takes it: `post` saw its slot, and it is in flight on the port.
        let mut seen = None;
        let stale = buffer.forged_copy(ledger.id(), buffer.generation());
        ledger
            .tx_post(tx, buffer, |slot| {
                seen = Some(slot);
                true
            })
            .unwrap();
        assert_eq!(seen, Some(index));
        assert_eq!(
            (
                ledger.occupancy().rx_held,
                ledger.port_occupancy(tx).tx_in_flight
            ),
            (0, 1)
        );
        ledger.check().unwrap();
        // A stale handle never reaches `post`, and is counted.
        let (error, _) = ledger
            .tx_post(tx, stale, |_| panic!("a refused handle reached the ring"))
            .unwrap_err();
        assert_eq!(error, TxAdmitError::Handle(HandleError::Stale));
        assert_eq!(ledger.counters().stale_handle, 1);
        assert!(ledger.ring_returned(tx, index as u16));
        ledger.check().unwrap();
    }

    #[test]
    fn a_receive_burst_checks_each_buffer_and_counts_once_it_ends() {
        let mut ledger = PoolLedger::<16>::new();
        let port = ledger.attach(6).unwrap();
        let other = ledger.attach(2).unwrap();
        let posted = ledger.take_for_rx_batch(port, &mut [0; 16]);
        assert_eq!(posted, 6, "never beyond the reserve");
        assert_eq!(ledger.take_for_rx_batch(other, &mut [0; 16]), 2);
        assert_eq!((ledger.deficit(), ledger.occupancy().rx_posted), (0, 8));
        ledger.check().unwrap();
        // Buffers 0..6 are on `port`'s ring, 6 and 7 on the other's.
        let (first, second) = {
            let mut burst = ledger.rx_burst(port);
            assert_eq!(burst.received(6, 128, 60), None, "the other port's buffer");
            assert!(!burst.dropped(7), "the other port's buffer");
            let first = burst.received(0, 128, 60).unwrap();
            assert_eq!(burst.received(0, 128, 60), None, "not posted any more");
            assert!(burst.dropped(1));
            assert!(!burst.dropped(1), "already free");
            let second = burst.received(2, 128, 64).unwrap();
            (first, second)
        };
        // Once the burst ended the counts are the records again.
        ledger.check().unwrap();
        let occupancy = ledger.occupancy();
        assert_eq!(
            (occupancy.rx_posted, occupancy.rx_held, occupancy.free),
            (5, 2, 9)
        );
        assert_eq!(ledger.port_occupancy(port).rx_posted, 3);
        assert_eq!(ledger.deficit(), 3);
        assert_eq!((second.index(), second.len()), (2, 64));
        // A refill posts only what the reserve misses and what the batch holds; one the
        // driver could not post goes back.
        let mut batch = [0u16; 2];
        assert_eq!(ledger.take_for_rx_batch(port, &mut batch), 2);
        assert_eq!(ledger.deficit(), 1);
        ledger.check().unwrap();
        assert!(ledger.ring_returned(port, batch[1]));
        let mut batch = [0u16; 16];
        assert_eq!(
            ledger.take_for_rx_batch(port, &mut batch),
            2,
            "the reserve's rest"
        );
        assert_eq!(ledger.deficit(), 0);
        assert_eq!(
            ledger.take_for_rx_batch(port, &mut batch),
            0,
            "reserve full"
        );
        assert_eq!(ledger.take_for_rx_batch(other, &mut []), 0, "no ring room");
        ledger.check().unwrap();
        ledger.release(first).unwrap();
        ledger.release(second).unwrap();
        ledger.check().unwrap();
    }

    #[test]
    fn a_transmit_burst_refuses_bad_handles_and_a_reserve_it_would_eat() {
        let mut ledger = PoolLedger::<8>::new();
        let rx = ledger.attach(4).unwrap();
        let tx = ledger.attach(0).unwrap();
        assert_eq!(ledger.take_for_rx_batch(rx, &mut [0; 8]), 4);
        let received: Vec<PoolBuffer> = {
            let mut burst = ledger.rx_burst(rx);
            (0..3)
                .map(|index| burst.received(index, 128, 60).unwrap())
                .collect()
        };
        let mut received = received.into_iter();
        let (a, b, c) = (
            received.next().unwrap(),
            received.next().unwrap(),
            received.next().unwrap(),
        );
        let stale = a.forged_copy(ledger.id(), a.generation().wrapping_add(1));
        let foreign = a.forged_copy(PoolId(999), a.generation());
        // Free 4, deficit 3: the reserve allows the burst.
        {
            let mut burst = ledger.tx_burst(tx);
            assert!(burst.post(a, |_| true).is_ok());
            let (error, stale) = burst
                .post(stale, |_| panic!("reached the ring"))
                .unwrap_err();
            assert_eq!(error, TxAdmitError::Handle(HandleError::Stale));
            let (error, _) = burst
                .post(foreign, |_| panic!("reached the ring"))
                .unwrap_err();
            assert_eq!(error, TxAdmitError::Handle(HandleError::WrongPool));
            // The ring is full: the buffer comes back, still held.
            let (error, b) = burst.post(b, |_| false).unwrap_err();
            assert_eq!(error, TxAdmitError::Reserve);
            assert!(burst.post(b, |_| true).is_ok());
            drop(stale);
        }
        ledger.check().unwrap();
        assert_eq!(ledger.port_occupancy(tx).tx_in_flight, 2);
        assert_eq!(
            (ledger.counters().stale_handle, ledger.counters().wrong_pool),
            (1, 1)
        );
        // Completions: only this port's in-flight buffers come back.
        {
            let mut completions = ledger.tx_completions(rx);
            assert!(!completions.completed(0), "in flight on the other port");
        }
        {
            let mut completions = ledger.tx_completions(tx);
            assert!(completions.completed(0));
            assert!(!completions.completed(0), "already back");
            assert!(!completions.completed(3), "posted for receive");
        }
        ledger.check().unwrap();
        assert_eq!(ledger.occupancy().tx_in_flight, 1);
        // Take the free buffers down to the deficit: a transmit would eat a reserve.
        let copies: Vec<PoolBuffer> = core::iter::from_fn(|| ledger.allocate(128, 60)).collect();
        assert_eq!(ledger.free(), ledger.deficit());
        // One more frame received without a refill: the free buffers no longer cover it.
        let d = ledger.rx_burst(rx).received(3, 128, 60).unwrap();
        assert!(ledger.free() < ledger.deficit());
        {
            let mut burst = ledger.tx_burst(tx);
            let (error, c) = burst.post(c, |_| panic!("reached the ring")).unwrap_err();
            assert_eq!(error, TxAdmitError::Reserve);
            drop(c);
        }
        // The allocation that stopped at the deficit, and this transmit.
        assert_eq!(ledger.counters().reserve_refusals, 2);
        ledger.check().unwrap();
        drop((copies, d));
    }
}
