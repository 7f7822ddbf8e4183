//! The `Flash` trait: the NOR-flash operations the boot-state logic needs, with typed errors.
//!
//! Offsets are relative to the start of the flash device (flash1 on QEMU virt). The kernel
//! adapts the `cfi-flash` driver to this trait; tests use [`crate::sim::NorSim`].

/// Why a flash operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum FlashError {
    /// The range lies (partly) outside the device.
    OutOfRange,
    /// The offset or length is not a multiple of the sector size / program granularity.
    Unaligned,
    /// Programming a word that is not erased with different data (NOR can only clear bits).
    NotErased,
    /// Power was lost during or before the operation (simulator only).
    PowerLost,
    /// The device reported an erase failure.
    EraseFailed,
    /// The device reported a program failure.
    ProgramFailed,
    /// The device did not become ready in time.
    Timeout,
    /// The block is locked.
    Locked,
    /// Programming voltage error.
    Vpp,
}

impl core::fmt::Display for FlashError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            FlashError::OutOfRange => "range outside the flash device",
            FlashError::Unaligned => "offset or length not aligned to the sector or program size",
            FlashError::NotErased => "programming over data that is not erased",
            FlashError::PowerLost => "power lost during the operation",
            FlashError::EraseFailed => "erase failed",
            FlashError::ProgramFailed => "program failed",
            FlashError::Timeout => "flash did not become ready in time",
            FlashError::Locked => "flash block is locked",
            FlashError::Vpp => "programming voltage too low",
        })
    }
}

/// A NOR flash device: reads anywhere, erases whole sectors to 0xFF, programs by clearing bits.
pub trait Flash {
    /// Erase sector size in bytes (a power of two).
    const SECTOR_SIZE: u32;
    /// Program granularity in bytes: offsets and lengths of `program` are multiples of it.
    const PROGRAM_GRANULARITY: u32;

    /// Device size in bytes.
    fn capacity(&self) -> u32;

    /// Reads `buf.len()` bytes starting at `offset`.
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError>;

    /// Erases the sector starting at `sector_offset` (a multiple of `SECTOR_SIZE`) to 0xFF.
    fn erase(&mut self, sector_offset: u32) -> Result<(), FlashError>;

    /// Programs `data` at `offset`; both must be multiples of `PROGRAM_GRANULARITY` and the
    /// target words must be erased.
    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError>;

    /// Starts erasing the sector at `sector_offset`; [`Flash::erase_busy`] says when it is done
    /// (a real NOR erase takes up to seconds: a caller with a loop to keep running polls it).
    /// Any other operation waits for it. By default the whole erase, as [`Flash::erase`].
    fn erase_begin(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        self.erase(sector_offset)
    }

    /// Whether the erase [`Flash::erase_begin`] started still runs; its error once it ended
    /// badly. By default never busy.
    fn erase_busy(&mut self) -> Result<bool, FlashError> {
        Ok(false)
    }
}
