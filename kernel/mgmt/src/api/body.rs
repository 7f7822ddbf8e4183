//! Response bodies written in pieces: every GET resource of /v1 and /metrics.
//!
//! A [`Body`] is a small `Copy` cursor. [`Body::fill`] writes as many whole pieces (one port,
//! one MAC table entry, one VLAN, one metric family, ...) as fit the caller's buffer and
//! returns the byte count; 0 means the body is complete. Nothing is buffered between fills, so
//! a connection holds a cursor, not a page: the server sends each fill as one HTTP chunk. Each
//! piece reads the kernel when it is written, so a long listing shows each item as it was when
//! its piece was written. The config is one document written through a window (each fill skips
//! what earlier fills sent), so a config changed between two fills of one response could show
//! parts of both; a client that sees invalid JSON asks again.

use dpu_switch::table::Entry;
use dpu_switch::{EntryKind, MAX_PORTS, PortId, PortRole, VlanId, VlanMode};

use super::backend::{Backend, FdbFilter, LogLine, PortState};
use super::metrics;
use super::out::Out;
use crate::json::WriteError;
use crate::status::mac_text;

/// Entries a `GET /v1/fdb` page lists unless `page_size` says otherwise.
pub const DEFAULT_PAGE_SIZE: u16 = 100;
/// Most entries one page lists.
pub const MAX_PAGE_SIZE: u16 = 1000;
/// Lines `GET /v1/logs` lists unless `limit` says otherwise (and at most).
pub const DEFAULT_LOG_LIMIT: u16 = 100;
/// MAC table entries fetched per piece.
const FDB_BATCH: usize = 8;
/// The smallest buffer a fill must be given: the largest single piece fits in it.
pub const MIN_FILL: usize = 1536;

/// A piece did not fit an empty buffer: the buffer is below [`MIN_FILL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

/// Where a port's JSON object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortPart {
    /// Everything up to the VLAN fields.
    Head,
    /// A trunk's allowed VLANs, from this VLAN id on.
    TrunkVlans(u16),
    /// The closing of the object.
    Tail,
}

/// Where a MAC table page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FdbCursor {
    filter: FdbFilter,
    /// Table position of the next entry to consider.
    position: u32,
    /// Entries still to list on this page.
    left: u16,
    /// Whether an entry was written (commas).
    any: bool,
}

/// A response body and how far it has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Everything was written.
    Done,
    /// `GET /v1/system`.
    System,
    /// `GET /v1/ports`: the opening, then each port (`Some`), then the closing.
    Ports {
        /// The port being written; `None` before the first.
        port: Option<PortId>,
        /// Its part.
        part: PortPart,
    },
    /// `GET /v1/ports/{name}`.
    Port {
        /// The port.
        port: PortId,
        /// The part being written.
        part: PortPart,
    },
    /// `GET /v1/vlans`: each VLAN some port carries, from this id on (0: the opening).
    Vlans {
        /// Next VLAN id to consider; 0 before the opening.
        next: u16,
        /// Whether a VLAN was written (commas).
        any: bool,
    },
    /// `GET /v1/teaming`.
    Teaming,
    /// `GET /v1/fdb` (opening, batches of entries, closing with the next page token).
    Fdb(FdbCursorHandle),
    /// `GET /v1/config`: the bytes of the document already sent.
    Config {
        /// Bytes sent by earlier fills.
        sent: usize,
    },
    /// `GET /v1/firmware`.
    Firmware,
    /// `GET /v1/tasks/{id}`.
    Task(u32),
    /// `GET /v1/logs`: lines after this sequence number.
    Logs {
        /// The last sequence number written (or asked for).
        after: u64,
        /// Lines still to list.
        left: u16,
        /// Whether the opening was written.
        opened: bool,
        /// Whether a line was written (commas).
        any: bool,
    },
    /// `GET /metrics`: the metric family to write next.
    Metrics(u16),
}

/// A MAC table page cursor (kept opaque outside this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdbCursorHandle {
    cursor: FdbCursor,
    opened: bool,
}

impl Body {
    /// `GET /v1/ports`.
    #[must_use]
    pub const fn ports() -> Self {
        Self::Ports {
            port: None,
            part: PortPart::Head,
        }
    }

