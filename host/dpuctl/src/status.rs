//! `dpuctl status`: every DPU's alias, management address, firmware, banks, HA role and health.

use crate::dpu::{Dpu, text_at};
use crate::out::{Out, table};
use serde_json::{Value, json};

/// What one DPU answered (or why it did not).
#[derive(Debug, Clone)]
pub struct DpuStatus {
    /// The DPU's label pieces.
    pub alias: String,
    /// Its management address.
    pub address: String,
    /// `GET /v1/system`, `GET /v1/firmware`, `GET /v1/ha` (null when HA is off).
    pub system: Value,
    /// `GET /v1/firmware`.
    pub firmware: Value,
    /// `GET /v1/ha`, null when the DPU runs without HA.
    pub ha: Value,
    /// `ok`, or what is wrong, in words.
    pub health: String,
    /// Whether the DPU answered and is healthy.
    pub healthy: bool,
}

impl DpuStatus {
    /// The running firmware version (the running bank's image version).
    pub fn version(&self) -> String {
        crate::dpu::running_version(&self.system, &self.firmware)
    }

    /// The HA role (`active`, `standby`, `refused`) or `disabled`.
    pub fn role(&self) -> &str {
        if self.ha.is_null() {
            "disabled"
        } else {
            text_at(&self.ha, "/role")
        }
    }

    /// `A 0.1.0+1 committed*, B 0.1.0+2 trial` (`*` the running bank, `>` the staged one).
    pub fn banks(&self) -> String {
        let Some(banks) = self.firmware["banks"].as_array() else {
            return "none".into();
        };
        if banks.is_empty() {
            return "none (direct boot)".into();
        }
        banks
            .iter()
            .map(|bank| {
                let version = bank["version"].as_str().filter(|text| !text.is_empty());
                let state = text_at(bank, "/state");
                let mark = if bank["active"].as_bool() == Some(true) {
                    "*"
                } else if bank["staged"].as_bool() == Some(true) {
                    ">"
                } else {
                    ""
                };
                match version {
                    Some(version) => format!("{} {version} {state}{mark}", text_at(bank, "/slot")),
                    None => format!("{} {state}{mark}", text_at(bank, "/slot")),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Asks one DPU for its status; never fails: an unreachable DPU is a status too.
pub fn query(dpu: &Dpu) -> DpuStatus {
    let mut status = DpuStatus {
        alias: dpu.alias.clone(),
        address: dpu.address.clone(),
        system: Value::Null,
        firmware: Value::Null,
        ha: Value::Null,
        health: String::new(),
        healthy: false,
    };
    match dpu.get_json("/healthz") {
        Ok(health) if health["status"].as_str() == Some("ok") => {}
        Ok(health) => {
            status.health = format!("health {}", text_at(&health, "/status"));
            return status;
        }
        Err(error) => {
            status.health = error.to_string();
            return status;
        }
    }
    let system = dpu.get_json("/v1/system");
    let firmware = dpu.get_json("/v1/firmware");
    let ha = dpu.ha();
    let mut problems = Vec::new();
    match system {
        Ok(value) => status.system = value,
        Err(error) => problems.push(format!("system: {error}")),
    }
    match firmware {
        Ok(value) => status.firmware = value,
        Err(error) => problems.push(format!("firmware: {error}")),
    }
    match ha {
        Ok(Some(value)) => status.ha = value,
        Ok(None) => {}
        Err(error) => problems.push(format!("ha: {error}")),
    }
    if status.system["boot"]["trial"].as_bool() == Some(true) {
        problems.push("running a trial image (not committed yet)".into());
    }
    if status.role() == "refused" {
        problems.push(format!(
            "HA refused: {}",
            status.ha["refused_reason"]
                .as_str()
                .unwrap_or("no reason given")
        ));
    }
    // Formed already but running different firmware or config than its peer (a rolling update
    // midway, or one DPU left on an earlier version): HA keeps going, the operator must know.
    if let Some(mismatch) = status.ha["mismatch"].as_str() {
        problems.push(format!("differs from its peer: {mismatch}"));
    }
    status.healthy = problems.is_empty();
    status.health = if problems.is_empty() {
        "ok".into()
    } else {
        problems.join("; ")
    };
    status
}

/// Asks every DPU at once.
pub fn query_all(dpus: &[Dpu]) -> Vec<DpuStatus> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = dpus
            .iter()
            .map(|dpu| scope.spawn(move || query(dpu)))
            .collect();
        handles
            .into_iter()
            .zip(dpus)
            .map(|(handle, dpu)| {
                handle.join().unwrap_or_else(|_| DpuStatus {
                    alias: dpu.alias.clone(),
                    address: dpu.address.clone(),
                    system: Value::Null,
                    firmware: Value::Null,
                    ha: Value::Null,
                    health: "status query failed".into(),
                    healthy: false,
                })
            })
            .collect()
    })
}

/// The statuses as the `--json` document.
pub fn to_json(statuses: &[DpuStatus]) -> Value {
    json!({
        "dpus": statuses.iter().map(|status| json!({
            "alias": status.alias,
            "mgmt": status.address,
            "reachable": !status.system.is_null(),
            "version": if status.system.is_null() { serde_json::Value::Null } else { status.version().into() },
            "build_version": status.system["version"],
            "boot": status.system["boot"],
            "banks": status.firmware["banks"],
            "ha": status.ha,
            "role": status.role(),
            "healthy": status.healthy,
            "health": status.health,
        })).collect::<Vec<_>>()
    })
}

/// Runs `dpuctl status`; true when every DPU answered and is healthy.
pub fn run(dpus: &[Dpu], as_json: bool, out: &Out) -> bool {
    let statuses = query_all(dpus);
    if as_json {
        out.result(&serde_json::to_string_pretty(&to_json(&statuses)).unwrap_or_default());
    } else {
        let rows: Vec<Vec<String>> = statuses
            .iter()
            .map(|status| {
                vec![
                    status.alias.clone(),
                    status.address.clone(),
                    if status.system.is_null() {
                        "-".into()
                    } else {
                        status.version()
                    },
                    if status.firmware.is_null() {
                        "-".into()
                    } else {
                        status.banks()
                    },
                    if status.system.is_null() {
                        "-".into()
                    } else {
                        status.role().to_string()
                    },
                    status.health.clone(),
                ]
            })
            .collect();
        let text = table(
            &["DPU", "MGMT", "VERSION", "BANKS", "HA ROLE", "HEALTH"],
            &rows,
        );
        for line in text.lines() {
            out.result(line);
        }
        out.result("(banks: * running, > staged to boot next)");
    }
    statuses.iter().all(|status| status.healthy)
}
