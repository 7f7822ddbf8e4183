//! The firmware's Rust targets: checked, and added with rustup.
//!
//! rustup installs the `targets` of `rust-toolchain.toml` only when it installs the toolchain
//! itself; a toolchain that already exists without them (or rustup with auto-install off)
//! leaves a build failing with "can't find crate for `core`". So xtask looks in the active
//! toolchain's sysroot (`rustc --print sysroot`, run in the workspace so the toolchain file
//! applies) for `lib/rustlib/<target>` and runs `rustup target add` for what is missing, saying
//! so; without rustup it stops with the command to run.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// What `rust-toolchain.toml` pins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pinned {
    /// `channel`, e.g. `1.95.0`.
    pub channel: String,
    /// `targets`.
    pub targets: Vec<String>,
}

/// Reads `channel` and `targets` from the text of a `rust-toolchain.toml` (the only keys
/// needed here; a missing key gives an empty value).
pub fn parse_pinned(text: &str) -> Pinned {
    let mut pinned = Pinned {
        channel: String::new(),
        targets: Vec::new(),
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "channel" => pinned.channel = value.trim_matches('"').to_string(),
            "targets" => {
                pinned.targets = value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .map(|target| target.trim().trim_matches('"').to_string())
                    .filter(|target| !target.is_empty())
                    .collect();
            }
            _ => {}
        }
    }
    pinned
}

/// What to do about the pinned targets.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Every target is installed.
    Ready,
    /// Add these targets with `rustup target add` (the command's words).
    Add {
        /// The missing targets.
        targets: Vec<String>,
        /// `rustup target add ...`.
        command: Vec<String>,
    },
    /// Stop with this message (it holds the command to run).
    Stop(String),
}

/// Decides from the pinned targets, which of them are `installed`, and whether rustup exists.
pub fn decide(pinned: &Pinned, installed: impl Fn(&str) -> bool, rustup: bool) -> Action {
    let missing: Vec<String> = pinned
        .targets
        .iter()
        .filter(|target| !installed(target))
        .cloned()
        .collect();
    if missing.is_empty() {
        return Action::Ready;
    }
    let mut command: Vec<String> = ["rustup", "target", "add"].map(String::from).into();
    command.extend(missing.iter().cloned());
    if rustup {
        return Action::Add {
            targets: missing,
            command,
        };
    }
    Action::Stop(format!(
        "the {} target{} of rust-toolchain.toml {} not installed for this Rust (toolchain {}) and rustup is not on PATH. Install rustup (https://rustup.rs), then run in the workspace:\n    {}\n(or install your distribution's rust-std for {})",
        missing.join(", "),
        if missing.len() == 1 { "" } else { "s" },
        if missing.len() == 1 { "is" } else { "are" },
        pinned.channel,
        command.join(" "),
        missing.join(", ")
    ))
}

