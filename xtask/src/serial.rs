//! The console byte stream: text for people, defmt frames decoded.
//!
//! Wire convention (docs/logging.md): a defmt frame is `0xFF 0x00`, then rzcobs-encoded bytes,
//! then `0x00`. Text never contains `0xFF`, so everything else passes through unchanged.

use anyhow::{Context, Result};
use defmt_decoder::{DecodeError, Table};
use std::path::Path;

/// One piece of decoded console output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Console text, as sent.
    Text(Vec<u8>),
    /// A decoded log line (timestamp, level, message), without line ending.
    Log(String),
    /// A frame that could not be decoded (wrong ELF, corruption).
    BadFrame(usize),
}

enum State {
    Text,
    /// Saw 0xFF; a 0x00 next starts a frame.
    Marker,
    Frame,
}

/// Splits console bytes into text and decoded defmt frames.
pub struct Splitter {
    table: Option<Table>,
    state: State,
    frame: Vec<u8>,
}

impl Splitter {
    /// A splitter that decodes frames with the defmt table of `elf` (if it has one).
    pub fn new(elf: &Path) -> Result<Self> {
        let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
        let table = Table::parse(&bytes).context("reading the defmt table")?;
        Ok(Self {
            table,
            state: State::Text,
            frame: Vec::new(),
        })
    }

    /// A splitter without a defmt table (frames come out as undecodable).
    #[cfg(test)]
    pub fn plain() -> Self {
        Self {
            table: None,
            state: State::Text,
            frame: Vec::new(),
        }
    }

    /// Feeds received bytes; returns what they completed, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Output> {
        let mut outputs = Vec::new();
        let mut text = Vec::new();
        for &byte in bytes {
            match self.state {
                State::Text if byte == 0xff => self.state = State::Marker,
                State::Text => text.push(byte),
                State::Marker if byte == 0x00 => {
                    if !text.is_empty() {
                        outputs.push(Output::Text(std::mem::take(&mut text)));
                    }
                    self.frame.clear();
                    self.state = State::Frame;
                }
                State::Marker => {
                    // A stray 0xFF (not a frame): keep it as text.
                    text.push(0xff);
                    text.push(byte);
                    self.state = State::Text;
                }
                // defmt's encoder starts its very first frame with a 0x00 separator: skip it.
                State::Frame if byte == 0x00 && self.frame.is_empty() => {}
                State::Frame => {
                    self.frame.push(byte);
                    if byte == 0x00 {
                        outputs.push(self.decode_frame());
                        self.state = State::Text;
                    } else if self.frame.len() > 4096 {
                        outputs.push(Output::BadFrame(self.frame.len()));
                        self.frame.clear();
                        self.state = State::Text;
                    }
                }
            }
        }
        if !text.is_empty() {
            outputs.push(Output::Text(text));
        }
        outputs
    }

    fn decode_frame(&mut self) -> Output {
        let length = self.frame.len();
        let Some(table) = &self.table else {
            return Output::BadFrame(length);
        };
        let mut decoder = table.new_stream_decoder();
        decoder.received(&self.frame);
        match decoder.decode() {
            Ok(frame) => {
                let timestamp = frame
                    .display_timestamp()
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                let level = frame
                    .level()
                    .map_or("PRINT".to_string(), |l| l.as_str().to_uppercase());
                // The kernel's `{=u64:us}` timestamp is shown by defmt as seconds.micros.
                Output::Log(format!(
                    "[{timestamp:>11} {level:<5}] {}",
                    frame.display_message()
                ))
            }
            Err(DecodeError::UnexpectedEof) | Err(DecodeError::Malformed) => {
                Output::BadFrame(length)
            }
        }
    }
}
