//! Console commands: the `help` table, and parsing a line into a command.

use core::fmt;

/// The runtime log filter `log level` sets (defined with the logger's pieces).
pub use dpu_log::LogLevel;

/// Deliberate faults, for testing the exception and panic paths on a running system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashKind {
    /// Load from an unmapped address: a data abort.
    DataAbort,
    /// A Rust panic.
    Panic,
    /// Execute an undefined instruction.
    Undefined,
    /// Recurse until the boot stack hits its guard page.
    StackOverflow,
    /// Loop forever with interrupts on, never checking in (the watchdog's test).
    Hang,
}

/// A parsed console command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Empty line: just a fresh prompt.
    Nothing,
    /// List the commands.
    Help,
    /// Version, git hash, build profile.
    Version,
    /// Time since boot and timer ticks.
    Uptime,
    /// Memory map: RAM, kernel image, static data, stack.
    Memory,
    /// Devices the device tree described and the driver bound to each.
    Devices {
        /// Also every virtio-mmio slot and what is in it (`-v`).
        verbose: bool,
    },
    /// Replay recent log frames.
    LogShow,
    /// Show the runtime log level.
    LogLevelShow,
    /// Narrow (or widen, up to the build's level) the runtime log level.
    LogLevelSet(LogLevel),
    /// Reset the machine through PSCI.
    Reboot,
    /// Show both boot banks, the last boot outcome and failure reasons.
    Boot,
    /// Ask dpuboot to roll back to the other bank at the next boot.
    Rollback,
    /// Set the number of tries a new trial image gets (1..=15).
    BootTries(u8),
    /// Set dpuboot's Shift+R window in milliseconds (0 = off).
    BootWindow(u16),
    /// Set the jumpstart health window in milliseconds (0 = commit at the first healthy check).
    BootHealth(u32),
    /// Show (`None`) or set the software watchdog's timeout in milliseconds (0 = off).
    Watchdog(Option<u32>),
    /// Receive a signed image of `length` bytes over the console into the inactive bank.
    Update {
        /// Announced image length in bytes.
        length: u32,
    },
    /// Power off through PSCI (or report a test status through semihosting).
    PowerOff,
    /// Trigger a deliberate fault.
    Crash(CrashKind),
    /// Show every NIC: role, MAC, link, address, counters.
    Ifconfig {
        /// Also features, device errors and adapter counters (`-v`).
        verbose: bool,
    },
    /// Ping an IPv4 address from the management stack.
    Ping {
        /// Target address.
        address: [u8; 4],
        /// Echo requests to send.
        count: u16,
    },
}

/// Default `ping` count.
pub const PING_DEFAULT_COUNT: u16 = 4;

/// Parses a dotted-quad IPv4 address.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// The command table: name, arguments, one-line description. `help` prints it.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "", "list the commands"),
    ("version", "", "firmware version, git hash and build"),
    ("uptime", "", "time since boot (timer-interrupt driven)"),
    ("mem", "", "RAM, kernel image and static memory"),
    (
        "devices",
        "[-v]",
        "what the device tree describes and which driver bound it",
    ),
    (
        "log",
        "[level [trace|debug|info|warn|error]]",
        "replay recent log lines; show or set the level",
    ),
    ("reboot", "", "reset the DPU"),
    (
        "boot",
        "[tries N | window MS | health MS]",
        "boot banks A/B, last outcome, reasons; set trial tries, Shift+R or health window",
    ),
    (
        "watchdog",
        "[MS]",
        "show or set the poll-loop watchdog timeout (0 = off)",
    ),
    (
        "rollback",
        "",
        "roll back to the other bank at the next boot",
    ),
    (
        "update",
        "<length>",
        "receive a signed image over the console (cargo xtask flash)",
    ),
    ("poweroff", "", "power the DPU off"),
    (
        "crash",
        "abort|panic|undef|stack|hang",
        "deliberately fault (tests the fault reports)",
    ),
    (
        "ifconfig",
        "[-v]",
        "NICs: role, MAC, link, address, counters (alias: ports)",
    ),
    (
        "ping",
        "<ipv4> [count]",
        "ping from the management NIC (Ctrl-C stops)",
    ),
];

/// Why a line is not a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError<'a> {
    /// No command has this name.
    Unknown(&'a str),
    /// The command exists but its arguments are wrong; `usage` says what it takes.
    Usage {
        /// The command's name.
        command: &'static str,
        /// Its argument synopsis.
        usage: &'static str,
    },
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown(name) => write!(formatter, "unknown command '{name}' (try 'help')"),
            Self::Usage { command, usage } => write!(formatter, "usage: {command} {usage}"),
        }
    }
}

