//! Boot-state records, bank selection, MCUboot image format and a NOR simulator.
//!
//! Shared by dpuboot (the bootloader in flash0), the kernel and the host tool (xtask). Everything
//! here is pure logic over the [`Flash`] trait, so it builds for `aarch64-unknown-none` without a
//! heap and is tested on the host against the NOR-flash simulator in [`sim`].
//!
//! - [`bank`]: the two image banks; [`layout`]: where things live in flash1 (see
//!   `docs/boot-layout.md`).
//! - [`record`]: the boot-state record and its codec; [`store`]: two copies plus the
//!   anti-rollback floor area on flash.
//! - [`control`]: the bank selection state machine (dpuboot's and the kernel's transitions).
//! - [`health`]: the kernel's jumpstart policy (health samples in, verdict out).
//! - [`lastboot`]: how the last boot ended (panic, fault, watchdog, reboot), as kept in a RAM
//!   mailbox across warm resets.
//! - [`image`]: the MCUboot image format parser and verifier (SHA-256 + Ed25519); [`ed25519`]:
//!   the strict Ed25519 check in bounded steps (the kernel's poll loop runs one per pass).
//! - [`update`]: the update frame protocol's receiver (frames, order, CRC, length).
//! - `sign` and `sim` (feature `std`, and in tests): host-side signing, PEM keys, NOR simulator.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(any(test, feature = "std"))]
extern crate std;

pub mod bank;
pub mod control;
pub mod crc32;
pub mod ed25519;
pub mod flash;
pub mod health;
pub mod image;
pub mod lastboot;
pub mod layout;
pub mod record;
pub mod store;
pub mod update;

#[cfg(feature = "std")]
pub mod sign;
#[cfg(any(test, feature = "std"))]
pub mod sim;

pub use bank::Bank;
pub use control::{
    BootControl, BootDecision, CheckedImage, ControlError, RollbackOutcome, StageStep, StagedImage,
    StagingWriter,
};
pub use flash::{Flash, FlashError};
pub use image::{TrustedKey, VerifiedImage, VerifyError, verify};
pub use record::{
    BankInfo, BankLine, BankState, BootEvent, BootOutcome, BootRecord, FailureReason, OutcomeLine,
    Stage, Version,
};
