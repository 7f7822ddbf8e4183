//! Semihosting: how in-QEMU tests learn the firmware's own exit status.
//!
//! QEMU started with `-semihosting` treats `hlt #0xf000` as a host call; `SYS_EXIT` with a
//! subcode ends QEMU with that status (PSCI SYSTEM_OFF always gives 0, so it cannot report a
//! failure). Without `-semihosting` (or on a board) the instruction is undefined, so we probe
//! once: the vector code recognises the undefined-instruction trap at the probe's address and
//! skips it ([`recover_from_probe`]) instead of reporting a fault.

use core::sync::atomic::{AtomicBool, Ordering};

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    r#"
.section .text, "ax"
.balign 4
.global aarch64_rt_semihosting_call
aarch64_rt_semihosting_call:
    hlt     #0xf000
    ret
"#
);

#[cfg(target_arch = "aarch64")]
unsafe extern "C" {
    /// Performs semihosting operation `operation` with parameter block `parameter`.
    fn aarch64_rt_semihosting_call(operation: u64, parameter: u64) -> u64;
}

#[cfg(target_arch = "aarch64")]
fn call_address() -> u64 {
    aarch64_rt_semihosting_call as *const () as u64
}

#[cfg(not(target_arch = "aarch64"))]
fn call_address() -> u64 {
    0
}

#[cfg(target_arch = "aarch64")]
const SYS_ERRNO: u64 = 0x13;
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: "the application exited", with the subcode as exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

static PROBING: AtomicBool = AtomicBool::new(false);
static PROBE_TRAPPED: AtomicBool = AtomicBool::new(false);
static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// Detects semihosting. Needs the vector table installed ([`crate::install`]).
#[cfg(target_arch = "aarch64")]
pub fn probe() -> bool {
    PROBING.store(true, Ordering::SeqCst);
    PROBE_TRAPPED.store(false, Ordering::SeqCst);
    // SAFETY: SYS_ERRNO takes no parameter block and has no side effects; if semihosting is
    // absent the trap is recovered by `recover_from_probe` while PROBING is set.
    let _ = unsafe { aarch64_rt_semihosting_call(SYS_ERRNO, 0) };
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
    #[cfg(target_arch = "aarch64")]
    {
        let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
        // SAFETY: semihosting is present (probed); SYS_EXIT reads the two-word block we pass.
        unsafe { aarch64_rt_semihosting_call(SYS_EXIT, block.as_ptr() as u64) };
    }
    #[cfg(not(target_arch = "aarch64"))]
    let _ = (status, SYS_EXIT, ADP_STOPPED_APPLICATION_EXIT);
}

/// For a synchronous exception: true if it was the probe's trap (ELR is moved past it).
pub fn recover_from_probe(frame: &mut crate::TrapFrame) -> bool {
    let is_unknown_class = (frame.esr >> 26) & 0x3f == 0;
    let at_probe = frame.elr == call_address();
    if PROBING.load(Ordering::SeqCst) && is_unknown_class && at_probe {
        PROBE_TRAPPED.store(true, Ordering::SeqCst);
        frame.elr += 4;
        return true;
    }
    false
}
