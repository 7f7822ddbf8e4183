//! Property tests: the codec never panics and round-trips; under random message loss, delay
//! and reordering the pair never has two actives at one epoch, and with delay and reordering

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]
//! alone (no loss) never two actives at all.

use dpu_ha::{
    Arbiter, ArbiterConfig, Dpu, FailoverRequest, Grant, Heartbeat, Message, Reason, Role, Source,
    alias, decode_frame, encode_frame,
};
use proptest::prelude::*;

fn reason() -> impl Strategy<Value = Option<Reason>> {
    prop_oneof![
        Just(None),
        Just(Some(Reason::Crash)),
        Just(Some(Reason::LinkDown)),
        Just(Some(Reason::User))
    ]
}

fn name() -> impl Strategy<Value = dpu_ha::Alias> {
    "[a-z0-9_.-]{1,16}".prop_map(|s| alias(&s))
}

fn message() -> impl Strategy<Value = Message> {
    let heartbeat = (
        name(),
        1u8..=254,
        prop_oneof![Just(Role::Standby), Just(Role::Active), Just(Role::Refused)],
        any::<u64>(),
        any::<u32>(),
        "[ -~]{1,32}",
        any::<[u8; 32]>(),
        (0u8..8, 0u8..8),
        reason(),
        any::<bool>(),
    )
        .prop_map(
            |(
                alias,
                priority,
                role,
                epoch,
                sequence,
                firmware,
                digest,
                (a, b),
                resign,
                peer_heard,
            )| {
                Message::Heartbeat(Heartbeat {
                    alias,
                    priority,
                    role,
                    epoch,
                    sequence,
                    firmware: firmware.as_str().try_into().unwrap(),
                    config_digest: digest,
                    uplinks_up: a.min(b),
                    uplinks_total: a.max(b),
                    resign,
                    peer_heard,
                })
            },
        );
    let grant = (
        any::<u64>(),
        proptest::option::of(name()),
        reason(),
        proptest::option::of(name()),
        proptest::option::of("[ -~]{1,96}"),
    )
        .prop_map(|(epoch, active, reason, standby_ready, refused)| {
            Message::Grant(Grant {
                epoch,
                active,
                reason,
                standby_ready,
                refused: refused.map(|r| r.as_str().try_into().unwrap()),
            })
        });
    let request = proptest::option::of(name())
        .prop_map(|target| Message::FailoverRequest(FailoverRequest { target }));
    prop_oneof![heartbeat, grant, request]
}

proptest! {
    #[test]
    fn decode_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Message::decode(&bytes);
        let _ = decode_frame(&bytes);
    }

    #[test]
    fn decode_never_panics_on_damaged_messages(
        m in message(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut buf = [0u8; dpu_ha::ENCODED_MAX];
        let n = m.encode(&mut buf).unwrap();
        let mut bytes = buf[..n].to_vec();
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        let _ = Message::decode(&bytes);
        let _ = Message::decode(&bytes[..cut % (n + 1)]);
    }

    #[test]
    fn encode_then_decode_is_identity(m in message()) {
        let mut buf = [0u8; dpu_ha::ENCODED_MAX];
        let n = m.encode(&mut buf).unwrap();
        prop_assert_eq!(Message::decode(&buf[..n]).unwrap(), m.clone());
        // Every shorter buffer is a typed error, not a panic.
        for short in 0..n {
            prop_assert!(m.encode(&mut buf[..short]).is_err());
        }
        let mut frame = [0u8; dpu_ha::ENCODED_MAX + dpu_ha::FRAME_HEADER];
        let f = encode_frame([2, 0, 0, 0, 0, 1], &m, &mut frame).unwrap();
        prop_assert!(f >= 60);
        prop_assert_eq!(decode_frame(&frame[..f]).unwrap(), m);
    }
}

/// One message in flight.
struct Flight {
    at_ms: u64,
    to: Endpoint,
    bytes: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq)]
enum Endpoint {
    Dpu(usize, Source),
    Arbiter(usize),
}

#[derive(Clone, Debug)]
enum Event {
    Nothing,
    Failover(usize),
    UplinksDown(usize),
    UplinksUp(usize),
    Hang(usize),
    Wake(usize),
    Reboot(usize),
    ArbiterFailover,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Nothing),
        1 => (0usize..2).prop_map(Event::Failover),
        1 => (0usize..2).prop_map(Event::UplinksDown),
        1 => (0usize..2).prop_map(Event::UplinksUp),
        1 => (0usize..2).prop_map(Event::Hang),
        1 => (0usize..2).prop_map(Event::Wake),
        1 => (0usize..2).prop_map(Event::Reboot),
        1 => Just(Event::ArbiterFailover),
    ]
}

struct Net {
    now: u64,
    dpus: [Dpu; 2],
    arbiter: Arbiter,
    hung: [bool; 2],
    uplinks: [u8; 2],
    flights: Vec<Flight>,
    rng: u64,
    loss_percent: u64,
    max_delay_ms: u64,
}

impl Net {
    fn random(&mut self) -> u64 {
        // xorshift: deterministic from the proptest seed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    fn send(&mut self, to: Endpoint, message: &Message) {
        if self.random() % 100 < self.loss_percent {
            return;
        }
        let mut buf = [0u8; dpu_ha::ENCODED_MAX];
        let n = message.encode(&mut buf).unwrap();
        let delay = self.random() % (self.max_delay_ms + 1);
        self.flights.push(Flight {
            at_ms: self.now + delay,
            to,
            bytes: buf[..n].to_vec(),
        });
    }

