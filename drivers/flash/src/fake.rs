//! A model of QEMU's `pflash_cfi01` (bus width 4, two x16 chips) for the driver's host tests.
//!
//! Command state machine (read array / status / ID / CFI query, erase setup -> confirm,
//! program setup -> data, write to buffer setup -> count -> words -> confirm), a status
//! register in both lanes, erase to 0xFF, program as bitwise AND (real NOR; QEMU overwrites).
//! Write to buffer follows QEMU 7.2's `pflash_cfi01`: the buffer is the CFI size per chip
//! times the two chips (4 KiB on the bus), the count is bus words minus one in each lane, and
//! the whole buffer reaches the backing file in one write (`file_writes` counts them, as QEMU's
//! `pflash_update` calls). Unlike QEMU, which checks nothing, the model refuses what real
//! parts refuse: a count larger than the buffer, a word outside the buffer's aligned block, a
//! confirm other than 0xD0 (each a program or sequence error, nothing written).
//! Injectable: locked blocks, erase/program failures, "busy" status polls before ready, a
//! buffer that never becomes free, a fault after N words of a buffer (only those land).
//! Commands whose two lanes differ are recorded as faults.

use std::vec;
use std::vec::Vec;

use crate::{Bus, both_lanes};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    ReadArray,
    ReadStatus,
    ReadId,
    Query,
    EraseSetup,
    ProgramSetup,
    /// After 0xE8: reads return status (bit 7: a buffer is free); the next write is the count.
    BufferSetup,
    /// Words of the buffer still to come.
    BufferData {
        remaining: u32,
    },
    /// Every word arrived; the next write must be the confirm.
    BufferConfirm,
}

/// The fake device.
pub struct FakePflash {
    pub memory: Vec<u8>,
    pub block_size: usize,
    mode: Mode,
    status: u16,
    pub busy_polls: u32,
    pub locked_block: Option<usize>,
    pub fail_erase: bool,
    pub fail_program: bool,
    pub bad_commands: u32,
    pub erases: u32,
    pub programs: u32,
    /// Buffer programs confirmed (whether or not they succeeded).
    pub buffer_programs: u32,
    /// Writes to the backing file: one per erase, word program or buffer program.
    pub file_writes: u32,
    /// Status polls after 0xE8 before a buffer is free.
    pub buffer_busy_polls: u32,
    /// The buffer never becomes free.
    pub buffer_never_free: bool,
    /// The device faults after this many words of a buffer: they land, the rest do not.
    pub fail_buffer_after: Option<u32>,
    /// Buffer sequences refused (count too large, word outside the block, bad confirm).
    pub buffer_faults: u32,
    /// Changes between read-array mode and any other (QEMU remaps the window on each).
    pub remaps: u32,
    /// The write buffer on the bus in bytes (per chip size times two chips).
    pub writeblock_size: usize,
    pending: Vec<(usize, u32)>,
    pending_block: Option<usize>,
    pending_fault: bool,
    cfi: [u8; 0x40],
}

impl FakePflash {
    /// `size` bytes on the bus with `block_size`-byte erase blocks, initially 0x00 (like a file
    /// made by `truncate`).
    pub fn new(size: usize, block_size: usize) -> FakePflash {
        let mut cfi = [0u8; 0x40];
        cfi[0x10..0x13].copy_from_slice(b"QRY");
        cfi[0x13] = 0x01; // Intel/Sharp command set
        // Per-chip values: each x16 chip holds half of every block and half of the device.
        let chip_size = size / 2;
        cfi[0x27] = chip_size.trailing_zeros() as u8;
        cfi[0x2A] = 11; // 2 KiB write buffer per chip, 4 KiB on the bus
        cfi[0x2C] = 1;
        let blocks = (size / block_size - 1) as u16;
        cfi[0x2D..0x2F].copy_from_slice(&blocks.to_le_bytes());
        let units = (block_size / 2 / 256) as u16;
        cfi[0x2F..0x31].copy_from_slice(&units.to_le_bytes());
        FakePflash {
            memory: vec![0; size],
            block_size,
            mode: Mode::ReadArray,
            status: 0x80,
            busy_polls: 0,
            locked_block: None,
            fail_erase: false,
            fail_program: false,
            bad_commands: 0,
            erases: 0,
            programs: 0,
            buffer_programs: 0,
            file_writes: 0,
            buffer_busy_polls: 0,
            buffer_never_free: false,
            fail_buffer_after: None,
            buffer_faults: 0,
            remaps: 0,
            writeblock_size: (1 << 11) * 2,
            pending: Vec::new(),
            pending_block: None,
            pending_fault: false,
            cfi,
        }
    }

