//! Host tests: pooled virtio-net ports sharing one pool, on the fake device

extern crate std;

use std::boxed::Box;
use std::vec;
use std::vec::Vec;

use netdev::pool::PoolCounters;
use netdev::{POOL_HEADROOM, PoolBuffer, PoolId, TxErrorKind};
use proptest::prelude::*;

use crate::fake::{FAKE_MAC, FakeDevice};
use crate::pool::PacketPool;
use crate::pooled::{PooledVirtioNet, QueueStorage};
use crate::queue::QueueError;

/// A small pool for tests: 320 buffers (640 KiB).
const TEST_POOL: usize = 320;
type Port = PooledVirtioNet<FakeDevice, TEST_POOL>;
type Pool = PacketPool<TEST_POOL>;

/// A fresh `'static` pool, built on a thread with a big stack (the value is large).
fn pool() -> &'static Pool {
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| &*Box::leak(Box::new(Pool::new())))
        .unwrap()
        .join()
        .unwrap()
}

fn queues() -> &'static QueueStorage {
    Box::leak(Box::new(QueueStorage::new()))
}

fn port(pool: &'static Pool, reserve: usize) -> (FakeDevice, Port) {
    let device = FakeDevice::qemu_like();
    let port = Port::new(device.clone(), queues(), pool, reserve).unwrap();
    (device, port)
}

fn frame(sequence: u32, len: usize) -> Vec<u8> {
    let mut bytes = std::vec![0u8; len];
    bytes[..6].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 2]);
    bytes[6..12].copy_from_slice(&FAKE_MAC);
    bytes[12..14].copy_from_slice(&[0x88, 0xb5]);
    for (offset, byte) in bytes[14..].iter_mut().enumerate() {
        *byte = (sequence as usize + offset) as u8;
    }
    bytes
}

fn receive_all(port: &mut Port) -> Vec<PoolBuffer> {
    let mut held = Vec::new();
    loop {
        let mut slots: [Option<PoolBuffer>; 32] = Default::default();
        let count = port.receive(&mut slots);
        held.extend(
            slots
                .iter_mut()
                .take(count)
                .map(|slot| slot.take().unwrap()),
        );
        if count < slots.len() {
            return held;
        }
    }
}

fn assert_pool_consistent(pool: &Pool) {
    pool.check().unwrap();
    let occupancy = pool.occupancy();
    assert_eq!(occupancy.accounted(), occupancy.total, "{occupancy:?}");
}

#[test]
fn burst_heads_are_read_with_one_lock_whatever_the_alignment() {
    let pool = pool();
    let (device_a, mut port_a) = port(pool, 128);
    // The heads of a burst, with one lock: each is the frame's first 24 bytes in memory order,
    // whatever the start's alignment; a refused handle or an empty slot is left alone.
    assert!(device_a.deliver(&frame(3, 60)));
    assert!(device_a.deliver(&frame(4, 60)));
    let mut two = receive_all(&mut port_a).into_iter();
    let (third, mut fourth) = (two.next().unwrap(), two.next().unwrap());
    let (start, len) = (fourth.start(), fourth.len());
    pool.buffer_mut(&mut fourth)
        .copy_within(start..start + len, start + 2);
    fourth.set_frame(start + 2, len);
    let stale = third.forged_copy(third.pool(), third.generation().wrapping_add(1));
    let burst = [Some(third), None, Some(fourth), Some(stale)];
    let mut words = [[7u64; 3]; 4];
    assert_eq!(pool.head_words(&burst, &mut words), 0b0101);
    for (position, expected) in [(0, frame(3, 60)), (2, frame(4, 60))] {
        let bytes: Vec<u8> = words[position]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        assert_eq!(bytes[..], expected[..24]);
    }
    assert_eq!((words[1], words[3]), ([7; 3], [7; 3]));
    let [third, _, fourth, _] = burst;
    pool.release(third.unwrap()).unwrap();
    pool.release(fourth.unwrap()).unwrap();
    assert_pool_consistent(pool);
}

