//! A/B boot banks, kernel side: boot report, health window and jumpstart, rollback, update.
//!
//! flash1 (the second CFI bank in the DTB, mapped as device memory by `layout.rs`) holds the
//! boot-state record dpuboot acted on. At boot the kernel reads it: the preferred bank is the
//! one dpuboot just booted (dpuboot's `select` makes the bank it boots preferred). A blank
//! record means a direct boot (`-kernel`, U-Boot): no banks, nothing is written.
//!
//! - Every boot prints one report line: bank, version, trial or committed, fallback reason.
//! - Health window: a trial is committed (jumpstart) once [`health_ok`] holds, within
//!   [`HEALTH_DEADLINE_MS`]; otherwise it is marked bad (reason health check, stage P4) and the
//!   machine resets so dpuboot boots the committed bank. A committed boot writes nothing.
//! - `rollback` sets the request flag dpuboot consumes once; `update` stages a signed image
//!   received over the console (see `update`), verifies it exactly as dpuboot will, and
//!   activates it as a trial; only while the running bank is committed.
//!
//! Test-only behaviours come from build features, never from shipping code paths:
//! `test-health-fail` fails the health check, `test-hang` hangs before jumpstart.

use crate::arch::aarch64::{psci, timer};
use crate::board::Board;
use crate::{print, println};
use bootstate::{
    Bank, BankInfo, BankState, BootControl, BootEvent, ControlError, FailureReason, Stage, Version,
};
use cfi_flash::CfiFlash;
use cfi_flash::boot::BootFlash;
use cfi_flash::mmio::MmioBus;

mod keys {
    include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));
}

/// How long a trial has to become healthy before it is marked bad.
pub const HEALTH_DEADLINE_MS: u64 = 10_000;

type Flash1 = BootFlash<MmioBus>;

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

struct BootBanks {
    control: Option<BootControl<Flash1>>,
    running: Running,
    /// Set once the health verdict is in (committed or marked bad).
    decided: bool,
}

static STATE: spin::Mutex<BootBanks> = spin::Mutex::new(BootBanks {
    control: None,
    running: Running::Direct,
    decided: false,
});

/// `a.b.c+d`.
pub struct ShowVersion(pub Version);

impl core::fmt::Display for ShowVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let v = self.0;
        write!(f, "{}.{}.{}+{}", v.major, v.minor, v.revision, v.build)
    }
}

fn state_name(state: BankState) -> &'static str {
    match state {
        BankState::Empty => "empty",
        BankState::Writing => "writing",
        BankState::Trial => "trial",
        BankState::Good => "committed",
        BankState::Bad => "bad",
        BankState::Superseded => "superseded",
    }
}

/// Reads the boot state from flash1 and prints the boot report line.
pub fn init(board: &Board) {
    let mut state = STATE.lock();
    let Some(region) = board.flash.get(1).copied() else {
        println!("boot: direct boot (no flash1 in the device tree)");
        return;
    };
    // SAFETY: the second CFI bank from the DTB, mapped as device memory by layout.rs; only this
    // module drives flash1.
    let bus = unsafe { MmioBus::new(region.base as usize, region.size as usize) };
    let control = BootFlash::new(CfiFlash::new(bus, bootstate::layout::SECTOR_SIZE))
        .map_err(ControlError::Flash)
        .and_then(BootControl::load);
    let control = match control {
        Ok(control) => control,
        Err(error) => {
            println!("boot: cannot read the boot state on flash1: {:?}", error);
            return;
        }
    };
    if control.valid_copies() == 0 {
        println!("boot: direct boot (no boot-state record on flash1)");
        return;
    }
    let record = *control.record();
    let bank = record.active;
    let info = record.bank(bank);
    let trial = info.state == BankState::Trial;
    print!(
        "boot: bank {:?} v{} {}",
        bank,
        ShowVersion(info.version),
        if trial { "trial" } else { "committed" }
    );
    if trial {
        print!(" ({} tries left)", info.tries_left);
    }
    let outcome = record.last_outcome;
    if outcome.bank == bank
        && matches!(
            outcome.event,
            BootEvent::Fallback | BootEvent::ManualRollback | BootEvent::RequestedRollback
        )
    {
        print!(
            ", after {:?} from bank {:?} (reason {:?})",
            outcome.event,
            bank.other(),
            outcome.reason
        );
    }
    if outcome.event == BootEvent::RollbackRefused && outcome.bank == bank {
        print!(
            ", rollback request refused (bank {:?} is {} or below the anti-rollback floor {})",
            bank.other(),
            state_name(record.bank(bank.other()).state),
            control.floor()
        );
    }
    println!();
    state.running = Running::Bank { bank, trial };
    state.decided = !trial;
    state.control = Some(control);
    #[cfg(feature = "test-hang")]
    if trial {
        println!("boot: test-hang build: hanging before jumpstart");
        loop {
            aarch64_cpu::asm::wfe();
        }
    }
}

/// The health signals a trial must show before it is committed. `management` is `None` while
/// no management stack exists, else whether it is up (the NIC layer's signal).
pub fn health_ok(management: Option<bool>) -> Result<bool, FailureReason> {
    if cfg!(feature = "test-health-fail") {
        // A test image: behave like a kernel whose services failed to come up.
        return Err(FailureReason::HealthCheck);
    }
    // The console is up (we are in the poll loop); the management stack once it exists.
    Ok(management.unwrap_or(true))
}

