//! The management API checked from the host: curl and schemathesis steps, the document's test.
//!
//! `-kernel` test scripts (`qemu/tests/api-*.test`, run by `tests`) reach the DPU's management
//! NIC through QEMU user networking (`hostfwd` to a loopback port) and use these steps:
//!
//! | step | meaning |
//! |---|---|
//! | `curl: ARGS -> TEXT [&& TEXT ...]` | `curl --silent --show-error --include ARGS` once (never retried: it may write); its output (status line, headers, body, curl's errors) must hold every TEXT |
//! | `curl-until: ARGS -> TEXT [&& TEXT ...]` | the same, asked again (every 200 ms) until every TEXT is there or the step's deadline: only for reads (a task's progress) |
//! | `curl-lacks: TEXT` | the last `curl` output does not hold TEXT |
//! | `schemathesis: ARGS` | `schemathesis --no-color ARGS` (ARGS hold `run`); passes only on exit status 0 and a summary line without failures or errors; the summary line is printed |
//!
//! ARGS are shell words (`sh -c`), with placeholders: `{url}` is `http://127.0.0.1:PORT`,
//! `{data_url}` the same for `{data_http_port}` (a second free port a `qemu:` line may forward
//! through a data port's network),
//! `{location}` the `Location` header of the last `curl` answer (`/v1/tasks/3`),
//! `{openapi}` the path of `docs/api/openapi.yaml`, `{tests}` the `qemu/tests` directory,
//! `{scratch}` a directory for files the commands write (`target/test-api`), `{image:VARIANT}` a signed image file and
//! `{size:VARIANT}` its length in bytes. Variants: `good` (the kernel as version 0.2.0+2,
//! counter 2, the development key), `bad-signature` (its last signature byte flipped),
//! `truncated` (its last 200 bytes cut: the header promises more), `truncated-body` (its first
//! 100000 bytes: with `Content-Length: {size:good}` a body that stops short), `oversize` (one
//! byte more than a bank holds). In `qemu:` lines `{flash1}` is a fresh flash1 file for this test with
//! bank A provisioned and committed (the kernel's own image at 0.1.0+1, counter 1), so a
//! `-kernel` boot has banks to stage into and a config area to save in.
//!
//! The host test below runs the pinned `openapi-spec-validator` on `docs/api/openapi.yaml`, so
//! a broken document fails `cargo xtask test` before any QEMU test runs.

use crate::image::{self, SignOptions};
use crate::workspace_root;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The API's steps (parsed by `tests`, run by [`run_step`]).
#[derive(Clone)]
pub enum Step {
    /// `curl: ARGS -> TEXT && TEXT` (`until`: `curl-until:`, asked again until it holds).
    Curl {
        arguments: String,
        expected: Vec<String>,
        until: bool,
    },
    /// `curl-lacks: TEXT`.
    CurlLacks(String),
    /// `schemathesis: ARGS`.
    Schemathesis(String),
}

/// The keys of [`Step`]: `Ok(None)` for a key that is not one of them.
pub fn parse_step(key: &str, value: &str) -> Result<Option<Step>> {
    Ok(Some(match key {
        "curl" | "curl-until" => {
            let (arguments, expected) = value
                .split_once(" -> ")
                .with_context(|| format!("{key}: <curl arguments> -> <text> [&& <text> ...]"))?;
            let expected: Vec<String> = expected
                .split(" && ")
                .map(str::to_string)
                .filter(|text| !text.is_empty())
                .collect();
            if expected.is_empty() {
                bail!("{key}: needs at least one expected text after ' -> '");
            }
            Step::Curl {
                arguments: arguments.trim().to_string(),
                expected,
                until: key == "curl-until",
            }
        }
        "curl-lacks" => Step::CurlLacks(value.to_string()),
        "schemathesis" => Step::Schemathesis(value.trim().to_string()),
        _ => return Ok(None),
    }))
}

/// What the steps of one test share.
pub struct ApiContext<'a> {
    /// The loopback port QEMU forwards to the DPU's port 80.
    pub http_port: u16,
    /// `{data_http_port}` in `qemu:` lines: a second free loopback port (`{data_url}`).
    pub data_http_port: u16,
    /// The kernel Image the test boots (signed into the upload images).
    pub kernel: &'a Path,
    /// The last `curl` output, for `curl-lacks`.
    pub last_output: String,
    /// What the steps did (commands and their output), for the test's log.
    pub notes: String,
}

/// Where this run keeps its flash files and images.
fn scratch() -> Result<PathBuf> {
    let directory = workspace_root().join("target").join("test-api");
    std::fs::create_dir_all(&directory)?;
    Ok(directory)
}

