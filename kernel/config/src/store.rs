//! Two copies of the config in flash1's config area, each in its own sector.
//!
//! A copy is, at the start of its sector: `magic u32` ("DCF1"), then `store format u32 = 1`,
//! `sequence u64`, `payload length u32`, the payload ([`crate::codec`]) padded with 0xFF to a
//! multiple of 4, and a CRC-32 of everything from the store format to the end of the padding.
//! A save rewrites the copy that does not hold the newest config: erase, program everything
//! after the magic, then program the magic in its own operation. The newest copy is never
//! touched, so a power cut at any point leaves the old config or the new one. Sequences use
//! the boot-state record's serial-number order ([`bootstate::store::is_newer`]).
//!
//! On load the newest copy with a good magic and CRC wins. If its payload does not decode or
//! validate, the defaults run ([`LoadOutcome::Refused`]) and the bytes stay where they are:
//! the next save writes the *other* copy. A copy whose magic is ours but whose CRC or length
//! is wrong is damaged; with no good copy at all that is refused too (a torn save never has
//! the magic, so damage means the flash changed under us).

use core::fmt;

use bootstate::crc32::{crc32, crc32_continue};
use bootstate::layout::{CONFIG_COPY0_OFFSET, CONFIG_COPY1_OFFSET};
use bootstate::store::{is_newer, next_sequence};
use bootstate::{Flash, FlashError};

use crate::RunningConfig;
use crate::codec::{self, DecodeError, DecodeNotes, EncodeError, MAX_PAYLOAD};

/// Marks a complete copy ("DCF1" read as a little-endian u32); programmed last.
pub const COPY_MAGIC: u32 = u32::from_le_bytes(*b"DCF1");
/// The store framing's format number.
pub const STORE_FORMAT: u32 = 1;
/// Bytes before the payload: magic, store format, sequence, payload length.
pub const HEADER_LEN: usize = 20;
/// The largest copy: header, padded payload, CRC.
pub const MAX_COPY_LEN: usize = HEADER_LEN + MAX_PAYLOAD + 4;

/// The sector offset (in flash1) of copy 0 or 1.
pub const fn copy_offset(copy: usize) -> u32 {
    if copy == 0 {
        CONFIG_COPY0_OFFSET
    } else {
        CONFIG_COPY1_OFFSET
    }
}

/// What one copy's sector holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyState {
    /// No magic: erased, or a save that never finished.
    Empty,
    /// The magic is not ours and not erased (not a config copy).
    Unrecognised,
    /// Our magic, but the framing is wrong: the text says how.
    Damaged(&'static str),
    /// A complete copy: its sequence and payload length.
    Good {
        /// The save's sequence number.
        sequence: u64,
        /// Payload bytes.
        length: u32,
    },
}

impl fmt::Display for CopyState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyState::Empty => formatter.write_str("empty"),
            CopyState::Unrecognised => formatter.write_str("not a config copy"),
            CopyState::Damaged(how) => write!(formatter, "damaged ({how})"),
            CopyState::Good { sequence, length } => {
                write!(formatter, "save {sequence}, {length} bytes")
            }
        }
    }
}

/// Why a load found no usable config although one is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The newest good copy does not decode or validate.
    Decode(DecodeError),
    /// No good copy; this one carries our magic but is damaged.
    Damaged(&'static str),
}

impl fmt::Display for Refusal {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Decode(error) => write!(formatter, "{error}"),
            Refusal::Damaged(how) => write!(formatter, "damaged ({how})"),
        }
    }
}

/// What a load found.
// The config lives inline: no heap, and there is one load per boot.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    /// Nothing stored: run the defaults.
    Empty,
    /// The stored config.
    Loaded {
        /// The config.
        config: RunningConfig,
        /// Which copy it came from.
        copy: usize,
        /// Its save's sequence number.
        sequence: u64,
        /// What decoding noticed.
        notes: DecodeNotes,
    },
    /// A config is stored but cannot be used: run the defaults, keep the bytes.
    Refused {
        /// Which copy.
        copy: usize,
        /// Its sequence (0 when the copy is damaged).
        sequence: u64,
        /// Why.
        refusal: Refusal,
    },
}

/// Why a save or clear failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The flash operation failed.
    Flash(FlashError),
    /// The config does not encode.
    Encode(EncodeError),
}

impl fmt::Display for StoreError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Flash(error) => write!(formatter, "config flash: {error}"),
            StoreError::Encode(error) => write!(formatter, "{error}"),
        }
    }
}

impl From<FlashError> for StoreError {
    fn from(error: FlashError) -> Self {
        StoreError::Flash(error)
    }
}

/// The two copies' states, as last read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigStore {
    copies: [CopyState; 2],
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

const fn padded(length: usize) -> usize {
    length.div_ceil(4) * 4
}

/// Reads one copy's framing into `buffer` (at least [`MAX_COPY_LEN`] bytes); on `Good` the
/// payload is `buffer[HEADER_LEN..HEADER_LEN + length]`.
fn read_copy<F: Flash>(
    flash: &mut F,
    copy: usize,
    buffer: &mut [u8; MAX_COPY_LEN],
) -> Result<CopyState, FlashError> {
    let offset = copy_offset(copy);
    flash.read(offset, &mut buffer[..HEADER_LEN])?;
    match read_u32(buffer, 0) {
        u32::MAX => return Ok(CopyState::Empty),
        COPY_MAGIC => {}
        _ => return Ok(CopyState::Unrecognised),
    }
    if read_u32(buffer, 4) != STORE_FORMAT {
        return Ok(CopyState::Damaged("unknown store format"));
    }
    let sequence = u64::from_le_bytes([
        buffer[8], buffer[9], buffer[10], buffer[11], buffer[12], buffer[13], buffer[14],
        buffer[15],
    ]);
    let length = read_u32(buffer, 16);
    if length as usize > MAX_PAYLOAD {
        return Ok(CopyState::Damaged("payload length too large"));
    }
    let end = HEADER_LEN + padded(length as usize);
    flash.read(offset + HEADER_LEN as u32, &mut buffer[HEADER_LEN..end + 4])?;
    if crc32(&buffer[4..end]) != read_u32(buffer, end) {
        return Ok(CopyState::Damaged("crc mismatch"));
    }
    Ok(CopyState::Good { sequence, length })
}

