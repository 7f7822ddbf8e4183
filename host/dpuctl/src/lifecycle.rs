//! `dpuctl update`, `rollback` and `failover`: lifecycle operations, each within one DPU's own
//! boundary (the seeds' rule): stage on every DPU in parallel, then activate one DPU at a time,
//! standby first, fail over, then the other; stop at the first failure and leave the DPUs not
//! yet touched as they were. Every result line names the DPU and the reason.

use crate::dpu::{ApiError, Dpu, running_version, text_at};
use crate::out::Out;
use serde_json::json;
use std::time::{Duration, Instant};

/// Deadlines and the polling interval (the tests shorten them).
#[derive(Debug, Clone)]
pub struct Timing {
    /// Between two polls of a task, a rebooting DPU, a role.
    pub poll: Duration,
    /// An upload's task from 202 to its verdict.
    pub task: Duration,
    /// A reboot: from the request to the new boot answering its API.
    pub reboot: Duration,
    /// A trial: from its boot to its commit (the health window is 10 s by default).
    pub commit: Duration,
    /// A failover: from the request to the new active DPU saying so.
    pub failover: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            poll: Duration::from_millis(250),
            task: Duration::from_secs(120),
            reboot: Duration::from_secs(90),
            commit: Duration::from_secs(60),
            failover: Duration::from_secs(10),
        }
    }
}

/// What happened to one DPU: the line to print after its label.
pub type Verdict = Result<String, String>;

/// Prints each DPU's verdict; true when all succeeded.
fn report(dpus: &[Dpu], verdicts: &[Verdict], out: &Out) -> bool {
    for (dpu, verdict) in dpus.iter().zip(verdicts) {
        match verdict {
            Ok(text) => out.result(&format!("{}: {text}", dpu.label())),
            Err(text) => out.result(&format!("{}: FAILED: {text}", dpu.label())),
        }
    }
    let failed: Vec<&str> = dpus
        .iter()
        .zip(verdicts)
        .filter(|(_, verdict)| verdict.is_err())
        .map(|(dpu, _)| dpu.alias.as_str())
        .collect();
    if failed.is_empty() {
        out.result("result: ok");
        true
    } else {
        out.result(&format!("result: FAILED on {}", failed.join(", ")));
        false
    }
}

/// Where a DPU stands before an operation.
#[derive(Debug, Clone)]
struct Standing {
    version: String,
    boot_number: u64,
    uptime_ms: u64,
    /// `active`, `standby`, `refused` or `disabled`.
    role: String,
}

fn standing(dpu: &Dpu) -> Result<Standing, ApiError> {
    let system = dpu.get_json("/v1/system")?;
    let firmware = dpu.get_json("/v1/firmware")?;
    let role = match dpu.ha()? {
        Some(ha) => text_at(&ha, "/role").to_string(),
        None => "disabled".into(),
    };
    Ok(Standing {
        version: running_version(&system, &firmware),
        boot_number: system["boot"]["number"].as_u64().unwrap_or(0),
        uptime_ms: system["uptime_ms"].as_u64().unwrap_or(u64::MAX),
        role,
    })
}

/// Every DPU's standing, asked at once.
fn standings(dpus: &[Dpu]) -> Vec<Result<Standing, String>> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = dpus
            .iter()
            .map(|dpu| scope.spawn(move || standing(dpu).map_err(|error| error.to_string())))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("preflight failed".into()))
            })
            .collect()
    })
}

/// The order of activation: standby (and refused or HA-less) DPUs first, the active one last.
fn activation_order(standings: &[Standing]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..standings.len()).collect();
    order.sort_by_key(|&index| standings[index].role == "active");
    order
}

