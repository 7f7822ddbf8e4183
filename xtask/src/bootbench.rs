//! `cargo xtask bench boot --dpuboot`: reset to prompt through dpuboot.
//!
//! Runs through dpuboot with the Shift+R window at 0 on a committed bank A, N times, and reports
//! the median time from QEMU start to `dpu> `, dpuboot's own verification time of the image (it
//! prints it in its boot line), dpuboot's size, and the flash writes of those boots (0 expected).

use crate::image::{self, SignOptions};
use crate::qemu::Machine;
use crate::session::Session;
use crate::{BuildOptions, workspace_root};
use anyhow::{Result, bail};
use bootstate::BootControl;
use bootstate::sim::NorSim;
use std::time::Duration;

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
