//! `cargo xtask bench switch --peer`: our switch beside the Linux peers, one QEMU command line.
//!
//! Runs the shared `peer-bench` tool (`../shared/tools/peer-bench/run.sh`, or `$PEER_BENCH`)
//! four times per repetition, interleaved: our kernel as the switch, our kernel in its
//! cross-connect mode, the Debian guest's Linux bridge, and its XDP redirect. Every run gets
//! the same machine, CPU, memory, NIC and netdev flags (virtio-mmio version 2, mgmt0 first as
//! our kernel expects, the Linux guest too so the command lines stay identical); only the
//! guest differs. `run.sh` measures with its own generator (`pbgen`, 64 B, 16 flows, pinned):
//! the unpaced forwarding rate and the RFC 2544 zero-loss rate by binary search. The table
//! (medians, ratios ours / Linux) is printed and written to `target/bench/switch-peer.csv`.
//! `run.sh` needs root (large socket buffers; apt on its first run, which builds the guest).

use crate::{BuildOptions, build, workspace_root};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// The QEMU arguments placed before the two measured NICs: our kernel's mgmt0.
const PRE_NIC_ARGS: &str = "-netdev user,id=m,restrict=on -device virtio-net-device,netdev=m";

/// One guest configuration.
#[derive(Clone, Copy, PartialEq)]
enum Guest {
    Switch,
    CrossConnect,
    LinuxBridge,
    LinuxXdp,
}

impl Guest {
    const ALL: [Guest; 4] = [
        Guest::Switch,
        Guest::CrossConnect,
        Guest::LinuxBridge,
        Guest::LinuxXdp,
    ];

    fn label(self) -> &'static str {
        match self {
            Guest::Switch => "dpu switch",
            Guest::CrossConnect => "dpu cross-connect",
            Guest::LinuxBridge => "linux bridge",
            Guest::LinuxXdp => "linux xdp redirect",
        }
    }
}

/// Settings of a peer run.
pub struct PeerSettings {
    pub reps: usize,
    /// Seconds of each binary-search trial.
    pub search_seconds: f64,
    /// Binary-search trials.
    pub iterations: usize,
    /// Seconds of the unpaced trial.
    pub unpaced_seconds: f64,
    pub frame: usize,
}

/// One run's two figures.
#[derive(Clone, Copy)]
struct Rates {
    zero_loss: f64,
    unpaced: f64,
}

fn tool() -> PathBuf {
    std::env::var_os("PEER_BENCH").map_or_else(
        || {
            workspace_root()
                .join("..")
                .join("shared")
                .join("tools")
                .join("peer-bench")
        },
        PathBuf::from,
    )
}

/// Runs the comparison and prints the table.
pub fn run(options: &BuildOptions, settings: &PeerSettings) -> Result<()> {
    let script = tool().join("run.sh");
    if !script.exists() {
        bail!(
            "bench switch --peer: {} not found (set PEER_BENCH to the peer-bench directory)",
            script.display()
        );
    }
    crate::install::ensure_qemu()?;
    let artifacts = build::build_kernel(options)?;
    let mut results: Vec<(Guest, Rates)> = Vec::new();
    for rep in 0..settings.reps.max(1) {
        for guest in Guest::ALL {
            println!("[{}/{}] {}", rep + 1, settings.reps.max(1), guest.label());
            let rates = run_one(&script, &artifacts.image, guest, settings)?;
            println!(
                "  zero-loss {:>8.0} pps, unpaced {:>8.0} pps",
                rates.zero_loss, rates.unpaced
            );
            results.push((guest, rates));
        }
    }
    report(&results, settings)
}

