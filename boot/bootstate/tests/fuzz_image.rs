//! Property test (fuzz harness) of image verification: mutated signed images, RAM and flash.
//!
//! Starts from images signed with the trusted key and stacks random attacker mutations: bit
//! flips and byte sets (biased to the header and TLV areas), truncation, extension, insertion,
//! deletion, "interesting" values written into every header and TLV field, structural edits
//! of the unprotected TLV area with its total fixed up, and splices from donor images (the
//! same payloads signed by a stranger, other payloads and counters signed by the trusted key).
//!
//! A third property builds images the key holder signed with odd structure (header sizes
//! 0..0x1100, any flags, 0-3 protected TLVs or none, unprotected TLVs removed, duplicated,
//! swapped or added, wrong lengths and values, a pure-signature marker, sometimes the wrong
//! signer) and checks the verifier's decision against the documented rules, decided from how
//! the image was built.
//!
//! Properties, for every case: no panic; an accepted image's signed region (header, payload,
//! protected TLVs) is byte-identical to that of a legitimately signed image, with its digest,
//! counter (at or above the floor) and payload range; `verify_in_flash` and the kernel's sliced
//! verification (`FlashVerifier`, the Ed25519 check in steps) return exactly what `verify`
//! returns. Long run: `PROPTEST_CASES=200000 cargo test --release -p bootstate --test
//! fuzz_image` (docs/fuzzing.md).

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use std::sync::OnceLock;

use bootstate::flash::{Flash, FlashError};
use bootstate::image::{
    FlashVerifier, IMAGE_MAGIC, TLV_ED25519, TLV_INFO_MAGIC, TLV_KEYHASH, TLV_PROT_INFO_MAGIC,
    TLV_SEC_CNT, TLV_SHA256, TLV_SIG_PURE, UNSUPPORTED_FLAGS, verify_in_flash,
};
use bootstate::sign::{SigningKey, sign_with_header_size, trusted_key};
use bootstate::{TrustedKey, Version, verify};
use common::{key, noise, proptest_cases, stranger_key};
use proptest::prelude::*;

/// A signed image and what verification must report for it.
struct Signed {
    bytes: Vec<u8>,
    /// End of the signed region: header, payload, protected TLVs.
    unprotected_start: usize,
    payload: std::ops::Range<usize>,
    security_counter: u32,
    trusted: bool,
}

fn signed(signer: &SigningKey, header: u16, payload: &[u8], counter: u32) -> Signed {
    let version = Version {
        major: 1,
        minor: 2,
        revision: 3,
        build: counter,
    };
    let bytes = sign_with_header_size(payload, version, counter, signer, header).unwrap();
    let payload_end = usize::from(header) + payload.len();
    Signed {
        unprotected_start: payload_end + 12,
        payload: usize::from(header)..payload_end,
        security_counter: counter,
        trusted: signer.verifying_key() == key().verifying_key(),
        bytes,
    }
}

/// The corpus: five bases (as in the 2026 report) then donors.
fn corpus() -> &'static [Signed] {
    static CORPUS: OnceLock<Vec<Signed>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let trusted = key();
        let stranger = stranger_key();
        let bases = [
            (0x1000u16, noise(1, 200), 5u32),
            (32, noise(2, 64), 5),
            (32, Vec::new(), 5),
            (0x200, noise(4, 1000), u32::MAX),
            (33, noise(5, 3), 5),
        ];
        let mut images: Vec<Signed> = bases
            .iter()
            .map(|(header, payload, counter)| signed(&trusted, *header, payload, *counter))
            .collect();
        for (header, payload, counter) in &bases {
            images.push(signed(&stranger, *header, payload, *counter));
        }
        images.push(signed(&trusted, 0x1000, &noise(9, 200), 5));
        images.push(signed(&trusted, 32, &noise(2, 64), 6));
        images.push(signed(&trusted, 32, &noise(2, 64), 8));
        images
    })
}

const BASES: usize = 5;

fn trusted_keys(with_other_key_first: bool) -> Vec<TrustedKey> {
    let mut keys = Vec::new();
    if with_other_key_first {
        keys.push(trusted_key(
            &SigningKey::from_bytes(&[0x77; 32]).verifying_key(),
        ));
    }
    keys.push(trusted_key(&key().verifying_key()));
    keys
}

