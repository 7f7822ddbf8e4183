//! The HA wire codec: heartbeats, grants and failover requests, the same bytes over UDP port
//! 7400 and in raw Ethernet frames (EtherType 0x88B5) on the DPU-to-DPU link.
//!
//! Layout (big-endian), version 1:
//!
//! ```text
//! magic "DPHA" | version u8 = 1 | kind u8 | length u16 (whole message, header included) | body
//! Heartbeat (kind 1): alias str8 | priority u8 | role u8 | epoch u64 | sequence u32 |
//!                     firmware str8 | config digest [32] | uplinks up u8 | uplinks total u8 |
//!                     resign reason u8 (0 none) | flags u8 (bit 0: the peer is heard on the link)
//! Grant (kind 2):     epoch u64 | active str8 (empty: nobody) | reason u8 (0: formation) |
//!                     ready standby str8 (empty: none) | refused str8 (empty: not refused)
//! FailoverRequest (kind 3): target str8 (empty: the other DPU)
//! ```
//!
//! `str8` is a length byte and that many bytes. Decoding checks everything and returns a typed
//! error; it never panics on any input (a property test feeds it random bytes). Bytes after
//! `length` are ignored, so Ethernet padding does not matter.

use core::fmt;

use crate::types::{
    ALIAS_MAX, Alias, Digest, Reason, ReasonText, Role, VERSION_MAX, Version, parse_alias,
};

const MAGIC: [u8; 4] = *b"DPHA";
const VERSION: u8 = 1;
const HEADER: usize = 8;
const KIND_HEARTBEAT: u8 = 1;
const KIND_GRANT: u8 = 2;
const KIND_FAILOVER: u8 = 3;
const FLAG_PEER_HEARD: u8 = 1;

/// The largest encoded message (a grant with every string at its longest).
pub const ENCODED_MAX: usize = HEADER + 8 + (1 + ALIAS_MAX) + 1 + (1 + ALIAS_MAX) + (1 + 96);
/// Ethernet header in front of the payload in a link frame: destination, source, EtherType.
pub const FRAME_HEADER: usize = 14;

/// A DPU's periodic announcement, to its peer and to the host arbiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Who sends it.
    pub alias: Alias,
    /// Configured priority, 1..=254.
    pub priority: u8,
    /// The sender's role now.
    pub role: Role,
    /// The highest epoch the sender has seen (its own when active).
    pub epoch: u64,
    /// Counts up by one per heartbeat (gaps show loss).
    pub sequence: u32,
    /// The sender's firmware version.
    pub firmware: Version,
    /// The sender's config digest.
    pub config_digest: Digest,
    /// Uplinks with link (after the anti-flap delay).
    pub uplinks_up: u8,
    /// Uplinks configured.
    pub uplinks_total: u8,
    /// Set while the sender gives up being active (a panic, lost uplinks, an operator).
    pub resign: Option<Reason>,
    /// Whether the sender hears its peer on the DPU-to-DPU link.
    pub peer_heard: bool,
}

/// The host arbiter's word to both DPUs.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Grant {
    /// The current epoch.
    pub epoch: u64,
    /// The DPU that may forward at this epoch (none while HA has not formed).
    pub active: Option<Alias>,
    /// Why the active changed to this epoch (none: the pair formed).
    pub reason: Option<Reason>,
    /// The other DPU when it is healthy enough to take over.
    pub standby_ready: Option<Alias>,
    /// Set when the arbiter refuses to form HA, in words naming the DPUs.
    pub refused: Option<ReasonText>,
}

/// A request to move active to the other DPU (or to `target`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FailoverRequest {
    /// The DPU to make active; none means the one that is not active now.
    pub target: Option<Alias>,
}

/// One decoded HA message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// From a DPU.
    Heartbeat(Heartbeat),
    /// From the host arbiter.
    Grant(Grant),
    /// From an operator tool.
    FailoverRequest(FailoverRequest),
}

