//! The `Backend` trait: everything the /v1 handlers read from and do to the kernel.
//!
//! The kernel implements it (`kernel/runtime/src/api.rs`); host tests use a fake. Values are
//! the switch's own types where it has them (config, counters, MAC table entries) and plain
//! words and numbers otherwise, so this crate needs neither the boot-state nor the driver
//! crates. Nothing here allocates: lists are visited or copied into caller slices.

use dpu_switch::table::Entry;
use dpu_switch::{ConfigError, Counters, FdbError, MacAddress, PortCounters, PortId, SwitchConfig};
use dpu_switch::{EntryKind, PortSet, VlanId};
use heapless::String;

/// Identity and health of the running firmware (`GET /v1/system`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemInfo<'a> {
    /// Firmware version (`0.1.0`).
    pub version: &'a str,
    /// Source revision it was built from.
    pub git: &'a str,
    /// `release` or `debug`.
    pub profile: &'a str,
    /// Milliseconds since this boot started.
    pub uptime_ms: u64,
    /// This boot's number since power-on.
    pub boot_number: u32,
    /// Bytes of RAM the board has.
    pub memory_total_bytes: u64,
    /// Bytes of RAM the kernel image reserves (its booti `image_size`: code, data, BSS,
    /// stack and the last-boot mailbox).
    pub memory_image_bytes: u64,
    /// The boot report line, in words (`bank A v0.1.0+1 committed`, or `direct boot`).
    pub boot_report: &'a str,
    /// How the previous boot ended, in words (`none (power-on)`, `panic at ...`).
    pub last_boot: &'a str,
    /// The bank running (`A`/`B`), if booted from a bank.
    pub boot_bank: Option<char>,
    /// The running bank is still a trial (not committed).
    pub trial: bool,
}

/// A reboot as asked for (`POST /v1/system:reboot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootKind {
    /// Finish answering, then reset.
    Graceful,
    /// Reset right after the answer is queued.
    Force,
}

/// Counters the NIC driver keeps for a port (what went over the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NicCounters {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames transmitted.
    pub tx_packets: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Received frames the driver dropped (oversized, runt, device error).
    pub rx_errors: u64,
    /// Frames the driver could not send (bad length, device error).
    pub tx_errors: u64,
    /// Frames the driver had no room to send.
    pub tx_discards: u64,
    /// Link changes the device reported.
    pub carrier_transitions: u64,
}

/// The live state of one data port besides its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PortState {
    /// The port has a NIC (it came up at boot).
    pub present: bool,
    /// Carrier up (false without a NIC).
    pub link_up: bool,
    /// The NIC's hardware address.
    pub mac: Option<MacAddress>,
    /// What the driver counted.
    pub nic: NicCounters,
    /// What the switch counted.
    pub switch: PortCounters,
    /// Learned MACs on the port now.
    pub learned_macs: usize,
    /// For a host port: the uplink it is pinned to (teaming).
    pub pinned_uplink: Option<PortId>,
    /// Uptime (ms) of the last `:clear-counters`, if any; counters count from then.
    pub last_clear_ms: Option<u64>,
}

/// Which MAC table entries a listing wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FdbFilter {
    /// Only this VLAN.
    pub vlan: Option<VlanId>,
    /// Only this port.
    pub port: Option<PortId>,
    /// Only static or only learned entries.
    pub kind: Option<EntryKind>,
}

impl FdbFilter {
    /// Whether `entry` passes.
    #[must_use]
    pub fn matches(&self, entry: &Entry) -> bool {
        self.vlan.is_none_or(|vlan| entry.vlan == vlan)
            && self.port.is_none_or(|port| entry.port == port)
            && self.kind.is_none_or(|kind| entry.kind == kind)
    }
}

/// One page of MAC table entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbPage {
    /// Entries written to the caller's slice.
    pub count: usize,
    /// Where the next page starts (a table position), if entries may follow.
    pub next: Option<u32>,
}

/// Switch-wide figures (`/metrics`, `GET /v1/fdb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchSummary {
    /// The switch's counters (drops by reason, moves, table full ...).
    pub counters: Counters,
    /// Entries in the MAC table.
    pub mac_entries: usize,
    /// Entries the table holds at most.
    pub mac_capacity: usize,
    /// Seconds on the switch's clock (MAC ages are measured against it).
    pub now_seconds: u32,
    /// Uplinks carrying traffic now (teaming).
    pub active_uplinks: PortSet,
}

