//! The console's `ping`, fed by the poll loop: replies print as they arrive, a summary at the end.
//!
//! The echo requests, their timing and the matching of replies are `dpu_net`'s ping client
//! (`MgmtStack::start_ping`); this is the console side. `ping` starts it and returns: each pass
//! of the loop polls the stack as always, and the ping events of that poll come here
//! ([`Ping::on_event`]), so the switch, HTTP, updates and the health window keep running while
//! a ping does. Ctrl-C (the shell checks for it while a ping runs) ends it with the summary.

use crate::println;
use dpu_net::StackEvent;
use dpu_net::smoltcp::wire::Ipv4Address;

/// A console ping in progress: its target and round-trip statistics.
pub struct Ping {
    target: Ipv4Address,
    minimum: u64,
    maximum: u64,
    total: u64,
    replies: u64,
}

impl Ping {
    /// Prints the header line of a ping that has just started.
    pub fn started(target: Ipv4Address) -> Ping {
        println!(
            "PING {}: {} data bytes",
            target,
            dpu_net::stack::PING_PAYLOAD
        );
        Ping {
            target,
            minimum: u64::MAX,
            maximum: 0,
            total: 0,
            replies: 0,
        }
    }

    /// One event of the stack's poll: prints replies and timeouts; at the end the summary.
    /// Returns true when the ping is over.
    pub fn on_event(&mut self, event: &StackEvent) -> bool {
        match *event {
            StackEvent::PingReply {
                from,
                sequence,
                rtt,
                bytes,
            } => {
                let micros = rtt.total_micros();
                self.minimum = self.minimum.min(micros);
                self.maximum = self.maximum.max(micros);
                self.total = self.total.saturating_add(micros);
                self.replies += 1;
                println!(
                    "{} bytes from {}: icmp_seq={} time={}.{:03} ms",
                    bytes,
                    from,
                    sequence,
                    micros / 1000,
                    micros % 1000
                );
                false
            }
            StackEvent::PingTimeout { sequence } => {
                println!("no reply: icmp_seq={}", sequence);
                false
            }
            StackEvent::PingDone { sent, received } => {
                self.summary(sent, received);
                true
            }
            _ => false,
        }
    }

    /// Prints the statistics (at the end, or after Ctrl-C with what was sent so far).
    pub fn summary(&self, sent: u16, received: u16) {
        let loss = if sent == 0 {
            0
        } else {
            u32::from(sent - received.min(sent)) * 100 / u32::from(sent)
        };
        println!("--- {} ping statistics ---", self.target);
        println!(
            "{} packets transmitted, {} received, {}% packet loss",
            sent, received, loss
        );
        if let Some(average) = self.total.checked_div(self.replies) {
            println!(
                "rtt min/avg/max = {}.{:03}/{}.{:03}/{}.{:03} ms",
                self.minimum / 1000,
                self.minimum % 1000,
                average / 1000,
                average % 1000,
                self.maximum / 1000,
                self.maximum % 1000
            );
        }
    }
}
