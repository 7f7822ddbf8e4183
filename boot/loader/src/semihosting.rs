//! Semihosting: how tests learn dpuboot's outcome (QEMU exits with the status we pass).
//!
//! Probed once at start like the kernel does: `hlt #0xf000` without `-semihosting` is an
//! undefined instruction, which the vector code recognises at the probe's address and skips.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

global_asm!(
    r#"
.section .text, "ax"
.balign 4
.global dpuboot_semihosting_call
dpuboot_semihosting_call:
    hlt     #0xf000
    ret
"#
);

unsafe extern "C" {
    fn dpuboot_semihosting_call(operation: u64, parameter: u64) -> u64;
}

const SYS_ERRNO: u64 = 0x13;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

static PROBING: AtomicBool = AtomicBool::new(false);
static TRAPPED: AtomicBool = AtomicBool::new(false);
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Detects semihosting (the vector table must be installed).
pub fn probe() -> bool {
    PROBING.store(true, Ordering::SeqCst);
    TRAPPED.store(false, Ordering::SeqCst);
    // SAFETY: SYS_ERRNO has no parameter block and no side effects; without semihosting the
    // trap is skipped by `recover_from_probe` while PROBING is set.
    let _ = unsafe { dpuboot_semihosting_call(SYS_ERRNO, 0) };
    PROBING.store(false, Ordering::SeqCst);
    let available = !TRAPPED.load(Ordering::SeqCst);
    AVAILABLE.store(available, Ordering::SeqCst);
    available
}

/// Whether the probe found semihosting.
pub fn available() -> bool {
    AVAILABLE.load(Ordering::SeqCst)
}

/// Exits QEMU with `status` when semihosting is present; otherwise returns.
pub fn exit(status: u32) {
    if !available() {
        return;
    }
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: semihosting is present (probed); SYS_EXIT reads the two-word block we pass.
    unsafe { dpuboot_semihosting_call(SYS_EXIT, block.as_ptr() as u64) };
}

/// For synchronous exceptions: true if this was the probe's trap (ELR is moved past it).
pub fn recover_from_probe(esr: u64, elr: &mut u64) -> bool {
    let unknown_class = (esr >> 26) & 0x3f == 0;
    let at_probe = *elr == dpuboot_semihosting_call as *const () as u64;
    if PROBING.load(Ordering::SeqCst) && unknown_class && at_probe {
        TRAPPED.store(true, Ordering::SeqCst);
        *elr += 4;
        return true;
    }
    false
}
