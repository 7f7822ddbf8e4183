//! How the last boot ended: the record the kernel keeps in a RAM mailbox across warm resets.
//!
//! Before a panic, fault, watchdog or `reboot` resets the machine, the kernel writes a
//! [`LastBoot`] into a small RAM area that neither dpuboot, QEMU's loader nor the kernel's BSS
//! clearing touches (`docs/boot.md`, "Last boot record"). The next boot decodes it and says
//! `last boot ended: panic at kernel/runtime/src/commands.rs:335 after 1234 ms`. A power-on
//! leaves RAM without the magic (or with garbage the CRC refuses): `last boot: none`.
//!
//! Layout (all little-endian, [`MAILBOX_LEN`] bytes):
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `DPUL` |
//! | 4..6 | format (1) |
//! | 6 | ending code (0 running, 1 panic, 2 exception, 3 watchdog, 4 reboot, 5 health check, 6 boot failed) |
//! | 7 | length of the file name (panic) |
//! | 8..12 | boot number since power-on (1 = the first) |
//! | 12..16 | panic line, watchdog silence in ms, exception class (ESR.EC), or exit status |
//! | 16..24 | uptime in ms when the boot ended (or last refreshed while running) |
//! | 24..32 | program counter (ELR) of the fault or of the code the watchdog interrupted |
//! | 32..40 | fault address (FAR) for aborts |
//! | 40..120 | panic file name (UTF-8, its tail if longer) |
//! | 120..124 | reserved, 0 |
//! | 124..128 | CRC-32 of bytes 0..124 |

use crate::crc32::crc32;
use core::fmt;

/// Bytes of one encoded record.
pub const MAILBOX_LEN: usize = 128;
/// Magic marking a record ("DPUL" read as a little-endian u32).
pub const MAILBOX_MAGIC: u32 = u32::from_le_bytes(*b"DPUL");
/// Format number; a different one is ignored (a newer or older kernel's layout).
pub const MAILBOX_FORMAT: u16 = 1;
/// Longest file name kept (its tail, where the file's own name is).
pub const FILE_CAPACITY: usize = 80;

const CRC_OFFSET: usize = MAILBOX_LEN - 4;
const FILE_OFFSET: usize = 40;
const _: () = assert!(FILE_OFFSET + FILE_CAPACITY <= CRC_OFFSET);

/// A source file name, stored inline (no heap).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FileName {
    bytes: [u8; FILE_CAPACITY],
    len: u8,
}

impl FileName {
    /// `name`, or its last [`FILE_CAPACITY`] bytes (cut at a character boundary).
    #[must_use]
    pub fn new(name: &str) -> Self {
        let mut start = name.len().saturating_sub(FILE_CAPACITY);
        while !name.is_char_boundary(start) {
            start += 1;
        }
        let tail = &name.as_bytes()[start..];
        let mut bytes = [0u8; FILE_CAPACITY];
        bytes[..tail.len()].copy_from_slice(tail);
        Self {
            bytes,
            len: tail.len() as u8,
        }
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("?")
    }
}

impl fmt::Debug for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Which kind of exception ended the boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExceptionKind {
    /// A data abort (ESR.EC 0x24/0x25).
    DataAbort,
    /// An instruction abort (ESR.EC 0x20/0x21).
    InstructionAbort,
    /// An undefined instruction (ESR.EC 0).
    Undefined,
    /// Any other exception class (the ESR.EC value).
    Other(u8),
}

impl ExceptionKind {
    /// The kind for an exception class (ESR.EC).
    #[must_use]
    pub fn from_class(class: u8) -> Self {
        match class {
            0x24 | 0x25 => Self::DataAbort,
            0x20 | 0x21 => Self::InstructionAbort,
            0x00 => Self::Undefined,
            other => Self::Other(other),
        }
    }

