//! The kernel's side of the management API: the `Backend` the /v1 handlers read and change.
//!
//! The handlers (`dpu_mgmt::api`, pure and host-tested) decide everything an answer says;
//! this module only collects the figures (switch, NIC counters, boot banks, loop and HTTP
//! statistics, recent console lines) and makes the changes (switch config, MAC table,
//! rollback request, reboot, upload session). It runs inside the poll loop, called by the
//! HTTP server while it answers, so nothing here waits: a reboot is scheduled and done by
//! [`poll`] once the answer had time to go out; an upload is fed a bounded amount per call.
//!
//! State kept here, all touched by the loop only: the per-port counter baselines of
//! `:clear-counters` (the raw counters keep counting, for `/metrics`), the pending reboot,
//! the upload task, and the console line ring (written by `console.rs` for every text line
//! printed, so it is an interrupt-safe lock of the leaf rank).

use crate::arch::aarch64::{psci, timer};
use crate::net::PortNic;
use crate::switching::DataPorts;
use crate::sync::IrqSafeMutex;
use bootstate::{Bank, BankState, BootRecord, FailureReason, OutcomeLine};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use dpu_mgmt::api::backend::{
    ApiUpload, ApplyError, Backend, BankView, ConfigRefusal, FdbFilter, FdbPage, FirmwareView,
    HttpStats, LogLine, LoopStats, NicCounters, PortState, RebootKind, RollbackRefusal,
    SwitchSummary, SystemInfo, TaskInfo, TaskState, UnstageRefusal, Unstaged, UploadFailure,
    UploadRefusal,
};
use dpu_mgmt::api::lines::LineRing;
use dpu_switch::table::Entry;
use dpu_switch::{
    FdbError, MAC_TABLE_CAPACITY, MAX_PORTS, MacAddress, PortCounters, PortId, SwitchConfig, Tick,
    VlanId,
};
use heapless::String;
use netdev::{LinkState, NetDevice};

/// Console lines `GET /v1/logs` can return, and their width.
const LOG_LINES: usize = 128;
const LOG_WIDTH: usize = 120;
/// How long after a graceful reboot request the reset comes (the 202 goes out first).
const GRACEFUL_REBOOT_DELAY_MS: u64 = 500;
/// The same for a forced reboot.
const FORCED_REBOOT_DELAY_MS: u64 = 100;

/// Recent console lines (leaf rank: taken under the console output lock by `console.rs`).
static LINES: IrqSafeMutex<LineRing<LOG_LINES, LOG_WIDTH>> = IrqSafeMutex::new(LineRing::new());
/// Uptime (ms) at which to reset; 0: no reboot pending.
static REBOOT_AT: AtomicU64 = AtomicU64::new(0);
/// The task id of the upload the API started last, and when (ms since boot).
static UPLOAD_TASK: AtomicU32 = AtomicU32::new(0);
static UPLOAD_STARTED_MS: AtomicU64 = AtomicU64::new(0);
/// The upload the HTTP server is streaming, and the last refused one (loop only).
static API_UPLOAD: IrqSafeMutex<Option<ApiUpload>> = IrqSafeMutex::new(None);
static API_REFUSED: IrqSafeMutex<Option<(u64, UploadRefusal)>> = IrqSafeMutex::new(None);
/// Counter baselines of `:clear-counters`, per port (loop only).
static BASELINES: IrqSafeMutex<[Option<Baseline>; MAX_PORTS]> =
    IrqSafeMutex::new([None; MAX_PORTS]);

/// The counters at the last `:clear-counters` of a port.
#[derive(Clone, Copy)]
struct Baseline {
    at_ms: u64,
    nic: NicCounters,
    switch: PortCounters,
}

/// Adds printed console text to the line ring (`console.rs` calls it for every text write).
pub fn note_console_text(text: &str) {
    LINES.lock().write(text, timer::milliseconds_since_boot());
}

/// `Retry-After` (seconds) of the 503 every API request but `/healthz` gets once a reboot is
/// scheduled: the reset, dpuboot's Shift+R window (2 s by default) and the kernel's boot.
pub const REBOOT_RETRY_AFTER_S: u32 = 10;

