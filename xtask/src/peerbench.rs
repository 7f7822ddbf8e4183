//! `cargo xtask bench switch --peer`: ours and Linux on one QEMU command line.
//!
//! Runs `../shared/tools/peer-bench/matrix.sh` (path overridable with `PEER_BENCH`), which
//! boots each guest with the same QEMU flags, pinned, on UDP socket netdevs, and measures it
//! with its own generator: the Linux bridge, Linux XDP redirect, our switch and our
//! cross-connect mode, interleaved rep-major (`REPS`, default 3). From its result files this
//! prints medians and the medians of per-repetition ratios (ours / each), writes
//! `target/bench/switch-peer.csv`, `switch-peer-runs.csv` and `switch-peer.svg`. Nothing of
//! peer-bench is copied here: it is called.

use crate::switchbench::hostprofile::{self, Recording, Split};
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The management NIC our kernel expects first, given to every guest alike.
const PRE_NIC_ARGS: &str = "-netdev user,id=m,restrict=on -device virtio-net-device,netdev=m";
/// Our kernel's boot line once the switch runs (ERE; `.` for spaces: matrix.sh splits words).
const READY_RE: &str = "switch:.[0-9]+.data.port";

/// One configuration of the matrix.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Peer {
    Bridge,
    Xdp,
    OursCrossConnect,
    OursSwitch,
}

impl Peer {
    const ALL: [Peer; 4] = [
        Peer::Bridge,
        Peer::Xdp,
        Peer::OursSwitch,
        Peer::OursCrossConnect,
    ];

    fn name(self) -> &'static str {
        match self {
            Peer::Bridge => "linux-bridge",
            Peer::Xdp => "linux-xdp",
            Peer::OursSwitch => "ours-switch",
            Peer::OursCrossConnect => "ours-crossconnect",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Peer::Bridge => "Linux bridge",
            Peer::Xdp => "Linux XDP redirect",
            Peer::OursSwitch => "our switch",
            Peer::OursCrossConnect => "our cross-connect",
        }
    }

    /// Issue 8's target for ours / this, at 64 B zero loss.
    fn target(self) -> Option<f64> {
        match self {
            Peer::Bridge => Some(3.0),
            Peer::Xdp => Some(1.5),
            Peer::OursCrossConnect => Some(0.9),
            Peer::OursSwitch => None,
        }
    }

    fn from_name(name: &str) -> Option<Peer> {
        Peer::ALL.into_iter().find(|peer| peer.name() == name)
    }

    /// The matrix.sh `CONFIGS` line (`name|VAR=value ...`, no spaces inside a value).
    fn config_line(self, image: &Path) -> String {
        let ours = |append: &str| {
            format!(
                "MODE=baremetal GUEST_KERNEL={} GUEST_INITRD=none GUEST_APPEND={append} READY_RE={READY_RE} GUEST_STATS=0",
                image.display()
            )
        };
        let environment = match self {
            Peer::Bridge => "MODE=bridge".to_string(),
            Peer::Xdp => "MODE=xdp".to_string(),
            Peer::OursSwitch => ours(""),
            Peer::OursCrossConnect => ours("switch.crossconnect=1"),
        };
        format!("{}|{environment}", self.name())
    }
}

/// One result file: `key: value` lines.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Run {
    values: BTreeMap<String, String>,
}

impl Run {
    pub fn parse(text: &str) -> Run {
        let values = text
            .lines()
            .filter_map(|line| line.split_once(": "))
            .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
            .collect();
        Run { values }
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.values.get(key)?.parse().ok()
    }

    fn zero_loss(&self) -> Option<f64> {
        self.number("zero_loss_pps")
    }

    fn unpaced(&self) -> Option<f64> {
        self.number("max_fwd_pps")
    }

    /// (offered, delivered) of every trial: the search steps, the unpaced and fixed trials.
    fn points(&self) -> Vec<(f64, f64)> {
        let mut points: Vec<(f64, f64)> = self
            .values
            .iter()
            .filter(|(key, _)| key.starts_with("search_step_"))
            .filter_map(|(_, value)| {
                let field = |name: &str| -> Option<f64> {
                    value
                        .split_whitespace()
                        .find_map(|word| word.strip_prefix(name))?
                        .parse()
                        .ok()
                };
                Some((field("rate=")?, field("fwd=")?))
            })
            .collect();
        for prefix in ["max", "fixed"] {
            if let (Some(offered), Some(delivered)) = (
                self.number(&format!("{prefix}_tx_pps")),
                self.number(&format!("{prefix}_fwd_pps")),
            ) {
                points.push((offered, delivered));
            }
        }
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        points
    }
}

