//! Tells Rust Debug output from words: one check for transcripts and Display tests.
//!
//! Nothing a person reads (console, dpuboot, logs, HTTP bodies) may show Rust `Debug`
//! formatting (DEVELOPERS.md). xtask runs [`debug_lines`] over every in-QEMU test's console
//! transcript; host tests of `Display` impls call [`assert_words`]. Host-only (std, regex): a
//! dev-dependency of the firmware crates, never linked into them.

#![forbid(unsafe_code)]

use std::sync::OnceLock;

/// The Debug shapes: a word `None`; `Some(`, `Ok(`, `Err(` as words; a CamelCase name (paths
/// allowed) then ` { ` and a field name or `..`, which is how `{:?}` prints a struct.
fn pattern() -> &'static regex::Regex {
    static PATTERN: OnceLock<regex::Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        #[allow(clippy::expect_used, reason = "a constant pattern, checked by the tests")]
        regex::Regex::new(
            r"\b(?:Some|Ok|Err)\(|\bNone\b|\b[A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)* \{ (?:\.\.|[a-z_][a-z0-9_]*:)",
        )
        .expect("valid pattern")
    })
}

/// Whether `line` shows Rust Debug formatting.
pub fn is_debug_output(line: &str) -> bool {
    pattern().is_match(line)
}

/// The lines of `text` that show Rust Debug formatting, as (line number from 1, line).
pub fn debug_lines(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| is_debug_output(line))
        .map(|(index, line)| (index + 1, line.trim_end().to_string()))
        .collect()
}

/// Panics unless `text` (one `Display` output) reads as words: some letters, no braces, no
/// Debug shapes. Stricter than [`is_debug_output`], since a short message has no reason for a
/// brace at all.
pub fn assert_words(text: &str) {
    assert!(
        text.chars().filter(|c| c.is_alphabetic()).count() >= 3,
        "no words: {text:?}"
    );
    assert!(
        !text.contains('{') && !text.contains('}'),
        "a brace in {text:?}"
    );
    assert!(!is_debug_output(text), "Debug output in {text:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_formatting_is_caught() {
        for line in [
            "  irq Some(79)",
            "gateway None",
            "last None bank A (None)",
            "reason None (stage Unknown)",
            "virtio: DeviceErrors { .. }",
            "error Ok(())",
            "boot: Err(Flash)",
            "record BootRecord { active: A, sequence: 4 }",
            "x: bootstate::Version { major: 0 }",
        ] {
            assert_eq!(debug_lines(line).len(), 1, "{line}");
        }
    }

    #[test]
    fn words_pass() {
        for line in [
            "dpu> help",
            "last boot: none",
            "irq 79, gateway 10.0.2.2",
            "{\"name\":\"mgmt0\",\"role\":\"management\"}",
            "fn main() { x }",
            "Noneless Something(1) Okay(2)",
            "Usage { ",
            "dpuboot: bank B rejected: bad signature",
        ] {
            assert!(debug_lines(line).is_empty(), "{line}");
        }
    }

    #[test]
    fn lines_are_numbered_from_one() {
        assert_eq!(
            debug_lines("ok\nirq Some(79)\n"),
            [(2, "irq Some(79)".to_string())]
        );
    }

    #[test]
    fn display_texts_are_held_to_words() {
        assert_words("flash erase failed at 0x1000");
        for bad in ["", "0x10", "{}", "Timeout { at: 3 }", "Some(3) left"] {
            assert!(
                std::panic::catch_unwind(|| assert_words(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
