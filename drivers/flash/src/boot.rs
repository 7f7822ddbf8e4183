//! The driver as a `bootstate::Flash`: what dpuboot and the kernel run the A/B logic on.
//!
//! `bootstate` wants fixed sector size and program granularity (QEMU virt flash1: 256 KiB
//! sectors, 4-byte words), and typed errors; this adapter checks the geometry it was built with
//! and maps [`Error`] onto [`bootstate::FlashError`]. It also counts erases and programs so the
//! kernel can report flash writes per boot. It turns on the write buffer the CFI query offers.

use crate::{Bus, CfiFlash, Error};
use bootstate::{Flash, FlashError, layout};

impl From<Error> for FlashError {
    fn from(error: Error) -> Self {
        match error {
            Error::Timeout | Error::NoCfi => FlashError::Timeout,
            Error::EraseFailed => FlashError::EraseFailed,
            Error::ProgramFailed | Error::BufferRefused => FlashError::ProgramFailed,
            Error::Locked => FlashError::Locked,
            Error::Vpp => FlashError::Vpp,
            Error::OutOfRange => FlashError::OutOfRange,
            Error::Unaligned => FlashError::Unaligned,
        }
    }
}

/// A CFI flash used for boot state, with operation counters.
#[derive(Debug)]
pub struct BootFlash<B: Bus> {
    flash: CfiFlash<B>,
    erases: u32,
    programs: u32,
}

impl<B: Bus> BootFlash<B> {
    /// Wraps `flash`; its erase block size must be the layout's sector size. Turns on the
    /// device's write buffer if its CFI query offers one (one QEMU file write per buffer
    /// instead of per word).
    pub fn new(mut flash: CfiFlash<B>) -> Result<Self, FlashError> {
        if flash.block_size() != layout::SECTOR_SIZE || u32::try_from(flash.size()).is_err() {
            return Err(FlashError::Unaligned);
        }
        if flash.write_buffer() == 0 {
            let _ = flash.enable_write_buffer();
        }
        Ok(BootFlash {
            flash,
            erases: 0,
            programs: 0,
        })
    }

    /// Erase operations done through this adapter.
    #[must_use]
    pub fn erases(&self) -> u32 {
        self.erases
    }

    /// Program operations done through this adapter.
    #[must_use]
    pub fn programs(&self) -> u32 {
        self.programs
    }

    /// The driver.
    pub fn driver_mut(&mut self) -> &mut CfiFlash<B> {
        &mut self.flash
    }
}

impl<B: Bus> Flash for BootFlash<B> {
    const SECTOR_SIZE: u32 = layout::SECTOR_SIZE;
    const PROGRAM_GRANULARITY: u32 = layout::PROGRAM_GRANULARITY;

    fn capacity(&self) -> u32 {
        // `new` checked that the size fits.
        u32::try_from(self.flash.size()).unwrap_or(0)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        Ok(self.flash.read(offset as usize, buf)?)
    }

    fn erase(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        if !sector_offset.is_multiple_of(Self::SECTOR_SIZE) {
            return Err(FlashError::Unaligned);
        }
        self.erases += 1;
        Ok(self.flash.erase_sector(sector_offset as usize)?)
    }

    fn erase_begin(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        if !sector_offset.is_multiple_of(Self::SECTOR_SIZE) {
            return Err(FlashError::Unaligned);
        }
        self.erases += 1;
        Ok(self.flash.erase_start(sector_offset as usize)?)
    }

    fn erase_busy(&mut self) -> Result<bool, FlashError> {
        match self.flash.erase_poll() {
            None => Ok(true),
            Some(result) => result.map(|()| false).map_err(FlashError::from),
        }
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        let granularity = Self::PROGRAM_GRANULARITY as usize;
        if !(offset as usize).is_multiple_of(granularity) || !data.len().is_multiple_of(granularity)
        {
            return Err(FlashError::Unaligned);
        }
        self.programs += 1;
        Ok(self.flash.program(offset as usize, data)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakePflash;
    use bootstate::sign::{SigningKey, sign, trusted_key};
    use bootstate::{Bank, BankState, BootControl, BootDecision, Version};

    fn control() -> BootControl<BootFlash<FakePflash>> {
        let mut fake = FakePflash::new(layout::FLASH_SIZE as usize, layout::SECTOR_SIZE as usize);
        // xtask makes flash1 erased (a never-erased floor area of 0x00 would be full).
        fake.memory.fill(0xFF);
        let flash = BootFlash::new(CfiFlash::new(fake, layout::SECTOR_SIZE)).unwrap();
        BootControl::load(flash).unwrap()
    }

    #[test]
    fn provision_select_commit_on_the_pflash_model() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let keys = [trusted_key(&key.verifying_key())];
        let version = Version {
            major: 1,
            minor: 2,
            revision: 3,
            build: 4,
        };
        let image = sign(&[0x5a; 10_000], version, 1, &key).unwrap();
        let mut control = control();
        control.provision(Bank::A, &image, &keys).unwrap();
        let mut flash = control.into_flash();
        let (erases, programs) = (flash.erases(), flash.programs());
        // The adapter turned the write buffer on: the image went in buffers, not word by word.
        let bus = flash.driver_mut().bus_mut();
        assert!(bus.buffer_programs >= 5, "{} buffers", bus.buffer_programs);
        // Only single words (a floor slot, a record's tail) are programmed word by word.
        assert!(bus.programs <= 4, "{} word programs", bus.programs);
        let mut control = BootControl::load(flash).unwrap();
        assert_eq!(control.record().bank(Bank::A).state, BankState::Good);
        let decision = control.select().unwrap();
        assert!(matches!(
            decision,
            BootDecision::Boot {
                bank: Bank::A,
                trial: false,
                ..
            }
        ));
        // A steady boot of a committed bank writes nothing.
        let flash = control.into_flash();
        assert_eq!((flash.erases(), flash.programs()), (erases, programs));
        assert!(control_verify(flash, &keys));
    }

    fn control_verify(flash: BootFlash<FakePflash>, keys: &[bootstate::TrustedKey]) -> bool {
        let mut control = BootControl::load(flash).unwrap();
        control.verify_bank(Bank::A, keys).is_ok()
    }

    #[test]
    fn wrong_geometry_is_refused() {
        let fake = FakePflash::new(1 << 20, 64 * 1024);
        assert!(matches!(
            BootFlash::new(CfiFlash::new(fake, 64 * 1024)),
            Err(FlashError::Unaligned)
        ));
    }
}
