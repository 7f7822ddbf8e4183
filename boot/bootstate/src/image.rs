//! MCUboot image format: header and TLV parser, and the verifier dpuboot and the kernel share.
//!
//! Layout (all little-endian), as produced by `imgtool sign` (MCUboot `scripts/imgtool`):
//!
//! ```text
//! [0, 32)                 header: magic 0x96f3b83d, load_addr, hdr_size u16,
//!                         protect_tlv_size u16, img_size, flags, version {u8, u8, u16, u32}, pad
//! [32, hdr_size)          header padding (0xFF with `--pad-header`)
//! [hdr_size, +img_size)   payload (the kernel's arm64 Image)
//! protected TLV area      info {0x6908, total incl. info}, SEC_CNT (0x50, u32)
//! unprotected TLV area    info {0x6907, total incl. info}, SHA256 (0x10), KEYHASH (0x01),
//!                         ED25519 (0x24)
//! ```
//!
//! The SHA-256 covers everything before the unprotected area (header with padding, payload,
//! protected TLVs). KEYHASH is the SHA-256 of the signer's public key as DER
//! SubjectPublicKeyInfo (what imgtool's `get_public_bytes` exports for ed25519). The Ed25519
//! signature signs the 32-byte digest, not the image (imgtool's default; `--pure` is refused).
//! Every length is checked before use; malformed input gives a typed error, never a panic.

use core::fmt;
use core::ops::Range;

use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::ed25519::{Progress, SignatureCheck};
use crate::flash::{Flash, FlashError};
use crate::record::{FailureReason, Version};

/// Header magic.
pub const IMAGE_MAGIC: u32 = 0x96f3_b83d;
/// Length of the fixed header structure.
pub const HEADER_LEN: usize = 32;
/// Magic of the unprotected TLV area's info header.
pub const TLV_INFO_MAGIC: u16 = 0x6907;
/// Magic of the protected TLV area's info header.
pub const TLV_PROT_INFO_MAGIC: u16 = 0x6908;
/// TLV: SHA-256 of the signer's public key (DER SubjectPublicKeyInfo).
pub const TLV_KEYHASH: u16 = 0x01;
/// TLV: SHA-256 of the image.
pub const TLV_SHA256: u16 = 0x10;
/// TLV: Ed25519 signature of the SHA-256 digest.
pub const TLV_ED25519: u16 = 0x24;
/// TLV: marks a "pure" signature over the whole image (not supported here).
pub const TLV_SIG_PURE: u16 = 0x25;
/// TLV: security counter (protected area only).
pub const TLV_SEC_CNT: u16 = 0x50;
/// Header flags this verifier cannot honour: encrypted (AES-128/256), non-bootable,
/// compressed (LZMA1/LZMA2/ARM thumb filter).
pub const UNSUPPORTED_FLAGS: u32 = 0x0004 | 0x0008 | 0x0010 | 0x0200 | 0x0400 | 0x0800;
/// DER prefix of an Ed25519 SubjectPublicKeyInfo; the 32 key bytes follow.
pub const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

const TLV_HEADER_LEN: u32 = 4;

/// Why an image was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum VerifyError {
    /// Lengths run past the end of the image (truncated or overflowing fields).
    Length,
    /// The structure is malformed.
    Format(FormatError),
    /// The SHA256 TLV does not match the computed digest.
    Hash,
    /// No trusted key has the image's KEYHASH.
    UnknownKey,
    /// The signature does not verify with the trusted key.
    Signature,
    /// The security counter is below the anti-rollback floor.
    SecurityCounter {
        /// The image's counter.
        image: u32,
        /// The floor.
        floor: u32,
    },
    /// Reading the image from flash failed.
    Flash(FlashError),
}