fn usage(command: &'static str) -> ParseError<'static> {
    let usage = COMMANDS
        .iter()
        .find(|(name, _, _)| *name == command)
        .map_or("", |(_, arguments, _)| *arguments);
    ParseError::Usage { command, usage }
}

impl Command {
    /// Parses one console line (already trimmed of surrounding white space).
    pub fn parse(line: &str) -> Result<Command, ParseError<'_>> {
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else {
            return Ok(Command::Nothing);
        };
        let first = words.next();
        let second = words.next();
        let extra = words.next().is_some();
        let no_arguments = |command: Command, name: &'static str| {
            if first.is_none() {
                Ok(command)
            } else {
                Err(usage(name))
            }
        };
        // `-v` or nothing.
        let verbose_flag = |name: &'static str| match (first, second) {
            (None, _) => Ok(false),
            (Some("-v"), None) => Ok(true),
            _ => Err(usage(name)),
        };
        match name {
            "help" | "?" => no_arguments(Command::Help, "help"),
            "version" => no_arguments(Command::Version, "version"),
            "uptime" => no_arguments(Command::Uptime, "uptime"),
            "mem" => no_arguments(Command::Memory, "mem"),
            "devices" => verbose_flag("devices").map(|verbose| Command::Devices { verbose }),
            "reboot" => no_arguments(Command::Reboot, "reboot"),
            "boot" => match (first, second, extra) {
                (None, _, _) => Ok(Command::Boot),
                (Some("tries"), Some(count), false) => count
                    .parse::<u8>()
                    .ok()
                    .filter(|count| (1..=15).contains(count))
                    .map(Command::BootTries)
                    .ok_or(usage("boot")),
                (Some("window"), Some(milliseconds), false) => milliseconds
                    .parse::<u16>()
                    .ok()
                    .map(Command::BootWindow)
                    .ok_or(usage("boot")),
                (Some("health"), Some(milliseconds), false) => milliseconds
                    .parse::<u32>()
                    .ok()
                    .filter(|ms| *ms <= 0x7fff_ffff)
                    .map(Command::BootHealth)
                    .ok_or(usage("boot")),
                _ => Err(usage("boot")),
            },
            "rollback" => no_arguments(Command::Rollback, "rollback"),
            "watchdog" => match (first, second) {
                (None, _) => Ok(Command::Watchdog(None)),
                (Some(milliseconds), None) => milliseconds
                    .parse::<u32>()
                    .ok()
                    .map(|ms| Command::Watchdog(Some(ms)))
                    .ok_or(usage("watchdog")),
                _ => Err(usage("watchdog")),
            },
            "update" => match (first.and_then(|n| n.parse::<u32>().ok()), second) {
                (Some(length), None) if length > 0 => Ok(Command::Update { length }),
                _ => Err(usage("update")),
            },
            "poweroff" => no_arguments(Command::PowerOff, "poweroff"),
            "log" => match (first, second, extra) {
                (None, _, _) => Ok(Command::LogShow),
                (Some("level"), None, _) => Ok(Command::LogLevelShow),
                (Some("level"), Some(level), false) => LogLevel::from_name(level)
                    .map(Command::LogLevelSet)
                    .ok_or(usage("log")),
                _ => Err(usage("log")),
            },
            "crash" => match (first, second) {
                (Some("abort"), None) => Ok(Command::Crash(CrashKind::DataAbort)),
                (Some("panic"), None) => Ok(Command::Crash(CrashKind::Panic)),
                (Some("undef"), None) => Ok(Command::Crash(CrashKind::Undefined)),
                (Some("stack"), None) => Ok(Command::Crash(CrashKind::StackOverflow)),
                (Some("hang"), None) => Ok(Command::Crash(CrashKind::Hang)),
                _ => Err(usage("crash")),
            },
            "ifconfig" | "ports" => {
                verbose_flag("ifconfig").map(|verbose| Command::Ifconfig { verbose })
            }
            "ping" => {
                let address = first.and_then(parse_ipv4).ok_or(usage("ping"))?;
                let count = match second {
                    None => PING_DEFAULT_COUNT,
                    Some(count) => count
                        .parse::<u16>()
                        .ok()
                        .filter(|&c| c > 0)
                        .ok_or(usage("ping"))?,
                };
                if extra {
                    return Err(usage("ping"));
                }
                Ok(Command::Ping { address, count })
            }
            unknown => Err(ParseError::Unknown(unknown)),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_listed_command_parses() {
        for (name, arguments, _) in COMMANDS {
            let line = match *name {
                "crash" => "crash abort",
                "ping" => "ping 10.0.2.2",
                "update" => "update 4096",
                other => other,
            };
            assert!(Command::parse(line).is_ok(), "{name} {arguments}");
        }
    }

    #[test]
    fn boot_bank_commands() {
        assert_eq!(Command::parse("boot"), Ok(Command::Boot));
        assert_eq!(Command::parse("boot tries 5"), Ok(Command::BootTries(5)));
        assert_eq!(
            Command::parse("boot health 2500"),
            Ok(Command::BootHealth(2500))
        );
        assert!(Command::parse("boot health -1").is_err());
        assert!(Command::parse("boot health 4294967295").is_err());
        assert_eq!(Command::parse("watchdog"), Ok(Command::Watchdog(None)));
        assert_eq!(
            Command::parse("watchdog 500"),
            Ok(Command::Watchdog(Some(500)))
        );
        assert!(Command::parse("watchdog 5 6").is_err());
        assert_eq!(Command::parse("boot window 0"), Ok(Command::BootWindow(0)));
        for bad in [
            "boot tries 0",
            "boot tries 16",
            "boot window -1",
            "boot window 70000",
            "boot x",
            "boot tries 3 4",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Command::parse("rollback"), Ok(Command::Rollback));
        assert_eq!(
            Command::parse("update 225000"),
            Ok(Command::Update { length: 225_000 })
        );
        for bad in [
            "update",
            "update 0",
            "update -1",
            "update 12x",
            "update 1 2",
            "boot now",
        ] {
            assert!(
                matches!(Command::parse(bad), Err(ParseError::Usage { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(Command::parse(""), Ok(Command::Nothing));
        assert_eq!(Command::parse("help"), Ok(Command::Help));
        assert_eq!(Command::parse("mem"), Ok(Command::Memory));
        assert_eq!(Command::parse("poweroff"), Ok(Command::PowerOff));
    }

    #[test]
    fn log_forms() {
        assert_eq!(Command::parse("log"), Ok(Command::LogShow));
        assert_eq!(Command::parse("log level"), Ok(Command::LogLevelShow));
        assert_eq!(
            Command::parse("log level WARN"),
            Ok(Command::LogLevelSet(LogLevel::Warn))
        );
        assert!(matches!(
            Command::parse("log level loud"),
            Err(ParseError::Usage { command: "log", .. })
        ));
        assert!(Command::parse("log level info extra").is_err());
    }

    #[test]
    fn arguments_where_none_are_taken_are_refused() {
        assert_eq!(
            Command::parse("reboot now").map_err(|error| error.to_string()),
            Err("usage: reboot ".to_string())
        );
    }

    #[test]
    fn unknown_command_names_itself() {
        let error = Command::parse("frobnicate 1 2").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown command 'frobnicate' (try 'help')"
        );
    }

    #[test]
    fn ping_forms() {
        assert_eq!(
            Command::parse("ping 10.0.2.2"),
            Ok(Command::Ping {
                address: [10, 0, 2, 2],
                count: 4
            })
        );
        assert_eq!(
            Command::parse("ping 192.168.1.250 100"),
            Ok(Command::Ping {
                address: [192, 168, 1, 250],
                count: 100
            })
        );
        for bad in [
            "ping",
            "ping 10.0.2",
            "ping 10.0.2.256",
            "ping 1.2.3.4.5",
            "ping 10.0.2.2 0",
            "ping 10.0.2.2 x",
            "ping 10.0.2.2 1 2",
            "ping +1.2.3.4",
        ] {
            assert!(Command::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Command::parse("ports"),
            Ok(Command::Ifconfig { verbose: false })
        );
    }

    #[test]
    fn verbose_flags() {
        for (line, command) in [
            ("ifconfig", Command::Ifconfig { verbose: false }),
            ("ifconfig -v", Command::Ifconfig { verbose: true }),
            ("ports -v", Command::Ifconfig { verbose: true }),
            ("devices", Command::Devices { verbose: false }),
            ("devices -v", Command::Devices { verbose: true }),
        ] {
            assert_eq!(Command::parse(line), Ok(command), "{line}");
        }
        for bad in ["ifconfig -x", "ifconfig -v -v", "devices v", "devices -v 1"] {
            assert!(
                matches!(Command::parse(bad), Err(ParseError::Usage { .. })),
                "{bad}"
            );
        }
        assert_eq!(
            Command::parse("ports -q").map_err(|error| error.to_string()),
            Err("usage: ifconfig [-v]".to_string())
        );
    }

    #[test]
    fn crash_kinds() {
        assert_eq!(
            Command::parse("crash panic"),
            Ok(Command::Crash(CrashKind::Panic))
        );
        assert_eq!(
            Command::parse("crash undef"),
            Ok(Command::Crash(CrashKind::Undefined))
        );
        assert_eq!(
            Command::parse("crash stack"),
            Ok(Command::Crash(CrashKind::StackOverflow))
        );
        assert!(Command::parse("crash").is_err());
        assert_eq!(
            Command::parse("crash hang"),
            Ok(Command::Crash(CrashKind::Hang))
        );
    }
}
