//! The NIC states and errors a person may see print words, not Debug output.

use netdev::{LinkState, TxBuffer, TxError, TxErrorKind};
use readable::assert_words as assert_readable;

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
