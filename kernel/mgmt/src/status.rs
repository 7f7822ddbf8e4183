//! The status snapshot the kernel fills, and the `/healthz` JSON body rendered from it.
//!
//! Body shape (one line, see `docs/api/openapi.yaml`):
//! `{"status":"ok","version":"0.1.0","git":"abc1234","uptime_ms":1234,
//!   "nics":[{"name":"mgmt0","role":"management","link":"up","mac":"52:54:00:12:34:56"}]}`

use heapless::Vec;

use crate::json::{self, Sink, WriteError};

/// Most NICs a snapshot lists.
pub const MAX_NICS: usize = 8;

/// What a NIC is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicRole {
    /// The management NIC that serves this API; never a switch port.
    Management,
    /// A switch data port.
    Data,
    /// The host-facing channel.
    Host,
}

impl NicRole {
    /// The name used in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::Data => "data",
            Self::Host => "host",
        }
    }
}

/// `management`, `data port` or `host` (for people; JSON uses [`NicRole::as_str`]).
impl core::fmt::Display for NicRole {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.pad(match self {
            Self::Management => "management",
            Self::Data => "data port",
            Self::Host => "host",
        })
    }
}

/// Link state of a NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Carrier present.
    Up,
    /// No carrier.
    Down,
}

impl LinkState {
    /// The name used in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// `up` or `down`.
impl core::fmt::Display for LinkState {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        formatter.pad(self.as_str())
    }
}

/// One NIC in the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NicStatus<'a> {
    /// Interface name, e.g. `mgmt0`.
    pub name: &'a str,
    /// What the NIC is for.
    pub role: NicRole,
    /// Carrier state.
    pub link: LinkState,
    /// Hardware address.
    pub mac: [u8; 6],
}

/// What `/healthz` reports, filled by the kernel (cheap to rebuild on every poll).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSnapshot<'a> {
    /// Firmware version, e.g. the kernel's `CARGO_PKG_VERSION`.
    pub version: &'a str,
    /// Source revision the firmware was built from.
    pub git: &'a str,
    /// Milliseconds since boot.
    pub uptime_ms: u64,
    /// Up to [`MAX_NICS`] NICs, in the order to list them.
    pub nics: Vec<NicStatus<'a>, MAX_NICS>,
}

impl<'a> StatusSnapshot<'a> {
    /// A snapshot with no NICs yet.
    #[must_use]
    pub const fn new(version: &'a str, git: &'a str, uptime_ms: u64) -> Self {
        Self {
            version,
            git,
            uptime_ms,
            nics: Vec::new(),
        }
    }

    /// Adds a NIC; gives it back if [`MAX_NICS`] are already listed.
    pub fn push_nic(&mut self, nic: NicStatus<'a>) -> Result<(), NicStatus<'a>> {
        self.nics.push(nic)
    }
}

/// `mac` as `52:54:00:12:34:56` (lower-case hex, colon-separated).
#[must_use]
pub fn mac_text(mac: &[u8; 6]) -> [u8; 17] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b':'; 17];
    for (index, byte) in mac.iter().enumerate() {
        text[3 * index] = HEX[usize::from(byte >> 4)];
        text[3 * index + 1] = HEX[usize::from(byte & 0xf)];
    }
    text
}

/// Writes the `/healthz` body for `snapshot`.
pub fn write_health(sink: &mut impl Sink, snapshot: &StatusSnapshot<'_>) -> Result<(), WriteError> {
    json::write_object(sink, |object| {
        object.string("status", "ok")?;
        object.string("version", snapshot.version)?;
        object.string("git", snapshot.git)?;
        object.unsigned("uptime_ms", snapshot.uptime_ms)?;
        object.array("nics", |array| {
            for nic in &snapshot.nics {
                array.object(|entry| {
                    entry.string("name", nic.name)?;
                    entry.string("role", nic.role.as_str())?;
                    entry.string("link", nic.link.as_str())?;
                    let mac = mac_text(&nic.mac);
                    // `mac_text` is ASCII hex and colons, always valid UTF-8.
                    entry.string("mac", core::str::from_utf8(&mac).unwrap_or_default())
                })?;
            }
            Ok(())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn roles_and_links_read_as_words() {
        assert_eq!(format!("{:<10}|", NicRole::Data), "data port |");
        assert_eq!(format!("{}", NicRole::Management), "management");
        assert_eq!(NicRole::Data.as_str(), "data", "JSON keeps its short name");
        assert_eq!(format!("{} {}", LinkState::Up, LinkState::Down), "up down");
    }
}