/// Whether the API serves requests now. The kernel brings the management stack up only once
/// the config, the switch and the boot banks are ready, so the one "booting" window a client
/// can reach is the one before the next boot: from an accepted reboot to the reset, the API is
/// unavailable (503 with `Retry-After`), and nothing it would change is lost to the reset.
pub fn availability() -> dpu_mgmt::Availability {
    if REBOOT_AT.load(Ordering::Relaxed) == 0 {
        dpu_mgmt::Availability::Ready
    } else {
        dpu_mgmt::Availability::Unavailable {
            retry_after_s: REBOOT_RETRY_AFTER_S,
        }
    }
}

/// Once a pass: does a scheduled reboot when its time has come.
pub fn poll(reset: Option<psci::Conduit>) {
    let at = REBOOT_AT.load(Ordering::Relaxed);
    if at == 0 || timer::milliseconds_since_boot() < at {
        return;
    }
    REBOOT_AT.store(0, Ordering::Relaxed);
    crate::println!("rebooting (requested through the management API)");
    crate::lastboot::record(bootstate::lastboot::Ending::Reboot);
    match reset {
        Some(conduit) => psci::system_reset(conduit),
        None => crate::println!("error: no PSCI in the device tree; cannot reset"),
    }
    crate::println!("error: the firmware refused to reset");
}

/// Makes `config` the running config's switch part and stores it. Without flash1 there is
/// nothing to store it on: the change runs until the next boot.
fn persist(config: &SwitchConfig) -> Result<(), ()> {
    crate::config::switch_applied(config);
    match crate::config::save() {
        Ok(_) | Err(crate::config::SaveError::NoFlash) => Ok(()),
        Err(crate::config::SaveError::Store(_)) => Err(()),
    }
}

/// The API's tokens: dpu-config's table (constant-time verify, `config.rs`).
pub struct Tokens;

impl dpu_mgmt::Credentials for Tokens {
    fn verify(&self, presented: &[u8]) -> Option<dpu_mgmt::Role> {
        crate::config::verify_token(presented).map(|role| match role {
            dpu_config::Role::Administrator => dpu_mgmt::Role::Administrator,
            dpu_config::Role::Operator => dpu_mgmt::Role::Operator,
            dpu_config::Role::ReadOnly => dpu_mgmt::Role::ReadOnly,
        })
    }
}

/// The HTTP server's counters as the API shows them.
pub fn http_stats(counters: &dpu_mgmt::Counters) -> HttpStats {
    HttpStats {
        requests: counters.requests,
        responses_by_class: counters.responses_by_class,
        malformed: counters.malformed,
        timeouts: counters.timeouts,
        unauthorized: counters.auth_failures.saturating_add(counters.auth_missing),
    }
}

/// The kernel as the handlers see it for one request: the switch and its NICs, and the
/// server's counters.
pub struct KernelBackend<'a> {
    /// The switch over the data ports (none without data ports).
    pub ports: Option<&'a mut DataPorts>,
    /// The data port NICs.
    pub nics: &'a [PortNic],
    /// The HTTP server's counters.
    pub http: HttpStats,
    /// Active/standby HA, when `ha.alias` is set.
    pub ha: Option<&'a mut crate::ha::Ha>,
}

/// `value` in words, into a fixed string (cut if longer).
fn words<const N: usize>(value: impl core::fmt::Display) -> String<N> {
    let mut text = String::new();
    let _ = core::fmt::write(&mut text, format_args!("{}", value));
    text
}

fn nic_counters(nic: &PortNic) -> NicCounters {
    let counters = nic.driver.counters();
    NicCounters {
        rx_packets: counters.rx_packets,
        rx_bytes: counters.rx_bytes,
        tx_packets: counters.tx_packets,
        tx_bytes: counters.tx_bytes,
        rx_errors: counters.rx_drop_oversized
            + counters.rx_drop_runt
            + counters.rx_drop_device_error,
        tx_errors: counters.tx_drop_bad_length + counters.tx_device_error,
        tx_discards: counters.tx_drop_no_room,
        carrier_transitions: counters.link_changes,
    }
}