/// Structural problems, for diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The header magic is wrong.
    HeaderMagic,
    /// `hdr_size` is smaller than the header.
    HeaderSize,
    /// A header flag asks for something unsupported (encryption, compression, non-bootable).
    Flags(u32),
    /// A TLV area's info magic is wrong.
    TlvInfoMagic,
    /// The protected area's size disagrees with the header's `protect_tlv_size`.
    ProtectedSize,
    /// A TLV entry runs past the end of its area.
    TlvOverrun,
    /// A required TLV is missing.
    MissingTlv(u16),
    /// A TLV appears twice.
    DuplicateTlv(u16),
    /// A TLV has the wrong length for its type.
    TlvLength(u16),
    /// A TLV that must be protected sits in the unprotected area.
    UnprotectedTlv(u16),
    /// The image uses a pure signature, which we do not accept.
    PureSignature,
}

/// The name of a TLV type, for messages.
#[must_use]
pub fn tlv_name(kind: u16) -> &'static str {
    match kind {
        TLV_KEYHASH => "KEYHASH",
        TLV_SHA256 => "SHA256",
        TLV_ED25519 => "ED25519",
        TLV_SIG_PURE => "SIG_PURE",
        TLV_SEC_CNT => "SEC_CNT",
        _ => "unknown",
    }
}

/// Writes "TLV 0x0010 (SHA256)".
fn write_tlv(formatter: &mut fmt::Formatter<'_>, kind: u16) -> fmt::Result {
    write!(formatter, "TLV {kind:#06x} ({})", tlv_name(kind))
}

impl fmt::Display for FormatError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FormatError::HeaderMagic => formatter.write_str("bad image header magic"),
            FormatError::HeaderSize => {
                formatter.write_str("header size smaller than the 32-byte header")
            }
            FormatError::Flags(flags) => write!(formatter, "unsupported header flags {flags:#x}"),
            FormatError::TlvInfoMagic => formatter.write_str("bad TLV area magic"),
            FormatError::ProtectedSize => {
                formatter.write_str("protected TLV area size disagrees with the header")
            }
            FormatError::TlvOverrun => formatter.write_str("TLV runs past the end of its area"),
            FormatError::MissingTlv(kind) => {
                formatter.write_str("missing ")?;
                write_tlv(formatter, kind)
            }
            FormatError::DuplicateTlv(kind) => {
                formatter.write_str("duplicate ")?;
                write_tlv(formatter, kind)
            }
            FormatError::TlvLength(kind) => {
                formatter.write_str("wrong length for ")?;
                write_tlv(formatter, kind)
            }
            FormatError::UnprotectedTlv(kind) => {
                write_tlv(formatter, kind)?;
                formatter.write_str(" must be in the protected area")
            }
            FormatError::PureSignature => formatter.write_str("pure signatures are not accepted"),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Length => formatter.write_str("image lengths run past its end"),
            VerifyError::Format(error) => write!(formatter, "malformed image: {error}"),
            VerifyError::Hash => formatter.write_str("image hash mismatch"),
            VerifyError::UnknownKey => formatter.write_str("image signed by an unknown key"),
            VerifyError::Signature => formatter.write_str("bad image signature"),
            VerifyError::SecurityCounter { image, floor } => write!(
                formatter,
                "security counter {image} below the anti-rollback floor {floor}"
            ),
            VerifyError::Flash(error) => write!(formatter, "flash read failed: {error}"),
        }
    }
}

impl From<FormatError> for VerifyError {
    fn from(error: FormatError) -> Self {
        VerifyError::Format(error)
    }
}

impl VerifyError {
    /// The failure reason to record in the boot state.
    #[must_use]
    pub fn reason(&self) -> FailureReason {
        match self {
            VerifyError::Length => FailureReason::Length,
            VerifyError::Format(_) => FailureReason::Format,
            VerifyError::Hash => FailureReason::Hash,
            VerifyError::UnknownKey => FailureReason::UnknownKey,
            VerifyError::Signature => FailureReason::Signature,
            VerifyError::SecurityCounter { .. } => FailureReason::SecurityCounter,
            VerifyError::Flash(_) => FailureReason::Flash,
        }
    }
}

