//! The NIC states and errors a person may see print words, not Debug output.

use netdev::{LinkState, TxBuffer, TxError, TxErrorKind};

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
fn link_states_read_as_words() {
    assert_eq!(LinkState::Up.to_string(), "up");
    assert_eq!(LinkState::Down.to_string(), "down");
}

#[test]
fn transmit_errors_read_as_words() {
    for kind in [
        TxErrorKind::TooLong,
        TxErrorKind::TooShort,
        TxErrorKind::NotReserved,
    ] {
        assert_readable(&kind.to_string());
        let error = TxError {
            kind,
            buffer: TxBuffer::new(0),
        };
        assert_readable(&error.to_string());
    }
}
