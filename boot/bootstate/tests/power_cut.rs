//! Power-cut safety: every flash operation of every transition is interrupted by a clean cut,
//! a torn program and an interrupted erase; after each, a reboot must find consistent state
//! and a bootable, verifying bank.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use bootstate::sim::{Fault, NorSim};
use bootstate::{Bank, BankState, BootControl, BootDecision, BootRecord, FailureReason, Stage};

use common::*;

type Operation = fn(&mut BootControl<NorSim>);

/// The record (sequence number cleared) and the floor, for comparing states.
fn state_of(flash: &NorSim) -> (BootRecord, u32) {
    let control = boot(flash.clone());
    let mut record = *control.record();
    record.sequence = 0;
    (record, control.floor())
}

fn faults(index: u64) -> Vec<Fault> {
    vec![
        Fault::PowerCut,
        Fault::TornProgram(index * 3 + 1),
        Fault::TornProgram(index * 7 + 2),
        Fault::TornPrefix(4),
        Fault::TornPrefix(100),
        Fault::InterruptedErase(index * 5 + 3),
        Fault::InterruptedErase(index * 11 + 4),
    ]
}

/// Checks the state a reboot finds after a fault.
/// `rotten` names a bank whose contents are known to be corrupt (dpuboot may reject it).
fn check_reboot(
    name: &str,
    at: u64,
    fault: Fault,
    flash: NorSim,
    allowed: &[(BootRecord, u32)],
    rotten: Option<Bank>,
) {
    let context = format!("{name}: {fault:?} before operation {at}");
    assert!(
        allowed.contains(&state_of(&flash)),
        "{context}: state {:#?} is not one a clean cut gives",
        state_of(&flash)
    );
    let mut control = boot(flash);
    assert!(
        control.valid_copies() >= 1,
        "{context}: both record copies invalid"
    );
    let record = *control.record();
    let trials = record
        .banks
        .iter()
        .filter(|bank| bank.state == BankState::Trial)
        .count();
    assert!(trials <= 1, "{context}: two trials");
    if let Some(trial) = [Bank::A, Bank::B]
        .into_iter()
        .find(|&b| record.bank(b).state == BankState::Trial)
    {
        // A trial always has a committed bank to fall back to, above the floor.
        let fallback = record.bank(trial.other());
        assert!(
            matches!(fallback.state, BankState::Good | BankState::Superseded)
                && fallback.security_counter >= control.floor(),
            "{context}: trial without a usable fallback: {fallback:?}, floor {}",
            control.floor()
        );
    }
    let mut decision = control.select().unwrap();
    loop {
        match decision {
            BootDecision::Boot {
                bank,
                digest,
                trial,
                ..
            } => match control.verify_bank(bank, &keys()) {
                Ok(verified) => {
                    assert_eq!(
                        verified.digest, digest,
                        "{context}: digest differs from the record"
                    );
                    if !trial {
                        // A committed boot settles the floor at the committed image's counter.
                        assert!(
                            control.floor() >= verified.security_counter,
                            "{context}: floor lags"
                        );
                    }
                    return;
                }
                Err(error) => {
                    assert_eq!(
                        Some(bank),
                        rotten,
                        "{context}: selected bank {bank:?} fails: {error:?}"
                    );
                    decision = control.reject(bank, error.reason()).unwrap();
                }
            },
            BootDecision::Recovery { banks } => panic!("{context}: recovery {banks:?}"),
        }
    }
}

/// Runs `operation` on `pre` with every fault before every flash operation it performs.
fn sweep(name: &str, pre: &NorSim, operation: Operation) -> u64 {
    sweep_with(name, pre, operation, None)
}

/// [`sweep`], with a bank known to be corrupt.
fn sweep_with(name: &str, pre: &NorSim, operation: Operation, rotten: Option<Bank>) -> u64 {
    let mut clean = boot(pre.clone());
    let before = clean.flash_mut().operations();
    operation(&mut clean);
    let total = clean.flash_mut().operations() - before;
    assert!(total > 0, "{name}: the operation wrote nothing");

    // States reachable by clean cuts between operations: the atomic steps of the transition.
    let mut allowed = vec![state_of(pre), state_of(clean.flash_mut())];
    for at in 0..total {
        let mut control = boot(pre.clone());
        control.flash_mut().power_cut_before(at);
        operation(&mut control);
        let state = state_of(control.flash_mut());
        if !allowed.contains(&state) {
            allowed.push(state);
        }
    }

    let mut runs = 0;
    for at in 0..total {
        for fault in faults(at) {
            let mut control = boot(pre.clone());
            control.flash_mut().arm(at, fault);
            operation(&mut control);
            assert!(
                !control.flash_mut().powered(),
                "{name}: fault at {at} never triggered"
            );
            check_reboot(name, at, fault, control.into_flash(), &allowed, rotten);
            runs += 1;
        }
    }
    println!(
        "{name}: {total} flash operations, {runs} faulted runs, {} distinct states",
        allowed.len()
    );
    runs
}

