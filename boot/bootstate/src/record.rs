//! The boot-state record: per-bank state, preferred bank, settings, and its byte codec.
//!
//! One record is `RECORD_LEN` bytes at the start of its sector: a body that ends in a CRC-32,
//! then a 32-bit magic programmed by a separate, later operation, so a torn write never carries
//! the magic. All integers are little-endian. The layout table is in `docs/boot-layout.md`.

pub use crate::bank::Bank;
use crate::crc32::crc32;
use crate::layout::{DEFAULT_ROLLBACK_WINDOW_MS, DEFAULT_TRIAL_TRIES};
use core::fmt;

/// Default health window (jumpstart soak period) in milliseconds: a trial commits only after it
/// stayed healthy this long. Records written before the field existed read as this.
pub const DEFAULT_HEALTH_WINDOW_MS: u32 = 10_000;
/// Largest health window the record holds (the field's top bit marks it as set).
pub const MAX_HEALTH_WINDOW_MS: u32 = 0x7fff_ffff;
/// Bit 31 of the stored health window: set when the field was written by firmware that knows
/// it. Format-1 records from before the field have 0 in these bytes, which reads as the default.
const HEALTH_WINDOW_SET: u32 = 0x8000_0000;

/// Magic marking a complete record ("BST1" read as a little-endian u32).
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"BST1");
/// Record format number stored in the body; bumped on an incompatible layout change.
pub const RECORD_FORMAT: u32 = 1;
/// Length of the body including its trailing CRC-32.
pub const RECORD_BODY_LEN: usize = 160;
/// Length of body plus magic.
pub const RECORD_LEN: usize = RECORD_BODY_LEN + 4;
/// Encoded length of one [`BankInfo`].
pub const BANK_INFO_LEN: usize = 64;

const BANKS_OFFSET: usize = 24;
const CRC_OFFSET: usize = RECORD_BODY_LEN - 4;

const _: () = {
    assert!(RECORD_BODY_LEN.is_multiple_of(4) && RECORD_LEN.is_multiple_of(4));
    assert!(BANKS_OFFSET + 2 * BANK_INFO_LEN <= CRC_OFFSET);
    assert!(RECORD_MAGIC != u32::MAX && RECORD_MAGIC != 0);
};

/// Lifecycle state of a bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankState {
    /// Nothing usable has ever been written.
    Empty,
    /// The kernel is staging an image: contents are incomplete, never boot it.
    Writing,
    /// Verified and activated, not yet committed: boots while tries are left.
    Trial,
    /// Committed (jumpstart passed): the bank to boot.
    Good,
    /// Failed; see the bank's reason and stage.
    Bad,
    /// Was Good, replaced by a newer commit; still a manual-rollback target.
    Superseded,
}

/// Why a bank was marked Bad (or left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// No failure recorded.
    None,
    /// The kernel's health check failed before jumpstart.
    HealthCheck,
    /// A trial used all its tries without committing (it hung or reset).
    TriesExhausted,
    /// The image's SHA-256 does not match.
    Hash,
    /// The Ed25519 signature does not verify.
    Signature,
    /// The image was signed by a key we do not trust.
    UnknownKey,
    /// The image's security counter is below the anti-rollback floor.
    SecurityCounter,
    /// Lengths are inconsistent or the image is truncated.
    Length,
    /// The image is malformed (magic, TLV structure, flags).
    Format,
    /// An operator rolled back at the Shift+R prompt.
    Manual,
    /// The kernel asked for a rollback.
    RollbackRequested,
    /// Reading the bank failed.
    Flash,
}

/// Where in the boot a failure was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Not known / not applicable.
    Unknown,
    /// dpuboot (verification before the jump).
    Loader,
    /// Kernel P0: entry.
    Entry,
    /// Kernel P1: early bring-up.
    Early,
    /// Kernel P2: platform devices.
    Platform,
    /// Kernel P3: services.
    Services,
    /// Kernel P4: health window.
    Health,
    /// The kernel's staging of a new image (verification after the write).
    Staging,
}

