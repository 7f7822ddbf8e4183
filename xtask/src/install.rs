//! Installing what a command needs: apt packages, pinned Python tools.
//!
//! As root on Debian/Ubuntu xtask installs what is missing itself (`apt-get update` once, then
//! `apt-get install -y --no-install-recommends`; `python3 -m pip install` of the pinned
//! imgtool, schemathesis and openapi-spec-validator);
//! otherwise it stops and prints the exact commands. The decision is [`decide`], a pure
//! function (host-tested); [`ensure`] looks at the machine and carries it out.

use anyhow::{Result, bail};
use std::path::Path;
use std::process::{Command, Stdio};

/// The imgtool release the interop tests are checked against.
pub const IMGTOOL: &str = "imgtool==2.5.0";

/// The schemathesis release `cargo xtask test` checks the running API with (`apitests`).
pub const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// The validator the host test of `docs/api/openapi.yaml` runs (`apitests`).
pub const SPEC_VALIDATOR: &str = "openapi-spec-validator==0.9.0";

/// The U-Boot binary the `boot-uboot-booti` test boots (Debian package `u-boot-qemu`).
pub const UBOOT_BIN: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// Something a command needs from the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `qemu-system-aarch64`.
    Qemu,
    /// U-Boot for QEMU's arm64 `virt`.
    UBoot,
    /// `ping` (network tests' Linux peer).
    Ping,
    /// `ip` (network namespaces and taps).
    Ip,
    /// `curl` (HTTP from the host).
    Curl,
    /// `python3 -m pip` (to install the Python tools below).
    Pip,
    /// MCUboot's `imgtool`.
    Imgtool,
    /// `schemathesis` (the API conformance run).
    Schemathesis,
    /// `openapi-spec-validator` (the OpenAPI document's host test).
    SpecValidator,
    /// `perf` (`cargo xtask bench switch --host-profile`: where QEMU's host time goes).
    Perf,
}

impl Tool {
    /// The Debian package that provides it (the Python tools come from pip instead).
    fn package(self) -> Option<&'static str> {
        match self {
            Self::Qemu => Some("qemu-system-arm"),
            Self::UBoot => Some("u-boot-qemu"),
            Self::Ping => Some("iputils-ping"),
            Self::Ip => Some("iproute2"),
            Self::Curl => Some("curl"),
            Self::Pip => Some("python3-pip"),
            Self::Perf => Some("linux-perf"),
            Self::Imgtool | Self::Schemathesis | Self::SpecValidator => None,
        }
    }

    /// The pinned pip requirement that provides it, if it comes from pip.
    fn pip_requirement(self) -> Option<&'static str> {
        match self {
            Self::Imgtool => Some(IMGTOOL),
            Self::Schemathesis => Some(SCHEMATHESIS),
            Self::SpecValidator => Some(SPEC_VALIDATOR),
            _ => None,
        }
    }

    /// What it is called in messages.
    fn name(self) -> &'static str {
        match self {
            Self::Qemu => crate::qemu::QEMU,
            Self::UBoot => UBOOT_BIN,
            Self::Ping => "ping",
            Self::Ip => "ip",
            Self::Curl => "curl",
            Self::Pip => "python3 -m pip",
            Self::Imgtool => "imgtool",
            Self::Schemathesis => "schemathesis",
            Self::SpecValidator => "openapi-spec-validator",
            Self::Perf => "perf",
        }
    }

    /// Whether this machine has it.
    fn present(self) -> bool {
        let runs = |program: &str, arguments: &[&str]| {
            Command::new(program)
                .args(arguments)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        match self {
            Self::Qemu => runs(crate::qemu::QEMU, &["--version"]),
            Self::UBoot => Path::new(UBOOT_BIN).exists(),
            Self::Ping => runs("ping", &["-V"]),
            Self::Ip => runs("ip", &["-V"]),
            Self::Curl => runs("curl", &["--version"]),
            Self::Perf => runs("perf", &["--version"]),
            Self::Pip => runs("python3", &["-m", "pip", "--version"]),
            Self::Imgtool => runs("imgtool", &["version"]),
            // The pinned release exactly: another one may check differently.
            Self::Schemathesis | Self::SpecValidator => {
                let requirement = self.pip_requirement().unwrap_or_default();
                let (name, version) = requirement.split_once("==").unwrap_or_default();
                let script = format!(
                    "import importlib.metadata as m, sys; sys.exit(m.version('{name}') != '{version}')"
                );
                runs("python3", &["-c", &script])
            }
        }
    }
}

