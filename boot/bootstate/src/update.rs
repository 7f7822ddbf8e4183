//! The update frame protocol, receiver side: order, repeats, CRC, length.
//!
//! An image arrives as frames, each an ASCII header line followed by raw bytes:
//!
//! ```text
//! F <sequence> <length> <crc32 hex>   then <length> bytes     answered "ACK <seq> ok" or "NAK <seq> <why>"
//! END <crc32 hex of the whole image>                         answered by the verdict
//! ABORT                                                      the sender gives up
//! ```
//!
//! [`Receiver`] is the pure state machine: the transport (the kernel's console) hands it each
//! header line ([`Receiver::on_line`]) and, when asked, the frame's bytes
//! ([`Receiver::on_payload`]); each call returns a [`Reply`] saying what to store, what to answer
//! and when it is over. It never blocks and holds no payload, so the same receiver can later be
//! fed from a TCP upload or a poll-loop state machine. The host side is `xtask/src/update.rs`.
//!
//! [`Upload`] is the other half, and knows nothing about frames or the console: the signed
//! image's bytes go in through [`Upload::feed`] (from the console's frames, or an HTTP body),
//! and each [`Upload::poll`] does a bounded amount of flash work (one sector erase, one 2 KiB
//! program, a [`HASH_BUDGET`] slice of the hash, one step of the Ed25519 check, or the record
//! write), so the caller's loop never stalls. [`Upload::progress`] says how far it got and,
//! at the end, the verdict in words.

use crate::Bank;
use crate::control::{
    BootControl, CheckedImage, ControlError, StageStep, StagedImage, StagingWriter,
};
use crate::crc32::{crc32, crc32_continue};
use crate::flash::Flash;
use crate::image::{TrustedKey, VerifyError};
use crate::layout::BANK_SIZE;
use crate::record::Version;
use core::fmt;

/// Largest frame payload in bytes. With one frame in flight, a whole frame (header included)
/// must fit the console's receive ring, or a stall while it arrives loses bytes.
pub const MAX_CHUNK: usize = 768;
/// Longest header line: "F <seq> <len> <crc>" or "END <crc>".
pub const MAX_LINE: usize = 64;

/// One parsed header line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// `F <sequence> <length> <crc>`: a data frame's header; `length` bytes follow.
    Data {
        /// Frame number, from 0.
        sequence: u32,
        /// Payload bytes that follow the line.
        length: u32,
        /// CRC-32 of the payload.
        crc: u32,
    },
    /// `END <crc>`: the image is complete; `crc` covers all of it.
    End {
        /// CRC-32 of the whole image.
        crc: u32,
    },
    /// `ABORT`: the sender gives up.
    Abort,
    /// Anything else.
    Garbage,
}

fn parse_u32(text: &[u8], radix: u32) -> Option<u32> {
    u32::from_str_radix(core::str::from_utf8(text).ok()?, radix).ok()
}

impl Frame {
    /// Parses one header line (without its line end; words separated by spaces).
    #[must_use]
    pub fn parse(line: &[u8]) -> Frame {
        let mut words = line
            .split(|&byte| byte == b' ')
            .filter(|word| !word.is_empty());
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
}

/// Why a frame was refused (the sender sends it again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nak {
    /// The header announced no payload, or more than [`MAX_CHUNK`] bytes.
    BadLength {
        /// The announced length.
        length: u32,
    },
    /// Not the frame expected next (and not a repeat of the last one).
    OutOfOrder {
        /// The frame expected.
        expected: u32,
    },
    /// The payload does not match the header's CRC.
    CrcMismatch,
    /// The line is not a frame header (or was too long to be one).
    Unreadable,
}

/// The text after `NAK <sequence> `.
impl fmt::Display for Nak {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength { length } => {
                write!(formatter, "frame length {length} not in 1..={MAX_CHUNK}")
            }
            Self::OutOfOrder { expected } => write!(formatter, "expected frame {expected}"),
            Self::CrcMismatch => formatter.write_str("crc mismatch"),
            Self::Unreadable => formatter.write_str("unreadable frame"),
        }
    }
}

