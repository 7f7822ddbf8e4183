//! NICs: virtio-net bring-up, the management stack on `mgmt0`, HTTP.
//!
//! Data ports form the switch (`switching.rs`), whose fast path runs first in every pass; they
//! never feed the management stack. `mgmt0` has a buffer pool of its own; the data ports share
//! one ([`POOL`]), so the switch forwards a frame by moving its buffer. Naming (docs/nics.md,
//! [`dpu_net::order_nics`]): network devices sorted by descending virtio-mmio address; the
//! first is `mgmt0`, the rest `port1`, `port2`, ... (QEMU command-line order).

use crate::arch::aarch64::timer;
use crate::board::Board;
use crate::ping::Ping;
use crate::switching::DataPorts;
use crate::sync::IrqSafeMutex;
use crate::{log_info, log_warn, print, println};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use dpu_mgmt::{HttpServer, NicStatus, StatusSnapshot};
use dpu_net::smoltcp::time::Instant;
use dpu_net::smoltcp::wire::Ipv4Address;
use dpu_net::{MgmtConfig, MgmtStack, MgmtStorage, StackEvent, TcpBuffers};
use dpu_net::{NIC_NAMES, order_nics, role_of};
use heapless::Vec;
use netdev::{Counters, LinkState, NetDevice};
use static_cell::{ConstStaticCell, StaticCell};
use virtio::{
    DeviceErrors, FeatureNames, MmioInterrupt, MmioTransport, Negotiated, NetStorage, PacketPool,
    PooledVirtioNet, QueueStorage, VirtioNet,
};

/// NICs supported (virtio-mmio network devices).
pub const MAX_NICS: usize = dpu_net::MAX_NICS;
/// Bytes of a virtio-mmio register block: the control registers, then the config space.
const VIRTIO_MMIO_WINDOW: u64 = (virtio::mmio::CONFIG_OFFSET + virtio::mmio::CONFIG_SIZE) as u64;
const HTTP_PORT: u16 = 80;
/// Keep spinning this long after the last packet before sleeping (receive interrupts armed):
/// long enough to take the rest of a burst in the same few passes, short enough that an idle
/// loop gives the core back. Under QEMU TCG the spinning vCPU shares a host core with the
/// device model, so every microsecond spun for nothing is taken from the frames themselves:
/// 20 ms here gave about 51 k frames/s at 64 B, 50 us about 79 k (`cargo xtask bench switch`).
const BUSY_POLL_MICROSECONDS: u64 = 50;
/// Longest the management stack goes unpolled when no frame for it waits and no timer of its
/// is due sooner (DHCP, TCP and the HTTP service still see a poll every millisecond).
const MGMT_POLL_MAX_MICROSECONDS: u64 = 1_000;
/// Oldest status snapshot an HTTP response may use.
const SNAPSHOT_MAX_AGE_MS: u64 = 100;

/// Data ports (every NIC but `mgmt0`).
pub const MAX_DATA_PORTS: usize = MAX_NICS - 1;
// Receive buffers each data port keeps posted (its reserve in [`POOL`]) come from the number
// of data ports brought up (`virtio::pool::rx_reserve_per_port`): the whole 256-entry ring
// while the pool can spare it (1 or 2 ports), an equal share of the rest with more (7 ports:
// 96 each, 672 of the 1024), always leaving `virtio::pool::POOL_SPARE` (352) for frames parked
// on transmit rings (a congested egress holds at most its ring), flood copies and RARP frames.
const _: () = assert!(
    MAX_DATA_PORTS * virtio::pool::rx_reserve_per_port(MAX_DATA_PORTS) + virtio::pool::POOL_SPARE
        <= virtio::POOL_BUFFERS
);

/// `mgmt0`'s own buffers and rings.
static MGMT_NET_STORAGE: NetStorage = NetStorage::new();
/// The packet pool the data ports share: a frame received on one is sent on another as it is.
pub(crate) static POOL: PacketPool = PacketPool::new();
/// The rings of each data port.
static PORT_QUEUES: [QueueStorage; MAX_DATA_PORTS] =
    [const { QueueStorage::new() }; MAX_DATA_PORTS];
