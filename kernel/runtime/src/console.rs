//! Console output and input on the PL011: text for people, defmt frames for the host decoder.
//!
//! Before the device tree has told us where the UART is, output goes to an early buffer that is
//! replayed once the UART is up. Text and defmt frames share the UART (see `docs/logging.md`): a
//! frame is sent as `0xFF 0x00` + rzcobs bytes + `0x00`, and text never contains `0xFF`.
//! Received bytes are drained by the UART interrupt into a ring the poll loop reads.

use crate::sync::{IrqSafeMutex, Rank};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use heapless::Deque;
use pl011::Pl011;

/// Bytes of early output kept until the UART is known.
const EARLY_BUFFER_SIZE: usize = 4096;
/// Received bytes buffered between the interrupt and the poll loop.
const INPUT_RING_SIZE: usize = 1024;

struct Output {
    uart: Option<Pl011>,
    early: Deque<u8, EARLY_BUFFER_SIZE>,
    early_dropped: usize,
}

impl Output {
    fn write(&mut self, bytes: &[u8]) {
        match &self.uart {
            Some(uart) => uart.write_bytes(bytes),
            None => {
                for &byte in bytes {
                    if self.early.push_back(byte).is_err() {
                        self.early_dropped += 1;
                    }
                }
            }
        }
    }
}

static OUTPUT: IrqSafeMutex<Output> = IrqSafeMutex::ranked(
    "console output",
    Rank::ConsoleOutput,
    Output {
        uart: None,
        early: Deque::new(),
        early_dropped: 0,
    },
);
static INPUT: IrqSafeMutex<Deque<u8, INPUT_RING_SIZE>> =
    IrqSafeMutex::ranked("console input", Rank::ConsoleInput, Deque::new());
/// The UART's base address, for the fault path that must not take a lock.
static EMERGENCY_BASE: AtomicUsize = AtomicUsize::new(0);
/// Receive interrupts are masked because the ring was full.
static RECEIVE_MASKED: AtomicBool = AtomicBool::new(false);
/// The UART's receive interrupt is routed to [`on_interrupt`]: [`read_byte`] then leaves the
/// UART alone while the ring is empty (each register access is a costly exit under QEMU TCG,
/// and the poll loop asks on every pass).
static INTERRUPT_DRIVEN: AtomicBool = AtomicBool::new(false);
/// Counter time (microseconds) of the last backstop look at the FIFO (see [`read_byte`]).
static LAST_BACKSTOP: AtomicU64 = AtomicU64::new(0);
/// How often [`read_byte`] looks at the FIFO itself while interrupt-driven.
const BACKSTOP_MICROSECONDS: u64 = 1_000;
/// Times the backstop found bytes the receive interrupt had not delivered.
static BACKSTOP_FINDS: AtomicU32 = AtomicU32::new(0);
/// Bytes the UART itself lost (its FIFO overflowed).
static INPUT_OVERRUNS: AtomicU32 = AtomicU32::new(0);
/// Line errors (framing, parity, break, FIFO overrun) reported by the UART.
static LINE_ERRORS: AtomicU32 = AtomicU32::new(0);

/// Starts the UART at `base` and replays the early buffer.
///
/// # Safety
/// `base` must be a PL011 register block mapped as device memory for the rest of the program,
/// used by no other code.
pub unsafe fn init(base: usize, clock_hz: Option<u32>) {
    // SAFETY: forwarded from this function's contract.
    let uart = unsafe { Pl011::new(base) };
    uart.init(clock_hz);
    let mut output = OUTPUT.lock();
    let (first, second) = output.early.as_slices();
    uart.write_bytes(first);
    uart.write_bytes(second);
    if output.early_dropped > 0 {
        let _ = write!(
            PlainUart(&uart),
            "[{} early bytes dropped]\r\n",
            output.early_dropped
        );
    }
    output.early.clear();
    output.uart = Some(uart);
    EMERGENCY_BASE.store(base, Ordering::SeqCst);
}

