//! dpuboot: the A/B bootloader that runs from flash0 at reset (execute in place, no heap).
//!
//! Every boot: read the boot-state record from flash1, print both banks, open the Shift+R
//! window on the serial console, let `bootstate` select a bank (a trial's try is counted and
//! persisted before the jump), copy that bank's signed image to RAM so that the arm64 Image
//! lands at RAM base + its `text_offset`, verify the RAM copy (SHA-256, key hash, Ed25519,
//! security counter against the floor, length, recorded digest), and jump with x0 = DTB. A bank
//! that fails is rejected with its reason and the other one tried; with none left dpuboot stays
//! in recovery (no reboot loop). See `docs/dpuboot.md` and `docs/boot-layout.md`.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod console;
mod entry;
mod exception;
mod platform;
mod window;

use aarch64_rt::semihosting;
use bootstate::Flash as _;
use bootstate::layout::{BANK_SIZE, bank_offset};
use bootstate::{
    Bank, BankLine, BootControl, BootDecision, FailureReason, OutcomeLine, Version, verify,
};
use cfi_flash::CfiFlash;
use cfi_flash::boot::BootFlash;
use cfi_flash::mmio::MmioBus;

mod keys {
    include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));
}

/// Semihosting status: no bootable bank (recovery).
pub const STATUS_RECOVERY: u32 = 20;
/// Semihosting status: an unexpected exception or panic in dpuboot.
pub const STATUS_FAULT: u32 = 21;
/// Semihosting status: the platform is unusable (no DTB, no flash1, unreadable state).
pub const STATUS_PLATFORM: u32 = 22;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The flash1 driver as `bootstate` sees it.
type Flash1 = BootFlash<MmioBus>;

