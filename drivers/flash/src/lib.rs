//! CFI NOR flash driver (Intel/Sharp command set 0x0001) for QEMU virt pflash.
//!
//! QEMU virt has two 64 MiB `pflash_cfi01` devices on a 32-bit bus made of two 16-bit chips
//! side by side (bus width 4, device width 2): every command is sent in both 16-bit lanes
//! (e.g. 0x00200020) and status comes back in both lanes (ready = 0x00800080). Sequences follow
//! the Intel/Sharp "basic command set" (CFI primary command set 0x0001):
//!
//! - read array 0xFF; read ID 0x90; CFI query 0x98 (at x16 address 0x55);
//! - block erase 0x20 then confirm 0xD0 at the block; word program 0x40 then the data;
//! - write to buffer 0xE8 at the block (status bit 7 says the buffer is free), then the count
//!   of bus words minus one, the words, and confirm 0xD0: up to the CFI buffer size (query byte
//!   0x2A, per chip) in one program. QEMU writes its backing file once per buffer instead of
//!   once per word, which is why [`CfiFlash::program`] uses it wherever it can;
//! - read status 0x70: bit 7 ready, 5 erase error, 4 program error, 3 Vpp low, 1 locked;
//!   clear status 0x50.
//!
//! The command logic is generic over [`Bus`] (32-bit reads and writes at an offset) so it is
//! tested on the host against a model of QEMU's pflash; [`mmio::MmioBus`] is the real bus.
//! Polling is bounded by a caller-chosen poll budget: no timer, no std.

#![no_std]
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

#[cfg(test)]
extern crate std;

pub mod mmio;

#[cfg(any(test, feature = "bootstate"))]
pub mod boot;

#[cfg(test)]
mod fake;

/// 32-bit access to the flash window, offsets in bytes from its base (multiples of 4).
pub trait Bus {
    /// Size of the window in bytes.
    fn size(&self) -> usize;
    /// Reads the 32-bit word at `offset`.
    fn read32(&mut self, offset: usize) -> u32;
    /// Writes the 32-bit word at `offset`.
    fn write32(&mut self, offset: usize, value: u32);
}

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Error {
    /// The device did not report ready within the poll budget.
    Timeout,
    /// Status bit 5: the erase failed.
    EraseFailed,
    /// Status bit 4: the program failed.
    ProgramFailed,
    /// Status bit 1: the block is locked.
    Locked,
    /// Status bit 3: programming voltage too low.
    Vpp,
    /// The range lies outside the device.
    OutOfRange,
    /// The erase offset is not on a block boundary.
    Unaligned,
    /// The CFI query did not answer "QRY".
    NoCfi,
    /// The device refused a write-to-buffer (buffer never free, or a program error during it).
    BufferRefused,
}

impl core::fmt::Display for Error {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            Error::Timeout => "flash did not report ready in time",
            Error::EraseFailed => "erase failed",
            Error::ProgramFailed => "program failed",
            Error::Locked => "flash block is locked",
            Error::Vpp => "programming voltage too low",
            Error::OutOfRange => "range outside the flash device",
            Error::Unaligned => "erase offset not on a block boundary",
            Error::NoCfi => "no CFI flash answered the query",
            Error::BufferRefused => "the flash did not accept a write-to-buffer",
        })
    }
}

/// Geometry from the CFI query, for the whole bus (both chips together).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CfiInfo {
    /// Primary vendor command set (0x0001 = Intel/Sharp).
    pub command_set: u16,
    /// Chips side by side on the bus.
    pub interleave: u32,
    /// Total size in bytes.
    pub size: u64,
    /// Erase block size in bytes (first erase region), as seen on the bus.
    pub erase_block_size: u32,
    /// Number of erase blocks in the first region.
    pub erase_blocks: u32,
    /// Largest write-to-buffer program in bytes, as seen on the bus (0 = not supported).
    pub write_buffer_size: u32,
}

/// Bus width in bytes.
pub const BUS_WIDTH: usize = 4;
/// Device (chip) width in bytes.
pub const DEVICE_WIDTH: usize = 2;
const LANES: u32 = (BUS_WIDTH / DEVICE_WIDTH) as u32;

/// Replicates a 16-bit command or status value into both lanes.
#[must_use]
pub const fn both_lanes(value: u16) -> u32 {
    (value as u32) << 16 | value as u32
}

