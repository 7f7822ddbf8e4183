//! The A/B bank state machine: dpuboot's selection and the kernel's staging, commit and rollback.
//!
//! [`BootControl`] owns the flash, the current record and the anti-rollback floor. Every
//! transition is computed on a copy of the record in memory and persisted with at most one
//! record write (one erase, two programs); a transition that changes nothing writes nothing,
//! so a steady boot of a committed bank costs zero flash writes. The pure planning functions
//! (`plan_select`, `plan_fallback`, `plan_rollback`) hold the policy; the methods add I/O.
//!
//! dpuboot: [`BootControl::manual_rollback`] (Shift+R), [`BootControl::select`], then verify
//! the RAM copy and on failure [`BootControl::reject`], which returns the next decision.
//! Kernel: [`BootControl::stage_begin`] / [`BootControl::stage_write`] /
//! [`BootControl::stage_finish`] (activation), [`BootControl::commit`] (jumpstart),
//! [`BootControl::mark_bad`] (health check failed), [`BootControl::request_rollback`].

use crate::flash::{Flash, FlashError};
use crate::image::{TrustedKey, VerifiedImage, VerifyError, verify_in_flash};
use crate::layout::{BANK_SIZE, bank_offset};
use crate::record::{
    Bank, BankInfo, BankState, BootEvent, BootOutcome, BootRecord, FailureReason, Stage,
};
use crate::store::{Floor, Records, StoreError};

/// Why a state-machine operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum ControlError {
    /// A flash operation failed.
    Flash(FlashError),
    /// The anti-rollback floor area is full.
    FloorFull,
    /// The running bank is not the committed, preferred bank (staging needs a committed boot).
    NotCommitted,
    /// The running bank is not on trial (commit and mark_bad apply to trials only).
    NotTrial,
    /// The staging writer does not match the bank being staged.
    NotStaging,
    /// The staged image does not fit in a bank.
    TooLarge,
    /// The staged image failed verification; the bank is now Bad with this reason.
    Verify(VerifyError),
}

impl core::fmt::Display for ControlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ControlError::Flash(error) => write!(f, "flash: {error}"),
            ControlError::FloorFull => f.write_str("every anti-rollback floor slot is used"),
            ControlError::NotCommitted => {
                f.write_str("the running bank is not the committed, preferred bank")
            }
            ControlError::NotTrial => f.write_str("the running bank is not on trial"),
            ControlError::NotStaging => f.write_str("no image is being staged into that bank"),
            ControlError::TooLarge => f.write_str("the image does not fit in a bank"),
            ControlError::Verify(error) => write!(f, "verification failed: {error}"),
        }
    }
}

impl From<FlashError> for ControlError {
    fn from(error: FlashError) -> Self {
        ControlError::Flash(error)
    }
}

impl From<StoreError> for ControlError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Flash(error) => ControlError::Flash(error),
            StoreError::FloorFull => ControlError::FloorFull,
        }
    }
}

/// dpuboot's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDecision {
    /// Copy this bank to RAM, verify it, jump.
    Boot {
        /// The bank.
        bank: Bank,
        /// Whether it is an uncommitted trial (one try was used and persisted).
        trial: bool,
        /// Total signed image length recorded at staging (how much to copy).
        image_len: u32,
        /// SHA-256 recorded at staging; the verified copy must match it.
        digest: [u8; 32],
    },
    /// Nothing is bootable: stay in recovery. Per bank, its state and failure reason.
    Recovery {
        /// State and reason of bank A and bank B.
        banks: [(BankState, FailureReason); 2],
    },
}

/// Result of a rollback attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackOutcome {
    /// Rolled back: `to` is now the committed, preferred bank.
    RolledBack {
        /// The bank left.
        from: Bank,
        /// The bank now preferred.
        to: Bank,
    },
    /// Refused: the other bank is not a known-good image, or its counter is below the floor.
    Refused {
        /// The bank that would have been the target.
        target: Bank,
        /// Its state.
        state: BankState,
        /// Whether its security counter is below the floor.
        below_floor: bool,
    },
}

/// Progress of an image being staged into a bank (kernel side).
#[derive(Debug)]
pub struct StagingWriter {
    bank: Bank,
    written: u32,
    buffer: [u8; STAGING_CHUNK],
    buffered: usize,
}

