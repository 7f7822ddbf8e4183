//! The recent console lines `GET /v1/logs` serves: a ring of numbered, timestamped lines.
//!
//! The kernel writes every text it prints into it (defmt frames are binary and stay out);
//! a line ends at `\n`, `\r` is dropped, a line longer than `WIDTH` bytes is cut at a
//! character boundary. The oldest line goes when the ring is full. Sequence numbers start at 1
//! and never repeat within a boot, so a client asks for `after_seq` = the last one it saw.

use heapless::String;

use super::backend::LogLine;

/// One finished line.
struct Line<const WIDTH: usize> {
    seq: u64,
    uptime_ms: u64,
    text: String<WIDTH>,
}

/// The last `LINES` lines, each up to `WIDTH` bytes.
pub struct LineRing<const LINES: usize, const WIDTH: usize> {
    lines: [Line<WIDTH>; LINES],
    /// Slot the next finished line goes to.
    next_slot: usize,
    /// Sequence number of the line being written.
    next_seq: u64,
    partial: String<WIDTH>,
    partial_started_ms: Option<u64>,
}

impl<const LINES: usize, const WIDTH: usize> Default for LineRing<LINES, WIDTH> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const LINES: usize, const WIDTH: usize> LineRing<LINES, WIDTH> {
    /// An empty ring (const: it lives in a static).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            lines: [const {
                Line {
                    seq: 0,
                    uptime_ms: 0,
                    text: String::new(),
                }
            }; LINES],
            next_slot: 0,
            next_seq: 1,
            partial: String::new(),
            partial_started_ms: None,
        }
    }

    /// Adds printed text; `now_ms` stamps the lines it starts.
    pub fn write(&mut self, text: &str, now_ms: u64) {
        for (index, piece) in text.split('\n').enumerate() {
            if index > 0 {
                self.finish(now_ms);
            }
            for character in piece.chars().filter(|c| *c != '\r') {
                self.partial_started_ms.get_or_insert(now_ms);
                // Full: the rest of the line is cut.
                let _ = self.partial.push(character);
            }
        }
    }

    fn finish(&mut self, now_ms: u64) {
        let slot_count = self.lines.len();
        let Some(slot) = self.lines.get_mut(self.next_slot) else {
            return;
        };
        slot.seq = self.next_seq;
        slot.uptime_ms = self.partial_started_ms.take().unwrap_or(now_ms);
        core::mem::swap(&mut slot.text, &mut self.partial);
        self.partial.clear();
        self.next_seq += 1;
        self.next_slot = (self.next_slot + 1) % slot_count.max(1);
    }

    /// The last finished line's sequence number (0 before the first).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Visits finished lines numbered above `after_seq`, oldest first, while `visit` says so.
    pub fn visit(&self, after_seq: u64, visit: &mut dyn FnMut(LogLine<'_>) -> bool) {
        let count = self.lines.len();
        for offset in 0..count {
            let Some(line) = self.lines.get((self.next_slot + offset) % count.max(1)) else {
                continue;
            };
            if line.seq == 0 || line.seq <= after_seq {
                continue;
            }
            let keep_going = visit(LogLine {
                seq: line.seq,
                uptime_ms: line.uptime_ms,
                text: &line.text,
            });
            if !keep_going {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    fn lines<const L: usize, const W: usize>(
        ring: &LineRing<L, W>,
        after: u64,
    ) -> Vec<(u64, u64, std::string::String)> {
        let mut seen = Vec::new();
        ring.visit(after, &mut |line| {
            seen.push((line.seq, line.uptime_ms, line.text.to_string()));
            true
        });
        seen
    }

    #[test]
    fn lines_are_numbered_stamped_cut_and_rotated() {
        let mut ring: LineRing<3, 8> = LineRing::new();
        assert_eq!(ring.last_seq(), 0);
        ring.write("one\r\ntw", 5);
        assert_eq!(lines(&ring, 0), [(1, 5, "one".to_string())]);
        ring.write("o\nthree is long\n", 7);
        ring.write("é€x\n", 9);
        assert_eq!(
            lines(&ring, 0),
            [
                (2, 5, "two".to_string()),
                (3, 7, "three is".to_string()),
                (4, 9, "é€x".to_string()),
            ]
        );
        assert_eq!(lines(&ring, 3), [(4, 9, "é€x".to_string())]);
        assert_eq!(ring.last_seq(), 4);
        let mut first = Vec::new();
        ring.visit(0, &mut |line| {
            first.push(line.seq);
            false
        });
        assert_eq!(first, [2], "visiting stops when asked");
    }
}
