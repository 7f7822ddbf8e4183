//! The data-port switch in the poll loop: bursts in, decisions, copies out, console views.
//!
//! Each pass ([`DataPorts::pass`]) receives a burst from every data port, asks the pure
//! `dpu-switch` crate what to do with each frame, sends it to its output ports and flushes
//! each output once; then it runs the switch's maintenance and sends its RARP notify frames.
//! Today the drivers have one buffer pool each, so every output gets a copy
//! ([`send_copy`], the one place that changes when buffers can move between ports). Nothing
//! here allocates or unwraps: a frame that cannot go out is counted and dropped.
//!
//! Data port `portN` is the NIC of that name (`mgmt0` is never a switch port). The config comes
//! from the `switch.*` words of the kernel command line (docs/switch.md); a bad one is reported,
//! counted, and the default learning switch runs instead.

use crate::net::Nic;
use crate::print;
use crate::println;
use dpu_switch::config::PortList;
use dpu_switch::frame::TAG_BYTES;
use dpu_switch::{
    Decision, DropReason, Edit, EntryKind, MAX_PORTS, MacAddress, PortId, PortRole, Switch,
    SwitchConfig, Tick, VlanId, apply_edit, parse_cmdline,
};
use netdev::{LinkState, NetDevice, RxBuffer};
use static_cell::ConstStaticCell;

/// Frames received from one port per pass.
const BURST: usize = 32;

/// The switch: about 520 KiB (its MAC table), so it lives in a static, never on a stack.
static SWITCH: ConstStaticCell<Switch> = ConstStaticCell::new(Switch::new());

/// What the integration itself counts (the switch counts its decisions, the drivers their
/// rings).
#[derive(Clone, Copy, Default)]
pub struct PathCounters {
    /// Frames copied onto an output's transmit ring.
    pub copies: u64,
    /// Outputs skipped: the output NIC had no free buffer or ring slot.
    pub no_room: u64,
    /// Outputs skipped: the tag edit could not be made (frame too long with the tag).
    pub edit_failed: u64,
    /// Outputs skipped: the port has no NIC (it failed to come up).
    pub no_nic: u64,
    /// RARP notify frames sent.
    pub notifications_sent: u64,
    /// Kernel command lines whose switch config was refused (the default ran instead).
    pub config_errors: u64,
}

/// The data ports and the switch over them.
pub struct DataPorts {
    switch: &'static mut Switch,
    /// NIC index (into the network's NIC list) of each switch port.
    nic_of: [Option<usize>; MAX_PORTS],
    counters: PathCounters,
    /// Where the running config came from.
    source: Source,
}

/// Where the running config came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Default,
    Cmdline,
    Console,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Default => "default learning switch (every port a host port on vlan 1)",
            Source::Cmdline => "config from the kernel command line",
            Source::Console => "config changed from the console",
        }
    }
}

/// The switch port a NIC is, from its name (`port3` is port 3; `mgmt0` is none).
fn port_of(name: &str) -> Option<PortId> {
    name.strip_prefix("port").and_then(PortId::parse)
}

fn now() -> Tick {
    Tick::from_millis(crate::arch::aarch64::timer::uptime_milliseconds())
}

impl DataPorts {
    /// The switch over the data ports among `nics`, configured from `bootargs`; `None` without
    /// data ports.
    pub fn new(nics: &[Nic], bootargs: &str) -> Option<Self> {
        let mut nic_of = [None; MAX_PORTS];
        let mut port_count = 0u8;
        for (index, nic) in nics.iter().enumerate() {
            if let Some(port) = port_of(nic.name) {
                nic_of[port.index()] = Some(index);
                port_count = port_count.max(port.number());
            }
        }
        if port_count == 0 {
            return None;
        }
        let Some(switch) = SWITCH.try_take() else {
            println!("switch: already running; data ports not switched");
            return None;
        };
        let mut ports = Self {
            switch,
            nic_of,
            counters: PathCounters::default(),
            source: Source::Default,
        };
        let config = match parse_cmdline(port_count, bootargs) {
            Ok(config) => {
                if bootargs
                    .split_ascii_whitespace()
                    .any(|word| word.starts_with(dpu_switch::cmdline::PREFIX))
                {
                    ports.source = Source::Cmdline;
                }
                config
            }
            Err(error) => {
                ports.counters.config_errors += 1;
                println!(
                    "switch: bootargs: {}; using the default learning switch",
                    error
                );
                SwitchConfig::new(port_count)
            }
        };
        if let Err(error) = ports.switch.apply(&config) {
            ports.counters.config_errors += 1;
            println!(
                "switch: config refused: {}; using the default learning switch",
                error
            );
            // The default for the ports present always validates; a new switch has no ports.
            let _ = ports.switch.apply(&SwitchConfig::new(port_count));
        }
        ports.sync_links(nics);
        println!(
            "switch: {} data port(s), {}",
            port_count,
            ports.source.describe()
        );
        Some(ports)
    }