/// Bytes programmed per flash operation while staging (sector size is a multiple of it).
const STAGING_CHUNK: usize = 256;

const _: () = assert!(crate::layout::SECTOR_SIZE.is_multiple_of(STAGING_CHUNK as u32));

impl StagingWriter {
    /// The bank being staged.
    #[must_use]
    pub fn bank(&self) -> Bank {
        self.bank
    }

    /// Bytes accepted so far.
    #[must_use]
    pub fn len(&self) -> u32 {
        self.written + self.buffered as u32
    }

    /// Whether nothing has been written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a bank may be booted as a committed image (not a trial).
fn is_known_good(info: &BankInfo, floor: u32) -> bool {
    matches!(info.state, BankState::Good | BankState::Superseded) && info.security_counter >= floor
}

/// Chooses a committed bank (active Good, other Good, then Superseded) and records a fallback
/// if it is not the preferred one. Pure.
pub fn plan_fallback(record: &mut BootRecord, floor: u32) -> BootDecision {
    let active = record.active;
    let order = [active, active.other()];
    let choice = order
        .iter()
        .copied()
        .find(|&bank| record.bank(bank).state == BankState::Good)
        .or_else(|| {
            order
                .iter()
                .copied()
                .find(|&bank| is_known_good(record.bank(bank), floor))
        });
    match choice {
        Some(bank) => {
            if bank != active {
                let reason = record.bank(active).reason;
                record.active = bank;
                record.last_outcome = BootOutcome {
                    event: BootEvent::Fallback,
                    bank,
                    reason,
                };
            }
            let info = record.bank_mut(bank);
            // A superseded image booted as the last resort becomes the committed one.
            info.state = BankState::Good;
            BootDecision::Boot {
                bank,
                trial: false,
                image_len: info.image_len,
                digest: info.digest,
            }
        }
        None => {
            record.last_outcome = BootOutcome {
                event: BootEvent::Recovery,
                bank: active,
                reason: FailureReason::None,
            };
            BootDecision::Recovery {
                banks: [Bank::A, Bank::B].map(|bank| {
                    let info = record.bank(bank);
                    (info.state, info.reason)
                }),
            }
        }
    }
}

/// Rolls back from the preferred bank to the other one if it is a known-good image at or
/// above the floor. The bank left becomes Superseded if it was committed, Bad (with `reason`)
/// if it was a trial. Pure.
pub fn plan_rollback(
    record: &mut BootRecord,
    floor: u32,
    reason: FailureReason,
    event: BootEvent,
) -> RollbackOutcome {
    let from = record.active;
    let to = from.other();
    let target = *record.bank(to);
    if !is_known_good(&target, floor) {
        return RollbackOutcome::Refused {
            target: to,
            state: target.state,
            below_floor: target.security_counter < floor,
        };
    }
    let left = record.bank_mut(from);
    match left.state {
        BankState::Good => {
            left.state = BankState::Superseded;
            left.reason = reason;
        }
        BankState::Trial => {
            left.state = BankState::Bad;
            left.reason = reason;
            left.stage = Stage::Loader;
            left.tries_left = 0;
        }
        _ => {}
    }
    let entered = record.bank_mut(to);
    entered.state = BankState::Good;
    entered.reason = FailureReason::None;
    entered.tries_left = 0;
    record.active = to;
    record.last_outcome = BootOutcome {
        event,
        bank: to,
        reason,
    };
    RollbackOutcome::RolledBack { from, to }
}

/// dpuboot's whole selection: consume a kernel rollback request, try a trial (using one try),
/// retire an exhausted trial, else fall back to a committed bank, else recovery. Pure.
pub fn plan_select(record: &mut BootRecord, floor: u32) -> BootDecision {
    if record.rollback_requested {
        record.rollback_requested = false;
        let outcome = plan_rollback(
            record,
            floor,
            FailureReason::RollbackRequested,
            BootEvent::RequestedRollback,
        );
        if let RollbackOutcome::Refused { .. } = outcome {
            record.last_outcome = BootOutcome {
                event: BootEvent::RollbackRefused,
                bank: record.active,
                reason: FailureReason::RollbackRequested,
            };
        }
    }
    for bank in [record.active, record.active.other()] {
        let info = record.bank_mut(bank);
        if info.state != BankState::Trial {
            continue;
        }
        if info.tries_left > 0 {
            // The try is used before the jump: a hang must not get another one for free.
            info.tries_left -= 1;
            let decision = BootDecision::Boot {
                bank,
                trial: true,
                image_len: info.image_len,
                digest: info.digest,
            };
            record.active = bank;
            record.last_outcome = BootOutcome {
                event: BootEvent::Trial,
                bank,
                reason: FailureReason::None,
            };
            return decision;
        }
        info.state = BankState::Bad;
        info.reason = FailureReason::TriesExhausted;
        info.stage = Stage::Unknown;
    }
    plan_fallback(record, floor)
}

/// The boot state on one flash device, with the operations dpuboot, the kernel and xtask use.
#[derive(Debug)]
pub struct BootControl<F: Flash> {
    flash: F,
    records: Records,
    floor: Floor,
}

impl<F: Flash> BootControl<F> {
    /// Reads the boot state (both record copies and the floor) from `flash`.
    pub fn load(mut flash: F) -> Result<Self, ControlError> {
        const {
            assert!(F::SECTOR_SIZE == crate::layout::SECTOR_SIZE);
            assert!(crate::layout::PROGRAM_GRANULARITY.is_multiple_of(F::PROGRAM_GRANULARITY));
        }
        let records = Records::load(&mut flash)?;
        let floor = Floor::load(&mut flash)?;
        Ok(BootControl {
            flash,
            records,
            floor,
        })
    }

