//! The host side of `update`: a signed image over the serial console.
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

use crate::session::Session;
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

/// `cargo xtask flash --serial [--version V] [--security-counter N] [--key PEM]`: signs the
/// current kernel and pushes it through the `update` command of the DPU in
/// `target/dpu/flash*.img` (booted headless through dpuboot, console on a pipe), so the next
/// `cargo xtask run` boots it as a trial.
pub fn command(options: &crate::BuildOptions, arguments: &[String]) -> Result<()> {
    use crate::image::{self, SignOptions};
    let mut sign = SignOptions::default();
    let mut serial = false;
    let mut words = crate::OptionWalker::new(arguments);
    while let Some(argument) = words.next_option() {
        if sign.parse_option(argument, &mut words)? {
            continue;
        }
        match argument {
            "--serial" => serial = true,
            other => bail!("unknown flash option '{other}'"),
        }
    }
    if !serial {
        bail!("choose the transport: --serial (the only one so far; TCP on mgmt0 is planned)");
    }
    crate::install::ensure_qemu()?;
    let files = image::prepare(options, &SignOptions::default(), false)?;
    let kernel = crate::build::output_dir();
    let signed = image::sign_image(&kernel.join("Image"), &sign)?;
    let arguments = image::flash_arguments(
        &crate::qemu::Machine::default(),
        &files.flash0,
        &files.flash1,
        "test.args",
    )?;
    println!("{}", crate::qemu::display_command(&arguments));
    let mut session = Session::start_arguments(&arguments, &kernel.join("dpu-runtime.elf"))?;
    let wait = Duration::from_secs(30);
    let pushed = session
        .expect("dpu> ", wait)
        .and_then(|()| send_over_console(&mut session, &signed, None, wait))
        .and_then(|()| session.expect("update: ", wait))
        .and_then(|()| session.expect("\n", wait));
    if let Err(error) = pushed {
        for line in session
            .transcript
            .lines()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .iter()
            .rev()
        {
            println!("| {line}");
        }
        return Err(error.context("pushing the image (an old kernel in bank A may lack `update`: `cargo xtask image --reset`)"));
    }
    let verdict = session
        .transcript
        .lines()
        .rev()
        .find(|line| line.starts_with("update: OK") || line.starts_with("update: REFUSED"))
        .unwrap_or("")
        .to_string();
    session.send_bytes(b"poweroff\r")?;
    let _ = session.wait_exit(Duration::from_secs(10));
    println!("{verdict}");
    if !verdict.starts_with("update: OK") {
        bail!("the DPU did not accept the image");
    }
    println!("next `cargo xtask run` boots it as a trial; it commits once healthy");
    Ok(())
}
