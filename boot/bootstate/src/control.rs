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
//! The same staging in steps of one flash operation each, for a caller that must not stall
//! (the kernel's poll loop): [`StagingWriter::accept`] (no flash access),
//! [`BootControl::stage_step`] (one erase or one program), then
//! [`BootControl::stage_verify_begin`] / [`BootControl::stage_verify_step`] (a bounded slice of
//! the hash) / [`BootControl::stage_signature_step`] (a bounded step of the Ed25519 check) /
//! [`BootControl::stage_activate`] (what is left of the signature, floor, the record write).
//! `stage_write` and `stage_finish` are these steps run to the end.

use crate::flash::{Flash, FlashError};
use crate::image::{
    FlashVerifier, SignatureVerifier, TrustedKey, VerifiedImage, VerifyError, verify_in_flash,
};
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
    /// No image waits as the next boot's trial (nothing to unstage).
    NothingStaged,
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
            ControlError::NothingStaged => {
                f.write_str("no image is staged as the next boot's trial")
            }
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
    /// Bytes of the bank erased so far (whole sectors from its start).
    erased: u32,
    /// The erase of the sector at `erased` was started and has not been seen to end.
    erasing: bool,
    buffer: [u8; STAGING_CHUNK],
    buffered: usize,
}

/// Bytes programmed per flash operation while staging: one CFI write-to-buffer (QEMU virt's
/// buffer holds 4 KiB; 4 KiB took 1.6 ms on average under QEMU TCG, 2 KiB keeps one program
/// under the kernel loop's 1 ms pass budget). The sector size is a multiple of it.
pub const STAGING_CHUNK: usize = 2048;

const _: () = assert!(crate::layout::SECTOR_SIZE.is_multiple_of(STAGING_CHUNK as u32));

/// What one [`BootControl::stage_step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageStep {
    /// Nothing to do: the buffer is not full (and not the last).
    Idle,
    /// Started erasing the sector the next program starts, or it is still being erased.
    Erasing,
    /// The sector the next program starts is erased.
    Erased,
    /// Programmed this many image bytes.
    Programmed(u32),
}

/// A staged image whose verification is under way ([`BootControl::stage_verify_begin`]).
#[derive(Debug, Clone)]
pub struct StagedImage {
    bank: Bank,
    verifier: FlashVerifier,
    /// The signature check, once the hash is done and digest and key are checked.
    signature: Option<SignatureVerifier>,
}

/// A staged image that passed verification, not yet recorded ([`BootControl::stage_check`]).
#[derive(Debug, Clone)]
pub struct CheckedImage {
    bank: Bank,
    image: VerifiedImage,
}

impl CheckedImage {
    /// What the verification established.
    #[must_use]
    pub fn image(&self) -> &VerifiedImage {
        &self.image
    }
}

impl StagedImage {
    /// The bank staged.
    #[must_use]
    pub fn bank(&self) -> Bank {
        self.bank
    }

    /// Bytes hashed so far, and in all.
    #[must_use]
    pub fn hash_progress(&self) -> (u32, u32) {
        (self.verifier.hashed(), self.verifier.to_hash())
    }

    /// Steps of the Ed25519 check taken so far ([`BootControl::stage_signature_step`]).
    #[must_use]
    pub fn signature_steps(&self) -> usize {
        self.signature.as_ref().map_or(0, SignatureVerifier::steps)
    }
}

impl StagingWriter {
    fn new(bank: Bank) -> Self {
        StagingWriter {
            bank,
            written: 0,
            erased: 0,
            erasing: false,
            buffer: [0xFF; STAGING_CHUNK],
            buffered: 0,
        }
    }

