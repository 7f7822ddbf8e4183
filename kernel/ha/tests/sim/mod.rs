//! A virtual-clock world for the HA tests: two DPUs, an optional host arbiter, and the two
//! paths between them (DPU-to-DPU link, DPU-to-host), each of which can be cut. Messages go
//! through the codec, so the tests exercise the bytes too.

#![allow(dead_code)]
#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use dpu_ha::{Arbiter, ArbiterConfig, Dpu, DpuConfig, Message, Reason, Role, Source, alias};

pub const STEP_MS: u64 = 5;

pub fn config(name: &str, priority: u8, firmware: &str) -> DpuConfig {
    let mut c = DpuConfig::new(alias(name), firmware.try_into().unwrap(), [7; 32]);
    c.priority = priority;
    c
}

fn roundtrip(message: &Message) -> Message {
    let mut buf = [0u8; dpu_ha::ENCODED_MAX];
    let n = message.encode(&mut buf).unwrap();
    Message::decode(&buf[..n]).unwrap()
}

pub struct World {
    pub now: u64,
    pub dpus: [Option<Dpu>; 2],
    pub arbiter: Option<Arbiter>,
    pub link_up: bool,
    pub host_path: [bool; 2],
    pub hung: [bool; 2],
    pub uplinks: [(u8, u8); 2],
    /// Set when two DPUs were ever active at once.
    pub two_active_seen: bool,
}

impl World {
    pub fn new(with_host: bool) -> Self {
        let mut w = World {
            now: 0,
            dpus: [
                Some(Dpu::new(config("dpu1", 200, "0.2.0"), 0)),
                Some(Dpu::new(config("dpu2", 100, "0.2.0"), 0)),
            ],
            arbiter: with_host.then(|| Arbiter::new(ArbiterConfig::default())),
            link_up: true,
            host_path: [with_host, with_host],
            hung: [false, false],
            uplinks: [(2, 2), (2, 2)],
            two_active_seen: false,
        };
        for i in 0..2 {
            let (up, total) = w.uplinks[i];
            w.dpu(i).on_uplinks(0, up, total);
        }
        w
    }

    pub fn dpu(&mut self, i: usize) -> &mut Dpu {
        self.dpus[i].as_mut().unwrap()
    }

    pub fn role(&self, i: usize) -> Role {
        self.dpus[i]
            .as_ref()
            .map(|d| d.role())
            .unwrap_or(Role::Standby)
    }

    pub fn forwarding(&self, i: usize) -> bool {
        self.dpus[i].as_ref().is_some_and(|d| d.forwarding())
    }

    pub fn actives(&self) -> usize {
        (0..2).filter(|&i| self.forwarding(i)).count()
    }

    /// Replaces DPU `i` with a fresh boot (a reset after a crash).
    pub fn reboot(&mut self, i: usize, config: DpuConfig) {
        self.hung[i] = false;
        let mut d = Dpu::new(config, self.now);
        let (up, total) = self.uplinks[i];
        d.on_uplinks(self.now, up, total);
        self.dpus[i] = Some(d);
    }

    /// Delivers one heartbeat of DPU `from` on the paths that are up.
    pub fn deliver_heartbeat(&mut self, from: usize, message: &Message) {
        let other = 1 - from;
        let now = self.now;
        if self.link_up && !self.hung[other] {
            let m = roundtrip(message);
            if let Some(d) = self.dpus[other].as_mut() {
                let _ = d.on_message(now, Source::Link, &m);
            }
        }
        if self.host_path[from]
            && let Some(arbiter) = self.arbiter.as_mut()
            && let Message::Heartbeat(h) = roundtrip(message)
            && let Ok(grant) = arbiter.on_heartbeat(now, &h)
        {
            let g = roundtrip(&Message::Grant(grant));
            if let Some(d) = self.dpus[from].as_mut() {
                let _ = d.on_message(now, Source::Host, &g);
            }
        }
    }

    pub fn broadcast_grant(&mut self) {
        let now = self.now;
        let Some(arbiter) = self.arbiter.as_ref() else {
            return;
        };
        let g = roundtrip(&Message::Grant(arbiter.grant(now)));
        for i in 0..2 {
            if self.host_path[i]
                && !self.hung[i]
                && let Some(d) = self.dpus[i].as_mut()
            {
                let _ = d.on_message(now, Source::Host, &g);
            }
        }
    }

    pub fn step(&mut self) {
        self.now += STEP_MS;
        let now = self.now;
        for i in 0..2 {
            if self.hung[i] {
                continue;
            }
            let (up, total) = self.uplinks[i];
            let Some(d) = self.dpus[i].as_mut() else {
                continue;
            };
            d.on_uplinks(now, up, total);
            if let Some(h) = d.poll(now) {
                self.deliver_heartbeat(i, &Message::Heartbeat(h));
            }
        }
        if let Some(arbiter) = self.arbiter.as_mut()
            && arbiter.poll(now)
        {
            self.broadcast_grant();
        }
        if self.actives() > 1 {
            self.two_active_seen = true;
        }
    }

    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms / STEP_MS {
            self.step();
        }
    }

    /// Runs until `done` holds or `ms` passed; returns the time it took.
    pub fn run_until(&mut self, ms: u64, done: impl Fn(&World) -> bool) -> Option<u64> {
        let start = self.now;
        for _ in 0..ms / STEP_MS {
            self.step();
            if done(self) {
                return Some(self.now - start);
            }
        }
        None
    }

    /// The panic path: DPU `i` sends its prepared resign and stops (until rebooted).
    pub fn panic(&mut self, i: usize) {
        let now = self.now;
        let h = self.dpu(i).resign_heartbeat(Reason::Crash, now);
        self.hung[i] = true;
        self.dpus[i] = None;
        self.deliver_heartbeat(i, &Message::Heartbeat(h));
    }
}
