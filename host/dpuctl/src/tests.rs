//! `dpuctl` against fake DPUs on loopback: status, rolling update (and its failures), rollback,
//! failover, logs over the API and over the console.

use crate::dpu::Dpu;
use crate::fake::{Fleet, TOKEN};
use crate::lifecycle::{self, Timing};
use crate::out::Out;
use std::time::Duration;

fn dpus(fleet: &Fleet, aliases: &[&str]) -> Vec<Dpu> {
    aliases
        .iter()
        .zip(&fleet.addresses)
        .map(|(alias, address)| {
            let mut dpu = Dpu::new(alias, address, Some(TOKEN.into()), None);
            dpu.client_mut().io_timeout = Duration::from_secs(5);
            dpu
        })
        .collect()
}

fn fast() -> Timing {
    Timing {
        poll: Duration::from_millis(20),
        task: Duration::from_secs(5),
        reboot: Duration::from_secs(5),
        commit: Duration::from_secs(5),
        failover: Duration::from_secs(2),
    }
}

fn words_only(out: &Out) {
    for line in out.lines() {
        assert!(!readable::is_debug_output(&line), "Debug output: {line}");
    }
}

/// An HA pair on 0.1.0+1 whose DPU `failing`'s trial of 0.2.0+2 fails its health check, after
/// `dpuctl update` (which must fail): the fleet, its DPUs and the update's output.
fn update_with_a_failing_trial(failing: usize) -> (Fleet, Vec<Dpu>, Out) {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    fleet.with(failing, |state| state.trial_fails = true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(!lifecycle::update(&dpus, b"0.2.0+2", &fast(), &out));
    (fleet, dpus, out)
}

fn has_line(out: &Out, start: &str, contains: &str) -> bool {
    out.lines()
        .iter()
        .any(|line| line.starts_with(start) && line.contains(contains))
}

#[test]
fn status_names_every_dpu_with_version_banks_and_role() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(crate::status::run(&dpus, false, &out));
    let lines = out.lines();
    assert!(lines[0].starts_with("DPU "), "{lines:?}");
    assert!(
        lines[1].starts_with("dpu1 ") && lines[1].contains("active"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("dpu2 ") && lines[2].contains("standby"),
        "{lines:?}"
    );
    assert!(
        lines[1].contains("A 0.1.0+1 committed*, B empty"),
        "{lines:?}"
    );
    assert!(lines[1].trim_end().ends_with("ok"));
    words_only(&out);

    let out = Out::quiet();
    assert!(crate::status::run(&dpus, true, &out));
    let document: serde_json::Value = serde_json::from_str(&out.lines().join("\n")).unwrap();
    assert_eq!(document["dpus"][1]["alias"], "dpu2");
    assert_eq!(document["dpus"][1]["role"], "standby");
    assert_eq!(document["dpus"][0]["version"], "0.1.0+1");
}

#[test]
fn status_of_an_unreachable_dpu_names_it_and_fails() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", false);
    fleet.with(1, |state| state.api_answers = false);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(!crate::status::run(&dpus, false, &out));
    assert!(has_line(&out, "dpu1 ", "disabled"), "{:?}", out.lines());
    assert!(has_line(&out, "dpu2 ", "API"), "{:?}", out.lines());
    words_only(&out);
}

#[test]
fn a_wrong_token_is_reported_with_the_dpu() {
    let fleet = Fleet::start(&["dpu1"], "0.1.0+1", false);
    let dpu = Dpu::new(
        "dpu1",
        &fleet.addresses[0],
        Some("wrong-token-wrong-token".into()),
        None,
    );
    let out = Out::quiet();
    assert!(!crate::status::run(&[dpu], false, &out));
    assert!(has_line(
        &out,
        "dpu1 ",
        "a bearer token is needed (unauthorized, HTTP 401)"
    ));
}