fn minus_nic(now: NicCounters, then: NicCounters) -> NicCounters {
    NicCounters {
        rx_packets: now.rx_packets.saturating_sub(then.rx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(then.rx_bytes),
        tx_packets: now.tx_packets.saturating_sub(then.tx_packets),
        tx_bytes: now.tx_bytes.saturating_sub(then.tx_bytes),
        rx_errors: now.rx_errors.saturating_sub(then.rx_errors),
        tx_errors: now.tx_errors.saturating_sub(then.tx_errors),
        tx_discards: now.tx_discards.saturating_sub(then.tx_discards),
        carrier_transitions: now
            .carrier_transitions
            .saturating_sub(then.carrier_transitions),
    }
}

fn minus_switch(now: PortCounters, then: PortCounters) -> PortCounters {
    PortCounters {
        rx_packets: now.rx_packets.saturating_sub(then.rx_packets),
        rx_bytes: now.rx_bytes.saturating_sub(then.rx_bytes),
        tx_packets: now.tx_packets.saturating_sub(then.tx_packets),
        tx_bytes: now.tx_bytes.saturating_sub(then.tx_bytes),
        forwarded: now.forwarded.saturating_sub(then.forwarded),
        flooded: now.flooded.saturating_sub(then.flooded),
        dropped: now.dropped.saturating_sub(then.dropped),
        unknown_unicast: now.unknown_unicast.saturating_sub(then.unknown_unicast),
        learned: now.learned.saturating_sub(then.learned),
        moves: now.moves.saturating_sub(then.moves),
    }
}

impl KernelBackend<'_> {
    /// Raw counters of `port` (NIC and switch), never reset.
    fn raw(&self, port: PortId) -> Option<(NicCounters, PortCounters)> {
        let ports = self.ports.as_deref()?;
        let nic = ports
            .nic_index(port)
            .and_then(|index| self.nics.get(index))
            .map(nic_counters)
            .unwrap_or_default();
        Some((nic, *ports.switch().port_counters(port)))
    }

    /// The raw state of `port` (what `/metrics` shows).
    pub fn raw_port_state(&self, port: PortId) -> PortState {
        let Some(ports) = self.ports.as_deref() else {
            return PortState::default();
        };
        let switch = ports.switch();
        let nic = ports.nic_index(port).and_then(|index| self.nics.get(index));
        let (nic_counters, switch_counters) = self.raw(port).unwrap_or_default();
        PortState {
            present: nic.is_some(),
            link_up: nic.is_some_and(|nic| nic.driver.link_state() == LinkState::Up),
            mac: nic.map(|nic| MacAddress(nic.driver.mac_address().0)),
            nic: nic_counters,
            switch: switch_counters,
            learned_macs: switch.learned_on(port),
            pinned_uplink: switch.pinned_uplink(port),
            last_clear_ms: None,
        }
    }
}

