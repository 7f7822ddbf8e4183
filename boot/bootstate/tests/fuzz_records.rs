//! Property test (fuzz harness) of the boot-state records, their store and `BootControl`.
//!
//! Starts from a real state (blank, committed A, A plus a trial B, B committed over A), often
//! rewritten with wide field values (sequence 0, u64::MAX - 1, u64::MAX, 2^63, random; any
//! tries) in either copy, the other copy erased, older or garbage, then runs random
//! `BootControl` operations: select, the dpuboot loop, reject, rollback (manual and
//! requested), commit, mark bad, settings, staging a signed (or stranger-signed) image,
//! reboots, and corruption of the copy that does not hold the state.
//!
//! Properties: no panic; after every operation a fresh load of the flash shows exactly the
//! running record and floor (persistence: the property that caught F2); a corruption of one
//! copy never loses the state; select boots a Trial bank only as a trial and a Good bank only
//! as committed; the dpuboot loop ends within 8 rounds. Long run: `PROPTEST_CASES=100000 cargo
//! test --release -p bootstate --test fuzz_records` (docs/fuzzing.md).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::sync::OnceLock;

use bootstate::layout::record_offset;
use bootstate::record::RECORD_LEN;
use bootstate::sim::NorSim;
use bootstate::store::{Floor, Records};
use bootstate::{
    Bank, BankState, BootControl, BootDecision, BootRecord, FailureReason, Flash, Stage,
};
use common::*;
use proptest::prelude::*;

/// Starting states, built once through the real operations.
fn bases() -> &'static [NorSim] {
    static BASES: OnceLock<Vec<NorSim>> = OnceLock::new();
    BASES.get_or_init(|| {
        let blank = NorSim::flash1();
        let committed = provisioned(1);
        let mut control = boot(committed.clone());
        stage(&mut control, Bank::A, &image(2, 2, 3000));
        let trial = control.into_flash();
        let mut control = boot(trial.clone());
        dpuboot(&mut control);
        control.commit(Bank::B).unwrap();
        let switched = control.into_flash();
        vec![blank, committed, trial, switched]
    })
}

/// Images the kernel may stage: trusted with counters 2, 1, 0 and 9; one by a stranger.
fn images() -> &'static [Vec<u8>] {
    static IMAGES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    IMAGES.get_or_init(|| {
        vec![
            image(3, 2, 2000),
            image(4, 1, 1500),
            image(5, 0, 100),
            image(6, 9, 4000),
            image_signed_by(&stranger_key(), 7, 3, 1000),
        ]
    })
}

fn read_copy(flash: &mut NorSim, copy: usize) -> [u8; RECORD_LEN] {
    let mut bytes = [0u8; RECORD_LEN];
    flash.read(record_offset(copy), &mut bytes).unwrap();
    bytes
}

/// Replaces copy `copy` with `bytes` (erase, then program: any content can be planted).
fn write_copy(flash: &mut NorSim, copy: usize, bytes: &[u8; RECORD_LEN]) {
    flash.erase(record_offset(copy)).unwrap();
    flash.program(record_offset(copy), bytes).unwrap();
}

#[derive(Clone, Debug)]
enum Corruption {
    FlipBit(usize, u8),
    Bytes(Vec<(usize, u8)>),
    EraseTail(usize),
    EraseBodyKeepMagic,
    Erase,
    Zero,
    And(Vec<(usize, u8)>),
    Random(Vec<u8>),
}

fn corruption() -> impl Strategy<Value = Corruption> {
    let positions = proptest::collection::vec((0..RECORD_LEN, any::<u8>()), 1..=8);
    prop_oneof![
        3 => (0..RECORD_LEN, 0..8u8).prop_map(|(at, bit)| Corruption::FlipBit(at, bit)),
        2 => positions.clone().prop_map(Corruption::Bytes),
        1 => (0..RECORD_LEN).prop_map(Corruption::EraseTail),
        1 => Just(Corruption::EraseBodyKeepMagic),
        1 => Just(Corruption::Erase),
        1 => Just(Corruption::Zero),
        1 => positions.prop_map(Corruption::And),
        1 => proptest::collection::vec(any::<u8>(), RECORD_LEN).prop_map(Corruption::Random),
    ]
}

fn corrupt(bytes: &mut [u8; RECORD_LEN], corruption: &Corruption) {
    match corruption {
        Corruption::FlipBit(at, bit) => bytes[*at] ^= 1 << bit,
        Corruption::Bytes(changes) => {
            for &(at, value) in changes {
                bytes[at] = value;
            }
        }
        Corruption::EraseTail(from) => bytes[*from..].fill(0xFF),
        Corruption::EraseBodyKeepMagic => bytes[..RECORD_LEN - 4].fill(0xFF),
        Corruption::Erase => bytes.fill(0xFF),
        Corruption::Zero => bytes.fill(0),
        Corruption::And(changes) => {
            for &(at, mask) in changes {
                bytes[at] &= mask;
            }
        }
        Corruption::Random(random) => bytes.copy_from_slice(random),
    }
}

