//! `update`: a signed image over the console into the inactive bank.
//!
//! Transport: the serial console, in frames (an ASCII header line, then the raw bytes) with a
//! CRC-32 each and one ACK per frame; the protocol itself (frame order, repeats, CRC, length) is
//! the host-tested [`bootstate::update::Receiver`], and the host side is `xtask/src/update.rs`.
//! Chosen because the console exists on every DPU from the first boot and needs no network
//! stack, which an update may be repairing; a TCP upload can feed the same receiver later.
//! This module is the glue: console reads with a silence timeout, and the flash calls.
//!
//! Staging needs the running bank committed; the target bank is marked Writing before its first
//! sector is erased (a power cut leaves a bank nobody boots). At `END` the image is verified in
//! flash exactly as dpuboot will verify its RAM copy; success activates it as a trial, failure
//! marks the bank bad with the reason. Bad frames are NAKed and counted; a silence aborts.
//! The boot-state lock is taken for each flash call only, and nothing prints while it is held.

use super::with_committed;
use crate::arch::aarch64::timer;
use crate::{console, println};
use bootstate::ControlError;
use bootstate::layout::BANK_SIZE;
use bootstate::update::{MAX_CHUNK, MAX_LINE, Receiver, Reply};

/// The public keys an image may be signed with: the same file dpuboot trusts (build.rs).
mod keys {
    include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));
}

/// Silence after which the update is abandoned.
const IDLE_TIMEOUT_MS: u64 = 15_000;

/// The sender was silent for [`IDLE_TIMEOUT_MS`].
struct Silence;

/// What [`read_line`] got.
enum Line {
    /// A line (in the buffer).
    Complete,
    /// A line longer than [`MAX_LINE`], dropped.
    Overlong,
}

/// Sleeps until an interrupt (the UART's receive interrupt or the 100 Hz tick) unless input is
/// already waiting. Spinning on the UART instead starves QEMU's I/O thread (every register
/// access takes its big lock) and made transfers ten times slower.
fn wait_for_input() {
    // A modal loop that waits with a deadline of its own is alive: keep the watchdog fed.
    crate::watchdog::check_in();
    let mask = crate::sync::InterruptMask::new();
    if !console::input_pending() {
        crate::arch::aarch64::cpu::wait_for_interrupt();
    }
    drop(mask);
}

/// Reads one non-empty line (CR or LF terminated) into `line`.
fn read_line(line: &mut heapless::Vec<u8, MAX_LINE>) -> Result<Line, Silence> {
    line.clear();
    let mut last = timer::counter_microseconds();
    let mut overlong = false;
    loop {
        match console::read_byte() {
            Some(b'\r' | b'\n') if line.is_empty() && !overlong => continue,
            Some(b'\r' | b'\n') if overlong => {
                line.clear();
                return Ok(Line::Overlong);
            }
            Some(b'\r' | b'\n') => return Ok(Line::Complete),
            Some(byte) => {
                last = timer::counter_microseconds();
                if line.push(byte).is_err() {
                    overlong = true;
                }
            }
            None => {
                if timer::counter_microseconds().saturating_sub(last) > IDLE_TIMEOUT_MS * 1000 {
                    return Err(Silence);
                }
                wait_for_input();
            }
        }
    }
}

/// Reads exactly `length` raw bytes (a frame's payload; at most [`MAX_CHUNK`]).
fn read_exact(out: &mut heapless::Vec<u8, MAX_CHUNK>, length: usize) -> Result<(), Silence> {
    out.clear();
    let mut last = timer::counter_microseconds();
    while out.len() < length.min(MAX_CHUNK) {
        match console::read_byte() {
            Some(byte) => {
                last = timer::counter_microseconds();
                let _ = out.push(byte);
            }
            None => {
                if timer::counter_microseconds().saturating_sub(last) > IDLE_TIMEOUT_MS * 1000 {
                    return Err(Silence);
                }
                wait_for_input();
            }
        }
    }
    Ok(())
}

