//! Exception vectors and the fault report.
//!
//! The vector table saves every general register into a [`TrapFrame`] and calls
//! [`exception_dispatch`]. IRQs go to the interrupt layer; a synchronous exception is either the
//! semihosting probe (see `semihosting.rs`) or a fault: the report names the exception class in
//! words and prints ESR, ELR, FAR and the registers, then the boot fails.

use aarch64_cpu::registers::VBAR_EL1;
use core::arch::global_asm;
use core::fmt::Write;
use tock_registers::interfaces::Writeable;

/// Registers saved on exception entry, in the order the vector code stores them.
#[repr(C)]
pub struct TrapFrame {
    /// x0..x30.
    pub registers: [u64; 31],
    /// Exception link register: where the exception was taken.
    pub elr: u64,
    /// Saved program status.
    pub spsr: u64,
    /// Exception syndrome.
    pub esr: u64,
    /// Fault address (valid for aborts).
    pub far: u64,
    _padding: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 288 && FRAME_SIZE.is_multiple_of(16));

global_asm!(
    r#"
.macro VECTOR kind
.balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vector_table
exception_vector_table:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x2, elr_el1
    stp     x30, x2, [sp, #240]
    mrs     x3, spsr_el1
    mrs     x4, esr_el1
    stp     x3, x4, [sp, #256]
    mrs     x5, far_el1
    str     x5, [sp, #272]
    mov     x1, x0
    mov     x0, sp
    bl      exception_dispatch
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #{frame}
    eret
"#,
    frame = const FRAME_SIZE,
);

unsafe extern "C" {
    static exception_vector_table: u8;
}

/// Installs the vector table. First thing the kernel does, so every later fault is reported.
pub fn install() {
    VBAR_EL1.set(core::ptr::addr_of!(exception_vector_table) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Vector names, by table slot.
const VECTOR_NAMES: [&str; 16] = [
    "synchronous, current EL, SP_EL0",
    "IRQ, current EL, SP_EL0",
    "FIQ, current EL, SP_EL0",
    "SError, current EL, SP_EL0",
    "synchronous, current EL, SP_ELx",
    "IRQ, current EL, SP_ELx",
    "FIQ, current EL, SP_ELx",
    "SError, current EL, SP_ELx",
    "synchronous, lower EL, AArch64",
    "IRQ, lower EL, AArch64",
    "FIQ, lower EL, AArch64",
    "SError, lower EL, AArch64",
    "synchronous, lower EL, AArch32",
    "IRQ, lower EL, AArch32",
    "FIQ, lower EL, AArch32",
    "SError, lower EL, AArch32",
];

const VECTOR_SYNC_CURRENT: u64 = 4;
const VECTOR_IRQ_CURRENT: u64 = 5;

/// The exception class (ESR_EL1.EC) in words (ARM ARM D17.2.37).
pub fn exception_class_name(esr: u64) -> &'static str {
    match (esr >> 26) & 0x3f {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped FP/SIMD access",
        0x0e => "illegal execution state",
        0x15 => "SVC instruction",
        0x16 => "HVC instruction",
        0x17 => "SMC instruction",
        0x18 => "trapped system register access",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "trapped floating-point exception",
        0x2f => "SError interrupt",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK instruction",
        _ => "reserved exception class",
    }
}

/// The data/instruction fault status code (ESR ISS.DFSC/IFSC) in words.
fn fault_status_name(esr: u64) -> &'static str {
    match esr & 0x3f {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        _ => "other fault",
    }
}

/// Called by the vector code for every exception.
#[unsafe(no_mangle)]
extern "C" fn exception_dispatch(frame: &mut TrapFrame, vector: u64) {
    match vector {
        VECTOR_IRQ_CURRENT => crate::interrupts::handle_irq(),
        VECTOR_SYNC_CURRENT if super::semihosting::recover_from_probe(frame) => {}
        _ => fatal(frame, vector),
    }
}

fn fatal(frame: &TrapFrame, vector: u64) -> ! {
    let mut out = crate::console::EmergencyWriter;
    let class = (frame.esr >> 26) & 0x3f;
    let _ = write!(
        out,
        "\r\n*** FATAL EXCEPTION: {}\r\n    vector: {}\r\n    ESR_EL1 {:#018x} (EC {:#04x}, IL {}, ISS {:#09x})\r\n",
        exception_class_name(frame.esr),
        VECTOR_NAMES.get(vector as usize).copied().unwrap_or("?"),
        frame.esr,
        class,
        (frame.esr >> 25) & 1,
        frame.esr & 0x1ff_ffff,
    );
    if matches!(class, 0x20 | 0x21 | 0x24 | 0x25) {
        let access = if class >= 0x24 && (frame.esr >> 6) & 1 == 1 {
            "write"
        } else {
            "read"
        };
        let _ = write!(
            out,
            "    fault: {} on {} (FAR_EL1 {:#018x})\r\n",
            fault_status_name(frame.esr),
            if class >= 0x24 {
                access
            } else {
                "instruction fetch"
            },
            frame.far
        );
    }
    let _ = write!(
        out,
        "    ELR_EL1 {:#018x}  SPSR_EL1 {:#018x}  FAR_EL1 {:#018x}\r\n",
        frame.elr, frame.spsr, frame.far
    );
    for (index, pair) in frame.registers.chunks(2).enumerate() {
        let _ = write!(out, "    x{:<2} {:#018x}", index * 2, pair[0]);
        if let Some(second) = pair.get(1) {
            let _ = write!(out, "  x{:<2} {:#018x}", index * 2 + 1, second);
        }
        let _ = out.write_str("\r\n");
    }
    crate::fail_boot(crate::ExitCode::Exception)
}