/// Stops dpuboot for good: reports `status` through semihosting (tests), otherwise parks the
/// core. Never resets: a bootloader that cannot boot must not loop.
pub fn stop(status: u32) -> ! {
    console::flush();
    semihosting::exit(status);
    println!("dpuboot: halted; power-cycle or attach a debugger to recover");
    console::flush();
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Reads the kernel's arm64 Image header fields we need: (text_offset, image_size).
fn kernel_header(bytes: &[u8; 64]) -> Option<(u64, u64)> {
    if bytes[56..60] != *b"ARM\x64" {
        return None;
    }
    let word = |at: usize| {
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(value)
    };
    Some((word(8), word(16)))
}

/// A verified kernel in RAM, ready to enter.
struct Loaded {
    entry: usize,
    version: Version,
    verify_us: u64,
    image_len: u32,
}

/// Copies `bank`'s image to RAM below the kernel's load address and verifies the RAM copy.
fn load(
    control: &mut BootControl<Flash1>,
    platform: &platform::Platform,
    bank: Bank,
    image_len: u32,
    digest: &[u8; 32],
) -> Result<Loaded, FailureReason> {
    if !(32..=BANK_SIZE).contains(&image_len) {
        return Err(FailureReason::Length);
    }
    let base = bank_offset(bank);
    let mut header = [0u8; 32];
    control
        .flash_mut()
        .read(base, &mut header)
        .map_err(|_| FailureReason::Flash)?;
    let parsed = bootstate::image::ImageHeader::parse(&header).map_err(|e| e.reason())?;
    let hdr_size = u32::from(parsed.hdr_size);
    if hdr_size.checked_add(64).is_none_or(|end| end > image_len) {
        return Err(FailureReason::Length);
    }
    let mut arm64 = [0u8; 64];
    control
        .flash_mut()
        .read(base + hdr_size, &mut arm64)
        .map_err(|_| FailureReason::Flash)?;
    let (text_offset, kernel_size) = kernel_header(&arm64).ok_or(FailureReason::Format)?;
    // The payload must land exactly at RAM base + text_offset; the header goes just below it.
    let load = platform
        .ram
        .0
        .checked_add(text_offset)
        .ok_or(FailureReason::Format)?;
    let destination = load - u64::from(hdr_size);
    let copy_end = destination + u64::from(image_len);
    let kernel_end = load.checked_add(kernel_size).ok_or(FailureReason::Format)?;
    let ram_end = platform.ram.0 + platform.ram.1;
    if destination < platform::dpuboot_ram_end() || copy_end.max(kernel_end) > ram_end {
        println!(
            "dpuboot: image at {:#x}..{:#x} (kernel to {:#x}) does not fit in free RAM",
            destination, copy_end, kernel_end
        );
        return Err(FailureReason::Length);
    }
    // SAFETY: `[destination, copy_end)` is RAM from the device tree, above everything dpuboot
    // uses (checked against __ram_end) and below the end of RAM; nothing else refers to it.
    let ram = unsafe {
        core::slice::from_raw_parts_mut(destination as usize as *mut u8, image_len as usize)
    };
    control
        .flash_mut()
        .read(base, ram)
        .map_err(|_| FailureReason::Flash)?;
    let started = platform::microseconds();
    let verified =
        verify(ram, keys::TRUSTED_KEYS, control.floor()).map_err(|error| error.reason())?;
    let verify_us = platform::microseconds() - started;
    if verified.digest != *digest {
        // Verified, but not the image that was staged and recorded.
        return Err(FailureReason::Hash);
    }
    if verified.payload.start != hdr_size as usize {
        return Err(FailureReason::Format);
    }
    // The RAM copy is what runs: check its header again (the flash copy was only a hint).
    let mut copied = [0u8; 64];
    copied.copy_from_slice(&ram[hdr_size as usize..hdr_size as usize + 64]);
    if kernel_header(&copied) != Some((text_offset, kernel_size)) {
        return Err(FailureReason::Format);
    }
    Ok(Loaded {
        entry: load as usize,
        version: verified.version,
        verify_us,
        image_len,
    })
}

fn recovery(banks: [(bootstate::BankState, FailureReason); 2]) -> ! {
    println!("dpuboot: RECOVERY: no bootable bank");
    for (bank, (state, reason)) in [Bank::A, Bank::B].into_iter().zip(banks) {
        println!("  bank {}: {} (reason {})", bank, state, reason);
    }
    println!("dpuboot: stage a good image over the console or JTAG; not rebooting");
    stop(STATUS_RECOVERY)
}

#[unsafe(no_mangle)]
extern "C" fn dpuboot_main(x0: usize, entry_level: u64) -> ! {
    exception::install();
    let semihosting = semihosting::probe();
    let started = platform::microseconds();
    // SAFETY: at reset nothing else uses the DTB region or the devices it describes.
    let platform = match unsafe { platform::discover(x0) } {
        Ok(platform) => platform,
        Err(error) => {
            // No console yet: only the status can tell.
            let _ = error;
            stop(STATUS_PLATFORM)
        }
    };
    println!();
    println!(
        "dpuboot {} (EL{}, DTB {:#x}, flash1 {:#x}, {} trusted key(s){})",
        VERSION,
        entry_level,
        platform.dtb,
        platform.flash1.0,
        keys::TRUSTED_KEYS.len(),
        if semihosting { ", semihosting" } else { "" }
    );
    // SAFETY: flash1's window comes from the DTB; with the MMU off it is reachable at its
    // physical address, and only this driver touches it until the jump.
    let bus = unsafe { MmioBus::new(platform.flash1.0 as usize, platform.flash1.1 as usize) };
    let flash = BootFlash::new(CfiFlash::new(bus, bootstate::layout::SECTOR_SIZE));
    let mut control = match flash.map(BootControl::load) {
        Ok(Ok(control)) => control,
        Ok(Err(error)) => {
            println!("dpuboot: cannot read the boot state: {}", error);
            stop(STATUS_PLATFORM)
        }
        Err(error) => {
            println!("dpuboot: flash1 has an unexpected geometry: {}", error);
            stop(STATUS_PLATFORM)
        }
    };
    let record = *control.record();
    println!(
        "boot state: {} valid record copies, sequence {}, floor {}, window {} ms, last outcome: {}",
        control.valid_copies(),
        record.sequence,
        control.floor(),
        record.rollback_window_ms,
        OutcomeLine(&record)
    );
    for bank in [Bank::A, Bank::B] {
        println!(
            "  {}",
            BankLine {
                bank,
                info: record.bank(bank),
                preferred: record.active == bank,
            }
        );
    }
    window::shift_r(&mut control);
    let mut decision = control.select();
    loop {
        match decision {
            Err(error) => {
                println!("dpuboot: cannot update the boot state: {}", error);
                stop(STATUS_PLATFORM)
            }
            Ok(BootDecision::Recovery { banks }) => recovery(banks),
            Ok(BootDecision::Boot {
                bank,
                trial,
                image_len,
                digest,
            }) => match load(&mut control, &platform, bank, image_len, &digest) {
                Ok(loaded) => {
                    let flash = control.flash_mut();
                    println!(
                        "dpuboot: booting bank {} v{} ({}), {} bytes verified in {} us, entry {:#x}, {} flash op(s), {} ms since reset",
                        bank,
                        loaded.version,
                        if trial { "trial" } else { "committed" },
                        loaded.image_len,
                        loaded.verify_us,
                        loaded.entry,
                        flash.erases() + flash.programs(),
                        (platform::microseconds() - started) / 1000
                    );
                    console::flush();
                    // SAFETY: the image was copied to its load address and verified; the MMU
                    // and caches are off (never turned on), the DTB is where QEMU put it.
                    unsafe { entry::enter_kernel(loaded.entry, platform.dtb) }
                }
                Err(reason) => {
                    println!("dpuboot: bank {} rejected: {}", bank, reason);
                    decision = control.reject(bank, reason);
                }
            },
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("\n*** dpuboot panic: {}", info.message());
    if let Some(location) = info.location() {
        println!("    at {}:{}", location.file(), location.line());
    }
    stop(STATUS_FAULT)
}