impl ConfigStore {
    /// Reads both copies and decodes the winner. `buffer` is scratch space.
    pub fn load<F: Flash>(
        flash: &mut F,
        buffer: &mut [u8; MAX_COPY_LEN],
    ) -> Result<(ConfigStore, LoadOutcome), FlashError> {
        let mut copies = [CopyState::Empty; 2];
        for (copy, state) in copies.iter_mut().enumerate() {
            *state = read_copy(flash, copy, buffer)?;
        }
        let store = ConfigStore { copies };
        let Some(winner) = store.newest() else {
            let damaged = copies
                .iter()
                .enumerate()
                .find_map(|(copy, state)| match state {
                    CopyState::Damaged(how) => Some((copy, *how)),
                    _ => None,
                });
            let outcome = match damaged {
                Some((copy, how)) => LoadOutcome::Refused {
                    copy,
                    sequence: 0,
                    refusal: Refusal::Damaged(how),
                },
                None => LoadOutcome::Empty,
            };
            return Ok((store, outcome));
        };
        // Read the winner again: the buffer holds whichever copy was read last.
        let CopyState::Good { sequence, length } = read_copy(flash, winner, buffer)? else {
            return Ok((
                store,
                LoadOutcome::Refused {
                    copy: winner,
                    sequence: 0,
                    refusal: Refusal::Damaged("changed while read"),
                },
            ));
        };
        let payload = &buffer[HEADER_LEN..HEADER_LEN + length as usize];
        let outcome = match codec::decode(payload) {
            Ok((config, notes)) => LoadOutcome::Loaded {
                config,
                copy: winner,
                sequence,
                notes,
            },
            Err(error) => LoadOutcome::Refused {
                copy: winner,
                sequence,
                refusal: Refusal::Decode(error),
            },
        };
        Ok((store, outcome))
    }

    /// What each copy held when last read or written.
    pub fn copies(&self) -> [CopyState; 2] {
        self.copies
    }

    /// The copy with the newest good save (copy 0 on a tie).
    pub fn newest(&self) -> Option<usize> {
        match self.copies {
            [
                CopyState::Good {
                    sequence: first, ..
                },
                CopyState::Good {
                    sequence: second, ..
                },
            ] => Some(usize::from(is_newer(second, first))),
            [CopyState::Good { .. }, _] => Some(0),
            [_, CopyState::Good { .. }] => Some(1),
            _ => None,
        }
    }

    /// The sequence of the newest good save; 0 without one.
    pub fn newest_sequence(&self) -> u64 {
        match self.newest().map(|copy| self.copies[copy]) {
            Some(CopyState::Good { sequence, .. }) => sequence,
            _ => 0,
        }
    }

    /// Saves `config` (one erase, two programs) over the copy that is not the newest, so the
    /// newest (loaded or refused) survives until this save is complete. `buffer` is scratch.
    /// Returns the new save's sequence.
    pub fn save<F: Flash>(
        &mut self,
        flash: &mut F,
        config: &RunningConfig,
        buffer: &mut [u8; MAX_COPY_LEN],
    ) -> Result<u64, StoreError> {
        let length = codec::encode(config, &mut buffer[HEADER_LEN..HEADER_LEN + MAX_PAYLOAD])
            .map_err(StoreError::Encode)?;
        let end = HEADER_LEN + padded(length);
        buffer[HEADER_LEN + length..end].fill(0xFF);
        let sequence = next_sequence(self.newest_sequence());
        buffer[0..4].copy_from_slice(&COPY_MAGIC.to_le_bytes());
        buffer[4..8].copy_from_slice(&STORE_FORMAT.to_le_bytes());
        buffer[8..16].copy_from_slice(&sequence.to_le_bytes());
        // At most MAX_PAYLOAD bytes: fits.
        buffer[16..20].copy_from_slice(&(length as u32).to_le_bytes());
        let crc = crc32_continue(0, &buffer[4..end]);
        buffer[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        // Never the newest good copy; without one, spare a damaged copy (kept for inspection)
        // if the other sector is free.
        let copy = match self.newest() {
            Some(newest) => 1 - newest,
            None => usize::from(matches!(self.copies[0], CopyState::Damaged(_))),
        };
        let offset = copy_offset(copy);
        // From here the copy no longer holds what we believed, whatever happens next.
        self.copies[copy] = CopyState::Empty;
        flash.erase(offset)?;
        flash.program(offset + 4, &buffer[4..end + 4])?;
        // The magic last, in its own operation: a torn body never carries it.
        flash.program(offset, &buffer[0..4])?;
        self.copies[copy] = CopyState::Good {
            sequence,
            length: length as u32,
        };
        Ok(sequence)
    }

    /// Erases both copies: the next boot runs the defaults. The older copy goes first, so a
    /// cut in between leaves the newest config.
    pub fn clear<F: Flash>(&mut self, flash: &mut F) -> Result<(), StoreError> {
        let newest = self.newest().unwrap_or(1);
        for copy in [1 - newest, newest] {
            self.copies[copy] = CopyState::Empty;
            flash.erase(copy_offset(copy))?;
        }
        Ok(())
    }
}