    /// `GET /v1/ports/{name}`.
    #[must_use]
    pub const fn port(port: PortId) -> Self {
        Self::Port {
            port,
            part: PortPart::Head,
        }
    }

    /// `GET /v1/vlans`.
    #[must_use]
    pub const fn vlans() -> Self {
        Self::Vlans {
            next: 0,
            any: false,
        }
    }

    /// `GET /v1/fdb`: `page_size` entries passing `filter`, from table position `start`.
    #[must_use]
    pub const fn fdb(filter: FdbFilter, start: u32, page_size: u16) -> Self {
        Self::Fdb(FdbCursorHandle {
            cursor: FdbCursor {
                filter,
                position: start,
                left: page_size,
                any: false,
            },
            opened: false,
        })
    }

    /// `GET /v1/config`.
    #[must_use]
    pub const fn config() -> Self {
        Self::Config { sent: 0 }
    }

    /// `GET /v1/logs`: up to `limit` lines after `after`.
    #[must_use]
    pub const fn logs(after: u64, limit: u16) -> Self {
        Self::Logs {
            after,
            left: limit,
            opened: false,
            any: false,
        }
    }

    /// `GET /metrics`.
    #[must_use]
    pub const fn metrics() -> Self {
        Self::Metrics(0)
    }

    /// Whether everything was written.
    #[must_use]
    pub const fn is_done(&self) -> bool {
        matches!(self, Self::Done)
    }

    /// Writes the next pieces into `buffer`; returns the bytes written, 0 once the body is
    /// complete. A buffer of at least [`MIN_FILL`] bytes always takes a piece.
    pub fn fill<B: Backend + ?Sized>(
        &mut self,
        backend: &B,
        buffer: &mut [u8],
    ) -> Result<usize, BufferTooSmall> {
        if let Self::Config { sent } = self {
            let written = config_window(backend, *sent, buffer);
            *sent += written;
            if written == 0 {
                *self = Self::Done;
            }
            return Ok(written);
        }
        let mut out = Out::new(buffer);
        while !self.is_done() {
            let mark = out.mark();
            let before = *self;
            if self.piece(backend, &mut out).is_err() {
                out.rollback(mark);
                *self = before;
                if out.is_empty() {
                    return Err(BufferTooSmall);
                }
                break;
            }
        }
        Ok(out.len())
    }