/// One firmware bank (`GET /v1/firmware`), Redfish SoftwareInventory-like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankView {
    /// `A` or `B`.
    pub slot: char,
    /// Image version (`0.1.0+1`); empty for an empty bank.
    pub version: String<24>,
    /// Lifecycle state in words: `empty`, `writing`, `trial`, `good`, `bad`, `superseded`.
    pub state: &'static str,
    /// The bank is running now.
    pub active: bool,
    /// The bank is the preferred one but not committed yet (boots next, as a trial).
    pub staged: bool,
    /// Tries left while a trial.
    pub tries_left: u8,
    /// Image security counter.
    pub security_counter: u32,
    /// Signed image length in bytes.
    pub size_bytes: u32,
    /// SHA-256 of the image.
    pub digest: [u8; 32],
    /// Why it failed, in words; empty when it did not.
    pub failure_reason: String<64>,
}

/// Both banks and the anti-rollback floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirmwareView {
    /// Bank A, then bank B.
    pub banks: [BankView; 2],
    /// Lowest security counter dpuboot accepts.
    pub floor: u32,
    /// A rollback request is pending for the next boot.
    pub rollback_requested: bool,
    /// The last boot outcome, in words.
    pub last_outcome: String<96>,
}

/// Why an upload cannot start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRefusal {
    /// Another upload (or a console update) is running: 409.
    Busy,
    /// The image is larger than a bank: 413.
    TooLarge {
        /// The bank size.
        limit: u32,
    },
    /// Updates need a committed boot from a bank (direct boot, or a trial): 409.
    NotCommitted,
    /// Direct boot: no boot-state record, no banks: 409.
    Unavailable,
    /// Writing the boot-state record failed: 507.
    Storage,
}

/// Why the body stopped being accepted (the task says more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadFailure {
    /// No upload is running.
    NotRunning,
    /// The session failed (flash, format, length); the task has the reason.
    Failed,
}

/// The upload the API started: which request streams it, and how far it got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiUpload {
    /// The request streaming it ([`crate::api::serve`] makes the key from the request).
    pub key: u64,
    /// Its task.
    pub task: u32,
    /// Bytes announced.
    pub length: u32,
    /// Bytes taken so far.
    pub fed: u32,
    /// The session refused bytes: the upload failed while the body arrived.
    pub failed: bool,
}

/// State of a task (Redfish TaskState subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskState {
    /// Receiving the body or verifying.
    Running,
    /// Done and succeeded.
    Completed,
    /// Done and failed (`message` says why).
    Exception,
}

impl TaskState {
    /// The JSON word.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Exception => "exception",
        }
    }
}

/// A task (`GET /v1/tasks/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskInfo {
    /// Its id.
    pub id: u32,
    /// What it does (`firmware-upload`).
    pub kind: &'static str,
    /// State.
    pub state: TaskState,
    /// 0..=100.
    pub percent: u8,
    /// Bytes received of `total_bytes`.
    pub received_bytes: u32,
    /// Bytes announced.
    pub total_bytes: u32,
    /// The latest message, in words.
    pub message: String<128>,
    /// Uptime (ms) when it started.
    pub started_ms: u64,
    /// Uptime (ms) when it ended.
    pub ended_ms: Option<u64>,
}

/// One log line (`GET /v1/logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Sequence number, one more per line since boot.
    pub seq: u64,
    /// Uptime (ms) when it was written.
    pub uptime_ms: u64,
    /// The text.
    pub text: &'a str,
}

/// Poll loop figures (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoopStats {
    /// Passes since boot.
    pub passes: u64,
    /// Longest pass since boot, in microseconds.
    pub longest_pass_us: u64,
}

/// HTTP server figures (`/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HttpStats {
    /// Well-formed requests.
    pub requests: u64,
    /// Responses by status class, index 0 for 1xx .. 4 for 5xx.
    pub responses_by_class: [u64; 5],
    /// Requests the parser refused.
    pub malformed: u64,
    /// Connections closed by a deadline.
    pub timeouts: u64,
    /// Requests refused for a missing or bad token.
    pub unauthorized: u64,
}

/// Why a rollback request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollbackRefusal {
    /// Direct boot: there is no other bank.
    NoBanks,
    /// The other bank is not eligible (its state, or below the anti-rollback floor).
    Forbidden,
    /// Writing the request failed.
    Flash,
}

/// Why an unstage was refused (nothing written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnstageRefusal {
    /// Direct boot: there are no banks.
    NoBanks,
    /// The running bank is a trial: nothing staged waits behind it.
    RunningTrial,
    /// No image is staged as the next boot's trial.
    NothingStaged,
    /// Writing the record failed.
    Flash,
}

/// What an unstage withdrew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unstaged {
    /// `A` or `B`.
    pub slot: char,
    /// The withdrawn image's version (`0.2.0+2`).
    pub version: String<24>,
}

/// Why a switch config change was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyError {
    /// The switch's validation refused it.
    Invalid(ConfigError),
    /// Storing it failed; the running config was put back.
    Storage,
}