/// Results by configuration and repetition.
pub type Results = BTreeMap<Peer, BTreeMap<usize, Run>>;

/// Reads `<config>.<rep>.txt` files of a matrix.sh results directory.
pub fn read_results(directory: &Path) -> Result<Results> {
    let mut results = Results::new();
    for entry in std::fs::read_dir(directory)? {
        let path = entry?.path();
        let Some(file) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let Some(stem) = file.strip_suffix(".txt") else {
            continue;
        };
        let Some((name, rep)) = stem.rsplit_once('.') else {
            continue;
        };
        let (Some(peer), Ok(rep)) = (Peer::from_name(name), rep.parse::<usize>()) else {
            continue;
        };
        let text = std::fs::read_to_string(&path)?;
        results
            .entry(peer)
            .or_default()
            .insert(rep, Run::parse(&text));
    }
    Ok(results)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let middle = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    })
}

/// One row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub peer: Peer,
    pub reps: usize,
    pub zero_loss: Option<f64>,
    pub unpaced: Option<f64>,
    /// Median over repetitions of ours-switch / this (zero-loss; unpaced).
    pub ratio_zero_loss: Option<f64>,
    pub ratio_unpaced: Option<f64>,
}

/// Medians per configuration, and medians of the per-repetition ratios of our switch to it
/// (a repetition counts where both have a figure; a zero rate gives no ratio).
pub fn summarize(results: &Results) -> Vec<Row> {
    let empty = BTreeMap::new();
    let ours = results.get(&Peer::OursSwitch).unwrap_or(&empty);
    Peer::ALL
        .into_iter()
        .filter_map(|peer| {
            let runs = results.get(&peer)?;
            let ratio = |figure: fn(&Run) -> Option<f64>| {
                median(
                    runs.iter()
                        .filter_map(|(rep, run)| {
                            let theirs = figure(run).filter(|value| *value > 0.0)?;
                            Some(figure(ours.get(rep)?)? / theirs)
                        })
                        .collect(),
                )
            };
            Some(Row {
                peer,
                reps: runs.len(),
                zero_loss: median(runs.values().filter_map(Run::zero_loss).collect()),
                unpaced: median(runs.values().filter_map(Run::unpaced).collect()),
                ratio_zero_loss: ratio(Run::zero_loss),
                ratio_unpaced: ratio(Run::unpaced),
            })
        })
        .collect()
}

/// Where peer-bench is: `PEER_BENCH`, else `../shared/tools/peer-bench` beside the workspace.
fn location() -> PathBuf {
    std::env::var_os("PEER_BENCH")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/tools/peer-bench"))
}

