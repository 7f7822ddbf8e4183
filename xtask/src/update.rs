//! The host side of `update`: pushes a signed image to the kernel over the serial console.
//!
//! Why the console: it exists on every DPU from the first boot, needs no working network stack
//! (the thing an update may be fixing), and is what `cargo xtask test` already drives; a TCP
//! upload on the management channel can reuse the same framing later. Control lines are ASCII;
//! frame payloads are raw bytes (hex doubled the transfer time under QEMU, whose PL011 takes
//! 16 bytes at a time), so the channel must be 8-bit clean (a pipe or a dedicated serial port,
//! not a terminal whose escape key is Ctrl-A):
//!
//! ```text
//! host:  update <length>                      kernel: "update: READY <bank>" (or an error)
//! host:  F <seq> <len> <crc32 hex>\r <len raw bytes>
//!                                             kernel: "ACK <seq> ok" or "NAK <seq> <why>"
//! host:  END <crc32 of the whole image>       kernel: "update: OK ..." or "update: REFUSED ..."
//! ```
//!
//! Frames carry at most [`CHUNK`] bytes; each waits for its ACK (deadline per frame) and is sent
//! again after a NAK, up to [`RETRIES`] times. The kernel gives up after a silence.

use crate::tests::Session;
use anyhow::{Result, bail};
use bootstate::crc32::crc32;
use std::time::Duration;

/// Raw bytes per frame: one frame plus its header must fit the kernel's 1 KiB receive ring
/// (the kernel refuses frames over 768 bytes).
pub const CHUNK: usize = 512;
/// Attempts per frame.
pub const RETRIES: usize = 3;

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
    let frame_timeout = Duration::from_secs(20);
    for (sequence, chunk) in image.chunks(CHUNK).enumerate() {
        if stop_after.is_some_and(|limit| sequence * CHUNK >= limit) {
            return Ok(());
        }
        let mut line = format!("F {sequence} {} {:08x}\r", chunk.len(), crc32(chunk)).into_bytes();
        line.extend_from_slice(chunk);
        let mut acknowledged = false;
        for _ in 0..RETRIES {
            session.send_bytes(&line)?;
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