/// Why an update ends without an image (the bank stays unbootable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError {
    /// The announced image length is 0 or larger than the bank.
    BadLength {
        /// Announced length.
        length: u32,
        /// Largest allowed.
        maximum: u32,
    },
    /// A frame would take the image past its announced length.
    TooMuchData {
        /// Announced length.
        announced: u32,
    },
    /// `END` came before every byte arrived, or with another CRC.
    Incomplete {
        /// Bytes received.
        received: u32,
        /// Bytes announced.
        announced: u32,
        /// CRC-32 of what was received.
        crc: u32,
        /// CRC-32 the sender gave.
        sender_crc: u32,
    },
}

impl fmt::Display for UpdateError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BadLength { length, maximum } => {
                write!(formatter, "length {length} is not in 1..={maximum} bytes")
            }
            Self::TooMuchData { announced } => {
                write!(formatter, "more data than the announced {announced} bytes")
            }
            Self::Incomplete {
                received,
                announced,
                crc,
                sender_crc,
            } => write!(
                formatter,
                "received {received} of {announced} bytes, crc {crc:08x} vs {sender_crc:08x}"
            ),
        }
    }
}

/// What the transport does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Reply {
    /// Read exactly `length` bytes and pass them to [`Receiver::on_payload`].
    ReadPayload {
        /// Frame number (for the transport's own messages).
        sequence: u32,
        /// Bytes to read.
        length: usize,
    },
    /// The payload is the next piece of the image: store it, then answer `ACK <sequence> ok`.
    Store {
        /// Frame number.
        sequence: u32,
    },
    /// A repeat of the frame stored last (our ACK was lost): answer `ACK <sequence> ok` again.
    Repeat {
        /// Frame number.
        sequence: u32,
    },
    /// Answer `NAK <sequence> <reason>`; the sender sends the frame again.
    Nak {
        /// The frame's number (for an unreadable line, the one expected).
        sequence: u32,
        /// Why.
        reason: Nak,
    },
    /// Every byte arrived and the image CRC matches: verify and activate it.
    Complete {
        /// Image bytes.
        bytes: u32,
    },
    /// The sender aborted.
    Aborted,
    /// The update failed.
    Failed(UpdateError),
}

/// Header of the frame whose payload is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Header {
    sequence: u32,
    crc: u32,
}

/// The receiver's state for one image.
#[derive(Debug, Clone)]
pub struct Receiver {
    announced: u32,
    /// Frame expected next (also the number of frames stored).
    expected: u32,
    /// Bytes stored.
    received: u32,
    /// CRC-32 of the bytes stored.
    crc: u32,
    awaiting: Option<Header>,
    naks: u32,
    overlong_lines: u32,
}

impl Receiver {
    /// A receiver for an image of `announced` bytes, at most `maximum` (the bank size).
    pub fn new(announced: u32, maximum: u32) -> Result<Self, UpdateError> {
        if announced == 0 || announced > maximum {
            return Err(UpdateError::BadLength {
                length: announced,
                maximum,
            });
        }
        Ok(Self {
            announced,
            expected: 0,
            received: 0,
            crc: 0,
            awaiting: None,
            naks: 0,
            overlong_lines: 0,
        })
    }

    /// Frames stored so far.
    #[must_use]
    pub fn frames(&self) -> u32 {
        self.expected
    }

    /// Image bytes stored so far.
    #[must_use]
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Frames refused so far.
    #[must_use]
    pub fn naks(&self) -> u32 {
        self.naks
    }

    /// Header lines longer than [`MAX_LINE`] so far.
    #[must_use]
    pub fn overlong_lines(&self) -> u32 {
        self.overlong_lines
    }

    fn nak(&mut self, sequence: u32, reason: Nak) -> Reply {
        self.naks = self.naks.saturating_add(1);
        Reply::Nak { sequence, reason }
    }

    /// A header line arrived (without its line end).
    pub fn on_line(&mut self, line: &[u8]) -> Reply {
        self.awaiting = None;
        match Frame::parse(line) {
            Frame::Data {
                sequence,
                length,
                crc,
            } => {
                if length == 0 || length as usize > MAX_CHUNK {
                    return self.nak(sequence, Nak::BadLength { length });
                }
                self.awaiting = Some(Header { sequence, crc });
                Reply::ReadPayload {
                    sequence,
                    length: length as usize,
                }
            }
            Frame::End { crc } => {
                if self.received == self.announced && crc == self.crc {
                    Reply::Complete {
                        bytes: self.received,
                    }
                } else {
                    Reply::Failed(UpdateError::Incomplete {
                        received: self.received,
                        announced: self.announced,
                        crc: self.crc,
                        sender_crc: crc,
                    })
                }
            }
            Frame::Abort => Reply::Aborted,
            Frame::Garbage => self.nak(self.expected, Nak::Unreadable),
        }
    }

