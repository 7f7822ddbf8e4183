//! Log levels, most verbose first, with the names defmt and the console use.

use core::fmt;

/// Log levels, most verbose first (the same names defmt uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Developer detail.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected that was handled.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// All levels, most verbose first.
    pub const ALL: [LogLevel; 5] = [
        Self::Trace,
        Self::Debug,
        Self::Info,
        Self::Warn,
        Self::Error,
    ];

    /// The level's lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }

    /// Parses a level name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|level| level.name().eq_ignore_ascii_case(name))
    }

    /// The level stored as `raw` by `level as u8` (for an atomic); `None` for other values.
    pub fn from_u8(raw: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|level| *level as u8 == raw)
    }
}

/// The lower-case name.
impl fmt::Display for LogLevel {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn names_round_trip_and_order_is_verbosity() {
        for level in LogLevel::ALL {
            assert_eq!(LogLevel::from_name(level.name()), Some(level));
            assert_eq!(LogLevel::from_u8(level as u8), Some(level));
            assert_eq!(level.to_string(), level.name());
        }
        assert_eq!(LogLevel::from_name("WARN"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::from_name("loud"), None);
        assert_eq!(LogLevel::from_u8(5), None);
        assert!(LogLevel::Trace < LogLevel::Error);
    }
}