/// Uploads `image` to one DPU and waits for its task's verdict; the staged version.
fn stage(dpu: &Dpu, image: &[u8], timing: &Timing, out: &Out) -> Result<String, String> {
    let label = dpu.label();
    out.progress(&label, &format!("uploading {} bytes", image.len()));
    let task = dpu
        .upload(image)
        .map_err(|error| format!("upload refused: {error}"))?;
    let id = task["id"]
        .as_str()
        .map(str::to_string)
        .or_else(|| task["id"].as_u64().map(|id| id.to_string()))
        .ok_or("upload answered without a task id")?;
    let deadline = Instant::now() + timing.task;
    let mut last_percent = None;
    let task = loop {
        let task = dpu
            .get_json(&format!("/v1/tasks/{id}"))
            .map_err(|error| format!("upload task {id}: {error}"))?;
        match task["state"].as_str() {
            Some("running") => {}
            Some(_) => break task,
            None => return Err(format!("upload task {id} has no state")),
        }
        let percent = task["percent"].as_u64();
        if percent != last_percent {
            out.progress(
                &label,
                &format!("verifying the upload, {}%", percent.unwrap_or(0)),
            );
            last_percent = percent;
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "upload task {id} still running after {} s",
                timing.task.as_secs()
            ));
        }
        std::thread::sleep(timing.poll);
    };
    if task["state"].as_str() != Some("completed") {
        return Err(text_at(&task, "/message").to_string());
    }
    let firmware = dpu
        .get_json("/v1/firmware")
        .map_err(|error| format!("after the upload: {error}"))?;
    let staged = firmware["banks"]
        .as_array()
        .and_then(|banks| {
            banks
                .iter()
                .find(|bank| bank["staged"].as_bool() == Some(true))
        })
        .ok_or("the upload completed but no bank is staged")?;
    let version = text_at(staged, "/version").to_string();
    out.progress(
        &label,
        &format!("staged {version} in bank {}", text_at(staged, "/slot")),
    );
    Ok(version)
}

