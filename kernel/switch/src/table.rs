//! The MAC table: (VLAN, MAC) to port, open addressing, backward shift.
//!
//! Shape (VPP's bihash_8_8): the key packs the VLAN (12 bits) and the MAC (48 bits) in a `u64`;
//! a slot holds the key, the port, a static/learned flag and a coarse last-seen second. Linear
//! probing over a power-of-two array, at most half full, and no entry ever sits more than
//! [`MAX_PROBE`] slots from its home, so every lookup reads a bounded number of slots. Deletion
//! shifts the following entries back instead of leaving tombstones, so lookups never slow down
//! with churn. Aging is an incremental sweep of a few slots per call.

use core::fmt;

use crate::types::{MAX_PORTS, MacAddress, PortId, Tick, VlanId};

/// Slots in the switch's MAC table (a power of two).
pub const MAC_TABLE_SLOTS: usize = 32_768;
/// Entries the switch's MAC table holds: half the slots, so probes stay short.
pub const MAC_TABLE_CAPACITY: usize = MAC_TABLE_SLOTS / 2;
const _: () = assert!(MAC_TABLE_CAPACITY >= 16_384);

/// No entry is stored further than this from its home slot: lookups read at most this many slots.
pub const MAX_PROBE: usize = 32;
/// Slots the aging sweep examines per [`MacTable::age`] call.
pub const AGE_SLOTS_PER_CALL: usize = 64;

/// An empty slot is all zero bytes, so an empty table (and a new switch) is all zeros and a
/// `static` of it lands in `.bss`, not in the kernel image.
const EMPTY: u64 = 0;
/// Set in every stored key, so no stored key is [`EMPTY`].
const OCCUPIED: u64 = 1 << 63;
const FLAG_STATIC: u8 = 1;

/// A slot's kind from its flags.
fn kind_of(flags: u8) -> EntryKind {
    if flags & FLAG_STATIC != 0 {
        EntryKind::Static
    } else {
        EntryKind::Learned
    }
}

/// The packed key: VLAN in bits 48..60, MAC in bits 0..48, [`OCCUPIED`] set.
const fn pack(vlan: VlanId, mac: MacAddress) -> u64 {
    key_of(vlan, mac.to_u64())
}

/// The packed key of `vlan` and the address `mac` as a 48-bit integer (first octet most
/// significant, [`MacAddress::to_u64`]): what the switch builds from a frame's head. `mac`
/// has nothing above bit 47 (both sources of it guarantee that: `to_u64` and the head's
/// shifts), so it is not masked again per frame.
pub(crate) const fn key_of(vlan: VlanId, mac: u64) -> u64 {
    debug_assert!(mac >> 48 == 0);
    OCCUPIED | ((vlan.get() as u64) << 48) | mac
}

/// What the switch reads of a stored entry on the packet path: where it is (for a refresh)
/// and what it says, without turning the key back into a VLAN and an address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    /// The slot, valid until the table next changes.
    pub(crate) position: usize,
    /// Where frames to it go.
    pub(crate) port: PortId,
    /// Static or learned.
    pub(crate) kind: EntryKind,
    /// Whole second it was last seen or written.
    pub(crate) last_seen: u32,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: u64,
    last_seen: u32,
    port: u8,
    flags: u8,
}

impl Slot {
    const EMPTY: Slot = Slot {
        key: EMPTY,
        last_seen: 0,
        port: 0,
        flags: 0,
    };
}

/// Static (configured, never ages, never displaced by learning) or learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// Added by the operator.
    Static,
    /// Learned from a source address.
    Learned,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            EntryKind::Static => "static",
            EntryKind::Learned => "learned",
        })
    }
}

/// One table entry, as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The VLAN.
    pub vlan: VlanId,
    /// The address.
    pub mac: MacAddress,
    /// Where frames to it go.
    pub port: PortId,
    /// Static or learned.
    pub kind: EntryKind,
    /// Whole second (of the caller's clock) it was last seen or written.
    pub last_seen: u32,
}

/// Why an entry could not be stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableFull {
    /// The table holds its capacity.
    Capacity,
    /// No free slot within [`MAX_PROBE`] of the key's home (rare; the table is then crowded).
    Crowded,
}

impl fmt::Display for TableFull {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            TableFull::Capacity => "MAC table full",
            TableFull::Crowded => "MAC table crowded around this address",
        })
    }
}