    /// A buffer sequence the device refuses: status bits 4 and 5, nothing written.
    fn refuse_buffer(&mut self) {
        self.buffer_faults += 1;
        self.status |= 0x30;
        self.pending.clear();
        self.pending_block = None;
        self.mode = Mode::ReadStatus;
    }

    /// One data word of a buffer sequence.
    fn buffer_word(&mut self, offset: usize, value: u32, remaining: u32) {
        let block = offset / self.writeblock_size;
        if *self.pending_block.get_or_insert(block) != block {
            self.refuse_buffer();
            return;
        }
        let accepted = self.pending.len() as u32;
        if self
            .fail_buffer_after
            .is_some_and(|limit| accepted >= limit)
        {
            self.pending_fault = true;
        } else {
            self.pending.push((offset, value));
        }
        self.mode = match remaining {
            0 => Mode::BufferConfirm,
            _ => Mode::BufferData {
                remaining: remaining - 1,
            },
        };
    }

    /// The confirm: the buffer lands (as far as it got before an injected fault).
    fn confirm_buffer(&mut self) {
        self.buffer_programs += 1;
        let block = self
            .pending
            .first()
            .map(|(offset, _)| offset / self.block_size);
        if block.is_some() && block == self.locked_block {
            self.status |= 0x12;
        } else if self.fail_program {
            self.status |= 0x10;
        } else {
            for (offset, value) in core::mem::take(&mut self.pending) {
                for (index, byte) in value.to_le_bytes().iter().enumerate() {
                    self.memory[offset + index] &= byte;
                }
            }
            self.file_writes += 1;
            if self.pending_fault {
                self.status |= 0x10;
            }
        }
        self.pending.clear();
        self.pending_block = None;
        self.pending_fault = false;
        self.mode = Mode::ReadStatus;
    }
}

impl Bus for FakePflash {
    fn size(&self) -> usize {
        self.memory.len()
    }

    fn read32(&mut self, offset: usize) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned bus read");
        match self.mode {
            Mode::ReadArray => {
                let bytes = &self.memory[offset..offset + 4];
                u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
            }
            Mode::BufferSetup if self.buffer_never_free => both_lanes(self.status & !0x80),
            Mode::BufferSetup if self.buffer_busy_polls > 0 => {
                self.buffer_busy_polls -= 1;
                both_lanes(self.status & !0x80)
            }
            // The buffer is free; `busy_polls` models the program after the confirm.
            Mode::BufferSetup => both_lanes(self.status),
            Mode::ReadStatus
            | Mode::EraseSetup
            | Mode::ProgramSetup
            | Mode::BufferData { .. }
            | Mode::BufferConfirm => {
                if self.busy_polls > 0 {
                    self.busy_polls -= 1;
                    return both_lanes(self.status & !0x80);
                }
                both_lanes(self.status)
            }
            Mode::ReadId => match offset / 4 {
                0 => both_lanes(0x0089),
                1 => both_lanes(0x0018),
                _ => 0,
            },
            Mode::Query => both_lanes(u16::from(*self.cfi.get(offset / 4).unwrap_or(&0))),
        }
    }

    fn write32(&mut self, offset: usize, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned bus write");
        let was_array = self.mode == Mode::ReadArray;
        self.write_command(offset, value);
        if was_array != (self.mode == Mode::ReadArray) {
            self.remaps += 1;
        }
    }
}

