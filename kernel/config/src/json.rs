//! The running config as JSON (`GET`/`PUT /v1/config`), with errors that name a JSON path.
//!
//! [`write`] streams the config into any `core::fmt::Write` (token names and roles, never
//! secrets or digests). [`parse`] reads a whole config: a strict RFC 8259 reader (nesting
//! limited, no heap) that knows where it is, so every wrong member is reported with its path
//! (`switch.ports[2].access_vlan: expected a whole number 0..65535`), not just the first. When
//! the members are all well-formed the result is checked by the switch's own
//! [`SwitchConfig::validate`] (one place for the rules), whose error is mapped to the member it
//! is about. The shape is in `docs/config.md`.
//!
//! Not serde-json-core: its errors say neither where nor which member (`InvalidType`, no
//! position), it has no `deserialize_any`, and its skipping of unknown members accepts text
//! that is not JSON; a path per error needs a reader that tracks the path.

use core::fmt::{self, Write as _};

use dpu_switch::config::PortList;
use dpu_switch::{
    ConfigError, Field, LimitPolicy, MAX_PORTS, MacAddress, Policy, PortConfig, PortId, PortRole,
    Problem, SwitchConfig, VlanMode, VlanSet,
};

use crate::RunningConfig;

/// Most errors one parse reports (the rest are counted in [`FieldErrors::more`]).
pub const MAX_ERRORS: usize = 16;
/// Longest JSON path kept in an error (`switch.ports[6].security.forged_transmits`).
pub const PATH_CAPACITY: usize = 64;
/// Longest reason kept in an error.
pub const REASON_CAPACITY: usize = 96;
/// Deepest nesting accepted (objects and arrays).
pub const MAX_DEPTH: usize = 16;
/// Longest string value read (a trunk list such as `1-100,200,300-400`).
const TEXT_CAPACITY: usize = 256;

/// One bad member: where (a JSON path such as `switch.ports[2].access_vlan`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The JSON path; empty for the document itself.
    pub path: heapless::String<PATH_CAPACITY>,
    /// What is wrong, in words.
    pub reason: heapless::String<REASON_CAPACITY>,
}