/// The data port drivers (about 18 KiB each, mostly a table the pool lends through): in
/// statics, so `Network` stays small on the boot stack.
static PORT_DRIVERS: [StaticCell<PortDriver>; MAX_DATA_PORTS] =
    [const { StaticCell::new() }; MAX_DATA_PORTS];
// The TCP buffers and the HTTP server are hundreds of KiB: built in place (const, all zero
// bytes, so .bss), not on the boot stack. The rest of the stack's storage is about 20 KiB.
static TCP_BUFFERS: ConstStaticCell<TcpBuffers> = ConstStaticCell::new(TcpBuffers::new());
static MGMT_STORAGE: StaticCell<MgmtStorage<'static>> = StaticCell::new();
static HTTP: ConstStaticCell<HttpService> = ConstStaticCell::new(HttpService::new());
/// The management HTTP server, one slot per TCP connection of the stack.
type HttpService = HttpServer<'static, { dpu_net::stack::TCP_CONNECTIONS }>;
/// Interrupt handles of the NICs, for the shared handler.
static INTERRUPTS: IrqSafeMutex<Vec<MmioInterrupt, MAX_NICS>> = IrqSafeMutex::new(Vec::new());
/// Bit n: NIC n reported a configuration change (link).
static CONFIG_CHANGED: AtomicU32 = AtomicU32::new(0);

/// A data port's driver: virtio-net over the shared [`POOL`].
pub type PortDriver = PooledVirtioNet<MmioTransport>;

/// One NIC.
pub struct Nic<D> {
    /// `mgmt0`, `port1`, ...
    pub name: &'static str,
    /// Position in the naming order (0 is `mgmt0`).
    pub order: usize,
    /// Register window base.
    pub base: u64,
    /// GIC interrupt ID.
    pub interrupt: Option<u32>,
    /// Bit of this NIC in `CONFIG_CHANGED` (its place in `INTERRUPTS`).
    flag: usize,
    /// The driver.
    pub driver: D,
}

/// The management NIC: a pool of its own.
pub type MgmtNic = Nic<VirtioNet<MmioTransport>>;
/// A data port: buffers from the shared [`POOL`].
pub type PortNic = Nic<&'static mut PortDriver>;

/// What `ifconfig` needs from either kind of NIC driver beyond [`NetDevice`].
trait Driver: NetDevice {
    fn device_errors(&self) -> DeviceErrors;
    fn features(&self) -> Negotiated;
}

impl Driver for VirtioNet<MmioTransport> {
    fn device_errors(&self) -> DeviceErrors {
        VirtioNet::device_errors(self)
    }
    fn features(&self) -> Negotiated {
        VirtioNet::features(self)
    }
}

impl Driver for PortDriver {
    fn device_errors(&self) -> DeviceErrors {
        PooledVirtioNet::device_errors(self)
    }
    fn features(&self) -> Negotiated {
        PooledVirtioNet::features(self)
    }
}

/// Every NIC, the management stack and its HTTP service.
pub struct Network {
    mgmt: Option<MgmtNic>,
    data: Vec<PortNic, MAX_DATA_PORTS>,
    stack: Option<MgmtStack<'static>>,
    config: MgmtConfig,
    http: Option<&'static mut HttpService>,
    /// The switch over the data ports (none without data ports).
    ports: Option<DataPorts>,
    last_activity: u64,
    /// Counter time (microseconds) at which the management stack is polled even without a
    /// frame for it: its next timer, at most MGMT_POLL_MAX_MICROSECONDS after the last poll.
    next_mgmt_poll: u64,
    /// The console's ping while one runs (fed by [`Network::poll`], `ping.rs`).
    ping: Option<Ping>,
    /// Active/standby HA (`ha.*` keys, `ha.rs`); none when `ha.alias` is absent.
    ha: Option<crate::ha::Ha>,
}

fn now() -> Instant {
    Instant::from_micros(timer::counter_microseconds() as i64)
}

