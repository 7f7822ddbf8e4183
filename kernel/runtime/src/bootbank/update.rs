//! `update`: a signed image over the console into the inactive bank.
//!
//! Transport: the serial console, in frames (an ASCII header line, then the raw bytes) with a
//! CRC-32 each and one ACK per frame; the protocol itself (frame order, repeats, CRC, length) is
//! the host-tested [`bootstate::update::Receiver`], and the host side is `xtask/src/update.rs`.
//! Chosen because the console exists on every DPU from the first boot and needs no network
//! stack, which an update may be repairing; a TCP upload can feed the same receiver later.
//! This module is the glue: a [`Session`] the poll loop feeds with console bytes, a silence
//! timeout measured by the counter, and the flash calls.
//!
//! The loop stays in charge: `update` only starts the session (`READY`); every pass then hands
//! it the bytes that arrived (the shell gets none while it runs), and it does at most one flash
//! program (256 bytes, so a 512-byte frame takes two passes, then its ACK) per pass, so
//! networking, the switch, the watchdog and the health window keep running. The one longer pass
//! is the last: at `END` the whole staged image is verified (hash and signature over the bank)
//! in that pass, since `BootControl::stage_finish` is one call.
//!
//! Staging needs the running bank committed; the target bank is marked Writing before its first
//! sector is erased (a power cut leaves a bank nobody boots). At `END` the image is verified in
//! flash exactly as dpuboot will verify its RAM copy; success activates it as a trial, failure
//! marks the bank bad with the reason. Bad frames are NAKed and counted; a silence aborts.
//! The boot-state lock is taken for each flash call only, and nothing prints while it is held.

use super::with_committed;
use crate::arch::aarch64::timer;
use crate::{console, println};
use bootstate::layout::BANK_SIZE;
use bootstate::update::{MAX_CHUNK, MAX_LINE, Receiver, Reply};
use bootstate::{Bank, ControlError, StagingWriter};

/// The public keys an image may be signed with: the same file dpuboot trusts (build.rs).
mod keys {
    include!(concat!(env!("OUT_DIR"), "/trusted_keys.rs"));
}

/// Silence after which the update is abandoned.
const IDLE_TIMEOUT_MS: u64 = 15_000;
/// Console bytes one pass takes at most: one header line and one frame's payload.
const BYTES_PER_PASS: usize = MAX_LINE + MAX_CHUNK;
/// Bytes bootstate programs per flash operation (its staging buffer): a frame's chunk goes to
/// the writer in slices ending on this boundary, so a pass does at most one flash program (and
/// the sector erase before it, at a sector's start). Under QEMU a program of this size takes
/// milliseconds (the driver programs word by word and QEMU writes each word to its file).
const PROGRAM_SLICE: usize = 256;

/// What one [`Session::poll`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No input arrived; the session waits (the loop may sleep).
    Waiting,
    /// Input was taken; the session goes on.
    Working,
    /// The update is over (its verdict printed): the console is the shell's again.
    Ended,
}

/// The frame payload being read.
#[derive(Clone, Copy)]
struct Awaiting {
    sequence: u32,
    length: usize,
}

/// One `update` in progress: the protocol receiver, the staging writer, and the partial line
/// or payload the console has delivered so far.
pub struct Session {
    receiver: Receiver,
    /// Taken at `END` by the verification.
    writer: Option<StagingWriter>,
    target: Bank,
    started: u64,
    /// Counter time of the last byte (or of the start): the silence timeout counts from here.
    last_input: u64,
    line: heapless::Vec<u8, MAX_LINE>,
    overlong: bool,
    /// `Some` while a frame's raw bytes are being read into `chunk`.
    awaiting: Option<Awaiting>,
    chunk: heapless::Vec<u8, MAX_CHUNK>,
    /// `Some` while a received chunk is being programmed, a slice per pass.
    storing: Option<Storing>,
}

/// The chunk being programmed: its frame, and how much of it is in the writer.
#[derive(Clone, Copy)]
struct Storing {
    sequence: u32,
    offset: usize,
}