/// MCUboot image version: major.minor.revision+build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Version {
    /// Major number.
    pub major: u8,
    /// Minor number.
    pub minor: u8,
    /// Revision.
    pub revision: u16,
    /// Build number.
    pub build: u32,
}

/// What is known about one bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BankInfo {
    /// Lifecycle state.
    pub state: BankState,
    /// Boot attempts left while in Trial.
    pub tries_left: u8,
    /// Why the bank failed (or was left), if it did.
    pub reason: FailureReason,
    /// Where the failure was seen.
    pub stage: Stage,
    /// Image version from the verified header.
    pub version: Version,
    /// Image security counter from the verified protected TLV.
    pub security_counter: u32,
    /// Total signed image length in bytes (header, payload, TLVs).
    pub image_len: u32,
    /// SHA-256 of the image (the MCUboot SHA256 TLV).
    pub digest: [u8; 32],
}

impl BankInfo {
    /// An empty bank.
    pub const EMPTY: BankInfo = BankInfo {
        state: BankState::Empty,
        tries_left: 0,
        reason: FailureReason::None,
        stage: Stage::Unknown,
        version: Version {
            major: 0,
            minor: 0,
            revision: 0,
            build: 0,
        },
        security_counter: 0,
        image_len: 0,
        digest: [0; 32],
    };
}

/// Kinds of notable boot events dpuboot records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootEvent {
    /// Nothing recorded yet.
    None,
    /// A trial image was started (one try used).
    Trial,
    /// The preferred bank was unbootable; the other one was booted.
    Fallback,
    /// Shift+R rollback was performed.
    ManualRollback,
    /// The kernel's rollback request was performed.
    RequestedRollback,
    /// A rollback (manual or requested) was refused: no eligible bank.
    RollbackRefused,
    /// No bootable bank: dpuboot stayed in recovery.
    Recovery,
}

/// The most recent notable boot event; steady good boots leave it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootOutcome {
    /// What happened.
    pub event: BootEvent,
    /// The bank booted (for Recovery: the preferred bank).
    pub bank: Bank,
    /// The reason behind the event (the failure that caused a fallback, etc.).
    pub reason: FailureReason,
}

impl BootOutcome {
    /// No event recorded.
    pub const NONE: BootOutcome = BootOutcome {
        event: BootEvent::None,
        bank: Bank::A,
        reason: FailureReason::None,
    };
}

/// The whole boot state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootRecord {
    /// Sequence number, one more per write; the valid copy with the newer one wins (serial-number
    /// order, see [`crate::store::is_newer`]).
    pub sequence: u64,
    /// The preferred bank: the trial being tried, or the committed bank.
    pub active: Bank,
    /// Tries a newly activated trial gets.
    pub trial_tries: u8,
    /// dpuboot's Shift+R window in milliseconds; 0 turns it off.
    pub rollback_window_ms: u16,
    /// How long a trial must stay healthy before the kernel commits it (jumpstart soak), in
    /// milliseconds; 0 commits at the first healthy check.
    pub health_window_ms: u32,
    /// The kernel asked for a rollback; dpuboot consumes it once.
    pub rollback_requested: bool,
    /// The last notable boot event.
    pub last_outcome: BootOutcome,
    /// Per-bank information, indexed by [`Bank::index`].
    pub banks: [BankInfo; 2],
}

/// Why a record copy could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum DecodeError {
    /// The magic is missing (erased, torn or never written).
    NoMagic,
    /// The CRC does not match the body.
    Crc,
    /// Unknown record format number.
    Format,
    /// A field holds a value this firmware does not know.
    Field,
}

impl Default for BootRecord {
    fn default() -> Self {
        Self::BLANK
    }
}