#[test]
fn rolling_update_does_the_standby_first_then_fails_over_then_the_other() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(
        lifecycle::update(&dpus, b"0.2.0+2", &fast(), &out),
        "{:?}",
        out.lines()
    );
    let actions = fleet.actions();
    let position = |action: &str| actions.iter().position(|line| line == action).unwrap();
    // Both staged before any reboot; dpu2 (standby) first; failover before dpu1's reboot.
    assert!(position("dpu1 POST /v1/firmware:upload") < position("dpu2 POST /v1/system:reboot"));
    assert!(position("dpu2 POST /v1/firmware:upload") < position("dpu2 POST /v1/system:reboot"));
    assert!(position("dpu2 POST /v1/system:reboot") < position("dpu1 POST /v1/ha:failover"));
    assert!(position("dpu1 POST /v1/ha:failover") < position("dpu1 POST /v1/system:reboot"));
    assert_eq!(
        fleet.with(0, |state| state.banks[state.running].version.clone()),
        "0.2.0+2"
    );
    assert_eq!(fleet.with(1, |state| state.role.clone()), "active");
    let label2 = format!("dpu2 (mgmt {})", fleet.addresses[1]);
    assert!(
        has_line(
            &out,
            &label2,
            "updated 0.1.0+1 -> 0.2.0+2, committed; active now"
        ),
        "{:?}",
        out.lines()
    );
    assert!(
        has_line(&out, &label2, "rebooting"),
        "progress lines are shown"
    );
    assert!(out.lines().last().unwrap() == "result: ok");
    words_only(&out);
}

#[test]
fn one_dpu_failing_its_upload_is_named_and_neither_dpu_reboots() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    fleet.with(1, |state| {
        state.upload_refusal = Some("image signature not trusted".into())
    });
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(!lifecycle::update(&dpus, b"0.2.0+2", &fast(), &out));
    let label2 = format!(
        "dpu2 (mgmt {}): FAILED: image signature not trusted",
        fleet.addresses[1]
    );
    assert!(out.lines().contains(&label2), "{:?}", out.lines());
    assert!(
        has_line(
            &out,
            "dpu1 (mgmt",
            "not activated (another DPU failed); still running 0.1.0+1; the staged image withdrawn"
        ),
        "{:?}",
        out.lines()
    );
    assert_eq!(out.lines().last().unwrap(), "result: FAILED on dpu2");
    assert_eq!(fleet.with(0, |state| state.staged), None);
    let reboots: Vec<String> = fleet
        .actions()
        .into_iter()
        .filter(|line| line.contains("reboot") || line.contains("failover"))
        .collect();
    assert!(reboots.is_empty(), "{reboots:?}");
    assert_eq!(fleet.with(0, |state| state.boot_number), 1);
    words_only(&out);
}

#[test]
fn a_trial_that_rolls_back_stops_the_update_before_the_other_dpu() {
    let (fleet, _, out) = update_with_a_failing_trial(1);
    assert!(
        has_line(
            &out,
            "dpu2 (mgmt",
            "FAILED: booted 0.1.0+1 instead of 0.2.0+2: after fallback from bank B to bank A (health check)"
        ),
        "{:?}",
        out.lines()
    );
    assert!(
        has_line(
            &out,
            "dpu1 (mgmt",
            "left as it was, running 0.1.0+1 (stopped at dpu2, which failed); the staged image withdrawn"
        ),
        "{:?}",
        out.lines()
    );
    // Its next boot runs what it runs now.
    assert_eq!(fleet.with(0, |state| state.staged), None);
    assert!(
        !fleet
            .actions()
            .iter()
            .any(|line| line.starts_with("dpu1 POST /v1/system:reboot"))
    );
    assert!(!fleet.actions().iter().any(|line| line.contains("failover")));
    assert_eq!(fleet.with(0, |state| state.role.clone()), "active");
    words_only(&out);
}

#[test]
fn update_without_ha_activates_one_at_a_time_without_failover() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", false);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(
        lifecycle::update(&dpus, b"0.2.0+2", &fast(), &out),
        "{:?}",
        out.lines()
    );
    assert!(!fleet.actions().iter().any(|line| line.contains("failover")));
    assert_eq!(
        fleet.with(1, |state| state.banks[state.running].version.clone()),
        "0.2.0+2"
    );
}

