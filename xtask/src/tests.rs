//! `cargo xtask test`: host unit tests, then the in-QEMU test scripts.
//!
//! Each script boots an image, drives the console, and passes only if every expected line
//! appears within its deadline AND QEMU exits with the status the guest set (semihosting),
//! and its whole console transcript passes the end checks (`reject`, no Debug output).
//! Flash-boot scripts (`boot-bank-*`, `dpuboot-*`, `config-*` but `config-direct-*`) run in
//! `flashtests`; the format is shared (`script`), and so is the console (`session`).

use crate::install;
use crate::qemu;
use crate::report::{self, Outcome};
use crate::script::{self, Key, Run, Step};
use crate::session::Session;
use crate::{BuildOptions, build, workspace_root};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The steps only `-kernel` tests have (network peers and the QEMU monitor).
#[derive(Clone)]
enum NetStep {
    /// `tcp-hold: N`, `tcp-trickle: N`, `http-each: COUNT PATH -> TEXT` (see `hold`).
    Hold(HoldStep),
    /// `http-get: PATH -> TEXT`: `GET path` from the host through the forwarded port; retried
    /// until `expected` is in the response (status line, headers or body) or the deadline.
    HttpGet { path: String, expected: String },
    /// `host: COMMAND -> TEXT`: a shell command in the test's network namespace (or, from
    /// `peer-host: PEER COMMAND -> TEXT`, in peer `PEER`'s own namespace); it must succeed and
    /// print `expected`.
    Host {
        peer: Option<String>,
        command: String,
        expected: String,
    },
    /// `loss-at-most: PERCENT`: the `N% packet loss` in the last `host` output is at most this.
    LossAtMost(f64),
    /// `monitor: COMMAND`: a QEMU monitor (HMP) command, e.g. `set_link mgmt off`.
    Monitor(String),
    /// The management API's steps (`curl:`, `curl-lacks:`, `schemathesis:`; see `apitests`).
    Api(crate::apitests::Step),
}

/// The steps of `hold`: connections held open, and requests that may not be retried.
#[derive(Clone)]
enum HoldStep {
    Idle(usize),
    Trickle(usize),
    Each {
        count: usize,
        path: String,
        expected: String,
    },
    /// `http-pipeline: [half-close] [token=SECRET] PATH PATH ... -> TEXT && TEXT ...`.
    Pipeline {
        half_close: bool,
        token: Option<String>,
        paths: Vec<String>,
        expected: Vec<String>,
    },
}

/// The settings only `-kernel` tests have.
#[derive(Default)]
struct NetSettings {
    /// Extra QEMU arguments (`qemu:` lines), with `{http_port}` filled at run time.
    extra_arguments: Vec<String>,
    /// Kernel command line (`append:`), passed with `-append`.
    append: Option<String>,
    /// Tap devices (`tap: NAME ADDRESS/PREFIX`) in a network namespace QEMU runs in.
    taps: Vec<(String, String)>,
    /// Peer hosts (`peer: NAME ADDRESS/PREFIX [MAC]`): tap NAME for QEMU, the address (and
    /// MAC) in a namespace of the peer's own (see `netns.rs`).
    peers: Vec<crate::netns::Peer>,
    /// Whether `monitor:` steps need a QEMU monitor socket.
    uses_monitor: bool,
}

/// A parsed `-kernel` test script.
pub(crate) struct Script {
    script: script::Script<NetStep>,
    settings: NetSettings,
}

