//! The one smoltcp Device adapter over a netdev NIC, and the management interface
//!
//! - [`device`]: [`NicAdapter`], smoltcp's `phy::Device` over any [`netdev::NetDevice`];
//! - [`names`]: which NIC is `mgmt0` and which are `port1`..`port7`;
//! - [`config`]: [`MgmtConfig`] from the kernel command line (`mgmt.ip=`, `mgmt.gw=`);
//! - [`stack`]: [`MgmtStack`], interface + sockets (DHCP, ping, TCP service) in static storage;
//! - [`http`]: the management HTTP server ([`dpu_mgmt::HttpServer`]) as that TCP service.
//!
//! Only the management NIC comes here; data ports belong to the switch.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod config;
pub mod device;
pub mod http;
pub mod names;
pub mod screen;
pub mod stack;

pub use config::{ConfigError, ConfigErrorKind, MgmtConfig};
pub use device::{NicAdapter, Scratch};
pub use names::{MAX_NICS, NIC_NAMES, order_nics, role_of};
pub use screen::{DropReason, FrameDrops};
pub use smoltcp;
pub use stack::{
    MgmtStack, MgmtStorage, PingError, SendStatus, StackEvent, TcpBuffers, TcpService, UdpCounters,
    UdpError,
};
