//! A response-body buffer that can take back a piece that did not fit.
//!
//! Bodies are written in pieces (one port, one MAC table entry, one metric family); a piece is
//! all or nothing: [`Out::mark`] before it, [`Out::rollback`] when it ran out of room, so what
//! the caller sends is always whole pieces and the next fill starts where this one stopped.

use crate::json::{Sink, SliceSink, WriteError};

/// Bytes written into a caller's buffer, with take-back.
pub struct Out<'a> {
    sink: SliceSink<'a>,
}

impl<'a> Out<'a> {
    /// An empty body over `buffer`.
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self {
            sink: SliceSink::new(buffer),
        }
    }

    /// Bytes written.
    #[must_use]
    pub fn len(&self) -> usize {
        self.sink.len()
    }

    /// Nothing written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.sink.is_empty()
    }

    /// The bytes written.
    #[must_use]
    pub fn written(&self) -> &[u8] {
        self.sink.written()
    }

    /// Where a piece starts.
    #[must_use]
    pub fn mark(&self) -> usize {
        self.sink.len()
    }

    /// Forgets everything after `mark`.
    pub fn rollback(&mut self, mark: usize) {
        self.sink.truncate(mark);
    }

    /// Appends text.
    pub fn text(&mut self, text: &str) -> Result<(), WriteError> {
        self.put(text.as_bytes())
    }

    /// Appends `value` in decimal.
    pub fn number(&mut self, value: u64) -> Result<(), WriteError> {
        crate::json::write_u64(self, value)
    }

    /// Appends `value` as a JSON string.
    pub fn string(&mut self, value: &str) -> Result<(), WriteError> {
        crate::json::write_string(self, value)
    }

    /// Appends `"key":` (after a comma unless `first`).
    pub fn key(&mut self, first: bool, key: &str) -> Result<(), WriteError> {
        if !first {
            self.put(b",")?;
        }
        self.string(key)?;
        self.put(b":")
    }

    /// Appends anything `Display`, as is (no JSON quoting).
    pub fn display(&mut self, value: impl core::fmt::Display) -> Result<(), WriteError> {
        core::fmt::write(self, format_args!("{value}")).map_err(|_| WriteError::BufferTooSmall)
    }

    /// Appends anything `Display` as a JSON string.
    pub fn display_string(&mut self, value: impl core::fmt::Display) -> Result<(), WriteError> {
        let mut text: heapless::String<128> = heapless::String::new();
        core::fmt::write(&mut text, format_args!("{value}"))
            .map_err(|_| WriteError::BufferTooSmall)?;
        self.string(&text)
    }
}

impl Sink for Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.sink.put(bytes)
    }
}

impl core::fmt::Write for Out<'_> {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.put(text.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_takes_back_a_piece() {
        let mut buffer = [0u8; 8];
        let mut out = Out::new(&mut buffer);
        out.text("abc").unwrap();
        let mark = out.mark();
        assert_eq!(out.text("defghi"), Err(WriteError::BufferTooSmall));
        out.text("de").unwrap();
        out.rollback(mark);
        assert_eq!(out.written(), b"abc");
        out.number(12345).unwrap();
        assert_eq!(out.written(), b"abc12345");
        assert!(out.display(1).is_err());
    }
}
