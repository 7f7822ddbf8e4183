//! The last-boot mailbox in RAM: read at boot, written before every reset the kernel makes.
//!
//! The mailbox is the linker's `.mailbox` section (`kernel.ld`): at a fixed offset from the
//! image start, so every kernel version finds its predecessor's record, inside the booti
//! `image_size` but outside the Image file bytes, and outside BSS, so neither dpuboot's copy,
//! QEMU's `-kernel` loader nor the entry code's BSS clearing touches it. A warm reset (PSCI
//! SYSTEM_RESET) keeps RAM; a power-on leaves no valid record. The codec is
//! `bootstate::lastboot` (host-tested); here are only the volatile accesses.

use crate::arch::aarch64::{cpu, timer};
use bootstate::lastboot::{Ending, LastBoot, MAILBOX_LEN};
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

unsafe extern "C" {
    /// Start of the mailbox (kernel.ld); `MAILBOX_SIZE` bytes reserved.
    static __last_boot_mailbox: u8;
}

/// What the previous boot left, decoded once at boot.
static PREVIOUS: spin::Once<Option<LastBoot>> = spin::Once::new();
/// This boot's number since power-on (0 until [`init`]).
static BOOT: AtomicU32 = AtomicU32::new(0);
/// An ending is recorded: the uptime refresh must not overwrite it.
static ENDED: AtomicBool = AtomicBool::new(false);

fn mailbox() -> *mut u8 {
    core::ptr::addr_of!(__last_boot_mailbox).cast_mut()
}

fn read() -> [u8; MAILBOX_LEN] {
    let mut bytes = [0u8; MAILBOX_LEN];
    for (index, byte) in bytes.iter_mut().enumerate() {
        // SAFETY: the mailbox is MAILBOX_LEN bytes (kernel.ld reserves a page) of mapped RAM
        // that only this module touches; volatile because it outlives this program.
        *byte = unsafe { mailbox().add(index).read_volatile() };
    }
    bytes
}

fn write(bytes: &[u8; MAILBOX_LEN]) {
    for (index, byte) in bytes.iter().enumerate() {
        // SAFETY: as in `read`.
        unsafe { mailbox().add(index).write_volatile(*byte) };
    }
    // A real board's reset need not write caches back: push the record to RAM now.
    cpu::clean_data_cache(mailbox() as usize, MAILBOX_LEN);
}

/// Reads how the previous boot ended and marks this boot as running. Call once, early.
pub fn init() {
    let previous = LastBoot::decode(&read()).ok();
    let boot = LastBoot::next_boot(previous.as_ref());
    BOOT.store(boot, Ordering::SeqCst);
    PREVIOUS.call_once(|| previous);
    write(&LastBoot::running(boot).encode());
}

/// How the previous boot ended (`None`: power-on, or no kernel ran before).
pub fn previous() -> Option<LastBoot> {
    PREVIOUS.get().copied().flatten()
}

/// This boot's number since power-on.
pub fn boot_number() -> u32 {
    BOOT.load(Ordering::SeqCst)
}

/// Records how this boot ends (just before a reset). Lock-free: fault paths call it.
pub fn record(ending: Ending) {
    // The tick's refresh must neither interleave with this write nor follow it.
    let _mask = crate::sync::InterruptMask::new();
    ENDED.store(true, Ordering::SeqCst);
    write_now(ending);
}

/// Records `ending` unless an ending is already recorded (the fault paths' common exit: a
/// panic or watchdog wrote a more precise one first).
pub fn record_unless_ended(ending: Ending) {
    let _mask = crate::sync::InterruptMask::new();
    if !ENDED.swap(true, Ordering::SeqCst) {
        write_now(ending);
    }
}

fn write_now(ending: Ending) {
    let record = LastBoot {
        boot: boot_number(),
        uptime_ms: timer::milliseconds_since_boot(),
        ending,
    };
    write(&record.encode());
}

/// Refreshes the running boot's uptime (a reset that records nothing then still says roughly
/// how long the boot ran). Called from the timer tick about once a second.
pub fn refresh_uptime() {
    let _mask = crate::sync::InterruptMask::new();
    if boot_number() != 0 && !ENDED.load(Ordering::SeqCst) {
        write_now(Ending::Running);
    }
}

/// The line every boot prints about the previous one.
pub struct Report;

impl core::fmt::Display for Report {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match previous() {
            None => f.write_str("last boot: none (power-on)"),
            Some(last) => write!(
                f,
                "last boot ended: {last} (this is boot {} since power-on)",
                boot_number()
            ),
        }
    }
}
