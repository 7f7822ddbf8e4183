//! The running config as JSON (`GET`/`PUT /v1/config`), with errors that name a JSON path.
//!
//! First version: the signatures H and R build on; the parser follows.

use core::fmt;

use dpu_switch::SwitchConfig;

use crate::RunningConfig;

/// Most errors one parse reports (the rest are counted in [`FieldErrors::more`]).
pub const MAX_ERRORS: usize = 16;
/// Longest JSON path kept in an error (`switch.ports[6].security.forged_transmits`).
pub const PATH_CAPACITY: usize = 64;
/// Longest reason kept in an error.
pub const REASON_CAPACITY: usize = 96;

/// One bad field: where (a JSON path such as `switch.ports[2].access_vlan`) and why.
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

/// Every bad field a parse found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors {
    /// The first [`MAX_ERRORS`].
    pub errors: heapless::Vec<FieldError, MAX_ERRORS>,
    /// How many more there were.
    pub more: usize,
}

/// What a `PUT /v1/config` body sets: the switch (tokens are managed on the console; a
/// `tokens` member, as `GET` writes it, is accepted and ignored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigUpdate {
    /// The whole switch config, validated.
    pub switch: SwitchConfig,
}

/// Writes `config` as JSON (token names and roles, never secrets or digests).
pub fn write(config: &RunningConfig, out: &mut impl fmt::Write) -> fmt::Result {
    let _ = config;
    out.write_str("{}")
}

/// Parses a whole config from `body` and validates it with the switch's own validation.
// No heap to box into: the errors come back by value, once per request, like the config.
#[allow(clippy::result_large_err)]
pub fn parse(body: &[u8]) -> Result<ConfigUpdate, FieldErrors> {
    let _ = body;
    Err(FieldErrors::default())
}
