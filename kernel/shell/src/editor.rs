//! Line editor: printable ASCII, backspace, Ctrl-C / Ctrl-U, escape sequences swallowed.

use heapless::Vec;

/// Why a completed line was refused instead of being run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    /// The line was longer than the editor's buffer; `length` bytes were typed in all.
    TooLong {
        /// How many bytes the line had.
        length: usize,
    },
    /// The line contained bytes that are not printable ASCII (binary noise).
    Garbage {
        /// How many such bytes were seen.
        bytes: usize,
    },
}

/// What a fed byte did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    /// Nothing to act on yet.
    Pending,
    /// A line is complete: read it with [`LineEditor::line`], then call [`LineEditor::clear`].
    Line,
    /// The line was refused; it has already been cleared.
    Rejected(LineError),
    /// Ctrl-C: the line was discarded; show a fresh prompt.
    Cancelled,
}

/// Totals of the input the editor refused or ignored, for the console's error counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EditorCounters {
    /// Bytes that were neither printable ASCII nor a known control character.
    pub garbage_bytes: u32,
    /// Escape sequences (arrow keys, function keys, ...) swallowed whole.
    pub escape_sequences: u32,
    /// Lines refused for being longer than the buffer.
    pub overlong_lines: u32,
    /// Lines refused for containing garbage.
    pub garbage_lines: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// ESC seen.
    Start,
    /// ESC [ or ESC O seen: parameters until a final byte in 0x40..=0x7e.
    Sequence {
        length: u8,
    },
}

/// Longest escape sequence we wait for before treating the rest as ordinary input.
const MAX_ESCAPE_LENGTH: u8 = 16;

/// A fixed-capacity line editor for a serial terminal.
pub struct LineEditor<const CAPACITY: usize> {
    buffer: Vec<u8, CAPACITY>,
    /// Bytes typed beyond the capacity (the line is refused on Enter).
    overflow: usize,
    /// Non-printable bytes seen in this line (the line is refused on Enter).
    garbage: usize,
    escape: Escape,
    previous_was_carriage_return: bool,
    counters: EditorCounters,
}

impl<const CAPACITY: usize> Default for LineEditor<CAPACITY> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const CAPACITY: usize> LineEditor<CAPACITY> {
    /// An empty editor.
    pub const fn new() -> Self {
        const { assert!(CAPACITY >= 16, "a console line needs room for a command") };
        Self {
            buffer: Vec::new(),
            overflow: 0,
            garbage: 0,
            escape: Escape::None,
            previous_was_carriage_return: false,
            counters: EditorCounters {
                garbage_bytes: 0,
                escape_sequences: 0,
                overlong_lines: 0,
                garbage_lines: 0,
            },
        }
    }

    /// The completed line (valid after [`Feed::Line`]), without surrounding white space.
    pub fn line(&self) -> &str {
        // Only printable ASCII is ever stored, so this cannot fail; stay total anyway.
        core::str::from_utf8(&self.buffer).unwrap_or("").trim()
    }

    /// Empties the line for the next one.
    pub fn clear(&mut self) {
        self.buffer.clear();
        self.overflow = 0;
        self.garbage = 0;
        self.escape = Escape::None;
    }

    /// Totals of refused input since boot.
    pub fn counters(&self) -> EditorCounters {
        self.counters
    }

