//! A fake fleet of DPU HTTP servers on loopback for the tests: the API resources `dpuctl` uses,
//! boot banks, trials that commit (or fail their health check and roll back), reboots that
//! take the API away for a while, and an HA pair whose failover moves the active role.

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The token every fake DPU takes.
pub const TOKEN: &str = "fake-operator-token-0123456789";

/// One boot bank.
#[derive(Debug, Clone)]
pub struct Bank {
    pub version: String,
    pub state: &'static str,
}

/// One fake DPU's state.
#[derive(Debug)]
pub struct State {
    pub alias: String,
    pub banks: [Bank; 2],
    pub running: usize,
    pub staged: Option<usize>,
    pub rollback_requested: bool,
    pub trial: bool,
    pub boot_number: u64,
    pub booted_at: Instant,
    pub last_boot: String,
    /// `active`, `standby` or `disabled` (no HA: `/v1/ha` is 404).
    pub role: String,
    pub epoch: u64,
    /// The verdict of the next upload's verification: `None` accepts it.
    pub upload_refusal: Option<String>,
    /// A trial that fails its health check (resets and falls back to the committed bank).
    pub trial_fails: bool,
    pub reboot_takes: Duration,
    pub commit_after: Duration,
    pub down_until: Option<Instant>,
    /// Between an accepted reboot and the reset: every request is 503 with `Retry-After`,
    /// as the kernel answers while its reset is scheduled.
    pub going_down_until: Option<Instant>,
    /// What to do when `down_until` passes: boot the staged (or rolled back) bank.
    pending_boot: bool,
    pub task: Option<Value>,
    /// False: the API closes every connection unanswered (a hung management stack).
    pub api_answers: bool,
}

impl State {
    fn version(&self) -> &str {
        &self.banks[self.running].version
    }
}

/// A fleet of fake DPUs (shared so a failover on one changes the other).
pub struct Fleet {
    pub states: Arc<Mutex<Vec<State>>>,
    pub log: Arc<Mutex<Vec<String>>>,
    pub addresses: Vec<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Fleet {
    /// DPUs `aliases[i]` running `version` from bank A, committed; the first active when `ha`.
    pub fn start(aliases: &[&str], version: &str, ha: bool) -> Self {
        let states: Vec<State> = aliases
            .iter()
            .enumerate()
            .map(|(index, alias)| State {
                alias: alias.to_string(),
                banks: [
                    Bank {
                        version: version.into(),
                        state: "committed",
                    },
                    Bank {
                        version: String::new(),
                        state: "empty",
                    },
                ],
                running: 0,
                staged: None,
                rollback_requested: false,
                trial: false,
                boot_number: 1,
                booted_at: Instant::now(),
                last_boot: "power-on".into(),
                role: if !ha {
                    "disabled".into()
                } else if index == 0 {
                    "active".into()
                } else {
                    "standby".into()
                },
                epoch: 1,
                upload_refusal: None,
                trial_fails: false,
                reboot_takes: Duration::from_millis(150),
                commit_after: Duration::from_millis(150),
                down_until: None,
                going_down_until: None,
                pending_boot: false,
                task: None,
                api_answers: true,
            })
            .collect();
        let states = Arc::new(Mutex::new(states));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut addresses = Vec::new();
        let mut threads = Vec::new();
        for index in 0..aliases.len() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            addresses.push(listener.local_addr().unwrap().to_string());
            let (states, log, stop) = (states.clone(), log.clone(), stop.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, index, &states, &log),
                        Err(_) => std::thread::sleep(Duration::from_millis(2)),
                    }
                }
            }));
        }
        Self {
            states,
            log,
            addresses,
            stop,
            threads,
        }
    }

    /// Changes DPU `index`'s state.
    pub fn with<R>(&self, index: usize, change: impl FnOnce(&mut State) -> R) -> R {
        let mut states = self.states.lock().unwrap();
        change(&mut states[index])
    }

    /// The requests that changed something (`alias METHOD PATH`), in order.
    pub fn actions(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(" POST "))
            .cloned()
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Boots what is pending once the reboot's time is up; commits or fails a trial.
fn advance(state: &mut State) {
    let now = Instant::now();
    if let Some(until) = state.down_until {
        if now < until {
            return;
        }
        state.down_until = None;
        if state.pending_boot {
            state.pending_boot = false;
            state.boot_number += 1;
            state.booted_at = now;
            if state.role != "disabled" {
                state.role = "standby".into();
            }
            if let Some(staged) = state.staged.take() {
                state.running = staged;
                state.trial = true;
                state.banks[staged].state = "trial";
            } else if state.rollback_requested {
                state.rollback_requested = false;
                state.running = 1 - state.running;
                state.trial = false;
            }
        }
    }
    if state.trial && now.duration_since(state.booted_at) >= state.commit_after {
        let trial = state.running;
        if state.trial_fails {
            // The health check failed: reset, fall back to the committed bank.
            state.banks[trial].state = "bad";
            state.running = 1 - trial;
            state.trial = false;
            state.boot_number += 1;
            state.booted_at = now;
            state.last_boot = format!(
                "after fallback from bank {} to bank {} (health check)",
                letter(trial),
                letter(1 - trial)
            );
            state.down_until = Some(now + state.reboot_takes);
        } else {
            state.trial = false;
            state.banks[trial].state = "committed";
            state.banks[1 - trial].state = "superseded";
        }
    }
}