/// `update <length>`: checks that an update may start and prints `READY` (or why not).
pub fn start(length: u32) -> Option<Session> {
    if with_committed(|_, _| ()).is_none() {
        println!(
            "update: REFUSED: the running bank is not committed (updates need a committed boot)"
        );
        return None;
    }
    let receiver = match Receiver::new(length, BANK_SIZE) {
        Ok(receiver) => receiver,
        Err(error) => {
            println!("update: REFUSED: {}", error);
            return None;
        }
    };
    let writer = match with_committed(|running, control| control.stage_begin(running)) {
        Some(Ok(writer)) => writer,
        Some(Err(error)) => {
            println!("update: REFUSED: {}", error);
            return None;
        }
        None => {
            println!("update: REFUSED: the running bank is no longer committed");
            return None;
        }
    };
    let target = writer.bank();
    println!(
        "update: READY bank {}, {} bytes, frames of up to {} bytes",
        target, length, MAX_CHUNK
    );
    let started = timer::counter_microseconds();
    Some(Session {
        receiver,
        writer: Some(writer),
        target,
        started,
        last_input: started,
        line: heapless::Vec::new(),
        overlong: false,
        awaiting: None,
        chunk: heapless::Vec::new(),
        storing: None,
    })
}

/// What handling one reply left to do.
enum Next {
    /// Keep reading in this pass.
    Read,
    /// A chunk went to flash: this pass has done its share.
    Yield,
    /// The update is over.
    Ended,
}

impl Session {
    /// Takes this pass's console bytes: at most [`BYTES_PER_PASS`], and it returns after the
    /// first flash program. A chunk being programmed gets the next slice instead, and no input
    /// is read until it is acknowledged (the sender waits for the ACK). Never waits; a silence
    /// of [`IDLE_TIMEOUT_MS`] ends the update.
    pub fn poll(&mut self) -> Progress {
        if self.storing.is_some() {
            return match self.store_slice() {
                Next::Ended => Progress::Ended,
                Next::Read | Next::Yield => Progress::Working,
            };
        }
        let mut progress = Progress::Waiting;
        for _ in 0..BYTES_PER_PASS {
            let Some(byte) = console::read_byte() else {
                break;
            };
            progress = Progress::Working;
            self.last_input = timer::counter_microseconds();
            let Some(reply) = self.take_byte(byte) else {
                continue;
            };
            match self.handle(reply) {
                Next::Read => {}
                Next::Yield => return Progress::Working,
                Next::Ended => return Progress::Ended,
            }
        }
        if progress == Progress::Waiting
            && timer::counter_microseconds().saturating_sub(self.last_input)
                > IDLE_TIMEOUT_MS * 1000
        {
            self.abort_on_silence();
            return Progress::Ended;
        }
        progress
    }

    /// One byte into the line or the payload; a reply once either is complete.
    fn take_byte(&mut self, byte: u8) -> Option<Reply> {
        if let Some(awaiting) = self.awaiting {
            let _ = self.chunk.push(byte);
            if self.chunk.len() < awaiting.length.min(MAX_CHUNK) {
                return None;
            }
            self.awaiting = None;
            return Some(self.receiver.on_payload(&self.chunk));
        }
        match byte {
            // Empty lines (a CR LF pair, a sender's spare newline) are skipped.
            b'\r' | b'\n' if self.line.is_empty() && !self.overlong => None,
            b'\r' | b'\n' if self.overlong => {
                self.overlong = false;
                self.line.clear();
                Some(self.receiver.on_overlong_line())
            }
            b'\r' | b'\n' => {
                let reply = self.receiver.on_line(&self.line);
                self.line.clear();
                Some(reply)
            }
            _ => {
                if self.line.push(byte).is_err() {
                    self.overlong = true;
                }
                None
            }
        }
    }

