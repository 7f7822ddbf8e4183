//! MCUboot image parser: targeted malformed inputs and a fuzz-like sweep of mutated bytes.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use bootstate::image::{
    FormatError, IMAGE_MAGIC, TLV_ED25519, TLV_INFO_MAGIC, TLV_KEYHASH, TLV_SEC_CNT, TLV_SHA256,
    verify,
};
use bootstate::sign::sign_with_header_size;
use bootstate::{VerifyError, Version};
use common::*;

const HEADER: usize = 0x1000;

fn le16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn le32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Offsets of the protected and unprotected areas of a good image.
fn areas(image: &[u8]) -> (usize, usize) {
    let img_size = u32::from_le_bytes(image[12..16].try_into().unwrap()) as usize;
    let protected = HEADER + img_size;
    let protected_size = u16::from_le_bytes(image[10..12].try_into().unwrap()) as usize;
    (protected, protected + protected_size)
}

#[test]
fn good_image_layout_matches_imgtool() {
    let bytes = image(1, 7, 1000);
    let (protected, unprotected) = areas(&bytes);
    assert_eq!(
        u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
        IMAGE_MAGIC
    );
    assert_eq!(
        &bytes[32..HEADER],
        &[0xFF; HEADER - 32][..],
        "pad-header fill"
    );
    assert_eq!(&bytes[protected..protected + 4], &[0x08, 0x69, 12, 0]);
    assert_eq!(
        &bytes[protected + 4..protected + 12],
        &[0x50, 0, 4, 0, 7, 0, 0, 0]
    );
    assert_eq!(&bytes[unprotected..unprotected + 4], &[0x07, 0x69, 144, 0]);
    // Unprotected TLVs in imgtool's order: SHA256, KEYHASH, ED25519.
    assert_eq!(bytes[unprotected + 4], TLV_SHA256 as u8);
    assert_eq!(bytes[unprotected + 40], TLV_KEYHASH as u8);
    assert_eq!(bytes[unprotected + 76], TLV_ED25519 as u8);
    assert_eq!(bytes.len(), unprotected + 144);
    let verified = verify(&bytes, &keys(), 7).unwrap();
    assert_eq!(verified.payload, HEADER..HEADER + 1000);
    // Trailing bytes (imgtool --pad) are ignored.
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0xFF; 64]);
    assert_eq!(verify(&padded, &keys(), 0).unwrap().total_len, bytes.len());
}

#[test]
fn small_header_size_works_too() {
    let version = Version {
        major: 0,
        minor: 1,
        revision: 2,
        build: 3,
    };
    let bytes = sign_with_header_size(b"tiny", version, 0, &key(), 32).unwrap();
    assert_eq!(verify(&bytes, &keys(), 0).unwrap().payload, 32..36);
}

