//! NICs: virtio-net bring-up, the management stack on `mgmt0`, HTTP.
//!
//! Data ports form the switch (`switching.rs`), whose fast path runs first in every pass; they
//! never feed the management stack. Naming (docs/nics.md, [`dpu_net::order_nics`]): network devices sorted by
//! descending virtio-mmio address; the first is `mgmt0`, the rest `port1`, `port2`, ... (QEMU
//! command-line order).

use crate::arch::aarch64::timer;
use crate::board::Board;
use crate::switching::DataPorts;
use crate::sync::IrqSafeMutex;
use crate::{log_info, log_warn, print, println};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use dpu_mgmt::{HttpServer, NicStatus, StatusSnapshot};
use dpu_net::smoltcp::time::Instant;
use dpu_net::smoltcp::wire::Ipv4Address;
use dpu_net::{MgmtConfig, MgmtStack, MgmtStorage, StackEvent};
use dpu_net::{NIC_NAMES, order_nics, role_of};
use heapless::Vec;
use netdev::{LinkState, NetDevice};
use static_cell::StaticCell;
use virtio::{FeatureNames, MmioInterrupt, MmioTransport, NetStorage, VirtioNet};

/// NICs supported (virtio-mmio network devices).
pub const MAX_NICS: usize = dpu_net::MAX_NICS;
/// Bytes of a virtio-mmio register block: the control registers, then the config space.
const VIRTIO_MMIO_WINDOW: u64 = (virtio::mmio::CONFIG_OFFSET + virtio::mmio::CONFIG_SIZE) as u64;
const HTTP_PORT: u16 = 80;
/// Keep spinning this long after the last packet before sleeping until the next tick.
const BUSY_POLL_MICROSECONDS: u64 = 20_000;
/// Oldest status snapshot an HTTP response may use.
const SNAPSHOT_MAX_AGE_MS: u64 = 100;

static NET_STORAGE: [NetStorage; MAX_NICS] = [const { NetStorage::new() }; MAX_NICS];
static MGMT_STORAGE: StaticCell<MgmtStorage<'static>> = StaticCell::new();
static HTTP: StaticCell<HttpService> = StaticCell::new();
/// The management HTTP server, one slot per TCP connection of the stack.
type HttpService = HttpServer<'static, { dpu_net::stack::TCP_CONNECTIONS }>;
/// Interrupt handles of the NICs, for the shared handler.
static INTERRUPTS: IrqSafeMutex<Vec<MmioInterrupt, MAX_NICS>> = IrqSafeMutex::new(Vec::new());
/// Bit n: NIC n reported a configuration change (link).
static CONFIG_CHANGED: AtomicU32 = AtomicU32::new(0);

/// One NIC.
pub struct Nic {
    /// `mgmt0`, `port1`, ...
    pub name: &'static str,
    /// Register window base.
    pub base: u64,
    /// GIC interrupt ID.
    pub interrupt: Option<u32>,
    /// The driver.
    pub driver: VirtioNet<MmioTransport>,
}

/// Every NIC, the management stack and its HTTP service.
pub struct Network {
    nics: Vec<Nic, MAX_NICS>,
    stack: Option<MgmtStack<'static>>,
    config: MgmtConfig,
    http: Option<&'static mut HttpService>,
    /// The switch over the data ports (none without data ports).
    ports: Option<DataPorts>,
    last_activity: u64,
}

fn now() -> Instant {
    Instant::from_micros(timer::counter_microseconds() as i64)
}

/// Config-change interrupt of any NIC: acknowledge each device, flag the ones that changed.
fn on_interrupt() {
    let interrupts = INTERRUPTS.lock();
    for (index, handle) in interrupts.iter().enumerate() {
        if handle.acknowledge() != 0 {
            CONFIG_CHANGED.fetch_or(1 << index, Ordering::Relaxed);
        }
    }
}

