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

/// A parsed console command (borrowing words of the line, for `switch set`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
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
    /// Withdraw the image staged as the next boot's trial (the running bank boots again).
    Unstage,
    /// Set the number of tries a new trial image gets (1..=15).
    BootTries(u8),
    /// Set dpuboot's Shift+R window in milliseconds (0 = off).
    BootWindow(u16),
    /// Set the jumpstart health window in milliseconds (0 = commit at the first healthy check).
    BootHealth(u32),
    /// Show (`None`) or set the software watchdog's timeout in milliseconds (0 = off).
    Watchdog(Option<u32>),
    /// Poll-loop statistics: passes and the longest pass, since boot and since the last `stats`.
    Stats,
    /// Instructions per forwarded frame from the PMU (`pmu`), or zero its sums (`pmu reset`).
    Pmu {
        /// Zero the sums instead of showing them.
        reset: bool,
    },
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
    /// Show the data-port switch: ports, roles, VLANs, teaming, counters, drops by reason.
    Switch,
    /// Set one `switch.*` config key (validated with the whole config, applied atomically).
    SwitchSet {
        /// The key, with or without the `switch.` prefix.
        key: &'a str,
        /// Its value text.
        value: &'a str,
    },
    /// Show the MAC table, optionally only one VLAN and/or one port.
    Fdb {
        /// Only this VLAN (1..=4094).
        vlan: Option<u16>,
        /// Only this port number (1..=7).
        port: Option<u8>,
    },
    /// Add a static MAC table entry.
    FdbAdd {
        /// The unicast address.
        mac: [u8; 6],
        /// Its VLAN (1..=4094).
        vlan: u16,
        /// The port number (1..=7).
        port: u8,
    },
    /// Remove a MAC table entry (static or learned).
    FdbDel {
        /// The address.
        mac: [u8; 6],
        /// Its VLAN (1..=4094).
        vlan: u16,
    },
    /// Remove every learned MAC table entry (static ones stay).
    FdbFlush,
    /// Show active/standby HA: role, epoch, peer, host, uplinks, failovers.
    Ha,
    /// Hand active to the standby DPU (this DPU must be the active one).
    HaFailover,
    /// One management API request, answered on the console (as an administrator).
    Api {
        /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE` (any case).
        method: &'a str,
        /// The path and query (`/v1/fdb?vlan=10`).
        target: &'a str,
        /// The JSON body: the rest of the line (may be empty).
        body: &'a str,
    },
    /// Show the running config, where it came from, and the stored copies.
    Config,
    /// Print the running config as the API's JSON (`GET /v1/config`).
    ConfigJson,
    /// Save the running config to flash1's config area.
    ConfigSave,
    /// Erase the stored config (the next boot runs the defaults).
    ConfigClear,
    /// Test hook (semihosting only, not in `help`): the next save stops after this many flash
    /// operations, as a power cut would.
    ConfigSaveCut(u32),
    /// Make an API token and print its secret once.
    TokenAdd {
        /// The token's name.
        name: &'a str,
        /// The role word (`administrator`, `operator`, `read-only`), checked by the kernel.
        role: &'a str,
    },
    /// Remove an API token.
    TokenDel {
        /// The token's name.
        name: &'a str,
    },
    /// List the API tokens (names and roles, never secrets).
    TokenList,
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

/// Parses a MAC address written as six hex pairs separated by colons (`52:54:00:12:34:56`).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut octets = [0u8; 6];
    let mut parts = text.split(':');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *octet = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(octets)
}

/// Parses a VLAN id, 1..=4094.
fn parse_vlan(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>()
        .ok()
        .filter(|vlan| (1..=4094).contains(vlan))
}

/// Parses a data port, `port3` or `3`, 1..=7.
fn parse_port(text: &str) -> Option<u8> {
    let digits = text.strip_prefix("port").unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits
        .parse::<u8>()
        .ok()
        .filter(|port| (1..=7).contains(port))
}

/// `switch` or `switch set KEY VALUE`.
fn parse_switch<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<Command<'a>> {
    match (words.next(), words.next(), words.next(), words.next()) {
        (None, ..) => Some(Command::Switch),
        (Some("set"), Some(key), Some(value), None) => Some(Command::SwitchSet { key, value }),
        _ => None,
    }
}

/// `fdb [vlan N] [port P]`, `fdb add MAC vlan N port P`, `fdb del MAC vlan N`, `fdb flush`.
fn parse_fdb<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<Command<'a>> {
    let first = words.next();
    match first {
        Some("flush") => words.next().is_none().then_some(Command::FdbFlush),
        Some("add") => {
            let mac = parse_mac(words.next()?)?;
            let (mut vlan, mut port) = (None, None);
            while let Some(word) = words.next() {
                match word {
                    "vlan" if vlan.is_none() => vlan = Some(parse_vlan(words.next()?)?),
                    "port" if port.is_none() => port = Some(parse_port(words.next()?)?),
                    _ => return None,
                }
            }
            Some(Command::FdbAdd {
                mac,
                vlan: vlan?,
                port: port?,
            })
        }
        Some("del") => {
            let mac = parse_mac(words.next()?)?;
            match (words.next(), words.next(), words.next()) {
                (Some("vlan"), Some(vlan), None) => Some(Command::FdbDel {
                    mac,
                    vlan: parse_vlan(vlan)?,
                }),
                _ => None,
            }
        }
        _ => {
            let (mut vlan, mut port) = (None, None);
            let mut word = first;
            while let Some(filter) = word {
                match filter {
                    "vlan" if vlan.is_none() => vlan = Some(parse_vlan(words.next()?)?),
                    "port" if port.is_none() => port = Some(parse_port(words.next()?)?),
                    _ => return None,
                }
                word = words.next();
            }
            Some(Command::Fdb { vlan, port })
        }
    }
}

/// `api METHOD PATH [BODY]`: the body is the rest of the line, spaces and all.
fn parse_api(rest: &str) -> Option<Command<'_>> {
    let rest = rest.trim_start();
    let (method, rest) = rest.split_once(|c: char| c.is_ascii_whitespace())?;
    let rest = rest.trim_start();
    let (target, body) = rest
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((rest, ""));
    (target.starts_with('/')).then_some(Command::Api {
        method,
        target,
        body: body.trim(),
    })
}

/// `config`, `config save`, `config clear`.
fn parse_config<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<Command<'a>> {
    match (words.next(), words.next()) {
        (None, _) => Some(Command::Config),
        (Some("save"), None) => Some(Command::ConfigSave),
        (Some("json"), None) => Some(Command::ConfigJson),
        (Some("clear"), None) => Some(Command::ConfigClear),
        (Some("save-cut"), Some(count)) => {
            let count = count.parse().ok()?;
            words
                .next()
                .is_none()
                .then_some(Command::ConfigSaveCut(count))
        }
        _ => None,
    }
}

/// `token list`, `token add NAME ROLE`, `token del NAME`.
fn parse_token<'a>(mut words: impl Iterator<Item = &'a str>) -> Option<Command<'a>> {
    match (words.next(), words.next(), words.next(), words.next()) {
        (None, ..) | (Some("list"), None, ..) => Some(Command::TokenList),
        (Some("add"), Some(name), Some(role), None) => Some(Command::TokenAdd { name, role }),
        (Some("del"), Some(name), None, _) => Some(Command::TokenDel { name }),
        _ => None,
    }
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
    (
        "stats",
        "",
        "poll loop: passes and the longest pass, since boot and since the last 'stats'",
    ),
    (
        "pmu",
        "[reset]",
        "instructions per forwarded frame (PMU; QEMU counts them under -icount)",
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
        "unstage",
        "",
        "withdraw the image staged for the next boot (it boots the running bank again)",
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
    (
        "switch",
        "[set KEY VALUE]",
        "data-port switch: ports, vlans, teaming, counters; set a switch.* key",
    ),
    (
        "fdb",
        "[vlan N] [port P] | add MAC vlan N port P | del MAC vlan N | flush",
        "the switch's MAC table; add or remove static entries, flush learned ones",
    ),
    (
        "ha",
        "[failover]",
        "active/standby HA: role, epoch, peer, host, failovers; hand active to the standby",
    ),
    (
        "api",
        "METHOD PATH [JSON]",
        "one management API request, answered here (as an administrator)",
    ),
    (
        "config",
        "[json | save | clear]",
        "the running config and the stored copies; as JSON; save it to flash; erase the stored one",
    ),
    (
        "token",
        "[list | add NAME administrator|operator|read-only | del NAME]",
        "API tokens: list, make one (its secret is shown once), remove one",
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

impl<'a> Command<'a> {
    /// Parses one console line (already trimmed of surrounding white space).
    pub fn parse(line: &'a str) -> Result<Command<'a>, ParseError<'a>> {
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else {
            return Ok(Command::Nothing);
        };
        match name {
            "switch" => return parse_switch(words).ok_or(usage("switch")),
            "fdb" => return parse_fdb(words).ok_or(usage("fdb")),
            "ha" => {
                return match (words.next(), words.next()) {
                    (None, _) => Ok(Command::Ha),
                    (Some("failover"), None) => Ok(Command::HaFailover),
                    _ => Err(usage("ha")),
                };
            }
            "api" => {
                return parse_api(line.get(name.len()..).unwrap_or("")).ok_or(usage("api"));
            }
            "config" => return parse_config(words).ok_or(usage("config")),
            "token" => return parse_token(words).ok_or(usage("token")),
            _ => {}
        }
        let first = words.next();
        let second = words.next();
        let extra = words.next().is_some();
        let no_arguments = |command: Command<'a>, name: &'static str| {
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
            "stats" => no_arguments(Command::Stats, "stats"),
            "pmu" => match (first, second) {
                (None, _) => Ok(Command::Pmu { reset: false }),
                (Some("reset"), None) => Ok(Command::Pmu { reset: true }),
                _ => Err(usage("pmu")),
            },
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
            "unstage" => no_arguments(Command::Unstage, "unstage"),
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
                "api" => "api GET /v1/system",
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
        assert_eq!(Command::parse("unstage"), Ok(Command::Unstage));
        assert!(Command::parse("unstage now").is_err());
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
    fn stats_takes_no_arguments() {
        assert_eq!(Command::parse("stats"), Ok(Command::Stats));
        assert_eq!(Command::parse("  stats  "), Ok(Command::Stats));
        assert_eq!(
            Command::parse("stats now").map_err(|error| error.to_string()),
            Err("usage: stats ".to_string())
        );
    }

    #[test]
    fn pmu_shows_or_resets() {
        assert_eq!(Command::parse("pmu"), Ok(Command::Pmu { reset: false }));
        assert_eq!(
            Command::parse("pmu reset"),
            Ok(Command::Pmu { reset: true })
        );
        assert_eq!(
            Command::parse("pmu clear"),
            Err(ParseError::Usage {
                command: "pmu",
                usage: "[reset]"
            })
        );
        assert!(Command::parse("pmu reset now").is_err());
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

    #[test]
    fn switch_forms() {
        assert_eq!(Command::parse("switch"), Ok(Command::Switch));
        assert_eq!(
            Command::parse("switch set switch.port2.vlan 10"),
            Ok(Command::SwitchSet {
                key: "switch.port2.vlan",
                value: "10"
            })
        );
        assert_eq!(
            Command::parse("switch  set aging   0"),
            Ok(Command::SwitchSet {
                key: "aging",
                value: "0"
            })
        );
        for bad in [
            "switch show",
            "switch set",
            "switch set aging",
            "switch set a b c",
        ] {
            assert_eq!(
                Command::parse(bad).map_err(|error| error.to_string()),
                Err("usage: switch [set KEY VALUE]".to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn fdb_forms() {
        assert_eq!(
            Command::parse("fdb"),
            Ok(Command::Fdb {
                vlan: None,
                port: None
            })
        );
        assert_eq!(
            Command::parse("fdb vlan 10"),
            Ok(Command::Fdb {
                vlan: Some(10),
                port: None
            })
        );
        assert_eq!(
            Command::parse("fdb port port3 vlan 4094"),
            Ok(Command::Fdb {
                vlan: Some(4094),
                port: Some(3)
            })
        );
        assert_eq!(
            Command::parse("fdb port 7"),
            Ok(Command::Fdb {
                vlan: None,
                port: Some(7)
            })
        );
        let mac = [0x52, 0x54, 0x00, 0xab, 0xcd, 0x0f];
        assert_eq!(
            Command::parse("fdb add 52:54:00:AB:cd:0f vlan 1 port port2"),
            Ok(Command::FdbAdd {
                mac,
                vlan: 1,
                port: 2
            })
        );
        assert_eq!(
            Command::parse("fdb add 52:54:00:ab:cd:0f port 2 vlan 20"),
            Ok(Command::FdbAdd {
                mac,
                vlan: 20,
                port: 2
            })
        );
        assert_eq!(
            Command::parse("fdb del 52:54:00:ab:cd:0f vlan 20"),
            Ok(Command::FdbDel { mac, vlan: 20 })
        );
        assert_eq!(Command::parse("fdb flush"), Ok(Command::FdbFlush));
        assert_eq!(Command::parse("ha"), Ok(Command::Ha));
        assert_eq!(Command::parse("ha failover"), Ok(Command::HaFailover));
        assert!(matches!(
            Command::parse("ha failover now"),
            Err(ParseError::Usage { command: "ha", .. })
        ));
    }

    #[test]
    fn config_and_token_commands() {
        assert_eq!(Command::parse("config"), Ok(Command::Config));
        assert_eq!(Command::parse("config save"), Ok(Command::ConfigSave));
        assert_eq!(Command::parse("config clear"), Ok(Command::ConfigClear));
        assert_eq!(Command::parse("config json"), Ok(Command::ConfigJson));
        assert!(Command::parse("config load").is_err());
        assert!(Command::parse("config save now").is_err());
        assert_eq!(
            Command::parse("config save-cut 2"),
            Ok(Command::ConfigSaveCut(2))
        );
        assert!(Command::parse("config save-cut x").is_err());
        assert_eq!(Command::parse("token"), Ok(Command::TokenList));
        assert_eq!(Command::parse("token list"), Ok(Command::TokenList));
        assert_eq!(
            Command::parse("token add ops operator"),
            Ok(Command::TokenAdd {
                name: "ops",
                role: "operator"
            })
        );
        assert_eq!(
            Command::parse("token del ops"),
            Ok(Command::TokenDel { name: "ops" })
        );
        assert!(Command::parse("token add ops").is_err());
        assert!(Command::parse("token add ops operator now").is_err());
        assert!(Command::parse("token del").is_err());
        for bad in [
            "fdb vlan",
            "fdb vlan 0",
            "fdb vlan 4095",
            "fdb vlan 10 vlan 20",
            "fdb port 8",
            "fdb port port0",
            "fdb port +1",
            "fdb learned",
            "fdb flush now",
            "fdb add",
            "fdb add 52:54:00:ab:cd vlan 1 port 1",
            "fdb add 52:54:00:ab:cd:0f:01 vlan 1 port 1",
            "fdb add 52:54:00:ab:cd:zz vlan 1 port 1",
            "fdb add 52:54:00:ab:cd:0f vlan 1",
            "fdb add 52:54:00:ab:cd:0f port 1",
            "fdb add 52:54:00:ab:cd:0f vlan 1 port 1 port 2",
            "fdb add 52:54:00:ab:cd:0f vlan 1 port 1 extra",
            "fdb del 52:54:00:ab:cd:0f",
            "fdb del 52:54:00:ab:cd:0f vlan 1 port 1",
            "fdb del 52:54:00:ab:cd:0f port 1",
        ] {
            assert!(
                matches!(
                    Command::parse(bad),
                    Err(ParseError::Usage { command: "fdb", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(
            parse_mac("ff:FF:00:01:02:03"),
            Some([0xff, 0xff, 0, 1, 2, 3])
        );
        for bad in [
            "",
            "ff:ff:00:01:02",
            "f:ff:00:01:02:03",
            "ff-ff-00-01-02-03",
            "+f:ff:00:01:02:03",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn api_requests() {
        assert_eq!(
            Command::parse("api GET /v1/fdb?vlan=10"),
            Ok(Command::Api {
                method: "GET",
                target: "/v1/fdb?vlan=10",
                body: ""
            })
        );
        assert_eq!(
            Command::parse("api  patch   /v1/ports/port1  {\"mac_limit\": 10} "),
            Ok(Command::Api {
                method: "patch",
                target: "/v1/ports/port1",
                body: "{\"mac_limit\": 10}"
            })
        );
        for bad in ["api", "api GET", "api GET v1/system"] {
            assert!(
                matches!(
                    Command::parse(bad),
                    Err(ParseError::Usage { command: "api", .. })
                ),
                "{bad}"
            );
        }
    }
}
