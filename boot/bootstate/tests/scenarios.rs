//! Boot scenarios on the NOR simulator: outcomes, reasons, and flash writes per boot.

mod common;

use bootstate::layout::BANK_A_OFFSET;
use bootstate::{
    Bank, BankState, BootControl, BootDecision, BootEvent, ControlError, FailureReason,
    RollbackOutcome, Stage, VerifyError,
};
use common::*;

fn booted(decision: BootDecision) -> (Bank, bool) {
    match decision {
        BootDecision::Boot { bank, trial, .. } => (bank, trial),
        BootDecision::Recovery { banks } => panic!("unexpected recovery: {banks:?}"),
    }
}

#[test]
fn blank_flash_is_recovery_with_empty_banks() {
    let mut control = BootControl::load(bootstate::sim::NorSim::flash1()).unwrap();
    assert_eq!(control.valid_copies(), 0);
    assert_eq!(control.record().active, Bank::A);
    let (decision, count) = writes(&mut control, |c| c.select().unwrap());
    assert_eq!(
        decision,
        BootDecision::Recovery {
            banks: [
                (BankState::Empty, FailureReason::None),
                (BankState::Empty, FailureReason::None)
            ]
        }
    );
    // Recording the recovery is the one write; the next boot writes nothing.
    assert_eq!(count, 3);
    let mut control = boot(control.into_flash());
    assert_eq!(writes(&mut control, |c| c.select().unwrap()).1, 0);
}

#[test]
fn steady_good_boot_writes_nothing() {
    let mut flash = provisioned(1);
    for _ in 0..3 {
        let mut control = boot(flash);
        let (decision, count) = writes(&mut control, dpuboot);
        assert_eq!(booted(decision), (Bank::A, false));
        assert_eq!(count, 0, "a steady good boot must not write flash");
        flash = control.into_flash();
    }
}

#[test]
fn write_counts_per_scenario() {
    let mut table: Vec<(&str, u64)> = Vec::new();
    let mut control = boot(provisioned(1));
    table.push((
        "steady good boot (select + verify)",
        writes(&mut control, dpuboot).1,
    ));

    let update = image(2, 2, 5000);
    let ((), count) = writes(&mut control, |c| stage(c, Bank::A, &update));
    table.push((
        "stage 5 KiB image + activate (record, erase, data, record)",
        count,
    ));

    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::B, true));
    table.push(("trial boot (try counted before jump)", count));
    let ((), count) = writes(&mut control, |c| c.commit(Bank::B).unwrap());
    table.push(("commit / jumpstart (record + floor slot)", count));
    assert_eq!(control.floor(), 2);
    assert_eq!(control.record().bank(Bank::A).state, BankState::Superseded);

    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::B, false));
    table.push(("steady good boot after commit", count));

    // Health failure: one write by the kernel, none by the next boot.
    let ((), count) = writes(&mut control, |c| stage(c, Bank::B, &image(3, 2, 4000)));
    table.push(("stage 4 KiB image + activate", count));
    let mut control = boot(control.into_flash());
    writes(&mut control, dpuboot);
    let ((), count) = writes(&mut control, |c| {
        c.mark_bad(Bank::A, FailureReason::HealthCheck, Stage::Health)
            .unwrap()
    });
    table.push(("trial health check failed (mark_bad)", count));
    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::B, false));
    table.push(("boot after failed health check (falls back)", count));

    // Kernel rollback request: refused here (bank A is Bad), consumed once.
    let ((), count) = writes(&mut control, |c| c.request_rollback().unwrap());
    table.push(("kernel rollback request", count));
    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::B, false));
    assert_eq!(
        control.record().last_outcome.event,
        BootEvent::RollbackRefused
    );
    table.push(("boot consuming a rollback request (refused)", count));
    let mut control = boot(control.into_flash());
    table.push(("next boot", writes(&mut control, dpuboot).1));

    println!("\nflash writes (erase + program operations) per step:");
    for (step, count) in &table {
        println!("  {count:>3}  {step}");
    }
    // Staging: 2 record writes (3 each) + 1 sector erase + one program per 2 KiB (one CFI
    // write-to-buffer; it was one per 256 bytes: 44 and 40).
    let expected = [0, 12, 3, 4, 0, 12, 3, 0, 3, 3, 0];
    assert_eq!(
        table.iter().map(|(_, count)| *count).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn trial_that_fails_health_is_rolled_back_with_reason() {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    assert_eq!(booted(dpuboot(&mut control)), (Bank::B, true));
    control
        .mark_bad(Bank::B, FailureReason::HealthCheck, Stage::Services)
        .unwrap();
    let mut control = boot(control.into_flash());
    assert_eq!(booted(dpuboot(&mut control)), (Bank::A, false));
    let record = control.record();
    let failed = record.bank(Bank::B);
    assert_eq!(
        (failed.state, failed.reason, failed.stage),
        (BankState::Bad, FailureReason::HealthCheck, Stage::Services)
    );
    assert_eq!(record.last_outcome.event, BootEvent::Fallback);
    assert_eq!(record.last_outcome.reason, FailureReason::HealthCheck);
    // A committed bank cannot be marked bad after jumpstart.
    assert_eq!(
        control.mark_bad(Bank::A, FailureReason::HealthCheck, Stage::Health),
        Err(ControlError::NotTrial)
    );
}

#[test]
fn trial_that_hangs_uses_its_tries_then_falls_back() {
    let mut control = boot(provisioned(1));
    control.set_trial_tries(2).unwrap();
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut flash = control.into_flash();
    for tries_left in [1, 0] {
        let mut control = boot(flash);
        assert_eq!(booted(dpuboot(&mut control)), (Bank::B, true));
        assert_eq!(control.record().bank(Bank::B).tries_left, tries_left);
        // The kernel hangs: no commit, the watchdog resets.
        flash = control.into_flash();
    }
    let mut control = boot(flash);
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::A, false));
    assert_eq!(count, 3);
    let failed = control.record().bank(Bank::B);
    assert_eq!(
        (failed.state, failed.reason),
        (BankState::Bad, FailureReason::TriesExhausted)
    );
    let mut control = boot(control.into_flash());
    assert_eq!(writes(&mut control, dpuboot).1, 0);
}

