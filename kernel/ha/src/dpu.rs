//! The DPU side of HA: one state machine per DPU, fed by the kernel's poll loop with messages
//! from the peer (the DPU-to-DPU link) and from the host arbiter (UDP), uplink link states and
//! the clock; it says whether the DPU may forward and when to send a heartbeat.

use core::fmt::Write as _;

use crate::codec::{Grant, Heartbeat, Message};
use crate::types::{
    Alias, Digest, FailoverRecord, Failovers, Health, Reason, ReasonText, Role, Version,
};

/// A recovered uplink counts again only after it has stayed up this long (anti-flap, as
/// bonding's `updelay`).
pub const UPDELAY_MS: u64 = 2_000;
/// How many heartbeat intervals a resign is repeated when nobody takes over.
const RESIGN_HOLD_INTERVALS: u64 = 10;

/// What a DPU is configured with (kernel command line `ha.*`, the build's version, the switch
/// config's digest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpuConfig {
    /// This DPU's alias (`ha.alias`).
    pub alias: Alias,
    /// 1..=254 (`ha.priority`, default 100): the higher one becomes active when forming.
    pub priority: u8,
    /// Heartbeat interval in milliseconds (`ha.heartbeat-ms`, default 100).
    pub heartbeat_ms: u32,
    /// Missed heartbeats before the peer or host counts as down (`ha.detect`, default 3).
    pub detect: u32,
    /// This build's firmware version.
    pub firmware: Version,
    /// The switch config's digest.
    pub config_digest: Digest,
}

impl DpuConfig {
    /// A config with the default priority and timers.
    pub fn new(alias: Alias, firmware: Version, config_digest: Digest) -> Self {
        DpuConfig {
            alias,
            priority: crate::DEFAULT_PRIORITY,
            heartbeat_ms: crate::DEFAULT_HEARTBEAT_MS,
            detect: crate::DEFAULT_DETECT,
            firmware,
            config_digest,
        }
    }

    fn detect_ms(&self) -> u64 {
        crate::detect_ms(self.heartbeat_ms, self.detect)
    }
}

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The DPU-to-DPU link (raw frames).
    Link,
    /// The host arbiter (UDP from `ha.host`).
    Host,
}

/// Why [`Dpu::on_message`] did nothing with a message (the kernel counts these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ignored {
    /// A heartbeat with this DPU's own alias (a loop, or two DPUs configured alike).
    OwnAlias,
    /// A heartbeat from a third DPU after the peer was heard.
    OtherPeer,
    /// A message kind that does not belong on this path (a grant on the link, a heartbeat or
    /// failover request from the host).
    WrongPath,
}

/// Why an operator's failover was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverError {
    /// This DPU is not active (ask the active one).
    NotActive,
    /// No healthy standby to take over.
    PeerNotReady,
    /// `target_alias` names neither the peer nor anything known.
    UnknownTarget,
}

impl FailoverError {
    /// The API's error code.
    pub const fn code(self) -> &'static str {
        match self {
            FailoverError::NotActive => "ha_not_active",
            FailoverError::PeerNotReady => "peer_not_ready",
            FailoverError::UnknownTarget => "unknown_target",
        }
    }

    /// In words.
    pub const fn message(self) -> &'static str {
        match self {
            FailoverError::NotActive => "this DPU is not the active one",
            FailoverError::PeerNotReady => "no healthy standby DPU to take over",
            FailoverError::UnknownTarget => "target_alias names no known peer DPU",
        }
    }
}

#[derive(Clone, Debug)]
struct PeerInfo {
    heartbeat: Heartbeat,
    last_heard_ms: u64,
    /// Since when the peer has been heard as a standby without interruption (formation hold).
    standby_since_ms: Option<u64>,
}

/// What this DPU knows of its peer, for the API and console.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerView {
    /// The peer's alias once heard.
    pub alias: Option<Alias>,
    /// Heard within the detect time?
    pub health: Health,
    /// The peer's last announced role.
    pub role: Option<Role>,
    /// The peer's firmware version once heard.
    pub firmware: Option<Version>,
    /// Milliseconds since the peer was last heard.
    pub last_heard_ms: Option<u64>,
}