    fn class(self) -> u8 {
        match self {
            Self::DataAbort => 0x25,
            Self::InstructionAbort => 0x21,
            Self::Undefined => 0x00,
            Self::Other(class) => class,
        }
    }
}

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// Nothing recorded: the boot was still running when the machine reset (a reset from
    /// outside, or a fault the kernel could not report).
    Running,
    /// A Rust panic.
    Panic {
        /// Source file of the panic.
        file: FileName,
        /// Its line.
        line: u32,
    },
    /// An unexpected exception.
    Exception {
        /// What kind.
        kind: ExceptionKind,
        /// Where (ELR).
        pc: u64,
        /// The faulting address for aborts (FAR), else 0.
        address: u64,
    },
    /// The software watchdog: the poll loop stopped checking in.
    Watchdog {
        /// How long it had been silent.
        silent_ms: u32,
        /// Where the interrupted code was (ELR).
        pc: u64,
    },
    /// The `reboot` command.
    Reboot,
    /// A trial failed its health check and reset itself.
    HealthCheck,
    /// Bring-up could not continue (no device tree, no console, ...): the kernel's exit status.
    BootFailed {
        /// The status (`docs/boot.md`, "Faults, the watchdog and exit statuses").
        status: u8,
    },
}

/// The record: which boot since power-on, its uptime, and how it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastBoot {
    /// Boot number since power-on (1 = the first).
    pub boot: u32,
    /// Uptime in ms when it ended (for [`Ending::Running`]: when last refreshed).
    pub uptime_ms: u64,
    /// How it ended.
    pub ending: Ending,
}

/// Why a mailbox did not decode (a power-on leaves one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailboxError {
    /// No magic: RAM after power-on, or never written.
    NoMagic,
    /// A different record format.
    Format,
    /// The CRC does not match.
    Crc,
    /// A field holds a value this kernel does not know.
    Field,
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

impl LastBoot {
    /// A freshly started boot number `boot`.
    #[must_use]
    pub const fn running(boot: u32) -> Self {
        Self {
            boot,
            uptime_ms: 0,
            ending: Ending::Running,
        }
    }

    /// The boot number after `previous` (1 after a power-on).
    #[must_use]
    pub fn next_boot(previous: Option<&LastBoot>) -> u32 {
        previous.map_or(1, |last| last.boot.saturating_add(1))
    }