    /// Writes one piece and moves the cursor past it (to `Done` after the last).
    fn piece<B: Backend + ?Sized>(
        &mut self,
        backend: &B,
        out: &mut Out<'_>,
    ) -> Result<(), WriteError> {
        match *self {
            Self::Done => {}
            Self::System => {
                system(backend, out)?;
                *self = Self::Done;
            }
            Self::Ports { port, part } => {
                let ports = port_count(backend);
                match port {
                    None => {
                        out.text("{\"ports\":[")?;
                        *self = match first_port(ports) {
                            Some(first) => Self::Ports {
                                port: Some(first),
                                part: PortPart::Head,
                            },
                            None => {
                                out.text("]}")?;
                                Self::Done
                            }
                        };
                    }
                    Some(current) => {
                        if part == PortPart::Head && current.index() > 0 {
                            out.text(",")?;
                        }
                        match port_piece(backend, current, part, out)? {
                            Some(next) => {
                                *self = Self::Ports {
                                    port: Some(current),
                                    part: next,
                                }
                            }
                            None => match PortId::new(current.number() + 1)
                                .filter(|next| next.number() <= ports)
                            {
                                Some(next) => {
                                    *self = Self::Ports {
                                        port: Some(next),
                                        part: PortPart::Head,
                                    }
                                }
                                None => {
                                    out.text("]}")?;
                                    *self = Self::Done;
                                }
                            },
                        }
                    }
                }
            }
            Self::Port { port, part } => {
                *self = match port_piece(backend, port, part, out)? {
                    Some(next) => Self::Port { port, part: next },
                    None => Self::Done,
                };
            }
            Self::Vlans { next, any } => {
                if next == 0 {
                    out.text("{\"vlans\":[")?;
                    *self = Self::Vlans {
                        next: VlanId::MIN,
                        any: false,
                    };
                    return Ok(());
                }
                match next_carried_vlan(backend, next) {
                    Some(vlan) => {
                        if any {
                            out.text(",")?;
                        }
                        vlan_piece(backend, vlan, out)?;
                        *self = Self::Vlans {
                            next: vlan.get() + 1,
                            any: true,
                        };
                    }
                    None => {
                        out.text("]}")?;
                        *self = Self::Done;
                    }
                }
            }
            Self::Teaming => {
                teaming(backend, out)?;
                *self = Self::Done;
            }
            Self::Fdb(mut handle) => {
                if !handle.opened {
                    let summary = backend.switch_summary();
                    out.text("{\"total_entries\":")?;
                    out.number(summary.map_or(0, |s| s.mac_entries as u64))?;
                    out.text(",\"entries\":[")?;
                    handle.opened = true;
                    *self = Self::Fdb(handle);
                    return Ok(());
                }
                let now = backend.switch_summary().map_or(0, |s| s.now_seconds);
                let cursor = &mut handle.cursor;
                let mut batch = [(0u32, EMPTY_ENTRY); FDB_BATCH];
                let wanted = usize::from(cursor.left).min(FDB_BATCH);
                let page = if wanted == 0 {
                    super::backend::FdbPage {
                        count: 0,
                        next: Some(cursor.position),
                    }
                } else {
                    fdb_batch(
                        backend,
                        cursor.position,
                        &cursor.filter,
                        &mut batch[..wanted],
                    )
                };
                for (position, entry) in batch.iter().take(page.count) {
                    if cursor.any {
                        out.text(",")?;
                    }
                    fdb_entry(entry, now, out)?;
                    cursor.any = true;
                    cursor.left -= 1;
                    cursor.position = position.saturating_add(1);
                }
                if page.count == 0 || page.next.is_none() || cursor.left == 0 {
                    // The page is over: a token only if an entry passing the filter follows.
                    let more = page.next.is_some() && {
                        let mut probe = [(0u32, EMPTY_ENTRY); 1];
                        fdb_batch(backend, cursor.position, &cursor.filter, &mut probe).count > 0
                    };
                    out.text("],\"next_page_token\":")?;
                    if more {
                        out.text("\"")?;
                        out.number(u64::from(cursor.position))?;
                        out.text("\"}")?;
                    } else {
                        out.text("null}")?;
                    }
                    *self = Self::Done;
                } else {
                    *self = Self::Fdb(handle);
                }
            }
            Self::Config { .. } => {}
            Self::Firmware => {
                firmware(backend, out)?;
                *self = Self::Done;
            }
            Self::Task(id) => {
                task(backend, id, out)?;
                *self = Self::Done;
            }
            Self::Logs {
                after,
                left,
                opened,
                any,
            } => {
                if !opened {
                    out.text("{\"lines\":[")?;
                    *self = Self::Logs {
                        after,
                        left,
                        opened: true,
                        any,
                    };
                    return Ok(());
                }
                let mut line_written = None;
                if left > 0 {
                    let mut result = Ok(());
                    backend.logs(after, &mut |line: LogLine<'_>| {
                        result = (|| {
                            if any {
                                out.text(",")?;
                            }
                            log_line(&line, out)
                        })();
                        line_written = Some(line.seq);
                        false
                    });
                    result?;
                }
                match line_written {
                    Some(seq) => {
                        *self = Self::Logs {
                            after: seq,
                            left: left - 1,
                            opened,
                            any: true,
                        }
                    }
                    None => {
                        out.text("],\"last_seq\":")?;
                        out.number(after)?;
                        out.text("}")?;
                        *self = Self::Done;
                    }
                }
            }
            Self::Metrics(family) => {
                *self = match metrics::family(backend, family, out)? {
                    true => Self::Metrics(family + 1),
                    false => Self::Done,
                };
            }
        }
        Ok(())
    }
}

/// Cursor value of a complete body.
pub const CURSOR_DONE: u64 = u64::MAX;
/// Largest log sequence number a cursor carries (`after_seq` is capped to it).
pub const MAX_CURSOR_SEQ: u64 = (1 << 48) - 1;

fn part_bits(part: PortPart) -> u64 {
    match part {
        PortPart::Head => 0,
        PortPart::Tail => 1,
        PortPart::TrunkVlans(vlan) => 2 | (u64::from(vlan & 0x1fff) << 2),
    }
}

