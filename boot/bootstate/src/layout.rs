//! The flash1 layout: boot-state records, anti-rollback floor, bank A, bank B, config area.
//!
//! QEMU virt flash1 is 64 MiB of CFI NOR with 256 KiB erase sectors and a 4-byte program
//! granularity (bus width 4). Offsets are relative to the start of flash1 (physical 0x0400_0000).
//! `docs/boot-layout.md` is the prose version of this file; keep them in step.

use crate::bank::Bank;

/// Size of flash1 in bytes.
pub const FLASH_SIZE: u32 = 64 * 1024 * 1024;
/// Erase sector size in bytes.
pub const SECTOR_SIZE: u32 = 256 * 1024;
/// Program granularity in bytes (the 32-bit bus width).
pub const PROGRAM_GRANULARITY: u32 = 4;

/// Sector 0 is left to U-Boot's environment (dev boards keep it there); we never touch it.
pub const RESERVED_ENV_OFFSET: u32 = 0;
/// Boot-state record copy 0 (one sector each so that erasing one never touches the other).
pub const RECORD0_OFFSET: u32 = SECTOR_SIZE;
/// Boot-state record copy 1.
pub const RECORD1_OFFSET: u32 = 2 * SECTOR_SIZE;
/// The anti-rollback floor area: programmed slot by slot, never erased.
pub const FLOOR_OFFSET: u32 = 3 * SECTOR_SIZE;
/// Size of the floor area.
pub const FLOOR_SIZE: u32 = SECTOR_SIZE;
/// One floor slot: a 32-bit floor value followed by its bitwise complement.
pub const FLOOR_SLOT_SIZE: u32 = 8;
/// How many times the floor can be raised over the device's life.
pub const FLOOR_SLOTS: u32 = FLOOR_SIZE / FLOOR_SLOT_SIZE;
/// Bank A: 16 MiB, 16 MiB-aligned so addresses read easily in a debugger.
pub const BANK_A_OFFSET: u32 = 16 * 1024 * 1024;
/// Bank B.
pub const BANK_B_OFFSET: u32 = 32 * 1024 * 1024;
/// Size of each bank (the largest signed image, header and TLVs included).
pub const BANK_SIZE: u32 = 16 * 1024 * 1024;
/// Configuration area: the kernel's running config (`dpu-config`), two copies.
pub const CONFIG_OFFSET: u32 = 48 * 1024 * 1024;
/// Size of the configuration area (the sectors after the two copies are free for later use).
pub const CONFIG_SIZE: u32 = 16 * 1024 * 1024;
/// Config copy 0: the area's first sector.
pub const CONFIG_COPY0_OFFSET: u32 = CONFIG_OFFSET;
/// Config copy 1: the next sector, so erasing one copy never touches the other.
pub const CONFIG_COPY1_OFFSET: u32 = CONFIG_OFFSET + SECTOR_SIZE;

/// MCUboot header size we sign with (`imgtool sign --header-size 0x1000 --pad-header`): the
/// payload (the arm64 Image) then starts 4 KiB-aligned inside the bank.
pub const IMAGE_HEADER_SIZE: u32 = 0x1000;

/// Default number of boot attempts a freshly staged trial image gets.
pub const DEFAULT_TRIAL_TRIES: u8 = 3;
/// Default length of dpuboot's Shift+R window in milliseconds (0 turns it off).
pub const DEFAULT_ROLLBACK_WINDOW_MS: u16 = 2000;

/// Offset of a bank's first byte in flash1.
#[must_use]
pub const fn bank_offset(bank: Bank) -> u32 {
    match bank {
        Bank::A => BANK_A_OFFSET,
        Bank::B => BANK_B_OFFSET,
    }
}

/// Offset of a record copy's sector (`copy` is 0 or 1; anything else means copy 1).
#[must_use]
pub const fn record_offset(copy: usize) -> u32 {
    if copy == 0 {
        RECORD0_OFFSET
    } else {
        RECORD1_OFFSET
    }
}

const _: () = {
    assert!(SECTOR_SIZE.is_power_of_two());
    assert!(FLASH_SIZE.is_multiple_of(SECTOR_SIZE));
    // Every region starts on a sector boundary, so erasing one never touches another.
    assert!(RECORD0_OFFSET.is_multiple_of(SECTOR_SIZE) && RECORD0_OFFSET > RESERVED_ENV_OFFSET);
    assert!(
        RECORD1_OFFSET.is_multiple_of(SECTOR_SIZE)
            && RECORD1_OFFSET >= RECORD0_OFFSET + SECTOR_SIZE
    );
    assert!(
        FLOOR_OFFSET.is_multiple_of(SECTOR_SIZE) && FLOOR_OFFSET >= RECORD1_OFFSET + SECTOR_SIZE
    );
    assert!(FLOOR_SIZE.is_multiple_of(SECTOR_SIZE) && FLOOR_SIZE.is_multiple_of(FLOOR_SLOT_SIZE));
    assert!(FLOOR_SLOT_SIZE.is_multiple_of(PROGRAM_GRANULARITY));
    assert!(
        BANK_A_OFFSET.is_multiple_of(SECTOR_SIZE) && BANK_A_OFFSET >= FLOOR_OFFSET + FLOOR_SIZE
    );
    assert!(BANK_SIZE.is_multiple_of(SECTOR_SIZE));
    assert!(
        BANK_B_OFFSET.is_multiple_of(SECTOR_SIZE) && BANK_B_OFFSET >= BANK_A_OFFSET + BANK_SIZE
    );
    assert!(
        CONFIG_OFFSET.is_multiple_of(SECTOR_SIZE) && CONFIG_OFFSET >= BANK_B_OFFSET + BANK_SIZE
    );
    assert!(CONFIG_OFFSET as u64 + CONFIG_SIZE as u64 <= FLASH_SIZE as u64);
    assert!(
        CONFIG_COPY0_OFFSET.is_multiple_of(SECTOR_SIZE) && CONFIG_COPY0_OFFSET >= CONFIG_OFFSET
    );
    assert!(
        CONFIG_COPY1_OFFSET.is_multiple_of(SECTOR_SIZE)
            && CONFIG_COPY1_OFFSET >= CONFIG_COPY0_OFFSET + SECTOR_SIZE
            && CONFIG_COPY1_OFFSET + SECTOR_SIZE <= CONFIG_OFFSET + CONFIG_SIZE
    );
    // The header must hold the 32-byte MCUboot header and fit imgtool's u16 `hdr_size`.
    assert!(IMAGE_HEADER_SIZE >= 32 && IMAGE_HEADER_SIZE <= 0xFFFF);
    assert!(IMAGE_HEADER_SIZE.is_multiple_of(PROGRAM_GRANULARITY));
    assert!(DEFAULT_TRIAL_TRIES > 0);
};
