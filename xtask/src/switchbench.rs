//! `cargo xtask bench switch`: RFC 2544 forwarding rates through the switch.
//!
//! QEMU gets mgmt0 (restricted user net) and two data ports on UDP socket netdevs on loopback
//! (`qemu/bench-switch.args`). A generator and counter here send frames into port A's socket
//! and count what comes out of port B's. For each configuration (the learning switch with its
//! default config, and the kernel's `switch.crossconnect=1` mode as the emulated ceiling;
//! 64 B and 1518 B frames; 1 and 4096 source MACs) it measures the unpaced forwarding rate and
//! the zero-loss rate by binary search, prints a table and writes CSV and SVG under
//! `target/bench/`. QEMU runs on host CPU 1, the generator on CPU 0.

pub(crate) mod hostprofile;
mod peer;

use crate::qemu::{self, Machine};
use crate::session::Session;
use crate::{BuildOptions, OptionWalker, build, workspace_root};
use anyhow::{Context, Result, bail};
use std::fmt::Write as _;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Test frames' EtherType (IEEE local experimental), as in `peer-bench`.
const ETHERTYPE: u16 = 0x88b5;
/// Payload magic ("PBN1").
const MAGIC: u32 = 0x5042_4e31;
/// The destination: the MAC announced from port B before each configuration.
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0x01];
/// Host CPU for QEMU and for the generator (2-core machine).
const QEMU_CPU: usize = 1;
const GENERATOR_CPU: usize = 0;
/// Frames sent per burst of send calls.
const BATCH: u64 = 32;
/// Frames of each instruction count under `-icount` (in bursts of [`COUNTED_BURST`]).
const COUNTED_FRAMES: u64 = 8192;
/// Frames per burst in the instruction count: the fast path's receive burst, so a pass that
/// finds a burst waiting forwards it whole.
const COUNTED_BURST: u64 = 32;
/// Rows of the kernel's `pmu` answer.
const PMU_SWITCHING: &str = "switching work (passes with frames)";
const PMU_WHOLE_LOOP: &str = "whole loop pass (passes with frames)";
const PMU_EVERY_PASS: &str = "every pass (idle polling too)";

/// Settings of one bench run.
struct Settings {
    reps: usize,
    trial: Duration,
    unpaced: Duration,
    iterations: usize,
    /// Measure the forwarding rates (off with `--instructions`).
    rates: bool,
    /// Count instructions per frame under `-icount` (off with `--no-instructions`).
    instructions: bool,
    /// QEMU's netdev backend for the two data ports.
    backend: Backend,
    /// Also run peer-bench (Linux bridge, XDP, ours) with this many repetitions.
    peer_reps: Option<usize>,
    /// Sample QEMU with `perf` during each mode's unpaced 64 B, 1-MAC trial.
    host_profile: bool,
}

/// QEMU netdev backends for the data ports whose other end the generator can be.
#[derive(Clone, Copy, PartialEq)]
enum Backend {
    /// `-netdev socket,udp=...`: UDP on loopback (what `peer-bench` uses).
    Socket,
    /// `-netdev dgram` with inet addresses: UDP on loopback through QEMU's newer backend.
    Dgram,
    /// `-netdev dgram` with unix-domain datagram sockets: no IP stack on either side.
    DgramUnix,
}

impl Backend {
    fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "socket" => Backend::Socket,
            "dgram" => Backend::Dgram,
            "dgram-unix" => Backend::DgramUnix,
            other => bail!("bench switch: --netdev {other}: expected socket, dgram or dgram-unix"),
        })
    }

    fn label(self) -> &'static str {
        match self {
            Backend::Socket => "socket",
            Backend::Dgram => "dgram",
            Backend::DgramUnix => "dgram-unix",
        }
    }
}

/// The generator's end of one data port.
enum Endpoint {
    Udp(UdpSocket),
    Unix(UnixDatagram),
}

impl Endpoint {
    fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        match self {
            Endpoint::Udp(socket) => socket.send(frame),
            Endpoint::Unix(socket) => socket.send(frame),
        }
    }

    fn recv(&self, buffer: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Endpoint::Udp(socket) => socket.recv(buffer),
            Endpoint::Unix(socket) => socket.recv(buffer),
        }
    }

    fn try_clone(&self) -> std::io::Result<Self> {
        Ok(match self {
            Endpoint::Udp(socket) => Endpoint::Udp(socket.try_clone()?),
            Endpoint::Unix(socket) => Endpoint::Unix(socket.try_clone()?),
        })
    }

    fn set_nonblocking(&self, nonblocking: bool) -> std::io::Result<()> {
        match self {
            Endpoint::Udp(socket) => socket.set_nonblocking(nonblocking),
            Endpoint::Unix(socket) => socket.set_nonblocking(nonblocking),
        }
    }

    fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self {
            Endpoint::Udp(socket) => socket.set_read_timeout(timeout),
            Endpoint::Unix(socket) => socket.set_read_timeout(timeout),
        }
    }

    fn raw_fd(&self) -> RawFd {
        match self {
            Endpoint::Udp(socket) => socket.as_raw_fd(),
            Endpoint::Unix(socket) => socket.as_raw_fd(),
        }
    }
}

