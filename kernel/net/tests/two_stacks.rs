//! Two stacks over a pair of in-memory NICs: static config, ping, TCP service, idle timeout, DHCP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_net::device::{NicAdapter, Scratch};
use dpu_net::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use dpu_net::smoltcp::socket::tcp;
use dpu_net::smoltcp::time::{Duration, Instant};
use dpu_net::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use dpu_net::stack::{PING_PAYLOAD, TCP_CONNECTIONS, TcpBuffers};
use dpu_net::{MgmtConfig, MgmtStack, MgmtStorage, PingError, SendStatus, StackEvent, TcpService};
use netdev::fake::{FakeNic, wire};
use netdev::{MacAddress, NetDevice};

type Nic = FakeNic<32, 1518>;

const STEP: Duration = Duration::from_millis(10);

fn nic(last: u8) -> Box<Nic> {
    Box::new(Nic::new(MacAddress([0x02, 0, 0, 0, 0, last])))
}

fn static_config(last: u8) -> MgmtConfig {
    MgmtConfig::parse(&format!("mgmt.ip=10.0.3.{last}/24")).unwrap()
}

/// Answers every request ending in a blank line with a fixed response, then closes.
#[derive(Default)]
struct FixedResponder {
    requests: [Vec<u8>; TCP_CONNECTIONS],
    pending: [Option<&'static [u8]>; TCP_CONNECTIONS],
    opened: usize,
    closed: usize,
}

const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

impl TcpService for FixedResponder {
    fn on_open(&mut self, connection: usize, _remote: dpu_net::smoltcp::wire::IpEndpoint) {
        self.opened += 1;
        self.requests[connection].clear();
    }

    fn on_receive(&mut self, connection: usize, input: &[u8]) -> usize {
        self.requests[connection].extend_from_slice(input);
        if self.requests[connection].ends_with(b"\r\n\r\n") {
            self.pending[connection] = Some(RESPONSE);
        }
        input.len()
    }

    fn on_send(&mut self, connection: usize, output: &mut [u8]) -> SendStatus {
        match self.pending[connection].take() {
            None => SendStatus::default(),
            Some(response) => {
                output[..response.len()].copy_from_slice(response);
                SendStatus {
                    written: response.len(),
                    close: true,
                }
            }
        }
    }

