//! Active/standby HA in the kernel (issue 10): the `ha.*` keys, the DPU-to-DPU link NIC, UDP to
//! the host arbiter, the switch's standby gate, the takeover announcement, the panic resign.
//!
//! The rules live in the pure `dpu-ha` crate ([`dpu_ha::Dpu`]); this module feeds it from the
//! poll loop ([`Ha::poll`], called by `net.rs` before the switch pass, so a demotion stops the
//! very next frame) and carries out what it says:
//!
//! * `ha.link=portN`: that NIC is never a switch port. It gets a driver with buffers of its own
//!   (not the data ports' shared pool, whose lock a panicking pass may hold) and carries raw
//!   heartbeat frames, EtherType 0x88B5, to the broadcast address.
//! * `ha.host=A.B.C.D`: heartbeats go to UDP 7400 there from `mgmt0`; grants come back on the
//!   same socket (only from that address).
//! * while not active, the switch drops every data-port frame with reason `standby` (it still
//!   learns, so a takeover can announce); on promotion it announces every learned host MAC per
//!   VLAN with RARP on the uplinks (the teaming failover's machinery);
//! * every uplink lost: the state machine resigns (reason `link-down`);
//! * a panic, an unexpected exception or the watchdog: [`on_fatal`] sends the resign prepared
//!   with the last heartbeat on the link and to the host before the reset.

use crate::arch::aarch64::timer;
use crate::net::MgmtNic;
use crate::println;
use crate::switching::DataPorts;
use core::fmt::Write as _;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use dpu_ha::{Dpu, DpuConfig, Message, Reason, Role, Source};
use dpu_net::MgmtStack;
use dpu_net::smoltcp::wire::Ipv4Address;
use dpu_switch::PortRole;
use netdev::{NetDevice, RxBuffer};
use virtio::{MmioTransport, NetStorage, VirtioNet};

/// The link NIC's own buffers and rings.
pub static LINK_STORAGE: NetStorage = NetStorage::new();

/// Frames taken from the link per pass.
const LINK_BURST: usize = 8;
/// How often the switch config's digest is recomputed (a console or API change).
const DIGEST_EVERY_MS: u64 = 1_000;
/// Longest wait for the device to take the panic resign frames (bounded: the reset follows).
const FATAL_SEND_MICROSECONDS: u64 = 5_000;
/// Bytes of a prepared frame: Ethernet + IPv4 + UDP headers and the largest message.
const FRAME_BYTES: usize = 14 + 20 + 8 + dpu_ha::ENCODED_MAX;

/// The `ha.*` kernel command-line keys (docs/ha.md).
#[derive(Clone, Debug)]
pub struct HaSettings {
    /// `ha.alias`: HA is off without it.
    pub alias: dpu_ha::Alias,
    /// `ha.priority`, 1..=254.
    pub priority: u8,
    /// `ha.link=portN`: the DPU-to-DPU link NIC's name.
    pub link: Option<&'static str>,
    /// `ha.host`: the arbiter.
    pub host: Option<Ipv4Address>,
    /// `ha.heartbeat-ms`.
    pub heartbeat_ms: u32,
    /// `ha.detect`.
    pub detect: u32,
}