pub(crate) fn parse_script(path: &Path) -> Result<Script> {
    let text = std::fs::read_to_string(path)?;
    let mut settings = NetSettings::default();
    let parsed = script::parse(path, &text, |key, value| {
        Ok(match key {
            "append" => {
                settings.append = Some(value.to_string());
                Key::Setting
            }
            "qemu" => {
                let words = value.split_whitespace().map(str::to_string);
                settings.extra_arguments.extend(words);
                Key::Setting
            }
            "tap" => {
                let (tap, address) = value
                    .trim()
                    .split_once(' ')
                    .context("tap: <name> <address/prefix>")?;
                settings
                    .taps
                    .push((tap.to_string(), address.trim().to_string()));
                Key::Setting
            }
            "peer" => {
                let mut words = value.split_whitespace().map(str::to_string);
                let (Some(tap), Some(address), mac, None) =
                    (words.next(), words.next(), words.next(), words.next())
                else {
                    bail!("peer: <tap name> <address/prefix> [mac]");
                };
                settings.peers.push((tap, address, mac));
                Key::Setting
            }
            "host" => {
                let (command, expected) = value
                    .split_once(" -> ")
                    .context("host: <command> -> <text>")?;
                Key::Step(NetStep::Host {
                    peer: None,
                    command: command.to_string(),
                    expected: expected.to_string(),
                })
            }
            "peer-host" => {
                let (peer, rest) = value
                    .trim()
                    .split_once(' ')
                    .context("peer-host: <peer> <command> -> <text>")?;
                let (command, expected) = rest
                    .split_once(" -> ")
                    .context("peer-host: <peer> <command> -> <text>")?;
                Key::Step(NetStep::Host {
                    peer: Some(peer.to_string()),
                    command: command.to_string(),
                    expected: expected.to_string(),
                })
            }
            "loss-at-most" => {
                let percent = value.trim().trim_end_matches('%').parse()?;
                Key::Step(NetStep::LossAtMost(percent))
            }
            "monitor" => {
                settings.uses_monitor = true;
                Key::Step(NetStep::Monitor(value.to_string()))
            }
            "tcp-hold" => Key::Step(NetStep::Hold(HoldStep::Idle(value.trim().parse()?))),
            "tcp-trickle" => Key::Step(NetStep::Hold(HoldStep::Trickle(value.trim().parse()?))),
            "http-each" => {
                let usage = "http-each: <count> <path> -> <text>";
                let (request, expected) = value.split_once(" -> ").context(usage)?;
                let (count, request_path) = request.trim().split_once(' ').context(usage)?;
                Key::Step(NetStep::Hold(HoldStep::Each {
                    count: count.parse()?,
                    path: request_path.trim().to_string(),
                    expected: expected.to_string(),
                }))
            }
            "http-pipeline" => {
                let usage = "http-pipeline: [half-close] [token=SECRET] <path> <path> ... -> <text> [&& <text> ...]";
                let (request, expected) = value.split_once(" -> ").context(usage)?;
                let mut half_close = false;
                let mut token = None;
                let mut paths = Vec::new();
                for word in request.split_whitespace() {
                    match word.strip_prefix("token=") {
                        Some(secret) => token = Some(secret.to_string()),
                        None if word == "half-close" => half_close = true,
                        None => paths.push(word.to_string()),
                    }
                }
                let expected: Vec<String> = expected
                    .split(" && ")
                    .map(str::to_string)
                    .filter(|text| !text.is_empty())
                    .collect();
                if paths.is_empty() || expected.is_empty() {
                    bail!("{usage}");
                }
                Key::Step(NetStep::Hold(HoldStep::Pipeline {
                    half_close,
                    token,
                    paths,
                    expected,
                }))
            }
            "http-get" => {
                let (request_path, expected) = value
                    .split_once(" -> ")
                    .context("http-get: <path> -> <text>")?;
                Key::Step(NetStep::HttpGet {
                    path: request_path.trim().to_string(),
                    expected: expected.to_string(),
                })
            }
            _ => match crate::apitests::parse_step(key, value)? {
                Some(step) => Key::Step(NetStep::Api(step)),
                None => Key::Unknown,
            },
        })
    })?;
    check_order(&parsed)?;
    Ok(Script {
        script: parsed,
        settings,
    })
}

/// What the parser cannot see line by line: a `-kernel` test's last step is its `exit`, and
/// `loss-at-most` follows the `host` step whose output it reads.
fn check_order(script: &script::Script<NetStep>) -> Result<()> {
    script.require_exit()?;
    if !matches!(
        script.steps.last().map(|line| &line.step),
        Some(Step::Exit(_))
    ) {
        bail!(
            "{}: the last step must be 'exit: <status>' (nothing may run after QEMU exits)",
            script.name
        );
    }
    for (index, line) in script.steps.iter().enumerate() {
        if let Step::Runner(NetStep::LossAtMost(_)) = line.step {
            let previous = script.steps[..index]
                .iter()
                .rev()
                .find(|line| !matches!(line.step, Step::Timeout(_)));
            if !matches!(
                previous.map(|line| &line.step),
                Some(Step::Runner(NetStep::Host { .. }))
            ) {
                bail!("{line}: 'loss-at-most' must follow the 'host' step whose output it reads");
            }
        }
    }
    Ok(())
}

