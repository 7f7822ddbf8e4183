//! `update`: a signed image over the console, in frames, into the upload task.
//!
//! Transport: the serial console, in frames (an ASCII header line, then the raw bytes) with a
//! CRC-32 each and one ACK per frame; the protocol itself (frame order, repeats, CRC, length) is
//! the host-tested [`bootstate::update::Receiver`], and the host side is `xtask/src/update.rs`.
//! Chosen because the console exists on every DPU from the first boot and needs no network
//! stack, which an update may be repairing. The image bytes go to the source-agnostic upload
//! task (`update.rs`), which the API's HTTP upload feeds the same way.
//!
//! The loop stays in charge: `update` only starts the task (`READY`); every pass then hands
//! this session the bytes that arrived (the shell gets none while it runs). A frame's payload
//! is offered to the task; it takes what its 4 KiB buffer has room for, the rest waits for the
//! next pass (the task programs one buffer per pass), and the ACK goes out once all is taken.
//! After `END` the task verifies the image in slices, one per pass, and this session prints the
//! verdict when it comes. Bad frames are NAKed and counted; a silence aborts.

use super::update::{self, AbortReason, StartError, UploadFailure, UploadState};
use crate::arch::aarch64::timer;
use crate::{console, println};
use bootstate::Bank;
use bootstate::layout::BANK_SIZE;
use bootstate::update::{MAX_CHUNK, MAX_LINE, Receiver, Reply};

/// Silence after which the update is abandoned.
const IDLE_TIMEOUT_MS: u64 = 15_000;
/// No progress (no byte read, none handed to the task) for this long prints where the
/// session stands, once: a stall then says which side stopped.
const STALL_REPORT_MS: u64 = 5_000;
/// Console bytes one pass takes at most: one header line and one frame's payload.
const BYTES_PER_PASS: usize = MAX_LINE + MAX_CHUNK;

/// What one [`Session::poll`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// No input arrived; the session waits (the loop may sleep).
    Waiting,
    /// Input was taken or the task is working; the session goes on.
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

/// The received chunk being handed to the task: its frame, and how much it took so far.
#[derive(Clone, Copy)]
struct Storing {
    sequence: u32,
    offset: usize,
}

/// One console `update` in progress: the protocol receiver and the partial line or payload the
/// console has delivered so far.
pub struct Session {
    receiver: Receiver,
    target: Bank,
    /// Counter time of the last byte read or handed to the task (or of the start): the
    /// silence timeout counts from here.
    last_progress: u64,
    /// The no-progress report was printed (once per stall).
    stall_reported: bool,
    line: heapless::Vec<u8, MAX_LINE>,
    overlong: bool,
    /// `Some` while a frame's raw bytes are being read into `chunk`.
    awaiting: Option<Awaiting>,
    chunk: heapless::Vec<u8, MAX_CHUNK>,
    /// `Some` while a received chunk is being fed to the task.
    storing: Option<Storing>,
    /// `END` came and matched: waiting for the task's verdict.
    ending: bool,
}

/// `update <length>`: starts the upload task and prints `READY` (or why not).
pub fn start(length: u32) -> Option<Session> {
    let receiver = match Receiver::new(length, BANK_SIZE) {
        Ok(receiver) => receiver,
        Err(error) => {
            println!("update: REFUSED: {}", error);
            return None;
        }
    };
    match update::start(length) {
        Ok(_) => {}
        Err(StartError::Control(bootstate::ControlError::NotCommitted)) => {
            println!(
                "update: REFUSED: the running bank is not committed (updates need a committed boot)"
            );
            return None;
        }
        Err(error) => {
            println!("update: REFUSED: {}", error);
            return None;
        }
    }
    let target = update::progress().map_or(Bank::B, |task| task.upload.bank);
    println!(
        "update: READY bank {}, {} bytes, frames of up to {} bytes",
        target, length, MAX_CHUNK
    );
    Some(Session {
        receiver,
        target,
        last_progress: timer::counter_microseconds(),
        stall_reported: false,
        line: heapless::Vec::new(),
        overlong: false,
        awaiting: None,
        chunk: heapless::Vec::new(),
        storing: None,
        ending: false,
    })
}

/// What handling one reply left to do.
enum Next {
    /// Keep reading in this pass.
    Read,
    /// A chunk waits for the task's buffer: read no more this pass.
    Yield,
    /// The update is over.
    Ended,
}

