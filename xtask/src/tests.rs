//! `cargo xtask test`: host unit tests, then the in-QEMU test scripts in `qemu/tests/`.
//!
//! Each script boots an image, drives the console, and passes only if every expected line
//! appears within its deadline AND QEMU exits with the status the guest set (semihosting).

use crate::qemu::{self, Machine, QemuProcess};
use crate::serial::{Output, Splitter};
use crate::{BuildOptions, build, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// A running guest whose console is captured into a transcript.
pub struct Session {
    process: QemuProcess,
    input: ChildStdin,
    chunks: Receiver<Vec<u8>>,
    splitter: Splitter,
    /// Everything seen so far: text, and decoded log lines on their own lines.
    pub transcript: String,
    /// Where the next `expect` starts searching.
    cursor: usize,
    /// Whether QEMU's output has ended.
    ended: bool,
    /// When QEMU was started.
    pub started: Instant,
}

impl Session {
    /// Starts QEMU on `machine` with the test profile.
    pub fn start(machine: &Machine, kernel: &Path, elf: &Path) -> Result<Self> {
        Self::start_with(machine, kernel, elf, &[])
    }

    /// Starts QEMU on `machine` with the test profile plus `extra` arguments.
    pub fn start_with(
        machine: &Machine,
        kernel: &Path,
        elf: &Path,
        extra: &[String],
    ) -> Result<Self> {
        let mut arguments = qemu::arguments(machine, kernel, "test.args")?;
        arguments.extend(extra.iter().cloned());
        Self::start_arguments(&arguments, elf)
    }

    /// Starts QEMU with exactly `arguments` (e.g. a flash boot through dpuboot).
    pub fn start_arguments(arguments: &[String], elf: &Path) -> Result<Self> {
        Self::start_arguments_in(None, arguments, elf)
    }

    /// Starts QEMU with `arguments` inside network namespace `namespace` (for tap peers).
    pub fn start_arguments_in(
        namespace: Option<&str>,
        arguments: &[String],
        elf: &Path,
    ) -> Result<Self> {
        let started = Instant::now();
        let mut process = QemuProcess::spawn_in(namespace, arguments)?;
        let input = process.child.stdin.take().context("no stdin")?;
        let mut output = process.child.stdout.take().context("no stdout")?;
        let (sender, chunks) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(count) = output.read(&mut buffer) {
                if count == 0 || sender.send(buffer[..count].to_vec()).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            process,
            input,
            chunks,
            splitter: Splitter::new(elf)?,
            transcript: String::new(),
            cursor: 0,
            ended: false,
            started,
        })
    }

    fn absorb(&mut self, bytes: &[u8]) {
        for output in self.splitter.feed(bytes) {
            match output {
                Output::Text(text) => self.transcript.push_str(&String::from_utf8_lossy(&text)),
                Output::Log(line) => {
                    self.transcript.push('\n');
                    self.transcript.push_str(&line);
                    self.transcript.push('\n');
                }
                Output::BadFrame(length) => self
                    .transcript
                    .push_str(&format!("\n[undecodable defmt frame, {length} bytes]\n")),
            }
        }
    }

    /// Receives output until `deadline`; false once QEMU's output has ended.
    fn pump(&mut self, deadline: Instant) -> bool {
        if self.ended {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        match self.chunks.recv_timeout(deadline - now) {
            Ok(bytes) => {
                self.absorb(&bytes);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
        }
    }

    /// Waits until `text` appears after the previous match.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(position) = self.transcript[self.cursor..].find(text) {
                self.cursor += position + text.len();
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("'{text}' did not appear within {timeout:?}");
            }
            if !self.pump(deadline) {
                if let Some(position) = self.transcript[self.cursor..].find(text) {
                    self.cursor += position + text.len();
                    return Ok(());
                }
                bail!("QEMU ended before '{text}' appeared");
            }
        }
    }

    /// Waits until `prefix` followed by a number appears after the previous match; returns it.
    pub fn expect_number(&mut self, prefix: &str, timeout: Duration) -> Result<f64> {
        let pattern = regex::Regex::new(&format!(
            r"{}\s*([0-9]+(?:\.[0-9]+)?)[^0-9.]",
            regex::escape(prefix)
        ))?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = pattern.captures(&self.transcript[self.cursor..]) {
                let whole = found.get(0).context("match")?;
                let value: f64 = found[1].parse()?;
                self.cursor += whole.end();
                return Ok(value);
            }
            if Instant::now() >= deadline || !self.pump(deadline) {
                bail!("'{prefix}<number>' did not appear within {timeout:?}");
            }
        }
    }

    /// Sends raw bytes to the console.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.input.write_all(bytes)?;
        self.input.flush()?;
        Ok(())
    }

    /// Waits for QEMU to exit; returns its status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<i32> {
        let deadline = Instant::now() + timeout;
        while self.pump(deadline) {
            if Instant::now() >= deadline {
                bail!("QEMU did not exit within {timeout:?}");
            }
        }
        loop {
            if let Some(status) = self.process.child.try_wait()? {
                return status.code().context("QEMU was killed by a signal");
            }
            if Instant::now() >= deadline {
                bail!("QEMU did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// QEMU's own error output; stops QEMU first if it is still running (reading would block).
    pub fn stderr(&mut self) -> String {
        if let Ok(None) = self.process.child.try_wait() {
            let _ = self.process.child.kill();
            let _ = self.process.child.wait();
        }
        let mut errors = String::new();
        if let Some(mut stderr) = self.process.child.stderr.take() {
            let _ = stderr.read_to_string(&mut errors);
        }
        errors
    }
}

/// One step of a test script.
#[derive(Clone, Debug)]
enum Step {
    Timeout(f64),
    Expect(String),
    Reject(String),
    Send(String),
    SendBytes(Vec<u8>),
    CaptureNumber(String),
    ExpectGreater(String),
    Exit(i32),
    /// `GET path` from the host through the forwarded port; retried until `expected` is in the
    /// response (status line, headers or body) or the deadline passes.
    HttpGet {
        path: String,
        expected: String,
    },
    /// Run a shell command in the test's network namespace; it must succeed and print `expected`.
    Host {
        command: String,
        expected: String,
    },
    /// A QEMU monitor (HMP) command, e.g. `set_link mgmt off`.
    Monitor(String),
}

/// A parsed `qemu/tests/*.test` script.
#[derive(Clone, Debug)]
struct Script {
    name: String,
    title: String,
    machine: Machine,
    /// Extra QEMU arguments (`qemu:` lines), with `{http_port}` filled at run time.
    extra_arguments: Vec<String>,
    /// Kernel command line (`append:`), passed with `-append`.
    append: Option<String>,
    /// Tap devices (`tap: NAME ADDRESS/PREFIX`) in a network namespace QEMU runs in.
    taps: Vec<(String, String)>,
    /// Whether `monitor:` steps need a QEMU monitor socket.
    uses_monitor: bool,
    steps: Vec<Step>,
}

fn parse_script(path: &Path) -> Result<Script> {
    let text = std::fs::read_to_string(path)?;
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("?")
        .to_string();
    let mut script = Script {
        name,
        title: String::new(),
        machine: Machine::default(),
        extra_arguments: Vec::new(),
        append: None,
        taps: Vec::new(),
        uses_monitor: false,
        steps: Vec::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (key, value) = line
            .split_once(':')
            .with_context(|| format!("{}:{}: expected 'key: value'", path.display(), number + 1))?;
        // One space after the colon separates; the rest is literal (prompts end in spaces).
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match key.trim() {
            "title" => script.title = value,
            "machine" => script
                .machine
                .options
                .extend(value.split(',').map(str::to_string)),
            "cpu" => script.machine.cpu = value,
            "memory" => script.machine.memory = value,
            "cpus" => script.machine.cpus = value.trim().parse()?,
            "timeout" => script.steps.push(Step::Timeout(value.trim().parse()?)),
            "expect" => script.steps.push(Step::Expect(value)),
            "reject" => script.steps.push(Step::Reject(value)),
            "send" => script.steps.push(Step::Send(value)),
            "send-bytes" => {
                let bytes = value
                    .split_whitespace()
                    .map(|pair| u8::from_str_radix(pair, 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .with_context(|| format!("{}:{}: bad hex", path.display(), number + 1))?;
                script.steps.push(Step::SendBytes(bytes));
            }
            "capture-number" => script.steps.push(Step::CaptureNumber(value)),
            "expect-greater" => script.steps.push(Step::ExpectGreater(value)),
            "exit" => script.steps.push(Step::Exit(value.trim().parse()?)),
            "append" => script.append = Some(value),
            "tap" => {
                let (tap, address) = value.trim().split_once(' ').with_context(|| {
                    format!(
                        "{}:{}: tap: <name> <address/prefix>",
                        path.display(),
                        number + 1
                    )
                })?;
                script
                    .taps
                    .push((tap.to_string(), address.trim().to_string()));
            }
            "host" => {
                let (command, expected) = value.split_once(" -> ").with_context(|| {
                    format!(
                        "{}:{}: host: <command> -> <text>",
                        path.display(),
                        number + 1
                    )
                })?;
                script.steps.push(Step::Host {
                    command: command.to_string(),
                    expected: expected.to_string(),
                });
            }
            "monitor" => {
                script.uses_monitor = true;
                script.steps.push(Step::Monitor(value));
            }
            "qemu" => script
                .extra_arguments
                .extend(value.split_whitespace().map(str::to_string)),
            "http-get" => {
                let (request_path, expected) = value.split_once(" -> ").with_context(|| {
                    format!(
                        "{}:{}: http-get: <path> -> <text>",
                        path.display(),
                        number + 1
                    )
                })?;
                script.steps.push(Step::HttpGet {
                    path: request_path.trim().to_string(),
                    expected: expected.to_string(),
                });
            }
            other => bail!("{}:{}: unknown key '{other}'", path.display(), number + 1),
        }
    }
    if !script
        .steps
        .iter()
        .any(|step| matches!(step, Step::Exit(_)))
    {
        bail!("{}: a test must end with 'exit: <status>'", path.display());
    }
    Ok(script)
}

fn run_script(script: &Script, kernel: &Path, elf: &Path) -> Result<(), (anyhow::Error, String)> {
    let http_port = match crate::run::free_port() {
        Ok(port) => port,
        Err(error) => return Err((error, String::new())),
    };
    let extra: Vec<String> = script
        .extra_arguments
        .iter()
        .map(|argument| argument.replace("{http_port}", &http_port.to_string()))
        .collect();
    let mut extra = extra;
    if let Some(append) = &script.append {
        extra.extend(["-append".to_string(), append.clone()]);
    }
    let monitor_path = std::env::temp_dir().join(format!(
        "dpu-monitor-{}-{}.sock",
        std::process::id(),
        http_port
    ));
    if script.uses_monitor {
        extra.extend([
            "-monitor".to_string(),
            format!("unix:{},server=on,wait=off", monitor_path.display()),
        ]);
    }
    let namespace = if script.taps.is_empty() {
        None
    } else {
        match crate::netns::Namespace::create(&script.taps) {
            Ok(namespace) => Some(namespace),
            Err(error) => return Err((error, String::new())),
        }
    };
    let started =
        qemu::arguments(&script.machine, kernel, "test.args").and_then(|mut arguments| {
            arguments.extend(extra.iter().cloned());
            Session::start_arguments_in(
                namespace.as_ref().map(|n| n.name.as_str()),
                &arguments,
                elf,
            )
        });
    let mut session = match started {
        Ok(session) => session,
        Err(error) => return Err((error, String::new())),
    };
    let mut timeout = Duration::from_secs(20);
    let mut captured = None;
    let mut last_sent: Option<String> = None;
    let mut result = Ok(());
    let trace = std::env::var_os("XTASK_TRACE").is_some();
    for step in &script.steps {
        if trace {
            eprintln!("  step {step:?}");
        }
        let outcome: Result<()> = match step {
            Step::Timeout(seconds) => {
                timeout = Duration::from_secs_f64(*seconds);
                Ok(())
            }
            Step::Expect(text) => session.expect(text, timeout),
            Step::Reject(text) => {
                if session.transcript.contains(text.as_str()) {
                    Err(anyhow::anyhow!("'{text}' appeared in the output"))
                } else {
                    Ok(())
                }
            }
            Step::Send(line) => {
                last_sent = Some(line.clone());
                session.send_bytes(format!("{line}\r").as_bytes())
            }
            Step::SendBytes(bytes) => session.send_bytes(bytes),
            Step::CaptureNumber(prefix) => session.expect_number(prefix, timeout).map(|value| {
                captured = Some(value);
            }),
            Step::ExpectGreater(prefix) => {
                // The value may legitimately not have moved yet (same timer tick): send the last
                // line again until it grows or the deadline passes. No fixed sleeps.
                let before = captured.unwrap_or(f64::MIN);
                let deadline = Instant::now() + timeout;
                let mut outcome = Err(anyhow::anyhow!(
                    "'{prefix}' never became greater than {before}"
                ));
                while Instant::now() < deadline {
                    match session.expect_number(prefix, deadline - Instant::now()) {
                        Ok(value) if value > before => {
                            outcome = Ok(());
                            break;
                        }
                        Ok(_) => match &last_sent {
                            Some(line) => {
                                if let Err(error) =
                                    session.send_bytes(format!("{line}\r").as_bytes())
                                {
                                    outcome = Err(error);
                                    break;
                                }
                            }
                            None => break,
                        },
                        Err(error) => {
                            outcome = Err(error);
                            break;
                        }
                    }
                }
                outcome
            }
            Step::Host { command, expected } => match &namespace {
                Some(namespace) => host_until(namespace, command, expected, timeout),
                None => Err(anyhow::anyhow!(
                    "host: steps need a tap: line (a network namespace)"
                )),
            },
            Step::Monitor(command) => monitor_command(&monitor_path, command),
            Step::HttpGet { path, expected } => http_get_until(http_port, path, expected, timeout),
            Step::Exit(expected) => session.wait_exit(timeout).and_then(|status| {
                if status == *expected {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!(
                        "QEMU exited with status {status}, expected {expected}"
                    ))
                }
            }),
        };
        if let Err(error) = outcome {
            result = Err(error.context(format!("step {step:?}")));
            break;
        }
    }
    let errors = session.stderr();
    match result {
        Ok(()) => Ok(()),
        Err(error) => Err((
            error,
            format!("{}\n--- QEMU stderr ---\n{}", session.transcript, errors),
        )),
    }
}

/// Runs `cargo test` for the host crates; returns (passed, failed) test counts.
fn host_tests() -> Result<(usize, usize)> {
    println!("== host unit tests (cargo test) ==");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .args([
            "test",
            "--no-fail-fast",
            "--workspace",
            "--exclude",
            "dpu-runtime",
            "--exclude",
            "dpuboot",
            "--exclude",
            "xtask",
        ])
        .output()
        .context("running cargo test")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary = regex::Regex::new(r"test result: \w+\. (\d+) passed; (\d+) failed")?;
    let (mut passed, mut failed) = (0, 0);
    for captures in summary.captures_iter(&stdout) {
        passed += captures[1].parse::<usize>()?;
        failed += captures[2].parse::<usize>()?;
    }
    if !output.status.success() {
        print!("{stdout}");
        eprint!("{stderr}");
        if failed == 0 {
            // A build failure: count it so the run cannot end green.
            failed = 1;
        }
    }
    println!("host: {passed} passed, {failed} failed");
    Ok((passed, failed))
}

/// Every test script, sorted by name.
fn scripts(filter: Option<&str>) -> Result<Vec<PathBuf>> {
    let directory = workspace_root().join("qemu").join("tests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "test"))
        .filter(|path| !crate::flashtests::is_flash_test(path))
        .filter(|path| filter.is_none_or(|f| path.to_string_lossy().contains(f)))
        .collect();
    paths.sort();
    Ok(paths)
}

/// `cargo xtask test [--host-only] [FILTER]`.
pub fn test(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let host_only = arguments.iter().any(|a| a == "--host-only");
    let filter = arguments
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(String::as_str);
    let (mut passed, mut failed) = if filter.is_none() {
        host_tests()?
    } else {
        (0, 0)
    };
    let mut skipped = 0;
    if !host_only {
        qemu::ensure_installed()?;
        let artifacts = build::build_kernel(options)?;
        let logs = workspace_root().join("target").join("test-logs");
        // Transcripts of this run's failures only.
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs)?;
        println!("== in-QEMU tests ==");
        for path in scripts(filter)? {
            let script = parse_script(&path)?;
            let started = Instant::now();
            if !script.taps.is_empty()
                && let Some(reason) = crate::netns::unavailable_reason()
            {
                skipped += 1;
                println!(
                    "SKIP {:<28}          {}: {reason}",
                    script.name, script.title
                );
                continue;
            }
            match run_script(&script, &artifacts.image, &artifacts.elf) {
                Ok(()) => {
                    passed += 1;
                    println!(
                        "PASS {:<28} {:>6.2}s  {}",
                        script.name,
                        started.elapsed().as_secs_f64(),
                        script.title
                    );
                }
                Err((error, transcript)) => {
                    failed += 1;
                    let log = logs.join(format!("{}.log", script.name));
                    std::fs::write(&log, &transcript)?;
                    println!(
                        "FAIL {:<28} {:>6.2}s  {}",
                        script.name,
                        started.elapsed().as_secs_f64(),
                        script.title
                    );
                    println!("     {error:#}");
                    println!("     console transcript: {}", log.display());
                    let tail: Vec<&str> = transcript.lines().rev().take(15).collect();
                    for line in tail.iter().rev() {
                        println!("     | {line}");
                    }
                }
            }
        }
        let (flash_passed, flash_failed) = crate::flashtests::run_all(options, filter, &logs)?;
        passed += flash_passed;
        failed += flash_failed;
    }
    if skipped > 0 {
        println!("{skipped} skipped (see SKIP lines for why)");
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// Host-side HTTP GET with curl through QEMU's port forward, retried until `expected` appears.
fn http_get_until(port: u16, path: &str, expected: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut last = String::new();
    while Instant::now() < deadline {
        let output = Command::new("curl")
            .args([
                "--silent",
                "--show-error",
                "--include",
                "--max-time",
                "3",
                &url,
            ])
            .output()
            .context("running curl (apt-get install curl)")?;
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if output.status.success() && last.contains(expected) {
            return Ok(());
        }
        // The guest may still be waiting for its DHCP lease: ask again (bounded by the deadline).
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("GET {path} never contained '{expected}'; last answer: {last}")
}

/// Runs `command` in the namespace until it succeeds with `expected` in its output (or deadline).
fn host_until(
    namespace: &crate::netns::Namespace,
    command: &str,
    expected: &str,
    timeout: Duration,
) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        let (success, output) = namespace.run(command)?;
        if success && output.contains(expected) {
            return Ok(());
        }
        last = output;
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("`{command}` never printed '{expected}'; last output:\n{last}")
}

/// Sends one HMP command to QEMU's monitor socket and waits for the next prompt.
fn monitor_command(path: &Path, command: &str) -> Result<()> {
    use std::os::unix::net::UnixStream;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut stream = loop {
        match UnixStream::connect(path) {
            Ok(stream) => break stream,
            Err(error) if Instant::now() >= deadline => {
                return Err(error).context("connecting to the QEMU monitor");
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut seen = String::new();
    read_until_prompt(&mut stream, &mut seen, 1, deadline)?;
    stream.write_all(format!("{command}\n").as_bytes())?;
    read_until_prompt(&mut stream, &mut seen, 2, deadline)?;
    Ok(())
}

fn read_until_prompt(
    stream: &mut std::os::unix::net::UnixStream,
    seen: &mut String,
    prompts: usize,
    deadline: Instant,
) -> Result<()> {
    let mut buffer = [0u8; 1024];
    while seen.matches("(qemu)").count() < prompts {
        if Instant::now() >= deadline {
            bail!("QEMU monitor did not answer; saw: {seen}");
        }
        match stream.read(&mut buffer) {
            Ok(0) => bail!("QEMU monitor closed; saw: {seen}"),
            Ok(count) => seen.push_str(&String::from_utf8_lossy(&buffer[..count])),
            Err(_) => {}
        }
    }
    Ok(())
}
