//! Ed25519 signature check in bounded steps: `ed25519-dalek`'s `verify_strict`, sliced.
//!
//! The kernel's poll loop must not spend a whole check (5-12 ms under QEMU TCG) in one pass, so
//! [`SignatureCheck`] does it one [`SignatureCheck::step`] at a time, each step about one field
//! inversion's worth of work ([`MAX_STEPS`] steps at most):
//!
//! 1. `s` is canonical (below the group order l), the key A decompresses and is not of small
//!    order;
//! 2. R decompresses and is not of small order;
//! 3. the tables `[1..8]A` and `[1..8]B` (B the base point; no precomputed constants);
//! 4. `[s]B - [k]A` by a joint signed radix-16 double-and-add over those tables,
//!    [`WINDOWS_PER_STEP`] windows of 4 bits per step (k = SHA-512(R || A || M) mod l, computed
//!    in [`SignatureCheck::new`]);
//! 5. the result, compressed, equals R's encoding byte for byte (so a non-canonical R fails).
//!
//! These are `verify_strict`'s rules (ed25519-dalek 2.2, `VerifyingKey::verify_strict` and
//! `RCompute`): the tests check the verdicts agree on random and malformed inputs. All data is
//! public, so variable time is fine: this verifies, it never signs.

use core::fmt;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{Identity, IsIdentity};
use sha2::{Digest, Sha512};

/// Radix-16 windows of the double-and-add per step (32 bits of both scalars). A window is 4
/// doublings and up to 2 additions. Measured under QEMU TCG on the loaded 2-core host, once
/// the code is translated: 4 windows 55-100 us, 16 windows 360-520 us, a decompression step
/// 60-210 us, an 8 KiB hash slice 410-540 us (`docs/dpuboot.md`); 8 windows keep a step near
/// 0.2 ms, with room for a busier host under the loop's 1 ms.
pub const WINDOWS_PER_STEP: usize = 8;

/// Signed radix-16 digits of a scalar below 2^255.
const DIGITS: usize = 64;

/// Entries of each multiples table: `[1]P ..= [8]P` (signed digits reach -8..=8).
const TABLE: usize = 8;

/// Steps before the double-and-add: key, R, tables.
const SETUP_STEPS: usize = 3;

/// The most steps a check takes (including the final compare).
pub const MAX_STEPS: usize = SETUP_STEPS + DIGITS.div_ceil(WINDOWS_PER_STEP) + 1;

/// RFC 8032 section 7.1, test 1: the public key.
const SELF_TEST_KEY: [u8; 32] = [
    0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a,
    0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

/// RFC 8032 section 7.1, test 1: the signature of the empty message.
const SELF_TEST_SIGNATURE: [u8; 64] = [
    0xe5, 0x56, 0x43, 0x00, 0xc3, 0x60, 0xac, 0x72, 0x90, 0x86, 0xe2, 0xcc, 0x80, 0x6e, 0x82, 0x8a,
    0x84, 0x87, 0x7f, 0x1e, 0xb8, 0xe5, 0xd9, 0x74, 0xd8, 0x73, 0xe0, 0x65, 0x22, 0x49, 0x01, 0x55,
    0x5f, 0xb8, 0x82, 0x15, 0x90, 0xa3, 0x3b, 0xac, 0xc6, 0x1e, 0x39, 0x70, 0x1c, 0xf9, 0xb4, 0x6b,
    0xd2, 0x5b, 0xf5, 0xf0, 0x59, 0x5b, 0xbe, 0x24, 0x65, 0x51, 0x41, 0x43, 0x8e, 0x7a, 0x10, 0x0b,
];

/// A known-answer test: RFC 8032's test 1 verifies, and its signature over another message
/// does not. The kernel runs it once at boot, before the poll loop: it shows the check works
/// in this build, and under QEMU TCG it pays the one-time translation of the arithmetic's code
/// (several milliseconds, measured in `docs/dpuboot.md`), which would otherwise land in the
/// first execution of each step during an update.
#[must_use]
pub fn self_test() -> bool {
    let valid = SignatureCheck::new(&SELF_TEST_KEY, &SELF_TEST_SIGNATURE, b"").run();
    let other = SignatureCheck::new(&SELF_TEST_KEY, &SELF_TEST_SIGNATURE, b"x").run();
    valid.is_ok() && other == Err(SignatureError::Mismatch)
}

/// Why a signature was refused (every one is `verify_strict`'s `Err`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// `s` is not below the group order.
    NonCanonicalScalar,
    /// The public key is not a point's encoding.
    KeyEncoding,
    /// The public key is a point of small order (a weak key).
    KeySmallOrder,
    /// R is not a point's encoding.
    REncoding,
    /// R is a point of small order.
    RSmallOrder,
    /// `[s]B - [k]A` is not R: the signature does not match the key and message.
    Mismatch,
}