impl BootRecord {
    /// The state assumed when neither copy is valid (blank flash): both banks empty, bank A
    /// preferred, default settings, sequence 0.
    pub const BLANK: BootRecord = BootRecord {
        sequence: 0,
        active: Bank::A,
        trial_tries: DEFAULT_TRIAL_TRIES,
        rollback_window_ms: DEFAULT_ROLLBACK_WINDOW_MS,
        health_window_ms: DEFAULT_HEALTH_WINDOW_MS,
        rollback_requested: false,
        last_outcome: BootOutcome::NONE,
        banks: [BankInfo::EMPTY; 2],
    };

    /// The info of `bank`.
    #[must_use]
    pub fn bank(&self, bank: Bank) -> &BankInfo {
        &self.banks[bank.index()]
    }

    /// The info of `bank`, mutably.
    pub fn bank_mut(&mut self, bank: Bank) -> &mut BankInfo {
        &mut self.banks[bank.index()]
    }

    /// Encodes the record (body, CRC, magic) into `RECORD_LEN` bytes.
    #[must_use]
    pub fn encode(&self) -> [u8; RECORD_LEN] {
        let mut out = [0u8; RECORD_LEN];
        out[0..4].copy_from_slice(&RECORD_FORMAT.to_le_bytes());
        let health = HEALTH_WINDOW_SET | self.health_window_ms.min(MAX_HEALTH_WINDOW_MS);
        out[4..8].copy_from_slice(&health.to_le_bytes());
        out[8..16].copy_from_slice(&self.sequence.to_le_bytes());
        out[16] = self.active.index() as u8;
        out[17] = self.trial_tries;
        out[18..20].copy_from_slice(&self.rollback_window_ms.to_le_bytes());
        out[20] = u8::from(self.rollback_requested);
        out[21] = encode_event(self.last_outcome.event);
        out[22] = self.last_outcome.bank.index() as u8;
        out[23] = encode_reason(self.last_outcome.reason);
        for (index, info) in self.banks.iter().enumerate() {
            let start = BANKS_OFFSET + index * BANK_INFO_LEN;
            encode_bank(info, &mut out[start..start + BANK_INFO_LEN]);
        }
        let crc = crc32(&out[..CRC_OFFSET]);
        out[CRC_OFFSET..RECORD_BODY_LEN].copy_from_slice(&crc.to_le_bytes());
        out[RECORD_BODY_LEN..RECORD_LEN].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        out
    }

    /// Decodes a record copy, checking magic, CRC and every field.
    pub fn decode(bytes: &[u8; RECORD_LEN]) -> Result<BootRecord, DecodeError> {
        if read_u32(bytes, RECORD_BODY_LEN) != RECORD_MAGIC {
            return Err(DecodeError::NoMagic);
        }
        if read_u32(bytes, CRC_OFFSET) != crc32(&bytes[..CRC_OFFSET]) {
            return Err(DecodeError::Crc);
        }
        if read_u32(bytes, 0) != RECORD_FORMAT {
            return Err(DecodeError::Format);
        }
        let mut banks = [BankInfo::EMPTY; 2];
        for (index, info) in banks.iter_mut().enumerate() {
            let start = BANKS_OFFSET + index * BANK_INFO_LEN;
            *info = decode_bank(&bytes[start..start + BANK_INFO_LEN])?;
        }
        let mut sequence = [0u8; 8];
        sequence.copy_from_slice(&bytes[8..16]);
        let health = read_u32(bytes, 4);
        let health_window_ms = if health & HEALTH_WINDOW_SET == 0 {
            DEFAULT_HEALTH_WINDOW_MS
        } else {
            health & !HEALTH_WINDOW_SET
        };
        Ok(BootRecord {
            sequence: u64::from_le_bytes(sequence),
            active: Bank::from_u8(bytes[16]).ok_or(DecodeError::Field)?,
            trial_tries: bytes[17],
            rollback_window_ms: u16::from_le_bytes([bytes[18], bytes[19]]),
            health_window_ms,
            rollback_requested: match bytes[20] {
                0 => false,
                1 => true,
                _ => return Err(DecodeError::Field),
            },
            last_outcome: BootOutcome {
                event: decode_event(bytes[21]).ok_or(DecodeError::Field)?,
                bank: Bank::from_u8(bytes[22]).ok_or(DecodeError::Field)?,
                reason: decode_reason(bytes[23]).ok_or(DecodeError::Field)?,
            },
            banks,
        })
    }
}

fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_le_bytes(word)
}

fn encode_bank(info: &BankInfo, out: &mut [u8]) {
    out[0] = encode_state(info.state);
    out[1] = info.tries_left;
    out[2] = encode_reason(info.reason);
    out[3] = encode_stage(info.stage);
    out[4] = info.version.major;
    out[5] = info.version.minor;
    out[6..8].copy_from_slice(&info.version.revision.to_le_bytes());
    out[8..12].copy_from_slice(&info.version.build.to_le_bytes());
    out[12..16].copy_from_slice(&info.security_counter.to_le_bytes());
    out[16..20].copy_from_slice(&info.image_len.to_le_bytes());
    out[20..52].copy_from_slice(&info.digest);
}

fn decode_bank(bytes: &[u8]) -> Result<BankInfo, DecodeError> {
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&bytes[20..52]);
    Ok(BankInfo {
        state: decode_state(bytes[0]).ok_or(DecodeError::Field)?,
        tries_left: bytes[1],
        reason: decode_reason(bytes[2]).ok_or(DecodeError::Field)?,
        stage: decode_stage(bytes[3]).ok_or(DecodeError::Field)?,
        version: Version {
            major: bytes[4],
            minor: bytes[5],
            revision: u16::from_le_bytes([bytes[6], bytes[7]]),
            build: read_u32(bytes, 8),
        },
        security_counter: read_u32(bytes, 12),
        image_len: read_u32(bytes, 16),
        digest,
    })
}

/// Declares the stable on-flash number of each variant of a field enum, both directions.
macro_rules! codes {
    ($encode:ident, $decode:ident, $type:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        fn $encode(value: $type) -> u8 {
            match value { $($type::$variant => $code),+ }
        }
        fn $decode(code: u8) -> Option<$type> {
            match code { $($code => Some($type::$variant),)+ _ => None }
        }
    };
}

codes!(encode_state, decode_state, BankState {
    Empty = 0, Writing = 1, Trial = 2, Good = 3, Bad = 4, Superseded = 5,
});
codes!(encode_reason, decode_reason, FailureReason {
    None = 0, HealthCheck = 1, TriesExhausted = 2, Hash = 3, Signature = 4, UnknownKey = 5,
    SecurityCounter = 6, Length = 7, Format = 8, Manual = 9, RollbackRequested = 10, Flash = 11,
});
codes!(encode_stage, decode_stage, Stage {
    Unknown = 0, Loader = 1, Entry = 2, Early = 3, Platform = 4, Services = 5, Health = 6,
    Staging = 7,
});
codes!(encode_event, decode_event, BootEvent {
    None = 0, Trial = 1, Fallback = 2, ManualRollback = 3, RequestedRollback = 4,
    RollbackRefused = 5, Recovery = 6,
});

// ---- words for people (console, dpuboot, logs): never Rust Debug output -----------------

impl fmt::Display for BankState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            BankState::Empty => "empty",
            BankState::Writing => "writing",
            BankState::Trial => "trial",
            BankState::Good => "committed",
            BankState::Bad => "bad",
            BankState::Superseded => "superseded",
        })
    }
}

impl fmt::Display for FailureReason {
    /// `-` when no failure is recorded.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            FailureReason::None => "-",
            FailureReason::HealthCheck => "health check",
            FailureReason::TriesExhausted => "tries exhausted",
            FailureReason::Hash => "hash mismatch",
            FailureReason::Signature => "bad signature",
            FailureReason::UnknownKey => "unknown signing key",
            FailureReason::SecurityCounter => "security counter below the floor",
            FailureReason::Length => "bad length",
            FailureReason::Format => "malformed image",
            FailureReason::Manual => "manual rollback",
            FailureReason::RollbackRequested => "rollback requested",
            FailureReason::Flash => "flash error",
        })
    }
}

