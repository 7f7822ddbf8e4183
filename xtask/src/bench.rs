//! `cargo xtask bench`: figures measured on this machine, printed for the closing notes.

use crate::qemu::{self, Machine};
use crate::tests::Session;
use crate::{BuildOptions, build};
use anyhow::{Result, bail};
use std::time::Duration;

/// `cargo xtask bench boot [--runs N]`.
pub fn bench(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let what = arguments.first().map(String::as_str).unwrap_or("boot");
    let runs = arguments
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| arguments.get(i + 1))
        .map(|n| n.parse::<usize>())
        .transpose()?
        .unwrap_or(10);
    match what {
        "boot" => bench_boot(options, runs),
        other => bail!("unknown bench '{other}' (available: boot)"),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn bench_boot(options: &BuildOptions, runs: usize) -> Result<()> {
    qemu::ensure_installed()?;
    let artifacts = build::build_kernel(options)?;
    build::print_sizes(&artifacts)?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let mut session = Session::start(&Machine::default(), &artifacts.image, &artifacts.elf)?;
        session.expect("dpu> ", Duration::from_secs(20))?;
        times.push(session.started.elapsed().as_secs_f64() * 1000.0);
        session.send_bytes(b"poweroff\r")?;
        let status = session.wait_exit(Duration::from_secs(10))?;
        if status != 0 {
            bail!("guest exited with {status}");
        }
    }
    let minimum = times.iter().copied().fold(f64::MAX, f64::min);
    let maximum = times.iter().copied().fold(f64::MIN, f64::max);
    let middle = median(&mut times);
    println!(
        "boot (QEMU start to 'dpu> ', direct -kernel, {} runs): median {middle:.1} ms, min {minimum:.1} ms, max {maximum:.1} ms",
        times.len()
    );
    Ok(())
}
