#!/usr/bin/env python3
"""Raw Ethernet frames for the in-QEMU network tests (run inside the test's network namespace).

  frames.py malformed IFACE            send each kind of malformed frame COUNT (5) times
  frames.py isolation IFACE TARGET_IP  ARP + ICMP at TARGET_IP on IFACE; print how many replies came
  frames.py blast IFACE COUNT [RATE]   send COUNT valid UDP frames, paced at RATE frames/s (0: flat out)
  frames.py post HOST BYTES ROUNDS     HTTP POSTs of BYTES each on one keep-alive connection; print MB/s
  frames.py http-clients HOST          an idle client plus 3 concurrent GETs; the idle one must be dropped
  frames.py switch-junk IFACE          send each kind of frame the switch refuses COUNT (5) times
  frames.py listen IFACE ETHERTYPE SECONDS  print the source of each frame of ETHERTYPE (hex) received
  frames.py tagged-arp IFACE VLAN SOURCE_IP TARGET_IP
                                       an 802.1Q-tagged ARP request; print the replies by VLAN tag

Only AF_PACKET on the namespace's own tap device: nothing leaves the namespace.
"""
import socket
import struct
import sys
import time

COUNT = 5
GUEST_BROADCAST = b"\xff" * 6


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def open_socket(iface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    sock.bind((iface, 0))
    return sock


def source_mac(sock: socket.socket) -> bytes:
    return sock.getsockname()[4][:6]


def ipv4(protocol: int, payload: bytes, source="10.9.0.1", destination="10.9.0.2", bad_sum=False, ihl=5) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, 20 + len(payload), 1, 0, 64, protocol, 0,
                         socket.inet_aton(source), socket.inet_aton(destination))
    value = checksum(header) ^ (0x5555 if bad_sum else 0)
    return header[:10] + struct.pack("!H", value) + header[12:] + payload


def icmp_echo(bad_sum=False) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + b"dpu-test" * 4
    value = checksum(body) ^ (0x00FF if bad_sum else 0)
    return body[:2] + struct.pack("!H", value) + body[4:]


def transport(protocol: int, source="10.9.0.1", destination="10.9.0.2") -> bytes:
    if protocol == 17:
        segment = struct.pack("!HHHH", 40000, 7, 8 + 4, 0) + b"data"
    else:
        segment = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x02, 8192, 0, 0)
    pseudo = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!BBH", 0, protocol, len(segment))
    good = checksum(pseudo + segment)
    offset = 6 if protocol == 17 else 16
    wrong = good ^ 0x0F0F or 1
    return segment[:offset] + struct.pack("!H", wrong) + segment[offset + 2:]


def malformed(iface: str) -> None:
    sock = open_socket(iface)
    ethernet = GUEST_BROADCAST + source_mac(sock)
    kinds = {
        "runt (header only)": ethernet + b"\x08\x00",
        "runt (short IPv4)": ethernet + b"\x08\x00" + b"\x45\x00\x00\x14\x00\x01",
        "oversized (1600 bytes)": ethernet + b"\x08\x00" + bytes(1586),
        "unknown EtherType 0x88b5": ethernet + b"\x88\xb5" + bytes(46),
        "truncated IPv4 header (IHL 15)": ethernet + b"\x08\x00" + ipv4(1, icmp_echo(), ihl=15)[:40],
        "bad IPv4 header checksum": ethernet + b"\x08\x00" + ipv4(1, icmp_echo(), bad_sum=True),
        "bad ICMP checksum": ethernet + b"\x08\x00" + ipv4(1, icmp_echo(bad_sum=True)),
        "bad UDP checksum": ethernet + b"\x08\x00" + ipv4(17, transport(17)),
        "bad TCP checksum": ethernet + b"\x08\x00" + ipv4(6, transport(6)),
    }
    for name, frame in kinds.items():
        for _ in range(COUNT):
            sock.send(frame)
        print(f"sent {COUNT} x {name} ({len(frame)} bytes)")
    print("malformed frames sent")


def isolation(iface: str, target: str) -> None:
    sock = open_socket(iface)
    mac = source_mac(sock)
    arp = (GUEST_BROADCAST + mac + b"\x08\x06" +
           struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton("10.9.0.1"),
                       bytes(6), socket.inet_aton(target)))
    echo = GUEST_BROADCAST + mac + b"\x08\x00" + ipv4(1, icmp_echo(), destination=target)
    for _ in range(COUNT):
        sock.send(arp)
        sock.send(echo)
    sock.settimeout(0.1)
    replies = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            frame = sock.recv(2048)
        except socket.timeout:
            continue
        if frame[6:12] == mac:
            continue  # our own frame, looped back by the packet socket
        ethertype = frame[12:14]
        if ethertype == b"\x08\x06" and frame[20:22] == b"\x00\x02":
            replies += 1
        if ethertype == b"\x08\x00" and len(frame) > 34 and frame[23] == 1 and frame[34] == 0:
            replies += 1
    print(f"sent {COUNT} ARP requests and {COUNT} echo requests; replies: {replies}")


