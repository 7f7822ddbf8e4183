//! `bench switch --host-profile`: where QEMU's host CPU time goes while it forwards frames.
//!
//! Guest instructions per frame (the PMU count) matter only as far as running the guest's code
//! is what costs QEMU its host time. This samples the QEMU process with `perf record` during
//! the unpaced 64 B trial and splits the samples by thread and by where they ran: on the vCPU
//! thread (named `CPU 0/TCG` with `-name ...,debug-threads=on`), the guest's translated code
//! (`[JIT]`), QEMU's own code (TCG helpers, MMIO exits, virtqueue notifies) and the host kernel;
//! on QEMU's main loop thread (the socket netdevs and virtio-net's device side), the host
//! kernel (UDP send and receive on loopback, poll) and QEMU with its libraries.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sampling frequency (Hz): odd, so it does not beat with the guest's 100 Hz tick.
const FREQUENCY: u32 = 997;

/// QEMU arguments that name its threads, so samples can be told apart by thread.
pub const QEMU_ARGUMENTS: [&str; 2] = ["-name", "dpu-bench,debug-threads=on"];

/// A running `perf record` on one process.
pub struct Recording {
    child: Child,
    path: PathBuf,
    started: Instant,
}

/// Shares of QEMU's sampled host time (percent of its samples) and how busy it was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    /// vCPU thread: the guest's translated code.
    pub guest_code: f64,
    /// vCPU thread: QEMU's code and libraries (TCG helpers, MMIO, notifies).
    pub vcpu_qemu: f64,
    /// vCPU thread: the host kernel (wakeups, eventfds, timers).
    pub vcpu_kernel: f64,
    /// Other threads: the host kernel (socket sends and receives, poll).
    pub io_kernel: f64,
    /// Other threads: QEMU and its libraries (netdev, virtio-net device side, main loop).
    pub io_qemu: f64,
    /// Samples over the recording's length at [`FREQUENCY`]: host CPUs kept busy.
    pub cpus: f64,
}

/// The table's header after a guest column `width` wide.
pub fn table_header(guest: &str, width: usize) -> String {
    format!(
        "{guest:<width$} {:>4} {:>6} {:>11} {:>10} {:>12} {:>11} {:>9}",
        "runs", "cpus", "guest-code", "vcpu-qemu", "vcpu-kernel", "io-kernel", "io-qemu"
    )
}

/// The CSV header, after the guest's column name.
pub fn csv_header(guest: &str) -> String {
    format!(
        "{guest},runs,host_cpus,guest_code_pct,vcpu_qemu_pct,vcpu_kernel_pct,io_kernel_pct,io_qemu_pct"
    )
}

impl Split {
    /// Column by column, the median of `splits` (none for no splits).
    pub fn median(splits: &[&Split]) -> Option<Split> {
        if splits.is_empty() {
            return None;
        }
        let column = |value: fn(&Split) -> f64| {
            let mut values: Vec<f64> = splits.iter().map(|split| value(split)).collect();
            super::median(&mut values)
        };
        Some(Split {
            guest_code: column(|s| s.guest_code),
            vcpu_qemu: column(|s| s.vcpu_qemu),
            vcpu_kernel: column(|s| s.vcpu_kernel),
            io_kernel: column(|s| s.io_kernel),
            io_qemu: column(|s| s.io_qemu),
            cpus: column(|s| s.cpus),
        })
    }

    /// One table row: `guest` in a column `width` wide, the runs it is the median of, then
    /// the figures.
    pub fn row(&self, guest: &str, width: usize, runs: usize) -> String {
        let Split {
            guest_code: code,
            vcpu_qemu: vq,
            vcpu_kernel: vk,
            io_kernel: ik,
            io_qemu: iq,
            cpus,
        } = self;
        format!(
            "{guest:<width$} {runs:>4} {cpus:>6.2} {code:>10.1}% {vq:>9.1}% {vk:>11.1}% {ik:>10.1}% {iq:>8.1}%"
        )
    }

    /// One CSV row (no line end), in the table's order.
    pub fn csv_row(&self, guest: &str, runs: usize) -> String {
        let figures = [
            self.guest_code,
            self.vcpu_qemu,
            self.vcpu_kernel,
            self.io_kernel,
            self.io_qemu,
        ]
        .map(|percent| format!("{percent:.2}"));
        format!("{guest},{runs},{:.3},{}", self.cpus, figures.join(","))
    }
}

impl Recording {
    /// Starts sampling `pid` into `path`.
    pub fn start(pid: u32, path: &Path) -> Result<Self> {
        let child = Command::new("perf")
            .args(["record", "--quiet", "-F", &FREQUENCY.to_string(), "-p"])
            .arg(pid.to_string())
            .arg("-o")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting perf record")?;
        Ok(Self {
            child,
            path: path.to_path_buf(),
            started: Instant::now(),
        })
    }

