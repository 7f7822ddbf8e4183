//! The config store on the NOR simulator: saves, power cuts before every operation, torn
//! writes, interrupted erases, damaged and refused copies.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use bootstate::Flash;
use bootstate::sim::{Fault, NorSim};
use dpu_config::store::{CopyState, MAX_COPY_LEN, Refusal, copy_offset};
use dpu_config::{ConfigStore, LoadOutcome, Role, RunningConfig};
use dpu_switch::VlanMode;

fn config_with_vlan(vlan: u16) -> RunningConfig {
    let mut config = RunningConfig::new(3);
    config.switch.ports[1].vlan = VlanMode::Access(vlan);
    config
        .tokens
        .add(&format!("token{vlan}"), Role::Operator, b"0123456789abcdef")
        .unwrap();
    config
}

fn load(sim: &mut NorSim) -> (ConfigStore, LoadOutcome) {
    let mut buffer = [0u8; MAX_COPY_LEN];
    ConfigStore::load(sim, &mut buffer).unwrap()
}

fn save(sim: &mut NorSim, config: &RunningConfig) -> Result<u64, dpu_config::StoreError> {
    let (mut store, _) = load(sim);
    let mut buffer = [0u8; MAX_COPY_LEN];
    store.save(sim, config, &mut buffer)
}

fn loaded(outcome: &LoadOutcome) -> Option<&RunningConfig> {
    match outcome {
        LoadOutcome::Loaded { config, .. } => Some(config),
        _ => None,
    }
}

#[test]
fn saves_alternate_copies_and_the_newest_wins() {
    let mut sim = NorSim::flash1();
    assert_eq!(load(&mut sim).1, LoadOutcome::Empty);
    assert_eq!(save(&mut sim, &config_with_vlan(10)).unwrap(), 1);
    assert_eq!((sim.erases(), sim.programs()), (1, 2));
    assert_eq!(save(&mut sim, &config_with_vlan(20)).unwrap(), 2);
    assert_eq!(save(&mut sim, &config_with_vlan(30)).unwrap(), 3);
    let (store, outcome) = load(&mut sim);
    assert_eq!(loaded(&outcome), Some(&config_with_vlan(30)));
    let LoadOutcome::Loaded { copy, sequence, .. } = outcome else {
        unreachable!()
    };
    assert_eq!((copy, sequence), (0, 3));
    assert!(matches!(
        store.copies()[1],
        CopyState::Good { sequence: 2, .. }
    ));
}

/// Every fault at every operation of a save leaves the old config or the new one, and the
/// next save works.
#[test]
fn a_fault_at_any_point_of_a_save_leaves_old_or_new() {
    let faults = [
        Fault::PowerCut,
        Fault::TornProgram(1),
        Fault::TornProgram(0xDEAD_BEEF),
        Fault::TornPrefix(0),
        Fault::TornPrefix(4),
        Fault::TornPrefix(36),
        Fault::TornPrefix(400),
        Fault::InterruptedErase(1),
        Fault::InterruptedErase(77),
    ];
    // Before: nothing stored, one copy, two copies.
    for saved_before in 0..3u16 {
        let mut base = NorSim::flash1();
        for index in 0..saved_before {
            save(&mut base, &config_with_vlan(100 + index)).unwrap();
        }
        let old = (saved_before > 0).then(|| config_with_vlan(100 + saved_before - 1));
        let new = config_with_vlan(500);
        for operation in 0..3 {
            for fault in faults {
                let mut sim = base.clone();
                sim.arm(operation, fault);
                assert!(save(&mut sim, &new).is_err(), "{fault:?} at {operation}");
                sim.restore_power();
                let (_, outcome) = load(&mut sim);
                match (&outcome, &old) {
                    (LoadOutcome::Empty, None) => {}
                    (LoadOutcome::Loaded { config, .. }, _)
                        if Some(config) == old.as_ref() || *config == new => {}
                    _ => panic!(
                        "{saved_before} saved, {fault:?} at operation {operation}: {outcome:?}"
                    ),
                }
                // The next save is whole.
                let next = config_with_vlan(600);
                save(&mut sim, &next).unwrap();
                assert_eq!(loaded(&load(&mut sim).1), Some(&next));
            }
        }
    }
}