fn part_from(bits: u64) -> PortPart {
    match bits & 3 {
        0 => PortPart::Head,
        1 => PortPart::Tail,
        // 13 bits: the cast cannot truncate.
        _ => PortPart::TrunkVlans(((bits >> 2) & 0x1fff) as u16),
    }
}

fn bit(value: bool, at: u32) -> u64 {
    u64::from(value) << at
}

impl Body {
    /// The body's position as one number, for a server that keeps a `u64` cursor per
    /// response: 0 is the start (the body is made again from the request), [`CURSOR_DONE`]
    /// the end; [`Body::resume`] turns it back into the body. What the request says (the
    /// port, the FDB filter) is not in it.
    #[must_use]
    pub fn to_cursor(&self) -> u64 {
        let state = match *self {
            Self::Done => return CURSOR_DONE,
            Self::System | Self::Teaming | Self::Firmware | Self::Task(_) => 0,
            Self::Ports { port, part } => {
                u64::from(port.map_or(0, PortId::number)) | (part_bits(part) << 3)
            }
            Self::Port { part, .. } => part_bits(part),
            Self::Vlans { next, any } => u64::from(next & 0x1fff) | bit(any, 13),
            Self::Fdb(handle) => {
                let cursor = handle.cursor;
                u64::from(cursor.position)
                    | (u64::from(cursor.left) << 32)
                    | bit(cursor.any, 48)
                    | bit(handle.opened, 49)
            }
            Self::Config { sent } => sent as u64,
            Self::Logs {
                after,
                left,
                opened,
                any,
            } => {
                after.min(MAX_CURSOR_SEQ)
                    | (u64::from(left & 0x7f) << 48)
                    | bit(opened, 55)
                    | bit(any, 56)
            }
            Self::Metrics(family) => u64::from(family),
        };
        // 0 stays "the start": every state is one more than its bits.
        state + 1
    }

    /// The body `start` (as the request makes it) moved on to `cursor` (from
    /// [`Body::to_cursor`]; 0 is `start` itself).
    #[must_use]
    pub fn resume(start: Self, cursor: u64) -> Self {
        if cursor == 0 {
            return start;
        }
        if cursor == CURSOR_DONE {
            return Self::Done;
        }
        let bits = cursor - 1;
        match start {
            Self::Done | Self::System | Self::Teaming | Self::Firmware | Self::Task(_) => start,
            Self::Ports { .. } => Self::Ports {
                // 3 bits: the cast cannot truncate.
                port: PortId::new((bits & 7) as u8),
                part: part_from(bits >> 3),
            },
            Self::Port { port, .. } => Self::Port {
                port,
                part: part_from(bits),
            },
            Self::Vlans { .. } => Self::Vlans {
                next: (bits & 0x1fff) as u16,
                any: bits & (1 << 13) != 0,
            },
            Self::Fdb(handle) => Self::Fdb(FdbCursorHandle {
                cursor: FdbCursor {
                    filter: handle.cursor.filter,
                    position: (bits & 0xffff_ffff) as u32,
                    left: ((bits >> 32) & 0xffff) as u16,
                    any: bits & (1 << 48) != 0,
                },
                opened: bits & (1 << 49) != 0,
            }),
            Self::Config { .. } => Self::Config {
                sent: usize::try_from(bits).unwrap_or(usize::MAX),
            },
            Self::Logs { .. } => Self::Logs {
                after: bits & MAX_CURSOR_SEQ,
                left: ((bits >> 48) & 0x7f) as u16,
                opened: bits & (1 << 55) != 0,
                any: bits & (1 << 56) != 0,
            },
            Self::Metrics(_) => Self::Metrics((bits & 0xffff) as u16),
        }
    }
}

const EMPTY_ENTRY: Entry = Entry {
    vlan: VlanId::DEFAULT,
    mac: dpu_switch::MacAddress::ZERO,
    port: match PortId::new(1) {
        Some(port) => port,
        None => panic!("port1 exists"),
    },
    kind: EntryKind::Learned,
    last_seen: 0,
};

