//! The two-DPU tests (`pair-*` in `cargo xtask test`): each boots a fresh pair in namespaces of
//! its own (`crate::pair`), runs `dpuctl` and ping through it, and removes everything.
//!
//! Root only (namespaces, taps); skipped with the reason otherwise. Each test has a deadline;
//! waits poll for a state with a deadline, never a fixed sleep. The HA tests need the HA
//! firmware (`ha.alias`): on firmware without it they are skipped and say so. Roles come from
//! `GET /v1/ha` through `dpuctl` when the firmware serves it, else from the consoles' `ha`.

use crate::BuildOptions;
use crate::image::{self, SignOptions};
use crate::pair::{DpuSpec, Pair, Place, REMOTE_ADDRESS};
use crate::report::{self, Outcome};
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// One pair test.
struct PairTest {
    name: &'static str,
    title: &'static str,
    /// Needs the HA firmware.
    ha: bool,
    /// A known gap in the firmware that makes the test unable to pass yet: skipped, saying so.
    known_gap: Option<&'static str>,
    /// DPU settings (the default pair unless a test changes one).
    specs: fn(&BuildOptions) -> Result<Vec<DpuSpec>>,
    body: fn(&Pair, &BuildOptions, &mut String) -> Result<()>,
}

fn default_specs(_options: &BuildOptions) -> Result<Vec<DpuSpec>> {
    Ok(DpuSpec::pair())
}

/// dpu2 boots 0.2.0+2 (counter 2) from its bank A, dpu1 this build's 0.1.0+1.
fn mismatched_specs(options: &BuildOptions) -> Result<Vec<DpuSpec>> {
    let kernel = crate::build::build_kernel(options)?;
    std::fs::create_dir_all(crate::pair::pair_dir())?;
    let mut specs = DpuSpec::pair();
    specs[1].image = Some(next_image(&kernel.image, "dpu2-0.2.0.bin")?);
    Ok(specs)
}

/// dpu1's command line asks a `test-health-fail-marked` image to fail its health check: of an
/// image both DPUs take, only dpu1's trial fails.
fn dpu1_fails_health_specs(_options: &BuildOptions) -> Result<Vec<DpuSpec>> {
    let mut specs = DpuSpec::pair();
    specs[0].extra_bootargs.push("test.health=fail".into());
    Ok(specs)
}

const TESTS: &[PairTest] = &[
    PairTest {
        name: "pair-status",
        title: "dpuctl status names both DPUs with address, version, banks and role",
        ha: false,
        known_gap: None,
        specs: default_specs,
        body: status,
    },
    PairTest {
        name: "pair-update",
        title: "rolling dpuctl update under a 10 ms ping, then dpuctl rollback: one failover each, one reboot per DPU each",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: update_both,
    },
    PairTest {
        name: "pair-update-second-fails",
        title: "dpuctl update whose second DPU falls back: it is named, the version difference reported; rolling the first back matches them",
        ha: true,
        known_gap: None,
        specs: dpu1_fails_health_specs,
        body: update_second_fails,
    },
    PairTest {
        name: "pair-update-health-fail",
        title: "dpuctl update with an image failing its health check: the first DPU rolls back, is named, the other untouched",
        ha: false,
        known_gap: None,
        specs: default_specs,
        body: update_health_fail,
    },
    PairTest {
        name: "pair-steady-ping",
        title: "one active, one standby; 300 pings VM -> remote host, none lost or duplicated",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: steady_ping,
    },
    PairTest {
        name: "pair-failover-manual",
        title: "operator failover under a 10 ms ping: the standby takes over, traffic resumes",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: failover_manual,
    },
    PairTest {
        name: "pair-failover-panic",
        title: "the active DPU panics (resign, reset): the standby takes over, traffic resumes",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: failover_panic,
    },
    PairTest {
        name: "pair-failover-hang",
        title: "the active DPU hangs (silent): missed heartbeats, the standby takes over",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: failover_hang,
    },
    PairTest {
        name: "pair-failover-cable",
        title: "the active DPU's uplink cable is pulled: the standby takes over",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: failover_cable,
    },
    PairTest {
        name: "pair-split-brain",
        title: "the DPU-to-DPU link is cut: both lose their peer, the arbiter keeps the active, the standby does not promote; no duplicates",
        ha: true,
        known_gap: None,
        specs: default_specs,
        body: split_brain,
    },
    PairTest {
        name: "pair-version-mismatch",
        title: "dpu2 boots 0.2.0+2, dpu1 0.1.0+1: HA refuses to form, naming the DPU",
        ha: true,
        known_gap: None,
        specs: mismatched_specs,
        body: version_mismatch,
    },
];

/// The test's time budget (boot of both included).
const DEADLINE: Duration = Duration::from_secs(240);

/// Runs `dpuctl ARGS` and logs it; (success, output).
fn dpuctl(pair: &Pair, log: &mut String, arguments: &str) -> Result<(bool, String)> {
    let (ok, output) = pair.dpuctl(arguments)?;
    log.push_str(&format!(
        "$ dpuctl {arguments}   (exit {})\n{output}",
        if ok { "0" } else { "non-zero" }
    ));
    Ok((ok, output))
}

/// Whether the firmware runs HA (its boot line `ha: dpu1 priority ...`).
fn has_ha(pair: &Pair) -> Result<bool> {
    let console = &pair.dpus[0].console;
    Ok(console
        .wait_for(0, "ha: dpu1 priority", Duration::from_secs(5))
        .is_ok())
}

/// Whether the firmware serves `GET /v1/ha` (dpuctl's roles and failover need it).
fn has_ha_api(pair: &Pair) -> Result<bool> {
    let dpu = &pair.dpus[0].spec;
    let (_, code) = pair.topology.run(
        Place::Host,
        &format!(
            "curl -s -o /dev/null -w '%{{http_code}}' -m 3 -H 'Authorization: Bearer {}' http://{}/v1/ha",
            crate::pair::TOKEN,
            dpu.address
        ),
    )?;
    Ok(code.trim() == "200")
}

