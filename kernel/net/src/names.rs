//! NIC naming: which device is `mgmt0` and which are `port1`..`port7`.
//!
//! QEMU `virt` gives the first `-device virtio-net-device` on its command line the highest
//! virtio-mmio slot, so descending register address is command-line order. The first NIC in that
//! order is the management NIC, `mgmt0`; the rest are data ports. A ninth NIC never displaces
//! `mgmt0`: all are ordered first, then the extra ones are left out.

use dpu_mgmt::NicRole;

/// NICs named at most (the management NIC and seven data ports).
pub const MAX_NICS: usize = 8;

/// The names, in order.
pub const NIC_NAMES: [&str; MAX_NICS] = [
    "mgmt0", "port1", "port2", "port3", "port4", "port5", "port6", "port7",
];

/// The role of the NIC at `index` in naming order: the first is the management NIC.
#[must_use]
pub const fn role_of(index: usize) -> NicRole {
    if index == 0 {
        NicRole::Management
    } else {
        NicRole::Data
    }
}

/// Puts `devices` in naming order (descending `address`) and returns how many get a name
/// (at most [`MAX_NICS`]); the ones after that are left out, and `devices[index]` is called
/// [`NIC_NAMES`]`[index]`.
pub fn order_nics<T>(devices: &mut [T], address: impl Fn(&T) -> u64) -> usize {
    devices.sort_unstable_by_key(|device| core::cmp::Reverse(address(device)));
    devices.len().min(MAX_NICS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU virt's virtio-mmio slots: 32 of 0x200 bytes from 0x0a00_0000.
    fn slot(n: u64) -> u64 {
        0x0a00_0000 + n * 0x200
    }

    #[test]
    fn command_line_order_is_descending_slot_address() {
        // Three NICs in slots 29, 31, 30 (probe order is ascending address in the DTB).
        let mut found = [(slot(29), 'c'), (slot(31), 'a'), (slot(30), 'b')];
        assert_eq!(order_nics(&mut found, |(base, _)| *base), 3);
        assert_eq!(found.map(|(_, tag)| tag), ['a', 'b', 'c']);
        assert_eq!(NIC_NAMES[0], "mgmt0");
        assert_eq!(role_of(0), NicRole::Management);
        assert_eq!(role_of(1), NicRole::Data);
        assert_eq!(role_of(7), NicRole::Data);
    }

    #[test]
    fn a_ninth_nic_never_displaces_mgmt0() {
        // Nine NICs, the first on the command line (slot 31) probed last.
        let mut found: [u64; 9] = core::array::from_fn(|n| slot(23 + n as u64));
        assert_eq!(order_nics(&mut found, |base| *base), MAX_NICS);
        assert_eq!(found[0], slot(31), "mgmt0 is the first -device");
        assert_eq!(found[8], slot(23), "the last -device is the one left out");
    }

    #[test]
    fn no_nics() {
        let mut found: [u64; 0] = [];
        assert_eq!(order_nics(&mut found, |base| *base), 0);
    }

    #[test]
    fn names_are_unique() {
        use std::string::ToString;
        for (index, name) in NIC_NAMES.iter().enumerate() {
            assert_eq!(NIC_NAMES.iter().filter(|other| *other == name).count(), 1);
            let expected = if index == 0 {
                "mgmt0".to_string()
            } else {
                std::format!("port{index}")
            };
            assert_eq!(*name, expected);
        }
    }
}