fn runs(program: &Path, arguments: &[&str], root: &Path) -> bool {
    Command::new(program)
        .args(arguments)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The active toolchain's sysroot, as `rustc` in `root` reports it.
fn sysroot(rustc: &Path, root: &Path) -> Result<PathBuf> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "running {} --print sysroot (no Rust on PATH? install rustup: https://rustup.rs)",
                rustc.display()
            )
        })?;
    if !output.status.success() {
        bail!(
            "{} --print sysroot failed: {}",
            rustc.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Checks the targets pinned in `root`'s `rust-toolchain.toml` with these programs; adds the
/// missing ones with `rustup` (saying so) or stops with the command.
pub fn ensure_with(root: &Path, rustc: &Path, rustup: &Path) -> Result<()> {
    let file = root.join("rust-toolchain.toml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let pinned = parse_pinned(&text);
    let sysroot = sysroot(rustc, root)?;
    let installed = |target: &str| sysroot.join("lib").join("rustlib").join(target).is_dir();
    let rustup_found = runs(rustup, &["--version"], root);
    match decide(&pinned, installed, rustup_found) {
        Action::Ready => Ok(()),
        Action::Stop(message) => bail!("{message}"),
        Action::Add { targets, command } => {
            let noun = if targets.len() == 1 {
                "target"
            } else {
                "targets"
            };
            eprintln!(
                "xtask: adding the {} {noun} to toolchain {} ({})",
                targets.join(", "),
                pinned.channel,
                command.join(" ")
            );
            let status = Command::new(rustup)
                .args(&command[1..])
                .current_dir(root)
                .stdin(Stdio::null())
                .status()
                .with_context(|| format!("running {}", command.join(" ")))?;
            if !status.success() {
                bail!("`{}` failed", command.join(" "));
            }
            if let Some(target) = targets.iter().find(|target| !installed(target)) {
                bail!(
                    "`{}` succeeded but {} is still not in {}",
                    command.join(" "),
                    target,
                    sysroot.display()
                );
            }
            Ok(())
        }
    }
}

/// Makes sure the pinned targets are installed (checked once per run of xtask).
pub fn ensure_targets() -> Result<()> {
    static CHECKED: OnceLock<()> = OnceLock::new();
    if CHECKED.get().is_some() {
        return Ok(());
    }
    ensure_with(
        &crate::workspace_root(),
        Path::new("rustc"),
        Path::new("rustup"),
    )?;
    let _ = CHECKED.set(());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const FILE: &str = "[toolchain]\nchannel = \"1.95.0\"\ntargets = [\"aarch64-unknown-none\"]\ncomponents = [\"rustfmt\", \"clippy\"]\n";

    fn pinned() -> Pinned {
        parse_pinned(FILE)
    }

    #[test]
    fn the_toolchain_file_is_read() {
        assert_eq!(
            pinned(),
            Pinned {
                channel: "1.95.0".into(),
                targets: vec!["aarch64-unknown-none".into()],
            }
        );
    }

    #[test]
    fn target_present_means_ready() {
        assert_eq!(decide(&pinned(), |_| true, true), Action::Ready);
        assert_eq!(decide(&pinned(), |_| true, false), Action::Ready);
    }

    #[test]
    fn target_missing_is_added_with_rustup() {
        assert_eq!(
            decide(&pinned(), |_| false, true),
            Action::Add {
                targets: vec!["aarch64-unknown-none".into()],
                command: ["rustup", "target", "add", "aarch64-unknown-none"]
                    .map(String::from)
                    .into(),
            }
        );
    }

    #[test]
    fn no_rustup_stops_with_the_command() {
        let Action::Stop(message) = decide(&pinned(), |_| false, false) else {
            panic!("expected Stop");
        };
        assert!(message.contains("aarch64-unknown-none target of rust-toolchain.toml is not"));
        assert!(message.contains("\n    rustup target add aarch64-unknown-none\n"));
    }

    /// A workspace with a fake `rustc` (prints a fake sysroot) and a fake `rustup` (logs its
    /// arguments and creates the target directory), so nothing on this machine changes.
    fn fake_workspace(name: &str, with_target: bool) -> (PathBuf, PathBuf, PathBuf) {
        let root = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let sysroot = root.join("sysroot");
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu")).unwrap();
        if with_target {
            std::fs::create_dir_all(sysroot.join("lib/rustlib/aarch64-unknown-none")).unwrap();
        }
        std::fs::write(root.join("rust-toolchain.toml"), FILE).unwrap();
        let script = |file: &str, body: String| {
            let path = root.join(file);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let rustc = script("rustc", format!("echo {}", sysroot.display()));
        let rustup = script(
            "rustup",
            format!(
                "[ \"$1\" = --version ] && exit 0\necho \"$@\" >> {log}\n[ \"$1 $2\" = \"target add\" ] && mkdir -p {sysroot}/lib/rustlib/$3",
                log = root.join("rustup.log").display(),
                sysroot = sysroot.display()
            ),
        );
        (root, rustc, rustup)
    }

    #[test]
    fn a_missing_target_is_added_in_a_fake_sysroot() {
        let (root, rustc, rustup) = fake_workspace("missing", false);
        ensure_with(&root, &rustc, &rustup).unwrap();
        let log = std::fs::read_to_string(root.join("rustup.log")).unwrap();
        assert_eq!(log, "target add aarch64-unknown-none\n");
        assert!(
            root.join("sysroot/lib/rustlib/aarch64-unknown-none")
                .is_dir()
        );
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_present_target_runs_no_rustup() {
        let (root, rustc, rustup) = fake_workspace("present", true);
        ensure_with(&root, &rustc, &rustup).unwrap();
        assert!(!root.join("rustup.log").exists());
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn no_rustup_on_a_fake_machine_stops() {
        let (root, rustc, _) = fake_workspace("no-rustup", false);
        let error = ensure_with(&root, &rustc, &root.join("no-such-rustup"))
            .err()
            .unwrap();
        assert!(format!("{error}").contains("rustup target add aarch64-unknown-none"));
        let _ = std::fs::remove_dir_all(root);
    }
}
