//! PL011 UART register-level driver (ARM PrimeCell UART, DDI 0183G) over tock-registers.
//!
//! Polled transmit, FIFO receive, and the receive interrupt. Baud-rate programming needs the
//! reference clock, which the caller reads from the device tree (`clocks` -> `clock-frequency`);
//! without it the firmware's setting is kept (QEMU ignores the divisor anyway).

#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

use core::fmt;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Data register.
    DR [
        /// Received or transmitted character.
        DATA OFFSET(0) NUMBITS(8) [],
        /// Framing error on the received character.
        FE OFFSET(8) NUMBITS(1) [],
        /// Parity error on the received character.
        PE OFFSET(9) NUMBITS(1) [],
        /// Break condition on the received character.
        BE OFFSET(10) NUMBITS(1) [],
        /// Receive FIFO overrun.
        OE OFFSET(11) NUMBITS(1) []
    ],
    /// Flag register.
    FR [
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Receive FIFO full.
        RXFF OFFSET(6) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    /// Integer baud-rate divisor.
    IBRD [
        /// Integer part of the divisor.
        BAUD_DIVINT OFFSET(0) NUMBITS(16) []
    ],
    /// Fractional baud-rate divisor.
    FBRD [
        /// Fractional part of the divisor, in 1/64ths.
        BAUD_DIVFRAC OFFSET(0) NUMBITS(6) []
    ],
    /// Line control.
    LCR_H [
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [
            /// 8 data bits.
            EightBit = 0b11
        ],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    /// Control register.
    CR [
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) []
    ],
    /// Interrupt FIFO level select.
    IFLS [
        /// Receive interrupt FIFO level.
        RXIFLSEL OFFSET(3) NUMBITS(3) [
            /// Receive FIFO becomes >= 1/8 full.
            OneEighth = 0b000
        ]
    ],
    /// Interrupt mask set/clear, raw and masked status, and clear: same layout.
    INT [
        /// Overrun error.
        OE OFFSET(10) NUMBITS(1) [],
        /// Break error.
        BE OFFSET(9) NUMBITS(1) [],
        /// Parity error.
        PE OFFSET(8) NUMBITS(1) [],
        /// Framing error.
        FE OFFSET(7) NUMBITS(1) [],
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) [],
        /// Transmit.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive.
        RX OFFSET(4) NUMBITS(1) []
    ]
}

register_structs! {
    /// PL011 register block.
    #[allow(non_snake_case)]
    pub RegisterBlock {
        (0x00 => DR: ReadWrite<u32, DR::Register>),
        (0x04 => RSR_ECR: ReadWrite<u32>),
        (0x08 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => IBRD: ReadWrite<u32, IBRD::Register>),
        (0x28 => FBRD: ReadWrite<u32, FBRD::Register>),
        (0x2c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => IFLS: ReadWrite<u32, IFLS::Register>),
        (0x38 => IMSC: ReadWrite<u32, INT::Register>),
        (0x3c => RIS: ReadOnly<u32, INT::Register>),
        (0x40 => MIS: ReadOnly<u32, INT::Register>),
        (0x44 => ICR: WriteOnly<u32, INT::Register>),
        (0x48 => @END),
    }
}

/// Console line speed.
pub const BAUD_RATE: u32 = 115_200;

/// Receive-side errors reported with a character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReceiveError {
    /// The receive FIFO overflowed; characters were lost before this one.
    Overrun,
    /// Framing, parity or break error on this character.
    LineError,
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            ReceiveError::Overrun => "receive FIFO overrun (characters lost)",
            ReceiveError::LineError => "framing, parity or break error",
        })
    }
}

/// A PL011 UART.
///
/// Holds the base address rather than a reference so the driver can live in a `static` behind
/// a lock (register blocks are interior-mutable and so not `Sync`).
pub struct Pl011 {
    base: usize,
}