/// A public key images may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedKey {
    /// The raw 32-byte Ed25519 public key.
    pub public_key: [u8; 32],
}

impl TrustedKey {
    /// Wraps a raw Ed25519 public key.
    #[must_use]
    pub const fn new(public_key: [u8; 32]) -> TrustedKey {
        TrustedKey { public_key }
    }

    /// The KEYHASH TLV value for this key: SHA-256 of its DER SubjectPublicKeyInfo.
    #[must_use]
    pub fn key_hash(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(ED25519_SPKI_PREFIX);
        hasher.update(self.public_key);
        hasher.finalize().into()
    }
}

/// The fixed 32-byte image header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageHeader {
    /// Load address (0 unless signed with `--load-addr`).
    pub load_addr: u32,
    /// Header size including padding: the payload's offset.
    pub hdr_size: u16,
    /// Size of the protected TLV area including its info header (0 if none).
    pub protect_tlv_size: u16,
    /// Payload size.
    pub img_size: u32,
    /// Flags.
    pub flags: u32,
    /// Version.
    pub version: Version,
}

impl ImageHeader {
    /// Parses and checks the header at the start of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<ImageHeader, VerifyError> {
        let header = bytes.get(..HEADER_LEN).ok_or(VerifyError::Length)?;
        let u32_at = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let u16_at = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        if u32_at(0) != IMAGE_MAGIC {
            return Err(FormatError::HeaderMagic.into());
        }
        let parsed = ImageHeader {
            load_addr: u32_at(4),
            hdr_size: u16_at(8),
            protect_tlv_size: u16_at(10),
            img_size: u32_at(12),
            flags: u32_at(16),
            version: Version {
                major: header[20],
                minor: header[21],
                revision: u16_at(22),
                build: u32_at(24),
            },
        };
        if usize::from(parsed.hdr_size) < HEADER_LEN {
            return Err(FormatError::HeaderSize.into());
        }
        if parsed.flags & UNSUPPORTED_FLAGS != 0 {
            return Err(FormatError::Flags(parsed.flags).into());
        }
        Ok(parsed)
    }

    /// Offset of the protected TLV area (end of payload), if it does not overflow.
    fn payload_end(&self) -> Result<u32, VerifyError> {
        u32::from(self.hdr_size)
            .checked_add(self.img_size)
            .ok_or(VerifyError::Length)
    }
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    /// The parsed header.
    pub header: ImageHeader,
    /// Image version.
    pub version: Version,
    /// Security counter (protected TLV).
    pub security_counter: u32,
    /// SHA-256 of header, payload and protected TLVs.
    pub digest: [u8; 32],
    /// Where the payload (the arm64 Image) lies inside the image.
    pub payload: Range<usize>,
    /// Total image length: header, payload and both TLV areas.
    pub total_len: usize,
    /// Index into the trusted key list of the key that signed it.
    pub key_index: usize,
}

/// Random access to the bytes of an image, in RAM or in flash.
trait ImageSource {
    fn len(&self) -> u32;
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), VerifyError>;
}

struct SliceSource<'a>(&'a [u8]);

impl ImageSource for SliceSource<'_> {
    fn len(&self) -> u32 {
        // Callers reject slices longer than u32::MAX before building a source.
        u32::try_from(self.0.len()).unwrap_or(u32::MAX)
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), VerifyError> {
        let start = offset as usize;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.0.get(start..end))
            .ok_or(VerifyError::Length)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

struct FlashSource<'a, F: Flash> {
    flash: &'a mut F,
    base: u32,
    len: u32,
}

impl<F: Flash> ImageSource for FlashSource<'_, F> {
    fn len(&self) -> u32 {
        self.len
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), VerifyError> {
        let in_range = u32::try_from(buf.len())
            .ok()
            .and_then(|len| offset.checked_add(len))
            .is_some_and(|end| end <= self.len);
        if !in_range {
            return Err(VerifyError::Length);
        }
        let at = self.base.checked_add(offset).ok_or(VerifyError::Length)?;
        self.flash.read(at, buf).map_err(VerifyError::Flash)
    }
}

