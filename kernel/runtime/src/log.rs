//! Kernel logging: defmt frames on the console, a replay ring, a level.
//!
//! The build picks the most verbose level compiled in (`DEFMT_LOG`, set by `cargo xtask`);
//! `log level <name>` narrows it at run time through the `log_*!` macros, which check the
//! runtime level before calling defmt. Recent frames are kept in a ring so `log` can send them
//! again; the host decoder (`cargo xtask run`) turns them into timestamped lines.

use crate::sync::{InterruptMask, IrqSafeMutex, Rank};
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
pub use dpu_log::LogLevel;
use dpu_log::ReplayRing;

/// Bytes of recent encoded frames kept for `log`.
const REPLAY_RING_SIZE: usize = 8192;
/// Frames kept at most (an average frame is well over 8 bytes).
const REPLAY_RING_FRAMES: usize = REPLAY_RING_SIZE / 8;
/// Frame start marker on the wire: text never contains 0xFF.
const FRAME_MARKER: [u8; 2] = [0xff, 0x00];

static RUNTIME_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Trace as u8);
static TAKEN: AtomicBool = AtomicBool::new(false);
// Every lock here masks interrupts: a handler that logs must never spin on a lock the code it
// interrupted holds (acquire masks too, but `replay` runs outside a frame). Ranks (sync.rs):
// the encoder is held while a frame's bytes go to the console and then the replay ring.
static ENCODER: IrqSafeMutex<defmt::Encoder> =
    IrqSafeMutex::ranked("log encoder", Rank::LogEncoder, defmt::Encoder::new());
/// The interrupt mask held between `acquire` and `release` (nothing is taken under it).
static MASK: IrqSafeMutex<Option<InterruptMask>> = IrqSafeMutex::new(None);
static REPLAY: IrqSafeMutex<ReplayRing<REPLAY_RING_SIZE, REPLAY_RING_FRAMES>> =
    IrqSafeMutex::ranked("log replay", Rank::LogReplay, ReplayRing::new());

/// Whether a message at `level` passes the runtime filter.
pub fn enabled(level: LogLevel) -> bool {
    level as u8 >= RUNTIME_LEVEL.load(Ordering::Relaxed)
}

/// Sets the runtime level (it cannot widen beyond what the build compiled in).
pub fn set_level(level: LogLevel) {
    RUNTIME_LEVEL.store(level as u8, Ordering::Relaxed);
}

/// The runtime level.
pub fn level() -> LogLevel {
    LogLevel::from_u8(RUNTIME_LEVEL.load(Ordering::Relaxed)).unwrap_or(LogLevel::Trace)
}

/// Starts the runtime level at the build's level, so `log level` tells the truth from boot.
pub fn init() {
    let first = build_level().split(',').next().unwrap_or("");
    if let Some(level) = LogLevel::from_name(first.trim()) {
        set_level(level);
    }
}

/// The most verbose level compiled into this build.
pub fn build_level() -> &'static str {
    option_env!("DEFMT_LOG").unwrap_or("error")
}

/// Log at info level, if the runtime level allows.
#[macro_export]
macro_rules! log_info {
    ($($argument:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Info) { defmt::info!($($argument)*) } };
}
/// Log at warn level, if the runtime level allows.
#[macro_export]
macro_rules! log_warn {
    ($($argument:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Warn) { defmt::warn!($($argument)*) } };
}
/// Log at error level, if the runtime level allows.
#[macro_export]
macro_rules! log_error {
    ($($argument:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Error) { defmt::error!($($argument)*) } };
}
/// Log at debug level, if the runtime level allows.
#[macro_export]
macro_rules! log_debug {
    ($($argument:tt)*) => { if $crate::log::enabled($crate::log::LogLevel::Debug) { defmt::debug!($($argument)*) } };
}

fn emit(bytes: &[u8]) {
    crate::console::write_bytes(bytes);
    REPLAY.lock().push(bytes);
}

/// Sends the recent frames again (they keep their original timestamps); returns how many.
pub fn replay() -> usize {
    let mut copy: heapless::Vec<u8, REPLAY_RING_SIZE> = heapless::Vec::new();
    let frames = {
        let replay = REPLAY.lock();
        // Only whole frames: not the one being written, if any.
        for byte in replay.whole_frames() {
            let _ = copy.push(byte);
        }
        replay.frames()
    };
    crate::console::write_bytes(&copy);
    frames
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` masks interrupts and refuses re-entry, so frames are never interleaved on
// this core; `write`/`flush`/`release` are only called between acquire and release (defmt's
// contract) and touch state that acquire made exclusive.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let mask = InterruptMask::new();
        if TAKEN.swap(true, Ordering::Acquire) {
            // defmt's contract: nested acquire is a bug; say so in plain text and stop.
            panic!("defmt logger re-entered");
        }
        *MASK.lock() = Some(mask);
        emit(&FRAME_MARKER);
        ENCODER.lock().start_frame(emit);
    }

    unsafe fn flush() {}

    unsafe fn release() {
        ENCODER.lock().end_frame(emit);
        REPLAY.lock().end_frame();
        TAKEN.store(false, Ordering::Release);
        let mask = MASK.lock().take();
        drop(mask);
    }

    unsafe fn write(bytes: &[u8]) {
        ENCODER.lock().write(bytes, emit);
    }
}

defmt::timestamp!(
    "{=u64:us}",
    crate::arch::aarch64::timer::counter_microseconds()
);
