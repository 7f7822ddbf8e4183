//! GICv2 and GICv3 interrupt controller drivers (tock-registers)

#![no_std]
#![forbid(unsafe_code)]
