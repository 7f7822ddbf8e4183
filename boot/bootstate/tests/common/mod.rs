//! Shared helpers for the integration tests: keys, signed images, provisioned flash.

#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failure should stop the test"
)]

use bootstate::sign::{SigningKey, sign, trusted_key};
use bootstate::sim::NorSim;
use bootstate::{Bank, BootControl, TrustedKey, Version};

/// The key our tests sign with.
pub fn key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

/// A key nobody trusts.
pub fn stranger_key() -> SigningKey {
    SigningKey::from_bytes(&[0x13; 32])
}

/// The trusted key list.
pub fn keys() -> [TrustedKey; 1] {
    [trusted_key(&key().verifying_key())]
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// A signed image with a payload of `len` bytes.
pub fn image(major: u8, security_counter: u32, len: usize) -> Vec<u8> {
    image_signed_by(&key(), major, security_counter, len)
}

/// A signed image with a payload of `len` bytes, signed by `signer`.
pub fn image_signed_by(
    signer: &SigningKey,
    major: u8,
    security_counter: u32,
    len: usize,
) -> Vec<u8> {
    let version = Version {
        major,
        minor: 0,
        revision: 0,
        build: u32::from(major),
    };
    sign(
        &noise(u64::from(major), len),
        version,
        security_counter,
        signer,
    )
    .unwrap()
}

/// flash1 with `image(1, counter, ..)` provisioned as the committed image in bank A.
pub fn provisioned(security_counter: u32) -> NorSim {
    let mut control = BootControl::load(NorSim::flash1()).unwrap();
    control
        .provision(Bank::A, &image(1, security_counter, 3001), &keys())
        .unwrap();
    control.into_flash()
}

/// Reboots: a fresh control from whatever is on flash.
pub fn boot(mut flash: NorSim) -> BootControl<NorSim> {
    flash.restore_power();
    BootControl::load(flash).unwrap()
}

/// Stages `image` from the running committed bank and activates it.
pub fn stage(control: &mut BootControl<NorSim>, running: Bank, image: &[u8]) {
    let mut writer = control.stage_begin(running).unwrap();
    for chunk in image.chunks(1000) {
        control.stage_write(&mut writer, chunk).unwrap();
    }
    control.stage_finish(writer, &keys()).unwrap();
}

/// dpuboot's loop: select, verify in place, reject and choose again on failure.
pub fn dpuboot(control: &mut BootControl<NorSim>) -> bootstate::BootDecision {
    use bootstate::BootDecision;
    let mut decision = control.select().unwrap();
    loop {
        match decision {
            BootDecision::Boot { bank, digest, .. } => match control.verify_bank(bank, &keys()) {
                Ok(verified) if verified.digest == digest => return decision,
                Ok(_) => {
                    decision = control
                        .reject(bank, bootstate::FailureReason::Hash)
                        .unwrap();
                }
                Err(error) => decision = control.reject(bank, error.reason()).unwrap(),
            },
            BootDecision::Recovery { .. } => return decision,
        }
    }
}

/// Erases plus programs a closure costs.
pub fn writes<T>(
    control: &mut BootControl<NorSim>,
    action: impl FnOnce(&mut BootControl<NorSim>) -> T,
) -> (T, u64) {
    let before = control.flash_mut().operations();
    let result = action(control);
    (result, control.flash_mut().operations() - before)
}

/// Cases per property test: `PROPTEST_CASES` when set (long runs, docs/fuzzing.md), else
/// `default` (the short run every `cargo test` does).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}