    /// A line longer than [`MAX_LINE`] arrived (the transport dropped it): counted and refused.
    pub fn on_overlong_line(&mut self) -> Reply {
        self.awaiting = None;
        self.overlong_lines = self.overlong_lines.saturating_add(1);
        self.nak(self.expected, Nak::Unreadable)
    }

    /// The payload announced by the last [`Reply::ReadPayload`] arrived. On [`Reply::Store`]
    /// the receiver counts it as stored.
    pub fn on_payload(&mut self, payload: &[u8]) -> Reply {
        let Some(Header { sequence, crc }) = self.awaiting.take() else {
            return self.nak(self.expected, Nak::Unreadable);
        };
        // `expected - 1` rather than `sequence + 1`: a sender's u32::MAX must not overflow.
        if self.expected.checked_sub(1) == Some(sequence) {
            return Reply::Repeat { sequence };
        }
        if sequence != self.expected {
            return self.nak(
                sequence,
                Nak::OutOfOrder {
                    expected: self.expected,
                },
            );
        }
        if crc32(payload) != crc {
            return self.nak(sequence, Nak::CrcMismatch);
        }
        let end = u32::try_from(payload.len())
            .ok()
            .and_then(|length| self.received.checked_add(length))
            .filter(|&end| end <= self.announced);
        let Some(end) = end else {
            return Reply::Failed(UpdateError::TooMuchData {
                announced: self.announced,
            });
        };
        self.received = end;
        self.crc = crc32_continue(self.crc, payload);
        self.expected = self.expected.saturating_add(1);
        Reply::Store { sequence }
    }
}

/// Image bytes hashed per [`Upload::poll`] while verifying (about 0.3 ms under QEMU TCG).
pub const HASH_BUDGET: u32 = 8 * 1024;

/// Why an upload cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartError {
    /// Another upload is receiving or verifying.
    Busy,
    /// The announced image length is 0 or larger than a bank.
    BadLength {
        /// Announced length.
        length: u32,
        /// Largest allowed.
        maximum: u32,
    },
    /// The boot state refused (the running bank is not committed, a flash error).
    Control(ControlError),
}

impl fmt::Display for StartError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Busy => formatter.write_str("another firmware upload is in progress"),
            Self::BadLength { length, maximum } => {
                write!(formatter, "length {length} is not in 1..={maximum} bytes")
            }
            Self::Control(error) => error.fmt(formatter),
        }
    }
}

/// Why [`Upload::feed`] took nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// Every announced byte is in: the upload is verifying or over.
    NotReceiving,
    /// The bytes offered run past the announced length.
    TooMuchData {
        /// Announced length.
        announced: u32,
    },
}

impl fmt::Display for FeedError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReceiving => formatter.write_str("the upload takes no more data"),
            Self::TooMuchData { announced } => {
                write!(formatter, "more data than the announced {announced} bytes")
            }
        }
    }
}

/// Why the source gave up (the bank stays unbootable: Writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortReason {
    /// The sender said so (`ABORT` on the console).
    Sender,
    /// No data for this many seconds.
    Silence {
        /// Seconds of silence.
        seconds: u32,
    },
    /// The source ended before every announced byte (a closed connection, a short body).
    Truncated,
    /// An operator or the firmware cancelled it.
    Cancelled,
}

impl fmt::Display for AbortReason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sender => formatter.write_str("aborted by the sender"),
            Self::Silence { seconds } => write!(formatter, "no data for {seconds} s"),
            Self::Truncated => formatter.write_str("the data ended before the announced length"),
            Self::Cancelled => formatter.write_str("cancelled"),
        }
    }
}

/// How an upload failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFailure {
    /// The image failed verification; the bank is marked bad with this reason.
    Refused(VerifyError),
    /// A flash or boot-state error stopped it; the bank stays unbootable.
    Control(ControlError),
    /// The source gave up; the bank stays unbootable.
    Aborted(AbortReason),
}

impl fmt::Display for UploadFailure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(error) => write!(formatter, "{error}"),
            Self::Control(error) => write!(formatter, "{error}"),
            Self::Aborted(reason) => write!(formatter, "{reason}"),
        }
    }
}

