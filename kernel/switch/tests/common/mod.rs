//! Helpers for the switch tests: addresses, frames, big stacks.

#![allow(dead_code)]

use dpu_switch::{MacAddress, PortId, Tick, VlanId};

/// `port{n}`.
pub fn port(n: u8) -> PortId {
    PortId::new(n).expect("port number")
}

/// VLAN `n`.
pub fn vlan(n: u16) -> VlanId {
    VlanId::new(n).expect("vlan id")
}

/// A locally administered unicast MAC numbered `n`.
pub fn mac(n: u32) -> MacAddress {
    MacAddress::from_u64(0x0200_0000_0000 | u64::from(n))
}

/// Seconds on the virtual clock.
pub fn secs(seconds: u64) -> Tick {
    Tick::from_secs(seconds)
}

/// A 60-byte frame (64 with a tag) from `source` to `destination`, tagged with `tci` if given.
pub fn frame(destination: MacAddress, source: MacAddress, tci: Option<u16>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64);
    bytes.extend_from_slice(&destination.0);
    bytes.extend_from_slice(&source.0);
    if let Some(tci) = tci {
        bytes.extend_from_slice(&0x8100u16.to_be_bytes());
        bytes.extend_from_slice(&tci.to_be_bytes());
    }
    bytes.extend_from_slice(&0x0800u16.to_be_bytes());
    let length = if tci.is_some() { 64 } else { 60 };
    bytes.resize(length, 0x5a);
    bytes
}

/// Runs `body` on a thread with a stack big enough for a full-size switch (512 KiB table).
pub fn with_big_stack(body: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(body)
        .expect("spawn test thread")
        .join()
        .expect("test thread");
}