/// Offsets of the fields of a base image worth writing interesting values into.
fn field_offsets(image: &Signed) -> Vec<usize> {
    let mut offsets = vec![4, 8, 10, 12, 16, 20, 22, 24, 28];
    let protected = image.payload.end;
    offsets.extend([
        protected,
        protected + 2,
        protected + 4,
        protected + 6,
        protected + 8,
    ]);
    let unprotected = image.unprotected_start;
    offsets.extend([unprotected, unprotected + 2]);
    // SHA256 (4 + 32), KEYHASH (4 + 32), ED25519 (4 + 64): type and length of each.
    for entry in [unprotected + 4, unprotected + 40, unprotected + 76] {
        offsets.extend([entry, entry + 2]);
    }
    offsets
}

const INTERESTING: [u32; 16] = [
    0,
    1,
    3,
    4,
    12,
    31,
    32,
    33,
    0x7F,
    0xFF,
    0x1000,
    0xFFFF,
    0x1_0000,
    u32::MAX - 0x1000,
    u32::MAX - 1,
    u32::MAX,
];

#[derive(Clone, Debug)]
enum Region {
    Header,
    Tlvs,
    Anywhere,
}

#[derive(Clone, Debug)]
enum TlvEdit {
    Duplicate(usize),
    Remove(usize),
    Swap(usize, usize),
    Reverse,
    Insert(usize, u16, Vec<u8>),
    Resize(usize, usize),
}

#[derive(Clone, Debug)]
enum Mutation {
    FlipBit(Region, usize, u8),
    SetByte(Region, usize, u8),
    Truncate(usize),
    Extend(Vec<u8>),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    /// Writes `INTERESTING[value]` (+ `delta`) as u16 or u32 at field `field` of the base.
    Interesting {
        field: usize,
        value: usize,
        delta: i8,
        wide: bool,
    },
    /// Rebuilds the unprotected area (total fixed up) after a structural edit.
    Unprotected(TlvEdit),
    /// Copies `len` bytes of donor `donor` at `from` over offset `to`.
    Splice {
        donor: usize,
        from: usize,
        to: usize,
        len: usize,
    },
    /// Replaces the whole unprotected area with a donor's.
    SpliceTlvArea(usize),
    /// Moves the protected-area boundary (the header's `protect_tlv_size`).
    MoveBoundary(i8),
}

fn region() -> impl Strategy<Value = Region> {
    prop_oneof![
        Just(Region::Header),
        Just(Region::Tlvs),
        Just(Region::Anywhere)
    ]
}

fn tlv_edit() -> impl Strategy<Value = TlvEdit> {
    let kind = prop_oneof![
        Just(0x7777u16),
        Just(TLV_SEC_CNT),
        Just(TLV_SIG_PURE),
        Just(TLV_SHA256),
        Just(TLV_KEYHASH),
        Just(TLV_ED25519),
        any::<u16>(),
    ];
    prop_oneof![
        (0..4usize).prop_map(TlvEdit::Duplicate),
        (0..4usize).prop_map(TlvEdit::Remove),
        (0..4usize, 0..4usize).prop_map(|(a, b)| TlvEdit::Swap(a, b)),
        Just(TlvEdit::Reverse),
        (
            0..4usize,
            kind,
            proptest::collection::vec(any::<u8>(), 0..70)
        )
            .prop_map(|(at, kind, value)| TlvEdit::Insert(at, kind, value)),
        (0..4usize, 0..80usize).prop_map(|(at, len)| TlvEdit::Resize(at, len)),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (region(), any::<usize>(), 0..8u8).prop_map(|(r, at, bit)| Mutation::FlipBit(r, at, bit)),
        2 => (region(), any::<usize>(), any::<u8>()).prop_map(|(r, at, v)| Mutation::SetByte(r, at, v)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert(at, bytes)),
        1 => (any::<usize>(), 1..16usize).prop_map(|(at, n)| Mutation::Delete(at, n)),
        4 => (any::<usize>(), 0..INTERESTING.len(), -2..=2i8, any::<bool>()).prop_map(
            |(field, value, delta, wide)| Mutation::Interesting { field, value, delta, wide }
        ),
        3 => tlv_edit().prop_map(Mutation::Unprotected),
        2 => (any::<usize>(), any::<usize>(), any::<usize>(), 1..140usize)
            .prop_map(|(donor, from, to, len)| Mutation::Splice { donor, from, to, len }),
        1 => any::<usize>().prop_map(Mutation::SpliceTlvArea),
        1 => (-16..=16i8).prop_map(Mutation::MoveBoundary),
    ]
}

