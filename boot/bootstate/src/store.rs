//! Persistence: the two record copies and the program-only anti-rollback floor area.
//!
//! Records: the valid copy with the newer sequence wins; an update always rewrites the other
//! (older or invalid) copy as erase, program body, program magic. The copy that holds the
//! current state is never touched, so a power cut at any point leaves it intact.
//!
//! Sequences are compared in serial-number arithmetic (RFC 1982 style, see [`is_newer`]): the
//! next number after `u64::MAX` is 1 (0 is skipped) and counts as newer, so a copy that
//! reaches the top of the range cannot win forever and swallow every later write.
//!
//! Floor: 8-byte slots (value, !value) programmed in order and never erased. A slot counts only
//! if its complement matches, so a torn slot (which can only read *higher* than intended, as
//! NOR tearing leaves bits at 1) is ignored instead of bricking every image. The floor is the
//! largest valid slot; scanning stops at the first fully erased slot.

use crate::flash::{Flash, FlashError};
use crate::layout::{FLOOR_OFFSET, FLOOR_SLOT_SIZE, FLOOR_SLOTS, record_offset};
use crate::record::{BootRecord, RECORD_BODY_LEN, RECORD_LEN};

/// Why persisting state failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum StoreError {
    /// The flash operation failed.
    Flash(FlashError),
    /// Every floor slot is used (after 32768 raises).
    FloorFull,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::Flash(error) => write!(formatter, "boot-state flash: {error}"),
            StoreError::FloorFull => formatter.write_str("every anti-rollback floor slot is used"),
        }
    }
}

impl From<FlashError> for StoreError {
    fn from(error: FlashError) -> Self {
        StoreError::Flash(error)
    }
}

/// The records as found on flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Records {
    /// The winning record (or [`BootRecord::BLANK`] when neither copy is valid).
    pub current: BootRecord,
    /// Sequence number of each valid copy; `None` for an invalid copy.
    pub copies: [Option<u64>; 2],
}

/// Whether sequence `a` is newer than `b`: `a` is ahead of `b` by less than half the range.
/// Exactly half the range apart is neither (a tie: copy 0 wins, see [`Records::load`]).
#[must_use]
pub const fn is_newer(a: u64, b: u64) -> bool {
    let ahead = a.wrapping_sub(b);
    ahead != 0 && ahead < 1 << 63
}

/// The sequence that follows `sequence`: one more, wrapping past `u64::MAX` to 1 (0 is
/// [`BootRecord::BLANK`]'s). Always [`is_newer`] than `sequence`.
#[must_use]
pub const fn next_sequence(sequence: u64) -> u64 {
    match sequence.wrapping_add(1) {
        0 => 1,
        next => next,
    }
}

impl Records {
    /// Reads and decodes both copies.
    pub fn load<F: Flash>(flash: &mut F) -> Result<Records, FlashError> {
        let mut copies = [None; 2];
        let mut current = BootRecord::BLANK;
        let mut best: Option<u64> = None;
        for (copy, slot) in copies.iter_mut().enumerate() {
            let mut bytes = [0u8; RECORD_LEN];
            flash.read(record_offset(copy), &mut bytes)?;
            if let Ok(record) = BootRecord::decode(&bytes) {
                *slot = Some(record.sequence);
                if best.is_none_or(|sequence| is_newer(record.sequence, sequence)) {
                    best = Some(record.sequence);
                    current = record;
                }
            }
        }
        Ok(Records { current, copies })
    }

    /// How many copies are valid.
    #[must_use]
    pub fn valid_copies(&self) -> usize {
        self.copies.iter().filter(|copy| copy.is_some()).count()
    }

    /// The copy an update must rewrite: an invalid one, else the one that did not win in
    /// [`Records::load`] (the older sequence; copy 1 on a tie).
    #[must_use]
    pub fn older_copy(&self) -> usize {
        match self.copies {
            [None, _] => 0,
            [_, None] => 1,
            [Some(first), Some(second)] => usize::from(!is_newer(second, first)),
        }
    }

    /// The sequence of the winning copy; 0 when no copy is valid.
    #[must_use]
    pub fn newest_sequence(&self) -> u64 {
        match self.copies {
            [None, None] => 0,
            [Some(only), None] | [None, Some(only)] => only,
            [Some(_), Some(_)] => self.copies[1 - self.older_copy()].unwrap_or(0),
        }
    }