/// What `cargo xtask run` (and `image`, `flash`, `bench boot`) needs.
pub const RUN: &[Tool] = &[Tool::Qemu];

/// What the host tests need (imgtool's interop tests, the OpenAPI document's validator).
pub const HOST_TEST: &[Tool] = &[Tool::Imgtool, Tool::SpecValidator];

/// What `cargo xtask test` needs. `ping` and `ip` serve only the tap tests, which need root
/// and are skipped without it, so only root needs them.
pub fn test_needs(root: bool) -> Vec<Tool> {
    let mut tools = vec![
        Tool::Qemu,
        Tool::UBoot,
        Tool::Curl,
        Tool::Imgtool,
        Tool::SpecValidator,
        Tool::Schemathesis,
    ];
    if root {
        tools.extend([Tool::Ping, Tool::Ip]);
    }
    tools
}

/// What to do about the missing tools.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Everything is there.
    Nothing,
    /// Run these commands (each a program and its arguments), saying so.
    Install(Vec<Vec<String>>),
    /// Stop with this message (it holds the exact commands).
    Stop(String),
}

fn words(line: &[&str]) -> Vec<String> {
    line.iter().map(|word| (*word).to_string()).collect()
}

/// Decides, from the tools `needed`, which are `missing`, and whether we are root on a machine
/// with apt, what to install or what to tell the user.
pub fn decide(needed: &[Tool], missing: impl Fn(Tool) -> bool, root: bool, apt: bool) -> Action {
    let requirements: Vec<&str> = needed
        .iter()
        .filter(|&&tool| missing(tool))
        .filter_map(|tool| tool.pip_requirement())
        .collect();
    let python = !requirements.is_empty();
    // pip matters only to install the Python tools.
    let missing: Vec<Tool> = needed
        .iter()
        .copied()
        .filter(|&tool| missing(tool) && (tool != Tool::Pip || python))
        .collect();
    let packages: Vec<&str> = missing.iter().filter_map(|tool| tool.package()).collect();
    if packages.is_empty() && !python {
        return Action::Nothing;
    }
    let mut pip = words(&["python3", "-m", "pip", "install", "--quiet"]);
    pip.extend(
        requirements
            .iter()
            .map(|requirement| (*requirement).to_string()),
    );
    if root && (apt || packages.is_empty()) {
        let mut commands = Vec::new();
        if !packages.is_empty() {
            commands.push(words(&["apt-get", "update", "-qq"]));
            let mut install =
                words(&["apt-get", "install", "-y", "-qq", "--no-install-recommends"]);
            install.extend(packages.iter().map(|package| (*package).to_string()));
            commands.push(install);
        }
        if python {
            commands.push(pip);
        }
        return Action::Install(commands);
    }
    let mut message = String::from("missing: ");
    message.push_str(
        &missing
            .iter()
            .map(|tool| tool.name())
            .collect::<Vec<_>>()
            .join(", "),
    );
    message.push_str(". Install with:\n");
    let sudo = if root { "" } else { "sudo " };
    if !packages.is_empty() {
        message.push_str(&format!(
            "    {sudo}apt-get update && {sudo}apt-get install -y --no-install-recommends {}\n",
            packages.join(" ")
        ));
        if !apt {
            message.push_str("    (Debian/Ubuntu package names; this machine has no apt-get)\n");
        }
    }
    if python {
        message.push_str(&format!(
            "    {sudo}python3 -m pip install {}\n    (if pip refuses an externally managed Python: add --break-system-packages, or use a venv)\n",
            requirements.join(" ")
        ));
    }
    message.push_str("then run the command again.");
    Action::Stop(message)
}

/// Makes sure QEMU is installed (what `run`, `image`, `flash` and the benches need).
pub fn ensure_qemu() -> Result<()> {
    ensure(RUN, "QEMU")
}