impl UploadFailure {
    /// Whether the bank was marked bad (a refused image) rather than left writing.
    #[must_use]
    pub fn marked_bad(&self) -> bool {
        matches!(self, Self::Refused(_))
    }
}

/// A verified, activated image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activated {
    /// The bank it went into (now preferred, on trial).
    pub bank: Bank,
    /// Its version.
    pub version: Version,
    /// Its security counter.
    pub security_counter: u32,
    /// Tries the trial gets.
    pub tries: u8,
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadState {
    /// Taking bytes (and programming them).
    Receiving,
    /// Every byte is programmed; hashing and checking the image in flash.
    Verifying,
    /// Verified and activated as a trial.
    Succeeded(Activated),
    /// Over without an image.
    Failed(UploadFailure),
}

impl UploadState {
    /// Whether the upload is over.
    #[must_use]
    pub fn is_over(&self) -> bool {
        matches!(self, Self::Succeeded(_) | Self::Failed(_))
    }

    /// One word for the state (for APIs: `receiving`, `verifying`, `succeeded`, `failed`).
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Receiving => "receiving",
            Self::Verifying => "verifying",
            Self::Succeeded(_) => "succeeded",
            Self::Failed(_) => "failed",
        }
    }
}

/// A snapshot of an upload ([`Upload::progress`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadProgress {
    /// The bank being written.
    pub bank: Bank,
    /// Announced image length.
    pub length: u32,
    /// Bytes taken by [`Upload::feed`].
    pub received: u32,
    /// Bytes programmed into the bank.
    pub written: u32,
    /// Bytes hashed by the verification, and how many it covers (0 of 0 before it starts).
    pub hashed: u32,
    /// Bytes the hash covers.
    pub to_hash: u32,
    /// Where it is, with the verdict at the end.
    pub state: UploadState,
}

impl UploadProgress {
    /// Whole percent done: programming is the first 90, hashing the last 10; 100 only once
    /// it succeeded.
    #[must_use]
    pub fn percent(&self) -> u8 {
        if let UploadState::Succeeded(_) = self.state {
            return 100;
        }
        let programmed = u64::from(self.written) * 90 / u64::from(self.length.max(1));
        let hashed = u64::from(self.hashed) * 9 / u64::from(self.to_hash.max(1));
        (programmed + hashed).min(99) as u8
    }
}

/// `receiving 4096 of 467140 bytes (0 %)`, `succeeded: bank B v0.2.0+2 ...`, `failed: ...`.
impl fmt::Display for UploadProgress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            UploadState::Receiving => write!(
                formatter,
                "receiving into bank {}: {} of {} bytes received, {} programmed ({} %)",
                self.bank,
                self.received,
                self.length,
                self.written,
                self.percent()
            ),
            UploadState::Verifying => write!(
                formatter,
                "verifying bank {}: {} of {} bytes hashed ({} %)",
                self.bank,
                self.hashed,
                self.to_hash,
                self.percent()
            ),
            UploadState::Succeeded(activated) => write!(
                formatter,
                "succeeded: bank {} v{} counter {} verified and activated as a trial ({} tries)",
                activated.bank, activated.version, activated.security_counter, activated.tries
            ),
            UploadState::Failed(failure) if failure.marked_bad() => write!(
                formatter,
                "failed: {failure}; bank {} marked bad",
                self.bank
            ),
            UploadState::Failed(failure) => write!(
                formatter,
                "failed: {failure}; bank {} stays unbootable (writing)",
                self.bank
            ),
        }
    }
}

/// What one [`Upload::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Nothing to do until more bytes arrive (the caller may sleep).
    Idle,
    /// Started erasing a sector of the bank, or it still erases.
    Erasing,
    /// A sector of the bank is erased.
    Erased,
    /// Programmed this many bytes.
    Programmed(u32),
    /// Checked the image's structure and started the verification.
    VerifyStarted,
    /// Hashed this many bytes.
    Hashed(u32),
    /// Checked the digest and the key (the first), or did one step of the Ed25519 check
    /// ([`crate::ed25519::MAX_STEPS`] at most).
    Signature,
    /// Did the last step of the Ed25519 check and checked the floor; the record write comes
    /// in the next poll.
    Checked,
    /// Wrote the verdict (or failed): the upload is over (see the state).
    Finished,
    /// The upload was already over.
    Over,
}