/// Entries from `start` on into `out` (positions with them), through the backend.
fn fdb_batch<B: Backend + ?Sized>(
    backend: &B,
    start: u32,
    filter: &FdbFilter,
    out: &mut [(u32, Entry)],
) -> super::backend::FdbPage {
    backend.fdb_page(start, filter, out)
}

fn port_count<B: Backend + ?Sized>(backend: &B) -> u8 {
    backend
        .switch_config()
        .map_or(0, |config| config.port_count.min(MAX_PORTS as u8))
}

fn first_port(count: u8) -> Option<PortId> {
    (count > 0).then(|| PortId::new(1)).flatten()
}

/// The JSON word for a port's link.
fn link_word(state: &PortState) -> &'static str {
    if !state.present {
        "not-present"
    } else if state.link_up {
        "up"
    } else {
        "down"
    }
}

/// Writes `mac` as a JSON string.
fn mac_string(out: &mut Out<'_>, mac: dpu_switch::MacAddress) -> Result<(), WriteError> {
    let text = mac_text(&mac.0);
    out.string(core::str::from_utf8(&text).unwrap_or_default())
}

/// One part of a port's object; returns the next part, `None` after the last.
fn port_piece<B: Backend + ?Sized>(
    backend: &B,
    port: PortId,
    part: PortPart,
    out: &mut Out<'_>,
) -> Result<Option<PortPart>, WriteError> {
    let Some(config) = backend.switch_config() else {
        return Ok(None);
    };
    let settings = config.port(port);
    match part {
        PortPart::Head => {
            let state = backend.port_state(port);
            out.text("{\"name\":")?;
            out.display_string(port)?;
            out.key(false, "role")?;
            out.string(settings.role.name())?;
            out.key(false, "admin_state")?;
            out.string("up")?;
            out.key(false, "oper_state")?;
            out.string(if state.present && state.link_up {
                "up"
            } else {
                "down"
            })?;
            out.key(false, "link")?;
            out.string(link_word(&state))?;
            out.key(false, "mac")?;
            match state.mac {
                Some(mac) => mac_string(out, mac)?,
                None => out.text("null")?,
            }
            out.key(false, "learned_macs")?;
            out.number(state.learned_macs as u64)?;
            out.key(false, "mac_limit")?;
            out.number(u64::from(settings.mac_limit))?;
            out.key(false, "mac_limit_policy")?;
            out.string(settings.limit_policy.name())?;
            out.key(false, "pinned_uplink")?;
            match (settings.role, state.pinned_uplink) {
                (PortRole::Host, Some(uplink)) => out.display_string(uplink)?,
                _ => out.text("null")?,
            }
            out.key(false, "security")?;
            out.text("{\"mac\":")?;
            match settings.mac {
                Some(mac) => mac_string(out, mac)?,
                None => out.text("null")?,
            }
            out.key(false, "promiscuous")?;
            out.string(settings.security.promiscuous.name())?;
            out.key(false, "mac_changes")?;
            out.string(settings.security.mac_changes.name())?;
            out.key(false, "forged_transmits")?;
            out.string(settings.security.forged_transmits.name())?;
            out.text("}")?;
            counters(&state, out)?;
            match settings.vlan {
                VlanMode::Access(vlan) => {
                    out.text(",\"vlan_mode\":\"access\",\"access_vlan\":")?;
                    out.number(u64::from(vlan))?;
                    Ok(Some(PortPart::Tail))
                }
                VlanMode::Trunk { native, .. } => {
                    out.text(",\"vlan_mode\":\"trunk\",\"native_vlan\":")?;
                    match native {
                        Some(native) => out.number(u64::from(native))?,
                        None => out.text("null")?,
                    }
                    out.text(",\"trunk_vlans\":\"")?;
                    Ok(Some(PortPart::TrunkVlans(0)))
                }
            }
        }
        PortPart::TrunkVlans(from) => {
            let VlanMode::Trunk { allowed, .. } = &settings.vlan else {
                out.text("\"")?;
                return Ok(Some(PortPart::Tail));
            };
            // Up to 16 ranges per piece, in the config key syntax (`10-12,20`).
            let first_member = allowed.iter().next();
            let mut next = from;
            for _ in 0..16 {
                while next < 4096 && !allowed.contains(next) {
                    next += 1;
                }
                if next >= 4096 {
                    // An empty allowed set (a trunk carrying only its native VLAN) is `none`,
                    // as in the config key syntax, never an empty string.
                    out.text(if first_member.is_none() {
                        "none\""
                    } else {
                        "\""
                    })?;
                    return Ok(Some(PortPart::Tail));
                }
                let first = next;
                while next < 4096 && allowed.contains(next) {
                    next += 1;
                }
                if first_member != Some(first) {
                    out.text(",")?;
                }
                out.number(u64::from(first))?;
                if next - 1 > first {
                    out.text("-")?;
                    out.number(u64::from(next - 1))?;
                }
            }
            Ok(Some(PortPart::TrunkVlans(next)))
        }
        PortPart::Tail => {
            out.text("}")?;
            Ok(None)
        }
    }
}

