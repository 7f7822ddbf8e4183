//! The management stack: smoltcp interface + sockets over the management NIC.
//!
//! [`MgmtStack`] owns a smoltcp `Interface` and a `SocketSet` built in caller-provided
//! [`MgmtStorage`] (put it in a static, or on the stack of a function that never returns). It
//! runs the DHCP client (or a static address from [`crate::MgmtConfig`]), answers pings
//! (smoltcp does that itself), runs a ping client for the console, and serves
//! [`TCP_CONNECTIONS`] TCP connections on one port through a caller-supplied [`TcpService`].
//!
//! Poll it from the poll loop with the NIC and a clock: `stack.poll(&mut nic, now, &mut service)`.
//! It returns the [`StackEvent`]s worth logging. It sends at most one NIC notification per poll.

use heapless::Vec;
use netdev::NetDevice;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::socket::{dhcpv4, icmp, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, Icmpv4Packet, Icmpv4Repr, IpAddress, IpCidr, IpEndpoint,
    Ipv4Address, Ipv4Cidr,
};

use crate::config::MgmtConfig;
use crate::device::{NicAdapter, Scratch};

/// TCP sockets (each a listening socket when idle): [`MIN_LISTENING`] of them always listen,
/// so up to 20 clients are served at once and a 21st still finds a socket (the longest-idle
/// connection is then dropped for it).
pub const TCP_CONNECTIONS: usize = 24;
/// Receive window per TCP connection (a firmware upload streams through it).
pub const TCP_RX_BUFFER: usize = 4096;
/// Send buffer per TCP connection.
pub const TCP_TX_BUFFER: usize = 4096;
/// A connection with no bytes either way for this long is aborted.
pub const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Interval between echo requests of a console ping.
pub const PING_INTERVAL: Duration = Duration::from_secs(1);
/// An echo request unanswered for this long is reported lost.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// Echo request payload bytes (as the common `ping` default).
pub const PING_PAYLOAD: usize = 56;
/// Listening sockets kept free for new clients (smoltcp has no accept backlog: a SYN finds a
/// listening socket or is refused). Below this, the service is asked which connection to drop.
pub const MIN_LISTENING: usize = 4;
const _: () = assert!(
    TCP_CONNECTIONS > MIN_LISTENING + 16,
    "16 idle clients leave room"
);
/// A connection we closed is aborted if the peer has not finished closing within this.
pub const CLOSE_LINGER: Duration = Duration::from_secs(2);
/// Events [`MgmtStack::poll`] reports at most per call (the rest wait for the next poll).
pub const EVENTS_PER_POLL: usize = 8;

const ICMP_PACKETS: usize = 8;
const ICMP_BYTES: usize = 1024;
/// Datagrams the UDP socket (HA heartbeats and grants, port 7400) queues each way.
const UDP_PACKETS: usize = 8;
const UDP_BYTES: usize = 2048;
/// Sockets: the TCP ones, ICMP, DHCP, UDP.
const SOCKETS: usize = TCP_CONNECTIONS + 3;
/// Outstanding echo requests tracked for RTT (sequence number modulo this).
const PING_SLOTS: usize = 8;

/// The TCP sockets' receive and send buffers, about 192 KiB: all zero bytes when new, so a
/// static of it is .bss (the rest of [`MgmtStorage`] is not: smoltcp's empty socket slot is
/// not zero bytes).
pub struct TcpBuffers {
    rx: [[u8; TCP_RX_BUFFER]; TCP_CONNECTIONS],
    tx: [[u8; TCP_TX_BUFFER]; TCP_CONNECTIONS],
}