#[test]
fn receive_with_heads_reads_what_head_words_reads() {
    let pool = pool();
    let (device, mut port) = port(pool, 128);
    for sequence in 0..3 {
        assert!(device.deliver(&frame(sequence, 60 + sequence as usize * 10)));
    }
    let mut slots: [Option<PoolBuffer>; 4] = Default::default();
    // Room for two heads only: the third frame is received all the same, without a head.
    let mut heads = [[7u64; 3]; 2];
    assert_eq!(port.receive_with_heads(&mut slots, &mut heads), 3);
    let mut words = [[0u64; 3]; 4];
    assert_eq!(pool.head_words(&slots, &mut words), 0b0111);
    assert_eq!(heads[..], words[..2]);
    let bytes: Vec<u8> = heads[1].iter().flat_map(|w| w.to_ne_bytes()).collect();
    assert_eq!(bytes[..], frame(1, 70)[..24]);
    for slot in &mut slots {
        if let Some(buffer) = slot.take() {
            pool.release(buffer).unwrap();
        }
    }
    assert_pool_consistent(pool);
}

#[test]
fn forwarding_between_two_ports_moves_the_buffer_without_a_copy() {
    let pool = pool();
    let (device_a, mut port_a) = port(pool, 128);
    let (device_b, mut port_b) = port(pool, 128);
    assert!(port_a.shares_pool_with(&port_b));
    assert!(netdev::shares_pool(&port_a, &port_b));
    assert_eq!(port_a.pool_id(), pool.id());
    assert!(device_a.deliver(&frame(1, 60)));
    let held = receive_all(&mut port_a);
    assert_eq!(held.len(), 1);
    let buffer = held.into_iter().next().unwrap();
    assert_eq!(buffer.start(), POOL_HEADROOM);
    assert_eq!(pool.frame(&buffer), &frame(1, 60)[..]);
    let (start, len) = (buffer.start(), buffer.len());
    port_b.transmit_pooled(buffer, start, len).unwrap();
    port_b.flush();
    {
        let state = device_b.state();
        assert_eq!(state.transmitted, [frame(1, 60)]);
        assert_eq!(
            state.transmitted_addresses,
            device_a.state().delivered_addresses,
            "port B transmits from the very buffer port A received into"
        );
    }
    // An in-place 802.1Q push: the frame starts 4 bytes earlier, the header moves with it.
    assert!(device_a.deliver(&frame(2, 60)));
    let mut buffer = receive_all(&mut port_a).into_iter().next().unwrap();
    let (start, len) = (buffer.start(), buffer.len());
    let bytes = pool.buffer_mut(&mut buffer);
    bytes.copy_within(start..start + 12, start - 4);
    bytes[start + 8..start + 12].copy_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    buffer.set_frame(start - 4, len + 4);
    port_b.transmit_pooled(buffer, start - 4, len + 4).unwrap();
    port_b.flush();
    let state = device_b.state();
    assert_eq!(state.transmitted.len(), 2);
    assert_eq!(state.transmitted[1].len(), 64);
    assert_eq!(&state.transmitted[1][12..16], &[0x81, 0x00, 0x00, 0x0a]);
    assert_eq!(
        state.transmitted_addresses[1],
        device_a.state().delivered_addresses[1] - 4
    );
    drop(state);
    // Completion returns the buffers to the pool (reclaimed by port B, not port A).
    assert_eq!(port_b.reclaim_tx(), 2);
    let occupancy = pool.occupancy();
    assert_eq!((occupancy.rx_held, occupancy.tx_in_flight), (0, 0));
    assert_eq!(occupancy.rx_posted, 254, "port A refills in batches of 16");
    assert_eq!(port_b.counters().tx_packets, 2);
    assert_eq!(port_a.counters().rx_packets, 2);
    assert_pool_consistent(pool);
}