/// Both data ports' generator ends and QEMU's `-netdev` values for them.
struct Wiring {
    port_a: Endpoint,
    port_b: Endpoint,
    netdev_a: String,
    netdev_b: String,
    /// Unix socket paths: where QEMU's ends are (connected to once QEMU runs), and the
    /// directory to remove afterwards.
    unix: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl Wiring {
    fn new(backend: Backend) -> Result<Self> {
        if backend == Backend::DgramUnix {
            // One fresh directory per boot (QEMU refuses a socket path that exists).
            static BOOTS: AtomicU32 = AtomicU32::new(0);
            let directory = std::env::temp_dir().join(format!(
                "dpu-bench-switch-{}-{}",
                std::process::id(),
                BOOTS.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&directory);
            std::fs::create_dir_all(&directory)?;
            let path = |name: &str| directory.join(name);
            let port_a = UnixDatagram::bind(path("host-a"))?;
            let port_b = UnixDatagram::bind(path("host-b"))?;
            let netdev = |id: &str, qemu: &Path, host: &Path| {
                format!(
                    "dgram,id={id},local.type=unix,local.path={},remote.type=unix,remote.path={}",
                    qemu.display(),
                    host.display()
                )
            };
            return Ok(Self {
                netdev_a: netdev("porta", &path("qemu-a"), &path("host-a")),
                netdev_b: netdev("portb", &path("qemu-b"), &path("host-b")),
                port_a: Endpoint::Unix(port_a),
                port_b: Endpoint::Unix(port_b),
                unix: Some((path("qemu-a"), path("qemu-b"), directory)),
            });
        }
        let port_a = UdpSocket::bind("127.0.0.1:0")?;
        let port_b = UdpSocket::bind("127.0.0.1:0")?;
        let (qemu_a, qemu_b) = free_ports()?;
        let (host_a, host_b) = (port_a.local_addr()?.port(), port_b.local_addr()?.port());
        let netdev = |id: &str, host: u16, qemu: u16| match backend {
            Backend::Dgram => format!(
                "dgram,id={id},local.type=inet,local.host=127.0.0.1,local.port={qemu},remote.type=inet,remote.host=127.0.0.1,remote.port={host}"
            ),
            _ => format!("socket,id={id},udp=127.0.0.1:{host},localaddr=127.0.0.1:{qemu}"),
        };
        port_a.connect(("127.0.0.1", qemu_a))?;
        port_b.connect(("127.0.0.1", qemu_b))?;
        Ok(Self {
            netdev_a: netdev("porta", host_a, qemu_a),
            netdev_b: netdev("portb", host_b, qemu_b),
            port_a: Endpoint::Udp(port_a),
            port_b: Endpoint::Udp(port_b),
            unix: None,
        })
    }

    /// Once QEMU has bound its ends: connect the unix sockets to them.
    fn connect(&self) -> Result<()> {
        if let (Endpoint::Unix(a), Endpoint::Unix(b), Some((qemu_a, qemu_b, _))) =
            (&self.port_a, &self.port_b, &self.unix)
        {
            a.connect(qemu_a)
                .with_context(|| format!("connecting to {}", qemu_a.display()))?;
            b.connect(qemu_b)
                .with_context(|| format!("connecting to {}", qemu_b.display()))?;
        }
        Ok(())
    }
}

/// The VLAN of [`Mode::SwitchVlan`].
const BENCH_VLAN: u16 = 10;

/// The guest mode.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// The default learning switch (every port an access port on VLAN 1).
    Switch,
    /// The learning switch with port1 a trunk carrying VLAN 10 (tagged frames in) and port2 an
    /// access port on VLAN 10 (the tag popped on the way out).
    SwitchVlan,
    CrossConnect,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Switch => "switch",
            Mode::SwitchVlan => "switch-vlan",
            Mode::CrossConnect => "cross-connect",
        }
    }

    fn append(self) -> &'static str {
        match self {
            Mode::Switch => "",
            Mode::SwitchVlan => "switch.port1.trunk=10 switch.port2.vlan=10",
            Mode::CrossConnect => "switch.crossconnect=1",
        }
    }

    /// The 802.1Q tag on the frames the generator sends into port A.
    fn tag(self) -> Option<u16> {
        match self {
            Mode::SwitchVlan => Some(BENCH_VLAN),
            Mode::Switch | Mode::CrossConnect => None,
        }
    }
}

/// One trial: offered rate (0 = unpaced), frames sent and received.
#[derive(Clone, Copy)]
struct Trial {
    offered: f64,
    sent: u64,
    received: u64,
    seconds: f64,
}

impl Trial {
    fn sent_rate(&self) -> f64 {
        self.sent as f64 / self.seconds
    }
    fn delivered_rate(&self) -> f64 {
        self.received as f64 / self.seconds
    }
    fn lossless(&self) -> bool {
        self.received >= self.sent
    }
}

/// One configuration's result in one repetition.
struct Measured {
    mode: Mode,
    frame: usize,
    macs: usize,
    zero_loss: f64,
    unpaced: Trial,
    trials: Vec<Trial>,
    /// Where QEMU's host time went in the unpaced trial (`--host-profile`, 64 B, 1 MAC).
    host: Option<hostprofile::Split>,
}

/// Guest instructions per forwarded frame in one configuration, from the kernel's `pmu`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Instructions {
    /// Instructions per frame in the switching work of the passes that received frames.
    switching: f64,
    /// Per frame in the whole loop passes that received frames.
    whole_loop: f64,
    /// Per frame over every pass (idle polling between bursts too).
    every_pass: f64,
    /// Frames the guest's fast path received.
    frames: u64,
    /// Frames per pass that received any.
    frames_per_pass: f64,
}

/// One instruction-count run.
struct Counted {
    mode: Mode,
    macs: usize,
    sent: u64,
    received: u64,
    figures: Instructions,
}

/// The host side of the two data ports.
struct Generator {
    port_a: Endpoint,
    /// The trial whose frames the counter counts.
    trial_id: Arc<AtomicU32>,
    received: Arc<AtomicU64>,
    /// Nanoseconds since `base` of the last frame counted.
    last_rx: Arc<AtomicU64>,
    port_b: Endpoint,
    base: Instant,
    /// The unix sockets' directory, removed when the generator goes.
    directory: Option<PathBuf>,
    /// The VLAN tag on every frame sent into port A (none: untagged).
    tag: Option<u16>,
}

impl Drop for Generator {
    fn drop(&mut self) {
        if let Some(directory) = &self.directory {
            let _ = std::fs::remove_dir_all(directory);
        }
    }
}