/// Verifies an image held in memory (dpuboot's RAM copy). Bytes after the image are ignored.
pub fn verify(
    image: &[u8],
    trusted_keys: &[TrustedKey],
    floor: u32,
) -> Result<VerifiedImage, VerifyError> {
    if u32::try_from(image.len()).is_err() {
        return Err(VerifyError::Length);
    }
    verify_source(&mut SliceSource(image), trusted_keys, floor)
}

/// Verifies the image stored at `[base, base + len)` in `flash` without copying it.
pub fn verify_in_flash<F: Flash>(
    flash: &mut F,
    base: u32,
    len: u32,
    trusted_keys: &[TrustedKey],
    floor: u32,
) -> Result<VerifiedImage, VerifyError> {
    verify_source(&mut FlashSource { flash, base, len }, trusted_keys, floor)
}

/// Reads the `(magic, total)` info header of a TLV area.
fn read_info(source: &mut impl ImageSource, offset: u32) -> Result<(u16, u16), VerifyError> {
    let mut info = [0u8; 4];
    source.read(offset, &mut info)?;
    Ok((
        u16::from_le_bytes([info[0], info[1]]),
        u16::from_le_bytes([info[2], info[3]]),
    ))
}

/// One TLV entry: type, and where its value lies.
#[derive(Clone, Copy)]
struct Tlv {
    kind: u16,
    offset: u32,
    len: u16,
}

/// Walks the entries of the TLV area `[start + 4, end)`, calling `visit` for each.
///
/// The caller has checked `start + 4 <= end`; the arithmetic here is checked anyway, so a
/// future caller cannot turn a bad length into a wrapped offset.
fn walk_tlvs<S: ImageSource>(
    source: &mut S,
    start: u32,
    end: u32,
    mut visit: impl FnMut(&mut S, Tlv) -> Result<(), VerifyError>,
) -> Result<(), VerifyError> {
    let mut offset = start
        .checked_add(TLV_HEADER_LEN)
        .ok_or(VerifyError::Length)?;
    while offset < end {
        // `offset < end`, so the subtractions below cannot wrap.
        if end - offset < TLV_HEADER_LEN {
            return Err(FormatError::TlvOverrun.into());
        }
        let (kind, len) = read_info(source, offset)?;
        let value = offset + TLV_HEADER_LEN;
        if end - value < u32::from(len) {
            return Err(FormatError::TlvOverrun.into());
        }
        visit(
            source,
            Tlv {
                kind,
                offset: value,
                len,
            },
        )?;
        offset = value + u32::from(len);
    }
    Ok(())
}

/// Reads a fixed-length TLV value, refusing duplicates and wrong lengths.
fn take_value<const N: usize>(
    source: &mut impl ImageSource,
    tlv: Tlv,
    slot: &mut Option<[u8; N]>,
) -> Result<(), VerifyError> {
    if slot.is_some() {
        return Err(FormatError::DuplicateTlv(tlv.kind).into());
    }
    if usize::from(tlv.len) != N {
        return Err(FormatError::TlvLength(tlv.kind).into());
    }
    let mut value = [0u8; N];
    source.read(tlv.offset, &mut value)?;
    *slot = Some(value);
    Ok(())
}

/// What the structure of an image says, before its hash and signature are checked.
#[derive(Debug, Clone, Copy)]
struct Layout {
    header: ImageHeader,
    payload_end: u32,
    /// The hash covers `[0, unprotected_start)`.
    unprotected_start: u32,
    image_end: u32,
    security_counter: u32,
    expected_digest: [u8; 32],
    key_hash: [u8; 32],
    signature: [u8; 64],
}

