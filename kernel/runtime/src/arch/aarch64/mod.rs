//! aarch64 glue: entry, exception levels, vectors, MMU, timer, PSCI, semihosting.
//!
//! Everything that touches system registers or needs assembly lives here; the rest of the kernel
//! calls these safe wrappers.

pub mod cpu;
pub mod el2;
mod entry;
pub mod exception;
pub mod mmu;
pub mod psci;
/// Semihosting (tests' exit status), shared with dpuboot.
pub use aarch64_rt::semihosting;
pub mod timer;