    fn on_close(&mut self, _connection: usize) {
        self.closed += 1;
    }
}

#[test]
fn ping_between_two_static_stacks() {
    let (mut nic_a, mut nic_b) = (nic(1), nic(2));
    let (mut tcp_a, mut tcp_b) = (TcpBuffers::new(), TcpBuffers::new());
    let (mut storage_a, mut storage_b) =
        (MgmtStorage::new(&mut tcp_a), MgmtStorage::new(&mut tcp_b));
    let mut now = Instant::from_millis(0);
    let mut a = MgmtStack::new(&mut *nic_a, static_config(1), 80, &mut storage_a, now, 1);
    let mut b = MgmtStack::new(&mut *nic_b, static_config(2), 80, &mut storage_b, now, 2);
    let mut service_a = FixedResponder::default();
    let mut service_b = FixedResponder::default();
    let target = Ipv4Address::new(10, 0, 3, 2);
    a.start_ping(target, 3, now).unwrap();
    assert_eq!(a.start_ping(target, 1, now), Err(PingError::Busy));
    let mut replies = Vec::new();
    let mut done = None;
    while now < Instant::from_secs(10) && done.is_none() {
        for event in a.poll(&mut *nic_a, now, &mut service_a) {
            match event {
                StackEvent::PingReply {
                    from,
                    sequence,
                    rtt,
                    bytes,
                } => {
                    assert_eq!(from, target);
                    assert_eq!(bytes, 8 + PING_PAYLOAD);
                    assert!(rtt <= STEP * 4, "{rtt}");
                    replies.push(sequence);
                }
                StackEvent::PingDone { sent, received } => done = Some((sent, received)),
                other => panic!("unexpected {other:?} at {now}"),
            }
        }
        b.poll(&mut *nic_b, now, &mut service_b);
        wire(&mut nic_a, &mut nic_b);
        now += STEP;
    }
    assert_eq!(done, Some((3, 3)));
    assert_eq!(replies, [1, 2, 3]);
    assert!(now >= Instant::from_secs(2), "requests go one second apart");
    // Every NIC buffer is back: nothing leaked by the adapter.
    for nic in [&nic_a, &nic_b] {
        let pool = nic.counters().pool;
        assert_eq!(pool.free, pool.total, "{pool:?}");
    }
}

#[test]
fn ping_errors_and_timeouts() {
    let mut nic_a = nic(1);
    let mut tcp = TcpBuffers::new();
    let mut storage = MgmtStorage::new(&mut tcp);
    let mut now = Instant::from_millis(0);
    let mut dhcp = MgmtStack::new(&mut *nic_a, MgmtConfig::Dhcp, 80, &mut storage, now, 7);
    let target = Ipv4Address::new(10, 0, 3, 9);
    assert_eq!(dhcp.start_ping(target, 1, now), Err(PingError::NoAddress));
    drop(dhcp);
    let mut tcp = TcpBuffers::new();
    let mut storage = MgmtStorage::new(&mut tcp);
    let mut stack = MgmtStack::new(&mut *nic_a, static_config(1), 80, &mut storage, now, 7);
    assert_eq!(stack.start_ping(target, 0, now), Err(PingError::ZeroCount));
    stack.start_ping(target, 1, now).unwrap();
    let mut events = Vec::new();
    let mut service = FixedResponder::default();
    while stack.ping_running() && now < Instant::from_secs(10) {
        events.extend(stack.poll(&mut *nic_a, now, &mut service));
        // Nobody answers: throw the wire away.
        while nic_a.take_transmitted(&mut [0; 1518]).is_some() {}
        now += STEP;
    }
    assert_eq!(
        events,
        [
            StackEvent::PingTimeout { sequence: 1 },
            StackEvent::PingDone {
                sent: 1,
                received: 0
            }
        ]
    );
}

/// A plain smoltcp client with `N` TCP sockets, driving its own NIC through the same adapter.
struct Client<'a> {
    interface: Interface,
    sockets: SocketSet<'a>,
    handles: Vec<SocketHandle>,
    scratch: Scratch,
}

impl<'a> Client<'a> {
    fn new(
        nic: &mut Nic,
        storage: &'a mut [SocketStorage<'a>],
        buffers: &'a mut [[u8; 4096]],
        now: Instant,
    ) -> Self {
        let mut scratch = Scratch::new();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(
            nic.mac_address().0,
        )));
        let mut interface = Interface::new(config, &mut NicAdapter::new(nic, &mut scratch), now);
        interface.update_ip_addrs(|addresses| {
            addresses
                .push(IpCidr::new(IpAddress::v4(10, 0, 3, 1), 24))
                .unwrap();
        });
        let mut sockets = SocketSet::new(storage);
        let mut handles = Vec::new();
        let mut buffers = buffers.iter_mut();
        while let (Some(rx), Some(tx)) = (buffers.next(), buffers.next()) {
            handles.push(sockets.add(tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            )));
        }
        Self {
            interface,
            sockets,
            handles,
            scratch,
        }
    }

    fn connect(&mut self, index: usize, local_port: u16) {
        let context = self.interface.context();
        let socket = self.sockets.get_mut::<tcp::Socket>(self.handles[index]);
        socket
            .connect(context, (IpAddress::v4(10, 0, 3, 2), 80), local_port)
            .unwrap();
    }

    fn poll(&mut self, nic: &mut Nic, now: Instant) {
        let mut adapter = NicAdapter::new(nic, &mut self.scratch);
        self.interface.poll(now, &mut adapter, &mut self.sockets);
        adapter.nic().flush();
    }

    fn socket(&mut self, index: usize) -> &mut tcp::Socket<'a> {
        self.sockets.get_mut::<tcp::Socket>(self.handles[index])
    }
}