#[test]
fn wrong_pool_and_stale_handles_are_refused_and_counted() {
    let pool_one = pool();
    let pool_two = pool();
    let (device_one, mut port_one) = port(pool_one, 64);
    let (device_two, mut port_two) = port(pool_two, 64);
    assert!(!port_one.shares_pool_with(&port_two));
    assert!(!netdev::shares_pool(&port_one, &port_two));
    assert_ne!(pool_one.id(), pool_two.id());
    assert!(device_one.deliver(&frame(1, 60)));
    let buffer = receive_all(&mut port_one).into_iter().next().unwrap();
    let (start, len) = (buffer.start(), buffer.len());
    // The real handle given to a port of another pool: refused, handed back, counted.
    let error = port_two.transmit_pooled(buffer, start, len).unwrap_err();
    assert_eq!(error.kind, TxErrorKind::WrongPool);
    let buffer = error.buffer;
    assert_eq!(port_two.counters().handle_misuse, 1);
    assert_eq!(pool_two.counters().wrong_pool, 1);
    assert_eq!(
        pool_two.release(buffer.forged_copy(buffer.pool(), 0)),
        Err(netdev::pool::HandleError::WrongPool)
    );
    // A stale copy (an older generation): refused everywhere, nothing touched.
    let stale = buffer.forged_copy(buffer.pool(), buffer.generation().wrapping_sub(1));
    assert!(pool_one.frame(&stale).is_empty());
    let error = port_one.transmit_pooled(stale, start, len).unwrap_err();
    assert_eq!(error.kind, TxErrorKind::StaleHandle);
    assert!(pool_one.release(error.buffer).is_err());
    let forged = buffer.forged_copy(PoolId(999), buffer.generation());
    assert!(pool_one.release(forged).is_err());
    assert_eq!(
        pool_one.counters(),
        PoolCounters {
            wrong_pool: 1,
            stale_handle: 3,
            ..PoolCounters::default()
        }
    );
    // The real handle still works, and releasing it makes it stale in turn.
    assert_eq!(pool_one.frame(&buffer), &frame(1, 60)[..]);
    let stale = buffer.forged_copy(buffer.pool(), buffer.generation());
    pool_one.release(buffer).unwrap();
    assert!(pool_one.release(stale).is_err());
    assert_eq!(pool_one.occupancy().rx_held, 0);
    assert_pool_consistent(pool_one);
    assert_pool_consistent(pool_two);
    drop(device_two);
}

#[test]
fn rx_reserve_holds_under_a_congested_egress() {
    // 320 buffers: reserves 128 + 128 + 32 = 288, so 32 spare for transmit rings.
    let pool = pool();
    let (device_a, mut port_a) = port(pool, 128);
    let (device_b, mut port_b) = port(pool, 128);
    let (device_c, mut port_c) = port(pool, 32);
    // Port C's device never completes a transmit: its egress is congested for good.
    device_c.state().transmit_on_notify = false;
    let mut sequence = 0;
    let mut refused = 0;
    for _pass in 0..40 {
        for device in [&device_a, &device_b] {
            for _ in 0..32 {
                assert!(
                    device.deliver(&frame(sequence, 60)),
                    "a receive ring ran dry: the congested egress starved it"
                );
                sequence += 1;
            }
        }
        for ingress in [&mut port_a, &mut port_b] {
            for buffer in receive_all(ingress) {
                let (start, len) = (buffer.start(), buffer.len());
                if let Err(error) = port_c.transmit_pooled(buffer, start, len) {
                    assert_eq!(error.kind, TxErrorKind::NoRoom);
                    refused += 1;
                    pool.release(error.buffer).unwrap();
                }
            }
        }
        port_c.flush();
        // Nothing held: the free buffers cover every reserve, and C parks only the surplus.
        assert_eq!(pool.occupancy().rx_held, 0);
        assert!(pool.occupancy().free as usize >= pool.reserve_deficit());
        assert!(port_c.port_occupancy().tx_in_flight <= 32);
        assert_pool_consistent(pool);
    }
    assert!(refused > 0);
    assert_eq!(port_c.counters().tx_drop_no_room, refused);
    assert!(pool.counters().reserve_refusals > 0);
    assert_eq!(
        port_a.counters().rx_packets + port_b.counters().rx_packets,
        2560
    );
}

#[test]
fn reset_and_drop_return_every_ring_buffer() {
    let pool = pool();
    let (device_a, mut port_a) = port(pool, 128);
    let (device_b, mut port_b) = port(pool, 64);
    device_b.state().transmit_on_notify = false;
    for sequence in 0..10 {
        assert!(device_a.deliver(&frame(sequence, 100)));
    }
    let mut held = receive_all(&mut port_a);
    let kept = held.pop().unwrap();
    for buffer in held {
        let (start, len) = (buffer.start(), buffer.len());
        port_b.transmit_pooled(buffer, start, len).unwrap();
    }
    port_b.flush();
    assert_eq!(port_b.port_occupancy().tx_in_flight, 9);
    // The device breaks the protocol; a reset is the recovery path.
    device_b.jump_used_index(1, 500);
    assert_eq!(port_b.reclaim_tx(), 0);
    assert!(matches!(
        port_b.last_error(),
        Some(QueueError::UsedIndexJump { .. })
    ));
    port_b.reset().unwrap();
    let after = port_b.port_occupancy();
    assert_eq!((after.tx_in_flight, after.rx_posted), (0, 64));
    assert_eq!(pool.counters().reset_returns, 9 + 64);
    assert_pool_consistent(pool);
    // A held buffer survives the reset and goes out on the recovered port.
    device_b.state().transmit_on_notify = true;
    let (start, len) = (kept.start(), kept.len());
    port_b.transmit_pooled(kept, start, len).unwrap();
    port_b.flush();
    assert_eq!(device_b.state().transmitted.len(), 1);
    // Dropping both ports gives every buffer back to the pool.
    drop(port_a);
    drop(port_b);
    let occupancy = pool.occupancy();
    assert_eq!(occupancy.free, occupancy.total, "{occupancy:?}");
    assert_eq!(pool.reserve_deficit(), 0);
    assert_pool_consistent(pool);
    // And the pool takes new ports again.
    let (_device, port_c) = port(pool, 128);
    assert_eq!(port_c.port_occupancy().rx_posted, 128);
}

