//! An in-memory NIC for host tests of the layers above the driver boundary.
//!
//! [`FakeNic`] keeps the same buffer rules as a real driver (a pool of `BUFFERS` buffers of
//! `FRAME` bytes, linear handles, exact occupancy counters) but its "wire" is the test: frames
//! arrive with [`FakeNic::inject`] and leave with [`FakeNic::take_transmitted`]. [`wire`] moves
//! frames between two fakes, so two stacks can talk in one process.

use crate::{
    Counters, ETHERNET_HEADER_LEN, LinkState, MacAddress, NetDevice, PoolOccupancy, RxBuffer,
    TxBuffer, TxError, TxErrorKind,
};

/// Where one buffer of the fake's pool is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BufferState {
    Free,
    /// Injected, waiting for `receive_burst`.
    RxPending,
    RxHeld,
    TxReserved,
    /// Transmitted, waiting for the test to take it off the wire.
    TxSent,
}

/// A first-in first-out queue of pool indices with room for the whole pool.
#[derive(Debug)]
struct IndexQueue<const CAPACITY: usize> {
    slots: [u16; CAPACITY],
    head: usize,
    len: usize,
}

impl<const CAPACITY: usize> IndexQueue<CAPACITY> {
    const fn new() -> Self {
        Self {
            slots: [0; CAPACITY],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, index: u16) -> bool {
        if self.len == CAPACITY {
            return false;
        }
        self.slots[(self.head + self.len) % CAPACITY] = index;
        self.len += 1;
        true
    }

    fn pop(&mut self) -> Option<u16> {
        if self.len == 0 {
            return None;
        }
        let index = self.slots[self.head];
        self.head = (self.head + 1) % CAPACITY;
        self.len -= 1;
        Some(index)
    }
}

/// An in-memory NIC: `BUFFERS` buffers of `FRAME` bytes each.
#[derive(Debug)]
pub struct FakeNic<const BUFFERS: usize, const FRAME: usize> {
    mac: MacAddress,
    link: LinkState,
    data: [[u8; FRAME]; BUFFERS],
    lengths: [u16; BUFFERS],
    states: [BufferState; BUFFERS],
    received: IndexQueue<BUFFERS>,
    transmitted: IndexQueue<BUFFERS>,
    counters: Counters,
    unflushed: usize,
}

impl<const BUFFERS: usize, const FRAME: usize> FakeNic<BUFFERS, FRAME> {
    const SIZES_OK: () = assert!(
        BUFFERS > 0
            && BUFFERS <= u16::MAX as usize
            && FRAME >= ETHERNET_HEADER_LEN
            && FRAME <= u16::MAX as usize
    );

    /// A fake NIC with the given MAC, link up, all buffers free.
    pub const fn new(mac: MacAddress) -> Self {
        let () = Self::SIZES_OK;
        Self {
            mac,
            link: LinkState::Up,
            data: [[0; FRAME]; BUFFERS],
            lengths: [0; BUFFERS],
            states: [BufferState::Free; BUFFERS],
            received: IndexQueue::new(),
            transmitted: IndexQueue::new(),
            counters: Counters {
                rx_packets: 0,
                rx_bytes: 0,
                tx_packets: 0,
                tx_bytes: 0,
                rx_drop_oversized: 0,
                rx_drop_runt: 0,
                rx_drop_device_error: 0,
                tx_drop_bad_length: 0,
                tx_drop_no_room: 0,
                tx_device_error: 0,
                handle_misuse: 0,
                notifications: 0,
                link_changes: 0,
                pool: PoolOccupancy {
                    total: 0,
                    free: 0,
                    rx_posted: 0,
                    rx_held: 0,
                    tx_reserved: 0,
                    tx_in_flight: 0,
                },
            },
            unflushed: 0,
        }
    }

    /// Sets the link state (counted as a change if it differs).
    pub fn set_link(&mut self, link: LinkState) {
        if self.link != link {
            self.counters.link_changes += 1;
        }
        self.link = link;
    }

    /// Delivers a frame from the wire; `false` (counted) if it is a runt, too long, or the pool
    /// is empty.
    pub fn inject(&mut self, frame: &[u8]) -> bool {
        if frame.len() < ETHERNET_HEADER_LEN {
            self.counters.rx_drop_runt += 1;
            return false;
        }
        if frame.len() > FRAME {
            self.counters.rx_drop_oversized += 1;
            return false;
        }
        let Some(index) = self.find(BufferState::Free) else {
            return false;
        };
        self.data[index][..frame.len()].copy_from_slice(frame);
        // Lengths fit: FRAME <= u16::MAX is asserted.
        self.lengths[index] = frame.len() as u16;
        self.states[index] = BufferState::RxPending;
        self.received.push(index as u16)
    }

    /// Takes the oldest transmitted (and flushed or not) frame off the wire into `out`, returning
    /// its length, or `None` if nothing was sent. A frame longer than `out` is truncated.
    pub fn take_transmitted(&mut self, out: &mut [u8]) -> Option<usize> {
        let index = usize::from(self.transmitted.pop()?);
        let len = usize::from(self.lengths[index]).min(out.len());
        out[..len].copy_from_slice(&self.data[index][..len]);
        self.states[index] = BufferState::Free;
        Some(len)
    }