impl Default for TcpBuffers {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpBuffers {
    /// Bytes of memory this takes.
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// Zeroed buffers.
    pub const fn new() -> Self {
        Self {
            rx: [[0; TCP_RX_BUFFER]; TCP_CONNECTIONS],
            tx: [[0; TCP_TX_BUFFER]; TCP_CONNECTIONS],
        }
    }
}

/// Memory for the stack's sockets and the adapter's scratch buffers, about 20 KiB
/// ([`MgmtStorage::BYTES`]), over the TCP buffers ([`TcpBuffers`]): place both in static
/// storage.
pub struct MgmtStorage<'a> {
    sockets: [SocketStorage<'a>; SOCKETS],
    tcp: &'a mut TcpBuffers,
    icmp_rx_metadata: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_rx: [u8; ICMP_BYTES],
    icmp_tx_metadata: [icmp::PacketMetadata; ICMP_PACKETS],
    icmp_tx: [u8; ICMP_BYTES],
    udp_rx_metadata: [udp::PacketMetadata; UDP_PACKETS],
    udp_rx: [u8; UDP_BYTES],
    udp_tx_metadata: [udp::PacketMetadata; UDP_PACKETS],
    udp_tx: [u8; UDP_BYTES],
    scratch: Scratch,
}

impl<'a> MgmtStorage<'a> {
    /// Bytes of memory this takes (without the TCP buffers).
    pub const BYTES: usize = core::mem::size_of::<Self>();

    /// Empty storage over `tcp`.
    pub const fn new(tcp: &'a mut TcpBuffers) -> Self {
        Self {
            sockets: [SocketStorage::EMPTY; SOCKETS],
            tcp,
            icmp_rx_metadata: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_rx: [0; ICMP_BYTES],
            icmp_tx_metadata: [icmp::PacketMetadata::EMPTY; ICMP_PACKETS],
            icmp_tx: [0; ICMP_BYTES],
            udp_rx_metadata: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_rx: [0; UDP_BYTES],
            udp_tx_metadata: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_tx: [0; UDP_BYTES],
            scratch: Scratch::new(),
        }
    }
}

/// What a [`TcpService`] wants after writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SendStatus {
    /// Bytes written at the start of the output buffer.
    pub written: usize,
    /// Close the connection once the written bytes are sent.
    pub close: bool,
}

/// The application behind the TCP port (the HTTP server lives in `kernel/mgmt`).
///
/// `connection` is a slot index in `0..TCP_CONNECTIONS`; a slot is reused after
/// [`on_close`](Self::on_close).
pub trait TcpService {
    /// A client connected on `connection`.
    fn on_open(&mut self, connection: usize, remote: IpEndpoint) {
        let _ = (connection, remote);
    }

    /// Bytes arrived. Return how many were consumed; the rest are offered again, with whatever
    /// arrives next, on a later poll (so a request split across segments can wait whole).
    fn on_receive(&mut self, connection: usize, input: &[u8]) -> usize;

    /// The connection can send: write up to `output.len()` bytes. Called every poll while the
    /// connection is open and has send room.
    fn on_send(&mut self, connection: usize, output: &mut [u8]) -> SendStatus;

    /// The connection is gone (closed by either side, reset, idle timeout or eviction).
    fn on_close(&mut self, connection: usize) {
        let _ = connection;
    }

    /// Sockets run low (fewer than [`MIN_LISTENING`] listening): which open connection should
    /// be closed to make room? `None` keeps them all.
    fn evict(&mut self) -> Option<usize> {
        None
    }
}

/// Something that happened during a poll, for the log or the console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackEvent {
    /// A DHCP lease was obtained (or changed) and applied.
    DhcpConfigured {
        /// The leased address.
        address: Ipv4Cidr,
        /// The default gateway offered, if any.
        router: Option<Ipv4Address>,
    },
    /// The DHCP lease was lost; the interface has no address.
    DhcpDeconfigured,
    /// A TCP connection was accepted.
    TcpOpened {
        /// The slot.
        connection: usize,
        /// The client.
        remote: IpEndpoint,
    },
    /// A TCP connection was reset to free a socket for new clients.
    TcpEvicted {
        /// The slot.
        connection: usize,
    },
    /// A TCP connection was aborted for idleness.
    TcpIdleTimeout {
        /// The slot.
        connection: usize,
    },
    /// An echo reply matched a console ping.
    PingReply {
        /// Who answered.
        from: Ipv4Address,
        /// The echo sequence number.
        sequence: u16,
        /// Round-trip time by the caller's clock.
        rtt: Duration,
        /// ICMP bytes received.
        bytes: usize,
    },
    /// An echo request got no reply within [`PING_TIMEOUT`].
    PingTimeout {
        /// The echo sequence number.
        sequence: u16,
    },
    /// The console ping finished.
    PingDone {
        /// Echo requests sent.
        sent: u16,
        /// Replies received.
        received: u16,
    },
}

