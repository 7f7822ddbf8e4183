//! The running config's binary form: a format number, then typed, length-prefixed sections.
//!
//! Little-endian throughout. The payload is `format u16 = 1`, `section count u16`, then each
//! section as `kind u16`, `length u16`, `length` bytes. Kinds: 1 the switch, 2 the tokens.
//! A decoder skips (and counts) kinds it does not know, so a later firmware can add a section
//! (HA in issue 10) without breaking an older one after a rollback; a format number it does not
//! know is refused. The store (`store.rs`) frames the payload with a sequence, its length and a
//! CRC-32. Decoding never panics and never allocates: every read is bounds-checked, every
//! count limited, and the switch section is validated by the switch's own
//! [`SwitchConfig::validate`]. The byte tables are in `docs/config.md`.

use core::fmt;

use dpu_switch::config::PortList;
use dpu_switch::{
    ConfigError, LimitPolicy, MAX_PORTS, MacAddress, Policy, PortConfig, PortId, PortRole,
    SecurityPolicy, SwitchConfig, VlanMode, VlanSet,
};

use crate::RunningConfig;
use crate::tokens::{NAME_CAPACITY, Origin, Role, TOKEN_CAPACITY, TokenError, TokenTable};

/// The payload format this firmware writes and reads.
pub const FORMAT: u16 = 1;
/// Section kind: the switch config.
pub const SECTION_SWITCH: u16 = 1;
/// Section kind: the API tokens (console tokens only).
pub const SECTION_TOKENS: u16 = 2;
/// Most sections a payload may have (known and unknown together).
pub const MAX_SECTIONS: u16 = 16;
/// The largest payload: a trunk's VLAN map is 512 bytes, so seven trunk ports, sixteen tokens
/// and room for later sections.
pub const MAX_PAYLOAD: usize = 8192;

const VLAN_MAP_BYTES: usize = 512;

/// Why a config could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("the config does not fit its buffer")
    }
}

/// Why stored bytes are not a config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The bytes end inside a field.
    Truncated,
    /// A format number this firmware does not know.
    UnknownFormat(u16),
    /// More sections than [`MAX_SECTIONS`].
    TooManySections(u16),
    /// A known section appears twice.
    RepeatedSection(u16),
    /// A known section's bytes are longer than its fields.
    SectionTooLong(u16),
    /// Bytes after the last section.
    TrailingBytes,
    /// A field holds a value no encoder writes; the text names the field.
    BadValue(&'static str),
    /// A token entry the table refuses.
    Token(TokenError),
    /// The switch section decodes but the switch refuses it.
    Invalid(ConfigError),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => formatter.write_str("the bytes end inside a field"),
            DecodeError::UnknownFormat(format) => write!(
                formatter,
                "format {format} is not one this firmware reads (it reads {FORMAT})"
            ),
            DecodeError::TooManySections(count) => {
                write!(formatter, "{count} sections, at most {MAX_SECTIONS}")
            }
            DecodeError::RepeatedSection(kind) => write!(formatter, "section {kind} appears twice"),
            DecodeError::SectionTooLong(kind) => {
                write!(formatter, "section {kind} is longer than its fields")
            }
            DecodeError::TrailingBytes => formatter.write_str("bytes after the last section"),
            DecodeError::BadValue(field) => write!(formatter, "bad value in {field}"),
            DecodeError::Token(error) => write!(formatter, "token: {error}"),
            DecodeError::Invalid(error) => write!(formatter, "switch config refused: {error}"),
        }
    }
}