/// Reads the `ha.*` words of `bootargs`; `None` when `ha.alias` is absent (HA off). A bad value
/// is reported on the console and its default used; a bad alias keeps HA on but refused (a
/// DPU meant to be one of a pair must never forward alone by mistake).
pub fn settings(bootargs: &str) -> Option<(HaSettings, Option<&'static str>)> {
    let mut alias_text = None;
    let mut settings = HaSettings {
        alias: dpu_ha::Alias::new(),
        priority: dpu_ha::DEFAULT_PRIORITY,
        link: None,
        host: None,
        heartbeat_ms: dpu_ha::DEFAULT_HEARTBEAT_MS,
        detect: dpu_ha::DEFAULT_DETECT,
    };
    for word in bootargs.split_ascii_whitespace() {
        let Some(key_value) = word.strip_prefix("ha.") else {
            continue;
        };
        let (key, value) = key_value.split_once('=').unwrap_or((key_value, ""));
        let ok = match key {
            "alias" => {
                alias_text = Some(value);
                true
            }
            "priority" => value
                .parse::<u8>()
                .ok()
                .filter(|p| (1..=254).contains(p))
                .map(|p| settings.priority = p)
                .is_some(),
            "link" => dpu_net::NIC_NAMES
                .iter()
                .skip(1)
                .find(|name| **name == value)
                .map(|name| settings.link = Some(name))
                .is_some(),
            "host" => value
                .parse::<Ipv4Address>()
                .ok()
                .map(|a| settings.host = Some(a))
                .is_some(),
            "heartbeat-ms" => value
                .parse::<u32>()
                .ok()
                .filter(|ms| (10..=10_000).contains(ms))
                .map(|ms| settings.heartbeat_ms = ms)
                .is_some(),
            "detect" => value
                .parse::<u32>()
                .ok()
                .filter(|n| (2..=50).contains(n))
                .map(|n| settings.detect = n)
                .is_some(),
            _ => {
                println!("ha: bootargs: {}: unknown key (docs/ha.md); ignored", word);
                true
            }
        };
        if !ok {
            println!(
                "ha: bootargs: {}: bad value (docs/ha.md); the default is used",
                word
            );
        }
    }
    let text = alias_text?;
    match dpu_ha::parse_alias(text) {
        Some(alias) => {
            settings.alias = alias;
            Some((settings, None))
        }
        None => {
            println!(
                "ha: bootargs: ha.alias={}: 1 to 16 of a-z A-Z 0-9 - _ . expected; HA refused",
                text
            );
            settings.alias = dpu_ha::alias("invalid");
            Some((settings, Some("ha.alias is not a valid alias")))
        }
    }
}

/// What the HA module counts.
#[derive(Clone, Copy, Default)]
pub struct HaCounters {
    /// Heartbeat frames sent on the link.
    pub link_sent: u64,
    /// HA frames received on the link.
    pub link_received: u64,
    /// Link frames that were not HA messages (bad bytes or another EtherType).
    pub link_bad: u64,
    /// Heartbeats the link could not take (no ring room).
    pub link_send_errors: u64,
    /// Heartbeats queued to the host.
    pub host_sent: u64,
    /// Datagrams from the host that were HA messages.
    pub host_received: u64,
    /// Datagrams that were not HA messages, or came from another address.
    pub host_bad: u64,
    /// Heartbeats the UDP socket refused (no address yet, queue full).
    pub host_send_errors: u64,
    /// Messages the state machine ignored (own alias, a third DPU, wrong path).
    pub ignored: u64,
}

/// Raw pointers the fatal path uses, set once at start (see [`on_fatal`]).
static LINK_DRIVER: AtomicPtr<VirtioNet<MmioTransport>> = AtomicPtr::new(core::ptr::null_mut());
static MGMT_DRIVER: AtomicPtr<VirtioNet<MmioTransport>> = AtomicPtr::new(core::ptr::null_mut());
/// Set while ordinary code is inside the link or the mgmt0 driver.
pub static LINK_BUSY: AtomicBool = AtomicBool::new(false);
/// Set while ordinary code is inside the mgmt0 driver (the management stack's poll).
pub static MGMT_BUSY: AtomicBool = AtomicBool::new(false);

/// The resign frames the fatal path sends, rebuilt with every heartbeat.
struct Prepared {
    link: [u8; FRAME_BYTES],
    link_length: usize,
    host: [u8; FRAME_BYTES],
    host_length: usize,
}

static PREPARED: spin::Mutex<Prepared> = spin::Mutex::new(Prepared {
    link: [0; FRAME_BYTES],
    link_length: 0,
    host: [0; FRAME_BYTES],
    host_length: 0,
});

