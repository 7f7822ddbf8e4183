//! An in-memory NOR-flash simulator with power-cut, torn-program and interrupted-erase faults.
//!
//! Behaves like real NOR rather than like QEMU's pflash: erase sets a sector to 0xFF, program
//! only clears bits, and programming a word that is not erased with different data is an error.
//! Sectors are stored sparsely (untouched sectors read as 0xFF), so cloning a 64 MiB device to
//! explore every power-cut point is cheap. Erases and programs are counted (reads are not) so
//! tests can assert how many writes a boot costs. Available in tests and with feature `std`.

use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

use crate::flash::{Flash, FlashError};
use crate::layout;

/// What goes wrong at the armed operation. After any fault the power stays off (every
/// operation, reads included, fails with [`FlashError::PowerLost`]) until
/// [`NorSim::restore_power`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Power is cut before the operation starts: nothing changes.
    PowerCut,
    /// A program writes only a pseudo-random subset of the bits it should clear (seeded).
    /// Applied to an erase it is a plain power cut.
    TornProgram(u64),
    /// A program writes only its first `n` bytes. Applied to an erase it is a plain power cut.
    TornPrefix(usize),
    /// An erase stops part-way: a seeded prefix of the sector reads 0xFF, a few words after it
    /// hold garbage, the rest keeps its old contents. Applied to a program it is a power cut.
    InterruptedErase(u64),
}

/// The simulated device.
#[derive(Debug, Clone)]
pub struct NorSim {
    size: u32,
    sectors: BTreeMap<u32, Vec<u8>>,
    erases: u64,
    programs: u64,
    armed: Option<(u64, Fault)>,
    powered: bool,
    /// Polls of [`Flash::erase_busy`] that report busy after each [`Flash::erase_begin`].
    erase_busy_polls: u32,
    erase_busy_left: u32,
}

const SECTOR: u32 = layout::SECTOR_SIZE;

/// Checks that `[offset, offset + len)` lies inside a device of `capacity` bytes.
fn check_range(capacity: u32, offset: u32, len: usize) -> Result<(), FlashError> {
    let len = u32::try_from(len).map_err(|_| FlashError::OutOfRange)?;
    match offset.checked_add(len) {
        Some(end) if end <= capacity => Ok(()),
        _ => Err(FlashError::OutOfRange),
    }
}

/// A small deterministic generator (xorshift64*) for fault patterns.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

impl NorSim {
    /// A blank (all 0xFF) device of `size` bytes (a multiple of the sector size).
    #[must_use]
    pub fn new(size: u32) -> NorSim {
        NorSim {
            size,
            sectors: BTreeMap::new(),
            erases: 0,
            programs: 0,
            armed: None,
            erase_busy_polls: 0,
            erase_busy_left: 0,
            powered: true,
        }
    }

    /// A blank device with flash1's size.
    #[must_use]
    pub fn flash1() -> NorSim {
        NorSim::new(layout::FLASH_SIZE)
    }

    /// A device holding `image` (e.g. a flash1.img file); must be a whole number of sectors.
    pub fn from_image(image: &[u8]) -> Result<NorSim, FlashError> {
        let size = u32::try_from(image.len()).map_err(|_| FlashError::OutOfRange)?;
        if size % SECTOR != 0 {
            return Err(FlashError::Unaligned);
        }
        let mut sim = NorSim::new(size);
        for (index, chunk) in image.chunks(SECTOR as usize).enumerate() {
            if chunk.iter().any(|&byte| byte != 0xFF) {
                sim.sectors.insert(index as u32, chunk.to_vec());
            }
        }
        Ok(sim)
    }

    /// The whole device contents (untouched sectors as 0xFF), e.g. to write flash1.img.
    #[must_use]
    pub fn to_image(&self) -> Vec<u8> {
        let mut image = vec![0xFF; self.size as usize];
        for (&index, data) in &self.sectors {
            let start = (index * SECTOR) as usize;
            image[start..start + data.len()].copy_from_slice(data);
        }
        image
    }

    /// Erases plus programs performed so far (reads excluded).
    #[must_use]
    pub fn operations(&self) -> u64 {
        self.erases + self.programs
    }

    /// Erases performed so far.
    #[must_use]
    pub fn erases(&self) -> u64 {
        self.erases
    }

    /// Programs performed so far.
    #[must_use]
    pub fn programs(&self) -> u64 {
        self.programs
    }

