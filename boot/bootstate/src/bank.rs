//! The two image banks, A and B.

use core::fmt;

/// One of the two image banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bank {
    /// Bank A.
    A,
    /// Bank B.
    B,
}

impl Bank {
    /// The other bank.
    #[must_use]
    pub const fn other(self) -> Bank {
        match self {
            Bank::A => Bank::B,
            Bank::B => Bank::A,
        }
    }

    /// Index into per-bank arrays (A = 0, B = 1).
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Bank::A => 0,
            Bank::B => 1,
        }
    }

    /// The bank with index `value` (the record's encoding).
    pub(crate) fn from_u8(value: u8) -> Option<Bank> {
        match value {
            0 => Some(Bank::A),
            1 => Some(Bank::B),
            _ => None,
        }
    }
}

/// `A` or `B` (pads, so `{:<3}` aligns columns).
impl fmt::Display for Bank {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad(match self {
            Bank::A => "A",
            Bank::B => "B",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    #[test]
    fn banks_read_as_letters_and_round_trip() {
        assert_eq!(Bank::A.to_string(), "A");
        assert_eq!(Bank::B.to_string(), "B");
        for bank in [Bank::A, Bank::B] {
            assert_eq!(Bank::from_u8(bank.index() as u8), Some(bank));
            assert_eq!(bank.other().other(), bank);
        }
        assert_eq!(Bank::from_u8(2), None);
    }
}
