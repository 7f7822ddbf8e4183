//! virtio feature bits (virtio 1.2 §6 reserved bits, §5.1.3 net bits) and their names.
//!
//! [`FeatureNames`] formats a feature word as the spec's names so the kernel can log what a
//! device offered and what was negotiated. [`NET_WANTED`] is the driver's policy: the features it
//! accepts; everything else (every offload, control queue, multiqueue...) is declined.

use core::fmt;

/// Device handles packets with partial checksum (declined: no offloads).
pub const NET_F_CSUM: u64 = 1 << 0;
/// Driver handles packets with partial checksum (declined).
pub const NET_F_GUEST_CSUM: u64 = 1 << 1;
/// Control channel offloads reconfiguration (declined).
pub const NET_F_CTRL_GUEST_OFFLOADS: u64 = 1 << 2;
/// Device reports its maximum MTU (declined: the driver uses a fixed 1518-byte frame limit).
pub const NET_F_MTU: u64 = 1 << 3;
/// Device has a MAC address in config space (accepted).
pub const NET_F_MAC: u64 = 1 << 5;
/// Driver can receive TSOv4 (declined).
pub const NET_F_GUEST_TSO4: u64 = 1 << 7;
/// Driver can receive TSOv6 (declined).
pub const NET_F_GUEST_TSO6: u64 = 1 << 8;
/// Driver can receive TSO with ECN (declined).
pub const NET_F_GUEST_ECN: u64 = 1 << 9;
/// Driver can receive UFO (declined).
pub const NET_F_GUEST_UFO: u64 = 1 << 10;
/// Device can receive TSOv4 (declined).
pub const NET_F_HOST_TSO4: u64 = 1 << 11;
/// Device can receive TSOv6 (declined).
pub const NET_F_HOST_TSO6: u64 = 1 << 12;
/// Device can receive TSO with ECN (declined).
pub const NET_F_HOST_ECN: u64 = 1 << 13;
/// Device can receive UFO (declined).
pub const NET_F_HOST_UFO: u64 = 1 << 14;
/// Driver can merge receive buffers (declined: one frame per 2 KiB buffer).
pub const NET_F_MRG_RXBUF: u64 = 1 << 15;
/// Config `status` field is valid (accepted: link state).
pub const NET_F_STATUS: u64 = 1 << 16;
/// Control virtqueue (declined: without it QEMU delivers every frame, which a switch needs).
pub const NET_F_CTRL_VQ: u64 = 1 << 17;
/// Control channel RX mode (declined).
pub const NET_F_CTRL_RX: u64 = 1 << 18;
/// Control channel VLAN filtering (declined).
pub const NET_F_CTRL_VLAN: u64 = 1 << 19;
/// Extra RX mode control (declined).
pub const NET_F_CTRL_RX_EXTRA: u64 = 1 << 20;
/// Driver can send gratuitous packets (declined).
pub const NET_F_GUEST_ANNOUNCE: u64 = 1 << 21;
/// Multiqueue with automatic steering (declined).
pub const NET_F_MQ: u64 = 1 << 22;
/// Set MAC through the control channel (declined).
pub const NET_F_CTRL_MAC_ADDR: u64 = 1 << 23;
/// Legacy: any descriptor layout (implied by VERSION_1).
pub const F_ANY_LAYOUT: u64 = 1 << 27;
/// Indirect descriptors (declined: one descriptor per buffer).
pub const F_INDIRECT_DESC: u64 = 1 << 28;
/// Used/avail event index notification suppression (accepted).
pub const F_EVENT_IDX: u64 = 1 << 29;
/// Compliant with virtio 1.0 or later (required).
pub const F_VERSION_1: u64 = 1 << 32;
/// Device is behind an IOMMU / platform DMA rules (declined: identity-mapped, coherent).
pub const F_ACCESS_PLATFORM: u64 = 1 << 33;
/// Packed virtqueues (declined: split virtqueues only).
pub const F_RING_PACKED: u64 = 1 << 34;
/// Buffers used in order (declined).
pub const F_IN_ORDER: u64 = 1 << 35;
/// Platform memory ordering (declined).
pub const F_ORDER_PLATFORM: u64 = 1 << 36;
/// SR-IOV (declined).
pub const F_SR_IOV: u64 = 1 << 37;
/// Notification data (declined).
pub const F_NOTIFICATION_DATA: u64 = 1 << 38;
/// Notification config data (declined).
pub const F_NOTIF_CONFIG_DATA: u64 = 1 << 39;
/// Per-queue reset (declined).
pub const F_RING_RESET: u64 = 1 << 40;
/// Guest hash report and RSS and the rest of the 1.2 net extensions (declined).
pub const NET_F_HASH_REPORT: u64 = 1 << 57;
/// Receive-side scaling (declined).
pub const NET_F_RSS: u64 = 1 << 60;
/// Device reports speed and duplex (declined).
pub const NET_F_SPEED_DUPLEX: u64 = 1 << 63;

/// What the virtio-net driver accepts when offered; the rest is declined.
pub const NET_WANTED: u64 = F_VERSION_1 | NET_F_MAC | NET_F_STATUS | F_EVENT_IDX;