fn pick(region: &Region, at: usize, base: &Signed, len: usize) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let (start, span) = match region {
        Region::Header => (0, 32),
        Region::Tlvs => (base.payload.end, 160),
        Region::Anywhere => (0, len),
    };
    let offset = start + at % span.max(1);
    (offset < len).then_some(offset)
}

/// Splits the unprotected area at `start` into TLV entries, if it parses.
fn unprotected_entries(bytes: &[u8], start: usize) -> Option<Vec<Vec<u8>>> {
    let info = bytes.get(start..start + 4)?;
    let total = usize::from(u16::from_le_bytes([info[2], info[3]]));
    let area = bytes.get(start + 4..start.checked_add(total)?)?;
    let mut entries = Vec::new();
    let mut at = 0;
    while at + 4 <= area.len() {
        let len = usize::from(u16::from_le_bytes([area[at + 2], area[at + 3]]));
        let entry = area.get(at..at + 4 + len)?;
        entries.push(entry.to_vec());
        at += 4 + len;
    }
    Some(entries)
}

fn apply_tlv_edit(bytes: &mut Vec<u8>, start: usize, edit: &TlvEdit) {
    let Some(mut entries) = unprotected_entries(bytes, start) else {
        return;
    };
    let count = entries.len().max(1);
    match edit {
        TlvEdit::Duplicate(at) if !entries.is_empty() => {
            let entry = entries[at % count].clone();
            entries.insert(at % count, entry);
        }
        TlvEdit::Remove(at) if !entries.is_empty() => {
            entries.remove(at % count);
        }
        TlvEdit::Swap(a, b) if !entries.is_empty() => entries.swap(a % count, b % count),
        TlvEdit::Reverse => entries.reverse(),
        TlvEdit::Insert(at, kind, value) => {
            let mut entry = kind.to_le_bytes().to_vec();
            entry.extend_from_slice(&(value.len() as u16).to_le_bytes());
            entry.extend_from_slice(value);
            entries.insert(at % (entries.len() + 1), entry);
        }
        TlvEdit::Resize(at, len) if !entries.is_empty() => {
            let entry = &mut entries[at % count];
            entry.resize(4 + len, 0xA5);
            let len = *len as u16;
            entry[2..4].copy_from_slice(&len.to_le_bytes());
        }
        _ => {}
    }
    let body: Vec<u8> = entries.concat();
    let Ok(total) = u16::try_from(body.len() + 4) else {
        return;
    };
    let old_total = usize::from(u16::from_le_bytes([bytes[start + 2], bytes[start + 3]]));
    let tail = bytes.split_off(start + old_total);
    bytes.truncate(start);
    bytes.extend_from_slice(&TLV_INFO_MAGIC.to_le_bytes());
    bytes.extend_from_slice(&total.to_le_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(&tail);
}

fn apply(bytes: &mut Vec<u8>, base: &Signed, mutation: &Mutation) {
    let images = corpus();
    match mutation {
        Mutation::FlipBit(region, at, bit) => {
            if let Some(at) = pick(region, *at, base, bytes.len()) {
                bytes[at] ^= 1 << bit;
            }
        }
        Mutation::SetByte(region, at, value) => {
            if let Some(at) = pick(region, *at, base, bytes.len()) {
                bytes[at] = *value;
            }
        }
        Mutation::Truncate(keep) => bytes.truncate(keep % (bytes.len() + 1)),
        Mutation::Extend(extra) => bytes.extend_from_slice(extra),
        Mutation::Insert(at, extra) => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, extra.iter().copied());
        }
        Mutation::Delete(at, count) => {
            if !bytes.is_empty() {
                let at = at % bytes.len();
                let end = (at + count).min(bytes.len());
                bytes.drain(at..end);
            }
        }
        Mutation::Interesting {
            field,
            value,
            delta,
            wide,
        } => {
            let offsets = field_offsets(base);
            let at = offsets[field % offsets.len()];
            let value = INTERESTING[*value].wrapping_add_signed(i32::from(*delta));
            let encoded = if *wide {
                value.to_le_bytes().to_vec()
            } else {
                (value as u16).to_le_bytes().to_vec()
            };
            for (index, byte) in encoded.into_iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + index) {
                    *slot = byte;
                }
            }
        }
        Mutation::Unprotected(edit) => apply_tlv_edit(bytes, base.unprotected_start, edit),
        Mutation::Splice {
            donor,
            from,
            to,
            len,
        } => {
            let donor = &images[donor % images.len()].bytes;
            let from = from % donor.len();
            let len = (*len).min(donor.len() - from);
            if !bytes.is_empty() {
                let to = to % bytes.len();
                let end = (to + len).min(bytes.len());
                bytes[to..end].copy_from_slice(&donor[from..from + (end - to)]);
            }
        }
        Mutation::SpliceTlvArea(donor) => {
            let donor = &images[donor % images.len()];
            if bytes.len() >= base.unprotected_start {
                bytes.truncate(base.unprotected_start);
                bytes.extend_from_slice(&donor.bytes[donor.unprotected_start..]);
            }
        }
        Mutation::MoveBoundary(delta) => {
            if bytes.len() >= 12 {
                let size = u16::from_le_bytes([bytes[10], bytes[11]]);
                let size = size.wrapping_add_signed(i16::from(*delta));
                bytes[10..12].copy_from_slice(&size.to_le_bytes());
            }
        }
    }
}