/// Reads the header and both TLV areas and checks their structure (a few small reads).
fn parse_layout(source: &mut impl ImageSource) -> Result<Layout, VerifyError> {
    let total = source.len();
    let mut header_bytes = [0u8; HEADER_LEN];
    source.read(0, &mut header_bytes)?;
    let header = ImageHeader::parse(&header_bytes)?;

    // Protected area: [payload_end, unprotected_start).
    let payload_end = header.payload_end()?;
    let protected_size = u32::from(header.protect_tlv_size);
    let unprotected_start = payload_end
        .checked_add(protected_size)
        .ok_or(VerifyError::Length)?;
    if unprotected_start
        .checked_add(TLV_HEADER_LEN)
        .is_none_or(|end| end > total)
    {
        return Err(VerifyError::Length);
    }
    let (magic, _) = read_info(source, payload_end)?;
    if protected_size != 0 {
        let (_, protected_total) = read_info(source, payload_end)?;
        if magic != TLV_PROT_INFO_MAGIC {
            return Err(FormatError::TlvInfoMagic.into());
        }
        if u32::from(protected_total) != protected_size || protected_size < TLV_HEADER_LEN {
            return Err(FormatError::ProtectedSize.into());
        }
    } else if magic == TLV_PROT_INFO_MAGIC {
        // A protected area the header does not account for would escape the hash.
        return Err(FormatError::ProtectedSize.into());
    }
    let (magic, unprotected_total) = read_info(source, unprotected_start)?;
    if magic != TLV_INFO_MAGIC {
        return Err(FormatError::TlvInfoMagic.into());
    }
    if u32::from(unprotected_total) < TLV_HEADER_LEN {
        return Err(FormatError::TlvOverrun.into());
    }
    // Checked: a source close to 4 GiB can put `unprotected_start` within 64 KiB of the top
    // (fuzz finding F1).
    let image_end = unprotected_start
        .checked_add(u32::from(unprotected_total))
        .filter(|&end| end <= total)
        .ok_or(VerifyError::Length)?;

    let mut security_counter: Option<[u8; 4]> = None;
    if protected_size != 0 {
        walk_tlvs(
            source,
            payload_end,
            unprotected_start,
            |source, tlv| match tlv.kind {
                TLV_SEC_CNT => take_value(source, tlv, &mut security_counter),
                _ => Ok(()),
            },
        )?;
    }
    let mut sha256: Option<[u8; 32]> = None;
    let mut key_hash: Option<[u8; 32]> = None;
    let mut signature: Option<[u8; 64]> = None;
    walk_tlvs(
        source,
        unprotected_start,
        image_end,
        |source, tlv| match tlv.kind {
            TLV_SHA256 => take_value(source, tlv, &mut sha256),
            TLV_KEYHASH => take_value(source, tlv, &mut key_hash),
            TLV_ED25519 => take_value(source, tlv, &mut signature),
            TLV_SEC_CNT => Err(FormatError::UnprotectedTlv(tlv.kind).into()),
            TLV_SIG_PURE => Err(FormatError::PureSignature.into()),
            _ => Ok(()),
        },
    )?;
    let security_counter =
        u32::from_le_bytes(security_counter.ok_or(FormatError::MissingTlv(TLV_SEC_CNT))?);
    let expected_digest = sha256.ok_or(FormatError::MissingTlv(TLV_SHA256))?;
    let key_hash = key_hash.ok_or(FormatError::MissingTlv(TLV_KEYHASH))?;
    let signature = signature.ok_or(FormatError::MissingTlv(TLV_ED25519))?;
    Ok(Layout {
        header,
        payload_end,
        unprotected_start,
        image_end,
        security_counter,
        expected_digest,
        key_hash,
        signature,
    })
}

/// Bytes hashed per read (a stack buffer).
const HASH_CHUNK: usize = 512;