impl fmt::Display for FieldError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(formatter, "{}", self.reason)
        } else {
            write!(formatter, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every bad member a parse found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors {
    /// The first [`MAX_ERRORS`].
    pub errors: heapless::Vec<FieldError, MAX_ERRORS>,
    /// How many more there were.
    pub more: usize,
}

impl FieldErrors {
    fn push(&mut self, path: &str, reason: fmt::Arguments<'_>) {
        let mut error = FieldError {
            path: heapless::String::new(),
            reason: heapless::String::new(),
        };
        // Over-long paths and reasons are cut, not refused.
        for character in path.chars() {
            if error.path.push(character).is_err() {
                break;
            }
        }
        let _ = Truncating(&mut error.reason).write_fmt(reason);
        if self.errors.push(error).is_err() {
            self.more += 1;
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for FieldErrors {
    /// One error per line.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.errors.iter().enumerate() {
            if index > 0 {
                formatter.write_str("\n")?;
            }
            write!(formatter, "{error}")?;
        }
        if self.more > 0 {
            write!(formatter, "\nand {} more", self.more)?;
        }
        Ok(())
    }
}

/// Writes into a heapless string, dropping what does not fit.
struct Truncating<'a, const N: usize>(&'a mut heapless::String<N>);

impl<const N: usize> fmt::Write for Truncating<'_, N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            if self.0.push(character).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// What a `PUT /v1/config` body sets: the switch (tokens are managed on the console; a
/// `tokens` member, as `GET` writes it, is accepted and ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// The whole switch config, validated.
    pub switch: SwitchConfig,
}

// ---------------------------------------------------------------------------------------------
// Writing.

/// Writes `text` as a JSON string (quotes and escapes).
pub fn write_string(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    out.write_char('"')?;
    for character in text.chars() {
        match character {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            control if u32::from(control) < 0x20 => write!(out, "\\u{:04x}", u32::from(control))?,
            other => out.write_char(other)?,
        }
    }
    out.write_char('"')
}

fn write_port_list(out: &mut impl fmt::Write, list: &PortList) -> fmt::Result {
    out.write_char('[')?;
    for (index, port) in list.iter().enumerate() {
        if index > 0 {
            out.write_char(',')?;
        }
        write!(out, "\"{port}\"")?;
    }
    out.write_char(']')
}

fn write_port(out: &mut impl fmt::Write, port: PortId, config: &PortConfig) -> fmt::Result {
    write!(out, "{{\"name\":\"{port}\",\"role\":\"{}\",", config.role)?;
    match &config.vlan {
        VlanMode::Access(vlan) => write!(out, "\"vlan_mode\":\"access\",\"access_vlan\":{vlan},")?,
        VlanMode::Trunk { allowed, native } => {
            write!(
                out,
                "\"vlan_mode\":\"trunk\",\"trunk_vlans\":\"{allowed}\","
            )?;
            match native {
                Some(native) => write!(out, "\"native_vlan\":{native},")?,
                None => out.write_str("\"native_vlan\":null,")?,
            }
        }
    }
    match config.mac {
        Some(mac) => write!(out, "\"mac\":\"{mac}\",")?,
        None => out.write_str("\"mac\":null,")?,
    }
    write!(
        out,
        "\"security\":{{\"promiscuous\":\"{}\",\"mac_changes\":\"{}\",\"forged_transmits\":\"{}\"}},",
        config.security.promiscuous, config.security.mac_changes, config.security.forged_transmits
    )?;
    write!(
        out,
        "\"mac_limit\":{},\"mac_limit_policy\":\"{}\"}}",
        config.mac_limit, config.limit_policy
    )
}

/// Writes `config` as JSON (token names and roles, never secrets or digests).
pub fn write(config: &RunningConfig, out: &mut impl fmt::Write) -> fmt::Result {
    let switch = &config.switch;
    write!(
        out,
        "{{\"format\":1,\"switch\":{{\"aging_seconds\":{},\"ports\":[",
        switch.aging_seconds
    )?;
    for (index, port) in switch.port_ids().enumerate() {
        if index > 0 {
            out.write_char(',')?;
        }
        write_port(out, port, switch.port(port))?;
    }
    out.write_str("],\"teaming\":{\"active\":")?;
    write_port_list(out, &switch.teaming.active)?;
    out.write_str(",\"standby\":")?;
    write_port_list(out, &switch.teaming.standby)?;
    write!(
        out,
        ",\"failback\":{}}}}},\"tokens\":[",
        switch.teaming.failback
    )?;
    for (index, token) in config.tokens.iter().enumerate() {
        if index > 0 {
            out.write_char(',')?;
        }
        out.write_str("{\"name\":")?;
        write_string(out, token.name())?;
        write!(
            out,
            ",\"role\":\"{}\",\"origin\":\"{}\"}}",
            token.role(),
            match token.origin() {
                crate::Origin::Console => "console",
                crate::Origin::Cmdline => "cmdline",
            }
        )?;
    }
    out.write_str("]}")
}

// ---------------------------------------------------------------------------------------------
// Reading.

/// The body is not JSON: the error is recorded, the parse stops.
struct Syntax;

type Read<T> = Result<T, Syntax>;

/// A scalar (or the kind of a composite, which was skipped).
// Strings live inline (no heap); one value at a time.
#[allow(clippy::large_enum_variant)]
enum Scalar {
    Null,
    Bool(bool),
    /// A whole number (no sign, fraction or exponent), if it fits.
    Whole(Option<u64>),
    /// Any other number.
    Number,
    /// A string (cut at [`TEXT_CAPACITY`]; `long` says so).
    Text {
        text: heapless::String<TEXT_CAPACITY>,
        long: bool,
    },
    Object,
    Array,
}

impl Scalar {
    fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "a boolean",
            Scalar::Whole(_) | Scalar::Number => "a number",
            Scalar::Text { .. } => "a string",
            Scalar::Object => "an object",
            Scalar::Array => "an array",
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    path: heapless::String<PATH_CAPACITY>,
    errors: FieldErrors,
}

impl<'a> Reader<'a> {
    fn error(&mut self, reason: fmt::Arguments<'_>) {
        let path = self.path.clone();
        self.errors.push(&path, reason);
    }

    fn syntax(&mut self, expected: &str) -> Syntax {
        let at = self.at;
        let found = match self.bytes.get(at) {
            None => "the end of the body",
            Some(_) => "something else",
        };
        self.error(format_args!(
            "not JSON: expected {expected} at byte {at}, found {found}"
        ));
        Syntax
    }

    /// Appends `.name` (or `name` at the top) to the path; the old length, for [`Self::pop`].
    fn push_member(&mut self, name: &str) -> usize {
        let old = self.path.len();
        let mut path = Truncating(&mut self.path);
        if old > 0 {
            let _ = path.write_char('.');
        }
        let _ = path.write_str(name);
        old
    }

    fn push_index(&mut self, index: usize) -> usize {
        let old = self.path.len();
        let _ = write!(Truncating(&mut self.path), "[{index}]");
        old
    }

    fn pop(&mut self, old: usize) {
        self.path.truncate(old);
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.bytes.get(self.at).copied()
    }

    fn literal(&mut self, word: &[u8]) -> Read<()> {
        if self.bytes[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err(self.syntax("a value"))
        }
    }

    fn hex4(&mut self) -> Read<u32> {
        let mut value = 0u32;
        for _ in 0..4 {
            let digit = self
                .bytes
                .get(self.at)
                .and_then(|byte| char::from(*byte).to_digit(16))
                .ok_or_else(|| self.syntax("four hex digits after \\u"))?;
            value = value * 16 + digit;
            self.at += 1;
        }
        Ok(value)
    }

    /// A string, after its opening quote.
    fn string(&mut self) -> Read<(heapless::String<TEXT_CAPACITY>, bool)> {
        let mut text = heapless::String::new();
        let mut long = false;
        let mut keep = |text: &mut heapless::String<TEXT_CAPACITY>, character: char| {
            if text.push(character).is_err() {
                long = true;
            }
        };
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.syntax("a closing quote"));
            };
            match byte {
                b'"' => {
                    self.at += 1;
                    return Ok((text, long));
                }
                b'\\' => {
                    self.at += 1;
                    let escaped = self.bytes.get(self.at).copied();
                    self.at += 1;
                    let character = match escaped {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let first = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&first) {
                                if !self.bytes[self.at..].starts_with(b"\\u") {
                                    return Err(self.syntax("a low surrogate"));
                                }
                                self.at += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return Err(self.syntax("a low surrogate"));
                                }
                                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                            } else {
                                first
                            };
                            char::from_u32(code).ok_or_else(|| self.syntax("a Unicode scalar"))?
                        }
                        _ => {
                            self.at -= 1;
                            return Err(
                                self.syntax("an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)")
                            );
                        }
                    };
                    keep(&mut text, character);
                }
                0..0x20 => return Err(self.syntax("no control character in a string")),
                0x20..0x80 => {
                    self.at += 1;
                    keep(&mut text, char::from(byte));
                }
                _ => {
                    // One UTF-8 sequence: its length from the lead byte, then checked.
                    let length = match byte {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => 0,
                    };
                    let sequence = self
                        .bytes
                        .get(self.at..self.at + length)
                        .and_then(|bytes| core::str::from_utf8(bytes).ok())
                        .and_then(|text| text.chars().next());
                    let Some(character) = sequence else {
                        return Err(self.syntax("UTF-8 text"));
                    };
                    self.at += length;
                    keep(&mut text, character);
                }
            }
        }
    }

    fn number(&mut self) -> Read<Scalar> {
        let digits = |reader: &mut Self| {
            let from = reader.at;
            while reader.bytes.get(reader.at).is_some_and(u8::is_ascii_digit) {
                reader.at += 1;
            }
            reader.at - from
        };
        let negative = self.bytes.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let integer_start = self.at;
        let count = digits(self);
        if count == 0 || (count > 1 && self.bytes[integer_start] == b'0') {
            return Err(self.syntax("a number"));
        }
        let integer_end = self.at;
        let mut whole = !negative;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return Err(self.syntax("digits after the decimal point"));
            }
            whole = false;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.syntax("digits in the exponent"));
            }
            whole = false;
        }
        if !whole {
            return Ok(Scalar::Number);
        }
        let value = core::str::from_utf8(&self.bytes[integer_start..integer_end])
            .ok()
            .and_then(|text| text.parse::<u64>().ok());
        Ok(Scalar::Whole(value))
    }

    /// Reads any value; objects and arrays are skipped (their kind is returned).
    fn value(&mut self) -> Read<Scalar> {
        match self.peek() {
            Some(b'{') => {
                self.skip_composite(b'{', b'}')?;
                Ok(Scalar::Object)
            }
            Some(b'[') => {
                self.skip_composite(b'[', b']')?;
                Ok(Scalar::Array)
            }
            Some(b'"') => {
                self.at += 1;
                let (text, long) = self.string()?;
                Ok(Scalar::Text { text, long })
            }
            Some(b't') => self.literal(b"true").map(|()| Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false").map(|()| Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null").map(|()| Scalar::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.syntax("a value")),
        }
    }

    fn enter(&mut self) -> Read<()> {
        if self.depth >= MAX_DEPTH {
            return Err(self.syntax("less nesting"));
        }
        self.depth += 1;
        Ok(())
    }

    fn skip_composite(&mut self, open: u8, close: u8) -> Read<()> {
        self.enter()?;
        self.at += 1;
        let mut first = true;
        loop {
            if self.peek() == Some(close) {
                self.at += 1;
                break;
            }
            if !first {
                if self.peek() != Some(b',') {
                    return Err(self.syntax(if open == b'{' {
                        "',' or '}'"
                    } else {
                        "',' or ']'"
                    }));
                }
                self.at += 1;
            }
            first = false;
            if open == b'{' {
                if self.peek() != Some(b'"') {
                    return Err(self.syntax("a member name"));
                }
                self.at += 1;
                self.string()?;
                if self.peek() != Some(b':') {
                    return Err(self.syntax("':'"));
                }
                self.at += 1;
            }
            self.value()?;
        }
        self.depth -= 1;
        Ok(())
    }

    /// Starts an object: true if there is one; otherwise the value is skipped and reported.
    fn object(&mut self) -> Read<bool> {
        if self.peek() == Some(b'{') {
            self.enter()?;
            self.at += 1;
            return Ok(true);
        }
        let found = self.value()?;
        self.error(format_args!("expected an object, found {}", found.kind()));
        Ok(false)
    }

    /// The next member name of an object, or `None` at its end. `first` tracks commas.
    fn member(&mut self, first: &mut bool) -> Read<Option<heapless::String<TEXT_CAPACITY>>> {
        if self.peek() == Some(b'}') {
            self.at += 1;
            self.depth -= 1;
            return Ok(None);
        }
        if !*first {
            if self.peek() != Some(b',') {
                return Err(self.syntax("',' or '}'"));
            }
            self.at += 1;
        }
        *first = false;
        if self.peek() != Some(b'"') {
            return Err(self.syntax("a member name"));
        }
        self.at += 1;
        let (name, _) = self.string()?;
        if self.peek() != Some(b':') {
            return Err(self.syntax("':'"));
        }
        self.at += 1;
        Ok(Some(name))
    }

    /// Starts an array: true if there is one; otherwise the value is skipped and reported.
    fn array(&mut self) -> Read<bool> {
        if self.peek() == Some(b'[') {
            self.enter()?;
            self.at += 1;
            return Ok(true);
        }
        let found = self.value()?;
        self.error(format_args!("expected an array, found {}", found.kind()));
        Ok(false)
    }

    /// Whether another array item follows. `first` tracks commas.
    fn item(&mut self, first: &mut bool) -> Read<bool> {
        if self.peek() == Some(b']') {
            self.at += 1;
            self.depth -= 1;
            return Ok(false);
        }
        if !*first {
            if self.peek() != Some(b',') {
                return Err(self.syntax("',' or ']'"));
            }
            self.at += 1;
        }
        *first = false;
        Ok(true)
    }

    /// A whole number up to `max`, or an error at the current path.
    fn whole(&mut self, max: u64) -> Read<Option<u64>> {
        match self.value()? {
            Scalar::Whole(Some(value)) if value <= max => Ok(Some(value)),
            Scalar::Whole(_) | Scalar::Number => {
                self.error(format_args!("expected a whole number 0..{max}"));
                Ok(None)
            }
            other => {
                self.error(format_args!(
                    "expected a whole number 0..{max}, found {}",
                    other.kind()
                ));
                Ok(None)
            }
        }
    }

    /// A string, or an error naming what was wanted.
    fn text(&mut self, wanted: &str) -> Read<Option<heapless::String<TEXT_CAPACITY>>> {
        match self.value()? {
            Scalar::Text { long: true, .. } => {
                self.error(format_args!(
                    "longer than {TEXT_CAPACITY} characters; expected {wanted}"
                ));
                Ok(None)
            }
            Scalar::Text { text, .. } => Ok(Some(text)),
            other => {
                self.error(format_args!("expected {wanted}, found {}", other.kind()));
                Ok(None)
            }
        }
    }

    /// One of `words` (a string), its index.
    fn word(&mut self, words: &[&str], wanted: &str) -> Read<Option<usize>> {
        let Some(text) = self.text(wanted)? else {
            return Ok(None);
        };
        match words.iter().position(|word| *word == text.as_str()) {
            Some(index) => Ok(Some(index)),
            None => {
                self.error(format_args!("expected {wanted}"));
                Ok(None)
            }
        }
    }

    fn boolean(&mut self) -> Read<Option<bool>> {
        match self.value()? {
            Scalar::Bool(value) => Ok(Some(value)),
            other => {
                self.error(format_args!(
                    "expected true or false, found {}",
                    other.kind()
                ));
                Ok(None)
            }
        }
    }

    /// Whether the next value is `null` (consumed if so).
    fn null(&mut self) -> Read<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn unknown_member(&mut self, name: &str) -> Read<()> {
        let old = self.push_member(name);
        self.error(format_args!("unknown member"));
        self.value()?;
        self.pop(old);
        Ok(())
    }

    fn repeated(&mut self, seen: &mut u32, bit: u32) -> bool {
        if *seen & bit != 0 {
            self.error(format_args!("appears twice"));
            return true;
        }
        *seen |= bit;
        false
    }
}