/// `cargo xtask bench switch [--reps N] [--trial-seconds S] [--iterations N]
/// [--instructions | --no-instructions] [--netdev socket|dgram|dgram-unix] [--peer]
/// [--peer-matrix | --peer-matrix-only] [--peer-reps N]`.
///
/// `--peer`: our switch and cross-connect beside the Linux bridge and XDP redirect through
/// `peer-bench`'s run.sh (see [`peer`]), with `--reps`, `--trial-seconds` and `--iterations`.
/// `--peer-matrix`: the same four through peer-bench's matrix.sh after our own modes
/// (`crate::peerbench`), `--peer-reps` interleaved repetitions (3).
pub fn bench(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let mut settings = Settings {
        reps: 1,
        trial: Duration::from_millis(1500),
        unpaced: Duration::from_secs(2),
        iterations: 7,
        rates: true,
        instructions: true,
        backend: Backend::Socket,
        peer_reps: None,
        host_profile: false,
    };
    let mut peer_mode = false;
    let mut walker = OptionWalker::new(arguments);
    while let Some(option) = walker.next_option() {
        match option {
            "--peer" => peer_mode = true,
            "--reps" => settings.reps = walker.value(option)?.parse()?,
            "--trial-seconds" => {
                settings.trial = Duration::from_secs_f64(walker.value(option)?.parse()?)
            }
            "--iterations" => settings.iterations = walker.value(option)?.parse()?,
            "--instructions" => settings.rates = false,
            "--no-instructions" => settings.instructions = false,
            "--peer-matrix" => settings.peer_reps = Some(settings.peer_reps.unwrap_or(3)),
            "--peer-matrix-only" => {
                settings.peer_reps = Some(settings.peer_reps.unwrap_or(3));
                settings.rates = false;
                settings.instructions = false;
            }
            "--peer-reps" => settings.peer_reps = Some(walker.value(option)?.parse()?),
            "--netdev" => settings.backend = Backend::parse(&walker.value(option)?)?,
            "--host-profile" => settings.host_profile = true,
            other => bail!("bench switch: unknown option '{other}'"),
        }
    }
    if peer_mode {
        // Beside the Linux peers through peer-bench's run.sh (its generator, its flags).
        return peer::run(
            options,
            &peer::PeerSettings {
                reps: settings.reps,
                search_seconds: settings.trial.as_secs_f64().max(1.0),
                iterations: settings.iterations,
                unpaced_seconds: 3.0,
                frame: 64,
            },
        );
    }
    crate::install::ensure_qemu()?;
    if settings.host_profile {
        crate::install::ensure(&[crate::install::Tool::Perf], "bench switch --host-profile")?;
    }
    let artifacts = build::build_kernel(options)?;
    let rmem_default = std::fs::read_to_string("/proc/sys/net/core/rmem_default")
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    println!("net.core.rmem_default = {rmem_default} (sizes QEMU's netdev socket buffers)");
    println!(
        "data ports on -netdev {} (--netdev socket|dgram|dgram-unix)",
        settings.backend.label()
    );
    let mut results: Vec<Measured> = Vec::new();
    for rep in 0..settings.reps.max(1) {
        if !settings.rates {
            break;
        }
        // ABAB: both modes in every repetition, one after the other.
        for mode in [Mode::Switch, Mode::CrossConnect] {
            println!("[{}/{}] {}", rep + 1, settings.reps.max(1), mode.label());
            results.extend(run_mode(&artifacts, mode, &settings)?);
        }
    }
    let mut counted: Vec<Counted> = Vec::new();
    if settings.instructions {
        // Instruction counts are exact: one boot per mode is enough.
        for mode in [Mode::Switch, Mode::SwitchVlan, Mode::CrossConnect] {
            println!("[instructions, -icount shift=0] {}", mode.label());
            counted.extend(run_instructions(&artifacts, mode, settings.backend)?);
        }
    }
    set_affinity(None);
    report(&results, &counted, &rmem_default, &settings)?;
    if let Some(reps) = settings.peer_reps {
        crate::peerbench::run(&artifacts.image, reps.max(1), settings.host_profile)?;
    }
    Ok(())
}

/// Pins the calling thread (and what it spawns from now on) to `cpu`; `None`: every CPU.
///
/// The set covers every CPU number the mask can hold, not `available_parallelism()`: that
/// counts the CPUs of the thread's current mask, so once pinned to CPU 1 of two it said 1, the
/// next pin to CPU 1 was an empty set the kernel refused, and every QEMU after the first ran on
/// the generator's CPU (the cross-connect mode, always second, looked 5-10x slower).
fn set_affinity(cpu: Option<usize>) {
    // SAFETY: cpu_set_t is plain data, zeroed is an empty set; sched_setaffinity only reads it.
    let result = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for index in 0..libc::CPU_SETSIZE as usize {
            if cpu.is_none_or(|c| c == index) {
                libc::CPU_SET(index, &mut set);
            }
        }
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if result != 0 {
        eprintln!(
            "bench switch: cannot pin to CPU {}: {}",
            cpu.map_or("any".to_string(), |c| c.to_string()),
            std::io::Error::last_os_error()
        );
    }
}

/// Two different free UDP ports on loopback (bound together, then released for QEMU, whose
/// socket netdev sets SO_REUSEADDR: one port given twice would mix the two data ports).
fn free_ports() -> Result<(u16, u16)> {
    let first = UdpSocket::bind("127.0.0.1:0")?;
    let second = UdpSocket::bind("127.0.0.1:0")?;
    Ok((first.local_addr()?.port(), second.local_addr()?.port()))
}

/// Large socket buffers (the counter must not be where frames are lost).
fn enlarge_buffers(socket: RawFd) {
    let size: libc::c_int = 8 << 20;
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        // SAFETY: a valid socket fd and a c_int option value of the given size.
        unsafe {
            let value = (&raw const size).cast();
            let length = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            if libc::setsockopt(socket, libc::SOL_SOCKET, force, value, length) != 0 {
                libc::setsockopt(socket, libc::SOL_SOCKET, plain, value, length);
            }
        }
    }
}

/// Boots the guest in `mode` (under `-icount shift=0` when `icount`) with its two data ports
/// on the generator's sockets; returns at the prompt.
fn boot_guest(
    artifacts: &build::KernelArtifacts,
    mode: Mode,
    icount: bool,
    backend: Backend,
    named_threads: bool,
) -> Result<(Session, Generator)> {
    let wiring = Wiring::new(backend)?;
    enlarge_buffers(wiring.port_a.raw_fd());
    enlarge_buffers(wiring.port_b.raw_fd());
    let fill = [
        ("netdev_a", wiring.netdev_a.clone()),
        ("netdev_b", wiring.netdev_b.clone()),
    ];
    let mut arguments = qemu::arguments(&Machine::default(), &artifacts.image, "test.args")?;
    if !mode.append().is_empty() {
        arguments.extend(["-append".to_string(), mode.append().to_string()]);
    }
    if icount {
        // Exact instruction counts: QEMU's PMU counts INST_RETIRED only under -icount.
        arguments.extend(["-icount".to_string(), "shift=0".to_string()]);
    }
    arguments.extend(qemu::profile("bench-switch.args", &fill)?);
    if named_threads {
        arguments.extend(hostprofile::QEMU_ARGUMENTS.map(str::to_string));
    }
    // Extra QEMU arguments for a look inside (for example `-d exec,nochain -D FILE` to see
    // where the instructions go); whitespace-separated, none by default.
    if let Ok(extra) = std::env::var("DPU_BENCH_QEMU_EXTRA") {
        arguments.extend(extra.split_whitespace().map(str::to_string));
    }
    // QEMU inherits CPU 1; the generator and the counter thread stay on CPU 0.
    set_affinity(Some(QEMU_CPU));
    let session = Session::start_arguments(&arguments, &artifacts.elf);
    set_affinity(Some(GENERATOR_CPU));
    let mut session = session?;
    session
        .expect("dpu> ", Duration::from_secs(30))
        .context("the guest did not reach its prompt")?;
    // The host is shared and loaded: a QEMU descheduled for 2 s wakes to the watchdog's tick
    // before the loop can check in, and that is not what the bench measures.
    session.send_bytes(b"watchdog 0\r")?;
    session.expect("watchdog: off", Duration::from_secs(10))?;
    wiring.connect()?;
    let directory = wiring.unix.map(|(_, _, directory)| directory);
    Ok((
        session,
        Generator::new(wiring.port_a, wiring.port_b, directory, mode.tag())?,
    ))
}

