//! `GET /v1/ha`, `POST /v1/ha:failover` and the HA metric families (issue 10).
//!
//! The kernel fills an [`HaView`] from its `dpu-ha` state machine; this module writes it as
//! the JSON of `docs/api/openapi.yaml` (`HaState`) and answers a failover request with 202
//! and the view, or a 409 problem naming why not.

use dpu_ha::{Alias, FailoverError, FailoverRecord, Health, Reason, ReasonText, Role};
use dpu_switch::PortId;
use serde::Deserialize;

use super::backend::Backend;
use super::out::Out;
use super::{Content, Reply, Request, optional_json_body, problem};
use crate::json::WriteError;

/// Problem codes of `POST /v1/ha:failover`.
pub mod code {
    /// This DPU is not the active one.
    pub const HA_NOT_ACTIVE: &str = "ha_not_active";
    /// No healthy standby to take over.
    pub const PEER_NOT_READY: &str = "peer_not_ready";
    /// HA is off (no `ha.alias`).
    pub const HA_DISABLED: &str = "ha_disabled";
}

/// The peer or the host as this DPU hears it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathView {
    /// The peer's alias once heard (always `None` for the host).
    pub alias: Option<Alias>,
    /// Heard within the detect time.
    pub health: Option<Health>,
    /// The peer's announced role.
    pub role: Option<Role>,
    /// Milliseconds since last heard.
    pub last_heard_ms: Option<u64>,
}

/// What `GET /v1/ha` shows.
#[derive(Clone, Debug, Default)]
pub struct HaView {
    /// This DPU's alias.
    pub alias: Alias,
    /// `standby`, `active` or `refused`.
    pub role: Option<Role>,
    /// Configured priority.
    pub priority: u8,
    /// The highest epoch seen.
    pub epoch: u64,
    /// Whether the data ports forward.
    pub forwarding: bool,
    /// Why HA refused to form.
    pub refused_reason: Option<ReasonText>,
    /// A firmware or config difference tolerated because a DPU was already active.
    pub mismatch: Option<ReasonText>,
    /// The DPU active at this epoch, as far as this one knows.
    pub active: Option<Alias>,
    /// The peer.
    pub peer: PathView,
    /// The host arbiter.
    pub host: PathView,
    /// The uplinks and their link (as the switch sees it).
    pub uplinks: heapless::Vec<(PortId, bool), { dpu_switch::MAX_PORTS }>,
    /// The failovers this DPU saw, oldest first.
    pub failovers: heapless::Vec<FailoverRecord, { dpu_ha::FAILOVER_HISTORY }>,
    /// Failovers since boot per reason, in [`Reason::ALL`] order.
    pub failover_totals: [u64; 3],
}

/// Why a failover request was refused (the kernel's answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaRefusal {
    /// HA is off.
    Disabled,
    /// The state machine said no.
    Refused(FailoverError),
}

fn health(value: Option<Health>) -> &'static str {
    value.map_or("unknown", Health::as_str)
}

fn optional_string(out: &mut Out<'_>, value: Option<&str>) -> Result<(), WriteError> {
    match value {
        Some(text) => out.string(text),
        None => out.text("null"),
    }
}

fn optional_number(out: &mut Out<'_>, value: Option<u64>) -> Result<(), WriteError> {
    match value {
        Some(number) => out.number(number),
        None => out.text("null"),
    }
}

