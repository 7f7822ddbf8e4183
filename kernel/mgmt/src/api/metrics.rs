//! `GET /metrics`: the Prometheus text format 0.0.4, one metric family per piece.
//!
//! Names follow the Prometheus conventions (`dpu_` prefix, base units, `_total` for counters)
//! and `shared/design/api.md` section 2. Every family's `# HELP` and `# TYPE` come before its
//! samples and its samples stay together. Counters are the raw ones (never reset but by a
//! reboot; `:clear-counters` only moves the JSON view's baseline). Label values are port names,
//! bank letters, drop-reason labels, version strings: escaped all the same.

use dpu_switch::{DropReason, PortId};

use super::backend::{Backend, NicCounters, PortState};
use super::out::Out;
use crate::json::WriteError;

/// The `Content-Type` of the body.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// [`header`] for the HA families (`ha.rs`).
pub(crate) fn header_pub(
    out: &mut Out<'_>,
    name: &str,
    kind: &str,
    help: &str,
) -> Result<(), WriteError> {
    header(out, name, kind, help)
}

/// [`sample`] for the HA families (`ha.rs`).
pub(crate) fn sample_pub(
    out: &mut Out<'_>,
    name: &str,
    labels: &[(&str, &str)],
    value: u64,
) -> Result<(), WriteError> {
    sample(out, name, labels, value)
}

/// Writes `# HELP` and `# TYPE` of one family.
fn header(out: &mut Out<'_>, name: &str, kind: &str, help: &str) -> Result<(), WriteError> {
    out.text("# HELP ")?;
    out.text(name)?;
    out.text(" ")?;
    out.text(help)?;
    out.text("\n# TYPE ")?;
    out.text(name)?;
    out.text(" ")?;
    out.text(kind)?;
    out.text("\n")
}

/// Writes a label value with `\`, `"` and newlines escaped.
fn label_value(out: &mut Out<'_>, value: &str) -> Result<(), WriteError> {
    let mut start = 0;
    for (index, character) in value.char_indices() {
        let escape = match character {
            '\\' => "\\\\",
            '"' => "\\\"",
            '\n' => "\\n",
            _ => continue,
        };
        out.text(&value[start..index])?;
        out.text(escape)?;
        start = index + character.len_utf8();
    }
    out.text(&value[start..])
}

/// One sample: `name{label="value",...} number`.
fn sample(
    out: &mut Out<'_>,
    name: &str,
    labels: &[(&str, &str)],
    value: u64,
) -> Result<(), WriteError> {
    out.text(name)?;
    if !labels.is_empty() {
        out.text("{")?;
        for (index, (label, value)) in labels.iter().enumerate() {
            if index > 0 {
                out.text(",")?;
            }
            out.text(label)?;
            out.text("=\"")?;
            label_value(out, value)?;
            out.text("\"")?;
        }
        out.text("}")?;
    }
    out.text(" ")?;
    out.number(value)?;
    out.text("\n")
}

