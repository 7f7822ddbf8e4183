//! Active/standby HA for two DPUs in one server: the wire codec, the DPU state machine and the
//! host arbiter.
//!
//! Pure logic, `no_std`, no heap and no unsafe code, so the same crate runs in the kernel and in
//! the host CLI (`dpuctl arbiter`). Time is a plain millisecond count the caller passes in (a
//! virtual clock in the tests). The rules, after `docs/ha.md` and the design anchors:
//!
//! * a DPU boots [`Role::Standby`] and never promotes itself before it has heard its peer or the
//!   host arbiter;
//! * every heartbeat and grant carries an `epoch` (a fencing token); a DPU that sees a higher
//!   epoch than its own stops forwarding at once;
//! * the host arbiter grants active to exactly one DPU and bumps the epoch on every change;
//!   while the host is heard, a standby promotes only on a grant naming it;
//! * without the host, the two DPUs form (higher priority, then lower alias) and fail over on an
//!   explicit resign heard on the DPU-to-DPU link, never on silence alone (a cut link and a dead
//!   peer look the same, so nobody newly promotes);
//! * non-preemptive: nothing fails back on its own;
//! * HA refuses to form, naming the DPUs, when firmware versions or config digests differ.

#![no_std]
#![forbid(unsafe_code)]

pub mod arbiter;
pub mod codec;
pub mod dpu;
mod types;

pub use arbiter::{Arbiter, ArbiterConfig, ArbiterError, DpuView};
pub use codec::{
    DecodeError, ENCODED_MAX, EncodeError, FRAME_HEADER, FailoverRequest, Grant, Heartbeat,
    Message, decode_frame, encode_frame,
};
pub use dpu::{Dpu, DpuConfig, FailoverError, HostView, Ignored, PeerView, Source, UPDELAY_MS};
pub use types::{
    ALIAS_MAX, Alias, Digest, FAILOVER_HISTORY, FailoverRecord, Failovers, Health, Reason,
    ReasonText, Role, VERSION_MAX, Version, alias, parse_alias,
};

/// UDP port of the HA protocol, on the DPUs and on the host arbiter.
pub const UDP_PORT: u16 = 7400;
/// EtherType of the raw heartbeat frames on the DPU-to-DPU link (IEEE local experimental 2).
pub const ETHERTYPE: u16 = 0x88B5;
/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT_MS: u32 = 100;
/// Default detect multiplier: a peer or host is down after this many missed heartbeats.
pub const DEFAULT_DETECT: u32 = 3;
/// Default priority (1..=254; higher wins when forming).
pub const DEFAULT_PRIORITY: u8 = 100;
