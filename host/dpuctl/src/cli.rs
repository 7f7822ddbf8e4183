//! `dpuctl`'s command line and its `dpuctl.toml`: which DPUs, the token, the console sockets.

use crate::dpu::Dpu;
use std::path::{Path, PathBuf};

/// The usage text.
pub const USAGE: &str = "\
dpuctl [--dpu ALIAS=ADDR ...] [--token T] [--console ALIAS=SOCKET ...] [--config FILE] COMMAND

commands:
  status [--json]          every DPU: alias, management address, firmware, banks, HA role, health
  update IMAGE             stage the signed image on every DPU in parallel, then activate one DPU
                           at a time, standby first: reboot, wait for the commit, fail over
  rollback [ALIAS ...]     every DPU (or those named) boots its other bank, one at a time,
                           standby first; an active one hands its role to a standby first
  failover [--to ALIAS]    the active role moves to the standby (or ALIAS)
  logs [--out DIR]         a support bundle per DPU into DIR/ALIAS (default dpu-logs); over the
                           serial console when the API does not answer
  arbiter [--listen ADDR]  the host's HA arbiter (UDP, default 0.0.0.0:7400)

ADDR is A.B.C.D (port 80) or HOST:PORT. The token also comes from DPUCTL_TOKEN; the DPUs,
token and consoles also from dpuctl.toml (or --config FILE):
  token = \"SECRET\"
  [dpu.dpu1]
  address = \"169.254.10.11\"
  console = \"/run/dpu1.sock\"
Exit status: 0 when every DPU succeeded, 1 when any failed, 2 for a bad command line.";

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `status [--json]`.
    Status {
        /// `--json`.
        json: bool,
    },
    /// `update IMAGE`.
    Update {
        /// The signed image.
        image: PathBuf,
    },
    /// `rollback [ALIAS ...]`.
    Rollback {
        /// The DPUs to roll back; empty: every DPU.
        only: Vec<String>,
    },
    /// `failover [--to ALIAS]`.
    Failover {
        /// `--to`.
        target: Option<String>,
    },
    /// `logs [--out DIR]`.
    Logs {
        /// `--out`.
        out: PathBuf,
    },
    /// `arbiter [--listen ADDR]`.
    Arbiter {
        /// `--listen`.
        listen: String,
    },
    /// `help`.
    Help,
}

/// The whole command line, resolved with the config file and the environment.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The DPUs, in the order given.
    pub dpus: Vec<Dpu>,
    /// What to do.
    pub command: Command,
}

/// One `[dpu.ALIAS]` of the config file or one `--dpu`.
#[derive(Debug, Default, Clone)]
struct DpuEntry {
    alias: String,
    address: Option<String>,
    console: Option<PathBuf>,
}

fn entry<'a>(entries: &'a mut Vec<DpuEntry>, alias: &str) -> &'a mut DpuEntry {
    if let Some(index) = entries.iter().position(|entry| entry.alias == alias) {
        return &mut entries[index];
    }
    entries.push(DpuEntry {
        alias: alias.to_string(),
        ..DpuEntry::default()
    });
    let last = entries.len() - 1;
    &mut entries[last]
}

fn unquote(value: &str) -> Result<String, String> {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("value {value} must be in double quotes"))
}

fn split_pair<'a>(text: &'a str, what: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once('=')
        .filter(|(alias, value)| !alias.is_empty() && !value.is_empty())
        .ok_or_else(|| format!("{what} wants ALIAS=VALUE, not {text}"))
}

/// Reads the subset of TOML `dpuctl.toml` uses: `token = "..."` and `[dpu.ALIAS]` tables with
/// `address` and `console`. A line it does not know is an error naming the line.
fn read_config(
    text: &str,
    file: &Path,
    entries: &mut Vec<DpuEntry>,
    token: &mut Option<String>,
) -> Result<(), String> {
    let mut section: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let place = format!("{} line {}", file.display(), number + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            let alias = name
                .trim()
                .strip_prefix("dpu.")
                .ok_or_else(|| format!("{place}: only [dpu.ALIAS] tables are known"))?;
            entry(entries, alias);
            section = Some(alias.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{place}: expected KEY = \"VALUE\""))?;
        let value = unquote(value).map_err(|error| format!("{place}: {error}"))?;
        match (section.as_deref(), key.trim()) {
            (None, "token") => *token = Some(value),
            (Some(alias), "address") => entry(entries, alias).address = Some(value),
            (Some(alias), "console") => entry(entries, alias).console = Some(value.into()),
            (_, key) => return Err(format!("{place}: unknown key {key}")),
        }
    }
    Ok(())
}

