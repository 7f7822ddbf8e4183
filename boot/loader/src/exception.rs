//! dpuboot's exception handler: every exception is a fault here (dpuboot takes no interrupts).
//! The report (in words, via `aarch64-rt`) is printed and dpuboot stops with
//! [`crate::STATUS_FAULT`] in tests, otherwise parks: no reboot loop.

use aarch64_rt::TrapFrame;

/// Installs the vectors for the level dpuboot runs at (EL1, or EL2 with `virtualization=on`).
pub fn install() {
    aarch64_rt::install(fault);
}

fn fault(frame: &mut TrapFrame, vector: u64) {
    let _ = aarch64_rt::write_report(
        &mut crate::console::Writer,
        "dpuboot: FATAL EXCEPTION",
        frame,
        vector,
    );
    crate::stop(crate::STATUS_FAULT)
}