/// The length of the `truncated-body` variant: sent with `Content-Length: {size:good}`, a body
/// that stops short well inside the image (past its header, so the upload has begun).
const TRUNCATED_BODY_BYTES: usize = 100_000;

/// The upload images made so far in this run, by variant.
static IMAGES: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);

/// The file of image `variant` signed from `kernel` (made once per run).
fn image_file(kernel: &Path, variant: &str) -> Result<PathBuf> {
    let mut images = IMAGES
        .lock()
        .map_err(|_| anyhow::anyhow!("image cache poisoned"))?;
    let images = images.get_or_insert_with(HashMap::new);
    if let Some(path) = images.get(variant) {
        return Ok(path.clone());
    }
    let good = image::sign_image(kernel, &SignOptions::next_trial())?;
    let bytes = match variant {
        "good" => good,
        "bad-signature" => {
            let mut bytes = good;
            let last = bytes.len() - 1;
            bytes[last] ^= 0x80;
            bytes
        }
        "truncated" => {
            let mut bytes = good;
            bytes.truncate(bytes.len() - 200);
            bytes
        }
        "truncated-body" => {
            let mut bytes = good;
            bytes.truncate(TRUNCATED_BODY_BYTES);
            bytes
        }
        "oversize" => vec![0u8; bootstate::layout::BANK_SIZE as usize + 1],
        other => {
            bail!(
                "unknown image variant '{other}' (good, bad-signature, truncated, truncated-body, oversize)"
            )
        }
    };
    let path = scratch()?.join(format!("upload-{variant}.bin"));
    std::fs::write(&path, &bytes)?;
    images.insert(variant.to_string(), path.clone());
    Ok(path)
}

/// Fills `{flash1}` in QEMU arguments with a fresh provisioned flash1 for test `name`.
pub fn fill_arguments(arguments: &mut [String], name: &str, kernel: &Path) -> Result<()> {
    if !arguments
        .iter()
        .any(|argument| argument.contains("{flash1}"))
    {
        return Ok(());
    }
    let signed = image::sign_image(kernel, &SignOptions::default())?;
    let path = scratch()?.join(format!("{name}.flash1.img"));
    std::fs::write(&path, image::provisioned_flash1(&signed)?)?;
    let shown = path.display().to_string();
    for argument in arguments.iter_mut() {
        *argument = argument.replace("{flash1}", &shown);
    }
    Ok(())
}

/// `text` with the step placeholders filled.
fn fill(text: &str, context: &ApiContext) -> Result<String> {
    let mut filled = text
        .replace("{url}", &format!("http://127.0.0.1:{}", context.http_port))
        .replace(
            "{data_url}",
            &format!("http://127.0.0.1:{}", context.data_http_port),
        )
        .replace(
            "{openapi}",
            &workspace_root()
                .join("docs")
                .join("api")
                .join("openapi.yaml")
                .display()
                .to_string(),
        );
    if filled.contains("{location}") {
        let header = regex::Regex::new(r"(?im)^Location:[ \t]*(\S+)")?;
        let location = header
            .captures(&context.last_output)
            .map(|found| found[1].to_string())
            .context("{location}: the last curl answer has no Location header")?;
        filled = filled.replace("{location}", &location);
    }
    let filled = filled.replace(
        "{tests}",
        &workspace_root()
            .join("qemu")
            .join("tests")
            .display()
            .to_string(),
    );
    let mut filled = filled.replace("{scratch}", &scratch()?.display().to_string());
    let pattern = regex::Regex::new(r"\{(image|size):([a-z-]+)\}")?;
    while let Some(found) = pattern.captures(&filled) {
        let path = image_file(context.kernel, &found[2])?;
        let value = if &found[1] == "image" {
            path.display().to_string()
        } else {
            std::fs::metadata(&path)?.len().to_string()
        };
        let range = found.get(0).map(|whole| whole.range()).unwrap_or_default();
        filled.replace_range(range, &value);
    }
    Ok(filled)
}

/// Runs `command` with `sh -c`, killing it at `timeout`; returns (success, stdout + stderr).
fn shell(command: &str, timeout: Duration) -> Result<(bool, String)> {
    use std::os::unix::process::CommandExt as _;
    let mut child = Command::new("sh")
        .args(["-c", command])
        // Its own process group, so a deadline ends what it started too (and the pipes close).
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .with_context(|| format!("starting sh -c {command}"))?;
    let mut stdout = child.stdout.take().context("no stdout pipe")?;
    let mut stderr = child.stderr.take().context("no stderr pipe")?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stdout, &mut text);
        text
    });
    let error_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stderr, &mut text);
        text
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            if let Ok(group) = i32::try_from(child.id()) {
                // SAFETY: kill has no memory preconditions; the group is the child's own.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    output.push_str(&String::from_utf8_lossy(
        &error_reader.join().unwrap_or_default(),
    ));
    match status {
        Some(status) => Ok((status.success(), output)),
        None => bail!(
            "`{command}` still ran after {} s; output so far:\n{output}",
            timeout.as_secs()
        ),
    }
}

