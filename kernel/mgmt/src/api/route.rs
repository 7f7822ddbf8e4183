//! The /v1 route table: path and method to a route, the role it needs, and `Allow`.
//!
//! Paths follow Google AIP style: collections (`/v1/ports`), items (`/v1/ports/port1`) and
//! custom verbs after a colon on the last segment (`/v1/ports/port1:clear-counters`,
//! `/v1/firmware:upload`). A MAC in a path (`/v1/fdb/10/52:54:00:00:00:01`) has colons of its
//! own, so verbs are recognised only where a resource has them. Unknown paths are 404 whatever
//! the method; a known path with another method is 405 with the methods it takes.

use dpu_switch::{MacAddress, PortId, VlanId};

pub use crate::auth::Role;
pub use crate::handler::Method;

/// A resource the API serves, with what its path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// `/v1/system`.
    System,
    /// `/v1/system:reboot`.
    Reboot,
    /// `/v1/ports`.
    Ports,
    /// `/v1/ports/{name}`; `None` for a name that is no data port (404).
    Port(Option<PortId>),
    /// `/v1/ports/{name}:clear-counters`.
    ClearCounters(Option<PortId>),
    /// `/v1/vlans`.
    Vlans,
    /// `/v1/teaming`.
    Teaming,
    /// `/v1/fdb`.
    Fdb,
    /// `/v1/fdb/{vlan}/{mac}`; `None` when either does not parse (404).
    FdbEntry(Option<(VlanId, MacAddress)>),
    /// `/v1/fdb:flush`.
    FdbFlush,
    /// `/v1/config`.
    Config,
    /// `/v1/firmware`.
    Firmware,
    /// `/v1/firmware:upload`.
    Upload,
    /// `/v1/firmware:rollback`.
    Rollback,
    /// `/v1/firmware:unstage`.
    Unstage,
    /// `/v1/tasks/{id}`; `None` for an id that is not a number (404).
    Task(Option<u32>),
    /// `/v1/logs`.
    Logs,
    /// `/metrics`.
    Metrics,
    /// `/v1/openapi`: the OpenAPI document this API is described by.
    OpenApi,
    /// `/v1/ha`: active/standby HA state (issue 10).
    Ha,
    /// `/v1/ha:failover`.
    HaFailover,
}

/// What a route needs from the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid token.
    Read,
    /// Operator or administrator.
    Operate,
    /// Administrator only.
    Administer,
}

impl Access {
    /// Whether `role` may do it.
    #[must_use]
    pub const fn allows(self, role: Role) -> bool {
        match self {
            Self::Read => true,
            Self::Operate => matches!(role, Role::Operator | Role::Administrator),
            Self::Administer => matches!(role, Role::Administrator),
        }
    }

    /// The least role that may, for error messages.
    #[must_use]
    pub const fn least_role(self) -> Role {
        match self {
            Self::Read => Role::ReadOnly,
            Self::Operate => Role::Operator,
            Self::Administer => Role::Administrator,
        }
    }
}