struct Writer<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn put(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        let end = self
            .len
            .checked_add(data.len())
            .filter(|end| *end <= self.bytes.len())
            .ok_or(EncodeError::BufferTooSmall)?;
        self.bytes[self.len..end].copy_from_slice(data);
        self.len = end;
        Ok(())
    }

    fn u8(&mut self, value: u8) -> Result<(), EncodeError> {
        self.put(&[value])
    }

    fn u16(&mut self, value: u16) -> Result<(), EncodeError> {
        self.put(&value.to_le_bytes())
    }

    fn u32(&mut self, value: u32) -> Result<(), EncodeError> {
        self.put(&value.to_le_bytes())
    }

    /// Writes a section: kind, a length patched after `body` ran, the body.
    fn section(
        &mut self,
        kind: u16,
        body: impl FnOnce(&mut Self) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        self.u16(kind)?;
        let length_at = self.len;
        self.u16(0)?;
        body(self)?;
        let length =
            u16::try_from(self.len - length_at - 2).map_err(|_| EncodeError::BufferTooSmall)?;
        self.bytes[length_at..length_at + 2].copy_from_slice(&length.to_le_bytes());
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], DecodeError> {
        if count > self.bytes.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let bytes = self.take(2)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Writes `config` into `buffer`; the number of bytes written. Command-line tokens are left
/// out (they are for one boot).
pub fn encode(config: &RunningConfig, buffer: &mut [u8]) -> Result<usize, EncodeError> {
    let mut writer = Writer {
        bytes: buffer,
        len: 0,
    };
    writer.u16(FORMAT)?;
    writer.u16(2)?;
    writer.section(SECTION_SWITCH, |writer| {
        encode_switch(&config.switch, writer)
    })?;
    writer.section(SECTION_TOKENS, |writer| {
        encode_tokens(&config.tokens, writer)
    })?;
    Ok(writer.len)
}

fn encode_policy(policy: Policy) -> u8 {
    match policy {
        Policy::Reject => 0,
        Policy::Accept => 1,
    }
}

fn encode_port_list(list: &PortList, writer: &mut Writer<'_>) -> Result<(), EncodeError> {
    // At most MAX_PORTS entries: fits a byte.
    writer.u8(list.len() as u8)?;
    for port in list {
        writer.u8(port.number())?;
    }
    Ok(())
}

fn encode_switch(config: &SwitchConfig, writer: &mut Writer<'_>) -> Result<(), EncodeError> {
    let count = config.port_count.min(MAX_PORTS as u8);
    writer.u8(count)?;
    writer.u32(config.aging_seconds)?;
    encode_port_list(&config.teaming.active, writer)?;
    encode_port_list(&config.teaming.standby, writer)?;
    writer.u8(u8::from(config.teaming.failback))?;
    for port in &config.ports[..usize::from(count)] {
        writer.u8(match port.role {
            PortRole::Host => 0,
            PortRole::Uplink => 1,
        })?;
        match &port.vlan {
            VlanMode::Access(vlan) => {
                writer.u8(0)?;
                writer.u16(*vlan)?;
            }
            VlanMode::Trunk { allowed, native } => {
                writer.u8(1)?;
                // 0 is never a valid native VLAN: it stands for none.
                writer.u16(native.unwrap_or(0))?;
                let mut map = [0u8; VLAN_MAP_BYTES];
                for vlan in allowed.iter() {
                    map[usize::from(vlan / 8)] |= 1 << (vlan % 8);
                }
                writer.put(&map)?;
            }
        }
        match port.mac {
            Some(mac) => {
                writer.u8(1)?;
                writer.put(&mac.0)?;
            }
            None => {
                writer.u8(0)?;
                writer.put(&[0; 6])?;
            }
        }
        writer.u8(encode_policy(port.security.promiscuous))?;
        writer.u8(encode_policy(port.security.mac_changes))?;
        writer.u8(encode_policy(port.security.forged_transmits))?;
        writer.u32(port.mac_limit)?;
        writer.u8(match port.limit_policy {
            LimitPolicy::Drop => 0,
            LimitPolicy::Allow => 1,
        })?;
    }
    Ok(())
}

fn encode_tokens(tokens: &TokenTable, writer: &mut Writer<'_>) -> Result<(), EncodeError> {
    let saved = || {
        tokens
            .iter()
            .filter(|token| token.origin() == Origin::Console)
    };
    // At most TOKEN_CAPACITY entries: fits a byte.
    writer.u8(saved().count() as u8)?;
    for token in saved() {
        // Names are at most NAME_CAPACITY bytes: fits a byte.
        writer.u8(token.name().len() as u8)?;
        writer.put(token.name().as_bytes())?;
        writer.u8(token.role().code())?;
        writer.put(token.digest())?;
    }
    Ok(())
}

/// What [`decode`] found besides the config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DecodeNotes {
    /// Sections of kinds this firmware does not know, skipped.
    pub unknown_sections: u16,
}