    /// Number of flushes that had something to announce.
    pub fn flushes(&self) -> u64 {
        self.counters.notifications
    }

    fn find(&self, state: BufferState) -> Option<usize> {
        self.states.iter().position(|candidate| *candidate == state)
    }

    fn state_of(&self, index: u16) -> Option<BufferState> {
        self.states.get(usize::from(index)).copied()
    }

    fn occupancy(&self) -> PoolOccupancy {
        let mut pool = PoolOccupancy {
            total: BUFFERS as u32,
            ..PoolOccupancy::default()
        };
        for state in &self.states {
            match state {
                BufferState::Free => pool.free += 1,
                BufferState::RxPending => pool.rx_posted += 1,
                BufferState::RxHeld => pool.rx_held += 1,
                BufferState::TxReserved => pool.tx_reserved += 1,
                BufferState::TxSent => pool.tx_in_flight += 1,
            }
        }
        pool
    }
}

impl<const BUFFERS: usize, const FRAME: usize> NetDevice for FakeNic<BUFFERS, FRAME> {
    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link_state(&self) -> LinkState {
        self.link
    }

    fn counters(&self) -> Counters {
        Counters {
            pool: self.occupancy(),
            ..self.counters
        }
    }

    fn max_frame_len(&self) -> usize {
        FRAME
    }

    fn receive_burst(&mut self, frames: &mut [Option<RxBuffer>]) -> usize {
        let mut count = 0;
        for slot in frames.iter_mut() {
            let Some(index) = self.received.pop() else {
                break;
            };
            let len = self.lengths[usize::from(index)];
            self.states[usize::from(index)] = BufferState::RxHeld;
            self.counters.rx_packets += 1;
            self.counters.rx_bytes += u64::from(len);
            *slot = Some(RxBuffer::new(index, len));
            count += 1;
        }
        count
    }

    fn rx_frame(&self, buffer: &RxBuffer) -> &[u8] {
        match self.state_of(buffer.index()) {
            Some(BufferState::RxHeld) => {
                let index = usize::from(buffer.index());
                &self.data[index][..usize::from(self.lengths[index])]
            }
            _ => &[],
        }
    }

    fn release(&mut self, buffer: RxBuffer) {
        match self.state_of(buffer.index()) {
            Some(BufferState::RxHeld) => {
                self.states[usize::from(buffer.index())] = BufferState::Free
            }
            _ => self.counters.handle_misuse += 1,
        }
    }

    fn tx_capacity(&mut self) -> usize {
        self.states
            .iter()
            .filter(|state| **state == BufferState::Free)
            .count()
    }

    fn tx_reserve(&mut self) -> Option<TxBuffer> {
        match self.find(BufferState::Free) {
            Some(index) => {
                self.states[index] = BufferState::TxReserved;
                Some(TxBuffer::new(index as u16))
            }
            None => {
                self.counters.tx_drop_no_room += 1;
                None
            }
        }
    }

    fn tx_frame_mut(&mut self, buffer: &mut TxBuffer) -> &mut [u8] {
        match self.state_of(buffer.index()) {
            Some(BufferState::TxReserved) => &mut self.data[usize::from(buffer.index())][..],
            _ => &mut [],
        }
    }

    fn transmit(&mut self, buffer: TxBuffer, len: usize) -> Result<(), TxError> {
        let kind = if self.state_of(buffer.index()) != Some(BufferState::TxReserved) {
            self.counters.handle_misuse += 1;
            TxErrorKind::NotReserved
        } else if len > FRAME {
            self.counters.tx_drop_bad_length += 1;
            TxErrorKind::TooLong
        } else if len < ETHERNET_HEADER_LEN {
            self.counters.tx_drop_bad_length += 1;
            TxErrorKind::TooShort
        } else {
            let index = usize::from(buffer.index());
            self.states[index] = BufferState::TxSent;
            self.lengths[index] = len as u16;
            self.transmitted.push(buffer.index());
            self.counters.tx_packets += 1;
            self.counters.tx_bytes += len as u64;
            self.unflushed += 1;
            return Ok(());
        };
        Err(TxError { kind, buffer })
    }

    fn tx_discard(&mut self, buffer: TxBuffer) {
        match self.state_of(buffer.index()) {
            Some(BufferState::TxReserved) => {
                self.states[usize::from(buffer.index())] = BufferState::Free
            }
            _ => self.counters.handle_misuse += 1,
        }
    }

    fn flush(&mut self) {
        if self.unflushed > 0 {
            self.counters.notifications += 1;
            self.unflushed = 0;
        }
    }

