//! PL011 UART register-level driver (tock-registers)

#![no_std]
#![forbid(unsafe_code)]
