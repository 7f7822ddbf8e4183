//! Ethernet/802.1Q parsing, in-place tag edits, the RARP notify frame.
//!
//! Parsing never panics: a short frame or a tag the switch does not forward is an error the
//! switch turns into a counted drop. Edits work on the caller's buffer with headroom in front of
//! the frame, so pushing a tag moves only the 12 address bytes, never the payload.

use core::fmt;

use crate::types::{MacAddress, VlanId};

/// Ethernet header length (two addresses and the EtherType).
pub const ETHERNET_HEADER: usize = 14;
/// Bytes one 802.1Q tag adds.
pub const TAG_BYTES: usize = 4;
/// The 802.1Q tag protocol id.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag (QinQ): not forwarded.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// The pre-standard QinQ tag: not forwarded.
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
/// Reverse ARP, the notify frame's EtherType.
pub const ETHERTYPE_RARP: u16 = 0x8035;
/// Shortest Ethernet frame without FCS; shorter frames we build are padded to this.
pub const MIN_FRAME: usize = 60;

/// The 802.1Q tag a frame arrived with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressTag {
    /// No tag.
    Untagged,
    /// A tag with VID 0: priority only (the TCI, PCP and DEI kept on re-tagging).
    Priority(u16),
    /// A tag with a VLAN id (the whole TCI).
    Vlan(u16),
}

/// The parsed header of a received frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Destination address.
    pub destination: MacAddress,
    /// Source address.
    pub source: MacAddress,
    /// The tag, if any.
    pub tag: IngressTag,
    /// The EtherType after the tag (or the only one).
    pub ethertype: u16,
}

/// Why a frame's header cannot be switched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than an Ethernet header (or than a tagged one).
    Runt,
    /// VID 4095 (reserved).
    ReservedVlan,
    /// An 802.1ad / QinQ outer tag: this switch forwards single-tagged frames only.
    UnsupportedTag,
    /// A tag inside a tag (the "double tagging" VLAN-hopping trick).
    DoubleTag,
}

/// Bytes of a frame's start that the switch reads: both addresses, the EtherType or tag
/// protocol id, a tag's TCI and the EtherType inside it.
pub const HEAD_LEN: usize = ETHERNET_HEADER + TAG_BYTES;

/// The first [`HEAD_LEN`] bytes of a frame (zero past its end) and its length, as three
/// big-endian words: byte 0 of the frame is the most significant byte of word 0. A driver
/// fills it with three word loads ([`FrameHead::from_words`]), and the switch reads each field
/// with a shift and a mask ([`HeadFields`]), MACs as 48-bit integers. From bytes, every field
/// was a run of byte loads on a target that forbids unaligned accesses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    words: [u64; 3],
    len: usize,
}

impl FrameHead {
    /// The head of a frame whose first 24 bytes in memory order are `words` (each read from
    /// memory as a native-endian `u64`), `len` bytes long. Bytes past `len` are ignored.
    pub fn from_words(words: [u64; 3], len: usize) -> Self {
        Self {
            words: [
                u64::from_be(words[0]),
                u64::from_be(words[1]),
                u64::from_be(words[2]),
            ],
            len,
        }
    }

    /// The head of `frame` (which starts at the destination address).
    pub fn from_frame(frame: &[u8]) -> Self {
        let mut bytes = [0u8; 24];
        let copied = frame.len().min(HEAD_LEN);
        bytes[..copied].copy_from_slice(&frame[..copied]);
        let word = |index: usize| {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&bytes[index * 8..index * 8 + 8]);
            u64::from_be_bytes(eight)
        };
        Self {
            words: [word(0), word(1), word(2)],
            len: frame.len(),
        }
    }

    /// The frame's length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// True for an empty frame.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The parsed header as the switch uses it: addresses as 48-bit integers (first octet most
/// significant, as [`MacAddress::to_u64`]), so they go to the MAC table's key and into
/// comparisons without a round trip through bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct HeadFields {
    /// Destination address.
    pub(crate) destination: u64,
    /// Source address.
    pub(crate) source: u64,
    /// The tag, if any.
    pub(crate) tag: IngressTag,
    /// The EtherType after the tag (or the only one).
    pub(crate) ethertype: u16,
}

/// Bit of a 48-bit address that marks a group (multicast or broadcast) address: the I/G bit
/// of the first octet.
pub(crate) const GROUP_BIT: u64 = 1 << 40;