/// Interrupt of any NIC: acknowledge each device, flag the ones whose config (link) changed.
/// A used-buffer cause only wakes the loop (the receive interrupt it armed before sleeping);
/// the loop's next pass receives the frame.
fn on_interrupt() {
    let interrupts = INTERRUPTS.lock();
    for (index, handle) in interrupts.iter().enumerate() {
        let causes = handle.acknowledge();
        if causes & virtio::transport::interrupt::CONFIG_CHANGE != 0 {
            CONFIG_CHANGED.fetch_or(1 << index, Ordering::Relaxed);
            crate::loopstats::woken_by(crate::loopstats::Wake::Link);
        }
        if causes & virtio::transport::interrupt::USED_BUFFER != 0 {
            crate::loopstats::woken_by(crate::loopstats::Wake::Frame);
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
        mgmt: None,
        data: Vec::new(),
        stack: None,
        config: MgmtConfig::Dhcp,
        http: None,
        ports: None,
        last_activity: 0,
        next_mgmt_poll: 0,
        ping: None,
        ha: None,
    };
    // HA (issue 10): the `ha.link` NIC is never a switch port; it gets buffers of its own.
    let ha_settings = crate::ha::settings(board.bootargs);
    let ha_link = ha_settings.as_ref().and_then(|(settings, _)| settings.link);
    let mut link_nic: Option<MgmtNic> = None;
    // Every NIC but mgmt0 and the HA link is a data port: their count sizes the RX reserves.
    let data_ports = (1..found.len())
        .filter(|index| NIC_NAMES.get(*index).copied() != ha_link)
        .count();
    let rx_reserve = virtio::pool::rx_reserve_per_port(data_ports);
    for (index, (base, interrupt, transport)) in found.into_iter().enumerate() {
        let name = NIC_NAMES[index];
        let handle = transport.interrupt_handle();
        let flag = INTERRUPTS.lock().len();
        // mgmt0 and the HA link: a driver with buffers of its own (not a switch port).
        let own_buffers = if index == 0 {
            Some((&MGMT_NET_STORAGE, &mut network.mgmt))
        } else if Some(name) == ha_link {
            Some((&crate::ha::LINK_STORAGE, &mut link_nic))
        } else {
            None
        };
        let (mac, link, features) = if let Some((storage, place)) = own_buffers {
            match VirtioNet::new(transport, storage) {
                Ok(driver) => {
                    let seen = (driver.mac_address(), driver.link_state(), driver.features());
                    *place = Some(Nic {
                        name,
                        order: index,
                        base,
                        interrupt,
                        flag,
                        driver,
                    });
                    seen
                }
                Err(error) => {
                    println!("{}: virtio-net at {:#x} failed: {}", name, base, error);
                    continue;
                }
            }
        } else {
            let slot = index - 1;
            let (Some(queues), Some(cell)) = (PORT_QUEUES.get(slot), PORT_DRIVERS.get(slot)) else {
                continue;
            };
            match PooledVirtioNet::new(transport, queues, &POOL, rx_reserve) {
                Ok(driver) => {
                    let driver = cell.init(driver);
                    let seen = (driver.mac_address(), driver.link_state(), driver.features());
                    let _ = network.data.push(Nic {
                        name,
                        order: index,
                        base,
                        interrupt,
                        flag,
                        driver,
                    });
                    seen
                }
                Err(error) => {
                    println!("{}: virtio-net at {:#x} failed: {}", name, base, error);
                    continue;
                }
            }
        };
        println!(
            "{}: virtio-net at {:#x}, MAC {}, link {}",
            name, base, mac, link
        );
        println!(
            "       features {}; {} declined ('ifconfig -v' lists them)",
            FeatureNames(features.accepted),
            features.declined().count_ones()
        );
        let _ = INTERRUPTS.lock().push(handle);
    }
    let interrupts = network
        .mgmt
        .iter()
        .map(|nic| (nic.name, nic.interrupt))
        .chain(network.data.iter().map(|nic| (nic.name, nic.interrupt)))
        .chain(link_nic.iter().map(|nic| (nic.name, nic.interrupt)));
    for (name, interrupt) in interrupts {
        if let Some(id) = interrupt
            && let Err(error) = crate::interrupts::register(id, board.trigger(id), on_interrupt)
        {
            println!("{}: interrupt {}: {}", name, id, error);
        }
    }
    if !network.data.is_empty() {
        println!(
            "net: {} data port(s) share a pool of {} buffers ({} reserved for receive)",
            network.data.len(),
            virtio::POOL_BUFFERS,
            network.data.len() * rx_reserve
        );
    }
    network.ports = DataPorts::new(&network.data, board.bootargs);
    if let Some(nic) = link_nic.as_ref() {
        println!(
            "{}: the HA link to the peer DPU (ha.link), not a switch port",
            nic.name
        );
    }
    if let Some(mgmt) = network.mgmt.as_ref() {
        crate::ha::set_mgmt_mac(mgmt.driver.mac_address().0);
    }
    network.ha = ha_settings
        .map(|(settings, misconfigured)| crate::ha::Ha::new(settings, misconfigured, link_nic));
    let (config, error) = MgmtConfig::from_bootargs(board.bootargs);
    if let Some(error) = error {
        println!("net: bootargs: {}; using DHCP", error);
    }
    network.config = config;
    if let Some(mgmt) = network.mgmt.as_mut() {
        let storage = MGMT_STORAGE.init(MgmtStorage::new(TCP_BUFFERS.take()));
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
        network.http = Some(HTTP.take());
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

    /// Before the loop sleeps: asks every NIC for an interrupt at its next received frame.
    /// True if a frame is already waiting on one of them (the loop must not sleep). Ring
    /// memory only: no register access.
    pub fn arm_receive_interrupts(&mut self) -> bool {
        let mut waiting = false;
        if let Some(nic) = self.mgmt.as_mut() {
            let _busy = crate::ha::Busy::new(&crate::ha::MGMT_BUSY);
            waiting |= nic.driver.arm_receive_interrupt();
        }
        if let Some(nic) = self.ha.as_mut().and_then(crate::ha::Ha::link_nic) {
            let _busy = crate::ha::Busy::new(&crate::ha::LINK_BUSY);
            waiting |= nic.driver.arm_receive_interrupt();
        }
        for nic in self.data.iter_mut() {
            waiting |= nic.driver.arm_receive_interrupt();
        }
        waiting
    }

    /// After a sleep: every NIC back to polling, receive interrupts suppressed.
    pub fn suppress_receive_interrupts(&mut self) {
        if let Some(nic) = self.mgmt.as_mut() {
            let _busy = crate::ha::Busy::new(&crate::ha::MGMT_BUSY);
            nic.driver.suppress_receive_interrupt();
        }
        if let Some(nic) = self.ha.as_mut().and_then(crate::ha::Ha::link_nic) {
            let _busy = crate::ha::Busy::new(&crate::ha::LINK_BUSY);
            nic.driver.suppress_receive_interrupt();
        }
        for nic in self.data.iter_mut() {
            nic.driver.suppress_receive_interrupt();
        }
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

    /// The boot bank's image version is known (after `bootbank::init`): HA compares DPUs by it,
    /// not by the kernel crate's version, which every build of the same source shares.
    pub fn set_firmware_version(&mut self, version: &dyn core::fmt::Display) {
        if let Some(ha) = self.ha.as_mut() {
            ha.set_firmware_version(version);
        }
    }

    /// Where the fatal path finds the HA link and mgmt0 drivers (`ha::on_fatal`): call once,
    /// where the network stays for good (`kernel_main`).
    pub fn register_fatal_paths(&mut self) {
        if let Some(ha) = self.ha.as_mut() {
            ha.register_fatal_paths(self.mgmt.as_mut());
        }
    }

    /// What the console's `api` command's backend needs: the switch, the data NICs, HA.
    pub fn api_parts(
        &mut self,
    ) -> (
        Option<&mut DataPorts>,
        &[PortNic],
        Option<&mut crate::ha::Ha>,
    ) {
        (self.ports.as_mut(), self.data.as_slice(), self.ha.as_mut())
    }

    /// HA, when `ha.alias` is set.
    pub fn ha(&self) -> Option<&crate::ha::Ha> {
        self.ha.as_ref()
    }

    /// HA, to request a failover.
    pub fn ha_mut(&mut self) -> Option<&mut crate::ha::Ha> {
        self.ha.as_mut()
    }

    /// The switch and the NICs (for `switch set`, which re-reads link states), if there are
    /// data ports.
    pub fn switch(&mut self) -> Option<(&mut DataPorts, &[PortNic])> {
        self.ports
            .as_mut()
            .map(|ports| (ports, self.data.as_slice()))
    }

    /// One pass: link changes, the switch fast path, the management stack. Returns stack
    /// events.
    pub fn poll(&mut self) -> Vec<StackEvent, { dpu_net::stack::EVENTS_PER_POLL }> {
        let changed = CONFIG_CHANGED.swap(0, Ordering::Relaxed);
        if let Some(nic) = self.mgmt.as_mut()
            && changed & (1 << nic.flag) != 0
        {
            let _busy = crate::ha::Busy::new(&crate::ha::MGMT_BUSY);
            let link = nic.driver.config_changed();
            println!("{}: link {}", nic.name, link);
            log_info!("link change on NIC {=usize}", nic.order);
        }
        for nic in self.data.iter_mut() {
            if changed & (1 << nic.flag) != 0 {
                let link = nic.driver.config_changed();
                println!("{}: link {}", nic.name, link);
                log_info!("link change on NIC {=usize}", nic.order);
                if let Some(ports) = self.ports.as_mut() {
                    ports.link_changed(nic.name, link);
                }
            }
        }
        let before = self.packet_total();
        // HA before the switch: a demotion gates the very next frame (`ha.rs`).
        if let Some(ha) = self.ha.as_mut()
            && ha.poll(self.stack.as_mut(), self.ports.as_mut())
        {
            // A heartbeat for the host was queued: the stack sends it this pass.
            self.next_mgmt_poll = 0;
        }
        // Fast path first: every data port's burst is switched before the management work.
        if let Some(ports) = self.ports.as_mut() {
            // The PMU bracket: instructions per forwarded frame (`pmu`, `bench switch`).
            let mark = crate::pmu::fast_path_start();
            let received = ports.pass(&mut self.data);
            crate::pmu::fast_path_end(mark, received);
        }
        let mut events = Vec::new();
        // The management stack runs when mgmt0 has a frame waiting, a ping runs, or its next
        // timer is due (at most MGMT_POLL_MAX_MICROSECONDS apart): not on every pass of a loop
        // that spins for the switch (smoltcp's poll is the biggest part of an idle pass).
        let now_us = timer::counter_microseconds();
        let mgmt_busy = crate::ha::Busy::new(&crate::ha::MGMT_BUSY);
        let mgmt_due = now_us >= self.next_mgmt_poll
            || self
                .mgmt
                .as_ref()
                .is_some_and(|nic| nic.driver.receive_pending())
            || self.stack.as_ref().is_some_and(MgmtStack::ping_running);
        // Refresh the status snapshot while clients are connected, and otherwise every
        // SNAPSHOT_MAX_AGE_MS (a client that connects and asks within one poll gets one at most
        // that old) rather than on every pass of the loop.
        let now_ms = timer::uptime_milliseconds();
        let snapshot = self
            .http
            .as_deref()
            .filter(|http| mgmt_due && http.snapshot_due(now_ms, SNAPSHOT_MAX_AGE_MS))
            .map(|_| self.snapshot());
        if let (true, Some(stack), Some(mgmt), Some(http)) = (
            mgmt_due,
            self.stack.as_mut(),
            self.mgmt.as_mut(),
            self.http.as_deref_mut(),
        ) {
            if let Some(snapshot) = snapshot {
                http.set_snapshot(snapshot, now_ms);
            }
            http.set_clock(now_ms);
            http.set_availability(crate::api::availability());
            let instant = Instant::from_micros(now_us as i64);
            // The /v1 resources and /metrics (api.rs), with dpu-config's tokens.
            let mut backend = crate::api::KernelBackend {
                ports: self.ports.as_mut(),
                nics: &self.data,
                http: crate::api::http_stats(&http.counters()),
                ha: self.ha.as_mut(),
            };
            let mut api = dpu_mgmt::api::serve::Api::new(&mut backend);
            let mut service = http.service(&mut api, &crate::api::Tokens);
            events = stack.poll(&mut mgmt.driver, instant, &mut service);
            let delay = stack
                .poll_delay(instant)
                .map_or(MGMT_POLL_MAX_MICROSECONDS, |delay| {
                    delay.total_micros().min(MGMT_POLL_MAX_MICROSECONDS)
                });
            self.next_mgmt_poll = now_us.saturating_add(delay);
        }
        drop(mgmt_busy);
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
                _ => {
                    if self.ping.as_mut().is_some_and(|ping| ping.on_event(event)) {
                        self.ping = None;
                    }
                }
            }
        }
        events
    }

    /// Frames moved by every NIC so far: O(1) per NIC (two counters each, no copy or scan).
    fn packet_total(&self) -> u64 {
        let mgmt = self.mgmt.as_ref().map_or(0, |nic| nic.driver.activity());
        mgmt + self
            .data
            .iter()
            .map(|nic| nic.driver.activity())
            .sum::<u64>()
    }

    fn snapshot(&self) -> StatusSnapshot<'static> {
        let mut snapshot = StatusSnapshot::new(
            crate::version::VERSION,
            crate::version::GIT_HASH,
            timer::uptime_milliseconds(),
        );
        let nics = self
            .mgmt
            .iter()
            .map(|nic| {
                (
                    nic.name,
                    nic.order,
                    nic.driver.link_state(),
                    nic.driver.mac_address(),
                )
            })
            .chain(self.data.iter().map(|nic| {
                (
                    nic.name,
                    nic.order,
                    nic.driver.link_state(),
                    nic.driver.mac_address(),
                )
            }));
        for (name, order, link, mac) in nics {
            let _ = snapshot.push_nic(NicStatus {
                name,
                role: role_of(order),
                link: match link {
                    LinkState::Up => dpu_mgmt::LinkState::Up,
                    LinkState::Down => dpu_mgmt::LinkState::Down,
                },
                mac: mac.0,
            });
        }
        snapshot
    }

    /// `ifconfig [-v]`: every NIC with role, MAC, link, address and counters, then the shared
    /// pool; `verbose` adds features, device errors and adapter counters.
    pub fn print_ifconfig(&mut self, verbose: bool) {
        let _busy = crate::ha::Busy::new(&crate::ha::MGMT_BUSY);
        if self.mgmt.is_none() && self.data.is_empty() {
            println!(
                "no NICs (QEMU: -device virtio-net-device,netdev=... -global virtio-mmio.force-legacy=false)"
            );
        }
        if let Some(nic) = self.mgmt.as_mut() {
            print_nic_header(
                nic.name,
                nic.order,
                nic.base,
                nic.interrupt,
                &mut nic.driver,
            );
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
            let counters = nic.driver.counters();
            print_nic_counters(&counters);
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
                print_nic_details(&nic.driver, &counters);
            }
        }
        // Every port reclaims its finished transmits first, so the shared figures are current.
        for nic in self.data.iter_mut() {
            let _ = nic.driver.reclaim_tx();
        }
        for nic in self.data.iter_mut() {
            print_nic_header(
                nic.name,
                nic.order,
                nic.base,
                nic.interrupt,
                &mut *nic.driver,
            );
            let counters = nic.driver.counters();
            print_nic_counters(&counters);
            let port = nic.driver.port_occupancy();
            println!(
                "       shared pool: rx-reserve {} rx-posted {} tx-in-flight {}",
                port.reserve, port.rx_posted, port.tx_in_flight
            );
            if verbose {
                print_nic_details(&*nic.driver, &counters);
            }
        }
        if !self.data.is_empty() {
            print_shared_pool();
        }
        if let Some(http) = self.http.as_deref() {
            let counters = http.counters();
            println!("http: {}", counters);
            println!("http: {}", dpu_mgmt::server::ConnectionCounts(&counters));
        }
    }

    /// The name of the NIC whose registers are at `base`, if one was brought up there.
    pub fn nic_at(&self, base: u64) -> Option<&'static str> {
        let mgmt = self.mgmt.iter().map(|nic| (nic.base, nic.name));
        let data = self.data.iter().map(|nic| (nic.base, nic.name));
        mgmt.chain(data)
            .find(|(nic_base, _)| *nic_base == base)
            .map(|(_, name)| name)
    }

    /// NICs brought up.
    pub fn nic_count(&self) -> usize {
        usize::from(self.mgmt.is_some()) + self.data.len()
    }

    /// `ping <ip> [count]`: starts the ping and returns; each [`Network::poll`] then prints its
    /// replies as they arrive and the summary at the end (`ping.rs`).
    pub fn ping(&mut self, target: Ipv4Address, count: u16) {
        let Some(stack) = self.stack.as_mut() else {
            println!("error: no management NIC");
            return;
        };
        if let Err(error) = stack.start_ping(target, count, now()) {
            println!("error: {}", error);
            return;
        }
        self.ping = Some(Ping::started(target));
    }

    /// Whether the console's ping runs (the shell waits for it, or for Ctrl-C).
    pub fn ping_running(&self) -> bool {
        self.ping.is_some()
    }

    /// Ctrl-C: stops the ping and prints its summary so far.
    pub fn cancel_ping(&mut self) {
        let counts = self.stack.as_mut().and_then(MgmtStack::cancel_ping);
        if let (Some(ping), Some((sent, received))) = (self.ping.take(), counts) {
            ping.summary(sent, received);
        }
    }
}