/// Parses the arguments (without the program name); `environment_token` is `DPUCTL_TOKEN`.
pub fn parse(
    arguments: &[String],
    environment_token: Option<String>,
) -> Result<Invocation, String> {
    let mut entries: Vec<DpuEntry> = Vec::new();
    let mut command_line_entries: Vec<DpuEntry> = Vec::new();
    let mut token: Option<String> = None;
    let mut config: Option<PathBuf> = None;
    let mut rest = Vec::new();
    let mut iterator = arguments.iter();
    while let Some(argument) = iterator.next() {
        let mut value = |name: &str| {
            iterator
                .next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match argument.as_str() {
            "--dpu" => {
                let text = value("--dpu")?;
                let (alias, address) = split_pair(&text, "--dpu")?;
                entry(&mut command_line_entries, alias).address = Some(address.to_string());
            }
            "--console" => {
                let text = value("--console")?;
                let (alias, socket) = split_pair(&text, "--console")?;
                entry(&mut command_line_entries, alias).console = Some(socket.into());
            }
            "--token" => token = Some(value("--token")?),
            "--config" => config = Some(value("--config")?.into()),
            "-h" | "--help" => rest.push("help".to_string()),
            _ => rest.push(argument.clone()),
        }
    }
    let config_file = config.clone().or_else(|| {
        let default = PathBuf::from("dpuctl.toml");
        default.exists().then_some(default)
    });
    let mut file_token = None;
    if let Some(file) = &config_file {
        let text = std::fs::read_to_string(file)
            .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
        read_config(&text, file, &mut entries, &mut file_token)?;
    }
    // The command line wins over the file.
    for given in command_line_entries {
        let target = entry(&mut entries, &given.alias);
        if given.address.is_some() {
            target.address = given.address;
        }
        if given.console.is_some() {
            target.console = given.console;
        }
    }
    let token = token.or(environment_token).or(file_token);
    let command = parse_command(&rest)?;
    let mut dpus = Vec::new();
    for entry in entries {
        let address = entry.address.ok_or_else(|| {
            format!(
                "{} has no address (--dpu {}=ADDR or address in the config file)",
                entry.alias, entry.alias
            )
        })?;
        dpus.push(Dpu::new(
            &entry.alias,
            &address,
            token.clone(),
            entry.console,
        ));
    }
    let needs_dpus = !matches!(command, Command::Help | Command::Arbiter { .. });
    if needs_dpus && dpus.is_empty() {
        return Err("no DPUs: give --dpu ALIAS=ADDR or a dpuctl.toml".into());
    }
    Ok(Invocation { dpus, command })
}

fn parse_command(words: &[String]) -> Result<Command, String> {
    let Some((first, options)) = words.split_first() else {
        return Ok(Command::Help);
    };
    let option = |name: &str| -> Result<Option<String>, String> {
        match options.iter().position(|word| word == name) {
            Some(index) => options
                .get(index + 1)
                .cloned()
                .map(Some)
                .ok_or_else(|| format!("{name} needs a value")),
            None => Ok(None),
        }
    };
    let known = |allowed: &[&str]| -> Result<(), String> {
        let mut skip = false;
        for word in options {
            if skip {
                skip = false;
                continue;
            }
            if allowed.contains(&word.as_str()) {
                skip = word != "--json";
                continue;
            }
            return Err(format!("{first}: unknown argument {word}"));
        }
        Ok(())
    };
    match first.as_str() {
        "status" => {
            known(&["--json"])?;
            Ok(Command::Status {
                json: options.iter().any(|word| word == "--json"),
            })
        }
        "update" => match options {
            [image] => Ok(Command::Update {
                image: image.into(),
            }),
            _ => Err("update takes one argument: the signed image".into()),
        },
        "rollback" => {
            if let Some(flag) = options.iter().find(|word| word.starts_with('-')) {
                return Err(format!("rollback: unknown argument {flag}"));
            }
            Ok(Command::Rollback {
                only: options.to_vec(),
            })
        }
        "failover" => {
            known(&["--to"])?;
            Ok(Command::Failover {
                target: option("--to")?,
            })
        }
        "logs" => {
            known(&["--out"])?;
            Ok(Command::Logs {
                out: option("--out")?.unwrap_or_else(|| "dpu-logs".into()).into(),
            })
        }
        "arbiter" => {
            known(&["--listen"])?;
            Ok(Command::Arbiter {
                listen: option("--listen")?.unwrap_or_else(|| "0.0.0.0:7400".into()),
            })
        }
        "help" => Ok(Command::Help),
        other => Err(format!("unknown command {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn dpus_token_and_command_from_the_command_line() {
        let invocation = parse(
            &words("--dpu dpu1=169.254.10.11 --dpu dpu2=127.0.0.1:8080 --console dpu1=/tmp/c1 status --json"),
            Some("from-env".into()),
        )
        .unwrap();
        assert_eq!(invocation.command, Command::Status { json: true });
        assert_eq!(invocation.dpus.len(), 2);
        assert_eq!(invocation.dpus[0].label(), "dpu1 (mgmt 169.254.10.11)");
        assert_eq!(invocation.dpus[0].console, Some(PathBuf::from("/tmp/c1")));
        assert_eq!(invocation.dpus[1].address, "127.0.0.1:8080");
    }

    #[test]
    fn rollback_takes_the_dpus_to_roll_back() {
        let invocation = parse(&words("--dpu dpu1=10.0.0.1 rollback dpu1"), None).unwrap();
        assert_eq!(
            invocation.command,
            Command::Rollback {
                only: vec!["dpu1".into()]
            }
        );
        let invocation = parse(&words("--dpu dpu1=10.0.0.1 rollback"), None).unwrap();
        assert_eq!(invocation.command, Command::Rollback { only: Vec::new() });
    }

    #[test]
    fn the_config_file_fills_in_and_the_command_line_wins() {
        let directory = std::env::temp_dir().join(format!("dpuctl-cli-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let file = directory.join("dpuctl.toml");
        std::fs::write(
            &file,
            "# the pair\ntoken = \"secret-from-file\"\n[dpu.dpu1]\naddress = \"10.0.0.1\"\nconsole = \"/run/c1\"\n[dpu.dpu2]\naddress = \"10.0.0.2\"\n",
        )
        .unwrap();
        let line = format!(
            "--config {} --dpu dpu2=10.0.0.9 failover --to dpu2",
            file.display()
        );
        let invocation = parse(&words(&line), None).unwrap();
        assert_eq!(
            invocation.command,
            Command::Failover {
                target: Some("dpu2".into())
            }
        );
        assert_eq!(invocation.dpus[0].address, "10.0.0.1");
        assert_eq!(invocation.dpus[1].address, "10.0.0.9");
        std::fs::write(&file, "[dpu.dpu1]\nadress = \"x\"\n").unwrap();
        let error =
            parse(&words(&format!("--config {} status", file.display())), None).unwrap_err();
        assert!(error.contains("line 2: unknown key adress"), "{error}");
        std::fs::remove_dir_all(&directory).unwrap();
    }

    #[test]
    fn bad_command_lines_say_why() {
        for (line, expected) in [
            ("status", "no DPUs"),
            (
                "--dpu a=1.2.3.4 rollback --all",
                "rollback: unknown argument --all",
            ),
            ("--dpu dpu1 status", "ALIAS=VALUE"),
            ("--dpu a=1.2.3.4 frobnicate", "unknown command frobnicate"),
            ("--dpu a=1.2.3.4 update", "one argument"),
            ("--dpu a=1.2.3.4 status --yaml", "unknown argument --yaml"),
            ("--dpu a=1.2.3.4 failover --to", "--to needs a value"),
        ] {
            let error = parse(&words(line), None).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }
}
