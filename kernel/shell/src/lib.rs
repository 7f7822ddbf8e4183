//! Serial console shell: line editor and command parsing, pure and host-tested

#![no_std]
#![forbid(unsafe_code)]
