//! A JSON writer into a fixed byte sink: string escaping, integers, nested objects and arrays.
//!
//! Output follows RFC 8259. Nesting is expressed with closures, so every object and array the
//! writer opens is closed and commas are placed by construction. The only failure is running out
//! of room ([`WriteError`]). Writing into a [`Counter`] first gives the exact length without
//! writing, which the HTTP layer uses for `Content-Length` and `HEAD`.

/// Why writing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum WriteError {
    /// The destination buffer is full.
    BufferTooSmall,
}

/// Where written bytes go.
pub trait Sink {
    /// Appends `bytes`, all or nothing.
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError>;
}

/// A sink that fills a caller-supplied buffer from the start.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buffer: &'a mut [u8],
    length: usize,
}

impl<'a> SliceSink<'a> {
    /// An empty sink over `buffer`.
    #[must_use]
    pub fn new(buffer: &'a mut [u8]) -> Self {
        Self { buffer, length: 0 }
    }

    /// Bytes written so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether nothing was written yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// The bytes written so far.
    #[must_use]
    pub fn written(&self) -> &[u8] {
        self.buffer.get(..self.length).unwrap_or_default()
    }

    /// Forgets what was written after the first `length` bytes (none if fewer were written).
    pub fn truncate(&mut self, length: usize) {
        self.length = self.length.min(length);
    }
}

impl Sink for SliceSink<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        let end = self
            .length
            .checked_add(bytes.len())
            .ok_or(WriteError::BufferTooSmall)?;
        let destination = self
            .buffer
            .get_mut(self.length..end)
            .ok_or(WriteError::BufferTooSmall)?;
        destination.copy_from_slice(bytes);
        self.length = end;
        Ok(())
    }
}

/// A sink that only counts, to size output before writing it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    length: usize,
}

impl Counter {
    /// A counter at zero.
    #[must_use]
    pub const fn new() -> Self {
        Self { length: 0 }
    }

    /// Bytes counted so far.
    #[must_use]
    pub const fn len(&self) -> usize {
        self.length
    }

    /// Whether nothing was counted yet.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }
}

impl Sink for Counter {
    fn put(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.length = self
            .length
            .checked_add(bytes.len())
            .ok_or(WriteError::BufferTooSmall)?;
        Ok(())
    }
}

/// Writes `value` in decimal.
pub fn write_u64(sink: &mut impl Sink, mut value: u64) -> Result<(), WriteError> {
    let mut digits = [0u8; 20]; // u64::MAX has 20 digits
    let mut start = digits.len();
    loop {
        start -= 1;
        // `value % 10` is a single digit: the cast cannot truncate.
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    sink.put(&digits[start..])
}

/// Writes `value` in decimal, with a leading `-` when negative.
pub fn write_i64(sink: &mut impl Sink, value: i64) -> Result<(), WriteError> {
    if value < 0 {
        sink.put(b"-")?;
    }
    write_u64(sink, value.unsigned_abs())
}

/// Writes `value` as a quoted JSON string: `"` and `\` escaped, control characters as `\n`,
/// `\t`... or `\u00XX`. Other characters, including non-ASCII UTF-8, pass through.
pub fn write_string(sink: &mut impl Sink, value: &str) -> Result<(), WriteError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    sink.put(b"\"")?;
    let bytes = value.as_bytes();
    let mut plain_start = 0;
    for (index, &byte) in bytes.iter().enumerate() {
        let short_escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            _ => None,
        };
        if short_escape.is_none() && byte >= 0x20 {
            continue;
        }
        sink.put(&bytes[plain_start..index])?;
        plain_start = index + 1;
        match short_escape {
            Some(escape) => sink.put(escape)?,
            None => sink.put(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ])?,
        }
    }
    sink.put(&bytes[plain_start..])?;
    sink.put(b"\"")
}

/// Writes one top-level JSON object; `fill` adds its members.
pub fn write_object<S: Sink>(
    sink: &mut S,
    fill: impl FnOnce(&mut ObjectWriter<'_, S>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    sink.put(b"{")?;
    let mut object = ObjectWriter { sink, empty: true };
    fill(&mut object)?;
    object.sink.put(b"}")
}

/// Writes one top-level JSON array; `fill` adds its elements.
pub fn write_array<S: Sink>(
    sink: &mut S,
    fill: impl FnOnce(&mut ArrayWriter<'_, S>) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
    sink.put(b"[")?;
    let mut array = ArrayWriter { sink, empty: true };
    fill(&mut array)?;
    array.sink.put(b"]")
}

/// Adds members to an open JSON object. Keys are escaped like any string; the writer does not
/// check them for duplicates.
pub struct ObjectWriter<'s, S: Sink> {
    sink: &'s mut S,
    empty: bool,
}

impl<S: Sink> ObjectWriter<'_, S> {
    fn key(&mut self, key: &str) -> Result<&mut S, WriteError> {
        if !self.empty {
            self.sink.put(b",")?;
        }
        self.empty = false;
        write_string(self.sink, key)?;
        self.sink.put(b":")?;
        Ok(self.sink)
    }

    /// `"key":"value"`.
    pub fn string(&mut self, key: &str, value: &str) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        write_string(sink, value)
    }

    /// `"key":value` for an unsigned integer.
    pub fn unsigned(&mut self, key: &str, value: u64) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        write_u64(sink, value)
    }

    /// `"key":value` for a signed integer.
    pub fn signed(&mut self, key: &str, value: i64) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        write_i64(sink, value)
    }

    /// `"key":true` or `"key":false`.
    pub fn boolean(&mut self, key: &str, value: bool) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        sink.put(if value { b"true" } else { b"false" })
    }

    /// `"key":null`.
    pub fn null(&mut self, key: &str) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        sink.put(b"null")
    }

    /// `"key":{...}`; `fill` adds the nested object's members.
    pub fn object(
        &mut self,
        key: &str,
        fill: impl FnOnce(&mut ObjectWriter<'_, S>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        write_object(sink, fill)
    }

    /// `"key":[...]`; `fill` adds the nested array's elements.
    pub fn array(
        &mut self,
        key: &str,
        fill: impl FnOnce(&mut ArrayWriter<'_, S>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let sink = self.key(key)?;
        write_array(sink, fill)
    }
}

/// Adds elements to an open JSON array.
pub struct ArrayWriter<'s, S: Sink> {
    sink: &'s mut S,
    empty: bool,
}