const POLICY_WORDS: [&str; 2] = ["reject", "accept"];
const POLICY: &str = "\"accept\" or \"reject\"";

fn policy(index: usize) -> Policy {
    if index == 1 {
        Policy::Accept
    } else {
        Policy::Reject
    }
}

/// A port as read: the mode words and numbers before they make a [`VlanMode`].
struct PortDraft {
    config: PortConfig,
    trunk: bool,
    access_vlan: Option<u16>,
    trunk_vlans: Option<VlanSet>,
    native_vlan: Option<Option<u16>>,
}

fn parse_vlan_list(text: &str) -> Option<VlanSet> {
    let mut set = VlanSet::new();
    if text == "none" || text.is_empty() {
        return Some(set);
    }
    for item in text.split(',') {
        let (first, last) = item.split_once('-').unwrap_or((item, item));
        let number = |text: &str| -> Option<u16> {
            if text.is_empty() || text.len() > 4 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            text.parse().ok().filter(|vlan| *vlan < 4096)
        };
        let (first, last) = (number(first)?, number(last)?);
        if first > last {
            return None;
        }
        for vlan in first..=last {
            set.insert(vlan);
        }
    }
    Some(set)
}

fn read_security(reader: &mut Reader<'_>, security: &mut dpu_switch::SecurityPolicy) -> Read<()> {
    if !reader.object()? {
        return Ok(());
    }
    let mut first = true;
    let mut seen = 0u32;
    while let Some(name) = reader.member(&mut first)? {
        let (bit, slot) = match name.as_str() {
            "promiscuous" => (1, &mut security.promiscuous),
            "mac_changes" => (2, &mut security.mac_changes),
            "forged_transmits" => (4, &mut security.forged_transmits),
            other => {
                reader.unknown_member(other)?;
                continue;
            }
        };
        let old = reader.push_member(&name);
        if reader.repeated(&mut seen, bit) {
            reader.value()?;
        } else if let Some(index) = reader.word(&POLICY_WORDS, POLICY)? {
            *slot = policy(index);
        }
        reader.pop(old);
    }
    Ok(())
}