/// Marks a driver busy for the fatal path while alive.
pub struct Busy(&'static AtomicBool);

impl Busy {
    /// Marks `flag` until dropped.
    pub fn new(flag: &'static AtomicBool) -> Self {
        flag.store(true, Ordering::Release);
        Busy(flag)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// HA while `ha.alias` is set.
pub struct Ha {
    settings: HaSettings,
    dpu: Dpu,
    link: Option<MgmtNic>,
    counters: HaCounters,
    digest_at_ms: Option<u64>,
    udp_bound: bool,
    /// Set when HA can never form (a bad alias): shown as the refused reason.
    misconfigured: Option<&'static str>,
}

fn now_ms() -> u64 {
    timer::uptime_milliseconds()
}

/// SHA-256 of the running switch config (tokens left out: they differ per DPU).
fn config_digest() -> dpu_ha::Digest {
    use sha2::Digest as _;
    static BUFFER: spin::Mutex<[u8; dpu_config::codec::MAX_PAYLOAD]> =
        spin::Mutex::new([0; dpu_config::codec::MAX_PAYLOAD]);
    let mut running = crate::config::running();
    running.tokens = dpu_config::TokenTable::new();
    let mut buffer = BUFFER.lock();
    let length = dpu_config::codec::encode(&running, &mut buffer[..]).unwrap_or(0);
    sha2::Sha256::digest(&buffer[..length]).into()
}

impl Ha {
    /// HA from `settings`, over the link NIC if one was brought up.
    pub fn new(
        settings: HaSettings,
        misconfigured: Option<&'static str>,
        link: Option<MgmtNic>,
    ) -> Self {
        let mut firmware = dpu_ha::Version::new();
        for c in crate::version::VERSION.chars() {
            if firmware.push(c).is_err() {
                break;
            }
        }
        let mut config = DpuConfig::new(settings.alias.clone(), firmware, config_digest());
        config.priority = settings.priority;
        config.heartbeat_ms = settings.heartbeat_ms;
        config.detect = settings.detect;
        let dpu = Dpu::new(config, now_ms());
        println!(
            "ha: {} priority {}, heartbeat {} ms x {}; link {}; host {}; boots standby",
            settings.alias,
            settings.priority,
            settings.heartbeat_ms,
            settings.detect,
            settings.link.unwrap_or("none"),
            Host(settings.host)
        );
        if settings.link.is_some() && link.is_none() {
            println!("ha: the link NIC did not come up: no heartbeats to the peer");
        }
        Ha {
            settings,
            dpu,
            link,
            counters: HaCounters::default(),
            digest_at_ms: None,
            udp_bound: false,
            misconfigured,
        }
    }

    /// Where the fatal path finds the drivers: called once `Network` has its final address
    /// (it lives in `kernel_main`'s frame, which never returns).
    pub fn register_fatal_paths(&mut self, mgmt: Option<&mut MgmtNic>) {
        if let Some(link) = self.link.as_mut() {
            LINK_DRIVER.store(&mut link.driver, Ordering::Release);
        }
        if self.settings.host.is_some()
            && let Some(mgmt) = mgmt
        {
            MGMT_DRIVER.store(&mut mgmt.driver, Ordering::Release);
        }
    }

    /// The `/v1/ha` view; the uplinks as the switch sees them.
    pub fn view(&self, ports: Option<&DataPorts>) -> dpu_mgmt::api::ha::HaView {
        use dpu_mgmt::api::ha::{HaView, PathView};
        let now = now_ms();
        let dpu = &self.dpu;
        let peer = dpu.peer(now);
        let host = dpu.host(now);
        let mut view = HaView {
            alias: self.settings.alias.clone(),
            role: Some(self.role()),
            priority: self.settings.priority,
            epoch: dpu.epoch(),
            forwarding: self.forwarding(),
            refused_reason: self.refused_reason().map(|text| {
                let mut out = dpu_ha::ReasonText::new();
                for c in text.chars() {
                    if out.push(c).is_err() {
                        break;
                    }
                }
                out
            }),
            mismatch: dpu.mismatch().and_then(|text| text.try_into().ok()),
            active: dpu.active_alias().cloned(),
            peer: PathView {
                alias: peer.alias,
                health: Some(peer.health),
                role: peer.role,
                last_heard_ms: peer.last_heard_ms,
            },
            host: PathView {
                alias: None,
                health: Some(host.health),
                role: None,
                last_heard_ms: host.last_heard_ms,
            },
            ..HaView::default()
        };
        if let Some(ports) = ports {
            let switch = ports.switch();
            let config = switch.config();
            for port in config.port_ids() {
                if config.port(port).role == PortRole::Uplink {
                    let _ = view.uplinks.push((port, switch.link(port)));
                }
            }
        }
        for record in dpu.failovers().iter() {
            let _ = view.failovers.push(record.clone());
        }
        for reason in Reason::ALL {
            view.failover_totals[reason.index()] = dpu.failovers().total(reason);
        }
        view
    }

    /// The settings.
    pub fn settings(&self) -> &HaSettings {
        &self.settings
    }

    /// The refused reason, including a configuration that can never form.
    pub fn refused_reason(&self) -> Option<&str> {
        self.misconfigured.or(self.dpu.refused_reason())
    }

    /// The role as shown (a misconfigured DPU is refused).
    pub fn role(&self) -> Role {
        if self.misconfigured.is_some() {
            Role::Refused
        } else {
            self.dpu.role()
        }
    }

    /// Whether the data ports may forward.
    pub fn forwarding(&self) -> bool {
        self.misconfigured.is_none() && self.dpu.forwarding()
    }

    /// The link NIC, for arming its receive interrupt before the loop sleeps.
    pub fn link_nic(&mut self) -> Option<&mut MgmtNic> {
        self.link.as_mut()
    }

    /// An operator's failover (`POST /v1/ha:failover`, console `ha failover`).
    pub fn failover(&mut self, target: Option<&str>) -> Result<(), dpu_ha::FailoverError> {
        let result = self.dpu.request_failover(now_ms(), target);
        if result.is_ok() {
            println!("ha: failover requested: resigning (reason user)");
        }
        result
    }

    /// One pass, before the switch's: messages in, timers, heartbeats out, the switch gate.
    /// Returns true when a datagram was queued (the caller polls the stack this pass).
    pub fn poll(
        &mut self,
        mut stack: Option<&mut MgmtStack<'static>>,
        ports: Option<&mut DataPorts>,
    ) -> bool {
        let now = now_ms();
        if self
            .digest_at_ms
            .is_none_or(|at| now.saturating_sub(at) >= DIGEST_EVERY_MS)
        {
            self.digest_at_ms = Some(now);
            self.dpu.set_config_digest(config_digest());
        }
        self.receive_link(now);
        if let Some(stack) = stack.as_deref_mut() {
            self.receive_host(stack, now);
        }
        // Before the uplinks are looked at: a resign for lost uplinks is a change to print.
        let before = self.dpu.role();
        let mut ports = ports;
        if let Some(ports) = ports.as_deref_mut() {
            let switch = ports.switch();
            let config = switch.config();
            let (mut up, mut total) = (0u8, 0u8);
            for port in config.port_ids() {
                if config.port(port).role == PortRole::Uplink {
                    total += 1;
                    if switch.link(port) {
                        up += 1;
                    }
                }
            }
            self.dpu.on_uplinks(now, up, total);
        }
        let heartbeat = self.dpu.poll(now);
        let mut queued = false;
        if let Some(heartbeat) = heartbeat {
            queued = self.send(stack, &Message::Heartbeat(heartbeat), now);
        }
        self.report_change(before);
        let forwarding = self.forwarding();
        if let Some(ports) = ports {
            let switch = ports.switch_mut();
            if switch.standby() == forwarding {
                switch.set_standby(!forwarding);
            }
            if self.dpu.take_promoted() && forwarding {
                switch.announce_all();
            }
        }
        queued
    }

    fn report_change(&self, before: Role) {
        report_change(&self.settings, &self.dpu, before);
    }

    fn receive_link(&mut self, now: u64) {
        let Some(link) = self.link.as_mut() else {
            return;
        };
        let _busy = Busy::new(&LINK_BUSY);
        let mut frames: [Option<RxBuffer>; LINK_BURST] = [const { None }; LINK_BURST];
        let received = link.driver.receive_burst(&mut frames);
        for slot in frames.iter_mut().take(received) {
            let Some(buffer) = slot.take() else { continue };
            let decoded = dpu_ha::decode_frame(link.driver.rx_frame(&buffer));
            link.driver.release(buffer);
            match decoded {
                Ok(message) => {
                    self.counters.link_received += 1;
                    let before = self.dpu.role();
                    if self.dpu.on_message(now, Source::Link, &message).is_err() {
                        self.counters.ignored += 1;
                    }
                    report_change(&self.settings, &self.dpu, before);
                }
                Err(_) => self.counters.link_bad += 1,
            }
        }
    }

    fn receive_host(&mut self, stack: &mut MgmtStack<'static>, now: u64) {
        if !self.udp_bound && self.settings.host.is_some() {
            self.udp_bound = stack.udp_bind(dpu_ha::UDP_PORT).is_ok();
        }
        let mut buffer = [0u8; dpu_ha::ENCODED_MAX];
        while let Some((length, from, _port)) = stack.udp_receive(&mut buffer) {
            if Some(from) != self.settings.host {
                self.counters.host_bad += 1;
                continue;
            }
            match Message::decode(&buffer[..length]) {
                Ok(message) => {
                    self.counters.host_received += 1;
                    let before = self.dpu.role();
                    if self.dpu.on_message(now, Source::Host, &message).is_err() {
                        self.counters.ignored += 1;
                    }
                    self.report_change(before);
                }
                Err(_) => self.counters.host_bad += 1,
            }
        }
    }

    /// Sends `message` on the link and to the host; prepares the fatal path's resign frames.
    fn send(
        &mut self,
        stack: Option<&mut MgmtStack<'static>>,
        message: &Message,
        now: u64,
    ) -> bool {
        let mut payload = [0u8; dpu_ha::ENCODED_MAX];
        let Ok(length) = message.encode(&mut payload) else {
            return false;
        };
        let payload = &payload[..length];
        if let Some(link) = self.link.as_mut() {
            let _busy = Busy::new(&LINK_BUSY);
            let mac = link.driver.mac_address().0;
            if send_raw(&mut link.driver, |frame| {
                dpu_ha::encode_frame(mac, message, frame).ok()
            }) {
                self.counters.link_sent += 1;
            } else {
                self.counters.link_send_errors += 1;
            }
        }
        let mut queued = false;
        if let (Some(host), Some(stack)) = (self.settings.host, stack) {
            match stack.udp_send(host, dpu_ha::UDP_PORT, payload) {
                Ok(()) => {
                    self.counters.host_sent += 1;
                    queued = true;
                }
                Err(_) => self.counters.host_send_errors += 1,
            }
            self.prepare_fatal(Some((stack, host)), now);
        } else {
            self.prepare_fatal(None, now);
        }
        queued
    }

    /// Rebuilds the resign frames [`on_fatal`] sends: the link frame, and a UDP datagram to the
    /// host in a broadcast Ethernet frame (no ARP needed; Linux takes unicast IP in a broadcast
    /// frame unless `drop_unicast_in_l2_multicast` is set).
    fn prepare_fatal(&self, host: Option<(&mut MgmtStack<'static>, Ipv4Address)>, now: u64) {
        if !self.dpu.forwarding() {
            // Only the active DPU's death needs a resign.
            if let Some(mut prepared) = PREPARED.try_lock() {
                prepared.link_length = 0;
                prepared.host_length = 0;
            }
            return;
        }
        let message = Message::Heartbeat(self.dpu.resign_heartbeat(Reason::Crash, now));
        // The poll loop is the only writer; the fatal path only reads, with try_lock.
        let Some(mut prepared) = PREPARED.try_lock() else {
            return;
        };
        prepared.link_length = match self.link.as_ref() {
            Some(link) => {
                dpu_ha::encode_frame(link.driver.mac_address().0, &message, &mut prepared.link)
                    .unwrap_or(0)
            }
            None => 0,
        };
        prepared.host_length = 0;
        let Some((stack, host)) = host else { return };
        let (Some(source), Some(mac)) = (stack.ipv4_address(), stack_mac()) else {
            return;
        };
        let mut payload = [0u8; dpu_ha::ENCODED_MAX];
        let Ok(length) = message.encode(&mut payload) else {
            return;
        };
        prepared.host_length = udp_frame(
            &mut prepared.host,
            mac,
            source.address().octets(),
            host.octets(),
            &payload[..length],
        );
    }
}

/// `ha` on the console when HA is off.
pub fn show_off() {
    println!("ha: off (no ha.alias on the kernel command line): this DPU forwards on its own");
}

impl Ha {
    /// Heartbeats carry `version` (the running image's, `0.2.0+2`) from now on.
    pub fn set_firmware_version(&mut self, version: &dyn core::fmt::Display) {
        let mut firmware = dpu_ha::Version::new();
        // A version longer than the wire's field stays empty, which a peer reports as a
        // mismatch rather than as equal.
        let _ = core::fmt::write(&mut firmware, format_args!("{}", version));
        println!("ha: {} runs firmware {}", self.settings.alias, firmware);
        self.dpu.set_firmware(firmware);
    }

    /// `ha`: the state in words, then the peer and host in aligned columns, the uplinks, the
    /// failovers, the counters.
    pub fn show(&self) {
        let now = now_ms();
        let dpu = &self.dpu;
        println!(
            "ha: {} is {}, epoch {}, priority {}; {}",
            self.settings.alias,
            self.role(),
            dpu.epoch(),
            self.settings.priority,
            if self.forwarding() {
                "forwarding on the data ports"
            } else {
                "forwarding nothing (data-port frames dropped as standby)"
            }
        );
        if let Some(reason) = self.refused_reason() {
            println!("ha: refused: {}", reason);
        }
        if let Some(mismatch) = dpu.mismatch() {
            println!("ha: warning: {}", mismatch);
        }
        match dpu.active_alias() {
            Some(active) => println!("ha: active at this epoch: {}", active),
            None => println!("ha: active at this epoch: none"),
        }
        let peer = dpu.peer(now);
        let host = dpu.host(now);
        println!(
            "{:<6} {:<18} {:<8} {:<8} {:>10}",
            "path", "name", "state", "role", "last-heard"
        );
        println!(
            "{:<6} {:<18} {:<8} {:<8} {:>10}",
            "peer",
            peer.alias
                .as_deref()
                .unwrap_or(self.settings.link.unwrap_or("no link")),
            peer.health.as_str(),
            peer.role.map_or("-", Role::as_str),
            heard_text(peer.last_heard_ms).as_str()
        );
        let mut name: heapless::String<24> = heapless::String::new();
        let _ = write!(name, "{}", Host(self.settings.host));
        println!(
            "{:<6} {:<18} {:<8} {:<8} {:>10}",
            "host",
            name.as_str(),
            host.health.as_str(),
            "arbiter",
            heard_text(host.last_heard_ms).as_str()
        );
        let (up, total) = dpu.uplinks();
        println!("ha: uplinks {} of {} up", up, total);
        if dpu.failovers().is_empty() {
            println!("ha: failovers: none");
        } else {
            println!(
                "{:<10} {:<16} {:<16} {:>6} {:>12}",
                "reason", "from", "to", "epoch", "at"
            );
            for record in dpu.failovers().iter() {
                let mut at: heapless::String<24> = heapless::String::new();
                let _ = write!(at, "{}.{:03} s", record.at_ms / 1000, record.at_ms % 1000);
                println!(
                    "{:<10} {:<16} {:<16} {:>6} {:>12}",
                    record.reason.as_str(),
                    record.from.as_str(),
                    record.to.as_str(),
                    record.epoch,
                    at.as_str()
                );
            }
        }
        let c = &self.counters;
        println!(
            "ha: link sent {} received {} bad {} send-errors {}; host sent {} received {} bad {} send-errors {}; ignored {}",
            c.link_sent,
            c.link_received,
            c.link_bad,
            c.link_send_errors,
            c.host_sent,
            c.host_received,
            c.host_bad,
            c.host_send_errors,
            c.ignored
        );
    }

    /// `ha failover` on the console.
    pub fn command_failover(&mut self) {
        match self.failover(None) {
            Ok(()) => {}
            Err(error) => println!("error: {} ({})", error.message(), error.code()),
        }
    }
}

/// `120 ms` since a path was last heard, or `never`.
fn heard_text(last_heard_ms: Option<u64>) -> heapless::String<16> {
    let mut text = heapless::String::new();
    match last_heard_ms {
        Some(ms) => {
            let _ = write!(text, "{} ms", ms);
        }
        None => {
            let _ = text.push_str("never");
        }
    }
    text
}

/// Prints a change of role on the console (tests wait for these lines).
fn report_change(settings: &HaSettings, dpu: &Dpu, before: Role) {
    let after = dpu.role();
    if before != after {
        println!(
            "ha: {} is {} now (epoch {})",
            settings.alias,
            after,
            dpu.epoch()
        );
    }
}

/// mgmt0's MAC, read from the registered driver pointer's owner at start.
fn stack_mac() -> Option<[u8; 6]> {
    let mac = MGMT_MAC.lock();
    (*mac != [0; 6]).then_some(*mac)
}

static MGMT_MAC: spin::Mutex<[u8; 6]> = spin::Mutex::new([0; 6]);

/// Notes mgmt0's MAC (the fatal path's host frame comes from it).
pub fn set_mgmt_mac(mac: [u8; 6]) {
    *MGMT_MAC.lock() = mac;
}

/// Builds Ethernet (broadcast) + IPv4 + UDP 7400 -> 7400 around `payload`; its length (0 if
/// it does not fit).
fn udp_frame(
    out: &mut [u8; FRAME_BYTES],
    source_mac: [u8; 6],
    source: [u8; 4],
    destination: [u8; 4],
    payload: &[u8],
) -> usize {
    let total = 14 + 20 + 8 + payload.len();
    if total > out.len() {
        return 0;
    }
    out[..6].fill(0xff);
    out[6..12].copy_from_slice(&source_mac);
    out[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_length = (20 + 8 + payload.len()) as u16;
    let ip = &mut out[14..34];
    ip.copy_from_slice(&[
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    ip[2..4].copy_from_slice(&ip_length.to_be_bytes());
    ip[12..16].copy_from_slice(&source);
    ip[16..20].copy_from_slice(&destination);
    let mut sum: u32 = 0;
    for pair in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let udp = &mut out[34..42];
    udp[..2].copy_from_slice(&dpu_ha::UDP_PORT.to_be_bytes());
    udp[2..4].copy_from_slice(&dpu_ha::UDP_PORT.to_be_bytes());
    udp[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    // Checksum 0: none (allowed for UDP over IPv4).
    udp[6..8].copy_from_slice(&[0, 0]);
    out[42..total].copy_from_slice(payload);
    total.max(60)
}

/// Reserves a transmit buffer on `driver`, lets `fill` write the frame, sends and flushes it.
fn send_raw(
    driver: &mut VirtioNet<MmioTransport>,
    fill: impl FnOnce(&mut [u8]) -> Option<usize>,
) -> bool {
    let _ = driver.tx_capacity();
    let Some(mut buffer) = driver.tx_reserve() else {
        return false;
    };
    let Some(length) = fill(driver.tx_frame_mut(&mut buffer)) else {
        driver.tx_discard(buffer);
        return false;
    };
    match driver.transmit(buffer, length) {
        Ok(()) => {
            driver.flush();
            true
        }
        Err(error) => {
            driver.tx_discard(error.buffer);
            false
        }
    }
}

/// The fatal path (panic, unexpected exception, watchdog), before the reset: sends the resign
/// frames prepared with the last heartbeat, best effort and bounded.
///
/// Design: it takes no lock anything else may hold. The frames come from [`PREPARED`] with
/// `try_lock` (a pass that was rebuilding them when it died leaves them unsent). Each driver is
/// reached through a pointer registered at start, and only while its busy flag is clear: the
/// ordinary code that owns the driver sets the flag around every call into it, so a clear flag
/// means no call into that driver is in progress. The core runs with interrupts masked from
/// here on and the code that owned the driver never runs again (the machine resets), so the
/// `&mut` made here is the only live use of the driver. The wait for the device to take the
/// frames is bounded by [`FATAL_SEND_MICROSECONDS`].
pub fn on_fatal() {
    let Some(prepared) = PREPARED.try_lock() else {
        return;
    };
    let mut sent = false;
    for (pointer, busy, frame, length) in [
        (
            &LINK_DRIVER,
            &LINK_BUSY,
            &prepared.link,
            prepared.link_length,
        ),
        (
            &MGMT_DRIVER,
            &MGMT_BUSY,
            &prepared.host,
            prepared.host_length,
        ),
    ] {
        let driver = pointer.load(Ordering::Acquire);
        if driver.is_null() || length == 0 || busy.load(Ordering::Acquire) {
            continue;
        }
        // SAFETY: see the design note above: the pointer was made from a `&mut` to a driver
        // that lives in `kernel_main`'s frame (never returns) or in the HA module within it;
        // its busy flag is clear, so no call into it is in progress, and nothing else runs
        // again on this core (interrupts masked, reset next).
        let driver = unsafe { &mut *driver };
        let frame = &frame[..length];
        if send_raw(driver, |area| {
            let slot = area.get_mut(..frame.len())?;
            slot.copy_from_slice(frame);
            Some(frame.len())
        }) {
            sent = true;
        }
    }
    if !sent {
        return;
    }
    // Give the devices a bounded moment to take the frames before the reset.
    let deadline = timer::counter_microseconds().saturating_add(FATAL_SEND_MICROSECONDS);
    while timer::counter_microseconds() < deadline {
        core::hint::spin_loop();
    }
    let mut out = crate::console::EmergencyWriter;
    let _ = write!(out, "*** ha: resign (reason crash) sent\r\n");
}

/// A host address in words.
struct Host(Option<Ipv4Address>);

impl core::fmt::Display for Host {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(address) => write!(formatter, "{}:{}", address, dpu_ha::UDP_PORT),
            None => formatter.write_str("none"),
        }
    }
}