    /// Tells the switch every port's real link state (after a config change, at start).
    fn sync_links(&mut self, nics: &[Nic]) {
        for port in self.switch.config().port_ids() {
            let up = self.nic_of[port.index()]
                .and_then(|index| nics.get(index))
                .is_some_and(|nic| nic.driver.link_state() == LinkState::Up);
            self.switch.set_link(port, up);
        }
    }

    /// A NIC reported a link change.
    pub fn link_changed(&mut self, name: &str, link: LinkState) {
        if let Some(port) = port_of(name) {
            self.switch.set_link(port, link == LinkState::Up);
        }
    }

    /// The health signal for the boot commit: the switch is running over the data ports.
    pub fn forwarding(&self) -> bool {
        self.switch.config().port_count > 0
    }

    /// One fast-path pass over every data port; returns the frames received.
    pub fn pass(&mut self, nics: &mut [Nic]) -> usize {
        let now = now();
        let mut received_total = 0;
        // Outputs that got frames this pass: each is flushed once, at the end.
        let mut touched = [false; crate::net::MAX_NICS];
        let mut frames: [Option<RxBuffer>; BURST] = [const { None }; BURST];
        for ingress in self.switch.config().port_ids() {
            let Some(input) = self.nic_of[ingress.index()] else {
                continue;
            };
            let Some(nic) = nics.get_mut(input) else {
                continue;
            };
            let received = nic.driver.receive_burst(&mut frames);
            received_total += received;
            for slot in frames.iter_mut().take(received) {
                let Some(buffer) = slot.take() else {
                    continue;
                };
                let decision = match nics.get(input) {
                    Some(nic) => self
                        .switch
                        .process(ingress, nic.driver.rx_frame(&buffer), now),
                    None => Decision::Drop(DropReason::UnknownPort),
                };
                match decision {
                    Decision::Drop(_) => {}
                    Decision::Forward(output) => {
                        self.output(nics, input, &buffer, output.port, output.edit, &mut touched)
                    }
                    Decision::Flood(outputs) => {
                        for output in outputs.iter() {
                            self.output(
                                nics,
                                input,
                                &buffer,
                                output.port,
                                output.edit,
                                &mut touched,
                            );
                        }
                    }
                }
                if let Some(nic) = nics.get_mut(input) {
                    nic.driver.release(buffer);
                }
            }
        }
        self.switch.maintain(now);
        while let Some(notification) = self.switch.next_notification() {
            let Some(index) = self.nic_of[notification.uplink.index()] else {
                self.counters.no_nic += 1;
                continue;
            };
            let Some(nic) = nics.get_mut(index) else {
                continue;
            };
            let Some(mut tx) = nic.driver.tx_reserve() else {
                self.counters.no_room += 1;
                continue;
            };
            match notification.write_frame(nic.driver.tx_frame_mut(&mut tx)) {
                Ok(length) => match nic.driver.transmit(tx, length) {
                    Ok(()) => {
                        self.counters.notifications_sent += 1;
                        if let Some(flag) = touched.get_mut(index) {
                            *flag = true;
                        }
                    }
                    Err(error) => nic.driver.tx_discard(error.buffer),
                },
                Err(_) => {
                    self.counters.edit_failed += 1;
                    nic.driver.tx_discard(tx);
                }
            }
        }
        for (index, nic) in nics.iter_mut().enumerate() {
            if touched.get(index).copied().unwrap_or(false) {
                nic.driver.flush();
            }
        }
        received_total
    }

