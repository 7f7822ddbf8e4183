//! The one smoltcp Device adapter over a netdev NIC, and the management interface

#![no_std]
#![forbid(unsafe_code)]
