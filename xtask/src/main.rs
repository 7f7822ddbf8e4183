//! `cargo xtask`: build, run, test and benchmark the DPU firmware.
//!
//! Subcommands: `build`, `run`, `test`, `bench`. Run `cargo xtask help` for options.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a host tool: failing loudly is fine"
)]

mod apitests;
mod bench;
mod bootbench;
mod build;
mod flashtests;
mod hold;
mod httpbench;
mod image;
mod install;
mod netns;
mod pair;
mod pairtests;
mod peerbench;
mod qemu;
mod report;
mod run;
mod script;
mod serial;
mod session;
mod switchbench;
mod tests;
mod toolchain;
mod update;

use anyhow::{Result, bail};
use std::path::PathBuf;

const USAGE: &str = "\
cargo xtask <command> [options]

commands:
  build [--debug] [--log LEVEL]     build the kernel: target/dpu/Image (booti) + dpu-runtime.elf
  run [options]                     build, then boot under QEMU with the console on this terminal
      --el2                         enter at EL2 (virtualization=on); the kernel drops to EL1
      --gicv3                       GICv3 instead of GICv2
      --memory SIZE                 guest RAM (default 256M)
      --cpus N                      cores (secondaries stay parked)
      --cpu MODEL                   cortex-a53 | cortex-a72 (default) | max
      --gdb                         wait for gdb-multiarch on a TCP port and print how to attach
      --direct                      boot the Image with -kernel instead of through dpuboot
  test [--host-only] [FILTER]       host unit tests, then every in-QEMU test (qemu/tests/*.test)
  bench boot [--runs N]             QEMU start to the dpu> prompt, median of N runs (default 10)
  bench boot --dpuboot [--runs N]   the same through dpuboot (window 0); verification time, size
  bench switch [--reps N] [--trial-seconds S] [--iterations N]
                                    switch forwarding rates (RFC 2544 zero-loss, unpaced) vs the
                                    kernel's cross-connect mode; table, CSV and SVG in target/bench
               [--instructions | --no-instructions] [--netdev B] [--host-profile]
               [--peer | --peer-matrix | --peer-matrix-only] [--peer-reps N]
                                    guest instructions per frame (PMU, -icount); where QEMU's host
                                    time goes (perf); beside Linux (root; docs/switch.md)
  bench pair [--runs N] [--trigger T]
                                    (root) failovers of the two-DPU pair per trigger (manual,
                                    panic, hang, cable) under a 10 ms ping: lost pings, median, max
  bench rollback [--runs N]         a trial panicking in its health window (field reset, one try)
                                    to the committed bank's prompt, median of N runs
  image [--version X.Y.Z+B] [--security-counter N] [--key PEM] [--production] [--reset]
                                    sign the kernel, write target/dpu/flash0.img (dpuboot) and
                                    flash1.img (bank A; kept if present, --reset re-provisions)
  pair                              (root) two DPUs and the server around them in network
                                    namespaces, consoles on unix sockets, until Ctrl-C
                                    (docs/ha-pair.md)
  flash --serial [--version V] [--security-counter N] [--key PEM]
                                    push the signed kernel to the DPU in flash1.img over its
                                    console (`update`); the next `run` boots it as a trial

options for build/run/test: --debug builds the debug profile; --log LEVEL sets the compiled-in
defmt level (trace, debug, info, warn, error; default info).";

/// Build settings shared by every subcommand.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Release (default) or debug profile.
    pub release: bool,
    /// defmt level compiled in.
    pub log_level: String,
}

/// Walks a subcommand's `--flag [value]` words in order.
pub struct OptionWalker<'a> {
    words: std::slice::Iter<'a, String>,
}

impl<'a> OptionWalker<'a> {
    /// Walks `words`.
    pub fn new(words: &'a [String]) -> Self {
        Self {
            words: words.iter(),
        }
    }

    /// The next option word, if any.
    pub fn next_option(&mut self) -> Option<&'a str> {
        self.words.next().map(String::as_str)
    }

    /// The value that follows `flag`, or an error naming the flag.
    pub fn value(&mut self, flag: &str) -> Result<String> {
        self.words
            .next()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
    }
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

fn main() {
    if let Err(error) = real_main() {
        eprintln!("xtask: error: {error:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut arguments: Vec<String> = std::env::args().skip(1).collect();
    let mut build = BuildOptions {
        release: true,
        log_level: "info".into(),
    };
    if let Some(position) = arguments.iter().position(|a| a == "--debug") {
        arguments.remove(position);
        build.release = false;
    }
    if let Some(position) = arguments.iter().position(|a| a == "--log") {
        arguments.remove(position);
        if position >= arguments.len() {
            bail!("--log needs a level");
        }
        build.log_level = arguments.remove(position);
    }
    let Some(command) = arguments.first().cloned() else {
        println!("{USAGE}");
        return Ok(());
    };
    let rest = &arguments[1..];
    match command.as_str() {
        "build" => {
            let artifacts = build::build_kernel(&build)?;
            build::print_sizes(&artifacts)?;
            Ok(())
        }
        "run" => run::run(&build, rest),
        "test" => tests::test(&build, rest),
        "bench" => bench::bench(&build, rest),
        "image" => image::command(&build, rest),
        "flash" => update::command(&build, rest),
        "pair" => pair::command(&build, rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command '{other}'\n\n{USAGE}"),
    }
}
