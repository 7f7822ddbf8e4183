//! ARM generic timer: the free-running counter and the EL1 virtual timer as the tick source.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTV_TVAL_EL0, CNTVCT_EL0};
use core::sync::atomic::{AtomicU64, Ordering};
use dpu_board::CounterScale;
use tock_registers::interfaces::{Readable, Writeable};

/// Timer interrupts per second.
pub const TICK_HZ: u64 = 100;

static TICKS: AtomicU64 = AtomicU64::new(0);
/// The counter when this kernel started (QEMU's counter keeps running across warm resets).
static BOOT_COUNT: AtomicU64 = AtomicU64::new(0);
/// Ticks to time units by a multiply (the poll loop reads the time several times per pass),
/// made at [`mark_boot`] from CNTFRQ_EL0, which firmware sets once and never changes.
static SCALE: spin::Once<CounterScale> = spin::Once::new();

/// Counter frequency in Hz.
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get().max(1)
}

/// The free-running virtual counter (CNTVOFF is 0, so it equals the physical count).
pub fn counter() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// The conversion for this counter (made here if [`mark_boot`] has not run yet).
fn scale() -> &'static CounterScale {
    SCALE.call_once(|| CounterScale::new(frequency()))
}

/// Microseconds since the counter started (reset), from the counter, for timestamps.
pub fn counter_microseconds() -> u64 {
    scale().microseconds(counter())
}

/// Notes the counter at kernel entry: [`milliseconds_since_boot`] counts from here.
pub fn mark_boot() {
    scale();
    BOOT_COUNT.store(counter(), Ordering::Relaxed);
}

/// Milliseconds since this kernel started, from the free-running counter (keeps counting
/// without timer interrupts; for deadlines and the last-boot record).
pub fn milliseconds_since_boot() -> u64 {
    counts_to_milliseconds(counter().saturating_sub(BOOT_COUNT.load(Ordering::Relaxed)))
}

/// Converts a counter difference to milliseconds.
pub fn counts_to_milliseconds(counts: u64) -> u64 {
    scale().milliseconds(counts)
}

/// Starts periodic ticks (the caller enables the timer's interrupt at the GIC).
pub fn start_ticks() {
    CNTV_TVAL_EL0.set(frequency() / TICK_HZ);
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Writes the tick's deadline back unchanged: QEMU then re-arms its host timer and wakes its
/// main loop, which a flash write may have left without the deadline (`flashbus.rs`).
pub fn renotify() {
    CNTV_CVAL_EL0.set(CNTV_CVAL_EL0.get());
}

/// Timer interrupt: count the tick, arm the next one, let the watchdog look.
pub fn on_tick() {
    let ticks = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    CNTV_TVAL_EL0.set(frequency() / TICK_HZ);
    crate::watchdog::on_tick(ticks);
}

/// Ticks since `start_ticks`.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Uptime in milliseconds, as counted by timer interrupts.
pub fn uptime_milliseconds() -> u64 {
    ticks() * 1000 / TICK_HZ
}
