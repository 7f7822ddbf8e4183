//! Host tests: the virtio-net driver against the fake device, queue math, MMIO probing.

extern crate std;

use std::boxed::Box;
use std::format;
use std::vec::Vec;

use netdev::{LinkState, MacAddress, NetDevice, RxBuffer, TxErrorKind};

use crate::fake::{FAKE_MAC, FakeDevice};
use crate::features::{self, FeatureNames};
use crate::mmio::{MmioTransport, ProbeError};
use crate::net::{BUFFER_COUNT, InitError, MAX_FRAME_LEN, NetStorage, QUEUE_SIZE, VirtioNet};
use crate::queue::{QueueError, need_event};
use crate::transport::{interrupt, status};

/// Fresh storage per test, `'static` as the driver requires (as the kernel's statics are).
fn storage() -> &'static NetStorage {
    Box::leak(Box::new(NetStorage::new()))
}

fn frame(sequence: u32, len: usize) -> Vec<u8> {
    let mut bytes = std::vec![0u8; len];
    bytes[..6].copy_from_slice(&[0xff; 6]);
    bytes[6..12].copy_from_slice(&FAKE_MAC);
    bytes[12..14].copy_from_slice(&[0x88, 0xb5]);
    for (offset, byte) in bytes[14..].iter_mut().enumerate() {
        *byte = (sequence as usize + offset) as u8;
    }
    bytes
}

fn assert_pool_consistent<T: crate::transport::Transport>(nic: &VirtioNet<T>) {
    let pool = nic.counters().pool;
    assert_eq!(pool.total, BUFFER_COUNT as u32);
    assert_eq!(pool.accounted(), pool.total, "{pool:?}");
}

