//! Guest instructions per forwarded frame, counted by the PMU (`pmu` command).
//!
//! PMU event counter 0 counts event 0x08, INST_RETIRED, at EL1 and EL0. QEMU implements that
//! event only under `-icount` (with `shift=0` one instruction is one nanosecond of virtual
//! time), where the count is exact and does not depend on how busy the host is; without it the
//! event is absent (PMCEID0_EL0 bit 8 clear) and `pmu` says so. `cargo xtask bench switch`
//! boots once more with `-icount shift=0` to read these figures.
//!
//! The fast path brackets its work in every loop pass with [`fast_path_start`] and
//! [`fast_path_end`]. Three sums come out of it:
//! - switching work: from start to end of the passes that received frames;
//! - whole loop pass: from the start of a pass that received frames to the next pass's start
//!   (everything the loop does once per pass: console, management stack, timers, interrupts);
//! - every pass: all instructions between starts, idle polling passes too.
//!
//! Only the poll loop calls in (the bracket, and the `pmu` command that the loop runs), so
//! atomics with relaxed ordering are enough and need no lock. The bracket itself costs a few
//! instructions per pass, and is counted with the work.

use crate::println;
use aarch64_cpu::registers::{ID_AA64DFR0_EL1, Readable};
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The PMU event number of INST_RETIRED (instruction architecturally executed).
const INSTRUCTIONS_RETIRED: u64 = 0x08;

/// `PMCR_EL0.E`: enable the counters (each also needs its PMCNTENSET_EL0 bit).
const PMCR_ENABLE: u64 = 1 << 0;
/// `PMCR_EL0.N` (bits 15:11): how many event counters there are.
const PMCR_COUNTERS_SHIFT: u64 = 11;
const PMCR_COUNTERS_MASK: u64 = 0x1f;

/// No bracket has run yet (the PMU is set up on the first one).
const STATE_UNKNOWN: u8 = 0;
/// Counter 0 counts INST_RETIRED.
const STATE_COUNTING: u8 = 1;
/// No PMU on this CPU.
const STATE_NO_PMU: u8 = 2;
/// A PMU without event counters, or without INST_RETIRED (QEMU without `-icount`).
const STATE_NO_EVENT: u8 = 3;

/// `PREVIOUS_START` when the next start has no previous one to measure from.
const NO_START: u64 = u64::MAX;

static STATE: AtomicU8 = AtomicU8::new(STATE_UNKNOWN);
/// Counter value at the last [`fast_path_start`] (or [`NO_START`]).
static PREVIOUS_START: AtomicU64 = AtomicU64::new(NO_START);
/// Frames the last bracketed pass received.
static PREVIOUS_FRAMES: AtomicU64 = AtomicU64::new(0);

/// Sums since boot or the last `pmu reset`.
struct Sums {
    switching_instructions: AtomicU64,
    /// Frames received by the passes that received any.
    frames: AtomicU64,
    /// Passes that received frames.
    busy_passes: AtomicU64,
    loop_instructions: AtomicU64,
    /// Frames of the passes whose whole loop pass is in `loop_instructions`.
    loop_frames: AtomicU64,
    every_instructions: AtomicU64,
    /// Passes whose instructions are in `every_instructions`.
    passes: AtomicU64,
}

static SUMS: Sums = Sums {
    switching_instructions: AtomicU64::new(0),
    frames: AtomicU64::new(0),
    busy_passes: AtomicU64::new(0),
    loop_instructions: AtomicU64::new(0),
    loop_frames: AtomicU64::new(0),
    every_instructions: AtomicU64::new(0),
    passes: AtomicU64::new(0),
};

/// The counter value when a fast-path pass started (`None`: not counting).
#[derive(Clone, Copy)]
pub struct Mark(Option<u32>);

/// Marks the start of the fast path's work in a loop pass.
#[inline]
pub fn fast_path_start() -> Mark {
    if !counting() {
        return Mark(None);
    }
    let now = registers::read_counter();
    let previous = PREVIOUS_START.swap(u64::from(now), Ordering::Relaxed);
    if let Ok(previous) = u32::try_from(previous) {
        // The counter is 32 bits wide: a wrapping difference is exact for any pass shorter
        // than 2^32 instructions (4 s of virtual time at -icount shift=0).
        let pass = u64::from(now.wrapping_sub(previous));
        add(&SUMS.every_instructions, pass);
        add(&SUMS.passes, 1);
        let frames = PREVIOUS_FRAMES.load(Ordering::Relaxed);
        if frames > 0 {
            add(&SUMS.loop_instructions, pass);
            add(&SUMS.loop_frames, frames);
        }
    }
    Mark(Some(now))
}