    /// Arms `fault` for the operation that would be number `operations() + after` (so
    /// `after == 0` hits the very next erase or program).
    pub fn arm(&mut self, after: u64, fault: Fault) {
        self.armed = Some((self.operations() + after, fault));
    }

    /// Makes each [`Flash::erase_begin`] report busy for `polls` polls (the data is erased at
    /// once; the model is of a caller that must not wait).
    pub fn set_erase_busy_polls(&mut self, polls: u32) {
        self.erase_busy_polls = polls;
    }

    /// Arms a plain power cut before the `after`-th next operation.
    pub fn power_cut_before(&mut self, after: u64) {
        self.arm(after, Fault::PowerCut);
    }

    /// Turns power back on and disarms any pending fault ("reboot").
    pub fn restore_power(&mut self) {
        self.powered = true;
        self.armed = None;
    }

    /// Whether the power is on.
    #[must_use]
    pub fn powered(&self) -> bool {
        self.powered
    }

    fn sector_mut(&mut self, index: u32) -> &mut Vec<u8> {
        self.sectors
            .entry(index)
            .or_insert_with(|| vec![0xFF; SECTOR as usize])
    }

    /// The fault armed for the operation about to start, counting it.
    fn take_fault(&mut self) -> Result<Option<Fault>, FlashError> {
        if !self.powered {
            return Err(FlashError::PowerLost);
        }
        let number = self.operations();
        match self.armed {
            Some((at, fault)) if at == number => {
                self.armed = None;
                self.powered = false;
                Ok(Some(fault))
            }
            _ => Ok(None),
        }
    }

    fn read_byte(&self, offset: u32) -> u8 {
        match self.sectors.get(&(offset / SECTOR)) {
            Some(data) => data[(offset % SECTOR) as usize],
            None => 0xFF,
        }
    }

    fn write_byte_and(&mut self, offset: u32, value: u8) {
        let sector = self.sector_mut(offset / SECTOR);
        sector[(offset % SECTOR) as usize] &= value;
    }
}

impl Flash for NorSim {
    const SECTOR_SIZE: u32 = layout::SECTOR_SIZE;
    const PROGRAM_GRANULARITY: u32 = layout::PROGRAM_GRANULARITY;

    fn erase_begin(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        self.erase(sector_offset)?;
        self.erase_busy_left = self.erase_busy_polls;
        Ok(())
    }

    fn erase_busy(&mut self) -> Result<bool, FlashError> {
        if self.erase_busy_left == 0 {
            return Ok(false);
        }
        self.erase_busy_left -= 1;
        Ok(true)
    }

    fn capacity(&self) -> u32 {
        self.size
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        if !self.powered {
            return Err(FlashError::PowerLost);
        }
        check_range(self.size, offset, buf.len())?;
        for (index, byte) in buf.iter_mut().enumerate() {
            *byte = self.read_byte(offset + index as u32);
        }
        Ok(())
    }

