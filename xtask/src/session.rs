//! A running QEMU guest whose console is captured, with arrival times.
//!
//! Used by the test runners, `update` (`cargo xtask flash --serial`) and the benches. A reader
//! thread stamps every chunk of console output with the moment it received it, so a deadline
//! is judged by when the text arrived, not by when a busy host got round to looking.

use crate::qemu::{self, Machine, QemuProcess};
use crate::serial::{Output, Splitter};
use anyhow::{Context, Result, bail};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{ChildStdin, ExitStatus};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// Where a wanted text was found in the transcript, and when its last byte arrived.
#[derive(Clone, Copy, Debug)]
pub struct Match {
    /// Byte offset of the match's start in the transcript.
    pub start: usize,
    /// Byte offset just past its end.
    pub end: usize,
    /// When the reader thread received the chunk that completed it.
    pub arrived: Instant,
}

/// Why a wait ended without a match in time.
enum Miss {
    /// Not there by the deadline.
    Timeout,
    /// QEMU's output ended first.
    Ended,
    /// There, but it arrived this long after the deadline.
    Late(Duration),
}

/// A running guest whose console is captured into a transcript.
pub struct Session {
    process: QemuProcess,
    input: ChildStdin,
    chunks: Receiver<(Instant, Vec<u8>)>,
    splitter: Splitter,
    /// Everything seen so far: text, and decoded log lines on their own lines.
    pub transcript: String,
    /// For each absorbed chunk: the transcript length after it, and when it was received.
    arrivals: Vec<(usize, Instant)>,
    /// Where the next `expect` starts searching.
    cursor: usize,
    /// The transcript length when the console last got input.
    sent_at: usize,
    /// The last `expect` match.
    last_match: Option<Match>,
    /// Whether QEMU's output has ended.
    ended: bool,
    /// When QEMU was started.
    pub started: Instant,
}

impl Session {
    /// Starts QEMU on `machine` with the test profile.
    pub fn start(machine: &Machine, kernel: &Path, elf: &Path) -> Result<Self> {
        let arguments = qemu::arguments(machine, kernel, "test.args")?;
        Self::start_arguments(&arguments, elf)
    }

