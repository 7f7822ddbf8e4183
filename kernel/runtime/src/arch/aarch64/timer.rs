//! ARM generic timer: the free-running counter and the EL1 virtual timer as the tick source.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0};
use core::sync::atomic::{AtomicU64, Ordering};
use tock_registers::interfaces::{Readable, Writeable};

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// The free-running virtual counter (CNTVOFF is 0, so it equals the physical count).
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Microseconds since the counter started (reset), from the counter, for timestamps.
pub fn counter_microseconds() -> u64 {
    let count = u128::from(counter());
    (count * 1_000_000 / u128::from(frequency())) as u64
}

/// Starts periodic ticks (the caller enables the timer's interrupt at the GIC).
pub fn start_ticks() {
    CNTV_TVAL_EL0.set(frequency() / TICK_HZ);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Timer interrupt: count the tick and arm the next one.
pub fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
    CNTV_TVAL_EL0.set(frequency() / TICK_HZ);
}

/// Ticks since `start_ticks`.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Uptime in milliseconds, as counted by timer interrupts.
pub fn uptime_milliseconds() -> u64 {
    ticks() * 1000 / TICK_HZ
}
