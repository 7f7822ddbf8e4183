//! PSCI: system reset and power off through the conduit (hvc or smc) the device tree names.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// The conduit from the device tree, for the fault paths that cannot take locks (0 = none).
static CONDUIT: AtomicU8 = AtomicU8::new(0);

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: firmware at EL2 (QEMU's emulated PSCI with plain `-M virt`).
    Hypervisor,
    /// `smc #0`: firmware at EL3 (QEMU with virtualization=on, TF-A on boards).
    SecureMonitor,
}

impl Conduit {
    /// The instruction's name, as the device tree spells the method.
    pub fn instruction(self) -> &'static str {
        match self {
            Self::Hypervisor => "hvc",
            Self::SecureMonitor => "smc",
        }
    }
}

/// Remembers the device tree's conduit for the fault paths (see [`conduit`]).
pub fn set_conduit(conduit: Option<Conduit>) {
    let code = match conduit {
        None => 0,
        Some(Conduit::Hypervisor) => 1,
        Some(Conduit::SecureMonitor) => 2,
    };
    CONDUIT.store(code, Ordering::SeqCst);
}

/// The conduit remembered by [`set_conduit`].
pub fn conduit() -> Option<Conduit> {
    match CONDUIT.load(Ordering::SeqCst) {
        1 => Some(Conduit::Hypervisor),
        2 => Some(Conduit::SecureMonitor),
        _ => None,
    }
}

const SYSTEM_OFF: u64 = 0x8400_0008;
const SYSTEM_RESET: u64 = 0x8400_0009;
const PSCI_VERSION: u64 = 0x8400_0000;

fn call(conduit: Conduit, function: u64) -> u64 {
    let mut result = function;
    match conduit {
        // SAFETY: a PSCI call clobbers only x0-x3 (SMCCC), which we declare.
        Conduit::Hypervisor => unsafe {
            asm!("hvc #0", inout("x0") result, out("x1") _, out("x2") _, out("x3") _)
        },
        // SAFETY: as above, through the secure monitor.
        Conduit::SecureMonitor => unsafe {
            asm!("smc #0", inout("x0") result, out("x1") _, out("x2") _, out("x3") _)
        },
    }
    result
}

/// PSCI version as (major, minor).
pub fn version(conduit: Conduit) -> (u16, u16) {
    let raw = call(conduit, PSCI_VERSION);
    ((raw >> 16) as u16, raw as u16)
}

/// Resets the system. Returns only if the firmware refused.
pub fn system_reset(conduit: Conduit) {
    call(conduit, SYSTEM_RESET);
}

/// Powers the system off. Returns only if the firmware refused.
pub fn system_off(conduit: Conduit) {
    call(conduit, SYSTEM_OFF);
}
