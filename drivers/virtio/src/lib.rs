//! virtio-mmio transport, split virtqueues and the virtio-net driver

#![no_std]
#![forbid(unsafe_code)]