/// Hashes `[*offset, min(*offset + budget, end))` of `source` into `hasher`.
fn hash_range(
    source: &mut impl ImageSource,
    hasher: &mut Sha256,
    offset: &mut u32,
    end: u32,
    budget: u32,
) -> Result<(), VerifyError> {
    let mut chunk = [0u8; HASH_CHUNK];
    let stop = offset.saturating_add(budget).min(end);
    while *offset < stop {
        let count = (stop - *offset).min(chunk.len() as u32) as usize;
        source.read(*offset, &mut chunk[..count])?;
        hasher.update(&chunk[..count]);
        *offset += count as u32;
    }
    Ok(())
}

/// The checks after the hash that come before the signature: the digest, then the key. Returns
/// the index of the trusted key with the image's KEYHASH.
fn check_digest_and_key(
    layout: &Layout,
    digest: [u8; 32],
    trusted_keys: &[TrustedKey],
) -> Result<usize, VerifyError> {
    if digest != layout.expected_digest {
        return Err(VerifyError::Hash);
    }
    trusted_keys
        .iter()
        .position(|key| key.key_hash() == layout.key_hash)
        .ok_or(VerifyError::UnknownKey)
}

/// The check after the signature: the floor (only a signed counter means anything).
fn accept(
    layout: &Layout,
    digest: [u8; 32],
    key_index: usize,
    floor: u32,
) -> Result<VerifiedImage, VerifyError> {
    let Layout {
        header,
        payload_end,
        image_end,
        security_counter,
        ..
    } = *layout;
    if security_counter < floor {
        return Err(VerifyError::SecurityCounter {
            image: security_counter,
            floor,
        });
    }
    Ok(VerifiedImage {
        header,
        version: header.version,
        security_counter,
        digest,
        payload: usize::from(header.hdr_size)..payload_end as usize,
        total_len: image_end as usize,
        key_index,
    })
}

/// The checks after the hash in one go: digest, key, signature (`verify_strict`, one call),
/// floor. [`SignatureVerifier`] is the same with the signature in slices.
fn conclude(
    layout: &Layout,
    digest: [u8; 32],
    trusted_keys: &[TrustedKey],
    floor: u32,
) -> Result<VerifiedImage, VerifyError> {
    let key_index = check_digest_and_key(layout, digest, trusted_keys)?;
    let public_key = trusted_keys
        .get(key_index)
        .ok_or(VerifyError::UnknownKey)?
        .public_key;
    let verifying_key =
        VerifyingKey::from_bytes(&public_key).map_err(|_| VerifyError::Signature)?;
    verifying_key
        .verify_strict(&digest, &Signature::from_bytes(&layout.signature))
        .map_err(|_| VerifyError::Signature)?;
    accept(layout, digest, key_index, floor)
}

fn verify_source(
    source: &mut impl ImageSource,
    trusted_keys: &[TrustedKey],
    floor: u32,
) -> Result<VerifiedImage, VerifyError> {
    let layout = parse_layout(source)?;
    // Hash everything the signature protects, in stack-sized chunks.
    let mut hasher = Sha256::new();
    let mut offset = 0u32;
    hash_range(
        source,
        &mut hasher,
        &mut offset,
        layout.unprotected_start,
        u32::MAX,
    )?;
    conclude(&layout, hasher.finalize().into(), trusted_keys, floor)
}

/// A verification of an image in flash done in slices (the kernel's poll loop does one bounded
/// piece per pass): [`FlashVerifier::begin`] checks the structure, each [`FlashVerifier::step`]
/// hashes up to a budget, [`FlashVerifier::signature`] checks the digest and the key and
/// returns the [`SignatureVerifier`] whose steps check the Ed25519 signature and then the floor.
/// The checks and their order are those of [`verify_in_flash`], which runs them in one go
/// (with `ed25519-dalek`'s `verify_strict`, whose verdicts the sliced check reproduces).
#[derive(Debug, Clone)]
pub struct FlashVerifier {
    base: u32,
    len: u32,
    layout: Layout,
    hasher: Sha256,
    hashed: u32,
}