/// Prints the guest's last lines after `switch` (why a probe found no path).
fn show_guest_tail(session: &mut Session) {
    let _ = session.send_bytes(b"switch\r");
    let _ = session.expect("datapath:", Duration::from_secs(10));
    let tail: Vec<&str> = session.transcript.lines().rev().take(30).collect();
    for line in tail.iter().rev() {
        eprintln!("  guest: {line}");
    }
}

/// Boots the guest in `mode` and measures every frame size and source-MAC count.
fn run_mode(
    artifacts: &build::KernelArtifacts,
    mode: Mode,
    settings: &Settings,
) -> Result<Vec<Measured>> {
    let (mut session, generator) = boot_guest(
        artifacts,
        mode,
        false,
        settings.backend,
        settings.host_profile,
    )?;
    let mut measured = Vec::new();
    for frame in [64usize, 1518] {
        for macs in [1usize, 4096] {
            generator.learn(macs)?;
            if let Err(error) = generator.probe() {
                show_guest_tail(&mut session);
                return Err(error);
            }
            let profiled = settings.host_profile && frame == 64 && macs == 1;
            let recording = if profiled {
                let path = workspace_root()
                    .join("target")
                    .join("bench")
                    .join(format!("perf-{}.data", mode.label()));
                std::fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
                Some(hostprofile::Recording::start(session.pid(), &path)?)
            } else {
                None
            };
            let unpaced = generator.trial(frame, macs, 0.0, settings.unpaced)?;
            let host = match recording {
                Some(recording) => {
                    let split = recording.finish()?;
                    print_host_split(mode, &split);
                    Some(split)
                }
                None => None,
            };
            let mut trials = vec![unpaced];
            // RFC 2544 binary search between 0 and a little above the unpaced delivery.
            let (mut low, mut high) = (0.0f64, (unpaced.delivered_rate() * 1.2).max(1000.0));
            let mut zero_loss = 0.0f64;
            for _ in 0..settings.iterations {
                let rate = (low + high) / 2.0;
                let trial = generator.trial(frame, macs, rate, settings.trial)?;
                trials.push(trial);
                if trial.lossless() {
                    low = rate;
                    zero_loss = zero_loss.max(trial.sent_rate());
                } else {
                    high = rate;
                }
            }
            println!(
                "  {:<13} {:>4} B {:>4} macs: zero-loss {:>8.0} pps, unpaced {:>8.0} of {:>8.0} pps delivered",
                mode.label(),
                frame,
                macs,
                zero_loss,
                unpaced.delivered_rate(),
                unpaced.sent_rate()
            );
            measured.push(Measured {
                mode,
                frame,
                macs,
                zero_loss,
                unpaced,
                trials,
                host,
            });
        }
    }
    session.send_bytes(b"fdb port 1\r")?;
    session.expect("in the table", Duration::from_secs(10))?;
    if session.transcript.contains("02:00:00:00:02:01 port1") {
        println!("  guest: port B's mac 02:00:00:00:02:01 was learned on port1 (a move)");
    }
    session.send_bytes(b"switch\r")?;
    session.expect("datapath:", Duration::from_secs(10))?;
    if let Some(line) = session
        .transcript
        .lines()
        .rev()
        .find(|l| l.contains("table: full"))
    {
        println!("  guest {}", line.trim());
    }
    if let Some(line) = session
        .transcript
        .lines()
        .rev()
        .find(|l| l.contains("datapath:"))
    {
        println!("  guest {}", line.trim());
    }
    // The longest loop pass of the run (the watchdog is off: a stalled loop shows here).
    session.send_bytes(b"stats\r")?;
    session.expect("since the last 'stats'", Duration::from_secs(10))?;
    if let Some(line) = session
        .transcript
        .lines()
        .rev()
        .find(|l| l.starts_with("poll loop: "))
    {
        println!("  guest {}", line.trim());
    }
    // The data ports' packets and doorbells (kicks cost a VM exit each under TCG).
    session.send_bytes(b"ifconfig -v\r")?;
    // mgmt0, port1 and port2 each end their counters with this line; then the prompt.
    for _ in 0..3 {
        session.expect("handle misuse", Duration::from_secs(10))?;
    }
    session.expect("dpu> ", Duration::from_secs(10))?;
    let answer = session
        .transcript
        .rfind("ifconfig -v")
        .map_or("", |start| &session.transcript[start..]);
    let mut port = "";
    for line in answer.lines() {
        if line.starts_with("port") || line.starts_with("mgmt0") {
            port = line.split_whitespace().next().unwrap_or("");
        } else if port.starts_with("port")
            && (line.trim_start().starts_with("rx ") || line.contains("notifications"))
        {
            println!("  guest {port}: {}", line.trim());
        }
    }
    session.send_bytes(b"poweroff\r")?;
    let _ = session.wait_exit(Duration::from_secs(10));
    Ok(measured)
}