/// Reads a config from `bytes` (a whole payload) and validates it. A payload without a switch
/// section gets the default switch for `port_count` ports; one without tokens has none.
pub fn decode(bytes: &[u8]) -> Result<(RunningConfig, DecodeNotes), DecodeError> {
    let mut reader = Reader { bytes };
    let format = reader.u16()?;
    if format != FORMAT {
        return Err(DecodeError::UnknownFormat(format));
    }
    let sections = reader.u16()?;
    if sections > MAX_SECTIONS {
        return Err(DecodeError::TooManySections(sections));
    }
    let mut config = RunningConfig::new(0);
    let mut notes = DecodeNotes::default();
    let mut seen_switch = false;
    let mut seen_tokens = false;
    for _ in 0..sections {
        let kind = reader.u16()?;
        let length = reader.u16()?;
        let mut body = Reader {
            bytes: reader.take(usize::from(length))?,
        };
        let seen = match kind {
            SECTION_SWITCH => {
                config.switch = decode_switch(&mut body)?;
                &mut seen_switch
            }
            SECTION_TOKENS => {
                config.tokens = decode_tokens(&mut body)?;
                &mut seen_tokens
            }
            _ => {
                notes.unknown_sections += 1;
                continue;
            }
        };
        if core::mem::replace(seen, true) {
            return Err(DecodeError::RepeatedSection(kind));
        }
        if !body.is_empty() {
            return Err(DecodeError::SectionTooLong(kind));
        }
    }
    if !reader.is_empty() {
        return Err(DecodeError::TrailingBytes);
    }
    config.switch.validate().map_err(DecodeError::Invalid)?;
    Ok((config, notes))
}

fn decode_policy(byte: u8, field: &'static str) -> Result<Policy, DecodeError> {
    match byte {
        0 => Ok(Policy::Reject),
        1 => Ok(Policy::Accept),
        _ => Err(DecodeError::BadValue(field)),
    }
}

fn decode_port_list(reader: &mut Reader<'_>) -> Result<PortList, DecodeError> {
    let count = reader.u8()?;
    if usize::from(count) > MAX_PORTS {
        return Err(DecodeError::BadValue("teaming list length"));
    }
    let mut list = PortList::new();
    for _ in 0..count {
        let port = PortId::new(reader.u8()?).ok_or(DecodeError::BadValue("teaming port"))?;
        list.push(port)
            .map_err(|_| DecodeError::BadValue("teaming list length"))?;
    }
    Ok(list)
}

fn decode_switch(reader: &mut Reader<'_>) -> Result<SwitchConfig, DecodeError> {
    let count = reader.u8()?;
    if usize::from(count) > MAX_PORTS {
        return Err(DecodeError::BadValue("port count"));
    }
    let mut config = SwitchConfig::new(count);
    config.aging_seconds = reader.u32()?;
    config.teaming.active = decode_port_list(reader)?;
    config.teaming.standby = decode_port_list(reader)?;
    config.teaming.failback = match reader.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::BadValue("teaming failback")),
    };
    for port in &mut config.ports[..usize::from(count)] {
        *port = decode_port(reader)?;
    }
    Ok(config)
}

fn decode_port(reader: &mut Reader<'_>) -> Result<PortConfig, DecodeError> {
    let role = match reader.u8()? {
        0 => PortRole::Host,
        1 => PortRole::Uplink,
        _ => return Err(DecodeError::BadValue("port role")),
    };
    let vlan = match reader.u8()? {
        0 => VlanMode::Access(reader.u16()?),
        1 => {
            let native = match reader.u16()? {
                0 => None,
                vlan => Some(vlan),
            };
            let map = reader.take(VLAN_MAP_BYTES)?;
            let mut allowed = VlanSet::new();
            for (index, byte) in map.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (1 << bit) != 0 {
                        // index < 512, so the id is below 4096.
                        allowed.insert((index * 8 + bit) as u16);
                    }
                }
            }
            VlanMode::Trunk { allowed, native }
        }
        _ => return Err(DecodeError::BadValue("port vlan mode")),
    };
    let has_mac = reader.u8()?;
    let mac_bytes = reader.take(6)?;
    let mac = match has_mac {
        0 => None,
        1 => {
            let mut octets = [0u8; 6];
            octets.copy_from_slice(mac_bytes);
            Some(MacAddress(octets))
        }
        _ => return Err(DecodeError::BadValue("port mac")),
    };
    let security = SecurityPolicy {
        promiscuous: decode_policy(reader.u8()?, "port promiscuous")?,
        mac_changes: decode_policy(reader.u8()?, "port mac changes")?,
        forged_transmits: decode_policy(reader.u8()?, "port forged transmits")?,
    };
    let mac_limit = reader.u32()?;
    let limit_policy = match reader.u8()? {
        0 => LimitPolicy::Drop,
        1 => LimitPolicy::Allow,
        _ => return Err(DecodeError::BadValue("port mac limit policy")),
    };
    Ok(PortConfig {
        role,
        vlan,
        mac,
        security,
        mac_limit,
        limit_policy,
    })
}