    /// Copies as much of `data` as the buffer has room for (none once it is full, until
    /// [`BootControl::stage_step`] programs it); returns the bytes taken. No flash access.
    /// Never takes the image past the bank's size.
    pub fn accept(&mut self, data: &[u8]) -> usize {
        let left_in_bank = BANK_SIZE.saturating_sub(self.len()) as usize;
        let take = (STAGING_CHUNK - self.buffered)
            .min(data.len())
            .min(left_in_bank);
        self.buffer[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
        self.buffered += take;
        take
    }

    /// Bytes waiting in the buffer for their program.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Bytes programmed into the bank.
    #[must_use]
    pub fn written(&self) -> u32 {
        self.written
    }

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
        Ok(StagingWriter::new(target))
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
            let taken = writer.accept(rest);
            rest = &rest[taken..];
            while self.stage_step(writer, false)? != StageStep::Idle {}
        }
        Ok(())
    }

    /// One flash operation of staging: starts erasing the sector the buffer's program starts
    /// (if not yet erased) or looks whether that erase ended, else programs the buffer once it
    /// is full, or, with `last`, whatever it holds (padded with 0xFF). [`StageStep::Idle`] when
    /// there is nothing to do.
    pub fn stage_step(
        &mut self,
        writer: &mut StagingWriter,
        last: bool,
    ) -> Result<StageStep, ControlError> {
        if writer.buffered == 0 || (writer.buffered < STAGING_CHUNK && !last) {
            return Ok(StageStep::Idle);
        }
        let base = bank_offset(writer.bank);
        if writer.erasing {
            if self.flash.erase_busy()? {
                return Ok(StageStep::Erasing);
            }
            writer.erasing = false;
            writer.erased += F::SECTOR_SIZE;
            return Ok(StageStep::Erased);
        }
        if writer.written >= writer.erased {
            self.flash.erase_begin(base + writer.erased)?;
            writer.erasing = true;
            return Ok(StageStep::Erasing);
        }
        let bytes = writer.buffered as u32;
        self.flush(writer)?;
        Ok(StageStep::Programmed(bytes))
    }

    /// Programs the writer's buffer (padded with 0xFF to the program granularity); its sector
    /// is erased.
    fn flush(&mut self, writer: &mut StagingWriter) -> Result<(), ControlError> {
        if writer.buffered == 0 {
            return Ok(());
        }
        let base = bank_offset(writer.bank);
        let at = base + writer.written;
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
        while self.stage_step(&mut writer, true)? != StageStep::Idle {}
        let mut staged = self.stage_verify_begin(writer)?;
        while !self.stage_verify_step(&mut staged, u32::MAX)? {}
        self.stage_activate(staged, trusted_keys)
    }

    /// Every byte is programmed (the writer's buffer is empty: [`BootControl::stage_step`]
    /// with `last` until [`StageStep::Idle`]): checks the image's structure and starts its
    /// verification. A malformed image marks the bank Bad (one write).
    pub fn stage_verify_begin(
        &mut self,
        writer: StagingWriter,
    ) -> Result<StagedImage, ControlError> {
        let bank = writer.bank;
        if self.records.current.bank(bank).state != BankState::Writing || writer.buffered != 0 {
            return Err(ControlError::NotStaging);
        }
        match FlashVerifier::begin(&mut self.flash, bank_offset(bank), writer.written) {
            Ok(verifier) => Ok(StagedImage {
                bank,
                verifier,
                signature: None,
            }),
            Err(error) => Err(self.refuse_staged(bank, error)),
        }
    }

    /// Hashes up to `budget` more bytes of the staged image; true once all are hashed.
    pub fn stage_verify_step(
        &mut self,
        staged: &mut StagedImage,
        budget: u32,
    ) -> Result<bool, ControlError> {
        staged
            .verifier
            .step(&mut self.flash, budget)
            .map_err(|error| match error {
                VerifyError::Flash(error) => ControlError::Flash(error),
                other => ControlError::Verify(other),
            })
    }

    /// One bounded step of the signature check of a fully hashed image: the first checks the
    /// digest and the key, each later one does a step of the Ed25519 check; true once the
    /// signature is valid. A refusal marks the
    /// bank Bad with the reason (one write).
    pub fn stage_signature_step(
        &mut self,
        staged: &mut StagedImage,
        trusted_keys: &[TrustedKey],
    ) -> Result<bool, ControlError> {
        let bank = staged.bank;
        if self.records.current.bank(bank).state != BankState::Writing {
            return Err(ControlError::NotStaging);
        }
        let step = match &mut staged.signature {
            Some(signature) => signature.step(),
            None => staged.verifier.signature(trusted_keys).map(|signature| {
                staged.signature = Some(signature);
                false
            }),
        };
        step.map_err(|error| self.refuse_staged(bank, error))
    }

    /// Ends the verification (digest, key, the Ed25519 check or what is left of it, floor) and
    /// activates the image as a Trial (one write), or marks the bank Bad with the reason (one
    /// write): [`BootControl::stage_check`] then [`BootControl::stage_record`].
    pub fn stage_activate(
        &mut self,
        staged: StagedImage,
        trusted_keys: &[TrustedKey],
    ) -> Result<VerifiedImage, ControlError> {
        let checked = self.stage_check(staged, trusted_keys)?;
        self.stage_record(checked)
    }

    /// Ends the verification (digest, key, the Ed25519 check or what is left of it after
    /// [`BootControl::stage_signature_step`], floor) without writing, unless it fails: then the
    /// bank is marked Bad with the reason (one write).
    pub fn stage_check(
        &mut self,
        staged: StagedImage,
        trusted_keys: &[TrustedKey],
    ) -> Result<CheckedImage, ControlError> {
        let bank = staged.bank;
        if self.records.current.bank(bank).state != BankState::Writing {
            return Err(ControlError::NotStaging);
        }
        let floor = self.floor.value;
        let verdict = match staged.signature {
            Some(signature) => signature.finish(floor),
            None => staged.verifier.finish(&mut self.flash, trusted_keys, floor),
        };
        match verdict {
            Ok(image) => Ok(CheckedImage { bank, image }),
            Err(error) => Err(self.refuse_staged(bank, error)),
        }
    }

    /// Activates a checked image as the preferred Trial (one record write).
    pub fn stage_record(&mut self, checked: CheckedImage) -> Result<VerifiedImage, ControlError> {
        if self.records.current.bank(checked.bank).state != BankState::Writing {
            return Err(ControlError::NotStaging);
        }
        self.activate(checked.bank, checked.image)
    }

    /// Records a staged image that passed verification as the preferred Trial (one write).
    fn activate(
        &mut self,
        bank: Bank,
        image: VerifiedImage,
    ) -> Result<VerifiedImage, ControlError> {
        let mut next = self.records.current;
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

    /// A staged image failed verification: marks the bank Bad with the reason (one write)
    /// and returns the error to report. A flash read error marks nothing (the image may be
    /// fine; the flash is not).
    fn refuse_staged(&mut self, bank: Bank, error: VerifyError) -> ControlError {
        if let VerifyError::Flash(error) = error {
            return ControlError::Flash(error);
        }
        let mut next = self.records.current;
        let info = next.bank_mut(bank);
        info.state = BankState::Bad;
        info.reason = error.reason();
        info.stage = Stage::Staging;
        match self.persist(&next) {
            Ok(()) => ControlError::Verify(error),
            Err(flash) => flash,
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

    /// Withdraws an image staged as the next boot's trial before it ever booted (the other
    /// DPUs of an update failed): the running committed bank is preferred again, and the
    /// staged bank is marked Bad for "rollback requested", exactly as dpuboot marks a staged
    /// trial when it consumes a rollback request. That reason's code is one every dpuboot
    /// already decodes (dpuboot is not updated with the banks). One write; the withdrawn
    /// bank's information as it was.
    pub fn unstage(&mut self, running: Bank) -> Result<BankInfo, ControlError> {
        let record = &self.records.current;
        let staged = running.other();
        if record.bank(running).state != BankState::Good {
            return Err(ControlError::NotCommitted);
        }
        if record.active != staged || record.bank(staged).state != BankState::Trial {
            return Err(ControlError::NothingStaged);
        }
        let withdrawn = *record.bank(staged);
        let mut next = *record;
        next.active = running;
        let info = next.bank_mut(staged);
        info.state = BankState::Bad;
        info.reason = FailureReason::RollbackRequested;
        info.stage = Stage::Staging;
        info.tries_left = 0;
        self.persist(&next)?;
        Ok(withdrawn)
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
        let mut writer = StagingWriter::new(bank);
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
