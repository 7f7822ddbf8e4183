//! The firmware upload task: one signed image at a time into the inactive bank, from any source.
//!
//! The console's `update` (`console_update.rs`) and the API's `POST /v1/firmware:upload` both
//! drive the same task: [`start`] with the image length, [`feed`] with bytes as they arrive (it
//! takes what fits; offer the rest later), [`progress`] to report, [`abort`] when the source
//! gives up. The work itself is [`bootstate::update::Upload`], pure and host-tested; this module
//! keeps it in the boot state (one lock), runs one bounded step of it per loop pass ([`poll`],
//! from `bootbank::poll`), and times the steps.
//!
//! A step is one sector erase, one 2 KiB program (one CFI write-to-buffer), one
//! [`bootstate::update::HASH_BUDGET`] slice of the hash, one step of the signature check
//! (digest and key, then `bootstate::ed25519`'s slices of the Ed25519 check, then the floor),
//! or the record write (activate as a trial, or mark the bank bad). The erase and the record
//! write (which erases a record sector) cannot be split; every kind's count, mean and longest
//! time are kept ([`StepTimes`]) and printed by the console.
//!
//! The last task's verdict stays readable until the next [`start`].

use super::{Running, STATE};
use crate::arch::aarch64::timer;
use crate::loopstats::{self, Activity};
use bootstate::ControlError;
use bootstate::update::Upload;
pub use bootstate::update::{
    AbortReason, FeedError, StartError, UploadFailure, UploadProgress, UploadState, Work,
};

/// The public keys an image may be signed with: the same file dpuboot trusts (build.rs).
mod keys {
    include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));
}

/// Count, total and longest time of one kind of step, in microseconds.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTime {
    /// Steps of this kind.
    pub count: u32,
    /// Their total time.
    pub total: u64,
    /// The longest.
    pub longest: u64,
}

impl StepTime {
    fn add(&mut self, microseconds: u64) {
        self.count = self.count.saturating_add(1);
        self.total = self.total.saturating_add(microseconds);
        self.longest = self.longest.max(microseconds);
    }
}

/// `12 x, mean 40 us, longest 90 us`.
impl core::fmt::Display for StepTime {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "{} x, mean {} us, longest {} us",
            self.count,
            self.total / u64::from(self.count.max(1)),
            self.longest
        )
    }
}

/// The upload's steps by kind.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct StepTimes {
    /// Sector erases started (and the looks whether one ended while it runs).
    pub erase: StepTime,
    /// Programs (up to 2 KiB each).
    pub program: StepTime,
    /// Hash slices (and the structure check that starts the verification).
    pub hash: StepTime,
    /// The signature check's steps: digest and key, the Ed25519 slices, floor.
    pub check: StepTime,
    /// The end: the record write that activates the image (or a refusal's bad mark).
    pub finish: StepTime,
}

impl core::fmt::Display for StepTimes {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            formatter,
            "sector erase {}; 2 KiB program {}; hash slice {}; signature check {}; record write {}",
            self.erase, self.program, self.hash, self.check, self.finish
        )
    }
}

/// The upload task (in the boot state).
pub(super) struct Task {
    id: u32,
    upload: Upload,
    started: u64,
    /// Counter time of the verdict.
    ended: Option<u64>,
    steps: StepTimes,
}

/// A snapshot of the task.
#[derive(Clone, Copy)]
pub struct TaskProgress {
    /// Task number (1 for the first upload of this boot).
    pub id: u32,
    /// Bytes, state and verdict.
    pub upload: UploadProgress,
    /// Milliseconds from the start to now, or to the verdict.
    pub elapsed_ms: u64,
    /// Steps of each kind so far, with their times.
    pub steps: StepTimes,
}

/// The Ed25519 check's known-answer test ([`bootstate::ed25519::self_test`]), once at boot before
/// the poll loop: it shows the check works in this build, and under QEMU TCG it pays the
/// one-time translation of the arithmetic's code (8-21 ms measured) outside the loop, where it
/// would otherwise make the first run of each signature step of an update a long pass.
/// A failure is printed; the update's own check then still decides each image.
pub fn self_test() {
    let begun = timer::counter_microseconds();
    let passed = bootstate::ed25519::self_test();
    let took = timer::counter_microseconds().saturating_sub(begun);
    if passed {
        crate::log_info!("update: Ed25519 self-test passed in {=u64} us", took);
    } else {
        crate::log_error!("update: Ed25519 self-test FAILED");
        crate::println!(
            "update: the Ed25519 self-test (RFC 8032 test 1) FAILED: this build's signature check is broken"
        );
    }
}