    fn erase(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        if !sector_offset.is_multiple_of(SECTOR) {
            return Err(FlashError::Unaligned);
        }
        check_range(self.size, sector_offset, SECTOR as usize)?;
        let fault = self.take_fault()?;
        self.erases += 1;
        let index = sector_offset / SECTOR;
        match fault {
            None => {
                self.sectors.remove(&index);
                Ok(())
            }
            Some(Fault::InterruptedErase(seed)) => {
                let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
                let erased = (next_random(&mut state) % u64::from(SECTOR)) as usize;
                let garbage = 4 * (1 + (next_random(&mut state) % 64) as usize);
                let sector = self.sector_mut(index);
                let garbage_end = (erased + garbage).min(sector.len());
                sector[..erased].fill(0xFF);
                for byte in &mut sector[erased..garbage_end] {
                    *byte = next_random(&mut state) as u8;
                }
                Err(FlashError::PowerLost)
            }
            Some(_) => Err(FlashError::PowerLost),
        }
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let granularity = layout::PROGRAM_GRANULARITY;
        if !offset.is_multiple_of(granularity) || !data.len().is_multiple_of(granularity as usize) {
            return Err(FlashError::Unaligned);
        }
        check_range(self.size, offset, data.len())?;
        // Refuse before touching anything, like a driver that checks blank words first.
        for (word_index, word) in data.chunks(4).enumerate() {
            let at = offset + 4 * word_index as u32;
            let old = [0, 1, 2, 3].map(|i| self.read_byte(at + i));
            if old != [0xFF; 4] && old != word {
                return Err(FlashError::NotErased);
            }
        }
        let fault = self.take_fault()?;
        self.programs += 1;
        match fault {
            None => {
                for (index, &byte) in data.iter().enumerate() {
                    self.write_byte_and(offset + index as u32, byte);
                }
                Ok(())
            }
            Some(Fault::TornProgram(seed)) => {
                let mut state = seed ^ 0xD1B5_4A32_D192_ED03;
                for (index, &byte) in data.iter().enumerate() {
                    // Clear only some of the bits that should go to zero.
                    let mask = next_random(&mut state) as u8;
                    self.write_byte_and(offset + index as u32, byte | mask);
                }
                Err(FlashError::PowerLost)
            }
            Some(Fault::TornPrefix(written)) => {
                for (index, &byte) in data.iter().enumerate().take(written) {
                    self.write_byte_and(offset + index as u32, byte);
                }
                Err(FlashError::PowerLost)
            }
            Some(_) => Err(FlashError::PowerLost),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nor_semantics() {
        let mut sim = NorSim::new(4 * SECTOR);
        let mut buf = [0u8; 8];
        sim.read(SECTOR, &mut buf).unwrap();
        assert_eq!(buf, [0xFF; 8]);
        sim.program(SECTOR, &[1, 2, 3, 4]).unwrap();
        // Same data again is fine; different data on a programmed word is not.
        sim.program(SECTOR, &[1, 2, 3, 4]).unwrap();
        assert_eq!(
            sim.program(SECTOR, &[0, 2, 3, 4]),
            Err(FlashError::NotErased)
        );
        assert_eq!(sim.program(SECTOR + 2, &[0; 4]), Err(FlashError::Unaligned));
        assert_eq!(
            sim.program(4 * SECTOR, &[0; 4]),
            Err(FlashError::OutOfRange)
        );
        assert_eq!(sim.erase(SECTOR + 4), Err(FlashError::Unaligned));
        sim.read(SECTOR, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3, 4, 0xFF, 0xFF, 0xFF, 0xFF]);
        sim.erase(SECTOR).unwrap();
        sim.read(SECTOR, &mut buf).unwrap();
        assert_eq!(buf, [0xFF; 8]);
        assert_eq!((sim.programs(), sim.erases()), (2, 1));
    }

    #[test]
    fn power_cut_stops_everything_until_restored() {
        let mut sim = NorSim::new(2 * SECTOR);
        sim.power_cut_before(1);
        sim.program(0, &[0; 4]).unwrap();
        assert_eq!(sim.program(4, &[0; 4]), Err(FlashError::PowerLost));
        let mut buf = [0u8; 4];
        assert_eq!(sim.read(0, &mut buf), Err(FlashError::PowerLost));
        sim.restore_power();
        sim.read(4, &mut buf).unwrap();
        assert_eq!(buf, [0xFF; 4], "the cut operation must not have written");
    }

    #[test]
    fn torn_program_only_clears_some_bits() {
        let mut sim = NorSim::new(SECTOR);
        sim.arm(0, Fault::TornProgram(7));
        assert_eq!(sim.program(0, &[0u8; 64]), Err(FlashError::PowerLost));
        sim.restore_power();
        let mut buf = [0u8; 64];
        sim.read(0, &mut buf).unwrap();
        assert!(buf.iter().any(|&b| b != 0) && buf.iter().any(|&b| b != 0xFF));
    }

    #[test]
    fn interrupted_erase_leaves_a_mix() {
        let mut sim = NorSim::new(SECTOR);
        sim.program(0, &vec![0u8; SECTOR as usize]).unwrap();
        sim.arm(0, Fault::InterruptedErase(3));
        assert_eq!(sim.erase(0), Err(FlashError::PowerLost));
        sim.restore_power();
        let image = sim.to_image();
        let sector = &image[..SECTOR as usize];
        assert!(sector.iter().any(|&b| b != 0), "nothing was erased");
        assert!(sector.iter().any(|&b| b != 0xFF), "the erase completed");
    }

    #[test]
    fn image_round_trip() {
        let mut sim = NorSim::new(2 * SECTOR);
        sim.program(SECTOR + 8, &[9, 8, 7, 6]).unwrap();
        let copy = NorSim::from_image(&sim.to_image()).unwrap();
        assert_eq!(copy.to_image(), sim.to_image());
    }
}
