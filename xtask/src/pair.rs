//! `cargo xtask pair`: an emulated server with two DPUs (issue 10), in network namespaces made
//! and removed here.
//!
//! dpu1 and dpu2 each boot dpuboot and the signed kernel from their own flash files, like
//! `cargo xtask run`. Their NICs are taps in the server's namespace (`PREFIX-host`, where QEMU
//! runs), wired by Linux bridges and veth pairs:
//!
//! - mgmt0 of both on `br-mgmt`, which is the host's private management network
//!   (169.254.10.1/24; dpu1 .11, dpu2 .12 by `mgmt.ip=`); the arbiter (`dpuctl arbiter`)
//!   listens there on UDP 7400;
//! - port1 of both on the bridge `br-vm` in `PREFIX-vm`: the VM (10.20.0.10/24) behind both;
//! - port2 of both (the uplinks) on `br-tor` in `PREFIX-tor`, the top-of-rack switch, with the
//!   remote host (10.20.0.20/24) in `PREFIX-remote` behind it;
//! - port3 of both on `br-link`: the DPU-to-DPU link (`ha.link=port3`).
//!
//! The kernel command line reaches a flash-booted kernel through QEMU's device tree: with
//! firmware in flash0, `-kernel` only fills fw_cfg (dpuboot ignores it) and `-append` is still
//! written to `/chosen/bootargs` of the tree QEMU leaves at the base of RAM, which dpuboot
//! passes on. Each console is served on a unix socket (defmt frames decoded, one client at a
//! time) and kept in `target/pair/dpuN.log`.