    /// Encodes the record.
    #[must_use]
    pub fn encode(&self) -> [u8; MAILBOX_LEN] {
        let mut out = [0u8; MAILBOX_LEN];
        out[0..4].copy_from_slice(&MAILBOX_MAGIC.to_le_bytes());
        out[4..6].copy_from_slice(&MAILBOX_FORMAT.to_le_bytes());
        out[8..12].copy_from_slice(&self.boot.to_le_bytes());
        out[16..24].copy_from_slice(&self.uptime_ms.to_le_bytes());
        let (code, detail, pc, address) = match self.ending {
            Ending::Running => (0, 0, 0, 0),
            Ending::Panic { file, line } => {
                out[7] = file.len;
                out[FILE_OFFSET..FILE_OFFSET + FILE_CAPACITY].copy_from_slice(&file.bytes);
                (1, line, 0, 0)
            }
            Ending::Exception { kind, pc, address } => (2, u32::from(kind.class()), pc, address),
            Ending::Watchdog { silent_ms, pc } => (3, silent_ms, pc, 0),
            Ending::Reboot => (4, 0, 0, 0),
            Ending::HealthCheck => (5, 0, 0, 0),
            Ending::BootFailed { status } => (6, u32::from(status), 0, 0),
        };
        out[6] = code;
        out[12..16].copy_from_slice(&detail.to_le_bytes());
        out[24..32].copy_from_slice(&pc.to_le_bytes());
        out[32..40].copy_from_slice(&address.to_le_bytes());
        let crc = crc32(&out[..CRC_OFFSET]);
        out[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a mailbox, checking magic, format, CRC and every field.
    pub fn decode(bytes: &[u8; MAILBOX_LEN]) -> Result<Self, MailboxError> {
        if read_u32(bytes, 0) != MAILBOX_MAGIC {
            return Err(MailboxError::NoMagic);
        }
        if u16::from_le_bytes([bytes[4], bytes[5]]) != MAILBOX_FORMAT {
            return Err(MailboxError::Format);
        }
        if read_u32(bytes, CRC_OFFSET) != crc32(&bytes[..CRC_OFFSET]) {
            return Err(MailboxError::Crc);
        }
        let detail = read_u32(bytes, 12);
        let pc = read_u64(bytes, 24);
        let address = read_u64(bytes, 32);
        let ending = match bytes[6] {
            0 => Ending::Running,
            1 => {
                let len = usize::from(bytes[7]);
                if len > FILE_CAPACITY {
                    return Err(MailboxError::Field);
                }
                let name = &bytes[FILE_OFFSET..FILE_OFFSET + len];
                let name = core::str::from_utf8(name).map_err(|_| MailboxError::Field)?;
                Ending::Panic {
                    file: FileName::new(name),
                    line: detail,
                }
            }
            2 => Ending::Exception {
                kind: ExceptionKind::from_class(
                    u8::try_from(detail).map_err(|_| MailboxError::Field)?,
                ),
                pc,
                address,
            },
            3 => Ending::Watchdog {
                silent_ms: detail,
                pc,
            },
            4 => Ending::Reboot,
            5 => Ending::HealthCheck,
            6 => Ending::BootFailed {
                status: u8::try_from(detail).map_err(|_| MailboxError::Field)?,
            },
            _ => return Err(MailboxError::Field),
        };
        Ok(Self {
            boot: read_u32(bytes, 8),
            uptime_ms: read_u64(bytes, 16),
            ending,
        })
    }
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Running => f.write_str("reset with nothing recorded"),
            Ending::Panic { file, line } => write!(f, "panic at {}:{line}", file.as_str()),
            Ending::Exception { kind, pc, address } => match kind {
                ExceptionKind::DataAbort => {
                    write!(f, "data abort at {pc:#x} (address {address:#x})")
                }
                ExceptionKind::InstructionAbort => {
                    write!(f, "instruction abort at {pc:#x} (address {address:#x})")
                }
                ExceptionKind::Undefined => write!(f, "undefined instruction at {pc:#x}"),
                ExceptionKind::Other(class) => {
                    write!(f, "exception (class {class:#04x}) at {pc:#x}")
                }
            },
            Ending::Watchdog { silent_ms, pc } => {
                write!(
                    f,
                    "watchdog: poll loop silent for {silent_ms} ms at {pc:#x}"
                )
            }
            Ending::Reboot => f.write_str("reboot command"),
            Ending::HealthCheck => f.write_str("health check failed"),
            Ending::BootFailed { status } => write!(f, "boot failed (status {status})"),
        }
    }
}

