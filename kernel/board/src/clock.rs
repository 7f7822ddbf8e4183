//! Counter ticks to microseconds and milliseconds by one multiply (no 128-bit division).
//!
//! The generic timer's counter runs at the frequency CNTFRQ_EL0 names (62.5 MHz under QEMU 7.2
//! `virt`, 1 GHz on newer machine types, 24-100 MHz on boards). The poll loop reads the time
//! several times per pass; dividing a 128-bit product by the frequency (`__udivti3`) cost about
//! 20 instructions per forwarded frame. A [`CounterScale`] is made once per frequency: it keeps
//! `ceil(unit * 2^64 / frequency)`, so a conversion is the high half of one 64 x 64-bit
//! multiply. Rounding the multiplier up makes that quotient the exact floor of
//! `count * unit / frequency` or one more (the error is below `count / 2^64`), and one multiply
//! and compare takes the one back: every result is the exact floor.

/// Converts counter ticks at one frequency to microseconds and milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterScale {
    frequency: u64,
    /// `ceil(1_000_000 * 2^64 / frequency)`, or 0 when that does not fit in 64 bits (a
    /// frequency of 1 MHz or less): then [`Self::microseconds`] divides.
    microseconds_multiplier: u64,
    /// `ceil(1_000 * 2^64 / frequency)`, or 0 when that does not fit (1 kHz or less).
    milliseconds_multiplier: u64,
}

impl CounterScale {
    /// The scale for a counter of `frequency` Hz (0 is taken as 1, as a divisor must not be 0).
    pub const fn new(frequency: u64) -> Self {
        let frequency = if frequency == 0 { 1 } else { frequency };
        Self {
            frequency,
            microseconds_multiplier: multiplier(1_000_000, frequency),
            milliseconds_multiplier: multiplier(1_000, frequency),
        }
    }

    /// The counter frequency in Hz.
    pub const fn frequency(&self) -> u64 {
        self.frequency
    }

    /// `count` ticks in whole microseconds.
    pub const fn microseconds(&self, count: u64) -> u64 {
        convert(
            count,
            self.microseconds_multiplier,
            1_000_000,
            self.frequency,
        )
    }

    /// `count` ticks in whole milliseconds.
    pub const fn milliseconds(&self, count: u64) -> u64 {
        convert(count, self.milliseconds_multiplier, 1_000, self.frequency)
    }
}

/// `ceil(unit * 2^64 / frequency)` if it fits in 64 bits, else 0.
const fn multiplier(unit: u64, frequency: u64) -> u64 {
    if frequency <= unit {
        return 0;
    }
    let numerator = (unit as u128) << 64;
    let frequency = frequency as u128;
    // Below 2^64 because unit < frequency.
    numerator.div_ceil(frequency) as u64
}

const fn convert(count: u64, multiplier: u64, unit: u64, frequency: u64) -> u64 {
    if multiplier == 0 {
        // A slow counter: divide. Saturates rather than wrap for counts that would overflow.
        let exact = count as u128 * unit as u128 / frequency as u128;
        return if exact > u64::MAX as u128 {
            u64::MAX
        } else {
            exact as u64
        };
    }
    let quotient = ((count as u128 * multiplier as u128) >> 64) as u64;
    // At most one high (the multiplier is rounded up by less than one): correct by comparing
    // back, two multiplies instead of a division.
    if quotient as u128 * frequency as u128 > count as u128 * unit as u128 {
        quotient - 1
    } else {
        quotient
    }
}

#[cfg(test)]
mod tests {
    use super::CounterScale;

    fn exact(count: u64, unit: u64, frequency: u64) -> u64 {
        (u128::from(count) * u128::from(unit) / u128::from(frequency)) as u64
    }

    /// Frequencies of QEMU (62.5 MHz, 1 GHz), boards (19.2, 24, 25, 50, 100 MHz) and odd ones.
    const FREQUENCIES: [u64; 10] = [
        62_500_000,
        1_000_000_000,
        19_200_000,
        24_000_000,
        25_000_000,
        50_000_000,
        100_000_000,
        1_000_001,
        33_333_333,
        999_999_937,
    ];

    #[test]
    fn matches_the_division_for_every_count_near_a_unit_boundary() {
        for frequency in FREQUENCIES {
            let scale = CounterScale::new(frequency);
            // Counts just below, at and above each microsecond and millisecond boundary, over
            // the first seconds and around a day and a month of uptime.
            for base_seconds in [0u64, 1, 86_400, 30 * 86_400] {
                let base = base_seconds * frequency;
                for unit_index in 0..2_000u64 {
                    for (unit, boundary) in [
                        (1_000_000, unit_index * frequency / 1_000_000),
                        (1_000, unit_index * frequency / 1_000),
                    ] {
                        for delta in [0u64, 1, 2] {
                            for count in [
                                (base + boundary).saturating_sub(delta),
                                base + boundary + delta,
                            ] {
                                let got = if unit == 1_000_000 {
                                    scale.microseconds(count)
                                } else {
                                    scale.milliseconds(count)
                                };
                                assert_eq!(
                                    got,
                                    exact(count, unit, frequency),
                                    "{count} ticks at {frequency} Hz in 1/{unit} s"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pseudo_random_counts_agree_with_the_division() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for frequency in FREQUENCIES {
            let scale = CounterScale::new(frequency);
            for _ in 0..20_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Up to 2^40 ticks (hours to days of uptime), then any count.
                let count = if state & 1 == 0 { state >> 24 } else { state };
                assert_eq!(
                    scale.microseconds(count),
                    exact(count, 1_000_000, frequency)
                );
                assert_eq!(scale.milliseconds(count), exact(count, 1_000, frequency));
            }
        }
    }

    #[test]
    fn is_exact_at_the_largest_counts() {
        for frequency in FREQUENCIES {
            let scale = CounterScale::new(frequency);
            for count in (u64::MAX - 5_000)..=u64::MAX {
                assert_eq!(
                    scale.microseconds(count),
                    exact(count, 1_000_000, frequency)
                );
                assert_eq!(scale.milliseconds(count), exact(count, 1_000, frequency));
            }
        }
    }

    #[test]
    fn slow_and_zero_frequencies_divide() {
        let slow = CounterScale::new(32_768);
        assert_eq!(slow.microseconds(32_768), 1_000_000);
        assert_eq!(slow.milliseconds(32_768 * 3), 3_000);
        let kilohertz = CounterScale::new(1_000);
        assert_eq!(kilohertz.milliseconds(u64::MAX), u64::MAX);
        assert_eq!(kilohertz.microseconds(u64::MAX), u64::MAX);
        let zero = CounterScale::new(0);
        assert_eq!(zero.frequency(), 1);
        assert_eq!(zero.milliseconds(5), 5_000);
    }
}
