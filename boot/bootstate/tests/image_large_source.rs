//! F1 of the 2026 fuzz report: lengths near the top of the 32-bit range in a flash source close
//! to 4 GiB must be refused with an error, not overflow (a panic in debug builds).

use bootstate::flash::{Flash, FlashError};
use bootstate::image::{IMAGE_MAGIC, TLV_PROT_INFO_MAGIC, TLV_SEC_CNT, verify_in_flash};
use bootstate::sign::{SigningKey, trusted_key};
use bootstate::{TrustedKey, VerifyError};

/// A 4 GiB flash that reads 0xFF everywhere except a few planted byte runs.
struct SparseFlash {
    planted: Vec<(u32, Vec<u8>)>,
}

impl Flash for SparseFlash {
    const SECTOR_SIZE: u32 = 256 * 1024;
    const PROGRAM_GRANULARITY: u32 = 4;

    fn capacity(&self) -> u32 {
        u32::MAX
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        let start = u64::from(offset);
        let end = start + buf.len() as u64;
        if end > u64::from(u32::MAX) {
            return Err(FlashError::OutOfRange);
        }
        buf.fill(0xFF);
        for (at, bytes) in &self.planted {
            for (index, &byte) in bytes.iter().enumerate() {
                let position = u64::from(*at) + index as u64;
                if (start..end).contains(&position) {
                    buf[(position - start) as usize] = byte;
                }
            }
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

fn keys() -> [TrustedKey; 1] {
    [trusted_key(
        &SigningKey::from_bytes(&[0x42; 32]).verifying_key(),
    )]
}

fn header(hdr_size: u16, protect_tlv_size: u16, img_size: u32) -> Vec<u8> {
    let mut header = vec![0u8; 32];
    header[0..4].copy_from_slice(&IMAGE_MAGIC.to_le_bytes());
    header[8..10].copy_from_slice(&hdr_size.to_le_bytes());
    header[10..12].copy_from_slice(&protect_tlv_size.to_le_bytes());
    header[12..16].copy_from_slice(&img_size.to_le_bytes());
    header
}

/// A protected area of `total` bytes: info header plus a SEC_CNT of 7.
fn protected_area() -> Vec<u8> {
    let mut area = Vec::new();
    area.extend_from_slice(&TLV_PROT_INFO_MAGIC.to_le_bytes());
    area.extend_from_slice(&12u16.to_le_bytes());
    area.extend_from_slice(&TLV_SEC_CNT.to_le_bytes());
    area.extend_from_slice(&4u16.to_le_bytes());
    area.extend_from_slice(&7u32.to_le_bytes());
    area
}

/// The report's reproducer: the unprotected area starts 4 bytes before the end of a
/// `u32::MAX`-byte source and claims 0xFFFF bytes.
#[test]
fn unprotected_area_past_four_gib_is_refused() {
    let mut flash = SparseFlash {
        planted: vec![
            (0, header(32, 12, 0xFFFF_FFCF)),
            (0xFFFF_FFEF, protected_area()),
            (0xFFFF_FFFB, vec![0x07, 0x69, 0xFF, 0xFF]),
        ],
    };
    assert_eq!(
        verify_in_flash(&mut flash, 0, u32::MAX, &keys(), 0),
        Err(VerifyError::Length)
    );
}

/// Every unprotected total from the smallest valid to the largest, with the area starting at
/// each of the last few offsets a 4-byte info header fits in: refused, never an overflow.
#[test]
fn unprotected_totals_near_the_top_are_refused() {
    for slack in 0..8u32 {
        let unprotected_start = u32::MAX - 4 - slack;
        let payload_end = unprotected_start - 12;
        for total in [4u16, 5, 8, 0xFF, 0xFFFE, 0xFFFF] {
            let mut info = vec![0x07, 0x69];
            info.extend_from_slice(&total.to_le_bytes());
            let mut flash = SparseFlash {
                planted: vec![
                    (0, header(32, 12, payload_end - 32)),
                    (payload_end, protected_area()),
                    (unprotected_start, info),
                ],
            };
            let result = verify_in_flash(&mut flash, 0, u32::MAX, &keys(), 0);
            assert!(
                result.is_err(),
                "start {unprotected_start:#x}, total {total}: accepted"
            );
        }
    }
}

/// A payload that ends exactly at the top of the range, with no room for the TLV areas.
#[test]
fn payload_ending_at_the_top_is_refused() {
    for img_size in [u32::MAX - 32, u32::MAX - 35, u32::MAX - 36, u32::MAX - 44] {
        let mut flash = SparseFlash {
            planted: vec![(0, header(32, 12, img_size))],
        };
        assert_eq!(
            verify_in_flash(&mut flash, 0, u32::MAX, &keys(), 0),
            Err(VerifyError::Length),
            "img_size {img_size:#x}"
        );
    }
}