fn read_port(reader: &mut Reader<'_>, index: usize) -> Read<Option<PortDraft>> {
    let mut draft = PortDraft {
        config: PortConfig::DEFAULT,
        trunk: false,
        access_vlan: None,
        trunk_vlans: None,
        native_vlan: None,
    };
    if !reader.object()? {
        return Ok(None);
    }
    let mut first = true;
    let mut seen = 0u32;
    let mut good = true;
    while let Some(name) = reader.member(&mut first)? {
        let bit = match name.as_str() {
            "name" => 1,
            "role" => 2,
            "vlan_mode" => 4,
            "access_vlan" => 8,
            "trunk_vlans" => 16,
            "native_vlan" => 32,
            "mac" => 64,
            "security" => 128,
            "mac_limit" => 256,
            "mac_limit_policy" => 512,
            other => {
                reader.unknown_member(other)?;
                good = false;
                continue;
            }
        };
        let old = reader.push_member(&name);
        let errors_before = reader.errors.errors.len() + reader.errors.more;
        if reader.repeated(&mut seen, bit) {
            reader.value()?;
        } else {
            match bit {
                1 => {
                    if let Some(text) = reader.text("the port's name")? {
                        let expected = PortId::from_index(index);
                        if expected.is_none_or(|port| PortId::parse(&text) != Some(port)) {
                            reader.error(format_args!(
                                "expected \"port{}\" (ports are listed in order)",
                                index + 1
                            ));
                        }
                    }
                }
                2 => {
                    if let Some(role) =
                        reader.word(&["host", "uplink"], "\"host\" or \"uplink\"")?
                    {
                        draft.config.role = if role == 1 {
                            PortRole::Uplink
                        } else {
                            PortRole::Host
                        };
                    }
                }
                4 => {
                    if let Some(mode) =
                        reader.word(&["access", "trunk"], "\"access\" or \"trunk\"")?
                    {
                        draft.trunk = mode == 1;
                    }
                }
                8 => {
                    if let Some(vlan) = reader.whole(u64::from(u16::MAX))? {
                        draft.access_vlan = Some(vlan as u16);
                    }
                }
                16 => {
                    let wanted = "vlans like \"10,20,30-40\" (or \"none\")";
                    if let Some(text) = reader.text(wanted)? {
                        match parse_vlan_list(&text) {
                            Some(set) => draft.trunk_vlans = Some(set),
                            None => {
                                reader.error(format_args!("expected {wanted}, each below 4096"))
                            }
                        }
                    }
                }
                32 => {
                    if reader.null()? {
                        draft.native_vlan = Some(None);
                    } else if let Some(vlan) = reader.whole(u64::from(u16::MAX))? {
                        draft.native_vlan = Some(Some(vlan as u16));
                    }
                }
                64 => {
                    if reader.null()? {
                        draft.config.mac = None;
                    } else if let Some(text) =
                        reader.text("a MAC like \"52:54:00:00:00:01\" or null")?
                    {
                        match MacAddress::parse(&text) {
                            Some(mac) => draft.config.mac = Some(mac),
                            None => reader.error(format_args!(
                                "expected a MAC like \"52:54:00:00:00:01\" or null"
                            )),
                        }
                    }
                }
                128 => read_security(reader, &mut draft.config.security)?,
                256 => {
                    if let Some(limit) = reader.whole(u64::from(u32::MAX))? {
                        draft.config.mac_limit = limit as u32;
                    }
                }
                _ => {
                    if let Some(index) = reader.word(&["drop", "allow"], "\"drop\" or \"allow\"")? {
                        draft.config.limit_policy = if index == 1 {
                            LimitPolicy::Allow
                        } else {
                            LimitPolicy::Drop
                        };
                    }
                }
            }
        }
        if reader.errors.errors.len() + reader.errors.more != errors_before {
            good = false;
        }
        reader.pop(old);
    }
    if seen & 1 == 0 {
        reader.error(format_args!("member \"name\" is required"));
        good = false;
    }
    // The mode's members must match the mode.
    let misplaced: &[(&str, bool)] = if draft.trunk {
        &[("access_vlan", draft.access_vlan.is_some())]
    } else {
        &[
            ("trunk_vlans", draft.trunk_vlans.is_some()),
            ("native_vlan", draft.native_vlan.is_some()),
        ]
    };
    for (member, present) in misplaced {
        if *present {
            let old = reader.push_member(member);
            reader.error(format_args!(
                "only for vlan_mode \"{}\"",
                if draft.trunk { "access" } else { "trunk" }
            ));
            reader.pop(old);
            good = false;
        }
    }
    draft.config.vlan = if draft.trunk {
        VlanMode::Trunk {
            allowed: draft.trunk_vlans.unwrap_or_default(),
            native: draft.native_vlan.unwrap_or(None),
        }
    } else {
        VlanMode::Access(draft.access_vlan.unwrap_or(1))
    };
    Ok(good.then_some(draft))
}