    /// Sends one output of a decision and marks the output NIC for the end-of-pass flush.
    fn output(
        &mut self,
        nics: &mut [Nic],
        input: usize,
        buffer: &RxBuffer,
        port: PortId,
        edit: Edit,
        touched: &mut [bool; crate::net::MAX_NICS],
    ) {
        let Some(output) = self.nic_of[port.index()] else {
            self.counters.no_nic += 1;
            return;
        };
        let (Some(from), Some(to)) = pair(nics, input, output) else {
            self.counters.no_nic += 1;
            return;
        };
        match send_copy(&from.driver, buffer, &mut to.driver, edit) {
            Ok(()) => {
                self.counters.copies += 1;
                if let Some(flag) = touched.get_mut(output) {
                    *flag = true;
                }
            }
            Err(SendError::NoRoom) => self.counters.no_room += 1,
            Err(SendError::Edit) => self.counters.edit_failed += 1,
        }
    }
}

/// Console views and changes (`switch`, `fdb`): full scans are fine here, never per frame.
impl DataPorts {
    /// `switch`: ports, roles, VLANs, teaming, counters and drops by reason.
    pub fn show(&self) {
        let switch = &*self.switch;
        let config = switch.config();
        println!(
            "switch: {} data port(s), {}; {} of {} macs; aging {}",
            config.port_count,
            self.source.describe(),
            switch.mac_count(),
            dpu_switch::MAC_TABLE_CAPACITY,
            Seconds(config.aging_seconds)
        );
        println!(
            "{:<6} {:<6} {:<26} {:<4} {:<6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>5}",
            "port",
            "role",
            "vlans",
            "link",
            "uplink",
            "rx-packets",
            "tx-packets",
            "flooded",
            "dropped",
            "learned",
            "moves"
        );
        for port in config.port_ids() {
            let settings = config.port(port);
            let counters = switch.port_counters(port);
            let mut vlans: heapless::String<64> = heapless::String::new();
            let _ = core::fmt::write(&mut vlans, format_args!("{}", settings.vlan));
            let mut uplink: heapless::String<8> = heapless::String::new();
            match (settings.role, switch.pinned_uplink(port)) {
                (PortRole::Host, Some(pinned)) => {
                    let _ = core::fmt::write(&mut uplink, format_args!("{}", pinned));
                }
                (PortRole::Host, None) => {
                    let _ = uplink.push_str("none");
                }
                (PortRole::Uplink, _) => {
                    let _ = uplink.push_str("-");
                }
            }
            let link = if self.nic_of[port.index()].is_none() {
                "none"
            } else if switch.link(port) {
                "up"
            } else {
                "down"
            };
            println!(
                "{:<6} {:<6} {:<26} {:<4} {:<6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>5}",
                text::<8>(port).as_str(),
                text::<8>(settings.role).as_str(),
                vlans.as_str(),
                link,
                uplink.as_str(),
                counters.rx_packets,
                counters.tx_packets,
                counters.flooded,
                counters.dropped,
                switch.learned_on(port),
                counters.moves
            );
        }
        println!(
            "{:<6} {:<17} {:<11} {:<11} {:<16} {:>9} {}",
            "port", "mac", "promiscuous", "mac-changes", "forged-transmits", "mac-limit", "policy"
        );
        for port in config.port_ids() {
            let settings = config.port(port);
            if settings.role != PortRole::Host {
                continue;
            }
            let mut mac: heapless::String<17> = heapless::String::new();
            match settings.mac {
                Some(address) => {
                    let _ = core::fmt::write(&mut mac, format_args!("{}", address));
                }
                None => {
                    let _ = mac.push_str("not checked");
                }
            }
            println!(
                "{:<6} {:<17} {:<11} {:<11} {:<16} {:>9} {}",
                text::<8>(port).as_str(),
                mac.as_str(),
                text::<8>(settings.security.promiscuous).as_str(),
                text::<8>(settings.security.mac_changes).as_str(),
                text::<8>(settings.security.forged_transmits).as_str(),
                settings.mac_limit,
                text::<8>(settings.limit_policy).as_str()
            );
        }
        let (active, standby) = config.team();
        if active.is_empty() && standby.is_empty() {
            println!("teaming: no uplinks");
        } else {
            println!(
                "teaming: active {} standby {} failback {}; carrying traffic: {}",
                Ports(&active),
                Ports(&standby),
                if config.teaming.failback { "on" } else { "off" },
                switch.active_uplinks()
            );
        }
        let counters = switch.counters();
        let mut any = false;
        for reason in DropReason::ALL {
            let count = counters.dropped(reason);
            if count > 0 {
                if !any {
                    println!("drops by reason:");
                    any = true;
                }
                println!("  {:<20} {:>10}  {}", reason.label(), count, reason);
            }
        }
        if !any {
            println!("drops by reason: none");
        }
        println!(
            "table: full {} limit-allowed {} aged {} moves {} learn-writes {} repins {} notify-overflow {}",
            counters.table_full,
            counters.limit_allowed,
            counters.aged,
            counters.moves,
            counters.learn_writes,
            counters.repins,
            counters.notify_overflow
        );
        let path = &self.counters;
        println!(
            "datapath: copies {} no-room {} edit-failed {} no-nic {} rarp-sent {} bad-configs {}",
            path.copies,
            path.no_room,
            path.edit_failed,
            path.no_nic,
            path.notifications_sent,
            path.config_errors
        );
    }