impl FakePflash {
    /// The command state machine behind [`Bus::write32`].
    fn write_command(&mut self, offset: usize, value: u32) {
        if self.mode == Mode::ProgramSetup {
            self.programs += 1;
            let block = offset / self.block_size;
            if self.locked_block == Some(block) {
                self.status |= 0x12;
            } else if self.fail_program {
                self.status |= 0x10;
            } else {
                for (index, byte) in value.to_le_bytes().iter().enumerate() {
                    self.memory[offset + index] &= byte;
                }
                self.file_writes += 1;
            }
            self.mode = Mode::ReadStatus;
            return;
        }
        if let Mode::BufferData { remaining } = self.mode {
            self.buffer_word(offset, value, remaining);
            return;
        }
        let (high, low) = ((value >> 16) as u16, value as u16);
        if self.mode == Mode::BufferSetup {
            // The count, bus words minus one, in each lane (QEMU takes the low lane).
            let words = usize::from(low) + 1;
            if high != low || words * 4 > self.writeblock_size {
                self.refuse_buffer();
            } else {
                self.mode = Mode::BufferData {
                    remaining: u32::from(low),
                };
            }
            return;
        }
        if self.mode == Mode::BufferConfirm {
            if value == both_lanes(0xD0) {
                self.confirm_buffer();
            } else {
                self.refuse_buffer();
            }
            return;
        }
        if high != low {
            self.bad_commands += 1;
            return;
        }
        match (self.mode, low & 0xFF) {
            (Mode::EraseSetup, 0xD0) => {
                self.erases += 1;
                let block = offset / self.block_size;
                if self.locked_block == Some(block) {
                    self.status |= 0x22;
                } else if self.fail_erase {
                    self.status |= 0x20;
                } else {
                    let start = block * self.block_size;
                    self.memory[start..start + self.block_size].fill(0xFF);
                    self.file_writes += 1;
                }
                self.mode = Mode::ReadStatus;
            }
            (Mode::EraseSetup, _) => {
                // Anything but confirm aborts the erase with a sequence error (bits 4 and 5).
                self.status |= 0x30;
                self.mode = Mode::ReadStatus;
            }
            (_, 0xFF) => self.mode = Mode::ReadArray,
            (_, 0x70) => self.mode = Mode::ReadStatus,
            (_, 0x50) => self.status = 0x80,
            (_, 0x90) => self.mode = Mode::ReadId,
            (_, 0x98) => self.mode = Mode::Query,
            (_, 0x20) => self.mode = Mode::EraseSetup,
            (_, 0x40) | (_, 0x10) => self.mode = Mode::ProgramSetup,
            (_, 0xE8) => self.mode = Mode::BufferSetup,
            _ => self.bad_commands += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FakePflash;
    use crate::{CfiFlash, Error};

    const BLOCK: usize = 256 * 1024;

    fn flash() -> CfiFlash<FakePflash> {
        CfiFlash::new(FakePflash::new(8 * BLOCK, BLOCK), BLOCK as u32)
    }

    #[test]
    fn query_reports_the_virt_geometry() {
        let mut flash = CfiFlash::new(FakePflash::new(64 << 20, BLOCK), BLOCK as u32);
        let info = flash.query().unwrap();
        assert_eq!(info.command_set, 1);
        assert_eq!(info.size, 64 << 20);
        assert_eq!(info.erase_block_size, BLOCK as u32);
        assert_eq!(info.erase_blocks, 256);
        assert_eq!(info.interleave, 2);
        // Back in read-array mode afterwards.
        let mut buf = [0xAAu8; 4];
        flash.read(0, &mut buf).unwrap();
        assert_eq!(buf, [0; 4]);
        assert_eq!(flash.read_id(), (0x89, 0x18));
        assert_eq!(flash.bus_mut().bad_commands, 0);
    }

    #[test]
    fn erase_program_read() {
        let mut flash = flash();
        flash.erase_sector(BLOCK).unwrap();
        let mut buf = [0u8; 8];
        flash.read(BLOCK, &mut buf).unwrap();
        assert_eq!(buf, [0xFF; 8]);
        flash.program(BLOCK, &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap();
        flash.read(BLOCK + 1, &mut buf[..6]).unwrap();
        assert_eq!(&buf[..6], &[2, 3, 4, 5, 6, 7]);
        // Unaligned start and end keep the neighbouring bytes.
        flash.erase_sector(2 * BLOCK).unwrap();
        flash
            .program(2 * BLOCK + 3, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66])
            .unwrap();
        let mut around = [0u8; 12];
        flash.read(2 * BLOCK, &mut around).unwrap();
        assert_eq!(
            around,
            [
                0xFF, 0xFF, 0xFF, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0xFF, 0xFF, 0xFF
            ]
        );
        let bus = flash.bus_mut();
        assert_eq!((bus.erases, bus.programs, bus.bad_commands), (2, 5, 0));
        // Other blocks untouched (still the 0x00 of a fresh file).
        assert_eq!(bus.memory[0], 0);
        assert_eq!(bus.memory[3 * BLOCK], 0);
    }

    #[test]
    fn errors_are_typed_and_status_is_cleared() {
        let mut flash = flash();
        assert_eq!(flash.erase_sector(BLOCK + 4), Err(Error::Unaligned));
        assert_eq!(flash.erase_sector(8 * BLOCK), Err(Error::OutOfRange));
        assert_eq!(
            flash.program(8 * BLOCK - 2, &[0; 4]),
            Err(Error::OutOfRange)
        );
        let mut buf = [0u8; 2];
        assert_eq!(flash.read(usize::MAX, &mut buf), Err(Error::OutOfRange));

        flash.bus_mut().locked_block = Some(1);
        assert_eq!(flash.erase_sector(BLOCK), Err(Error::Locked));
        assert_eq!(flash.program(BLOCK, &[0; 4]), Err(Error::Locked));
        flash.bus_mut().locked_block = None;
        flash.bus_mut().fail_erase = true;
        assert_eq!(flash.erase_sector(BLOCK), Err(Error::EraseFailed));
        flash.bus_mut().fail_erase = false;
        flash.bus_mut().fail_program = true;
        assert_eq!(flash.program(BLOCK, &[0; 4]), Err(Error::ProgramFailed));
        flash.bus_mut().fail_program = false;
        // The status was cleared: the next operations succeed.
        flash.erase_sector(BLOCK).unwrap();
        flash.program(BLOCK, &[7; 4]).unwrap();
        flash.read(BLOCK, &mut buf).unwrap();
        assert_eq!(buf, [7, 7]);
    }

    #[test]
    fn busy_device_is_polled_and_times_out() {
        let mut flash = flash().with_poll_budget(10, 10);
        flash.bus_mut().busy_polls = 5;
        flash.erase_sector(0).unwrap();
        flash.bus_mut().busy_polls = 50;
        assert_eq!(flash.erase_sector(0), Err(Error::Timeout));
        flash.bus_mut().busy_polls = 0;
        flash.program(0, &[1, 2, 3, 4]).unwrap();
        let mut buf = [0u8; 4];
        flash.read(0, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4]);
    }

    fn buffered() -> CfiFlash<FakePflash> {
        let mut flash = flash();
        assert_eq!(
            flash.enable_write_buffer(),
            4096,
            "2 KiB per chip, two chips"
        );
        flash
    }

    fn pattern(len: usize) -> std::vec::Vec<u8> {
        (0..len).map(|n| (n * 7 + 3) as u8).collect()
    }

    #[test]
    fn query_reports_the_write_buffer() {
        let mut flash = flash();
        assert_eq!(flash.query().unwrap().write_buffer_size, 4096);
        assert_eq!(flash.write_buffer(), 0, "query alone does not turn it on");
        // Sizes the driver cannot use turn it off; a larger one is clamped.
        assert_eq!(flash.with_write_buffer(6).write_buffer(), 0);
        assert_eq!(
            CfiFlash::new(FakePflash::new(8 * BLOCK, BLOCK), BLOCK as u32)
                .with_write_buffer(1 << 16)
                .write_buffer(),
            crate::MAX_WRITE_BUFFER
        );
    }

    #[test]
    fn a_buffer_program_is_one_file_write() {
        let mut flash = buffered();
        flash.erase_sector(BLOCK).unwrap();
        let data = pattern(4096);
        flash.program(BLOCK, &data).unwrap();
        let mut back = std::vec![0u8; 4096];
        flash.read(BLOCK, &mut back).unwrap();
        assert_eq!(back, data);
        let bus = flash.bus_mut();
        // One erase and one buffer: two file writes, where word programming made 1025.
        assert_eq!((bus.buffer_programs, bus.programs), (1, 0));
        assert_eq!(bus.file_writes, 2);
        assert_eq!((bus.buffer_faults, bus.bad_commands), (0, 0));
    }

    #[test]
    fn buffers_never_cross_a_buffer_boundary() {
        let mut flash = buffered();
        flash.erase_sector(0).unwrap();
        // Starts 8 bytes before a 4 KiB boundary, ends 2 bytes into a word 6000 bytes later.
        let start = 4096 - 8;
        let data = pattern(6002);
        flash.program(start, &data).unwrap();
        let mut back = std::vec![0u8; 6010];
        flash.read(start - 4, &mut back).unwrap();
        assert_eq!(&back[..4], &[0xFF; 4]);
        assert_eq!(&back[4..6006], &data[..]);
        assert_eq!(&back[6006..], &[0xFF; 4]);
        let bus = flash.bus_mut();
        // 8 bytes to the boundary, 4096, then the 1896 whole words left, then the last partial
        // word by word program.
        assert_eq!(bus.buffer_programs, 3);
        assert_eq!(bus.programs, 1);
        assert_eq!(
            bus.buffer_faults, 0,
            "the model refuses a buffer across its block"
        );
        // A single word, or a start that is not word aligned, is a word program.
        flash.erase_sector(BLOCK).unwrap();
        flash.program(BLOCK + 2, &[1, 2, 3, 4, 5, 6]).unwrap();
        flash.program(BLOCK + 16, &[9; 4]).unwrap();
        let bus = flash.bus_mut();
        assert_eq!((bus.buffer_programs, bus.programs), (3, 4));
    }

    #[test]
    fn the_buffer_status_is_polled_and_a_busy_buffer_times_out() {
        let mut flash = buffered().with_poll_budget(10, 10);
        flash.erase_sector(0).unwrap();
        flash.bus_mut().buffer_busy_polls = 5;
        flash.program(0, &pattern(64)).unwrap();
        flash.bus_mut().buffer_never_free = true;
        assert_eq!(flash.program(64, &pattern(64)), Err(Error::BufferRefused));
        flash.bus_mut().buffer_never_free = false;
        // The refused sequence was left cleanly: the next program works, reads are data.
        flash.program(64, &pattern(64)).unwrap();
        let mut back = [0u8; 128];
        flash.read(0, &mut back).unwrap();
        assert_eq!(&back[..64], &pattern(64)[..]);
        assert_eq!(&back[64..], &pattern(64)[..]);
        // Busy after the confirm: polled; too long: a timeout.
        flash.bus_mut().busy_polls = 50;
        assert_eq!(flash.program(256, &pattern(64)), Err(Error::Timeout));
    }

    #[test]
    fn buffer_errors_are_typed_and_cleared() {
        let mut flash = buffered();
        flash.erase_sector(BLOCK).unwrap();
        flash.bus_mut().locked_block = Some(1);
        assert_eq!(flash.program(BLOCK, &pattern(64)), Err(Error::Locked));
        flash.bus_mut().locked_block = None;
        flash.bus_mut().fail_program = true;
        assert_eq!(
            flash.program(BLOCK, &pattern(64)),
            Err(Error::ProgramFailed)
        );
        flash.bus_mut().fail_program = false;
        let mut back = [0u8; 64];
        flash.read(BLOCK, &mut back).unwrap();
        assert_eq!(back, [0xFF; 64], "a refused buffer writes nothing");
        flash.program(BLOCK, &pattern(64)).unwrap();
        flash.read(BLOCK, &mut back).unwrap();
        assert_eq!(&back[..], &pattern(64)[..]);
        assert_eq!(flash.bus_mut().buffer_faults, 0);
    }

    #[test]
    fn a_fault_mid_buffer_is_an_error_and_only_the_first_words_land() {
        let mut flash = buffered();
        flash.erase_sector(0).unwrap();
        flash.bus_mut().fail_buffer_after = Some(3);
        assert_eq!(flash.program(0, &pattern(64)), Err(Error::ProgramFailed));
        flash.bus_mut().fail_buffer_after = None;
        let mut back = [0u8; 64];
        flash.read(0, &mut back).unwrap();
        assert_eq!(&back[..12], &pattern(64)[..12]);
        assert_eq!(&back[12..], &[0xFF; 52]);
        // Status was cleared: the same words again (NOR: programming equal bits is a no-op) and
        // the rest succeed.
        flash.program(0, &pattern(64)).unwrap();
        flash.read(0, &mut back).unwrap();
        assert_eq!(&back[..], &pattern(64)[..]);
    }

    #[test]
    fn the_model_refuses_bad_buffer_sequences() {
        use crate::{Bus, both_lanes, command};
        let mut fake = FakePflash::new(8 * BLOCK, BLOCK);
        // Count larger than the buffer.
        fake.write32(0, command::WRITE_TO_BUFFER);
        fake.write32(0, both_lanes(1024));
        assert_eq!(fake.buffer_faults, 1);
        // A word outside the first word's buffer block.
        fake.write32(0, command::CLEAR_STATUS);
        fake.write32(4092, command::WRITE_TO_BUFFER);
        fake.write32(4092, both_lanes(1));
        fake.write32(4092, 0);
        fake.write32(4096, 0);
        assert_eq!(fake.buffer_faults, 2);
        // A confirm that is not 0xD0.
        fake.write32(0, command::CLEAR_STATUS);
        fake.write32(0, command::WRITE_TO_BUFFER);
        fake.write32(0, both_lanes(0));
        fake.write32(0, 0);
        fake.write32(0, command::READ_ARRAY);
        assert_eq!(fake.buffer_faults, 3);
        assert_eq!(fake.file_writes, 0);
        assert_eq!(fake.read32(0) & 0x30, 0x30, "sequence error in the status");
    }

    #[test]
    fn lazy_read_array_saves_the_remaps_and_reads_stay_right() {
        let run = |lazy: bool| {
            let mut flash = buffered();
            if lazy {
                flash = flash.with_lazy_read_array();
            }
            flash.erase_sector(0).unwrap();
            for block in 0..8 {
                flash.program(block * 2048, &pattern(2048)).unwrap();
            }
            let mut back = std::vec![0u8; 2048];
            flash.read(7 * 2048, &mut back).unwrap();
            assert_eq!(back, pattern(2048), "lazy {lazy}");
            flash.bus_mut().remaps
        };
        let (eager, lazy) = (run(false), run(true));
        // Eager: out of and back into read-array mode around every operation.
        assert!(eager >= 2 * 9, "{eager} remaps");
        // Lazy: out once (the erase), back once (the read), plus the query at start.
        assert!(lazy <= 4, "{lazy} remaps");
    }

    #[test]
    fn an_erase_can_run_while_the_caller_does_other_work() {
        let mut flash = buffered();
        flash.bus_mut().busy_polls = 3;
        flash.erase_start(BLOCK).unwrap();
        assert_eq!(flash.erase_poll(), None);
        assert_eq!(flash.erase_poll(), None);
        assert_eq!(flash.erase_poll(), None);
        assert_eq!(flash.erase_poll(), Some(Ok(())));
        assert_eq!(flash.erase_poll(), Some(Ok(())), "nothing running");
        let mut back = [0u8; 8];
        flash.read(BLOCK, &mut back).unwrap();
        assert_eq!(back, [0xFF; 8]);
        // Any other operation waits for a running erase first.
        flash.bus_mut().busy_polls = 5;
        flash.erase_start(2 * BLOCK).unwrap();
        flash.program(2 * BLOCK, &pattern(16)).unwrap();
        flash.read(2 * BLOCK, &mut back).unwrap();
        assert_eq!(&back[..], &pattern(16)[..8]);
        assert_eq!(flash.erase_poll(), Some(Ok(())));
        // Its errors are typed, and reported once.
        flash.bus_mut().locked_block = Some(3);
        flash.erase_start(3 * BLOCK).unwrap();
        assert_eq!(flash.erase_poll(), Some(Err(Error::Locked)));
        assert_eq!(flash.erase_poll(), Some(Ok(())));
        assert_eq!(flash.erase_start(BLOCK + 4), Err(Error::Unaligned));
        assert_eq!(flash.bus_mut().bad_commands, 0);
    }
}
