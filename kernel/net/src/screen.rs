//! Frame screening before smoltcp: malformed or foreign frames are dropped and counted by reason.
//!
//! smoltcp silently ignores what it cannot parse; the management channel must say what it threw
//! away. Checked here, on the copy the adapter already made: the EtherType (ARP and IPv4 only),
//! the length each needs, the IPv4 header (version, IHL, total length, header checksum) and the
//! ICMP/TCP/UDP checksum (RFC 1071, with the pseudo-header for TCP and UDP).

/// Why a received frame was not handed to the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than the headers its EtherType needs.
    Runt,
    /// Neither ARP nor IPv4 (IPv6, VLAN-tagged, or anything else).
    UnknownEtherType,
    /// The IPv4 header is not version 4, has IHL < 5, or claims more bytes than arrived.
    BadIpv4Header,
    /// The IPv4 header checksum does not verify.
    BadIpv4Checksum,
    /// The ICMP, TCP or UDP checksum does not verify.
    BadTransportChecksum,
}

impl DropReason {
    /// Every reason, in the order counters are shown.
    pub const ALL: [DropReason; 5] = [
        Self::Runt,
        Self::UnknownEtherType,
        Self::BadIpv4Header,
        Self::BadIpv4Checksum,
        Self::BadTransportChecksum,
    ];

    /// The reason's counter name, as `ifconfig` shows it.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::UnknownEtherType => "unknown-ethertype",
            Self::BadIpv4Header => "bad-ipv4-header",
            Self::BadIpv4Checksum => "bad-ipv4-checksum",
            Self::BadTransportChecksum => "bad-transport-checksum",
        }
    }
}

impl core::fmt::Display for DropReason {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.pad(self.name())
    }
}

/// Counts of screened-out frames, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameDrops {
    /// [`DropReason::Runt`].
    pub runt: u64,
    /// [`DropReason::UnknownEtherType`].
    pub unknown_ethertype: u64,
    /// [`DropReason::BadIpv4Header`].
    pub bad_ipv4_header: u64,
    /// [`DropReason::BadIpv4Checksum`].
    pub bad_ipv4_checksum: u64,
    /// [`DropReason::BadTransportChecksum`].
    pub bad_transport_checksum: u64,
}

/// `runt 0 unknown-ethertype 0 bad-ipv4-header 0 bad-ipv4-checksum 0 bad-transport-checksum 0`.
impl core::fmt::Display for FrameDrops {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (index, reason) in DropReason::ALL.into_iter().enumerate() {
            let separator = if index == 0 { "" } else { " " };
            write!(formatter, "{separator}{reason} {}", self.get(reason))?;
        }
        Ok(())
    }
}

impl FrameDrops {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        let counter = match reason {
            DropReason::Runt => &mut self.runt,
            DropReason::UnknownEtherType => &mut self.unknown_ethertype,
            DropReason::BadIpv4Header => &mut self.bad_ipv4_header,
            DropReason::BadIpv4Checksum => &mut self.bad_ipv4_checksum,
            DropReason::BadTransportChecksum => &mut self.bad_transport_checksum,
        };
        *counter += 1;
    }

    /// The count for one reason.
    #[must_use]
    pub const fn get(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Runt => self.runt,
            DropReason::UnknownEtherType => self.unknown_ethertype,
            DropReason::BadIpv4Header => self.bad_ipv4_header,
            DropReason::BadIpv4Checksum => self.bad_ipv4_checksum,
            DropReason::BadTransportChecksum => self.bad_transport_checksum,
        }
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.runt
            + self.unknown_ethertype
            + self.bad_ipv4_header
            + self.bad_ipv4_checksum
            + self.bad_transport_checksum
    }
}

const ETHERNET_HEADER: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ARP_IPV4_LENGTH: usize = 28;
const PROTOCOL_ICMP: u8 = 1;
const PROTOCOL_TCP: u8 = 6;
const PROTOCOL_UDP: u8 = 17;

/// One's-complement sum of `bytes` (odd length padded with zero), folded to 16 bits later.
fn sum(bytes: &[u8], mut accumulator: u32) -> u32 {
    let mut chunks = bytes.chunks_exact(2);
    for pair in &mut chunks {
        accumulator += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        accumulator += u32::from(*last) << 8;
    }
    accumulator
}

fn folds_to_ones(mut accumulator: u32) -> bool {
    while accumulator > 0xffff {
        accumulator = (accumulator & 0xffff) + (accumulator >> 16);
    }
    accumulator == 0xffff
}

/// Checks one Ethernet frame; `Ok` means smoltcp may see it.
pub fn screen(frame: &[u8]) -> Result<(), DropReason> {
    if frame.len() < ETHERNET_HEADER {
        return Err(DropReason::Runt);
    }
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let payload = &frame[ETHERNET_HEADER..];
    match ethertype {
        ETHERTYPE_ARP if payload.len() < ARP_IPV4_LENGTH => Err(DropReason::Runt),
        ETHERTYPE_ARP => Ok(()),
        ETHERTYPE_IPV4 => screen_ipv4(payload),
        _ => Err(DropReason::UnknownEtherType),
    }
}

