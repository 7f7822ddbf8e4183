//! Boot-state records, bank selection, MCUboot image format and a NOR simulator

#![no_std]
#![forbid(unsafe_code)]