/// Maps a path (without the query) to a resource; `None`: not a path of this API.
#[must_use]
pub fn resource(path: &str) -> Option<Resource> {
    if path == "/metrics" {
        return Some(Resource::Metrics);
    }
    let rest = path.strip_prefix("/v1/")?;
    let mut segments = rest.split('/');
    let first = segments.next()?;
    let second = segments.next();
    let third = segments.next();
    if segments.next().is_some() {
        return None;
    }
    let resource = match (first, second, third) {
        ("system", None, None) => Resource::System,
        ("system:reboot", None, None) => Resource::Reboot,
        ("ports", None, None) => Resource::Ports,
        ("ports", Some(name), None) if !name.is_empty() => match name.split_once(':') {
            None => Resource::Port(port_name(name)),
            Some((name, "clear-counters")) => Resource::ClearCounters(port_name(name)),
            Some(_) => return None,
        },
        ("vlans", None, None) => Resource::Vlans,
        ("teaming", None, None) => Resource::Teaming,
        ("fdb", None, None) => Resource::Fdb,
        ("fdb:flush", None, None) => Resource::FdbFlush,
        ("fdb", Some(vlan), Some(mac)) if !vlan.is_empty() && !mac.is_empty() => {
            Resource::FdbEntry(vlan_number(vlan).zip(mac_in_path(mac)))
        }
        ("config", None, None) => Resource::Config,
        ("firmware", None, None) => Resource::Firmware,
        ("firmware:upload", None, None) => Resource::Upload,
        ("firmware:rollback", None, None) => Resource::Rollback,
        ("firmware:unstage", None, None) => Resource::Unstage,
        ("tasks", Some(id), None) if !id.is_empty() => Resource::Task(decimal(id)),
        ("logs", None, None) => Resource::Logs,
        ("openapi", None, None) => Resource::OpenApi,
        ("ha", None, None) => Resource::Ha,
        ("ha:failover", None, None) => Resource::HaFailover,
        _ => return None,
    };
    Some(resource)
}

/// `port3` as a data port id (only the `portN` spelling in paths).
fn port_name(name: &str) -> Option<PortId> {
    name.strip_prefix("port")
        .filter(|digits| !digits.is_empty())
        .and(PortId::parse(name))
}

fn vlan_number(text: &str) -> Option<VlanId> {
    u16::try_from(decimal(text)?).ok().and_then(VlanId::new)
}

/// A plain decimal number (no sign, no spaces), at most 9 digits.
pub(crate) fn decimal(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A MAC in a path: `52:54:00:00:00:01`, `52-54-00-00-00-01`, or with `%3A` for the colons.
fn mac_in_path(text: &str) -> Option<MacAddress> {
    let mut decoded: heapless::String<17> = heapless::String::new();
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest
            .strip_prefix("%3A")
            .or_else(|| rest.strip_prefix("%3a"))
        {
            decoded.push(':').ok()?;
            rest = after;
        } else {
            let character = rest.chars().next()?;
            decoded.push(character).ok()?;
            rest = &rest[character.len_utf8()..];
        }
    }
    MacAddress::parse(&decoded)
}