/// Reads the header of `frame` (which starts at the destination address).
pub fn parse_header(frame: &[u8]) -> Result<Header, HeaderError> {
    parse_head(&FrameHead::from_frame(frame))
}

/// Reads the header from a frame's head ([`FrameHead`]).
pub fn parse_head(head: &FrameHead) -> Result<Header, HeaderError> {
    let fields = head_fields(head)?;
    Ok(Header {
        destination: MacAddress::from_u64(fields.destination),
        source: MacAddress::from_u64(fields.source),
        tag: fields.tag,
        ethertype: fields.ethertype,
    })
}

/// Reads the header's fields from the head's words: shifts and masks, no byte loads.
pub(crate) fn head_fields(head: &FrameHead) -> Result<HeadFields, HeaderError> {
    let [first, second, third] = head.words;
    let length = head.len;
    if length < ETHERNET_HEADER {
        return Err(HeaderError::Runt);
    }
    // Bytes 0..6, 6..12, 12..14, 14..16 and 16..18 of the frame.
    let destination = first >> 16;
    let source = ((first & 0xffff) << 32) | (second >> 32);
    let outer = (second >> 16) as u16;
    let (tag, ethertype) = match outer {
        ETHERTYPE_VLAN => {
            if length < ETHERNET_HEADER + TAG_BYTES {
                return Err(HeaderError::Runt);
            }
            let tci = second as u16;
            let inner = (third >> 48) as u16;
            if matches!(inner, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
                return Err(HeaderError::DoubleTag);
            }
            let tag = match tci & 0x0fff {
                0 => IngressTag::Priority(tci),
                0x0fff => return Err(HeaderError::ReservedVlan),
                _ => IngressTag::Vlan(tci),
            };
            (tag, inner)
        }
        ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD => return Err(HeaderError::UnsupportedTag),
        other => (IngressTag::Untagged, other),
    };
    Ok(HeadFields {
        destination,
        source,
        tag,
        ethertype,
    })
}

/// What to do to a frame's tag on its way out of one port.
///
/// 4-byte aligned, so an edit is one word to load or store (decisions carry one per port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(align(4))]
pub enum Edit {
    /// Send it as it arrived.
    #[default]
    Keep,
    /// Remove the tag (the egress port carries this VLAN untagged).
    Pop,
    /// Insert a tag with this TCI (the frame arrived untagged).
    Push(u16),
    /// Replace the VID of the tag, keeping PCP and DEI (the frame arrived priority-tagged).
    SetVlan(VlanId),
}

impl Edit {
    /// How the frame's length changes (+4, -4 or 0).
    pub const fn length_change(self) -> isize {
        match self {
            Edit::Keep | Edit::SetVlan(_) => 0,
            Edit::Pop => -(TAG_BYTES as isize),
            Edit::Push(_) => TAG_BYTES as isize,
        }
    }

    /// The frame length after this edit of a frame of `length` bytes.
    pub const fn edited_length(self, length: usize) -> usize {
        match self {
            Edit::Keep | Edit::SetVlan(_) => length,
            Edit::Pop => length.saturating_sub(TAG_BYTES),
            Edit::Push(_) => length + TAG_BYTES,
        }
    }
}

impl fmt::Display for Edit {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::Keep => formatter.write_str("as received"),
            Edit::Pop => formatter.write_str("pop tag"),
            Edit::Push(tci) => write!(formatter, "push tag vlan {}", tci & 0x0fff),
            Edit::SetVlan(vlan) => write!(formatter, "set tag vlan {vlan}"),
        }
    }
}

/// Why an edit could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditError {
    /// `start` and `length` do not fit the buffer, or the frame is shorter than its header.
    OutOfBounds,
    /// A push needs 4 bytes of headroom in front of the frame.
    NoHeadroom,
    /// Pop or set on a frame without an 802.1Q tag.
    NotTagged,
    /// [`apply_edit_words`] on a frame that does not start on a word.
    Unaligned,
}

impl fmt::Display for EditError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            EditError::OutOfBounds => "frame does not fit its buffer",
            EditError::NoHeadroom => "no headroom in front of the frame for a tag",
            EditError::NotTagged => "frame has no 802.1Q tag",
            EditError::Unaligned => "frame does not start on a 4-byte boundary",
        })
    }
}