    /// Stops sampling (SIGINT, so perf writes its file) and splits the samples.
    pub fn finish(mut self) -> Result<Split> {
        let seconds = self.started.elapsed().as_secs_f64();
        // SAFETY: kill only sends a signal to our own child's pid; it has no memory effects.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                bail!("perf record did not stop within 20 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let output = Command::new("perf")
            .args(["report", "--stdio", "-n", "--sort", "comm,dso"])
            .arg("--field-separator=;")
            .arg("-i")
            .arg(&self.path)
            .stderr(Stdio::null())
            .output()
            .context("running perf report")?;
        if !output.status.success() {
            bail!("perf report failed on {}", self.path.display());
        }
        parse_report(&String::from_utf8_lossy(&output.stdout), seconds)
    }
}

/// Splits `perf report --sort comm,dso -n --field-separator=;` output over `seconds`.
pub fn parse_report(report: &str, seconds: f64) -> Result<Split> {
    let mut split = Split::default();
    let mut samples = 0u64;
    for line in report.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        let [percent, count, thread, object] = fields[..] else {
            continue;
        };
        let (Some(percent), Ok(count)) = (
            percent
                .strip_suffix('%')
                .and_then(|p| p.parse::<f64>().ok()),
            count.parse::<u64>(),
        ) else {
            continue;
        };
        samples += count;
        let kernel = object.starts_with("[kernel");
        if thread.starts_with("CPU ") {
            if object.starts_with("[JIT]") {
                split.guest_code += percent;
            } else if kernel {
                split.vcpu_kernel += percent;
            } else {
                split.vcpu_qemu += percent;
            }
        } else if kernel {
            split.io_kernel += percent;
        } else {
            split.io_qemu += percent;
        }
    }
    if samples == 0 {
        bail!("perf recorded no samples of QEMU");
    }
    if split.guest_code == 0.0 && split.vcpu_qemu == 0.0 && split.vcpu_kernel == 0.0 {
        bail!("no samples on a vCPU thread: were QEMU's threads named (debug-threads=on)?");
    }
    split.cpus = samples as f64 / (seconds.max(0.001) * f64::from(FREQUENCY));
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_a_report_by_thread_and_object() {
        let report = "\
# comment
 45.48% ; 9015       ;qemu-system-aar;[kernel.kallsyms]
 15.78% ; 3128       ;CPU 0/TCG      ;[JIT] tid 8231
 12.07% ; 2392       ;CPU 0/TCG      ;qemu-system-aarch64
 10.87% ; 2155       ;CPU 0/TCG      ;[kernel.kallsyms]
 8.12%  ; 1609       ;qemu-system-aar;qemu-system-aarch64
 2.43%  ; 482        ;qemu-system-aar;libc.so.6
 1.26%  ; 250        ;CPU 0/TCG      ;libc.so.6

";
        let split = parse_report(report, 20.0).unwrap();
        assert!((split.guest_code - 15.78).abs() < 1e-9);
        assert!((split.vcpu_qemu - 13.33).abs() < 1e-9);
        assert!((split.vcpu_kernel - 10.87).abs() < 1e-9);
        assert!((split.io_kernel - 45.48).abs() < 1e-9);
        assert!((split.io_qemu - 10.55).abs() < 1e-9);
        // 19 031 samples over 20 s at 997 Hz.
        assert!((split.cpus - 19_031.0 / (20.0 * 997.0)).abs() < 1e-9);
    }

    #[test]
    fn medians_are_taken_column_by_column() {
        let split = |guest_code: f64, cpus: f64| Split {
            guest_code,
            cpus,
            ..Split::default()
        };
        let (a, b, c) = (split(10.0, 0.9), split(30.0, 0.5), split(20.0, 0.7));
        let median = Split::median(&[&a, &b, &c]).unwrap();
        assert_eq!((median.guest_code, median.cpus), (20.0, 0.7));
        // Of two, the upper (as the bench's other medians).
        let even = Split::median(&[&a, &b]).unwrap();
        assert_eq!((even.guest_code, even.cpus), (30.0, 0.9));
        assert_eq!(Split::median(&[]), None);
        assert_eq!(
            median.row("switch", 8, 3),
            "switch      3   0.70       20.0%       0.0%         0.0%        0.0%      0.0%"
        );
        assert_eq!(
            median.csv_row("switch", 3),
            "switch,3,0.700,20.00,0.00,0.00,0.00,0.00"
        );
    }

    #[test]
    fn refuses_a_report_without_samples_or_named_threads() {
        assert!(parse_report("# nothing\n", 2.0).is_err());
        let unnamed = " 100.00% ; 10 ;qemu-system-aar;[JIT] tid 5\n";
        assert!(parse_report(unnamed, 2.0).is_err());
    }
}
