//! What a test run prints and keeps: verdicts, transcripts, Debug check.

use anyhow::Result;
use std::path::Path;

/// What one in-QEMU test left behind.
pub struct Outcome {
    /// The verdict (steps, then the whole-transcript checks).
    pub result: Result<()>,
    /// The QEMU command line(s) it ran.
    pub commands: Vec<String>,
    /// Its log: console transcript(s) with boot markers, and QEMU's stderr.
    pub log: String,
}

/// Prints the PASS/FAIL line (and on failure the error, the QEMU command, where the log is and
/// its last lines), writes the log to `logs/<name>.log`; returns whether it passed.
pub fn print(name: &str, title: &str, elapsed: f64, outcome: &Outcome, logs: &Path) -> bool {
    let log_path = logs.join(format!("{name}.log"));
    let written = std::fs::write(&log_path, &outcome.log);
    match &outcome.result {
        Ok(()) => {
            println!("PASS {name:<28} {elapsed:>6.2}s  {title}");
            true
        }
        Err(error) => {
            println!("FAIL {name:<28} {elapsed:>6.2}s  {title}");
            println!("     {error:#}");
            let mut shown: Vec<&String> = Vec::new();
            for command in &outcome.commands {
                if !shown.contains(&command) {
                    println!("     qemu: {command}");
                    shown.push(command);
                }
            }
            match written {
                Ok(()) => println!("     console transcript: {}", log_path.display()),
                Err(error) => println!("     (could not write {}: {error})", log_path.display()),
            }
            let tail: Vec<&str> = outcome.log.lines().rev().take(15).collect();
            for line in tail.iter().rev() {
                println!("     | {line}");
            }
            false
        }
    }
}

/// The log of one boot: its command, console transcript and QEMU's stderr.
pub fn boot_log(command: &str, transcript: &str, stderr: &str) -> String {
    let mut log = format!("$ {command}\n{transcript}");
    if !log.ends_with('\n') {
        log.push('\n');
    }
    if !stderr.trim().is_empty() {
        log.push_str("--- QEMU stderr ---\n");
        log.push_str(stderr.trim_end());
        log.push('\n');
    }
    log
}

/// Fails naming the first lines of `transcript` that show Debug formatting.
pub fn check_words(transcript: &str) -> Result<()> {
    let hits = readable::debug_lines(transcript);
    if hits.is_empty() {
        return Ok(());
    }
    let shown: Vec<String> = hits
        .iter()
        .take(5)
        .map(|(number, line)| format!("console line {number}: {line}"))
        .collect();
    anyhow::bail!(
        "Rust Debug output on the console ({} line(s); write words): {}",
        hits.len(),
        shown.join(" | ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_names_the_line() {
        let error = check_words("ok\nirq Some(79)\n").err().unwrap();
        assert!(format!("{error}").contains("console line 2: irq Some(79)"));
        assert!(check_words("all words\n").is_ok());
    }
}