struct PlainUart<'a>(&'a Pl011);

impl Write for PlainUart<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.write_bytes(text.as_bytes());
        Ok(())
    }
}

/// Writes raw bytes (used by the defmt logger for whole frames).
pub fn write_bytes(bytes: &[u8]) {
    OUTPUT.lock().write(bytes);
}

/// Formats text to the console, turning `\n` into `\r\n` for terminals. (`track_caller`: a
/// lock-order panic in debug builds names the `println!` that printed under a lock.)
#[track_caller]
pub fn write_fmt(arguments: fmt::Arguments<'_>) {
    struct Translating<'a>(&'a mut Output);
    impl Write for Translating<'_> {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            for (index, piece) in text.split('\n').enumerate() {
                if index > 0 {
                    self.0.write(b"\r\n");
                }
                self.0.write(piece.as_bytes());
            }
            Ok(())
        }
    }
    struct Recording<'a>(Translating<'a>);
    impl Write for Recording<'_> {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            // The management API's `GET /v1/logs` serves the recent lines.
            crate::api::note_console_text(text);
            self.0.write_str(text)
        }
    }
    let mut output = OUTPUT.lock();
    let _ = Recording(Translating(&mut output)).write_fmt(arguments);
}

/// `print!` to the console.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => { $crate::console::write_fmt(format_args!($($argument)*)) };
}

/// `println!` to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($argument:tt)*) => { $crate::console::write_fmt(format_args!("{}\n", format_args!($($argument)*))) };
}

/// Writes straight to the UART without locks, for fault and panic reports (the interrupted code
/// may hold the console lock). Falls back to the early buffer before the UART is up.
pub struct EmergencyWriter;

impl Write for EmergencyWriter {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let base = EMERGENCY_BASE.load(Ordering::SeqCst);
        if base == 0 {
            if let Some(mut output) = OUTPUT.try_lock() {
                output.write(text.as_bytes());
            }
            return Ok(());
        }
        // SAFETY: `base` was validated and mapped by `init`; concurrent use can interleave
        // characters but cannot break memory safety (register writes only).
        let uart = unsafe { Pl011::new(base) };
        uart.write_bytes(text.as_bytes());
        Ok(())
    }
}