/// The MAC table with `SLOTS` slots (a power of two, at least 16) and `SLOTS / 2` entries.
pub struct MacTable<const SLOTS: usize> {
    slots: [Slot; SLOTS],
    len: usize,
    learned_per_port: [u16; MAX_PORTS],
    age_cursor: usize,
    scan_cursor: usize,
    scan_rewound: usize,
    /// Bumped by every change of an entry's key, port, kind or slot (insert, replace, remove,
    /// and the shifts of a removal), not by a refresh of its last-seen second: a reader that
    /// saw the same generation twice saw the same entries in the same slots.
    generation: u64,
}

impl<const SLOTS: usize> Default for MacTable<SLOTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const SLOTS: usize> MacTable<SLOTS> {
    const VALID: () =
        assert!(SLOTS.is_power_of_two() && SLOTS >= 16 && SLOTS / 2 <= u16::MAX as usize);
    const SHIFT: u32 = 64 - SLOTS.trailing_zeros();
    const MASK: usize = SLOTS - 1;
    /// Entries this table holds.
    pub const CAPACITY: usize = SLOTS / 2;

    /// An empty table.
    pub const fn new() -> Self {
        let () = Self::VALID;
        MacTable {
            slots: [Slot::EMPTY; SLOTS],
            len: 0,
            learned_per_port: [0; MAX_PORTS],
            age_cursor: 0,
            scan_cursor: 0,
            scan_rewound: 0,
            generation: 0,
        }
    }

    /// The table's generation: it changes whenever an entry is stored, replaced or removed
    /// (or moved to another slot by a removal), and not when a last-seen second is refreshed.
    /// The switch keeps what it read of the table for the next frame of a burst under it.
    pub(crate) const fn generation(&self) -> u64 {
        self.generation
    }

    /// Entries stored.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No entries.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Learned entries on `port`.
    pub fn learned_on(&self, port: PortId) -> usize {
        usize::from(self.learned_per_port[port.index()])
    }