/// Writes the `/v1/ha` body (HA off: `enabled` false, role `disabled`).
pub fn write_view(view: Option<&HaView>, out: &mut Out<'_>) -> Result<(), WriteError> {
    let Some(view) = view else {
        return out.text(
            "{\"enabled\":false,\"alias\":null,\"role\":\"disabled\",\"priority\":null,\
             \"epoch\":0,\"forwarding\":true,\"refused_reason\":null,\"mismatch\":null,\
             \"active\":null,\"peer\":{\"alias\":null,\"state\":\"unknown\",\"role\":null,\
             \"last_heard_ms\":null},\"host\":{\"state\":\"unknown\",\"last_heard_ms\":null},\
             \"uplinks\":[],\"failovers\":[]}",
        );
    };
    out.text("{\"enabled\":true,\"alias\":")?;
    out.string(&view.alias)?;
    out.key(false, "role")?;
    out.string(view.role.map_or("standby", Role::as_str))?;
    out.key(false, "priority")?;
    out.number(u64::from(view.priority))?;
    out.key(false, "epoch")?;
    out.number(view.epoch)?;
    out.key(false, "forwarding")?;
    out.text(if view.forwarding { "true" } else { "false" })?;
    out.key(false, "refused_reason")?;
    optional_string(out, view.refused_reason.as_deref())?;
    out.key(false, "mismatch")?;
    optional_string(out, view.mismatch.as_deref())?;
    out.key(false, "active")?;
    optional_string(out, view.active.as_deref())?;
    out.key(false, "peer")?;
    out.text("{\"alias\":")?;
    optional_string(out, view.peer.alias.as_deref())?;
    out.key(false, "state")?;
    out.string(health(view.peer.health))?;
    out.key(false, "role")?;
    optional_string(out, view.peer.role.map(Role::as_str))?;
    out.key(false, "last_heard_ms")?;
    optional_number(out, view.peer.last_heard_ms)?;
    out.text("}")?;
    out.key(false, "host")?;
    out.text("{\"state\":")?;
    out.string(health(view.host.health))?;
    out.key(false, "last_heard_ms")?;
    optional_number(out, view.host.last_heard_ms)?;
    out.text("}")?;
    out.key(false, "uplinks")?;
    out.text("[")?;
    for (index, (port, up)) in view.uplinks.iter().enumerate() {
        if index > 0 {
            out.text(",")?;
        }
        let mut name: heapless::String<8> = heapless::String::new();
        let _ = core::fmt::write(&mut name, format_args!("{port}"));
        out.text("{\"name\":")?;
        out.string(&name)?;
        out.key(false, "link")?;
        out.string(if *up { "up" } else { "down" })?;
        out.text("}")?;
    }
    out.text("]")?;
    out.key(false, "failovers")?;
    out.text("[")?;
    for (index, record) in view.failovers.iter().enumerate() {
        if index > 0 {
            out.text(",")?;
        }
        out.text("{\"reason\":")?;
        out.string(record.reason.as_str())?;
        out.key(false, "from")?;
        out.string(&record.from)?;
        out.key(false, "to")?;
        out.string(&record.to)?;
        out.key(false, "epoch")?;
        out.number(record.epoch)?;
        out.key(false, "at_ms")?;
        out.number(record.at_ms)?;
        out.text("}")?;
    }
    out.text("]}")
}

fn view_reply<B: Backend + ?Sized>(backend: &B, status: u16, buffer: &mut [u8]) -> Reply {
    let view = backend.ha();
    let mut out = Out::new(buffer);
    match write_view(view.as_ref(), &mut out) {
        Ok(()) => {
            let length = out.len();
            Reply::json(status, Content::Ready(length))
        }
        // Cannot happen with the server's buffer (the view is bounded well under it).
        Err(_) => problem(
            buffer,
            500,
            "internal",
            "the HA view did not fit the buffer",
        ),
    }
}

/// `GET /v1/ha`.
pub fn get<B: Backend + ?Sized>(backend: &B, buffer: &mut [u8]) -> Reply {
    view_reply(backend, 200, buffer)
}

/// `POST /v1/ha:failover` (optional body).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailoverBody<'a> {
    #[serde(borrow, default)]
    target_alias: Option<&'a str>,
}

/// `POST /v1/ha:failover`: 202 with the view (now standby, resigning), or 409.
pub fn failover<B: Backend + ?Sized>(
    backend: &mut B,
    request: &Request<'_>,
    buffer: &mut [u8],
) -> Reply {
    let body: FailoverBody<'_> = match optional_json_body(request, buffer) {
        Ok(body) => body,
        Err(reply) => return reply,
    };
    match backend.ha_failover(body.target_alias) {
        Ok(()) => view_reply(&*backend, 202, buffer),
        Err(HaRefusal::Disabled) => problem(
            buffer,
            409,
            code::HA_DISABLED,
            "HA is off on this DPU (no ha.alias on its kernel command line)",
        ),
        Err(HaRefusal::Refused(FailoverError::NotActive)) => problem(
            buffer,
            409,
            code::HA_NOT_ACTIVE,
            "this DPU is not the active one: ask the active DPU",
        ),
        Err(HaRefusal::Refused(FailoverError::PeerNotReady)) => problem(
            buffer,
            409,
            code::PEER_NOT_READY,
            "no healthy standby DPU to take over",
        ),
        Err(HaRefusal::Refused(FailoverError::UnknownTarget)) => super::field_problem(
            buffer,
            "target_alias",
            "names no peer DPU this one has heard",
        ),
    }
}

