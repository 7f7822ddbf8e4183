//! Pipelined requests through the whole management stack: fake NICs + smoltcp + the real HTTP
//! server, three requests in one segment, answered in order with no further bytes from the client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use dpu_mgmt::health::NotFound;
use dpu_mgmt::{HttpServer, NoCredentials, StatusSnapshot};
use dpu_net::smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
use dpu_net::smoltcp::socket::tcp;
use dpu_net::smoltcp::time::{Duration, Instant};
use dpu_net::smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};
use dpu_net::stack::{TCP_CONNECTIONS, TcpBuffers};
use dpu_net::{MgmtConfig, MgmtStack, MgmtStorage, NicAdapter, Scratch};
use netdev::fake::{FakeNic, wire};
use netdev::{MacAddress, NetDevice};

type Nic = FakeNic<64, 1518>;

const STEP: Duration = Duration::from_millis(1);

/// Sends `requests` in one write on a fresh connection and returns what came back within
/// `within` (the client sends nothing more, only its ACKs).
fn pipeline(requests: &[u8], within: Duration, half_close: bool) -> String {
    let mut nic_client = Box::new(Nic::new(MacAddress([2, 0, 0, 0, 0, 1])));
    let mut nic_server = Box::new(Nic::new(MacAddress([2, 0, 0, 0, 0, 2])));
    let mut now = Instant::ZERO;
    let mut tcp_buffers = Box::new(TcpBuffers::new());
    let mut storage = Box::new(MgmtStorage::new(&mut tcp_buffers));
    let config = MgmtConfig::parse("mgmt.ip=10.0.3.2/24").unwrap();
    let mut stack = MgmtStack::new(&mut *nic_server, config, 80, &mut storage, now, 9);
    let mut http = Box::new(HttpServer::<'static, TCP_CONNECTIONS>::new());
    http.set_snapshot(StatusSnapshot::new("0.1.0", "abc", 0), 0);

    let mut scratch = Scratch::new();
    let client_config = Config::new(HardwareAddress::Ethernet(EthernetAddress(
        nic_client.mac_address().0,
    )));
    let mut interface = Interface::new(
        client_config,
        &mut NicAdapter::new(&mut *nic_client, &mut scratch),
        now,
    );
    interface.update_ip_addrs(|addresses| {
        addresses
            .push(IpCidr::new(IpAddress::v4(10, 0, 3, 1), 24))
            .unwrap();
    });
    let mut client_storage = [SocketStorage::EMPTY];
    let mut sockets = SocketSet::new(&mut client_storage[..]);
    let mut rx = vec![0u8; 16384];
    let mut tx = vec![0u8; 4096];
    let handle = sockets.add(tcp::Socket::new(
        tcp::SocketBuffer::new(&mut rx[..]),
        tcp::SocketBuffer::new(&mut tx[..]),
    ));
    let context = interface.context();
    sockets
        .get_mut::<tcp::Socket>(handle)
        .connect(context, (IpAddress::v4(10, 0, 3, 2), 80), 40000)
        .unwrap();

    let mut sent = false;
    let mut response = Vec::new();
    let mut sent_at = None;
    while sent_at.is_none_or(|at| now - at < within) && now < Instant::from_secs(10) {
        let mut adapter = NicAdapter::new(&mut *nic_client, &mut scratch);
        interface.poll(now, &mut adapter, &mut sockets);
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if socket.may_send() && !sent {
            // As soon as the handshake's last ACK is queued, so the server gets that ACK and
            // the requests (and the FIN) in one poll, as a client behind QEMU's user
            // networking does.
            assert_eq!(socket.send_slice(requests).unwrap(), requests.len());
            if half_close {
                socket.close();
            }
            sent = true;
            sent_at = Some(now);
            interface.poll(now, &mut adapter, &mut sockets);
        }
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if socket.can_recv() {
            socket
                .recv(|data| (data.len(), response.extend_from_slice(data)))
                .unwrap();
        }
        adapter.nic().flush();
        http.set_clock(now.total_millis() as u64);
        let mut api = NotFound;
        stack.poll(
            &mut *nic_server,
            now,
            &mut http.service(&mut api, &NoCredentials),
        );
        wire(&mut nic_client, &mut nic_server);
        now += STEP;
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn three_pipelined_requests_behind_whole_responses_are_all_answered() {
    let requests = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n\
        GET /nothing-here HTTP/1.1\r\nHost: dpu\r\n\r\n\
        GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n";
    let answer = pipeline(requests, Duration::from_millis(500), false);
    let statuses: Vec<&str> = answer
        .split("HTTP/1.1 ")
        .skip(1)
        .filter_map(|rest| rest.split("\r\n").next())
        .collect();
    // No credentials: the second is refused, the pipeline goes on.
    assert_eq!(
        statuses,
        ["200 OK", "401 Unauthorized", "200 OK"],
        "{answer}"
    );
}

#[test]
fn requests_followed_by_the_clients_fin_are_answered() {
    for count in 1..=3 {
        let requests = b"GET /healthz HTTP/1.1\r\nHost: dpu\r\n\r\n".repeat(count);
        let answer = pipeline(&requests, Duration::from_millis(500), true);
        assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), count, "{answer}");
    }
}
