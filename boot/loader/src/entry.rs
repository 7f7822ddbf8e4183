//! Reset entry and the jump to the kernel (the only assembly besides the vectors).
//!
//! At reset the CPU runs from flash0 at 0x0 with the MMU and caches off. The assembly parks
//! secondary cores, enables FP/SIMD (CPACR_EL1.FPEN, before any Rust runs: compiled code uses
//! the SIMD registers), sets the stack in RAM, copies .data from flash to RAM, clears .bss and
//! calls `dpuboot_main`. `enter_kernel` follows the arm64 booti protocol: x0 = DTB, x1..x3 = 0,
//! MMU and D-cache off, instruction cache invalidated for the freshly copied code.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.boot, "ax"
.global _start
_start:
    mov     x19, x0                 // a DTB pointer, if whoever started us passed one
    mrs     x1, mpidr_el1
    mov     x2, #0xffffff
    movk    x2, #0xff, lsl #32
    and     x1, x1, x2
    cbnz    x1, 9f

    mrs     x20, CurrentEL
    lsr     x20, x20, #2
    cmp     x20, #2
    b.ne    1f
    mov     x1, #0x33ff             // EL2: do not trap FP/SIMD
    msr     cptr_el2, x1
1:
    mov     x1, #(3 << 20)          // CPACR_EL1.FPEN = 0b11
    msr     cpacr_el1, x1
    isb

    ldr     x1, =__stack_top
    mov     sp, x1

    ldr     x1, =__data_load
    ldr     x2, =__data_start
    ldr     x3, =__data_end
2:  cmp     x2, x3
    b.hs    3f
    ldp     x4, x5, [x1], #16
    stp     x4, x5, [x2], #16
    b       2b
3:
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
4:  cmp     x1, x2
    b.hs    5f
    stp     xzr, xzr, [x1], #16
    b       4b
5:
    mov     x0, x19
    mov     x1, x20
    bl      dpuboot_main
9:  wfe
    b       9b
.ltorg

.section .text, "ax"
.balign 4
.global dpuboot_enter_kernel
dpuboot_enter_kernel:
    mov     x4, x0
    mov     x0, x1
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    dsb     sy
    ic      iallu
    dsb     sy
    isb
    br      x4
"#
);

unsafe extern "C" {
    fn dpuboot_enter_kernel(entry: usize, dtb: usize) -> !;
}

/// Jumps to an arm64 Image entry point with the booti register convention.
///
/// # Safety
/// `entry` must be the first instruction of a verified kernel Image copied to its load
/// address, and `dtb` the device tree blob's address; nothing of dpuboot is used afterwards.
pub unsafe fn enter_kernel(entry: usize, dtb: usize) -> ! {
    // SAFETY: per this function's contract.
    unsafe { dpuboot_enter_kernel(entry, dtb) }
}