/// Reboots a DPU and waits until it runs `expected` committed; the boot's version.
fn reboot_and_commit(
    dpu: &Dpu,
    before: &Standing,
    expected: &str,
    timing: &Timing,
    out: &Out,
) -> Result<(), String> {
    let label = dpu.label();
    out.progress(&label, "rebooting");
    dpu.post_json("/v1/system:reboot", Some(r#"{"type":"GracefulRestart"}"#))
        .map_err(|error| format!("reboot refused: {error}"))?;
    let started = Instant::now();
    let mut announced = false;
    // A new boot: a higher boot number or an uptime that went back.
    let system = loop {
        if started.elapsed() >= timing.reboot {
            return Err(format!(
                "did not come back within {} s of its reboot",
                timing.reboot.as_secs()
            ));
        }
        match dpu.get_json("/v1/system") {
            Ok(system)
                if system["boot"]["number"].as_u64() != Some(before.boot_number)
                    || system["uptime_ms"].as_u64().unwrap_or(u64::MAX) < before.uptime_ms =>
            {
                break system;
            }
            Ok(_) => {}
            Err(error) if error.is_unreachable() => {
                if !announced {
                    out.progress(&label, "down, waiting for it to come back");
                    announced = true;
                }
            }
            Err(error) => return Err(format!("after its reboot: {error}")),
        }
        std::thread::sleep(timing.poll);
    };
    out.progress(
        &label,
        &format!("back after {} ms", started.elapsed().as_millis()),
    );
    let commit_started = Instant::now();
    let mut system = Some(system);
    loop {
        // Both answers of one boot: a DPU that resets between them is asked again.
        let firmware = match &system {
            Some(_) => match dpu.get_json("/v1/firmware") {
                Ok(firmware) => Some(firmware),
                Err(error) if error.is_unreachable() => None,
                Err(error) => return Err(format!("while waiting for the commit: {error}")),
            },
            None => None,
        };
        if let (Some(system), Some(firmware)) = (&system, &firmware) {
            let version = running_version(system, firmware);
            if version != expected {
                return Err(format!(
                    "booted {version} instead of {expected}: {}",
                    text_at(system, "/boot/last_boot")
                ));
            }
            if system["boot"]["trial"].as_bool() == Some(false) {
                break;
            }
        }
        if commit_started.elapsed() >= timing.commit {
            return Err(format!(
                "{expected} not committed {} s after its boot",
                timing.commit.as_secs()
            ));
        }
        std::thread::sleep(timing.poll);
        // A trial that fails its health check resets and rolls back: it stops answering, then
        // answers with the old version (caught above).
        system = match dpu.get_json("/v1/system") {
            Ok(next) => Some(next),
            Err(error) if error.is_unreachable() => None,
            Err(error) => return Err(format!("while waiting for the commit: {error}")),
        };
    }
    out.progress(
        &label,
        &format!(
            "{expected} committed after {} ms",
            commit_started.elapsed().as_millis()
        ),
    );
    Ok(())
}

/// Moves the active role to `target` through the current `active` DPU; the line to print.
fn fail_over(active: &Dpu, target: &Dpu, timing: &Timing, out: &Out) -> Result<String, String> {
    out.progress(
        &active.label(),
        &format!("failing over to {}", target.alias),
    );
    let body = json!({ "target_alias": target.alias }).to_string();
    let started = Instant::now();
    active
        .post_json("/v1/ha:failover", Some(&body))
        .map_err(|error| format!("failover to {} refused: {error}", target.alias))?;
    loop {
        if let Ok(Some(ha)) = target.ha()
            && ha["role"].as_str() == Some("active")
        {
            return Ok(format!(
                "active now (epoch {}), took over from {} in {} ms",
                ha["epoch"],
                active.alias,
                started.elapsed().as_millis()
            ));
        }
        if started.elapsed() >= timing.failover {
            return Err(format!(
                "not active {} ms after the failover from {}",
                timing.failover.as_millis(),
                active.alias
            ));
        }
        std::thread::sleep(timing.poll);
    }
}

/// The preflight: every DPU answers; `None` (after printing why) when one does not.
fn preflight(dpus: &[Dpu], out: &Out) -> Option<Vec<Standing>> {
    let standings = standings(dpus);
    if standings.iter().all(Result::is_ok) {
        return Some(standings.into_iter().flatten().collect());
    }
    let verdicts: Vec<Verdict> = standings
        .into_iter()
        .map(|standing| match standing {
            Ok(_) => Ok("left as it was (another DPU failed its preflight)".into()),
            Err(error) => Err(format!("preflight: {error}")),
        })
        .collect();
    report(dpus, &verdicts, out);
    None
}

/// What [`activate_all`] did: each DPU's verdict, and the DPUs it never rebooted because it
/// stopped before them (their staged image is still there).
struct Activation {
    verdicts: Vec<Verdict>,
    not_reached: Vec<usize>,
}

/// Activates what is staged (or rolled back to) on every DPU, one at a time, standby first,
/// failing over to each updated standby before the next; `expected[i]` the version DPU i must
/// boot. Stops at the first failure.
fn activate_all(
    dpus: &[Dpu],
    standings: &[Standing],
    expected: &[String],
    verb: &str,
    timing: &Timing,
    out: &Out,
) -> Activation {
    let ha = standings.iter().any(|standing| standing.role != "disabled");
    let order = activation_order(standings);
    let mut verdicts: Vec<Option<Verdict>> = vec![None; dpus.len()];
    let mut not_reached = Vec::new();
    for (position, &index) in order.iter().enumerate() {
        let dpu = &dpus[index];
        let before = &standings[index];
        if let Err(error) = reboot_and_commit(dpu, before, &expected[index], timing, out) {
            verdicts[index] = Some(Err(error));
            not_reached.extend_from_slice(&order[position + 1..]);
            for &other in &order[position + 1..] {
                verdicts[other] = Some(Ok(format!(
                    "left as it was, running {} (stopped at {}, which failed)",
                    standings[other].version, dpu.alias
                )));
            }
            break;
        }
        let mut line = format!(
            "{verb} {} -> {}, committed",
            before.version, expected[index]
        );
        let last = position + 1 == order.len();
        if ha && !last {
            // Hand it the active role before the other DPU reboots.
            let active = order[position + 1..]
                .iter()
                .copied()
                .find(|&other| standings[other].role == "active");
            if let Some(active) = active {
                match fail_over(&dpus[active], dpu, timing, out) {
                    Ok(text) => line.push_str(&format!("; {text}")),
                    Err(error) => {
                        verdicts[index] = Some(Err(format!("{line}, but {error}")));
                        not_reached.extend_from_slice(&order[position + 1..]);
                        for &other in &order[position + 1..] {
                            verdicts[other] = Some(Ok(format!(
                                "left as it was, running {} (the failover to {} failed)",
                                standings[other].version, dpu.alias
                            )));
                        }
                        break;
                    }
                }
            }
        }
        verdicts[index] = Some(Ok(line));
    }
    Activation {
        verdicts: verdicts
            .into_iter()
            .map(|verdict| verdict.unwrap_or_else(|| Err("not reached".into())))
            .collect(),
        not_reached,
    }
}

/// Withdraws the image staged on a DPU an update stopped before (`POST
/// /v1/firmware:unstage`), so that DPU's next boot runs what it runs now: its verdict,
/// amended. A DPU whose staged image stays is a failure: its next boot would run it.
fn withdraw(dpu: &Dpu, verdict: Verdict, out: &Out) -> Verdict {
    out.progress(&dpu.label(), "withdrawing the staged image");
    match dpu.post_json("/v1/firmware:unstage", None) {
        Ok(_) => verdict.map(|line| format!("{line}; the staged image withdrawn")),
        Err(error) => {
            let line = match verdict {
                Ok(line) | Err(line) => line,
            };
            Err(format!(
                "{line}; but the staged image was not withdrawn ({error}): its next boot runs it"
            ))
        }
    }
}

/// `dpuctl update IMAGE`; true when every DPU ends on the new image, committed.
pub fn update(dpus: &[Dpu], image: &[u8], timing: &Timing, out: &Out) -> bool {
    let Some(standings) = preflight(dpus, out) else {
        return false;
    };
    for (dpu, standing) in dpus.iter().zip(&standings) {
        out.progress(
            &dpu.label(),
            &format!("running {}, HA role {}", standing.version, standing.role),
        );
    }
    // Stage in parallel: writing the inactive bank does not touch traffic.
    let staged: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = dpus
            .iter()
            .map(|dpu| scope.spawn(move || stage(dpu, image, timing, out)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("staging failed".into()))
            })
            .collect()
    });
    if staged.iter().any(Result::is_err) {
        let verdicts: Vec<Verdict> = staged
            .into_iter()
            .zip(&standings)
            .zip(dpus)
            .map(|((result, standing), dpu)| match result {
                Ok(version) => withdraw(
                    dpu,
                    Ok(format!(
                        "staged {version} but not activated (another DPU failed); still running {}",
                        standing.version
                    )),
                    out,
                ),
                Err(error) => Err(error),
            })
            .collect();
        return report(dpus, &verdicts, out);
    }
    let expected: Vec<String> = staged.into_iter().flatten().collect();
    let Activation {
        mut verdicts,
        not_reached,
    } = activate_all(dpus, &standings, &expected, "updated", timing, out);
    for index in not_reached {
        let verdict = std::mem::replace(&mut verdicts[index], Ok(String::new()));
        verdicts[index] = withdraw(&dpus[index], verdict, out);
    }
    let ok = report(dpus, &verdicts, out);
    if !ok {
        warn_if_versions_differ(dpus, out);
    }
    ok
}