/// Probes every virtio-mmio slot, brings up the network devices and the management stack.
pub fn init(board: &Board) -> Network {
    // Every network device first, then the naming order, so a ninth NIC never displaces mgmt0.
    let mut found: Vec<(u64, Option<u32>, MmioTransport), 64> = Vec::new();
    for slot in &board.virtio_slots {
        if slot.registers.size < VIRTIO_MMIO_WINDOW {
            println!(
                "net: virtio-mmio {:#x}: register window of {:#x} bytes, needs {:#x}; skipped",
                slot.registers.base, slot.registers.size, VIRTIO_MMIO_WINDOW
            );
            continue;
        }
        let Some(base) = NonNull::new(slot.registers.base as *mut u8) else {
            continue;
        };
        // SAFETY: the slot's window comes from the DTB, is at least a virtio-mmio register block
        // long (checked above), is mapped as device memory by layout.rs, and each slot is
        // wrapped exactly once, here.
        let transport = unsafe { MmioTransport::new(base) };
        match transport.probe() {
            Ok(1) => {
                let _ = found.push((slot.registers.base, slot.interrupt, transport));
            }
            Ok(_) | Err(virtio::ProbeError::EmptySlot) => {}
            Err(error) => println!("net: virtio-mmio {:#x}: {}", slot.registers.base, error),
        }
    }
    let named = order_nics(&mut found, |(base, _, _)| *base);
    for (base, _, _) in found.iter().skip(named) {
        println!("net: more than {} NICs; {:#x} ignored", MAX_NICS, base);
    }
    found.truncate(named);
    let mut network = Network {
        nics: Vec::new(),
        stack: None,
        config: MgmtConfig::Dhcp,
        http: None,
        ports: None,
        last_activity: 0,
    };
    for (index, (base, interrupt, transport)) in found.into_iter().enumerate() {
        let name = NIC_NAMES[index];
        let handle = transport.interrupt_handle();
        match VirtioNet::new(transport, &NET_STORAGE[index]) {
            Ok(driver) => {
                let features = driver.features();
                println!(
                    "{}: virtio-net at {:#x}, MAC {}, link {}",
                    name,
                    base,
                    driver.mac_address(),
                    driver.link_state()
                );
                println!(
                    "       features {}; {} declined ('ifconfig -v' lists them)",
                    FeatureNames(features.accepted),
                    features.declined().count_ones()
                );
                let _ = INTERRUPTS.lock().push(handle);
                let _ = network.nics.push(Nic {
                    name,
                    base,
                    interrupt,
                    driver,
                });
            }
            Err(error) => println!("{}: virtio-net at {:#x} failed: {}", name, base, error),
        }
    }
    for nic in &network.nics {
        if let Some(id) = nic.interrupt
            && let Err(error) = crate::interrupts::register(id, board.trigger(id), on_interrupt)
        {
            println!("{}: interrupt {}: {}", nic.name, id, error);
        }
    }
    network.ports = DataPorts::new(&network.nics, board.bootargs);
    let (config, error) = MgmtConfig::from_bootargs(board.bootargs);
    if let Some(error) = error {
        println!("net: bootargs: {}; using DHCP", error);
    }
    network.config = config;
    if let Some(mgmt) = network.nics.first_mut() {
        let storage = MGMT_STORAGE.init(MgmtStorage::new());
        let mac = mgmt.driver.mac_address();
        let seed = timer::counter()
            ^ u64::from_le_bytes([
                mac.0[0], mac.0[1], mac.0[2], mac.0[3], mac.0[4], mac.0[5], 0, 0,
            ]);
        let stack = MgmtStack::new(&mut mgmt.driver, config, HTTP_PORT, storage, now(), seed);
        println!(
            "mgmt0: management stack: {}; HTTP on port {}",
            config, HTTP_PORT
        );
        network.stack = Some(stack);
        network.http = Some(HTTP.init(HttpService::new()));
    } else {
        println!(
            "net: no virtio-net NIC found (add -device virtio-net-device and -global virtio-mmio.force-legacy=false)"
        );
    }
    network
}

impl Network {
    /// True while traffic was seen recently (the poll loop keeps spinning instead of sleeping).
    pub fn busy(&self) -> bool {
        timer::counter_microseconds().saturating_sub(self.last_activity) < BUSY_POLL_MICROSECONDS
            || self.stack.as_ref().is_some_and(MgmtStack::ping_running)
    }

    /// The management health signal for the boot commit: `None` without a management NIC,
    /// else whether its stack has an address (DHCP lease or static).
    pub fn management_health(&self) -> Option<bool> {
        self.stack
            .as_ref()
            .map(|stack| stack.ipv4_address().is_some())
    }

    /// The switch health signal for the boot commit: `None` without data ports, else whether
    /// the switch is running over them.
    pub fn forwarding_health(&self) -> Option<bool> {
        self.ports.as_ref().map(DataPorts::forwarding)
    }

    /// The switch and the NICs (for `switch set`, which re-reads link states), if there are
    /// data ports.
    pub fn switch(&mut self) -> Option<(&mut DataPorts, &[Nic])> {
        self.ports
            .as_mut()
            .map(|ports| (ports, self.nics.as_slice()))
    }

