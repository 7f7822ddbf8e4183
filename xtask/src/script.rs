//! The `qemu/tests/*.test` format: one parser, the shared console steps.
//!
//! Keys every script may use are parsed here; a runner adds its own keys (network steps for
//! `-kernel` tests, flash and power steps for flash tests) through a callback. The console
//! steps run here too, so `expect`, `absent`, `reject`, `exit` mean the same in both runners.

use crate::qemu::Machine;
use crate::session::Session;
use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

/// Deadline of each step until a `timeout:` line changes it.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Deadlines below this are reported in the log with the time they actually took.
const TIGHT: Duration = Duration::from_secs(1);

/// One step of a script; `E` is the runner's own steps.
#[derive(Clone)]
pub enum Step<E> {
    /// `timeout: SECONDS` for the following steps.
    Timeout(Duration),
    /// `expect: TEXT` after the previous match.
    Expect(String),
    /// `reject: TEXT` nowhere in the whole test's console output (checked at the end).
    Reject(String),
    /// `absent: TEXT` not between the last input and the previous `expect` match.
    Absent(String),
    /// `send: LINE`, typed and ended with CR.
    Send(String),
    /// `send-bytes: HEX HEX ...`.
    SendBytes(Vec<u8>),
    /// `capture-number: PREFIX`.
    CaptureNumber(String),
    /// `expect-greater: PREFIX`, compared with the last capture.
    ExpectGreater(String),
    /// `number-at-most: PREFIX -> LIMIT`: the number after PREFIX is at most LIMIT.
    NumberAtMost(String, f64),
    /// `exit: STATUS`.
    Exit(i32),
    /// A runner's own step.
    Runner(E),
}

/// A step with the script line it came from (for messages).
#[derive(Clone)]
pub struct Line<E> {
    /// The step.
    pub step: Step<E>,
    /// `path:line: text` of its source line.
    pub source: String,
}

impl<E> fmt::Display for Line<E> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.source)
    }
}

/// A parsed script.
pub struct Script<E> {
    /// File stem, e.g. `console-commands`.
    pub name: String,
    /// `title:`.
    pub title: String,
    /// `machine:`, `cpu:`, `memory:`, `cpus:`.
    pub machine: Machine,
    /// The steps in order.
    pub steps: Vec<Line<E>>,
}

/// What a runner made of a key it was offered.
pub enum Key<E> {
    /// A step of its own.
    Step(E),
    /// A setting it stored itself.
    Setting,
    /// Not one of its keys.
    Unknown,
}

/// Splits `key: value`; one space after the colon separates, the rest is literal (prompts end
/// in spaces). A line without a colon is a bare key (`boot`).
fn split_line(line: &str) -> (&str, &str) {
    let (key, value) = line.split_once(':').unwrap_or((line, ""));
    (key.trim(), value.strip_prefix(' ').unwrap_or(value))
}

fn hex_bytes(value: &str) -> Result<Vec<u8>> {
    value
        .split_whitespace()
        .map(|pair| u8::from_str_radix(pair, 16).with_context(|| format!("bad hex '{pair}'")))
        .collect()
}

/// Parses script `text` (from `path`); `runner` is offered every key this module does not know.
pub fn parse<E>(
    path: &Path,
    text: &str,
    mut runner: impl FnMut(&str, &str) -> Result<Key<E>>,
) -> Result<Script<E>> {
    let mut script = Script {
        name: path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("?")
            .to_string(),
        title: String::new(),
        machine: Machine::default(),
        steps: Vec::new(),
    };
    let mut captured = false;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let source = format!("{}:{}: {}", path.display(), number + 1, line.trim_end());
        let (key, value) = split_line(line);
        let parsed = (|| -> Result<Option<Step<E>>> {
            Ok(Some(match key {
                "title" => {
                    script.title = value.to_string();
                    return Ok(None);
                }
                "machine" => {
                    let options = value.split(',').map(str::to_string);
                    script.machine.options.extend(options);
                    return Ok(None);
                }
                "cpu" => {
                    script.machine.cpu = value.trim().to_string();
                    return Ok(None);
                }
                "memory" => {
                    script.machine.memory = value.trim().to_string();
                    return Ok(None);
                }
                "cpus" => {
                    script.machine.cpus = value.trim().parse()?;
                    return Ok(None);
                }
                "timeout" => {
                    let seconds: f64 = value.trim().parse()?;
                    if !(seconds > 0.0 && seconds.is_finite()) {
                        bail!("a timeout is a positive number of seconds");
                    }
                    Step::Timeout(Duration::from_secs_f64(seconds))
                }
                "expect" => Step::Expect(value.to_string()),
                "reject" => Step::Reject(value.to_string()),
                "absent" => {
                    let follows_expect = script
                        .steps
                        .iter()
                        .rev()
                        .find(|line| !matches!(line.step, Step::Timeout(_)))
                        .is_some_and(|line| matches!(line.step, Step::Expect(_)));
                    if !follows_expect {
                        bail!(
                            "'absent' checks the answer an 'expect' has just ended: put it right after that 'expect'"
                        );
                    }
                    Step::Absent(value.to_string())
                }
                "send" => Step::Send(value.to_string()),
                "send-bytes" => Step::SendBytes(hex_bytes(value)?),
                "capture-number" => {
                    captured = true;
                    Step::CaptureNumber(value.to_string())
                }
                "expect-greater" => {
                    if !captured {
                        bail!("'expect-greater' needs an earlier 'capture-number' to compare with");
                    }
                    Step::ExpectGreater(value.to_string())
                }
                "number-at-most" => {
                    let (prefix, limit) = value
                        .rsplit_once(" -> ")
                        .context("'number-at-most' is 'PREFIX -> LIMIT'")?;
                    Step::NumberAtMost(prefix.to_string(), limit.trim().parse()?)
                }
                "exit" => Step::Exit(value.trim().parse()?),
                other => match runner(other, value)? {
                    Key::Step(step) => Step::Runner(step),
                    Key::Setting => return Ok(None),
                    Key::Unknown => bail!("unknown key '{other}'"),
                },
            }))
        })()
        .with_context(|| source.clone())?;
        if let Some(step) = parsed {
            script.steps.push(Line { step, source });
        }
    }
    Ok(script)
}