    fn fresh(name: &str, priority: u8, now: u64) -> Dpu {
        let mut c = dpu_ha::DpuConfig::new(alias(name), "0.2.0".try_into().unwrap(), [1; 32]);
        c.priority = priority;
        let mut d = Dpu::new(c, now);
        d.on_uplinks(now, 2, 2);
        d
    }

    fn step(&mut self, event: &Event) {
        self.now += 5;
        let now = self.now;
        match *event {
            Event::Nothing => {}
            Event::Failover(i) => {
                let _ = self.dpus[i].request_failover(now, None);
            }
            Event::UplinksDown(i) => self.uplinks[i] = 0,
            Event::UplinksUp(i) => self.uplinks[i] = 2,
            Event::Hang(i) => self.hung[i] = true,
            Event::Wake(i) => self.hung[i] = false,
            Event::Reboot(i) => {
                self.hung[i] = false;
                let (n, p) = if i == 0 { ("dpu1", 200) } else { ("dpu2", 100) };
                self.dpus[i] = Net::fresh(n, p, now);
            }
            Event::ArbiterFailover => {
                if self
                    .arbiter
                    .on_failover_request(now, &FailoverRequest::default())
                    .is_ok()
                {
                    let g = Message::Grant(self.arbiter.grant(now));
                    self.send(Endpoint::Dpu(0, Source::Host), &g);
                    self.send(Endpoint::Dpu(1, Source::Host), &g);
                }
            }
        }
        // Deliver what is due, in arrival order (reordered by the random delays).
        let mut due: Vec<Flight> = Vec::new();
        let mut i = 0;
        while i < self.flights.len() {
            if self.flights[i].at_ms <= now {
                due.push(self.flights.swap_remove(i));
            } else {
                i += 1;
            }
        }
        due.sort_by_key(|f| f.at_ms);
        for f in due {
            let message = Message::decode(&f.bytes).unwrap();
            match f.to {
                Endpoint::Dpu(d, source) => {
                    if !self.hung[d] {
                        let _ = self.dpus[d].on_message(now, source, &message);
                    }
                }
                Endpoint::Arbiter(from) => {
                    if let Message::Heartbeat(h) = &message
                        && let Ok(g) = self.arbiter.on_heartbeat(now, h)
                    {
                        self.send(Endpoint::Dpu(from, Source::Host), &Message::Grant(g));
                    }
                }
            }
        }
        for d in 0..2 {
            if self.hung[d] {
                continue;
            }
            let up = self.uplinks[d];
            self.dpus[d].on_uplinks(now, up, 2);
            if let Some(h) = self.dpus[d].poll(now) {
                let m = Message::Heartbeat(h);
                self.send(Endpoint::Dpu(1 - d, Source::Link), &m);
                self.send(Endpoint::Arbiter(d), &m);
            }
        }
        if self.arbiter.poll(now) {
            let g = Message::Grant(self.arbiter.grant(now));
            self.send(Endpoint::Dpu(0, Source::Host), &g);
            self.send(Endpoint::Dpu(1, Source::Host), &g);
        }
    }
}

fn run(seed: u64, loss_percent: u64, max_delay_ms: u64, events: &[Event]) -> (usize, usize) {
    let mut net = Net {
        now: 0,
        dpus: [Net::fresh("dpu1", 200, 0), Net::fresh("dpu2", 100, 0)],
        arbiter: Arbiter::new(ArbiterConfig::default()),
        hung: [false; 2],
        uplinks: [2; 2],
        flights: Vec::new(),
        rng: seed | 1,
        loss_percent,
        max_delay_ms,
    };
    let mut two_at_once = 0;
    let mut two_at_one_epoch = 0;
    for event in events {
        // Hold each event for a random stretch so timers run between them.
        let hold = 1 + net.random() % 60;
        net.step(event);
        for _ in 0..hold {
            net.step(&Event::Nothing);
            let [a, b] = &net.dpus;
            let both = a.forwarding() && b.forwarding() && !net.hung[0] && !net.hung[1];
            if both {
                two_at_once += 1;
                if a.epoch() == b.epoch() {
                    two_at_one_epoch += 1;
                }
            }
        }
    }
    (two_at_once, two_at_one_epoch)
}

proptest! {
    // Random seeds, more cases than the default: these once failed one run in a few (a DPU
    // forming alone on a stale view after a stall, a stale grant after a reboot, the arbiter
    // and a DPU minting the same epoch); 20 000 cases of each passed six runs in a row.
    #![proptest_config(ProptestConfig {
        cases: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn never_two_actives_at_one_epoch_under_loss_and_reordering(
        seed in any::<u64>(),
        loss in 0u64..40,
        events in proptest::collection::vec(event(), 1..40),
    ) {
        let (_, at_one_epoch) = run(seed, loss, 30, &events);
        prop_assert_eq!(at_one_epoch, 0);
    }

    #[test]
    fn never_two_actives_under_reordering_without_loss(
        seed in any::<u64>(),
        events in proptest::collection::vec(event(), 1..40),
    ) {
        let (at_once, _) = run(seed, 0, 30, &events);
        prop_assert_eq!(at_once, 0);
    }
}