impl<S: Sink> ArrayWriter<'_, S> {
    fn separator(&mut self) -> Result<&mut S, WriteError> {
        if !self.empty {
            self.sink.put(b",")?;
        }
        self.empty = false;
        Ok(self.sink)
    }

    /// A string element.
    pub fn string(&mut self, value: &str) -> Result<(), WriteError> {
        let sink = self.separator()?;
        write_string(sink, value)
    }

    /// An unsigned integer element.
    pub fn unsigned(&mut self, value: u64) -> Result<(), WriteError> {
        let sink = self.separator()?;
        write_u64(sink, value)
    }

    /// A signed integer element.
    pub fn signed(&mut self, value: i64) -> Result<(), WriteError> {
        let sink = self.separator()?;
        write_i64(sink, value)
    }

    /// A `true`/`false` element.
    pub fn boolean(&mut self, value: bool) -> Result<(), WriteError> {
        let sink = self.separator()?;
        sink.put(if value { b"true" } else { b"false" })
    }

    /// A `null` element.
    pub fn null(&mut self) -> Result<(), WriteError> {
        let sink = self.separator()?;
        sink.put(b"null")
    }

    /// An object element; `fill` adds its members.
    pub fn object(
        &mut self,
        fill: impl FnOnce(&mut ObjectWriter<'_, S>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let sink = self.separator()?;
        write_object(sink, fill)
    }

    /// An array element; `fill` adds its elements.
    pub fn array(
        &mut self,
        fill: impl FnOnce(&mut ArrayWriter<'_, S>) -> Result<(), WriteError>,
    ) -> Result<(), WriteError> {
        let sink = self.separator()?;
        write_array(sink, fill)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(
        fill: impl FnOnce(&mut ObjectWriter<'_, SliceSink<'_>>) -> Result<(), WriteError>,
    ) -> std::string::String {
        let mut buffer = [0u8; 512];
        let mut sink = SliceSink::new(&mut buffer);
        write_object(&mut sink, fill).unwrap();
        std::string::String::from_utf8(sink.written().to_vec()).unwrap()
    }

    #[test]
    fn scalars_and_nesting() {
        let text = render(|object| {
            object.string("name", "mgmt0")?;
            object.unsigned("zero", 0)?;
            object.unsigned("max", u64::MAX)?;
            object.signed("min", i64::MIN)?;
            object.signed("minus_one", -1)?;
            object.boolean("yes", true)?;
            object.null("nothing")?;
            object.array("empty", |_| Ok(()))?;
            object.object("inner", |inner| {
                inner.array("list", |list| {
                    list.unsigned(1)?;
                    list.string("two")?;
                    list.boolean(false)?;
                    list.null()?;
                    list.signed(-3)?;
                    list.object(|o| o.unsigned("a", 1))?;
                    list.array(|a| a.array(|_| Ok(())))
                })
            })
        });
        assert_eq!(
            text,
            concat!(
                r#"{"name":"mgmt0","zero":0,"max":18446744073709551615,"#,
                r#""min":-9223372036854775808,"minus_one":-1,"yes":true,"nothing":null,"#,
                r#""empty":[],"inner":{"list":[1,"two",false,null,-3,{"a":1},[[]]]}}"#
            )
        );
    }

    #[test]
    fn string_escaping() {
        let text = render(|object| {
            object.string(
                "q\"k",
                "a\"b\\c/d\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é✓</script>",
            )
        });
        assert_eq!(
            text,
            "{\"q\\\"k\":\"a\\\"b\\\\c/d\\n\\r\\t\\b\\f\\u0000\\u001f\u{7f}é✓</script>\"}"
        );
        assert_eq!(render(|object| object.string("", "")), r#"{"":""}"#);
    }

    #[test]
    fn every_prefix_of_a_too_small_buffer_fails_cleanly() {
        fn fill<S: Sink>(object: &mut ObjectWriter<'_, S>) -> Result<(), WriteError> {
            object.string("k", "v\u{1}")?;
            object.array("a", |array| array.unsigned(12345))
        }
        let mut counter = Counter::new();
        write_object(&mut counter, fill).unwrap();
        let needed = counter.len();
        assert_eq!(needed, r#"{"k":"v\u0001","a":[12345]}"#.len());
        for size in 0..needed {
            let mut buffer = std::vec![0u8; size];
            let mut sink = SliceSink::new(&mut buffer);
            assert_eq!(
                write_object(&mut sink, fill),
                Err(WriteError::BufferTooSmall),
                "{size}"
            );
            assert!(sink.len() <= size);
        }
        let mut buffer = std::vec![0u8; needed];
        let mut sink = SliceSink::new(&mut buffer);
        write_object(&mut sink, fill).unwrap();
        assert_eq!(sink.len(), needed);
        assert!(!sink.is_empty());
    }

    #[test]
    fn top_level_array() {
        let mut buffer = [0u8; 16];
        let mut sink = SliceSink::new(&mut buffer);
        write_array(&mut sink, |array| {
            array.unsigned(7)?;
            array.unsigned(8)
        })
        .unwrap();
        assert_eq!(sink.written(), b"[7,8]");
    }
}