#[test]
fn both_banks_bad_is_recovery_with_both_reasons_and_no_loop() {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    dpuboot(&mut control);
    control
        .mark_bad(Bank::B, FailureReason::HealthCheck, Stage::Platform)
        .unwrap();
    // Bank A rots: one payload bit flips.
    let mut contents = control.into_flash().to_image();
    contents[BANK_A_OFFSET as usize + 0x1000] ^= 0x10;
    let mut control = boot(bootstate::sim::NorSim::from_image(&contents).unwrap());
    let decision = dpuboot(&mut control);
    assert_eq!(
        decision,
        BootDecision::Recovery {
            banks: [
                (BankState::Bad, FailureReason::Hash),
                (BankState::Bad, FailureReason::HealthCheck)
            ]
        }
    );
    assert_eq!(control.record().last_outcome.event, BootEvent::Recovery);
    for _ in 0..3 {
        let mut control = boot(control.flash_mut().clone());
        let (again, count) = writes(&mut control, dpuboot);
        assert_eq!(again, decision);
        assert_eq!(count, 0, "recovery must not rewrite flash on every boot");
    }
}

#[test]
fn manual_rollback_from_trial_and_from_committed() {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    // Shift+R during a trial: the trial becomes Bad (Manual), A boots.
    let (outcome, count) = writes(&mut control, |c| c.manual_rollback().unwrap());
    assert_eq!(
        outcome,
        RollbackOutcome::RolledBack {
            from: Bank::B,
            to: Bank::A
        }
    );
    assert_eq!(count, 3);
    assert_eq!(control.record().bank(Bank::B).reason, FailureReason::Manual);
    assert_eq!(booted(dpuboot(&mut control)), (Bank::A, false));

    // Commit a new image with the same counter, then roll back to the superseded one.
    stage(&mut control, Bank::A, &image(3, 1, 3000));
    let mut control = boot(control.into_flash());
    dpuboot(&mut control);
    control.commit(Bank::B).unwrap();
    assert_eq!(control.record().bank(Bank::A).state, BankState::Superseded);
    let outcome = control.manual_rollback().unwrap();
    assert_eq!(
        outcome,
        RollbackOutcome::RolledBack {
            from: Bank::B,
            to: Bank::A
        }
    );
    assert_eq!(control.record().bank(Bank::B).state, BankState::Superseded);
    assert_eq!(
        control.record().last_outcome.event,
        BootEvent::ManualRollback
    );
    assert_eq!(booted(dpuboot(&mut control)), (Bank::A, false));
}

#[test]
fn rollback_below_floor_is_refused_without_writing() {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 5, 3000));
    let mut control = boot(control.into_flash());
    dpuboot(&mut control);
    control.commit(Bank::B).unwrap();
    assert_eq!(control.floor(), 5);
    let (outcome, count) = writes(&mut control, |c| c.manual_rollback().unwrap());
    assert_eq!(
        outcome,
        RollbackOutcome::Refused {
            target: Bank::A,
            state: BankState::Superseded,
            below_floor: true
        }
    );
    assert_eq!(count, 0);
}