fn receive_all<T: crate::transport::Transport>(nic: &mut VirtioNet<T>) -> Vec<RxBuffer> {
    let mut held = Vec::new();
    loop {
        let mut slots: [Option<RxBuffer>; 32] = Default::default();
        let count = nic.receive_burst(&mut slots);
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

#[test]
fn need_event_matches_the_window_definition() {
    // Notify iff `event` lies in [old, new) modulo 2^16; brute force against that definition.
    for old in [0u16, 1, 100, 32767, 32768, 65534, 65535] {
        for distance in [0u16, 1, 2, 255, 256, 32767] {
            let new = old.wrapping_add(distance);
            for event_offset in [0u16, 1, 2, 254, 255, 256, 257, 32768, 65535] {
                let event = old.wrapping_add(event_offset);
                let in_window = event_offset < distance;
                assert_eq!(
                    need_event(event, new, old),
                    in_window,
                    "event {event} new {new} old {old}"
                );
            }
        }
    }
    assert!(need_event(65535, 1, 65534));
    assert!(!need_event(1, 1, 65534));
    assert!(!need_event(5, 5, 5));
}

#[test]
fn bring_up_negotiates_and_declines_offloads() {
    let device = FakeDevice::qemu_like();
    let nic = VirtioNet::new(device.clone(), storage()).unwrap();
    let negotiated = nic.features();
    assert_eq!(
        negotiated.accepted,
        features::F_VERSION_1
            | features::F_EVENT_IDX
            | features::NET_F_MAC
            | features::NET_F_STATUS
    );
    assert_ne!(negotiated.declined() & features::NET_F_CSUM, 0);
    assert_eq!(
        format!("{}", FeatureNames(negotiated.accepted)),
        "NET_F_MAC NET_F_STATUS F_EVENT_IDX F_VERSION_1"
    );
    assert_eq!(nic.mac_address(), MacAddress(FAKE_MAC));
    assert_eq!(nic.link_state(), LinkState::Up);
    assert_eq!(
        nic.pool_id(),
        None,
        "its own pool: buffers never move to another NIC"
    );
    assert_eq!(nic.queue_sizes(), (QUEUE_SIZE as u16, QUEUE_SIZE as u16));
    let state = device.state();
    assert_eq!(
        state.status,
        status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK | status::DRIVER_OK
    );
    assert_eq!(
        state.notifications,
        [1, 0],
        "one kick for the initial receive buffers"
    );
    drop(state);
    assert_eq!(device.pending(0), QUEUE_SIZE as u16);
    assert_eq!(nic.counters().pool.rx_posted, QUEUE_SIZE as u32);
    assert_pool_consistent(&nic);
}

#[test]
fn small_device_queue_runs_at_a_smaller_power_of_two() {
    let device = FakeDevice::qemu_like();
    device.state().queue_max = [100, 3];
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    assert_eq!(nic.queue_sizes(), (64, 2));
    // Event slots then sit inside the rings; traffic still flows across several wraps.
    for sequence in 0..300 {
        assert!(device.deliver(&frame(sequence, 60)));
        let held = receive_all(&mut nic);
        assert_eq!(held.len(), 1);
        let tx = nic.rx_into_tx(held.into_iter().next().unwrap()).unwrap();
        nic.transmit(tx, 60).unwrap();
        nic.flush();
    }
    assert_eq!(device.state().transmitted.len(), 300);
    assert_eq!(device.state().used_interrupts, 0);
}

#[test]
fn legacy_and_empty_slots_are_refused_by_probe() {
    let mut registers = Box::new([0u32; 128]);
    registers[0] = crate::mmio::MAGIC;
    registers[1] = 1;
    registers[2] = 0;
    let registers = Box::leak(registers);
    let base = core::ptr::NonNull::from(&mut registers[0]).cast::<u8>();
    // SAFETY: a leaked, never-freed block standing in for the register window; only reads.
    let transport = unsafe { MmioTransport::new(base) };
    assert_eq!(
        transport.probe(),
        Err(ProbeError::EmptySlot),
        "empty slots say version 1 too"
    );
    // SAFETY: same block, still alive; the test only writes before the next probe.
    unsafe { base.cast::<u32>().add(2).write_volatile(1) };
    assert_eq!(transport.probe(), Err(ProbeError::Legacy));
    assert!(format!("{}", ProbeError::Legacy).contains("-global virtio-mmio.force-legacy=false"));
    // SAFETY: as above.
    unsafe { base.cast::<u32>().add(1).write_volatile(2) };
    assert_eq!(transport.probe(), Ok(1));
    // SAFETY: as above; config space starts at word 64 (0x100).
    unsafe {
        base.cast::<u32>()
            .add(64)
            .write_volatile(u32::from_le_bytes([0x52, 0x54, 0x00, 0x12]))
    };
    use crate::transport::Transport;
    assert_eq!(transport.read_config_u8(1), 0x54);
    assert_eq!(transport.read_config_u16(2), 0x1200);
    assert_eq!(
        transport.read_config_u16(1),
        0,
        "unaligned 16-bit config reads are refused"
    );
    // SAFETY: as above.
    unsafe { base.cast::<u32>().write_volatile(0x1234) };
    assert_eq!(transport.probe(), Err(ProbeError::BadMagic(0x1234)));
}

#[test]
fn device_without_version_1_is_refused() {
    let device = FakeDevice::new(features::NET_F_MAC);
    let storage = storage();
    let error = VirtioNet::new(device.clone(), storage).err().unwrap();
    assert_eq!(
        error,
        InitError::NoVersion1 {
            offered: features::NET_F_MAC
        }
    );
    assert!(format!("{error}").contains("force-legacy=false"));
    assert_ne!(device.state().status & status::FAILED, 0);
    assert!(!storage.is_claimed());
}

#[test]
fn refused_features_ok_is_reported() {
    let device = FakeDevice::qemu_like();
    device.state().refuse_features = true;
    let storage = storage();
    let error = VirtioNet::new(device.clone(), storage).err().unwrap();
    assert!(matches!(error, InitError::FeaturesRefused { .. }));
    assert_ne!(device.state().status & status::FAILED, 0);
    assert!(!storage.is_claimed());
}

#[test]
fn zero_queue_size_is_reported() {
    let device = FakeDevice::qemu_like();
    device.state().queue_max = [256, 0];
    let error = VirtioNet::new(device, storage()).err().unwrap();
    assert_eq!(error, InitError::QueueUnavailable { queue: 1 });
}

#[test]
fn wrong_device_and_shared_storage_are_refused() {
    let storage = storage();
    let empty = FakeDevice::qemu_like();
    empty.state().device_id = 0;
    assert_eq!(
        VirtioNet::new(empty, storage).err(),
        Some(InitError::NotNetwork { device_id: 0 })
    );
    let device = FakeDevice::qemu_like();
    let nic = VirtioNet::new(device.clone(), storage).unwrap();
    assert_eq!(
        VirtioNet::new(FakeDevice::qemu_like(), storage).err(),
        Some(InitError::StorageInUse)
    );
    drop(nic);
    assert_eq!(
        device.state().status,
        0,
        "dropping the driver resets the device"
    );
    assert!(!storage.is_claimed());
    assert!(VirtioNet::new(FakeDevice::qemu_like(), storage).is_ok());
}

/// Runs `total` frames through receive and transmit in bursts of 32, checking every byte.
fn run_traffic(device: &FakeDevice, nic: &mut VirtioNet<FakeDevice>, total: u32, hairpin: bool) {
    let mut sent = 0u32;
    let mut checked = 0u32;
    let mut bursts = 0u64;
    while sent < total {
        let burst = 32.min(total - sent);
        for sequence in sent..sent + burst {
            assert!(
                device.deliver(&frame(sequence, 60 + (sequence as usize % 1400))),
                "ring ran dry at {sequence}"
            );
        }
        sent += burst;
        let mut slots: [Option<RxBuffer>; 32] = Default::default();
        let count = nic.receive_burst(&mut slots);
        assert_eq!(count, burst as usize);
        for slot in slots.iter_mut().take(count) {
            let buffer = slot.take().unwrap();
            let expected = frame(checked, 60 + (checked as usize % 1400));
            assert_eq!(nic.rx_frame(&buffer), &expected[..]);
            checked += 1;
            let len = buffer.len();
            if hairpin {
                let tx = nic.rx_into_tx(buffer).unwrap();
                nic.transmit(tx, len).unwrap();
            } else {
                let mut tx = nic.tx_reserve().unwrap();
                nic.tx_frame_mut(&mut tx)[..len].copy_from_slice(&expected);
                nic.release(buffer);
                nic.transmit(tx, len).unwrap();
            }
        }
        nic.flush();
        bursts += 1;
        let transmitted: Vec<Vec<u8>> = device.state().transmitted.drain(..).collect();
        assert_eq!(transmitted.len(), count);
        assert_pool_consistent(nic);
    }
    let counters = nic.counters();
    assert!(
        counters.notifications <= 2 * bursts + 1,
        "at most one kick per queue per burst"
    );
    assert_eq!(
        device.state().used_interrupts,
        0,
        "the driver polls: no used-buffer interrupts"
    );
}

#[test]
fn indices_wrap_past_65536_with_event_index() {
    let device = FakeDevice::qemu_like();
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    let total = 70_000;
    run_traffic(&device, &mut nic, total, true);
    let counters = nic.counters();
    assert_eq!(
        (counters.rx_packets, counters.tx_packets),
        (u64::from(total), u64::from(total))
    );
    assert_eq!(counters.rx_bytes, counters.tx_bytes);
    assert_eq!(
        counters.rx_drop_device_error + counters.tx_device_error + counters.handle_misuse,
        0
    );
    // Everything comes back: reclaim the last transmits, then only free and posted remain.
    assert_eq!(nic.tx_capacity(), QUEUE_SIZE);
    let pool = nic.counters().pool;
    assert_eq!(
        (pool.rx_held, pool.tx_reserved, pool.tx_in_flight),
        (0, 0, 0)
    );
    assert_eq!(pool.free + pool.rx_posted, BUFFER_COUNT as u32);
}

#[test]
fn indices_wrap_past_65536_without_event_index() {
    let device = FakeDevice::new(features::F_VERSION_1 | features::NET_F_MAC);
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    assert_eq!(
        nic.link_state(),
        LinkState::Up,
        "no STATUS feature: link assumed up"
    );
    run_traffic(&device, &mut nic, 66_000, false);
    assert_eq!(nic.counters().tx_packets, 66_000);
}

/// Below `SIZE` entries the device's `avail_event` sits in the first two bytes of used element
/// `size`, which the driver reads as the low half of that element's first word: the kicks
/// follow it exactly as they do at full size.
#[test]
fn event_index_suppression_on_a_smaller_queue() {
    let device = FakeDevice::qemu_like();
    device.state().queue_max = [100, 8];
    device.state().transmit_on_notify = false;
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    assert_eq!(nic.queue_sizes(), (64, 8));
    let send = |nic: &mut VirtioNet<FakeDevice>, count: usize| {
        for _ in 0..count {
            let mut tx = nic.tx_reserve().unwrap();
            nic.tx_frame_mut(&mut tx)[..60].copy_from_slice(&frame(0, 60));
            nic.transmit(tx, 60).unwrap();
        }
        nic.flush();
    };
    send(&mut nic, 3);
    assert_eq!(device.state().notifications[1], 1, "three frames, one kick");
    send(&mut nic, 2);
    assert_eq!(device.state().notifications[1], 1, "avail_event still 0");
    assert_eq!(device.process_transmit(), 5);
    // The device wrote avail_event = 5 inside the used ring: the next frame crosses it.
    send(&mut nic, 1);
    assert_eq!(device.state().notifications[1], 2);
    send(&mut nic, 1);
    assert_eq!(
        device.state().notifications[1],
        2,
        "not consumed yet: no kick"
    );
}

#[test]
fn one_notification_per_burst_and_event_index_suppression() {
    let device = FakeDevice::qemu_like();
    device.state().transmit_on_notify = false;
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    let send = |nic: &mut VirtioNet<FakeDevice>, count: usize| {
        for _ in 0..count {
            let mut tx = nic.tx_reserve().unwrap();
            nic.tx_frame_mut(&mut tx)[..60].copy_from_slice(&frame(0, 60));
            nic.transmit(tx, 60).unwrap();
        }
        nic.flush();
    };
    send(&mut nic, 10);
    assert_eq!(device.state().notifications[1], 1, "ten frames, one kick");
    // The device has not consumed yet (avail_event still 0): it will see these anyway.
    send(&mut nic, 5);
    assert_eq!(device.state().notifications[1], 1);
    assert_eq!(device.process_transmit(), 15);
    // Device caught up and asked to hear about the next buffer.
    send(&mut nic, 1);
    assert_eq!(device.state().notifications[1], 2);
    nic.flush();
    assert_eq!(device.state().notifications[1], 2, "nothing new: no kick");
    // A device that negotiated EVENT_IDX but never moves avail_event gets no more kicks until
    // the index wraps to it; the driver follows the spec rather than guessing.
    device.state().honour_event_index = false;
    device.process_transmit();
    send(&mut nic, 3);
    assert_eq!(device.state().notifications[1], 2);
    assert_eq!(device.pending(1), 3);
}

#[test]
fn pool_exhaustion_and_return_keep_counters_exact() {
    let device = FakeDevice::qemu_like();
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    let mut held = Vec::new();
    let mut sequence = 0;
    while device.deliver(&frame(sequence, 100)) {
        sequence += 1;
        held.extend(receive_all(&mut nic));
    }
    assert_eq!(
        held.len(),
        BUFFER_COUNT,
        "every buffer ends up held by the caller"
    );
    let pool = nic.counters().pool;
    assert_eq!(
        (pool.rx_held, pool.free, pool.rx_posted),
        (BUFFER_COUNT as u32, 0, 0)
    );
    assert!(nic.tx_reserve().is_none());
    assert_eq!(nic.counters().tx_drop_no_room, 1);
    assert_eq!(nic.tx_capacity(), 0);
    for buffer in held.drain(..) {
        nic.release(buffer);
    }
    assert_eq!(nic.counters().pool.free, BUFFER_COUNT as u32);
    // The next burst refills the ring in one batch, with one kick.
    let kicks = device.state().notifications[0];
    assert_eq!(receive_all(&mut nic).len(), 0);
    assert_eq!(device.state().notifications[0], kicks + 1);
    assert_eq!(nic.counters().pool.rx_posted, QUEUE_SIZE as u32);
    // Transmit side: reservations stop at the ring size, then come back on discard.
    let reserved: Vec<_> = (0..QUEUE_SIZE).map(|_| nic.tx_reserve().unwrap()).collect();
    assert!(nic.tx_reserve().is_none());
    for buffer in reserved {
        nic.tx_discard(buffer);
    }
    assert_pool_consistent(&nic);
    assert_eq!(nic.counters().pool.free, (BUFFER_COUNT - QUEUE_SIZE) as u32);
    // Forged or stale handles are refused and counted.
    nic.release(RxBuffer::new(0, 60));
    nic.release(RxBuffer::new(9999, 60));
    assert_eq!(nic.counters().handle_misuse, 2);
}

#[test]
fn bad_lengths_are_dropped_by_reason_and_failed_transmit_returns_the_buffer() {
    let device = FakeDevice::qemu_like();
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    assert!(device.deliver(&[0u8; 10]));
    assert!(device.deliver(&frame(1, MAX_FRAME_LEN + 1)));
    assert!(device.deliver(&frame(2, MAX_FRAME_LEN)));
    let held = receive_all(&mut nic);
    assert_eq!(held.len(), 1);
    let counters = nic.counters();
    assert_eq!((counters.rx_drop_runt, counters.rx_drop_oversized), (1, 1));
    nic.release(held.into_iter().next().unwrap());
    let tx = nic.tx_reserve().unwrap();
    let error = nic.transmit(tx, MAX_FRAME_LEN + 1).unwrap_err();
    assert_eq!(error.kind, TxErrorKind::TooLong);
    let error = nic.transmit(error.buffer, 13).unwrap_err();
    assert_eq!(error.kind, TxErrorKind::TooShort);
    nic.transmit(error.buffer, 14).unwrap();
    assert_eq!(nic.counters().tx_drop_bad_length, 2);
    assert_pool_consistent(&nic);
}

#[test]
fn misbehaving_device_is_counted_never_trusted() {
    let device = FakeDevice::qemu_like();
    device.state().transmit_on_notify = false;
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    // One transmit in flight (descriptor 0), so one used entry is plausible on TX.
    let tx = nic.tx_reserve().unwrap();
    nic.transmit(tx, 60).unwrap();
    // Used id out of range, then a used id that is in range but not in flight on TX.
    device.push_bogus_used(0, 5000, 60);
    device.push_bogus_used(1, 3, 0);
    assert_eq!(receive_all(&mut nic).len(), 0);
    assert_eq!(
        nic.last_error(),
        Some(QueueError::UsedIdOutOfRange { id: 5000 })
    );
    assert_eq!(
        nic.tx_capacity(),
        QUEUE_SIZE - 1,
        "the real transmit is still in flight"
    );
    assert_eq!(
        nic.last_error(),
        Some(QueueError::UsedIdNotPosted { id: 3 })
    );
    assert_eq!(device.process_transmit(), 1);
    assert_eq!(nic.tx_capacity(), QUEUE_SIZE);
    // A length beyond the posted buffer: dropped, the buffer reclaimed.
    assert!(device.deliver_with_length(&frame(0, 60), Some(4096)));
    assert_eq!(receive_all(&mut nic).len(), 0);
    assert!(matches!(
        nic.last_error(),
        Some(QueueError::UsedLengthTooLarge { length: 4096, .. })
    ));
    // A used id given back twice: the second is refused.
    let posted_id = {
        assert!(device.deliver(&frame(1, 60)));
        let held = receive_all(&mut nic);
        assert_eq!(held.len(), 1);
        nic.release(held.into_iter().next().unwrap());
        // The fake consumed descriptors in order; the last used element names it.
        let state = device.state();
        let queue = state.queues[0];
        let element = queue.used + 4 + 8 * u64::from(queue.used_index.wrapping_sub(1) % queue.size);
        // SAFETY: inside the used ring the driver gave the fake; read-only.
        unsafe { (element as *const u32).read_volatile() }
    };
    device.push_bogus_used(0, posted_id, 60);
    assert_eq!(receive_all(&mut nic).len(), 0);
    assert_eq!(
        nic.last_error(),
        Some(QueueError::UsedIdNotPosted { id: posted_id })
    );
    // The used index leaps ahead of what is in flight.
    device.jump_used_index(0, 1000);
    assert_eq!(receive_all(&mut nic).len(), 0);
    assert!(matches!(
        nic.last_error(),
        Some(QueueError::UsedIndexJump { claimed: 1000, .. })
    ));
    let errors = nic.device_errors();
    assert_eq!(
        (
            errors.used_id_out_of_range,
            errors.used_id_not_posted,
            errors.used_length_too_large,
            errors.used_index_jump
        ),
        (1, 2, 1, 1)
    );
    let counters = nic.counters();
    assert_eq!(
        (counters.rx_drop_device_error, counters.tx_device_error),
        (4, 1)
    );
    assert_eq!(counters.rx_packets, 1);
    assert_pool_consistent(&nic);
    // After all that the NIC still moves frames.
    assert!(device.deliver(&frame(9, 64)));
    assert_eq!(receive_all(&mut nic).len(), 1);
}

#[test]
fn config_change_updates_link_and_acknowledges() {
    let device = FakeDevice::qemu_like();
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    device.set_link(false);
    assert_eq!(
        nic.link_state(),
        LinkState::Up,
        "nothing changes until the kernel asks"
    );
    assert_eq!(nic.config_changed(), LinkState::Down);
    assert_eq!(
        device.state().interrupt_status & interrupt::CONFIG_CHANGE,
        0
    );
    device.set_link(true);
    assert_eq!(nic.config_changed(), LinkState::Up);
    assert_eq!(nic.config_changed(), LinkState::Up);
    assert_eq!(nic.counters().link_changes, 2);
}

#[test]
fn storage_size_is_what_the_docs_say() {
    // 256 x 2 KiB pool + two 128-entry queues (3,344 bytes each) + flag, padded to 64:
    // 531,008 bytes per NIC, 4.05 MiB for 8 NICs.
    const {
        assert!(NetStorage::BYTES == 531_008);
        assert!(core::mem::size_of::<VirtioNet<FakeDevice>>() < 8 * 1024);
    }
}

#[test]
fn reset_recovers_from_a_used_index_jump_and_returns_stranded_buffers() {
    let device = FakeDevice::qemu_like();
    device.state().transmit_on_notify = false;
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    for _ in 0..5 {
        let mut tx = nic.tx_reserve().unwrap();
        nic.tx_frame_mut(&mut tx)[..60].copy_from_slice(&frame(0, 60));
        nic.transmit(tx, 60).unwrap();
    }
    let kept = nic.tx_reserve().unwrap();
    device.jump_used_index(1, 900);
    assert_eq!(
        nic.tx_capacity(),
        QUEUE_SIZE - 6,
        "the jump strands what was in flight"
    );
    assert_eq!(nic.counters().pool.tx_in_flight, 5);
    nic.reset().unwrap();
    let pool = nic.counters().pool;
    assert_eq!(
        (pool.tx_in_flight, pool.tx_reserved, pool.rx_posted),
        (0, 1, QUEUE_SIZE as u32)
    );
    assert_pool_consistent(&nic);
    // The reserved buffer survives; traffic flows again on both rings.
    device.state().transmit_on_notify = true;
    nic.transmit(kept, 60).unwrap();
    nic.flush();
    assert_eq!(device.state().transmitted.len(), 1);
    assert!(device.deliver(&frame(1, 60)));
    let held = receive_all(&mut nic);
    assert_eq!(held.len(), 1);
    nic.release(held.into_iter().next().unwrap());
    assert_pool_consistent(&nic);
}

/// The receive interrupt armed before the loop sleeps, with and without EVENT_IDX: silent while
/// polling, one interrupt for the next frame once armed, silent again after the frame is taken
/// or the loop suppresses it; a frame already waiting when arming says "do not sleep".
#[test]
fn receive_interrupt_is_armed_only_for_the_sleep() {
    for offered in [
        features::F_VERSION_1 | features::F_EVENT_IDX | features::NET_F_MAC,
        features::F_VERSION_1 | features::NET_F_MAC,
    ] {
        let device = FakeDevice::new(offered);
        let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
        let names = FeatureNames(offered);
        let interrupts = || device.state().used_interrupts;
        // Polling: frames raise no interrupt.
        assert!(device.deliver(&frame(1, 60)));
        assert_eq!(interrupts(), 0, "{names}");
        assert!(nic.receive_pending());
        // A frame already waiting: arming says so (the loop must not sleep on it).
        assert!(nic.arm_receive_interrupt(), "{names}");
        for buffer in receive_all(&mut nic) {
            nic.release(buffer);
        }
        assert!(!nic.receive_pending());
        // Taking the frame suppressed the interrupt again.
        assert!(device.deliver(&frame(2, 60)));
        assert_eq!(interrupts(), 0, "{names}");
        for buffer in receive_all(&mut nic) {
            nic.release(buffer);
        }
        // Armed with nothing waiting: the next frame interrupts, once.
        assert!(!nic.arm_receive_interrupt(), "{names}");
        assert!(device.deliver(&frame(3, 60)));
        assert_eq!(interrupts(), 1, "{names}");
        assert_ne!(device.state().interrupt_status & interrupt::USED_BUFFER, 0);
        // Woken: the loop suppresses, and further frames are silent until the next sleep.
        nic.suppress_receive_interrupt();
        assert!(device.deliver(&frame(4, 60)));
        assert_eq!(interrupts(), 1, "{names}");
        for buffer in receive_all(&mut nic) {
            nic.release(buffer);
        }
        // Armed, then suppressed without a frame (woken by something else): still silent.
        assert!(!nic.arm_receive_interrupt());
        nic.suppress_receive_interrupt();
        assert!(device.deliver(&frame(5, 60)));
        assert_eq!(interrupts(), 1, "{names}");
        assert_pool_consistent(&nic);
    }
}

/// `used_event` is parked half the index space ahead only now and then (not at every used
/// buffer): across several wraps of the 16-bit used index the device never reaches it, so a
/// polling driver gets no interrupt, and arming still works afterwards.
#[test]
fn polling_across_used_index_wraps_raises_no_interrupt() {
    let device = FakeDevice::qemu_like();
    let mut nic = VirtioNet::new(device.clone(), storage()).unwrap();
    let mut delivered = 0u32;
    while delivered < 3 * 65_536 + 123 {
        for _ in 0..16 {
            assert!(device.deliver(&frame(delivered, 60)));
            delivered += 1;
        }
        for buffer in receive_all(&mut nic) {
            nic.release(buffer);
        }
    }
    assert_eq!(device.state().used_interrupts, 0);
    assert!(!nic.arm_receive_interrupt());
    assert!(device.deliver(&frame(0, 60)));
    assert_eq!(device.state().used_interrupts, 1);
    assert_pool_consistent(&nic);
}