fn letter(bank: usize) -> &'static str {
    if bank == 0 { "A" } else { "B" }
}

fn serve(
    mut stream: TcpStream,
    index: usize,
    states: &Mutex<Vec<State>>,
    log: &Mutex<Vec<String>>,
) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    {
        let mut states = states.lock().unwrap();
        let state = &mut states[index];
        advance(state);
        let going_down = state
            .going_down_until
            .is_some_and(|until| Instant::now() < until);
        if (state.down_until.is_some() && !going_down) || !state.api_answers {
            // Rebooting: the connection closes without an answer.
            return;
        }
    }
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break position;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(count) => buffer.extend_from_slice(&chunk[..count]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_string();
    let mut words = request_line.split(' ');
    let method = words.next().unwrap_or_default().to_string();
    let path = words.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut authorized = false;
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
        if name.eq_ignore_ascii_case("authorization") && value.trim() == format!("Bearer {TOKEN}") {
            authorized = true;
        }
    }
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(count) => body.extend_from_slice(&chunk[..count]),
        }
    }
    let mut states = states.lock().unwrap();
    log.lock()
        .unwrap()
        .push(format!("{} {method} {path}", states[index].alias));
    let going_down = states[index]
        .going_down_until
        .is_some_and(|until| Instant::now() < until);
    let (status, answer) = if going_down {
        (
            503,
            problem(
                503,
                "unavailable",
                "a reboot is under way; retry after Retry-After seconds",
            ),
        )
    } else if path == "/healthz" {
        (
            200,
            json!({"status": "ok", "version": states[index].version(), "git": "fake", "uptime_ms": 1, "nics": []}),
        )
    } else if !authorized {
        (
            401,
            problem(401, "unauthorized", "a bearer token is needed"),
        )
    } else {
        route(&mut states, index, &method, &path, &body)
    };
    drop(states);
    let text = if answer.is_null() {
        String::new()
    } else {
        answer.to_string()
    };
    let content_type = if status >= 400 {
        "application/problem+json"
    } else {
        "application/json"
    };
    // `/v1/system` goes out chunked, as the real server sends its bodies.
    let response = if path == "/v1/system" {
        let (first, second) = text.split_at(text.len() / 2);
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{first}\r\n{:x}\r\n{second}\r\n0\r\n\r\n",
            first.len(),
            second.len()
        )
    } else {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )
    };
    let _ = stream.write_all(response.as_bytes());
}

fn problem(status: u16, code: &str, detail: &str) -> Value {
    json!({"type": "about:blank", "title": "X", "status": status, "detail": detail, "code": code})
}

fn ha_body(state: &State, peer: Option<&State>) -> Value {
    // As the kernel words it once formed: the peer's firmware, then its own.
    let mismatch = peer
        .filter(|peer| peer.version() != state.version())
        .map(|peer| {
            format!(
                "{} runs firmware {}, {} {}",
                peer.alias,
                peer.version(),
                state.alias,
                state.version()
            )
        });
    json!({
        "enabled": true, "alias": state.alias, "role": state.role, "priority": 100,
        "epoch": state.epoch, "forwarding": state.role == "active", "refused_reason": null,
        "mismatch": mismatch,
        "peer": peer.map(|peer| json!({"alias": peer.alias, "state": "up", "role": peer.role, "last_heard_ms": 10})),
        "host": {"state": "up", "last_heard_ms": 10}, "uplinks": [], "failovers": []
    })
}