    /// `fdb [vlan N] [port P]`: the MAC table, filtered.
    pub fn show_fdb(&self, vlan: Option<u16>, port: Option<u8>) {
        let now = now().coarse_seconds();
        println!(
            "{:<5} {:<17} {:<6} {:<8} {:>8}",
            "vlan", "mac", "port", "type", "age"
        );
        let mut shown = 0usize;
        for entry in self.switch.entries() {
            if vlan.is_some_and(|vlan| entry.vlan.get() != vlan)
                || port.is_some_and(|port| entry.port.number() != port)
            {
                continue;
            }
            shown += 1;
            print!(
                "{:<5} {:<17} {:<6} {:<8} ",
                text::<8>(entry.vlan).as_str(),
                text::<17>(entry.mac).as_str(),
                text::<8>(entry.port).as_str(),
                text::<8>(entry.kind).as_str()
            );
            match entry.kind {
                EntryKind::Static => println!("{:>8}", "-"),
                EntryKind::Learned => {
                    let mut age: heapless::String<16> = heapless::String::new();
                    let _ = core::fmt::write(
                        &mut age,
                        format_args!("{} s", now.saturating_sub(entry.last_seen)),
                    );
                    println!("{:>8}", age.as_str());
                }
            }
        }
        println!(
            "{} entr{} shown, {} in the table",
            shown,
            if shown == 1 { "y" } else { "ies" },
            self.switch.mac_count()
        );
    }

    /// `fdb add MAC vlan N port P`: a static entry.
    pub fn fdb_add(&mut self, mac: [u8; 6], vlan: u16, port: u8) {
        let (Some(vlan), Some(port)) = (VlanId::new(vlan), PortId::new(port)) else {
            println!("error: vlan 1..4094 and port1..port7");
            return;
        };
        let mac = MacAddress(mac);
        match self.switch.add_static(vlan, mac, port, now()) {
            Ok(()) => println!("fdb: {} vlan {} on {} (static)", mac, vlan, port),
            Err(error) => println!("error: {}; nothing changed", error),
        }
    }

    /// `fdb del MAC vlan N`: removes an entry, static or learned.
    pub fn fdb_del(&mut self, mac: [u8; 6], vlan: u16) {
        let Some(vlan) = VlanId::new(vlan) else {
            println!("error: vlan 1..4094");
            return;
        };
        let mac = MacAddress(mac);
        match self.switch.remove_entry(vlan, mac) {
            Some(entry) => println!(
                "fdb: removed {} vlan {} ({} on {})",
                mac, vlan, entry.kind, entry.port
            ),
            None => println!("error: no entry for {} vlan {}", mac, vlan),
        }
    }