/// Runs one API step (`source`: its script line); what it ran and saw goes to `context.notes`.
pub fn run_step(
    step: &Step,
    source: &str,
    context: &mut ApiContext,
    timeout: Duration,
) -> Result<()> {
    match step {
        Step::Curl {
            arguments,
            expected,
            until,
        } => {
            let deadline = Instant::now() + timeout;
            let seconds = timeout.as_secs().max(1);
            let command = format!(
                "curl --silent --show-error --include --max-time {seconds} {}",
                fill(arguments, context)?
            );
            let missing = loop {
                // curl's own deadline ends it; the shell's is a backstop.
                let (_, output) = shell(&command, timeout + Duration::from_secs(5))?;
                let missing: Vec<&String> = expected
                    .iter()
                    .filter(|text| !output.contains(text.as_str()))
                    .collect();
                context.last_output = output;
                if missing.is_empty() || !until || Instant::now() >= deadline {
                    break missing;
                }
                std::thread::sleep(Duration::from_millis(200));
            };
            context.notes.push_str(&format!(
                "--- {source}: `{command}`:\n{}\n",
                context.last_output.trim_end()
            ));
            if !missing.is_empty() {
                bail!(
                    "`{command}` lacked {}; its output:\n{}",
                    missing
                        .iter()
                        .map(|text| format!("'{text}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    context.last_output
                );
            }
            Ok(())
        }
        Step::CurlLacks(text) => {
            if context.last_output.contains(text.as_str()) {
                bail!(
                    "the last curl output holds '{text}':\n{}",
                    context.last_output
                );
            }
            Ok(())
        }
        Step::Schemathesis(arguments) => {
            let command = format!("schemathesis --no-color {}", fill(arguments, context)?);
            let (success, output) = shell(&command, timeout)?;
            let summary = summary_line(&output).unwrap_or("(no summary line)");
            println!("     schemathesis: {summary}");
            context.notes.push_str(&format!(
                "--- {source}: `{command}`:\n{}\n",
                output.trim_end()
            ));
            judge(success, &output)
        }
    }
}

/// Schemathesis's closing summary: the last line naming what passed, failed or errored.
fn summary_line(output: &str) -> Option<&str> {
    output
        .lines()
        .map(|line| line.trim().trim_matches('=').trim())
        .rfind(|line| {
            (line.contains("passed")
                || line.contains("failed")
                || line.contains("failure")
                || line.contains("error")
                || line.contains("warning")
                || line.contains("No issues found"))
                && line.contains(" in ")
        })
}

/// The verdict of a schemathesis run: exit status 0, and a summary that shows no failures.
fn judge(success: bool, output: &str) -> Result<()> {
    let Some(summary) = summary_line(output) else {
        bail!("schemathesis printed no summary line");
    };
    let counts = regex::Regex::new(r"(\d+) (failed|failures?|errors?)\b")?;
    let failures: u64 = counts
        .captures_iter(summary)
        .filter_map(|found| found[1].parse::<u64>().ok())
        .sum();
    if !success || failures > 0 {
        bail!("schemathesis failed: {summary}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the pinned validator on `path`; returns (valid, its output).
    fn validate(path: &Path) -> (bool, String) {
        let output = Command::new("python3")
            .args(["-m", "openapi_spec_validator"])
            .arg(path)
            .output()
            .expect(
                "python3 with openapi-spec-validator (cargo xtask test installs it: python3 -m pip install openapi-spec-validator==0.9.0)",
            );
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success() && text.contains(": OK"), text)
    }

    #[test]
    fn the_openapi_document_is_valid() {
        let document = workspace_root()
            .join("docs")
            .join("api")
            .join("openapi.yaml");
        let (valid, output) = validate(&document);
        assert!(
            valid,
            "docs/api/openapi.yaml is not valid OpenAPI:\n{output}"
        );
    }

    #[test]
    fn the_validator_refuses_a_broken_document() {
        let document = std::fs::read_to_string(
            workspace_root()
                .join("docs")
                .join("api")
                .join("openapi.yaml"),
        )
        .unwrap();
        // A response without its required description.
        let broken = document.replacen("description:", "summary:", 1);
        let broken = broken.replace("operationId: getHealth", "operationId: [not, a, string]");
        let path = std::env::temp_dir().join(format!("xtask-{}-broken.yaml", std::process::id()));
        std::fs::write(&path, broken).unwrap();
        let (valid, output) = validate(&path);
        let _ = std::fs::remove_file(&path);
        assert!(
            !valid,
            "the validator accepted a broken document:\n{output}"
        );
    }

    #[test]
    fn steps_parse() {
        let Some(Step::Curl {
            arguments,
            expected,
            until: false,
        }) = parse_step(
            "curl",
            "-H 'Authorization: Bearer x' {url}/v1/system -> HTTP/1.1 401 && WWW-Authenticate: Bearer",
        )
        .unwrap()
        else {
            panic!("not a curl step");
        };
        assert_eq!(arguments, "-H 'Authorization: Bearer x' {url}/v1/system");
        assert_eq!(expected, ["HTTP/1.1 401", "WWW-Authenticate: Bearer"]);
        assert!(parse_step("curl", "{url}/healthz").is_err());
        assert!(parse_step("curl", "{url}/healthz -> ").is_err());
        assert!(parse_step("expect", "x").unwrap().is_none());
        assert!(matches!(
            parse_step("curl-until", "{url}{location} -> completed").unwrap(),
            Some(Step::Curl { until: true, .. })
        ));
    }

    #[test]
    fn placeholders_are_filled() {
        let context = ApiContext {
            http_port: 8080,
            data_http_port: 8081,
            kernel: Path::new("unused"),
            last_output: String::new(),
            notes: String::new(),
        };
        let filled = fill("-X POST {url}/v1/x --data-binary @{openapi}", &context).unwrap();
        assert!(filled.starts_with("-X POST http://127.0.0.1:8080/v1/x --data-binary @/"));
        assert!(filled.ends_with("docs/api/openapi.yaml"));
        assert!(fill("{image:nonsense}", &context).is_err());
        assert!(fill("{url}{location}", &context).is_err(), "no answer yet");
        let context = ApiContext {
            last_output: "HTTP/1.1 202 Accepted\r\nlocation: /v1/tasks/3\r\n\r\n{}".into(),
            ..context
        };
        assert_eq!(
            fill("{url}{location}", &context).unwrap(),
            "http://127.0.0.1:8080/v1/tasks/3"
        );
    }

    #[test]
    fn schemathesis_verdicts() {
        let passed = "...\n=== 12 passed, 1 skipped in 3.21s ===\n";
        assert_eq!(summary_line(passed), Some("12 passed, 1 skipped in 3.21s"));
        assert!(judge(true, passed).is_ok());
        assert!(judge(false, passed).is_err(), "a failing exit status fails");
        let failed = "=== 3 failed, 9 passed in 5.00s ===\n";
        assert!(
            judge(true, failed).is_err(),
            "failures fail even with status 0"
        );
        assert!(judge(true, "=== 1 error, 2 passed in 1.0s ===").is_err());
        assert!(judge(true, "no summary here").is_err());
        // Schemathesis 4's own words (a run against the old /healthz-only server).
        let real =
            "=================== 6 failures, 2 errors, 1 warning in 4.08s ===================";
        assert_eq!(
            summary_line(real),
            Some("6 failures, 2 errors, 1 warning in 4.08s")
        );
        assert!(judge(true, real).is_err());
        // Failures with warnings only, no word "passed" or "error" (seen in this test's log).
        let failures_only =
            "====================== 5 failures, 2 warnings in 240.26s =======================";
        assert_eq!(
            summary_line(failures_only),
            Some("5 failures, 2 warnings in 240.26s")
        );
        assert!(judge(true, failures_only).is_err());
        // A clean run with warnings only (schemathesis 4.32.5 against this DPU).
        let warnings_only =
            "============================ 2 warnings in 240.01s =============================";
        assert_eq!(summary_line(warnings_only), Some("2 warnings in 240.01s"));
        assert!(judge(true, warnings_only).is_ok());
        assert!(judge(false, warnings_only).is_err());
    }

    #[test]
    fn the_pending_api_scripts_parse() {
        let directory = workspace_root().join("qemu").join("tests").join("pending");
        let Ok(entries) = std::fs::read_dir(directory) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "test") {
                crate::tests::parse_script(&path).unwrap();
            }
        }
    }

    #[test]
    fn shell_reports_status_and_output_and_deadline() {
        let (success, output) =
            shell("echo out; echo err >&2; exit 3", Duration::from_secs(5)).unwrap();
        assert!(!success);
        assert!(output.contains("out") && output.contains("err"));
        assert!(shell("sleep 5", Duration::from_millis(200)).is_err());
    }
}
