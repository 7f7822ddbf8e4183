//! CFI flash errors print words, not Debug output.

use cfi_flash::Error;
use readable::assert_words as assert_readable;

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
        Error::BufferRefused,
    ] {
        assert_readable(&error.to_string());
    }
}