impl fmt::Display for Stage {
    /// The kernel's phases as `docs/boot.md` numbers them (P0..P4); `-` when unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Stage::Unknown => "-",
            Stage::Loader => "dpuboot",
            Stage::Entry => "P0",
            Stage::Early => "P1",
            Stage::Platform => "P2",
            Stage::Services => "P3",
            Stage::Health => "P4",
            Stage::Staging => "staging",
        })
    }
}

impl fmt::Display for BootEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            BootEvent::None => "none",
            BootEvent::Trial => "trial",
            BootEvent::Fallback => "fallback",
            BootEvent::ManualRollback => "manual rollback",
            BootEvent::RequestedRollback => "requested rollback",
            BootEvent::RollbackRefused => "rollback refused",
            BootEvent::Recovery => "recovery",
        })
    }
}

/// A small stack buffer for formatting a value before padding it.
struct Buffer<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Buffer<N> {
    const fn new() -> Self {
        Self {
            bytes: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("?")
    }
}

impl<const N: usize> fmt::Write for Buffer<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        self.bytes
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl fmt::Display for Version {
    /// `major.minor.revision+build`; honours width and alignment (`{:<12}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = Buffer::<32>::new();
        fmt::write(
            &mut text,
            format_args!(
                "{}.{}.{}+{}",
                self.major, self.minor, self.revision, self.build
            ),
        )?;
        f.pad(text.as_str())
    }
}

impl fmt::Display for BootOutcome {
    /// The event in words, e.g. `fallback from bank B to bank A (tries exhausted)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (bank, other) = (self.bank, self.bank.other());
        match self.event {
            BootEvent::None => f.write_str("none"),
            BootEvent::Trial => write!(f, "trial of bank {bank}"),
            BootEvent::Fallback | BootEvent::ManualRollback | BootEvent::RequestedRollback => {
                write!(f, "{} from bank {other} to bank {bank}", self.event)?;
                if self.reason != FailureReason::None {
                    write!(f, " ({})", self.reason)?;
                }
                Ok(())
            }
            BootEvent::RollbackRefused => write!(f, "rollback refused (bank {bank} stays)"),
            BootEvent::Recovery => f.write_str("recovery (no bootable bank)"),
        }
    }
}

/// One bank as dpuboot and the kernel's `boot` print it:
/// `bank B* trial      v0.2.0+2 counter 2    tries 1 reason - (stage -)`.
pub struct BankLine<'a> {
    /// The bank.
    pub bank: Bank,
    /// What the record says about it.
    pub info: &'a BankInfo,
    /// Whether it is the preferred bank (marked `*`).
    pub preferred: bool,
}

impl fmt::Display for BankLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info;
        write!(
            f,
            "bank {}{} {:<10} v{} counter {:<4} tries {} reason {} (stage {})",
            self.bank,
            if self.preferred { "*" } else { " " },
            info.state,
            info.version,
            info.security_counter,
            info.tries_left,
            info.reason,
            info.stage
        )
    }
}

/// The record's last outcome with the stage at which the bank that was left failed:
/// `fallback from bank B to bank A (health check, stage P4)`.
pub struct OutcomeLine<'a>(pub &'a BootRecord);