fn route(
    states: &mut [State],
    index: usize,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Value) {
    let peer_index = (0..states.len()).find(|&other| other != index);
    match (method, path) {
        ("GET", "/v1/system") => {
            let state = &states[index];
            (
                200,
                json!({
                    "id": state.alias, "alias": state.alias, "version": "0.1.0",
                    "build": {"git": "fake", "profile": "release"},
                    "uptime_ms": state.booted_at.elapsed().as_millis() as u64,
                    "memory": {"total_bytes": 1, "static_bytes": 1},
                    "boot": {"number": state.boot_number, "bank": letter(state.running),
                             "trial": state.trial, "report": "", "last_boot": state.last_boot}
                }),
            )
        }
        ("GET", "/v1/firmware") => {
            let state = &states[index];
            let banks: Vec<Value> = (0..2)
                .map(|bank| {
                    json!({
                        "slot": letter(bank), "version": state.banks[bank].version,
                        "state": state.banks[bank].state, "active": bank == state.running,
                        "staged": state.staged == Some(bank), "tries_left": 3,
                        "security_counter": 1, "size_bytes": 10, "sha256": null,
                        "failure_reason": null
                    })
                })
                .collect();
            (
                200,
                json!({"banks": banks, "lowest_supported_security_counter": 1,
                       "rollback_requested": state.rollback_requested, "last_outcome": "ok"}),
            )
        }
        ("GET", "/v1/ha") => {
            if states[index].role == "disabled" {
                return (404, problem(404, "not_found", "no such resource"));
            }
            (
                200,
                ha_body(&states[index], peer_index.map(|peer| &states[peer])),
            )
        }
        ("POST", "/v1/firmware:upload") => {
            let state = &mut states[index];
            let target = 1 - state.running;
            let mut task = json!({"id": "7", "kind": "firmware-upload", "state": "completed",
                "percent": 100, "received_bytes": body.len(), "total_bytes": body.len(),
                "message": "verified", "started_ms": 1, "ended_ms": 2});
            if let Some(refusal) = state.upload_refusal.clone() {
                task["state"] = json!("exception");
                task["message"] = json!(refusal);
                state.banks[target].state = "bad";
            } else {
                state.banks[target] = Bank {
                    version: String::from_utf8_lossy(body).into_owned(),
                    state: "trial",
                };
                state.staged = Some(target);
            }
            state.task = Some(task.clone());
            (202, task)
        }
        ("GET", "/v1/tasks/7") => match &states[index].task {
            Some(task) => (200, task.clone()),
            None => (404, problem(404, "not_found", "no such task")),
        },
        ("POST", "/v1/system:reboot") => {
            let state = &mut states[index];
            state.pending_boot = true;
            // The answer goes out, then 503s for a while, then the reset (no answers at all).
            let going_down = Instant::now() + state.reboot_takes / 2;
            state.going_down_until = Some(going_down);
            state.down_until = Some(going_down + state.reboot_takes);
            (202, json!({"rebooting": true}))
        }
        ("POST", "/v1/firmware:rollback") => {
            states[index].rollback_requested = true;
            (
                202,
                json!({"rollback_requested": true, "detail": "the other bank boots next"}),
            )
        }
        ("POST", "/v1/firmware:unstage") => {
            let state = &mut states[index];
            match state.staged.take() {
                Some(bank) => {
                    state.banks[bank].state = "bad";
                    (
                        200,
                        json!({"unstaged": true, "slot": letter(bank),
                               "version": state.banks[bank].version,
                               "detail": "the next boot runs the running bank again"}),
                    )
                }
                None => (
                    409,
                    problem(
                        409,
                        "nothing_staged",
                        "no image is staged for the next boot",
                    ),
                ),
            }
        }
        ("POST", "/v1/ha:failover") => {
            if states[index].role != "active" {
                return (
                    409,
                    problem(409, "ha_not_active", "this DPU is not the active one"),
                );
            }
            let Some(peer) = peer_index.filter(|&peer| states[peer].role == "standby") else {
                return (409, problem(409, "peer_not_ready", "no healthy standby"));
            };
            let epoch = states[index].epoch.max(states[peer].epoch) + 1;
            states[index].role = "standby".into();
            states[index].epoch = epoch;
            states[peer].role = "active".into();
            states[peer].epoch = epoch;
            (202, ha_body(&states[index], Some(&states[peer])))
        }
        ("GET", "/v1/logs?limit=100") => (200, json!({"lines": [], "last_seq": 0})),
        ("GET", "/v1/config") => (200, json!({"switch": {}})),
        ("GET", "/v1/ports") => (200, json!({"ports": []})),
        ("GET", "/metrics") => (200, json!("dpu_uptime_seconds 1")),
        _ => (404, problem(404, "not_found", "no such path")),
    }
}
