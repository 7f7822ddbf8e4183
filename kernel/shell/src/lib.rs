//! Serial console shell: line editor and command parsing, pure and host-tested.
//!
//! The kernel feeds every received console byte to [`LineEditor::feed`], writes the echo it is
//! handed, and runs [`Command::parse`] on each completed line. Nothing here touches hardware, so
//! every path a person (or line noise) can take is tested on the host.

#![no_std]
#![forbid(unsafe_code)]

mod command;
mod editor;

pub use command::{
    COMMANDS, Command, CrashKind, LogLevel, PING_DEFAULT_COUNT, ParseError, parse_ipv4,
};
pub use editor::{EditorCounters, Feed, LineEditor, LineError};
