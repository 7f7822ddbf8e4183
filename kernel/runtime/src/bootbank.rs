//! A/B boot banks, kernel side: boot report, health window and jumpstart, rollback, update.
//!
//! flash1 (the second CFI bank in the DTB, mapped as device memory by `layout.rs`) holds the
//! boot-state record dpuboot acted on. At boot the kernel reads it: the preferred bank is the
//! one dpuboot just booted (dpuboot's `select` makes the bank it boots preferred). A blank
//! record means a direct boot (`-kernel`, U-Boot): no banks, nothing is written.
//!
//! - Every boot prints one report line: bank, version, trial or committed, fallback reason.
//! - Health window (jumpstart is a window, not a gate): a trial is committed only after it
//!   stayed healthy for the record's health window (default 10 s, `boot health MS`): console
//!   up, the poll loop checking in, the management stack up when there is a management NIC
//!   (and the switch running when there are data ports). The policy is `bootstate::health`. A trial
//!   still unhealthy at the deadline is marked bad (reason health check, stage P4) and the
//!   machine resets so dpuboot boots the committed bank. A trial that panics, faults or hangs
//!   inside the window resets (fault path, watchdog) and dpuboot counts the try; once its tries
//!   are used it falls back. After the commit a failure reboots the same committed bank. A
//!   committed boot writes nothing.
//! - Locking: STATE is a thread-only lock (no interrupt handler takes it) ranked above the
//!   console, so nothing prints while it is held: each function copies out what it needs,
//!   drops the guard, then prints (`sync.rs`).
//! - `rollback` sets the request flag dpuboot consumes once; a firmware upload (`update`: the
//!   task any source feeds; `console_update`: the console's framing) stages a signed image,
//!   verifies it exactly as dpuboot will, and activates it as a trial; only while the running
//!   bank is committed. [`poll`] runs one bounded step of it per loop pass.
//!
//! Test-only behaviours come from build features, never from shipping code paths:
//! `test-health-fail` fails the health check, `test-health-fail-marked` fails it only on a DPU
//! whose command line has the word `test.health=fail` (one DPU of a pair), `test-hang` hangs
//! before jumpstart, `test-panic` panics one second into a trial's health window.

use crate::arch::aarch64::{psci, timer};
use crate::board::Board;
use crate::flashbus::NotingBus;
use crate::sync::{Rank, ThreadMutex};
use crate::{console, lastboot, println, watchdog};
use bootstate::health::{Jumpstart, Progress, Signals, Verdict};
use bootstate::lastboot::Ending;
use bootstate::{
    Bank, BankLine, BankState, BootControl, BootEvent, BootRecord, ControlError, FailureReason,
    OutcomeLine, Stage,
};
use cfi_flash::CfiFlash;
use cfi_flash::boot::BootFlash;
use core::sync::atomic::{AtomicBool, Ordering};

type Flash1 = BootFlash<NotingBus>;

/// What this boot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Running {
    /// No boot-state record (direct `-kernel` or U-Boot boot, or no flash1).
    Direct,
    /// Booted by dpuboot from `bank`.
    Bank {
        /// The bank.
        bank: Bank,
        /// Still a trial (not yet committed).
        trial: bool,
    },
}

/// The shared boot state (see the module documentation for its lock rule).
pub struct BootBanks {
    control: Option<BootControl<Flash1>>,
    running: Running,
    /// The soak of a trial awaiting its verdict.
    jumpstart: Option<Jumpstart>,
    /// The firmware upload (running, or the last one's verdict).
    upload: Option<update::Task>,
}

static STATE: ThreadMutex<BootBanks> = ThreadMutex::ranked(
    "boot state",
    Rank::BootState,
    BootBanks {
        control: None,
        running: Running::Direct,
        jumpstart: None,
        upload: None,
    },
);
/// Set once no verdict is pending (committed, failed, or not a trial): the poll loop's fast
/// path, so a committed boot does not take the lock on every pass.
static DECIDED: AtomicBool = AtomicBool::new(false);