#[test]
fn runts_and_oversized_frames_go_back_to_the_pool() {
    let pool = pool();
    let (device, mut port) = port(pool, 128);
    assert!(device.deliver(&[0u8; 10]));
    assert!(device.deliver(&frame(1, crate::net::MAX_FRAME_LEN + 1)));
    assert!(device.deliver(&frame(2, crate::net::MAX_FRAME_LEN)));
    let held = receive_all(&mut port);
    assert_eq!(held.len(), 1);
    let counters = port.counters();
    assert_eq!((counters.rx_drop_runt, counters.rx_drop_oversized), (1, 1));
    let buffer = held.into_iter().next().unwrap();
    let error = port.transmit_pooled(buffer, 4, 60).unwrap_err();
    assert_eq!(error.kind, TxErrorKind::BadPlacement);
    let error = port
        .transmit_pooled(error.buffer, usize::MAX, 60)
        .unwrap_err();
    assert_eq!(error.kind, TxErrorKind::BadPlacement);
    let error = port
        .transmit_pooled(error.buffer, POOL_HEADROOM, 13)
        .unwrap_err();
    assert_eq!(error.kind, TxErrorKind::TooShort);
    // A placement recorded past the buffer is never used as a slice bound.
    let mut buffer = error.buffer;
    buffer.set_frame(2000, 100);
    assert!(pool.frame(&buffer).len() <= 48);
    assert!(pool.copy_of(&buffer).is_none());
    pool.release(buffer).unwrap();
    assert_pool_consistent(pool);
}

/// One step of random traffic over 2..4 ports of one pool.
#[derive(Clone, Debug)]
enum Step {
    /// The device of a port delivers this many frames (as far as its ring has room).
    Deliver { port: usize, frames: u8 },
    /// A port receives a burst.
    Receive { port: usize },
    /// A held buffer is transmitted on a port (any port, the ingress one included).
    Forward { held: usize, port: usize },
    /// Every held buffer is transmitted on one port (what a burst toward one egress does).
    ForwardAll { port: usize },
    /// Held buffers handed to one port as bursts of up to 32 (`transmit_burst`), with a stale
    /// copy of one of them in the burst if `stale`.
    ForwardBurst { port: usize, stale: bool },
    /// A held buffer is copied (a flood), the copy transmitted on a port.
    Flood { held: usize, port: usize },
    /// A held buffer is dropped.
    Release { held: usize },
    /// A port's device completes its transmits (or not, if congested).
    Complete { port: usize },
    /// A port's device stops or starts consuming transmits.
    Congest { port: usize, on: bool },
    /// A port is reset.
    Reset { port: usize },
    /// A stale copy of a held buffer is presented.
    Stale { held: usize, port: usize },
    /// Today's index-only API: a burst received and copied to another port, or hairpinned.
    Legacy { from: usize, to: usize },
}