    /// `fdb flush`: every learned entry (static ones stay).
    pub fn fdb_flush(&mut self) {
        let before = self.switch.mac_count();
        self.switch.flush_learned(None);
        let flushed = before.saturating_sub(self.switch.mac_count());
        println!(
            "fdb: {} learned entr{} flushed; static entries kept",
            flushed,
            if flushed == 1 { "y" } else { "ies" }
        );
    }

    /// `switch set KEY VALUE`: one `switch.*` key, validated with the whole config and applied
    /// atomically; a bad key or value changes nothing.
    pub fn set(&mut self, nics: &[Nic], key: &str, value: &str) {
        let key = key.strip_prefix(dpu_switch::cmdline::PREFIX).unwrap_or(key);
        let mut config = self.switch.config().clone();
        if let Err(problem) = config.set(key, value) {
            println!(
                "error: switch.{}={}: {}; nothing changed",
                key, value, problem
            );
            return;
        }
        if let Err(error) = self.switch.apply(&config) {
            println!(
                "error: switch.{}={}: {}; nothing changed",
                key, value, error
            );
            return;
        }
        self.source = Source::Console;
        self.sync_links(nics);
        println!("switch: switch.{}={} applied", key, value);
    }
}

/// `value` as text, so column widths apply (the switch types' Display impls ignore them).
fn text<const N: usize>(value: impl core::fmt::Display) -> heapless::String<N> {
    let mut text = heapless::String::new();
    let _ = core::fmt::write(&mut text, format_args!("{}", value));
    text
}

/// A port list in words (`port1,port2`, or `none`).
struct Ports<'a>(&'a PortList);

impl core::fmt::Display for Ports<'_> {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0.is_empty() {
            return formatter.write_str("none");
        }
        for (position, port) in self.0.iter().enumerate() {
            if position > 0 {
                formatter.write_str(",")?;
            }
            write!(formatter, "{}", port)?;
        }
        Ok(())
    }
}

/// An aging time in words (`300 s`, or `never` for 0).
struct Seconds(u32);

impl core::fmt::Display for Seconds {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => formatter.write_str("never"),
            seconds => write!(formatter, "{} s", seconds),
        }
    }
}

/// Two different NICs of the list, the first shared and the second mutable.
fn pair(nics: &mut [Nic], input: usize, output: usize) -> (Option<&Nic>, Option<&mut Nic>) {
    if input == output {
        return (None, None);
    }
    if input < output {
        let (low, high) = nics.split_at_mut(output);
        (low.get(input), high.first_mut())
    } else {
        let (low, high) = nics.split_at_mut(input);
        (high.first(), low.get_mut(output))
    }
}

/// Why an output was not sent.
enum SendError {
    /// No free transmit buffer or ring slot on the output.
    NoRoom,
    /// The edit could not be made, or the edited frame does not fit.
    Edit,
}

/// Puts a copy of the received frame, with its tag edit, on `output`'s transmit ring (no
/// flush). The forwarding step that becomes a buffer move once ports share a pool: then the
/// edit is made in place in the received buffer's headroom and the buffer itself is posted.
fn send_copy<I: NetDevice, O: NetDevice>(
    input: &I,
    buffer: &RxBuffer,
    output: &mut O,
    edit: Edit,
) -> Result<(), SendError> {
    let frame = input.rx_frame(buffer);
    let length = frame.len();
    let mut tx = output.tx_reserve().ok_or(SendError::NoRoom)?;
    let area = output.tx_frame_mut(&mut tx);
    // A push needs room in front of the frame: copy it in behind that headroom.
    let start = if matches!(edit, Edit::Push(_)) {
        TAG_BYTES
    } else {
        0
    };
    let edited = match area.get_mut(start..start + length) {
        Some(target) => {
            target.copy_from_slice(frame);
            apply_edit(area, start, length, edit).ok()
        }
        None => None,
    };
    let Some((start, length)) = edited else {
        output.tx_discard(tx);
        return Err(SendError::Edit);
    };
    if start != 0 {
        // A pop leaves the frame 4 bytes in; the NIC sends from the front of the area.
        area.copy_within(start..start + length, 0);
    }
    output.transmit(tx, length).map_err(|error| {
        output.tx_discard(error.buffer);
        SendError::Edit
    })
}