fn decode_tokens(reader: &mut Reader<'_>) -> Result<TokenTable, DecodeError> {
    let count = reader.u8()?;
    if usize::from(count) > TOKEN_CAPACITY {
        return Err(DecodeError::Token(TokenError::TableFull));
    }
    let mut table = TokenTable::new();
    for _ in 0..count {
        let length = reader.u8()?;
        if usize::from(length) > NAME_CAPACITY {
            return Err(DecodeError::Token(TokenError::BadName));
        }
        let name = core::str::from_utf8(reader.take(usize::from(length))?)
            .map_err(|_| DecodeError::Token(TokenError::BadName))?;
        let role = Role::from_code(reader.u8()?).ok_or(DecodeError::BadValue("token role"))?;
        let mut digest = [0u8; 32];
        digest.copy_from_slice(reader.take(32)?);
        table
            .insert(name, role, Origin::Console, digest)
            .map_err(DecodeError::Token)?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;

    /// A config that uses every field: trunks, MACs, policies, teaming, tokens.
    pub(crate) fn busy_config() -> RunningConfig {
        let mut config = RunningConfig::new(4);
        let switch = &mut config.switch;
        switch.aging_seconds = 77;
        let mut allowed = VlanSet::new();
        for vlan in [10, 11, 12, 4094] {
            allowed.insert(vlan);
        }
        for uplink in [0, 1] {
            switch.ports[uplink].role = PortRole::Uplink;
            switch.ports[uplink].vlan = VlanMode::Trunk {
                allowed,
                native: Some(1),
            };
        }
        switch.ports[2].vlan = VlanMode::Access(10);
        switch.ports[2].mac = MacAddress::parse("52:54:00:00:00:03");
        switch.ports[2].security.forged_transmits = Policy::Accept;
        switch.ports[3].mac_limit = 7;
        switch.ports[3].limit_policy = LimitPolicy::Allow;
        switch.teaming.active.push(PortId::new(2).unwrap()).unwrap();
        switch
            .teaming
            .standby
            .push(PortId::new(1).unwrap())
            .unwrap();
        switch.teaming.failback = false;
        config
            .tokens
            .add("ops", Role::Operator, b"0123456789abcdef")
            .unwrap();
        config
            .tokens
            .add("boss", Role::Administrator, b"fedcba9876543210")
            .unwrap();
        config
    }

    #[test]
    fn round_trip() {
        let config = busy_config();
        config.switch.validate().unwrap();
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        let (decoded, notes) = decode(&buffer[..length]).unwrap();
        assert_eq!(decoded, config);
        assert_eq!(notes.unknown_sections, 0);
        assert_eq!(
            decoded.tokens.verify(b"0123456789abcdef"),
            Some(Role::Operator)
        );
        let mut small = [0u8; 64];
        assert_eq!(
            encode(&config, &mut small),
            Err(EncodeError::BufferTooSmall)
        );
    }

    #[test]
    fn command_line_tokens_are_not_saved() {
        let mut config = RunningConfig::new(1);
        config
            .tokens
            .add_from_cmdline("cmdline1", Role::Operator, b"0123456789abcdef")
            .unwrap();
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        assert!(decode(&buffer[..length]).unwrap().0.tokens.is_empty());
    }

    #[test]
    fn unknown_sections_are_skipped_and_a_new_format_refused() {
        let config = busy_config();
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        // Append a section of kind 99 with three bytes and bump the section count.
        buffer[2] = 3;
        buffer[length..length + 7].copy_from_slice(&[99, 0, 3, 0, 1, 2, 3]);
        let (decoded, notes) = decode(&buffer[..length + 7]).unwrap();
        assert_eq!(decoded, config);
        assert_eq!(notes.unknown_sections, 1);
        buffer[0] = 2;
        assert_eq!(
            decode(&buffer[..length]).unwrap_err().to_string(),
            "format 2 is not one this firmware reads (it reads 1)"
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let config = busy_config();
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        for cut in 0..length {
            assert!(decode(&buffer[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn an_invalid_switch_section_is_refused_with_the_switchs_words() {
        let mut config = RunningConfig::new(2);
        config.switch.ports[1].vlan = VlanMode::Access(5000);
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        assert_eq!(
            decode(&buffer[..length]).unwrap_err().to_string(),
            "switch config refused: port2: vlan 5000 out of range 1..4094"
        );
    }
}