#[test]
fn tcp_service_serves_concurrent_clients_then_relistens() {
    let (mut nic_a, mut nic_b) = (nic(1), nic(2));
    let mut now = Instant::from_millis(0);
    let mut tcp_b = TcpBuffers::new();
    let mut storage_b = MgmtStorage::new(&mut tcp_b);
    let mut server = MgmtStack::new(&mut *nic_b, static_config(2), 80, &mut storage_b, now, 3);
    let mut service = FixedResponder::default();
    let mut client_storage = [SocketStorage::EMPTY; 3];
    let mut client_buffers = [[0u8; 4096]; 6];
    let mut client = Client::new(&mut nic_a, &mut client_storage, &mut client_buffers, now);
    let mut responses = [Vec::new(), Vec::new(), Vec::new()];
    let mut sent = [false; 3];
    // Two rounds: three clients at once, then the same three again on new ports (slots reused).
    for round in 0..2u16 {
        for index in 0..3 {
            client.connect(index, 40000 + round * 10 + index as u16);
            responses[index].clear();
            sent[index] = false;
        }
        let deadline = now + Duration::from_secs(5);
        while now < deadline {
            client.poll(&mut nic_a, now);
            for index in 0..3 {
                let socket = client.socket(index);
                if socket.may_send() && !sent[index] {
                    socket
                        .send_slice(b"GET / HTTP/1.1\r\nHost: dpu\r\n\r\n")
                        .unwrap();
                    sent[index] = true;
                }
                if socket.can_recv() {
                    socket
                        .recv(|data| (data.len(), responses[index].extend_from_slice(data)))
                        .unwrap();
                }
                if !socket.may_recv() && socket.state() == tcp::State::CloseWait {
                    socket.close();
                }
            }
            server.poll(&mut *nic_b, now, &mut service);
            wire(&mut nic_a, &mut nic_b);
            now += STEP;
            let all_closed = (0..3).all(|index| !client.socket(index).is_open());
            if all_closed && service.closed == 3 * usize::from(round + 1) {
                break;
            }
        }
        for response in &responses {
            assert_eq!(response.as_slice(), RESPONSE, "round {round}");
        }
        assert_eq!(service.opened, 3 * usize::from(round + 1));
        assert_eq!(service.closed, 3 * usize::from(round + 1), "round {round}");
    }
    assert_eq!(server.adapter_drops(), (0, 0));
}

#[test]
fn silent_client_is_closed_after_the_idle_timeout() {
    let (mut nic_a, mut nic_b) = (nic(1), nic(2));
    let mut now = Instant::from_millis(0);
    let mut tcp_b = TcpBuffers::new();
    let mut storage_b = MgmtStorage::new(&mut tcp_b);
    let mut server = MgmtStack::new(&mut *nic_b, static_config(2), 80, &mut storage_b, now, 3);
    let mut service = FixedResponder::default();
    let mut client_storage = [SocketStorage::EMPTY; 1];
    let mut client_buffers = [[0u8; 4096]; 2];
    let mut client = Client::new(&mut nic_a, &mut client_storage, &mut client_buffers, now);
    client.connect(0, 40000);
    let mut timeouts = Vec::new();
    let mut opened = None;
    let step = Duration::from_millis(250);
    while now < Instant::from_secs(40) {
        client.poll(&mut nic_a, now);
        for event in server.poll(&mut *nic_b, now, &mut service) {
            match event {
                StackEvent::TcpIdleTimeout { connection } => timeouts.push((connection, now)),
                StackEvent::TcpOpened { .. } => opened = Some(now),
                other => panic!("unexpected {other:?}"),
            }
        }
        wire(&mut nic_a, &mut nic_b);
        now += step;
    }
    assert_eq!(timeouts.len(), 1);
    let (_, at) = timeouts[0];
    let silent = at - opened.unwrap();
    assert!(
        silent >= Duration::from_secs(30) && silent <= Duration::from_secs(30) + step,
        "{silent}"
    );
    assert_eq!(
        client.socket(0).state(),
        tcp::State::Closed,
        "the reset reached the client"
    );
    assert_eq!((service.opened, service.closed), (1, 1));
}