/// Applies `edit` to the frame at `buffer[start..start + length]`, in place.
///
/// Returns the frame's new `(start, length)`: a push moves the start 4 bytes toward the buffer's
/// front (into the headroom), a pop 4 bytes toward its end. Only the 12 address bytes move.
pub fn apply_edit(
    buffer: &mut [u8],
    start: usize,
    length: usize,
    edit: Edit,
) -> Result<(usize, usize), EditError> {
    let end = start.checked_add(length).ok_or(EditError::OutOfBounds)?;
    if end > buffer.len() || length < ETHERNET_HEADER {
        return Err(EditError::OutOfBounds);
    }
    // Each edit works on a fixed 16-byte window (one bounds check, then constant indices),
    // and moves the 12 address bytes as single bytes through registers: a `copy_within` was
    // a call to a byte-wise `memmove` (the target forbids unaligned word accesses), about 40
    // instructions per tagged frame.
    match edit {
        Edit::Keep => Ok((start, length)),
        Edit::Push(tci) => {
            if start < TAG_BYTES {
                return Err(EditError::NoHeadroom);
            }
            let new_start = start - TAG_BYTES;
            let window = window_at(buffer, new_start).ok_or(EditError::OutOfBounds)?;
            let [_, _, _, _, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11] = *window;
            let [tpid_high, tpid_low] = ETHERTYPE_VLAN.to_be_bytes();
            let [tci_high, tci_low] = tci.to_be_bytes();
            *window = [
                a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, tpid_high, tpid_low, tci_high,
                tci_low,
            ];
            Ok((new_start, length + TAG_BYTES))
        }
        Edit::Pop => {
            let window = tagged_window(buffer, start, length)?;
            let [a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, _, _, _, _] = *window;
            // Bytes 0..4 become headroom: they keep the first address bytes.
            *window = [
                a0, a1, a2, a3, a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11,
            ];
            Ok((start + TAG_BYTES, length - TAG_BYTES))
        }
        Edit::SetVlan(vlan) => {
            let window = tagged_window(buffer, start, length)?;
            let tci = (u16::from_be_bytes([window[14], window[15]]) & 0xf000) | vlan.get();
            [window[14], window[15]] = tci.to_be_bytes();
            Ok((start, length))
        }
    }
}

/// As [`apply_edit`], on a buffer seen as 32-bit words (each holding four of its bytes in
/// memory order, native-endian, as a word load reads them), for a frame that starts on a word:
/// `start` is a byte offset and a multiple of 4 ([`EditError::Unaligned`] otherwise). The 12
/// address bytes then move as three word loads and stores, where byte moves cost about 30
/// instructions (the target forbids unaligned accesses, and a byte slice's alignment is not
/// known). The result is the same as [`apply_edit`]'s on the same bytes.
pub fn apply_edit_words(
    words: &mut [u32],
    start: usize,
    length: usize,
    edit: Edit,
) -> Result<(usize, usize), EditError> {
    let end = start.checked_add(length).ok_or(EditError::OutOfBounds)?;
    if end > words.len().saturating_mul(4) || length < ETHERNET_HEADER {
        return Err(EditError::OutOfBounds);
    }
    if !start.is_multiple_of(4) {
        return Err(EditError::Unaligned);
    }
    let first = start / 4;
    // Bytes 12..16 of the frame: the tag protocol id and the TCI when tagged.
    let tagged = |word: u32| {
        let [high, low, _, _] = word.to_ne_bytes();
        u16::from_be_bytes([high, low]) == ETHERTYPE_VLAN
    };
    if matches!(edit, Edit::Pop | Edit::SetVlan(_)) && length < ETHERNET_HEADER + TAG_BYTES {
        return Err(EditError::NotTagged);
    }
    match edit {
        Edit::Keep => Ok((start, length)),
        Edit::Push(tci) => {
            if start < TAG_BYTES {
                return Err(EditError::NoHeadroom);
            }
            let window: &mut [u32; 4] = words
                .get_mut(first - 1..first + 3)
                .and_then(|window| window.try_into().ok())
                .ok_or(EditError::OutOfBounds)?;
            let [_, a, b, c] = *window;
            let [tpid_high, tpid_low] = ETHERTYPE_VLAN.to_be_bytes();
            let [tci_high, tci_low] = tci.to_be_bytes();
            *window = [
                a,
                b,
                c,
                u32::from_ne_bytes([tpid_high, tpid_low, tci_high, tci_low]),
            ];
            Ok((start - TAG_BYTES, length + TAG_BYTES))
        }
        Edit::Pop => {
            let window: &mut [u32; 4] = words
                .get_mut(first..first + 4)
                .and_then(|window| window.try_into().ok())
                .ok_or(EditError::OutOfBounds)?;
            let [a, b, c, tag] = *window;
            if !tagged(tag) {
                return Err(EditError::NotTagged);
            }
            // The first word becomes headroom: it keeps the first address bytes.
            *window = [a, a, b, c];
            Ok((start + TAG_BYTES, length - TAG_BYTES))
        }
        Edit::SetVlan(vlan) => {
            let tag = words.get_mut(first + 3).ok_or(EditError::OutOfBounds)?;
            if !tagged(*tag) {
                return Err(EditError::NotTagged);
            }
            let [tpid_high, tpid_low, pcp_high, _] = tag.to_ne_bytes();
            let tci = (u16::from_be_bytes([pcp_high, 0]) & 0xf000) | vlan.get();
            let [tci_high, tci_low] = tci.to_be_bytes();
            *tag = u32::from_ne_bytes([tpid_high, tpid_low, tci_high, tci_low]);
            Ok((start, length))
        }
    }
}

