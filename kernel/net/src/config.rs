//! Management interface configuration from the kernel command line (`/chosen/bootargs`).
//!
//! Keys (space-separated `key=value` words; other words are ignored; the last repeat wins):
//!
//! | key       | value                                    | default |
//! |-----------|------------------------------------------|---------|
//! | `mgmt.ip` | `A.B.C.D/PREFIX` (static) or `dhcp`      | `dhcp`  |
//! | `mgmt.gw` | `A.B.C.D`, inside the `mgmt.ip` subnet   | none    |
//!
//! Example: `console=ttyAMA0 mgmt.ip=10.0.3.2/24 mgmt.gw=10.0.3.1`. A bad value is a
//! [`ConfigError`] for the kernel to print; [`MgmtConfig::from_bootargs`] then falls back to DHCP.

use core::fmt;

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// How the management interface gets its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MgmtConfig {
    /// Ask a DHCP server (the default).
    #[default]
    Dhcp,
    /// A fixed address, and optionally a default gateway.
    Static {
        /// Address and prefix length.
        address: Ipv4Cidr,
        /// Default gateway, inside the address's subnet.
        gateway: Option<Ipv4Address>,
    },
}

/// A bootargs key this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// `mgmt.ip`
    Ip,
    /// `mgmt.gw`
    Gateway,
}

impl Key {
    /// The key as written on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Key::Ip => "mgmt.ip",
            Key::Gateway => "mgmt.gw",
        }
    }
}

/// What is wrong with a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// Not a dotted-quad IPv4 address, or not a usable host address.
    BadAddress,
    /// `mgmt.ip` without `/PREFIX`.
    MissingPrefix,
    /// A prefix length outside 1..=32.
    BadPrefix,
    /// `mgmt.gw` given while `mgmt.ip` is DHCP (or absent).
    GatewayWithoutAddress,
    /// `mgmt.gw` outside the `mgmt.ip` subnet.
    GatewayOutsideSubnet,
}

/// A bad bootargs value: which key, its text, and what is wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigError<'a> {
    /// The key.
    pub key: Key,
    /// The value as written.
    pub value: &'a str,
    /// What is wrong with it.
    pub kind: ConfigErrorKind,
}

impl fmt::Display for ConfigError<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ConfigErrorKind::BadAddress => "not a usable IPv4 host address",
            ConfigErrorKind::MissingPrefix => "missing /PREFIX (e.g. 10.0.3.2/24)",
            ConfigErrorKind::BadPrefix => "prefix length must be 1..=32",
            ConfigErrorKind::GatewayWithoutAddress => "a gateway needs a static mgmt.ip",
            ConfigErrorKind::GatewayOutsideSubnet => "gateway is outside the mgmt.ip subnet",
        };
        write!(
            formatter,
            "bootargs {}={}: {what}",
            self.key.name(),
            self.value
        )
    }
}

impl MgmtConfig {
    /// Parses the management keys of `bootargs`.
    ///
    /// # Errors
    /// The first bad value found (see [`ConfigErrorKind`]).
    pub fn parse(bootargs: &str) -> Result<Self, ConfigError<'_>> {
        let mut ip = None;
        let mut gateway = None;
        for word in bootargs.split_ascii_whitespace() {
            if let Some(value) = word.strip_prefix("mgmt.ip=") {
                ip = Some(value);
            } else if let Some(value) = word.strip_prefix("mgmt.gw=") {
                gateway = Some(value);
            }
        }
        let address = match ip {
            None => None,
            Some(value) if value.eq_ignore_ascii_case("dhcp") => None,
            Some(value) => Some(parse_cidr(value)?),
        };
        let gateway = match gateway {
            None => None,
            Some(value) => {
                let error = |kind| ConfigError {
                    key: Key::Gateway,
                    value,
                    kind,
                };
                let parsed = parse_host(value).ok_or(error(ConfigErrorKind::BadAddress))?;
                match address {
                    None => return Err(error(ConfigErrorKind::GatewayWithoutAddress)),
                    Some(cidr) if !cidr.contains_addr(&parsed) || parsed == cidr.address() => {
                        return Err(error(ConfigErrorKind::GatewayOutsideSubnet));
                    }
                    Some(_) => Some(parsed),
                }
            }
        };
        Ok(match address {
            None => MgmtConfig::Dhcp,
            Some(address) => MgmtConfig::Static { address, gateway },
        })
    }

    /// Parses `bootargs`, falling back to DHCP on a bad value; the error is returned to print.
    pub fn from_bootargs(bootargs: &str) -> (Self, Option<ConfigError<'_>>) {
        match Self::parse(bootargs) {
            Ok(config) => (config, None),
            Err(error) => (MgmtConfig::Dhcp, Some(error)),
        }
    }
}

