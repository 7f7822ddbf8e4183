//! `update`: receives a signed image over the console and stages it into the inactive bank.
//!
//! Transport: the serial console, in frames (an ASCII header line, then the raw bytes) with a
//! CRC-32 each and one ACK per frame (the host side is `xtask/src/update.rs`, which documents
//! the protocol). Chosen because the console
//! exists on every DPU from the first boot and needs no network stack, which an update may be
//! repairing; a TCP upload on the management channel can feed the same staging calls later.
//!
//! Staging needs the running bank committed; the target bank is marked Writing before its first
//! sector is erased (a power cut leaves a bank nobody boots). At `END` the image is verified in
//! flash exactly as dpuboot will verify its RAM copy; success activates it as a trial, failure
//! marks the bank bad with the reason. Bad frames are NAKed and counted; a silence aborts.

use super::{Lease, ShowVersion, trusted_keys};
use crate::arch::aarch64::timer;
use crate::{console, println};
use bootstate::ControlError;
use bootstate::crc32::{crc32, crc32_continue};
use bootstate::layout::BANK_SIZE;

/// Largest frame payload in bytes. With one frame in flight, a whole frame (header included)
/// must fit the console's receive ring, or a stall while it arrives loses bytes.
const MAX_CHUNK: usize = 768;
/// Longest header line: "F <seq> <len> <crc>" or "END <crc>".
const MAX_LINE: usize = 64;
/// Silence after which the update is abandoned.
const IDLE_TIMEOUT_MS: u64 = 15_000;

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

/// Receive errors, counted and reported at the end.
#[derive(Default)]
struct Counters {
    naks: u32,
    overlong: u32,
}

/// Reads one line (CR or LF terminated) into `line`; `Err(())` on silence.
fn read_line(line: &mut heapless::Vec<u8, MAX_LINE>, counters: &mut Counters) -> Result<(), ()> {
    line.clear();
    let mut last = timer::counter_microseconds();
    let mut overlong = false;
    loop {
        match console::read_byte() {
            Some(b'\r' | b'\n') if line.is_empty() && !overlong => continue,
            Some(b'\r' | b'\n') => {
                if overlong {
                    counters.overlong += 1;
                    line.clear();
                }
                return Ok(());
            }
            Some(byte) => {
                last = timer::counter_microseconds();
                if line.push(byte).is_err() {
                    overlong = true;
                }
            }
            None => {
                if timer::counter_microseconds().saturating_sub(last) > IDLE_TIMEOUT_MS * 1000 {
                    return Err(());
                }
                wait_for_input();
            }
        }
    }
}

/// Reads exactly `length` raw bytes (a frame's payload); `Err(())` on silence.
fn read_exact(out: &mut heapless::Vec<u8, MAX_CHUNK>, length: usize) -> Result<(), ()> {
    out.clear();
    let mut last = timer::counter_microseconds();
    while out.len() < length {
        match console::read_byte() {
            Some(byte) => {
                last = timer::counter_microseconds();
                // `length <= MAX_CHUNK` was checked by the caller.
                let _ = out.push(byte);
            }
            None => {
                if timer::counter_microseconds().saturating_sub(last) > IDLE_TIMEOUT_MS * 1000 {
                    return Err(());
                }
                wait_for_input();
            }
        }
    }
    Ok(())
}

fn parse_u32(text: &[u8], radix: u32) -> Option<u32> {
    u32::from_str_radix(core::str::from_utf8(text).ok()?, radix).ok()
}

/// One parsed frame line.
enum Frame {
    Data {
        sequence: u32,
        length: u32,
        crc: u32,
    },
    End {
        crc: u32,
    },
    Abort,
    Garbage,
}

fn parse_frame(line: &[u8]) -> Frame {
    let mut words = line.split(|&byte| byte == b' ').filter(|w| !w.is_empty());
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some(b"F"), Some(sequence), Some(length), Some(crc)) if words.next().is_none() => {
            match (
                parse_u32(sequence, 10),
                parse_u32(length, 10),
                parse_u32(crc, 16),
            ) {
                (Some(sequence), Some(length), Some(crc)) => Frame::Data {
                    sequence,
                    length,
                    crc,
                },
                _ => Frame::Garbage,
            }
        }
        (Some(b"END"), Some(crc), None, None) => match parse_u32(crc, 16) {
            Some(crc) => Frame::End { crc },
            None => Frame::Garbage,
        },
        (Some(b"ABORT"), None, None, None) => Frame::Abort,
        _ => Frame::Garbage,
    }
}