/// A `test-health-fail-marked` build on a DPU whose command line asks for the failure.
static FAIL_MARKED: AtomicBool = AtomicBool::new(false);

/// Reads the boot state from flash1 and prints the boot report line.
pub fn init(board: &Board) {
    if cfg!(feature = "test-health-fail-marked") {
        let marked = board
            .bootargs
            .split_ascii_whitespace()
            .any(|word| word == "test.health=fail");
        FAIL_MARKED.store(marked, Ordering::Relaxed);
    }
    let Some(region) = board.flash.get(1).copied() else {
        DECIDED.store(true, Ordering::Relaxed);
        println!("boot: direct boot (no flash1 in the device tree)");
        return;
    };
    // SAFETY: the second CFI bank from the DTB, mapped as device memory by layout.rs; only this
    // module drives flash1.
    let bus = unsafe { NotingBus::new(region.base as usize, region.size as usize) };
    // Lazy read-array: only this module reads flash1, always through the driver (under QEMU
    // each mode change remaps the window; an upload's programs then cost none).
    let driver = CfiFlash::new(bus, bootstate::layout::SECTOR_SIZE).with_lazy_read_array();
    let control = BootFlash::new(driver)
        .map_err(ControlError::Flash)
        .and_then(BootControl::load);
    let control = match control {
        Ok(control) => control,
        Err(error) => {
            DECIDED.store(true, Ordering::Relaxed);
            println!("boot: cannot read the boot state on flash1: {}", error);
            return;
        }
    };
    if control.valid_copies() == 0 {
        DECIDED.store(true, Ordering::Relaxed);
        println!("boot: direct boot (no boot-state record on flash1)");
        return;
    }
    let record = *control.record();
    let floor = control.floor();
    let bank = record.active;
    let info = record.bank(bank);
    let trial = info.state == BankState::Trial;
    {
        let mut state = STATE.lock();
        state.running = Running::Bank { bank, trial };
        state.jumpstart = trial.then(|| {
            Jumpstart::new(
                timer::milliseconds_since_boot(),
                u64::from(record.health_window_ms),
            )
        });
        state.control = Some(control);
    }
    DECIDED.store(!trial, Ordering::Relaxed);
    print_report(&record, floor, trial);
    // Before the loop: an update's signature steps then run translated code under QEMU.
    update::self_test();
    #[cfg(feature = "test-hang")]
    if trial {
        println!("boot: test-hang build: hanging before jumpstart");
        loop {
            aarch64_cpu::asm::wfe();
        }
    }
}

/// The running image's version as dpuboot verified it (`0.2.0+2`), on a bank boot.
pub fn running_version() -> Option<bootstate::record::Version> {
    let state = STATE.lock();
    let Running::Bank { bank, .. } = state.running else {
        return None;
    };
    state
        .control
        .as_ref()
        .map(|control| control.record().bank(bank).version)
}

fn print_report(record: &BootRecord, floor: u32, trial: bool) {
    let bank = record.active;
    let info = record.bank(bank);
    crate::print!(
        "boot: bank {} v{} {}",
        bank,
        info.version,
        if trial { "trial" } else { "committed" }
    );
    if trial {
        crate::print!(
            " ({} tries left, health window {} ms)",
            info.tries_left,
            record.health_window_ms
        );
    }
    let outcome = record.last_outcome;
    if outcome.bank == bank
        && matches!(
            outcome.event,
            BootEvent::Fallback | BootEvent::ManualRollback | BootEvent::RequestedRollback
        )
    {
        crate::print!(", after {}", OutcomeLine(record));
    }
    if outcome.event == BootEvent::RollbackRefused && outcome.bank == bank {
        crate::print!(
            ", rollback request refused (bank {} is {} or below the anti-rollback floor {})",
            bank.other(),
            record.bank(bank.other()).state,
            floor
        );
    }
    println!();
}

