//! Exception vectors and the fault report.
//!
//! Installed first thing: every exception saves the registers into a [`TrapFrame`] and calls
//! `dpuboot_exception`. The semihosting probe's trap is skipped; anything else is a fault:
//! the report names the class, prints ESR, ELR, FAR and the registers, and dpuboot stops
//! (semihosting status [`crate::STATUS_FAULT`] in tests, otherwise parked: no reboot loop).

use aarch64_cpu::registers::{CurrentEL, VBAR_EL1, VBAR_EL2};
use core::arch::global_asm;
use tock_registers::interfaces::{Readable, Writeable};

/// Registers saved on exception entry, in the order the vector code stores them.
#[repr(C)]
pub struct TrapFrame {
    /// x0..x30.
    pub registers: [u64; 31],
    /// Exception link register.
    pub elr: u64,
    /// Saved program status.
    pub spsr: u64,
    /// Exception syndrome.
    pub esr: u64,
    /// Fault address.
    pub far: u64,
    padding: u64,
}

const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 288 && FRAME_SIZE.is_multiple_of(16));

global_asm!(
    r#"
.macro DPUBOOT_VECTOR kind, el
.balign 0x80
    sub     sp, sp, #{frame}
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       dpuboot_exception_common_\el
.endm

.macro DPUBOOT_TABLE el
.section .text.vectors, "ax"
.balign 0x800
.global dpuboot_vectors_\el
dpuboot_vectors_\el:
    DPUBOOT_VECTOR 0, \el
    DPUBOOT_VECTOR 1, \el
    DPUBOOT_VECTOR 2, \el
    DPUBOOT_VECTOR 3, \el
    DPUBOOT_VECTOR 4, \el
    DPUBOOT_VECTOR 5, \el
    DPUBOOT_VECTOR 6, \el
    DPUBOOT_VECTOR 7, \el
    DPUBOOT_VECTOR 8, \el
    DPUBOOT_VECTOR 9, \el
    DPUBOOT_VECTOR 10, \el
    DPUBOOT_VECTOR 11, \el
    DPUBOOT_VECTOR 12, \el
    DPUBOOT_VECTOR 13, \el
    DPUBOOT_VECTOR 14, \el
    DPUBOOT_VECTOR 15, \el

dpuboot_exception_common_\el:
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
    bl      dpuboot_exception
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

    DPUBOOT_TABLE el1
    DPUBOOT_TABLE el2
"#,
    frame = const FRAME_SIZE,
);

unsafe extern "C" {
    static dpuboot_vectors_el1: u8;
    static dpuboot_vectors_el2: u8;
}

/// Installs the vector table for the level dpuboot runs at (EL1 on plain `virt`, EL2 with
/// `virtualization=on`; the kernel does its own EL2 -> EL1 drop).
pub fn install() {
    if CurrentEL.read(CurrentEL::EL) == 2 {
        VBAR_EL2.set(core::ptr::addr_of!(dpuboot_vectors_el2) as u64);
    } else {
        VBAR_EL1.set(core::ptr::addr_of!(dpuboot_vectors_el1) as u64);
    }
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// The exception class in words (ARM ARM D17.2.37, ESR_ELx.EC).
fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x07 => "FP/SIMD access trapped",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "system register access trapped",
        0x20 | 0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 | 0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x3c => "BRK instruction",
        _ => "other",
    }
}

const KINDS: [&str; 4] = ["synchronous", "IRQ", "FIQ", "SError"];

#[unsafe(no_mangle)]
extern "C" fn dpuboot_exception(frame: &mut TrapFrame, kind: u64) {
    if kind.is_multiple_of(4) && crate::semihosting::recover_from_probe(frame.esr, &mut frame.elr) {
        return;
    }
    let ec = (frame.esr >> 26) & 0x3f;
    crate::println!(
        "\n*** dpuboot: unexpected {} exception: {} (EC {:#04x})",
        KINDS[(kind % 4) as usize],
        class_name(ec),
        ec
    );
    crate::println!(
        "    ESR {:#018x}  ELR {:#018x}  FAR {:#018x}  SPSR {:#010x}",
        frame.esr,
        frame.elr,
        frame.far,
        frame.spsr
    );
    for (index, pair) in frame.registers.chunks(4).enumerate() {
        crate::print!("   ");
        for (offset, value) in pair.iter().enumerate() {
            crate::print!(" x{:<2} {:#018x}", index * 4 + offset, value);
        }
        crate::println!();
    }
    crate::stop(crate::STATUS_FAULT)
}