use crate::qemu::{Machine, QemuProcess};
use crate::serial::{Output, Splitter};
use crate::{BuildOptions, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The host's address on the management network (the arbiter listens there).
pub const HOST_ADDRESS: &str = "169.254.10.1";
/// The VM's address (behind port1 of both DPUs).
pub const VM_ADDRESS: &str = "10.20.0.10";
/// The remote host's address (behind the top-of-rack switch on both uplinks).
pub const REMOTE_ADDRESS: &str = "10.20.0.20";
/// The operator token both DPUs take (`api.token=operator:...`); a test secret, not a secret.
pub const TOKEN: &str = "pair-operator-token-0123456789abcdef";
/// The UDP port of the HA heartbeats and grants.
pub const HA_PORT: u16 = 7400;

/// One DPU's settings.
#[derive(Clone, Debug)]
pub struct DpuSpec {
    /// `dpu1`.
    pub alias: String,
    /// `169.254.10.11`.
    pub address: String,
    /// `ha.priority=`.
    pub priority: u8,
    /// Extra kernel command-line words (tests: `ha.heartbeat-ms=`, a wrong config).
    pub extra_bootargs: Vec<String>,
    /// The signed image its flash1 is provisioned with (bank A); this build's when `None`.
    pub image: Option<PathBuf>,
}

impl DpuSpec {
    /// The two DPUs of the pair: dpu1 (priority 200) and dpu2 (100).
    pub fn pair() -> Vec<Self> {
        vec![
            Self {
                alias: "dpu1".into(),
                address: "169.254.10.11".into(),
                priority: 200,
                extra_bootargs: Vec::new(),
                image: None,
            },
            Self {
                alias: "dpu2".into(),
                address: "169.254.10.12".into(),
                priority: 100,
                extra_bootargs: Vec::new(),
                image: None,
            },
        ]
    }

    /// `d1`, `d2`: the start of its tap names (15-character interface names).
    fn short(&self) -> String {
        format!("d{}", self.alias.trim_start_matches("dpu"))
    }

    /// The kernel command line.
    pub fn bootargs(&self) -> String {
        let mut words = vec![
            format!("mgmt.ip={}/24", self.address),
            format!("ha.alias={}", self.alias),
            format!("ha.priority={}", self.priority),
            "ha.link=port3".into(),
            format!("ha.host={HOST_ADDRESS}"),
            format!("api.token=operator:{TOKEN}"),
            "switch.port1=host".into(),
            "switch.port2=uplink".into(),
        ];
        words.extend(self.extra_bootargs.iter().cloned());
        words.join(" ")
    }
}

/// Runs `ip ARGS`, failing with its error output.
fn ip(arguments: &[&str]) -> Result<()> {
    let output = Command::new("ip")
        .args(arguments)
        .output()
        .context("running ip")?;
    if !output.status.success() {
        bail!(
            "ip {}: {}",
            arguments.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The pair's namespaces; all deleted when dropped (with every link in them).
pub struct Topology {
    /// The prefix of their names.
    pub prefix: String,
    names: Vec<String>,
}

/// Which namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// The server: QEMU, the taps, the management network, the arbiter.
    Host,
    /// The VM behind port1.
    Vm,
    /// The top-of-rack switch.
    Tor,
    /// The remote host behind the top-of-rack switch.
    Remote,
}

impl Topology {
    /// The name of `place`'s namespace.
    pub fn namespace(&self, place: Place) -> String {
        let suffix = match place {
            Place::Host => "host",
            Place::Vm => "vm",
            Place::Tor => "tor",
            Place::Remote => "remote",
        };
        format!("{}-{suffix}", self.prefix)
    }

    fn add(&mut self, place: Place) -> Result<String> {
        let name = self.namespace(place);
        // A namespace left by a run that was killed goes first.
        let _ = ip(&["netns", "del", &name]);
        ip(&["netns", "add", &name])?;
        self.names.push(name.clone());
        ip(&["-n", &name, "link", "set", "lo", "up"])?;
        let _ = self.run(
            place,
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1",
        );
        Ok(name)
    }

    /// Makes the namespaces, bridges and taps for `dpus`.
    pub fn create(prefix: &str, dpus: &[DpuSpec]) -> Result<Self> {
        let mut topology = Self {
            prefix: prefix.to_string(),
            names: Vec::new(),
        };
        let host = topology.add(Place::Host)?;
        let vm = topology.add(Place::Vm)?;
        let tor = topology.add(Place::Tor)?;
        let remote = topology.add(Place::Remote)?;
        let bridge = |namespace: &str, name: &str| -> Result<()> {
            ip(&["-n", namespace, "link", "add", name, "type", "bridge"])?;
            // Forward at once: no STP listening/learning delay on a test bridge.
            ip(&[
                "-n",
                namespace,
                "link",
                "set",
                name,
                "type",
                "bridge",
                "forward_delay",
                "0",
            ])?;
            ip(&["-n", namespace, "link", "set", name, "up"])
        };
        bridge(&host, "br-mgmt")?;
        ip(&[
            "-n",
            &host,
            "addr",
            "add",
            &format!("{HOST_ADDRESS}/24"),
            "dev",
            "br-mgmt",
        ])?;
        bridge(&host, "br-link")?;
        bridge(&vm, "br-vm")?;
        // The VM's side never learns: every frame goes to both DPUs' port1 and the active one
        // takes it (the standby drops it), as a server delivers a vNIC's traffic to whichever DPU
        // is active. A learning bridge here would keep sending to the old active after a
        // failover, since only the uplinks get the new active's RARP.
        ip(&[
            "-n",
            &vm,
            "link",
            "set",
            "br-vm",
            "type",
            "bridge",
            "ageing_time",
            "0",
        ])?;
        ip(&[
            "-n",
            &vm,
            "addr",
            "add",
            &format!("{VM_ADDRESS}/24"),
            "dev",
            "br-vm",
        ])?;
        bridge(&tor, "br-tor")?;
        // The remote host behind the top-of-rack switch.
        ip(&[
            "-n",
            &tor,
            "link",
            "add",
            "to-remote",
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &remote,
        ])?;
        ip(&["-n", &tor, "link", "set", "to-remote", "master", "br-tor"])?;
        ip(&["-n", &tor, "link", "set", "to-remote", "up"])?;
        ip(&[
            "-n",
            &remote,
            "addr",
            "add",
            &format!("{REMOTE_ADDRESS}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &remote, "link", "set", "eth0", "up"])?;
        for dpu in dpus {
            let short = dpu.short();
            for (port, far) in [
                ("m", None),
                ("p1", Some((&vm, "br-vm"))),
                ("p2", Some((&tor, "br-tor"))),
                ("p3", None),
            ] {
                let tap = format!("{short}{port}");
                ip(&["-n", &host, "tuntap", "add", "dev", &tap, "mode", "tap"])?;
                ip(&["-n", &host, "link", "set", &tap, "up"])?;
                match (port, far) {
                    ("m", _) => ip(&["-n", &host, "link", "set", &tap, "master", "br-mgmt"])?,
                    ("p3", _) => ip(&["-n", &host, "link", "set", &tap, "master", "br-link"])?,
                    (_, Some((far_namespace, far_bridge))) => {
                        // tap -- b-TAP -- v-TAP ~~ e-TAP -- the far bridge.
                        let local_bridge = format!("b-{tap}");
                        let near = format!("v-{tap}");
                        let end = format!("e-{tap}");
                        bridge(&host, &local_bridge)?;
                        ip(&[
                            "-n",
                            &host,
                            "link",
                            "add",
                            &near,
                            "type",
                            "veth",
                            "peer",
                            "name",
                            &end,
                            "netns",
                            far_namespace,
                        ])?;
                        for device in [tap.as_str(), near.as_str()] {
                            ip(&["-n", &host, "link", "set", device, "master", &local_bridge])?;
                            ip(&["-n", &host, "link", "set", device, "up"])?;
                        }
                        ip(&[
                            "-n",
                            far_namespace,
                            "link",
                            "set",
                            &end,
                            "master",
                            far_bridge,
                        ])?;
                        ip(&["-n", far_namespace, "link", "set", &end, "up"])?;
                    }
                    _ => {}
                }
            }
        }
        Ok(topology)
    }

    /// Runs `command` with `sh -c` in `place`; (success, stdout + stderr).
    pub fn run(&self, place: Place, command: &str) -> Result<(bool, String)> {
        let output = Command::new("ip")
            .args(["netns", "exec", &self.namespace(place), "sh", "-c", command])
            .output()
            .context("running a command in a namespace")?;
        Ok((
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        ))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in self.names.iter().rev() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A console served on a unix socket: QEMU's serial output decoded into text, kept whole (for
/// waits and the log file) and copied to the connected client; the client's keys go to QEMU.
pub struct Console {
    /// The socket's path.
    pub socket: PathBuf,
    /// Everything printed so far.
    text: Arc<Mutex<String>>,
    /// QEMU's stdin, shared by the client thread and `send`.
    input: Arc<Mutex<Option<std::process::ChildStdin>>>,
    stop: Arc<AtomicBool>,
}

impl Console {
    fn start(process: &mut QemuProcess, socket: PathBuf, log: PathBuf, elf: &Path) -> Result<Self> {
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        listener.set_nonblocking(true)?;
        let text = Arc::new(Mutex::new(String::new()));
        let client: Arc<Mutex<Option<UnixStream>>> = Arc::new(Mutex::new(None));
        let input = Arc::new(Mutex::new(process.child.stdin.take()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut output = process.child.stdout.take().context("QEMU has no stdout")?;
        let mut splitter = Splitter::new(elf)?;
        let mut log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        {
            let (text, client) = (text.clone(), client.clone());
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                while let Ok(count) = output.read(&mut buffer) {
                    if count == 0 {
                        break;
                    }
                    let mut piece = String::new();
                    for out in splitter.feed(&buffer[..count]) {
                        match out {
                            Output::Text(bytes) => piece.push_str(&String::from_utf8_lossy(&bytes)),
                            Output::Log(line) => {
                                if !piece.is_empty() && !piece.ends_with('\n') {
                                    piece.push_str("\r\n");
                                }
                                piece.push_str(&line);
                                piece.push_str("\r\n");
                            }
                            Output::BadFrame(length) => piece.push_str(&format!(
                                "[undecodable defmt frame, {length} bytes]\r\n"
                            )),
                        }
                    }
                    let _ = log_file.write_all(piece.replace('\r', "").as_bytes());
                    if let Ok(mut text) = text.lock() {
                        text.push_str(&piece);
                    }
                    if let Ok(mut client) = client.lock()
                        && let Some(stream) = client.as_mut()
                        && stream.write_all(piece.as_bytes()).is_err()
                    {
                        *client = None;
                    }
                }
            });
        }
        {
            let (input, stop) = (input.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok((stream, _)) = listener.accept() else {
                        std::thread::sleep(Duration::from_millis(50));
                        continue;
                    };
                    let _ = stream.set_nonblocking(false);
                    let Ok(mut reader) = stream.try_clone() else {
                        continue;
                    };
                    // A new client replaces the old one (as a BMC's console does).
                    if let Ok(mut current) = client.lock() {
                        *current = Some(stream);
                    }
                    let input = input.clone();
                    std::thread::spawn(move || {
                        let mut buffer = [0u8; 256];
                        while let Ok(count) = reader.read(&mut buffer) {
                            if count == 0 {
                                break;
                            }
                            if let Ok(mut input) = input.lock()
                                && let Some(stdin) = input.as_mut()
                            {
                                let _ = stdin.write_all(&buffer[..count]);
                                let _ = stdin.flush();
                            }
                        }
                    });
                }
            });
        }
        Ok(Self {
            socket,
            text,
            input,
            stop,
        })
    }

    /// Everything the console printed so far.
    pub fn text(&self) -> String {
        self.text
            .lock()
            .map(|text| text.clone())
            .unwrap_or_default()
    }

    /// How many bytes it printed so far (a mark for `wait_for`).
    pub fn mark(&self) -> usize {
        self.text.lock().map(|text| text.len()).unwrap_or(0)
    }

    /// Types `line` and Enter.
    pub fn send(&self, line: &str) -> Result<()> {
        let mut input = self
            .input
            .lock()
            .map_err(|_| anyhow::anyhow!("console lock"))?;
        let stdin = input.as_mut().context("QEMU's stdin is closed")?;
        stdin.write_all(format!("{line}\r").as_bytes())?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits until `needle` appears after byte `from`, for at most `deadline`.
    pub fn wait_for(&self, from: usize, needle: &str, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            if self
                .text()
                .get(from..)
                .is_some_and(|text| text.contains(needle))
            {
                return Ok(());
            }
            if started.elapsed() >= deadline {
                bail!(
                    "'{needle}' not seen on the console within {} s",
                    deadline.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// One running DPU.
pub struct RunningDpu {
    /// Its settings.
    pub spec: DpuSpec,
    /// Its console.
    pub console: Console,
    /// Its QEMU monitor's unix socket.
    pub monitor: PathBuf,
    /// Its QEMU.
    pub process: QemuProcess,
}

impl RunningDpu {
    /// Runs one QEMU monitor command (`set_link n2 off`: port2's cable pulled; the netdevs are
    /// n0 mgmt0, n1 port1, n2 port2, n3 port3); its answer.
    pub fn monitor(&self, command: &str) -> Result<String> {
        let mut stream = UnixStream::connect(&self.monitor)
            .with_context(|| format!("connecting to {}", self.monitor.display()))?;
        stream.set_read_timeout(Some(Duration::from_millis(300)))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        let started = Instant::now();
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        // The monitor greets, echoes and prompts `(qemu) `: read until the prompt after the echo.
        while started.elapsed() < Duration::from_secs(3) {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(count) => answer.extend_from_slice(&buffer[..count]),
                Err(_) => {}
            }
            let text = String::from_utf8_lossy(&answer);
            if text.matches("(qemu)").count() >= 2 {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

/// The running pair: topology, both DPUs, the arbiter. Dropping it stops everything and
/// removes every namespace.
pub struct Pair {
    /// The DPUs, dpu1 first.
    pub dpus: Vec<RunningDpu>,
    /// The arbiter (`dpuctl arbiter`), if it started.
    pub arbiter: Option<std::process::Child>,
    /// The `dpuctl` binary.
    pub dpuctl: PathBuf,
    /// `target/pair/dpuctl.toml`.
    pub config: PathBuf,
    /// Declared last: dropped after the QEMUs that hold its taps.
    pub topology: Topology,
}

impl Drop for Pair {
    fn drop(&mut self) {
        if let Some(arbiter) = self.arbiter.as_mut() {
            let _ = arbiter.kill();
            let _ = arbiter.wait();
        }
        for dpu in &mut self.dpus {
            dpu.process.stop();
        }
    }
}

/// `target/pair`.
pub fn pair_dir() -> PathBuf {
    workspace_root().join("target").join("pair")
}

/// Builds `dpuctl` for the host; its path.
pub fn build_dpuctl() -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "-q", "-p", "dpuctl"])
        .current_dir(workspace_root())
        .status()
        .context("running cargo build -p dpuctl")?;
    if !status.success() {
        bail!("cargo build -p dpuctl failed");
    }
    Ok(workspace_root().join("target").join("debug").join("dpuctl"))
}

impl Pair {
    /// Builds everything, makes the topology (namespaces `PREFIX-*`) and boots `specs`; returns
    /// once every console has its prompt.
    pub fn start(options: &BuildOptions, prefix: &str, specs: &[DpuSpec]) -> Result<Self> {
        if let Some(reason) = crate::netns::unavailable_reason() {
            bail!("cargo xtask pair {reason}");
        }
        crate::install::ensure_qemu()?;
        let files = crate::image::prepare_signed(options, &crate::image::SignOptions::default())?;
        let elf = crate::build::output_dir().join("dpu-runtime.elf");
        let dpuctl = build_dpuctl()?;
        let directory = pair_dir();
        std::fs::create_dir_all(&directory)?;
        let topology = Topology::create(prefix, specs)?;
        let mut dpus = Vec::new();
        for spec in specs {
            // Each DPU has its own flash1, freshly provisioned with this build (or the spec's
            // image) in bank A; never the kept target/dpu/flash1.img, which may be older.
            let image = spec.image.as_ref().unwrap_or(&files.signed);
            let signed =
                std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
            let provisioned = crate::image::provisioned_flash1(&signed)?;
            let flash1 = directory.join(format!("{}-flash1.img", spec.alias));
            std::fs::write(&flash1, &provisioned)
                .with_context(|| format!("writing {}", flash1.display()))?;
            let mut arguments = crate::image::flash_arguments(
                &Machine::default(),
                &files.flash0,
                &flash1,
                "pair.args",
            )?;
            let monitor = directory.join(format!("{}.monitor", spec.alias));
            let _ = std::fs::remove_file(&monitor);
            arguments.extend([
                "-monitor".into(),
                format!("unix:{},server=on,wait=off", monitor.display()),
                "-kernel".into(),
                files.signed.display().to_string(),
                "-append".into(),
                spec.bootargs(),
            ]);
            let short = spec.short();
            let number: u8 = spec.alias.trim_start_matches("dpu").parse().unwrap_or(0);
            for (index, port) in ["m", "p1", "p2", "p3"].into_iter().enumerate() {
                arguments.extend([
                    "-netdev".into(),
                    format!("tap,id=n{index},ifname={short}{port},script=no,downscript=no"),
                    "-device".into(),
                    format!("virtio-net-device,netdev=n{index},mac=52:54:00:a{number}:00:0{index}"),
                ]);
            }
            let mut process =
                QemuProcess::spawn_in(Some(&topology.namespace(Place::Host)), &arguments)?;
            let console = Console::start(
                &mut process,
                directory.join(format!("{}.sock", spec.alias)),
                directory.join(format!("{}.log", spec.alias)),
                &elf,
            )?;
            dpus.push(RunningDpu {
                spec: spec.clone(),
                console,
                monitor,
                process,
            });
        }
        let config = directory.join("dpuctl.toml");
        let mut text = format!("token = \"{TOKEN}\"\n");
        for dpu in &dpus {
            text.push_str(&format!(
                "[dpu.{}]\naddress = \"{}\"\nconsole = \"{}\"\n",
                dpu.spec.alias,
                dpu.spec.address,
                dpu.console.socket.display()
            ));
        }
        std::fs::write(&config, text)?;
        let arbiter = Command::new("ip")
            .args(["netns", "exec", &topology.namespace(Place::Host)])
            .arg(&dpuctl)
            .args(["arbiter", "--listen", &format!("{HOST_ADDRESS}:{HA_PORT}")])
            .stdout(std::fs::File::create(directory.join("arbiter.log"))?)
            .stderr(std::fs::File::create(directory.join("arbiter.err"))?)
            .spawn()
            .ok();
        let pair = Self {
            dpus,
            arbiter,
            dpuctl,
            config,
            topology,
        };
        for dpu in &pair.dpus {
            dpu.console
                .wait_for(0, "dpu> ", Duration::from_secs(120))
                .with_context(|| format!("{} did not reach its prompt", dpu.spec.alias))?;
        }
        Ok(pair)
    }

    /// Runs `dpuctl ARGS` in the host namespace with the pair's config; (success, output).
    pub fn dpuctl(&self, arguments: &str) -> Result<(bool, String)> {
        self.topology.run(
            Place::Host,
            &format!(
                "{} --config {} {arguments} 2>&1",
                self.dpuctl.display(),
                self.config.display()
            ),
        )
    }

    /// Waits until `GET /healthz` of every DPU answers from the host namespace.
    pub fn wait_for_api(&self, deadline: Duration) -> Result<()> {
        let started = Instant::now();
        for dpu in &self.dpus {
            loop {
                let (ok, _) = self.topology.run(
                    Place::Host,
                    &format!("curl -sf -m 1 http://{}/healthz", dpu.spec.address),
                )?;
                if ok {
                    break;
                }
                if started.elapsed() >= deadline {
                    bail!(
                        "{} (mgmt {}): /healthz not answering within {} s",
                        dpu.spec.alias,
                        dpu.spec.address,
                        deadline.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        Ok(())
    }
}

/// Set by SIGINT: the pair stops and cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_signal: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// `cargo xtask pair`: boots the pair, prints how to reach it, runs until Ctrl-C.
pub fn command(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    if let Some(extra) = arguments.first() {
        bail!("cargo xtask pair takes no arguments (got '{extra}')");
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGTERM,
            on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    let pair = Pair::start(options, "dpu-pair", &DpuSpec::pair())?;
    let host = pair.topology.namespace(Place::Host);
    println!(
        "\nThe pair is up (topology: docs/ha-pair.md). Ctrl-C stops it and removes the namespaces."
    );
    for dpu in &pair.dpus {
        println!(
            "  {} (mgmt {}): console  socat -,raw,echo=0 UNIX-CONNECT:{}   log {}",
            dpu.spec.alias,
            dpu.spec.address,
            dpu.console.socket.display(),
            pair_dir().join(format!("{}.log", dpu.spec.alias)).display()
        );
    }
    println!(
        "  dpuctl:  sudo ip netns exec {host} {} --config {} status",
        pair.dpuctl.display(),
        pair.config.display()
    );
    println!(
        "  API:     sudo ip netns exec {host} curl -H 'Authorization: Bearer {TOKEN}' http://169.254.10.11/v1/ha"
    );
    println!(
        "  traffic: sudo ip netns exec {} ping {REMOTE_ADDRESS}   (the VM to the remote host)",
        pair.topology.namespace(Place::Vm)
    );
    match pair.wait_for_api(Duration::from_secs(60)) {
        Ok(()) => println!("Both management APIs answer."),
        Err(error) => println!("warning: {error:#}"),
    }
    let mut pair = pair;
    while !INTERRUPTED.load(Ordering::Relaxed) {
        for dpu in &mut pair.dpus {
            if let Ok(Some(status)) = dpu.process.child.try_wait() {
                println!("{} exited ({status}); stopping the pair", dpu.spec.alias);
                INTERRUPTED.store(true, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("\nStopping: both QEMUs, the arbiter, then the namespaces.");
    drop(pair);
    Ok(())
}