fn run_one(
    script: &std::path::Path,
    image: &std::path::Path,
    guest: Guest,
    settings: &PeerSettings,
) -> Result<Rates> {
    let mut command = Command::new("bash");
    command
        .arg(script)
        .env("FRAME_SIZE", settings.frame.to_string())
        .env("DURATION", format!("{}", settings.unpaced_seconds))
        .env("SEARCH_DURATION", format!("{}", settings.search_seconds))
        .env("ITERS", settings.iterations.to_string())
        .env("RATE", "0")
        .env("CALIB", "0")
        .env("MMIO_MODERN", "1")
        .env("CPU", "cortex-a72")
        .env("PRE_NIC_ARGS", PRE_NIC_ARGS);
    match guest {
        Guest::Switch | Guest::CrossConnect => {
            let append = if guest == Guest::CrossConnect {
                "switch.crossconnect=1"
            } else {
                ""
            };
            command
                .env("MODE", "baremetal")
                .env("GUEST_KERNEL", image)
                .env("GUEST_INITRD", "none")
                .env("GUEST_APPEND", append)
                .env("GUEST_STATS", "0")
                .env("READY_RE", "dpu> ");
        }
        Guest::LinuxBridge => {
            command.env("MODE", "bridge");
        }
        Guest::LinuxXdp => {
            command.env("MODE", "xdp");
        }
    }
    let output = command
        .output()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let value = |key: &str| -> Option<f64> {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|value| value.trim().parse().ok())
    };
    match (value("zero_loss_pps"), value("max_fwd_pps")) {
        (Some(zero_loss), Some(unpaced)) if output.status.success() => {
            Ok(Rates { zero_loss, unpaced })
        }
        _ => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            for line in tail.iter().rev() {
                eprintln!("  run.sh: {line}");
            }
            bail!(
                "bench switch --peer: {} gave no zero_loss_pps/max_fwd_pps ({})",
                guest.label(),
                output.status
            )
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn report(results: &[(Guest, Rates)], settings: &PeerSettings) -> Result<()> {
    let rmem_default = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let medians = |guest: Guest| -> Rates {
        let pick = |f: fn(&Rates) -> f64| {
            median(
                results
                    .iter()
                    .filter(|(g, _)| *g == guest)
                    .map(|(_, r)| f(r))
                    .collect(),
            )
        };
        Rates {
            zero_loss: pick(|r| r.zero_loss),
            unpaced: pick(|r| r.unpaced),
        }
    };
    let ours = medians(Guest::Switch);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    println!();
    println!(
        "switch beside Linux ({} B, peer-bench run.sh, same QEMU command line; medians of {} rep(s), {} s search trials x {}, {} s unpaced; net.core.rmem_default {})",
        settings.frame,
        settings.reps.max(1),
        settings.search_seconds,
        settings.iterations,
        settings.unpaced_seconds,
        rmem_default
    );
    println!(
        "{:<20} {:>14} {:>13} {:>17} {:>16}",
        "guest", "zero-loss pps", "unpaced pps", "ours/it zero-loss", "ours/it unpaced"
    );
    let mut csv = String::from(
        "guest,frame_bytes,zero_loss_pps,unpaced_pps,ours_over_it_zero_loss,ours_over_it_unpaced,reps,rmem_default\n",
    );
    for guest in Guest::ALL {
        let rates = medians(guest);
        let (zero, unpaced) = (
            ratio(ours.zero_loss, rates.zero_loss),
            ratio(ours.unpaced, rates.unpaced),
        );
        println!(
            "{:<20} {:>14.0} {:>13.0} {:>17.2} {:>16.2}",
            guest.label(),
            rates.zero_loss,
            rates.unpaced,
            zero,
            unpaced
        );
        writeln!(
            csv,
            "{},{},{:.0},{:.0},{:.3},{:.3},{},{}",
            guest.label(),
            settings.frame,
            rates.zero_loss,
            rates.unpaced,
            zero,
            unpaced,
            settings.reps.max(1),
            rmem_default
        )?;
    }
    let directory = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&directory)?;
    let path = directory.join("switch-peer.csv");
    std::fs::write(&path, csv)?;
    println!("wrote {}", path.display());
    Ok(())
}