impl fmt::Display for MgmtConfig {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MgmtConfig::Dhcp => formatter.write_str("dhcp"),
            MgmtConfig::Static {
                address,
                gateway: None,
            } => write!(formatter, "static {address}"),
            MgmtConfig::Static {
                address,
                gateway: Some(gateway),
            } => {
                write!(formatter, "static {address} gateway {gateway}")
            }
        }
    }
}

/// A unicast host address (not 0.0.0.0, broadcast, multicast or loopback).
fn parse_host(text: &str) -> Option<Ipv4Address> {
    let address: Ipv4Address = text.parse().ok()?;
    let usable = !(address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback());
    usable.then_some(address)
}

fn parse_cidr(value: &str) -> Result<Ipv4Cidr, ConfigError<'_>> {
    let error = |kind| ConfigError {
        key: Key::Ip,
        value,
        kind,
    };
    let (host, prefix) = value
        .split_once('/')
        .ok_or(error(ConfigErrorKind::MissingPrefix))?;
    let address = parse_host(host).ok_or(error(ConfigErrorKind::BadAddress))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| error(ConfigErrorKind::BadPrefix))?;
    if !(1..=32).contains(&prefix) {
        return Err(error(ConfigErrorKind::BadPrefix));
    }
    Ok(Ipv4Cidr::new(address, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Cidr {
        Ipv4Cidr::new(Ipv4Address::new(a, b, c, d), prefix)
    }

    #[test]
    fn default_is_dhcp() {
        assert_eq!(MgmtConfig::parse(""), Ok(MgmtConfig::Dhcp));
        assert_eq!(
            MgmtConfig::parse("console=ttyAMA0 quiet"),
            Ok(MgmtConfig::Dhcp)
        );
        assert_eq!(MgmtConfig::parse("mgmt.ip=DHCP"), Ok(MgmtConfig::Dhcp));
    }

    #[test]
    fn static_address_and_gateway() {
        assert_eq!(
            MgmtConfig::parse("console=ttyAMA0 mgmt.ip=10.0.3.2/24 mgmt.gw=10.0.3.1"),
            Ok(MgmtConfig::Static {
                address: cidr(10, 0, 3, 2, 24),
                gateway: Some(Ipv4Address::new(10, 0, 3, 1))
            })
        );
        assert_eq!(
            MgmtConfig::parse("mgmt.ip=192.168.1.9/32 mgmt.ip=172.16.0.5/12"),
            Ok(MgmtConfig::Static {
                address: cidr(172, 16, 0, 5, 12),
                gateway: None
            }),
            "last repeat wins"
        );
    }

    #[test]
    fn bad_values_are_typed_errors_then_dhcp() {
        let cases = [
            ("mgmt.ip=10.0.3/24", Key::Ip, ConfigErrorKind::BadAddress),
            (
                "mgmt.ip=10.0.3.256/24",
                Key::Ip,
                ConfigErrorKind::BadAddress,
            ),
            ("mgmt.ip=0.0.0.0/8", Key::Ip, ConfigErrorKind::BadAddress),
            ("mgmt.ip=224.0.0.1/4", Key::Ip, ConfigErrorKind::BadAddress),
            ("mgmt.ip=10.0.3.2", Key::Ip, ConfigErrorKind::MissingPrefix),
            ("mgmt.ip=10.0.3.2/33", Key::Ip, ConfigErrorKind::BadPrefix),
            ("mgmt.ip=10.0.3.2/0", Key::Ip, ConfigErrorKind::BadPrefix),
            ("mgmt.ip=10.0.3.2/x", Key::Ip, ConfigErrorKind::BadPrefix),
            (
                "mgmt.gw=10.0.3.1",
                Key::Gateway,
                ConfigErrorKind::GatewayWithoutAddress,
            ),
            (
                "mgmt.ip=10.0.3.2/24 mgmt.gw=10.0.4.1",
                Key::Gateway,
                ConfigErrorKind::GatewayOutsideSubnet,
            ),
            (
                "mgmt.ip=10.0.3.2/24 mgmt.gw=10.0.3.2",
                Key::Gateway,
                ConfigErrorKind::GatewayOutsideSubnet,
            ),
            (
                "mgmt.ip=10.0.3.2/24 mgmt.gw=nope",
                Key::Gateway,
                ConfigErrorKind::BadAddress,
            ),
        ];
        for (bootargs, key, kind) in cases {
            let error = MgmtConfig::parse(bootargs).unwrap_err();
            assert_eq!((error.key, error.kind), (key, kind), "{bootargs}");
            let (config, reported) = MgmtConfig::from_bootargs(bootargs);
            assert_eq!(config, MgmtConfig::Dhcp);
            assert_eq!(reported, Some(error));
        }
        let error = MgmtConfig::parse("mgmt.ip=10.0.3/24").unwrap_err();
        let mut text = heapless::String::<96>::new();
        core::fmt::write(&mut text, format_args!("{error}")).unwrap();
        assert_eq!(
            text.as_str(),
            "bootargs mgmt.ip=10.0.3/24: not a usable IPv4 host address"
        );
    }
}