    /// One pass: link changes, the switch fast path, the management stack. Returns stack
    /// events.
    pub fn poll(&mut self) -> Vec<StackEvent, { dpu_net::stack::EVENTS_PER_POLL }> {
        let changed = CONFIG_CHANGED.swap(0, Ordering::Relaxed);
        for (index, nic) in self.nics.iter_mut().enumerate() {
            if changed & (1 << index) != 0 {
                let link = nic.driver.config_changed();
                println!("{}: link {}", nic.name, link);
                log_info!("link change on NIC {=usize}", index);
                if let Some(ports) = self.ports.as_mut() {
                    ports.link_changed(nic.name, link);
                }
            }
        }
        let before = self.packet_total();
        // Fast path first: every data port's burst is switched before the management work.
        if let Some(ports) = self.ports.as_mut() {
            ports.pass(&mut self.nics);
        }
        let mut events = Vec::new();
        // Refresh the status snapshot while clients are connected, and otherwise every
        // SNAPSHOT_MAX_AGE_MS (a client that connects and asks within one poll gets one at most
        // that old) rather than on every pass of the loop.
        let now_ms = timer::uptime_milliseconds();
        let snapshot = self
            .http
            .as_deref()
            .filter(|http| http.snapshot_due(now_ms, SNAPSHOT_MAX_AGE_MS))
            .map(|_| self.snapshot());
        if let (Some(stack), Some(mgmt), Some(http)) = (
            self.stack.as_mut(),
            self.nics.first_mut(),
            self.http.as_deref_mut(),
        ) {
            if let Some(snapshot) = snapshot {
                http.set_snapshot(snapshot, now_ms);
            }
            http.set_clock(now_ms);
            events = stack.poll(&mut mgmt.driver, now(), http);
        }
        if self.packet_total() != before {
            self.last_activity = timer::counter_microseconds();
        }
        for event in &events {
            match event {
                StackEvent::DhcpConfigured { address, router } => {
                    match router {
                        Some(router) => {
                            println!("mgmt0: DHCP lease {} gateway {}", address, router)
                        }
                        None => println!("mgmt0: DHCP lease {} (no gateway offered)", address),
                    }
                    log_info!("DHCP lease applied");
                }
                StackEvent::DhcpDeconfigured => {
                    println!("mgmt0: DHCP lease lost");
                    log_warn!("DHCP lease lost");
                }
                _ => {}
            }
        }
        events
    }

    fn packet_total(&self) -> u64 {
        self.nics
            .iter()
            .map(|nic| {
                let counters = nic.driver.counters();
                counters.rx_packets + counters.tx_packets
            })
            .sum()
    }