/// The staging side of the upload.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "no heap to box the staging buffer in; one upload exists at a time"
)]
enum Phase {
    Receiving(StagingWriter),
    Verifying(StagedImage),
    Checked(CheckedImage),
    Over,
}

/// One firmware upload into the bank that is not running: source-agnostic, resumable, with
/// bounded work per [`Upload::poll`]. The caller owns the [`BootControl`] (under its lock)
/// and passes it to each call that touches flash.
#[derive(Debug)]
pub struct Upload {
    bank: Bank,
    length: u32,
    received: u32,
    written: u32,
    hashed: (u32, u32),
    phase: Phase,
    state: UploadState,
}

impl Upload {
    /// Starts an upload of `length` bytes from the committed, running bank `running`: marks
    /// the other bank Writing (one record write) before any of its sectors is touched.
    pub fn start<F: Flash>(
        control: &mut BootControl<F>,
        running: Bank,
        length: u32,
    ) -> Result<Upload, StartError> {
        if length == 0 || length > BANK_SIZE {
            return Err(StartError::BadLength {
                length,
                maximum: BANK_SIZE,
            });
        }
        let writer = control.stage_begin(running).map_err(StartError::Control)?;
        Ok(Upload {
            bank: writer.bank(),
            length,
            received: 0,
            written: 0,
            hashed: (0, 0),
            phase: Phase::Receiving(writer),
            state: UploadState::Receiving,
        })
    }

    /// The bank being written.
    #[must_use]
    pub fn bank(&self) -> Bank {
        self.bank
    }

