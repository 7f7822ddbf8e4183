//! The host arbiter: hears both DPUs' heartbeats, grants active to exactly one of them, bumps
//! the epoch on every change, and records each failover. Pure; `dpuctl arbiter` wraps it in a
//! UDP loop (port 7400) and sends [`Arbiter::grant`] to each DPU in reply to its heartbeats and
//! to both whenever [`Arbiter::poll`] or a request changes something.

use core::fmt::Write as _;

use crate::codec::{FailoverRequest, Grant, Heartbeat};
use crate::types::{Alias, FailoverRecord, Failovers, Health, Reason, ReasonText, Role};

/// The arbiter's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbiterConfig {
    /// The DPUs' heartbeat interval in milliseconds.
    pub heartbeat_ms: u32,
    /// Missed heartbeats before a DPU counts as down.
    pub detect: u32,
    /// With only one DPU heard, how long to wait for the other before forming with one alone
    /// (corosync's `wait_for_all`, bounded so a pair with a dead DPU still forwards).
    pub form_wait_ms: u64,
}

impl Default for ArbiterConfig {
    fn default() -> Self {
        ArbiterConfig {
            heartbeat_ms: crate::DEFAULT_HEARTBEAT_MS,
            detect: crate::DEFAULT_DETECT,
            form_wait_ms: 3_000,
        }
    }
}

impl ArbiterConfig {
    fn detect_ms(&self) -> u64 {
        crate::detect_ms(self.heartbeat_ms, self.detect)
    }
}

/// Why the arbiter did not do what was asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArbiterError {
    /// A heartbeat from a third DPU: the arbiter serves a pair.
    TooManyDpus,
    /// A failover request while no DPU is active.
    NoActive,
    /// A failover request with no healthy DPU to take over.
    PeerNotReady,
    /// A failover request naming a DPU the arbiter has not heard.
    UnknownTarget,
}

impl ArbiterError {
    /// In words.
    pub const fn message(self) -> &'static str {
        match self {
            ArbiterError::TooManyDpus => "a third DPU: the arbiter serves two",
            ArbiterError::NoActive => "no DPU is active",
            ArbiterError::PeerNotReady => "no healthy standby DPU to take over",
            ArbiterError::UnknownTarget => "the target DPU was never heard",
        }
    }
}

impl core::fmt::Display for ArbiterError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message())
    }
}

/// What the arbiter knows of one DPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpuView {
    /// Its last heartbeat.
    pub heartbeat: Heartbeat,
    /// When it was first heard.
    pub first_heard_ms: u64,
    /// When it was last heard.
    pub last_heard_ms: u64,
}

/// The arbiter state machine.
#[derive(Clone, Debug)]
pub struct Arbiter {
    config: ArbiterConfig,
    dpus: heapless::Vec<DpuView, 2>,
    epoch: u64,
    active: Option<Alias>,
    last_reason: Option<Reason>,
    refused: Option<ReasonText>,
    failovers: Failovers,
    handover: Option<Handover>,
}

/// An operator's failover in progress: the old active was fenced with an epoch naming nobody;
/// the target is granted once the old active says it stopped (or falls silent), so the two
/// never forward at once even when grants arrive out of order.
#[derive(Clone, Debug)]
struct Handover {
    from: Alias,
    to: Alias,
    fence_epoch: u64,
}