/// Command codes, already in both lanes.
pub mod command {
    use super::both_lanes;
    /// Read array (normal reads).
    pub const READ_ARRAY: u32 = both_lanes(0xFF);
    /// Read identifier codes.
    pub const READ_ID: u32 = both_lanes(0x90);
    /// CFI query.
    pub const CFI_QUERY: u32 = both_lanes(0x98);
    /// Read status register.
    pub const READ_STATUS: u32 = both_lanes(0x70);
    /// Clear status register.
    pub const CLEAR_STATUS: u32 = both_lanes(0x50);
    /// Block erase setup.
    pub const BLOCK_ERASE: u32 = both_lanes(0x20);
    /// Block erase confirm.
    pub const ERASE_CONFIRM: u32 = both_lanes(0xD0);
    /// Word program setup.
    pub const WORD_PROGRAM: u32 = both_lanes(0x40);
    /// Write to buffer setup (then the word count minus one, the words, and confirm).
    pub const WRITE_TO_BUFFER: u32 = both_lanes(0xE8);
    /// Write to buffer confirm.
    pub const BUFFER_CONFIRM: u32 = both_lanes(0xD0);
}

/// Status register bits, in both lanes.
pub mod status {
    use super::both_lanes;
    /// Bit 7: ready.
    pub const READY: u32 = both_lanes(1 << 7);
    /// Bit 5: erase error.
    pub const ERASE_ERROR: u32 = both_lanes(1 << 5);
    /// Bit 4: program error.
    pub const PROGRAM_ERROR: u32 = both_lanes(1 << 4);
    /// Bit 3: Vpp low.
    pub const VPP_LOW: u32 = both_lanes(1 << 3);
    /// Bit 1: block locked.
    pub const LOCKED: u32 = both_lanes(1 << 1);
}

/// Default poll budget for an erase (QEMU is instant; real parts take up to seconds).
pub const DEFAULT_ERASE_POLLS: u32 = 50_000_000;
/// Default poll budget for one word program (and for one buffer program).
pub const DEFAULT_PROGRAM_POLLS: u32 = 1_000_000;
/// Largest write buffer the driver uses, in bus bytes (QEMU virt: 2 KiB per chip, 4 KiB on
/// the bus). A larger CFI value is clamped to it.
pub const MAX_WRITE_BUFFER: u32 = 4096;

/// `bytes` if it is a write buffer the driver can use (a power of two of at least two bus
/// words, at most [`MAX_WRITE_BUFFER`] after clamping), else 0.
const fn usable_buffer(bytes: u32) -> u32 {
    if bytes < 2 * BUS_WIDTH as u32 || !bytes.is_power_of_two() {
        0
    } else if bytes > MAX_WRITE_BUFFER {
        MAX_WRITE_BUFFER
    } else {
        bytes
    }
}

/// Which operation a status check follows, to name its error.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Operation {
    Erase,
    Program,
}

/// A CFI flash on a [`Bus`].
#[derive(Debug)]
pub struct CfiFlash<B: Bus> {
    bus: B,
    /// Whether the device is known to be in read-array mode (saves a command per read: under
    /// QEMU every mode change remaps the flash window).
    read_array: bool,
    block_size: u32,
    erase_polls: u32,
    program_polls: u32,
    /// Write-to-buffer size in bus bytes (a power of two); 0 programs word by word.
    write_buffer: u32,
    /// Leave the device in status mode after an erase or program; the next read through the
    /// driver enters read-array mode first ([`CfiFlash::with_lazy_read_array`]).
    lazy_read_array: bool,
    /// The block whose erase [`CfiFlash::erase_start`] started and nobody has seen end yet.
    erasing: Option<usize>,
}

impl<B: Bus> CfiFlash<B> {
    /// A driver for the flash on `bus` with erase blocks of `block_size` bytes (QEMU virt:
    /// 256 KiB; check it with [`CfiFlash::query`]).
    #[must_use]
    pub fn new(bus: B, block_size: u32) -> Self {
        CfiFlash {
            bus,
            read_array: false,
            block_size,
            erase_polls: DEFAULT_ERASE_POLLS,
            program_polls: DEFAULT_PROGRAM_POLLS,
            write_buffer: 0,
            lazy_read_array: false,
            erasing: None,
        }
    }