fn step() -> impl Strategy<Value = Step> {
    // Weighted toward traffic, so rings run short and egress ports congest within a case.
    prop_oneof![
        4 => (0..4usize, 1..40u8).prop_map(|(port, frames)| Step::Deliver { port, frames }),
        4 => (0..4usize).prop_map(|port| Step::Receive { port }),
        3 => (any::<usize>(), 0..4usize).prop_map(|(held, port)| Step::Forward { held, port }),
        3 => (0..4usize).prop_map(|port| Step::ForwardAll { port }),
        3 => (0..4usize, any::<bool>())
            .prop_map(|(port, stale)| Step::ForwardBurst { port, stale }),
        1 => (any::<usize>(), 0..4usize).prop_map(|(held, port)| Step::Flood { held, port }),
        1 => any::<usize>().prop_map(|held| Step::Release { held }),
        2 => (0..4usize).prop_map(|port| Step::Complete { port }),
        2 => (0..4usize, any::<bool>()).prop_map(|(port, on)| Step::Congest { port, on }),
        1 => (0..4usize).prop_map(|port| Step::Reset { port }),
        1 => (any::<usize>(), 0..4usize).prop_map(|(held, port)| Step::Stale { held, port }),
        2 => (0..4usize, 0..4usize).prop_map(|(from, to)| Step::Legacy { from, to }),
    ]
}