impl Backend for KernelBackend<'_> {
    fn ha(&self) -> Option<dpu_mgmt::api::ha::HaView> {
        let ha = self.ha.as_deref()?;
        Some(ha.view(self.ports.as_deref()))
    }

    fn ha_failover(&mut self, target: Option<&str>) -> Result<(), dpu_mgmt::api::ha::HaRefusal> {
        let ha = self
            .ha
            .as_deref_mut()
            .ok_or(dpu_mgmt::api::ha::HaRefusal::Disabled)?;
        ha.failover(target)
            .map_err(dpu_mgmt::api::ha::HaRefusal::Refused)
    }

    fn ha_alias(&self) -> Option<dpu_ha::Alias> {
        self.ha.as_deref().map(|ha| ha.settings().alias.clone())
    }

    fn system(&self) -> SystemInfo<'_> {
        let memory_total_bytes = crate::system().map_or(0, |system| {
            system
                .board
                .memory
                .iter()
                .map(|region| region.size)
                .sum::<u64>()
        });
        let image = crate::layout::image();
        let (boot_bank, trial) = match crate::bootbank::view() {
            Some((_, _, Some((bank, trial)))) => (Some(bank_letter(bank)), trial),
            _ => (None, false),
        };
        SystemInfo {
            version: crate::version::VERSION,
            git: crate::version::GIT_HASH,
            profile: crate::version::PROFILE,
            uptime_ms: timer::milliseconds_since_boot(),
            boot_number: crate::lastboot::boot_number(),
            memory_total_bytes,
            memory_image_bytes: image.end.saturating_sub(image.start),
            boot_report: match (boot_bank, trial) {
                (None, _) => "direct boot (no boot banks)",
                (Some(_), true) => "booted from a bank as a trial (not committed yet)",
                (Some(_), false) => "booted from a committed bank",
            },
            last_boot: last_boot_words(),
            boot_bank,
            trial,
        }
    }

    fn reboot(&mut self, kind: RebootKind) {
        let delay = match kind {
            RebootKind::Graceful => GRACEFUL_REBOOT_DELAY_MS,
            RebootKind::Force => FORCED_REBOOT_DELAY_MS,
        };
        REBOOT_AT.store(
            timer::milliseconds_since_boot()
                .saturating_add(delay)
                .max(1),
            Ordering::Relaxed,
        );
    }

    fn switch_config(&self) -> Option<&SwitchConfig> {
        self.ports.as_deref().map(|ports| ports.switch().config())
    }

    fn port_state(&self, port: PortId) -> PortState {
        let mut state = self.raw_port_state(port);
        if let Some(baseline) = BASELINES.lock().get(port.index()).copied().flatten() {
            state.nic = minus_nic(state.nic, baseline.nic);
            state.switch = minus_switch(state.switch, baseline.switch);
            state.last_clear_ms = Some(baseline.at_ms);
        }
        state
    }

    fn apply_switch_config(&mut self, config: &SwitchConfig) -> Result<(), ApplyError> {
        let nics = self.nics;
        let Some(ports) = self.ports.as_deref_mut() else {
            return config.validate().map_err(ApplyError::Invalid);
        };
        let old = ports.switch().config().clone();
        ports
            .apply_config(nics, config)
            .map_err(ApplyError::Invalid)?;
        if persist(config).is_err() {
            // Put the running config back: a change that is not stored changes nothing.
            let _ = ports.apply_config(nics, &old);
            crate::config::switch_applied(&old);
            return Err(ApplyError::Storage);
        }
        Ok(())
    }

    fn clear_port_counters(&mut self, port: PortId) {
        let Some((nic, switch)) = self.raw(port) else {
            return;
        };
        if let Some(slot) = BASELINES.lock().get_mut(port.index()) {
            *slot = Some(Baseline {
                at_ms: timer::milliseconds_since_boot(),
                nic,
                switch,
            });
        }
    }

    fn switch_summary(&self) -> Option<SwitchSummary> {
        let switch = self.ports.as_deref()?.switch();
        Some(SwitchSummary {
            counters: *switch.counters(),
            mac_entries: switch.mac_count(),
            mac_capacity: MAC_TABLE_CAPACITY,
            now_seconds: Tick::from_millis(timer::milliseconds_since_boot()).coarse_seconds(),
            active_uplinks: switch.active_uplinks(),
        })
    }

    fn fdb_page(&self, start: u32, filter: &FdbFilter, out: &mut [(u32, Entry)]) -> FdbPage {
        let mut page = FdbPage {
            count: 0,
            next: None,
        };
        let Some(ports) = self.ports.as_deref() else {
            return page;
        };
        // Positions are table slots: a page scans only the slots it covers.
        let entries = ports
            .switch()
            .table()
            .iter_from(start as usize)
            .filter(|(_, entry)| filter.matches(entry));
        for (position, entry) in entries {
            let position = u32::try_from(position).unwrap_or(u32::MAX);
            match out.get_mut(page.count) {
                Some(slot) => {
                    *slot = (position, entry);
                    page.count += 1;
                }
                None => {
                    page.next = Some(position);
                    break;
                }
            }
        }
        page
    }

    fn fdb_add(&mut self, vlan: VlanId, mac: MacAddress, port: PortId) -> Result<(), FdbError> {
        let now = Tick::from_millis(timer::milliseconds_since_boot());
        match self.ports.as_deref_mut() {
            Some(ports) => ports.switch_mut().add_static(vlan, mac, port, now),
            None => Err(FdbError::NoSuchPort(port)),
        }
    }

    fn fdb_remove(&mut self, vlan: VlanId, mac: MacAddress) -> Option<Entry> {
        self.ports
            .as_deref_mut()?
            .switch_mut()
            .remove_entry(vlan, mac)
    }

    fn fdb_flush(&mut self, port: Option<PortId>) -> usize {
        let Some(ports) = self.ports.as_deref_mut() else {
            return 0;
        };
        let switch = ports.switch_mut();
        let before = switch.mac_count();
        switch.flush_learned(port);
        before.saturating_sub(switch.mac_count())
    }

    fn write_config(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        /// dpu-config writes to `impl Write`; the handler hands a `dyn` one.
        struct Forward<'a>(&'a mut dyn core::fmt::Write);
        impl core::fmt::Write for Forward<'_> {
            fn write_str(&mut self, text: &str) -> core::fmt::Result {
                self.0.write_str(text)
            }
        }
        dpu_config::json::write(&crate::config::running(), &mut Forward(out))
    }

    fn replace_config(
        &mut self,
        body: &[u8],
        field_error: &mut dyn FnMut(&str, &str),
    ) -> Result<(), ConfigRefusal> {
        let update = match dpu_config::json::parse(body) {
            Ok(update) => update,
            Err(errors) => {
                for error in &errors.errors {
                    field_error(&error.path, &error.reason);
                }
                return Err(ConfigRefusal::Invalid);
            }
        };
        let present = self.switch_config().map_or(0, |config| config.port_count);
        if let Err(error) = dpu_config::json::check_port_count(&update, present) {
            field_error(&error.path, &error.reason);
            return Err(ConfigRefusal::Invalid);
        }
        match self.apply_switch_config(&update.switch) {
            Ok(()) => Ok(()),
            Err(ApplyError::Storage) => Err(ConfigRefusal::Storage),
            Err(ApplyError::Invalid(error)) => {
                field_error("switch", &words::<96>(error));
                Err(ConfigRefusal::Invalid)
            }
        }
    }

    fn firmware(&self) -> Option<FirmwareView> {
        let (record, floor, running) = crate::bootbank::view()?;
        let running_bank = running.map(|(bank, _)| bank);
        let bank_view = |bank: Bank| bank_view(&record, bank, running_bank);
        Some(FirmwareView {
            banks: [bank_view(Bank::A), bank_view(Bank::B)],
            floor,
            rollback_requested: record.rollback_requested,
            last_outcome: words(OutcomeLine(&record)),
        })
    }

    fn rollback(&mut self) -> Result<(), RollbackRefusal> {
        crate::bootbank::request_rollback_checked().map_err(|refused| match refused {
            crate::bootbank::RollbackRefused::NoBanks => RollbackRefusal::NoBanks,
            crate::bootbank::RollbackRefused::Forbidden => RollbackRefusal::Forbidden,
            crate::bootbank::RollbackRefused::Flash => RollbackRefusal::Flash,
        })
    }

    fn unstage(&mut self) -> Result<Unstaged, UnstageRefusal> {
        use crate::bootbank::UnstageRefused;
        crate::bootbank::unstage_checked()
            .map(|(bank, version)| Unstaged {
                slot: bank_letter(bank),
                version: words(version),
            })
            .map_err(|refused| match refused {
                UnstageRefused::NoBanks => UnstageRefusal::NoBanks,
                UnstageRefused::RunningTrial => UnstageRefusal::RunningTrial,
                UnstageRefused::NothingStaged => UnstageRefusal::NothingStaged,
                UnstageRefused::Flash => UnstageRefusal::Flash,
            })
    }

    fn upload_start(&mut self, length: u32) -> Result<u32, UploadRefusal> {
        use crate::bootbank::update::StartError;
        match crate::bootbank::update::start(length) {
            Ok(id) => {
                UPLOAD_STARTED_MS.store(timer::milliseconds_since_boot(), Ordering::Relaxed);
                UPLOAD_TASK.store(id, Ordering::Relaxed);
                Ok(id)
            }
            Err(StartError::Busy) => Err(UploadRefusal::Busy),
            Err(StartError::BadLength { maximum, .. }) => {
                Err(UploadRefusal::TooLarge { limit: maximum })
            }
            Err(StartError::Control(bootstate::ControlError::NotCommitted)) => {
                if crate::bootbank::view().is_none() {
                    Err(UploadRefusal::Unavailable)
                } else {
                    Err(UploadRefusal::NotCommitted)
                }
            }
            Err(StartError::Control(_)) => Err(UploadRefusal::Storage),
        }
    }

    fn upload_feed(&mut self, bytes: &[u8]) -> Result<usize, UploadFailure> {
        crate::bootbank::update::feed(bytes).map_err(|_| UploadFailure::Failed)
    }

    fn upload_end(&mut self, complete: bool) {
        if !complete {
            crate::bootbank::update::abort(crate::bootbank::update::AbortReason::Truncated);
        }
    }

    fn task(&self, id: u32) -> Option<TaskInfo> {
        use crate::bootbank::update::UploadState;
        let task = crate::bootbank::update::progress().filter(|task| task.id == id)?;
        let upload = task.upload;
        let started_ms = if UPLOAD_TASK.load(Ordering::Relaxed) == id {
            UPLOAD_STARTED_MS.load(Ordering::Relaxed)
        } else {
            // A console update: its start is not recorded here.
            timer::milliseconds_since_boot().saturating_sub(task.elapsed_ms)
        };
        let (state, message): (TaskState, String<128>) = match upload.state {
            UploadState::Receiving => (
                TaskState::Running,
                words(format_args!(
                    "receiving into bank {}: {} of {} bytes, {} programmed",
                    upload.bank, upload.received, upload.length, upload.written
                )),
            ),
            UploadState::Verifying => (
                TaskState::Running,
                words(format_args!(
                    "verifying the image in bank {}: {} of {} bytes hashed",
                    upload.bank, upload.hashed, upload.to_hash
                )),
            ),
            UploadState::Succeeded(activated) => (
                TaskState::Completed,
                words(format_args!(
                    "bank {} v{} (security counter {}) verified and activated as a trial with {} tries: reboot to run it",
                    activated.bank, activated.version, activated.security_counter, activated.tries
                )),
            ),
            UploadState::Failed(failure) => (
                TaskState::Exception,
                words(format_args!(
                    "failed: {}{}",
                    failure,
                    if failure.marked_bad() {
                        "; the bank is marked bad"
                    } else {
                        "; the bank stays unbootable"
                    }
                )),
            ),
        };
        Some(TaskInfo {
            id,
            kind: "firmware-upload",
            state,
            percent: upload.percent(),
            received_bytes: upload.received,
            total_bytes: upload.length,
            message,
            started_ms,
            ended_ms: upload
                .state
                .is_over()
                .then(|| started_ms.saturating_add(task.elapsed_ms)),
        })
    }

    fn api_upload(&self) -> Option<ApiUpload> {
        *API_UPLOAD.lock()
    }

    fn set_api_upload(&mut self, upload: Option<ApiUpload>) {
        *API_UPLOAD.lock() = upload;
    }

    fn api_refused(&self) -> Option<(u64, UploadRefusal)> {
        *API_REFUSED.lock()
    }

    fn set_api_refused(&mut self, refused: Option<(u64, UploadRefusal)>) {
        *API_REFUSED.lock() = refused;
    }

    fn logs(&self, after_seq: u64, visit: &mut dyn FnMut(LogLine<'_>) -> bool) {
        LINES.lock().visit(after_seq, visit);
    }

    fn loop_stats(&self) -> LoopStats {
        let (passes, longest_pass_us) = crate::loopstats::since_boot();
        LoopStats {
            passes,
            longest_pass_us,
        }
    }

    fn http_stats(&self) -> HttpStats {
        self.http
    }
}