/// Why bytes are not an HA message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than the header or than the length field says.
    Truncated,
    /// The first four bytes are not `DPHA`.
    BadMagic,
    /// A protocol version this build does not speak.
    UnsupportedVersion(u8),
    /// A message kind this build does not know.
    UnknownKind(u8),
    /// The length field is shorter than the header or disagrees with the body.
    BadLength,
    /// A name, version or text field is empty, too long, or has characters it may not have.
    BadString,
    /// A role, reason or priority byte outside its range.
    BadField,
    /// A link frame that is not of EtherType 0x88B5.
    NotHa,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("message truncated"),
            DecodeError::BadMagic => f.write_str("not an HA message (bad magic)"),
            DecodeError::UnsupportedVersion(v) => write!(f, "unsupported HA protocol version {v}"),
            DecodeError::UnknownKind(k) => write!(f, "unknown HA message kind {k}"),
            DecodeError::BadLength => f.write_str("length field disagrees with the message"),
            DecodeError::BadString => f.write_str("bad name, version or text field"),
            DecodeError::BadField => f.write_str("role, reason or priority out of range"),
            DecodeError::NotHa => f.write_str("not an HA frame (EtherType)"),
        }
    }
}

/// Why a message does not fit the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The buffer is shorter than the message.
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for the HA message")
    }
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .at
            .checked_add(bytes.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        let slot = self
            .buf
            .get_mut(self.at..end)
            .ok_or(EncodeError::BufferTooSmall)?;
        slot.copy_from_slice(bytes);
        self.at = end;
        Ok(())
    }

    fn u8(&mut self, value: u8) -> Result<(), EncodeError> {
        self.bytes(&[value])
    }

    fn str8(&mut self, text: &str) -> Result<(), EncodeError> {
        // Every string type is at most 96 bytes, so the length fits a byte.
        let len = u8::try_from(text.len()).map_err(|_| EncodeError::BufferTooSmall)?;
        self.u8(len)?;
        self.bytes(text.as_bytes())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::BadLength)?;
        let out = self.bytes.get(self.at..end).ok_or(DecodeError::BadLength)?;
        self.at = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let mut out = [0; 4];
        out.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(out))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut out = [0; 8];
        out.copy_from_slice(self.take(8)?);
        Ok(u64::from_be_bytes(out))
    }

    fn str8(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u8()?);
        let bytes = self.take(len)?;
        let text = core::str::from_utf8(bytes).map_err(|_| DecodeError::BadString)?;
        if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Err(DecodeError::BadString);
        }
        Ok(text)
    }

    fn alias(&mut self) -> Result<Alias, DecodeError> {
        parse_alias(self.str8()?).ok_or(DecodeError::BadString)
    }

    fn optional_alias(&mut self) -> Result<Option<Alias>, DecodeError> {
        let text = self.str8()?;
        if text.is_empty() {
            return Ok(None);
        }
        parse_alias(text).map(Some).ok_or(DecodeError::BadString)
    }

    fn reason(&mut self) -> Result<Option<Reason>, DecodeError> {
        Reason::from_code(self.u8()?).map_err(|_| DecodeError::BadField)
    }
}

fn copy_text<const N: usize>(text: &str) -> Result<heapless::String<N>, DecodeError> {
    let mut out = heapless::String::new();
    out.push_str(text).map_err(|_| DecodeError::BadString)?;
    Ok(out)
}