impl fmt::Display for SignatureError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            SignatureError::NonCanonicalScalar => "signature scalar not below the group order",
            SignatureError::KeyEncoding => "public key is not a curve point",
            SignatureError::KeySmallOrder => "public key is a point of small order",
            SignatureError::REncoding => "signature R is not a curve point",
            SignatureError::RSmallOrder => "signature R is a point of small order",
            SignatureError::Mismatch => "signature does not match the key and message",
        })
    }
}

/// Where a check stands.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Next: the scalar and the key.
    Key,
    /// Next: R.
    R { key: EdwardsPoint },
    /// Next: the multiples tables.
    Tables { key: EdwardsPoint },
    /// The double-and-add over the tables; `next` digits are left (the next is `next - 1`).
    Ladder { sum: EdwardsPoint, next: usize },
    /// Next: compress and compare.
    Compare { sum: EdwardsPoint },
    /// The verdict is in.
    Done(Result<(), SignatureError>),
}

/// A strict Ed25519 check of one signature, done in [`SignatureCheck::step`]s of bounded work.
#[derive(Debug, Clone)]
pub struct SignatureCheck {
    public_key: [u8; 32],
    r: [u8; 32],
    s: [u8; 32],
    /// Signed radix-16 digits of k and of s, least significant first.
    k_digits: [i8; DIGITS],
    s_digits: [i8; DIGITS],
    /// `[1..8]A` and `[1..8]B`, from the tables step on.
    key_multiples: [EdwardsPoint; TABLE],
    base_multiples: [EdwardsPoint; TABLE],
    phase: Phase,
    steps: usize,
}

/// What one step found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More steps to go.
    Pending,
    /// The signature is valid.
    Valid,
}

impl SignatureCheck {
    /// Starts the check of `signature` (R || s) over `message` with `public_key`: hashes
    /// R || A || M with SHA-512 (the only work here besides copying; cheap for the 32-byte
    /// digests images sign).
    #[must_use]
    pub fn new(public_key: &[u8; 32], signature: &[u8; 64], message: &[u8]) -> SignatureCheck {
        let mut r = [0u8; 32];
        let mut s = [0u8; 32];
        r.copy_from_slice(&signature[..32]);
        s.copy_from_slice(&signature[32..]);
        let mut hasher = Sha512::new();
        hasher.update(r);
        hasher.update(public_key);
        hasher.update(message);
        let k = Scalar::from_hash(hasher);
        SignatureCheck {
            public_key: *public_key,
            r,
            s,
            k_digits: radix_16(&k.to_bytes()),
            // A non-canonical s is refused by the first step before these digits are used; its
            // top bits are masked so the recoding's precondition (below 2^255) holds anyway.
            s_digits: radix_16(&{
                let mut bytes = s;
                bytes[31] &= 0x7f;
                bytes
            }),
            key_multiples: [EdwardsPoint::identity(); TABLE],
            base_multiples: [EdwardsPoint::identity(); TABLE],
            phase: Phase::Key,
            steps: 0,
        }
    }

    /// Steps taken so far.
    #[must_use]
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Does the next bounded piece of work; `Ok(Valid)` or an error once the verdict is in
    /// (and the same answer on every call after).
    pub fn step(&mut self) -> Result<Progress, SignatureError> {
        let next = match self.phase {
            Phase::Done(verdict) => return verdict.map(|()| Progress::Valid),
            Phase::Key => self.check_key(),
            Phase::R { key } => self.check_r(key),
            Phase::Tables { key } => {
                self.key_multiples = multiples(&key);
                self.base_multiples = multiples(&ED25519_BASEPOINT_POINT);
                Ok(Phase::Ladder {
                    sum: EdwardsPoint::identity(),
                    next: DIGITS,
                })
            }
            Phase::Ladder { mut sum, next } => {
                let stop = next.saturating_sub(WINDOWS_PER_STEP);
                for index in (stop..next).rev() {
                    sum = self.window(sum, index);
                }
                Ok(if stop == 0 {
                    Phase::Compare { sum }
                } else {
                    Phase::Ladder { sum, next: stop }
                })
            }
            Phase::Compare { sum } => {
                if sum.compress().to_bytes() == self.r {
                    Ok(Phase::Done(Ok(())))
                } else {
                    Err(SignatureError::Mismatch)
                }
            }
        };
        self.steps += 1;
        self.phase = match next {
            Ok(phase) => phase,
            Err(error) => Phase::Done(Err(error)),
        };
        match self.phase {
            Phase::Done(verdict) => verdict.map(|()| Progress::Valid),
            _ => Ok(Progress::Pending),
        }
    }

