//! Poll-loop pass timing and wakeups: passes, the longest pass, sleeps by wake cause, for `stats`.
//!
//! Only the loop writes the pass figures (once per pass, after the pass's work and before any
//! sleep, so the `wfi` time is not counted) and only the `stats` command, run by the loop, reads:
//! atomics with relaxed ordering are enough and keep this free of locks and `static mut`. The
//! interrupt handlers note why they ran ([`woken_by`]); the loop, after its `wfi`, counts the
//! wake under the first cause noted since it went to sleep ([`after_wake`]).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// What a pass did, as bits (a pass may do several); the longest pass's bits are kept.
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum Activity {
    /// A console line ran a command.
    Command = 1,
    /// An update frame was received (and its chunk programmed into flash).
    UpdateFrame = 2,
    /// An update ended: the staged image was verified (and activated).
    UpdateVerify = 4,
    /// An update frame's chunk started a new flash sector, which was erased first.
    FlashErase = 16,
    /// The network had events or was recently active (frames, timers, link changes).
    Network = 8,
}

/// Words for each activity bit, in bit order.
const ACTIVITY_NAMES: [(u32, &str); 5] = [
    (Activity::Command as u32, "a console command"),
    (Activity::UpdateFrame as u32, "an update frame"),
    (Activity::FlashErase as u32, "a flash sector erase"),
    (Activity::UpdateVerify as u32, "update verification"),
    (Activity::Network as u32, "the network"),
];

/// One window of passes (since boot, or since the last `stats`).
struct Window {
    passes: AtomicU64,
    longest_microseconds: AtomicU64,
    longest_activity: AtomicU32,
}

impl Window {
    const fn new() -> Self {
        Self {
            passes: AtomicU64::new(0),
            longest_microseconds: AtomicU64::new(0),
            longest_activity: AtomicU32::new(0),
        }
    }

    fn record(&self, microseconds: u64, activity: u32) {
        self.passes.fetch_add(1, Ordering::Relaxed);
        if microseconds > self.longest_microseconds.load(Ordering::Relaxed) {
            self.longest_microseconds
                .store(microseconds, Ordering::Relaxed);
            self.longest_activity.store(activity, Ordering::Relaxed);
        }
    }

    fn read(&self) -> Summary {
        Summary {
            passes: self.passes.load(Ordering::Relaxed),
            longest_microseconds: self.longest_microseconds.load(Ordering::Relaxed),
            longest_activity: Doing(self.longest_activity.load(Ordering::Relaxed)),
        }
    }

    fn reset(&self) {
        self.passes.store(0, Ordering::Relaxed);
        self.longest_microseconds.store(0, Ordering::Relaxed);
        self.longest_activity.store(0, Ordering::Relaxed);
    }
}

static SINCE_BOOT: Window = Window::new();
static SINCE_READ: Window = Window::new();
/// What the pass in progress has done so far.
static CURRENT: AtomicU32 = AtomicU32::new(0);
/// `stats` read the windows in this pass: the next "since the last read" window starts after it.
static READ_IN_PASS: AtomicBool = AtomicBool::new(false);

/// Notes that the pass in progress did `activity`.
pub fn note(activity: Activity) {
    CURRENT.fetch_or(activity as u32, Ordering::Relaxed);
}

/// Ends a pass that started at counter time `started_microseconds`.
pub fn end_pass(started_microseconds: u64, now_microseconds: u64) {
    let microseconds = now_microseconds.saturating_sub(started_microseconds);
    let activity = CURRENT.swap(0, Ordering::Relaxed);
    SINCE_BOOT.record(microseconds, activity);
    if READ_IN_PASS.swap(false, Ordering::Relaxed) {
        // The pass that printed `stats` is not part of the window after it.
        SINCE_READ.reset();
    } else {
        SINCE_READ.record(microseconds, activity);
    }
}

/// The activity bits of a pass, in words (`Display`).
pub struct Doing(u32);

