//! The vector tables (one per exception level we run at) and the common save/restore path.

use crate::{FRAME_SIZE, Handler, TrapFrame, semihosting};
use aarch64_cpu::registers::{CurrentEL, VBAR_EL1, VBAR_EL2};
use core::arch::global_asm;
use tock_registers::interfaces::{Readable, Writeable};

global_asm!(
    r#"
.macro AARCH64_RT_VECTOR kind, el
.balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       aarch64_rt_common_\el
.endm

.macro AARCH64_RT_TABLE el
.section .text.vectors, "ax"
.balign 0x800
.global aarch64_rt_vectors_\el
aarch64_rt_vectors_\el:
    AARCH64_RT_VECTOR 0, \el
    AARCH64_RT_VECTOR 1, \el
    AARCH64_RT_VECTOR 2, \el
    AARCH64_RT_VECTOR 3, \el
    AARCH64_RT_VECTOR 4, \el
    AARCH64_RT_VECTOR 5, \el
    AARCH64_RT_VECTOR 6, \el
    AARCH64_RT_VECTOR 7, \el
    AARCH64_RT_VECTOR 8, \el
    AARCH64_RT_VECTOR 9, \el
    AARCH64_RT_VECTOR 10, \el
    AARCH64_RT_VECTOR 11, \el
    AARCH64_RT_VECTOR 12, \el
    AARCH64_RT_VECTOR 13, \el
    AARCH64_RT_VECTOR 14, \el
    AARCH64_RT_VECTOR 15, \el

aarch64_rt_common_\el:
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
    mrs     x2, elr_\el
    stp     x30, x2, [sp, #240]
    mrs     x3, spsr_\el
    mrs     x4, esr_\el
    stp     x3, x4, [sp, #256]
    mrs     x5, far_\el
    str     x5, [sp, #272]
    mov     x1, x0
    mov     x0, sp
    bl      aarch64_rt_exception
    ldp     x30, x2, [sp, #240]
    ldr     x3, [sp, #256]
    msr     elr_\el, x2
    msr     spsr_\el, x3
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
.endm

    AARCH64_RT_TABLE el1
    AARCH64_RT_TABLE el2
"#,
    frame = const FRAME_SIZE,
);

unsafe extern "C" {
    static aarch64_rt_vectors_el1: u8;
    static aarch64_rt_vectors_el2: u8;
}

static HANDLER: spin::Once<Handler> = spin::Once::new();

/// Installs `handler` and the vector table for the current exception level (EL1, or EL2).
/// Call first thing: until then a fault is a silent hang.
pub fn install(handler: Handler) {
    HANDLER.call_once(|| handler);
    if CurrentEL.read(CurrentEL::EL) == 2 {
        VBAR_EL2.set(core::ptr::addr_of!(aarch64_rt_vectors_el2) as u64);
    } else {
        VBAR_EL1.set(core::ptr::addr_of!(aarch64_rt_vectors_el1) as u64);
    }
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Called by the vector code for every exception.
#[unsafe(no_mangle)]
extern "C" fn aarch64_rt_exception(frame: &mut TrapFrame, vector: u64) {
    if vector.is_multiple_of(4) && semihosting::recover_from_probe(frame) {
        return;
    }
    match HANDLER.get() {
        Some(handler) => handler(frame, vector),
        // Unreachable in practice (install sets it first); never return into a fault.
        None => loop {
            core::hint::spin_loop();
        },
    }
}
