//! `dpuctl`: the host's lifecycle manager for the DPUs in one server (issue 10).
//!
//! Talks to each DPU's management API over its private management network (blocking HTTP/1.1
//! with a bearer token), and to its serial console's unix socket when the API does not answer.
//! Lifecycle operations stay within each DPU's boundary: one can fail while the other succeeds,
//! every result line names the DPU and the reason, and the exit status is non-zero when any
//! DPU failed.

#![forbid(unsafe_code)]

pub mod arbiter;
pub mod cli;
pub mod dpu;
pub mod http;
pub mod lifecycle;
pub mod logs;
pub mod out;
pub mod status;

#[cfg(test)]
mod fake;
#[cfg(test)]
mod tests;

use cli::Command;
use out::Out;

/// Runs `dpuctl` with `arguments` (without the program name); the exit status.
pub fn run(arguments: &[String]) -> i32 {
    let invocation = match cli::parse(arguments, std::env::var("DPUCTL_TOKEN").ok()) {
        Ok(invocation) => invocation,
        Err(error) => {
            eprintln!("dpuctl: {error}\n\n{}", cli::USAGE);
            return 2;
        }
    };
    let out = Out::terminal();
    let timing = lifecycle::Timing::default();
    let dpus = &invocation.dpus;
    let ok = match &invocation.command {
        Command::Help => {
            println!("{}", cli::USAGE);
            true
        }
        Command::Status { json } => status::run(dpus, *json, &out),
        Command::Update { image } => match std::fs::read(image) {
            Ok(bytes) => lifecycle::update(dpus, &bytes, &timing, &out),
            Err(error) => {
                eprintln!("dpuctl: cannot read {}: {error}", image.display());
                return 2;
            }
        },
        Command::Rollback { only } => lifecycle::rollback(dpus, only, &timing, &out),
        Command::Failover { target } => lifecycle::failover(dpus, target.as_deref(), &timing, &out),
        Command::Logs { out: directory } => logs::run(dpus, directory, &out),
        Command::Arbiter { listen } => arbiter::run(listen, &out),
    };
    if ok { 0 } else { 1 }
}
