//! Host-side image signing (imgtool-compatible) and Ed25519 PEM key files (feature `std`).
//!
//! [`sign`] produces the same bytes as `imgtool sign --key KEY.pem --header-size 0x1000
//! --pad-header --align 4 --version V --security-counter N` (Ed25519 signatures are
//! deterministic, so the output is byte-identical). Keys are PEM as imgtool writes them:
//! PKCS#8 v1 `PRIVATE KEY` and SubjectPublicKeyInfo `PUBLIC KEY`; v2 private keys (with the
//! public key attached, as some OpenSSL versions write) are read too.

use std::string::String;
use std::vec::Vec;

use ed25519_dalek::Signer;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::image::{
    ED25519_SPKI_PREFIX, HEADER_LEN, IMAGE_MAGIC, TLV_ED25519, TLV_INFO_MAGIC, TLV_KEYHASH,
    TLV_PROT_INFO_MAGIC, TLV_SEC_CNT, TLV_SHA256, TrustedKey,
};
use crate::layout::IMAGE_HEADER_SIZE;
use crate::record::Version;

/// Why signing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SignError {
    /// The payload does not fit the header's 32-bit size field.
    PayloadTooLarge,
    /// The header size is smaller than the 32-byte header.
    HeaderSize,
}

/// Why a PEM key could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PemError {
    /// No `-----BEGIN <label>-----` / `-----END <label>-----` block with the expected label.
    NoBlock,
    /// The base64 body is invalid.
    Base64,
    /// The DER is not an Ed25519 key of the expected kind.
    NotEd25519,
    /// The public key bytes are not a valid Ed25519 point.
    InvalidKey,
}

impl core::fmt::Display for SignError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            SignError::PayloadTooLarge => "payload too large for the image header's size fields",
            SignError::HeaderSize => "header size smaller than the 32-byte header",
        })
    }
}

impl core::fmt::Display for PemError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            PemError::NoBlock => "no PEM block with the expected label",
            PemError::Base64 => "invalid base64 in the PEM body",
            PemError::NotEd25519 => "not an Ed25519 key of the expected kind",
            PemError::InvalidKey => "public key is not a valid Ed25519 point",
        })
    }
}

/// DER prefix of a PKCS#8 v1 Ed25519 private key; the 32-byte seed follows.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER prefix of a PKCS#8 v2 (OneAsymmetricKey) Ed25519 key with the public key attached.
const PKCS8_V2_PREFIX: [u8; 16] = [
    0x30, 0x51, 0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
/// DER between the seed and the public key in the v2 form: `[1] IMPLICIT BIT STRING`.
const PKCS8_V2_PUBLIC_TAG: [u8; 3] = [0x81, 0x21, 0x00];

/// Signs `payload` (the kernel Image) into an MCUboot image with our header size.
pub fn sign(
    payload: &[u8],
    version: Version,
    security_counter: u32,
    key: &SigningKey,
) -> Result<Vec<u8>, SignError> {
    sign_with_header_size(
        payload,
        version,
        security_counter,
        key,
        IMAGE_HEADER_SIZE as u16,
    )
}

/// Like [`sign`] with an explicit header size (imgtool's `--header-size`).
pub fn sign_with_header_size(
    payload: &[u8],
    version: Version,
    security_counter: u32,
    key: &SigningKey,
    header_size: u16,
) -> Result<Vec<u8>, SignError> {
    if usize::from(header_size) < HEADER_LEN {
        return Err(SignError::HeaderSize);
    }
    let img_size = u32::try_from(payload.len()).map_err(|_| SignError::PayloadTooLarge)?;
    // Protected area: info + one SEC_CNT TLV (4-byte header + u32).
    let protected_tlvs = tlv(TLV_SEC_CNT, &security_counter.to_le_bytes());
    let protected = tlv_area(TLV_PROT_INFO_MAGIC, &protected_tlvs);
    let protected_size = u16::try_from(protected.len()).map_err(|_| SignError::PayloadTooLarge)?;

    let mut image = Vec::with_capacity(usize::from(header_size) + payload.len() + 256);
    image.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
    image.extend_from_slice(&0u32.to_le_bytes()); // load_addr
    image.extend_from_slice(&header_size.to_le_bytes());
    image.extend_from_slice(&protected_size.to_le_bytes());
    image.extend_from_slice(&img_size.to_le_bytes());
    image.extend_from_slice(&0u32.to_le_bytes()); // flags
    image.push(version.major);
    image.push(version.minor);
    image.extend_from_slice(&version.revision.to_le_bytes());
    image.extend_from_slice(&version.build.to_le_bytes());
    image.extend_from_slice(&0u32.to_le_bytes()); // pad
    // imgtool's --pad-header fills with the erased value.
    image.resize(usize::from(header_size), 0xFF);
    image.extend_from_slice(payload);
    image.extend_from_slice(&protected);

    let digest: [u8; 32] = Sha256::digest(&image).into();
    let key_hash = TrustedKey::new(key.verifying_key().to_bytes()).key_hash();
    let signature = key.sign(&digest).to_bytes();
    let mut unprotected = tlv(TLV_SHA256, &digest);
    unprotected.extend_from_slice(&tlv(TLV_KEYHASH, &key_hash));
    unprotected.extend_from_slice(&tlv(TLV_ED25519, &signature));
    image.extend_from_slice(&tlv_area(TLV_INFO_MAGIC, &unprotected));
    Ok(image)
}

fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + value.len());
    out.extend_from_slice(&kind.to_le_bytes());
    // Values here are at most 64 bytes.
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    out
}