impl Arbiter {
    /// An arbiter that has heard nobody.
    pub fn new(config: ArbiterConfig) -> Self {
        Arbiter {
            config,
            dpus: heapless::Vec::new(),
            epoch: 0,
            active: None,
            last_reason: None,
            refused: None,
            failovers: Failovers::default(),
            handover: None,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The DPU granted active.
    pub fn active(&self) -> Option<&Alias> {
        self.active.as_ref()
    }

    /// Why HA refused to form, naming the DPUs.
    pub fn refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// The failovers recorded.
    pub fn failovers(&self) -> &Failovers {
        &self.failovers
    }

    /// The DPUs heard (at most two).
    pub fn dpus(&self) -> &[DpuView] {
        &self.dpus
    }

    /// Whether `alias` was heard within the detect time.
    pub fn health(&self, alias: &str, now_ms: u64) -> Health {
        match self.dpus.iter().find(|d| d.heartbeat.alias == alias) {
            None => Health::Unknown,
            Some(d) if self.heard(d, now_ms) => Health::Up,
            Some(_) => Health::Down,
        }
    }

    fn heard(&self, dpu: &DpuView, now_ms: u64) -> bool {
        now_ms.saturating_sub(dpu.last_heard_ms) <= self.config.detect_ms()
    }

    /// Heard, not refused, not resigning, with an uplink: could be active.
    fn healthy(&self, dpu: &DpuView, now_ms: u64) -> bool {
        let h = &dpu.heartbeat;
        self.heard(dpu, now_ms)
            && h.resign.is_none()
            && h.role != Role::Refused
            && (h.uplinks_total == 0 || h.uplinks_up > 0)
    }

    /// The grant to send now.
    pub fn grant(&self, now_ms: u64) -> Grant {
        let standby_ready = self
            .dpus
            .iter()
            .filter(|d| Some(&d.heartbeat.alias) != self.active.as_ref())
            .find(|d| self.healthy(d, now_ms) && d.heartbeat.role == Role::Standby)
            .map(|d| d.heartbeat.alias.clone());
        Grant {
            epoch: self.epoch,
            active: self.active.clone(),
            reason: self.last_reason,
            standby_ready: if self.active.is_some() {
                standby_ready
            } else {
                None
            },
            refused: self.refused.clone(),
        }
    }

    /// One DPU heartbeat at `now_ms`; returns the grant to reply with.
    pub fn on_heartbeat(
        &mut self,
        now_ms: u64,
        heartbeat: &Heartbeat,
    ) -> Result<Grant, ArbiterError> {
        match self
            .dpus
            .iter_mut()
            .find(|d| d.heartbeat.alias == heartbeat.alias)
        {
            Some(d) => {
                d.heartbeat = heartbeat.clone();
                d.last_heard_ms = now_ms;
            }
            None => {
                // A silent DPU's slot is reused (a DPU renamed or replaced).
                let detect = self.config.detect_ms();
                if self.dpus.is_full()
                    && let Some(stale) = self
                        .dpus
                        .iter()
                        .position(|d| now_ms.saturating_sub(d.last_heard_ms) > 10 * detect)
                    && self.dpus[stale].heartbeat.alias.as_str()
                        != self.active.as_deref().unwrap_or("")
                {
                    self.dpus.remove(stale);
                }
                self.dpus
                    .push(DpuView {
                        heartbeat: heartbeat.clone(),
                        first_heard_ms: now_ms,
                        last_heard_ms: now_ms,
                    })
                    .map_err(|_| ArbiterError::TooManyDpus)?;
            }
        }
        // A DPU active at a higher epoch than ours (the arbiter restarted, or the pair formed
        // without it): adopt rather than disturb.
        if heartbeat.role == Role::Active && heartbeat.epoch > self.epoch {
            self.epoch = heartbeat.epoch;
            self.active = Some(heartbeat.alias.clone());
            self.last_reason = None;
            self.refused = None;
        }
        self.decide(now_ms);
        Ok(self.grant(now_ms))
    }

    /// An operator's failover request.
    pub fn on_failover_request(
        &mut self,
        now_ms: u64,
        request: &FailoverRequest,
    ) -> Result<Grant, ArbiterError> {
        let Some(active) = self.active.clone() else {
            return Err(ArbiterError::NoActive);
        };
        let target = match &request.target {
            Some(t) => self
                .dpus
                .iter()
                .find(|d| &d.heartbeat.alias == t)
                .ok_or(ArbiterError::UnknownTarget)?,
            None => self
                .dpus
                .iter()
                .find(|d| d.heartbeat.alias != active)
                .ok_or(ArbiterError::PeerNotReady)?,
        };
        if target.heartbeat.alias == active {
            return Ok(self.grant(now_ms));
        }
        if !self.healthy(target, now_ms) {
            return Err(ArbiterError::PeerNotReady);
        }
        let to = target.heartbeat.alias.clone();
        self.epoch = crate::next_epoch(self.epoch, crate::Minter::Arbiter);
        self.active = None;
        self.last_reason = Some(Reason::User);
        self.handover = Some(Handover {
            from: active,
            to,
            fence_epoch: self.epoch,
        });
        self.decide(now_ms);
        Ok(self.grant(now_ms))
    }

    /// Runs the timers; returns true when the grant changed (send it to both DPUs).
    pub fn poll(&mut self, now_ms: u64) -> bool {
        self.decide(now_ms)
    }

    fn change(&mut self, reason: Reason, to: Option<Alias>, now_ms: u64) {
        let from = self.active.clone().unwrap_or_default();
        self.change_from(reason, from, to, now_ms);
    }

    fn change_from(&mut self, reason: Reason, from: Alias, to: Option<Alias>, now_ms: u64) {
        self.epoch = crate::next_epoch(self.epoch, crate::Minter::Arbiter);
        self.active = to.clone();
        self.last_reason = Some(reason);
        if let Some(to) = to {
            self.failovers.push(FailoverRecord {
                reason,
                from,
                to,
                epoch: self.epoch,
                at_ms: now_ms,
            });
        }
    }

    fn decide(&mut self, now_ms: u64) -> bool {
        let before = (self.epoch, self.active.clone(), self.refused.clone());
        if let Some(handover) = self.handover.clone() {
            let from = self
                .dpus
                .iter()
                .find(|d| d.heartbeat.alias == handover.from);
            let stopped = from.is_none_or(|d| {
                !self.heard(d, now_ms)
                    || (d.heartbeat.role != Role::Active
                        && d.heartbeat.epoch >= handover.fence_epoch)
            });
            let target = self.dpus.iter().find(|d| d.heartbeat.alias == handover.to);
            let target_ok = target.is_some_and(|d| self.healthy(d, now_ms));
            if !target_ok {
                // The target went away: let formation pick whoever is healthy.
                self.handover = None;
            } else if stopped {
                self.handover = None;
                self.change_from(Reason::User, handover.from, Some(handover.to), now_ms);
            }
            return before != (self.epoch, self.active.clone(), self.refused.clone());
        }
        if let Some(active) = self.active.clone() {
            let current = self.dpus.iter().find(|d| d.heartbeat.alias == active);
            let other = self.dpus.iter().find(|d| d.heartbeat.alias != active);
            let reason = match current {
                Some(d) if d.heartbeat.epoch == self.epoch && d.heartbeat.resign.is_some() => {
                    d.heartbeat.resign
                }
                Some(d) if !self.heard(d, now_ms) => {
                    // Silent on the host path; if the standby still hears it on the link it
                    // is alive, so do not fail over (no needless outage).
                    let seen_by_peer =
                        other.is_some_and(|o| self.heard(o, now_ms) && o.heartbeat.peer_heard);
                    (!seen_by_peer).then_some(Reason::Crash)
                }
                _ => None,
            };
            if let Some(reason) = reason {
                let candidate = other
                    .filter(|o| self.healthy(o, now_ms))
                    .map(|o| o.heartbeat.alias.clone());
                match candidate {
                    Some(to) => self.change(reason, Some(to), now_ms),
                    // A resign with nobody to take over: nobody is active (it stopped
                    // already); a silent active stays named, it may come back.
                    None if reason != Reason::Crash
                        || current.is_some_and(|d| d.heartbeat.resign.is_some()) =>
                    {
                        self.epoch = crate::next_epoch(self.epoch, crate::Minter::Arbiter);
                        self.active = None;
                        self.last_reason = Some(reason);
                    }
                    None => {}
                }
            }
        } else {
            self.form(now_ms);
        }
        before != (self.epoch, self.active.clone(), self.refused.clone())
    }

    /// Forms HA when nobody is active: both DPUs heard (or one alone after the form wait),
    /// identical firmware and config, then the healthy one with the higher priority (then the
    /// lower alias) is granted.
    fn form(&mut self, now_ms: u64) {
        let heard: heapless::Vec<&DpuView, 2> =
            self.dpus.iter().filter(|d| self.heard(d, now_ms)).collect();
        if let [a, b] = heard.as_slice() {
            let mut text = ReasonText::new();
            let (x, y) = (&b.heartbeat, &a.heartbeat);
            if x.firmware != y.firmware {
                let _ = write!(
                    text,
                    "{} runs firmware {}, {} {}",
                    x.alias, x.firmware, y.alias, y.firmware
                );
            } else if x.config_digest != y.config_digest {
                let _ = write!(text, "{} has config digest ", x.alias);
                for byte in &x.config_digest[..4] {
                    let _ = write!(text, "{byte:02x}");
                }
                let _ = write!(text, ", {} ", y.alias);
                for byte in &y.config_digest[..4] {
                    let _ = write!(text, "{byte:02x}");
                }
            }
            if !text.is_empty() {
                self.refused = Some(text);
                return;
            }
        } else if let [one] = heard.as_slice() {
            if now_ms.saturating_sub(one.first_heard_ms) < self.config.form_wait_ms {
                return;
            }
        } else {
            return;
        }
        self.refused = None;
        let best = heard
            .iter()
            .filter(|d| self.healthy(d, now_ms))
            .max_by(|a, b| {
                (
                    a.heartbeat.priority,
                    core::cmp::Reverse(a.heartbeat.alias.as_str()),
                )
                    .cmp(&(
                        b.heartbeat.priority,
                        core::cmp::Reverse(b.heartbeat.alias.as_str()),
                    ))
            })
            .map(|d| (d.heartbeat.alias.clone(), d.heartbeat.epoch));
        if let Some((alias, epoch)) = best {
            let highest = self
                .dpus
                .iter()
                .map(|d| d.heartbeat.epoch)
                .max()
                .unwrap_or(0);
            self.epoch =
                crate::next_epoch(self.epoch.max(highest).max(epoch), crate::Minter::Arbiter);
            self.active = Some(alias);
            self.last_reason = None;
        }
    }
}