/// The port's OpenConfig-named counters (since the last clear), as `,"counters":{...}`.
fn counters(state: &PortState, out: &mut Out<'_>) -> Result<(), WriteError> {
    let nic = &state.nic;
    let switch = &state.switch;
    out.text(",\"counters\":{")?;
    let fields: [(&str, u64); 14] = [
        ("in_octets", nic.rx_bytes),
        ("in_pkts", nic.rx_packets),
        ("in_discards", switch.dropped),
        ("in_errors", nic.rx_errors),
        ("in_unknown_unicast_pkts", switch.unknown_unicast),
        ("in_forwarded_pkts", switch.forwarded),
        ("in_flooded_pkts", switch.flooded),
        ("out_octets", nic.tx_bytes),
        ("out_pkts", nic.tx_packets),
        ("out_discards", nic.tx_discards),
        ("out_errors", nic.tx_errors),
        ("carrier_transitions", nic.carrier_transitions),
        ("mac_learned", switch.learned),
        ("mac_moves", switch.moves),
    ];
    for (index, (name, value)) in fields.iter().enumerate() {
        out.key(index == 0, name)?;
        out.number(*value)?;
    }
    out.key(false, "last_clear_ms")?;
    match state.last_clear_ms {
        Some(ms) => out.number(ms)?,
        None => out.text("null")?,
    }
    out.text("}")
}

/// The first VLAN id at or above `from` that some port carries.
fn next_carried_vlan<B: Backend + ?Sized>(backend: &B, from: u16) -> Option<VlanId> {
    let config = backend.switch_config()?;
    (from.max(VlanId::MIN)..=VlanId::MAX)
        .filter_map(VlanId::new)
        .find(|vlan| {
            config
                .port_ids()
                .any(|port| config.port(port).vlan.carries(*vlan))
        })
}

/// `{"vlan_id":10,"ports":[{"name":"port1","tagged":true},...]}`.
fn vlan_piece<B: Backend + ?Sized>(
    backend: &B,
    vlan: VlanId,
    out: &mut Out<'_>,
) -> Result<(), WriteError> {
    let Some(config) = backend.switch_config() else {
        return Ok(());
    };
    out.text("{\"vlan_id\":")?;
    out.number(u64::from(vlan.get()))?;
    out.text(",\"ports\":[")?;
    let mut first = true;
    for port in config.port_ids() {
        let mode = &config.port(port).vlan;
        if !mode.carries(vlan) {
            continue;
        }
        if !first {
            out.text(",")?;
        }
        first = false;
        out.text("{\"name\":")?;
        out.display_string(port)?;
        out.text(",\"tagged\":")?;
        out.text(if mode.untagged(vlan) { "false" } else { "true" })?;
        out.text("}")?;
    }
    out.text("]}")
}

fn port_list(out: &mut Out<'_>, ports: impl Iterator<Item = PortId>) -> Result<(), WriteError> {
    out.text("[")?;
    for (index, port) in ports.enumerate() {
        if index > 0 {
            out.text(",")?;
        }
        out.display_string(port)?;
    }
    out.text("]")
}