#[test]
fn rollback_returns_both_to_the_other_bank_standby_first() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    assert!(lifecycle::update(&dpus, b"0.2.0+2", &fast(), &Out::quiet()));
    // Now dpu2 is active, dpu1 standby: dpu1 rolls back first.
    let out = Out::quiet();
    assert!(
        lifecycle::rollback(&dpus, &[], &fast(), &out),
        "{:?}",
        out.lines()
    );
    for index in 0..2 {
        assert_eq!(
            fleet.with(index, |state| state.banks[state.running].version.clone()),
            "0.1.0+1"
        );
    }
    let actions = fleet.actions();
    let position = |action: &str| actions.iter().rposition(|line| line == action).unwrap();
    assert!(position("dpu1 POST /v1/system:reboot") < position("dpu2 POST /v1/system:reboot"));
    assert!(
        has_line(&out, "dpu1 (mgmt", "rolled back 0.2.0+2 -> 0.1.0+1"),
        "{:?}",
        out.lines()
    );
    words_only(&out);
}

/// The seeds' "one DPU boots an earlier version than the other": the standby takes the new
/// image and the active role, the other's trial fails its health check and falls back. The
/// failure names that DPU, the difference is reported, and status says so.
#[test]
fn update_whose_second_dpu_falls_back_reports_the_version_difference() {
    let (_fleet, dpus, out) = update_with_a_failing_trial(0);
    assert!(
        has_line(
            &out,
            "dpu2 (mgmt",
            "updated 0.1.0+1 -> 0.2.0+2, committed; active now"
        ),
        "{:?}",
        out.lines()
    );
    assert!(
        has_line(
            &out,
            "dpu1 (mgmt",
            "FAILED: booted 0.1.0+1 instead of 0.2.0+2"
        ),
        "{:?}",
        out.lines()
    );
    assert!(has_line(&out, "result: FAILED on dpu1", ""));
    assert!(
        has_line(
            &out,
            "warning: the DPUs run different firmware: dpu1 0.1.0+1, dpu2 0.2.0+2",
            ""
        ),
        "{:?}",
        out.lines()
    );
    let status = Out::quiet();
    assert!(!crate::status::run(&dpus, false, &status));
    assert!(
        has_line(
            &status,
            "dpu1 ",
            "differs from its peer: dpu2 runs firmware 0.2.0+2, dpu1 0.1.0+1"
        ),
        "{:?}",
        status.lines()
    );
    words_only(&out);
    words_only(&status);
}

/// `rollback dpu2` with dpu2 active: dpu2 hands the role to dpu1 first, then boots its other
/// bank; dpu1 is not touched.
#[test]
fn rollback_of_one_active_dpu_hands_its_role_over_first() {
    let (fleet, dpus, _) = update_with_a_failing_trial(0);
    assert_eq!(fleet.with(1, |state| state.role.clone()), "active");
    let reboots_of_dpu1 = fleet.with(0, |state| state.boot_number);
    let out = Out::quiet();
    assert!(
        lifecycle::rollback(&dpus, &["dpu2".to_string()], &fast(), &out),
        "{:?}",
        out.lines()
    );
    assert!(
        has_line(
            &out,
            "dpu2 (mgmt",
            "rolled back 0.2.0+2 -> 0.1.0+1, committed; before its reboot dpu1: active now"
        ),
        "{:?}",
        out.lines()
    );
    assert!(has_line(&out, "dpu1 (mgmt", "not asked, running 0.1.0+1"));
    assert!(!has_line(&out, "warning:", ""), "{:?}", out.lines());
    assert_eq!(fleet.with(0, |state| state.boot_number), reboots_of_dpu1);
    let actions = fleet.actions();
    let position = |action: &str| actions.iter().rposition(|line| line == action).unwrap();
    assert!(position("dpu2 POST /v1/ha:failover") < position("dpu2 POST /v1/system:reboot"));
    assert!(
        !actions
            .iter()
            .any(|line| line == "dpu1 POST /v1/firmware:rollback")
    );
    words_only(&out);
}

#[test]
fn rollback_of_an_unknown_dpu_changes_nothing() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(!lifecycle::rollback(
        &dpus,
        &["dpu3".to_string()],
        &fast(),
        &out
    ));
    assert!(has_line(
        &out,
        "result: FAILED: no DPU named dpu3",
        "dpu1, dpu2"
    ));
    assert!(fleet.actions().is_empty());
}