/// Runs the matrix and reports it; `Ok(false)` when it was skipped (said why). With
/// `host_profile`, every guest's QEMU is sampled with `perf` from its readiness line to its end
/// (trials only, not the boot), and the split of its host time is printed per guest.
pub fn run(image: &Path, reps: usize, host_profile: bool) -> Result<bool> {
    let tool = location();
    let matrix = tool.join("matrix.sh");
    if !matrix.is_file() {
        println!(
            "peer-bench: not found at {} (set PEER_BENCH to its directory); the comparison with Linux is skipped",
            tool.display()
        );
        return Ok(false);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!(
            "peer-bench: needs root (apt for its guest, large socket buffers); the comparison with Linux is skipped"
        );
        return Ok(false);
    }
    let image = image
        .canonicalize()
        .with_context(|| format!("the kernel image {}", image.display()))?;
    if image.to_string_lossy().contains(char::is_whitespace) {
        bail!(
            "peer-bench: the kernel image path {} has a space (matrix.sh splits its words)",
            image.display()
        );
    }
    let directory = workspace_root().join("target").join("bench");
    let results = directory.join("peer-results");
    let _ = std::fs::remove_dir_all(&results);
    std::fs::create_dir_all(&results)?;
    let configs: Vec<String> = Peer::ALL
        .into_iter()
        .map(|peer| peer.config_line(&image))
        .collect();
    println!(
        "peer-bench: {} x {} rep(s) interleaved, 64 B, the same QEMU command line for each (cortex-a72, virtio-mmio 2, mgmt NIC first, UDP socket netdevs); results in {}",
        configs.len(),
        reps,
        results.display()
    );
    let mut command = Command::new("bash");
    command
        .arg(&matrix)
        .env("REPS", reps.to_string())
        .env("RESULTS", &results)
        .env("CONFIGS", configs.join("\n"))
        .env("PRE_NIC_ARGS", PRE_NIC_ARGS)
        .env("MMIO_MODERN", "1")
        .env("FRAME_SIZE", "64");
    // The same CPU for every guest; ours needs a modern virtio-mmio and its management NIC.
    for (variable, default) in [("CPU", "cortex-a72"), ("PORT_BASE", "24000")] {
        command.env(
            variable,
            std::env::var(variable).unwrap_or_else(|_| default.into()),
        );
    }
    if host_profile {
        // Named threads tell the vCPU from the main loop; run.sh appends these words.
        let mut extra = std::env::var("EXTRA_QEMU_ARGS").unwrap_or_default();
        extra.push(' ');
        extra.push_str(&hostprofile::QEMU_ARGUMENTS.join(" "));
        command.env("EXTRA_QEMU_ARGS", extra.trim());
    }
    // matrix.sh says which configuration and repetition runs on stderr.
    command.stderr(Stdio::inherit()).stdout(Stdio::piped());
    let mut child = command
        .spawn()
        .with_context(|| format!("running {}", matrix.display()))?;
    let mut stdout = child.stdout.take().context("matrix.sh's output")?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let mut profiles = ProfileWatch::default();
    while child.try_wait()?.is_none() {
        if host_profile {
            profiles.look(&directory)?;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let splits = profiles.finish();
    let output = reader.join().unwrap_or_default();
    std::fs::write(results.join("summary.txt"), &output)?;
    let summary = summarize(&read_results(&results)?);
    if summary.is_empty() {
        bail!(
            "peer-bench produced no results (its logs: {}/*.log)",
            results.display()
        );
    }
    report(&summary, &read_results(&results)?, &directory)?;
    if host_profile {
        report_host_profile(&splits, &directory)?;
    }
    Ok(true)
}

/// The QEMUs of peer-bench being sampled, and the splits of those that ended.
#[derive(Default)]
struct ProfileWatch {
    /// QEMU pids seen (each is sampled once).
    seen: Vec<u32>,
    /// Sampled now: pid, guest, recording.
    running: Vec<(u32, Peer, Recording)>,
    /// Waiting for their guest's readiness line: pid, guest, console log.
    booting: Vec<(u32, Peer, PathBuf)>,
    ended: Vec<(Peer, Split)>,
}

impl ProfileWatch {
    /// Finds new peer-bench QEMUs, starts sampling those whose guest is ready, and finishes
    /// the recordings of those that exited.
    fn look(&mut self, directory: &Path) -> Result<()> {
        for (pid, command_line) in peer_bench_qemus() {
            if self.seen.contains(&pid) {
                continue;
            }
            self.seen.push(pid);
            if let Some((peer, console)) = classify(&command_line) {
                self.booting.push((pid, peer, console));
            }
        }
        let mut index = 0;
        while index < self.booting.len() {
            let (pid, _, console) = &self.booting[index];
            let alive = Path::new(&format!("/proc/{pid}")).exists();
            // Not UTF-8 throughout: our kernel's log frames are binary (defmt).
            let text =
                String::from_utf8_lossy(&std::fs::read(console).unwrap_or_default()).into_owned();
            if alive && !is_ready(&text) {
                index += 1;
                continue;
            }
            let (pid, peer, _) = self.booting.remove(index);
            if alive {
                let path = directory.join(format!("perf-peer-{}-{pid}.data", peer.name()));
                self.running
                    .push((pid, peer, Recording::start(pid, &path)?));
            }
        }
        let mut index = 0;
        while index < self.running.len() {
            let pid = self.running[index].0;
            if Path::new(&format!("/proc/{pid}")).exists() {
                index += 1;
                continue;
            }
            let (_, peer, recording) = self.running.remove(index);
            match recording.finish() {
                Ok(split) => self.ended.push((peer, split)),
                Err(error) => {
                    eprintln!("peer-bench: no host profile of {}: {error:#}", peer.name())
                }
            }
        }
        Ok(())
    }

    /// The splits, after the recordings still running are stopped.
    fn finish(mut self) -> Vec<(Peer, Split)> {
        for (_, peer, recording) in self.running.drain(..) {
            if let Ok(split) = recording.finish() {
                self.ended.push((peer, split));
            }
        }
        self.ended
    }
}

/// Whether a guest's console shows its readiness line: peer-bench's Linux guest prints
/// `BRIDGE READY` or `XDP READY`, ours the switch's boot line.
fn is_ready(console: &str) -> bool {
    console.contains(" READY") || console.contains("data port(s)")
}

/// Running QEMUs started by peer-bench's run.sh with named threads: pid and command line.
fn peer_bench_qemus() -> Vec<(u32, String)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let words: Vec<String> = raw
                .split(|&byte| byte == 0)
                .map(|word| String::from_utf8_lossy(word).into_owned())
                .collect();
            // QEMU itself, not the timeout and taskset wrappers in front of it.
            let program = words.first()?;
            (program.ends_with("qemu-system-aarch64")
                && words.iter().any(|word| word.contains("debug-threads=on")))
            .then(|| (pid, words.join(" ")))
        })
        .collect()
}

