//! The data-port switch: VLAN-aware learning, teaming, security policy.
//!
//! Pure logic, host-tested, no heap and no unsafe code: the kernel's poll loop hands each
//! received frame to [`Switch::process`] and gets back a [`Decision`] (drop with a reason, one
//! output port, or several), each output with the tag [`Edit`] it needs, which
//! [`frame::apply_edit`] makes in place in the caller's buffer. Semantics follow a VMware VDS:
//! host ports (VMs) and uplinks (the physical network), 802.1Q access and trunk ports, the
//! three security-policy knobs, failover-order teaming with RARP notify frames. See
//! `docs/switch.md`.

#![no_std]
#![forbid(unsafe_code)]

pub mod cmdline;
pub mod config;
pub mod frame;
mod switch;
pub mod table;
mod types;

pub use cmdline::{CmdlineError, CmdlineKeys, KeyProblem, parse_cmdline};
pub use config::{
    ConfigError, Field, LimitPolicy, Policy, PortConfig, PortRole, Problem, SecurityPolicy,
    SwitchConfig, TeamingConfig, VlanMode, VlanSet,
};
pub use frame::{Edit, EditError, FrameHead, apply_edit, apply_edit_words, write_rarp};
pub use switch::{
    ANNOUNCE_SLOTS_PER_CALL, Counters, Decision, DropReason, FdbError, HOST_MAC_HOLD_SECONDS,
    NOTIFY_QUEUE, Notification, Output, Outputs, PortCounters, Switch,
};
pub use table::{EntryKind, MAC_TABLE_CAPACITY, MAC_TABLE_SLOTS};
pub use types::{MAX_PORTS, MacAddress, PortId, PortSet, Tick, VlanId};