    /// Feeds one received byte; `echo` receives what to send back to the terminal.
    pub fn feed(&mut self, byte: u8, mut echo: impl FnMut(&[u8])) -> Feed {
        let after_carriage_return =
            core::mem::replace(&mut self.previous_was_carriage_return, false);
        match self.escape {
            Escape::Start if byte == b'[' || byte == b'O' => {
                self.escape = Escape::Sequence { length: 0 };
                return Feed::Pending;
            }
            Escape::Start => {
                // A lone ESC. Enter and the editing keys are never part of an escape sequence,
                // and swallowing them would hide them (ESC Ctrl-C must still cancel, ESC Enter
                // must still run the line: fuzz finding F4), so they, and a second ESC, are
                // fresh input. Anything else (Alt+key) is dropped with the ESC.
                self.count_escape_sequence();
                self.escape = Escape::None;
                if !matches!(byte, b'\r' | b'\n' | 0x03 | 0x15 | 0x08 | 0x7f | 0x1b) {
                    return Feed::Pending;
                }
            }
            Escape::Sequence { length } => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                    self.count_escape_sequence();
                    return Feed::Pending;
                }
                if (0x20..=0x3f).contains(&byte) && length < MAX_ESCAPE_LENGTH {
                    self.escape = Escape::Sequence { length: length + 1 };
                    return Feed::Pending;
                }
                // Not a well-formed sequence: count it and treat this byte as fresh input.
                self.escape = Escape::None;
                self.count_escape_sequence();
            }
            Escape::None => {}
        }
        match byte {
            b'\r' | b'\n' => {
                if byte == b'\n' && after_carriage_return {
                    // CR LF from a terminal is one Enter.
                    return Feed::Pending;
                }
                self.previous_was_carriage_return = byte == b'\r';
                echo(b"\r\n");
                self.finish_line()
            }
            0x03 => {
                echo(b"^C\r\n");
                self.clear();
                Feed::Cancelled
            }
            0x15 => {
                // Ctrl-U: erase the whole line on screen.
                for _ in 0..self.buffer.len() {
                    echo(b"\x08 \x08");
                }
                self.clear();
                Feed::Pending
            }
            0x08 | 0x7f => {
                if self.overflow > 0 {
                    self.overflow -= 1;
                } else if self.buffer.pop().is_some() {
                    echo(b"\x08 \x08");
                }
                Feed::Pending
            }
            0x1b => {
                self.escape = Escape::Start;
                Feed::Pending
            }
            b'\t' | 0x20..=0x7e => {
                let byte = if byte == b'\t' { b' ' } else { byte };
                if self.buffer.push(byte).is_ok() {
                    echo(&[byte]);
                } else {
                    self.overflow = self.overflow.saturating_add(1);
                }
                Feed::Pending
            }
            _ => {
                // Binary noise: never echoed (0xFF would look like a defmt frame to the host).
                self.garbage = self.garbage.saturating_add(1);
                self.counters.garbage_bytes = self.counters.garbage_bytes.saturating_add(1);
                Feed::Pending
            }
        }
    }

    // Counters saturate: a console fed line noise for days must not wrap (or, in a debug
    // build, panic on overflow: fuzz finding F3).
    fn count_escape_sequence(&mut self) {
        self.counters.escape_sequences = self.counters.escape_sequences.saturating_add(1);
    }

    fn finish_line(&mut self) -> Feed {
        if self.garbage > 0 {
            let bytes = self.garbage;
            self.counters.garbage_lines = self.counters.garbage_lines.saturating_add(1);
            self.clear();
            return Feed::Rejected(LineError::Garbage { bytes });
        }
        if self.overflow > 0 {
            let length = self.buffer.len().saturating_add(self.overflow);
            self.counters.overlong_lines = self.counters.overlong_lines.saturating_add(1);
            self.clear();
            return Feed::Rejected(LineError::TooLong { length });
        }
        Feed::Line
    }
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec as StdVec;

    fn feed_all<const N: usize>(
        editor: &mut LineEditor<N>,
        input: &[u8],
    ) -> (StdVec<Feed>, StdVec<u8>) {
        let mut echoed = StdVec::new();
        let mut results = StdVec::new();
        for &byte in input {
            let result = editor.feed(byte, |bytes| echoed.extend_from_slice(bytes));
            if result != Feed::Pending {
                results.push(result);
            }
        }
        (results, echoed)
    }

    #[test]
    fn plain_line_is_echoed_and_completed() {
        let mut editor = LineEditor::<64>::new();
        let (results, echoed) = feed_all(&mut editor, b"  help \r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "help");
        assert_eq!(echoed, b"  help \r\n");
    }

    #[test]
    fn crlf_is_one_enter_and_lf_alone_works() {
        let mut editor = LineEditor::<64>::new();
        let (results, _) = feed_all(&mut editor, b"a\r\n");
        assert_eq!(results, [Feed::Line]);
        editor.clear();
        let (results, _) = feed_all(&mut editor, b"b\n");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "b");
        editor.clear();
        // An empty line after CR LF is still reported (it re-prints the prompt).
        let (results, _) = feed_all(&mut editor, b"\r\n\r\n");
        assert_eq!(results, [Feed::Line, Feed::Line]);
    }

    #[test]
    fn backspace_edits_and_never_underflows() {
        let mut editor = LineEditor::<64>::new();
        let (results, echoed) = feed_all(&mut editor, b"\x7f\x08hellp\x7fo\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "hello");
        assert_eq!(echoed, b"hellp\x08 \x08o\r\n");
    }

    #[test]
    fn ctrl_c_discards_the_line() {
        let mut editor = LineEditor::<64>::new();
        let (results, echoed) = feed_all(&mut editor, b"reboot\x03");
        assert_eq!(results, [Feed::Cancelled]);
        assert!(echoed.ends_with(b"^C\r\n"));
        let (results, _) = feed_all(&mut editor, b"uptime\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "uptime");
    }

    #[test]
    fn ctrl_u_erases_everything_typed() {
        let mut editor = LineEditor::<64>::new();
        let (_, echoed) = feed_all(&mut editor, b"abc\x15");
        assert_eq!(echoed, b"abc\x08 \x08\x08 \x08\x08 \x08");
        let (results, _) = feed_all(&mut editor, b"mem\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "mem");
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let mut editor = LineEditor::<64>::new();
        // Up arrow, F5, Home (SS3), and a lone ESC x.
        let (results, echoed) = feed_all(&mut editor, b"\x1b[Aup\x1b[15~ti\x1bOHme\x1bx\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "uptime");
        assert_eq!(echoed, b"uptime\r\n");
        assert_eq!(editor.counters().escape_sequences, 4);
    }

    #[test]
    fn lone_escape_then_ctrl_c_still_cancels() {
        let mut editor = LineEditor::<64>::new();
        let (results, echoed) = feed_all(&mut editor, b"reboot\x1b\x03");
        assert_eq!(results, [Feed::Cancelled]);
        assert!(echoed.ends_with(b"^C\r\n"));
        // The cancelled line is gone: Enter now runs an empty line, not `reboot`.
        let (results, _) = feed_all(&mut editor, b"\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "");
    }

    #[test]
    fn lone_escape_then_enter_completes_the_line() {
        for enter in [&b"\r"[..], b"\n", b"\r\n"] {
            let mut editor = LineEditor::<64>::new();
            let mut input = b"uptime\x1b".to_vec();
            input.extend_from_slice(enter);
            let (results, echoed) = feed_all(&mut editor, &input);
            assert_eq!(results, [Feed::Line], "enter {enter:?}");
            assert_eq!(editor.line(), "uptime");
            assert_eq!(echoed, b"uptime\r\n");
        }
    }

    #[test]
    fn lone_escape_then_editing_keys_still_edit() {
        let mut editor = LineEditor::<64>::new();
        // ESC BS and ESC DEL each erase one character; ESC Ctrl-U erases the line.
        let (results, echoed) = feed_all(&mut editor, b"helpx\x1b\x08\r");
        assert_eq!(
            (results.as_slice(), editor.line()),
            (&[Feed::Line][..], "help")
        );
        assert!(echoed.ends_with(b"\x08 \x08\r\n"));
        editor.clear();
        let (results, _) = feed_all(&mut editor, b"helpx\x1b\x7f\r");
        assert_eq!(
            (results.as_slice(), editor.line()),
            (&[Feed::Line][..], "help")
        );
        editor.clear();
        let (results, _) = feed_all(&mut editor, b"reboot\x1b\x15mem\r");
        assert_eq!(
            (results.as_slice(), editor.line()),
            (&[Feed::Line][..], "mem")
        );
        // ESC ESC [ A: the second ESC starts the arrow key's sequence.
        editor.clear();
        let (results, echoed) = feed_all(&mut editor, b"\x1b\x1b[Aps\r");
        assert_eq!(
            (results.as_slice(), editor.line()),
            (&[Feed::Line][..], "ps")
        );
        assert_eq!(echoed, b"ps\r\n");
        // Four lone ESCs and one arrow key.
        assert_eq!(editor.counters().escape_sequences, 5);
    }

    #[test]
    fn counters_saturate_instead_of_overflowing() {
        let mut editor = LineEditor::<16>::new();
        editor.counters = EditorCounters {
            garbage_bytes: u32::MAX - 1,
            escape_sequences: u32::MAX - 2,
            overlong_lines: u32::MAX - 1,
            garbage_lines: u32::MAX - 1,
        };
        // Lone ESC x, a complete sequence, an abandoned one; garbage lines; overlong lines.
        feed_all(&mut editor, b"\x1bx\x1b[A\x1b[\x01\r\x1bx\x1b[B");
        feed_all(&mut editor, b"\x01\r\x02\r\x03\x04\r");
        let mut overlong = [b'y'; 20].to_vec();
        overlong.push(b'\r');
        feed_all(&mut editor, &overlong);
        feed_all(&mut editor, &overlong);
        assert_eq!(
            editor.counters(),
            EditorCounters {
                garbage_bytes: u32::MAX,
                escape_sequences: u32::MAX,
                overlong_lines: u32::MAX,
                garbage_lines: u32::MAX,
            }
        );
    }

    #[test]
    fn an_unterminated_escape_sequence_does_not_eat_the_line_forever() {
        let mut editor = LineEditor::<64>::new();
        let (results, _) = feed_all(&mut editor, b"\x1b[11111111111111111111111111mem\r");
        // The sequence is abandoned after its length limit; Enter still completes a line.
        assert_eq!(results.len(), 1);
    }

    #[test]
    fn overlong_line_is_refused_with_its_length() {
        let mut editor = LineEditor::<16>::new();
        let mut input = StdVec::from([b'x'; 40]);
        input.push(b'\r');
        let (results, echoed) = feed_all(&mut editor, &input);
        assert_eq!(results, [Feed::Rejected(LineError::TooLong { length: 40 })]);
        assert_eq!(echoed.len(), 16 + 2);
        let (results, _) = feed_all(&mut editor, b"help\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "help");
        assert_eq!(editor.counters().overlong_lines, 1);
    }

    #[test]
    fn binary_noise_is_refused_never_echoed_and_shell_recovers() {
        let mut editor = LineEditor::<64>::new();
        let noise: StdVec<u8> = (0u8..=255)
            .chain([0xff, 0x00, 0x80, 0xfe])
            .filter(|b| !matches!(b, b'\r' | b'\n' | 0x03 | 0x1b))
            .collect();
        let mut input = noise.clone();
        input.push(b'\r');
        let (results, echoed) = feed_all(&mut editor, &input);
        assert_eq!(results.len(), 1);
        assert!(matches!(
            results[0],
            Feed::Rejected(LineError::Garbage { .. })
        ));
        assert!(echoed.iter().all(|&b| b < 0x80), "non-ASCII echoed");
        let (results, _) = feed_all(&mut editor, b"version\r");
        assert_eq!(results, [Feed::Line]);
        assert_eq!(editor.line(), "version");
    }

    #[test]
    fn random_bytes_never_panic_and_lines_stay_printable() {
        let mut editor = LineEditor::<32>::new();
        let mut state: u32 = 0x1234_5678;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let byte = (state & 0xff) as u8;
            if editor.feed(byte, |_| {}) == Feed::Line {
                assert!(editor.line().bytes().all(|b| (0x20..0x7f).contains(&b)));
                editor.clear();
            }
        }
    }
}
