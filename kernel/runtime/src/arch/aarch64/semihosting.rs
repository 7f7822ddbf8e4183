//! Semihosting: how an in-QEMU test reports its own exit status.
//!
//! QEMU started with `-semihosting` treats `hlt #0xf000` as a host call; `SYS_EXIT` with a
//! subcode ends QEMU with that status (PSCI SYSTEM_OFF always gives 0, so it cannot report a
//! failure). Without `-semihosting` (or on a board) the same instruction is undefined, so at boot
//! we probe once: the vector code recognises an undefined-instruction trap at the probe's address
//! and returns here with "absent" instead of reporting a fault.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

global_asm!(
    r#"
.section .text, "ax"
.balign 4
.global semihosting_call
semihosting_call:
    hlt     #0xf000
    ret
"#
);

unsafe extern "C" {
    /// Performs semihosting operation `operation` with parameter block `parameter`.
    fn semihosting_call(operation: u64, parameter: u64) -> u64;
}

const SYS_ERRNO: u64 = 0x13;
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: "the application exited", with the subcode as exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

static PROBING: AtomicBool = AtomicBool::new(false);
static PROBE_TRAPPED: AtomicBool = AtomicBool::new(false);
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Detects semihosting. Needs the vector table installed.
pub fn probe() -> bool {
    PROBING.store(true, Ordering::SeqCst);
    PROBE_TRAPPED.store(false, Ordering::SeqCst);
    // SAFETY: SYS_ERRNO takes no parameter block and has no side effects; if semihosting is
    // absent the trap is recovered by `recover_from_probe` while PROBING is set.
    let _ = unsafe { semihosting_call(SYS_ERRNO, 0) };
    PROBING.store(false, Ordering::SeqCst);
    let available = !PROBE_TRAPPED.load(Ordering::SeqCst);
    AVAILABLE.store(available, Ordering::SeqCst);
    available
}

/// Whether the probe found semihosting.
pub fn available() -> bool {
    AVAILABLE.load(Ordering::SeqCst)
}

/// Exits QEMU with `status`, if semihosting is available; otherwise returns.
pub fn exit(status: u32) {
    if !available() {
        return;
    }
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: semihosting is present (probed); SYS_EXIT reads the two-word block we pass.
    unsafe { semihosting_call(SYS_EXIT, block.as_ptr() as u64) };
}

/// Called for synchronous exceptions: true if this was the probe's trap, now skipped.
pub fn recover_from_probe(frame: &mut super::exception::TrapFrame) -> bool {
    let is_unknown_class = (frame.esr >> 26) & 0x3f == 0;
    let at_probe = frame.elr == semihosting_call as *const () as u64;
    if PROBING.load(Ordering::SeqCst) && is_unknown_class && at_probe {
        PROBE_TRAPPED.store(true, Ordering::SeqCst);
        frame.elr += 4;
        return true;
    }
    false
}