    /// Takes as many of `bytes` as the buffer has room for (0 while a full buffer waits for
    /// its program: offer the rest after the next [`Upload::poll`]). No flash access.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<usize, FeedError> {
        let Phase::Receiving(writer) = &mut self.phase else {
            return Err(FeedError::NotReceiving);
        };
        let left = (self.length - self.received) as usize;
        if left == 0 {
            return Err(FeedError::NotReceiving);
        }
        if bytes.len() > left {
            return Err(FeedError::TooMuchData {
                announced: self.length,
            });
        }
        let taken = writer.accept(bytes);
        // `taken <= left`, which is a u32.
        self.received += taken as u32;
        Ok(taken)
    }

    /// Whether a [`Upload::poll`] now would do flash work (the caller should not sleep).
    #[must_use]
    pub fn has_work(&self) -> bool {
        match &self.phase {
            Phase::Receiving(writer) => {
                writer.buffered() == crate::control::STAGING_CHUNK
                    || (self.received == self.length && self.received > 0)
            }
            Phase::Verifying(_) | Phase::Checked(_) => true,
            Phase::Over => false,
        }
    }

    /// Does one bounded step: a sector erase, one program of up to 2 KiB, starting the
    /// verification (a few small reads), a [`HASH_BUDGET`] slice of the hash, one step of the
    /// check (digest and key, then the Ed25519 check in [`crate::ed25519`]'s steps, then the
    /// floor; a refusal writes the bad mark), or the record write
    /// that activates the image.
    pub fn poll<F: Flash>(
        &mut self,
        control: &mut BootControl<F>,
        trusted_keys: &[TrustedKey],
    ) -> Work {
        match core::mem::replace(&mut self.phase, Phase::Over) {
            Phase::Over => Work::Over,
            Phase::Receiving(mut writer) => {
                let last = self.received == self.length;
                let step = control.stage_step(&mut writer, last);
                self.written = writer.written();
                match step {
                    Ok(StageStep::Erasing) => {
                        self.phase = Phase::Receiving(writer);
                        Work::Erasing
                    }
                    Ok(StageStep::Erased) => {
                        self.phase = Phase::Receiving(writer);
                        Work::Erased
                    }
                    Ok(StageStep::Programmed(bytes)) => {
                        self.phase = Phase::Receiving(writer);
                        Work::Programmed(bytes)
                    }
                    Ok(StageStep::Idle) if !last => {
                        self.phase = Phase::Receiving(writer);
                        Work::Idle
                    }
                    Ok(StageStep::Idle) => match control.stage_verify_begin(writer) {
                        Ok(staged) => {
                            self.hashed = staged.hash_progress();
                            self.phase = Phase::Verifying(staged);
                            self.state = UploadState::Verifying;
                            Work::VerifyStarted
                        }
                        Err(error) => self.fail_control(error),
                    },
                    Err(error) => self.fail_control(error),
                }
            }
            Phase::Verifying(mut staged) => {
                if self.hashed.0 < self.hashed.1 {
                    let before = self.hashed.0;
                    return match control.stage_verify_step(&mut staged, HASH_BUDGET) {
                        Ok(_) => {
                            self.hashed = staged.hash_progress();
                            self.phase = Phase::Verifying(staged);
                            Work::Hashed(self.hashed.0 - before)
                        }
                        Err(error) => self.fail_control(error),
                    };
                }
                match control.stage_signature_step(&mut staged, trusted_keys) {
                    Ok(false) => {
                        self.phase = Phase::Verifying(staged);
                        Work::Signature
                    }
                    // The signature is valid: the floor check is a comparison, so it joins
                    // the last step.
                    Ok(true) => match control.stage_check(staged, trusted_keys) {
                        Ok(checked) => {
                            self.phase = Phase::Checked(checked);
                            Work::Checked
                        }
                        Err(error) => self.fail_control(error),
                    },
                    Err(error) => self.fail_control(error),
                }
            }
            Phase::Checked(checked) => match control.stage_record(checked) {
                Ok(image) => {
                    self.state = UploadState::Succeeded(Activated {
                        bank: self.bank,
                        version: image.version,
                        security_counter: image.security_counter,
                        tries: control.record().trial_tries,
                    });
                    Work::Finished
                }
                Err(error) => self.fail_control(error),
            },
        }
    }

    fn fail_control(&mut self, error: ControlError) -> Work {
        self.phase = Phase::Over;
        self.state = UploadState::Failed(match error {
            ControlError::Verify(error) => UploadFailure::Refused(error),
            other => UploadFailure::Control(other),
        });
        Work::Finished
    }

    /// The source gave up: the upload ends (the bank stays Writing, which nothing boots).
    /// Does nothing once the upload is over.
    pub fn abort(&mut self, reason: AbortReason) {
        if !self.state.is_over() {
            self.phase = Phase::Over;
            self.state = UploadState::Failed(UploadFailure::Aborted(reason));
        }
    }

    /// How far it got, and the verdict at the end.
    #[must_use]
    pub fn progress(&self) -> UploadProgress {
        UploadProgress {
            bank: self.bank,
            length: self.length,
            received: self.received,
            written: self.written,
            hashed: self.hashed.0,
            to_hash: self.hashed.1,
            state: self.state,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::{String, ToString};
    use std::vec::Vec;

    fn header(sequence: u32, payload: &[u8]) -> String {
        format!("F {sequence} {} {:x}", payload.len(), crc32(payload))
    }

    /// Sends one frame; returns the reply to its payload.
    fn frame(receiver: &mut Receiver, sequence: u32, payload: &[u8]) -> Reply {
        let reply = receiver.on_line(header(sequence, payload).as_bytes());
        assert_eq!(
            reply,
            Reply::ReadPayload {
                sequence,
                length: payload.len()
            }
        );
        receiver.on_payload(payload)
    }

    #[test]
    fn frame_lines_parse() {
        assert_eq!(
            Frame::parse(b"F 3 768 dead01"),
            Frame::Data {
                sequence: 3,
                length: 768,
                crc: 0xdead01
            }
        );
        assert_eq!(
            Frame::parse(b"  F  0 1  0 "),
            Frame::Data {
                sequence: 0,
                length: 1,
                crc: 0
            }
        );
        assert_eq!(Frame::parse(b"END ffffffff"), Frame::End { crc: u32::MAX });
        assert_eq!(Frame::parse(b"ABORT"), Frame::Abort);
        for garbage in [
            &b""[..],
            b"F 1 2",
            b"F 1 2 3 4",
            b"F x 2 3",
            b"F 1 2 g",
            b"F -1 2 3",
            b"F 4294967296 1 0",
            b"END",
            b"END 1 2",
            b"ABORT now",
            b"f 1 2 3",
            b"\xff\xfe",
        ] {
            assert_eq!(Frame::parse(garbage), Frame::Garbage, "{garbage:?}");
        }
    }

    #[test]
    fn a_whole_image_in_frames() {
        let image: Vec<u8> = (0..2000u32).map(|n| (n * 7) as u8).collect();
        let mut receiver = Receiver::new(2000, 4096).unwrap();
        for (sequence, chunk) in image.chunks(MAX_CHUNK).enumerate() {
            assert_eq!(
                frame(&mut receiver, sequence as u32, chunk),
                Reply::Store {
                    sequence: sequence as u32
                }
            );
        }
        assert_eq!(receiver.frames(), 3);
        let end = format!("END {:x}", crc32(&image));
        assert_eq!(
            receiver.on_line(end.as_bytes()),
            Reply::Complete { bytes: 2000 }
        );
        assert_eq!(receiver.naks(), 0);
    }

    #[test]
    fn a_repeated_frame_is_acknowledged_not_stored_twice() {
        let mut receiver = Receiver::new(4, 4096).unwrap();
        assert_eq!(frame(&mut receiver, 0, b"ab"), Reply::Store { sequence: 0 });
        assert_eq!(
            frame(&mut receiver, 0, b"ab"),
            Reply::Repeat { sequence: 0 }
        );
        assert_eq!(receiver.received(), 2);
        assert_eq!(frame(&mut receiver, 1, b"cd"), Reply::Store { sequence: 1 });
        let end = format!("END {:x}", crc32(b"abcd"));
        assert_eq!(
            receiver.on_line(end.as_bytes()),
            Reply::Complete { bytes: 4 }
        );
    }

    /// Regression: `F 4294967295 ...` overflowed `sequence + 1` (a panic in debug builds).
    #[test]
    fn the_largest_sequence_number_is_refused_not_a_panic() {
        let mut receiver = Receiver::new(4, 4096).unwrap();
        assert_eq!(
            frame(&mut receiver, u32::MAX, b"ab"),
            Reply::Nak {
                sequence: u32::MAX,
                reason: Nak::OutOfOrder { expected: 0 }
            }
        );
        assert_eq!(frame(&mut receiver, 0, b"ab"), Reply::Store { sequence: 0 });
        assert_eq!(
            frame(&mut receiver, u32::MAX, b"ab"),
            Reply::Nak {
                sequence: u32::MAX,
                reason: Nak::OutOfOrder { expected: 1 }
            }
        );
    }

    #[test]
    fn bad_frames_are_refused_and_counted() {
        let mut receiver = Receiver::new(10, 4096).unwrap();
        assert_eq!(
            frame(&mut receiver, 1, b"ab"),
            Reply::Nak {
                sequence: 1,
                reason: Nak::OutOfOrder { expected: 0 }
            }
        );
        let reply = receiver.on_line(header(0, b"ab").as_bytes());
        assert!(matches!(reply, Reply::ReadPayload { .. }));
        assert_eq!(
            receiver.on_payload(b"ax"),
            Reply::Nak {
                sequence: 0,
                reason: Nak::CrcMismatch
            }
        );
        assert_eq!(
            receiver.on_line(b"F 0 0 0"),
            Reply::Nak {
                sequence: 0,
                reason: Nak::BadLength { length: 0 }
            }
        );
        assert_eq!(
            receiver.on_line(b"F 0 769 0"),
            Reply::Nak {
                sequence: 0,
                reason: Nak::BadLength { length: 769 }
            }
        );
        assert_eq!(
            receiver.on_line(b"hello"),
            Reply::Nak {
                sequence: 0,
                reason: Nak::Unreadable
            }
        );
        assert_eq!(
            receiver.on_overlong_line(),
            Reply::Nak {
                sequence: 0,
                reason: Nak::Unreadable
            }
        );
        // A payload nobody announced.
        assert_eq!(
            receiver.on_payload(b"ab"),
            Reply::Nak {
                sequence: 0,
                reason: Nak::Unreadable
            }
        );
        assert_eq!(receiver.naks(), 7);
        assert_eq!(receiver.overlong_lines(), 1);
        assert_eq!(receiver.received(), 0, "nothing stored");
        assert_eq!(frame(&mut receiver, 0, b"ab"), Reply::Store { sequence: 0 });
    }

    #[test]
    fn lengths_are_enforced() {
        assert_eq!(
            Receiver::new(0, 16).unwrap_err(),
            UpdateError::BadLength {
                length: 0,
                maximum: 16
            }
        );
        assert!(Receiver::new(17, 16).is_err());
        let mut receiver = Receiver::new(3, 16).unwrap();
        assert_eq!(
            frame(&mut receiver, 0, b"abcd"),
            Reply::Failed(UpdateError::TooMuchData { announced: 3 })
        );
        let mut receiver = Receiver::new(4, 16).unwrap();
        assert_eq!(
            frame(&mut receiver, 0, b"abc"),
            Reply::Store { sequence: 0 }
        );
        let end = format!("END {:x}", crc32(b"abc"));
        assert_eq!(
            receiver.on_line(end.as_bytes()),
            Reply::Failed(UpdateError::Incomplete {
                received: 3,
                announced: 4,
                crc: crc32(b"abc"),
                sender_crc: crc32(b"abc")
            })
        );
        assert_eq!(frame(&mut receiver, 1, b"d"), Reply::Store { sequence: 1 });
        assert!(matches!(
            receiver.on_line(b"END 0"),
            Reply::Failed(UpdateError::Incomplete { .. })
        ));
        assert_eq!(receiver.on_line(b"ABORT"), Reply::Aborted);
    }

    /// Random lines, payloads and repeats: never a panic, never more stored than announced, and
    /// what is stored is exactly the frames accepted, in order.
    #[test]
    fn random_traffic_keeps_the_invariants() {
        let mut state = 0x1234_5678_9abc_def1u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut stores = 0;
        for _ in 0..2000 {
            let announced = 1 + (next() % 3000) as u32;
            let mut receiver = Receiver::new(announced, 4096).unwrap();
            let mut stored: Vec<u8> = Vec::new();
            for _ in 0..40 {
                let length = (next() % 900) as usize;
                let payload: Vec<u8> = (0..length).map(|_| next() as u8).collect();
                let sequence = match next() % 5 {
                    0 => u32::MAX - (next() % 2) as u32,
                    1 => receiver.frames().wrapping_sub(1),
                    _ => receiver.frames(),
                };
                let line = match next() % 8 {
                    0 => format!("F {sequence} {length} {:x}", next() as u32),
                    1 => format!("END {:x}", next() as u32),
                    2 => String::from("garbage"),
                    _ => format!("F {sequence} {length} {:x}", crc32(&payload)),
                };
                match receiver.on_line(line.as_bytes()) {
                    Reply::ReadPayload { length: wanted, .. } => {
                        assert_eq!(wanted, length);
                        match receiver.on_payload(&payload) {
                            Reply::Store { .. } => {
                                stored.extend_from_slice(&payload);
                                stores += 1;
                            }
                            Reply::Repeat { .. } | Reply::Nak { .. } => {}
                            Reply::Failed(UpdateError::TooMuchData { .. }) => break,
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                    Reply::Nak { .. } | Reply::Failed(_) | Reply::Complete { .. } => {}
                    other => panic!("unexpected {other:?}"),
                }
                assert!(receiver.received() <= announced);
                assert_eq!(receiver.received() as usize, stored.len());
            }
            let end = format!("END {:x}", crc32(&stored));
            let complete = matches!(receiver.on_line(end.as_bytes()), Reply::Complete { .. });
            assert_eq!(complete, stored.len() == announced as usize);
        }
        assert!(
            stores > 1000,
            "the traffic reaches the store path ({stores})"
        );
    }

    #[test]
    fn replies_read_as_words() {
        assert_eq!(
            Nak::BadLength { length: 0 }.to_string(),
            "frame length 0 not in 1..=768"
        );
        assert_eq!(
            Nak::OutOfOrder { expected: 4 }.to_string(),
            "expected frame 4"
        );
        assert_eq!(Nak::CrcMismatch.to_string(), "crc mismatch");
        assert_eq!(Nak::Unreadable.to_string(), "unreadable frame");
        assert_eq!(
            UpdateError::Incomplete {
                received: 1,
                announced: 2,
                crc: 0xab,
                sender_crc: 0xcd
            }
            .to_string(),
            "received 1 of 2 bytes, crc 000000ab vs 000000cd"
        );
        assert_eq!(
            UpdateError::TooMuchData { announced: 9 }.to_string(),
            "more data than the announced 9 bytes"
        );
        assert_eq!(
            UpdateError::BadLength {
                length: 0,
                maximum: 5
            }
            .to_string(),
            "length 0 is not in 1..=5 bytes"
        );
    }
}