/// A gauge in seconds from microseconds (`0.000123`).
fn sample_seconds_from_us(
    out: &mut Out<'_>,
    name: &str,
    microseconds: u64,
) -> Result<(), WriteError> {
    out.text(name)?;
    out.text(" ")?;
    out.number(microseconds / 1_000_000)?;
    out.text(".")?;
    let fraction = microseconds % 1_000_000;
    let mut digits = [b'0'; 6];
    let mut rest = fraction;
    for digit in digits.iter_mut().rev() {
        // One decimal digit: the cast cannot truncate.
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    crate::json::Sink::put(out, &digits)?;
    out.text("\n")
}

/// A per-port family: one sample per data port present.
fn per_port<B: Backend + ?Sized>(
    backend: &B,
    out: &mut Out<'_>,
    name: &str,
    kind: &str,
    help: &str,
    value: impl Fn(&PortState) -> u64,
) -> Result<(), WriteError> {
    let Some(config) = backend.switch_config() else {
        return Ok(());
    };
    header(out, name, kind, help)?;
    for port in config.port_ids() {
        let state = backend.port_state(port);
        let mut port_name: heapless::String<8> = heapless::String::new();
        let _ = core::fmt::write(&mut port_name, format_args!("{port}"));
        sample(out, name, &[("port", &port_name)], value(&state))?;
    }
    Ok(())
}

fn nic(state: &PortState) -> &NicCounters {
    &state.nic
}

/// Writes metric family `index`; false when there is no such family (the body is complete).
pub fn family<B: Backend + ?Sized>(
    backend: &B,
    index: u16,
    out: &mut Out<'_>,
) -> Result<bool, WriteError> {
    let system = backend.system();
    match index {
        0 => {
            header(
                out,
                "dpu_build_info",
                "gauge",
                "Firmware build: version, git revision and profile (always 1).",
            )?;
            sample(
                out,
                "dpu_build_info",
                &[
                    ("version", system.version),
                    ("git", system.git),
                    ("profile", system.profile),
                ],
                1,
            )?;
        }
        1 => {
            header(
                out,
                "dpu_uptime_seconds",
                "gauge",
                "Seconds since this boot.",
            )?;
            sample(out, "dpu_uptime_seconds", &[], system.uptime_ms / 1000)?;
            header(
                out,
                "dpu_boot_number",
                "gauge",
                "Boots since power-on (1 for the first).",
            )?;
            sample(out, "dpu_boot_number", &[], u64::from(system.boot_number))?;
            header(
                out,
                "dpu_boot_trial",
                "gauge",
                "1 while the running bank is a trial that is not committed yet.",
            )?;
            sample(out, "dpu_boot_trial", &[], u64::from(system.trial))?;
        }
        2 => {
            if let Some(firmware) = backend.firmware() {
                header(
                    out,
                    "dpu_firmware_info",
                    "gauge",
                    "One per bank: version, state and whether it runs (always 1).",
                )?;
                for bank in &firmware.banks {
                    let mut slot = [0u8; 4];
                    let slot = bank.slot.encode_utf8(&mut slot);
                    sample(
                        out,
                        "dpu_firmware_info",
                        &[
                            ("bank", slot),
                            ("version", &bank.version),
                            ("state", bank.state),
                            ("active", if bank.active { "true" } else { "false" }),
                        ],
                        1,
                    )?;
                }
                header(
                    out,
                    "dpu_firmware_security_counter",
                    "gauge",
                    "Security counter of the image in each bank.",
                )?;
                for bank in &firmware.banks {
                    let mut slot = [0u8; 4];
                    let slot = bank.slot.encode_utf8(&mut slot);
                    sample(
                        out,
                        "dpu_firmware_security_counter",
                        &[("bank", slot)],
                        u64::from(bank.security_counter),
                    )?;
                }
                header(
                    out,
                    "dpu_firmware_security_floor",
                    "gauge",
                    "Lowest image security counter dpuboot boots (anti-rollback floor).",
                )?;
                sample(
                    out,
                    "dpu_firmware_security_floor",
                    &[],
                    u64::from(firmware.floor),
                )?;
            }
        }
        3 => per_port(
            backend,
            out,
            "dpu_port_up",
            "gauge",
            "1 when the port's link is up.",
            |s| u64::from(s.present && s.link_up),
        )?,
        4 => per_port(
            backend,
            out,
            "dpu_port_receive_bytes_total",
            "counter",
            "Bytes received on the port.",
            |s| nic(s).rx_bytes,
        )?,
        5 => per_port(
            backend,
            out,
            "dpu_port_receive_packets_total",
            "counter",
            "Frames received on the port.",
            |s| nic(s).rx_packets,
        )?,
        6 => per_port(
            backend,
            out,
            "dpu_port_receive_errors_total",
            "counter",
            "Received frames the driver dropped (oversized, runt, device error).",
            |s| nic(s).rx_errors,
        )?,
        7 => per_port(
            backend,
            out,
            "dpu_port_receive_drops_total",
            "counter",
            "Received frames the switch dropped (dpu_switch_drops_total says why).",
            |s| s.switch.dropped,
        )?,
        8 => per_port(
            backend,
            out,
            "dpu_port_transmit_bytes_total",
            "counter",
            "Bytes transmitted on the port.",
            |s| nic(s).tx_bytes,
        )?,
        9 => per_port(
            backend,
            out,
            "dpu_port_transmit_packets_total",
            "counter",
            "Frames transmitted on the port.",
            |s| nic(s).tx_packets,
        )?,
        10 => per_port(
            backend,
            out,
            "dpu_port_transmit_errors_total",
            "counter",
            "Frames the driver could not send (bad length, device error).",
            |s| nic(s).tx_errors,
        )?,
        11 => per_port(
            backend,
            out,
            "dpu_port_transmit_drops_total",
            "counter",
            "Frames not sent for lack of ring or buffer room.",
            |s| nic(s).tx_discards,
        )?,
        12 => per_port(
            backend,
            out,
            "dpu_port_carrier_changes_total",
            "counter",
            "Link changes the port's device reported.",
            |s| nic(s).carrier_transitions,
        )?,
        13 => per_port(
            backend,
            out,
            "dpu_port_flooded_packets_total",
            "counter",
            "Received frames the switch flooded to several ports.",
            |s| s.switch.flooded,
        )?,
        14 => per_port(
            backend,
            out,
            "dpu_port_unknown_unicast_packets_total",
            "counter",
            "Received frames to a unicast address the MAC table did not know.",
            |s| s.switch.unknown_unicast,
        )?,
        15 => per_port(
            backend,
            out,
            "dpu_fdb_learned_entries",
            "gauge",
            "Learned MAC table entries on the port now.",
            |s| s.learned_macs as u64,
        )?,
        16 => {
            if let Some(summary) = backend.switch_summary() {
                header(
                    out,
                    "dpu_switch_drops_total",
                    "counter",
                    "Frames the switch dropped, by reason.",
                )?;
                for reason in DropReason::ALL {
                    sample(
                        out,
                        "dpu_switch_drops_total",
                        &[("reason", reason.label())],
                        summary.counters.dropped(reason),
                    )?;
                }
            }
        }
        17 => {
            if let Some(summary) = backend.switch_summary() {
                let counters = &summary.counters;
                header(out, "dpu_fdb_entries", "gauge", "Entries in the MAC table.")?;
                sample(out, "dpu_fdb_entries", &[], summary.mac_entries as u64)?;
                header(
                    out,
                    "dpu_fdb_capacity_entries",
                    "gauge",
                    "Entries the MAC table holds at most.",
                )?;
                sample(
                    out,
                    "dpu_fdb_capacity_entries",
                    &[],
                    summary.mac_capacity as u64,
                )?;
                let learned: u64 = backend.switch_config().map_or(0, |config| {
                    config
                        .port_ids()
                        .map(|port: PortId| backend.port_state(port).switch.learned)
                        .sum()
                });
                for (name, help, value) in [
                    ("dpu_fdb_learned_total", "New MACs learned.", learned),
                    (
                        "dpu_fdb_moves_total",
                        "MACs that moved to another port.",
                        counters.moves,
                    ),
                    (
                        "dpu_fdb_table_full_total",
                        "New MACs not learned because the table was full.",
                        counters.table_full,
                    ),
                    (
                        "dpu_fdb_aged_total",
                        "Learned entries removed by aging.",
                        counters.aged,
                    ),
                ] {
                    header(out, name, "counter", help)?;
                    sample(out, name, &[], value)?;
                }
            }
        }
        18 => {
            let http = backend.http_stats();
            header(
                out,
                "dpu_mgmt_http_requests_total",
                "counter",
                "Well-formed HTTP requests to the management API.",
            )?;
            sample(out, "dpu_mgmt_http_requests_total", &[], http.requests)?;
            header(
                out,
                "dpu_mgmt_http_responses_total",
                "counter",
                "HTTP responses sent, by status class.",
            )?;
            for (class, count) in ["1xx", "2xx", "3xx", "4xx", "5xx"]
                .iter()
                .zip(http.responses_by_class)
            {
                sample(
                    out,
                    "dpu_mgmt_http_responses_total",
                    &[("class", class)],
                    count,
                )?;
            }
            for (name, help, value) in [
                (
                    "dpu_mgmt_http_malformed_total",
                    "Requests the HTTP parser refused.",
                    http.malformed,
                ),
                (
                    "dpu_mgmt_http_timeouts_total",
                    "Connections closed by a request deadline.",
                    http.timeouts,
                ),
                (
                    "dpu_mgmt_http_unauthorized_total",
                    "Requests refused for a missing or bad token.",
                    http.unauthorized,
                ),
            ] {
                header(out, name, "counter", help)?;
                sample(out, name, &[], value)?;
            }
        }
        19 => {
            let stats = backend.loop_stats();
            header(out, "dpu_loop_passes_total", "counter", "Poll loop passes.")?;
            sample(out, "dpu_loop_passes_total", &[], stats.passes)?;
            header(
                out,
                "dpu_loop_longest_pass_seconds",
                "gauge",
                "Longest poll loop pass since boot.",
            )?;
            sample_seconds_from_us(out, "dpu_loop_longest_pass_seconds", stats.longest_pass_us)?;
        }
        // HA (issue 10): role, epoch, failovers by reason; nothing when HA is off.
        20 => super::ha::metrics(backend, out)?,
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_escapes_and_seconds() {
        let mut buffer = [0u8; 128];
        let mut out = Out::new(&mut buffer);
        sample(&mut out, "m", &[("l", "a\"b\\c\nd")], 5).unwrap();
        sample_seconds_from_us(&mut out, "s", 1_000_042).unwrap();
        assert_eq!(
            core::str::from_utf8(out.written()).unwrap(),
            "m{l=\"a\\\"b\\\\c\\nd\"} 5\ns 1.000042\n"
        );
    }
}