/// Types `ha` on DPU `index`'s console; the console text from there on once `also` (and the
/// state line, `ha: dpu1 is ...`) arrived.
fn console_ha(pair: &Pair, index: usize, also: &str) -> Result<String> {
    let dpu = &pair.dpus[index];
    let console = &dpu.console;
    let mark = console.mark();
    console.send("ha")?;
    console.wait_for(
        mark,
        &format!("ha: {} is ", dpu.spec.alias),
        Duration::from_secs(5),
    )?;
    console.wait_for(mark, also, Duration::from_secs(5))?;
    Ok(console.text()[mark..].to_string())
}

/// A DPU's role from its console's `ha` command (`ha: dpu1 is active, epoch 1, ...`).
fn console_role(pair: &Pair, index: usize) -> Result<String> {
    let needle = format!("ha: {} is ", pair.dpus[index].spec.alias);
    let after = console_ha(pair, index, &needle)?;
    let start = after.find(&needle).map_or(0, |at| at + needle.len());
    Ok(after[start..]
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The roles of both DPUs: from `dpuctl status --json` when the API serves `/v1/ha`, else from
/// each console's `ha` command.
fn roles(pair: &Pair) -> Result<Vec<String>> {
    if !has_ha_api(pair)? {
        return (0..pair.dpus.len())
            .map(|index| console_role(pair, index))
            .collect();
    }
    let (_, output) = pair.dpuctl("status --json")?;
    let start = output
        .find('{')
        .context("dpuctl status --json printed no JSON")?;
    Ok(top_level_roles(&output[start..]))
}

/// Each DPU's own `"role"` in `dpuctl status --json`, in order. A minimal read (xtask has no
/// JSON parser): the pretty-printed document puts a DPU's members at six spaces; the `ha`
/// object's `role` and its peer's sit deeper and are not the DPU's.
fn top_level_roles(document: &str) -> Vec<String> {
    document
        .lines()
        .filter_map(|line| line.strip_prefix("      \"role\": \""))
        .map(|rest| rest.split('"').next().unwrap_or_default().to_string())
        .collect()
}

/// Waits until the pair has formed: one DPU active and the other standby.
fn wait_formed(pair: &Pair, log: &mut String, deadline: Duration) -> Result<Vec<String>> {
    let started = Instant::now();
    loop {
        let roles = roles(pair)?;
        let active = roles.iter().filter(|role| *role == "active").count();
        let standby = roles.iter().filter(|role| *role == "standby").count();
        if active == 1 && standby == 1 {
            log.push_str(&format!(
                "formed after {} ms: {}\n",
                started.elapsed().as_millis(),
                roles.join(", ")
            ));
            return Ok(roles);
        }
        if started.elapsed() >= deadline {
            bail!(
                "the pair did not form within {} s (roles: {})",
                deadline.as_secs(),
                roles.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Ping statistics from `ping` output.
#[derive(Default)]
struct PingCount {
    transmitted: u32,
    received_sequences: Vec<u32>,
    duplicates: u32,
}

fn parse_ping(output: &str) -> PingCount {
    let mut count = PingCount::default();
    for line in output.lines() {
        if let Some(position) = line.find("icmp_seq=") {
            let sequence: u32 = line[position + 9..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|digits| digits.parse().ok())
                .unwrap_or(0);
            if line.contains("DUP!") {
                count.duplicates += 1;
            } else {
                count.received_sequences.push(sequence);
            }
        }
        if let Some(position) = line.find(" packets transmitted") {
            count.transmitted = line[..position].trim().parse().unwrap_or(0);
        }
    }
    count
}

fn status(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    // The console socket's side: a command typed there is answered.
    let console = &pair.dpus[0].console;
    let mark = console.mark();
    console.send("version")?;
    console.wait_for(mark, "dpu-runtime", Duration::from_secs(10))?;
    let (ok, output) = dpuctl(pair, log, "status")?;
    for dpu in &pair.dpus {
        let row = output
            .lines()
            .find(|line| line.starts_with(&format!("{} ", dpu.spec.alias)))
            .with_context(|| format!("no row for {}", dpu.spec.alias))?;
        if !row.contains(&dpu.spec.address) || !row.contains("0.1.0+1 committed*") {
            bail!(
                "{}'s row lacks its address or its bank: {row}",
                dpu.spec.alias
            );
        }
    }
    if !ok && !output.contains("HA refused") {
        bail!("dpuctl status failed on a healthy pair");
    }
    let (_, json) = dpuctl(pair, log, "status --json")?;
    for dpu in &pair.dpus {
        if !json.contains(&format!("\"alias\": \"{}\"", dpu.spec.alias)) {
            bail!("status --json lacks {}", dpu.spec.alias);
        }
    }
    Ok(())
}

fn steady_ping(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    wait_formed(pair, log, Duration::from_secs(60))?;
    let (_, output) = pair.topology.run(
        Place::Vm,
        &format!("ping -n -c 300 -i 0.01 -W 1 {REMOTE_ADDRESS}"),
    )?;
    log.push_str(&output);
    let count = parse_ping(&output);
    if count.duplicates > 0 {
        bail!("{} duplicate replies: both DPUs forward", count.duplicates);
    }
    if count.transmitted != 300 || count.received_sequences.len() != 300 {
        bail!(
            "{} of {} replies in steady state",
            count.received_sequences.len(),
            count.transmitted
        );
    }
    Ok(())
}

/// How a failover is caused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// An operator's request (`dpuctl failover`, or the console's `ha failover`).
    Manual,
    /// `crash panic` on the active DPU's console: the panic handler resigns, then resets.
    Panic,
    /// `crash hang` on the active DPU's console: silent until its watchdog resets it.
    Hang,
    /// The active DPU's uplink (port2) loses link (QEMU `set_link n2 off`).
    Cable,
}

impl Trigger {
    /// Every trigger, in table order.
    pub const ALL: [Trigger; 4] = [Self::Manual, Self::Panic, Self::Hang, Self::Cable];

    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Panic => "panic",
            Self::Hang => "hang",
            Self::Cable => "cable pull",
        }
    }
}

/// One measured failover.
pub struct Measured {
    /// Pings sent and not answered (at 10 ms).
    pub lost: u32,
    /// The DPU that was active, and the one after.
    pub from: String,
    /// The DPU active after.
    pub to: String,
}

/// Pulls `trigger` on the active DPU under an 800-ping, 10 ms stream from the VM; the pings lost.
/// Afterwards the pair is as it came out (a cable stays pulled until `restore`).
pub fn measure(pair: &Pair, trigger: Trigger, log: &mut String) -> Result<Measured> {
    let before = wait_formed(pair, log, Duration::from_secs(60))?;
    let active = before
        .iter()
        .position(|role| role == "active")
        .context("no active DPU")?;
    let ping = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.topology.namespace(Place::Vm),
            "ping",
            "-n",
            "-c",
            "800",
            "-i",
            "0.01",
            "-W",
            "1",
            REMOTE_ADDRESS,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting ping")?;
    // Let the stream settle (a second of answered pings), then pull the trigger.
    std::thread::sleep(Duration::from_secs(1));
    let console = &pair.dpus[active].console;
    match trigger {
        Trigger::Manual => {
            if has_ha_api(pair)? {
                let (ok, output) = dpuctl(pair, log, "failover")?;
                if !ok || !output.contains("active now") {
                    bail!("dpuctl failover did not succeed");
                }
            } else {
                log.push_str("(no /v1/ha in this firmware: the console's ha failover)\n");
                console.send("ha failover")?;
            }
        }
        Trigger::Panic => console.send("crash panic")?,
        Trigger::Hang => console.send("crash hang")?,
        Trigger::Cable => {
            pair.dpus[active].monitor("set_link n2 off")?;
        }
    }
    let result = ping.wait_with_output().context("waiting for ping")?;
    let text = String::from_utf8_lossy(&result.stdout).into_owned();
    let count = parse_ping(&text);
    log.push_str(&text.lines().rev().take(2).collect::<Vec<_>>().join("\n"));
    log.push('\n');
    if count.duplicates > 0 {
        bail!("{} duplicate replies around the failover", count.duplicates);
    }
    let last = count.received_sequences.iter().copied().max().unwrap_or(0);
    if last + 5 < count.transmitted {
        bail!(
            "traffic did not resume after the {} trigger: last reply icmp_seq={last} of {}",
            trigger.name(),
            count.transmitted
        );
    }
    let lost = count
        .transmitted
        .saturating_sub(count.received_sequences.len() as u32);
    // The failed DPU comes back as standby (panic and hang reset it; a cable comes back).
    if trigger == Trigger::Cable {
        pair.dpus[active].monitor("set_link n2 on")?;
        // Ready again only once its uplink counts as up (after the anti-flap delay): a next
        // failover to it before then would measure that delay, not the failover.
        wait_uplink_up(pair, active, Duration::from_secs(15))?;
    }
    let after = wait_formed(pair, log, Duration::from_secs(60))?;
    let to = after
        .iter()
        .position(|role| role == "active")
        .context("no active DPU after the failover")?;
    if to == active {
        bail!(
            "{} is still active after the {} trigger",
            pair.dpus[active].spec.alias,
            trigger.name()
        );
    }
    log.push_str(&format!(
        "failover ({}): {} -> {}, {lost} of {} pings lost at 10 ms = {} ms\n",
        trigger.name(),
        pair.dpus[active].spec.alias,
        pair.dpus[to].spec.alias,
        count.transmitted,
        lost * 10
    ));
    Ok(Measured {
        lost,
        from: pair.dpus[active].spec.alias.clone(),
        to: pair.dpus[to].spec.alias.clone(),
    })
}

/// Waits until DPU `index`'s console `ha` says `uplinks 1 of 1 up`.
fn wait_uplink_up(pair: &Pair, index: usize, deadline: Duration) -> Result<()> {
    let console = &pair.dpus[index].console;
    let started = Instant::now();
    loop {
        let mark = console.mark();
        console.send("ha")?;
        if console
            .wait_for(mark, "ha: uplinks 1 of 1 up", Duration::from_millis(500))
            .is_ok()
        {
            return Ok(());
        }
        if started.elapsed() >= deadline {
            bail!(
                "{}'s uplink not up again within {} s of the cable's return",
                pair.dpus[index].spec.alias,
                deadline.as_secs()
            );
        }
    }
}

fn failover_test(pair: &Pair, trigger: Trigger, log: &mut String) -> Result<()> {
    let measured = measure(pair, trigger, log)?;
    println!(
        "     {}: {} -> {}, {} pings lost x 10 ms = {} ms",
        trigger.name(),
        measured.from,
        measured.to,
        measured.lost,
        measured.lost * 10
    );
    Ok(())
}

fn failover_manual(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    failover_test(pair, Trigger::Manual, log)
}

fn failover_panic(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    failover_test(pair, Trigger::Panic, log)
}

fn failover_hang(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    failover_test(pair, Trigger::Hang, log)
}

fn failover_cable(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    failover_test(pair, Trigger::Cable, log)
}

/// The peer's health (`up`, `down`, `unknown`) in DPU `index`'s console `ha` table.
fn console_peer_health(pair: &Pair, index: usize) -> Result<String> {
    // The table follows the state line.
    let text = console_ha(pair, index, "\npeer ")?;
    let row = text
        .lines()
        .find(|line| line.starts_with("peer "))
        .context("no peer row in `ha`")?;
    Ok(row
        .split_whitespace()
        .nth(2)
        .unwrap_or_default()
        .to_string())
}

/// Waits until every DPU's console shows its peer as `health`.
fn wait_peer_health(pair: &Pair, health: &str, within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    for index in 0..pair.dpus.len() {
        loop {
            let seen = console_peer_health(pair, index)?;
            if seen == health {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} shows its peer {seen}, not {health}, {} s after the link change",
                    pair.dpus[index].spec.alias,
                    within.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    Ok(())
}

/// The DPU-to-DPU link is cut on both sides (QEMU `set_link n3 off`: port3). Each DPU loses its
/// peer; the host arbiter still hears both and keeps naming the active one, so the standby must
/// not promote: no duplicates, no change of roles. Then the link comes back and nothing moves.
fn split_brain(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    let before = wait_formed(pair, log, Duration::from_secs(60))?;
    for dpu in &pair.dpus {
        dpu.monitor("set_link n3 off")?;
    }
    let cut = wait_peer_health(pair, "down", Duration::from_secs(10)).and_then(|()| {
        let (_, output) = pair.topology.run(
            Place::Vm,
            &format!("ping -n -c 300 -i 0.01 -W 1 {REMOTE_ADDRESS}"),
        )?;
        log.push_str(&output);
        Ok((parse_ping(&output), roles(pair)?))
    });
    for dpu in &pair.dpus {
        dpu.monitor("set_link n3 on")?;
    }
    let (count, during) = cut?;
    log.push_str(&format!("roles with the link cut: {}\n", during.join(", ")));
    if count.duplicates > 0 {
        bail!(
            "{} duplicate replies with the link cut: both DPUs forward (split brain)",
            count.duplicates
        );
    }
    if during != before {
        bail!(
            "the roles changed with the link cut: {} before, {} after",
            before.join(", "),
            during.join(", ")
        );
    }
    if count.transmitted != 300 || count.received_sequences.len() != 300 {
        bail!(
            "{} of {} replies with the link cut",
            count.received_sequences.len(),
            count.transmitted
        );
    }
    wait_peer_health(pair, "up", Duration::from_secs(10))?;
    let after = wait_formed(pair, log, Duration::from_secs(10))?;
    if after != before {
        bail!(
            "the roles changed once the link was back: {} before, {} after",
            before.join(", "),
            after.join(", ")
        );
    }
    println!(
        "     link cut: {} stayed active, 300 of 300 replies, no duplicates",
        pair.dpus[before.iter().position(|role| role == "active").unwrap_or(0)]
            .spec
            .alias
    );
    Ok(())
}

fn version_mismatch(pair: &Pair, _options: &BuildOptions, log: &mut String) -> Result<()> {
    let api = has_ha_api(pair)?;
    let started = Instant::now();
    loop {
        // The refusal names dpu2 and its version: in dpuctl status (API) or the console's `ha`.
        let (ok, output) = if api {
            dpuctl(pair, log, "status")?
        } else {
            let console = &pair.dpus[0].console;
            let mark = console.mark();
            console.send("ha")?;
            let _ = console.wait_for(mark, "dpu> ", Duration::from_secs(5));
            (false, console.text()[mark..].to_string())
        };
        let refused = output
            .lines()
            .filter(|line| line.contains("refused"))
            .any(|line| line.contains("dpu2") && line.contains("0.2.0+2"));
        if refused {
            log.push_str(&format!("refusal seen:\n{output}\n"));
            if ok {
                bail!("dpuctl status exited 0 with HA refused");
            }
            return Ok(());
        }
        if started.elapsed() >= Duration::from_secs(30) {
            bail!("no refusal naming dpu2 and 0.2.0+2 within 30 s; last: {output}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// dpuboot banners on a DPU's console: its boots so far.
fn boots(pair: &Pair, index: usize) -> usize {
    pair.dpus[index]
        .console
        .text()
        .matches("dpuboot 0.1.0 (")
        .count()
}

/// Signs `kernel` as 0.2.0+2 (counter 2) into target/pair/NAME; its path.
fn next_image(kernel: &Path, name: &str) -> Result<std::path::PathBuf> {
    signed_next(kernel, name, SignOptions::next_trial())
}

/// Signs `kernel` as 0.2.0+2 with security counter 1, this build's: its commit leaves the
/// anti-rollback floor where it was, so the DPUs can roll back to 0.1.0+1 afterwards.
fn rollbackable_next_image(kernel: &Path, name: &str) -> Result<std::path::PathBuf> {
    signed_next(
        kernel,
        name,
        SignOptions {
            security_counter: 1,
            ..SignOptions::next_trial()
        },
    )
}

fn signed_next(kernel: &Path, name: &str, sign: SignOptions) -> Result<std::path::PathBuf> {
    let signed = image::sign_image(kernel, &sign)?;
    let path = crate::pair::pair_dir().join(name);
    std::fs::write(&path, signed)?;
    Ok(path)
}

/// A ping from the VM to the remote host every 10 ms beside a test's steps, its output
/// gathered as it arrives (bounded: `-w` ends it after 10 minutes at the latest).
struct PingStream {
    child: std::process::Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl PingStream {
    fn start(pair: &Pair) -> Result<Self> {
        use std::io::BufRead;
        let mut child = std::process::Command::new("ip")
            .args(["netns", "exec", &pair.topology.namespace(Place::Vm)])
            .args([
                "ping",
                "-n",
                "-i",
                "0.01",
                "-W",
                "1",
                "-w",
                "600",
                REMOTE_ADDRESS,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting ping")?;
        let stdout = child.stdout.take().context("ping has no stdout")?;
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = output.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut text) = sink.lock() {
                    text.push_str(&line);
                    text.push('\n');
                }
            }
        });
        Ok(Self {
            child,
            output,
            reader: Some(reader),
        })
    }

    fn text(&self) -> String {
        self.output
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    fn replies(&self) -> usize {
        parse_ping(&self.text()).received_sequences.len()
    }

    /// Waits for `more` replies past those seen so far.
    fn wait_replies(&self, more: usize, within: Duration) -> Result<()> {
        let target = self.replies() + more;
        let deadline = Instant::now() + within;
        while self.replies() < target {
            if Instant::now() >= deadline {
                bail!(
                    "the ping from the VM got {} of {more} replies within {} s",
                    more + self.replies() - target,
                    within.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Stops the ping (SIGINT: it prints its summary) and returns everything it printed.
    fn stop(mut self) -> Result<String> {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        self.child.wait().context("waiting for ping")?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Ok(self.text())
    }
}

impl Drop for PingStream {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The runs of unanswered pings between the first ping and the last reply (those after it were
/// still on their way when the ping stopped): (first icmp_seq, how many).
fn outages(count: &PingCount) -> Vec<(u32, u32)> {
    let mut answered = count.received_sequences.clone();
    answered.sort_unstable();
    answered.dedup();
    let mut runs = Vec::new();
    let mut expected = 1;
    for sequence in answered {
        if sequence > expected {
            runs.push((expected, sequence - expected));
        }
        expected = sequence + 1;
    }
    runs
}

/// What a whole lifecycle operation under ping may cost: each failover is one short outage, so
/// at most `failovers` runs of lost pings, each under a second (the slowest failover, a hang's
/// 300 ms detection, is well inside; an outage of a reboot's length is not). No duplicates.
/// The loss in ms (at 10 ms per ping).
fn check_traffic(text: &str, what: &str, failovers: usize, log: &mut String) -> Result<u32> {
    let count = parse_ping(text);
    let runs = outages(&count);
    let lost: u32 = runs.iter().map(|(_, length)| length).sum();
    log.push_str(&format!(
        "{what}: {} pings, {} replies, {} duplicates, outages {}\n",
        count.transmitted,
        count.received_sequences.len(),
        count.duplicates,
        runs.iter()
            .map(|(first, length)| format!("{length} from icmp_seq={first}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    if count.duplicates > 0 {
        bail!(
            "{what}: {} duplicate replies: both DPUs forwarded",
            count.duplicates
        );
    }
    if runs.len() > failovers {
        bail!(
            "{what}: {} outages, more than its {failovers} failover(s)",
            runs.len()
        );
    }
    if let Some((first, length)) = runs.iter().find(|(_, length)| *length >= 100) {
        bail!(
            "{what}: {length} pings lost in a row from icmp_seq={first}: an outage, not a failover"
        );
    }
    Ok(lost * 10)
}

/// Runs `dpuctl ARGUMENTS` under a 10 ms ping from the VM: (success, output, ping transcript).
fn dpuctl_under_ping(
    pair: &Pair,
    log: &mut String,
    arguments: &str,
) -> Result<(bool, String, String)> {
    let ping = PingStream::start(pair)?;
    ping.wait_replies(50, Duration::from_secs(10))?;
    let (ok, output) = dpuctl(pair, log, arguments)?;
    // A second of replies after it: the traffic came back, and what was lost lies before them.
    ping.wait_replies(100, Duration::from_secs(10))?;
    let text = ping.stop()?;
    Ok((ok, output, text))
}

/// Each DPU's reboots since power-on (its dpuboot banners less one), in words
/// (`dpu1 1, dpu2 1`); an error naming both counts unless they are `expected` (by DPU).
fn expect_reboots(pair: &Pair, expected: &[usize]) -> Result<String> {
    let words = |counts: &[usize]| {
        pair.dpus
            .iter()
            .zip(counts)
            .map(|(dpu, count)| format!("{} {count}", dpu.spec.alias))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let counted: Vec<usize> = (0..pair.dpus.len())
        .map(|index| boots(pair, index).saturating_sub(1))
        .collect();
    if counted != expected {
        bail!(
            "expected reboots {}, counted {}",
            words(expected),
            words(&counted)
        );
    }
    Ok(words(&counted))
}

/// Every DPU has the result line `ALIAS (mgmt ADDRESS): TEXT...` in `output`.
fn expect_each_dpu_line(pair: &Pair, output: &str, text: &str) -> Result<()> {
    for dpu in &pair.dpus {
        let line = format!("{} (mgmt {}): {text}", dpu.spec.alias, dpu.spec.address);
        if !output.contains(&line) {
            bail!("no line '{line}'");
        }
    }
    Ok(())
}

/// The seeds' first scenario and the rolling update: both DPUs take 0.2.0+2 under a 10 ms
/// ping (one failover, one reboot each); then "the host OS does not boot": `dpuctl rollback`
/// returns both to 0.1.0+1 (one failover more, two reboots each in all).
fn update_both(pair: &Pair, options: &BuildOptions, log: &mut String) -> Result<()> {
    let kernel = crate::build::build_kernel(options)?;
    let path = rollbackable_next_image(&kernel.image, "next.bin")?;
    wait_formed(pair, log, Duration::from_secs(60))?;
    let started = Instant::now();
    let (ok, output, ping) = dpuctl_under_ping(pair, log, &format!("update {}", path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    if !ok {
        bail!("dpuctl update failed");
    }
    expect_each_dpu_line(pair, &output, "updated 0.1.0+1 -> 0.2.0+2, committed")?;
    let lost = check_traffic(&ping, "rolling update", 1, log)?;
    let reboots = expect_reboots(pair, &[1, 1])?;
    println!("     rolling update: {seconds:.1} s, {lost} ms of pings lost; reboots {reboots}");
    let (_, status) = dpuctl(pair, log, "status")?;
    if status.matches("0.2.0+2 committed*").count() != 2 {
        bail!("dpuctl status does not show 0.2.0+2 committed on both");
    }

    // "Both DPUs boot correctly, the host OS does not": the host's lifecycle manager rolls both
    // back.
    let (ok, output, ping) = dpuctl_under_ping(pair, log, "rollback")?;
    if !ok {
        bail!("dpuctl rollback failed");
    }
    expect_each_dpu_line(pair, &output, "rolled back 0.2.0+2 -> 0.1.0+1, committed")?;
    let lost = check_traffic(&ping, "rollback of both", 1, log)?;
    let reboots = expect_reboots(pair, &[2, 2])?;
    println!("     rollback of both: {lost} ms of pings lost; reboots {reboots} in all");
    let (ok, status) = dpuctl(pair, log, "status")?;
    if !ok || status.matches("0.1.0+1 committed*").count() != 2 {
        bail!("dpuctl status does not show both healthy on 0.1.0+1 committed");
    }
    Ok(())
}

/// Waits until `dpuctl status` fails with a row saying the DPU differs from its peer; the
/// output.
fn wait_difference_reported(pair: &Pair, log: &mut String) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, output) = pair.dpuctl("status")?;
        if !ok && output.contains("differs from its peer") {
            log.push_str(&format!("$ dpuctl status   (exit non-zero)\n{output}"));
            return Ok(output);
        }
        if Instant::now() >= deadline {
            log.push_str(&output);
            bail!("dpuctl status did not report the firmware difference within 15 s");
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The seeds' "one DPU boots an earlier version than the other": dpu2 (the standby) takes
/// 0.2.0+2 and the active role; dpu1's trial of it fails its health check and falls back on
/// its own. dpuctl names dpu1 and fails, and reports the difference, as does `status`. Then
/// "and the host does not boot correctly": `dpuctl rollback dpu2` hands the role back to dpu1
/// and matches them on 0.1.0+1. Two reboots each; at most two failovers' loss under the ping.
fn update_second_fails(pair: &Pair, options: &BuildOptions, log: &mut String) -> Result<()> {
    let kernel = image::build_kernel_variant(options, &["test-health-fail-marked"])?;
    let path = rollbackable_next_image(&kernel, "health-fail-marked.bin")?;
    let roles = wait_formed(pair, log, Duration::from_secs(60))?;
    if roles[0] != "active" {
        let (ok, _) = dpuctl(pair, log, "failover --to dpu1")?;
        if !ok {
            bail!("could not make dpu1 the active DPU to start from");
        }
    }
    let ping = PingStream::start(pair)?;
    ping.wait_replies(50, Duration::from_secs(10))?;
    let (ok, output) = dpuctl(pair, log, &format!("update {}", path.display()))?;
    let (first, second) = (&pair.dpus[1].spec, &pair.dpus[0].spec);
    if ok {
        bail!("dpuctl update exited 0 though dpu1's trial fell back");
    }
    let expected = [
        format!(
            "{} (mgmt {}): updated 0.1.0+1 -> 0.2.0+2, committed; active now",
            first.alias, first.address
        ),
        format!(
            "{} (mgmt {}): FAILED: booted 0.1.0+1 instead of 0.2.0+2",
            second.alias, second.address
        ),
        format!("result: FAILED on {}", second.alias),
        "warning: the DPUs run different firmware: dpu1 0.1.0+1, dpu2 0.2.0+2".to_string(),
    ];
    if let Some(missing) = expected.iter().find(|line| !output.contains(line.as_str())) {
        bail!("no line '{missing}'");
    }
    let status = wait_difference_reported(pair, log)?;
    if !status.contains("dpu2 runs firmware 0.2.0+2, dpu1 0.1.0+1") {
        bail!("the difference reported does not name both DPUs and versions");
    }
    // dpu1: its trial's boot and the fallback's.
    let reboots = expect_reboots(pair, &[2, 1])?;
    println!("     dpu1 falls back: reboots {reboots}; the difference is reported");

    let (ok, output) = dpuctl(pair, log, "rollback dpu2")?;
    if !ok
        || !output.contains(&format!(
            "dpu2 (mgmt {}): rolled back 0.2.0+2 -> 0.1.0+1, committed; before its reboot dpu1: active now",
            first.address
        ))
        || !output.contains("dpu1 (mgmt 169.254.10.11): not asked, running 0.1.0+1")
    {
        bail!("dpuctl rollback dpu2 did not hand the role to dpu1 and roll dpu2 back");
    }
    ping.wait_replies(100, Duration::from_secs(10))?;
    let lost = check_traffic(&ping.stop()?, "update and rollback", 2, log)?;
    let reboots = expect_reboots(pair, &[2, 2])?;
    println!("     dpu2 rolled back to match: reboots {reboots} in all; {lost} ms of pings lost");
    let (ok, status) = dpuctl(pair, log, "status")?;
    if !ok || status.matches("0.1.0+1 committed*").count() != 2 {
        bail!("dpuctl status does not show both healthy on 0.1.0+1 committed");
    }
    Ok(())
}

fn update_health_fail(pair: &Pair, options: &BuildOptions, log: &mut String) -> Result<()> {
    let kernel = image::build_kernel_variant(options, &["test-health-fail"])?;
    let path = next_image(&kernel, "health-fail.bin")?;
    let (ok, output) = dpuctl(pair, log, &format!("update {}", path.display()))?;
    if ok {
        bail!("dpuctl update exited 0 with an image that fails its health check");
    }
    // The first DPU dpuctl activates: the standby when HA runs (the API's /v1/ha), else the
    // first given (dpu1).
    let first = output
        .lines()
        .find(|line| line.ends_with("): rebooting"))
        .and_then(|line| {
            pair.dpus
                .iter()
                .position(|dpu| line.starts_with(&format!("{} (", dpu.spec.alias)))
        })
        .context("dpuctl rebooted no DPU")?;
    let other = 1 - first;
    let (first_dpu, other_dpu) = (&pair.dpus[first].spec, &pair.dpus[other].spec);
    let failed = format!(
        "{} (mgmt {}): FAILED: booted 0.1.0+1 instead of 0.2.0+2",
        first_dpu.alias, first_dpu.address
    );
    if !output.contains(&failed) {
        bail!("no line starting '{failed}'");
    }
    let untouched = format!(
        "{} (mgmt {}): left as it was, running 0.1.0+1",
        other_dpu.alias, other_dpu.address
    );
    if !output.contains(&untouched)
        || !output.contains(&format!("result: FAILED on {}", first_dpu.alias))
    {
        bail!(
            "{} not reported as left as it was, or no failed result line",
            other_dpu.alias
        );
    }
    // Left as it was also means its next boot: the image staged there is withdrawn.
    if !output.contains(&format!(
        "{untouched} (stopped at {}, which failed); the staged image withdrawn",
        first_dpu.alias
    )) {
        bail!(
            "{} not reported with its staged image withdrawn",
            other_dpu.alias
        );
    }
    let (_, status) = dpuctl(pair, log, "status")?;
    let row = status
        .lines()
        .find(|line| line.starts_with(&format!("{} ", other_dpu.alias)))
        .with_context(|| format!("no status row for {}", other_dpu.alias))?;
    if row.contains('>') {
        bail!(
            "{} still has an image staged for its next boot: {row}",
            other_dpu.alias
        );
    }
    // The trial's boot and the fallback's: two reboots on the first DPU, none on the other.
    let mut expected = [0; 2];
    expected[first] = 2;
    let reboots = expect_reboots(pair, &expected)?;
    println!("     one DPU's image fails its health check: reboots {reboots}");
    Ok(())
}

/// Runs the `pair-*` tests matching `filter`; (passed, failed, skipped).
pub fn run_all(
    options: &BuildOptions,
    filter: Option<&str>,
    logs: &Path,
) -> Result<(usize, usize, usize)> {
    let tests: Vec<&PairTest> = TESTS
        .iter()
        .filter(|test| filter.is_none_or(|filter| test.name.contains(filter)))
        .collect();
    if tests.is_empty() {
        return Ok((0, 0, 0));
    }
    println!("== two-DPU tests (cargo xtask pair topology) ==");
    if let Some(reason) = crate::netns::unavailable_reason() {
        for test in &tests {
            println!("SKIP {:<28}          {}: {reason}", test.name, test.title);
        }
        return Ok((0, 0, tests.len()));
    }
    // The images: the default one (0.1.0+1), and for the mismatch test a 0.2.0+2 one.
    image::prepare_signed(options, &SignOptions::default())?;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for test in tests {
        if let Some(gap) = test.known_gap {
            skipped += 1;
            println!("SKIP {:<28}          {}: {gap}", test.name, test.title);
            continue;
        }
        let started = Instant::now();
        let mut log = String::new();
        let prefix = format!(
            "dpu-pair-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let result = (|| -> Result<Option<String>> {
            let specs = (test.specs)(options)?;
            let pair = Pair::start(options, &prefix, &specs)?;
            pair.wait_for_api(Duration::from_secs(60))?;
            if test.ha && !has_ha(&pair)? {
                return Ok(Some(
                    "needs the HA firmware (no 'ha: dpu1 priority' line at boot)".into(),
                ));
            }
            let outcome = (test.body)(&pair, options, &mut log);
            for dpu in &pair.dpus {
                log.push_str(&format!(
                    "--- {} console ---\n{}\n",
                    dpu.spec.alias,
                    dpu.console.text()
                ));
            }
            if started.elapsed() > DEADLINE {
                bail!("over its {} s deadline", DEADLINE.as_secs());
            }
            outcome.map(|()| None)
        })();
        match result {
            Ok(Some(reason)) => {
                skipped += 1;
                println!("SKIP {:<28}          {}: {reason}", test.name, test.title);
            }
            Ok(None) | Err(_) => {
                let outcome = Outcome {
                    result: result.map(|_| ()),
                    commands: Vec::new(),
                    log,
                };
                let elapsed = started.elapsed().as_secs_f64();
                if report::print(test.name, test.title, elapsed, &outcome, logs) {
                    passed += 1;
                } else {
                    failed += 1;
                }
            }
        }
    }
    Ok((passed, failed, skipped))
}

/// One run of an operation: seconds, pings lost (ms), outages.
type OperationFigures = (f64, u32, usize);

/// `cargo xtask bench pair --update [--runs N]`: N rounds of a rolling `dpuctl update` to
/// 0.2.0+2 and a `dpuctl rollback` to 0.1.0+1 on one pair under a 10 ms ping; per operation
/// its time, the pings lost (ms) and the outages (failovers) they came in, median and max.
fn bench_update(options: &BuildOptions, runs: usize) -> Result<()> {
    let kernel = crate::build::build_kernel(options)?;
    let prefix = format!("dpu-pair-{}-bench", std::process::id());
    let pair = Pair::start(options, &prefix, &DpuSpec::pair())?;
    pair.wait_for_api(Duration::from_secs(60))?;
    if !has_ha(&pair)? {
        bail!("the firmware runs without HA (no 'ha: dpu1 priority' line at boot)");
    }
    let path = rollbackable_next_image(&kernel.image, "bench-next.bin")?;
    let mut log = String::new();
    let mut rows: Vec<(&str, Vec<OperationFigures>)> =
        vec![("update", Vec::new()), ("rollback", Vec::new())];
    for run in 0..runs {
        for (operation, figures) in rows.iter_mut() {
            wait_formed(&pair, &mut log, Duration::from_secs(60))?;
            let arguments = if *operation == "update" {
                format!("update {}", path.display())
            } else {
                "rollback".to_string()
            };
            let started = Instant::now();
            let result = dpuctl_under_ping(&pair, &mut log, &arguments);
            let seconds = started.elapsed().as_secs_f64();
            let ping = match result {
                Ok((true, _, ping)) => ping,
                failed => {
                    let failure = match failed {
                        Err(error) => format!("{error:#}"),
                        Ok(_) => format!("dpuctl {operation} failed"),
                    };
                    // The transcripts so far, then stop: the pair is in no state to go on.
                    let log_path = crate::pair::pair_dir().join("bench-pair-update.log");
                    std::fs::write(&log_path, &log)?;
                    bail!(
                        "run {}: {operation}: {failure} (transcripts: {}; consoles: target/pair/dpuN.log)",
                        run + 1,
                        log_path.display()
                    );
                }
            };
            let runs_lost = outages(&parse_ping(&ping));
            let lost = check_traffic(&ping, operation, 2, &mut log).unwrap_or_else(|error| {
                println!("run {}: {operation}: {error:#}", run + 1);
                runs_lost.iter().map(|(_, length)| length * 10).sum()
            });
            println!(
                "{operation} run {}: {seconds:.1} s, {lost} ms lost in {} outage(s)",
                run + 1,
                runs_lost.len()
            );
            figures.push((seconds, lost, runs_lost.len()));
        }
    }
    let directory = crate::pair::pair_dir();
    std::fs::write(directory.join("bench-pair-update.log"), &log)?;
    println!("\nrolling operations of the pair under ping -i 0.01 from the VM, {runs} runs each:");
    println!(
        "{:<10} {:>14} {:>18} {:>15} {:>9}",
        "operation", "time median s", "lost median (ms)", "lost max (ms)", "outages"
    );
    for (operation, mut figures) in rows {
        figures.sort_by_key(|figure| figure.1);
        let lost_median = figures.get(figures.len() / 2).map_or(0, |f| f.1);
        let lost_max = figures.last().map_or(0, |f| f.1);
        let most_outages = figures.iter().map(|f| f.2).max().unwrap_or(0);
        let mut times: Vec<f64> = figures.iter().map(|f| f.0).collect();
        times.sort_by(f64::total_cmp);
        let time = times.get(times.len() / 2).copied().unwrap_or(0.0);
        println!(
            "{operation:<10} {time:>14.1} {lost_median:>18} {lost_max:>15} {:>9}",
            format!("at most {most_outages}")
        );
    }
    println!(
        "(transcripts: {})",
        directory.join("bench-pair-update.log").display()
    );
    Ok(())
}

/// `cargo xtask bench pair [--runs N] [--trigger NAME]`: N failovers per trigger on one pair
/// (each run fails over from whichever DPU is active then), a table of pings lost x 10 ms
/// (median, max). With `--update`, the rolling update and rollback instead ([`bench_update`]).
pub fn bench(options: &BuildOptions, runs: usize, arguments: &[String]) -> Result<()> {
    if arguments.iter().any(|argument| argument == "--update") {
        return bench_update(options, runs);
    }
    // `--trigger NAME`: only that one (manual, panic, hang, cable).
    let only = arguments
        .iter()
        .position(|argument| argument == "--trigger")
        .and_then(|index| arguments.get(index + 1))
        .cloned();
    if let Some(reason) = crate::netns::unavailable_reason() {
        bail!("cargo xtask bench pair {reason}");
    }
    let prefix = format!("dpu-pair-{}-bench", std::process::id());
    let pair = Pair::start(options, &prefix, &DpuSpec::pair())?;
    pair.wait_for_api(Duration::from_secs(60))?;
    if !has_ha(&pair)? {
        bail!("the firmware runs without HA (no 'ha: dpu1 priority' line at boot)");
    }
    let mut log = String::new();
    let mut rows = Vec::new();
    for trigger in Trigger::ALL {
        if only
            .as_deref()
            .is_some_and(|name| !trigger.name().starts_with(name))
        {
            continue;
        }
        let mut lost = Vec::new();
        let mut failures = 0;
        for run in 0..runs {
            match measure(&pair, trigger, &mut log) {
                Ok(measured) => {
                    println!(
                        "{} run {}: {} -> {}, {} lost",
                        trigger.name(),
                        run + 1,
                        measured.from,
                        measured.to,
                        measured.lost
                    );
                    lost.push(measured.lost);
                }
                // A failed run is counted and shown; the next run starts from the pair as it is.
                Err(error) => {
                    failures += 1;
                    println!("{} run {}: FAILED: {error:#}", trigger.name(), run + 1);
                }
            }
        }
        lost.sort_unstable();
        let median = lost.get(lost.len() / 2).copied();
        rows.push((trigger.name(), median, lost.last().copied(), failures));
    }
    let directory = crate::pair::pair_dir();
    std::fs::write(directory.join("bench-pair.log"), &log)?;
    println!("\nfailover under ping -i 0.01 from the VM to the remote host, {runs} runs each:");
    println!(
        "{:<12} {:>22} {:>22} {:>8}",
        "trigger", "lost, median (ms)", "lost, max (ms)", "failed"
    );
    let cell =
        |value: Option<u32>| value.map_or("-".to_string(), |n| format!("{n} x 10 = {}", n * 10));
    for (name, median, max, failures) in rows {
        println!(
            "{name:<12} {:>22} {:>22} {failures:>8}",
            cell(median),
            cell(max)
        );
    }
    println!(
        "(transcripts: {})",
        directory.join("bench-pair.log").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dpuctl status --json` as it prints it (keys sorted, the `ha` object with its own and
    /// its peer's role): only each DPU's own role counts. The first reading took all six
    /// `role` members and the pair never looked formed.
    #[test]
    fn roles_are_each_dpus_own_not_the_nested_ones() {
        let document = r#"{
  "dpus": [
    {
      "alias": "dpu1",
      "ha": {
        "peer": {
          "role": "standby"
        },
        "role": "active"
      },
      "role": "active"
    },
    {
      "alias": "dpu2",
      "ha": {
        "peer": {
          "role": "active"
        },
        "role": "standby"
      },
      "role": "standby"
    }
  ]
}"#;
        assert_eq!(top_level_roles(document), vec!["active", "standby"]);
    }

    #[test]
    fn ping_output_is_counted_with_duplicates_apart() {
        let output = "64 bytes from 10.20.0.20: icmp_seq=1 ttl=64 time=0.5 ms\n\
                      64 bytes from 10.20.0.20: icmp_seq=1 ttl=64 time=0.6 ms (DUP!)\n\
                      64 bytes from 10.20.0.20: icmp_seq=3 ttl=64 time=0.5 ms\n\
                      3 packets transmitted, 2 received, +1 duplicates, 33% packet loss\n";
        let count = parse_ping(output);
        assert_eq!(count.transmitted, 3);
        assert_eq!(count.received_sequences, vec![1, 3]);
        assert_eq!(count.duplicates, 1);
    }

    #[test]
    fn outages_are_the_runs_of_missing_replies_before_the_last() {
        let count = PingCount {
            transmitted: 12,
            received_sequences: vec![1, 2, 5, 6, 7, 9, 10],
            duplicates: 0,
        };
        // 3-4 and 8 lost; 11-12 were on their way when the ping stopped.
        assert_eq!(outages(&count), vec![(3, 2), (8, 1)]);
        let mut log = String::new();
        assert!(check_traffic("", "nothing", 0, &mut log).is_ok());
        let two = "64 bytes from x: icmp_seq=1 ttl=1\n64 bytes from x: icmp_seq=3 ttl=1\n\
                   64 bytes from x: icmp_seq=5 ttl=1\n";
        assert_eq!(check_traffic(two, "two", 2, &mut log).unwrap(), 20);
        assert!(check_traffic(two, "one", 1, &mut log).is_err());
    }

    #[test]
    fn each_dpu_gets_its_address_alias_and_the_ha_link() {
        let specs = DpuSpec::pair();
        assert!(
            specs[0]
                .bootargs()
                .starts_with("mgmt.ip=169.254.10.11/24 ha.alias=dpu1")
        );
        assert!(
            specs[1]
                .bootargs()
                .contains("ha.alias=dpu2 ha.priority=100 ha.link=port3")
        );
        assert!(specs[1].bootargs().contains("ha.host=169.254.10.1 "));
    }
}