#[test]
fn targeted_malformations() {
    let good = image(1, 7, 1000);
    let (protected, unprotected) = areas(&good);
    #[track_caller]
    fn check_with(good: &[u8], edit: &dyn Fn(&mut Vec<u8>), expected: VerifyError) {
        let mut bytes = good.to_vec();
        edit(&mut bytes);
        assert_eq!(verify(&bytes, &keys(), 0).err(), Some(expected));
    }
    macro_rules! check {
        ($edit:expr, $expected:expr) => {
            check_with(&good, &$edit, $expected)
        };
    }
    check!(|b| b.truncate(31), VerifyError::Length);
    check!(|b| b.truncate(b.len() - 1), VerifyError::Length);
    check!(|b| b[0] ^= 1, FormatError::HeaderMagic.into());
    check!(|b| le16(b, 8, 16), FormatError::HeaderSize.into());
    check!(|b| le32(b, 16, 0x4), FormatError::Flags(4).into());
    check!(|b| le32(b, 12, u32::MAX), VerifyError::Length);
    check!(|b| le32(b, 12, u32::MAX - 0x0FFF), VerifyError::Length);
    check!(|b| le16(b, 10, 0xFFFF), VerifyError::Length);
    check!(|b| le16(b, 10, 16), FormatError::ProtectedSize.into());
    check!(|b| le16(b, 10, 0), FormatError::ProtectedSize.into());
    check!(|b| b[protected] = 0, FormatError::TlvInfoMagic.into());
    check!(|b| b[unprotected] = 0, FormatError::TlvInfoMagic.into());
    check!(
        |b| le16(b, unprotected + 2, 2),
        FormatError::TlvOverrun.into()
    );
    check!(|b| le16(b, unprotected + 2, 0xFFFF), VerifyError::Length);
    check!(|b| le16(b, unprotected + 2, 146), VerifyError::Length);
    check!(
        |b| le16(b, unprotected + 6, 33),
        FormatError::TlvLength(TLV_SHA256).into()
    );
    check!(
        |b| le16(b, unprotected + 6, 31),
        FormatError::TlvLength(TLV_SHA256).into()
    );
    check!(
        |b| le16(b, protected + 6, 9),
        FormatError::TlvOverrun.into()
    );
    check!(
        |b| le16(b, protected + 6, 3),
        FormatError::TlvLength(TLV_SEC_CNT).into()
    );
    check!(
        |b| le16(b, unprotected + 78, 65),
        FormatError::TlvOverrun.into()
    );
    // A duplicate SHA256 (KEYHASH's type rewritten) and missing TLVs.
    check!(
        |b| b[unprotected + 40] = TLV_SHA256 as u8,
        FormatError::DuplicateTlv(TLV_SHA256).into()
    );
    check!(
        |b| b[unprotected + 40] = 0xA0,
        FormatError::MissingTlv(TLV_KEYHASH).into()
    );
    check!(
        |b| b[unprotected + 76] = 0xA0,
        FormatError::MissingTlv(TLV_ED25519).into()
    );
    check!(
        |b| b[protected + 4] = 0xA0,
        FormatError::MissingTlv(TLV_SEC_CNT).into()
    );
    check!(
        |b| b[unprotected + 4] = 0x50,
        FormatError::UnprotectedTlv(TLV_SEC_CNT).into()
    );
    check!(
        |b| b[unprotected + 4] = 0x25,
        FormatError::PureSignature.into()
    );
    // Content changes.
    check!(|b| b[HEADER + 10] ^= 1, VerifyError::Hash);
    check!(|b| b[protected + 8] ^= 1, VerifyError::Hash);
    check!(|b| b[20] ^= 1, VerifyError::Hash);
    check!(|b| b[unprotected + 44] ^= 1, VerifyError::UnknownKey);
    check!(|b| b[unprotected + 80] ^= 1, VerifyError::Signature);
    assert_eq!(
        verify(&good, &keys(), 8).err(),
        Some(VerifyError::SecurityCounter { image: 7, floor: 8 })
    );
    assert_eq!(verify(&good, &[], 0).err(), Some(VerifyError::UnknownKey));
    let _ = TLV_INFO_MAGIC;
}

/// Deterministic xorshift for the mutation sweep.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn mutated_and_random_inputs_never_panic_and_never_verify() {
    let good = image(1, 1, 200);
    let (protected, unprotected) = areas(&good);
    // Interesting places: header fields and both TLV areas.
    let hot: Vec<usize> = (0..32).chain(protected..good.len()).collect();
    let mut random = Random(0x1234_5678_9ABC_DEF1);
    let mut accepted = 0;
    for round in 0..20_000 {
        let mut bytes = good.clone();
        match round % 5 {
            0 => {
                let at = hot[random.below(hot.len())];
                bytes[at] = random.next() as u8;
            }
            1 => {
                let at = hot[random.below(hot.len())];
                bytes[at] ^= 1 << random.below(8);
                let other = hot[random.below(hot.len())];
                bytes[other] = 0xFF;
            }
            2 => bytes.truncate(random.below(good.len())),
            3 => {
                let at =
                    [8, 10, 12, protected + 2, unprotected + 2, unprotected + 6][random.below(6)];
                let value = [0u16, 1, 3, 4, 0x7FFF, 0xFFFF, random.next() as u16][random.below(7)];
                le16(&mut bytes, at, value);
            }
            _ => {
                let len = random.below(400);
                bytes = (0..len).map(|_| random.next() as u8).collect();
                if len >= 4 && random.below(2) == 0 {
                    le32(&mut bytes, 0, IMAGE_MAGIC);
                }
            }
        }
        if let Ok(verified) = verify(&bytes, &keys(), 0) {
            // Only mutations outside the signed area and outside the TLV values may survive.
            assert_eq!(
                &bytes[..unprotected],
                &good[..unprotected],
                "round {round}: accepted a changed image"
            );
            assert!(verified.total_len <= bytes.len());
            accepted += 1;
        }
    }
    assert!(
        accepted < 20_000 / 5,
        "suspiciously many mutants accepted: {accepted}"
    );
}