    /// The current record.
    #[must_use]
    pub fn record(&self) -> &BootRecord {
        &self.records.current
    }

    /// How many record copies are valid on flash (0 only on blank flash).
    #[must_use]
    pub fn valid_copies(&self) -> usize {
        self.records.valid_copies()
    }

    /// The anti-rollback floor.
    #[must_use]
    pub fn floor(&self) -> u32 {
        self.floor.value
    }

    /// The flash device.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash device back.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Writes `record` if it differs from the current one: one erase and two programs.
    fn persist(&mut self, record: &BootRecord) -> Result<(), ControlError> {
        if *record != self.records.current {
            self.records.write(&mut self.flash, record)?;
        }
        Ok(())
    }

    /// Brings the floor up to a committed bank's counter (repairs a commit cut short between
    /// its record write and its floor raise). Writes nothing when the floor is current.
    fn settle_floor(&mut self, bank: Bank) -> Result<(), ControlError> {
        let info = *self.records.current.bank(bank);
        if info.state == BankState::Good {
            self.floor.raise(&mut self.flash, info.security_counter)?;
        }
        Ok(())
    }

    // ---- dpuboot -------------------------------------------------------------------------

    /// Chooses the bank to boot and persists what the choice changed (a used trial try, an
    /// exhausted trial, a fallback, a consumed rollback request). A steady boot of the
    /// committed bank writes nothing.
    pub fn select(&mut self) -> Result<BootDecision, ControlError> {
        let mut next = self.records.current;
        let decision = plan_select(&mut next, self.floor.value);
        self.persist(&next)?;
        if let BootDecision::Boot {
            bank, trial: false, ..
        } = decision
        {
            self.settle_floor(bank)?;
        }
        Ok(decision)
    }

    /// dpuboot's verification of `bank` failed: mark it Bad and choose again (one write).
    pub fn reject(
        &mut self,
        bank: Bank,
        reason: FailureReason,
    ) -> Result<BootDecision, ControlError> {
        let mut next = self.records.current;
        let info = next.bank_mut(bank);
        info.state = BankState::Bad;
        info.reason = reason;
        info.stage = Stage::Loader;
        info.tries_left = 0;
        let decision = plan_select(&mut next, self.floor.value);
        self.persist(&next)?;
        Ok(decision)
    }

    /// Shift+R confirmed: roll back from the preferred bank to the other one (one write), or
    /// refuse without writing.
    pub fn manual_rollback(&mut self) -> Result<RollbackOutcome, ControlError> {
        let mut next = self.records.current;
        let outcome = plan_rollback(
            &mut next,
            self.floor.value,
            FailureReason::Manual,
            BootEvent::ManualRollback,
        );
        self.persist(&next)?;
        Ok(outcome)
    }

    /// Verifies the image in `bank` in place, with the recorded length and the current floor.
    pub fn verify_bank(
        &mut self,
        bank: Bank,
        trusted_keys: &[TrustedKey],
    ) -> Result<VerifiedImage, VerifyError> {
        let len = self.records.current.bank(bank).image_len;
        let floor = self.floor.value;
        verify_in_flash(&mut self.flash, bank_offset(bank), len, trusted_keys, floor)
    }

