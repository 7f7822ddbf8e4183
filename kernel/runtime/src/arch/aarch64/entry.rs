//! Kernel entry: the arm64 Image header, core parking, and the hand-over to Rust.
//!
//! The first 64 bytes are the arm64 "booti" header (Linux `Documentation/arch/arm64/booting.rst`):
//! QEMU's `-kernel` loader and U-Boot's `booti` read `text_offset`, `image_size` and `flags` from
//! it and enter at offset 0 with x0 = physical address of the device tree blob. The assembly below
//! does only what cannot be done in Rust: park secondary cores, allow FP/SIMD (compiled Rust uses
//! those registers), set the stack and clear BSS. The exception-level switch is in Rust.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.boot.header, "ax"
.global _start
_start:
    b       primary_entry           // code0: branch past the header
    .long   0                       // code1
    .quad   __kernel_text_offset    // text_offset, from kernel.ld
    .quad   __image_size            // image_size: includes BSS and the boot stack
    .quad   0x2                     // flags: little endian, 4 KiB pages, base near DRAM start
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5: no PE/COFF header

.section .text.boot, "ax"
primary_entry:
    mov     x19, x0                 // device tree blob, per the booti protocol
    // Only the core with affinity 0.0.0.0 runs the kernel; others wait to be invited (PSCI later).
    mrs     x1, mpidr_el1
    mov     x2, #0xffffff
    movk    x2, #0xff, lsl #32
    and     x1, x1, x2
    cbnz    x1, park_core

    mrs     x20, CurrentEL
    lsr     x20, x20, #2
    cmp     x20, #2
    b.ne    1f
    // At EL2: do not trap FP/SIMD (CPTR_EL2.TFP = 0, RES1 bits set).
    mov     x1, #0x33ff
    msr     cptr_el2, x1
1:
    // EL1 FP/SIMD on (CPACR_EL1.FPEN = 0b11); EL1 code is reached at EL1 or after the EL2 drop.
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    isb

    adrp    x1, __boot_stack_top
    add     x1, x1, :lo12:__boot_stack_top
    mov     sp, x1

    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
2:  cmp     x1, x2
    b.hs    3f
    stp     xzr, xzr, [x1], #16
    b       2b
3:
    mov     x0, x19
    mov     x1, x20
    bl      kernel_entry
park_core:
    wfe
    b       park_core
"#
);