fn teaming<B: Backend + ?Sized>(backend: &B, out: &mut Out<'_>) -> Result<(), WriteError> {
    let Some(config) = backend.switch_config() else {
        return out.text(
            "{\"active\":[],\"standby\":[],\"failback\":true,\"effective_active\":[],\"effective_standby\":[],\"carrying\":[],\"pinning\":[]}",
        );
    };
    out.text("{\"active\":")?;
    port_list(out, config.teaming.active.iter().copied())?;
    out.text(",\"standby\":")?;
    port_list(out, config.teaming.standby.iter().copied())?;
    out.text(",\"failback\":")?;
    out.text(if config.teaming.failback {
        "true"
    } else {
        "false"
    })?;
    let (active, standby) = config.team();
    out.text(",\"effective_active\":")?;
    port_list(out, active.iter().copied())?;
    out.text(",\"effective_standby\":")?;
    port_list(out, standby.iter().copied())?;
    out.text(",\"carrying\":")?;
    let carrying = backend
        .switch_summary()
        .map(|summary| summary.active_uplinks)
        .unwrap_or_default();
    port_list(out, carrying.iter())?;
    out.text(",\"pinning\":[")?;
    let mut first = true;
    for port in config.port_ids() {
        if config.port(port).role != PortRole::Host {
            continue;
        }
        if !first {
            out.text(",")?;
        }
        first = false;
        out.text("{\"port\":")?;
        out.display_string(port)?;
        out.text(",\"uplink\":")?;
        match backend.port_state(port).pinned_uplink {
            Some(uplink) => out.display_string(uplink)?,
            None => out.text("null")?,
        }
        out.text("}")?;
    }
    out.text("]}")
}

fn fdb_entry(entry: &Entry, now_seconds: u32, out: &mut Out<'_>) -> Result<(), WriteError> {
    out.text("{\"mac\":")?;
    mac_string(out, entry.mac)?;
    out.text(",\"vlan\":")?;
    out.number(u64::from(entry.vlan.get()))?;
    out.text(",\"port\":")?;
    out.display_string(entry.port)?;
    out.text(",\"type\":")?;
    match entry.kind {
        EntryKind::Static => out.text("\"static\",\"age_s\":null}"),
        EntryKind::Learned => {
            out.text("\"learned\",\"age_s\":")?;
            out.number(u64::from(now_seconds.saturating_sub(entry.last_seen)))?;
            out.text("}")
        }
    }
}

fn system<B: Backend + ?Sized>(backend: &B, out: &mut Out<'_>) -> Result<(), WriteError> {
    let info = backend.system();
    out.text("{\"id\":\"dpu0\",\"alias\":")?;
    match backend.ha_alias() {
        Some(alias) => out.string(&alias)?,
        None => out.text("null")?,
    }
    out.key(false, "version")?;
    out.string(info.version)?;
    out.key(false, "build")?;
    out.text("{\"git\":")?;
    out.string(info.git)?;
    out.key(false, "profile")?;
    out.string(info.profile)?;
    out.text("}")?;
    out.key(false, "uptime_ms")?;
    out.number(info.uptime_ms)?;
    out.key(false, "memory")?;
    out.text("{\"total_bytes\":")?;
    out.number(info.memory_total_bytes)?;
    out.key(false, "image_bytes")?;
    out.number(info.memory_image_bytes)?;
    out.text("}")?;
    out.key(false, "boot")?;
    out.text("{\"number\":")?;
    out.number(u64::from(info.boot_number))?;
    out.key(false, "bank")?;
    match info.boot_bank {
        Some(bank) => {
            let mut text = [0u8; 4];
            out.string(bank.encode_utf8(&mut text))?;
        }
        None => out.text("null")?,
    }
    out.key(false, "trial")?;
    out.text(if info.trial { "true" } else { "false" })?;
    out.key(false, "report")?;
    out.string(info.boot_report)?;
    out.key(false, "last_boot")?;
    out.string(info.last_boot)?;
    out.text("}}")
}

fn hex(out: &mut Out<'_>, bytes: &[u8]) -> Result<(), WriteError> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.text("\"")?;
    for byte in bytes {
        crate::json::Sink::put(
            out,
            &[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]],
        )?;
    }
    out.text("\"")
}