/// The first `ifconfig` line of a NIC (name, role, MAC, link, registers, interrupt).
fn print_nic_header<D: Driver>(
    name: &str,
    order: usize,
    base: u64,
    interrupt: Option<u32>,
    driver: &mut D,
) {
    if order == 0 {
        // Reclaim finished transmits first, so the pool figures are current.
        let _ = driver.tx_capacity();
    }
    print!(
        "{:<6} {:<10} {}  link {}  virtio-mmio {:#x} irq ",
        name,
        role_of(order),
        driver.mac_address(),
        driver.link_state(),
        base
    );
    match interrupt {
        Some(id) => println!("{}", id),
        None => println!("-"),
    }
}

/// A NIC's packet counters and drops.
fn print_nic_counters(counters: &Counters) {
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
}

/// `ifconfig -v`: doorbells, link changes, handle misuse, device errors, features.
fn print_nic_details<D: Driver>(driver: &D, counters: &Counters) {
    println!(
        "       notifications {} link changes {} handle misuse {}",
        counters.notifications, counters.link_changes, counters.handle_misuse
    );
    println!("       device errors: {}", driver.device_errors());
    let features = driver.features();
    print_wrapped("features", FeatureNames(features.accepted));
    print_wrapped("declined", FeatureNames(features.declined()));
}

/// The shared pool's occupancy (after the ports reclaimed their finished transmits). At rest
/// every buffer is free or posted for receive: nothing held, nothing in flight.
pub(crate) fn print_shared_pool() {
    let pool = POOL.occupancy();
    let out = pool.rx_held + pool.tx_in_flight;
    print!(
        "shared pool {} buffers: free {} rx-posted {} rx-held {} tx-in-flight {}; ",
        pool.total, pool.free, pool.rx_posted, pool.rx_held, pool.tx_in_flight
    );
    if out == 0 {
        println!("all returned");
    } else {
        println!("{} out", out);
    }
    let counters = POOL.counters();
    println!(
        "       reserve-refusals {} wrong-pool {} stale-handle {} reset-returns {}",
        counters.reserve_refusals,
        counters.wrong_pool,
        counters.stale_handle,
        counters.reset_returns
    );
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