/// Called from the poll loop: commits a healthy trial, or fails an unhealthy one.
pub fn poll(management: Option<bool>, reset: Option<psci::Conduit>) {
    let mut state = STATE.lock();
    if state.decided {
        return;
    }
    let Running::Bank { bank, trial: true } = state.running else {
        state.decided = true;
        return;
    };
    let verdict = match health_ok(management) {
        Ok(true) => Ok(()),
        Ok(false) if timer::uptime_milliseconds() < HEALTH_DEADLINE_MS => return,
        Ok(false) => Err(FailureReason::HealthCheck),
        Err(reason) => Err(reason),
    };
    state.decided = true;
    let Some(control) = state.control.as_mut() else {
        return;
    };
    match verdict {
        Ok(()) => match control.commit(bank) {
            Ok(()) => {
                state.running = Running::Bank { bank, trial: false };
                println!("jumpstart: bank {:?} committed", bank);
            }
            Err(error) => println!("jumpstart: commit failed: {:?}", error),
        },
        Err(reason) => {
            println!(
                "health check failed ({:?}): marking bank {:?} bad and resetting",
                reason, bank
            );
            if let Err(error) = control.mark_bad(bank, reason, Stage::Health) {
                println!("boot: cannot mark the bank bad: {:?}", error);
            }
            drop(state);
            match reset {
                Some(conduit) => psci::system_reset(conduit),
                None => println!("error: no PSCI; cannot reset"),
            }
        }
    }
}

fn show_bank(bank: Bank, info: &BankInfo, preferred: bool, running: bool) {
    println!(
        "  bank {:?}{} {:<10} v{:<12} counter {:<4} tries {} reason {:?} (stage {:?}){}",
        bank,
        if preferred { "*" } else { " " },
        state_name(info.state),
        ShowVersion(info.version),
        info.security_counter,
        info.tries_left,
        info.reason,
        info.stage,
        if running { "  <- running" } else { "" }
    );
}

/// `boot`: both banks, the last outcome, reasons.
pub fn show() {
    let mut state = STATE.lock();
    let running = match state.running {
        Running::Bank { bank, .. } => Some(bank),
        Running::Direct => None,
    };
    let Some(control) = state.control.as_mut() else {
        println!("direct boot: no boot-state record (not booted by dpuboot)");
        return;
    };
    let record = *control.record();
    println!(
        "boot state: sequence {}, floor {}, trial tries {}, Shift+R window {} ms, rollback request {}",
        record.sequence,
        control.floor(),
        record.trial_tries,
        record.rollback_window_ms,
        if record.rollback_requested {
            "pending"
        } else {
            "none"
        }
    );
    for bank in [Bank::A, Bank::B] {
        show_bank(
            bank,
            record.bank(bank),
            record.active == bank,
            running == Some(bank),
        );
    }
    println!(
        "last outcome: {:?} bank {:?} reason {:?}",
        record.last_outcome.event, record.last_outcome.bank, record.last_outcome.reason
    );
    let flash = control.flash_mut();
    println!(
        "flash writes by the kernel this boot: {} erase(s), {} program(s)",
        flash.erases(),
        flash.programs()
    );
}

/// `rollback`: asks dpuboot to roll back at the next boot (consumed once).
pub fn request_rollback() {
    let mut state = STATE.lock();
    let Some(control) = state.control.as_mut() else {
        println!("error: direct boot; there is no other bank to roll back to");
        return;
    };
    match control.request_rollback() {
        Ok(()) => println!("rollback requested: dpuboot performs it at the next boot ('reboot')"),
        Err(error) => println!("error: rollback request not written: {:?}", error),
    }
}

/// `boot tries N` / `boot window MS`: changes dpuboot's settings in the boot-state record.
pub fn configure(tries: Option<u8>, window_ms: Option<u16>) {
    let mut state = STATE.lock();
    let Some(control) = state.control.as_mut() else {
        println!("error: direct boot; there is no boot-state record to configure");
        return;
    };
    let result = match (tries, window_ms) {
        (Some(tries), _) => control.set_trial_tries(tries),
        (None, Some(window)) => control.set_rollback_window_ms(window),
        (None, None) => Ok(()),
    };
    match result {
        Ok(()) => {
            let record = control.record();
            println!(
                "boot settings: {} tries for a new trial, Shift+R window {} ms (0 = off)",
                record.trial_tries, record.rollback_window_ms
            );
        }
        Err(error) => println!("error: boot settings not written: {:?}", error),
    }
}

/// The bank running now, if committed (the updater's precondition).
fn committed_bank(state: &BootBanks) -> Option<Bank> {
    match state.running {
        Running::Bank { bank, trial: false } => Some(bank),
        _ => None,
    }
}

/// The updater's one way in: runs `f` under the boot-state lock with the running bank and the
/// boot control, if that bank is committed; `None` otherwise. `f` must not print.
pub(crate) fn with_committed<R>(f: impl FnOnce(Bank, &mut BootControl<Flash1>) -> R) -> Option<R> {
    let mut state = STATE.lock();
    let bank = committed_bank(&state)?;
    state.control.as_mut().map(|control| f(bank, control))
}

pub mod update;

/// Trusted keys, for the updater.
pub(crate) fn trusted_keys() -> &'static [bootstate::TrustedKey] {
    keys::TRUSTED_KEYS
}