impl Pl011 {
    /// Wraps the PL011 at `base`.
    ///
    /// # Safety
    /// `base` must be the address of a PL011 register block, mapped as device memory for the
    /// lifetime of the program, and no other code may program this UART concurrently.
    pub unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    fn registers(&self) -> &RegisterBlock {
        // SAFETY: `new`'s contract: `base` is a live, mapped PL011 register block for the whole
        // program, so the reference is valid for as long as `self` exists.
        unsafe { &*(self.base as *const RegisterBlock) }
    }

    /// Programs 8N1 at [`BAUD_RATE`] (when the reference clock is known), enables the FIFOs,
    /// transmit and receive, and the receive interrupts (the GIC line stays the caller's choice).
    pub fn init(&self, reference_clock_hz: Option<u32>) {
        // Let the transmitter drain before reprogramming, so early output is not cut.
        self.flush();
        self.registers().CR.set(0);
        self.registers().ICR.set(0x7ff);
        if let Some(clock) = reference_clock_hz.filter(|&hz| hz > 0) {
            // divisor = clock / (16 * baud), fraction in 1/64ths rounded to nearest.
            let divisor_x64 =
                (u64::from(clock) * 4 + u64::from(BAUD_RATE) / 2) / u64::from(BAUD_RATE);
            let integer = (divisor_x64 >> 6).clamp(1, 0xffff) as u32;
            let fraction = (divisor_x64 & 0x3f) as u32;
            self.registers().IBRD.write(IBRD::BAUD_DIVINT.val(integer));
            self.registers()
                .FBRD
                .write(FBRD::BAUD_DIVFRAC.val(fraction));
        }
        self.registers()
            .LCR_H
            .write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        self.registers().IFLS.write(IFLS::RXIFLSEL::OneEighth);
        self.registers().IMSC.write(INT::RX::SET + INT::RT::SET);
        self.registers()
            .CR
            .write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.registers().FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers().DR.write(DR::DATA.val(u32::from(byte)));
    }

    /// Sends every byte of `bytes`.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_byte(byte);
        }
    }

    /// Waits until every queued byte has left the shift register.
    pub fn flush(&self) {
        while self.registers().FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// Takes one received byte, if any. Line errors are reported with the byte they came with.
    pub fn read_byte(&self) -> Option<Result<u8, ReceiveError>> {
        if self.registers().FR.is_set(FR::RXFE) {
            return None;
        }
        let word = self.registers().DR.extract();
        let byte = word.read(DR::DATA) as u8;
        if word.is_set(DR::OE) {
            Some(Err(ReceiveError::Overrun))
        } else if word.is_set(DR::FE) || word.is_set(DR::PE) || word.is_set(DR::BE) {
            Some(Err(ReceiveError::LineError))
        } else {
            Some(Ok(byte))
        }
    }

    /// Enables or masks the receive and receive-timeout interrupts (flow control: while masked,
    /// bytes wait in the FIFO and QEMU/the line holds the rest back instead of losing them).
    pub fn set_receive_interrupts(&self, enabled: bool) {
        if enabled {
            self.registers().IMSC.write(INT::RX::SET + INT::RT::SET);
        } else {
            self.registers().IMSC.set(0);
        }
    }

    /// The flag, interrupt mask and raw interrupt registers, for a stall report.
    pub fn interrupt_registers(&self) -> (u32, u32, u32) {
        (
            self.registers().FR.get(),
            self.registers().IMSC.get(),
            self.registers().RIS.get(),
        )
    }

    /// Clears the receive and receive-timeout interrupts (call before draining the FIFO, so a
    /// byte that arrives during the drain raises the interrupt again).
    pub fn acknowledge_receive_interrupt(&self) {
        self.registers()
            .ICR
            .write(INT::RX::SET + INT::RT::SET + INT::OE::SET);
    }
}

impl fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.write_bytes(text.as_bytes());
        Ok(())
    }
}