/// The `N% packet loss` figure of a ping summary.
fn packet_loss(output: &str) -> Option<f64> {
    let pattern = regex::Regex::new(r"([0-9]+(?:\.[0-9]+)?)% packet loss").ok()?;
    pattern.captures_iter(output).last()?[1].parse().ok()
}

fn run_script(script: &Script, kernel: &Path, elf: &Path) -> Outcome {
    let mut commands = Vec::new();
    let mut log = String::new();
    let result = run_steps(script, kernel, elf, &mut commands, &mut log);
    Outcome {
        result,
        commands,
        log,
    }
}

fn run_steps(
    script: &Script,
    kernel: &Path,
    elf: &Path,
    commands: &mut Vec<String>,
    log: &mut String,
) -> Result<()> {
    let settings = &script.settings;
    let http_port = crate::run::free_port()?;
    // A second forwarded port, for a test that reaches port 80 through a data port's network.
    let data_http_port = crate::run::free_port()?;
    let mut extra: Vec<String> = settings
        .extra_arguments
        .iter()
        .map(|argument| {
            argument
                .replace("{http_port}", &http_port.to_string())
                .replace("{data_http_port}", &data_http_port.to_string())
        })
        .collect();
    crate::apitests::fill_arguments(&mut extra, &script.script.name, kernel)?;
    if let Some(append) = &settings.append {
        extra.extend(["-append".to_string(), append.clone()]);
    }
    let monitor_path = std::env::temp_dir().join(format!(
        "dpu-monitor-{}-{}.sock",
        std::process::id(),
        http_port
    ));
    if settings.uses_monitor {
        extra.extend([
            "-monitor".to_string(),
            format!("unix:{},server=on,wait=off", monitor_path.display()),
        ]);
    }
    let namespace = if settings.taps.is_empty() && settings.peers.is_empty() {
        None
    } else {
        Some(crate::netns::Namespace::create(
            &settings.taps,
            &settings.peers,
        )?)
    };
    let mut arguments = qemu::arguments(&script.script.machine, kernel, "test.args")?;
    arguments.extend(extra);
    let mut session =
        Session::start_arguments_in(namespace.as_ref().map(|n| n.name.as_str()), &arguments, elf)?;
    commands.push(session.command().to_string());
    let mut run = Run::new();
    run.acted_at(session.started);
    let mut last_host_output = String::new();
    let mut api = crate::apitests::ApiContext {
        http_port,
        data_http_port,
        kernel,
        last_output: String::new(),
        notes: String::new(),
    };
    let mut notes = String::new();
    let mut result = Ok(());
    for line in &script.script.steps {
        run.trace(line);
        let outcome = match &line.step {
            Step::Runner(NetStep::Api(step)) => {
                let timeout = run.timeout();
                let outcome = crate::apitests::run_step(step, &line.source, &mut api, timeout);
                run.acted_at(Instant::now());
                outcome
            }
            Step::Runner(step) => net_step(
                step,
                &mut run,
                namespace.as_ref(),
                &monitor_path,
                http_port,
                &mut last_host_output,
            )
            .map(|note| {
                if let Some(note) = note {
                    notes.push_str(&format!("--- {line}: {note}\n"));
                }
            }),
            _ => run.console_step(&mut session, line),
        };
        if let Err(error) = outcome {
            result = Err(error.context(line.to_string()));
            break;
        }
    }
    let errors = session.stderr();
    // Notes first, so the log (and a failure's tail) ends with the console.
    log.push_str(&notes);
    log.push_str(&api.notes);
    log.push_str(&run.notes());
    log.push_str(&report::boot_log(
        session.command(),
        &session.transcript,
        &errors,
    ));
    let _ = std::fs::remove_file(&monitor_path);
    crate::hold::release(http_port);
    result
        .and_then(|()| run.finish(&session.transcript))
        .and_then(|()| report::check_words(&session.transcript))
}