    /// QEMU's process id (for a profiler to attach to).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
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
        let splitter = Splitter::new(elf)?;
        let started = Instant::now();
        let process = QemuProcess::spawn_in(namespace, arguments)?;
        Self::from_process(process, splitter, started)
    }

    /// Captures the console of an already started `process` (started at `started`).
    fn from_process(
        mut process: QemuProcess,
        splitter: Splitter,
        started: Instant,
    ) -> Result<Self> {
        let input = process.child.stdin.take().context("no stdin")?;
        let mut output = process.child.stdout.take().context("no stdout")?;
        let (sender, chunks) = channel();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(count) = output.read(&mut buffer) {
                let received = Instant::now();
                if count == 0 || sender.send((received, buffer[..count].to_vec())).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            process,
            input,
            chunks,
            splitter,
            transcript: String::new(),
            arrivals: Vec::new(),
            cursor: 0,
            sent_at: 0,
            last_match: None,
            ended: false,
            started,
        })
    }

    /// The QEMU command line, shell-quoted.
    pub fn command(&self) -> &str {
        &self.process.command
    }

    fn absorb(&mut self, received: Instant, bytes: &[u8]) {
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
        self.arrivals.push((self.transcript.len(), received));
    }

    /// When the transcript byte just before `end` arrived.
    fn arrival_of(&self, end: usize) -> Instant {
        let index = self.arrivals.partition_point(|(length, _)| *length < end);
        self.arrivals
            .get(index)
            .map_or_else(Instant::now, |(_, at)| *at)
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
            Ok((received, bytes)) => {
                self.absorb(received, &bytes);
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                false
            }
        }
    }

    /// Absorbs whatever the reader thread has already received, without waiting.
    fn catch_up(&mut self) {
        while let Ok((received, bytes)) = self.chunks.try_recv() {
            self.absorb(received, &bytes);
        }
    }

    /// Waits for `find` (given the transcript after the cursor, it returns the match's start,
    /// end and a value) to succeed on text that arrived by `deadline`.
    fn wait_for<T>(
        &mut self,
        deadline: Instant,
        find: impl Fn(&str) -> Option<(usize, usize, T)>,
    ) -> Result<(T, Match), Miss> {
        loop {
            let past_deadline = Instant::now() >= deadline;
            if past_deadline {
                // The reader may have received the text in time while we were busy elsewhere:
                // take everything it has, judged by arrival time, before giving up.
                self.catch_up();
            }
            if let Some((start, end, value)) = find(&self.transcript[self.cursor..]) {
                let found = Match {
                    start: self.cursor + start,
                    end: self.cursor + end,
                    arrived: self.arrival_of(self.cursor + end),
                };
                if found.arrived > deadline {
                    return Err(Miss::Late(found.arrived - deadline));
                }
                self.cursor = found.end;
                self.last_match = Some(found);
                return Ok((value, found));
            }
            if self.ended {
                return Err(Miss::Ended);
            }
            if past_deadline {
                return Err(Miss::Timeout);
            }
            self.pump(deadline);
        }
    }

    /// Waits until `text` appears after the previous match, within `timeout` from now.
    pub fn expect(&mut self, text: &str, timeout: Duration) -> Result<()> {
        self.expect_by(text, Instant::now() + timeout, timeout)
            .map(|_| ())
    }

    /// Waits until `text` appears after the previous match and arrived by `deadline`
    /// (`allowed` is only for the message: the time the step was given).
    pub fn expect_by(&mut self, text: &str, deadline: Instant, allowed: Duration) -> Result<Match> {
        let found = self.wait_for(deadline, |rest| {
            rest.find(text).map(|start| (start, start + text.len(), ()))
        });
        match found {
            Ok(((), found)) => Ok(found),
            Err(Miss::Timeout) => bail!("'{text}' did not appear within {allowed:.3?}"),
            Err(Miss::Ended) => bail!("QEMU ended before '{text}' appeared"),
            Err(Miss::Late(late)) => {
                bail!("'{text}' appeared {late:.3?} after its deadline of {allowed:.3?}")
            }
        }
    }

    /// Waits until `prefix` followed by a number appears after the previous match; returns it.
    pub fn expect_number(&mut self, prefix: &str, timeout: Duration) -> Result<f64> {
        self.expect_number_by(prefix, Instant::now() + timeout, timeout)
            .map(|(value, _)| value)
    }

    /// Like [`Session::expect_number`], judged by arrival time against `deadline`.
    pub fn expect_number_by(
        &mut self,
        prefix: &str,
        deadline: Instant,
        allowed: Duration,
    ) -> Result<(f64, Match)> {
        let pattern = regex::Regex::new(&format!(
            r"{}\s*([0-9]+(?:\.[0-9]+)?)[^0-9.]",
            regex::escape(prefix)
        ))?;
        let found = self.wait_for(deadline, |rest| {
            let captures = pattern.captures(rest)?;
            let whole = captures.get(0)?;
            let value: f64 = captures[1].parse().ok()?;
            Some((whole.start(), whole.end(), value))
        });
        match found {
            Ok(found) => Ok(found),
            Err(Miss::Timeout | Miss::Ended) => {
                bail!("'{prefix}<number>' did not appear within {allowed:.3?}")
            }
            Err(Miss::Late(late)) => {
                bail!("'{prefix}<number>' appeared {late:.3?} after its deadline of {allowed:.3?}")
            }
        }
    }

    /// Fails if `text` appeared between the last console input and the last match (the
    /// answer to the last command, once an `expect` has seen its end).
    pub fn check_absent(&self, text: &str) -> Result<()> {
        let Some(found) = self.last_match else {
            bail!("'absent' needs an earlier 'expect' match");
        };
        let window = &self.transcript[self.sent_at.min(found.start)..found.start];
        if let Some(position) = window.find(text) {
            let line = window[..position].matches('\n').count();
            bail!("'{text}' appeared in the answer ({line} line(s) after the last input)");
        }
        Ok(())
    }

    /// Sends raw bytes to the console.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.catch_up();
        self.sent_at = self.transcript.len();
        self.input.write_all(bytes)?;
        self.input.flush()?;
        Ok(())
    }

    /// QEMU's exit status if it has already exited (without waiting).
    pub fn exited(&mut self) -> Result<Option<ExitStatus>> {
        Ok(self.process.child.try_wait()?)
    }

    /// QEMU's exit status if it exits within `grace` (polled; returns as soon as it does).
    pub fn exit_within(&mut self, grace: Duration) -> Result<Option<ExitStatus>> {
        let deadline = Instant::now() + grace;
        loop {
            self.catch_up();
            if let Some(status) = self.exited()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
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

    /// QEMU's own error output; stops QEMU first if it is still running, after taking in the
    /// console output already received.
    pub fn stderr(&mut self) -> String {
        self.catch_up();
        self.process.stop();
        self.process.stderr_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A stand-in guest: a shell script on the "console".
    fn guest(script: &str) -> Session {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        let started = Instant::now();
        let process = QemuProcess::spawn_command(command, format!("sh -c '{script}'")).unwrap();
        Session::from_process(process, Splitter::plain(), started).unwrap()
    }

    #[test]
    fn text_that_arrived_in_time_passes_even_when_the_harness_looks_late() {
        let anchor = Instant::now();
        let mut session = guest("echo link down; sleep 5");
        // The harness is busy elsewhere for longer than the deadline (which leaves the shell
        // 1.5 s to start even on a loaded machine).
        std::thread::sleep(Duration::from_millis(2000));
        let allowed = Duration::from_millis(1500);
        let found = session
            .expect_by("link down", anchor + allowed, allowed)
            .unwrap();
        assert!(found.arrived < anchor + allowed);
    }

    #[test]
    fn text_that_arrived_after_the_deadline_fails_even_if_seen_at_once() {
        let mut session = guest("sleep 0.4; echo link down; sleep 5");
        let anchor = Instant::now();
        std::thread::sleep(Duration::from_millis(900));
        let allowed = Duration::from_millis(100);
        let error = session
            .expect_by("link down", anchor + allowed, allowed)
            .unwrap_err();
        assert!(format!("{error}").contains("after its deadline"), "{error}");
    }

    #[test]
    fn text_that_never_comes_times_out_and_ended_output_says_so() {
        let mut session = guest("echo hello; sleep 5");
        let allowed = Duration::from_millis(200);
        let error = session.expect("bye", allowed).unwrap_err();
        assert!(
            format!("{error}").contains("did not appear within"),
            "{error}"
        );
        let mut session = guest("echo hello");
        let error = session.expect("bye", Duration::from_secs(5)).unwrap_err();
        assert!(format!("{error}").contains("QEMU ended before"), "{error}");
    }

    #[test]
    fn absent_looks_at_the_answer_between_the_input_and_the_match() {
        let mut session = guest("read line; echo \"got $line\"; echo noise; echo done; sleep 5");
        session.send_bytes(b"ping\n").unwrap();
        session.expect("done", Duration::from_secs(5)).unwrap();
        assert!(session.check_absent("quiet").is_ok());
        assert!(session.check_absent("noise").is_err());
    }

    #[test]
    fn stderr_is_drained_while_the_guest_runs() {
        // 1 MiB on stderr would fill the pipe and stall the guest if nobody read it.
        let mut session =
            guest("head -c 1048576 /dev/zero | tr '\\0' x >&2; echo through; sleep 5");
        session.expect("through", Duration::from_secs(10)).unwrap();
        assert_eq!(session.stderr().len(), 1 << 20);
    }

    #[test]
    fn exit_status_and_early_exit_are_seen() {
        let mut session = guest("echo bye; exit 3");
        assert_eq!(session.wait_exit(Duration::from_secs(5)).unwrap(), 3);
        assert_eq!(session.exited().unwrap().and_then(|s| s.code()), Some(3));
    }
}
