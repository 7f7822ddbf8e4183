//! The management server stays available: fake NICs + smoltcp + the real HTTP server, with
//! idle, slow (a byte a second) and surplus clients holding connections while new clients ask.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_mgmt::health::NotFound;
use dpu_mgmt::{HttpServer, NoCredentials, StatusSnapshot};
use dpu_net::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use dpu_net::smoltcp::socket::tcp;
use dpu_net::smoltcp::time::{Duration, Instant};
use dpu_net::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use dpu_net::stack::{MIN_LISTENING, TCP_CONNECTIONS, TcpBuffers};
use dpu_net::{MgmtConfig, MgmtStack, MgmtStorage, NicAdapter, Scratch, StackEvent};
use netdev::fake::{FakeNic, wire};
use netdev::{MacAddress, NetDevice};

type Nic = FakeNic<64, 1518>;

const STEP: Duration = Duration::from_millis(10);
const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n";

/// The client machine: `SOCKETS` smoltcp sockets on 10.0.3.1.
struct Clients<'a> {
    interface: Interface,
    sockets: SocketSet<'a>,
    handles: Vec<SocketHandle>,
    scratch: Scratch,
    next_port: u16,
}

impl<'a> Clients<'a> {
    fn new(
        nic: &mut Nic,
        storage: &'a mut [SocketStorage<'a>],
        buffers: &'a mut [[u8; 2048]],
    ) -> Self {
        let mut scratch = Scratch::new();
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(
            nic.mac_address().0,
        )));
        let mut interface = Interface::new(
            config,
            &mut NicAdapter::new(nic, &mut scratch),
            Instant::ZERO,
        );
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
            next_port: 40000,
        }
    }

    fn connect(&mut self, index: usize) {
        let context = self.interface.context();
        let socket = self.sockets.get_mut::<tcp::Socket>(self.handles[index]);
        socket.abort();
        self.next_port += 1;
        socket
            .connect(context, (IpAddress::v4(10, 0, 3, 2), 80), self.next_port)
            .unwrap();
    }

    fn socket(&mut self, index: usize) -> &mut tcp::Socket<'a> {
        self.sockets.get_mut::<tcp::Socket>(self.handles[index])
    }

    fn poll(&mut self, nic: &mut Nic, now: Instant) {
        let mut adapter = NicAdapter::new(nic, &mut self.scratch);
        self.interface.poll(now, &mut adapter, &mut self.sockets);
        adapter.nic().flush();
    }
}

/// How the holding clients behave.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Holder {
    /// Connect and send nothing.
    Idle,
    /// Send a request head one byte a second, forever (slowloris).
    Slow,
}