/// Starts an upload of `length` bytes into the inactive bank; returns the task number. Needs a
/// committed running bank and no upload receiving or verifying. One record write (the target
/// bank becomes Writing).
pub fn start(length: u32) -> Result<u32, StartError> {
    let mut state = STATE.lock();
    let state = &mut *state;
    if state
        .upload
        .as_ref()
        .is_some_and(|task| !task.upload.progress().state.is_over())
    {
        return Err(StartError::Busy);
    }
    let Running::Bank {
        bank: running,
        trial: false,
    } = state.running
    else {
        return Err(StartError::Control(ControlError::NotCommitted));
    };
    let Some(control) = state.control.as_mut() else {
        return Err(StartError::Control(ControlError::NotCommitted));
    };
    let upload = Upload::start(control, running, length)?;
    let id = state
        .upload
        .as_ref()
        .map_or(1, |task| task.id.wrapping_add(1));
    state.upload = Some(Task {
        id,
        upload,
        started: timer::counter_microseconds(),
        ended: None,
        steps: StepTimes::default(),
    });
    Ok(id)
}

/// Offers image bytes; returns how many were taken (0 when the buffer waits for its program:
/// offer the rest after a pass). No flash access.
pub fn feed(bytes: &[u8]) -> Result<usize, FeedError> {
    match STATE.lock().upload.as_mut() {
        Some(task) => task.upload.feed(bytes),
        None => Err(FeedError::NotReceiving),
    }
}

/// Whether the task has flash work for the next pass (the loop should not sleep).
pub fn has_work() -> bool {
    STATE
        .lock()
        .upload
        .as_ref()
        .is_some_and(|task| task.upload.has_work())
}

/// The source gave up: the upload ends, the bank stays unbootable (Writing).
pub fn abort(reason: AbortReason) {
    if let Some(task) = STATE.lock().upload.as_mut() {
        task.upload.abort(reason);
        task.ended.get_or_insert_with(timer::counter_microseconds);
    }
}

/// The current (or last) task.
pub fn progress() -> Option<TaskProgress> {
    let state = STATE.lock();
    let task = state.upload.as_ref()?;
    let until = task.ended.unwrap_or_else(timer::counter_microseconds);
    Some(TaskProgress {
        id: task.id,
        upload: task.upload.progress(),
        elapsed_ms: until.saturating_sub(task.started) / 1000,
        steps: task.steps,
    })
}

/// One bounded step of the task (called once per loop pass); what it did.
pub fn poll() -> Work {
    let work = {
        let mut state = STATE.lock();
        let state = &mut *state;
        let (Some(task), Some(control)) = (state.upload.as_mut(), state.control.as_mut()) else {
            return Work::Idle;
        };
        let begun = timer::counter_microseconds();
        let work = task.upload.poll(control, keys::TRUSTED_KEYS);
        let now = timer::counter_microseconds();
        let took = now.saturating_sub(begun);
        let slot = match work {
            // Starting the erase is the work (QEMU erases during the command); its end is a
            // status read.
            Work::Erasing => Some(&mut task.steps.erase),
            Work::Erased => None,
            Work::Programmed(_) => Some(&mut task.steps.program),
            Work::VerifyStarted | Work::Hashed(_) => Some(&mut task.steps.hash),
            Work::Signature | Work::Checked => Some(&mut task.steps.check),
            Work::Finished => {
                task.ended = Some(now);
                Some(&mut task.steps.finish)
            }
            Work::Idle | Work::Over => None,
        };
        if let Some(slot) = slot {
            slot.add(took);
        }
        work
    };
    match work {
        Work::Erasing | Work::Erased => loopstats::note(Activity::FlashErase),
        Work::Programmed(_) => loopstats::note(Activity::UpdateFrame),
        Work::VerifyStarted
        | Work::Hashed(_)
        | Work::Signature
        | Work::Checked
        | Work::Finished => loopstats::note(Activity::UpdateVerify),
        Work::Idle | Work::Over => {}
    }
    work
}