impl Session {
    /// Takes this pass's console bytes (at most [`BYTES_PER_PASS`]), or hands the task the rest
    /// of a chunk it had no room for, or waits for the verdict. Never waits itself; a silence
    /// of [`IDLE_TIMEOUT_MS`] ends the update.
    pub fn poll(&mut self) -> Progress {
        // The task can end on its own (a flash error, a refused image).
        if let Some(task) = update::progress()
            && let UploadState::Failed(failure) = task.upload.state
        {
            self.report_failure(failure);
            return Progress::Ended;
        }
        if self.ending {
            return self.await_verdict();
        }
        let quiet = timer::counter_microseconds().saturating_sub(self.last_progress);
        if quiet > STALL_REPORT_MS * 1000 && !self.stall_reported {
            self.stall_reported = true;
            self.report_stall(quiet / 1000);
        }
        if self.storing.is_some() {
            if quiet > IDLE_TIMEOUT_MS * 1000 {
                self.abort_on_stuck_task();
                return Progress::Ended;
            }
            return match self.store() {
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
            self.note_progress();
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
            && timer::counter_microseconds().saturating_sub(self.last_progress)
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

    /// Answers a reply: ACK or NAK, a chunk for the task, or the end.
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
                    return self.store();
                }
                // Our ACK was lost; the data is already with the task.
                Reply::Repeat { sequence } => {
                    println!("ACK {} ok", sequence);
                    return Next::Read;
                }
                Reply::Nak { sequence, reason } => {
                    println!("NAK {} {}", sequence, reason);
                    return Next::Read;
                }
                Reply::Complete { .. } => {
                    self.ending = true;
                    return Next::Yield;
                }
                Reply::Aborted => {
                    update::abort(AbortReason::Sender);
                    println!(
                        "update: ABORTED by the sender; bank {} stays unbootable (writing)",
                        self.target
                    );
                    return Next::Ended;
                }
                Reply::Failed(error) => {
                    update::abort(AbortReason::Cancelled);
                    println!("update: REFUSED: {}", error);
                    return Next::Ended;
                }
            }
        }
    }

    /// Offers the task the rest of the chunk being stored; acknowledges the frame once it took
    /// all of it, else yields (the task programs its full buffer in the next pass).
    fn store(&mut self) -> Next {
        let Some(storing) = self.storing else {
            return Next::Read;
        };
        let fed = update::feed(&self.chunk[storing.offset..]);
        if fed.is_ok_and(|taken| taken > 0) {
            self.note_progress();
        }
        match fed {
            Ok(taken) if storing.offset + taken == self.chunk.len() => {
                self.storing = None;
                println!("ACK {} ok", storing.sequence);
                Next::Read
            }
            Ok(taken) => {
                self.storing = Some(Storing {
                    offset: storing.offset + taken,
                    ..storing
                });
                Next::Yield
            }
            Err(error) => {
                self.storing = None;
                update::abort(AbortReason::Cancelled);
                println!("update: FAILED: {}", error);
                Next::Ended
            }
        }
    }

    /// Every byte is in: print the verdict once the task has one.
    fn await_verdict(&mut self) -> Progress {
        let Some(task) = update::progress() else {
            println!("update: FAILED: the upload task is gone");
            return Progress::Ended;
        };
        match task.upload.state {
            UploadState::Receiving | UploadState::Verifying => return Progress::Working,
            UploadState::Failed(failure) => self.report_failure(failure),
            UploadState::Succeeded(activated) => {
                println!(
                    "update: OK bank {} v{} counter {} verified and activated as a trial ({} tries); 'reboot' to try it",
                    activated.bank, activated.version, activated.security_counter, activated.tries
                );
                println!(
                    "update: {} bytes in {} ms; steps: {}",
                    task.upload.length, task.elapsed_ms, task.steps
                );
            }
        }
        if self.receiver.naks() > 0 {
            println!(
                "update: {} frame(s) refused, {} overlong line(s)",
                self.receiver.naks(),
                self.receiver.overlong_lines()
            );
        }
        Progress::Ended
    }

    fn report_failure(&self, failure: UploadFailure) {
        match failure {
            UploadFailure::Refused(error) => {
                println!(
                    "update: REFUSED: {}; bank {} marked bad",
                    error, self.target
                )
            }
            other => println!(
                "update: FAILED: {}; bank {} stays unbootable (writing)",
                other, self.target
            ),
        }
    }

    fn note_progress(&mut self) {
        self.last_progress = timer::counter_microseconds();
        self.stall_reported = false;
    }

    /// Where a session that made no progress for a while stands: which frame, the task's
    /// bytes and pending flash work, and the console's receive path.
    fn report_stall(&self, quiet_ms: u64) {
        let task = update::progress();
        let flash_work = update::has_work();
        let receive = console::receive_state();
        match (self.awaiting, self.storing) {
            (Some(awaiting), _) => println!(
                "update: no progress for {} ms, reading frame {} ({} of {} bytes)",
                quiet_ms,
                awaiting.sequence,
                self.chunk.len(),
                awaiting.length
            ),
            (None, Some(storing)) => println!(
                "update: no progress for {} ms, handing frame {} to the upload task ({} of {} bytes taken)",
                quiet_ms,
                storing.sequence,
                storing.offset,
                self.chunk.len()
            ),
            (None, None) => println!(
                "update: no progress for {} ms, waiting for a frame line ({} bytes of it so far) after {} frame(s)",
                quiet_ms,
                self.line.len(),
                self.receiver.frames()
            ),
        }
        match task {
            Some(task) => println!(
                "update: task {}: {} of {} bytes taken, {} programmed, flash work pending: {}, {}",
                task.id,
                task.upload.received,
                task.upload.length,
                task.upload.written,
                if flash_work { "yes" } else { "no" },
                task.upload.state.name()
            ),
            None => println!("update: no upload task"),
        }
        println!("update: console input: {}", receive);
    }

    /// The task took none of a frame for the silence timeout: end the update saying so.
    fn abort_on_stuck_task(&mut self) {
        let sequence = self.storing.map_or(0, |storing| storing.sequence);
        self.storing = None;
        update::abort(AbortReason::Cancelled);
        println!(
            "update: FAILED: the upload task took no bytes of frame {} for {} s; bank {} stays unbootable (writing)",
            sequence,
            IDLE_TIMEOUT_MS / 1000,
            self.target
        );
    }

    /// The sender went quiet: say where the transfer stopped.
    fn abort_on_silence(&self) {
        update::abort(AbortReason::Silence {
            seconds: (IDLE_TIMEOUT_MS / 1000) as u32,
        });
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