impl Message {
    /// Writes the message into `buf`; returns its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer { buf, at: 0 };
        w.bytes(&MAGIC)?;
        w.u8(VERSION)?;
        let kind = match self {
            Message::Heartbeat(_) => KIND_HEARTBEAT,
            Message::Grant(_) => KIND_GRANT,
            Message::FailoverRequest(_) => KIND_FAILOVER,
        };
        w.u8(kind)?;
        w.bytes(&[0, 0])?; // length, filled in below
        match self {
            Message::Heartbeat(h) => {
                w.str8(&h.alias)?;
                w.u8(h.priority)?;
                w.u8(h.role.code())?;
                w.bytes(&h.epoch.to_be_bytes())?;
                w.bytes(&h.sequence.to_be_bytes())?;
                w.str8(&h.firmware)?;
                w.bytes(&h.config_digest)?;
                w.u8(h.uplinks_up)?;
                w.u8(h.uplinks_total)?;
                w.u8(Reason::code(h.resign))?;
                w.u8(if h.peer_heard { FLAG_PEER_HEARD } else { 0 })?;
            }
            Message::Grant(g) => {
                w.bytes(&g.epoch.to_be_bytes())?;
                w.str8(g.active.as_deref().unwrap_or(""))?;
                w.u8(Reason::code(g.reason))?;
                w.str8(g.standby_ready.as_deref().unwrap_or(""))?;
                w.str8(g.refused.as_deref().unwrap_or(""))?;
            }
            Message::FailoverRequest(r) => {
                w.str8(r.target.as_deref().unwrap_or(""))?;
            }
        }
        let len = w.at;
        let len16 = u16::try_from(len).map_err(|_| EncodeError::BufferTooSmall)?;
        w.buf[6..8].copy_from_slice(&len16.to_be_bytes());
        Ok(len)
    }

    /// Reads one message from the start of `bytes` (bytes after its length are ignored).
    pub fn decode(bytes: &[u8]) -> Result<Message, DecodeError> {
        let header = bytes.get(..HEADER).ok_or(DecodeError::Truncated)?;
        if header[..4] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if header[4] != VERSION {
            return Err(DecodeError::UnsupportedVersion(header[4]));
        }
        let kind = header[5];
        let length = usize::from(u16::from_be_bytes([header[6], header[7]]));
        if length < HEADER {
            return Err(DecodeError::BadLength);
        }
        let body = bytes.get(..length).ok_or(DecodeError::Truncated)?;
        let mut r = Reader {
            bytes: body,
            at: HEADER,
        };
        let message = match kind {
            KIND_HEARTBEAT => {
                let alias = r.alias()?;
                let priority = r.u8()?;
                if priority == 0 || priority == 255 {
                    return Err(DecodeError::BadField);
                }
                let role = Role::from_code(r.u8()?).ok_or(DecodeError::BadField)?;
                let epoch = r.u64()?;
                let sequence = r.u32()?;
                let firmware_text = r.str8()?;
                if firmware_text.is_empty() || firmware_text.len() > VERSION_MAX {
                    return Err(DecodeError::BadString);
                }
                let firmware = copy_text(firmware_text)?;
                let mut config_digest = [0; 32];
                config_digest.copy_from_slice(r.take(32)?);
                let uplinks_up = r.u8()?;
                let uplinks_total = r.u8()?;
                if uplinks_up > uplinks_total {
                    return Err(DecodeError::BadField);
                }
                let resign = r.reason()?;
                let flags = r.u8()?;
                if flags & !FLAG_PEER_HEARD != 0 {
                    return Err(DecodeError::BadField);
                }
                Message::Heartbeat(Heartbeat {
                    alias,
                    priority,
                    role,
                    epoch,
                    sequence,
                    firmware,
                    config_digest,
                    uplinks_up,
                    uplinks_total,
                    resign,
                    peer_heard: flags & FLAG_PEER_HEARD != 0,
                })
            }
            KIND_GRANT => {
                let epoch = r.u64()?;
                let active = r.optional_alias()?;
                let reason = r.reason()?;
                let standby_ready = r.optional_alias()?;
                let refused_text = r.str8()?;
                let refused = if refused_text.is_empty() {
                    None
                } else {
                    Some(copy_text(refused_text)?)
                };
                Message::Grant(Grant {
                    epoch,
                    active,
                    reason,
                    standby_ready,
                    refused,
                })
            }
            KIND_FAILOVER => Message::FailoverRequest(FailoverRequest {
                target: r.optional_alias()?,
            }),
            other => return Err(DecodeError::UnknownKind(other)),
        };
        if r.at != length {
            return Err(DecodeError::BadLength);
        }
        Ok(message)
    }
}

/// Writes a link frame: broadcast destination, `source` MAC, EtherType 0x88B5, the message,
/// zero padding to the 60-byte Ethernet minimum. Returns the frame length.
pub fn encode_frame(
    source: [u8; 6],
    message: &Message,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    let head = buf
        .get_mut(..FRAME_HEADER)
        .ok_or(EncodeError::BufferTooSmall)?;
    head[..6].copy_from_slice(&[0xff; 6]);
    head[6..12].copy_from_slice(&source);
    head[12..14].copy_from_slice(&crate::ETHERTYPE.to_be_bytes());
    let body = buf
        .get_mut(FRAME_HEADER..)
        .ok_or(EncodeError::BufferTooSmall)?;
    let len = FRAME_HEADER + message.encode(body)?;
    let padded = len.max(60);
    let pad = buf
        .get_mut(len..padded)
        .ok_or(EncodeError::BufferTooSmall)?;
    pad.fill(0);
    Ok(padded)
}

/// Reads the message of a link frame (untagged, EtherType 0x88B5).
pub fn decode_frame(frame: &[u8]) -> Result<Message, DecodeError> {
    let head = frame.get(..FRAME_HEADER).ok_or(DecodeError::Truncated)?;
    if u16::from_be_bytes([head[12], head[13]]) != crate::ETHERTYPE {
        return Err(DecodeError::NotHa);
    }
    Message::decode(&frame[FRAME_HEADER..])
}