    fn snapshot(&self) -> StatusSnapshot<'static> {
        let mut snapshot = StatusSnapshot::new(
            crate::version::VERSION,
            crate::version::GIT_HASH,
            timer::uptime_milliseconds(),
        );
        for (index, nic) in self.nics.iter().enumerate() {
            let _ = snapshot.push_nic(NicStatus {
                name: nic.name,
                role: role_of(index),
                link: match nic.driver.link_state() {
                    LinkState::Up => dpu_mgmt::LinkState::Up,
                    LinkState::Down => dpu_mgmt::LinkState::Down,
                },
                mac: nic.driver.mac_address().0,
            });
        }
        snapshot
    }

    /// `ifconfig [-v]`: every NIC with role, MAC, link, address and counters; `verbose` adds
    /// features, device errors and adapter counters.
    pub fn print_ifconfig(&mut self, verbose: bool) {
        if self.nics.is_empty() {
            println!(
                "no NICs (QEMU: -device virtio-net-device,netdev=... -global virtio-mmio.force-legacy=false)"
            );
        }
        for (index, nic) in self.nics.iter_mut().enumerate() {
            // Reclaim finished transmits first, so the pool figures are current.
            let _ = nic.driver.tx_capacity();
            let driver = &nic.driver;
            print!(
                "{:<6} {:<10} {}  link {}  virtio-mmio {:#x} irq ",
                nic.name,
                role_of(index),
                driver.mac_address(),
                driver.link_state(),
                nic.base
            );
            match nic.interrupt {
                Some(id) => println!("{}", id),
                None => println!("-"),
            }
            if index == 0 {
                match self.stack.as_ref().and_then(MgmtStack::ipv4_address) {
                    Some(address) => println!("       inet {} ({})", address, self.config),
                    None => println!("       inet none yet ({})", self.config),
                }
                if let Some(stack) = self.stack.as_ref() {
                    println!("       screened: {}", stack.frame_drops());
                    if verbose {
                        let (tx_dropped, rx_dropped) = stack.adapter_drops();
                        println!(
                            "       adapter: rx-dropped {} tx-dropped {}",
                            rx_dropped, tx_dropped
                        );
                    }
                }
            }
            let counters = driver.counters();
            println!(
                "       rx {} packets {} bytes   tx {} packets {} bytes",
                counters.rx_packets, counters.rx_bytes, counters.tx_packets, counters.tx_bytes
            );
            println!(
                "       drops: rx oversized {} runt {} device-error {}; tx bad-length {} no-room {} device-error {}",
                counters.rx_drop_oversized,
                counters.rx_drop_runt,
                counters.rx_drop_device_error,
                counters.tx_drop_bad_length,
                counters.tx_drop_no_room,
                counters.tx_device_error
            );
            let pool = counters.pool;
            println!(
                "       pool {} buffers: free {} rx-posted {} rx-held {} tx-reserved {} tx-in-flight {}",
                pool.total,
                pool.free,
                pool.rx_posted,
                pool.rx_held,
                pool.tx_reserved,
                pool.tx_in_flight
            );
            if verbose {
                println!(
                    "       notifications {} link changes {} handle misuse {}",
                    counters.notifications, counters.link_changes, counters.handle_misuse
                );
                println!("       device errors: {}", driver.device_errors());
                let features = driver.features();
                print_wrapped("features", FeatureNames(features.accepted));
                print_wrapped("declined", FeatureNames(features.declined()));
            }
        }
        if let Some(http) = self.http.as_deref() {
            println!("http: {}", http.counters());
        }
    }

    /// The name of the NIC whose registers are at `base`, if one was brought up there.
    pub fn nic_at(&self, base: u64) -> Option<&'static str> {
        self.nics
            .iter()
            .find(|nic| nic.base == base)
            .map(|nic| nic.name)
    }

    /// NICs brought up.
    pub fn nic_count(&self) -> usize {
        self.nics.len()
    }

    /// `ping <ip> [count]`: runs until done or Ctrl-C, printing replies and a summary.
    pub fn ping(&mut self, target: Ipv4Address, count: u16) {
        let Some(stack) = self.stack.as_mut() else {
            println!("error: no management NIC");
            return;
        };
        if let Err(error) = stack.start_ping(target, count, now()) {
            println!("error: {}", error);
            return;
        }
        println!(
            "PING {}: {} data bytes",
            target,
            dpu_net::stack::PING_PAYLOAD
        );
        let mut rtts: Vec<u64, 64> = Vec::new();
        let (mut minimum, mut maximum, mut total, mut replies) = (u64::MAX, 0u64, 0u64, 0u64);
        loop {
            crate::watchdog::check_in();
            if crate::console::take_interrupt_request() {
                if let Some((sent, received)) = self.stack.as_mut().and_then(MgmtStack::cancel_ping)
                {
                    print_ping_summary(target, sent, received, minimum, total, maximum, replies);
                }
                println!("^C");
                return;
            }
            for event in self.poll() {
                match event {
                    StackEvent::PingReply {
                        from,
                        sequence,
                        rtt,
                        bytes,
                    } => {
                        let micros = rtt.total_micros();
                        minimum = minimum.min(micros);
                        maximum = maximum.max(micros);
                        total += micros;
                        replies += 1;
                        let _ = rtts.push(micros);
                        println!(
                            "{} bytes from {}: icmp_seq={} time={}.{:03} ms",
                            bytes,
                            from,
                            sequence,
                            micros / 1000,
                            micros % 1000
                        );
                    }
                    StackEvent::PingTimeout { sequence } => {
                        println!("no reply: icmp_seq={}", sequence)
                    }
                    StackEvent::PingDone { sent, received } => {
                        print_ping_summary(
                            target, sent, received, minimum, total, maximum, replies,
                        );
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

fn print_ping_summary(
    target: Ipv4Address,
    sent: u16,
    received: u16,
    minimum: u64,
    total: u64,
    maximum: u64,
    replies: u64,
) {
    let loss = if sent == 0 {
        0
    } else {
        u32::from(sent - received.min(sent)) * 100 / u32::from(sent)
    };
    println!("--- {} ping statistics ---", target);
    println!(
        "{} packets transmitted, {} received, {}% packet loss",
        sent, received, loss
    );
    if let Some(average) = total.checked_div(replies) {
        println!(
            "rtt min/avg/max = {}.{:03}/{}.{:03}/{}.{:03} ms",
            minimum / 1000,
            minimum % 1000,
            average / 1000,
            average % 1000,
            maximum / 1000,
            maximum % 1000
        );
    }
}

/// Console width `ifconfig -v` wraps long word lists at.
const WRAP_COLUMNS: usize = 100;

/// Prints `       <label> <words>`, wrapping the words under the label's indent.
fn print_wrapped(label: &str, words: impl core::fmt::Display) {
    let mut text: heapless::String<1024> = heapless::String::new();
    let _ = core::fmt::write(&mut text, format_args!("{}", words));
    const INDENT: &str = "       ";
    print!("{}{}", INDENT, label);
    let mut column = INDENT.len() + label.len();
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        if column + 1 + word.len() > WRAP_COLUMNS {
            println!();
            print!("{}{:width$}", INDENT, "", width = label.len());
            column = INDENT.len() + label.len();
        }
        print!(" {}", word);
        column += 1 + word.len();
    }
    println!();
}