def switch_junk(iface: str) -> None:
    sock = open_socket(iface)
    mac = source_mac(sock)
    ethernet = GUEST_BROADCAST + mac
    payload = b"\x08\x00" + bytes(46)
    kinds = {
        "runt (tag cut short)": ethernet + b"\x81\x00\x00",
        "reserved vlan 4095": ethernet + b"\x81\x00\x0f\xff" + payload,
        "qinq outer tag": ethernet + b"\x88\xa8\x00\x0a" + payload,
        "tag inside a tag": ethernet + b"\x81\x00\x00\x0a\x81\x00\x00\x14" + payload,
        "multicast source": GUEST_BROADCAST + b"\x01\x00\x5e\x00\x00\x01" + payload,
        "zero source": GUEST_BROADCAST + bytes(6) + payload,
    }
    for name, frame in kinds.items():
        for _ in range(COUNT):
            sock.send(frame)
        print(f"sent {COUNT} x {name} ({len(frame)} bytes)")
    print("switch junk sent")


def listen(iface: str, ethertype: int, seconds: float) -> None:
    # Every protocol: a bridge port's frames reach only the all-protocol taps.
    sock = open_socket(iface)
    sock.settimeout(0.1)
    print(f"listening on {iface} for ethertype {ethertype:#06x}", flush=True)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data, address = sock.recvfrom(2048)
        except socket.timeout:
            continue
        if address[2] == socket.PACKET_OUTGOING or data[12:14] != struct.pack("!H", ethertype):
            continue
        print(f"ethertype {ethertype:#06x} from {data[6:12].hex(':')} length {len(data)}", flush=True)


def tagged_arp(iface: str, vlan: int, source: str, target: str) -> None:
    """A trunk peer without the 8021q module: ARP on VLAN `vlan`, replies counted by their tag."""
    sol_packet, packet_auxdata, tp_status_vlan_valid = 263, 8, 0x10
    sock = open_socket(iface)
    sock.setsockopt(sol_packet, packet_auxdata, 1)
    mac = source_mac(sock)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac, socket.inet_aton(source), b"\0" * 6,
                      socket.inet_aton(target))
    frame = GUEST_BROADCAST + mac + struct.pack("!HHH", 0x8100, vlan, 0x0806) + arp
    sock.send(frame + b"\0" * max(0, 64 - len(frame)))
    replies = {}
    sock.settimeout(0.1)
    deadline = time.time() + 1.0
    while time.time() < deadline:
        try:
            data, ancillary, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(20))
        except socket.timeout:
            continue
        tag = None
        # The receiving kernel strips the tag into metadata; it comes back as auxdata.
        for level, kind, value in ancillary:
            if level == sol_packet and kind == packet_auxdata and len(value) >= 20:
                status, _, _, _, _, tci, _ = struct.unpack("IIIHHHH", value[:20])
                if status & tp_status_vlan_valid:
                    tag = tci & 0x0FFF
        ethertype, body = data[12:14], data[14:]
        if ethertype == b"\x81\x00":
            tag = struct.unpack("!H", data[14:16])[0] & 0x0FFF
            ethertype, body = data[16:18], data[18:]
        if ethertype != b"\x08\x06" or len(body) < 28 or data[0:6] != mac:
            continue
        if struct.unpack("!H", body[6:8])[0] == 2 and body[14:18] == socket.inet_aton(target):
            key = "untagged" if tag is None else f"vlan {tag}"
            replies[key] = replies.get(key, 0) + 1
    print("arp replies:", ", ".join(f"{key} {count}" for key, count in sorted(replies.items())) or "none")


def blast(iface: str, count: int, rate: int = 0) -> None:
    sock = open_socket(iface)
    frame = GUEST_BROADCAST + source_mac(sock) + b"\x08\x00" + ipv4(17, transport(17))
    started = time.monotonic()
    for index in range(count):
        if rate:
            due = started + index / rate
            while time.monotonic() < due:
                pass
        sock.send(frame)
    elapsed = time.monotonic() - started
    print(f"sent {count} frames in {elapsed:.3f} s: {count / elapsed:.0f} frames/s")


def post(host: str, size: int, rounds: int) -> None:
    body = b"x" * size
    request = (f"POST /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n\r\n").encode() + body
    connection = socket.create_connection((host, 80), timeout=10)
    started = time.monotonic()
    for _ in range(rounds):
        connection.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                raise SystemExit("connection closed by the DPU")
            answer += chunk
        head, _, rest = answer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(rest) < length:
            rest += connection.recv(4096)
    elapsed = time.monotonic() - started
    total = size * rounds
    print(f"sent {total} bytes in {elapsed:.3f} s: {total / elapsed / 1e6:.3f} MB/s ({rounds} requests)")


def http_clients(host: str) -> None:
    idle = socket.create_connection((host, 80), timeout=15)
    opened = time.monotonic()
    clients = [socket.create_connection((host, 80), timeout=10) for _ in range(3)]
    for client in clients:
        client.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    for index, client in enumerate(clients):
        answer = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 200 OK") or b'"status":"ok"' not in answer:
            raise SystemExit(f"client {index}: unexpected answer {answer[:80]!r}")
    print("3 concurrent clients answered 200 while an idle client was connected")
    try:
        closed = idle.recv(1) == b""
    except ConnectionResetError:
        closed = True
    if not closed:
        raise SystemExit("the idle client was sent data instead of being dropped")
    print(f"idle client dropped after {time.monotonic() - opened:.1f} s")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "malformed":
        malformed(sys.argv[2])
    elif command == "isolation":
        isolation(sys.argv[2], sys.argv[3])
    elif command == "blast":
        blast(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    elif command == "http-clients":
        http_clients(sys.argv[2])
    elif command == "switch-junk":
        switch_junk(sys.argv[2])
    elif command == "listen":
        listen(sys.argv[2], int(sys.argv[3], 16), float(sys.argv[4]))
    elif command == "tagged-arp":
        tagged_arp(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif command == "post":
        post(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        print(__doc__)
        sys.exit(2)