fn bank_letter(bank: Bank) -> char {
    match bank {
        Bank::A => 'A',
        Bank::B => 'B',
    }
}

fn bank_view(record: &BootRecord, bank: Bank, running: Option<Bank>) -> BankView {
    let info = record.bank(bank);
    let empty = info.state == BankState::Empty;
    BankView {
        slot: bank_letter(bank),
        version: if empty {
            String::new()
        } else {
            words(info.version)
        },
        state: match info.state {
            BankState::Empty => "empty",
            BankState::Writing => "writing",
            BankState::Trial => "trial",
            BankState::Good => "committed",
            BankState::Bad => "bad",
            BankState::Superseded => "superseded",
        },
        active: running == Some(bank),
        staged: info.state == BankState::Trial && running != Some(bank),
        tries_left: info.tries_left,
        security_counter: info.security_counter,
        size_bytes: if empty { 0 } else { info.image_len },
        digest: info.digest,
        failure_reason: if info.reason == FailureReason::None {
            String::new()
        } else {
            words(info.reason)
        },
    }
}

/// How the previous boot ended, in words (a static string per kind; the console's `boot`
/// has the detail).
fn last_boot_words() -> &'static str {
    use bootstate::lastboot::Ending;
    match crate::lastboot::previous().map(|last| last.ending) {
        None => "none (power-on)",
        Some(Ending::Reboot) => "reboot",
        Some(Ending::Panic { .. }) => "panic",
        Some(Ending::Running) => "reset while running (no ending recorded)",
        Some(_) => "fault or watchdog (the console's boot command shows it)",
    }
}