/// Why a console ping cannot start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PingError {
    /// Another ping is running.
    Busy,
    /// The interface has no IPv4 address yet (DHCP still running).
    NoAddress,
    /// A count of zero.
    ZeroCount,
}

impl core::fmt::Display for PingError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            PingError::Busy => "a ping is already running",
            PingError::NoAddress => "the management interface has no address yet",
            PingError::ZeroCount => "count must be at least 1",
        })
    }
}

/// A running console ping.
#[derive(Clone, Copy, Debug)]
struct PingSession {
    target: Ipv4Address,
    count: u16,
    sent: u16,
    received: u16,
    next_send: Instant,
    /// Per slot: (sequence, send time), while unanswered.
    outstanding: [Option<(u16, Instant)>; PING_SLOTS],
}

/// Why a UDP datagram could not be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UdpError {
    /// The socket is not bound ([`MgmtStack::udp_bind`] first).
    NotBound,
    /// Port 0, or the socket is bound already.
    Bind,
    /// The interface has no IPv4 address yet.
    NoAddress,
    /// The send queue is full (the datagram is dropped).
    Full,
    /// Bigger than the send buffer.
    TooBig,
}

impl core::fmt::Display for UdpError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.write_str(match self {
            UdpError::NotBound => "the UDP socket is not bound",
            UdpError::Bind => "cannot bind the UDP socket (port 0, or bound already)",
            UdpError::NoAddress => "the management interface has no address yet",
            UdpError::Full => "the UDP send queue is full",
            UdpError::TooBig => "datagram bigger than the UDP send buffer",
        })
    }
}

/// The UDP socket's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UdpCounters {
    /// Datagrams queued for sending.
    pub sent: u64,
    /// Datagrams received and handed to the caller.
    pub received: u64,
    /// Datagrams not queued (see [`UdpError`]).
    pub send_errors: u64,
    /// Received datagrams longer than the caller's buffer (dropped).
    pub truncated: u64,
}

/// Per-connection bookkeeping beside the smoltcp socket.
#[derive(Clone, Copy, Debug)]
struct Connection {
    open: bool,
    closing: bool,
    last_activity: Instant,
    /// When our side closed (the peer gets [`CLOSE_LINGER`] to finish).
    closed_at: Instant,
}

impl Connection {
    const IDLE: Self = Self {
        open: false,
        closing: false,
        last_activity: Instant::ZERO,
        closed_at: Instant::ZERO,
    };
}

/// The management interface's stack. See the module documentation.
pub struct MgmtStack<'a> {
    interface: Interface,
    sockets: SocketSet<'a>,
    tcp: [SocketHandle; TCP_CONNECTIONS],
    connections: [Connection; TCP_CONNECTIONS],
    icmp: SocketHandle,
    udp: SocketHandle,
    udp_counters: UdpCounters,
    dhcp: Option<SocketHandle>,
    /// A lease is applied (so losing it is worth an event).
    leased: bool,
    scratch: &'a mut Scratch,
    port: u16,
    ping_identifier: u16,
    ping: Option<PingSession>,
    next_sequence: u16,
}