/// The HA metric families (nothing when HA is off).
pub fn metrics<B: Backend + ?Sized>(backend: &B, out: &mut Out<'_>) -> Result<(), WriteError> {
    let Some(view) = backend.ha() else {
        return Ok(());
    };
    super::metrics::header_pub(
        out,
        "dpu_ha_role",
        "gauge",
        "This DPU's HA role: 1 for the role it has.",
    )?;
    for role in [Role::Standby, Role::Active, Role::Refused] {
        let value = u64::from(view.role == Some(role));
        super::metrics::sample_pub(out, "dpu_ha_role", &[("role", role.as_str())], value)?;
    }
    super::metrics::header_pub(out, "dpu_ha_epoch", "gauge", "The highest HA epoch seen.")?;
    super::metrics::sample_pub(out, "dpu_ha_epoch", &[], view.epoch)?;
    super::metrics::header_pub(
        out,
        "dpu_ha_failovers_total",
        "counter",
        "Changes of the active DPU this DPU saw, by reason.",
    )?;
    for reason in Reason::ALL {
        super::metrics::sample_pub(
            out,
            "dpu_ha_failovers_total",
            &[("reason", reason.as_str())],
            view.failover_totals[reason.index()],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(view: Option<&HaView>) -> serde_json::Value {
        let mut buffer = [0u8; 4096];
        let mut out = Out::new(&mut buffer);
        write_view(view, &mut out).unwrap();
        let length = out.len();
        let text = core::str::from_utf8(&buffer[..length]).unwrap();
        assert!(
            readable::debug_lines(text).is_empty(),
            "Debug output: {text}"
        );
        serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
    }

    #[test]
    fn off_is_disabled_and_forwarding() {
        let json = text(None);
        assert_eq!(json["enabled"], false);
        assert_eq!(json["role"], "disabled");
        assert_eq!(json["forwarding"], true);
        assert_eq!(json["alias"], serde_json::Value::Null);
    }

    #[test]
    fn a_full_view_is_the_documented_json() {
        let mut view = HaView {
            alias: dpu_ha::alias("dpu2"),
            role: Some(Role::Active),
            priority: 100,
            epoch: 7,
            forwarding: true,
            refused_reason: None,
            mismatch: Some("dpu1 runs firmware 0.3.0, dpu2 0.2.0".try_into().unwrap()),
            active: Some(dpu_ha::alias("dpu2")),
            peer: PathView {
                alias: Some(dpu_ha::alias("dpu1")),
                health: Some(Health::Down),
                role: Some(Role::Standby),
                last_heard_ms: Some(1234),
            },
            host: PathView {
                health: Some(Health::Up),
                last_heard_ms: Some(50),
                ..PathView::default()
            },
            ..HaView::default()
        };
        view.uplinks.push((PortId::new(2).unwrap(), true)).unwrap();
        view.uplinks.push((PortId::new(3).unwrap(), false)).unwrap();
        for epoch in 0..dpu_ha::FAILOVER_HISTORY as u64 {
            view.failovers
                .push(FailoverRecord {
                    reason: Reason::Crash,
                    from: dpu_ha::alias("rack1-dpu-long-1"),
                    to: dpu_ha::alias("rack1-dpu-long-2"),
                    epoch: u64::MAX - epoch,
                    at_ms: u64::MAX,
                })
                .unwrap();
        }
        let json = text(Some(&view));
        assert_eq!(json["enabled"], true);
        assert_eq!(json["alias"], "dpu2");
        assert_eq!(json["role"], "active");
        assert_eq!(json["epoch"], 7);
        assert_eq!(json["refused_reason"], serde_json::Value::Null);
        assert_eq!(json["peer"]["alias"], "dpu1");
        assert_eq!(json["peer"]["state"], "down");
        assert_eq!(json["peer"]["role"], "standby");
        assert_eq!(json["peer"]["last_heard_ms"], 1234);
        assert_eq!(json["host"]["state"], "up");
        assert_eq!(json["uplinks"][1]["name"], "port3");
        assert_eq!(json["uplinks"][1]["link"], "down");
        assert_eq!(json["failovers"][0]["reason"], "crash");
        assert_eq!(json["failovers"].as_array().unwrap().len(), 8);
    }
}