    /// Leaves the device in status mode after each erase and program, and enters read-array
    /// mode only when the driver reads. Under QEMU every mode change remaps the flash window
    /// (a memory-map transaction and a TLB flush), so a run of programs without reads between
    /// them costs two remaps fewer each. Only for an owner that reads the flash through this
    /// driver alone (the kernel): a direct read of the window would see status words.
    #[must_use]
    pub fn with_lazy_read_array(mut self) -> Self {
        self.lazy_read_array = true;
        self
    }

    /// Asks the CFI query for the write buffer and programs through it from now on (returns
    /// its size in bus bytes; 0, and word programming, if the device has none or no CFI).
    pub fn enable_write_buffer(&mut self) -> u32 {
        let size = self.query().map_or(0, |info| info.write_buffer_size);
        self.write_buffer = size;
        size
    }

    /// Programs through a write buffer of `bytes` bus bytes (a power of two, at least two bus
    /// words, at most [`MAX_WRITE_BUFFER`]; anything else turns it off).
    #[must_use]
    pub fn with_write_buffer(mut self, bytes: u32) -> Self {
        self.write_buffer = usable_buffer(bytes);
        self
    }

    /// The write buffer in use, in bus bytes (0 = word programming).
    #[must_use]
    pub fn write_buffer(&self) -> u32 {
        self.write_buffer
    }

    /// Sets the status poll budgets for erase and program.
    #[must_use]
    pub fn with_poll_budget(mut self, erase_polls: u32, program_polls: u32) -> Self {
        self.erase_polls = erase_polls.max(1);
        self.program_polls = program_polls.max(1);
        self
    }

    /// Device size in bytes.
    #[must_use]
    pub fn size(&self) -> usize {
        self.bus.size()
    }

    /// Erase block size in bytes.
    #[must_use]
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// The bus, e.g. for tests. Commands sent through it directly must leave the device in
    /// read-array mode.
    pub fn bus_mut(&mut self) -> &mut B {
        &mut self.bus
    }

    fn check_range(&self, offset: usize, len: usize) -> Result<(), Error> {
        match offset.checked_add(len) {
            Some(end) if end <= self.bus.size() => Ok(()),
            _ => Err(Error::OutOfRange),
        }
    }

    /// Reads the CFI query table and returns the geometry (leaves the flash in read-array mode).
    pub fn query(&mut self) -> Result<CfiInfo, Error> {
        self.finish_erase()?;
        // The query command goes to x16 address 0x55; table byte `i` then reads at bus word `i`.
        self.read_array = false;
        self.bus.write32(0x55 * BUS_WIDTH, command::CFI_QUERY);
        let mut byte = |index: usize| (self.bus.read32(index * BUS_WIDTH) & 0xFF) as u8;
        let qry = [byte(0x10), byte(0x11), byte(0x12)];
        let command_set = u16::from_le_bytes([byte(0x13), byte(0x14)]);
        let size_log2 = byte(0x27);
        let regions = byte(0x2C);
        let blocks = u16::from_le_bytes([byte(0x2D), byte(0x2E)]);
        let block_units = u16::from_le_bytes([byte(0x2F), byte(0x30)]);
        let buffer_log2 = byte(0x2A);
        self.bus.write32(0, command::READ_ARRAY);
        self.read_array = true;
        if qry != *b"QRY" || regions == 0 || size_log2 >= 48 {
            return Err(Error::NoCfi);
        }
        // The table describes one chip; the bus sees `LANES` of them side by side.
        Ok(CfiInfo {
            command_set,
            interleave: LANES,
            size: (1u64 << size_log2) * u64::from(LANES),
            erase_block_size: u32::from(block_units) * 256 * LANES,
            erase_blocks: u32::from(blocks) + 1,
            // Per chip in the table; each chip takes its lane of every bus word.
            write_buffer_size: match buffer_log2 {
                0 | 32.. => 0,
                log2 => usable_buffer((1u32 << log2).saturating_mul(LANES)),
            },
        })
    }

    /// Reads the manufacturer and device codes (of the low chip).
    pub fn read_id(&mut self) -> (u16, u16) {
        // A failed erase is reported by the next erase or program of that block.
        let _ = self.finish_erase();
        self.read_array = false;
        self.bus.write32(0, command::READ_ID);
        let manufacturer = (self.bus.read32(0) & 0xFFFF) as u16;
        let device = (self.bus.read32(BUS_WIDTH) & 0xFFFF) as u16;
        self.bus.write32(0, command::READ_ARRAY);
        self.read_array = true;
        (manufacturer, device)
    }