    // ---- kernel --------------------------------------------------------------------------

    /// Starts staging a new image into the bank that is not running. Allowed only when the
    /// running bank is committed (Good) and preferred. Marks the target Writing before any of
    /// its sectors is touched, so a cut leaves a bank nobody boots.
    pub fn stage_begin(&mut self, running: Bank) -> Result<StagingWriter, ControlError> {
        let record = &self.records.current;
        if record.active != running || record.bank(running).state != BankState::Good {
            return Err(ControlError::NotCommitted);
        }
        let target = running.other();
        let mut next = *record;
        *next.bank_mut(target) = BankInfo {
            state: BankState::Writing,
            ..BankInfo::EMPTY
        };
        self.persist(&next)?;
        Ok(StagingWriter {
            bank: target,
            written: 0,
            buffer: [0xFF; STAGING_CHUNK],
            buffered: 0,
        })
    }

    /// Appends `data` to the image being staged, erasing each sector before its first write.
    pub fn stage_write(
        &mut self,
        writer: &mut StagingWriter,
        data: &[u8],
    ) -> Result<(), ControlError> {
        let fits = u32::try_from(data.len())
            .ok()
            .and_then(|len| writer.len().checked_add(len))
            .is_some_and(|end| end <= BANK_SIZE);
        if !fits {
            return Err(ControlError::TooLarge);
        }
        let mut rest = data;
        while !rest.is_empty() {
            let take = (STAGING_CHUNK - writer.buffered).min(rest.len());
            writer.buffer[writer.buffered..writer.buffered + take].copy_from_slice(&rest[..take]);
            writer.buffered += take;
            rest = &rest[take..];
            if writer.buffered == STAGING_CHUNK {
                self.flush(writer)?;
            }
        }
        Ok(())
    }

    /// Programs the writer's buffer (padded with 0xFF to the program granularity).
    fn flush(&mut self, writer: &mut StagingWriter) -> Result<(), ControlError> {
        if writer.buffered == 0 {
            return Ok(());
        }
        let base = bank_offset(writer.bank);
        let at = base + writer.written;
        if writer.written.is_multiple_of(F::SECTOR_SIZE) {
            self.flash.erase(at)?;
        }
        let granularity = F::PROGRAM_GRANULARITY as usize;
        let padded = writer.buffered.div_ceil(granularity) * granularity;
        writer.buffer[writer.buffered..padded].fill(0xFF);
        self.flash.program(at, &writer.buffer[..padded])?;
        writer.written += writer.buffered as u32;
        writer.buffered = 0;
        writer.buffer.fill(0xFF);
        Ok(())
    }

    /// Finishes staging: verifies the image in flash exactly as dpuboot will, then activates it
    /// as a Trial with the configured tries and makes it preferred (one write). On a failed
    /// verification the bank is marked Bad with the reason (one write) and the error returned.
    pub fn stage_finish(
        &mut self,
        mut writer: StagingWriter,
        trusted_keys: &[TrustedKey],
    ) -> Result<VerifiedImage, ControlError> {
        let bank = writer.bank;
        if self.records.current.bank(bank).state != BankState::Writing {
            return Err(ControlError::NotStaging);
        }
        self.flush(&mut writer)?;
        let floor = self.floor.value;
        let verified = verify_in_flash(
            &mut self.flash,
            bank_offset(bank),
            writer.written,
            trusted_keys,
            floor,
        );
        let mut next = self.records.current;
        match verified {
            Ok(image) => {
                let tries = next.trial_tries;
                *next.bank_mut(bank) = BankInfo {
                    state: BankState::Trial,
                    tries_left: tries,
                    reason: FailureReason::None,
                    stage: Stage::Unknown,
                    version: image.version,
                    security_counter: image.security_counter,
                    image_len: image.total_len as u32,
                    digest: image.digest,
                };
                next.active = bank;
                self.persist(&next)?;
                Ok(image)
            }
            Err(VerifyError::Flash(error)) => Err(ControlError::Flash(error)),
            Err(error) => {
                let info = next.bank_mut(bank);
                info.state = BankState::Bad;
                info.reason = error.reason();
                info.stage = Stage::Staging;
                self.persist(&next)?;
                Err(ControlError::Verify(error))
            }
        }
    }