/// Marks the end of the fast path's work that started at `mark`; `frames` is how many frames
/// the pass received (each forwarded once in the bench's unicast traffic).
#[inline]
pub fn fast_path_end(mark: Mark, frames: usize) {
    let Mark(Some(started)) = mark else {
        return;
    };
    let work = u64::from(registers::read_counter().wrapping_sub(started));
    let frames = frames as u64;
    PREVIOUS_FRAMES.store(frames, Ordering::Relaxed);
    if frames > 0 {
        add(&SUMS.switching_instructions, work);
        add(&SUMS.frames, frames);
        add(&SUMS.busy_passes, 1);
    }
}

/// Adds to a sum. A load and a store, not `fetch_add`: the loop is the only writer, and an
/// atomic read-modify-write would be an exclusive-access loop on a core without LSE.
fn add(sum: &AtomicU64, value: u64) {
    sum.store(
        sum.load(Ordering::Relaxed).wrapping_add(value),
        Ordering::Relaxed,
    );
}

/// Whether counter 0 counts instructions (sets the PMU up on the first call).
fn counting() -> bool {
    match STATE.load(Ordering::Relaxed) {
        STATE_COUNTING => true,
        STATE_UNKNOWN => {
            let state = set_up();
            STATE.store(state, Ordering::Relaxed);
            state == STATE_COUNTING
        }
        _ => false,
    }
}

/// Programs counter 0 for INST_RETIRED and starts it, if the CPU can.
fn set_up() -> u8 {
    // PMUVer 0 is no PMU; 0xf an IMPLEMENTATION DEFINED one (not the architected registers).
    let version = ID_AA64DFR0_EL1.read(ID_AA64DFR0_EL1::PMUVer);
    if version == 0 || version == 0xf {
        return STATE_NO_PMU;
    }
    let control = registers::read_control();
    let counters = (control >> PMCR_COUNTERS_SHIFT) & PMCR_COUNTERS_MASK;
    // PMCEID0_EL0 bit N: common event N is implemented.
    if counters == 0 || registers::read_common_events() & (1 << INSTRUCTIONS_RETIRED) == 0 {
        return STATE_NO_EVENT;
    }
    // Filter bits all 0: count at EL1 and EL0 (not EL2, where the kernel never runs).
    registers::write_event_type_0(INSTRUCTIONS_RETIRED);
    registers::write_counter(0);
    registers::enable_counter_0();
    registers::write_control(control | PMCR_ENABLE);
    registers::instruction_barrier();
    STATE_COUNTING
}

/// The `pmu` command: show the figures, or (`pmu reset`) zero them.
pub fn command(reset_sums: bool) {
    if reset_sums { reset() } else { show() }
}

/// `pmu reset`: zero the sums (the figures then cover what follows).
pub fn reset() {
    if !counting() {
        explain_unavailable();
        return;
    }
    for sum in [
        &SUMS.switching_instructions,
        &SUMS.frames,
        &SUMS.busy_passes,
        &SUMS.loop_instructions,
        &SUMS.loop_frames,
        &SUMS.every_instructions,
        &SUMS.passes,
    ] {
        sum.store(0, Ordering::Relaxed);
    }
    // The pass running this command is measured from scratch by nobody.
    PREVIOUS_START.store(NO_START, Ordering::Relaxed);
    PREVIOUS_FRAMES.store(0, Ordering::Relaxed);
    println!("pmu: counts reset");
}

/// `pmu`: instructions, frames and instructions per frame for each part of the loop.
pub fn show() {
    if !counting() {
        explain_unavailable();
        return;
    }
    let get = |sum: &AtomicU64| sum.load(Ordering::Relaxed);
    let frames = get(&SUMS.frames);
    println!("pmu: instructions retired (event 0x08, EL1 and EL0), since boot or 'pmu reset'");
    println!(
        "  {:<38} {:>14} {:>10} {:>11}",
        "part of the loop", "instructions", "frames", "per frame"
    );
    for (label, instructions, frames) in [
        (
            "switching work (passes with frames)",
            get(&SUMS.switching_instructions),
            frames,
        ),
        (
            "whole loop pass (passes with frames)",
            get(&SUMS.loop_instructions),
            get(&SUMS.loop_frames),
        ),
        (
            "every pass (idle polling too)",
            get(&SUMS.every_instructions),
            frames,
        ),
    ] {
        println!(
            "  {:<38} {:>14} {:>10} {:>11}",
            label,
            instructions,
            frames,
            PerFrame(instructions, frames)
        );
    }
    let busy = get(&SUMS.busy_passes);
    println!(
        "  passes: {} with frames of {}; {} frames per pass with frames",
        busy,
        get(&SUMS.passes),
        PerFrame(frames, busy)
    );
}

