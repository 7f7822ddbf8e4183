//! `dpuctl arbiter`: the host's HA arbiter daemon around `dpu_ha::Arbiter`, on UDP 7400.
//!
//! Each DPU heartbeat is answered with the current grant (to the address it came from); a
//! failover request (from a DPU relaying `POST /v1/ha:failover`, or an operator tool) and the
//! arbiter's timers send the new grant to every DPU heard. The state machine is pure; this
//! file is only the socket, the clock and the log lines (in words, one per change).

use crate::out::Out;
use dpu_ha::{Arbiter, ArbiterConfig, ENCODED_MAX, Grant, Message};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Counters of what the daemon saw (printed when it stops).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Heartbeats accepted.
    pub heartbeats: u64,
    /// Failover requests handled (accepted or refused).
    pub failover_requests: u64,
    /// Datagrams that did not decode.
    pub undecodable: u64,
    /// Messages refused by the arbiter (a third DPU, a failover it cannot do).
    pub refused: u64,
    /// Grants sent.
    pub grants_sent: u64,
}

/// The grant in words: `epoch 3: dpu2 active (reason user), dpu1 ready`.
pub fn describe(grant: &Grant) -> String {
    if let Some(refused) = &grant.refused {
        return format!("epoch {}: HA refused: {}", grant.epoch, refused.as_str());
    }
    let mut text = match &grant.active {
        Some(active) => format!("epoch {}: {} active", grant.epoch, active.as_str()),
        None => format!("epoch {}: no DPU active", grant.epoch),
    };
    if let Some(reason) = grant.reason {
        text.push_str(&format!(" (reason {reason})"));
    }
    match &grant.standby_ready {
        Some(standby) => text.push_str(&format!(", {} ready to take over", standby.as_str())),
        None => text.push_str(", no standby ready"),
    }
    text
}

/// The daemon: socket, state machine, the DPUs' addresses.
pub struct Daemon {
    socket: UdpSocket,
    arbiter: Arbiter,
    started: Instant,
    /// (alias, the address its heartbeats come from).
    dpus: Vec<(String, SocketAddr)>,
    last_grant: Option<Grant>,
    failovers_logged: usize,
    last_error: Option<String>,
    /// What it saw.
    pub counters: Counters,
}