fn sequence() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        Just(1 << 63),
        Just((1 << 63) - 1),
        Just((1 << 63) + 1),
        any::<u64>(),
    ]
}

/// How the starting record is placed on flash.
#[derive(Clone, Debug)]
struct Start {
    base: usize,
    /// Rewrite the winning record with these (sequence, trial tries left, settings).
    rewrite: Option<(u64, u8, u8, bool)>,
    copy: usize,
    other: Other,
}

#[derive(Clone, Debug)]
enum Other {
    Erased,
    /// A valid record `behind` writes older, with a different window.
    Older(u64),
    Garbage(Corruption),
}

fn start() -> impl Strategy<Value = Start> {
    let other = prop_oneof![
        Just(Other::Erased),
        prop_oneof![Just(1u64), Just(2), any::<u64>()].prop_map(Other::Older),
        corruption().prop_map(Other::Garbage),
    ];
    (
        0..4usize,
        proptest::option::of((sequence(), any::<u8>(), 0..=16u8, any::<bool>())),
        0..2usize,
        other,
    )
        .prop_map(|(base, rewrite, copy, other)| Start {
            base,
            rewrite,
            copy,
            other,
        })
}

fn build(start: &Start) -> NorSim {
    let mut flash = bases()[start.base].clone();
    let Some((sequence, tries_left, trial_tries, rollback_requested)) = start.rewrite else {
        return flash;
    };
    let mut record = Records::load(&mut flash).unwrap().current;
    record.sequence = sequence;
    for bank in [Bank::A, Bank::B] {
        if record.bank(bank).state == BankState::Trial {
            record.bank_mut(bank).tries_left = tries_left;
        }
    }
    record.trial_tries = trial_tries;
    record.rollback_requested = rollback_requested;
    write_copy(&mut flash, start.copy, &record.encode());
    let other = 1 - start.copy;
    match &start.other {
        Other::Erased => flash.erase(record_offset(other)).unwrap(),
        Other::Older(behind) => {
            let mut older = record;
            older.sequence = sequence.wrapping_sub(*behind);
            older.rollback_window_ms = older.rollback_window_ms.wrapping_add(1);
            write_copy(&mut flash, other, &older.encode());
        }
        Other::Garbage(corruption) => {
            let mut bytes = record.encode();
            corrupt(&mut bytes, corruption);
            write_copy(&mut flash, other, &bytes);
        }
    }
    flash
}

#[derive(Clone, Debug)]
enum Operation {
    Select,
    Dpuboot,
    Reject(Bank, FailureReason),
    ManualRollback,
    RequestRollback,
    Commit(Bank),
    MarkBad(Bank, FailureReason, Stage),
    SetTrialTries(u8),
    SetWindow(u16),
    Stage(usize),
    Reboot,
    /// Corrupts the copy that does not hold the state (a torn write of an older record).
    CorruptOlder(Corruption),
}

fn bank() -> impl Strategy<Value = Bank> {
    prop_oneof![Just(Bank::A), Just(Bank::B)]
}

fn reason() -> impl Strategy<Value = FailureReason> {
    prop_oneof![
        Just(FailureReason::HealthCheck),
        Just(FailureReason::Hash),
        Just(FailureReason::Signature),
        Just(FailureReason::SecurityCounter),
        Just(FailureReason::Flash),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        2 => Just(Operation::Select),
        3 => Just(Operation::Dpuboot),
        1 => (bank(), reason()).prop_map(|(bank, reason)| Operation::Reject(bank, reason)),
        1 => Just(Operation::ManualRollback),
        1 => Just(Operation::RequestRollback),
        2 => bank().prop_map(Operation::Commit),
        1 => (bank(), reason(), prop_oneof![Just(Stage::Health), Just(Stage::Services)])
            .prop_map(|(bank, reason, stage)| Operation::MarkBad(bank, reason, stage)),
        1 => any::<u8>().prop_map(Operation::SetTrialTries),
        1 => any::<u16>().prop_map(Operation::SetWindow),
        2 => (0..5usize).prop_map(Operation::Stage),
        2 => Just(Operation::Reboot),
        1 => corruption().prop_map(Operation::CorruptOlder),
    ]
}

/// dpuboot's loop, bounded: select, verify, reject on failure.
fn bounded_dpuboot(control: &mut BootControl<NorSim>) -> Result<(), TestCaseError> {
    let Ok(mut decision) = control.select() else {
        return Ok(());
    };
    for _ in 0..8 {
        check_decision(control, decision)?;
        let BootDecision::Boot { bank, digest, .. } = decision else {
            return Ok(());
        };
        let reason = match control.verify_bank(bank, &keys()) {
            Ok(verified) if verified.digest == digest => return Ok(()),
            Ok(_) => FailureReason::Hash,
            Err(error) => error.reason(),
        };
        match control.reject(bank, reason) {
            Ok(next) => decision = next,
            Err(_) => return Ok(()),
        }
    }
    Err(TestCaseError::fail(
        "the dpuboot loop did not end in 8 rounds",
    ))
}

