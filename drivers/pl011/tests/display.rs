//! PL011 receive errors print words, not Debug output.

use pl011::ReceiveError;
use readable::assert_words as assert_readable;

#[test]
fn receive_errors_read_as_words() {
    for error in [ReceiveError::Overrun, ReceiveError::LineError] {
        assert_readable(&error.to_string());
    }
}