impl core::fmt::Display for Doing {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (bit, name) in ACTIVITY_NAMES {
            if self.0 & bit != 0 {
                if !first {
                    formatter.write_str(" and ")?;
                }
                formatter.write_str(name)?;
                first = false;
            }
        }
        if first {
            formatter.write_str("polling")?;
        }
        Ok(())
    }
}

/// Passes and the longest one in a window.
pub struct Summary {
    /// Passes completed.
    pub passes: u64,
    /// The longest pass, in microseconds.
    pub longest_microseconds: u64,
    /// What the longest pass did.
    pub longest_activity: Doing,
}

/// The windows since boot and since the last call (neither counts the pass in progress); a new
/// "since the last read" window starts after this pass.
pub fn take() -> (Summary, Summary) {
    READ_IN_PASS.store(true, Ordering::Relaxed);
    (SINCE_BOOT.read(), SINCE_READ.read())
}

/// Why an interrupt handler ran, as bits; the loop's wake is counted under the first one set.
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum Wake {
    /// A NIC used a receive buffer (the interrupt armed before sleeping).
    Frame = 1,
    /// A NIC reported a configuration change (link).
    Link = 2,
    /// Console input.
    Console = 4,
    /// The timer tick.
    Timer = 8,
}

/// Wake causes in counting order, with their words in `stats`.
const WAKE_NAMES: [(u32, &str); 4] = [
    (Wake::Frame as u32, "received frame"),
    (Wake::Link as u32, "link change"),
    (Wake::Console as u32, "console"),
    (Wake::Timer as u32, "timer tick"),
];

/// Handlers' causes since the loop last went to sleep.
static PENDING_WAKE: AtomicU32 = AtomicU32::new(0);
/// Wakes counted by cause (in `WAKE_NAMES` order), then the ones no handler claimed.
static WAKES: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];
/// Sleeps not taken: a NIC had a frame waiting once its receive interrupt was armed.
static SLEEPS_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// From an interrupt handler: it ran for `cause`.
pub fn woken_by(cause: Wake) {
    PENDING_WAKE.fetch_or(cause as u32, Ordering::Relaxed);
}

/// The loop is about to sleep (interrupts masked): causes noted from now on are its wake's.
pub fn before_sleep() {
    PENDING_WAKE.store(0, Ordering::Relaxed);
}

/// The loop woke from its sleep and the handlers have run: counts the wake by its cause.
pub fn after_wake() {
    let causes = PENDING_WAKE.swap(0, Ordering::Relaxed);
    let slot = WAKE_NAMES
        .iter()
        .position(|(bit, _)| causes & bit != 0)
        .unwrap_or(WAKE_NAMES.len());
    if let Some(count) = WAKES.get(slot) {
        count.fetch_add(1, Ordering::Relaxed);
    }
}

/// The loop did not sleep: work raced in while it armed the receive interrupts.
pub fn sleep_skipped() {
    SLEEPS_SKIPPED.fetch_add(1, Ordering::Relaxed);
}

/// Sleeps since boot by what ended them, in words (`Display`).
pub struct Wakeups;

impl core::fmt::Display for Wakeups {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let counts: [u64; 5] = core::array::from_fn(|slot| WAKES[slot].load(Ordering::Relaxed));
        write!(
            formatter,
            "wakeups: {} since boot, by",
            counts.iter().sum::<u64>()
        )?;
        for ((_, name), count) in WAKE_NAMES.iter().zip(counts) {
            write!(formatter, " {} {},", name, count)?;
        }
        write!(
            formatter,
            " other {}; sleeps skipped for a frame that raced in {}",
            counts[WAKE_NAMES.len()],
            SLEEPS_SKIPPED.load(Ordering::Relaxed)
        )
    }
}

/// Passes and the longest pass since boot, without starting a new "since the last read"
/// window (the management API's `/metrics`, which must not disturb `stats`).
pub fn since_boot() -> (u64, u64) {
    let summary = SINCE_BOOT.read();
    (summary.passes, summary.longest_microseconds)
}