    /// Reads `buf.len()` bytes from `offset` (any alignment), in read-array mode.
    pub fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), Error> {
        self.finish_erase()?;
        self.check_range(offset, buf.len())?;
        if !self.read_array {
            self.bus.write32(0, command::READ_ARRAY);
            self.read_array = true;
        }
        let mut at = offset;
        let mut filled = 0;
        while filled < buf.len() {
            let word_offset = at & !(BUS_WIDTH - 1);
            let word = self.bus.read32(word_offset).to_le_bytes();
            let start = at - word_offset;
            let count = (BUS_WIDTH - start).min(buf.len() - filled);
            buf[filled..filled + count].copy_from_slice(&word[start..start + count]);
            filled += count;
            at += count;
        }
        Ok(())
    }

    /// Erases the block at `offset` (a multiple of the block size) to 0xFF, waiting for it.
    pub fn erase_sector(&mut self, offset: usize) -> Result<(), Error> {
        self.finish_erase()?;
        self.erase_start(offset)?;
        self.erasing = None;
        self.wait_ready(offset, self.erase_polls, Operation::Erase)
    }

    /// Starts erasing the block at `offset` and returns at once (a real part takes up to
    /// seconds; QEMU erases during the confirm write). [`CfiFlash::erase_poll`] says when it is
    /// done; any other operation waits for it first.
    pub fn erase_start(&mut self, offset: usize) -> Result<(), Error> {
        self.finish_erase()?;
        if self.block_size == 0 || !offset.is_multiple_of(self.block_size as usize) {
            return Err(Error::Unaligned);
        }
        self.check_range(offset, self.block_size as usize)?;
        self.read_array = false;
        self.bus.write32(offset, command::BLOCK_ERASE);
        self.bus.write32(offset, command::ERASE_CONFIRM);
        self.bus.write32(offset, command::READ_STATUS);
        self.erasing = Some(offset);
        Ok(())
    }

    /// One look at the erase [`CfiFlash::erase_start`] began: `None` while it runs, then its
    /// result (once; `Some(Ok(()))` when no erase is running).
    pub fn erase_poll(&mut self) -> Option<Result<(), Error>> {
        let Some(offset) = self.erasing else {
            return Some(Ok(()));
        };
        if self.bus.read32(offset) & status::READY != status::READY {
            return None;
        }
        self.erasing = None;
        Some(self.wait_ready(offset, 1, Operation::Erase))
    }

    /// Waits for a started erase (another operation must not interrupt it).
    fn finish_erase(&mut self) -> Result<(), Error> {
        match self.erasing.take() {
            Some(offset) => self.wait_ready(offset, self.erase_polls, Operation::Erase),
            None => Ok(()),
        }
    }

    /// Programs `data` at `offset`: aligned runs of at least two words through the write
    /// buffer (never across a buffer-aligned boundary), the rest one 32-bit word at a time. An
    /// unaligned start or end is completed with the bytes already in flash, so neighbouring
    /// bytes keep their contents. The device stays in status mode between operations and
    /// returns to read-array mode once at the end (each mode change remaps the window; per
    /// word that made QEMU ~20x slower).
    pub fn program(&mut self, offset: usize, data: &[u8]) -> Result<(), Error> {
        self.finish_erase()?;
        self.read_array = false;
        let result = self.program_words(offset, data);
        if !self.lazy_read_array {
            self.bus
                .write32(offset & !(BUS_WIDTH - 1), command::READ_ARRAY);
            self.read_array = true;
        }
        result
    }

    fn program_words(&mut self, offset: usize, data: &[u8]) -> Result<(), Error> {
        self.check_range(offset, data.len())?;
        let mut at = offset;
        let mut done = 0;
        while done < data.len() {
            let run = self.buffer_run(at, data.len() - done);
            if run > 0 {
                self.program_buffer(at, &data[done..done + run])?;
                done += run;
                at += run;
                continue;
            }
            let word_offset = at & !(BUS_WIDTH - 1);
            let start = at - word_offset;
            let count = (BUS_WIDTH - start).min(data.len() - done);
            let mut word = [0u8; BUS_WIDTH];
            if count == BUS_WIDTH {
                word.copy_from_slice(&data[done..done + BUS_WIDTH]);
            } else {
                self.read(word_offset, &mut word)?;
                word[start..start + count].copy_from_slice(&data[done..done + count]);
            }
            self.bus.write32(word_offset, command::WORD_PROGRAM);
            self.bus.write32(word_offset, u32::from_le_bytes(word));
            // Status mode now: a later partial word's read must re-enter read-array mode.
            self.read_array = false;
            self.wait_status(word_offset, self.program_polls, Operation::Program)?;
            done += count;
            at += count;
        }
        Ok(())
    }

    /// Bytes from `at` (of `remaining`) that one write-to-buffer takes: whole words up to the
    /// next buffer-aligned boundary, or 0 when a word program is the better (or only) way.
    fn buffer_run(&self, at: usize, remaining: usize) -> usize {
        let buffer = self.write_buffer as usize;
        if buffer == 0 || !at.is_multiple_of(BUS_WIDTH) {
            return 0;
        }
        let to_boundary = buffer - at % buffer;
        let run = remaining.min(to_boundary) & !(BUS_WIDTH - 1);
        if run < 2 * BUS_WIDTH { 0 } else { run }
    }

    /// One write-to-buffer of `words` (whole bus words, inside one buffer-aligned block) at
    /// `at`: setup, wait for the buffer, count, data, confirm, wait for the program. Leaves
    /// the flash in status mode.
    fn program_buffer(&mut self, at: usize, words: &[u8]) -> Result<(), Error> {
        let count = words.len() / BUS_WIDTH;
        // `buffer_run` keeps a run within one buffer (at most MAX_WRITE_BUFFER bytes).
        let Ok(count_field) = u16::try_from(count - 1) else {
            return Err(Error::BufferRefused);
        };
        self.read_array = false;
        // Setup; the status register's bit 7 says whether a buffer is free.
        self.bus.write32(at, command::WRITE_TO_BUFFER);
        let mut free = false;
        for _ in 0..self.program_polls {
            if self.bus.read32(at) & status::READY == status::READY {
                free = true;
                break;
            }
        }
        if !free {
            // After 0xE8 the next write is always taken as the count, so the sequence cannot
            // be left at once: finish it with one word (our own first word) and a non-confirm,
            // which a real part refuses as a sequence error, then clear the status.
            self.bus.write32(at, both_lanes(0));
            self.bus.write32(
                at,
                u32::from_le_bytes([words[0], words[1], words[2], words[3]]),
            );
            self.bus.write32(at, command::READ_ARRAY);
            self.bus.write32(at, command::CLEAR_STATUS);
            self.bus.write32(at, command::READ_ARRAY);
            return Err(Error::BufferRefused);
        }
        self.bus.write32(at, both_lanes(count_field));
        for (index, word) in words.chunks_exact(BUS_WIDTH).enumerate() {
            let value = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            self.bus.write32(at + index * BUS_WIDTH, value);
        }
        self.bus.write32(at, command::BUFFER_CONFIRM);
        self.wait_status(at, self.program_polls, Operation::Program)
    }

    /// Polls the status register until both chips are ready, then checks the error bits.
    /// Leaves the flash in read-array mode (in status mode when lazy).
    fn wait_ready(&mut self, offset: usize, polls: u32, operation: Operation) -> Result<(), Error> {
        let result = self.wait_status(offset, polls, operation);
        if !self.lazy_read_array {
            self.bus.write32(offset, command::READ_ARRAY);
            self.read_array = true;
        }
        result
    }

    /// Polls the status register until both chips are ready, then checks the error bits (and
    /// clears them). Leaves the flash in status mode.
    fn wait_status(
        &mut self,
        offset: usize,
        polls: u32,
        operation: Operation,
    ) -> Result<(), Error> {
        self.bus.write32(offset, command::READ_STATUS);
        let mut value = 0;
        let mut ready = false;
        for _ in 0..polls {
            value = self.bus.read32(offset);
            if value & status::READY == status::READY {
                ready = true;
                break;
            }
        }
        let result = if !ready {
            Err(Error::Timeout)
        } else if value & status::LOCKED != 0 {
            Err(Error::Locked)
        } else if value & status::VPP_LOW != 0 {
            Err(Error::Vpp)
        } else if value & (status::ERASE_ERROR | status::PROGRAM_ERROR) != 0 {
            Err(match operation {
                Operation::Erase => Error::EraseFailed,
                Operation::Program => Error::ProgramFailed,
            })
        } else {
            Ok(())
        };
        if result.is_err() && ready {
            self.bus.write32(offset, command::CLEAR_STATUS);
        }
        result
    }
}