#[test]
fn kernel_rollback_request_is_consumed_exactly_once() {
    let mut control = boot(provisioned(1));
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    dpuboot(&mut control);
    control.commit(Bank::B).unwrap();
    control.request_rollback().unwrap();
    // Asking twice costs nothing more.
    assert_eq!(writes(&mut control, |c| c.request_rollback().unwrap()).1, 0);
    let mut control = boot(control.into_flash());
    assert_eq!(booted(dpuboot(&mut control)), (Bank::A, false));
    assert!(!control.record().rollback_requested);
    assert_eq!(
        control.record().last_outcome.event,
        BootEvent::RequestedRollback
    );
    assert_eq!(control.record().bank(Bank::B).state, BankState::Superseded);
    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!((booted(decision), count), ((Bank::A, false), 0));
}

#[test]
fn staging_refuses_bad_images_and_keeps_booting() {
    let mut control = boot(provisioned(3));
    let cases = [
        (
            image_signed_by(&stranger_key(), 2, 3, 3000),
            VerifyError::UnknownKey,
            FailureReason::UnknownKey,
        ),
        (
            image(2, 2, 3000),
            VerifyError::SecurityCounter { image: 2, floor: 3 },
            FailureReason::SecurityCounter,
        ),
    ];
    for (bytes, error, reason) in cases {
        let mut writer = control.stage_begin(Bank::A).unwrap();
        control.stage_write(&mut writer, &bytes).unwrap();
        assert_eq!(
            control.stage_finish(writer, &keys()).err(),
            Some(ControlError::Verify(error))
        );
        let staged = control.record().bank(Bank::B);
        assert_eq!(
            (staged.state, staged.reason, staged.stage),
            (BankState::Bad, reason, Stage::Staging)
        );
        let mut rebooted = boot(control.flash_mut().clone());
        assert_eq!(booted(dpuboot(&mut rebooted)), (Bank::A, false));
    }
    // A truncated image.
    let full = image(2, 3, 3000);
    let mut writer = control.stage_begin(Bank::A).unwrap();
    control
        .stage_write(&mut writer, &full[..full.len() - 10])
        .unwrap();
    assert_eq!(
        control.stage_finish(writer, &keys()).err(),
        Some(ControlError::Verify(VerifyError::Length))
    );
}

#[test]
fn staging_needs_a_committed_running_bank() {
    let mut control = boot(provisioned(1));
    assert_eq!(
        control.stage_begin(Bank::B).err(),
        Some(ControlError::NotCommitted)
    );
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    dpuboot(&mut control);
    // Running a trial: no staging until it is committed.
    assert_eq!(
        control.stage_begin(Bank::B).err(),
        Some(ControlError::NotCommitted)
    );
    assert_eq!(control.commit(Bank::A), Err(ControlError::NotTrial));
}

/// An update other DPUs failed: the image staged here is withdrawn before it boots. The next
/// boot runs the committed bank as if nothing was staged, in one record write; a second
/// unstage finds nothing; a trial already running cannot be unstaged.
#[test]
fn unstaging_withdraws_a_staged_trial_before_it_boots() {
    let mut control = boot(provisioned(1));
    assert_eq!(
        control.unstage(Bank::A).err(),
        Some(ControlError::NothingStaged)
    );
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    assert_eq!(control.record().active, Bank::B);
    let (withdrawn, count) = writes(&mut control, |c| c.unstage(Bank::A).unwrap());
    assert_eq!(
        (withdrawn.state, withdrawn.version.major),
        (BankState::Trial, 2)
    );
    assert_eq!(count, 3, "one record write");
    let staged = control.record().bank(Bank::B);
    assert_eq!(
        (staged.state, staged.reason, control.record().active),
        (BankState::Bad, FailureReason::RollbackRequested, Bank::A)
    );
    assert_eq!(
        control.unstage(Bank::A).err(),
        Some(ControlError::NothingStaged)
    );
    let mut control = boot(control.into_flash());
    let (decision, count) = writes(&mut control, dpuboot);
    assert_eq!(booted(decision), (Bank::A, false));
    assert_eq!(
        count, 0,
        "the next boot runs bank A as before and writes nothing"
    );

    // Staged again and booted: a running trial is not "staged", and it is not committed.
    stage(&mut control, Bank::A, &image(2, 1, 3000));
    let mut control = boot(control.into_flash());
    assert_eq!(booted(dpuboot(&mut control)), (Bank::B, true));
    assert_eq!(
        control.unstage(Bank::B).err(),
        Some(ControlError::NotCommitted)
    );
}