/// Boots the guest in `mode` under `-icount shift=0` and reads the PMU's instructions per
/// forwarded frame for 1 and 4096 source MACs (64 B frames, bursts of 32).
fn run_instructions(
    artifacts: &build::KernelArtifacts,
    mode: Mode,
    backend: Backend,
) -> Result<Vec<Counted>> {
    let (mut session, generator) = boot_guest(artifacts, mode, true, backend, false)?;
    let mut counted = Vec::new();
    for macs in [1usize, 4096] {
        generator.learn(macs)?;
        if let Err(error) = generator.probe() {
            show_guest_tail(&mut session);
            return Err(error);
        }
        session.send_bytes(b"pmu reset\r")?;
        session.expect("pmu: counts reset", Duration::from_secs(10))?;
        let (sent, received) = generator.bursts(64, macs, COUNTED_FRAMES, COUNTED_BURST)?;
        session.send_bytes(b"pmu\r")?;
        session.expect("frames per pass with frames", Duration::from_secs(10))?;
        let answer = session
            .transcript
            .rfind("pmu: instructions retired")
            .map_or("", |start| &session.transcript[start..]);
        let figures = parse_pmu(answer).with_context(|| {
            format!("the guest's 'pmu' answer has no instruction figures:\n{answer}")
        })?;
        println!(
            "  {:<13} {:>4} macs: {:.1} instructions per frame switching, {:.1} per frame for the whole loop pass ({} frames, {:.1} per pass; {} of {} sent came out)",
            mode.label(),
            macs,
            figures.switching,
            figures.whole_loop,
            figures.frames,
            figures.frames_per_pass,
            received,
            sent
        );
        counted.push(Counted {
            mode,
            macs,
            sent,
            received,
            figures,
        });
    }
    session.send_bytes(b"poweroff\r")?;
    let _ = session.wait_exit(Duration::from_secs(10));
    Ok(counted)
}

/// The figures of the kernel's `pmu` answer (`None` if a row is missing or has no figure).
fn parse_pmu(answer: &str) -> Option<Instructions> {
    // A row: label, instructions, frames, per frame.
    let row = |label: &str| -> Option<(u64, f64)> {
        let line = answer
            .lines()
            .find(|line| line.trim_start().starts_with(label))?;
        let mut columns = line[line.find(label)? + label.len()..].split_whitespace();
        let _instructions: u64 = columns.next()?.parse().ok()?;
        let frames: u64 = columns.next()?.parse().ok()?;
        let per_frame: f64 = columns.next()?.parse().ok()?;
        Some((frames, per_frame))
    };
    let (frames, switching) = row(PMU_SWITCHING)?;
    let (_, whole_loop) = row(PMU_WHOLE_LOOP)?;
    let (_, every_pass) = row(PMU_EVERY_PASS)?;
    let passes = answer
        .lines()
        .find(|line| line.trim_start().starts_with("passes: "))?;
    let frames_per_pass = passes
        .split(';')
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(Instructions {
        switching,
        whole_loop,
        every_pass,
        frames,
        frames_per_pass,
    })
}