    fn rx_into_tx(&mut self, buffer: RxBuffer) -> Result<TxBuffer, RxBuffer> {
        match self.state_of(buffer.index()) {
            Some(BufferState::RxHeld) => {
                self.states[usize::from(buffer.index())] = BufferState::TxReserved;
                Ok(TxBuffer::new(buffer.index()))
            }
            _ => Err(buffer),
        }
    }
}

/// Moves every transmitted frame of `a` into `b` and of `b` into `a`; returns how many moved.
/// Frames the receiver cannot take are dropped (and counted by the receiver).
pub fn wire<const BUFFERS: usize, const FRAME: usize>(
    a: &mut FakeNic<BUFFERS, FRAME>,
    b: &mut FakeNic<BUFFERS, FRAME>,
) -> usize {
    let mut frame = [0u8; FRAME];
    let mut moved = 0;
    while let Some(len) = a.take_transmitted(&mut frame) {
        b.inject(&frame[..len]);
        moved += 1;
    }
    while let Some(len) = b.take_transmitted(&mut frame) {
        a.inject(&frame[..len]);
        moved += 1;
    }
    moved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward_by_copy;

    type Nic = FakeNic<4, 64>;

    fn frame(fill: u8, len: usize) -> [u8; 64] {
        let mut bytes = [fill; 64];
        bytes[len..].fill(0);
        bytes
    }

    #[test]
    fn receive_release_keeps_pool_exact() {
        let mut nic = Nic::new(MacAddress([2, 0, 0, 0, 0, 1]));
        assert!(nic.inject(&frame(1, 20)[..20]));
        assert!(nic.inject(&frame(2, 30)[..30]));
        let mut slots = [None, None, None];
        assert_eq!(nic.receive_burst(&mut slots), 2);
        assert_eq!(nic.counters().pool.rx_held, 2);
        let first = slots[0].take().unwrap();
        assert_eq!(nic.rx_frame(&first).len(), 20);
        assert_eq!(nic.rx_frame(&first)[0], 1);
        nic.release(first);
        nic.release(slots[1].take().unwrap());
        let counters = nic.counters();
        assert_eq!(counters.pool.free, 4);
        assert_eq!(counters.pool.accounted(), counters.pool.total);
        assert_eq!(counters.rx_bytes, 50);
        // A forged handle for a free buffer is refused and counted.
        nic.release(RxBuffer::new(0, 20));
        assert_eq!(nic.counters().handle_misuse, 1);
    }

    #[test]
    fn runt_and_oversized_are_dropped_by_reason() {
        let mut nic = Nic::new(MacAddress::default());
        assert!(!nic.inject(&[0; 10]));
        assert!(!nic.inject(&[0; 65]));
        let counters = nic.counters();
        assert_eq!((counters.rx_drop_runt, counters.rx_drop_oversized), (1, 1));
    }

    #[test]
    fn failed_transmit_hands_buffer_back_and_reserve_stops_at_pool_size() {
        let mut nic = Nic::new(MacAddress::default());
        let error = nic.transmit(
            nic_reserve(&mut FakeNic::<4, 64>::new(MacAddress::default())),
            20,
        );
        // A handle from another NIC whose buffer 0 is free here: refused.
        let error = error.unwrap_err();
        assert_eq!(error.kind, TxErrorKind::NotReserved);
        let tx = nic.tx_reserve().unwrap();
        let error = nic.transmit(tx, 100).unwrap_err();
        assert_eq!(error.kind, TxErrorKind::TooLong);
        nic.transmit(error.buffer, 20).unwrap();
        let _held: [TxBuffer; 3] = [
            nic.tx_reserve().unwrap(),
            nic.tx_reserve().unwrap(),
            nic.tx_reserve().unwrap(),
        ];
        assert!(nic.tx_reserve().is_none());
        assert_eq!(nic.counters().tx_drop_no_room, 1);
        nic.flush();
        nic.flush();
        assert_eq!(nic.flushes(), 1);
    }

    fn nic_reserve(nic: &mut Nic) -> TxBuffer {
        nic.tx_reserve().unwrap()
    }

    #[test]
    fn forward_by_copy_and_wire() {
        let mut a = Nic::new(MacAddress([2, 0, 0, 0, 0, 1]));
        let mut b = Nic::new(MacAddress([2, 0, 0, 0, 0, 2]));
        let mut c = Nic::new(MacAddress([2, 0, 0, 0, 0, 3]));
        assert!(a.inject(&frame(7, 40)[..40]));
        let mut slots = [None];
        assert_eq!(a.receive_burst(&mut slots), 1);
        assert!(forward_by_copy(&mut a, slots[0].take().unwrap(), &mut b));
        assert_eq!(a.counters().pool.free, 4);
        assert_eq!(wire(&mut b, &mut c), 1);
        assert_eq!(c.receive_burst(&mut slots), 1);
        let buffer = slots[0].take().unwrap();
        assert_eq!(c.rx_frame(&buffer), &frame(7, 40)[..40]);
        // Hairpin: same buffer back out of c.
        let tx = c.rx_into_tx(buffer).unwrap();
        c.transmit(tx, 40).unwrap();
        let mut out = [0u8; 64];
        assert_eq!(c.take_transmitted(&mut out), Some(40));
        assert_eq!(c.counters().pool.free, 4);
    }
}