fn read_port_list(reader: &mut Reader<'_>) -> Read<Option<PortList>> {
    if !reader.array()? {
        return Ok(None);
    }
    let mut list = PortList::new();
    let mut good = true;
    let mut first = true;
    let mut index = 0;
    while reader.item(&mut first)? {
        let old = reader.push_index(index);
        if let Some(text) = reader.text("a port name like \"port1\"")? {
            match PortId::parse(&text) {
                Some(port) if list.push(port).is_ok() => {}
                Some(_) => {
                    reader.error(format_args!("at most {MAX_PORTS} ports"));
                    good = false;
                }
                None => {
                    reader.error(format_args!("expected a port name like \"port1\""));
                    good = false;
                }
            }
        } else {
            good = false;
        }
        reader.pop(old);
        index += 1;
    }
    Ok(good.then_some(list))
}

fn read_teaming(reader: &mut Reader<'_>, config: &mut SwitchConfig) -> Read<()> {
    if !reader.object()? {
        return Ok(());
    }
    let mut first = true;
    let mut seen = 0u32;
    while let Some(name) = reader.member(&mut first)? {
        let bit = match name.as_str() {
            "active" => 1,
            "standby" => 2,
            "failback" => 4,
            other => {
                reader.unknown_member(other)?;
                continue;
            }
        };
        let old = reader.push_member(&name);
        if reader.repeated(&mut seen, bit) {
            reader.value()?;
        } else {
            match bit {
                1 => {
                    if let Some(list) = read_port_list(reader)? {
                        config.teaming.active = list;
                    }
                }
                2 => {
                    if let Some(list) = read_port_list(reader)? {
                        config.teaming.standby = list;
                    }
                }
                _ => {
                    if let Some(value) = reader.boolean()? {
                        config.teaming.failback = value;
                    }
                }
            }
        }
        reader.pop(old);
    }
    Ok(())
}

