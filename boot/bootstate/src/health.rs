//! Jumpstart policy: a trial commits only after staying healthy for the whole window.
//!
//! The kernel feeds [`Jumpstart::sample`] the health signals once per poll-loop pass, with the
//! time from the free-running counter (never tick-based uptime, which stops without a timer
//! interrupt). The verdict is pure:
//! - every signal must hold continuously for `window_ms` (the soak period) before a
//!   [`Verdict::Commit`]; a signal that drops restarts the soak;
//! - the signals get [`SETTLE_MS`] plus the window to first come up (DHCP, link); a trial that
//!   is unhealthy after that deadline gets [`Verdict::Fail`] with the first failing signal;
//! - a trial that panics or hangs never reaches a verdict: the fault path or the watchdog
//!   resets it and dpuboot counts the try.
//!
//! With a window of 0 the first healthy sample commits (the behaviour before the window).

use core::fmt;

/// How long the signals may take to come up before the soak must have started.
pub const SETTLE_MS: u64 = 10_000;

/// One sample of what makes a running kernel healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signals {
    /// The console is up (UART initialised, output and input working).
    pub console: bool,
    /// The poll loop checks in with the watchdog.
    pub loop_alive: bool,
    /// The management stack is up; `None` when there is no management NIC.
    pub management: Option<bool>,
    /// The switch forwards between its ports; `None` while there is no switch.
    pub forwarding: Option<bool>,
}

impl Signals {
    /// The first signal that does not hold, if any.
    #[must_use]
    pub fn problem(&self) -> Option<Unhealthy> {
        if !self.console {
            Some(Unhealthy::Console)
        } else if !self.loop_alive {
            Some(Unhealthy::Loop)
        } else if self.management == Some(false) {
            Some(Unhealthy::Management)
        } else if self.forwarding == Some(false) {
            Some(Unhealthy::Forwarding)
        } else {
            None
        }
    }
}

/// The signal a trial failed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unhealthy {
    /// The console did not come up.
    Console,
    /// The poll loop stopped checking in.
    Loop,
    /// The management stack did not come up.
    Management,
    /// The switch did not forward.
    Forwarding,
}

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unhealthy::Console => "console not up",
            Unhealthy::Loop => "poll loop not checking in",
            Unhealthy::Management => "management stack not up",
            Unhealthy::Forwarding => "switch not forwarding",
        })
    }
}

/// What to do with the trial now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Keep sampling.
    Pending,
    /// Healthy for the whole window: commit (jumpstart).
    Commit,
    /// Still unhealthy after the deadline: mark the trial bad and reset.
    Fail(Unhealthy),
}

/// Where a trial stands, for the console (`boot`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Healthy for `healthy_ms` of the `window_ms` soak.
    Soaking {
        /// Continuous healthy time so far.
        healthy_ms: u64,
        /// The soak period.
        window_ms: u64,
    },
    /// Not healthy yet; fails at the deadline if this persists.
    Waiting {
        /// The failing signal.
        problem: Unhealthy,
        /// Milliseconds until the deadline.
        deadline_in_ms: u64,
    },
    /// Nothing sampled yet.
    Starting,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::Soaking {
                healthy_ms,
                window_ms,
            } => write!(f, "healthy for {healthy_ms} of {window_ms} ms"),
            Progress::Waiting {
                problem,
                deadline_in_ms,
            } => write!(f, "{problem}; fails in {deadline_in_ms} ms"),
            Progress::Starting => f.write_str("starting"),
        }
    }
}

/// The soak state of one trial boot.
#[derive(Clone, Copy, Debug)]
pub struct Jumpstart {
    window_ms: u64,
    started_ms: u64,
    healthy_since_ms: Option<u64>,
    last: Option<(u64, Option<Unhealthy>)>,
}

impl Jumpstart {
    /// A trial whose health window (soak) is `window_ms`, starting at `now_ms`.
    #[must_use]
    pub fn new(now_ms: u64, window_ms: u64) -> Self {
        Self {
            window_ms,
            started_ms: now_ms,
            healthy_since_ms: None,
            last: None,
        }
    }

    /// The soak period.
    #[must_use]
    pub fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// When an unhealthy trial fails: start + settle time + window.
    #[must_use]
    pub fn deadline_ms(&self) -> u64 {
        self.started_ms
            .saturating_add(SETTLE_MS)
            .saturating_add(self.window_ms)
    }

    /// Takes one sample at `now_ms` (times must not go backwards; a smaller time counts as
    /// no time passed).
    pub fn sample(&mut self, now_ms: u64, signals: Signals) -> Verdict {
        let problem = signals.problem();
        self.last = Some((now_ms, problem));
        match problem {
            None => {
                let since = *self.healthy_since_ms.get_or_insert(now_ms);
                if now_ms.saturating_sub(since) >= self.window_ms {
                    Verdict::Commit
                } else {
                    Verdict::Pending
                }
            }
            Some(problem) => {
                self.healthy_since_ms = None;
                if now_ms >= self.deadline_ms() {
                    Verdict::Fail(problem)
                } else {
                    Verdict::Pending
                }
            }
        }
    }