impl<'a> MgmtStack<'a> {
    /// Builds the interface on `nic` with `config`, serving TCP `port`. `random_seed` seeds
    /// smoltcp's initial sequence numbers and DHCP transaction ids (use a timer count or MAC).
    pub fn new<N: NetDevice + ?Sized>(
        nic: &mut N,
        config: MgmtConfig,
        port: u16,
        storage: &'a mut MgmtStorage<'a>,
        now: Instant,
        random_seed: u64,
    ) -> Self {
        let MgmtStorage {
            sockets,
            tcp: tcp_buffers,
            icmp_rx_metadata,
            icmp_rx,
            icmp_tx_metadata,
            icmp_tx,
            udp_rx_metadata,
            udp_rx,
            udp_tx_metadata,
            udp_tx,
            scratch,
        } = storage;
        let mac = nic.mac_address();
        let mut interface_config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac.0)));
        interface_config.random_seed = random_seed;
        let interface = Interface::new(interface_config, &mut NicAdapter::new(nic, scratch), now);
        let mut sockets = SocketSet::new(&mut sockets[..]);
        let mut tcp = [SocketHandle::default(); TCP_CONNECTIONS];
        let TcpBuffers {
            rx: tcp_rx,
            tx: tcp_tx,
        } = &mut **tcp_buffers;
        for ((handle, rx), tx) in tcp.iter_mut().zip(tcp_rx.iter_mut()).zip(tcp_tx.iter_mut()) {
            let socket = tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            );
            *handle = sockets.add(socket);
        }
        let mut icmp_socket = icmp::Socket::new(
            icmp::PacketBuffer::new(&mut icmp_rx_metadata[..], &mut icmp_rx[..]),
            icmp::PacketBuffer::new(&mut icmp_tx_metadata[..], &mut icmp_tx[..]),
        );
        let ping_identifier = (random_seed as u16) | 1;
        // Cannot fail: the socket is fresh and the identifier non-zero.
        let _ = icmp_socket.bind(icmp::Endpoint::Ident(ping_identifier));
        let icmp = sockets.add(icmp_socket);
        let udp = sockets.add(udp::Socket::new(
            udp::PacketBuffer::new(&mut udp_rx_metadata[..], &mut udp_rx[..]),
            udp::PacketBuffer::new(&mut udp_tx_metadata[..], &mut udp_tx[..]),
        ));
        let mut stack = Self {
            interface,
            sockets,
            tcp,
            connections: [Connection::IDLE; TCP_CONNECTIONS],
            icmp,
            udp,
            udp_counters: UdpCounters::default(),
            dhcp: None,
            leased: false,
            scratch,
            port,
            ping_identifier,
            ping: None,
            next_sequence: 1,
        };
        match config {
            MgmtConfig::Dhcp => stack.dhcp = Some(stack.sockets.add(dhcpv4::Socket::new())),
            MgmtConfig::Static { address, gateway } => stack.apply_address(Some(address), gateway),
        }
        stack
    }

    /// The interface's IPv4 address, if configured.
    pub fn ipv4_address(&self) -> Option<Ipv4Cidr> {
        // IPv4 is the only protocol built in, so every address is an IPv4 one.
        self.interface
            .ip_addrs()
            .iter()
            .map(|IpCidr::Ipv4(cidr)| *cidr)
            .next()
    }

    /// The adapter's drop counters (transmits with no NIC room, oversized receives).
    pub fn adapter_drops(&self) -> (u64, u64) {
        (self.scratch.tx_dropped, self.scratch.rx_dropped)
    }

    /// Received frames screened out before the stack, by reason.
    pub fn frame_drops(&self) -> crate::screen::FrameDrops {
        self.scratch.screened
    }

    /// How long the caller may wait before polling again (None: only on traffic).
    pub fn poll_delay(&mut self, now: Instant) -> Option<Duration> {
        self.interface.poll_delay(now, &self.sockets)
    }

    fn apply_address(&mut self, address: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
        self.interface.update_ip_addrs(|addresses| {
            addresses.clear();
            if let Some(address) = address {
                // Cannot fail: the list was just cleared and holds at least one address.
                let _ = addresses.push(IpCidr::Ipv4(address));
            }
        });
        let routes = self.interface.routes_mut();
        routes.remove_default_ipv4_route();
        if let Some(gateway) = gateway {
            // Fails only if the route table is full, which one default route cannot make it.
            let _ = routes.add_default_ipv4_route(gateway);
        }
    }

    /// Starts a console ping of `target`, `count` echo requests one second apart.
    ///
    /// # Errors
    /// See [`PingError`].
    pub fn start_ping(
        &mut self,
        target: Ipv4Address,
        count: u16,
        now: Instant,
    ) -> Result<(), PingError> {
        if self.ping.is_some() {
            return Err(PingError::Busy);
        }
        if count == 0 {
            return Err(PingError::ZeroCount);
        }
        if self.ipv4_address().is_none() {
            return Err(PingError::NoAddress);
        }
        self.ping = Some(PingSession {
            target,
            count,
            sent: 0,
            received: 0,
            next_send: now,
            outstanding: [None; PING_SLOTS],
        });
        Ok(())
    }

    /// Stops a running console ping (e.g. on Ctrl-C); returns (sent, received) if one ran.
    pub fn cancel_ping(&mut self) -> Option<(u16, u16)> {
        self.ping
            .take()
            .map(|session| (session.sent, session.received))
    }

    /// Binds the one UDP socket to `port` on every local address (HA uses 7400).
    ///
    /// # Errors
    /// [`UdpError::Bind`] for port 0 or a socket bound already.
    pub fn udp_bind(&mut self, port: u16) -> Result<(), UdpError> {
        self.sockets
            .get_mut::<udp::Socket>(self.udp)
            .bind(port)
            .map_err(|_| UdpError::Bind)
    }

    /// Queues one datagram to `to`:`port`; the next [`MgmtStack::poll`] sends it (after ARP).
    ///
    /// # Errors
    /// See [`UdpError`]; each is counted.
    pub fn udp_send(&mut self, to: Ipv4Address, port: u16, payload: &[u8]) -> Result<(), UdpError> {
        let result = self.udp_send_inner(to, port, payload);
        match result {
            Ok(()) => self.udp_counters.sent += 1,
            Err(_) => self.udp_counters.send_errors += 1,
        }
        result
    }

    fn udp_send_inner(
        &mut self,
        to: Ipv4Address,
        port: u16,
        payload: &[u8],
    ) -> Result<(), UdpError> {
        if self.ipv4_address().is_none() {
            return Err(UdpError::NoAddress);
        }
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        if !socket.is_open() {
            return Err(UdpError::NotBound);
        }
        if payload.len() > socket.payload_send_capacity() {
            return Err(UdpError::TooBig);
        }
        socket
            .send_slice(payload, IpEndpoint::new(IpAddress::Ipv4(to), port))
            .map_err(|_| UdpError::Full)
    }

    /// The next received datagram, copied into `buffer`: its length and sender. A datagram
    /// longer than `buffer` is dropped and counted.
    pub fn udp_receive(&mut self, buffer: &mut [u8]) -> Option<(usize, Ipv4Address, u16)> {
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        loop {
            match socket.recv_slice(buffer) {
                Ok((length, metadata)) => {
                    let IpAddress::Ipv4(from) = metadata.endpoint.addr;
                    self.udp_counters.received += 1;
                    return Some((length, from, metadata.endpoint.port));
                }
                Err(udp::RecvError::Truncated) => self.udp_counters.truncated += 1,
                Err(_) => return None,
            }
        }
    }

    /// The UDP socket's counts.
    pub fn udp_counters(&self) -> UdpCounters {
        self.udp_counters
    }

    /// True while a console ping runs.
    pub fn ping_running(&self) -> bool {
        self.ping.is_some()
    }

    /// Runs the stack once: receive, timers, DHCP, TCP service, ping, transmit, one flush.
    pub fn poll<N: NetDevice + ?Sized, S: TcpService + ?Sized>(
        &mut self,
        nic: &mut N,
        now: Instant,
        service: &mut S,
    ) -> Vec<StackEvent, EVENTS_PER_POLL> {
        let mut events = Vec::new();
        self.interface.poll(
            now,
            &mut NicAdapter::new(nic, self.scratch),
            &mut self.sockets,
        );
        self.poll_dhcp(&mut events);
        self.poll_tcp(now, service, &mut events);
        self.poll_ping(now, &mut events);
        // Send what the service and the ping client just queued, without waiting a poll.
        let mut adapter = NicAdapter::new(nic, self.scratch);
        self.interface.poll(now, &mut adapter, &mut self.sockets);
        adapter.nic().flush();
        events
    }

    fn poll_dhcp(&mut self, events: &mut Vec<StackEvent, EVENTS_PER_POLL>) {
        let Some(handle) = self.dhcp else { return };
        let change = match self.sockets.get_mut::<dhcpv4::Socket>(handle).poll() {
            None => return,
            Some(dhcpv4::Event::Configured(config)) => Some((config.address, config.router)),
            Some(dhcpv4::Event::Deconfigured) => None,
        };
        match change {
            Some((address, router)) => {
                self.leased = true;
                self.apply_address(Some(address), router);
                let _ = events.push(StackEvent::DhcpConfigured { address, router });
            }
            None => {
                self.apply_address(None, None);
                // The client reports "deconfigured" once at start too: only a lost lease counts.
                if self.leased {
                    self.leased = false;
                    let _ = events.push(StackEvent::DhcpDeconfigured);
                }
            }
        }
    }

    fn poll_tcp<S: TcpService + ?Sized>(
        &mut self,
        now: Instant,
        service: &mut S,
        events: &mut Vec<StackEvent, EVENTS_PER_POLL>,
    ) {
        self.keep_listening(service, events);
        for (index, handle) in self.tcp.iter().enumerate() {
            let socket = self.sockets.get_mut::<tcp::Socket>(*handle);
            let connection = &mut self.connections[index];
            if connection.open && (!socket.is_active() || socket.state() == tcp::State::TimeWait) {
                // Done, or in TIME-WAIT after our close: free the slot now rather than hold it
                // for smoltcp's 10 s wait (the peer has acknowledged our FIN).
                socket.abort();
                *connection = Connection::IDLE;
                service.on_close(index);
            }
            if !socket.is_open() {
                // Fails only for port 0 or an open socket: neither here.
                let _ = socket.listen(self.port);
                continue;
            }
            // Close-Wait counts too: the handshake's last ACK, the request and the client's FIN
            // can all arrive in one poll (a client that writes and half-closes at once, seen
            // over QEMU's user networking), and such a connection, never opened, was neither
            // answered nor ever freed.
            let established = matches!(
                socket.state(),
                tcp::State::Established | tcp::State::CloseWait
            );
            if !connection.open && established {
                connection.open = true;
                connection.last_activity = now;
                if let Some(remote) = socket.remote_endpoint() {
                    service.on_open(index, remote);
                    let _ = events.push(StackEvent::TcpOpened {
                        connection: index,
                        remote,
                    });
                }
            }
            if !connection.open {
                continue;
            }
            if socket.can_recv() {
                let consumed = socket.recv(|input| {
                    let consumed = service.on_receive(index, input).min(input.len());
                    (consumed, consumed)
                });
                // Bytes a peer sends after we closed do not keep its socket.
                if matches!(consumed, Ok(count) if count > 0) && !connection.closing {
                    connection.last_activity = now;
                }
            }
            if !connection.closing && socket.can_send() {
                let status = socket.send(|output| {
                    let status = service.on_send(index, output);
                    (status.written.min(output.len()), status)
                });
                if let Ok(status) = status {
                    if status.written > 0 {
                        connection.last_activity = now;
                    }
                    if status.close {
                        connection.closing = true;
                        connection.closed_at = now;
                        socket.close();
                    }
                }
            }
            if !connection.closing && !socket.may_recv() && socket.send_queue() == 0 {
                // The client finished sending and everything we wrote is out: close our side.
                connection.closing = true;
                connection.closed_at = now;
                socket.close();
            }
            let lingered = connection.closing && now - connection.closed_at >= CLOSE_LINGER;
            if lingered || now - connection.last_activity >= TCP_IDLE_TIMEOUT {
                socket.abort();
                *connection = Connection::IDLE;
                service.on_close(index);
                let _ = events.push(StackEvent::TcpIdleTimeout { connection: index });
            }
        }
    }

    /// Keeps [`MIN_LISTENING`] sockets listening: while fewer are, the service names an open
    /// connection to drop (the one waiting longest), and it is reset.
    fn keep_listening<S: TcpService + ?Sized>(
        &mut self,
        service: &mut S,
        events: &mut Vec<StackEvent, EVENTS_PER_POLL>,
    ) {
        let listening = |sockets: &SocketSet<'_>, handles: &[SocketHandle]| {
            handles
                .iter()
                .filter(|handle| {
                    let state = sockets.get::<tcp::Socket>(**handle).state();
                    matches!(state, tcp::State::Listen | tcp::State::Closed)
                })
                .count()
        };
        let mut free = listening(&self.sockets, &self.tcp);
        while free < MIN_LISTENING.min(TCP_CONNECTIONS) {
            let Some(index) = service.evict() else { break };
            let Some(handle) = self.tcp.get(index) else {
                break;
            };
            let connection = &mut self.connections[index];
            if !connection.open {
                break;
            }
            self.sockets.get_mut::<tcp::Socket>(*handle).abort();
            *connection = Connection::IDLE;
            service.on_close(index);
            let _ = events.push(StackEvent::TcpEvicted { connection: index });
            free += 1;
        }
    }

    fn poll_ping(&mut self, now: Instant, events: &mut Vec<StackEvent, EVENTS_PER_POLL>) {
        let Some(mut session) = self.ping else { return };
        let socket = self.sockets.get_mut::<icmp::Socket>(self.icmp);
        let checksums = ChecksumCapabilities::default();
        while !events.is_full() && socket.can_recv() {
            let Ok((payload, from)) = socket.recv() else {
                break;
            };
            let Ok(packet) = Icmpv4Packet::new_checked(payload) else {
                continue;
            };
            let Ok(Icmpv4Repr::EchoReply { ident, seq_no, .. }) =
                Icmpv4Repr::parse(&packet, &checksums)
            else {
                continue;
            };
            let IpAddress::Ipv4(from) = from;
            if ident != self.ping_identifier || from != session.target {
                continue;
            }
            let slot = &mut session.outstanding[usize::from(seq_no) % PING_SLOTS];
            if let Some((sequence, sent_at)) = *slot
                && sequence == seq_no
            {
                *slot = None;
                session.received += 1;
                let _ = events.push(StackEvent::PingReply {
                    from,
                    sequence,
                    rtt: now - sent_at,
                    bytes: payload.len(),
                });
            }
        }
        for slot in session.outstanding.iter_mut() {
            if let Some((sequence, sent_at)) = *slot
                && now - sent_at >= PING_TIMEOUT
                && !events.is_full()
            {
                *slot = None;
                let _ = events.push(StackEvent::PingTimeout { sequence });
            }
        }
        if session.sent < session.count && now >= session.next_send && socket.can_send() {
            let sequence = self.next_sequence;
            let payload = [0x5a_u8; PING_PAYLOAD];
            let request = Icmpv4Repr::EchoRequest {
                ident: self.ping_identifier,
                seq_no: sequence,
                data: &payload,
            };
            if let Ok(buffer) = socket.send(request.buffer_len(), IpAddress::Ipv4(session.target)) {
                request.emit(&mut Icmpv4Packet::new_unchecked(buffer), &checksums);
                self.next_sequence = sequence.wrapping_add(1);
                session.sent += 1;
                session.outstanding[usize::from(sequence) % PING_SLOTS] = Some((sequence, now));
                session.next_send = now + PING_INTERVAL;
            }
        }
        let finished =
            session.sent == session.count && session.outstanding.iter().all(Option::is_none);
        if finished && !events.is_full() {
            let _ = events.push(StackEvent::PingDone {
                sent: session.sent,
                received: session.received,
            });
            self.ping = None;
        } else {
            self.ping = Some(session);
        }
    }
}