/// `holders` clients connect first (one every 10 ms) and keep their connections as `kind`
/// says; then `requests` new clients, one after the other, each GET /healthz and wait for the
/// whole answer, starting at least `gap` apart. Returns each request's time to answer and the stack's eviction count.
fn hold_and_ask(
    holders: usize,
    kind: Holder,
    requests: usize,
    gap: Duration,
) -> (Vec<Duration>, usize, u64) {
    let mut nic_client = Box::new(Nic::new(MacAddress([2, 0, 0, 0, 0, 1])));
    let mut nic_server = Box::new(Nic::new(MacAddress([2, 0, 0, 0, 0, 2])));
    let mut now = Instant::ZERO;
    let mut tcp = Box::new(TcpBuffers::new());
    let mut storage = Box::new(MgmtStorage::new(&mut tcp));
    let config = MgmtConfig::parse("mgmt.ip=10.0.3.2/24").unwrap();
    let mut stack = MgmtStack::new(&mut *nic_server, config, 80, &mut storage, now, 9);
    let mut http = Box::new(HttpServer::<'static, TCP_CONNECTIONS>::new());
    http.set_snapshot(StatusSnapshot::new("0.1.0", "abc", 0), 0);
    let total = holders + 1;
    let mut client_storage: Vec<SocketStorage<'_>> =
        (0..total).map(|_| SocketStorage::EMPTY).collect();
    let mut client_buffers = vec![[0u8; 2048]; 2 * total];
    let mut clients = Clients::new(&mut nic_client, &mut client_storage, &mut client_buffers);
    let asker = holders;
    let mut evictions = 0;
    let mut answer_times = Vec::new();
    let mut sent_bytes = vec![0usize; holders];
    let mut next_byte_at = vec![Instant::ZERO; holders];
    let mut connected = 0;
    let mut asking: Option<(Instant, Vec<u8>, bool)> = None;
    let mut next_request_at = Instant::from_millis(10 * holders as i64 + 500);
    let deadline = Instant::from_secs(60);
    while now < deadline && answer_times.len() < requests {
        // Holders connect one per step, then act.
        if connected < holders {
            clients.connect(connected);
            next_byte_at[connected] = now + Duration::from_millis(500);
            connected += 1;
        }
        for index in 0..connected {
            let socket = clients.socket(index);
            if !socket.is_open() {
                // Closed by the server (evicted or timed out): a stubborn client comes back.
                clients.connect(index);
                sent_bytes[index] = 0;
                continue;
            }
            if socket.can_recv() {
                socket.recv(|data| (data.len(), ())).unwrap();
            }
            if kind == Holder::Slow && socket.may_send() && now >= next_byte_at[index] {
                let byte = REQUEST[sent_bytes[index] % (REQUEST.len() - 4)];
                if socket.send_slice(&[byte]).unwrap() == 1 {
                    sent_bytes[index] += 1;
                }
                next_byte_at[index] = now + Duration::from_secs(1);
            }
        }
        // Start a request once every holder is in.
        if connected == holders && asking.is_none() && now >= next_request_at {
            clients.connect(asker);
            asking = Some((now, Vec::new(), false));
            next_request_at = now + gap;
        }
        if let Some((started, response, sent)) = asking.as_mut() {
            let socket = clients.socket(asker);
            if socket.may_send() && !*sent {
                socket.send_slice(REQUEST).unwrap();
                *sent = true;
            }
            if socket.can_recv() {
                socket
                    .recv(|data| (data.len(), response.extend_from_slice(data)))
                    .unwrap();
            }
            let complete =
                response.starts_with(b"HTTP/1.1 200 OK\r\n") && response.ends_with(b"\"nics\":[]}");
            if complete {
                answer_times.push(now - *started);
                socket.close();
                asking = None;
            } else {
                assert!(
                    !response.starts_with(b"HTTP/1.1 ") || response.starts_with(b"HTTP/1.1 200"),
                    "{}",
                    String::from_utf8_lossy(response)
                );
                assert!(
                    now - *started < Duration::from_secs(3),
                    "request {} unanswered",
                    answer_times.len()
                );
            }
        }
        clients.poll(&mut nic_client, now);
        http.set_clock(now.total_millis() as u64);
        let mut api = NotFound;
        for event in stack.poll(
            &mut *nic_server,
            now,
            &mut http.service(&mut api, &NoCredentials),
        ) {
            if let StackEvent::TcpEvicted { .. } = event {
                evictions += 1;
            }
        }
        wire(&mut nic_client, &mut nic_server);
        now += STEP;
    }
    assert_eq!(answer_times.len(), requests, "answered in time");
    (answer_times, evictions, http.counters().timeouts)
}

#[test]
fn sixteen_idle_clients_do_not_stop_new_requests() {
    let (times, evictions, _) = hold_and_ask(16, Holder::Idle, 20, Duration::from_millis(100));
    assert!(
        times.iter().all(|time| *time < Duration::from_secs(1)),
        "{times:?}"
    );
    assert_eq!(
        evictions,
        0,
        "16 idle leave {} sockets",
        TCP_CONNECTIONS - 16
    );
}

#[test]
fn sixteen_byte_a_second_clients_do_not_stop_new_requests() {
    let (times, _, timeouts) = hold_and_ask(16, Holder::Slow, 20, Duration::from_millis(500));
    assert!(
        times.iter().all(|time| *time < Duration::from_secs(1)),
        "{times:?}"
    );
    // A head that trickles in is cut at its deadline, whatever it sends.
    assert!(timeouts >= 16, "slow heads timed out: {timeouts}");
}

#[test]
fn more_holders_than_sockets_evict_the_longest_idle() {
    let holders = TCP_CONNECTIONS + 4;
    let (times, evictions, _) = hold_and_ask(holders, Holder::Idle, 20, Duration::from_millis(100));
    assert!(
        times.iter().all(|time| *time < Duration::from_secs(2)),
        "{times:?}"
    );
    assert!(
        evictions >= holders - (TCP_CONNECTIONS - MIN_LISTENING),
        "{evictions}"
    );
}