    /// Fibonacci hashing: the high bits of key times 2^64 / phi spread sequential MACs evenly.
    fn home(key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> Self::SHIFT) as usize
    }

    // Inlined: as a call it made the fast path save and restore a dozen live registers
    // around each probe.
    #[inline(always)]
    fn find(&self, key: u64) -> Option<usize> {
        let mut index = Self::home(key);
        for _ in 0..MAX_PROBE {
            let slot_key = self.slots[index].key;
            if slot_key == key {
                return Some(index);
            }
            if slot_key == EMPTY {
                return None;
            }
            index = (index + 1) & Self::MASK;
        }
        None
    }

    fn entry_at(&self, index: usize) -> Option<Entry> {
        let slot = self.slots[index];
        if slot.key == EMPTY {
            return None;
        }
        Some(Entry {
            vlan: VlanId::new(((slot.key >> 48) & 0x0fff) as u16)?,
            mac: MacAddress::from_u64(slot.key),
            port: PortId::new(slot.port)?,
            kind: kind_of(slot.flags),
            last_seen: slot.last_seen,
        })
    }

    /// The entry stored under `key` ([`key_of`]), if any: one probe, no [`Entry`] built.
    /// Inlined, so the result stays in registers (as a call it came back through memory).
    #[inline(always)]
    pub(crate) fn find_key(&self, key: u64) -> Option<Found> {
        let position = self.find(key)?;
        let slot = &self.slots[position];
        Some(Found {
            position,
            port: PortId::new(slot.port)?,
            kind: kind_of(slot.flags),
            last_seen: slot.last_seen,
        })
    }

    /// The entry for (`vlan`, `mac`), if stored.
    pub fn get(&self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        self.find(pack(vlan, mac))
            .and_then(|index| self.entry_at(index))
    }

    /// Where the entry for (`vlan`, `mac`) is stored: for a look followed by a refresh of the
    /// same entry with one probe ([`MacTable::entry_at_position`], [`MacTable::touch_at`]).
    /// Valid until the table next changes.
    pub fn position(&self, vlan: VlanId, mac: MacAddress) -> Option<usize> {
        self.find(pack(vlan, mac))
    }

    /// The entry stored at `position` (from [`MacTable::position`]), if any.
    pub fn entry_at_position(&self, position: usize) -> Option<Entry> {
        if position >= SLOTS {
            return None;
        }
        self.entry_at(position)
    }

    /// As [`MacTable::touch`], for the entry at `position` (from [`MacTable::position`]).
    pub fn touch_at(&mut self, position: usize, now: Tick) -> bool {
        let second = now.coarse_seconds();
        match self.slots.get_mut(position) {
            Some(slot) if slot.key != EMPTY && slot.last_seen != second => {
                slot.last_seen = second;
                true
            }
            _ => false,
        }
    }

    /// Stores or replaces the entry for (`vlan`, `mac`). Replacing keeps the slot; per-port
    /// learned counts follow the change.
    pub fn insert(
        &mut self,
        vlan: VlanId,
        mac: MacAddress,
        port: PortId,
        kind: EntryKind,
        now: Tick,
    ) -> Result<(), TableFull> {
        let key = pack(vlan, mac);
        let flags = match kind {
            EntryKind::Static => FLAG_STATIC,
            EntryKind::Learned => 0,
        };
        let new_slot = Slot {
            key,
            last_seen: now.coarse_seconds(),
            port: port.number(),
            flags,
        };
        if let Some(index) = self.find(key) {
            self.generation = self.generation.wrapping_add(1);
            self.uncount(self.slots[index]);
            self.slots[index] = new_slot;
            self.count(new_slot);
            return Ok(());
        }
        if self.len >= Self::CAPACITY {
            return Err(TableFull::Capacity);
        }
        let mut index = Self::home(key);
        for _ in 0..MAX_PROBE {
            if self.slots[index].key == EMPTY {
                self.generation = self.generation.wrapping_add(1);
                self.slots[index] = new_slot;
                self.len += 1;
                self.count(new_slot);
                return Ok(());
            }
            index = (index + 1) & Self::MASK;
        }
        Err(TableFull::Crowded)
    }

    /// Marks the entry as seen at `now`, only if its stored second differs (no store per
    /// packet). Returns whether it wrote.
    pub fn touch(&mut self, vlan: VlanId, mac: MacAddress, now: Tick) -> bool {
        let second = now.coarse_seconds();
        match self.find(pack(vlan, mac)) {
            Some(index) if self.slots[index].last_seen != second => {
                self.slots[index].last_seen = second;
                true
            }
            _ => false,
        }
    }

    fn count(&mut self, slot: Slot) {
        if slot.flags & FLAG_STATIC == 0
            && let Some(port) = PortId::new(slot.port)
        {
            self.learned_per_port[port.index()] += 1;
        }
    }

    fn uncount(&mut self, slot: Slot) {
        if slot.flags & FLAG_STATIC == 0
            && let Some(port) = PortId::new(slot.port)
        {
            let count = &mut self.learned_per_port[port.index()];
            *count = count.saturating_sub(1);
        }
    }

    /// Removes the entry for (`vlan`, `mac`); returns it if there was one.
    pub fn remove(&mut self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        let index = self.find(pack(vlan, mac))?;
        let entry = self.entry_at(index);
        self.remove_at(index);
        entry
    }

    /// Backward-shift deletion: pull later entries of the cluster into the hole when that brings
    /// them closer to home, so no tombstones are needed and no entry moves away from home.
    fn remove_at(&mut self, index: usize) {
        self.generation = self.generation.wrapping_add(1);
        self.uncount(self.slots[index]);
        self.len -= 1;
        let mut hole = index;
        let mut next = (index + 1) & Self::MASK;
        loop {
            let key = self.slots[next].key;
            // An entry further than MAX_PROBE from the hole has its home past the hole.
            if key == EMPTY || ((next.wrapping_sub(hole)) & Self::MASK) >= MAX_PROBE {
                break;
            }
            let home = Self::home(key);
            let hole_distance = hole.wrapping_sub(home) & Self::MASK;
            let next_distance = next.wrapping_sub(home) & Self::MASK;
            if hole_distance < next_distance {
                self.slots[hole] = self.slots[next];
                // Keep the sweeps' promise: an entry a cursor has not passed yet may not slip
                // behind it.
                let moved_distance = next.wrapping_sub(hole) & Self::MASK;
                let age_distance = self.age_cursor.wrapping_sub(hole) & Self::MASK;
                if age_distance != 0 && age_distance <= moved_distance {
                    self.age_cursor = hole;
                }
                let scan_distance = self.scan_cursor.wrapping_sub(hole) & Self::MASK;
                if scan_distance != 0 && scan_distance <= moved_distance {
                    self.scan_cursor = hole;
                    self.scan_rewound += scan_distance;
                }
                hole = next;
            }
            next = (next + 1) & Self::MASK;
        }
        self.slots[hole] = Slot::EMPTY;
    }

    /// Whether a learned entry last seen at `last_seen` has expired at `now` (an entry from
    /// the future, after a clock step back, has not).
    pub fn expired(last_seen: u32, now: Tick, aging_seconds: u32) -> bool {
        aging_seconds != 0 && now.coarse_seconds().saturating_sub(last_seen) >= aging_seconds
    }

    /// One step of the aging sweep: examines up to [`AGE_SLOTS_PER_CALL`] slots and removes
    /// expired learned entries (`aging_seconds` 0 means never). Returns how many it removed.
    ///
    /// Every entry is examined within `(SLOTS + CAPACITY) / AGE_SLOTS_PER_CALL` calls.
    pub fn age(&mut self, now: Tick, aging_seconds: u32) -> usize {
        let mut removed = 0;
        for _ in 0..AGE_SLOTS_PER_CALL {
            let index = self.age_cursor;
            let slot = self.slots[index];
            if slot.key != EMPTY
                && slot.flags & FLAG_STATIC == 0
                && Self::expired(slot.last_seen, now, aging_seconds)
            {
                // The hole is refilled by a later entry: examine this slot again.
                self.remove_at(index);
                removed += 1;
            } else {
                self.age_cursor = (index + 1) & Self::MASK;
            }
        }
        removed
    }

    /// Removes every entry for which `condition` holds (a full scan: config changes only).
    pub fn remove_where(&mut self, mut condition: impl FnMut(&Entry) -> bool) {
        let mut index = 0;
        while index < SLOTS {
            match self.entry_at(index) {
                Some(entry) if condition(&entry) => {
                    // A later entry may shift into this slot: examine it again. Entries that
                    // shift across the wrap into the last slots were examined already.
                    self.remove_at(index);
                }
                _ => index += 1,
            }
        }
    }

    /// Every entry, in slot order (a full scan: for the console and the API, not the fast path).
    pub fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..SLOTS).filter_map(|index| self.entry_at(index))
    }

    /// The entries in slots `first..`, with their slot, in slot order: the management API
    /// pages the table by slot, so a page costs the slots it covers, not a scan from slot 0.
    pub fn iter_from(&self, first: usize) -> impl Iterator<Item = (usize, Entry)> + '_ {
        (first.min(SLOTS)..SLOTS)
            .filter_map(|index| self.entry_at(index).map(|entry| (index, entry)))
    }

    /// One step of the general-purpose incremental scan (the switch's failover announcements):
    /// the entry in the scan cursor's slot, if any, and the cursor moves on.
    ///
    /// When a deletion shifts an entry from ahead of the cursor to behind it, the cursor moves
    /// back with it; [`MacTable::take_scan_rewind`] says by how many slots. A round of `SLOTS`
    /// steps plus those slots visits every entry present throughout the round.
    pub fn scan_step(&mut self) -> Option<Entry> {
        let entry = self.entry_at(self.scan_cursor);
        self.scan_cursor = (self.scan_cursor + 1) & Self::MASK;
        entry
    }

    /// Slots the scan cursor was moved back since the last call (see [`MacTable::scan_step`]).
    pub fn take_scan_rewind(&mut self) -> usize {
        core::mem::take(&mut self.scan_rewound)
    }

    /// Number of slots.
    pub const fn slots(&self) -> usize {
        SLOTS
    }

    /// Checks the table's invariants (tests): counts, probe bound, every entry findable.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let mut len = 0;
        let mut learned = [0u16; MAX_PORTS];
        for index in 0..SLOTS {
            let slot = self.slots[index];
            if slot.key == EMPTY {
                continue;
            }
            len += 1;
            let distance = index.wrapping_sub(Self::home(slot.key)) & Self::MASK;
            if distance >= MAX_PROBE {
                return Err("an entry sits too far from its home slot");
            }
            if self.find(slot.key) != Some(index) {
                return Err("an entry cannot be found from its home slot");
            }
            if slot.flags & FLAG_STATIC == 0 {
                match PortId::new(slot.port) {
                    Some(port) => learned[port.index()] += 1,
                    None => return Err("an entry names no port"),
                }
            }
        }
        if len != self.len {
            return Err("the entry count is wrong");
        }
        if learned != self.learned_per_port {
            return Err("a per-port learned count is wrong");
        }
        if len > Self::CAPACITY {
            return Err("the table holds more than its capacity");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(n: u64) -> MacAddress {
        MacAddress::from_u64(0x0200_0000_0000 | n)
    }

    fn port(n: u8) -> PortId {
        PortId::new(n).unwrap()
    }

    const V1: VlanId = VlanId::DEFAULT;

    #[test]
    fn position_reads_and_refreshes_the_same_entry_as_get_and_touch() {
        let mut table = MacTable::<64>::new();
        assert_eq!(table.position(V1, mac(1)), None);
        table
            .insert(V1, mac(1), port(3), EntryKind::Learned, Tick::from_secs(5))
            .unwrap();
        let position = table.position(V1, mac(1)).unwrap();
        assert_eq!(table.entry_at_position(position), table.get(V1, mac(1)));
        assert_eq!(table.entry_at_position(64), None);
        // A refresh writes only when the second changed.
        assert!(!table.touch_at(position, Tick::from_secs(5)));
        assert!(table.touch_at(position, Tick::from_secs(7)));
        assert_eq!(table.get(V1, mac(1)).unwrap().last_seen, 7);
        assert!(!table.touch_at(64, Tick::from_secs(9)));
        table.remove(V1, mac(1));
        assert!(!table.touch_at(position, Tick::from_secs(9)));
        table.check_invariants().unwrap();
    }

    #[test]
    fn insert_get_replace_remove() {
        let mut table = MacTable::<64>::new();
        let now = Tick::from_secs(5);
        table
            .insert(V1, mac(1), port(1), EntryKind::Learned, now)
            .unwrap();
        let entry = table.get(V1, mac(1)).unwrap();
        assert_eq!(
            (entry.port, entry.kind, entry.last_seen),
            (port(1), EntryKind::Learned, 5)
        );
        assert_eq!(table.get(VlanId::new(2).unwrap(), mac(1)), None);
        table
            .insert(V1, mac(1), port(2), EntryKind::Static, now)
            .unwrap();
        assert_eq!(table.len(), 1);
        assert_eq!(table.learned_on(port(1)), 0);
        assert_eq!(table.get(V1, mac(1)).unwrap().kind, EntryKind::Static);
        assert!(table.remove(V1, mac(1)).is_some());
        assert!(table.remove(V1, mac(1)).is_none());
        assert!(table.is_empty());
        table.check_invariants().unwrap();
    }

    #[test]
    fn iter_from_a_slot_resumes_the_slot_order() {
        let mut table = MacTable::<64>::new();
        for n in 0..20 {
            table
                .insert(V1, mac(n), port(1), EntryKind::Learned, Tick::from_secs(1))
                .unwrap();
        }
        let all: heapless::Vec<(usize, Entry), 32> = table.iter_from(0).collect();
        assert_eq!(all.len(), 20);
        assert!(all.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let (slot, _) = all[7];
        let rest: heapless::Vec<(usize, Entry), 32> = table.iter_from(slot + 1).collect();
        assert_eq!(&rest[..], &all[8..]);
        assert_eq!(table.iter_from(64).count(), 0);
        assert_eq!(table.iter_from(usize::MAX).count(), 0);
    }

    #[test]
    fn capacity_is_half_the_slots() {
        let mut table = MacTable::<64>::new();
        let mut stored = 0;
        for n in 0..100 {
            if table
                .insert(V1, mac(n), port(1), EntryKind::Learned, Tick(0))
                .is_ok()
            {
                stored += 1;
            }
        }
        assert_eq!(stored, 32);
        assert_eq!(table.len(), MacTable::<64>::CAPACITY);
        table.check_invariants().unwrap();
    }

    /// Backward-shift deletion against a model, with keys chosen to collide.
    #[test]
    fn deletion_keeps_every_other_entry_findable() {
        let mut table = MacTable::<16>::new();
        // Keys whose home is slot 3, so they form one cluster that wraps nothing.
        let colliding: heapless::Vec<u64, 8> = (0..4096u64)
            .filter(|n| MacTable::<16>::home(pack(V1, mac(*n))) == 3)
            .take(5)
            .collect();
        let near: heapless::Vec<u64, 8> = (0..4096u64)
            .filter(|n| MacTable::<16>::home(pack(V1, mac(*n))) == 4)
            .take(3)
            .collect();
        for n in colliding.iter().chain(near.iter()) {
            table
                .insert(V1, mac(*n), port(1), EntryKind::Learned, Tick(0))
                .unwrap();
        }
        table.check_invariants().unwrap();
        for (removed, n) in colliding.iter().enumerate() {
            assert!(table.remove(V1, mac(*n)).is_some());
            table.check_invariants().unwrap();
            for (index, other) in colliding.iter().enumerate() {
                assert_eq!(table.get(V1, mac(*other)).is_some(), index > removed);
            }
            for other in &near {
                assert!(table.get(V1, mac(*other)).is_some());
            }
        }
    }

    #[test]
    fn deletion_across_the_wrap() {
        let mut table = MacTable::<16>::new();
        let keys: heapless::Vec<u64, 8> = (0..4096u64)
            .filter(|n| MacTable::<16>::home(pack(V1, mac(*n))) == 15)
            .take(4)
            .collect();
        for n in &keys {
            table
                .insert(V1, mac(*n), port(2), EntryKind::Learned, Tick(0))
                .unwrap();
        }
        table.check_invariants().unwrap();
        table.remove(V1, mac(keys[0])).unwrap();
        table.check_invariants().unwrap();
        for n in &keys[1..] {
            assert!(table.get(V1, mac(*n)).is_some());
        }
    }

    #[test]
    fn aging_removes_learned_keeps_static() {
        let mut table = MacTable::<256>::new();
        for n in 0..100 {
            let kind = if n % 10 == 0 {
                EntryKind::Static
            } else {
                EntryKind::Learned
            };
            table
                .insert(V1, mac(n), port(1), kind, Tick::from_secs(1))
                .unwrap();
        }
        // Nothing expires early.
        for _ in 0..100 {
            assert_eq!(table.age(Tick::from_secs(300), 300), 0);
        }
        let bound = (256 + MacTable::<256>::CAPACITY).div_ceil(AGE_SLOTS_PER_CALL);
        let mut removed = 0;
        for _ in 0..bound {
            removed += table.age(Tick::from_secs(301), 300);
        }
        assert_eq!(removed, 90);
        assert_eq!(table.len(), 10);
        table.check_invariants().unwrap();
        // Aging 0 never expires.
        table
            .insert(V1, mac(500), port(1), EntryKind::Learned, Tick(0))
            .unwrap();
        for _ in 0..bound {
            table.age(Tick::from_secs(1_000_000), 0);
        }
        assert!(table.get(V1, mac(500)).is_some());
    }

    #[test]
    fn remove_where_scans_everything() {
        let mut table = MacTable::<64>::new();
        for n in 0..32 {
            let port = port(if n % 2 == 0 { 1 } else { 2 });
            table
                .insert(V1, mac(n), port, EntryKind::Learned, Tick(0))
                .unwrap();
        }
        table.remove_where(|entry| entry.port.number() == 1);
        assert_eq!(table.len(), 16);
        assert_eq!(table.learned_on(port(1)), 0);
        assert!(table.iter().all(|entry| entry.port.number() == 2));
        table.check_invariants().unwrap();
    }

    /// The scan visits every entry present throughout a round, though deletions shift entries
    /// behind its cursor.
    #[test]
    fn scan_round_survives_deletions() {
        extern crate std;
        use std::collections::BTreeSet;
        for seed in 0..5000u64 {
            let mut random = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let mut next = move || {
                random = random
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                random >> 33
            };
            let mut table = MacTable::<64>::new();
            let mut present: BTreeSet<u64> = BTreeSet::new();
            while present.len() < 30 {
                let n = next() % 200;
                if table
                    .insert(V1, mac(n), port(1), EntryKind::Learned, Tick(0))
                    .is_ok()
                {
                    present.insert(n);
                }
            }
            // Move the cursor somewhere arbitrary first.
            for _ in 0..next() % 64 {
                table.scan_step();
            }
            table.take_scan_rewind();
            let mut survivors = present.clone();
            let mut visited = BTreeSet::new();
            let mut left = 64;
            while left > 0 {
                if next() % 3 == 0 && !present.is_empty() {
                    let victim = *present.iter().nth(next() as usize % present.len()).unwrap();
                    table.remove(V1, mac(victim)).unwrap();
                    present.remove(&victim);
                    survivors.remove(&victim);
                    left += table.take_scan_rewind();
                }
                if let Some(entry) = table.scan_step() {
                    visited.insert(entry.mac.to_u64() & 0xffff_ffff);
                }
                left -= 1;
            }
            assert!(
                survivors.is_subset(&visited),
                "seed {seed}: {survivors:?} not all in {visited:?}"
            );
            table.check_invariants().unwrap();
        }
    }
}
