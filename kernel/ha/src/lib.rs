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
//!   the arbiter and each DPU of the pair mint epochs from disjoint residues ([`Minter`]), so
//!   an epoch names one active at most even when the arbiter and a DPU that stopped hearing it
//!   both mint one;
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

/// Who mints a new epoch. Epochs are numbered so that no two minters can pick the same one:
/// the arbiter takes those that are 1 modulo 4, the pair's better DPU (higher priority, then
/// lower alias) 2 and the other 3. Without that, a DPU forming alone (it lost the arbiter's
/// grants) and the arbiter naming its peer could both take "the next epoch" and two DPUs
/// would be active at one epoch, which fencing by epoch cannot tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Minter {
    /// The host arbiter.
    Arbiter,
    /// The DPU that wins the pair's ranking.
    BetterDpu,
    /// The DPU that loses it.
    OtherDpu,
}

/// The smallest epoch above `after` that `minter` may take.
#[must_use]
pub fn next_epoch(after: u64, minter: Minter) -> u64 {
    let residue = match minter {
        Minter::Arbiter => 1,
        Minter::BetterDpu => 2,
        Minter::OtherDpu => 3,
    };
    let candidate = after.saturating_add(1);
    candidate.saturating_add((residue + 4 - candidate % 4) % 4)
}

/// How long a DPU or the host may stay silent before it counts as down: `detect` missed
/// heartbeats of `heartbeat_ms` (each at least 1).
fn detect_ms(heartbeat_ms: u32, detect: u32) -> u64 {
    u64::from(heartbeat_ms.max(1)) * u64::from(detect.max(1))
}

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
