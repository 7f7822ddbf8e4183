//! Kernel log pieces that need no hardware: levels and the replay ring.
//!
//! The kernel's logger (`kernel/runtime/src/log.rs`) sends defmt frames to the console and keeps
//! recent ones in a [`ReplayRing`] so `log` can send them again; [`LogLevel`] is the runtime
//! filter the console's `log level` sets. Both live here so the logger depends on neither the
//! shell nor the hardware, and both are tested on the host.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod level;
mod ring;

pub use level::LogLevel;
pub use ring::ReplayRing;