impl FlashVerifier {
    /// Reads and checks the header and TLV areas of the image at `[base, base + len)`.
    pub fn begin<F: Flash>(flash: &mut F, base: u32, len: u32) -> Result<Self, VerifyError> {
        let layout = parse_layout(&mut FlashSource { flash, base, len })?;
        Ok(FlashVerifier {
            base,
            len,
            layout,
            hasher: Sha256::new(),
            hashed: 0,
        })
    }

    /// Hashes up to `budget` more bytes; true once everything the signature covers is hashed.
    pub fn step<F: Flash>(&mut self, flash: &mut F, budget: u32) -> Result<bool, VerifyError> {
        let mut source = FlashSource {
            flash,
            base: self.base,
            len: self.len,
        };
        hash_range(
            &mut source,
            &mut self.hasher,
            &mut self.hashed,
            self.layout.unprotected_start,
            budget.max(1),
        )?;
        Ok(self.is_hashed())
    }

    /// Bytes hashed so far.
    #[must_use]
    pub fn hashed(&self) -> u32 {
        self.hashed
    }

    /// Bytes the hash covers in all.
    #[must_use]
    pub fn to_hash(&self) -> u32 {
        self.layout.unprotected_start
    }

    /// Whether every byte the signature covers is hashed.
    #[must_use]
    pub fn is_hashed(&self) -> bool {
        self.hashed >= self.layout.unprotected_start
    }

    /// Once every byte is hashed ([`FlashVerifier::is_hashed`]): checks the digest and the key,
    /// and starts the signature check (no curve arithmetic yet). Before that the digest cannot
    /// match, so this refuses with [`VerifyError::Hash`].
    pub fn signature(&self, trusted_keys: &[TrustedKey]) -> Result<SignatureVerifier, VerifyError> {
        if !self.is_hashed() {
            return Err(VerifyError::Hash);
        }
        let digest: [u8; 32] = self.hasher.clone().finalize().into();
        let key_index = check_digest_and_key(&self.layout, digest, trusted_keys)?;
        let public_key = trusted_keys
            .get(key_index)
            .ok_or(VerifyError::UnknownKey)?
            .public_key;
        Ok(SignatureVerifier {
            layout: self.layout,
            digest,
            key_index,
            check: SignatureCheck::new(&public_key, &self.layout.signature, &digest),
        })
    }

    /// Hashes what is left (nothing, after the last [`FlashVerifier::step`]) and checks the
    /// digest, key, signature and floor in one go.
    pub fn finish<F: Flash>(
        mut self,
        flash: &mut F,
        trusted_keys: &[TrustedKey],
        floor: u32,
    ) -> Result<VerifiedImage, VerifyError> {
        self.step(flash, u32::MAX)?;
        self.signature(trusted_keys)?.finish(floor)
    }
}

/// The end of a sliced verification ([`FlashVerifier::signature`]): digest and key are
/// checked; each [`SignatureVerifier::step`] does one bounded step of the Ed25519 check
/// ([`crate::ed25519::SignatureCheck`], [`crate::ed25519::MAX_STEPS`] at most), then
/// [`SignatureVerifier::finish`] checks the floor.
#[derive(Debug, Clone)]
pub struct SignatureVerifier {
    layout: Layout,
    digest: [u8; 32],
    key_index: usize,
    check: SignatureCheck,
}

impl SignatureVerifier {
    /// One step of the signature check; true once the signature is valid.
    pub fn step(&mut self) -> Result<bool, VerifyError> {
        match self.check.step() {
            Ok(Progress::Valid) => Ok(true),
            Ok(Progress::Pending) => Ok(false),
            Err(_) => Err(VerifyError::Signature),
        }
    }

    /// Steps of the signature check taken so far.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.check.steps()
    }

    /// Runs the signature steps that are left (none after the last [`SignatureVerifier::step`]),
    /// then checks the floor.
    pub fn finish(mut self, floor: u32) -> Result<VerifiedImage, VerifyError> {
        while !self.step()? {}
        accept(&self.layout, self.digest, self.key_index, floor)
    }
}
