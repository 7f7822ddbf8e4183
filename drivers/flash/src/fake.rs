//! A model of QEMU's `pflash_cfi01` (bus width 4, two x16 chips) for the driver's host tests.
//!
//! Command state machine (read array / status / ID / CFI query, erase setup -> confirm,
//! program setup -> data), a status register in both lanes, erase to 0xFF, program as bitwise
//! AND (real NOR; QEMU overwrites). Injectable: locked blocks, erase/program failures, a number
//! of "busy" status polls before ready. Commands whose two lanes differ are recorded as faults.

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
        cfi[0x2A] = 11; // 2 KiB write buffer, unused by the driver
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
            cfi,
        }
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
            Mode::ReadStatus | Mode::EraseSetup | Mode::ProgramSetup => {
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
            }
            self.mode = Mode::ReadStatus;
            return;
        }
        let (high, low) = ((value >> 16) as u16, value as u16);
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
}
