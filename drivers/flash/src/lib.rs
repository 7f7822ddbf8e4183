//! CFI NOR flash driver (Intel/Sharp command set) for QEMU virt pflash

#![no_std]
#![forbid(unsafe_code)]