fn tlv_area(magic: u16, tlvs: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + tlvs.len());
    out.extend_from_slice(&magic.to_le_bytes());
    out.extend_from_slice(&((4 + tlvs.len()) as u16).to_le_bytes());
    out.extend_from_slice(tlvs);
    out
}

/// The trusted-key entry for a verifying key.
#[must_use]
pub fn trusted_key(key: &VerifyingKey) -> TrustedKey {
    TrustedKey::new(key.to_bytes())
}

/// The private key as a PKCS#8 v1 `PRIVATE KEY` PEM (what `imgtool keygen -t ed25519` writes).
#[must_use]
pub fn signing_key_to_pem(key: &SigningKey) -> String {
    let mut der = PKCS8_V1_PREFIX.to_vec();
    der.extend_from_slice(&key.to_bytes());
    pem_encode("PRIVATE KEY", &der)
}

/// Reads a PKCS#8 (v1 or v2) Ed25519 `PRIVATE KEY` PEM.
pub fn signing_key_from_pem(pem: &str) -> Result<SigningKey, PemError> {
    let der = pem_decode("PRIVATE KEY", pem)?;
    let v1 = der.len() == 48 && der[..16] == PKCS8_V1_PREFIX;
    let v2 = der.len() == 83 && der[..16] == PKCS8_V2_PREFIX && der[48..51] == PKCS8_V2_PUBLIC_TAG;
    if !v1 && !v2 {
        return Err(PemError::NotEd25519);
    }
    let seed = &der[16..48];
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(seed);
    Ok(SigningKey::from_bytes(&bytes))
}

/// The public key as a SubjectPublicKeyInfo `PUBLIC KEY` PEM (`imgtool verify -k` reads it).
#[must_use]
pub fn public_key_to_pem(key: &VerifyingKey) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(key.as_bytes());
    pem_encode("PUBLIC KEY", &der)
}

/// Reads a SubjectPublicKeyInfo Ed25519 `PUBLIC KEY` PEM.
pub fn public_key_from_pem(pem: &str) -> Result<VerifyingKey, PemError> {
    let der = pem_decode("PUBLIC KEY", pem)?;
    if der.len() != 44 || der[..12] != ED25519_SPKI_PREFIX {
        return Err(PemError::NotEd25519);
    }
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&der[12..]);
    VerifyingKey::from_bytes(&bytes).map_err(|_| PemError::InvalidKey)
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn pem_encode(label: &str, der: &[u8]) -> String {
    let mut body = String::new();
    for group in der.chunks(3) {
        let bits = group
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        for index in 0..4 {
            if index <= group.len() {
                body.push(char::from(
                    BASE64[((bits >> (18 - 6 * index)) & 0x3F) as usize],
                ));
            } else {
                body.push('=');
            }
        }
    }
    let mut out = std::format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&std::format!("-----END {label}-----\n"));
    out
}

fn pem_decode(label: &str, pem: &str) -> Result<Vec<u8>, PemError> {
    let begin = std::format!("-----BEGIN {label}-----");
    let end = std::format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or(PemError::NoBlock)? + begin.len();
    let stop = start + pem[start..].find(&end).ok_or(PemError::NoBlock)?;
    let mut out = Vec::new();
    let mut bits = 0u32;
    let mut count = 0;
    let mut padding = 0;
    for byte in pem[start..stop]
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
    {
        let value = match byte {
            b'=' => {
                padding += 1;
                0
            }
            _ if padding > 0 => return Err(PemError::Base64),
            _ => BASE64
                .iter()
                .position(|&c| c == byte)
                .ok_or(PemError::Base64)? as u32,
        };
        bits = bits << 6 | value;
        count += 1;
        if count == 4 {
            let bytes = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
            out.extend_from_slice(&bytes[..3 - padding.min(2)]);
            bits = 0;
            count = 0;
        }
    }
    if count != 0 || padding > 2 {
        return Err(PemError::Base64);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let pem = signing_key_to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI"));
        assert_eq!(
            signing_key_from_pem(&pem).unwrap().to_bytes(),
            key.to_bytes()
        );
        let public = public_key_to_pem(&key.verifying_key());
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"));
        assert_eq!(public_key_from_pem(&public).unwrap(), key.verifying_key());
        assert_eq!(public_key_from_pem(&pem), Err(PemError::NoBlock));
        assert_eq!(
            signing_key_from_pem("-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----"),
            Err(PemError::Base64)
        );
    }

    #[test]
    fn signed_image_verifies() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let version = Version {
            major: 1,
            minor: 2,
            revision: 3,
            build: 4,
        };
        let image = sign(b"payload bytes", version, 5, &key).unwrap();
        let verified =
            crate::image::verify(&image, &[trusted_key(&key.verifying_key())], 5).unwrap();
        assert_eq!(verified.version, version);
        assert_eq!(verified.security_counter, 5);
        assert_eq!(&image[verified.payload.clone()], b"payload bytes");
        assert_eq!(verified.total_len, image.len());
    }
}