/// The image in a flash device at `base`, reading 0xFF elsewhere.
struct ImageFlash {
    base: u32,
    bytes: Vec<u8>,
}

impl Flash for ImageFlash {
    const SECTOR_SIZE: u32 = 256 * 1024;
    const PROGRAM_GRANULARITY: u32 = 4;

    fn capacity(&self) -> u32 {
        self.base + self.bytes.len() as u32 + 4096
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let end = u64::from(offset) + buf.len() as u64;
        if end > u64::from(self.capacity()) {
            return Err(FlashError::OutOfRange);
        }
        for (index, slot) in buf.iter_mut().enumerate() {
            let at = (u64::from(offset) + index as u64).checked_sub(u64::from(self.base));
            *slot = at
                .and_then(|at| self.bytes.get(at as usize))
                .copied()
                .unwrap_or(0xFF);
        }
        Ok(())
    }

    fn erase(&mut self, _sector_offset: u32) -> Result<(), FlashError> {
        Err(FlashError::Locked)
    }

    fn program(&mut self, _offset: u32, _data: &[u8]) -> Result<(), FlashError> {
        Err(FlashError::Locked)
    }
}

/// The kernel's way: [`FlashVerifier`] hashing `budget` bytes per step, then the Ed25519 check
/// in its bounded steps ([`bootstate::ed25519`]), then the floor.
fn verify_in_slices(
    flash: &mut ImageFlash,
    base: u32,
    len: u32,
    keys: &[TrustedKey],
    floor: u32,
    budget: u32,
) -> Result<bootstate::VerifiedImage, bootstate::VerifyError> {
    let mut verifier = FlashVerifier::begin(flash, base, len)?;
    while !verifier.step(flash, budget)? {}
    let mut signature = verifier.signature(keys)?;
    while !signature.step()? {
        assert!(signature.steps() <= bootstate::ed25519::MAX_STEPS);
    }
    signature.finish(floor)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(5000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_images_are_never_forged(
        base in 0..BASES,
        mutations in proptest::collection::vec(mutation(), 1..=4),
        floor_choice in 0..4u8,
        other_key_first in any::<bool>(),
        slack in 0..64usize,
        flash_base in prop_oneof![Just(0u32), (0..4096u32).prop_map(|k| k * 4096), Just(16 << 20)],
    ) {
        let images = corpus();
        let base_image = &images[base];
        let mut bytes = base_image.bytes.clone();
        for mutation in &mutations {
            apply(&mut bytes, base_image, mutation);
        }
        bytes.resize(bytes.len() + slack, 0xFF);
        let counter = base_image.security_counter;
        let floor = match floor_choice {
            0 => 0,
            1 => 1,
            2 => counter,
            _ => counter.saturating_add(1),
        };
        let keys = trusted_keys(other_key_first);

        let in_ram = verify(&bytes, &keys, floor);
        let mut flash = ImageFlash { base: flash_base, bytes: bytes.clone() };
        let in_flash = verify_in_flash(&mut flash, flash_base, bytes.len() as u32, &keys, floor);
        prop_assert_eq!(&in_ram, &in_flash, "RAM and flash verifiers disagree");
        let sliced = verify_in_slices(&mut flash, flash_base, bytes.len() as u32, &keys, floor, 4096);
        prop_assert_eq!(&in_ram, &sliced, "one-shot and sliced verifiers disagree");

        if let Ok(verified) = in_ram {
            let signed_end = verified.payload.end + usize::from(verified.header.protect_tlv_size);
            prop_assert!(verified.total_len <= bytes.len());
            let legitimate = images.iter().find(|image| {
                image.trusted && image.bytes[..image.unprotected_start] == bytes[..signed_end]
            });
            prop_assert!(legitimate.is_some(), "accepted an image nobody signed: {:?}", mutations);
            let legitimate = legitimate.unwrap();
            prop_assert_eq!(&verified.payload, &legitimate.payload);
            prop_assert_eq!(verified.security_counter, legitimate.security_counter);
            prop_assert!(verified.security_counter >= floor);
            prop_assert_eq!(verified.key_index, usize::from(other_key_first));
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(256),
        ..ProptestConfig::default()
    })]

    /// Unmutated images (with trailing bytes) are accepted exactly when their signer is
    /// trusted and their counter reaches the floor, in RAM and in flash.
    #[test]
    fn signed_images_are_accepted(index in 0..14usize, slack in 0..64usize, floor in any::<u32>()) {
        let images = corpus();
        let image = &images[index % images.len()];
        let mut bytes = image.bytes.clone();
        bytes.resize(bytes.len() + slack, 0xFF);
        let keys = trusted_keys(false);
        let result = verify(&bytes, &keys, floor);
        let mut flash = ImageFlash { base: 0, bytes: bytes.clone() };
        prop_assert_eq!(&result, &verify_in_flash(&mut flash, 0, bytes.len() as u32, &keys, floor));
        prop_assert_eq!(
            &result,
            &verify_in_slices(&mut flash, 0, bytes.len() as u32, &keys, floor, 1 + slack as u32 * 997)
        );
        prop_assert_eq!(
            result.is_ok(),
            image.trusted && image.security_counter >= floor,
            "{:?}",
            result
        );
    }
}

