//! `dpuctl logs`: a support bundle per DPU (system, firmware, ha, logs, metrics, config) into a
//! directory; over the serial console's unix socket when the API does not answer, the way a
//! BMC's console would be used.

use crate::dpu::Dpu;
use crate::out::Out;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What the bundle holds from the API: file name and path.
const API_PIECES: [(&str, &str); 8] = [
    ("health.json", "/healthz"),
    ("system.json", "/v1/system"),
    ("firmware.json", "/v1/firmware"),
    ("ha.json", "/v1/ha"),
    ("logs.json", "/v1/logs?limit=100"),
    ("metrics.txt", "/metrics"),
    ("config.json", "/v1/config"),
    ("ports.json", "/v1/ports"),
];

/// What the bundle holds from the console when the API does not answer.
const CONSOLE_COMMANDS: [&str; 9] = [
    "version", "uptime", "boot", "ha", "ifconfig", "switch", "config", "stats", "log",
];

/// The console prompt that ends a command's output.
const PROMPT: &str = "dpu> ";

/// Runs `command` on the console at `socket` and returns what it printed up to the next prompt.
pub fn console_command(socket: &Path, command: &str, deadline: Duration) -> Result<String, String> {
    let mut stream = UnixStream::connect(socket)
        .map_err(|error| format!("console {} not reachable ({error})", socket.display()))?;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|error| error.to_string())?;
    // A fresh line first, so a half-typed line on the console does not swallow the command.
    stream
        .write_all(format!("\r{command}\r").as_bytes())
        .map_err(|error| format!("console write failed ({error})"))?;
    let started = Instant::now();
    let mut text = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(count) => text.extend_from_slice(&buffer[..count]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(error) => return Err(format!("console read failed ({error})")),
        }
        let so_far = String::from_utf8_lossy(&text);
        // Done when the command's echo is followed by a prompt.
        if let Some(echo) = so_far.find(command)
            && so_far[echo..].contains(PROMPT)
        {
            break;
        }
        if started.elapsed() >= deadline {
            if text.is_empty() {
                return Err("the console printed nothing".into());
            }
            break;
        }
    }
    Ok(String::from_utf8_lossy(&text).replace('\r', ""))
}

fn bundle_over_api(dpu: &Dpu, directory: &Path) -> Result<Vec<String>, String> {
    let mut written = Vec::new();
    let mut failures = Vec::new();
    for (name, path) in API_PIECES {
        match dpu.get_text(path) {
            Ok(text) => {
                std::fs::write(directory.join(name), text)
                    .map_err(|error| format!("writing {name}: {error}"))?;
                written.push(name.to_string());
            }
            // The health check is the API's first word: without it nothing else will answer.
            Err(error) if name == "health.json" => return Err(error.to_string()),
            Err(error) => failures.push(format!("{path}: {error}")),
        }
    }
    if !failures.is_empty() {
        std::fs::write(directory.join("errors.txt"), failures.join("\n") + "\n")
            .map_err(|error| format!("writing errors.txt: {error}"))?;
    }
    Ok(written)
}

fn bundle_over_console(dpu: &Dpu, directory: &Path) -> Result<(), String> {
    let Some(socket) = &dpu.console else {
        return Err("no console socket given (--console ALIAS=SOCKET)".into());
    };
    let mut text = String::new();
    for command in CONSOLE_COMMANDS {
        let output = console_command(socket, command, Duration::from_secs(5))?;
        text.push_str(&format!("===== {command}\n{output}\n"));
    }
    std::fs::write(directory.join("console.txt"), text)
        .map_err(|error| format!("writing console.txt: {error}"))
}

/// Collects one DPU's bundle into `out_directory/ALIAS`; the result line after its label.
pub fn bundle(dpu: &Dpu, out_directory: &Path, out: &Out) -> Result<String, String> {
    let directory: PathBuf = out_directory.join(&dpu.alias);
    std::fs::create_dir_all(&directory)
        .map_err(|error| format!("cannot make {}: {error}", directory.display()))?;
    out.progress(&dpu.label(), "collecting over the API");
    match bundle_over_api(dpu, &directory) {
        Ok(files) => Ok(format!(
            "{} files from the API in {}",
            files.len(),
            directory.display()
        )),
        Err(api_error) => {
            out.progress(
                &dpu.label(),
                &format!("{api_error}; trying the serial console"),
            );
            match bundle_over_console(dpu, &directory) {
                Ok(()) => Ok(format!(
                    "API not answering ({api_error}); console output in {}",
                    directory.join("console.txt").display()
                )),
                Err(console_error) => Err(format!("{api_error}; {console_error}")),
            }
        }
    }
}

/// Runs `dpuctl logs`; true when every DPU gave a bundle.
pub fn run(dpus: &[Dpu], out_directory: &Path, out: &Out) -> bool {
    let results: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = dpus
            .iter()
            .map(|dpu| scope.spawn(move || bundle(dpu, out_directory, out)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("collection failed".into()))
            })
            .collect()
    });
    let mut all = true;
    for (dpu, result) in dpus.iter().zip(results) {
        match result {
            Ok(text) => out.result(&format!("{}: {text}", dpu.label())),
            Err(text) => {
                all = false;
                out.result(&format!("{}: FAILED: {text}", dpu.label()));
            }
        }
    }
    all
}