/// What this DPU knows of the host arbiter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostView {
    /// Heard within the detect time?
    pub health: Health,
    /// Milliseconds since the last grant.
    pub last_heard_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Resign {
    reason: Reason,
    epoch: u64,
    at_ms: u64,
}

/// The DPU state machine. See the crate documentation for the rules.
#[derive(Clone, Debug)]
pub struct Dpu {
    config: DpuConfig,
    role: Role,
    epoch: u64,
    /// The DPU believed active at `epoch`.
    active: Option<Alias>,
    refused: Option<(ReasonText, Source)>,
    mismatch: Option<ReasonText>,
    sequence: u32,
    next_heartbeat_ms: u64,
    peer: Option<PeerInfo>,
    host_heard_ms: Option<u64>,
    grant: Option<Grant>,
    uplinks_total: u8,
    uplinks_raw: u8,
    uplinks_counted: u8,
    uplinks_reported: bool,
    uplinks_rising_since: Option<u64>,
    resign: Option<Resign>,
    failovers: Failovers,
    promoted: bool,
    /// When the last heartbeat was handed out: the others' detect time counts from no earlier.
    last_sent_ms: u64,
    /// When this DPU booted: it promotes itself only after the detect time (see
    /// [`Dpu::settled`]).
    booted_ms: u64,
    /// The last [`Dpu::poll`]: a longer gap than a heartbeat interval means messages went
    /// unheard.
    last_poll_ms: u64,
}