/// Why `PUT /v1/config` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigRefusal {
    /// The body is not a valid config; the field errors were reported.
    Invalid,
    /// Valid, but storing it failed (nothing changed).
    Storage,
}

/// What the kernel provides to the /v1 handlers.
pub trait Backend {
    /// Identity, uptime, memory and boot outcome.
    fn system(&self) -> SystemInfo<'_>;
    /// Schedules a reboot after the response went out.
    fn reboot(&mut self, kind: RebootKind);

    /// The running switch config; `None` without data ports.
    fn switch_config(&self) -> Option<&SwitchConfig>;
    /// Live state of `port`.
    fn port_state(&self, port: PortId) -> PortState;
    /// Validates `config` and makes it the running (and stored) config; nothing changes on
    /// error.
    fn apply_switch_config(&mut self, config: &SwitchConfig) -> Result<(), ApplyError>;
    /// Counters of `port` count from now on (`last_clear`); the raw ones (metrics) keep going.
    fn clear_port_counters(&mut self, port: PortId);
    /// Switch-wide counters and table figures; `None` without data ports.
    fn switch_summary(&self) -> Option<SwitchSummary>;
    /// Copies the entries from table position `start` on that pass `filter` into `out`, each
    /// with its position (a later page starts after it). Positions are the order of a table
    /// scan: entries added or removed between pages may be missed or listed twice.
    fn fdb_page(&self, start: u32, filter: &FdbFilter, out: &mut [(u32, Entry)]) -> FdbPage;
    /// Adds or replaces a static entry.
    fn fdb_add(&mut self, vlan: VlanId, mac: MacAddress, port: PortId) -> Result<(), FdbError>;
    /// Removes an entry; returns it.
    fn fdb_remove(&mut self, vlan: VlanId, mac: MacAddress) -> Option<Entry>;
    /// Removes learned entries (of `port` only, if given); returns how many.
    fn fdb_flush(&mut self, port: Option<PortId>) -> usize;

    /// Writes the running config as JSON (dpu-config's form).
    fn write_config(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result;
    /// Parses, validates, applies and stores a whole config; on error reports each field
    /// (a JSON path and a reason) to `field_error` and changes nothing.
    fn replace_config(
        &mut self,
        body: &[u8],
        field_error: &mut dyn FnMut(&str, &str),
    ) -> Result<(), ConfigRefusal>;

    /// Both banks; `None` on a direct boot (no boot-state record).
    fn firmware(&self) -> Option<FirmwareView>;
    /// Asks dpuboot to boot the other bank next time.
    fn rollback(&mut self) -> Result<(), RollbackRefusal>;
    /// Withdraws the image staged as the next boot's trial (the running bank boots again).
    fn unstage(&mut self) -> Result<Unstaged, UnstageRefusal>;
    /// Starts an upload of `length` bytes into the inactive bank; returns the task id.
    fn upload_start(&mut self, length: u32) -> Result<u32, UploadRefusal>;
    /// Offers body bytes; returns how many were taken (fewer when the session needs a pass
    /// to program flash: offer the rest again later).
    fn upload_feed(&mut self, bytes: &[u8]) -> Result<usize, UploadFailure>;
    /// The body ended: `complete` when every announced byte was fed, else it was cut short.
    fn upload_end(&mut self, complete: bool);
    /// A task by id.
    fn task(&self, id: u32) -> Option<TaskInfo>;
    /// The upload the API is streaming, if any (kept across loop passes).
    fn api_upload(&self) -> Option<ApiUpload>;
    /// Records (or clears) the upload the API is streaming.
    fn set_api_upload(&mut self, upload: Option<ApiUpload>);
    /// The last upload the kernel refused to start, with its request key (answered later).
    fn api_refused(&self) -> Option<(u64, UploadRefusal)>;
    /// Records (or clears) it.
    fn set_api_refused(&mut self, refused: Option<(u64, UploadRefusal)>);

    /// Visits log lines with a sequence number above `after_seq`, oldest first, until `visit`
    /// returns false.
    fn logs(&self, after_seq: u64, visit: &mut dyn FnMut(LogLine<'_>) -> bool);
    /// Poll loop figures.
    fn loop_stats(&self) -> LoopStats;
    /// HTTP server figures.
    fn http_stats(&self) -> HttpStats;

    /// Active/standby HA (issue 10); `None` when HA is off (no `ha.alias`).
    fn ha(&self) -> Option<super::ha::HaView> {
        None
    }
    /// An operator's failover: this DPU resigns so the standby takes over.
    fn ha_failover(&mut self, target: Option<&str>) -> Result<(), super::ha::HaRefusal> {
        let _ = target;
        Err(super::ha::HaRefusal::Disabled)
    }
    /// The `ha.alias` of this DPU (`/v1/system`), if HA is on.
    fn ha_alias(&self) -> Option<dpu_ha::Alias> {
        None
    }
}