/// Which guest a peer-bench QEMU runs, and its console log, from its command line: run.sh
/// names its run directory `<MODE>-...` and puts the console pipe in it.
fn classify(command_line: &str) -> Option<(Peer, PathBuf)> {
    let pipe = command_line
        .split_whitespace()
        .find_map(|word| word.split(',').find_map(|part| part.strip_prefix("path=")))?;
    let run = Path::new(pipe).parent()?;
    let name = run.file_name()?.to_str()?;
    let peer = if name.starts_with("bridge-") {
        Peer::Bridge
    } else if name.starts_with("xdp-") {
        Peer::Xdp
    } else if name.starts_with("baremetal-") {
        if command_line.contains("switch.crossconnect=1") {
            Peer::OursCrossConnect
        } else {
            Peer::OursSwitch
        }
    } else {
        return None;
    };
    Some((peer, run.join("console.log")))
}

/// Medians of each guest's host-time split, and the CSV.
fn report_host_profile(splits: &[(Peer, Split)], directory: &Path) -> Result<()> {
    println!();
    println!(
        "where each guest's QEMU spends its host time, from its readiness line to its end (perf record -F 997; percent of QEMU's samples; medians)"
    );
    println!("{}", hostprofile::table_header("guest", 20));
    let mut csv = hostprofile::csv_header("guest") + "\n";
    for peer in Peer::ALL {
        let chosen: Vec<&Split> = splits
            .iter()
            .filter(|(each, _)| *each == peer)
            .map(|(_, split)| split)
            .collect();
        let Some(split) = Split::median(&chosen) else {
            continue;
        };
        println!("{}", split.row(peer.label(), 20, chosen.len()));
        writeln!(csv, "{}", split.csv_row(peer.name(), chosen.len()))?;
    }
    let path = directory.join("switch-peer-host-profile.csv");
    std::fs::write(&path, csv)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn figure(value: Option<f64>, decimals: usize) -> String {
    value.map_or("-".into(), |value| format!("{value:.decimals$}"))
}

/// The table, CSVs and SVG.
fn report(summary: &[Row], results: &Results, directory: &Path) -> Result<()> {
    let rmem = results
        .values()
        .flat_map(|runs| runs.values())
        .find_map(|run| run.values.get("host_rmem_default").cloned())
        .unwrap_or_else(|| "unknown".into());
    println!();
    println!(
        "side by side on peer-bench's QEMU command line (64 B; medians; ratios are medians of per-repetition ratios; net.core.rmem_default {rmem})"
    );
    println!(
        "{:<20} {:>4} {:>10} {:>10} {:>12} {:>12} {:>7}",
        "guest", "reps", "zero-loss", "unpaced", "ours/it-0L", "ours/it-max", "target"
    );
    let mut csv = String::from(
        "guest,reps,zero_loss_pps,unpaced_fwd_pps,ours_over_it_zero_loss,ours_over_it_unpaced,target,rmem_default\n",
    );
    for row in summary {
        let target = row.peer.target().map(|t| format!(">= {t}"));
        println!(
            "{:<20} {:>4} {:>10} {:>10} {:>12} {:>12} {:>7}",
            row.peer.label(),
            row.reps,
            figure(row.zero_loss, 0),
            figure(row.unpaced, 0),
            figure(row.ratio_zero_loss, 2),
            figure(row.ratio_unpaced, 2),
            target.as_deref().unwrap_or("-")
        );
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            row.peer.name(),
            row.reps,
            figure(row.zero_loss, 0),
            figure(row.unpaced, 0),
            figure(row.ratio_zero_loss, 3),
            figure(row.ratio_unpaced, 3),
            row.peer.target().map_or(String::new(), |t| t.to_string()),
            rmem
        )?;
    }
    let mut runs = String::from("guest,rep,zero_loss_pps,unpaced_fwd_pps,boot_to_ready_s\n");
    for (peer, by_rep) in results {
        for (rep, run) in by_rep {
            writeln!(
                runs,
                "{},{},{},{},{}",
                peer.name(),
                rep,
                figure(run.zero_loss(), 0),
                figure(run.unpaced(), 0),
                run.values.get("boot_to_ready_s").map_or("", String::as_str)
            )?;
        }
    }
    let table = directory.join("switch-peer.csv");
    let per_run = directory.join("switch-peer-runs.csv");
    let plot = directory.join("switch-peer.svg");
    std::fs::write(&table, csv)?;
    std::fs::write(&per_run, runs)?;
    std::fs::write(&plot, svg(results, &rmem))?;
    println!(
        "wrote {}, {} and {}",
        table.display(),
        per_run.display(),
        plot.display()
    );
    Ok(())
}