impl Resource {
    /// The methods it takes, as sent in `Allow`.
    #[must_use]
    pub const fn allow(self) -> &'static str {
        match self {
            Self::Port(_) => "GET, HEAD, PATCH",
            Self::Fdb => "GET, HEAD, POST",
            Self::FdbEntry(_) => "DELETE",
            Self::Config => "GET, HEAD, PUT",
            Self::Reboot
            | Self::ClearCounters(_)
            | Self::FdbFlush
            | Self::Upload
            | Self::Rollback
            | Self::Unstage
            | Self::HaFailover => "POST",
            Self::System
            | Self::Ports
            | Self::Vlans
            | Self::Teaming
            | Self::Firmware
            | Self::Task(_)
            | Self::Logs
            | Self::Metrics
            | Self::OpenApi
            | Self::Ha => "GET, HEAD",
        }
    }

    /// Whether it takes `method` (HEAD wherever GET is).
    #[must_use]
    pub fn takes(self, method: Method) -> bool {
        let token = match method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options | Method::Other => return false,
        };
        self.allow().split(", ").any(|allowed| allowed == token)
    }

    /// The role `method` on it needs: reads any token, writes an operator, the whole config
    /// an administrator.
    #[must_use]
    pub const fn access(self, method: Method) -> Access {
        match (self, method) {
            (_, Method::Get | Method::Head) => Access::Read,
            (Self::Config, _) => Access::Administer,
            _ => Access::Operate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(number: u8) -> Option<PortId> {
        PortId::new(number)
    }

    #[test]
    fn paths() {
        let mac = MacAddress([0x52, 0x54, 0, 0, 0, 1]);
        let vlan = VlanId::new(10).unwrap();
        for (path, expected) in [
            ("/metrics", Some(Resource::Metrics)),
            ("/v1/system", Some(Resource::System)),
            ("/v1/system:reboot", Some(Resource::Reboot)),
            ("/v1/ports", Some(Resource::Ports)),
            ("/v1/ports/port2", Some(Resource::Port(port(2)))),
            ("/v1/ports/port9", Some(Resource::Port(None))),
            ("/v1/ports/2", Some(Resource::Port(None))),
            ("/v1/ports/mgmt0", Some(Resource::Port(None))),
            (
                "/v1/ports/port1:clear-counters",
                Some(Resource::ClearCounters(port(1))),
            ),
            ("/v1/ports/port1:bogus", None),
            ("/v1/ports/", None),
            ("/v1/vlans", Some(Resource::Vlans)),
            ("/v1/teaming", Some(Resource::Teaming)),
            ("/v1/fdb", Some(Resource::Fdb)),
            ("/v1/fdb:flush", Some(Resource::FdbFlush)),
            (
                "/v1/fdb/10/52:54:00:00:00:01",
                Some(Resource::FdbEntry(Some((vlan, mac)))),
            ),
            (
                "/v1/fdb/10/52%3A54%3a00%3A00%3A00%3A01",
                Some(Resource::FdbEntry(Some((vlan, mac)))),
            ),
            (
                "/v1/fdb/10/52-54-00-00-00-01",
                Some(Resource::FdbEntry(Some((vlan, mac)))),
            ),
            (
                "/v1/fdb/4095/52-54-00-00-00-01",
                Some(Resource::FdbEntry(None)),
            ),
            ("/v1/fdb/10/zz", Some(Resource::FdbEntry(None))),
            ("/v1/config", Some(Resource::Config)),
            ("/v1/firmware", Some(Resource::Firmware)),
            ("/v1/firmware:upload", Some(Resource::Upload)),
            ("/v1/firmware:rollback", Some(Resource::Rollback)),
            ("/v1/firmware:unstage", Some(Resource::Unstage)),
            ("/v1/tasks/7", Some(Resource::Task(Some(7)))),
            ("/v1/tasks/x", Some(Resource::Task(None))),
            ("/v1/tasks/+7", Some(Resource::Task(None))),
            ("/v1/logs", Some(Resource::Logs)),
            ("/v1/openapi", Some(Resource::OpenApi)),
            ("/v1/ha", Some(Resource::Ha)),
            ("/v1/ha:failover", Some(Resource::HaFailover)),
            ("/v1/ha:bogus", None),
            ("/v1/logs/", None),
            ("/v1", None),
            ("/v2/system", None),
            ("/v1/system/extra", None),
            ("/healthz", None),
        ] {
            assert_eq!(resource(path), expected, "{path}");
        }
    }

    #[test]
    fn methods_and_roles() {
        assert!(Resource::Port(None).takes(Method::Patch));
        assert!(Resource::Port(None).takes(Method::Head));
        assert!(!Resource::Port(None).takes(Method::Delete));
        assert!(!Resource::Metrics.takes(Method::Other));
        assert!(Resource::FdbEntry(None).takes(Method::Delete));
        assert_eq!(Resource::Config.access(Method::Get), Access::Read);
        assert_eq!(Resource::Config.access(Method::Put), Access::Administer);
        assert_eq!(Resource::Upload.access(Method::Post), Access::Operate);
        assert_eq!(Resource::HaFailover.access(Method::Post), Access::Operate);
        assert!(!Resource::HaFailover.takes(Method::Get));
        assert!(!Access::Operate.allows(Role::ReadOnly));
        assert!(Access::Operate.allows(Role::Operator));
        assert!(!Access::Administer.allows(Role::Operator));
        assert!(Access::Administer.allows(Role::Administrator));
        assert_eq!(Method::parse("PATCH"), Method::Patch);
        assert_eq!(Method::parse("patch"), Method::Other);
    }
}