/// The 16 bytes of `buffer` at `start`, if they are inside it.
fn window_at(buffer: &mut [u8], start: usize) -> Option<&mut [u8; 16]> {
    buffer
        .get_mut(start..start.checked_add(16)?)?
        .try_into()
        .ok()
}

/// The first 16 bytes of a tagged frame at `start` (an 802.1Q tag at bytes 12..16, and the
/// frame long enough for the EtherType after it).
fn tagged_window(
    buffer: &mut [u8],
    start: usize,
    length: usize,
) -> Result<&mut [u8; 16], EditError> {
    if length < ETHERNET_HEADER + TAG_BYTES {
        return Err(EditError::NotTagged);
    }
    let window = window_at(buffer, start).ok_or(EditError::OutOfBounds)?;
    if u16::from_be_bytes([window[12], window[13]]) != ETHERTYPE_VLAN {
        return Err(EditError::NotTagged);
    }
    Ok(window)
}

/// Length of the RARP notify frame: 60 bytes untagged, 64 tagged (padding included).
pub const fn rarp_length(tagged: bool) -> usize {
    if tagged {
        MIN_FRAME + TAG_BYTES
    } else {
        MIN_FRAME
    }
}

/// Writes the notify frame that tells physical switches where `mac` now is.
///
/// The frame OVS and ESXi send on failover: broadcast, source `mac`, EtherType 0x8035, a RARP
/// "reverse request" (opcode 3) with sender and target hardware address `mac` and both protocol
/// addresses 0.0.0.0, zero padding to the 60-byte minimum; with `vlan` it carries that tag
/// (PCP 0) and is 64 bytes. Returns the length written at the front of `buffer`.
pub fn write_rarp(
    buffer: &mut [u8],
    mac: MacAddress,
    vlan: Option<VlanId>,
) -> Result<usize, EditError> {
    let length = rarp_length(vlan.is_some());
    let frame = buffer.get_mut(..length).ok_or(EditError::OutOfBounds)?;
    frame.fill(0);
    frame[0..6].copy_from_slice(&MacAddress::BROADCAST.0);
    frame[6..12].copy_from_slice(&mac.0);
    let mut at = 12;
    if let Some(vlan) = vlan {
        frame[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        frame[14..16].copy_from_slice(&vlan.get().to_be_bytes());
        at = 16;
    }
    frame[at..at + 2].copy_from_slice(&ETHERTYPE_RARP.to_be_bytes());
    let body = &mut frame[at + 2..];
    body[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    body[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    body[4] = 6; // hardware address length
    body[5] = 4; // protocol address length
    body[6..8].copy_from_slice(&3u16.to_be_bytes()); // opcode: reverse request
    body[8..14].copy_from_slice(&mac.0); // sender hardware address
    // sender protocol address 0.0.0.0 (body[14..18]) stays zero
    body[18..24].copy_from_slice(&mac.0); // target hardware address
    // target protocol address 0.0.0.0 (body[24..28]) and the padding stay zero
    Ok(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: Option<u16>, ethertype: u16) -> heapless::Vec<u8, 128> {
        let mut bytes = heapless::Vec::new();
        bytes
            .extend_from_slice(&[1, 2, 3, 4, 5, 6, 0x52, 0x54, 0, 0, 0, 9])
            .unwrap();
        if let Some(tci) = tag {
            bytes
                .extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes())
                .unwrap();
            bytes.extend_from_slice(&tci.to_be_bytes()).unwrap();
        }
        bytes.extend_from_slice(&ethertype.to_be_bytes()).unwrap();
        bytes.extend_from_slice(&[0xaa; 46]).unwrap();
        bytes
    }

    #[test]
    fn parses_untagged_priority_and_vlan_tags() {
        let header = parse_header(&frame(None, 0x0800)).unwrap();
        assert_eq!(header.tag, IngressTag::Untagged);
        assert_eq!(header.ethertype, 0x0800);
        assert_eq!(header.source.0, [0x52, 0x54, 0, 0, 0, 9]);
        let header = parse_header(&frame(Some(0xa000), 0x0806)).unwrap();
        assert_eq!(header.tag, IngressTag::Priority(0xa000));
        let header = parse_header(&frame(Some(0x200a), 0x0806)).unwrap();
        assert_eq!(header.tag, IngressTag::Vlan(0x200a));
        assert_eq!(header.ethertype, 0x0806);
    }

    #[test]
    fn a_head_from_words_parses_as_the_frame_does() {
        let mut frame = [0u8; 60];
        frame[..6].copy_from_slice(&[0x02, 0, 0, 0, 0x02, 0x01]);
        frame[6..12].copy_from_slice(&[0x02, 0, 0, 0x01, 0, 7]);
        frame[12..18].copy_from_slice(&[0x81, 0x00, 0x20, 0x0a, 0x88, 0xb5]);
        let word = |index: usize| {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(&frame[index * 8..index * 8 + 8]);
            u64::from_ne_bytes(eight)
        };
        let head = FrameHead::from_words([word(0), word(1), word(2)], 60);
        assert_eq!(head, FrameHead::from_frame(&frame));
        assert_eq!(parse_head(&head), parse_header(&frame));
        assert_eq!(parse_head(&head).unwrap().tag, IngressTag::Vlan(0x200a));
        // The length, not the bytes, decides what is a runt.
        let short = FrameHead::from_words([word(0), word(1), word(2)], 16);
        assert_eq!(parse_head(&short), Err(HeaderError::Runt));
        assert_eq!(parse_header(&frame[..16]), Err(HeaderError::Runt));
        assert_eq!(
            parse_head(&FrameHead::from_frame(&[])),
            Err(HeaderError::Runt)
        );
    }

    #[test]
    fn bad_headers_are_errors() {
        assert_eq!(parse_header(&[]), Err(HeaderError::Runt));
        assert_eq!(parse_header(&[0; 13]), Err(HeaderError::Runt));
        let tagged = frame(Some(10), 0x0800);
        assert_eq!(parse_header(&tagged[..17]), Err(HeaderError::Runt));
        assert_eq!(
            parse_header(&frame(Some(0x0fff), 0x0800)),
            Err(HeaderError::ReservedVlan)
        );
        assert_eq!(
            parse_header(&frame(Some(10), ETHERTYPE_VLAN)),
            Err(HeaderError::DoubleTag)
        );
        assert_eq!(
            parse_header(&frame(None, ETHERTYPE_QINQ)),
            Err(HeaderError::UnsupportedTag)
        );
    }

    #[test]
    fn push_then_pop_restores_the_frame() {
        let original = frame(None, 0x0800);
        let mut buffer = [0u8; 256];
        let headroom = 128;
        buffer[headroom..headroom + original.len()].copy_from_slice(&original);
        let (start, length) =
            apply_edit(&mut buffer, headroom, original.len(), Edit::Push(0x6014)).unwrap();
        assert_eq!((start, length), (headroom - 4, original.len() + 4));
        assert_eq!(
            &buffer[start..start + length],
            &frame(Some(0x6014), 0x0800)[..]
        );
        let (start, length) = apply_edit(&mut buffer, start, length, Edit::Pop).unwrap();
        assert_eq!((start, length), (headroom, original.len()));
        assert_eq!(&buffer[start..start + length], &original[..]);
    }

    #[test]
    fn set_vlan_keeps_priority_bits() {
        let original = frame(Some(0xa000), 0x0800);
        let mut buffer = [0u8; 128];
        buffer[..original.len()].copy_from_slice(&original);
        let vlan = VlanId::new(20).unwrap();
        apply_edit(&mut buffer, 0, original.len(), Edit::SetVlan(vlan)).unwrap();
        assert_eq!(&buffer[..original.len()], &frame(Some(0xa014), 0x0800)[..]);
    }

    #[test]
    fn word_edits_match_byte_edits() {
        let vlan = VlanId::new(20).unwrap();
        let edits = [
            Edit::Keep,
            Edit::Pop,
            Edit::Push(0x6014),
            Edit::SetVlan(vlan),
        ];
        let mut seed = 0x2545_f491_u32;
        for start in [0usize, 4, 8, 64, 128, 132] {
            for length in [0usize, 13, 14, 15, 16, 17, 18, 60, 64, 100] {
                for tagged in [false, true] {
                    for edit in edits {
                        let mut bytes = [0u8; 256];
                        for byte in bytes.iter_mut() {
                            seed ^= seed << 13;
                            seed ^= seed >> 17;
                            seed ^= seed << 5;
                            *byte = seed as u8;
                        }
                        if tagged {
                            bytes[start + 12] = 0x81;
                            bytes[start + 13] = 0x00;
                        }
                        let mut words: heapless::Vec<u32, 64> = bytes
                            .chunks_exact(4)
                            .map(|four| u32::from_ne_bytes([four[0], four[1], four[2], four[3]]))
                            .collect();
                        let by_bytes = apply_edit(&mut bytes, start, length, edit);
                        let by_words = apply_edit_words(&mut words, start, length, edit);
                        assert_eq!(by_bytes, by_words, "{start} {length} {tagged} {edit}");
                        if let Ok((new_start, new_length)) = by_bytes {
                            let mut word_bytes = [0u8; 256];
                            for (four, word) in word_bytes.chunks_exact_mut(4).zip(&words) {
                                four.copy_from_slice(&word.to_ne_bytes());
                            }
                            assert_eq!(
                                bytes[new_start..new_start + new_length],
                                word_bytes[new_start..new_start + new_length],
                                "{start} {length} {tagged} {edit}"
                            );
                        }
                    }
                }
            }
        }
        let mut words = [0u32; 8];
        assert_eq!(
            apply_edit_words(&mut words, 2, 20, Edit::Pop),
            Err(EditError::Unaligned)
        );
    }

    #[test]
    fn edit_errors() {
        let original = frame(None, 0x0800);
        let mut buffer = [0u8; 128];
        buffer[..original.len()].copy_from_slice(&original);
        let length = original.len();
        assert_eq!(
            apply_edit(&mut buffer, 0, length, Edit::Push(1)),
            Err(EditError::NoHeadroom)
        );
        assert_eq!(
            apply_edit(&mut buffer, 0, length, Edit::Pop),
            Err(EditError::NotTagged)
        );
        assert_eq!(
            apply_edit(&mut buffer, 100, length, Edit::Keep),
            Err(EditError::OutOfBounds)
        );
        assert_eq!(
            apply_edit(&mut buffer, 0, 10, Edit::Keep),
            Err(EditError::OutOfBounds)
        );
        assert_eq!(
            apply_edit(&mut buffer, usize::MAX, 20, Edit::Keep),
            Err(EditError::OutOfBounds)
        );
    }

    #[test]
    fn rarp_frame_bytes() {
        let mac = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        let mut buffer = [0xeeu8; 80];
        assert_eq!(write_rarp(&mut buffer, mac, None), Ok(60));
        let mut expected = [0u8; 60];
        expected[..12].copy_from_slice(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x52, 0x54, 0, 0x12, 0x34, 0x56,
        ]);
        expected[12..22].copy_from_slice(&[0x80, 0x35, 0, 1, 8, 0, 6, 4, 0, 3]);
        expected[22..28].copy_from_slice(&mac.0);
        expected[32..38].copy_from_slice(&mac.0);
        assert_eq!(&buffer[..60], &expected[..]);
        let vlan = VlanId::new(10);
        assert_eq!(write_rarp(&mut buffer, mac, vlan), Ok(64));
        assert_eq!(&buffer[12..16], &[0x81, 0x00, 0x00, 0x0a]);
        assert_eq!(&buffer[16..64], &expected[12..60]);
        assert_eq!(
            write_rarp(&mut [0u8; 59], mac, None),
            Err(EditError::OutOfBounds)
        );
    }
}