/// Why a trial is being failed.
#[derive(Clone, Copy)]
enum FailCause {
    /// A signal stayed down past the deadline.
    Unhealthy(bootstate::health::Unhealthy),
    /// A `test-health-fail` build (behaves like a kernel whose services failed).
    TestBuild,
}

impl core::fmt::Display for FailCause {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FailCause::Unhealthy(problem) => problem.fmt(f),
            FailCause::TestBuild => f.write_str("test-health-fail build"),
        }
    }
}

/// What the poll decided, printed after the lock is dropped.
enum Decision {
    Pending,
    Committed {
        bank: Bank,
        after_ms: u64,
    },
    CommitFailed(ControlError),
    Failed {
        bank: Bank,
        cause: FailCause,
        marked: Result<(), ControlError>,
    },
}

/// Called from the poll loop: commits a trial that stayed healthy for its window, or fails
/// one that is still unhealthy at the deadline.
pub fn poll(management: Option<bool>, forwarding: Option<bool>, reset: Option<psci::Conduit>) {
    // One bounded step of a firmware upload, whoever feeds it (console or API).
    let _ = update::poll();
    if DECIDED.load(Ordering::Relaxed) {
        return;
    }
    let now = timer::milliseconds_since_boot();
    #[cfg(feature = "test-panic")]
    if now >= 1000 {
        panic!("test-panic build: panicking inside the health window");
    }
    let signals = Signals {
        console: console::is_up(),
        loop_alive: watchdog::loop_alive(),
        management,
        forwarding,
    };
    let decision = decide(&mut STATE.lock(), now, signals);
    match decision {
        Decision::Pending => {}
        Decision::Committed { bank, after_ms } => {
            println!(
                "jumpstart: bank {} committed (healthy for {} ms)",
                bank, after_ms
            );
        }
        Decision::CommitFailed(error) => println!("jumpstart: commit failed: {}", error),
        Decision::Failed {
            bank,
            cause,
            marked,
        } => {
            println!(
                "health check failed ({}): marking bank {} bad and resetting",
                cause, bank
            );
            if let Err(error) = marked {
                println!("boot: cannot mark the bank bad: {}", error);
            }
            lastboot::record(Ending::HealthCheck);
            match reset {
                Some(conduit) => psci::system_reset(conduit),
                None => println!("error: no PSCI; cannot reset"),
            }
        }
    }
}

fn decide(state: &mut BootBanks, now: u64, signals: Signals) -> Decision {
    let Running::Bank { bank, trial: true } = state.running else {
        DECIDED.store(true, Ordering::Relaxed);
        return Decision::Pending;
    };
    let Some(jumpstart) = state.jumpstart.as_mut() else {
        DECIDED.store(true, Ordering::Relaxed);
        return Decision::Pending;
    };
    let verdict = if cfg!(feature = "test-health-fail") || FAIL_MARKED.load(Ordering::Relaxed) {
        Err(FailCause::TestBuild)
    } else {
        match jumpstart.sample(now, signals) {
            Verdict::Pending => return Decision::Pending,
            Verdict::Commit => Ok(jumpstart.window_ms()),
            Verdict::Fail(problem) => Err(FailCause::Unhealthy(problem)),
        }
    };
    DECIDED.store(true, Ordering::Relaxed);
    state.jumpstart = None;
    let Some(control) = state.control.as_mut() else {
        return Decision::Pending;
    };
    match verdict {
        Ok(after_ms) => match control.commit(bank) {
            Ok(()) => {
                state.running = Running::Bank { bank, trial: false };
                Decision::Committed { bank, after_ms }
            }
            Err(error) => Decision::CommitFailed(error),
        },
        Err(cause) => Decision::Failed {
            bank,
            cause,
            marked: control.mark_bad(bank, FailureReason::HealthCheck, Stage::Health),
        },
    }
}