/// `update <length>`: runs the receive loop until END, ABORT or silence.
pub fn run(length: u32) {
    if with_committed(|_, _| ()).is_none() {
        println!(
            "update: REFUSED: the running bank is not committed (updates need a committed boot)"
        );
        return;
    }
    let mut receiver = match Receiver::new(length, BANK_SIZE) {
        Ok(receiver) => receiver,
        Err(error) => {
            println!("update: REFUSED: {}", error);
            return;
        }
    };
    let mut writer = match with_committed(|running, control| control.stage_begin(running)) {
        Some(Ok(writer)) => writer,
        Some(Err(error)) => {
            println!("update: REFUSED: {}", error);
            return;
        }
        None => {
            println!("update: REFUSED: the running bank is no longer committed");
            return;
        }
    };
    let target = writer.bank();
    println!(
        "update: READY bank {}, {} bytes, frames of up to {} bytes",
        target, length, MAX_CHUNK
    );
    let started = timer::counter_microseconds();
    let mut line = heapless::Vec::<u8, MAX_LINE>::new();
    let mut chunk = heapless::Vec::<u8, MAX_CHUNK>::new();
    loop {
        let reply = match read_line(&mut line) {
            Ok(Line::Complete) => receiver.on_line(&line),
            Ok(Line::Overlong) => receiver.on_overlong_line(),
            Err(Silence) => {
                println!(
                    "update: ABORTED: no data for {} s after {} frame(s); {} console input overrun(s); bank {} stays unbootable (writing)",
                    IDLE_TIMEOUT_MS / 1000,
                    receiver.frames(),
                    console::input_errors().0,
                    target
                );
                return;
            }
        };
        let reply = match reply {
            Reply::ReadPayload { sequence, length } => {
                if read_exact(&mut chunk, length).is_err() {
                    println!(
                        "update: ABORTED: frame {} cut short ({} of {} bytes); {} console input overrun(s); bank {} stays unbootable (writing)",
                        sequence,
                        chunk.len(),
                        length,
                        console::input_errors().0,
                        target
                    );
                    return;
                }
                receiver.on_payload(&chunk)
            }
            other => other,
        };
        match reply {
            // Answered above; `on_payload` never asks for another payload.
            Reply::ReadPayload { .. } => {}
            Reply::Store { sequence } => {
                match with_committed(|_, control| control.stage_write(&mut writer, &chunk)) {
                    Some(Ok(())) => println!("ACK {} ok", sequence),
                    Some(Err(error)) => {
                        println!("update: FAILED: {}", error);
                        return;
                    }
                    None => {
                        println!("update: FAILED: the running bank is no longer committed");
                        return;
                    }
                }
            }
            // Our ACK was lost; the data is already written.
            Reply::Repeat { sequence } => println!("ACK {} ok", sequence),
            Reply::Nak { sequence, reason } => println!("NAK {} {}", sequence, reason),
            Reply::Complete { bytes } => {
                finish(writer, target, bytes, started);
                if receiver.naks() > 0 {
                    println!(
                        "update: {} frame(s) refused, {} overlong line(s)",
                        receiver.naks(),
                        receiver.overlong_lines()
                    );
                }
                return;
            }
            Reply::Aborted => {
                println!(
                    "update: ABORTED by the sender; bank {} stays unbootable (writing)",
                    target
                );
                return;
            }
            Reply::Failed(error) => {
                println!("update: REFUSED: {}", error);
                return;
            }
        }
    }
}

/// Every byte is in: verify the staged image and activate it as a trial.
fn finish(writer: bootstate::StagingWriter, target: bootstate::Bank, bytes: u32, started: u64) {
    let finished = with_committed(|_, control| {
        let result = control.stage_finish(writer, keys::TRUSTED_KEYS);
        let tries = control.record().trial_tries;
        let flash = control.flash_mut();
        (result, tries, flash.erases(), flash.programs())
    });
    let Some((result, tries, erases, programs)) = finished else {
        println!("update: FAILED: the running bank is no longer committed");
        return;
    };
    match result {
        Ok(image) => {
            println!(
                "update: OK bank {} v{} counter {} verified and activated as a trial ({} tries); 'reboot' to try it",
                target, image.version, image.security_counter, tries
            );
            println!(
                "update: {} bytes in {} ms, {} erase(s) and {} program(s) this boot",
                bytes,
                timer::counter_microseconds().saturating_sub(started) / 1000,
                erases,
                programs
            );
        }
        Err(ControlError::Verify(error)) => {
            println!("update: REFUSED: {}; bank {} marked bad", error, target)
        }
        Err(error) => println!("update: FAILED: {}", error),
    }
}