    /// Where the trial stands after the last sample.
    #[must_use]
    pub fn progress(&self) -> Progress {
        match (self.last, self.healthy_since_ms) {
            (None, _) => Progress::Starting,
            (Some((now, _)), Some(since)) => Progress::Soaking {
                healthy_ms: now.saturating_sub(since),
                window_ms: self.window_ms,
            },
            (Some((now, problem)), None) => Progress::Waiting {
                problem: problem.unwrap_or(Unhealthy::Loop),
                deadline_in_ms: self.deadline_ms().saturating_sub(now),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    const HEALTHY: Signals = Signals {
        console: true,
        loop_alive: true,
        management: Some(true),
        forwarding: None,
    };

    fn with_management(up: bool) -> Signals {
        Signals {
            management: Some(up),
            ..HEALTHY
        }
    }

    #[test]
    fn commits_only_after_the_whole_window() {
        let mut trial = Jumpstart::new(1_000, 10_000);
        assert_eq!(trial.sample(1_000, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(6_000, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(10_999, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(11_000, HEALTHY), Verdict::Commit);
    }

    #[test]
    fn window_zero_commits_at_the_first_healthy_sample() {
        let mut trial = Jumpstart::new(500, 0);
        assert_eq!(trial.sample(500, with_management(false)), Verdict::Pending);
        assert_eq!(trial.sample(700, HEALTHY), Verdict::Commit);
    }

    #[test]
    fn a_signal_that_drops_restarts_the_soak() {
        let mut trial = Jumpstart::new(0, 10_000);
        assert_eq!(trial.sample(0, HEALTHY), Verdict::Pending);
        assert_eq!(
            trial.sample(9_000, with_management(false)),
            Verdict::Pending
        );
        assert_eq!(trial.sample(9_100, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(12_000, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(19_100, HEALTHY), Verdict::Commit);
    }

    #[test]
    fn unhealthy_past_the_deadline_fails_with_the_signal() {
        let mut trial = Jumpstart::new(0, 10_000);
        assert_eq!(trial.deadline_ms(), SETTLE_MS + 10_000);
        assert_eq!(
            trial.sample(19_999, with_management(false)),
            Verdict::Pending
        );
        assert_eq!(
            trial.sample(20_000, with_management(false)),
            Verdict::Fail(Unhealthy::Management)
        );
        let console_down = Signals {
            console: false,
            ..with_management(false)
        };
        assert_eq!(
            trial.sample(20_001, console_down),
            Verdict::Fail(Unhealthy::Console)
        );
    }

    #[test]
    fn a_late_but_healthy_trial_still_gets_its_soak() {
        let mut trial = Jumpstart::new(0, 10_000);
        assert_eq!(trial.sample(19_000, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(25_000, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(29_000, HEALTHY), Verdict::Commit);
        // Dropping past the deadline fails at once.
        let mut trial = Jumpstart::new(0, 10_000);
        assert_eq!(trial.sample(19_000, HEALTHY), Verdict::Pending);
        let stuck = Signals {
            loop_alive: false,
            ..HEALTHY
        };
        assert_eq!(trial.sample(21_000, stuck), Verdict::Fail(Unhealthy::Loop));
    }

    #[test]
    fn no_management_nic_and_no_switch_count_as_healthy() {
        let bare = Signals {
            console: true,
            loop_alive: true,
            management: None,
            forwarding: None,
        };
        assert_eq!(bare.problem(), None);
        let not_forwarding = Signals {
            forwarding: Some(false),
            ..bare
        };
        assert_eq!(not_forwarding.problem(), Some(Unhealthy::Forwarding));
    }

    #[test]
    fn progress_reads_as_words() {
        let mut trial = Jumpstart::new(0, 10_000);
        assert_eq!(format!("{}", trial.progress()), "starting");
        let _ = trial.sample(2_000, with_management(false));
        assert_eq!(
            format!("{}", trial.progress()),
            "management stack not up; fails in 18000 ms"
        );
        let _ = trial.sample(3_000, HEALTHY);
        let _ = trial.sample(5_500, HEALTHY);
        assert_eq!(
            format!("{}", trial.progress()),
            "healthy for 2500 of 10000 ms"
        );
    }

    #[test]
    fn time_going_backwards_does_not_commit_or_panic() {
        let mut trial = Jumpstart::new(u64::MAX - 5, 10);
        assert_eq!(trial.sample(u64::MAX - 5, HEALTHY), Verdict::Pending);
        assert_eq!(trial.sample(3, HEALTHY), Verdict::Pending);
        assert_eq!(trial.deadline_ms(), u64::MAX);
    }
}