impl fmt::Display for OutcomeLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = self.0.last_outcome;
        let left = self.0.bank(outcome.bank.other());
        let moved = matches!(
            outcome.event,
            BootEvent::Fallback | BootEvent::ManualRollback | BootEvent::RequestedRollback
        );
        if moved && outcome.reason != FailureReason::None && left.stage != Stage::Unknown {
            write!(
                f,
                "{} from bank {} to bank {} ({}, stage {})",
                outcome.event,
                outcome.bank.other(),
                outcome.bank,
                outcome.reason,
                left.stage
            )
        } else {
            outcome.fmt(f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BootRecord {
        let mut record = BootRecord::BLANK;
        record.sequence = 0x0102_0304_0506_0708;
        record.active = Bank::B;
        record.rollback_requested = true;
        record.last_outcome = BootOutcome {
            event: BootEvent::Fallback,
            bank: Bank::B,
            reason: FailureReason::HealthCheck,
        };
        record.banks[1] = BankInfo {
            state: BankState::Trial,
            tries_left: 2,
            reason: FailureReason::None,
            stage: Stage::Health,
            version: Version {
                major: 1,
                minor: 2,
                revision: 3,
                build: 4,
            },
            security_counter: 7,
            image_len: 12345,
            digest: [0xAB; 32],
        };
        record
    }

    #[test]
    fn round_trip() {
        let record = sample();
        assert_eq!(BootRecord::decode(&record.encode()), Ok(record));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let bytes = sample().encode();
        for bit in 0..RECORD_LEN * 8 {
            let mut corrupted = bytes;
            corrupted[bit / 8] ^= 1 << (bit % 8);
            assert!(
                BootRecord::decode(&corrupted).is_err(),
                "bit {bit} flip accepted"
            );
        }
    }

    #[test]
    fn missing_magic_and_bad_fields_are_rejected() {
        let mut bytes = sample().encode();
        bytes[RECORD_BODY_LEN..].copy_from_slice(&[0xFF; 4]);
        assert_eq!(BootRecord::decode(&bytes), Err(DecodeError::NoMagic));
        assert_eq!(
            BootRecord::decode(&[0xFF; RECORD_LEN]),
            Err(DecodeError::NoMagic)
        );
        // A well-formed CRC over an unknown state value is still refused.
        let mut bytes = sample().encode();
        bytes[BANKS_OFFSET] = 99;
        let crc = crc32(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..RECORD_BODY_LEN].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(BootRecord::decode(&bytes), Err(DecodeError::Field));
    }

    #[test]
    fn words_not_debug() {
        use std::format;
        let record = sample();
        let line = format!(
            "{}",
            BankLine {
                bank: Bank::B,
                info: record.bank(Bank::B),
                preferred: true
            }
        );
        assert_eq!(
            line,
            "bank B* trial      v1.2.3+4 counter 7    tries 2 reason - (stage P4)"
        );
        assert_eq!(
            format!("{}", record.last_outcome),
            "fallback from bank A to bank B (health check)"
        );
        let mut record = record;
        record.last_outcome.bank = Bank::A;
        record.banks[1].stage = Stage::Health;
        assert_eq!(
            format!("{}", OutcomeLine(&record)),
            "fallback from bank B to bank A (health check, stage P4)"
        );
        assert_eq!(format!("{}", BootOutcome::NONE), "none");
        assert_eq!(format!("{}", FailureReason::None), "-");
        assert_eq!(format!("{:<6}|", Version::default()), "0.0.0+0|");
        for text in [
            format!("{}", OutcomeLine(&BootRecord::BLANK)),
            format!("{}", FailureReason::TriesExhausted),
            format!("{}", Stage::Unknown),
        ] {
            assert!(!readable::is_debug_output(&text), "{text}");
        }
    }

    #[test]
    fn health_window_is_kept_and_old_records_read_the_default() {
        let mut record = sample();
        record.health_window_ms = 0;
        assert_eq!(BootRecord::decode(&record.encode()), Ok(record));
        record.health_window_ms = 123_456;
        assert_eq!(BootRecord::decode(&record.encode()), Ok(record));
        // A format-1 record from before the field: bytes 4..8 are zero.
        let mut bytes = record.encode();
        bytes[4..8].copy_from_slice(&[0; 4]);
        let crc = crc32(&bytes[..CRC_OFFSET]);
        bytes[CRC_OFFSET..RECORD_BODY_LEN].copy_from_slice(&crc.to_le_bytes());
        let old = BootRecord::decode(&bytes).unwrap();
        assert_eq!(old.health_window_ms, DEFAULT_HEALTH_WINDOW_MS);
    }
}