    /// Runs every step (the self-test, the one-shot verification paths and the tests).
    pub fn run(mut self) -> Result<(), SignatureError> {
        loop {
            if self.step()? == Progress::Valid {
                return Ok(());
            }
        }
    }

    /// Step 1: `s` canonical, A a point, A not of small order.
    fn check_key(&self) -> Result<Phase, SignatureError> {
        if Option::<Scalar>::from(Scalar::from_canonical_bytes(self.s)).is_none() {
            return Err(SignatureError::NonCanonicalScalar);
        }
        let key = CompressedEdwardsY(self.public_key)
            .decompress()
            .ok_or(SignatureError::KeyEncoding)?;
        if key.is_small_order() {
            return Err(SignatureError::KeySmallOrder);
        }
        Ok(Phase::R { key })
    }

    /// Step 2: R a point, not of small order.
    fn check_r(&self, key: EdwardsPoint) -> Result<Phase, SignatureError> {
        let r = CompressedEdwardsY(self.r)
            .decompress()
            .ok_or(SignatureError::REncoding)?;
        if r.is_small_order() {
            return Err(SignatureError::RSmallOrder);
        }
        Ok(Phase::Tables { key })
    }

    /// One window: `16 sum + s_i B - k_i A`.
    fn window(&self, sum: EdwardsPoint, index: usize) -> EdwardsPoint {
        let (key_multiples, base_multiples) = (&self.key_multiples, &self.base_multiples);
        // The identity needs no doubling (the top windows of a 253-bit scalar are small).
        let mut sum = if sum.is_identity() {
            sum
        } else {
            // [16]P: the cofactor multiplication is three doublings (the crate does not export
            // a single one), the fourth is an addition, which is complete on this curve.
            let eight = sum.mul_by_cofactor();
            eight + eight
        };
        // Digits are in -8..=8 (radix_16), so `|digit| - 1` indexes the 8-entry tables.
        // Minus k_i A: a positive digit subtracts.
        match self.k_digits[index] {
            0 => {}
            digit if digit > 0 => sum -= &key_multiples[digit.unsigned_abs() as usize - 1],
            digit => sum += &key_multiples[digit.unsigned_abs() as usize - 1],
        }
        match self.s_digits[index] {
            0 => {}
            digit if digit > 0 => sum += &base_multiples[digit.unsigned_abs() as usize - 1],
            digit => sum -= &base_multiples[digit.unsigned_abs() as usize - 1],
        }
        sum
    }
}

/// `[1]P ..= [8]P` (seven additions).
fn multiples(point: &EdwardsPoint) -> [EdwardsPoint; TABLE] {
    let mut table = [*point; TABLE];
    for index in 1..TABLE {
        table[index] = table[index - 1] + point;
    }
    table
}