impl Dpu {
    /// A DPU booting at `now_ms`: standby, epoch 0, first heartbeat due at once.
    pub fn new(config: DpuConfig, now_ms: u64) -> Self {
        Dpu {
            config,
            role: Role::Standby,
            epoch: 0,
            active: None,
            refused: None,
            mismatch: None,
            sequence: 0,
            next_heartbeat_ms: now_ms,
            peer: None,
            host_heard_ms: None,
            grant: None,
            uplinks_total: 0,
            uplinks_raw: 0,
            uplinks_counted: 0,
            uplinks_reported: false,
            uplinks_rising_since: None,
            resign: None,
            failovers: Failovers::default(),
            promoted: false,
            last_sent_ms: now_ms,
            last_poll_ms: now_ms,
            booted_ms: now_ms,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DpuConfig {
        &self.config
    }

    /// The switch config changed: heartbeats carry the new digest from now on.
    pub fn set_config_digest(&mut self, digest: Digest) {
        self.config.config_digest = digest;
    }

    /// The running firmware's version became known (the boot bank's image version, read after
    /// the network is up): heartbeats carry it from now on, and the peer is compared by it.
    pub fn set_firmware(&mut self, firmware: Version) {
        self.config.firmware = firmware;
    }

    /// The current role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the data ports may forward: only while active.
    pub fn forwarding(&self) -> bool {
        self.role == Role::Active
    }

    /// The highest epoch seen.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The DPU believed active now, if any.
    pub fn active_alias(&self) -> Option<&Alias> {
        self.active.as_ref()
    }

    /// Why HA refused to form (when [`Role::Refused`]).
    pub fn refused_reason(&self) -> Option<&str> {
        self.refused.as_ref().map(|(text, _)| text.as_str())
    }

    /// A firmware or config difference with the peer that did not refuse HA because a DPU was
    /// already active (a rolling update in progress).
    pub fn mismatch(&self) -> Option<&str> {
        self.mismatch.as_deref()
    }

    /// The failovers this DPU saw.
    pub fn failovers(&self) -> &Failovers {
        &self.failovers
    }

    /// Uplinks counted up (after the anti-flap delay) and configured.
    pub fn uplinks(&self) -> (u8, u8) {
        (self.uplinks_counted, self.uplinks_total)
    }

    /// True once after each promotion to active: the kernel then announces the learned MACs.
    pub fn take_promoted(&mut self) -> bool {
        core::mem::take(&mut self.promoted)
    }

    /// The peer as last heard.
    pub fn peer(&self, now_ms: u64) -> PeerView {
        match &self.peer {
            None => PeerView {
                alias: None,
                health: Health::Unknown,
                role: None,
                firmware: None,
                last_heard_ms: None,
            },
            Some(p) => PeerView {
                alias: Some(p.heartbeat.alias.clone()),
                health: if self.peer_up(now_ms) {
                    Health::Up
                } else {
                    Health::Down
                },
                role: Some(p.heartbeat.role),
                firmware: Some(p.heartbeat.firmware.clone()),
                last_heard_ms: Some(now_ms.saturating_sub(p.last_heard_ms)),
            },
        }
    }

    /// The host arbiter as last heard.
    pub fn host(&self, now_ms: u64) -> HostView {
        HostView {
            health: match self.host_heard_ms {
                None => Health::Unknown,
                Some(_) if self.host_up(now_ms) => Health::Up,
                Some(_) => Health::Down,
            },
            last_heard_ms: self.host_heard_ms.map(|t| now_ms.saturating_sub(t)),
        }
    }

    fn peer_up(&self, now_ms: u64) -> bool {
        self.peer
            .as_ref()
            .is_some_and(|p| now_ms.saturating_sub(p.last_heard_ms) <= self.config.detect_ms())
    }

    fn host_up(&self, now_ms: u64) -> bool {
        self.host_heard_ms
            .is_some_and(|t| now_ms.saturating_sub(t) <= self.config.detect_ms())
    }

    fn uplinks_ok(&self) -> bool {
        self.uplinks_total == 0 || self.uplinks_counted > 0
    }

    /// Whether this DPU could become active now.
    fn eligible(&self, now_ms: u64) -> bool {
        self.role != Role::Refused
            && self.resign.is_none()
            && self.uplinks_ok()
            && self.settled(now_ms)
    }

    /// Past the detect time since boot. A grant or heartbeat still in flight from before a
    /// reboot (the arbiter named this DPU, then its peer when it went silent) must not make
    /// the fresh DPU active beside the peer: until then it takes epochs but does not promote.
    /// The arbiter repeats its grant with every heartbeat, so a DPU still named then takes
    /// over at the same epoch.
    fn settled(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.booted_ms) > self.config.detect_ms()
    }

    /// The heartbeat this DPU would send now.
    pub fn heartbeat(&self, now_ms: u64) -> Heartbeat {
        Heartbeat {
            alias: self.config.alias.clone(),
            priority: self.config.priority,
            role: self.role,
            epoch: self.epoch,
            sequence: self.sequence,
            firmware: self.config.firmware.clone(),
            config_digest: self.config.config_digest,
            uplinks_up: self.uplinks_counted,
            uplinks_total: self.uplinks_total,
            resign: self.resign.map(|r| r.reason),
            peer_heard: self.peer_up(now_ms),
        }
    }

    /// The heartbeat a dying active DPU sends (the panic handler encodes it ahead of time):
    /// role standby, the current epoch, resign `reason`.
    pub fn resign_heartbeat(&self, reason: Reason, now_ms: u64) -> Heartbeat {
        let mut heartbeat = self.heartbeat(now_ms);
        if self.role == Role::Active {
            heartbeat.role = Role::Standby;
            heartbeat.resign = Some(reason);
        }
        heartbeat
    }

    /// The uplinks' link states now (`up` of `total` have carrier). A loss counts at once, a
    /// recovery after [`UPDELAY_MS`]; the first report at boot counts at once.
    pub fn on_uplinks(&mut self, now_ms: u64, up: u8, total: u8) {
        let up = up.min(total);
        self.uplinks_total = total;
        self.uplinks_raw = up;
        if !self.uplinks_reported {
            self.uplinks_reported = true;
            self.uplinks_counted = up;
        } else if up < self.uplinks_counted {
            self.uplinks_counted = up;
            self.uplinks_rising_since = None;
        } else if up > self.uplinks_counted {
            if self.uplinks_rising_since.is_none() {
                self.uplinks_rising_since = Some(now_ms);
            }
        } else {
            self.uplinks_rising_since = None;
        }
        self.check_uplinks(now_ms);
    }

    fn check_uplinks(&mut self, now_ms: u64) {
        if let Some(since) = self.uplinks_rising_since
            && now_ms.saturating_sub(since) >= UPDELAY_MS
        {
            self.uplinks_counted = self.uplinks_raw;
            self.uplinks_rising_since = None;
        }
        if self.role == Role::Active && !self.uplinks_ok() {
            self.resign(Reason::LinkDown, now_ms);
        }
    }

    /// Gives up being active (an operator's failover, lost uplinks): stops forwarding at once
    /// and announces the resign with the next heartbeat, which is due now.
    pub fn resign(&mut self, reason: Reason, now_ms: u64) {
        if self.role != Role::Active {
            return;
        }
        self.role = Role::Standby;
        self.resign = Some(Resign {
            reason,
            epoch: self.epoch,
            at_ms: now_ms,
        });
        self.next_heartbeat_ms = now_ms;
    }

    /// An operator's failover on this DPU: allowed only on the active one with a healthy
    /// standby (heard on the link, or reported ready by the host).
    pub fn request_failover(
        &mut self,
        now_ms: u64,
        target: Option<&str>,
    ) -> Result<(), FailoverError> {
        if self.role != Role::Active {
            return Err(FailoverError::NotActive);
        }
        let peer_alias = self.peer.as_ref().map(|p| p.heartbeat.alias.clone());
        let host_ready = if self.host_up(now_ms) {
            self.grant.as_ref().and_then(|g| g.standby_ready.clone())
        } else {
            None
        };
        if let Some(target) = target {
            let known =
                peer_alias.as_deref() == Some(target) || host_ready.as_deref() == Some(target);
            if !known {
                return Err(FailoverError::UnknownTarget);
            }
        }
        let link_ready = self.peer_up(now_ms)
            && self.peer.as_ref().is_some_and(|p| {
                p.heartbeat.role == Role::Standby
                    && p.heartbeat.resign.is_none()
                    && (p.heartbeat.uplinks_total == 0 || p.heartbeat.uplinks_up > 0)
            });
        if !link_ready && host_ready.is_none() {
            return Err(FailoverError::PeerNotReady);
        }
        self.resign(Reason::User, now_ms);
        Ok(())
    }

    /// One message received at `now_ms` from `source`.
    pub fn on_message(
        &mut self,
        now_ms: u64,
        source: Source,
        message: &Message,
    ) -> Result<(), Ignored> {
        match (source, message) {
            (Source::Link, Message::Heartbeat(heartbeat)) => self.on_peer(now_ms, heartbeat),
            (Source::Host, Message::Grant(grant)) => {
                self.on_grant(now_ms, grant);
                Ok(())
            }
            _ => Err(Ignored::WrongPath),
        }
    }

    fn on_peer(&mut self, now_ms: u64, heartbeat: &Heartbeat) -> Result<(), Ignored> {
        if heartbeat.alias == self.config.alias {
            return Err(Ignored::OwnAlias);
        }
        if let Some(p) = &self.peer
            && p.heartbeat.alias != heartbeat.alias
            && self.peer_up(now_ms)
        {
            return Err(Ignored::OtherPeer);
        }
        let was_standby_since = self
            .peer
            .as_ref()
            .filter(|p| p.heartbeat.alias == heartbeat.alias && self.peer_up(now_ms))
            .and_then(|p| p.standby_since_ms);
        let standby_since_ms = if heartbeat.role == Role::Standby {
            Some(was_standby_since.unwrap_or(now_ms))
        } else {
            None
        };
        self.peer = Some(PeerInfo {
            heartbeat: heartbeat.clone(),
            last_heard_ms: now_ms,
            standby_since_ms,
        });

        // Fencing: a higher epoch from the peer wins at once.
        if heartbeat.epoch > self.epoch {
            let active = (heartbeat.role == Role::Active).then(|| heartbeat.alias.clone());
            self.adopt(heartbeat.epoch, active, None, now_ms);
        } else if heartbeat.epoch == self.epoch
            && heartbeat.role == Role::Active
            && self.role == Role::Active
            && self.loses_to(heartbeat)
        {
            // Both active at one epoch (formed alone at the same moment): the loser yields.
            self.role = Role::Standby;
            self.active = Some(heartbeat.alias.clone());
            self.next_heartbeat_ms = now_ms;
        } else if heartbeat.epoch == self.epoch && heartbeat.role == Role::Active {
            self.active = Some(heartbeat.alias.clone());
        }

        self.check_peer_versions(heartbeat);

        // The active peer resigned on the link. While the host is heard it decides; without it
        // an explicit resign is unambiguous, so take over.
        if let Some(reason) = heartbeat.resign
            && heartbeat.epoch == self.epoch
            && self.active.as_ref() == Some(&heartbeat.alias)
            && self.role == Role::Standby
            && !self.host_up(now_ms)
            && self.eligible(now_ms)
        {
            let epoch = crate::next_epoch(self.epoch, self.minter(heartbeat));
            self.adopt(epoch, Some(self.config.alias.clone()), Some(reason), now_ms);
        }
        Ok(())
    }

    /// This DPU's epoch residue against `peer` (see [`crate::Minter`]).
    fn minter(&self, peer: &Heartbeat) -> crate::Minter {
        if self.loses_to(peer) {
            crate::Minter::OtherDpu
        } else {
            crate::Minter::BetterDpu
        }
    }

    fn loses_to(&self, other: &Heartbeat) -> bool {
        (other.priority, core::cmp::Reverse(other.alias.as_str()))
            > (
                self.config.priority,
                core::cmp::Reverse(self.config.alias.as_str()),
            )
    }

    fn check_peer_versions(&mut self, heartbeat: &Heartbeat) {
        let mut text = ReasonText::new();
        let me = &self.config;
        if heartbeat.firmware != me.firmware {
            let _ = write!(
                text,
                "{} runs firmware {}, {} {}",
                heartbeat.alias, heartbeat.firmware, me.alias, me.firmware
            );
        } else if heartbeat.config_digest != me.config_digest {
            let _ = write!(text, "{} has config digest ", heartbeat.alias);
            hex4(&mut text, &heartbeat.config_digest);
            let _ = write!(text, ", {} ", me.alias);
            hex4(&mut text, &me.config_digest);
        }
        if text.is_empty() {
            self.mismatch = None;
            if matches!(self.refused, Some((_, Source::Link))) {
                self.refused = None;
                self.role = Role::Standby;
            }
            return;
        }
        // An epoch above 0 was minted by a formation or a failover: the pair formed already,
        // even at a moment when nobody is active (a handover midway: the peer's heartbeat
        // with the arbiter's new epoch can come before the grant naming this DPU, and a
        // refusal then would leave nobody forwarding).
        let formed = self.role == Role::Active
            || heartbeat.role == Role::Active
            || self.active.is_some()
            || self.epoch > 0;
        if formed {
            // Formed already: keep going (a rolling update), but say so.
            self.mismatch = Some(text);
        } else {
            self.mismatch = None;
            self.role = Role::Refused;
            self.refused = Some((text, Source::Link));
        }
    }

    fn on_grant(&mut self, now_ms: u64, grant: &Grant) {
        self.host_heard_ms = Some(now_ms);
        self.grant = Some(grant.clone());
        match &grant.refused {
            Some(text) if self.role != Role::Active => {
                self.role = Role::Refused;
                self.refused = Some((text.clone(), Source::Host));
            }
            None if matches!(self.refused, Some((_, Source::Host))) => {
                self.refused = None;
                self.role = Role::Standby;
            }
            _ => {}
        }
        let named = grant.active.as_ref() == Some(&self.config.alias);
        if grant.epoch > self.epoch {
            self.adopt(grant.epoch, grant.active.clone(), grant.reason, now_ms);
        } else if grant.epoch == self.epoch
            && named
            && self.role == Role::Standby
            && self.resign.is_none()
            && self.uplinks_ok()
            && self.settled(now_ms)
        {
            // Named at this epoch when our uplinks did not count (a flap inside the updelay):
            // the arbiter still names us, and nobody else may forward at this epoch, so take
            // over now rather than wait for an epoch that never comes.
            self.role = Role::Active;
            self.promoted = true;
            self.next_heartbeat_ms = now_ms;
        } else if grant.epoch == self.epoch
            && self.role == Role::Active
            && grant.active.as_ref() != Some(&self.config.alias)
        {
            // The arbiter names someone else at our epoch: never both; yield.
            self.role = Role::Standby;
            self.active = grant.active.clone();
            self.next_heartbeat_ms = now_ms;
        }
    }

    /// Takes `epoch` with `active` as the active DPU; records a failover when the active
    /// changed for a known reason.
    fn adopt(&mut self, epoch: u64, active: Option<Alias>, reason: Option<Reason>, now_ms: u64) {
        let previous = self.active.clone();
        let own_resign = self.resign.map(|r| r.reason);
        self.epoch = epoch;
        self.active = active.clone();
        if self.resign.is_some_and(|r| epoch > r.epoch) {
            self.resign = None;
        }
        let me = active.as_ref() == Some(&self.config.alias);
        if me {
            if self.role != Role::Active
                && self.role != Role::Refused
                && self.uplinks_ok()
                && self.settled(now_ms)
            {
                self.role = Role::Active;
                self.promoted = true;
                self.next_heartbeat_ms = now_ms;
            }
        } else if self.role == Role::Active {
            self.role = Role::Standby;
            self.next_heartbeat_ms = now_ms;
        }
        let reason = reason.or(own_resign);
        if let (Some(reason), Some(from), Some(to)) = (reason, previous, active)
            && from != to
        {
            self.failovers.push(FailoverRecord {
                reason,
                from,
                to,
                epoch,
                at_ms: now_ms,
            });
        }
    }

    /// Runs the timers at `now_ms`; returns the heartbeat to send when one is due (to the link
    /// and to the host).
    pub fn poll(&mut self, now_ms: u64) -> Option<Heartbeat> {
        // A DPU silent for the detect time (a stalled loop that came back) may have been
        // declared dead by the others, who count from the last heartbeat they heard, never
        // sent earlier than our last one: stop before forwarding again. (Counted from the last
        // poll instead, a stall starting just before a heartbeat was due went unnoticed for up
        // to one interval longer than the others waited.)
        let stalled = now_ms.saturating_sub(self.last_sent_ms) > self.config.detect_ms();
        if stalled {
            self.resign(Reason::Crash, now_ms);
        }
        // Deaf for longer than a heartbeat interval (a stall, even a short one): what it last
        // heard of the peer predates the gap, and the peer may have been granted active in it
        // (a grant this DPU missed as well), so forming alone waits for a fresh standby hold.
        let deaf =
            now_ms.saturating_sub(self.last_poll_ms) > u64::from(self.config.heartbeat_ms.max(1));
        self.last_poll_ms = now_ms;
        if deaf && let Some(peer) = &mut self.peer {
            peer.standby_since_ms = None;
        }
        self.check_uplinks(now_ms);
        let hold = u64::from(self.config.heartbeat_ms.max(1)) * RESIGN_HOLD_INTERVALS;
        if self
            .resign
            .is_some_and(|r| now_ms.saturating_sub(r.at_ms) > hold && self.uplinks_ok())
        {
            self.resign = None;
        }
        self.form_without_host(now_ms);
        if now_ms < self.next_heartbeat_ms {
            return None;
        }
        self.next_heartbeat_ms = now_ms.saturating_add(u64::from(self.config.heartbeat_ms.max(1)));
        self.last_sent_ms = now_ms;
        let heartbeat = self.heartbeat(now_ms);
        self.sequence = self.sequence.wrapping_add(1);
        Some(heartbeat)
    }

    /// Two standbys that hear each other and no host: the better one (higher priority, then
    /// lower alias; an eligible one over one that is not) becomes active once the peer has been
    /// heard as a standby for the detect time.
    fn form_without_host(&mut self, now_ms: u64) {
        if self.role != Role::Standby || !self.eligible(now_ms) || self.host_up(now_ms) {
            return;
        }
        if !self.peer_up(now_ms) {
            return;
        }
        let Some(peer) = &self.peer else { return };
        let Some(since) = peer.standby_since_ms else {
            return;
        };
        if now_ms.saturating_sub(since) < self.config.detect_ms() {
            return;
        }
        let p = &peer.heartbeat;
        let peer_eligible = p.resign.is_none() && (p.uplinks_total == 0 || p.uplinks_up > 0);
        if peer_eligible && self.loses_to(p) {
            return;
        }
        let epoch = crate::next_epoch(self.epoch.max(p.epoch), self.minter(p));
        self.adopt(epoch, Some(self.config.alias.clone()), None, now_ms);
    }
}

fn hex4(out: &mut ReasonText, digest: &Digest) {
    for byte in &digest[..4] {
        let _ = write!(out, "{byte:02x}");
    }
}