/// Interrupt handler for the UART: drain the receive FIFO into the ring, acknowledge.
pub fn on_interrupt() {
    let output = OUTPUT.lock();
    let Some(uart) = &output.uart else { return };
    let mut input = INPUT.lock();
    // Acknowledge first: a byte arriving while we drain raises the interrupt again (acknowledging
    // after the drain could clear an interrupt for a byte still in the FIFO).
    uart.acknowledge_receive_interrupt();
    while !input.is_full() {
        match uart.read_byte() {
            None => break,
            Some(Ok(byte)) => {
                let _ = input.push_back(byte);
            }
            Some(Err(pl011::ReceiveError::Overrun)) => {
                INPUT_OVERRUNS.fetch_add(1, Ordering::Relaxed);
            }
            Some(Err(pl011::ReceiveError::LineError)) => {
                LINE_ERRORS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Ring full: leave the rest in the FIFO and mask the interrupt until the loop makes room,
    // so input is held back rather than lost (and a level interrupt cannot storm).
    let full = input.is_full();
    uart.set_receive_interrupts(!full);
    RECEIVE_MASKED.store(full, Ordering::Relaxed);
}

/// The UART's receive interrupt now reaches [`on_interrupt`]: enables it and stops polling the
/// FIFO from [`read_byte`].
pub fn set_interrupt_driven() {
    INTERRUPT_DRIVEN.store(true, Ordering::Relaxed);
    // Takes what is already in the FIFO and unmasks the receive interrupts.
    on_interrupt();
}

/// Takes one received byte, if any. Without a receive interrupt it also polls the FIFO, so
/// input works then too; with one, an empty ring costs no register access.
pub fn read_byte() -> Option<u8> {
    // The guard must be gone before `on_interrupt` takes OUTPUT then INPUT (lock order; an
    // `if let` on `INPUT.lock()` would keep it for the whole block and deadlock).
    let byte = INPUT.lock().pop_front();
    if let Some(byte) = byte {
        if RECEIVE_MASKED.load(Ordering::Relaxed) {
            // Room again: take what waited in the FIFO and unmask.
            on_interrupt();
        }
        return Some(byte);
    }
    if INTERRUPT_DRIVEN.load(Ordering::Relaxed) {
        // A backstop, at most once a millisecond (one register read when the FIFO is empty),
        // for a receive interrupt that comes late or not at all: input then waits a
        // millisecond, not for ever. (It was added for a console upload that stalled for
        // good under load; that stall's cause was QEMU's main loop losing the tick, see
        // `flashbus.rs`, but the look costs little and `poweroff` reports what it finds.)
        let now = crate::arch::aarch64::timer::counter_microseconds();
        if now.saturating_sub(LAST_BACKSTOP.load(Ordering::Relaxed)) < BACKSTOP_MICROSECONDS {
            return None;
        }
        LAST_BACKSTOP.store(now, Ordering::Relaxed);
        on_interrupt();
        let byte = INPUT.lock().pop_front();
        if byte.is_some() {
            BACKSTOP_FINDS.fetch_add(1, Ordering::Relaxed);
        }
        return byte;
    }
    on_interrupt();
    INPUT.lock().pop_front()
}

/// Times the once-a-millisecond look at the FIFO found bytes no interrupt had delivered.
pub fn backstop_finds() -> u32 {
    BACKSTOP_FINDS.load(Ordering::Relaxed)
}

/// The receive path's state, for a stall report (taken before printing: printing holds the
/// output lock these reads need).
pub struct ReceiveState {
    ring: usize,
    masked: bool,
    interrupt_driven: bool,
    registers: Option<(u32, u32, u32)>,
}

/// A snapshot of the receive path now.
pub fn receive_state() -> ReceiveState {
    let ring = INPUT.lock().len();
    let registers = OUTPUT
        .lock()
        .uart
        .as_ref()
        .map(|uart| uart.interrupt_registers());
    ReceiveState {
        ring,
        masked: RECEIVE_MASKED.load(Ordering::Relaxed),
        interrupt_driven: INTERRUPT_DRIVEN.load(Ordering::Relaxed),
        registers,
    }
}

/// `ring 12 bytes, receive masked for a full ring: no, interrupt-driven: yes, FR 0x90 IMSC
/// 0x50 RIS 0x0, late receives 0`.
impl fmt::Display for ReceiveState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let yes_no = |value: bool| if value { "yes" } else { "no" };
        write!(
            formatter,
            "ring {} bytes, receive masked for a full ring: {}, interrupt-driven: {}",
            self.ring,
            yes_no(self.masked),
            yes_no(self.interrupt_driven),
        )?;
        if let Some((flags, mask, raw)) = self.registers {
            write!(
                formatter,
                ", FR {:#x} IMSC {:#x} RIS {:#x}",
                flags, mask, raw
            )?;
        }
        write!(formatter, ", late receives {}", backstop_finds())
    }
}

/// Whether the console UART is up (a jumpstart health signal).
pub fn is_up() -> bool {
    EMERGENCY_BASE.load(Ordering::SeqCst) != 0
}

/// Bytes the UART's FIFO lost (overrun), and line errors.
pub fn input_errors() -> (u32, u32) {
    (
        INPUT_OVERRUNS.load(Ordering::Relaxed),
        LINE_ERRORS.load(Ordering::Relaxed),
    )
}

/// Whether received bytes are waiting (checked with IRQs masked before sleeping).
pub fn input_pending() -> bool {
    !INPUT.lock().is_empty()
}