fn check_decision(
    control: &BootControl<NorSim>,
    decision: BootDecision,
) -> Result<(), TestCaseError> {
    if let BootDecision::Boot { bank, trial, .. } = decision {
        let expected = if trial {
            BankState::Trial
        } else {
            BankState::Good
        };
        prop_assert_eq!(control.record().bank(bank).state, expected);
    }
    Ok(())
}

fn run(
    control: BootControl<NorSim>,
    operation: &Operation,
) -> Result<BootControl<NorSim>, TestCaseError> {
    let mut control = control;
    match operation {
        Operation::Select => {
            if let Ok(decision) = control.select() {
                check_decision(&control, decision)?;
            }
        }
        Operation::Dpuboot => bounded_dpuboot(&mut control)?,
        Operation::Reject(bank, reason) => {
            if let Ok(decision) = control.reject(*bank, *reason) {
                check_decision(&control, decision)?;
            }
        }
        Operation::ManualRollback => drop(control.manual_rollback()),
        Operation::RequestRollback => drop(control.request_rollback()),
        Operation::Commit(bank) => drop(control.commit(*bank)),
        Operation::MarkBad(bank, reason, stage) => drop(control.mark_bad(*bank, *reason, *stage)),
        Operation::SetTrialTries(tries) => drop(control.set_trial_tries(*tries)),
        Operation::SetWindow(window) => drop(control.set_rollback_window_ms(*window)),
        Operation::Stage(index) => {
            let running = control.record().active;
            if let Ok(mut writer) = control.stage_begin(running) {
                for chunk in images()[*index].chunks(700) {
                    if control.stage_write(&mut writer, chunk).is_err() {
                        break;
                    }
                }
                drop(control.stage_finish(writer, &keys()));
            }
        }
        Operation::Reboot => control = boot(control.into_flash()),
        Operation::CorruptOlder(corruption) => {
            let flash = control.flash_mut();
            let records = Records::load(flash).unwrap();
            let older = records.older_copy();
            let mut bytes = read_copy(flash, older);
            corrupt(&mut bytes, corruption);
            write_copy(flash, older, &bytes);
            // Whatever the corruption, the copy holding the state is intact.
            prop_assert_eq!(Records::load(flash).unwrap().current, records.current);
        }
    }
    Ok(control)
}

/// A fresh load of the flash must show what the running control believes. (What
/// `BootControl::load` reads, without cloning the device.)
fn check_persisted(control: &mut BootControl<NorSim>) -> Result<(), TestCaseError> {
    let record = *control.record();
    let floor = control.floor();
    let fresh_record = Records::load(control.flash_mut()).unwrap().current;
    let fresh_floor = Floor::load(control.flash_mut()).unwrap().value;
    prop_assert_eq!(fresh_record, record, "state not persisted");
    prop_assert_eq!(fresh_floor, floor, "floor not persisted");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(1000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_operation_persists(
        start in start(),
        operations in proptest::collection::vec(operation(), 1..=8),
    ) {
        let mut control = BootControl::load(build(&start)).unwrap();
        for operation in &operations {
            control = run(control, operation)?;
            check_persisted(&mut control)?;
        }
    }

    #[test]
    fn corrupting_one_copy_never_loses_the_state(
        base in 1..4usize,
        window in 1..1000u16,
        victim in 0..2usize,
        corruption in corruption(),
    ) {
        // Two valid copies: the base state plus one more write.
        let mut control = BootControl::load(bases()[base].clone()).unwrap();
        control.set_rollback_window_ms(window).unwrap();
        let mut flash = control.into_flash();
        let before = Records::load(&mut flash).unwrap();
        prop_assert_eq!(before.valid_copies(), 2);
        let intact_copy = 1 - victim;
        let intact = BootRecord::decode(&read_copy(&mut flash, intact_copy)).unwrap();
        let mut bytes = read_copy(&mut flash, victim);
        let original = bytes;
        corrupt(&mut bytes, &corruption);
        write_copy(&mut flash, victim, &bytes);

        let after = Records::load(&mut flash).unwrap();
        prop_assert!(after.copies[intact_copy].is_some(), "the intact copy became invalid");
        prop_assert_ne!(after.current, BootRecord::BLANK);
        match BootRecord::decode(&bytes) {
            Err(_) => prop_assert_eq!(after.current, intact),
            Ok(_) if bytes == original => prop_assert_eq!(after.current, before.current),
            Ok(decoded) => prop_assert!(after.current == intact || after.current == decoded),
        }
        // The next write lands and survives a reboot.
        let mut control = BootControl::load(flash).unwrap();
        control.set_rollback_window_ms(window.wrapping_add(1)).unwrap();
        check_persisted(&mut control)?;
    }
}