fn net_step(
    step: &NetStep,
    run: &mut Run,
    namespace: Option<&crate::netns::Namespace>,
    monitor_path: &Path,
    http_port: u16,
    last_host_output: &mut String,
) -> Result<Option<String>> {
    let timeout = run.timeout();
    match step {
        NetStep::Hold(step) => {
            let note = match step {
                HoldStep::Idle(count) => crate::hold::hold(http_port, *count)?,
                HoldStep::Trickle(count) => crate::hold::trickle(http_port, *count)?,
                HoldStep::Each {
                    count,
                    path,
                    expected,
                } => crate::hold::each(http_port, *count, path, expected)?,
                HoldStep::Pipeline {
                    half_close,
                    token,
                    paths,
                    expected,
                } => crate::hold::pipeline(
                    http_port,
                    crate::hold::Pipelined {
                        half_close: *half_close,
                        token: token.as_deref(),
                        paths,
                    },
                    expected,
                    timeout,
                )?,
            };
            run.acted_at(Instant::now());
            Ok(Some(note))
        }
        NetStep::Host {
            peer,
            command,
            expected,
        } => {
            let namespace =
                namespace.context("host: steps need a tap: line (a network namespace)")?;
            *last_host_output = host_until(namespace, peer.as_deref(), command, expected, timeout)?;
            run.acted_at(Instant::now());
            // Keep the end of the output (a ping summary) in the log.
            let lines: Vec<&str> = last_host_output.trim_end().lines().collect();
            let tail = lines[lines.len().saturating_sub(3)..].join("\n    ");
            Ok(Some(format!("output ends:\n    {tail}")))
        }
        NetStep::LossAtMost(limit) => {
            let loss = packet_loss(last_host_output)
                .context("the last host output has no 'N% packet loss' summary")?;
            if loss > *limit {
                bail!("{loss}% packet loss, more than the {limit}% allowed");
            }
            Ok(Some(format!("measured {loss}% packet loss")))
        }
        NetStep::Monitor(command) => {
            let sent = monitor_command(monitor_path, command)?;
            run.acted_at(sent);
            Ok(None)
        }
        NetStep::HttpGet { path, expected } => {
            http_get_until(http_port, path, expected, timeout)?;
            run.acted_at(Instant::now());
            Ok(None)
        }
        // Run by `run_steps` itself (they keep their own state).
        NetStep::Api(_) => Ok(None),
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
    // Everything the tests need, before the first of them runs (the imgtool host tests too).
    let needs = if host_only {
        install::HOST_TEST.to_vec()
    } else {
        crate::toolchain::ensure_targets()?;
        install::test_needs(install::is_root())
    };
    install::ensure(&needs, "cargo xtask test")?;
    let stale = crate::netns::remove_stale();
    if !stale.is_empty() {
        println!(
            "removed {} network namespaces left by killed test runs: {}",
            stale.len(),
            stale.join(" ")
        );
    }
    let (mut passed, mut failed) = if filter.is_none() {
        host_tests()?
    } else {
        (0, 0)
    };
    let mut skipped = 0;
    if !host_only {
        // The key first: the kernel's build script compiles in its public half.
        crate::image::dev_key()?;
        let artifacts = build::build_kernel(options)?;
        let logs = workspace_root().join("target").join("test-logs");
        // This run's transcripts only, every test's (passed or failed).
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs)?;
        println!("== in-QEMU tests ==");
        for path in scripts(filter)? {
            let script = parse_script(&path)?;
            let (name, title) = (&script.script.name, &script.script.title);
            let started = Instant::now();
            if !(script.settings.taps.is_empty() && script.settings.peers.is_empty())
                && let Some(reason) = crate::netns::unavailable_reason()
            {
                skipped += 1;
                println!("SKIP {name:<28}          {title}: {reason}");
                continue;
            }
            let outcome = run_script(&script, &artifacts.image, &artifacts.elf);
            let elapsed = started.elapsed().as_secs_f64();
            if report::print(name, title, elapsed, &outcome, &logs) {
                passed += 1;
            } else {
                failed += 1;
            }
        }
        let (flash_passed, flash_failed) = crate::flashtests::run_all(options, filter, &logs)?;
        passed += flash_passed;
        failed += flash_failed;
        let (pair_passed, pair_failed, pair_skipped) =
            crate::pairtests::run_all(options, filter, &logs)?;
        passed += pair_passed;
        failed += pair_failed;
        skipped += pair_skipped;
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
    peer: Option<&str>,
    command: &str,
    expected: &str,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        let (success, output) = namespace.run_in(peer, command)?;
        if success && output.contains(expected) {
            return Ok(output);
        }
        last = output;
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("`{command}` never printed '{expected}'; last output:\n{last}")
}

/// Sends one HMP command to QEMU's monitor socket and waits for the next prompt; returns when
/// the command was written (what its deadlines count from).
fn monitor_command(path: &Path, command: &str) -> Result<Instant> {
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
    let sent = Instant::now();
    stream.write_all(format!("{command}\n").as_bytes())?;
    read_until_prompt(&mut stream, &mut seen, 2, deadline)?;
    Ok(sent)
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

#[cfg(test)]
mod script_tests {
    use super::*;

    #[test]
    fn every_script_in_the_tree_parses() {
        let directory = workspace_root().join("qemu").join("tests");
        let mut count = 0;
        for entry in std::fs::read_dir(directory).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "test") {
                continue;
            }
            if crate::flashtests::is_flash_test(&path) {
                crate::flashtests::parse_for_test(&path).unwrap();
            } else {
                parse_script(&path).unwrap();
            }
            count += 1;
        }
        assert!(count > 30, "{count} scripts");
    }

    #[test]
    fn loss_is_read_from_the_ping_summary() {
        let summary = "--- 10.9.0.2 ping statistics ---\n\
            10000 packets transmitted, 9990 received, 0.1% packet loss, time 1234ms\n";
        assert_eq!(packet_loss(summary), Some(0.1));
        assert_eq!(
            packet_loss("3 packets transmitted, 3 received, 0% packet loss"),
            Some(0.0)
        );
        assert_eq!(packet_loss("no summary"), None);
    }

    #[test]
    fn loss_at_most_must_follow_a_host_step() {
        let write = |name: &str, text: &str| {
            let path =
                std::env::temp_dir().join(format!("xtask-{}-{name}.test", std::process::id()));
            std::fs::write(&path, text).unwrap();
            path
        };
        let good = write(
            "good",
            "tap: tap0 10.9.0.1/24\nhost: ping -c 1 x -> 1 received\nloss-at-most: 1\nexit: 0\n",
        );
        assert!(parse_script(&good).is_ok());
        let bad = write("bad", "send: x\nloss-at-most: 1\nexit: 0\n");
        assert!(parse_script(&bad).is_err());
        let late = write("late", "exit: 0\nsend: x\n");
        assert!(parse_script(&late).is_err());
        for path in [good, bad, late] {
            let _ = std::fs::remove_file(path);
        }
    }

    #[test]
    fn peer_keys() {
        let path = std::env::temp_dir().join(format!("xtask-{}-peer.test", std::process::id()));
        std::fs::write(
            &path,
            "peer: tap1 10.10.0.1/24 52:54:00:aa:00:01\npeer: tap2 10.10.0.2/24\n\
             peer-host: tap1 ping -c 1 10.10.0.2 -> 1 received\nloss-at-most: 1\nexit: 0\n",
        )
        .unwrap();
        let script = parse_script(&path).unwrap();
        assert_eq!(
            script.settings.peers,
            [
                (
                    "tap1".to_string(),
                    "10.10.0.1/24".to_string(),
                    Some("52:54:00:aa:00:01".to_string())
                ),
                ("tap2".to_string(), "10.10.0.2/24".to_string(), None),
            ]
        );
        assert!(matches!(
            script.script.steps.first().map(|line| &line.step),
            Some(Step::Runner(NetStep::Host { peer: Some(peer), command, expected }))
                if peer == "tap1" && command == "ping -c 1 10.10.0.2" && expected == "1 received"
        ));
        for bad in [
            "peer: tap1\nexit: 0\n",
            "peer: a b c d\nexit: 0\n",
            "peer-host: tap1\nexit: 0\n",
        ] {
            std::fs::write(&path, bad).unwrap();
            assert!(parse_script(&path).is_err(), "{bad}");
        }
        let _ = std::fs::remove_file(path);
    }
}
