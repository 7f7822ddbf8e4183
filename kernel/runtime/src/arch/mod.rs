//! Architecture layer: only aarch64 today.

pub mod aarch64;
