//! Boundary trait every NIC driver implements: burst rx/tx over fixed pools, link, MAC

#![no_std]
#![forbid(unsafe_code)]
