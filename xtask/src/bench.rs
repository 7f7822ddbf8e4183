//! `cargo xtask bench`: figures measured on this machine.

use crate::qemu::{self, Machine};
use crate::session::Session;
use crate::{BuildOptions, build};
use anyhow::{Result, bail};
use std::time::Duration;

/// `cargo xtask bench boot|rollback|net|switch|http ...`.
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
        "boot" if arguments.iter().any(|a| a == "--dpuboot") => {
            crate::bootbench::bench_dpuboot(options, runs)
        }
        "boot" => bench_boot(options, runs),
        "rollback" => crate::bootbench::bench_rollback(options, runs),
        "net" => bench_net(options),
        "switch" => crate::switchbench::bench(options, &arguments[1..]),
        "http" => crate::httpbench::bench(options, &arguments[1..]),
        "pair" => crate::pairtests::bench(options, runs, &arguments[1..]),
        other => {
            bail!("unknown bench '{other}' (available: boot, rollback, net, switch, http, pair)")
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

fn bench_boot(options: &BuildOptions, runs: usize) -> Result<()> {
    crate::install::ensure_qemu()?;
    let artifacts = build::build_kernel(options)?;
    build::print_sizes(&artifacts)?;
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        let mut session = Session::start(&Machine::default(), &artifacts.image, &artifacts.elf)?;
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
    let minimum = times.iter().copied().fold(f64::MAX, f64::min);
    let maximum = times.iter().copied().fold(f64::MIN, f64::max);
    let middle = median(&mut times);
    println!(
        "boot (QEMU start to 'dpu> ', direct -kernel, {} runs): median {middle:.1} ms, min {minimum:.1} ms, max {maximum:.1} ms",
        times.len()
    );
    Ok(())
}

/// Reads port1's received-packet count from `ifconfig`.
fn port1_received(session: &mut Session) -> Result<f64> {
    session.send_bytes(b"ifconfig\r")?;
    session.expect("port1 ", Duration::from_secs(10))?;
    session.expect_number("rx ", Duration::from_secs(10))
}

/// `cargo xtask bench net`: ping RTT through tap, TCP into the management stack, receive rate.
fn bench_net(options: &BuildOptions) -> Result<()> {
    if let Some(reason) = crate::netns::unavailable_reason() {
        bail!("bench net {reason}");
    }
    crate::install::ensure_qemu()?;
    let artifacts = build::build_kernel(options)?;
    let taps = [
        ("tap0".to_string(), "10.9.0.1/24".to_string()),
        ("tap1".to_string(), "10.9.1.1/24".to_string()),
    ];
    let namespace = crate::netns::Namespace::create(&taps, &[])?;
    let mut arguments = qemu::arguments(&Machine::default(), &artifacts.image, "test.args")?;
    for argument in [
        "-append",
        "mgmt.ip=10.9.0.2/24",
        "-netdev",
        "tap,id=mgmt,ifname=tap0,script=no,downscript=no",
        "-device",
        "virtio-net-device,netdev=mgmt",
        "-netdev",
        "tap,id=data1,ifname=tap1,script=no,downscript=no",
        "-device",
        "virtio-net-device,netdev=data1",
    ] {
        arguments.push(argument.to_string());
    }
    let mut session =
        Session::start_arguments_in(Some(&namespace.name), &arguments, &artifacts.elf)?;
    session.expect("dpu> ", Duration::from_secs(20))?;
    let (ok, _) = namespace.run("ping -c 3 -i 0.2 -W 2 10.9.0.2")?;
    if !ok {
        bail!("the guest does not answer ping on tap0");
    }

    // 1. Ping round trip: 500 echo requests, 5 ms apart.
    let (_, output) = namespace.run("ping -c 500 -i 0.005 -W 1 10.9.0.2")?;
    let pattern = regex::Regex::new(r"time=([0-9.]+) ms")?;
    let mut rtts: Vec<f64> = pattern
        .captures_iter(&output)
        .filter_map(|c| c[1].parse().ok())
        .collect();
    rtts.sort_by(|a, b| a.total_cmp(b));
    if rtts.is_empty() {
        bail!("no ping replies: {output}");
    }
    let median_rtt = rtts[rtts.len() / 2];
    let p99 = rtts[(rtts.len() * 99 / 100).min(rtts.len() - 1)];
    println!(
        "ping RTT host -> mgmt0 over tap ({} replies of 500): median {median_rtt:.3} ms, p99 {p99:.3} ms",
        rtts.len()
    );

    // 2. TCP into the management stack: HTTP POSTs of 16000 bytes on one connection.
    let (ok, output) = namespace.run("python3 qemu/scripts/frames.py post 10.9.0.2 16000 300")?;
    if !ok {
        bail!("TCP throughput run failed: {output}");
    }
    println!(
        "TCP host -> management stack (HTTP POST bodies, 16000 B x 300): {}",
        output.trim()
    );

    // 3. Receive rate one data port absorbs: paced bursts of one second, then flat out.
    println!("receive rate on port1 (frames delivered to the guest / frames sent):");
    for rate in [1000u32, 5000, 10_000, 20_000, 50_000, 0] {
        let count = if rate == 0 { 50_000 } else { rate };
        let before = port1_received(&mut session)?;
        let (ok, output) = namespace.run(&format!(
            "python3 qemu/scripts/frames.py blast tap1 {count} {rate}"
        ))?;
        if !ok {
            bail!("frame generator failed: {output}");
        }
        // Let the guest drain what QEMU queued, then read the counter until it stops moving.
        let mut after = port1_received(&mut session)?;
        loop {
            let again = port1_received(&mut session)?;
            if again == after {
                break;
            }
            after = again;
        }
        let delivered = after - before;
        let label = if rate == 0 {
            "flat out".to_string()
        } else {
            format!("{rate} frames/s")
        };
        println!(
            "  {label:>16}: {delivered:.0} / {count} delivered ({:.1}%); generator: {}",
            delivered * 100.0 / f64::from(count),
            output.trim()
        );
    }
    session.send_bytes(b"poweroff\r")?;
    let _ = session.wait_exit(Duration::from_secs(10));
    Ok(())
}