/// `boot`: both banks, the last outcome, reasons, how the last boot ended.
pub fn show() {
    let snapshot = {
        let mut state = STATE.lock();
        let running = state.running;
        let progress = state.jumpstart.as_ref().map(Jumpstart::progress);
        state.control.as_mut().map(|control| {
            let flash = control.flash_mut();
            let writes = (flash.erases(), flash.programs());
            (
                *control.record(),
                control.floor(),
                running,
                progress,
                writes,
            )
        })
    };
    let Some((record, floor, running, progress, (erases, programs))) = snapshot else {
        println!("direct boot: no boot-state record (not booted by dpuboot)");
        println!("{}", lastboot::Report);
        return;
    };
    println!(
        "boot state: sequence {}, floor {}, trial tries {}, Shift+R window {} ms, health window {} ms, rollback request {}",
        record.sequence,
        floor,
        record.trial_tries,
        record.rollback_window_ms,
        record.health_window_ms,
        if record.rollback_requested {
            "pending"
        } else {
            "none"
        }
    );
    let running = match running {
        Running::Bank { bank, .. } => Some(bank),
        Running::Direct => None,
    };
    for bank in [Bank::A, Bank::B] {
        println!(
            "  {}{}",
            BankLine {
                bank,
                info: record.bank(bank),
                preferred: record.active == bank,
            },
            if running == Some(bank) {
                "  <- running"
            } else {
                ""
            }
        );
    }
    println!("last outcome: {}", OutcomeLine(&record));
    match progress {
        Some(Progress::Starting) | None => {}
        Some(progress) => println!("jumpstart: {}", progress),
    }
    println!("{}", lastboot::Report);
    println!(
        "flash writes by the kernel this boot: {} erase(s), {} program(s)",
        erases, programs
    );
    if let Some(task) = update::progress() {
        println!(
            "firmware upload {}: {} ({} ms)",
            task.id, task.upload, task.elapsed_ms
        );
    }
}

/// `rollback`: asks dpuboot to roll back at the next boot (consumed once).
pub fn request_rollback() {
    let result = STATE
        .lock()
        .control
        .as_mut()
        .map(BootControl::request_rollback);
    match result {
        None => println!("error: direct boot; there is no other bank to roll back to"),
        Some(Ok(())) => {
            println!("rollback requested: dpuboot performs it at the next boot ('reboot')")
        }
        Some(Err(error)) => println!("error: rollback request not written: {}", error),
    }
}

/// A change to the boot settings (`boot tries N`, `boot window MS`, `boot health MS`).
#[derive(Clone, Copy)]
pub enum Setting {
    /// Tries a new trial gets.
    Tries(u8),
    /// dpuboot's Shift+R window in ms (0 = off).
    RollbackWindow(u16),
    /// The jumpstart health window in ms (0 = commit at the first healthy check).
    HealthWindow(u32),
}

/// `boot tries N` / `boot window MS` / `boot health MS`: changes the settings in the
/// boot-state record (dpuboot and the next trial read them).
pub fn configure(setting: Setting) {
    let result = STATE.lock().control.as_mut().map(|control| {
        match setting {
            Setting::Tries(tries) => control.set_trial_tries(tries),
            Setting::RollbackWindow(window) => control.set_rollback_window_ms(window),
            Setting::HealthWindow(window) => control.set_health_window_ms(window),
        }
        .map(|()| *control.record())
    });
    match result {
        None => println!("error: direct boot; there is no boot-state record to configure"),
        Some(Ok(record)) => println!(
            "boot settings: {} tries for a new trial, Shift+R window {} ms (0 = off), health window {} ms",
            record.trial_tries, record.rollback_window_ms, record.health_window_ms
        ),
        Some(Err(error)) => println!("error: boot settings not written: {}", error),
    }
}