fn stage_update(control: &mut BootControl<NorSim>) {
    let image = image(2, 2, 3000);
    let Ok(mut writer) = control.stage_begin(Bank::A) else {
        return;
    };
    for chunk in image.chunks(700) {
        if control.stage_write(&mut writer, chunk).is_err() {
            return;
        }
    }
    let _ = control.stage_finish(writer, &keys());
}

fn select(control: &mut BootControl<NorSim>) {
    let _ = control.select();
}

/// Flash after staging image 2 (counter `counter`) into bank B from a committed bank A.
fn staged(counter: u32, tries: u8) -> NorSim {
    let mut control = boot(provisioned(1));
    control.set_trial_tries(tries).unwrap();
    stage(&mut control, Bank::A, &image(2, counter, 3000));
    control.into_flash()
}

/// Flash running the trial in bank B (one try used).
fn trial_running(counter: u32) -> NorSim {
    let mut control = boot(staged(counter, 3));
    dpuboot(&mut control);
    control.into_flash()
}

/// Flash with bank B committed and bank A superseded at the same counter.
fn committed() -> NorSim {
    let mut control = boot(trial_running(1));
    control.commit(Bank::B).unwrap();
    control.into_flash()
}

#[test]
fn staging_and_activation() {
    sweep("staging + activation", &provisioned(1), stage_update);
}

#[test]
fn restaging_after_an_interrupted_staging_succeeds() {
    let pre = provisioned(1);
    // Cut points inside the staging, however many operations it takes.
    let mut clean = boot(pre.clone());
    let before = clean.flash_mut().operations();
    stage_update(&mut clean);
    let total = clean.flash_mut().operations() - before;
    assert!(total > 4, "staging takes {total} flash operations");
    for at in [0, 2, total / 2, total - 2, total - 1] {
        let mut control = boot(pre.clone());
        control.flash_mut().power_cut_before(at);
        stage_update(&mut control);
        let mut control = boot(control.into_flash());
        stage(&mut control, Bank::A, &image(2, 2, 3000));
        assert_eq!(control.record().bank(Bank::B).state, BankState::Trial);
        assert_eq!(control.record().active, Bank::B);
    }
}

#[test]
fn try_counting() {
    sweep("try counting", &staged(2, 3), select);
}

#[test]
fn exhausted_trial() {
    let mut control = boot(staged(2, 1));
    dpuboot(&mut control);
    sweep("exhausted trial falls back", &control.into_flash(), select);
}

#[test]
fn commit() {
    sweep("commit (record + floor)", &trial_running(2), |control| {
        let _ = control.commit(Bank::B);
    });
}

#[test]
fn health_failure() {
    sweep("mark_bad", &trial_running(2), |control| {
        let _ = control.mark_bad(Bank::B, FailureReason::HealthCheck, Stage::Health);
    });
}

#[test]
fn manual_rollback_of_a_trial() {
    sweep("manual rollback (trial)", &trial_running(2), |control| {
        let _ = control.manual_rollback();
    });
}

#[test]
fn manual_rollback_of_a_committed_bank() {
    sweep("manual rollback (committed)", &committed(), |control| {
        let _ = control.manual_rollback();
    });
}

#[test]
fn kernel_rollback_request_and_its_consumption() {
    sweep("rollback request", &committed(), |control| {
        let _ = control.request_rollback();
    });
    let mut control = boot(committed());
    control.request_rollback().unwrap();
    sweep("rollback request consumed", &control.into_flash(), select);
}

#[test]
fn verification_failure_falls_back() {
    // Bank B is committed but rots; dpuboot must reject it and boot the superseded bank A.
    let mut contents = committed().to_image();
    contents[bootstate::layout::BANK_B_OFFSET as usize + 0x1100] ^= 1;
    let pre = NorSim::from_image(&contents).unwrap();
    let operation: Operation = |control| {
        let _ = dpuboot_fallible(control);
    };
    sweep_with(
        "verification failure + reject",
        &pre,
        operation,
        Some(Bank::B),
    );
}

/// dpuboot's loop that stops at the first flash error instead of panicking.
fn dpuboot_fallible(control: &mut BootControl<NorSim>) -> Result<(), bootstate::ControlError> {
    let mut decision = control.select()?;
    while let BootDecision::Boot { bank, .. } = decision {
        match control.verify_bank(bank, &keys()) {
            Ok(_) => return Ok(()),
            Err(error) => decision = control.reject(bank, error.reason())?,
        }
    }
    Ok(())
}