/// `dpuctl rollback [ALIAS ...]`: every DPU (or those in `only`) boots its other bank, one at a
/// time, standby first. An active DPU hands its role to a standby before its reboot, so the
/// pair keeps forwarding.
pub fn rollback(dpus: &[Dpu], only: &[String], timing: &Timing, out: &Out) -> bool {
    if let Some(unknown) = only
        .iter()
        .find(|alias| !dpus.iter().any(|dpu| &dpu.alias == *alias))
    {
        out.result(&format!(
            "result: FAILED: no DPU named {unknown} (known: {})",
            dpus.iter()
                .map(|dpu| dpu.alias.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return false;
    }
    let selected: Vec<bool> = dpus
        .iter()
        .map(|dpu| only.is_empty() || only.contains(&dpu.alias))
        .collect();
    let Some(standings) = preflight(dpus, out) else {
        return false;
    };
    // The version each selected DPU will boot: its other bank's.
    let mut expected = vec![String::new(); dpus.len()];
    let mut problems: Vec<Option<String>> = vec![None; dpus.len()];
    for (index, dpu) in dpus.iter().enumerate() {
        if !selected[index] {
            continue;
        }
        let other = dpu.get_json("/v1/firmware").map(|firmware| {
            firmware["banks"].as_array().and_then(|banks| {
                banks
                    .iter()
                    .find(|bank| bank["active"].as_bool() == Some(false))
                    .map(|bank| text_at(bank, "/version").to_string())
            })
        });
        match other {
            Ok(Some(version)) => expected[index] = version,
            Ok(None) => problems[index] = Some("no other bank to roll back to".into()),
            Err(error) => problems[index] = Some(format!("firmware: {error}")),
        }
    }
    if problems.iter().any(Option::is_some) {
        let verdicts: Vec<Verdict> = problems
            .into_iter()
            .map(|problem| match problem {
                Some(problem) => Err(problem),
                None => Ok("left as it was (another DPU cannot roll back)".to_string()),
            })
            .collect();
        return report(dpus, &verdicts, out);
    }
    // Ask each one just before its reboot, so a DPU not reached keeps its next boot as it was.
    let order: Vec<usize> = activation_order(&standings)
        .into_iter()
        .filter(|&index| selected[index])
        .collect();
    let mut verdicts: Vec<Option<Verdict>> = vec![None; dpus.len()];
    for &index in &order {
        let dpu = &dpus[index];
        let handed = match hand_over_if_active(dpus, index, timing, out) {
            Ok(handed) => handed,
            Err(error) => {
                verdicts[index] = Some(Err(error));
                break;
            }
        };
        out.progress(
            &dpu.label(),
            &format!("rolling back to {}", expected[index]),
        );
        if let Err(error) = dpu.post_json("/v1/firmware:rollback", None) {
            verdicts[index] = Some(Err(format!("rollback refused: {error}")));
            break;
        }
        let result = activate_all(
            std::slice::from_ref(dpu),
            std::slice::from_ref(&standings[index]),
            std::slice::from_ref(&expected[index]),
            "rolled back",
            timing,
            out,
        );
        let mut verdict = result
            .verdicts
            .into_iter()
            .next()
            .unwrap_or(Err("not reached".into()));
        if let (Ok(line), Some(handed)) = (&mut verdict, handed) {
            line.push_str(&format!("; before its reboot {handed}"));
        }
        let failed = verdict.is_err();
        verdicts[index] = Some(verdict);
        if failed {
            break;
        }
    }
    let verdicts: Vec<Verdict> = verdicts
        .into_iter()
        .zip(&standings)
        .zip(&selected)
        .map(|((verdict, standing), &selected)| {
            verdict.unwrap_or_else(|| {
                Ok(if selected {
                    format!(
                        "left as it was, running {} (the rollback stopped)",
                        standing.version
                    )
                } else {
                    format!("not asked, running {}", standing.version)
                })
            })
        })
        .collect();
    let ok = report(dpus, &verdicts, out);
    warn_if_versions_differ(dpus, out);
    ok
}

/// When DPU `index` is the active one now, moves the role to a standby first (its reboot
/// would stop the traffic otherwise); the line saying so, or `None` when it was not active
/// (or no standby could take over: then it reboots as it is, which the line does not hide).
fn hand_over_if_active(
    dpus: &[Dpu],
    index: usize,
    timing: &Timing,
    out: &Out,
) -> Result<Option<String>, String> {
    let role_of = |dpu: &Dpu| {
        dpu.ha()
            .ok()
            .flatten()
            .map(|ha| text_at(&ha, "/role").to_string())
    };
    if role_of(&dpus[index]).as_deref() != Some("active") {
        return Ok(None);
    }
    let standby = dpus
        .iter()
        .enumerate()
        .find(|&(other, dpu)| other != index && role_of(dpu).as_deref() == Some("standby"));
    let Some((_, standby)) = standby else {
        out.progress(
            &dpus[index].label(),
            "active with no standby to take over: its reboot stops the traffic",
        );
        return Ok(Some("no standby could take over (traffic stopped)".into()));
    };
    fail_over(&dpus[index], standby, timing, out)
        .map(|text| Some(format!("{}: {text}", standby.alias)))
        .map_err(|error| format!("not rolled back: handing the active role first: {error}"))
}

/// After an operation: when every DPU answers and they run different firmware, says so (HA
/// keeps a formed pair going through a difference, but it is not a state to stay in).
fn warn_if_versions_differ(dpus: &[Dpu], out: &Out) {
    let standings = standings(dpus);
    let versions: Vec<(&str, String)> = dpus
        .iter()
        .zip(&standings)
        .filter_map(|(dpu, standing)| {
            standing
                .as_ref()
                .ok()
                .map(|standing| (dpu.alias.as_str(), standing.version.clone()))
        })
        .collect();
    if versions.len() < 2
        || versions
            .iter()
            .all(|(_, version)| *version == versions[0].1)
    {
        return;
    }
    out.result(&format!(
        "warning: the DPUs run different firmware: {}; update or roll back one to match",
        versions
            .iter()
            .map(|(alias, version)| format!("{alias} {version}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

/// `dpuctl failover [--to ALIAS]`: the active role moves to the standby (or `target`).
pub fn failover(dpus: &[Dpu], target: Option<&str>, timing: &Timing, out: &Out) -> bool {
    let Some(standings) = preflight(dpus, out) else {
        return false;
    };
    let active = standings
        .iter()
        .position(|standing| standing.role == "active");
    let Some(active) = active else {
        let verdicts: Vec<Verdict> = standings
            .iter()
            .map(|standing| Err(format!("HA role {}, no DPU is active", standing.role)))
            .collect();
        return report(dpus, &verdicts, out);
    };
    let target_index = match target {
        Some(alias) => dpus.iter().position(|dpu| dpu.alias == alias),
        None => standings
            .iter()
            .position(|standing| standing.role == "standby"),
    };
    let mut verdicts: Vec<Verdict> = standings
        .iter()
        .map(|standing| Ok(format!("HA role {}", standing.role)))
        .collect();
    match target_index {
        None => {
            verdicts[active] = Err(match target {
                Some(alias) => format!("no DPU named {alias} to fail over to"),
                None => "no standby DPU to fail over to".into(),
            })
        }
        Some(index) if index == active => {
            verdicts[active] = Err("already active".into());
        }
        Some(index) => match fail_over(&dpus[active], &dpus[index], timing, out) {
            Ok(text) => {
                verdicts[index] = Ok(text);
                verdicts[active] = Ok(format!("standby now, {} took over", dpus[index].alias));
            }
            Err(error) => verdicts[index] = Err(error),
        },
    }
    report(dpus, &verdicts, out)
}
