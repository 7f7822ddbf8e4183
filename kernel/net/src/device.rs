//! The one smoltcp `phy::Device` adapter over any netdev NIC.
//!
//! smoltcp's interface consumes a transmit token *inside* the receive token's closure (to answer
//! a ping, say), so both tokens need the NIC at once. The adapter therefore copies each received
//! frame into a scratch buffer and releases the NIC buffer at once; the transmit token then has
//! the NIC to itself and builds the frame straight into a reserved NIC buffer. One copy per
//! received management frame is the price of staying free of `unsafe` and of the heap; the data
//! ports never pass through here.
//!
//! Frames are queued without a notification; the owner calls [`NetDevice::flush`] once per poll
//! (as [`crate::MgmtStack::poll`] does).

use crate::screen::FrameDrops;
use netdev::{NetDevice, RxBuffer};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest Ethernet frame smoltcp builds (1500-byte MTU + 14-byte header; no VLAN tag).
pub const ETHERNET_MTU: usize = 1514;
/// Bytes of each scratch buffer: the largest frame a NIC may deliver (with one VLAN tag).
pub const SCRATCH_LEN: usize = 1518;

/// The adapter's copy buffers and its own drop counter. Keep one per adapter, in static storage.
#[derive(Debug)]
pub struct Scratch {
    rx: [u8; SCRATCH_LEN],
    tx: [u8; SCRATCH_LEN],
    rx_len: usize,
    /// Frames smoltcp built that could not be queued (NIC full, or longer than it takes).
    pub tx_dropped: u64,
    /// Received frames longer than the scratch buffer (not delivered to smoltcp).
    pub rx_dropped: u64,
    /// Received frames screened out as malformed or foreign (see `screen`).
    pub screened: FrameDrops,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    /// Empty scratch buffers.
    pub const fn new() -> Self {
        Self {
            rx: [0; SCRATCH_LEN],
            tx: [0; SCRATCH_LEN],
            rx_len: 0,
            tx_dropped: 0,
            rx_dropped: 0,
            screened: FrameDrops {
                runt: 0,
                unknown_ethertype: 0,
                bad_ipv4_header: 0,
                bad_ipv4_checksum: 0,
                bad_transport_checksum: 0,
            },
        }
    }
}

/// A smoltcp device over a borrowed NIC; make one per poll.
pub struct NicAdapter<'a, N: NetDevice + ?Sized> {
    nic: &'a mut N,
    scratch: &'a mut Scratch,
}

impl<'a, N: NetDevice + ?Sized> NicAdapter<'a, N> {
    /// Wraps `nic`, with `scratch` for received frames and for transmits that cannot be queued.
    pub fn new(nic: &'a mut N, scratch: &'a mut Scratch) -> Self {
        Self { nic, scratch }
    }

    /// The NIC, e.g. to flush it after the interface polled.
    pub fn nic(&mut self) -> &mut N {
        self.nic
    }

    /// Moves one received frame into the scratch buffer; false if none is waiting.
    fn take_frame(&mut self) -> bool {
        loop {
            let mut slot: [Option<RxBuffer>; 1] = [None];
            if self.nic.receive_burst(&mut slot) == 0 {
                return false;
            }
            let [Some(buffer)] = slot else { return false };
            let frame = self.nic.rx_frame(&buffer);
            let mut fits = frame.len() <= SCRATCH_LEN && !frame.is_empty();
            if let Err(reason) = crate::screen::screen(frame) {
                self.scratch.screened.count(reason);
                fits = false;
            } else if fits {
                self.scratch.rx[..frame.len()].copy_from_slice(frame);
                self.scratch.rx_len = frame.len();
            } else {
                self.scratch.rx_dropped += 1;
            }
            self.nic.release(buffer);
            if fits {
                return true;
            }
        }
    }
}

/// Receive token: a frame already copied out of the NIC.
pub struct RxToken<'a> {
    frame: &'a [u8],
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.frame)
    }
}

/// Transmit token: reserves a NIC buffer when consumed.
pub struct TxToken<'a, N: NetDevice + ?Sized> {
    nic: &'a mut N,
    fallback: &'a mut [u8; SCRATCH_LEN],
    dropped: &'a mut u64,
}

impl<N: NetDevice + ?Sized> phy::TxToken for TxToken<'_, N> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        if let Some(mut buffer) = self.nic.tx_reserve() {
            let area = self.nic.tx_frame_mut(&mut buffer);
            if len <= area.len() {
                let result = f(&mut area[..len]);
                if let Err(error) = self.nic.transmit(buffer, len) {
                    *self.dropped += 1;
                    self.nic.tx_discard(error.buffer);
                }
                return result;
            }
            self.nic.tx_discard(buffer);
        }
        // No room: smoltcp still needs somewhere to build the frame; it is then dropped (and
        // retransmitted by TCP, or re-sent by the ping/DHCP timers).
        *self.dropped += 1;
        let len = len.min(SCRATCH_LEN);
        f(&mut self.fallback[..len])
    }
}

impl<N: NetDevice + ?Sized> phy::Device for NicAdapter<'_, N> {
    type RxToken<'b>
        = RxToken<'b>
    where
        Self: 'b;
    type TxToken<'b>
        = TxToken<'b, N>
    where
        Self: 'b;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if !self.take_frame() {
            return None;
        }
        let Scratch {
            rx,
            tx,
            rx_len,
            tx_dropped,
            ..
        } = &mut *self.scratch;
        Some((
            RxToken {
                frame: &rx[..*rx_len],
            },
            TxToken {
                nic: &mut *self.nic,
                fallback: tx,
                dropped: tx_dropped,
            },
        ))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        if self.nic.tx_capacity() == 0 {
            return None;
        }
        let Scratch { tx, tx_dropped, .. } = &mut *self.scratch;
        Some(TxToken {
            nic: &mut *self.nic,
            fallback: tx,
            dropped: tx_dropped,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut capabilities = DeviceCapabilities::default();
        capabilities.medium = Medium::Ethernet;
        capabilities.max_transmission_unit = ETHERNET_MTU.min(self.nic.max_frame_len());
        // The NIC negotiates no checksum offload: smoltcp computes and verifies all checksums.
        capabilities
    }
}