#[test]
fn dhcp_mode_sends_a_discover() {
    let mut nic_a = nic(1);
    let mut tcp = TcpBuffers::new();
    let mut storage = MgmtStorage::new(&mut tcp);
    let now = Instant::from_millis(0);
    let mut stack = MgmtStack::new(&mut *nic_a, MgmtConfig::Dhcp, 80, &mut storage, now, 5);
    assert!(
        stack
            .poll(&mut *nic_a, now, &mut FixedResponder::default())
            .is_empty()
    );
    let mut frame = [0u8; 1518];
    let len = nic_a.take_transmitted(&mut frame).expect("a DHCP discover");
    assert!(len > 282);
    assert_eq!(&frame[0..6], &[0xff; 6], "broadcast");
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4");
    assert_eq!(frame[23], 17, "UDP");
    assert_eq!(
        &frame[34..38],
        &[0, 68, 0, 67],
        "client port 68 to server port 67"
    );
    assert_eq!(nic_a.flushes(), 1, "one notification per poll");
    assert_eq!(stack.ipv4_address(), None);
}

/// Fake NICs + smoltcp + the real management HTTP server: `/healthz` over TCP, pipelined
/// requests answered in order, `Connection: close` honoured, slots reused, 401 without a token.
#[test]
fn the_real_http_server_answers_over_tcp() {
    use dpu_mgmt::{HttpServer, LinkState, NicRole, NicStatus, StatusSnapshot};
    let (mut nic_a, mut nic_b) = (nic(1), nic(2));
    let mut now = Instant::from_millis(0);
    let mut tcp_b = TcpBuffers::new();
    let mut storage_b = MgmtStorage::new(&mut tcp_b);
    let mut stack = MgmtStack::new(&mut *nic_b, static_config(2), 80, &mut storage_b, now, 3);
    let mut http = Box::new(HttpServer::<'static, TCP_CONNECTIONS>::new());
    let mut snapshot = StatusSnapshot::new("0.1.0", "abc1234", 42);
    for name in [
        "mgmt0", "port1", "port2", "port3", "port4", "port5", "port6", "port7",
    ] {
        snapshot
            .push_nic(NicStatus {
                name,
                role: NicRole::Data,
                link: LinkState::Up,
                mac: [2, 0, 0, 0, 0, 9],
            })
            .unwrap();
    }
    http.set_snapshot(snapshot, 0);
    let mut client_storage = [SocketStorage::EMPTY; 2];
    let mut client_buffers = [[0u8; 4096]; 4];
    let mut client = Client::new(&mut nic_a, &mut client_storage, &mut client_buffers, now);
    let requests: [&[u8]; 2] = [
        b"GET /healthz HTTP/1.0\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\nGET /nope HTTP/1.1\r\nHost: dpu\r\nConnection: close\r\n\r\n",
    ];
    for round in 0..2u16 {
        let mut responses = [Vec::new(), Vec::new()];
        let mut sent = [false; 2];
        for index in 0..2 {
            client.connect(index, 41000 + round * 10 + index as u16);
        }
        let deadline = now + Duration::from_secs(5);
        while now < deadline {
            client.poll(&mut nic_a, now);
            for index in 0..2 {
                let socket = client.socket(index);
                if socket.may_send() && !sent[index] {
                    socket.send_slice(requests[index]).unwrap();
                    sent[index] = true;
                }
                if socket.can_recv() {
                    socket
                        .recv(|data| (data.len(), responses[index].extend_from_slice(data)))
                        .unwrap();
                }
                if !socket.may_recv() && socket.state() == tcp::State::CloseWait {
                    socket.close();
                }
            }
            http.set_clock(now.total_millis() as u64);
            let mut api = dpu_mgmt::health::NotFound;
            stack.poll(
                &mut *nic_b,
                now,
                &mut http.service(&mut api, &dpu_mgmt::NoCredentials),
            );
            wire(&mut nic_a, &mut nic_b);
            now += STEP;
            if (0..2).all(|index| !client.socket(index).is_open()) && http.open_connections() == 0 {
                break;
            }
        }
        let first = String::from_utf8(responses[0].clone()).unwrap();
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("Connection: close\r\n"), "{first}");
        assert!(
            first.ends_with(r#""mac":"02:00:00:00:00:09"}]}"#),
            "{first}"
        );
        let second = String::from_utf8(responses[1].clone()).unwrap();
        // Without a token everything but /healthz is 401.
        let (ok, missing) = second.split_at(second.find("HTTP/1.1 401").unwrap());
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.contains("keep-alive"));
        assert!(missing.contains("Connection: close\r\n") && missing.ends_with('}'));
        assert_eq!(http.open_connections(), 0, "round {round}");
    }
    let counters = http.counters();
    assert_eq!(counters.requests, 6);
    assert_eq!(counters.responses(2), 4);
    assert_eq!(counters.responses(4), 2);
    assert_eq!(stack.adapter_drops(), (0, 0));
}