    /// Writes `record` (with the next sequence number) over the older copy and makes it current.
    /// Costs one erase and two programs.
    pub fn write<F: Flash>(
        &mut self,
        flash: &mut F,
        record: &BootRecord,
    ) -> Result<(), FlashError> {
        let mut next = *record;
        next.sequence = next_sequence(self.newest_sequence());
        let copy = self.older_copy();
        let offset = record_offset(copy);
        let bytes = next.encode();
        // Mark the copy invalid in memory first: whatever happens next, it no longer holds
        // what we believed.
        self.copies[copy] = None;
        flash.erase(offset)?;
        flash.program(offset, &bytes[..RECORD_BODY_LEN])?;
        // The magic goes last, in its own operation: a torn body never carries it.
        flash.program(offset + RECORD_BODY_LEN as u32, &bytes[RECORD_BODY_LEN..])?;
        self.copies[copy] = Some(next.sequence);
        self.current = next;
        Ok(())
    }
}

/// The anti-rollback floor as found on flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Floor {
    /// The floor: images with a lower security counter are refused.
    pub value: u32,
    /// The first erased slot, where the next raise goes; `None` when the area is full.
    pub next_slot: Option<u32>,
}

impl Floor {
    /// Scans the floor area.
    pub fn load<F: Flash>(flash: &mut F) -> Result<Floor, FlashError> {
        const SLOTS_PER_READ: u32 = 32;
        let mut value = 0u32;
        let mut chunk = [0u8; (SLOTS_PER_READ * FLOOR_SLOT_SIZE) as usize];
        let mut slot = 0;
        while slot < FLOOR_SLOTS {
            let count = SLOTS_PER_READ.min(FLOOR_SLOTS - slot);
            let bytes = &mut chunk[..(count * FLOOR_SLOT_SIZE) as usize];
            flash.read(FLOOR_OFFSET + slot * FLOOR_SLOT_SIZE, bytes)?;
            for (index, entry) in bytes.chunks_exact(FLOOR_SLOT_SIZE as usize).enumerate() {
                let word = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
                let check = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
                if word == u32::MAX && check == u32::MAX {
                    return Ok(Floor {
                        value,
                        next_slot: Some(slot + index as u32),
                    });
                }
                if check == !word {
                    value = value.max(word);
                }
            }
            slot += count;
        }
        Ok(Floor {
            value,
            next_slot: None,
        })
    }

    /// Raises the floor to `value` (one program), or does nothing if it is already that high.
    pub fn raise<F: Flash>(&mut self, flash: &mut F, value: u32) -> Result<(), StoreError> {
        if value <= self.value {
            return Ok(());
        }
        let slot = self.next_slot.ok_or(StoreError::FloorFull)?;
        let mut entry = [0u8; FLOOR_SLOT_SIZE as usize];
        entry[..4].copy_from_slice(&value.to_le_bytes());
        entry[4..].copy_from_slice(&(!value).to_le_bytes());
        // Consume the slot first: after a failure it may hold a torn entry.
        self.next_slot = if slot + 1 < FLOOR_SLOTS {
            Some(slot + 1)
        } else {
            None
        };
        flash.program(FLOOR_OFFSET + slot * FLOOR_SLOT_SIZE, &entry)?;
        self.value = value;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{is_newer, next_sequence};

    #[test]
    fn the_number_after_the_top_is_newer() {
        assert_eq!(next_sequence(u64::MAX), 1);
        assert_eq!(next_sequence(u64::MAX - 1), u64::MAX);
        assert_eq!(next_sequence(0), 1);
        for sequence in [0, 1, 7, 1 << 63, (1 << 63) - 1, u64::MAX - 1, u64::MAX] {
            let next = next_sequence(sequence);
            assert!(is_newer(next, sequence), "{next} after {sequence}");
            assert!(!is_newer(sequence, next), "{sequence} before {next}");
            assert!(!is_newer(sequence, sequence));
        }
    }

    #[test]
    fn half_the_range_apart_is_a_tie() {
        assert!(!is_newer(1 << 63, 0));
        assert!(!is_newer(0, 1 << 63));
        assert!(is_newer((1 << 63) - 1, 0));
        assert!(is_newer(0, (1 << 63) + 1));
    }
}
