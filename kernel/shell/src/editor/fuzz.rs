//! Property test (fuzz harness) of the line editor: what the operator sees is what runs.
//!
//! Feeds random byte streams (printable text, Enter in its three forms, the editing keys,
//! escape sequences whole, cut short or lone, and binary noise) to editors of two sizes, with
//! the counters sometimes preset near `u32::MAX`. Properties: no panic; the echo holds only
//! printable ASCII, CR, LF and BS; a virtual terminal that applies the echo shows exactly
//! each returned line; Enter always ends a line and Ctrl-C always cancels; lines are printable and at most CAPACITY long; `TooLong` reports more
//! than CAPACITY; no counter ever goes down (they saturate). Long run:
//! `PROPTEST_CASES=200000 cargo test --release -p dpu-shell editor::fuzz` (docs/fuzzing.md).

extern crate std;

use super::{EditorCounters, Feed, LineEditor, LineError};
use proptest::prelude::*;
use std::string::String;
use std::vec::Vec;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// A one-line terminal: printable bytes overwrite at the cursor, BS moves left, CR goes to
/// column 0, LF starts a new line. Remembers the row as it was when each CR or LF came.
#[derive(Default)]
struct Terminal {
    row: Vec<u8>,
    cursor: usize,
    completed: Vec<String>,
}

impl Terminal {
    fn apply(&mut self, bytes: &[u8]) -> Result<(), TestCaseError> {
        for &byte in bytes {
            match byte {
                0x20..=0x7e => {
                    if self.cursor == self.row.len() {
                        self.row.push(byte);
                    } else {
                        self.row[self.cursor] = byte;
                    }
                    self.cursor += 1;
                }
                0x08 => self.cursor = self.cursor.saturating_sub(1),
                b'\r' => {
                    self.completed
                        .push(String::from_utf8_lossy(&self.row).into_owned());
                    self.cursor = 0;
                }
                b'\n' => {
                    self.row.clear();
                    self.cursor = 0;
                }
                other => {
                    return Err(TestCaseError::fail(std::format!(
                        "echo holds byte {other:#04x}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// What the operator saw on the line that just ended.
    fn last_line(&self) -> &str {
        self.completed.last().map_or("", |line| line.trim())
    }
}

const WORDS: &[&[u8]] = &[
    b"reboot",
    b"help",
    b"boot tries 3",
    b"ping 10.0.2.2",
    b"  ",
    b"\t",
];

/// Enter in its three forms, the editing keys, escape sequences whole, cut short and lone,
/// and two noise bytes.
const KEYS: &[&[u8]] = &[
    b"\r",
    b"\n",
    b"\r\n",
    b"\x03",
    b"\x15",
    b"\x08",
    b"\x7f",
    b"\x1b",
    b"\x1b[A",
    b"\x1b[15~",
    b"\x1bOH",
    b"\x1b[",
    b"\x1bx",
    b"\x00",
    b"\xff",
];

fn chunk() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(<[u8]>::to_vec),
        4 => proptest::sample::select(KEYS).prop_map(<[u8]>::to_vec),
        2 => proptest::collection::vec(0x20..0x7fu8, 1..24),
        1 => proptest::collection::vec(any::<u8>(), 1..24),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(chunk(), 0..40).prop_map(|chunks| chunks.concat())
}

fn preset() -> impl Strategy<Value = EditorCounters> {
    let near_top = prop_oneof![Just(0u32), (u32::MAX - 3)..=u32::MAX, any::<u32>()];
    (
        near_top.clone(),
        near_top.clone(),
        near_top.clone(),
        near_top,
    )
        .prop_map(
            |(garbage_bytes, escape_sequences, overlong_lines, garbage_lines)| EditorCounters {
                garbage_bytes,
                escape_sequences,
                overlong_lines,
                garbage_lines,
            },
        )
}

fn never_decreased(before: EditorCounters, after: EditorCounters) -> bool {
    after.garbage_bytes >= before.garbage_bytes
        && after.escape_sequences >= before.escape_sequences
        && after.overlong_lines >= before.overlong_lines
        && after.garbage_lines >= before.garbage_lines
}

fn drive<const CAPACITY: usize>(input: &[u8], preset: EditorCounters) -> Result<(), TestCaseError> {
    let mut editor = LineEditor::<CAPACITY>::new();
    editor.counters = preset;
    let mut terminal = Terminal::default();
    let mut previous = None;
    for &byte in input {
        let before = editor.counters();
        let mut echo = Vec::new();
        let result = editor.feed(byte, |bytes| echo.extend_from_slice(bytes));
        terminal.apply(&echo)?;
        prop_assert!(
            never_decreased(before, editor.counters()),
            "a counter went down"
        );
        // Enter and Ctrl-C always act, whatever came before (F4: a lone ESC swallowed them).
        let enter = byte == b'\r' || (byte == b'\n' && previous != Some(b'\r'));
        if enter {
            prop_assert!(
                matches!(result, Feed::Line | Feed::Rejected(_)),
                "Enter did nothing"
            );
        }
        if byte == 0x03 {
            prop_assert_eq!(result, Feed::Cancelled, "Ctrl-C did not cancel");
        }
        previous = Some(byte);
        match result {
            Feed::Line => {
                let line = editor.line();
                prop_assert_eq!(line, terminal.last_line(), "the screen shows another line");
                prop_assert!(line.len() <= CAPACITY);
                prop_assert!(line.bytes().all(|byte| (0x20..0x7f).contains(&byte)));
                editor.clear();
            }
            Feed::Rejected(LineError::TooLong { length }) => prop_assert!(length > CAPACITY),
            Feed::Rejected(LineError::Garbage { bytes }) => prop_assert!(bytes > 0),
            Feed::Pending | Feed::Cancelled => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(5000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_screen_shows_the_line_that_runs(input in input(), preset in preset()) {
        drive::<16>(&input, preset)?;
        drive::<256>(&input, preset)?;
    }

    #[test]
    fn random_bytes_never_break_the_editor(
        input in proptest::collection::vec(any::<u8>(), 0..600),
        preset in preset(),
    ) {
        drive::<16>(&input, preset)?;
        drive::<256>(&input, preset)?;
    }
}
