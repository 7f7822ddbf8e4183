//! Exceptions in the kernel: IRQs go to the interrupt layer; anything else is a fault that is
//! reported in words (via `aarch64-rt`), recorded for the next boot, and ends the boot.

use aarch64_rt::{TrapFrame, VECTOR_IRQ_CURRENT};
use bootstate::lastboot::{Ending, ExceptionKind};

/// Installs the vector table. First thing the kernel does, so every later fault is reported.
pub fn install() {
    aarch64_rt::install(dispatch);
}

fn dispatch(frame: &mut TrapFrame, vector: u64) {
    if vector == VECTOR_IRQ_CURRENT {
        crate::watchdog::note_interrupted_at(frame.elr);
        let context = crate::sync::enter_interrupt();
        crate::interrupts::handle_irq();
        crate::sync::leave_interrupt(context);
        return;
    }
    let _ = aarch64_rt::write_report(
        &mut crate::console::EmergencyWriter,
        "FATAL EXCEPTION",
        frame,
        vector,
    );
    let guard = crate::layout::stack_guard();
    if guard.contains(frame.far) {
        let _ = core::fmt::Write::write_fmt(
            &mut crate::console::EmergencyWriter,
            format_args!(
                "    stack overflow: FAR is in the stack guard page {guard} (ELR may be the \
                 exception entry that overflowed too; x30 is in the code that recursed)\r\n"
            ),
        );
    }
    let class = ((frame.esr >> 26) & 0x3f) as u8;
    let kind = ExceptionKind::from_class(class);
    let address = match kind {
        ExceptionKind::DataAbort | ExceptionKind::InstructionAbort => frame.far,
        _ => 0,
    };
    crate::lastboot::record(Ending::Exception {
        kind,
        pc: frame.elr,
        address,
    });
    crate::fail_boot(crate::ExitCode::Exception)
}