/// `update <length>`: runs the receive loop until END, ABORT or silence.
pub fn run(length: u32) {
    // The boot control is lent out of STATE for the transfer: nothing prints under a lock.
    let lease = Lease::take();
    let Some(running) = lease.as_ref().and_then(Lease::committed) else {
        println!(
            "update: REFUSED: the running bank is not committed (updates need a committed boot)"
        );
        return;
    };
    if length == 0 || length > BANK_SIZE {
        println!(
            "update: REFUSED: length {} is not in 1..={} bytes",
            length, BANK_SIZE
        );
        return;
    }
    let Some(mut state) = lease else {
        return;
    };
    let Some(control) = state.control.as_mut() else {
        return;
    };
    let mut writer = match control.stage_begin(running) {
        Ok(writer) => writer,
        Err(error) => {
            println!("update: REFUSED: {:?}", error);
            return;
        }
    };
    let target = writer.bank();
    println!(
        "update: READY bank {:?}, {} bytes, frames of up to {} bytes",
        target, length, MAX_CHUNK
    );
    let started = timer::counter_microseconds();
    let mut counters = Counters::default();
    let mut line = heapless::Vec::<u8, MAX_LINE>::new();
    let mut chunk = heapless::Vec::<u8, MAX_CHUNK>::new();
    let mut expected: u32 = 0;
    let mut received: u32 = 0;
    let mut whole_crc: u32 = 0;
    loop {
        if read_line(&mut line, &mut counters).is_err() {
            println!(
                "update: ABORTED: no data for {} s after {} frame(s); {} console input overrun(s); bank {:?} stays unbootable (writing)",
                IDLE_TIMEOUT_MS / 1000,
                expected,
                console::input_errors().0,
                target
            );
            return;
        }
        match parse_frame(&line) {
            Frame::Data {
                sequence,
                length: frame_length,
                crc,
            } => {
                if frame_length == 0 || frame_length as usize > MAX_CHUNK {
                    counters.naks += 1;
                    println!(
                        "NAK {} frame length {} not in 1..={}",
                        sequence, frame_length, MAX_CHUNK
                    );
                    continue;
                }
                if read_exact(&mut chunk, frame_length as usize).is_err() {
                    println!(
                        "update: ABORTED: frame {} cut short ({} of {} bytes); {} console input overrun(s); bank {:?} stays unbootable (writing)",
                        sequence,
                        chunk.len(),
                        frame_length,
                        console::input_errors().0,
                        target
                    );
                    return;
                }
                if sequence + 1 == expected {
                    // Our ACK was lost; the data is already written.
                    println!("ACK {} ok", sequence);
                    continue;
                }
                if sequence != expected {
                    counters.naks += 1;
                    println!("NAK {} expected frame {}", sequence, expected);
                    continue;
                }
                if crc32(&chunk) != crc {
                    counters.naks += 1;
                    println!("NAK {} crc mismatch", sequence);
                    continue;
                }
                let fits = received
                    .checked_add(chunk.len() as u32)
                    .is_some_and(|end| end <= length);
                if !fits {
                    println!(
                        "update: REFUSED: more data than the announced {} bytes",
                        length
                    );
                    return;
                }
                if let Err(error) = control.stage_write(&mut writer, &chunk) {
                    println!("update: FAILED: flash error {:?}", error);
                    return;
                }
                received += chunk.len() as u32;
                whole_crc = crc32_continue(whole_crc, &chunk);
                expected += 1;
                println!("ACK {} ok", sequence);
            }
            Frame::End { crc } => {
                if received != length || crc != whole_crc {
                    println!(
                        "update: REFUSED: received {} of {} bytes, crc {:08x} vs {:08x}",
                        received, length, whole_crc, crc
                    );
                    return;
                }
                match control.stage_finish(writer, trusted_keys()) {
                    Ok(image) => {
                        let tries = control.record().trial_tries;
                        let flash = control.flash_mut();
                        println!(
                            "update: OK bank {:?} v{} counter {} verified and activated as a trial ({} tries); 'reboot' to try it",
                            target,
                            ShowVersion(image.version),
                            image.security_counter,
                            tries
                        );
                        println!(
                            "update: {} bytes in {} ms, {} erase(s) and {} program(s) this boot",
                            received,
                            (timer::counter_microseconds() - started) / 1000,
                            flash.erases(),
                            flash.programs()
                        );
                    }
                    Err(ControlError::Verify(error)) => println!(
                        "update: REFUSED: {:?} ({:?}); bank {:?} marked bad",
                        error.reason(),
                        error,
                        target
                    ),
                    Err(error) => println!("update: FAILED: {:?}", error),
                }
                if counters.naks + counters.overlong > 0 {
                    println!(
                        "update: {} frame(s) refused, {} overlong line(s)",
                        counters.naks, counters.overlong
                    );
                }
                return;
            }
            Frame::Abort => {
                println!(
                    "update: ABORTED by the sender; bank {:?} stays unbootable (writing)",
                    target
                );
                return;
            }
            Frame::Garbage => {
                counters.naks += 1;
                println!("NAK {} unreadable frame", expected);
            }
        }
    }
}