fn firmware<B: Backend + ?Sized>(backend: &B, out: &mut Out<'_>) -> Result<(), WriteError> {
    let Some(view) = backend.firmware() else {
        return out.text(
            "{\"banks\":[],\"lowest_supported_security_counter\":0,\"rollback_requested\":false,\"last_outcome\":\"direct boot: no boot-state record\"}",
        );
    };
    out.text("{\"banks\":[")?;
    for (index, bank) in view.banks.iter().enumerate() {
        if index > 0 {
            out.text(",")?;
        }
        let mut slot = [0u8; 4];
        out.text("{\"slot\":")?;
        out.string(bank.slot.encode_utf8(&mut slot))?;
        out.key(false, "version")?;
        if bank.version.is_empty() {
            out.text("null")?;
        } else {
            out.string(&bank.version)?;
        }
        out.key(false, "state")?;
        out.string(bank.state)?;
        out.key(false, "active")?;
        out.text(if bank.active { "true" } else { "false" })?;
        out.key(false, "staged")?;
        out.text(if bank.staged { "true" } else { "false" })?;
        out.key(false, "tries_left")?;
        out.number(u64::from(bank.tries_left))?;
        out.key(false, "security_counter")?;
        out.number(u64::from(bank.security_counter))?;
        out.key(false, "size_bytes")?;
        out.number(u64::from(bank.size_bytes))?;
        out.key(false, "sha256")?;
        if bank.size_bytes == 0 {
            out.text("null")?;
        } else {
            hex(out, &bank.digest)?;
        }
        out.key(false, "failure_reason")?;
        if bank.failure_reason.is_empty() {
            out.text("null")?;
        } else {
            out.string(&bank.failure_reason)?;
        }
        out.text("}")?;
    }
    out.text("],\"lowest_supported_security_counter\":")?;
    out.number(u64::from(view.floor))?;
    out.key(false, "rollback_requested")?;
    out.text(if view.rollback_requested {
        "true"
    } else {
        "false"
    })?;
    out.key(false, "last_outcome")?;
    out.string(&view.last_outcome)?;
    out.text("}")
}

/// Writes the task `id` (a `{}`-free 404 body is the handler's job: it checks first).
fn task<B: Backend + ?Sized>(backend: &B, id: u32, out: &mut Out<'_>) -> Result<(), WriteError> {
    let Some(task) = backend.task(id) else {
        return out.text("{}");
    };
    out.text("{\"id\":")?;
    out.display_string(task.id)?;
    out.key(false, "kind")?;
    out.string(task.kind)?;
    out.key(false, "state")?;
    out.string(task.state.as_str())?;
    out.key(false, "percent")?;
    out.number(u64::from(task.percent))?;
    out.key(false, "received_bytes")?;
    out.number(u64::from(task.received_bytes))?;
    out.key(false, "total_bytes")?;
    out.number(u64::from(task.total_bytes))?;
    out.key(false, "message")?;
    out.string(&task.message)?;
    out.key(false, "started_ms")?;
    out.number(task.started_ms)?;
    out.key(false, "ended_ms")?;
    match task.ended_ms {
        Some(ms) => out.number(ms)?,
        None => out.text("null")?,
    }
    out.text("}")
}

fn log_line(line: &LogLine<'_>, out: &mut Out<'_>) -> Result<(), WriteError> {
    out.text("{\"seq\":")?;
    out.number(line.seq)?;
    out.text(",\"uptime_ms\":")?;
    out.number(line.uptime_ms)?;
    out.text(",\"text\":")?;
    out.string(line.text)?;
    out.text("}")
}

/// Writes the config document from byte `skip` on into `buffer`; returns the bytes written.
fn config_window<B: Backend + ?Sized>(backend: &B, skip: usize, buffer: &mut [u8]) -> usize {
    struct Window<'a> {
        buffer: &'a mut [u8],
        skip: usize,
        length: usize,
    }
    impl core::fmt::Write for Window<'_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            let mut bytes = text.as_bytes();
            let skipped = self.skip.min(bytes.len());
            self.skip -= skipped;
            bytes = &bytes[skipped..];
            let room = self.buffer.len() - self.length;
            let take = room.min(bytes.len());
            self.buffer[self.length..self.length + take].copy_from_slice(&bytes[..take]);
            self.length += take;
            if take < bytes.len() {
                // Full: stop the writer (the rest goes in the next fill).
                return Err(core::fmt::Error);
            }
            Ok(())
        }
    }
    let mut window = Window {
        buffer,
        skip,
        length: 0,
    };
    let _ = backend.write_config(&mut window);
    window.length
}