impl Daemon {
    /// A daemon on `socket` with the arbiter's timers `config`.
    pub fn new(socket: UdpSocket, config: ArbiterConfig) -> std::io::Result<Self> {
        // Wake at least twice per heartbeat interval to run the timers.
        let tick = u64::from(config.heartbeat_ms.max(2)) / 2;
        socket.set_read_timeout(Some(Duration::from_millis(tick)))?;
        Ok(Self {
            socket,
            arbiter: Arbiter::new(config),
            started: Instant::now(),
            dpus: Vec::new(),
            last_grant: None,
            failovers_logged: 0,
            last_error: None,
            counters: Counters::default(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn send(&mut self, grant: &Grant, to: SocketAddr) {
        let mut buffer = [0u8; ENCODED_MAX];
        if let Ok(length) = Message::Grant(grant.clone()).encode(&mut buffer)
            && self.socket.send_to(&buffer[..length], to).is_ok()
        {
            self.counters.grants_sent += 1;
        }
    }

    fn send_all(&mut self, grant: &Grant) {
        let addresses: Vec<SocketAddr> = self.dpus.iter().map(|(_, address)| *address).collect();
        for address in addresses {
            self.send(grant, address);
        }
    }

    /// Logs an error once until a different one happens (a DPU repeating the same mistake
    /// every 100 ms would otherwise flood the log).
    fn error(&mut self, out: &Out, text: String) {
        if self.last_error.as_deref() != Some(text.as_str()) {
            out.result(&format!("arbiter: {text}"));
            self.last_error = Some(text);
        }
    }

    /// Logs the grant and new failovers when they changed.
    fn log_changes(&mut self, out: &Out) {
        let grant = self.arbiter.grant(self.now_ms());
        if self.last_grant.as_ref() != Some(&grant) {
            out.result(&format!("arbiter: {}", describe(&grant)));
            self.last_grant = Some(grant);
        }
        let records: Vec<String> = self
            .arbiter
            .failovers()
            .iter()
            .skip(self.failovers_logged)
            .map(|record| {
                format!(
                    "arbiter: failover ({}) from {} to {} at epoch {}, {} ms after start",
                    record.reason,
                    if record.from.is_empty() {
                        "nobody"
                    } else {
                        record.from.as_str()
                    },
                    if record.to.is_empty() {
                        "nobody"
                    } else {
                        record.to.as_str()
                    },
                    record.epoch,
                    record.at_ms
                )
            })
            .collect();
        self.failovers_logged += records.len();
        for line in records {
            out.result(&line);
        }
    }

    /// Handles one datagram from `from`.
    pub fn on_datagram(&mut self, bytes: &[u8], from: SocketAddr, out: &Out) {
        let now = self.now_ms();
        match Message::decode(bytes) {
            Ok(Message::Heartbeat(heartbeat)) => {
                let alias = heartbeat.alias.as_str().to_string();
                match self.arbiter.on_heartbeat(now, &heartbeat) {
                    Ok(grant) => {
                        self.counters.heartbeats += 1;
                        match self.dpus.iter_mut().find(|(known, _)| *known == alias) {
                            Some(entry) if entry.1 != from => {
                                out.result(&format!("arbiter: {alias} now heard from {from}"));
                                entry.1 = from;
                            }
                            Some(_) => {}
                            None => {
                                out.result(&format!("arbiter: {alias} heard from {from}"));
                                self.dpus.push((alias, from));
                            }
                        }
                        self.send(&grant, from);
                    }
                    Err(error) => {
                        self.counters.refused += 1;
                        self.error(
                            out,
                            format!("heartbeat of {alias} from {from} refused: {error}"),
                        );
                    }
                }
            }
            Ok(Message::FailoverRequest(request)) => {
                self.counters.failover_requests += 1;
                let target = request
                    .target
                    .as_ref()
                    .map_or("the standby".to_string(), |alias| {
                        alias.as_str().to_string()
                    });
                match self.arbiter.on_failover_request(now, &request) {
                    Ok(grant) => {
                        out.result(&format!(
                            "arbiter: failover to {target} requested from {from}"
                        ));
                        self.send_all(&grant);
                        self.send(&grant, from);
                    }
                    Err(error) => {
                        self.counters.refused += 1;
                        out.result(&format!(
                            "arbiter: failover to {target} requested from {from} refused: {error}"
                        ));
                    }
                }
            }
            Ok(Message::Grant(_)) => {
                self.counters.undecodable += 1;
                self.error(
                    out,
                    format!("a grant from {from}: another arbiter on this network?"),
                );
            }
            Err(error) => {
                self.counters.undecodable += 1;
                self.error(out, format!("undecodable datagram from {from}: {error}"));
            }
        }
        self.log_changes(out);
    }

    /// Runs the timers; sends the grant to every DPU when it changed.
    pub fn tick(&mut self, out: &Out) {
        let now = self.now_ms();
        if self.arbiter.poll(now) {
            let grant = self.arbiter.grant(now);
            self.send_all(&grant);
        }
        self.log_changes(out);
    }

    /// Serves until `stop` is set.
    pub fn serve(&mut self, stop: &AtomicBool, out: &Out) {
        let mut buffer = [0u8; 2048];
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv_from(&mut buffer) {
                Ok((length, from)) => self.on_datagram(&buffer[..length], from, out),
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => self.error(out, format!("receive failed: {error}")),
            }
            self.tick(out);
        }
    }
}

/// `dpuctl arbiter --listen ADDR`: serves until the process is stopped; false if it cannot bind.
pub fn run(listen: &str, out: &Out) -> bool {
    let address = if listen.contains(':') {
        listen.to_string()
    } else {
        format!("{listen}:{}", dpu_ha::UDP_PORT)
    };
    let socket = match UdpSocket::bind(&address) {
        Ok(socket) => socket,
        Err(error) => {
            out.result(&format!("arbiter: cannot listen on UDP {address}: {error}"));
            return false;
        }
    };
    let mut daemon = match Daemon::new(socket, ArbiterConfig::default()) {
        Ok(daemon) => daemon,
        Err(error) => {
            out.result(&format!("arbiter: {error}"));
            return false;
        }
    };
    out.result(&format!(
        "arbiter: listening on UDP {address} (heartbeat {} ms, detect x{})",
        dpu_ha::DEFAULT_HEARTBEAT_MS,
        dpu_ha::DEFAULT_DETECT
    ));
    let stop = AtomicBool::new(false);
    daemon.serve(&stop, out);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpu_ha::{FailoverRequest, Heartbeat, Role, alias};
    use std::sync::Arc;

    fn heartbeat(name: &str, priority: u8, role: Role, epoch: u64, version: &str) -> Heartbeat {
        Heartbeat {
            alias: alias(name),
            priority,
            role,
            epoch,
            sequence: 0,
            firmware: dpu_ha::Version::try_from(version).unwrap(),
            config_digest: [7; 32],
            uplinks_up: 1,
            uplinks_total: 1,
            resign: None,
            peer_heard: true,
        }
    }

    fn encode(message: Message) -> Vec<u8> {
        let mut buffer = [0u8; ENCODED_MAX];
        let length = message.encode(&mut buffer).unwrap();
        buffer[..length].to_vec()
    }

    /// A fake DPU: sends heartbeats every 20 ms, follows the grants it receives.
    struct FakeDpu {
        socket: UdpSocket,
        name: &'static str,
        priority: u8,
        version: &'static str,
        role: Role,
        epoch: u64,
        last_grant: Option<Grant>,
    }

    impl FakeDpu {
        fn new(name: &'static str, priority: u8, version: &'static str) -> Self {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(5)))
                .unwrap();
            Self {
                socket,
                name,
                priority,
                version,
                role: Role::Standby,
                epoch: 0,
                last_grant: None,
            }
        }

        fn step(&mut self, arbiter: SocketAddr) {
            let beat = heartbeat(
                self.name,
                self.priority,
                self.role,
                self.epoch,
                self.version,
            );
            self.socket
                .send_to(&encode(Message::Heartbeat(beat)), arbiter)
                .unwrap();
            let mut buffer = [0u8; 512];
            while let Ok((length, _)) = self.socket.recv_from(&mut buffer) {
                if let Ok(Message::Grant(grant)) = Message::decode(&buffer[..length]) {
                    self.epoch = self.epoch.max(grant.epoch);
                    self.role = if grant.refused.is_some() {
                        Role::Refused
                    } else if grant.active.as_deref() == Some(self.name) {
                        Role::Active
                    } else {
                        Role::Standby
                    };
                    self.last_grant = Some(grant);
                }
            }
        }
    }

    fn start() -> (
        SocketAddr,
        Arc<AtomicBool>,
        Arc<Out>,
        std::thread::JoinHandle<Counters>,
    ) {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let config = ArbiterConfig {
            heartbeat_ms: 20,
            detect: 3,
            form_wait_ms: 500,
        };
        let mut daemon = Daemon::new(socket, config).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let out = Arc::new(Out::quiet());
        let (stop_flag, log) = (stop.clone(), out.clone());
        let thread = std::thread::spawn(move || {
            daemon.serve(&stop_flag, &log);
            daemon.counters.clone()
        });
        (address, stop, out, thread)
    }

    fn run_until(
        dpus: &mut [FakeDpu],
        arbiter: SocketAddr,
        done: impl Fn(&[FakeDpu]) -> bool,
    ) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            for dpu in dpus.iter_mut() {
                dpu.step(arbiter);
            }
            if done(dpus) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn the_pair_forms_and_an_operator_failover_moves_the_active_role() {
        let (address, stop, out, thread) = start();
        let mut dpus = [
            FakeDpu::new("dpu1", 200, "0.1.0+1"),
            FakeDpu::new("dpu2", 100, "0.1.0+1"),
        ];
        assert!(
            run_until(&mut dpus, address, |dpus| dpus[0].role == Role::Active
                && dpus[1].role == Role::Standby),
            "{:?}",
            out.lines()
        );
        let operator = UdpSocket::bind("127.0.0.1:0").unwrap();
        let request = FailoverRequest {
            target: Some(alias("dpu2")),
        };
        operator
            .send_to(&encode(Message::FailoverRequest(request)), address)
            .unwrap();
        assert!(
            run_until(&mut dpus, address, |dpus| dpus[1].role == Role::Active
                && dpus[0].role == Role::Standby),
            "{:?}",
            out.lines()
        );
        // Junk is counted, never fatal.
        operator.send_to(b"not a heartbeat", address).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let counters = thread.join().unwrap();
        assert_eq!(counters.failover_requests, 1);
        assert_eq!(counters.undecodable, 1);
        let lines = out.lines();
        assert!(
            lines.iter().any(|line| line.contains("dpu1 active")),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|line| line.contains("failover (user) from dpu1 to dpu2")),
            "{lines:?}"
        );
        for line in &lines {
            assert!(!readable::is_debug_output(line), "{line}");
        }
    }

    #[test]
    fn different_firmware_is_refused_naming_the_dpu() {
        let (address, stop, out, thread) = start();
        let mut dpus = [
            FakeDpu::new("dpu1", 200, "0.1.0+1"),
            FakeDpu::new("dpu2", 100, "0.2.0+2"),
        ];
        assert!(
            run_until(&mut dpus, address, |dpus| dpus
                .iter()
                .all(|dpu| dpu.role == Role::Refused)),
            "{:?}",
            out.lines()
        );
        let refused = dpus[1]
            .last_grant
            .as_ref()
            .unwrap()
            .refused
            .clone()
            .unwrap();
        assert!(refused.contains("dpu2"), "{refused}");
        stop.store(true, Ordering::Relaxed);
        thread.join().unwrap();
        assert!(out.lines().iter().any(|line| line.contains("HA refused")));
    }
}