// ---- keyholder variants: signed by the key holder, structurally odd ---------------------

/// A TLV the builder can place in either area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    SecurityCounter,
    /// SEC_CNT with a value of the wrong length.
    SecurityCounterWrongLength,
    Sha,
    /// SHA256 with the wrong digest.
    ShaWrong,
    ShaWrongLength,
    KeyHash,
    /// KEYHASH of the untrusted key.
    KeyHashStranger,
    KeyHashWrongLength,
    Signature,
    SignatureWrongLength,
    Pure,
    Unknown,
}

fn entry() -> impl Strategy<Value = Entry> {
    proptest::sample::select(vec![
        Entry::SecurityCounter,
        Entry::SecurityCounterWrongLength,
        Entry::Sha,
        Entry::ShaWrong,
        Entry::ShaWrongLength,
        Entry::KeyHash,
        Entry::KeyHashStranger,
        Entry::KeyHashWrongLength,
        Entry::Signature,
        Entry::SignatureWrongLength,
        Entry::Pure,
        Entry::Unknown,
    ])
}

/// The usual unprotected area, sometimes with an entry removed, duplicated, swapped for
/// another, or added.
fn unprotected_entries_strategy() -> impl Strategy<Value = Vec<Entry>> {
    let usual = vec![Entry::Sha, Entry::KeyHash, Entry::Signature];
    (
        Just(usual),
        prop_oneof![
            1 => Just(Vec::new()),
            2 => proptest::collection::vec((0..4usize, 0..4usize, entry()), 1..3),
        ],
    )
        .prop_map(|(mut entries, edits)| {
            for (kind, at, entry) in edits {
                let at = at % (entries.len() + 1);
                match kind {
                    0 if at < entries.len() => drop(entries.remove(at)),
                    1 if at < entries.len() => entries.insert(at, entries[at]),
                    2 if at < entries.len() => entries[at] = entry,
                    _ => entries.insert(at, entry),
                }
            }
            entries
        })
}