/// The boot state as the management API shows it (`api.rs`): the record, the anti-rollback
/// floor and the running bank (with whether it is a trial).
pub(crate) type View = (BootRecord, u32, Option<(Bank, bool)>);

/// The [`View`]; `None` on a direct boot.
pub(crate) fn view() -> Option<View> {
    let state = STATE.lock();
    let running = match state.running {
        Running::Bank { bank, trial } => Some((bank, trial)),
        Running::Direct => None,
    };
    state
        .control
        .as_ref()
        .map(|control| (*control.record(), control.floor(), running))
}

/// Why the API's rollback request was not written.
#[derive(Clone, Copy)]
pub(crate) enum RollbackRefused {
    /// Direct boot: no banks.
    NoBanks,
    /// dpuboot would refuse it (the other bank's state, or the anti-rollback floor).
    Forbidden,
    /// Writing the record failed.
    Flash,
}

/// `POST /v1/firmware:rollback`: asks dpuboot to roll back at the next boot, unless dpuboot
/// would refuse (its own pure plan, run on a copy of the record, says so): then nothing is
/// written. Prints nothing (the caller answers).
pub(crate) fn request_rollback_checked() -> Result<(), RollbackRefused> {
    let mut state = STATE.lock();
    let control = state.control.as_mut().ok_or(RollbackRefused::NoBanks)?;
    let mut trial = *control.record();
    let outcome = bootstate::control::plan_rollback(
        &mut trial,
        control.floor(),
        FailureReason::RollbackRequested,
        BootEvent::RequestedRollback,
    );
    if matches!(outcome, bootstate::RollbackOutcome::Refused { .. }) {
        return Err(RollbackRefused::Forbidden);
    }
    control
        .request_rollback()
        .map_err(|_| RollbackRefused::Flash)
}

/// Why an unstage was refused (nothing written).
#[derive(Clone, Copy)]
pub(crate) enum UnstageRefused {
    /// Direct boot: no banks.
    NoBanks,
    /// The running bank is a trial: an image staged now is what runs.
    RunningTrial,
    /// No image waits as the next boot's trial.
    NothingStaged,
    /// Writing the record failed.
    Flash,
}

/// `unstage` and `POST /v1/firmware:unstage`: withdraws the image staged as the next boot's
/// trial (an update the other DPUs failed), so the next boot runs the running bank again. The
/// withdrawn bank and its image's version. Prints nothing (the callers say it).
pub(crate) fn unstage_checked() -> Result<(Bank, bootstate::record::Version), UnstageRefused> {
    let mut state = STATE.lock();
    let running = match state.running {
        Running::Bank { bank, trial: false } => bank,
        Running::Bank { trial: true, .. } => return Err(UnstageRefused::RunningTrial),
        Running::Direct => return Err(UnstageRefused::NoBanks),
    };
    let control = state.control.as_mut().ok_or(UnstageRefused::NoBanks)?;
    match control.unstage(running) {
        Ok(withdrawn) => Ok((running.other(), withdrawn.version)),
        Err(ControlError::NothingStaged) => Err(UnstageRefused::NothingStaged),
        Err(ControlError::NotCommitted) => Err(UnstageRefused::RunningTrial),
        Err(_) => Err(UnstageRefused::Flash),
    }
}

/// The console's `unstage`.
pub fn unstage() {
    match unstage_checked() {
        Ok((bank, version)) => println!(
            "unstaged: bank {} ({}) will not boot; the next boot runs the running bank again",
            bank, version
        ),
        Err(UnstageRefused::NoBanks) => println!("error: direct boot; there are no banks"),
        Err(UnstageRefused::RunningTrial) => {
            println!("error: the running bank is a trial; nothing staged is waiting")
        }
        Err(UnstageRefused::NothingStaged) => {
            println!("error: no image is staged for the next boot")
        }
        Err(UnstageRefused::Flash) => println!("error: writing the boot state failed"),
    }
}

pub mod console_update;
pub mod update;
