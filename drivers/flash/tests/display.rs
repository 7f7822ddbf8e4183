//! CFI flash errors print words, not Debug output.

use cfi_flash::Error;

/// Fails unless `text` reads as words: not empty, has letters, no Debug output.
fn assert_readable(text: &str) {
    assert!(
        text.chars().filter(|c| c.is_alphabetic()).count() >= 3,
        "no words: {text:?}"
    );
    for pattern in ["{", "}", "Some(", "None", "Ok(", "Err("] {
        assert!(
            !text.contains(pattern),
            "Debug-like {pattern:?} in {text:?}"
        );
    }
}

#[test]
fn flash_errors_read_as_words() {
    for error in [
        Error::Timeout,
        Error::EraseFailed,
        Error::ProgramFailed,
        Error::Locked,
        Error::Vpp,
        Error::OutOfRange,
        Error::Unaligned,
        Error::NoCfi,
    ] {
        assert_readable(&error.to_string());
    }
}
