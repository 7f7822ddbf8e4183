//! Recent log frames, whole: a byte ring that drops the oldest frame.
//!
//! defmt frames are rzcobs-encoded, so their bodies may contain any byte value and no byte can
//! mark a boundary; the ring keeps each whole frame's length beside the bytes instead. Bytes of
//! the frame being written are kept too, but only whole frames are handed out.

use heapless::Deque;

/// Up to `BYTES` bytes of recent frames, and at most `FRAMES` frames.
pub struct ReplayRing<const BYTES: usize, const FRAMES: usize> {
    bytes: Deque<u8, BYTES>,
    frame_lengths: Deque<u16, FRAMES>,
    /// Bytes of the frame being written, kept so far.
    current_length: u16,
    /// The frame being written did not fit: drop the rest of it and do not record it.
    discarding: bool,
}

impl<const BYTES: usize, const FRAMES: usize> Default for ReplayRing<BYTES, FRAMES> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BYTES: usize, const FRAMES: usize> ReplayRing<BYTES, FRAMES> {
    const FITS: () = assert!(
        BYTES <= u16::MAX as usize && FRAMES > 0,
        "frame lengths are u16"
    );

    /// An empty ring.
    #[must_use]
    pub const fn new() -> Self {
        let () = Self::FITS;
        Self {
            bytes: Deque::new(),
            frame_lengths: Deque::new(),
            current_length: 0,
            discarding: false,
        }
    }

    /// Appends bytes of the frame being written, dropping the oldest whole frames for room.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.discarding {
                return;
            }
            if self.bytes.is_full() && !self.drop_oldest_frame() {
                // This frame alone fills the ring: keep none of it rather than a torn frame.
                for _ in 0..self.current_length {
                    let _ = self.bytes.pop_back();
                }
                self.current_length = 0;
                self.discarding = true;
                return;
            }
            let _ = self.bytes.push_back(byte);
            self.current_length = self.current_length.saturating_add(1);
        }
    }

    /// The frame being written is complete.
    pub fn end_frame(&mut self) {
        if self.discarding {
            self.discarding = false;
            return;
        }
        if self.frame_lengths.is_full() {
            self.drop_oldest_frame();
        }
        let _ = self.frame_lengths.push_back(self.current_length);
        self.current_length = 0;
    }

    /// Whole frames held.
    #[must_use]
    pub fn frames(&self) -> usize {
        self.frame_lengths.len()
    }

    /// The bytes of every whole frame held, oldest first (not the frame being written).
    pub fn whole_frames(&self) -> impl Iterator<Item = u8> + '_ {
        let whole: usize = self.frame_lengths.iter().map(|&l| usize::from(l)).sum();
        self.bytes.iter().copied().take(whole)
    }

    fn drop_oldest_frame(&mut self) -> bool {
        let Some(length) = self.frame_lengths.pop_front() else {
            return false;
        };
        for _ in 0..length {
            let _ = self.bytes.pop_front();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn frame<const B: usize, const F: usize>(ring: &mut ReplayRing<B, F>, bytes: &[u8]) {
        ring.push(&[0xff, 0x00]);
        ring.push(bytes);
        ring.end_frame();
    }

    fn held<const B: usize, const F: usize>(ring: &ReplayRing<B, F>) -> Vec<u8> {
        ring.whole_frames().collect()
    }

    #[test]
    fn whole_frames_come_back_in_order() {
        let mut ring = ReplayRing::<64, 8>::new();
        frame(&mut ring, b"one");
        frame(&mut ring, b"two");
        assert_eq!(ring.frames(), 2);
        assert_eq!(held(&ring), b"\xff\x00one\xff\x00two");
    }

    #[test]
    fn the_frame_being_written_is_not_handed_out() {
        let mut ring = ReplayRing::<64, 8>::new();
        frame(&mut ring, b"one");
        ring.push(b"\xff\x00half");
        assert_eq!(held(&ring), b"\xff\x00one");
        ring.end_frame();
        assert_eq!(held(&ring), b"\xff\x00one\xff\x00half");
    }

    #[test]
    fn the_oldest_frames_go_whole_when_bytes_run_out() {
        let mut ring = ReplayRing::<16, 8>::new();
        frame(&mut ring, b"aaaaa"); // 7 bytes
        frame(&mut ring, b"bbbbb"); // 14
        frame(&mut ring, b"cc\xffcc"); // 21 > 16: "a" goes, whole
        assert_eq!(ring.frames(), 2);
        assert_eq!(held(&ring), b"\xff\x00bbbbb\xff\x00cc\xffcc");
    }

    #[test]
    fn the_oldest_frame_goes_when_frame_slots_run_out() {
        let mut ring = ReplayRing::<64, 2>::new();
        frame(&mut ring, b"1");
        frame(&mut ring, b"2");
        frame(&mut ring, b"3");
        assert_eq!(ring.frames(), 2);
        assert_eq!(held(&ring), b"\xff\x002\xff\x003");
    }

    /// A frame larger than the ring leaves no torn tail behind, and the ring keeps working.
    #[test]
    fn a_frame_larger_than_the_ring_is_dropped_whole() {
        let mut ring = ReplayRing::<16, 8>::new();
        frame(&mut ring, b"keep");
        frame(&mut ring, &[0x55; 40]);
        assert_eq!(
            ring.frames(),
            0,
            "the old frame made room and then this one failed"
        );
        assert!(held(&ring).is_empty());
        assert!(ring.bytes.is_empty(), "no torn bytes kept");
        frame(&mut ring, b"after");
        assert_eq!(held(&ring), b"\xff\x00after");
    }

    #[test]
    fn many_frames_never_tear() {
        let mut ring = ReplayRing::<100, 10>::new();
        for n in 0..1000u32 {
            let body: Vec<u8> = (0..(n % 23) as u8).collect();
            frame(&mut ring, &body);
            // Everything held parses as whole frames: marker, then a run 0, 1, 2, ...
            let bytes = held(&ring);
            let mut index = 0;
            while index < bytes.len() {
                assert_eq!(&bytes[index..index + 2], &[0xff, 0x00], "frame {n}");
                index += 2;
                let mut expected = 0u8;
                while index < bytes.len() && bytes[index] != 0xff {
                    assert_eq!(bytes[index], expected);
                    expected += 1;
                    index += 1;
                }
            }
        }
    }
}
