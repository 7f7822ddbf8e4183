//! Small value types shared by the codec, the DPU state machine and the arbiter.

use core::fmt;

/// The longest DPU alias (`dpu1`, `rack3-dpu-b`, ...).
pub const ALIAS_MAX: usize = 16;
/// The longest firmware version string.
pub const VERSION_MAX: usize = 32;
/// How many failovers each side remembers (the oldest is dropped).
pub const FAILOVER_HISTORY: usize = 8;

/// A DPU's persistent name: 1..=16 of `a-z A-Z 0-9 - _ .`.
pub type Alias = heapless::String<ALIAS_MAX>;
/// A firmware version string: 1..=32 printable ASCII characters.
pub type Version = heapless::String<VERSION_MAX>;
/// The SHA-256 digest of the switch configuration both DPUs must share.
pub type Digest = [u8; 32];
/// Why HA refused to form, in words naming the DPUs.
pub type ReasonText = heapless::String<96>;

/// Whether `text` is a valid alias.
pub fn parse_alias(text: &str) -> Option<Alias> {
    let valid = !text.is_empty()
        && text.len() <= ALIAS_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return None;
    }
    let mut out = Alias::new();
    out.push_str(text).ok()?;
    Some(out)
}

/// `text` as an alias, cut to [`ALIAS_MAX`] (for names already checked, and tests).
pub fn alias(text: &str) -> Alias {
    let mut out = Alias::new();
    for c in text.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

/// A DPU's HA role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Forwards nothing on its data ports; ready to take over.
    Standby,
    /// Forwards: holds the current epoch.
    Active,
    /// HA refused to form (firmware or config differs); forwards nothing, never promotes.
    Refused,
}

impl Role {
    /// The API and console spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Active => "active",
            Role::Refused => "refused",
        }
    }

    pub(crate) const fn code(self) -> u8 {
        match self {
            Role::Standby => 1,
            Role::Active => 2,
            Role::Refused => 3,
        }
    }

    pub(crate) const fn from_code(code: u8) -> Option<Role> {
        match code {
            1 => Some(Role::Standby),
            2 => Some(Role::Active),
            3 => Some(Role::Refused),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the active DPU changed (vSphere's `FailoverReason`: crash, linkDown, userInitiated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The active DPU's software failed: a panic's resign, or missed heartbeats (a hang).
    Crash,
    /// Every uplink of the active DPU lost link.
    LinkDown,
    /// An operator asked (`POST /v1/ha:failover`, console `ha failover`, `dpuctl failover`).
    User,
}

impl Reason {
    /// Every reason, in metric order.
    pub const ALL: [Reason; 3] = [Reason::Crash, Reason::LinkDown, Reason::User];

    /// The API, metrics and console spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::Crash => "crash",
            Reason::LinkDown => "link-down",
            Reason::User => "user",
        }
    }

    /// Index into [`Reason::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Reason::Crash => 0,
            Reason::LinkDown => 1,
            Reason::User => 2,
        }
    }

    pub(crate) const fn code(reason: Option<Reason>) -> u8 {
        match reason {
            None => 0,
            Some(Reason::Crash) => 1,
            Some(Reason::LinkDown) => 2,
            Some(Reason::User) => 3,
        }
    }

    pub(crate) const fn from_code(code: u8) -> Result<Option<Reason>, ()> {
        match code {
            0 => Ok(None),
            1 => Ok(Some(Reason::Crash)),
            2 => Ok(Some(Reason::LinkDown)),
            3 => Ok(Some(Reason::User)),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a peer or the host is heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Never heard since boot.
    Unknown,
    /// Heard within the detect time.
    Up,
    /// Heard once, silent for longer than the detect time.
    Down,
}

impl Health {
    /// The API and console spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of the active DPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailoverRecord {
    /// Why.
    pub reason: Reason,
    /// The DPU that was active (empty when not known).
    pub from: Alias,
    /// The DPU that became active (empty when nobody did).
    pub to: Alias,
    /// The epoch of the new active.
    pub epoch: u64,
    /// When, in the recorder's milliseconds since boot.
    pub at_ms: u64,
}

/// The last [`FAILOVER_HISTORY`] failovers, oldest first, plus a per-reason count that never
/// forgets (for `/metrics`).
#[derive(Clone, Debug, Default)]
pub struct Failovers {
    records: heapless::Deque<FailoverRecord, FAILOVER_HISTORY>,
    totals: [u64; 3],
}

impl Failovers {
    /// Records one failover, dropping the oldest record when full.
    pub fn push(&mut self, record: FailoverRecord) {
        self.totals[record.reason.index()] = self.totals[record.reason.index()].saturating_add(1);
        if self.records.is_full() {
            self.records.pop_front();
        }
        // Cannot fail: there is room now.
        let _ = self.records.push_back(record);
    }

    /// The remembered records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &FailoverRecord> {
        self.records.iter()
    }

    /// The newest record.
    pub fn last(&self) -> Option<&FailoverRecord> {
        self.records.back()
    }

    /// How many failovers happened for `reason` since start.
    pub fn total(&self, reason: Reason) -> u64 {
        self.totals[reason.index()]
    }

    /// How many records are remembered.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}