fn read_switch(reader: &mut Reader<'_>, config: &mut SwitchConfig) -> Read<()> {
    if !reader.object()? {
        return Ok(());
    }
    let mut first = true;
    let mut seen = 0u32;
    while let Some(name) = reader.member(&mut first)? {
        let bit = match name.as_str() {
            "aging_seconds" => 1,
            "ports" => 2,
            "teaming" => 4,
            other => {
                reader.unknown_member(other)?;
                continue;
            }
        };
        let old = reader.push_member(&name);
        if reader.repeated(&mut seen, bit) {
            reader.value()?;
        } else {
            match bit {
                1 => {
                    if let Some(seconds) = reader.whole(u64::from(u32::MAX))? {
                        config.aging_seconds = seconds as u32;
                    }
                }
                2 => {
                    if reader.array()? {
                        let mut first = true;
                        let mut index = 0usize;
                        while reader.item(&mut first)? {
                            let old = reader.push_index(index);
                            let port = read_port(reader, index)?;
                            if let (Some(port), Some(slot)) = (port, config.ports.get_mut(index)) {
                                *slot = port.config;
                            }
                            reader.pop(old);
                            index += 1;
                        }
                        if index > MAX_PORTS {
                            reader.error(format_args!("{index} ports, at most {MAX_PORTS}"));
                        }
                        config.port_count = index.min(MAX_PORTS) as u8;
                    }
                }
                _ => read_teaming(reader, config)?,
            }
        }
        reader.pop(old);
    }
    if seen & 2 == 0 {
        reader.error(format_args!("member \"ports\" is required"));
    }
    Ok(())
}

fn read_document(reader: &mut Reader<'_>, config: &mut SwitchConfig) -> Read<()> {
    if !reader.object()? {
        return Ok(());
    }
    let mut first = true;
    let mut seen = 0u32;
    while let Some(name) = reader.member(&mut first)? {
        let bit = match name.as_str() {
            "format" => 1,
            "switch" => 2,
            "tokens" => 4,
            other => {
                reader.unknown_member(other)?;
                continue;
            }
        };
        let old = reader.push_member(&name);
        if reader.repeated(&mut seen, bit) {
            reader.value()?;
        } else {
            match bit {
                1 => {
                    if let Some(format) = reader.whole(u64::from(u32::MAX))?
                        && format != 1
                    {
                        reader.error(format_args!("format {format} is not 1"));
                    }
                }
                2 => read_switch(reader, config)?,
                // Read-only (`GET` writes it; tokens are made on the console): skipped.
                _ => {
                    reader.value()?;
                }
            }
        }
        reader.pop(old);
    }
    if seen & 2 == 0 {
        reader.error(format_args!("member \"switch\" is required"));
    }
    reader.skip_space();
    if reader.at != reader.bytes.len() {
        reader.path.clear();
        return Err(reader.syntax("the end of the body"));
    }
    Ok(())
}