    /// Jumpstart: the running trial becomes Good, the previously committed bank Superseded,
    /// and the floor rises to the new image's counter. One record write, then at most one floor
    /// program. Committing a bank that is already Good is a no-op (writes nothing).
    pub fn commit(&mut self, running: Bank) -> Result<(), ControlError> {
        let record = &self.records.current;
        match record.bank(running).state {
            BankState::Good if record.active == running => return self.settle_floor(running),
            BankState::Trial if record.active == running => {}
            _ => return Err(ControlError::NotTrial),
        }
        let mut next = *record;
        let info = next.bank_mut(running);
        info.state = BankState::Good;
        info.tries_left = 0;
        info.reason = FailureReason::None;
        info.stage = Stage::Unknown;
        let other = next.bank_mut(running.other());
        if other.state == BankState::Good {
            other.state = BankState::Superseded;
        }
        // The record first: raising the floor before it could strand the old bank (still the
        // fallback) below the floor if power failed in between.
        self.persist(&next)?;
        self.settle_floor(running)
    }

    /// The running trial failed its health check at `stage`: mark it Bad and prefer the
    /// committed bank (one write). A committed bank cannot be marked bad: after jumpstart
    /// there is no automatic rollback.
    pub fn mark_bad(
        &mut self,
        running: Bank,
        reason: FailureReason,
        stage: Stage,
    ) -> Result<(), ControlError> {
        if self.records.current.bank(running).state != BankState::Trial {
            return Err(ControlError::NotTrial);
        }
        let mut next = self.records.current;
        let info = next.bank_mut(running);
        info.state = BankState::Bad;
        info.reason = reason;
        info.stage = stage;
        info.tries_left = 0;
        let _ = plan_fallback(&mut next, self.floor.value);
        self.persist(&next)
    }

    /// Asks dpuboot to roll back at the next boot (one write; none if already requested).
    pub fn request_rollback(&mut self) -> Result<(), ControlError> {
        let mut next = self.records.current;
        next.rollback_requested = true;
        self.persist(&next)
    }

    /// Sets the tries a newly activated trial gets (at least 1).
    pub fn set_trial_tries(&mut self, tries: u8) -> Result<(), ControlError> {
        let mut next = self.records.current;
        next.trial_tries = tries.max(1);
        self.persist(&next)
    }

    /// Sets dpuboot's Shift+R window in milliseconds (0 turns it off).
    pub fn set_rollback_window_ms(&mut self, window_ms: u16) -> Result<(), ControlError> {
        let mut next = self.records.current;
        next.rollback_window_ms = window_ms;
        self.persist(&next)
    }

    /// Sets how long a trial must stay healthy before the kernel commits it (0 = at the first
    /// healthy check; capped at [`crate::record::MAX_HEALTH_WINDOW_MS`]).
    pub fn set_health_window_ms(&mut self, window_ms: u32) -> Result<(), ControlError> {
        let mut next = self.records.current;
        next.health_window_ms = window_ms.min(crate::record::MAX_HEALTH_WINDOW_MS);
        self.persist(&next)
    }

    // ---- provisioning (xtask, factory) ----------------------------------------------------

    /// Writes `image` into `bank`, verifies it in flash and records it as the committed,
    /// preferred image; raises the floor to its counter. For building a fresh flash1 image.
    pub fn provision(
        &mut self,
        bank: Bank,
        image: &[u8],
        trusted_keys: &[TrustedKey],
    ) -> Result<VerifiedImage, ControlError> {
        let mut next = self.records.current;
        *next.bank_mut(bank) = BankInfo {
            state: BankState::Writing,
            ..BankInfo::EMPTY
        };
        self.persist(&next)?;
        let mut writer = StagingWriter {
            bank,
            written: 0,
            buffer: [0xFF; STAGING_CHUNK],
            buffered: 0,
        };
        self.stage_write(&mut writer, image)?;
        let verified = self.stage_finish(writer, trusted_keys)?;
        let mut next = self.records.current;
        let info = next.bank_mut(bank);
        info.state = BankState::Good;
        info.tries_left = 0;
        next.active = bank;
        self.persist(&next)?;
        self.settle_floor(bank)?;
        Ok(verified)
    }
}