/// Delivered against offered rate for every guest and repetition (one panel, 64 B).
fn svg(results: &Results, rmem: &str) -> String {
    const PANEL: f64 = 480.0;
    const MARGIN: f64 = 60.0;
    let colors = ["#d62728", "#9467bd", "#1f77b4", "#2ca02c"];
    let maximum = results
        .values()
        .flat_map(|runs| runs.values())
        .flat_map(Run::points)
        .map(|(x, y)| x.max(y))
        .fold(1.0f64, f64::max)
        * 1.05;
    let (x0, y0) = (MARGIN, MARGIN + PANEL);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">",
        PANEL + 2.0 * MARGIN + 180.0,
        PANEL + 2.0 * MARGIN
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{MARGIN}\" y=\"20\" font-size=\"14\">peer-bench, 64 B: delivered vs offered frames/s, same QEMU command line (net.core.rmem_default {rmem})</text>"
    );
    let _ = writeln!(
        out,
        "<rect x=\"{x0}\" y=\"{MARGIN}\" width=\"{PANEL}\" height=\"{PANEL}\" fill=\"none\" stroke=\"black\"/><line x1=\"{x0}\" y1=\"{y0}\" x2=\"{}\" y2=\"{MARGIN}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>",
        x0 + PANEL
    );
    for step in 0..=4 {
        let value = maximum * f64::from(step) / 4.0;
        let offset = PANEL * f64::from(step) / 4.0;
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0}k</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0}k</text>",
            x0 + offset,
            y0 + 16.0,
            value / 1000.0,
            x0 - 4.0,
            y0 - offset + 4.0,
            value / 1000.0
        );
    }
    for (index, peer) in Peer::ALL.into_iter().enumerate() {
        let color = colors[index % colors.len()];
        for run in results
            .get(&peer)
            .into_iter()
            .flat_map(|runs| runs.values())
        {
            let line: Vec<String> = run
                .points()
                .into_iter()
                .map(|(x, y)| {
                    format!(
                        "{:.1},{:.1}",
                        x0 + x / maximum * PANEL,
                        y0 - y / maximum * PANEL
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.2\"/>",
                line.join(" ")
            );
        }
        let ly = MARGIN + 20.0 + 20.0 * index as f64;
        let lx = x0 + PANEL + 15.0;
        let _ = writeln!(
            out,
            "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{ly}\">{}</text>",
            ly - 10.0,
            lx + 16.0,
            peer.label()
        );
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(zero_loss: f64, unpaced: f64) -> Run {
        Run::parse(&format!(
            "mode: x\nzero_loss_pps: {zero_loss}\nmax_tx_pps: 90000\nmax_fwd_pps: {unpaced}\nsearch_step_1: rate=30000 fwd=29000 loss_pct=0.1\n"
        ))
    }

    #[test]
    fn result_files_parse() {
        let parsed = run(48000.0, 60000.0);
        assert_eq!(parsed.zero_loss(), Some(48000.0));
        assert_eq!(parsed.unpaced(), Some(60000.0));
        assert_eq!(
            parsed.points(),
            vec![(30000.0, 29000.0), (90000.0, 60000.0)]
        );
        assert_eq!(Run::parse("ready: 0\n").zero_loss(), None);
    }

    #[test]
    fn ratios_are_medians_of_per_repetition_ratios() {
        let mut results = Results::new();
        for (rep, (ours, bridge)) in [(100.0, 50.0), (90.0, 30.0), (80.0, 40.0)]
            .into_iter()
            .enumerate()
        {
            results
                .entry(Peer::OursSwitch)
                .or_default()
                .insert(rep + 1, run(ours, ours));
            results
                .entry(Peer::Bridge)
                .or_default()
                .insert(rep + 1, run(bridge, bridge));
        }
        // A repetition our switch lacks gives no ratio; a zero rate neither.
        results
            .entry(Peer::Bridge)
            .or_default()
            .insert(4, run(10.0, 10.0));
        results
            .entry(Peer::Xdp)
            .or_default()
            .insert(1, run(0.0, 50.0));
        let summary = summarize(&results);
        let bridge = summary.iter().find(|row| row.peer == Peer::Bridge).unwrap();
        assert_eq!(bridge.reps, 4);
        // Per rep: 2.0, 3.0, 2.0 -> median 2.0 (not 90 / 35 from the medians).
        assert_eq!(bridge.ratio_zero_loss, Some(2.0));
        assert_eq!(bridge.zero_loss, Some(35.0));
        let xdp = summary.iter().find(|row| row.peer == Peer::Xdp).unwrap();
        assert_eq!(xdp.ratio_zero_loss, None);
        assert_eq!(xdp.ratio_unpaced, Some(2.0));
        let ours = summary
            .iter()
            .find(|row| row.peer == Peer::OursSwitch)
            .unwrap();
        assert_eq!(ours.ratio_zero_loss, Some(1.0));
    }

    #[test]
    fn a_peer_bench_qemu_is_told_by_its_run_directory() {
        let linux = "qemu-system-aarch64 -M virt -chardev pipe,id=con,path=/tmp/peer-bench/run/bridge-mmio-smp1-64-812/con -serial chardev:con -name peer-bench,debug-threads=on";
        assert_eq!(
            classify(linux),
            Some((
                Peer::Bridge,
                PathBuf::from("/tmp/peer-bench/run/bridge-mmio-smp1-64-812/console.log")
            ))
        );
        let xdp = linux.replace("/bridge-", "/xdp-");
        assert_eq!(classify(&xdp).map(|(peer, _)| peer), Some(Peer::Xdp));
        let ours = linux.replace("/bridge-", "/baremetal-") + " -append switch.crossconnect=1";
        assert_eq!(
            classify(&ours).map(|(peer, _)| peer),
            Some(Peer::OursCrossConnect)
        );
        let switch = linux.replace("/bridge-", "/baremetal-");
        assert_eq!(
            classify(&switch).map(|(peer, _)| peer),
            Some(Peer::OursSwitch)
        );
        assert_eq!(classify("qemu-system-aarch64 -M virt"), None);
        assert!(is_ready("[ 3.1] BRIDGE READY\n"));
        assert!(is_ready("switch: 2 data port(s), default learning switch"));
        assert!(!is_ready("Booting Linux"));
    }

    #[test]
    fn config_lines_have_no_spaces_inside_values() {
        for peer in Peer::ALL {
            let line = peer.config_line(Path::new("/x/Image"));
            let (name, environment) = line.split_once('|').unwrap();
            assert_eq!(Peer::from_name(name), Some(peer));
            for word in environment.split_whitespace() {
                assert!(word.contains('='), "{line}: '{word}' is not VAR=value");
            }
        }
        assert!(
            Peer::OursCrossConnect
                .config_line(Path::new("/x/Image"))
                .contains("GUEST_APPEND=switch.crossconnect=1 ")
        );
    }
}