impl fmt::Display for LastBoot {
    /// `panic at FILE:LINE after N ms` (boot counts and the like are left to the caller).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.ending {
            Ending::Running if self.uptime_ms == 0 => write!(f, "{} early in boot", self.ending),
            Ending::Running => write!(f, "{} after about {} ms", self.ending, self.uptime_ms),
            _ => write!(f, "{} after {} ms", self.ending, self.uptime_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn panic_record() -> LastBoot {
        LastBoot {
            boot: 3,
            uptime_ms: 1234,
            ending: Ending::Panic {
                file: FileName::new("kernel/runtime/src/commands.rs"),
                line: 335,
            },
        }
    }

    #[test]
    fn every_ending_round_trips_and_reads_as_words() {
        let cases = [
            (
                panic_record(),
                "panic at kernel/runtime/src/commands.rs:335 after 1234 ms",
            ),
            (
                LastBoot {
                    boot: 1,
                    uptime_ms: 50,
                    ending: Ending::Exception {
                        kind: ExceptionKind::DataAbort,
                        pc: 0x4020_1000,
                        address: 0x7f_ffff_fff8,
                    },
                },
                "data abort at 0x40201000 (address 0x7ffffffff8) after 50 ms",
            ),
            (
                LastBoot {
                    boot: 2,
                    uptime_ms: 9000,
                    ending: Ending::Watchdog {
                        silent_ms: 2010,
                        pc: 0x4020_2000,
                    },
                },
                "watchdog: poll loop silent for 2010 ms at 0x40202000 after 9000 ms",
            ),
            (
                LastBoot {
                    boot: 2,
                    uptime_ms: 70,
                    ending: Ending::Reboot,
                },
                "reboot command after 70 ms",
            ),
            (
                LastBoot {
                    boot: 9,
                    uptime_ms: 20_000,
                    ending: Ending::HealthCheck,
                },
                "health check failed after 20000 ms",
            ),
            (
                LastBoot::running(4),
                "reset with nothing recorded early in boot",
            ),
            (
                LastBoot {
                    boot: 4,
                    uptime_ms: 3000,
                    ending: Ending::Exception {
                        kind: ExceptionKind::Undefined,
                        pc: 0x10,
                        address: 0,
                    },
                },
                "undefined instruction at 0x10 after 3000 ms",
            ),
        ];
        for (record, words) in cases {
            assert_eq!(LastBoot::decode(&record.encode()), Ok(record));
            let text = format!("{record}");
            assert_eq!(text, words);
            assert!(!readable::is_debug_output(&text), "{text}");
        }
    }

    #[test]
    fn power_on_ram_and_every_bit_flip_are_refused() {
        assert_eq!(
            LastBoot::decode(&[0; MAILBOX_LEN]),
            Err(MailboxError::NoMagic)
        );
        assert_eq!(
            LastBoot::decode(&[0xA5; MAILBOX_LEN]),
            Err(MailboxError::NoMagic)
        );
        let bytes = panic_record().encode();
        for bit in 0..MAILBOX_LEN * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(LastBoot::decode(&flipped).is_err(), "bit {bit} accepted");
        }
    }

    #[test]
    fn bad_fields_under_a_good_crc_are_refused() {
        let reseal = |mut bytes: [u8; MAILBOX_LEN]| {
            let crc = crc32(&bytes[..CRC_OFFSET]);
            bytes[CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
            bytes
        };
        let mut bytes = panic_record().encode();
        bytes[6] = 99;
        assert_eq!(LastBoot::decode(&reseal(bytes)), Err(MailboxError::Field));
        let mut bytes = panic_record().encode();
        bytes[7] = 200;
        assert_eq!(LastBoot::decode(&reseal(bytes)), Err(MailboxError::Field));
        let mut bytes = panic_record().encode();
        bytes[FILE_OFFSET] = 0xFF;
        assert_eq!(LastBoot::decode(&reseal(bytes)), Err(MailboxError::Field));
        let mut bytes = panic_record().encode();
        bytes[4] = 2;
        assert_eq!(LastBoot::decode(&reseal(bytes)), Err(MailboxError::Format));
    }

    #[test]
    fn long_file_names_keep_their_tail_and_boots_count_up() {
        let long = format!("{}/ü/main.rs", "d".repeat(100));
        let name = FileName::new(&long);
        assert!(name.as_str().ends_with("/ü/main.rs"));
        assert!(name.as_str().len() <= FILE_CAPACITY);
        // 81 bytes starting with a 2-byte character: the cut skips the whole character.
        let cut = format!("ü{}", "x".repeat(FILE_CAPACITY - 1));
        assert_eq!(FileName::new(&cut).as_str(), "x".repeat(FILE_CAPACITY - 1));
        assert_eq!(LastBoot::next_boot(None), 1);
        assert_eq!(LastBoot::next_boot(Some(&panic_record())), 4);
        let last = LastBoot {
            boot: u32::MAX,
            ..panic_record()
        };
        assert_eq!(LastBoot::next_boot(Some(&last)), u32::MAX);
    }
}