/// Writes a test frame (RFC 2544 size including the 4-byte FCS that the socket does not carry).
fn write_frame(
    buffer: &mut [u8],
    destination: [u8; 6],
    source: [u8; 6],
    trial: u32,
    sequence: u64,
) {
    buffer[0..6].copy_from_slice(&destination);
    buffer[6..12].copy_from_slice(&source);
    buffer[12..14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    buffer[14..18].copy_from_slice(&MAGIC.to_le_bytes());
    buffer[18..22].copy_from_slice(&trial.to_le_bytes());
    buffer[22..30].copy_from_slice(&sequence.to_le_bytes());
}

/// [`write_frame`] with an 802.1Q tag for `vlan` (priority 0) after the addresses, in the same
/// buffer length (the payload is 4 bytes shorter); `None`: untagged.
fn write_tagged(
    buffer: &mut [u8],
    destination: [u8; 6],
    source: [u8; 6],
    vlan: Option<u16>,
    trial: u32,
    sequence: u64,
) {
    let Some(vlan) = vlan else {
        return write_frame(buffer, destination, source, trial, sequence);
    };
    write_frame(&mut buffer[4..], destination, source, trial, sequence);
    buffer.copy_within(4..16, 0);
    buffer[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    buffer[14..16].copy_from_slice(&(vlan & 0x0fff).to_be_bytes());
}

/// Source MAC number `index` on port A: 02:00:00:01:00:00 onward.
///
/// The flow number lives in the last two bytes under a prefix port B's MAC does not share: the
/// earlier 02:00:00:00:01:00 + index reached 02:00:00:00:02:01 (port B) at index 257, so the
/// 4 096-MAC trials taught the switch that port B had moved to port A.
fn flow_mac(index: usize) -> [u8; 6] {
    [0x02, 0, 0, 0x01, (index >> 8) as u8, (index & 0xff) as u8]
}

impl Generator {
    fn new(
        port_a: Endpoint,
        port_b: Endpoint,
        directory: Option<PathBuf>,
        tag: Option<u16>,
    ) -> Result<Self> {
        port_a.set_nonblocking(true)?;
        let counter = port_b.try_clone()?;
        counter.set_read_timeout(Some(Duration::from_millis(50)))?;
        let generator = Self {
            port_a,
            trial_id: Arc::new(AtomicU32::new(0)),
            received: Arc::new(AtomicU64::new(0)),
            last_rx: Arc::new(AtomicU64::new(0)),
            port_b,
            base: Instant::now(),
            directory,
            tag,
        };
        let (trial_id, received, last_rx, base) = (
            Arc::clone(&generator.trial_id),
            Arc::clone(&generator.received),
            Arc::clone(&generator.last_rx),
            generator.base,
        );
        // The counter: frames of the current trial that come out of port B. It ends when the
        // socket is gone (QEMU stopped and the generator dropped).
        std::thread::spawn(move || {
            let mut buffer = [0u8; 2048];
            loop {
                match counter.recv(&mut buffer) {
                    Ok(length) if length >= 22 => {
                        let magic =
                            u32::from_le_bytes([buffer[14], buffer[15], buffer[16], buffer[17]]);
                        let trial =
                            u32::from_le_bytes([buffer[18], buffer[19], buffer[20], buffer[21]]);
                        if magic == MAGIC && trial == trial_id.load(Ordering::Relaxed) {
                            received.fetch_add(1, Ordering::Relaxed);
                            last_rx.store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                        }
                    }
                    Ok(_) => {}
                    Err(error)
                        if matches!(
                            error.kind(),
                            std::io::ErrorKind::WouldBlock
                                | std::io::ErrorKind::TimedOut
                                | std::io::ErrorKind::ConnectionRefused
                        ) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(generator)
    }

    fn send(&self, socket: &Endpoint, frame: &[u8]) -> bool {
        // Loopback UDP refuses only when our own send buffer is full: try again later.
        socket.send(frame).is_ok()
    }

    /// Every source MAC announced from port A (paced, so the guest learns them all), then port
    /// B's MAC by broadcasts (last, so it is on port B whatever came before), then a pause.
    fn learn(&self, macs: usize) -> Result<()> {
        let mut frame = [0u8; 60];
        self.trial_id.store(u32::MAX, Ordering::Relaxed);
        for index in 0..macs {
            write_tagged(
                &mut frame,
                [0xff; 6],
                flow_mac(index),
                self.tag,
                0,
                index as u64,
            );
            while !self.send(&self.port_a, &frame) {
                std::thread::sleep(Duration::from_millis(1));
            }
            if index % 16 == 15 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        std::thread::sleep(Duration::from_millis(200));
        for sequence in 0..3 {
            write_frame(&mut frame, [0xff; 6], MAC_B, 0, sequence);
            self.port_b.send(&frame)?;
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Ok(())
    }

    /// One frame at a time A to B until one comes out (the path is up and B is learned).
    fn probe(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut frame = [0u8; 60];
        self.trial_id.store(u32::MAX - 1, Ordering::Relaxed);
        self.received.store(0, Ordering::Relaxed);
        let mut sequence = 0;
        while Instant::now() < deadline {
            write_tagged(
                &mut frame,
                MAC_B,
                flow_mac(0),
                self.tag,
                u32::MAX - 1,
                sequence,
            );
            sequence += 1;
            self.send(&self.port_a, &frame);
            std::thread::sleep(Duration::from_millis(50));
            if self.received.load(Ordering::Relaxed) > 0 {
                return Ok(());
            }
        }
        bail!("no frame sent into port A came out of port B within 30 s")
    }

    /// Sends `total` frames in bursts of `burst`, each after the last came out of port B (or
    /// 50 ms passed), then waits for the guest to drain; returns frames sent and received.
    fn bursts(&self, frame_size: usize, macs: usize, total: u64, burst: u64) -> Result<(u64, u64)> {
        let id = self.trial_id.load(Ordering::Relaxed).wrapping_add(1) % (u32::MAX - 2);
        self.trial_id.store(id, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        self.received.store(0, Ordering::Relaxed);
        let mut frame = vec![0u8; frame_size - 4];
        let mut sent = 0u64;
        while sent < total {
            for _ in 0..burst.min(total - sent) {
                write_tagged(
                    &mut frame,
                    MAC_B,
                    flow_mac(sent as usize % macs),
                    self.tag,
                    id,
                    sent,
                );
                while !self.send(&self.port_a, &frame) {
                    std::thread::sleep(Duration::from_micros(50));
                }
                sent += 1;
            }
            let deadline = Instant::now() + Duration::from_millis(50);
            while self.received.load(Ordering::Relaxed) < sent && Instant::now() < deadline {
                std::thread::sleep(Duration::from_micros(100));
            }
        }
        self.drain();
        Ok((sent, self.received.load(Ordering::Relaxed)))
    }

    /// Waits until nothing has come out of port B for 300 ms (at most 3 s).
    fn drain(&self) {
        let ended = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let last = Duration::from_nanos(self.last_rx.load(Ordering::Relaxed));
            let quiet = self.base.elapsed().saturating_sub(last);
            if quiet > Duration::from_millis(300) || ended.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
    }

    /// Offers `rate` frames/s (0: as fast as the generator can) for `length`, then waits for
    /// the guest to drain (quiet for 300 ms, at most 3 s).
    fn trial(&self, frame_size: usize, macs: usize, rate: f64, length: Duration) -> Result<Trial> {
        let id = self.trial_id.load(Ordering::Relaxed).wrapping_add(1) % (u32::MAX - 2);
        self.trial_id.store(id, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        self.received.store(0, Ordering::Relaxed);
        let mut frame = vec![0u8; frame_size - 4];
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            let elapsed = start.elapsed();
            if elapsed >= length {
                break;
            }
            let due = if rate > 0.0 {
                (elapsed.as_secs_f64() * rate) as u64 + 1
            } else {
                sent + BATCH
            };
            let mut stalled = false;
            while sent < due {
                write_tagged(
                    &mut frame,
                    MAC_B,
                    flow_mac(sent as usize % macs),
                    self.tag,
                    id,
                    sent,
                );
                if !self.send(&self.port_a, &frame) {
                    stalled = true;
                    break;
                }
                sent += 1;
            }
            if rate > 0.0 || stalled {
                // Until the next frame is due (the sleep overshoots; `due` catches up).
                let next = Duration::from_secs_f64(sent as f64 / rate.max(1.0));
                let wait = next
                    .saturating_sub(start.elapsed())
                    .max(Duration::from_micros(50));
                std::thread::sleep(wait.min(Duration::from_millis(1)));
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        self.drain();
        Ok(Trial {
            offered: rate,
            sent,
            received: self.received.load(Ordering::Relaxed),
            seconds,
        })
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// The table (medians over repetitions), CSV and SVG.
fn report(
    results: &[Measured],
    counted: &[Counted],
    rmem_default: &str,
    settings: &Settings,
) -> Result<()> {
    let directory = workspace_root().join("target").join("bench");
    std::fs::create_dir_all(&directory)?;
    if !counted.is_empty() {
        report_instructions(counted, &directory)?;
    }
    if results.is_empty() {
        return Ok(());
    }
    let pick = |mode: Mode, frame: usize, macs: usize| -> Vec<&Measured> {
        results
            .iter()
            .filter(|m| m.mode == mode && m.frame == frame && m.macs == macs)
            .collect()
    };
    let mut csv = String::from(
        "mode,frame_bytes,source_macs,zero_loss_pps,unpaced_offered_pps,unpaced_delivered_pps,ratio_to_crossconnect,reps,rmem_default\n",
    );
    println!();
    println!(
        "switch bench (-netdev {}; medians of {} rep(s), {:.1} s trials, {} search steps; net.core.rmem_default {})",
        settings.backend.label(),
        settings.reps.max(1),
        settings.trial.as_secs_f64(),
        settings.iterations,
        rmem_default
    );
    println!(
        "{:<13} {:>5} {:>5} {:>12} {:>12} {:>12} {:>10}",
        "mode", "frame", "macs", "zero-loss", "unpaced-in", "unpaced-out", "ours/xconn"
    );
    for frame in [64usize, 1518] {
        for macs in [1usize, 4096] {
            let mut cross: Vec<f64> = pick(Mode::CrossConnect, frame, macs)
                .iter()
                .map(|m| m.zero_loss)
                .collect();
            let cross = median(&mut cross);
            for mode in [Mode::Switch, Mode::CrossConnect] {
                let chosen = pick(mode, frame, macs);
                let mut zero: Vec<f64> = chosen.iter().map(|m| m.zero_loss).collect();
                let mut offered: Vec<f64> = chosen.iter().map(|m| m.unpaced.sent_rate()).collect();
                let mut delivered: Vec<f64> =
                    chosen.iter().map(|m| m.unpaced.delivered_rate()).collect();
                let zero = median(&mut zero);
                let ratio = if cross > 0.0 { zero / cross } else { 0.0 };
                let (offered, delivered) = (median(&mut offered), median(&mut delivered));
                let ratio_text = if mode == Mode::Switch {
                    format!("{:.2}", ratio)
                } else {
                    "-".into()
                };
                println!(
                    "{:<13} {:>5} {:>5} {:>12.0} {:>12.0} {:>12.0} {:>10}",
                    mode.label(),
                    frame,
                    macs,
                    zero,
                    offered,
                    delivered,
                    ratio_text
                );
                writeln!(
                    csv,
                    "{},{},{},{:.0},{:.0},{:.0},{},{},{}",
                    mode.label(),
                    frame,
                    macs,
                    zero,
                    offered,
                    delivered,
                    if mode == Mode::Switch {
                        format!("{:.3}", ratio)
                    } else {
                        String::new()
                    },
                    chosen.len(),
                    rmem_default
                )?;
            }
        }
    }
    let mut trials = String::from(
        "mode,frame_bytes,source_macs,offered_pps,sent_pps,delivered_pps,sent,received,seconds\n",
    );
    for measured in results {
        for trial in &measured.trials {
            writeln!(
                trials,
                "{},{},{},{:.0},{:.0},{:.0},{},{},{:.3}",
                measured.mode.label(),
                measured.frame,
                measured.macs,
                trial.offered,
                trial.sent_rate(),
                trial.delivered_rate(),
                trial.sent,
                trial.received,
                trial.seconds
            )?;
        }
    }
    let table = directory.join("switch.csv");
    let trial_table = directory.join("switch-trials.csv");
    let plot = directory.join("switch.svg");
    std::fs::write(&table, csv)?;
    std::fs::write(&trial_table, trials)?;
    report_host_profile(results, &directory)?;
    std::fs::write(&plot, svg(results, rmem_default))?;
    println!(
        "wrote {}, {} and {}",
        table.display(),
        trial_table.display(),
        plot.display()
    );
    Ok(())
}

/// One mode's host-time split, as it is measured.
fn print_host_split(mode: Mode, split: &hostprofile::Split) {
    println!(
        "  {:<13} host time in the unpaced 64 B trial ({:.2} CPUs busy): guest code {:.1} %, vCPU QEMU {:.1} %, vCPU kernel {:.1} %, I/O kernel {:.1} %, I/O QEMU {:.1} %",
        mode.label(),
        split.cpus,
        split.guest_code,
        split.vcpu_qemu,
        split.vcpu_kernel,
        split.io_kernel,
        split.io_qemu
    );
}

/// The host-time table (`--host-profile`): medians per mode, and its CSV.
fn report_host_profile(results: &[Measured], directory: &Path) -> Result<()> {
    let profiled: Vec<&Measured> = results.iter().filter(|m| m.host.is_some()).collect();
    if profiled.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "where QEMU's host time goes, unpaced 64 B, 1 MAC (perf record -F 997; percent of QEMU's samples; medians)"
    );
    println!(
        "{} {:>13}",
        hostprofile::table_header("mode", 13),
        "delivered-pps"
    );
    let mut csv = hostprofile::csv_header("mode") + ",delivered_pps\n";
    for mode in [Mode::Switch, Mode::CrossConnect] {
        let chosen: Vec<&Measured> = profiled
            .iter()
            .copied()
            .filter(|m| m.mode == mode)
            .collect();
        let splits: Vec<&hostprofile::Split> =
            chosen.iter().filter_map(|m| m.host.as_ref()).collect();
        let Some(split) = hostprofile::Split::median(&splits) else {
            continue;
        };
        let mut delivered: Vec<f64> = chosen.iter().map(|m| m.unpaced.delivered_rate()).collect();
        let delivered = median(&mut delivered);
        println!(
            "{} {:>13.0}",
            split.row(mode.label(), 13, splits.len()),
            delivered
        );
        writeln!(
            csv,
            "{},{:.0}",
            split.csv_row(mode.label(), splits.len()),
            delivered
        )?;
    }
    let path = directory.join("switch-host-profile.csv");
    std::fs::write(&path, csv)?;
    println!(
        "wrote {} (perf data in target/bench/perf-*.data)",
        path.display()
    );
    Ok(())
}

/// The instruction table (exact counts: one run each), and its CSV.
fn report_instructions(counted: &[Counted], directory: &std::path::Path) -> Result<()> {
    println!();
    println!(
        "guest instructions per forwarded 64 B frame (-icount shift=0, PMU event 0x08; {} frames in bursts of {})",
        COUNTED_FRAMES, COUNTED_BURST
    );
    println!(
        "{:<13} {:>5} {:>10} {:>11} {:>11} {:>10} {:>9}",
        "mode", "macs", "switching", "whole-loop", "every-pass", "frames", "per-pass"
    );
    let mut csv = String::from(
        "mode,source_macs,instructions_per_frame_switching,instructions_per_frame_whole_loop,instructions_per_frame_every_pass,frames,frames_per_pass,sent,received\n",
    );
    for run in counted {
        let figures = &run.figures;
        println!(
            "{:<13} {:>5} {:>10.1} {:>11.1} {:>11.1} {:>10} {:>9.1}",
            run.mode.label(),
            run.macs,
            figures.switching,
            figures.whole_loop,
            figures.every_pass,
            figures.frames,
            figures.frames_per_pass
        );
        writeln!(
            csv,
            "{},{},{:.1},{:.1},{:.1},{},{:.1},{},{}",
            run.mode.label(),
            run.macs,
            figures.switching,
            figures.whole_loop,
            figures.every_pass,
            figures.frames,
            figures.frames_per_pass,
            run.sent,
            run.received
        )?;
    }
    let path = directory.join("switch-instructions.csv");
    std::fs::write(&path, csv)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Delivered against offered rate, one line per configuration, one panel per frame size.
fn svg(results: &[Measured], rmem_default: &str) -> String {
    const PANEL: f64 = 420.0;
    const MARGIN: f64 = 60.0;
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"];
    let mut out = String::new();
    let width = 2.0 * (PANEL + MARGIN) + MARGIN;
    let height = PANEL + 2.0 * MARGIN + 60.0;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(
        out,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/><text x=\"{MARGIN}\" y=\"20\" font-size=\"14\">cargo xtask bench switch: delivered vs offered frames/s (unpaced trial at its sent rate; net.core.rmem_default {rmem_default})</text>"
    );
    for (panel, frame) in [64usize, 1518].into_iter().enumerate() {
        let x0 = MARGIN + panel as f64 * (PANEL + MARGIN);
        let y0 = MARGIN + PANEL;
        let points = |m: &Measured| -> Vec<(f64, f64)> {
            let mut points: Vec<(f64, f64)> = m
                .trials
                .iter()
                .map(|t| (t.sent_rate(), t.delivered_rate()))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            points
        };
        let chosen: Vec<&Measured> = results.iter().filter(|m| m.frame == frame).collect();
        let maximum = chosen
            .iter()
            .flat_map(|m| points(m))
            .map(|(x, y)| x.max(y))
            .fold(1.0f64, f64::max)
            * 1.05;
        let _ = writeln!(
            out,
            "<rect x=\"{x0}\" y=\"{MARGIN}\" width=\"{PANEL}\" height=\"{PANEL}\" fill=\"none\" stroke=\"black\"/>"
        );
        let _ = writeln!(
            out,
            "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{}\" y2=\"{MARGIN}\" stroke=\"#bbb\" stroke-dasharray=\"4\"/>",
            x0 + PANEL
        );
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{frame} B frames</text>",
            x0 + 5.0,
            MARGIN + 15.0
        );
        for step in 0..=4 {
            let value = maximum * step as f64 / 4.0;
            let offset = PANEL * step as f64 / 4.0;
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
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">offered (sent) frames/s</text>",
            x0 + PANEL / 2.0,
            y0 + 34.0
        );
        let mut series = 0;
        for mode in [Mode::Switch, Mode::CrossConnect] {
            for macs in [1usize, 4096] {
                let color = colors[series % colors.len()];
                for m in chosen.iter().filter(|m| m.mode == mode && m.macs == macs) {
                    let line: Vec<String> = points(m)
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
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\"/>",
                        line.join(" ")
                    );
                    for point in &line {
                        let (x, y) = point.split_once(',').unwrap_or(("0", "0"));
                        let _ = writeln!(
                            out,
                            "<circle cx=\"{x}\" cy=\"{y}\" r=\"2.5\" fill=\"{color}\"/>"
                        );
                    }
                }
                if panel == 0 {
                    let ly = y0 + 50.0 + 0.0 * series as f64;
                    let lx = MARGIN + series as f64 * 230.0;
                    let _ = writeln!(
                        out,
                        "<rect x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{} {} source mac(s)</text>",
                        ly - 10.0,
                        lx + 16.0,
                        ly,
                        mode.label(),
                        macs
                    );
                }
                series += 1;
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPUs the calling thread may run on.
    fn affinity() -> Vec<usize> {
        // SAFETY: cpu_set_t is plain data; sched_getaffinity writes at most its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
            (0..libc::CPU_SETSIZE as usize)
                .filter(|&cpu| libc::CPU_ISSET(cpu, &set))
                .collect()
        }
    }

    #[test]
    fn pinning_twice_moves_the_thread_each_time() {
        // In a thread of its own: affinity is per thread and the test must not pin the runner.
        std::thread::spawn(|| {
            let all = affinity();
            let (Some(&first), Some(&last)) = (all.first(), all.last()) else {
                return;
            };
            set_affinity(Some(last));
            assert_eq!(affinity(), vec![last]);
            set_affinity(Some(first));
            assert_eq!(affinity(), vec![first]);
            // The bug: pinned to one CPU, a second pin elsewhere was silently refused.
            set_affinity(Some(last));
            assert_eq!(affinity(), vec![last]);
            set_affinity(None);
            assert!(affinity().len() >= all.len());
        })
        .join()
        .expect("the pinning thread");
    }

    const PMU_ANSWER: &str =
        "pmu\r\npmu: instructions retired (event 0x08, EL1 and EL0), since boot or 'pmu reset'\r
  part of the loop                         instructions     frames   per frame\r
  switching work (passes with frames)             39033         14      2788.1\r
  whole loop pass (passes with frames)            68127         14      4866.2\r
  every pass (idle polling too)               102413937         14   7315281.2\r
  passes: 14 with frames of 30868; 1.0 frames per pass with frames\r
dpu> ";

    #[test]
    fn tagged_frames_carry_the_tag_after_the_addresses() {
        let (mut plain, mut tagged) = ([0u8; 60], [0u8; 60]);
        write_tagged(&mut plain, MAC_B, flow_mac(3), None, 7, 9);
        write_tagged(&mut tagged, MAC_B, flow_mac(3), Some(10), 7, 9);
        assert_eq!(&tagged[..12], &plain[..12]);
        assert_eq!(&tagged[12..16], &[0x81, 0x00, 0x00, 0x0a]);
        // With the tag popped, the frame is the untagged one (4 bytes shorter).
        assert_eq!(&tagged[16..], &plain[12..56]);
    }

    #[test]
    fn pmu_answer_parses() {
        assert_eq!(
            parse_pmu(PMU_ANSWER),
            Some(Instructions {
                switching: 2788.1,
                whole_loop: 4866.2,
                every_pass: 7315281.2,
                frames: 14,
                frames_per_pass: 1.0,
            })
        );
    }

    #[test]
    fn pmu_answer_without_frames_has_no_figures() {
        let empty = PMU_ANSWER
            .replace("2788.1", "-")
            .replace("14      ", "0       ");
        assert_eq!(parse_pmu(&empty), None);
        assert_eq!(
            parse_pmu("pmu: this PMU does not count instructions retired"),
            None
        );
    }

    #[test]
    fn flow_macs_are_distinct_and_never_port_b() {
        let mut seen = std::collections::HashSet::new();
        for index in 0..65_536 {
            let mac = flow_mac(index);
            assert_ne!(mac, MAC_B, "flow {index} uses port B's MAC");
            assert_eq!(mac[0] & 0x01, 0, "flow {index} is a multicast source");
            assert!(seen.insert(mac), "flow {index} repeats a MAC");
        }
    }
}