/// Signed radix-16 digits of a little-endian scalar below 2^255: `a = sum d_i 16^i`,
/// each `d_i` in -8..8 except the last, which is in -8..=8.
fn radix_16(bytes: &[u8; 32]) -> [i8; DIGITS] {
    let mut digits = [0i8; DIGITS];
    for (index, byte) in bytes.iter().enumerate() {
        // Nibbles fit an i8.
        digits[2 * index] = (byte & 0x0f) as i8;
        digits[2 * index + 1] = (byte >> 4) as i8;
    }
    for index in 0..DIGITS - 1 {
        let carry = (digits[index] + 8) >> 4;
        digits[index] -= carry << 4;
        digits[index + 1] += carry;
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
    use proptest::prelude::*;

    /// ed25519-dalek's verdict (false when it cannot even parse the key).
    fn strict(public_key: &[u8; 32], signature: &[u8; 64], message: &[u8]) -> bool {
        VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
            key.verify_strict(message, &Signature::from_bytes(signature))
                .is_ok()
        })
    }

    fn sliced(public_key: &[u8; 32], signature: &[u8; 64], message: &[u8]) -> bool {
        SignatureCheck::new(public_key, signature, message)
            .run()
            .is_ok()
    }

    fn signed(seed: [u8; 32], message: &[u8]) -> ([u8; 32], [u8; 64]) {
        let key = SigningKey::from_bytes(&seed);
        (key.verifying_key().to_bytes(), key.sign(message).to_bytes())
    }

    #[test]
    fn radix_16_digits_sum_to_the_scalar() {
        let bytes = Scalar::from_bytes_mod_order([0xA7; 32]).to_bytes();
        let digits = radix_16(&bytes);
        let mut sum = Scalar::ZERO;
        for digit in digits.iter().rev() {
            sum = sum * Scalar::from(16u8) + Scalar::from(digit.unsigned_abs());
            if *digit < 0 {
                sum -= Scalar::from(2 * digit.unsigned_abs());
            }
            assert!((-8..=8).contains(digit));
        }
        assert_eq!(sum.to_bytes(), bytes);
    }

    /// RFC 8032 section 7.1, tests 1-3 (public key, message, signature).
    const RFC8032: [(&str, &str, &str); 3] = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
             5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
             085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac\
             18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let bytes: std::vec::Vec<u8> = (0..text.len() / 2)
            .map(|at| u8::from_str_radix(&text[2 * at..2 * at + 2], 16).unwrap())
            .collect();
        bytes.try_into().unwrap()
    }

    fn hex_bytes(text: &str) -> std::vec::Vec<u8> {
        (0..text.len() / 2)
            .map(|at| u8::from_str_radix(&text[2 * at..2 * at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn refusals_read_as_words() {
        for error in [
            SignatureError::NonCanonicalScalar,
            SignatureError::KeyEncoding,
            SignatureError::KeySmallOrder,
            SignatureError::REncoding,
            SignatureError::RSmallOrder,
            SignatureError::Mismatch,
        ] {
            readable::assert_words(&std::string::ToString::to_string(&error));
        }
    }

    #[test]
    fn the_self_test_passes() {
        assert!(self_test());
        assert_eq!(SELF_TEST_KEY, hex::<32>(RFC8032[0].0));
        assert_eq!(SELF_TEST_SIGNATURE, hex::<64>(RFC8032[0].2));
    }

    #[test]
    fn rfc_8032_vectors_verify_and_their_corruptions_do_not() {
        for (key, message, signature) in RFC8032 {
            let key: [u8; 32] = hex(key);
            let message = hex_bytes(message);
            let signature: [u8; 64] = hex(signature);
            assert!(sliced(&key, &signature, &message));
            assert!(strict(&key, &signature, &message));
            let mut bad = signature;
            bad[40] ^= 1;
            assert!(!sliced(&key, &bad, &message));
            let mut other = message.clone();
            other.push(0);
            assert!(!sliced(&key, &signature, &other));
        }
    }

    #[test]
    fn steps_are_bounded_and_the_verdict_sticks() {
        let (key, signature) = signed([7; 32], b"digest");
        let mut check = SignatureCheck::new(&key, &signature, b"digest");
        let mut pending = 0;
        while check.step() == Ok(Progress::Pending) {
            pending += 1;
            assert!(pending < MAX_STEPS, "more than {MAX_STEPS} steps");
        }
        assert_eq!(check.steps(), MAX_STEPS);
        assert_eq!(check.step(), Ok(Progress::Valid));
        assert_eq!(check.steps(), MAX_STEPS);
        let mut bad = signature;
        bad[0] ^= 4;
        let mut check = SignatureCheck::new(&key, &bad, b"digest");
        let verdict = loop {
            match check.step() {
                Ok(Progress::Pending) => assert!(check.steps() <= MAX_STEPS),
                other => break other,
            }
        };
        assert!(verdict.is_err());
        assert_eq!(check.step(), verdict);
    }

    /// The eight points of small order: encodings of the 8-torsion (y = 1, y = -1, ...).
    fn small_order_encodings() -> std::vec::Vec<[u8; 32]> {
        curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|point| point.compress().to_bytes())
            .collect()
    }

    #[test]
    fn small_order_key_and_r_are_refused_like_verify_strict() {
        let (key, signature) = signed([9; 32], b"m");
        for weak in small_order_encodings() {
            // A weak key: any signature whose s is canonical.
            let mut forged = [0u8; 64];
            forged[..32].copy_from_slice(&weak);
            assert!(!strict(&weak, &forged, b"m"));
            assert_eq!(
                SignatureCheck::new(&weak, &forged, b"m").run(),
                Err(SignatureError::KeySmallOrder)
            );
            // A small-order R with a real key.
            let mut with_weak_r = signature;
            with_weak_r[..32].copy_from_slice(&weak);
            assert!(!strict(&key, &with_weak_r, b"m"));
            assert_eq!(
                SignatureCheck::new(&key, &with_weak_r, b"m").run(),
                Err(SignatureError::RSmallOrder)
            );
        }
    }

    #[test]
    fn non_canonical_s_is_refused_like_verify_strict() {
        let (key, signature) = signed([3; 32], b"m");
        // s + l encodes the same scalar mod l: the classic malleability, refused.
        let s = Scalar::from_canonical_bytes(signature[32..].try_into().unwrap()).unwrap();
        let l_bytes: [u8; 32] =
            hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        let mut sum = [0u8; 32];
        let mut carry = 0u16;
        for at in 0..32 {
            let total = u16::from(s.to_bytes()[at]) + u16::from(l_bytes[at]) + carry;
            sum[at] = total as u8;
            carry = total >> 8;
        }
        let mut malleated = signature;
        malleated[32..].copy_from_slice(&sum);
        assert!(!strict(&key, &malleated, b"m"));
        assert_eq!(
            SignatureCheck::new(&key, &malleated, b"m").run(),
            Err(SignatureError::NonCanonicalScalar)
        );
        let mut top = signature;
        top[63] |= 0x80;
        assert!(!strict(&key, &top, b"m"));
        assert!(!sliced(&key, &top, b"m"));
    }

    #[test]
    fn a_wrong_key_is_refused() {
        let (_, signature) = signed([1; 32], b"m");
        let (other_key, _) = signed([2; 32], b"m");
        assert!(!strict(&other_key, &signature, b"m"));
        assert_eq!(
            SignatureCheck::new(&other_key, &signature, b"m").run(),
            Err(SignatureError::Mismatch)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn agrees_with_verify_strict_on_valid_signatures(
            seed in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let (key, signature) = signed(seed, &message);
            prop_assert!(strict(&key, &signature, &message));
            prop_assert!(sliced(&key, &signature, &message));
        }

        #[test]
        fn agrees_with_verify_strict_on_a_flipped_bit(
            seed in any::<[u8; 32]>(),
            message in proptest::collection::vec(any::<u8>(), 1..64),
            bit in 0usize..(96 * 8 + 63 * 8),
        ) {
            let (mut key, mut signature) = signed(seed, &message);
            let mut message = message;
            // Anywhere: the key, the signature (R and s) or the message.
            match bit / 8 {
                byte if byte < 32 => key[byte] ^= 1 << (bit % 8),
                byte if byte < 96 => signature[byte - 32] ^= 1 << (bit % 8),
                byte => {
                    let at = (byte - 96) % message.len();
                    message[at] ^= 1 << (bit % 8);
                }
            }
            prop_assert_eq!(sliced(&key, &signature, &message), strict(&key, &signature, &message));
            prop_assert!(!sliced(&key, &signature, &message));
        }

        #[test]
        fn agrees_with_verify_strict_on_random_bytes(
            key in any::<[u8; 32]>(),
            signature in proptest::collection::vec(any::<u8>(), 64),
            message in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let signature: [u8; 64] = signature.try_into().unwrap();
            prop_assert_eq!(sliced(&key, &signature, &message), strict(&key, &signature, &message));
        }

        #[test]
        fn agrees_with_verify_strict_on_random_points_as_r_and_key(
            seed in any::<[u8; 32]>(),
            r_seed in any::<[u8; 32]>(),
            torsion in 0usize..8,
            message in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            // A valid-looking key plus a torsion component: not small order, but the equation
            // no longer holds (verify_strict does not check the prime-order subgroup).
            let (key, signature) = signed(seed, &message);
            let point = CompressedEdwardsY(key).decompress().unwrap()
                + curve25519_dalek::constants::EIGHT_TORSION[torsion];
            let mixed = point.compress().to_bytes();
            prop_assert_eq!(sliced(&mixed, &signature, &message), strict(&mixed, &signature, &message));
            // R replaced by another curve point.
            let mut other = signature;
            other[..32].copy_from_slice(
                &EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(r_seed)).compress().to_bytes(),
            );
            prop_assert_eq!(sliced(&key, &other, &message), strict(&key, &other, &message));
        }
    }
}