/// Bytes of body one console fill writes.
const CONSOLE_FILL: usize = 2048;

/// `api METHOD PATH [JSON]`: one request through the same handlers as HTTP, as an
/// administrator, answered on the console (status line, headers that matter, body).
pub fn console_request(network: &mut crate::net::Network, method: &str, target: &str, body: &str) {
    use dpu_mgmt::api::{self, Content, Method, Outcome, Request, Role};
    let mut upper: String<8> = String::new();
    for character in method.chars() {
        let _ = upper.push(character.to_ascii_uppercase());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: Method::parse(&upper),
        path,
        query,
        content_type: (!body.is_empty()).then_some(api::JSON),
        content_length: Some(body.len() as u64),
        role: Role::Administrator,
        body: body.as_bytes(),
    };
    let (ports, nics, ha) = network.api_parts();
    let mut backend = KernelBackend {
        ports,
        nics,
        ha,
        http: HttpStats::default(),
    };
    let mut buffer = [0u8; CONSOLE_FILL];
    let reply = match api::handle(&mut backend, &request, &mut buffer) {
        Outcome::Reply(reply) => reply,
        Outcome::Upload { .. } => {
            api::upload_abort(&mut backend);
            crate::println!("error: uploads need HTTP (POST /v1/firmware:upload with the image)");
            return;
        }
    };
    crate::println!("HTTP {} {}", reply.status, api::reason_phrase(reply.status));
    crate::println!("Content-Type: {}", reply.content_type);
    if let Some(location) = &reply.location {
        crate::println!("Location: {}", location.as_str());
    }
    if let Some(allow) = reply.allow {
        crate::println!("Allow: {}", allow);
    }
    match reply.content {
        Content::Empty => {}
        Content::Ready(length) => print_text(buffer.get(..length).unwrap_or_default()),
        Content::Static(document) => print_text(document),
        Content::Stream(mut stream) => loop {
            match stream.fill(&backend, &mut buffer) {
                Ok(0) => break,
                Ok(length) => print_text(buffer.get(..length).unwrap_or_default()),
                Err(_) => {
                    crate::println!("error: a piece of the body did not fit the buffer");
                    break;
                }
            }
        },
    }
    crate::println!();
}

fn print_text(bytes: &[u8]) {
    match core::str::from_utf8(bytes) {
        Ok(text) => crate::print!("{}", text),
        Err(_) => crate::print!("[{} bytes that are not UTF-8]", bytes.len()),
    }
}