fn screen_ipv4(packet: &[u8]) -> Result<(), DropReason> {
    if packet.len() < 20 {
        return Err(DropReason::Runt);
    }
    let version = packet[0] >> 4;
    let header_length = usize::from(packet[0] & 0x0f) * 4;
    let total_length = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if version != 4
        || header_length < 20
        || header_length > packet.len()
        || total_length < header_length
        || total_length > packet.len()
    {
        return Err(DropReason::BadIpv4Header);
    }
    if !folds_to_ones(sum(&packet[..header_length], 0)) {
        return Err(DropReason::BadIpv4Checksum);
    }
    let fragment = u16::from_be_bytes([packet[6], packet[7]]);
    let is_fragment = fragment & 0x3fff != 0;
    let transport = &packet[header_length..total_length];
    let protocol = packet[9];
    if is_fragment {
        // Only a whole datagram can be checksummed; leave fragments to the stack.
        return Ok(());
    }
    let valid = match protocol {
        PROTOCOL_ICMP => folds_to_ones(sum(transport, 0)),
        PROTOCOL_TCP | PROTOCOL_UDP => {
            let udp_without_checksum =
                protocol == PROTOCOL_UDP && transport.get(6..8) == Some(&[0, 0]);
            let minimum = if protocol == PROTOCOL_TCP { 20 } else { 8 };
            if transport.len() < minimum {
                return Err(DropReason::Runt);
            }
            let mut pseudo = sum(&packet[12..20], 0);
            pseudo += u32::from(protocol);
            pseudo += transport.len() as u32;
            udp_without_checksum || folds_to_ones(sum(transport, pseudo))
        }
        _ => true,
    };
    if valid {
        Ok(())
    } else {
        Err(DropReason::BadTransportChecksum)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;
    use std::vec::Vec;

    #[test]
    fn drop_counts_read_as_words() {
        let mut drops = FrameDrops::default();
        drops.count(DropReason::Runt);
        drops.count(DropReason::BadTransportChecksum);
        drops.count(DropReason::BadTransportChecksum);
        assert_eq!(
            drops.to_string(),
            "runt 1 unknown-ethertype 0 bad-ipv4-header 0 bad-ipv4-checksum 0 bad-transport-checksum 2"
        );
        for reason in DropReason::ALL {
            assert_eq!(reason.to_string(), reason.name());
        }
        assert_eq!(drops.total(), 3);
    }

    fn checksum(bytes: &[u8], initial: u32) -> u16 {
        let mut accumulator = sum(bytes, initial);
        while accumulator > 0xffff {
            accumulator = (accumulator & 0xffff) + (accumulator >> 16);
        }
        !(accumulator as u16)
    }

    /// A valid Ethernet + IPv4 + ICMP echo request.
    fn icmp_frame() -> Vec<u8> {
        let mut frame = Vec::from([0xffu8; 6]);
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = Vec::from([
            0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        let header = checksum(&ip, 0);
        ip[10..12].copy_from_slice(&header.to_be_bytes());
        let mut icmp = Vec::from([8u8, 0, 0, 0, 0, 1, 0, 1]);
        let icmp_checksum = checksum(&icmp, 0);
        icmp[2..4].copy_from_slice(&icmp_checksum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&icmp);
        frame
    }

    fn udp_frame(payload: &[u8]) -> Vec<u8> {
        let mut frame = icmp_frame()[..14].to_vec();
        let total = 20 + 8 + payload.len();
        let mut ip = Vec::from([
            0x45,
            0,
            0,
            total as u8,
            0,
            1,
            0,
            0,
            64,
            17,
            0,
            0,
            10,
            0,
            0,
            1,
            10,
            0,
            0,
            2,
        ]);
        let header = checksum(&ip, 0);
        ip[10..12].copy_from_slice(&header.to_be_bytes());
        let mut udp = Vec::from([0x30, 0x39, 0, 53, 0, (8 + payload.len()) as u8, 0, 0]);
        udp.extend_from_slice(payload);
        let pseudo = sum(&ip[12..20], 0) + 17 + udp.len() as u32;
        let udp_checksum = checksum(&udp, pseudo);
        udp[6..8].copy_from_slice(&udp_checksum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&udp);
        frame
    }

    #[test]
    fn valid_frames_pass() {
        assert_eq!(screen(&icmp_frame()), Ok(()));
        assert_eq!(screen(&udp_frame(b"hello")), Ok(()));
        assert_eq!(screen(&udp_frame(b"odd")), Ok(()));
        let mut arp = icmp_frame()[..14].to_vec();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(screen(&arp), Ok(()));
    }

    #[test]
    fn each_malformation_has_its_reason() {
        assert_eq!(screen(&[0u8; 10]), Err(DropReason::Runt));
        assert_eq!(screen(&icmp_frame()[..20]), Err(DropReason::Runt));
        let mut ipv6 = icmp_frame();
        ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(screen(&ipv6), Err(DropReason::UnknownEtherType));
        let mut long_header = icmp_frame();
        long_header[14] = 0x4f; // IHL 60 bytes, more than arrived
        assert_eq!(screen(&long_header), Err(DropReason::BadIpv4Header));
        let mut long_total = icmp_frame();
        long_total[17] = 200;
        assert_eq!(screen(&long_total), Err(DropReason::BadIpv4Header));
        let mut bad_header_sum = icmp_frame();
        bad_header_sum[24] ^= 0xff;
        assert_eq!(screen(&bad_header_sum), Err(DropReason::BadIpv4Checksum));
        let mut bad_icmp = icmp_frame();
        bad_icmp[36] ^= 0x01;
        assert_eq!(screen(&bad_icmp), Err(DropReason::BadTransportChecksum));
        let mut bad_udp = udp_frame(b"hello");
        let last = bad_udp.len() - 1;
        bad_udp[last] ^= 0x20;
        assert_eq!(screen(&bad_udp), Err(DropReason::BadTransportChecksum));
    }

    #[test]
    fn counters_add_up() {
        let mut drops = FrameDrops::default();
        for reason in [
            DropReason::Runt,
            DropReason::Runt,
            DropReason::BadIpv4Checksum,
        ] {
            drops.count(reason);
        }
        assert_eq!(
            (drops.runt, drops.bad_ipv4_checksum, drops.total()),
            (2, 1, 3)
        );
    }
}
