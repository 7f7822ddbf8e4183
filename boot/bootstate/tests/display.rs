//! Every error a person may see from bootstate prints words and numbers, not Debug output.

use bootstate::FlashError;
use bootstate::image::{
    FormatError, TLV_ED25519, TLV_KEYHASH, TLV_SEC_CNT, TLV_SHA256, TLV_SIG_PURE, VerifyError,
};
use bootstate::sign::{PemError, SignError};
use bootstate::store::StoreError;
use readable::assert_words as assert_readable;

const FLASH_ERRORS: [FlashError; 9] = [
    FlashError::OutOfRange,
    FlashError::Unaligned,
    FlashError::NotErased,
    FlashError::PowerLost,
    FlashError::EraseFailed,
    FlashError::ProgramFailed,
    FlashError::Timeout,
    FlashError::Locked,
    FlashError::Vpp,
];

fn format_errors() -> Vec<FormatError> {
    let mut errors = vec![
        FormatError::HeaderMagic,
        FormatError::HeaderSize,
        FormatError::Flags(0x10),
        FormatError::TlvInfoMagic,
        FormatError::ProtectedSize,
        FormatError::TlvOverrun,
        FormatError::PureSignature,
    ];
    for kind in [
        TLV_KEYHASH,
        TLV_SHA256,
        TLV_ED25519,
        TLV_SIG_PURE,
        TLV_SEC_CNT,
        0x7777,
    ] {
        errors.push(FormatError::MissingTlv(kind));
        errors.push(FormatError::DuplicateTlv(kind));
        errors.push(FormatError::TlvLength(kind));
        errors.push(FormatError::UnprotectedTlv(kind));
    }
    errors
}

#[test]
fn flash_and_store_errors_read_as_words() {
    for error in FLASH_ERRORS {
        assert_readable(&error.to_string());
        let stored = StoreError::Flash(error).to_string();
        assert_readable(&stored);
        assert!(stored.contains(&error.to_string()), "{stored}");
    }
    assert_readable(&StoreError::FloorFull.to_string());
}

#[test]
fn verify_errors_read_as_words() {
    let mut errors = vec![
        VerifyError::Length,
        VerifyError::Hash,
        VerifyError::UnknownKey,
        VerifyError::Signature,
        VerifyError::SecurityCounter { image: 7, floor: 8 },
    ];
    errors.extend(FLASH_ERRORS.map(VerifyError::Flash));
    errors.extend(format_errors().into_iter().map(VerifyError::Format));
    for error in errors {
        assert_readable(&error.to_string());
    }
    let counter = VerifyError::SecurityCounter { image: 7, floor: 8 }.to_string();
    assert!(counter.contains('7') && counter.contains('8'), "{counter}");
    let missing = VerifyError::Format(FormatError::MissingTlv(TLV_SHA256)).to_string();
    assert!(
        missing.contains("SHA256") && missing.contains("0x0010"),
        "{missing}"
    );
}

#[test]
fn sign_and_pem_errors_read_as_words() {
    for error in [SignError::PayloadTooLarge, SignError::HeaderSize] {
        assert_readable(&error.to_string());
    }
    for error in [
        PemError::NoBlock,
        PemError::Base64,
        PemError::NotEd25519,
        PemError::InvalidKey,
    ] {
        assert_readable(&error.to_string());
    }
}