/// Writes a copy whose framing is good but whose payload the switch refuses.
fn plant_refused_copy(sim: &mut NorSim) {
    let mut config = RunningConfig::new(3);
    config.switch.ports[2].vlan = VlanMode::Access(5000);
    let mut store_sim = NorSim::flash1();
    save(&mut store_sim, &config).unwrap();
    let image = store_sim.to_image();
    let at = copy_offset(0) as usize;
    sim.erase(copy_offset(0)).unwrap();
    sim.program(copy_offset(0), &image[at..at + 8192]).unwrap();
}

#[test]
fn a_refused_copy_runs_the_defaults_and_survives_until_the_next_save() {
    let mut sim = NorSim::flash1();
    plant_refused_copy(&mut sim);
    let before = sim.to_image();
    let (_, outcome) = load(&mut sim);
    let LoadOutcome::Refused {
        copy: 0,
        sequence: 1,
        refusal: Refusal::Decode(error),
    } = outcome
    else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        error.to_string(),
        "switch config refused: port3: vlan 5000 out of range 1..4094"
    );
    // Loading again changes nothing.
    load(&mut sim);
    assert_eq!(sim.to_image(), before);
    // The next save goes to the other copy; the refused bytes stay.
    let good = config_with_vlan(42);
    assert_eq!(save(&mut sim, &good).unwrap(), 2);
    let after = sim.to_image();
    let copy0 = copy_offset(0) as usize..copy_offset(1) as usize;
    assert_eq!(after[copy0.clone()], before[copy0]);
    assert_eq!(loaded(&load(&mut sim).1), Some(&good));
}

#[test]
fn a_damaged_only_copy_is_refused_and_a_damaged_newest_falls_back() {
    let mut sim = NorSim::flash1();
    save(&mut sim, &config_with_vlan(10)).unwrap();
    let mut image = sim.to_image();
    // Clear one bit in the payload of copy 0 (programming can only clear bits).
    image[copy_offset(0) as usize + 30] &= 0xFE;
    let mut damaged = NorSim::from_image(&image).unwrap();
    let (_, outcome) = load(&mut damaged);
    assert_eq!(
        outcome,
        LoadOutcome::Refused {
            copy: 0,
            sequence: 0,
            refusal: Refusal::Damaged("crc mismatch")
        }
    );
    // The next save spares the damaged copy.
    let before = damaged.to_image();
    save(&mut damaged, &config_with_vlan(11)).unwrap();
    let copy0 = copy_offset(0) as usize..copy_offset(1) as usize;
    assert_eq!(damaged.to_image()[copy0.clone()], before[copy0]);
    assert_eq!(loaded(&load(&mut damaged).1), Some(&config_with_vlan(11)));
    // With an older good copy, the damaged newest one is passed over.
    save(&mut sim, &config_with_vlan(20)).unwrap();
    let mut image = sim.to_image();
    image[copy_offset(1) as usize + 30] ^= 0x01;
    let mut sim = NorSim::from_image(&image).unwrap();
    assert_eq!(loaded(&load(&mut sim).1), Some(&config_with_vlan(10)));
}

#[test]
fn garbage_in_the_area_is_not_a_config() {
    let mut sim = NorSim::flash1();
    sim.program(copy_offset(0), &[1, 2, 3, 4, 5, 6, 7, 8])
        .unwrap();
    let (store, outcome) = load(&mut sim);
    assert_eq!(outcome, LoadOutcome::Empty);
    assert_eq!(store.copies()[0], CopyState::Unrecognised);
    save(&mut sim, &config_with_vlan(9)).unwrap();
    assert_eq!(loaded(&load(&mut sim).1), Some(&config_with_vlan(9)));
}

#[test]
fn clear_with_a_cut_leaves_the_newest_or_nothing() {
    let mut base = NorSim::flash1();
    save(&mut base, &config_with_vlan(1)).unwrap();
    save(&mut base, &config_with_vlan(2)).unwrap();
    let mut sim = base.clone();
    let (mut store, _) = load(&mut sim);
    store.clear(&mut sim).unwrap();
    assert_eq!(load(&mut sim).1, LoadOutcome::Empty);
    for operation in 0..2 {
        let mut sim = base.clone();
        let (mut store, _) = load(&mut sim);
        sim.power_cut_before(operation);
        assert!(store.clear(&mut sim).is_err());
        sim.restore_power();
        assert_eq!(loaded(&load(&mut sim).1), Some(&config_with_vlan(2)));
    }
}
