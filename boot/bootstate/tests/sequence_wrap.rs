//! F2 of the 2026 fuzz report: a record copy at the top of the sequence range must not win
//! forever; every state change after it has to survive a reboot.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use bootstate::layout::record_offset;
use bootstate::sim::NorSim;
use bootstate::store::Records;
use bootstate::{Bank, BankState, BootControl, BootDecision, BootRecord, FailureReason, Flash};
use common::*;

/// Writes `record` verbatim into copy `copy` and erases the other copy.
fn plant(flash: &mut NorSim, copy: usize, record: &BootRecord) {
    flash.erase(record_offset(copy)).unwrap();
    flash
        .program(record_offset(copy), &record.encode())
        .unwrap();
    flash.erase(record_offset(1 - copy)).unwrap();
}

/// Bank A committed, bank B a valid signed trial with one try left, at sequence `sequence`.
fn trial_with_one_try(sequence: u64) -> NorSim {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut record = *control.record();
    assert_eq!(record.active, Bank::B);
    assert_eq!(record.bank(Bank::B).state, BankState::Trial);
    record.bank_mut(Bank::B).tries_left = 1;
    record.sequence = sequence;
    let mut flash = control.into_flash();
    plant(&mut flash, 0, &record);
    flash
}

fn booted(decision: BootDecision) -> (Bank, bool) {
    match decision {
        BootDecision::Boot { bank, trial, .. } => (bank, trial),
        BootDecision::Recovery { .. } => panic!("unexpected recovery"),
    }
}

/// The report's reproducer: the trial hangs on every boot (no commit). Its one try is used on
/// the first boot, so the second boot must fall back to bank A, and stay there.
fn hanging_trial_rolls_back(sequence: u64) {
    let mut flash = trial_with_one_try(sequence);
    let mut control = boot(flash);
    assert_eq!(control.record().sequence, sequence);
    assert_eq!(booted(dpuboot(&mut control)), (Bank::B, true));
    assert_eq!(control.record().bank(Bank::B).tries_left, 0);
    flash = persisted(control);
    for boot_number in 2..=4 {
        let mut control = boot(flash);
        let (decision, count) = writes(&mut control, dpuboot);
        assert_eq!(
            booted(decision),
            (Bank::A, false),
            "boot {boot_number} from sequence {sequence}: the used try was lost"
        );
        let failed = control.record().bank(Bank::B);
        assert_eq!(
            (failed.state, failed.reason),
            (BankState::Bad, FailureReason::TriesExhausted)
        );
        // Only the fallback writes; later boots of the committed bank find it on flash.
        let expected = if boot_number == 2 { 3 } else { 0 };
        assert_eq!(
            count, expected,
            "boot {boot_number} from sequence {sequence} wrote {count} times"
        );
        flash = persisted(control);
    }
}

/// Checks that a fresh load of the flash shows the running state, and gives the flash back.
fn persisted(control: BootControl<NorSim>) -> NorSim {
    let running = *control.record();
    let mut flash = control.into_flash();
    let loaded = Records::load(&mut flash).unwrap().current;
    assert_eq!(loaded, running, "the running state is not what flash holds");
    flash
}

#[test]
fn trial_from_sequence_max_rolls_back() {
    hanging_trial_rolls_back(u64::MAX);
}

#[test]
fn trial_from_sequence_max_minus_one_rolls_back() {
    hanging_trial_rolls_back(u64::MAX - 1);
}

#[test]
fn trial_from_an_ordinary_sequence_rolls_back() {
    hanging_trial_rolls_back(1000);
}

#[test]
fn trial_from_sequence_max_in_copy_one_rolls_back() {
    let mut flash = trial_with_one_try(1);
    let mut record = Records::load(&mut flash).unwrap().current;
    record.sequence = u64::MAX;
    plant(&mut flash, 1, &record);
    let mut control = boot(flash);
    assert_eq!(booted(dpuboot(&mut control)), (Bank::B, true));
    let mut control = boot(control.into_flash());
    assert_eq!(booted(dpuboot(&mut control)), (Bank::A, false));
}

/// Many writes across the wrap: after each one a fresh load sees exactly what was written,
/// whichever copy the start sits in.
#[test]
fn every_write_across_the_wrap_persists() {
    for copy in [0, 1] {
        for start in [
            u64::MAX - 3,
            u64::MAX - 1,
            u64::MAX,
            0,
            1 << 63,
            (1 << 63) - 1,
        ] {
            let mut flash = NorSim::flash1();
            let mut record = BootRecord::BLANK;
            record.sequence = start;
            plant(&mut flash, copy, &record);
            let mut control = BootControl::load(flash).unwrap();
            for window in 1..=8u16 {
                control.set_rollback_window_ms(window * 100).unwrap();
                let running = *control.record();
                control = boot(control.into_flash());
                assert_eq!(
                    *control.record(),
                    running,
                    "write {window} from sequence {start} in copy {copy} was lost"
                );
                assert_eq!(control.valid_copies(), 2);
            }
        }
    }
}