impl<E> Script<E> {
    /// Fails unless the script has an `exit` step: with semihosting a test passes only on the
    /// status the guest set itself. (Runners call this; a flash test booted without
    /// semihosting has no status and ends with its last `expect` and a power cut instead.)
    pub fn require_exit(&self) -> Result<()> {
        if !self
            .steps
            .iter()
            .any(|line| matches!(line.step, Step::Exit(_)))
        {
            bail!(
                "{}: no 'exit: <status>' step: a test passes only on the status the guest set",
                self.name
            );
        }
        Ok(())
    }
}

/// The state of one test run that the console steps share: the current deadline, the last
/// capture, the moment deadlines are measured from, and the `reject` texts to check at the end.
pub struct Run {
    timeout: Duration,
    captured: Option<f64>,
    last_sent: Option<Vec<u8>>,
    /// Deadlines count from here: the last action (input, monitor command, power on), or the
    /// arrival of the previous match when that came later.
    anchor: Instant,
    rejects: Vec<(String, String)>,
    /// Lines for the log: how long tight deadlines actually took.
    notes: Vec<String>,
    trace: bool,
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

impl Run {
    /// A fresh run (deadline 20 s, anchored now).
    pub fn new() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            captured: None,
            last_sent: None,
            anchor: Instant::now(),
            rejects: Vec::new(),
            notes: Vec::new(),
            trace: std::env::var_os("XTASK_TRACE").is_some(),
        }
    }

    /// The deadline steps get now (`timeout:`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Something acted on the guest at `at`: later deadlines count from then.
    pub fn acted_at(&mut self, at: Instant) {
        self.anchor = at;
    }

    /// The deadline of a step that waits for the guest.
    fn deadline(&self) -> Instant {
        self.anchor + self.timeout
    }

    fn matched(&mut self, arrived: Instant) {
        self.anchor = self.anchor.max(arrived);
    }

    /// Prints the step when `XTASK_TRACE` is set.
    pub fn trace<E>(&self, line: &Line<E>) {
        if self.trace {
            eprintln!("  {line}");
        }
    }

    /// Runs a step that needs no guest (`timeout`, `reject`); false for any other step.
    pub fn offline_step<E>(&mut self, line: &Line<E>) -> bool {
        match &line.step {
            Step::Timeout(timeout) => self.timeout = *timeout,
            Step::Reject(text) => self.rejects.push((text.clone(), line.source.clone())),
            _ => return false,
        }
        true
    }

    fn send(&mut self, session: &mut Session, bytes: &[u8]) -> Result<()> {
        let at = Instant::now();
        session.send_bytes(bytes)?;
        self.acted_at(at);
        Ok(())
    }

    /// Runs a console step on `session`: `exit` returns the status check; runner steps are
    /// the caller's (this returns an error for them).
    pub fn console_step<E>(&mut self, session: &mut Session, line: &Line<E>) -> Result<()> {
        let timeout = self.timeout;
        match &line.step {
            Step::Timeout(_) | Step::Reject(_) => {
                self.offline_step(line);
                Ok(())
            }
            Step::Expect(text) => {
                let anchor = self.anchor;
                let found = session.expect_by(text, self.deadline(), timeout)?;
                if timeout < TIGHT {
                    let took = found.arrived.saturating_duration_since(anchor);
                    self.notes.push(format!(
                        "{line}: arrived {:.1} ms after its reference moment (deadline {:.0} ms)",
                        took.as_secs_f64() * 1000.0,
                        timeout.as_secs_f64() * 1000.0
                    ));
                }
                self.matched(found.arrived);
                Ok(())
            }
            Step::Absent(text) => session.check_absent(text),
            Step::Send(text) => {
                let bytes = format!("{text}\r").into_bytes();
                self.send(session, &bytes)?;
                self.last_sent = Some(bytes);
                Ok(())
            }
            Step::SendBytes(bytes) => self.send(session, bytes),
            Step::CaptureNumber(prefix) => {
                let (value, found) = session.expect_number_by(prefix, self.deadline(), timeout)?;
                self.captured = Some(value);
                self.matched(found.arrived);
                Ok(())
            }
            Step::ExpectGreater(prefix) => self.expect_greater(session, prefix),
            Step::NumberAtMost(prefix, limit) => {
                let (value, found) = session.expect_number_by(prefix, self.deadline(), timeout)?;
                if value > *limit {
                    bail!("'{prefix}' is {value}, more than {limit}");
                }
                self.matched(found.arrived);
                Ok(())
            }
            Step::Exit(expected) => {
                let status = session.wait_exit(timeout)?;
                if status != *expected {
                    bail!("QEMU exited with status {status}, expected {expected}");
                }
                Ok(())
            }
            Step::Runner(_) => bail!("not a console step"),
        }
    }

    /// The value may legitimately not have moved yet (same timer tick): send the last line
    /// again until it grows or the deadline passes. No fixed sleeps.
    fn expect_greater(&mut self, session: &mut Session, prefix: &str) -> Result<()> {
        let before = self
            .captured
            .context("'expect-greater' without a captured number")?;
        let deadline = self.deadline();
        let timeout = self.timeout;
        loop {
            let (value, found) = session.expect_number_by(prefix, deadline, timeout)?;
            if value > before {
                self.matched(found.arrived);
                return Ok(());
            }
            let Some(line) = self.last_sent.clone() else {
                bail!("'{prefix}' is {value}, not greater than {before}, and nothing to resend");
            };
            if Instant::now() >= deadline {
                bail!(
                    "'{prefix}' never became greater than {before} within {:.1} s",
                    timeout.as_secs_f64()
                );
            }
            session.send_bytes(&line)?;
        }
    }

    /// What the log should say about the run (tight deadlines: how long they took).
    pub fn notes(&self) -> String {
        self.notes
            .iter()
            .map(|note| format!("--- {note}\n"))
            .collect()
    }

    /// The end-of-test checks over the whole console `transcript` (`reject`).
    pub fn finish(&self, transcript: &str) -> Result<()> {
        for (text, source) in &self.rejects {
            if let Some(line) = transcript.lines().find(|line| line.contains(text.as_str())) {
                bail!("{source}: '{text}' appeared in the output: {}", line.trim());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Script<String>> {
        parse(Path::new("t.test"), text, |key, value| {
            Ok(match key {
                "boot" => Key::Step(format!("boot{value}")),
                "window" => Key::Setting,
                _ => Key::Unknown,
            })
        })
    }

    #[test]
    fn values_keep_their_spaces_and_runner_keys_are_offered() {
        let script = parse_text("title: t\nboot\nwindow: 5\nexpect: dpu> \nexit: 0\n").unwrap();
        assert_eq!(script.title, "t");
        assert_eq!(script.steps.len(), 3);
        assert!(matches!(&script.steps[0].step, Step::Runner(s) if s == "boot"));
        assert!(matches!(&script.steps[1].step, Step::Expect(s) if s == "dpu> "));
        assert_eq!(script.steps[1].source, "t.test:4: expect: dpu>");
    }

    #[test]
    fn number_at_most_needs_a_limit() {
        assert!(parse_text("number-at-most: longest \nexit: 0\n").is_err());
        assert!(parse_text("number-at-most: longest -> x\nexit: 0\n").is_err());
        assert!(parse_text("number-at-most: longest -> 500000\nexit: 0\n").is_ok());
    }

    #[test]
    fn expect_greater_needs_a_capture_first() {
        let error = parse_text("expect-greater: up \nexit: 0\n").err().unwrap();
        assert!(format!("{error:#}").contains("needs an earlier 'capture-number'"));
        assert!(parse_text("capture-number: up \nexpect-greater: up \nexit: 0\n").is_ok());
    }

    #[test]
    fn a_script_without_exit_is_refused_with_what_is_checked() {
        let error = parse_text("expect: x\n")
            .and_then(|script| script.require_exit())
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("no 'exit: <status>' step"));
    }

    #[test]
    fn absent_must_follow_an_expect() {
        assert!(parse_text("send: log\nabsent: x\nexit: 0\n").is_err());
        assert!(parse_text("send: log\nexpect: done\nabsent: x\nexit: 0\n").is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_values_name_the_line() {
        let error = parse_text("expect: a\nfrobnicate: 1\nexit: 0\n")
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("t.test:2: frobnicate: 1"));
        assert!(parse_text("send-bytes: 1b zz\nexit: 0\n").is_err());
        assert!(parse_text("timeout: 0\nexit: 0\n").is_err());
    }

    #[test]
    fn reject_checks_the_whole_transcript_at_the_end() {
        let script = parse_text("reject: boom\nexit: 0\n").unwrap();
        let mut run = Run::new();
        assert!(run.offline_step(&script.steps[0]));
        assert!(run.finish("all fine\n").is_ok());
        let error = run.finish("ok\nlater: boom here\n").err().unwrap();
        assert!(format!("{error:#}").contains("later: boom here"));
    }
}
