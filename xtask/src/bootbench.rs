//! `cargo xtask bench boot --dpuboot` and `bench rollback`: boots through dpuboot, timed.
//!
//! `boot --dpuboot` runs through dpuboot with the Shift+R window at 0 on a committed bank A, N
//! times, and reports the median time from QEMU start to `dpu> `, dpuboot's own verification
//! time of the image (it prints it in its boot line), dpuboot's size, and the flash writes of
//! those boots (0 expected).
//!
//! `rollback` stages a trial that panics inside its health window (the `test-panic` build) with
//! one try, boots as in the field (no semihosting, so the panic resets), and reports the median
//! time from the panic report to the committed bank's `dpu> ` prompt: the field's recovery time.
//! Both times are when the reader thread received the bytes, not when the bench looked.

use crate::image::{self, SignOptions};
use crate::qemu::Machine;
use crate::session::Session;
use crate::{BuildOptions, workspace_root};
use anyhow::{Result, bail};
use bootstate::BootControl;
use bootstate::sim::NorSim;
use std::time::{Duration, Instant};

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Measures `runs` boots through dpuboot.
pub fn bench_dpuboot(options: &BuildOptions, runs: usize) -> Result<()> {
    crate::install::ensure_qemu()?;
    let files = image::prepare(options, &SignOptions::default(), false)?;
    let kernel_elf = crate::build::output_dir().join("dpu-runtime.elf");
    // A bench copy of flash1: bank A committed, window 0.
    let signed = std::fs::read(&files.signed)?;
    let sim = NorSim::from_image(&image::provisioned_flash1(&signed)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut control = BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    control
        .set_rollback_window_ms(0)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let dir = workspace_root().join("target").join("test-flash");
    std::fs::create_dir_all(&dir)?;
    let flash1 = dir.join("bench.flash1.img");
    let before = control.into_flash().to_image();
    std::fs::write(&flash1, &before)?;
    let arguments =
        image::flash_arguments(&Machine::default(), &files.flash0, &flash1, "test.args")?;
    let (mut times, mut verify) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        let mut session = Session::start_arguments(&arguments, &kernel_elf)?;
        session.expect("dpuboot: booting bank A", Duration::from_secs(20))?;
        verify.push(session.expect_number("bytes verified in", Duration::from_secs(5))? / 1000.0);
        let wait = Duration::from_secs(20);
        // When the prompt arrived (the reader's timestamp), not when we looked.
        let prompt = session.expect_by("dpu> ", std::time::Instant::now() + wait, wait)?;
        let boot = prompt.arrived.duration_since(session.started);
        times.push(boot.as_secs_f64() * 1000.0);
        session.send_bytes(b"poweroff\r")?;
        let status = session.wait_exit(Duration::from_secs(10))?;
        if status != 0 {
            bail!("guest exited with {status}");
        }
    }
    let writes = if std::fs::read(&flash1)? == before {
        "none"
    } else {
        "SOME (unexpected)"
    };
    println!(
        "boot through dpuboot (QEMU start to 'dpu> ', window 0, {} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        median(&mut times.clone()),
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(f64::MIN, f64::max)
    );
    println!(
        "image verification in dpuboot ({} bytes, SHA-256 + Ed25519 of the RAM copy): median {:.2} ms",
        signed.len(),
        median(&mut verify)
    );
    println!(
        "dpuboot: {} bytes in flash0 ({})",
        files.dpuboot_size,
        files.dpuboot_elf.display()
    );
    println!("flash1 writes over those boots: {writes}");
    Ok(())
}

/// Measures `runs` automatic rollbacks of a trial that panics in its health window.
pub fn bench_rollback(options: &BuildOptions, runs: usize) -> Result<()> {
    crate::install::ensure_qemu()?;
    let files = image::prepare(options, &SignOptions::default(), false)?;
    let kernel_elf = crate::build::output_dir().join("dpu-runtime.elf");
    let panicking = image::build_kernel_variant(options, &["test-panic"])?;
    let trial = image::sign_image(&panicking, &SignOptions::next_trial())?;
    // flash1: bank A committed, bank B the panicking trial with one try, Shift+R window 0.
    let signed = std::fs::read(&files.signed)?;
    let sim = NorSim::from_image(&image::provisioned_flash1(&signed)?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut control = BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e}"))?;
    let running = control.record().active;
    let keys = image::trusted_keys()?;
    control
        .set_rollback_window_ms(0)
        .and_then(|()| control.set_trial_tries(1))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut writer = control
        .stage_begin(running)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    control
        .stage_write(&mut writer, &trial)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    control
        .stage_finish(writer, &keys)
        .map_err(|e| anyhow::anyhow!("staging the trial: {e}"))?;
    let provisioned = control.into_flash().to_image();
    let dir = workspace_root().join("target").join("test-flash");
    std::fs::create_dir_all(&dir)?;
    let flash1 = dir.join("bench-rollback.flash1.img");
    let mut arguments =
        image::flash_arguments(&Machine::default(), &files.flash0, &flash1, "test.args")?;
    // As in the field: a panic resets instead of exiting QEMU.
    arguments.retain(|argument| argument != "-semihosting");
    let wait = Duration::from_secs(30);
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        std::fs::write(&flash1, &provisioned)?;
        let mut session = Session::start_arguments(&arguments, &kernel_elf)?;
        session.expect("dpuboot: booting bank B", wait)?;
        let panic = session.expect_by("*** KERNEL PANIC", Instant::now() + wait, wait)?;
        session.expect("dpuboot: booting bank A", wait)?;
        session.expect("last boot ended: panic at", wait)?;
        let prompt = session.expect_by("dpu> ", Instant::now() + wait, wait)?;
        times.push(prompt.arrived.duration_since(panic.arrived).as_secs_f64() * 1000.0);
        // Dropping the session stops QEMU (no guest status without semihosting).
    }
    println!(
        "rollback in the field (panic in a trial's health window -> committed bank's 'dpu> ', window 0, {} runs): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        times.len(),
        median(&mut times.clone()),
        times.iter().copied().fold(f64::MAX, f64::min),
        times.iter().copied().fold(f64::MIN, f64::max)
    );
    Ok(())
}