/// Whether xtask runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Makes sure `needed` is on this machine: installs it (root with apt) or stops with the
/// commands to run.
pub fn ensure(needed: &[Tool], what: &str) -> Result<()> {
    let mut needed = needed.to_vec();
    if needed.iter().any(|tool| tool.pip_requirement().is_some()) {
        needed.push(Tool::Pip);
    }
    let missing: Vec<Tool> = needed
        .iter()
        .copied()
        .filter(|&tool| !tool.present())
        .collect();
    let action = decide(
        &needed,
        |tool| missing.contains(&tool),
        is_root(),
        Path::new("/usr/bin/apt-get").exists(),
    );
    let commands = match action {
        Action::Nothing => return Ok(()),
        Action::Stop(message) => bail!("{what} needs what this machine lacks; {message}"),
        Action::Install(commands) => commands,
    };
    for command in commands {
        let line = command.join(" ");
        eprintln!("xtask: {what}: installing what is missing: {line}");
        let mut status = Command::new(&command[0])
            .args(&command[1..])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()?;
        if !status.success() && command[0] == "python3" {
            // Debian 12 and later mark the system Python externally managed.
            eprintln!("xtask: pip refused; again with --break-system-packages");
            status = Command::new(&command[0])
                .args(&command[1..])
                .arg("--break-system-packages")
                .status()?;
        }
        if !status.success() {
            bail!("`{line}` failed");
        }
    }
    let still: Vec<&str> = needed
        .iter()
        .filter(|tool| **tool != Tool::Pip && !tool.present())
        .map(|tool| tool.name())
        .collect();
    if !still.is_empty() {
        bail!("still missing after installing: {}", still.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(action: &Action) -> Vec<String> {
        match action {
            Action::Install(commands) => commands.iter().map(|c| c.join(" ")).collect(),
            other => panic!("expected Install, got {other:?}"),
        }
    }

    #[test]
    fn nothing_missing_means_nothing_to_do() {
        assert_eq!(
            decide(&test_needs(true), |_| false, true, true),
            Action::Nothing
        );
        assert_eq!(decide(RUN, |_| false, false, false), Action::Nothing);
    }

    #[test]
    fn root_with_apt_installs_without_recommends_after_one_update() {
        let needed = [
            Tool::Qemu,
            Tool::UBoot,
            Tool::Curl,
            Tool::Imgtool,
            Tool::Pip,
        ];
        let action = decide(&needed, |tool| tool != Tool::Curl, true, true);
        assert_eq!(
            commands(&action),
            [
                "apt-get update -qq",
                "apt-get install -y -qq --no-install-recommends qemu-system-arm u-boot-qemu python3-pip",
                "python3 -m pip install --quiet imgtool==2.5.0",
            ]
        );
    }

    #[test]
    fn imgtool_alone_needs_no_apt() {
        let needed = [Tool::Imgtool, Tool::Pip];
        let action = decide(&needed, |tool| tool == Tool::Imgtool, true, false);
        assert_eq!(
            commands(&action),
            ["python3 -m pip install --quiet imgtool==2.5.0"]
        );
    }

    #[test]
    fn not_root_stops_with_the_exact_commands() {
        let needed = [Tool::Qemu, Tool::Imgtool, Tool::Pip];
        let Action::Stop(message) = decide(&needed, |_| true, false, true) else {
            panic!("expected Stop");
        };
        assert!(message.contains(
            "sudo apt-get update && sudo apt-get install -y --no-install-recommends qemu-system-arm python3-pip"
        ));
        assert!(message.contains("python3 -m pip install imgtool==2.5.0"));
    }

    #[test]
    fn run_needs_only_qemu() {
        let Action::Stop(message) = decide(RUN, |_| true, false, true) else {
            panic!("expected Stop");
        };
        assert!(message.contains("--no-install-recommends qemu-system-arm\n"));
        assert!(!message.contains("pip"));
        let action = decide(RUN, |_| true, true, true);
        assert_eq!(
            commands(&action)[1],
            "apt-get install -y -qq --no-install-recommends qemu-system-arm"
        );
    }

    #[test]
    fn root_without_apt_stops_with_package_names() {
        let Action::Stop(message) = decide(RUN, |_| true, true, false) else {
            panic!("expected Stop");
        };
        assert!(message.contains("this machine has no apt-get"));
        assert!(!message.contains("sudo"));
    }

    #[test]
    fn python_tools_are_pinned_and_installed_in_one_pip_command() {
        let needed = test_needs(true);
        let action = decide(
            &needed,
            |tool| matches!(tool, Tool::Schemathesis | Tool::SpecValidator),
            true,
            true,
        );
        assert_eq!(
            commands(&action),
            ["python3 -m pip install --quiet openapi-spec-validator==0.9.0 schemathesis==4.32.5"]
        );
        let Action::Stop(message) = decide(HOST_TEST, |_| true, false, true) else {
            panic!("expected Stop");
        };
        assert!(
            message.contains(
                "sudo python3 -m pip install imgtool==2.5.0 openapi-spec-validator==0.9.0\n"
            ),
            "{message}"
        );
    }

    #[test]
    fn ping_and_ip_only_for_root() {
        assert!(!test_needs(false).contains(&Tool::Ping));
        assert!(test_needs(true).contains(&Tool::Ip));
    }
}