#[test]
fn udp_datagrams_between_two_static_stacks() {
    let (mut nic_a, mut nic_b) = (nic(1), nic(2));
    let (mut tcp_a, mut tcp_b) = (TcpBuffers::new(), TcpBuffers::new());
    let (mut storage_a, mut storage_b) =
        (MgmtStorage::new(&mut tcp_a), MgmtStorage::new(&mut tcp_b));
    let mut now = Instant::from_millis(0);
    let mut a = MgmtStack::new(&mut *nic_a, static_config(1), 80, &mut storage_a, now, 1);
    let mut b = MgmtStack::new(&mut *nic_b, static_config(2), 80, &mut storage_b, now, 2);
    let (mut service_a, mut service_b) = (FixedResponder::default(), FixedResponder::default());
    let target = Ipv4Address::new(10, 0, 3, 2);
    assert_eq!(
        a.udp_send(target, 7400, b"early"),
        Err(dpu_net::UdpError::NotBound)
    );
    a.udp_bind(7400).unwrap();
    b.udp_bind(7400).unwrap();
    assert_eq!(a.udp_bind(7401), Err(dpu_net::UdpError::Bind));
    a.udp_send(target, 7400, b"heartbeat").unwrap();
    let mut buffer = [0u8; 64];
    let mut got = None;
    while now < Instant::from_secs(2) && got.is_none() {
        a.poll(&mut *nic_a, now, &mut service_a);
        b.poll(&mut *nic_b, now, &mut service_b);
        wire(&mut nic_a, &mut nic_b);
        got = b.udp_receive(&mut buffer);
        now += STEP;
    }
    let (length, from, port) = got.expect("datagram arrives (after ARP)");
    assert_eq!(&buffer[..length], b"heartbeat");
    assert_eq!((from, port), (Ipv4Address::new(10, 0, 3, 1), 7400));
    // A datagram longer than the caller's buffer is dropped and counted.
    b.udp_send(Ipv4Address::new(10, 0, 3, 1), 7400, &[7u8; 100])
        .unwrap();
    let mut small = [0u8; 10];
    let mut seen = None;
    for _ in 0..50 {
        b.poll(&mut *nic_b, now, &mut service_b);
        a.poll(&mut *nic_a, now, &mut service_a);
        wire(&mut nic_a, &mut nic_b);
        seen = a.udp_receive(&mut small);
        if a.udp_counters().truncated > 0 || seen.is_some() {
            break;
        }
        now += STEP;
    }
    assert_eq!(seen, None);
    assert_eq!(a.udp_counters().truncated, 1);
    assert_eq!(a.udp_counters().sent, 1);
    assert_eq!(a.udp_counters().send_errors, 1);
}