/// The JSON path of the member a validation error is about.
fn error_path(config: &SwitchConfig, error: &ConfigError) -> heapless::String<PATH_CAPACITY> {
    let mut path = heapless::String::new();
    let mut out = Truncating(&mut path);
    let _ = match error.field {
        Field::PortCount => out.write_str("switch.ports"),
        Field::Aging => out.write_str("switch.aging_seconds"),
        Field::Teaming => out.write_str("switch.teaming"),
        Field::Port(port) => {
            let settings = config.port(port);
            let member = match (error.problem, &settings.vlan) {
                (Problem::VlanOutOfRange(_), VlanMode::Access(_)) => ".access_vlan",
                (Problem::VlanOutOfRange(vlan), VlanMode::Trunk { native, .. }) => {
                    if *native == Some(vlan) {
                        ".native_vlan"
                    } else {
                        ".trunk_vlans"
                    }
                }
                (Problem::EmptyTrunk, _) => ".trunk_vlans",
                (Problem::MacNotUnicast(_), _) => ".mac",
                (Problem::HostOnlySetting, _) if settings.mac.is_some() => ".mac",
                (Problem::HostOnlySetting, _) => ".security",
                (Problem::MacLimitTooLarge(_), _) => ".mac_limit",
                _ => "",
            };
            write!(out, "switch.ports[{}]{member}", port.index())
        }
    };
    path
}

/// Parses a whole config from `body` and validates it with the switch's own validation. The
/// switch config has as many ports as `switch.ports` lists (the caller checks that it matches
/// the ports present).
// No heap to box into: the errors come back by value, once per request, like the config.
#[allow(clippy::result_large_err)]
pub fn parse(body: &[u8]) -> Result<ConfigUpdate, FieldErrors> {
    let mut reader = Reader {
        bytes: body,
        at: 0,
        depth: 0,
        path: heapless::String::new(),
        errors: FieldErrors::default(),
    };
    let mut switch = SwitchConfig::new(0);
    // A syntax error is already recorded; the parse just stops there.
    let _ = read_document(&mut reader, &mut switch);
    let mut errors = reader.errors;
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Err(error) = switch.validate() {
        let path = error_path(&switch, &error);
        errors.push(&path, format_args!("{}", error.problem));
        return Err(errors);
    }
    Ok(ConfigUpdate { switch })
}

