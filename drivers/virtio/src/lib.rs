//! virtio-mmio transport, split virtqueues and the virtio-net driver
//!
//! Layers, bottom up:
//! - [`mmio`]: the virtio-mmio register block (modern, version 2), probing, interrupt acknowledge;
//! - [`transport`]: the [`Transport`] trait the driver runs on (MMIO, or a fake device in tests);
//! - [`queue`]: split virtqueues with event-index notification suppression, checking every
//!   used entry the device writes;
//! - [`features`]: feature bits, the accept/decline policy, a name formatter for logs;
//! - [`net`]: the virtio-net driver, implementing [`netdev::NetDevice`] over its own pool;
//! - [`pool`], [`pooled`]: a packet pool shared by data ports, and the driver's pooled mode
//!   that moves buffers between ports without copying (see the `netdev` crate's contract).
//!
//! Kernel usage, per `virtio,mmio` device-tree node:
//! ```text
//! static STORAGE: [NetStorage; 8] = [const { NetStorage::new() }; 8];
//! let transport = unsafe { MmioTransport::new(base) }; // SAFETY: from the DTB, mapped
//! match transport.probe() {
//!     Ok(virtio::net::NET_DEVICE_ID) => { let nic = VirtioNet::new(transport, &STORAGE[n])?; }
//!     Ok(_other) | Err(ProbeError::EmptySlot) => {}
//!     Err(error) => log!("{error}"),
//! }
//! ```
//! Data ports that forward to each other without copying share one pool instead:
//! ```text
//! static POOL: PacketPool = PacketPool::new();
//! static QUEUES: [QueueStorage; 7] = [const { QueueStorage::new() }; 7];
//! let reserve = virtio::pool::rx_reserve_per_port(data_ports);
//! let port = PooledVirtioNet::new(transport, &QUEUES[n], &POOL, reserve)?;
//! // receive(&mut burst) on one port, POOL.frame/buffer_mut to decide and edit,
//! // transmit_pooled(buffer, start, len) on another, flush() once per pass.
//! ```
//! Memory must be identity-mapped and the device DMA-coherent (true on QEMU `virt`): buffer
//! addresses are given to the device as they are.

#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod features;
pub mod mmio;
pub mod net;
pub mod pool;
pub mod pooled;
pub mod queue;
pub mod transport;

/// The fake device, also for host tests of crates above (feature `test-support`).
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
#[cfg(test)]
mod pooled_tests;
#[cfg(test)]
mod tests;

pub use features::{FeatureNames, Negotiated};
pub use mmio::{MmioInterrupt, MmioTransport, ProbeError};
pub use net::{DeviceErrors, InitError, NetStorage, VirtioNet};
pub use pool::{POOL_BUFFERS, PacketPool};
pub use pooled::{PORT_QUEUE_SIZE, PooledInitError, PooledVirtioNet, QueueStorage, TxBurst};
pub use queue::QueueError;
pub use transport::Transport;
