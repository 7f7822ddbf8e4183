//! The Shift+R window: a chance for an operator on the serial console to roll back.
//!
//! Opens for the record's `rollback_window_ms` (0 = off). `R` (Shift+R) asks
//! `Roll back to bank X (version)? [y/N]`; `y` performs `manual_rollback` (one record write, or
//! a refusal that writes nothing). Any other key, lower-case `r`, noise or silence boots
//! normally without writing flash.

use crate::platform::microseconds;
use crate::{Flash1, console, print, println};
use bootstate::{BootControl, RollbackOutcome};

/// How long the `[y/N]` question waits for an answer.
const ANSWER_TIMEOUT_US: u64 = 10_000_000;

/// Waits until `deadline_us` for a byte.
fn byte_until(deadline_us: u64) -> Option<u8> {
    while microseconds() < deadline_us {
        if let Some(byte) = console::read_byte() {
            return Some(byte);
        }
        core::hint::spin_loop();
    }
    None
}

/// Runs the window; returns whether a rollback was performed.
pub fn shift_r(control: &mut BootControl<Flash1>) -> bool {
    let record = *control.record();
    let window_ms = record.rollback_window_ms;
    if window_ms == 0 {
        return false;
    }
    let other = record.active.other();
    let target = *record.bank(other);
    println!(
        "Press Shift+R within {} ms to roll back to bank {}",
        window_ms, other
    );
    let deadline = microseconds() + u64::from(window_ms) * 1000;
    let mut ignored = 0u32;
    let pressed = loop {
        match byte_until(deadline) {
            Some(b'R') => break true,
            Some(_) => ignored += 1,
            None => break false,
        }
    };
    if !pressed {
        println!(
            "no rollback requested ({} other byte(s) ignored); booting normally",
            ignored
        );
        return false;
    }
    print!("Roll back to bank {} ({})? [y/N] ", other, target.version);
    let answer = byte_until(microseconds() + ANSWER_TIMEOUT_US);
    match answer {
        Some(byte) if byte.is_ascii_graphic() => println!("{}", byte as char),
        _ => println!(),
    }
    if !matches!(answer, Some(b'y' | b'Y')) {
        println!("rollback cancelled; booting normally");
        return false;
    }
    match control.manual_rollback() {
        Ok(RollbackOutcome::RolledBack { from, to }) => {
            println!("rolled back: bank {} -> bank {}", from, to);
            true
        }
        Ok(RollbackOutcome::Refused {
            target,
            state,
            below_floor,
        }) => {
            println!(
                "rollback refused: bank {} is {}{}",
                target,
                state,
                if below_floor {
                    " and below the anti-rollback floor"
                } else {
                    ""
                }
            );
            false
        }
        Err(error) => {
            println!("rollback failed: {}", error);
            false
        }
    }
}