/// Checks that a parsed config lists exactly the `present` data ports.
// No heap to box into; once per request.
#[allow(clippy::result_large_err)]
pub fn check_port_count(update: &ConfigUpdate, present: u8) -> Result<(), FieldError> {
    if update.switch.port_count == present {
        return Ok(());
    }
    let mut errors = FieldErrors::default();
    errors.push(
        "switch.ports",
        format_args!(
            "{} port(s) listed, this DPU has {present} data port(s)",
            update.switch.port_count
        ),
    );
    // One error was pushed: it is there.
    Err(errors.errors.swap_remove(0))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::{String, ToString};
    use std::vec::Vec;

    use super::*;
    use crate::Role;

    fn written(config: &RunningConfig) -> String {
        let mut text = String::new();
        write(config, &mut text).unwrap();
        text
    }

    fn errors(body: &str) -> Vec<String> {
        parse(body.as_bytes())
            .unwrap_err()
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn sample() -> RunningConfig {
        let mut config = RunningConfig::new(3);
        let mut allowed = VlanSet::new();
        for vlan in [10, 11, 12, 20] {
            allowed.insert(vlan);
        }
        config.switch.ports[0].role = PortRole::Uplink;
        config.switch.ports[0].vlan = VlanMode::Trunk {
            allowed,
            native: Some(1),
        };
        config.switch.ports[1].vlan = VlanMode::Access(10);
        config.switch.ports[1].mac = MacAddress::parse("52:54:00:00:00:02");
        config.switch.ports[1].security.forged_transmits = Policy::Accept;
        config.switch.ports[2].limit_policy = LimitPolicy::Allow;
        config.switch.ports[2].mac_limit = 9;
        config
            .switch
            .teaming
            .active
            .push(PortId::new(1).unwrap())
            .unwrap();
        config
            .tokens
            .add("ops", Role::Operator, b"0123456789abcdef")
            .unwrap();
        config
    }

    #[test]
    fn the_written_form_reads_back() {
        let config = sample();
        let text = written(&config);
        assert!(text.starts_with("{\"format\":1,\"switch\":{\"aging_seconds\":300,\"ports\":[{\"name\":\"port1\",\"role\":\"uplink\",\"vlan_mode\":\"trunk\",\"trunk_vlans\":\"10-12,20\",\"native_vlan\":1,"), "{text}");
        assert!(
            text.contains(
                "\"tokens\":[{\"name\":\"ops\",\"role\":\"operator\",\"origin\":\"console\"}]"
            ),
            "{text}"
        );
        assert!(!text.contains("0123456789abcdef"));
        let update = parse(text.as_bytes()).unwrap();
        assert_eq!(update.switch, config.switch);
        check_port_count(&update, 3).unwrap();
        assert_eq!(
            check_port_count(&update, 2).unwrap_err().to_string(),
            "switch.ports: 3 port(s) listed, this DPU has 2 data port(s)"
        );
    }

    #[test]
    fn missing_members_take_the_defaults() {
        let update = parse(br#"{"switch":{"ports":[{"name":"port1"},{"name":"port2","vlan_mode":"trunk","trunk_vlans":"5"}]}}"#).unwrap();
        assert_eq!(update.switch.port_count, 2);
        assert_eq!(update.switch.ports[0], PortConfig::DEFAULT);
        assert!(matches!(
            update.switch.ports[1].vlan,
            VlanMode::Trunk { native: None, .. }
        ));
        assert_eq!(update.switch.aging_seconds, 300);
    }

    #[test]
    fn every_bad_member_is_named() {
        let body = r#"{"switch":{"aging_seconds":-1,"ports":[
            {"name":"port1","role":"router","access_vlan":"ten"},
            {"name":"port3","vlan_mode":"access","trunk_vlans":"1"},
            {"name":"port3","mac":"nope","security":{"promiscuous":"yes","colour":1},"mac_limit":1.5}
        ],"teaming":{"active":["port9x"],"failback":"on"},"extra":true},"format":2}"#;
        assert_eq!(
            errors(body),
            [
                "switch.aging_seconds: expected a whole number 0..4294967295",
                "switch.ports[0].role: expected \"host\" or \"uplink\"",
                "switch.ports[0].access_vlan: expected a whole number 0..65535, found a string",
                "switch.ports[1].name: expected \"port2\" (ports are listed in order)",
                "switch.ports[1].trunk_vlans: only for vlan_mode \"trunk\"",
                "switch.ports[2].mac: expected a MAC like \"52:54:00:00:00:01\" or null",
                "switch.ports[2].security.promiscuous: expected \"accept\" or \"reject\"",
                "switch.ports[2].security.colour: unknown member",
                "switch.ports[2].mac_limit: expected a whole number 0..4294967295",
                "switch.teaming.active[0]: expected a port name like \"port1\"",
                "switch.teaming.failback: expected true or false, found a string",
                "switch.extra: unknown member",
                "format: format 2 is not 1",
            ]
        );
    }

    #[test]
    fn the_switch_validation_names_its_member() {
        let body =
            br#"{"switch":{"ports":[{"name":"port1"},{"name":"port2","access_vlan":5000}]}}"#;
        assert_eq!(
            errors(core::str::from_utf8(body).unwrap()),
            ["switch.ports[1].access_vlan: vlan 5000 out of range 1..4094"]
        );
        let body =
            r#"{"switch":{"ports":[{"name":"port1","vlan_mode":"trunk","trunk_vlans":"none"}]}}"#;
        assert_eq!(
            errors(body),
            ["switch.ports[0].trunk_vlans: trunk carries no vlan"]
        );
        let body =
            r#"{"switch":{"ports":[{"name":"port1","role":"uplink","mac":"52:54:00:00:00:01"}]}}"#;
        assert_eq!(
            errors(body),
            ["switch.ports[0].mac: mac and security policy apply to host ports only"]
        );
        let body = r#"{"switch":{"ports":[{"name":"port1"}],"teaming":{"active":["port1"]}}}"#;
        assert_eq!(errors(body), ["switch.teaming: port1 is not an uplink"]);
    }

    #[test]
    fn syntax_errors_say_where() {
        assert_eq!(
            errors(""),
            ["not JSON: expected a value at byte 0, found the end of the body"]
        );
        assert_eq!(
            errors(r#"{"switch":{"ports":[{"name":"port1",}]}}"#),
            ["switch.ports[0]: not JSON: expected a member name at byte 36, found something else"]
        );
        assert_eq!(
            errors(r#"{"switch":{"ports":[]}} x"#),
            ["not JSON: expected the end of the body at byte 24, found something else"]
        );
        assert_eq!(errors("[1,2]")[0], "expected an object, found an array");
        assert_eq!(errors("{}"), ["member \"switch\" is required"]);
        let deep = "[".repeat(40);
        assert!(
            errors(&std::format!("{{\"x\":{deep}"))
                .iter()
                .any(|error| error.contains("less nesting"))
        );
        assert!(errors("{\"switch\":\"\\ud800\"}")[0].contains("low surrogate"));
        assert!(errors("{\"switch\":01}")[0].contains("expected a number"));
        assert_eq!(
            errors(r#"{"switch":{"ports":[]},"switch":{"ports":[]}}"#),
            ["switch: appears twice"]
        );
    }

    #[test]
    fn the_error_list_is_bounded() {
        let mut body = String::from(r#"{"switch":{"ports":[],"#);
        for index in 0..40 {
            body.push_str(&std::format!("\"x{index}\":1,"));
        }
        body.push_str("\"y\":1}}");
        let errors = parse(body.as_bytes()).unwrap_err();
        assert_eq!(errors.errors.len(), MAX_ERRORS);
        assert_eq!(errors.more, 41 - MAX_ERRORS);
        assert!(errors.to_string().ends_with("and 25 more"));
    }
}