#[test]
fn failover_moves_the_active_role_and_names_both() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(
        lifecycle::failover(&dpus, None, &fast(), &out),
        "{:?}",
        out.lines()
    );
    assert_eq!(fleet.with(1, |state| state.role.clone()), "active");
    assert!(has_line(
        &out,
        "dpu2 (mgmt",
        "active now (epoch 2), took over from dpu1"
    ));
    assert!(has_line(&out, "dpu1 (mgmt", "standby now, dpu2 took over"));
    // Asking again for dpu2 to take over: it is active already.
    let out = Out::quiet();
    assert!(!lifecycle::failover(&dpus, Some("dpu2"), &fast(), &out));
    assert!(
        has_line(&out, "dpu2 (mgmt", "FAILED: already active"),
        "{:?}",
        out.lines()
    );
    words_only(&out);
}

#[test]
fn failover_refused_by_the_dpu_says_why() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    fleet.with(1, |state| state.role = "refused".into());
    let dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    let out = Out::quiet();
    assert!(!lifecycle::failover(&dpus, Some("dpu2"), &fast(), &out));
    assert!(
        has_line(
            &out,
            "dpu2 (mgmt",
            "failover to dpu2 refused: no healthy standby (peer_not_ready, HTTP 409)"
        ),
        "{:?}",
        out.lines()
    );
}

#[test]
fn logs_over_the_api_and_over_the_console_when_the_api_is_down() {
    use std::io::{Read, Write};
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", true);
    fleet.with(1, |state| state.api_answers = false);
    let directory = std::env::temp_dir().join(format!("dpuctl-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).unwrap();
    // A console that echoes each command, prints a line and a prompt.
    let socket = directory.join("dpu2.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let console = std::thread::spawn(move || {
        for _ in 0..9 {
            let (mut stream, _) = listener.accept().unwrap();
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while stream.read(&mut byte).unwrap() == 1 {
                if byte[0] == b'\r' && line.iter().any(|byte: &u8| byte.is_ascii_alphabetic()) {
                    break;
                }
                line.push(byte[0]);
            }
            let command = String::from_utf8_lossy(&line).trim().to_string();
            let _ = write!(stream, "{command}\r\noutput of {command}\r\ndpu> ");
        }
    });
    let mut dpus = dpus(&fleet, &["dpu1", "dpu2"]);
    dpus[1].console = Some(socket);
    let out = Out::quiet();
    assert!(
        crate::logs::run(&dpus, &directory, &out),
        "{:?}",
        out.lines()
    );
    console.join().unwrap();
    for file in [
        "system.json",
        "firmware.json",
        "ha.json",
        "logs.json",
        "metrics.txt",
        "config.json",
    ] {
        assert!(directory.join("dpu1").join(file).exists(), "{file}");
    }
    let console_text = std::fs::read_to_string(directory.join("dpu2/console.txt")).unwrap();
    assert!(console_text.contains("output of boot"), "{console_text}");
    assert!(
        has_line(&out, "dpu2 (mgmt", "API not answering"),
        "{:?}",
        out.lines()
    );
    assert!(
        has_line(&out, "dpu1 (mgmt", "files from the API"),
        "{:?}",
        out.lines()
    );
    // Without a console the DPU's bundle fails, named.
    dpus[1].console = None;
    let out = Out::quiet();
    assert!(!crate::logs::run(&dpus, &directory, &out));
    assert!(has_line(&out, "dpu2 (mgmt", "FAILED"), "{:?}", out.lines());
    words_only(&out);
    std::fs::remove_dir_all(&directory).unwrap();
}

#[test]
fn the_exit_status_is_non_zero_when_a_dpu_fails() {
    let fleet = Fleet::start(&["dpu1", "dpu2"], "0.1.0+1", false);
    let arguments =
        |line: String| -> Vec<String> { line.split_whitespace().map(str::to_string).collect() };
    let line = format!(
        "--token {TOKEN} --dpu dpu1={} --dpu dpu2={} status",
        fleet.addresses[0], fleet.addresses[1]
    );
    assert_eq!(crate::run(&arguments(line.clone())), 0);
    fleet.with(1, |state| state.api_answers = false);
    assert_eq!(crate::run(&arguments(line)), 1);
    assert_eq!(crate::run(&arguments("frobnicate".into())), 2);
}
