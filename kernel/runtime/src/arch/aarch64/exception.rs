//! Exceptions in the kernel: IRQs go to the interrupt layer; anything else is a fault that is
//! reported in words (via `aarch64-rt`) and ends the boot.

use aarch64_rt::{TrapFrame, VECTOR_IRQ_CURRENT};

/// Installs the vector table. First thing the kernel does, so every later fault is reported.
pub fn install() {
    aarch64_rt::install(dispatch);
}

fn dispatch(frame: &mut TrapFrame, vector: u64) {
    if vector == VECTOR_IRQ_CURRENT {
        crate::interrupts::handle_irq();
        return;
    }
    let _ = aarch64_rt::write_report(
        &mut crate::console::EmergencyWriter,
        "FATAL EXCEPTION",
        frame,
        vector,
    );
    crate::fail_boot(crate::ExitCode::Exception)
}