/// The accounting invariant: every buffer is in exactly one place, and the places add up.
fn check_accounting(pool: &Pool, ports: &[(FakeDevice, Port)], held: &[PoolBuffer]) {
    pool.check().unwrap();
    let occupancy = pool.occupancy();
    assert_eq!(occupancy.accounted(), occupancy.total);
    assert_eq!(
        occupancy.rx_held as usize,
        held.len(),
        "a held buffer was lost"
    );
    let mut indices: Vec<u16> = held.iter().map(PoolBuffer::index).collect();
    indices.sort_unstable();
    indices.dedup();
    assert_eq!(indices.len(), held.len(), "two handles for one buffer");
    let (posted, in_flight) = ports.iter().fold((0, 0), |(posted, in_flight), (_, port)| {
        let view = port.port_occupancy();
        (posted + view.rx_posted, in_flight + view.tx_in_flight)
    });
    assert_eq!(
        (posted, in_flight),
        (occupancy.rx_posted, occupancy.tx_in_flight)
    );
    if held.is_empty() {
        assert!(occupancy.free as usize >= pool.reserve_deficit());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn no_buffer_is_lost_or_double_owned_under_random_traffic(
        port_count in 2..=4usize,
        steps in proptest::collection::vec(step(), 1..200),
    ) {
        let pool = pool();
        // Reserves leave only 32 to 64 buffers of surplus, so the reserve rule is exercised.
        let reserve = ((TEST_POOL - 32) / port_count).min(128);
        let mut ports: Vec<(FakeDevice, Port)> =
            (0..port_count).map(|_| port(pool, reserve)).collect();
        let mut held: Vec<PoolBuffer> = Vec::new();
        let mut sequence = 0u32;
        for step in steps {
            match step {
                Step::Deliver { port, frames } => {
                    let device = &ports[port % port_count].0;
                    for _ in 0..frames {
                        sequence += 1;
                        if !device.deliver(&frame(sequence, 60 + (sequence as usize % 300))) {
                            break;
                        }
                    }
                }
                Step::Receive { port } => {
                    held.extend(receive_all(&mut ports[port % port_count].1));
                }
                Step::Forward { held: pick, port } if !held.is_empty() => {
                    let buffer = held.swap_remove(pick % held.len());
                    let (start, len) = (buffer.start(), buffer.len());
                    let output = &mut ports[port % port_count].1;
                    if let Err(error) = output.transmit_pooled(buffer, start, len) {
                        prop_assert_eq!(error.kind, TxErrorKind::NoRoom);
                        held.push(error.buffer);
                    }
                    output.flush();
                }
                Step::ForwardAll { port } => {
                    let output = &mut ports[port % port_count].1;
                    for buffer in core::mem::take(&mut held) {
                        let (start, len) = (buffer.start(), buffer.len());
                        if let Err(error) = output.transmit_pooled(buffer, start, len) {
                            prop_assert_eq!(error.kind, TxErrorKind::NoRoom);
                            held.push(error.buffer);
                        }
                    }
                    output.flush();
                }
                Step::ForwardBurst { port, stale } => {
                    let output = &mut ports[port % port_count].1;
                    let mut kept = Vec::new();
                    let mut all = core::mem::take(&mut held);
                    while !all.is_empty() {
                        let chunk: Vec<PoolBuffer> = all.drain(..all.len().min(32)).collect();
                        let mut burst: Vec<Option<PoolBuffer>> = Vec::new();
                        let forged = stale && !chunk.is_empty();
                        if forged {
                            let source = &chunk[0];
                            burst.push(Some(source.forged_copy(
                                source.pool(),
                                source.generation().wrapping_add(1),
                            )));
                        }
                        let offered = chunk.len();
                        burst.extend(chunk.into_iter().map(Some));
                        let result = output.transmit_burst(&mut burst);
                        prop_assert_eq!(result.bad_length, 0);
                        prop_assert_eq!(result.bad_handle, usize::from(forged));
                        prop_assert_eq!(result.posted + result.no_room, offered);
                        let mut refused = burst.into_iter().flatten();
                        if forged {
                            // Refused in place, and no use to the pool.
                            let stale = refused.next().unwrap();
                            prop_assert!(pool.release(stale).is_err());
                        }
                        let left: Vec<PoolBuffer> = refused.collect();
                        prop_assert_eq!(left.len(), result.no_room);
                        kept.extend(left);
                    }
                    held = kept;
                    output.flush();
                }
                Step::Flood { held: pick, port } if !held.is_empty() => {
                    let source = &held[pick % held.len()];
                    if let Some(copy) = pool.copy_of(source) {
                        prop_assert_eq!(pool.frame(&copy), pool.frame(source));
                        let (start, len) = (copy.start(), copy.len());
                        let output = &mut ports[port % port_count].1;
                        if let Err(error) = output.transmit_pooled(copy, start, len) {
                            pool.release(error.buffer).unwrap();
                        }
                        output.flush();
                    }
                }
                Step::Release { held: pick } if !held.is_empty() => {
                    let buffer = held.swap_remove(pick % held.len());
                    pool.release(buffer).unwrap();
                }
                Step::Complete { port } => {
                    ports[port % port_count].0.process_transmit();
                    ports[port % port_count].1.reclaim_tx();
                }
                Step::Congest { port, on } => {
                    ports[port % port_count].0.state().transmit_on_notify = !on;
                }
                Step::Reset { port } => {
                    ports[port % port_count].1.reset().unwrap();
                }
                Step::Stale { held: pick, port } if !held.is_empty() => {
                    let source = &held[pick % held.len()];
                    let stale = source.forged_copy(source.pool(), source.generation().wrapping_add(1));
                    let (start, len) = (stale.start(), stale.len());
                    let error = ports[port % port_count].1.transmit_pooled(stale, start, len).unwrap_err();
                    prop_assert_eq!(error.kind, TxErrorKind::StaleHandle);
                    prop_assert!(pool.release(error.buffer).is_err());
                }
                Step::Legacy { from, to } => {
                    use netdev::{NetDevice, RxBuffer, forward_by_copy};
                    let (from, to) = (from % port_count, to % port_count);
                    let mut slots: [Option<RxBuffer>; 8] = Default::default();
                    let count = ports[from].1.receive_burst(&mut slots);
                    for slot in slots.iter_mut().take(count) {
                        let buffer = slot.take().unwrap();
                        if from == to {
                            let len = buffer.len();
                            match ports[from].1.rx_into_tx(buffer) {
                                Ok(tx) => {
                                    if let Err(error) = ports[from].1.transmit(tx, len) {
                                        ports[from].1.tx_discard(error.buffer);
                                    }
                                }
                                Err(buffer) => ports[from].1.release(buffer),
                            }
                        } else {
                            let (input, output) = if from < to {
                                let (low, high) = ports.split_at_mut(to);
                                (&mut low[from].1, &mut high[0].1)
                            } else {
                                let (low, high) = ports.split_at_mut(from);
                                (&mut high[0].1, &mut low[to].1)
                            };
                            forward_by_copy(input, buffer, output);
                        }
                    }
                    NetDevice::flush(&mut ports[to].1);
                    NetDevice::flush(&mut ports[from].1);
                }
                _ => {}
            }
            check_accounting(pool, &ports, &held);
        }
        // Wind down: drop what is held, let every device finish, drop every port.
        for buffer in held.drain(..) {
            pool.release(buffer).unwrap();
        }
        for (device, port) in &mut ports {
            device.state().transmit_on_notify = true;
            device.process_transmit();
            port.reclaim_tx();
        }
        check_accounting(pool, &ports, &held);
        ports.clear();
        let occupancy = pool.occupancy();
        prop_assert_eq!(occupancy.free, occupancy.total);
    }
}

#[test]
fn pool_and_ring_sizes_are_what_the_docs_say() {
    // 1024 x 2 KiB buffers + the ledger (6,400 bytes with the lock), padded to 64; the rings of
    // one pooled port (two 256-entry queues and the claim flag).
    const {
        assert!(PacketPool::<1024>::BYTES == 2_103_552);
        assert!(QueueStorage::BYTES == 13_360);
        assert!(core::mem::size_of::<PooledVirtioNet<FakeDevice>>() < 21 * 1024);
    }
}

#[test]
fn the_index_only_netdevice_api_runs_on_pooled_ports() {
    use netdev::{NetDevice, RxBuffer, forward_by_copy};
    let pool = pool();
    let (device_a, mut port_a) = port(pool, 128);
    let (device_b, mut port_b) = port(pool, 128);
    for sequence in 0..3 {
        assert!(device_a.deliver(&frame(sequence, 80)));
    }
    let mut slots: [Option<RxBuffer>; 8] = Default::default();
    assert_eq!(port_a.receive_burst(&mut slots), 3);
    let mut held = slots.iter_mut().filter_map(Option::take);
    let (first, second, third) = (
        held.next().unwrap(),
        held.next().unwrap(),
        held.next().unwrap(),
    );
    assert_eq!(port_a.rx_frame(&first), &frame(0, 80)[..]);
    // The copy baseline between two pooled ports.
    assert!(forward_by_copy(&mut port_a, first, &mut port_b));
    // Hairpin on the same port, then a move to the other port through detach_rx.
    let tx = port_a.rx_into_tx(second).unwrap();
    port_a.transmit(tx, 80).unwrap();
    let moved = port_a.detach_rx(third).unwrap();
    let (start, len) = (moved.start(), moved.len());
    port_b.transmit_pooled(moved, start, len).unwrap();
    NetDevice::flush(&mut port_a);
    NetDevice::flush(&mut port_b);
    assert_eq!(device_a.state().transmitted, [frame(1, 80)]);
    assert_eq!(device_b.state().transmitted, [frame(0, 80), frame(2, 80)]);
    assert_eq!(
        device_b.state().transmitted_addresses[1],
        device_a.state().delivered_addresses[2]
    );
    // Foreign and stale index handles are refused and counted.
    port_b.release(RxBuffer::new(5, 60));
    assert!(port_a.detach_rx(RxBuffer::new(9999, 60)).is_err());
    assert_eq!(port_b.counters().handle_misuse, 1);
    assert_eq!(port_a.counters().handle_misuse, 1);
    // Reservations hold a ring slot; discards and drops give everything back.
    let reserved = port_b.tx_reserve().unwrap();
    let mut kept = port_b.tx_reserve().unwrap();
    assert_eq!(
        port_b.tx_frame_mut(&mut kept).len(),
        crate::net::MAX_FRAME_LEN
    );
    port_b.tx_discard(reserved);
    assert!(NetDevice::tx_capacity(&mut port_b) > 0);
    assert_pool_consistent(pool);
    drop(port_a);
    drop(port_b);
    let occupancy = pool.occupancy();
    assert_eq!(occupancy.free, occupancy.total, "{occupancy:?}");
    drop(kept);
}

#[test]
fn a_flood_copies_for_all_outputs_but_the_last_which_gets_the_original() {
    let pool = pool();
    let (device_in, mut ingress) = port(pool, 64);
    let mut outputs: Vec<(FakeDevice, Port)> = (0..3).map(|_| port(pool, 64)).collect();
    assert!(device_in.deliver(&frame(7, 90)));
    let original = receive_all(&mut ingress).into_iter().next().unwrap();
    let received_at = device_in.state().delivered_addresses[0];
    let last = outputs.len() - 1;
    // Copies are taken from the unedited original, before it moves.
    for (_, output) in &mut outputs[..last] {
        let copy = pool.copy_of(&original).unwrap();
        let (start, len) = (copy.start(), copy.len());
        output.transmit_pooled(copy, start, len).unwrap();
        output.flush();
    }
    let (start, len) = (original.start(), original.len());
    outputs[last]
        .1
        .transmit_pooled(original, start, len)
        .unwrap();
    outputs[last].1.flush();
    for (index, (device, _)) in outputs.iter().enumerate() {
        let state = device.state();
        assert_eq!(state.transmitted, [frame(7, 90)]);
        assert_eq!(state.transmitted_addresses[0] == received_at, index == last);
    }
    for (_, output) in &mut outputs {
        output.reclaim_tx();
    }
    assert_eq!(pool.occupancy().tx_in_flight, 0);
    assert_pool_consistent(pool);
}

#[test]
fn receive_refills_in_batches_of_the_reserve() {
    let pool = pool();
    let (device, mut port) = port(pool, 64);
    assert_eq!(port.port_occupancy().rx_posted, 64);
    let deliver_and_drop = |port: &mut Port, count: u32| {
        for sequence in 0..count {
            assert!(device.deliver(&frame(sequence, 60)));
        }
        for buffer in receive_all(port) {
            pool.release(buffer).unwrap();
        }
    };
    deliver_and_drop(&mut port, 10);
    assert_eq!(
        port.port_occupancy().rx_posted,
        54,
        "10 missing: no refill yet"
    );
    deliver_and_drop(&mut port, 6);
    assert_eq!(port.port_occupancy().rx_posted, 64, "16 missing: one batch");
    assert_pool_consistent(pool);
}

/// A pooled port arms and suppresses its receive interrupt like a NIC with its own pool.
#[test]
fn pooled_receive_interrupt_is_armed_only_for_the_sleep() {
    let pool = pool();
    let (device, mut port) = port(pool, 64);
    let interrupts = || device.state().used_interrupts;
    assert!(device.deliver(&frame(1, 60)));
    assert_eq!(interrupts(), 0);
    assert!(port.receive_pending());
    assert!(port.arm_receive_interrupt());
    for buffer in receive_all(&mut port) {
        pool.release(buffer).unwrap();
    }
    assert!(!port.receive_pending());
    assert!(!port.arm_receive_interrupt());
    assert!(device.deliver(&frame(2, 60)));
    assert_eq!(interrupts(), 1);
    port.suppress_receive_interrupt();
    assert!(device.deliver(&frame(3, 60)));
    assert_eq!(interrupts(), 1);
    for buffer in receive_all(&mut port) {
        pool.release(buffer).unwrap();
    }
    assert_pool_consistent(pool);
}

#[test]
fn a_port_posts_its_whole_ring_or_what_the_device_allows() {
    use crate::pooled::PORT_QUEUE_SIZE;
    // QEMU offers 256 entries: a 256-buffer reserve fills the whole ring.
    let pool = pool();
    let (device, port) = port(pool, PORT_QUEUE_SIZE);
    assert_eq!(port.port_occupancy().rx_posted, 256);
    assert_eq!(device.pending(0), 256);
    drop(port);
    // A device offering 100 entries runs a 64-entry ring; the reserve shrinks to it.
    let device = FakeDevice::qemu_like();
    device.state().queue_max = [100, 100];
    let port = Port::new(device.clone(), queues(), pool, PORT_QUEUE_SIZE).unwrap();
    assert_eq!(port.port_occupancy().reserve, 64);
    assert_eq!(port.port_occupancy().rx_posted, 64);
    assert_eq!(pool.reserve_deficit(), 0);
    assert_pool_consistent(pool);
}

#[test]
fn rx_reserves_take_the_whole_ring_for_two_ports_and_leave_the_spare_for_more() {
    use crate::pool::{POOL_BUFFERS, POOL_SPARE, rx_reserve_per_port};
    assert_eq!(POOL_SPARE, 352);
    let reserves: Vec<usize> = (1..=8).map(rx_reserve_per_port).collect();
    assert_eq!(reserves, [256, 256, 224, 168, 134, 112, 96, 84]);
    assert_eq!(rx_reserve_per_port(0), 256, "no port: no division by zero");
    for ports in 1..=netdev::pool::MAX_POOL_PORTS {
        let reserve = rx_reserve_per_port(ports);
        assert!(
            ports * reserve + POOL_SPARE <= POOL_BUFFERS,
            "{ports} ports"
        );
    }
    // Seven ports, the kernel's most, attach to a real-size pool with these reserves.
    let big = std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| &*Box::leak(Box::new(PacketPool::<POOL_BUFFERS>::new())))
        .unwrap()
        .join()
        .unwrap();
    let reserve = rx_reserve_per_port(7);
    let ports: Vec<_> = (0..7)
        .map(|_| {
            let device = FakeDevice::qemu_like();
            let port = PooledVirtioNet::<FakeDevice, POOL_BUFFERS>::new(
                device.clone(),
                queues(),
                big,
                reserve,
            )
            .unwrap();
            (device, port)
        })
        .collect();
    let occupancy = big.occupancy();
    assert_eq!(occupancy.rx_posted, 7 * 96);
    assert_eq!(occupancy.free as usize, POOL_SPARE);
    drop(ports);
    assert_eq!(big.occupancy().free as usize, POOL_BUFFERS);
}
