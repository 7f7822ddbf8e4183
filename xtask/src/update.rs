//! The host side of `update`: pushes a signed image to the kernel over the serial console.
//!
//! Why the console: it exists on every DPU from the first boot, needs no working network stack
//! (the thing an update may be fixing), and is what `cargo xtask test` already drives; a TCP
//! upload on the management channel can reuse the same framing later. The protocol is plain
//! ASCII lines so a terminal, a pipe or a USB-serial adapter carries it unchanged:
//!
//! ```text
//! host:  update <length>                     kernel: "update: READY <bank>" (or an error)
//! host:  F <seq> <hex bytes> <crc32 hex>     kernel: "ACK <seq> ok" or "NAK <seq> <why>"
//! host:  END <crc32 of the whole image>      kernel: "update: OK ..." or "update: REFUSED ..."
//! ```
//!
//! Frames carry at most [`CHUNK`] bytes; each waits for its ACK (deadline per frame) and is sent
//! again after a NAK, up to [`RETRIES`] times. The kernel gives up after a silence.

use crate::tests::Session;
use anyhow::{Result, bail};
use bootstate::crc32::crc32;
use std::fmt::Write as _;
use std::time::Duration;

/// Raw bytes per frame (sent as hex, so lines are about twice as long).
pub const CHUNK: usize = 1024;
/// Attempts per frame.
pub const RETRIES: usize = 3;

fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// Sends `image` through the guest's `update` command; with `stop_after` it stops sending once
/// that many bytes went out (the caller then cuts the power).
pub fn send_over_console(
    session: &mut Session,
    image: &[u8],
    stop_after: Option<usize>,
    timeout: Duration,
) -> Result<()> {
    session.send_bytes(format!("update {}\r", image.len()).as_bytes())?;
    session.expect("update: READY", timeout)?;
    let frame_timeout = Duration::from_secs(10);
    for (sequence, chunk) in image.chunks(CHUNK).enumerate() {
        if stop_after.is_some_and(|limit| sequence * CHUNK >= limit) {
            return Ok(());
        }
        let line = format!("F {sequence} {} {:08x}\r", hex(chunk), crc32(chunk));
        let mut acknowledged = false;
        for _ in 0..RETRIES {
            session.send_bytes(line.as_bytes())?;
            // The kernel answers "ACK <seq> ok" or "NAK <seq> <why>": wait for the common tail,
            // then look at which one it was.
            let tail = format!("K {sequence} ");
            session.expect(&tail, frame_timeout)?;
            let at = session.transcript.rfind(&tail).unwrap_or(0);
            if session.transcript[..at].ends_with("AC") {
                acknowledged = true;
                break;
            }
        }
        if !acknowledged {
            bail!("frame {sequence} was refused {RETRIES} times");
        }
    }
    session.send_bytes(format!("END {:08x}\r", crc32(image)).as_bytes())?;
    Ok(())
}
