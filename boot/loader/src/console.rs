//! The serial console: a PL011 found in the device tree, polled (dpuboot takes no interrupts).

use core::fmt;
use core::sync::atomic::{AtomicUsize, Ordering};
use pl011::Pl011;

/// Base address of the console UART; 0 until `init` (output before that is dropped).
static BASE: AtomicUsize = AtomicUsize::new(0);

fn uart() -> Option<Pl011> {
    let base = BASE.load(Ordering::Relaxed);
    // SAFETY: `init`'s contract: a non-zero base is a PL011 nobody else drives; dpuboot runs on
    // one core without interrupts, so accesses never interleave.
    (base != 0).then(|| unsafe { Pl011::new(base) })
}

/// Starts the console on the PL011 at `base`.
///
/// # Safety
/// `base` must be the address of a PL011 register block (MMU off: physical), used only here.
pub unsafe fn init(base: usize, clock_hz: Option<u32>) {
    BASE.store(base, Ordering::Relaxed);
    if let Some(uart) = uart() {
        uart.init(clock_hz);
    }
}

/// Takes one received byte, if any (line errors are dropped: noise is noise).
pub fn read_byte() -> Option<u8> {
    uart()?.read_byte().and_then(Result::ok)
}

/// Waits until everything written has left the UART.
pub fn flush() {
    if let Some(uart) = uart() {
        uart.flush();
    }
}

/// `core::fmt` output to the console, with `\n` sent as CR LF.
pub struct Writer;

impl fmt::Write for Writer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if let Some(uart) = uart() {
            for byte in text.bytes() {
                if byte == b'\n' {
                    uart.write_byte(b'\r');
                }
                uart.write_byte(byte);
            }
        }
        Ok(())
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => {{
        let _ = core::fmt::Write::write_fmt(&mut $crate::console::Writer, format_args!($($arg)*));
    }};
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => {{
        $crate::print!($($arg)*);
        $crate::print!("\n");
    }};
}