#[derive(Clone, Debug)]
struct Variant {
    header_size: u16,
    flags: u32,
    payload: Vec<u8>,
    counter: u32,
    /// `None`: no protected area at all.
    protected: Option<Vec<Entry>>,
    unprotected: Vec<Entry>,
    signed_by_stranger: bool,
}

fn variant() -> impl Strategy<Value = Variant> {
    let flags = prop_oneof![
        6 => Just(0u32),
        1 => proptest::sample::select(vec![0x1u32, 0x2, 0x4, 0x8, 0x10, 0x20, 0x100, 0x200, 0x400, 0x800, 0x1000]),
        1 => any::<u32>(),
    ];
    let protected = prop_oneof![
        1 => Just(None),
        2 => Just(Some(vec![Entry::SecurityCounter])),
        2 => proptest::collection::vec(entry(), 0..=3).prop_map(Some),
    ];
    (
        prop_oneof![Just(32u16), Just(0x1000), 0..32u16, 0..0x1100u16],
        flags,
        proptest::collection::vec(any::<u8>(), 0..64),
        prop_oneof![Just(0u32), Just(7), Just(u32::MAX), any::<u32>()],
        protected,
        unprotected_entries_strategy(),
        proptest::bool::weighted(0.1),
    )
        .prop_map(
            |(header_size, flags, payload, counter, protected, unprotected, stranger)| Variant {
                header_size,
                flags,
                payload,
                counter,
                protected,
                unprotected,
                signed_by_stranger: stranger,
            },
        )
}

