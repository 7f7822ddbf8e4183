//! QEMU: its command line from the `qemu/` profiles, and its process.

use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The emulator binary (Debian package `qemu-system-arm`).
pub const QEMU: &str = "qemu-system-aarch64";

/// Machine settings that fill the profile's placeholders.
#[derive(Clone, Debug)]
pub struct Machine {
    /// Extra `-machine virt` options, without the leading comma.
    pub options: Vec<String>,
    /// `-cpu` model.
    pub cpu: String,
    /// `-m` size.
    pub memory: String,
    /// `-smp` count.
    pub cpus: u32,
}

impl Default for Machine {
    fn default() -> Self {
        Self {
            options: Vec::new(),
            cpu: "cortex-a72".into(),
            memory: "256M".into(),
            cpus: 1,
        }
    }
}

/// Reads a profile file: one argument per line, `#` comments, placeholders filled.
pub fn profile(name: &str, fill: &[(&str, String)]) -> Result<Vec<String>> {
    let path = workspace_root().join("qemu").join(name);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut arguments = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut argument = line.to_string();
        for (key, value) in fill {
            argument = argument.replace(&format!("{{{key}}}"), value);
        }
        if argument.contains('{') {
            bail!("{}: unfilled placeholder in '{argument}'", path.display());
        }
        arguments.push(argument);
    }
    Ok(arguments)
}

/// The full QEMU argument list for `kernel` on `machine`, plus the `extra` profile.
pub fn arguments(machine: &Machine, kernel: &Path, extra_profile: &str) -> Result<Vec<String>> {
    let machine_options: String = machine
        .options
        .iter()
        .map(|option| format!(",{option}"))
        .collect();
    let fill = [
        ("machine_options", machine_options),
        ("cpu", machine.cpu.clone()),
        ("memory", machine.memory.clone()),
        ("cpus", machine.cpus.to_string()),
        ("kernel", kernel.display().to_string()),
    ];
    let mut arguments = profile("virt.args", &fill)?;
    arguments.extend(profile(extra_profile, &fill)?);
    Ok(arguments)
}

/// Shell-quoted command line, for printing.
pub fn display_command(arguments: &[String]) -> String {
    let mut line = QEMU.to_string();
    for argument in arguments {
        line.push(' ');
        if argument.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            line.push_str(&format!("'{}'", argument.replace('\'', "'\\''")));
        } else {
            line.push_str(argument);
        }
    }
    line
}

/// A QEMU child process that is killed when dropped (tests never leave one behind). Its stderr
/// is drained by a thread from the start, so a chatty QEMU can never fill the pipe and stall.
pub struct QemuProcess {
    /// The child.
    pub child: Child,
    /// The command line it was started with, shell-quoted (for transcripts and failures).
    pub command: String,
    errors: Arc<Mutex<Vec<u8>>>,
    drain: Option<JoinHandle<()>>,
}

impl QemuProcess {
    /// Starts QEMU with piped stdin and stdout.
    pub fn spawn(arguments: &[String]) -> Result<Self> {
        Self::spawn_in(None, arguments)
    }

    /// Starts QEMU inside network namespace `namespace` (so its tap devices are there).
    pub fn spawn_in(namespace: Option<&str>, arguments: &[String]) -> Result<Self> {
        let (mut command, shown) = match namespace {
            Some(name) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", name, QEMU]);
                (
                    command,
                    format!("ip netns exec {name} {}", display_command(arguments)),
                )
            }
            None => (Command::new(QEMU), display_command(arguments)),
        };
        command.args(arguments);
        Self::spawn_command(command, shown)
    }

    /// Starts `command` (QEMU, or a stand-in in xtask's own tests) with piped stdio; `shown`
    /// is its command line for transcripts.
    pub fn spawn_command(mut command: Command, shown: String) -> Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let drain = child.stderr.take().map(|mut stderr| {
            let errors = Arc::clone(&errors);
            std::thread::spawn(move || {
                let mut buffer = [0u8; 1024];
                while let Ok(count) = stderr.read(&mut buffer) {
                    if count == 0 {
                        break;
                    }
                    if let Ok(mut errors) = errors.lock() {
                        errors.extend_from_slice(&buffer[..count]);
                    }
                }
            })
        });
        Ok(Self {
            child,
            command: shown,
            errors,
            drain,
        })
    }

    /// Stops QEMU if it still runs (a power cut) and waits for it.
    pub fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// QEMU's error output so far; all of it once QEMU has exited.
    pub fn stderr_text(&mut self) -> String {
        if let Ok(Some(_)) = self.child.try_wait()
            && let Some(drain) = self.drain.take()
        {
            // The pipe closes when QEMU is gone; a process it left behind could keep it open,
            // so wait a little, not forever.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
            while !drain.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            if drain.is_finished() {
                let _ = drain.join();
            }
        }
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        String::from_utf8_lossy(&errors).into_owned()
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test with no NIC must not get QEMU's default virtio-net-pci NIC: its option ROM is
    /// not installed with `--no-install-recommends`, and every such boot failed on a fresh CI
    /// machine ("failed to find romfile efi-virtio.rom").
    #[test]
    fn no_default_nic_on_any_command_line() {
        let arguments = arguments(&Machine::default(), Path::new("Image"), "test.args")
            .unwrap_or_else(|error| panic!("profile: {error}"));
        assert!(
            arguments.windows(2).any(|pair| pair == ["-nic", "none"]),
            "{arguments:?}"
        );
    }
}