    /// Answers a reply: ACK or NAK, a flash write, or the verdict.
    fn handle(&mut self, mut reply: Reply) -> Next {
        loop {
            match reply {
                Reply::ReadPayload { sequence, length } => {
                    self.chunk.clear();
                    if length.min(MAX_CHUNK) > 0 {
                        self.awaiting = Some(Awaiting { sequence, length });
                        return Next::Read;
                    }
                    // Nothing to read: the receiver judges the empty payload at once.
                    reply = self.receiver.on_payload(&self.chunk);
                }
                Reply::Store { sequence } => {
                    self.storing = Some(Storing {
                        sequence,
                        offset: 0,
                    });
                    return self.store_slice();
                }
                // Our ACK was lost; the data is already written.
                Reply::Repeat { sequence } => {
                    println!("ACK {} ok", sequence);
                    return Next::Read;
                }
                Reply::Nak { sequence, reason } => {
                    println!("NAK {} {}", sequence, reason);
                    return Next::Read;
                }
                Reply::Complete { bytes } => {
                    crate::loopstats::note(crate::loopstats::Activity::UpdateVerify);
                    match self.writer.take() {
                        Some(writer) => finish(writer, self.target, bytes, self.started),
                        None => println!("update: FAILED: the staging writer is gone"),
                    }
                    if self.receiver.naks() > 0 {
                        println!(
                            "update: {} frame(s) refused, {} overlong line(s)",
                            self.receiver.naks(),
                            self.receiver.overlong_lines()
                        );
                    }
                    return Next::Ended;
                }
                Reply::Aborted => {
                    println!(
                        "update: ABORTED by the sender; bank {} stays unbootable (writing)",
                        self.target
                    );
                    return Next::Ended;
                }
                Reply::Failed(error) => {
                    println!("update: REFUSED: {}", error);
                    return Next::Ended;
                }
            }
        }
    }

    /// Gives the writer the next slice of the chunk being stored (at most one flash program);
    /// acknowledges the frame after its last slice.
    fn store_slice(&mut self) -> Next {
        let Some(storing) = self.storing else {
            return Next::Read;
        };
        crate::loopstats::note(crate::loopstats::Activity::UpdateFrame);
        let Some(writer) = self.writer.as_mut() else {
            self.storing = None;
            println!("update: FAILED: the staging writer is gone");
            return Next::Ended;
        };
        // End the slice where the writer's buffer fills, so it programs once at most.
        let room = PROGRAM_SLICE - writer.len() as usize % PROGRAM_SLICE;
        let end = (storing.offset + room).min(self.chunk.len());
        let slice = &self.chunk[storing.offset..end];
        let written = with_committed(|_, control| {
            let erases = control.flash_mut().erases();
            let result = control.stage_write(writer, slice);
            (result, control.flash_mut().erases() != erases)
        });
        match written {
            Some((Ok(()), erased)) => {
                if erased {
                    crate::loopstats::note(crate::loopstats::Activity::FlashErase);
                }
                if end < self.chunk.len() {
                    self.storing = Some(Storing {
                        offset: end,
                        ..storing
                    });
                } else {
                    self.storing = None;
                    println!("ACK {} ok", storing.sequence);
                }
                Next::Yield
            }
            Some((Err(error), _)) => {
                self.storing = None;
                println!("update: FAILED: {}", error);
                Next::Ended
            }
            None => {
                self.storing = None;
                println!("update: FAILED: the running bank is no longer committed");
                Next::Ended
            }
        }
    }

    /// The sender went quiet: say where the transfer stopped.
    fn abort_on_silence(&self) {
        match self.awaiting {
            Some(awaiting) => println!(
                "update: ABORTED: frame {} cut short ({} of {} bytes); {} console input overrun(s); bank {} stays unbootable (writing)",
                awaiting.sequence,
                self.chunk.len(),
                awaiting.length,
                console::input_errors().0,
                self.target
            ),
            None => println!(
                "update: ABORTED: no data for {} s after {} frame(s); {} console input overrun(s); bank {} stays unbootable (writing)",
                IDLE_TIMEOUT_MS / 1000,
                self.receiver.frames(),
                console::input_errors().0,
                self.target
            ),
        }
    }
}

/// Every byte is in: verify the staged image and activate it as a trial.
fn finish(writer: StagingWriter, target: Bank, bytes: u32, started: u64) {
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