fn explain_unavailable() {
    match STATE.load(Ordering::Relaxed) {
        STATE_NO_PMU => println!("pmu: this CPU has no PMU"),
        _ => println!(
            "pmu: this PMU does not count instructions retired (event 0x08); QEMU counts them \
             only under -icount (cargo xtask bench switch boots with -icount shift=0)"
        ),
    }
}

/// `numerator / denominator` with one decimal, or `-` when the denominator is 0.
struct PerFrame(u64, u64);

impl core::fmt::Display for PerFrame {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let PerFrame(numerator, denominator) = *self;
        if denominator == 0 {
            return formatter.pad("-");
        }
        let tenths =
            (u128::from(numerator) * 10 + u128::from(denominator) / 2) / u128::from(denominator);
        let mut text: heapless::String<24> = heapless::String::new();
        let _ = core::fmt::write(&mut text, format_args!("{}.{}", tenths / 10, tenths % 10));
        formatter.pad(text.as_str())
    }
}

/// The PMU system registers. aarch64-cpu 11.2 (the newest) names none of them, so they are
/// read and written here by their architectural names, which the assembler knows without a
/// feature flag (the PMU is part of Armv8.0).
mod registers {
    use aarch64_cpu::asm::barrier;

    /// Defines a read function for the named system register.
    macro_rules! read_register {
        ($(#[$doc:meta])* $name:ident, $register:literal) => {
            $(#[$doc])*
            pub(super) fn $name() -> u64 {
                let value: u64;
                // SAFETY: reading a PMU register has no memory effects; EL0 never runs, and
                // EL1 may always read them (MDCR_EL2.TPM is 0 at reset and the kernel never
                // sets it).
                unsafe {
                    core::arch::asm!(
                        concat!("mrs {value}, ", $register),
                        value = out(reg) value,
                        options(nomem, nostack, preserves_flags),
                    );
                }
                value
            }
        };
    }

    /// Defines a write function for the named system register.
    macro_rules! write_register {
        ($(#[$doc:meta])* $name:ident, $register:literal) => {
            $(#[$doc])*
            pub(super) fn $name(value: u64) {
                // SAFETY: the PMU registers only change what the performance counters count;
                // no memory, translation or interrupt state (the overflow interrupt is never
                // enabled). This module is their only user.
                unsafe {
                    core::arch::asm!(
                        concat!("msr ", $register, ", {value}"),
                        value = in(reg) value,
                        options(nomem, nostack, preserves_flags),
                    );
                }
            }
        };
    }

    read_register!(
        /// `PMCR_EL0`: control (enable, reset, the number of event counters).
        read_control, "pmcr_el0"
    );
    write_register!(
        /// `PMCR_EL0`: control.
        write_control, "pmcr_el0"
    );
    read_register!(
        /// `PMCEID0_EL0`: which common events (0x00..0x1f, 0x4000..) are implemented.
        read_common_events, "pmceid0_el0"
    );
    write_register!(
        /// `PMEVTYPER0_EL0`: counter 0's event and exception-level filter.
        write_event_type_0, "pmevtyper0_el0"
    );
    read_register!(
        /// `PMEVCNTR0_EL0`: counter 0 (32 bits without FEAT_PMUv3p5).
        read_counter_0, "pmevcntr0_el0"
    );
    write_register!(
        /// `PMEVCNTR0_EL0`: counter 0.
        write_counter, "pmevcntr0_el0"
    );
    write_register!(
        /// `PMCNTENSET_EL0`: writing 1 to bit N enables event counter N.
        write_count_enable_set, "pmcntenset_el0"
    );

    /// Counter 0, truncated to the 32 bits every PMUv3 counter has.
    #[inline]
    pub(super) fn read_counter() -> u32 {
        read_counter_0() as u32
    }

    /// Enables event counter 0.
    pub(super) fn enable_counter_0() {
        write_count_enable_set(1);
    }

    /// `isb`: the PMU setup takes effect before the next instruction.
    pub(super) fn instruction_barrier() {
        barrier::isb(barrier::SY);
    }
}
