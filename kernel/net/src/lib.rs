//! The one smoltcp Device adapter over a netdev NIC, and the management interface
//!
//! - [`device`]: [`NicAdapter`], smoltcp's `phy::Device` over any [`netdev::NetDevice`];
//! - [`config`]: [`MgmtConfig`] from the kernel command line (`mgmt.ip=`, `mgmt.gw=`);
//! - [`stack`]: [`MgmtStack`], interface + sockets (DHCP, ping, TCP service) in static storage;
//! - [`http`]: the management HTTP server ([`dpu_mgmt::HttpServer`]) as that TCP service.
//!
//! Only the management NIC comes here; data ports belong to the switch.

#![no_std]
#![forbid(unsafe_code)]

pub mod config;
pub mod device;
pub mod http;
pub mod screen;
pub mod stack;

pub use config::{ConfigError, ConfigErrorKind, MgmtConfig};
pub use device::{NicAdapter, Scratch};
pub use screen::{DropReason, FrameDrops};
pub use smoltcp;
pub use stack::{MgmtStack, MgmtStorage, PingError, SendStatus, StackEvent, TcpService};