/// Names of the bits, as the spec spells them (without the `VIRTIO_` prefix).
const NAMES: &[(u64, &str)] = &[
    (NET_F_CSUM, "NET_F_CSUM"),
    (NET_F_GUEST_CSUM, "NET_F_GUEST_CSUM"),
    (NET_F_CTRL_GUEST_OFFLOADS, "NET_F_CTRL_GUEST_OFFLOADS"),
    (NET_F_MTU, "NET_F_MTU"),
    (NET_F_MAC, "NET_F_MAC"),
    (1 << 6, "NET_F_GSO"),
    (NET_F_GUEST_TSO4, "NET_F_GUEST_TSO4"),
    (NET_F_GUEST_TSO6, "NET_F_GUEST_TSO6"),
    (NET_F_GUEST_ECN, "NET_F_GUEST_ECN"),
    (NET_F_GUEST_UFO, "NET_F_GUEST_UFO"),
    (NET_F_HOST_TSO4, "NET_F_HOST_TSO4"),
    (NET_F_HOST_TSO6, "NET_F_HOST_TSO6"),
    (NET_F_HOST_ECN, "NET_F_HOST_ECN"),
    (NET_F_HOST_UFO, "NET_F_HOST_UFO"),
    (NET_F_MRG_RXBUF, "NET_F_MRG_RXBUF"),
    (NET_F_STATUS, "NET_F_STATUS"),
    (NET_F_CTRL_VQ, "NET_F_CTRL_VQ"),
    (NET_F_CTRL_RX, "NET_F_CTRL_RX"),
    (NET_F_CTRL_VLAN, "NET_F_CTRL_VLAN"),
    (NET_F_CTRL_RX_EXTRA, "NET_F_CTRL_RX_EXTRA"),
    (NET_F_GUEST_ANNOUNCE, "NET_F_GUEST_ANNOUNCE"),
    (NET_F_MQ, "NET_F_MQ"),
    (NET_F_CTRL_MAC_ADDR, "NET_F_CTRL_MAC_ADDR"),
    (1 << 24, "F_NOTIFY_ON_EMPTY"),
    (F_ANY_LAYOUT, "F_ANY_LAYOUT"),
    (F_INDIRECT_DESC, "F_INDIRECT_DESC"),
    (F_EVENT_IDX, "F_EVENT_IDX"),
    (1 << 30, "F_BAD_FEATURE"),
    (F_VERSION_1, "F_VERSION_1"),
    (F_ACCESS_PLATFORM, "F_ACCESS_PLATFORM"),
    (F_RING_PACKED, "F_RING_PACKED"),
    (F_IN_ORDER, "F_IN_ORDER"),
    (F_ORDER_PLATFORM, "F_ORDER_PLATFORM"),
    (F_SR_IOV, "F_SR_IOV"),
    (F_NOTIFICATION_DATA, "F_NOTIFICATION_DATA"),
    (F_NOTIF_CONFIG_DATA, "F_NOTIF_CONFIG_DATA"),
    (F_RING_RESET, "F_RING_RESET"),
    (1 << 52, "NET_F_VQ_NOTF_COAL"),
    (1 << 53, "NET_F_NOTF_COAL"),
    (1 << 54, "NET_F_GUEST_USO4"),
    (1 << 55, "NET_F_GUEST_USO6"),
    (1 << 56, "NET_F_HOST_USO"),
    (NET_F_HASH_REPORT, "NET_F_HASH_REPORT"),
    (1 << 59, "NET_F_GUEST_HDRLEN"),
    (NET_F_RSS, "NET_F_RSS"),
    (1 << 61, "NET_F_RSC_EXT"),
    (1 << 62, "NET_F_STANDBY"),
    (NET_F_SPEED_DUPLEX, "NET_F_SPEED_DUPLEX"),
];

/// Formats a feature word as space-separated names; unnamed bits print as `bit<N>`.
///
/// `FeatureNames(F_VERSION_1 | NET_F_MAC)` displays as `NET_F_MAC F_VERSION_1`; zero as `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureNames(pub u64);

impl fmt::Display for FeatureNames {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return formatter.write_str("none");
        }
        let mut first = true;
        for bit in 0..64 {
            let mask = 1u64 << bit;
            if self.0 & mask == 0 {
                continue;
            }
            if !first {
                formatter.write_str(" ")?;
            }
            first = false;
            match NAMES.iter().find(|(named, _)| *named == mask) {
                Some((_, name)) => formatter.write_str(name)?,
                None => write!(formatter, "bit{bit}")?,
            }
        }
        Ok(())
    }
}

/// What a device offered and what the driver accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Negotiated {
    /// The device's feature word.
    pub offered: u64,
    /// The features the driver wrote back (`offered & NET_WANTED`).
    pub accepted: u64,
}

impl Negotiated {
    /// True if `feature` (one or more bits) was accepted.
    pub const fn has(&self, feature: u64) -> bool {
        self.accepted & feature == feature
    }

    /// Offered features the driver declined.
    pub const fn declined(&self) -> u64 {
        self.offered & !self.accepted
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn names_known_and_unknown_bits() {
        assert_eq!(format!("{}", FeatureNames(0)), "none");
        assert_eq!(
            format!("{}", FeatureNames(F_VERSION_1 | NET_F_MAC)),
            "NET_F_MAC F_VERSION_1"
        );
        assert_eq!(
            format!("{}", FeatureNames(1 << 4 | F_EVENT_IDX)),
            "bit4 F_EVENT_IDX"
        );
    }

    #[test]
    fn every_named_bit_is_a_single_distinct_bit() {
        for (index, (mask, _)) in NAMES.iter().enumerate() {
            assert_eq!(mask.count_ones(), 1);
            assert!(NAMES[index + 1..].iter().all(|(other, _)| other != mask));
        }
    }

    #[test]
    fn wanted_declines_every_offload() {
        for offload in [
            NET_F_CSUM,
            NET_F_GUEST_CSUM,
            NET_F_GUEST_TSO4,
            NET_F_HOST_TSO4,
            NET_F_MRG_RXBUF,
            NET_F_CTRL_VQ,
            NET_F_MQ,
            F_RING_PACKED,
            F_INDIRECT_DESC,
        ] {
            assert_eq!(NET_WANTED & offload, 0);
        }
    }
}
