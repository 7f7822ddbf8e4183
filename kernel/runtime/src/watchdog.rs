//! Software watchdog: the timer interrupt resets a poll loop that stops checking in.
//!
//! The poll loop (and any modal command that loops on its own) calls [`check_in`] on every
//! pass; an idle loop still passes at least at the 100 Hz tick. The timer interrupt
//! ([`on_tick`]) compares the time since the last check-in, from the free-running counter, with
//! the timeout (default [`DEFAULT_TIMEOUT_MS`], `watchdog MS` on the console, 0 = off). When it
//! is exceeded the watchdog prints a report, records `watchdog: poll loop silent for N ms at
//! <ELR>` in the last-boot mailbox and ends the boot like a fault (reset in the field; exit
//! status 8 under semihosting). Being an interrupt, it cannot catch code that hangs with IRQs
//! masked: that needs a hardware watchdog (QEMU virt has none).

use crate::arch::aarch64::timer;
use bootstate::lastboot::Ending;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Default timeout in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u32 = 2000;
/// Shortest settable timeout (a few ticks, so the check itself cannot misfire).
pub const MIN_TIMEOUT_MS: u32 = 100;

static TIMEOUT_MS: AtomicU32 = AtomicU32::new(DEFAULT_TIMEOUT_MS);
/// Counter value at the last check-in (0: not yet armed).
static LAST_CHECK_IN: AtomicU64 = AtomicU64::new(0);
/// ELR of the code the current IRQ interrupted (set by the exception vector).
static INTERRUPTED_AT: AtomicU64 = AtomicU64::new(0);

/// The poll loop is alive: restart the countdown. The first call arms the watchdog.
pub fn check_in() {
    LAST_CHECK_IN.store(timer::counter().max(1), Ordering::Relaxed);
}

/// Sets the timeout (0 turns the watchdog off); returns the value now in force.
pub fn set_timeout_ms(milliseconds: u32) -> u32 {
    let value = if milliseconds == 0 {
        0
    } else {
        milliseconds.max(MIN_TIMEOUT_MS)
    };
    check_in();
    TIMEOUT_MS.store(value, Ordering::Relaxed);
    value
}

/// The timeout in milliseconds (0 = off).
pub fn timeout_ms() -> u32 {
    TIMEOUT_MS.load(Ordering::Relaxed)
}

/// Milliseconds since the last check-in (0 before the first).
pub fn silent_ms() -> u64 {
    match LAST_CHECK_IN.load(Ordering::Relaxed) {
        0 => 0,
        last => timer::counts_to_milliseconds(timer::counter().saturating_sub(last)),
    }
}

/// Whether the loop checks in well within the timeout (a health signal for jumpstart).
pub fn loop_alive() -> bool {
    let timeout = u64::from(timeout_ms());
    timeout == 0 || silent_ms() < timeout / 2
}

/// The exception vector notes where an IRQ interrupted the code (for the report).
pub fn note_interrupted_at(elr: u64) {
    INTERRUPTED_AT.store(elr, Ordering::Relaxed);
}

/// Timer interrupt: fire if the loop has been silent too long; refresh the mailbox's uptime
/// about once a second.
pub fn on_tick(ticks: u64) {
    if ticks.is_multiple_of(timer::TICK_HZ) {
        crate::lastboot::refresh_uptime();
    }
    let timeout = u64::from(timeout_ms());
    let silent = silent_ms();
    if timeout == 0 || silent <= timeout {
        return;
    }
    let at = INTERRUPTED_AT.load(Ordering::Relaxed);
    let _ = write!(
        crate::console::EmergencyWriter,
        "\r\n*** WATCHDOG: poll loop silent for {silent} ms (timeout {timeout} ms) at ELR {at:#x}\r\n"
    );
    crate::lastboot::record(Ending::Watchdog {
        silent_ms: u32::try_from(silent).unwrap_or(u32::MAX),
        pc: at,
    });
    crate::fail_boot(crate::ExitCode::Watchdog)
}

/// `watchdog [MS]`: shows or sets the timeout.
pub fn command(timeout: Option<u32>) {
    let value = match timeout {
        Some(milliseconds) => set_timeout_ms(milliseconds),
        None => timeout_ms(),
    };
    if value == 0 {
        crate::println!("watchdog: off");
    } else {
        crate::println!(
            "watchdog: resets when the poll loop is silent for more than {} ms",
            value
        );
    }
}

/// `crash hang`: loops forever with interrupts on and never checks in.
pub fn hang() -> ! {
    crate::println!(
        "hanging with interrupts on (the watchdog fires after {} ms)",
        timeout_ms()
    );
    crate::arch::aarch64::cpu::enable_interrupts();
    loop {
        crate::arch::aarch64::cpu::wait_for_interrupt();
    }
}
