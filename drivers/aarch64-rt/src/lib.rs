//! aarch64 CPU support shared by dpuboot and the kernel: vectors, fault decoding, semihosting.
//!
//! - [`install`] points VBAR at a vector table for the current exception level (EL1, or EL2 when
//!   dpuboot runs under `virtualization=on`). Every exception saves the registers into a
//!   [`TrapFrame`]; the semihosting probe's trap is skipped, everything else goes to the handler
//!   the binary registered (the kernel routes IRQs, both report faults).
//! - [`exception_class_name`], [`fault_status_name`] and [`write_report`] turn ESR/ELR/FAR into a
//!   report in words (ARM ARM D17.2.37).
//! - [`semihosting`]: probe once, then exit QEMU with a status in tests.
//!
//! The decoding is plain Rust and host-tested; the assembly is built for aarch64 only.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod semihosting;
#[cfg(target_arch = "aarch64")]
mod vectors;

use core::fmt::{self, Write};

#[cfg(target_arch = "aarch64")]
pub use vectors::install;

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

/// Bytes the vector code reserves on the stack for a [`TrapFrame`].
pub const FRAME_SIZE: usize = core::mem::size_of::<TrapFrame>();
const _: () = assert!(FRAME_SIZE == 288 && FRAME_SIZE.is_multiple_of(16));

/// What the binary does with an exception: `vector` is the table slot (0..=15, see
/// [`VECTOR_NAMES`]); return to resume at `frame.elr`.
pub type Handler = fn(frame: &mut TrapFrame, vector: u64);

/// Vector table slot of an IRQ taken at the current level on SP_ELx.
pub const VECTOR_IRQ_CURRENT: u64 = 5;

/// Vector names, by table slot.
pub const VECTOR_NAMES: [&str; 16] = [
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

/// The exception class (ESR.EC) in words.
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
pub fn fault_status_name(esr: u64) -> &'static str {
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

/// Writes the fault report: class in words, vector, ESR fields, the faulting access for aborts,
/// ELR/SPSR/FAR and every register.
pub fn write_report(
    out: &mut dyn Write,
    title: &str,
    frame: &TrapFrame,
    vector: u64,
) -> fmt::Result {
    let class = (frame.esr >> 26) & 0x3f;
    write!(
        out,
        "\r\n*** {title}: {}\r\n    vector: {}\r\n    ESR {:#018x} (EC {:#04x}, IL {}, ISS {:#09x})\r\n",
        exception_class_name(frame.esr),
        VECTOR_NAMES.get(vector as usize).copied().unwrap_or("?"),
        frame.esr,
        class,
        (frame.esr >> 25) & 1,
        frame.esr & 0x1ff_ffff,
    )?;
    if matches!(class, 0x20 | 0x21 | 0x24 | 0x25) {
        let is_data = class >= 0x24;
        let access = match (is_data, (frame.esr >> 6) & 1 == 1) {
            (false, _) => "instruction fetch",
            (true, true) => "write",
            (true, false) => "read",
        };
        write!(
            out,
            "    fault: {} on {} (FAR {:#018x})\r\n",
            fault_status_name(frame.esr),
            access,
            frame.far
        )?;
    }
    write!(
        out,
        "    ELR {:#018x}  SPSR {:#018x}  FAR {:#018x}\r\n",
        frame.elr, frame.spsr, frame.far
    )?;
    for (index, pair) in frame.registers.chunks(2).enumerate() {
        write!(out, "    x{:<2} {:#018x}", index * 2, pair[0])?;
        if let Some(second) = pair.get(1) {
            write!(out, "  x{:<2} {:#018x}", index * 2 + 1, second)?;
        }
        out.write_str("\r\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    fn frame(esr: u64, far: u64) -> TrapFrame {
        TrapFrame {
            registers: [7; 31],
            elr: 0x4020_1000,
            spsr: 0x3c5,
            esr,
            far,
            _padding: 0,
        }
    }

    #[test]
    fn data_abort_report_names_everything() {
        let mut out = String::new();
        write_report(
            &mut out,
            "FATAL EXCEPTION",
            &frame(0x9600_0005, 0x7f_ffff_fff8),
            4,
        )
        .unwrap();
        assert!(out.contains("*** FATAL EXCEPTION: data abort"));
        assert!(out.contains("vector: synchronous, current EL, SP_ELx"));
        assert!(out.contains("ESR 0x0000000096000005 (EC 0x25"));
        assert!(out.contains("translation fault on read (FAR 0x0000007ffffffff8)"));
        assert!(out.contains("x30 0x0000000000000007"));
    }

    #[test]
    fn write_and_instruction_aborts() {
        let mut out = String::new();
        write_report(&mut out, "F", &frame(0x9600_0047, 0), 4).unwrap();
        assert!(out.contains("translation fault on write"));
        out.clear();
        write_report(&mut out, "F", &frame(0x8600_000f, 0), 4).unwrap();
        assert!(out.contains("instruction abort"));
        assert!(out.contains("permission fault on instruction fetch"));
    }

    #[test]
    fn every_class_has_words_and_out_of_range_vectors_do_not_panic() {
        for class in 0..64u64 {
            assert!(!exception_class_name(class << 26).is_empty());
        }
        let mut out = String::new();
        write_report(&mut out, "F", &frame(0x0200_0000, 0), 99).unwrap();
        assert!(out.contains("unknown reason (undefined instruction)"));
        assert!(out.contains("vector: ?"));
    }
}