fn tlv_bytes(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn area(magic: u16, body: &[u8]) -> Vec<u8> {
    let mut out = magic.to_le_bytes().to_vec();
    out.extend_from_slice(&((body.len() + 4) as u16).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Builds the variant the way imgtool would, signing the real digest.
fn build_variant(variant: &Variant) -> Vec<u8> {
    use ed25519_dalek::Signer;
    use sha2::{Digest, Sha256};

    let signer = if variant.signed_by_stranger {
        stranger_key()
    } else {
        key()
    };
    static KEY_HASHES: OnceLock<([u8; 32], [u8; 32])> = OnceLock::new();
    let (trusted_hash, stranger_hash) = *KEY_HASHES.get_or_init(|| {
        (
            trusted_key(&key().verifying_key()).key_hash(),
            trusted_key(&stranger_key().verifying_key()).key_hash(),
        )
    });
    // One signature per image, over the real digest (the unprotected pass).
    let sign = |digest: &[u8; 32]| signer.sign(digest).to_bytes();
    let fixed = |entry: Entry, digest: &[u8; 32], signature: &mut Option<[u8; 64]>| -> Vec<u8> {
        match entry {
            Entry::SecurityCounter => tlv_bytes(TLV_SEC_CNT, &variant.counter.to_le_bytes()),
            Entry::SecurityCounterWrongLength => tlv_bytes(TLV_SEC_CNT, &[7, 0]),
            Entry::Sha => tlv_bytes(TLV_SHA256, digest),
            Entry::ShaWrong => tlv_bytes(TLV_SHA256, &[0x5A; 32]),
            Entry::ShaWrongLength => tlv_bytes(TLV_SHA256, &digest[..31]),
            Entry::KeyHash => tlv_bytes(TLV_KEYHASH, &trusted_hash),
            Entry::KeyHashStranger => tlv_bytes(TLV_KEYHASH, &stranger_hash),
            Entry::KeyHashWrongLength => tlv_bytes(TLV_KEYHASH, &trusted_hash[..16]),
            Entry::Signature => {
                let signature = signature.get_or_insert_with(|| sign(digest));
                tlv_bytes(TLV_ED25519, &signature[..])
            }
            Entry::SignatureWrongLength => tlv_bytes(TLV_ED25519, &[1; 63]),
            Entry::Pure => tlv_bytes(TLV_SIG_PURE, &[]),
            Entry::Unknown => tlv_bytes(0x7777, &[0xAB; 5]),
        }
    };
    let protected = variant.protected.as_ref().map(|entries| {
        let body: Vec<u8> = entries
            .iter()
            .flat_map(|&entry| fixed(entry, &[0; 32], &mut None))
            .collect();
        area(TLV_PROT_INFO_MAGIC, &body)
    });
    let mut image = IMAGE_MAGIC.to_le_bytes().to_vec();
    image.extend_from_slice(&0u32.to_le_bytes());
    image.extend_from_slice(&variant.header_size.to_le_bytes());
    let protected_size = protected.as_ref().map_or(0, Vec::len) as u16;
    image.extend_from_slice(&protected_size.to_le_bytes());
    image.extend_from_slice(&(variant.payload.len() as u32).to_le_bytes());
    image.extend_from_slice(&variant.flags.to_le_bytes());
    image.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    image.resize(usize::from(variant.header_size).max(32), 0xFF);
    image.extend_from_slice(&variant.payload);
    if let Some(protected) = &protected {
        image.extend_from_slice(protected);
    }
    let digest: [u8; 32] = Sha256::digest(&image).into();
    let mut signature = None;
    let body: Vec<u8> = variant
        .unprotected
        .iter()
        .flat_map(|&entry| fixed(entry, &digest, &mut signature))
        .collect();
    image.extend_from_slice(&area(TLV_INFO_MAGIC, &body));
    image
}

/// The documented rules, decided from how the variant was built (not by parsing it).
fn rules_accept(variant: &Variant, floor: u32) -> bool {
    let count = |entries: &[Entry], wanted: &[Entry]| {
        entries
            .iter()
            .filter(|entry| wanted.contains(entry))
            .count()
    };
    if variant.header_size < 32 || variant.flags & UNSUPPORTED_FLAGS != 0 {
        return false;
    }
    // The protected area holds exactly one SEC_CNT of the right length; other TLVs there are
    // covered by the hash and ignored.
    let Some(protected) = &variant.protected else {
        return false;
    };
    if count(protected, &[Entry::SecurityCounterWrongLength]) > 0
        || count(protected, &[Entry::SecurityCounter]) != 1
    {
        return false;
    }
    // The unprotected area: no SEC_CNT, no pure signature, and exactly one each of SHA256,
    // KEYHASH and ED25519, every one the right length, with the right values.
    let unprotected = &variant.unprotected;
    let forbidden = [
        Entry::SecurityCounter,
        Entry::SecurityCounterWrongLength,
        Entry::Pure,
        Entry::ShaWrongLength,
        Entry::KeyHashWrongLength,
        Entry::SignatureWrongLength,
        Entry::ShaWrong,
        Entry::KeyHashStranger,
    ];
    count(unprotected, &forbidden) == 0
        && count(unprotected, &[Entry::Sha]) == 1
        && count(unprotected, &[Entry::KeyHash]) == 1
        && count(unprotected, &[Entry::Signature]) == 1
        && !variant.signed_by_stranger
        && variant.counter >= floor
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: proptest_cases(2000),
        ..ProptestConfig::default()
    })]

    /// Images the key holder signed, with odd structure: the verifier's decision matches the
    /// documented rules, in RAM and in flash.
    #[test]
    fn keyholder_variants_follow_the_rules(variant in variant(), floor in prop_oneof![Just(0u32), any::<u32>()]) {
        let bytes = build_variant(&variant);
        let keys = trusted_keys(false);
        let result = verify(&bytes, &keys, floor);
        let mut flash = ImageFlash { base: 0, bytes: bytes.clone() };
        prop_assert_eq!(&result, &verify_in_flash(&mut flash, 0, bytes.len() as u32, &keys, floor));
        prop_assert_eq!(result.is_ok(), rules_accept(&variant, floor), "{:?}", result);
    }
}
